/* test_stream_conn.c - the stream_conn glue (dsb/stream_conn.h): two
 * transports on one libuv loop, connected over 127.0.0.1, each connection
 * running a mux. Covers delivery, backpressure with a cap, keepalive
 * teardown with its reason, protocol rejects that close the connection,
 * deletion from inside a callback and a failing allocator. Every wait runs
 * the loop until a condition holds, bounded by a watchdog timer; nothing
 * sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <cmocka.h>
#include <uv.h>

#include "dsb/err.h"
#include "dsb/identity.h"
#include "dsb/mux.h"
#include "dsb/stream_conn.h"
#include "dsb/tcp.h"
#include "dsb/wire.h"

#define WAIT_MS 10000
#define MAX_IDS 16

typedef struct pair pair;

/* What one end saw, per stream id (ids are small in these tests). */
typedef struct side {
  pair *pr;
  dsb_tcp *tcp;
  dsb_tcp_conn *conn;
  dsb_stream_conn *sc;
  dsb_mux_settings settings;
  int established, closed, close_reason, glue_error;
  int no_consume;     /* hold received credit */
  int del_on_message; /* dsb_stream_conn_del() from on_message */
  int callbacks_after_del;
  int keepalive_timeouts;
  uint64_t rx_bytes[MAX_IDS], rx_msgs[MAX_IDS], rx_hash[MAX_IDS];
  int rx_closed[MAX_IDS];
  /* sender side of the test streams */
  uint64_t tx_left[MAX_IDS], tx_hash[MAX_IDS];
  size_t tx_msg[MAX_IDS];
  uint64_t tx_seed[MAX_IDS];
  int accepted[MAX_IDS];
} side;

struct pair {
  uv_loop_t loop;
  uv_timer_t watchdog;
  int timed_out;
  dsb_identity srv_ident, cli_ident;
  side srv, cli;
  const dsb_mem *mux_mem;
};

/* ---- content: deterministic bytes and a hash over them with boundaries -- */

static uint8_t content_byte(uint64_t seed, uint64_t off) {
  uint64_t z = (seed + off) * UINT64_C(0x9e3779b97f4a7c15);
  return (uint8_t)(z >> 56);
}

static uint64_t hash_msg(uint64_t h, const uint8_t *p, size_t len) {
  h = (h ^ len) * UINT64_C(0x100000001b3);
  for (size_t i = 0; i < len; ++i) {
    h = (h ^ p[i]) * UINT64_C(0x100000001b3);
  }
  return h;
}

/* ---- mux callbacks --------------------------------------------------------
 */

static side *cb_side(side *s) {
  if (s->sc == NULL) {
    s->callbacks_after_del++;
  }
  return s;
}

static int fill(dsb_mux *mux, uint32_t id, void *user_data) {
  side *s = cb_side(user_data);
  uint8_t buf[70000];

  assert_true(id < MAX_IDS);
  while (s->tx_left[id] > 0) {
    size_t len =
        s->tx_msg[id] < s->tx_left[id] ? s->tx_msg[id] : (size_t)s->tx_left[id];
    uint64_t off = s->tx_seed[id];
    int rv;
    assert_true(len <= sizeof(buf));
    for (size_t i = 0; i < len; ++i) {
      buf[i] = content_byte(id, off + i);
    }
    rv = dsb_mux_write_message(mux, id, buf, len);
    if (rv == DSB_ERR_WOULD_BLOCK) {
      return 0;
    }
    assert_int_equal(rv, 0);
    s->tx_hash[id] = hash_msg(s->tx_hash[id], buf, len);
    s->tx_seed[id] += len;
    s->tx_left[id] -= len;
  }
  return 0;
}

static int on_accepted(dsb_mux *mux, uint32_t id, void *user_data) {
  side *s = cb_side(user_data);
  s->accepted[id] = 1;
  return fill(mux, id, user_data);
}

static int on_open(dsb_mux *mux, uint32_t id, const char *name, size_t namelen,
                   uint8_t priority, uint8_t mode, void *user_data) {
  (void)name;
  (void)namelen;
  (void)priority;
  (void)mode;
  cb_side(user_data);
  assert_true(id < MAX_IDS);
  return dsb_mux_accept(mux, id, NULL);
}

