/*
 * dsb/rpc.h - remote calls: the call/reply frame codec and the caller-side
 * pending-call table. Wire layout: docs/PROTOCOL.md, "Remote calls".
 *
 * A call frame asks a service on a peer device to run one method; the reply
 * frame carries a status and a payload back, correlated by the nonce the
 * caller chose. Frames ride one per message on the mux stream "dsb.rpc" of
 * a session (see docs/PROTOCOL.md).
 *
 * Thread safety: the codec functions are pure and thread-safe. A
 * dsb_rpc_pending table is not thread-safe; use one per thread or lock.
 *
 * Ownership: decoded frames are views that borrow the input buffer; nothing
 * in the codec allocates. A dsb_rpc_pending table allocates all its memory at
 * creation (through the dsb_mem given) and nothing afterwards.
 */
#ifndef DSB_RPC_H
#define DSB_RPC_H

#include <stddef.h>
#include <stdint.h>

#include "dsb/common.h"
#include "dsb/identity.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- frames ------------------------------------------------------------- */

#define DSB_RPC_VERSION 1

#define DSB_RPC_OP_CALL 0x01
#define DSB_RPC_OP_REPLY (DSB_RPC_OP_CALL | 0x80)

/* The mux stream that carries call and reply frames in a session. */
#define DSB_RPC_STREAM_NAME "dsb.rpc"

/* Service and method names: 1..64 bytes of [A-Za-z0-9._-]. */
#define DSB_RPC_NAME_MAX 64

/* Fixed bytes of a call frame besides the two names and the payload:
 * version, op, service length, method length, payload length (4), nonce (8).
 */
#define DSB_RPC_CALL_OVERHEAD 16
/* Every byte of a reply frame besides its payload: version, op, status,
 * payload length (4), nonce (8). */
#define DSB_RPC_REPLY_OVERHEAD 15

/* Size limits on whole frames (headers included). The defaults are also the
 * maxima: a daemon may configure them down, never up. The minima leave room
 * for a call with two 64-byte names and a small payload. */
#define DSB_RPC_MAX_REQUEST_DEFAULT 65536u
#define DSB_RPC_MAX_REPLY_DEFAULT 262144u
#define DSB_RPC_MAX_FRAME_MIN 256u

/*
 * Reply status byte. Each non-OK value stands for one DSB_ERR_PROXY_* code
 * (dsb_rpc_status_to_err()). Values never change once released.
 */
typedef enum dsb_rpc_status {
  DSB_RPC_OK = 0,
  DSB_RPC_DENIED = 1,          /* DSB_ERR_PROXY_DENIED */
  DSB_RPC_UNKNOWN_SERVICE = 2, /* DSB_ERR_PROXY_UNKNOWN_SERVICE */
  DSB_RPC_UNKNOWN_METHOD = 3,  /* DSB_ERR_PROXY_UNKNOWN_METHOD */
  DSB_RPC_OVERSIZE = 4,        /* DSB_ERR_PROXY_OVERSIZE */
  DSB_RPC_TOO_MANY_CALLS = 5,  /* DSB_ERR_PROXY_TOO_MANY_CALLS */
  DSB_RPC_UNAVAILABLE = 6,     /* DSB_ERR_PROXY_UNAVAILABLE */
  DSB_RPC_TIMEOUT = 7,         /* DSB_ERR_PROXY_TIMEOUT */
  DSB_RPC_MALFORMED = 8,       /* DSB_ERR_PROXY_MALFORMED */
  DSB_RPC_FAILED = 9           /* DSB_ERR_PROXY_FAILED */
} dsb_rpc_status;

#define DSB_RPC_STATUS_MAX DSB_RPC_FAILED

/* Frame size limits of one side (see the DSB_RPC_MAX_* defaults). */
typedef struct dsb_rpc_limits {
  uint32_t max_request; /* largest call frame accepted or sent */
  uint32_t max_reply;   /* largest reply frame accepted or sent */
} dsb_rpc_limits;

/* A call: a view. Names are not NUL-terminated; all pointers are borrowed. */
typedef struct dsb_rpc_call {
  const char *service;
  size_t servicelen;
  const char *method;
  size_t methodlen;
  const uint8_t *payload;
  size_t payloadlen;
  uint64_t nonce;
} dsb_rpc_call;

