/*
 * test_recv_buffers - the receive paths that keep no per-record or
 * per-message buffer: the record reader without storage, the session's
 * in-place receive (a receive buffer only while a record is split across
 * calls) and the mux's spare assembly buffers (none held once no message is
 * partly assembled). Memory is checked with a counting allocator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/session_internal.h"
#include "dsb/err.h"
#include "dsb/mux.h"
#include "dsb/session.h"
#include "session_test_util.h"

/* ---- counting allocator ------------------------------------------------- */

typedef struct livemem {
  size_t live;
} livemem;

#define LIVE_HDR 16

static void *live_malloc(size_t size, void *ctx) {
  livemem *m = ctx;
  uint8_t *p = malloc(size + LIVE_HDR);
  if (!p) {
    return NULL;
  }
  memcpy(p, &size, sizeof(size));
  m->live += size;
  return p + LIVE_HDR;
}

static void live_free(void *ptr, void *ctx) {
  livemem *m = ctx;
  size_t size;
  if (!ptr) {
    return;
  }
  memcpy(&size, (uint8_t *)ptr - LIVE_HDR, sizeof(size));
  m->live -= size;
  free((uint8_t *)ptr - LIVE_HDR);
}

static void *live_calloc(size_t n, size_t size, void *ctx) {
  void *p = live_malloc(n * size, ctx);
  if (p) {
    memset(p, 0, n * size);
  }
  return p;
}

static void *live_realloc(void *ptr, size_t size, void *ctx) {
  size_t old = 0;
  void *p;
  if (!ptr) {
    return live_malloc(size, ctx);
  }
  memcpy(&old, (uint8_t *)ptr - LIVE_HDR, sizeof(old));
  p = live_malloc(size, ctx);
  if (p) {
    memcpy(p, ptr, old < size ? old : size);
    live_free(ptr, ctx);
  }
  return p;
}

static dsb_mem live_make(livemem *m) {
  dsb_mem mem = {live_malloc, live_free, live_calloc, live_realloc, m};
  return mem;
}

/* ---- record reader ------------------------------------------------------- */

static void test_record_reader_without_buffer_stops_at_split_body(void **st) {
  uint8_t in[2 + 100];
  uint8_t buf[128];
  dsb_record_reader r;
  const uint8_t *body;
  size_t bodylen;
  int in_buf;
  long n;

  (void)st;
  in[0] = 0;
  in[1] = 100;
  for (size_t i = 0; i < 100; ++i) {
    in[2 + i] = (uint8_t)i;
  }
  dsb_record_reader_init(&r, NULL, sizeof(buf));
  /* Whole: returned in place, no storage needed. */
  n = dsb_record_reader_feed(&r, in, sizeof(in), &body, &bodylen, &in_buf);
  assert_int_equal(n, (long)sizeof(in));
  assert_ptr_equal(body, in + 2);
  assert_int_equal(bodylen, 100);
  /* Split: the header is taken, then the reader stops before the body. */
  n = dsb_record_reader_feed(&r, in, 50, &body, &bodylen, &in_buf);
  assert_int_equal(n, 2);
  assert_null(body);
  n = dsb_record_reader_feed(&r, in + 2, 48, &body, &bodylen, &in_buf);
  assert_int_equal(n, 0);
  assert_null(body);
  dsb_record_reader_set_buffer(&r, buf, sizeof(buf));
  n = dsb_record_reader_feed(&r, in + 2, 48, &body, &bodylen, &in_buf);
  assert_int_equal(n, 48);
  assert_null(body);
  n = dsb_record_reader_feed(&r, in + 50, sizeof(in) - 50, &body, &bodylen,
                             &in_buf);
  assert_int_equal(n, (long)sizeof(in) - 50);
  assert_ptr_equal(body, buf);
  assert_int_equal(in_buf, 1);
  assert_memory_equal(body, in + 2, 100);
}

/* ---- session in place ---------------------------------------------------- */

typedef struct sess_fixture {
  dsb_identity a, b;
  livemem mem_r;
  dsb_mem mem;
  stu_opts ropts;
  stu_pair p;
  size_t live0; /* responder bytes once established */
} sess_fixture;

static sess_fixture *sess_setup(void) {
  sess_fixture *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  assert_int_equal(stu_identity(&f->a, 1), 0);
  assert_int_equal(stu_identity(&f->b, 2), 0);
  f->mem = live_make(&f->mem_r);
  f->ropts.mem = &f->mem;
  assert_int_equal(stu_pair_new(&f->p, &f->a, &f->b, NULL, &f->ropts), 0);
  assert_int_equal(stu_pair_handshake(&f->p, 1000), 0);
  f->live0 = f->mem_r.live;
  return f;
}

static void sess_teardown(sess_fixture *f) {
  stu_pair_free(&f->p);
  assert_int_equal(f->mem_r.live, 0);
  dsb_identity_wipe(&f->a);
  dsb_identity_wipe(&f->b);
  free(f);
}

