/*
 * bench_stream - stream (mux v2) throughput over a real loopback TCP session
 * between two processes, against raw TCP and the crypto bound, and memory
 * per idle stream and per idle session.
 *
 * Throughput: the parent process receives, a forked child sends, over
 * 127.0.0.1. Each figure moves the same bytes twice in the same run: once
 * as raw TCP (64 KiB write()s, no crypto, no framing) and once as mux
 * messages of the given size on 1 or 8 streams inside an encrypted session
 * (dsb/stream_conn.h over dsb/tcp.h). Time runs on the receiver from the
 * first byte to the last. The sender writes one static buffer: no content
 * generation and no hashing is measured. Every figure is the best of three
 * runs: on a shared machine interference only ever slows a run down.
 *
 * The crypto bound: T is raw TCP throughput, A the slower of AEAD seal and
 * open (ChaCha20-Poly1305, the session's cipher) of 64 KiB records through
 * the crypto layer, both measured here. With the sender paying seal + send
 * and the receiver receive + open on two cores, one encrypted stream is
 * bounded near B = 1 / (1/T + 1/A). Targets: one stream of 64 KiB messages
 * >= 85% of B; 8 streams together as fast as one.
 *
 * Memory: a counting dsb_mem behind the transport and sessions, another
 * behind the muxes and their glue; sessions and streams are opened in one
 * process over loopback (both ends counted), left idle, and the bytes held
 * are compared between K and 2K sessions (streams), so fixed costs such as
 * the transport's buffer pool cancel out. Socket buffers are the kernel's
 * and not included. Targets: <= 1 KiB per idle stream, <= 16 KiB per idle
 * session.
 *
 * Results go to the table and, through bench/support/bench_json.c, to
 * $DSB_BENCH_RESULTS (build/bench/results.json).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include "bench_json.h"
#include "dsb/crypto.h"
#include "dsb/err.h"
#include "dsb/identity.h"
#include "dsb/mux.h"
#include "dsb/stream_conn.h"
#include "dsb/tcp.h"

#define BENCH_MAX_STREAMS 128
#define BENCH_RAW_CHUNK 65536
#define BENCH_MAX_MSG 65536
/* Give up on a transfer that has not finished in this time. */
#define BENCH_DEADLINE_MS 60000

static dsb_identity bench_rx_ident, bench_tx_ident;

/* Settings of both ends of the throughput runs: the defaults, unless
 * DSB_BENCH_STREAM_SETTINGS overrides some (for experiments, see main). */
static dsb_mux_settings bench_mux_settings;
static dsb_tcp_settings bench_tcp_settings;

static double bench_mbps(uint64_t bytes, uint64_t ns) {
  return ns ? (double)bytes * 1e3 / (double)ns : 0.0;
}

static int bench_record(const char *name, double value, const char *unit,
                        const char *baseline, double baseline_value) {
  dsb_bench_result r = {name, value, unit, baseline, baseline_value};
  return dsb_bench_record(&r);
}

/* ---- counting allocator ------------------------------------------------- */

/* Bytes requested and not yet freed; a 16-byte header keeps the size and
 * the alignment malloc gives. */
typedef struct bench_count {
  size_t live;
} bench_count;

#define BENCH_HDR 16

static void *bench_malloc(size_t size, void *ctx) {
  bench_count *c = ctx;
  uint8_t *p;

  if (size > SIZE_MAX - BENCH_HDR || !(p = malloc(size + BENCH_HDR))) {
    return NULL;
  }
  memcpy(p, &size, sizeof(size));
  c->live += size;
  return p + BENCH_HDR;
}

static void bench_free(void *ptr, void *ctx) {
  bench_count *c = ctx;
  uint8_t *p;
  size_t size;

  if (ptr == NULL) {
    return;
  }
  p = (uint8_t *)ptr - BENCH_HDR;
  memcpy(&size, p, sizeof(size));
  c->live -= size;
  free(p);
}

static void *bench_calloc(size_t n, size_t size, void *ctx) {
  void *p;

  if (size && n > SIZE_MAX / size) {
    return NULL;
  }
  p = bench_malloc(n * size, ctx);
  if (p) {
    memset(p, 0, n * size);
  }
  return p;
}

static void *bench_realloc(void *ptr, size_t size, void *ctx) {
  size_t old = 0;
  void *p;

  if (ptr == NULL) {
    return bench_malloc(size, ctx);
  }
  memcpy(&old, (uint8_t *)ptr - BENCH_HDR, sizeof(old));
  p = bench_malloc(size, ctx);
  if (p == NULL) {
    return NULL;
  }
  memcpy(p, ptr, old < size ? old : size);
  bench_free(ptr, ctx);
  return p;
}

static dsb_mem bench_counting_mem(bench_count *c) {
  dsb_mem m = {bench_malloc, bench_free, bench_calloc, bench_realloc, c};
  return m;
}

