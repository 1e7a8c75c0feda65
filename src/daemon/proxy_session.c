/*
 * proxy_session.c - the per-session side of the remote service proxy
 * (proxy.c): a proxy session per peer session, its two dsb.rpc streams
 * (ours for calls, the peer's for replies) with a bounded frame queue each,
 * the callee side (a call from the peer: dispatched through the services
 * table under the policy, answered by a builtin or forwarded to the app
 * that registered the service), and the hooks peers.c calls for proxy
 * streams and session changes.
 */
#include <stdlib.h>
#include <string.h>

#include "dsb/err.h"
#include "dsb/ipc_rpc.h"
#include "dsb/mux.h"
#include "dsb/rpc.h"
#include "dsb/services.h"
#include "daemon_int.h"
#include "proxy.h"
#include "proxy_int.h"

/* ---- sessions and their streams ----------------------------------------- */

static void proxy_q_clear(proxy_q *q) {
  while (q->head) {
    proxy_frame *f = q->head;
    q->head = f->next;
    free(f);
  }
  q->tail = NULL;
  q->bytes = 0;
}

int proxy_q_push(proxy_q *q, const uint8_t *p, size_t len) {
  if (q->bytes + len > PROXY_QUEUE_MAX_BYTES) {
    return DSB_ERR_LIMIT;
  }
  proxy_frame *f = malloc(sizeof(*f) + len);
  if (!f) {
    return DSB_ERR_NOMEM;
  }
  f->next = NULL;
  f->len = len;
  memcpy(f->data, p, len);
  if (q->tail) {
    q->tail->next = f;
  } else {
    q->head = f;
  }
  q->tail = f;
  q->bytes += len;
  return 0;
}

static proxy_sess *proxy_sess_find(dsbd_proxy *px, const dsbd_peer *peer) {
  for (proxy_sess *s = px->sessions; s; s = s->next) {
    if (s->peer == peer) {
      return s;
    }
  }
  return NULL;
}

proxy_sess *proxy_sess_by_serial(dsbd_proxy *px, uint64_t serial) {
  for (proxy_sess *s = px->sessions; s; s = s->next) {
    if (s->serial == serial) {
      return s;
    }
  }
  return NULL;
}

proxy_sess *proxy_sess_get(dsbd_proxy *px, dsbd_peer *peer,
                           const dsb_device_id *id) {
  proxy_sess *s = proxy_sess_find(px, peer);
  if (s || px->nsessions >= PROXY_MAX_SESSIONS) {
    return s;
  }
  s = calloc(1, sizeof(*s));
  if (!s) {
    return NULL;
  }
  s->px = px;
  s->peer = peer;
  s->serial = ++px->next_serial;
  s->id = *id;
  dsb_device_id_format(s->idtext, id);
  s->out_ud = (proxy_ud){DSBD_UD_RPC, s, 1};
  s->in_ud = (proxy_ud){DSBD_UD_RPC, s, 0};
  s->next = px->sessions;
  if (px->sessions) {
    px->sessions->prev = s;
  }
  px->sessions = s;
  px->nsessions++;
  return s;
}

/* Calls of |s| that can no longer be answered by the peer: tell the apps
 * "unavailable"; calls the peer made to our apps are forgotten. */
static void proxy_sess_fail_calls(proxy_sess *s) {
  dsbd_proxy *px = s->px;
  dsb_rpc_pending_call pc;
  while (dsb_rpc_pending_take_session(px->out, &pc, s->serial) == 1) {
    proxy_reply_client(px, pc.user, pc.tag, DSB_RPC_UNAVAILABLE, NULL, 0);
  }
  proxy_q_clear(&s->outq);
}

void proxy_sess_free(proxy_sess *s) {
  dsbd_proxy *px = s->px;
  if (s->prev) {
    s->prev->next = s->next;
  } else {
    px->sessions = s->next;
  }
  if (s->next) {
    s->next->prev = s->prev;
  }
  px->nsessions--;
  proxy_q_clear(&s->outq);
  proxy_q_clear(&s->inq);
  free(s);
}

static void proxy_complete_oversize_frame(proxy_sess *s, const proxy_frame *f);

