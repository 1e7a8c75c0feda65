/*
 * proxy.c - dsoftbusd's remote service proxy (src/daemon/proxy.h).
 *
 * Each end that calls opens its own message-mode "dsb.rpc" stream in the
 * session: the opener sends only calls on it, the acceptor only replies
 * (docs/PROTOCOL.md "Remote calls"). Per session the proxy keeps both
 * streams and a bounded queue of frames for each, because a stream takes
 * writes only once accepted and within its send buffer.
 *
 * Two pending-call tables (dsb/rpc.h) correlate everything by nonce:
 *   out  calls local apps made: nonce on the wire -> (client, its nonce)
 *   fwd  calls forwarded to local apps: the id in the app's event ->
 *        (session, the caller's nonce)
 * so a reply reaches only the caller that asked, on the session the call
 * went out on, before its deadline; anything else is dropped and counted.
 *
 * Policy is applied by dsb_services_dispatch() before any service sees a
 * call. The policy file is read at start (invalid: the daemon refuses to
 * start) and on SIGHUP (invalid: the old policy stays).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsb/err.h"
#include "dsb/ipc_rpc.h"
#include "dsb/mux.h"
#include "dsb/policy.h"
#include "dsb/rpc.h"
#include "dsb/services.h"
#include "dsb/wire.h"
#include "daemon_int.h"
#include "proxy.h"

#define PROXY_QUEUE_MAX_BYTES (4u * 1024 * 1024) /* per stream direction */
#define PROXY_RPC_PRIORITY 1
#define PROXY_DEFAULT_TIMEOUT_MS 10000u
#define PROXY_MAX_SESSIONS 256

typedef struct proxy_sess proxy_sess;

/* Mux user data of a proxy stream; |kind| first (DSBD_UD_RPC). */
typedef struct proxy_ud {
  int kind;
  proxy_sess *s;
  int outbound; /* 1: our calls stream, 0: the peer's (we reply) */
} proxy_ud;

typedef struct proxy_frame {
  struct proxy_frame *next;
  size_t len;
  uint8_t data[];
} proxy_frame;

typedef struct proxy_q {
  proxy_frame *head, *tail;
  size_t bytes;
} proxy_q;

enum { PROXY_STREAM_NONE = 0, PROXY_STREAM_OPENING, PROXY_STREAM_OPEN };

struct proxy_sess {
  proxy_sess *next, *prev;
  dsbd_proxy *px;
  dsbd_peer *peer;
  uint64_t serial; /* the session id in the pending tables */
  dsb_device_id id;
  char idtext[DSB_DEVICE_ID_TEXT_LEN + 1];
  proxy_ud out_ud, in_ud;
  int out_state;
  uint32_t out_sid;
  int in_open;
  uint32_t in_sid;
  proxy_q outq, inq;
};

struct dsbd_proxy {
  dsbd *d;
  dsb_policy *policy;
  dsb_services *svc;
  dsb_rpc_pending *out, *fwd;
  dsb_rpc_limits limits;
  dsb_tstamp call_timeout, fwd_timeout;
  proxy_sess *sessions;
  size_t nsessions;
  uint64_t next_serial;
  uv_timer_t timer;
  uv_signal_t sighup;
  int closing;
  int handles_open;
  /* counters */
  uint64_t calls_out, calls_in, forwarded, answers, reloads, reload_failures;
  uint64_t queue_drops;
  uint8_t frame[DSB_RPC_MAX_REPLY_DEFAULT]; /* one encoded rpc frame */
  uint8_t tx[DSB_IPC_MAX_MSG];              /* one local API packet */
};

static uint64_t proxy_owner(const dsbd_client *c) {
  return (uint64_t)(uintptr_t)c;
}

/* ---- config ------------------------------------------------------------- */

/* One config failure: the field it concerns and what was expected, for the
 * caller to put in its one error line (it escapes the field). */
static int proxy_cfg_fail(char *field, size_t fieldlen, const char *name,
                          char *what, size_t whatlen, const char *expected) {
  snprintf(field, fieldlen, "%s", name);
  snprintf(what, whatlen, "%s", expected);
  return -1;
}

