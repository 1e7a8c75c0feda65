/*
 * main.c - dsoftbusd entry: defaults, the JSON config file (config.c),
 * command-line options (which override the file), then dsbd_run().
 *
 * A bad option or config field stops the daemon before anything starts,
 * with one line naming the file, the field and what was expected: a
 * half-configured daemon is worse than none.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dsb/err.h"
#include "backend.h"
#include "config.h"
#include "dsbd.h"

static void main_usage(FILE *out) {
  fprintf(out,
          "usage: dsoftbusd [options]\n"
          "  --state-dir DIR     identity and trust store (default: "
          "$XDG_STATE_HOME/dsoftbus)\n"
          "  --socket PATH       local API socket\n"
          "  --port N            session TCP port (0: ephemeral)\n"
          "  --discovery-port N  discovery UDP port (default 47083)\n"
          "  --interface NAME    discovery interface, repeatable (lo "
          "allowed)\n"
          "  --peer HOST:PORT    unicast discovery peer, repeatable\n"
          "  --name TEXT         display name\n"
          "  --config FILE       JSON file with the same keys (options "
          "override it)\n"
          "  --log-level LEVEL   error, warn, info or debug\n"
          "  --allow-unknown     lab mode: sessions with unknown devices\n"
          "  --backend MODE      direct (default) or netstackd: sockets from\n"
          "                      netstackd, this daemon sandboxed\n"
          "  --netstackd-socket PATH  netstackd's socket (default "
          "/run/netstackd/netstackd.sock)\n"
          "  --policy FILE       remote-call policy (JSON; SIGHUP reloads "
          "it)\n");
}

enum {
  OPT_STATE_DIR = 256,
  OPT_SOCKET,
  OPT_PORT,
  OPT_DISC_PORT,
  OPT_INTERFACE,
  OPT_PEER,
  OPT_NAME,
  OPT_CONFIG,
  OPT_LOG_LEVEL,
  OPT_ALLOW_UNKNOWN,
  OPT_BACKEND,
  OPT_NETSTACKD_SOCKET,
  OPT_POLICY,
  OPT_HELP
};

static const struct option main_options[] = {
    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
    {"socket", required_argument, NULL, OPT_SOCKET},
    {"port", required_argument, NULL, OPT_PORT},
    {"discovery-port", required_argument, NULL, OPT_DISC_PORT},
    {"interface", required_argument, NULL, OPT_INTERFACE},
    {"peer", required_argument, NULL, OPT_PEER},
    {"name", required_argument, NULL, OPT_NAME},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"allow-unknown", no_argument, NULL, OPT_ALLOW_UNKNOWN},
    {"backend", required_argument, NULL, OPT_BACKEND},
    {"netstackd-socket", required_argument, NULL, OPT_NETSTACKD_SOCKET},
    {"policy", required_argument, NULL, OPT_POLICY},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0}};

static int main_opt_fail(const char *opt, const char *arg, const char *what) {
  fprintf(stderr, "dsoftbusd: option --%s '%s': %s\n", opt, arg, what);
  return 2;
}

int main(int argc, char **argv) {
  dsbd_config cfg;
  if (dsbd_config_defaults(&cfg)) {
    fprintf(stderr, "dsoftbusd: cannot find a state directory: set HOME, "
                    "XDG_STATE_HOME or --state-dir\n");
    /* Continue: --state-dir may provide it. */
    memset(&cfg, 0, sizeof(cfg));
    cfg.log_level = DSB_LOG_INFO;
  }
  /* The config file is applied first, whatever its position, so that
   * command-line options always win. */
  for (int i = 1; i < argc; ++i) {
    const char *file;
    if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
      file = argv[++i]; /* the value, as getopt_long takes it: skip it */
    } else if (strncmp(argv[i], "--config=", 9) == 0) {
      file = argv[i] + 9;
    } else {
      continue;
    }
    char err[DSBD_CONFIG_ERR_MAX];
    if (dsbd_config_load_file(&cfg, file, err, sizeof(err))) {
      if (err[0]) { /* empty: proxy.c printed the line */
        fprintf(stderr, "dsoftbusd: %s\n", err);
      }
      return 2;
    }
  }
  /* Repeatable options given on the command line replace the file's list. */
  int cli_interfaces = 0, cli_peers = 0;
  int c;
  while ((c = getopt_long(argc, argv, "h", main_options, NULL)) != -1) {
    switch (c) {
    case OPT_STATE_DIR:
      if (dsbd_config_set_str(cfg.state_dir, sizeof(cfg.state_dir), optarg)) {
        return main_opt_fail("state-dir", optarg, "expected a path");
      }
      break;
    case OPT_SOCKET:
      if (dsbd_config_set_str(cfg.socket_path, sizeof(cfg.socket_path),
                              optarg)) {
        return main_opt_fail("socket", optarg,
                             "expected a path of 1..107 bytes");
      }
      break;
    case OPT_PORT:
      if (dsbd_config_parse_port(optarg, &cfg.port)) {
        return main_opt_fail("port", optarg, "expected 0..65535");
      }
      break;
    case OPT_DISC_PORT:
      if (dsbd_config_parse_port(optarg, &cfg.disc_port)) {
        return main_opt_fail("discovery-port", optarg, "expected 0..65535");
      }
      break;
    case OPT_INTERFACE:
      if (!cli_interfaces++) {
        cfg.ninterfaces = 0;
      }
      if (dsbd_config_add_interface(&cfg, optarg)) {
        return main_opt_fail("interface", optarg,
                             "expected a name of 1..15 bytes (no '/', ':' or "
                             "spaces); at most 8 interfaces");
      }
      break;
    case OPT_PEER:
      if (!cli_peers++) {
        cfg.npeers = 0;
      }
      if (dsbd_config_add_peer(&cfg, optarg)) {
        return main_opt_fail("peer", optarg,
                             "expected HOST:PORT; at most 16 peers");
      }
      break;
    case OPT_NAME:
      if (dsbd_config_set_name(&cfg, optarg)) {
        return main_opt_fail("name", optarg,
                             "expected 0..64 bytes without control "
                             "characters");
      }
      break;
    case OPT_CONFIG:
      break; /* applied above */
    case OPT_LOG_LEVEL:
      if ((cfg.log_level = dsbd_config_parse_level(optarg)) < 0) {
        return main_opt_fail("log-level", optarg,
                             "expected error, warn, info or debug");
      }
      break;
    case OPT_ALLOW_UNKNOWN:
      cfg.allow_unknown = 1;
      break;
    case OPT_BACKEND:
      if ((cfg.backend = dsbd_backend_parse(optarg)) < 0) {
        return main_opt_fail("backend", optarg, "expected direct or netstackd");
      }
      break;
    case OPT_NETSTACKD_SOCKET:
      if (dsbd_config_set_str(cfg.netstackd_socket,
                              sizeof(cfg.netstackd_socket), optarg)) {
        return main_opt_fail("netstackd-socket", optarg,
                             "expected a path of 1..107 bytes");
      }
      break;
    case OPT_POLICY:
      if (dsbd_config_set_str(cfg.proxy.policy, sizeof(cfg.proxy.policy),
                              optarg)) {
        return main_opt_fail("policy", optarg, "expected a path");
      }
      break;
    case 'h':
    case OPT_HELP:
      main_usage(stdout);
      return 0;
    default:
      main_usage(stderr);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "dsoftbusd: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  if (!cfg.state_dir[0]) {
    fprintf(stderr, "dsoftbusd: no state directory: use --state-dir\n");
    return 2;
  }
  if (!cfg.socket_path[0] && dsbd_config_default_socket(&cfg)) {
    fprintf(stderr, "dsoftbusd: default socket path too long: use "
                    "--socket\n");
    return 2;
  }
  if (cfg.backend == DSBD_BACKEND_NETSTACKD && !cfg.netstackd_socket[0]) {
    /* Where netstackd.service puts it. */
    snprintf(cfg.netstackd_socket, sizeof(cfg.netstackd_socket),
             "/run/netstackd/netstackd.sock");
  }
  dsbd_log_set_level(cfg.log_level);
  return dsbd_run(&cfg);
}
