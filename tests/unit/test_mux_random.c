/*
 * test_mux_random.c - seeded randomised state-machine tests of the mux.
 *
 * Two muxes joined by an in-memory record pipe; each step picks a random
 * operation on a random end (open, accept, write of a random size, consume,
 * close, reset, move some records, advance time). A model tracks every
 * stream; after every step the invariants are checked: no credit beyond a
 * window (credit never negative), buffers within their caps, every byte
 * delivered at most once, in order, to the right stream, message
 * boundaries intact. At the end everything is drained and every byte of
 * every stream that was not reset must have arrived exactly once.
 * Deterministic: seeds 1..N, xorshift PRNG.
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

#define NSEEDS 200
#define NSTEPS 600
#define MAXS 96

typedef struct mdir {
  uint64_t sent, recv; /* bytes written by the sender / delivered */
  uint64_t unconsumed; /* delivered, not yet consumed by the receiver */
  uint32_t *lens;      /* message lengths accepted by write_message */
  size_t nlens, caplens, nrecv;
} mdir;

typedef struct mstream {
  uint32_t id;
  int opener;
  int bytes;
  int known[2];  /* the end knows the stream and may address it */
  int pending;   /* acceptor has not decided yet */
  int reset;     /* someone reset it: delivery may stop short */
  int closed[2]; /* the end called dsb_mux_close() */
  int saw_close[2];
  mdir d[2]; /* d[s]: data written by end s */
} mstream;

typedef struct model model;

typedef struct side {
  model *m;
  int s;
  dsb_mux *mux;
} side;

struct model {
  uint64_t rng;
  side sides[2];
  mstream st[MAXS];
  int n;
  int names[2];
  dsb_mux_settings set;
  dsb_tstamp now;
};

static uint64_t rnd(model *m) {
  m->rng ^= m->rng << 13;
  m->rng ^= m->rng >> 7;
  m->rng ^= m->rng << 17;
  return m->rng;
}

static uint64_t rnd_below(model *m, uint64_t n) {
  return n ? rnd(m) % n : 0;
}

/* The byte at |off| of the data end |s| writes on stream |id|. */
static uint8_t gen(uint32_t id, int s, uint64_t off) {
  uint64_t x = off * 0x9e3779b97f4a7c15ull ^ ((uint64_t)id << 32) ^ (uint64_t)s;
  x ^= x >> 29;
  return (uint8_t)(x ^ (x >> 11));
}

static mstream *find(model *m, uint32_t id) {
  for (int i = 0; i < m->n; ++i) {
    if (m->st[i].id == id) {
      return &m->st[i];
    }
  }
  return NULL;
}

static void deliver(side *sd, uint32_t id, const uint8_t *data, size_t len,
                    int message) {
  model *m = sd->m;
  mstream *st = find(m, id);
  assert_non_null(st);
  assert_true(st->known[sd->s]); /* never to a stream this end dropped */
  mdir *d = &st->d[1 - sd->s];   /* written by the other end */
  assert_int_equal(st->bytes, !message);
  assert_true(d->recv + len <= d->sent); /* at most once */
  for (size_t i = 0; i < len; ++i) {
    if (data[i] != gen(id, 1 - sd->s, d->recv + i)) {
      fail_msg("stream %u byte %llu corrupted", id,
               (unsigned long long)(d->recv + i));
    }
  }
  if (message) {
    assert_true(d->nrecv < d->nlens);
    assert_int_equal(len, d->lens[d->nrecv]); /* boundaries intact */
    d->nrecv++;
  }
  d->recv += len;
  d->unconsumed += len;
}

static int cb_open(dsb_mux *mux, uint32_t id, const char *name, size_t namelen,
                   uint8_t prio, uint8_t mode, void *ud) {
  side *sd = ud;
  mstream *st = find(sd->m, id);
  (void)mux;
  (void)name;
  (void)namelen;
  (void)prio;
  assert_non_null(st);
  assert_int_equal(st->opener, 1 - sd->s);
  assert_int_equal(mode, st->bytes ? DSB_MUX_MODE_BYTES : DSB_MUX_MODE_MESSAGE);
  st->known[sd->s] = 1;
  st->pending = 1;
  return 0;
}

static int cb_message(dsb_mux *mux, uint32_t id, const uint8_t *data,
                      size_t len, void *ud) {
  (void)mux;
  deliver(ud, id, data, len, 1);
  return 0;
}

static int cb_data(dsb_mux *mux, uint32_t id, const uint8_t *data, size_t len,
                   void *ud) {
  (void)mux;
  deliver(ud, id, data, len, 0);
  return 0;
}

