/*
 * dsb/mux.h - streams (mux v2): named, prioritised, flow-controlled streams
 * with preserved message boundaries, multiplexed inside one authenticated
 * session. Wire format: docs/PROTOCOL.md "Streams (mux v2)".
 *
 * Sans-IO (the model is nghttp2): the session hands each decrypted record
 * plaintext to dsb_mux_recv() and asks dsb_mux_send() for the plaintext of
 * the next record. A record carries one or more WHOLE frames; frames never
 * span records. The mux reads no clock: time is the |now| argument
 * (monotonic ns, never decreasing).
 *
 * Thread safety: a dsb_mux is not thread-safe; use it from one thread.
 *
 * Ownership: the mux owns its streams and buffers; dsb_mux_del() frees them.
 * Pointers passed to callbacks are borrowed for the duration of the call.
 * Callbacks may call the stream API (accept, write, consume, close, reset,
 * ...) on any stream, but never dsb_mux_recv/send/handle_timeout/del
 * (those return DSB_ERR_INVALID_STATE when re-entered).
 *
 * Errors: every function returns 0 (or a byte count) on success and a
 * negative DSB_ERR_* code. Codes for which dsb_err_is_fatal() is true (the
 * mux.reject.* protocol rejects, NOMEM, CALLBACK_FAILURE, KEEPALIVE_TIMEOUT)
 * mean the mux is dead: every later call returns the same code and the
 * session must be torn down.
 */
#ifndef DSB_MUX_H
#define DSB_MUX_H

#include <stddef.h>
#include <stdint.h>

#include "dsb/common.h"
#include "dsb/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- wire constants (docs/PROTOCOL.md "Streams (mux v2)") --------------- */

#define DSB_MUX_VERSION 0x02
#define DSB_MUX_FRAME_HEADER_LEN 9
/* Protocol cap on a frame's payload; receivers reject anything larger. */
#define DSB_MUX_MAX_FRAME_PAYLOAD 32768
/* Largest record plaintext the session carries (65535 - 16 byte tag). */
#define DSB_MUX_MAX_RECORD_PLAINTEXT 65519
#define DSB_MUX_NAME_MAX 64
#define DSB_MUX_PRIORITY_MAX 7
/* Largest credit a window may hold (as in HTTP/2). */
#define DSB_MUX_MAX_WINDOW 0x7fffffffu
/* Smallest stream window a peer may advertise in OPEN / OPEN_ACK. */
#define DSB_MUX_MIN_WINDOW 1024u
/* Session-level send credit every mux starts with, before any update. */
#define DSB_MUX_INITIAL_SESSION_WINDOW 65536u

typedef enum dsb_mux_frame_type {
  DSB_MUX_FRAME_OPEN = 0x01,
  DSB_MUX_FRAME_OPEN_ACK = 0x02,
  DSB_MUX_FRAME_DATA = 0x03,
  DSB_MUX_FRAME_WINDOW_UPDATE = 0x04,
  DSB_MUX_FRAME_RST = 0x05,
  DSB_MUX_FRAME_PING = 0x06,
  DSB_MUX_FRAME_PONG = 0x07,
  DSB_MUX_FRAME_CLOSE = 0x08
} dsb_mux_frame_type;

/* DATA flag: this frame ends a message (message-mode streams only). */
#define DSB_MUX_FLAG_FIN_MESSAGE 0x01

/* Stream modes, the OPEN frame's mode byte. */
#define DSB_MUX_MODE_MESSAGE 0
#define DSB_MUX_MODE_BYTES 1

/* RST codes. 0x100 and above are free for applications. */
#define DSB_MUX_RST_CANCEL 0x0u         /* application abort */
#define DSB_MUX_RST_REFUSED 0x1u        /* stream limit reached */
#define DSB_MUX_RST_DUPLICATE_NAME 0x2u /* mux.reject.duplicate_stream_name */
#define DSB_MUX_RST_INVALID_NAME 0x3u   /* mux.reject.invalid_stream_name */
#define DSB_MUX_RST_MESSAGE_TOO_LARGE 0x4u /* over receiver max_message */
#define DSB_MUX_RST_REJECTED 0x5u          /* no one accepts this stream */
#define DSB_MUX_RST_SHUTDOWN 0x6u          /* mux shutting down */
#define DSB_MUX_RST_APP_BASE 0x100u

