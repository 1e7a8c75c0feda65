/*
 * rpc_pending.c - the pending-call table (include/dsb/rpc.h).
 *
 * All memory is allocated at creation: a pool of call slots, an
 * open-addressing index nonce -> slot, a binary min-heap of slots by
 * deadline (for the timer and the sweep), two counter maps (calls per peer,
 * calls per session) for the caps, and a ring of recently expired nonces.
 * Hash tables use linear probing with backward-shift deletion, so they never
 * fill with tombstones; each is at least twice as large as the number of
 * keys it can hold.
 */
#include <assert.h>
#include <string.h>

#include "dsb/crypto.h"
#include "dsb/err.h"
#include "dsb/rpc.h"
#include "dsb/wire.h"

#define RPC_PENDING_LATE_WINDOW_CAP 4096u
#define RPC_NO_SLOT UINT32_MAX

typedef struct rpc_slot {
  dsb_rpc_pending_call call;
  uint32_t heap_idx;
  uint32_t next_free; /* free-list link while unused */
  uint8_t used;
} rpc_slot;

/* Counter map entry: |count| 0 means empty. */
typedef struct rpc_count {
  uint8_t key[DSB_DEVICE_ID_LEN];
  uint32_t count;
} rpc_count;

typedef struct rpc_count_map {
  rpc_count *e;
  uint32_t mask;
} rpc_count_map;

typedef struct rpc_late {
  uint64_t session_id;
  uint64_t nonce;
  const void *user;
} rpc_late;

struct dsb_rpc_pending {
  const dsb_mem *mem;
  dsb_rpc_pending_settings s;
  uint64_t hash_seed;
  uint64_t next_nonce;
  dsb_tstamp last_ts;

  rpc_slot *slots; /* s.max_calls */
  uint32_t free_head;
  uint32_t *index; /* slot + 1, 0 = empty; index_mask + 1 entries */
  uint32_t index_mask;
  uint32_t *heap; /* slot numbers, heap_len used */
  uint32_t heap_len;
  rpc_count_map by_peer;
  rpc_count_map by_session;
  rpc_late *late; /* ring of s.late_window */
  uint32_t late_next;
  uint32_t late_len;

  dsb_rpc_pending_stats stats;
};

void dsb_rpc_pending_settings_default(dsb_rpc_pending_settings *settings) {
  settings->max_calls = 4096;
  settings->max_calls_per_peer = 1024;
  settings->max_calls_per_session = 1024;
  settings->late_window = 256;
  settings->default_timeout = 10 * DSB_NS_PER_S;
}

/* splitmix64 finalizer: spreads sequential nonces over the table. */
static uint64_t rpc_mix(uint64_t x) {
  x ^= x >> 30;
  x *= UINT64_C(0xbf58476d1ce4e5b9);
  x ^= x >> 27;
  x *= UINT64_C(0x94d049bb133111eb);
  x ^= x >> 31;
  return x;
}

static uint32_t rpc_pow2_at_least(uint32_t n) {
  uint32_t c = 1;
  while (c < n) {
    c <<= 1;
  }
  return c;
}

/* ---- nonce index ----------------------------------------------------------
 */

static uint32_t rpc_index_home(const dsb_rpc_pending *pd, uint64_t nonce) {
  return (uint32_t)(rpc_mix(nonce ^ pd->hash_seed) & pd->index_mask);
}

static uint32_t rpc_index_find(const dsb_rpc_pending *pd, uint64_t nonce) {
  uint32_t i = rpc_index_home(pd, nonce);
  for (;;) {
    uint32_t v = pd->index[i];
    if (v == 0) {
      return RPC_NO_SLOT;
    }
    if (pd->slots[v - 1].call.nonce == nonce) {
      return v - 1;
    }
    i = (i + 1) & pd->index_mask;
  }
}

static void rpc_index_insert(dsb_rpc_pending *pd, uint32_t slot) {
  uint32_t i = rpc_index_home(pd, pd->slots[slot].call.nonce);
  while (pd->index[i] != 0) {
    i = (i + 1) & pd->index_mask;
  }
  pd->index[i] = slot + 1;
}

