/*
 * tcp_transport.c - the libuv TCP transport (include/dsb/tcp.h): one
 * dsb_session per connection, records in and out.
 *
 * Write path: sealed records are appended to write blocks of one maximal
 * record each (DSB_SESSION_RECORD_MAX bytes); small records share a block.
 * At most one uv_write is in flight per connection, covering up to
 * TCP_WRITE_BUFS blocks (libuv keeps that many buffers without allocating);
 * records committed meanwhile accumulate and go out together when it
 * completes, which batches small records without a timer. Plaintext is
 * written by the caller straight into the block (reserve/commit) and sealed
 * in place, so a record costs no copy and no allocation: freed blocks go to
 * a small per-transport pool.
 *
 * Read path: one read buffer per transport (libuv reads one stream at a
 * time and the session consumes the bytes before read_cb returns), fed to
 * the session in whatever pieces TCP delivers. It holds several maximal
 * records, so only the record that straddles the end of a read is
 * buffered by the session; records that arrive whole are decrypted in
 * place in the read buffer (dsb_session_recv_inplace), so they cost no
 * copy and the session needs no receive buffer of its own between reads.
 *
 * Close path: every handle is closed through libuv; the connection is freed
 * in the last close callback, after on_closed.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "dsb/crypto.h"
#include "dsb/err.h"
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

static void tcp_log(const dsb_tcp *t, dsb_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void tcp_log(const dsb_tcp *t, dsb_log_level level, const char *fmt,
                    ...) {
  char msg[256];
  va_list ap;

  if (!t->log.fn) {
    return;
  }
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  t->log.fn(t->log.ctx, level, msg);
}

void dsb_tcp_settings_default(dsb_tcp_settings *settings) {
  memset(settings, 0, sizeof(*settings));
  dsb_session_settings_default(&settings->session);
  settings->limits.max_half_open = DSB_SESSION_DEFAULT_MAX_HALF_OPEN;
  settings->limits.rate_per_s = DSB_SESSION_DEFAULT_RATE_PER_S;
  settings->limits.burst = DSB_SESSION_DEFAULT_BURST;
  settings->limits.max_sources = DSB_SESSION_DEFAULT_MAX_SOURCES;
  settings->max_write_queue = DSB_TCP_DEFAULT_MAX_WRITE_QUEUE;
  settings->max_conns = DSB_TCP_DEFAULT_MAX_CONNS;
}

static void tcp_maybe_free(dsb_tcp *t);
static void conn_flush(dsb_tcp_conn *c);

/* ---- write blocks ---------------------------------------------------------
 */

static tcp_block *tcp_block_get(dsb_tcp *t) {
  tcp_block *b = t->pool;

  if (b) {
    t->pool = b->next;
    --t->npool;
  } else {
    b = dsb_mem_malloc(t->mem, sizeof(*b));
    if (!b) {
      return NULL;
    }
  }
  b->next = NULL;
  b->len = 0;
  return b;
}

static void tcp_block_put(dsb_tcp *t, tcp_block *b) {
  if (t->npool < t->pool_max && !t->deleting) {
    b->next = t->pool;
    t->pool = b;
    ++t->npool;
    return;
  }
  dsb_mem_free(t->mem, b);
}

/* The block new bytes may be appended to: the tail, unless it is part of
 * the write in flight. */
static tcp_block *conn_open_block(dsb_tcp_conn *c) {
  unsigned i = 0;
  tcp_block *b;

  for (b = c->wq_head; b && i < c->inflight; b = b->next) {
    ++i;
  }
  return b ? c->wq_tail : NULL;
}

/* A block with at least |need| free bytes at the end of the queue. */
static tcp_block *conn_block_for(dsb_tcp_conn *c, size_t need) {
  tcp_block *b = conn_open_block(c);

  if (b && TCP_BLOCK_CAP - b->len >= need) {
    return b;
  }
  b = tcp_block_get(c->tcp);
  if (!b) {
    return NULL;
  }
  if (c->wq_tail) {
    c->wq_tail->next = b;
  } else {
    c->wq_head = b;
  }
  c->wq_tail = b;
  return b;
}

static void conn_free_queue(dsb_tcp_conn *c) {
  tcp_block *b = c->wq_head;

  while (b) {
    tcp_block *next = b->next;
    tcp_block_put(c->tcp, b);
    b = next;
  }
  c->wq_head = c->wq_tail = NULL;
  c->inflight = 0;
  c->queued = 0;
}

/* ---- closing --------------------------------------------------------------
 */

/* Records fed from the stash were decrypted in place: wipe it. */
static void conn_free_stash(dsb_tcp_conn *c) {
  if (c->stash) {
    dsb_wipe(c->stash, c->stash_cap);
    dsb_mem_free(c->tcp->mem, c->stash);
    c->stash = NULL;
    c->stash_cap = c->stash_len = c->stash_off = 0;
  }
}

static void conn_on_handle_closed(uv_handle_t *h) {
  dsb_tcp_conn *c = h->data;
  dsb_tcp *t = c->tcp;

  if (--c->open_handles > 0) {
    return;
  }
  if (c->flags & CONN_F_NOTIFY) {
    c->flags &= ~CONN_F_NOTIFY;
    if (t->cb.on_closed) {
      t->cb.on_closed(c, c->reason, t->user_data);
    }
  }
  if (c->prev) {
    c->prev->next = c->next;
  } else {
    t->conns = c->next;
  }
  if (c->next) {
    c->next->prev = c->prev;
  }
  conn_free_queue(c);
  conn_free_stash(c);
  dsb_session_del(c->session);
  dsb_mem_free(t->mem, c);
  tcp_maybe_free(t);
}

