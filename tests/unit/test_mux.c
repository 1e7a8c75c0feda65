/*
 * test_mux.c - the stream multiplexer: streams over an in-memory pipe,
 * every reject label provoked from the wire, scheduler fairness,
 * backpressure, keepalive, and a failing-allocator run.
 */
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
#include "mux_test_pair.h"

#define T0 (1000 * DSB_NS_PER_S)
#define MAXREC 64

/* What one end saw. */
typedef struct end {
  dsb_mux *mux;
  int accept;             /* accept incoming streams */
  int auto_consume;       /* consume every delivery at once */
  uint32_t no_consume_id; /* never consume this stream */
  uint32_t opened_id;
  char opened_name[DSB_MUX_NAME_MAX + 1];
  uint8_t opened_mode;
  int opens, accepted, closes, resets, writables, keepalive_timeouts;
  uint32_t reset_id, reset_code;
  uint32_t msgs;
  uint8_t *rx; /* concatenated deliveries */
  size_t rxlen, rxcap;
  size_t last_msg_len;
  uint64_t delivered_by_id[MAXREC];
} end;

static void end_store(end *e, const uint8_t *data, size_t len) {
  if (e->rxlen + len > e->rxcap) {
    size_t cap = e->rxcap ? e->rxcap : 65536;
    while (cap < e->rxlen + len) {
      cap *= 2;
    }
    e->rx = realloc(e->rx, cap);
    assert_non_null(e->rx);
    e->rxcap = cap;
  }
  memcpy(e->rx + e->rxlen, data, len);
  e->rxlen += len;
}

static int cb_open(dsb_mux *mux, uint32_t id, const char *name, size_t namelen,
                   uint8_t prio, uint8_t mode, void *ud) {
  end *e = ud;
  (void)prio;
  e->opens++;
  e->opened_id = id;
  e->opened_mode = mode;
  memcpy(e->opened_name, name, namelen);
  e->opened_name[namelen] = 0;
  if (e->accept) {
    assert_int_equal(dsb_mux_accept(mux, id, NULL), 0);
  }
  return 0;
}

static int cb_accepted(dsb_mux *mux, uint32_t id, void *ud) {
  (void)mux;
  (void)id;
  ((end *)ud)->accepted++;
  return 0;
}

static void end_delivered(dsb_mux *mux, end *e, uint32_t id,
                          const uint8_t *data, size_t len) {
  end_store(e, data, len);
  if (id < MAXREC) {
    e->delivered_by_id[id] += len;
  }
  if (e->auto_consume && id != e->no_consume_id) {
    assert_int_equal(dsb_mux_consume(mux, id, len), 0);
  }
}

static int cb_message(dsb_mux *mux, uint32_t id, const uint8_t *data,
                      size_t len, void *ud) {
  end *e = ud;
  e->msgs++;
  e->last_msg_len = len;
  end_delivered(mux, e, id, data, len);
  return 0;
}

static int cb_data(dsb_mux *mux, uint32_t id, const uint8_t *data, size_t len,
                   void *ud) {
  end_delivered(mux, ud, id, data, len);
  return 0;
}

static int cb_close(dsb_mux *mux, uint32_t id, void *ud) {
  (void)mux;
  (void)id;
  ((end *)ud)->closes++;
  return 0;
}

static int cb_reset(dsb_mux *mux, uint32_t id, uint32_t code, void *ud) {
  end *e = ud;
  (void)mux;
  e->resets++;
  e->reset_id = id;
  e->reset_code = code;
  return 0;
}

static int cb_writable(dsb_mux *mux, uint32_t id, void *ud) {
  (void)mux;
  (void)id;
  ((end *)ud)->writables++;
  return 0;
}

static int cb_keepalive(dsb_mux *mux, void *ud) {
  (void)mux;
  ((end *)ud)->keepalive_timeouts++;
  return 0;
}

static const dsb_mux_callbacks test_cbs = {cb_open,     cb_accepted, cb_message,
                                           cb_data,     cb_close,    cb_reset,
                                           cb_writable, cb_keepalive};

typedef struct pair {
  end a, b;
} pair;

static void pair_init(pair *p, const dsb_mux_settings *sa,
                      const dsb_mux_settings *sb) {
  memset(p, 0, sizeof(*p));
  p->a.accept = p->b.accept = 1;
  p->a.auto_consume = p->b.auto_consume = 1;
  assert_int_equal(dsb_mux_new(&p->a.mux, NULL, DSB_MUX_ROLE_INITIATOR, sa,
                               &test_cbs, &p->a, T0),
                   0);
  assert_int_equal(dsb_mux_new(&p->b.mux, NULL, DSB_MUX_ROLE_RESPONDER, sb,
                               &test_cbs, &p->b, T0),
                   0);
  assert_int_equal(dsb_mux_set_authenticated(p->a.mux, T0), 0);
  assert_int_equal(dsb_mux_set_authenticated(p->b.mux, T0), 0);
}

static void pair_fini(pair *p) {
  dsb_mux_del(p->a.mux);
  dsb_mux_del(p->b.mux);
  free(p->a.rx);
  free(p->b.rx);
}

static void fill_pattern(uint8_t *buf, size_t len, uint32_t seed) {
  for (size_t i = 0; i < len; ++i) {
    buf[i] = (uint8_t)((i * 131u + seed * 7u + (i >> 8)) & 0xff);
  }
}

static uint32_t open_stream(pair *p, const char *name, uint8_t prio,
                            uint32_t flags) {
  uint32_t id = 0;
  assert_int_equal(
      dsb_mux_open(p->a.mux, &id, name, strlen(name), prio, flags, NULL), 0);
  assert_int_equal(pair_pump(p->a.mux, p->b.mux, T0), 0);
  return id;
}

/* ---- basic streams ---- */

static void test_open_accept_message_roundtrip(void **state) {
  pair p;
  uint8_t msg[100];
  (void)state;
  pair_init(&p, NULL, NULL);
  uint32_t id = open_stream(&p, "svc.echo", 2, 0);
  assert_int_equal(id % 2, 1); /* initiator ids are odd */
  assert_int_equal(p.b.opens, 1);
  assert_string_equal(p.b.opened_name, "svc.echo");
  assert_int_equal(p.b.opened_id, id);
  assert_int_equal(p.a.accepted, 1);

  fill_pattern(msg, sizeof(msg), 1);
  assert_int_equal(dsb_mux_write_message(p.a.mux, id, msg, sizeof(msg)), 0);
  assert_int_equal(pair_pump(p.a.mux, p.b.mux, T0), 0);
  assert_int_equal(p.b.msgs, 1);
  assert_int_equal(p.b.rxlen, sizeof(msg));
  assert_memory_equal(p.b.rx, msg, sizeof(msg));

  /* the reply direction on the same stream */
  assert_int_equal(dsb_mux_write_message(p.b.mux, id, msg, 10), 0);
  assert_int_equal(pair_pump(p.a.mux, p.b.mux, T0), 0);
  assert_int_equal(p.a.msgs, 1);
  assert_memory_equal(p.a.rx, msg, 10);
  pair_fini(&p);
}