/*
 * One decoded frame: a plain value whose pointers borrow the input buffer.
 * Which fields are meaningful depends on |type|.
 */
typedef struct dsb_mux_frame {
  uint8_t version;
  uint8_t type;  /* dsb_mux_frame_type */
  uint8_t flags; /* DSB_MUX_FLAG_* (DATA only) */
  uint32_t stream_id;
  /* OPEN */
  uint8_t priority;
  uint8_t mode; /* DSB_MUX_MODE_* */
  const uint8_t *name;
  size_t namelen;
  /* OPEN, OPEN_ACK: the sender's receive window and max message size */
  uint32_t window;
  uint32_t max_message;
  /* DATA */
  const uint8_t *data;
  size_t datalen;
  /* WINDOW_UPDATE */
  uint32_t increment;
  /* RST */
  uint32_t code;
  /* PING, PONG */
  uint64_t opaque;
} dsb_mux_frame;

/*
 * Decodes the frame at the start of |in|. Returns the number of bytes it
 * occupies (header + payload), or:
 *   DSB_ERR_MUX_MALFORMED      truncated header or payload, unknown type,
 *                              flags or stream id not allowed for the type,
 *                              payload length or field values invalid
 *   DSB_ERR_MUX_VERSION        version byte is not DSB_MUX_VERSION
 *   DSB_ERR_MUX_FRAME_OVERSIZE length field > DSB_MUX_MAX_FRAME_PAYLOAD
 * Stream-name contents are not checked here (see dsb_mux_name_valid()).
 */
long dsb_mux_frame_decode(dsb_mux_frame *fr, const uint8_t *in, size_t inlen);

/*
 * Encodes |fr| (version is always DSB_MUX_VERSION) into |dst|. Returns the
 * bytes written, DSB_ERR_NOBUF if |dstlen| is too small, or
 * DSB_ERR_INVALID_ARGUMENT if |fr| would not decode.
 */
long dsb_mux_frame_encode(uint8_t *dst, size_t dstlen, const dsb_mux_frame *fr);

/* Encoded size of |fr|, or 0 if |fr| is invalid. */
size_t dsb_mux_frame_len(const dsb_mux_frame *fr);

/*
 * Non-zero if |name| is a valid stream name: 1..DSB_MUX_NAME_MAX bytes of
 * [A-Za-z0-9] and ". _ - / : @ +".
 */
int dsb_mux_name_valid(const char *name, size_t namelen);

/* ---- the mux ------------------------------------------------------------ */

typedef struct dsb_mux dsb_mux;

/*
 * The session role decides stream-id parity so the ends never allocate the
 * same id: the initiator opens odd ids (1, 3, ...), the responder even ids
 * (2, 4, ...). Id 0 is the session itself.
 */
typedef enum dsb_mux_role {
  DSB_MUX_ROLE_INITIATOR = 0,
  DSB_MUX_ROLE_RESPONDER = 1
} dsb_mux_role;

/*
 * Limits. Start from dsb_mux_settings_default(); every value can be set
 * lower (within the ranges noted), never unbounded. Windows and max message
 * are what THIS end accepts and advertises; the sender side uses the
 * minimum of its own and the peer's.
 */
typedef struct dsb_mux_settings {
  uint32_t max_streams;         /* 128; 1..1024 live streams (both ends) */
  uint32_t max_frame_payload;   /* 32768; 1024..32768, frames this end sends */
  uint32_t stream_window;       /* 262144; 1024..2^30, receive credit/stream */
  uint32_t stream_send_buffer;  /* 262144; 1024..2^30, queued bytes/stream */
  uint32_t max_message;         /* 262144; 1..min(window, send buffer) */
  uint32_t session_window;      /* 8 MiB; 65536..2^30, receive credit total */
  uint32_t session_send_buffer; /* 8 MiB; >= stream_send_buffer, queued total */
  uint32_t starvation_budget;   /* 16; 1..1024 frames, see dsb_mux_send() */
  uint64_t keepalive_idle;      /* 15 s in ns; 0 disables keepalive */
  uint64_t keepalive_timeout;   /* 10 s in ns; > 0 */
} dsb_mux_settings;

void dsb_mux_settings_default(dsb_mux_settings *settings);

/*
 * Callbacks, all optional (NULL = ignored, except on_stream_open: without it
 * every incoming stream is refused with DSB_MUX_RST_REJECTED). A non-zero
 * return makes the running dsb_mux_* call fail with the fatal
 * DSB_ERR_CALLBACK_FAILURE. |user_data| is the one given to dsb_mux_new().
 */
