/*
 * bench_daemon.c - app to app through two dsoftbusd daemons on loopback,
 * beside raw TCP on the same machine in the same run:
 *   - bulk throughput of one stream with 64 KiB messages,
 *   - round-trip latency of 64-byte messages (ping-pong).
 * The daemons are the dsoftbusd binary of this build (../dsoftbusd from
 * this program), started with temporary state and sockets, discovery on lo.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_json.h"
#include "dsb/client.h"
#include "dsb/err.h"

#define BULK_MSG (64 * 1024)
#define BULK_TOTAL (512ULL * 1024 * 1024)
#define RTT_MSG 64
#define RTT_ROUNDS 20000

static char tmpdir[64];
static pid_t daemons[2] = {-1, -1};

static void bench_fail(const char *what) {
  fprintf(stderr, "bench_daemon: %s\n", what);
  exit(1);
}

static void bench_cleanup(void) {
  for (int i = 0; i < 2; ++i) {
    if (daemons[i] > 0) {
      kill(daemons[i], SIGTERM);
      waitpid(daemons[i], NULL, 0);
      daemons[i] = -1;
    }
  }
  if (tmpdir[0]) {
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0) {
      fprintf(stderr, "bench_daemon: could not remove %s\n", tmpdir);
    }
  }
}

static pid_t bench_start_daemon(const char *bin, char name, int dport) {
  char state[128], sock[128], port[16], log[128], nm[16];
  snprintf(state, sizeof(state), "%s/%c", tmpdir, name);
  snprintf(sock, sizeof(sock), "%s/%c.sock", tmpdir, name);
  snprintf(log, sizeof(log), "%s/%c.log", tmpdir, name);
  snprintf(port, sizeof(port), "%d", dport);
  snprintf(nm, sizeof(nm), "bench-%c", name);
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
      dup2(fd, STDERR_FILENO);
      dup2(fd, STDOUT_FILENO);
    }
    execl(bin, bin, "--state-dir", state, "--socket", sock, "--interface", "lo",
          "--discovery-port", port, "--name", nm, "--log-level", "warn",
          (char *)NULL);
    _exit(127);
  }
  return pid;
}

static dsb_client *bench_connect(char name) {
  char sock[128];
  snprintf(sock, sizeof(sock), "%s/%c.sock", tmpdir, name);
  for (int i = 0; i < 200; ++i) {
    dsb_client *c;
    if (dsb_client_connect(&c, sock, 0) == 0) {
      return c;
    }
    usleep(50 * 1000); /* polling a start-up condition with a deadline */
  }
  bench_fail("daemon did not start");
  return NULL;
}

static int bench_write_all(int fd, const uint8_t *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) {
        continue;
      }
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* ---- the serving side (node B) ------------------------------------------ */

static void *bench_server(void *arg) {
  dsb_client *c = arg;
  static uint8_t buf[BULK_MSG];
  dsb_client_event ev;
  while (dsb_client_accept(c, &ev, -1) == 1) {
    if (strcmp(ev.service, "sink") == 0) {
      uint64_t total = 0;
      ssize_t n;
      while ((n = read(ev.fd, buf, sizeof(buf))) > 0) {
        total += (uint64_t)n;
      }
      (void)total;
      if (write(ev.fd, "done", 4) != 4) {
        fprintf(stderr, "bench_daemon: sink ack failed\n");
      }
    } else {
      ssize_t n;
      while ((n = read(ev.fd, buf, sizeof(buf))) > 0) {
        if (write(ev.fd, buf, (size_t)n) != n) {
          break;
        }
      }
    }
    close(ev.fd);
  }
  return NULL;
}

/* ---- measurements over a connected descriptor --------------------------- */

/* Send BULK_TOTAL in BULK_MSG writes, half-close, wait for the ack. */
static double bench_bulk(int fd, int is_stream) {
  static uint8_t msg[BULK_MSG];
  memset(msg, 0x5a, sizeof(msg));
  uint64_t t0 = dsb_bench_now_ns();
  for (uint64_t sent = 0; sent < BULK_TOTAL; sent += BULK_MSG) {
    if (bench_write_all(fd, msg, sizeof(msg))) {
      bench_fail("bulk write failed");
    }
  }
  shutdown(fd, SHUT_WR);
  char ack[8];
  size_t got = 0;
  while (got < 4) {
    ssize_t n = read(fd, ack + got, is_stream ? sizeof(ack) : 4 - got);
    if (n <= 0) {
      bench_fail("no ack after bulk");
    }
    got += (size_t)n;
  }
  uint64_t t1 = dsb_bench_now_ns();
  return (double)BULK_TOTAL / 1e6 / ((double)(t1 - t0) / 1e9);
}

/* Mean round-trip time in microseconds of RTT_MSG-byte ping-pongs. */
static double bench_rtt(int fd) {
  uint8_t msg[RTT_MSG], back[RTT_MSG];
  memset(msg, 0x33, sizeof(msg));
  uint64_t t0 = dsb_bench_now_ns();
  for (int i = 0; i < RTT_ROUNDS; ++i) {
    if (bench_write_all(fd, msg, sizeof(msg))) {
      bench_fail("rtt write failed");
    }
    size_t got = 0;
    while (got < sizeof(back)) {
      ssize_t n = read(fd, back + got, sizeof(back) - got);
      if (n <= 0) {
        bench_fail("rtt read failed");
      }
      got += (size_t)n;
    }
  }
  uint64_t t1 = dsb_bench_now_ns();
  return (double)(t1 - t0) / 1e3 / RTT_ROUNDS;
}

