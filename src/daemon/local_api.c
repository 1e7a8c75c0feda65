/*
 * local_api.c - the local API server: a Unix SOCK_SEQPACKET socket, one
 * packet per message (include/dsb/ipc.h, docs/PROTOCOL.md "Local API").
 *
 * libuv has no seqpacket handle type, so the listening socket and every
 * client socket are plain non-blocking fds watched with uv_poll.
 *
 * Access control: the socket file is mode 0600 and every connection's
 * SO_PEERCRED uid must be the daemon's own or root (docs/SECURITY.md).
 *
 * Each client has bounded state: a reply/event queue (bytes and packets),
 * published services, streams and a budget of malformed requests. A client
 * that exceeds a bound or sends something undecodable is answered with an
 * error reply or disconnected; other clients are unaffected.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "dsb/err.h"
#include "dsb/ipc.h"
#include "dsb/ipc_rpc.h"
#include "daemon_int.h"
#include "proxy.h"

#define API_MAX_CLIENTS 64
#define API_MAX_SERVICES_PER_CLIENT 16
#define API_MAX_STREAMS_PER_CLIENT 1024
#define API_MAX_QUEUE_BYTES (1024 * 1024)
#define API_MAX_QUEUE_PACKETS 512
#define API_MAX_BAD_REQUESTS 16
#define API_BATCH 32 /* requests handled per wakeup, for fairness */

typedef struct api_out {
  struct api_out *next;
  int fd; /* attached descriptor or -1 */
  size_t len;
  uint8_t data[];
} api_out;

struct dsbd_client {
  dsbd_api *api;
  dsbd_client *next, *prev;
  int fd;
  uv_poll_t poll;
  int poll_events;
  uid_t uid;
  pid_t pid;
  uint8_t flags; /* DSB_IPC_HELLO_* */
  int closing;
  unsigned bad_requests;
  api_out *outq, *outq_tail;
  size_t outq_bytes;
  size_t outq_packets;
  size_t owed; /* requests read and not yet answered */
  size_t nservices;
  char services[API_MAX_SERVICES_PER_CLIENT][DSB_IPC_SERVICE_MAX + 1];
  size_t nstreams;
  dsbd_stream *streams[API_MAX_STREAMS_PER_CLIENT];
};

struct dsbd_api {
  dsbd *d;
  int fd;
  uv_poll_t poll;
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  dsbd_client *clients;
  size_t nclients;
  uint64_t event_seq;
  uint8_t rx[DSB_IPC_MAX_MSG + 1];
  uint8_t tx[DSB_IPC_MAX_MSG];
  uint8_t list[DSB_IPC_MAX_MSG];
};

static void api_client_close(dsbd_client *c, const char *why);

/* ---- sending ------------------------------------------------------------ */

static void api_close_fd(int fd) {
  if (fd >= 0) {
    close(fd);
  }
}

/* One packet with an optional descriptor. Returns 0, DSB_ERR_AGAIN
 * (socket full) or DSB_ERR_IO. */
static int api_send_packet(int sock, const uint8_t *p, size_t len, int fd) {
  struct iovec iov = {(void *)(uintptr_t)p, len};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } cm;
  struct msghdr mh;
  memset(&mh, 0, sizeof(mh));
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  if (fd >= 0) {
    memset(&cm, 0, sizeof(cm));
    mh.msg_control = cm.buf;
    mh.msg_controllen = sizeof(cm.buf);
    struct cmsghdr *ch = CMSG_FIRSTHDR(&mh);
    ch->cmsg_level = SOL_SOCKET;
    ch->cmsg_type = SCM_RIGHTS;
    ch->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(ch), &fd, sizeof(int));
  }
  for (;;) {
    ssize_t n = sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) {
      return 0;
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
      return DSB_ERR_AGAIN;
    }
    return DSB_ERR_IO;
  }
}

static void api_update_poll(dsbd_client *c);

