/*
 * test_session.c - the session core: XK handshake with identity binding,
 * the record layer over an in-memory pipe, rekey, limits, and every reject
 * path (test_reject_*). Time is driven through ts; randomness is seeded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/session_internal.h"
#include "dsb/crypto.h"
#include "dsb/err.h"
#include "dsb/identity.h"
#include "dsb/noise.h"
#include "dsb/proof_cache.h"
#include "dsb/session.h"
#include "dsb/trust.h"
#include "dsb/wire.h"

#include "session_test_util.h"

typedef struct fixture {
  dsb_identity a; /* initiator device */
  dsb_identity b; /* responder device */
  dsb_identity c; /* a third device */
  stu_pair p;
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof(*f));

  assert_non_null(f);
  assert_int_equal(stu_identity(&f->a, 0xA), 0);
  assert_int_equal(stu_identity(&f->b, 0xB), 0);
  assert_int_equal(stu_identity(&f->c, 0xC), 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;

  stu_pair_free(&f->p);
  dsb_identity_wipe(&f->a);
  dsb_identity_wipe(&f->b);
  dsb_identity_wipe(&f->c);
  free(f);
  return 0;
}

static void fill_pattern(uint8_t *buf, size_t len, uint32_t seed) {
  size_t i;
  for (i = 0; i < len; ++i) {
    buf[i] = (uint8_t)((i * 131u + seed * 7u) ^ (i >> 8));
  }
}

/* ---- handshake ------------------------------------------------------------
 */

static void test_handshake_establishes(void **state) {
  fixture *f = *state;
  uint8_t hi[32], hr[32];
  dsb_device_id id;
  dsb_identity_proof proof;

  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, NULL), 0);
  assert_int_equal(dsb_session_want_write(f->p.i.s), 1);
  assert_int_equal(dsb_session_want_write(f->p.r.s), 0);
  assert_int_equal(stu_pair_handshake(&f->p, SIZE_MAX), 0);
  assert_int_equal(dsb_session_get_state(f->p.i.s),
                   DSB_SESSION_STATE_ESTABLISHED);
  assert_int_equal(dsb_session_get_state(f->p.r.s),
                   DSB_SESSION_STATE_ESTABLISHED);
  assert_true(dsb_device_id_eq(&f->p.i.peer, &f->b.id));
  assert_true(dsb_device_id_eq(&f->p.r.peer, &f->a.id));
  assert_int_equal(dsb_session_get_peer(f->p.r.s, &id, &proof), 0);
  assert_true(dsb_device_id_eq(&id, &f->a.id));
  assert_memory_equal(proof.static_pk, f->a.proof.static_pk, 32);
  assert_int_equal(dsb_session_get_handshake_hash(f->p.i.s, hi, sizeof(hi)),
                   32);
  assert_int_equal(dsb_session_get_handshake_hash(f->p.r.s, hr, sizeof(hr)),
                   32);
  assert_memory_equal(hi, hr, 32);
  assert_int_equal(dsb_session_next_timeout(f->p.i.s), UINT64_MAX);
  assert_int_equal(dsb_session_get_role(f->p.r.s), DSB_SESSION_RESPONDER);
}

static void test_handshake_message_sizes(void **state) {
  fixture *f = *state;
  uint8_t msg[DSB_SESSION_HANDSHAKE_MAX];
  long n;

  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, NULL), 0);
  n = dsb_session_write_handshake(f->p.i.s, msg, sizeof(msg), f->p.now);
  assert_int_equal(n, 2 + DSB_SESSION_MSG1_LEN);
  assert_int_equal((msg[0] << 8) | msg[1], DSB_SESSION_MSG1_LEN);
  assert_int_equal(dsb_session_recv(f->p.r.s, msg, (size_t)n, f->p.now), n);
  n = dsb_session_write_handshake(f->p.r.s, msg, sizeof(msg), f->p.now);
  assert_int_equal(n, 2 + DSB_SESSION_MSG2_LEN);
  assert_int_equal(dsb_session_recv(f->p.i.s, msg, (size_t)n, f->p.now), n);
  n = dsb_session_write_handshake(f->p.i.s, msg, sizeof(msg), f->p.now);
  assert_int_equal(n, 2 + DSB_SESSION_MSG3_LEN);
  /* Nothing more to write. */
  assert_int_equal(
      dsb_session_write_handshake(f->p.i.s, msg, sizeof(msg), f->p.now), 0);
}

static void test_handshake_one_byte_reads(void **state) {
  fixture *f = *state;

  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, NULL), 0);
  assert_int_equal(stu_pair_handshake(&f->p, 1), 0);
}

static void test_write_handshake_nobuf_keeps_state(void **state) {
  fixture *f = *state;
  uint8_t msg[DSB_SESSION_HANDSHAKE_MAX];

  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, NULL), 0);
  assert_int_equal(dsb_session_write_handshake(f->p.i.s, msg, 10, f->p.now),
                   DSB_ERR_NOBUF);
  assert_int_equal(dsb_session_get_state(f->p.i.s),
                   DSB_SESSION_STATE_HANDSHAKE);
  assert_int_equal(stu_pair_handshake(&f->p, SIZE_MAX), 0);
}

static void test_handshake_with_proof_cache(void **state) {
  fixture *f = *state;
  dsb_proof_cache *cache;
  dsb_proof_cache_stats st;
  stu_opts o = {0};
  int round;

  assert_int_equal(dsb_proof_cache_new(&cache, NULL, 4), 0);
  o.proof_cache = cache;
  for (round = 0; round < 3; ++round) {
    stu_pair_free(&f->p);
    assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, &o, &o), 0);
    assert_int_equal(stu_pair_handshake(&f->p, SIZE_MAX), 0);
  }
  dsb_proof_cache_get_stats(cache, &st);
  /* Two proofs verified once each, then answered from the cache. */
  assert_int_equal(st.verifies, 2);
  assert_int_equal(st.hits, 4);
  dsb_proof_cache_del(cache);
}

/* ---- records --------------------------------------------------------------
 */

static void test_round_trip_both_ways(void **state) {
  fixture *f = *state;
  static uint8_t buf[DSB_SESSION_PLAINTEXT_MAX];
  static const size_t sizes[] = {0,  1,    15,    16,
                                 17, 1000, 16384, DSB_SESSION_PLAINTEXT_MAX};
  size_t i, off_i = 0, off_r = 0;

  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, NULL), 0);
  assert_int_equal(stu_pair_handshake(&f->p, SIZE_MAX), 0);
  for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); ++i) {
    fill_pattern(buf, sizes[i], (uint32_t)i);
    assert_int_equal(
        stu_send(&f->p.i, &f->p.r, buf, sizes[i], SIZE_MAX, f->p.now), 0);
    assert_int_equal(f->p.r.lens[i], sizes[i]);
    assert_memory_equal(f->p.r.log + off_r, buf, sizes[i]);
    off_r += sizes[i];
    fill_pattern(buf, sizes[i], (uint32_t)i + 100);
    assert_int_equal(
        stu_send(&f->p.r, &f->p.i, buf, sizes[i], SIZE_MAX, f->p.now), 0);
    assert_memory_equal(f->p.i.log + off_i, buf, sizes[i]);
    off_i += sizes[i];
  }
  assert_int_equal(f->p.r.records, i);
  assert_int_equal(f->p.i.records, i);
}

