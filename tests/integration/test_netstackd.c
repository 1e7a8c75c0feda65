/*
 * test_netstackd.c - a real netstackd process and the netstack client:
 * listen/connect/close round trips with real TCP on 127.0.0.1, descriptors
 * received and counted, every policy and protocol reject, stale replies,
 * restart and reconnect. Only loopback is used; the policy forbids
 * anything else, so a bug cannot send packets out of a real interface.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include "dsb/err.h"
#include "dsb/netstack.h"
#include "dsb/netstack_client.h"

#define WAIT_MS 10000

typedef struct fixture {
  char dir[64];
  char sock[128];
  char cfg[128];
  char log[128];
  char notify[128];
  pid_t pid;
  uv_loop_t loop;
} fixture;

static const char *policy =
    "{\n"
    "  \"families\": [\"ipv4\"],\n"
    "  \"listen_ports\": [0, \"1024-65535\"],\n"
    "  \"bind_ports\": [0, \"1024-65535\"],\n"
    "  \"connect_ports\": [\"1024-65535\"],\n"
    "  \"local_networks\": [\"127.0.0.0/8\", \"0.0.0.0/32\"],\n"
    "  \"destinations\": [\"127.0.0.0/8\"],\n"
    "  \"interfaces\": [\"lo\", \"nosuchif0\"],\n"
    "  \"max_pending_connects\": 16,\n"
    "  \"socket_mode\": \"0666\"\n"
    "}\n";

/* ---- helpers ------------------------------------------------------------- */

static int count_fds(pid_t pid) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
  DIR *d = opendir(path);
  int n = 0;
  if (d == NULL) {
    return -1;
  }
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    if (e->d_name[0] != '.') {
      n++;
    }
  }
  closedir(d);
  return n;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

/* Start netstackd and wait for its READY=1 on a notify socket (an event,
 * bounded by WAIT_MS), so no test races the bind. */
static void nsd_start(fixture *fx, const char *extra_arg,
                      const char *extra_val) {
  char bin[512];
  const char *bdir = getenv("DSB_BUILD_DIR");
  snprintf(bin, sizeof(bin), "%s/netstackd", bdir ? bdir : ".");
  if (access(bin, X_OK) != 0) {
    skip();
  }
  int ns = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  assert_true(ns >= 0);
  struct sockaddr_un sun;
  memset(&sun, 0, sizeof(sun));
  sun.sun_family = AF_UNIX;
  unlink(fx->notify);
  strcpy(sun.sun_path, fx->notify);
  assert_int_equal(bind(ns, (struct sockaddr *)&sun, sizeof(sun)), 0);

  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int lf = open(fx->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (lf >= 0) {
      dup2(lf, 2);
    }
    setenv("NOTIFY_SOCKET", fx->notify, 1);
    execl(bin, bin, "--socket", fx->sock, "--config", fx->cfg, extra_arg,
          extra_val, (char *)NULL);
    _exit(127);
  }
  struct pollfd pfd = {ns, POLLIN, 0};
  assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
  char buf[64] = {0};
  assert_true(recv(ns, buf, sizeof(buf) - 1, 0) > 0);
  assert_string_equal(buf, "READY=1");
  close(ns);
  fx->pid = pid;
}

/* SIGTERM and require a clean exit: under ASan that includes no leaks. */
static void nsd_stop(fixture *fx) {
  int st = 0;
  if (fx->pid <= 0) {
    return;
  }
  kill(fx->pid, SIGTERM);
  assert_int_equal(waitpid(fx->pid, &st, 0), fx->pid);
  fx->pid = 0;
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
}

static int setup(void **state) {
  fixture *fx = calloc(1, sizeof(*fx));
  assert_non_null(fx);
  strcpy(fx->dir, "/tmp/dsb-netstackd-XXXXXX");
  assert_non_null(mkdtemp(fx->dir));
  chmod(fx->dir, 0755); /* the wrong-uid test connects as nobody */
  snprintf(fx->sock, sizeof(fx->sock), "%s/netstackd.sock", fx->dir);
  snprintf(fx->cfg, sizeof(fx->cfg), "%s/netstackd.json", fx->dir);
  snprintf(fx->log, sizeof(fx->log), "%s/netstackd.log", fx->dir);
  snprintf(fx->notify, sizeof(fx->notify), "%s/notify", fx->dir);
  write_file(fx->cfg, policy);
  assert_int_equal(uv_loop_init(&fx->loop), 0);
  *state = fx;
  nsd_start(fx, NULL, NULL);
  return 0;
}

static void walk_close(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) {
    uv_close(h, NULL);
  }
}

static int teardown(void **state) {
  fixture *fx = *state;
  if (fx->pid > 0) {
    nsd_stop(fx);
  }
  uv_walk(&fx->loop, walk_close, NULL);
  uv_run(&fx->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&fx->loop), 0);
  unlink(fx->sock);
  unlink(fx->cfg);
  unlink(fx->notify);
  if (getenv("DSB_KEEP_LOGS") == NULL) {
    unlink(fx->log);
  }
  rmdir(fx->dir);
  free(fx);
  return 0;
}

