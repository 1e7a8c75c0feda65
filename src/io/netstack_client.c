/*
 * netstack_client.c - dsoftbusd's client of netstackd
 * (include/dsb/netstack_client.h, docs/PROTOCOL.md "netstackd protocol").
 *
 * One connection at a time, held in an ns_conn that owns the socket and its
 * uv_poll; a broken connection is closed as a whole and a new ns_conn made
 * on reconnect, so a handle never outlives or reuses its descriptor.
 * Pending requests live in a fixed table of max_pending slots.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "dsb/err.h"
#include "dsb/netstack_client.h"

#define NS_DEFAULT_BACKOFF_INITIAL_MS 50
#define NS_DEFAULT_BACKOFF_MAX_MS 5000
#define NS_DEFAULT_REQUEST_TIMEOUT_MS 10000
#define NS_DEFAULT_MAX_PENDING 64
#define NS_MAX_PENDING_CAP 1024
#define NS_MAX_FDS_PER_MSG 8 /* cmsg room: more than one is already wrong */
#define NS_READS_PER_WAKEUP 64

typedef struct ns_conn {
  dsb_netstack_client *c;
  int fd;
  uv_poll_t poll;
} ns_conn;

typedef struct ns_pending {
  int in_use;
  int internal; /* the client's own HELLO */
  int sync;     /* the blocking call waits on it (results in the client) */
  uint8_t op;
  uint64_t nonce;
  uint64_t deadline; /* uv_now() ms */
  dsb_netstack_reply_cb cb;
  void *user_data;
} ns_pending;

struct dsb_netstack_client {
  uv_loop_t *loop;
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  dsb_netstack_client_settings s;
  ns_conn *conn;
  int up;
  int started; /* background (re)connecting requested */
  int closed;
  int deleting;
  int live_handles; /* handles whose close callback is still due */
  int last_notice_err;
  uint32_t backoff_ms;
  uint64_t next_nonce;
  uv_timer_t reconnect_timer;
  uv_timer_t request_timer;
  dsb_netstack_client_stats stats;
  size_t npending;
  ns_pending *pending; /* s.max_pending slots */
  /* Result of the one blocking call in progress (its slot is freed as soon
   * as the reply is dispatched). */
  int sync_done;
  int sync_err;
  int sync_fd;
  dsb_netstack_rep *sync_rep;
};

static void ns_schedule_reconnect(dsb_netstack_client *c);
static void ns_arm_request_timer(dsb_netstack_client *c);

/* ---- helpers --------------------------------------------------------------*/

static void ns_close_fd(dsb_netstack_client *c, int fd) {
  if (fd >= 0) {
    close(fd);
    c->stats.fds_closed++;
  }
}

static void ns_handle_closed(uv_handle_t *h) {
  dsb_netstack_client *c = h->data;
  if (--c->live_handles == 0 && c->deleting) {
    dsb_mem_free(NULL, c->pending);
    dsb_mem_free(NULL, c);
  }
}

static void ns_conn_closed(uv_handle_t *h) {
  ns_conn *conn = h->data;
  dsb_netstack_client *c = conn->c;
  close(conn->fd);
  dsb_mem_free(NULL, conn);
  if (--c->live_handles == 0 && c->deleting) {
    dsb_mem_free(NULL, c->pending);
    dsb_mem_free(NULL, c);
  }
}

static uint64_t ns_nonce(dsb_netstack_client *c) {
  if (c->next_nonce == 0) {
    c->next_nonce = 1; /* 0 is reserved for notices */
  }
  return c->next_nonce++;
}

static ns_pending *ns_find(dsb_netstack_client *c, uint64_t nonce) {
  for (size_t i = 0; i < c->s.max_pending; ++i) {
    if (c->pending[i].in_use && c->pending[i].nonce == nonce) {
      return &c->pending[i];
    }
  }
  return NULL;
}

static ns_pending *ns_alloc(dsb_netstack_client *c) {
  for (size_t i = 0; i < c->s.max_pending; ++i) {
    if (!c->pending[i].in_use) {
      memset(&c->pending[i], 0, sizeof(c->pending[i]));
      c->pending[i].in_use = 1;
      c->npending++;
      return &c->pending[i];
    }
  }
  return NULL;
}

/*
 * Complete one pending request and free its slot before calling out, so the
 * callback may send new requests. |fd| is handed to the callee or closed.
 */
