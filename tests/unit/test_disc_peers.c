/* test_disc_peers.c - the discovery peer table: events, replay rejection,
 * expiry, goodbye, restart, rate limit, bounded LRU, failing allocator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dsb/disc.h"
#include "dsb/err.h"

#define S(n) ((dsb_tstamp)(n)*DSB_NS_PER_S)

/* ---- fixtures ------------------------------------------------------------ */

typedef struct ev_log {
  int n;
  dsb_disc_event_type type[16];
  dsb_disc_gone_reason reason[16];
  dsb_device_id id[16];
  int fail; /* return non-zero from the callback */
} ev_log;

static int on_event(void *ctx, dsb_disc_event_type ev,
                    dsb_disc_gone_reason reason, const dsb_disc_peer *peer) {
  ev_log *log = ctx;
  if (log->n < 16) {
    log->type[log->n] = ev;
    log->reason[log->n] = reason;
    log->id[log->n] = peer->ann.id;
  }
  log->n++;
  return log->fail;
}

static void make_identity(dsb_identity *id, uint8_t base) {
  uint8_t seed[32], ssk[32];
  for (int i = 0; i < 32; ++i) {
    seed[i] = (uint8_t)(base * 7 + i);
    ssk[i] = (uint8_t)(base * 11 + 0x40 + i);
  }
  assert_int_equal(dsb_identity_from_secrets(id, seed, ssk), 0);
}

typedef struct msg {
  uint8_t b[DSB_DISC_MAX_DATAGRAM];
  size_t len;
} msg;

static void make_msg(msg *m, const dsb_identity *id, uint64_t seq,
                     uint16_t ttl_s, uint16_t port, const char *service) {
  dsb_disc_announce a;
  dsb_disc_announce_init(&a);
  assert_int_equal(dsb_disc_announce_set_name(&a, "peer", 4), 0);
  a.seq = seq;
  a.ttl_s = ttl_s;
  a.session_port = port;
  if (service) {
    assert_int_equal(
        dsb_disc_announce_add_service(&a, service, strlen(service)), 0);
  }
  long n = dsb_disc_announce_encode(m->b, sizeof(m->b), &a, id);
  assert_true(n > 0);
  m->len = (size_t)n;
}

static const uint8_t SRC_A[] = {127, 0, 0, 1, 0x10, 0x01};
static const uint8_t SRC_B[] = {127, 0, 0, 2, 0x10, 0x02};

static dsb_disc_peers *new_table(ev_log *log, size_t capacity) {
  dsb_disc_peers_settings s;
  dsb_disc_peers *tab = NULL;
  dsb_disc_peers_settings_default(&s);
  s.capacity = capacity;
  s.burst = 1000;
  s.rate_per_s = 1000;
  assert_int_equal(dsb_disc_peers_new(&tab, &s, on_event, log, NULL), 0);
  return tab;
}

static int input(dsb_disc_peers *tab, const msg *m, const uint8_t *src,
                 dsb_tstamp ts) {
  return dsb_disc_peers_input(tab, m->b, m->len, src, sizeof(SRC_A), ts);
}

/* ---- events -------------------------------------------------------------- */

static void test_up_refresh_update(void **state) {
  (void)state;
  ev_log log = {0};
  dsb_identity a;
  msg m;
  make_identity(&a, 1);
  dsb_disc_peers *tab = new_table(&log, 8);

  make_msg(&m, &a, 100, 30, 5000, "echo");
  assert_int_equal(input(tab, &m, SRC_A, S(1)), 0);
  assert_int_equal(log.n, 1);
  assert_int_equal(log.type[0], DSB_DISC_PEER_UP);
  assert_memory_equal(log.id[0].b, a.id.b, DSB_DEVICE_ID_LEN);
  const dsb_disc_peer *p = dsb_disc_peers_get(tab, &a.id);
  assert_non_null(p);
  assert_int_equal(p->ann.session_port, 5000);
  assert_int_equal(p->first_seen, S(1));
  assert_int_equal(p->expires, S(31));
  assert_memory_equal(p->addr, SRC_A, sizeof(SRC_A));

  /* Same content, newer seq: a silent refresh of the expiry. */
  make_msg(&m, &a, 101, 30, 5000, "echo");
  assert_int_equal(input(tab, &m, SRC_A, S(5)), 0);
  assert_int_equal(log.n, 1);
  p = dsb_disc_peers_get(tab, &a.id);
  assert_int_equal(p->ann.seq, 101);
  assert_int_equal(p->expires, S(35));
  assert_int_equal(p->last_seen, S(5));

  /* New session port: UPDATED. */
  make_msg(&m, &a, 102, 30, 6000, "echo");
  assert_int_equal(input(tab, &m, SRC_A, S(6)), 0);
  assert_int_equal(log.n, 2);
  assert_int_equal(log.type[1], DSB_DISC_PEER_UPDATED);
  assert_int_equal(dsb_disc_peers_get(tab, &a.id)->ann.session_port, 6000);
  assert_int_equal(dsb_disc_peers_count(tab), 1);
  dsb_disc_peers_del(tab);
  dsb_identity_wipe(&a);
}