static void test_large_message_spans_frames(void **state) {
  pair p;
  const size_t len = 200 * 1024;
  uint8_t *msg = malloc(len);
  dsb_mux_stats st;
  (void)state;
  assert_non_null(msg);
  pair_init(&p, NULL, NULL);
  uint32_t id = open_stream(&p, "bulk", 0, 0);
  fill_pattern(msg, len, 2);
  assert_int_equal(dsb_mux_write_message(p.a.mux, id, msg, len), 0);
  assert_int_equal(dsb_mux_write_message(p.a.mux, id, msg, 5), 0);
  assert_int_equal(pair_pump(p.a.mux, p.b.mux, T0), 0);
  assert_int_equal(p.b.msgs, 2);
  assert_int_equal(p.b.rxlen, len + 5);
  assert_memory_equal(p.b.rx, msg, len);
  assert_memory_equal(p.b.rx + len, msg, 5);
  dsb_mux_get_stats(p.b.mux, &st);
  assert_true(st.frames_received >= len / DSB_MUX_MAX_FRAME_PAYLOAD);
  assert_int_equal(st.messages_received, 2);
  assert_int_equal(st.recv_buffered, 0); /* assembly buffer released */
  free(msg);
  pair_fini(&p);
}

static void test_byte_mode_bulk(void **state) {
  pair p;
  const size_t total = 3 * 1024 * 1024;
  uint8_t *src = malloc(total);
  size_t off = 0;
  (void)state;
  assert_non_null(src);
  fill_pattern(src, total, 3);
  pair_init(&p, NULL, NULL);
  uint32_t id = open_stream(&p, "file", 4, DSB_MUX_OPEN_BYTES);
  assert_int_equal(p.b.opened_mode, DSB_MUX_MODE_BYTES);
  /* message calls on a byte stream are refused */
  assert_int_equal(dsb_mux_write_message(p.a.mux, id, src, 1),
                   DSB_ERR_INVALID_ARGUMENT);
  while (off < total) {
    long n = dsb_mux_write_bytes(p.a.mux, id, src + off, total - off);
    if (n == DSB_ERR_WOULD_BLOCK) {
      assert_int_equal(pair_pump(p.a.mux, p.b.mux, T0), 0);
      continue;
    }
    assert_true(n > 0);
    off += (size_t)n;
  }
  assert_int_equal(pair_pump(p.a.mux, p.b.mux, T0), 0);
  assert_int_equal(p.b.rxlen, total);
  assert_memory_equal(p.b.rx, src, total);
  free(src);
  pair_fini(&p);
}

static void test_message_too_large_refused(void **state) {
  pair p;
  dsb_mux_settings sb;
  static uint8_t big[256 * 1024 + 1];
  (void)state;
  dsb_mux_settings_default(&sb);
  sb.max_message = 1000; /* the receiver takes small messages only */
  pair_init(&p, NULL, &sb);
  uint32_t id = open_stream(&p, "small", 0, 0);
  assert_int_equal(dsb_mux_write_message(p.a.mux, id, big, sizeof(big)),
                   DSB_ERR_MUX_MESSAGE_TOO_LARGE);
  assert_int_equal(dsb_mux_write_message(p.a.mux, id, big, 1001),
                   DSB_ERR_MUX_MESSAGE_TOO_LARGE);
  assert_int_equal(dsb_mux_write_message(p.a.mux, id, big, 1000), 0);
  assert_int_equal(dsb_mux_write_message(p.a.mux, id, big, 0),
                   DSB_ERR_INVALID_ARGUMENT);
  assert_int_equal(pair_pump(p.a.mux, p.b.mux, T0), 0);
  assert_int_equal(p.b.msgs, 1);
  pair_fini(&p);
}

static void test_half_close_both_ways(void **state) {
  pair p;
  dsb_mux_stats sa, sb;
  uint8_t m[3] = {1, 2, 3};
  (void)state;
  pair_init(&p, NULL, NULL);
  uint32_t id = open_stream(&p, "hc", 0, 0);
  assert_int_equal(dsb_mux_write_message(p.a.mux, id, m, 3), 0);
  assert_int_equal(dsb_mux_close(p.a.mux, id), 0);
  assert_int_equal(dsb_mux_close(p.a.mux, id), DSB_ERR_INVALID_STATE);
  assert_int_equal(dsb_mux_write_message(p.a.mux, id, m, 3),
                   DSB_ERR_INVALID_STATE);
  assert_int_equal(pair_pump(p.a.mux, p.b.mux, T0), 0);
  assert_int_equal(p.b.msgs, 1); /* data before CLOSE arrives first */
  assert_int_equal(p.b.closes, 1);
  /* B can still answer on its half */
  assert_int_equal(dsb_mux_write_message(p.b.mux, id, m, 2), 0);
  assert_int_equal(dsb_mux_close(p.b.mux, id), 0);
  assert_int_equal(pair_pump(p.a.mux, p.b.mux, T0), 0);
  assert_int_equal(p.a.msgs, 1);
  assert_int_equal(p.a.closes, 1);
  dsb_mux_get_stats(p.a.mux, &sa);
  dsb_mux_get_stats(p.b.mux, &sb);
  assert_int_equal(sa.streams_live, 0);
  assert_int_equal(sb.streams_live, 0);
  /* the name is free again */
  id = open_stream(&p, "hc", 0, 0);
  assert_int_equal(p.b.opens, 2);
  pair_fini(&p);
}

