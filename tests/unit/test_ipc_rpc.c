/* test_ipc_rpc.c - the remote-call ops of the local API
 * (include/dsb/ipc_rpc.h): every op round-trips byte-exactly, and every
 * malformed packet is rejected with its named error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dsb/err.h"
#include "dsb/ipc_rpc.h"
#include "dsb/rpc.h"
#include "dsb/service_name.h"

static uint8_t buf[DSB_IPC_MAX_MSG + 16];

static dsb_device_id test_id(void) {
  dsb_device_id id;
  for (int i = 0; i < DSB_DEVICE_ID_LEN; ++i) {
    id.b[i] = (uint8_t)(0xa0 + i);
  }
  return id;
}

/* Encode, decode, re-encode: the same bytes; returns the length. */
static long roundtrip(const dsb_ipc_rpc_msg *m, dsb_ipc_rpc_msg *out) {
  static uint8_t again[DSB_IPC_MAX_MSG];
  long n = dsb_ipc_rpc_encode(buf, DSB_IPC_MAX_MSG, m);
  assert_true(n > 0);
  assert_int_equal(dsb_ipc_rpc_decode(out, buf, (size_t)n), 0);
  assert_int_equal(out->op, m->op);
  assert_true(out->nonce == m->nonce);
  long n2 = dsb_ipc_rpc_encode(again, sizeof(again), out);
  assert_int_equal(n2, n);
  assert_memory_equal(again, buf, (size_t)n);
  return n;
}

static void test_call_roundtrip(void **state) {
  (void)state;
  dsb_ipc_rpc_msg m, d;
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_RPC_CALL;
  m.nonce = 0x0102030405060708ull;
  m.u.call.id = test_id();
  m.u.call.timeout_ms = 1500;
  m.u.call.service = dsb_ipc_cstr("samgr");
  m.u.call.method = dsb_ipc_cstr("resolve");
  m.u.call.payload = dsb_ipc_cstr("echo");
  long n = roundtrip(&m, &d);
  /* op, id, timeout, 1+5, 1+7, 4+4, nonce */
  assert_int_equal(n, 1 + 16 + 4 + 6 + 8 + 8 + 8);
  assert_int_equal(buf[0], 0x23);
  assert_memory_equal(d.u.call.id.b, m.u.call.id.b, 16);
  assert_int_equal(d.u.call.timeout_ms, 1500);
  assert_int_equal(d.u.call.payload.len, 4);
  assert_memory_equal(d.u.call.method.p, "resolve", 7);
}

static void test_call_reply_and_event_roundtrip(void **state) {
  (void)state;
  dsb_ipc_rpc_msg m, d;
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_RPC_CALL | DSB_IPC_REPLY_BIT;
  m.nonce = 7;
  m.u.call_r.rpc_status = DSB_RPC_DENIED;
  roundtrip(&m, &d);
  assert_int_equal(d.u.call_r.rpc_status, DSB_RPC_DENIED);
  assert_int_equal(d.u.call_r.payload.len, 0);

  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_EV_RPC_CALL;
  m.nonce = 99;
  m.u.incoming.call = 0xfeedull;
  m.u.incoming.id = test_id();
  m.u.incoming.peer_flags = 1;
  m.u.incoming.service = dsb_ipc_cstr("demo.kv");
  m.u.incoming.method = dsb_ipc_cstr("get");
  m.u.incoming.payload = dsb_ipc_cstr("key");
  roundtrip(&m, &d);
  assert_true(d.u.incoming.call == 0xfeedull);
  assert_int_equal(d.u.incoming.peer_flags, 1);

  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_RPC_ANSWER;
  m.nonce = 3;
  m.u.answer.call = 0xfeedull;
  m.u.answer.rpc_status = DSB_RPC_OK;
  m.u.answer.payload = dsb_ipc_cstr("value");
  roundtrip(&m, &d);
  assert_int_equal(d.u.answer.payload.len, 5);
}