static void test_reject_replay(void **state) {
  (void)state;
  ev_log log = {0};
  dsb_identity a;
  msg m100, m50, m200;
  make_identity(&a, 2);
  dsb_disc_peers *tab = new_table(&log, 8);
  make_msg(&m100, &a, 100, 30, 5000, NULL);
  make_msg(&m50, &a, 50, 30, 7777, NULL);
  make_msg(&m200, &a, 200, 30, 5000, NULL);

  assert_int_equal(input(tab, &m100, SRC_A, S(1)), 0);
  /* The same datagram again, even from another source: no redirect. */
  assert_int_equal(input(tab, &m100, SRC_B, S(2)), DSB_ERR_DISC_REPLAY);
  /* An older one (with another port). */
  assert_int_equal(input(tab, &m50, SRC_B, S(3)), DSB_ERR_DISC_REPLAY);
  const dsb_disc_peer *p = dsb_disc_peers_get(tab, &a.id);
  assert_memory_equal(p->addr, SRC_A, sizeof(SRC_A));
  assert_int_equal(p->ann.session_port, 5000);
  assert_int_equal(p->last_seen, S(1));
  assert_int_equal(log.n, 1);
  /* Strictly newer: accepted, including the move to a new address. */
  assert_int_equal(input(tab, &m200, SRC_B, S(4)), 0);
  assert_memory_equal(dsb_disc_peers_get(tab, &a.id)->addr, SRC_B,
                      sizeof(SRC_B));
  assert_int_equal(log.n, 2);
  assert_int_equal(log.type[1], DSB_DISC_PEER_UPDATED);
  dsb_disc_peers_del(tab);
  dsb_identity_wipe(&a);
}

static void test_reject_forgery_does_not_displace(void **state) {
  (void)state;
  ev_log log = {0};
  dsb_identity a, evil;
  msg m, f;
  make_identity(&a, 3);
  make_identity(&evil, 4);
  dsb_disc_peers *tab = new_table(&log, 8);
  make_msg(&m, &a, 100, 30, 5000, NULL);
  assert_int_equal(input(tab, &m, SRC_A, S(1)), 0);

  /* A's announcement with a higher seq and a different port, bits
   * changed without the key: the signature fails, nothing moves. */
  make_msg(&f, &a, 100000, 30, 5000, NULL);
  f.b[146] ^= 0x55;
  assert_int_equal(input(tab, &f, SRC_B, S(2)), DSB_ERR_DISC_BAD_SIGNATURE);
  /* A's id with the attacker's keys. */
  dsb_identity forged = evil;
  forged.id = a.id;
  make_msg(&f, &forged, 100000, 30, 6666, NULL);
  assert_int_equal(input(tab, &f, SRC_B, S(3)), DSB_ERR_DISC_BAD_DEVICE_ID);
  /* A's public keys and cert, signed by the attacker. */
  forged = evil;
  forged.id = a.id;
  forged.proof = a.proof;
  make_msg(&f, &forged, 100000, 30, 6666, NULL);
  assert_int_equal(input(tab, &f, SRC_B, S(4)), DSB_ERR_DISC_BAD_SIGNATURE);

  const dsb_disc_peer *p = dsb_disc_peers_get(tab, &a.id);
  assert_int_equal(p->ann.seq, 100);
  assert_int_equal(p->ann.session_port, 5000);
  assert_memory_equal(p->addr, SRC_A, sizeof(SRC_A));
  assert_int_equal(p->last_seen, S(1));
  assert_int_equal(log.n, 1);
  /* The real device's next announcement is still accepted. */
  make_msg(&m, &a, 101, 30, 5000, NULL);
  assert_int_equal(input(tab, &m, SRC_A, S(5)), 0);
  dsb_disc_peers_del(tab);
  dsb_identity_wipe(&a);
  dsb_identity_wipe(&evil);
  dsb_identity_wipe(&forged);
}

