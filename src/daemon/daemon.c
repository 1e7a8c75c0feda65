/*
 * daemon.c - dsoftbusd wiring: identity, trust store, discovery, the TCP
 * session transport, the local API, signals, counters and clean shutdown.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "dsb/crypto.h"
#include "dsb/err.h"
#include "dsb/keystore.h"
#include "dsb/statefile.h"
#include "backend.h"
#include "proxy.h"
#include "daemon_int.h"

/* ---- logging ------------------------------------------------------------ */

static int daemon_log_level = DSB_LOG_INFO;

void dsbd_log_set_level(int level) {
  daemon_log_level = level;
}

/* The attribute lets clang check callers' formats (and accept the
 * non-literal format here, as -Wformat=2 would otherwise refuse). */
static void daemon_vlog(dsb_log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void daemon_vlog(dsb_log_level level, const char *fmt, va_list ap) {
  static const char *names[] = {"error", "warn", "info", "debug"};
  if ((int)level > daemon_log_level) {
    return;
  }
  char line[1024];
  vsnprintf(line, sizeof(line), fmt, ap);
  fprintf(stderr, "dsoftbusd[%ld] %s: %s\n", (long)getpid(),
          names[level <= DSB_LOG_DEBUG ? level : DSB_LOG_DEBUG], line);
}

void dsbd_logf(dsb_log_level level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  daemon_vlog(level, fmt, ap);
  va_end(ap);
}

void dsbd_log(dsbd *d, dsb_log_level level, const char *fmt, ...) {
  (void)d;
  va_list ap;
  va_start(ap, fmt);
  daemon_vlog(level, fmt, ap);
  va_end(ap);
}

static void daemon_core_log_fn(void *ctx, dsb_log_level level,
                               const char *msg) {
  (void)ctx;
  dsbd_logf(level, "%s", msg);
}

const dsb_log *dsbd_core_log(void) {
  static const dsb_log log = {daemon_core_log_fn, NULL};
  return &log;
}

dsb_tstamp dsbd_now(void) {
  return uv_hrtime();
}

/* ---- counters ----------------------------------------------------------- */

void dsbd_count(dsbd *d, const char *label, uint64_t n) {
  for (size_t i = 0; i < d->ncounters; ++i) {
    if (strcmp(d->counters[i].label, label) == 0) {
      d->counters[i].value += n;
      return;
    }
  }
  if (d->ncounters >= DSBD_MAX_COUNTERS ||
      strlen(label) >= sizeof(d->counters[0].label)) {
    return; /* bounded: new labels beyond the cap are not tracked */
  }
  snprintf(d->counters[d->ncounters].label, sizeof(d->counters[0].label), "%s",
           label);
  d->counters[d->ncounters++].value = n;
}

typedef struct daemon_list_ctx {
  uint8_t *dst;
  size_t dstlen;
  size_t off;
  uint16_t start;
  uint16_t index;
  uint16_t count;
  int full;
} daemon_list_ctx;

static void daemon_add_counter(void *ctx, const char *label, uint64_t v) {
  daemon_list_ctx *lc = ctx;
  uint16_t idx = lc->index++;
  if (idx < lc->start || lc->full) {
    return;
  }
  dsb_ipc_counter c = {dsb_ipc_cstr(label), v};
  long n = dsb_ipc_counter_encode(lc->dst + lc->off, lc->dstlen - lc->off, &c);
  if (n == DSB_ERR_NOBUF) {
    lc->full = 1;
    return;
  }
  if (n > 0) {
    lc->off += (size_t)n;
    lc->count++;
  }
}

long dsbd_status_list(dsbd *d, uint8_t *dst, size_t dstlen, uint16_t start,
                      uint16_t *total, uint16_t *count) {
  daemon_list_ctx lc = {dst, dstlen, 0, start, 0, 0, 0};
  dsbd_stream_stats ss;
  dsbd_streams_stats(&ss);
  daemon_add_counter(&lc, "peers", dsbd_disc_count(d));
  daemon_add_counter(&lc, "sessions", dsbd_peers_sessions(d->peers));
  daemon_add_counter(&lc, "streams", ss.live);
  daemon_add_counter(&lc, "streams_opened", ss.opened);
  daemon_add_counter(&lc, "app_bytes_in", ss.app_bytes_in);
  daemon_add_counter(&lc, "app_bytes_out", ss.app_bytes_out);
  daemon_add_counter(&lc, "clients", dsbd_api_clients(d->api));
  if (d->tcp) {
    dsb_tcp_stats ts;
    dsb_tcp_get_stats(d->tcp, &ts);
    daemon_add_counter(&lc, "handshakes_ok", ts.handshakes_ok);
    daemon_add_counter(&lc, "handshakes_failed", ts.handshakes_failed);
    daemon_add_counter(&lc, "connections_accepted", ts.accepted);
    daemon_add_counter(&lc, "connections_refused", ts.refused);
  }
  dsbd_peers_add_counters(d->peers, daemon_add_counter, &lc);
  dsbd_proxy_add_counters(d->proxy, daemon_add_counter, &lc);
  for (size_t i = 0; i < d->ncounters; ++i) {
    daemon_add_counter(&lc, d->counters[i].label, d->counters[i].value);
  }
  *total = lc.index;
  *count = lc.count;
  return (long)lc.off;
}

/* ---- accessors ---------------------------------------------------------- */

uv_loop_t *dsbd_loop(dsbd *d) {
  return &d->loop;
}
const dsb_identity *dsbd_identity(const dsbd *d) {
  return &d->ident;
}
const dsbd_config *dsbd_cfg(const dsbd *d) {
  return &d->cfg;
}
const char *dsbd_self_text(const dsbd *d) {
  return d->self_text;
}
uint16_t dsbd_session_port(const dsbd *d) {
  return d->port;
}
int dsbd_stopping(const dsbd *d) {
  return d->stopping;
}

/* ---- TCP transport callbacks --------------------------------------------- */

static int daemon_peer_check(void *ctx, const dsb_device_id *peer) {
  return dsbd_trust_check(ctx, peer);
}

static int daemon_start_tcp(dsbd *d) {
  dsb_tcp_callbacks cb;
  memset(&cb, 0, sizeof(cb));
  dsbd_peers_tcp_callbacks(&cb); /* includes on_reject */
  dsb_tcp_config tc;
  memset(&tc, 0, sizeof(tc));
  tc.loop = &d->loop;
  tc.local = &d->ident;
  tc.callbacks = &cb;
  tc.user_data = d->peers;
  tc.peer_check = daemon_peer_check;
  tc.peer_check_ctx = d;
  tc.log = dsbd_core_log();
  int rv = dsb_tcp_new(&d->tcp, &tc);
  if (rv) {
    return rv;
  }
  /* Direct: IPv6 dual stack, else IPv4; netstackd: its listener. */
  rv = dsbd_backend_listen(d, d->tcp);
  if (rv) {
    return rv;
  }
  struct sockaddr_storage ss;
  rv = dsb_tcp_listen_addr(d->tcp, &ss);
  if (rv) {
    return rv;
  }
  d->port =
      ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                     : ((struct sockaddr_in *)&ss)->sin_port);
  return 0;
}

