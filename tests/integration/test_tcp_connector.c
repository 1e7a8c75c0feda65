/*
 * test_tcp_connector.c - the TCP transport's connector hook (dsb/tcp.h,
 * dsb_tcp_connector): outbound sockets supplied later by someone else, as
 * the facade backend does with sockets from netstackd.
 *
 * Two transports on one loop over 127.0.0.1: a responder listening
 * directly, an initiator whose connector opens the socket itself (a
 * stand-in for netstackd) and supplies it from a timer, so the answer
 * always comes from the loop, never from inside start(). Every wait is
 * bounded by a watchdog timer; nothing sleeps.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "dsb/err.h"
#include "dsb/identity.h"
#include "dsb/tcp.h"

#include "../unit/session_test_util.h"

#define WATCHDOG_MS 10000

static dsb_identity id_a, id_b;

static int setup_ids(void **state) {
  (void)state;
  assert_int_equal(stu_identity(&id_a, 0xA), 0);
  assert_int_equal(stu_identity(&id_b, 0xB), 0);
  return 0;
}

/* ---- endpoints ----------------------------------------------------------- */

typedef struct ep {
  dsb_tcp *tcp;
  dsb_tcp_conn *conn;
  int established;
  int closed;
  int close_reason;
  size_t records;
} ep;

static int ep_on_established(dsb_tcp_conn *conn, const dsb_device_id *peer,
                             void *user) {
  ep *e = user;
  (void)peer;
  e->conn = conn;
  ++e->established;
  return 0;
}

static int ep_on_record(dsb_tcp_conn *conn, const uint8_t *pt, size_t ptlen,
                        void *user) {
  ep *e = user;
  (void)conn;
  (void)pt;
  (void)ptlen;
  ++e->records;
  return 0;
}

static void ep_on_closed(dsb_tcp_conn *conn, int reason, void *user) {
  ep *e = user;
  (void)conn;
  ++e->closed;
  e->close_reason = reason;
}

static const dsb_tcp_callbacks ep_cb = {ep_on_established, ep_on_record, NULL,
                                        ep_on_closed, NULL};

static void ep_new(ep *e, uv_loop_t *loop, const dsb_identity *self) {
  dsb_tcp_config cfg;
  memset(e, 0, sizeof(*e));
  memset(&cfg, 0, sizeof(cfg));
  cfg.loop = loop;
  cfg.local = self;
  cfg.callbacks = &ep_cb;
  cfg.user_data = e;
  assert_int_equal(dsb_tcp_new(&e->tcp, &cfg), 0);
}

/* ---- a connector standing in for netstackd ------------------------------- */

enum { FAKE_SUPPLY = 0, FAKE_FAIL, FAKE_REFUSE_START };

typedef struct fake_connector {
  uv_timer_t timer;
  int mode;
  dsb_tcp_conn *pending;
  struct sockaddr_storage addr;
  int starts;
  int cancels;
  int supplied;
  int late_fd_closed; /* a socket arrived after cancel and was closed */
} fake_connector;

static int fake_open(const struct sockaddr_storage *addr) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return -1;
  }
  if (connect(fd, (const struct sockaddr *)addr, sizeof(struct sockaddr_in)) !=
      0) {
    close(fd);
    return -1;
  }
  return fd;
}

static void fake_on_timer(uv_timer_t *t) {
  fake_connector *f = t->data;
  int fd = fake_open(&f->addr);
  assert_true(fd >= 0);
  if (!f->pending) {
    /* Cancelled meanwhile: what a connector does with a late socket. */
    close(fd);
    ++f->late_fd_closed;
    return;
  }
  dsb_tcp_conn *c = f->pending;
  f->pending = NULL;
  ++f->supplied;
  if (f->mode == FAKE_FAIL) {
    close(fd);
    dsb_tcp_conn_supply_fd(c, -1, DSB_ERR_IO);
  } else {
    dsb_tcp_conn_supply_fd(c, fd, 0);
  }
}

static int fake_start(void *ctx, dsb_tcp_conn *conn,
                      const struct sockaddr *addr) {
  fake_connector *f = ctx;
  ++f->starts;
  if (f->mode == FAKE_REFUSE_START) {
    return DSB_ERR_NETSTACK_DOWN;
  }
  memcpy(&f->addr, addr, sizeof(struct sockaddr_in));
  f->pending = conn;
  uv_timer_start(&f->timer, fake_on_timer, 1, 0);
  return 0;
}