/* Write queued frames of one direction while the stream takes them. */
void proxy_flush_dir(proxy_sess *s, int outbound) {
  dsb_mux *mux = dsbd_peer_mux(s->peer);
  if (!mux) {
    return;
  }
  proxy_q *q = outbound ? &s->outq : &s->inq;
  uint32_t sid = outbound ? s->out_sid : s->in_sid;
  if (outbound ? s->out_state != PROXY_STREAM_OPEN : !s->in_open) {
    return;
  }
  while (q->head) {
    proxy_frame *f = q->head;
    int rv = dsb_mux_write_message(mux, sid, f->data, f->len);
    if (rv == DSB_ERR_WOULD_BLOCK) {
      break;
    }
    if (rv) {
      /* The frame can never go out (e.g. over the peer's max message). */
      s->px->queue_drops++;
      dsbd_count(s->px->d, dsb_strerror(rv), 1);
      if (outbound) {
        proxy_complete_oversize_frame(s, f);
      }
    }
    q->head = f->next;
    if (!q->head) {
      q->tail = NULL;
    }
    q->bytes -= f->len;
    free(f);
  }
  dsbd_peer_flush(s->peer);
}

void proxy_open_out(proxy_sess *s) {
  dsb_mux *mux = dsbd_peer_mux(s->peer);
  if (!mux || s->out_state != PROXY_STREAM_NONE) {
    return;
  }
  uint32_t sid;
  int rv =
      dsb_mux_open(mux, &sid, DSB_RPC_STREAM_NAME, strlen(DSB_RPC_STREAM_NAME),
                   PROXY_RPC_PRIORITY, 0, &s->out_ud);
  if (rv) {
    dsbd_log(s->px->d, DSB_LOG_WARN, "opening dsb.rpc to %s: %s", s->idtext,
             dsb_strerror(rv));
    proxy_sess_fail_calls(s);
    return;
  }
  s->out_sid = sid;
  s->out_state = PROXY_STREAM_OPENING;
  dsbd_peer_flush(s->peer);
}

/* A call frame the mux refused for good: its caller learns "oversize". */
static void proxy_complete_oversize_frame(proxy_sess *s, const proxy_frame *f) {
  uint8_t op;
  uint64_t nonce;
  dsb_rpc_pending_call pc;
  if (dsb_rpc_peek(&op, &nonce, f->data, f->len) == 0 &&
      dsb_rpc_pending_cancel(s->px->out, &pc, nonce) == 0) {
    proxy_reply_client(s->px, pc.user, pc.tag, DSB_RPC_OVERSIZE, NULL, 0);
  }
}

/* ---- the callee --------------------------------------------------------- */

/* Queue a reply frame for the peer's calls stream of |s|. */
void proxy_send_reply_frame(proxy_sess *s, const uint8_t *frame, size_t len) {
  if (proxy_q_push(&s->inq, frame, len)) {
    s->px->queue_drops++;
    dsbd_count(s->px->d, "proxy.reply_dropped", 1);
    return;
  }
  proxy_flush_dir(s, 0);
}

void proxy_reply_status(proxy_sess *s, uint64_t nonce, uint8_t status) {
  dsb_rpc_reply r = {status, NULL, 0, nonce};
  long n = dsb_rpc_reply_encode(s->px->frame, sizeof(s->px->frame), &r,
                                &s->px->limits);
  if (n > 0) {
    proxy_send_reply_frame(s, s->px->frame, (size_t)n);
  }
}

static void proxy_forward(proxy_sess *s, const dsb_services_result *res,
                          const dsb_rpc_call *call) {
  dsbd_proxy *px = s->px;
  dsbd_client *owner = (dsbd_client *)(uintptr_t)res->owner;
  uint64_t lnonce;
  int rv = dsb_rpc_pending_add(px->fwd, &lnonce, &s->id, s->serial,
                               px->fwd_timeout, owner, call->nonce, dsbd_now());
  if (rv) {
    dsbd_count(px->d, dsb_strerror(rv), 1);
    proxy_reply_status(s, call->nonce, dsb_rpc_status_from_err(rv));
    return;
  }
  px->forwarded++;
  dsb_ipc_rpc_msg ev;
  memset(&ev, 0, sizeof(ev));
  ev.op = DSB_IPC_EV_RPC_CALL;
  ev.nonce = dsbd_api_next_event_seq(px->d->api);
  ev.u.incoming.call = lnonce;
  ev.u.incoming.id = s->id;
  ev.u.incoming.peer_flags = (uint8_t)proxy_peer_flags(px, &s->id);
  ev.u.incoming.service.p = (const uint8_t *)call->service;
  ev.u.incoming.service.len = call->servicelen;
  ev.u.incoming.method.p = (const uint8_t *)call->method;
  ev.u.incoming.method.len = call->methodlen;
  ev.u.incoming.payload.p = call->payload;
  ev.u.incoming.payload.len = call->payloadlen;
  long n = dsb_ipc_rpc_encode(px->tx, sizeof(px->tx), &ev);
  if (n < 0) {
    /* Only a payload too large for the local API gets here. */
    dsb_rpc_pending_call pc;
    dsb_rpc_pending_cancel(px->fwd, &pc, lnonce);
    proxy_reply_status(s, call->nonce, DSB_RPC_OVERSIZE);
    return;
  }
  proxy_arm(px);
  /* If the app cannot take it, it is disconnected and client_gone answers
   * the call "unavailable". */
  dsbd_client_send_raw(owner, px->tx, (size_t)n);
}

