/* test_disc_connect.c - discovery-driven connect (dsb/disc_connect.h).
 *
 * In-process part: the resolver takes address, session port, static key and
 * device id from the verified peer-table entry only, and a connect through
 * it over loopback TCP either proves exactly that device or fails hard.
 *
 * Multi-process part: tools/disc-probe processes discover each other over
 * loopback only (IPv4 multicast on lo: IP_MULTICAST_IF 127.0.0.1, TTL 0; or
 * the unicast list to 127.0.0.1) and then establish a session by device id.
 * Every wait reads the probes' output lines, or runs the loop, with a
 * deadline; nothing sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <uv.h>

#include "dsb/crypto.h"
#include "dsb/disc.h"
#include "dsb/disc_connect.h"
#include "dsb/err.h"
#include "dsb/identity.h"
#include "dsb/keystore.h"
#include "dsb/tcp.h"
#include "disc_probe_proc.h"

/* ---- helpers: identities and announcements ------------------------------- */

/* Deterministic identities: seed bytes from a counter (tests only). */
typedef struct seq_rng {
  uint8_t next;
} seq_rng;

static int seq_rng_fill(void *ctx, uint8_t *buf, size_t len) {
  seq_rng *r = ctx;
  for (size_t i = 0; i < len; ++i) {
    buf[i] = r->next++;
  }
  return 0;
}

static void make_identity(dsb_identity *id, uint8_t seed) {
  seq_rng r = {seed};
  dsb_rng rng = {seq_rng_fill, &r};
  assert_int_equal(dsb_identity_generate(id, &rng), 0);
}

