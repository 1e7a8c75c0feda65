/*
 * crypto.c - the crypto layer (include/dsb/crypto.h) over OpenSSL 3
 * libcrypto. Every primitive is OpenSSL's; this file only adapts calling
 * conventions, encodes Noise nonces and wipes temporaries.
 *
 * Algorithm implementations are fetched once (pthread_once) and then shared
 * read-only: implicit fetching inside EVP_*Init would otherwise look the
 * algorithm up in the provider store on every call.
 */
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "dsb/crypto.h"
#include "dsb/err.h"
#include "dsb/wire.h"

#define CRYPTO_NONCE_LEN 12
#define CRYPTO_NUM_HASHES 4
#define CRYPTO_NUM_CIPHERS 2

/* OpenSSL names of the dsb_hash_id and dsb_cipher_id values, by index. */
static const char *const crypto_hash_names[CRYPTO_NUM_HASHES] = {
    "BLAKE2S-256", "BLAKE2B-512", "SHA2-256", "SHA2-512"};
static const char *const crypto_cipher_names[CRYPTO_NUM_CIPHERS] = {
    "ChaCha20-Poly1305", "AES-256-GCM"};

static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;
static EVP_MD *crypto_md[CRYPTO_NUM_HASHES];
static EVP_CIPHER *crypto_cipher[CRYPTO_NUM_CIPHERS];
static EVP_MAC *crypto_hmac;
/* One HMAC context per hash with its digest already bound, only ever read
 * (duplicated) after init. Binding the digest by name looks it up in the
 * provider store, which cost a Noise handshake more than its hashing did
 * when every HMAC did it. */
static EVP_MAC_CTX *crypto_hmac_tmpl[CRYPTO_NUM_HASHES];
static int crypto_init_ok;

static void crypto_init_once(void) {
  /* A context is duplicable only once it holds a key; this public empty
   * key is replaced by every user of a duplicate. */
  static const uint8_t empty_key[1];
  int ok = 1;
  for (int i = 0; i < CRYPTO_NUM_HASHES; ++i) {
    crypto_md[i] = EVP_MD_fetch(NULL, crypto_hash_names[i], NULL);
    ok = ok && crypto_md[i] != NULL;
  }
  for (int i = 0; i < CRYPTO_NUM_CIPHERS; ++i) {
    crypto_cipher[i] = EVP_CIPHER_fetch(NULL, crypto_cipher_names[i], NULL);
    ok = ok && crypto_cipher[i] != NULL;
  }
  crypto_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  ok = ok && crypto_hmac != NULL;
  for (int i = 0; ok && i < CRYPTO_NUM_HASHES; ++i) {
    OSSL_PARAM params[2];
    params[0] = OSSL_PARAM_construct_utf8_string(
        OSSL_MAC_PARAM_DIGEST, (char *)(uintptr_t)crypto_hash_names[i], 0);
    params[1] = OSSL_PARAM_construct_end();
    crypto_hmac_tmpl[i] = EVP_MAC_CTX_new(crypto_hmac);
    ok = crypto_hmac_tmpl[i] != NULL &&
         EVP_MAC_init(crypto_hmac_tmpl[i], empty_key, 0, params) == 1;
  }
  crypto_init_ok = ok;
}

/* 0 when the fetched implementations are available, else DSB_ERR_CRYPTO. */
static int crypto_init(void) {
  if (pthread_once(&crypto_once, crypto_init_once) != 0 || !crypto_init_ok) {
    return DSB_ERR_CRYPTO;
  }
  return 0;
}

/* ---- utilities ---------------------------------------------------------- */

void dsb_wipe(void *p, size_t len) {
  if (p && len) {
    OPENSSL_cleanse(p, len);
  }
}

int dsb_ct_memeq(const void *a, const void *b, size_t len) {
  return CRYPTO_memcmp(a, b, len) == 0;
}