/* ---- AEAD bound ---------------------------------------------------------- */

/* MB/s of sealing (|open| 0) or opening 64 KiB records. */
static double bench_aead(int open) {
  static uint8_t pt[65536], ct[65536 + DSB_AEAD_TAG_LEN], out[65536 + 16];
  uint8_t key[DSB_AEAD_KEY_LEN];
  dsb_aead *aead = NULL;
  uint64_t t0, t1, bytes = 0, nonce = 0;
  double best = 0;
  long n;

  memset(key, 0x42, sizeof(key));
  memset(pt, 0x5a, sizeof(pt));
  if (dsb_aead_new(&aead, NULL, DSB_CIPHER_CHACHAPOLY, key) != 0) {
    return 0.0;
  }
  n = dsb_aead_seal(aead, ct, sizeof(ct), 0, NULL, 0, pt, sizeof(pt));
  if (n < 0) {
    dsb_aead_del(aead);
    return 0.0;
  }
  /* Best of three 100 ms intervals (see BENCH_RUNS). */
  for (int run = 0; run < 3; ++run) {
    bytes = 0;
    t0 = dsb_bench_now_ns();
    do {
      for (int i = 0; i < 64; ++i) {
        n = open ? dsb_aead_open(aead, out, sizeof(out), 0, NULL, 0, ct,
                                 sizeof(ct))
                 : dsb_aead_seal(aead, out, sizeof(out), ++nonce, NULL, 0, pt,
                                 sizeof(pt));
        if (n < 0) {
          dsb_aead_del(aead);
          return 0.0;
        }
        bytes += sizeof(pt);
      }
      t1 = dsb_bench_now_ns();
    } while (t1 - t0 < 100 * DSB_NS_PER_MS);
    if (bench_mbps(bytes, t1 - t0) > best) {
      best = bench_mbps(bytes, t1 - t0);
    }
  }
  dsb_aead_del(aead);
  return best;
}

/* ---- raw TCP ------------------------------------------------------------ */

/* A listening socket on 127.0.0.1 (ephemeral port) before the fork, so the
 * child connects without a race. */
static int bench_listen(struct sockaddr_in *addr) {
  socklen_t len = sizeof(*addr);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  if (fd < 0) {
    return -1;
  }
  memset(addr, 0, sizeof(*addr));
  addr->sin_family = AF_INET;
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)addr, sizeof(*addr)) != 0 ||
      listen(fd, 8) != 0 ||
      getsockname(fd, (struct sockaddr *)addr, &len) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int bench_wait_child(pid_t pid) {
  int status;

  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      return -1;
    }
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static void bench_raw_send(const struct sockaddr_in *addr, uint64_t total) {
  static uint8_t buf[BENCH_RAW_CHUNK];
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;

  if (fd < 0 || connect(fd, (const struct sockaddr *)addr, sizeof(*addr))) {
    _exit(1);
  }
  /* As the session transport does. */
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  memset(buf, 0x5a, sizeof(buf));
  while (total > 0) {
    size_t n = total < sizeof(buf) ? (size_t)total : sizeof(buf);
    ssize_t w = write(fd, buf, n);
    if (w < 0 && errno == EINTR) {
      continue;
    }
    if (w <= 0) {
      _exit(1);
    }
    total -= (uint64_t)w;
  }
  close(fd);
  _exit(0);
}

/* Raw TCP throughput in MB/s for |total| bytes, 0 on failure. */
static double bench_raw(uint64_t total) {
  static uint8_t buf[BENCH_RAW_CHUNK];
  struct sockaddr_in addr;
  uint64_t got = 0, t0 = 0, t1 = 0;
  int lfd, fd;
  pid_t pid;

  lfd = bench_listen(&addr);
  if (lfd < 0) {
    return 0.0;
  }
  fflush(stdout);
  pid = fork();
  if (pid < 0) {
    close(lfd);
    return 0.0;
  }
  if (pid == 0) {
    close(lfd);
    bench_raw_send(&addr, total);
  }
  fd = accept(lfd, NULL, NULL);
  close(lfd);
  while (fd >= 0) {
    ssize_t r = read(fd, buf, sizeof(buf));
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r <= 0) {
      break;
    }
    t1 = dsb_bench_now_ns();
    if (got == 0) {
      t0 = t1;
    }
    got += (uint64_t)r;
  }
  if (fd >= 0) {
    close(fd);
  }
  if (bench_wait_child(pid) != 0 || got != total) {
    return 0.0;
  }
  return bench_mbps(got, t1 - t0);
}

/* ---- mux over a TCP session ---------------------------------------------- */

typedef struct bench_stream {
  uint32_t id;
  uint64_t left; /* sender: bytes still to queue */
  int closed;
} bench_stream;

