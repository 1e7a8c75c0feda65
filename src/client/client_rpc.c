/*
 * client_rpc.c - remote calls in the client library (dsb/client_rpc.h).
 *
 * An extension of client.c (client_int.h): every packet whose op belongs to
 * the remote-call range (dsb/ipc_rpc.h) comes here whichever call is
 * receiving, so replies to calls in flight and incoming calls are never
 * lost while the app waits for something else. State is created on first
 * use: a table of calls in flight (their nonces), finished calls not yet
 * collected, incoming calls not yet taken, and the app's handlers. Every
 * list is bounded: calls in flight by DSB_CLIENT_RPC_MAX_IN_FLIGHT, queued
 * incoming calls by DSB_CLIENT_RPC_MAX_QUEUED_CALLS, and the payload bytes
 * held by both queues by DSB_CLIENT_RPC_MAX_QUEUED_BYTES.
 *
 * Packets can arrive while client.c waits for room to send (it receives
 * meanwhile so that the daemon never waits for us while we wait for it);
 * nothing here sends then: refusals of incoming calls are deferred to a
 * bounded list and sent on the next entry into this module.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dsb/client_rpc.h"
#include "dsb/err.h"
#include "dsb/ipc_rpc.h"
#include "dsb/service_name.h"
#include "client_int.h"

#define CRPC_SYNC_TIMEOUT_MS DSB_CLIENT_DEFAULT_TIMEOUT_MS
#define CRPC_CALL_SLACK_MS 5000 /* beyond the daemon's own deadline */
#define CRPC_MAX_DEFERRED 256   /* refusals waiting for a chance to send */

typedef struct crpc_done {
  struct crpc_done *next;
  int ipc_err; /* the daemon refused the call before sending it */
  dsb_client_rpc_reply r;
} crpc_done;

typedef struct crpc_in {
  struct crpc_in *next;
  dsb_client_rpc_request req;
  uint8_t payload[];
} crpc_in;

typedef struct crpc_svc {
  char name[DSB_RPC_NAME_MAX + 1];
  dsb_client_rpc_handler fn;
  void *ctx;
} crpc_svc;

typedef struct crpc {
  dsb_client *c;
  size_t ninflight;
  uint64_t inflight[DSB_CLIENT_RPC_MAX_IN_FLIGHT];
  crpc_done *done_head, *done_tail;
  size_t ndone;
  crpc_in *in_head, *in_tail;
  size_t nin;
  crpc_in *current; /* returned by next_call; freed on the next call */
  size_t nsvcs;
  crpc_svc svcs[DSB_CLIENT_RPC_MAX_SERVICES];
  /* The one blocking request of the other kinds waiting for its reply. */
  uint64_t sync_nonce;
  int sync_done;
  int32_t sync_status;
  int32_t sync_rule;
  char sync_text[DSB_IPC_RPC_EXPLAIN_MAX + 1];
  uint64_t stale;
  size_t queued_bytes; /* payloads in the done and incoming queues */
  /* Incoming calls refused while a send was waiting (answered later). */
  size_t ndeferred;
  struct {
    uint64_t call;
    uint8_t status;
  } deferred[CRPC_MAX_DEFERRED];
  uint8_t tx[DSB_IPC_MAX_MSG];
  uint8_t out[DSB_IPC_RPC_ANSWER_PAYLOAD_MAX];
} crpc;

/* ---- packets from client.c ---------------------------------------------- */

static void crpc_copy(char *dst, size_t cap, dsb_ipc_str s) {
  size_t n = s.len < cap - 1 ? s.len : cap - 1;
  if (n) {
    memcpy(dst, s.p, n);
  }
  dst[n] = 0;
}

static int crpc_take_inflight(crpc *x, uint64_t nonce) {
  for (size_t i = 0; i < x->ninflight; ++i) {
    if (x->inflight[i] == nonce) {
      x->inflight[i] = x->inflight[--x->ninflight];
      return 1;
    }
  }
  return 0;
}

static void crpc_push_done(crpc *x, crpc_done *d) {
  d->next = NULL;
  x->ndone++;
  if (x->done_tail) {
    x->done_tail->next = d;
  } else {
    x->done_head = d;
  }
  x->done_tail = d;
}

