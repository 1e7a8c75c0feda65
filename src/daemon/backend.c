/*
 * backend.c - the daemon's socket backends (backend.h): direct, or through
 * netstackd with the daemon sandboxed afterwards.
 *
 * In netstackd mode every network socket the daemon holds arrives from
 * netstackd: the session listener (TCP_LISTEN; the daemon accepts on it
 * itself), the two IPv4 discovery sockets per driver (UDP_BIND with the
 * multicast joins), and one connected socket per outbound session
 * (TCP_CONNECT, through the TCP transport's connector hook). Facade mode is
 * IPv4 only: netstackd hands out v6-only IPv6 sockets and the transport
 * has one listener, so an IPv4 listener plus IPv4 discovery keeps every
 * discovered address reachable.
 *
 * Interfaces come from netstackd's IFLIST, never from getifaddrs() here:
 * this process may run in its own network namespace (the systemd unit sets
 * PrivateNetwork=yes), where only the received sockets reach the network.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dsb/disc.h"
#include "dsb/err.h"
#include "dsb/netstack_client.h"
#include "dsb/sandbox.h"
#include "backend.h"
#include "daemon_int.h"

/* Start-up calls wait this long for netstackd's answer. */
#define BACKEND_CALL_TIMEOUT_MS 5000
/* An outbound TCP connect through netstackd (the session's handshake
 * deadline still applies on top). */
#define BACKEND_CONNECT_TIMEOUT_MS 10000
#define BACKEND_BACKLOG 128

typedef struct backend backend;

/* One outbound connect waiting for its socket. */
typedef struct backend_conn {
  struct backend_conn *next, *prev;
  backend *b;
  dsb_tcp_conn *conn; /* NULL once the transport cancelled */
  uint64_t nonce;
} backend_conn;

struct backend {
  dsbd *d;
  dsb_netstack_client *nc;
  backend_conn *conns;
  int was_down; /* netstackd went away after start-up */
  int closing;
  size_t nifaces;
  dsb_disc_udp_iface ifaces[DSB_DISC_UDP_MAX_IFACES];
};

int dsbd_backend_parse(const char *s) {
  if (strcmp(s, "direct") == 0) {
    return DSBD_BACKEND_DIRECT;
  }
  if (strcmp(s, "netstackd") == 0) {
    return DSBD_BACKEND_NETSTACKD;
  }
  return -1;
}

static backend *backend_of(dsbd *d) {
  return d->cfg.backend == DSBD_BACKEND_NETSTACKD ? d->backend : NULL;
}

/* ---- netstackd connection state ----------------------------------------- */

static void backend_on_state(dsb_netstack_client *c, int up, int err,
                             void *user_data) {
  (void)c;
  backend *b = user_data;
  if (b->closing) {
    return; /* our own disconnect at shutdown */
  }
  if (up) {
    if (b->was_down) {
      dsbd_count(b->d, "netstackd.reconnected", 1);
      dsbd_log(b->d, DSB_LOG_INFO,
               "netstackd is back: new connections possible again");
    }
    b->was_down = 0;
    return;
  }
  if (!b->was_down) {
    dsbd_count(b->d, "netstackd.down", 1);
    dsbd_log(b->d, DSB_LOG_WARN,
             "netstackd down (%s): existing sessions continue, new outbound "
             "connections fail until it is back",
             dsb_strerror(err));
  }
  b->was_down = 1;
}

/* ---- outbound connects (the TCP transport's connector) ------------------ */

static int backend_addr_from(dsb_netstack_addr *out,
                             const struct sockaddr *sa) {
  memset(out, 0, sizeof(*out));
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    out->family = DSB_NETSTACK_FAMILY_IPV4;
    memcpy(out->ip, &in->sin_addr, 4);
    out->port = ntohs(in->sin_port);
    return 0;
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    out->family = DSB_NETSTACK_FAMILY_IPV6;
    memcpy(out->ip, &in6->sin6_addr, 16);
    out->scope_id = in6->sin6_scope_id;
    out->port = ntohs(in6->sin6_port);
    return 0;
  }
  return DSB_ERR_INVALID_ARGUMENT;
}

static void backend_conn_free(backend_conn *bc) {
  backend *b = bc->b;
  if (bc->prev) {
    bc->prev->next = bc->next;
  } else {
    b->conns = bc->next;
  }
  if (bc->next) {
    bc->next->prev = bc->prev;
  }
  free(bc);
}

