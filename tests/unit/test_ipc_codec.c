/* test_ipc_codec.c - the local API wire format (include/dsb/ipc.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dsb/err.h"
#include "dsb/ipc.h"

static uint8_t buf[DSB_IPC_MAX_MSG + 64];

static dsb_device_id test_id(uint8_t seed) {
  dsb_device_id id;
  for (size_t i = 0; i < sizeof(id.b); ++i) {
    id.b[i] = (uint8_t)(seed + i);
  }
  return id;
}

static long enc(const dsb_ipc_msg *m) {
  return dsb_ipc_encode(buf, sizeof(buf), m);
}

static void assert_str(dsb_ipc_str s, const char *want) {
  assert_int_equal(s.len, strlen(want));
  assert_memory_equal(s.p, want, s.len);
}

/* Encode |m|, decode it back into |out|. */
static void roundtrip(const dsb_ipc_msg *m, dsb_ipc_msg *out) {
  long n = enc(m);
  assert_true(n > 0);
  assert_int_equal(dsb_ipc_decode(out, buf, (size_t)n), 0);
  assert_int_equal(out->op, m->op);
  assert_int_equal(out->nonce, m->nonce);
  assert_int_equal(out->status, m->status);
}

static void test_roundtrip_requests(void **state) {
  (void)state;
  dsb_ipc_msg m, d;

  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_HELLO;
  m.nonce = 1;
  m.u.hello.version = DSB_IPC_VERSION;
  m.u.hello.flags = DSB_IPC_HELLO_PEER_EVENTS;
  roundtrip(&m, &d);
  assert_int_equal(d.u.hello.flags, DSB_IPC_HELLO_PEER_EVENTS);

  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_ID;
  m.nonce = UINT64_MAX;
  roundtrip(&m, &d);

  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_PEERS;
  m.nonce = 7;
  m.u.list.start = 300;
  roundtrip(&m, &d);
  assert_int_equal(d.u.list.start, 300);

  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_TRUST_SET;
  m.nonce = 8;
  m.u.trust_set.id = test_id(3);
  m.u.trust_set.state = DSB_IPC_TRUST_BLOCKED;
  roundtrip(&m, &d);
  assert_memory_equal(d.u.trust_set.id.b, m.u.trust_set.id.b, 16);
  assert_int_equal(d.u.trust_set.state, DSB_IPC_TRUST_BLOCKED);

  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_PUBLISH;
  m.nonce = 9;
  m.u.service.service = dsb_ipc_cstr("echo.v1");
  roundtrip(&m, &d);
  assert_str(d.u.service.service, "echo.v1");

  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_OPEN;
  m.nonce = 10;
  m.u.open.id = test_id(9);
  m.u.open.service = dsb_ipc_cstr("files");
  m.u.open.priority = 7;
  roundtrip(&m, &d);
  assert_memory_equal(d.u.open.id.b, m.u.open.id.b, 16);
  assert_str(d.u.open.service, "files");
  assert_int_equal(d.u.open.priority, 7);
}

static void test_roundtrip_replies_and_events(void **state) {
  (void)state;
  dsb_ipc_msg m, d;

  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_ID | DSB_IPC_REPLY_BIT;
  m.nonce = 2;
  m.u.id_r.id = test_id(1);
  m.u.id_r.name = dsb_ipc_cstr("kitchen \xc3\xa9");
  memset(m.u.id_r.ed_pk, 0xaa, 32);
  memset(m.u.id_r.static_pk, 0xbb, 32);
  m.u.id_r.port = 40000;
  roundtrip(&m, &d);
  assert_str(d.u.id_r.name, "kitchen \xc3\xa9");
  assert_memory_equal(d.u.id_r.ed_pk, m.u.id_r.ed_pk, 32);
  assert_memory_equal(d.u.id_r.static_pk, m.u.id_r.static_pk, 32);
  assert_int_equal(d.u.id_r.port, 40000);

  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_OPEN | DSB_IPC_REPLY_BIT;
  m.nonce = 3;
  m.u.open_r.stream = 0xdeadbeef;
  roundtrip(&m, &d);
  assert_int_equal(d.u.open_r.stream, 0xdeadbeef);

  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_OPEN | DSB_IPC_REPLY_BIT;
  m.nonce = 4;
  m.status = DSB_ERR_TRUST_UNKNOWN;
  roundtrip(&m, &d);

  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_EV_STREAM_INCOMING;
  m.nonce = 5;
  m.u.incoming.stream = 42;
  m.u.incoming.id = test_id(5);
  m.u.incoming.service = dsb_ipc_cstr("shell");
  m.u.incoming.priority = 2;
  roundtrip(&m, &d);
  assert_int_equal(d.u.incoming.stream, 42);
  assert_str(d.u.incoming.service, "shell");

  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_EV_STREAM_END;
  m.u.stream_end.stream = 42;
  m.u.stream_end.status = DSB_ERR_MUX_STREAM_RESET;
  roundtrip(&m, &d);
  assert_int_equal(d.u.stream_end.status, DSB_ERR_MUX_STREAM_RESET);

  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_EV_PEER_UP;
  m.u.peer_up.id = test_id(6);
  m.u.peer_up.name = dsb_ipc_cstr("");
  roundtrip(&m, &d);
  assert_int_equal(d.u.peer_up.name.len, 0);
}

