/*
 * bench_facade - the app-to-app stream through two real dsoftbusd daemons
 * on loopback, in direct mode and in facade mode (--backend netstackd,
 * each daemon with its own netstackd), measured in the same run.
 *
 * Figures (ratio = facade / direct):
 *   facade.app_stream.64KiB   MB/s of 64 KiB messages from an app on A to
 *                             an app on B (both apps are this process,
 *                             moving bytes through their stream sockets);
 *                             time from the first write to the last byte
 *                             read, best of five runs. Target >= 95%:
 *                             data never passes through netstackd.
 *   facade.connection_setup   ms from the open request with no session to
 *                             the stream descriptor: TCP connect (through
 *                             netstackd in facade mode), Noise XK, mux
 *                             OPEN. Median of BENCH_SETUPS fresh sessions
 *                             (the session is dropped in between by
 *                             withdrawing and restoring trust, paced
 *                             under the per-source handshake rate limit).
 *
 * The daemons are the ones built next to this program (../dsoftbusd,
 * ../netstackd), or those in $DSB_BUILD_DIR. Every wait has a deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_json.h"
#include "dsb/client.h"
#include "dsb/err.h"
#include "dsb/ipc.h"

#define BENCH_MSG 65536
#define BENCH_BYTES (256u << 20)
#define BENCH_RUNS 5
#define BENCH_SETUPS 15
#define BENCH_DEADLINE_MS 30000

typedef struct node {
  char dir[PATH_MAX];
  char sock[PATH_MAX];
  char ns_sock[PATH_MAX];
  pid_t pid;
  pid_t ns_pid;
  dsb_client *c;
  dsb_client_identity id;
} node;

static char bench_bin[PATH_MAX + 8]; /* the build folder */

static void bench_sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static uint64_t bench_ms(void) {
  return dsb_bench_now_ns() / 1000000u;
}

static int bench_find_build(void) {
  const char *env = getenv("DSB_BUILD_DIR");
  if (env && env[0]) {
    snprintf(bench_bin, sizeof(bench_bin), "%s", env);
    return 0;
  }
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) {
    return -1;
  }
  self[n] = 0;
  char *slash = strrchr(self, '/');
  if (!slash) {
    return -1;
  }
  *slash = 0; /* .../bench */
  snprintf(bench_bin, sizeof(bench_bin), "%s/..", self);
  return 0;
}

static pid_t bench_spawn(char *const argv[], const char *log) {
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execv(argv[0], argv);
    _exit(127);
  }
  return pid;
}

static void bench_reap(pid_t *pid) {
  if (*pid > 0) {
    kill(*pid, SIGTERM);
    waitpid(*pid, NULL, 0);
    *pid = 0;
  }
}

static int bench_wait_path(const char *path) {
  struct stat st;
  uint64_t end = bench_ms() + BENCH_DEADLINE_MS;
  while (stat(path, &st) != 0) {
    if (bench_ms() > end) {
      return -1;
    }
    bench_sleep_ms(10);
  }
  return 0;
}

static int node_start(node *n, const char *root, const char *name, int facade,
                      int disc_port) {
  char exe[PATH_MAX + 32], log[PATH_MAX + 32], port[16], nm[32];
  memset(n, 0, sizeof(*n));
  snprintf(n->dir, sizeof(n->dir), "%s/%s", root, name);
  snprintf(n->sock, sizeof(n->sock), "%s/%s.sock", root, name);
  snprintf(n->ns_sock, sizeof(n->ns_sock), "%s/%s.ns.sock", root, name);
  snprintf(port, sizeof(port), "%d", disc_port);
  snprintf(nm, sizeof(nm), "%s", name);
  if (facade) {
    snprintf(exe, sizeof(exe), "%s/netstackd", bench_bin);
    snprintf(log, sizeof(log), "%s/%s.ns.log", root, name);
    char *nargv[] = {exe, "--socket", n->ns_sock, NULL};
    n->ns_pid = bench_spawn(nargv, log);
    if (n->ns_pid < 0 || bench_wait_path(n->ns_sock) != 0) {
      return -1;
    }
  }
  snprintf(exe, sizeof(exe), "%s/dsoftbusd", bench_bin);
  snprintf(log, sizeof(log), "%s/%s.log", root, name);
  char *argv[] = {exe,
                  "--state-dir",
                  n->dir,
                  "--socket",
                  n->sock,
                  "--interface",
                  "lo",
                  "--discovery-port",
                  port,
                  "--name",
                  nm,
                  "--log-level",
                  "warn",
                  "--backend",
                  facade ? "netstackd" : "direct",
                  "--netstackd-socket",
                  n->ns_sock,
                  NULL};
  n->pid = bench_spawn(argv, log);
  if (n->pid < 0 || bench_wait_path(n->sock) != 0) {
    return -1;
  }
  uint64_t end = bench_ms() + BENCH_DEADLINE_MS;
  while (dsb_client_connect(&n->c, n->sock, 0) != 0) {
    if (bench_ms() > end) {
      return -1;
    }
    bench_sleep_ms(10);
  }
  return dsb_client_id(n->c, &n->id) == 0 ? 0 : -1;
}