static void backend_on_connected(dsb_netstack_client *c, int err,
                                 const dsb_netstack_rep *rep, int fd,
                                 void *user_data) {
  (void)c;
  (void)rep;
  backend_conn *bc = user_data;
  backend *b = bc->b;
  dsb_tcp_conn *conn = bc->conn;
  backend_conn_free(bc);
  if (!conn) {
    if (fd >= 0) {
      close(fd); /* the session gave up meanwhile */
    }
    return;
  }
  if (err || fd < 0) {
    if (fd >= 0) {
      close(fd);
    }
    dsbd_count(b->d, "netstackd.connect_failed", 1);
    dsbd_log(b->d, DSB_LOG_INFO, "connect through netstackd: %s",
             dsb_err_describe(err ? err : DSB_ERR_NETSTACK_DESCRIPTOR));
    /* As a refused direct connect: the device is unreachable. */
    dsb_tcp_conn_supply_fd(conn, -1, DSB_ERR_IO);
    return;
  }
  dsb_tcp_conn_supply_fd(conn, fd, 0);
}

static int backend_connect_start(void *ctx, dsb_tcp_conn *conn,
                                 const struct sockaddr *addr) {
  backend *b = ctx;
  dsb_netstack_req req;
  memset(&req, 0, sizeof(req));
  req.op = DSB_NETSTACK_OP_TCP_CONNECT;
  int rv = backend_addr_from(&req.u.tcp_connect.remote, addr);
  if (rv) {
    return rv;
  }
  req.u.tcp_connect.timeout_ms = BACKEND_CONNECT_TIMEOUT_MS;
  backend_conn *bc = calloc(1, sizeof(*bc));
  if (!bc) {
    return DSB_ERR_NOMEM;
  }
  bc->b = b;
  bc->conn = conn;
  rv = dsb_netstack_client_request(b->nc, &req, backend_on_connected, bc);
  if (rv) {
    free(bc);
    dsbd_count(b->d, "netstackd.connect_failed", 1);
    dsbd_log(b->d, DSB_LOG_INFO, "connect through netstackd: %s",
             dsb_err_describe(rv));
    return rv;
  }
  bc->nonce = req.nonce;
  bc->next = b->conns;
  if (b->conns) {
    b->conns->prev = bc;
  }
  b->conns = bc;
  return 0;
}

static void backend_connect_cancel(void *ctx, dsb_tcp_conn *conn) {
  backend *b = ctx;
  for (backend_conn *bc = b->conns; bc; bc = bc->next) {
    if (bc->conn == conn) {
      /* The reply still comes (cancelled, or a socket to close). */
      bc->conn = NULL;
      (void)dsb_netstack_client_cancel(b->nc, bc->nonce);
      return;
    }
  }
}

/* ---- start-up ------------------------------------------------------------ */

int dsbd_backend_open(dsbd *d) {
  if (d->cfg.backend != DSBD_BACKEND_NETSTACKD) {
    return 0;
  }
  backend *b = calloc(1, sizeof(*b));
  if (!b) {
    return DSB_ERR_NOMEM;
  }
  b->d = d;
  dsb_netstack_client_settings s;
  memset(&s, 0, sizeof(s));
  s.socket_path = d->cfg.netstackd_socket;
  s.state_cb = backend_on_state;
  s.user_data = b;
  int rv = dsb_netstack_client_new(&b->nc, &d->loop, &s);
  if (rv) {
    free(b);
    return rv;
  }
  d->backend = b;
  return 0;
}

/* A blocking start-up request; logs what failed. */
static int backend_call(backend *b, dsb_netstack_req *req,
                        dsb_netstack_rep *rep, int *fd, const char *what) {
  int rv =
      dsb_netstack_client_call(b->nc, req, rep, fd, BACKEND_CALL_TIMEOUT_MS);
  if (rv) {
    dsbd_log(b->d, DSB_LOG_ERROR, "netstackd at %s: %s: %s (%s)",
             b->d->cfg.netstackd_socket, what, dsb_err_describe(rv),
             dsb_strerror(rv));
  }
  return rv;
}

/* Direct mode: dual-stack IPv6 when the host has it, else IPv4. */
static int backend_listen_direct(dsbd *d, dsb_tcp *tcp) {
  struct sockaddr_in6 a6;
  memset(&a6, 0, sizeof(a6));
  a6.sin6_family = AF_INET6;
  a6.sin6_addr = in6addr_any;
  a6.sin6_port = htons((uint16_t)d->cfg.port);
  int rv = dsb_tcp_listen(tcp, (const struct sockaddr *)&a6, 0);
  if (rv) {
    struct sockaddr_in a4;
    memset(&a4, 0, sizeof(a4));
    a4.sin_family = AF_INET;
    a4.sin_addr.s_addr = htonl(INADDR_ANY);
    a4.sin_port = htons((uint16_t)d->cfg.port);
    rv = dsb_tcp_listen(tcp, (const struct sockaddr *)&a4, 0);
  }
  return rv;
}

