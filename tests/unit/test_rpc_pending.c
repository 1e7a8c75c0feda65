/* test_rpc_pending.c - caller-side pending calls: nonces, caps, matching,
 * timeouts, and 1000 calls answered in random order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dsb/err.h"
#include "dsb/policy.h"
#include "dsb/rpc.h"
#include "dsb/services.h"
#include "dsb/wire.h"

#define MS DSB_NS_PER_MS

/* ---- deterministic helpers ------------------------------------------------
 */

/* xorshift64*: a deterministic stream for payloads, shuffles and the rng. */
static uint64_t prng_next(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * UINT64_C(0x2545F4914F6CDD1D);
}

static int rng_prng(void *ctx, uint8_t *buf, size_t len) {
  for (size_t i = 0; i < len; ++i) {
    buf[i] = (uint8_t)prng_next(ctx);
  }
  return 0;
}

/* The first 8 bytes it yields are |*ctx| big-endian: the first nonce. */
static int rng_fixed(void *ctx, uint8_t *buf, size_t len) {
  memset(buf, 0, len);
  if (len >= 8) {
    dsb_wire_put_u64be(buf, *(uint64_t *)ctx);
  }
  return 0;
}

static int rng_fail(void *ctx, uint8_t *buf, size_t len) {
  (void)ctx;
  (void)buf;
  (void)len;
  return DSB_ERR_CRYPTO_RNG;
}

static dsb_device_id peer_n(uint8_t n) {
  dsb_device_id id;
  memset(id.b, n, sizeof(id.b));
  return id;
}

static dsb_rpc_pending *mk(uint32_t total, uint32_t per_peer,
                           uint32_t per_session, uint64_t seed) {
  static uint64_t s;
  s = seed ? seed : 1;
  dsb_rpc_pending_settings st;
  dsb_rpc_pending_settings_default(&st);
  st.max_calls = total;
  st.max_calls_per_peer = per_peer;
  st.max_calls_per_session = per_session;
  st.default_timeout = 1000 * MS;
  dsb_rng rng = {rng_prng, &s};
  dsb_rpc_pending *p = NULL;
  assert_int_equal(dsb_rpc_pending_new(&p, NULL, &st, &rng), 0);
  return p;
}

/* ---- basics ----------------------------------------------------------------
 */

static void test_add_complete(void **state) {
  (void)state;
  dsb_rpc_pending *p = mk(16, 16, 16, 7);
  dsb_device_id a = peer_n(1);
  uint64_t n1, n2;
  int user;
  assert_int_equal(dsb_rpc_pending_add(p, &n1, &a, 10, 0, &user, 111, 0), 0);
  assert_int_equal(dsb_rpc_pending_add(p, &n2, &a, 10, 0, &user, 222, 0), 0);
  assert_true(n1 != n2);
  assert_int_equal(dsb_rpc_pending_count(p), 2);
  assert_int_equal(dsb_rpc_pending_count_peer(p, &a), 2);
  assert_int_equal(dsb_rpc_pending_count_session(p, 10), 2);
  assert_true(dsb_rpc_pending_next_deadline(p) == 1000 * MS);

  dsb_rpc_pending_call c;
  assert_int_equal(dsb_rpc_pending_complete(p, &c, 10, n2, 5 * MS), 0);
  assert_true(c.nonce == n2);
  assert_true(c.tag == 222);
  assert_ptr_equal(c.user, &user);
  assert_true(c.session_id == 10);
  assert_memory_equal(c.peer.b, a.b, sizeof(a.b));
  assert_int_equal(dsb_rpc_pending_complete(p, &c, 10, n1, 6 * MS), 0);
  assert_true(c.tag == 111);
  assert_int_equal(dsb_rpc_pending_count(p), 0);
  assert_int_equal(dsb_rpc_pending_count_peer(p, &a), 0);
  assert_true(dsb_rpc_pending_next_deadline(p) == UINT64_MAX);

  dsb_rpc_pending_stats st;
  dsb_rpc_pending_get_stats(p, &st);
  assert_true(st.started == 2 && st.completed == 2 && st.in_flight == 0);
  dsb_rpc_pending_del(p);
}