static void test_close_waits_for_consume(void **state) {
  pair p;
  dsb_mux_stats sb;
  uint8_t m[10] = {0};
  (void)state;
  pair_init(&p, NULL, NULL);
  p.b.auto_consume = 0;
  uint32_t id = open_stream(&p, "slow", 0, 0);
  assert_int_equal(dsb_mux_write_message(p.a.mux, id, m, 10), 0);
  assert_int_equal(dsb_mux_close(p.a.mux, id), 0);
  assert_int_equal(dsb_mux_close(p.b.mux, id), 0);
  assert_int_equal(pair_pump(p.a.mux, p.b.mux, T0), 0);
  dsb_mux_get_stats(p.b.mux, &sb);
  assert_int_equal(sb.streams_live, 1); /* 10 bytes still held by the app */
  assert_int_equal(dsb_mux_consume(p.b.mux, id, 11), DSB_ERR_INVALID_ARGUMENT);
  assert_int_equal(dsb_mux_consume(p.b.mux, id, 10), 0);
  dsb_mux_get_stats(p.b.mux, &sb);
  assert_int_equal(sb.streams_live, 0);
  assert_int_equal(dsb_mux_consume(p.b.mux, id, 1), DSB_ERR_NOT_FOUND);
  pair_fini(&p);
}

static void test_reset_is_idempotent(void **state) {
  pair p;
  uint8_t m[4] = {0};
  (void)state;
  pair_init(&p, NULL, NULL);
  uint32_t id = open_stream(&p, "rst", 0, 0);
  assert_int_equal(dsb_mux_write_message(p.a.mux, id, m, 4), 0);
  assert_int_equal(dsb_mux_reset(p.a.mux, id, 0x1234), 0);
  assert_int_equal(dsb_mux_reset(p.a.mux, id, 0x1234), 0);
  assert_int_equal(dsb_mux_write_message(p.a.mux, id, m, 4), DSB_ERR_NOT_FOUND);
  /* B resets too before seeing A's RST: the RSTs cross, both ignored */
  assert_int_equal(dsb_mux_reset(p.b.mux, id, 7), 0);
  assert_int_equal(pair_pump(p.a.mux, p.b.mux, T0), 0);
  assert_int_equal(p.b.msgs, 0); /* dropped with the reset */
  assert_int_equal(dsb_mux_fatal_error(p.a.mux), 0);
  assert_int_equal(dsb_mux_fatal_error(p.b.mux), 0);
  /* a fresh reset after the fact is still a no-op */
  assert_int_equal(dsb_mux_reset(p.b.mux, id, 7), 0);

  /* one-sided reset: the peer is told the code */
  id = open_stream(&p, "rst2", 0, 0);
  assert_int_equal(dsb_mux_reset(p.a.mux, id, 0x100), 0);
  assert_int_equal(pair_pump(p.a.mux, p.b.mux, T0), 0);
  assert_int_equal(p.b.resets, 1);
  assert_int_equal(p.b.reset_id, id);
  assert_int_equal(p.b.reset_code, 0x100);
  pair_fini(&p);
}

static void test_refused_over_stream_limit(void **state) {
  pair p;
  dsb_mux_settings sb;
  uint32_t ids[3];
  (void)state;
  dsb_mux_settings_default(&sb);
  sb.max_streams = 2;
  pair_init(&p, NULL, &sb);
  for (int i = 0; i < 3; ++i) {
    char name[8];
    snprintf(name, sizeof(name), "s%d", i);
    assert_int_equal(
        dsb_mux_open(p.a.mux, &ids[i], name, strlen(name), 0, 0, NULL), 0);
  }
  assert_int_equal(pair_pump(p.a.mux, p.b.mux, T0), 0);
  assert_int_equal(p.b.opens, 2);
  assert_int_equal(p.a.accepted, 2);
  assert_int_equal(p.a.resets, 1);
  assert_int_equal(p.a.reset_id, ids[2]);
  assert_int_equal(p.a.reset_code, DSB_MUX_RST_REFUSED);
  assert_int_equal(dsb_mux_reject_count(p.b.mux, DSB_ERR_MUX_TOO_MANY_STREAMS),
                   1);
  pair_fini(&p);
}

static void test_no_open_callback_refuses(void **state) {
  dsb_mux *a, *b;
  end ea;
  dsb_mux_callbacks none = {0};
  uint32_t id;
  (void)state;
  memset(&ea, 0, sizeof(ea));
  assert_int_equal(
      dsb_mux_new(&a, NULL, DSB_MUX_ROLE_INITIATOR, NULL, &test_cbs, &ea, T0),
      0);
  assert_int_equal(
      dsb_mux_new(&b, NULL, DSB_MUX_ROLE_RESPONDER, NULL, &none, NULL, T0), 0);
  dsb_mux_set_authenticated(a, T0);
  dsb_mux_set_authenticated(b, T0);
  assert_int_equal(dsb_mux_open(a, &id, "x", 1, 0, 0, NULL), 0);
  assert_int_equal(pair_pump(a, b, T0), 0);
  assert_int_equal(ea.resets, 1);
  assert_int_equal(ea.reset_code, DSB_MUX_RST_REJECTED);
  dsb_mux_del(a);
  dsb_mux_del(b);
}

static void test_ids_never_collide_and_names_per_direction(void **state) {
  pair p;
  uint32_t ia, ib;
  (void)state;
  pair_init(&p, NULL, NULL);
  /* both ends open the same name at once: no glare */
  assert_int_equal(dsb_mux_open(p.a.mux, &ia, "dsb.rpc", 7, 0, 0, NULL), 0);
  assert_int_equal(dsb_mux_open(p.b.mux, &ib, "dsb.rpc", 7, 0, 0, NULL), 0);
  assert_int_equal(ia % 2, 1);
  assert_int_equal(ib % 2, 0);
  assert_int_not_equal(ia, ib);
  assert_int_equal(dsb_mux_open(p.a.mux, &ia, "dsb.rpc", 7, 0, 0, NULL),
                   DSB_ERR_MUX_DUPLICATE_NAME);
  assert_int_equal(dsb_mux_open(p.a.mux, &ia, "bad name", 8, 0, 0, NULL),
                   DSB_ERR_MUX_INVALID_NAME);
  assert_int_equal(dsb_mux_open(p.a.mux, &ia, "ok", 2, 8, 0, NULL),
                   DSB_ERR_INVALID_ARGUMENT);
  assert_int_equal(pair_pump(p.a.mux, p.b.mux, T0), 0);
  assert_int_equal(p.a.opens, 1);
  assert_int_equal(p.b.opens, 1);
  assert_int_equal(p.a.accepted, 1);
  assert_int_equal(p.b.accepted, 1);
  pair_fini(&p);
}

