/*
 * server.c - netstackd's Unix SOCK_SEQPACKET server: one client at a time,
 * SO_PEERCRED checked against the allowed uid, every request decoded by the
 * bounded codec and checked against the policy before any socket exists.
 *
 * Descriptor rules: a socket created for the client is sent with SCM_RIGHTS
 * and closed here right after sendmsg(), whether the send worked or not;
 * descriptors a client tries to pass to us are closed unread; a pending
 * connect's socket is closed when it completes, times out, is cancelled or
 * its client goes away. netstackd keeps no socket of the client's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <uv.h>

#include "dsb/err.h"
#include "netstackd.h"
#include "server.h"

#define NSD_READS_PER_WAKEUP 64
#define NSD_MAX_PASSED_FDS 16 /* cmsg room, so stray fds can be closed */

typedef struct nsd_client nsd_client;

typedef struct nsd_pending {
  nsd_client *cl; /* NULL once detached from a closed client */
  nsd_server *srv;
  uint64_t nonce;
  int fd;
  int nclosing;
  uv_poll_t poll;
  uv_timer_t timer;
  struct nsd_pending *next;
} nsd_pending;

struct nsd_client {
  nsd_server *srv;
  int fd;
  int hello_done;
  int closing;
  size_t npending;
  nsd_pending *pending;
  uv_poll_t poll;
};

struct nsd_server {
  uv_loop_t *loop;
  const nsd_config *cfg;
  uid_t allow_uid;
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  int lfd;
  int stopping;
  uv_poll_t lpoll;
  nsd_client *client;
  nsd_server_stats stats;
};

/* ---- sending ------------------------------------------------------------- */

/* Send one encoded message with |fd| attached when fd >= 0. Closes |fd| in
 * every case: after sendmsg() the client holds its own reference. */
