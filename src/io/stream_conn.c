/*
 * stream_conn.c - one dsb_mux inside one dsb_tcp_conn (dsb/stream_conn.h).
 *
 * Send path: pump() asks the transport for a record buffer
 * (dsb_tcp_conn_reserve), lets dsb_mux_send() fill it with whole frames and
 * commits it (sealed in place), until the mux has nothing more or the
 * transport's bounded write queue is full (DSB_ERR_WOULD_BLOCK; the
 * transport calls on_writable once it drained below half). It runs from a
 * uv_prepare handle, i.e. once per loop iteration just before the loop
 * waits for I/O, so everything the application queued during one
 * iteration shares records; and directly after each received record (so
 * credit and PONGs go back without delay), from on_writable and from
 * dsb_stream_conn_flush().
 *
 * Keepalive: one uv_timer, armed at dsb_mux_next_timeout(). The deadline
 * only moves later while records arrive, so the timer is not re-armed per
 * record: when it fires early it re-arms for the remaining time.
 *
 * Deletion: the mux cannot be freed while one of its calls is running (a
 * callback may ask for deletion), so dsb_stream_conn_del() inside such a
 * call only marks the object; the outermost glue function frees the mux
 * when the call returns. Callbacks go through trampolines that stop
 * forwarding once deletion was asked for. The struct itself is freed in the
 * close callback of the last libuv handle.
 */
#include <string.h>

#include <uv.h>

#include "dsb/err.h"
#include "dsb/session.h"
#include "dsb/stream_conn.h"

/* Smallest record buffer worth asking for: a control frame or a useful
 * DATA frame fits, and the transport never hands out less anyway. */
#define SC_MIN_RESERVE 1024

enum {
  SC_F_BLOCKED = 1u << 0, /* write queue full: wait for on_writable */
  SC_F_DELETED = 1u << 1, /* dsb_stream_conn_del() was called */
  SC_F_DEAD = 1u << 2     /* torn down with sc->error */
};

struct dsb_stream_conn {
  const dsb_mem *mem;
  dsb_tcp_conn *conn;
  dsb_mux *mux;
  dsb_mux_callbacks cb; /* the application's */
  void *user_data;
  uv_timer_t timer;
  uv_prepare_t prepare;
  unsigned flags;
  unsigned depth; /* glue calls into the mux in progress */
  int open_handles;
  int error;
};

/* ---- callback trampolines ------------------------------------------------
 * The mux's user_data is the stream_conn; these forward to the application
 * with its own user_data, and go quiet once the object is being deleted. */

#define SC_FORWARD(sc, name, ...)                                              \
  (((sc)->flags & SC_F_DELETED) || (sc)->cb.name == NULL                       \
       ? 0                                                                     \
       : (sc)->cb.name(__VA_ARGS__, (sc)->user_data))

static int sc_on_stream_open(dsb_mux *mux, uint32_t id, const char *name,
                             size_t namelen, uint8_t priority, uint8_t mode,
                             void *user_data) {
  dsb_stream_conn *sc = user_data;
  if (sc->flags & SC_F_DELETED) {
    /* Nobody will ever accept it: refuse rather than leave it pending. */
    return dsb_mux_reset(mux, id, DSB_MUX_RST_REJECTED) == 0 ? 0 : -1;
  }
  if (sc->cb.on_stream_open == NULL) {
    return dsb_mux_reset(mux, id, DSB_MUX_RST_REJECTED) == 0 ? 0 : -1;
  }
  return sc->cb.on_stream_open(mux, id, name, namelen, priority, mode,
                               sc->user_data);
}

static int sc_on_stream_accepted(dsb_mux *mux, uint32_t id, void *user_data) {
  dsb_stream_conn *sc = user_data;
  return SC_FORWARD(sc, on_stream_accepted, mux, id);
}

static int sc_on_message(dsb_mux *mux, uint32_t id, const uint8_t *data,
                         size_t len, void *user_data) {
  dsb_stream_conn *sc = user_data;
  return SC_FORWARD(sc, on_message, mux, id, data, len);
}

static int sc_on_data(dsb_mux *mux, uint32_t id, const uint8_t *data,
                      size_t len, void *user_data) {
  dsb_stream_conn *sc = user_data;
  return SC_FORWARD(sc, on_data, mux, id, data, len);
}

static int sc_on_stream_close(dsb_mux *mux, uint32_t id, void *user_data) {
  dsb_stream_conn *sc = user_data;
  return SC_FORWARD(sc, on_stream_close, mux, id);
}

static int sc_on_stream_reset(dsb_mux *mux, uint32_t id, uint32_t code,
                              void *user_data) {
  dsb_stream_conn *sc = user_data;
  return SC_FORWARD(sc, on_stream_reset, mux, id, code);
}

static int sc_on_stream_writable(dsb_mux *mux, uint32_t id, void *user_data) {
  dsb_stream_conn *sc = user_data;
  return SC_FORWARD(sc, on_stream_writable, mux, id);
}

