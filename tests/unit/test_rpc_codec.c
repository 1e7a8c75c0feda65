/* test_rpc_codec.c - call/reply frames: layout, limits, strict decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <json-c/json.h>

#include "dsb/err.h"
#include "dsb/rpc.h"

/* docs/PROTOCOL.md "Remote calls": echo/echo "hi", nonce 0x0102..08. */
static const uint8_t golden_call[] = {
    0x01, 0x01, 0x04, 'e', 'c', 'h',  'o',  0x04, 'e',  'c',  'h',  'o',  0x00,
    0x00, 0x00, 0x02, 'h', 'i', 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};
static const uint8_t golden_reply[] = {0x01, 0x81, 0x00, 0x00, 0x00, 0x00,
                                       0x02, 'h',  'i',  0x01, 0x02, 0x03,
                                       0x04, 0x05, 0x06, 0x07, 0x08};

static dsb_rpc_call mkcall(const char *svc, const char *meth,
                           const uint8_t *payload, size_t payloadlen,
                           uint64_t nonce) {
  dsb_rpc_call c = {svc,     strlen(svc), meth, strlen(meth),
                    payload, payloadlen,  nonce};
  return c;
}

static void test_call_golden_bytes(void **state) {
  (void)state;
  uint8_t buf[64];
  dsb_rpc_call c =
      mkcall("echo", "echo", (const uint8_t *)"hi", 2, 0x0102030405060708);
  long n = dsb_rpc_call_encode(buf, sizeof(buf), &c, NULL);
  assert_int_equal(n, sizeof(golden_call));
  assert_memory_equal(buf, golden_call, sizeof(golden_call));
  assert_int_equal(dsb_rpc_call_encoded_len(&c), sizeof(golden_call));

  dsb_rpc_msg m;
  assert_int_equal(dsb_rpc_decode(&m, golden_call, sizeof(golden_call), NULL),
                   0);
  assert_int_equal(m.op, DSB_RPC_OP_CALL);
  assert_int_equal(m.call.servicelen, 4);
  assert_memory_equal(m.call.service, "echo", 4);
  assert_int_equal(m.call.methodlen, 4);
  assert_memory_equal(m.call.method, "echo", 4);
  assert_int_equal(m.call.payloadlen, 2);
  assert_memory_equal(m.call.payload, "hi", 2);
  assert_true(m.call.nonce == UINT64_C(0x0102030405060708));
  /* Views borrow the input. */
  assert_ptr_equal(m.call.payload, golden_call + 16);
}

static void test_reply_golden_bytes(void **state) {
  (void)state;
  uint8_t buf[64];
  dsb_rpc_reply r = {DSB_RPC_OK, (const uint8_t *)"hi", 2,
                     UINT64_C(0x0102030405060708)};
  long n = dsb_rpc_reply_encode(buf, sizeof(buf), &r, NULL);
  assert_int_equal(n, sizeof(golden_reply));
  assert_memory_equal(buf, golden_reply, sizeof(golden_reply));

  dsb_rpc_msg m;
  assert_int_equal(dsb_rpc_decode(&m, golden_reply, sizeof(golden_reply), NULL),
                   0);
  assert_int_equal(m.op, DSB_RPC_OP_REPLY);
  assert_int_equal(m.reply.status, DSB_RPC_OK);
  assert_int_equal(m.reply.payloadlen, 2);
  assert_memory_equal(m.reply.payload, "hi", 2);
  assert_true(m.reply.nonce == UINT64_C(0x0102030405060708));
}

static size_t hex_decode(uint8_t *out, size_t outlen, const char *hex) {
  size_t n = strlen(hex) / 2;
  assert_true(n <= outlen);
  for (size_t i = 0; i < n; ++i) {
    unsigned v;
    assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
    out[i] = (uint8_t)v;
  }
  return n;
}

static const char *jstr(json_object *o, const char *key) {
  json_object *v;
  assert_true(json_object_object_get_ex(o, key, &v));
  return json_object_get_string(v);
}

