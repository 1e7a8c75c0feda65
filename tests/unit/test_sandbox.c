/*
 * test_sandbox.c - proof of the facade-mode sandbox: a forked child installs
 * the same filter dsoftbusd uses and then tries what the sandbox forbids.
 * A forbidden call that succeeds fails the test. Only loopback is used.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/netlink.h>

#include "dsb/err.h"
#include "dsb/sandbox.h"

/* Sockets made before the sandbox, as dsoftbusd makes its own Unix sockets
 * and receives TCP sockets from netstackd. */
typedef struct pre {
  char dir[64];
  char upath[128];
  int ulisten;      /* AF_UNIX SOCK_SEQPACKET listener */
  int tlisten;      /* TCP listener on 127.0.0.1 */
  int tconn;        /* TCP socket connected to tlisten */
  int taccepted;    /* its accepted peer */
  int tunconnected; /* TCP socket never connected */
  struct sockaddr_in taddr;
  unsigned applied;
} pre;

typedef const char *(*check_fn)(pre *p);

static void pre_make(pre *p) {
  struct sockaddr_un sun;
  socklen_t len = sizeof(p->taddr);
  memset(p, 0, sizeof(*p));
  strcpy(p->dir, "/tmp/dsb-sandbox-XXXXXX");
  if (mkdtemp(p->dir) == NULL) {
    _exit(90);
  }
  snprintf(p->upath, sizeof(p->upath), "%s/u.sock", p->dir);
  memset(&sun, 0, sizeof(sun));
  sun.sun_family = AF_UNIX;
  strcpy(sun.sun_path, p->upath);
  p->ulisten = socket(AF_UNIX, SOCK_SEQPACKET, 0);
  if (bind(p->ulisten, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
      listen(p->ulisten, 4) != 0) {
    _exit(91);
  }
  p->tlisten = socket(AF_INET, SOCK_STREAM, 0);
  p->taddr.sin_family = AF_INET;
  p->taddr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(p->tlisten, (struct sockaddr *)&p->taddr, sizeof(p->taddr)) != 0 ||
      listen(p->tlisten, 4) != 0 ||
      getsockname(p->tlisten, (struct sockaddr *)&p->taddr, &len) != 0) {
    _exit(92);
  }
  p->tconn = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(p->tconn, (struct sockaddr *)&p->taddr, sizeof(p->taddr)) != 0) {
    _exit(93);
  }
  p->taccepted = accept(p->tlisten, NULL, NULL);
  p->tunconnected = socket(AF_INET, SOCK_STREAM, 0);
  if (p->taccepted < 0 || p->tunconnected < 0) {
    _exit(94);
  }
}

static void pre_cleanup(pre *p) {
  unlink(p->upath);
  rmdir(p->dir);
}

/* Fork; the child prepares, enters the sandbox, runs |fn| and reports its
 * verdict (NULL = pass, else a reason) through a pipe. */
static void run_sandboxed(check_fn fn) {
  int pfd[2];
  assert_int_equal(pipe(pfd), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    pre p;
    close(pfd[0]);
    pre_make(&p);
    int rv = dsb_sandbox_enter_facade(&p.applied);
    const char *why;
    char msg[160];
    if (rv == DSB_ERR_UNSUPPORTED) {
      why = "SKIP: seccomp unavailable (libseccomp.so.2 or kernel)";
    } else if (rv != 0) {
      snprintf(msg, sizeof(msg), "enter_facade failed: %s", dsb_strerror(rv));
      why = msg;
    } else {
      why = fn(&p);
    }
    pre_cleanup(&p); /* unlink is a file operation, still allowed */
    if (why != NULL) {
      (void)!write(pfd[1], why, strlen(why));
    }
    _exit(0);
  }
  close(pfd[1]);
  char buf[200] = {0};
  ssize_t n = read(pfd[0], buf, sizeof(buf) - 1);
  close(pfd[0]);
  int st = 0;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
  if (n > 0 && strncmp(buf, "SKIP:", 5) == 0) {
    print_message("%s\n", buf);
    skip();
  }
  if (n > 0) {
    fail_msg("%s", buf);
  }
}

static int expect_eperm(int rv) {
  return rv == -1 && errno == EPERM;
}

/* ---- checks (run in the sandboxed child) --------------------------------- */

static const char *check_network_sockets_denied(pre *p) {
  (void)p;
  int s;
  if (!expect_eperm(s = socket(AF_INET, SOCK_STREAM, 0))) {
    return "socket(AF_INET) was not refused with EPERM";
  }
  if (!expect_eperm(s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0))) {
    return "socket(AF_INET, SOCK_DGRAM|SOCK_CLOEXEC) was not refused";
  }
  if (!expect_eperm(s = socket(AF_INET6, SOCK_DGRAM, 0))) {
    return "socket(AF_INET6) was not refused with EPERM";
  }
  if (!expect_eperm(s = socket(AF_PACKET, SOCK_RAW, 0))) {
    return "socket(AF_PACKET) was not refused with EPERM";
  }
  if (!expect_eperm(s = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE))) {
    return "socket(AF_NETLINK) was not refused with EPERM";
  }
  int sv[2];
  if (!expect_eperm(socketpair(AF_INET, SOCK_STREAM, 0, sv))) {
    return "socketpair(AF_INET) was not refused with EPERM";
  }
  return NULL;
}

