/*
 * proof_cache.c - bounded LRU of verified identity proofs
 * (include/dsb/proof_cache.h).
 *
 * Layout: one preallocated array of entries, a doubly linked LRU list and
 * singly linked hash chains threaded through it by index, and a bucket
 * array (a power of two, at least the capacity).
 */
#include <string.h>

#include "dsb/crypto.h"
#include "dsb/err.h"
#include "dsb/proof_cache.h"

#define PROOF_CACHE_NIL UINT32_MAX

typedef struct proof_cache_entry {
  dsb_identity_proof proof;
  dsb_device_id id;
  uint32_t lru_prev; /* towards the most recently used end */
  uint32_t lru_next; /* towards the least recently used end */
  uint32_t hnext;    /* next in the same bucket */
} proof_cache_entry;

struct dsb_proof_cache {
  const dsb_mem *mem;
  proof_cache_entry *entries;
  uint32_t *buckets;
  uint32_t capacity;
  uint32_t nbuckets; /* power of two */
  uint32_t count;    /* entries [0, count) are in use */
  uint32_t head;     /* most recently used */
  uint32_t tail;     /* least recently used */
  dsb_proof_cache_stats stats;
};

int dsb_proof_cache_new(dsb_proof_cache **pcache, const dsb_mem *mem,
                        size_t capacity) {
  dsb_proof_cache *c;
  uint32_t nb = 1;

  if (!pcache || capacity > DSB_PROOF_CACHE_MAX_CAPACITY) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (capacity == 0) {
    capacity = DSB_PROOF_CACHE_DEFAULT_CAPACITY;
  }
  while (nb < capacity) {
    nb <<= 1;
  }
  c = dsb_mem_calloc(mem, 1, sizeof(*c));
  if (!c) {
    goto fail_cache;
  }
  c->entries = dsb_mem_calloc(mem, capacity, sizeof(*c->entries));
  if (!c->entries) {
    goto fail_entries;
  }
  c->buckets = dsb_mem_malloc(mem, nb * sizeof(*c->buckets));
  if (!c->buckets) {
    goto fail_buckets;
  }
  c->mem = mem;
  c->capacity = (uint32_t)capacity;
  c->nbuckets = nb;
  dsb_proof_cache_clear(c);
  *pcache = c;
  return 0;

fail_buckets:
  dsb_mem_free(mem, c->entries);
fail_entries:
  dsb_mem_free(mem, c);
fail_cache:
  return DSB_ERR_NOMEM;
}

void dsb_proof_cache_del(dsb_proof_cache *cache) {
  if (!cache) {
    return;
  }
  dsb_mem_free(cache->mem, cache->buckets);
  dsb_mem_free(cache->mem, cache->entries);
  dsb_mem_free(cache->mem, cache);
}

void dsb_proof_cache_clear(dsb_proof_cache *cache) {
  if (!cache) {
    return;
  }
  for (uint32_t i = 0; i < cache->nbuckets; ++i) {
    cache->buckets[i] = PROOF_CACHE_NIL;
  }
  cache->count = 0;
  cache->head = PROOF_CACHE_NIL;
  cache->tail = PROOF_CACHE_NIL;
}

size_t dsb_proof_cache_count(const dsb_proof_cache *cache) {
  return cache ? cache->count : 0;
}

size_t dsb_proof_cache_capacity(const dsb_proof_cache *cache) {
  return cache ? cache->capacity : 0;
}

void dsb_proof_cache_get_stats(const dsb_proof_cache *cache,
                               dsb_proof_cache_stats *stats) {
  if (!stats) {
    return;
  }
  if (!cache) {
    memset(stats, 0, sizeof(*stats));
    return;
  }
  *stats = cache->stats;
}

/* Bucket of a proof: bytes from all three fields, so proofs that share a
 * device key (a re-issued static key) still spread out. */
static uint32_t proof_cache_bucket(const dsb_proof_cache *c,
                                   const dsb_identity_proof *p) {
  uint32_t h = 0;
  for (int i = 0; i < 4; ++i) {
    h = (h << 8) | (uint8_t)(p->ed_pk[i] ^ p->static_pk[i] ^ p->cert[i]);
  }
  return h & (c->nbuckets - 1);
}