static void rpc_index_remove(dsb_rpc_pending *pd, uint64_t nonce) {
  uint32_t i = rpc_index_home(pd, nonce);
  while (pd->index[i] != 0 && pd->slots[pd->index[i] - 1].call.nonce != nonce) {
    i = (i + 1) & pd->index_mask;
  }
  if (pd->index[i] == 0) {
    return;
  }
  /* Backward-shift deletion: pull later members of the probe run into the
   * hole when their home position allows it. */
  uint32_t hole = i;
  uint32_t j = i;
  for (;;) {
    j = (j + 1) & pd->index_mask;
    uint32_t v = pd->index[j];
    if (v == 0) {
      break;
    }
    uint32_t home = rpc_index_home(pd, pd->slots[v - 1].call.nonce);
    /* Move v into the hole unless its home lies cyclically in (hole, j]. */
    if (((j - home) & pd->index_mask) >= ((j - hole) & pd->index_mask)) {
      pd->index[hole] = v;
      hole = j;
    }
  }
  pd->index[hole] = 0;
}

/* ---- counter maps ----------------------------------------------------------
 */

static uint32_t rpc_count_home(const dsb_rpc_pending *pd,
                               const rpc_count_map *m, const uint8_t *key) {
  uint64_t a, b;
  a = ((uint64_t)key[0] << 56) | ((uint64_t)key[1] << 48) |
      ((uint64_t)key[2] << 40) | ((uint64_t)key[3] << 32) |
      ((uint64_t)key[4] << 24) | ((uint64_t)key[5] << 16) |
      ((uint64_t)key[6] << 8) | (uint64_t)key[7];
  b = ((uint64_t)key[8] << 56) | ((uint64_t)key[9] << 48) |
      ((uint64_t)key[10] << 40) | ((uint64_t)key[11] << 32) |
      ((uint64_t)key[12] << 24) | ((uint64_t)key[13] << 16) |
      ((uint64_t)key[14] << 8) | (uint64_t)key[15];
  return (uint32_t)(rpc_mix(rpc_mix(a ^ pd->hash_seed) ^ b) & m->mask);
}

static uint32_t rpc_count_get(const dsb_rpc_pending *pd, const rpc_count_map *m,
                              const uint8_t *key) {
  uint32_t i = rpc_count_home(pd, m, key);
  while (m->e[i].count != 0) {
    if (memcmp(m->e[i].key, key, DSB_DEVICE_ID_LEN) == 0) {
      return m->e[i].count;
    }
    i = (i + 1) & m->mask;
  }
  return 0;
}

/* The map holds at most max_calls keys and has >= 2x slots: never full. */
static void rpc_count_inc(const dsb_rpc_pending *pd, rpc_count_map *m,
                          const uint8_t *key) {
  uint32_t i = rpc_count_home(pd, m, key);
  while (m->e[i].count != 0) {
    if (memcmp(m->e[i].key, key, DSB_DEVICE_ID_LEN) == 0) {
      m->e[i].count++;
      return;
    }
    i = (i + 1) & m->mask;
  }
  memcpy(m->e[i].key, key, DSB_DEVICE_ID_LEN);
  m->e[i].count = 1;
}

static void rpc_count_dec(const dsb_rpc_pending *pd, rpc_count_map *m,
                          const uint8_t *key) {
  uint32_t i = rpc_count_home(pd, m, key);
  while (m->e[i].count != 0 &&
         memcmp(m->e[i].key, key, DSB_DEVICE_ID_LEN) != 0) {
    i = (i + 1) & m->mask;
  }
  if (m->e[i].count == 0) {
    assert(0 && "counter map out of sync");
    return;
  }
  if (--m->e[i].count > 0) {
    return;
  }
  uint32_t hole = i;
  uint32_t j = i;
  for (;;) {
    j = (j + 1) & m->mask;
    if (m->e[j].count == 0) {
      break;
    }
    uint32_t home = rpc_count_home(pd, m, m->e[j].key);
    if (((j - home) & m->mask) >= ((j - hole) & m->mask)) {
      m->e[hole] = m->e[j];
      hole = j;
    }
  }
  memset(&m->e[hole], 0, sizeof(m->e[hole]));
}