static void ns_complete(dsb_netstack_client *c, ns_pending *p, int err,
                        const dsb_netstack_rep *rep, int fd) {
  ns_pending done = *p;
  p->in_use = 0;
  c->npending--;
  if (done.sync) {
    c->sync_done = 1;
    c->sync_err = err;
    c->sync_fd = fd;
    if (err == 0 && rep != NULL) {
      *c->sync_rep = *rep;
    }
    return;
  }
  if (done.cb != NULL) {
    done.cb(c, err, rep, fd, done.user_data);
  } else {
    ns_close_fd(c, fd);
  }
}

/* ---- connection ---------------------------------------------------------- */

static void ns_fail_all(dsb_netstack_client *c, int err);

static void ns_disconnect(dsb_netstack_client *c, int err) {
  ns_conn *conn = c->conn;
  int was_up = c->up;
  if (conn == NULL) {
    return;
  }
  c->conn = NULL;
  c->up = 0;
  c->stats.disconnects++;
  uv_close((uv_handle_t *)&conn->poll, ns_conn_closed);
  ns_fail_all(c, err);
  if (c->s.state_cb != NULL && (was_up || err != DSB_ERR_NETSTACK_DOWN)) {
    c->s.state_cb(c, 0, err, c->s.user_data);
  }
  if (!c->closed) {
    ns_schedule_reconnect(c);
  }
}

static int ns_send(dsb_netstack_client *c, const dsb_netstack_req *req) {
  uint8_t buf[DSB_NETSTACK_MAX_MSG];
  int n = dsb_netstack_req_encode(buf, sizeof(buf), req);
  if (n < 0) {
    return n;
  }
  if (c->conn == NULL) {
    return DSB_ERR_NETSTACK_DOWN;
  }
  ssize_t w;
  do {
    w = send(c->conn->fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (w < 0 && errno == EINTR);
  if (w != n) {
    return DSB_ERR_IO;
  }
  c->stats.requests++;
  return 0;
}

static void ns_on_hello(dsb_netstack_client *c, int err,
                        const dsb_netstack_rep *rep, int fd, void *ud) {
  (void)rep;
  (void)ud;
  ns_close_fd(c, fd);
  if (err != 0) {
    if (err != DSB_ERR_NETSTACK_DOWN && err != DSB_ERR_CLOSED) {
      ns_disconnect(c, err);
    }
    return;
  }
  c->up = 1;
  c->stats.connects++;
  c->backoff_ms = c->s.backoff_initial_ms;
  if (c->s.state_cb != NULL) {
    c->s.state_cb(c, 1, 0, c->s.user_data);
  }
}

/* Decode and route one received packet with its descriptors. */
static void ns_dispatch(dsb_netstack_client *c, const uint8_t *buf, size_t len,
                        int *fds, size_t nfds, int truncated) {
  dsb_netstack_rep rep;
  int rv = truncated ? DSB_ERR_IPC_MALFORMED
                     : dsb_netstack_rep_decode(&rep, buf, len);
  if (rv != 0) {
    c->stats.malformed_replies++;
    for (size_t i = 0; i < nfds; ++i) {
      ns_close_fd(c, fds[i]);
    }
    return;
  }
  if (rep.op == DSB_NETSTACK_OP_NOTICE && rep.nonce == 0) {
    /* netstackd refuses us (wrong uid, busy) and hangs up next. */
    c->last_notice_err = dsb_netstack_status_to_err(rep.status);
    for (size_t i = 0; i < nfds; ++i) {
      ns_close_fd(c, fds[i]);
    }
    return;
  }
  ns_pending *p = ns_find(c, rep.nonce);
  if (p == NULL || (rep.op != p->op && rep.op != DSB_NETSTACK_OP_NOTICE)) {
    c->stats.stale_replies++;
    for (size_t i = 0; i < nfds; ++i) {
      ns_close_fd(c, fds[i]);
    }
    return;
  }
  c->stats.replies++;
  int err = dsb_netstack_status_to_err(rep.status);
  size_t want = (err == 0 && dsb_netstack_op_has_fd(rep.op)) ? 1 : 0;
  int fd = -1;
  if (nfds != want) {
    err = DSB_ERR_NETSTACK_DESCRIPTOR;
    for (size_t i = 0; i < nfds; ++i) {
      ns_close_fd(c, fds[i]);
    }
  } else if (want == 1) {
    fd = fds[0];
  }
  ns_complete(c, p, err, &rep, fd);
  ns_arm_request_timer(c);
}

/*
 * Read every packet available now. Returns 0, or DSB_ERR_NETSTACK_DOWN when
 * the connection ended (it is then already torn down).
 */
static int ns_read_all(dsb_netstack_client *c) {
  int reset = 0;
  for (int i = 0; i < NS_READS_PER_WAKEUP && c->conn != NULL; ++i) {
    uint8_t buf[DSB_NETSTACK_MAX_MSG + 1];
    union {
      struct cmsghdr h;
      char b[CMSG_SPACE(NS_MAX_FDS_PER_MSG * sizeof(int))];
    } ctl;
    struct iovec iov = {buf, sizeof(buf)};
    struct msghdr msg;
    int fds[NS_MAX_FDS_PER_MSG];
    size_t nfds = 0;

    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctl.b;
    msg.msg_controllen = sizeof(ctl.b);
    ssize_t n = recvmsg(c->conn->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno == ECONNRESET && !reset) {
        /* The peer closed with our request unread. The kernel reports that
         * before the packets still queued for us, e.g. netstackd's notice
         * saying why it refused us, so read on once. */
        reset = 1;
        continue;
      }
      if ((errno == EAGAIN || errno == EWOULDBLOCK) && !reset) {
        return 0;
      }
      ns_disconnect(c, c->last_notice_err ? c->last_notice_err
                                          : DSB_ERR_NETSTACK_DOWN);
      return DSB_ERR_NETSTACK_DOWN;
    }
    for (struct cmsghdr *h = CMSG_FIRSTHDR(&msg); h != NULL;
         h = CMSG_NXTHDR(&msg, h)) {
      if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) {
        continue;
      }
      size_t cnt = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t k = 0; k < cnt; ++k) {
        int fd;
        memcpy(&fd, CMSG_DATA(h) + k * sizeof(int), sizeof(int));
        c->stats.fds_received++;
        if (nfds < NS_MAX_FDS_PER_MSG) {
          fds[nfds++] = fd;
        } else {
          ns_close_fd(c, fd);
        }
      }
    }
    if (n == 0) {
      for (size_t k = 0; k < nfds; ++k) {
        ns_close_fd(c, fds[k]);
      }
      int err = c->last_notice_err ? c->last_notice_err : DSB_ERR_NETSTACK_DOWN;
      ns_disconnect(c, err);
      return DSB_ERR_NETSTACK_DOWN;
    }
    int cut = (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
    ns_dispatch(c, buf, (size_t)n, fds, nfds, cut);
  }
  return 0;
}