static size_t build_peers(uint8_t *dst, size_t cap, uint16_t n) {
  size_t off = 0;
  for (uint16_t i = 0; i < n; ++i) {
    dsb_ipc_peer p;
    memset(&p, 0, sizeof(p));
    p.id = test_id((uint8_t)i);
    p.name = dsb_ipc_cstr("node");
    p.trust = (uint8_t)(i % 3);
    p.session = DSB_IPC_SESSION_ESTABLISHED;
    p.naddrs = 2;
    p.addrs[0] = dsb_ipc_cstr("127.0.0.1:4000");
    p.addrs[1] = dsb_ipc_cstr("[::1]:4000");
    p.nservices = DSB_IPC_MAX_SERVICES;
    for (size_t s = 0; s < DSB_IPC_MAX_SERVICES; ++s) {
      p.services[s] = dsb_ipc_cstr(s % 2 ? "echo" : "files");
    }
    long rv = dsb_ipc_peer_encode(dst + off, cap - off, &p);
    assert_true(rv > 0);
    off += (size_t)rv;
  }
  return off;
}

static void test_roundtrip_lists(void **state) {
  (void)state;
  static uint8_t entries[8192];
  dsb_ipc_msg m, d;
  dsb_ipc_iter it;

  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_PEERS | DSB_IPC_REPLY_BIT;
  m.nonce = 11;
  m.u.list_r.total = 5;
  m.u.list_r.count = 3;
  m.u.list_r.p = entries;
  m.u.list_r.len = build_peers(entries, sizeof(entries), 3);
  roundtrip(&m, &d);
  assert_int_equal(d.u.list_r.total, 5);
  dsb_ipc_iter_init(&it, &d.u.list_r);
  dsb_ipc_peer p;
  for (int i = 0; i < 3; ++i) {
    assert_int_equal(dsb_ipc_next_peer(&it, &p), 1);
    assert_int_equal(p.id.b[0], i);
    assert_int_equal(p.trust, i % 3);
    assert_int_equal(p.naddrs, 2);
    assert_str(p.addrs[1], "[::1]:4000");
    assert_int_equal(p.nservices, DSB_IPC_MAX_SERVICES);
    assert_str(p.services[1], "echo");
  }
  assert_int_equal(dsb_ipc_next_peer(&it, &p), 0);

  dsb_ipc_trust_entry t = {test_id(1), DSB_IPC_TRUST_TRUSTED,
                           dsb_ipc_cstr("laptop")};
  long tl = dsb_ipc_trust_entry_encode(entries, sizeof(entries), &t);
  assert_true(tl > 0);
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_TRUST_LIST | DSB_IPC_REPLY_BIT;
  m.u.list_r.total = 1;
  m.u.list_r.count = 1;
  m.u.list_r.p = entries;
  m.u.list_r.len = (size_t)tl;
  roundtrip(&m, &d);
  dsb_ipc_iter_init(&it, &d.u.list_r);
  dsb_ipc_trust_entry te;
  assert_int_equal(dsb_ipc_next_trust(&it, &te), 1);
  assert_int_equal(te.state, DSB_IPC_TRUST_TRUSTED);
  assert_str(te.name, "laptop");
  assert_int_equal(dsb_ipc_next_trust(&it, &te), 0);

  dsb_ipc_counter c1 = {dsb_ipc_cstr("sessions"), 3};
  dsb_ipc_counter c2 = {dsb_ipc_cstr("mux.reject.frame_oversize"), 1ULL << 40};
  long a = dsb_ipc_counter_encode(entries, sizeof(entries), &c1);
  long b =
      dsb_ipc_counter_encode(entries + a, sizeof(entries) - (size_t)a, &c2);
  assert_true(a > 0 && b > 0);
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_STATUS | DSB_IPC_REPLY_BIT;
  m.u.list_r.total = 2;
  m.u.list_r.count = 2;
  m.u.list_r.p = entries;
  m.u.list_r.len = (size_t)(a + b);
  roundtrip(&m, &d);
  dsb_ipc_iter_init(&it, &d.u.list_r);
  dsb_ipc_counter c;
  assert_int_equal(dsb_ipc_next_counter(&it, &c), 1);
  assert_str(c.name, "sessions");
  assert_int_equal(c.value, 3);
  assert_int_equal(dsb_ipc_next_counter(&it, &c), 1);
  assert_str(c.name, "mux.reject.frame_oversize");
  assert_int_equal(c.value, 1ULL << 40);
  assert_int_equal(dsb_ipc_next_counter(&it, &c), 0);
}

/* ---- golden vectors (tests/vectors/ipc_messages.txt) --------------------- */

static int hexval(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  return -1;
}

