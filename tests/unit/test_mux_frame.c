/*
 * test_mux_frame.c - the mux v2 frame codec: golden bytes for every frame
 * type (docs/PROTOCOL.md "Streams (mux v2)"), round trips, and every
 * malformed shape rejected with its code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "dsb/err.h"
#include "dsb/mux.h"

static void roundtrip(const dsb_mux_frame *fr, const uint8_t *golden,
                      size_t glen) {
  uint8_t buf[128];
  dsb_mux_frame out;
  long n = dsb_mux_frame_encode(buf, sizeof(buf), fr);
  assert_int_equal(n, (long)glen);
  assert_int_equal(dsb_mux_frame_len(fr), glen);
  assert_memory_equal(buf, golden, glen);
  assert_int_equal(dsb_mux_frame_decode(&out, golden, glen), (long)glen);
  assert_int_equal(out.type, fr->type);
  assert_int_equal(out.flags, fr->flags);
  assert_int_equal(out.stream_id, fr->stream_id);
  /* one byte short of the buffer: NOBUF, never a partial frame */
  assert_int_equal(dsb_mux_frame_encode(buf, glen - 1, fr), DSB_ERR_NOBUF);
  /* every truncation is malformed */
  for (size_t cut = 0; cut < glen; ++cut) {
    assert_int_equal(dsb_mux_frame_decode(&out, golden, cut),
                     DSB_ERR_MUX_MALFORMED);
  }
}

static void test_golden_open(void **state) {
  (void)state;
  const uint8_t golden[] = {0x02, 0x01, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00,
                            0x0e, 0x03, 0x01, 0x00, 0x04, 0x00, 0x00, 0x00,
                            0x01, 0x00, 0x00, 0x03, 'r',  'p',  'c'};
  dsb_mux_frame fr = {0};
  fr.type = DSB_MUX_FRAME_OPEN;
  fr.stream_id = 5;
  fr.priority = 3;
  fr.mode = DSB_MUX_MODE_BYTES;
  fr.window = 0x40000;
  fr.max_message = 0x10000;
  fr.name = (const uint8_t *)"rpc";
  fr.namelen = 3;
  roundtrip(&fr, golden, sizeof(golden));
  dsb_mux_frame out;
  assert_int_equal(dsb_mux_frame_decode(&out, golden, sizeof(golden)), 23);
  assert_int_equal(out.priority, 3);
  assert_int_equal(out.mode, DSB_MUX_MODE_BYTES);
  assert_int_equal(out.window, 0x40000);
  assert_int_equal(out.max_message, 0x10000);
  assert_int_equal(out.namelen, 3);
  assert_memory_equal(out.name, "rpc", 3);
}

static void test_golden_open_ack(void **state) {
  (void)state;
  const uint8_t golden[] = {0x02, 0x02, 0x00, 0x00, 0x00, 0x00,
                            0x06, 0x00, 0x08, 0x00, 0x04, 0x00,
                            0x00, 0x00, 0x04, 0x00, 0x00};
  dsb_mux_frame fr = {0};
  fr.type = DSB_MUX_FRAME_OPEN_ACK;
  fr.stream_id = 6;
  fr.window = 0x40000;
  fr.max_message = 0x40000;
  roundtrip(&fr, golden, sizeof(golden));
}

static void test_golden_data(void **state) {
  (void)state;
  const uint8_t golden[] = {0x02, 0x03, 0x01, 0x00, 0x00, 0x01,
                            0x01, 0x00, 0x03, 'a',  'b',  'c'};
  dsb_mux_frame fr = {0}, out;
  fr.type = DSB_MUX_FRAME_DATA;
  fr.flags = DSB_MUX_FLAG_FIN_MESSAGE;
  fr.stream_id = 257;
  fr.data = (const uint8_t *)"abc";
  fr.datalen = 3;
  roundtrip(&fr, golden, sizeof(golden));
  assert_int_equal(dsb_mux_frame_decode(&out, golden, sizeof(golden)), 12);
  assert_int_equal(out.datalen, 3);
  assert_memory_equal(out.data, "abc", 3);
}

static void test_golden_control_frames(void **state) {
  (void)state;
  const uint8_t wu[] = {0x02, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00,
                        0x00, 0x04, 0x00, 0x7c, 0x00, 0x00};
  const uint8_t rst[] = {0x02, 0x05, 0x00, 0x00, 0x00, 0x00, 0x07,
                         0x00, 0x04, 0x00, 0x00, 0x01, 0x00};
  const uint8_t ping[] = {0x02, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08,
                          0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a};
  const uint8_t pong[] = {0x02, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08,
                          0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a};
  const uint8_t close[] = {0x02, 0x08, 0x00, 0x00, 0x00,
                           0x00, 0x09, 0x00, 0x00};
  dsb_mux_frame fr = {0};
  fr.type = DSB_MUX_FRAME_WINDOW_UPDATE;
  fr.increment = 0x7c0000;
  roundtrip(&fr, wu, sizeof(wu));
  memset(&fr, 0, sizeof(fr));
  fr.type = DSB_MUX_FRAME_RST;
  fr.stream_id = 7;
  fr.code = DSB_MUX_RST_APP_BASE;
  roundtrip(&fr, rst, sizeof(rst));
  memset(&fr, 0, sizeof(fr));
  fr.type = DSB_MUX_FRAME_PING;
  fr.opaque = 42;
  roundtrip(&fr, ping, sizeof(ping));
  fr.type = DSB_MUX_FRAME_PONG;
  roundtrip(&fr, pong, sizeof(pong));
  memset(&fr, 0, sizeof(fr));
  fr.type = DSB_MUX_FRAME_CLOSE;
  fr.stream_id = 9;
  assert_int_equal(dsb_mux_frame_len(&fr), 9);
  uint8_t buf[16];
  assert_int_equal(dsb_mux_frame_encode(buf, sizeof(buf), &fr), 9);
  assert_memory_equal(buf, close, 9);
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
      cmocka_unit_test(test_golden_open),
      cmocka_unit_test(test_golden_open_ack),
      cmocka_unit_test(test_golden_data),
      cmocka_unit_test(test_golden_control_frames),
      cmocka_unit_test(test_max_payload_accepted),
      cmocka_unit_test(test_decode_stops_at_one_frame),
      cmocka_unit_test(test_reject_frame_oversize),
      cmocka_unit_test(test_reject_unknown_version),
      cmocka_unit_test(test_reject_malformed_frame),
      cmocka_unit_test(test_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