static void ns_on_readable(uv_poll_t *h, int status, int events) {
  ns_conn *conn = h->data;
  dsb_netstack_client *c = conn->c;
  if (status < 0) {
    ns_disconnect(c, DSB_ERR_NETSTACK_DOWN);
    return;
  }
  if (ns_read_all(c) != 0) {
    return;
  }
  /* Hang-up with nothing left to read. */
  if (c->conn == conn && (events & UV_DISCONNECT) && !(events & UV_READABLE)) {
    ns_disconnect(c, c->last_notice_err ? c->last_notice_err
                                        : DSB_ERR_NETSTACK_DOWN);
  }
}

/* Connect now (non-blocking; Unix sockets connect at once or fail) and send
 * HELLO. Returns 0 or DSB_ERR_NETSTACK_DOWN. */
static int ns_connect_now(dsb_netstack_client *c) {
  struct sockaddr_un sun;
  ns_conn *conn;
  int fd;

  c->stats.connect_attempts++;
  c->last_notice_err = 0;
  fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return DSB_ERR_NETSTACK_DOWN;
  }
  memset(&sun, 0, sizeof(sun));
  sun.sun_family = AF_UNIX;
  memcpy(sun.sun_path, c->path, strlen(c->path) + 1);
  if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
    close(fd);
    return DSB_ERR_NETSTACK_DOWN;
  }
  conn = dsb_mem_calloc(NULL, 1, sizeof(*conn));
  if (conn == NULL) {
    close(fd);
    return DSB_ERR_NETSTACK_DOWN;
  }
  conn->c = c;
  conn->fd = fd;
  conn->poll.data = conn;
  if (uv_poll_init(c->loop, &conn->poll, fd) != 0) {
    close(fd);
    dsb_mem_free(NULL, conn);
    return DSB_ERR_NETSTACK_DOWN;
  }
  c->live_handles++;
  c->conn = conn;
  uv_poll_start(&conn->poll, UV_READABLE | UV_DISCONNECT, ns_on_readable);

  ns_pending *p = ns_alloc(c);
  dsb_netstack_req hello;
  memset(&hello, 0, sizeof(hello));
  hello.op = DSB_NETSTACK_OP_HELLO;
  hello.nonce = ns_nonce(c);
  hello.u.hello.version = DSB_NETSTACK_VERSION;
  if (p == NULL || ns_send(c, &hello) != 0) {
    if (p != NULL) {
      p->in_use = 0;
      c->npending--;
    }
    /* netstackd may have refused us and hung up already: its notice is
     * still queued on our side, so read it for the reason. */
    (void)ns_read_all(c);
    if (c->conn != NULL) {
      ns_disconnect(c, c->last_notice_err ? c->last_notice_err
                                          : DSB_ERR_NETSTACK_DOWN);
    }
    return DSB_ERR_NETSTACK_DOWN;
  }
  p->internal = 1;
  p->op = DSB_NETSTACK_OP_HELLO;
  p->nonce = hello.nonce;
  p->cb = ns_on_hello;
  p->deadline = uv_now(c->loop) + c->s.request_timeout_ms;
  ns_arm_request_timer(c);
  return 0;
}

