/*
 * stream-probe - streams over one real TCP session between two processes
 * (dsb/stream_conn.h), for tests, benchmarks and looking at by hand.
 *
 *   stream-probe serve [common options]
 *   stream-probe send --connect HOST:PORT --peer-id ID --peer-key HEX
 *                     [--streams N] [--bytes M] [--msg-size S|MIN-MAX]
 *                     [--bytes-mode] [--priority P]
 *                     [--stream NAME:PRIO:msg|bytes:S|MIN-MAX:BYTES]...
 *                     [--seed N] [common options]
 *   common: [--listen HOST:PORT] (serve) [--key FILE | --state-dir DIR]
 *           [--window BYTES] [--timeout-ms N]
 *
 * Identity: --key loads an identity file, --state-dir loads or creates
 * DIR/identity.key; without either a fresh identity lives in memory only.
 * The server accepts any peer that proves an identity (no trust store):
 * it is a test tool.
 *
 * serve listens (default 127.0.0.1:0) and prints
 *   listening HOST PORT DEVICE_ID STATIC_KEY_HEX
 * then receives on every stream the peer opens and, for each stream the
 * peer closed, prints
 *   recv NAME bytes=N messages=K sha256=HEX
 * and exits when the connection closes, with
 *   done streams=N bytes=B seconds=S MBps=X reason=LABEL
 * (seconds from the first to the last DATA byte).
 *
 * send connects, opens the streams (default --streams 1 of --bytes 1 MiB
 * in messages of --msg-size 16384; names s0, s1, ...; --stream adds one
 * explicit stream instead), sends pseudo-random content derived from
 * --seed and the stream name, closes each stream when its bytes are
 * queued and, once the peer closed every stream too, prints per stream
 *   sent NAME bytes=N messages=K sha256=HEX
 * and "done ..." as above (seconds from connect to the last close).
 *
 * Hash: byte mode hashes the bytes; message mode hashes, per message, its
 * length (4 bytes big-endian) then its bytes, so equal hashes prove equal
 * content AND equal message boundaries.
 *
 * Exit status: 0 on success, 1 on any failure (an "error LABEL" line says
 * which), 2 on bad usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <openssl/evp.h>
#include <uv.h>

#include "dsb/crypto.h"
#include "dsb/err.h"
#include "dsb/identity.h"
#include "dsb/keystore.h"
#include "dsb/mux.h"
#include "dsb/stream_conn.h"
#include "dsb/tcp.h"

#define PROBE_MAX_STREAMS 128
/* Byte-mode chunk generated at a time. */
#define PROBE_CHUNK 65536

typedef struct probe_stream {
  char name[DSB_MUX_NAME_MAX + 1];
  uint32_t id;
  uint8_t priority;
  int bytes_mode;
  uint64_t total;            /* sender: bytes to send */
  uint32_t msg_min, msg_max; /* sender: message size range */
  uint64_t bytes, messages;  /* sent or received so far */
  uint64_t content;          /* content generator state */
  uint64_t sizes;            /* message-size generator state */
  uint8_t *buf;              /* sender: message or chunk not yet taken */
  size_t buflen, bufoff;
  EVP_MD_CTX *sha;
  int opened, local_closed, remote_closed, reported;
} probe_stream;

typedef struct probe {
  uv_loop_t *loop;
  dsb_tcp *tcp;
  dsb_tcp_conn *conn;
  dsb_stream_conn *sc;
  uv_timer_t watchdog;
  uv_timer_t shutdown;
  int sender;
  int failed;
  int closed;
  int close_reason;
  dsb_mux_settings mux_settings;
  probe_stream streams[PROBE_MAX_STREAMS];
  size_t nstreams;
  size_t nfinished;
  uint64_t t_start, t_first, t_last;
} probe;

/* ---- content and hashing ------------------------------------------------ */