/* Nonces start where the rng says, count up, and skip 0. */
static void test_nonce_sequence_from_rng(void **state) {
  (void)state;
  uint64_t start = UINT64_MAX - 1;
  dsb_rng rng = {rng_fixed, &start};
  dsb_rpc_pending *p = NULL;
  assert_int_equal(dsb_rpc_pending_new(&p, NULL, NULL, &rng), 0);
  dsb_device_id a = peer_n(1);
  uint64_t n[4];
  for (int i = 0; i < 4; ++i) {
    assert_int_equal(dsb_rpc_pending_add(p, &n[i], &a, 1, 0, NULL, 0, 0), 0);
  }
  assert_true(n[0] == UINT64_MAX - 1);
  assert_true(n[1] == UINT64_MAX);
  assert_true(n[2] == 1);
  assert_true(n[3] == 2);
  dsb_rpc_pending_del(p);
}

/* Two tables seeded differently do not start at the same nonce. */
static void test_nonce_start_is_random(void **state) {
  (void)state;
  dsb_rpc_pending *p1 = mk(4, 4, 4, 1), *p2 = mk(4, 4, 4, 2);
  dsb_device_id a = peer_n(1);
  uint64_t n1, n2;
  assert_int_equal(dsb_rpc_pending_add(p1, &n1, &a, 1, 0, NULL, 0, 0), 0);
  assert_int_equal(dsb_rpc_pending_add(p2, &n2, &a, 1, 0, NULL, 0, 0), 0);
  assert_true(n1 != n2);
  dsb_rpc_pending_del(p1);
  dsb_rpc_pending_del(p2);
}

static void test_reject_too_many_calls_per_session(void **state) {
  (void)state;
  dsb_rpc_pending *p = mk(64, 64, 3, 1);
  dsb_device_id a = peer_n(1);
  uint64_t n;
  for (int i = 0; i < 3; ++i) {
    assert_int_equal(dsb_rpc_pending_add(p, &n, &a, 1, 0, NULL, 0, 0), 0);
  }
  assert_int_equal(dsb_rpc_pending_add(p, &n, &a, 1, 0, NULL, 0, 0),
                   DSB_ERR_PROXY_TOO_MANY_CALLS);
  /* Another session of the same peer has its own budget. */
  assert_int_equal(dsb_rpc_pending_add(p, &n, &a, 2, 0, NULL, 0, 0), 0);
  /* Completing one frees a place. */
  dsb_rpc_pending_call c;
  assert_int_equal(dsb_rpc_pending_expire(p, &c, 1000 * MS), 1);
  dsb_rpc_pending_stats st;
  dsb_rpc_pending_get_stats(p, &st);
  assert_int_equal(st.refused_limit, 1);
  dsb_rpc_pending_del(p);
}

static void test_reject_too_many_calls_per_peer(void **state) {
  (void)state;
  dsb_rpc_pending *p = mk(64, 4, 64, 1);
  dsb_device_id a = peer_n(1), b = peer_n(2);
  uint64_t n;
  for (int i = 0; i < 4; ++i) {
    /* Spread over sessions: the peer cap still applies. */
    assert_int_equal(dsb_rpc_pending_add(p, &n, &a, (uint64_t)i, 0, NULL, 0, 0),
                     0);
  }
  assert_int_equal(dsb_rpc_pending_add(p, &n, &a, 9, 0, NULL, 0, 0),
                   DSB_ERR_PROXY_TOO_MANY_CALLS);
  assert_int_equal(dsb_rpc_pending_add(p, &n, &b, 9, 0, NULL, 0, 0), 0);
  assert_int_equal(dsb_rpc_pending_count_peer(p, &a), 4);
  assert_int_equal(dsb_rpc_pending_count_peer(p, &b), 1);
  dsb_rpc_pending_del(p);
}