static void conn_close_handles(dsb_tcp_conn *c) {
  c->flags &= ~CONN_F_LINGER;
  if (!uv_is_closing((uv_handle_t *)&c->timer)) {
    uv_close((uv_handle_t *)&c->timer, conn_on_handle_closed);
  }
  if (!uv_is_closing((uv_handle_t *)&c->handle)) {
    uv_close((uv_handle_t *)&c->handle, conn_on_handle_closed);
  }
}

static void conn_on_linger_timeout(uv_timer_t *timer) {
  conn_close_handles(timer->data);
}

/*
 * Start closing |c|. |reason| is what on_closed reports (0: the peer closed
 * cleanly; DSB_ERR_CLOSED: a local close). With |linger|, queued records
 * are written first (bounded by TCP_LINGER_MS).
 */
static void conn_close(dsb_tcp_conn *c, int reason, int linger) {
  dsb_tcp *t = c->tcp;

  if (c->flags & CONN_F_CLOSING) {
    return;
  }
  c->flags |= CONN_F_CLOSING;
  c->reason = reason;
  if (c->flags & CONN_F_AWAIT_FD) {
    /* The connector must not hand a socket to a connection going away. */
    c->flags &= ~CONN_F_AWAIT_FD;
    if (t->connector.cancel) {
      t->connector.cancel(t->connector.ctx, c);
    }
  }
  if (c->session) {
    if (!(c->flags & CONN_F_ESTABLISHED) && reason != 0 &&
        reason != DSB_ERR_CLOSED) {
      ++t->stats.handshakes_failed;
    }
    /* Wipes the keys now; the object goes with the connection. */
    dsb_session_close(c->session);
  }
  if (c->flags & CONN_F_HALF_OPEN) {
    c->flags &= ~CONN_F_HALF_OPEN;
    dsb_session_limits_release(t->limits);
    --t->stats.half_open;
  }
  if ((c->flags & CONN_F_INBOUND) && !(c->flags & CONN_F_NOTIFY) &&
      reason != 0 && reason != DSB_ERR_CLOSED && t->cb.on_reject) {
    t->cb.on_reject(t, (const struct sockaddr *)&c->addr, reason, t->user_data);
  }
  if (c->flags & CONN_F_COUNTED) {
    c->flags &= ~CONN_F_COUNTED;
    --t->nconns;
  }
  t->stats.conns = t->nconns;
  if (c->flags & CONN_F_READING) {
    uv_read_stop((uv_stream_t *)&c->handle);
    c->flags &= ~CONN_F_READING;
  }
  c->flags &= ~(CONN_F_RESERVED | CONN_F_WANT_WRITABLE);
  if (linger && c->queued > 0 && !(c->flags & CONN_F_CONNECTING)) {
    c->flags |= CONN_F_LINGER;
    uv_timer_stop(&c->timer);
    uv_timer_start(&c->timer, conn_on_linger_timeout, TCP_LINGER_MS, 0);
    conn_flush(c);
    return;
  }
  conn_close_handles(c);
}

/* ---- writing --------------------------------------------------------------
 */

static void conn_on_write(uv_write_t *req, int status) {
  dsb_tcp_conn *c = req->data;
  dsb_tcp *t = c->tcp;
  unsigned i;

  for (i = 0; i < c->inflight && c->wq_head; ++i) {
    tcp_block *b = c->wq_head;
    c->wq_head = b->next;
    if (!c->wq_head) {
      c->wq_tail = NULL;
    }
    c->queued -= b->len;
    tcp_block_put(t, b);
  }
  c->inflight = 0;
  if (status < 0) {
    if (!(c->flags & CONN_F_CLOSING)) {
      tcp_log(t, DSB_LOG_INFO, "tcp: write failed: %s", uv_strerror(status));
      conn_close(c, DSB_ERR_IO, 0);
    } else if (c->flags & CONN_F_LINGER) {
      conn_close_handles(c);
    }
    return;
  }
  if (c->flags & CONN_F_LINGER) {
    if (c->queued == 0) {
      conn_close_handles(c);
    } else {
      conn_flush(c);
    }
    return;
  }
  if (c->flags & CONN_F_CLOSING) {
    return;
  }
  conn_flush(c);
  if ((c->flags & CONN_F_WANT_WRITABLE) &&
      c->queued <= t->settings.max_write_queue / 2) {
    c->flags &= ~CONN_F_WANT_WRITABLE;
    if (t->cb.on_writable) {
      t->cb.on_writable(c, t->user_data);
    }
  }
}

/* Start a write of the queued blocks unless one is in flight. */
static void conn_flush(dsb_tcp_conn *c) {
  uv_buf_t bufs[TCP_WRITE_BUFS];
  unsigned n = 0;
  tcp_block *b;
  int rv;

  if (c->inflight || (c->flags & CONN_F_CONNECTING)) {
    return;
  }
  if ((c->flags & CONN_F_CLOSING) && !(c->flags & CONN_F_LINGER)) {
    return;
  }
  for (b = c->wq_head; b && n < TCP_WRITE_BUFS; b = b->next) {
    if (b->len == 0) {
      break; /* only the tail can be empty (an abandoned reservation) */
    }
    bufs[n++] = uv_buf_init((char *)b->data, (unsigned)b->len);
  }
  if (n == 0) {
    return;
  }
  c->wreq.data = c;
  rv = uv_write(&c->wreq, (uv_stream_t *)&c->handle, bufs, n, conn_on_write);
  if (rv < 0) {
    tcp_log(c->tcp, DSB_LOG_INFO, "tcp: write failed: %s", uv_strerror(rv));
    conn_close(c, DSB_ERR_IO, 0);
    return;
  }
  c->inflight = n;
}

/* Queue a framed handshake message (tiny; exempt from the queue bound). */
static int conn_queue_copy(dsb_tcp_conn *c, const uint8_t *p, size_t len) {
  tcp_block *b = conn_block_for(c, len);

  if (!b) {
    return DSB_ERR_NOMEM;
  }
  memcpy(b->data + b->len, p, len);
  b->len += len;
  c->queued += len;
  return 0;
}