/* ---- signals, timers, shutdown ------------------------------------------ */

static void daemon_close_cb(uv_handle_t *h) {
  (void)h;
}

static void daemon_stop(dsbd *d, const char *why) {
  if (d->stopping) {
    return;
  }
  d->stopping = 1;
  dsbd_log(d, DSB_LOG_INFO, "shutting down (%s)", why);
  /* Order: say goodbye first so peers stop dialling us, then reset streams
   * with a reason and close sessions, then the local API; state files are
   * written synchronously on every change, so nothing is left to flush. */
  dsbd_disc_stop(d);
  dsbd_peers_del(d->peers);
  d->peers = NULL;
  if (d->tcp) {
    dsb_tcp_del(d->tcp);
    d->tcp = NULL;
  }
  dsbd_api_del(d->api);
  d->api = NULL;
  dsbd_proxy_close(d->proxy);
  d->proxy = NULL;
  dsbd_backend_close(d);
  uv_close((uv_handle_t *)&d->sigint, daemon_close_cb);
  uv_close((uv_handle_t *)&d->sigterm, daemon_close_cb);
  uv_close((uv_handle_t *)&d->sigpipe, daemon_close_cb);
  uv_close((uv_handle_t *)&d->tick, daemon_close_cb);
}

static void daemon_on_signal(uv_signal_t *h, int signum) {
  dsbd *d = h->data;
  if (signum == SIGPIPE) {
    return;
  }
  daemon_stop(d, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

static void daemon_on_tick(uv_timer_t *t) {
  dsbd *d = t->data;
  if (!d->stopping) {
    dsbd_peers_tick(d->peers);
  }
}

static int daemon_load_identity(dsbd *d) {
  uint32_t flags = 0;
  int rv =
      dsb_keystore_load_or_create(&d->ident, d->cfg.state_dir, NULL, &flags);
  if (rv) {
    dsbd_log(d, DSB_LOG_ERROR, "identity in %s: %s (%s)", d->cfg.state_dir,
             dsb_err_describe(rv), dsb_strerror(rv));
    return rv;
  }
  dsb_device_id_format(d->self_text, &d->ident.id);
  dsbd_log(d, DSB_LOG_INFO, "%s identity %s in %s",
           (flags & DSB_KEYSTORE_CREATED) ? "created" : "loaded", d->self_text,
           d->cfg.state_dir);
  return 0;
}

int dsbd_run(const dsbd_config *cfg) {
  dsbd *d = calloc(1, sizeof(*d));
  int status = 1;
  if (!d) {
    fprintf(stderr, "dsoftbusd: out of memory\n");
    return 1;
  }
  d->cfg = *cfg;
  if (uv_loop_init(&d->loop)) {
    free(d);
    return 1;
  }
  /* The policy first: an invalid policy file must stop the daemon before
   * it does anything. */
  int rv = dsbd_proxy_new(&d->proxy, d);
  if (rv) {
    goto fail_identity;
  }
  rv = daemon_load_identity(d);
  if (rv) {
    goto fail_identity;
  }
  rv = dsbd_trust_open(d);
  if (rv) {
    dsbd_log(d, DSB_LOG_ERROR, "trust store in %s: %s (%s)", d->cfg.state_dir,
             dsb_err_describe(rv), dsb_strerror(rv));
    goto fail_trust;
  }
  rv = dsbd_peers_new(&d->peers, d);
  if (rv) {
    goto fail_peers;
  }
  rv = dsbd_backend_open(d);
  if (rv) {
    dsbd_log(d, DSB_LOG_ERROR, "backend: %s", dsb_err_describe(rv));
    goto fail_tcp;
  }
  rv = daemon_start_tcp(d);
  if (rv) {
    dsbd_log(d, DSB_LOG_ERROR, "session listener on port %d: %s", d->cfg.port,
             dsb_err_describe(rv));
    goto fail_tcp;
  }
  rv = dsbd_api_new(&d->api, d, d->cfg.socket_path);
  if (rv) {
    goto fail_api;
  }
  rv = dsbd_disc_start(d);
  if (rv) {
    dsbd_log(d, DSB_LOG_ERROR, "discovery: %s (%s)", dsb_err_describe(rv),
             dsb_strerror(rv));
    goto fail_disc;
  }
  /* Every Unix socket exists now: netstackd mode enters the sandbox. */
  rv = dsbd_backend_seal(d);
  if (rv) {
    dsbd_disc_stop(d);
    goto fail_disc;
  }
  uv_signal_init(&d->loop, &d->sigint);
  uv_signal_init(&d->loop, &d->sigterm);
  uv_signal_init(&d->loop, &d->sigpipe);
  d->sigint.data = d->sigterm.data = d->sigpipe.data = d;
  uv_signal_start(&d->sigint, daemon_on_signal, SIGINT);
  uv_signal_start(&d->sigterm, daemon_on_signal, SIGTERM);
  /* Writes to a departed app's socket must fail with EPIPE, not kill us. */
  uv_signal_start(&d->sigpipe, daemon_on_signal, SIGPIPE);
  uv_timer_init(&d->loop, &d->tick);
  d->tick.data = d;
  uv_timer_start(&d->tick, daemon_on_tick, 200, 200);
  dsbd_log(d, DSB_LOG_INFO,
           "ready: device %s name \"%s\" session port %u socket %s",
           d->self_text, d->cfg.name, d->port, d->cfg.socket_path);
  uv_run(&d->loop, UV_RUN_DEFAULT);
  status = 0;
  goto done;

fail_disc:
  dsbd_api_del(d->api);
  d->api = NULL;
fail_api:
fail_tcp:
  dsbd_peers_del(d->peers);
  d->peers = NULL;
  dsb_tcp_del(d->tcp);
  d->tcp = NULL;
fail_peers:
fail_trust:
fail_identity:
  status = 1;
done:
  dsbd_proxy_close(d->proxy);
  d->proxy = NULL;
  dsbd_backend_close(d);
  /* Let libuv run the close callbacks of everything torn down. */
  uv_run(&d->loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&d->loop)) {
    dsbd_log(d, DSB_LOG_WARN, "event loop closed with live handles");
  }
  dsbd_trust_close(d);
  dsb_identity_wipe(&d->ident);
  dsbd_log(d, DSB_LOG_INFO, "stopped");
  free(d);
  return status;
}
dsb_tcp *dsbd_tcp(dsbd *d) {
  return d->tcp;
}