static int srv_sendmsg(int sock, const uint8_t *buf, size_t len, int fd) {
  struct iovec iov = {(void *)(uintptr_t)buf, len};
  union {
    struct cmsghdr h;
    char b[CMSG_SPACE(sizeof(int))];
  } ctl;
  struct msghdr msg;
  int rv = 0;

  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (fd >= 0) {
    memset(&ctl, 0, sizeof(ctl));
    msg.msg_control = ctl.b;
    msg.msg_controllen = sizeof(ctl.b);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  ssize_t n;
  do {
    n = sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0 || (size_t)n != len) {
    /* A client that does not read its replies is dropped rather than
     * buffered for without bound. */
    rv = DSB_ERR_IO;
  }
  if (fd >= 0) {
    close(fd);
  }
  return rv;
}

static void cl_close(nsd_client *cl);

static void cl_send(nsd_client *cl, const dsb_netstack_rep *rep, int fd) {
  uint8_t buf[DSB_NETSTACK_MAX_MSG];
  int n = dsb_netstack_rep_encode(buf, sizeof(buf), rep);
  if (n < 0) {
    nsd_log(DSB_LOG_ERROR, "cannot encode reply: %s", dsb_strerror(n));
    if (fd >= 0) {
      close(fd);
    }
    cl_close(cl);
    return;
  }
  if (cl->closing) {
    if (fd >= 0) {
      close(fd);
    }
    return;
  }
  if (srv_sendmsg(cl->fd, buf, (size_t)n, fd) != 0) {
    nsd_log(DSB_LOG_WARN, "client not reading replies; dropping it");
    cl_close(cl);
    return;
  }
  cl->srv->stats.replies++;
  if (fd >= 0) {
    cl->srv->stats.fds_sent++;
  }
}

static void cl_reply_err(nsd_client *cl, uint8_t op, uint64_t nonce, int err) {
  dsb_netstack_rep rep;
  memset(&rep, 0, sizeof(rep));
  rep.op = op;
  rep.nonce = nonce;
  rep.status = dsb_netstack_err_to_status(err);
  cl->srv->stats.rejected[rep.status]++;
  nsd_log(DSB_LOG_INFO, "op 0x%02x refused: %s", op, dsb_strerror(err));
  cl_send(cl, &rep, -1);
}

/* A packet we cannot attribute to a request op (or with no nonce at all). */
static void cl_notice(nsd_client *cl, uint64_t nonce, uint8_t status) {
  cl_reply_err(cl, DSB_NETSTACK_OP_NOTICE, nonce,
               dsb_netstack_status_to_err(status));
}

/* ---- pending connects ---------------------------------------------------- */

static void pending_closed(uv_handle_t *h) {
  nsd_pending *p = h->data;
  if (--p->nclosing == 0) {
    free(p);
  }
}

static void pending_unlink(nsd_pending *p) {
  nsd_client *cl = p->cl;
  if (cl == NULL) {
    return;
  }
  for (nsd_pending **pp = &cl->pending; *pp != NULL; pp = &(*pp)->next) {
    if (*pp == p) {
      *pp = p->next;
      cl->npending--;
      break;
    }
  }
  p->cl = NULL;
}

/* End a pending connect: reply (if the client is still there), close the
 * socket, release the handles. |err| 0 means connected. */
static void pending_finish(nsd_pending *p, int err) {
  nsd_client *cl = p->cl;
  dsb_netstack_rep rep;

  uv_poll_stop(&p->poll);
  uv_timer_stop(&p->timer);
  pending_unlink(p);
  memset(&rep, 0, sizeof(rep));
  rep.op = DSB_NETSTACK_OP_TCP_CONNECT;
  rep.nonce = p->nonce;
  if (err == 0) {
    err = nsd_tcp_connect_finish(p->fd, &rep.u.sock.local);
  }
  if (cl != NULL && err == 0) {
    cl_send(cl, &rep, p->fd); /* closes p->fd */
  } else {
    close(p->fd);
    if (cl != NULL) {
      cl_reply_err(cl, DSB_NETSTACK_OP_TCP_CONNECT, p->nonce, err);
    }
  }
  p->fd = -1;
  p->nclosing = 2;
  uv_close((uv_handle_t *)&p->poll, pending_closed);
  uv_close((uv_handle_t *)&p->timer, pending_closed);
}

static void pending_on_writable(uv_poll_t *h, int status, int events) {
  (void)events;
  pending_finish(h->data, status < 0 ? DSB_ERR_NETSTACK_SYSTEM : 0);
}

static void pending_on_timeout(uv_timer_t *t) {
  pending_finish(t->data, DSB_ERR_NETSTACK_CONNECT_TIMEOUT);
}

static nsd_pending *cl_find_pending(nsd_client *cl, uint64_t nonce) {
  for (nsd_pending *p = cl->pending; p != NULL; p = p->next) {
    if (p->nonce == nonce) {
      return p;
    }
  }
  return NULL;
}

/* ---- operations ---------------------------------------------------------- */

static int op_check_local(const nsd_config *cfg, const nsd_ports *ports,
                          const dsb_netstack_addr *a) {
  if (!nsd_config_family_ok(cfg, a->family)) {
    return DSB_ERR_NETSTACK_FAMILY;
  }
  if (!nsd_config_port_ok(ports, a->port)) {
    return DSB_ERR_NETSTACK_PORT;
  }
  if (!nsd_config_net_ok(&cfg->local_networks, a)) {
    return DSB_ERR_NETSTACK_LOCAL_ADDR;
  }
  return 0;
}

static int op_check_remote(const nsd_config *cfg, const dsb_netstack_addr *a,
                           int need_port) {
  if (!nsd_config_family_ok(cfg, a->family)) {
    return DSB_ERR_NETSTACK_FAMILY;
  }
  if (need_port &&
      (a->port == 0 || !nsd_config_port_ok(&cfg->connect_ports, a->port))) {
    return DSB_ERR_NETSTACK_PORT;
  }
  if (!nsd_config_net_ok(&cfg->destinations, a)) {
    return DSB_ERR_NETSTACK_DEST;
  }
  return 0;
}

static int op_connect(nsd_client *cl, const dsb_netstack_req *req) {
  nsd_server *srv = cl->srv;
  const nsd_config *cfg = srv->cfg;
  int fd = -1, in_progress = 0, rv;

  if ((rv = op_check_remote(cfg, &req->u.tcp_connect.remote, 1)) != 0) {
    return rv;
  }
  if (cl_find_pending(cl, req->nonce) != NULL) {
    return DSB_ERR_NETSTACK_DUPLICATE_NONCE;
  }
  if (cl->npending >= cfg->max_pending_connects) {
    return DSB_ERR_LIMIT;
  }
  nsd_pending *p = calloc(1, sizeof(*p));
  if (p == NULL) {
    return DSB_ERR_NOMEM;
  }
  if ((rv = nsd_tcp_connect_start(&fd, &in_progress,
                                  &req->u.tcp_connect.remote)) != 0) {
    free(p);
    return rv;
  }
  p->srv = srv;
  p->nonce = req->nonce;
  p->fd = fd;
  p->poll.data = p;
  p->timer.data = p;
  if (uv_poll_init(srv->loop, &p->poll, fd) != 0) {
    close(fd);
    free(p);
    return DSB_ERR_NETSTACK_SYSTEM;
  }
  uv_timer_init(srv->loop, &p->timer);
  p->cl = cl;
  p->next = cl->pending;
  cl->pending = p;
  cl->npending++;
  if (!in_progress) {
    pending_finish(p, 0);
    return 0;
  }
  if (uv_poll_start(&p->poll, UV_WRITABLE, pending_on_writable) != 0 ||
      uv_timer_start(&p->timer, pending_on_timeout,
                     req->u.tcp_connect.timeout_ms, 0) != 0) {
    pending_finish(p, DSB_ERR_NETSTACK_SYSTEM);
  }
  return 0; /* the reply comes from pending_finish() */
}

static int op_udp_bind(nsd_client *cl, const dsb_netstack_req *req,
                       dsb_netstack_rep *rep, int *fd) {
  const nsd_config *cfg = cl->srv->cfg;
  const dsb_netstack_udp_bind *b = &req->u.udp_bind;
  int rv;

  if ((rv = op_check_local(cfg, &cfg->bind_ports, &b->local)) != 0) {
    return rv;
  }
  for (size_t i = 0; i < b->ngroups; ++i) {
    if (!nsd_config_iface_ok(cfg, b->groups[i].ifname.name)) {
      return DSB_ERR_NETSTACK_IFACE;
    }
  }
  return nsd_udp_bind(fd, &rep->u.sock.local, b);
}

static void cl_dispatch(nsd_client *cl, const dsb_netstack_req *req) {
  const nsd_config *cfg = cl->srv->cfg;
  dsb_netstack_rep rep;
  int fd = -1, rv = 0;

  memset(&rep, 0, sizeof(rep));
  rep.op = req->op;
  rep.nonce = req->nonce;
  if (!cl->hello_done && req->op != DSB_NETSTACK_OP_HELLO) {
    cl_reply_err(cl, req->op, req->nonce, DSB_ERR_NETSTACK_NOT_READY);
    return;
  }
  switch (req->op) {
  case DSB_NETSTACK_OP_HELLO:
    if (req->u.hello.version != DSB_NETSTACK_VERSION) {
      rv = DSB_ERR_NETSTACK_VERSION;
    } else {
      cl->hello_done = 1;
      rep.u.hello.version = DSB_NETSTACK_VERSION;
    }
    break;
  case DSB_NETSTACK_OP_TCP_LISTEN:
    rv = op_check_local(cfg, &cfg->listen_ports, &req->u.tcp_listen.local);
    if (rv == 0) {
      rv = nsd_tcp_listen(&fd, &rep.u.sock.local, &req->u.tcp_listen.local,
                          req->u.tcp_listen.backlog);
    }
    break;
  case DSB_NETSTACK_OP_TCP_CONNECT:
    rv = op_connect(cl, req);
    if (rv == 0) {
      return; /* replied when the connect completes */
    }
    break;
  case DSB_NETSTACK_OP_UDP_BIND:
    rv = op_udp_bind(cl, req, &rep, &fd);
    break;
  case DSB_NETSTACK_OP_LOCAL_ADDR:
    rv = op_check_remote(cfg, &req->u.local_addr.remote, 0);
    if (rv == 0) {
      rv = nsd_local_addr(&rep.u.local_addr.local, &req->u.local_addr.remote);
    }
    break;
  case DSB_NETSTACK_OP_IFLIST:
    rv = nsd_iflist(&rep, cfg);
    break;
  case DSB_NETSTACK_OP_CLOSE: {
    nsd_pending *p = cl_find_pending(cl, req->u.close.target);
    if (p == NULL) {
      rv = DSB_ERR_NETSTACK_UNKNOWN_HANDLE;
    } else {
      pending_finish(p, DSB_ERR_NETSTACK_CANCELLED);
    }
    break;
  }
  default:
    rv = DSB_ERR_IPC_UNKNOWN_OP;
    break;
  }
  if (rv != 0) {
    cl_reply_err(cl, req->op, req->nonce, rv);
    return;
  }
  cl_send(cl, &rep, fd);
}

static void cl_handle(nsd_client *cl, const uint8_t *buf, size_t len,
                      int bad_framing) {
  dsb_netstack_req req;
  uint8_t op;
  uint64_t nonce;

  cl->srv->stats.requests++;
  if (dsb_netstack_peek(&op, &nonce, buf, len) != 0) {
    cl_notice(cl, 0, DSB_NETSTACK_ST_MALFORMED);
    return;
  }
  int rv = bad_framing ? DSB_ERR_IPC_MALFORMED
                       : dsb_netstack_req_decode(&req, buf, len);
  if (rv == 0) {
    cl_dispatch(cl, &req);
    return;
  }
  if (nonce == 0) {
    cl_notice(cl, 0, DSB_NETSTACK_ST_MALFORMED);
  } else if (rv == DSB_ERR_IPC_UNKNOWN_OP) {
    cl_notice(cl, nonce, DSB_NETSTACK_ST_UNKNOWN_OP);
  } else {
    cl_reply_err(cl, op, nonce, rv);
  }
}

/* ---- client connection --------------------------------------------------- */

static void cl_closed(uv_handle_t *h) {
  nsd_client *cl = h->data;
  close(cl->fd);
  free(cl);
}

static void cl_close(nsd_client *cl) {
  if (cl->closing) {
    return;
  }
  cl->closing = 1;
  if (cl->srv->client == cl) {
    cl->srv->client = NULL;
  }
  while (cl->pending != NULL) {
    nsd_pending *p = cl->pending;
    pending_unlink(p); /* detached: no reply, socket closed */
    pending_finish(p, DSB_ERR_NETSTACK_CANCELLED);
  }
  uv_close((uv_handle_t *)&cl->poll, cl_closed);
  nsd_log(DSB_LOG_INFO, "client disconnected");
}

/* Close every descriptor a client passed; netstackd accepts none. */
static int cl_drop_fds(struct msghdr *msg) {
  int n = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL;
       c = CMSG_NXTHDR(msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      size_t cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < cnt; ++i) {
        int fd;
        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        close(fd);
        n++;
      }
    }
  }
  return n;
}

