/* test_crypto.c - the crypto layer against published test vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "dsb/crypto.h"
#include "dsb/err.h"

/* Decode |hex| into |out| (capacity |cap|); returns the byte count. */
static size_t unhex(uint8_t *out, size_t cap, const char *hex) {
  size_t n = strlen(hex) / 2;
  assert_true(n <= cap);
  for (size_t i = 0; i < n; ++i) {
    unsigned v;
    assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
    out[i] = (uint8_t)v;
  }
  return n;
}

static void assert_hex(const uint8_t *got, size_t len, const char *hex) {
  uint8_t want[512];
  size_t n = unhex(want, sizeof(want), hex);
  assert_int_equal(n, len);
  assert_memory_equal(got, want, len);
}

/* ---- X25519 (RFC 7748) -------------------------------------------------- */

static void test_x25519_rfc7748_function_vector(void **state) {
  (void)state;
  uint8_t sk[32], pk[32], out[32];
  /* RFC 7748 section 5.2, first vector. */
  unhex(sk, 32,
        "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4");
  unhex(pk, 32,
        "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c");
  assert_int_equal(dsb_x25519_dh(out, sk, pk), 0);
  assert_hex(
      out, 32,
      "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");
}

static void test_x25519_rfc7748_diffie_hellman(void **state) {
  (void)state;
  uint8_t a[32], b[32], apk[32], bpk[32], s1[32], s2[32];
  /* RFC 7748 section 6.1. */
  unhex(a, 32,
        "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  unhex(b, 32,
        "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
  assert_int_equal(dsb_x25519_pubkey(apk, a), 0);
  assert_int_equal(dsb_x25519_pubkey(bpk, b), 0);
  assert_hex(
      apk, 32,
      "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  assert_hex(
      bpk, 32,
      "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  assert_int_equal(dsb_x25519_dh(s1, a, bpk), 0);
  assert_int_equal(dsb_x25519_dh(s2, b, apk), 0);
  assert_memory_equal(s1, s2, 32);
  assert_hex(
      s1, 32,
      "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
}

static void test_reject_x25519_all_zero_output(void **state) {
  (void)state;
  uint8_t sk[32], pk[32], out[32];
  memset(sk, 0x42, sizeof(sk));
  /* u = 0 and u = 1 are low-order points: the shared secret is all zero. */
  memset(pk, 0, sizeof(pk));
  memset(out, 0xaa, sizeof(out));
  assert_int_equal(dsb_x25519_dh(out, sk, pk), DSB_ERR_CRYPTO_DH_ZERO);
  assert_true(dsb_ct_is_zero(out, sizeof(out)));
  pk[0] = 1;
  assert_int_equal(dsb_x25519_dh(out, sk, pk), DSB_ERR_CRYPTO_DH_ZERO);
}

/* The key-pair variant computes the same DH (RFC 7748 section 6.1) and
 * only |sk| enters it: a wrong public half does not change the result. */
static void test_x25519_dh_keypair_matches_dh(void **state) {
  (void)state;
  uint8_t a[32], apk[32], bpk[32], s1[32], s2[32], other[32];
  unhex(a, 32,
        "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  unhex(bpk, 32,
        "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  assert_int_equal(dsb_x25519_pubkey(apk, a), 0);
  assert_int_equal(dsb_x25519_dh(s1, a, bpk), 0);
  assert_int_equal(dsb_x25519_dh_keypair(s2, a, apk, bpk), 0);
  assert_memory_equal(s1, s2, 32);
  assert_hex(
      s2, 32,
      "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  memset(other, 0x11, sizeof(other));
  assert_int_equal(dsb_x25519_dh_keypair(s2, a, other, bpk), 0);
  assert_memory_equal(s1, s2, 32);
}

static void test_reject_x25519_dh_keypair_all_zero_output(void **state) {
  (void)state;
  uint8_t sk[32], pk[32], low[32], out[32];
  memset(sk, 0x42, sizeof(sk));
  assert_int_equal(dsb_x25519_pubkey(pk, sk), 0);
  memset(low, 0, sizeof(low));
  memset(out, 0xaa, sizeof(out));
  assert_int_equal(dsb_x25519_dh_keypair(out, sk, pk, low),
                   DSB_ERR_CRYPTO_DH_ZERO);
  assert_true(dsb_ct_is_zero(out, sizeof(out)));
  low[0] = 1;
  assert_int_equal(dsb_x25519_dh_keypair(out, sk, pk, low),
                   DSB_ERR_CRYPTO_DH_ZERO);
}

/* A deterministic rng: counts up from a seed byte. */
static int counting_rng(void *ctx, uint8_t *buf, size_t len) {
  uint8_t *c = ctx;
  for (size_t i = 0; i < len; ++i) {
    buf[i] = (*c)++;
  }
  return 0;
}

static int failing_rng(void *ctx, uint8_t *buf, size_t len) {
  (void)ctx;
  (void)buf;
  (void)len;
  return -1;
}

static void test_x25519_keygen_uses_injected_rng(void **state) {
  (void)state;
  uint8_t c1 = 7, c2 = 7;
  dsb_rng r1 = {counting_rng, &c1}, r2 = {counting_rng, &c2};
  uint8_t sk1[32], pk1[32], sk2[32], pk2[32], pk[32];
  assert_int_equal(dsb_x25519_keygen(&r1, sk1, pk1), 0);
  assert_int_equal(dsb_x25519_keygen(&r2, sk2, pk2), 0);
  assert_memory_equal(sk1, sk2, 32);
  assert_memory_equal(pk1, pk2, 32);
  assert_int_equal(sk1[0], 7);
  assert_int_equal(dsb_x25519_pubkey(pk, sk1), 0);
  assert_memory_equal(pk, pk1, 32);
  /* The default CSPRNG gives different keys. */
  assert_int_equal(dsb_x25519_keygen(NULL, sk1, pk1), 0);
  assert_int_equal(dsb_x25519_keygen(NULL, sk2, pk2), 0);
  assert_memory_not_equal(sk1, sk2, 32);
}

static void test_reject_rng_failure(void **state) {
  (void)state;
  dsb_rng bad = {failing_rng, NULL};
  uint8_t sk[32], pk[32];
  assert_int_equal(dsb_x25519_keygen(&bad, sk, pk), DSB_ERR_CRYPTO_RNG);
  assert_int_equal(dsb_ed25519_keygen(&bad, sk, pk), DSB_ERR_CRYPTO_RNG);
  assert_int_equal(dsb_random(&bad, sk, sizeof(sk)), DSB_ERR_CRYPTO_RNG);
}

/* ---- Ed25519 (RFC 8032) ------------------------------------------------- */

static void test_ed25519_rfc8032_test1(void **state) {
  (void)state;
  uint8_t seed[32], pk[32], sig[64];
  unhex(seed, 32,
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  assert_int_equal(dsb_ed25519_pubkey(pk, seed), 0);
  assert_hex(
      pk, 32,
      "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  assert_int_equal(dsb_ed25519_sign(sig, seed, NULL, 0), 0);
  assert_hex(
      sig, 64,
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
      "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
  assert_int_equal(dsb_ed25519_verify(sig, pk, NULL, 0), 0);
}

static void test_reject_ed25519_bad_signature(void **state) {
  (void)state;
  uint8_t seed[32], pk[32], sig[64];
  const uint8_t msg[] = "announce";
  memset(seed, 3, sizeof(seed));
  assert_int_equal(dsb_ed25519_pubkey(pk, seed), 0);
  assert_int_equal(dsb_ed25519_sign(sig, seed, msg, sizeof(msg)), 0);
  assert_int_equal(dsb_ed25519_verify(sig, pk, msg, sizeof(msg)), 0);
  sig[10] ^= 1;
  assert_int_equal(dsb_ed25519_verify(sig, pk, msg, sizeof(msg)),
                   DSB_ERR_CRYPTO_BAD_SIGNATURE);
  sig[10] ^= 1;
  assert_int_equal(dsb_ed25519_verify(sig, pk, msg, sizeof(msg) - 1),
                   DSB_ERR_CRYPTO_BAD_SIGNATURE);
  pk[0] ^= 0x80;
  assert_int_equal(dsb_ed25519_verify(sig, pk, msg, sizeof(msg)),
                   DSB_ERR_CRYPTO_BAD_SIGNATURE);
}

/* ---- hashes and HMAC ---------------------------------------------------- */

static void test_hashes_of_abc(void **state) {
  (void)state;
  uint8_t out[64];
  /* Split over two pieces to exercise the iov path. */
  dsb_iov iov[2] = {{(const uint8_t *)"a", 1}, {(const uint8_t *)"bc", 2}};
  assert_int_equal(dsb_hash(DSB_HASH_BLAKE2S, out, iov, 2), 0);
  assert_hex(
      out, 32,
      "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
  assert_int_equal(dsb_hash(DSB_HASH_BLAKE2B, out, iov, 2), 0);
  assert_hex(
      out, 64,
      "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
      "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923");
  assert_int_equal(dsb_hash(DSB_HASH_SHA256, out, iov, 2), 0);
  assert_hex(
      out, 32,
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert_int_equal(dsb_hash(DSB_HASH_SHA512, out, iov, 2), 0);
  assert_hex(
      out, 64,
      "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
      "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
  assert_int_equal(dsb_hash_len(DSB_HASH_BLAKE2S), 32);
  assert_int_equal(dsb_hash_len(DSB_HASH_SHA512), 64);
  assert_int_equal(dsb_hash_block_len(DSB_HASH_BLAKE2S), 64);
  assert_int_equal(dsb_hash_block_len(DSB_HASH_BLAKE2B), 128);
}

static void test_reject_unknown_hash_id(void **state) {
  (void)state;
  uint8_t out[64];
  assert_int_equal(dsb_hash_len((dsb_hash_id)9), 0);
  assert_int_equal(dsb_hash((dsb_hash_id)9, out, NULL, 0),
                   DSB_ERR_INVALID_ARGUMENT);
  assert_int_equal(dsb_hmac((dsb_hash_id)9, out, NULL, 0, NULL, 0),
                   DSB_ERR_INVALID_ARGUMENT);
}

static void test_hmac_rfc4231(void **state) {
  (void)state;
  uint8_t key[20], out[64];
  memset(key, 0x0b, sizeof(key));
  dsb_iov hi = {(const uint8_t *)"Hi There", 8};
  /* RFC 4231 test case 1. */
  assert_int_equal(dsb_hmac(DSB_HASH_SHA256, out, key, 20, &hi, 1), 0);
  assert_hex(
      out, 32,
      "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  assert_int_equal(dsb_hmac(DSB_HASH_SHA512, out, key, 20, &hi, 1), 0);
  assert_hex(
      out, 64,
      "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
      "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854");
  /* RFC 4231 test case 2. */
  dsb_iov q = {(const uint8_t *)"what do ya want for nothing?", 28};
  assert_int_equal(
      dsb_hmac(DSB_HASH_SHA256, out, (const uint8_t *)"Jefe", 4, &q, 1), 0);
  assert_hex(
      out, 32,
      "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

/* HMAC over BLAKE2 must be the RFC 2104 construction with the BLAKE2 block
 * size (what Noise uses), checked here against a construction from raw
 * hashes: H((K ^ opad) || H((K ^ ipad) || m)). */
static void check_hmac_construction(dsb_hash_id id) {
  size_t hl = dsb_hash_len(id), bl = dsb_hash_block_len(id);
  uint8_t key[40], ipad[128], opad[128], inner[64], want[64], got[64];
  const uint8_t msg[] = "noise hmac";
  for (size_t i = 0; i < sizeof(key); ++i) {
    key[i] = (uint8_t)(i * 7);
  }
  memset(ipad, 0x36, bl);
  memset(opad, 0x5c, bl);
  for (size_t i = 0; i < sizeof(key); ++i) {
    ipad[i] ^= key[i];
    opad[i] ^= key[i];
  }
  dsb_iov in1[2] = {{ipad, bl}, {msg, sizeof(msg)}};
  assert_int_equal(dsb_hash(id, inner, in1, 2), 0);
  dsb_iov in2[2] = {{opad, bl}, {inner, hl}};
  assert_int_equal(dsb_hash(id, want, in2, 2), 0);
  dsb_iov m = {msg, sizeof(msg)};
  assert_int_equal(dsb_hmac(id, got, key, sizeof(key), &m, 1), 0);
  assert_memory_equal(got, want, hl);
}

static void test_hmac_blake2_construction(void **state) {
  (void)state;
  check_hmac_construction(DSB_HASH_BLAKE2S);
  check_hmac_construction(DSB_HASH_BLAKE2B);
  check_hmac_construction(DSB_HASH_SHA256);
}

static void test_hkdf_matches_definition(void **state) {
  (void)state;
  uint8_t ck[32], ikm[32], o1[32], o2[32], o3[32], t[32], w[32];
  uint8_t one = 1, two = 2, three = 3;
  memset(ck, 0x11, sizeof(ck));
  memset(ikm, 0x22, sizeof(ikm));
  assert_int_equal(dsb_hkdf(DSB_HASH_BLAKE2S, o1, o2, o3, ck, ikm, sizeof(ikm)),
                   0);
  dsb_iov in = {ikm, 32};
  assert_int_equal(dsb_hmac(DSB_HASH_BLAKE2S, t, ck, 32, &in, 1), 0);
  dsb_iov c1 = {&one, 1};
  assert_int_equal(dsb_hmac(DSB_HASH_BLAKE2S, w, t, 32, &c1, 1), 0);
  assert_memory_equal(o1, w, 32);
  dsb_iov c2[2] = {{o1, 32}, {&two, 1}};
  assert_int_equal(dsb_hmac(DSB_HASH_BLAKE2S, w, t, 32, c2, 2), 0);
  assert_memory_equal(o2, w, 32);
  dsb_iov c3[2] = {{o2, 32}, {&three, 1}};
  assert_int_equal(dsb_hmac(DSB_HASH_BLAKE2S, w, t, 32, c3, 2), 0);
  assert_memory_equal(o3, w, 32);
  /* The first output may overwrite the chaining key in place. */
  assert_int_equal(dsb_hkdf(DSB_HASH_BLAKE2S, ck, o2, NULL, ck, ikm, 32), 0);
  assert_memory_equal(ck, o1, 32);
  /* Zero-length input key material (Noise Split). */
  assert_int_equal(dsb_hkdf(DSB_HASH_BLAKE2S, o1, o2, NULL, ck, NULL, 0), 0);
  assert_int_equal(dsb_hkdf(DSB_HASH_BLAKE2S, o1, NULL, o3, ck, NULL, 0),
                   DSB_ERR_INVALID_ARGUMENT);
}

/* ---- AEAD --------------------------------------------------------------- */

static const char a5_key[] =
    "1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0";
static const char a5_aad[] = "f33388860000000000004e91";
static const char a5_pt[] =
    "496e7465726e65742d4472616674732061726520647261667420646f63756d65"
    "6e74732076616c696420666f722061206d6178696d756d206f6620736978206d"
    "6f6e74687320616e64206d617920626520757064617465642c207265706c6163"
    "65642c206f72206f62736f6c65746564206279206f7468657220646f63756d65"
    "6e747320617420616e792074696d652e20497420697320696e617070726f7072"
    "6961746520746f2075736520496e7465726e65742d4472616674732061732072"
    "65666572656e6365206d6174657269616c206f7220746f206369746520746865"
    "6d206f74686572207468616e206173202fe2809c776f726b20696e2070726f67"
    "726573732e2fe2809d";
static const char a5_ct_tag[] =
    "64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb2"
    "4c6cfc18755d43eea09ee94e382d26b0bdb7b73c321b0100d4f03b7f355894cf"
    "332f830e710b97ce98c8a84abd0b948114ad176e008d33bd60f982b1ff37c855"
    "9797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4"
    "b9166c767b804d46a59b5216cde7a4e99040c5a40433225ee282a1b0a06c523e"
    "af4534d7f83fa1155b0047718cbc546a0d072b04b3564eea1b422273f548271a"
    "0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a6727627097a10"
    "49e617d91d361094fa68f0ff77987130305beaba2eda04df997b714d6c6f2c29"
    "a6ad5cb4022b02709beead9d67890cbb22392336fea1851f38";

/*
 * RFC 8439 appendix A.5. Its nonce 00000000 0102030405060708 has the Noise
 * ChaChaPoly shape: 4 zero bytes, then the counter 0x0807060504030201
 * little-endian.
 */
static void test_aead_rfc8439_a5(void **state) {
  (void)state;
  uint8_t key[32], aad[12], pt[300], buf[320], want[320];
  size_t ptlen = unhex(pt, sizeof(pt), a5_pt);
  size_t ctlen = unhex(want, sizeof(want), a5_ct_tag);
  const uint64_t n = UINT64_C(0x0807060504030201);
  dsb_aead *aead = NULL;
  unhex(key, 32, a5_key);
  unhex(aad, 12, a5_aad);
  assert_int_equal(ctlen, ptlen + 16);
  assert_int_equal(dsb_aead_new(&aead, NULL, DSB_CIPHER_CHACHAPOLY, key), 0);
  assert_int_equal(dsb_aead_cipher(aead), DSB_CIPHER_CHACHAPOLY);
  assert_int_equal(dsb_aead_seal(aead, buf, sizeof(buf), n, aad, 12, pt, ptlen),
                   (long)ctlen);
  assert_memory_equal(buf, want, ctlen);
  /* Open in place with the same (reused) context. */
  assert_int_equal(
      dsb_aead_open(aead, buf, sizeof(buf), n, aad, 12, buf, ctlen),
      (long)ptlen);
  assert_memory_equal(buf, pt, ptlen);
  dsb_aead_del(aead);
}

/* Seal with raw OpenSSL and an explicit 12-byte IV, for comparison. */
static void raw_seal(const char *cipher, const uint8_t key[32],
                     const uint8_t iv[12], const uint8_t *pt, int ptlen,
                     uint8_t *out) {
  EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, cipher, NULL);
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int outl = 0;
  assert_non_null(c);
  assert_non_null(ctx);
  assert_int_equal(EVP_EncryptInit_ex2(ctx, c, key, iv, NULL), 1);
  assert_int_equal(EVP_EncryptUpdate(ctx, out, &outl, pt, ptlen), 1);
  assert_int_equal(EVP_EncryptFinal_ex(ctx, out + outl, &outl), 1);
  assert_int_equal(
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, out + ptlen), 1);
  EVP_CIPHER_CTX_free(ctx);
  EVP_CIPHER_free(c);
}

static void check_nonce_encoding(dsb_cipher_id id, const char *name,
                                 int big_endian) {
  uint8_t key[32], iv[12] = {0}, pt[40], got[56], want[56];
  const uint64_t n = UINT64_C(0x0102030405060708);
  dsb_aead *aead = NULL;
  memset(key, 0x5a, sizeof(key));
  memset(pt, 0x33, sizeof(pt));
  for (int i = 0; i < 8; ++i) {
    int shift = big_endian ? 8 * (7 - i) : 8 * i;
    iv[4 + i] = (uint8_t)(n >> shift);
  }
  raw_seal(name, key, iv, pt, (int)sizeof(pt), want);
  assert_int_equal(dsb_aead_new(&aead, NULL, id, key), 0);
  /* A first record with another nonce proves only the nonce is replaced. */
  assert_int_equal(
      dsb_aead_seal(aead, got, sizeof(got), 5, NULL, 0, pt, sizeof(pt)), 56);
  assert_int_equal(
      dsb_aead_seal(aead, got, sizeof(got), n, NULL, 0, pt, sizeof(pt)), 56);
  assert_memory_equal(got, want, sizeof(want));
  dsb_aead_del(aead);
}

static void test_aead_nonce_chachapoly_little_endian(void **state) {
  (void)state;
  check_nonce_encoding(DSB_CIPHER_CHACHAPOLY, "ChaCha20-Poly1305", 0);
}

static void test_aead_nonce_aesgcm_big_endian(void **state) {
  (void)state;
  check_nonce_encoding(DSB_CIPHER_AESGCM, "AES-256-GCM", 1);
}

static void check_tamper(dsb_cipher_id id) {
  uint8_t key[32], pt[64], ct[80], out[80];
  const uint8_t ad[] = "ad";
  dsb_aead *aead = NULL;
  memset(key, 1, sizeof(key));
  memset(pt, 2, sizeof(pt));
  assert_int_equal(dsb_aead_new(&aead, NULL, id, key), 0);
  assert_int_equal(dsb_aead_seal(aead, ct, sizeof(ct), 9, ad, 2, pt, 64), 80);
  /* Flipped bit in ciphertext, then in tag: rejected, output wiped. */
  for (size_t pos = 0; pos < 80; pos += 79) {
    ct[pos] ^= 0x01;
    memset(out, 0xee, sizeof(out));
    assert_int_equal(dsb_aead_open(aead, out, sizeof(out), 9, ad, 2, ct, 80),
                     DSB_ERR_CRYPTO_AUTH);
    assert_true(dsb_ct_is_zero(out, 64));
    ct[pos] ^= 0x01;
  }
  /* Wrong nonce, wrong ad, truncated. */
  assert_int_equal(dsb_aead_open(aead, out, sizeof(out), 10, ad, 2, ct, 80),
                   DSB_ERR_CRYPTO_AUTH);
  assert_int_equal(dsb_aead_open(aead, out, sizeof(out), 9, ad, 1, ct, 80),
                   DSB_ERR_CRYPTO_AUTH);
  assert_int_equal(dsb_aead_open(aead, out, sizeof(out), 9, ad, 2, ct, 15),
                   DSB_ERR_CRYPTO_AUTH);
  /* The context still works after failures. */
  assert_int_equal(dsb_aead_open(aead, out, sizeof(out), 9, ad, 2, ct, 80), 64);
  assert_memory_equal(out, pt, 64);
  dsb_aead_del(aead);
}

static void test_reject_aead_tampered(void **state) {
  (void)state;
  check_tamper(DSB_CIPHER_CHACHAPOLY);
  check_tamper(DSB_CIPHER_AESGCM);
}

static void test_reject_aead_small_buffer(void **state) {
  (void)state;
  uint8_t key[32] = {0}, buf[32] = {0};
  dsb_aead *aead = NULL;
  assert_int_equal(dsb_aead_new(&aead, NULL, DSB_CIPHER_AESGCM, key), 0);
  assert_int_equal(dsb_aead_seal(aead, buf, 31, 0, NULL, 0, buf, 16),
                   DSB_ERR_NOBUF);
  assert_int_equal(dsb_aead_seal(aead, buf, 32, 0, NULL, 0, buf, 16), 32);
  assert_int_equal(dsb_aead_open(aead, buf, 15, 0, NULL, 0, buf, 32),
                   DSB_ERR_NOBUF);
  assert_int_equal(dsb_aead_open(aead, buf, 16, 0, NULL, 0, buf, 32), 16);
  dsb_aead_del(aead);
  assert_int_equal(dsb_aead_new(&aead, NULL, (dsb_cipher_id)7, key),
                   DSB_ERR_INVALID_ARGUMENT);
  dsb_aead_del(NULL);
}

static void test_aead_empty_plaintext(void **state) {
  (void)state;
  uint8_t key[32] = {9}, buf[16];
  dsb_aead *aead = NULL;
  assert_int_equal(dsb_aead_new(&aead, NULL, DSB_CIPHER_CHACHAPOLY, key), 0);
  assert_int_equal(dsb_aead_seal(aead, buf, sizeof(buf), 0, NULL, 0, NULL, 0),
                   16);
  assert_int_equal(dsb_aead_open(aead, buf, 0, 0, NULL, 0, buf, 16), 0);
  dsb_aead_del(aead);
}

/* REKEY(k) = first 32 bytes of ENCRYPT(k, 2^64-1, empty, 32 zero bytes). */
static void test_aead_rekey(void **state) {
  (void)state;
  for (int id = 0; id < 2; ++id) {
    uint8_t key[32], zeros[32] = {0}, k2[48], a[48], b[48];
    dsb_aead *x = NULL, *y = NULL;
    memset(key, 0x77, sizeof(key));
    assert_int_equal(dsb_aead_new(&x, NULL, (dsb_cipher_id)id, key), 0);
    assert_int_equal(
        dsb_aead_seal(x, k2, sizeof(k2), UINT64_MAX, NULL, 0, zeros, 32), 48);
    assert_int_equal(dsb_aead_rekey(x), 0);
    assert_int_equal(dsb_aead_new(&y, NULL, (dsb_cipher_id)id, k2), 0);
    assert_int_equal(dsb_aead_seal(x, a, sizeof(a), 1, NULL, 0, zeros, 32), 48);
    assert_int_equal(dsb_aead_seal(y, b, sizeof(b), 1, NULL, 0, zeros, 32), 48);
    assert_memory_equal(a, b, 48);
    dsb_aead_del(x);
    dsb_aead_del(y);
  }
}

/* ---- utilities ---------------------------------------------------------- */

static void test_ct_helpers(void **state) {
  (void)state;
  uint8_t a[32] = {0}, b[32] = {0};
  assert_true(dsb_ct_is_zero(a, 32));
  assert_true(dsb_ct_memeq(a, b, 32));
  b[31] = 0x80;
  assert_false(dsb_ct_is_zero(b, 32));
  assert_false(dsb_ct_memeq(a, b, 32));
  memset(a, 0xff, sizeof(a));
  dsb_wipe(a, sizeof(a));
  assert_true(dsb_ct_is_zero(a, 32));
  assert_true(dsb_ct_is_zero(a, 0));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_x25519_rfc7748_function_vector),
      cmocka_unit_test(test_x25519_rfc7748_diffie_hellman),
      cmocka_unit_test(test_reject_x25519_all_zero_output),
      cmocka_unit_test(test_x25519_dh_keypair_matches_dh),
      cmocka_unit_test(test_reject_x25519_dh_keypair_all_zero_output),
      cmocka_unit_test(test_x25519_keygen_uses_injected_rng),
      cmocka_unit_test(test_reject_rng_failure),
      cmocka_unit_test(test_ed25519_rfc8032_test1),
      cmocka_unit_test(test_reject_ed25519_bad_signature),
      cmocka_unit_test(test_hashes_of_abc),
      cmocka_unit_test(test_reject_unknown_hash_id),
      cmocka_unit_test(test_hmac_rfc4231),
      cmocka_unit_test(test_hmac_blake2_construction),
      cmocka_unit_test(test_hkdf_matches_definition),
      cmocka_unit_test(test_aead_rfc8439_a5),
      cmocka_unit_test(test_aead_nonce_chachapoly_little_endian),
      cmocka_unit_test(test_aead_nonce_aesgcm_big_endian),
      cmocka_unit_test(test_reject_aead_tampered),
      cmocka_unit_test(test_reject_aead_small_buffer),
      cmocka_unit_test(test_aead_empty_plaintext),
      cmocka_unit_test(test_aead_rekey),
      cmocka_unit_test(test_ct_helpers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