static void fake_cancel(void *ctx, dsb_tcp_conn *conn) {
  fake_connector *f = ctx;
  assert_ptr_equal(conn, f->pending);
  f->pending = NULL;
  ++f->cancels;
}

/* ---- fixture ------------------------------------------------------------- */

typedef struct fixture {
  uv_loop_t loop;
  uv_timer_t watchdog;
  int timed_out;
  ep a, b; /* a: initiator with the connector, b: listener */
  fake_connector fake;
  struct sockaddr_storage baddr;
} fixture;

static void fx_on_watchdog(uv_timer_t *t) {
  fixture *fx = t->data;
  fx->timed_out = 1;
  uv_stop(&fx->loop);
}

static void fx_init(fixture *fx, int mode) {
  memset(fx, 0, sizeof(*fx));
  assert_int_equal(uv_loop_init(&fx->loop), 0);
  uv_timer_init(&fx->loop, &fx->watchdog);
  fx->watchdog.data = fx;
  uv_timer_start(&fx->watchdog, fx_on_watchdog, WATCHDOG_MS, 0);
  uv_unref((uv_handle_t *)&fx->watchdog);
  uv_timer_init(&fx->loop, &fx->fake.timer);
  fx->fake.timer.data = &fx->fake;
  fx->fake.mode = mode;
  ep_new(&fx->a, &fx->loop, &id_a);
  ep_new(&fx->b, &fx->loop, &id_b);
  struct sockaddr_in sin;
  uv_ip4_addr("127.0.0.1", 0, &sin);
  assert_int_equal(dsb_tcp_listen(fx->b.tcp, (struct sockaddr *)&sin, 0), 0);
  assert_int_equal(dsb_tcp_listen_addr(fx->b.tcp, &fx->baddr), 0);
  dsb_tcp_connector conn = {fake_start, fake_cancel, &fx->fake};
  dsb_tcp_set_connector(fx->a.tcp, &conn);
}

/* Run the loop until |cond| holds (or the watchdog fires). */
static void fx_run_until(fixture *fx, int (*cond)(fixture *)) {
  while (!cond(fx) && !fx->timed_out) {
    uv_run(&fx->loop, UV_RUN_ONCE);
  }
  assert_false(fx->timed_out);
}

static void fx_fini(fixture *fx) {
  dsb_tcp_del(fx->a.tcp);
  dsb_tcp_del(fx->b.tcp);
  uv_close((uv_handle_t *)&fx->fake.timer, NULL);
  uv_close((uv_handle_t *)&fx->watchdog, NULL);
  uv_run(&fx->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&fx->loop), 0);
}

static int both_established(fixture *fx) {
  return fx->a.established && fx->b.established;
}
static int a_closed(fixture *fx) {
  return fx->a.closed > 0;
}
static int late_fd_handled(fixture *fx) {
  return fx->fake.late_fd_closed > 0 && fx->a.closed > 0;
}

static int fd_count(void) {
  int n = 0;
  DIR *dir = opendir("/proc/self/fd");
  if (!dir) {
    return -1;
  }
  while (readdir(dir)) {
    ++n;
  }
  closedir(dir);
  return n;
}

/* ---- tests --------------------------------------------------------------- */

static void test_connector_supplies_socket(void **state) {
  (void)state;
  fixture fx;
  dsb_tcp_conn *conn = NULL;
  fx_init(&fx, FAKE_SUPPLY);
  assert_int_equal(dsb_tcp_connect(fx.a.tcp, &conn,
                                   (struct sockaddr *)&fx.baddr,
                                   id_b.proof.static_pk, &id_b.id, NULL),
                   0);
  assert_non_null(conn);
  assert_int_equal(fx.fake.starts, 1);
  assert_int_equal(fx.fake.supplied, 0); /* never from inside start() */
  fx_run_until(&fx, both_established);
  assert_ptr_equal(fx.a.conn, conn);
  static const uint8_t hello[] = "over a supplied socket";
  assert_int_equal(dsb_tcp_conn_send(conn, hello, sizeof(hello)), 0);
  while (fx.b.records == 0 && !fx.timed_out) {
    uv_run(&fx.loop, UV_RUN_ONCE);
  }
  assert_int_equal(fx.b.records, 1);
  dsb_device_id peer;
  assert_int_equal(dsb_tcp_conn_get_peer(conn, &peer), 0);
  assert_true(dsb_device_id_eq(&peer, &id_b.id));
  fx_fini(&fx);
}