static void test_open_before_authenticated_waits(void **state) {
  dsb_mux *a;
  uint8_t buf[256];
  uint32_t id;
  (void)state;
  assert_int_equal(
      dsb_mux_new(&a, NULL, DSB_MUX_ROLE_INITIATOR, NULL, NULL, NULL, T0), 0);
  assert_int_equal(dsb_mux_open(a, &id, "early", 5, 0, 0, NULL), 0);
  assert_int_equal(dsb_mux_want_send(a), 0);
  assert_int_equal(dsb_mux_send(a, buf, sizeof(buf), T0), 0);
  assert_int_equal(dsb_mux_set_authenticated(a, T0), 0);
  assert_int_equal(dsb_mux_want_send(a), 1);
  assert_true(dsb_mux_send(a, buf, sizeof(buf), T0) > 0);
  dsb_mux_del(a);
}

static void test_settings_validated(void **state) {
  dsb_mux *m = NULL;
  dsb_mux_settings s;
  (void)state;
  dsb_mux_settings_default(&s);
  s.max_message = s.stream_window + 1;
  assert_int_equal(
      dsb_mux_new(&m, NULL, DSB_MUX_ROLE_INITIATOR, &s, NULL, NULL, T0),
      DSB_ERR_CONFIG);
  dsb_mux_settings_default(&s);
  s.max_frame_payload = DSB_MUX_MAX_FRAME_PAYLOAD + 1;
  assert_int_equal(
      dsb_mux_new(&m, NULL, DSB_MUX_ROLE_INITIATOR, &s, NULL, NULL, T0),
      DSB_ERR_CONFIG);
  assert_null(m);
  assert_int_equal(dsb_mux_new(&m, NULL, 7, NULL, NULL, NULL, T0),
                   DSB_ERR_INVALID_ARGUMENT);
  dsb_mux_del(NULL);
}

/* ---- rejects provoked from the wire ---- */

typedef struct wire {
  dsb_mux *mux; /* the responder under test */
  end e;
  uint8_t buf[PAIR_RECORD];
  size_t len;
} wire;

static void wire_init(wire *w, const dsb_mux_settings *s, int auth) {
  memset(w, 0, sizeof(*w));
  w->e.accept = 1;
  w->e.auto_consume = 0;
  assert_int_equal(dsb_mux_new(&w->mux, NULL, DSB_MUX_ROLE_RESPONDER, s,
                               &test_cbs, &w->e, T0),
                   0);
  if (auth) {
    assert_int_equal(dsb_mux_set_authenticated(w->mux, T0), 0);
  }
}

static void wire_fini(wire *w) {
  dsb_mux_del(w->mux);
  free(w->e.rx);
}

static void wire_put(wire *w, const dsb_mux_frame *fr) {
  long n = dsb_mux_frame_encode(w->buf + w->len, sizeof(w->buf) - w->len, fr);
  assert_true(n > 0);
  w->len += (size_t)n;
}

static void wire_open(wire *w, uint32_t id, const char *name, uint32_t window) {
  dsb_mux_frame fr = {0};
  fr.type = DSB_MUX_FRAME_OPEN;
  fr.stream_id = id;
  fr.window = window;
  fr.max_message = window;
  fr.name = (const uint8_t *)name;
  fr.namelen = strlen(name);
  wire_put(w, &fr);
}

static void wire_data(wire *w, uint32_t id, const uint8_t *d, size_t len,
                      uint8_t flags) {
  dsb_mux_frame fr = {0};
  fr.type = DSB_MUX_FRAME_DATA;
  fr.stream_id = id;
  fr.flags = flags;
  fr.data = d;
  fr.datalen = len;
  wire_put(w, &fr);
}

static void wire_simple(wire *w, uint8_t type, uint32_t id, uint32_t val) {
  dsb_mux_frame fr = {0};
  fr.type = type;
  fr.stream_id = id;
  fr.increment = val;
  fr.code = val;
  fr.opaque = val;
  wire_put(w, &fr);
}

static long wire_feed(wire *w) {
  long rv = dsb_mux_recv(w->mux, w->buf, w->len, T0);
  w->len = 0;
  return rv;
}

static void assert_rejected(wire *w, int err) {
  assert_int_equal(wire_feed(w), err);
  assert_true(dsb_err_is_fatal(err));
  assert_int_equal(dsb_mux_fatal_error(w->mux), err);
  assert_int_equal(dsb_mux_reject_count(w->mux, err), 1);
  /* dead: everything answers the same code */
  assert_int_equal(dsb_mux_recv(w->mux, w->buf, 1, T0), err);
  assert_int_equal(dsb_mux_send(w->mux, w->buf, sizeof(w->buf), T0), err);
}

/* Collects the RST frames a mux sends. */
typedef struct rst_log {
  int n;
  uint32_t id[8], code[8];
} rst_log;

static void rst_collect(void *ctx, const dsb_mux_frame *fr) {
  rst_log *l = ctx;
  if (fr->type == DSB_MUX_FRAME_RST && l->n < 8) {
    l->id[l->n] = fr->stream_id;
    l->code[l->n++] = fr->code;
  }
}

static void wire_sent_rsts(wire *w, rst_log *log) {
  uint8_t out[4096];
  long n = dsb_mux_send(w->mux, out, sizeof(out), T0);
  assert_true(n >= 0);
  memset(log, 0, sizeof(*log));
  assert_int_equal(pair_each_frame(out, (size_t)n, rst_collect, log), 0);
}

static void test_reject_frame_oversize(void **state) {
  wire w;
  (void)state;
  wire_init(&w, NULL, 1);
  /* header claiming 32769 bytes: the length field alone is the offence */
  const uint8_t hdr[9] = {
      DSB_MUX_VERSION, DSB_MUX_FRAME_DATA, 0, 0, 0, 0, 1, 0x80, 0x01};
  memcpy(w.buf, hdr, sizeof(hdr));
  w.len = sizeof(hdr);
  assert_rejected(&w, DSB_ERR_MUX_FRAME_OVERSIZE);
  assert_string_equal(dsb_strerror(DSB_ERR_MUX_FRAME_OVERSIZE),
                      "mux.reject.frame_oversize");
  wire_fini(&w);
}