/* Read the hex bytes of the vector |name| into |out|; returns the length. */
static size_t load_vector(const char *name, uint8_t *out, size_t cap) {
  char path[4096];
  const char *src = getenv("DSB_SOURCE_DIR");
  if (src) {
    snprintf(path, sizeof(path), "%s/tests/vectors/ipc_messages.txt", src);
  } else {
    snprintf(path, sizeof(path), "%s", __FILE__);
    char *cut = strstr(path, "/tests/unit/");
    assert_non_null(cut);
    snprintf(cut, sizeof(path) - (size_t)(cut - path),
             "/tests/vectors/ipc_messages.txt");
  }
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  static char line[4096];
  size_t n = 0;
  int found = 0;
  while (fgets(line, sizeof(line), f)) {
    size_t nl = strlen(name);
    if (line[0] == '#' || strncmp(line, name, nl) != 0 || line[nl] != ' ') {
      continue;
    }
    for (const char *p = line + nl + 1; *p && *p != '\n'; p += 2) {
      int hi = hexval(p[0]);
      int lo = hexval(p[1]);
      assert_true(hi >= 0 && lo >= 0 && n < cap);
      out[n++] = (uint8_t)(hi << 4 | lo);
    }
    found = 1;
    break;
  }
  fclose(f);
  assert_true(found);
  return n;
}

static void check_vector(const char *name, const dsb_ipc_msg *m) {
  uint8_t want[1024];
  size_t wl = load_vector(name, want, sizeof(want));
  long n = enc(m);
  assert_int_equal(n, wl);
  assert_memory_equal(buf, want, wl);
  dsb_ipc_msg d;
  assert_int_equal(dsb_ipc_decode(&d, want, wl), 0);
  assert_int_equal(d.op, m->op);
}

static void test_golden_vectors(void **state) {
  (void)state;
  dsb_ipc_msg m;

  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_HELLO;
  m.nonce = 1;
  m.u.hello.version = DSB_IPC_VERSION;
  m.u.hello.flags = DSB_IPC_HELLO_PEER_EVENTS;
  check_vector("hello_request", &m);

  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_OPEN;
  m.nonce = 0x0102030405060708ULL;
  m.u.open.id = test_id(0x10);
  m.u.open.service = dsb_ipc_cstr("echo");
  m.u.open.priority = 3;
  check_vector("open_request", &m);

  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_OPEN | DSB_IPC_REPLY_BIT;
  m.nonce = 0x0102030405060708ULL;
  m.u.open_r.stream = 5;
  check_vector("open_reply", &m);

  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_OPEN | DSB_IPC_REPLY_BIT;
  m.nonce = 2;
  m.status = DSB_ERR_IPC_NO_SERVICE;
  check_vector("open_reply_error", &m);

  uint8_t entry[256];
  dsb_ipc_peer p;
  memset(&p, 0, sizeof(p));
  p.id = test_id(0x20);
  p.name = dsb_ipc_cstr("b");
  p.trust = DSB_IPC_TRUST_TRUSTED;
  p.session = DSB_IPC_SESSION_ESTABLISHED;
  p.naddrs = 1;
  p.addrs[0] = dsb_ipc_cstr("127.0.0.1:9");
  p.nservices = 1;
  p.services[0] = dsb_ipc_cstr("echo");
  long el = dsb_ipc_peer_encode(entry, sizeof(entry), &p);
  assert_true(el > 0);
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_PEERS | DSB_IPC_REPLY_BIT;
  m.nonce = 3;
  m.u.list_r.total = 1;
  m.u.list_r.count = 1;
  m.u.list_r.p = entry;
  m.u.list_r.len = (size_t)el;
  check_vector("peers_reply", &m);

  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_EV_STREAM_INCOMING;
  m.nonce = 4;
  m.u.incoming.stream = 2;
  m.u.incoming.id = test_id(0x30);
  m.u.incoming.service = dsb_ipc_cstr("echo");
  m.u.incoming.priority = 0;
  check_vector("stream_incoming_event", &m);
}

/* ---- helpers for malformed input ---------------------------------------- */

static long open_request(uint8_t *dst, const char *service, uint8_t prio,
                         uint8_t flags) {
  /* Built by hand so invalid values reach the decoder. */
  size_t sl = strlen(service);
  size_t off = 0;
  dst[off++] = DSB_IPC_OP_OPEN;
  for (int i = 0; i < 16; ++i) {
    dst[off++] = (uint8_t)i;
  }
  dst[off++] = (uint8_t)sl;
  memcpy(dst + off, service, sl);
  off += sl;
  dst[off++] = prio;
  dst[off++] = flags;
  memset(dst + off, 0, 7);
  dst[off + 7] = 9;
  return (long)(off + 8);
}

static void test_peek_reads_op_and_nonce(void **state) {
  (void)state;
  uint8_t m[64];
  long n = open_request(m, "echo", 1, 0);
  uint8_t op = 0;
  uint64_t nonce = 0;
  assert_int_equal(dsb_ipc_peek(&op, &nonce, m, (size_t)n), 0);
  assert_int_equal(op, DSB_IPC_OP_OPEN);
  assert_int_equal(nonce, 9);
}

static void test_reject_truncated(void **state) {
  (void)state;
  uint8_t m[64];
  dsb_ipc_msg d;
  long n = open_request(m, "echo", 1, 0);
  assert_int_equal(dsb_ipc_decode(&d, m, (size_t)n), 0);
  for (long len = 0; len < n; ++len) {
    /* Every shorter packet is refused: the nonce is the last 8 bytes, so a
     * short packet always lacks payload. */
    assert_int_equal(dsb_ipc_decode(&d, m, (size_t)len), DSB_ERR_IPC_TRUNCATED);
  }
  assert_int_equal(dsb_ipc_decode(&d, NULL, 0), DSB_ERR_IPC_TRUNCATED);
}

