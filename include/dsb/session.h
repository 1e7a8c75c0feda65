/*
 * dsb/session.h - authenticated sessions: Noise_XK_25519_ChaChaPoly_BLAKE2s
 * bound to device identities, and the record layer that runs over it.
 *
 * A dsb_session is a sans-IO core (nghttp2/ngtcp2 style). It consumes the
 * bytes that arrived from the peer (dsb_session_recv, any split down to one
 * byte), produces the handshake bytes to send (dsb_session_write_handshake),
 * seals application plaintext into records (dsb_session_seal) and hands
 * decrypted record plaintext upward through a callback. Time is an argument
 * (dsb_tstamp, monotonic ns); randomness comes from the dsb_rng of the config;
 * memory from its dsb_mem. Wire layout: docs/PROTOCOL.md, "Sessions".
 *
 * Identity binding: the initiator knows the responder's Noise static key and
 * expected device id (from discovery). Message 2 carries the responder's
 * identity proof, message 3 the initiator's. Each side verifies the
 * certificate (through the verified-proof cache when one is given), that the
 * proof's static key is the key Noise authenticated, and (initiator) that the
 * proven device id is the expected one. Any mismatch is a hard reject: the
 * session goes to DSB_SESSION_STATE_FAILED, every key is wiped and no
 * on_established callback runs. There is never a session the caller must
 * check afterwards.
 *
 * Thread safety: a dsb_session is not thread-safe; use it from one thread.
 * Ownership: the session copies what it needs from its config (the local
 * identity's static secret and public proof, the remote static key, the
 * expected id); the proof cache and the peer-check context are borrowed and
 * must outlive the session. Buffers passed to callbacks are borrowed for the
 * duration of the call.
 */
#ifndef DSB_SESSION_H
#define DSB_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "dsb/common.h"
#include "dsb/crypto.h"
#include "dsb/identity.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DSB_SESSION_PROTOCOL_NAME "Noise_XK_25519_ChaChaPoly_BLAKE2s"
/* Prologue mixed into the handshake hash (24 ASCII bytes, no NUL). A peer
 * with a different prologue fails the handshake at message 1. */
#define DSB_SESSION_PROLOGUE "dsoftbus-lite/session/v1"
#define DSB_SESSION_PROLOGUE_LEN 24
/* Version byte carried in every handshake payload. */
#define DSB_SESSION_VERSION 1

/* Record: 2-byte big-endian length, then one Noise transport message
 * (ciphertext || 16-byte tag) of that length. */
#define DSB_SESSION_RECORD_HDR_LEN 2
#define DSB_SESSION_TAG_LEN 16
#define DSB_SESSION_RECORD_OVERHEAD                                            \
  (DSB_SESSION_RECORD_HDR_LEN + DSB_SESSION_TAG_LEN)
#define DSB_SESSION_BODY_MAX 65535 /* Noise message limit */
#define DSB_SESSION_PLAINTEXT_MAX (DSB_SESSION_BODY_MAX - DSB_SESSION_TAG_LEN)
#define DSB_SESSION_RECORD_MAX                                                 \
  (DSB_SESSION_RECORD_HDR_LEN + DSB_SESSION_BODY_MAX)

/* Handshake messages, framed like records (2-byte length first). Exact
 * Noise message sizes: msg1 = e(32) + enc(payload 1) = 49, msg2 = e(32) +
 * enc(proof 129) = 177, msg3 = enc(s)(48) + enc(proof 129) = 193. */
#define DSB_SESSION_MSG1_LEN 49
#define DSB_SESSION_MSG2_LEN 177
#define DSB_SESSION_MSG3_LEN 193
/* Largest framed handshake message; dst of write_handshake needs this much. */
#define DSB_SESSION_HANDSHAKE_MAX                                              \
  (DSB_SESSION_RECORD_HDR_LEN + DSB_SESSION_MSG3_LEN)

/* Defaults of dsb_session_settings. */
#define DSB_SESSION_DEFAULT_REKEY_INTERVAL UINT64_C(65536) /* records */
#define DSB_SESSION_DEFAULT_HANDSHAKE_TIMEOUT (10 * DSB_NS_PER_S)

