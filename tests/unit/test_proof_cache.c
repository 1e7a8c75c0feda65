/*
 * test_proof_cache.c - the verified-proof LRU: hits skip the verify, only
 * the identical triple hits, failures are never cached, eviction order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dsb/err.h"
#include "dsb/identity.h"
#include "dsb/proof_cache.h"

static int counter_rng(void *ctx, uint8_t *buf, size_t len) {
  uint32_t *c = ctx;
  for (size_t i = 0; i < len; ++i) {
    buf[i] = (uint8_t)(*c >> ((i % 4) * 8)) ^ (uint8_t)(i * 37);
    if (i % 4 == 3) {
      (*c)++;
    }
  }
  (*c)++;
  return 0;
}

/* Deterministic identity number |n|. */
static dsb_identity_proof make_proof(uint32_t n, dsb_device_id *id) {
  uint32_t ctr = n * 1000u + 1u;
  dsb_rng rng = {counter_rng, &ctr};
  dsb_identity ident;
  dsb_identity_proof p;

  assert_int_equal(dsb_identity_generate(&ident, &rng), 0);
  p = ident.proof;
  if (id) {
    *id = ident.id;
  }
  dsb_identity_wipe(&ident);
  return p;
}

static dsb_proof_cache *new_cache(size_t cap) {
  dsb_proof_cache *c = NULL;
  assert_int_equal(dsb_proof_cache_new(&c, NULL, cap), 0);
  assert_non_null(c);
  return c;
}

static dsb_proof_cache_stats stats_of(const dsb_proof_cache *c) {
  dsb_proof_cache_stats s;
  dsb_proof_cache_get_stats(c, &s);
  return s;
}

static void test_hit_skips_verify(void **state) {
  (void)state;
  dsb_proof_cache *c = new_cache(0);
  dsb_device_id want, id;
  dsb_identity_proof p = make_proof(1, &want);

  assert_int_equal(dsb_proof_cache_capacity(c),
                   DSB_PROOF_CACHE_DEFAULT_CAPACITY);
  assert_int_equal(dsb_proof_cache_verify(c, &p, &id), 0);
  assert_true(dsb_device_id_eq(&id, &want));
  assert_int_equal(stats_of(c).verifies, 1);
  assert_int_equal(stats_of(c).misses, 1);
  assert_int_equal(dsb_proof_cache_count(c), 1);

  for (int i = 0; i < 5; ++i) {
    memset(&id, 0, sizeof(id));
    assert_int_equal(dsb_proof_cache_verify(c, &p, &id), 0);
    assert_true(dsb_device_id_eq(&id, &want));
  }
  /* Still exactly one Ed25519 verify. */
  assert_int_equal(stats_of(c).verifies, 1);
  assert_int_equal(stats_of(c).hits, 5);
  assert_int_equal(dsb_proof_cache_count(c), 1);
  dsb_proof_cache_del(c);
}

static void test_reject_tampered_proof_despite_cache(void **state) {
  (void)state;
  dsb_proof_cache *c = new_cache(4);
  dsb_device_id id;
  dsb_identity_proof good = make_proof(2, NULL);

  assert_int_equal(dsb_proof_cache_verify(c, &good, &id), 0);
  /* Every single-bit change of the cached triple is a miss and a full
   * verify, which fails. */
  for (size_t byte = 0; byte < sizeof(good); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      dsb_identity_proof bad = good;
      ((uint8_t *)&bad)[byte] ^= (uint8_t)(1u << bit);
      assert_int_equal(dsb_proof_cache_lookup(c, &bad, &id), DSB_ERR_NOT_FOUND);
      assert_int_equal(dsb_proof_cache_verify(c, &bad, &id),
                       DSB_ERR_IDENTITY_BAD_CERT);
    }
  }
  assert_int_equal(stats_of(c).verifies, 1 + sizeof(good) * 8);
  assert_int_equal(stats_of(c).rejects, sizeof(good) * 8);
  assert_int_equal(stats_of(c).hits, 0);
  assert_int_equal(dsb_proof_cache_count(c), 1); /* failures not cached */
  dsb_proof_cache_del(c);
}

static void test_reject_mixed_triple(void **state) {
  (void)state;
  dsb_proof_cache *c = new_cache(4);
  dsb_device_id id;
  dsb_identity_proof a = make_proof(3, NULL), b = make_proof(4, NULL);
  dsb_identity_proof mix;

  assert_int_equal(dsb_proof_cache_verify(c, &a, &id), 0);
  assert_int_equal(dsb_proof_cache_verify(c, &b, &id), 0);
  /* Both parts cached separately, but not this combination. */
  mix = a;
  memcpy(mix.static_pk, b.static_pk, sizeof(mix.static_pk));
  assert_int_equal(dsb_proof_cache_verify(c, &mix, &id),
                   DSB_ERR_IDENTITY_BAD_CERT);
  mix = a;
  memcpy(mix.cert, b.cert, sizeof(mix.cert));
  assert_int_equal(dsb_proof_cache_verify(c, &mix, &id),
                   DSB_ERR_IDENTITY_BAD_CERT);
  assert_int_equal(dsb_proof_cache_count(c), 2);
  dsb_proof_cache_del(c);
}

