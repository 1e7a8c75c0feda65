/*
 * client.c - the local API client library (include/dsb/client.h).
 *
 * Plain sockets with poll() for timeouts; no event loop. Every packet is
 * decoded with the bounded IPC codec; descriptors that arrive with
 * anything but a reply or event that carries one are closed at once.
 *
 * Sends never block on a full socket: the daemon stops reading a client
 * whose replies pile up, so a client blocked in send() while many calls are
 * in flight would wait for a daemon that waits for it. While a send waits
 * for room, client_send() receives and dispatches what the daemon sent
 * (into the bounded event queue and the extension's bounded queues).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "dsb/client.h"
#include "dsb/err.h"
#include "dsb/ipc.h"
#include "client_int.h"

struct dsb_client {
  int fd;
  int timeout_ms;
  uint64_t next_nonce;
  uint64_t stale;
  uint64_t dropped;
  size_t qhead, qlen;
  dsb_client_event q[DSB_CLIENT_EVENT_QUEUE];
  const dsb_client_ext *ext_ops; /* client_int.h, e.g. client_rpc.c */
  void *ext;
  int sending; /* inside client_send(): dispatch must not send */
  uint8_t rx[DSB_IPC_MAX_MSG + 1];
  uint8_t tx[DSB_IPC_MAX_MSG];
};

int dsb_client_default_socket(char *out, size_t outlen) {
  const char *env = getenv("DSB_SOCKET");
  const char *rt = getenv("XDG_RUNTIME_DIR");
  const char *st = getenv("XDG_STATE_HOME");
  const char *home = getenv("HOME");
  int n;
  if (env && env[0]) {
    n = snprintf(out, outlen, "%s", env);
  } else if (geteuid() == 0) {
    n = snprintf(out, outlen, "/run/dsoftbus/dsoftbusd.sock");
  } else if (rt && rt[0] == '/') {
    n = snprintf(out, outlen, "%s/dsoftbusd.sock", rt);
  } else if (st && st[0] == '/') {
    n = snprintf(out, outlen, "%s/dsoftbus/dsoftbusd.sock", st);
  } else if (home && home[0] == '/') {
    n = snprintf(out, outlen, "%s/.local/state/dsoftbus/dsoftbusd.sock", home);
  } else {
    return DSB_ERR_NOT_FOUND;
  }
  return n < 0 || (size_t)n >= outlen ? DSB_ERR_NOBUF : 0;
}

/* ---- packets ------------------------------------------------------------ */

static void client_close_fd(int fd) {
  if (fd >= 0) {
    close(fd);
  }
}

static int64_t client_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Receive one packet within |timeout_ms| (< 0: forever). Returns its
 * length, 0 on timeout, DSB_ERR_CLOSED at EOF, DSB_ERR_IO. |*fd| gets an
 * attached descriptor or -1; extra descriptors are closed.
 */
static long client_recv(dsb_client *c, int timeout_ms, int *fd) {
  *fd = -1;
  struct pollfd pfd = {c->fd, POLLIN, 0};
  int pr;
  do {
    pr = poll(&pfd, 1, timeout_ms);
  } while (pr < 0 && errno == EINTR);
  if (pr < 0) {
    return DSB_ERR_IO;
  }
  if (pr == 0) {
    return 0;
  }
  struct iovec iov = {c->rx, sizeof(c->rx)};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(4 * sizeof(int))];
  } cm;
  struct msghdr mh;
  memset(&mh, 0, sizeof(mh));
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = cm.buf;
  mh.msg_controllen = sizeof(cm.buf);
  ssize_t n;
  do {
    n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return 0;
    }
    return errno == ECONNRESET ? DSB_ERR_CLOSED : DSB_ERR_IO;
  }
  for (struct cmsghdr *ch = CMSG_FIRSTHDR(&mh); ch; ch = CMSG_NXTHDR(&mh, ch)) {
    if (ch->cmsg_level != SOL_SOCKET || ch->cmsg_type != SCM_RIGHTS) {
      continue;
    }
    size_t nfd = (ch->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < nfd; ++i) {
      int x;
      memcpy(&x, CMSG_DATA(ch) + i * sizeof(int), sizeof(int));
      if (*fd < 0) {
        *fd = x;
      } else {
        close(x);
      }
    }
  }
  if (n == 0) {
    client_close_fd(*fd);
    *fd = -1;
    return DSB_ERR_CLOSED;
  }
  if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
    client_close_fd(*fd);
    *fd = -1;
    return DSB_ERR_IPC_OVERSIZE;
  }
  return (long)n;
}