static void proxy_on_call_message(proxy_sess *s, const uint8_t *data,
                                  size_t len) {
  dsbd_proxy *px = s->px;
  dsb_services_result res;
  dsb_rpc_call call;
  unsigned flags = proxy_peer_flags(px, &s->id);
  px->calls_in++;
  int rv = dsb_services_handle_message(
      px->svc, &res, &call, px->frame, px->limits.max_reply, px->policy,
      s->idtext, flags, data, len, &px->limits);
  if (rv < 0) {
    dsbd_count(px->d, dsb_strerror(rv), 1);
    return;
  }
  if (res.label) {
    char line[320];
    dsbd_count(px->d, res.label, 1);
    if (dsb_services_format_reject(line, sizeof(line), &res, s->idtext, &call) >
        0) {
      dsbd_log(px->d,
               res.err == DSB_ERR_PROXY_DENIED ? DSB_LOG_WARN : DSB_LOG_INFO,
               "%s", line);
    }
  }
  if (res.action == DSB_SERVICES_FORWARD) {
    proxy_forward(s, &res, &call);
    return;
  }
  proxy_send_reply_frame(s, px->frame, res.replylen);
}

/* ---- peers hooks -------------------------------------------------------- */

int dsbd_proxy_on_stream_open(dsbd_proxy *px, dsbd_peer *peer, dsb_mux *mux,
                              uint32_t id, uint8_t mode) {
  const dsb_device_id *dev = dsbd_peer_device(peer);
  proxy_sess *s = px && dev ? proxy_sess_get(px, peer, dev) : NULL;
  if (!s || mode != DSB_MUX_MODE_MESSAGE || s->in_open) {
    if (px) {
      dsbd_count(px->d, "proxy.stream_refused", 1);
    }
    return dsb_mux_reset(mux, id, DSB_MUX_RST_REJECTED) ? -1 : 0;
  }
  if (dsb_mux_accept(mux, id, &s->in_ud) != 0) {
    return -1;
  }
  s->in_open = 1;
  s->in_sid = id;
  return 0;
}

int dsbd_proxy_on_message(dsbd_proxy *px, void *ud, const uint8_t *data,
                          size_t len) {
  proxy_ud *u = ud;
  if (!px) {
    return 0;
  }
  proxy_sess *s = u->s;
  dsb_mux *mux = dsbd_peer_mux(s->peer);
  uint32_t sid = u->outbound ? s->out_sid : s->in_sid;
  if (u->outbound) {
    proxy_on_reply_message(s, data, len);
  } else {
    proxy_on_call_message(s, data, len);
  }
  /* Everything needed was copied (forwarded payloads into the event). */
  if (mux) {
    dsb_mux_consume(mux, sid, len);
  }
  return 0;
}

void dsbd_proxy_on_writable(dsbd_proxy *px, void *ud) {
  proxy_ud *u = ud;
  if (!px) {
    return;
  }
  if (u->outbound && u->s->out_state == PROXY_STREAM_OPENING) {
    u->s->out_state = PROXY_STREAM_OPEN;
  }
  proxy_flush_dir(u->s, u->outbound);
}

int dsbd_proxy_on_stream_reset(dsbd_proxy *px, dsbd_peer *peer, uint32_t id) {
  proxy_sess *s = px ? proxy_sess_find(px, peer) : NULL;
  if (!s) {
    return 0;
  }
  if (s->out_state != PROXY_STREAM_NONE && s->out_sid == id) {
    s->out_state = PROXY_STREAM_NONE;
    proxy_sess_fail_calls(s);
    proxy_arm(px);
    return 1;
  }
  if (s->in_open && s->in_sid == id) {
    s->in_open = 0;
    proxy_q_clear(&s->inq);
    return 1;
  }
  return 0;
}

void dsbd_proxy_session_up(dsbd_proxy *px, dsbd_peer *peer) {
  proxy_sess *s = px ? proxy_sess_find(px, peer) : NULL;
  if (s && s->outq.head) {
    proxy_open_out(s);
  }
}

void dsbd_proxy_session_gone(dsbd_proxy *px, dsbd_peer *peer) {
  proxy_sess *s = px ? proxy_sess_find(px, peer) : NULL;
  if (!s) {
    return;
  }
  dsb_rpc_pending_call pc;
  proxy_sess_fail_calls(s);
  while (dsb_rpc_pending_take_session(px->fwd, &pc, s->serial) == 1) {
  }
  proxy_sess_free(s);
  proxy_arm(px);
}