static struct sockaddr_in loopback4(uint16_t port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

/* Encode a signed announcement of |id| with |port| and feed it to |tab| as
 * if it came from |src|. */
static int feed(dsb_disc_peers *tab, const dsb_identity *id, uint16_t port,
                uint64_t seq, const void *src, size_t srclen) {
  uint8_t buf[DSB_DISC_MAX_DATAGRAM];
  dsb_disc_announce ann;
  dsb_disc_announce_init(&ann);
  ann.session_port = port;
  ann.seq = seq;
  ann.ttl_s = 30;
  long n = dsb_disc_announce_encode(buf, sizeof(buf), &ann, id);
  assert_true(n > 0);
  return dsb_disc_peers_input(tab, buf, (size_t)n, src, srclen, DSB_NS_PER_S);
}

/* |attacker| keeps its own (valid) device key but certifies |victim|'s
 * Noise static public key: the certificate verifies, the announcement is
 * accepted, and only the handshake can tell. */
static void certify_foreign_static(dsb_identity *attacker,
                                   const dsb_identity *victim) {
  memcpy(attacker->proof.static_pk, victim->proof.static_pk,
         DSB_X25519_KEY_LEN);
  assert_int_equal(dsb_cert_sign(attacker->proof.cert, attacker->ed_seed,
                                 attacker->proof.ed_pk,
                                 attacker->proof.static_pk),
                   0);
  dsb_device_id check;
  assert_int_equal(dsb_identity_proof_verify(&attacker->proof, &check), 0);
  assert_true(dsb_device_id_eq(&check, &attacker->id));
}

/* ---- in-process: resolver -------------------------------------------------
 */

static void test_resolve_uses_verified_entry(void **state) {
  (void)state;
  dsb_disc_peers *tab;
  dsb_identity a;
  dsb_disc_target t;
  make_identity(&a, 1);
  assert_int_equal(dsb_disc_peers_new(&tab, NULL, NULL, NULL, NULL), 0);
  struct sockaddr_in src = loopback4(47083);
  assert_int_equal(feed(tab, &a, 4242, 1, &src, sizeof(src)), 0);

  memset(&t, 0xa5, sizeof(t));
  assert_int_equal(dsb_disc_connect_resolve(&t, tab, &a.id), 0);
  assert_true(dsb_device_id_eq(&t.id, &a.id));
  assert_memory_equal(t.static_pk, a.proof.static_pk, DSB_X25519_KEY_LEN);
  assert_int_equal(t.addrlen, sizeof(struct sockaddr_in));
  const struct sockaddr_in *sin = (const struct sockaddr_in *)&t.addr;
  assert_int_equal(sin->sin_family, AF_INET);
  assert_int_equal(ntohs(sin->sin_port), 4242); /* session, not discovery */
  assert_int_equal(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);

  /* A re-announcement from another address with a new port moves it. */
  struct sockaddr_in6 src6;
  memset(&src6, 0, sizeof(src6));
  src6.sin6_family = AF_INET6;
  src6.sin6_port = htons(47083);
  src6.sin6_addr.s6_addr[0] = 0xfe;
  src6.sin6_addr.s6_addr[1] = 0x80;
  src6.sin6_addr.s6_addr[15] = 7;
  src6.sin6_scope_id = 3;
  assert_int_equal(feed(tab, &a, 4343, 2, &src6, sizeof(src6)), 0);
  assert_int_equal(dsb_disc_connect_resolve(&t, tab, &a.id), 0);
  const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&t.addr;
  assert_int_equal(t.addrlen, sizeof(struct sockaddr_in6));
  assert_int_equal(s6->sin6_family, AF_INET6);
  assert_int_equal(ntohs(s6->sin6_port), 4343);
  assert_int_equal(s6->sin6_scope_id, 3); /* the arrival interface */
  assert_memory_equal(&s6->sin6_addr, &src6.sin6_addr, 16);

  dsb_disc_peers_del(tab);
  dsb_identity_wipe(&a);
}

static void test_reject_unknown_device(void **state) {
  (void)state;
  dsb_disc_peers *tab;
  dsb_identity a, b;
  dsb_disc_target t;
  make_identity(&a, 1);
  make_identity(&b, 2);
  assert_int_equal(dsb_disc_peers_new(&tab, NULL, NULL, NULL, NULL), 0);
  assert_int_equal(dsb_disc_connect_resolve(&t, tab, &a.id), DSB_ERR_NOT_FOUND);
  struct sockaddr_in src = loopback4(47083);
  assert_int_equal(feed(tab, &a, 4242, 1, &src, sizeof(src)), 0);
  assert_int_equal(dsb_disc_connect_resolve(&t, tab, &b.id), DSB_ERR_NOT_FOUND);

  /* Also through dsb_disc_connect: nothing is dialled. */
  uv_loop_t loop;
  dsb_tcp *tcp;
  dsb_tcp_conn *conn = NULL;
  static const dsb_tcp_callbacks cbs = {0};
  dsb_tcp_config cfg = {.loop = &loop, .local = &a, .callbacks = &cbs};
  assert_int_equal(uv_loop_init(&loop), 0);
  assert_int_equal(dsb_tcp_new(&tcp, &cfg), 0);
  assert_int_equal(dsb_disc_connect(tcp, &conn, tab, &b.id, NULL),
                   DSB_ERR_NOT_FOUND);
  assert_null(conn);
  dsb_tcp_stats st;
  dsb_tcp_get_stats(tcp, &st);
  assert_int_equal(st.conns, 0);
  dsb_tcp_del(tcp);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(uv_loop_close(&loop), 0);

  /* Gone after a goodbye: unknown again. */
  assert_int_equal(dsb_disc_peers_remove(tab, &a.id, DSB_NS_PER_S), 0);
  assert_int_equal(dsb_disc_connect_resolve(&t, tab, &a.id), DSB_ERR_NOT_FOUND);
  dsb_disc_peers_del(tab);
  dsb_identity_wipe(&a);
  dsb_identity_wipe(&b);
}

static void test_reject_no_session_port(void **state) {
  (void)state;
  dsb_disc_peers *tab;
  dsb_identity a;
  dsb_disc_target t;
  make_identity(&a, 1);
  assert_int_equal(dsb_disc_peers_new(&tab, NULL, NULL, NULL, NULL), 0);
  struct sockaddr_in src = loopback4(47083);
  assert_int_equal(feed(tab, &a, 0, 1, &src, sizeof(src)), 0);
  assert_int_equal(dsb_disc_connect_resolve(&t, tab, &a.id),
                   DSB_ERR_DISC_NO_ENDPOINT);
  dsb_disc_peers_del(tab);
  dsb_identity_wipe(&a);
}

static void test_reject_unusable_address(void **state) {
  (void)state;
  dsb_disc_peers *tab;
  dsb_identity a;
  dsb_disc_target t;
  make_identity(&a, 1);
  assert_int_equal(dsb_disc_peers_new(&tab, NULL, NULL, NULL, NULL), 0);
  /* Neither IPv4 nor IPv6 (AF_UNIX), then IPv6 cut short. */
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  ss.ss_family = AF_UNIX;
  assert_int_equal(feed(tab, &a, 4242, 1, &ss, 16), 0);
  assert_int_equal(dsb_disc_connect_resolve(&t, tab, &a.id),
                   DSB_ERR_DISC_NO_ENDPOINT);
  ss.ss_family = AF_INET6;
  assert_int_equal(feed(tab, &a, 4242, 2, &ss, sizeof(struct sockaddr_in)), 0);
  assert_int_equal(dsb_disc_connect_resolve(&t, tab, &a.id),
                   DSB_ERR_DISC_NO_ENDPOINT);
  dsb_disc_peers_del(tab);
  dsb_identity_wipe(&a);
}

static void test_reject_null_arguments(void **state) {
  (void)state;
  dsb_disc_peers *tab;
  dsb_identity a;
  dsb_disc_target t;
  dsb_tcp_conn *conn = NULL;
  make_identity(&a, 1);
  assert_int_equal(dsb_disc_peers_new(&tab, NULL, NULL, NULL, NULL), 0);
  assert_int_equal(dsb_disc_connect_resolve(NULL, tab, &a.id),
                   DSB_ERR_INVALID_ARGUMENT);
  assert_int_equal(dsb_disc_connect_resolve(&t, NULL, &a.id),
                   DSB_ERR_INVALID_ARGUMENT);
  assert_int_equal(dsb_disc_connect_resolve(&t, tab, NULL),
                   DSB_ERR_INVALID_ARGUMENT);
  assert_int_equal(dsb_disc_connect(NULL, &conn, tab, &a.id, NULL),
                   DSB_ERR_INVALID_ARGUMENT);
  dsb_disc_peers_del(tab);
  dsb_identity_wipe(&a);
}

/* ---- in-process: connect over loopback TCP --------------------------------
 */

typedef struct conn_watch {
  int established;
  dsb_device_id peer;
  int closed;
  int reason;
  int rejected; /* inbound handshake failures seen by the listener */
  int reject_reason;
} conn_watch;

static int watch_established(dsb_tcp_conn *conn, const dsb_device_id *peer,
                             void *user_data) {
  conn_watch *w = user_data;
  (void)conn;
  w->established++;
  w->peer = *peer;
  return 0;
}

static void watch_closed(dsb_tcp_conn *conn, int reason, void *user_data) {
  conn_watch *w = user_data;
  (void)conn;
  w->closed++;
  w->reason = reason;
}

static void watch_reject(dsb_tcp *tcp, const struct sockaddr *addr, int reason,
                         void *user_data) {
  conn_watch *w = user_data;
  (void)tcp;
  (void)addr;
  w->rejected++;
  w->reject_reason = reason;
}

static const dsb_tcp_callbacks watch_cbs = {
    .on_established = watch_established,
    .on_closed = watch_closed,
    .on_reject = watch_reject,
};

static void on_guard(uv_timer_t *t) {
  *(int *)t->data = 1;
}

/* Run |loop| until *flag is non-zero or WAIT_MS pass. 0 if flag was set. */
static int run_until(uv_loop_t *loop, const int *flag) {
  uv_timer_t guard;
  int expired = 0;
  uv_timer_init(loop, &guard);
  guard.data = &expired;
  uv_timer_start(&guard, on_guard, WAIT_MS, 0);
  while (!*flag && !expired) {
    uv_run(loop, UV_RUN_ONCE);
  }
  uv_close((uv_handle_t *)&guard, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  return *flag ? 0 : -1;
}

typedef struct pair {
  uv_loop_t loop;
  dsb_identity a, b;
  dsb_tcp *ta, *tb; /* A dials, B listens */
  conn_watch wa, wb;
  uint16_t bport;
  dsb_disc_peers *tab; /* A's peer table */
} pair;

static void pair_setup(pair *p) {
  memset(p, 0, sizeof(*p));
  make_identity(&p->a, 1);
  make_identity(&p->b, 2);
  assert_int_equal(uv_loop_init(&p->loop), 0);
  dsb_tcp_config ca = {.loop = &p->loop,
                       .local = &p->a,
                       .callbacks = &watch_cbs,
                       .user_data = &p->wa};
  dsb_tcp_config cb = {.loop = &p->loop,
                       .local = &p->b,
                       .callbacks = &watch_cbs,
                       .user_data = &p->wb};
  assert_int_equal(dsb_tcp_new(&p->ta, &ca), 0);
  assert_int_equal(dsb_tcp_new(&p->tb, &cb), 0);
  struct sockaddr_in any = loopback4(0);
  assert_int_equal(dsb_tcp_listen(p->tb, (struct sockaddr *)&any, 16), 0);
  struct sockaddr_storage ss;
  assert_int_equal(dsb_tcp_listen_addr(p->tb, &ss), 0);
  p->bport = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  assert_int_equal(dsb_disc_peers_new(&p->tab, NULL, NULL, NULL, NULL), 0);
}

static void pair_teardown(pair *p) {
  dsb_tcp_del(p->ta);
  dsb_tcp_del(p->tb);
  assert_int_equal(uv_run(&p->loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(uv_loop_close(&p->loop), 0);
  dsb_disc_peers_del(p->tab);
  dsb_identity_wipe(&p->a);
  dsb_identity_wipe(&p->b);
}

static void test_connect_in_process(void **state) {
  (void)state;
  pair p;
  pair_setup(&p);
  /* B's announcement arrives from 127.0.0.1 (discovery port irrelevant). */
  struct sockaddr_in src = loopback4(40000);
  assert_int_equal(feed(p.tab, &p.b, p.bport, 1, &src, sizeof(src)), 0);
  dsb_tcp_conn *conn = NULL;
  assert_int_equal(dsb_disc_connect(p.ta, &conn, p.tab, &p.b.id, NULL), 0);
  assert_non_null(conn);
  assert_int_equal(run_until(&p.loop, &p.wb.established), 0);
  assert_int_equal(run_until(&p.loop, &p.wa.established), 0);
  assert_true(dsb_device_id_eq(&p.wa.peer, &p.b.id));
  assert_true(dsb_device_id_eq(&p.wb.peer, &p.a.id));
  assert_int_equal(p.wa.closed, 0);
  pair_teardown(&p);
}

/* The entry names device X (valid identity, announced by X itself) but
 * points at B's listener with X's own static key: B cannot complete XK
 * message 1, so the handshake fails and no session exists anywhere. */
static void test_reject_endpoint_of_other_device(void **state) {
  (void)state;
  pair p;
  dsb_identity x;
  pair_setup(&p);
  make_identity(&x, 3);
  struct sockaddr_in src = loopback4(40000);
  assert_int_equal(feed(p.tab, &x, p.bport, 1, &src, sizeof(src)), 0);
  dsb_tcp_conn *conn = NULL;
  assert_int_equal(dsb_disc_connect(p.ta, &conn, p.tab, &x.id, NULL), 0);
  assert_int_equal(run_until(&p.loop, &p.wa.closed), 0);
  assert_int_equal(p.wa.established, 0);
  assert_int_equal(p.wb.established, 0);
  /* B hung up after message 1 did not authenticate under its key. */
  assert_int_equal(p.wa.reason, DSB_ERR_SESSION_CLOSED);
  assert_int_equal(run_until(&p.loop, &p.wb.rejected), 0);
  assert_int_equal(p.wb.reject_reason, DSB_ERR_CRYPTO_AUTH);
  dsb_tcp_stats st;
  dsb_tcp_get_stats(p.tb, &st);
  assert_int_equal(st.handshakes_ok, 0);
  dsb_identity_wipe(&x);
  pair_teardown(&p);
}

/* X certifies B's static public key under X's own device key: discovery
 * accepts it, Noise completes with B (the key's real holder), and B's proof
 * names B, not X: identity mismatch, hard reject. */
static void test_reject_identity_mismatch_in_process(void **state) {
  (void)state;
  pair p;
  dsb_identity x;
  pair_setup(&p);
  make_identity(&x, 3);
  certify_foreign_static(&x, &p.b);
  struct sockaddr_in src = loopback4(40000);
  assert_int_equal(feed(p.tab, &x, p.bport, 1, &src, sizeof(src)), 0);
  dsb_tcp_conn *conn = NULL;
  assert_int_equal(dsb_disc_connect(p.ta, &conn, p.tab, &x.id, NULL), 0);
  assert_int_equal(run_until(&p.loop, &p.wa.closed), 0);
  assert_int_equal(p.wa.reason, DSB_ERR_IDENTITY_MISMATCH);
  assert_int_equal(p.wa.established, 0);
  assert_int_equal(run_until(&p.loop, &p.wb.rejected), 0);
  assert_int_equal(p.wb.established, 0);
  dsb_identity_wipe(&x);
  pair_teardown(&p);
}

/* ---- multi-process: tools/disc-probe ------------------------------------- */

/* Probe processes: tests/support/disc_probe_proc.h. */

/* Ask |p| for its stats and check its session count. */
static void expect_sessions(proc *p, unsigned n) {
  char stats[256], want[32];
  proc_send(p, "stats\n");
  assert_int_equal(proc_wait(p, "stats ", stats, sizeof(stats), WAIT_MS), 0);
  snprintf(want, sizeof(want), " sessions=%u", n);
  assert_non_null(strstr(stats, want));
}

/* A and B see each other, A connects to B by id, a record goes across. */
static void connect_and_talk(proc *a, proc *b) {
  char want[160];
  snprintf(want, sizeof(want), "up %s %u ", b->id, b->sport);
  assert_int_equal(proc_wait(a, want, NULL, 0, WAIT_MS), 0);
  snprintf(want, sizeof(want), "up %s %u ", a->id, a->sport);
  assert_int_equal(proc_wait(b, want, NULL, 0, WAIT_MS), 0);

  snprintf(want, sizeof(want), "connect %s\n", b->id);
  proc_send(a, want);
  snprintf(want, sizeof(want), "SESSION %s out", b->id);
  assert_int_equal(proc_wait(a, want, NULL, 0, WAIT_MS), 0);
  snprintf(want, sizeof(want), "SESSION %s in", a->id);
  assert_int_equal(proc_wait(b, want, NULL, 0, WAIT_MS), 0);

  snprintf(want, sizeof(want), "send %s hello over discovery\n", b->id);
  proc_send(a, want);
  snprintf(want, sizeof(want), "record %s hello over discovery", a->id);
  assert_int_equal(proc_wait(b, want, NULL, 0, WAIT_MS), 0);
  expect_sessions(a, 1);
  expect_sessions(b, 1);
}

static void test_connect_multicast_loopback(void **state) {
  (void)state;
  char da[64], db[64], port[16];
  proc a, b;
  make_dir(da, sizeof(da));
  make_dir(db, sizeof(db));
  snprintf(port, sizeof(port), "%u", free_port());
  const char *args[] = {"--interface", "lo",          "--port", port,
                        "--listen",    "127.0.0.1:0", NULL};
  proc_start(&a, da, args);
  proc_start(&b, db, args);
  assert_int_equal(a.port, b.port);
  assert_true(a.sport > 0 && b.sport > 0 && a.sport != b.sport);
  connect_and_talk(&a, &b);
  proc_stop(&a);
  proc_stop(&b);
  remove_dir(da);
  remove_dir(db);
}

static void test_connect_unicast_list(void **state) {
  (void)state;
  char da[64], db[64], pa[16], pb[16], peer_a[32], peer_b[32];
  proc a, b;
  make_dir(da, sizeof(da));
  make_dir(db, sizeof(db));
  unsigned porta = free_port(), portb = free_port();
  while (portb == porta) {
    portb = free_port();
  }
  snprintf(pa, sizeof(pa), "%u", porta);
  snprintf(pb, sizeof(pb), "%u", portb);
  snprintf(peer_a, sizeof(peer_a), "127.0.0.1:%u", porta);
  snprintf(peer_b, sizeof(peer_b), "127.0.0.1:%u", portb);
  const char *aa[] = {
      "--no-multicast", "--interface", "lo",       "--port",      pa,
      "--peer",         peer_b,        "--listen", "127.0.0.1:0", NULL};
  const char *ba[] = {
      "--no-multicast", "--interface", "lo",       "--port",      pb,
      "--peer",         peer_a,        "--listen", "127.0.0.1:0", NULL};
  proc_start(&a, da, aa);
  proc_start(&b, db, ba);
  connect_and_talk(&a, &b);
  proc_stop(&b);
  char want[128];
  snprintf(want, sizeof(want), "closed %s ", b.id);
  assert_int_equal(proc_wait(&a, want, NULL, 0, WAIT_MS), 0);
  proc_stop(&a);
  remove_dir(da);
  remove_dir(db);
}

/* A third process C announces with its own valid identity but with B's
 * session port: A's entry for C says "device C, C's static key" while the
 * TCP endpoint belongs to B. B cannot complete XK message 1 (it is keyed to
 * C's static key), so the connect fails and no session exists. */
static void test_reject_identity_mismatch_via_discovery(void **state) {
  (void)state;
  char da[64], db[64], dc[64], port[16], sport_b[16], want[160];
  proc a, b, c;
  make_dir(da, sizeof(da));
  make_dir(db, sizeof(db));
  make_dir(dc, sizeof(dc));
  snprintf(port, sizeof(port), "%u", free_port());
  const char *args[] = {"--interface", "lo",          "--port", port,
                        "--listen",    "127.0.0.1:0", NULL};
  proc_start(&a, da, args);
  proc_start(&b, db, args);
  snprintf(sport_b, sizeof(sport_b), "%u", b.sport);
  const char *cargs[] = {"--interface",    "lo",    "--port", port,
                         "--session-port", sport_b, NULL};
  proc_start(&c, dc, cargs);
  assert_string_not_equal(c.id, b.id);

  snprintf(want, sizeof(want), "up %s %u ", c.id, b.sport);
  assert_int_equal(proc_wait(&a, want, NULL, 0, WAIT_MS), 0);
  snprintf(want, sizeof(want), "connect %s\n", c.id);
  proc_send(&a, want);
  /* A sees B hang up in the middle of the handshake. */
  snprintf(want, sizeof(want), "error session.closed %s", c.id);
  assert_int_equal(proc_wait(&a, want, NULL, 0, WAIT_MS), 0);
  /* B refused the handshake: message 1 does not authenticate under its
   * static key. */
  assert_int_equal(
      proc_wait(&b, "session-reject crypto.reject.auth_tag", NULL, 0, WAIT_MS),
      0);
  assert_false(proc_has_line(&a, "SESSION "));
  assert_false(proc_has_line(&b, "SESSION "));
  expect_sessions(&a, 0);
  expect_sessions(&b, 0);
  proc_stop(&c);
  proc_stop(&a);
  proc_stop(&b);
  remove_dir(da);
  remove_dir(db);
  remove_dir(dc);
}

/* The harder variant: the third party certifies B's static *public* key
 * under its own device key and announces B's session port. Noise completes
 * with B (the real key holder), whose proof names B, not the device A
 * dialled: a hard identity mismatch. The forged announcement is sent by
 * this test process, by unicast to A's discovery port. */
static void test_reject_certified_foreign_static_key(void **state) {
  (void)state;
  char da[64], db[64], pa[16], pb[16], peer_a[32], peer_b[32], want[160];
  proc a, b;
  dsb_identity real_b, x;
  make_dir(da, sizeof(da));
  make_dir(db, sizeof(db));
  unsigned porta = free_port(), portb = free_port();
  while (portb == porta) {
    portb = free_port();
  }
  snprintf(pa, sizeof(pa), "%u", porta);
  snprintf(pb, sizeof(pb), "%u", portb);
  snprintf(peer_a, sizeof(peer_a), "127.0.0.1:%u", porta);
  snprintf(peer_b, sizeof(peer_b), "127.0.0.1:%u", portb);
  const char *aa[] = {
      "--no-multicast", "--interface", "lo",       "--port",      pa,
      "--peer",         peer_b,        "--listen", "127.0.0.1:0", NULL};
  const char *ba[] = {
      "--no-multicast", "--interface", "lo",       "--port",      pb,
      "--peer",         peer_a,        "--listen", "127.0.0.1:0", NULL};
  proc_start(&a, da, aa);
  proc_start(&b, db, ba);
  /* B's public static key, as anyone on the link learns it from B's
   * announcements (read here from its state directory for brevity). */
  assert_int_equal(dsb_keystore_load_or_create(&real_b, db, NULL, NULL), 0);
  make_identity(&x, 9);
  certify_foreign_static(&x, &real_b);
  dsb_identity_wipe(&real_b);

  uint8_t buf[DSB_DISC_MAX_DATAGRAM];
  dsb_disc_announce ann;
  dsb_disc_announce_init(&ann);
  ann.session_port = (uint16_t)b.sport;
  ann.seq = 1;
  ann.ttl_s = 60;
  long n = dsb_disc_announce_encode(buf, sizeof(buf), &ann, &x);
  assert_true(n > 0);
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in from = loopback4(0), to = loopback4((uint16_t)porta);
  assert_int_equal(bind(fd, (struct sockaddr *)&from, sizeof(from)), 0);
  assert_int_equal(
      sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&to, sizeof(to)), n);
  close(fd);

  char xid[DSB_DEVICE_ID_TEXT_LEN + 1];
  dsb_device_id_format(xid, &x.id);
  snprintf(want, sizeof(want), "up %s %u ", xid, b.sport);
  assert_int_equal(proc_wait(&a, want, NULL, 0, WAIT_MS), 0);
  snprintf(want, sizeof(want), "connect %s\n", xid);
  proc_send(&a, want);
  snprintf(want, sizeof(want), "error session.reject.identity_mismatch %s",
           xid);
  assert_int_equal(proc_wait(&a, want, NULL, 0, WAIT_MS), 0);
  /* B saw A leave in the middle of the handshake. */
  assert_int_equal(proc_wait(&b, "session-reject ", NULL, 0, WAIT_MS), 0);
  assert_false(proc_has_line(&a, "SESSION "));
  assert_false(proc_has_line(&b, "SESSION "));
  expect_sessions(&a, 0);
  expect_sessions(&b, 0);
  dsb_identity_wipe(&x);
  proc_stop(&a);
  proc_stop(&b);
  remove_dir(da);
  remove_dir(db);
}

static void test_reject_connect_unknown_id_via_probe(void **state) {
  (void)state;
  char da[64], port[16];
  proc a;
  make_dir(da, sizeof(da));
  snprintf(port, sizeof(port), "%u", free_port());
  const char *args[] = {"--interface", "lo",       "--port",      port,
                        "--no-query",  "--listen", "127.0.0.1:0", NULL};
  proc_start(&a, da, args);
  proc_send(&a, "connect 00112233445566778899aabbccddeeff\n");
  assert_int_equal(proc_wait(&a, "error not_found", NULL, 0, WAIT_MS), 0);
  proc_send(&a, "connect not-an-id\n");
  assert_int_equal(proc_wait(&a, "error malformed", NULL, 0, WAIT_MS), 0);
  expect_sessions(&a, 0);
  proc_stop(&a);
  remove_dir(da);
}

static int setup(void) {
  const char *b = getenv("DSB_BUILD_DIR");
  signal(SIGPIPE, SIG_IGN);
  if (!b) {
    return -1;
  }
  snprintf(probe_path, sizeof(probe_path), "%s/disc-probe", b);
  return access(probe_path, X_OK) == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest local_tests[] = {
      cmocka_unit_test(test_resolve_uses_verified_entry),
      cmocka_unit_test(test_reject_unknown_device),
      cmocka_unit_test(test_reject_no_session_port),
      cmocka_unit_test(test_reject_unusable_address),
      cmocka_unit_test(test_reject_null_arguments),
      cmocka_unit_test(test_connect_in_process),
      cmocka_unit_test(test_reject_endpoint_of_other_device),
      cmocka_unit_test(test_reject_identity_mismatch_in_process),
  };
  const struct CMUnitTest probe_tests[] = {
      cmocka_unit_test(test_connect_multicast_loopback),
      cmocka_unit_test(test_connect_unicast_list),
      cmocka_unit_test(test_reject_identity_mismatch_via_discovery),
      cmocka_unit_test(test_reject_certified_foreign_static_key),
      cmocka_unit_test(test_reject_connect_unknown_id_via_probe),
  };
  int rv = cmocka_run_group_tests_name("disc_connect", local_tests, NULL, NULL);
  if (setup() != 0) {
    fprintf(stderr, "disc-probe not built or DSB_BUILD_DIR unset: the "
                    "multi-process tests are skipped\n");
    return rv != 0 ? rv : 77;
  }
  return rv | cmocka_run_group_tests_name("disc_connect_probe", probe_tests,
                                          NULL, NULL);
}