/* tests/vectors/rpc/frames.json: encode and decode agree with every vector. */
static void test_golden_vectors_file(void **state) {
  (void)state;
  const char *src = getenv("DSB_SOURCE_DIR");
  char path[4096];
  if (!src) {
    skip();
  }
  snprintf(path, sizeof(path), "%s/tests/vectors/rpc/frames.json", src);
  json_object *root = json_object_from_file(path);
  assert_non_null(root);
  json_object *vecs;
  assert_true(json_object_object_get_ex(root, "vectors", &vecs));
  size_t nv = json_object_array_length(vecs);
  assert_true(nv >= 6);
  static uint8_t frame[2048], payload[1024], out[2048];
  for (size_t i = 0; i < nv; ++i) {
    json_object *v = json_object_array_get_idx(vecs, i);
    size_t flen = hex_decode(frame, sizeof(frame), jstr(v, "frame_hex"));
    size_t plen = hex_decode(payload, sizeof(payload), jstr(v, "payload_hex"));
    uint64_t nonce = strtoull(jstr(v, "nonce"), NULL, 16);
    dsb_rpc_msg m;
    long n;
    assert_int_equal(dsb_rpc_decode(&m, frame, flen, NULL), 0);
    if (strcmp(jstr(v, "op"), "call") == 0) {
      dsb_rpc_call c =
          mkcall(jstr(v, "service"), jstr(v, "method"), payload, plen, nonce);
      n = dsb_rpc_call_encode(out, sizeof(out), &c, NULL);
      assert_int_equal(m.op, DSB_RPC_OP_CALL);
      assert_int_equal(m.call.servicelen, c.servicelen);
      assert_memory_equal(m.call.service, c.service, c.servicelen);
      assert_int_equal(m.call.methodlen, c.methodlen);
      assert_memory_equal(m.call.method, c.method, c.methodlen);
      assert_int_equal(m.call.payloadlen, plen);
      assert_true(m.call.nonce == nonce);
    } else {
      json_object *st;
      assert_true(json_object_object_get_ex(v, "status", &st));
      dsb_rpc_reply r = {(uint8_t)json_object_get_int(st), payload, plen,
                         nonce};
      n = dsb_rpc_reply_encode(out, sizeof(out), &r, NULL);
      assert_int_equal(m.op, DSB_RPC_OP_REPLY);
      assert_int_equal(m.reply.status, r.status);
      assert_int_equal(m.reply.payloadlen, plen);
      assert_true(m.reply.nonce == nonce);
    }
    assert_int_equal(n, (long)flen);
    assert_memory_equal(out, frame, flen);
  }
  json_object_put(root);
}

static void test_empty_payload_and_names_at_max(void **state) {
  (void)state;
  char svc[65], meth[65];
  uint8_t buf[256];
  memset(svc, 'a', 64);
  svc[64] = '\0';
  memset(meth, 'Z', 64);
  meth[64] = '\0';
  dsb_rpc_call c = mkcall(svc, meth, NULL, 0, 0);
  long n = dsb_rpc_call_encode(buf, sizeof(buf), &c, NULL);
  assert_int_equal(n, DSB_RPC_CALL_OVERHEAD + 128);
  dsb_rpc_msg m;
  assert_int_equal(dsb_rpc_decode(&m, buf, (size_t)n, NULL), 0);
  assert_int_equal(m.call.payloadlen, 0);
  assert_null(m.call.payload);
  assert_int_equal(m.call.servicelen, 64);
  assert_int_equal(m.call.methodlen, 64);
}

static void test_limits(void **state) {
  (void)state;
  dsb_rpc_limits l;
  dsb_rpc_limits_default(&l);
  assert_int_equal(l.max_request, 65536);
  assert_int_equal(l.max_reply, 262144);
  assert_int_equal(dsb_rpc_limits_check(&l), 0);
  l.max_reply = 262145;
  assert_int_equal(dsb_rpc_limits_check(&l), DSB_ERR_INVALID_ARGUMENT);
  l.max_reply = 255;
  assert_int_equal(dsb_rpc_limits_check(&l), DSB_ERR_INVALID_ARGUMENT);
  l.max_reply = 256;
  l.max_request = 70000;
  assert_int_equal(dsb_rpc_limits_check(&l), DSB_ERR_INVALID_ARGUMENT);
  l.max_request = 1024;
  assert_int_equal(dsb_rpc_limits_check(&l), 0);
  assert_int_equal(dsb_rpc_call_max_payload(&l, 4, 4), 1024 - 24);
  assert_int_equal(dsb_rpc_reply_max_payload(&l), 256 - 15);
  assert_int_equal(dsb_rpc_reply_max_payload(NULL), 262144 - 15);
  assert_int_equal(dsb_rpc_call_max_payload(NULL, 65, 1), 0);
}