static long seal(sess_fixture *f, uint8_t *rec, size_t cap, size_t ptlen,
                 uint8_t fill) {
  uint8_t pt[DSB_SESSION_PLAINTEXT_MAX];
  memset(pt, fill, ptlen);
  return dsb_session_seal(f->p.i.s, rec, cap, pt, ptlen);
}

static void test_session_inplace_whole_records_need_no_buffer(void **st) {
  static uint8_t recs[3 * DSB_SESSION_RECORD_MAX];
  sess_fixture *f = sess_setup();
  size_t off = 0;

  (void)st;
  for (int k = 0; k < 3; ++k) {
    long n = seal(f, recs + off, sizeof(recs) - off, 1000 * (size_t)(k + 1),
                  (uint8_t)(0xa0 + k));
    assert_true(n > 0);
    off += (size_t)n;
  }
  assert_int_equal(dsb_session_recv_inplace(f->p.r.s, recs, off, f->p.now),
                   (long)off);
  assert_int_equal(f->p.r.records, 3);
  assert_int_equal(f->p.r.lens[2], 3000);
  assert_int_equal(f->p.r.log[0], 0xa0);
  assert_int_equal(f->p.r.log[1000 + 2000 + 2999], 0xa2);
  /* Decrypted where it arrived: the first plaintext follows its header. */
  assert_int_equal(recs[DSB_SESSION_RECORD_HDR_LEN], 0xa0);
  assert_int_equal(f->mem_r.live, f->live0);
  sess_teardown(f);
}

static void test_session_inplace_split_record_buffer_only_meanwhile(void **st) {
  static uint8_t rec[DSB_SESSION_RECORD_MAX];
  sess_fixture *f = sess_setup();
  long n;

  (void)st;
  n = seal(f, rec, sizeof(rec), DSB_SESSION_PLAINTEXT_MAX, 0x5c);
  assert_true(n > 0);
  assert_int_equal(dsb_session_recv_inplace(f->p.r.s, rec, 1, f->p.now), 1);
  assert_int_equal(f->mem_r.live, f->live0); /* half a header: no body yet */
  assert_int_equal(dsb_session_recv_inplace(f->p.r.s, rec + 1, 1000, f->p.now),
                   1000);
  assert_int_equal(f->mem_r.live, f->live0 + DSB_SESSION_BODY_MAX);
  assert_int_equal(dsb_session_recv_inplace(f->p.r.s, rec + 1001,
                                            (size_t)n - 1001, f->p.now),
                   n - 1001);
  assert_int_equal(f->p.r.records, 1);
  assert_int_equal(f->p.r.lens[0], DSB_SESSION_PLAINTEXT_MAX);
  assert_int_equal(f->p.r.log[DSB_SESSION_PLAINTEXT_MAX - 1], 0x5c);
  assert_int_equal(f->mem_r.live, f->live0);
  sess_teardown(f);
}

static void test_session_recv_keeps_its_buffer(void **st) {
  static uint8_t rec[DSB_SESSION_RECORD_MAX];
  sess_fixture *f = sess_setup();
  long n;

  (void)st;
  /* dsb_session_recv decrypts into the buffer: kept, not churned. */
  n = seal(f, rec, sizeof(rec), 100, 0x11);
  assert_int_equal(dsb_session_recv(f->p.r.s, rec, (size_t)n, f->p.now), n);
  assert_int_equal(f->mem_r.live, f->live0 + DSB_SESSION_BODY_MAX);
  n = seal(f, rec, sizeof(rec), 100, 0x12);
  assert_int_equal(dsb_session_recv_inplace(f->p.r.s, rec, (size_t)n, f->p.now),
                   n);
  assert_int_equal(f->p.r.records, 2);
  assert_int_equal(f->p.r.log[199], 0x12);
  sess_teardown(f);
}

static void test_reject_inplace_bad_tag_wipes_plaintext(void **st) {
  static uint8_t rec[DSB_SESSION_RECORD_MAX];
  sess_fixture *f = sess_setup();
  long n;

  (void)st;
  n = seal(f, rec, sizeof(rec), 500, 0x77);
  rec[n - 1] ^= 1;
  assert_int_equal(dsb_session_recv_inplace(f->p.r.s, rec, (size_t)n, f->p.now),
                   DSB_ERR_CRYPTO_AUTH);
  assert_int_equal(f->p.r.records, 0);
  for (size_t i = 0; i < 500; ++i) {
    assert_int_equal(rec[DSB_SESSION_RECORD_HDR_LEN + i], 0);
  }
  assert_int_equal(dsb_session_get_state(f->p.r.s), DSB_SESSION_STATE_FAILED);
  sess_teardown(f);
}

/* ---- mux assembly spares ------------------------------------------------- */

#define MSG_LEN 65536
#define NSTREAMS 6