static void test_round_trip_one_byte_reads(void **state) {
  fixture *f = *state;
  uint8_t buf[3000];
  size_t i;

  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, NULL), 0);
  assert_int_equal(stu_pair_handshake(&f->p, 1), 0);
  for (i = 0; i < 5; ++i) {
    fill_pattern(buf, sizeof(buf), (uint32_t)i);
    assert_int_equal(
        stu_send(&f->p.i, &f->p.r, buf, 100 + i * 700, 1, f->p.now), 0);
    assert_int_equal(
        stu_send(&f->p.r, &f->p.i, buf, 100 + i * 500, 1, f->p.now), 0);
  }
  assert_int_equal(f->p.r.records, 5);
  assert_int_equal(f->p.i.records, 5);
  assert_int_equal(f->p.r.lens[4], 2900);
}

/* Several records in one read, split at every possible point. */
static void test_round_trip_every_split(void **state) {
  fixture *f = *state;
  uint8_t stream[3 * (100 + DSB_SESSION_RECORD_OVERHEAD)];
  uint8_t pt[100];
  size_t split, len = 0;
  int k;

  for (split = 1; split < sizeof(stream); split += 7) {
    stu_pair_free(&f->p);
    assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, NULL), 0);
    assert_int_equal(stu_pair_handshake(&f->p, SIZE_MAX), 0);
    len = 0;
    for (k = 0; k < 3; ++k) {
      long n;
      fill_pattern(pt, sizeof(pt), (uint32_t)k);
      n = dsb_session_seal(f->p.i.s, stream + len, sizeof(stream) - len, pt,
                           sizeof(pt));
      assert_int_equal(n, sizeof(pt) + DSB_SESSION_RECORD_OVERHEAD);
      len += (size_t)n;
    }
    assert_int_equal(dsb_session_recv(f->p.r.s, stream, split, f->p.now),
                     (long)split);
    assert_int_equal(
        dsb_session_recv(f->p.r.s, stream + split, len - split, f->p.now),
        (long)(len - split));
    assert_int_equal(f->p.r.records, 3);
    fill_pattern(pt, sizeof(pt), 2);
    assert_memory_equal(f->p.r.log + 200, pt, sizeof(pt));
  }
}

static void test_seal_open_in_place(void **state) {
  fixture *f = *state;
  static uint8_t rec[DSB_SESSION_RECORD_MAX];
  uint8_t want[5000];
  long n;

  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, NULL), 0);
  assert_int_equal(stu_pair_handshake(&f->p, SIZE_MAX), 0);
  fill_pattern(want, sizeof(want), 9);
  memcpy(rec + DSB_SESSION_RECORD_HDR_LEN, want, sizeof(want));
  n = dsb_session_seal(f->p.i.s, rec, sizeof(rec),
                       rec + DSB_SESSION_RECORD_HDR_LEN, sizeof(want));
  assert_int_equal(n, sizeof(want) + DSB_SESSION_RECORD_OVERHEAD);
  assert_memory_not_equal(rec + DSB_SESSION_RECORD_HDR_LEN, want, 64);
  n = dsb_session_open(f->p.r.s, rec + DSB_SESSION_RECORD_HDR_LEN,
                       sizeof(rec) - DSB_SESSION_RECORD_HDR_LEN, rec,
                       (size_t)n);
  assert_int_equal(n, sizeof(want));
  assert_memory_equal(rec + DSB_SESSION_RECORD_HDR_LEN, want, sizeof(want));
}

static void test_reject_seal_overlapping_buffers(void **state) {
  fixture *f = *state;
  uint8_t rec[300];

  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, NULL), 0);
  assert_int_equal(stu_pair_handshake(&f->p, SIZE_MAX), 0);
  assert_int_equal(dsb_session_seal(f->p.i.s, rec, sizeof(rec), rec + 1, 100),
                   DSB_ERR_INVALID_ARGUMENT);
  assert_int_equal(dsb_session_seal(f->p.i.s, rec, 50, rec + 200, 100),
                   DSB_ERR_NOBUF);
  assert_int_equal(dsb_session_seal(f->p.i.s, rec, sizeof(rec), rec, 70000),
                   DSB_ERR_INVALID_ARGUMENT);
  /* Not fatal: the session still works. */
  assert_int_equal(dsb_session_get_state(f->p.i.s),
                   DSB_SESSION_STATE_ESTABLISHED);
}

static void test_reject_seal_before_established(void **state) {
  fixture *f = *state;
  uint8_t rec[100];

  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, NULL), 0);
  assert_int_equal(dsb_session_seal(f->p.i.s, rec, sizeof(rec), NULL, 0),
                   DSB_ERR_SESSION_NOT_ESTABLISHED);
  assert_int_equal(dsb_session_open(f->p.r.s, rec, sizeof(rec), rec, 20),
                   DSB_ERR_SESSION_NOT_ESTABLISHED);
  assert_int_equal(dsb_session_get_peer(f->p.i.s, NULL, NULL),
                   DSB_ERR_SESSION_NOT_ESTABLISHED);
}

/* Both sides rekey after every 3rd record: 20 records cross 6 boundaries
 * in each direction and every one still opens. */
static void test_rekey_boundary_crossed(void **state) {
  fixture *f = *state;
  dsb_session_settings st;
  stu_opts o = {0};
  dsb_session_stats si, sr;
  uint8_t pt[64];
  int k;

  dsb_session_settings_default(&st);
  st.rekey_interval = 3;
  o.settings = &st;
  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, &o, &o), 0);
  assert_int_equal(stu_pair_handshake(&f->p, SIZE_MAX), 0);
  for (k = 0; k < 20; ++k) {
    fill_pattern(pt, sizeof(pt), (uint32_t)k);
    assert_int_equal(
        stu_send(&f->p.i, &f->p.r, pt, sizeof(pt), SIZE_MAX, f->p.now), 0);
    assert_int_equal(
        stu_send(&f->p.r, &f->p.i, pt, sizeof(pt), k % 2 ? 1 : 5, f->p.now), 0);
    assert_memory_equal(f->p.r.log + 64 * k, pt, sizeof(pt));
  }
  dsb_session_get_stats(f->p.i.s, &si);
  dsb_session_get_stats(f->p.r.s, &sr);
  assert_int_equal(si.rekeys_sent, 6);
  assert_int_equal(si.rekeys_received, 6);
  assert_int_equal(sr.rekeys_sent, 6);
  assert_int_equal(sr.rekeys_received, 6);
  assert_int_equal(si.records_sent, 20);
  assert_int_equal(sr.bytes_received, 20 * 64);
}

/* A receiver that rekeys at a different index cannot open the record
 * after the boundary: the rekey really changed the key. */
static void test_reject_rekey_out_of_step(void **state) {
  fixture *f = *state;
  dsb_session_settings si, sr;
  stu_opts oi = {0}, orr = {0};
  uint8_t pt[10] = {0};
  int k;

  dsb_session_settings_default(&si);
  dsb_session_settings_default(&sr);
  si.rekey_interval = 4;
  sr.rekey_interval = 5;
  oi.settings = &si;
  orr.settings = &sr;
  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, &oi, &orr), 0);
  assert_int_equal(stu_pair_handshake(&f->p, SIZE_MAX), 0);
  for (k = 0; k < 4; ++k) {
    assert_int_equal(
        stu_send(&f->p.i, &f->p.r, pt, sizeof(pt), SIZE_MAX, f->p.now), 0);
  }
  assert_int_equal(
      stu_send(&f->p.i, &f->p.r, pt, sizeof(pt), SIZE_MAX, f->p.now),
      DSB_ERR_CRYPTO_AUTH);
  assert_int_equal(f->p.r.records, 4);
  assert_int_equal(dsb_session_get_state(f->p.r.s), DSB_SESSION_STATE_FAILED);
}

