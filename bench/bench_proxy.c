/*
 * bench_proxy.c - remote echo calls through two real dsoftbusd daemons on
 * loopback (calls per second, p50/p99 latency of a 64 B call; 1 caller and
 * 16 concurrent callers, each its own client connection and thread), beside
 * a raw TCP ping-pong of 64 B over loopback in the same run.
 *
 * The daemons are the build's own (../dsoftbusd next to this program), on
 * lo only, with state in a temporary directory removed at the end.
 */
#include <arpa/inet.h>
#include <errno.h>
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
#include "dsb/client_rpc.h"
#include "dsb/err.h"

#define BP_CALLS 4000
#define BP_THREADS 16
#define BP_SIZE 64

static char bp_dir[64];
static pid_t bp_pids[2];
static char bp_sock[2][128];

static int bp_cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void bp_sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

static int bp_start(const char *daemon, int i, int port) {
  char state[128], portstr[16];
  snprintf(state, sizeof(state), "%s/%c", bp_dir, 'a' + i);
  snprintf(bp_sock[i], sizeof(bp_sock[i]), "%s/%c.sock", bp_dir, 'a' + i);
  snprintf(portstr, sizeof(portstr), "%d", port);
  pid_t pid = fork();
  if (pid < 0) {
    return -1;
  }
  if (pid == 0) {
    execl(daemon, daemon, "--state-dir", state, "--socket", bp_sock[i],
          "--interface", "lo", "--discovery-port", portstr, "--log-level",
          "error", (char *)NULL);
    _exit(127);
  }
  bp_pids[i] = pid;
  return 0;
}

static dsb_client *bp_connect(int i) {
  for (int t = 0; t < 200; ++t) {
    dsb_client *c;
    if (dsb_client_connect(&c, bp_sock[i], 0) == 0) {
      return c;
    }
    bp_sleep_ms(50);
  }
  return NULL;
}

typedef struct bp_seen {
  const char *id;
  int found;
} bp_seen;

static int bp_peer_fn(void *ctx, const dsb_client_peer *p) {
  bp_seen *s = ctx;
  s->found |= strcmp(p->device_id, s->id) == 0;
  return 0;
}

/* ---- remote echo ----------------------------------------------------------
 */

typedef struct bp_worker {
  pthread_t th;
  const char *device;
  int n;
  uint64_t *lat;
  int err;
} bp_worker;

static void *bp_call_worker(void *arg) {
  bp_worker *w = arg;
  dsb_client *c = bp_connect(0);
  uint8_t payload[BP_SIZE];
  memset(payload, 'p', sizeof(payload));
  if (!c) {
    w->err = DSB_ERR_IO;
    return NULL;
  }
  for (int i = 0; i < w->n && !w->err; ++i) {
    dsb_client_rpc_reply r;
    uint64_t t0 = dsb_bench_now_ns();
    int rv = dsb_client_rpc_call(c, w->device, "echo", "echo", payload,
                                 sizeof(payload), 0, &r);
    w->lat[i] = dsb_bench_now_ns() - t0;
    if (rv || r.status != DSB_RPC_OK || r.payloadlen != BP_SIZE) {
      w->err = rv ? rv : DSB_ERR_PROXY_FAILED;
    }
    dsb_client_rpc_reply_free(&r);
  }
  dsb_client_close(c);
  return NULL;
}

/* ---- raw TCP ping-pong ------------------------------------------------------
 */

typedef struct bp_tcp {
  pthread_t th;
  int fd; /* client side */
  int srv;
  int n;
  uint64_t *lat;
  int err;
} bp_tcp;

static int bp_full(int fd, uint8_t *buf, size_t len, int writing) {
  size_t off = 0;
  while (off < len) {
    ssize_t r = writing ? write(fd, buf + off, len - off)
                        : read(fd, buf + off, len - off);
    if (r <= 0) {
      if (r < 0 && errno == EINTR) {
        continue;
      }
      return -1;
    }
    off += (size_t)r;
  }
  return 0;
}

static void *bp_tcp_echo(void *arg) {
  bp_tcp *t = arg;
  uint8_t buf[BP_SIZE];
  while (bp_full(t->srv, buf, sizeof(buf), 0) == 0 &&
         bp_full(t->srv, buf, sizeof(buf), 1) == 0) {
  }
  return NULL;
}