static void test_reject_trailing_bytes(void **state) {
  (void)state;
  uint8_t m[64];
  dsb_ipc_msg d;
  long n = open_request(m, "echo", 1, 0);
  /* Insert one byte between the payload and the nonce. */
  memmove(m + n - 7, m + n - 8, 8);
  m[n - 8] = 0;
  assert_int_equal(dsb_ipc_decode(&d, m, (size_t)n + 1), DSB_ERR_IPC_TRAILING);

  uint8_t e[32] = {
      DSB_IPC_OP_ID | DSB_IPC_REPLY_BIT, 0xff, 0xff, 0xfd, 0x44, 0x55};
  /* An error reply with a payload after its status. */
  assert_int_equal(dsb_ipc_decode(&d, e, 5 + 1 + 8), DSB_ERR_IPC_TRAILING);
}

static void test_reject_oversize(void **state) {
  (void)state;
  dsb_ipc_msg d;
  memset(buf, 0, sizeof(buf));
  buf[0] = DSB_IPC_OP_ID;
  assert_int_equal(dsb_ipc_decode(&d, buf, DSB_IPC_MAX_MSG + 1),
                   DSB_ERR_IPC_OVERSIZE);
  uint8_t op;
  uint64_t nonce;
  assert_int_equal(dsb_ipc_peek(&op, &nonce, buf, DSB_IPC_MAX_MSG + 1),
                   DSB_ERR_IPC_OVERSIZE);
}

static void test_reject_unknown_op(void **state) {
  (void)state;
  static const uint8_t ops[] = {0x00, 0x0a, 0x3f, 0x44, 0x7f,
                                0x80, 0x8a, 0xc0, 0xfe};
  dsb_ipc_msg d;
  for (size_t i = 0; i < sizeof(ops); ++i) {
    uint8_t m[16] = {0};
    m[0] = ops[i];
    /* 13 bytes: a zero status where a reply has one (0x8a: an error reply
     * would decode; status 0 needs a payload nothing here knows). */
    assert_int_equal(dsb_ipc_decode(&d, m, 13), DSB_ERR_IPC_UNKNOWN_OP);
  }
  memset(&d, 0, sizeof(d));
  d.op = 0x3f;
  assert_int_equal(enc(&d), DSB_ERR_IPC_UNKNOWN_OP);
}

static void test_reject_unsupported_version(void **state) {
  (void)state;
  uint8_t m[16] = {DSB_IPC_OP_HELLO, 2, 0};
  dsb_ipc_msg d;
  assert_int_equal(dsb_ipc_decode(&d, m, 3 + 8), DSB_ERR_IPC_VERSION);
  uint8_t r[32] = {DSB_IPC_OP_HELLO | DSB_IPC_REPLY_BIT, 0, 0, 0, 0, 9};
  assert_int_equal(dsb_ipc_decode(&d, r, 6 + 16 + 8), DSB_ERR_IPC_VERSION);
}

static void test_reject_hello_unknown_flags(void **state) {
  (void)state;
  uint8_t m[16] = {DSB_IPC_OP_HELLO, DSB_IPC_VERSION, 0x02};
  dsb_ipc_msg d;
  assert_int_equal(dsb_ipc_decode(&d, m, 3 + 8), DSB_ERR_IPC_BAD_VALUE);
}

static void test_reject_bad_service_name(void **state) {
  (void)state;
  static const char *bad[] = {
      "",
      "a b",
      "a/b",
      "caf\xc3\xa9",
      "x\n",
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
  uint8_t m[128];
  dsb_ipc_msg d;
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
    long n = open_request(m, bad[i], 1, 0);
    assert_int_equal(dsb_ipc_decode(&d, m, (size_t)n), DSB_ERR_IPC_BAD_STRING);
  }
  long n = open_request(m, "a_B-9.z", 1, 0);
  assert_int_equal(dsb_ipc_decode(&d, m, (size_t)n), 0);

  memset(&d, 0, sizeof(d));
  d.op = DSB_IPC_OP_PUBLISH;
  d.u.service.service = dsb_ipc_cstr("no spaces");
  assert_int_equal(enc(&d), DSB_ERR_IPC_BAD_STRING);
}

static void test_reject_name_control_char(void **state) {
  (void)state;
  dsb_ipc_msg d;
  memset(&d, 0, sizeof(d));
  d.op = DSB_IPC_EV_PEER_UP;
  d.u.peer_up.name = dsb_ipc_cstr("ok");
  long n = enc(&d);
  assert_true(n > 0);
  buf[1 + 16 + 1 + 1] = '\x1b'; /* escape sequence in the display name */
  assert_int_equal(dsb_ipc_decode(&d, buf, (size_t)n), DSB_ERR_IPC_BAD_STRING);
}

