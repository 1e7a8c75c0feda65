/*
 * bench_disc.c - discovery figures, each beside a baseline measured in the
 * same run (docs/BENCHMARKS.md, "Discovery"):
 *
 *   1. Announcements decoded and verified per second, against the raw
 *      Ed25519 verify rate of the same message size. A verify without a
 *      cache costs two Ed25519 verifies (certificate, signature) plus one
 *      BLAKE2s; with the verified-proof cache (dsb/proof_cache.h) the
 *      certificate of a known device is a cache hit, so one verify remains.
 *   2. The peer table's whole input path (rate limit, parse, replay check,
 *      verify, commit) per second.
 *   3. The time a new node needs to see an existing one after it starts,
 *      over loopback multicast (query path: the existing node only
 *      re-announces every 10 minutes, so only the answer to the new node's
 *      start query can tell it), median of DISC_RUNS runs, against the
 *      median round-trip time of a raw UDP ping-pong on loopback.
 *
 * Loopback only: multicast leaves through 127.0.0.1 with TTL 0.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "bench_json.h"
#include "dsb/crypto.h"
#include "dsb/disc.h"
#include "dsb/disc_udp.h"
#include "dsb/err.h"
#include "dsb/identity.h"
#include "dsb/proof_cache.h"

#define BENCH_MIN_NS (150 * 1000000ull) /* per throughput timing */
/* Throughput timings are interleaved over this many rounds and the best of
 * each is kept, and every discovery run is paired with a ping-pong batch,
 * so a busy machine slows a figure and its baseline alike. */
#define ROUNDS 5
#define DISC_RUNS 21
#define DISC_RUN_TIMEOUT_MS 3000
#define PING_PER_RUN 101
#define PING_ROUNDS (DISC_RUNS * PING_PER_RUN)
#define INPUT_ANNOUNCES 1000

static void die(const char *what, int rv) {
  fprintf(stderr, "bench_disc: %s: %s\n", what, rv ? dsb_strerror(rv) : "");
  exit(1);
}

/* ---- 1. decode + verify, against raw Ed25519 ----------------------------- */

typedef struct sample {
  dsb_identity id;
  uint8_t dgram[DSB_DISC_MAX_DATAGRAM];
  size_t len;
  uint8_t msg[sizeof(DSB_DISC_SIG_LABEL) - 1 + DSB_DISC_MAX_DATAGRAM];
  size_t msglen; /* label || datagram before the signature */
} sample;

/* A typical announcement: a name and three services. */
static void sample_make(sample *s) {
  dsb_disc_announce ann;
  int rv = dsb_identity_generate(&s->id, NULL);
  if (rv != 0) {
    die("identity", rv);
  }
  dsb_disc_announce_init(&ann);
  ann.session_port = 47001;
  ann.seq = 1;
  ann.ttl_s = 20;
  if (dsb_disc_announce_set_name(&ann, "bench-node", 10) != 0 ||
      dsb_disc_announce_add_service(&ann, "echo", 4) != 0 ||
      dsb_disc_announce_add_service(&ann, "samgr", 5) != 0 ||
      dsb_disc_announce_add_service(&ann, "org.example.files", 17) != 0) {
    die("announcement fields", 0);
  }
  long n = dsb_disc_announce_encode(s->dgram, sizeof(s->dgram), &ann, &s->id);
  if (n < 0) {
    die("encode", (int)n);
  }
  s->len = (size_t)n;
  const size_t lablen = sizeof(DSB_DISC_SIG_LABEL) - 1;
  memcpy(s->msg, DSB_DISC_SIG_LABEL, lablen);
  memcpy(s->msg + lablen, s->dgram, s->len - DSB_ED25519_SIG_LEN);
  s->msglen = lablen + s->len - DSB_ED25519_SIG_LEN;
}

static double rate_ed25519_verify(const sample *s) {
  const uint8_t *sig = s->dgram + s->len - DSB_ED25519_SIG_LEN;
  uint64_t t0 = dsb_bench_now_ns(), t, n = 0;
  do {
    for (int i = 0; i < 64; ++i) {
      int rv = dsb_ed25519_verify(sig, s->id.proof.ed_pk, s->msg, s->msglen);
      if (rv != 0) {
        die("ed25519 verify", rv);
      }
    }
    n += 64;
    t = dsb_bench_now_ns();
  } while (t - t0 < BENCH_MIN_NS);
  return (double)n * 1e9 / (double)(t - t0);
}