static void test_reject_nonce_exhausted(void **state) {
  fixture *f = *state;
  uint8_t rec[64];

  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, NULL), 0);
  assert_int_equal(stu_pair_handshake(&f->p, SIZE_MAX), 0);
  assert_int_equal(dsb_session_test_set_nonces(f->p.i.s, UINT64_MAX - 1, 0), 0);
  assert_int_equal(dsb_session_seal(f->p.i.s, rec, sizeof(rec), NULL, 0),
                   DSB_SESSION_RECORD_OVERHEAD);
  /* 2^64-1 is reserved for rekey: refuse, and the session is over. */
  assert_int_equal(dsb_session_seal(f->p.i.s, rec, sizeof(rec), NULL, 0),
                   DSB_ERR_NOISE_NONCE_EXHAUSTED);
  assert_int_equal(dsb_session_get_state(f->p.i.s), DSB_SESSION_STATE_FAILED);
  assert_int_equal(dsb_session_get_error(f->p.i.s),
                   DSB_ERR_NOISE_NONCE_EXHAUSTED);
  assert_int_equal(dsb_session_seal(f->p.i.s, rec, sizeof(rec), NULL, 0),
                   DSB_ERR_SESSION_CLOSED);
}

static void test_reject_bad_tag(void **state) {
  fixture *f = *state;
  uint8_t stream[2 * (50 + DSB_SESSION_RECORD_OVERHEAD)];
  uint8_t pt[50];
  size_t pos;
  long n1, n2;

  for (pos = 2; pos < 50 + DSB_SESSION_RECORD_OVERHEAD; pos += 13) {
    stu_pair_free(&f->p);
    assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, NULL), 0);
    assert_int_equal(stu_pair_handshake(&f->p, SIZE_MAX), 0);
    fill_pattern(pt, sizeof(pt), 1);
    n1 = dsb_session_seal(f->p.i.s, stream, sizeof(stream), pt, sizeof(pt));
    n2 = dsb_session_seal(f->p.i.s, stream + n1, sizeof(stream) - (size_t)n1,
                          pt, sizeof(pt));
    assert_true(n1 > 0 && n2 > 0);
    /* Corrupt the second record (ciphertext or tag). */
    stream[(size_t)n1 + pos] ^= 0x01;
    assert_int_equal(
        dsb_session_recv(f->p.r.s, stream, (size_t)(n1 + n2), f->p.now),
        DSB_ERR_CRYPTO_AUTH);
    /* The good first record was delivered; nothing of the bad one. */
    assert_int_equal(f->p.r.records, 1);
    assert_int_equal(f->p.r.loglen, sizeof(pt));
    assert_int_equal(dsb_session_get_state(f->p.r.s), DSB_SESSION_STATE_FAILED);
    assert_true(dsb_err_is_fatal(DSB_ERR_CRYPTO_AUTH));
    assert_int_equal(dsb_session_recv(f->p.r.s, stream, 1, f->p.now),
                     DSB_ERR_SESSION_CLOSED);
    assert_int_equal(dsb_session_seal(f->p.r.s, stream, sizeof(stream), pt, 1),
                     DSB_ERR_SESSION_CLOSED);
  }
}

static void test_reject_bad_tag_one_shot_open(void **state) {
  fixture *f = *state;
  uint8_t rec[100], out[100];
  long n;

  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, NULL), 0);
  assert_int_equal(stu_pair_handshake(&f->p, SIZE_MAX), 0);
  n = dsb_session_seal(f->p.i.s, rec, sizeof(rec), (const uint8_t *)"hello", 5);
  rec[n - 1] ^= 0x80;
  assert_int_equal(dsb_session_open(f->p.r.s, out, sizeof(out), rec, (size_t)n),
                   DSB_ERR_CRYPTO_AUTH);
  assert_int_equal(dsb_session_get_state(f->p.r.s), DSB_SESSION_STATE_FAILED);
}

static void test_reject_truncated_record(void **state) {
  fixture *f = *state;
  uint8_t rec[200], out[200], pt[50] = {0};
  long n;

  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, NULL), 0);
  assert_int_equal(stu_pair_handshake(&f->p, SIZE_MAX), 0);
  n = dsb_session_seal(f->p.i.s, rec, sizeof(rec), pt, sizeof(pt));
  assert_true(n > 0);
  /* Stream: half a record, then the peer closes. */
  assert_int_equal(dsb_session_recv(f->p.r.s, rec, (size_t)n / 2, f->p.now),
                   n / 2);
  assert_int_equal(dsb_session_recv_eof(f->p.r.s),
                   DSB_ERR_SESSION_RECORD_TRUNCATED);
  assert_int_equal(f->p.r.records, 0);
  assert_int_equal(dsb_session_get_state(f->p.r.s), DSB_SESSION_STATE_FAILED);

  /* One-shot open of a record missing its last byte. */
  stu_pair_free(&f->p);
  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, NULL), 0);
  assert_int_equal(stu_pair_handshake(&f->p, SIZE_MAX), 0);
  n = dsb_session_seal(f->p.i.s, rec, sizeof(rec), pt, sizeof(pt));
  assert_int_equal(
      dsb_session_open(f->p.r.s, out, sizeof(out), rec, (size_t)n - 1),
      DSB_ERR_SESSION_RECORD_TRUNCATED);
  /* Even the header cut short. */
  stu_pair_free(&f->p);
  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, NULL), 0);
  assert_int_equal(stu_pair_handshake(&f->p, SIZE_MAX), 0);
  assert_int_equal(dsb_session_recv(f->p.r.s, rec, 1, f->p.now), 1);
  assert_int_equal(dsb_session_recv_eof(f->p.r.s),
                   DSB_ERR_SESSION_RECORD_TRUNCATED);
}

static void test_clean_eof_between_records(void **state) {
  fixture *f = *state;
  uint8_t pt[10] = {1};

  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, NULL), 0);
  assert_int_equal(stu_pair_handshake(&f->p, SIZE_MAX), 0);
  assert_int_equal(
      stu_send(&f->p.i, &f->p.r, pt, sizeof(pt), SIZE_MAX, f->p.now), 0);
  assert_int_equal(dsb_session_recv_eof(f->p.r.s), 0);
  assert_int_equal(dsb_session_get_state(f->p.r.s), DSB_SESSION_STATE_CLOSED);
  assert_int_equal(dsb_session_get_error(f->p.r.s), 0);
  /* The verified peer stays readable after the close. */
  assert_int_equal(dsb_session_get_peer(f->p.r.s, NULL, NULL), 0);
}

static void test_reject_trailing_bytes_one_shot_open(void **state) {
  fixture *f = *state;
  uint8_t rec[100], out[100];
  long n;

  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, NULL), 0);
  assert_int_equal(stu_pair_handshake(&f->p, SIZE_MAX), 0);
  n = dsb_session_seal(f->p.i.s, rec, sizeof(rec), (const uint8_t *)"x", 1);
  assert_int_equal(
      dsb_session_open(f->p.r.s, out, sizeof(out), rec, (size_t)n + 1),
      DSB_ERR_MALFORMED);
}