static int sc_on_keepalive_timeout(dsb_mux *mux, void *user_data) {
  dsb_stream_conn *sc = user_data;
  if ((sc->flags & SC_F_DELETED) || sc->cb.on_keepalive_timeout == NULL) {
    return 0;
  }
  return sc->cb.on_keepalive_timeout(mux, sc->user_data);
}

static const dsb_mux_callbacks sc_trampolines = {
    sc_on_stream_open,     sc_on_stream_accepted,
    sc_on_message,         sc_on_data,
    sc_on_stream_close,    sc_on_stream_reset,
    sc_on_stream_writable, sc_on_keepalive_timeout};

/* ---- teardown --------------------------------------------------------- */

static void sc_on_handle_closed(uv_handle_t *h) {
  dsb_stream_conn *sc = h->data;
  if (--sc->open_handles == 0) {
    dsb_mem_free(sc->mem, sc);
  }
}

/* Frees the mux and closes the handles, once no mux call is running. */
static void sc_finish_delete(dsb_stream_conn *sc) {
  if (!(sc->flags & SC_F_DELETED) || sc->depth > 0 || sc->mux == NULL) {
    return;
  }
  dsb_mux_del(sc->mux);
  sc->mux = NULL;
  sc->conn = NULL;
  uv_close((uv_handle_t *)&sc->timer, sc_on_handle_closed);
  uv_close((uv_handle_t *)&sc->prepare, sc_on_handle_closed);
}

/* A fatal error: close the connection with it. Records already queued are
 * dropped (a graceful flush would only delay a connection that is dead). */
static int sc_fail(dsb_stream_conn *sc, int err) {
  if (!(sc->flags & SC_F_DEAD)) {
    sc->flags |= SC_F_DEAD;
    sc->error = err;
    uv_timer_stop(&sc->timer);
    uv_prepare_stop(&sc->prepare);
    if (sc->conn) {
      dsb_tcp_conn_close(sc->conn, err);
    }
  }
  return sc->error;
}

/* ---- keepalive timer ---------------------------------------------------- */

static void sc_on_timer(uv_timer_t *timer);

static void sc_arm_timer(dsb_stream_conn *sc) {
  dsb_tstamp due = dsb_mux_next_timeout(sc->mux);
  dsb_tstamp now;
  uint64_t ms;

  if (due == UINT64_MAX) {
    uv_timer_stop(&sc->timer);
    return;
  }
  now = uv_hrtime();
  /* Round up: waking early only costs a re-arm, waking late nothing. */
  ms = due > now ? (due - now + DSB_NS_PER_MS - 1) / DSB_NS_PER_MS : 0;
  uv_timer_start(&sc->timer, sc_on_timer, ms, 0);
}

static int sc_pump(dsb_stream_conn *sc);

static void sc_on_timer(uv_timer_t *timer) {
  dsb_stream_conn *sc = timer->data;
  int rv;

  if (sc->flags & (SC_F_DEAD | SC_F_DELETED)) {
    return;
  }
  ++sc->depth;
  rv = dsb_mux_handle_timeout(sc->mux, uv_hrtime());
  --sc->depth;
  if (rv < 0) {
    sc_fail(sc, rv);
    sc_finish_delete(sc);
    return;
  }
  sc_finish_delete(sc);
  if (sc->flags & SC_F_DELETED) {
    return;
  }
  /* A PING may be queued: send it now rather than next iteration. */
  if (sc_pump(sc) == 0) {
    sc_arm_timer(sc);
  }
}

/* ---- sending ------------------------------------------------------------ */

/*
 * Fill records until the mux is empty or the write queue is full. Returns
 * 0 or the fatal code. Callers handle deferred deletion afterwards.
 */
static int sc_pump(dsb_stream_conn *sc) {
  uint8_t *buf;
  size_t len;
  long n;
  int rv;

  if (sc->flags & (SC_F_DEAD | SC_F_DELETED | SC_F_BLOCKED)) {
    return sc->error;
  }
  if (sc->depth > 0) {
    return 0; /* inside a mux call: the prepare handle will send */
  }
  while (dsb_mux_want_send(sc->mux)) {
    rv = dsb_tcp_conn_reserve(sc->conn, SC_MIN_RESERVE, &buf, &len);
    if (rv == DSB_ERR_WOULD_BLOCK) {
      sc->flags |= SC_F_BLOCKED;
      return 0;
    }
    if (rv == DSB_ERR_CLOSED) {
      /* The owner is closing the connection: nothing more goes out, and
       * that is no error of ours. */
      sc->flags |= SC_F_DEAD;
      uv_timer_stop(&sc->timer);
      uv_prepare_stop(&sc->prepare);
      return 0;
    }
    if (rv < 0) {
      return sc_fail(sc, rv);
    }
    ++sc->depth;
    n = dsb_mux_send(sc->mux, buf, len, uv_hrtime());
    --sc->depth;
    if (n <= 0) {
      /* Abandon the reservation; cannot fail while one is pending. */
      rv = dsb_tcp_conn_commit(sc->conn, 0);
      (void)rv;
      if (n < 0) {
        return sc_fail(sc, (int)n);
      }
      return 0; /* want_send promised more than send gave: try later */
    }
    rv = dsb_tcp_conn_commit(sc->conn, (size_t)n);
    if (rv < 0) {
      return sc_fail(sc, rv);
    }
    if (sc->flags & SC_F_DELETED) {
      return 0; /* a callback inside dsb_mux_send asked for deletion */
    }
  }
  return 0;
}

