/*
 * peers.c - sessions with peer devices: one TCP session (dsb_tcp) and one
 * mux per connection, at most one kept per device.
 *
 * Connections are made on demand when a client opens a stream, and
 * accepted from any peer the trust check admits. When two connections to
 * the same device exist (both sides dialled at once), both daemons keep
 * the one initiated by the lower device id and close the other, so they
 * agree without talking about it.
 *
 * Stream names on the wire are "<service>/<n>" (n: hex counter), so one
 * app can hold several streams to the same service while the mux keeps
 * names unique per opener.
 *
 * The mux is sans-IO and may not be re-entered from its own callbacks:
 * sending is deferred (flush_pending) while a mux call is running.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dsb/err.h"
#include "dsb/mux.h"
#include "dsb/tcp.h"
#include "daemon_int.h"
#include "proxy.h"

#define PEERS_MAX_DEVICES 256
#define PEERS_MAX_PENDING_PER_DEVICE 64
/* An OPEN waits this long for a session: long enough for one more dial
 * after a handshake that timed out (the transport's budget for connect plus
 * handshake is 10 s). */
#define PEERS_OPEN_TIMEOUT (30 * DSB_NS_PER_S)
/* Dials after a handshake timeout while OPENs wait: on a lossy link the
 * TCP SYN backoff (1, 3, 7 s) alone can use up the first budget. */
#define PEERS_MAX_SETUP_RETRIES 2
/* RST codes this daemon uses above DSB_MUX_RST_APP_BASE. */
#define PEERS_RST_NO_SERVICE (DSB_MUX_RST_APP_BASE + 1)
#define PEERS_RST_BUSY (DSB_MUX_RST_APP_BASE + 2)

typedef struct peer_dev peer_dev;

/* An OPEN request of a client, queued on a device until a session is up,
 * then carried as mux stream user data until OPEN_ACK or RST. */
typedef struct peer_req {
  int kind;                     /* DSBD_UD_OPEN: first member, see dsbd.h */
  struct peer_req *next, *prev; /* all requests (pp->reqs) */
  struct peer_req *qnext;       /* queue on the device */
  peer_dev *dev;                /* while queued */
  dsbd_client *client;          /* NULL once the client left */
  uint64_t nonce;
  dsb_device_id id;
  char service[DSB_IPC_SERVICE_MAX + 1];
  uint8_t priority;
  dsbd_peer *on; /* the session the OPEN was sent on */
  uint32_t sid;  /* its mux stream id */
  dsb_tstamp deadline;
  int moves; /* times moved to another session after a duplicate close */
} peer_req;

/* How often one OPEN may follow the session that survives a simultaneous
 * connect before it fails: each move needs a new race, so this only stops a
 * pathological loop. */
#define PEERS_MAX_REQ_MOVES 3

/* One session (connection) with a peer device. */
struct dsbd_peer {
  dsbd_peers *pp;
  dsbd_peer *next, *prev; /* pp->conns */
  dsb_tcp_conn *conn;
  dsb_mux *mux;
  peer_dev *dev; /* set once established (or at connect) */
  dsb_session_role role;
  int established;
  int closing;
  int in_mux;
  int flush_pending;
};

struct peer_dev {
  peer_dev *next;
  dsb_device_id id;
  char text[DSB_DEVICE_ID_TEXT_LEN + 1];
  dsbd_peer *active; /* the kept session */
  peer_req *queue;   /* waiting for a session */
  size_t nqueued;
  int setup_retries; /* dials since the last session was established */
};

struct dsbd_peers {
  dsbd *d;
  dsbd_peer *conns;
  peer_dev *devs;
  size_t ndevs;
  peer_req *reqs;
  uint32_t name_counter;
  /* Totals of muxes that are gone, for dsb status. */
  uint64_t mux_rejects[16];
  uint64_t bytes_sent, bytes_received;
  uint64_t sessions_closed;
};

/* ---- devices and requests ----------------------------------------------- */

static peer_dev *peers_dev_find(dsbd_peers *pp, const dsb_device_id *id) {
  for (peer_dev *v = pp->devs; v; v = v->next) {
    if (dsb_device_id_eq(&v->id, id)) {
      return v;
    }
  }
  return NULL;
}

static peer_dev *peers_dev_get(dsbd_peers *pp, const dsb_device_id *id) {
  peer_dev *v = peers_dev_find(pp, id);
  if (v || pp->ndevs >= PEERS_MAX_DEVICES) {
    return v;
  }
  v = calloc(1, sizeof(*v));
  if (!v) {
    return NULL;
  }
  v->id = *id;
  dsb_device_id_format(v->text, id);
  v->next = pp->devs;
  pp->devs = v;
  pp->ndevs++;
  return v;
}