static void test_reject_record_oversize(void **state) {
  fixture *f = *state;
  dsb_session_settings st;
  stu_opts o = {0};
  static uint8_t rec[DSB_SESSION_RECORD_MAX];
  static uint8_t pt[2000];
  uint8_t out[2000];
  long n;

  dsb_session_settings_default(&st);
  st.max_record_len = 1024;
  o.settings = &st;
  /* Responder accepts at most 1024-byte records; the initiator sends 2000. */
  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, &o), 0);
  assert_int_equal(stu_pair_handshake(&f->p, SIZE_MAX), 0);
  n = dsb_session_seal(f->p.i.s, rec, sizeof(rec), pt, 2000);
  assert_int_equal(n, 2000 + DSB_SESSION_RECORD_OVERHEAD);
  /* Rejected from the header alone: two bytes are enough. */
  assert_int_equal(dsb_session_recv(f->p.r.s, rec, 2, f->p.now),
                   DSB_ERR_SESSION_RECORD_OVERSIZE);
  assert_int_equal(f->p.r.records, 0);
  assert_int_equal(dsb_session_get_state(f->p.r.s), DSB_SESSION_STATE_FAILED);

  /* One-shot open applies the same limit. */
  stu_pair_free(&f->p);
  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, &o), 0);
  assert_int_equal(stu_pair_handshake(&f->p, SIZE_MAX), 0);
  n = dsb_session_seal(f->p.i.s, rec, sizeof(rec), pt, 1500);
  assert_int_equal(dsb_session_open(f->p.r.s, out, sizeof(out), rec, (size_t)n),
                   DSB_ERR_SESSION_RECORD_OVERSIZE);
}

static void test_reject_record_undersize(void **state) {
  fixture *f = *state;
  uint8_t bad[2 + 15] = {0, 15};

  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, NULL), 0);
  assert_int_equal(stu_pair_handshake(&f->p, SIZE_MAX), 0);
  assert_int_equal(dsb_session_recv(f->p.r.s, bad, sizeof(bad), f->p.now),
                   DSB_ERR_SESSION_RECORD_UNDERSIZE);
}

static void test_reject_bad_settings(void **state) {
  fixture *f = *state;
  dsb_session_settings st;
  dsb_session_config cfg;
  dsb_session *s = NULL;

  (void)f;
  dsb_session_settings_default(&st);
  st.max_record_len = 10;
  memset(&cfg, 0, sizeof(cfg));
  cfg.role = DSB_SESSION_RESPONDER;
  cfg.local = &f->b;
  cfg.settings = &st;
  assert_int_equal(dsb_session_new(&s, &cfg, 0), DSB_ERR_INVALID_ARGUMENT);
  cfg.settings = NULL;
  cfg.role = DSB_SESSION_INITIATOR; /* without remote key and id */
  assert_int_equal(dsb_session_new(&s, &cfg, 0), DSB_ERR_INVALID_ARGUMENT);
  cfg.local = NULL;
  assert_int_equal(dsb_session_new(&s, &cfg, 0), DSB_ERR_INVALID_ARGUMENT);
  assert_null(s);
}

/* ---- handshake rejects ----------------------------------------------------
 */

/* The three framed handshake messages of one deterministic run. */
typedef struct transcript {
  uint8_t m[3][DSB_SESSION_HANDSHAKE_MAX];
  size_t len[3];
} transcript;

static void record_transcript(fixture *f, transcript *t) {
  int k;

  stu_pair_free(&f->p);
  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, NULL), 0);
  for (k = 0; k < 3; ++k) {
    stu_side *from = k == 1 ? &f->p.r : &f->p.i;
    stu_side *to = k == 1 ? &f->p.i : &f->p.r;
    long n = dsb_session_write_handshake(from->s, t->m[k], sizeof(t->m[k]),
                                         f->p.now);
    assert_true(n > 0);
    t->len[k] = (size_t)n;
    assert_int_equal(dsb_session_recv(to->s, t->m[k], (size_t)n, f->p.now), n);
  }
  assert_true(f->p.r.established);
  stu_pair_free(&f->p);
}

/*
 * Fresh receiver of message |k| (0-based), in the state just before it: the
 * same seeds reproduce the same transcript up to that message. Returns the
 * receiving side.
 */
static stu_side *receiver_before(fixture *f, const transcript *t, int k) {
  uint8_t msg[DSB_SESSION_HANDSHAKE_MAX];
  int j;

  stu_pair_free(&f->p);
  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, NULL), 0);
  for (j = 0; j < k; ++j) {
    stu_side *from = j == 1 ? &f->p.r : &f->p.i;
    stu_side *to = j == 1 ? &f->p.i : &f->p.r;
    long n = dsb_session_write_handshake(from->s, msg, sizeof(msg), f->p.now);
    assert_int_equal(n, (long)t->len[j]);
    assert_memory_equal(msg, t->m[j], (size_t)n);
    assert_int_equal(dsb_session_recv(to->s, msg, (size_t)n, f->p.now), n);
  }
  if (k == 1) {
    return &f->p.i;
  }
  if (k == 2) {
    /* The initiator must have produced message 3 for the responder's
     * state; the receiver is the responder. */
    return &f->p.r;
  }
  return &f->p.r;
}

/*
 * Every single-bit flip of every byte of handshake message |k|: the
 * receiver fails with the specific error and is never established. Flips
 * of the length field give a frame of the wrong size (over: oversize,
 * under: undersize); flips anywhere in the Noise message break its tag.
 */
static void flip_every_bit(void **state, int k) {
  fixture *f = *state;
  transcript t;
  uint8_t msg[DSB_SESSION_HANDSHAKE_MAX];
  size_t byte;
  int bit;

  record_transcript(f, &t);
  for (byte = 0; byte < t.len[k]; ++byte) {
    for (bit = 0; bit < 8; ++bit) {
      stu_side *rx = receiver_before(f, &t, k);
      int expect;
      long rv;

      memcpy(msg, t.m[k], t.len[k]);
      msg[byte] ^= (uint8_t)(1u << bit);
      if (byte < 2) {
        uint16_t len;
        dsb_wire_get_u16be(msg, &len);
        expect = len > t.len[k] - 2 ? DSB_ERR_SESSION_RECORD_OVERSIZE
                                    : DSB_ERR_SESSION_RECORD_UNDERSIZE;
      } else {
        expect = DSB_ERR_CRYPTO_AUTH;
      }
      rv = dsb_session_recv(rx->s, msg, t.len[k], f->p.now);
      if (rv != expect) {
        fail_msg("message %d byte %zu bit %d: got %s, want %s", k + 1, byte,
                 bit, dsb_err_name((int)rv), dsb_err_name(expect));
      }
      assert_int_equal(dsb_session_get_state(rx->s), DSB_SESSION_STATE_FAILED);
      assert_false(rx->established);
      assert_false(f->p.r.established);
      assert_int_equal(dsb_session_want_write(rx->s), 0);
      assert_int_equal(dsb_session_get_peer(rx->s, NULL, NULL),
                       DSB_ERR_SESSION_NOT_ESTABLISHED);
    }
  }
}

static void test_reject_msg1_every_bit_flip(void **state) {
  flip_every_bit(state, 0);
}

static void test_reject_msg2_every_bit_flip(void **state) {
  flip_every_bit(state, 1);
}

static void test_reject_msg3_every_bit_flip(void **state) {
  flip_every_bit(state, 2);
}

/* An eavesdropper replays a recorded handshake to a fresh responder: it
 * answers message 1 (it cannot tell), but the old message 3 does not
 * match its new ephemeral key. */
static void test_reject_replayed_handshake_to_fresh_responder(void **state) {
  fixture *f = *state;
  transcript t;
  stu_side r;
  uint8_t msg[DSB_SESSION_HANDSHAKE_MAX];

  record_transcript(f, &t);
  memset(&r, 0, sizeof(r));
  assert_int_equal(stu_side_new(&r, DSB_SESSION_RESPONDER, &f->b, NULL, NULL,
                                777, NULL, 5000),
                   0);
  assert_int_equal(dsb_session_recv(r.s, t.m[0], t.len[0], 5000),
                   (long)t.len[0]);
  assert_true(dsb_session_write_handshake(r.s, msg, sizeof(msg), 5000) > 0);
  assert_int_equal(dsb_session_recv(r.s, t.m[2], t.len[2], 5000),
                   DSB_ERR_CRYPTO_AUTH);
  assert_false(r.established);
  assert_int_equal(dsb_session_get_state(r.s), DSB_SESSION_STATE_FAILED);
  stu_side_free(&r);
}