static void test_reject_invalid_stream_state_transition(void **state) {
  wire w;
  uint8_t d[4] = {0};
  (void)state;
  /* DATA on a stream the receiver has not accepted yet */
  wire_init(&w, NULL, 1);
  w.e.accept = 0;
  wire_open(&w, 1, "a", 65536);
  wire_data(&w, 1, d, sizeof(d), DSB_MUX_FLAG_FIN_MESSAGE);
  assert_rejected(&w, DSB_ERR_MUX_INVALID_TRANSITION);
  assert_string_equal(dsb_strerror(DSB_ERR_MUX_INVALID_TRANSITION),
                      "mux.reject.invalid_stream_state_transition");
  wire_fini(&w);

  /* CLOSE twice */
  wire_init(&w, NULL, 1);
  wire_open(&w, 1, "a", 65536);
  wire_simple(&w, DSB_MUX_FRAME_CLOSE, 1, 0);
  wire_simple(&w, DSB_MUX_FRAME_CLOSE, 1, 0);
  assert_rejected(&w, DSB_ERR_MUX_INVALID_TRANSITION);
  wire_fini(&w);

  /* OPEN reusing an id, and OPEN with this end's parity */
  wire_init(&w, NULL, 1);
  wire_open(&w, 3, "a", 65536);
  wire_open(&w, 3, "b", 65536);
  assert_rejected(&w, DSB_ERR_MUX_INVALID_TRANSITION);
  wire_fini(&w);
  wire_init(&w, NULL, 1);
  wire_open(&w, 2, "a", 65536); /* even ids belong to the responder */
  assert_rejected(&w, DSB_ERR_MUX_INVALID_TRANSITION);
  wire_fini(&w);

  /* DATA after the peer's own CLOSE */
  wire_init(&w, NULL, 1);
  wire_open(&w, 1, "a", 65536);
  wire_simple(&w, DSB_MUX_FRAME_CLOSE, 1, 0);
  wire_data(&w, 1, d, sizeof(d), DSB_MUX_FLAG_FIN_MESSAGE);
  assert_rejected(&w, DSB_ERR_MUX_INVALID_TRANSITION);
  wire_fini(&w);

  /* OPEN_ACK for a stream the peer opened itself */
  wire_init(&w, NULL, 1);
  wire_open(&w, 1, "a", 65536);
  {
    dsb_mux_frame fr = {0};
    fr.type = DSB_MUX_FRAME_OPEN_ACK;
    fr.stream_id = 1;
    fr.window = 65536;
    fr.max_message = 1;
    wire_put(&w, &fr);
  }
  assert_rejected(&w, DSB_ERR_MUX_INVALID_TRANSITION);
  wire_fini(&w);
}

static void test_reject_window_credit_overflow_or_underflow(void **state) {
  wire w;
  dsb_mux_settings s;
  static uint8_t d[2048];
  (void)state;
  /* underflow: DATA beyond the 1024-byte window we advertised */
  dsb_mux_settings_default(&s);
  s.stream_window = 1024;
  s.max_message = 1024;
  wire_init(&w, &s, 1);
  wire_open(&w, 1, "a", 65536);
  wire_data(&w, 1, d, 1024, 0);
  wire_data(&w, 1, d, 1, DSB_MUX_FLAG_FIN_MESSAGE);
  assert_rejected(&w, DSB_ERR_MUX_CREDIT);
  assert_string_equal(dsb_strerror(DSB_ERR_MUX_CREDIT),
                      "mux.reject.window_credit_overflow_or_underflow");
  wire_fini(&w);

  /* overflow: WINDOW_UPDATE beyond the window the peer advertised */
  wire_init(&w, NULL, 1);
  wire_open(&w, 1, "a", 4096);
  wire_simple(&w, DSB_MUX_FRAME_WINDOW_UPDATE, 1, 1);
  assert_rejected(&w, DSB_ERR_MUX_CREDIT);
  wire_fini(&w);

  /* overflow of the session window */
  wire_init(&w, NULL, 1);
  wire_simple(&w, DSB_MUX_FRAME_WINDOW_UPDATE, 0, DSB_MUX_MAX_WINDOW);
  assert_rejected(&w, DSB_ERR_MUX_CREDIT);
  wire_fini(&w);
}

static void test_reject_unknown_stream_frame(void **state) {
  wire w;
  uint8_t d[1] = {0};
  (void)state;
  wire_init(&w, NULL, 1);
  wire_data(&w, 101, d, 1, DSB_MUX_FLAG_FIN_MESSAGE);
  assert_rejected(&w, DSB_ERR_MUX_UNKNOWN_STREAM);
  assert_string_equal(dsb_strerror(DSB_ERR_MUX_UNKNOWN_STREAM),
                      "mux.reject.unknown_stream_frame");
  wire_fini(&w);

  /* a RST for one of our own ids we never allocated */
  wire_init(&w, NULL, 1);
  wire_simple(&w, DSB_MUX_FRAME_RST, 2, 0);
  assert_rejected(&w, DSB_ERR_MUX_UNKNOWN_STREAM);
  wire_fini(&w);
}

static void test_closed_stream_frames_ignored(void **state) {
  wire w;
  uint8_t d[8] = {0};
  dsb_mux_stats st;
  (void)state;
  wire_init(&w, NULL, 1);
  wire_open(&w, 1, "a", 65536);
  assert_int_equal(wire_feed(&w), (long)0 + 9 + 11 + 1);
  assert_int_equal(dsb_mux_reset(w.mux, 1, 0), 0);
  /* frames in flight before the peer saw our RST are not an offence */
  wire_data(&w, 1, d, sizeof(d), DSB_MUX_FLAG_FIN_MESSAGE);
  wire_simple(&w, DSB_MUX_FRAME_CLOSE, 1, 0);
  size_t len = w.len;
  assert_int_equal(wire_feed(&w), (long)len);
  dsb_mux_get_stats(w.mux, &st);
  assert_int_equal(st.frames_ignored, 2);
  assert_int_equal(w.e.msgs, 0);
  wire_fini(&w);
}

static void test_reject_unauthenticated_session(void **state) {
  wire w;
  (void)state;
  wire_init(&w, NULL, 0);
  wire_simple(&w, DSB_MUX_FRAME_PING, 0, 1);
  assert_rejected(&w, DSB_ERR_MUX_UNAUTHENTICATED);
  assert_string_equal(dsb_strerror(DSB_ERR_MUX_UNAUTHENTICATED),
                      "mux.reject.unauthenticated_session");
  wire_fini(&w);
}

