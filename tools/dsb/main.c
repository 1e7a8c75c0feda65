/*
 * dsb - the dsoftbus-lite command line: identity, peers, trust, status and
 * streams (cat / listen / serve), over the client library (dsb/client.h).
 *
 * Errors are one line on stderr naming what failed and why; the exit
 * status is 0 on success, 1 on failure, 2 on usage errors.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "dsb/client.h"
#include "dsb/err.h"
#include "dsb_cli.h"

static const char *cli_trust_name(int s) {
  return s == DSB_CLIENT_TRUST_TRUSTED   ? "trusted"
         : s == DSB_CLIENT_TRUST_BLOCKED ? "blocked"
                                         : "unknown";
}

static const char *cli_session_name(int s) {
  return s == DSB_IPC_SESSION_ESTABLISHED  ? "established"
         : s == DSB_IPC_SESSION_CONNECTING ? "connecting"
                                           : "none";
}

void cli_error(int err, const char *device, const char *service,
               const char *what) {
  switch (err) {
  case DSB_ERR_TRUST_UNKNOWN:
    fprintf(stderr, "dsb: device %s is not trusted\n", device);
    return;
  case DSB_ERR_TRUST_BLOCKED:
    fprintf(stderr, "dsb: device %s is blocked\n", device);
    return;
  case DSB_ERR_IPC_NO_SERVICE:
    fprintf(stderr, "dsb: no such service %s on device %s\n", service, device);
    return;
  case DSB_ERR_IDENTITY_MISMATCH:
    fprintf(stderr, "dsb: identity mismatch for device %s\n", device);
    return;
  case DSB_ERR_IPC_NO_PEER:
    fprintf(stderr, "dsb: device %s has not been discovered\n", device);
    return;
  case DSB_ERR_IPC_UNREACHABLE:
    fprintf(stderr, "dsb: cannot establish a session with device %s\n", device);
    return;
  case DSB_ERR_MALFORMED:
    fprintf(stderr, "dsb: '%s' is not a device id (32 hex characters)\n",
            device ? device : "");
    return;
  case DSB_ERR_IPC_BAD_STRING:
    fprintf(stderr,
            "dsb: '%s' is not a service name (1..48 of A-Z a-z 0-9 . _ -)\n",
            service ? service : "");
    return;
  default:
    fprintf(stderr, "dsb: %s: %s (%s)\n", what, dsb_err_describe(err),
            dsb_strerror(err));
  }
}

static void cli_usage(FILE *out) {
  fprintf(out,
          "usage: dsb [--socket PATH] [--json] COMMAND [ARGS]\n"
          "  id                         this device's id, name and keys\n"
          "  peers                      discovered devices\n"
          "  trust add|block|remove DEVICE\n"
          "  trust list\n"
          "  status                     sessions, streams, bytes, rejects\n"
          "  cat DEVICE SERVICE         stdin to a stream, the stream to "
          "stdout\n"
          "  listen SERVICE             publish, accept one stream, copy it "
          "to stdout\n"
          "  serve SERVICE -- CMD [ARGS]  publish; run CMD per stream "
          "(inetd style)\n"
          "  call DEVICE SERVICE METHOD [PAYLOAD | -]  remote call; reply "
          "to stdout\n"
          "                             (exit 0 ok, 10+status refused, 1 "
          "error)\n"
          "  services DEVICE            the services a device offers "
          "(samgr)\n"
          "  bundles DEVICE             the applications registered on a "
          "device\n"
          "  policy check DEVICE SERVICE METHOD  which local policy rule "
          "decides\n"
          "The socket is --socket, else $DSB_SOCKET, else the daemon's "
          "default.\n");
}

static void cli_hex(char *out, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    sprintf(out + 2 * i, "%02x", p[i]);
  }
}

static int cli_print_json(json_object *o) {
  printf("%s\n",
         json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                               JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put(o);
  return 0;
}

static int cmd_id(dsb_client *c, int json) {
  dsb_client_identity id;
  int rv = dsb_client_id(c, &id);
  if (rv) {
    cli_error(rv, NULL, NULL, "id");
    return 1;
  }
  char ed[65], st[65];
  cli_hex(ed, id.ed_pk, 32);
  cli_hex(st, id.static_pk, 32);
  if (json) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "device_id",
                           json_object_new_string(id.device_id));
    json_object_object_add(o, "name", json_object_new_string(id.name));
    json_object_object_add(o, "ed25519_public_key", json_object_new_string(ed));
    json_object_object_add(o, "noise_static_key", json_object_new_string(st));
    json_object_object_add(o, "session_port",
                           json_object_new_int(id.session_port));
    return cli_print_json(o);
  }
  printf("device_id    %s\nname         %s\ned25519_key  %s\nnoise_key    "
         "%s\nsession_port %u\n",
         id.device_id, id.name, ed, st, id.session_port);
  return 0;
}

static int cli_peer_json(void *ctx, const dsb_client_peer *p) {
  json_object *arr = ctx;
  json_object *o = json_object_new_object();
  json_object_object_add(o, "device_id", json_object_new_string(p->device_id));
  json_object_object_add(o, "name", json_object_new_string(p->name));
  json_object *a = json_object_new_array();
  for (size_t i = 0; i < p->naddrs; ++i) {
    json_object_array_add(a, json_object_new_string(p->addrs[i]));
  }
  json_object_object_add(o, "addresses", a);
  json_object *s = json_object_new_array();
  for (size_t i = 0; i < p->nservices; ++i) {
    json_object_array_add(s, json_object_new_string(p->services[i]));
  }
  json_object_object_add(o, "services", s);
  json_object_object_add(o, "trust",
                         json_object_new_string(cli_trust_name(p->trust)));
  json_object_object_add(o, "session",
                         json_object_new_string(cli_session_name(p->session)));
  json_object_array_add(arr, o);
  return 0;
}

static int cli_peer_text(void *ctx, const dsb_client_peer *p) {
  (void)ctx;
  printf("%s  %-16s %-8s %-12s", p->device_id, p->name[0] ? p->name : "-",
         cli_trust_name(p->trust), cli_session_name(p->session));
  for (size_t i = 0; i < p->naddrs; ++i) {
    printf("%s%s", i ? "," : " ", p->addrs[i]);
  }
  printf("  services:");
  for (size_t i = 0; i < p->nservices; ++i) {
    printf("%s%s", i ? "," : " ", p->services[i]);
  }
  printf("%s\n", p->nservices ? "" : " -");
  return 0;
}

static int cmd_peers(dsb_client *c, int json) {
  json_object *arr = json ? json_object_new_array() : NULL;
  int rv = dsb_client_peers(c, json ? cli_peer_json : cli_peer_text, arr);
  if (rv) {
    json_object_put(arr);
    cli_error(rv, NULL, NULL, "peers");
    return 1;
  }
  return json ? cli_print_json(arr) : 0;
}

static int cli_trust_json(void *ctx, const dsb_client_trust_entry *e) {
  json_object *o = json_object_new_object();
  json_object_object_add(o, "device_id", json_object_new_string(e->device_id));
  json_object_object_add(o, "trust",
                         json_object_new_string(cli_trust_name(e->state)));
  json_object_object_add(o, "name", json_object_new_string(e->name));
  json_object_array_add(ctx, o);
  return 0;
}

static int cli_trust_text(void *ctx, const dsb_client_trust_entry *e) {
  (void)ctx;
  printf("%s  %-8s %s\n", e->device_id, cli_trust_name(e->state), e->name);
  return 0;
}

static int cmd_trust(dsb_client *c, int json, int argc, char **argv) {
  if (argc >= 1 && strcmp(argv[0], "list") == 0 && argc == 1) {
    json_object *arr = json ? json_object_new_array() : NULL;
    int rv =
        dsb_client_trust_list(c, json ? cli_trust_json : cli_trust_text, arr);
    if (rv) {
      json_object_put(arr);
      cli_error(rv, NULL, NULL, "trust list");
      return 1;
    }
    return json ? cli_print_json(arr) : 0;
  }
  if (argc != 2) {
    cli_usage(stderr);
    return 2;
  }
  int state;
  if (strcmp(argv[0], "add") == 0) {
    state = DSB_CLIENT_TRUST_TRUSTED;
  } else if (strcmp(argv[0], "block") == 0) {
    state = DSB_CLIENT_TRUST_BLOCKED;
  } else if (strcmp(argv[0], "remove") == 0) {
    state = DSB_CLIENT_TRUST_UNKNOWN;
  } else {
    cli_usage(stderr);
    return 2;
  }
  int rv = dsb_client_trust_set(c, argv[1], state);
  if (rv) {
    if (rv == DSB_ERR_INVALID_ARGUMENT) {
      fprintf(stderr, "dsb: %s is this device's own id\n", argv[1]);
    } else {
      cli_error(rv, argv[1], NULL, "trust");
    }
    return 1;
  }
  return 0;
}

static int cli_counter_json(void *ctx, const char *name, uint64_t v) {
  json_object_object_add(ctx, name, json_object_new_uint64(v));
  return 0;
}

static int cli_counter_text(void *ctx, const char *name, uint64_t v) {
  (void)ctx;
  printf("%-48s %llu\n", name, (unsigned long long)v);
  return 0;
}

static int cmd_status(dsb_client *c, int json) {
  json_object *o = json ? json_object_new_object() : NULL;
  int rv = dsb_client_status(c, json ? cli_counter_json : cli_counter_text, o);
  if (rv) {
    json_object_put(o);
    cli_error(rv, NULL, NULL, "status");
    return 1;
  }
  return json ? cli_print_json(o) : 0;
}

int main(int argc, char **argv) {
  const char *sock = NULL;
  int json = 0;
  int i = 1;
  /* Global options come first; --json is also accepted anywhere. */
  for (; i < argc && argv[i][0] == '-'; ++i) {
    if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) {
      sock = argv[++i];
    } else if (strncmp(argv[i], "--socket=", 9) == 0) {
      sock = argv[i] + 9;
    } else if (strcmp(argv[i], "--json") == 0) {
      json = 1;
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      cli_usage(stdout);
      return 0;
    } else {
      cli_usage(stderr);
      return 2;
    }
  }
  if (i >= argc) {
    cli_usage(stderr);
    return 2;
  }
  const char *cmd = argv[i++];
  if (strcmp(cmd, "help") == 0) {
    cli_usage(stdout);
    return 0;
  }
  /* Collect the command's arguments, taking --json out (not after --). */
  char **args = calloc((size_t)argc + 1, sizeof(char *));
  if (!args) {
    return 1;
  }
  int nargs = 0, dashdash = 0;
  for (; i < argc; ++i) {
    if (!dashdash && strcmp(argv[i], "--json") == 0) {
      json = 1;
      continue;
    }
    if (strcmp(argv[i], "--") == 0) {
      dashdash = 1;
    }
    args[nargs++] = argv[i];
  }
  signal(SIGPIPE, SIG_IGN);
  char path[108];
  if (!sock) {
    if (dsb_client_default_socket(path, sizeof(path)) != 0) {
      fprintf(stderr, "dsb: no socket path: use --socket or DSB_SOCKET\n");
      free(args);
      return 2;
    }
    sock = path;
  }
  dsb_client *c = NULL;
  int rv = dsb_client_connect(&c, sock, 0);
  if (rv) {
    fprintf(stderr, "dsb: cannot connect to dsoftbusd at %s: %s\n", sock,
            rv == DSB_ERR_NOT_FOUND ? "no daemon is listening there"
                                    : dsb_err_describe(rv));
    free(args);
    return 1;
  }
  int status;
  if (strcmp(cmd, "id") == 0 && nargs == 0) {
    status = cmd_id(c, json);
  } else if (strcmp(cmd, "peers") == 0 && nargs == 0) {
    status = cmd_peers(c, json);
  } else if (strcmp(cmd, "trust") == 0) {
    status = cmd_trust(c, json, nargs, args);
  } else if (strcmp(cmd, "status") == 0 && nargs == 0) {
    status = cmd_status(c, json);
  } else if (strcmp(cmd, "cat") == 0 && nargs == 2) {
    status = cmd_cat(c, args[0], args[1]);
  } else if (strcmp(cmd, "listen") == 0 && nargs == 1) {
    status = cmd_listen(c, args[0]);
  } else if (strcmp(cmd, "call") == 0 && (nargs == 3 || nargs == 4)) {
    status =
        cmd_call(c, args[0], args[1], args[2], nargs == 4 ? args[3] : NULL);
  } else if (strcmp(cmd, "services") == 0 && nargs == 1) {
    status = cmd_services(c, args[0], json);
  } else if (strcmp(cmd, "bundles") == 0 && nargs == 1) {
    status = cmd_bundles(c, args[0], json);
  } else if (strcmp(cmd, "policy") == 0 && nargs == 4 &&
             strcmp(args[0], "check") == 0) {
    status = cmd_policy_check(c, args[1], args[2], args[3], json);
  } else if (strcmp(cmd, "serve") == 0 && nargs >= 3 &&
             strcmp(args[1], "--") == 0) {
    status = cmd_serve(c, args[0], args + 2);
  } else {
    cli_usage(stderr);
    status = 2;
  }
  dsb_client_close(c);
  free(args);
  return status;
}