static void test_reject_connector_failure_reports_closed(void **state) {
  (void)state;
  fixture fx;
  dsb_tcp_conn *conn = NULL;
  fx_init(&fx, FAKE_FAIL);
  assert_int_equal(dsb_tcp_connect(fx.a.tcp, &conn,
                                   (struct sockaddr *)&fx.baddr,
                                   id_b.proof.static_pk, &id_b.id, NULL),
                   0);
  fx_run_until(&fx, a_closed);
  assert_int_equal(fx.a.close_reason, DSB_ERR_IO);
  assert_int_equal(fx.a.established, 0);
  dsb_tcp_stats st;
  dsb_tcp_get_stats(fx.a.tcp, &st);
  assert_int_equal(st.conns, 0);
  fx_fini(&fx);
}

static void test_reject_connector_start_error_returned(void **state) {
  (void)state;
  fixture fx;
  dsb_tcp_conn *conn = NULL;
  fx_init(&fx, FAKE_REFUSE_START);
  assert_int_equal(dsb_tcp_connect(fx.a.tcp, &conn,
                                   (struct sockaddr *)&fx.baddr,
                                   id_b.proof.static_pk, &id_b.id, NULL),
                   DSB_ERR_NETSTACK_DOWN);
  assert_null(conn);
  uv_run(&fx.loop, UV_RUN_NOWAIT);
  assert_int_equal(fx.a.closed, 0); /* no on_closed for a failed call */
  dsb_tcp_stats st;
  dsb_tcp_get_stats(fx.a.tcp, &st);
  assert_int_equal(st.conns, 0);
  fx_fini(&fx);
}

/* Closing before the socket arrives cancels; the late socket is closed by
 * the connector and nothing leaks. */
static void test_close_while_waiting_cancels(void **state) {
  (void)state;
  fixture fx;
  dsb_tcp_conn *conn = NULL;
  int base = fd_count();
  fx_init(&fx, FAKE_SUPPLY);
  assert_int_equal(dsb_tcp_connect(fx.a.tcp, &conn,
                                   (struct sockaddr *)&fx.baddr,
                                   id_b.proof.static_pk, &id_b.id, NULL),
                   0);
  dsb_tcp_conn_close(conn, DSB_ERR_CLOSED);
  assert_int_equal(fx.fake.cancels, 1);
  fx_run_until(&fx, late_fd_handled);
  assert_int_equal(fx.a.close_reason, DSB_ERR_CLOSED);
  assert_int_equal(fx.fake.supplied, 0);
  fx_fini(&fx);
  assert_int_equal(fd_count(), base);
}

/* dsb_tcp_del with a connect waiting: cancel runs, on_closed runs once. */
static void test_del_while_waiting_cancels(void **state) {
  (void)state;
  fixture fx;
  dsb_tcp_conn *conn = NULL;
  fx_init(&fx, FAKE_SUPPLY);
  assert_int_equal(dsb_tcp_connect(fx.a.tcp, &conn,
                                   (struct sockaddr *)&fx.baddr,
                                   id_b.proof.static_pk, &id_b.id, NULL),
                   0);
  dsb_tcp_del(fx.a.tcp);
  assert_int_equal(fx.fake.cancels, 1);
  assert_int_equal(fx.a.closed, 1);
  assert_int_equal(fx.a.close_reason, DSB_ERR_CLOSED);
  fx.a.tcp = NULL;
  fx_run_until(&fx, late_fd_handled);
  fx_fini(&fx);
}

/* Without a connector (or after removing it) connect is direct again. */
static void test_connector_removed_connects_directly(void **state) {
  (void)state;
  fixture fx;
  dsb_tcp_conn *conn = NULL;
  fx_init(&fx, FAKE_REFUSE_START);
  dsb_tcp_set_connector(fx.a.tcp, NULL);
  assert_int_equal(dsb_tcp_connect(fx.a.tcp, &conn,
                                   (struct sockaddr *)&fx.baddr,
                                   id_b.proof.static_pk, &id_b.id, NULL),
                   0);
  fx_run_until(&fx, both_established);
  assert_int_equal(fx.fake.starts, 0);
  fx_fini(&fx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_connector_supplies_socket),
      cmocka_unit_test(test_reject_connector_failure_reports_closed),
      cmocka_unit_test(test_reject_connector_start_error_returned),
      cmocka_unit_test(test_close_while_waiting_cancels),
      cmocka_unit_test(test_del_while_waiting_cancels),
      cmocka_unit_test(test_connector_removed_connects_directly),
  };
  return cmocka_run_group_tests(tests, setup_ids, NULL);
}