static void test_failures_are_not_cached(void **state) {
  (void)state;
  dsb_proof_cache *c = new_cache(4);
  dsb_device_id id;
  dsb_identity_proof bad = make_proof(5, NULL);

  bad.cert[0] ^= 1;
  for (int i = 0; i < 3; ++i) {
    assert_int_equal(dsb_proof_cache_verify(c, &bad, &id),
                     DSB_ERR_IDENTITY_BAD_CERT);
  }
  assert_int_equal(stats_of(c).verifies, 3);
  assert_int_equal(dsb_proof_cache_count(c), 0);
  dsb_proof_cache_del(c);
}

static void test_lru_eviction_order(void **state) {
  (void)state;
  dsb_proof_cache *c = new_cache(3);
  dsb_identity_proof p[6];
  dsb_device_id ids[6], id;

  for (uint32_t i = 0; i < 6; ++i) {
    p[i] = make_proof(10 + i, &ids[i]);
  }
  /* 0, 1, 2 in; touching 0 leaves 1 as least recently used. */
  for (int i = 0; i < 3; ++i) {
    assert_int_equal(dsb_proof_cache_verify(c, &p[i], &id), 0);
  }
  assert_int_equal(dsb_proof_cache_lookup(c, &p[0], &id), 0);
  assert_true(dsb_device_id_eq(&id, &ids[0]));
  assert_int_equal(dsb_proof_cache_verify(c, &p[3], &id), 0);
  assert_int_equal(stats_of(c).evictions, 1);
  assert_int_equal(dsb_proof_cache_lookup(c, &p[1], &id), DSB_ERR_NOT_FOUND);
  /* Order now (most recent first): 3, 0, 2. Insert 4 evicts 2. */
  assert_int_equal(dsb_proof_cache_verify(c, &p[4], &id), 0);
  assert_int_equal(dsb_proof_cache_lookup(c, &p[2], &id), DSB_ERR_NOT_FOUND);
  /* 4, 3, 0: touch 0 then 3, insert 5 evicts 4. */
  assert_int_equal(dsb_proof_cache_lookup(c, &p[0], &id), 0);
  assert_int_equal(dsb_proof_cache_lookup(c, &p[3], &id), 0);
  assert_int_equal(dsb_proof_cache_verify(c, &p[5], &id), 0);
  assert_int_equal(dsb_proof_cache_lookup(c, &p[4], &id), DSB_ERR_NOT_FOUND);
  for (int i = 0; i < 6; ++i) {
    int want = (i == 0 || i == 3 || i == 5) ? 0 : DSB_ERR_NOT_FOUND;
    assert_int_equal(dsb_proof_cache_lookup(c, &p[i], &id), want);
    if (want == 0) {
      assert_true(dsb_device_id_eq(&id, &ids[i]));
    }
  }
  assert_int_equal(dsb_proof_cache_count(c), 3);
  assert_int_equal(stats_of(c).evictions, 3);
  /* An evicted proof is verified again, not refused. */
  assert_int_equal(dsb_proof_cache_verify(c, &p[1], &id), 0);
  assert_true(dsb_device_id_eq(&id, &ids[1]));
  assert_int_equal(stats_of(c).verifies, 7);
  dsb_proof_cache_del(c);
}

static void test_capacity_one(void **state) {
  (void)state;
  dsb_proof_cache *c = new_cache(1);
  dsb_identity_proof a = make_proof(20, NULL), b = make_proof(21, NULL);
  dsb_device_id id;

  for (int round = 0; round < 3; ++round) {
    assert_int_equal(dsb_proof_cache_verify(c, &a, &id), 0);
    assert_int_equal(dsb_proof_cache_verify(c, &b, &id), 0);
  }
  assert_int_equal(dsb_proof_cache_count(c), 1);
  assert_int_equal(stats_of(c).verifies, 6);
  assert_int_equal(dsb_proof_cache_lookup(c, &b, &id), 0);
  dsb_proof_cache_del(c);
}

static void test_many_entries_keep_the_most_recent(void **state) {
  (void)state;
  enum { CAP = 64, N = 200 };
  dsb_proof_cache *c = new_cache(CAP);
  dsb_identity_proof *p = calloc(N, sizeof(*p));
  dsb_device_id *ids = calloc(N, sizeof(*ids));
  dsb_device_id id;

  assert_non_null(p);
  assert_non_null(ids);
  for (uint32_t i = 0; i < N; ++i) {
    p[i] = make_proof(100 + i, &ids[i]);
    assert_int_equal(dsb_proof_cache_verify(c, &p[i], &id), 0);
  }
  assert_int_equal(dsb_proof_cache_count(c), CAP);
  assert_int_equal(stats_of(c).evictions, N - CAP);
  for (uint32_t i = 0; i < N; ++i) {
    int rv = dsb_proof_cache_lookup(c, &p[i], &id);
    assert_int_equal(rv, i >= N - CAP ? 0 : DSB_ERR_NOT_FOUND);
    if (rv == 0) {
      assert_true(dsb_device_id_eq(&id, &ids[i]));
    }
  }
  free(p);
  free(ids);
  dsb_proof_cache_del(c);
}

