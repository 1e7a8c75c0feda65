/*
 * config.c - dsoftbusd's configuration: defaults, the JSON config file and
 * the value checks shared with the command line (config.h).
 *
 * The loader works on a copy of the config and commits it only when every
 * key is valid, and reports the first bad key in one line naming the file,
 * the field and what was expected.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "dsb/err.h"
#include "backend.h"
#include "config.h"
#include "proxy.h"

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

int dsbd_config_default_socket(dsbd_config *cfg) {
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

/* ---- value checks ------------------------------------------------------- */

int dsbd_config_parse_level(const char *s) {
  static const char *const names[] = {"error", "warn", "info", "debug"};
  for (int i = 0; i < 4; ++i) {
    if (strcmp(s, names[i]) == 0) {
      return i;
    }
  }
  return DSB_ERR_CONFIG;
}

int dsbd_config_parse_port(const char *s, int *out) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || !end || *end || end == s || v < 0 || v > 65535) {
    return DSB_ERR_CONFIG;
  }
  *out = (int)v;
  return 0;
}

int dsbd_config_set_str(char *dst, size_t cap, const char *src) {
  size_t n = strlen(src);
  if (n == 0 || n >= cap) {
    return DSB_ERR_CONFIG;
  }
  memcpy(dst, src, n + 1);
  return 0;
}

/* The kernel's dev_valid_name(): a name it would refuse can never match an
 * interface, so refuse it here where the mistake is visible. */
static int config_ifname_valid(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > DSBD_CONFIG_IFNAME_MAX || strcmp(s, ".") == 0 ||
      strcmp(s, "..") == 0) {
    return 0;
  }
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = (unsigned char)s[i];
    if (c <= ' ' || c == 0x7f || c == '/' || c == ':') {
      return 0;
    }
  }
  return 1;
}

int dsbd_config_add_interface(dsbd_config *cfg, const char *s) {
  if (cfg->ninterfaces >= DSBD_MAX_INTERFACES || !config_ifname_valid(s)) {
    return DSB_ERR_CONFIG;
  }
  memcpy(cfg->interfaces[cfg->ninterfaces++], s, strlen(s) + 1);
  return 0;
}

/* HOST:PORT with a numeric port; [v6]:PORT for IPv6. */
static int config_peer_valid(const char *s) {
  const char *colon = strrchr(s, ':');
  int port;
  if (!colon || colon == s || dsbd_config_parse_port(colon + 1, &port) ||
      port == 0) {
    return 0;
  }
  return 1;
}

int dsbd_config_add_peer(dsbd_config *cfg, const char *s) {
  if (cfg->npeers >= DSBD_MAX_PEER_ADDRS || !config_peer_valid(s) ||
      dsbd_config_set_str(cfg->peers[cfg->npeers], sizeof(cfg->peers[0]), s)) {
    return DSB_ERR_CONFIG;
  }
  cfg->npeers++;
  return 0;
}

int dsbd_config_set_name(dsbd_config *cfg, const char *s) {
  size_t n = strlen(s);
  if (!dsb_ipc_name_valid((const uint8_t *)s, n)) {
    return DSB_ERR_CONFIG;
  }
  memcpy(cfg->name, s, n + 1);
  return 0;
}

/* ---- the JSON file ------------------------------------------------------ */

/* One error line into |err| (may be NULL); always DSB_ERR_CONFIG. */
static int config_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int config_errf(char *err, size_t errlen, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return DSB_ERR_CONFIG;
}

/* A key in an error line: up to ~64 bytes of it, escaped. */
#define DSBD_CONFIG_FIELD_TEXT_MAX 72

typedef struct config_ctx {
  const char *file;
  char *err;
  size_t errlen;
} config_ctx;

/* |field| as it may appear in one error line: a key comes from the file,
 * so bytes outside printable ASCII (a newline, a terminal escape) and the
 * quote and backslash are written as \xNN, and a long key is cut short. */
static const char *config_field_text(char *buf, size_t cap, const char *field) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)field; *p; ++p) {
    if (o + 8 >= cap) { /* room for "\xNN", "..." and the NUL */
      memcpy(buf + o, "...", 3);
      o += 3;
      break;
    }
    if (*p >= 0x20 && *p < 0x7f && *p != '\'' && *p != '\\') {
      buf[o++] = (char)*p;
    } else {
      buf[o++] = '\\';
      buf[o++] = 'x';
      buf[o++] = hex[*p >> 4];
      buf[o++] = hex[*p & 15];
    }
  }
  buf[o] = 0;
  return buf;
}