typedef struct bench_node {
  uv_loop_t loop;
  dsb_tcp *tcp;
  dsb_tcp_conn *conn;
  dsb_stream_conn *sc;
  uv_timer_t deadline;
  int sender;
  int failed;
  int closed;
  size_t msg_size;
  size_t nstreams, nclosed;
  bench_stream streams[BENCH_MAX_STREAMS];
  uint64_t bytes, t_first, t_last;
} bench_node;

static const uint8_t *bench_payload(void) {
  static uint8_t buf[BENCH_MAX_MSG];
  static int init;

  if (!init) {
    memset(buf, 0x5a, sizeof(buf));
    init = 1;
  }
  return buf;
}

static bench_stream *bench_find(bench_node *n, uint32_t id) {
  for (size_t i = 0; i < n->nstreams; ++i) {
    if (n->streams[i].id == id) {
      return &n->streams[i];
    }
  }
  return NULL;
}

static int bench_fill(dsb_mux *mux, uint32_t id, void *user_data) {
  bench_node *n = user_data;
  bench_stream *s = bench_find(n, id);
  const uint8_t *payload = bench_payload();

  if (s == NULL) {
    return -1;
  }
  while (s->left > 0) {
    size_t len = s->left < n->msg_size ? (size_t)s->left : n->msg_size;
    int rv = dsb_mux_write_message(mux, id, payload, len);
    if (rv == DSB_ERR_WOULD_BLOCK) {
      return 0;
    }
    if (rv != 0) {
      return -1;
    }
    s->left -= len;
  }
  if (!s->closed) {
    s->closed = 1;
    return dsb_mux_close(mux, id) == 0 ? 0 : -1;
  }
  return 0;
}

static int bench_on_open(dsb_mux *mux, uint32_t id, const char *name,
                         size_t namelen, uint8_t priority, uint8_t mode,
                         void *user_data) {
  bench_node *n = user_data;

  (void)name;
  (void)namelen;
  (void)priority;
  (void)mode;
  if (n->nstreams == BENCH_MAX_STREAMS) {
    return -1;
  }
  n->streams[n->nstreams++].id = id;
  return dsb_mux_accept(mux, id, NULL) == 0 ? 0 : -1;
}

static int bench_on_message(dsb_mux *mux, uint32_t id, const uint8_t *data,
                            size_t len, void *user_data) {
  bench_node *n = user_data;
  uint64_t now = dsb_bench_now_ns();

  (void)data;
  if (n->t_first == 0) {
    n->t_first = now;
  }
  n->t_last = now;
  n->bytes += len;
  return dsb_mux_consume(mux, id, len) == 0 ? 0 : -1;
}

static int bench_on_close(dsb_mux *mux, uint32_t id, void *user_data) {
  bench_node *n = user_data;
  bench_stream *s = bench_find(n, id);

  if (s == NULL) {
    return -1;
  }
  if (!s->closed) {
    s->closed = 1;
    if (dsb_mux_close(mux, id) != 0) {
      return -1;
    }
  }
  if (++n->nclosed == n->nstreams && n->sender) {
    dsb_tcp_conn_close(n->conn, 0); /* graceful: flushes our CLOSEs */
  }
  return 0;
}

static int bench_on_reset(dsb_mux *mux, uint32_t id, uint32_t code,
                          void *user_data) {
  bench_node *n = user_data;

  (void)mux;
  (void)id;
  (void)code;
  n->failed = 1;
  return 0;
}

static const dsb_mux_callbacks bench_mux_cb = {
    bench_on_open,  bench_fill,     bench_on_message, NULL,
    bench_on_close, bench_on_reset, bench_fill,       NULL};

static int bench_on_established(dsb_tcp_conn *conn, const dsb_device_id *peer,
                                void *user_data) {
  bench_node *n = user_data;
  dsb_stream_conn_config cfg;

  (void)peer;
  if (n->sc != NULL) {
    return -1; /* one connection per run */
  }
  n->conn = conn;
  memset(&cfg, 0, sizeof(cfg));
  cfg.loop = &n->loop;
  cfg.conn = conn;
  cfg.settings = &bench_mux_settings;
  cfg.callbacks = &bench_mux_cb;
  cfg.user_data = n;
  if (dsb_stream_conn_new(&n->sc, &cfg) != 0) {
    return -1;
  }
  if (n->sender) {
    dsb_mux *mux = dsb_stream_conn_mux(n->sc);
    for (size_t i = 0; i < n->nstreams; ++i) {
      char name[16];
      int len = snprintf(name, sizeof(name), "bench%zu", i);
      if (dsb_mux_open(mux, &n->streams[i].id, name, (size_t)len, 0, 0, NULL) !=
          0) {
        return -1;
      }
    }
  }
  return 0;
}

static int bench_on_record(dsb_tcp_conn *conn, const uint8_t *pt, size_t ptlen,
                           void *user_data) {
  bench_node *n = user_data;

  (void)conn;
  if (n->sc) {
    (void)dsb_stream_conn_on_record(n->sc, pt, ptlen);
  }
  return 0;
}

