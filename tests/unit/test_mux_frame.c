/*
 * test_mux_frame.c - the mux v2 frame codec: the golden vectors of
 * tests/vectors/mux_frames.txt (every frame type, docs/PROTOCOL.md "Streams
 * (mux v2)") both ways, and every malformed shape rejected with its code.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dsb/err.h"
#include "dsb/mux.h"
#include "vector_file.h"

/* Golden vector files: tests/support/vector_file.h. */

/* The frame a vector describes; |name| and |data| hold its byte strings. */
static dsb_mux_frame vec_frame(vec *v, uint8_t *name, uint8_t *data) {
  dsb_mux_frame fr;
  memset(&fr, 0, sizeof(fr));
  fr.type = (uint8_t)vec_u64(v, "type");
  fr.flags = (uint8_t)vec_u64(v, "flags");
  fr.stream_id = (uint32_t)vec_u64(v, "stream_id");
  switch (fr.type) {
  case DSB_MUX_FRAME_OPEN: {
    const char *s = vec_str(v, "name");
    fr.priority = (uint8_t)vec_u64(v, "priority");
    fr.mode = (uint8_t)vec_u64(v, "mode");
    fr.window = (uint32_t)vec_u64(v, "window");
    fr.max_message = (uint32_t)vec_u64(v, "max_message");
    fr.namelen = strlen(s);
    assert_true(fr.namelen <= DSB_MUX_NAME_MAX);
    memcpy(name, s, fr.namelen);
    fr.name = name;
    break;
  }
  case DSB_MUX_FRAME_OPEN_ACK:
    fr.window = (uint32_t)vec_u64(v, "window");
    fr.max_message = (uint32_t)vec_u64(v, "max_message");
    break;
  case DSB_MUX_FRAME_DATA:
    fr.datalen = vec_hex(v, "data_hex", data, VEC_BYTES);
    fr.data = data;
    break;
  case DSB_MUX_FRAME_WINDOW_UPDATE:
    fr.increment = (uint32_t)vec_u64(v, "increment");
    break;
  case DSB_MUX_FRAME_RST:
    fr.code = (uint32_t)vec_u64(v, "code");
    break;
  case DSB_MUX_FRAME_PING:
  case DSB_MUX_FRAME_PONG:
    fr.opaque = vec_u64(v, "opaque");
    break;
  case DSB_MUX_FRAME_CLOSE:
    break;
  default:
    fail_msg("vector %s: unknown type", v->name);
  }
  vec_all_used(v);
  return fr;
}

/* Every field of the decoded frame |got| equals the vector's |want|. */
static void frame_equal(const dsb_mux_frame *got, const dsb_mux_frame *want) {
  assert_int_equal(got->version, 0x02);
  assert_int_equal(got->type, want->type);
  assert_int_equal(got->flags, want->flags);
  assert_int_equal(got->stream_id, want->stream_id);
  assert_int_equal(got->priority, want->priority);
  assert_int_equal(got->mode, want->mode);
  assert_int_equal(got->window, want->window);
  assert_int_equal(got->max_message, want->max_message);
  assert_int_equal(got->namelen, want->namelen);
  if (want->namelen) {
    assert_memory_equal(got->name, want->name, want->namelen);
  }
  assert_int_equal(got->datalen, want->datalen);
  if (want->datalen) {
    assert_memory_equal(got->data, want->data, want->datalen);
  }
  assert_int_equal(got->increment, want->increment);
  assert_int_equal(got->code, want->code);
  assert_true(got->opaque == want->opaque);
}

/* tests/vectors/mux_frames.txt, every frame type: decode(bytes) gives the
 * fields, encode(fields) gives exactly the bytes; one byte less of buffer
 * is NOBUF and every truncation is malformed. */
static void test_golden_vectors_file(void **state) {
  (void)state;
  static uint8_t name[VEC_BYTES], data[VEC_BYTES], buf[VEC_BYTES];
  size_t n = vec_load("mux_frames.txt");
  unsigned types = 0;
  assert_int_equal(n, 15);
  for (size_t i = 0; i < n; ++i) {
    vec *v = &vecs[i];
    dsb_mux_frame want = vec_frame(v, name, data), got;
    long len = (long)v->nbytes;

    assert_int_equal(dsb_mux_frame_len(&want), v->nbytes);
    assert_int_equal(dsb_mux_frame_encode(buf, sizeof(buf), &want), len);
    assert_memory_equal(buf, v->bytes, v->nbytes);
    assert_int_equal(dsb_mux_frame_encode(buf, v->nbytes - 1, &want),
                     DSB_ERR_NOBUF);

    memset(&got, 0xa5, sizeof(got)); /* every field must be written */
    assert_int_equal(dsb_mux_frame_decode(&got, v->bytes, v->nbytes), len);
    frame_equal(&got, &want);
    for (size_t cut = 0; cut < v->nbytes; ++cut) {
      assert_int_equal(dsb_mux_frame_decode(&got, v->bytes, cut),
                       DSB_ERR_MUX_MALFORMED);
    }
    types |= 1u << want.type;
  }
  assert_int_equal(types, 0x1feu); /* OPEN (1) .. CLOSE (8) */
}