static dsb_netstack_client *client_new(fixture *fx, dsb_netstack_state_cb cb,
                                       void *ud) {
  dsb_netstack_client *c = NULL;
  dsb_netstack_client_settings s;
  memset(&s, 0, sizeof(s));
  s.socket_path = fx->sock;
  s.backoff_initial_ms = 10;
  s.backoff_max_ms = 200;
  s.request_timeout_ms = 5000;
  s.state_cb = cb;
  s.user_data = ud;
  assert_int_equal(dsb_netstack_client_new(&c, &fx->loop, &s), 0);
  return c;
}

/* Delete the client and let libuv release its handles. */
static void client_del(fixture *fx, dsb_netstack_client *c) {
  dsb_netstack_client_del(c);
  uv_run(&fx->loop, UV_RUN_NOWAIT);
  uv_run(&fx->loop, UV_RUN_NOWAIT);
}

static dsb_netstack_addr lo4(uint16_t port) {
  dsb_netstack_addr a;
  memset(&a, 0, sizeof(a));
  a.family = DSB_NETSTACK_FAMILY_IPV4;
  a.ip[0] = 127;
  a.ip[3] = 1;
  a.port = port;
  return a;
}

static int call_listen(dsb_netstack_client *c, dsb_netstack_addr local,
                       uint16_t *port, int *fd) {
  dsb_netstack_req req;
  dsb_netstack_rep rep;
  memset(&req, 0, sizeof(req));
  req.op = DSB_NETSTACK_OP_TCP_LISTEN;
  req.u.tcp_listen.local = local;
  req.u.tcp_listen.backlog = 16;
  int rv = dsb_netstack_client_call(c, &req, &rep, fd, WAIT_MS);
  if (rv == 0 && port != NULL) {
    *port = rep.u.sock.local.port;
  }
  return rv;
}

static int call_connect(dsb_netstack_client *c, dsb_netstack_addr remote,
                        uint32_t timeout_ms, int *fd) {
  dsb_netstack_req req;
  dsb_netstack_rep rep;
  memset(&req, 0, sizeof(req));
  req.op = DSB_NETSTACK_OP_TCP_CONNECT;
  req.u.tcp_connect.remote = remote;
  req.u.tcp_connect.timeout_ms = timeout_ms;
  return dsb_netstack_client_call(c, &req, &rep, fd, WAIT_MS);
}

static void assert_echo(int a, int b) {
  char buf[16] = {0};
  assert_int_equal(write(a, "ping", 4), 4);
  struct pollfd pfd = {b, POLLIN, 0};
  assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
  assert_int_equal(read(b, buf, sizeof(buf)), 4);
  assert_memory_equal(buf, "ping", 4);
}

static int accept_wait(int lfd) {
  struct pollfd pfd = {lfd, POLLIN, 0};
  assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
  int a = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
  assert_true(a >= 0);
  return a;
}

/* Run the loop until *value reaches |target| or WAIT_MS pass. A repeating
 * guard timer makes UV_RUN_ONCE return so the deadline is checked. */
static void guard_cb(uv_timer_t *t) {
  (void)t;
}

static void run_until(fixture *fx, const int *value, int target) {
  uv_timer_t guard;
  uv_timer_init(&fx->loop, &guard);
  uv_timer_start(&guard, guard_cb, 20, 20);
  uint64_t deadline = uv_hrtime() / 1000000u + WAIT_MS;
  while (*value < target && uv_hrtime() / 1000000u < deadline) {
    uv_run(&fx->loop, UV_RUN_ONCE);
  }
  uv_close((uv_handle_t *)&guard, NULL);
  uv_run(&fx->loop, UV_RUN_NOWAIT);
  assert_true(*value >= target);
}

/* ---- raw protocol helpers (for malformed input) -------------------------- */

static int raw_connect(const char *path) {
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  struct sockaddr_un sun;
  memset(&sun, 0, sizeof(sun));
  sun.sun_family = AF_UNIX;
  strcpy(sun.sun_path, path);
  assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
  return fd;
}

