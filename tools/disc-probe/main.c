/*
 * disc-probe - runs the discovery driver (dsb/disc_udp.h) with an identity
 * from a state directory and prints one line per event, for tests and for
 * looking at a network by hand.
 *
 *   disc-probe --state-dir DIR [--name NAME] [--session-port N]
 *              [--service S]... [--port N] [--interface IF]
 *              [--peer HOST:PORT]... [--no-multicast] [--no-ipv6]
 *              [--no-query] [--interval-ms N] [--ttl N]
 *
 * Output (stdout, one line each, flushed):
 *   ready ID PORT TXPORT
 *   up|updated ID SESSION_PORT NAME_HEX SERVICES(comma-separated or -)
 *   gone ID goodbye|expired|evicted|removed
 *   reject LABEL
 *   bye
 *   stats announces=N queries=N answers=N received=N rejected=N peers=N
 * Input (stdin lines): "query [SERVICE]", "announce", "stats". End of
 * input or SIGTERM/SIGINT: goodbye, then exit 0.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "dsb/disc.h"
#include "dsb/disc_udp.h"
#include "dsb/err.h"
#include "dsb/identity.h"
#include "dsb/keystore.h"

typedef struct probe {
  uv_loop_t *loop;
  dsb_disc_udp *disc;
  uv_pipe_t in;
  uv_signal_t sigterm, sigint;
  char line[256];
  size_t linelen;
  int stopping;
} probe;

static void probe_print_peer(const char *what, const dsb_disc_peer *p) {
  char id[DSB_DEVICE_ID_TEXT_LEN + 1];
  dsb_device_id_format(id, &p->ann.id);
  printf("%s %s %u ", what, id, p->ann.session_port);
  if (p->ann.name_len == 0) {
    printf("-");
  }
  for (size_t i = 0; i < p->ann.name_len; ++i) {
    printf("%02x", (unsigned char)p->ann.name[i]);
  }
  printf(" ");
  for (size_t i = 0; i < p->ann.nservices; ++i) {
    printf("%s%s", i ? "," : "", p->ann.services[i]);
  }
  printf("%s\n", p->ann.nservices ? "" : "-");
  fflush(stdout);
}

static int probe_on_peer(void *ctx, dsb_disc_event_type ev,
                         dsb_disc_gone_reason reason,
                         const dsb_disc_peer *peer) {
  static const char *const reasons[] = {"none", "goodbye", "expired", "evicted",
                                        "removed"};
  (void)ctx;
  if (ev == DSB_DISC_PEER_UP) {
    probe_print_peer("up", peer);
  } else if (ev == DSB_DISC_PEER_UPDATED) {
    probe_print_peer("updated", peer);
  } else {
    char id[DSB_DEVICE_ID_TEXT_LEN + 1];
    dsb_device_id_format(id, &peer->ann.id);
    printf("gone %s %s\n", id,
           (unsigned)reason < 5 ? reasons[reason] : "unknown");
    fflush(stdout);
  }
  return 0;
}

static void probe_on_reject(void *ctx, int err, const struct sockaddr *src) {
  (void)ctx;
  (void)src;
  printf("reject %s\n", dsb_strerror(err));
  fflush(stdout);
}

static void probe_on_log(void *ctx, dsb_log_level level, const char *msg) {
  (void)ctx;
  fprintf(stderr, "disc-probe: [%d] %s\n", (int)level, msg);
}

static void probe_closed(uv_handle_t *h) {
  (void)h;
}

static void probe_stop(probe *pr) {
  if (pr->stopping) {
    return;
  }
  pr->stopping = 1;
  dsb_disc_udp_del(pr->disc); /* sends the goodbye */
  pr->disc = NULL;
  uv_close((uv_handle_t *)&pr->in, probe_closed);
  uv_close((uv_handle_t *)&pr->sigterm, probe_closed);
  uv_close((uv_handle_t *)&pr->sigint, probe_closed);
}

static void probe_command(probe *pr, const char *cmd) {
  int rv = 0;
  if (strncmp(cmd, "query", 5) == 0) {
    const char *svc = cmd[5] == ' ' ? cmd + 6 : "";
    rv = dsb_disc_udp_query(pr->disc, svc, strlen(svc));
  } else if (strcmp(cmd, "stats") == 0) {
    dsb_disc_udp_stats st;
    dsb_disc_udp_get_stats(pr->disc, &st);
    printf("stats announces=%llu queries=%llu answers=%llu received=%llu "
           "rejected=%llu peers=%zu\n",
           (unsigned long long)st.announces_sent,
           (unsigned long long)st.queries_sent,
           (unsigned long long)st.answers_sent,
           (unsigned long long)st.datagrams_received,
           (unsigned long long)st.rejected,
           dsb_disc_peers_count(dsb_disc_udp_peers(pr->disc)));
    fflush(stdout);
  } else if (strcmp(cmd, "announce") == 0) {
    rv = dsb_disc_udp_announce(pr->disc);
  } else if (cmd[0]) {
    rv = DSB_ERR_INVALID_ARGUMENT;
  }
  if (rv != 0) {
    printf("error %s\n", dsb_strerror(rv));
    fflush(stdout);
  }
}

static void probe_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  static char mem[512];
  (void)h;
  (void)hint;
  *buf = uv_buf_init(mem, sizeof(mem));
}

static void probe_on_stdin(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  probe *pr = s->data;
  if (n < 0) {
    probe_stop(pr);
    return;
  }
  for (ssize_t i = 0; i < n && !pr->stopping; ++i) {
    char c = buf->base[i];
    if (c == '\n') {
      pr->line[pr->linelen] = '\0';
      probe_command(pr, pr->line);
      pr->linelen = 0;
    } else if (pr->linelen + 1 < sizeof(pr->line)) {
      pr->line[pr->linelen++] = c;
    }
  }
}