/* splitmix64: a fast deterministic generator, not for secrets. */
static uint64_t probe_next(uint64_t *state) {
  uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

static void probe_fill(uint64_t *state, uint8_t *p, size_t len) {
  while (len >= 8) {
    uint64_t v = probe_next(state);
    memcpy(p, &v, 8);
    p += 8;
    len -= 8;
  }
  if (len > 0) {
    uint64_t v = probe_next(state);
    memcpy(p, &v, len);
  }
}

static uint64_t probe_seed_of(uint64_t seed, const char *name) {
  uint64_t h = seed ^ UINT64_C(0xcbf29ce484222325);
  for (; *name; ++name) {
    h = (h ^ (uint8_t)*name) * UINT64_C(0x100000001b3);
  }
  return h;
}

static int probe_hash_message(probe_stream *s, const uint8_t *data,
                              size_t len) {
  uint8_t hdr[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16),
                    (uint8_t)(len >> 8), (uint8_t)len};
  if (!s->bytes_mode && EVP_DigestUpdate(s->sha, hdr, sizeof(hdr)) != 1) {
    return DSB_ERR_CRYPTO;
  }
  return EVP_DigestUpdate(s->sha, data, len) == 1 ? 0 : DSB_ERR_CRYPTO;
}

static void probe_report(probe *p, probe_stream *s) {
  uint8_t md[32];
  unsigned mdlen = 0;
  char hex[65];

  if (s->reported) {
    return;
  }
  s->reported = 1;
  if (EVP_DigestFinal_ex(s->sha, md, &mdlen) != 1 || mdlen != 32) {
    p->failed = 1;
    printf("error %s\n", dsb_strerror(DSB_ERR_CRYPTO));
    return;
  }
  for (unsigned i = 0; i < 32; ++i) {
    snprintf(hex + 2 * i, 3, "%02x", md[i]);
  }
  printf("%s %s bytes=%llu messages=%llu sha256=%s\n",
         p->sender ? "sent" : "recv", s->name, (unsigned long long)s->bytes,
         (unsigned long long)s->messages, hex);
  fflush(stdout);
}

static void probe_fail(probe *p, const char *what, int err) {
  p->failed = 1;
  printf("error %s %s\n", what, dsb_strerror(err));
  fflush(stdout);
  if (p->conn && !p->closed) {
    dsb_tcp_conn_close(p->conn, err < 0 ? err : DSB_ERR_INTERNAL);
  }
}

static probe_stream *probe_find(probe *p, uint32_t id) {
  for (size_t i = 0; i < p->nstreams; ++i) {
    if (p->streams[i].opened && p->streams[i].id == id) {
      return &p->streams[i];
    }
  }
  return NULL;
}

/* ---- sender ------------------------------------------------------------- */

static size_t probe_next_msg_size(probe_stream *s) {
  uint64_t left = s->total - s->bytes;
  uint64_t size = s->msg_min;

  if (s->msg_max > s->msg_min) {
    size += probe_next(&s->sizes) % (s->msg_max - s->msg_min + 1u);
  }
  return (size_t)(size < left ? size : left);
}

/* Queue as much of the stream as the mux takes; close it when all is. */
static int probe_send_more(dsb_mux *mux, probe_stream *s) {
  int rv;

  while (s->bytes < s->total) {
    if (s->buflen == 0) {
      s->buflen = s->bytes_mode ? (size_t)(s->total - s->bytes < PROBE_CHUNK
                                               ? s->total - s->bytes
                                               : PROBE_CHUNK)
                                : probe_next_msg_size(s);
      s->bufoff = 0;
      probe_fill(&s->content, s->buf, s->buflen);
    }
    if (s->bytes_mode) {
      long n = dsb_mux_write_bytes(mux, s->id, s->buf + s->bufoff,
                                   s->buflen - s->bufoff);
      if (n == DSB_ERR_WOULD_BLOCK) {
        return 0; /* on_stream_writable calls again */
      }
      if (n < 0) {
        return (int)n;
      }
      if ((rv = probe_hash_message(s, s->buf + s->bufoff, (size_t)n)) != 0) {
        return rv;
      }
      s->bufoff += (size_t)n;
      s->bytes += (uint64_t)n;
      if (s->bufoff == s->buflen) {
        s->buflen = 0;
      }
      continue;
    }
    rv = dsb_mux_write_message(mux, s->id, s->buf, s->buflen);
    if (rv == DSB_ERR_WOULD_BLOCK) {
      return 0;
    }
    if (rv != 0) {
      return rv;
    }
    if ((rv = probe_hash_message(s, s->buf, s->buflen)) != 0) {
      return rv;
    }
    s->bytes += s->buflen;
    s->messages++;
    s->buflen = 0;
  }
  if (!s->local_closed) {
    s->local_closed = 1;
    return dsb_mux_close(mux, s->id);
  }
  return 0;
}