static int on_message(dsb_mux *mux, uint32_t id, const uint8_t *data,
                      size_t len, void *user_data) {
  side *s = cb_side(user_data);

  assert_true(id < MAX_IDS);
  s->rx_bytes[id] += len;
  s->rx_msgs[id]++;
  s->rx_hash[id] = hash_msg(s->rx_hash[id], data, len);
  if (s->del_on_message && s->sc) {
    dsb_stream_conn_del(s->sc);
    s->sc = NULL;
    return 0;
  }
  return s->no_consume ? 0 : dsb_mux_consume(mux, id, len);
}

static int on_close(dsb_mux *mux, uint32_t id, void *user_data) {
  side *s = cb_side(user_data);
  (void)mux;
  s->rx_closed[id] = 1;
  return 0;
}

static int on_keepalive(dsb_mux *mux, void *user_data) {
  side *s = cb_side(user_data);
  (void)mux;
  s->keepalive_timeouts++;
  return 0;
}

static const dsb_mux_callbacks mux_cb = {
    on_open, on_accepted, on_message, NULL, on_close, NULL, fill, on_keepalive};

/* ---- transport callbacks: conn user pointer is the side ----------------- */

static int t_established(dsb_tcp_conn *conn, const dsb_device_id *peer,
                         void *user_data) {
  pair *pr = user_data;
  side *s = dsb_tcp_conn_get_role(conn) == DSB_SESSION_INITIATOR ? &pr->cli
                                                                 : &pr->srv;
  dsb_stream_conn_config cfg;

  (void)peer;
  dsb_tcp_conn_set_user(conn, s);
  s->conn = conn;
  memset(&cfg, 0, sizeof(cfg));
  cfg.loop = &pr->loop;
  cfg.conn = conn;
  cfg.settings = &s->settings;
  cfg.callbacks = &mux_cb;
  cfg.user_data = s;
  cfg.mem = pr->mux_mem;
  if (dsb_stream_conn_new(&s->sc, &cfg) != 0) {
    return -1;
  }
  s->established = 1;
  return 0;
}

static int t_record(dsb_tcp_conn *conn, const uint8_t *pt, size_t ptlen,
                    void *user_data) {
  side *s = dsb_tcp_conn_get_user(conn);
  (void)user_data;
  if (s->sc) {
    (void)dsb_stream_conn_on_record(s->sc, pt, ptlen);
  }
  return 0;
}

static void t_writable(dsb_tcp_conn *conn, void *user_data) {
  side *s = dsb_tcp_conn_get_user(conn);
  (void)user_data;
  if (s->sc) {
    dsb_stream_conn_on_writable(s->sc);
  }
}

static void t_closed(dsb_tcp_conn *conn, int reason, void *user_data) {
  side *s = dsb_tcp_conn_get_user(conn);
  (void)user_data;
  if (s == NULL) {
    return;
  }
  s->closed = 1;
  s->close_reason = reason;
  if (s->sc) {
    s->glue_error = dsb_stream_conn_error(s->sc);
    dsb_stream_conn_del(s->sc);
    s->sc = NULL;
  }
  s->conn = NULL;
}

static const dsb_tcp_callbacks tcp_cb = {t_established, t_record, t_writable,
                                         t_closed, NULL};

/* ---- fixture --------------------------------------------------------------
 */

static void on_watchdog(uv_timer_t *t) {
  ((pair *)t->data)->timed_out = 1;
}

/* Runs the loop until *flag is non-zero; fails the test after WAIT_MS. */
static void run_until(pair *pr, const int *flag) {
  pr->timed_out = 0;
  uv_timer_start(&pr->watchdog, on_watchdog, WAIT_MS, 0);
  while (!*flag && !pr->timed_out) {
    uv_run(&pr->loop, UV_RUN_ONCE);
  }
  uv_timer_stop(&pr->watchdog);
  assert_false(pr->timed_out);
}

/* For waits on conditions richer than a flag: arm the watchdog once, then
 * turn the loop while the condition does not hold. */
static void deadline_start(pair *pr) {
  pr->timed_out = 0;
  uv_timer_start(&pr->watchdog, on_watchdog, WAIT_MS, 0);
}

static void turn(pair *pr) {
  uv_run(&pr->loop, UV_RUN_ONCE);
  assert_false(pr->timed_out);
}

static void pair_settings(side *s) {
  dsb_mux_settings_default(&s->settings);
}

