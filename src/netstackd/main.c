/*
 * main.c - netstackd entry point:
 *   netstackd --socket PATH [--config FILE] [--allow-uid UID|USER] [--verbose]
 *
 * Readiness is reported with the sd_notify protocol ("READY=1" to
 * $NOTIFY_SOCKET) once the socket listens, so systemd (Type=notify) and
 * tests can wait for it without polling.
 */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <uv.h>

#include "dsb/err.h"
#include "netstackd.h"
#include "server.h"

/* Minimal sd_notify(3): one datagram to $NOTIFY_SOCKET ("@" = abstract). */
static void nsd_notify(const char *state) {
  const char *path = getenv("NOTIFY_SOCKET");
  struct sockaddr_un sun;
  size_t len;
  if (path == NULL || path[0] == '\0') {
    return;
  }
  len = strlen(path);
  if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sun.sun_path)) {
    return;
  }
  memset(&sun, 0, sizeof(sun));
  sun.sun_family = AF_UNIX;
  memcpy(sun.sun_path, path, len);
  if (path[0] == '@') {
    sun.sun_path[0] = '\0';
  }
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return;
  }
  socklen_t slen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
  if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun,
             slen) < 0) {
    nsd_log(DSB_LOG_WARN, "sd_notify: %s", strerror(errno));
  }
  close(fd);
}

typedef struct nsd_main {
  nsd_server *srv;
  uv_signal_t sigterm;
  uv_signal_t sigint;
} nsd_main;

static void nsd_on_signal(uv_signal_t *h, int signum) {
  nsd_main *m = h->data;
  nsd_server_stats st;
  nsd_log(DSB_LOG_INFO, "signal %d: shutting down", signum);
  nsd_notify("STOPPING=1");
  nsd_server_get_stats(m->srv, &st);
  nsd_log(DSB_LOG_INFO,
          "served %llu requests, %llu descriptors, refused %llu "
          "connections",
          (unsigned long long)st.requests, (unsigned long long)st.fds_sent,
          (unsigned long long)st.refused_connections);
  nsd_server_stop(m->srv);
  uv_close((uv_handle_t *)&m->sigterm, NULL);
  uv_close((uv_handle_t *)&m->sigint, NULL);
}

static void nsd_usage(FILE *f) {
  fprintf(f, "usage: netstackd --socket PATH [--config FILE] "
             "[--allow-uid UID] [--verbose]\n"
             "  Sockets facade for dsoftbusd: creates network sockets on its\n"
             "  behalf, checked against the policy in FILE, and passes them\n"
             "  over the Unix socket PATH to the one client whose uid is UID\n"
             "  (default: netstackd's own uid).\n");
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"socket", required_argument, NULL, 's'},
      {"config", required_argument, NULL, 'c'},
      {"allow-uid", required_argument, NULL, 'u'},
      {"verbose", no_argument, NULL, 'v'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *sock_path = NULL, *cfg_path = NULL;
  uid_t allow_uid = getuid();
  nsd_config cfg;
  nsd_main m;
  uv_loop_t loop;
  int c, rv;

  while ((c = getopt_long(argc, argv, "s:c:u:vh", opts, NULL)) != -1) {
    switch (c) {
    case 's':
      sock_path = optarg;
      break;
    case 'c':
      cfg_path = optarg;
      break;
    case 'u': {
      char *end;
      errno = 0;
      unsigned long v = strtoul(optarg, &end, 10);
      if (errno == 0 && end != optarg && *end == '\0' && v < (uid_t)-1) {
        allow_uid = (uid_t)v;
      } else {
        /* A user name, as systemd units name their users. */
        struct passwd *pw = getpwnam(optarg);
        if (pw == NULL) {
          fprintf(stderr,
                  "netstackd: --allow-uid: expected a uid or a user "
                  "name, got \"%s\"\n",
                  optarg);
          return 2;
        }
        allow_uid = pw->pw_uid;
      }
      break;
    }
    case 'v':
      nsd_log_set_level(DSB_LOG_DEBUG);
      break;
    case 'h':
      nsd_usage(stdout);
      return 0;
    default:
      nsd_usage(stderr);
      return 2;
    }
  }
  if (sock_path == NULL || optind != argc) {
    nsd_usage(stderr);
    return 2;
  }
  nsd_config_defaults(&cfg);
  if (cfg_path != NULL && nsd_config_load(&cfg, cfg_path) != 0) {
    return 1;
  }
  /* A vanished client must not kill us; sends use MSG_NOSIGNAL too. */
  signal(SIGPIPE, SIG_IGN);

  if (uv_loop_init(&loop) != 0) {
    return 1;
  }
  nsd_server_settings ss = {sock_path, allow_uid, &cfg};
  if ((rv = nsd_server_new(&m.srv, &loop, &ss)) != 0) {
    nsd_log(DSB_LOG_ERROR, "cannot start: %s", dsb_strerror(rv));
    uv_loop_close(&loop);
    return 1;
  }
  uv_signal_init(&loop, &m.sigterm);
  uv_signal_init(&loop, &m.sigint);
  m.sigterm.data = &m;
  m.sigint.data = &m;
  uv_signal_start(&m.sigterm, nsd_on_signal, SIGTERM);
  uv_signal_start(&m.sigint, nsd_on_signal, SIGINT);

  nsd_log(DSB_LOG_INFO, "listening on %s for uid %ld", sock_path,
          (long)allow_uid);
  nsd_notify("READY=1");
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return 0;
}