static void cl_on_readable(uv_poll_t *h, int status, int events) {
  nsd_client *cl = h->data;
  if (status < 0) {
    cl_close(cl);
    return;
  }
  for (int i = 0; i < NSD_READS_PER_WAKEUP && !cl->closing; ++i) {
    uint8_t buf[DSB_NETSTACK_MAX_MSG + 1];
    union {
      struct cmsghdr h;
      char b[CMSG_SPACE(NSD_MAX_PASSED_FDS * sizeof(int))];
    } ctl;
    struct iovec iov = {buf, sizeof(buf)};
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctl.b;
    msg.msg_controllen = sizeof(ctl.b);
    ssize_t n = recvmsg(cl->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        cl_close(cl);
      }
      break;
    }
    int stray = cl_drop_fds(&msg);
    if (n == 0) {
      cl_close(cl); /* orderly close by the client */
      break;
    }
    /* Oversized packets arrive cut to DSB_NETSTACK_MAX_MSG + 1 bytes, which
     * the decoder rejects; a stray descriptor or cut control data makes
     * the request malformed whatever its bytes. */
    int bad = stray > 0 || (msg.msg_flags & MSG_CTRUNC) != 0;
    cl_handle(cl, buf, (size_t)n, bad);
  }
  if (!cl->closing && (events & UV_DISCONNECT)) {
    cl_close(cl);
  }
}