typedef struct dsb_session dsb_session;
struct dsb_proof_cache; /* include/dsb/proof_cache.h */

typedef enum dsb_session_role {
  DSB_SESSION_INITIATOR = 0,
  DSB_SESSION_RESPONDER = 1
} dsb_session_role;

typedef enum dsb_session_state {
  DSB_SESSION_STATE_HANDSHAKE = 0,   /* messages still to exchange */
  DSB_SESSION_STATE_ESTABLISHED = 1, /* peer verified, records flow */
  DSB_SESSION_STATE_FAILED = 2,      /* fatal error; keys wiped */
  DSB_SESSION_STATE_CLOSED = 3       /* closed locally or by EOF; keys wiped */
} dsb_session_state;

typedef struct dsb_session_settings {
  /* Both directions run Noise REKEY after every |rekey_interval| records
   * sent (receiver: opened) in that direction, so both ends rekey at the
   * same record index without signalling. 0 means the default. */
  uint64_t rekey_interval;
  /* The handshake must complete within this many ns of dsb_session_new()'s
   * |now|, else DSB_ERR_SESSION_HANDSHAKE_TIMEOUT. 0 means the default. */
  dsb_tstamp handshake_timeout;
  /* Largest record body (Noise message) accepted from the peer, 16 + 1 ..
   * 65535. A length field above it is rejected before anything is buffered.
   * 0 means 65535. The receive buffer is sized by it. */
  size_t max_record_len;
} dsb_session_settings;

/* Fill |settings| with the defaults. */
void dsb_session_settings_default(dsb_session_settings *settings);

/*
 * Peer check (trust): called once the peer's device id is proven (initiator:
 * after message 2; responder: after message 3), before the session is
 * established. Return 0 to accept or a negative DSB_ERR_* to refuse (e.g.
 * DSB_ERR_TRUST_BLOCKED, DSB_ERR_TRUST_UNKNOWN); the handshake then fails
 * with that code. dsb_session_trust_check below plugs in a trust table.
 */
typedef int (*dsb_session_peer_check_fn)(void *ctx, const dsb_device_id *peer);

struct dsb_trust; /* include/dsb/trust.h */

/* Context of dsb_session_trust_check: a borrowed trust table and the flags
 * of dsb_trust_check() (e.g. DSB_TRUST_ALLOW_UNKNOWN for lab mode). */
typedef struct dsb_session_trust_ctx {
  const struct dsb_trust *trust;
  uint32_t flags;
} dsb_session_trust_ctx;

/* A dsb_session_peer_check_fn over dsb_trust_check(): |ctx| is a
 * dsb_session_trust_ctx. Blocked devices are always refused
 * (DSB_ERR_TRUST_BLOCKED); unknown ones unless the flags allow them
 * (DSB_ERR_TRUST_UNKNOWN). */
int dsb_session_trust_check(void *ctx, const dsb_device_id *peer);

typedef struct dsb_session_callbacks {
  /* The handshake completed and the peer is verified. Non-zero return: the
   * session fails with DSB_ERR_CALLBACK_FAILURE. */
  int (*on_established)(dsb_session *session, const dsb_device_id *peer,
                        void *user_data);
  /* One decrypted record, |pt| borrowed for the call (0..65519 bytes).
   * Non-zero return: the session fails with DSB_ERR_CALLBACK_FAILURE. */
  int (*on_record)(dsb_session *session, const uint8_t *pt, size_t ptlen,
                   void *user_data);
} dsb_session_callbacks;