static void raw_send_fd(int s, const uint8_t *buf, size_t len, int fd) {
  struct iovec iov = {(void *)(uintptr_t)buf, len};
  union {
    struct cmsghdr h;
    char b[CMSG_SPACE(sizeof(int))];
  } ctl;
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  memset(&ctl, 0, sizeof(ctl));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (fd >= 0) {
    msg.msg_control = ctl.b;
    msg.msg_controllen = sizeof(ctl.b);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  assert_int_equal(sendmsg(s, &msg, MSG_NOSIGNAL), (ssize_t)len);
}

/* Receive one reply (no descriptor expected) and decode it. */
static void raw_recv(int s, dsb_netstack_rep *rep) {
  uint8_t buf[DSB_NETSTACK_MAX_MSG];
  struct pollfd pfd = {s, POLLIN, 0};
  assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
  ssize_t n = recv(s, buf, sizeof(buf), 0);
  assert_true(n > 0);
  assert_int_equal(dsb_netstack_rep_decode(rep, buf, (size_t)n), 0);
}

static void raw_hello(int s) {
  uint8_t buf[64];
  dsb_netstack_req req;
  dsb_netstack_rep rep;
  memset(&req, 0, sizeof(req));
  req.op = DSB_NETSTACK_OP_HELLO;
  req.nonce = 1;
  req.u.hello.version = DSB_NETSTACK_VERSION;
  int n = dsb_netstack_req_encode(buf, sizeof(buf), &req);
  raw_send_fd(s, buf, (size_t)n, -1);
  raw_recv(s, &rep);
  assert_int_equal(rep.status, DSB_NETSTACK_ST_OK);
  assert_int_equal(rep.u.hello.version, DSB_NETSTACK_VERSION);
}

/* ---- tests --------------------------------------------------------------- */

static void test_listen_connect_roundtrip(void **state) {
  fixture *fx = *state;
  dsb_netstack_client *c = client_new(fx, NULL, NULL);
  int l = -1, cfd = -1, type = 0, acc = 0;
  socklen_t len = sizeof(int);
  uint16_t port = 0;

  assert_int_equal(call_listen(c, lo4(0), &port, &l), 0);
  assert_true(l >= 0);
  assert_true(port != 0);
  assert_int_equal(getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len), 0);
  assert_int_equal(acc, 1);
  assert_int_equal(call_connect(c, lo4(port), 2000, &cfd), 0);
  assert_true(cfd >= 0);
  len = sizeof(int);
  assert_int_equal(getsockopt(cfd, SOL_SOCKET, SO_TYPE, &type, &len), 0);
  assert_int_equal(type, SOCK_STREAM);
  int a = accept_wait(l);
  assert_echo(cfd, a);
  assert_echo(a, cfd);
  close(a);
  close(cfd);
  close(l);

  dsb_netstack_client_stats st;
  dsb_netstack_client_get_stats(c, &st);
  assert_int_equal(st.fds_received, 2);
  assert_int_equal(st.fds_closed, 0);
  assert_int_equal(st.stale_replies, 0);
  client_del(fx, c);
}

typedef struct async_res {
  int done;
  int err;
  int fd;
  dsb_netstack_rep rep;
} async_res;

static void on_reply(dsb_netstack_client *c, int err,
                     const dsb_netstack_rep *rep, int fd, void *ud) {
  async_res *r = ud;
  (void)c;
  r->done = 1;
  r->err = err;
  r->fd = fd;
  if (rep != NULL) {
    r->rep = *rep;
  }
}

typedef struct link_state {
  int ups;
  int downs;
  int last_err;
} link_state;

static void on_state(dsb_netstack_client *c, int up, int err, void *ud) {
  link_state *ls = ud;
  (void)c;
  if (up) {
    ls->ups++;
  } else {
    ls->downs++;
    ls->last_err = err;
  }
}

static void test_async_listen_connect(void **state) {
  fixture *fx = *state;
  link_state ls = {0, 0, 0};
  dsb_netstack_client *c = client_new(fx, on_state, &ls);
  assert_int_equal(dsb_netstack_client_start(c), 0);
  run_until(fx, &ls.ups, 1);

  async_res lr = {0, 0, -1, {0}}, cr = {0, 0, -1, {0}};
  dsb_netstack_req req;
  memset(&req, 0, sizeof(req));
  req.op = DSB_NETSTACK_OP_TCP_LISTEN;
  req.u.tcp_listen.local = lo4(0);
  req.u.tcp_listen.backlog = 4;
  assert_int_equal(dsb_netstack_client_request(c, &req, on_reply, &lr), 0);
  assert_true(req.nonce != 0);
  run_until(fx, &lr.done, 1);
  assert_int_equal(lr.err, 0);
  assert_true(lr.fd >= 0);

  memset(&req, 0, sizeof(req));
  req.op = DSB_NETSTACK_OP_TCP_CONNECT;
  req.u.tcp_connect.remote = lo4(lr.rep.u.sock.local.port);
  req.u.tcp_connect.timeout_ms = 2000;
  assert_int_equal(dsb_netstack_client_request(c, &req, on_reply, &cr), 0);
  run_until(fx, &cr.done, 1);
  assert_int_equal(cr.err, 0);
  assert_true(cr.fd >= 0);
  assert_int_equal(cr.rep.u.sock.local.family, DSB_NETSTACK_FAMILY_IPV4);
  int a = accept_wait(lr.fd);
  assert_echo(cr.fd, a);
  close(a);
  close(cr.fd);
  close(lr.fd);
  client_del(fx, c);
}