/* Free a device record nobody refers to. */
static void peers_dev_gc(dsbd_peers *pp, peer_dev *v) {
  if (v->active || v->queue) {
    return;
  }
  for (dsbd_peer *p = pp->conns; p; p = p->next) {
    if (p->dev == v) {
      return;
    }
  }
  for (peer_dev **pv = &pp->devs; *pv; pv = &(*pv)->next) {
    if (*pv == v) {
      *pv = v->next;
      pp->ndevs--;
      free(v);
      return;
    }
  }
}

static void peers_req_free(dsbd_peers *pp, peer_req *r) {
  if (r->prev) {
    r->prev->next = r->next;
  } else {
    pp->reqs = r->next;
  }
  if (r->next) {
    r->next->prev = r->prev;
  }
  free(r);
}

/* Answer a request with an error and free it. */
static void peers_req_fail(dsbd_peers *pp, peer_req *r, int err) {
  if (r->client) {
    dsbd_client_send_status(r->client, DSB_IPC_OP_OPEN, r->nonce, err);
  }
  peers_req_free(pp, r);
}

static void peers_dev_fail_queue(dsbd_peers *pp, peer_dev *v, int err) {
  while (v->queue) {
    peer_req *r = v->queue;
    v->queue = r->qnext;
    v->nqueued--;
    peers_req_fail(pp, r, err);
  }
}

/* ---- simultaneous connects ---------------------------------------------- */

/* Both daemons keep the connection whose initiator has the lower id. */
static int peers_preferred_initiator(const dsb_device_id *init,
                                     const dsb_device_id *other) {
  return memcmp(init->b, other->b, DSB_DEVICE_ID_LEN) < 0;
}

static int peers_preferred(const dsbd_peer *p, const dsb_device_id *self,
                           const dsb_device_id *peer) {
  return p->role == DSB_SESSION_INITIATOR
             ? peers_preferred_initiator(self, peer)
             : peers_preferred_initiator(peer, self);
}

/* ---- sending ------------------------------------------------------------ */

static void peers_close(dsbd_peer *p, int reason) {
  if (!p->closing) {
    p->closing = 1;
    dsb_tcp_conn_close(p->conn, reason);
  }
}

void dsbd_peer_flush(dsbd_peer *p) {
  if (!p || !p->established || p->closing) {
    return;
  }
  if (p->in_mux) {
    p->flush_pending = 1;
    return;
  }
  p->flush_pending = 0;
  while (dsb_mux_want_send(p->mux)) {
    uint8_t *buf;
    size_t len;
    int rv =
        dsb_tcp_conn_reserve(p->conn, DSB_MUX_MAX_RECORD_PLAINTEXT, &buf, &len);
    if (rv) {
      if (rv != DSB_ERR_WOULD_BLOCK) {
        peers_close(p, rv);
      }
      return; /* on_writable resumes */
    }
    p->in_mux++;
    long n = dsb_mux_send(p->mux, buf, len, dsbd_now());
    p->in_mux--;
    if (n <= 0) {
      int crv = dsb_tcp_conn_commit(p->conn, 0); /* abandon the reservation */
      (void)crv;
      if (n < 0) {
        peers_close(p, (int)n);
      }
      return;
    }
    rv = dsb_tcp_conn_commit(p->conn, (size_t)n);
    if (rv) {
      return; /* fatal: the transport closes the connection */
    }
  }
}

/* After a mux call: run the flush that callbacks asked for. */
static void peers_after_mux(dsbd_peer *p) {
  if (p->flush_pending) {
    dsbd_peer_flush(p);
  }
}

/* ---- opening streams ---------------------------------------------------- */