typedef struct dsb_session_config {
  dsb_session_role role;
  /* Required. Only static_sk and proof are used (copied); ed_seed is not.
   * proof.static_pk must be the public key of static_sk (as
   * dsb_identity_generate/from_secrets make it): it is sent as is, not
   * derived again for every handshake. */
  const dsb_identity *local;
  /* Initiator: required, the responder's Noise static key (32 bytes) and its
   * expected device id, both from discovery. Responder: NULL. */
  const uint8_t *remote_static;
  const dsb_device_id *expected_peer;
  /* Optional: NULL accepts every proven identity (embedding, tests). */
  dsb_session_peer_check_fn peer_check;
  void *peer_check_ctx;
  /* Optional verified-proof cache, borrowed. NULL: verify every time. */
  struct dsb_proof_cache *proof_cache;
  const dsb_session_settings *settings;   /* NULL: defaults */
  const dsb_session_callbacks *callbacks; /* NULL: no callbacks */
  void *user_data;
  const dsb_rng *rng; /* NULL: the CSPRNG */
  const dsb_mem *mem; /* NULL: libc */
  const dsb_log *log; /* NULL: silent */
} dsb_session_config;

/*
 * Create a session and start its handshake at time |now|. An initiator has
 * message 1 ready to write at once.
 * Errors: DSB_ERR_INVALID_ARGUMENT (missing key, id or identity; bad
 * settings), DSB_ERR_NOMEM, DSB_ERR_CRYPTO, DSB_ERR_CRYPTO_RNG.
 */
DSB_MUST_CHECK int dsb_session_new(dsb_session **psession,
                                   const dsb_session_config *config,
                                   dsb_tstamp now);

/* Wipe every secret and free. NULL is a no-op. */
void dsb_session_del(dsb_session *session);

/* 1 if dsb_session_write_handshake has bytes to produce, else 0. */
int dsb_session_want_write(const dsb_session *session);

/*
 * Write the next handshake message, framed (2-byte length first), into
 * |dst|. Returns the byte count, or 0 when there is nothing to send. An
 * initiator is established right after writing message 3 (on_established
 * runs inside this call).
 * Errors: DSB_ERR_NOBUF (dst smaller than DSB_SESSION_HANDSHAKE_MAX; the
 * session is unchanged), DSB_ERR_SESSION_HANDSHAKE_TIMEOUT,
 * DSB_ERR_SESSION_CLOSED (failed or closed before), DSB_ERR_CALLBACK_FAILURE,
 * DSB_ERR_CRYPTO, DSB_ERR_CRYPTO_RNG, DSB_ERR_NOISE_* (fatal).
 */
DSB_MUST_CHECK long dsb_session_write_handshake(dsb_session *session,
                                                uint8_t *dst, size_t dstlen,
                                                dsb_tstamp now);

/*
 * Consume |inlen| bytes received from the peer, in any split. Handshake
 * messages are processed as they complete; each complete record is
 * authenticated, decrypted and passed to on_record. Returns |inlen|, or
 * fewer when a callback called dsb_session_pause(): then the bytes up to
 * the end of that record were consumed and the caller feeds the rest later.
 * Every error is fatal: the session is FAILED, its keys wiped, and nothing
 * of the offending record was delivered.
 * Errors: DSB_ERR_SESSION_CLOSED (already failed or closed),
 * DSB_ERR_SESSION_RECORD_OVERSIZE (length field over max_record_len, or a
 * handshake frame over its size), DSB_ERR_SESSION_RECORD_UNDERSIZE (record
 * shorter than a tag), DSB_ERR_SESSION_HANDSHAKE_TIMEOUT,
 * DSB_ERR_SESSION_BAD_HANDSHAKE (bytes when no message is expected, e.g. a
 * record before the handshake completed), DSB_ERR_SESSION_BAD_PAYLOAD,
 * DSB_ERR_SESSION_VERSION, DSB_ERR_CRYPTO_AUTH (bad tag in a handshake
 * message or record), DSB_ERR_CRYPTO_DH_ZERO, DSB_ERR_NOISE_SHORT_MESSAGE,
 * DSB_ERR_NOISE_NONCE_EXHAUSTED, DSB_ERR_IDENTITY_BAD_CERT,
 * DSB_ERR_IDENTITY_MISMATCH, any error of the peer check
 * (DSB_ERR_TRUST_BLOCKED, DSB_ERR_TRUST_UNKNOWN), DSB_ERR_CALLBACK_FAILURE,
 * DSB_ERR_CRYPTO, DSB_ERR_NOMEM.
 */