static void test_registration_roundtrip(void **state) {
  (void)state;
  dsb_ipc_rpc_msg m, d;
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_RPC_SERVICE_ADD;
  m.nonce = 1;
  m.u.service_add.name = dsb_ipc_cstr("demo.kv");
  m.u.service_add.description = dsb_ipc_cstr("a key-value store");
  roundtrip(&m, &d);

  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_RPC_SERVICE_REMOVE;
  m.nonce = 2;
  m.u.service_remove = dsb_ipc_cstr("demo.kv");
  roundtrip(&m, &d);

  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_RPC_BUNDLE_ADD;
  m.nonce = 3;
  m.u.bundle_add.name = dsb_ipc_cstr("com.example.kv");
  m.u.bundle_add.version = dsb_ipc_cstr("1.2.3+b4");
  m.u.bundle_add.nservices = DSB_IPC_RPC_BUNDLE_SERVICES_MAX;
  for (int i = 0; i < DSB_IPC_RPC_BUNDLE_SERVICES_MAX; ++i) {
    m.u.bundle_add.services[i].name = dsb_ipc_cstr("svc");
  }
  roundtrip(&m, &d);
  assert_int_equal(d.u.bundle_add.nservices, DSB_IPC_RPC_BUNDLE_SERVICES_MAX);

  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_RPC_POLICY_CHECK;
  m.nonce = 4;
  m.u.policy_check.id = test_id();
  m.u.policy_check.service = dsb_ipc_cstr("echo");
  m.u.policy_check.method = dsb_ipc_cstr("*x");
  assert_int_equal(dsb_ipc_rpc_encode(buf, sizeof(buf), &m),
                   DSB_ERR_IPC_BAD_STRING);
  m.u.policy_check.method = dsb_ipc_cstr("ping");
  roundtrip(&m, &d);

  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_RPC_POLICY_CHECK | DSB_IPC_REPLY_BIT;
  m.nonce = 4;
  m.u.policy_check_r.rule = -1;
  m.u.policy_check_r.explanation = dsb_ipc_cstr("denied: no rule matches");
  roundtrip(&m, &d);
  assert_int_equal(d.u.policy_check_r.rule, -1);
}

static void test_error_reply_decodes(void **state) {
  (void)state;
  dsb_ipc_rpc_msg d;
  long n = dsb_ipc_encode_status(buf, sizeof(buf), DSB_IPC_OP_RPC_CALL, 42,
                                 DSB_ERR_TRUST_UNKNOWN);
  assert_true(n > 0);
  /* The request's own reply op, so the client matches it (never 0xff). */
  assert_int_equal(buf[0], DSB_IPC_OP_RPC_CALL | DSB_IPC_REPLY_BIT);
  assert_int_equal(dsb_ipc_rpc_decode(&d, buf, (size_t)n), 0);
  assert_int_equal(d.status, DSB_ERR_TRUST_UNKNOWN);
  assert_true(d.nonce == 42);
}

static void test_call_payload_max_fits(void **state) {
  (void)state;
  static uint8_t payload[DSB_IPC_MAX_MSG];
  dsb_ipc_rpc_msg m, d;
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_RPC_CALL;
  m.nonce = 1;
  m.u.call.service = dsb_ipc_cstr("echo");
  m.u.call.method = dsb_ipc_cstr("echo");
  m.u.call.payload.p = payload;
  m.u.call.payload.len = dsb_ipc_rpc_call_payload_max(4, 4);
  long n = roundtrip(&m, &d);
  assert_int_equal(n, DSB_IPC_MAX_MSG);
  m.u.call.payload.len++;
  assert_int_equal(dsb_ipc_rpc_encode(buf, DSB_IPC_MAX_MSG, &m),
                   DSB_ERR_IPC_OVERSIZE);
}

static long valid_call(void) {
  dsb_ipc_rpc_msg m;
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_RPC_CALL;
  m.nonce = 5;
  m.u.call.service = dsb_ipc_cstr("echo");
  m.u.call.method = dsb_ipc_cstr("echo");
  m.u.call.payload = dsb_ipc_cstr("abc");
  return dsb_ipc_rpc_encode(buf, sizeof(buf), &m);
}

static void test_reject_truncated(void **state) {
  (void)state;
  dsb_ipc_rpc_msg d;
  long n = valid_call();
  for (long cut = 0; cut < n; ++cut) {
    int rv = dsb_ipc_rpc_decode(&d, buf, (size_t)cut);
    assert_true(rv == DSB_ERR_IPC_TRUNCATED || rv == DSB_ERR_IPC_BAD_STRING ||
                rv == DSB_ERR_IPC_BAD_VALUE);
  }
  assert_int_equal(dsb_ipc_rpc_decode(&d, buf, 3), DSB_ERR_IPC_TRUNCATED);
}

static void test_reject_trailing_bytes(void **state) {
  (void)state;
  dsb_ipc_rpc_msg d;
  long n = valid_call();
  /* One byte more before the nonce: the payload length no longer reaches
   * the end. */
  memmove(buf + n - 7, buf + n - 8, 8);
  buf[n - 8] = 0;
  assert_int_equal(dsb_ipc_rpc_decode(&d, buf, (size_t)n + 1),
                   DSB_ERR_IPC_TRAILING);
}