static int probe_on_accepted(dsb_mux *mux, uint32_t id, void *user_data) {
  probe *p = user_data;
  probe_stream *s = probe_find(p, id);
  int rv;

  if (s == NULL) {
    return -1;
  }
  rv = probe_send_more(mux, s);
  if (rv != 0) {
    probe_fail(p, "write", rv);
  }
  return 0;
}

static int probe_on_writable(dsb_mux *mux, uint32_t id, void *user_data) {
  return probe_on_accepted(mux, id, user_data);
}

/* ---- receiver ----------------------------------------------------------- */

static int probe_on_open(dsb_mux *mux, uint32_t id, const char *name,
                         size_t namelen, uint8_t priority, uint8_t mode,
                         void *user_data) {
  probe *p = user_data;
  probe_stream *s;

  if (p->sender || p->nstreams == PROBE_MAX_STREAMS) {
    return dsb_mux_reset(mux, id, DSB_MUX_RST_REJECTED) == 0 ? 0 : -1;
  }
  s = &p->streams[p->nstreams++];
  memcpy(s->name, name, namelen);
  s->name[namelen] = '\0';
  s->id = id;
  s->priority = priority;
  s->bytes_mode = mode == DSB_MUX_MODE_BYTES;
  s->sha = EVP_MD_CTX_new();
  if (s->sha == NULL || EVP_DigestInit_ex(s->sha, EVP_sha256(), NULL) != 1) {
    return -1;
  }
  s->opened = 1;
  return dsb_mux_accept(mux, id, NULL) == 0 ? 0 : -1;
}

static int probe_on_received(dsb_mux *mux, uint32_t id, const uint8_t *data,
                             size_t len, void *user_data) {
  probe *p = user_data;
  probe_stream *s = probe_find(p, id);
  uint64_t now = uv_hrtime();

  if (s == NULL) {
    return -1;
  }
  if (p->t_first == 0) {
    p->t_first = now;
  }
  p->t_last = now;
  if (probe_hash_message(s, data, len) != 0) {
    return -1;
  }
  s->bytes += len;
  s->messages += !s->bytes_mode;
  /* Consumed at once: the credit goes back to the sender. */
  return dsb_mux_consume(mux, id, len) == 0 ? 0 : -1;
}

/* ---- both --------------------------------------------------------------- */

static int probe_on_close(dsb_mux *mux, uint32_t id, void *user_data) {
  probe *p = user_data;
  probe_stream *s = probe_find(p, id);

  if (s == NULL) {
    return -1;
  }
  s->remote_closed = 1;
  if (!s->local_closed) {
    /* Receiver: everything arrived; close our side so the sender knows. */
    s->local_closed = 1;
    if (dsb_mux_close(mux, id) != 0) {
      return -1;
    }
  }
  probe_report(p, s);
  p->nfinished++;
  if (p->sender && p->nfinished == p->nstreams) {
    p->t_last = uv_hrtime();
    /* Graceful: our last frames are flushed before the FIN. */
    dsb_tcp_conn_close(p->conn, 0);
  }
  return 0;
}

static int probe_on_reset(dsb_mux *mux, uint32_t id, uint32_t code,
                          void *user_data) {
  probe *p = user_data;
  probe_stream *s = probe_find(p, id);

  (void)mux;
  p->failed = 1;
  printf("reset %s code=%u\n", s ? s->name : "?", code);
  fflush(stdout);
  if (s) {
    s->opened = 0;
  }
  return 0;
}

static int probe_on_keepalive(dsb_mux *mux, void *user_data) {
  (void)mux;
  (void)user_data;
  printf("keepalive_timeout\n");
  fflush(stdout);
  return 0;
}

static const dsb_mux_callbacks probe_mux_cb = {
    probe_on_open,  probe_on_accepted, probe_on_received, probe_on_received,
    probe_on_close, probe_on_reset,    probe_on_writable, probe_on_keepalive};