static void test_reject_too_many_calls_total(void **state) {
  (void)state;
  dsb_rpc_pending *p = mk(5, 5, 5, 1);
  uint64_t n;
  for (uint8_t i = 0; i < 5; ++i) {
    dsb_device_id d = peer_n(i);
    assert_int_equal(dsb_rpc_pending_add(p, &n, &d, i, 0, NULL, 0, 0), 0);
  }
  dsb_device_id d = peer_n(99);
  assert_int_equal(dsb_rpc_pending_add(p, &n, &d, 99, 0, NULL, 0, 0),
                   DSB_ERR_PROXY_TOO_MANY_CALLS);
  dsb_rpc_pending_del(p);
}

static void test_reject_reply_unknown_nonce(void **state) {
  (void)state;
  dsb_rpc_pending *p = mk(8, 8, 8, 3);
  dsb_device_id a = peer_n(1);
  uint64_t n;
  assert_int_equal(dsb_rpc_pending_add(p, &n, &a, 1, 0, NULL, 0, 0), 0);
  dsb_rpc_pending_call c;
  memset(&c, 0xAA, sizeof(c));
  assert_int_equal(dsb_rpc_pending_complete(p, &c, 1, n + 1, 0),
                   DSB_ERR_PROXY_STALE_REPLY);
  assert_int_equal(dsb_rpc_pending_complete(p, &c, 1, 0, 0),
                   DSB_ERR_PROXY_STALE_REPLY);
  /* Nothing was delivered and the real call is still pending. */
  assert_true(c.tag == UINT64_C(0xAAAAAAAAAAAAAAAA));
  assert_int_equal(dsb_rpc_pending_count(p), 1);
  dsb_rpc_pending_stats st;
  dsb_rpc_pending_get_stats(p, &st);
  assert_int_equal(st.replies_stale, 2);
  assert_int_equal(st.completed, 0);
  dsb_rpc_pending_del(p);
}

/* A peer cannot answer a call that went to another session. */
static void test_reject_reply_from_other_session(void **state) {
  (void)state;
  dsb_rpc_pending *p = mk(8, 8, 8, 3);
  dsb_device_id a = peer_n(1);
  uint64_t n;
  dsb_rpc_pending_call c;
  assert_int_equal(dsb_rpc_pending_add(p, &n, &a, 1, 0, NULL, 0, 0), 0);
  assert_int_equal(dsb_rpc_pending_complete(p, &c, 2, n, 0),
                   DSB_ERR_PROXY_STALE_REPLY);
  assert_int_equal(dsb_rpc_pending_complete(p, &c, 1, n, 0), 0);
  dsb_rpc_pending_del(p);
}

static void test_reject_duplicate_reply(void **state) {
  (void)state;
  dsb_rpc_pending *p = mk(8, 8, 8, 3);
  dsb_device_id a = peer_n(1);
  uint64_t n;
  dsb_rpc_pending_call c;
  assert_int_equal(dsb_rpc_pending_add(p, &n, &a, 1, 0, NULL, 0, 0), 0);
  assert_int_equal(dsb_rpc_pending_complete(p, &c, 1, n, 0), 0);
  assert_int_equal(dsb_rpc_pending_complete(p, &c, 1, n, 0),
                   DSB_ERR_PROXY_STALE_REPLY);
  dsb_rpc_pending_del(p);
}

static void test_reject_reply_after_timeout(void **state) {
  (void)state;
  dsb_rpc_pending *p = mk(8, 8, 8, 3);
  dsb_device_id a = peer_n(1);
  uint64_t n;
  dsb_rpc_pending_call c;
  assert_int_equal(dsb_rpc_pending_add(p, &n, &a, 1, 50 * MS, NULL, 42, 0), 0);
  assert_int_equal(dsb_rpc_pending_expire(p, &c, 49 * MS), 0);
  assert_int_equal(dsb_rpc_pending_expire(p, &c, 50 * MS), 1);
  assert_true(c.nonce == n && c.tag == 42);
  assert_int_equal(dsb_rpc_pending_complete(p, &c, 1, n, 60 * MS),
                   DSB_ERR_PROXY_LATE_REPLY);
  dsb_rpc_pending_stats st;
  dsb_rpc_pending_get_stats(p, &st);
  assert_int_equal(st.timed_out, 1);
  assert_int_equal(st.replies_late, 1);
  assert_int_equal(st.completed, 0);
  dsb_rpc_pending_del(p);
}

