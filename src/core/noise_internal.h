/*
 * noise_internal.h - the Noise framework's internal layers, shared by
 * noise_cipher.c (CipherState), noise_symmetric.c (SymmetricState),
 * noise_handshake.c (HandshakeState) and noise_patterns.c (pattern table and
 * protocol-name parser). Names follow the Noise specification, revision 34.
 *
 * Not thread-safe; every object belongs to one handshake or one direction of
 * one session.
 */
#ifndef DSB_NOISE_INTERNAL_H
#define DSB_NOISE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "dsb/crypto.h"
#include "dsb/noise.h"

/* ---- patterns (noise_patterns.c) ---------------------------------------- */

/* Tokens. A psk token carries the N of its "pskN" modifier. */
enum {
  NOISE_TOK_END = 0,
  NOISE_TOK_E = 1,
  NOISE_TOK_S = 2,
  NOISE_TOK_EE = 3,
  NOISE_TOK_ES = 4,
  NOISE_TOK_SE = 5,
  NOISE_TOK_SS = 6,
  NOISE_TOK_PSK = 16 /* NOISE_TOK_PSK + N for modifier pskN */
};

#define NOISE_MAX_MESSAGES 4
/* 5 tokens in the longest base message, plus up to 2 psk tokens (psk0 and
 * psk1 both land in message 1), plus the terminator. */
#define NOISE_MAX_TOKENS 8

typedef struct noise_protocol {
  uint8_t tokens[NOISE_MAX_MESSAGES][NOISE_MAX_TOKENS]; /* END-terminated */
  uint8_t nmsgs;
  uint8_t one_way;    /* every message goes initiator -> responder */
  uint8_t pre_init_s; /* pre-message "-> s" */
  uint8_t pre_resp_s; /* pre-message "<- s" */
  uint8_t psk_mask;   /* bit N set: modifier pskN present */
  dsb_cipher_id cipher;
  dsb_hash_id hash;
} noise_protocol;

/* Parse "Noise_<pattern>_25519_<cipher>_<hash>".
 * Errors: DSB_ERR_NOISE_UNKNOWN_PROTOCOL */
int noise_protocol_parse(noise_protocol *p, const char *name);

/* ---- CipherState (noise_cipher.c) --------------------------------------- */

struct dsb_noise_cipher {
  const dsb_mem *mem;
  dsb_aead *aead; /* one context for the life of the state; keys replace */
  uint64_t n;
  int has_key;
};

/* Set up |cs| with no key (HasKey() false) and an AEAD context ready for
 * InitializeKey. Errors: DSB_ERR_NOMEM, DSB_ERR_CRYPTO */
int noise_cipher_init(dsb_noise_cipher *cs, const dsb_mem *mem,
                      dsb_cipher_id id);

/* Free the context and wipe. Safe on a zeroed or already-cleared state. */
void noise_cipher_clear(dsb_noise_cipher *cs);

/* InitializeKey(k): n = 0. Errors: DSB_ERR_CRYPTO */
int noise_cipher_initialize_key(dsb_noise_cipher *cs,
                                const uint8_t key[static 32]);

/* EncryptWithAd / DecryptWithAd; without a key they copy the input
 * (|dst| may equal the input). Errors: as dsb_noise_cipher_encrypt/decrypt. */
long noise_cipher_encrypt_ad(dsb_noise_cipher *cs, uint8_t *dst, size_t dstlen,
                             const uint8_t *ad, size_t adlen, const uint8_t *pt,
                             size_t ptlen);
long noise_cipher_decrypt_ad(dsb_noise_cipher *cs, uint8_t *dst, size_t dstlen,
                             const uint8_t *ad, size_t adlen, const uint8_t *ct,
                             size_t ctlen);

/* ---- SymmetricState (noise_symmetric.c) --------------------------------- */

typedef struct noise_symmetric {
  dsb_hash_id hash;
  size_t hashlen;
  uint8_t ck[DSB_NOISE_MAX_HASH_LEN];
  uint8_t h[DSB_NOISE_MAX_HASH_LEN];
  dsb_noise_cipher cs;
} noise_symmetric;

/* InitializeSymmetric(protocol_name). Errors: DSB_ERR_NOMEM, DSB_ERR_CRYPTO */
int noise_sym_init(noise_symmetric *ss, const dsb_mem *mem, const char *name,
                   dsb_cipher_id cipher, dsb_hash_id hash);

/* Wipe ck, h and the key; free the context. */
void noise_sym_clear(noise_symmetric *ss);

int noise_sym_mix_key(noise_symmetric *ss, const uint8_t *ikm, size_t ikmlen);
int noise_sym_mix_hash(noise_symmetric *ss, const uint8_t *data, size_t len);
int noise_sym_mix_key_and_hash(noise_symmetric *ss, const uint8_t *ikm,
                               size_t ikmlen);

/* EncryptAndHash / DecryptAndHash: |dst| must not overlap the input. */
long noise_sym_encrypt_and_hash(noise_symmetric *ss, uint8_t *dst,
                                size_t dstlen, const uint8_t *pt, size_t ptlen);
long noise_sym_decrypt_and_hash(noise_symmetric *ss, uint8_t *dst,
                                size_t dstlen, const uint8_t *ct, size_t ctlen);

/* Split(): the two 32-byte transport keys (truncated from HASHLEN).
 * Errors: DSB_ERR_CRYPTO */
int noise_sym_split(noise_symmetric *ss, uint8_t k1[static 32],
                    uint8_t k2[static 32]);

#endif /* DSB_NOISE_INTERNAL_H */