static void node_stop(node *n) {
  dsb_client_close(n->c);
  n->c = NULL;
  bench_reap(&n->pid);
  bench_reap(&n->ns_pid);
}

typedef struct find_ctx {
  const char *id;
  const char *service;
  int found;
  int session;
} find_ctx;

static int bench_find_peer(void *ctx, const dsb_client_peer *p) {
  find_ctx *f = ctx;
  if (strcmp(p->device_id, f->id) != 0) {
    return 0;
  }
  f->session = p->session;
  for (size_t i = 0; i < p->nservices; ++i) {
    if (strcmp(p->services[i], f->service) == 0) {
      f->found = 1;
    }
  }
  return 0;
}

/* Wait until |from| sees |to| offering |service|. */
static int bench_wait_service(node *from, node *to, const char *service) {
  uint64_t end = bench_ms() + BENCH_DEADLINE_MS;
  for (;;) {
    find_ctx f = {to->id.device_id, service, 0, 0};
    if (dsb_client_peers(from->c, bench_find_peer, &f) == 0 && f.found) {
      return 0;
    }
    if (bench_ms() > end) {
      return -1;
    }
    bench_sleep_ms(20);
  }
}

/* Wait until |from| has no session with |to|. */
static int bench_wait_no_session(node *from, node *to) {
  uint64_t end = bench_ms() + BENCH_DEADLINE_MS;
  for (;;) {
    find_ctx f = {to->id.device_id, "", 0, -1};
    if (dsb_client_peers(from->c, bench_find_peer, &f) == 0 &&
        f.session == DSB_IPC_SESSION_NONE) {
      return 0;
    }
    if (bench_ms() > end) {
      return -1;
    }
    bench_sleep_ms(5);
  }
}

/* Open a stream a -> b "bench" and accept it on b; returns both fds. */
static int bench_open(node *a, node *b, int *wfd, int *rfd) {
  dsb_client_event ev;
  *wfd = *rfd = -1;
  if (dsb_client_open_stream(a->c, b->id.device_id, "bench", 0, wfd, NULL) !=
      0) {
    return -1;
  }
  if (dsb_client_accept(b->c, &ev, BENCH_DEADLINE_MS) != 1) {
    close(*wfd);
    return -1;
  }
  *rfd = ev.fd;
  return 0;
}

/* Move BENCH_BYTES in BENCH_MSG messages from wfd to rfd; MB/s. */
static double bench_pump(int wfd, int rfd) {
  static uint8_t out[BENCH_MSG], in[DSB_IPC_STREAM_MSG_MAX + 1];
  size_t sent = 0, got = 0;
  memset(out, 0x5a, sizeof(out));
  fcntl(wfd, F_SETFL, fcntl(wfd, F_GETFL) | O_NONBLOCK);
  fcntl(rfd, F_SETFL, fcntl(rfd, F_GETFL) | O_NONBLOCK);
  uint64_t t0 = dsb_bench_now_ns();
  uint64_t end = bench_ms() + BENCH_DEADLINE_MS;
  while (got < BENCH_BYTES) {
    struct pollfd p[2] = {{rfd, POLLIN, 0},
                          {wfd, sent < BENCH_BYTES ? POLLOUT : 0, 0}};
    if (poll(p, 2, 1000) < 0 && errno != EINTR) {
      return -1;
    }
    if (bench_ms() > end) {
      return -1;
    }
    while (sent < BENCH_BYTES) {
      ssize_t n = send(wfd, out, sizeof(out), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          break;
        }
        return -1;
      }
      sent += (size_t)n;
    }
    for (;;) {
      ssize_t n = recv(rfd, in, sizeof(in), 0);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          break;
        }
        return -1;
      }
      if (n == 0) {
        return -1;
      }
      got += (size_t)n;
    }
  }
  double s = (double)(dsb_bench_now_ns() - t0) / 1e9;
  return (double)got / 1e6 / s;
}

static int bench_cmp_double(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return a < b ? -1 : a > b;
}

/* One daemon pair of a mode: started, trusting each other, B serving. */
typedef struct pair {
  char root[32];
  int facade;
  node a, b;
} pair;

static int pair_start(pair *p, int facade, int port) {
  memset(p, 0, sizeof(*p));
  p->facade = facade;
  snprintf(p->root, sizeof(p->root), "/tmp/dsb-bench-facade.XXXXXX");
  if (!mkdtemp(p->root)) {
    p->root[0] = 0;
    return -1;
  }
  if (node_start(&p->a, p->root, "a", facade, port) != 0 ||
      node_start(&p->b, p->root, "b", facade, port) != 0) {
    fprintf(stderr, "bench_facade: daemons did not start (logs in %s)\n",
            p->root);
    return -1;
  }
  if (dsb_client_trust_set(p->a.c, p->b.id.device_id,
                           DSB_CLIENT_TRUST_TRUSTED) ||
      dsb_client_trust_set(p->b.c, p->a.id.device_id,
                           DSB_CLIENT_TRUST_TRUSTED) ||
      dsb_client_publish(p->b.c, "bench") ||
      bench_wait_service(&p->a, &p->b, "bench")) {
    fprintf(stderr, "bench_facade: set-up failed (logs in %s)\n", p->root);
    return -1;
  }
  return 0;
}

