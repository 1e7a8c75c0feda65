/*
 * dsb/crypto.h - the crypto layer: thin, allocation-aware wrappers over
 * OpenSSL 3 libcrypto. No primitive is implemented here by hand.
 *
 * Thread safety: stateless functions are thread-safe. A dsb_aead is not:
 * use one per direction per session. Digest and cipher implementations are
 * fetched once (first use) and shared read-only afterwards.
 *
 * Secrets: every function that handles key material wipes its temporaries.
 * dsb_aead_del() wipes the key it holds. Callers wipe their own buffers with
 * dsb_wipe().
 */
#ifndef DSB_CRYPTO_H
#define DSB_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "dsb/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DSB_X25519_KEY_LEN 32
#define DSB_ED25519_SEED_LEN 32 /* the private key is its 32-byte seed */
#define DSB_ED25519_PK_LEN 32
#define DSB_ED25519_SIG_LEN 64
#define DSB_AEAD_KEY_LEN 32
#define DSB_AEAD_TAG_LEN 16
#define DSB_HASH_MAX_LEN 64
#define DSB_HASH_MAX_BLOCK_LEN 128

typedef enum dsb_cipher_id {
  DSB_CIPHER_CHACHAPOLY = 0, /* Noise "ChaChaPoly": nonce 4 zero bytes, u64le */
  DSB_CIPHER_AESGCM = 1      /* Noise "AESGCM": nonce 4 zero bytes, u64be */
} dsb_cipher_id;

typedef enum dsb_hash_id {
  DSB_HASH_BLAKE2S = 0, /* 32-byte output, 64-byte block */
  DSB_HASH_BLAKE2B = 1, /* 64-byte output, 128-byte block */
  DSB_HASH_SHA256 = 2,  /* 32-byte output, 64-byte block */
  DSB_HASH_SHA512 = 3   /* 64-byte output, 128-byte block */
} dsb_hash_id;

/* A borrowed byte range, for hashing several pieces without copying. */
typedef struct dsb_iov {
  const uint8_t *base;
  size_t len;
} dsb_iov;

/* ---- utilities ---------------------------------------------------------- */

/* Wipe |len| bytes at |p| in a way the compiler cannot elide. */
void dsb_wipe(void *p, size_t len);

/* Constant-time equality: 1 if equal, 0 otherwise. */
int dsb_ct_memeq(const void *a, const void *b, size_t len);

/* 1 if all |len| bytes are zero (constant time), else 0. */
int dsb_ct_is_zero(const void *p, size_t len);

/* ---- randomness --------------------------------------------------------- */

/* The CSPRNG (OpenSSL RAND_bytes). ctx is ignored. */
int dsb_rng_default_fn(void *ctx, uint8_t *buf, size_t len);

/* A dsb_rng wired to dsb_rng_default_fn. */
dsb_rng dsb_rng_default(void);

/* Fill |buf| from |rng| (NULL: the default CSPRNG).
 * Errors: DSB_ERR_CRYPTO_RNG. */
DSB_MUST_CHECK int dsb_random(const dsb_rng *rng, uint8_t *buf, size_t len);

/* ---- X25519 ------------------------------------------------------------- */

/* Generate a key pair from |rng|. Errors: DSB_ERR_CRYPTO_RNG, DSB_ERR_CRYPTO */
DSB_MUST_CHECK int dsb_x25519_keygen(const dsb_rng *rng,
                                     uint8_t sk[static DSB_X25519_KEY_LEN],
                                     uint8_t pk[static DSB_X25519_KEY_LEN]);

/* Public key of |sk|. Errors: DSB_ERR_CRYPTO */
DSB_MUST_CHECK int
dsb_x25519_pubkey(uint8_t pk[static DSB_X25519_KEY_LEN],
                  const uint8_t sk[static DSB_X25519_KEY_LEN]);

/* out = X25519(sk, pk). Errors: DSB_ERR_CRYPTO_DH_ZERO when the result is
 * all zero (low-order peer key), DSB_ERR_CRYPTO. |out| is wiped on error. */
DSB_MUST_CHECK int dsb_x25519_dh(uint8_t out[static DSB_X25519_KEY_LEN],
                                 const uint8_t sk[static DSB_X25519_KEY_LEN],
                                 const uint8_t pk[static DSB_X25519_KEY_LEN]);

/*
 * out = X25519(sk, pk) for a caller that knows |sk_pub|, the public key of
 * |sk| (from dsb_x25519_keygen or a stored identity). It is trusted, not
 * checked: deriving it again is what this variant saves, about half the
 * cost of dsb_x25519_dh. A wrong |sk_pub| does not change |out| (only |sk|
 * enters the computation) but misleads whoever the caller shows it to.
 * Errors: as dsb_x25519_dh.
 */
DSB_MUST_CHECK int
dsb_x25519_dh_keypair(uint8_t out[static DSB_X25519_KEY_LEN],
                      const uint8_t sk[static DSB_X25519_KEY_LEN],
                      const uint8_t sk_pub[static DSB_X25519_KEY_LEN],
                      const uint8_t pk[static DSB_X25519_KEY_LEN]);

/* ---- Ed25519 ------------------------------------------------------------ */

/* Errors: DSB_ERR_CRYPTO_RNG, DSB_ERR_CRYPTO */
DSB_MUST_CHECK int dsb_ed25519_keygen(const dsb_rng *rng,
                                      uint8_t seed[static DSB_ED25519_SEED_LEN],
                                      uint8_t pk[static DSB_ED25519_PK_LEN]);