/* Flow control: stop reading a client while its queued replies plus the
 * replies it is still owed reach half the queue. Counting the owed ones
 * (calls and opens in flight) keeps the replies that are still to come
 * within the queue, so a client that reads them is never dropped as too
 * slow however many requests it writes. */
static int api_backlogged(const dsbd_client *c) {
  return c->outq_packets + c->owed >= API_MAX_QUEUE_PACKETS / 2;
}

static void api_flush(dsbd_client *c) {
  while (c->outq) {
    api_out *o = c->outq;
    int rv = api_send_packet(c->fd, o->data, o->len, o->fd);
    if (rv == DSB_ERR_AGAIN) {
      break;
    }
    if (rv) {
      api_client_close(c, "send failed");
      return;
    }
    c->outq = o->next;
    if (!c->outq) {
      c->outq_tail = NULL;
    }
    c->outq_bytes -= o->len;
    c->outq_packets--;
    api_close_fd(o->fd); /* our copy; the client has its own now */
    free(o);
  }
  api_update_poll(c);
}

static int api_send(dsbd_client *c, const uint8_t *p, size_t len, int fd) {
  if (c->closing) {
    api_close_fd(fd);
    return DSB_ERR_CLOSED;
  }
  if (len && (p[0] & DSB_IPC_REPLY_BIT) && c->owed) {
    c->owed--;
  }
  if (!c->outq) {
    int rv = api_send_packet(c->fd, p, len, fd);
    if (rv == 0) {
      api_close_fd(fd);
      api_update_poll(c); /* one reply fewer owed: maybe read again */
      return 0;
    }
    if (rv != DSB_ERR_AGAIN) {
      api_close_fd(fd);
      api_client_close(c, "send failed");
      return rv;
    }
  }
  if (c->outq_bytes + len > API_MAX_QUEUE_BYTES ||
      c->outq_packets >= API_MAX_QUEUE_PACKETS) {
    api_close_fd(fd);
    dsbd_count(c->api->d, "ipc.client_too_slow", 1);
    api_client_close(c, "client does not read its replies");
    return DSB_ERR_LIMIT;
  }
  api_out *o = malloc(sizeof(*o) + len);
  if (!o) {
    api_close_fd(fd);
    api_client_close(c, "out of memory");
    return DSB_ERR_NOMEM;
  }
  o->next = NULL;
  o->fd = fd;
  o->len = len;
  memcpy(o->data, p, len);
  if (c->outq_tail) {
    c->outq_tail->next = o;
  } else {
    c->outq = o;
  }
  c->outq_tail = o;
  c->outq_bytes += len;
  c->outq_packets++;
  api_update_poll(c);
  return 0;
}

int dsbd_client_send(dsbd_client *c, const dsb_ipc_msg *msg, int fd) {
  uint8_t *tx = c->api->tx;
  long n = dsb_ipc_encode(tx, DSB_IPC_MAX_MSG, msg);
  if (n < 0) {
    dsbd_log(c->api->d, DSB_LOG_ERROR, "encoding %s: %s",
             dsb_ipc_op_name(msg->op), dsb_strerror((int)n));
    api_close_fd(fd);
    return (int)n;
  }
  return api_send(c, tx, (size_t)n, fd);
}

int dsbd_client_send_raw(dsbd_client *c, const uint8_t *p, size_t len) {
  return api_send(c, p, len, -1);
}

int dsbd_client_send_status(dsbd_client *c, uint8_t op, uint64_t nonce,
                            int status) {
  uint8_t buf[32];
  long n = dsb_ipc_encode_status(buf, sizeof(buf), op, nonce, status);
  if (n < 0) {
    return (int)n;
  }
  return api_send(c, buf, (size_t)n, -1);
}

/* ---- client lifetime ---------------------------------------------------- */

static void api_on_client_closed(uv_handle_t *h) {
  dsbd_client *c = h->data;
  close(c->fd);
  free(c);
}