/* Message 2 replayed to a fresh initiator (new ephemeral key). */
static void test_reject_replayed_msg2_to_fresh_initiator(void **state) {
  fixture *f = *state;
  transcript t;
  stu_side i;
  uint8_t msg[DSB_SESSION_HANDSHAKE_MAX];

  record_transcript(f, &t);
  memset(&i, 0, sizeof(i));
  assert_int_equal(stu_side_new(&i, DSB_SESSION_INITIATOR, &f->a,
                                f->b.proof.static_pk, &f->b.id, 999, NULL, 0),
                   0);
  assert_true(dsb_session_write_handshake(i.s, msg, sizeof(msg), 0) > 0);
  assert_int_equal(dsb_session_recv(i.s, t.m[1], t.len[1], 0),
                   DSB_ERR_CRYPTO_AUTH);
  assert_false(i.established);
  stu_side_free(&i);
}

/* Message 1 replayed into the same responder after it was answered. */
static void test_reject_message_out_of_turn(void **state) {
  fixture *f = *state;
  transcript t;
  uint8_t msg[DSB_SESSION_HANDSHAKE_MAX];
  long n;

  record_transcript(f, &t);
  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, NULL), 0);
  n = dsb_session_write_handshake(f->p.i.s, msg, sizeof(msg), f->p.now);
  assert_int_equal(dsb_session_recv(f->p.r.s, msg, (size_t)n, f->p.now), n);
  /* The responder owes message 2; bytes now are a protocol violation. */
  assert_int_equal(dsb_session_recv(f->p.r.s, msg, 1, f->p.now),
                   DSB_ERR_SESSION_BAD_HANDSHAKE);
  assert_int_equal(dsb_session_get_state(f->p.r.s), DSB_SESSION_STATE_FAILED);
}

/* An initiator that receives anything before it sent message 1. */
static void test_reject_bytes_before_message1(void **state) {
  fixture *f = *state;
  uint8_t junk[4] = {0, 49, 1, 2};

  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, NULL), 0);
  assert_int_equal(dsb_session_recv(f->p.i.s, junk, sizeof(junk), f->p.now),
                   DSB_ERR_SESSION_BAD_HANDSHAKE);
}

/* A message 1 built with the right keys but another protocol version. */
static void test_reject_unknown_version(void **state) {
  fixture *f = *state;
  dsb_noise_handshake *hs;
  uint8_t msg[DSB_SESSION_HANDSHAKE_MAX];
  uint8_t payload[1] = {DSB_SESSION_VERSION + 1};
  long n;

  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, NULL), 0);
  assert_int_equal(dsb_noise_handshake_new(&hs, NULL, DSB_NOISE_PROTOCOL_XK,
                                           DSB_NOISE_INITIATOR, NULL),
                   0);
  assert_int_equal(
      dsb_noise_handshake_set_prologue(
          hs, (const uint8_t *)DSB_SESSION_PROLOGUE, DSB_SESSION_PROLOGUE_LEN),
      0);
  assert_int_equal(dsb_noise_handshake_set_local_static(hs, f->a.static_sk), 0);
  assert_int_equal(
      dsb_noise_handshake_set_remote_static(hs, f->b.proof.static_pk), 0);
  n = dsb_noise_handshake_write_message(hs, msg + 2, sizeof(msg) - 2, payload,
                                        sizeof(payload));
  assert_int_equal(n, DSB_SESSION_MSG1_LEN);
  dsb_wire_put_u16be(msg, (uint16_t)n);
  assert_int_equal(dsb_session_recv(f->p.r.s, msg, (size_t)n + 2, f->p.now),
                   DSB_ERR_SESSION_VERSION);
  dsb_noise_handshake_del(hs);
}

/* A peer with another prologue (another protocol version) fails at
 * message 1: the prologue is in the handshake hash. */
static void test_reject_other_prologue(void **state) {
  fixture *f = *state;
  dsb_noise_handshake *hs;
  uint8_t msg[DSB_SESSION_HANDSHAKE_MAX];
  uint8_t payload[1] = {DSB_SESSION_VERSION};
  static const char other[] = "dsoftbus-lite/session/v2";
  long n;

  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, NULL), 0);
  assert_int_equal(dsb_noise_handshake_new(&hs, NULL, DSB_NOISE_PROTOCOL_XK,
                                           DSB_NOISE_INITIATOR, NULL),
                   0);
  assert_int_equal(dsb_noise_handshake_set_prologue(hs, (const uint8_t *)other,
                                                    sizeof(other) - 1),
                   0);
  assert_int_equal(dsb_noise_handshake_set_local_static(hs, f->a.static_sk), 0);
  assert_int_equal(
      dsb_noise_handshake_set_remote_static(hs, f->b.proof.static_pk), 0);
  n = dsb_noise_handshake_write_message(hs, msg + 2, sizeof(msg) - 2, payload,
                                        sizeof(payload));
  dsb_wire_put_u16be(msg, (uint16_t)n);
  assert_int_equal(dsb_session_recv(f->p.r.s, msg, (size_t)n + 2, f->p.now),
                   DSB_ERR_CRYPTO_AUTH);
  dsb_noise_handshake_del(hs);
}

/* Run a handshake where the responder is |resp| and the initiator expects
 * |expected| with static key |rs|; return the initiator's error. */
static int handshake_against(fixture *f, const dsb_identity *resp,
                             const uint8_t *rs, const dsb_device_id *expected,
                             int *responder_established) {
  uint8_t msg[DSB_SESSION_HANDSHAKE_MAX];
  long n;
  int rv = 0;

  stu_pair_free(&f->p);
  assert_int_equal(stu_side_new(&f->p.i, DSB_SESSION_INITIATOR, &f->a, rs,
                                expected, 1, NULL, 0),
                   0);
  assert_int_equal(stu_side_new(&f->p.r, DSB_SESSION_RESPONDER, resp, NULL,
                                NULL, 2, NULL, 0),
                   0);
  n = dsb_session_write_handshake(f->p.i.s, msg, sizeof(msg), 0);
  assert_int_equal(dsb_session_recv(f->p.r.s, msg, (size_t)n, 0), n);
  n = dsb_session_write_handshake(f->p.r.s, msg, sizeof(msg), 0);
  n = dsb_session_recv(f->p.i.s, msg, (size_t)n, 0);
  if (n < 0) {
    rv = (int)n;
    assert_int_equal(dsb_session_get_state(f->p.i.s), DSB_SESSION_STATE_FAILED);
    assert_int_equal(dsb_session_want_write(f->p.i.s), 0);
    assert_false(f->p.i.established);
  }
  *responder_established = f->p.r.established;
  return rv;
}

/* Discovery says device A, but the static key (and so the certificate the
 * responder proves) belongs to device B. */
static void test_reject_identity_mismatch(void **state) {
  fixture *f = *state;
  int rest;

  assert_int_equal(
      handshake_against(f, &f->b, f->b.proof.static_pk, &f->c.id, &rest),
      DSB_ERR_IDENTITY_MISMATCH);
  assert_false(rest);
  assert_true(dsb_err_is_fatal(DSB_ERR_IDENTITY_MISMATCH));
  assert_string_equal(dsb_strerror(DSB_ERR_IDENTITY_MISMATCH),
                      "session.reject.identity_mismatch");
}

/*
 * A hand-driven peer speaking the session's Noise protocol with the static
 * key |sk| (public half derived from it), so it can present any proof: the
 * session itself always sends its identity's own static key.
 */