static pair *pair_new(void (*tweak)(pair *), const dsb_mem *mux_mem) {
  pair *pr = calloc(1, sizeof(*pr));
  dsb_tcp_config cfg;
  struct sockaddr_in sin;
  struct sockaddr_storage ss;
  dsb_tcp_conn *c;

  assert_non_null(pr);
  assert_int_equal(uv_loop_init(&pr->loop), 0);
  uv_timer_init(&pr->loop, &pr->watchdog);
  pr->watchdog.data = pr;
  pr->mux_mem = mux_mem;
  pr->srv.pr = pr->cli.pr = pr;
  pair_settings(&pr->srv);
  pair_settings(&pr->cli);
  if (tweak) {
    tweak(pr);
  }
  assert_int_equal(dsb_identity_generate(&pr->srv_ident, NULL), 0);
  assert_int_equal(dsb_identity_generate(&pr->cli_ident, NULL), 0);
  memset(&cfg, 0, sizeof(cfg));
  cfg.loop = &pr->loop;
  cfg.callbacks = &tcp_cb;
  cfg.user_data = pr;
  cfg.local = &pr->srv_ident;
  assert_int_equal(dsb_tcp_new(&pr->srv.tcp, &cfg), 0);
  cfg.local = &pr->cli_ident;
  assert_int_equal(dsb_tcp_new(&pr->cli.tcp, &cfg), 0);
  assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &sin), 0);
  assert_int_equal(
      dsb_tcp_listen(pr->srv.tcp, (const struct sockaddr *)&sin, 4), 0);
  assert_int_equal(dsb_tcp_listen_addr(pr->srv.tcp, &ss), 0);
  assert_int_equal(dsb_tcp_connect(pr->cli.tcp, &c,
                                   (const struct sockaddr *)&ss,
                                   pr->srv_ident.proof.static_pk,
                                   &pr->srv_ident.id, &pr->cli),
                   0);
  run_until(pr, &pr->cli.established);
  run_until(pr, &pr->srv.established);
  return pr;
}

static void pair_del(pair *pr) {
  dsb_tcp_del(pr->cli.tcp);
  dsb_tcp_del(pr->srv.tcp);
  uv_close((uv_handle_t *)&pr->watchdog, NULL);
  uv_run(&pr->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&pr->loop), 0);
  dsb_identity_wipe(&pr->srv_ident);
  dsb_identity_wipe(&pr->cli_ident);
  free(pr);
}

static uint32_t open_stream(side *s, const char *name, uint64_t bytes,
                            size_t msg) {
  uint32_t id;
  assert_int_equal(dsb_mux_open(dsb_stream_conn_mux(s->sc), &id, name,
                                strlen(name), 0, 0, NULL),
                   0);
  assert_true(id < MAX_IDS);
  s->tx_left[id] = bytes;
  s->tx_msg[id] = msg;
  return id;
}

/* ---- tests ----------------------------------------------------------------
 */

/* Messages of several sizes on three streams, both directions: every
 * message arrives once, whole and in order (hash over lengths and bytes). */
static void test_messages_both_directions(void **state) {
  pair *pr = pair_new(NULL, NULL);
  uint32_t a, b, c;

  (void)state;
  a = open_stream(&pr->cli, "a", 3u << 20, 65536); /* two frames each */
  b = open_stream(&pr->cli, "b", 1u << 20, 100);
  c = open_stream(&pr->srv, "c", 2u << 20, 40000);
  deadline_start(pr);
  while (pr->srv.rx_bytes[a] < (3u << 20) || pr->srv.rx_bytes[b] < (1u << 20) ||
         pr->cli.rx_bytes[c] < (2u << 20)) {
    turn(pr);
  }
  assert_int_equal(pr->srv.rx_hash[a], pr->cli.tx_hash[a]);
  assert_int_equal(pr->srv.rx_hash[b], pr->cli.tx_hash[b]);
  assert_int_equal(pr->cli.rx_hash[c], pr->srv.tx_hash[c]);
  assert_int_equal(pr->srv.rx_msgs[a], 48);
  assert_int_equal(pr->srv.rx_msgs[b], (1u << 20) / 100 + 1);
  assert_int_equal(pr->cli.rx_msgs[c], (2u << 20) / 40000 + 1);
  assert_int_equal(dsb_stream_conn_error(pr->cli.sc), 0);
  pair_del(pr);
}

/* A receiver that stops consuming: the sender blocks at the stream window,
 * nothing queues beyond the caps, and another stream keeps flowing. */
