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
 *
 * This file holds the proxy object's lifetime, its config keys, the policy
 * (load, SIGHUP reload, peer flags), the deadline timer of both tables and
 * the counters. The per-session streams and the callee side are in
 * proxy_session.c, the caller side and the local API requests in
 * proxy_calls.c; proxy_int.h has what they share.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsb/err.h"
#include "dsb/ipc_rpc.h"
#include "dsb/policy.h"
#include "dsb/rpc.h"
#include "dsb/services.h"
#include "daemon_int.h"
#include "proxy.h"
#include "proxy_int.h"

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

unsigned proxy_peer_flags(dsbd_proxy *px, const dsb_device_id *id) {
  return dsbd_trust_get(px->d, id) == DSB_IPC_TRUST_TRUSTED
             ? DSB_POLICY_PEER_TRUSTED
             : 0;
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

void proxy_arm(dsbd_proxy *px) {
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