/* Stop the daemons; the folder goes only if everything went well. */
static void pair_stop(pair *p, int ok) {
  node_stop(&p->a);
  node_stop(&p->b);
  if (ok && p->root[0]) {
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p->root);
    if (system(cmd) != 0) {
      fprintf(stderr, "bench_facade: could not remove %s\n", p->root);
    }
  }
}

/* One connection set-up from no session to a stream, in ms; the session
 * is dropped again afterwards. */
static double pair_setup_once(pair *p) {
  int wfd, rfd;
  uint64_t t0 = dsb_bench_now_ns();
  if (bench_open(&p->a, &p->b, &wfd, &rfd) != 0) {
    fprintf(stderr, "bench_facade: open failed (logs in %s)\n", p->root);
    return -1;
  }
  double ms = (double)(dsb_bench_now_ns() - t0) / 1e6;
  close(wfd);
  close(rfd);
  /* Drop the session: distrust closes it, trust again for the next. */
  if (dsb_client_trust_set(p->a.c, p->b.id.device_id,
                           DSB_CLIENT_TRUST_UNKNOWN) ||
      bench_wait_no_session(&p->a, &p->b) ||
      bench_wait_no_session(&p->b, &p->a) ||
      dsb_client_trust_set(p->a.c, p->b.id.device_id,
                           DSB_CLIENT_TRUST_TRUSTED)) {
    fprintf(stderr, "bench_facade: session reset failed\n");
    return -1;
  }
  return ms;
}

static double pair_pump_once(pair *p) {
  int wfd, rfd;
  if (bench_open(&p->a, &p->b, &wfd, &rfd) != 0) {
    return -1;
  }
  double v = bench_pump(wfd, rfd);
  close(wfd);
  close(rfd);
  if (v <= 0) {
    fprintf(stderr, "bench_facade: transfer failed (logs in %s)\n", p->root);
  }
  return v;
}

int main(void) {
  pair pd, pf; /* direct, facade */
  double setup[2][BENCH_SETUPS], best[2] = {0, 0};
  int ok = 0;
  signal(SIGPIPE, SIG_IGN);
  if (bench_find_build() != 0) {
    fprintf(stderr, "bench_facade: cannot locate the build folder\n");
    return 1;
  }
  dsb_bench_print_header("app-to-app streams: facade (netstackd) vs direct");
  int port = 20000 + (int)(getpid() % 20000);
  if (pair_start(&pd, 0, port) != 0 || pair_start(&pf, 1, port + 1) != 0) {
    goto done;
  }
  /* Both pairs run side by side and the measurements alternate, so load
   * from elsewhere on the machine hits both modes alike. */
  for (int i = 0; i < BENCH_SETUPS; ++i) {
    for (int m = 0; m < 2; ++m) {
      if ((setup[m][i] = pair_setup_once(m ? &pf : &pd)) < 0) {
        goto done;
      }
    }
    /* Stay under the responder's per-source rate limit (20/s). */
    bench_sleep_ms(60);
  }
  for (int r = 0; r < BENCH_RUNS; ++r) {
    for (int m = 0; m < 2; ++m) {
      double v = pair_pump_once(m ? &pf : &pd);
      if (v <= 0) {
        goto done;
      }
      best[m] = v > best[m] ? v : best[m];
    }
  }
  qsort(setup[0], BENCH_SETUPS, sizeof(double), bench_cmp_double);
  qsort(setup[1], BENCH_SETUPS, sizeof(double), bench_cmp_double);
  ok = 1;
done:
  pair_stop(&pd, ok);
  pair_stop(&pf, ok);
  if (!ok) {
    return 1;
  }
  dsb_bench_result r1 = {"facade.app_stream.64KiB", best[1], "MB/s",
                         "direct.app_stream.64KiB", best[0]};
  dsb_bench_result r2 = {"facade.connection_setup", setup[1][BENCH_SETUPS / 2],
                         "ms", "direct.connection_setup",
                         setup[0][BENCH_SETUPS / 2]};
  int rv = dsb_bench_record(&r1) | dsb_bench_record(&r2);
  printf("facade/direct throughput %.1f%% (target >= 95%%); setup %.2f ms "
         "vs %.2f ms\n",
         100.0 * best[1] / best[0], setup[1][BENCH_SETUPS / 2],
         setup[0][BENCH_SETUPS / 2]);
  return rv ? 1 : 0;
}