static void test_udp_bind_multicast_on_lo(void **state) {
  fixture *fx = *state;
  dsb_netstack_client *c = client_new(fx, NULL, NULL);
  dsb_netstack_req req;
  dsb_netstack_rep rep;
  int fd = -1;

  memset(&req, 0, sizeof(req));
  req.op = DSB_NETSTACK_OP_UDP_BIND;
  req.u.udp_bind.local.family = DSB_NETSTACK_FAMILY_IPV4; /* 0.0.0.0:0 */
  req.u.udp_bind.flags =
      DSB_NETSTACK_UDP_REUSEADDR | DSB_NETSTACK_UDP_MCAST_LOOP;
  req.u.udp_bind.mcast_ttl = 0; /* never leaves the host */
  req.u.udp_bind.ngroups = 1;
  strcpy(req.u.udp_bind.groups[0].ifname.name, "lo");
  req.u.udp_bind.groups[0].group.family = DSB_NETSTACK_FAMILY_IPV4;
  memcpy(req.u.udp_bind.groups[0].group.ip, "\xef\xff\x4d\x01", 4);
  assert_int_equal(dsb_netstack_client_call(c, &req, &rep, &fd, WAIT_MS), 0);
  assert_true(fd >= 0);
  uint16_t port = rep.u.sock.local.port;
  assert_true(port != 0);

  /* Send to the group through the socket itself: loopback delivery proves
   * the join, the egress interface and the loop flag were applied. */
  struct sockaddr_in grp;
  memset(&grp, 0, sizeof(grp));
  grp.sin_family = AF_INET;
  grp.sin_port = htons(port);
  memcpy(&grp.sin_addr, "\xef\xff\x4d\x01", 4);
  assert_int_equal(sendto(fd, "hi", 2, 0, (struct sockaddr *)&grp, sizeof(grp)),
                   2);
  struct pollfd pfd = {fd, POLLIN, 0};
  assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
  char buf[8];
  assert_int_equal(recv(fd, buf, sizeof(buf), 0), 2);
  close(fd);
  client_del(fx, c);
}

static void test_local_addr_and_iflist(void **state) {
  fixture *fx = *state;
  dsb_netstack_client *c = client_new(fx, NULL, NULL);
  dsb_netstack_req req;
  static dsb_netstack_rep rep;
  int fd = -1;

  memset(&req, 0, sizeof(req));
  req.op = DSB_NETSTACK_OP_LOCAL_ADDR;
  req.u.local_addr.remote = lo4(0);
  assert_int_equal(dsb_netstack_client_call(c, &req, &rep, &fd, WAIT_MS), 0);
  assert_int_equal(fd, -1);
  assert_memory_equal(rep.u.local_addr.local.ip, "\x7f\x00\x00\x01", 4);

  memset(&req, 0, sizeof(req));
  req.op = DSB_NETSTACK_OP_IFLIST;
  assert_int_equal(dsb_netstack_client_call(c, &req, &rep, &fd, WAIT_MS), 0);
  /* The policy allows "lo" only (nosuchif0 does not exist). */
  assert_int_equal(rep.u.iflist.count, 1);
  assert_string_equal(rep.u.iflist.ifaces[0].ifname.name, "lo");
  assert_true(rep.u.iflist.ifaces[0].flags & DSB_NETSTACK_IF_LOOPBACK);
  assert_true(rep.u.iflist.ifaces[0].naddrs >= 1);
  assert_int_equal(rep.u.iflist.ifaces[0].addrs[0].prefix, 8);
  client_del(fx, c);
}

static void test_reject_wrong_uid(void **state) {
  fixture *fx = *state;
  if (geteuid() != 0) {
    print_message("skipped: needs root to setuid() a child to nobody\n");
    skip();
  }
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    uv_loop_t loop;
    dsb_netstack_client *c = NULL;
    dsb_netstack_client_settings s;
    dsb_netstack_req req;
    dsb_netstack_rep rep;
    int fd;
    if (setgid(65534) != 0 || setuid(65534) != 0) {
      _exit(10);
    }
    uv_loop_init(&loop);
    memset(&s, 0, sizeof(s));
    s.socket_path = fx->sock;
    if (dsb_netstack_client_new(&c, &loop, &s) != 0) {
      _exit(11);
    }
    memset(&req, 0, sizeof(req));
    req.op = DSB_NETSTACK_OP_IFLIST;
    int rv = dsb_netstack_client_call(c, &req, &rep, &fd, WAIT_MS);
    _exit(rv == DSB_ERR_IPC_PEER_CRED ? 0 : 12);
  }
  int st = 0;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_reject_second_client_busy(void **state) {
  fixture *fx = *state;
  dsb_netstack_client *a = client_new(fx, NULL, NULL);
  dsb_netstack_client *b = client_new(fx, NULL, NULL);
  dsb_netstack_req req;
  dsb_netstack_rep rep;
  int fd;
  memset(&req, 0, sizeof(req));
  req.op = DSB_NETSTACK_OP_IFLIST;
  assert_int_equal(dsb_netstack_client_call(a, &req, &rep, &fd, WAIT_MS), 0);
  assert_int_equal(dsb_netstack_client_call(b, &req, &rep, &fd, WAIT_MS),
                   DSB_ERR_NETSTACK_BUSY);
  /* The first client is unaffected. */
  assert_int_equal(dsb_netstack_client_call(a, &req, &rep, &fd, WAIT_MS), 0);
  client_del(fx, b);
  client_del(fx, a);
}

