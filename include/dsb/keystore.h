/*
 * dsb/keystore.h - the identity file: this device's two secret keys on
 * disk. Byte layout: docs/PROTOCOL.md, "Identity file"; storage rules:
 * docs/SECURITY.md, "Identity and trust".
 *
 * The file holds only the Ed25519 seed and the X25519 static secret; the
 * public keys, device id and certificate are derived again on load
 * (Ed25519 signatures are deterministic, so the certificate is identical).
 * It is written once, atomically, mode 0600, and never replaced by these
 * functions: a file that is corrupt or has unsafe permissions is an error
 * for the operator to resolve, never a reason to mint a new identity.
 *
 * The codec (encode/decode) is pure and works on memory; the file functions
 * are part of dsb_io. Thread safety: all functions are thread-safe. Every
 * buffer that held key bytes is wiped before it is released.
 */
#ifndef DSB_KEYSTORE_H
#define DSB_KEYSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "dsb/common.h"
#include "dsb/identity.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DSB_KEYSTORE_FILE_NAME "identity.key"
#define DSB_KEYSTORE_MAGIC "DSBIDKEY" /* 8 ASCII bytes, no NUL */
#define DSB_KEYSTORE_MAGIC_LEN 8
#define DSB_KEYSTORE_VERSION 1
#define DSB_KEYSTORE_CHECKSUM_LABEL "dsoftbus-lite/identity-file/v1"
#define DSB_KEYSTORE_CHECKSUM_LEN 32
/* magic 8 | version 1 | reserved 3 | ed_seed 32 | static_sk 32 | sum 32 */
#define DSB_KEYSTORE_FILE_LEN 108

/* Flags reported by dsb_keystore_load_or_create(). */
#define DSB_KEYSTORE_CREATED 0x1u /* a new identity was generated and saved */

/*
 * Encode the secrets of |ident| into |out|. Returns DSB_KEYSTORE_FILE_LEN.
 * The caller wipes |out| after use.
 * Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_NOBUF, DSB_ERR_CRYPTO.
 */
DSB_MUST_CHECK int dsb_keystore_encode(uint8_t *out, size_t outlen,
                                       const dsb_identity *ident);

/*
 * Decode an identity file image |in| and rebuild the full identity.
 * |*ident| is written only on success.
 * Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_IDENTITY_FILE_CORRUPT (wrong
 * length, bad magic, non-zero reserved bytes, checksum mismatch),
 * DSB_ERR_STATEFILE_VERSION (a version other than 1), DSB_ERR_CRYPTO.
 */
DSB_MUST_CHECK int dsb_keystore_decode(dsb_identity *ident, const uint8_t *in,
                                       size_t inlen);

/*
 * Load the identity file at |path|.
 * Errors: DSB_ERR_NOT_FOUND (no file), DSB_ERR_IDENTITY_FILE_MODE (not a
 * regular file, not owned by the effective uid, or any group/other
 * permission bit set), DSB_ERR_IDENTITY_FILE_CORRUPT,
 * DSB_ERR_STATEFILE_VERSION, DSB_ERR_PERMISSION, DSB_ERR_IO,
 * DSB_ERR_INVALID_ARGUMENT, DSB_ERR_CRYPTO.
 */
DSB_MUST_CHECK int dsb_keystore_load(dsb_identity *ident, const char *path);

/*
 * Write |ident| to a new file at |path| (mode 0600, atomic). Never
 * replaces an existing file.
 * Errors: DSB_ERR_EXISTS, DSB_ERR_NOT_FOUND (no directory),
 * DSB_ERR_PERMISSION, DSB_ERR_IO, DSB_ERR_INVALID_ARGUMENT, DSB_ERR_CRYPTO.
 */
DSB_MUST_CHECK int dsb_keystore_create(const char *path,
                                       const dsb_identity *ident);

/*
 * The daemon's start-up path: make sure |state_dir| exists (created 0700),
 * then load <state_dir>/identity.key, or, only when that file does not
 * exist, generate a fresh identity from |rng| (NULL: CSPRNG) and create the
 * file. If another process creates the file first, its identity is loaded.
 * |*pflags| (may be NULL) gets DSB_KEYSTORE_CREATED when a new identity was
 * made. |*ident| is written only on success.
 * Errors: those of dsb_statefile_ensure_dir() (DSB_ERR_STATEFILE_MODE for
 * an unsafe directory), dsb_keystore_load() and dsb_keystore_create(),
 * DSB_ERR_CRYPTO_RNG.
 */
DSB_MUST_CHECK int dsb_keystore_load_or_create(dsb_identity *ident,
                                               const char *state_dir,
                                               const dsb_rng *rng,
                                               uint32_t *pflags);

#ifdef __cplusplus
}
#endif

#endif /* DSB_KEYSTORE_H */
