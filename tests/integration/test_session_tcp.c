/*
 * test_session_tcp.c - sessions over real TCP on 127.0.0.1.
 *
 * Two processes: the test forks a responder child (the libuv transport as
 * an echo server, or a raw-socket peer that runs the sans-IO session and
 * moves every byte with its own recv()/send() of length 1), and the parent
 * is the initiator on the libuv transport. Transport behaviour that needs
 * no second process (limits, deadlines, backpressure, adopted sockets,
 * closing) runs two transports on one loop. Every wait is bounded by a
 * watchdog timer; nothing sleeps.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "dsb/err.h"
#include "dsb/identity.h"
#include "dsb/session.h"
#include "dsb/tcp.h"
#include "dsb/trust.h"
#include "dsb/wire.h"

#include "../unit/session_test_util.h"

#define WATCHDOG_MS 20000
#define LOG_CAP (8u << 20)

static dsb_identity id_a, id_b, id_c;

static int setup_ids(void **state) {
  (void)state;
  assert_int_equal(stu_identity(&id_a, 0xA), 0);
  assert_int_equal(stu_identity(&id_b, 0xB), 0);
  assert_int_equal(stu_identity(&id_c, 0xC), 0);
  return 0;
}

static void fill(uint8_t *buf, size_t len, uint32_t seed) {
  size_t i;
  for (i = 0; i < len; ++i) {
    buf[i] = (uint8_t)((i * 7 + seed * 13) ^ (i >> 9));
  }
}

/* ---- an endpoint on the libuv transport -----------------------------------
 */

typedef struct ep {
  uv_loop_t *loop;
  dsb_tcp *tcp;
  dsb_tcp_conn *conn; /* the last established or connected one */
  int established;
  int closed;
  int close_reason;
  int rejects;
  int last_reject;
  int writable;
  size_t records;
  uint8_t *log;
  size_t loglen;
  /* echo mode: send every record back; one record waits when full */
  int echo;
  uint8_t *pending;
  size_t pendinglen;
  int has_pending;
  int refuse_established;
  dsb_session_trust_ctx trust_ctx;
} ep;

static int ep_on_established(dsb_tcp_conn *conn, const dsb_device_id *peer,
                             void *user) {
  ep *e = user;
  (void)peer;
  e->conn = conn;
  ++e->established;
  return e->refuse_established;
}

static int ep_on_record(dsb_tcp_conn *conn, const uint8_t *pt, size_t ptlen,
                        void *user) {
  ep *e = user;
  int rv;

  ++e->records;
  if (e->log && e->loglen + ptlen <= LOG_CAP) {
    memcpy(e->log + e->loglen, pt, ptlen);
  }
  e->loglen += ptlen;
  if (!e->echo) {
    return 0;
  }
  rv = dsb_tcp_conn_send(conn, pt, ptlen);
  if (rv == DSB_ERR_WOULD_BLOCK) {
    /* Keep this one record and stop reading until the queue drains. */
    memcpy(e->pending, pt, ptlen);
    e->pendinglen = ptlen;
    e->has_pending = 1;
    return dsb_tcp_conn_pause_read(conn);
  }
  return rv;
}

static void ep_on_writable(dsb_tcp_conn *conn, void *user) {
  ep *e = user;

  ++e->writable;
  if (e->has_pending) {
    assert_int_equal(dsb_tcp_conn_send(conn, e->pending, e->pendinglen), 0);
    e->has_pending = 0;
    assert_int_equal(dsb_tcp_conn_resume_read(conn), 0);
  }
}

static void ep_on_closed(dsb_tcp_conn *conn, int reason, void *user) {
  ep *e = user;
  (void)conn;
  ++e->closed;
  e->close_reason = reason;
  if (e->conn == conn) {
    e->conn = NULL;
  }
}

static void ep_on_reject(dsb_tcp *tcp, const struct sockaddr *addr, int reason,
                         void *user) {
  ep *e = user;
  (void)tcp;
  (void)addr;
  ++e->rejects;
  e->last_reject = reason;
}

static const dsb_tcp_callbacks ep_callbacks = {ep_on_established, ep_on_record,
                                               ep_on_writable, ep_on_closed,
                                               ep_on_reject};

static void ep_init(ep *e, uv_loop_t *loop, const dsb_identity *ident,
                    const dsb_tcp_settings *settings, dsb_trust *trust) {
  dsb_tcp_config cfg;

  memset(e, 0, sizeof(*e));
  e->loop = loop;
  e->log = malloc(LOG_CAP);
  e->pending = malloc(DSB_SESSION_PLAINTEXT_MAX);
  assert_non_null(e->log);
  assert_non_null(e->pending);
  memset(&cfg, 0, sizeof(cfg));
  cfg.loop = loop;
  cfg.local = ident;
  cfg.settings = settings;
  cfg.callbacks = &ep_callbacks;
  cfg.user_data = e;
  if (trust) {
    e->trust_ctx.trust = trust;
    e->trust_ctx.flags = 0;
    cfg.peer_check = dsb_session_trust_check;
    cfg.peer_check_ctx = &e->trust_ctx;
  }
  assert_int_equal(dsb_tcp_new(&e->tcp, &cfg), 0);
}