int dsbd_backend_listen(dsbd *d, dsb_tcp *tcp) {
  backend *b = backend_of(d);
  if (!b) {
    return backend_listen_direct(d, tcp);
  }
  dsb_netstack_req req;
  dsb_netstack_rep rep;
  int fd = -1;
  memset(&req, 0, sizeof(req));
  req.op = DSB_NETSTACK_OP_TCP_LISTEN;
  req.u.tcp_listen.local.family = DSB_NETSTACK_FAMILY_IPV4; /* 0.0.0.0 */
  req.u.tcp_listen.local.port = (uint16_t)d->cfg.port;
  req.u.tcp_listen.backlog = BACKEND_BACKLOG;
  int rv = backend_call(b, &req, &rep, &fd, "session listener");
  if (rv) {
    return rv;
  }
  rv = dsb_tcp_listen_fd(tcp, fd);
  if (rv) {
    close(fd);
    return rv;
  }
  dsb_tcp_connector conn = {backend_connect_start, backend_connect_cancel, b};
  dsb_tcp_set_connector(tcp, &conn);
  return 0;
}

/* The multicast interfaces from IFLIST: the one named |ifname|, or every
 * up, multicast-capable, non-loopback one; each with an IPv4 address. */
static int backend_pick_ifaces(backend *b, const char *ifname) {
  dsb_netstack_req req;
  dsb_netstack_rep *rep = malloc(sizeof(*rep));
  int fd = -1;
  if (!rep) {
    return DSB_ERR_NOMEM;
  }
  memset(&req, 0, sizeof(req));
  req.op = DSB_NETSTACK_OP_IFLIST;
  int rv = backend_call(b, &req, rep, &fd, "interface list");
  b->nifaces = 0;
  for (size_t i = 0; rv == 0 && i < rep->u.iflist.count; ++i) {
    const dsb_netstack_iface *f = &rep->u.iflist.ifaces[i];
    if (ifname ? strcmp(f->ifname.name, ifname) != 0
               : !(f->flags & DSB_NETSTACK_IF_UP) ||
                     !(f->flags & DSB_NETSTACK_IF_MULTICAST) ||
                     (f->flags & DSB_NETSTACK_IF_LOOPBACK)) {
      continue;
    }
    for (size_t k = 0; k < f->naddrs; ++k) {
      if (f->addrs[k].addr.family != DSB_NETSTACK_FAMILY_IPV4 ||
          b->nifaces >= DSB_NETSTACK_MAX_GROUPS) {
        continue;
      }
      dsb_disc_udp_iface *o = &b->ifaces[b->nifaces++];
      memset(o, 0, sizeof(*o));
      snprintf(o->name, sizeof(o->name), "%s", f->ifname.name);
      o->index = f->index;
      memcpy(o->v4, f->addrs[k].addr.ip, 4);
      break; /* one address per interface is the egress */
    }
  }
  free(rep);
  if (rv == 0 && ifname && b->nifaces == 0) {
    dsbd_log(b->d, DSB_LOG_ERROR,
             "discovery: netstackd lists no interface %s with an IPv4 "
             "address",
             ifname);
    rv = DSB_ERR_CONFIG;
  }
  return rv;
}

/* UDP_BIND on 0.0.0.0 / 127.0.0.1, joined on every picked interface. */
static int backend_udp_bind(backend *b, uint16_t port, int loopback,
                            uint8_t flags, int *fd, const char *what) {
  dsb_netstack_req req;
  dsb_netstack_rep rep;
  memset(&req, 0, sizeof(req));
  req.op = DSB_NETSTACK_OP_UDP_BIND;
  dsb_netstack_udp_bind *u = &req.u.udp_bind;
  u->local.family = DSB_NETSTACK_FAMILY_IPV4;
  u->local.port = port;
  if (loopback) {
    u->local.ip[0] = 127;
    u->local.ip[3] = 1;
  }
  u->flags = flags | DSB_NETSTACK_UDP_MCAST_LOOP;
  /* TTL 0 keeps loopback-mode multicast on this host, 1 on the link. */
  u->mcast_ttl = loopback ? 0 : 1;
  u->ngroups = (uint8_t)b->nifaces;
  for (size_t i = 0; i < b->nifaces; ++i) {
    snprintf(u->groups[i].ifname.name, sizeof(u->groups[i].ifname.name), "%s",
             b->ifaces[i].name);
    u->groups[i].group.family = DSB_NETSTACK_FAMILY_IPV4;
    if (inet_pton(AF_INET, DSB_DISC_GROUP_V4, u->groups[i].group.ip) != 1) {
      return DSB_ERR_INTERNAL;
    }
  }
  return backend_call(b, &req, &rep, fd, what);
}