static void client_copy_str(char *dst, size_t cap, dsb_ipc_str s) {
  size_t n = s.len < cap - 1 ? s.len : cap - 1;
  if (n) {
    memcpy(dst, s.p, n);
  }
  dst[n] = 0;
}

/* Queue an event; |fd| is consumed. */
static void client_queue_event(dsb_client *c, const dsb_ipc_msg *m, int fd) {
  dsb_client_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.fd = -1;
  switch (m->op) {
  case DSB_IPC_EV_PEER_UP:
    ev.type = DSB_CLIENT_EV_PEER_UP;
    dsb_device_id_format(ev.device_id, &m->u.peer_up.id);
    client_copy_str(ev.name, sizeof(ev.name), m->u.peer_up.name);
    break;
  case DSB_IPC_EV_PEER_DOWN:
    ev.type = DSB_CLIENT_EV_PEER_DOWN;
    dsb_device_id_format(ev.device_id, &m->u.peer_down.id);
    break;
  case DSB_IPC_EV_STREAM_INCOMING:
    if (fd < 0) {
      return; /* an incoming stream without its descriptor is useless */
    }
    ev.type = DSB_CLIENT_EV_STREAM;
    dsb_device_id_format(ev.device_id, &m->u.incoming.id);
    client_copy_str(ev.service, sizeof(ev.service), m->u.incoming.service);
    ev.priority = m->u.incoming.priority;
    ev.stream = m->u.incoming.stream;
    ev.fd = fd;
    fd = -1;
    break;
  case DSB_IPC_EV_STREAM_END:
    ev.type = DSB_CLIENT_EV_STREAM_END;
    ev.stream = m->u.stream_end.stream;
    ev.status = m->u.stream_end.status;
    break;
  default:
    client_close_fd(fd);
    return;
  }
  client_close_fd(fd);
  if (c->qlen == DSB_CLIENT_EVENT_QUEUE) {
    c->dropped++;
    client_close_fd(ev.fd);
    return;
  }
  c->q[(c->qhead + c->qlen) % DSB_CLIENT_EVENT_QUEUE] = ev;
  c->qlen++;
}

/*
 * Handle one received packet that is not the awaited reply: queue events,
 * count stale replies. Returns 1 if it is the reply with |nonce| (then
 * |*m| and |*fd| are the caller's), else 0, or an error.
 */
static int client_dispatch(dsb_client *c, size_t len, int fd, uint64_t nonce,
                           dsb_ipc_msg *m) {
  if (c->ext_ops && len > 0 && c->ext_ops->claims(c->rx[0])) {
    c->ext_ops->packet(c->ext, c->rx, len, fd);
    return 0;
  }
  int rv = dsb_ipc_decode(m, c->rx, len);
  if (rv) {
    client_close_fd(fd);
    return 0; /* a malformed packet from the daemon is ignored */
  }
  if (dsb_ipc_op_is_event(m->op)) {
    client_queue_event(c, m, fd);
    return 0;
  }
  /* Any reply (op|0x80, or the generic 0xff) with the awaited nonce is the
   * answer: an error reply to an op this codec has no payload for decodes
   * too. */
  if ((m->op & DSB_IPC_REPLY_BIT) && nonce && m->nonce == nonce) {
    return 1;
  }
  /* A generic error reply may answer an extension's request. */
  if (m->op == DSB_IPC_OP_ERROR && c->ext_ops) {
    c->ext_ops->packet(c->ext, c->rx, len, fd);
    return 0;
  }
  c->stale++; /* never delivered to the wrong caller */
  client_close_fd(fd);
  return 0;
}