static void sc_on_prepare(uv_prepare_t *prepare) {
  dsb_stream_conn *sc = prepare->data;

  (void)sc_pump(sc);
  sc_finish_delete(sc);
}

/* ---- public ------------------------------------------------------------- */

int dsb_stream_conn_new(dsb_stream_conn **psc,
                        const dsb_stream_conn_config *config) {
  dsb_stream_conn *sc;
  const dsb_session *session;
  uv_loop_t *loop;
  dsb_mux_role role;
  int rv;

  if (psc == NULL || config == NULL || config->loop == NULL ||
      config->conn == NULL) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  session = dsb_tcp_conn_get_session(config->conn);
  if (session == NULL ||
      dsb_session_get_state(session) != DSB_SESSION_STATE_ESTABLISHED) {
    return DSB_ERR_SESSION_NOT_ESTABLISHED;
  }
  loop = config->loop;
  role = dsb_tcp_conn_get_role(config->conn) == DSB_SESSION_INITIATOR
             ? DSB_MUX_ROLE_INITIATOR
             : DSB_MUX_ROLE_RESPONDER;

  sc = dsb_mem_calloc(config->mem, 1, sizeof(*sc));
  if (sc == NULL) {
    rv = DSB_ERR_NOMEM;
    goto fail_alloc;
  }
  sc->mem = config->mem ? config->mem : dsb_mem_default();
  sc->conn = config->conn;
  if (config->callbacks) {
    sc->cb = *config->callbacks;
  }
  sc->user_data = config->user_data;
  rv = dsb_mux_new(&sc->mux, sc->mem, role, config->settings, &sc_trampolines,
                   sc, uv_hrtime());
  if (rv != 0) {
    goto fail_mux;
  }
  /* The transport reports a connection only once its session verified the
   * peer, which is what the mux waits for. */
  rv = dsb_mux_set_authenticated(sc->mux, uv_hrtime());
  if (rv != 0) {
    goto fail_auth;
  }
  /* Neither init can fail on a live loop. */
  uv_timer_init(loop, &sc->timer);
  uv_prepare_init(loop, &sc->prepare);
  sc->timer.data = sc;
  sc->prepare.data = sc;
  sc->open_handles = 2;
  uv_prepare_start(&sc->prepare, sc_on_prepare);
  /* The prepare handle alone must not keep the loop running. */
  uv_unref((uv_handle_t *)&sc->prepare);
  sc_arm_timer(sc);
  *psc = sc;
  return 0;

fail_auth:
  dsb_mux_del(sc->mux);
fail_mux:
  dsb_mem_free(sc->mem, sc);
fail_alloc:
  return rv;
}

void dsb_stream_conn_del(dsb_stream_conn *sc) {
  if (sc == NULL || (sc->flags & SC_F_DELETED)) {
    return;
  }
  sc->flags |= SC_F_DELETED;
  sc_finish_delete(sc);
}

dsb_mux *dsb_stream_conn_mux(const dsb_stream_conn *sc) {
  return (sc->flags & SC_F_DELETED) ? NULL : sc->mux;
}

dsb_tcp_conn *dsb_stream_conn_get_conn(const dsb_stream_conn *sc) {
  return (sc->flags & SC_F_DELETED) ? NULL : sc->conn;
}

int dsb_stream_conn_on_record(dsb_stream_conn *sc, const uint8_t *pt,
                              size_t ptlen) {
  long n;

  if (sc->flags & (SC_F_DEAD | SC_F_DELETED)) {
    return sc->error;
  }
  ++sc->depth;
  n = dsb_mux_recv(sc->mux, pt, ptlen, uv_hrtime());
  --sc->depth;
  if (n < 0) {
    sc_fail(sc, (int)n);
  }
  /* Replies go out at once, not with the iteration's batch: a
   * WINDOW_UPDATE that waits until every record of this read was processed
   * leaves the peer without credit meanwhile, and the two ends take turns
   * instead of working in parallel. */
  (void)sc_pump(sc);
  sc_finish_delete(sc);
  return sc->error;
}

void dsb_stream_conn_on_writable(dsb_stream_conn *sc) {
  sc->flags &= ~SC_F_BLOCKED;
  (void)sc_pump(sc);
  sc_finish_delete(sc);
}

int dsb_stream_conn_flush(dsb_stream_conn *sc) {
  int rv = sc_pump(sc);
  sc_finish_delete(sc);
  return rv;
}

int dsb_stream_conn_error(const dsb_stream_conn *sc) {
  return sc->error;
}
