/*
 * identity.c - device id, static-key certificate and identity generation
 * (include/dsb/identity.h). Byte layouts: docs/PROTOCOL.md, "Identity".
 *
 * Sans-IO: keys come from an injected dsb_rng; nothing here touches files
 * (storage is src/io/keystore.c).
 */
#include <string.h>

#include "dsb/crypto.h"
#include "dsb/err.h"
#include "dsb/identity.h"
#include "dsb/wire.h"

#define IDENTITY_DEVICE_ID_LABEL_LEN (sizeof(DSB_DEVICE_ID_LABEL) - 1)
#define IDENTITY_CERT_LABEL_LEN (sizeof(DSB_CERT_LABEL) - 1)

/* DSB_CERT_LABEL || static_pk (32) || device_id (16) */
#define IDENTITY_CERT_MSG_LEN                                                  \
  (IDENTITY_CERT_LABEL_LEN + DSB_X25519_KEY_LEN + DSB_DEVICE_ID_LEN)

_Static_assert(DSB_ED25519_PK_LEN == 32, "identity.h hard-codes 32");
_Static_assert(DSB_X25519_KEY_LEN == 32, "identity.h hard-codes 32");
_Static_assert(DSB_ED25519_SEED_LEN == 32, "identity.h hard-codes 32");

int dsb_device_id_derive(dsb_device_id *id, const uint8_t ed_pk[static 32]) {
  uint8_t digest[32];
  const dsb_iov iov[2] = {
      {(const uint8_t *)DSB_DEVICE_ID_LABEL, IDENTITY_DEVICE_ID_LABEL_LEN},
      {ed_pk, DSB_ED25519_PK_LEN}};

  if (!id) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (dsb_hash(DSB_HASH_BLAKE2S, digest, iov, 2) != 0) {
    return DSB_ERR_CRYPTO;
  }
  memcpy(id->b, digest, DSB_DEVICE_ID_LEN);
  return 0;
}

void dsb_device_id_format(char out[static DSB_DEVICE_ID_TEXT_LEN + 1],
                          const dsb_device_id *id) {
  static const char hex[] = "0123456789abcdef";

  for (size_t i = 0; i < DSB_DEVICE_ID_LEN; ++i) {
    out[2 * i] = hex[id->b[i] >> 4];
    out[2 * i + 1] = hex[id->b[i] & 0x0f];
  }
  out[DSB_DEVICE_ID_TEXT_LEN] = '\0';
}