int dsb_ct_is_zero(const void *p, size_t len) {
  const volatile uint8_t *b = p;
  uint8_t acc = 0;
  for (size_t i = 0; i < len; ++i) {
    acc |= b[i];
  }
  /* (acc - 1) >> 8 is 1 only when acc == 0, without a branch on acc. */
  return (int)(((unsigned)acc - 1u) >> 8) & 1;
}

/* ---- randomness --------------------------------------------------------- */

int dsb_rng_default_fn(void *ctx, uint8_t *buf, size_t len) {
  (void)ctx;
  while (len > 0) {
    int n = len > INT_MAX ? INT_MAX : (int)len;
    if (RAND_bytes(buf, n) != 1) {
      return DSB_ERR_CRYPTO_RNG;
    }
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

dsb_rng dsb_rng_default(void) {
  dsb_rng r = {dsb_rng_default_fn, NULL};
  return r;
}

int dsb_random(const dsb_rng *rng, uint8_t *buf, size_t len) {
  int rv;
  if (len == 0) {
    return 0;
  }
  if (rng && rng->fn) {
    rv = rng->fn(rng->ctx, buf, len);
  } else {
    rv = dsb_rng_default_fn(NULL, buf, len);
  }
  if (rv != 0) {
    dsb_wipe(buf, len);
    return DSB_ERR_CRYPTO_RNG;
  }
  return 0;
}

/* ---- X25519 / Ed25519 --------------------------------------------------- */

static int crypto_raw_pubkey(int type, uint8_t pk[static 32],
                             const uint8_t sk[static 32]) {
  size_t len = 32;
  int rv = DSB_ERR_CRYPTO;
  EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(type, NULL, sk, 32);
  if (!pkey) {
    return DSB_ERR_CRYPTO;
  }
  if (EVP_PKEY_get_raw_public_key(pkey, pk, &len) == 1 && len == 32) {
    rv = 0;
  }
  EVP_PKEY_free(pkey); /* wipes the private key it held */
  return rv;
}

int dsb_x25519_pubkey(uint8_t pk[static DSB_X25519_KEY_LEN],
                      const uint8_t sk[static DSB_X25519_KEY_LEN]) {
  return crypto_raw_pubkey(EVP_PKEY_X25519, pk, sk);
}

int dsb_x25519_keygen(const dsb_rng *rng, uint8_t sk[static DSB_X25519_KEY_LEN],
                      uint8_t pk[static DSB_X25519_KEY_LEN]) {
  int rv = dsb_random(rng, sk, DSB_X25519_KEY_LEN);
  if (rv != 0) {
    return rv;
  }
  rv = dsb_x25519_pubkey(pk, sk);
  if (rv != 0) {
    dsb_wipe(sk, DSB_X25519_KEY_LEN);
  }
  return rv;
}

/*
 * An X25519 private-key object for |sk| whose public key |pk| the caller
 * already knows. Given only the private key, OpenSSL derives the public key
 * on import, which costs about as much as a DH; a handshake knows both
 * halves of its keys, so each DH would otherwise pay for a second scalar
 * multiplication.
 */
static EVP_PKEY *crypto_x25519_keypair_obj(const uint8_t sk[static 32],
                                           const uint8_t pk[static 32]) {
  EVP_PKEY *pkey = NULL;
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "X25519", NULL);
  OSSL_PARAM params[3];

  if (!ctx) {
    return NULL;
  }
  /* The params only borrow the buffers; OpenSSL copies them into the key
   * object (and cleanses its copy of the private key when freed). */
  params[0] = OSSL_PARAM_construct_octet_string(
      OSSL_PKEY_PARAM_PRIV_KEY, (void *)(uintptr_t)sk, DSB_X25519_KEY_LEN);
  params[1] = OSSL_PARAM_construct_octet_string(
      OSSL_PKEY_PARAM_PUB_KEY, (void *)(uintptr_t)pk, DSB_X25519_KEY_LEN);
  params[2] = OSSL_PARAM_construct_end();
  if (EVP_PKEY_fromdata_init(ctx) != 1 ||
      EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params) != 1) {
    pkey = NULL;
  }
  EVP_PKEY_CTX_free(ctx);
  return pkey;
}