static void conn_report_established(dsb_tcp_conn *c);

/* Write whatever handshake messages the session has, then report a
 * completed initiator handshake (after message 3 is queued, so records the
 * callback sends follow it). */
static void conn_pump_handshake(dsb_tcp_conn *c) {
  uint8_t msg[DSB_SESSION_HANDSHAKE_MAX];
  long n;
  int rv;

  while (!(c->flags & CONN_F_CLOSING) && dsb_session_want_write(c->session)) {
    n = dsb_session_write_handshake(c->session, msg, sizeof(msg), uv_hrtime());
    if (n < 0) {
      conn_close(c, (int)n, 0);
      return;
    }
    if (n == 0) {
      break;
    }
    rv = conn_queue_copy(c, msg, (size_t)n);
    if (rv != 0) {
      conn_close(c, rv, 0);
      return;
    }
  }
  if (c->flags & CONN_F_CLOSING) {
    return;
  }
  conn_flush(c);
  if (c->flags & CONN_F_ESTABLISH_PENDING) {
    c->flags &= ~CONN_F_ESTABLISH_PENDING;
    conn_report_established(c);
  }
}

/* ---- session callbacks ----------------------------------------------------
 */

static void conn_report_established(dsb_tcp_conn *c) {
  dsb_tcp *t = c->tcp;
  dsb_device_id peer;

  if (c->flags & CONN_F_CLOSING) {
    return;
  }
  if (dsb_session_get_peer(c->session, &peer, NULL) != 0) {
    conn_close(c, DSB_ERR_INTERNAL, 0);
    return;
  }
  c->flags |= CONN_F_NOTIFY;
  if (t->cb.on_established && t->cb.on_established(c, &peer, t->user_data)) {
    conn_close(c, DSB_ERR_CALLBACK_FAILURE, 0);
  }
}

static int conn_session_established(dsb_session *session,
                                    const dsb_device_id *peer,
                                    void *user_data) {
  dsb_tcp_conn *c = user_data;
  dsb_tcp *t = c->tcp;

  (void)session;
  (void)peer;
  c->flags |= CONN_F_ESTABLISHED;
  ++t->stats.handshakes_ok;
  uv_timer_stop(&c->timer);
  if (c->flags & CONN_F_HALF_OPEN) {
    c->flags &= ~CONN_F_HALF_OPEN;
    dsb_session_limits_release(t->limits);
    --t->stats.half_open;
  }
  if (c->role == DSB_SESSION_INITIATOR) {
    /* Inside write_handshake: message 3 is not queued yet. */
    c->flags |= CONN_F_ESTABLISH_PENDING;
    return 0;
  }
  conn_report_established(c);
  /* A refusal by the user closed the conn; the session stops on its own
   * because conn_close closed it. */
  return 0;
}

static int conn_session_record(dsb_session *session, const uint8_t *pt,
                               size_t ptlen, void *user_data) {
  dsb_tcp_conn *c = user_data;
  dsb_tcp *t = c->tcp;

  (void)session;
  if (c->flags & CONN_F_CLOSING) {
    return 0;
  }
  if (t->cb.on_record && t->cb.on_record(c, pt, ptlen, t->user_data) != 0) {
    conn_close(c, DSB_ERR_CALLBACK_FAILURE, 0);
  }
  return 0;
}

static const dsb_session_callbacks conn_session_callbacks = {
    conn_session_established, conn_session_record};

/* ---- reading --------------------------------------------------------------
 */

static void conn_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  dsb_tcp_conn *c = h->data;

  (void)suggested;
  *buf = uv_buf_init((char *)c->tcp->rbuf, sizeof(c->tcp->rbuf));
}

/*
 * Feed |len| bytes to the session. When a callback paused reading, the
 * session stops after that record; what is left goes to the stash (|data|
 * may be the stash itself) and is fed again on resume.
 */
static void conn_feed(dsb_tcp_conn *c, uint8_t *data, size_t len) {
  dsb_tcp *t = c->tcp;
  long rv;

  rv = dsb_session_recv_inplace(c->session, data, len, uv_hrtime());
  if (rv < 0) {
    conn_close(c, (int)rv, 0);
    return;
  }
  if (c->flags & CONN_F_CLOSING) {
    return;
  }
  if ((size_t)rv < len) {
    size_t rest = len - (size_t)rv;
    if (!c->stash) {
      /* Just what is left: the read buffer is large. */
      c->stash = dsb_mem_malloc(t->mem, rest);
      if (!c->stash) {
        conn_close(c, DSB_ERR_NOMEM, 0);
        return;
      }
      c->stash_cap = rest;
    } else if (rest > c->stash_cap) {
      /* Only the stash itself is fed while one exists: it shrinks. */
      conn_close(c, DSB_ERR_INTERNAL, 0);
      return;
    }
    memmove(c->stash, data + rv, rest);
    c->stash_off = 0;
    c->stash_len = rest;
  } else if (c->stash && data == c->stash + c->stash_off) {
    c->stash_len = 0;
  }
  /* Message 1 read (responder) or message 2 read (initiator): answer. */
  if (dsb_session_want_write(c->session)) {
    conn_pump_handshake(c);
  }
}

static void conn_on_read(uv_stream_t *stream, ssize_t nread,
                         const uv_buf_t *buf) {
  dsb_tcp_conn *c = stream->data;
  long rv;

  if (c->flags & CONN_F_CLOSING) {
    return;
  }
  if (nread == UV_EOF) {
    rv = dsb_session_recv_eof(c->session);
    /* 0: the peer closed between records; let queued records go. */
    conn_close(c, (int)rv, rv == 0);
    return;
  }
  if (nread < 0) {
    conn_close(c, DSB_ERR_IO, 0);
    return;
  }
  if (nread == 0) {
    return; /* EAGAIN */
  }
  conn_feed(c, (uint8_t *)buf->base, (size_t)nread);
}