static double rate_decode(const sample *s) {
  dsb_disc_announce ann;
  uint64_t t0 = dsb_bench_now_ns(), t, n = 0;
  do {
    for (int i = 0; i < 32; ++i) {
      int rv = dsb_disc_announce_decode(&ann, s->dgram, s->len);
      if (rv != 0) {
        die("decode", rv);
      }
    }
    n += 32;
    t = dsb_bench_now_ns();
  } while (t - t0 < BENCH_MIN_NS);
  return (double)n * 1e9 / (double)(t - t0);
}

/*
 * The same checks as dsb_disc_announce_verify(), with the certificate
 * (and the device id derivation) answered by a verified-proof cache: what a
 * receiver that keeps a cache per peer pays for a re-announcement. Only the
 * signature over the new bytes needs a fresh Ed25519 verify.
 */
static int decode_cached(dsb_proof_cache *cache, dsb_disc_announce *ann,
                         const sample *s, uint8_t *msg) {
  const size_t lablen = sizeof(DSB_DISC_SIG_LABEL) - 1;
  const size_t body = s->len - DSB_ED25519_SIG_LEN;
  dsb_device_id id;
  int rv = dsb_disc_announce_parse(ann, s->dgram, s->len);
  if (rv != 0) {
    return rv;
  }
  rv = dsb_proof_cache_verify(cache, &ann->proof, &id);
  if (rv != 0) {
    return rv;
  }
  if (!dsb_device_id_eq(&id, &ann->id)) {
    return DSB_ERR_DISC_BAD_DEVICE_ID;
  }
  memcpy(msg + lablen, s->dgram, body);
  return dsb_ed25519_verify(ann->sig, ann->proof.ed_pk, msg, lablen + body);
}

static double rate_decode_cached(const sample *s) {
  static uint8_t msg[sizeof(DSB_DISC_SIG_LABEL) - 1 + DSB_DISC_MAX_DATAGRAM];
  dsb_proof_cache *cache;
  dsb_disc_announce ann;
  dsb_proof_cache_stats st;
  uint64_t t0, t, n = 0;
  int rv = dsb_proof_cache_new(&cache, NULL, 0);
  if (rv != 0) {
    die("proof cache", rv);
  }
  memcpy(msg, DSB_DISC_SIG_LABEL, sizeof(DSB_DISC_SIG_LABEL) - 1);
  rv = decode_cached(cache, &ann, s, msg); /* warm: the one miss */
  if (rv != 0) {
    die("cached decode", rv);
  }
  t0 = dsb_bench_now_ns();
  do {
    for (int i = 0; i < 32; ++i) {
      rv = decode_cached(cache, &ann, s, msg);
      if (rv != 0) {
        die("cached decode", rv);
      }
    }
    n += 32;
    t = dsb_bench_now_ns();
  } while (t - t0 < BENCH_MIN_NS);
  dsb_proof_cache_get_stats(cache, &st);
  if (st.verifies != 1) {
    die("proof cache did not hit", 0);
  }
  dsb_proof_cache_del(cache);
  return (double)n * 1e9 / (double)(t - t0);
}

/* ---- 2. peer table input path -------------------------------------------- */

/* Re-announcements of one device with rising sequence numbers (the replay
 * rule would drop a repeat before any verify). */
typedef struct input_set {
  uint8_t dgram[INPUT_ANNOUNCES][DSB_DISC_MAX_DATAGRAM];
  size_t len[INPUT_ANNOUNCES];
} input_set;

static void input_set_make(input_set *in, const sample *s) {
  dsb_disc_announce ann;
  if (dsb_disc_announce_parse(&ann, s->dgram, s->len) != 0) {
    die("parse", 0);
  }
  for (size_t i = 0; i < INPUT_ANNOUNCES; ++i) {
    ann.seq = i + 1;
    long n = dsb_disc_announce_encode(in->dgram[i], DSB_DISC_MAX_DATAGRAM, &ann,
                                      &s->id);
    if (n < 0) {
      die("encode", (int)n);
    }
    in->len[i] = (size_t)n;
  }
}