static void test_max_payload_accepted(void **state) {
  static uint8_t buf[DSB_MUX_FRAME_HEADER_LEN + DSB_MUX_MAX_FRAME_PAYLOAD];
  dsb_mux_frame fr = {0}, out;
  (void)state;
  fr.type = DSB_MUX_FRAME_DATA;
  fr.stream_id = 1;
  fr.data = buf + DSB_MUX_FRAME_HEADER_LEN; /* contents do not matter */
  fr.datalen = DSB_MUX_MAX_FRAME_PAYLOAD;
  static uint8_t enc[sizeof(buf)];
  assert_int_equal(dsb_mux_frame_encode(enc, sizeof(enc), &fr),
                   (long)sizeof(enc));
  assert_int_equal(dsb_mux_frame_decode(&out, enc, sizeof(enc)),
                   (long)sizeof(enc));
  fr.datalen++;
  assert_int_equal(dsb_mux_frame_encode(enc, sizeof(enc), &fr),
                   DSB_ERR_INVALID_ARGUMENT);
}

static void test_decode_stops_at_one_frame(void **state) {
  (void)state;
  const uint8_t two[] = {0x02, 0x08, 0, 0, 0, 0, 1, 0, 0,
                         0x02, 0x08, 0, 0, 0, 0, 3, 0, 0};
  dsb_mux_frame out;
  assert_int_equal(dsb_mux_frame_decode(&out, two, sizeof(two)), 9);
  assert_int_equal(out.stream_id, 1);
}

static void expect(const uint8_t *in, size_t len, long err) {
  dsb_mux_frame out;
  assert_int_equal(dsb_mux_frame_decode(&out, in, len), err);
}

static void test_reject_frame_oversize(void **state) {
  (void)state;
  const uint8_t big[] = {0x02, 0x03, 0, 0, 0, 0, 1, 0x80, 0x01};
  const uint8_t huge[] = {0x02, 0x05, 0, 0, 0, 0, 1, 0xff, 0xff};
  expect(big, sizeof(big), DSB_ERR_MUX_FRAME_OVERSIZE);
  expect(huge, sizeof(huge), DSB_ERR_MUX_FRAME_OVERSIZE);
}

static void test_reject_unknown_version(void **state) {
  (void)state;
  const uint8_t v1[] = {0x01, 0x08, 0, 0, 0, 0, 1, 0, 0};
  const uint8_t v3[] = {0x03, 0x08, 0, 0, 0, 0, 1, 0, 0};
  expect(v1, sizeof(v1), DSB_ERR_MUX_VERSION);
  expect(v3, sizeof(v3), DSB_ERR_MUX_VERSION);
}