typedef struct mux_end {
  dsb_mux *mux;
  size_t got[NSTREAMS + 1];
  uint32_t ids[NSTREAMS + 1];
  size_t nids;
  int bad;
} mux_end;

static int me_open(dsb_mux *mux, uint32_t id, const char *name, size_t namelen,
                   uint8_t prio, uint8_t mode, void *user) {
  mux_end *e = user;
  (void)name;
  (void)namelen;
  (void)prio;
  (void)mode;
  e->ids[e->nids++] = id;
  return dsb_mux_accept(mux, id, NULL);
}

static int me_message(dsb_mux *mux, uint32_t id, const uint8_t *data,
                      size_t len, void *user) {
  mux_end *e = user;
  size_t k = 0;
  while (k < e->nids && e->ids[k] != id) {
    ++k;
  }
  /* Every byte of message i on stream k is (k + i) & 0xff. */
  for (size_t j = 0; j < len; ++j) {
    if (data[j] != (uint8_t)(k + e->got[k] / MSG_LEN)) {
      e->bad = 1;
      break;
    }
  }
  if (len != MSG_LEN) {
    e->bad = 1;
  }
  e->got[k] += len;
  return dsb_mux_consume(mux, id, len);
}

static const dsb_mux_callbacks me_cb = {me_open, NULL, me_message, NULL,
                                        NULL,    NULL, NULL,       NULL};

static int pump(dsb_mux *a, dsb_mux *b) {
  static uint8_t rec[DSB_MUX_MAX_RECORD_PLAINTEXT];
  for (int round = 0; round < 10000; ++round) {
    int quiet = 1;
    for (int dir = 0; dir < 2; ++dir) {
      dsb_mux *from = dir ? b : a, *to = dir ? a : b;
      long n = dsb_mux_send(from, rec, sizeof(rec), 1);
      if (n < 0) {
        return (int)n;
      }
      if (n > 0) {
        quiet = 0;
        if (dsb_mux_recv(to, rec, (size_t)n, 1) < 0) {
          return -1;
        }
      }
    }
    if (quiet) {
      return 0;
    }
  }
  return -1;
}

static void test_mux_interleaved_messages_leave_no_assembly_buffer(void **st) {
  static uint8_t msg[MSG_LEN];
  livemem lm = {0};
  dsb_mem mem = live_make(&lm);
  mux_end a, b;
  uint32_t ids[NSTREAMS];
  size_t base;
  dsb_mux_stats stats;

  (void)st;
  memset(&a, 0, sizeof(a));
  memset(&b, 0, sizeof(b));
  assert_int_equal(
      dsb_mux_new(&a.mux, NULL, DSB_MUX_ROLE_INITIATOR, NULL, &me_cb, &a, 1),
      0);
  assert_int_equal(
      dsb_mux_new(&b.mux, &mem, DSB_MUX_ROLE_RESPONDER, NULL, &me_cb, &b, 1),
      0);
  assert_int_equal(dsb_mux_set_authenticated(a.mux, 1), 0);
  assert_int_equal(dsb_mux_set_authenticated(b.mux, 1), 0);
  for (int k = 0; k < NSTREAMS; ++k) {
    char name[2] = {(char)('a' + k), 0};
    assert_int_equal(dsb_mux_open(a.mux, &ids[k], name, 1, 0, 0, NULL), 0);
  }
  assert_int_equal(pump(a.mux, b.mux), 0);
  assert_int_equal(b.nids, NSTREAMS);
  base = lm.live;
  /* Two messages per stream, written together: the scheduler interleaves
   * the streams' frames, so several messages are assembled at once. */
  for (int i = 0; i < 2; ++i) {
    for (int k = 0; k < NSTREAMS; ++k) {
      memset(msg, k + i, sizeof(msg));
      assert_int_equal(dsb_mux_write_message(a.mux, ids[k], msg, sizeof(msg)),
                       0);
    }
  }
  assert_int_equal(pump(a.mux, b.mux), 0);
  assert_int_equal(b.bad, 0);
  for (int k = 0; k < NSTREAMS; ++k) {
    assert_int_equal(b.got[k], 2 * MSG_LEN);
  }
  dsb_mux_get_stats(b.mux, &stats);
  assert_int_equal(stats.recv_buffered, 0);
  assert_int_equal(lm.live, base);
  dsb_mux_del(a.mux);
  dsb_mux_del(b.mux);
  assert_int_equal(lm.live, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_record_reader_without_buffer_stops_at_split_body),
      cmocka_unit_test(test_session_inplace_whole_records_need_no_buffer),
      cmocka_unit_test(test_session_inplace_split_record_buffer_only_meanwhile),
      cmocka_unit_test(test_session_recv_keeps_its_buffer),
      cmocka_unit_test(test_reject_inplace_bad_tag_wipes_plaintext),
      cmocka_unit_test(test_mux_interleaved_messages_leave_no_assembly_buffer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