static void test_reject_string_length_past_end(void **state) {
  (void)state;
  uint8_t m[64];
  dsb_ipc_msg d;
  long n = open_request(m, "echo", 1, 0);
  m[17] = 200; /* service length claims more than the packet holds */
  assert_int_equal(dsb_ipc_decode(&d, m, (size_t)n), DSB_ERR_IPC_TRUNCATED);
}

static void test_reject_bad_priority(void **state) {
  (void)state;
  uint8_t m[64];
  dsb_ipc_msg d;
  long n = open_request(m, "echo", 8, 0);
  assert_int_equal(dsb_ipc_decode(&d, m, (size_t)n), DSB_ERR_IPC_BAD_VALUE);
  n = open_request(m, "echo", 0, 1);
  assert_int_equal(dsb_ipc_decode(&d, m, (size_t)n), DSB_ERR_IPC_BAD_VALUE);
}

static void test_reject_bad_trust_state(void **state) {
  (void)state;
  uint8_t m[32] = {DSB_IPC_OP_TRUST_SET};
  dsb_ipc_msg d;
  m[17] = 3;
  assert_int_equal(dsb_ipc_decode(&d, m, 18 + 8), DSB_ERR_IPC_BAD_VALUE);
  m[17] = DSB_IPC_TRUST_BLOCKED;
  assert_int_equal(dsb_ipc_decode(&d, m, 18 + 8), 0);
}

static void test_reject_positive_status(void **state) {
  (void)state;
  uint8_t m[16] = {DSB_IPC_OP_ID | DSB_IPC_REPLY_BIT, 0, 0, 0, 1};
  dsb_ipc_msg d;
  assert_int_equal(dsb_ipc_decode(&d, m, 5 + 8), DSB_ERR_IPC_BAD_VALUE);
  uint8_t e[16] = {DSB_IPC_OP_ERROR, 0, 0, 0, 0};
  assert_int_equal(dsb_ipc_decode(&d, e, 5 + 8), DSB_ERR_IPC_BAD_VALUE);
}

static void test_reject_list_count_over_total(void **state) {
  (void)state;
  uint8_t m[32] = {
      DSB_IPC_OP_STATUS | DSB_IPC_REPLY_BIT, 0, 0, 0, 0, 0, 1, 0, 2};
  dsb_ipc_msg d;
  assert_int_equal(dsb_ipc_decode(&d, m, 9 + 8), DSB_ERR_IPC_TOO_MANY);
}

static void test_reject_list_count_mismatch(void **state) {
  (void)state;
  uint8_t entries[4096];
  size_t el = build_peers(entries, sizeof(entries), 2);
  dsb_ipc_msg m, d;
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_PEERS | DSB_IPC_REPLY_BIT;
  m.u.list_r.total = 3;
  m.u.list_r.count = 2;
  m.u.list_r.p = entries;
  m.u.list_r.len = el;
  long n = enc(&m);
  assert_true(n > 0);
  buf[8] = 3; /* count 3 but two entries */
  assert_int_equal(dsb_ipc_decode(&d, buf, (size_t)n), DSB_ERR_IPC_TRUNCATED);
  buf[8] = 1; /* count 1 but two entries */
  assert_int_equal(dsb_ipc_decode(&d, buf, (size_t)n), DSB_ERR_IPC_TRAILING);
  /* The encoder checks the same. */
  m.u.list_r.count = 3;
  assert_int_equal(enc(&m), DSB_ERR_IPC_TRUNCATED);
}

static void test_reject_too_many_services(void **state) {
  (void)state;
  uint8_t entries[4096];
  size_t el = build_peers(entries, sizeof(entries), 1);
  /* The service count is the byte before the 16 services; find it from the
   * end: each service is "echo"/"files" with a length byte. */
  size_t svc_bytes = 8 * (1 + 5) + 8 * (1 + 4);
  entries[el - svc_bytes - 1] = DSB_IPC_MAX_SERVICES + 1;
  dsb_ipc_msg m;
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_PEERS | DSB_IPC_REPLY_BIT;
  m.u.list_r.total = 1;
  m.u.list_r.count = 1;
  m.u.list_r.p = entries;
  m.u.list_r.len = el;
  assert_int_equal(enc(&m), DSB_ERR_IPC_TOO_MANY);

  dsb_ipc_peer p;
  memset(&p, 0, sizeof(p));
  p.nservices = DSB_IPC_MAX_SERVICES + 1;
  assert_int_equal(dsb_ipc_peer_encode(entries, sizeof(entries), &p),
                   DSB_ERR_IPC_TOO_MANY);
  p.nservices = 0;
  p.naddrs = DSB_IPC_MAX_ADDRS + 1;
  assert_int_equal(dsb_ipc_peer_encode(entries, sizeof(entries), &p),
                   DSB_ERR_IPC_TOO_MANY);
}

static void test_encode_nobuf_every_length(void **state) {
  (void)state;
  dsb_ipc_msg m;
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_OPEN;
  m.u.open.service = dsb_ipc_cstr("echo");
  long full = enc(&m);
  assert_true(full > 0);
  uint8_t small[64];
  for (long cap = 0; cap < full; ++cap) {
    assert_int_equal(dsb_ipc_encode(small, (size_t)cap, &m), DSB_ERR_NOBUF);
  }
  assert_int_equal(dsb_ipc_encode(small, (size_t)full, &m), full);
}