/* A reply racing the timer: deadline passed, sweep not yet run. */
static void test_reject_reply_past_deadline_before_sweep(void **state) {
  (void)state;
  dsb_rpc_pending *p = mk(8, 8, 8, 3);
  dsb_device_id a = peer_n(1);
  uint64_t n;
  dsb_rpc_pending_call c;
  assert_int_equal(dsb_rpc_pending_add(p, &n, &a, 1, 50 * MS, NULL, 42, 0), 0);
  assert_int_equal(dsb_rpc_pending_complete(p, &c, 1, n, 50 * MS),
                   DSB_ERR_PROXY_LATE_REPLY);
  /* The caller hears exactly one outcome: the timeout. */
  assert_int_equal(dsb_rpc_pending_expire(p, &c, 50 * MS), 1);
  assert_true(c.tag == 42);
  assert_int_equal(dsb_rpc_pending_expire(p, &c, 50 * MS), 0);
  dsb_rpc_pending_del(p);
}

/* The late ring is bounded: past its size, late replies count as stale. */
static void test_late_ring_bounded(void **state) {
  (void)state;
  static uint64_t s = 5;
  dsb_rpc_pending_settings st;
  dsb_rpc_pending_settings_default(&st);
  st.late_window = 2;
  dsb_rng rng = {rng_prng, &s};
  dsb_rpc_pending *p = NULL;
  assert_int_equal(dsb_rpc_pending_new(&p, NULL, &st, &rng), 0);
  dsb_device_id a = peer_n(1);
  uint64_t n[3];
  dsb_rpc_pending_call c;
  for (int i = 0; i < 3; ++i) {
    assert_int_equal(dsb_rpc_pending_add(p, &n[i], &a, 1,
                                         (uint64_t)(i + 1) * MS, NULL, 0, 0),
                     0);
  }
  while (dsb_rpc_pending_expire(p, &c, 10 * MS)) {
  }
  assert_int_equal(dsb_rpc_pending_complete(p, &c, 1, n[0], 10 * MS),
                   DSB_ERR_PROXY_STALE_REPLY);
  assert_int_equal(dsb_rpc_pending_complete(p, &c, 1, n[1], 10 * MS),
                   DSB_ERR_PROXY_LATE_REPLY);
  assert_int_equal(dsb_rpc_pending_complete(p, &c, 1, n[2], 10 * MS),
                   DSB_ERR_PROXY_LATE_REPLY);
  dsb_rpc_pending_del(p);
}

static void test_expire_in_deadline_order(void **state) {
  (void)state;
  dsb_rpc_pending *p = mk(64, 64, 64, 9);
  dsb_device_id a = peer_n(1);
  const uint64_t timeouts[] = {30, 10, 50, 20, 40, 10, 60};
  uint64_t n;
  for (size_t i = 0; i < sizeof(timeouts) / sizeof(timeouts[0]); ++i) {
    assert_int_equal(dsb_rpc_pending_add(p, &n, &a, 1, timeouts[i] * MS, NULL,
                                         timeouts[i], 0),
                     0);
  }
  assert_true(dsb_rpc_pending_next_deadline(p) == 10 * MS);
  dsb_rpc_pending_call c;
  uint64_t last = 0;
  size_t count = 0;
  while (dsb_rpc_pending_expire(p, &c, 45 * MS)) {
    assert_true(c.deadline >= last);
    assert_true(c.tag * MS == c.deadline);
    last = c.deadline;
    count++;
  }
  assert_int_equal(count, 5);
  assert_true(dsb_rpc_pending_next_deadline(p) == 50 * MS);
  dsb_rpc_pending_del(p);
}

