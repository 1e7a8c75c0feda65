/*
 * dsb/netstack_client.h - dsoftbusd's side of the netstackd protocol
 * (dsb/netstack.h): connects to netstackd's Unix socket, sends requests with
 * fresh nonces, matches replies, receives the socket descriptors netstackd
 * passes with SCM_RIGHTS, and reconnects with bounded exponential backoff
 * when netstackd goes away.
 *
 * Two ways to call:
 *  - asynchronous, on a libuv loop: dsb_netstack_client_request() with a
 *    callback, for the running daemon;
 *  - blocking: dsb_netstack_client_call(), for start-up before the loop
 *    runs (or briefly inside it). It connects first if needed.
 *
 * Descriptor ownership: a descriptor passed to a reply callback (fd >= 0)
 * or returned through |*fd| belongs to the caller, who must close it. Every
 * other descriptor that arrives (stale reply, malformed reply, a reply
 * whose callback is gone, a second descriptor, a descriptor on a reply that
 * must not carry one) is closed by the client and counted.
 *
 * A reply whose nonce matches no pending request is ignored and counted in
 * stats.stale_replies (brief 4.5); it is never delivered to another caller.
 *
 * Thread safety: not thread-safe; use from the loop's thread only.
 */
#ifndef DSB_NETSTACK_CLIENT_H
#define DSB_NETSTACK_CLIENT_H

#include <stdint.h>

#include <uv.h>

#include "dsb/netstack.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dsb_netstack_client dsb_netstack_client;

/*
 * Connection state changes. |up| 1: HELLO exchanged, requests may be sent.
 * |up| 0: the connection is gone (|err| says why: DSB_ERR_NETSTACK_DOWN,
 * DSB_ERR_NETSTACK_BUSY, DSB_ERR_IPC_PEER_CRED, DSB_ERR_NETSTACK_VERSION);
 * a reconnect is scheduled unless the client was closed.
 */
typedef void (*dsb_netstack_state_cb)(dsb_netstack_client *c, int up, int err,
                                      void *user_data);

/*
 * Completion of one request. |err| is 0 or a negative DSB_ERR_* code (the
 * status netstackd sent, or DSB_ERR_NETSTACK_DOWN / DSB_ERR_TIMEOUT /
 * DSB_ERR_CLOSED / DSB_ERR_NETSTACK_DESCRIPTOR decided locally). |rep| is
 * borrowed for the call and NULL when no reply arrived. |fd| is the
 * received socket (owned by the callee from now on) or -1.
 */
typedef void (*dsb_netstack_reply_cb)(dsb_netstack_client *c, int err,
                                      const dsb_netstack_rep *rep, int fd,
                                      void *user_data);

typedef struct dsb_netstack_client_settings {
  const char *socket_path;        /* copied */
  uint32_t backoff_initial_ms;    /* 0: 50 ms */
  uint32_t backoff_max_ms;        /* 0: 5000 ms; the delay doubles up to it */
  uint32_t request_timeout_ms;    /* 0: 10 s; TCP_CONNECT adds its timeout */
  uint32_t max_pending;           /* 0: 64; at most 1024 */
  dsb_netstack_state_cb state_cb; /* optional */
  void *user_data;
} dsb_netstack_client_settings;

typedef struct dsb_netstack_client_stats {
  uint64_t connects; /* HELLO exchanges that succeeded */
  uint64_t disconnects;
  uint64_t connect_attempts;
  uint64_t requests;
  uint64_t replies;       /* matched to a pending request */
  uint64_t stale_replies; /* nonce matched nothing: ignored */
  uint64_t malformed_replies;
  uint64_t timeouts;
  uint64_t fds_received;
  uint64_t fds_closed; /* received but closed by the client */
} dsb_netstack_client_stats;

/*
 * Create a client on |loop|. Nothing connects until
 * dsb_netstack_client_start() or dsb_netstack_client_call(). Errors:
 * DSB_ERR_INVALID_ARGUMENT (no path, path too long, max_pending > 1024),
 * DSB_ERR_NOMEM.
 */
int dsb_netstack_client_new(dsb_netstack_client **pc, uv_loop_t *loop,
                            const dsb_netstack_client_settings *s);

/* Start connecting in the background (and keep reconnecting). Returns 0 or
 * DSB_ERR_CLOSED. */
int dsb_netstack_client_start(dsb_netstack_client *c);

/*
 * Send |req| (its nonce is assigned here and written back). |cb| is called
 * exactly once, never from inside this function. Errors (then |cb| is not
 * called): DSB_ERR_CLOSED (client closed), DSB_ERR_NETSTACK_DOWN (not
 * connected), DSB_ERR_LIMIT (max_pending requests in flight),
 * DSB_ERR_INVALID_ARGUMENT (request does not encode; HELLO is the client's
 * own), DSB_ERR_IO (send failed; the connection is being reset).
 */
int dsb_netstack_client_request(dsb_netstack_client *c, dsb_netstack_req *req,
                                dsb_netstack_reply_cb cb, void *user_data);

/*
 * Blocking request: connect (and HELLO) first if needed, send, wait up to
 * |timeout_ms| for the matching reply. On success fills |rep| and |*fd|
 * (-1 when the op carries no socket) and returns 0; otherwise returns the
 * status as a DSB_ERR_* code, or DSB_ERR_TIMEOUT, DSB_ERR_NETSTACK_DOWN,
 * DSB_ERR_CLOSED, DSB_ERR_INVALID_STATE (asynchronous requests in flight),
 * DSB_ERR_INVALID_ARGUMENT, with *fd = -1.
 */
int dsb_netstack_client_call(dsb_netstack_client *c, dsb_netstack_req *req,
                             dsb_netstack_rep *rep, int *fd,
                             uint32_t timeout_ms);

/* Ask netstackd to cancel the pending TCP_CONNECT with |nonce|; its
 * callback then gets DSB_ERR_NETSTACK_CANCELLED. Same errors as
 * dsb_netstack_client_request(). */
int dsb_netstack_client_cancel(dsb_netstack_client *c, uint64_t nonce);

/* 1 when connected and HELLO is done. */
int dsb_netstack_client_is_up(const dsb_netstack_client *c);

void dsb_netstack_client_get_stats(const dsb_netstack_client *c,
                                   dsb_netstack_client_stats *st);

/*
 * Disconnect for good: pending requests complete with DSB_ERR_CLOSED, no
 * reconnect; later requests return DSB_ERR_CLOSED. Idempotent.
 */
void dsb_netstack_client_close(dsb_netstack_client *c);

/* Close (as above) and free once libuv released the handles; the loop must
 * run for that. NULL is a no-op. */
void dsb_netstack_client_del(dsb_netstack_client *c);

#ifdef __cplusplus
}
#endif

#endif /* DSB_NETSTACK_CLIENT_H */