static void test_reject_encode_oversize(void **state) {
  (void)state;
  /* A peers list that does not fit one message. */
  size_t cap = 2 * DSB_IPC_MAX_MSG;
  uint8_t *entries = malloc(cap);
  uint8_t *out = malloc(cap);
  assert_non_null(entries);
  assert_non_null(out);
  size_t el = build_peers(entries, cap, 600);
  assert_true(el > DSB_IPC_MAX_MSG);
  dsb_ipc_msg m;
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_PEERS | DSB_IPC_REPLY_BIT;
  m.u.list_r.total = 600;
  m.u.list_r.count = 600;
  m.u.list_r.p = entries;
  m.u.list_r.len = el;
  assert_int_equal(dsb_ipc_encode(out, cap, &m), DSB_ERR_IPC_OVERSIZE);
  free(entries);
  free(out);
}

static void test_encode_status_reply(void **state) {
  (void)state;
  dsb_ipc_msg d;
  long n = dsb_ipc_encode_status(buf, sizeof(buf), DSB_IPC_OP_OPEN, 77,
                                 DSB_ERR_TRUST_BLOCKED);
  assert_int_equal(n, 13);
  assert_int_equal(dsb_ipc_decode(&d, buf, (size_t)n), 0);
  assert_int_equal(d.op, DSB_IPC_OP_OPEN | DSB_IPC_REPLY_BIT);
  assert_int_equal(d.status, DSB_ERR_TRUST_BLOCKED);
  assert_int_equal(d.nonce, 77);
  /* Not a request op: the generic error reply. */
  n = dsb_ipc_encode_status(buf, sizeof(buf), 0x55, 78, DSB_ERR_IPC_UNKNOWN_OP);
  assert_int_equal(dsb_ipc_decode(&d, buf, (size_t)n), 0);
  assert_int_equal(d.op, DSB_IPC_OP_ERROR);
  assert_int_equal(d.status, DSB_ERR_IPC_UNKNOWN_OP);
  assert_int_equal(dsb_ipc_encode_status(buf, sizeof(buf), 0x55, 1, 0),
                   DSB_ERR_IPC_BAD_VALUE);
}

/* Issue #7 follow-up: an error reply to any op of the request range,
 * known here or not, carries that op|0x80 and decodes with its nonce. */
static void test_encode_status_every_request_op(void **state) {
  (void)state;
  for (unsigned op = DSB_IPC_OP_REQUEST_MIN; op <= DSB_IPC_OP_REQUEST_MAX;
       ++op) {
    dsb_ipc_msg d;
    long n = dsb_ipc_encode_status(buf, sizeof(buf), (uint8_t)op, 1000 + op,
                                   DSB_ERR_LIMIT);
    assert_int_equal(n, 13);
    assert_int_equal(buf[0], op | DSB_IPC_REPLY_BIT);
    assert_int_equal(dsb_ipc_decode(&d, buf, (size_t)n), 0);
    assert_int_equal(d.op, op | DSB_IPC_REPLY_BIT);
    assert_int_equal(d.status, DSB_ERR_LIMIT);
    assert_true(d.nonce == 1000 + op);
    /* Re-encoding gives the same bytes. */
    uint8_t again[32];
    assert_int_equal(dsb_ipc_encode(again, sizeof(again), &d), 13);
    assert_memory_equal(again, buf, 13);
  }
}

static void test_reject_error_reply_without_failure(void **state) {
  (void)state;
  dsb_ipc_msg d;
  /* An op this module has no payload for cannot have a status-0 reply. */
  assert_int_equal(dsb_ipc_encode_status(buf, sizeof(buf), 0x23, 1, 0),
                   DSB_ERR_IPC_BAD_VALUE);
  uint8_t m[16] = {0xa3, 0, 0, 0, 0};
  assert_int_equal(dsb_ipc_decode(&d, m, 5 + 8), DSB_ERR_IPC_UNKNOWN_OP);
  /* Nor a payload after a failure. */
  uint8_t t[16] = {0xa3, 0xff, 0xff, 0xff, 0xf0, 0x01};
  assert_int_equal(dsb_ipc_decode(&d, t, 6 + 8), DSB_ERR_IPC_TRAILING);
}

static void test_op_classes(void **state) {
  (void)state;
  for (unsigned op = 0; op < 256; ++op) {
    int classes = dsb_ipc_op_is_request((uint8_t)op) +
                  dsb_ipc_op_is_reply((uint8_t)op) +
                  dsb_ipc_op_is_event((uint8_t)op);
    assert_true(classes <= 1);
    assert_non_null(dsb_ipc_op_name((uint8_t)op));
  }
  assert_true(dsb_ipc_op_is_request(DSB_IPC_OP_OPEN));
  assert_true(dsb_ipc_op_is_reply(DSB_IPC_OP_OPEN | DSB_IPC_REPLY_BIT));
  assert_true(dsb_ipc_op_is_event(DSB_IPC_EV_STREAM_END));
  assert_string_equal(dsb_ipc_op_name(DSB_IPC_OP_OPEN), "open");
}

/* Deterministic mutation sweep: flipping any bit of valid messages never
 * crashes and either decodes or returns an IPC error. */