static void rpc_session_key(uint8_t key[static DSB_DEVICE_ID_LEN],
                            uint64_t session_id) {
  memset(key, 0, DSB_DEVICE_ID_LEN);
  dsb_wire_put_u64be(key, session_id);
}

/* ---- deadline heap ---------------------------------------------------------
 */

static int rpc_heap_less(const dsb_rpc_pending *pd, uint32_t a, uint32_t b) {
  return pd->slots[pd->heap[a]].call.deadline <
         pd->slots[pd->heap[b]].call.deadline;
}

static void rpc_heap_swap(dsb_rpc_pending *pd, uint32_t a, uint32_t b) {
  uint32_t t = pd->heap[a];
  pd->heap[a] = pd->heap[b];
  pd->heap[b] = t;
  pd->slots[pd->heap[a]].heap_idx = a;
  pd->slots[pd->heap[b]].heap_idx = b;
}

static void rpc_heap_up(dsb_rpc_pending *pd, uint32_t i) {
  while (i > 0) {
    uint32_t parent = (i - 1) / 2;
    if (!rpc_heap_less(pd, i, parent)) {
      break;
    }
    rpc_heap_swap(pd, i, parent);
    i = parent;
  }
}

static void rpc_heap_down(dsb_rpc_pending *pd, uint32_t i) {
  for (;;) {
    uint32_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < pd->heap_len && rpc_heap_less(pd, l, m)) {
      m = l;
    }
    if (r < pd->heap_len && rpc_heap_less(pd, r, m)) {
      m = r;
    }
    if (m == i) {
      return;
    }
    rpc_heap_swap(pd, i, m);
    i = m;
  }
}

static void rpc_heap_push(dsb_rpc_pending *pd, uint32_t slot) {
  uint32_t i = pd->heap_len++;
  pd->heap[i] = slot;
  pd->slots[slot].heap_idx = i;
  rpc_heap_up(pd, i);
}

static void rpc_heap_remove(dsb_rpc_pending *pd, uint32_t i) {
  uint32_t last = --pd->heap_len;
  if (i != last) {
    rpc_heap_swap(pd, i, last);
    rpc_heap_down(pd, i);
    rpc_heap_up(pd, i);
  }
}

/* ---- table ----------------------------------------------------------------
 */