static int conn_start_reading(dsb_tcp_conn *c) {
  int rv;

  if ((c->flags & (CONN_F_READING | CONN_F_PAUSED | CONN_F_CLOSING))) {
    return 0;
  }
  rv = uv_read_start((uv_stream_t *)&c->handle, conn_on_alloc, conn_on_read);
  if (rv < 0) {
    return DSB_ERR_IO;
  }
  c->flags |= CONN_F_READING;
  return 0;
}

/* ---- handshake deadline ---------------------------------------------------
 */

static void conn_on_deadline(uv_timer_t *timer) {
  dsb_tcp_conn *c = timer->data;
  int rv;

  if (c->flags & CONN_F_CLOSING) {
    return;
  }
  rv = dsb_session_handle_timeout(c->session, uv_hrtime());
  if (rv < 0) {
    conn_close(c, rv, 0);
    return;
  }
  /* Woken a little early (timer granularity): wait the rest. */
  {
    dsb_tstamp deadline = dsb_session_next_timeout(c->session);
    dsb_tstamp now = uv_hrtime();
    if (deadline != UINT64_MAX) {
      uint64_t ms = deadline > now
                        ? (deadline - now + DSB_NS_PER_MS - 1) / DSB_NS_PER_MS
                        : 0;
      uv_timer_start(&c->timer, conn_on_deadline, ms, 0);
    }
  }
}

static void conn_arm_deadline(dsb_tcp_conn *c) {
  dsb_tstamp deadline = dsb_session_next_timeout(c->session);
  dsb_tstamp now = uv_hrtime();
  uint64_t ms;

  if (deadline == UINT64_MAX) {
    return;
  }
  ms =
      deadline > now ? (deadline - now + DSB_NS_PER_MS - 1) / DSB_NS_PER_MS : 0;
  uv_timer_start(&c->timer, conn_on_deadline, ms, 0);
}

/* ---- connections ----------------------------------------------------------
 */

/* Allocate a connection with both handles initialised. */
static int conn_new(dsb_tcp *t, dsb_tcp_conn **pc, unsigned flags) {
  dsb_tcp_conn *c = dsb_mem_calloc(t->mem, 1, sizeof(*c));
  int rv;

  if (!c) {
    return DSB_ERR_NOMEM;
  }
  c->tcp = t;
  c->flags = flags;
  rv = uv_tcp_init(t->loop, &c->handle);
  if (rv < 0) {
    dsb_mem_free(t->mem, c);
    return DSB_ERR_IO;
  }
  /* uv_timer_init cannot fail once the loop exists. */
  uv_timer_init(t->loop, &c->timer);
  c->handle.data = c;
  c->timer.data = c;
  c->open_handles = 2;
  c->next = t->conns;
  if (t->conns) {
    t->conns->prev = c;
  }
  t->conns = c;
  *pc = c;
  return 0;
}

static int conn_new_session(dsb_tcp_conn *c, dsb_session_role role,
                            const uint8_t *remote_static,
                            const dsb_device_id *expected) {
  dsb_tcp *t = c->tcp;
  dsb_session_config cfg;

  memset(&cfg, 0, sizeof(cfg));
  cfg.role = role;
  cfg.local = &t->local;
  cfg.remote_static = remote_static;
  cfg.expected_peer = expected;
  cfg.peer_check = t->peer_check;
  cfg.peer_check_ctx = t->peer_check_ctx;
  cfg.proof_cache = t->proof_cache;
  cfg.settings = &t->settings.session;
  cfg.callbacks = &conn_session_callbacks;
  cfg.user_data = c;
  cfg.rng = t->have_rng ? &t->rng : NULL;
  cfg.mem = t->mem;
  cfg.log = t->log.fn ? &t->log : NULL;
  c->role = role;
  return dsb_session_new(&c->session, &cfg, uv_hrtime());
}

/* Source key for the rate limit: the IP address without the port. */
static size_t conn_source_key(const struct sockaddr_storage *ss,
                              uint8_t key[DSB_SESSION_LIMITS_SOURCE_MAX]) {
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
    memcpy(key, &sin->sin_addr, 4);
    return 4;
  }
  if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
    memcpy(key, &sin6->sin6_addr, 16);
    return 16;
  }
  return 0;
}

static void conn_count(dsb_tcp_conn *c) {
  c->flags |= CONN_F_COUNTED;
  ++c->tcp->nconns;
  c->tcp->stats.conns = c->tcp->nconns;
}

/* Admission of an inbound connection from c->addr: limits, then a
 * responder session. */
static int conn_admit(dsb_tcp_conn *c) {
  dsb_tcp *t = c->tcp;
  uint8_t key[DSB_SESSION_LIMITS_SOURCE_MAX];
  size_t keylen;
  int rv;

  if (t->nconns >= t->settings.max_conns) {
    return DSB_ERR_LIMIT;
  }
  keylen = conn_source_key(&c->addr, key);
  if (keylen == 0) {
    return DSB_ERR_UNSUPPORTED;
  }
  rv = dsb_session_limits_admit(t->limits, key, keylen, uv_hrtime());
  if (rv != 0) {
    return rv;
  }
  c->flags |= CONN_F_HALF_OPEN;
  ++t->stats.half_open;
  rv = conn_new_session(c, DSB_SESSION_RESPONDER, NULL, NULL);
  if (rv != 0) {
    c->flags &= ~CONN_F_HALF_OPEN;
    dsb_session_limits_release(t->limits);
    --t->stats.half_open;
    return rv;
  }
  conn_count(c);
  ++t->stats.accepted;
  return 0;
}