/* A fresh table per call, so every call sees the same sequence numbers. */
static double rate_peers_input(const input_set *in) {
  dsb_disc_peers_settings set;
  dsb_disc_peers *tab;
  struct sockaddr_in src;
  int rv;

  dsb_disc_peers_settings_default(&set);
  set.rate_per_s = 1000000; /* measure verification, not the limiter */
  set.burst = 1000000;
  rv = dsb_disc_peers_new(&tab, &set, NULL, NULL, NULL);
  if (rv != 0) {
    die("peers", rv);
  }
  memset(&src, 0, sizeof(src));
  src.sin_family = AF_INET;
  src.sin_port = htons(47083);
  src.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  uint64_t t0 = dsb_bench_now_ns();
  for (size_t i = 0; i < INPUT_ANNOUNCES; ++i) {
    rv = dsb_disc_peers_input(tab, in->dgram[i], in->len[i], (uint8_t *)&src,
                              sizeof(src), DSB_NS_PER_S + i * DSB_NS_PER_MS);
    if (rv != 0) {
      die("peers input", rv);
    }
  }
  uint64_t t = dsb_bench_now_ns();
  dsb_disc_peers_del(tab);
  return (double)INPUT_ANNOUNCES * 1e9 / (double)(t - t0);
}

/* ---- 3. time to see an existing node, against raw UDP RTT ---------------- */

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, size_t n) {
  qsort(v, n, sizeof(*v), cmp_u64);
  return v[n / 2];
}

static int udp_socket_lo(struct sockaddr_in *a) {
  socklen_t alen = sizeof(*a);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    die("socket", DSB_ERR_IO);
  }
  memset(a, 0, sizeof(*a));
  a->sin_family = AF_INET;
  a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)a, sizeof(*a)) != 0 ||
      getsockname(fd, (struct sockaddr *)a, &alen) != 0) {
    die("bind", DSB_ERR_IO);
  }
  return fd;
}

/*
 * Median RTT, in ns, of a raw UDP ping-pong of |size|-byte datagrams (the
 * size of the announcement) between two loopback sockets on the discovery
 * run's own libuv loop: the same setting (one process, one loop, loopback,
 * a wakeup per datagram), without any discovery work.
 */
typedef struct pingpong {
  uv_udp_t a, b;
  struct sockaddr_in aa, ba;
  uint8_t buf[DSB_DISC_MAX_DATAGRAM];
  uint8_t rbuf[DSB_DISC_MAX_DATAGRAM];
  size_t size;
  size_t round;
  size_t stop_at; /* end of the current batch */
  uint64_t t0;
  uint64_t rtt[PING_ROUNDS];
  int failed;
} pingpong;

static void pp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  pingpong *pp = h->data;
  (void)hint;
  *buf = uv_buf_init((char *)pp->rbuf, sizeof(pp->rbuf));
}

static void pp_send(pingpong *pp, uv_udp_t *from, const struct sockaddr *to) {
  uv_buf_t b = uv_buf_init((char *)pp->buf, (unsigned)pp->size);
  if (uv_udp_try_send(from, &b, 1, to) != (int)pp->size) {
    pp->failed = 1;
  }
}

static void pp_stop(pingpong *pp) {
  uv_udp_recv_stop(&pp->a);
  uv_udp_recv_stop(&pp->b);
}

static void pp_on_b(uv_udp_t *h, ssize_t n, const uv_buf_t *buf,
                    const struct sockaddr *from, unsigned flags) {
  pingpong *pp = h->data;
  (void)buf;
  (void)flags;
  if (n == 0 && !from) {
    return; /* nothing more to read */
  }
  if (n != (ssize_t)pp->size) {
    pp->failed = 1;
    pp_stop(pp);
    return;
  }
  pp_send(pp, &pp->b, from); /* pong */
}

static void pp_on_a(uv_udp_t *h, ssize_t n, const uv_buf_t *buf,
                    const struct sockaddr *from, unsigned flags) {
  pingpong *pp = h->data;
  (void)buf;
  (void)flags;
  if (n == 0 && !from) {
    return;
  }
  if (n != (ssize_t)pp->size) {
    pp->failed = 1;
    pp_stop(pp);
    return;
  }
  uint64_t t = dsb_bench_now_ns();
  if (pp->round >= PING_ROUNDS) {
    pp->failed = 1; /* a pong nobody asked for */
    return;
  }
  pp->rtt[pp->round++] = t - pp->t0;
  if (pp->round >= pp->stop_at || pp->failed) {
    return;
  }
  pp->t0 = dsb_bench_now_ns();
  pp_send(pp, &pp->a, (const struct sockaddr *)&pp->ba); /* ping */
}