/* A payload that exactly fills the limit passes; one byte more does not. */
static void test_payload_at_limit(void **state) {
  (void)state;
  dsb_rpc_limits l = {1024, 512};
  static uint8_t payload[2048], buf[4096];
  size_t max = dsb_rpc_call_max_payload(&l, 4, 4);
  dsb_rpc_call c = mkcall("echo", "echo", payload, max, 9);
  long n = dsb_rpc_call_encode(buf, sizeof(buf), &c, &l);
  assert_int_equal(n, 1024);
  dsb_rpc_msg m;
  assert_int_equal(dsb_rpc_decode(&m, buf, (size_t)n, &l), 0);

  size_t rmax = dsb_rpc_reply_max_payload(&l);
  dsb_rpc_reply r = {DSB_RPC_OK, payload, rmax, 9};
  n = dsb_rpc_reply_encode(buf, sizeof(buf), &r, &l);
  assert_int_equal(n, 512);
  assert_int_equal(dsb_rpc_decode(&m, buf, (size_t)n, &l), 0);
}

static void test_reject_encode_oversized_request(void **state) {
  (void)state;
  dsb_rpc_limits l = {1024, 512};
  static uint8_t payload[2048], buf[4096];
  dsb_rpc_call c = mkcall("echo", "echo", payload,
                          dsb_rpc_call_max_payload(&l, 4, 4) + 1, 9);
  assert_int_equal(dsb_rpc_call_encode(buf, sizeof(buf), &c, &l),
                   DSB_ERR_PROXY_OVERSIZE);
  dsb_rpc_reply r = {DSB_RPC_OK, payload, dsb_rpc_reply_max_payload(&l) + 1, 9};
  assert_int_equal(dsb_rpc_reply_encode(buf, sizeof(buf), &r, &l),
                   DSB_ERR_PROXY_OVERSIZE);
}

static void test_reject_encode_nobuf(void **state) {
  (void)state;
  uint8_t buf[64];
  dsb_rpc_call c = mkcall("echo", "echo", (const uint8_t *)"hi", 2, 1);
  assert_int_equal(dsb_rpc_call_encode(buf, sizeof(golden_call) - 1, &c, NULL),
                   DSB_ERR_NOBUF);
  dsb_rpc_reply r = {DSB_RPC_OK, (const uint8_t *)"hi", 2, 1};
  assert_int_equal(
      dsb_rpc_reply_encode(buf, sizeof(golden_reply) - 1, &r, NULL),
      DSB_ERR_NOBUF);
}

static void test_reject_encode_invalid_names(void **state) {
  (void)state;
  uint8_t buf[256];
  const char *bad[] = {"", "sp ace", "semi;colon", "*", "sl/ash", "\xc3\xa9"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
    dsb_rpc_call c = mkcall(bad[i], "m", NULL, 0, 1);
    assert_int_equal(dsb_rpc_call_encode(buf, sizeof(buf), &c, NULL),
                     DSB_ERR_INVALID_ARGUMENT);
    c = mkcall("s", bad[i], NULL, 0, 1);
    assert_int_equal(dsb_rpc_call_encode(buf, sizeof(buf), &c, NULL),
                     DSB_ERR_INVALID_ARGUMENT);
  }
  char longname[66];
  memset(longname, 'x', 65);
  longname[65] = '\0';
  dsb_rpc_call c = mkcall(longname, "m", NULL, 0, 1);
  assert_int_equal(dsb_rpc_call_encode(buf, sizeof(buf), &c, NULL),
                   DSB_ERR_INVALID_ARGUMENT);
  dsb_rpc_reply r = {DSB_RPC_STATUS_MAX + 1, NULL, 0, 1};
  assert_int_equal(dsb_rpc_reply_encode(buf, sizeof(buf), &r, NULL),
                   DSB_ERR_INVALID_ARGUMENT);
}