static void test_reject_unknown_op(void **state) {
  (void)state;
  dsb_ipc_rpc_msg d;
  long n = valid_call();
  buf[0] = 0x26;
  assert_int_equal(dsb_ipc_rpc_decode(&d, buf, (size_t)n),
                   DSB_ERR_IPC_UNKNOWN_OP);
  buf[0] = DSB_IPC_OP_OPEN; /* the base codec's, not ours */
  assert_int_equal(dsb_ipc_rpc_decode(&d, buf, (size_t)n),
                   DSB_ERR_IPC_UNKNOWN_OP);
}

static void test_reject_bad_service_name(void **state) {
  (void)state;
  dsb_ipc_rpc_msg d;
  long n = valid_call();
  /* op(1) id(16) timeout(4) len(1): the service starts at 22 */
  buf[22] = '/';
  assert_int_equal(dsb_ipc_rpc_decode(&d, buf, (size_t)n),
                   DSB_ERR_IPC_BAD_STRING);
  valid_call();
  buf[21] = 0; /* empty name */
  assert_true(dsb_ipc_rpc_decode(&d, buf, (size_t)n) != 0);
}

static void test_reject_payload_length_beyond_packet(void **state) {
  (void)state;
  dsb_ipc_rpc_msg d;
  long n = valid_call();
  /* payload length field: after 1+16+4+1+4+1+4 = 31 */
  buf[31] = 0x7f;
  assert_int_equal(dsb_ipc_rpc_decode(&d, buf, (size_t)n),
                   DSB_ERR_IPC_TRUNCATED);
}

static void test_reject_bad_timeout(void **state) {
  (void)state;
  dsb_ipc_rpc_msg d;
  long n = valid_call();
  buf[17] = 0xff; /* timeout u32 at 17 */
  assert_int_equal(dsb_ipc_rpc_decode(&d, buf, (size_t)n),
                   DSB_ERR_IPC_BAD_VALUE);
}

static void test_reject_bad_rpc_status(void **state) {
  (void)state;
  dsb_ipc_rpc_msg m, d;
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_RPC_CALL | DSB_IPC_REPLY_BIT;
  m.nonce = 1;
  m.u.call_r.rpc_status = DSB_RPC_STATUS_MAX + 1;
  assert_int_equal(dsb_ipc_rpc_encode(buf, sizeof(buf), &m),
                   DSB_ERR_IPC_BAD_VALUE);
  m.u.call_r.rpc_status = 0;
  long n = dsb_ipc_rpc_encode(buf, sizeof(buf), &m);
  buf[5] = DSB_RPC_STATUS_MAX + 1; /* after op and status i32 */
  assert_int_equal(dsb_ipc_rpc_decode(&d, buf, (size_t)n),
                   DSB_ERR_IPC_BAD_VALUE);
  buf[1] = 0x00; /* a positive status is never valid */
  buf[4] = 0x01;
  assert_int_equal(dsb_ipc_rpc_decode(&d, buf, (size_t)n),
                   DSB_ERR_IPC_BAD_VALUE);
}

static void test_reject_too_many_bundle_services(void **state) {
  (void)state;
  dsb_ipc_rpc_msg m, d;
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_RPC_BUNDLE_ADD;
  m.nonce = 1;
  m.u.bundle_add.name = dsb_ipc_cstr("b");
  m.u.bundle_add.version = dsb_ipc_cstr("1");
  m.u.bundle_add.nservices = DSB_IPC_RPC_BUNDLE_SERVICES_MAX + 1;
  assert_int_equal(dsb_ipc_rpc_encode(buf, sizeof(buf), &m),
                   DSB_ERR_IPC_TOO_MANY);
  m.u.bundle_add.nservices = 0;
  long n = dsb_ipc_rpc_encode(buf, sizeof(buf), &m);
  assert_true(n > 0);
  buf[n - 9] = DSB_IPC_RPC_BUNDLE_SERVICES_MAX + 1; /* the count byte */
  assert_int_equal(dsb_ipc_rpc_decode(&d, buf, (size_t)n),
                   DSB_ERR_IPC_TOO_MANY);
}

static void test_reject_bad_version_string(void **state) {
  (void)state;
  dsb_ipc_rpc_msg m;
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_RPC_BUNDLE_ADD;
  m.u.bundle_add.name = dsb_ipc_cstr("b");
  m.u.bundle_add.version = dsb_ipc_cstr("1 2");
  assert_int_equal(dsb_ipc_rpc_encode(buf, sizeof(buf), &m),
                   DSB_ERR_IPC_BAD_STRING);
}