/*
 * Send one packet, waiting (up to the client's timeout) for room without
 * blocking: meanwhile every packet the daemon sends is received and
 * dispatched, so the daemon can always drain its replies to us and go on
 * reading. Errors: DSB_ERR_CLOSED, DSB_ERR_IO, DSB_ERR_TIMEOUT.
 */
static int client_send(dsb_client *c, const uint8_t *p, size_t len) {
  int64_t deadline = client_now_ms() + c->timeout_ms;
  int rv = 0;
  c->sending++;
  for (;;) {
    ssize_t s = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (s >= 0) {
      break;
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      rv = errno == EPIPE || errno == ECONNRESET ? DSB_ERR_CLOSED : DSB_ERR_IO;
      break;
    }
    int64_t left = deadline - client_now_ms();
    if (left <= 0) {
      rv = DSB_ERR_TIMEOUT;
      break;
    }
    struct pollfd pfd = {c->fd, POLLIN | POLLOUT, 0};
    int pr = poll(&pfd, 1, (int)left);
    if (pr < 0 && errno != EINTR) {
      rv = DSB_ERR_IO;
      break;
    }
    if (pr <= 0 || !(pfd.revents & POLLIN)) {
      continue; /* room, or an error the next send() reports */
    }
    int fd;
    long n = client_recv(c, 0, &fd);
    if (n < 0 && n != DSB_ERR_IPC_OVERSIZE) {
      rv = (int)n;
      break;
    }
    if (n > 0) {
      dsb_ipc_msg m;
      (void)client_dispatch(c, (size_t)n, fd, 0, &m);
    }
  }
  c->sending--;
  return rv;
}

/* Send |req| (nonce assigned here) and wait for its reply into |*rep|
 * (views into c->rx, valid until the next call). |*fd| gets an attached
 * descriptor or -1 (may be NULL: then any is closed). The reply's status is
 * returned when negative. */
static int client_call(dsb_client *c, dsb_ipc_msg *req, dsb_ipc_msg *rep,
                       int *fd) {
  int rfd = -1;
  if (fd) {
    *fd = -1;
  }
  req->nonce = ++c->next_nonce;
  long n = dsb_ipc_encode(c->tx, sizeof(c->tx), req);
  if (n < 0) {
    return (int)n;
  }
  int rv = client_send(c, c->tx, (size_t)n);
  if (rv) {
    return rv;
  }
  int64_t deadline = client_now_ms() + c->timeout_ms;
  for (;;) {
    int64_t left = deadline - client_now_ms();
    if (left <= 0) {
      return DSB_ERR_TIMEOUT;
    }
    long len = client_recv(c, (int)left, &rfd);
    if (len < 0) {
      return (int)len;
    }
    if (len == 0) {
      continue;
    }
    if (client_dispatch(c, (size_t)len, rfd, req->nonce, rep) == 1) {
      break;
    }
  }
  if (rep->status) {
    client_close_fd(rfd);
    return rep->status;
  }
  if (rep->op != (req->op | DSB_IPC_REPLY_BIT)) {
    client_close_fd(rfd);
    return DSB_ERR_IPC_MALFORMED;
  }
  if (fd) {
    *fd = rfd;
  } else {
    client_close_fd(rfd);
  }
  return 0;
}

/* ---- connection --------------------------------------------------------- */