int dsb_rpc_pending_new(dsb_rpc_pending **ppending, const dsb_mem *mem,
                        const dsb_rpc_pending_settings *settings,
                        const dsb_rng *rng) {
  dsb_rpc_pending_settings s;
  dsb_rpc_pending *pd;
  uint8_t rnd[16];
  int rv;

  if (!ppending) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (settings) {
    s = *settings;
  } else {
    dsb_rpc_pending_settings_default(&s);
  }
  if (s.max_calls == 0 || s.max_calls > DSB_RPC_PENDING_MAX_CALLS_CAP ||
      s.max_calls_per_peer == 0 || s.max_calls_per_session == 0 ||
      s.late_window == 0 || s.late_window > RPC_PENDING_LATE_WINDOW_CAP ||
      s.default_timeout == 0) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  mem = mem ? mem : dsb_mem_default();

  pd = dsb_mem_calloc(mem, 1, sizeof(*pd));
  if (!pd) {
    return DSB_ERR_NOMEM;
  }
  pd->mem = mem;
  pd->s = s;
  uint32_t hsize = rpc_pow2_at_least(2 * s.max_calls);

  pd->slots = dsb_mem_calloc(mem, s.max_calls, sizeof(*pd->slots));
  if (!pd->slots) {
    rv = DSB_ERR_NOMEM;
    goto fail_slots;
  }
  pd->index = dsb_mem_calloc(mem, hsize, sizeof(*pd->index));
  if (!pd->index) {
    rv = DSB_ERR_NOMEM;
    goto fail_index;
  }
  pd->index_mask = hsize - 1;
  pd->heap = dsb_mem_calloc(mem, s.max_calls, sizeof(*pd->heap));
  if (!pd->heap) {
    rv = DSB_ERR_NOMEM;
    goto fail_heap;
  }
  pd->by_peer.e = dsb_mem_calloc(mem, hsize, sizeof(rpc_count));
  if (!pd->by_peer.e) {
    rv = DSB_ERR_NOMEM;
    goto fail_by_peer;
  }
  pd->by_peer.mask = hsize - 1;
  pd->by_session.e = dsb_mem_calloc(mem, hsize, sizeof(rpc_count));
  if (!pd->by_session.e) {
    rv = DSB_ERR_NOMEM;
    goto fail_by_session;
  }
  pd->by_session.mask = hsize - 1;
  pd->late = dsb_mem_calloc(mem, s.late_window, sizeof(*pd->late));
  if (!pd->late) {
    rv = DSB_ERR_NOMEM;
    goto fail_late;
  }
  rv = dsb_random(rng, rnd, sizeof(rnd));
  if (rv != 0) {
    goto fail_rng;
  }
  dsb_wire_get_u64be(rnd, &pd->next_nonce);
  dsb_wire_get_u64be(rnd + 8, &pd->hash_seed);

  for (uint32_t i = 0; i < s.max_calls; ++i) {
    pd->slots[i].next_free = i + 1 < s.max_calls ? i + 1 : RPC_NO_SLOT;
  }
  pd->free_head = 0;
  *ppending = pd;
  return 0;

fail_rng:
  dsb_mem_free(mem, pd->late);
fail_late:
  dsb_mem_free(mem, pd->by_session.e);
fail_by_session:
  dsb_mem_free(mem, pd->by_peer.e);
fail_by_peer:
  dsb_mem_free(mem, pd->heap);
fail_heap:
  dsb_mem_free(mem, pd->index);
fail_index:
  dsb_mem_free(mem, pd->slots);
fail_slots:
  dsb_mem_free(mem, pd);
  return rv;
}

void dsb_rpc_pending_del(dsb_rpc_pending *pd) {
  if (!pd) {
    return;
  }
  const dsb_mem *mem = pd->mem;
  dsb_mem_free(mem, pd->late);
  dsb_mem_free(mem, pd->by_session.e);
  dsb_mem_free(mem, pd->by_peer.e);
  dsb_mem_free(mem, pd->heap);
  dsb_mem_free(mem, pd->index);
  dsb_mem_free(mem, pd->slots);
  dsb_mem_free(mem, pd);
}

static void rpc_pending_tick(dsb_rpc_pending *pd, dsb_tstamp now) {
  /* Time is monotonic by contract (dsb/common.h). */
  assert(now >= pd->last_ts);
  if (now > pd->last_ts) {
    pd->last_ts = now;
  }
}

static uint64_t rpc_pending_alloc_nonce(dsb_rpc_pending *pd) {
  /* At most max_calls nonces are pending, so this loop ends within
   * max_calls + 2 steps even right after a wrap. */
  for (;;) {
    uint64_t n = pd->next_nonce++;
    if (n != 0 && rpc_index_find(pd, n) == RPC_NO_SLOT) {
      return n;
    }
  }
}