static void probe_on_signal(uv_signal_t *h, int signum) {
  (void)signum;
  probe_stop(h->data);
}

static void usage(void) {
  fprintf(stderr,
          "usage: disc-probe --state-dir DIR [--name NAME] [--session-port N]\n"
          "  [--service S]... [--port N] [--interface IF] [--peer H:P]...\n"
          "  [--no-multicast] [--no-ipv6] [--no-query] [--interval-ms N]\n"
          "  [--ttl N]\n");
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || *end || end == s || v > max) {
    return -1;
  }
  *out = v;
  return 0;
}

int main(int argc, char **argv) {
  const char *state_dir = NULL;
  const char *peers[DSB_DISC_UDP_MAX_PEERS];
  dsb_disc_udp_config cfg;
  dsb_disc_announce local;
  dsb_identity ident;
  probe pr;
  unsigned long v;
  int rv;

  memset(&pr, 0, sizeof(pr));
  dsb_disc_udp_config_default(&cfg);
  dsb_disc_announce_init(&local);
  cfg.peers = peers;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    int takes = 1;
    if (strcmp(a, "--state-dir") == 0 && val) {
      state_dir = val;
    } else if (strcmp(a, "--name") == 0 && val) {
      if (dsb_disc_announce_set_name(&local, val, strlen(val)) != 0) {
        fprintf(stderr, "disc-probe: bad --name\n");
        return 2;
      }
    } else if (strcmp(a, "--service") == 0 && val) {
      if (dsb_disc_announce_add_service(&local, val, strlen(val)) != 0) {
        fprintf(stderr, "disc-probe: bad --service %s\n", val);
        return 2;
      }
    } else if (strcmp(a, "--session-port") == 0 && val &&
               parse_uint(val, 65535, &v) == 0) {
      local.session_port = (uint16_t)v;
    } else if (strcmp(a, "--port") == 0 && val &&
               parse_uint(val, 65535, &v) == 0) {
      cfg.port = (uint16_t)v;
    } else if (strcmp(a, "--interface") == 0 && val) {
      cfg.ifname = val;
    } else if (strcmp(a, "--peer") == 0 && val &&
               cfg.npeers < DSB_DISC_UDP_MAX_PEERS) {
      peers[cfg.npeers++] = val;
    } else if (strcmp(a, "--interval-ms") == 0 && val &&
               parse_uint(val, 86400000, &v) == 0 && v > 0) {
      cfg.interval_ms = (uint32_t)v;
    } else if (strcmp(a, "--ttl") == 0 && val &&
               parse_uint(val, 65535, &v) == 0 && v > 0) {
      cfg.ttl_s = (uint16_t)v;
    } else {
      takes = 0;
      if (strcmp(a, "--no-multicast") == 0) {
        cfg.flags |= DSB_DISC_UDP_NO_MULTICAST;
      } else if (strcmp(a, "--no-ipv6") == 0) {
        cfg.flags |= DSB_DISC_UDP_NO_IPV6;
      } else if (strcmp(a, "--no-query") == 0) {
        cfg.flags |= DSB_DISC_UDP_NO_QUERY;
      } else {
        usage();
        return 2;
      }
    }
    i += takes;
  }
  if (!state_dir) {
    usage();
    return 2;
  }
  rv = dsb_keystore_load_or_create(&ident, state_dir, NULL, NULL);
  if (rv != 0) {
    fprintf(stderr, "disc-probe: identity in %s: %s\n", state_dir,
            dsb_strerror(rv));
    return 1;
  }
  char id[DSB_DEVICE_ID_TEXT_LEN + 1];
  dsb_device_id_format(id, &ident.id);
  signal(SIGPIPE, SIG_IGN);
  pr.loop = uv_default_loop();
  cfg.ident = &ident;
  cfg.local = &local;
  cfg.on_peer = probe_on_peer;
  cfg.on_reject = probe_on_reject;
  cfg.ctx = &pr;
  cfg.log.fn = probe_on_log;
  rv = dsb_disc_udp_new(&pr.disc, pr.loop, &cfg);
  dsb_identity_wipe(&ident); /* the driver keeps its own copy */
  if (rv != 0) {
    fprintf(stderr, "disc-probe: %s\n", dsb_strerror(rv));
    return 1;
  }
  uv_pipe_init(pr.loop, &pr.in, 0);
  pr.in.data = &pr;
  uv_signal_init(pr.loop, &pr.sigterm);
  uv_signal_init(pr.loop, &pr.sigint);
  pr.sigterm.data = &pr;
  pr.sigint.data = &pr;
  uv_signal_start(&pr.sigterm, probe_on_signal, SIGTERM);
  uv_signal_start(&pr.sigint, probe_on_signal, SIGINT);
  if (uv_pipe_open(&pr.in, 0) != 0 ||
      uv_read_start((uv_stream_t *)&pr.in, probe_alloc, probe_on_stdin) != 0) {
    fprintf(stderr, "disc-probe: stdin must be a pipe\n");
    probe_stop(&pr);
    uv_run(pr.loop, UV_RUN_DEFAULT);
    return 1;
  }
  printf("ready %s %u %u\n", id, dsb_disc_udp_port(pr.disc),
         dsb_disc_udp_tx_port(pr.disc));
  fflush(stdout);
  rv = dsb_disc_udp_start(pr.disc);
  if (rv != 0) {
    fprintf(stderr, "disc-probe: start: %s\n", dsb_strerror(rv));
    probe_stop(&pr);
  }
  uv_run(pr.loop, UV_RUN_DEFAULT);
  printf("bye\n");
  fflush(stdout);
  uv_loop_close(pr.loop);
  return rv == 0 ? 0 : 1;
}
