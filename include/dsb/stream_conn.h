/*
 * dsb/stream_conn.h - runs one stream multiplexer (dsb/mux.h) inside one
 * established TCP session connection (dsb/tcp.h) on a libuv loop.
 *
 * The glue moves bytes and time, nothing else: decrypted records go to
 * dsb_mux_recv(); whenever the mux has something to send and the
 * connection's write queue has room, dsb_mux_send() writes the plaintext of
 * the next record straight into the transport's record buffer
 * (dsb_tcp_conn_reserve/commit: sealed in place, no copy); a uv_timer
 * follows dsb_mux_next_timeout() for keepalive. The application drives
 * streams with the dsb_mux_* stream API on dsb_stream_conn_mux() and gets
 * the mux callbacks it passed in, unchanged.
 *
 * Wiring: a dsb_tcp has one set of callbacks for all its connections, so
 * the owner of the dsb_tcp forwards three of them:
 *   on_established -> dsb_stream_conn_new()
 *   on_record      -> dsb_stream_conn_on_record()
 *   on_writable    -> dsb_stream_conn_on_writable()
 *   on_closed      -> dsb_stream_conn_del()
 *
 * When bytes go out: frames the application queues with the stream API
 * (also from inside mux callbacks) are sent before the loop next waits for
 * I/O (a uv_prepare handle checks dsb_mux_want_send() once per loop
 * iteration), so records are filled with everything queued meanwhile;
 * after each received record (credit, PONG, OPEN_ACK, and the data the
 * new credit lets through); or at once with dsb_stream_conn_flush().
 *
 * Backpressure: nothing is queued here. Outbound, the transport's write
 * queue is bounded (dsb_tcp_settings.max_write_queue): when it is full the
 * glue stops asking the mux for records until on_writable, so the mux's
 * bounded send buffers fill and its writes return DSB_ERR_WOULD_BLOCK
 * (on_stream_writable says when to retry). Inbound, the peer can send no
 * more than the credit the application returns with dsb_mux_consume().
 *
 * Errors: a fatal mux error (a mux.reject.* protocol reject, keepalive
 * timeout, NOMEM, callback failure) or a fatal transport error tears the
 * connection down with that code: dsb_tcp_conn_close(conn, code), whose
 * on_closed then reports it as the reason. dsb_stream_conn_error() tells
 * the code afterwards. When the owner closes the connection itself
 * (dsb_tcp_conn_close), the glue just stops sending; that is no error.
 *
 * Thread safety: not thread-safe; use from the loop's thread.
 *
 * Ownership: the stream_conn owns its mux; it borrows the connection, which
 * must outlive it until dsb_stream_conn_del() (call that at the latest from
 * the transport's on_closed). Mux callbacks run with the |user_data| given
 * here.
 */
#ifndef DSB_STREAM_CONN_H
#define DSB_STREAM_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "dsb/common.h"
#include "dsb/mux.h"
#include "dsb/tcp.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dsb_stream_conn dsb_stream_conn;

typedef struct dsb_stream_conn_config {
  /* Required: the loop the connection's dsb_tcp runs on (tcp.h offers no
   * getter for it). */
  uv_loop_t *loop;
  dsb_tcp_conn *conn;                 /* required, established, borrowed */
  const dsb_mux_settings *settings;   /* NULL: dsb_mux_settings_default() */
  const dsb_mux_callbacks *callbacks; /* NULL: no callbacks (copied) */
  void *user_data;                    /* for the mux callbacks */
  const dsb_mem *mem;                 /* NULL: libc; mux and glue */
} dsb_stream_conn_config;

/*
 * Creates the mux for |config->conn| (stream-id parity from the session
 * role), marks it authenticated and starts its timers on the connection's
 * loop. Writes *psc only on success.
 * Errors: DSB_ERR_INVALID_ARGUMENT (psc, config, loop or conn NULL),
 * DSB_ERR_SESSION_NOT_ESTABLISHED, DSB_ERR_CONFIG (mux settings out of
 * range), DSB_ERR_NOMEM.
 */
DSB_MUST_CHECK int dsb_stream_conn_new(dsb_stream_conn **psc,
                                       const dsb_stream_conn_config *config);

/*
 * Frees the mux (every stream with it) now and the glue once libuv has
 * closed its handles, so run the loop afterwards. Does not close the
 * connection. NULL is a no-op. May be called from a mux callback; the mux
 * then goes when that callback's dsb_mux call returns, and no callback
 * runs after this call.
 */
void dsb_stream_conn_del(dsb_stream_conn *sc);

/* The mux, for the stream API and stats. NULL after dsb_stream_conn_del. */
dsb_mux *dsb_stream_conn_mux(const dsb_stream_conn *sc);

/* The connection given at creation (NULL after dsb_stream_conn_del). */
dsb_tcp_conn *dsb_stream_conn_get_conn(const dsb_stream_conn *sc);

/*
 * Forward the transport's on_record: |pt| is one decrypted record. Returns
 * 0; on a fatal mux error the connection is closed with the code, which is
 * also returned (do not return it from on_record: the transport would
 * replace the reason with DSB_ERR_CALLBACK_FAILURE).
 */
int dsb_stream_conn_on_record(dsb_stream_conn *sc, const uint8_t *pt,
                              size_t ptlen);

/* Forward the transport's on_writable: resumes sending. */
void dsb_stream_conn_on_writable(dsb_stream_conn *sc);

/*
 * Sends what the mux has now, while the write queue takes it. Needed only
 * to bypass the once-per-iteration batching. A no-op inside a mux callback
 * (the batch picks it up). Returns 0, or the fatal code the connection was
 * closed with.
 */
int dsb_stream_conn_flush(dsb_stream_conn *sc);

/* 0 while healthy, else the fatal code the glue closed the connection
 * with. */
int dsb_stream_conn_error(const dsb_stream_conn *sc);

#ifdef __cplusplus
}
#endif

#endif /* DSB_STREAM_CONN_H */