static void test_expiry(void **state) {
  (void)state;
  ev_log log = {0};
  dsb_identity a, b;
  msg m;
  dsb_disc_peers_settings s;
  dsb_disc_peers *tab = NULL;
  make_identity(&a, 5);
  make_identity(&b, 6);
  dsb_disc_peers_settings_default(&s);
  s.max_ttl_s = 60;
  assert_int_equal(dsb_disc_peers_new(&tab, &s, on_event, &log, NULL), 0);
  assert_int_equal(dsb_disc_peers_next_expiry(tab), UINT64_MAX);

  make_msg(&m, &a, 1, 10, 5000, NULL);
  assert_int_equal(input(tab, &m, SRC_A, S(100)), 0);
  /* A TTL over the cap is clamped. */
  make_msg(&m, &b, 1, 65535, 5000, NULL);
  assert_int_equal(input(tab, &m, SRC_B, S(100)), 0);
  assert_int_equal(dsb_disc_peers_next_expiry(tab), S(110));
  assert_int_equal(dsb_disc_peers_get(tab, &b.id)->expires, S(160));

  assert_int_equal(dsb_disc_peers_expire(tab, S(110) - 1), 0);
  assert_int_equal(dsb_disc_peers_count(tab), 2);
  assert_int_equal(dsb_disc_peers_expire(tab, S(110)), 1);
  assert_null(dsb_disc_peers_get(tab, &a.id));
  assert_int_equal(log.type[2], DSB_DISC_PEER_GONE);
  assert_int_equal(log.reason[2], DSB_DISC_GONE_EXPIRED);
  assert_memory_equal(log.id[2].b, a.id.b, DSB_DEVICE_ID_LEN);
  assert_int_equal(dsb_disc_peers_next_expiry(tab), S(160));
  /* Time passed in out of order does not un-expire anything. */
  assert_int_equal(dsb_disc_peers_expire(tab, S(1)), 0);
  assert_int_equal(dsb_disc_peers_expire(tab, S(1000)), 1);
  assert_int_equal(dsb_disc_peers_count(tab), 0);

  /* A captured announcement replayed after expiry: tombstone. */
  make_msg(&m, &a, 1, 10, 5000, NULL);
  assert_int_equal(input(tab, &m, SRC_A, S(1001)), DSB_ERR_DISC_REPLAY);
  dsb_disc_peers_del(tab);
  dsb_identity_wipe(&a);
  dsb_identity_wipe(&b);
}

static void test_goodbye_and_restart(void **state) {
  (void)state;
  ev_log log = {0};
  dsb_identity a;
  msg m1, m2, bye, restart;
  make_identity(&a, 7);
  dsb_disc_peers *tab = new_table(&log, 8);
  /* Sender sequence: wall-clock ms * 1000 at start, +1 per message. */
  const uint64_t start1 = UINT64_C(1700000000000) * 1000;
  const uint64_t start2 = UINT64_C(1700000000900) * 1000;
  make_msg(&m1, &a, start1 + 1, 30, 5000, NULL);
  make_msg(&m2, &a, start1 + 2, 30, 5000, NULL);
  make_msg(&bye, &a, start1 + 3, 0, 5000, NULL);
  make_msg(&restart, &a, start2 + 1, 30, 5001, NULL);

  assert_int_equal(input(tab, &m1, SRC_A, S(1)), 0);
  assert_int_equal(input(tab, &m2, SRC_A, S(2)), 0);
  assert_int_equal(input(tab, &bye, SRC_A, S(3)), 0);
  assert_int_equal(dsb_disc_peers_count(tab), 0);
  assert_int_equal(log.n, 2);
  assert_int_equal(log.type[1], DSB_DISC_PEER_GONE);
  assert_int_equal(log.reason[1], DSB_DISC_GONE_GOODBYE);
  /* Replaying the goodbye or an old announcement changes nothing. */
  assert_int_equal(input(tab, &bye, SRC_B, S(4)), DSB_ERR_DISC_REPLAY);
  assert_int_equal(input(tab, &m2, SRC_B, S(4)), DSB_ERR_DISC_REPLAY);
  assert_int_equal(dsb_disc_peers_count(tab), 0);
  /* The restarted node, sequence from its later start time: accepted. */
  assert_int_equal(input(tab, &restart, SRC_A, S(5)), 0);
  assert_int_equal(log.n, 3);
  assert_int_equal(log.type[2], DSB_DISC_PEER_UP);
  assert_int_equal(dsb_disc_peers_get(tab, &a.id)->ann.session_port, 5001);

  /* A restart without goodbye (crash) while the entry is still live. */
  make_msg(&m1, &a, start2 + 500000, 30, 5002, NULL);
  assert_int_equal(input(tab, &m1, SRC_A, S(6)), 0);
  assert_int_equal(log.type[3], DSB_DISC_PEER_UPDATED);

  /* Goodbye for a device never seen: nothing to remove, no event, but
   * remembered so its older announcements are replays. */
  dsb_identity c;
  make_identity(&c, 8);
  make_msg(&bye, &c, 10, 0, 5000, NULL);
  make_msg(&m1, &c, 9, 30, 5000, NULL);
  assert_int_equal(input(tab, &bye, SRC_B, S(7)), 0);
  assert_int_equal(input(tab, &m1, SRC_B, S(8)), DSB_ERR_DISC_REPLAY);
  assert_int_equal(log.n, 4);
  dsb_disc_peers_del(tab);
  dsb_identity_wipe(&a);
  dsb_identity_wipe(&c);
}