static int crpc_send(crpc *x, const dsb_ipc_rpc_msg *m) {
  long n = dsb_ipc_rpc_encode(x->tx, sizeof(x->tx), m);
  if (n < 0) {
    return n == DSB_ERR_IPC_OVERSIZE ? DSB_ERR_PROXY_OVERSIZE : (int)n;
  }
  return dsb_client_ext_send(x->c, x->tx, (size_t)n);
}

static int crpc_answer(crpc *x, uint64_t call, uint8_t status,
                       const uint8_t *payload, size_t len) {
  dsb_ipc_rpc_msg m;
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_RPC_ANSWER;
  m.nonce = dsb_client_ext_nonce(x->c);
  m.u.answer.call = call;
  m.u.answer.rpc_status = status;
  m.u.answer.payload.p = len ? payload : NULL;
  m.u.answer.payload.len = len;
  return crpc_send(x, &m);
}

static void crpc_on_reply(crpc *x, const dsb_ipc_rpc_msg *m) {
  if (!crpc_take_inflight(x, m->nonce)) {
    x->stale++; /* never delivered to the wrong caller */
    return;
  }
  crpc_done *d = calloc(1, sizeof(*d));
  if (!d) {
    return; /* the caller times out */
  }
  d->r.handle = m->nonce;
  if (m->status) {
    d->ipc_err = m->status;
    d->r.err = m->status;
    d->r.status = dsb_rpc_status_from_err(m->status);
  } else if (m->u.call_r.payload.len >
             DSB_CLIENT_RPC_MAX_QUEUED_BYTES - x->queued_bytes) {
    /* The app does not collect its replies: keep the call's outcome, not
     * its payload. */
    d->ipc_err = DSB_ERR_IPC_QUEUE_FULL;
    d->r.err = DSB_ERR_IPC_QUEUE_FULL;
    d->r.status = DSB_RPC_FAILED;
  } else {
    d->r.status = m->u.call_r.rpc_status;
    d->r.err = dsb_rpc_status_to_err(d->r.status);
    if (m->u.call_r.payload.len) {
      d->r.payload = malloc(m->u.call_r.payload.len);
      if (!d->r.payload) {
        d->r.status = DSB_RPC_FAILED;
        d->r.err = DSB_ERR_NOMEM;
      } else {
        memcpy(d->r.payload, m->u.call_r.payload.p, m->u.call_r.payload.len);
        d->r.payloadlen = m->u.call_r.payload.len;
        x->queued_bytes += d->r.payloadlen;
      }
    }
  }
  crpc_push_done(x, d);
}

/* Answer an incoming call we cannot take: now, or, while client.c waits
 * to send, later (crpc_flush_deferred). When even that list is full the
 * call is dropped and the daemon's forward timeout answers the caller. */
static void crpc_refuse(crpc *x, uint64_t call, uint8_t status) {
  if (!dsb_client_ext_sending(x->c)) {
    (void)crpc_answer(x, call, status, NULL, 0);
    return;
  }
  if (x->ndeferred == CRPC_MAX_DEFERRED) {
    x->stale++;
    return;
  }
  x->deferred[x->ndeferred].call = call;
  x->deferred[x->ndeferred].status = status;
  x->ndeferred++;
}

static void crpc_flush_deferred(crpc *x) {
  while (x->ndeferred && !dsb_client_ext_sending(x->c)) {
    x->ndeferred--;
    if (crpc_answer(x, x->deferred[x->ndeferred].call,
                    x->deferred[x->ndeferred].status, NULL, 0) != 0) {
      return; /* the transport error shows on the caller's next request */
    }
  }
}