static void test_reject_malformed_request(void **state) {
  fixture *fx = *state;
  int s = raw_connect(fx->sock);
  dsb_netstack_rep rep;
  uint8_t buf[DSB_NETSTACK_MAX_MSG + 16];

  /* Before HELLO nothing else is served. */
  static const uint8_t iflist[] = {0x07, 0, 0, 0, 0, 0, 0, 0, 9};
  raw_send_fd(s, iflist, sizeof(iflist), -1);
  raw_recv(s, &rep);
  assert_int_equal(rep.op, DSB_NETSTACK_OP_IFLIST);
  assert_int_equal(rep.status, DSB_NETSTACK_ST_NOT_READY);
  assert_true(rep.nonce == 9);
  raw_hello(s);

  /* Too short to carry a nonce: an unsolicited notice. */
  raw_send_fd(s, (const uint8_t *)"\x02\x04\x7f", 3, -1);
  raw_recv(s, &rep);
  assert_int_equal(rep.op, DSB_NETSTACK_OP_NOTICE);
  assert_int_equal(rep.status, DSB_NETSTACK_ST_MALFORMED);
  assert_true(rep.nonce == 0);

  /* Unknown op (0x03, there is no ACCEPT): notice with its nonce. */
  static const uint8_t accept_op[] = {0x03, 0, 0, 0, 0, 0, 0, 0, 10};
  raw_send_fd(s, accept_op, sizeof(accept_op), -1);
  raw_recv(s, &rep);
  assert_int_equal(rep.op, DSB_NETSTACK_OP_NOTICE);
  assert_int_equal(rep.status, DSB_NETSTACK_ST_UNKNOWN_OP);
  assert_true(rep.nonce == 10);

  /* Trailing byte after a LISTEN payload. */
  static const uint8_t trailing[] = {0x02, 0x04, 127, 0, 0, 1, 0, 0, 0, 4,
                                     0xee, 0,    0,   0, 0, 0, 0, 0, 11};
  raw_send_fd(s, trailing, sizeof(trailing), -1);
  raw_recv(s, &rep);
  assert_int_equal(rep.op, DSB_NETSTACK_OP_TCP_LISTEN);
  assert_int_equal(rep.status, DSB_NETSTACK_ST_MALFORMED);
  assert_true(rep.nonce == 11);

  /* Oversized packet. */
  memset(buf, 0, sizeof(buf));
  buf[0] = DSB_NETSTACK_OP_IFLIST;
  buf[sizeof(buf) - 1] = 12;
  raw_send_fd(s, buf, sizeof(buf), -1);
  raw_recv(s, &rep);
  assert_int_equal(rep.status, DSB_NETSTACK_ST_MALFORMED);

  /* A descriptor sent to netstackd: refused, and closed on its side. */
  int before = count_fds(fx->pid);
  int p[2];
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  static const uint8_t iflist2[] = {0x07, 0, 0, 0, 0, 0, 0, 0, 13};
  raw_send_fd(s, iflist2, sizeof(iflist2), p[0]);
  raw_recv(s, &rep);
  assert_int_equal(rep.status, DSB_NETSTACK_ST_MALFORMED);
  assert_true(rep.nonce == 13);
  assert_int_equal(count_fds(fx->pid), before);
  close(p[0]);
  close(p[1]);

  /* Wrong protocol version. */
  static const uint8_t hello2[] = {0x01, 2, 0, 0, 0, 0, 0, 0, 0, 14};
  raw_send_fd(s, hello2, sizeof(hello2), -1);
  raw_recv(s, &rep);
  assert_int_equal(rep.status, DSB_NETSTACK_ST_VERSION);

  /* The connection still serves well-formed requests. */
  static const uint8_t iflist3[] = {0x07, 0, 0, 0, 0, 0, 0, 0, 15};
  raw_send_fd(s, iflist3, sizeof(iflist3), -1);
  raw_recv(s, &rep);
  assert_int_equal(rep.status, DSB_NETSTACK_ST_OK);
  close(s);
}

static void test_reject_port_not_allowed(void **state) {
  fixture *fx = *state;
  dsb_netstack_client *c = client_new(fx, NULL, NULL);
  int fd = -1;
  assert_int_equal(call_listen(c, lo4(80), NULL, &fd), DSB_ERR_NETSTACK_PORT);
  assert_int_equal(fd, -1);
  assert_int_equal(call_connect(c, lo4(22), 1000, &fd), DSB_ERR_NETSTACK_PORT);
  assert_int_equal(fd, -1);

  dsb_netstack_req req;
  dsb_netstack_rep rep;
  memset(&req, 0, sizeof(req));
  req.op = DSB_NETSTACK_OP_UDP_BIND;
  req.u.udp_bind.local = lo4(53);
  assert_int_equal(dsb_netstack_client_call(c, &req, &rep, &fd, WAIT_MS),
                   DSB_ERR_NETSTACK_PORT);
  assert_int_equal(fd, -1);
  client_del(fx, c);
}