static void test_take_session_user_cancel(void **state) {
  (void)state;
  dsb_rpc_pending *p = mk(64, 64, 64, 11);
  dsb_device_id a = peer_n(1), b = peer_n(2);
  int u1, u2;
  uint64_t n, keep;
  for (int i = 0; i < 3; ++i) {
    assert_int_equal(dsb_rpc_pending_add(p, &n, &a, 1, 0, &u1, 0, 0), 0);
    assert_int_equal(dsb_rpc_pending_add(p, &n, &b, 2, 0, &u2, 0, 0), 0);
  }
  assert_int_equal(dsb_rpc_pending_add(p, &keep, &b, 2, 0, &u1, 0, 0), 0);
  dsb_rpc_pending_call c;
  size_t k = 0;
  while (dsb_rpc_pending_take_session(p, &c, 1)) {
    assert_true(c.session_id == 1);
    k++;
  }
  assert_int_equal(k, 3);
  k = 0;
  while (dsb_rpc_pending_take_user(p, &c, &u2)) {
    assert_ptr_equal(c.user, &u2);
    k++;
  }
  assert_int_equal(k, 3);
  assert_int_equal(dsb_rpc_pending_count(p), 1);
  assert_int_equal(dsb_rpc_pending_cancel(p, &c, keep), 0);
  assert_int_equal(dsb_rpc_pending_cancel(p, &c, keep), DSB_ERR_NOT_FOUND);
  assert_int_equal(dsb_rpc_pending_count(p), 0);
  /* A cancelled call's reply is stale. */
  assert_int_equal(dsb_rpc_pending_complete(p, &c, 2, keep, 0),
                   DSB_ERR_PROXY_STALE_REPLY);
  dsb_rpc_pending_del(p);
}

/* The callee's forward table: only the application the call went to may
 * answer it, before its deadline. */
static void test_reject_reply_from_other_app(void **state) {
  (void)state;
  dsb_rpc_pending *p = mk(8, 8, 8, 3);
  dsb_device_id a = peer_n(1);
  int app1, app2;
  uint64_t n, late;
  dsb_rpc_pending_call c;
  assert_int_equal(dsb_rpc_pending_add(p, &n, &a, 1, 0, &app1, 900, 0), 0);
  assert_int_equal(dsb_rpc_pending_complete_user(p, &c, &app2, n, 1),
                   DSB_ERR_PROXY_STALE_REPLY);
  assert_int_equal(dsb_rpc_pending_complete_user(p, &c, NULL, n, 1),
                   DSB_ERR_INVALID_ARGUMENT);
  assert_int_equal(dsb_rpc_pending_complete_user(p, &c, &app1, n, 2), 0);
  assert_true(c.tag == 900 && c.session_id == 1);
  assert_int_equal(dsb_rpc_pending_complete_user(p, &c, &app1, n, 3),
                   DSB_ERR_PROXY_STALE_REPLY);
  /* After a timeout, the same application's answer is late; another's is
   * stale. */
  assert_int_equal(dsb_rpc_pending_add(p, &late, &a, 1, 10 * MS, &app1, 0, 3),
                   0);
  assert_int_equal(dsb_rpc_pending_expire(p, &c, 20 * MS), 1);
  assert_int_equal(dsb_rpc_pending_complete_user(p, &c, &app1, late, 21 * MS),
                   DSB_ERR_PROXY_LATE_REPLY);
  assert_int_equal(dsb_rpc_pending_complete_user(p, &c, &app2, late, 21 * MS),
                   DSB_ERR_PROXY_STALE_REPLY);
  dsb_rpc_pending_del(p);
}

