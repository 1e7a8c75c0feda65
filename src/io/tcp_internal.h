/*
 * tcp_internal.h - what the files of the TCP transport (include/dsb/tcp.h)
 * share: the transport and connection objects, their flags and caps, and
 * the helpers one file calls in another. tcp_transport.c holds the
 * transport object, listening, admission of inbound connections and the
 * stats; tcp_conn.c one connection (write queue, reserve/commit, read
 * path, handshake deadline, close); tcp_connector.c outbound connections
 * (direct, through the connector hook) and adopted sockets.
 * Not thread-safe: everything runs on the transport's loop thread.
 */
#ifndef DSB_IO_TCP_INTERNAL_H
#define DSB_IO_TCP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>
#include <uv.h>

#include "dsb/session.h"
#include "dsb/tcp.h"

#define TCP_BLOCK_CAP DSB_SESSION_RECORD_MAX
#define TCP_WRITE_BUFS 4
/* Free write blocks kept for reuse: as many as one full write queue spans
 * (max_write_queue / TCP_BLOCK_CAP + 2), within these bounds. Fewer made
 * the allocator return blocks to the kernel and fault them in again while
 * a busy connection kept its queue full. */
#define TCP_POOL_MIN 8
#define TCP_POOL_MAX 64
/* Four maximal records: with one (64 KiB) nearly every record spanned two
 * reads and was copied once more into the session. */
#define TCP_READ_BUF (4 * DSB_SESSION_RECORD_MAX)
/* A record smaller than this is not started at the end of a block: better
 * a new block than a stream of tiny records. */
#define TCP_MIN_RESERVE 4096
/* How long a graceful close may wait for queued records to drain. */
#define TCP_LINGER_MS 5000

enum { TCP_LISTENER_NONE = 0, TCP_LISTENER_OPEN, TCP_LISTENER_CLOSING };

enum {
  CONN_F_INBOUND = 1u << 0,
  CONN_F_CONNECTING = 1u << 1,
  CONN_F_ESTABLISHED = 1u << 2,
  CONN_F_NOTIFY = 1u << 3, /* the user knows this conn: on_closed owed */
  CONN_F_CLOSING = 1u << 4,
  CONN_F_LINGER = 1u << 5, /* closing after the queue drains */
  CONN_F_HALF_OPEN = 1u << 6,
  CONN_F_WANT_WRITABLE = 1u << 7,
  CONN_F_RESERVED = 1u << 8,
  CONN_F_PAUSED = 1u << 9,
  CONN_F_ESTABLISH_PENDING = 1u << 10, /* initiator: report after msg 3 */
  CONN_F_READING = 1u << 11,
  CONN_F_COUNTED = 1u << 12, /* in tcp->nconns */
  CONN_F_AWAIT_FD = 1u << 13 /* the connector owes a connected socket */
};

typedef struct tcp_block {
  struct tcp_block *next;
  size_t len; /* bytes of sealed records */
  uint8_t data[TCP_BLOCK_CAP];
} tcp_block;

struct dsb_tcp_conn {
  uv_tcp_t handle;
  uv_timer_t timer;
  uv_write_t wreq;
  uv_connect_t creq;
  dsb_tcp *tcp;
  dsb_tcp_conn *prev;
  dsb_tcp_conn *next;
  dsb_session *session;
  dsb_session_role role;
  void *user;
  unsigned flags;
  int reason;       /* for on_closed / on_reject */
  int open_handles; /* handles still to close */
  struct sockaddr_storage addr;
  /* Write queue: head..tail. The first |inflight| blocks belong to the
   * uv_write in progress and must not be touched. */
  tcp_block *wq_head;
  tcp_block *wq_tail;
  unsigned inflight;
  size_t queued;
  uint8_t *reserved; /* plaintext position of a pending reservation */
  size_t reserved_len;
  /* Bytes read but not yet fed because reading was paused in a callback
   * (at most one read buffer; allocated only while in use). */
  uint8_t *stash;
  size_t stash_cap;
  size_t stash_off;
  size_t stash_len;
};

struct dsb_tcp {
  uv_loop_t *loop;
  const dsb_mem *mem;
  dsb_log log;
  dsb_identity local; /* holds the static secret: wiped on free */
  dsb_tcp_settings settings;
  dsb_tcp_callbacks cb;
  void *user_data;
  dsb_session_peer_check_fn peer_check;
  void *peer_check_ctx;
  struct dsb_proof_cache *proof_cache;
  dsb_rng rng;
  int have_rng;
  dsb_tcp_connector connector; /* start NULL: connect directly */

  uv_tcp_t listen_handle;
  int listener; /* TCP_LISTENER_* */
  dsb_session_limits *limits;

  dsb_tcp_conn *conns;
  uint32_t nconns; /* admitted connections (not refused ones) */
  tcp_block *pool;
  unsigned npool;
  unsigned pool_max;
  int deleting;
  uint8_t rbuf[TCP_READ_BUF];
  dsb_tcp_stats stats;
};

/* tcp_transport.c: log through the transport's logger (if any). */
void tcp_log(const dsb_tcp *t, dsb_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* tcp_transport.c: free the transport once deleting and nothing is open. */
void tcp_maybe_free(dsb_tcp *t);
/* tcp_transport.c: count |c| against max_conns (and in the stats). */
void tcp_conn_count(dsb_tcp_conn *c);
/* tcp_transport.c: admit an inbound connection from c->addr (limits, then
 * a responder session). */
int tcp_conn_admit(dsb_tcp_conn *c);

/* tcp_conn.c: allocate a connection with both handles initialised. */
int tcp_conn_new(dsb_tcp *t, dsb_tcp_conn **pc, unsigned flags);
/* tcp_conn.c: give |c| its session. */
int tcp_conn_new_session(dsb_tcp_conn *c, dsb_session_role role,
                         const uint8_t *remote_static,
                         const dsb_device_id *expected);
/* tcp_conn.c: start closing |c| (see the definition for |reason|). */
void tcp_conn_close(dsb_tcp_conn *c, int reason, int linger);
/* tcp_conn.c: close both handles; the conn is freed in the last callback. */
void tcp_conn_close_handles(dsb_tcp_conn *c);
/* tcp_conn.c: write pending handshake messages; report establishment. */
void tcp_conn_pump_handshake(dsb_tcp_conn *c);
/* tcp_conn.c: start reading unless reading, paused or closing. */
int tcp_conn_start_reading(dsb_tcp_conn *c);
/* tcp_conn.c: arm the timer for the session's next deadline. */
void tcp_conn_arm_deadline(dsb_tcp_conn *c);
/* tcp_conn.c: TCP_NODELAY on the connection's socket. */
void tcp_conn_set_nodelay(dsb_tcp_conn *c);

#endif /* DSB_IO_TCP_INTERNAL_H */