static dsb_noise_handshake *raw_peer_new(dsb_noise_role role,
                                         const uint8_t sk[static 32],
                                         const uint8_t *rs) {
  dsb_noise_handshake *hs;

  assert_int_equal(
      dsb_noise_handshake_new(&hs, NULL, DSB_NOISE_PROTOCOL_XK, role, NULL), 0);
  assert_int_equal(
      dsb_noise_handshake_set_prologue(
          hs, (const uint8_t *)DSB_SESSION_PROLOGUE, DSB_SESSION_PROLOGUE_LEN),
      0);
  assert_int_equal(dsb_noise_handshake_set_local_static(hs, sk), 0);
  if (rs) {
    assert_int_equal(dsb_noise_handshake_set_remote_static(hs, rs), 0);
  }
  return hs;
}

/* Frame and write the raw peer's next message carrying |payload|. */
static long raw_peer_write(dsb_noise_handshake *hs, uint8_t *msg, size_t msglen,
                           const uint8_t *payload, size_t payloadlen) {
  long n = dsb_noise_handshake_write_message(hs, msg + 2, msglen - 2, payload,
                                             payloadlen);
  assert_true(n > 0);
  dsb_wire_put_u16be(msg, (uint16_t)n);
  return n + 2;
}

/* Read a framed session message into the raw peer. */
static void raw_peer_read(dsb_noise_handshake *hs, const uint8_t *msg,
                          long msglen) {
  uint8_t payload[DSB_SESSION_MSG3_LEN];
  assert_true(msglen > 2);
  assert_true(dsb_noise_handshake_read_message(hs, payload, sizeof(payload),
                                               msg + 2,
                                               (size_t)msglen - 2) >= 0);
}

/* The responder holds B's static key but presents C's (public) proof. */
static void test_reject_proof_of_other_static_key(void **state) {
  fixture *f = *state;
  dsb_noise_handshake *hs;
  uint8_t msg[DSB_SESSION_HANDSHAKE_MAX];
  uint8_t proof[DSB_SESSION_PROOF_PAYLOAD_LEN];
  long n;

  stu_pair_free(&f->p);
  assert_int_equal(stu_side_new(&f->p.i, DSB_SESSION_INITIATOR, &f->a,
                                f->b.proof.static_pk, &f->c.id, 1, NULL, 0),
                   0);
  hs = raw_peer_new(DSB_NOISE_RESPONDER, f->b.static_sk, NULL);
  n = dsb_session_write_handshake(f->p.i.s, msg, sizeof(msg), 0);
  raw_peer_read(hs, msg, n);
  assert_int_equal(dsb_session_proof_encode(proof, sizeof(proof), &f->c.proof),
                   DSB_SESSION_PROOF_PAYLOAD_LEN);
  n = raw_peer_write(hs, msg, sizeof(msg), proof, sizeof(proof));
  assert_int_equal(dsb_session_recv(f->p.i.s, msg, (size_t)n, 0),
                   DSB_ERR_IDENTITY_MISMATCH);
  assert_int_equal(dsb_session_get_state(f->p.i.s), DSB_SESSION_STATE_FAILED);
  assert_false(f->p.i.established);
  dsb_noise_handshake_del(hs);
}

/* B's keys with a certificate signed by another device key (C). */
static void test_reject_cert_signed_by_other_device_key(void **state) {
  fixture *f = *state;
  dsb_identity fake = f->b;
  int rest;

  assert_int_equal(dsb_cert_sign(fake.proof.cert, f->c.ed_seed,
                                 f->b.proof.ed_pk, f->b.proof.static_pk),
                   0);
  assert_int_equal(
      handshake_against(f, &fake, f->b.proof.static_pk, &f->b.id, &rest),
      DSB_ERR_IDENTITY_BAD_CERT);
  dsb_identity_wipe(&fake);
}

/* B's certificate, signed by B, but over another static key. */
static void test_reject_cert_over_other_static_key(void **state) {
  fixture *f = *state;
  dsb_identity fake = f->b;
  int rest;

  assert_int_equal(dsb_cert_sign(fake.proof.cert, f->b.ed_seed,
                                 f->b.proof.ed_pk, f->c.proof.static_pk),
                   0);
  assert_int_equal(
      handshake_against(f, &fake, f->b.proof.static_pk, &f->b.id, &rest),
      DSB_ERR_IDENTITY_BAD_CERT);
  dsb_identity_wipe(&fake);
}

/* The same checks on the responder side, for the initiator's proof. */
static void test_reject_initiator_bad_cert(void **state) {
  fixture *f = *state;
  dsb_identity fake = f->a;

  assert_int_equal(dsb_cert_sign(fake.proof.cert, f->c.ed_seed,
                                 f->a.proof.ed_pk, f->a.proof.static_pk),
                   0);
  assert_int_equal(stu_pair_new(&f->p, &fake, &f->b, NULL, NULL), 0);
  assert_int_equal(stu_pair_handshake(&f->p, SIZE_MAX),
                   DSB_ERR_IDENTITY_BAD_CERT);
  assert_false(f->p.r.established);
  assert_int_equal(dsb_session_get_state(f->p.r.s), DSB_SESSION_STATE_FAILED);
  dsb_identity_wipe(&fake);
}

/* The initiator holds A's static key but presents C's proof. */
static void test_reject_initiator_proof_of_other_key(void **state) {
  fixture *f = *state;
  dsb_noise_handshake *hs;
  uint8_t msg[DSB_SESSION_HANDSHAKE_MAX];
  uint8_t payload[DSB_SESSION_PROOF_PAYLOAD_LEN];
  long n;

  stu_pair_free(&f->p);
  assert_int_equal(stu_side_new(&f->p.r, DSB_SESSION_RESPONDER, &f->b, NULL,
                                NULL, 2, NULL, 0),
                   0);
  hs = raw_peer_new(DSB_NOISE_INITIATOR, f->a.static_sk, f->b.proof.static_pk);
  assert_int_equal(dsb_session_hello_encode(payload, sizeof(payload)),
                   DSB_SESSION_HELLO_LEN);
  n = raw_peer_write(hs, msg, sizeof(msg), payload, DSB_SESSION_HELLO_LEN);
  assert_int_equal(dsb_session_recv(f->p.r.s, msg, (size_t)n, 0), n);
  n = dsb_session_write_handshake(f->p.r.s, msg, sizeof(msg), 0);
  raw_peer_read(hs, msg, n);
  assert_int_equal(
      dsb_session_proof_encode(payload, sizeof(payload), &f->c.proof),
      DSB_SESSION_PROOF_PAYLOAD_LEN);
  n = raw_peer_write(hs, msg, sizeof(msg), payload, sizeof(payload));
  assert_int_equal(dsb_session_recv(f->p.r.s, msg, (size_t)n, 0),
                   DSB_ERR_IDENTITY_MISMATCH);
  assert_false(f->p.r.established);
  assert_int_equal(dsb_session_get_state(f->p.r.s), DSB_SESSION_STATE_FAILED);
  dsb_noise_handshake_del(hs);
}

