/*
 * proxy_calls.c - the caller side and the local API of the remote service
 * proxy (proxy.c): replies to local apps, the replies that come back on
 * our calls stream, and the requests apps make over the local API
 * (register or withdraw a service, add a policy bundle, call a remote
 * service, answer a forwarded call, check the policy), plus what happens
 * to an app's services and calls when it disconnects.
 */
#include <string.h>

#include "dsb/err.h"
#include "dsb/ipc_rpc.h"
#include "dsb/policy.h"
#include "dsb/rpc.h"
#include "dsb/services.h"
#include "dsb/wire.h"
#include "daemon_int.h"
#include "proxy.h"
#include "proxy_int.h"

static uint64_t proxy_owner(const dsbd_client *c) {
  return (uint64_t)(uintptr_t)c;
}

/* ---- local API replies ------------------------------------------------- */

static void proxy_send_ipc(dsbd_proxy *px, dsbd_client *c,
                           const dsb_ipc_rpc_msg *m) {
  long n = dsb_ipc_rpc_encode(px->tx, sizeof(px->tx), m);
  if (n < 0) {
    dsbd_log(px->d, DSB_LOG_ERROR, "encoding %s: %s",
             dsb_ipc_rpc_op_name(m->op), dsb_strerror((int)n));
    return;
  }
  dsbd_client_send_raw(c, px->tx, (size_t)n);
}

/* Answer the app's call |nonce| with |status| and |payload|. A payload
 * that does not fit one local API packet becomes status "oversize". */
void proxy_reply_client(dsbd_proxy *px, dsbd_client *c, uint64_t nonce,
                        uint8_t status, const uint8_t *payload, size_t len) {
  if (!c) {
    return;
  }
  if (len > DSB_IPC_RPC_REPLY_PAYLOAD_MAX) {
    status = DSB_RPC_OVERSIZE;
    len = 0;
  }
  dsb_ipc_rpc_msg m;
  memset(&m, 0, sizeof(m));
  m.op = DSB_IPC_OP_RPC_CALL | DSB_IPC_REPLY_BIT;
  m.nonce = nonce;
  m.u.call_r.rpc_status = status;
  m.u.call_r.payload.p = len ? payload : NULL;
  m.u.call_r.payload.len = len;
  proxy_send_ipc(px, c, &m);
}

/* ---- the caller --------------------------------------------------------- */

void proxy_on_reply_message(proxy_sess *s, const uint8_t *data, size_t len) {
  dsbd_proxy *px = s->px;
  dsb_rpc_msg m;
  dsb_rpc_pending_call pc;
  int rv = dsb_rpc_decode(&m, data, len, &px->limits);
  if (rv == DSB_ERR_PROXY_OVERSIZE) {
    /* Too big for us: the caller still gets an answer, "oversize". */
    uint8_t op;
    uint64_t nonce;
    dsbd_count(px->d, dsb_strerror(rv), 1);
    if (dsb_rpc_peek(&op, &nonce, data, len) == 0 && op == DSB_RPC_OP_REPLY &&
        dsb_rpc_pending_complete(px->out, &pc, s->serial, nonce, dsbd_now()) ==
            0) {
      proxy_reply_client(px, pc.user, pc.tag, DSB_RPC_OVERSIZE, NULL, 0);
    }
    return;
  }
  if (rv == 0 && m.op != DSB_RPC_OP_REPLY) {
    rv = DSB_ERR_PROXY_MALFORMED; /* calls never come on our own stream */
  }
  if (rv) {
    dsbd_count(px->d, dsb_strerror(rv), 1);
    return;
  }
  rv = dsb_rpc_pending_complete(px->out, &pc, s->serial, m.reply.nonce,
                                dsbd_now());
  if (rv) {
    /* Unknown nonce or too late: never delivered to anyone. */
    dsbd_count(px->d, dsb_strerror(rv), 1);
    return;
  }
  proxy_reply_client(px, pc.user, pc.tag, m.reply.status, m.reply.payload,
                     m.reply.payloadlen);
  proxy_arm(px);
}