static const char *check_bind_listen_denied(pre *p) {
  struct sockaddr_un sun;
  int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
  if (s < 0) {
    return "socket(AF_UNIX) failed";
  }
  memset(&sun, 0, sizeof(sun));
  sun.sun_family = AF_UNIX;
  snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/new.sock", p->dir);
  if (!expect_eperm(bind(s, (struct sockaddr *)&sun, sizeof(sun)))) {
    return "bind(AF_UNIX) after the filter was not refused";
  }
  if (!expect_eperm(listen(s, 1))) {
    return "listen() after the filter was not refused";
  }
  close(s);
  /* Received TCP sockets cannot be re-bound or re-listened either. */
  if (!expect_eperm(bind(p->tunconnected, (struct sockaddr *)&p->taddr,
                         sizeof(p->taddr)))) {
    return "bind(TCP) after the filter was not refused";
  }
  if (!expect_eperm(listen(p->tunconnected, 1))) {
    return "listen(TCP) after the filter was not refused";
  }
  return NULL;
}

static const char *check_fastopen_denied(pre *p) {
  if (!expect_eperm((int)sendto(p->tunconnected, "x", 1, MSG_FASTOPEN,
                                (struct sockaddr *)&p->taddr,
                                sizeof(p->taddr)))) {
    return "sendto(MSG_FASTOPEN) was not refused with EPERM";
  }
  return NULL;
}

static const char *check_tcp_connect_denied_by_landlock(pre *p) {
  if (!(p->applied & DSB_SANDBOX_LANDLOCK_NET)) {
    return "SKIP: kernel without Landlock ABI >= 4; TCP connect() not "
           "restricted (documented limit)";
  }
  int rv =
      connect(p->tunconnected, (struct sockaddr *)&p->taddr, sizeof(p->taddr));
  if (!(rv == -1 && errno == EACCES)) {
    return "connect(TCP) under Landlock was not refused with EACCES";
  }
  return NULL;
}

static const char *check_io_uring_denied(pre *p) {
  (void)p;
#ifdef SYS_io_uring_setup
  char params[120];
  memset(params, 0, sizeof(params));
  long rv = syscall(SYS_io_uring_setup, 4, params);
  if (!(rv == -1 && errno == EPERM)) {
    return "io_uring_setup was not refused with EPERM";
  }
#endif
  return NULL;
}

static const char *check_unix_and_existing_sockets_work(pre *p) {
  int sv[2];
  char buf[8];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) != 0) {
    return "socketpair(AF_UNIX) failed under the filter";
  }
  if (write(sv[0], "abc", 3) != 3 || read(sv[1], buf, sizeof(buf)) != 3) {
    return "AF_UNIX socketpair does not pass data";
  }
  close(sv[0]);
  close(sv[1]);
  /* Reconnecting to netstackd: a new AF_UNIX socket and connect(). */
  struct sockaddr_un sun;
  memset(&sun, 0, sizeof(sun));
  sun.sun_family = AF_UNIX;
  strcpy(sun.sun_path, p->upath);
  int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (s < 0 || connect(s, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
    return "connect(AF_UNIX) failed under the filter";
  }
  int a = accept(p->ulisten, NULL, NULL);
  if (a < 0) {
    return "accept(AF_UNIX) failed under the filter";
  }
  close(a);
  close(s);
  /* Sockets received before keep working: data flows on them. */
  if (write(p->tconn, "ping", 4) != 4 ||
      read(p->taccepted, buf, sizeof(buf)) != 4) {
    return "an existing TCP connection stopped passing data";
  }
  return NULL;
}

static const char *check_privileges_dropped(pre *p) {
  (void)p;
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  int caps_zero = 0, nnp = 0, seccomp = 0;
  if (f == NULL) {
    return "cannot read /proc/self/status";
  }
  while (fgets(line, sizeof(line), f) != NULL) {
    if (strcmp(line, "CapEff:\t0000000000000000\n") == 0) {
      caps_zero++;
    } else if (strcmp(line, "CapPrm:\t0000000000000000\n") == 0) {
      caps_zero++;
    } else if (strcmp(line, "CapBnd:\t0000000000000000\n") == 0 ||
               (geteuid() != 0 && strncmp(line, "CapBnd:", 7) == 0)) {
      caps_zero++; /* unprivileged: the bounding set cannot be changed */
    } else if (strcmp(line, "NoNewPrivs:\t1\n") == 0) {
      nnp = 1;
    } else if (strcmp(line, "Seccomp:\t2\n") == 0) {
      seccomp = 1;
    }
  }
  fclose(f);
  if (caps_zero != 3) {
    return "capabilities not all dropped";
  }
  if (!nnp) {
    return "no_new_privs not set";
  }
  if (!seccomp) {
    return "seccomp filter mode not active";
  }
  return NULL;
}

/* ---- tests --------------------------------------------------------------- */

static void test_reject_network_socket_after_filter(void **state) {
  (void)state;
  run_sandboxed(check_network_sockets_denied);
}

static void test_reject_bind_listen_after_filter(void **state) {
  (void)state;
  run_sandboxed(check_bind_listen_denied);
}

static void test_reject_fastopen_send(void **state) {
  (void)state;
  run_sandboxed(check_fastopen_denied);
}

static void test_reject_tcp_connect_landlock(void **state) {
  (void)state;
  run_sandboxed(check_tcp_connect_denied_by_landlock);
}

static void test_reject_io_uring(void **state) {
  (void)state;
  run_sandboxed(check_io_uring_denied);
}

static void test_unix_and_existing_sockets_still_work(void **state) {
  (void)state;
  run_sandboxed(check_unix_and_existing_sockets_work);
}

static void test_privileges_dropped(void **state) {
  (void)state;
  run_sandboxed(check_privileges_dropped);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reject_network_socket_after_filter),
      cmocka_unit_test(test_reject_bind_listen_after_filter),
      cmocka_unit_test(test_reject_fastopen_send),
      cmocka_unit_test(test_reject_tcp_connect_landlock),
      cmocka_unit_test(test_reject_io_uring),
      cmocka_unit_test(test_unix_and_existing_sockets_still_work),
      cmocka_unit_test(test_privileges_dropped),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