static void test_reject_rate_limited(void **state) {
  (void)state;
  ev_log log = {0};
  dsb_identity a;
  msg m;
  dsb_disc_peers_settings s;
  dsb_disc_peers *tab = NULL;
  make_identity(&a, 9);
  dsb_disc_peers_settings_default(&s);
  s.burst = 3;
  s.rate_per_s = 2;
  s.max_sources = 2;
  assert_int_equal(dsb_disc_peers_new(&tab, &s, on_event, &log, NULL), 0);

  for (int i = 0; i < 3; ++i) {
    assert_int_equal(dsb_disc_peers_admit(tab, SRC_A, sizeof(SRC_A), S(10)), 0);
  }
  assert_int_equal(dsb_disc_peers_admit(tab, SRC_A, sizeof(SRC_A), S(10)),
                   DSB_ERR_DISC_RATE_LIMITED);
  /* An announcement from the limited source is dropped before any work,
   * even a valid one. */
  make_msg(&m, &a, 1, 30, 5000, NULL);
  assert_int_equal(input(tab, &m, SRC_A, S(10)), DSB_ERR_DISC_RATE_LIMITED);
  assert_int_equal(dsb_disc_peers_count(tab), 0);
  /* Other sources are not affected. */
  assert_int_equal(input(tab, &m, SRC_B, S(10)), 0);
  /* 0.5 s refills one token at 2/s. */
  assert_int_equal(
      dsb_disc_peers_admit(tab, SRC_A, sizeof(SRC_A), S(10) + DSB_NS_PER_S / 2),
      0);
  assert_int_equal(
      dsb_disc_peers_admit(tab, SRC_A, sizeof(SRC_A), S(10) + DSB_NS_PER_S / 2),
      DSB_ERR_DISC_RATE_LIMITED);
  /* Refill never exceeds the burst. */
  for (int i = 0; i < 3; ++i) {
    assert_int_equal(dsb_disc_peers_admit(tab, SRC_A, sizeof(SRC_A), S(5000)),
                     0);
  }
  assert_int_equal(dsb_disc_peers_admit(tab, SRC_A, sizeof(SRC_A), S(5000)),
                   DSB_ERR_DISC_RATE_LIMITED);
  assert_int_equal(dsb_disc_peers_admit(tab, SRC_A, 33, S(5000)),
                   DSB_ERR_INVALID_ARGUMENT);
  dsb_disc_peers_del(tab);
  dsb_identity_wipe(&a);
}

