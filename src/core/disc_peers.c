/*
 * disc_peers.c - the discovery peer table (sans-IO): a bounded LRU of
 * verified announcements keyed by device id, with TTL expiry, per-device
 * replay rejection (plus tombstones for removed devices), a per-source token
 * bucket, and change events. docs/ARCHITECTURE.md, "Discovery".
 *
 * All storage is allocated once at creation; input never allocates. Tables
 * are small (default 256 peers), so lookups are linear scans.
 */
#include <string.h>

#include "dsb/disc.h"
#include "dsb/err.h"

typedef struct disc_source {
  uint8_t addr[DSB_DISC_ADDR_MAX];
  size_t addrlen;
  uint64_t utokens; /* tokens * 1e6 */
  dsb_tstamp last;  /* last refill, also the LRU key */
  int used;
} disc_source;

/* The last sequence number of a device that left the table, so a captured
 * old announcement cannot bring it back while the tombstone lives. */
typedef struct disc_tomb {
  dsb_device_id id;
  uint64_t seq;
  dsb_tstamp until;
  int used;
} disc_tomb;

struct dsb_disc_peers {
  dsb_mem mem;
  dsb_disc_peers_settings set;
  dsb_disc_peers_event_fn cb;
  void *cbctx;
  dsb_disc_peer *peers; /* [0, npeers) in use, unordered */
  size_t npeers;
  disc_source *sources;
  disc_tomb *tombs; /* set.capacity entries */
  dsb_device_id self;
  int have_self;
  dsb_tstamp last_ts;
};

#define DISC_UTOKENS_PER_TOKEN UINT64_C(1000000)

void dsb_disc_peers_settings_default(dsb_disc_peers_settings *s) {
  s->capacity = DSB_DISC_DEFAULT_CAPACITY;
  s->max_sources = DSB_DISC_DEFAULT_MAX_SOURCES;
  s->rate_per_s = DSB_DISC_DEFAULT_RATE_PER_S;
  s->burst = DSB_DISC_DEFAULT_BURST;
  s->max_ttl_s = DSB_DISC_DEFAULT_MAX_TTL_S;
  s->tombstone_s = DSB_DISC_DEFAULT_TOMBSTONE_S;
}

int dsb_disc_peers_new(dsb_disc_peers **ptab, const dsb_disc_peers_settings *s,
                       dsb_disc_peers_event_fn cb, void *cbctx,
                       const dsb_mem *mem) {
  dsb_disc_peers_settings def;
  dsb_disc_peers *tab;

  if (!ptab) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (!s) {
    dsb_disc_peers_settings_default(&def);
    s = &def;
  }
  /* Caps keep the preallocated arrays and the token arithmetic in range. */
  if (s->capacity == 0 || s->capacity > 65536 || s->max_sources == 0 ||
      s->max_sources > 65536 || s->rate_per_s == 0 || s->rate_per_s > 1000000 ||
      s->burst == 0 || s->burst > 1000000) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  mem = mem ? mem : dsb_mem_default();
  tab = dsb_mem_calloc(mem, 1, sizeof(*tab));
  if (!tab) {
    goto fail_tab;
  }
  tab->mem = *mem;
  tab->set = *s;
  tab->cb = cb;
  tab->cbctx = cbctx;
  tab->peers = dsb_mem_calloc(mem, s->capacity, sizeof(*tab->peers));
  if (!tab->peers) {
    goto fail_peers;
  }
  tab->sources = dsb_mem_calloc(mem, s->max_sources, sizeof(*tab->sources));
  if (!tab->sources) {
    goto fail_sources;
  }
  tab->tombs = dsb_mem_calloc(mem, s->capacity, sizeof(*tab->tombs));
  if (!tab->tombs) {
    goto fail_tombs;
  }
  *ptab = tab;
  return 0;

fail_tombs:
  dsb_mem_free(mem, tab->sources);
fail_sources:
  dsb_mem_free(mem, tab->peers);
fail_peers:
  dsb_mem_free(mem, tab);
fail_tab:
  return DSB_ERR_NOMEM;
}

void dsb_disc_peers_del(dsb_disc_peers *tab) {
  if (!tab) {
    return;
  }
  dsb_mem mem = tab->mem;
  dsb_mem_free(&mem, tab->tombs);
  dsb_mem_free(&mem, tab->sources);
  dsb_mem_free(&mem, tab->peers);
  dsb_mem_free(&mem, tab);
}

void dsb_disc_peers_set_self(dsb_disc_peers *tab, const dsb_device_id *self) {
  tab->self = *self;
  tab->have_self = 1;
}

/* Time never goes back inside the table: a smaller |ts| counts as the last
 * one seen, so a caller's clock hiccup cannot resurrect or expire peers. */