int dsb_rpc_pending_add(dsb_rpc_pending *pd, uint64_t *pnonce,
                        const dsb_device_id *peer, uint64_t session_id,
                        dsb_tstamp timeout, void *user, uint64_t tag,
                        dsb_tstamp now) {
  uint8_t skey[DSB_DEVICE_ID_LEN];

  if (!pd || !pnonce || !peer) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  rpc_pending_tick(pd, now);
  rpc_session_key(skey, session_id);
  if (pd->free_head == RPC_NO_SLOT ||
      rpc_count_get(pd, &pd->by_peer, peer->b) >= pd->s.max_calls_per_peer ||
      rpc_count_get(pd, &pd->by_session, skey) >= pd->s.max_calls_per_session) {
    pd->stats.refused_limit++;
    return DSB_ERR_PROXY_TOO_MANY_CALLS;
  }
  if (timeout == 0) {
    timeout = pd->s.default_timeout;
  }

  uint32_t slot = pd->free_head;
  rpc_slot *sl = &pd->slots[slot];
  pd->free_head = sl->next_free;
  memset(sl, 0, sizeof(*sl));
  sl->used = 1;
  sl->call.nonce = rpc_pending_alloc_nonce(pd);
  sl->call.session_id = session_id;
  sl->call.peer = *peer;
  sl->call.deadline = timeout > UINT64_MAX - now ? UINT64_MAX : now + timeout;
  sl->call.user = user;
  sl->call.tag = tag;
  rpc_index_insert(pd, slot);
  rpc_heap_push(pd, slot);
  rpc_count_inc(pd, &pd->by_peer, peer->b);
  rpc_count_inc(pd, &pd->by_session, skey);
  pd->stats.started++;
  pd->stats.in_flight++;
  *pnonce = sl->call.nonce;
  return 0;
}

/* Unlink |slot| from every structure, copy its call out, free it. */
static void rpc_pending_remove(dsb_rpc_pending *pd, uint32_t slot,
                               dsb_rpc_pending_call *out) {
  uint8_t skey[DSB_DEVICE_ID_LEN];
  rpc_slot *sl = &pd->slots[slot];

  if (out) {
    *out = sl->call;
  }
  rpc_index_remove(pd, sl->call.nonce);
  rpc_heap_remove(pd, sl->heap_idx);
  rpc_count_dec(pd, &pd->by_peer, sl->call.peer.b);
  rpc_session_key(skey, sl->call.session_id);
  rpc_count_dec(pd, &pd->by_session, skey);
  memset(sl, 0, sizeof(*sl));
  sl->next_free = pd->free_head;
  pd->free_head = slot;
  pd->stats.in_flight--;
}

/* Who answers: a session (|user| NULL) or a local client (|user|). */
typedef struct rpc_answerer {
  uint64_t session_id;
  const void *user;
} rpc_answerer;

static int rpc_pending_may_answer(const dsb_rpc_pending_call *c,
                                  const rpc_answerer *a) {
  return a->user ? c->user == a->user : c->session_id == a->session_id;
}

static int rpc_pending_in_late_ring(const dsb_rpc_pending *pd,
                                    const rpc_answerer *a, uint64_t nonce) {
  for (uint32_t i = 0; i < pd->late_len; ++i) {
    const rpc_late *l = &pd->late[i];
    if (l->nonce == nonce &&
        (a->user ? l->user == a->user : l->session_id == a->session_id)) {
      return 1;
    }
  }
  return 0;
}

/* Shared by both completions: |match| says whether the answerer may
 * answer the call in |slot|; |session_id| keys the late ring. */
static int rpc_pending_finish(dsb_rpc_pending *pd, dsb_rpc_pending_call *out,
                              const rpc_answerer *a, uint64_t nonce,
                              dsb_tstamp now) {
  rpc_pending_tick(pd, now);
  uint32_t slot = rpc_index_find(pd, nonce);
  if (slot == RPC_NO_SLOT ||
      !rpc_pending_may_answer(&pd->slots[slot].call, a)) {
    /* A nonce pending for someone else is not this answerer's to answer. */
    if (rpc_pending_in_late_ring(pd, a, nonce)) {
      pd->stats.replies_late++;
      return DSB_ERR_PROXY_LATE_REPLY;
    }
    pd->stats.replies_stale++;
    return DSB_ERR_PROXY_STALE_REPLY;
  }
  if (now >= pd->slots[slot].call.deadline) {
    /* Expired but not yet swept: the sweep reports the timeout. */
    pd->stats.replies_late++;
    return DSB_ERR_PROXY_LATE_REPLY;
  }
  rpc_pending_remove(pd, slot, out);
  pd->stats.completed++;
  return 0;
}

int dsb_rpc_pending_complete(dsb_rpc_pending *pd, dsb_rpc_pending_call *out,
                             uint64_t session_id, uint64_t nonce,
                             dsb_tstamp now) {
  if (!pd || !out) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  rpc_answerer a = {session_id, NULL};
  return rpc_pending_finish(pd, out, &a, nonce, now);
}