static void test_reject_invalid_settings(void **state) {
  (void)state;
  dsb_rpc_pending *p = NULL;
  dsb_rpc_pending_settings st;
  dsb_rpc_pending_settings_default(&st);
  st.max_calls = 0;
  assert_int_equal(dsb_rpc_pending_new(&p, NULL, &st, NULL),
                   DSB_ERR_INVALID_ARGUMENT);
  dsb_rpc_pending_settings_default(&st);
  st.max_calls = DSB_RPC_PENDING_MAX_CALLS_CAP + 1;
  assert_int_equal(dsb_rpc_pending_new(&p, NULL, &st, NULL),
                   DSB_ERR_INVALID_ARGUMENT);
  dsb_rpc_pending_settings_default(&st);
  st.default_timeout = 0;
  assert_int_equal(dsb_rpc_pending_new(&p, NULL, &st, NULL),
                   DSB_ERR_INVALID_ARGUMENT);
  dsb_rpc_pending_settings_default(&st);
  st.late_window = 5000;
  assert_int_equal(dsb_rpc_pending_new(&p, NULL, &st, NULL),
                   DSB_ERR_INVALID_ARGUMENT);
  assert_null(p);
  dsb_rng bad = {rng_fail, NULL};
  assert_int_equal(dsb_rpc_pending_new(&p, NULL, NULL, &bad),
                   DSB_ERR_CRYPTO_RNG);
  assert_null(p);
  /* The CSPRNG default works. */
  assert_int_equal(dsb_rpc_pending_new(&p, NULL, NULL, NULL), 0);
  dsb_rpc_pending_del(p);
  dsb_rpc_pending_del(NULL);
}

/* ---- failing allocator ---------------------------------------------------
 */

typedef struct failmem {
  int fail_at; /* fail the fail_at-th allocation (0-based); -1: never */
  int count;
  int live;
} failmem;

static void *fm_malloc(size_t size, void *ctx) {
  failmem *f = ctx;
  if (f->count++ == f->fail_at) {
    return NULL;
  }
  f->live++;
  return malloc(size);
}

static void *fm_calloc(size_t n, size_t size, void *ctx) {
  failmem *f = ctx;
  if (f->count++ == f->fail_at) {
    return NULL;
  }
  f->live++;
  return calloc(n, size);
}

static void *fm_realloc(void *ptr, size_t size, void *ctx) {
  failmem *f = ctx;
  if (f->count++ == f->fail_at) {
    return NULL;
  }
  if (!ptr) {
    f->live++;
  }
  return realloc(ptr, size);
}

static void fm_free(void *ptr, void *ctx) {
  failmem *f = ctx;
  if (ptr) {
    f->live--;
  }
  free(ptr);
}

static void test_failing_allocator(void **state) {
  (void)state;
  int succeeded = 0;
  for (int i = 0; i < 32 && !succeeded; ++i) {
    failmem f = {i, 0, 0};
    dsb_mem mem = {fm_malloc, fm_free, fm_calloc, fm_realloc, &f};
    static uint64_t s = 1;
    dsb_rng rng = {rng_prng, &s};
    dsb_rpc_pending *p = NULL;
    int rv = dsb_rpc_pending_new(&p, &mem, NULL, &rng);
    if (rv == 0) {
      dsb_device_id a = peer_n(1);
      uint64_t n;
      dsb_rpc_pending_call c;
      assert_int_equal(dsb_rpc_pending_add(p, &n, &a, 1, 0, NULL, 0, 0), 0);
      assert_int_equal(dsb_rpc_pending_complete(p, &c, 1, n, 0), 0);
      dsb_rpc_pending_del(p);
      succeeded = 1;
    } else {
      assert_int_equal(rv, DSB_ERR_NOMEM);
      assert_null(p);
    }
    assert_int_equal(f.live, 0);
  }
  assert_true(succeeded);
}

/* ---- 1000 calls, replies in random order ----------------------------------
 */

#define NCALLS 1000
#define MAXPAYLOAD 512

typedef struct sent {
  uint8_t payload[MAXPAYLOAD];
  size_t len;
  int answered;
} sent;

