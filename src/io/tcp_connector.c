/*
 * tcp_connector.c - connections of the TCP transport (tcp_transport.c)
 * whose socket is not accepted from the listener: dsb_tcp_connect, which
 * connects directly or asks the installed connector (the netstackd hook,
 * dsb_tcp_set_connector) for a connected socket delivered later through
 * dsb_tcp_conn_supply_fd, and dsb_tcp_adopt for a socket connected
 * elsewhere. Once connected, the connection runs as in tcp_conn.c.
 */
#include <string.h>

#include <unistd.h>

#include "dsb/err.h"
#include "dsb/session.h"
#include "dsb/tcp.h"
#include "tcp_internal.h"

/* An outbound socket is connected: start the initiator handshake. */
static void conn_connected(dsb_tcp_conn *c) {
  int rv;

  {
    int namelen = sizeof(c->addr);
    (void)uv_tcp_getpeername(&c->handle, (struct sockaddr *)&c->addr, &namelen);
  }
  tcp_conn_set_nodelay(c);
  rv = tcp_conn_start_reading(c);
  if (rv != 0) {
    tcp_conn_close(c, rv, 0);
    return;
  }
  tcp_conn_pump_handshake(c);
}

static void conn_on_connect(uv_connect_t *req, int status) {
  dsb_tcp_conn *c = req->data;

  c->flags &= ~CONN_F_CONNECTING;
  if (c->flags & CONN_F_CLOSING) {
    return; /* UV_ECANCELED: the handle is closing */
  }
  if (status < 0) {
    tcp_log(c->tcp, DSB_LOG_INFO, "tcp: connect failed: %s",
            uv_strerror(status));
    tcp_conn_close(c, DSB_ERR_IO, 0);
    return;
  }
  conn_connected(c);
}

int dsb_tcp_connect(dsb_tcp *tcp, dsb_tcp_conn **pconn,
                    const struct sockaddr *addr,
                    const uint8_t remote_static[static 32],
                    const dsb_device_id *expected, void *conn_user) {
  dsb_tcp_conn *c;
  int rv;

  if (!tcp || !pconn || !addr || !remote_static || !expected) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (tcp->deleting) {
    return DSB_ERR_CLOSED;
  }
  if (tcp->nconns >= tcp->settings.max_conns) {
    return DSB_ERR_LIMIT;
  }
  rv = tcp_conn_new(tcp, &c, CONN_F_CONNECTING);
  if (rv != 0) {
    return rv;
  }
  c->user = conn_user;
  rv = tcp_conn_new_session(c, DSB_SESSION_INITIATOR, remote_static, expected);
  if (rv != 0) {
    goto fail;
  }
  if (tcp->connector.start) {
    /* The socket comes later through dsb_tcp_conn_supply_fd(). */
    c->flags |= CONN_F_AWAIT_FD;
    rv = tcp->connector.start(tcp->connector.ctx, c, addr);
    if (rv != 0) {
      c->flags &= ~CONN_F_AWAIT_FD;
      goto fail;
    }
  } else {
    c->creq.data = c;
    rv = uv_tcp_connect(&c->creq, &c->handle, addr, conn_on_connect);
    if (rv < 0) {
      tcp_log(tcp, DSB_LOG_INFO, "tcp: connect: %s", uv_strerror(rv));
      rv = DSB_ERR_IO;
      goto fail;
    }
  }
  tcp_conn_count(c);
  c->flags |= CONN_F_NOTIFY;
  tcp_conn_arm_deadline(c);
  *pconn = c;
  return 0;

fail:
  /* Not counted and not notified: close quietly. */
  c->flags &= ~CONN_F_CONNECTING;
  c->flags |= CONN_F_CLOSING;
  dsb_session_close(c->session);
  tcp_conn_close_handles(c);
  return rv;
}

void dsb_tcp_set_connector(dsb_tcp *tcp, const dsb_tcp_connector *connector) {
  if (!tcp) {
    return;
  }
  if (connector) {
    tcp->connector = *connector;
  } else {
    memset(&tcp->connector, 0, sizeof(tcp->connector));
  }
}

void dsb_tcp_conn_supply_fd(dsb_tcp_conn *conn, uv_os_sock_t fd, int err) {
  if (!conn || !(conn->flags & CONN_F_AWAIT_FD)) {
    /* Cancelled (or never asked): the socket has no taker. */
    if (fd >= 0) {
      close(fd);
    }
    return;
  }
  conn->flags &= ~(CONN_F_AWAIT_FD | CONN_F_CONNECTING);
  if (fd < 0) {
    tcp_conn_close(conn, err < 0 ? err : DSB_ERR_IO, 0);
    return;
  }
  if (uv_tcp_open(&conn->handle, fd) < 0) {
    close(fd);
    tcp_conn_close(conn, DSB_ERR_IO, 0);
    return;
  }
  conn_connected(conn);
}

int dsb_tcp_adopt(dsb_tcp *tcp, dsb_tcp_conn **pconn, uv_os_sock_t fd,
                  dsb_session_role role, const uint8_t *remote_static,
                  const dsb_device_id *expected, void *conn_user) {
  dsb_tcp_conn *c;
  socklen_t namelen;
  int rv;

  if (!tcp || !pconn || fd < 0) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (role == DSB_SESSION_INITIATOR ? (!remote_static || !expected)
                                    : (remote_static || expected)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (tcp->deleting) {
    return DSB_ERR_CLOSED;
  }
  if (tcp->nconns >= tcp->settings.max_conns) {
    return DSB_ERR_LIMIT;
  }
  rv =
      tcp_conn_new(tcp, &c, role == DSB_SESSION_RESPONDER ? CONN_F_INBOUND : 0);
  if (rv != 0) {
    return rv;
  }
  c->user = conn_user;
  /* Everything that can fail happens before libuv takes the fd, so a
   * failure leaves it with the caller. */
  namelen = sizeof(c->addr);
  if (getpeername(fd, (struct sockaddr *)&c->addr, &namelen) != 0) {
    rv = DSB_ERR_IO;
    goto fail;
  }
  if (role == DSB_SESSION_RESPONDER) {
    rv = tcp_conn_admit(c);
  } else {
    rv =
        tcp_conn_new_session(c, DSB_SESSION_INITIATOR, remote_static, expected);
    if (rv == 0) {
      tcp_conn_count(c);
    }
  }
  if (rv != 0) {
    goto fail;
  }
  if (uv_tcp_open(&c->handle, fd) < 0) {
    rv = DSB_ERR_IO;
    goto fail_open;
  }
  c->flags |= CONN_F_NOTIFY;
  tcp_conn_set_nodelay(c);
  tcp_conn_arm_deadline(c);
  *pconn = c;
  rv = tcp_conn_start_reading(c);
  if (rv != 0) {
    /* Owned now: report through on_closed like any other failure. */
    tcp_conn_close(c, rv, 0);
    return 0;
  }
  tcp_conn_pump_handshake(c);
  return 0;

fail_open:
  if (c->flags & CONN_F_HALF_OPEN) {
    c->flags &= ~CONN_F_HALF_OPEN;
    dsb_session_limits_release(tcp->limits);
    --tcp->stats.half_open;
  }
  if (c->flags & CONN_F_COUNTED) {
    c->flags &= ~CONN_F_COUNTED;
    --tcp->nconns;
    tcp->stats.conns = tcp->nconns;
  }
fail:
  c->flags |= CONN_F_CLOSING;
  dsb_session_close(c->session);
  tcp_conn_close_handles(c);
  return rv;
}
