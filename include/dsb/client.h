/*
 * dsb/client.h - the client library apps use to talk to dsoftbusd over its
 * local API (a Unix SOCK_SEQPACKET socket; wire format dsb/ipc.h,
 * docs/PROTOCOL.md "Local API"). No libuv needed.
 *
 * Two ways to use it:
 *  - blocking helpers: each request call sends, then waits (bounded by the
 *    client's timeout) for the reply with the same nonce. Events that
 *    arrive meanwhile are queued (bounded) for dsb_client_next_event().
 *    Sends never block on a full socket: while waiting for room (bounded
 *    by the same timeout, then DSB_ERR_TIMEOUT) the library receives and
 *    queues what the daemon sends, since the daemon stops reading a client
 *    that does not read its replies.
 *  - any event loop: poll dsb_client_fd() for readability and call
 *    dsb_client_next_event(c, &ev, 0) when it is readable.
 * A reply whose nonce matches no pending request is dropped and counted
 * (dsb_client_stale_replies), never delivered to the wrong caller.
 *
 * Streams are plain file descriptors (SOCK_SEQPACKET): each write() is one
 * message of 1..DSB_IPC_STREAM_MSG_MAX bytes, each read() returns one
 * message, shutdown(fd, SHUT_WR) half-closes, read() returning 0 is the
 * peer's close. The caller owns every descriptor it receives and closes it.
 *
 * Thread safety: a dsb_client is not thread-safe; use one per thread.
 */
#ifndef DSB_CLIENT_H
#define DSB_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "dsb/common.h"
#include "dsb/ipc.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DSB_CLIENT_DEFAULT_TIMEOUT_MS 30000
#define DSB_CLIENT_EVENT_QUEUE 64

/* dsb_client_connect() flags */
#define DSB_CLIENT_PEER_EVENTS 0x1u /* receive PEER_UP / PEER_DOWN */

/* Trust states (same values as DSB_IPC_TRUST_*). */
#define DSB_CLIENT_TRUST_UNKNOWN 0
#define DSB_CLIENT_TRUST_TRUSTED 1
#define DSB_CLIENT_TRUST_BLOCKED 2

typedef struct dsb_client dsb_client;

/*
 * The socket path apps use when none is given: $DSB_SOCKET, else the
 * daemon's default (root: /run/dsoftbus/dsoftbusd.sock; otherwise
 * $XDG_RUNTIME_DIR/dsoftbusd.sock, else
 * $XDG_STATE_HOME/dsoftbus/dsoftbusd.sock or
 * ~/.local/state/dsoftbus/dsoftbusd.sock).
 * Errors: DSB_ERR_NOBUF, DSB_ERR_NOT_FOUND (no HOME).
 */
int dsb_client_default_socket(char *out, size_t outlen);

/*
 * Connect to the daemon at |path| (NULL: the default) and say hello.
 * Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_NOT_FOUND (no socket there),
 * DSB_ERR_PERMISSION, DSB_ERR_IO, DSB_ERR_NOMEM, DSB_ERR_TIMEOUT,
 * DSB_ERR_CLOSED (the daemon refused or went away), DSB_ERR_IPC_VERSION.
 */
int dsb_client_connect(dsb_client **pc, const char *path, unsigned flags);

/* Close the connection; queued events' descriptors are closed. NULL ok. */
void dsb_client_close(dsb_client *c);

/* The descriptor to poll for readability. */
int dsb_client_fd(const dsb_client *c);

/* Timeout of the blocking calls, ms (> 0). */
void dsb_client_set_timeout(dsb_client *c, int timeout_ms);

/* Replies dropped because their nonce matched no pending request. */
uint64_t dsb_client_stale_replies(const dsb_client *c);

/* Events dropped because the queue was full. */
uint64_t dsb_client_dropped_events(const dsb_client *c);

typedef struct dsb_client_identity {
  char device_id[DSB_DEVICE_ID_TEXT_LEN + 1];
  char name[DSB_IPC_NAME_MAX + 1];
  uint8_t ed_pk[32];
  uint8_t static_pk[32];
  uint16_t session_port;
} dsb_client_identity;

typedef struct dsb_client_peer {
  char device_id[DSB_DEVICE_ID_TEXT_LEN + 1];
  char name[DSB_IPC_NAME_MAX + 1];
  int trust;   /* DSB_CLIENT_TRUST_* */
  int session; /* DSB_IPC_SESSION_* */
  size_t naddrs;
  char addrs[DSB_IPC_MAX_ADDRS][DSB_IPC_ADDR_MAX + 1];
  size_t nservices;
  /* As the peer announced them (up to 64 printable bytes); one outside the
   * service-name rule (dsb/service_name.h) cannot be opened from here. */
  char services[DSB_IPC_MAX_SERVICES][DSB_IPC_PEER_SERVICE_MAX + 1];
} dsb_client_peer;