/* ---- local API requests ------------------------------------------------- */

static void proxy_cstr(char *dst, size_t cap, dsb_ipc_str s) {
  size_t n = s.len < cap - 1 ? s.len : cap - 1;
  if (n) {
    memcpy(dst, s.p, n);
  }
  dst[n] = 0;
}

static int proxy_ipc_call(dsbd_proxy *px, dsbd_client *c,
                          const dsb_ipc_rpc_msg *m) {
  dsbd *d = px->d;
  dsbd_peer *peer;
  int rv = dsbd_peers_connect(d->peers, &m->u.call.id, &peer);
  if (rv) {
    return rv;
  }
  proxy_sess *s = proxy_sess_get(px, peer, &m->u.call.id);
  if (!s) {
    return DSB_ERR_LIMIT;
  }
  dsb_tstamp timeout = m->u.call.timeout_ms
                           ? (dsb_tstamp)m->u.call.timeout_ms * DSB_NS_PER_MS
                           : px->call_timeout;
  uint64_t nonce;
  rv = dsb_rpc_pending_add(px->out, &nonce, &s->id, s->serial, timeout, c,
                           m->nonce, dsbd_now());
  if (rv) {
    dsbd_count(d, dsb_strerror(rv), 1);
    proxy_reply_client(px, c, m->nonce, dsb_rpc_status_from_err(rv), NULL, 0);
    return 0;
  }
  dsb_rpc_call call = {(const char *)m->u.call.service.p,
                       m->u.call.service.len,
                       (const char *)m->u.call.method.p,
                       m->u.call.method.len,
                       m->u.call.payload.p,
                       m->u.call.payload.len,
                       nonce};
  long n =
      dsb_rpc_call_encode(px->frame, sizeof(px->frame), &call, &px->limits);
  if (n > 0) {
    rv = proxy_q_push(&s->outq, px->frame, (size_t)n);
    n = rv ? rv : n;
  }
  if (n < 0) {
    dsb_rpc_pending_call pc;
    dsb_rpc_pending_cancel(px->out, &pc, nonce);
    uint8_t st = n == DSB_ERR_LIMIT ? DSB_RPC_TOO_MANY_CALLS
                                    : dsb_rpc_status_from_err((int)n);
    dsbd_count(d,
               dsb_strerror(st == DSB_RPC_TOO_MANY_CALLS
                                ? DSB_ERR_PROXY_TOO_MANY_CALLS
                                : (int)n),
               1);
    proxy_reply_client(px, c, m->nonce, st, NULL, 0);
    return 0;
  }
  px->calls_out++;
  proxy_arm(px);
  if (s->out_state == PROXY_STREAM_NONE) {
    proxy_open_out(s);
  } else {
    proxy_flush_dir(s, 1);
  }
  return 0;
}

static int proxy_ipc_answer(dsbd_proxy *px, dsbd_client *c,
                            const dsb_ipc_rpc_msg *m) {
  dsb_rpc_pending_call pc;
  int rv = dsb_rpc_pending_complete_user(px->fwd, &pc, c, m->u.answer.call,
                                         dsbd_now());
  if (rv) {
    dsbd_count(px->d, dsb_strerror(rv), 1);
    return rv;
  }
  px->answers++;
  proxy_arm(px);
  proxy_sess *s = proxy_sess_by_serial(px, pc.session_id);
  if (!s) {
    return 0; /* the caller's session is gone; nobody to answer */
  }
  dsb_rpc_reply r = {m->u.answer.rpc_status, m->u.answer.payload.p,
                     m->u.answer.payload.len, pc.tag};
  long n = dsb_rpc_reply_encode(px->frame, sizeof(px->frame), &r, &px->limits);
  if (n == DSB_ERR_PROXY_OVERSIZE || n == DSB_ERR_NOBUF) {
    dsbd_count(px->d, dsb_strerror(DSB_ERR_PROXY_OVERSIZE), 1);
    proxy_reply_status(s, pc.tag, DSB_RPC_OVERSIZE);
    return 0;
  }
  if (n < 0) {
    proxy_reply_status(s, pc.tag, DSB_RPC_FAILED);
    return (int)n;
  }
  proxy_send_reply_frame(s, px->frame, (size_t)n);
  return 0;
}