/*
 * The caller registers 1000 calls with random payloads over 4 sessions
 * (peers), encodes them; the callee decodes and dispatches each to echo
 * under the default policy; the replies come back in a random order mixed
 * with duplicates and forged nonces. Every call is answered exactly once,
 * with its own payload; everything else is dropped and counted.
 */
static void test_thousand_calls_random_order(void **state) {
  (void)state;
  uint64_t seed = UINT64_C(0x5eed0001);
  static sent calls[NCALLS];
  static uint8_t frames[NCALLS][MAXPAYLOAD + 64];
  static size_t framelen[NCALLS];
  static uint8_t replies[NCALLS + 200][MAXPAYLOAD + 32];
  static size_t replylen[NCALLS + 200];
  static uint64_t sessions[NCALLS + 200];
  size_t order[NCALLS + 200];
  memset(calls, 0, sizeof(calls));

  dsb_rpc_pending *p = mk(4096, 1024, 1024, seed);
  dsb_services *svc = NULL;
  dsb_policy *pol = NULL;
  assert_int_equal(dsb_services_new(&svc, NULL), 0);
  assert_int_equal(dsb_policy_new_default(&pol, NULL), 0);

  for (size_t i = 0; i < NCALLS; ++i) {
    calls[i].len = (size_t)(prng_next(&seed) % (MAXPAYLOAD + 1));
    for (size_t j = 0; j < calls[i].len; ++j) {
      calls[i].payload[j] = (uint8_t)prng_next(&seed);
    }
    uint8_t s = (uint8_t)(i % 4);
    dsb_device_id peer = peer_n(s);
    uint64_t nonce;
    assert_int_equal(dsb_rpc_pending_add(p, &nonce, &peer, s, 0, &calls[i], i,
                                         (dsb_tstamp)i),
                     0);
    dsb_rpc_call c = {"echo",       4,    "echo", 4, calls[i].payload,
                      calls[i].len, nonce};
    long n = dsb_rpc_call_encode(frames[i], sizeof(frames[i]), &c, NULL);
    assert_true(n > 0);
    framelen[i] = (size_t)n;
  }
  assert_int_equal(dsb_rpc_pending_count(p), NCALLS);
  assert_int_equal(dsb_rpc_pending_count_session(p, 0), NCALLS / 4);

  /* Callee side. */
  for (size_t i = 0; i < NCALLS; ++i) {
    dsb_rpc_msg m;
    dsb_services_result res;
    assert_int_equal(dsb_rpc_decode(&m, frames[i], framelen[i], NULL), 0);
    assert_int_equal(
        dsb_services_dispatch(svc, &res, replies[i], sizeof(replies[i]), pol,
                              "00112233445566778899aabbccddeeff",
                              DSB_POLICY_PEER_TRUSTED, &m.call, NULL),
        0);
    assert_int_equal(res.action, DSB_SERVICES_REPLY);
    assert_int_equal(res.status, DSB_RPC_OK);
    replylen[i] = res.replylen;
    sessions[i] = i % 4;
  }
  /* 100 duplicates of real replies and 100 forged nonces. */
  for (size_t k = 0; k < 200; ++k) {
    size_t i = NCALLS + k;
    size_t src = (size_t)(prng_next(&seed) % NCALLS);
    memcpy(replies[i], replies[src], replylen[src]);
    replylen[i] = replylen[src];
    sessions[i] = sessions[src];
    if (k >= 100) {
      dsb_wire_put_u64be(replies[i] + replylen[i] - 8, prng_next(&seed));
    }
  }
  for (size_t i = 0; i < NCALLS + 200; ++i) {
    order[i] = i;
  }
  for (size_t i = NCALLS + 200 - 1; i > 0; --i) {
    size_t j = (size_t)(prng_next(&seed) % (i + 1));
    size_t t = order[i];
    order[i] = order[j];
    order[j] = t;
  }

  /* Caller side: deliver in random order. */
  size_t delivered = 0, dropped = 0;
  for (size_t k = 0; k < NCALLS + 200; ++k) {
    size_t i = order[k];
    dsb_rpc_msg m;
    dsb_rpc_pending_call c;
    assert_int_equal(dsb_rpc_decode(&m, replies[i], replylen[i], NULL), 0);
    int rv =
        dsb_rpc_pending_complete(p, &c, sessions[i], m.reply.nonce, NCALLS + k);
    if (rv != 0) {
      assert_int_equal(rv, DSB_ERR_PROXY_STALE_REPLY);
      dropped++;
      continue;
    }
    sent *s = c.user;
    assert_ptr_equal(s, &calls[c.tag]);
    assert_int_equal(s->answered, 0);
    s->answered = 1;
    assert_int_equal(m.reply.payloadlen, s->len);
    if (s->len) {
      assert_memory_equal(m.reply.payload, s->payload, s->len);
    }
    delivered++;
  }
  assert_int_equal(delivered, NCALLS);
  assert_int_equal(dropped, 200);
  for (size_t i = 0; i < NCALLS; ++i) {
    assert_int_equal(calls[i].answered, 1);
  }
  dsb_rpc_pending_stats st;
  dsb_rpc_pending_get_stats(p, &st);
  assert_true(st.completed == NCALLS);
  assert_true(st.replies_stale == 200);
  assert_int_equal(st.in_flight, 0);

  dsb_policy_del(pol);
  dsb_services_del(svc);
  dsb_rpc_pending_del(p);
}