/* Blocked by the responder: refused after message 3. */
static void test_reject_blocked_device(void **state) {
  fixture *f = *state;
  dsb_trust *trust;
  dsb_session_trust_ctx tc;
  stu_opts o = {0};

  assert_int_equal(dsb_trust_new(&trust, NULL, 0), 0);
  assert_int_equal(dsb_trust_set(trust, &f->a.id, DSB_TRUST_BLOCKED), 0);
  tc.trust = trust;
  tc.flags = DSB_TRUST_ALLOW_UNKNOWN; /* blocked wins even in lab mode */
  o.peer_check = dsb_session_trust_check;
  o.peer_check_ctx = &tc;
  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, &o), 0);
  assert_int_equal(stu_pair_handshake(&f->p, SIZE_MAX), DSB_ERR_TRUST_BLOCKED);
  assert_false(f->p.r.established);
  assert_int_equal(dsb_session_get_error(f->p.r.s), DSB_ERR_TRUST_BLOCKED);

  /* Blocked by the initiator: refused after message 2, no message 3. */
  stu_pair_free(&f->p);
  assert_int_equal(dsb_trust_set(trust, &f->b.id, DSB_TRUST_BLOCKED), 0);
  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, &o, NULL), 0);
  assert_int_equal(stu_pair_handshake(&f->p, SIZE_MAX), DSB_ERR_TRUST_BLOCKED);
  assert_int_equal(dsb_session_get_state(f->p.i.s), DSB_SESSION_STATE_FAILED);
  assert_int_equal(dsb_session_want_write(f->p.i.s), 0);
  dsb_trust_del(trust);
}

static void test_reject_unknown_device(void **state) {
  fixture *f = *state;
  dsb_trust *trust;
  dsb_session_trust_ctx tc;
  stu_opts o = {0};

  assert_int_equal(dsb_trust_new(&trust, NULL, 0), 0);
  tc.trust = trust;
  tc.flags = 0;
  o.peer_check = dsb_session_trust_check;
  o.peer_check_ctx = &tc;
  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, &o), 0);
  assert_int_equal(stu_pair_handshake(&f->p, SIZE_MAX), DSB_ERR_TRUST_UNKNOWN);
  /* Trusted: accepted. */
  stu_pair_free(&f->p);
  assert_int_equal(dsb_trust_set(trust, &f->a.id, DSB_TRUST_TRUSTED), 0);
  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, &o), 0);
  assert_int_equal(stu_pair_handshake(&f->p, SIZE_MAX), 0);
  dsb_trust_del(trust);
}

static int refuse_establish(dsb_session *s, const dsb_device_id *peer,
                            void *user) {
  (void)s;
  (void)peer;
  (void)user;
  return 1;
}

static void test_reject_callback_failure(void **state) {
  fixture *f = *state;
  static const dsb_session_callbacks cbs = {refuse_establish, NULL};
  dsb_session_config cfg;
  dsb_session *r;
  uint8_t msg[DSB_SESSION_HANDSHAKE_MAX];
  long n;
  int k;

  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, NULL), 0);
  memset(&cfg, 0, sizeof(cfg));
  cfg.role = DSB_SESSION_RESPONDER;
  cfg.local = &f->b;
  cfg.callbacks = &cbs;
  assert_int_equal(dsb_session_new(&r, &cfg, f->p.now), 0);
  for (k = 0; k < 3; ++k) {
    if (k == 1) {
      n = dsb_session_write_handshake(r, msg, sizeof(msg), f->p.now);
      assert_int_equal(dsb_session_recv(f->p.i.s, msg, (size_t)n, f->p.now), n);
      continue;
    }
    n = dsb_session_write_handshake(f->p.i.s, msg, sizeof(msg), f->p.now);
    n = dsb_session_recv(r, msg, (size_t)n, f->p.now);
  }
  assert_int_equal(n, DSB_ERR_CALLBACK_FAILURE);
  assert_int_equal(dsb_session_get_state(r), DSB_SESSION_STATE_FAILED);
  dsb_session_del(r);
}

/* ---- time ------------------------------------------------------------------
 */

static void test_reject_handshake_timeout(void **state) {
  fixture *f = *state;
  dsb_session_settings st;
  stu_opts o = {0};
  uint8_t msg[DSB_SESSION_HANDSHAKE_MAX];
  long n;
  dsb_tstamp deadline;

  dsb_session_settings_default(&st);
  st.handshake_timeout = 2 * DSB_NS_PER_S;
  o.settings = &st;
  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, &o, &o), 0);
  deadline = dsb_session_next_timeout(f->p.r.s);
  assert_int_equal(deadline, f->p.now + 2 * DSB_NS_PER_S);
  assert_int_equal(dsb_session_handle_timeout(f->p.r.s, deadline - 1), 0);
  n = dsb_session_write_handshake(f->p.i.s, msg, sizeof(msg), f->p.now);
  assert_int_equal(dsb_session_recv(f->p.r.s, msg, (size_t)n, deadline - 1), n);
  /* Message 2 goes out, message 3 never comes. */
  assert_true(dsb_session_write_handshake(f->p.r.s, msg, sizeof(msg),
                                          deadline - 1) > 0);
  assert_int_equal(dsb_session_handle_timeout(f->p.r.s, deadline),
                   DSB_ERR_SESSION_HANDSHAKE_TIMEOUT);
  assert_int_equal(dsb_session_get_state(f->p.r.s), DSB_SESSION_STATE_FAILED);
  assert_int_equal(dsb_session_next_timeout(f->p.r.s), UINT64_MAX);
  /* A late message is refused as well, on the initiator too. */
  assert_int_equal(dsb_session_recv(f->p.i.s, msg, 2, deadline + 1),
                   DSB_ERR_SESSION_HANDSHAKE_TIMEOUT);
}

static void test_no_timeout_once_established(void **state) {
  fixture *f = *state;
  uint8_t pt[1] = {7};

  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, NULL), 0);
  assert_int_equal(stu_pair_handshake(&f->p, SIZE_MAX), 0);
  f->p.now += 3600 * DSB_NS_PER_S;
  assert_int_equal(dsb_session_handle_timeout(f->p.r.s, f->p.now), 0);
  assert_int_equal(stu_send(&f->p.i, &f->p.r, pt, 1, SIZE_MAX, f->p.now), 0);
}

static void test_reject_peer_left_during_handshake(void **state) {
  fixture *f = *state;

  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, NULL), 0);
  assert_int_equal(dsb_session_recv_eof(f->p.r.s), DSB_ERR_SESSION_CLOSED);
  assert_int_equal(dsb_session_get_state(f->p.r.s), DSB_SESSION_STATE_FAILED);
}

static void test_close_wipes_and_refuses(void **state) {
  fixture *f = *state;
  uint8_t rec[64];

  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, NULL), 0);
  assert_int_equal(stu_pair_handshake(&f->p, SIZE_MAX), 0);
  dsb_session_close(f->p.i.s);
  dsb_session_close(f->p.i.s);
  assert_int_equal(dsb_session_get_state(f->p.i.s), DSB_SESSION_STATE_CLOSED);
  assert_int_equal(dsb_session_seal(f->p.i.s, rec, sizeof(rec), NULL, 0),
                   DSB_ERR_SESSION_CLOSED);
  assert_int_equal(dsb_session_write_handshake(f->p.i.s, rec, sizeof(rec), 0),
                   DSB_ERR_SESSION_CLOSED);
}

/* ---- failing allocator ----------------------------------------------------
 */

typedef struct failmem {
  int countdown; /* allocations left before failures; < 0: never fail */
  int allocs;
} failmem;

static void *fm_malloc(size_t n, void *ctx) {
  failmem *fm = ctx;
  if (fm->countdown == 0) {
    return NULL;
  }
  if (fm->countdown > 0) {
    --fm->countdown;
  }
  ++fm->allocs;
  return malloc(n);
}

static void *fm_calloc(size_t a, size_t b, void *ctx) {
  failmem *fm = ctx;
  if (fm->countdown == 0) {
    return NULL;
  }
  if (fm->countdown > 0) {
    --fm->countdown;
  }
  ++fm->allocs;
  return calloc(a, b);
}

static void *fm_realloc(void *p, size_t n, void *ctx) {
  failmem *fm = ctx;
  if (fm->countdown == 0) {
    return NULL;
  }
  if (fm->countdown > 0) {
    --fm->countdown;
  }
  return realloc(p, n);
}