static void conn_set_nodelay(dsb_tcp_conn *c) {
  /* Records are already batched by the write queue; Nagle would only add
   * latency to small ones. Failure is harmless. */
  (void)uv_tcp_nodelay(&c->handle, 1);
}

static void tcp_on_connection(uv_stream_t *server, int status) {
  dsb_tcp *t = server->data;
  dsb_tcp_conn *c;
  int rv;

  if (status < 0 || t->deleting) {
    tcp_log(t, DSB_LOG_WARN, "tcp: accept: %s", uv_strerror(status));
    return;
  }
  if (conn_new(t, &c, CONN_F_INBOUND) != 0) {
    /* Without memory we cannot even accept to refuse; libuv retries. */
    ++t->stats.refused;
    return;
  }
  if (uv_accept(server, (uv_stream_t *)&c->handle) < 0) {
    ++t->stats.refused;
    conn_close(c, DSB_ERR_IO, 0);
    return;
  }
  {
    int namelen = sizeof(c->addr);
    rv = uv_tcp_getpeername(&c->handle, (struct sockaddr *)&c->addr, &namelen) <
                 0
             ? DSB_ERR_IO
             : conn_admit(c);
  }
  if (rv != 0) {
    ++t->stats.refused;
    conn_close(c, rv, 0);
    return;
  }
  conn_set_nodelay(c);
  conn_arm_deadline(c);
  rv = conn_start_reading(c);
  if (rv != 0) {
    conn_close(c, rv, 0);
  }
}

/* An outbound socket is connected: start the initiator handshake. */
static void conn_connected(dsb_tcp_conn *c) {
  int rv;

  {
    int namelen = sizeof(c->addr);
    (void)uv_tcp_getpeername(&c->handle, (struct sockaddr *)&c->addr, &namelen);
  }
  conn_set_nodelay(c);
  rv = conn_start_reading(c);
  if (rv != 0) {
    conn_close(c, rv, 0);
    return;
  }
  conn_pump_handshake(c);
}

static void conn_on_connect(uv_connect_t *req, int status) {
  dsb_tcp_conn *c = req->data;

  c->flags &= ~CONN_F_CONNECTING;
  if (c->flags & CONN_F_CLOSING) {
    return; /* UV_ECANCELED: the handle is closing */
  }
  if (status < 0) {
    tcp_log(c->tcp, DSB_LOG_INFO, "tcp: connect failed: %s",
            uv_strerror(status));
    conn_close(c, DSB_ERR_IO, 0);
    return;
  }
  conn_connected(c);
}

/* ---- public: transport ----------------------------------------------------
 */

int dsb_tcp_new(dsb_tcp **ptcp, const dsb_tcp_config *config) {
  dsb_tcp *t;
  int rv;

  if (!ptcp || !config || !config->loop || !config->local ||
      !config->callbacks) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  t = dsb_mem_calloc(config->mem, 1, sizeof(*t));
  if (!t) {
    return DSB_ERR_NOMEM;
  }
  t->loop = config->loop;
  t->mem = config->mem;
  if (config->log) {
    t->log = *config->log;
  }
  t->local = *config->local;
  /* Only the Noise static key is needed: never keep the signing key. */
  dsb_wipe(t->local.ed_seed, sizeof(t->local.ed_seed));
  dsb_tcp_settings_default(&t->settings);
  if (config->settings) {
    const dsb_tcp_settings *s = config->settings;
    t->settings.session = s->session;
    if (s->limits.max_half_open) {
      t->settings.limits.max_half_open = s->limits.max_half_open;
    }
    if (s->limits.rate_per_s) {
      t->settings.limits.rate_per_s = s->limits.rate_per_s;
    }
    if (s->limits.burst) {
      t->settings.limits.burst = s->limits.burst;
    }
    if (s->limits.max_sources) {
      t->settings.limits.max_sources = s->limits.max_sources;
    }
    if (s->max_write_queue) {
      t->settings.max_write_queue = s->max_write_queue;
    }
    if (s->max_conns) {
      t->settings.max_conns = s->max_conns;
    }
  }
  {
    size_t blocks = t->settings.max_write_queue / TCP_BLOCK_CAP + 2;
    t->pool_max = blocks < TCP_POOL_MIN   ? TCP_POOL_MIN
                  : blocks > TCP_POOL_MAX ? TCP_POOL_MAX
                                          : (unsigned)blocks;
  }
  t->cb = *config->callbacks;
  t->user_data = config->user_data;
  t->peer_check = config->peer_check;
  t->peer_check_ctx = config->peer_check_ctx;
  t->proof_cache = config->proof_cache;
  if (config->rng) {
    t->rng = *config->rng;
    t->have_rng = 1;
  }
  rv = dsb_session_limits_new(&t->limits, t->mem, &t->settings.limits);
  if (rv != 0) {
    goto fail_limits;
  }
  *ptcp = t;
  return 0;

fail_limits:
  dsb_wipe(&t->local, sizeof(t->local));
  dsb_mem_free(t->mem, t);
  return rv;
}

static void tcp_on_listener_closed(uv_handle_t *h) {
  dsb_tcp *t = h->data;

  t->listener = TCP_LISTENER_NONE;
  tcp_maybe_free(t);
}

static void tcp_maybe_free(dsb_tcp *t) {
  tcp_block *b;

  if (!t->deleting || t->conns || t->listener != TCP_LISTENER_NONE) {
    return;
  }
  while ((b = t->pool) != NULL) {
    t->pool = b->next;
    dsb_mem_free(t->mem, b);
  }
  dsb_session_limits_del(t->limits);
  dsb_wipe(&t->local, sizeof(t->local));
  /* Records are decrypted in place in the read buffer. */
  dsb_wipe(t->rbuf, sizeof(t->rbuf));
  dsb_mem_free(t->mem, t);
}