static void test_reject_malformed_frame(void **state) {
  (void)state;
  /* unknown types */
  const uint8_t t0[] = {0x02, 0x00, 0, 0, 0, 0, 1, 0, 0};
  const uint8_t t9[] = {0x02, 0x09, 0, 0, 0, 0, 1, 0, 0};
  expect(t0, sizeof(t0), DSB_ERR_MUX_MALFORMED);
  expect(t9, sizeof(t9), DSB_ERR_MUX_MALFORMED);
  /* flags where none are defined; unknown DATA flag */
  const uint8_t cflag[] = {0x02, 0x08, 0x01, 0, 0, 0, 1, 0, 0};
  const uint8_t dflag[] = {0x02, 0x03, 0x02, 0, 0, 0, 1, 0, 1, 'x'};
  expect(cflag, sizeof(cflag), DSB_ERR_MUX_MALFORMED);
  expect(dflag, sizeof(dflag), DSB_ERR_MUX_MALFORMED);
  /* stream id 0 where a stream is needed; PING on a stream */
  const uint8_t d0[] = {0x02, 0x03, 0x01, 0, 0, 0, 0, 0, 1, 'x'};
  const uint8_t p1[] = {0x02, 0x06, 0, 0, 0, 0, 1, 0, 8,
                        0,    0,    0, 0, 0, 0, 0, 0};
  expect(d0, sizeof(d0), DSB_ERR_MUX_MALFORMED);
  expect(p1, sizeof(p1), DSB_ERR_MUX_MALFORMED);
  /* empty DATA */
  const uint8_t d_empty[] = {0x02, 0x03, 0x01, 0, 0, 0, 1, 0, 0};
  expect(d_empty, sizeof(d_empty), DSB_ERR_MUX_MALFORMED);
  /* wrong fixed lengths */
  const uint8_t wu3[] = {0x02, 0x04, 0, 0, 0, 0, 0, 0, 3, 0, 0, 1};
  const uint8_t close1[] = {0x02, 0x08, 0, 0, 0, 0, 1, 0, 1, 0};
  expect(wu3, sizeof(wu3), DSB_ERR_MUX_MALFORMED);
  expect(close1, sizeof(close1), DSB_ERR_MUX_MALFORMED);
  /* WINDOW_UPDATE of 0 and above 2^31-1 */
  const uint8_t wu0[] = {0x02, 0x04, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0};
  const uint8_t wuh[] = {0x02, 0x04, 0, 0, 0, 0, 0, 0, 4, 0x80, 0, 0, 0};
  expect(wu0, sizeof(wu0), DSB_ERR_MUX_MALFORMED);
  expect(wuh, sizeof(wuh), DSB_ERR_MUX_MALFORMED);
  /* OPEN: namelen disagreeing with length, priority 8, mode 2, window
   * below the minimum */
  const uint8_t o_len[] = {0x02, 0x01, 0, 0, 0, 0, 1, 0, 12, 0,  0,
                           0,    1,    0, 0, 0, 0, 0, 0, 2,  'a'};
  const uint8_t o_pri[] = {0x02, 0x01, 0, 0, 0, 0, 1, 0, 12, 8,  0,
                           0,    1,    0, 0, 0, 0, 0, 0, 1,  'a'};
  const uint8_t o_mode[] = {0x02, 0x01, 0, 0, 0, 0, 1, 0, 12, 0,  2,
                            0,    1,    0, 0, 0, 0, 0, 0, 1,  'a'};
  const uint8_t o_win[] = {0x02, 0x01, 0,    0,    0, 0, 1, 0, 12, 0,  0,
                           0,    0,    0x03, 0xff, 0, 0, 0, 0, 1,  'a'};
  expect(o_len, sizeof(o_len), DSB_ERR_MUX_MALFORMED);
  expect(o_pri, sizeof(o_pri), DSB_ERR_MUX_MALFORMED);
  expect(o_mode, sizeof(o_mode), DSB_ERR_MUX_MALFORMED);
  expect(o_win, sizeof(o_win), DSB_ERR_MUX_MALFORMED);
  /* OPEN_ACK with max_message above 2^31-1 */
  const uint8_t ack[] = {0x02, 0x02, 0, 0, 0,    0, 1, 0, 8,
                         0,    1,    0, 0, 0x80, 0, 0, 0};
  expect(ack, sizeof(ack), DSB_ERR_MUX_MALFORMED);
  /* short header */
  expect(t9, 8, DSB_ERR_MUX_MALFORMED);
  expect(t9, 0, DSB_ERR_MUX_MALFORMED);
}

static void test_names(void **state) {
  (void)state;
  char n64[DSB_MUX_NAME_MAX + 1];
  memset(n64, 'a', sizeof(n64));
  assert_true(dsb_mux_name_valid("dsb.rpc", 7));
  assert_true(dsb_mux_name_valid("A-z_0.9/:@+", 11));
  assert_true(dsb_mux_name_valid(n64, DSB_MUX_NAME_MAX));
  assert_false(dsb_mux_name_valid(n64, DSB_MUX_NAME_MAX + 1));
  assert_false(dsb_mux_name_valid("", 0));
  assert_false(dsb_mux_name_valid("a b", 3));
  assert_false(dsb_mux_name_valid("a\0b", 3));
  assert_false(dsb_mux_name_valid("\xc3\xa9", 2));
  assert_false(dsb_mux_name_valid(NULL, 1));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_golden_vectors_file),
      cmocka_unit_test(test_max_payload_accepted),
      cmocka_unit_test(test_decode_stops_at_one_frame),
      cmocka_unit_test(test_reject_frame_oversize),
      cmocka_unit_test(test_reject_unknown_version),
      cmocka_unit_test(test_reject_malformed_frame),
      cmocka_unit_test(test_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