/* A reply: a view; |payload| is borrowed. */
typedef struct dsb_rpc_reply {
  uint8_t status; /* dsb_rpc_status */
  const uint8_t *payload;
  size_t payloadlen;
  uint64_t nonce;
} dsb_rpc_reply;

/* One decoded frame: |op| says which of |call| and |reply| is filled in. */
typedef struct dsb_rpc_msg {
  uint8_t op;
  dsb_rpc_call call;
  dsb_rpc_reply reply;
} dsb_rpc_msg;

/* The defaults: 64 KiB requests, 256 KiB replies. */
void dsb_rpc_limits_default(dsb_rpc_limits *limits);

/* 0 if |limits| lies within [DSB_RPC_MAX_FRAME_MIN, default] on both sides.
 * Errors: DSB_ERR_INVALID_ARGUMENT */
int dsb_rpc_limits_check(const dsb_rpc_limits *limits);

/* 1 if |name| (|len| bytes) is a valid service or method name, else 0. */
int dsb_rpc_name_valid(const char *name, size_t len);

/* Encoded size of |call| (no limit check); 0 on size_t overflow. */
size_t dsb_rpc_call_encoded_len(const dsb_rpc_call *call);

/* Largest payload a call to |servicelen|/|methodlen| may carry under
 * |limits| (NULL: defaults); 0 if the names alone do not fit. */
size_t dsb_rpc_call_max_payload(const dsb_rpc_limits *limits, size_t servicelen,
                                size_t methodlen);

/* Largest reply payload under |limits| (NULL: defaults). */
size_t dsb_rpc_reply_max_payload(const dsb_rpc_limits *limits);

/*
 * Encode |call| into |dst|. |limits| NULL means the defaults. Returns the
 * frame length.
 * Errors: DSB_ERR_INVALID_ARGUMENT (NULL pointers, invalid service or method
 * name), DSB_ERR_PROXY_OVERSIZE (frame over limits->max_request),
 * DSB_ERR_NOBUF (|dst| too small).
 */
long dsb_rpc_call_encode(uint8_t *dst, size_t dstlen, const dsb_rpc_call *call,
                         const dsb_rpc_limits *limits);

/*
 * Encode |reply| into |dst|. Returns the frame length.
 * Errors: DSB_ERR_INVALID_ARGUMENT (NULL pointers, status out of range),
 * DSB_ERR_PROXY_OVERSIZE (frame over limits->max_reply), DSB_ERR_NOBUF.
 */
long dsb_rpc_reply_encode(uint8_t *dst, size_t dstlen,
                          const dsb_rpc_reply *reply,
                          const dsb_rpc_limits *limits);

/*
 * Decode one frame (a whole mux message). On success |msg| borrows |in|.
 * The frame must be exactly |inlen| bytes: trailing bytes are rejected.
 * Errors: DSB_ERR_INVALID_ARGUMENT (NULL pointers),
 * DSB_ERR_PROXY_VERSION (first byte is not DSB_RPC_VERSION),
 * DSB_ERR_PROXY_OVERSIZE (longer than the limit for its op),
 * DSB_ERR_PROXY_MALFORMED (truncated, unknown op, name length 0 or over 64,
 * invalid name character, payload length beyond the frame, trailing bytes,
 * unknown status).
 */
int dsb_rpc_decode(dsb_rpc_msg *msg, const uint8_t *in, size_t inlen,
                   const dsb_rpc_limits *limits);

/*
 * Recover the op and nonce of a frame that dsb_rpc_decode() rejected, so the
 * callee can answer a bad call with its status (malformed, oversize) instead
 * of leaving the caller to time out. Only the version byte, the op byte and
 * the last 8 bytes (where every frame keeps its nonce) are read.
 * Errors: DSB_ERR_PROXY_VERSION, DSB_ERR_PROXY_MALFORMED (shorter than 10
 * bytes, or an unknown op).
 */
int dsb_rpc_peek(uint8_t *op, uint64_t *nonce, const uint8_t *in, size_t inlen);