int dsb_client_connect(dsb_client **pc, const char *path, unsigned flags) {
  char def[sizeof(((struct sockaddr_un *)0)->sun_path)];
  if (!pc) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (!path) {
    int rv = dsb_client_default_socket(def, sizeof(def));
    if (rv) {
      return rv;
    }
    path = def;
  }
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof(sa.sun_path) || !path[0]) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  memcpy(sa.sun_path, path, strlen(path) + 1);
  dsb_client *c = calloc(1, sizeof(*c));
  if (!c) {
    return DSB_ERR_NOMEM;
  }
  c->timeout_ms = DSB_CLIENT_DEFAULT_TIMEOUT_MS;
  c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  int rv;
  if (c->fd < 0) {
    rv = DSB_ERR_IO;
    goto fail_socket;
  }
  if (connect(c->fd, (const struct sockaddr *)&sa, sizeof(sa)) != 0) {
    rv = errno == ENOENT || errno == ECONNREFUSED ? DSB_ERR_NOT_FOUND
         : errno == EACCES                        ? DSB_ERR_PERMISSION
                                                  : DSB_ERR_IO;
    goto fail_connect;
  }
  dsb_ipc_msg req, rep;
  memset(&req, 0, sizeof(req));
  req.op = DSB_IPC_OP_HELLO;
  req.u.hello.version = DSB_IPC_VERSION;
  req.u.hello.flags =
      (flags & DSB_CLIENT_PEER_EVENTS) ? DSB_IPC_HELLO_PEER_EVENTS : 0;
  rv = client_call(c, &req, &rep, NULL);
  if (rv) {
    goto fail_connect;
  }
  *pc = c;
  return 0;

fail_connect:
  close(c->fd);
fail_socket:
  free(c);
  return rv;
}

void dsb_client_close(dsb_client *c) {
  if (!c) {
    return;
  }
  while (c->qlen) {
    client_close_fd(c->q[c->qhead].fd);
    c->qhead = (c->qhead + 1) % DSB_CLIENT_EVENT_QUEUE;
    c->qlen--;
  }
  if (c->ext_ops) {
    c->ext_ops->free(c->ext);
  }
  close(c->fd);
  free(c);
}

int dsb_client_fd(const dsb_client *c) {
  return c->fd;
}

void dsb_client_set_timeout(dsb_client *c, int timeout_ms) {
  if (timeout_ms > 0) {
    c->timeout_ms = timeout_ms;
  }
}

uint64_t dsb_client_stale_replies(const dsb_client *c) {
  return c->stale;
}
uint64_t dsb_client_dropped_events(const dsb_client *c) {
  return c->dropped;
}

/* ---- requests ----------------------------------------------------------- */

int dsb_client_id(dsb_client *c, dsb_client_identity *out) {
  dsb_ipc_msg req, rep;
  memset(&req, 0, sizeof(req));
  req.op = DSB_IPC_OP_ID;
  int rv = client_call(c, &req, &rep, NULL);
  if (rv) {
    return rv;
  }
  memset(out, 0, sizeof(*out));
  dsb_device_id_format(out->device_id, &rep.u.id_r.id);
  client_copy_str(out->name, sizeof(out->name), rep.u.id_r.name);
  memcpy(out->ed_pk, rep.u.id_r.ed_pk, 32);
  memcpy(out->static_pk, rep.u.id_r.static_pk, 32);
  out->session_port = rep.u.id_r.port;
  return 0;
}

/* Page through a list reply: |each| gets every decoded reply. */
static int client_list(dsb_client *c, uint8_t op,
                       int (*each)(void *ctx, const dsb_ipc_list *l),
                       void *ctx) {
  uint32_t start = 0;
  for (;;) {
    dsb_ipc_msg req, rep;
    memset(&req, 0, sizeof(req));
    req.op = op;
    req.u.list.start = (uint16_t)start;
    int rv = client_call(c, &req, &rep, NULL);
    if (rv) {
      return rv;
    }
    rv = each(ctx, &rep.u.list_r);
    if (rv) {
      return rv;
    }
    start += rep.u.list_r.count;
    if (rep.u.list_r.count == 0 || start >= rep.u.list_r.total ||
        start > UINT16_MAX) {
      return 0;
    }
  }
}

typedef struct client_list_ctx {
  void *fn;
  void *ctx;
} client_list_ctx;