static void proof_cache_lru_unlink(dsb_proof_cache *c, uint32_t i) {
  proof_cache_entry *e = &c->entries[i];

  if (e->lru_prev != PROOF_CACHE_NIL) {
    c->entries[e->lru_prev].lru_next = e->lru_next;
  } else {
    c->head = e->lru_next;
  }
  if (e->lru_next != PROOF_CACHE_NIL) {
    c->entries[e->lru_next].lru_prev = e->lru_prev;
  } else {
    c->tail = e->lru_prev;
  }
}

static void proof_cache_lru_push_front(dsb_proof_cache *c, uint32_t i) {
  proof_cache_entry *e = &c->entries[i];

  e->lru_prev = PROOF_CACHE_NIL;
  e->lru_next = c->head;
  if (c->head != PROOF_CACHE_NIL) {
    c->entries[c->head].lru_prev = i;
  }
  c->head = i;
  if (c->tail == PROOF_CACHE_NIL) {
    c->tail = i;
  }
}

static void proof_cache_hash_unlink(dsb_proof_cache *c, uint32_t i) {
  uint32_t *link = &c->buckets[proof_cache_bucket(c, &c->entries[i].proof)];

  while (*link != PROOF_CACHE_NIL) {
    if (*link == i) {
      *link = c->entries[i].hnext;
      return;
    }
    link = &c->entries[*link].hnext;
  }
}

static uint32_t proof_cache_find(const dsb_proof_cache *c,
                                 const dsb_identity_proof *proof) {
  uint32_t i = c->buckets[proof_cache_bucket(c, proof)];

  for (; i != PROOF_CACHE_NIL; i = c->entries[i].hnext) {
    /* The whole triple, in constant time: a hit must mean "these exact
     * bytes verified before". */
    if (dsb_ct_memeq(&c->entries[i].proof, proof, sizeof(*proof))) {
      return i;
    }
  }
  return PROOF_CACHE_NIL;
}

int dsb_proof_cache_lookup(dsb_proof_cache *cache,
                           const dsb_identity_proof *proof, dsb_device_id *id) {
  uint32_t i;

  if (!cache || !proof || !id) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  i = proof_cache_find(cache, proof);
  if (i == PROOF_CACHE_NIL) {
    cache->stats.misses++;
    return DSB_ERR_NOT_FOUND;
  }
  cache->stats.hits++;
  if (cache->head != i) {
    proof_cache_lru_unlink(cache, i);
    proof_cache_lru_push_front(cache, i);
  }
  *id = cache->entries[i].id;
  return 0;
}

/* Remember a verified proof (not present yet) as most recently used. */
static void proof_cache_insert(dsb_proof_cache *c,
                               const dsb_identity_proof *proof,
                               const dsb_device_id *id) {
  uint32_t i, b;

  if (c->count < c->capacity) {
    i = c->count++;
  } else {
    i = c->tail;
    proof_cache_lru_unlink(c, i);
    proof_cache_hash_unlink(c, i);
    c->stats.evictions++;
  }
  c->entries[i].proof = *proof;
  c->entries[i].id = *id;
  b = proof_cache_bucket(c, proof);
  c->entries[i].hnext = c->buckets[b];
  c->buckets[b] = i;
  proof_cache_lru_push_front(c, i);
}

int dsb_proof_cache_verify(dsb_proof_cache *cache,
                           const dsb_identity_proof *proof, dsb_device_id *id) {
  dsb_device_id verified;
  int rv;

  if (!proof || !id) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (!cache) {
    return dsb_identity_proof_verify(proof, id);
  }
  if (dsb_proof_cache_lookup(cache, proof, id) == 0) {
    return 0;
  }
  cache->stats.verifies++;
  rv = dsb_identity_proof_verify(proof, &verified);
  if (rv != 0) {
    cache->stats.rejects++;
    return rv;
  }
  proof_cache_insert(cache, proof, &verified);
  *id = verified;
  return 0;
}
