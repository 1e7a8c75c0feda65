/*
 * tcp_transport.c - the libuv TCP transport (include/dsb/tcp.h): one
 * dsb_session per connection, records in and out. This file holds the
 * transport object (settings, creation, deletion), the listener and
 * accept, admission of inbound connections (connection cap, per-source
 * rate limit, half-open cap) and the stats. A connection's own life is in
 * tcp_conn.c, outbound connections and adopted sockets in
 * tcp_connector.c; tcp_internal.h has what they share.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <netinet/in.h>
#include <unistd.h>

#include "dsb/crypto.h"
#include "dsb/err.h"
#include "dsb/session.h"
#include "dsb/tcp.h"
#include "tcp_internal.h"

void tcp_log(const dsb_tcp *t, dsb_log_level level, const char *fmt, ...) {
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

/* ---- admission and accept ----------------------------------------------
 */

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

void tcp_conn_count(dsb_tcp_conn *c) {
  c->flags |= CONN_F_COUNTED;
  ++c->tcp->nconns;
  c->tcp->stats.conns = c->tcp->nconns;
}

/* Admission of an inbound connection from c->addr: limits, then a
 * responder session. */
int tcp_conn_admit(dsb_tcp_conn *c) {
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
  rv = tcp_conn_new_session(c, DSB_SESSION_RESPONDER, NULL, NULL);
  if (rv != 0) {
    c->flags &= ~CONN_F_HALF_OPEN;
    dsb_session_limits_release(t->limits);
    --t->stats.half_open;
    return rv;
  }
  tcp_conn_count(c);
  ++t->stats.accepted;
  return 0;
}

static void tcp_on_connection(uv_stream_t *server, int status) {
  dsb_tcp *t = server->data;
  dsb_tcp_conn *c;
  int rv;

  if (status < 0 || t->deleting) {
    tcp_log(t, DSB_LOG_WARN, "tcp: accept: %s", uv_strerror(status));
    return;
  }
  if (tcp_conn_new(t, &c, CONN_F_INBOUND) != 0) {
    /* Without memory we cannot even accept to refuse; libuv retries. */
    ++t->stats.refused;
    return;
  }
  if (uv_accept(server, (uv_stream_t *)&c->handle) < 0) {
    ++t->stats.refused;
    tcp_conn_close(c, DSB_ERR_IO, 0);
    return;
  }
  {
    int namelen = sizeof(c->addr);
    rv = uv_tcp_getpeername(&c->handle, (struct sockaddr *)&c->addr, &namelen) <
                 0
             ? DSB_ERR_IO
             : tcp_conn_admit(c);
  }
  if (rv != 0) {
    ++t->stats.refused;
    tcp_conn_close(c, rv, 0);
    return;
  }
  tcp_conn_set_nodelay(c);
  tcp_conn_arm_deadline(c);
  rv = tcp_conn_start_reading(c);
  if (rv != 0) {
    tcp_conn_close(c, rv, 0);
  }
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

void tcp_maybe_free(dsb_tcp *t) {
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
    tcp_conn_close(c, DSB_ERR_CLOSED, 0);
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

void dsb_tcp_get_stats(const dsb_tcp *tcp, dsb_tcp_stats *stats) {
  *stats = tcp->stats;
}