static void crpc_on_incoming(crpc *x, const dsb_ipc_rpc_msg *m) {
  size_t len = m->u.incoming.payload.len;
  if (x->nin >= DSB_CLIENT_RPC_MAX_QUEUED_CALLS ||
      len > DSB_CLIENT_RPC_MAX_QUEUED_BYTES - x->queued_bytes) {
    crpc_refuse(x, m->u.incoming.call, DSB_RPC_TOO_MANY_CALLS);
    return;
  }
  crpc_in *in = malloc(sizeof(*in) + len);
  if (!in) {
    crpc_refuse(x, m->u.incoming.call, DSB_RPC_FAILED);
    return;
  }
  memset(&in->req, 0, sizeof(in->req));
  in->next = NULL;
  in->req.call = m->u.incoming.call;
  dsb_device_id_format(in->req.device_id, &m->u.incoming.id);
  in->req.peer_flags = m->u.incoming.peer_flags;
  crpc_copy(in->req.service, sizeof(in->req.service), m->u.incoming.service);
  crpc_copy(in->req.method, sizeof(in->req.method), m->u.incoming.method);
  if (m->u.incoming.payload.len) {
    memcpy(in->payload, m->u.incoming.payload.p, m->u.incoming.payload.len);
  }
  in->req.payload = in->payload;
  in->req.payloadlen = len;
  x->queued_bytes += len;
  if (x->in_tail) {
    x->in_tail->next = in;
  } else {
    x->in_head = in;
  }
  x->in_tail = in;
  x->nin++;
}

/* A generic error reply (0xff): the answer to whichever of our requests
 * has its nonce. */
static void crpc_on_error(crpc *x, const uint8_t *p, size_t len) {
  dsb_ipc_msg e;
  if (dsb_ipc_decode(&e, p, len) != 0 || e.status == 0) {
    x->stale++;
    return;
  }
  if (x->sync_nonce && e.nonce == x->sync_nonce) {
    x->sync_done = 1;
    x->sync_status = e.status;
    return;
  }
  dsb_ipc_rpc_msg m;
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_RPC_CALL | DSB_IPC_REPLY_BIT;
  m.nonce = e.nonce;
  m.status = e.status;
  crpc_on_reply(x, &m); /* counted stale when no call has that nonce */
}

static void crpc_packet(void *ext, const uint8_t *p, size_t len, int fd) {
  crpc *x = ext;
  dsb_ipc_rpc_msg m;
  if (fd >= 0) {
    close(fd); /* nothing of this module carries a descriptor */
  }
  if (len && p[0] == DSB_IPC_OP_ERROR) {
    crpc_on_error(x, p, len);
    return;
  }
  if (dsb_ipc_rpc_decode(&m, p, len) != 0) {
    x->stale++;
    return;
  }
  switch (m.op) {
  case DSB_IPC_OP_RPC_CALL | DSB_IPC_REPLY_BIT:
    crpc_on_reply(x, &m);
    return;
  case DSB_IPC_EV_RPC_CALL:
    crpc_on_incoming(x, &m);
    return;
  case DSB_IPC_OP_RPC_ANSWER | DSB_IPC_REPLY_BIT:
    if (m.status) {
      x->stale++; /* the daemon dropped our answer (late or not ours) */
    }
    return;
  default:
    if (!x->sync_nonce || m.nonce != x->sync_nonce) {
      x->stale++;
      return;
    }
    x->sync_done = 1;
    x->sync_status = m.status;
    if (m.status == 0 &&
        m.op == (DSB_IPC_OP_RPC_POLICY_CHECK | DSB_IPC_REPLY_BIT)) {
      x->sync_rule = m.u.policy_check_r.rule;
      crpc_copy(x->sync_text, sizeof(x->sync_text),
                m.u.policy_check_r.explanation);
    }
    return;
  }
}

static int crpc_claims(uint8_t op) {
  return dsb_ipc_rpc_op_is_ours(op);
}

static void crpc_free(void *ext) {
  crpc *x = ext;
  while (x->done_head) {
    crpc_done *d = x->done_head;
    x->done_head = d->next;
    free(d->r.payload);
    free(d);
  }
  while (x->in_head) {
    crpc_in *in = x->in_head;
    x->in_head = in->next;
    free(in);
  }
  free(x->current);
  free(x);
}

static const dsb_client_ext crpc_ops = {crpc_claims, crpc_packet, crpc_free};

/* This module's state for |c|, created on first use. Every public entry
 * comes through here, outside any send, so deferred refusals go out. */
static crpc *crpc_get(dsb_client *c) {
  crpc *x = dsb_client_ext_get(c);
  if (x || !c) {
    if (x) {
      crpc_flush_deferred(x);
    }
    return x;
  }
  x = calloc(1, sizeof(*x));
  if (!x) {
    return NULL;
  }
  x->c = c;
  dsb_client_ext_set(c, &crpc_ops, x);
  return x;
}

/* ---- helpers ------------------------------------------------------------ */