static void test_reject_family_not_allowed(void **state) {
  fixture *fx = *state;
  dsb_netstack_client *c = client_new(fx, NULL, NULL);
  dsb_netstack_addr v6;
  int fd = -1;
  memset(&v6, 0, sizeof(v6));
  v6.family = DSB_NETSTACK_FAMILY_IPV6;
  v6.ip[15] = 1; /* ::1 */
  v6.port = 4000;
  assert_int_equal(call_listen(c, v6, NULL, &fd), DSB_ERR_NETSTACK_FAMILY);
  assert_int_equal(call_connect(c, v6, 1000, &fd), DSB_ERR_NETSTACK_FAMILY);
  assert_int_equal(fd, -1);
  client_del(fx, c);
}

static void test_reject_destination_not_allowed(void **state) {
  fixture *fx = *state;
  dsb_netstack_client *c = client_new(fx, NULL, NULL);
  dsb_netstack_addr far;
  dsb_netstack_req req;
  dsb_netstack_rep rep;
  int fd = -1;
  memset(&far, 0, sizeof(far));
  far.family = DSB_NETSTACK_FAMILY_IPV4;
  memcpy(far.ip, "\xc0\x00\x02\x01", 4); /* 192.0.2.1, TEST-NET-1 */
  far.port = 8080;
  assert_int_equal(call_connect(c, far, 1000, &fd), DSB_ERR_NETSTACK_DEST);
  memset(&req, 0, sizeof(req));
  req.op = DSB_NETSTACK_OP_LOCAL_ADDR;
  req.u.local_addr.remote = far;
  req.u.local_addr.remote.port = 0;
  assert_int_equal(dsb_netstack_client_call(c, &req, &rep, &fd, WAIT_MS),
                   DSB_ERR_NETSTACK_DEST);
  /* Binding to an address outside local_networks. */
  assert_int_equal(call_listen(c, far, NULL, &fd), DSB_ERR_NETSTACK_LOCAL_ADDR);
  assert_int_equal(fd, -1);
  client_del(fx, c);
}

static void test_reject_interface_not_allowed(void **state) {
  fixture *fx = *state;
  dsb_netstack_client *c = client_new(fx, NULL, NULL);
  dsb_netstack_req req;
  dsb_netstack_rep rep;
  int fd = -1;
  memset(&req, 0, sizeof(req));
  req.op = DSB_NETSTACK_OP_UDP_BIND;
  req.u.udp_bind.local.family = DSB_NETSTACK_FAMILY_IPV4;
  req.u.udp_bind.ngroups = 1;
  strcpy(req.u.udp_bind.groups[0].ifname.name, "eth0");
  req.u.udp_bind.groups[0].group.family = DSB_NETSTACK_FAMILY_IPV4;
  memcpy(req.u.udp_bind.groups[0].group.ip, "\xef\xff\x4d\x02", 4);
  assert_int_equal(dsb_netstack_client_call(c, &req, &rep, &fd, WAIT_MS),
                   DSB_ERR_NETSTACK_IFACE);
  /* Allowed by policy but absent from the host. */
  strcpy(req.u.udp_bind.groups[0].ifname.name, "nosuchif0");
  assert_int_equal(dsb_netstack_client_call(c, &req, &rep, &fd, WAIT_MS),
                   DSB_ERR_NETSTACK_NO_IFACE);
  assert_int_equal(fd, -1);
  client_del(fx, c);
}

/* A fake netstackd that answers HELLO, then answers the next request twice:
 * first with a wrong nonce (and a descriptor), then correctly. */
static void fake_server(int lfd) {
  uint8_t buf[DSB_NETSTACK_MAX_MSG];
  dsb_netstack_req req;
  dsb_netstack_rep rep;
  int s = accept(lfd, NULL, NULL);
  if (s < 0) {
    _exit(1);
  }
  for (int i = 0; i < 2; ++i) {
    ssize_t n = recv(s, buf, sizeof(buf), 0);
    if (n <= 0 || dsb_netstack_req_decode(&req, buf, (size_t)n) != 0) {
      _exit(2);
    }
    memset(&rep, 0, sizeof(rep));
    rep.op = req.op;
    rep.nonce = req.nonce;
    if (req.op == DSB_NETSTACK_OP_HELLO) {
      rep.u.hello.version = DSB_NETSTACK_VERSION;
      n = dsb_netstack_rep_encode(buf, sizeof(buf), &rep);
      send(s, buf, (size_t)n, 0);
      continue;
    }
    int p[2];
    if (pipe(p) != 0) {
      _exit(3);
    }
    rep.u.sock.local.family = DSB_NETSTACK_FAMILY_IPV4;
    rep.nonce = req.nonce + 1000; /* stale */
    n = dsb_netstack_rep_encode(buf, sizeof(buf), &rep);
    raw_send_fd(s, buf, (size_t)n, p[0]);
    rep.nonce = req.nonce;
    n = dsb_netstack_rep_encode(buf, sizeof(buf), &rep);
    raw_send_fd(s, buf, (size_t)n, p[1]);
  }
  char c;
  (void)recv(s, &c, 1, 0); /* until the client hangs up */
  _exit(0);
}

