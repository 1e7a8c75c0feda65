/*
 * dsb/noise.h - the Noise Protocol Framework (revision 34), sans-IO.
 *
 * A dsb_noise_handshake runs one handshake of any supported pattern:
 * the fundamental one-way (N K X) and interactive (NN NK NX XN XK XX KN KK KX
 * IN IK IX) patterns, the deferred patterns (NK1 X1K ... I1X1), and any
 * combination of pskN modifiers ("XXpsk3", "NNpsk0+psk2"). Primitives: DH
 * 25519; ciphers ChaChaPoly and AESGCM; hashes BLAKE2s, BLAKE2b, SHA256,
 * SHA512. Handshake messages go into and come from caller buffers; nothing
 * here does I/O, reads a clock, or draws randomness except through the
 * dsb_rng given at creation.
 *
 * After the last handshake message, dsb_noise_handshake_split() yields the
 * two transport dsb_noise_cipher objects (send, receive).
 *
 * Thread safety: objects are not thread-safe; use each from one thread.
 *
 * Ownership: every object is allocated through the dsb_mem given to its
 * constructor and freed by its _del, which wipes all key material.
 *
 * Failure: any error from write_message/read_message that occurs after the
 * handshake state started to change (a bad tag, an all-zero DH result, an
 * RNG failure) puts the handshake into the failed state: its secrets are
 * wiped and every later call returns DSB_ERR_NOISE_FAILED. Errors detected
 * before any state change (out of turn, buffer too small, message too long or
 * too short) leave the handshake untouched.
 */
#ifndef DSB_NOISE_H
#define DSB_NOISE_H

#include <stddef.h>
#include <stdint.h>

#include "dsb/common.h"
#include "dsb/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DSB_NOISE_MAX_MSG_LEN 65535 /* any Noise message, spec section 3 */
#define DSB_NOISE_TAG_LEN 16
#define DSB_NOISE_KEY_LEN 32 /* cipher keys, DH keys (25519), PSKs */
#define DSB_NOISE_DH_LEN 32
#define DSB_NOISE_PSK_LEN 32
#define DSB_NOISE_MAX_HASH_LEN 64
/* Largest plaintext of one transport message. */
#define DSB_NOISE_MAX_PAYLOAD_LEN (DSB_NOISE_MAX_MSG_LEN - DSB_NOISE_TAG_LEN)
/* pskN modifiers are accepted for N in 0 .. DSB_NOISE_MAX_PSK_INDEX. */
#define DSB_NOISE_MAX_PSK_INDEX 7
/* Longest protocol name accepted. */
#define DSB_NOISE_MAX_NAME_LEN 127

/* The protocol dsoftbus-lite sessions use (docs/PROTOCOL.md). */
#define DSB_NOISE_PROTOCOL_XK "Noise_XK_25519_ChaChaPoly_BLAKE2s"

typedef enum dsb_noise_role {
  DSB_NOISE_INITIATOR = 0,
  DSB_NOISE_RESPONDER = 1
} dsb_noise_role;

/* What the handshake expects next (dsb_noise_handshake_action()). */
typedef enum dsb_noise_action {
  DSB_NOISE_ACTION_WRITE_MESSAGE = 0, /* our turn: call write_message */
  DSB_NOISE_ACTION_READ_MESSAGE = 1,  /* peer's turn: call read_message */
  DSB_NOISE_ACTION_SPLIT = 2,         /* all messages done: call split */
  DSB_NOISE_ACTION_COMPLETE = 3,      /* split done */
  DSB_NOISE_ACTION_FAILED = 4         /* a message failed; discard */
} dsb_noise_action;

/* ---- CipherState (transport) ------------------------------------------- */

/*
 * A transport cipher state: key k, nonce n. The AEAD context is set up once
 * per key; each message only installs its nonce.
 */
typedef struct dsb_noise_cipher dsb_noise_cipher;

/*
 * A cipher state holding |key| with nonce 0 (InitializeKey). The handshake
 * creates these in split(); direct use is for tests and tools.
 * Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_NOMEM, DSB_ERR_CRYPTO
 */
DSB_MUST_CHECK int dsb_noise_cipher_new(dsb_noise_cipher **pcs,
                                        const dsb_mem *mem, dsb_cipher_id id,
                                        const uint8_t key[static 32]);

/* Wipes the key. NULL is a no-op. */
void dsb_noise_cipher_del(dsb_noise_cipher *cs);

/*
 * EncryptWithAd: seal |pt| into |dst| (ciphertext then 16-byte tag) with
 * the current nonce, then increment the nonce. |dst| may equal |pt|.
 * Returns ptlen + 16.
 * Errors: DSB_ERR_NOISE_MSG_TOO_LONG (ptlen + 16 > 65535),
 * DSB_ERR_NOISE_NONCE_EXHAUSTED (nonce is 2^64-1), DSB_ERR_NOBUF,
 * DSB_ERR_CRYPTO
 */