static void test_backpressure_bounded(void **state) {
  pair *pr = pair_new(NULL, NULL);
  dsb_mux_stream_info info;
  dsb_mux_stats st;
  uint32_t slow, fast;
  int i;

  (void)state;
  pr->srv.no_consume = 1;
  slow = open_stream(&pr->cli, "slow", 64u << 20, 16384);
  run_until(pr, &pr->cli.accepted[slow]);
  /* Let it run until the receiver holds a whole window. */
  deadline_start(pr);
  while (pr->srv.rx_bytes[slow] < 256u * 1024) {
    turn(pr);
  }
  assert_int_equal(pr->srv.rx_bytes[slow], 256u * 1024);
  /* More loop turns change nothing: the sender is out of credit. */
  for (i = 0; i < 20; ++i) {
    uv_run(&pr->loop, UV_RUN_NOWAIT);
  }
  assert_int_equal(pr->srv.rx_bytes[slow], 256u * 1024);
  assert_int_equal(
      dsb_mux_stream_get_info(dsb_stream_conn_mux(pr->cli.sc), slow, &info), 0);
  assert_int_equal(info.send_credit, 0);
  assert_true(info.send_buffered <= pr->cli.settings.stream_send_buffer + 4);
  assert_true(pr->cli.tx_left[slow] > 0); /* the app is blocked too */
  dsb_mux_get_stats(dsb_stream_conn_mux(pr->cli.sc), &st);
  assert_true(st.send_buffered <= pr->cli.settings.session_send_buffer);
  assert_true(dsb_tcp_conn_queued(pr->cli.conn) <=
              DSB_TCP_DEFAULT_MAX_WRITE_QUEUE + DSB_SESSION_RECORD_MAX);

  /* Other streams are not starved by the blocked one. Consuming stays off
   * for |slow| only. */
  pr->srv.no_consume = 0;
  fast = open_stream(&pr->cli, "fast", 1u << 20, 1000);
  deadline_start(pr);
  while (pr->srv.rx_bytes[fast] < (1u << 20)) {
    turn(pr);
  }
  assert_int_equal(pr->srv.rx_bytes[fast], 1u << 20);
  assert_int_equal(pr->srv.rx_hash[fast], pr->cli.tx_hash[fast]);
  assert_int_equal(pr->srv.rx_bytes[slow], 256u * 1024);

  /* Returning the credit lets |slow| continue. */
  assert_int_equal(
      dsb_mux_consume(dsb_stream_conn_mux(pr->srv.sc), slow, 256u * 1024), 0);
  deadline_start(pr);
  while (pr->srv.rx_bytes[slow] < (1u << 20)) {
    turn(pr);
  }
  pair_del(pr);
}

static void tweak_keepalive(pair *pr) {
  pr->cli.settings.keepalive_idle = 50 * DSB_NS_PER_MS;
  pr->cli.settings.keepalive_timeout = 100 * DSB_NS_PER_MS;
  pr->srv.settings.keepalive_idle = 0;
}

/* A peer that stops answering (it no longer reads) is torn down once the
 * PONG is overdue, with the keepalive reason on the connection. */
static void test_keepalive_timeout_closes_connection(void **state) {
  pair *pr = pair_new(tweak_keepalive, NULL);
  uint64_t t0 = uv_hrtime();

  (void)state;
  assert_int_equal(dsb_tcp_conn_pause_read(pr->srv.conn), 0);
  run_until(pr, &pr->cli.closed);
  assert_int_equal(pr->cli.close_reason, DSB_ERR_MUX_KEEPALIVE_TIMEOUT);
  assert_int_equal(pr->cli.glue_error, DSB_ERR_MUX_KEEPALIVE_TIMEOUT);
  assert_int_equal(pr->cli.keepalive_timeouts, 1);
  /* Not before the PONG deadline (the idle period may have begun before
   * t0). */
  assert_true(uv_hrtime() - t0 >= 100 * DSB_NS_PER_MS);
  pair_del(pr);
}

/* An answering peer keeps an idle session alive across several keepalive
 * periods. */
static void test_keepalive_answered_stays_up(void **state) {
  pair *pr = pair_new(tweak_keepalive, NULL);
  dsb_mux_stats st;
  int enough = 0;

  (void)state;
  deadline_start(pr);
  while (!enough) {
    turn(pr);
    dsb_mux_get_stats(dsb_stream_conn_mux(pr->cli.sc), &st);
    enough = st.pongs_received >= 3;
    assert_false(pr->cli.closed);
  }
  assert_int_equal(dsb_stream_conn_error(pr->cli.sc), 0);
  pair_del(pr);
}