/* out = X25519(priv, pk); |priv| is borrowed. */
static int crypto_x25519_derive(uint8_t out[static DSB_X25519_KEY_LEN],
                                EVP_PKEY *priv,
                                const uint8_t pk[static DSB_X25519_KEY_LEN]) {
  int rv = DSB_ERR_CRYPTO;
  size_t outlen = DSB_X25519_KEY_LEN;
  EVP_PKEY *peer = NULL;
  EVP_PKEY_CTX *ctx = NULL;

  peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, pk, 32);
  if (!priv || !peer) {
    goto out;
  }
  ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
  if (!ctx || EVP_PKEY_derive_init(ctx) != 1 ||
      EVP_PKEY_derive_set_peer_ex(ctx, peer, 0) != 1) {
    goto out;
  }
  /*
   * With valid key objects, OpenSSL's X25519 derivation fails only when the
   * shared secret is all zero (low-order peer point; RFC 7748 section 6.1),
   * so a failure here is that rejection. The explicit check below keeps the
   * guarantee even if a provider stops enforcing it.
   */
  if (EVP_PKEY_derive(ctx, out, &outlen) != 1) {
    rv = DSB_ERR_CRYPTO_DH_ZERO;
    goto out;
  }
  if (outlen != DSB_X25519_KEY_LEN) {
    goto out;
  }
  rv = dsb_ct_is_zero(out, DSB_X25519_KEY_LEN) ? DSB_ERR_CRYPTO_DH_ZERO : 0;
out:
  if (rv != 0) {
    dsb_wipe(out, DSB_X25519_KEY_LEN);
  }
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(peer);
  return rv;
}

int dsb_x25519_dh(uint8_t out[static DSB_X25519_KEY_LEN],
                  const uint8_t sk[static DSB_X25519_KEY_LEN],
                  const uint8_t pk[static DSB_X25519_KEY_LEN]) {
  EVP_PKEY *priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, sk, 32);
  int rv = crypto_x25519_derive(out, priv, pk);
  EVP_PKEY_free(priv); /* wipes the private key it held */
  return rv;
}

int dsb_x25519_dh_keypair(uint8_t out[static DSB_X25519_KEY_LEN],
                          const uint8_t sk[static DSB_X25519_KEY_LEN],
                          const uint8_t sk_pub[static DSB_X25519_KEY_LEN],
                          const uint8_t pk[static DSB_X25519_KEY_LEN]) {
  EVP_PKEY *priv = crypto_x25519_keypair_obj(sk, sk_pub);
  int rv = crypto_x25519_derive(out, priv, pk);
  EVP_PKEY_free(priv);
  return rv;
}

int dsb_ed25519_pubkey(uint8_t pk[static DSB_ED25519_PK_LEN],
                       const uint8_t seed[static DSB_ED25519_SEED_LEN]) {
  return crypto_raw_pubkey(EVP_PKEY_ED25519, pk, seed);
}

int dsb_ed25519_keygen(const dsb_rng *rng,
                       uint8_t seed[static DSB_ED25519_SEED_LEN],
                       uint8_t pk[static DSB_ED25519_PK_LEN]) {
  int rv = dsb_random(rng, seed, DSB_ED25519_SEED_LEN);
  if (rv != 0) {
    return rv;
  }
  rv = dsb_ed25519_pubkey(pk, seed);
  if (rv != 0) {
    dsb_wipe(seed, DSB_ED25519_SEED_LEN);
  }
  return rv;
}