static dsb_tstamp disc_peers_now(dsb_disc_peers *tab, dsb_tstamp ts) {
  if (ts < tab->last_ts) {
    return tab->last_ts;
  }
  tab->last_ts = ts;
  return ts;
}

static int disc_peers_call(dsb_disc_peers *tab, dsb_disc_event_type ev,
                           dsb_disc_gone_reason reason,
                           const dsb_disc_peer *peer) {
  if (!tab->cb) {
    return 0;
  }
  return tab->cb(tab->cbctx, ev, reason, peer) != 0 ? DSB_ERR_CALLBACK_FAILURE
                                                    : 0;
}

/* ---- rate limiter -------------------------------------------------------- */

static void disc_bucket_refill(const dsb_disc_peers *tab, disc_source *s,
                               dsb_tstamp ts) {
  uint64_t cap = (uint64_t)tab->set.burst * DISC_UTOKENS_PER_TOKEN;
  uint64_t el = ts - s->last;
  /* rate_per_s tokens per 1e9 ns = rate_per_s utokens per 1e3 ns; beyond
   * 1000 s any bucket is full (and the product could overflow). */
  if (el >= UINT64_C(1000) * DSB_NS_PER_S) {
    s->utokens = cap;
  } else {
    uint64_t add = (el / 1000) * tab->set.rate_per_s;
    s->utokens = (add >= cap - s->utokens) ? cap : s->utokens + add;
  }
  s->last = ts;
}

