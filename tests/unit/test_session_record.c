/*
 * test_session_record.c - the incremental record reader (framing only)
 * and the handshake payload codec of the session core.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/session_internal.h"
#include "dsb/err.h"
#include "dsb/wire.h"

#define CAP 1024

/* A stream of frames with bodies of the given lengths; body byte j of
 * frame i is (i * 31 + j) & 0xff. */
static size_t build_stream(uint8_t *out, const size_t *lens, size_t n) {
  size_t off = 0, i, j;

  for (i = 0; i < n; ++i) {
    dsb_wire_put_u16be(out + off, (uint16_t)lens[i]);
    off += 2;
    for (j = 0; j < lens[i]; ++j) {
      out[off++] = (uint8_t)(i * 31 + j);
    }
  }
  return off;
}

static void check_body(const uint8_t *body, size_t len, size_t i) {
  size_t j;
  for (j = 0; j < len; ++j) {
    assert_int_equal(body[j], (uint8_t)(i * 31 + j));
  }
}

/* Feed |stream| in pieces of |chunk| and check every frame comes out. */
static void feed_all(const uint8_t *stream, size_t len, const size_t *lens,
                     size_t n, size_t chunk) {
  uint8_t buf[CAP];
  dsb_record_reader r;
  size_t off = 0, got = 0;

  dsb_record_reader_init(&r, buf, sizeof(buf));
  while (off < len) {
    size_t piece = len - off < chunk ? len - off : chunk;
    size_t used_total = 0;
    while (used_total < piece) {
      const uint8_t *body;
      size_t bodylen;
      int in_buf;
      long used =
          dsb_record_reader_feed(&r, stream + off + used_total,
                                 piece - used_total, &body, &bodylen, &in_buf);
      assert_true(used > 0);
      used_total += (size_t)used;
      if (body) {
        assert_true(got < n);
        assert_int_equal(bodylen, lens[got]);
        check_body(body, bodylen, got);
        if (!in_buf) {
          /* Zero copy: the body points into the input. */
          assert_true(body >= stream && body + bodylen <= stream + len);
        } else {
          assert_ptr_equal(body, buf);
        }
        ++got;
      }
    }
    off += piece;
  }
  assert_int_equal(got, n);
  assert_int_equal(dsb_record_reader_partial(&r), 0);
}

static void test_reader_whole_frames(void **state) {
  static const size_t lens[] = {16, 0, 300, 1, CAP};
  uint8_t stream[2 * 5 + 16 + 300 + 1 + CAP];
  size_t len = build_stream(stream, lens, 5);

  (void)state;
  feed_all(stream, len, lens, 5, len);
}

static void test_reader_one_byte_at_a_time(void **state) {
  static const size_t lens[] = {16, 0, 300, 1, CAP};
  uint8_t stream[2 * 5 + 16 + 300 + 1 + CAP];
  size_t len = build_stream(stream, lens, 5);

  (void)state;
  feed_all(stream, len, lens, 5, 1);
}

static void test_reader_every_chunk_size(void **state) {
  static const size_t lens[] = {40, 17, 100, 3};
  uint8_t stream[2 * 4 + 160];
  size_t len = build_stream(stream, lens, 4);
  size_t chunk;

  (void)state;
  for (chunk = 1; chunk <= len; ++chunk) {
    feed_all(stream, len, lens, 4, chunk);
  }
}

static void test_reject_reader_oversize(void **state) {
  uint8_t buf[CAP];
  uint8_t hdr[2];
  dsb_record_reader r;
  const uint8_t *body;
  size_t bodylen;
  int in_buf;

  (void)state;
  dsb_record_reader_init(&r, buf, sizeof(buf));
  dsb_record_reader_set_limits(&r, 16, 100);
  dsb_wire_put_u16be(hdr, 101);
  /* The first header byte alone decides nothing. */
  assert_int_equal(dsb_record_reader_feed(&r, hdr, 1, &body, &bodylen, &in_buf),
                   1);
  assert_null(body);
  assert_int_equal(
      dsb_record_reader_feed(&r, hdr + 1, 1, &body, &bodylen, &in_buf),
      DSB_ERR_SESSION_RECORD_OVERSIZE);
  /* The limit cannot exceed the buffer. */
  dsb_record_reader_init(&r, buf, 50);
  dsb_record_reader_set_limits(&r, 0, 65535);
  dsb_wire_put_u16be(hdr, 51);
  assert_int_equal(dsb_record_reader_feed(&r, hdr, 2, &body, &bodylen, &in_buf),
                   DSB_ERR_SESSION_RECORD_OVERSIZE);
  dsb_wire_put_u16be(hdr, 0xffff);
  dsb_record_reader_init(&r, buf, sizeof(buf));
  assert_int_equal(dsb_record_reader_feed(&r, hdr, 2, &body, &bodylen, &in_buf),
                   DSB_ERR_SESSION_RECORD_OVERSIZE);
}

static void test_reject_reader_undersize(void **state) {
  uint8_t buf[CAP];
  uint8_t hdr[2];
  dsb_record_reader r;
  const uint8_t *body;
  size_t bodylen;
  int in_buf;

  (void)state;
  dsb_record_reader_init(&r, buf, sizeof(buf));
  dsb_record_reader_set_limits(&r, 16, 100);
  dsb_wire_put_u16be(hdr, 15);
  assert_int_equal(dsb_record_reader_feed(&r, hdr, 2, &body, &bodylen, &in_buf),
                   DSB_ERR_SESSION_RECORD_UNDERSIZE);
}