static int cb_close(dsb_mux *mux, uint32_t id, void *ud) {
  side *sd = ud;
  mstream *st = find(sd->m, id);
  (void)mux;
  assert_non_null(st);
  assert_false(st->saw_close[sd->s]);
  st->saw_close[sd->s] = 1;
  /* everything the peer wrote before its CLOSE has arrived */
  if (!st->reset) {
    assert_int_equal(st->d[1 - sd->s].recv, st->d[1 - sd->s].sent);
  }
  return 0;
}

static int cb_reset(dsb_mux *mux, uint32_t id, uint32_t code, void *ud) {
  side *sd = ud;
  mstream *st = find(sd->m, id);
  (void)mux;
  (void)code;
  assert_non_null(st);
  st->reset = 1;
  st->known[sd->s] = 0;
  return 0;
}

static const dsb_mux_callbacks rnd_cbs = {
    cb_open, NULL, cb_message, cb_data, cb_close, cb_reset, NULL, NULL};

/* ---- operations ---- */

static void op_open(model *m, int s) {
  char name[32];
  uint32_t id;
  if (m->n >= MAXS) {
    return;
  }
  int bytes = rnd_below(m, 4) == 0;
  snprintf(name, sizeof(name), "s%d.%d", s, m->names[s]++);
  int rv = dsb_mux_open(m->sides[s].mux, &id, name, strlen(name),
                        (uint8_t)rnd_below(m, 8),
                        bytes ? DSB_MUX_OPEN_BYTES : 0, NULL);
  if (rv == DSB_ERR_MUX_TOO_MANY_STREAMS) {
    return;
  }
  assert_int_equal(rv, 0);
  mstream *st = &m->st[m->n++];
  memset(st, 0, sizeof(*st));
  st->id = id;
  st->opener = s;
  st->bytes = bytes;
  st->known[s] = 1;
}

static mstream *pick(model *m, int s) {
  if (m->n == 0) {
    return NULL;
  }
  mstream *st = &m->st[rnd_below(m, (uint64_t)m->n)];
  return st->known[s] ? st : NULL;
}

static void op_decide(model *m, int s) {
  mstream *st = pick(m, s);
  if (st == NULL || !st->pending || st->opener == s) {
    return;
  }
  st->pending = 0;
  if (rnd_below(m, 8) == 0) { /* refuse */
    assert_int_equal(dsb_mux_reset(m->sides[s].mux, st->id, 0x200), 0);
    st->reset = 1;
    st->known[s] = 0;
    return;
  }
  assert_int_equal(dsb_mux_accept(m->sides[s].mux, st->id, NULL), 0);
}

static size_t rnd_size(model *m) {
  switch (rnd_below(m, 10)) {
  case 0:
  case 1:
  case 2:
  case 3:
    return 1 + rnd_below(m, 100);
  case 4:
  case 5:
  case 6:
    return 1 + rnd_below(m, 4096);
  case 7:
  case 8:
    return 1 + rnd_below(m, m->set.max_message);
  default:
    return m->set.max_message + rnd_below(m, 100); /* may be too large */
  }
}

static void op_write(model *m, int s) {
  static uint8_t buf[300 * 1024];
  mstream *st = pick(m, s);
  if (st == NULL) {
    return;
  }
  mdir *d = &st->d[s];
  size_t len = rnd_size(m);
  if (len > sizeof(buf)) {
    len = sizeof(buf);
  }
  for (size_t i = 0; i < len; ++i) {
    buf[i] = gen(st->id, s, d->sent + i);
  }
  if (st->bytes) {
    long n = dsb_mux_write_bytes(m->sides[s].mux, st->id, buf, len);
    if (n > 0) {
      assert_true((size_t)n <= len);
      d->sent += (uint64_t)n;
      return;
    }
    assert_true(n == DSB_ERR_WOULD_BLOCK || n == DSB_ERR_INVALID_STATE);
    if (n == DSB_ERR_INVALID_STATE) {
      assert_true(st->closed[s] || (st->opener != s && st->pending));
    }
    return;
  }
  int rv = dsb_mux_write_message(m->sides[s].mux, st->id, buf, len);
  if (rv == 0) {
    if (d->nlens == d->caplens) {
      d->caplens = d->caplens ? 2 * d->caplens : 64;
      d->lens = realloc(d->lens, d->caplens * sizeof(*d->lens));
      assert_non_null(d->lens);
    }
    d->lens[d->nlens++] = (uint32_t)len;
    d->sent += len;
    return;
  }
  if (rv == DSB_ERR_MUX_MESSAGE_TOO_LARGE) {
    assert_true(len > m->set.max_message);
  } else if (rv == DSB_ERR_INVALID_STATE) {
    assert_true(st->closed[s] || (st->opener != s && st->pending));
  } else {
    assert_int_equal(rv, DSB_ERR_WOULD_BLOCK);
  }
}

