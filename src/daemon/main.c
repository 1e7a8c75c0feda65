/*
 * main.c - dsoftbusd entry: defaults, the JSON config file, command-line
 * options (which override the file), then dsbd_run().
 *
 * A bad option or config field stops the daemon before anything starts,
 * with one line naming the file, the field and what was expected: a
 * half-configured daemon is worse than none.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "dsb/err.h"
#include "backend.h"
#include "proxy.h"
#include "dsbd.h"

#define MAIN_CONFIG_MAX (64 * 1024)

int dsbd_config_defaults(dsbd_config *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->log_level = DSB_LOG_INFO;
  const char *xdg_state = getenv("XDG_STATE_HOME");
  const char *home = getenv("HOME");
  int n;
  if (geteuid() == 0) {
    n = snprintf(cfg->state_dir, sizeof(cfg->state_dir), "/var/lib/dsoftbus");
  } else if (xdg_state && xdg_state[0] == '/') {
    n = snprintf(cfg->state_dir, sizeof(cfg->state_dir), "%s/dsoftbus",
                 xdg_state);
  } else if (home && home[0] == '/') {
    n = snprintf(cfg->state_dir, sizeof(cfg->state_dir),
                 "%s/.local/state/dsoftbus", home);
  } else {
    return DSB_ERR_CONFIG;
  }
  if (n < 0 || (size_t)n >= sizeof(cfg->state_dir)) {
    return DSB_ERR_CONFIG;
  }
  char host[DSB_IPC_NAME_MAX + 1] = "";
  if (gethostname(host, sizeof(host) - 1) == 0) {
    host[sizeof(host) - 1] = 0;
    if (dsb_ipc_name_valid((const uint8_t *)host, strlen(host))) {
      memcpy(cfg->name, host, strlen(host) + 1);
    }
  }
  return 0;
}

/* The default socket: root -> /run/dsoftbus/dsoftbusd.sock, otherwise
 * $XDG_RUNTIME_DIR/dsoftbusd.sock, else <state-dir>/dsoftbusd.sock. The
 * client library uses the same rule (dsb_client_default_socket). */
static int main_default_socket(dsbd_config *cfg) {
  const char *rt = getenv("XDG_RUNTIME_DIR");
  int n;
  if (geteuid() == 0) {
    n = snprintf(cfg->socket_path, sizeof(cfg->socket_path),
                 "/run/dsoftbus/dsoftbusd.sock");
  } else if (rt && rt[0] == '/') {
    n = snprintf(cfg->socket_path, sizeof(cfg->socket_path),
                 "%s/dsoftbusd.sock", rt);
  } else {
    n = snprintf(cfg->socket_path, sizeof(cfg->socket_path),
                 "%s/dsoftbusd.sock", cfg->state_dir);
  }
  return n < 0 || (size_t)n >= sizeof(cfg->socket_path) ? DSB_ERR_CONFIG : 0;
}

static int main_parse_level(const char *s) {
  static const char *names[] = {"error", "warn", "info", "debug"};
  for (int i = 0; i < 4; ++i) {
    if (strcmp(s, names[i]) == 0) {
      return i;
    }
  }
  return -1;
}

static int main_parse_port(const char *s, int *out) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || !end || *end || end == s || v < 0 || v > 65535) {
    return -1;
  }
  *out = (int)v;
  return 0;
}

static int main_set_str(char *dst, size_t cap, const char *src) {
  size_t n = strlen(src);
  if (n == 0 || n >= cap) {
    return -1;
  }
  memcpy(dst, src, n + 1);
  return 0;
}

static int main_add_interface(dsbd_config *cfg, const char *s) {
  if (cfg->ninterfaces >= DSBD_MAX_INTERFACES) {
    return -1;
  }
  return main_set_str(cfg->interfaces[cfg->ninterfaces++],
                      sizeof(cfg->interfaces[0]), s);
}

/* HOST:PORT with a numeric port; [v6]:PORT for IPv6. */
static int main_peer_valid(const char *s) {
  const char *colon = strrchr(s, ':');
  int port;
  if (!colon || colon == s || main_parse_port(colon + 1, &port) || port == 0) {
    return 0;
  }
  return 1;
}

static int main_add_peer(dsbd_config *cfg, const char *s) {
  if (cfg->npeers >= DSBD_MAX_PEER_ADDRS || !main_peer_valid(s)) {
    return -1;
  }
  return main_set_str(cfg->peers[cfg->npeers++], sizeof(cfg->peers[0]), s);
}