static void test_reject_table_full_evicts_lru(void **state) {
  (void)state;
  ev_log log = {0};
  dsb_identity id[5];
  msg m;
  for (int i = 0; i < 5; ++i) {
    make_identity(&id[i], (uint8_t)(20 + i));
  }
  dsb_disc_peers *tab = new_table(&log, 3);
  for (int i = 0; i < 3; ++i) {
    make_msg(&m, &id[i], 1, 60, 5000, NULL);
    assert_int_equal(input(tab, &m, SRC_A, S(1 + i)), 0);
  }
  /* Peer 0 re-announces: now peer 1 is the least recently seen. A replay
   * of peer 1's announcement does not refresh it. */
  make_msg(&m, &id[0], 2, 60, 5000, NULL);
  assert_int_equal(input(tab, &m, SRC_A, S(4)), 0);
  make_msg(&m, &id[1], 1, 60, 5000, NULL);
  assert_int_equal(input(tab, &m, SRC_A, S(5)), DSB_ERR_DISC_REPLAY);

  log.n = 0;
  make_msg(&m, &id[3], 1, 60, 5000, NULL);
  assert_int_equal(input(tab, &m, SRC_A, S(6)), 0);
  assert_int_equal(dsb_disc_peers_count(tab), 3);
  assert_int_equal(log.n, 2);
  assert_int_equal(log.type[0], DSB_DISC_PEER_GONE);
  assert_int_equal(log.reason[0], DSB_DISC_GONE_EVICTED);
  assert_memory_equal(log.id[0].b, id[1].id.b, DSB_DEVICE_ID_LEN);
  assert_int_equal(log.type[1], DSB_DISC_PEER_UP);
  assert_null(dsb_disc_peers_get(tab, &id[1].id));
  assert_non_null(dsb_disc_peers_get(tab, &id[0].id));
  assert_non_null(dsb_disc_peers_get(tab, &id[2].id));
  assert_non_null(dsb_disc_peers_get(tab, &id[3].id));

  /* A forged newcomer cannot evict anyone. */
  dsb_identity forged = id[4];
  memcpy(forged.proof.static_pk, id[0].proof.static_pk, 32);
  make_msg(&m, &forged, 1, 60, 5000, NULL);
  assert_int_equal(input(tab, &m, SRC_A, S(7)), DSB_ERR_DISC_BAD_CERT);
  assert_int_equal(dsb_disc_peers_count(tab), 3);
  assert_non_null(dsb_disc_peers_get(tab, &id[2].id));

  /* Next valid newcomer evicts peer 2 (seen at 3 s), never grows. */
  make_msg(&m, &id[4], 1, 60, 5000, NULL);
  assert_int_equal(input(tab, &m, SRC_A, S(8)), 0);
  assert_int_equal(dsb_disc_peers_count(tab), 3);
  assert_null(dsb_disc_peers_get(tab, &id[2].id));
  dsb_disc_peers_del(tab);
  for (int i = 0; i < 5; ++i) {
    dsb_identity_wipe(&id[i]);
  }
  dsb_identity_wipe(&forged);
}

/* ---- lookups ------------------------------------------------------------- */

static void test_self_lookup_iterate_endpoint(void **state) {
  (void)state;
  ev_log log = {0};
  dsb_identity me, a, b;
  msg m;
  dsb_disc_endpoint ep;
  make_identity(&me, 30);
  make_identity(&a, 31);
  make_identity(&b, 32);
  dsb_disc_peers *tab = new_table(&log, 8);
  dsb_disc_peers_set_self(tab, &me.id);

  make_msg(&m, &me, 1, 30, 5000, "echo");
  assert_int_equal(input(tab, &m, SRC_A, S(1)), DSB_ERR_DISC_SELF);
  make_msg(&m, &a, 1, 30, 4001, "echo");
  assert_int_equal(input(tab, &m, SRC_A, S(1)), 0);
  make_msg(&m, &b, 1, 30, 4002, "files");
  assert_int_equal(input(tab, &m, SRC_B, S(1)), 0);
  assert_int_equal(dsb_disc_peers_count(tab), 2);

  size_t cur = 0, n = 0;
  while (dsb_disc_peers_next(tab, &cur)) {
    ++n;
  }
  assert_int_equal(n, 2);
  cur = 0;
  const dsb_disc_peer *p = dsb_disc_peers_next_offering(tab, &cur, "files", 5);
  assert_non_null(p);
  assert_memory_equal(p->ann.id.b, b.id.b, DSB_DEVICE_ID_LEN);
  assert_null(dsb_disc_peers_next_offering(tab, &cur, "files", 5));
  cur = 0;
  assert_null(dsb_disc_peers_next_offering(tab, &cur, "nope", 4));

  assert_int_equal(dsb_disc_peers_endpoint(tab, &a.id, &ep), 0);
  assert_memory_equal(ep.id.b, a.id.b, DSB_DEVICE_ID_LEN);
  assert_int_equal(ep.session_port, 4001);
  assert_memory_equal(ep.static_pk, a.proof.static_pk, 32);
  assert_int_equal(ep.addrlen, sizeof(SRC_A));
  assert_memory_equal(ep.addr, SRC_A, sizeof(SRC_A));
  assert_int_equal(dsb_disc_peers_endpoint(tab, &me.id, &ep),
                   DSB_ERR_NOT_FOUND);

  log.n = 0;
  assert_int_equal(dsb_disc_peers_remove(tab, &a.id, S(2)), 0);
  assert_int_equal(log.reason[0], DSB_DISC_GONE_REMOVED);
  assert_int_equal(dsb_disc_peers_remove(tab, &a.id, S(2)), DSB_ERR_NOT_FOUND);
  assert_int_equal(dsb_disc_peers_count(tab), 1);
  dsb_disc_peers_del(tab);
  dsb_identity_wipe(&me);
  dsb_identity_wipe(&a);
  dsb_identity_wipe(&b);
}