static void test_reject_oversize_packet(void **state) {
  (void)state;
  dsb_ipc_rpc_msg d;
  memset(buf, 0, sizeof(buf));
  buf[0] = DSB_IPC_OP_RPC_CALL;
  assert_int_equal(dsb_ipc_rpc_decode(&d, buf, DSB_IPC_MAX_MSG + 1),
                   DSB_ERR_IPC_OVERSIZE);
}

static void test_op_names(void **state) {
  (void)state;
  assert_string_equal(dsb_ipc_rpc_op_name(DSB_IPC_OP_RPC_CALL), "rpc_call");
  assert_string_equal(
      dsb_ipc_rpc_op_name(DSB_IPC_OP_RPC_CALL | DSB_IPC_REPLY_BIT),
      "rpc_call.reply");
  assert_string_equal(dsb_ipc_rpc_op_name(0x11), "unknown");
  assert_true(dsb_ipc_rpc_op_is_ours(DSB_IPC_EV_RPC_CALL));
  assert_false(dsb_ipc_rpc_op_is_ours(DSB_IPC_OP_HELLO));
  assert_false(dsb_ipc_rpc_op_is_ours(DSB_IPC_OP_ERROR));
}

/* ---- the service-name rule (dsb/service_name.h) ---------------------------
 */

static const char *svc_name(char *dst, size_t len) {
  memset(dst, 's', len);
  dst[len] = '\0';
  return dst;
}

/* SERVICE_ADD by hand: [op][len][name][desc len 0][nonce]. */
static size_t service_add_raw(uint8_t *dst, const char *name) {
  size_t len = strlen(name), off = 0;
  dst[off++] = DSB_IPC_OP_RPC_SERVICE_ADD;
  dst[off++] = (uint8_t)len;
  memcpy(dst + off, name, len);
  off += len;
  dst[off++] = 0;
  memset(dst + off, 0x33, 8);
  return off + 8;
}

/* BUNDLE_ADD by hand: bundle "com.x" version "1", one service |name|. */
static size_t bundle_add_raw(uint8_t *dst, const char *name) {
  size_t len = strlen(name), off = 0;
  dst[off++] = DSB_IPC_OP_RPC_BUNDLE_ADD;
  dst[off++] = 5;
  memcpy(dst + off, "com.x", 5);
  off += 5;
  dst[off++] = 1;
  dst[off++] = '1';
  dst[off++] = 1; /* services */
  dst[off++] = (uint8_t)len;
  memcpy(dst + off, name, len);
  off += len;
  dst[off++] = 0; /* description */
  memset(dst + off, 0x44, 8);
  return off + 8;
}

static void test_registration_names_at_the_limit(void **state) {
  (void)state;
  char s48[DSB_SERVICE_NAME_MAX + 1], s64[DSB_RPC_NAME_MAX + 1];
  svc_name(s48, DSB_SERVICE_NAME_MAX);
  svc_name(s64, DSB_RPC_NAME_MAX);
  dsb_ipc_rpc_msg m, d;
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_RPC_SERVICE_ADD;
  m.u.service_add.name = dsb_ipc_cstr(s48);
  roundtrip(&m, &d);
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_RPC_BUNDLE_ADD;
  m.u.bundle_add.name = dsb_ipc_cstr(s64); /* an application, not a service */
  m.u.bundle_add.version = dsb_ipc_cstr("1");
  m.u.bundle_add.nservices = 1;
  m.u.bundle_add.services[0].name = dsb_ipc_cstr(s48);
  roundtrip(&m, &d);
  /* Calls stay as liberal as remote-call frames: a peer of another
   * version may offer a 64-byte name. */
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_RPC_CALL;
  m.u.call.id = test_id();
  m.u.call.service = dsb_ipc_cstr(s64);
  m.u.call.method = dsb_ipc_cstr(s64);
  roundtrip(&m, &d);
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_RPC_POLICY_CHECK;
  m.u.policy_check.id = test_id();
  m.u.policy_check.service = dsb_ipc_cstr(s64);
  m.u.policy_check.method = dsb_ipc_cstr("m");
  roundtrip(&m, &d);
}

static void test_reject_service_add_name_too_long(void **state) {
  (void)state;
  char s49[DSB_SERVICE_NAME_MAX + 2];
  svc_name(s49, DSB_SERVICE_NAME_MAX + 1);
  dsb_ipc_rpc_msg m, d;
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_RPC_SERVICE_ADD;
  m.u.service_add.name = dsb_ipc_cstr(s49);
  assert_int_equal(dsb_ipc_rpc_encode(buf, sizeof(buf), &m),
                   DSB_ERR_IPC_BAD_STRING);
  size_t n = service_add_raw(buf, s49);
  assert_int_equal(dsb_ipc_rpc_decode(&d, buf, n), DSB_ERR_IPC_BAD_STRING);
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_RPC_SERVICE_REMOVE;
  m.u.service_remove = dsb_ipc_cstr(s49);
  assert_int_equal(dsb_ipc_rpc_encode(buf, sizeof(buf), &m),
                   DSB_ERR_IPC_BAD_STRING);
}