static void bench_on_writable(dsb_tcp_conn *conn, void *user_data) {
  bench_node *n = user_data;

  (void)conn;
  if (n->sc) {
    dsb_stream_conn_on_writable(n->sc);
  }
}

static void bench_on_closed(dsb_tcp_conn *conn, int reason, void *user_data) {
  bench_node *n = user_data;

  (void)conn;
  n->closed = 1;
  /* The sender closes (DSB_ERR_CLOSED); the receiver sees a clean EOF. */
  if (reason != 0 && reason != DSB_ERR_CLOSED) {
    n->failed = 1;
  }
  if (n->sc && dsb_stream_conn_error(n->sc) != 0) {
    n->failed = 1;
  }
  dsb_stream_conn_del(n->sc);
  n->sc = NULL;
  n->conn = NULL;
  uv_stop(&n->loop);
}

static void bench_on_deadline(uv_timer_t *t) {
  bench_node *n = t->data;

  n->failed = 1;
  if (n->conn) {
    dsb_tcp_conn_close(n->conn, DSB_ERR_TIMEOUT);
  } else {
    uv_stop(&n->loop);
  }
}

static int bench_node_init(bench_node *n, const dsb_identity *ident,
                           const dsb_tcp_settings *settings,
                           const dsb_mem *mem) {
  static const dsb_tcp_callbacks cb = {bench_on_established, bench_on_record,
                                       bench_on_writable, bench_on_closed,
                                       NULL};
  dsb_tcp_config cfg;

  if (uv_loop_init(&n->loop) != 0) {
    return -1;
  }
  memset(&cfg, 0, sizeof(cfg));
  cfg.loop = &n->loop;
  cfg.local = ident;
  cfg.settings = settings;
  cfg.callbacks = &cb;
  cfg.user_data = n;
  cfg.mem = mem;
  if (dsb_tcp_new(&n->tcp, &cfg) != 0) {
    uv_loop_close(&n->loop);
    return -1;
  }
  uv_timer_init(&n->loop, &n->deadline);
  n->deadline.data = n;
  uv_timer_start(&n->deadline, bench_on_deadline, BENCH_DEADLINE_MS, 0);
  uv_unref((uv_handle_t *)&n->deadline);
  return 0;
}

/* Closes everything and runs the loop until libuv released it all. */
static void bench_node_fini(bench_node *n) {
  dsb_stream_conn_del(n->sc);
  n->sc = NULL;
  dsb_tcp_del(n->tcp);
  n->tcp = NULL;
  uv_close((uv_handle_t *)&n->deadline, NULL);
  uv_run(&n->loop, UV_RUN_DEFAULT);
  (void)uv_loop_close(&n->loop);
}

static void bench_mux_send(const struct sockaddr_in *addr, size_t nstreams,
                           size_t msg_size, uint64_t total) {
  static bench_node n;
  int ok;

  memset(&n, 0, sizeof(n));
  n.sender = 1;
  n.msg_size = msg_size;
  n.nstreams = nstreams;
  for (size_t i = 0; i < nstreams; ++i) {
    n.streams[i].left = total / nstreams + (i < total % nstreams);
  }
  if (bench_node_init(&n, &bench_tx_ident, &bench_tcp_settings, NULL) != 0 ||
      dsb_tcp_connect(n.tcp, &n.conn, (const struct sockaddr *)addr,
                      bench_rx_ident.proof.static_pk, &bench_rx_ident.id,
                      NULL) != 0) {
    _exit(1);
  }
  uv_run(&n.loop, UV_RUN_DEFAULT);
  ok = n.closed && !n.failed && n.nclosed == nstreams;
  bench_node_fini(&n);
  _exit(ok ? 0 : 1);
}

/* Mux throughput in MB/s (receiver side), 0 on failure. */
static double bench_mux(size_t nstreams, size_t msg_size, uint64_t total) {
  static bench_node n;
  struct sockaddr_in addr;
  int lfd, ok;
  pid_t pid;

  memset(&n, 0, sizeof(n));
  lfd = bench_listen(&addr);
  if (lfd < 0) {
    return 0.0;
  }
  fflush(stdout);
  pid = fork();
  if (pid < 0) {
    close(lfd);
    return 0.0;
  }
  if (pid == 0) {
    close(lfd);
    bench_mux_send(&addr, nstreams, msg_size, total);
  }
  if (bench_node_init(&n, &bench_rx_ident, &bench_tcp_settings, NULL) != 0) {
    close(lfd);
    kill(pid, SIGKILL);
    (void)bench_wait_child(pid);
    return 0.0;
  }
  if (dsb_tcp_listen_fd(n.tcp, lfd) != 0) {
    close(lfd);
    n.failed = 1;
  } else {
    uv_run(&n.loop, UV_RUN_DEFAULT);
  }
  ok = n.closed && !n.failed && n.bytes == total && n.nclosed == nstreams;
  bench_node_fini(&n);
  if (bench_wait_child(pid) != 0 || !ok) {
    return 0.0;
  }
  return bench_mbps(n.bytes, n.t_last - n.t_first);
}