static void test_callback_failure(void **state) {
  (void)state;
  ev_log log = {0};
  dsb_identity a;
  msg m;
  make_identity(&a, 40);
  dsb_disc_peers *tab = new_table(&log, 8);
  log.fail = 1;
  make_msg(&m, &a, 1, 30, 5000, NULL);
  assert_int_equal(input(tab, &m, SRC_A, S(1)), DSB_ERR_CALLBACK_FAILURE);
  /* The change is committed regardless. */
  assert_int_equal(dsb_disc_peers_count(tab), 1);
  assert_int_equal(dsb_disc_peers_expire(tab, S(100)),
                   DSB_ERR_CALLBACK_FAILURE);
  assert_int_equal(dsb_disc_peers_count(tab), 0);
  dsb_disc_peers_del(tab);
  dsb_identity_wipe(&a);
}

/* ---- construction -------------------------------------------------------- */

typedef struct fail_mem {
  int countdown; /* fail when it reaches 0 */
} fail_mem;

static void *fm_malloc(size_t n, void *ctx) {
  fail_mem *f = ctx;
  return f->countdown-- == 0 ? NULL : malloc(n);
}
static void fm_free(void *p, void *ctx) {
  (void)ctx;
  free(p);
}
static void *fm_calloc(size_t a, size_t b, void *ctx) {
  fail_mem *f = ctx;
  return f->countdown-- == 0 ? NULL : calloc(a, b);
}
static void *fm_realloc(void *p, size_t n, void *ctx) {
  fail_mem *f = ctx;
  return f->countdown-- == 0 ? NULL : realloc(p, n);
}

static void test_failing_allocator(void **state) {
  (void)state;
  int i;
  for (i = 0; i < 16; ++i) {
    fail_mem f = {i};
    dsb_mem mem = {fm_malloc, fm_free, fm_calloc, fm_realloc, &f};
    dsb_disc_peers *tab = NULL;
    int rv = dsb_disc_peers_new(&tab, NULL, NULL, NULL, &mem);
    if (rv == 0) {
      assert_non_null(tab);
      dsb_disc_peers_del(tab);
      break;
    }
    assert_int_equal(rv, DSB_ERR_NOMEM);
    assert_null(tab);
  }
  assert_true(i > 0 && i < 16);
  dsb_disc_peers_del(NULL);
}

static void test_reject_invalid_settings(void **state) {
  (void)state;
  dsb_disc_peers_settings s;
  dsb_disc_peers *tab = NULL;
  dsb_disc_peers_settings_default(&s);
  assert_int_equal(s.capacity, DSB_DISC_DEFAULT_CAPACITY);
  s.capacity = 0;
  assert_int_equal(dsb_disc_peers_new(&tab, &s, NULL, NULL, NULL),
                   DSB_ERR_INVALID_ARGUMENT);
  dsb_disc_peers_settings_default(&s);
  s.rate_per_s = 0;
  assert_int_equal(dsb_disc_peers_new(&tab, &s, NULL, NULL, NULL),
                   DSB_ERR_INVALID_ARGUMENT);
  assert_null(tab);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_up_refresh_update),
      cmocka_unit_test(test_reject_replay),
      cmocka_unit_test(test_reject_forgery_does_not_displace),
      cmocka_unit_test(test_expiry),
      cmocka_unit_test(test_goodbye_and_restart),
      cmocka_unit_test(test_reject_rate_limited),
      cmocka_unit_test(test_reject_table_full_evicts_lru),
      cmocka_unit_test(test_self_lookup_iterate_endpoint),
      cmocka_unit_test(test_callback_failure),
      cmocka_unit_test(test_failing_allocator),
      cmocka_unit_test(test_reject_invalid_settings),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