static int crpc_left(int64_t deadline) {
  int64_t left = deadline - dsb_client_ext_now_ms();
  return left > 0 ? (left > 0x7fffffff ? 0x7fffffff : (int)left) : 0;
}

/* Send |m| and wait for its reply; returns the reply status. */
static int crpc_request(crpc *x, dsb_ipc_rpc_msg *m) {
  m->nonce = dsb_client_ext_nonce(x->c);
  x->sync_nonce = m->nonce;
  x->sync_done = 0;
  int rv = crpc_send(x, m);
  int64_t deadline = dsb_client_ext_now_ms() + CRPC_SYNC_TIMEOUT_MS;
  while (rv == 0 && !x->sync_done) {
    int left = crpc_left(deadline);
    if (left == 0) {
      rv = DSB_ERR_TIMEOUT;
      break;
    }
    int prv = dsb_client_ext_pump(x->c, left);
    if (prv < 0) {
      rv = prv;
    }
  }
  x->sync_nonce = 0;
  return rv ? rv : x->sync_status;
}

static crpc_svc *crpc_find_svc(crpc *x, const char *name) {
  for (size_t i = 0; i < x->nsvcs; ++i) {
    if (strcmp(x->svcs[i].name, name) == 0) {
      return &x->svcs[i];
    }
  }
  return NULL;
}

static int crpc_remember_svc(crpc *x, const char *name,
                             dsb_client_rpc_handler fn, void *ctx) {
  crpc_svc *s = crpc_find_svc(x, name);
  if (!s) {
    if (x->nsvcs >= DSB_CLIENT_RPC_MAX_SERVICES ||
        strlen(name) > DSB_RPC_NAME_MAX) {
      return DSB_ERR_LIMIT;
    }
    s = &x->svcs[x->nsvcs++];
    snprintf(s->name, sizeof(s->name), "%s", name);
  }
  s->fn = fn;
  s->ctx = ctx;
  return 0;
}

/* ---- registering ------------------------------------------------------- */

int dsb_client_rpc_register(dsb_client *c, const char *service,
                            const char *description, dsb_client_rpc_handler fn,
                            void *ctx) {
  crpc *x = crpc_get(c);
  if (!x || !service) {
    return x ? DSB_ERR_INVALID_ARGUMENT : DSB_ERR_NOMEM;
  }
  /* Checked here too, not only by the codec: the caller learns of a bad
   * name before anything reaches the daemon. */
  if (!dsb_service_name_valid(service, strlen(service))) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (x->nsvcs >= DSB_CLIENT_RPC_MAX_SERVICES && !crpc_find_svc(x, service)) {
    return DSB_ERR_LIMIT;
  }
  dsb_ipc_rpc_msg m;
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_RPC_SERVICE_ADD;
  m.u.service_add.name = dsb_ipc_cstr(service);
  m.u.service_add.description = dsb_ipc_cstr(description);
  int rv = crpc_request(x, &m);
  if (rv == DSB_ERR_IPC_BAD_STRING) {
    rv = DSB_ERR_INVALID_ARGUMENT;
  }
  return rv ? rv : crpc_remember_svc(x, service, fn, ctx);
}

int dsb_client_rpc_unregister(dsb_client *c, const char *service) {
  crpc *x = crpc_get(c);
  if (!x || !service) {
    return x ? DSB_ERR_INVALID_ARGUMENT : DSB_ERR_NOMEM;
  }
  dsb_ipc_rpc_msg m;
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_RPC_SERVICE_REMOVE;
  m.u.service_remove = dsb_ipc_cstr(service);
  int rv = crpc_request(x, &m);
  if (rv == DSB_ERR_IPC_BAD_STRING) {
    rv = DSB_ERR_INVALID_ARGUMENT;
  }
  crpc_svc *s = rv ? NULL : crpc_find_svc(x, service);
  if (s) {
    *s = x->svcs[--x->nsvcs];
  }
  return rv;
}