int dsbd_proxy_config_key(dsbd_proxy_config *pc, const char *key,
                          json_object *val, char *field, size_t fieldlen,
                          char *what, size_t whatlen) {
  if (strcmp(key, "policy") == 0) {
    const char *s = json_object_get_string(val);
    if (!json_object_is_type(val, json_type_string) || !s[0] ||
        strlen(s) >= sizeof(pc->policy)) {
      return proxy_cfg_fail(field, fieldlen, key, what, whatlen,
                            "expected the path of a policy file");
    }
    memcpy(pc->policy, s, strlen(s) + 1);
    return 0;
  }
  if (strcmp(key, "proxy") != 0) {
    return 1;
  }
  if (!json_object_is_type(val, json_type_object)) {
    return proxy_cfg_fail(field, fieldlen, key, what, whatlen,
                          "expected an object");
  }
  json_object_object_foreach(val, k, v) {
    int64_t x = json_object_get_int64(v);
    uint32_t *dst = NULL;
    int64_t lo = 1, hi = 0;
    snprintf(field, fieldlen, "proxy.%s", k);
    if (strcmp(k, "max_request") == 0) {
      dst = &pc->max_request;
      lo = DSB_RPC_MAX_FRAME_MIN;
      hi = DSB_RPC_MAX_REQUEST_DEFAULT;
    } else if (strcmp(k, "max_reply") == 0) {
      dst = &pc->max_reply;
      lo = DSB_RPC_MAX_FRAME_MIN;
      hi = DSB_RPC_MAX_REPLY_DEFAULT;
    } else if (strcmp(k, "max_calls_per_peer") == 0) {
      dst = &pc->max_calls_per_peer;
      hi = 1024;
    } else if (strcmp(k, "call_timeout_ms") == 0) {
      dst = &pc->call_timeout_ms;
      lo = 10;
      hi = DSB_IPC_RPC_TIMEOUT_MAX_MS;
    } else {
      snprintf(what, whatlen, "unknown field");
      return -1;
    }
    if (!json_object_is_type(v, json_type_int) || x < lo || x > hi) {
      snprintf(what, whatlen, "expected an integer %lld..%lld", (long long)lo,
               (long long)hi);
      return -1;
    }
    *dst = (uint32_t)x;
  }
  return 0;
}

/* ---- policy ------------------------------------------------------------- */

/* Load the policy file |path| into |*out|. On failure one line naming the
 * file, the field and what was expected goes into |err|. */
static int proxy_load_policy(dsb_policy **out, const char *path, char *err,
                             size_t errlen) {
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return DSB_ERR_IO;
  }
  /* One byte more than the cap so an oversize file is detected. */
  char *text = malloc(DSB_POLICY_MAX_FILE + 1);
  if (!text) {
    fclose(f);
    return DSB_ERR_NOMEM;
  }
  size_t n = fread(text, 1, DSB_POLICY_MAX_FILE + 1, f);
  int rerr = ferror(f);
  fclose(f);
  int rv;
  if (rerr) {
    snprintf(err, errlen, "%s: read error", path);
    rv = DSB_ERR_IO;
  } else {
    rv = dsb_policy_load_json(out, NULL, path, text, n, err, errlen);
  }
  free(text);
  return rv;
}

static void proxy_on_sighup(uv_signal_t *h, int signum) {
  (void)signum;
  dsbd_proxy *px = h->data;
  const char *path = dsbd_cfg(px->d)->proxy.policy;
  if (!path[0]) {
    dsbd_log(px->d, DSB_LOG_INFO,
             "SIGHUP: no policy file configured; the default policy stays");
    return;
  }
  char err[512] = "";
  dsb_policy *np = NULL;
  int rv = proxy_load_policy(&np, path, err, sizeof(err));
  if (rv) {
    px->reload_failures++;
    dsbd_count(px->d, dsb_strerror(DSB_ERR_PROXY_POLICY_INVALID), 1);
    dsbd_log(px->d, DSB_LOG_ERROR,
             "policy reload refused, the previous policy stays: %s",
             err[0] ? err : dsb_err_describe(rv));
    return;
  }
  dsb_policy_del(px->policy);
  px->policy = np;
  px->reloads++;
  dsbd_log(px->d, DSB_LOG_INFO, "policy reloaded from %s: %zu rules", path,
           dsb_policy_rule_count(np));
}