static int probe_open_streams(probe *p) {
  dsb_mux *mux = dsb_stream_conn_mux(p->sc);

  for (size_t i = 0; i < p->nstreams; ++i) {
    probe_stream *s = &p->streams[i];
    int rv = dsb_mux_open(mux, &s->id, s->name, strlen(s->name), s->priority,
                          s->bytes_mode ? DSB_MUX_OPEN_BYTES : 0, NULL);
    if (rv != 0) {
      return rv;
    }
    s->opened = 1;
  }
  return 0;
}

static int probe_on_established(dsb_tcp_conn *conn, const dsb_device_id *peer,
                                void *user_data) {
  probe *p = user_data;
  dsb_stream_conn_config cfg;
  int rv;

  (void)peer;
  if (p->conn != NULL && p->conn != conn) {
    return -1; /* serve: one connection only */
  }
  p->conn = conn;
  memset(&cfg, 0, sizeof(cfg));
  cfg.loop = p->loop;
  cfg.conn = conn;
  cfg.settings = &p->mux_settings;
  cfg.callbacks = &probe_mux_cb;
  cfg.user_data = p;
  rv = dsb_stream_conn_new(&p->sc, &cfg);
  if (rv != 0) {
    printf("error stream_conn %s\n", dsb_strerror(rv));
    fflush(stdout);
    p->failed = 1;
    return -1;
  }
  if (p->sender) {
    p->t_start = uv_hrtime();
    rv = probe_open_streams(p);
    if (rv != 0) {
      probe_fail(p, "open", rv);
    }
  }
  return 0;
}

static int probe_on_record(dsb_tcp_conn *conn, const uint8_t *pt, size_t ptlen,
                           void *user_data) {
  probe *p = user_data;
  (void)conn;
  if (p->sc) {
    (void)dsb_stream_conn_on_record(p->sc, pt, ptlen);
  }
  return 0;
}

static void probe_on_tcp_writable(dsb_tcp_conn *conn, void *user_data) {
  probe *p = user_data;
  (void)conn;
  if (p->sc) {
    dsb_stream_conn_on_writable(p->sc);
  }
}

static void probe_on_shutdown(uv_timer_t *t) {
  probe *p = t->data;
  dsb_tcp_del(p->tcp);
  p->tcp = NULL;
  uv_close((uv_handle_t *)&p->watchdog, NULL);
  uv_close((uv_handle_t *)&p->shutdown, NULL);
}

static void probe_on_closed(dsb_tcp_conn *conn, int reason, void *user_data) {
  probe *p = user_data;
  uint64_t total = 0;
  double secs;

  if (conn != p->conn) {
    return;
  }
  p->closed = 1;
  p->close_reason = reason;
  if (p->sc) {
    int err = dsb_stream_conn_error(p->sc);
    if (err != 0) {
      reason = err;
    }
    dsb_stream_conn_del(p->sc);
    p->sc = NULL;
  }
  p->conn = NULL;
  for (size_t i = 0; i < p->nstreams; ++i) {
    total += p->streams[i].bytes;
    if (!p->streams[i].reported) {
      p->failed = 1; /* a stream that never finished */
    }
  }
  /* The sender closes (DSB_ERR_CLOSED); the receiver sees a clean EOF. */
  if (p->sender && reason == DSB_ERR_CLOSED) {
    reason = 0;
  }
  if (reason != 0) {
    p->failed = 1;
  }
  {
    uint64_t from = p->sender ? p->t_start : p->t_first;
    secs = p->t_last > from ? (double)(p->t_last - from) / 1e9 : 0.0;
  }
  printf("done streams=%zu bytes=%llu seconds=%.3f MBps=%.1f reason=%s\n",
         p->nfinished, (unsigned long long)total, secs,
         secs > 0 ? (double)total / secs / 1e6 : 0.0,
         reason == 0 ? "ok" : dsb_strerror(reason));
  fflush(stdout);
  uv_timer_start(&p->shutdown, probe_on_shutdown, 0, 0);
}

static void probe_on_reject(dsb_tcp *tcp, const struct sockaddr *addr,
                            int reason, void *user_data) {
  (void)tcp;
  (void)addr;
  (void)user_data;
  printf("reject %s\n", dsb_strerror(reason));
  fflush(stdout);
}

static void probe_on_watchdog(uv_timer_t *t) {
  probe *p = t->data;
  printf("error timeout\n");
  fflush(stdout);
  p->failed = 1;
  if (p->conn) {
    dsb_tcp_conn_close(p->conn, DSB_ERR_TIMEOUT);
  } else {
    uv_timer_start(&p->shutdown, probe_on_shutdown, 0, 0);
  }
}