static void test_reject_service_add_name_bad_char(void **state) {
  (void)state;
  static const char *const bad[] = {"a/b", "a:b", "a@b", "a+b", "a b", "*"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
    dsb_ipc_rpc_msg m, d;
    memset(&m, 0, sizeof(m));
    m.op = DSB_IPC_OP_RPC_SERVICE_ADD;
    m.u.service_add.name = dsb_ipc_cstr(bad[i]);
    assert_int_equal(dsb_ipc_rpc_encode(buf, sizeof(buf), &m),
                     DSB_ERR_IPC_BAD_STRING);
    size_t n = service_add_raw(buf, bad[i]);
    assert_int_equal(dsb_ipc_rpc_decode(&d, buf, n), DSB_ERR_IPC_BAD_STRING);
  }
  /* The same packet with a valid name decodes: the name was the fault. */
  dsb_ipc_rpc_msg d;
  size_t n = service_add_raw(buf, "a-b");
  assert_int_equal(dsb_ipc_rpc_decode(&d, buf, n), 0);
}

static void test_reject_bundle_service_name_too_long(void **state) {
  (void)state;
  char s49[DSB_SERVICE_NAME_MAX + 2];
  svc_name(s49, DSB_SERVICE_NAME_MAX + 1);
  dsb_ipc_rpc_msg m, d;
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_RPC_BUNDLE_ADD;
  m.u.bundle_add.name = dsb_ipc_cstr("com.x");
  m.u.bundle_add.version = dsb_ipc_cstr("1");
  m.u.bundle_add.nservices = 1;
  m.u.bundle_add.services[0].name = dsb_ipc_cstr(s49);
  assert_int_equal(dsb_ipc_rpc_encode(buf, sizeof(buf), &m),
                   DSB_ERR_IPC_BAD_STRING);
  size_t n = bundle_add_raw(buf, s49);
  assert_int_equal(dsb_ipc_rpc_decode(&d, buf, n), DSB_ERR_IPC_BAD_STRING);
  n = bundle_add_raw(buf, s49 + 1);
  assert_int_equal(dsb_ipc_rpc_decode(&d, buf, n), 0);
}

static void test_reject_bundle_service_name_bad_char(void **state) {
  (void)state;
  dsb_ipc_rpc_msg m, d;
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_RPC_BUNDLE_ADD;
  m.u.bundle_add.name = dsb_ipc_cstr("com.x");
  m.u.bundle_add.version = dsb_ipc_cstr("1");
  m.u.bundle_add.nservices = 1;
  m.u.bundle_add.services[0].name = dsb_ipc_cstr("cam/front");
  assert_int_equal(dsb_ipc_rpc_encode(buf, sizeof(buf), &m),
                   DSB_ERR_IPC_BAD_STRING);
  size_t n = bundle_add_raw(buf, "cam:front");
  assert_int_equal(dsb_ipc_rpc_decode(&d, buf, n), DSB_ERR_IPC_BAD_STRING);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_call_roundtrip),
      cmocka_unit_test(test_call_reply_and_event_roundtrip),
      cmocka_unit_test(test_registration_roundtrip),
      cmocka_unit_test(test_error_reply_decodes),
      cmocka_unit_test(test_call_payload_max_fits),
      cmocka_unit_test(test_reject_truncated),
      cmocka_unit_test(test_reject_trailing_bytes),
      cmocka_unit_test(test_reject_unknown_op),
      cmocka_unit_test(test_reject_bad_service_name),
      cmocka_unit_test(test_reject_payload_length_beyond_packet),
      cmocka_unit_test(test_reject_bad_timeout),
      cmocka_unit_test(test_reject_bad_rpc_status),
      cmocka_unit_test(test_reject_too_many_bundle_services),
      cmocka_unit_test(test_reject_bad_version_string),
      cmocka_unit_test(test_reject_oversize_packet),
      cmocka_unit_test(test_op_names),
      cmocka_unit_test(test_registration_names_at_the_limit),
      cmocka_unit_test(test_reject_service_add_name_too_long),
      cmocka_unit_test(test_reject_service_add_name_bad_char),
      cmocka_unit_test(test_reject_bundle_service_name_too_long),
      cmocka_unit_test(test_reject_bundle_service_name_bad_char),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