static void ns_on_reconnect_timer(uv_timer_t *t) {
  dsb_netstack_client *c = t->data;
  if (c->closed || c->conn != NULL) {
    return;
  }
  if (ns_connect_now(c) != 0 && c->conn == NULL &&
      !uv_is_active((uv_handle_t *)&c->reconnect_timer)) {
    ns_schedule_reconnect(c);
  }
}

static void ns_schedule_reconnect(dsb_netstack_client *c) {
  uint32_t delay = c->backoff_ms;
  /* Double up to the cap: a dead netstackd costs one attempt per cap. */
  c->backoff_ms = c->backoff_ms >= c->s.backoff_max_ms / 2 ? c->s.backoff_max_ms
                                                           : c->backoff_ms * 2;
  uv_timer_start(&c->reconnect_timer, ns_on_reconnect_timer, delay, 0);
}

/* ---- timeouts ------------------------------------------------------------ */

static void ns_on_request_timer(uv_timer_t *t) {
  dsb_netstack_client *c = t->data;
  uint64_t now = uv_now(c->loop);
  for (size_t i = 0; i < c->s.max_pending; ++i) {
    ns_pending *p = &c->pending[i];
    if (p->in_use && !p->sync && p->deadline <= now) {
      c->stats.timeouts++;
      int internal = p->internal;
      ns_complete(c, p, DSB_ERR_TIMEOUT, NULL, -1);
      if (internal) {
        /* netstackd accepted but never answered HELLO: start over. */
        ns_disconnect(c, DSB_ERR_TIMEOUT);
      }
    }
  }
  ns_arm_request_timer(c);
}

static void ns_arm_request_timer(dsb_netstack_client *c) {
  uint64_t next = UINT64_MAX, now = uv_now(c->loop);
  for (size_t i = 0; i < c->s.max_pending; ++i) {
    if (c->pending[i].in_use && !c->pending[i].sync &&
        c->pending[i].deadline < next) {
      next = c->pending[i].deadline;
    }
  }
  if (next == UINT64_MAX || c->deleting) {
    uv_timer_stop(&c->request_timer);
    return;
  }
  uv_timer_start(&c->request_timer, ns_on_request_timer,
                 next > now ? next - now : 0, 0);
}

static void ns_fail_all(dsb_netstack_client *c, int err) {
  for (size_t i = 0; i < c->s.max_pending; ++i) {
    ns_pending *p = &c->pending[i];
    if (!p->in_use) {
      continue;
    }
    ns_complete(c, p, err, NULL, -1);
  }
  ns_arm_request_timer(c);
}

/* ---- public API ---------------------------------------------------------- */