static void api_client_close(dsbd_client *c, const char *why) {
  if (c->closing) {
    return;
  }
  dsbd_api *api = c->api;
  c->closing = 1;
  dsbd_log(api->d, DSB_LOG_DEBUG, "client pid %ld disconnected: %s",
           (long)c->pid, why);
  /* Unlink first so nothing below finds it. */
  if (c->prev) {
    c->prev->next = c->next;
  } else {
    api->clients = c->next;
  }
  if (c->next) {
    c->next->prev = c->prev;
  }
  api->nclients--;
  while (c->outq) {
    api_out *o = c->outq;
    c->outq = o->next;
    api_close_fd(o->fd);
    free(o);
  }
  c->outq_tail = NULL;
  /* Streams keep running: the app holds their descriptors, which work
   * without the control connection. They only lose their owner. */
  for (size_t i = 0; i < c->nstreams; ++i) {
    dsbd_stream_drop_owner(c->streams[i]);
  }
  c->nstreams = 0;
  dsbd_peers_client_gone(api->d->peers, c);
  dsbd_proxy_client_gone(api->d->proxy, c);
  int had_services = c->nservices > 0;
  c->nservices = 0;
  if (had_services && !dsbd_stopping(api->d)) {
    dsbd_services_changed(api->d);
  }
  uv_poll_stop(&c->poll);
  uv_close((uv_handle_t *)&c->poll, api_on_client_closed);
}

void dsbd_client_add_stream(dsbd_client *c, dsbd_stream *s) {
  if (c->nstreams < API_MAX_STREAMS_PER_CLIENT) {
    c->streams[c->nstreams++] = s;
  }
}

void dsbd_client_remove_stream(dsbd_client *c, dsbd_stream *s) {
  for (size_t i = 0; i < c->nstreams; ++i) {
    if (c->streams[i] == s) {
      c->streams[i] = c->streams[--c->nstreams];
      return;
    }
  }
}

size_t dsbd_client_stream_count(const dsbd_client *c) {
  return c->nstreams;
}

/* ---- requests ----------------------------------------------------------- */

static void api_reply_list(dsbd_client *c, const dsb_ipc_msg *req) {
  dsbd_api *api = c->api;
  /* Room for the reply header and nonce around the entries. */
  size_t cap = DSB_IPC_MAX_MSG - 32;
  uint16_t total = 0, count = 0;
  long n;
  switch (req->op) {
  case DSB_IPC_OP_PEERS:
    n = dsbd_disc_list(api->d, api->list, cap, req->u.list.start, &total,
                       &count);
    break;
  case DSB_IPC_OP_TRUST_LIST:
    n = dsbd_trust_list(api->d, api->list, cap, req->u.list.start, &total,
                        &count);
    break;
  default:
    n = dsbd_status_list(api->d, api->list, cap, req->u.list.start, &total,
                         &count);
    break;
  }
  if (n < 0) {
    dsbd_client_send_status(c, req->op, req->nonce, (int)n);
    return;
  }
  dsb_ipc_msg r;
  memset(&r, 0, sizeof(r));
  r.op = (uint8_t)(req->op | DSB_IPC_REPLY_BIT);
  r.nonce = req->nonce;
  r.u.list_r.total = total;
  r.u.list_r.count = count;
  r.u.list_r.p = api->list;
  r.u.list_r.len = (size_t)n;
  dsbd_client_send(c, &r, -1);
}

static int api_service_published(dsbd_api *api, const char *name) {
  for (dsbd_client *o = api->clients; o; o = o->next) {
    for (size_t i = 0; i < o->nservices; ++i) {
      if (strcmp(o->services[i], name) == 0) {
        return 1;
      }
    }
  }
  return 0;
}

static size_t api_total_services(dsbd_api *api) {
  size_t n = 0;
  for (dsbd_client *o = api->clients; o; o = o->next) {
    n += o->nservices;
  }
  return n;
}