int dsbd_backend_disc_sockets(dsbd *d, dsb_disc_udp_config *c) {
  backend *b = backend_of(d);
  if (!b) {
    return 0;
  }
  int rx = -1, tx = -1;
  int loopback = c->ifname && strcmp(c->ifname, "lo") == 0;
  c->flags |= DSB_DISC_UDP_NO_IPV6; /* see the top of this file */
  int rv = 0;
  if (!(c->flags & DSB_DISC_UDP_NO_MULTICAST)) {
    rv = backend_pick_ifaces(b, c->ifname);
    if (rv) {
      return rv;
    }
  } else {
    b->nifaces = 0;
  }
  if (b->nifaces == 0) {
    if (c->npeers == 0) {
      dsbd_log(d, DSB_LOG_ERROR,
               "discovery: no multicast interface and no unicast peers");
      return DSB_ERR_IO;
    }
    c->flags |= DSB_DISC_UDP_NO_MULTICAST;
  }
  /* Receive: the shared discovery port (several daemons on one host). */
  rv = backend_udp_bind(b, c->port, 0, DSB_NETSTACK_UDP_REUSEADDR, &rx,
                        "discovery socket");
  if (rv == 0) {
    /* Send: an ephemeral port, which also gets the unicast answers. */
    rv = backend_udp_bind(b, 0, loopback, 0, &tx, "discovery send socket");
  }
  if (rv) {
    if (rx >= 0) {
      close(rx);
    }
    return rv;
  }
#ifdef IP_MULTICAST_ALL
  /* Only the groups this socket joined (as the direct driver does). */
  int zero = 0;
  (void)setsockopt(rx, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof(zero));
#endif
  c->rx_fd_v4 = rx;
  c->tx_fd_v4 = tx;
  c->ifaces = b->nifaces ? b->ifaces : NULL;
  c->nifaces = b->nifaces;
  return 0;
}

int dsbd_backend_seal(dsbd *d) {
  backend *b = backend_of(d);
  if (!b) {
    return 0;
  }
  unsigned applied = 0;
  int rv = dsb_sandbox_enter_facade(&applied);
  if (rv) {
    dsbd_log(d, DSB_LOG_ERROR,
             "sandbox: %s (%s); refusing to run in facade mode without it",
             dsb_err_describe(rv), dsb_strerror(rv));
    return rv;
  }
  /* Fail closed if the filter does not hold, whatever the reason. */
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int err = errno;
  if (fd >= 0 || err != EPERM) {
    if (fd >= 0) {
      close(fd);
    }
    dsbd_log(d, DSB_LOG_ERROR,
             "sandbox: socket(AF_INET) was not refused with EPERM; stopping");
    return DSB_ERR_INTERNAL;
  }
  dsbd_log(d, DSB_LOG_INFO,
           "sandbox: seccomp filter%s, no_new_privs, capabilities dropped; "
           "socket(AF_INET) -> EPERM",
           (applied & DSB_SANDBOX_LANDLOCK_NET) ? ", Landlock TCP" : "");
  /* From now on the client reconnects by itself when netstackd returns. */
  return dsb_netstack_client_start(b->nc);
}

void dsbd_backend_close(dsbd *d) {
  backend *b = d->backend;
  if (!b) {
    return;
  }
  d->backend = NULL;
  b->closing = 1;
  /* Any connect still waiting belongs to a transport that is gone or
   * going: only close the sockets that may still arrive. */
  for (backend_conn *bc = b->conns; bc; bc = bc->next) {
    bc->conn = NULL;
  }
  dsb_netstack_client_del(b->nc); /* completes what is pending */
  /* The whole list goes: walk it with the next entry saved before the
   * current one is freed. */
  for (backend_conn *bc = b->conns, *next; bc; bc = next) {
    next = bc->next;
    backend_conn_free(bc);
  }
  free(b);
}