static void fm_free(void *p, void *ctx) {
  (void)ctx;
  free(p);
}

/* Fail the i-th allocation for every i: each run either completes or
 * fails with DSB_ERR_NOMEM, never leaks (ASan) and never crashes. */
static void test_failing_allocator(void **state) {
  fixture *f = *state;
  int i, completed = 0;

  for (i = 0; i < 64 && !completed; ++i) {
    failmem fm = {i, 0};
    dsb_mem mem = {fm_malloc, fm_free, fm_calloc, fm_realloc, &fm};
    stu_opts o = {0};
    int rv;

    o.mem = &mem;
    stu_pair_free(&f->p);
    memset(&f->p, 0, sizeof(f->p));
    rv = stu_pair_new(&f->p, &f->a, &f->b, &o, &o);
    if (rv == 0) {
      rv = stu_pair_handshake(&f->p, SIZE_MAX);
    }
    if (rv == 0) {
      uint8_t pt[3] = {1, 2, 3};
      rv = stu_send(&f->p.i, &f->p.r, pt, 3, SIZE_MAX, f->p.now);
      completed = rv == 0;
    }
    if (!completed) {
      assert_int_equal(rv, DSB_ERR_NOMEM);
    }
    /* The sessions use |mem|, which lives in this iteration only. */
    stu_pair_free(&f->p);
  }
  assert_true(completed);
  assert_true(i > 3);
}

/* ---- admission limits -----------------------------------------------------
 */

static void test_reject_half_open_limit(void **state) {
  dsb_session_limits *l;
  dsb_session_limits_settings st = {3, 1000, 100, 0};
  uint8_t src[4] = {127, 0, 0, 1};
  int k;

  (void)state;
  assert_int_equal(dsb_session_limits_new(&l, NULL, &st), 0);
  for (k = 0; k < 3; ++k) {
    src[3] = (uint8_t)(k + 1);
    assert_int_equal(dsb_session_limits_admit(l, src, 4, 0), 0);
  }
  src[3] = 9;
  assert_int_equal(dsb_session_limits_admit(l, src, 4, 0),
                   DSB_ERR_SESSION_HALF_OPEN_LIMIT);
  assert_int_equal(dsb_session_limits_half_open(l), 3);
  dsb_session_limits_release(l);
  assert_int_equal(dsb_session_limits_admit(l, src, 4, 0), 0);
  dsb_session_limits_del(l);
}

static void test_reject_rate_limit(void **state) {
  dsb_session_limits *l;
  /* 10 per second, bursts of 3. */
  dsb_session_limits_settings st = {1000, 10, 3, 0};
  uint8_t a[4] = {10, 0, 0, 1}, b[4] = {10, 0, 0, 2};
  dsb_tstamp t0 = 5 * DSB_NS_PER_S;
  int k;

  (void)state;
  assert_int_equal(dsb_session_limits_new(&l, NULL, &st), 0);
  for (k = 0; k < 3; ++k) {
    assert_int_equal(dsb_session_limits_admit(l, a, 4, t0), 0);
  }
  assert_int_equal(dsb_session_limits_admit(l, a, 4, t0),
                   DSB_ERR_SESSION_RATE_LIMITED);
  /* Another source is not affected. */
  assert_int_equal(dsb_session_limits_admit(l, b, 4, t0), 0);
  /* A refused attempt does not count: 100 ms later one more is allowed,
   * then refused again until the next 100 ms. */
  assert_int_equal(dsb_session_limits_admit(l, a, 4, t0 + 100 * DSB_NS_PER_MS),
                   0);
  assert_int_equal(dsb_session_limits_admit(l, a, 4, t0 + 100 * DSB_NS_PER_MS),
                   DSB_ERR_SESSION_RATE_LIMITED);
  /* Idle for a second: a full burst again. */
  for (k = 0; k < 3; ++k) {
    assert_int_equal(dsb_session_limits_admit(l, a, 4, t0 + 2 * DSB_NS_PER_S),
                     0);
  }
  assert_int_equal(dsb_session_limits_admit(l, a, 4, t0 + 2 * DSB_NS_PER_S),
                   DSB_ERR_SESSION_RATE_LIMITED);
  assert_int_equal(dsb_session_limits_admit(l, a, 0, t0),
                   DSB_ERR_INVALID_ARGUMENT);
  assert_int_equal(dsb_session_limits_admit(l, a, 17, t0),
                   DSB_ERR_INVALID_ARGUMENT);
  dsb_session_limits_del(l);
}

/* The source table is bounded; an idle source's slot is reused. */
static void test_rate_limit_table_bounded(void **state) {
  dsb_session_limits *l;
  dsb_session_limits_settings st = {100000, 1, 1, 4};
  uint8_t src[16] = {0};
  uint32_t k;

  (void)state;
  assert_int_equal(dsb_session_limits_new(&l, NULL, &st), 0);
  for (k = 0; k < 1000; ++k) {
    memcpy(src, &k, sizeof(k));
    assert_int_equal(dsb_session_limits_admit(l, src, 16, k * DSB_NS_PER_S), 0);
  }
  /* The most recent source is still tracked and limited. */
  k = 999;
  memcpy(src, &k, sizeof(k));
  assert_int_equal(dsb_session_limits_admit(l, src, 16, 999 * DSB_NS_PER_S),
                   DSB_ERR_SESSION_RATE_LIMITED);
  dsb_session_limits_del(l);
}

int main(void) {
  const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
      T(test_handshake_establishes),
      T(test_handshake_message_sizes),
      T(test_handshake_one_byte_reads),
      T(test_write_handshake_nobuf_keeps_state),
      T(test_handshake_with_proof_cache),
      T(test_round_trip_both_ways),
      T(test_round_trip_one_byte_reads),
      T(test_round_trip_every_split),
      T(test_seal_open_in_place),
      T(test_reject_seal_overlapping_buffers),
      T(test_reject_seal_before_established),
      T(test_rekey_boundary_crossed),
      T(test_reject_rekey_out_of_step),
      T(test_reject_nonce_exhausted),
      T(test_reject_bad_tag),
      T(test_reject_bad_tag_one_shot_open),
      T(test_reject_truncated_record),
      T(test_clean_eof_between_records),
      T(test_reject_trailing_bytes_one_shot_open),
      T(test_reject_record_oversize),
      T(test_reject_record_undersize),
      T(test_reject_bad_settings),
      T(test_reject_msg1_every_bit_flip),
      T(test_reject_msg2_every_bit_flip),
      T(test_reject_msg3_every_bit_flip),
      T(test_reject_replayed_handshake_to_fresh_responder),
      T(test_reject_replayed_msg2_to_fresh_initiator),
      T(test_reject_message_out_of_turn),
      T(test_reject_bytes_before_message1),
      T(test_reject_unknown_version),
      T(test_reject_other_prologue),
      T(test_reject_identity_mismatch),
      T(test_reject_proof_of_other_static_key),
      T(test_reject_cert_signed_by_other_device_key),
      T(test_reject_cert_over_other_static_key),
      T(test_reject_initiator_bad_cert),
      T(test_reject_initiator_proof_of_other_key),
      T(test_reject_blocked_device),
      T(test_reject_unknown_device),
      T(test_reject_callback_failure),
      T(test_reject_handshake_timeout),
      T(test_no_timeout_once_established),
      T(test_reject_peer_left_during_handshake),
      T(test_close_wipes_and_refuses),
      T(test_failing_allocator),
      T(test_reject_half_open_limit),
      T(test_reject_rate_limit),
      T(test_rate_limit_table_bounded),
#undef T
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