/* ---- raw TCP baseline ---------------------------------------------------- */

typedef struct tcp_srv {
  int lfd;
  int mode; /* 0 sink, 1 echo */
} tcp_srv;

static void *bench_tcp_server(void *arg) {
  tcp_srv *s = arg;
  static uint8_t buf[BULK_MSG];
  int fd = accept(s->lfd, NULL, NULL);
  if (fd < 0) {
    return NULL;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) {
    if (s->mode == 1 && bench_write_all(fd, buf, (size_t)n)) {
      break;
    }
  }
  if (s->mode == 0 && write(fd, "done", 4) != 4) {
    fprintf(stderr, "bench_daemon: tcp ack failed\n");
  }
  close(fd);
  return NULL;
}

/* Run |mode| over a loopback TCP connection; returns the figure. */
static double bench_tcp(int mode) {
  tcp_srv s = {socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), mode};
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof(a);
  if (s.lfd < 0 || bind(s.lfd, (struct sockaddr *)&a, sizeof(a)) ||
      listen(s.lfd, 1) || getsockname(s.lfd, (struct sockaddr *)&a, &al)) {
    bench_fail("tcp listen failed");
  }
  pthread_t th;
  pthread_create(&th, NULL, bench_tcp_server, &s);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
    bench_fail("tcp connect failed");
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  double v = mode == 0 ? bench_bulk(fd, 0) : bench_rtt(fd);
  close(fd);
  pthread_join(th, NULL);
  close(s.lfd);
  return v;
}

/* ---- main ---------------------------------------------------------------- */

typedef struct find_ctx {
  const char *id;
  int found;
} find_ctx;

static int bench_find(void *ctx, const dsb_client_peer *p) {
  find_ctx *f = ctx;
  if (strcmp(p->device_id, f->id) == 0) {
    int sink = 0, echo = 0;
    for (size_t i = 0; i < p->nservices; ++i) {
      sink |= strcmp(p->services[i], "sink") == 0;
      echo |= strcmp(p->services[i], "echo") == 0;
    }
    f->found = sink && echo;
  }
  return 0;
}

int main(int argc, char **argv) {
  (void)argc;
  signal(SIGPIPE, SIG_IGN);
  char bin[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", bin, sizeof(bin) - 32);
  if (n <= 0) {
    bench_fail("cannot find this program");
  }
  bin[n] = 0;
  char *slash = strrchr(bin, '/');
  snprintf(slash, sizeof(bin) - (size_t)(slash - bin), "/../dsoftbusd");
  if (access(bin, X_OK) != 0) {
    fprintf(stderr, "bench_daemon: %s not built, skipping\n", bin);
    return 0;
  }
  (void)argv;
  snprintf(tmpdir, sizeof(tmpdir), "/tmp/dsb-bench-daemon.XXXXXX");
  if (!mkdtemp(tmpdir)) {
    bench_fail("mkdtemp failed");
  }
  atexit(bench_cleanup);
  srand((unsigned)time(NULL) ^ (unsigned)getpid());
  int dport = 30000 + rand() % 20000;
  daemons[0] = bench_start_daemon(bin, 'a', dport);
  daemons[1] = bench_start_daemon(bin, 'b', dport);
  dsb_client *ca = bench_connect('a');
  dsb_client *cb = bench_connect('b');
  dsb_client *srv = bench_connect('b');
  dsb_client_identity ia, ib;
  if (dsb_client_id(ca, &ia) || dsb_client_id(cb, &ib) ||
      dsb_client_trust_set(ca, ib.device_id, DSB_CLIENT_TRUST_TRUSTED) ||
      dsb_client_trust_set(cb, ia.device_id, DSB_CLIENT_TRUST_TRUSTED) ||
      dsb_client_publish(srv, "sink") || dsb_client_publish(srv, "echo")) {
    bench_fail("setting up the daemons failed");
  }
  pthread_t th;
  pthread_create(&th, NULL, bench_server, srv);
  find_ctx f = {ib.device_id, 0};
  for (int i = 0; i < 400 && !f.found; ++i) {
    if (dsb_client_peers(ca, bench_find, &f) || !f.found) {
      usleep(50 * 1000); /* discovery: polled with a deadline */
    }
  }
  if (!f.found) {
    bench_fail("node A did not discover node B's services");
  }

  dsb_bench_print_header("app to app through two dsoftbusd (loopback)");
  int fd;
  if (dsb_client_open_stream(ca, ib.device_id, "sink", 0, &fd, NULL)) {
    bench_fail("open sink stream failed");
  }
  double bulk = bench_bulk(fd, 1);
  close(fd);
  double tcp_bulk = bench_tcp(0);
  dsb_bench_result r1 = {"daemon.app_to_app.throughput.64KiB", bulk, "MB/s",
                         "tcp.raw.throughput.64KiB", tcp_bulk};
  dsb_bench_record(&r1);

  if (dsb_client_open_stream(ca, ib.device_id, "echo", 0, &fd, NULL)) {
    bench_fail("open echo stream failed");
  }
  double rtt = bench_rtt(fd);
  close(fd);
  double tcp_rtt = bench_tcp(1);
  dsb_bench_result r2 = {"daemon.app_to_app.rtt.64B", rtt, "us",
                         "tcp.raw.rtt.64B", tcp_rtt};
  dsb_bench_record(&r2);

  dsb_client_close(ca);
  dsb_client_close(cb);
  bench_cleanup(); /* stops the daemons; the server thread sees EOF */
  pthread_join(th, NULL);
  dsb_client_close(srv);
  return 0;
}
