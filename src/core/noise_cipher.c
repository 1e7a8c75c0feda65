/*
 * noise_cipher.c - CipherState (Noise spec section 5.1) over a reusable
 * dsb_aead: the AEAD context is created once, InitializeKey only replaces
 * the key, and each message only changes the nonce.
 */
#include <string.h>

#include "core/noise_internal.h"
#include "dsb/err.h"

int noise_cipher_init(dsb_noise_cipher *cs, const dsb_mem *mem,
                      dsb_cipher_id id) {
  static const uint8_t zero_key[DSB_AEAD_KEY_LEN];
  memset(cs, 0, sizeof(*cs));
  cs->mem = mem;
  /* The placeholder key is never used: has_key gates every operation. */
  return dsb_aead_new(&cs->aead, mem, id, zero_key);
}

void noise_cipher_clear(dsb_noise_cipher *cs) {
  dsb_aead_del(cs->aead);
  cs->aead = NULL;
  cs->n = 0;
  cs->has_key = 0;
}

int noise_cipher_initialize_key(dsb_noise_cipher *cs,
                                const uint8_t key[static 32]) {
  int rv = dsb_aead_set_key(cs->aead, key);
  if (rv != 0) {
    cs->has_key = 0;
    return rv;
  }
  cs->n = 0;
  cs->has_key = 1;
  return 0;
}

long noise_cipher_encrypt_ad(dsb_noise_cipher *cs, uint8_t *dst, size_t dstlen,
                             const uint8_t *ad, size_t adlen, const uint8_t *pt,
                             size_t ptlen) {
  long rv;
  if (!cs->has_key) {
    if (ptlen > DSB_NOISE_MAX_MSG_LEN) {
      return DSB_ERR_NOISE_MSG_TOO_LONG;
    }
    if (dstlen < ptlen) {
      return DSB_ERR_NOBUF;
    }
    if (ptlen && dst != pt) {
      memmove(dst, pt, ptlen);
    }
    return (long)ptlen;
  }
  if (ptlen > DSB_NOISE_MAX_PAYLOAD_LEN) {
    return DSB_ERR_NOISE_MSG_TOO_LONG;
  }
  /* Nonce 2^64-1 is reserved (spec 5.1): using it would collide with
   * REKEY's nonce. */
  if (cs->n == UINT64_MAX) {
    return DSB_ERR_NOISE_NONCE_EXHAUSTED;
  }
  rv = dsb_aead_seal(cs->aead, dst, dstlen, cs->n, ad, adlen, pt, ptlen);
  if (rv >= 0) {
    ++cs->n;
  }
  return rv;
}

long noise_cipher_decrypt_ad(dsb_noise_cipher *cs, uint8_t *dst, size_t dstlen,
                             const uint8_t *ad, size_t adlen, const uint8_t *ct,
                             size_t ctlen) {
  long rv;
  if (ctlen > DSB_NOISE_MAX_MSG_LEN) {
    return DSB_ERR_NOISE_MSG_TOO_LONG;
  }
  if (!cs->has_key) {
    if (dstlen < ctlen) {
      return DSB_ERR_NOBUF;
    }
    if (ctlen && dst != ct) {
      memmove(dst, ct, ctlen);
    }
    return (long)ctlen;
  }
  if (cs->n == UINT64_MAX) {
    return DSB_ERR_NOISE_NONCE_EXHAUSTED;
  }
  /* On failure the nonce stays put (spec 5.1), so a rejected forgery does
   * not desynchronise the real stream. */
  rv = dsb_aead_open(cs->aead, dst, dstlen, cs->n, ad, adlen, ct, ctlen);
  if (rv >= 0) {
    ++cs->n;
  }
  return rv;
}

/* ---- public transport API ----------------------------------------------- */

int dsb_noise_cipher_new(dsb_noise_cipher **pcs, const dsb_mem *mem,
                         dsb_cipher_id id, const uint8_t key[static 32]) {
  dsb_noise_cipher *cs;
  int rv;
  if (!pcs) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  cs = dsb_mem_calloc(mem, 1, sizeof(*cs));
  if (!cs) {
    return DSB_ERR_NOMEM;
  }
  rv = dsb_aead_new(&cs->aead, mem, id, key);
  if (rv != 0) {
    goto fail_aead;
  }
  cs->mem = mem;
  cs->has_key = 1;
  *pcs = cs;
  return 0;

fail_aead:
  dsb_mem_free(mem, cs);
  return rv;
}

void dsb_noise_cipher_del(dsb_noise_cipher *cs) {
  const dsb_mem *mem;
  if (!cs) {
    return;
  }
  mem = cs->mem;
  noise_cipher_clear(cs); /* dsb_aead_del cleanses the key schedule */
  dsb_mem_free(mem, cs);
}

long dsb_noise_cipher_encrypt(dsb_noise_cipher *cs, uint8_t *dst, size_t dstlen,
                              const uint8_t *ad, size_t adlen,
                              const uint8_t *pt, size_t ptlen) {
  return noise_cipher_encrypt_ad(cs, dst, dstlen, ad, adlen, pt, ptlen);
}

long dsb_noise_cipher_decrypt(dsb_noise_cipher *cs, uint8_t *dst, size_t dstlen,
                              const uint8_t *ad, size_t adlen,
                              const uint8_t *ct, size_t ctlen) {
  return noise_cipher_decrypt_ad(cs, dst, dstlen, ad, adlen, ct, ctlen);
}

void dsb_noise_cipher_set_nonce(dsb_noise_cipher *cs, uint64_t n) {
  cs->n = n;
}

uint64_t dsb_noise_cipher_get_nonce(const dsb_noise_cipher *cs) {
  return cs->n;
}

int dsb_noise_cipher_rekey(dsb_noise_cipher *cs) {
  return dsb_aead_rekey(cs->aead);
}