static int client_each_peer(void *ctx, const dsb_ipc_list *l) {
  client_list_ctx *lc = ctx;
  dsb_ipc_iter it;
  dsb_ipc_peer e;
  dsb_ipc_iter_init(&it, l);
  int rv;
  while ((rv = dsb_ipc_next_peer(&it, &e)) == 1) {
    dsb_client_peer p;
    memset(&p, 0, sizeof(p));
    dsb_device_id_format(p.device_id, &e.id);
    client_copy_str(p.name, sizeof(p.name), e.name);
    p.trust = e.trust;
    p.session = e.session;
    p.naddrs = e.naddrs;
    for (size_t i = 0; i < e.naddrs; ++i) {
      client_copy_str(p.addrs[i], sizeof(p.addrs[0]), e.addrs[i]);
    }
    p.nservices = e.nservices;
    for (size_t i = 0; i < e.nservices; ++i) {
      client_copy_str(p.services[i], sizeof(p.services[0]), e.services[i]);
    }
    if (((dsb_client_peer_fn)lc->fn)(lc->ctx, &p)) {
      return DSB_ERR_CALLBACK_FAILURE;
    }
  }
  return rv;
}

int dsb_client_peers(dsb_client *c, dsb_client_peer_fn fn, void *ctx) {
  client_list_ctx lc = {(void *)fn, ctx};
  return client_list(c, DSB_IPC_OP_PEERS, client_each_peer, &lc);
}

static int client_each_trust(void *ctx, const dsb_ipc_list *l) {
  client_list_ctx *lc = ctx;
  dsb_ipc_iter it;
  dsb_ipc_trust_entry e;
  dsb_ipc_iter_init(&it, l);
  int rv;
  while ((rv = dsb_ipc_next_trust(&it, &e)) == 1) {
    dsb_client_trust_entry t;
    memset(&t, 0, sizeof(t));
    dsb_device_id_format(t.device_id, &e.id);
    t.state = e.state;
    client_copy_str(t.name, sizeof(t.name), e.name);
    if (((dsb_client_trust_fn)lc->fn)(lc->ctx, &t)) {
      return DSB_ERR_CALLBACK_FAILURE;
    }
  }
  return rv;
}

int dsb_client_trust_list(dsb_client *c, dsb_client_trust_fn fn, void *ctx) {
  client_list_ctx lc = {(void *)fn, ctx};
  return client_list(c, DSB_IPC_OP_TRUST_LIST, client_each_trust, &lc);
}

static int client_each_counter(void *ctx, const dsb_ipc_list *l) {
  client_list_ctx *lc = ctx;
  dsb_ipc_iter it;
  dsb_ipc_counter e;
  dsb_ipc_iter_init(&it, l);
  int rv;
  while ((rv = dsb_ipc_next_counter(&it, &e)) == 1) {
    char name[DSB_IPC_LABEL_MAX + 1];
    client_copy_str(name, sizeof(name), e.name);
    if (((dsb_client_counter_fn)lc->fn)(lc->ctx, name, e.value)) {
      return DSB_ERR_CALLBACK_FAILURE;
    }
  }
  return rv;
}

int dsb_client_status(dsb_client *c, dsb_client_counter_fn fn, void *ctx) {
  client_list_ctx lc = {(void *)fn, ctx};
  return client_list(c, DSB_IPC_OP_STATUS, client_each_counter, &lc);
}

int dsb_client_trust_set(dsb_client *c, const char *device_id, int state) {
  dsb_ipc_msg req, rep;
  memset(&req, 0, sizeof(req));
  if (!device_id || state < DSB_CLIENT_TRUST_UNKNOWN ||
      state > DSB_CLIENT_TRUST_BLOCKED) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  int rv =
      dsb_device_id_parse(&req.u.trust_set.id, device_id, strlen(device_id));
  if (rv) {
    return DSB_ERR_MALFORMED;
  }
  req.op = DSB_IPC_OP_TRUST_SET;
  req.u.trust_set.state = (uint8_t)state;
  return client_call(c, &req, &rep, NULL);
}

static int client_service_op(dsb_client *c, uint8_t op, const char *service) {
  dsb_ipc_msg req, rep;
  memset(&req, 0, sizeof(req));
  req.op = op;
  req.u.service.service = dsb_ipc_cstr(service);
  if (!service || !dsb_ipc_service_valid(req.u.service.service.p,
                                         req.u.service.service.len)) {
    return DSB_ERR_IPC_BAD_STRING;
  }
  return client_call(c, &req, &rep, NULL);
}