static int peers_open_on(dsbd_peer *p, peer_req *r) {
  char name[DSB_MUX_NAME_MAX + 1];
  int n =
      snprintf(name, sizeof(name), "%s/%x", r->service, ++p->pp->name_counter);
  if (n < 0 || (size_t)n >= sizeof(name)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  uint32_t sid;
  int rv = dsb_mux_open(p->mux, &sid, name, (size_t)n, r->priority, 0, r);
  if (rv) {
    return rv;
  }
  r->on = p;
  r->sid = sid;
  dsbd_peer_flush(p);
  return 0;
}

static void peers_run_queue(dsbd_peer *p) {
  peer_dev *v = p->dev;
  while (v->queue && p->established && !p->closing) {
    peer_req *r = v->queue;
    v->queue = r->qnext;
    v->nqueued--;
    r->dev = NULL;
    int rv = peers_open_on(p, r);
    if (rv) {
      peers_req_fail(p->pp, r, rv);
    }
  }
}

/* Start a session with device |v| unless one exists (or is starting).
 * Never frees |v|, so callers may keep using it after a failure; they
 * collect an unused record with peers_dev_gc() themselves. */
static int peers_connect_dev(dsbd_peers *pp, peer_dev *v) {
  dsbd *d = pp->d;
  const dsb_device_id *id = &v->id;
  int rv;
  if (!v->active) {
    struct sockaddr_storage addr;
    uint8_t static_pk[32];
    rv = dsbd_disc_endpoint(d, id, &addr, static_pk);
    if (rv) {
      return rv;
    }
    dsbd_peer *p = calloc(1, sizeof(*p));
    if (!p) {
      return DSB_ERR_NOMEM;
    }
    p->pp = pp;
    p->role = DSB_SESSION_INITIATOR;
    p->dev = v;
    rv = dsb_tcp_connect(dsbd_tcp(d), &p->conn, (struct sockaddr *)&addr,
                         static_pk, id, p);
    if (rv) {
      free(p);
      return rv;
    }
    p->next = pp->conns;
    if (pp->conns) {
      pp->conns->prev = p;
    }
    pp->conns = p;
    v->active = p;
    dsbd_log(d, DSB_LOG_INFO, "connecting to %s", v->text);
  }
  return 0;
}

int dsbd_peers_connect(dsbd_peers *pp, const dsb_device_id *id,
                       dsbd_peer **ppeer) {
  dsbd *d = pp->d;
  if (dsb_device_id_eq(id, &dsbd_identity(d)->id)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  int rv = dsbd_trust_check(d, id);
  if (rv) {
    return rv;
  }
  peer_dev *v = peers_dev_get(pp, id);
  if (!v) {
    return DSB_ERR_LIMIT;
  }
  rv = peers_connect_dev(pp, v);
  if (rv) {
    peers_dev_gc(pp, v);
    return rv;
  }
  *ppeer = v->active;
  return 0;
}

const dsb_device_id *dsbd_peer_device(const dsbd_peer *p) {
  return p->dev ? &p->dev->id : NULL;
}

dsb_mux *dsbd_peer_mux(const dsbd_peer *p) {
  return p->established && !p->closing ? p->mux : NULL;
}

int dsbd_peers_open(dsbd_peers *pp, dsbd_client *c, uint64_t nonce,
                    const dsb_device_id *id, const char *service,
                    uint8_t priority) {
  dsbd *d = pp->d;
  if (dsb_device_id_eq(id, &dsbd_identity(d)->id)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  int rv = dsbd_trust_check(d, id);
  if (rv) {
    return rv;
  }
  peer_dev *v = peers_dev_get(pp, id);
  if (!v) {
    return DSB_ERR_LIMIT;
  }
  if (v->nqueued >= PEERS_MAX_PENDING_PER_DEVICE) {
    return DSB_ERR_LIMIT;
  }
  rv = peers_connect_dev(pp, v);
  if (rv) {
    peers_dev_gc(pp, v);
    return rv;
  }
  peer_req *r = calloc(1, sizeof(*r));
  if (!r) {
    return DSB_ERR_NOMEM;
  }
  r->kind = DSBD_UD_OPEN;
  r->client = c;
  r->nonce = nonce;
  r->id = *id;
  snprintf(r->service, sizeof(r->service), "%s", service);
  r->priority = priority;
  r->deadline = dsbd_now() + PEERS_OPEN_TIMEOUT;
  r->next = pp->reqs;
  if (pp->reqs) {
    pp->reqs->prev = r;
  }
  pp->reqs = r;
  if (v->active->established && !v->active->closing) {
    rv = peers_open_on(v->active, r);
    if (rv) {
      peers_req_free(pp, r);
      return rv;
    }
    return 0;
  }
  r->dev = v;
  /* FIFO: append. */
  peer_req **tail = &v->queue;
  while (*tail) {
    tail = &(*tail)->qnext;
  }
  *tail = r;
  v->nqueued++;
  return 0;
}

void dsbd_peers_client_gone(dsbd_peers *pp, dsbd_client *c) {
  if (!pp) {
    return;
  }
  for (peer_req *r = pp->reqs; r; r = r->next) {
    if (r->client == c) {
      r->client = NULL; /* the stream is cancelled when it is accepted */
    }
  }
}

/* ---- mux callbacks ------------------------------------------------------ */

static int peers_on_stream_open(dsb_mux *mux, uint32_t id, const char *name,
                                size_t namelen, uint8_t priority, uint8_t mode,
                                void *user_data) {
  dsbd_peer *p = user_data;
  dsbd *d = p->pp->d;
  /* Remote calls: before the '/' split, which would also match "dsb.rpc". */
  if (namelen == strlen(DSB_RPC_STREAM_NAME) &&
      memcmp(name, DSB_RPC_STREAM_NAME, namelen) == 0) {
    return dsbd_proxy_on_stream_open(d->proxy, p, mux, id, mode);
  }
  const char *slash = memchr(name, '/', namelen);
  size_t svclen = slash ? (size_t)(slash - name) : namelen;
  dsbd_client *owner = dsbd_api_service_owner(d->api, name, svclen);
  if (!owner || mode != DSB_MUX_MODE_MESSAGE) {
    dsbd_count(d, "stream.refused_no_service", 1);
    dsbd_log(d, DSB_LOG_INFO, "%s asked for unpublished service \"%.*s\"",
             p->dev->text, (int)svclen, name);
    return dsb_mux_reset(mux, id, PEERS_RST_NO_SERVICE) ? -1 : 0;
  }
  dsbd_stream *s;
  int app_fd = -1;
  if (dsbd_client_stream_count(owner) >= 1024 ||
      dsbd_stream_new(&s, d, p, mux, id, owner, &app_fd) != 0) {
    return dsb_mux_reset(mux, id, PEERS_RST_BUSY) ? -1 : 0;
  }
  if (dsb_mux_accept(mux, id, s) != 0) {
    close(app_fd);
    dsbd_stream_abort(s);
    return -1;
  }
  dsb_ipc_msg ev;
  memset(&ev, 0, sizeof(ev));
  ev.op = DSB_IPC_EV_STREAM_INCOMING;
  ev.nonce = dsbd_api_next_event_seq(d->api);
  ev.u.incoming.stream = dsbd_stream_handle(s);
  ev.u.incoming.id = p->dev->id;
  ev.u.incoming.service.p = (const uint8_t *)name;
  ev.u.incoming.service.len = svclen;
  ev.u.incoming.priority = priority;
  dsbd_client_send(owner, &ev, app_fd); /* consumes app_fd */
  return 0;
}

static int peers_on_stream_accepted(dsb_mux *mux, uint32_t id,
                                    void *user_data) {
  dsbd_peer *p = user_data;
  peer_req *r = dsb_mux_stream_user_data(mux, id);
  if (r && r->kind == DSBD_UD_RPC) {
    dsbd_proxy_on_writable(p->pp->d->proxy, r);
    return 0;
  }
  if (!r || r->kind != DSBD_UD_OPEN) {
    return 0;
  }
  if (!r->client) {
    peers_req_free(p->pp, r);
    dsb_mux_set_stream_user_data(mux, id, NULL);
    return dsb_mux_reset(mux, id, DSB_MUX_RST_CANCEL) ? -1 : 0;
  }
  dsbd_stream *s;
  int app_fd = -1;
  int rv = dsbd_stream_new(&s, p->pp->d, p, mux, id, r->client, &app_fd);
  if (rv) {
    dsb_mux_set_stream_user_data(mux, id, NULL);
    peers_req_fail(p->pp, r, rv);
    return dsb_mux_reset(mux, id, DSB_MUX_RST_CANCEL) ? -1 : 0;
  }
  dsb_mux_set_stream_user_data(mux, id, s);
  dsb_ipc_msg m;
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_OPEN | DSB_IPC_REPLY_BIT;
  m.nonce = r->nonce;
  m.u.open_r.stream = dsbd_stream_handle(s);
  dsbd_client_send(r->client, &m, app_fd);
  peers_req_free(p->pp, r);
  return 0;
}

static int peers_on_message(dsb_mux *mux, uint32_t id, const uint8_t *data,
                            size_t len, void *user_data) {
  dsbd_peer *p = user_data;
  int *ud = dsb_mux_stream_user_data(mux, id);
  if (ud && *ud == DSBD_UD_RPC) {
    return dsbd_proxy_on_message(p->pp->d->proxy, ud, data, len);
  }
  if (!ud || *ud != DSBD_UD_STREAM) {
    return 0;
  }
  return dsbd_stream_on_message((dsbd_stream *)ud, data, len);
}

static int peers_on_stream_close(dsb_mux *mux, uint32_t id, void *user_data) {
  (void)user_data;
  int *ud = dsb_mux_stream_user_data(mux, id);
  if (ud && *ud == DSBD_UD_STREAM) {
    dsbd_stream_on_remote_close((dsbd_stream *)ud);
  }
  return 0;
}

static int peers_rst_error(uint32_t code) {
  switch (code) {
  case PEERS_RST_NO_SERVICE:
  case DSB_MUX_RST_REJECTED:
    return DSB_ERR_IPC_NO_SERVICE;
  case DSB_MUX_RST_REFUSED:
  case PEERS_RST_BUSY:
    return DSB_ERR_MUX_TOO_MANY_STREAMS;
  case DSB_MUX_RST_INVALID_NAME:
    return DSB_ERR_MUX_INVALID_NAME;
  case DSB_MUX_RST_DUPLICATE_NAME:
    return DSB_ERR_MUX_DUPLICATE_NAME;
  case DSB_MUX_RST_MESSAGE_TOO_LARGE:
    return DSB_ERR_MUX_MESSAGE_TOO_LARGE;
  default:
    return DSB_ERR_MUX_STREAM_RESET;
  }
}

/* The mux no longer hands out the user data of a stream that is being
 * reset, so requests and streams are found by (session, stream id). */
static int peers_on_stream_reset(dsb_mux *mux, uint32_t id, uint32_t code,
                                 void *user_data) {
  (void)mux;
  dsbd_peer *p = user_data;
  dsbd_log(p->pp->d, DSB_LOG_DEBUG, "stream %u reset by the peer (code %u)", id,
           code);
  if (dsbd_proxy_on_stream_reset(p->pp->d->proxy, p, id)) {
    return 0;
  }
  for (peer_req *r = p->pp->reqs; r; r = r->next) {
    if (r->on == p && r->sid == id) {
      peers_req_fail(p->pp, r, peers_rst_error(code));
      return 0;
    }
  }
  dsbd_stream *s = dsbd_stream_find(p, id);
  if (s) {
    dsbd_stream_on_reset(s, peers_rst_error(code));
  }
  return 0;
}

static int peers_on_stream_writable(dsb_mux *mux, uint32_t id,
                                    void *user_data) {
  dsbd_peer *p = user_data;
  int *ud = dsb_mux_stream_user_data(mux, id);
  if (ud && *ud == DSBD_UD_RPC) {
    dsbd_proxy_on_writable(p->pp->d->proxy, ud);
    return 0;
  }
  if (ud && *ud == DSBD_UD_STREAM) {
    dsbd_stream_on_writable((dsbd_stream *)ud);
  }
  return 0;
}

static const dsb_mux_callbacks peers_mux_cb = {
    .on_stream_open = peers_on_stream_open,
    .on_stream_accepted = peers_on_stream_accepted,
    .on_message = peers_on_message,
    .on_stream_close = peers_on_stream_close,
    .on_stream_reset = peers_on_stream_reset,
    .on_stream_writable = peers_on_stream_writable,
};

/* ---- TCP callbacks ------------------------------------------------------ */

static int peers_on_established(dsb_tcp_conn *conn, const dsb_device_id *id,
                                void *user_data) {
  dsbd_peers *pp = user_data;
  dsbd *d = pp->d;
  dsbd_peer *p = dsb_tcp_conn_get_user(conn);
  if (!p) {
    /* Inbound: first sight of this connection. */
    p = calloc(1, sizeof(*p));
    if (!p) {
      return -1;
    }
    p->pp = pp;
    p->conn = conn;
    p->role = DSB_SESSION_RESPONDER;
    dsb_tcp_conn_set_user(conn, p);
    p->next = pp->conns;
    if (pp->conns) {
      pp->conns->prev = p;
    }
    pp->conns = p;
  }
  peer_dev *v = p->dev ? p->dev : peers_dev_get(pp, id);
  if (!v) {
    return -1;
  }
  p->dev = v;
  const dsb_device_id *self = &dsbd_identity(d)->id;
  dsbd_peer *other = v->active && v->active != p ? v->active : NULL;
  if (other) {
    int keep_new = peers_preferred(p, self, id);
    dsbd_log(d, DSB_LOG_DEBUG, "two sessions with %s: keeping the %s one",
             v->text, keep_new ? "new" : "old");
    if (!keep_new) {
      peers_close(p, DSB_ERR_EXISTS);
      return 0;
    }
    v->active = p;
    peers_close(other, DSB_ERR_EXISTS);
  }
  v->active = p;
  dsb_mux_role role = p->role == DSB_SESSION_INITIATOR ? DSB_MUX_ROLE_INITIATOR
                                                       : DSB_MUX_ROLE_RESPONDER;
  dsb_tstamp now = dsbd_now();
  int rv = dsb_mux_new(&p->mux, NULL, role, NULL, &peers_mux_cb, p, now);
  if (rv == 0) {
    rv = dsb_mux_set_authenticated(p->mux, now);
  }
  if (rv) {
    dsbd_log(d, DSB_LOG_ERROR, "mux for %s: %s", v->text, dsb_strerror(rv));
    return -1;
  }
  p->established = 1;
  v->setup_retries = 0;
  dsbd_log(d, DSB_LOG_INFO, "session with %s established (%s)", v->text,
           p->role == DSB_SESSION_INITIATOR ? "outbound" : "inbound");
  peers_run_queue(p);
  dsbd_proxy_session_up(d->proxy, p);
  dsbd_peer_flush(p);
  return 0;
}

static int peers_on_record(dsb_tcp_conn *conn, const uint8_t *pt, size_t len,
                           void *user_data) {
  (void)user_data;
  dsbd_peer *p = dsb_tcp_conn_get_user(conn);
  if (!p || !p->mux || p->closing) {
    return 0;
  }
  p->in_mux++;
  long rv = dsb_mux_recv(p->mux, pt, len, dsbd_now());
  p->in_mux--;
  if (rv < 0) {
    dsbd_count(p->pp->d, dsb_strerror((int)rv), 1);
    dsbd_log(p->pp->d, DSB_LOG_WARN, "session with %s: %s", p->dev->text,
             dsb_strerror((int)rv));
    peers_close(p, (int)rv);
    return 0;
  }
  peers_after_mux(p);
  dsbd_peer_flush(p);
  return 0;
}

static void peers_on_writable(dsb_tcp_conn *conn, void *user_data) {
  (void)user_data;
  dsbd_peer *p = dsb_tcp_conn_get_user(conn);
  dsbd_peer_flush(p);
}

/*
 * Did |p| die as the loser of a simultaneous connect? Either this daemon
 * closed it as the duplicate (DSB_ERR_EXISTS), or it is an outbound session
 * the peer had to drop because the peer's own connection wins: the
 * initiator counts an XK session as established once message 3 is sent, so
 * it may already carry OPENs when the responder decides to keep the other.
 */
static int peers_lost_race(const dsbd_peer *p, int reason) {
  if (reason == DSB_ERR_EXISTS) {
    return 1;
  }
  if (!p->dev || p->role != DSB_SESSION_INITIATOR ||
      (reason != 0 && reason != DSB_ERR_CLOSED &&
       reason != DSB_ERR_SESSION_CLOSED)) {
    return 0;
  }
  const dsb_device_id *self = &dsbd_identity(p->pp->d)->id;
  return !peers_preferred_initiator(self, &p->dev->id);
}

/*
 * Reset every stream of a dying mux (their apps see EOF and an event). An
 * OPEN still waiting for its OPEN_ACK on a session that lost a simultaneous
 * connect has not reached any app yet, so it goes back to the device queue
 * and follows the surviving session instead of failing.
 */
static void peers_reset_streams(dsbd_peer *p, int reason) {
  dsbd_peers *pp = p->pp;
  peer_dev *v = p->dev;
  int requeue = v && !dsbd_stopping(pp->d) && peers_lost_race(p, reason);
  for (peer_req *r = pp->reqs, *next; r; r = next) {
    next = r->next;
    if (r->on != p) {
      continue;
    }
    if (requeue && r->client && r->moves < PEERS_MAX_REQ_MOVES &&
        v->nqueued < PEERS_MAX_PENDING_PER_DEVICE) {
      r->moves++;
      r->on = NULL;
      r->sid = 0;
      r->dev = v;
      r->qnext = NULL;
      peer_req **tail = &v->queue;
      while (*tail) {
        tail = &(*tail)->qnext;
      }
      *tail = r;
      v->nqueued++;
      continue;
    }
    peers_req_fail(pp, r, reason);
  }
  dsbd_streams_session_gone(p, reason);
}

static void peers_account(dsbd_peers *pp, dsb_mux *mux) {
  if (!mux) {
    return;
  }
  dsb_mux_stats st;
  dsb_mux_get_stats(mux, &st);
  pp->bytes_sent += st.bytes_sent;
  pp->bytes_received += st.bytes_received;
  for (int e = 0; e < 16; ++e) {
    pp->mux_rejects[e] += dsb_mux_reject_count(mux, -600 - e);
  }
}

static void peers_on_closed(dsb_tcp_conn *conn, int reason, void *user_data) {
  dsbd_peers *pp = user_data;
  dsbd_peer *p = dsb_tcp_conn_get_user(conn);
  if (!p) {
    return;
  }
  dsbd *d = pp->d;
  peer_dev *v = p->dev;
  int err =
      reason == 0 || reason == DSB_ERR_CLOSED ? DSB_ERR_SESSION_CLOSED : reason;
  if (reason && reason != DSB_ERR_CLOSED && reason != DSB_ERR_EXISTS) {
    dsbd_count(d, dsb_strerror(reason), 1);
  }
  if (v) {
    dsbd_log(d, p->established ? DSB_LOG_INFO : DSB_LOG_WARN,
             "session with %s %s: %s", v->text,
             p->established ? "closed" : "failed",
             reason ? dsb_err_describe(reason) : "closed by peer");
  }
  if (v && v->active == p) {
    v->active = NULL;
    /* Requests waiting for this session: an outbound attempt that failed
     * reports why (identity mismatch, unreachable, ...). */
    int qerr = err;
    if (!p->established &&
        (reason == DSB_ERR_IO || reason == 0 || reason == DSB_ERR_CLOSED ||
         reason == DSB_ERR_SESSION_CLOSED)) {
      qerr = DSB_ERR_IPC_UNREACHABLE;
    }
    if (reason == DSB_ERR_EXISTS) {
      qerr = DSB_ERR_IPC_UNREACHABLE;
    }
    if (!p->established && reason == DSB_ERR_SESSION_HANDSHAKE_TIMEOUT &&
        v->queue && v->setup_retries < PEERS_MAX_SETUP_RETRIES &&
        !dsbd_stopping(d)) {
      /* Keep the OPENs: the code below dials again. */
      v->setup_retries++;
      dsbd_log(d, DSB_LOG_INFO, "dialling %s again (attempt %d)", v->text,
               v->setup_retries + 1);
    } else {
      peers_dev_fail_queue(pp, v, qerr);
    }
  }
  dsbd_proxy_session_gone(d->proxy, p); /* calls on it: "unavailable" */
  if (p->mux) {
    peers_reset_streams(p, err);
    peers_account(pp, p->mux);
    dsb_mux_del(p->mux);
    p->mux = NULL;
    pp->sessions_closed++;
  }
  if (p->prev) {
    p->prev->next = p->next;
  } else {
    pp->conns = p->next;
  }
  if (p->next) {
    p->next->prev = p->prev;
  }
  p->dev = NULL;
  free(p);
  if (v && v->queue && !dsbd_stopping(d)) {
    /* OPENs moved off a session that lost a simultaneous connect, or kept
     * after a handshake timeout: run them on the survivor, or dial again
     * (after a lost race the peer's connection then wins). */
    if (v->active && v->active->established && !v->active->closing) {
      peers_run_queue(v->active);
    } else if (!v->active) {
      int rv = peers_connect_dev(pp, v);
      if (rv) {
        peers_dev_fail_queue(pp, v, DSB_ERR_IPC_UNREACHABLE);
      }
    }
  }
  if (v) {
    peers_dev_gc(pp, v);
  }
}

/* The transport's user_data is the dsbd_peers, not the daemon. */
static void peers_on_reject(dsb_tcp *tcp, const struct sockaddr *addr,
                            int reason, void *user_data) {
  (void)tcp;
  (void)addr;
  dsbd_peers *pp = user_data;
  dsbd_count(pp->d, dsb_strerror(reason), 1);
  dsbd_log(pp->d, DSB_LOG_INFO, "inbound session refused: %s",
           dsb_strerror(reason));
}

void dsbd_peers_tcp_callbacks(dsb_tcp_callbacks *cb) {
  cb->on_reject = peers_on_reject;
  cb->on_established = peers_on_established;
  cb->on_record = peers_on_record;
  cb->on_writable = peers_on_writable;
  cb->on_closed = peers_on_closed;
}

/* ---- lifetime, periodic work, queries ----------------------------------- */

int dsbd_peers_new(dsbd_peers **ppp, dsbd *d) {
  dsbd_peers *pp = calloc(1, sizeof(*pp));
  if (!pp) {
    return DSB_ERR_NOMEM;
  }
  pp->d = d;
  *ppp = pp;
  return 0;
}

void dsbd_peers_del(dsbd_peers *pp) {
  if (!pp) {
    return;
  }
  /* Close every session: on_closed runs for each inside dsb_tcp_del (the
   * caller deletes the transport right after), which resets streams. Do
   * it here explicitly so streams are reset with a reason first. */
  for (dsbd_peer *p = pp->conns; p; p = p->next) {
    if (p->mux) {
      peers_reset_streams(p, DSB_ERR_SESSION_CLOSED);
    }
  }
  dsb_tcp *tcp = dsbd_tcp(pp->d);
  if (tcp) {
    dsb_tcp_del(tcp); /* on_closed for every connection */
    pp->d->tcp = NULL;
  }
  /* The whole list goes: walk it with the next request saved before the
   * current one is freed. */
  for (peer_req *r = pp->reqs, *next; r; r = next) {
    next = r->next;
    peers_req_fail(pp, r, DSB_ERR_SESSION_CLOSED);
  }
  while (pp->devs) {
    peer_dev *v = pp->devs;
    pp->devs = v->next;
    free(v);
  }
  free(pp);
}

void dsbd_peers_tick(dsbd_peers *pp) {
  dsb_tstamp now = dsbd_now();
  dsbd_peer *next;
  for (dsbd_peer *p = pp->conns; p; p = next) {
    next = p->next;
    if (!p->mux || p->closing) {
      continue;
    }
    if (dsb_mux_next_timeout(p->mux) <= now) {
      p->in_mux++;
      int rv = dsb_mux_handle_timeout(p->mux, now);
      p->in_mux--;
      if (rv) {
        dsbd_count(pp->d, dsb_strerror(rv), 1);
        peers_close(p, rv);
        continue;
      }
    }
    dsbd_peer_flush(p);
  }
  /* Requests queued too long (unreachable device, stuck connect). */
  for (peer_dev *v = pp->devs; v; v = v->next) {
    while (v->queue && v->queue->deadline <= now) {
      peer_req *r = v->queue;
      v->queue = r->qnext;
      v->nqueued--;
      peers_req_fail(pp, r, DSB_ERR_TIMEOUT);
    }
  }
}

int dsbd_peers_session_state(dsbd_peers *pp, const dsb_device_id *id) {
  peer_dev *v = pp ? peers_dev_find(pp, id) : NULL;
  if (!v || !v->active) {
    return DSB_IPC_SESSION_NONE;
  }
  return v->active->established ? DSB_IPC_SESSION_ESTABLISHED
                                : DSB_IPC_SESSION_CONNECTING;
}

size_t dsbd_peers_sessions(const dsbd_peers *pp) {
  size_t n = 0;
  for (const dsbd_peer *p = pp ? pp->conns : NULL; p; p = p->next) {
    n += p->established && !p->closing;
  }
  return n;
}

void dsbd_peers_trust_changed(dsbd_peers *pp, const dsb_device_id *id) {
  int rv = dsbd_trust_check(pp->d, id);
  if (rv == 0) {
    return;
  }
  for (dsbd_peer *p = pp->conns; p; p = p->next) {
    if (p->dev && dsb_device_id_eq(&p->dev->id, id)) {
      peers_close(p, rv);
    }
  }
}

void dsbd_peers_add_counters(dsbd_peers *pp,
                             void (*fn)(void *ctx, const char *label,
                                        uint64_t v),
                             void *ctx) {
  uint64_t rejects[16], sent = pp->bytes_sent, recv = pp->bytes_received;
  memcpy(rejects, pp->mux_rejects, sizeof(rejects));
  for (dsbd_peer *p = pp->conns; p; p = p->next) {
    if (!p->mux) {
      continue;
    }
    dsb_mux_stats st;
    dsb_mux_get_stats(p->mux, &st);
    sent += st.bytes_sent;
    recv += st.bytes_received;
    for (int e = 0; e < 16; ++e) {
      rejects[e] += dsb_mux_reject_count(p->mux, -600 - e);
    }
  }
  fn(ctx, "bytes_sent", sent);
  fn(ctx, "bytes_received", recv);
  fn(ctx, "sessions_closed", pp->sessions_closed);
  for (int e = 0; e < 16; ++e) {
    const char *label = dsb_strerror(-600 - e);
    if (strcmp(label, "unknown_error") != 0 && strstr(label, ".reject.")) {
      fn(ctx, label, rejects[e]);
    }
  }
}