/* Every strict prefix of a valid frame is rejected as malformed. */
static void test_reject_truncated(void **state) {
  (void)state;
  dsb_rpc_msg m;
  for (size_t len = 0; len < sizeof(golden_call); ++len) {
    assert_int_equal(dsb_rpc_decode(&m, golden_call, len, NULL),
                     DSB_ERR_PROXY_MALFORMED);
  }
  for (size_t len = 0; len < sizeof(golden_reply); ++len) {
    assert_int_equal(dsb_rpc_decode(&m, golden_reply, len, NULL),
                     DSB_ERR_PROXY_MALFORMED);
  }
}

static void test_reject_trailing_bytes(void **state) {
  (void)state;
  uint8_t buf[64];
  dsb_rpc_msg m;
  memcpy(buf, golden_call, sizeof(golden_call));
  buf[sizeof(golden_call)] = 0;
  assert_int_equal(dsb_rpc_decode(&m, buf, sizeof(golden_call) + 1, NULL),
                   DSB_ERR_PROXY_MALFORMED);
  memcpy(buf, golden_reply, sizeof(golden_reply));
  buf[sizeof(golden_reply)] = 0;
  assert_int_equal(dsb_rpc_decode(&m, buf, sizeof(golden_reply) + 1, NULL),
                   DSB_ERR_PROXY_MALFORMED);
  /* A payload length shorter than what lies before the nonce. */
  memcpy(buf, golden_call, sizeof(golden_call));
  buf[15] = 1;
  assert_int_equal(dsb_rpc_decode(&m, buf, sizeof(golden_call), NULL),
                   DSB_ERR_PROXY_MALFORMED);
}

static void test_reject_bad_version(void **state) {
  (void)state;
  uint8_t buf[64];
  dsb_rpc_msg m;
  const uint8_t versions[] = {0x00, 0x02, 0x7f, 0xff};
  for (size_t i = 0; i < sizeof(versions); ++i) {
    memcpy(buf, golden_call, sizeof(golden_call));
    buf[0] = versions[i];
    assert_int_equal(dsb_rpc_decode(&m, buf, sizeof(golden_call), NULL),
                     DSB_ERR_PROXY_VERSION);
    memcpy(buf, golden_reply, sizeof(golden_reply));
    buf[0] = versions[i];
    assert_int_equal(dsb_rpc_decode(&m, buf, sizeof(golden_reply), NULL),
                     DSB_ERR_PROXY_VERSION);
  }
  buf[0] = 2;
  assert_int_equal(dsb_rpc_decode(&m, buf, 1, NULL), DSB_ERR_PROXY_VERSION);
}

static void test_reject_unknown_op(void **state) {
  (void)state;
  uint8_t buf[64];
  dsb_rpc_msg m;
  const uint8_t ops[] = {0x00, 0x02, 0x80, 0x82, 0xff};
  for (size_t i = 0; i < sizeof(ops); ++i) {
    memcpy(buf, golden_call, sizeof(golden_call));
    buf[1] = ops[i];
    assert_int_equal(dsb_rpc_decode(&m, buf, sizeof(golden_call), NULL),
                     DSB_ERR_PROXY_MALFORMED);
  }
}

static void test_reject_bad_lengths(void **state) {
  (void)state;
  uint8_t buf[64];
  dsb_rpc_msg m;
  /* Service length 0. */
  memcpy(buf, golden_call, sizeof(golden_call));
  buf[2] = 0;
  assert_int_equal(dsb_rpc_decode(&m, buf, sizeof(golden_call), NULL),
                   DSB_ERR_PROXY_MALFORMED);
  /* Service length beyond the frame, and over 64. */
  buf[2] = 200;
  assert_int_equal(dsb_rpc_decode(&m, buf, sizeof(golden_call), NULL),
                   DSB_ERR_PROXY_MALFORMED);
  /* Method length 0 and beyond the frame. */
  memcpy(buf, golden_call, sizeof(golden_call));
  buf[7] = 0;
  assert_int_equal(dsb_rpc_decode(&m, buf, sizeof(golden_call), NULL),
                   DSB_ERR_PROXY_MALFORMED);
  buf[7] = 30;
  assert_int_equal(dsb_rpc_decode(&m, buf, sizeof(golden_call), NULL),
                   DSB_ERR_PROXY_MALFORMED);
  /* Payload length beyond the frame, and huge. */
  memcpy(buf, golden_call, sizeof(golden_call));
  buf[15] = 3;
  assert_int_equal(dsb_rpc_decode(&m, buf, sizeof(golden_call), NULL),
                   DSB_ERR_PROXY_MALFORMED);
  buf[12] = 0xff;
  assert_int_equal(dsb_rpc_decode(&m, buf, sizeof(golden_call), NULL),
                   DSB_ERR_PROXY_MALFORMED);
  memcpy(buf, golden_reply, sizeof(golden_reply));
  buf[3] = 0x80;
  assert_int_equal(dsb_rpc_decode(&m, buf, sizeof(golden_reply), NULL),
                   DSB_ERR_PROXY_MALFORMED);
  memcpy(buf, golden_reply, sizeof(golden_reply));
  buf[6] = 3;
  assert_int_equal(dsb_rpc_decode(&m, buf, sizeof(golden_reply), NULL),
                   DSB_ERR_PROXY_MALFORMED);
}