/* Many adds and removes keep the index consistent (backward-shift delete). */
static void test_churn_consistency(void **state) {
  (void)state;
  uint64_t seed = 77;
  dsb_rpc_pending *p = mk(256, 256, 256, seed);
  uint64_t live[256];
  size_t nlive = 0;
  dsb_device_id a = peer_n(3);
  dsb_rpc_pending_call c;
  for (int step = 0; step < 20000; ++step) {
    int add = nlive == 0 || (nlive < 256 && (prng_next(&seed) & 1));
    if (add) {
      uint64_t n;
      assert_int_equal(
          dsb_rpc_pending_add(p, &n, &a, prng_next(&seed) % 8, 0, NULL, 0, 0),
          0);
      live[nlive++] = n;
    } else {
      size_t i = (size_t)(prng_next(&seed) % nlive);
      assert_int_equal(dsb_rpc_pending_cancel(p, &c, live[i]), 0);
      assert_true(c.nonce == live[i]);
      live[i] = live[--nlive];
    }
    assert_int_equal(dsb_rpc_pending_count(p), nlive);
  }
  for (size_t i = 0; i < nlive; ++i) {
    assert_int_equal(dsb_rpc_pending_cancel(p, &c, live[i]), 0);
  }
  assert_int_equal(dsb_rpc_pending_count_peer(p, &a), 0);
  dsb_rpc_pending_del(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_add_complete),
      cmocka_unit_test(test_nonce_sequence_from_rng),
      cmocka_unit_test(test_nonce_start_is_random),
      cmocka_unit_test(test_reject_too_many_calls_per_session),
      cmocka_unit_test(test_reject_too_many_calls_per_peer),
      cmocka_unit_test(test_reject_too_many_calls_total),
      cmocka_unit_test(test_reject_reply_unknown_nonce),
      cmocka_unit_test(test_reject_reply_from_other_session),
      cmocka_unit_test(test_reject_duplicate_reply),
      cmocka_unit_test(test_reject_reply_after_timeout),
      cmocka_unit_test(test_reject_reply_past_deadline_before_sweep),
      cmocka_unit_test(test_late_ring_bounded),
      cmocka_unit_test(test_expire_in_deadline_order),
      cmocka_unit_test(test_take_session_user_cancel),
      cmocka_unit_test(test_reject_reply_from_other_app),
      cmocka_unit_test(test_reject_invalid_settings),
      cmocka_unit_test(test_failing_allocator),
      cmocka_unit_test(test_thousand_calls_random_order),
      cmocka_unit_test(test_churn_consistency),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