static void *bp_tcp_client(void *arg) {
  bp_tcp *t = arg;
  uint8_t buf[BP_SIZE];
  memset(buf, 'p', sizeof(buf));
  for (int i = 0; i < t->n; ++i) {
    uint64_t t0 = dsb_bench_now_ns();
    if (bp_full(t->fd, buf, sizeof(buf), 1) ||
        bp_full(t->fd, buf, sizeof(buf), 0)) {
      t->err = 1;
      return NULL;
    }
    t->lat[i] = dsb_bench_now_ns() - t0;
  }
  return NULL;
}

static int bp_tcp_pair(int lfd, int *cfd, int *sfd) {
  struct sockaddr_in a;
  socklen_t al = sizeof(a);
  getsockname(lfd, (struct sockaddr *)&a, &al);
  *cfd = socket(AF_INET, SOCK_STREAM, 0);
  if (*cfd < 0 || connect(*cfd, (struct sockaddr *)&a, al) != 0) {
    return -1;
  }
  *sfd = accept(lfd, NULL, NULL);
  int one = 1;
  setsockopt(*cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  setsockopt(*sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return *sfd < 0 ? -1 : 0;
}

/* Run |nthreads| ping-pong pairs of |per| round trips; fill |lat|. */
static int bp_tcp_run(int nthreads, int per, uint64_t *lat, double *secs) {
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
      listen(lfd, 64) != 0) {
    return -1;
  }
  bp_tcp t[BP_THREADS];
  pthread_t echo[BP_THREADS];
  int rv = 0;
  for (int i = 0; i < nthreads; ++i) {
    t[i].n = per;
    t[i].lat = lat + (size_t)i * per;
    t[i].err = 0;
    if (bp_tcp_pair(lfd, &t[i].fd, &t[i].srv) != 0) {
      return -1;
    }
    pthread_create(&echo[i], NULL, bp_tcp_echo, &t[i]);
  }
  uint64_t t0 = dsb_bench_now_ns();
  for (int i = 0; i < nthreads; ++i) {
    pthread_create(&t[i].th, NULL, bp_tcp_client, &t[i]);
  }
  for (int i = 0; i < nthreads; ++i) {
    pthread_join(t[i].th, NULL);
    rv |= t[i].err;
  }
  *secs = (double)(dsb_bench_now_ns() - t0) / 1e9;
  for (int i = 0; i < nthreads; ++i) {
    close(t[i].fd); /* the echo thread sees EOF */
    pthread_join(echo[i], NULL);
    close(t[i].srv);
  }
  close(lfd);
  return rv ? -1 : 0;
}

static int bp_call_run(const char *device, int nthreads, int per, uint64_t *lat,
                       double *secs) {
  bp_worker w[BP_THREADS];
  int rv = 0;
  uint64_t t0 = dsb_bench_now_ns();
  for (int i = 0; i < nthreads; ++i) {
    w[i].device = device;
    w[i].n = per;
    w[i].lat = lat + (size_t)i * per;
    w[i].err = 0;
    pthread_create(&w[i].th, NULL, bp_call_worker, &w[i]);
  }
  for (int i = 0; i < nthreads; ++i) {
    pthread_join(w[i].th, NULL);
    if (w[i].err) {
      fprintf(stderr, "bench_proxy: caller %d: %s\n", i,
              dsb_strerror(w[i].err));
      rv = -1;
    }
  }
  *secs = (double)(dsb_bench_now_ns() - t0) / 1e9;
  return rv;
}

static void bp_record(const char *what, int callers, uint64_t *lat, double secs,
                      uint64_t *tlat, double tsecs, int n) {
  char name[96], base[96];
  qsort(lat, (size_t)n, sizeof(*lat), bp_cmp);
  qsort(tlat, (size_t)n, sizeof(*tlat), bp_cmp);
  snprintf(name, sizeof(name), "proxy.echo_64B.%s.calls_per_s", what);
  snprintf(base, sizeof(base), "tcp.pingpong_64B.%s.rtt_per_s", what);
  dsb_bench_result r = {name, n / secs, "calls/s", base, n / tsecs};
  dsb_bench_record(&r);
  (void)callers;
  snprintf(name, sizeof(name), "proxy.echo_64B.%s.p50_latency", what);
  snprintf(base, sizeof(base), "tcp.pingpong_64B.%s.p50_rtt", what);
  r = (dsb_bench_result){name, (double)lat[n / 2] / 1e3, "us", base,
                         (double)tlat[n / 2] / 1e3};
  dsb_bench_record(&r);
  snprintf(name, sizeof(name), "proxy.echo_64B.%s.p99_latency", what);
  snprintf(base, sizeof(base), "tcp.pingpong_64B.%s.p99_rtt", what);
  r = (dsb_bench_result){name, (double)lat[(size_t)n * 99 / 100] / 1e3, "us",
                         base, (double)tlat[(size_t)n * 99 / 100] / 1e3};
  dsb_bench_record(&r);
}

static void bp_stop(void) {
  for (int i = 0; i < 2; ++i) {
    if (bp_pids[i] > 0) {
      kill(bp_pids[i], SIGTERM);
      waitpid(bp_pids[i], NULL, 0);
    }
  }
  if (bp_dir[0]) {
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", bp_dir);
    if (system(cmd) != 0) {
      fprintf(stderr, "bench_proxy: could not remove %s\n", bp_dir);
    }
  }
}

int main(int argc, char **argv) {
  (void)argc;
  char daemon[4096 + 32];
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) {
    return 1;
  }
  self[n] = 0;
  char *slash = strrchr(self, '/');
  *slash = 0;
  snprintf(daemon, sizeof(daemon), "%s/../dsoftbusd", self);
  if (access(daemon, X_OK) != 0) {
    fprintf(stderr, "%s: %s not built; skipped\n", argv[0], daemon);
    return 0;
  }
  signal(SIGPIPE, SIG_IGN);
  snprintf(bp_dir, sizeof(bp_dir), "/tmp/dsb-bench-proxy.XXXXXX");
  if (!mkdtemp(bp_dir)) {
    bp_dir[0] = 0;
    return 1;
  }
  srand((unsigned)getpid());
  int port = 20000 + rand() % 20000;
  int status = 1;
  dsb_client *a = NULL, *b = NULL;
  uint64_t *lat = calloc(BP_CALLS, sizeof(uint64_t));
  uint64_t *tlat = calloc(BP_CALLS, sizeof(uint64_t));
  if (!lat || !tlat || bp_start(daemon, 0, port) || bp_start(daemon, 1, port) ||
      !(a = bp_connect(0)) || !(b = bp_connect(1))) {
    fprintf(stderr, "bench_proxy: daemons did not start\n");
    goto out;
  }
  dsb_client_identity ia, ib;
  if (dsb_client_id(a, &ia) || dsb_client_id(b, &ib) ||
      dsb_client_trust_set(a, ib.device_id, DSB_CLIENT_TRUST_TRUSTED) ||
      dsb_client_trust_set(b, ia.device_id, DSB_CLIENT_TRUST_TRUSTED)) {
    goto out;
  }
  bp_seen seen = {ib.device_id, 0};
  for (int t = 0; t < 400 && !seen.found; ++t) {
    dsb_client_peers(a, bp_peer_fn, &seen);
    if (!seen.found) {
      bp_sleep_ms(50);
    }
  }
  dsb_client_rpc_reply r;
  if (!seen.found ||
      dsb_client_rpc_call(a, ib.device_id, "echo", "ping", NULL, 0, 0, &r) ||
      r.status != DSB_RPC_OK) {
    fprintf(stderr, "bench_proxy: no session with the second daemon\n");
    goto out;
  }
  dsb_bench_print_header("remote calls (dsoftbusd echo) vs raw TCP ping-pong");
  double secs, tsecs;
  if (bp_call_run(ib.device_id, 1, BP_CALLS, lat, &secs) ||
      bp_tcp_run(1, BP_CALLS, tlat, &tsecs)) {
    goto out;
  }
  bp_record("1caller", 1, lat, secs, tlat, tsecs, BP_CALLS);
  if (bp_call_run(ib.device_id, BP_THREADS, BP_CALLS / BP_THREADS, lat,
                  &secs) ||
      bp_tcp_run(BP_THREADS, BP_CALLS / BP_THREADS, tlat, &tsecs)) {
    goto out;
  }
  bp_record("16callers", BP_THREADS, lat, secs, tlat, tsecs, BP_CALLS);
  status = 0;
out:
  dsb_client_close(a);
  dsb_client_close(b);
  bp_stop();
  free(lat);
  free(tlat);
  return status;
}
