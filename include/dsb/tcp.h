/*
 * dsb/tcp.h - the libuv TCP transport: listens, accepts and connects, and
 * drives one dsb_session (include/dsb/session.h) per connection.
 *
 * It is a generic record carrier: upper layers (the stream multiplexer, the
 * daemon) get on_established(peer id) once the peer is verified, then one
 * on_record per decrypted record plaintext (<= DSB_SESSION_PLAINTEXT_MAX),
 * and hand plaintext down with dsb_tcp_conn_send or, without a copy, with
 * dsb_tcp_conn_reserve + dsb_tcp_conn_commit (the plaintext is written where
 * it will be sealed in place). TCP_NODELAY is set on every connection.
 *
 * Output is bounded per connection (settings.max_write_queue bytes): when the
 * queue is full, send/reserve return DSB_ERR_WOULD_BLOCK and queue nothing;
 * on_writable runs once the queue has drained below half. Input is read in
 * whatever pieces TCP delivers and fed to the session incrementally.
 *
 * Inbound connections pass the listener's admission limits (half-open cap,
 * per-source-IP rate limit) before any handshake work, and every handshake
 * has a deadline (settings.session.handshake_timeout).
 *
 * Callbacks: on_closed runs exactly once for every connection the user has
 * seen: outbound ones (dsb_tcp_connect, dsb_tcp_adopt) always, inbound ones
 * once on_established ran. Inbound connections that fail before that are
 * reported through on_reject only. After on_closed the dsb_tcp_conn pointer
 * is invalid. Callbacks may call any function here, including
 * dsb_tcp_conn_close on the connection they are called for.
 *
 * Thread safety: everything runs on the loop's thread. Time comes from
 * uv_hrtime() (monotonic ns) and is passed to the sans-IO session.
 *
 * Lifetime: dsb_tcp_del closes every connection and listener (on_closed runs
 * for each connection inside the call, with DSB_ERR_CLOSED); the memory is
 * released by libuv close callbacks, so run the loop afterwards until it has
 * no more handles (uv_run(loop, UV_RUN_DEFAULT)).
 */
#ifndef DSB_TCP_H
#define DSB_TCP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "dsb/common.h"
#include "dsb/identity.h"
#include "dsb/session.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DSB_TCP_DEFAULT_MAX_WRITE_QUEUE (1024 * 1024) /* bytes */
#define DSB_TCP_DEFAULT_MAX_CONNS 1024
#define DSB_TCP_DEFAULT_BACKLOG 128

typedef struct dsb_tcp dsb_tcp;
typedef struct dsb_tcp_conn dsb_tcp_conn;

typedef struct dsb_tcp_settings {
  dsb_session_settings session;       /* zeros: session defaults */
  dsb_session_limits_settings limits; /* per listener; zeros: defaults */
  /* Bytes of sealed records queued per connection before WOULD_BLOCK. The
   * queue may exceed it by at most one record. 0: default. */
  size_t max_write_queue;
  uint32_t max_conns; /* all connections of this transport; 0: default */
} dsb_tcp_settings;

/* Fill |settings| with the defaults. */
void dsb_tcp_settings_default(dsb_tcp_settings *settings);

typedef struct dsb_tcp_callbacks {
  /* The session is established and the peer verified. Non-zero return
   * closes the connection (reason DSB_ERR_CALLBACK_FAILURE). */
  int (*on_established)(dsb_tcp_conn *conn, const dsb_device_id *peer,
                        void *user_data);
  /* One decrypted record, |pt| borrowed for the call. Non-zero return
   * closes the connection (reason DSB_ERR_CALLBACK_FAILURE). */
  int (*on_record)(dsb_tcp_conn *conn, const uint8_t *pt, size_t ptlen,
                   void *user_data);
  /* The write queue drained below half after a DSB_ERR_WOULD_BLOCK. */
  void (*on_writable)(dsb_tcp_conn *conn, void *user_data);
  /* The connection is gone. |reason|: 0 for a clean close by the peer
   * between records, DSB_ERR_CLOSED for a local close, otherwise the
   * DSB_ERR_* that ended it (handshake, identity, trust, I/O, timeout). */
  void (*on_closed)(dsb_tcp_conn *conn, int reason, void *user_data);
  /* Optional: an inbound connection from |addr| was refused or failed its
   * handshake with |reason| (limits, timeout, identity, trust, ...). For
   * counters and logs; |addr| borrowed for the call, may be NULL. */
  void (*on_reject)(dsb_tcp *tcp, const struct sockaddr *addr, int reason,
                    void *user_data);
} dsb_tcp_callbacks;