/* ---- command line ------------------------------------------------------- */

static void usage(void) {
  fprintf(stderr,
          "usage: stream-probe serve [--listen HOST:PORT] [common]\n"
          "       stream-probe send --connect HOST:PORT --peer-id ID\n"
          "         --peer-key HEX [--streams N] [--bytes M]\n"
          "         [--msg-size S|MIN-MAX] [--bytes-mode] [--priority P]\n"
          "         [--stream NAME:PRIO:msg|bytes:S|MIN-MAX:BYTES]...\n"
          "         [--seed N] [common]\n"
          "  common: [--key FILE | --state-dir DIR] [--window BYTES]\n"
          "          [--timeout-ms N]\n");
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out) {
  char *end;
  unsigned long long v;

  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno || *end || end == s || *s == '-' || v > max) {
    return -1;
  }
  *out = v;
  return 0;
}

/* "S" or "MIN-MAX", each 1..max_message. */
static int parse_sizes(const char *s, uint32_t *pmin, uint32_t *pmax) {
  char tmp[64];
  char *dash;
  uint64_t a, b;

  if (strlen(s) >= sizeof(tmp)) {
    return -1;
  }
  strcpy(tmp, s);
  dash = strchr(tmp, '-');
  if (dash) {
    *dash = '\0';
  }
  if (parse_u64(tmp, UINT32_MAX, &a) != 0 || a == 0) {
    return -1;
  }
  b = a;
  if (dash && (parse_u64(dash + 1, UINT32_MAX, &b) != 0 || b < a)) {
    return -1;
  }
  *pmin = (uint32_t)a;
  *pmax = (uint32_t)b;
  return 0;
}

/* NAME:PRIO:msg|bytes:SIZES:BYTES */
static int parse_stream(const char *spec, probe_stream *s) {
  char tmp[256];
  char *f[5];
  char *save = NULL;
  uint64_t v;
  int n = 0;

  if (strlen(spec) >= sizeof(tmp)) {
    return -1;
  }
  strcpy(tmp, spec);
  for (char *t = strtok_r(tmp, ":", &save); t && n < 5;
       t = strtok_r(NULL, ":", &save)) {
    f[n++] = t;
  }
  if (n != 5 || strtok_r(NULL, ":", &save) != NULL ||
      !dsb_mux_name_valid(f[0], strlen(f[0]))) {
    return -1;
  }
  strcpy(s->name, f[0]);
  if (parse_u64(f[1], DSB_MUX_PRIORITY_MAX, &v) != 0) {
    return -1;
  }
  s->priority = (uint8_t)v;
  if (strcmp(f[2], "msg") == 0) {
    s->bytes_mode = 0;
  } else if (strcmp(f[2], "bytes") == 0) {
    s->bytes_mode = 1;
  } else {
    return -1;
  }
  if (parse_sizes(f[3], &s->msg_min, &s->msg_max) != 0 ||
      parse_u64(f[4], UINT64_MAX, &s->total) != 0) {
    return -1;
  }
  return 0;
}

static int parse_hostport(const char *s, struct sockaddr_in *sin) {
  char host[64];
  const char *colon = strrchr(s, ':');
  uint64_t port;

  if (!colon || (size_t)(colon - s) >= sizeof(host) ||
      parse_u64(colon + 1, 65535, &port) != 0) {
    return -1;
  }
  memcpy(host, s, (size_t)(colon - s));
  host[colon - s] = '\0';
  return uv_ip4_addr(host, (int)port, sin) == 0 ? 0 : -1;
}

static int parse_hex32(const char *s, uint8_t out[32]) {
  if (strlen(s) != 64) {
    return -1;
  }
  for (int i = 0; i < 32; ++i) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1) {
      return -1;
    }
    out[i] = (uint8_t)v;
  }
  return 0;
}

typedef struct probe_args {
  const char *key, *state_dir, *connect, *peer_id, *peer_key, *listen;
  uint64_t nstreams, bytes, seed, window, timeout_ms, priority;
  uint32_t msg_min, msg_max;
  int bytes_mode;
} probe_args;