typedef struct dsb_mux_callbacks {
  /* The peer opened stream |id|. Call dsb_mux_accept() (now or later) or
   * dsb_mux_reset() to refuse. The name is borrowed, not NUL-terminated. */
  int (*on_stream_open)(dsb_mux *mux, uint32_t id, const char *name,
                        size_t namelen, uint8_t priority, uint8_t mode,
                        void *user_data);
  /* The peer accepted our stream |id|: writes are possible now. */
  int (*on_stream_accepted)(dsb_mux *mux, uint32_t id, void *user_data);
  /* A whole message (message mode). |data| is borrowed for the call. The
   * bytes hold stream credit until dsb_mux_consume() returns it. */
  int (*on_message)(dsb_mux *mux, uint32_t id, const uint8_t *data, size_t len,
                    void *user_data);
  /* A chunk of a byte-mode stream; same credit rule as on_message. */
  int (*on_data)(dsb_mux *mux, uint32_t id, const uint8_t *data, size_t len,
                 void *user_data);
  /* The peer half-closed |id|: no more data will arrive on it. */
  int (*on_stream_close)(dsb_mux *mux, uint32_t id, void *user_data);
  /* Stream |id| is gone: the peer reset it with |code|, or this end reset
   * it because of a stream-level error (code says which). Not called for
   * dsb_mux_reset() by the application itself. The id is invalid after. */
  int (*on_stream_reset)(dsb_mux *mux, uint32_t id, uint32_t code,
                         void *user_data);
  /* A write on |id| returned DSB_ERR_WOULD_BLOCK (or the stream was not yet
   * accepted) and buffer space or credit has since been freed: retry. */
  int (*on_stream_writable)(dsb_mux *mux, uint32_t id, void *user_data);
  /* The peer missed the keepalive deadline; the mux is dead. */
  int (*on_keepalive_timeout)(dsb_mux *mux, void *user_data);
} dsb_mux_callbacks;

/*
 * Creates a mux. |mem| NULL = libc; |settings| NULL = defaults; |cb| NULL =
 * no callbacks (copied). Writes *pmux only on success. Returns 0,
 * DSB_ERR_INVALID_ARGUMENT (bad role or pmux NULL), DSB_ERR_CONFIG
 * (settings out of range), DSB_ERR_NOMEM.
 */
int dsb_mux_new(dsb_mux **pmux, const dsb_mem *mem, dsb_mux_role role,
                const dsb_mux_settings *settings, const dsb_mux_callbacks *cb,
                void *user_data, dsb_tstamp now);

/* Frees the mux and every stream. NULL is a no-op. */
void dsb_mux_del(dsb_mux *mux);

/*
 * Marks the carrying session authenticated (handshake done, identity
 * bound). Until then dsb_mux_recv() rejects every byte with
 * DSB_ERR_MUX_UNAUTHENTICATED, dsb_mux_send() emits nothing (streams opened
 * earlier wait) and keepalive is not armed. Returns 0 or the fatal code.
 */
int dsb_mux_set_authenticated(dsb_mux *mux, dsb_tstamp now);

/*
 * Feeds one record plaintext (a sequence of whole frames). Returns inlen,
 * or a negative code; all listed codes are fatal:
 *   DSB_ERR_MUX_UNAUTHENTICATED  not marked authenticated
 *   DSB_ERR_MUX_MALFORMED, DSB_ERR_MUX_VERSION, DSB_ERR_MUX_FRAME_OVERSIZE
 *                                (see dsb_mux_frame_decode())
 *   DSB_ERR_MUX_UNKNOWN_STREAM   frame for a stream id never opened
 *   DSB_ERR_MUX_INVALID_TRANSITION  frame not allowed in the stream's state
 *                                (DATA before OPEN_ACK or after CLOSE, second
 *                                CLOSE, OPEN reusing an id, ...)
 *   DSB_ERR_MUX_CREDIT           DATA beyond the granted window, or a
 *                                WINDOW_UPDATE pushing credit over the window
 *   DSB_ERR_MUX_REFUSAL_FLOOD    more refused OPENs pending than max_streams
 *   DSB_ERR_CALLBACK_FAILURE, DSB_ERR_NOMEM, DSB_ERR_INVALID_STATE (re-entry)
 * Stream-level problems are not fatal: an OPEN with an invalid or duplicate
 * name (mux.reject.invalid_stream_name / duplicate_stream_name) or over the
 * stream limit is answered with RST and counted; a message over max_message
 * resets its stream. Frames for streams that were closed or reset are
 * ignored (their credit is returned).
 */