int dsb_netstack_client_new(dsb_netstack_client **pc, uv_loop_t *loop,
                            const dsb_netstack_client_settings *s) {
  dsb_netstack_client *c;
  if (pc == NULL || loop == NULL || s == NULL || s->socket_path == NULL ||
      s->socket_path[0] == '\0' || strlen(s->socket_path) >= sizeof(c->path) ||
      s->max_pending > NS_MAX_PENDING_CAP) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  c = dsb_mem_calloc(NULL, 1, sizeof(*c));
  if (c == NULL) {
    return DSB_ERR_NOMEM;
  }
  c->s = *s;
  memcpy(c->path, s->socket_path, strlen(s->socket_path) + 1);
  c->s.socket_path = c->path;
  if (c->s.backoff_initial_ms == 0) {
    c->s.backoff_initial_ms = NS_DEFAULT_BACKOFF_INITIAL_MS;
  }
  if (c->s.backoff_max_ms == 0) {
    c->s.backoff_max_ms = NS_DEFAULT_BACKOFF_MAX_MS;
  }
  if (c->s.backoff_max_ms < c->s.backoff_initial_ms) {
    c->s.backoff_max_ms = c->s.backoff_initial_ms;
  }
  if (c->s.request_timeout_ms == 0) {
    c->s.request_timeout_ms = NS_DEFAULT_REQUEST_TIMEOUT_MS;
  }
  if (c->s.max_pending == 0) {
    c->s.max_pending = NS_DEFAULT_MAX_PENDING;
  }
  c->pending = dsb_mem_calloc(NULL, c->s.max_pending, sizeof(ns_pending));
  if (c->pending == NULL) {
    dsb_mem_free(NULL, c);
    return DSB_ERR_NOMEM;
  }
  c->loop = loop;
  c->backoff_ms = c->s.backoff_initial_ms;
  c->next_nonce = 1;
  uv_timer_init(loop, &c->reconnect_timer);
  uv_timer_init(loop, &c->request_timer);
  c->reconnect_timer.data = c;
  c->request_timer.data = c;
  c->live_handles = 2;
  *pc = c;
  return 0;
}

int dsb_netstack_client_start(dsb_netstack_client *c) {
  if (c->closed) {
    return DSB_ERR_CLOSED;
  }
  c->started = 1;
  if (c->conn == NULL && !uv_is_active((uv_handle_t *)&c->reconnect_timer)) {
    if (ns_connect_now(c) != 0 && c->conn == NULL &&
        !uv_is_active((uv_handle_t *)&c->reconnect_timer)) {
      ns_schedule_reconnect(c);
    }
  }
  return 0;
}

static int ns_submit(dsb_netstack_client *c, dsb_netstack_req *req,
                     ns_pending **out, uint64_t timeout_ms) {
  if (c->closed) {
    return DSB_ERR_CLOSED;
  }
  if (req == NULL || req->op == DSB_NETSTACK_OP_HELLO) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (!c->up || c->conn == NULL) {
    return DSB_ERR_NETSTACK_DOWN;
  }
  ns_pending *p = ns_alloc(c);
  if (p == NULL) {
    return DSB_ERR_LIMIT;
  }
  req->nonce = ns_nonce(c);
  int rv = ns_send(c, req);
  if (rv != 0) {
    p->in_use = 0;
    c->npending--;
    if (rv == DSB_ERR_IO) {
      ns_disconnect(c, DSB_ERR_NETSTACK_DOWN);
    }
    return rv;
  }
  p->op = req->op;
  p->nonce = req->nonce;
  p->deadline = uv_now(c->loop) + timeout_ms;
  *out = p;
  return 0;
}

int dsb_netstack_client_request(dsb_netstack_client *c, dsb_netstack_req *req,
                                dsb_netstack_reply_cb cb, void *user_data) {
  ns_pending *p;
  uint64_t timeout = c->s.request_timeout_ms;
  if (req != NULL && req->op == DSB_NETSTACK_OP_TCP_CONNECT) {
    timeout += req->u.tcp_connect.timeout_ms;
  }
  int rv = ns_submit(c, req, &p, timeout);
  if (rv != 0) {
    return rv;
  }
  p->cb = cb;
  p->user_data = user_data;
  ns_arm_request_timer(c);
  return 0;
}

int dsb_netstack_client_cancel(dsb_netstack_client *c, uint64_t nonce) {
  dsb_netstack_req req;
  memset(&req, 0, sizeof(req));
  req.op = DSB_NETSTACK_OP_CLOSE;
  req.u.close.target = nonce;
  return dsb_netstack_client_request(c, &req, NULL, NULL);
}