/* Sends one raw record, bypassing the client's mux. */
static void send_raw(pair *pr, const uint8_t *rec, size_t len) {
  assert_int_equal(dsb_tcp_conn_send(pr->cli.conn, rec, len), 0);
}

static void test_reject_unknown_stream_closes_connection(void **state) {
  pair *pr = pair_new(NULL, NULL);
  uint8_t rec[DSB_MUX_FRAME_HEADER_LEN + 4];
  dsb_mux_frame fr;

  (void)state;
  memset(&fr, 0, sizeof(fr));
  fr.type = DSB_MUX_FRAME_DATA;
  fr.stream_id = 99; /* never opened: odd, so the client's parity */
  fr.data = (const uint8_t *)"data";
  fr.datalen = 4;
  assert_int_equal(dsb_mux_frame_encode(rec, sizeof(rec), &fr), sizeof(rec));
  send_raw(pr, rec, sizeof(rec));
  run_until(pr, &pr->srv.closed);
  assert_int_equal(pr->srv.close_reason, DSB_ERR_MUX_UNKNOWN_STREAM);
  assert_int_equal(pr->srv.glue_error, DSB_ERR_MUX_UNKNOWN_STREAM);
  run_until(pr, &pr->cli.closed); /* the peer sees the connection go */
  pair_del(pr);
}

static void test_reject_frame_oversize_closes_connection(void **state) {
  pair *pr = pair_new(NULL, NULL);
  uint8_t rec[DSB_MUX_FRAME_HEADER_LEN];
  uint8_t *p = rec;

  (void)state;
  /* A DATA header announcing a payload over the 32 KiB cap. */
  p = dsb_wire_put_u8(p, DSB_MUX_VERSION);
  p = dsb_wire_put_u8(p, DSB_MUX_FRAME_DATA);
  p = dsb_wire_put_u8(p, 0);
  p = dsb_wire_put_u32be(p, 1);
  p = dsb_wire_put_u16be(p, DSB_MUX_MAX_FRAME_PAYLOAD + 1);
  send_raw(pr, rec, sizeof(rec));
  run_until(pr, &pr->srv.closed);
  assert_int_equal(pr->srv.close_reason, DSB_ERR_MUX_FRAME_OVERSIZE);
  pair_del(pr);
}

/* dsb_stream_conn_del() from on_message: no callback after it, the mux is
 * freed once the running dsb_mux_recv returns, the connection stays up. */
static void test_delete_from_callback(void **state) {
  pair *pr = pair_new(NULL, NULL);
  uint32_t a;
  int i;

  (void)state;
  pr->srv.del_on_message = 1;
  a = open_stream(&pr->cli, "a", 1u << 20, 100); /* many per record */
  deadline_start(pr);
  while (pr->srv.rx_msgs[a] == 0) {
    turn(pr);
  }
  assert_int_equal(pr->srv.rx_msgs[a], 1);
  for (i = 0; i < 50; ++i) {
    uv_run(&pr->loop, UV_RUN_NOWAIT);
  }
  assert_int_equal(pr->srv.rx_msgs[a], 1);
  assert_int_equal(pr->srv.callbacks_after_del, 0);
  assert_false(pr->srv.closed);
  pair_del(pr);
}

/* The owner closing the connection while the mux still has data to send
 * is no glue error: the glue stops sending, on_closed has the owner's
 * reason. */
static void test_owner_close_is_not_an_error(void **state) {
  pair *pr = pair_new(NULL, NULL);
  uint32_t a;

  (void)state;
  a = open_stream(&pr->cli, "a", 64u << 20, 65536);
  run_until(pr, &pr->cli.accepted[a]);
  /* A pending OPEN: the glue will try to send once more. */
  (void)open_stream(&pr->cli, "b", 0, 1);
  assert_true(dsb_mux_want_send(dsb_stream_conn_mux(pr->cli.sc)));
  dsb_tcp_conn_close(pr->cli.conn, 0);
  run_until(pr, &pr->cli.closed);
  assert_int_equal(pr->cli.close_reason, DSB_ERR_CLOSED);
  assert_int_equal(pr->cli.glue_error, 0);
  pair_del(pr);
}