static int api_publish(dsbd_client *c, const dsb_ipc_str *svc) {
  char name[DSB_IPC_SERVICE_MAX + 1];
  memcpy(name, svc->p, svc->len);
  name[svc->len] = 0;
  if (api_service_published(c->api, name)) {
    return DSB_ERR_EXISTS;
  }
  /* Discovery announces at most DSB_IPC_MAX_SERVICES per device. */
  if (c->nservices >= API_MAX_SERVICES_PER_CLIENT ||
      api_total_services(c->api) >= DSB_IPC_MAX_SERVICES) {
    return DSB_ERR_LIMIT;
  }
  memcpy(c->services[c->nservices++], name, svc->len + 1);
  dsbd_log(c->api->d, DSB_LOG_INFO, "service \"%s\" published (pid %ld)", name,
           (long)c->pid);
  dsbd_services_changed(c->api->d);
  return 0;
}

static int api_withdraw(dsbd_client *c, const dsb_ipc_str *svc) {
  for (size_t i = 0; i < c->nservices; ++i) {
    if (strlen(c->services[i]) == svc->len &&
        memcmp(c->services[i], svc->p, svc->len) == 0) {
      memmove(c->services[i], c->services[c->nservices - 1],
              sizeof(c->services[0]));
      c->nservices--;
      dsbd_services_changed(c->api->d);
      return 0;
    }
  }
  return DSB_ERR_NOT_FOUND;
}

static void api_handle(dsbd_client *c, const dsb_ipc_msg *req) {
  dsbd_api *api = c->api;
  dsbd *d = api->d;
  dsb_ipc_msg r;
  memset(&r, 0, sizeof(r));
  r.op = (uint8_t)(req->op | DSB_IPC_REPLY_BIT);
  r.nonce = req->nonce;
  int rv = 0;
  switch (req->op) {
  case DSB_IPC_OP_HELLO:
    c->flags = req->u.hello.flags;
    r.u.hello_r.version = DSB_IPC_VERSION;
    r.u.hello_r.id = dsbd_identity(d)->id;
    dsbd_client_send(c, &r, -1);
    return;
  case DSB_IPC_OP_ID: {
    const dsb_identity *id = dsbd_identity(d);
    r.u.id_r.id = id->id;
    r.u.id_r.name = dsb_ipc_cstr(dsbd_cfg(d)->name);
    memcpy(r.u.id_r.ed_pk, id->proof.ed_pk, 32);
    memcpy(r.u.id_r.static_pk, id->proof.static_pk, 32);
    r.u.id_r.port = dsbd_session_port(d);
    dsbd_client_send(c, &r, -1);
    return;
  }
  case DSB_IPC_OP_PEERS:
  case DSB_IPC_OP_TRUST_LIST:
  case DSB_IPC_OP_STATUS:
    api_reply_list(c, req);
    return;
  case DSB_IPC_OP_TRUST_SET:
    if (dsb_device_id_eq(&req->u.trust_set.id, &dsbd_identity(d)->id)) {
      rv = DSB_ERR_INVALID_ARGUMENT;
      break;
    }
    rv = dsbd_trust_set(d, &req->u.trust_set.id, req->u.trust_set.state, NULL);
    if (!rv) {
      dsbd_peers_trust_changed(d->peers, &req->u.trust_set.id);
    }
    break;
  case DSB_IPC_OP_PUBLISH:
    rv = api_publish(c, &req->u.service.service);
    break;
  case DSB_IPC_OP_WITHDRAW:
    rv = api_withdraw(c, &req->u.service.service);
    break;
  case DSB_IPC_OP_OPEN: {
    if (c->nstreams >= API_MAX_STREAMS_PER_CLIENT) {
      rv = DSB_ERR_LIMIT;
      break;
    }
    char svc[DSB_IPC_SERVICE_MAX + 1];
    memcpy(svc, req->u.open.service.p, req->u.open.service.len);
    svc[req->u.open.service.len] = 0;
    rv = dsbd_peers_open(d->peers, c, req->nonce, &req->u.open.id, svc,
                         req->u.open.priority);
    if (rv == 0) {
      return; /* the reply comes when the peer answers */
    }
    break;
  }
  default:
    rv = DSB_ERR_IPC_UNKNOWN_OP;
    break;
  }
  if (rv) {
    dsbd_client_send_status(c, req->op, req->nonce, rv);
  } else {
    dsbd_client_send(c, &r, -1);
  }
}