static void test_reject_bit_flips(void **state) {
  (void)state;
  uint8_t m[64];
  long n = open_request(m, "echo", 1, 0);
  dsb_ipc_msg d;
  for (long i = 0; i < n * 8; ++i) {
    m[i / 8] ^= (uint8_t)(1u << (i % 8));
    int rv = dsb_ipc_decode(&d, m, (size_t)n);
    assert_true(rv == 0 || (rv <= -700 && rv > -800));
    m[i / 8] ^= (uint8_t)(1u << (i % 8));
  }
}

/* ---- the service-name rule (dsb/service_name.h) ---------------------------
 */

/* A PUBLISH (or WITHDRAW) request built by hand, so names the encoder
 * refuses still reach the decoder. */
static size_t service_request(uint8_t *dst, uint8_t op, const char *service,
                              size_t len) {
  dst[0] = op;
  dst[1] = (uint8_t)len;
  memcpy(dst + 2, service, len);
  memset(dst + 2 + len, 0x5a, DSB_IPC_NONCE_LEN);
  return 2 + len + DSB_IPC_NONCE_LEN;
}

static void test_publish_name_at_the_limit(void **state) {
  (void)state;
  char name[DSB_SERVICE_NAME_MAX + 1];
  memset(name, 'n', DSB_SERVICE_NAME_MAX);
  name[DSB_SERVICE_NAME_MAX] = '\0';
  name[0] = 'A';
  name[1] = '.';
  name[2] = '_';
  name[3] = '-';
  name[4] = '9';
  assert_int_equal(DSB_IPC_SERVICE_MAX, 48);
  dsb_ipc_msg m, d;
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_PUBLISH;
  m.u.service.service = dsb_ipc_cstr(name);
  roundtrip(&m, &d);
  assert_str(d.u.service.service, name);
  uint8_t raw[128];
  size_t n = service_request(raw, DSB_IPC_OP_WITHDRAW, name, strlen(name));
  assert_int_equal(dsb_ipc_decode(&d, raw, n), 0);
  /* "<service>/<32-bit counter in hex>" of the longest name is a valid mux
   * stream name: the reason for the limit. */
  char stream[80];
  int sl = snprintf(stream, sizeof(stream), "%s/%x", name, 0xffffffffu);
  assert_int_equal(sl, DSB_SERVICE_NAME_MAX + 9);
  assert_true(sl <= 64);
}

static void test_reject_publish_name_too_long(void **state) {
  (void)state;
  char name[DSB_SERVICE_NAME_MAX + 2];
  memset(name, 'n', DSB_SERVICE_NAME_MAX + 1);
  name[DSB_SERVICE_NAME_MAX + 1] = '\0';
  dsb_ipc_msg m, d;
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_PUBLISH;
  m.u.service.service = dsb_ipc_cstr(name);
  assert_int_equal(enc(&m), DSB_ERR_IPC_BAD_STRING);
  uint8_t raw[128];
  size_t n = service_request(raw, DSB_IPC_OP_PUBLISH, name, strlen(name));
  assert_int_equal(dsb_ipc_decode(&d, raw, n), DSB_ERR_IPC_BAD_STRING);
  n = service_request(raw, DSB_IPC_OP_WITHDRAW, name, strlen(name));
  assert_int_equal(dsb_ipc_decode(&d, raw, n), DSB_ERR_IPC_BAD_STRING);
  long ol = open_request(raw, name, 1, 0);
  assert_int_equal(dsb_ipc_decode(&d, raw, (size_t)ol), DSB_ERR_IPC_BAD_STRING);
}

static void test_reject_publish_name_bad_char(void **state) {
  (void)state;
  /* Each is a valid mux stream name or discovery service, but not a
   * service an app may publish. */
  static const char *const bad[] = {"a/b", "a:b", "a@b",   "a+b",
                                    "a~b", "a b", "a\x7f", "caf\xc3\xa9"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
    dsb_ipc_msg m, d;
    memset(&m, 0, sizeof(m));
    m.op = DSB_IPC_OP_PUBLISH;
    m.u.service.service = dsb_ipc_cstr(bad[i]);
    assert_int_equal(enc(&m), DSB_ERR_IPC_BAD_STRING);
    uint8_t raw[64];
    size_t n = service_request(raw, DSB_IPC_OP_PUBLISH, bad[i], strlen(bad[i]));
    assert_int_equal(dsb_ipc_decode(&d, raw, n), DSB_ERR_IPC_BAD_STRING);
  }
}

/* A peer's announced services are listed as discovery accepted them: up to
 * 64 printable bytes, whatever this side could open. */