static void op_consume(model *m, int s, int all) {
  for (int i = 0; i < m->n; ++i) {
    mstream *st = &m->st[i];
    mdir *d = &st->d[1 - s];
    if (!st->known[s] || d->unconsumed == 0) {
      continue;
    }
    uint64_t n = all ? d->unconsumed : rnd_below(m, d->unconsumed + 1);
    int rv = dsb_mux_consume(m->sides[s].mux, st->id, (size_t)n);
    assert_int_equal(rv, 0);
    d->unconsumed -= n;
    if (!all) {
      return;
    }
  }
}

static void op_close(model *m, int s) {
  mstream *st = pick(m, s);
  if (st == NULL || st->closed[s] || (st->opener != s && st->pending)) {
    return;
  }
  assert_int_equal(dsb_mux_close(m->sides[s].mux, st->id), 0);
  st->closed[s] = 1;
}

static void op_reset(model *m, int s) {
  mstream *st = pick(m, s);
  if (st == NULL) {
    return;
  }
  assert_int_equal(dsb_mux_reset(m->sides[s].mux, st->id, 0x300), 0);
  assert_int_equal(dsb_mux_reset(m->sides[s].mux, st->id, 0x300), 0);
  st->reset = 1;
  st->known[s] = 0;
}

/* Moves up to |max| records from end s to the other (-1: until quiet). */
static void op_flow(model *m, int s, long max) {
  long rv =
      pair_flow(m->sides[s].mux, m->sides[1 - s].mux, m->now, NULL, NULL, max);
  if (rv < 0) {
    fail_msg("flow: %s", dsb_strerror((int)rv));
  }
}

/* A stream both ends are done with disappears from both muxes. */
static void forget_finished(model *m) {
  for (int i = 0; i < m->n; ++i) {
    mstream *st = &m->st[i];
    for (int s = 0; s < 2; ++s) {
      dsb_mux_stream_info info;
      if (st->known[s] && dsb_mux_stream_get_info(m->sides[s].mux, st->id,
                                                  &info) == DSB_ERR_NOT_FOUND) {
        /* only a graceful finish may drop a stream silently */
        assert_true(st->closed[s] && st->saw_close[s]);
        assert_int_equal(st->d[1 - s].unconsumed, 0);
        st->known[s] = 0;
      }
    }
  }
}

static void check_invariants(model *m) {
  for (int s = 0; s < 2; ++s) {
    dsb_mux *mux = m->sides[s].mux;
    dsb_mux_stats stats;
    assert_int_equal(dsb_mux_fatal_error(mux), 0);
    dsb_mux_get_stats(mux, &stats);
    assert_true(stats.send_buffered <= m->set.session_send_buffer + 4);
    assert_true(stats.session_send_credit <= DSB_MUX_MAX_WINDOW);
    assert_true(stats.recv_buffered <=
                (uint64_t)m->set.max_streams * m->set.max_message);
    for (int i = 0; i < m->n; ++i) {
      mstream *st = &m->st[i];
      dsb_mux_stream_info info;
      if (!st->known[s] || dsb_mux_stream_get_info(mux, st->id, &info) != 0) {
        continue;
      }
      /* credit is unsigned: a wrap would show as a huge value */
      assert_true(info.send_credit <= m->set.stream_window);
      assert_true(info.recv_unconsumed <= m->set.stream_window);
      assert_true(info.send_buffered <= m->set.stream_send_buffer + 4);
      assert_true(st->d[1 - s].unconsumed <= info.recv_unconsumed);
    }
  }
  forget_finished(m);
}

static void model_free(model *m) {
  for (int i = 0; i < m->n; ++i) {
    free(m->st[i].d[0].lens);
    free(m->st[i].d[1].lens);
  }
  dsb_mux_del(m->sides[0].mux);
  dsb_mux_del(m->sides[1].mux);
}