/* A request that did not decode: answer it if it can be addressed, and
 * drop a client that keeps doing it. */
static void api_bad_request(dsbd_client *c, const uint8_t *p, size_t len,
                            int err) {
  dsbd_count(c->api->d, dsb_strerror(err), 1);
  dsbd_log(c->api->d, DSB_LOG_DEBUG, "client pid %ld: bad request: %s",
           (long)c->pid, dsb_strerror(err));
  uint8_t op;
  uint64_t nonce;
  if (++c->bad_requests > API_MAX_BAD_REQUESTS ||
      dsb_ipc_peek(&op, &nonce, p, len) != 0) {
    api_client_close(c, "malformed requests");
    return;
  }
  dsbd_client_send_status(c, op, nonce, err);
}

/* Receive one packet; closes any descriptors a client tried to pass.
 * Returns the length, 0 for EOF, DSB_ERR_AGAIN, DSB_ERR_IPC_OVERSIZE or
 * DSB_ERR_IO. */
static long api_recv(dsbd_client *c, uint8_t *buf, size_t cap) {
  struct iovec iov = {buf, cap};
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
    n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    return (errno == EAGAIN || errno == EWOULDBLOCK) ? DSB_ERR_AGAIN
                                                     : DSB_ERR_IO;
  }
  for (struct cmsghdr *ch = CMSG_FIRSTHDR(&mh); ch; ch = CMSG_NXTHDR(&mh, ch)) {
    if (ch->cmsg_level == SOL_SOCKET && ch->cmsg_type == SCM_RIGHTS) {
      size_t nfd = (ch->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < nfd; ++i) {
        int fd;
        memcpy(&fd, CMSG_DATA(ch) + i * sizeof(int), sizeof(int));
        close(fd);
      }
    }
  }
  if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
    return DSB_ERR_IPC_OVERSIZE;
  }
  return (long)n;
}

static void api_on_client_io(uv_poll_t *h, int status, int events) {
  dsbd_client *c = h->data;
  if (status < 0) {
    api_client_close(c, "poll error");
    return;
  }
  if (events & UV_WRITABLE) {
    api_flush(c);
    if (c->closing) {
      return;
    }
  }
  if (!(events & (UV_READABLE | UV_DISCONNECT))) {
    return;
  }
  for (int i = 0; i < API_BATCH && !c->closing; ++i) {
    /* Stop reading while replies pile up: the client must read first. */
    if (api_backlogged(c)) {
      break;
    }
    long n = api_recv(c, c->api->rx, sizeof(c->api->rx));
    if (n == DSB_ERR_AGAIN) {
      break;
    }
    if (n == 0 || n == DSB_ERR_IO) {
      api_client_close(c, n == 0 ? "closed" : "receive error");
      return;
    }
    if (n == DSB_ERR_IPC_OVERSIZE) {
      dsbd_count(c->api->d, dsb_strerror((int)n), 1);
      api_client_close(c, "oversize request");
      return;
    }
    c->owed++; /* every request is answered once (or the client dropped) */
    if (dsb_ipc_rpc_op_is_ours(c->api->rx[0])) {
      /* Remote-call ops have their own codec (dsb/ipc_rpc.h). */
      dsbd_proxy_ipc(c->api->d->proxy, c, c->api->rx, (size_t)n);
      continue;
    }
    dsb_ipc_msg req;
    int rv = dsb_ipc_decode(&req, c->api->rx, (size_t)n);
    if (rv == 0 && !dsb_ipc_op_is_request(req.op)) {
      rv = DSB_ERR_IPC_UNKNOWN_OP;
    }
    if (rv) {
      api_bad_request(c, c->api->rx, (size_t)n, rv);
      continue;
    }
    api_handle(c, &req);
  }
}