static void test_reject_null_arguments(void **state) {
  pair *pr = pair_new(NULL, NULL);
  dsb_stream_conn_config cfg;
  dsb_stream_conn *sc = NULL;

  (void)state;
  memset(&cfg, 0, sizeof(cfg));
  assert_int_equal(dsb_stream_conn_new(NULL, &cfg), DSB_ERR_INVALID_ARGUMENT);
  assert_int_equal(dsb_stream_conn_new(&sc, NULL), DSB_ERR_INVALID_ARGUMENT);
  assert_int_equal(dsb_stream_conn_new(&sc, &cfg), DSB_ERR_INVALID_ARGUMENT);
  cfg.conn = pr->cli.conn;
  assert_int_equal(dsb_stream_conn_new(&sc, &cfg), DSB_ERR_INVALID_ARGUMENT);
  assert_null(sc);
  dsb_stream_conn_del(NULL);
  pair_del(pr);
}

static void test_reject_bad_settings(void **state) {
  pair *pr = pair_new(NULL, NULL);
  dsb_stream_conn_config cfg;
  dsb_mux_settings set;
  dsb_stream_conn *sc = NULL;

  (void)state;
  dsb_mux_settings_default(&set);
  set.max_streams = 0;
  memset(&cfg, 0, sizeof(cfg));
  cfg.loop = &pr->loop;
  cfg.conn = pr->cli.conn;
  cfg.settings = &set;
  assert_int_equal(dsb_stream_conn_new(&sc, &cfg), DSB_ERR_CONFIG);
  assert_null(sc);
  pair_del(pr);
}

/* ---- failing allocator ----------------------------------------------------
 */

typedef struct failmem {
  int countdown; /* allocations left before failing; < 0 never fails */
  int live;
} failmem;

static void *fm_malloc(size_t n, void *ctx) {
  failmem *f = ctx;
  void *p;
  if (f->countdown == 0) {
    return NULL;
  }
  if (f->countdown > 0) {
    f->countdown--;
  }
  p = malloc(n);
  f->live += p != NULL;
  return p;
}

static void fm_free(void *p, void *ctx) {
  failmem *f = ctx;
  if (p) {
    f->live--;
    free(p);
  }
}

static void *fm_calloc(size_t n, size_t size, void *ctx) {
  void *p = (size && n > SIZE_MAX / size) ? NULL : fm_malloc(n * size, ctx);
  if (p) {
    memset(p, 0, n * size);
  }
  return p;
}

static void *fm_realloc(void *p, size_t n, void *ctx) {
  failmem *f = ctx;
  void *q;
  if (p == NULL) {
    return fm_malloc(n, ctx);
  }
  if (f->countdown == 0) {
    return NULL;
  }
  if (f->countdown > 0) {
    f->countdown--;
  }
  q = realloc(p, n);
  return q;
}

/* Fail the i-th allocation of dsb_stream_conn_new for every i: NOMEM,
 * nothing leaked, *psc untouched; then it succeeds. */
static void test_failing_allocator(void **state) {
  pair *pr = pair_new(NULL, NULL);
  failmem fm = {-1, 0};
  dsb_mem mem = {fm_malloc, fm_free, fm_calloc, fm_realloc, &fm};
  dsb_stream_conn_config cfg;
  dsb_stream_conn *sc;
  int i, rv;

  (void)state;
  memset(&cfg, 0, sizeof(cfg));
  cfg.loop = &pr->loop;
  cfg.conn = pr->cli.conn;
  cfg.mem = &mem;
  for (i = 0;; ++i) {
    sc = NULL;
    fm.countdown = i;
    rv = dsb_stream_conn_new(&sc, &cfg);
    if (rv == 0) {
      break;
    }
    assert_int_equal(rv, DSB_ERR_NOMEM);
    assert_null(sc);
    assert_int_equal(fm.live, 0);
    assert_true(i < 100);
  }
  assert_true(i > 0);
  dsb_stream_conn_del(sc);
  uv_run(&pr->loop, UV_RUN_NOWAIT); /* handle close callbacks */
  assert_int_equal(fm.live, 0);
  pair_del(pr);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_messages_both_directions),
      cmocka_unit_test(test_backpressure_bounded),
      cmocka_unit_test(test_keepalive_timeout_closes_connection),
      cmocka_unit_test(test_keepalive_answered_stays_up),
      cmocka_unit_test(test_reject_unknown_stream_closes_connection),
      cmocka_unit_test(test_reject_frame_oversize_closes_connection),
      cmocka_unit_test(test_delete_from_callback),
      cmocka_unit_test(test_owner_close_is_not_an_error),
      cmocka_unit_test(test_reject_null_arguments),
      cmocka_unit_test(test_reject_bad_settings),
      cmocka_unit_test(test_failing_allocator),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
