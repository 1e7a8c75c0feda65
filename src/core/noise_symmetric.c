/*
 * noise_symmetric.c - SymmetricState (Noise spec section 5.2): the chaining
 * key ck, the handshake hash h, and the handshake CipherState.
 */
#include <string.h>

#include "core/noise_internal.h"
#include "dsb/err.h"

int noise_sym_init(noise_symmetric *ss, const dsb_mem *mem, const char *name,
                   dsb_cipher_id cipher, dsb_hash_id hash) {
  size_t namelen = strlen(name);
  int rv;

  memset(ss, 0, sizeof(*ss));
  ss->hash = hash;
  ss->hashlen = dsb_hash_len(hash);
  if (ss->hashlen == 0) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  /* h = name padded with zeros when it fits in HASHLEN, else HASH(name). */
  if (namelen <= ss->hashlen) {
    memcpy(ss->h, name, namelen);
  } else {
    dsb_iov iov = {(const uint8_t *)name, namelen};
    if ((rv = dsb_hash(hash, ss->h, &iov, 1)) != 0) {
      return rv;
    }
  }
  memcpy(ss->ck, ss->h, ss->hashlen);
  return noise_cipher_init(&ss->cs, mem, cipher);
}

void noise_sym_clear(noise_symmetric *ss) {
  noise_cipher_clear(&ss->cs);
  dsb_wipe(ss->ck, sizeof(ss->ck));
  dsb_wipe(ss->h, sizeof(ss->h));
}

int noise_sym_mix_key(noise_symmetric *ss, const uint8_t *ikm, size_t ikmlen) {
  uint8_t temp_k[DSB_NOISE_MAX_HASH_LEN];
  int rv = dsb_hkdf(ss->hash, ss->ck, temp_k, NULL, ss->ck, ikm, ikmlen);
  if (rv == 0) {
    /* A 64-byte HASHLEN yields a 64-byte temp_k: the key is its first 32. */
    rv = noise_cipher_initialize_key(&ss->cs, temp_k);
  }
  dsb_wipe(temp_k, sizeof(temp_k));
  return rv;
}

int noise_sym_mix_hash(noise_symmetric *ss, const uint8_t *data, size_t len) {
  dsb_iov iov[2] = {{ss->h, ss->hashlen}, {data, len}};
  return dsb_hash(ss->hash, ss->h, iov, 2);
}

int noise_sym_mix_key_and_hash(noise_symmetric *ss, const uint8_t *ikm,
                               size_t ikmlen) {
  uint8_t temp_h[DSB_NOISE_MAX_HASH_LEN], temp_k[DSB_NOISE_MAX_HASH_LEN];
  int rv = dsb_hkdf(ss->hash, ss->ck, temp_h, temp_k, ss->ck, ikm, ikmlen);
  if (rv == 0) {
    rv = noise_sym_mix_hash(ss, temp_h, ss->hashlen);
  }
  if (rv == 0) {
    rv = noise_cipher_initialize_key(&ss->cs, temp_k);
  }
  dsb_wipe(temp_h, sizeof(temp_h));
  dsb_wipe(temp_k, sizeof(temp_k));
  return rv;
}

long noise_sym_encrypt_and_hash(noise_symmetric *ss, uint8_t *dst,
                                size_t dstlen, const uint8_t *pt,
                                size_t ptlen) {
  long n = noise_cipher_encrypt_ad(&ss->cs, dst, dstlen, ss->h, ss->hashlen, pt,
                                   ptlen);
  if (n < 0) {
    return n;
  }
  int rv = noise_sym_mix_hash(ss, dst, (size_t)n);
  return rv != 0 ? rv : n;
}

long noise_sym_decrypt_and_hash(noise_symmetric *ss, uint8_t *dst,
                                size_t dstlen, const uint8_t *ct,
                                size_t ctlen) {
  long n = noise_cipher_decrypt_ad(&ss->cs, dst, dstlen, ss->h, ss->hashlen, ct,
                                   ctlen);
  if (n < 0) {
    return n;
  }
  /* h absorbs the ciphertext, not the plaintext: |ct| is still intact
   * because |dst| does not overlap it. */
  int rv = noise_sym_mix_hash(ss, ct, ctlen);
  return rv != 0 ? rv : n;
}

int noise_sym_split(noise_symmetric *ss, uint8_t k1[static 32],
                    uint8_t k2[static 32]) {
  uint8_t t1[DSB_NOISE_MAX_HASH_LEN], t2[DSB_NOISE_MAX_HASH_LEN];
  int rv = dsb_hkdf(ss->hash, t1, t2, NULL, ss->ck, NULL, 0);
  if (rv == 0) {
    memcpy(k1, t1, 32);
    memcpy(k2, t2, 32);
  }
  dsb_wipe(t1, sizeof(t1));
  dsb_wipe(t2, sizeof(t2));
  return rv;
}