static void test_clear(void **state) {
  (void)state;
  dsb_proof_cache *c = new_cache(4);
  dsb_identity_proof a = make_proof(30, NULL);
  dsb_device_id id;

  assert_int_equal(dsb_proof_cache_verify(c, &a, &id), 0);
  dsb_proof_cache_clear(c);
  assert_int_equal(dsb_proof_cache_count(c), 0);
  assert_int_equal(dsb_proof_cache_lookup(c, &a, &id), DSB_ERR_NOT_FOUND);
  assert_int_equal(dsb_proof_cache_verify(c, &a, &id), 0);
  assert_int_equal(stats_of(c).verifies, 2);
  dsb_proof_cache_del(c);
}

static void test_null_cache_just_verifies(void **state) {
  (void)state;
  dsb_device_id want, id;
  dsb_identity_proof a = make_proof(40, &want);

  assert_int_equal(dsb_proof_cache_verify(NULL, &a, &id), 0);
  assert_true(dsb_device_id_eq(&id, &want));
  a.static_pk[3] ^= 0x80;
  assert_int_equal(dsb_proof_cache_verify(NULL, &a, &id),
                   DSB_ERR_IDENTITY_BAD_CERT);
  dsb_proof_cache_del(NULL);
}

static void test_reject_bad_arguments(void **state) {
  (void)state;
  dsb_proof_cache *c = NULL;
  dsb_identity_proof a = make_proof(50, NULL);
  dsb_device_id id;

  assert_int_equal(
      dsb_proof_cache_new(&c, NULL, DSB_PROOF_CACHE_MAX_CAPACITY + 1),
      DSB_ERR_INVALID_ARGUMENT);
  assert_null(c);
  assert_int_equal(dsb_proof_cache_new(NULL, NULL, 1),
                   DSB_ERR_INVALID_ARGUMENT);
  c = new_cache(2);
  assert_int_equal(dsb_proof_cache_verify(c, NULL, &id),
                   DSB_ERR_INVALID_ARGUMENT);
  assert_int_equal(dsb_proof_cache_verify(c, &a, NULL),
                   DSB_ERR_INVALID_ARGUMENT);
  assert_int_equal(dsb_proof_cache_lookup(NULL, &a, &id),
                   DSB_ERR_INVALID_ARGUMENT);
  dsb_proof_cache_del(c);
}

/* The i-th allocation fails, for every i: creation fails cleanly. */
typedef struct failmem {
  int countdown;
  int calls;
} failmem;

static int fm_fail(failmem *f) {
  f->calls++;
  return f->countdown >= 0 && f->countdown-- == 0;
}
static void *fm_malloc(size_t size, void *ctx) {
  return fm_fail(ctx) ? NULL : malloc(size);
}
static void fm_free(void *p, void *ctx) {
  (void)ctx;
  free(p);
}
static void *fm_calloc(size_t n, size_t size, void *ctx) {
  return fm_fail(ctx) ? NULL : calloc(n, size);
}
static void *fm_realloc(void *p, size_t size, void *ctx) {
  return fm_fail(ctx) ? NULL : realloc(p, size);
}

static void test_failing_allocator(void **state) {
  (void)state;
  failmem f = {-1, 0};
  dsb_mem mem = {fm_malloc, fm_free, fm_calloc, fm_realloc, &f};
  dsb_proof_cache *c = NULL;
  dsb_identity_proof a = make_proof(60, NULL);
  dsb_device_id id;
  int total;

  assert_int_equal(dsb_proof_cache_new(&c, &mem, 8), 0);
  total = f.calls;
  /* Verify and lookup never allocate. */
  assert_int_equal(dsb_proof_cache_verify(c, &a, &id), 0);
  assert_int_equal(dsb_proof_cache_verify(c, &a, &id), 0);
  assert_int_equal(f.calls, total);
  dsb_proof_cache_del(c);
  for (int i = 0; i < total; ++i) {
    c = NULL;
    f.countdown = i;
    assert_int_equal(dsb_proof_cache_new(&c, &mem, 8), DSB_ERR_NOMEM);
    assert_null(c);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hit_skips_verify),
      cmocka_unit_test(test_reject_tampered_proof_despite_cache),
      cmocka_unit_test(test_reject_mixed_triple),
      cmocka_unit_test(test_failures_are_not_cached),
      cmocka_unit_test(test_lru_eviction_order),
      cmocka_unit_test(test_capacity_one),
      cmocka_unit_test(test_many_entries_keep_the_most_recent),
      cmocka_unit_test(test_clear),
      cmocka_unit_test(test_null_cache_just_verifies),
      cmocka_unit_test(test_reject_bad_arguments),
      cmocka_unit_test(test_failing_allocator),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