static void pp_bind(uv_loop_t *loop, uv_udp_t *h, struct sockaddr_in *addr,
                    pingpong *pp) {
  int alen = sizeof(*addr);
  memset(addr, 0, sizeof(*addr));
  addr->sin_family = AF_INET;
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (uv_udp_init(loop, h) != 0 ||
      uv_udp_bind(h, (const struct sockaddr *)addr, 0) != 0 ||
      uv_udp_getsockname(h, (struct sockaddr *)addr, &alen) != 0) {
    die("udp bind", DSB_ERR_IO);
  }
  h->data = pp;
}

static void pp_open(pingpong *pp, uv_loop_t *loop, size_t size) {
  memset(pp, 0, sizeof(*pp));
  pp->size = size;
  memset(pp->buf, 0x5a, sizeof(pp->buf));
  pp_bind(loop, &pp->a, &pp->aa, pp);
  pp_bind(loop, &pp->b, &pp->ba, pp);
  if (uv_udp_recv_start(&pp->a, pp_alloc, pp_on_a) != 0 ||
      uv_udp_recv_start(&pp->b, pp_alloc, pp_on_b) != 0) {
    die("udp recv", DSB_ERR_IO);
  }
}

/* |n| more round trips on |loop|, one at a time. Loopback does not drop
 * at this rate; a failure ends the program. */
static void pp_batch(pingpong *pp, uv_loop_t *loop, size_t n) {
  pp->stop_at = pp->round + n;
  pp->t0 = dsb_bench_now_ns();
  pp_send(pp, &pp->a, (const struct sockaddr *)&pp->ba);
  while (pp->round < pp->stop_at && !pp->failed) {
    uv_run(loop, UV_RUN_ONCE);
  }
  if (pp->failed) {
    die("udp ping-pong", DSB_ERR_IO);
  }
}

static void pp_close(pingpong *pp) {
  pp_stop(pp);
  uv_close((uv_handle_t *)&pp->a, NULL);
  uv_close((uv_handle_t *)&pp->b, NULL);
}

typedef struct watch {
  const dsb_device_id *want;
  uint64_t seen_ns; /* 0 until the wanted peer came up */
} watch;

static int watch_on_peer(void *ctx, dsb_disc_event_type ev,
                         dsb_disc_gone_reason reason,
                         const dsb_disc_peer *peer) {
  watch *w = ctx;
  (void)reason;
  if (ev == DSB_DISC_PEER_UP && !w->seen_ns &&
      dsb_device_id_eq(&peer->ann.id, w->want)) {
    w->seen_ns = dsb_bench_now_ns();
  }
  return 0;
}

static void on_run_timeout(uv_timer_t *t) {
  *(int *)t->data = 1;
}

static uint16_t free_udp_port(void) {
  struct sockaddr_in a;
  int fd = udp_socket_lo(&a);
  close(fd);
  return ntohs(a.sin_port);
}

static void disc_config(dsb_disc_udp_config *cfg, const dsb_identity *id,
                        const dsb_disc_announce *local, uint16_t port) {
  dsb_disc_udp_config_default(cfg);
  cfg->ident = id;
  cfg->local = local;
  cfg->port = port;
  cfg->ifname = "lo"; /* loopback mode: 127.0.0.1, TTL 0 */
  cfg->flags = DSB_DISC_UDP_NO_IPV6;
  cfg->interval_ms = 600000; /* only the query can be answered in time */
}

/* Median ns from dsb_disc_udp_start() of a fresh node to its PEER_UP for a
 * running node that answers its start query, and (|*rtt|) the median of a
 * raw UDP ping-pong batch run on the same loop before each of those runs. */