static int config_fail(const config_ctx *x, const char *field,
                       const char *what) {
  char text[DSBD_CONFIG_FIELD_TEXT_MAX];
  return config_errf(x->err, x->errlen, "config %s: field '%s': %s", x->file,
                     config_field_text(text, sizeof(text), field), what);
}

static int config_json_string(const config_ctx *x, const char *field,
                              json_object *v, const char **out) {
  if (!json_object_is_type(v, json_type_string)) {
    return config_fail(x, field, "expected a string");
  }
  *out = json_object_get_string(v);
  return 0;
}

static int config_json_string_array(const config_ctx *x, const char *field,
                                    json_object *v, dsbd_config *cfg,
                                    int (*add)(dsbd_config *, const char *),
                                    const char *what) {
  if (!json_object_is_type(v, json_type_array)) {
    return config_fail(x, field, "expected an array of strings");
  }
  size_t n = json_object_array_length(v);
  for (size_t i = 0; i < n; ++i) {
    json_object *e = json_object_array_get_idx(v, i);
    if (!json_object_is_type(e, json_type_string) ||
        add(cfg, json_object_get_string(e)) != 0) {
      return config_fail(x, field, what);
    }
  }
  return 0;
}

/* A JSON string key of ours, with its check and what to say on failure. */
static int config_string_key(const config_ctx *x, dsbd_config *cfg,
                             const char *key, json_object *val) {
  const char *s = NULL;
  int rv = config_json_string(x, key, val, &s);
  if (rv) {
    return rv;
  }
  if (!s) { /* json-c returns NULL only for a NULL object; keep it evident */
    return config_fail(x, key, "expected a string");
  }
  if (strcmp(key, "state_dir") == 0) {
    if (dsbd_config_set_str(cfg->state_dir, sizeof(cfg->state_dir), s)) {
      return config_fail(x, key, "expected a non-empty path");
    }
  } else if (strcmp(key, "socket") == 0) {
    if (dsbd_config_set_str(cfg->socket_path, sizeof(cfg->socket_path), s)) {
      return config_fail(x, key, "expected a path of 1..107 bytes");
    }
  } else if (strcmp(key, "name") == 0) {
    if (dsbd_config_set_name(cfg, s)) {
      return config_fail(x, key,
                         "expected 0..64 bytes without control characters");
    }
  } else if (strcmp(key, "log_level") == 0) {
    int level = dsbd_config_parse_level(s);
    if (level < 0) {
      return config_fail(x, key,
                         "expected \"error\", \"warn\", \"info\" or "
                         "\"debug\"");
    }
    cfg->log_level = level;
  } else if (strcmp(key, "backend") == 0) {
    int backend = dsbd_backend_parse(s);
    if (backend < 0) {
      return config_fail(x, key, "expected \"direct\" or \"netstackd\"");
    }
    cfg->backend = backend;
  } else { /* netstackd_socket */
    if (dsbd_config_set_str(cfg->netstackd_socket,
                            sizeof(cfg->netstackd_socket), s)) {
      return config_fail(x, key, "expected a path of 1..107 bytes");
    }
  }
  return 0;
}

static int config_is_string_key(const char *key) {
  static const char *const keys[] = {"state_dir", "socket",
                                     "name",      "log_level",
                                     "backend",   "netstackd_socket"};
  for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); ++i) {
    if (strcmp(key, keys[i]) == 0) {
      return 1;
    }
  }
  return 0;
}

