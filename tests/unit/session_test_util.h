/*
 * session_test_util.h - helpers shared by the session tests, the TCP
 * integration test and the session fuzz targets: a deterministic RNG,
 * identities derived from a seed, and a pair of sessions wired through
 * memory. Header-only so each program takes what it needs.
 */
#ifndef DSB_SESSION_TEST_UTIL_H
#define DSB_SESSION_TEST_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dsb/crypto.h"
#include "dsb/err.h"
#include "dsb/identity.h"
#include "dsb/session.h"

/* splitmix64: deterministic, good enough to make distinct test keys. */
typedef struct stu_rng_state {
  uint64_t s;
} stu_rng_state;

static inline int stu_rng_fn(void *ctx, uint8_t *buf, size_t len) {
  stu_rng_state *st = ctx;
  size_t i;

  for (i = 0; i < len; ++i) {
    uint64_t z;
    if (i % 8 == 0) {
      st->s += UINT64_C(0x9e3779b97f4a7c15);
    }
    z = st->s;
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    z ^= z >> 31;
    buf[i] = (uint8_t)(z >> (8 * (i % 8)));
  }
  return 0;
}

static inline dsb_rng stu_rng(stu_rng_state *st, uint64_t seed) {
  dsb_rng r;
  st->s = seed;
  r.fn = stu_rng_fn;
  r.ctx = st;
  return r;
}

/* A device identity derived from |seed|. Returns 0 or a DSB_ERR_*. */
static inline int stu_identity(dsb_identity *ident, uint64_t seed) {
  stu_rng_state st;
  dsb_rng r = stu_rng(&st, seed);
  return dsb_identity_generate(ident, &r);
}

/* ---- a pair of sessions connected through memory ------------------------ */

#define STU_LOG_CAP (1u << 20)

typedef struct stu_side {
  dsb_session *s;
  stu_rng_state rng_state;
  dsb_rng rng;
  int established;
  dsb_device_id peer;
  /* Every record plaintext received, concatenated, with lengths. */
  uint8_t *log;
  size_t loglen;
  size_t records;
  size_t lens[256];
} stu_side;

typedef struct stu_pair {
  stu_side i; /* initiator */
  stu_side r; /* responder */
  dsb_tstamp now;
} stu_pair;

static inline int stu_on_established(dsb_session *s, const dsb_device_id *peer,
                                     void *user) {
  stu_side *side = user;
  (void)s;
  side->established = 1;
  side->peer = *peer;
  return 0;
}

static inline int stu_on_record(dsb_session *s, const uint8_t *pt, size_t ptlen,
                                void *user) {
  stu_side *side = user;
  (void)s;
  if (side->loglen + ptlen > STU_LOG_CAP) {
    return -1;
  }
  if (ptlen) {
    memcpy(side->log + side->loglen, pt, ptlen);
  }
  side->loglen += ptlen;
  if (side->records < 256) {
    side->lens[side->records] = ptlen;
  }
  ++side->records;
  return 0;
}

static const dsb_session_callbacks stu_callbacks = {stu_on_established,
                                                    stu_on_record};

/* Optional knobs of stu_side_new. */
typedef struct stu_opts {
  const dsb_session_settings *settings;
  dsb_session_peer_check_fn peer_check;
  void *peer_check_ctx;
  struct dsb_proof_cache *proof_cache;
  const dsb_mem *mem;
} stu_opts;

/*
 * A session for |role| of |local|. The initiator expects |expected| with
 * Noise static key |remote_static|. |seed| drives its ephemeral keys.
 */