long dsb_mux_recv(dsb_mux *mux, const uint8_t *in, size_t inlen,
                  dsb_tstamp now);

/*
 * Writes as many whole frames as fit into |dst| (control frames first, then
 * DATA chosen by the scheduler): returns the bytes written, 0 when there is
 * nothing to send (or |dstlen| < one frame), or a fatal code.
 *
 * Scheduler: strict priority (0 highest), round-robin one frame per stream
 * within a class. Starvation budget: a class with work that has waited
 * while |starvation_budget| DATA frames of other classes went out sends the
 * next frame (several such classes: the highest first).
 */
long dsb_mux_send(dsb_mux *mux, uint8_t *dst, size_t dstlen, dsb_tstamp now);

/* Non-zero if dsb_mux_send() would produce bytes. */
int dsb_mux_want_send(const dsb_mux *mux);

/*
 * Next keepalive deadline (UINT64_MAX if none): when it passes, call
 * dsb_mux_handle_timeout().
 */
dsb_tstamp dsb_mux_next_timeout(const dsb_mux *mux);

/*
 * Keepalive: when nothing was received for keepalive_idle a PING is queued;
 * when its PONG has not arrived keepalive_timeout after that, returns the
 * fatal DSB_ERR_MUX_KEEPALIVE_TIMEOUT (after on_keepalive_timeout).
 * Returns 0 otherwise.
 */
int dsb_mux_handle_timeout(dsb_mux *mux, dsb_tstamp now);

/* dsb_mux_open() flags */
#define DSB_MUX_OPEN_BYTES 0x1u /* byte mode: no boundaries, no size limit */

/*
 * Opens a stream; writes its id to *pid. The OPEN frame goes out with the
 * next dsb_mux_send(); writes return DSB_ERR_WOULD_BLOCK until the peer
 * accepts (on_stream_accepted, then on_stream_writable). Returns 0 or
 *   DSB_ERR_MUX_INVALID_NAME     name fails dsb_mux_name_valid()
 *   DSB_ERR_MUX_DUPLICATE_NAME   a live stream this end opened has the name
 *   DSB_ERR_MUX_TOO_MANY_STREAMS max_streams live streams
 *   DSB_ERR_LIMIT                this end's stream ids are exhausted
 *   DSB_ERR_INVALID_ARGUMENT     priority > 7, unknown flags, pid NULL
 *   DSB_ERR_NOMEM, or the fatal code of a dead mux
 */
int dsb_mux_open(dsb_mux *mux, uint32_t *pid, const char *name, size_t namelen,
                 uint8_t priority, uint32_t flags, void *stream_user_data);

/*
 * Accepts a stream the peer opened (on_stream_open). Returns 0 or
 *   DSB_ERR_NOT_FOUND      no such live stream
 *   DSB_ERR_INVALID_STATE  not a peer-opened stream waiting for accept
 */
int dsb_mux_accept(dsb_mux *mux, uint32_t id, void *stream_user_data);

/*
 * Queues one message (message mode), copied into the stream's send buffer.
 * Returns 0 or
 *   DSB_ERR_WOULD_BLOCK    does not fit the stream's or the session's send
 *                          buffer now, or the stream is not yet accepted:
 *                          retry after on_stream_writable
 *   DSB_ERR_MUX_MESSAGE_TOO_LARGE  len > the stream's max message (min of
 *                          both ends' max_message and the send buffer)
 *   DSB_ERR_INVALID_ARGUMENT  len 0 or a byte-mode stream
 *   DSB_ERR_NOT_FOUND, DSB_ERR_INVALID_STATE (closed for writing), NOMEM
 */
int dsb_mux_write_message(dsb_mux *mux, uint32_t id, const uint8_t *data,
                          size_t len);

/*
 * Queues bytes on a byte-mode stream; takes what fits. Returns the bytes
 * taken (> 0) or DSB_ERR_WOULD_BLOCK (nothing fits / not yet accepted),
 * DSB_ERR_INVALID_ARGUMENT (message-mode stream or len 0), DSB_ERR_NOT_FOUND,
 * DSB_ERR_INVALID_STATE, DSB_ERR_NOMEM.
 */