/* ---- listener ------------------------------------------------------------ */

static void srv_refuse(nsd_server *srv, int fd, uint8_t status) {
  uint8_t buf[16];
  dsb_netstack_rep rep;
  memset(&rep, 0, sizeof(rep));
  rep.op = DSB_NETSTACK_OP_NOTICE;
  rep.status = status;
  int n = dsb_netstack_rep_encode(buf, sizeof(buf), &rep);
  if (n > 0) {
    (void)srv_sendmsg(fd, buf, (size_t)n, -1);
  }
  close(fd);
  srv->stats.refused_connections++;
}

static void srv_on_accept(uv_poll_t *h, int status, int events) {
  nsd_server *srv = h->data;
  (void)events;
  if (status < 0) {
    return;
  }
  for (;;) {
    int fd = accept4(srv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) {
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        nsd_log(DSB_LOG_WARN, "accept: %s", strerror(errno));
      }
      return;
    }
    struct ucred cr;
    socklen_t crlen = sizeof(cr);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) != 0 ||
        cr.uid != srv->allow_uid) {
      nsd_log(DSB_LOG_WARN, "refused client: uid %ld is not allowed",
              (long)cr.uid);
      srv_refuse(srv, fd, DSB_NETSTACK_ST_PEER_CRED);
      continue;
    }
    if (srv->client != NULL || srv->stopping) {
      nsd_log(DSB_LOG_WARN, "refused client pid %ld: already serving one",
              (long)cr.pid);
      srv_refuse(srv, fd, DSB_NETSTACK_ST_BUSY);
      continue;
    }
    nsd_client *cl = calloc(1, sizeof(*cl));
    if (cl == NULL || uv_poll_init(srv->loop, &cl->poll, fd) != 0) {
      free(cl);
      close(fd);
      continue;
    }
    cl->srv = srv;
    cl->fd = fd;
    cl->poll.data = cl;
    srv->client = cl;
    uv_poll_start(&cl->poll, UV_READABLE | UV_DISCONNECT, cl_on_readable);
    srv->stats.clients++;
    nsd_log(DSB_LOG_INFO, "client pid %ld uid %ld connected", (long)cr.pid,
            (long)cr.uid);
  }
}