int dsb_client_rpc_register_bundle(dsb_client *c, const dsb_client_bundle *b) {
  crpc *x = crpc_get(c);
  if (!x || !b || !b->name || !b->version ||
      b->nservices > DSB_IPC_RPC_BUNDLE_SERVICES_MAX ||
      (b->nservices && !b->services)) {
    return x ? DSB_ERR_INVALID_ARGUMENT : DSB_ERR_NOMEM;
  }
  if (x->nsvcs + b->nservices > DSB_CLIENT_RPC_MAX_SERVICES) {
    return DSB_ERR_LIMIT;
  }
  dsb_ipc_rpc_msg m;
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_RPC_BUNDLE_ADD;
  m.u.bundle_add.name = dsb_ipc_cstr(b->name);
  m.u.bundle_add.version = dsb_ipc_cstr(b->version);
  m.u.bundle_add.nservices = (uint8_t)b->nservices;
  for (size_t i = 0; i < b->nservices; ++i) {
    const char *sname = b->services[i].name;
    if (!sname || !dsb_service_name_valid(sname, strlen(sname))) {
      return DSB_ERR_INVALID_ARGUMENT;
    }
    m.u.bundle_add.services[i].name = dsb_ipc_cstr(sname);
    m.u.bundle_add.services[i].description =
        dsb_ipc_cstr(b->services[i].description);
  }
  int rv = crpc_request(x, &m);
  if (rv == DSB_ERR_IPC_BAD_STRING || rv == DSB_ERR_IPC_TOO_MANY) {
    rv = DSB_ERR_INVALID_ARGUMENT;
  }
  for (size_t i = 0; rv == 0 && i < b->nservices; ++i) {
    rv = crpc_remember_svc(x, b->services[i].name, NULL, NULL);
  }
  return rv;
}

int dsb_client_rpc_set_handler(dsb_client *c, const char *service,
                               dsb_client_rpc_handler fn, void *ctx) {
  crpc *x = crpc_get(c);
  if (!x) {
    return DSB_ERR_NOMEM;
  }
  crpc_svc *s = service ? crpc_find_svc(x, service) : NULL;
  if (!s) {
    return DSB_ERR_NOT_FOUND;
  }
  s->fn = fn;
  s->ctx = ctx;
  return 0;
}

/* ---- serving ------------------------------------------------------------ */

/* Unlink queued call |in| (|prev| its predecessor or NULL). */
static void crpc_unlink_in(crpc *x, crpc_in *prev, crpc_in *in) {
  if (prev) {
    prev->next = in->next;
  } else {
    x->in_head = in->next;
  }
  if (x->in_tail == in) {
    x->in_tail = prev;
  }
  x->nin--;
  x->queued_bytes -= in->req.payloadlen;
  in->next = NULL;
}

/* Run the handler of one queued call that has one. 1 if it ran, 0 if no
 * queued call has a handler, or a transport error. */
static int crpc_run_one(crpc *x) {
  crpc_in *prev = NULL;
  for (crpc_in *in = x->in_head; in; prev = in, in = in->next) {
    crpc_svc *s = crpc_find_svc(x, in->req.service);
    if (!s || !s->fn) {
      continue;
    }
    /* Unlinked first: the handler may itself use this client. */
    crpc_unlink_in(x, prev, in);
    dsb_client_rpc_handler fn = s->fn;
    long n = fn(s->ctx, x->out, sizeof(x->out), &in->req);
    int rv;
    if (n >= 0) {
      rv = crpc_answer(x, in->req.call, DSB_RPC_OK, x->out, (size_t)n);
    } else {
      rv = crpc_answer(x, in->req.call, dsb_rpc_status_from_err((int)n), NULL,
                       0);
    }
    free(in);
    return rv ? rv : 1;
  }
  return 0;
}

static int crpc_run_handlers(crpc *x) {
  int handled = 0;
  for (;;) {
    int rv = crpc_run_one(x);
    if (rv < 0) {
      return rv;
    }
    if (rv == 0) {
      return handled;
    }
    handled++;
  }
}

int dsb_client_rpc_serve(dsb_client *c, int timeout_ms) {
  crpc *x = crpc_get(c);
  if (!x) {
    return DSB_ERR_NOMEM;
  }
  int64_t deadline =
      dsb_client_ext_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
  for (;;) {
    /* Take what is already readable, then run handlers. */
    int rv;
    while ((rv = dsb_client_ext_pump(c, 0)) == 1) {
    }
    if (rv < 0) {
      return rv;
    }
    int handled = crpc_run_handlers(x);
    if (handled != 0) {
      return handled;
    }
    int left = timeout_ms < 0 ? -1 : crpc_left(deadline);
    if (left == 0) {
      return 0;
    }
    rv = dsb_client_ext_pump(c, left);
    if (rv < 0) {
      return rv;
    }
  }
}