static void api_update_poll(dsbd_client *c) {
  if (c->closing) {
    return;
  }
  int ev = UV_DISCONNECT;
  if (!api_backlogged(c)) {
    ev |= UV_READABLE;
  }
  if (c->outq) {
    ev |= UV_WRITABLE;
  }
  if (ev != c->poll_events) {
    c->poll_events = ev;
    uv_poll_start(&c->poll, ev, api_on_client_io);
  }
}

/* ---- accepting ---------------------------------------------------------- */

static int api_cred_allowed(uid_t uid) {
  return uid == geteuid() || uid == 0;
}

static void api_on_listen(uv_poll_t *h, int status, int events) {
  dsbd_api *api = h->data;
  (void)events;
  if (status < 0) {
    return;
  }
  for (int i = 0; i < API_BATCH; ++i) {
    int fd = accept4(api->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        dsbd_log(api->d, DSB_LOG_WARN, "local API accept: %s", strerror(errno));
      }
      return;
    }
    struct ucred cred;
    socklen_t cl = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0 ||
        !api_cred_allowed(cred.uid)) {
      dsbd_count(api->d, dsb_strerror(DSB_ERR_IPC_PEER_CRED), 1);
      dsbd_log(api->d, DSB_LOG_WARN,
               "local API: refused client uid %ld (not the daemon's user)",
               (long)cred.uid);
      close(fd);
      continue;
    }
    if (api->nclients >= API_MAX_CLIENTS) {
      dsbd_count(api->d, dsb_strerror(DSB_ERR_IPC_CLIENT_LIMIT), 1);
      uint8_t buf[32];
      long n = dsb_ipc_encode_status(buf, sizeof(buf), 0, 0,
                                     DSB_ERR_IPC_CLIENT_LIMIT);
      if (n > 0) {
        (void)api_send_packet(fd, buf, (size_t)n, -1);
      }
      close(fd);
      continue;
    }
    dsbd_client *c = calloc(1, sizeof(*c));
    if (!c) {
      close(fd);
      return;
    }
    c->api = api;
    c->fd = fd;
    c->uid = cred.uid;
    c->pid = cred.pid;
    if (uv_poll_init(dsbd_loop(api->d), &c->poll, fd) != 0) {
      close(fd);
      free(c);
      continue;
    }
    c->poll.data = c;
    c->next = api->clients;
    if (api->clients) {
      api->clients->prev = c;
    }
    api->clients = c;
    api->nclients++;
    api_update_poll(c);
    dsbd_log(api->d, DSB_LOG_DEBUG, "client pid %ld connected", (long)c->pid);
  }
}