typedef struct dsb_tcp_config {
  uv_loop_t *loop;           /* required, borrowed */
  const dsb_identity *local; /* required; public proof and static key copied */
  const dsb_tcp_settings *settings;   /* NULL: defaults */
  const dsb_tcp_callbacks *callbacks; /* required */
  void *user_data;
  dsb_session_peer_check_fn peer_check; /* NULL: any proven identity */
  void *peer_check_ctx;                 /* borrowed */
  struct dsb_proof_cache *proof_cache;  /* optional, borrowed */
  const dsb_rng *rng;                   /* NULL: CSPRNG */
  const dsb_mem *mem;                   /* NULL: libc */
  const dsb_log *log;                   /* NULL: silent */
} dsb_tcp_config;

/* Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_NOMEM */
DSB_MUST_CHECK int dsb_tcp_new(dsb_tcp **ptcp, const dsb_tcp_config *config);

/* Close everything (see Lifetime above). NULL is a no-op. */
void dsb_tcp_del(dsb_tcp *tcp);

/*
 * Listen on |addr| (IPv4 or IPv6; port 0 picks an ephemeral port, see
 * dsb_tcp_listen_addr). One listener per transport.
 * Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_EXISTS (already listening),
 * DSB_ERR_NOMEM, DSB_ERR_IO (bind/listen failed; errno-level detail logged).
 */
DSB_MUST_CHECK int dsb_tcp_listen(dsb_tcp *tcp, const struct sockaddr *addr,
                                  int backlog);

/* Listen on an already bound and listening socket, e.g. one received from
 * netstackd. On success the transport owns |fd|.
 * Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_EXISTS, DSB_ERR_NOMEM, DSB_ERR_IO
 */
DSB_MUST_CHECK int dsb_tcp_listen_fd(dsb_tcp *tcp, uv_os_sock_t fd);

/* The listener's local address (to learn an ephemeral port).
 * Errors: DSB_ERR_INVALID_STATE (not listening), DSB_ERR_IO */
DSB_MUST_CHECK int dsb_tcp_listen_addr(const dsb_tcp *tcp,
                                       struct sockaddr_storage *addr);

/*
 * Connect to |addr| as initiator, expecting the device |expected| whose
 * Noise static key is |remote_static| (both from discovery). |*pconn| is
 * set on success; the outcome arrives as on_established or on_closed (a
 * refused connection is on_closed with DSB_ERR_IO).
 * Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_LIMIT (max_conns), DSB_ERR_NOMEM,
 * DSB_ERR_IO, DSB_ERR_CRYPTO, DSB_ERR_CRYPTO_RNG.
 */
DSB_MUST_CHECK int dsb_tcp_connect(dsb_tcp *tcp, dsb_tcp_conn **pconn,
                                   const struct sockaddr *addr,
                                   const uint8_t remote_static[static 32],
                                   const dsb_device_id *expected,
                                   void *conn_user);

/*
 * Run a session over an already connected socket (netstackd hands these
 * over). DSB_SESSION_INITIATOR needs |remote_static| and |expected|; for
 * DSB_SESSION_RESPONDER both are NULL and the listener limits apply (as
 * for an accepted connection, keyed on getpeername()). On success the
 * transport owns |fd| and the connection behaves like one from
 * dsb_tcp_connect (on_closed always runs); on failure |fd| is untouched.
 * Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_LIMIT,
 * DSB_ERR_SESSION_HALF_OPEN_LIMIT, DSB_ERR_SESSION_RATE_LIMITED,
 * DSB_ERR_NOMEM, DSB_ERR_IO, DSB_ERR_CRYPTO, DSB_ERR_CRYPTO_RNG.
 */
DSB_MUST_CHECK int dsb_tcp_adopt(dsb_tcp *tcp, dsb_tcp_conn **pconn,
                                 uv_os_sock_t fd, dsb_session_role role,
                                 const uint8_t *remote_static,
                                 const dsb_device_id *expected,
                                 void *conn_user);

/*
 * Where outbound sockets come from, when not from connect(2) here: the
 * facade backend asks netstackd for a connected socket. With a connector
 * set, dsb_tcp_connect() creates the connection (its handshake deadline
 * runs from then on) and calls start(); start returns 0 when a socket is
 * on its way, or a DSB_ERR_* that dsb_tcp_connect() then returns (nothing
 * else happens). Afterwards the connector calls dsb_tcp_conn_supply_fd()
 * exactly once, never from inside start(), unless cancel() came first:
 * cancel() means the connection is closing (deadline, user close,
 * dsb_tcp_del), and the connector must forget |conn| and close any socket
 * that still arrives for it. |addr| is borrowed for the call.
 */
typedef struct dsb_tcp_connector {
  int (*start)(void *ctx, dsb_tcp_conn *conn, const struct sockaddr *addr);
  void (*cancel)(void *ctx, dsb_tcp_conn *conn);
  void *ctx;
} dsb_tcp_connector;

/* Install |connector| (copied) for later dsb_tcp_connect() calls; NULL
 * goes back to connecting directly. */
void dsb_tcp_set_connector(dsb_tcp *tcp, const dsb_tcp_connector *connector);