static int main_set_name(dsbd_config *cfg, const char *s) {
  size_t n = strlen(s);
  if (!dsb_ipc_name_valid((const uint8_t *)s, n)) {
    return -1;
  }
  memcpy(cfg->name, s, n + 1);
  return 0;
}

static int main_cfg_fail(const char *file, const char *field,
                         const char *what) {
  fprintf(stderr, "dsoftbusd: config %s: field '%s': %s\n", file, field, what);
  return -1;
}

static int main_json_string(const char *file, const char *field, json_object *v,
                            const char **out) {
  if (!json_object_is_type(v, json_type_string)) {
    return main_cfg_fail(file, field, "expected a string");
  }
  *out = json_object_get_string(v);
  return 0;
}

static int main_json_string_array(const char *file, const char *field,
                                  json_object *v, dsbd_config *cfg,
                                  int (*add)(dsbd_config *, const char *),
                                  const char *what) {
  if (!json_object_is_type(v, json_type_array)) {
    return main_cfg_fail(file, field, "expected an array of strings");
  }
  size_t n = json_object_array_length(v);
  for (size_t i = 0; i < n; ++i) {
    json_object *e = json_object_array_get_idx(v, i);
    if (!json_object_is_type(e, json_type_string) ||
        add(cfg, json_object_get_string(e)) != 0) {
      return main_cfg_fail(file, field, what);
    }
  }
  return 0;
}

/* Apply the JSON config file |file| to |cfg|. Unknown keys are errors so a
 * typo never silently falls back to a default. */