int dsb_ed25519_sign(uint8_t sig[static DSB_ED25519_SIG_LEN],
                     const uint8_t seed[static DSB_ED25519_SEED_LEN],
                     const uint8_t *msg, size_t msglen) {
  int rv = DSB_ERR_CRYPTO;
  size_t siglen = DSB_ED25519_SIG_LEN;
  static const uint8_t empty[1];
  EVP_MD_CTX *mctx = NULL;
  EVP_PKEY *pkey =
      EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
  if (!pkey) {
    return DSB_ERR_CRYPTO;
  }
  mctx = EVP_MD_CTX_new();
  if (!mctx || EVP_DigestSignInit(mctx, NULL, NULL, NULL, pkey) != 1) {
    goto out;
  }
  if (EVP_DigestSign(mctx, sig, &siglen, msglen ? msg : empty, msglen) != 1 ||
      siglen != DSB_ED25519_SIG_LEN) {
    goto out;
  }
  rv = 0;
out:
  EVP_MD_CTX_free(mctx);
  EVP_PKEY_free(pkey);
  return rv;
}

int dsb_ed25519_verify(const uint8_t sig[static DSB_ED25519_SIG_LEN],
                       const uint8_t pk[static DSB_ED25519_PK_LEN],
                       const uint8_t *msg, size_t msglen) {
  int rv = DSB_ERR_CRYPTO_BAD_SIGNATURE;
  static const uint8_t empty[1];
  EVP_MD_CTX *mctx = NULL;
  EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk, 32);
  if (!pkey) {
    return DSB_ERR_CRYPTO_BAD_SIGNATURE;
  }
  mctx = EVP_MD_CTX_new();
  if (!mctx) {
    rv = DSB_ERR_CRYPTO;
    goto out;
  }
  if (EVP_DigestVerifyInit(mctx, NULL, NULL, NULL, pkey) == 1 &&
      EVP_DigestVerify(mctx, sig, DSB_ED25519_SIG_LEN, msglen ? msg : empty,
                       msglen) == 1) {
    rv = 0;
  }
out:
  EVP_MD_CTX_free(mctx);
  EVP_PKEY_free(pkey);
  return rv;
}

/* ---- hashes, HMAC, Noise HKDF ------------------------------------------- */

static int crypto_hash_ok(dsb_hash_id id) {
  return (unsigned)id < CRYPTO_NUM_HASHES;
}

size_t dsb_hash_len(dsb_hash_id id) {
  static const size_t len[CRYPTO_NUM_HASHES] = {32, 64, 32, 64};
  return crypto_hash_ok(id) ? len[id] : 0;
}

size_t dsb_hash_block_len(dsb_hash_id id) {
  static const size_t len[CRYPTO_NUM_HASHES] = {64, 128, 64, 128};
  return crypto_hash_ok(id) ? len[id] : 0;
}