static void test_reject_bad_name_characters(void **state) {
  (void)state;
  uint8_t buf[64];
  dsb_rpc_msg m;
  const uint8_t bad[] = {' ', '*', '/', 0x00, 0x0a, 0x7f, 0xc3};
  for (size_t i = 0; i < sizeof(bad); ++i) {
    memcpy(buf, golden_call, sizeof(golden_call));
    buf[4] = bad[i]; /* in the service name */
    assert_int_equal(dsb_rpc_decode(&m, buf, sizeof(golden_call), NULL),
                     DSB_ERR_PROXY_MALFORMED);
    memcpy(buf, golden_call, sizeof(golden_call));
    buf[10] = bad[i]; /* in the method name */
    assert_int_equal(dsb_rpc_decode(&m, buf, sizeof(golden_call), NULL),
                     DSB_ERR_PROXY_MALFORMED);
  }
}

static void test_reject_unknown_status(void **state) {
  (void)state;
  uint8_t buf[64];
  dsb_rpc_msg m;
  memcpy(buf, golden_reply, sizeof(golden_reply));
  buf[2] = DSB_RPC_STATUS_MAX + 1;
  assert_int_equal(dsb_rpc_decode(&m, buf, sizeof(golden_reply), NULL),
                   DSB_ERR_PROXY_MALFORMED);
  buf[2] = 0xff;
  assert_int_equal(dsb_rpc_decode(&m, buf, sizeof(golden_reply), NULL),
                   DSB_ERR_PROXY_MALFORMED);
}

static void test_reject_oversized_request(void **state) {
  (void)state;
  dsb_rpc_limits big, small = {512, 512};
  dsb_rpc_limits_default(&big);
  static uint8_t payload[1024], buf[2048];
  dsb_rpc_call c = mkcall("echo", "echo", payload, 600, 77);
  long n = dsb_rpc_call_encode(buf, sizeof(buf), &c, &big);
  assert_true(n > 512);
  dsb_rpc_msg m;
  /* The receiver's own (smaller) limit decides. */
  assert_int_equal(dsb_rpc_decode(&m, buf, (size_t)n, &small),
                   DSB_ERR_PROXY_OVERSIZE);
  /* Its answer: an oversize reply carrying the caller's nonce. */
  uint8_t rep[64];
  long rn = dsb_rpc_reject_encode(rep, sizeof(rep), buf, (size_t)n,
                                  DSB_ERR_PROXY_OVERSIZE);
  assert_int_equal(rn, DSB_RPC_REPLY_OVERHEAD);
  assert_int_equal(dsb_rpc_decode(&m, rep, (size_t)rn, NULL), 0);
  assert_int_equal(m.reply.status, DSB_RPC_OVERSIZE);
  assert_true(m.reply.nonce == 77);
  assert_int_equal(dsb_rpc_status_to_err(m.reply.status),
                   DSB_ERR_PROXY_OVERSIZE);
}

static void test_reject_oversized_reply(void **state) {
  (void)state;
  dsb_rpc_limits small = {512, 512};
  static uint8_t payload[1024], buf[2048];
  dsb_rpc_reply r = {DSB_RPC_OK, payload, 600, 5};
  long n = dsb_rpc_reply_encode(buf, sizeof(buf), &r, NULL);
  assert_true(n > 512);
  dsb_rpc_msg m;
  assert_int_equal(dsb_rpc_decode(&m, buf, (size_t)n, &small),
                   DSB_ERR_PROXY_OVERSIZE);
  /* The caller still learns which call it was, and never answers a reply. */
  uint8_t op;
  uint64_t nonce;
  assert_int_equal(dsb_rpc_peek(&op, &nonce, buf, (size_t)n), 0);
  assert_int_equal(op, DSB_RPC_OP_REPLY);
  assert_true(nonce == 5);
  uint8_t rep[64];
  assert_int_equal(dsb_rpc_reject_encode(rep, sizeof(rep), buf, (size_t)n,
                                         DSB_ERR_PROXY_OVERSIZE),
                   DSB_ERR_PROXY_MALFORMED);
}