int dsb_client_rpc_next_call(dsb_client *c, dsb_client_rpc_request *req,
                             int timeout_ms) {
  crpc *x = crpc_get(c);
  if (!x || !req) {
    return x ? DSB_ERR_INVALID_ARGUMENT : DSB_ERR_NOMEM;
  }
  free(x->current);
  x->current = NULL;
  int64_t deadline =
      dsb_client_ext_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
  while (!x->in_head) {
    int left = timeout_ms < 0 ? -1 : crpc_left(deadline);
    int rv = dsb_client_ext_pump(c, left);
    if (rv < 0) {
      return rv;
    }
    if (rv == 0 && left >= 0 && crpc_left(deadline) == 0) {
      return 0;
    }
  }
  crpc_in *in = x->in_head;
  crpc_unlink_in(x, NULL, in);
  x->current = in;
  *req = in->req;
  return 1;
}

int dsb_client_rpc_answer(dsb_client *c, uint64_t call, uint8_t status,
                          const uint8_t *payload, size_t len) {
  crpc *x = crpc_get(c);
  if (!x || (len && !payload) || status > DSB_RPC_STATUS_MAX) {
    return x ? DSB_ERR_INVALID_ARGUMENT : DSB_ERR_NOMEM;
  }
  if (len > DSB_IPC_RPC_ANSWER_PAYLOAD_MAX) {
    return DSB_ERR_PROXY_OVERSIZE;
  }
  return crpc_answer(x, call, status, payload, len);
}

/* ---- calling ------------------------------------------------------------ */

int dsb_client_rpc_call_start(dsb_client *c, uint64_t *handle,
                              const char *device_id, const char *service,
                              const char *method, const uint8_t *payload,
                              size_t len, int timeout_ms) {
  crpc *x = crpc_get(c);
  if (!x) {
    return DSB_ERR_NOMEM;
  }
  if (!handle || !device_id || !service || !method || (len && !payload) ||
      timeout_ms < 0 || (uint32_t)timeout_ms > DSB_IPC_RPC_TIMEOUT_MAX_MS) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (x->ninflight + x->ndone >= DSB_CLIENT_RPC_MAX_IN_FLIGHT) {
    return DSB_ERR_LIMIT;
  }
  dsb_ipc_rpc_msg m;
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_RPC_CALL;
  if (dsb_device_id_parse(&m.u.call.id, device_id, strlen(device_id))) {
    return DSB_ERR_MALFORMED;
  }
  m.u.call.timeout_ms = (uint32_t)timeout_ms;
  m.u.call.service = dsb_ipc_cstr(service);
  m.u.call.method = dsb_ipc_cstr(method);
  if (!dsb_rpc_name_valid(service, strlen(service)) ||
      !dsb_rpc_name_valid(method, strlen(method))) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (len > dsb_ipc_rpc_call_payload_max(strlen(service), strlen(method))) {
    return DSB_ERR_PROXY_OVERSIZE;
  }
  m.u.call.payload.p = len ? payload : NULL;
  m.u.call.payload.len = len;
  m.nonce = dsb_client_ext_nonce(c);
  int rv = crpc_send(x, &m);
  if (rv) {
    return rv;
  }
  x->inflight[x->ninflight++] = m.nonce;
  *handle = m.nonce;
  return 0;
}

static int crpc_has_done(const crpc *x, uint64_t handle) {
  for (const crpc_done *d = x->done_head; d; d = d->next) {
    if (!handle || d->r.handle == handle) {
      return 1;
    }
  }
  return 0;
}

/* Unlink the finished call with |handle| (0: the first one). */
static crpc_done *crpc_take_done(crpc *x, uint64_t handle) {
  crpc_done *prev = NULL;
  for (crpc_done *d = x->done_head; d; prev = d, d = d->next) {
    if (handle && d->r.handle != handle) {
      continue;
    }
    if (prev) {
      prev->next = d->next;
    } else {
      x->done_head = d->next;
    }
    if (x->done_tail == d) {
      x->done_tail = prev;
    }
    x->queued_bytes -= d->r.payloadlen;
    return d;
  }
  return NULL;
}