long dsb_mux_write_bytes(dsb_mux *mux, uint32_t id, const uint8_t *data,
                         size_t len);

/*
 * The application is done with |n| delivered bytes of |id|: their credit
 * goes back to the peer (WINDOW_UPDATE). Without this, the peer blocks at
 * the window. Returns 0, DSB_ERR_NOT_FOUND (stream gone: ignore, its credit
 * was already returned), DSB_ERR_INVALID_ARGUMENT (n more than delivered
 * and not yet consumed).
 */
int dsb_mux_consume(dsb_mux *mux, uint32_t id, size_t n);

/*
 * Half-closes |id|: a CLOSE follows the data already queued; no more writes.
 * The stream is freed when both ends closed and everything delivered was
 * consumed. Returns 0, DSB_ERR_NOT_FOUND, DSB_ERR_INVALID_STATE (already
 * closed).
 */
int dsb_mux_close(dsb_mux *mux, uint32_t id);

/*
 * Aborts |id| with |code|: queued data is dropped, RST is sent, the id is
 * invalid after the call. Idempotent: resetting a stream that is already
 * reset or gone returns 0.
 */
int dsb_mux_reset(dsb_mux *mux, uint32_t id, uint32_t code);

/* Changes the send priority of |id| (0..7). 0, NOT_FOUND, INVALID_ARGUMENT */
int dsb_mux_set_priority(dsb_mux *mux, uint32_t id, uint8_t priority);

/* Per-stream application pointer. NULL if unknown stream. */
void *dsb_mux_stream_user_data(const dsb_mux *mux, uint32_t id);
int dsb_mux_set_stream_user_data(dsb_mux *mux, uint32_t id, void *data);

typedef enum dsb_mux_stream_state {
  DSB_MUX_STREAM_OPENING = 1, /* we sent OPEN, no OPEN_ACK yet */
  DSB_MUX_STREAM_PENDING = 2, /* peer sent OPEN, we did not accept yet */
  DSB_MUX_STREAM_OPEN = 3,    /* established (maybe half-closed) */
  DSB_MUX_STREAM_RESET = 4    /* reset, RST not yet sent */
} dsb_mux_stream_state;

typedef struct dsb_mux_stream_info {
  uint32_t id;
  uint8_t state; /* dsb_mux_stream_state */
  uint8_t priority;
  uint8_t mode;
  uint8_t local_closed;  /* we called dsb_mux_close() */
  uint8_t remote_closed; /* peer sent CLOSE */
  uint64_t send_credit;  /* bytes the peer lets us send now */
  uint64_t send_buffered;
  uint64_t recv_unconsumed; /* received, not yet consumed (incl. partial) */
  uint64_t max_message;     /* effective max message we may send */
} dsb_mux_stream_info;

/* Returns 0 or DSB_ERR_NOT_FOUND. */
int dsb_mux_stream_get_info(const dsb_mux *mux, uint32_t id,
                            dsb_mux_stream_info *info);

typedef struct dsb_mux_stats {
  uint64_t frames_sent, frames_received;
  uint64_t bytes_sent, bytes_received; /* DATA payload bytes */
  uint64_t messages_sent, messages_received;
  uint64_t streams_opened, streams_accepted; /* totals */
  uint64_t streams_refused;                  /* peer OPENs answered with RST */
  uint64_t streams_live;
  uint64_t frames_ignored; /* frames for closed/reset streams */
  uint64_t pings_sent, pongs_received;
  uint64_t send_buffered; /* bytes queued in send buffers now */
  uint64_t recv_buffered; /* bytes held for partial messages now */
  uint64_t session_send_credit;
  uint64_t rejects_total;
} dsb_mux_stats;

void dsb_mux_get_stats(const dsb_mux *mux, dsb_mux_stats *stats);

/*
 * How often this mux saw the reject |err| (a DSB_ERR_MUX_* code; the label
 * is dsb_strerror(err)). 0 for codes outside the mux range.
 */
uint64_t dsb_mux_reject_count(const dsb_mux *mux, int err);

/* 0 while the mux is alive, else the fatal code that killed it. */
int dsb_mux_fatal_error(const dsb_mux *mux);

#ifdef __cplusplus
}
#endif

#endif /* DSB_MUX_H */