void dsb_tcp_del(dsb_tcp *tcp) {
  dsb_tcp_conn *c;

  if (!tcp || tcp->deleting) {
    return;
  }
  tcp->deleting = 1;
  for (c = tcp->conns; c; c = c->next) {
    conn_close(c, DSB_ERR_CLOSED, 0);
    if (c->flags & CONN_F_NOTIFY) {
      c->flags &= ~CONN_F_NOTIFY;
      if (tcp->cb.on_closed) {
        tcp->cb.on_closed(c, DSB_ERR_CLOSED, tcp->user_data);
      }
    }
  }
  if (tcp->listener == TCP_LISTENER_OPEN) {
    tcp->listener = TCP_LISTENER_CLOSING;
    uv_close((uv_handle_t *)&tcp->listen_handle, tcp_on_listener_closed);
  }
  tcp_maybe_free(tcp);
}

static int tcp_listen_start(dsb_tcp *t, int backlog) {
  int rv;

  t->listen_handle.data = t;
  rv = uv_listen((uv_stream_t *)&t->listen_handle,
                 backlog > 0 ? backlog : DSB_TCP_DEFAULT_BACKLOG,
                 tcp_on_connection);
  if (rv < 0) {
    tcp_log(t, DSB_LOG_ERROR, "tcp: listen: %s", uv_strerror(rv));
    return DSB_ERR_IO;
  }
  return 0;
}

int dsb_tcp_listen(dsb_tcp *tcp, const struct sockaddr *addr, int backlog) {
  int rv;

  if (!tcp || !addr || tcp->deleting) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (tcp->listener == TCP_LISTENER_OPEN) {
    return DSB_ERR_EXISTS;
  }
  if (tcp->listener == TCP_LISTENER_CLOSING) {
    return DSB_ERR_IO; /* a failed attempt is still being torn down */
  }
  rv = uv_tcp_init(tcp->loop, &tcp->listen_handle);
  if (rv < 0) {
    return DSB_ERR_IO;
  }
  tcp->listener = TCP_LISTENER_OPEN;
  tcp->listen_handle.data = tcp;
  rv = uv_tcp_bind(&tcp->listen_handle, addr, 0);
  if (rv < 0) {
    tcp_log(tcp, DSB_LOG_ERROR, "tcp: bind: %s", uv_strerror(rv));
    goto fail;
  }
  if (tcp_listen_start(tcp, backlog) != 0) {
    goto fail;
  }
  return 0;

fail:
  /* Leave the transport as if listen was never called, once closed. */
  tcp->listener = TCP_LISTENER_CLOSING;
  uv_close((uv_handle_t *)&tcp->listen_handle, tcp_on_listener_closed);
  return DSB_ERR_IO;
}

int dsb_tcp_listen_fd(dsb_tcp *tcp, uv_os_sock_t fd) {
  int dupfd;
  int rv;

  if (!tcp || fd < 0 || tcp->deleting) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (tcp->listener == TCP_LISTENER_OPEN) {
    return DSB_ERR_EXISTS;
  }
  if (tcp->listener == TCP_LISTENER_CLOSING) {
    return DSB_ERR_IO; /* a failed attempt is still being torn down */
  }
  /* libuv closes what it was given on every path; a duplicate keeps |fd|
   * with the caller until we know we succeed. */
  dupfd = dup(fd);
  if (dupfd < 0) {
    return DSB_ERR_IO;
  }
  rv = uv_tcp_init(tcp->loop, &tcp->listen_handle);
  if (rv < 0) {
    close(dupfd);
    return DSB_ERR_IO;
  }
  tcp->listener = TCP_LISTENER_OPEN;
  tcp->listen_handle.data = tcp;
  if (uv_tcp_open(&tcp->listen_handle, dupfd) < 0) {
    close(dupfd);
    goto fail;
  }
  if (tcp_listen_start(tcp, DSB_TCP_DEFAULT_BACKLOG) != 0) {
    goto fail;
  }
  close(fd);
  return 0;

fail:
  tcp->listener = TCP_LISTENER_CLOSING;
  uv_close((uv_handle_t *)&tcp->listen_handle, tcp_on_listener_closed);
  return DSB_ERR_IO;
}

int dsb_tcp_listen_addr(const dsb_tcp *tcp, struct sockaddr_storage *addr) {
  int namelen = sizeof(*addr);

  if (!tcp || !addr) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (tcp->listener != TCP_LISTENER_OPEN) {
    return DSB_ERR_INVALID_STATE;
  }
  if (uv_tcp_getsockname(&tcp->listen_handle, (struct sockaddr *)addr,
                         &namelen) < 0) {
    return DSB_ERR_IO;
  }
  return 0;
}

int dsb_tcp_connect(dsb_tcp *tcp, dsb_tcp_conn **pconn,
                    const struct sockaddr *addr,
                    const uint8_t remote_static[static 32],
                    const dsb_device_id *expected, void *conn_user) {
  dsb_tcp_conn *c;
  int rv;

  if (!tcp || !pconn || !addr || !remote_static || !expected) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (tcp->deleting) {
    return DSB_ERR_CLOSED;
  }
  if (tcp->nconns >= tcp->settings.max_conns) {
    return DSB_ERR_LIMIT;
  }
  rv = conn_new(tcp, &c, CONN_F_CONNECTING);
  if (rv != 0) {
    return rv;
  }
  c->user = conn_user;
  rv = conn_new_session(c, DSB_SESSION_INITIATOR, remote_static, expected);
  if (rv != 0) {
    goto fail;
  }
  if (tcp->connector.start) {
    /* The socket comes later through dsb_tcp_conn_supply_fd(). */
    c->flags |= CONN_F_AWAIT_FD;
    rv = tcp->connector.start(tcp->connector.ctx, c, addr);
    if (rv != 0) {
      c->flags &= ~CONN_F_AWAIT_FD;
      goto fail;
    }
  } else {
    c->creq.data = c;
    rv = uv_tcp_connect(&c->creq, &c->handle, addr, conn_on_connect);
    if (rv < 0) {
      tcp_log(tcp, DSB_LOG_INFO, "tcp: connect: %s", uv_strerror(rv));
      rv = DSB_ERR_IO;
      goto fail;
    }
  }
  conn_count(c);
  c->flags |= CONN_F_NOTIFY;
  conn_arm_deadline(c);
  *pconn = c;
  return 0;

fail:
  /* Not counted and not notified: close quietly. */
  c->flags &= ~CONN_F_CONNECTING;
  c->flags |= CONN_F_CLOSING;
  dsb_session_close(c->session);
  conn_close_handles(c);
  return rv;
}