static int proxy_ipc_bundle(dsbd_proxy *px, dsbd_client *c,
                            const dsb_ipc_rpc_msg *m) {
  char name[DSB_RPC_NAME_MAX + 1], version[40];
  char snames[DSB_IPC_RPC_BUNDLE_SERVICES_MAX][DSB_RPC_NAME_MAX + 1];
  char sdesc[DSB_IPC_RPC_BUNDLE_SERVICES_MAX][DSB_IPC_RPC_DESC_MAX + 1];
  dsb_bundle_service bs[DSB_IPC_RPC_BUNDLE_SERVICES_MAX];
  proxy_cstr(name, sizeof(name), m->u.bundle_add.name);
  proxy_cstr(version, sizeof(version), m->u.bundle_add.version);
  for (uint8_t i = 0; i < m->u.bundle_add.nservices; ++i) {
    proxy_cstr(snames[i], sizeof(snames[i]), m->u.bundle_add.services[i].name);
    proxy_cstr(sdesc[i], sizeof(sdesc[i]),
               m->u.bundle_add.services[i].description);
    bs[i].name = snames[i];
    bs[i].description = sdesc[i];
  }
  dsb_bundle b = {name, version, bs, m->u.bundle_add.nservices};
  int rv = dsb_services_bundle_add(px->svc, &b, proxy_owner(c));
  if (rv == 0) {
    dsbd_log(px->d, DSB_LOG_INFO, "bundle %s %s registered (%u services)", name,
             version, (unsigned)m->u.bundle_add.nservices);
    if (m->u.bundle_add.nservices) {
      dsbd_services_changed(px->d);
    }
  }
  return rv;
}

static int proxy_ipc_policy_check(dsbd_proxy *px, dsbd_client *c,
                                  const dsb_ipc_rpc_msg *m) {
  char idtext[DSB_DEVICE_ID_TEXT_LEN + 1];
  char text[DSB_IPC_RPC_EXPLAIN_MAX + 1];
  dsb_device_id_format(idtext, &m->u.policy_check.id);
  long rule = dsb_policy_explain(
      px->policy, text, sizeof(text), idtext,
      proxy_peer_flags(px, &m->u.policy_check.id),
      (const char *)m->u.policy_check.service.p, m->u.policy_check.service.len,
      (const char *)m->u.policy_check.method.p, m->u.policy_check.method.len);
  /* Keep the line printable whatever the explanation contains. */
  for (char *p = text; *p; ++p) {
    if (*p < 0x20 || *p > 0x7e) {
      *p = '?';
    }
  }
  dsb_ipc_rpc_msg r;
  memset(&r, 0, sizeof(r));
  r.op = DSB_IPC_OP_RPC_POLICY_CHECK | DSB_IPC_REPLY_BIT;
  r.nonce = m->nonce;
  r.u.policy_check_r.rule = rule >= 0 ? (int32_t)rule : -1;
  r.u.policy_check_r.explanation = dsb_ipc_cstr(text);
  proxy_send_ipc(px, c, &r);
  return 0;
}