DSB_MUST_CHECK long dsb_session_recv(dsb_session *session, const uint8_t *in,
                                     size_t inlen, dsb_tstamp now);

/*
 * As dsb_session_recv, but records that arrive whole in |in| are decrypted
 * in place there (on_record gets a pointer into |in|), and the session
 * holds a receive buffer of max_record_len bytes only while a record is
 * split across calls, so an idle session keeps none. The bytes of |in|
 * that were consumed are overwritten (plaintext, or wiped on failure).
 * Returns and errors as dsb_session_recv.
 */
DSB_MUST_CHECK long dsb_session_recv_inplace(dsb_session *session, uint8_t *in,
                                             size_t inlen, dsb_tstamp now);

/* From inside on_record or on_established: stop after the current record,
 * so dsb_session_recv returns early (flow control towards the peer). */
void dsb_session_pause(dsb_session *session);

/*
 * The peer closed its side. Returns 0 when that happened between records
 * of an established session (the session becomes CLOSED).
 * Errors: DSB_ERR_SESSION_RECORD_TRUNCATED (in the middle of a record),
 * DSB_ERR_SESSION_CLOSED (peer left during the handshake, or the session
 * had already ended); the session is FAILED.
 */
DSB_MUST_CHECK int dsb_session_recv_eof(dsb_session *session);

/*
 * Seal |ptlen| <= DSB_SESSION_PLAINTEXT_MAX bytes into one record at |dst|
 * (2-byte length, ciphertext, tag). In place: |pt| may be exactly
 * dst + DSB_SESSION_RECORD_HDR_LEN. Returns ptlen +
 * DSB_SESSION_RECORD_OVERHEAD. Errors: DSB_ERR_SESSION_NOT_ESTABLISHED,
 * DSB_ERR_SESSION_CLOSED, DSB_ERR_INVALID_ARGUMENT (ptlen too large, or |pt|
 * overlaps |dst| other than in place), DSB_ERR_NOBUF,
 * DSB_ERR_NOISE_NONCE_EXHAUSTED (fatal), DSB_ERR_CRYPTO (fatal).
 */
DSB_MUST_CHECK long dsb_session_seal(dsb_session *session, uint8_t *dst,
                                     size_t dstlen, const uint8_t *pt,
                                     size_t ptlen);

/*
 * Open exactly one complete record |rec| (header included) into |dst|, for
 * callers that frame records themselves. In place: |dst| may be exactly
 * rec + DSB_SESSION_RECORD_HDR_LEN. Returns the plaintext length. Do not mix
 * with dsb_session_recv on the same session while a record is partially
 * buffered there.
 * Errors: DSB_ERR_SESSION_NOT_ESTABLISHED, DSB_ERR_SESSION_CLOSED,
 * DSB_ERR_NOBUF, and (fatal) DSB_ERR_SESSION_RECORD_TRUNCATED (fewer bytes
 * than the length field says), DSB_ERR_MALFORMED (bytes after the record),
 * DSB_ERR_SESSION_RECORD_OVERSIZE, DSB_ERR_SESSION_RECORD_UNDERSIZE,
 * DSB_ERR_CRYPTO_AUTH, DSB_ERR_NOISE_NONCE_EXHAUSTED, DSB_ERR_CRYPTO.
 */
DSB_MUST_CHECK long dsb_session_open(dsb_session *session, uint8_t *dst,
                                     size_t dstlen, const uint8_t *rec,
                                     size_t reclen);

/* When the caller must call dsb_session_handle_timeout next (the handshake
 * deadline), or UINT64_MAX when no timer is running. */
dsb_tstamp dsb_session_next_timeout(const dsb_session *session);

/* Check the deadline at |now|. Returns 0 if it has not passed.
 * Errors: DSB_ERR_SESSION_HANDSHAKE_TIMEOUT (the session is FAILED). */