void dsb_tcp_set_connector(dsb_tcp *tcp, const dsb_tcp_connector *connector) {
  if (!tcp) {
    return;
  }
  if (connector) {
    tcp->connector = *connector;
  } else {
    memset(&tcp->connector, 0, sizeof(tcp->connector));
  }
}

void dsb_tcp_conn_supply_fd(dsb_tcp_conn *conn, uv_os_sock_t fd, int err) {
  if (!conn || !(conn->flags & CONN_F_AWAIT_FD)) {
    /* Cancelled (or never asked): the socket has no taker. */
    if (fd >= 0) {
      close(fd);
    }
    return;
  }
  conn->flags &= ~(CONN_F_AWAIT_FD | CONN_F_CONNECTING);
  if (fd < 0) {
    conn_close(conn, err < 0 ? err : DSB_ERR_IO, 0);
    return;
  }
  if (uv_tcp_open(&conn->handle, fd) < 0) {
    close(fd);
    conn_close(conn, DSB_ERR_IO, 0);
    return;
  }
  conn_connected(conn);
}

int dsb_tcp_adopt(dsb_tcp *tcp, dsb_tcp_conn **pconn, uv_os_sock_t fd,
                  dsb_session_role role, const uint8_t *remote_static,
                  const dsb_device_id *expected, void *conn_user) {
  dsb_tcp_conn *c;
  socklen_t namelen;
  int rv;

  if (!tcp || !pconn || fd < 0) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (role == DSB_SESSION_INITIATOR ? (!remote_static || !expected)
                                    : (remote_static || expected)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (tcp->deleting) {
    return DSB_ERR_CLOSED;
  }
  if (tcp->nconns >= tcp->settings.max_conns) {
    return DSB_ERR_LIMIT;
  }
  rv = conn_new(tcp, &c, role == DSB_SESSION_RESPONDER ? CONN_F_INBOUND : 0);
  if (rv != 0) {
    return rv;
  }
  c->user = conn_user;
  /* Everything that can fail happens before libuv takes the fd, so a
   * failure leaves it with the caller. */
  namelen = sizeof(c->addr);
  if (getpeername(fd, (struct sockaddr *)&c->addr, &namelen) != 0) {
    rv = DSB_ERR_IO;
    goto fail;
  }
  if (role == DSB_SESSION_RESPONDER) {
    rv = conn_admit(c);
  } else {
    rv = conn_new_session(c, DSB_SESSION_INITIATOR, remote_static, expected);
    if (rv == 0) {
      conn_count(c);
    }
  }
  if (rv != 0) {
    goto fail;
  }
  if (uv_tcp_open(&c->handle, fd) < 0) {
    rv = DSB_ERR_IO;
    goto fail_open;
  }
  c->flags |= CONN_F_NOTIFY;
  conn_set_nodelay(c);
  conn_arm_deadline(c);
  *pconn = c;
  rv = conn_start_reading(c);
  if (rv != 0) {
    /* Owned now: report through on_closed like any other failure. */
    conn_close(c, rv, 0);
    return 0;
  }
  conn_pump_handshake(c);
  return 0;

fail_open:
  if (c->flags & CONN_F_HALF_OPEN) {
    c->flags &= ~CONN_F_HALF_OPEN;
    dsb_session_limits_release(tcp->limits);
    --tcp->stats.half_open;
  }
  if (c->flags & CONN_F_COUNTED) {
    c->flags &= ~CONN_F_COUNTED;
    --tcp->nconns;
    tcp->stats.conns = tcp->nconns;
  }
fail:
  c->flags |= CONN_F_CLOSING;
  dsb_session_close(c->session);
  conn_close_handles(c);
  return rv;
}

/* ---- public: connections --------------------------------------------------
 */

static int conn_check_sendable(const dsb_tcp_conn *c) {
  if (c->flags & CONN_F_CLOSING) {
    return DSB_ERR_CLOSED;
  }
  if (!(c->flags & CONN_F_ESTABLISHED)) {
    return DSB_ERR_SESSION_NOT_ESTABLISHED;
  }
  return 0;
}

int dsb_tcp_conn_reserve(dsb_tcp_conn *conn, size_t min_len, uint8_t **buf,
                         size_t *len) {
  dsb_tcp_conn *c = conn;
  tcp_block *b;
  size_t want;
  size_t room;
  int rv;

  if (!c || !buf || !len || min_len > DSB_SESSION_PLAINTEXT_MAX) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  rv = conn_check_sendable(c);
  if (rv != 0) {
    return rv;
  }
  if (c->flags & CONN_F_RESERVED) {
    return DSB_ERR_INVALID_STATE;
  }
  if (c->queued >= c->tcp->settings.max_write_queue) {
    c->flags |= CONN_F_WANT_WRITABLE;
    return DSB_ERR_WOULD_BLOCK;
  }
  /* Use the rest of the open block if it takes a useful record. */
  want = min_len > TCP_MIN_RESERVE ? min_len : TCP_MIN_RESERVE;
  b = conn_open_block(c);
  if (!b || TCP_BLOCK_CAP - b->len < want + DSB_SESSION_RECORD_OVERHEAD) {
    b = conn_block_for(c, TCP_BLOCK_CAP);
    if (!b) {
      return DSB_ERR_NOMEM;
    }
  }
  room = TCP_BLOCK_CAP - b->len - DSB_SESSION_RECORD_OVERHEAD;
  c->reserved = b->data + b->len + DSB_SESSION_RECORD_HDR_LEN;
  c->reserved_len =
      room < DSB_SESSION_PLAINTEXT_MAX ? room : DSB_SESSION_PLAINTEXT_MAX;
  c->flags |= CONN_F_RESERVED;
  *buf = c->reserved;
  *len = c->reserved_len;
  return 0;
}

/* Seal the first |n| reserved bytes in place and queue the record. */
static int conn_seal_reserved(dsb_tcp_conn *c, size_t n) {
  /* The reservation is in the tail block: nothing can be queued between
   * reserve and commit (one thread, reserve is exclusive). */
  tcp_block *b = c->wq_tail;
  long sealed;

  c->flags &= ~CONN_F_RESERVED;
  sealed = dsb_session_seal(c->session, b->data + b->len,
                            TCP_BLOCK_CAP - b->len, c->reserved, n);
  if (sealed < 0) {
    conn_close(c, (int)sealed, 0);
    return (int)sealed;
  }
  b->len += (size_t)sealed;
  c->queued += (size_t)sealed;
  conn_flush(c);
  return 0;
}

int dsb_tcp_conn_commit(dsb_tcp_conn *conn, size_t n) {
  if (!conn) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (!(conn->flags & CONN_F_RESERVED)) {
    return (conn->flags & CONN_F_CLOSING) ? DSB_ERR_CLOSED
                                          : DSB_ERR_INVALID_STATE;
  }
  if (n > conn->reserved_len) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (n == 0) {
    conn->flags &= ~CONN_F_RESERVED;
    return 0;
  }
  return conn_seal_reserved(conn, n);
}

int dsb_tcp_conn_send(dsb_tcp_conn *conn, const uint8_t *pt, size_t ptlen) {
  uint8_t *buf;
  size_t len;
  int rv;

  if (!conn || (!pt && ptlen) || ptlen > DSB_SESSION_PLAINTEXT_MAX) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  rv = dsb_tcp_conn_reserve(conn, ptlen, &buf, &len);
  if (rv != 0) {
    return rv;
  }
  if (ptlen) {
    memcpy(buf, pt, ptlen);
  }
  /* Also for ptlen 0: an empty record is legal. */
  return conn_seal_reserved(conn, ptlen);
}

size_t dsb_tcp_conn_queued(const dsb_tcp_conn *conn) {
  return conn->queued;
}

int dsb_tcp_conn_pause_read(dsb_tcp_conn *conn) {
  if (conn->flags & CONN_F_CLOSING) {
    return DSB_ERR_CLOSED;
  }
  conn->flags |= CONN_F_PAUSED;
  if (conn->flags & CONN_F_READING) {
    uv_read_stop((uv_stream_t *)&conn->handle);
    conn->flags &= ~CONN_F_READING;
  }
  /* Inside on_record: no further record of the current read is delivered.
   * Outside a callback this is a no-op for the session. */
  dsb_session_pause(conn->session);
  return 0;
}

int dsb_tcp_conn_resume_read(dsb_tcp_conn *conn) {
  if (conn->flags & CONN_F_CLOSING) {
    return DSB_ERR_CLOSED;
  }
  if (!(conn->flags & CONN_F_PAUSED)) {
    return 0;
  }
  conn->flags &= ~CONN_F_PAUSED;
  while (conn->stash && conn->stash_len > 0 &&
         !(conn->flags & (CONN_F_PAUSED | CONN_F_CLOSING))) {
    conn_feed(conn, conn->stash + conn->stash_off, conn->stash_len);
  }
  if (conn->flags & CONN_F_CLOSING) {
    return 0; /* reported through on_closed */
  }
  if (conn->stash && conn->stash_len == 0) {
    conn_free_stash(conn);
  }
  if (conn->flags & (CONN_F_PAUSED | CONN_F_CONNECTING)) {
    return 0; /* paused again, or reading starts once connected */
  }
  return conn_start_reading(conn);
}

void dsb_tcp_conn_close(dsb_tcp_conn *conn, int reason) {
  if (!conn) {
    return;
  }
  conn_close(conn, reason == 0 ? DSB_ERR_CLOSED : reason, reason == 0);
}

void *dsb_tcp_conn_get_user(const dsb_tcp_conn *conn) {
  return conn->user;
}

void dsb_tcp_conn_set_user(dsb_tcp_conn *conn, void *conn_user) {
  conn->user = conn_user;
}

dsb_tcp *dsb_tcp_conn_get_tcp(const dsb_tcp_conn *conn) {
  return conn->tcp;
}

dsb_session_role dsb_tcp_conn_get_role(const dsb_tcp_conn *conn) {
  return conn->role;
}

const dsb_session *dsb_tcp_conn_get_session(const dsb_tcp_conn *conn) {
  return conn->session;
}

int dsb_tcp_conn_get_peer(const dsb_tcp_conn *conn, dsb_device_id *id) {
  if (!conn->session) {
    return DSB_ERR_SESSION_NOT_ESTABLISHED;
  }
  return dsb_session_get_peer(conn->session, id, NULL);
}

int dsb_tcp_conn_get_peer_addr(const dsb_tcp_conn *conn,
                               struct sockaddr_storage *addr) {
  if (conn->addr.ss_family == AF_UNSPEC) {
    return DSB_ERR_IO;
  }
  *addr = conn->addr;
  return 0;
}

void dsb_tcp_get_stats(const dsb_tcp *tcp, dsb_tcp_stats *stats) {
  *stats = tcp->stats;
}