void dsbd_proxy_ipc(dsbd_proxy *px, dsbd_client *c, const uint8_t *p,
                    size_t len) {
  dsb_ipc_rpc_msg m;
  uint8_t op = len ? p[0] : 0;
  uint64_t nonce = 0;
  int rv = px ? dsb_ipc_rpc_decode(&m, p, len) : DSB_ERR_PROXY_UNAVAILABLE;
  if (rv == 0 && !dsb_ipc_rpc_op_is_request(m.op)) {
    rv = DSB_ERR_IPC_UNKNOWN_OP;
  }
  if (rv) {
    if (px) {
      dsbd_count(px->d, dsb_strerror(rv), 1);
    }
    if (dsb_ipc_peek(&op, &nonce, p, len) == 0) {
      uint8_t buf[32];
      long n = dsb_ipc_encode_status(buf, sizeof(buf), op, nonce, rv);
      if (n > 0) {
        dsbd_client_send_raw(c, buf, (size_t)n);
      }
    }
    return;
  }
  char name[DSB_RPC_NAME_MAX + 1], desc[DSB_IPC_RPC_DESC_MAX + 1];
  switch (m.op) {
  case DSB_IPC_OP_RPC_SERVICE_ADD:
    proxy_cstr(name, sizeof(name), m.u.service_add.name);
    proxy_cstr(desc, sizeof(desc), m.u.service_add.description);
    rv = dsb_services_add_app(px->svc, name, desc, proxy_owner(c));
    if (rv == 0) {
      dsbd_log(px->d, DSB_LOG_INFO, "app service \"%s\" registered", name);
      dsbd_services_changed(px->d);
    }
    break;
  case DSB_IPC_OP_RPC_SERVICE_REMOVE: {
    dsb_service_info info;
    rv = dsb_services_lookup(px->svc, &info, (const char *)m.u.service_remove.p,
                             m.u.service_remove.len);
    if (rv == 0 &&
        (info.kind != DSB_SERVICE_KIND_APP || info.owner != proxy_owner(c))) {
      rv = DSB_ERR_PERMISSION; /* only its owner withdraws a service */
    }
    if (rv == 0) {
      rv = dsb_services_remove(px->svc, info.name);
    }
    if (rv == 0) {
      dsbd_services_changed(px->d);
    }
    break;
  }
  case DSB_IPC_OP_RPC_BUNDLE_ADD:
    rv = proxy_ipc_bundle(px, c, &m);
    break;
  case DSB_IPC_OP_RPC_CALL:
    rv = proxy_ipc_call(px, c, &m);
    if (rv == 0) {
      return; /* answered when the reply comes */
    }
    break;
  case DSB_IPC_OP_RPC_ANSWER:
    rv = proxy_ipc_answer(px, c, &m);
    break;
  case DSB_IPC_OP_RPC_POLICY_CHECK:
    proxy_ipc_policy_check(px, c, &m);
    return;
  default:
    rv = DSB_ERR_IPC_UNKNOWN_OP;
    break;
  }
  if (rv) {
    uint8_t buf[32];
    long n = dsb_ipc_encode_status(buf, sizeof(buf), m.op, m.nonce, rv);
    if (n > 0) {
      dsbd_client_send_raw(c, buf, (size_t)n);
    }
    return;
  }
  dsb_ipc_rpc_msg r;
  memset(&r, 0, sizeof(r));
  r.op = (uint8_t)(m.op | DSB_IPC_REPLY_BIT);
  r.nonce = m.nonce;
  proxy_send_ipc(px, c, &r);
}

void dsbd_proxy_each_service(dsbd_proxy *px,
                             void (*fn)(void *ctx, const char *service),
                             void *ctx) {
  if (!px) {
    return;
  }
  dsb_service_info info;
  size_t cur = 0;
  while (dsb_services_next(px->svc, &cur, &info)) {
    if (info.kind != DSB_SERVICE_KIND_BUILTIN) {
      fn(ctx, info.name);
    }
  }
}

void dsbd_proxy_client_gone(dsbd_proxy *px, dsbd_client *c) {
  if (!px) {
    return;
  }
  dsb_rpc_pending_call pc;
  size_t n = dsb_services_remove_owner(px->svc, proxy_owner(c));
  if (n) {
    dsbd_log(px->d, DSB_LOG_INFO, "%zu app service(s) withdrawn", n);
    dsbd_services_changed(px->d);
  }
  /* Calls forwarded to the app: their callers learn "unavailable". */
  while (dsb_rpc_pending_take_user(px->fwd, &pc, c) == 1) {
    proxy_sess *s = proxy_sess_by_serial(px, pc.session_id);
    if (s) {
      proxy_reply_status(s, pc.tag, DSB_RPC_UNAVAILABLE);
    }
  }
  /* The app's own calls: their replies will be dropped as stale. */
  while (dsb_rpc_pending_take_user(px->out, &pc, c) == 1) {
  }
  proxy_arm(px);
}