/* Errors: DSB_ERR_CRYPTO */
DSB_MUST_CHECK int
dsb_ed25519_pubkey(uint8_t pk[static DSB_ED25519_PK_LEN],
                   const uint8_t seed[static DSB_ED25519_SEED_LEN]);

/* Errors: DSB_ERR_CRYPTO */
DSB_MUST_CHECK int
dsb_ed25519_sign(uint8_t sig[static DSB_ED25519_SIG_LEN],
                 const uint8_t seed[static DSB_ED25519_SEED_LEN],
                 const uint8_t *msg, size_t msglen);

/* 0 if |sig| is a valid signature of |msg| by |pk|.
 * Errors: DSB_ERR_CRYPTO_BAD_SIGNATURE (also for a malformed key). */
DSB_MUST_CHECK int
dsb_ed25519_verify(const uint8_t sig[static DSB_ED25519_SIG_LEN],
                   const uint8_t pk[static DSB_ED25519_PK_LEN],
                   const uint8_t *msg, size_t msglen);

/* ---- hashes, HMAC, Noise HKDF ------------------------------------------- */

/* Output length (HASHLEN) and block length of |id|; 0 for an unknown id. */
size_t dsb_hash_len(dsb_hash_id id);
size_t dsb_hash_block_len(dsb_hash_id id);

/* out = HASH(iov[0] || iov[1] || ...). |out| holds dsb_hash_len(id) bytes.
 * Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_CRYPTO */
DSB_MUST_CHECK int dsb_hash(dsb_hash_id id, uint8_t *out, const dsb_iov *iov,
                            size_t iovcnt);

/* out = HMAC-HASH(key, iov...). Errors: DSB_ERR_INVALID_ARGUMENT,
 * DSB_ERR_CRYPTO */
DSB_MUST_CHECK int dsb_hmac(dsb_hash_id id, uint8_t *out, const uint8_t *key,
                            size_t keylen, const dsb_iov *iov, size_t iovcnt);

/*
 * Noise HKDF (spec section 4.3): temp = HMAC(ck, ikm); out1 = HMAC(temp,
 * 0x01); out2 = HMAC(temp, out1 || 0x02); out3 = HMAC(temp, out2 || 0x03).
 * |out2| and |out3| may be NULL for fewer outputs (out3 requires out2).
 * Each output is dsb_hash_len(id) bytes; |ck| is too.
 * Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_CRYPTO
 */
DSB_MUST_CHECK int dsb_hkdf(dsb_hash_id id, uint8_t *out1, uint8_t *out2,
                            uint8_t *out3, const uint8_t *ck,
                            const uint8_t *ikm, size_t ikmlen);

/* ---- AEAD with Noise nonce encodings ------------------------------------ */

/*
 * An AEAD key bound to a reusable cipher context: sealing and opening only
 * change the nonce, so the per-record cost is the cipher itself.
 */
typedef struct dsb_aead dsb_aead;

/* Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_NOMEM, DSB_ERR_CRYPTO */
DSB_MUST_CHECK int dsb_aead_new(dsb_aead **paead, const dsb_mem *mem,
                                dsb_cipher_id id,
                                const uint8_t key[static DSB_AEAD_KEY_LEN]);

/* Replace the key, keeping the contexts. Errors: DSB_ERR_CRYPTO */
DSB_MUST_CHECK int dsb_aead_set_key(dsb_aead *aead,
                                    const uint8_t key[static DSB_AEAD_KEY_LEN]);

dsb_cipher_id dsb_aead_cipher(const dsb_aead *aead);

/* Wipes the key. NULL is a no-op. */
void dsb_aead_del(dsb_aead *aead);

/*
 * Encrypt |pt| into |dst| (ciphertext then 16-byte tag) with the Noise
 * encoding of |nonce|. |dst| may equal |pt| (in place). Returns ptlen + 16.
 * Errors: DSB_ERR_NOBUF, DSB_ERR_CRYPTO
 */
DSB_MUST_CHECK long dsb_aead_seal(dsb_aead *aead, uint8_t *dst, size_t dstlen,
                                  uint64_t nonce, const uint8_t *ad,
                                  size_t adlen, const uint8_t *pt,
                                  size_t ptlen);

/*
 * Decrypt and authenticate |ct| (ciphertext then tag) into |dst|; |dst| may
 * equal |ct|. Returns ctlen - 16. On an authentication failure nothing is
 * left in |dst| (it is wiped).
 * Errors: DSB_ERR_CRYPTO_AUTH (bad tag or ctlen < 16), DSB_ERR_NOBUF,
 * DSB_ERR_CRYPTO
 */
DSB_MUST_CHECK long dsb_aead_open(dsb_aead *aead, uint8_t *dst, size_t dstlen,
                                  uint64_t nonce, const uint8_t *ad,
                                  size_t adlen, const uint8_t *ct,
                                  size_t ctlen);

/*
 * One-shot Noise REKEY helper: k' = first 32 bytes of
 * ENCRYPT(k, 2^64-1, empty ad, 32 zero bytes), applied to |aead| in place.
 * Errors: DSB_ERR_CRYPTO
 */
DSB_MUST_CHECK int dsb_aead_rekey(dsb_aead *aead);

#ifdef __cplusplus
}
#endif

#endif /* DSB_CRYPTO_H */