static void test_reject_duplicate_stream_name(void **state) {
  wire w;
  rst_log log;
  (void)state;
  wire_init(&w, NULL, 1);
  wire_open(&w, 1, "svc", 65536);
  wire_open(&w, 3, "svc", 65536);
  size_t len = w.len;
  /* not fatal: the second OPEN is refused, the session goes on */
  assert_int_equal(wire_feed(&w), (long)len);
  assert_int_equal(dsb_mux_reject_count(w.mux, DSB_ERR_MUX_DUPLICATE_NAME), 1);
  assert_int_equal(w.e.opens, 1);
  wire_sent_rsts(&w, &log);
  assert_int_equal(log.n, 1);
  assert_int_equal(log.id[0], 3);
  assert_int_equal(log.code[0], DSB_MUX_RST_DUPLICATE_NAME);
  assert_string_equal(dsb_strerror(DSB_ERR_MUX_DUPLICATE_NAME),
                      "mux.reject.duplicate_stream_name");
  assert_int_equal(dsb_mux_fatal_error(w.mux), 0);
  wire_fini(&w);
}

static void test_reject_invalid_stream_name(void **state) {
  wire w;
  rst_log log;
  char long_name[DSB_MUX_NAME_MAX + 2];
  (void)state;
  memset(long_name, 'n', sizeof(long_name) - 1);
  long_name[sizeof(long_name) - 1] = 0;
  wire_init(&w, NULL, 1);
  wire_open(&w, 1, "has space", 65536);
  wire_open(&w, 3, long_name, 65536); /* 65 bytes */
  wire_open(&w, 5, "", 65536);
  wire_open(&w, 7, "bell\a", 65536);
  size_t len = w.len;
  assert_int_equal(wire_feed(&w), (long)len);
  assert_int_equal(dsb_mux_reject_count(w.mux, DSB_ERR_MUX_INVALID_NAME), 4);
  assert_int_equal(w.e.opens, 0);
  wire_sent_rsts(&w, &log);
  assert_int_equal(log.n, 4);
  for (int i = 0; i < 4; ++i) {
    assert_int_equal(log.code[i], DSB_MUX_RST_INVALID_NAME);
  }
  assert_string_equal(dsb_strerror(DSB_ERR_MUX_INVALID_NAME),
                      "mux.reject.invalid_stream_name");
  wire_fini(&w);
}

static void test_reject_malformed_frame(void **state) {
  wire w;
  (void)state;
  wire_init(&w, NULL, 1);
  const uint8_t unknown_type[9] = {DSB_MUX_VERSION, 0x09, 0, 0, 0, 0, 1, 0, 0};
  memcpy(w.buf, unknown_type, 9);
  w.len = 9;
  assert_rejected(&w, DSB_ERR_MUX_MALFORMED);
  wire_fini(&w);

  wire_init(&w, NULL, 1);
  wire_simple(&w, DSB_MUX_FRAME_PING, 0, 1);
  w.len -= 1; /* truncated payload */
  assert_rejected(&w, DSB_ERR_MUX_MALFORMED);
  wire_fini(&w);

  wire_init(&w, NULL, 1);
  const uint8_t ping_on_stream[17] = {
      DSB_MUX_VERSION, DSB_MUX_FRAME_PING, 0, 0, 0, 0, 1, 0, 8};
  memcpy(w.buf, ping_on_stream, sizeof(ping_on_stream));
  w.len = sizeof(ping_on_stream);
  assert_rejected(&w, DSB_ERR_MUX_MALFORMED);
  assert_string_equal(dsb_strerror(DSB_ERR_MUX_MALFORMED),
                      "mux.reject.malformed_frame");
  wire_fini(&w);
}

static void test_reject_unknown_version(void **state) {
  wire w;
  (void)state;
  wire_init(&w, NULL, 1);
  wire_simple(&w, DSB_MUX_FRAME_PING, 0, 1);
  w.buf[0] = 0x01;
  assert_rejected(&w, DSB_ERR_MUX_VERSION);
  assert_string_equal(dsb_strerror(DSB_ERR_MUX_VERSION),
                      "mux.reject.unknown_version");
  wire_fini(&w);
}

static void test_reject_stream_refusal_flood(void **state) {
  wire w;
  dsb_mux_settings s;
  (void)state;
  dsb_mux_settings_default(&s);
  s.max_streams = 2;
  wire_init(&w, &s, 1);
  /* 2 accepted, 2 refusals queue, the 5th has no room for its RST */
  for (uint32_t i = 0; i < 5; ++i) {
    char name[4] = {'s', (char)('0' + i), 0, 0};
    wire_open(&w, 1 + 2 * i, name, 65536);
  }
  assert_rejected(&w, DSB_ERR_MUX_REFUSAL_FLOOD);
  wire_fini(&w);
}

/* ---- fairness ---- */

typedef struct frame_count {
  uint32_t ids[8];
  uint64_t frames[8];
  uint64_t bytes[8];
  int order[4096];
  int norder;
} frame_count;

static void count_frame(void *ctx, const dsb_mux_frame *fr) {
  frame_count *c = ctx;
  if (fr->type != DSB_MUX_FRAME_DATA) {
    return;
  }
  for (int i = 0; i < 8; ++i) {
    if (c->ids[i] == fr->stream_id) {
      c->frames[i]++;
      c->bytes[i] += fr->datalen;
      if (c->norder < 4096) {
        c->order[c->norder++] = i;
      }
    }
  }
}

static void count_record(void *ctx, const uint8_t *rec, size_t len) {
  assert_int_equal(pair_each_frame(rec, len, count_frame, ctx), 0);
}

/* Keeps every stream's send buffer full of 32 KiB messages. */
static void refill(pair *p, const uint32_t *ids, int n) {
  static uint8_t msg[DSB_MUX_MAX_FRAME_PAYLOAD];
  for (int i = 0; i < n; ++i) {
    while (dsb_mux_write_message(p->a.mux, ids[i], msg, sizeof(msg)) == 0) {
    }
  }
}

static void test_fairness_priority_starvation_budget(void **state) {
  pair p;
  frame_count fc;
  uint32_t ids[2];
  (void)state;
  pair_init(&p, NULL, NULL);
  ids[0] = open_stream(&p, "hi", 0, 0);
  ids[1] = open_stream(&p, "lo", 7, 0);
  memset(&fc, 0, sizeof(fc));
  fc.ids[0] = ids[0];
  fc.ids[1] = ids[1];
  for (int round = 0; round < 400; ++round) {
    refill(&p, ids, 2);
    assert_true(pair_flow(p.a.mux, p.b.mux, T0, count_record, &fc, 1) >= 0);
    assert_int_equal(pair_flow(p.b.mux, p.a.mux, T0, NULL, NULL, -1) >= 0, 1);
  }
  /* Budget 16: exactly one low frame after every 16 high frames. */
  uint64_t total = fc.frames[0] + fc.frames[1];
  assert_true(total >= 17 * 20);
  for (int i = 0; i + 17 <= fc.norder; i += 17) {
    int lo = 0;
    for (int j = i; j < i + 17; ++j) {
      lo += fc.order[j] == 1;
    }
    assert_int_equal(lo, 1);
  }
  assert_true(fc.frames[1] * 17 >= total - 17);
  assert_true(fc.frames[1] * 17 <= total + 17);
  pair_fini(&p);
}