static void test_reject_malformed_call_answered(void **state) {
  (void)state;
  uint8_t buf[64], rep[64];
  dsb_rpc_msg m;
  memcpy(buf, golden_call, sizeof(golden_call));
  buf[4] = ' ';
  int err = dsb_rpc_decode(&m, buf, sizeof(golden_call), NULL);
  assert_int_equal(err, DSB_ERR_PROXY_MALFORMED);
  long rn =
      dsb_rpc_reject_encode(rep, sizeof(rep), buf, sizeof(golden_call), err);
  assert_int_equal(rn, DSB_RPC_REPLY_OVERHEAD);
  assert_int_equal(dsb_rpc_decode(&m, rep, (size_t)rn, NULL), 0);
  assert_int_equal(m.reply.status, DSB_RPC_MALFORMED);
  assert_true(m.reply.nonce == UINT64_C(0x0102030405060708));
  /* Too short to hold a nonce, or a wrong version: nothing to answer. */
  assert_int_equal(dsb_rpc_reject_encode(rep, sizeof(rep), buf, 9, err),
                   DSB_ERR_PROXY_MALFORMED);
  buf[0] = 9;
  assert_int_equal(
      dsb_rpc_reject_encode(rep, sizeof(rep), buf, sizeof(golden_call), err),
      DSB_ERR_PROXY_VERSION);
}

static void test_status_mapping(void **state) {
  (void)state;
  for (uint8_t s = 0; s <= DSB_RPC_STATUS_MAX; ++s) {
    int err = dsb_rpc_status_to_err(s);
    assert_int_equal(dsb_rpc_status_from_err(err), s);
    assert_string_not_equal(dsb_rpc_status_name(s), "invalid");
  }
  assert_int_equal(dsb_rpc_status_to_err(DSB_RPC_DENIED), DSB_ERR_PROXY_DENIED);
  assert_int_equal(dsb_rpc_status_to_err(DSB_RPC_TIMEOUT),
                   DSB_ERR_PROXY_TIMEOUT);
  assert_int_equal(dsb_rpc_status_to_err(200), DSB_ERR_PROXY_MALFORMED);
  assert_int_equal(dsb_rpc_status_from_err(DSB_ERR_NOBUF), DSB_RPC_OVERSIZE);
  assert_int_equal(dsb_rpc_status_from_err(DSB_ERR_NOMEM), DSB_RPC_FAILED);
  assert_string_equal(dsb_rpc_status_name(DSB_RPC_DENIED), "denied");
  assert_string_equal(dsb_rpc_status_name(99), "invalid");
  assert_string_equal(dsb_strerror(DSB_ERR_PROXY_DENIED),
                      "proxy.reject.denied");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_call_golden_bytes),
      cmocka_unit_test(test_reply_golden_bytes),
      cmocka_unit_test(test_golden_vectors_file),
      cmocka_unit_test(test_empty_payload_and_names_at_max),
      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_payload_at_limit),
      cmocka_unit_test(test_reject_encode_oversized_request),
      cmocka_unit_test(test_reject_encode_nobuf),
      cmocka_unit_test(test_reject_encode_invalid_names),
      cmocka_unit_test(test_reject_truncated),
      cmocka_unit_test(test_reject_trailing_bytes),
      cmocka_unit_test(test_reject_bad_version),
      cmocka_unit_test(test_reject_unknown_op),
      cmocka_unit_test(test_reject_bad_lengths),
      cmocka_unit_test(test_reject_bad_name_characters),
      cmocka_unit_test(test_reject_unknown_status),
      cmocka_unit_test(test_reject_oversized_request),
      cmocka_unit_test(test_reject_oversized_reply),
      cmocka_unit_test(test_reject_malformed_call_answered),
      cmocka_unit_test(test_status_mapping),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