/*
 * Encode the reply a callee sends back for a frame that dsb_rpc_decode()
 * rejected with |err|, so the caller learns why instead of timing out:
 * status "oversize" for DSB_ERR_PROXY_OVERSIZE, "malformed" otherwise, with
 * the nonce dsb_rpc_peek() recovers. Returns the frame length.
 * Errors: DSB_ERR_PROXY_VERSION, DSB_ERR_PROXY_MALFORMED (no nonce can be
 * recovered, or the rejected frame is itself a reply: replies are never
 * answered; drop it and count it), DSB_ERR_NOBUF, DSB_ERR_INVALID_ARGUMENT.
 */
long dsb_rpc_reject_encode(uint8_t *dst, size_t dstlen, const uint8_t *in,
                           size_t inlen, int err);

/* The DSB_ERR_PROXY_* code a status stands for (0 for OK). An unknown
 * status maps to DSB_ERR_PROXY_MALFORMED. */
int dsb_rpc_status_to_err(uint8_t status);

/* The status that reports |err| to a caller: 0 -> OK, each
 * DSB_ERR_PROXY_* code to its status, DSB_ERR_NOBUF to OVERSIZE, anything
 * else to FAILED. */
uint8_t dsb_rpc_status_from_err(int err);

/* Short name: "ok", "denied", "unknown_service", ...; "invalid" if out of
 * range. */
const char *dsb_rpc_status_name(uint8_t status);

/* ---- caller-side pending calls ------------------------------------------ */

/*
 * The pending-call table remembers every call sent and not yet answered:
 * which session and peer it went to, its deadline, and an opaque user
 * pointer/tag (e.g. the local client and its own request nonce). It
 * allocates nonces, enforces the caps on calls in flight, matches replies
 * and times calls out.
 *
 * A reply is delivered only when its nonce names a pending call that went
 * out on the same session the reply came from, before its deadline. Any
 * other reply is dropped and counted: "stale" when no such call exists,
 * "late" when the call already timed out (a bounded ring remembers recently
 * expired nonces to tell the two apart). A callee uses a table of its own for
 * calls it forwards to local applications.
 *
 * Nonces start at a random value drawn from the injected rng and increase by
 * one; 0 is never used and a nonce still pending is never handed out again.
 */
typedef struct dsb_rpc_pending dsb_rpc_pending;

#define DSB_RPC_PENDING_MAX_CALLS_CAP 65536u

typedef struct dsb_rpc_pending_settings {
  uint32_t max_calls;             /* in the whole table; default 4096 */
  uint32_t max_calls_per_peer;    /* default 1024 */
  uint32_t max_calls_per_session; /* default 1024 */
  uint32_t late_window; /* expired nonces remembered; default 256, max 4096 */
  dsb_tstamp default_timeout; /* default 10 s */
} dsb_rpc_pending_settings;

/* One pending call, as returned when it completes, expires or is taken. */
typedef struct dsb_rpc_pending_call {
  uint64_t nonce;
  uint64_t session_id;
  dsb_device_id peer;
  dsb_tstamp deadline;
  void *user;
  uint64_t tag;
} dsb_rpc_pending_call;

typedef struct dsb_rpc_pending_stats {
  uint64_t started;       /* calls added */
  uint64_t completed;     /* replies matched and delivered */
  uint64_t timed_out;     /* calls expired by dsb_rpc_pending_expire() */
  uint64_t taken;         /* calls removed by cancel/take */
  uint64_t refused_limit; /* adds refused with TOO_MANY_CALLS */
  uint64_t replies_stale; /* replies dropped: no such pending call */
  uint64_t replies_late;  /* replies dropped: the call had timed out */
  uint32_t in_flight;
} dsb_rpc_pending_stats;

void dsb_rpc_pending_settings_default(dsb_rpc_pending_settings *settings);

/*
 * Create a table. |settings| NULL means defaults; |rng| NULL means the
 * CSPRNG (it is used once, here, for the first nonce).
 * Errors: DSB_ERR_INVALID_ARGUMENT (a cap of 0, max_calls over
 * DSB_RPC_PENDING_MAX_CALLS_CAP, late_window over 4096, timeout 0),
 * DSB_ERR_NOMEM, DSB_ERR_CRYPTO_RNG.
 */