/* ---- memory per idle session and per idle stream ------------------------- */

/* Both transports of the memory run share one loop: a second set of
 * callbacks records every established connection with its own glue. */
typedef struct bench_mem_run {
  uv_loop_t loop;
  dsb_tcp *srv, *cli;
  bench_count sess_count, mux_count;
  dsb_mem sess_mem, mux_mem;
  dsb_stream_conn *scs[512];
  size_t nsc;
  size_t accepted; /* streams the server accepted */
  int failed;
} bench_mem_run;

static int bench_mem_on_open(dsb_mux *mux, uint32_t id, const char *name,
                             size_t namelen, uint8_t priority, uint8_t mode,
                             void *user_data) {
  bench_mem_run *r = user_data;

  (void)name;
  (void)namelen;
  (void)priority;
  (void)mode;
  r->accepted++;
  return dsb_mux_accept(mux, id, NULL) == 0 ? 0 : -1;
}

static const dsb_mux_callbacks bench_mem_mux_cb = {
    bench_mem_on_open, NULL, NULL, NULL, NULL, NULL, NULL, NULL};

static int bench_mem_on_established(dsb_tcp_conn *conn,
                                    const dsb_device_id *peer,
                                    void *user_data) {
  bench_mem_run *r = user_data;
  dsb_stream_conn_config cfg;
  dsb_stream_conn *sc;

  (void)peer;
  if (r->nsc == sizeof(r->scs) / sizeof(r->scs[0])) {
    return -1;
  }
  memset(&cfg, 0, sizeof(cfg));
  cfg.loop = &r->loop;
  cfg.conn = conn;
  cfg.callbacks = &bench_mem_mux_cb;
  cfg.user_data = r;
  cfg.mem = &r->mux_mem;
  if (dsb_stream_conn_new(&sc, &cfg) != 0) {
    return -1;
  }
  dsb_tcp_conn_set_user(conn, sc);
  r->scs[r->nsc++] = sc;
  return 0;
}

static int bench_mem_on_record(dsb_tcp_conn *conn, const uint8_t *pt,
                               size_t ptlen, void *user_data) {
  (void)user_data;
  (void)dsb_stream_conn_on_record(dsb_tcp_conn_get_user(conn), pt, ptlen);
  return 0;
}

static void bench_mem_on_writable(dsb_tcp_conn *conn, void *user_data) {
  (void)user_data;
  dsb_stream_conn_on_writable(dsb_tcp_conn_get_user(conn));
}

static void bench_mem_on_closed(dsb_tcp_conn *conn, int reason,
                                void *user_data) {
  bench_mem_run *r = user_data;
  dsb_stream_conn *sc = dsb_tcp_conn_get_user(conn);

  (void)reason;
  for (size_t i = 0; i < r->nsc; ++i) {
    if (r->scs[i] == sc) {
      r->scs[i] = r->scs[--r->nsc];
      break;
    }
  }
  dsb_stream_conn_del(sc);
}

/* Runs the loop until |done| holds or ~10 s passed; then a few more
 * iterations so queued records are written and blocks returned. */
static int bench_mem_wait(bench_mem_run *r, size_t *counter, size_t want) {
  uint64_t t0 = dsb_bench_now_ns();

  while (*counter < want) {
    uv_run(&r->loop, UV_RUN_NOWAIT);
    if (dsb_bench_now_ns() - t0 > 10 * DSB_NS_PER_S || r->failed) {
      return -1;
    }
  }
  for (int i = 0; i < 50; ++i) {
    uv_run(&r->loop, UV_RUN_NOWAIT);
  }
  return 0;
}

static int bench_mem_connect(bench_mem_run *r, const struct sockaddr_in *addr,
                             size_t k) {
  for (size_t i = 0; i < k; ++i) {
    dsb_tcp_conn *c;
    if (dsb_tcp_connect(r->cli, &c, (const struct sockaddr *)addr,
                        bench_rx_ident.proof.static_pk, &bench_rx_ident.id,
                        NULL) != 0) {
      return -1;
    }
  }
  return 0;
}

/* Opens |k| streams from the client end of the first session. */
static int bench_mem_open_streams(bench_mem_run *r, dsb_stream_conn *sc,
                                  size_t first, size_t k) {
  dsb_mux *mux = dsb_stream_conn_mux(sc);

  for (size_t i = first; i < first + k; ++i) {
    char name[32];
    uint32_t id;
    int len = snprintf(name, sizeof(name), "idle%zu", i);
    if (dsb_mux_open(mux, &id, name, (size_t)len, 0, 0, NULL) != 0) {
      return -1;
    }
  }
  (void)r;
  return 0;
}