static int probe_parse(probe *p, probe_args *a, int argc, char **argv) {
  for (int i = 2; i < argc; ++i) {
    const char *o = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    int bad = 0;

    if (strcmp(o, "--bytes-mode") == 0) {
      a->bytes_mode = 1;
      continue;
    }
    if (v == NULL) {
      return -1;
    }
    ++i;
    if (strcmp(o, "--key") == 0) {
      a->key = v;
    } else if (strcmp(o, "--state-dir") == 0) {
      a->state_dir = v;
    } else if (strcmp(o, "--connect") == 0) {
      a->connect = v;
    } else if (strcmp(o, "--listen") == 0) {
      a->listen = v;
    } else if (strcmp(o, "--peer-id") == 0) {
      a->peer_id = v;
    } else if (strcmp(o, "--peer-key") == 0) {
      a->peer_key = v;
    } else if (strcmp(o, "--streams") == 0) {
      bad = parse_u64(v, PROBE_MAX_STREAMS, &a->nstreams) || !a->nstreams;
    } else if (strcmp(o, "--bytes") == 0) {
      bad = parse_u64(v, UINT64_MAX, &a->bytes);
    } else if (strcmp(o, "--msg-size") == 0) {
      bad = parse_sizes(v, &a->msg_min, &a->msg_max);
    } else if (strcmp(o, "--priority") == 0) {
      bad = parse_u64(v, DSB_MUX_PRIORITY_MAX, &a->priority);
    } else if (strcmp(o, "--seed") == 0) {
      bad = parse_u64(v, UINT64_MAX, &a->seed);
    } else if (strcmp(o, "--window") == 0) {
      bad = parse_u64(v, 1u << 30, &a->window);
    } else if (strcmp(o, "--timeout-ms") == 0) {
      bad = parse_u64(v, UINT32_MAX, &a->timeout_ms) || !a->timeout_ms;
    } else if (strcmp(o, "--stream") == 0) {
      bad = p->nstreams == PROBE_MAX_STREAMS ||
            parse_stream(v, &p->streams[p->nstreams++]);
    } else {
      bad = 1;
    }
    if (bad) {
      return -1;
    }
  }
  return 0;
}

static int probe_setup_streams(probe *p, const probe_args *a) {
  if (p->nstreams == 0) {
    for (uint64_t i = 0; i < a->nstreams; ++i) {
      probe_stream *s = &p->streams[p->nstreams++];
      snprintf(s->name, sizeof(s->name), "s%llu", (unsigned long long)i);
      s->priority = (uint8_t)a->priority;
      s->bytes_mode = a->bytes_mode;
      s->msg_min = a->msg_min;
      s->msg_max = a->msg_max;
      s->total = a->bytes;
    }
  }
  for (size_t i = 0; i < p->nstreams; ++i) {
    probe_stream *s = &p->streams[i];
    size_t cap = s->bytes_mode ? PROBE_CHUNK : s->msg_max;
    s->content = probe_seed_of(a->seed, s->name);
    s->sizes = probe_seed_of(a->seed + 1, s->name);
    s->buf = malloc(cap);
    s->sha = EVP_MD_CTX_new();
    if (!s->buf || !s->sha ||
        EVP_DigestInit_ex(s->sha, EVP_sha256(), NULL) != 1) {
      return DSB_ERR_NOMEM;
    }
  }
  return 0;
}

static int probe_identity(dsb_identity *ident, const probe_args *a) {
  if (a->key) {
    return dsb_keystore_load(ident, a->key);
  }
  if (a->state_dir) {
    return dsb_keystore_load_or_create(ident, a->state_dir, NULL, NULL);
  }
  return dsb_identity_generate(ident, NULL);
}