int dsb_disc_peers_admit(dsb_disc_peers *tab, const uint8_t *src, size_t srclen,
                         dsb_tstamp ts) {
  disc_source *s = NULL, *free_slot = NULL, *oldest = NULL;

  if (srclen > DSB_DISC_ADDR_MAX || (srclen && !src)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  ts = disc_peers_now(tab, ts);
  for (size_t i = 0; i < tab->set.max_sources; ++i) {
    disc_source *c = &tab->sources[i];
    if (!c->used) {
      if (!free_slot) {
        free_slot = c;
      }
    } else if (c->addrlen == srclen &&
               (srclen == 0 || memcmp(c->addr, src, srclen) == 0)) {
      s = c;
      break;
    } else if (!oldest || c->last < oldest->last) {
      oldest = c;
    }
  }
  if (!s) {
    /* A new source replaces the least recently active one with a full
     * bucket. Spoofed sources can cycle the table; the per-source limit
     * is against noisy or buggy senders, not a determined flooder
     * (docs/SECURITY.md, "Discovery"). */
    s = free_slot ? free_slot : oldest;
    if (!s) {
      return DSB_ERR_INTERNAL; /* max_sources >= 1 is checked at creation */
    }
    memset(s, 0, sizeof(*s));
    if (srclen) {
      memcpy(s->addr, src, srclen); /* |src| may be NULL when srclen is 0 */
    }
    s->addrlen = srclen;
    s->utokens = (uint64_t)tab->set.burst * DISC_UTOKENS_PER_TOKEN;
    s->last = ts;
    s->used = 1;
  } else {
    disc_bucket_refill(tab, s, ts);
  }
  if (s->utokens < DISC_UTOKENS_PER_TOKEN) {
    return DSB_ERR_DISC_RATE_LIMITED;
  }
  s->utokens -= DISC_UTOKENS_PER_TOKEN;
  return 0;
}

/* ---- tombstones ---------------------------------------------------------- */

static disc_tomb *disc_tomb_find(dsb_disc_peers *tab, const dsb_device_id *id,
                                 dsb_tstamp ts) {
  for (size_t i = 0; i < tab->set.capacity; ++i) {
    disc_tomb *t = &tab->tombs[i];
    if (t->used && t->until > ts &&
        memcmp(t->id.b, id->b, DSB_DEVICE_ID_LEN) == 0) {
      return t;
    }
  }
  return NULL;
}

static void disc_tomb_forget(dsb_disc_peers *tab, const dsb_device_id *id) {
  for (size_t i = 0; i < tab->set.capacity; ++i) {
    disc_tomb *t = &tab->tombs[i];
    if (t->used && memcmp(t->id.b, id->b, DSB_DEVICE_ID_LEN) == 0) {
      t->used = 0;
    }
  }
}

static void disc_tomb_put(dsb_disc_peers *tab, const dsb_device_id *id,
                          uint64_t seq, dsb_tstamp ts) {
  disc_tomb *slot = NULL;
  uint64_t keep = (uint64_t)tab->set.tombstone_s * DSB_NS_PER_S;
  if (keep == 0) {
    return;
  }
  for (size_t i = 0; i < tab->set.capacity && !slot; ++i) {
    disc_tomb *t = &tab->tombs[i];
    if (t->used && memcmp(t->id.b, id->b, DSB_DEVICE_ID_LEN) == 0) {
      slot = t;
      if (t->until > ts && t->seq > seq) {
        seq = t->seq;
      }
    }
  }
  /* Else a free or dead slot, else the one that would die first. */
  for (size_t i = 0; i < tab->set.capacity && !slot; ++i) {
    disc_tomb *t = &tab->tombs[i];
    if (!t->used || t->until <= ts) {
      slot = t;
    }
  }
  if (!slot) {
    slot = &tab->tombs[0];
    for (size_t i = 1; i < tab->set.capacity; ++i) {
      if (tab->tombs[i].until < slot->until) {
        slot = &tab->tombs[i];
      }
    }
  }
  slot->id = *id;
  slot->seq = seq;
  slot->until = ts + keep;
  slot->used = 1;
}

/* ---- peers --------------------------------------------------------------- */

static dsb_disc_peer *disc_peers_find(const dsb_disc_peers *tab,
                                      const dsb_device_id *id) {
  for (size_t i = 0; i < tab->npeers; ++i) {
    if (memcmp(tab->peers[i].ann.id.b, id->b, DSB_DEVICE_ID_LEN) == 0) {
      return &tab->peers[i];
    }
  }
  return NULL;
}

/* Remove |p| (swap with the last entry), remember |seq| (its last seq, or
 * the goodbye's), then emit GONE with a copy of the entry as it was. */
static int disc_peers_drop(dsb_disc_peers *tab, dsb_disc_peer *p,
                           dsb_disc_gone_reason reason, uint64_t seq,
                           dsb_tstamp ts) {
  dsb_disc_peer gone = *p;
  size_t last = tab->npeers - 1;
  if (p != &tab->peers[last]) {
    *p = tab->peers[last];
  }
  memset(&tab->peers[last], 0, sizeof(tab->peers[last]));
  tab->npeers = last;
  disc_tomb_put(tab, &gone.ann.id, seq, ts);
  return disc_peers_call(tab, DSB_DISC_PEER_GONE, reason, &gone);
}

static dsb_tstamp disc_expiry(const dsb_disc_peers *tab, uint16_t ttl_s,
                              dsb_tstamp ts) {
  uint64_t ttl = ttl_s;
  if (ttl > tab->set.max_ttl_s) {
    ttl = tab->set.max_ttl_s;
  }
  return ts + ttl * DSB_NS_PER_S;
}

/* Content a listener cares about; seq and TTL alone are a refresh. */
static int disc_ann_changed(const dsb_disc_announce *a,
                            const dsb_disc_announce *b) {
  if (a->session_port != b->session_port || a->name_len != b->name_len ||
      a->nservices != b->nservices ||
      memcmp(a->name, b->name, a->name_len) != 0 ||
      memcmp(&a->proof, &b->proof, sizeof(a->proof)) != 0) {
    return 1;
  }
  for (size_t i = 0; i < a->nservices; ++i) {
    if (a->service_len[i] != b->service_len[i] ||
        memcmp(a->services[i], b->services[i], a->service_len[i]) != 0) {
      return 1;
    }
  }
  return 0;
}

int dsb_disc_peers_input(dsb_disc_peers *tab, const uint8_t *in, size_t inlen,
                         const uint8_t *src, size_t srclen, dsb_tstamp ts) {
  dsb_disc_announce ann;
  dsb_disc_peer *p;
  int rv;

  if (srclen > DSB_DISC_ADDR_MAX || (srclen && !src) || (inlen && !in)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  ts = disc_peers_now(tab, ts);
  rv = dsb_disc_peers_admit(tab, src, srclen, ts);
  if (rv != 0) {
    return rv;
  }
  rv = dsb_disc_announce_parse(&ann, in, inlen);
  if (rv != 0) {
    return rv;
  }
  if (tab->have_self && memcmp(ann.id.b, tab->self.b, DSB_DEVICE_ID_LEN) == 0) {
    return DSB_ERR_DISC_SELF;
  }
  /* Replay check before the signature checks: it changes nothing and
   * saves two Ed25519 verifications on every duplicate. */
  p = disc_peers_find(tab, &ann.id);
  if (p) {
    if (ann.seq <= p->ann.seq) {
      return DSB_ERR_DISC_REPLAY;
    }
  } else {
    disc_tomb *t = disc_tomb_find(tab, &ann.id, ts);
    if (t && ann.seq <= t->seq) {
      return DSB_ERR_DISC_REPLAY;
    }
  }
  rv = dsb_disc_announce_verify(&ann, in, inlen);
  if (rv != 0) {
    return rv;
  }

  /* Verified and strictly newer: commit. */
  if (ann.ttl_s == 0) {
    if (p) {
      return disc_peers_drop(tab, p, DSB_DISC_GONE_GOODBYE, ann.seq, ts);
    }
    disc_tomb_put(tab, &ann.id, ann.seq, ts);
    return 0;
  }
  if (p) {
    int changed = disc_ann_changed(&p->ann, &ann) || p->addrlen != srclen ||
                  memcmp(p->addr, src, srclen) != 0;
    p->ann = ann;
    memset(p->addr, 0, sizeof(p->addr));
    memcpy(p->addr, src, srclen);
    p->addrlen = srclen;
    p->last_seen = ts;
    p->expires = disc_expiry(tab, ann.ttl_s, ts);
    return changed ? disc_peers_call(tab, DSB_DISC_PEER_UPDATED,
                                     DSB_DISC_GONE_NONE, p)
                   : 0;
  }
  int cbrv = 0;
  if (tab->npeers == tab->set.capacity) {
    /* Full: evict the least recently seen. Only verified announcements
     * refresh last_seen, so forgeries and replays cannot protect an
     * entry or push out a live one without a valid key of their own. */
    dsb_disc_peer *lru = &tab->peers[0];
    for (size_t i = 1; i < tab->npeers; ++i) {
      if (tab->peers[i].last_seen < lru->last_seen) {
        lru = &tab->peers[i];
      }
    }
    cbrv = disc_peers_drop(tab, lru, DSB_DISC_GONE_EVICTED, lru->ann.seq, ts);
  }
  disc_tomb_forget(tab, &ann.id);
  p = &tab->peers[tab->npeers++];
  memset(p, 0, sizeof(*p));
  p->ann = ann;
  memcpy(p->addr, src, srclen);
  p->addrlen = srclen;
  p->first_seen = ts;
  p->last_seen = ts;
  p->expires = disc_expiry(tab, ann.ttl_s, ts);
  rv = disc_peers_call(tab, DSB_DISC_PEER_UP, DSB_DISC_GONE_NONE, p);
  return cbrv ? cbrv : rv;
}

int dsb_disc_peers_expire(dsb_disc_peers *tab, dsb_tstamp ts) {
  int n = 0, cbrv = 0;
  ts = disc_peers_now(tab, ts);
  size_t i = 0;
  while (i < tab->npeers) {
    if (tab->peers[i].expires <= ts) {
      /* drop() moves the last entry into slot i: do not advance. */
      int rv = disc_peers_drop(tab, &tab->peers[i], DSB_DISC_GONE_EXPIRED,
                               tab->peers[i].ann.seq, ts);
      if (rv != 0) {
        cbrv = rv;
      }
      ++n;
    } else {
      ++i;
    }
  }
  return cbrv ? cbrv : n;
}

dsb_tstamp dsb_disc_peers_next_expiry(const dsb_disc_peers *tab) {
  dsb_tstamp next = UINT64_MAX;
  for (size_t i = 0; i < tab->npeers; ++i) {
    if (tab->peers[i].expires < next) {
      next = tab->peers[i].expires;
    }
  }
  return next;
}

int dsb_disc_peers_remove(dsb_disc_peers *tab, const dsb_device_id *id,
                          dsb_tstamp ts) {
  ts = disc_peers_now(tab, ts);
  dsb_disc_peer *p = disc_peers_find(tab, id);
  if (!p) {
    return DSB_ERR_NOT_FOUND;
  }
  return disc_peers_drop(tab, p, DSB_DISC_GONE_REMOVED, p->ann.seq, ts);
}

const dsb_disc_peer *dsb_disc_peers_get(const dsb_disc_peers *tab,
                                        const dsb_device_id *id) {
  return disc_peers_find(tab, id);
}

size_t dsb_disc_peers_count(const dsb_disc_peers *tab) {
  return tab->npeers;
}

const dsb_disc_peer *dsb_disc_peers_next(const dsb_disc_peers *tab,
                                         size_t *cursor) {
  if (*cursor >= tab->npeers) {
    return NULL;
  }
  return &tab->peers[(*cursor)++];
}

const dsb_disc_peer *dsb_disc_peers_next_offering(const dsb_disc_peers *tab,
                                                  size_t *cursor,
                                                  const char *name,
                                                  size_t len) {
  const dsb_disc_peer *p;
  while ((p = dsb_disc_peers_next(tab, cursor)) != NULL) {
    if (dsb_disc_announce_offers(&p->ann, name, len)) {
      return p;
    }
  }
  return NULL;
}

int dsb_disc_peers_endpoint(const dsb_disc_peers *tab, const dsb_device_id *id,
                            dsb_disc_endpoint *ep) {
  const dsb_disc_peer *p = disc_peers_find(tab, id);
  if (!p) {
    return DSB_ERR_NOT_FOUND;
  }
  memset(ep, 0, sizeof(*ep));
  ep->id = p->ann.id;
  memcpy(ep->addr, p->addr, p->addrlen);
  ep->addrlen = p->addrlen;
  ep->session_port = p->ann.session_port;
  memcpy(ep->static_pk, p->ann.proof.static_pk, DSB_X25519_KEY_LEN);
  return 0;
}