/* Bytes per idle session end and per idle stream end, as differences. */
static int bench_memory(double *per_session, double *per_session_mux,
                        double *per_stream) {
  static bench_mem_run r;
  static const dsb_tcp_callbacks cb = {
      bench_mem_on_established, bench_mem_on_record, bench_mem_on_writable,
      bench_mem_on_closed, NULL};
  const size_t k = 32, ks = 60;
  dsb_tcp_settings settings;
  dsb_tcp_config cfg;
  struct sockaddr_in addr;
  size_t sess1, mux1, sess2, mux2, m1, m2;
  dsb_stream_conn *client_sc = NULL;
  int rv = -1;

  memset(&r, 0, sizeof(r));
  r.sess_mem = bench_counting_mem(&r.sess_count);
  r.mux_mem = bench_counting_mem(&r.mux_count);
  if (uv_loop_init(&r.loop) != 0) {
    return -1;
  }
  dsb_tcp_settings_default(&settings);
  /* Many handshakes from one address in a burst: lift the admission
   * limits, they are not what is measured. */
  settings.limits.max_half_open = 1024;
  settings.limits.rate_per_s = 1000000;
  settings.limits.burst = 100000;
  memset(&cfg, 0, sizeof(cfg));
  cfg.loop = &r.loop;
  cfg.settings = &settings;
  cfg.callbacks = &cb;
  cfg.user_data = &r;
  cfg.mem = &r.sess_mem;
  cfg.local = &bench_rx_ident;
  if (dsb_tcp_new(&r.srv, &cfg) != 0) {
    goto out;
  }
  cfg.local = &bench_tx_ident;
  if (dsb_tcp_new(&r.cli, &cfg) != 0) {
    goto out;
  }
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  {
    struct sockaddr_storage ss;
    if (dsb_tcp_listen(r.srv, (const struct sockaddr *)&addr, 128) != 0 ||
        dsb_tcp_listen_addr(r.srv, &ss) != 0) {
      goto out;
    }
    memcpy(&addr, &ss, sizeof(addr));
  }

  /* Sessions: K, then 2K (both ends each). */
  if (bench_mem_connect(&r, &addr, k) != 0 ||
      bench_mem_wait(&r, &r.nsc, 2 * k) != 0) {
    goto out;
  }
  sess1 = r.sess_count.live;
  mux1 = r.mux_count.live;
  if (bench_mem_connect(&r, &addr, k) != 0 ||
      bench_mem_wait(&r, &r.nsc, 4 * k) != 0) {
    goto out;
  }
  sess2 = r.sess_count.live;
  mux2 = r.mux_count.live;
  *per_session_mux = (double)(mux2 - mux1) / (double)(2 * k);
  *per_session = (double)(sess2 - sess1) / (double)(2 * k) + *per_session_mux;

  /* Streams: on one session (an outbound glue, i.e. client end), KS then
   * 2 KS idle streams; both ends hold each. */
  for (size_t i = 0; i < r.nsc && !client_sc; ++i) {
    dsb_tcp_conn *c = dsb_stream_conn_get_conn(r.scs[i]);
    if (dsb_tcp_conn_get_role(c) == DSB_SESSION_INITIATOR) {
      client_sc = r.scs[i];
    }
  }
  if (client_sc == NULL || bench_mem_open_streams(&r, client_sc, 0, ks) != 0 ||
      bench_mem_wait(&r, &r.accepted, ks) != 0) {
    goto out;
  }
  m1 = r.mux_count.live;
  if (bench_mem_open_streams(&r, client_sc, ks, ks) != 0 ||
      bench_mem_wait(&r, &r.accepted, 2 * ks) != 0) {
    goto out;
  }
  m2 = r.mux_count.live;
  *per_stream = (double)(m2 - m1) / (double)(2 * ks);
  rv = 0;

out:
  dsb_tcp_del(r.cli);
  dsb_tcp_del(r.srv);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  (void)uv_loop_close(&r.loop);
  return rv;
}