int dsb_hash(dsb_hash_id id, uint8_t *out, const dsb_iov *iov, size_t iovcnt) {
  int rv;
  EVP_MD_CTX *mctx;
  if (!crypto_hash_ok(id) || !out || (iovcnt && !iov)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if ((rv = crypto_init()) != 0) {
    return rv;
  }
  mctx = EVP_MD_CTX_new();
  if (!mctx) {
    return DSB_ERR_CRYPTO;
  }
  rv = DSB_ERR_CRYPTO;
  if (EVP_DigestInit_ex2(mctx, crypto_md[id], NULL) != 1) {
    goto out;
  }
  for (size_t i = 0; i < iovcnt; ++i) {
    if (iov[i].len && EVP_DigestUpdate(mctx, iov[i].base, iov[i].len) != 1) {
      goto out;
    }
  }
  if (EVP_DigestFinal_ex(mctx, out, NULL) == 1) {
    rv = 0;
  }
out:
  EVP_MD_CTX_free(mctx); /* cleanses the hash state */
  return rv;
}

/* A fresh HMAC context for |id| (a copy of its template), or NULL. */
static EVP_MAC_CTX *crypto_hmac_ctx(dsb_hash_id id) {
  if (crypto_init() != 0) {
    return NULL;
  }
  return EVP_MAC_CTX_dup(crypto_hmac_tmpl[id]);
}

/*
 * out = HMAC(key, iov...) on |mctx|. A NULL |key| reuses the key the
 * context last had (OpenSSL restarts HMAC from the saved key schedule);
 * an empty key is passed as a valid pointer with length 0 instead.
 */
static int crypto_hmac_run(EVP_MAC_CTX *mctx, dsb_hash_id id, uint8_t *out,
                           const uint8_t *key, size_t keylen,
                           const dsb_iov *iov, size_t iovcnt) {
  size_t outlen = 0;
  if (EVP_MAC_init(mctx, key, keylen, NULL) != 1) {
    return DSB_ERR_CRYPTO;
  }
  for (size_t i = 0; i < iovcnt; ++i) {
    if (iov[i].len && EVP_MAC_update(mctx, iov[i].base, iov[i].len) != 1) {
      return DSB_ERR_CRYPTO;
    }
  }
  if (EVP_MAC_final(mctx, out, &outlen, dsb_hash_len(id)) != 1 ||
      outlen != dsb_hash_len(id)) {
    return DSB_ERR_CRYPTO;
  }
  return 0;
}

int dsb_hmac(dsb_hash_id id, uint8_t *out, const uint8_t *key, size_t keylen,
             const dsb_iov *iov, size_t iovcnt) {
  static const uint8_t empty[1];
  EVP_MAC_CTX *mctx;
  int rv;

  if (!crypto_hash_ok(id) || !out || (keylen && !key) || (iovcnt && !iov)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  mctx = crypto_hmac_ctx(id);
  if (!mctx) {
    return DSB_ERR_CRYPTO;
  }
  rv =
      crypto_hmac_run(mctx, id, out, keylen ? key : empty, keylen, iov, iovcnt);
  EVP_MAC_CTX_free(mctx); /* cleanses the key schedule */
  return rv;
}

int dsb_hkdf(dsb_hash_id id, uint8_t *out1, uint8_t *out2, uint8_t *out3,
             const uint8_t *ck, const uint8_t *ikm, size_t ikmlen) {
  /* Outputs may alias |ck| (Noise writes the new ck over the old one), so
   * everything is computed into locals and copied out at the end. */
  uint8_t temp[DSB_HASH_MAX_LEN], o1[DSB_HASH_MAX_LEN], o2[DSB_HASH_MAX_LEN],
      o3[DSB_HASH_MAX_LEN];
  static const uint8_t empty[1];
  uint8_t ctr;
  size_t hl = dsb_hash_len(id);
  EVP_MAC_CTX *mctx;
  int rv;

  if (hl == 0 || !out1 || !ck || (ikmlen && !ikm) || (out3 && !out2)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  /* One context for the whole derivation: the three outputs share the key
   * |temp|, so its schedule is computed once and reused (NULL key). */
  mctx = crypto_hmac_ctx(id);
  if (!mctx) {
    return DSB_ERR_CRYPTO;
  }
  dsb_iov in1 = {ikmlen ? ikm : empty, ikmlen};
  if ((rv = crypto_hmac_run(mctx, id, temp, ck, hl, &in1, 1)) != 0) {
    goto out;
  }
  ctr = 1;
  dsb_iov c1 = {&ctr, 1};
  if ((rv = crypto_hmac_run(mctx, id, o1, temp, hl, &c1, 1)) != 0) {
    goto out;
  }
  if (out2) {
    ctr = 2;
    dsb_iov c2[2] = {{o1, hl}, {&ctr, 1}};
    if ((rv = crypto_hmac_run(mctx, id, o2, NULL, 0, c2, 2)) != 0) {
      goto out;
    }
  }
  if (out3) {
    ctr = 3;
    dsb_iov c3[2] = {{o2, hl}, {&ctr, 1}};
    if ((rv = crypto_hmac_run(mctx, id, o3, NULL, 0, c3, 2)) != 0) {
      goto out;
    }
  }
  memcpy(out1, o1, hl);
  if (out2) {
    memcpy(out2, o2, hl);
  }
  if (out3) {
    memcpy(out3, o3, hl);
  }
out:
  EVP_MAC_CTX_free(mctx);
  dsb_wipe(temp, sizeof(temp));
  dsb_wipe(o1, sizeof(o1));
  dsb_wipe(o2, sizeof(o2));
  dsb_wipe(o3, sizeof(o3));
  return rv;
}

/* ---- AEAD --------------------------------------------------------------- */

struct dsb_aead {
  const dsb_mem *mem;
  dsb_cipher_id id;
  /* One context for both directions: the key schedule is computed once per
   * key, and each record only installs its nonce and direction. */
  EVP_CIPHER_CTX *ctx;
};

/* Noise nonce encodings (spec section 12): 4 zero bytes then the 64-bit
 * counter, little-endian for ChaChaPoly and big-endian for AESGCM. */
static void aead_nonce(const dsb_aead *aead, uint8_t iv[CRYPTO_NONCE_LEN],
                       uint64_t n) {
  memset(iv, 0, 4);
  if (aead->id == DSB_CIPHER_CHACHAPOLY) {
    dsb_wire_put_u64le(iv + 4, n);
  } else {
    dsb_wire_put_u64be(iv + 4, n);
  }
}

int dsb_aead_new(dsb_aead **paead, const dsb_mem *mem, dsb_cipher_id id,
                 const uint8_t key[static DSB_AEAD_KEY_LEN]) {
  dsb_aead *aead;
  int rv;

  if (!paead || (unsigned)id >= CRYPTO_NUM_CIPHERS) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if ((rv = crypto_init()) != 0) {
    return rv;
  }
  aead = dsb_mem_calloc(mem, 1, sizeof(*aead));
  if (!aead) {
    return DSB_ERR_NOMEM;
  }
  aead->mem = mem;
  aead->id = id;
  aead->ctx = EVP_CIPHER_CTX_new();
  if (!aead->ctx) {
    rv = DSB_ERR_NOMEM;
    goto fail_ctx;
  }
  if (EVP_CipherInit_ex2(aead->ctx, crypto_cipher[id], key, NULL, 1, NULL) !=
      1) {
    rv = DSB_ERR_CRYPTO;
    goto fail_init;
  }
  *paead = aead;
  return 0;

fail_init:
  EVP_CIPHER_CTX_free(aead->ctx);
fail_ctx:
  dsb_mem_free(mem, aead);
  return rv;
}

int dsb_aead_set_key(dsb_aead *aead,
                     const uint8_t key[static DSB_AEAD_KEY_LEN]) {
  if (EVP_CipherInit_ex2(aead->ctx, NULL, key, NULL, 1, NULL) != 1) {
    return DSB_ERR_CRYPTO;
  }
  return 0;
}

dsb_cipher_id dsb_aead_cipher(const dsb_aead *aead) {
  return aead->id;
}

void dsb_aead_del(dsb_aead *aead) {
  if (!aead) {
    return;
  }
  EVP_CIPHER_CTX_free(aead->ctx); /* cleanses the key schedule */
  dsb_mem_free(aead->mem, aead);
}

/* Feed |len| bytes in int-sized chunks (EVP lengths are int). */
static int aead_update(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in,
                       size_t len) {
  while (len > 0) {
    int n = len > (size_t)(INT_MAX / 2) ? INT_MAX / 2 : (int)len;
    int outl = 0;
    if (EVP_CipherUpdate(ctx, out, &outl, in, n) != 1 || (out && outl != n)) {
      return -1;
    }
    in += n;
    if (out) {
      out += n;
    }
    len -= (size_t)n;
  }
  return 0;
}

long dsb_aead_seal(dsb_aead *aead, uint8_t *dst, size_t dstlen, uint64_t nonce,
                   const uint8_t *ad, size_t adlen, const uint8_t *pt,
                   size_t ptlen) {
  uint8_t iv[CRYPTO_NONCE_LEN];
  uint8_t fin[DSB_AEAD_TAG_LEN]; /* AEAD finals emit no bytes */
  int outl = 0;

  if (ptlen > (size_t)LONG_MAX - DSB_AEAD_TAG_LEN) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (dstlen < ptlen + DSB_AEAD_TAG_LEN) {
    return DSB_ERR_NOBUF;
  }
  aead_nonce(aead, iv, nonce);
  if (EVP_CipherInit_ex2(aead->ctx, NULL, NULL, iv, 1, NULL) != 1 ||
      aead_update(aead->ctx, NULL, ad, adlen) != 0 ||
      aead_update(aead->ctx, dst, pt, ptlen) != 0 ||
      EVP_CipherFinal_ex(aead->ctx, fin, &outl) != 1 ||
      EVP_CIPHER_CTX_ctrl(aead->ctx, EVP_CTRL_AEAD_GET_TAG, DSB_AEAD_TAG_LEN,
                          dst + ptlen) != 1) {
    dsb_wipe(dst, ptlen + DSB_AEAD_TAG_LEN);
    return DSB_ERR_CRYPTO;
  }
  return (long)(ptlen + DSB_AEAD_TAG_LEN);
}

long dsb_aead_open(dsb_aead *aead, uint8_t *dst, size_t dstlen, uint64_t nonce,
                   const uint8_t *ad, size_t adlen, const uint8_t *ct,
                   size_t ctlen) {
  uint8_t iv[CRYPTO_NONCE_LEN];
  uint8_t tag[DSB_AEAD_TAG_LEN];
  uint8_t fin[DSB_AEAD_TAG_LEN]; /* AEAD finals emit no bytes */
  size_t ptlen;
  int outl = 0;

  if (ctlen < DSB_AEAD_TAG_LEN) {
    return DSB_ERR_CRYPTO_AUTH;
  }
  ptlen = ctlen - DSB_AEAD_TAG_LEN;
  if (ptlen > (size_t)LONG_MAX) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (dstlen < ptlen) {
    return DSB_ERR_NOBUF;
  }
  /* Copy the tag first: decrypting in place must not depend on where the
   * caller's buffers end. */
  memcpy(tag, ct + ptlen, DSB_AEAD_TAG_LEN);
  aead_nonce(aead, iv, nonce);
  if (EVP_CipherInit_ex2(aead->ctx, NULL, NULL, iv, 0, NULL) != 1 ||
      EVP_CIPHER_CTX_ctrl(aead->ctx, EVP_CTRL_AEAD_SET_TAG, DSB_AEAD_TAG_LEN,
                          tag) != 1 ||
      aead_update(aead->ctx, NULL, ad, adlen) != 0 ||
      aead_update(aead->ctx, dst, ct, ptlen) != 0) {
    dsb_wipe(dst, ptlen);
    return DSB_ERR_CRYPTO;
  }
  if (EVP_CipherFinal_ex(aead->ctx, fin, &outl) != 1) {
    /* Unauthenticated plaintext never reaches the caller. */
    dsb_wipe(dst, ptlen);
    return DSB_ERR_CRYPTO_AUTH;
  }
  return (long)ptlen;
}

int dsb_aead_rekey(dsb_aead *aead) {
  static const uint8_t zeros[DSB_AEAD_KEY_LEN];
  uint8_t buf[DSB_AEAD_KEY_LEN + DSB_AEAD_TAG_LEN];
  int rv;
  long n = dsb_aead_seal(aead, buf, sizeof(buf), UINT64_MAX, NULL, 0, zeros,
                         sizeof(zeros));
  if (n < 0) {
    rv = (int)n;
    goto out;
  }
  rv = dsb_aead_set_key(aead, buf);
out:
  dsb_wipe(buf, sizeof(buf));
  return rv;
}