DSB_MUST_CHECK int dsb_session_handle_timeout(dsb_session *session,
                                              dsb_tstamp now);

/* Close locally: wipe keys, state CLOSED. Idempotent. */
void dsb_session_close(dsb_session *session);

dsb_session_state dsb_session_get_state(const dsb_session *session);
dsb_session_role dsb_session_get_role(const dsb_session *session);

/* The error that ended the session (0 while alive or closed cleanly). */
int dsb_session_get_error(const dsb_session *session);

/* The verified peer. Errors: DSB_ERR_SESSION_NOT_ESTABLISHED. |proof| may
 * be NULL. Valid after establishment, also once closed. */
DSB_MUST_CHECK int dsb_session_get_peer(const dsb_session *session,
                                        dsb_device_id *id,
                                        dsb_identity_proof *proof);

/* The Noise handshake hash h (32 bytes for BLAKE2s) for channel binding,
 * e.g. a pairing code. Treat as sensitive: never log it.
 * Errors: DSB_ERR_SESSION_NOT_ESTABLISHED, DSB_ERR_NOBUF. */
DSB_MUST_CHECK long dsb_session_get_handshake_hash(const dsb_session *session,
                                                   uint8_t *out, size_t outlen);

typedef struct dsb_session_stats {
  uint64_t records_sent;
  uint64_t records_received;
  uint64_t bytes_sent;     /* plaintext */
  uint64_t bytes_received; /* plaintext */
  uint64_t rekeys_sent;
  uint64_t rekeys_received;
} dsb_session_stats;

void dsb_session_get_stats(const dsb_session *session,
                           dsb_session_stats *stats);

/* ---- admission limits for a listener (sans-IO) --------------------------
 *
 * A listener consults one dsb_session_limits on every accepted connection:
 * a cap on handshakes in progress (half-open) and a per-source rate limit
 * (GCRA: at most |rate_per_s| handshakes per second with bursts of |burst|).
 * Sources are opaque byte strings (the peer IP address, not the port), at
 * most DSB_SESSION_LIMITS_SOURCE_MAX bytes, kept in a bounded table of
 * |max_sources| entries; when it is full the entry idle longest is
 * replaced. Not thread-safe.
 */
#define DSB_SESSION_LIMITS_SOURCE_MAX 16
#define DSB_SESSION_DEFAULT_MAX_HALF_OPEN 64
#define DSB_SESSION_DEFAULT_RATE_PER_S 20
#define DSB_SESSION_DEFAULT_BURST 10
#define DSB_SESSION_DEFAULT_MAX_SOURCES 1024

typedef struct dsb_session_limits dsb_session_limits;

typedef struct dsb_session_limits_settings {
  uint32_t max_half_open; /* 0: default */
  uint32_t rate_per_s;    /* 0: default */
  uint32_t burst;         /* 0: default */
  uint32_t max_sources;   /* 0: default */
} dsb_session_limits_settings;

/* Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_NOMEM */
DSB_MUST_CHECK int
dsb_session_limits_new(dsb_session_limits **plimits, const dsb_mem *mem,
                       const dsb_session_limits_settings *settings);
void dsb_session_limits_del(dsb_session_limits *limits);

/*
 * Admit one new handshake from |src| at |now|. On success the half-open
 * count is incremented; call dsb_session_limits_release once that handshake
 * completes or fails.
 * Errors: DSB_ERR_SESSION_HALF_OPEN_LIMIT, DSB_ERR_SESSION_RATE_LIMITED,
 * DSB_ERR_INVALID_ARGUMENT (srclen 0 or over the maximum), DSB_ERR_INTERNAL
 * (a broken invariant: the source table has no slot).
 */
DSB_MUST_CHECK int dsb_session_limits_admit(dsb_session_limits *limits,
                                            const uint8_t *src, size_t srclen,
                                            dsb_tstamp now);
void dsb_session_limits_release(dsb_session_limits *limits);
uint32_t dsb_session_limits_half_open(const dsb_session_limits *limits);

#ifdef __cplusplus
}
#endif

#endif /* DSB_SESSION_H */
