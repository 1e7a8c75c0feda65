/*
 * dsb/proof_cache.h - verified-proof cache: a bounded LRU of identity
 * proofs (ed_pk, static_pk, cert) that already passed
 * dsb_identity_proof_verify(), each with the device id it proves. A later
 * handshake presenting the identical triple skips the Ed25519 verify.
 *
 * Safety argument: verification is a pure function of the 128-byte triple,
 * so a hit on the byte-identical triple (compared in full, in constant
 * time) gives the answer the verify would give. Any change to any byte is a
 * miss and goes through the full verify. Only successful verifies are
 * cached; failures are never remembered (an attacker cannot pin a "bad"
 * answer for a genuine proof). The cache says nothing about trust: callers
 * still run dsb_trust_check() on the id.
 *
 * Lookups hash a few bytes of the proof to a bucket; the chains are bounded
 * by the capacity, so a peer that grinds keys into one bucket costs at most
 * |capacity| 128-byte compares per lookup.
 *
 * Sans-IO, no global state: each cache is an object. All memory is
 * allocated at creation; verify and lookup allocate nothing.
 * Thread safety: not thread-safe (a lookup reorders the LRU list); lock
 * around a cache shared by threads.
 */
#ifndef DSB_PROOF_CACHE_H
#define DSB_PROOF_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "dsb/common.h"
#include "dsb/identity.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DSB_PROOF_CACHE_DEFAULT_CAPACITY 256 /* entries, when 0 is given */
#define DSB_PROOF_CACHE_MAX_CAPACITY 65536

typedef struct dsb_proof_cache dsb_proof_cache;

/* Counters since creation (dsb_proof_cache_clear() keeps them). */
typedef struct dsb_proof_cache_stats {
  uint64_t hits;      /* verify or lookup answered from the cache */
  uint64_t misses;    /* not in the cache */
  uint64_t verifies;  /* calls of dsb_identity_proof_verify() made */
  uint64_t rejects;   /* of those, how many failed */
  uint64_t evictions; /* least recently used entries dropped */
} dsb_proof_cache_stats;

/*
 * New empty cache of |capacity| entries (0: the default 256).
 * Errors: DSB_ERR_INVALID_ARGUMENT (over DSB_PROOF_CACHE_MAX_CAPACITY),
 * DSB_ERR_NOMEM.
 */
DSB_MUST_CHECK int dsb_proof_cache_new(dsb_proof_cache **pcache,
                                       const dsb_mem *mem, size_t capacity);

/* NULL is a no-op. */
void dsb_proof_cache_del(dsb_proof_cache *cache);

/*
 * Verify |proof| and output the device id it proves: from the cache when
 * the identical triple was verified before (it becomes most recently
 * used), else by dsb_identity_proof_verify(), caching a success (evicting
 * the least recently used entry when full). A NULL |cache| just verifies.
 * |*id| is written only on success.
 * Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_IDENTITY_BAD_CERT,
 * DSB_ERR_CRYPTO.
 */
DSB_MUST_CHECK int dsb_proof_cache_verify(dsb_proof_cache *cache,
                                          const dsb_identity_proof *proof,
                                          dsb_device_id *id);

/*
 * Look |proof| up without verifying: 0 and |*id| on a hit (it becomes most
 * recently used). Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_NOT_FOUND.
 */
DSB_MUST_CHECK int dsb_proof_cache_lookup(dsb_proof_cache *cache,
                                          const dsb_identity_proof *proof,
                                          dsb_device_id *id);

/* Drop every entry. */
void dsb_proof_cache_clear(dsb_proof_cache *cache);

size_t dsb_proof_cache_count(const dsb_proof_cache *cache);
size_t dsb_proof_cache_capacity(const dsb_proof_cache *cache);
void dsb_proof_cache_get_stats(const dsb_proof_cache *cache,
                               dsb_proof_cache_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* DSB_PROOF_CACHE_H */