static unsigned proxy_peer_flags(dsbd_proxy *px, const dsb_device_id *id) {
  return dsbd_trust_get(px->d, id) == DSB_IPC_TRUST_TRUSTED
             ? DSB_POLICY_PEER_TRUSTED
             : 0;
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
static void proxy_reply_client(dsbd_proxy *px, dsbd_client *c, uint64_t nonce,
                               uint8_t status, const uint8_t *payload,
                               size_t len) {
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

static int proxy_q_push(proxy_q *q, const uint8_t *p, size_t len) {
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

static proxy_sess *proxy_sess_by_serial(dsbd_proxy *px, uint64_t serial) {
  for (proxy_sess *s = px->sessions; s; s = s->next) {
    if (s->serial == serial) {
      return s;
    }
  }
  return NULL;
}

static proxy_sess *proxy_sess_get(dsbd_proxy *px, dsbd_peer *peer,
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

static void proxy_arm(dsbd_proxy *px);

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

static void proxy_sess_free(proxy_sess *s) {
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
static void proxy_flush_dir(proxy_sess *s, int outbound) {
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

static void proxy_open_out(proxy_sess *s) {
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
static void proxy_send_reply_frame(proxy_sess *s, const uint8_t *frame,
                                   size_t len) {
  if (proxy_q_push(&s->inq, frame, len)) {
    s->px->queue_drops++;
    dsbd_count(s->px->d, "proxy.reply_dropped", 1);
    return;
  }
  proxy_flush_dir(s, 0);
}

static void proxy_reply_status(proxy_sess *s, uint64_t nonce, uint8_t status) {
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

/* ---- the caller --------------------------------------------------------- */

static void proxy_on_reply_message(proxy_sess *s, const uint8_t *data,
                                   size_t len) {
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

/* ---- timers ------------------------------------------------------------- */

static void proxy_on_timer(uv_timer_t *t) {
  dsbd_proxy *px = t->data;
  dsb_tstamp now = dsbd_now();
  dsb_rpc_pending_call pc;
  while (dsb_rpc_pending_expire(px->out, &pc, now) == 1) {
    dsbd_count(px->d, dsb_strerror(DSB_ERR_PROXY_TIMEOUT), 1);
    proxy_reply_client(px, pc.user, pc.tag, DSB_RPC_TIMEOUT, NULL, 0);
  }
  while (dsb_rpc_pending_expire(px->fwd, &pc, now) == 1) {
    proxy_sess *s = proxy_sess_by_serial(px, pc.session_id);
    dsbd_count(px->d, "proxy.app_timeout", 1);
    if (s) {
      proxy_reply_status(s, pc.tag, DSB_RPC_TIMEOUT);
    }
  }
  proxy_arm(px);
}

static void proxy_arm(dsbd_proxy *px) {
  if (px->closing) {
    return;
  }
  dsb_tstamp a = dsb_rpc_pending_next_deadline(px->out);
  dsb_tstamp b = dsb_rpc_pending_next_deadline(px->fwd);
  dsb_tstamp next = a < b ? a : b;
  if (next == UINT64_MAX) {
    uv_timer_stop(&px->timer);
    return;
  }
  dsb_tstamp now = dsbd_now();
  /* Round up to whole ms so the timer never fires before the deadline. */
  uint64_t ms =
      next > now ? (next - now + DSB_NS_PER_MS - 1) / DSB_NS_PER_MS : 0;
  uv_timer_start(&px->timer, proxy_on_timer, ms, 0);
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

/* ---- counters ----------------------------------------------------------- */

void dsbd_proxy_add_counters(dsbd_proxy *px,
                             void (*fn)(void *ctx, const char *label,
                                        uint64_t v),
                             void *ctx) {
  if (!px) {
    return;
  }
  dsb_rpc_pending_stats so, sf;
  dsb_rpc_pending_get_stats(px->out, &so);
  dsb_rpc_pending_get_stats(px->fwd, &sf);
  dsb_services_stats ss;
  dsb_services_get_stats(px->svc, &ss);
  fn(ctx, "rpc.calls_out", px->calls_out);
  fn(ctx, "rpc.calls_out_in_flight", so.in_flight);
  fn(ctx, "rpc.calls_in", px->calls_in);
  fn(ctx, "rpc.calls_in_dispatched", ss.dispatched);
  fn(ctx, "rpc.forwarded", px->forwarded);
  fn(ctx, "rpc.forwarded_in_flight", sf.in_flight);
  fn(ctx, "rpc.answers", px->answers);
  fn(ctx, "rpc.replies_stale", so.replies_stale + sf.replies_stale);
  fn(ctx, "rpc.replies_late", so.replies_late + sf.replies_late);
  fn(ctx, "rpc.timeouts", so.timed_out + sf.timed_out);
  fn(ctx, "rpc.denied", ss.denied);
  fn(ctx, "rpc.queue_drops", px->queue_drops);
  fn(ctx, "rpc.policy_reloads", px->reloads);
  fn(ctx, "rpc.policy_reload_failures", px->reload_failures);
}

/* ---- lifetime ----------------------------------------------------------- */

static void proxy_free(dsbd_proxy *px) {
  /* The whole list goes: walk it with the next session saved before the
   * current one is freed. */
  for (proxy_sess *s = px->sessions, *next; s; s = next) {
    next = s->next;
    proxy_sess_free(s);
  }
  dsb_rpc_pending_del(px->out);
  dsb_rpc_pending_del(px->fwd);
  dsb_services_del(px->svc);
  dsb_policy_del(px->policy);
  free(px);
}

static void proxy_on_handle_closed(uv_handle_t *h) {
  dsbd_proxy *px = h->data;
  if (--px->handles_open == 0) {
    proxy_free(px);
  }
}

int dsbd_proxy_new(dsbd_proxy **ppx, dsbd *d) {
  const dsbd_proxy_config *pc = &dsbd_cfg(d)->proxy;
  dsbd_proxy *px = calloc(1, sizeof(*px));
  if (!px) {
    return DSB_ERR_NOMEM;
  }
  px->d = d;
  int rv;
  if (pc->policy[0]) {
    char err[512] = "";
    rv = proxy_load_policy(&px->policy, pc->policy, err, sizeof(err));
    if (rv) {
      dsbd_log(d, DSB_LOG_ERROR, "policy %s", err[0] ? err : pc->policy);
      goto fail_policy;
    }
    dsbd_log(d, DSB_LOG_INFO, "policy loaded from %s: %zu rules", pc->policy,
             dsb_policy_rule_count(px->policy));
  } else {
    rv = dsb_policy_new_default(&px->policy, NULL);
    if (rv) {
      goto fail_policy;
    }
  }
  dsb_rpc_limits_default(&px->limits);
  if (pc->max_request) {
    px->limits.max_request = pc->max_request;
  }
  if (pc->max_reply) {
    px->limits.max_reply = pc->max_reply;
  }
  rv = dsb_rpc_limits_check(&px->limits);
  if (rv) {
    rv = DSB_ERR_CONFIG;
    goto fail_services;
  }
  uint32_t tmo =
      pc->call_timeout_ms ? pc->call_timeout_ms : PROXY_DEFAULT_TIMEOUT_MS;
  px->call_timeout = (dsb_tstamp)tmo * DSB_NS_PER_MS;
  /* Apps get less time than remote callers wait, so the callee's
   * "timeout" reaches the caller before its own deadline. */
  px->fwd_timeout = px->call_timeout * 4 / 5;
  rv = dsb_services_new(&px->svc, NULL);
  if (rv) {
    goto fail_services;
  }
  dsb_rpc_pending_settings ps;
  dsb_rpc_pending_settings_default(&ps);
  ps.default_timeout = px->call_timeout;
  if (pc->max_calls_per_peer) {
    ps.max_calls_per_peer = pc->max_calls_per_peer;
    ps.max_calls_per_session = pc->max_calls_per_peer;
  }
  rv = dsb_rpc_pending_new(&px->out, NULL, &ps, NULL);
  if (rv) {
    goto fail_out;
  }
  rv = dsb_rpc_pending_new(&px->fwd, NULL, &ps, NULL);
  if (rv) {
    goto fail_fwd;
  }
  uv_timer_init(dsbd_loop(d), &px->timer);
  uv_signal_init(dsbd_loop(d), &px->sighup);
  px->timer.data = px->sighup.data = px;
  px->handles_open = 2;
  uv_signal_start(&px->sighup, proxy_on_sighup, SIGHUP);
  *ppx = px;
  return 0;

fail_fwd:
  dsb_rpc_pending_del(px->out);
fail_out:
  dsb_services_del(px->svc);
fail_services:
  dsb_policy_del(px->policy);
fail_policy:
  free(px);
  return rv;
}

void dsbd_proxy_close(dsbd_proxy *px) {
  if (!px || px->closing) {
    return;
  }
  px->closing = 1;
  uv_timer_stop(&px->timer);
  uv_signal_stop(&px->sighup);
  uv_close((uv_handle_t *)&px->timer, proxy_on_handle_closed);
  uv_close((uv_handle_t *)&px->sighup, proxy_on_handle_closed);
}