DSB_MUST_CHECK long dsb_noise_cipher_encrypt(dsb_noise_cipher *cs, uint8_t *dst,
                                             size_t dstlen, const uint8_t *ad,
                                             size_t adlen, const uint8_t *pt,
                                             size_t ptlen);

/*
 * DecryptWithAd: open |ct| into |dst| with the current nonce; on success
 * increment the nonce. On failure the nonce is unchanged and |dst| holds no
 * plaintext. |dst| may equal |ct|. Returns ctlen - 16.
 * Errors: DSB_ERR_NOISE_MSG_TOO_LONG (ctlen > 65535),
 * DSB_ERR_NOISE_NONCE_EXHAUSTED, DSB_ERR_CRYPTO_AUTH (bad tag, ctlen < 16),
 * DSB_ERR_NOBUF, DSB_ERR_CRYPTO
 */
DSB_MUST_CHECK long dsb_noise_cipher_decrypt(dsb_noise_cipher *cs, uint8_t *dst,
                                             size_t dstlen, const uint8_t *ad,
                                             size_t adlen, const uint8_t *ct,
                                             size_t ctlen);

/* SetNonce (for out-of-order transports and tests). */
void dsb_noise_cipher_set_nonce(dsb_noise_cipher *cs, uint64_t n);
uint64_t dsb_noise_cipher_get_nonce(const dsb_noise_cipher *cs);

/* Rekey(): k = REKEY(k); the nonce is unchanged. Errors: DSB_ERR_CRYPTO */
DSB_MUST_CHECK int dsb_noise_cipher_rekey(dsb_noise_cipher *cs);

/* ---- HandshakeState ----------------------------------------------------- */

typedef struct dsb_noise_handshake dsb_noise_handshake;

/*
 * Start a handshake for |protocol_name| (e.g. DSB_NOISE_PROTOCOL_XK) as
 * |role|. |rng| (copied; NULL: the default CSPRNG) supplies ephemeral keys.
 * Errors: DSB_ERR_NOISE_UNKNOWN_PROTOCOL (unparsable name or an unsupported
 * pattern, modifier or primitive, e.g. 448), DSB_ERR_INVALID_ARGUMENT,
 * DSB_ERR_NOMEM, DSB_ERR_CRYPTO
 */
DSB_MUST_CHECK int dsb_noise_handshake_new(dsb_noise_handshake **phs,
                                           const dsb_mem *mem,
                                           const char *protocol_name,
                                           dsb_noise_role role,
                                           const dsb_rng *rng);

/* Wipes all key material. NULL is a no-op. */
void dsb_noise_handshake_del(dsb_noise_handshake *hs);

/*
 * Setters: call before the first write_message/read_message (or start).
 * Errors (all): DSB_ERR_INVALID_STATE once started.
 */

/* The prologue both sides must agree on (default: empty). At most once.
 * Errors: DSB_ERR_INVALID_STATE, DSB_ERR_CRYPTO */
DSB_MUST_CHECK int dsb_noise_handshake_set_prologue(dsb_noise_handshake *hs,
                                                    const uint8_t *prologue,
                                                    size_t prologuelen);

/* Our static X25519 private key (the public key is derived).
 * Errors: DSB_ERR_INVALID_STATE, DSB_ERR_CRYPTO */
DSB_MUST_CHECK int
dsb_noise_handshake_set_local_static(dsb_noise_handshake *hs,
                                     const uint8_t sk[static 32]);

/*
 * Our static key pair, for callers that hold the public key already (a
 * stored identity): it saves the X25519 base-point multiplication that
 * set_local_static spends on every handshake. |pk| is trusted, not checked:
 * it is what we send and mix into the hash, while the DHs use |sk|, so a
 * |pk| that does not belong to |sk| makes the peer fail the handshake.
 * Errors: DSB_ERR_INVALID_STATE
 */
DSB_MUST_CHECK int
dsb_noise_handshake_set_local_keypair(dsb_noise_handshake *hs,
                                      const uint8_t sk[static 32],
                                      const uint8_t pk[static 32]);

/* The peer's static public key, known in advance. Only for patterns where
 * the peer's static key is a pre-message (the initiator in NK, XK, IK, K and
 * others; the responder in K-first patterns such as KK); otherwise
 * DSB_ERR_INVALID_ARGUMENT, so a caller never believes a key is enforced when
 * the pattern would learn it instead. Errors: DSB_ERR_INVALID_STATE,
 * DSB_ERR_INVALID_ARGUMENT */
DSB_MUST_CHECK int
dsb_noise_handshake_set_remote_static(dsb_noise_handshake *hs,
                                      const uint8_t pk[static 32]);

/* The PSK for modifier "psk<index>" of the protocol name.
 * Errors: DSB_ERR_INVALID_STATE, DSB_ERR_INVALID_ARGUMENT (the name has no
 * such modifier) */