static int main_load_config(const char *file, dsbd_config *cfg) {
  FILE *f = fopen(file, "r");
  if (!f) {
    fprintf(stderr, "dsoftbusd: config %s: cannot open: %s\n", file,
            strerror(errno));
    return -1;
  }
  char *text = malloc(MAIN_CONFIG_MAX + 1);
  if (!text) {
    fclose(f);
    return -1;
  }
  size_t n = fread(text, 1, MAIN_CONFIG_MAX + 1, f);
  int rerr = ferror(f);
  fclose(f);
  if (rerr || n > MAIN_CONFIG_MAX) {
    free(text);
    fprintf(stderr, "dsoftbusd: config %s: %s\n", file,
            rerr ? "read error" : "larger than 64 KiB");
    return -1;
  }
  text[n] = 0;
  json_tokener *tok = json_tokener_new();
  json_object *root = tok ? json_tokener_parse_ex(tok, text, (int)n) : NULL;
  int ok_parse = tok && json_tokener_get_error(tok) == json_tokener_success &&
                 (size_t)json_tokener_get_parse_end(tok) == n;
  if (!ok_parse) {
    /* Allow trailing whitespace only. */
    size_t end = tok ? json_tokener_get_parse_end(tok) : 0;
    while (end < n && (text[end] == ' ' || text[end] == '\n' ||
                       text[end] == '\t' || text[end] == '\r')) {
      ++end;
    }
    ok_parse = root && end == n;
  }
  if (tok) {
    json_tokener_free(tok);
  }
  free(text);
  if (!ok_parse || !json_object_is_type(root, json_type_object)) {
    json_object_put(root);
    fprintf(stderr, "dsoftbusd: config %s: not a valid JSON object\n", file);
    return -1;
  }
  int rv = 0, prv;
  json_object_object_foreach(root, key, val) {
    const char *s = NULL;
    if (strcmp(key, "state_dir") == 0) {
      rv = main_json_string(file, key, val, &s);
      if (!rv && main_set_str(cfg->state_dir, sizeof(cfg->state_dir), s)) {
        rv = main_cfg_fail(file, key, "expected a non-empty path");
      }
    } else if (strcmp(key, "socket") == 0) {
      rv = main_json_string(file, key, val, &s);
      if (!rv && main_set_str(cfg->socket_path, sizeof(cfg->socket_path), s)) {
        rv = main_cfg_fail(file, key, "expected a path of 1..107 bytes");
      }
    } else if (strcmp(key, "port") == 0 || strcmp(key, "discovery_port") == 0) {
      int64_t v = json_object_get_int64(val);
      if (!json_object_is_type(val, json_type_int) || v < 0 || v > 65535) {
        rv = main_cfg_fail(file, key, "expected an integer 0..65535");
      } else if (key[0] == 'p') {
        cfg->port = (int)v;
      } else {
        cfg->disc_port = (int)v;
      }
    } else if (strcmp(key, "interfaces") == 0) {
      rv = main_json_string_array(file, key, val, cfg, main_add_interface,
                                  "expected at most 8 interface names");
    } else if (strcmp(key, "peers") == 0) {
      rv = main_json_string_array(file, key, val, cfg, main_add_peer,
                                  "expected at most 16 \"HOST:PORT\" strings");
    } else if (strcmp(key, "name") == 0) {
      rv = main_json_string(file, key, val, &s);
      if (!rv && main_set_name(cfg, s)) {
        rv = main_cfg_fail(file, key,
                           "expected 0..64 bytes without control characters");
      }
    } else if (strcmp(key, "log_level") == 0) {
      rv = main_json_string(file, key, val, &s);
      if (!rv && (cfg->log_level = main_parse_level(s)) < 0) {
        rv = main_cfg_fail(file, key,
                           "expected \"error\", \"warn\", \"info\" or "
                           "\"debug\"");
      }
    } else if (strcmp(key, "backend") == 0) {
      rv = main_json_string(file, key, val, &s);
      if (!rv && (cfg->backend = dsbd_backend_parse(s)) < 0) {
        rv = main_cfg_fail(file, key, "expected \"direct\" or \"netstackd\"");
      }
    } else if (strcmp(key, "netstackd_socket") == 0) {
      rv = main_json_string(file, key, val, &s);
      if (!rv && main_set_str(cfg->netstackd_socket,
                              sizeof(cfg->netstackd_socket), s)) {
        rv = main_cfg_fail(file, key, "expected a path of 1..107 bytes");
      }
    } else if ((prv = dsbd_proxy_config_key(&cfg->proxy, file, key, val)) !=
               1) {
      rv = prv; /* "policy", "proxy": proxy.c */
    } else if (strcmp(key, "allow_unknown") == 0) {
      if (!json_object_is_type(val, json_type_boolean)) {
        rv = main_cfg_fail(file, key, "expected true or false");
      } else {
        cfg->allow_unknown = json_object_get_boolean(val);
      }
    } else {
      rv = main_cfg_fail(file, key, "unknown field");
    }
    if (rv) {
      break;
    }
  }
  json_object_put(root);
  return rv;
}

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
    if (main_load_config(file, &cfg)) {
      return 2;
    }
  }
  /* Repeatable options given on the command line replace the file's list. */
  int cli_interfaces = 0, cli_peers = 0;
  int c;
  while ((c = getopt_long(argc, argv, "h", main_options, NULL)) != -1) {
    switch (c) {
    case OPT_STATE_DIR:
      if (main_set_str(cfg.state_dir, sizeof(cfg.state_dir), optarg)) {
        return main_opt_fail("state-dir", optarg, "expected a path");
      }
      break;
    case OPT_SOCKET:
      if (main_set_str(cfg.socket_path, sizeof(cfg.socket_path), optarg)) {
        return main_opt_fail("socket", optarg,
                             "expected a path of 1..107 bytes");
      }
      break;
    case OPT_PORT:
      if (main_parse_port(optarg, &cfg.port)) {
        return main_opt_fail("port", optarg, "expected 0..65535");
      }
      break;
    case OPT_DISC_PORT:
      if (main_parse_port(optarg, &cfg.disc_port)) {
        return main_opt_fail("discovery-port", optarg, "expected 0..65535");
      }
      break;
    case OPT_INTERFACE:
      if (!cli_interfaces++) {
        cfg.ninterfaces = 0;
      }
      if (main_add_interface(&cfg, optarg)) {
        return main_opt_fail("interface", optarg,
                             "expected a name; at most 8 interfaces");
      }
      break;
    case OPT_PEER:
      if (!cli_peers++) {
        cfg.npeers = 0;
      }
      if (main_add_peer(&cfg, optarg)) {
        return main_opt_fail("peer", optarg,
                             "expected HOST:PORT; at most 16 peers");
      }
      break;
    case OPT_NAME:
      if (main_set_name(&cfg, optarg)) {
        return main_opt_fail("name", optarg,
                             "expected 0..64 bytes without control "
                             "characters");
      }
      break;
    case OPT_CONFIG:
      break; /* applied above */
    case OPT_LOG_LEVEL:
      if ((cfg.log_level = main_parse_level(optarg)) < 0) {
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
      if (main_set_str(cfg.netstackd_socket, sizeof(cfg.netstackd_socket),
                       optarg)) {
        return main_opt_fail("netstackd-socket", optarg,
                             "expected a path of 1..107 bytes");
      }
      break;
    case OPT_POLICY:
      if (main_set_str(cfg.proxy.policy, sizeof(cfg.proxy.policy), optarg)) {
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
  if (!cfg.socket_path[0] && main_default_socket(&cfg)) {
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