static void run_seed(uint64_t seed) {
  static model m;
  memset(&m, 0, sizeof(m));
  m.rng = seed * 0x2545f4914f6cdd1dull + 1;
  m.now = 1000 * DSB_NS_PER_S;
  dsb_mux_settings_default(&m.set);
  if (seed % 2) {
    /* small limits: windows, buffers and stream table fill up often */
    m.set.max_streams = 8;
    m.set.stream_window = 16384;
    m.set.stream_send_buffer = 16384;
    m.set.max_message = seed % 5 == 0 ? 1 + (uint32_t)(seed % 300)
                                      : 1024 + (uint32_t)(seed * 7919 % 15360);
    m.set.session_window = 65536;
    m.set.session_send_buffer = 32768;
    m.set.max_frame_payload = seed % 4 == 1 ? 1024 : 4096;
    m.set.starvation_budget = 1 + (uint32_t)(seed % 5);
  } else {
    m.set.stream_window = 131072;
    m.set.stream_send_buffer = 131072;
    m.set.max_message = 100000;
    m.set.session_window = 262144;
    m.set.session_send_buffer = 262144;
    m.set.max_frame_payload = seed % 6 == 0 ? 4096 : 32768;
  }
  m.set.keepalive_idle = 3 * DSB_NS_PER_S;
  m.set.keepalive_timeout = 30 * DSB_NS_PER_S;
  for (int s = 0; s < 2; ++s) {
    m.sides[s].m = &m;
    m.sides[s].s = s;
    assert_int_equal(
        dsb_mux_new(&m.sides[s].mux, NULL,
                    s ? DSB_MUX_ROLE_RESPONDER : DSB_MUX_ROLE_INITIATOR, &m.set,
                    &rnd_cbs, &m.sides[s], m.now),
        0);
    assert_int_equal(dsb_mux_set_authenticated(m.sides[s].mux, m.now), 0);
  }

  for (int step = 0; step < NSTEPS; ++step) {
    int s = (int)rnd_below(&m, 2);
    uint64_t op = rnd_below(&m, 100);
    if (op < 8) {
      op_open(&m, s);
    } else if (op < 18) {
      op_decide(&m, s);
    } else if (op < 45) {
      op_write(&m, s);
    } else if (op < 60) {
      op_consume(&m, s, 0);
    } else if (op < 64) {
      op_close(&m, s);
    } else if (op < 66) {
      op_reset(&m, s);
    } else if (op < 95) {
      op_flow(&m, s, (long)rnd_below(&m, 3));
    } else {
      m.now += rnd_below(&m, DSB_NS_PER_S);
      for (int k = 0; k < 2; ++k) {
        assert_int_equal(dsb_mux_handle_timeout(m.sides[k].mux, m.now), 0);
      }
    }
    check_invariants(&m);
  }

  /* Drain: decide pending streams, consume everything, move all records. */
  for (int round = 0; round < 1000; ++round) {
    for (int i = 0; i < m.n; ++i) {
      mstream *st = &m.st[i];
      int acceptor = 1 - st->opener;
      if (st->pending && st->known[acceptor]) {
        st->pending = 0;
        assert_int_equal(dsb_mux_accept(m.sides[acceptor].mux, st->id, NULL),
                         0);
      }
    }
    op_consume(&m, 0, 1);
    op_consume(&m, 1, 1);
    op_flow(&m, 0, -1);
    op_flow(&m, 1, -1);
    check_invariants(&m);
    if (!dsb_mux_want_send(m.sides[0].mux) &&
        !dsb_mux_want_send(m.sides[1].mux)) {
      int left = 0;
      for (int i = 0; i < m.n; ++i) {
        left += m.st[i].d[0].unconsumed != 0 || m.st[i].d[1].unconsumed != 0;
        left += m.st[i].pending && m.st[i].known[1 - m.st[i].opener];
      }
      if (!left) {
        break;
      }
    }
  }
  /* Exactly once: every byte written on a stream never reset arrived. */
  for (int i = 0; i < m.n; ++i) {
    mstream *st = &m.st[i];
    dsb_mux_stream_info info;
    /* every OPEN was answered: accepted (drain accepts all) or refused */
    if (dsb_mux_stream_get_info(m.sides[st->opener].mux, st->id, &info) == 0) {
      assert_int_not_equal(info.state, DSB_MUX_STREAM_OPENING);
    }
    if (st->reset) {
      continue;
    }
    for (int s = 0; s < 2; ++s) {
      if (st->d[s].recv != st->d[s].sent) {
        fail_msg("seed %llu stream %u end %d: sent %llu delivered %llu",
                 (unsigned long long)seed, st->id, s,
                 (unsigned long long)st->d[s].sent,
                 (unsigned long long)st->d[s].recv);
      }
      assert_int_equal(st->d[s].nrecv, st->d[s].nlens);
    }
  }
  model_free(&m);
}

static void test_random_state_machine_seeds(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= NSEEDS; ++seed) {
    run_seed(seed);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_random_state_machine_seeds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