DSB_MUST_CHECK int dsb_noise_handshake_set_psk(dsb_noise_handshake *hs,
                                               unsigned index,
                                               const uint8_t psk[static 32]);

/* Test hook (test vectors): use |sk| instead of a generated ephemeral key.
 * Errors: DSB_ERR_INVALID_STATE, DSB_ERR_CRYPTO */
DSB_MUST_CHECK int
dsb_noise_handshake_set_fixed_ephemeral(dsb_noise_handshake *hs,
                                        const uint8_t sk[static 32]);

/*
 * Finish Initialize(): mix the prologue and pre-messages. Called implicitly
 * by the first write_message/read_message; calling it explicitly reports
 * configuration errors early. Idempotent.
 * Errors: DSB_ERR_NOISE_MISSING_KEY (a static key the pattern needs is not
 * set), DSB_ERR_NOISE_PSK_MISSING, DSB_ERR_NOISE_FAILED, DSB_ERR_CRYPTO
 */
DSB_MUST_CHECK int dsb_noise_handshake_start(dsb_noise_handshake *hs);

dsb_noise_action dsb_noise_handshake_action(const dsb_noise_handshake *hs);

/*
 * WriteMessage: the next handshake message, carrying |payload|, into |dst|.
 * Returns the message length (<= 65535).
 * Errors: DSB_ERR_NOISE_OUT_OF_TURN (peer's turn),
 * DSB_ERR_NOISE_HANDSHAKE_DONE, DSB_ERR_NOISE_MSG_TOO_LONG (message would
 * exceed 65535), DSB_ERR_NOBUF, DSB_ERR_NOISE_FAILED, the start() errors, and
 * (handshake fails): DSB_ERR_CRYPTO_DH_ZERO, DSB_ERR_CRYPTO_RNG, DSB_ERR_CRYPTO
 */
DSB_MUST_CHECK long dsb_noise_handshake_write_message(dsb_noise_handshake *hs,
                                                      uint8_t *dst,
                                                      size_t dstlen,
                                                      const uint8_t *payload,
                                                      size_t payloadlen);

/*
 * ReadMessage: process the peer's handshake message |msg| and write its
 * payload to |dst| (must not overlap |msg|). Returns the payload length.
 * Errors: DSB_ERR_NOISE_OUT_OF_TURN, DSB_ERR_NOISE_HANDSHAKE_DONE,
 * DSB_ERR_NOISE_MSG_TOO_LONG (msglen > 65535), DSB_ERR_NOISE_SHORT_MESSAGE,
 * DSB_ERR_NOBUF, DSB_ERR_NOISE_FAILED, the start() errors, and (handshake
 * fails): DSB_ERR_CRYPTO_AUTH, DSB_ERR_CRYPTO_DH_ZERO, DSB_ERR_CRYPTO
 */
DSB_MUST_CHECK long dsb_noise_handshake_read_message(dsb_noise_handshake *hs,
                                                     uint8_t *dst,
                                                     size_t dstlen,
                                                     const uint8_t *msg,
                                                     size_t msglen);

/*
 * Split(): the transport cipher states. |psend| encrypts our messages,
 * |precv| decrypts the peer's (either may be NULL to discard it; in one-way
 * patterns only the initiator's send / responder's receive is meaningful).
 * Afterwards the chaining key is wiped; the handshake hash stays available.
 * Errors: DSB_ERR_INVALID_STATE (handshake not finished), DSB_ERR_NOMEM,
 * DSB_ERR_CRYPTO
 */
DSB_MUST_CHECK int dsb_noise_handshake_split(dsb_noise_handshake *hs,
                                             dsb_noise_cipher **psend,
                                             dsb_noise_cipher **precv);

/*
 * The handshake hash h (channel binding), HASHLEN bytes into |out|.
 * Meaningful once every handshake message is processed.
 * Returns HASHLEN. Errors: DSB_ERR_NOBUF, DSB_ERR_INVALID_STATE (failed)
 */
DSB_MUST_CHECK long
dsb_noise_handshake_get_handshake_hash(const dsb_noise_handshake *hs,
                                       uint8_t *out, size_t outlen);

/* The peer's static public key (pre-message or received).
 * Errors: DSB_ERR_NOT_FOUND (not known yet) */
DSB_MUST_CHECK int
dsb_noise_handshake_get_remote_static(const dsb_noise_handshake *hs,
                                      uint8_t pk[static 32]);

/* Our static public key. Errors: DSB_ERR_NOT_FOUND (not set) */
DSB_MUST_CHECK int
dsb_noise_handshake_get_local_static(const dsb_noise_handshake *hs,
                                     uint8_t pk[static 32]);

dsb_noise_role dsb_noise_handshake_role(const dsb_noise_handshake *hs);

#ifdef __cplusplus
}
#endif

#endif /* DSB_NOISE_H */