static void test_reject_stale_nonce(void **state) {
  fixture *fx = *state;
  char path[160];
  snprintf(path, sizeof(path), "%s/fake.sock", fx->dir);
  int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  struct sockaddr_un sun;
  memset(&sun, 0, sizeof(sun));
  sun.sun_family = AF_UNIX;
  strcpy(sun.sun_path, path);
  assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
  assert_int_equal(listen(lfd, 1), 0);
  int base = count_fds(getpid());
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    fake_server(lfd);
  }

  dsb_netstack_client *c = NULL;
  dsb_netstack_client_settings s;
  memset(&s, 0, sizeof(s));
  s.socket_path = path;
  assert_int_equal(dsb_netstack_client_new(&c, &fx->loop, &s), 0);
  int fd = -1;
  assert_int_equal(call_listen(c, lo4(0), NULL, &fd), 0);
  assert_true(fd >= 0);
  dsb_netstack_client_stats st;
  dsb_netstack_client_get_stats(c, &st);
  assert_int_equal(st.stale_replies, 1);
  assert_int_equal(st.fds_received, 2);
  assert_int_equal(st.fds_closed, 1); /* the stale reply's descriptor */
  close(fd);
  client_del(fx, c);
  int wst;
  assert_int_equal(waitpid(pid, &wst, 0), pid);
  assert_true(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
  assert_int_equal(count_fds(getpid()), base);
  close(lfd);
  unlink(path);
}

static void test_reject_request_after_close(void **state) {
  fixture *fx = *state;
  dsb_netstack_client *c = client_new(fx, NULL, NULL);
  dsb_netstack_req req;
  dsb_netstack_rep rep;
  int fd = -1;
  memset(&req, 0, sizeof(req));
  req.op = DSB_NETSTACK_OP_IFLIST;
  assert_int_equal(dsb_netstack_client_call(c, &req, &rep, &fd, WAIT_MS), 0);
  dsb_netstack_client_close(c);
  assert_int_equal(dsb_netstack_client_call(c, &req, &rep, &fd, WAIT_MS),
                   DSB_ERR_CLOSED);
  assert_int_equal(dsb_netstack_client_request(c, &req, on_reply, NULL),
                   DSB_ERR_CLOSED);
  assert_int_equal(dsb_netstack_client_start(c), DSB_ERR_CLOSED);
  assert_false(dsb_netstack_client_is_up(c));
  client_del(fx, c);

  /* netstackd is free for the next client right away. */
  c = client_new(fx, NULL, NULL);
  assert_int_equal(dsb_netstack_client_call(c, &req, &rep, &fd, WAIT_MS), 0);
  /* CLOSE of a nonce that is not pending. */
  memset(&req, 0, sizeof(req));
  req.op = DSB_NETSTACK_OP_CLOSE;
  req.u.close.target = 424242;
  assert_int_equal(dsb_netstack_client_call(c, &req, &rep, &fd, WAIT_MS),
                   DSB_ERR_NETSTACK_UNKNOWN_HANDLE);
  client_del(fx, c);
}

/* A listener whose accept queue is full drops SYNs, so a connect to it
 * stays pending: exercises connect timeout and CLOSE (cancel). */
static void test_connect_timeout_and_cancel(void **state) {
  fixture *fx = *state;
  dsb_netstack_client *c = client_new(fx, NULL, NULL);
  int l = -1, fds[8], nfds = 0, fd = -1, rv = 0;
  uint16_t port;
  dsb_netstack_req req;
  memset(&req, 0, sizeof(req));
  req.op = DSB_NETSTACK_OP_TCP_LISTEN;
  req.u.tcp_listen.local = lo4(0);
  req.u.tcp_listen.backlog = 1;
  dsb_netstack_rep rep;
  assert_int_equal(dsb_netstack_client_call(c, &req, &rep, &l, WAIT_MS), 0);
  port = rep.u.sock.local.port;
  while (nfds < 8) {
    rv = call_connect(c, lo4(port), 300, &fd);
    if (rv != 0) {
      break;
    }
    fds[nfds++] = fd;
  }
  assert_int_equal(rv, DSB_ERR_NETSTACK_CONNECT_TIMEOUT);

  assert_int_equal(dsb_netstack_client_start(c), 0);
  async_res r = {0, 0, -1, {0}};
  memset(&req, 0, sizeof(req));
  req.op = DSB_NETSTACK_OP_TCP_CONNECT;
  req.u.tcp_connect.remote = lo4(port);
  req.u.tcp_connect.timeout_ms = 60000;
  assert_int_equal(dsb_netstack_client_request(c, &req, on_reply, &r), 0);
  assert_int_equal(dsb_netstack_client_cancel(c, req.nonce), 0);
  run_until(fx, &r.done, 1);
  assert_int_equal(r.err, DSB_ERR_NETSTACK_CANCELLED);
  assert_int_equal(r.fd, -1);
  for (int i = 0; i < nfds; ++i) {
    close(fds[i]);
  }
  close(l);
  client_del(fx, c);
}