static int identity_hex_nibble(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

int dsb_device_id_parse(dsb_device_id *id, const char *text, size_t textlen) {
  dsb_device_id tmp;

  if (!id || !text || textlen != DSB_DEVICE_ID_TEXT_LEN) {
    return DSB_ERR_MALFORMED;
  }
  for (size_t i = 0; i < DSB_DEVICE_ID_LEN; ++i) {
    int hi = identity_hex_nibble(text[2 * i]);
    int lo = identity_hex_nibble(text[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return DSB_ERR_MALFORMED;
    }
    tmp.b[i] = (uint8_t)((hi << 4) | lo);
  }
  *id = tmp;
  return 0;
}

int dsb_device_id_eq(const dsb_device_id *a, const dsb_device_id *b) {
  return dsb_ct_memeq(a->b, b->b, DSB_DEVICE_ID_LEN);
}

/*
 * The signed message (docs/PROTOCOL.md, "Static-key certificate"). The
 * device id is part of it, so one signature binds the static key to the
 * device id as well as to the Ed25519 key that made it.
 */
static void identity_cert_msg(uint8_t msg[static IDENTITY_CERT_MSG_LEN],
                              const uint8_t static_pk[static 32],
                              const dsb_device_id *id) {
  uint8_t *p = msg;

  p = dsb_wire_put_bytes(p, (const uint8_t *)DSB_CERT_LABEL,
                         IDENTITY_CERT_LABEL_LEN);
  p = dsb_wire_put_bytes(p, static_pk, DSB_X25519_KEY_LEN);
  (void)dsb_wire_put_bytes(p, id->b, DSB_DEVICE_ID_LEN);
}

int dsb_cert_sign(uint8_t cert[static DSB_ED25519_SIG_LEN],
                  const uint8_t ed_seed[static 32],
                  const uint8_t ed_pk[static 32],
                  const uint8_t static_pk[static 32]) {
  uint8_t msg[IDENTITY_CERT_MSG_LEN];
  dsb_device_id id;
  int rv;

  rv = dsb_device_id_derive(&id, ed_pk);
  if (rv != 0) {
    return rv;
  }
  identity_cert_msg(msg, static_pk, &id);
  if (dsb_ed25519_sign(cert, ed_seed, msg, sizeof(msg)) != 0) {
    dsb_wipe(cert, DSB_ED25519_SIG_LEN);
    return DSB_ERR_CRYPTO;
  }
  return 0;
}

int dsb_identity_proof_verify(const dsb_identity_proof *proof,
                              dsb_device_id *id) {
  uint8_t msg[IDENTITY_CERT_MSG_LEN];
  dsb_device_id derived;
  int rv;

  if (!proof || !id) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  /* The id is recomputed from the key, never taken from the peer. */
  rv = dsb_device_id_derive(&derived, proof->ed_pk);
  if (rv != 0) {
    return rv;
  }
  identity_cert_msg(msg, proof->static_pk, &derived);
  rv = dsb_ed25519_verify(proof->cert, proof->ed_pk, msg, sizeof(msg));
  if (rv == DSB_ERR_CRYPTO_BAD_SIGNATURE) {
    return DSB_ERR_IDENTITY_BAD_CERT;
  }
  if (rv != 0) {
    return DSB_ERR_CRYPTO;
  }
  *id = derived;
  return 0;
}

/* Fill the public half from the two secrets (already in |ident|). */
static int identity_complete(dsb_identity *ident) {
  int rv;

  if (dsb_ed25519_pubkey(ident->proof.ed_pk, ident->ed_seed) != 0) {
    return DSB_ERR_CRYPTO;
  }
  if (dsb_x25519_pubkey(ident->proof.static_pk, ident->static_sk) != 0) {
    return DSB_ERR_CRYPTO;
  }
  rv = dsb_device_id_derive(&ident->id, ident->proof.ed_pk);
  if (rv != 0) {
    return rv;
  }
  return dsb_cert_sign(ident->proof.cert, ident->ed_seed, ident->proof.ed_pk,
                       ident->proof.static_pk);
}

int dsb_identity_generate(dsb_identity *ident, const dsb_rng *rng) {
  dsb_identity tmp;
  int rv;

  if (!ident) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  /* Every field is written below; zeroing first keeps the copy to *ident
   * defined (padding included) whatever a later field addition forgets. */
  memset(&tmp, 0, sizeof(tmp));
  rv = dsb_ed25519_keygen(rng, tmp.ed_seed, tmp.proof.ed_pk);
  if (rv != 0) {
    goto out;
  }
  rv = dsb_x25519_keygen(rng, tmp.static_sk, tmp.proof.static_pk);
  if (rv != 0) {
    goto out;
  }
  rv = identity_complete(&tmp);
  if (rv != 0) {
    goto out;
  }
  *ident = tmp;

out:
  dsb_wipe(&tmp, sizeof(tmp));
  return rv;
}

int dsb_identity_from_secrets(dsb_identity *ident,
                              const uint8_t ed_seed[static 32],
                              const uint8_t static_sk[static 32]) {
  dsb_identity tmp;
  int rv;

  if (!ident) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  memset(&tmp, 0, sizeof(tmp));
  memcpy(tmp.ed_seed, ed_seed, sizeof(tmp.ed_seed));
  memcpy(tmp.static_sk, static_sk, sizeof(tmp.static_sk));
  /* Ed25519 signatures are deterministic, so the certificate is the same
   * one that was made when the identity was generated. */
  rv = identity_complete(&tmp);
  if (rv == 0) {
    *ident = tmp;
  }
  dsb_wipe(&tmp, sizeof(tmp));
  return rv;
}

void dsb_identity_wipe(dsb_identity *ident) {
  if (ident) {
    dsb_wipe(ident, sizeof(*ident));
  }
}
