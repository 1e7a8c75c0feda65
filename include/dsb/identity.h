/*
 * dsb/identity.h - device identity: the Ed25519 device key, the device id
 * derived from it, and the certificate that binds the X25519 Noise static key
 * to the device. Wire layouts: docs/PROTOCOL.md, "Identity".
 *
 * Thread safety: pure functions, thread-safe. A dsb_identity holds secrets:
 * wipe it with dsb_identity_wipe() when done.
 */
#ifndef DSB_IDENTITY_H
#define DSB_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "dsb/common.h"
#include "dsb/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DSB_DEVICE_ID_LEN 16      /* raw bytes */
#define DSB_DEVICE_ID_TEXT_LEN 32 /* lowercase hex characters, no NUL */

/* Domain-separation labels (ASCII, no NUL on the wire). */
#define DSB_DEVICE_ID_LABEL "dsoftbus-lite/device-id/v1"
#define DSB_CERT_LABEL "dsoftbus-lite/static-key-cert/v1"

/* A device id: first 16 bytes of BLAKE2s-256(DSB_DEVICE_ID_LABEL || ed_pk). */
typedef struct dsb_device_id {
  uint8_t b[DSB_DEVICE_ID_LEN];
} dsb_device_id;

/* What a peer presents to prove its identity (handshake payload, discovery
 * announcement): no secrets. */
typedef struct dsb_identity_proof {
  uint8_t ed_pk[DSB_ED25519_PK_LEN];
  uint8_t static_pk[DSB_X25519_KEY_LEN];
  uint8_t cert[DSB_ED25519_SIG_LEN];
} dsb_identity_proof;

/* This device's keys. Holds secrets. */
typedef struct dsb_identity {
  uint8_t ed_seed[DSB_ED25519_SEED_LEN];
  uint8_t static_sk[DSB_X25519_KEY_LEN];
  dsb_identity_proof proof; /* public half */
  dsb_device_id id;
} dsb_identity;

/* Derive the device id of |ed_pk|. Errors: DSB_ERR_CRYPTO */
DSB_MUST_CHECK int dsb_device_id_derive(dsb_device_id *id,
                                        const uint8_t ed_pk[static 32]);

/* Write the 32-character text form and a NUL into |out| (33 bytes). */
void dsb_device_id_format(char out[static DSB_DEVICE_ID_TEXT_LEN + 1],
                          const dsb_device_id *id);

/* Parse the text form (exactly 32 hex characters, either case).
 * Errors: DSB_ERR_MALFORMED */
DSB_MUST_CHECK int dsb_device_id_parse(dsb_device_id *id, const char *text,
                                       size_t textlen);

/* 1 if equal (constant time), else 0. */
int dsb_device_id_eq(const dsb_device_id *a, const dsb_device_id *b);

/*
 * Certificate: Ed25519 signature by the device key over
 * DSB_CERT_LABEL || static_pk (32) || device_id (16).
 * Errors: DSB_ERR_CRYPTO
 */
DSB_MUST_CHECK int dsb_cert_sign(uint8_t cert[static DSB_ED25519_SIG_LEN],
                                 const uint8_t ed_seed[static 32],
                                 const uint8_t ed_pk[static 32],
                                 const uint8_t static_pk[static 32]);

/* Verify |proof| and output the device id it proves.
 * Errors: DSB_ERR_IDENTITY_BAD_CERT, DSB_ERR_CRYPTO */
DSB_MUST_CHECK int dsb_identity_proof_verify(const dsb_identity_proof *proof,
                                             dsb_device_id *id);

/* Fresh identity from |rng| (NULL: CSPRNG).
 * Errors: DSB_ERR_CRYPTO_RNG, DSB_ERR_CRYPTO */
DSB_MUST_CHECK int dsb_identity_generate(dsb_identity *ident,
                                         const dsb_rng *rng);

/* Rebuild an identity from its two secret keys (derives the rest).
 * Errors: DSB_ERR_CRYPTO */
DSB_MUST_CHECK int
dsb_identity_from_secrets(dsb_identity *ident, const uint8_t ed_seed[static 32],
                          const uint8_t static_sk[static 32]);

void dsb_identity_wipe(dsb_identity *ident);

#ifdef __cplusplus
}
#endif

#endif /* DSB_IDENTITY_H */