int dsb_rpc_pending_new(dsb_rpc_pending **ppending, const dsb_mem *mem,
                        const dsb_rpc_pending_settings *settings,
                        const dsb_rng *rng);

/* Free the table. Pending user pointers are not touched. NULL is a no-op. */
void dsb_rpc_pending_del(dsb_rpc_pending *pending);

/*
 * Register a call about to be sent to |peer| on |session_id| and write its
 * nonce to |*pnonce|. The call expires at now + |timeout| (0: the default
 * timeout). Time must not go backwards between calls.
 * Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_PROXY_TOO_MANY_CALLS (table,
 * peer or session cap reached).
 */
int dsb_rpc_pending_add(dsb_rpc_pending *pending, uint64_t *pnonce,
                        const dsb_device_id *peer, uint64_t session_id,
                        dsb_tstamp timeout, void *user, uint64_t tag,
                        dsb_tstamp now);

/*
 * Match a reply with |nonce| that arrived on |session_id|. On success the
 * call is removed and copied to |*out|.
 * Errors: DSB_ERR_PROXY_STALE_REPLY (no pending call with that nonce on that
 * session: dropped, counted), DSB_ERR_PROXY_LATE_REPLY (the call has timed
 * out, or its deadline has passed and it waits for
 * dsb_rpc_pending_expire(): dropped, counted), DSB_ERR_INVALID_ARGUMENT.
 */
int dsb_rpc_pending_complete(dsb_rpc_pending *pending,
                             dsb_rpc_pending_call *out, uint64_t session_id,
                             uint64_t nonce, dsb_tstamp now);

/*
 * Like dsb_rpc_pending_complete(), for answers that come from a local
 * client rather than a session (the callee's table of calls forwarded to
 * applications): the call must have been added with |user| (not NULL), so
 * one application cannot answer another's call.
 * Errors: DSB_ERR_PROXY_STALE_REPLY, DSB_ERR_PROXY_LATE_REPLY,
 * DSB_ERR_INVALID_ARGUMENT.
 */
int dsb_rpc_pending_complete_user(dsb_rpc_pending *pending,
                                  dsb_rpc_pending_call *out, const void *user,
                                  uint64_t nonce, dsb_tstamp now);

/* Earliest deadline of any pending call; UINT64_MAX when there is none. */
dsb_tstamp dsb_rpc_pending_next_deadline(const dsb_rpc_pending *pending);

/*
 * Remove one call whose deadline is <= now, copy it to |*out| and return 1;
 * return 0 when none has expired. Call in a loop from the timer. The nonce
 * goes into the late-reply ring.
 */
int dsb_rpc_pending_expire(dsb_rpc_pending *pending, dsb_rpc_pending_call *out,
                           dsb_tstamp now);

/* Remove the call with |nonce| (the caller gave up on it). 0 on success.
 * Errors: DSB_ERR_NOT_FOUND. */
int dsb_rpc_pending_cancel(dsb_rpc_pending *pending, dsb_rpc_pending_call *out,
                           uint64_t nonce);

/* Remove one call of |session_id| (session closed), copy it to |*out| and
 * return 1; 0 when none is left. */
int dsb_rpc_pending_take_session(dsb_rpc_pending *pending,
                                 dsb_rpc_pending_call *out,
                                 uint64_t session_id);

/* Remove one call whose user pointer is |user| (its local client went away)
 * and return 1; 0 when none is left. */
int dsb_rpc_pending_take_user(dsb_rpc_pending *pending,
                              dsb_rpc_pending_call *out, const void *user);

/* Number of calls in flight: in all, to |peer|, on |session_id|. */
uint32_t dsb_rpc_pending_count(const dsb_rpc_pending *pending);
uint32_t dsb_rpc_pending_count_peer(const dsb_rpc_pending *pending,
                                    const dsb_device_id *peer);
uint32_t dsb_rpc_pending_count_session(const dsb_rpc_pending *pending,
                                       uint64_t session_id);

void dsb_rpc_pending_get_stats(const dsb_rpc_pending *pending,
                               dsb_rpc_pending_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* DSB_RPC_H */