static inline int stu_side_new(stu_side *side, dsb_session_role role,
                               const dsb_identity *local,
                               const uint8_t *remote_static,
                               const dsb_device_id *expected, uint64_t seed,
                               const stu_opts *opts, dsb_tstamp now) {
  dsb_session_config cfg;
  int rv;

  memset(&cfg, 0, sizeof(cfg));
  side->rng = stu_rng(&side->rng_state, seed);
  if (!side->log) {
    side->log = malloc(STU_LOG_CAP);
    if (!side->log) {
      return DSB_ERR_NOMEM;
    }
  }
  cfg.role = role;
  cfg.local = local;
  cfg.remote_static = remote_static;
  cfg.expected_peer = expected;
  cfg.callbacks = &stu_callbacks;
  cfg.user_data = side;
  cfg.rng = &side->rng;
  if (opts) {
    cfg.settings = opts->settings;
    cfg.peer_check = opts->peer_check;
    cfg.peer_check_ctx = opts->peer_check_ctx;
    cfg.proof_cache = opts->proof_cache;
    cfg.mem = opts->mem;
  }
  rv = dsb_session_new(&side->s, &cfg, now);
  return rv;
}

static inline void stu_side_free(stu_side *side) {
  dsb_session_del(side->s);
  free(side->log);
  memset(side, 0, sizeof(*side));
}

/* Initiator |a| towards responder |b| (their real keys and id). */
static inline int stu_pair_new(stu_pair *p, const dsb_identity *a,
                               const dsb_identity *b, const stu_opts *iopts,
                               const stu_opts *ropts) {
  int rv;

  memset(p, 0, sizeof(*p));
  p->now = 1000;
  rv = stu_side_new(&p->i, DSB_SESSION_INITIATOR, a, b->proof.static_pk, &b->id,
                    11, iopts, p->now);
  if (rv != 0) {
    return rv;
  }
  return stu_side_new(&p->r, DSB_SESSION_RESPONDER, b, NULL, NULL, 22, ropts,
                      p->now);
}

static inline void stu_pair_free(stu_pair *p) {
  stu_side_free(&p->i);
  stu_side_free(&p->r);
}

/* Feed |len| bytes to |to| in pieces of at most |chunk| bytes. */
static inline long stu_feed(stu_side *to, const uint8_t *buf, size_t len,
                            size_t chunk, dsb_tstamp now) {
  size_t off = 0;

  while (off < len) {
    size_t n = len - off < chunk ? len - off : chunk;
    long rv = dsb_session_recv(to->s, buf + off, n, now);
    if (rv < 0) {
      return rv;
    }
    off += n;
  }
  return 0;
}

/*
 * Run the handshake, moving each message in pieces of |chunk| bytes.
 * Returns 0 once both sides are established, else the first error.
 */
static inline int stu_pair_handshake(stu_pair *p, size_t chunk) {
  uint8_t msg[DSB_SESSION_HANDSHAKE_MAX];
  int turn;

  for (turn = 0; turn < 3; ++turn) {
    stu_side *from = turn == 1 ? &p->r : &p->i;
    stu_side *to = turn == 1 ? &p->i : &p->r;
    long n = dsb_session_write_handshake(from->s, msg, sizeof(msg), p->now);
    long rv;
    if (n <= 0) {
      return n < 0 ? (int)n : DSB_ERR_INTERNAL;
    }
    rv = stu_feed(to, msg, (size_t)n, chunk, p->now);
    if (rv < 0) {
      return (int)rv;
    }
  }
  return p->i.established && p->r.established ? 0 : DSB_ERR_INTERNAL;
}

/* Seal |ptlen| bytes from |from| and deliver them to |to| in pieces. */
static inline int stu_send(stu_side *from, stu_side *to, const uint8_t *pt,
                           size_t ptlen, size_t chunk, dsb_tstamp now) {
  static uint8_t rec[DSB_SESSION_RECORD_MAX];
  long n = dsb_session_seal(from->s, rec, sizeof(rec), pt, ptlen);

  if (n < 0) {
    return (int)n;
  }
  return (int)stu_feed(to, rec, (size_t)n, chunk, now);
}

#endif /* DSB_SESSION_TEST_UTIL_H */