static void test_peer_entry_lists_any_announced_service(void **state) {
  (void)state;
  static uint8_t entries[1024];
  char longest[DSB_IPC_PEER_SERVICE_MAX + 1];
  memset(longest, 'L', DSB_IPC_PEER_SERVICE_MAX);
  longest[DSB_IPC_PEER_SERVICE_MAX] = '\0';
  dsb_ipc_peer p;
  memset(&p, 0, sizeof(p));
  p.id = test_id(7);
  p.nservices = 3;
  p.services[0] = dsb_ipc_cstr(longest);
  p.services[1] = dsb_ipc_cstr("cam/front:1@x+y~z");
  p.services[2] = dsb_ipc_cstr("echo");
  long el = dsb_ipc_peer_encode(entries, sizeof(entries), &p);
  assert_true(el > 0);
  dsb_ipc_msg m, d;
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_PEERS | DSB_IPC_REPLY_BIT;
  m.u.list_r.total = 1;
  m.u.list_r.count = 1;
  m.u.list_r.p = entries;
  m.u.list_r.len = (size_t)el;
  roundtrip(&m, &d);
  dsb_ipc_iter it;
  dsb_ipc_peer e;
  dsb_ipc_iter_init(&it, &d.u.list_r);
  assert_int_equal(dsb_ipc_next_peer(&it, &e), 1);
  assert_int_equal(e.nservices, 3);
  assert_str(e.services[0], longest);
  assert_str(e.services[1], "cam/front:1@x+y~z");
  /* Listed, but not openable from here. */
  assert_false(dsb_ipc_service_valid(e.services[0].p, e.services[0].len));
  assert_false(dsb_ipc_service_valid(e.services[1].p, e.services[1].len));
  assert_true(dsb_ipc_service_valid(e.services[2].p, e.services[2].len));
}

static void test_reject_peer_service_too_long(void **state) {
  (void)state;
  char name[DSB_IPC_PEER_SERVICE_MAX + 2];
  memset(name, 'L', DSB_IPC_PEER_SERVICE_MAX + 1);
  name[DSB_IPC_PEER_SERVICE_MAX + 1] = '\0';
  uint8_t entry[256];
  dsb_ipc_peer p;
  memset(&p, 0, sizeof(p));
  p.nservices = 1;
  p.services[0] = dsb_ipc_cstr(name);
  assert_int_equal(dsb_ipc_peer_encode(entry, sizeof(entry), &p),
                   DSB_ERR_IPC_BAD_STRING);
  p.services[0] = dsb_ipc_cstr("a b");
  assert_int_equal(dsb_ipc_peer_encode(entry, sizeof(entry), &p),
                   DSB_ERR_IPC_BAD_STRING);
  /* By hand: id, empty name, trust, session, no addresses, one service of
   * 65 bytes. */
  size_t off = 0;
  memset(entry, 0, 16);
  off += 16;
  entry[off++] = 0; /* name */
  entry[off++] = DSB_IPC_TRUST_UNKNOWN;
  entry[off++] = DSB_IPC_SESSION_NONE;
  entry[off++] = 0; /* addresses */
  entry[off++] = 1; /* services */
  entry[off++] = (uint8_t)strlen(name);
  memcpy(entry + off, name, strlen(name));
  off += strlen(name);
  dsb_ipc_list l = {1, 1, entry, off};
  dsb_ipc_iter it;
  dsb_ipc_iter_init(&it, &l);
  assert_int_equal(dsb_ipc_next_peer(&it, &p), DSB_ERR_IPC_BAD_STRING);
  entry[off - 1 - strlen(name)] = (uint8_t)(strlen(name) - 1);
  dsb_ipc_list ok = {1, 1, entry, off - 1};
  dsb_ipc_iter_init(&it, &ok);
  assert_int_equal(dsb_ipc_next_peer(&it, &p), 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip_requests),
      cmocka_unit_test(test_roundtrip_replies_and_events),
      cmocka_unit_test(test_roundtrip_lists),
      cmocka_unit_test(test_golden_vectors),
      cmocka_unit_test(test_peek_reads_op_and_nonce),
      cmocka_unit_test(test_encode_nobuf_every_length),
      cmocka_unit_test(test_encode_status_reply),
      cmocka_unit_test(test_encode_status_every_request_op),
      cmocka_unit_test(test_reject_error_reply_without_failure),
      cmocka_unit_test(test_op_classes),
      cmocka_unit_test(test_reject_truncated),
      cmocka_unit_test(test_reject_trailing_bytes),
      cmocka_unit_test(test_reject_oversize),
      cmocka_unit_test(test_reject_unknown_op),
      cmocka_unit_test(test_reject_unsupported_version),
      cmocka_unit_test(test_reject_hello_unknown_flags),
      cmocka_unit_test(test_reject_bad_service_name),
      cmocka_unit_test(test_reject_name_control_char),
      cmocka_unit_test(test_reject_string_length_past_end),
      cmocka_unit_test(test_reject_bad_priority),
      cmocka_unit_test(test_reject_bad_trust_state),
      cmocka_unit_test(test_reject_positive_status),
      cmocka_unit_test(test_reject_list_count_over_total),
      cmocka_unit_test(test_reject_list_count_mismatch),
      cmocka_unit_test(test_reject_too_many_services),
      cmocka_unit_test(test_reject_encode_oversize),
      cmocka_unit_test(test_reject_bit_flips),
      cmocka_unit_test(test_publish_name_at_the_limit),
      cmocka_unit_test(test_reject_publish_name_too_long),
      cmocka_unit_test(test_reject_publish_name_bad_char),
      cmocka_unit_test(test_peer_entry_lists_any_announced_service),
      cmocka_unit_test(test_reject_peer_service_too_long),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
