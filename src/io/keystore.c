/*
 * keystore.c - the identity file (include/dsb/keystore.h). Layout:
 * docs/PROTOCOL.md, "Identity file".
 */
#include <limits.h>
#include <string.h>

#include "dsb/crypto.h"
#include "dsb/err.h"
#include "dsb/keystore.h"
#include "dsb/statefile.h"
#include "dsb/wire.h"

#define KEYSTORE_BODY_LEN (DSB_KEYSTORE_FILE_LEN - DSB_KEYSTORE_CHECKSUM_LEN)
#define KEYSTORE_HEADER_LEN (DSB_KEYSTORE_MAGIC_LEN + 1 + 3)

_Static_assert(KEYSTORE_HEADER_LEN + DSB_ED25519_SEED_LEN + DSB_X25519_KEY_LEN +
                       DSB_KEYSTORE_CHECKSUM_LEN ==
                   DSB_KEYSTORE_FILE_LEN,
               "identity file layout");

/* BLAKE2s-256(label || body): catches truncation and flipped bits. It is
 * not a MAC: whoever can write the file can replace the identity anyway. */
static int keystore_checksum(uint8_t sum[static DSB_KEYSTORE_CHECKSUM_LEN],
                             const uint8_t body[static KEYSTORE_BODY_LEN]) {
  const dsb_iov iov[2] = {{(const uint8_t *)DSB_KEYSTORE_CHECKSUM_LABEL,
                           sizeof(DSB_KEYSTORE_CHECKSUM_LABEL) - 1},
                          {body, KEYSTORE_BODY_LEN}};

  return dsb_hash(DSB_HASH_BLAKE2S, sum, iov, 2) == 0 ? 0 : DSB_ERR_CRYPTO;
}

int dsb_keystore_encode(uint8_t *out, size_t outlen,
                        const dsb_identity *ident) {
  uint8_t *p = out;
  int rv;

  if (!out || !ident) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (outlen < DSB_KEYSTORE_FILE_LEN) {
    return DSB_ERR_NOBUF;
  }
  p = dsb_wire_put_bytes(p, (const uint8_t *)DSB_KEYSTORE_MAGIC,
                         DSB_KEYSTORE_MAGIC_LEN);
  p = dsb_wire_put_u8(p, DSB_KEYSTORE_VERSION);
  p = dsb_wire_put_u8(p, 0);
  p = dsb_wire_put_u16be(p, 0);
  p = dsb_wire_put_bytes(p, ident->ed_seed, DSB_ED25519_SEED_LEN);
  p = dsb_wire_put_bytes(p, ident->static_sk, DSB_X25519_KEY_LEN);
  rv = keystore_checksum(p, out);
  if (rv != 0) {
    dsb_wipe(out, DSB_KEYSTORE_FILE_LEN);
    return rv;
  }
  return DSB_KEYSTORE_FILE_LEN;
}

int dsb_keystore_decode(dsb_identity *ident, const uint8_t *in, size_t inlen) {
  uint8_t sum[DSB_KEYSTORE_CHECKSUM_LEN];
  const uint8_t *p = in;
  uint8_t version, r8;
  uint16_t r16;
  int rv;

  if (!ident || (!in && inlen > 0)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (inlen < DSB_KEYSTORE_MAGIC_LEN + 1 ||
      memcmp(p, DSB_KEYSTORE_MAGIC, DSB_KEYSTORE_MAGIC_LEN) != 0) {
    return DSB_ERR_IDENTITY_FILE_CORRUPT;
  }
  p += DSB_KEYSTORE_MAGIC_LEN;
  p = dsb_wire_get_u8(p, &version);
  if (version != DSB_KEYSTORE_VERSION) {
    return DSB_ERR_STATEFILE_VERSION;
  }
  if (inlen != DSB_KEYSTORE_FILE_LEN) {
    return DSB_ERR_IDENTITY_FILE_CORRUPT;
  }
  rv = keystore_checksum(sum, in);
  if (rv != 0) {
    return rv;
  }
  if (!dsb_ct_memeq(sum, in + KEYSTORE_BODY_LEN, sizeof(sum))) {
    return DSB_ERR_IDENTITY_FILE_CORRUPT;
  }
  p = dsb_wire_get_u8(p, &r8);
  p = dsb_wire_get_u16be(p, &r16);
  if (r8 != 0 || r16 != 0) {
    return DSB_ERR_IDENTITY_FILE_CORRUPT;
  }
  return dsb_identity_from_secrets(ident, p, p + DSB_ED25519_SEED_LEN);
}

int dsb_keystore_load(dsb_identity *ident, const char *path) {
  /* One spare byte so a longer file reads as "too long", not as a
   * valid prefix. */
  uint8_t buf[DSB_KEYSTORE_FILE_LEN + 1];
  size_t len = 0;
  int rv;

  if (!ident || !path) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  rv = dsb_statefile_read(path, buf, sizeof(buf), &len, 0600);
  switch (rv) {
  case 0:
    rv = dsb_keystore_decode(ident, buf, len);
    break;
  case DSB_ERR_STATEFILE_MODE:
    rv = DSB_ERR_IDENTITY_FILE_MODE;
    break;
  case DSB_ERR_LIMIT:
    rv = DSB_ERR_IDENTITY_FILE_CORRUPT;
    break;
  default:
    break;
  }
  dsb_wipe(buf, sizeof(buf));
  return rv;
}

int dsb_keystore_create(const char *path, const dsb_identity *ident) {
  uint8_t buf[DSB_KEYSTORE_FILE_LEN];
  int rv;

  if (!path || !ident) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  rv = dsb_keystore_encode(buf, sizeof(buf), ident);
  if (rv >= 0) {
    rv = dsb_statefile_create_atomic(path, buf, (size_t)rv, 0600);
  }
  dsb_wipe(buf, sizeof(buf));
  return rv;
}

int dsb_keystore_load_or_create(dsb_identity *ident, const char *state_dir,
                                const dsb_rng *rng, uint32_t *pflags) {
  char path[PATH_MAX];
  dsb_identity fresh;
  uint32_t flags = 0;
  int rv;

  if (!ident || !state_dir) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  rv = dsb_statefile_ensure_dir(state_dir, 0700);
  if (rv != 0) {
    return rv;
  }
  rv =
      dsb_statefile_join(path, sizeof(path), state_dir, DSB_KEYSTORE_FILE_NAME);
  if (rv != 0) {
    return rv == DSB_ERR_NOBUF ? DSB_ERR_INVALID_ARGUMENT : rv;
  }
  rv = dsb_keystore_load(ident, path);
  if (rv != DSB_ERR_NOT_FOUND) {
    goto out;
  }
  /* Only a missing file leads here; every other failure is reported. */
  rv = dsb_identity_generate(&fresh, rng);
  if (rv != 0) {
    goto out;
  }
  rv = dsb_keystore_create(path, &fresh);
  if (rv == 0) {
    *ident = fresh;
    flags |= DSB_KEYSTORE_CREATED;
  } else if (rv == DSB_ERR_EXISTS) {
    /* Another process won the race: use its identity. */
    rv = dsb_keystore_load(ident, path);
  }
  dsb_identity_wipe(&fresh);

out:
  if (rv == 0 && pflags) {
    *pflags = flags;
  }
  return rv;
}