/* Read the connection without the loop until the blocking call's reply
 * (|want_reply|) or the HELLO reply arrived, or |deadline_ms| (uv_hrtime
 * based) passed. */
static int ns_wait(dsb_netstack_client *c, int want_reply,
                   uint64_t deadline_ms) {
  for (;;) {
    if (want_reply ? c->sync_done : c->up) {
      return 0;
    }
    if (c->conn == NULL) {
      return DSB_ERR_NETSTACK_DOWN;
    }
    uint64_t now = uv_hrtime() / 1000000u;
    if (now >= deadline_ms) {
      return DSB_ERR_TIMEOUT;
    }
    struct pollfd pfd = {c->conn->fd, POLLIN, 0};
    int n = poll(&pfd, 1, (int)(deadline_ms - now));
    if (n < 0 && errno != EINTR) {
      return DSB_ERR_IO;
    }
    if (n > 0) {
      (void)ns_read_all(c);
    }
  }
}

int dsb_netstack_client_call(dsb_netstack_client *c, dsb_netstack_req *req,
                             dsb_netstack_rep *rep, int *fd,
                             uint32_t timeout_ms) {
  uint64_t deadline = uv_hrtime() / 1000000u + timeout_ms;
  ns_pending *p;
  int rv;

  if (fd != NULL) {
    *fd = -1;
  }
  if (c == NULL || rep == NULL || fd == NULL) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (c->closed) {
    return DSB_ERR_CLOSED;
  }
  /* Blocking calls do not interleave with callbacks: the reply of an
   * asynchronous request would have to be dispatched from in here. */
  for (size_t i = 0; i < c->s.max_pending; ++i) {
    if (c->pending[i].in_use && !c->pending[i].internal) {
      return DSB_ERR_INVALID_STATE;
    }
  }
  if (c->conn == NULL) {
    uv_timer_stop(&c->reconnect_timer);
    if (ns_connect_now(c) != 0) {
      if (c->started && c->conn == NULL &&
          !uv_is_active((uv_handle_t *)&c->reconnect_timer)) {
        ns_schedule_reconnect(c);
      }
      return c->last_notice_err ? c->last_notice_err : DSB_ERR_NETSTACK_DOWN;
    }
  }
  if (!c->up) {
    rv = ns_wait(c, 0, deadline);
    if (rv != 0 || !c->up) {
      return c->last_notice_err ? c->last_notice_err
                                : (rv != 0 ? rv : DSB_ERR_NETSTACK_DOWN);
    }
  }
  if ((rv = ns_submit(c, req, &p, timeout_ms)) != 0) {
    return rv;
  }
  p->sync = 1;
  c->sync_done = 0;
  c->sync_err = 0;
  c->sync_fd = -1;
  c->sync_rep = rep;
  uint64_t nonce = p->nonce;
  rv = ns_wait(c, 1, deadline);
  c->sync_rep = NULL;
  if (!c->sync_done) {
    /* Timed out: free the slot, so a late reply counts as stale. */
    if (p->in_use && p->nonce == nonce) {
      p->in_use = 0;
      c->npending--;
    }
    if (rv == DSB_ERR_TIMEOUT) {
      c->stats.timeouts++;
    }
    return rv != 0 ? rv : DSB_ERR_NETSTACK_DOWN;
  }
  /* ns_dispatch() or ns_fail_all() filled in the result. */
  *fd = c->sync_fd;
  return c->sync_err;
}

int dsb_netstack_client_is_up(const dsb_netstack_client *c) {
  return c != NULL && c->up;
}

void dsb_netstack_client_get_stats(const dsb_netstack_client *c,
                                   dsb_netstack_client_stats *st) {
  *st = c->stats;
}

void dsb_netstack_client_close(dsb_netstack_client *c) {
  if (c == NULL || c->closed) {
    return;
  }
  c->closed = 1;
  uv_timer_stop(&c->reconnect_timer);
  if (c->conn != NULL) {
    ns_disconnect(c, DSB_ERR_CLOSED);
  }
  ns_fail_all(c, DSB_ERR_CLOSED);
}

void dsb_netstack_client_del(dsb_netstack_client *c) {
  if (c == NULL) {
    return;
  }
  dsb_netstack_client_close(c);
  c->deleting = 1;
  uv_close((uv_handle_t *)&c->reconnect_timer, ns_handle_closed);
  uv_close((uv_handle_t *)&c->request_timer, ns_handle_closed);
}