/* Start closing the transport; it frees itself from close callbacks, so
 * the loop must run afterwards (ep_release after that). */
static void ep_del(ep *e) {
  if (e->tcp) {
    dsb_tcp_del(e->tcp);
    e->tcp = NULL;
  }
}

static void ep_release(ep *e) {
  free(e->log);
  free(e->pending);
  e->log = NULL;
  e->pending = NULL;
}

/* For a loop that serves only |e|. */
static void ep_free(ep *e) {
  ep_del(e);
  uv_run(e->loop, UV_RUN_DEFAULT);
  ep_release(e);
}

static void loopback(struct sockaddr_in *sin, uint16_t port) {
  memset(sin, 0, sizeof(*sin));
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

static uint16_t ep_listen(ep *e) {
  struct sockaddr_in sin;
  struct sockaddr_storage ss;

  loopback(&sin, 0);
  assert_int_equal(dsb_tcp_listen(e->tcp, (const struct sockaddr *)&sin, 16),
                   0);
  assert_int_equal(dsb_tcp_listen_addr(e->tcp, &ss), 0);
  return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static dsb_tcp_conn *ep_connect(ep *e, uint16_t port, const dsb_identity *to,
                                const dsb_device_id *expected) {
  struct sockaddr_in sin;
  dsb_tcp_conn *c = NULL;

  loopback(&sin, port);
  assert_int_equal(dsb_tcp_connect(e->tcp, &c, (const struct sockaddr *)&sin,
                                   to->proof.static_pk, expected, NULL),
                   0);
  assert_non_null(c);
  return c;
}

/* ---- bounded waiting
 * ---------------------------------------------------------- */

static int timed_out;

static void on_watchdog(uv_timer_t *t) {
  timed_out = 1;
  uv_stop(t->loop);
}

/* Run |loop| until cond(arg) holds; fail the test after WATCHDOG_MS. */
static void run_until(uv_loop_t *loop, int (*cond)(void *), void *arg) {
  uv_timer_t wd;

  timed_out = 0;
  uv_timer_init(loop, &wd);
  uv_timer_start(&wd, on_watchdog, WATCHDOG_MS, 0);
  while (!cond(arg) && !timed_out) {
    uv_run(loop, UV_RUN_ONCE);
  }
  uv_timer_stop(&wd);
  uv_close((uv_handle_t *)&wd, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  assert_false(timed_out);
}

static int cond_established(void *arg) {
  return ((ep *)arg)->established > 0;
}
static int cond_closed(void *arg) {
  return ((ep *)arg)->closed > 0;
}
static int cond_rejected(void *arg) {
  return ((ep *)arg)->rejects > 0;
}

typedef struct wait_bytes {
  ep *e;
  size_t n;
} wait_bytes;

typedef struct wait_writable {
  ep *e;
  int before;
} wait_writable;

static int cond_writable(void *arg) {
  wait_writable *w = arg;
  return w->e->writable != w->before || w->e->closed;
}

static int cond_bytes(void *arg) {
  wait_bytes *w = arg;
  return w->e->loglen >= w->n || w->e->closed;
}

/* ---- the responder child
 * ----------------------------------------------------- */

/* What the child reports to the parent when told to finish. */
typedef struct child_report {
  int established;
  int rejects;
  int last_reject;
  uint64_t records;
  uint64_t bytes;
} child_report;

typedef struct child_ctl {
  uv_poll_t poll;
  ep *e;
  int fd;
  int done;
} child_ctl;

static void child_on_ctl(uv_poll_t *p, int status, int events) {
  child_ctl *ctl = p->data;
  char c;
  (void)status;
  (void)events;
  /* EOF (or anything) on the control socket: finish. */
  if (read(ctl->fd, &c, 1) <= 0) {
    ctl->done = 1;
    uv_poll_stop(p);
  }
}

/* Told to finish, and every connection has gone (so its outcome is in
 * the report). */
static int cond_child_done(void *arg) {
  child_ctl *ctl = arg;
  dsb_tcp_stats st;

  dsb_tcp_get_stats(ctl->e->tcp, &st);
  return ctl->done && st.conns == 0 && st.half_open == 0;
}

/* Child: the libuv transport as B, echoing every record back. */
static void child_echo_server(int ctlfd, const dsb_tcp_settings *settings) {
  uv_loop_t loop;
  ep e;
  child_ctl ctl;
  child_report rep;
  uint16_t port;

  uv_loop_init(&loop);
  ep_init(&e, &loop, &id_b, settings, NULL);
  e.echo = 1;
  port = ep_listen(&e);
  if (write(ctlfd, &port, sizeof(port)) != sizeof(port)) {
    _exit(2);
  }
  memset(&ctl, 0, sizeof(ctl));
  ctl.fd = ctlfd;
  ctl.e = &e;
  uv_poll_init(&loop, &ctl.poll, ctlfd);
  ctl.poll.data = &ctl;
  uv_poll_start(&ctl.poll, UV_READABLE, child_on_ctl);
  run_until(&loop, cond_child_done, &ctl);
  memset(&rep, 0, sizeof(rep));
  rep.established = e.established;
  rep.rejects = e.rejects;
  rep.last_reject = e.last_reject;
  rep.records = e.records;
  rep.bytes = e.loglen;
  uv_close((uv_handle_t *)&ctl.poll, NULL);
  ep_free(&e);
  uv_loop_close(&loop);
  if (write(ctlfd, &rep, sizeof(rep)) != sizeof(rep)) {
    _exit(3);
  }
  _exit(0);
}

static dsb_tstamp mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (dsb_tstamp)ts.tv_sec * DSB_NS_PER_S + (dsb_tstamp)ts.tv_nsec;
}

/* Child, raw-socket peer: every byte read and written alone. */
typedef struct dribble {
  int fd;
  uint64_t records;
  uint64_t bytes;
  int established;
  int failed;
} dribble;

static int dribble_send(int fd, const uint8_t *p, size_t n) {
  size_t i;
  for (i = 0; i < n; ++i) {
    if (send(fd, p + i, 1, MSG_NOSIGNAL) != 1) {
      return -1;
    }
  }
  return 0;
}

static int dribble_on_established(dsb_session *s, const dsb_device_id *peer,
                                  void *user) {
  dribble *d = user;
  (void)s;
  (void)peer;
  d->established = 1;
  return 0;
}

static int dribble_on_record(dsb_session *s, const uint8_t *pt, size_t ptlen,
                             void *user) {
  dribble *d = user;
  static uint8_t rec[DSB_SESSION_RECORD_MAX];
  long n;

  ++d->records;
  d->bytes += ptlen;
  /* Echo from inside the callback: seal while the other direction is
   * being opened. */
  n = dsb_session_seal(s, rec, sizeof(rec), pt, ptlen);
  if (n < 0 || dribble_send(d->fd, rec, (size_t)n) != 0) {
    return -1;
  }
  return 0;
}

static void child_dribble(int ctlfd) {
  static const dsb_session_callbacks cbs = {dribble_on_established,
                                            dribble_on_record};
  struct sockaddr_in sin;
  socklen_t slen = sizeof(sin);
  dsb_session_config cfg;
  dsb_session *s;
  dribble d;
  child_report rep;
  uint8_t msg[DSB_SESSION_HANDSHAKE_MAX];
  uint16_t port;
  int lfd, one = 1;

  memset(&d, 0, sizeof(d));
  lfd = socket(AF_INET, SOCK_STREAM, 0);
  loopback(&sin, 0);
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
      listen(lfd, 1) != 0 ||
      getsockname(lfd, (struct sockaddr *)&sin, &slen) != 0) {
    _exit(2);
  }
  port = ntohs(sin.sin_port);
  if (write(ctlfd, &port, sizeof(port)) != sizeof(port)) {
    _exit(2);
  }
  d.fd = accept(lfd, NULL, NULL);
  if (d.fd < 0) {
    _exit(2);
  }
  close(lfd);
  setsockopt(d.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  memset(&cfg, 0, sizeof(cfg));
  cfg.role = DSB_SESSION_RESPONDER;
  cfg.local = &id_b;
  cfg.callbacks = &cbs;
  cfg.user_data = &d;
  if (dsb_session_new(&s, &cfg, mono_ns()) != 0) {
    _exit(2);
  }
  for (;;) {
    uint8_t byte;
    ssize_t r = recv(d.fd, &byte, 1, 0);
    long n;
    if (r <= 0) {
      if (r == 0 && dsb_session_recv_eof(s) != 0) {
        d.failed = 1;
      }
      break;
    }
    if (dsb_session_recv(s, &byte, 1, mono_ns()) < 0) {
      d.failed = 1;
      break;
    }
    n = dsb_session_write_handshake(s, msg, sizeof(msg), mono_ns());
    if (n < 0 || (n > 0 && dribble_send(d.fd, msg, (size_t)n) != 0)) {
      d.failed = 1;
      break;
    }
  }
  close(d.fd);
  dsb_session_del(s);
  memset(&rep, 0, sizeof(rep));
  rep.established = d.established;
  rep.rejects = d.failed;
  rep.records = d.records;
  rep.bytes = d.bytes;
  /* Wait for the parent's go, then report. */
  {
    char c;
    while (read(ctlfd, &c, 1) > 0) {
    }
  }
  if (write(ctlfd, &rep, sizeof(rep)) != sizeof(rep)) {
    _exit(3);
  }
  _exit(0);
}

typedef struct child {
  pid_t pid;
  int fd;
  uint16_t port;
} child;

static void child_start(child *ch, void (*fn)(int, const dsb_tcp_settings *),
                        const dsb_tcp_settings *settings) {
  int sv[2];

  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  fflush(NULL);
  ch->pid = fork();
  assert_true(ch->pid >= 0);
  if (ch->pid == 0) {
    close(sv[0]);
    fn(sv[1], settings);
    _exit(1);
  }
  close(sv[1]);
  ch->fd = sv[0];
  assert_int_equal(read(ch->fd, &ch->port, sizeof(ch->port)), sizeof(ch->port));
}

static void child_dribble_adapter(int fd, const dsb_tcp_settings *settings) {
  (void)settings;
  child_dribble(fd);
}

/* Tell the child to finish, collect its report and its exit status. */
static void child_finish(child *ch, child_report *rep) {
  int status = 0;

  shutdown(ch->fd, SHUT_WR);
  assert_int_equal(read(ch->fd, rep, sizeof(*rep)), sizeof(*rep));
  close(ch->fd);
  assert_int_equal(waitpid(ch->pid, &status, 0), ch->pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- two processes
 * ------------------------------------------------------------ */

/* Send records of many sizes and expect each echoed back intact. */
static void exchange_echo(ep *e, size_t count) {
  static const size_t sizes[] = {0,    1,     17,    1000,
                                 4096, 16384, 40000, DSB_SESSION_PLAINTEXT_MAX};
  static uint8_t buf[DSB_SESSION_PLAINTEXT_MAX];
  size_t k, expect = 0;

  for (k = 0; k < count; ++k) {
    size_t len = sizes[k % (sizeof(sizes) / sizeof(sizes[0]))];
    wait_bytes w;
    fill(buf, len, (uint32_t)k);
    assert_int_equal(dsb_tcp_conn_send(e->conn, buf, len), 0);
    expect += len;
    w.e = e;
    w.n = expect;
    run_until(e->loop, cond_bytes, &w);
    assert_int_equal(e->closed, 0);
    assert_memory_equal(e->log + expect - len, buf, len);
  }
  assert_int_equal(e->records, count);
}

static void test_tcp_two_processes_round_trip(void **state) {
  child ch;
  child_report rep;
  uv_loop_t loop;
  ep e;

  (void)state;
  child_start(&ch, child_echo_server, NULL);
  uv_loop_init(&loop);
  ep_init(&e, &loop, &id_a, NULL, NULL);
  ep_connect(&e, ch.port, &id_b, &id_b.id);
  run_until(&loop, cond_established, &e);
  exchange_echo(&e, 24);
  /* A burst larger than the echo server's queue: its backpressure (pause
   * reading, resume on writable) must keep everything in order. */
  {
    static uint8_t buf[DSB_SESSION_PLAINTEXT_MAX];
    size_t k, sent = e.loglen;
    wait_bytes w;
    for (k = 0; k < 64; ++k) {
      int rv;
      fill(buf, sizeof(buf), (uint32_t)(1000 + k));
      rv = dsb_tcp_conn_send(e.conn, buf, sizeof(buf));
      while (rv == DSB_ERR_WOULD_BLOCK) {
        wait_writable ww = {&e, e.writable};
        run_until(&loop, cond_writable, &ww);
        assert_int_equal(e.closed, 0);
        rv = dsb_tcp_conn_send(e.conn, buf, sizeof(buf));
      }
      assert_int_equal(rv, 0);
    }
    w.e = &e;
    w.n = sent + 64 * sizeof(buf);
    run_until(&loop, cond_bytes, &w);
    for (k = 0; k < 64; ++k) {
      fill(buf, sizeof(buf), (uint32_t)(1000 + k));
      assert_memory_equal(e.log + sent + k * sizeof(buf), buf, sizeof(buf));
    }
  }
  dsb_tcp_conn_close(e.conn, 0);
  run_until(&loop, cond_closed, &e);
  assert_int_equal(e.close_reason, DSB_ERR_CLOSED);
  ep_free(&e);
  uv_loop_close(&loop);
  child_finish(&ch, &rep);
  assert_int_equal(rep.established, 1);
  assert_int_equal(rep.records, 24 + 64);
  assert_int_equal(rep.rejects, 0);
}

/* The peer process reads and writes one byte per syscall: every record and
 * handshake message crosses TCP in one-byte pieces in both directions. */
static void test_tcp_two_processes_one_byte_pieces(void **state) {
  child ch;
  child_report rep;
  uv_loop_t loop;
  ep e;

  (void)state;
  child_start(&ch, child_dribble_adapter, NULL);
  uv_loop_init(&loop);
  ep_init(&e, &loop, &id_a, NULL, NULL);
  ep_connect(&e, ch.port, &id_b, &id_b.id);
  run_until(&loop, cond_established, &e);
  exchange_echo(&e, 6); /* up to 16 KiB each way, byte by byte */
  dsb_tcp_conn_close(e.conn, 0);
  run_until(&loop, cond_closed, &e);
  ep_free(&e);
  uv_loop_close(&loop);
  child_finish(&ch, &rep);
  assert_int_equal(rep.established, 1);
  assert_int_equal(rep.records, 6);
  assert_int_equal(rep.rejects, 0); /* a clean EOF between records */
}

/* Discovery says device C, the key is B's: the initiator refuses. */
static void test_tcp_two_processes_reject_identity_mismatch(void **state) {
  child ch;
  child_report rep;
  uv_loop_t loop;
  ep e;

  (void)state;
  child_start(&ch, child_echo_server, NULL);
  uv_loop_init(&loop);
  ep_init(&e, &loop, &id_a, NULL, NULL);
  ep_connect(&e, ch.port, &id_b, &id_c.id);
  run_until(&loop, cond_closed, &e);
  assert_int_equal(e.established, 0);
  assert_int_equal(e.close_reason, DSB_ERR_IDENTITY_MISMATCH);
  ep_free(&e);
  uv_loop_close(&loop);
  child_finish(&ch, &rep);
  assert_int_equal(rep.established, 0);
  assert_int_equal(rep.rejects, 1); /* the peer left mid-handshake */
  assert_int_equal(rep.last_reject, DSB_ERR_SESSION_CLOSED);
}

/* ---- one process, two transports
 * ---------------------------------------------- */

typedef struct duo {
  uv_loop_t loop;
  ep srv; /* B */
  ep cli; /* A */
  uint16_t port;
} duo;

static void duo_init(duo *d, const dsb_tcp_settings *srv_settings,
                     dsb_trust *srv_trust) {
  memset(d, 0, sizeof(*d));
  uv_loop_init(&d->loop);
  ep_init(&d->srv, &d->loop, &id_b, srv_settings, srv_trust);
  ep_init(&d->cli, &d->loop, &id_a, NULL, NULL);
  d->port = ep_listen(&d->srv);
}

static void duo_free(duo *d) {
  ep_del(&d->cli);
  ep_del(&d->srv);
  uv_run(&d->loop, UV_RUN_DEFAULT);
  ep_release(&d->cli);
  ep_release(&d->srv);
  assert_int_equal(uv_loop_close(&d->loop), 0);
}

/* Zero-copy send: plaintext written into the reservation, sealed in place. */
static void test_tcp_reserve_commit(void **state) {
  duo d;
  uint8_t *buf;
  size_t len;
  wait_bytes w;
  int k;

  (void)state;
  duo_init(&d, NULL, NULL);
  ep_connect(&d.cli, d.port, &id_b, &id_b.id);
  run_until(&d.loop, cond_established, &d.cli);
  run_until(&d.loop, cond_established, &d.srv);
  for (k = 0; k < 50; ++k) {
    assert_int_equal(dsb_tcp_conn_reserve(d.cli.conn, 100, &buf, &len), 0);
    assert_true(len >= 100 && len <= DSB_SESSION_PLAINTEXT_MAX);
    assert_int_equal(dsb_tcp_conn_reserve(d.cli.conn, 1, &buf, &len),
                     DSB_ERR_INVALID_STATE);
    fill(buf, 100, (uint32_t)k);
    assert_int_equal(dsb_tcp_conn_commit(d.cli.conn, 100), 0);
  }
  /* An abandoned reservation sends nothing. */
  assert_int_equal(dsb_tcp_conn_reserve(d.cli.conn, 0, &buf, &len), 0);
  assert_int_equal(dsb_tcp_conn_commit(d.cli.conn, 0), 0);
  assert_int_equal(dsb_tcp_conn_commit(d.cli.conn, 0), DSB_ERR_INVALID_STATE);
  w.e = &d.srv;
  w.n = 5000;
  run_until(&d.loop, cond_bytes, &w);
  assert_int_equal(d.srv.records, 50);
  for (k = 0; k < 50; ++k) {
    uint8_t want[100];
    fill(want, sizeof(want), (uint32_t)k);
    assert_memory_equal(d.srv.log + 100 * k, want, sizeof(want));
  }
  duo_free(&d);
}

/* The receiver stops reading: the sender's queue fills to its bound, it
 * gets WOULD_BLOCK, and on_writable once the receiver reads again. */
static void test_tcp_backpressure_bounded_queue(void **state) {
  duo d;
  static uint8_t buf[DSB_SESSION_PLAINTEXT_MAX];
  dsb_tcp_settings cs;
  size_t sent = 0, max_queued = 0;
  wait_bytes w;
  int rv;

  (void)state;
  memset(&d, 0, sizeof(d));
  uv_loop_init(&d.loop);
  ep_init(&d.srv, &d.loop, &id_b, NULL, NULL);
  dsb_tcp_settings_default(&cs);
  cs.max_write_queue = 256 * 1024;
  ep_init(&d.cli, &d.loop, &id_a, &cs, NULL);
  d.port = ep_listen(&d.srv);
  ep_connect(&d.cli, d.port, &id_b, &id_b.id);
  run_until(&d.loop, cond_established, &d.cli);
  run_until(&d.loop, cond_established, &d.srv);
  assert_int_equal(dsb_tcp_conn_pause_read(d.srv.conn), 0);
  for (;;) {
    fill(buf, sizeof(buf), (uint32_t)(sent / sizeof(buf)));
    rv = dsb_tcp_conn_send(d.cli.conn, buf, sizeof(buf));
    if (rv == DSB_ERR_WOULD_BLOCK) {
      /* Kernel buffers may still take some: let the loop write, and stop
       * when nothing moves any more. */
      size_t before = dsb_tcp_conn_queued(d.cli.conn);
      uv_run(&d.loop, UV_RUN_NOWAIT);
      uv_run(&d.loop, UV_RUN_NOWAIT);
      if (dsb_tcp_conn_queued(d.cli.conn) == before) {
        break;
      }
      continue;
    }
    assert_int_equal(rv, 0);
    sent += sizeof(buf);
    if (dsb_tcp_conn_queued(d.cli.conn) > max_queued) {
      max_queued = dsb_tcp_conn_queued(d.cli.conn);
    }
    assert_true(sent < (64u << 20)); /* the bound must bite long before */
  }
  /* Stalled with a full queue, which never exceeded the limit plus one
   * record. */
  assert_true(dsb_tcp_conn_queued(d.cli.conn) >= cs.max_write_queue);
  assert_true(max_queued <= cs.max_write_queue + DSB_SESSION_RECORD_MAX);
  assert_true(sent >= cs.max_write_queue);
  assert_int_equal(dsb_tcp_conn_resume_read(d.srv.conn), 0);
  {
    wait_writable ww = {&d.cli, d.cli.writable};
    run_until(&d.loop, cond_writable, &ww);
    assert_int_equal(d.cli.writable, ww.before + 1);
  }
  assert_true(dsb_tcp_conn_queued(d.cli.conn) <= cs.max_write_queue / 2);
  w.e = &d.srv;
  w.n = sent;
  run_until(&d.loop, cond_bytes, &w);
  assert_int_equal(d.srv.loglen, sent);
  duo_free(&d);
}

/* A graceful close flushes what was queued; the receiver sees a clean
 * close after the last record. */
static void test_tcp_graceful_close_flushes(void **state) {
  duo d;
  static uint8_t buf[30000];
  int k;

  (void)state;
  duo_init(&d, NULL, NULL);
  ep_connect(&d.cli, d.port, &id_b, &id_b.id);
  run_until(&d.loop, cond_established, &d.cli);
  for (k = 0; k < 20; ++k) {
    fill(buf, sizeof(buf), (uint32_t)k);
    assert_int_equal(dsb_tcp_conn_send(d.cli.conn, buf, sizeof(buf)), 0);
  }
  dsb_tcp_conn_close(d.cli.conn, 0);
  assert_int_equal(dsb_tcp_conn_send(d.cli.conn, buf, 1), DSB_ERR_CLOSED);
  run_until(&d.loop, cond_closed, &d.srv);
  assert_int_equal(d.srv.records, 20);
  assert_int_equal(d.srv.close_reason, 0);
  assert_int_equal(d.cli.closed, 1);
  assert_int_equal(d.cli.close_reason, DSB_ERR_CLOSED);
  duo_free(&d);
}

static void test_tcp_reject_blocked_device(void **state) {
  duo d;
  dsb_trust *trust;
  dsb_tcp_stats st;

  (void)state;
  assert_int_equal(dsb_trust_new(&trust, NULL, 0), 0);
  assert_int_equal(dsb_trust_set(trust, &id_a.id, DSB_TRUST_BLOCKED), 0);
  duo_init(&d, NULL, trust);
  ep_connect(&d.cli, d.port, &id_b, &id_b.id);
  run_until(&d.loop, cond_rejected, &d.srv);
  assert_int_equal(d.srv.last_reject, DSB_ERR_TRUST_BLOCKED);
  assert_int_equal(d.srv.established, 0);
  /* XK: the initiator finished its part; it learns by the close. */
  run_until(&d.loop, cond_closed, &d.cli);
  dsb_tcp_get_stats(d.srv.tcp, &st);
  assert_int_equal(st.handshakes_failed, 1);
  assert_int_equal(st.handshakes_ok, 0);
  assert_int_equal(st.half_open, 0);
  duo_free(&d);
  dsb_trust_del(trust);
}

static void test_tcp_reject_refused_by_callback(void **state) {
  duo d;

  (void)state;
  duo_init(&d, NULL, NULL);
  d.srv.refuse_established = 1;
  ep_connect(&d.cli, d.port, &id_b, &id_b.id);
  run_until(&d.loop, cond_closed, &d.srv);
  assert_int_equal(d.srv.close_reason, DSB_ERR_CALLBACK_FAILURE);
  run_until(&d.loop, cond_closed, &d.cli);
  duo_free(&d);
}

/* ---- raw clients for the admission tests ------------------------------------
 */

typedef struct raw {
  uv_tcp_t h;
  uv_connect_t req;
  int connected;
  int eof;
} raw;

static void raw_alloc(uv_handle_t *h, size_t n, uv_buf_t *buf) {
  static char b[256];
  (void)h;
  (void)n;
  *buf = uv_buf_init(b, sizeof(b));
}

static void raw_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  raw *r = s->data;
  (void)buf;
  if (n < 0) {
    r->eof = 1;
    uv_read_stop(s);
  }
}

static void raw_connected(uv_connect_t *req, int status) {
  raw *r = req->data;
  r->connected = status == 0 ? 1 : -1;
  if (status == 0) {
    uv_read_start((uv_stream_t *)&r->h, raw_alloc, raw_read);
  }
}

static void raw_connect(uv_loop_t *loop, raw *r, uint16_t port) {
  struct sockaddr_in sin;

  memset(r, 0, sizeof(*r));
  loopback(&sin, port);
  uv_tcp_init(loop, &r->h);
  r->h.data = r;
  r->req.data = r;
  assert_int_equal(uv_tcp_connect(&r->req, &r->h, (const struct sockaddr *)&sin,
                                  raw_connected),
                   0);
}

static int cond_raw_eof(void *arg) {
  return ((raw *)arg)->eof;
}

typedef struct raws {
  ep *srv;
  int want;
} raws;

static int cond_rejects(void *arg) {
  raws *r = arg;
  return r->srv->rejects >= r->want;
}

/* A peer that connects and says nothing is dropped at the deadline. */
static void test_tcp_reject_handshake_timeout(void **state) {
  duo d;
  dsb_tcp_settings ss;
  raw r;
  uint64_t t0;

  (void)state;
  dsb_tcp_settings_default(&ss);
  ss.session.handshake_timeout = 300 * DSB_NS_PER_MS;
  duo_init(&d, &ss, NULL);
  t0 = uv_hrtime();
  raw_connect(&d.loop, &r, d.port);
  run_until(&d.loop, cond_raw_eof, &r);
  assert_true(uv_hrtime() - t0 >= 250 * DSB_NS_PER_MS);
  run_until(&d.loop, cond_rejected, &d.srv);
  assert_int_equal(d.srv.last_reject, DSB_ERR_SESSION_HANDSHAKE_TIMEOUT);
  uv_close((uv_handle_t *)&r.h, NULL);
  duo_free(&d);
}

static void test_tcp_reject_half_open_limit(void **state) {
  duo d;
  dsb_tcp_settings ss;
  raw r[3];
  raws want;
  dsb_tcp_stats st;
  int k;

  (void)state;
  dsb_tcp_settings_default(&ss);
  ss.limits.max_half_open = 2;
  ss.limits.rate_per_s = 1000;
  ss.limits.burst = 100;
  duo_init(&d, &ss, NULL);
  for (k = 0; k < 3; ++k) {
    raw_connect(&d.loop, &r[k], d.port);
  }
  want.srv = &d.srv;
  want.want = 1;
  run_until(&d.loop, cond_rejects, &want);
  assert_int_equal(d.srv.last_reject, DSB_ERR_SESSION_HALF_OPEN_LIMIT);
  dsb_tcp_get_stats(d.srv.tcp, &st);
  assert_int_equal(st.half_open, 2);
  assert_int_equal(st.refused, 1);
  assert_int_equal(st.accepted, 2);
  /* A completed handshake frees its slot: a real client gets in. */
  for (k = 0; k < 3; ++k) {
    uv_close((uv_handle_t *)&r[k].h, NULL);
  }
  want.want = 3; /* the two silent ones fail as they close */
  run_until(&d.loop, cond_rejects, &want);
  ep_connect(&d.cli, d.port, &id_b, &id_b.id);
  run_until(&d.loop, cond_established, &d.srv);
  duo_free(&d);
}

static void test_tcp_reject_rate_limit(void **state) {
  duo d;
  dsb_tcp_settings ss;
  raw r[3];
  raws want;
  int k;

  (void)state;
  dsb_tcp_settings_default(&ss);
  ss.limits.rate_per_s = 1; /* one per second, bursts of two */
  ss.limits.burst = 2;
  duo_init(&d, &ss, NULL);
  for (k = 0; k < 3; ++k) {
    raw_connect(&d.loop, &r[k], d.port);
  }
  want.srv = &d.srv;
  want.want = 1;
  run_until(&d.loop, cond_rejects, &want);
  assert_int_equal(d.srv.last_reject, DSB_ERR_SESSION_RATE_LIMITED);
  for (k = 0; k < 3; ++k) {
    uv_close((uv_handle_t *)&r[k].h, NULL);
  }
  duo_free(&d);
}

/* Sockets created elsewhere (as netstackd does) run sessions too. */
static void test_tcp_adopt_and_listen_fd(void **state) {
  duo d;
  struct sockaddr_in sin;
  socklen_t slen = sizeof(sin);
  int lfd, cfd, afd;
  dsb_tcp_conn *ci, *cr;
  uint16_t port;
  wait_bytes w;
  ep s2;

  (void)state;
  memset(&d, 0, sizeof(d));
  uv_loop_init(&d.loop);
  ep_init(&d.srv, &d.loop, &id_b, NULL, NULL);
  ep_init(&d.cli, &d.loop, &id_a, NULL, NULL);
  /* A connected pair made with plain sockets. */
  lfd = socket(AF_INET, SOCK_STREAM, 0);
  loopback(&sin, 0);
  assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
  assert_int_equal(listen(lfd, 1), 0);
  assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &slen), 0);
  cfd = socket(AF_INET, SOCK_STREAM, 0);
  assert_int_equal(connect(cfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
  afd = accept(lfd, NULL, NULL);
  assert_true(afd >= 0);
  assert_int_equal(dsb_tcp_adopt(d.cli.tcp, &ci, cfd, DSB_SESSION_RESPONDER,
                                 id_b.proof.static_pk, &id_b.id, NULL),
                   DSB_ERR_INVALID_ARGUMENT);
  assert_int_equal(dsb_tcp_adopt(d.srv.tcp, &cr, afd, DSB_SESSION_RESPONDER,
                                 NULL, NULL, NULL),
                   0);
  assert_int_equal(dsb_tcp_adopt(d.cli.tcp, &ci, cfd, DSB_SESSION_INITIATOR,
                                 id_b.proof.static_pk, &id_b.id, NULL),
                   0);
  run_until(&d.loop, cond_established, &d.cli);
  run_until(&d.loop, cond_established, &d.srv);
  assert_ptr_equal(d.cli.conn, ci);
  assert_int_equal(dsb_tcp_conn_send(ci, (const uint8_t *)"adopted", 7), 0);
  w.e = &d.srv;
  w.n = 7;
  run_until(&d.loop, cond_bytes, &w);
  assert_memory_equal(d.srv.log, "adopted", 7);

  /* A listening socket handed over: the transport accepts on it. */
  port = ntohs(sin.sin_port);
  ep_init(&s2, &d.loop, &id_b, NULL, NULL);
  assert_int_equal(dsb_tcp_listen_fd(s2.tcp, lfd), 0);
  ep_connect(&d.cli, port, &id_b, &id_b.id);
  run_until(&d.loop, cond_established, &s2);
  ep_del(&s2);
  duo_free(&d);
  ep_release(&s2);
}

/* Deleting a transport with live connections reports each one closed. */
static void test_tcp_del_with_open_conns(void **state) {
  duo d;

  (void)state;
  duo_init(&d, NULL, NULL);
  ep_connect(&d.cli, d.port, &id_b, &id_b.id);
  run_until(&d.loop, cond_established, &d.srv);
  run_until(&d.loop, cond_established, &d.cli);
  dsb_tcp_del(d.srv.tcp);
  d.srv.tcp = NULL;
  assert_int_equal(d.srv.closed, 1);
  assert_int_equal(d.srv.close_reason, DSB_ERR_CLOSED);
  run_until(&d.loop, cond_closed, &d.cli);
  assert_int_equal(d.cli.close_reason, 0); /* peer closed between records */
  duo_free(&d);
}

static void test_tcp_connect_refused(void **state) {
  duo d;
  uint16_t port;

  (void)state;
  duo_init(&d, NULL, NULL);
  port = d.port;
  /* Nobody listens there once the server is gone. */
  ep_del(&d.srv);
  uv_run(&d.loop, UV_RUN_NOWAIT);
  ep_connect(&d.cli, port, &id_b, &id_b.id);
  run_until(&d.loop, cond_closed, &d.cli);
  assert_int_equal(d.cli.close_reason, DSB_ERR_IO);
  duo_free(&d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tcp_two_processes_round_trip),
      cmocka_unit_test(test_tcp_two_processes_one_byte_pieces),
      cmocka_unit_test(test_tcp_two_processes_reject_identity_mismatch),
      cmocka_unit_test(test_tcp_reserve_commit),
      cmocka_unit_test(test_tcp_backpressure_bounded_queue),
      cmocka_unit_test(test_tcp_graceful_close_flushes),
      cmocka_unit_test(test_tcp_reject_blocked_device),
      cmocka_unit_test(test_tcp_reject_refused_by_callback),
      cmocka_unit_test(test_tcp_reject_handshake_timeout),
      cmocka_unit_test(test_tcp_reject_half_open_limit),
      cmocka_unit_test(test_tcp_reject_rate_limit),
      cmocka_unit_test(test_tcp_adopt_and_listen_fd),
      cmocka_unit_test(test_tcp_del_with_open_conns),
      cmocka_unit_test(test_tcp_connect_refused),
  };
  signal(SIGPIPE, SIG_IGN);
  return cmocka_run_group_tests(tests, setup_ids, NULL);
}