static uint64_t discovery_median(size_t dgram_size, uint64_t *rtt) {
  static uint64_t took[DISC_RUNS];
  static pingpong pp;
  uv_loop_t loop;
  dsb_identity old_id, new_id;
  dsb_disc_announce local;
  dsb_disc_udp_config cfg;
  dsb_disc_udp *old_node;
  uint16_t port = free_udp_port();
  int rv;

  if (uv_loop_init(&loop) != 0) {
    die("loop", DSB_ERR_IO);
  }
  pp_open(&pp, &loop, dgram_size);
  dsb_disc_announce_init(&local);
  local.session_port = 47001;
  if (dsb_identity_generate(&old_id, NULL) != 0) {
    die("identity", 0);
  }
  disc_config(&cfg, &old_id, &local, port);
  cfg.flags |= DSB_DISC_UDP_NO_QUERY;
  rv = dsb_disc_udp_new(&old_node, &loop, &cfg);
  if (rv == 0) {
    rv = dsb_disc_udp_start(old_node);
  }
  if (rv != 0) {
    die("existing node", rv);
  }
  for (size_t r = 0; r < DISC_RUNS; ++r) {
    dsb_disc_udp *node;
    watch w = {&old_id.id, 0};
    uv_timer_t timer;
    int expired = 0;

    pp_batch(&pp, &loop, PING_PER_RUN);
    if (dsb_identity_generate(&new_id, NULL) != 0) {
      die("identity", 0);
    }
    disc_config(&cfg, &new_id, &local, port);
    cfg.on_peer = watch_on_peer;
    cfg.ctx = &w;
    rv = dsb_disc_udp_new(&node, &loop, &cfg);
    dsb_identity_wipe(&new_id);
    if (rv != 0) {
      die("new node", rv);
    }
    uv_timer_init(&loop, &timer);
    timer.data = &expired;
    uv_timer_start(&timer, on_run_timeout, DISC_RUN_TIMEOUT_MS, 0);
    uint64_t t0 = dsb_bench_now_ns();
    rv = dsb_disc_udp_start(node);
    if (rv != 0) {
      die("start", rv);
    }
    while (!w.seen_ns && !expired) {
      uv_run(&loop, UV_RUN_ONCE);
    }
    if (!w.seen_ns) {
      die("the new node never saw the existing one", DSB_ERR_TIMEOUT);
    }
    took[r] = w.seen_ns - t0;
    uv_close((uv_handle_t *)&timer, NULL);
    dsb_disc_udp_del(node); /* goodbye; the old node forgets it */
    uv_run(&loop, UV_RUN_NOWAIT);
  }
  dsb_disc_udp_del(old_node);
  dsb_identity_wipe(&old_id);
  pp_close(&pp);
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0) {
    die("loop close", DSB_ERR_INTERNAL);
  }
  *rtt = median(pp.rtt, pp.round);
  return median(took, DISC_RUNS);
}

int main(void) {
  static sample s;
  static input_set in;
  dsb_bench_result r;
  double ed = 0, dec = 0, cached = 0, input = 0, t;
  uint64_t rtt_ns, disc_ns;
  int rv = 0;

  sample_make(&s);
  input_set_make(&in, &s);
  for (int round = 0; round < ROUNDS; ++round) {
    if ((t = rate_ed25519_verify(&s)) > ed) {
      ed = t;
    }
    if ((t = rate_decode(&s)) > dec) {
      dec = t;
    }
    if ((t = rate_decode_cached(&s)) > cached) {
      cached = t;
    }
    if ((t = rate_peers_input(&in)) > input) {
      input = t;
    }
  }
  disc_ns = discovery_median(s.len, &rtt_ns);

  dsb_bench_print_header("discovery (bench_disc; rates: best of rounds)");
  r = (dsb_bench_result){"disc.ed25519_verify", ed, "verifies/s", NULL, 0};
  rv |= dsb_bench_record(&r);
  r = (dsb_bench_result){"disc.announce_decode_verify", dec, "announces/s",
                         "disc.ed25519_verify", ed};
  rv |= dsb_bench_record(&r);
  r = (dsb_bench_result){"disc.announce_decode_verify.proof_cache", cached,
                         "announces/s", "disc.ed25519_verify", ed};
  rv |= dsb_bench_record(&r);
  r = (dsb_bench_result){"disc.peer_table_input", input, "announces/s",
                         "disc.ed25519_verify", ed};
  rv |= dsb_bench_record(&r);
  r = (dsb_bench_result){"udp.loopback_rtt", (double)rtt_ns / 1e3, "us", NULL,
                         0};
  rv |= dsb_bench_record(&r);
  r = (dsb_bench_result){"disc.time_to_see_existing_node",
                         (double)disc_ns / 1e3, "us", "udp.loopback_rtt",
                         (double)rtt_ns / 1e3};
  rv |= dsb_bench_record(&r);
  dsb_identity_wipe(&s.id);
  return rv ? 1 : 0;
}