int dsb_client_publish(dsb_client *c, const char *service) {
  return client_service_op(c, DSB_IPC_OP_PUBLISH, service);
}

int dsb_client_withdraw(dsb_client *c, const char *service) {
  return client_service_op(c, DSB_IPC_OP_WITHDRAW, service);
}

int dsb_client_open_stream(dsb_client *c, const char *device_id,
                           const char *service, uint8_t priority, int *fd,
                           uint32_t *stream) {
  dsb_ipc_msg req, rep;
  memset(&req, 0, sizeof(req));
  if (!device_id || !service || !fd || priority > DSB_IPC_PRIORITY_MAX) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (dsb_device_id_parse(&req.u.open.id, device_id, strlen(device_id))) {
    return DSB_ERR_MALFORMED;
  }
  req.op = DSB_IPC_OP_OPEN;
  req.u.open.service = dsb_ipc_cstr(service);
  if (!dsb_ipc_service_valid(req.u.open.service.p, req.u.open.service.len)) {
    return DSB_ERR_IPC_BAD_STRING;
  }
  req.u.open.priority = priority;
  int sfd = -1;
  int rv = client_call(c, &req, &rep, &sfd);
  if (rv) {
    return rv;
  }
  if (sfd < 0) {
    return DSB_ERR_IPC_MALFORMED; /* a stream reply must carry the stream */
  }
  *fd = sfd;
  if (stream) {
    *stream = rep.u.open_r.stream;
  }
  return 0;
}

/* ---- events ------------------------------------------------------------- */

int dsb_client_next_event(dsb_client *c, dsb_client_event *ev, int timeout_ms) {
  int64_t deadline = client_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
  for (;;) {
    if (c->qlen) {
      *ev = c->q[c->qhead];
      c->qhead = (c->qhead + 1) % DSB_CLIENT_EVENT_QUEUE;
      c->qlen--;
      return 1;
    }
    int wait = -1;
    if (timeout_ms >= 0) {
      int64_t left = deadline - client_now_ms();
      wait = left > 0 ? (int)left : 0;
    }
    int fd;
    long len = client_recv(c, wait, &fd);
    if (len < 0) {
      return (int)len;
    }
    if (len == 0) {
      if (timeout_ms >= 0 && client_now_ms() >= deadline) {
        return 0;
      }
      continue;
    }
    dsb_ipc_msg m;
    (void)client_dispatch(c, (size_t)len, fd, 0, &m);
  }
}

int dsb_client_accept(dsb_client *c, dsb_client_event *ev, int timeout_ms) {
  int64_t deadline = client_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
  for (;;) {
    int left = -1;
    if (timeout_ms >= 0) {
      int64_t l = deadline - client_now_ms();
      left = l > 0 ? (int)l : 0;
    }
    int rv = dsb_client_next_event(c, ev, left);
    if (rv <= 0) {
      return rv;
    }
    if (ev->type == DSB_CLIENT_EV_STREAM) {
      return 1;
    }
  }
}

/* ---- extensions (client_int.h) ------------------------------------------ */

void dsb_client_ext_set(dsb_client *c, const dsb_client_ext *ops, void *ext) {
  c->ext_ops = ops;
  c->ext = ext;
}

void *dsb_client_ext_get(const dsb_client *c) {
  return c ? c->ext : NULL;
}

uint64_t dsb_client_ext_nonce(dsb_client *c) {
  return ++c->next_nonce;
}

int dsb_client_ext_send(dsb_client *c, const uint8_t *p, size_t len) {
  return client_send(c, p, len);
}

int dsb_client_ext_sending(const dsb_client *c) {
  return c->sending > 0;
}

int dsb_client_ext_pump(dsb_client *c, int timeout_ms) {
  int fd;
  long len = client_recv(c, timeout_ms, &fd);
  if (len <= 0) {
    return (int)len;
  }
  dsb_ipc_msg m;
  (void)client_dispatch(c, (size_t)len, fd, 0, &m);
  return 1;
}

int64_t dsb_client_ext_now_ms(void) {
  return client_now_ms();
}