static void test_fairness_equal_priorities_split_evenly(void **state) {
  pair p;
  frame_count fc;
  uint32_t ids[4];
  (void)state;
  pair_init(&p, NULL, NULL);
  memset(&fc, 0, sizeof(fc));
  for (int i = 0; i < 4; ++i) {
    char name[4] = {'e', (char)('0' + i), 0, 0};
    ids[i] = open_stream(&p, name, 3, 0);
    fc.ids[i] = ids[i];
  }
  for (int round = 0; round < 300; ++round) {
    refill(&p, ids, 4);
    assert_true(pair_flow(p.a.mux, p.b.mux, T0, count_record, &fc, 1) >= 0);
    assert_true(pair_flow(p.b.mux, p.a.mux, T0, NULL, NULL, -1) >= 0);
  }
  /* Documented tolerance: within one frame (32 KiB) of the mean. */
  uint64_t sum = 0;
  for (int i = 0; i < 4; ++i) {
    sum += fc.bytes[i];
  }
  for (int i = 0; i < 4; ++i) {
    uint64_t mean = sum / 4;
    uint64_t diff =
        fc.bytes[i] > mean ? fc.bytes[i] - mean : mean - fc.bytes[i];
    assert_true(diff <= DSB_MUX_MAX_FRAME_PAYLOAD);
  }
  pair_fini(&p);
}

/* ---- backpressure ---- */

static void
test_backpressure_window_blocks_and_other_streams_continue(void **state) {
  pair p;
  static uint8_t msg[16384];
  dsb_mux_stream_info ia, ib;
  dsb_mux_stats sa;
  int blocked = 0;
  (void)state;
  pair_init(&p, NULL, NULL);
  uint32_t stuck = open_stream(&p, "stuck", 0, 0);
  uint32_t live = open_stream(&p, "live", 0, 0);
  p.b.no_consume_id = stuck;

  for (int i = 0; i < 100 && !blocked; ++i) {
    int rv = dsb_mux_write_message(p.a.mux, stuck, msg, sizeof(msg));
    if (rv == DSB_ERR_WOULD_BLOCK) {
      blocked = 1;
      break;
    }
    assert_int_equal(rv, 0);
    assert_int_equal(pair_pump(p.a.mux, p.b.mux, T0), 0);
  }
  assert_true(blocked);
  assert_int_equal(dsb_mux_stream_get_info(p.a.mux, stuck, &ia), 0);
  assert_int_equal(dsb_mux_stream_get_info(p.b.mux, stuck, &ib), 0);
  assert_int_equal(ia.send_credit, 0);
  assert_int_equal(ib.recv_unconsumed, 256 * 1024); /* exactly the window */
  assert_true(ia.send_buffered <= 256 * 1024 + 4);
  dsb_mux_get_stats(p.a.mux, &sa);
  assert_true(sa.send_buffered <= 256 * 1024 + 4);

  /* the other stream moves 4 MiB meanwhile */
  size_t moved_before = p.b.delivered_by_id[live];
  for (int i = 0; i < 256; ++i) {
    assert_int_equal(dsb_mux_write_message(p.a.mux, live, msg, sizeof(msg)), 0);
    assert_int_equal(pair_pump(p.a.mux, p.b.mux, T0), 0);
  }
  assert_int_equal(p.b.delivered_by_id[live] - moved_before, 256 * sizeof(msg));
  assert_int_equal(p.a.writables, 0);

  /* the application catches up: credit returns and the writer is woken */
  assert_int_equal(dsb_mux_consume(p.b.mux, stuck, ib.recv_unconsumed), 0);
  assert_int_equal(pair_pump(p.a.mux, p.b.mux, T0), 0);
  assert_true(p.a.writables >= 1);
  assert_int_equal(dsb_mux_write_message(p.a.mux, stuck, msg, sizeof(msg)), 0);
  pair_fini(&p);
}

static void test_writes_before_accept_would_block(void **state) {
  pair p;
  uint32_t id;
  uint8_t m[8] = {0};
  (void)state;
  pair_init(&p, NULL, NULL);
  p.b.accept = 0;
  assert_int_equal(dsb_mux_open(p.a.mux, &id, "later", 5, 0, 0, NULL), 0);
  assert_int_equal(dsb_mux_write_message(p.a.mux, id, m, 8),
                   DSB_ERR_WOULD_BLOCK);
  assert_int_equal(pair_pump(p.a.mux, p.b.mux, T0), 0);
  assert_int_equal(p.b.opens, 1);
  assert_int_equal(dsb_mux_write_message(p.b.mux, id, m, 8),
                   DSB_ERR_INVALID_STATE);
  assert_int_equal(dsb_mux_accept(p.b.mux, id, NULL), 0);
  assert_int_equal(dsb_mux_accept(p.b.mux, id, NULL), DSB_ERR_INVALID_STATE);
  assert_int_equal(pair_pump(p.a.mux, p.b.mux, T0), 0);
  assert_int_equal(p.a.accepted, 1);
  assert_int_equal(p.a.writables, 1);
  assert_int_equal(dsb_mux_write_message(p.a.mux, id, m, 8), 0);
  pair_fini(&p);
}

/* ---- keepalive ---- */