static int srv_bind(nsd_server *srv, const char *path, unsigned mode) {
  struct sockaddr_un sun;
  struct stat st;
  int fd;

  if (strlen(path) >= sizeof(sun.sun_path)) {
    nsd_log(DSB_LOG_ERROR, "socket path too long: %s", path);
    return DSB_ERR_CONFIG;
  }
  /* Replace a stale socket from an earlier run, but never another file. */
  if (lstat(path, &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      nsd_log(DSB_LOG_ERROR, "%s exists and is not a socket", path);
      return DSB_ERR_EXISTS;
    }
    unlink(path);
  }
  fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return DSB_ERR_IO;
  }
  memset(&sun, 0, sizeof(sun));
  sun.sun_family = AF_UNIX;
  memcpy(sun.sun_path, path, strlen(path) + 1);
  /* Create the socket file owner-only, then widen to the configured mode,
   * so it is never briefly more open than configured. */
  mode_t old = umask(0177);
  int brv = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
  umask(old);
  if (brv != 0 || chmod(path, (mode_t)mode) != 0 || listen(fd, 8) != 0) {
    nsd_log(DSB_LOG_ERROR, "cannot listen on %s: %s", path, strerror(errno));
    close(fd);
    return DSB_ERR_IO;
  }
  if (geteuid() == 0 && srv->allow_uid != 0 &&
      chown(path, srv->allow_uid, (gid_t)-1) != 0) {
    nsd_log(DSB_LOG_ERROR, "cannot chown %s: %s", path, strerror(errno));
    close(fd);
    unlink(path);
    return DSB_ERR_IO;
  }
  srv->lfd = fd;
  memcpy(srv->path, path, strlen(path) + 1);
  return 0;
}

int nsd_server_new(nsd_server **psrv, uv_loop_t *loop,
                   const nsd_server_settings *s) {
  nsd_server *srv = calloc(1, sizeof(*srv));
  int rv;
  if (srv == NULL) {
    return DSB_ERR_NOMEM;
  }
  srv->loop = loop;
  srv->cfg = s->cfg;
  srv->allow_uid = s->allow_uid;
  srv->lfd = -1;
  if ((rv = srv_bind(srv, s->socket_path, s->cfg->socket_mode)) != 0) {
    goto fail_bind;
  }
  if (uv_poll_init(loop, &srv->lpoll, srv->lfd) != 0) {
    rv = DSB_ERR_IO;
    goto fail_poll;
  }
  srv->lpoll.data = srv;
  uv_poll_start(&srv->lpoll, UV_READABLE, srv_on_accept);
  *psrv = srv;
  return 0;
fail_poll:
  close(srv->lfd);
  unlink(srv->path);
fail_bind:
  free(srv);
  return rv;
}

static void srv_lpoll_closed(uv_handle_t *h) {
  nsd_server *srv = h->data;
  close(srv->lfd);
  free(srv);
}

void nsd_server_stop(nsd_server *srv) {
  if (srv == NULL || srv->stopping) {
    return;
  }
  srv->stopping = 1;
  if (srv->client != NULL) {
    cl_close(srv->client);
  }
  unlink(srv->path);
  uv_close((uv_handle_t *)&srv->lpoll, srv_lpoll_closed);
}

void nsd_server_get_stats(const nsd_server *srv, nsd_server_stats *st) {
  *st = srv->stats;
}