static int crpc_wait(crpc *x, uint64_t handle, dsb_client_rpc_reply *reply,
                     int *ipc_err, int timeout_ms) {
  int64_t deadline =
      dsb_client_ext_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
  for (;;) {
    crpc_done *d = crpc_take_done(x, handle);
    if (d) {
      *reply = d->r;
      if (ipc_err) {
        *ipc_err = d->ipc_err;
      }
      x->ndone--;
      free(d);
      return 1;
    }
    if (!handle && x->ninflight == 0) {
      return DSB_ERR_NOT_FOUND;
    }
    int left = timeout_ms < 0 ? -1 : crpc_left(deadline);
    int rv = dsb_client_ext_pump(x->c, left);
    if (rv < 0) {
      return rv;
    }
    if (rv == 0 && left >= 0 && crpc_left(deadline) == 0 &&
        !crpc_has_done(x, handle)) {
      return 0;
    }
  }
}

int dsb_client_rpc_call_wait(dsb_client *c, dsb_client_rpc_reply *reply,
                             int timeout_ms) {
  crpc *x = crpc_get(c);
  if (!x || !reply) {
    return x ? DSB_ERR_INVALID_ARGUMENT : DSB_ERR_NOMEM;
  }
  memset(reply, 0, sizeof(*reply));
  return crpc_wait(x, 0, reply, NULL, timeout_ms);
}

int dsb_client_rpc_call(dsb_client *c, const char *device_id,
                        const char *service, const char *method,
                        const uint8_t *payload, size_t len, int timeout_ms,
                        dsb_client_rpc_reply *reply) {
  if (!reply) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  memset(reply, 0, sizeof(*reply));
  uint64_t h;
  int rv = dsb_client_rpc_call_start(c, &h, device_id, service, method, payload,
                                     len, timeout_ms);
  if (rv) {
    return rv;
  }
  crpc *x = crpc_get(c);
  /* The daemon answers every call by its deadline; the slack only guards
   * against a daemon that stopped answering. */
  int wait = (timeout_ms ? timeout_ms : (int)DSB_IPC_RPC_TIMEOUT_MAX_MS) +
             CRPC_CALL_SLACK_MS;
  int ipc_err = 0;
  rv = crpc_wait(x, h, reply, &ipc_err, wait);
  if (rv == 1) {
    /* A call the daemon refused to send is a local error. */
    if (ipc_err) {
      dsb_client_rpc_reply_free(reply);
      memset(reply, 0, sizeof(*reply));
      return ipc_err;
    }
    return 0;
  }
  crpc_take_inflight(x, h);
  return rv == 0 ? DSB_ERR_TIMEOUT : rv;
}

size_t dsb_client_rpc_in_flight(const dsb_client *c) {
  const crpc *x = c ? dsb_client_ext_get(c) : NULL;
  return x ? x->ninflight + x->ndone : 0;
}

void dsb_client_rpc_reply_free(dsb_client_rpc_reply *reply) {
  if (reply) {
    free(reply->payload);
    reply->payload = NULL;
    reply->payloadlen = 0;
  }
}

int dsb_client_rpc_policy_check(dsb_client *c, const char *device_id,
                                const char *service, const char *method,
                                long *rule, char *text, size_t textlen) {
  crpc *x = crpc_get(c);
  if (!x) {
    return DSB_ERR_NOMEM;
  }
  if (!device_id || !service || !method || !rule) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  dsb_ipc_rpc_msg m;
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_RPC_POLICY_CHECK;
  if (dsb_device_id_parse(&m.u.policy_check.id, device_id, strlen(device_id))) {
    return DSB_ERR_MALFORMED;
  }
  m.u.policy_check.service = dsb_ipc_cstr(service);
  m.u.policy_check.method = dsb_ipc_cstr(method);
  int rv = crpc_request(x, &m);
  if (rv == DSB_ERR_IPC_BAD_STRING) {
    rv = DSB_ERR_INVALID_ARGUMENT;
  }
  if (rv) {
    return rv;
  }
  *rule = x->sync_rule;
  if (text && textlen) {
    snprintf(text, textlen, "%s", x->sync_text);
  }
  return 0;
}

uint64_t dsb_client_rpc_stale(const dsb_client *c) {
  const crpc *x = c ? dsb_client_ext_get(c) : NULL;
  return x ? x->stale : 0;
}