static void test_keepalive_timeout_after_documented_time(void **state) {
  pair p;
  dsb_mux_settings s;
  uint8_t buf[256];
  (void)state;
  dsb_mux_settings_default(&s);
  pair_init(&p, &s, NULL);
  const dsb_tstamp idle = 15 * DSB_NS_PER_S, to = 10 * DSB_NS_PER_S;
  assert_int_equal(pair_pump(p.a.mux, p.b.mux, T0), 0);
  assert_int_equal(dsb_mux_next_timeout(p.a.mux), T0 + idle);
  assert_int_equal(dsb_mux_handle_timeout(p.a.mux, T0 + idle - 1), 0);
  assert_int_equal(dsb_mux_want_send(p.a.mux), 0);
  assert_int_equal(dsb_mux_handle_timeout(p.a.mux, T0 + idle), 0);
  assert_int_equal(dsb_mux_want_send(p.a.mux), 1); /* PING queued */
  /* the PING goes out but the peer has gone silent */
  assert_true(dsb_mux_send(p.a.mux, buf, sizeof(buf), T0 + idle) > 0);
  assert_int_equal(dsb_mux_next_timeout(p.a.mux), T0 + idle + to);
  assert_int_equal(dsb_mux_handle_timeout(p.a.mux, T0 + idle + to - 1), 0);
  assert_int_equal(dsb_mux_handle_timeout(p.a.mux, T0 + idle + to),
                   DSB_ERR_MUX_KEEPALIVE_TIMEOUT);
  assert_int_equal(p.a.keepalive_timeouts, 1);
  assert_true(dsb_err_is_fatal(DSB_ERR_MUX_KEEPALIVE_TIMEOUT));
  assert_int_equal(dsb_mux_send(p.a.mux, buf, sizeof(buf), T0 + idle + to),
                   DSB_ERR_MUX_KEEPALIVE_TIMEOUT);
  assert_int_equal(dsb_mux_next_timeout(p.a.mux), UINT64_MAX);
  pair_fini(&p);
}

static void test_keepalive_answered_stays_up(void **state) {
  pair p;
  dsb_mux_settings s;
  dsb_mux_stats st;
  (void)state;
  dsb_mux_settings_default(&s);
  s.keepalive_idle = 2 * DSB_NS_PER_S;
  s.keepalive_timeout = 1 * DSB_NS_PER_S;
  pair_init(&p, &s, &s);
  dsb_tstamp now = T0;
  for (int i = 0; i < 50; ++i) {
    now += DSB_NS_PER_S / 2;
    assert_int_equal(dsb_mux_handle_timeout(p.a.mux, now), 0);
    assert_int_equal(dsb_mux_handle_timeout(p.b.mux, now), 0);
    assert_int_equal(pair_pump(p.a.mux, p.b.mux, now), 0);
  }
  dsb_mux_get_stats(p.a.mux, &st);
  assert_true(st.pings_sent >= 5);
  assert_int_equal(st.pongs_received, st.pings_sent);
  assert_int_equal(dsb_mux_fatal_error(p.a.mux), 0);
  pair_fini(&p);
}

/* ---- failing allocator ---- */

static int basic_scenario(const dsb_mem *mem) {
  dsb_mux *a = NULL, *b = NULL;
  end ea, eb;
  static uint8_t msg[100 * 1024];
  uint32_t id;
  int rv;
  memset(&ea, 0, sizeof(ea));
  memset(&eb, 0, sizeof(eb));
  eb.accept = 1;
  eb.auto_consume = 1;
  rv = dsb_mux_new(&a, mem, DSB_MUX_ROLE_INITIATOR, NULL, &test_cbs, &ea, T0);
  if (rv != 0) {
    goto out;
  }
  rv = dsb_mux_new(&b, mem, DSB_MUX_ROLE_RESPONDER, NULL, &test_cbs, &eb, T0);
  if (rv != 0) {
    goto out;
  }
  dsb_mux_set_authenticated(a, T0);
  dsb_mux_set_authenticated(b, T0);
  rv = dsb_mux_open(a, &id, "fm", 2, 0, 0, NULL);
  if (rv != 0) {
    goto out;
  }
  if ((rv = pair_pump(a, b, T0)) != 0) {
    goto out;
  }
  if ((rv = dsb_mux_write_message(a, id, msg, sizeof(msg))) != 0) {
    goto out;
  }
  if ((rv = dsb_mux_write_message(a, id, msg, 10)) != 0) {
    goto out;
  }
  if ((rv = pair_pump(a, b, T0)) != 0) {
    goto out;
  }
  rv = eb.msgs == 2 && eb.rxlen == sizeof(msg) + 10 ? 0 : DSB_ERR_INTERNAL;
out:
  dsb_mux_del(a);
  dsb_mux_del(b);
  free(ea.rx);
  free(eb.rx);
  return rv;
}

static void test_failing_allocator_basic(void **state) {
  (void)state;
  for (uint64_t i = 1;; ++i) {
    failmem f = {0, i, 0};
    dsb_mem mem = failmem_make(&f);
    int rv = basic_scenario(&mem);
    if (f.failed == 0) {
      assert_int_equal(rv, 0); /* every allocation point covered */
      assert_true(i > 5);
      break;
    }
    assert_int_equal(rv, DSB_ERR_NOMEM);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_open_accept_message_roundtrip),
      cmocka_unit_test(test_large_message_spans_frames),
      cmocka_unit_test(test_byte_mode_bulk),
      cmocka_unit_test(test_message_too_large_refused),
      cmocka_unit_test(test_half_close_both_ways),
      cmocka_unit_test(test_close_waits_for_consume),
      cmocka_unit_test(test_reset_is_idempotent),
      cmocka_unit_test(test_refused_over_stream_limit),
      cmocka_unit_test(test_no_open_callback_refuses),
      cmocka_unit_test(test_ids_never_collide_and_names_per_direction),
      cmocka_unit_test(test_open_before_authenticated_waits),
      cmocka_unit_test(test_settings_validated),
      cmocka_unit_test(test_reject_frame_oversize),
      cmocka_unit_test(test_reject_invalid_stream_state_transition),
      cmocka_unit_test(test_reject_window_credit_overflow_or_underflow),
      cmocka_unit_test(test_reject_unknown_stream_frame),
      cmocka_unit_test(test_closed_stream_frames_ignored),
      cmocka_unit_test(test_reject_unauthenticated_session),
      cmocka_unit_test(test_reject_duplicate_stream_name),
      cmocka_unit_test(test_reject_invalid_stream_name),
      cmocka_unit_test(test_reject_malformed_frame),
      cmocka_unit_test(test_reject_unknown_version),
      cmocka_unit_test(test_reject_stream_refusal_flood),
      cmocka_unit_test(test_fairness_priority_starvation_budget),
      cmocka_unit_test(test_fairness_equal_priorities_split_evenly),
      cmocka_unit_test(
          test_backpressure_window_blocks_and_other_streams_continue),
      cmocka_unit_test(test_writes_before_accept_would_block),
      cmocka_unit_test(test_keepalive_timeout_after_documented_time),
      cmocka_unit_test(test_keepalive_answered_stays_up),
      cmocka_unit_test(test_failing_allocator_basic),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