static int probe_start(probe *p, const probe_args *a) {
  struct sockaddr_in sin;
  int rv;

  if (p->sender) {
    uint8_t key[32];
    dsb_device_id id;
    if (!a->connect || !a->peer_id || !a->peer_key ||
        parse_hostport(a->connect, &sin) != 0 ||
        parse_hex32(a->peer_key, key) != 0 ||
        dsb_device_id_parse(&id, a->peer_id, strlen(a->peer_id)) != 0) {
      return DSB_ERR_INVALID_ARGUMENT;
    }
    return dsb_tcp_connect(p->tcp, &p->conn, (const struct sockaddr *)&sin, key,
                           &id, NULL);
  }
  if (parse_hostport(a->listen ? a->listen : "127.0.0.1:0", &sin) != 0) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  rv = dsb_tcp_listen(p->tcp, (const struct sockaddr *)&sin, 4);
  if (rv != 0) {
    return rv;
  }
  {
    struct sockaddr_storage ss;
    char host[64];
    rv = dsb_tcp_listen_addr(p->tcp, &ss);
    if (rv != 0) {
      return rv;
    }
    uv_ip4_name((const struct sockaddr_in *)&ss, host, sizeof(host));
    printf("listening %s %u ", host,
           ntohs(((const struct sockaddr_in *)&ss)->sin_port));
  }
  return 0;
}

int main(int argc, char **argv) {
  static probe p; /* large: keep it off the stack */
  probe_args a;
  dsb_identity ident;
  dsb_tcp_config tcfg;
  dsb_tcp_callbacks tcb = {probe_on_established, probe_on_record,
                           probe_on_tcp_writable, probe_on_closed,
                           probe_on_reject};
  int rv;

  memset(&a, 0, sizeof(a));
  a.nstreams = 1;
  a.bytes = 1u << 20;
  a.msg_min = a.msg_max = 16384;
  a.timeout_ms = 120000;
  if (argc < 2 ||
      (strcmp(argv[1], "serve") != 0 && strcmp(argv[1], "send") != 0)) {
    usage();
    return 2;
  }
  p.sender = strcmp(argv[1], "send") == 0;
  if (probe_parse(&p, &a, argc, argv) != 0) {
    usage();
    return 2;
  }
  dsb_mux_settings_default(&p.mux_settings);
  if (a.window) {
    p.mux_settings.stream_window = (uint32_t)a.window;
    if (p.mux_settings.max_message > a.window) {
      p.mux_settings.max_message = (uint32_t)a.window;
    }
    if (p.mux_settings.session_window < a.window) {
      p.mux_settings.session_window = (uint32_t)a.window;
    }
  }
  if (p.sender && (rv = probe_setup_streams(&p, &a)) != 0) {
    printf("error setup %s\n", dsb_strerror(rv));
    return 1;
  }
  rv = probe_identity(&ident, &a);
  if (rv != 0) {
    printf("error identity %s\n", dsb_strerror(rv));
    return 1;
  }

  p.loop = uv_default_loop();
  memset(&tcfg, 0, sizeof(tcfg));
  tcfg.loop = p.loop;
  tcfg.local = &ident;
  tcfg.callbacks = &tcb;
  tcfg.user_data = &p;
  rv = dsb_tcp_new(&p.tcp, &tcfg);
  if (rv != 0) {
    dsb_identity_wipe(&ident);
    printf("error tcp %s\n", dsb_strerror(rv));
    return 1;
  }
  uv_timer_init(p.loop, &p.watchdog);
  uv_timer_init(p.loop, &p.shutdown);
  p.watchdog.data = &p;
  p.shutdown.data = &p;
  uv_timer_start(&p.watchdog, probe_on_watchdog, a.timeout_ms, 0);
  uv_unref((uv_handle_t *)&p.shutdown);

  rv = probe_start(&p, &a);
  if (rv != 0) {
    printf("error start %s\n", dsb_strerror(rv));
    p.failed = 1;
    uv_timer_start(&p.shutdown, probe_on_shutdown, 0, 0);
  } else if (!p.sender) {
    char id[DSB_DEVICE_ID_TEXT_LEN + 1];
    dsb_device_id_format(id, &ident.id);
    printf("%s ", id);
    for (int i = 0; i < 32; ++i) {
      printf("%02x", ident.proof.static_pk[i]);
    }
    printf("\n");
    fflush(stdout);
  }
  dsb_identity_wipe(&ident); /* the transport keeps its own copy */

  uv_run(p.loop, UV_RUN_DEFAULT);
  rv = uv_loop_close(p.loop);
  for (size_t i = 0; i < p.nstreams; ++i) {
    free(p.streams[i].buf);
    EVP_MD_CTX_free(p.streams[i].sha);
  }
  if (rv != 0) {
    fprintf(stderr, "stream-probe: loop still has handles\n");
    return 1;
  }
  return p.failed ? 1 : 0;
}