/* Refuse to steal the socket of a running daemon; remove a stale one. */
static int api_prepare_path(dsbd_api *api, const struct sockaddr_un *sa) {
  struct stat st;
  if (lstat(api->path, &st) != 0) {
    return 0;
  }
  if (!S_ISSOCK(st.st_mode)) {
    dsbd_log(api->d, DSB_LOG_ERROR,
             "local API: %s exists and is not a "
             "socket",
             api->path);
    return DSB_ERR_EXISTS;
  }
  int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (probe < 0) {
    return DSB_ERR_IO;
  }
  int live = connect(probe, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
  close(probe);
  if (live) {
    dsbd_log(api->d, DSB_LOG_ERROR, "local API: another daemon is serving %s",
             api->path);
    return DSB_ERR_EXISTS;
  }
  unlink(api->path);
  return 0;
}

int dsbd_api_new(dsbd_api **papi, dsbd *d, const char *path) {
  struct sockaddr_un sa;
  if (strlen(path) >= sizeof(sa.sun_path)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  dsbd_api *api = calloc(1, sizeof(*api));
  if (!api) {
    return DSB_ERR_NOMEM;
  }
  api->d = d;
  api->fd = -1;
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, path, strlen(path) + 1);
  memcpy(api->path, path, strlen(path) + 1);
  int rv = api_prepare_path(api, &sa);
  if (rv) {
    goto fail_path;
  }
  api->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (api->fd < 0) {
    rv = DSB_ERR_IO;
    goto fail_path;
  }
  /* Create the socket file 0600 from the start: no window in which other
   * users could connect. */
  mode_t old = umask(0177);
  int brv = bind(api->fd, (const struct sockaddr *)&sa, sizeof(sa));
  umask(old);
  if (brv != 0 || listen(api->fd, 64) != 0) {
    dsbd_log(d, DSB_LOG_ERROR, "local API: cannot listen on %s: %s", path,
             strerror(errno));
    rv = errno == EACCES ? DSB_ERR_PERMISSION : DSB_ERR_IO;
    goto fail_bind;
  }
  if (uv_poll_init(dsbd_loop(d), &api->poll, api->fd) != 0) {
    rv = DSB_ERR_IO;
    goto fail_poll;
  }
  api->poll.data = api;
  uv_poll_start(&api->poll, UV_READABLE, api_on_listen);
  *papi = api;
  return 0;

fail_poll:
  unlink(path);
fail_bind:
  close(api->fd);
fail_path:
  free(api);
  return rv;
}

static void api_on_listener_closed(uv_handle_t *h) {
  dsbd_api *api = h->data;
  close(api->fd);
  free(api);
}

void dsbd_api_del(dsbd_api *api) {
  if (!api) {
    return;
  }
  while (api->clients) {
    api_client_close(api->clients, "daemon stopping");
  }
  unlink(api->path);
  uv_poll_stop(&api->poll);
  uv_close((uv_handle_t *)&api->poll, api_on_listener_closed);
}

size_t dsbd_api_clients(const dsbd_api *api) {
  return api ? api->nclients : 0;
}

void dsbd_api_peer_event(dsbd_api *api, uint8_t op, const dsb_device_id *id,
                         const char *name) {
  if (!api) {
    return;
  }
  dsb_ipc_msg ev;
  memset(&ev, 0, sizeof(ev));
  ev.op = op;
  ev.nonce = ++api->event_seq;
  if (op == DSB_IPC_EV_PEER_UP) {
    ev.u.peer_up.id = *id;
    ev.u.peer_up.name = dsb_ipc_cstr(name);
  } else {
    ev.u.peer_down.id = *id;
  }
  dsbd_client *next;
  for (dsbd_client *c = api->clients; c; c = next) {
    next = c->next; /* sending may close c */
    if (c->flags & DSB_IPC_HELLO_PEER_EVENTS) {
      dsbd_client_send(c, &ev, -1);
    }
  }
}

dsbd_client *dsbd_api_service_owner(dsbd_api *api, const char *service,
                                    size_t len) {
  if (!api || len > DSB_IPC_SERVICE_MAX) {
    return NULL;
  }
  for (dsbd_client *c = api->clients; c; c = c->next) {
    for (size_t i = 0; i < c->nservices; ++i) {
      if (strlen(c->services[i]) == len &&
          memcmp(c->services[i], service, len) == 0) {
        return c;
      }
    }
  }
  return NULL;
}

void dsbd_api_each_service(dsbd_api *api,
                           void (*fn)(void *ctx, const char *service),
                           void *ctx) {
  if (!api) {
    return;
  }
  for (dsbd_client *c = api->clients; c; c = c->next) {
    for (size_t i = 0; i < c->nservices; ++i) {
      fn(ctx, c->services[i]);
    }
  }
}

uint64_t dsbd_api_next_event_seq(dsbd_api *api) {
  return ++api->event_seq;
}
