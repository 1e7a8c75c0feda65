/*
 * tcp_conn.c - one connection of the TCP transport (tcp_transport.c): the
 * write queue and its block pool, reserve/commit/send, the read path, the
 * session callbacks, the handshake deadline, pausing and closing, and the
 * public accessors of a dsb_tcp_conn.
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
#include <string.h>

#include "dsb/crypto.h"
#include "dsb/err.h"
#include "dsb/session.h"
#include "dsb/tcp.h"
#include "tcp_internal.h"

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

void tcp_conn_close_handles(dsb_tcp_conn *c) {
  c->flags &= ~CONN_F_LINGER;
  if (!uv_is_closing((uv_handle_t *)&c->timer)) {
    uv_close((uv_handle_t *)&c->timer, conn_on_handle_closed);
  }
  if (!uv_is_closing((uv_handle_t *)&c->handle)) {
    uv_close((uv_handle_t *)&c->handle, conn_on_handle_closed);
  }
}

static void conn_on_linger_timeout(uv_timer_t *timer) {
  tcp_conn_close_handles(timer->data);
}

/*
 * Start closing |c|. |reason| is what on_closed reports (0: the peer closed
 * cleanly; DSB_ERR_CLOSED: a local close). With |linger|, queued records
 * are written first (bounded by TCP_LINGER_MS).
 */
void tcp_conn_close(dsb_tcp_conn *c, int reason, int linger) {
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
  tcp_conn_close_handles(c);
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
      tcp_conn_close(c, DSB_ERR_IO, 0);
    } else if (c->flags & CONN_F_LINGER) {
      tcp_conn_close_handles(c);
    }
    return;
  }
  if (c->flags & CONN_F_LINGER) {
    if (c->queued == 0) {
      tcp_conn_close_handles(c);
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
    tcp_conn_close(c, DSB_ERR_IO, 0);
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
void tcp_conn_pump_handshake(dsb_tcp_conn *c) {
  uint8_t msg[DSB_SESSION_HANDSHAKE_MAX];
  long n;
  int rv;

  while (!(c->flags & CONN_F_CLOSING) && dsb_session_want_write(c->session)) {
    n = dsb_session_write_handshake(c->session, msg, sizeof(msg), uv_hrtime());
    if (n < 0) {
      tcp_conn_close(c, (int)n, 0);
      return;
    }
    if (n == 0) {
      break;
    }
    rv = conn_queue_copy(c, msg, (size_t)n);
    if (rv != 0) {
      tcp_conn_close(c, rv, 0);
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
    tcp_conn_close(c, DSB_ERR_INTERNAL, 0);
    return;
  }
  c->flags |= CONN_F_NOTIFY;
  if (t->cb.on_established && t->cb.on_established(c, &peer, t->user_data)) {
    tcp_conn_close(c, DSB_ERR_CALLBACK_FAILURE, 0);
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
   * because tcp_conn_close closed it. */
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
    tcp_conn_close(c, DSB_ERR_CALLBACK_FAILURE, 0);
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
    tcp_conn_close(c, (int)rv, 0);
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
        tcp_conn_close(c, DSB_ERR_NOMEM, 0);
        return;
      }
      c->stash_cap = rest;
    } else if (rest > c->stash_cap) {
      /* Only the stash itself is fed while one exists: it shrinks. */
      tcp_conn_close(c, DSB_ERR_INTERNAL, 0);
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
    tcp_conn_pump_handshake(c);
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
    tcp_conn_close(c, (int)rv, rv == 0);
    return;
  }
  if (nread < 0) {
    tcp_conn_close(c, DSB_ERR_IO, 0);
    return;
  }
  if (nread == 0) {
    return; /* EAGAIN */
  }
  conn_feed(c, (uint8_t *)buf->base, (size_t)nread);
}

int tcp_conn_start_reading(dsb_tcp_conn *c) {
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
    tcp_conn_close(c, rv, 0);
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

void tcp_conn_arm_deadline(dsb_tcp_conn *c) {
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
int tcp_conn_new(dsb_tcp *t, dsb_tcp_conn **pc, unsigned flags) {
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

int tcp_conn_new_session(dsb_tcp_conn *c, dsb_session_role role,
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

void tcp_conn_set_nodelay(dsb_tcp_conn *c) {
  /* Records are already batched by the write queue; Nagle would only add
   * latency to small ones. Failure is harmless. */
  (void)uv_tcp_nodelay(&c->handle, 1);
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
    tcp_conn_close(c, (int)sealed, 0);
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
  return tcp_conn_start_reading(conn);
}

void dsb_tcp_conn_close(dsb_tcp_conn *conn, int reason) {
  if (!conn) {
    return;
  }
  tcp_conn_close(conn, reason == 0 ? DSB_ERR_CLOSED : reason, reason == 0);
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