typedef struct dsb_client_trust_entry {
  char device_id[DSB_DEVICE_ID_TEXT_LEN + 1];
  int state; /* DSB_CLIENT_TRUST_* */
  char name[DSB_IPC_NAME_MAX + 1];
} dsb_client_trust_entry;

/* Listing callbacks; the entry is borrowed for the call. Non-zero stops
 * the listing (the call then returns DSB_ERR_CALLBACK_FAILURE). */
typedef int (*dsb_client_peer_fn)(void *ctx, const dsb_client_peer *peer);
typedef int (*dsb_client_trust_fn)(void *ctx,
                                   const dsb_client_trust_entry *entry);
typedef int (*dsb_client_counter_fn)(void *ctx, const char *name,
                                     uint64_t value);

/*
 * Request calls. Besides the errors listed, each can return the transport
 * errors DSB_ERR_TIMEOUT, DSB_ERR_CLOSED, DSB_ERR_IO and any error code the
 * daemon replied with.
 */
int dsb_client_id(dsb_client *c, dsb_client_identity *out);
int dsb_client_peers(dsb_client *c, dsb_client_peer_fn fn, void *ctx);
int dsb_client_trust_list(dsb_client *c, dsb_client_trust_fn fn, void *ctx);
int dsb_client_status(dsb_client *c, dsb_client_counter_fn fn, void *ctx);

/* Set the trust state of |device_id| (32 hex characters); UNKNOWN removes
 * the entry. Errors: DSB_ERR_MALFORMED (device id text),
 * DSB_ERR_INVALID_ARGUMENT. */
int dsb_client_trust_set(dsb_client *c, const char *device_id, int state);

/* Publish / withdraw a service name: the service-name rule, 1..48 of
 * [A-Za-z0-9._-] (dsb/service_name.h), checked before anything is sent.
 * Incoming streams for a published service arrive as DSB_CLIENT_EV_STREAM
 * events. A published service is announced in discovery.
 * Errors: DSB_ERR_IPC_BAD_STRING (name), DSB_ERR_EXISTS (published already),
 * DSB_ERR_LIMIT, DSB_ERR_NOT_FOUND (withdraw). */
int dsb_client_publish(dsb_client *c, const char *service);
int dsb_client_withdraw(dsb_client *c, const char *service);

/*
 * Open a stream to |service| on |device_id| with |priority| 0..7. On
 * success |*fd| is the stream (owned by the caller) and |*stream| (may be
 * NULL) its handle in events.
 * Errors (besides the transport ones): DSB_ERR_MALFORMED,
 * DSB_ERR_TRUST_UNKNOWN ("device is not trusted"), DSB_ERR_TRUST_BLOCKED,
 * DSB_ERR_IPC_NO_PEER (not discovered), DSB_ERR_IPC_NO_SERVICE,
 * DSB_ERR_IDENTITY_MISMATCH, DSB_ERR_IPC_UNREACHABLE, DSB_ERR_LIMIT, ...
 */
int dsb_client_open_stream(dsb_client *c, const char *device_id,
                           const char *service, uint8_t priority, int *fd,
                           uint32_t *stream);

typedef enum dsb_client_event_type {
  DSB_CLIENT_EV_PEER_UP = 1,
  DSB_CLIENT_EV_PEER_DOWN = 2,
  DSB_CLIENT_EV_STREAM = 3,    /* incoming stream: |fd| is yours */
  DSB_CLIENT_EV_STREAM_END = 4 /* a stream ended; |status| says how */
} dsb_client_event_type;

typedef struct dsb_client_event {
  dsb_client_event_type type;
  char device_id[DSB_DEVICE_ID_TEXT_LEN + 1];
  char name[DSB_IPC_NAME_MAX + 1];       /* PEER_UP */
  char service[DSB_IPC_SERVICE_MAX + 1]; /* STREAM */
  uint8_t priority;                      /* STREAM */
  uint32_t stream;                       /* STREAM, STREAM_END */
  int status;                            /* STREAM_END: 0 or DSB_ERR_* */
  int fd;                                /* STREAM, else -1 */
} dsb_client_event;

/*
 * The next event: from the queue, else waiting up to |timeout_ms| (0: do
 * not wait; < 0: forever). Returns 1 with |*ev| filled, 0 if none came.
 * Errors: DSB_ERR_CLOSED (daemon gone), DSB_ERR_IO.
 */
int dsb_client_next_event(dsb_client *c, dsb_client_event *ev, int timeout_ms);

/* Wait for an incoming stream (any published service), skipping other
 * events. Returns 1, 0 on timeout, or an error as dsb_client_next_event. */
int dsb_client_accept(dsb_client *c, dsb_client_event *ev, int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif /* DSB_CLIENT_H */