static void test_reader_partial_state(void **state) {
  uint8_t buf[CAP];
  uint8_t stream[2 + 20];
  static const size_t lens[] = {20};
  dsb_record_reader r;
  const uint8_t *body;
  size_t bodylen;
  int in_buf;

  (void)state;
  build_stream(stream, lens, 1);
  dsb_record_reader_init(&r, buf, sizeof(buf));
  assert_int_equal(dsb_record_reader_partial(&r), 0);
  assert_int_equal(
      dsb_record_reader_feed(&r, stream, 1, &body, &bodylen, &in_buf), 1);
  assert_int_equal(dsb_record_reader_partial(&r), 1);
  assert_int_equal(
      dsb_record_reader_feed(&r, stream + 1, 10, &body, &bodylen, &in_buf), 10);
  assert_int_equal(dsb_record_reader_partial(&r), 1);
  assert_int_equal(
      dsb_record_reader_feed(&r, stream + 11, 11, &body, &bodylen, &in_buf),
      11);
  assert_non_null(body);
  assert_int_equal(in_buf, 1);
  assert_int_equal(dsb_record_reader_partial(&r), 0);
}

/* ---- payload codec ----------------------------------------------------------
 */

static void test_payload_round_trip(void **state) {
  dsb_identity_proof p, q;
  uint8_t buf[DSB_SESSION_PROOF_PAYLOAD_LEN + 10];
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(p.ed_pk); ++i) {
    p.ed_pk[i] = (uint8_t)i;
    p.static_pk[i] = (uint8_t)(100 + i);
  }
  for (i = 0; i < sizeof(p.cert); ++i) {
    p.cert[i] = (uint8_t)(200 + i);
  }
  assert_int_equal(dsb_session_proof_encode(buf, sizeof(buf), &p), 129);
  assert_int_equal(buf[0], DSB_SESSION_VERSION);
  assert_memory_equal(buf + 1, p.ed_pk, 32);
  assert_memory_equal(buf + 33, p.static_pk, 32);
  assert_memory_equal(buf + 65, p.cert, 64);
  assert_int_equal(dsb_session_proof_decode(&q, buf, 129), 0);
  assert_memory_equal(&p, &q, sizeof(p));
  assert_int_equal(dsb_session_proof_encode(buf, 128, &p), DSB_ERR_NOBUF);

  assert_int_equal(dsb_session_hello_encode(buf, sizeof(buf)), 1);
  assert_int_equal(buf[0], 1);
  assert_int_equal(dsb_session_hello_decode(buf, 1), 0);
  assert_int_equal(dsb_session_hello_encode(buf, 0), DSB_ERR_NOBUF);
}

static void test_reject_payload_bad_version(void **state) {
  uint8_t buf[DSB_SESSION_PROOF_PAYLOAD_LEN] = {0};
  dsb_identity_proof q;

  (void)state;
  buf[0] = 2;
  assert_int_equal(dsb_session_proof_decode(&q, buf, sizeof(buf)),
                   DSB_ERR_SESSION_VERSION);
  assert_int_equal(dsb_session_hello_decode(buf, 1), DSB_ERR_SESSION_VERSION);
  buf[0] = 0;
  assert_int_equal(dsb_session_hello_decode(buf, 1), DSB_ERR_SESSION_VERSION);
}

static void test_reject_payload_truncated(void **state) {
  uint8_t buf[DSB_SESSION_PROOF_PAYLOAD_LEN] = {DSB_SESSION_VERSION};
  dsb_identity_proof q;
  size_t len;

  (void)state;
  for (len = 0; len < sizeof(buf); ++len) {
    assert_int_equal(dsb_session_proof_decode(&q, buf, len),
                     DSB_ERR_SESSION_BAD_PAYLOAD);
  }
  assert_int_equal(dsb_session_hello_decode(buf, 0),
                   DSB_ERR_SESSION_BAD_PAYLOAD);
}

static void test_reject_payload_trailing_bytes(void **state) {
  uint8_t buf[DSB_SESSION_PROOF_PAYLOAD_LEN + 1] = {DSB_SESSION_VERSION};
  dsb_identity_proof q;

  (void)state;
  assert_int_equal(dsb_session_proof_decode(&q, buf, sizeof(buf)),
                   DSB_ERR_SESSION_BAD_PAYLOAD);
  assert_int_equal(dsb_session_hello_decode(buf, 2),
                   DSB_ERR_SESSION_BAD_PAYLOAD);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reader_whole_frames),
      cmocka_unit_test(test_reader_one_byte_at_a_time),
      cmocka_unit_test(test_reader_every_chunk_size),
      cmocka_unit_test(test_reject_reader_oversize),
      cmocka_unit_test(test_reject_reader_undersize),
      cmocka_unit_test(test_reader_partial_state),
      cmocka_unit_test(test_payload_round_trip),
      cmocka_unit_test(test_reject_payload_bad_version),
      cmocka_unit_test(test_reject_payload_truncated),
      cmocka_unit_test(test_reject_payload_trailing_bytes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