int dsb_rpc_pending_complete_user(dsb_rpc_pending *pd,
                                  dsb_rpc_pending_call *out, const void *user,
                                  uint64_t nonce, dsb_tstamp now) {
  if (!pd || !out || !user) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  rpc_answerer a = {0, user};
  return rpc_pending_finish(pd, out, &a, nonce, now);
}

dsb_tstamp dsb_rpc_pending_next_deadline(const dsb_rpc_pending *pd) {
  if (!pd || pd->heap_len == 0) {
    return UINT64_MAX;
  }
  return pd->slots[pd->heap[0]].call.deadline;
}

int dsb_rpc_pending_expire(dsb_rpc_pending *pd, dsb_rpc_pending_call *out,
                           dsb_tstamp now) {
  if (!pd || !out) {
    return 0;
  }
  rpc_pending_tick(pd, now);
  if (pd->heap_len == 0 || pd->slots[pd->heap[0]].call.deadline > now) {
    return 0;
  }
  uint32_t slot = pd->heap[0];
  rpc_pending_remove(pd, slot, out);
  pd->late[pd->late_next].session_id = out->session_id;
  pd->late[pd->late_next].nonce = out->nonce;
  pd->late[pd->late_next].user = out->user;
  pd->late_next = (pd->late_next + 1) % pd->s.late_window;
  if (pd->late_len < pd->s.late_window) {
    pd->late_len++;
  }
  pd->stats.timed_out++;
  return 1;
}

int dsb_rpc_pending_cancel(dsb_rpc_pending *pd, dsb_rpc_pending_call *out,
                           uint64_t nonce) {
  if (!pd) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  uint32_t slot = rpc_index_find(pd, nonce);
  if (slot == RPC_NO_SLOT) {
    return DSB_ERR_NOT_FOUND;
  }
  rpc_pending_remove(pd, slot, out);
  pd->stats.taken++;
  return 0;
}

int dsb_rpc_pending_take_session(dsb_rpc_pending *pd, dsb_rpc_pending_call *out,
                                 uint64_t session_id) {
  if (!pd) {
    return 0;
  }
  /* Linear in the live calls: runs once per closed session, not per call. */
  for (uint32_t i = 0; i < pd->heap_len; ++i) {
    uint32_t slot = pd->heap[i];
    if (pd->slots[slot].call.session_id == session_id) {
      rpc_pending_remove(pd, slot, out);
      pd->stats.taken++;
      return 1;
    }
  }
  return 0;
}

int dsb_rpc_pending_take_user(dsb_rpc_pending *pd, dsb_rpc_pending_call *out,
                              const void *user) {
  if (!pd) {
    return 0;
  }
  for (uint32_t i = 0; i < pd->heap_len; ++i) {
    uint32_t slot = pd->heap[i];
    if (pd->slots[slot].call.user == user) {
      rpc_pending_remove(pd, slot, out);
      pd->stats.taken++;
      return 1;
    }
  }
  return 0;
}

uint32_t dsb_rpc_pending_count(const dsb_rpc_pending *pd) {
  return pd ? pd->stats.in_flight : 0;
}

uint32_t dsb_rpc_pending_count_peer(const dsb_rpc_pending *pd,
                                    const dsb_device_id *peer) {
  if (!pd || !peer) {
    return 0;
  }
  return rpc_count_get(pd, &pd->by_peer, peer->b);
}

uint32_t dsb_rpc_pending_count_session(const dsb_rpc_pending *pd,
                                       uint64_t session_id) {
  uint8_t skey[DSB_DEVICE_ID_LEN];
  if (!pd) {
    return 0;
  }
  rpc_session_key(skey, session_id);
  return rpc_count_get(pd, &pd->by_session, skey);
}

void dsb_rpc_pending_get_stats(const dsb_rpc_pending *pd,
                               dsb_rpc_pending_stats *stats) {
  if (!pd || !stats) {
    return;
  }
  *stats = pd->stats;
}