static void test_fd_counts_after_1000_cycles(void **state) {
  fixture *fx = *state;
  dsb_netstack_client *c = client_new(fx, NULL, NULL);
  dsb_netstack_req req;
  dsb_netstack_rep rep;
  int fd = -1;
  /* Connect first, so the client's own socket is in the baseline. */
  memset(&req, 0, sizeof(req));
  req.op = DSB_NETSTACK_OP_IFLIST;
  assert_int_equal(dsb_netstack_client_call(c, &req, &rep, &fd, WAIT_MS), 0);
  int base_self = count_fds(getpid());
  int base_nsd = count_fds(fx->pid);
  assert_true(base_self > 0 && base_nsd > 0);

  for (int i = 0; i < 1000; ++i) {
    int l = -1, cfd = -1;
    uint16_t port = 0;
    assert_int_equal(call_listen(c, lo4(0), &port, &l), 0);
    assert_int_equal(call_connect(c, lo4(port), 2000, &cfd), 0);
    int a = accept_wait(l);
    close(a);
    close(cfd);
    close(l);
  }
  /* netstackd closes its copy right after sendmsg(), which may be just
   * after we saw the reply: one more round trip orders us after it. */
  assert_int_equal(dsb_netstack_client_call(c, &req, &rep, &fd, WAIT_MS), 0);
  assert_int_equal(count_fds(getpid()), base_self);
  assert_int_equal(count_fds(fx->pid), base_nsd);
  dsb_netstack_client_stats st;
  dsb_netstack_client_get_stats(c, &st);
  assert_int_equal(st.fds_received, 2000);
  assert_int_equal(st.fds_closed, 0);
  client_del(fx, c);
}

static void test_restart_reconnects(void **state) {
  fixture *fx = *state;
  link_state ls = {0, 0, 0};
  dsb_netstack_client *c = client_new(fx, on_state, &ls);
  assert_int_equal(dsb_netstack_client_start(c), 0);
  run_until(fx, &ls.ups, 1);

  /* A connection made through netstackd before it dies. */
  async_res lr = {0, 0, -1, {0}}, cr = {0, 0, -1, {0}};
  dsb_netstack_req req;
  memset(&req, 0, sizeof(req));
  req.op = DSB_NETSTACK_OP_TCP_LISTEN;
  req.u.tcp_listen.local = lo4(0);
  req.u.tcp_listen.backlog = 4;
  assert_int_equal(dsb_netstack_client_request(c, &req, on_reply, &lr), 0);
  run_until(fx, &lr.done, 1);
  assert_int_equal(lr.err, 0);
  memset(&req, 0, sizeof(req));
  req.op = DSB_NETSTACK_OP_TCP_CONNECT;
  req.u.tcp_connect.remote = lo4(lr.rep.u.sock.local.port);
  req.u.tcp_connect.timeout_ms = 2000;
  assert_int_equal(dsb_netstack_client_request(c, &req, on_reply, &cr), 0);
  run_until(fx, &cr.done, 1);
  assert_int_equal(cr.err, 0);
  int a = accept_wait(lr.fd);

  kill(fx->pid, SIGKILL);
  int st;
  assert_int_equal(waitpid(fx->pid, &st, 0), fx->pid);
  fx->pid = 0;
  run_until(fx, &ls.downs, 1);
  assert_int_equal(ls.last_err, DSB_ERR_NETSTACK_DOWN);
  assert_false(dsb_netstack_client_is_up(c));
  memset(&req, 0, sizeof(req));
  req.op = DSB_NETSTACK_OP_IFLIST;
  assert_int_equal(dsb_netstack_client_request(c, &req, on_reply, NULL),
                   DSB_ERR_NETSTACK_DOWN);
  /* Descriptors already handed over keep working without netstackd. */
  assert_echo(cr.fd, a);
  assert_echo(a, cr.fd);

  nsd_start(fx, NULL, NULL);
  run_until(fx, &ls.ups, 2);
  async_res r2 = {0, 0, -1, {0}};
  memset(&req, 0, sizeof(req));
  req.op = DSB_NETSTACK_OP_TCP_LISTEN;
  req.u.tcp_listen.local = lo4(0);
  req.u.tcp_listen.backlog = 4;
  assert_int_equal(dsb_netstack_client_request(c, &req, on_reply, &r2), 0);
  run_until(fx, &r2.done, 1);
  assert_int_equal(r2.err, 0);
  close(r2.fd);
  close(a);
  close(cr.fd);
  close(lr.fd);
  dsb_netstack_client_stats cs;
  dsb_netstack_client_get_stats(c, &cs);
  assert_true(cs.connects == 2);
  assert_true(cs.disconnects == 1);
  client_del(fx, c);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_listen_connect_roundtrip, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_async_listen_connect, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_udp_bind_multicast_on_lo, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_local_addr_and_iflist, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_reject_wrong_uid, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reject_second_client_busy, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_reject_malformed_request, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_reject_port_not_allowed, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_reject_family_not_allowed, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_reject_destination_not_allowed,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_reject_interface_not_allowed, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_reject_stale_nonce, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reject_request_after_close, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_connect_timeout_and_cancel, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_fd_counts_after_1000_cycles, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_restart_reconnects, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