static int config_apply(const config_ctx *x, dsbd_config *cfg,
                        json_object *root) {
  json_object_object_foreach(root, key, val) {
    int rv = 0, prv;
    char pfield[96], pwhat[96];
    if (config_is_string_key(key)) {
      rv = config_string_key(x, cfg, key, val);
    } else if (strcmp(key, "port") == 0 || strcmp(key, "discovery_port") == 0) {
      int64_t v = json_object_get_int64(val);
      if (!json_object_is_type(val, json_type_int) || v < 0 || v > 65535) {
        rv = config_fail(x, key, "expected an integer 0..65535");
      } else if (key[0] == 'p') {
        cfg->port = (int)v;
      } else {
        cfg->disc_port = (int)v;
      }
    } else if (strcmp(key, "interfaces") == 0) {
      rv = config_json_string_array(
          x, key, val, cfg, dsbd_config_add_interface,
          "expected at most 8 interface names (1..15 bytes; no '/', ':' or "
          "spaces)");
    } else if (strcmp(key, "peers") == 0) {
      rv = config_json_string_array(x, key, val, cfg, dsbd_config_add_peer,
                                    "expected at most 16 \"HOST:PORT\" "
                                    "strings");
    } else if (strcmp(key, "allow_unknown") == 0) {
      if (!json_object_is_type(val, json_type_boolean)) {
        rv = config_fail(x, key, "expected true or false");
      } else {
        cfg->allow_unknown = json_object_get_boolean(val);
      }
    } else if ((prv = dsbd_proxy_config_key(&cfg->proxy, key, val, pfield,
                                            sizeof(pfield), pwhat,
                                            sizeof(pwhat))) != 1) {
      /* "policy", "proxy": the proxy validates its own keys. */
      if (prv != 0) {
        rv = config_fail(x, pfield, pwhat);
      }
    } else {
      rv = config_fail(x, key, "unknown field");
    }
    if (rv) {
      return rv;
    }
  }
  return 0;
}

int dsbd_config_load_json(dsbd_config *cfg, const char *source_name,
                          const char *text, size_t len, char *err,
                          size_t errlen) {
  if (err && errlen) {
    err[0] = 0;
  }
  if (!cfg || !source_name || (!text && len)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  config_ctx x = {source_name, err, errlen};
  if (len > DSBD_CONFIG_MAX_FILE) {
    return config_errf(err, errlen, "config %s: larger than 64 KiB",
                       source_name);
  }
  /* A NUL-terminated copy: json-c reads object keys and strings as C
   * strings, and an embedded NUL must end up as trailing garbage. */
  int rv = DSB_ERR_NOMEM;
  char *copy = malloc(len + 1);
  json_tokener *tok = json_tokener_new();
  dsbd_config *tmp = malloc(sizeof(*tmp));
  json_object *root = NULL;
  if (!copy || !tok || !tmp) {
    goto cleanup;
  }
  if (len) {
    memcpy(copy, text, len);
  }
  copy[len] = 0;
  root = json_tokener_parse_ex(tok, copy, (int)len);
  /* Success may stop before the end: only whitespace may follow. */
  size_t end = root ? json_tokener_get_parse_end(tok) : 0;
  while (end < len && (copy[end] == ' ' || copy[end] == '\n' ||
                       copy[end] == '\t' || copy[end] == '\r')) {
    ++end;
  }
  if (!root || end != len || !json_object_is_type(root, json_type_object)) {
    rv = config_errf(err, errlen, "config %s: not a valid JSON object",
                     source_name);
    goto cleanup;
  }
  *tmp = *cfg;
  rv = config_apply(&x, tmp, root);
  if (rv == 0) {
    *cfg = *tmp; /* commit only a fully valid file */
  }
cleanup:
  json_object_put(root);
  if (tok) {
    json_tokener_free(tok);
  }
  free(tmp);
  free(copy);
  return rv;
}

int dsbd_config_load_file(dsbd_config *cfg, const char *path, char *err,
                          size_t errlen) {
  if (err && errlen) {
    err[0] = 0;
  }
  FILE *f = fopen(path, "r");
  if (!f) {
    config_errf(err, errlen, "config %s: cannot open: %s", path,
                strerror(errno));
    return DSB_ERR_IO;
  }
  /* One byte more than the cap so an oversize file is detected. */
  char *text = malloc(DSBD_CONFIG_MAX_FILE + 1);
  if (!text) {
    fclose(f);
    return DSB_ERR_NOMEM;
  }
  size_t n = fread(text, 1, DSBD_CONFIG_MAX_FILE + 1, f);
  int rerr = ferror(f);
  fclose(f);
  int rv;
  if (rerr) {
    config_errf(err, errlen, "config %s: read error", path);
    rv = DSB_ERR_IO;
  } else {
    rv = dsbd_config_load_json(cfg, path, text, n, err, errlen);
  }
  free(text);
  return rv;
}