/*
 * The connector's answer for |conn|: |fd| >= 0 is a connected TCP socket
 * (the transport owns it on every path, also when |conn| no longer waits
 * for one, and starts the handshake on it); |fd| < 0 means the connect
 * failed, and on_closed reports |err| (a negative DSB_ERR_*; use
 * DSB_ERR_IO for "unreachable", as a direct connect would).
 */
void dsb_tcp_conn_supply_fd(dsb_tcp_conn *conn, uv_os_sock_t fd, int err);

/*
 * Seal |ptlen| <= DSB_SESSION_PLAINTEXT_MAX bytes into one record and queue
 * it. All or nothing.
 * Errors: DSB_ERR_WOULD_BLOCK (queue full: wait for on_writable),
 * DSB_ERR_SESSION_NOT_ESTABLISHED, DSB_ERR_CLOSED (closing),
 * DSB_ERR_INVALID_ARGUMENT, DSB_ERR_NOMEM, and fatal session errors
 * (DSB_ERR_NOISE_NONCE_EXHAUSTED, DSB_ERR_CRYPTO), which also close the
 * connection.
 */
DSB_MUST_CHECK int dsb_tcp_conn_send(dsb_tcp_conn *conn, const uint8_t *pt,
                                     size_t ptlen);

/*
 * Zero-copy send: get |*buf| where at least |min_len| (<=
 * DSB_SESSION_PLAINTEXT_MAX) and at most |*len| <= DSB_SESSION_PLAINTEXT_MAX
 * bytes of plaintext may be written, then seal and queue the first |n|
 * bytes with dsb_tcp_conn_commit (n = 0 abandons). The buffer stays valid
 * until commit; no other send may happen in between.
 * Errors of reserve: DSB_ERR_WOULD_BLOCK, DSB_ERR_SESSION_NOT_ESTABLISHED,
 * DSB_ERR_CLOSED, DSB_ERR_INVALID_ARGUMENT, DSB_ERR_INVALID_STATE (a
 * reservation is pending), DSB_ERR_NOMEM.
 * Errors of commit: DSB_ERR_INVALID_STATE (no reservation),
 * DSB_ERR_INVALID_ARGUMENT (n over the reserved length), and fatal session
 * errors, which also close the connection.
 */
DSB_MUST_CHECK int dsb_tcp_conn_reserve(dsb_tcp_conn *conn, size_t min_len,
                                        uint8_t **buf, size_t *len);
DSB_MUST_CHECK int dsb_tcp_conn_commit(dsb_tcp_conn *conn, size_t n);

/* Bytes of sealed records waiting to be written. */
size_t dsb_tcp_conn_queued(const dsb_tcp_conn *conn);

/*
 * Stop or restart reading (backpressure towards the peer). Called from
 * on_record, pausing stops delivery after that record; records already
 * read are kept and delivered by resume (before it returns), then reading
 * continues. Errors: DSB_ERR_CLOSED, DSB_ERR_IO.
 */
DSB_MUST_CHECK int dsb_tcp_conn_pause_read(dsb_tcp_conn *conn);
DSB_MUST_CHECK int dsb_tcp_conn_resume_read(dsb_tcp_conn *conn);

/*
 * Close the connection: queued records are flushed first when |reason| is
 * 0 (graceful), dropped otherwise. on_closed runs later from the loop with
 * DSB_ERR_CLOSED (|reason| 0) or |reason|. Idempotent.
 */
void dsb_tcp_conn_close(dsb_tcp_conn *conn, int reason);

void *dsb_tcp_conn_get_user(const dsb_tcp_conn *conn);
void dsb_tcp_conn_set_user(dsb_tcp_conn *conn, void *conn_user);
dsb_tcp *dsb_tcp_conn_get_tcp(const dsb_tcp_conn *conn);
dsb_session_role dsb_tcp_conn_get_role(const dsb_tcp_conn *conn);
/* The session, for its state, stats and handshake hash. */
const dsb_session *dsb_tcp_conn_get_session(const dsb_tcp_conn *conn);

/* The verified peer. Errors: DSB_ERR_SESSION_NOT_ESTABLISHED */
DSB_MUST_CHECK int dsb_tcp_conn_get_peer(const dsb_tcp_conn *conn,
                                         dsb_device_id *id);

/* The remote address. Errors: DSB_ERR_IO */
DSB_MUST_CHECK int dsb_tcp_conn_get_peer_addr(const dsb_tcp_conn *conn,
                                              struct sockaddr_storage *addr);

typedef struct dsb_tcp_stats {
  uint64_t accepted;          /* inbound connections admitted */
  uint64_t refused;           /* inbound refused by limits or max_conns */
  uint64_t handshakes_ok;     /* both roles */
  uint64_t handshakes_failed; /* both roles */
  uint32_t conns;             /* open now */
  uint32_t half_open;         /* inbound handshakes in progress */
} dsb_tcp_stats;

void dsb_tcp_get_stats(const dsb_tcp *tcp, dsb_tcp_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* DSB_TCP_H */