static double bench_secs(const struct timeval *tv) {
  return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

/* Best of |BENCH_RUNS|: the machine may be shared, and interference only
 * ever makes a run slower. */
#define BENCH_RUNS 3

/* CPU seconds (user + sys) so far of this process (the receiver) and of
 * its waited-for children (the senders). */
typedef struct bench_cpu {
  double rx, tx;
} bench_cpu;

static bench_cpu bench_cpu_now(void) {
  struct rusage self, child;
  bench_cpu c = {0, 0};
  if (getrusage(RUSAGE_SELF, &self) == 0 &&
      getrusage(RUSAGE_CHILDREN, &child) == 0) {
    c.rx = bench_secs(&self.ru_utime) + bench_secs(&self.ru_stime);
    c.tx = bench_secs(&child.ru_utime) + bench_secs(&child.ru_stime);
  }
  return c;
}

/* Adds one run's CPU seconds per GiB of each end, divided by the number
 * of runs: the mean, not the least, because raw TCP's sender showed 0.04
 * to 0.5 s/GiB across runs on one machine (probably loopback softirq work
 * charged to ksoftirqd in some runs), and the least would keep the
 * luckiest run. */
static void bench_cpu_add(bench_cpu *sum, bench_cpu a, bench_cpu b,
                          uint64_t total) {
  double gib = (double)total / (double)(UINT64_C(1) << 30);
  sum->rx += (b.rx - a.rx) / gib / BENCH_RUNS;
  sum->tx += (b.tx - a.tx) / gib / BENCH_RUNS;
}

/* Raw TCP and mux throughput for the same bytes, runs interleaved so slow
 * phases of a shared machine hit both alike; the best of each, and the
 * mean CPU per GiB of each end. */
static int bench_best_pair(size_t nstreams, size_t size, uint64_t total,
                           double *raw, double *mux, bench_cpu *raw_cpu,
                           bench_cpu *mux_cpu) {
  *raw = *mux = 0;
  *raw_cpu = *mux_cpu = (bench_cpu){0, 0};
  for (int i = 0; i < BENCH_RUNS; ++i) {
    bench_cpu c0 = bench_cpu_now();
    double r = bench_raw(total);
    bench_cpu c1 = bench_cpu_now();
    double m = bench_mux(nstreams, size, total);
    bench_cpu c2 = bench_cpu_now();
    if (r <= 0 || m <= 0) {
      return -1;
    }
    *raw = r > *raw ? r : *raw;
    *mux = m > *mux ? m : *mux;
    bench_cpu_add(raw_cpu, c0, c1, total);
    bench_cpu_add(mux_cpu, c1, c2, total);
  }
  return 0;
}

/* ---- main ---------------------------------------------------------------- */

static const char *bench_size_name(size_t size) {
  switch (size) {
  case 64:
    return "64B";
  case 1024:
    return "1KiB";
  case 16384:
    return "16KiB";
  default:
    return "64KiB";
  }
}

/* Bytes per figure: a few tenths of a second at the rate of the size, so
 * start-up and socket-buffer effects stay small. */
static uint64_t bench_volume(size_t size) {
  return size == 64 ? UINT64_C(128) << 20 : UINT64_C(512) << 20;
}

int main(void) {
  static const size_t sizes[] = {64, 1024, 16384, 65536};
  static const size_t counts[] = {1, 8};
  double seal, open, a, t, b, one64 = 0, eight64 = 0;
  double per_session = 0, per_session_mux = 0, per_stream = 0;
  int failed = 0;

  signal(SIGPIPE, SIG_IGN);
  dsb_mux_settings_default(&bench_mux_settings);
  dsb_tcp_settings_default(&bench_tcp_settings);
  if (getenv("DSB_BENCH_STREAM_SETTINGS") != NULL) {
    /* "STREAM_WINDOW:SESSION_WINDOW:SESSION_SEND_BUFFER:WRITE_QUEUE" in
     * bytes, 0 keeps a default: what the windows and queues cost. */
    unsigned long v[4] = {0, 0, 0, 0};
    if (sscanf(getenv("DSB_BENCH_STREAM_SETTINGS"), "%lu:%lu:%lu:%lu", &v[0],
               &v[1], &v[2], &v[3]) != 4) {
      fprintf(stderr,
              "bench_stream: DSB_BENCH_STREAM_SETTINGS=SW:SSW:SSB:WQ\n");
      return 2;
    }
    if (v[0]) {
      bench_mux_settings.stream_window = (uint32_t)v[0];
    }
    if (v[1]) {
      bench_mux_settings.session_window = (uint32_t)v[1];
    }
    if (v[2]) {
      bench_mux_settings.session_send_buffer = (uint32_t)v[2];
    }
    if (v[3]) {
      bench_tcp_settings.max_write_queue = v[3];
    }
  }
  if (dsb_identity_generate(&bench_rx_ident, NULL) != 0 ||
      dsb_identity_generate(&bench_tx_ident, NULL) != 0) {
    fprintf(stderr, "bench_stream: identity generation failed\n");
    return 1;
  }
  if (getenv("DSB_BENCH_STREAM_ONLY") != NULL) {
    /* "STREAMS:SIZE": one mux figure and nothing else, for profiling
     * (perf record follows the forked sender too). */
    unsigned long ns = 0, sz = 0;
    if (sscanf(getenv("DSB_BENCH_STREAM_ONLY"), "%lu:%lu", &ns, &sz) != 2 ||
        ns == 0 || ns > BENCH_MAX_STREAMS || sz == 0 || sz > BENCH_MAX_MSG) {
      fprintf(stderr, "bench_stream: DSB_BENCH_STREAM_ONLY=STREAMS:SIZE\n");
      return 2;
    }
    struct rusage self, child;
    double mbps = bench_mux(ns, sz, bench_volume(sz));
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &child);
    /* CPU seconds show whether the ends were busy or waiting. */
    printf("mux %lu x %lu B: %.1f MB/s; cpu user+sys: receiver %.3f+%.3f, "
           "sender %.3f+%.3f\n",
           ns, sz, mbps, bench_secs(&self.ru_utime), bench_secs(&self.ru_stime),
           bench_secs(&child.ru_utime), bench_secs(&child.ru_stime));
    return mbps > 0 ? 0 : 1;
  }
  dsb_bench_print_header("streams (mux v2) over loopback TCP, two processes");

  /* Rows by size, 1 and 8 streams side by side. T is the best raw TCP
   * run of the whole program (every one writes 64 KiB chunks): the higher
   * T, the stricter the bound B. */
  seal = bench_aead(0);
  open = bench_aead(1);
  t = 0;
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); ++i) {
    for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); ++c) {
      uint64_t vol = bench_volume(sizes[i]);
      double raw, mux;
      bench_cpu raw_cpu, mux_cpu;
      char name[64], base[64];

      if (bench_best_pair(counts[c], sizes[i], vol, &raw, &mux, &raw_cpu,
                          &mux_cpu) != 0) {
        fprintf(stderr, "bench_stream: %zu x %zu B failed\n", counts[c],
                sizes[i]);
        failed = 1;
        continue;
      }
      t = raw > t ? raw : t;
      snprintf(name, sizeof(name), "stream.mux.%zux%s", counts[c],
               bench_size_name(sizes[i]));
      failed |= bench_record(name, mux, "MB/s", "tcp.raw.same_bytes", raw);
      /* CPU per GiB of each end beside raw TCP's for the same bytes: the
       * cost of the mux and the crypto without the noise of T. */
      snprintf(name, sizeof(name), "stream.cpu.%zux%s.receiver", counts[c],
               bench_size_name(sizes[i]));
      snprintf(base, sizeof(base), "tcp.raw.cpu.receiver");
      failed |= bench_record(name, mux_cpu.rx, "s/GiB", base, raw_cpu.rx);
      snprintf(name, sizeof(name), "stream.cpu.%zux%s.sender", counts[c],
               bench_size_name(sizes[i]));
      snprintf(base, sizeof(base), "tcp.raw.cpu.sender");
      failed |= bench_record(name, mux_cpu.tx, "s/GiB", base, raw_cpu.tx);
      if (sizes[i] == 65536) {
        *(counts[c] == 1 ? &one64 : &eight64) = mux;
      }
    }
  }
  /* Again at the end; the better of the two. */
  {
    double s2 = bench_aead(0), o2 = bench_aead(1);
    seal = s2 > seal ? s2 : seal;
    open = o2 > open ? o2 : open;
  }
  a = seal < open ? seal : open;
  if (a <= 0 || t <= 0) {
    fprintf(stderr, "bench_stream: AEAD or raw TCP measurement failed\n");
    return 1;
  }
  b = 1.0 / (1.0 / t + 1.0 / a);
  failed |= bench_record("stream.bound.T_raw_tcp", t, "MB/s", NULL, 0);
  failed |= bench_record("stream.bound.aead_seal.64KiB", seal, "MB/s", NULL, 0);
  failed |= bench_record("stream.bound.aead_open.64KiB", open, "MB/s", NULL, 0);
  failed |= bench_record("stream.bound.A_aead", a, "MB/s", NULL, 0);
  failed |=
      bench_record("stream.bound.B", b, "MB/s", "stream.bound.T_raw_tcp", t);
  if (one64 > 0) {
    failed |= bench_record("stream.mux.1x64KiB_vs_B", one64, "MB/s",
                           "stream.bound.B", b);
  }
  if (one64 > 0 && eight64 > 0) {
    failed |= bench_record("stream.mux.8x64KiB_vs_1x64KiB", eight64, "MB/s",
                           "stream.mux.1x64KiB", one64);
  }

  if (bench_memory(&per_session, &per_session_mux, &per_stream) != 0) {
    fprintf(stderr, "bench_stream: memory measurement failed\n");
    failed = 1;
  } else {
    failed |= bench_record("stream.memory.per_idle_stream", per_stream, "bytes",
                           "target", 1024);
    failed |= bench_record("stream.memory.per_idle_session", per_session,
                           "bytes", "target", 16384);
    failed |= bench_record("stream.memory.per_idle_session.mux_part",
                           per_session_mux, "bytes", "target", 16384);
  }
  dsb_identity_wipe(&bench_rx_ident);
  dsb_identity_wipe(&bench_tx_ident);
  return failed ? 1 : 0;
}
