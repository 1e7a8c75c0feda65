/*
 * config.c - netstackd's policy file (JSON, json-c) and the checks every
 * request goes through. Field reference: docs/SECURITY.md, "Privilege
 * separation"; an unknown field or a bad value stops the daemon with
 * "FILE: FIELD: expected ...", never a half-applied policy.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "dsb/err.h"
#include "netstackd.h"

static void cfg_set_all_nets(nsd_nets *n) {
  memset(n, 0, sizeof(*n));
  n->n = 2;
  n->r[0].family = DSB_NETSTACK_FAMILY_IPV4; /* 0.0.0.0/0 */
  n->r[1].family = DSB_NETSTACK_FAMILY_IPV6; /* ::/0 */
}

void nsd_config_defaults(nsd_config *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->allow_ipv4 = 1;
  cfg->allow_ipv6 = 1;
  /* Ephemeral (0) or unprivileged ports for listeners and UDP sockets. */
  cfg->listen_ports.n = 2;
  cfg->listen_ports.r[0] = (nsd_range){0, 0};
  cfg->listen_ports.r[1] = (nsd_range){1024, 65535};
  cfg->bind_ports = cfg->listen_ports;
  cfg->connect_ports.n = 1;
  cfg->connect_ports.r[0] = (nsd_range){1, 65535};
  cfg_set_all_nets(&cfg->local_networks);
  cfg_set_all_nets(&cfg->destinations);
  cfg->any_interface = 1;
  cfg->max_pending_connects = NSD_MAX_PENDING_DEFAULT;
  cfg->socket_mode = 0600;
}

/* Where error lines go: |path| names the source, |err| (may be NULL)
 * receives one line. */
/* A key in an error line: up to ~64 bytes of it, escaped. */
#define NSD_CONFIG_FIELD_TEXT_MAX 72

typedef struct cfg_ctx {
  const char *path;
  char *err;
  size_t errlen;
} cfg_ctx;

static int cfg_errf(const cfg_ctx *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int cfg_errf(const cfg_ctx *x, const char *fmt, ...) {
  if (x->err != NULL && x->errlen > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->err, x->errlen, fmt, ap);
    va_end(ap);
  }
  return DSB_ERR_CONFIG;
}

/* |field| as it may appear in one error line: a key comes from the file,
 * so bytes outside printable ASCII (a newline, a terminal escape) and the
 * quote and backslash are written as \xNN, and a long key is cut short. */
static const char *cfg_field_text(char *buf, size_t cap, const char *field) {
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

static int cfg_fail(const cfg_ctx *x, const char *field, const char *what) {
  char text[NSD_CONFIG_FIELD_TEXT_MAX];
  return cfg_errf(x, "%s: %s: expected %s", x->path,
                  cfg_field_text(text, sizeof(text), field), what);
}

static int cfg_parse_port(const char *s, uint16_t *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 65535) {
    return -1;
  }
  *out = (uint16_t)v;
  return 0;
}

/* Items: an integer port, or a string "N" or "LO-HI". */
static int cfg_ports(nsd_ports *out, json_object *v, const cfg_ctx *x,
                     const char *field) {
  const char *what = "an array of ports (0..65535) or \"LO-HI\" ranges, "
                     "at most 16";
  if (!json_object_is_type(v, json_type_array) ||
      json_object_array_length(v) > NSD_MAX_RANGES) {
    return cfg_fail(x, field, what);
  }
  memset(out, 0, sizeof(*out));
  for (size_t i = 0; i < json_object_array_length(v); ++i) {
    json_object *it = json_object_array_get_idx(v, i);
    nsd_range r;
    if (json_object_is_type(it, json_type_int)) {
      int64_t p = json_object_get_int64(it);
      if (p < 0 || p > 65535) {
        return cfg_fail(x, field, what);
      }
      r.lo = r.hi = (uint16_t)p;
    } else if (json_object_is_type(it, json_type_string)) {
      char buf[16];
      const char *s = json_object_get_string(it);
      if (strlen(s) >= sizeof(buf)) {
        return cfg_fail(x, field, what);
      }
      strcpy(buf, s);
      char *dash = strchr(buf, '-');
      if (dash != NULL) {
        *dash = '\0';
        if (cfg_parse_port(buf, &r.lo) != 0 ||
            cfg_parse_port(dash + 1, &r.hi) != 0 || r.lo > r.hi) {
          return cfg_fail(x, field, what);
        }
      } else if (cfg_parse_port(buf, &r.lo) != 0) {
        return cfg_fail(x, field, what);
      } else {
        r.hi = r.lo;
      }
    } else {
      return cfg_fail(x, field, what);
    }
    out->r[out->n++] = r;
  }
  return 0;
}

/* Items: "ADDR/PREFIX" (IPv4 or IPv6) or a bare address (host route). */
static int cfg_nets(nsd_nets *out, json_object *v, const cfg_ctx *x,
                    const char *field) {
  const char *what = "an array of \"ADDRESS/PREFIX\" networks, at most 32";
  if (!json_object_is_type(v, json_type_array) ||
      json_object_array_length(v) > NSD_MAX_NETS) {
    return cfg_fail(x, field, what);
  }
  memset(out, 0, sizeof(*out));
  for (size_t i = 0; i < json_object_array_length(v); ++i) {
    json_object *it = json_object_array_get_idx(v, i);
    char buf[INET6_ADDRSTRLEN + 8];
    nsd_net n;
    memset(&n, 0, sizeof(n));
    if (!json_object_is_type(it, json_type_string) ||
        strlen(json_object_get_string(it)) >= sizeof(buf)) {
      return cfg_fail(x, field, what);
    }
    strcpy(buf, json_object_get_string(it));
    char *slash = strchr(buf, '/');
    if (slash != NULL) {
      *slash = '\0';
    }
    if (inet_pton(AF_INET, buf, n.ip) == 1) {
      n.family = DSB_NETSTACK_FAMILY_IPV4;
    } else if (inet_pton(AF_INET6, buf, n.ip) == 1) {
      n.family = DSB_NETSTACK_FAMILY_IPV6;
    } else {
      return cfg_fail(x, field, what);
    }
    unsigned maxp = (unsigned)dsb_netstack_addr_iplen(n.family) * 8;
    n.prefix = (uint8_t)maxp;
    if (slash != NULL) {
      uint16_t p;
      if (cfg_parse_port(slash + 1, &p) != 0 || p > maxp) {
        return cfg_fail(x, field, what);
      }
      n.prefix = (uint8_t)p;
    }
    out->r[out->n++] = n;
  }
  return 0;
}

static int cfg_families(nsd_config *cfg, json_object *v, const cfg_ctx *x) {
  const char *what = "a non-empty array of \"ipv4\" and/or \"ipv6\"";
  if (!json_object_is_type(v, json_type_array) ||
      json_object_array_length(v) == 0 || json_object_array_length(v) > 2) {
    return cfg_fail(x, "families", what);
  }
  cfg->allow_ipv4 = cfg->allow_ipv6 = 0;
  for (size_t i = 0; i < json_object_array_length(v); ++i) {
    json_object *it = json_object_array_get_idx(v, i);
    const char *s = json_object_is_type(it, json_type_string)
                        ? json_object_get_string(it)
                        : "";
    if (strcmp(s, "ipv4") == 0) {
      cfg->allow_ipv4 = 1;
    } else if (strcmp(s, "ipv6") == 0) {
      cfg->allow_ipv6 = 1;
    } else {
      return cfg_fail(x, "families", what);
    }
  }
  return 0;
}

static int cfg_interfaces(nsd_config *cfg, json_object *v, const cfg_ctx *x) {
  const char *what = "an array of interface names (1..15 bytes) or [\"*\"], "
                     "at most 32";
  if (!json_object_is_type(v, json_type_array) ||
      json_object_array_length(v) > NSD_MAX_IFACES) {
    return cfg_fail(x, "interfaces", what);
  }
  cfg->any_interface = 0;
  cfg->ninterfaces = 0;
  for (size_t i = 0; i < json_object_array_length(v); ++i) {
    json_object *it = json_object_array_get_idx(v, i);
    if (!json_object_is_type(it, json_type_string)) {
      return cfg_fail(x, "interfaces", what);
    }
    const char *s = json_object_get_string(it);
    size_t len = strlen(s);
    if (strcmp(s, "*") == 0) {
      cfg->any_interface = 1;
      continue;
    }
    if (len == 0 || len > DSB_NETSTACK_IFNAME_MAX) {
      return cfg_fail(x, "interfaces", what);
    }
    memcpy(cfg->interfaces[cfg->ninterfaces++], s, len + 1);
  }
  return 0;
}

static int cfg_uint(uint32_t *out, json_object *v, const cfg_ctx *x,
                    const char *field, uint32_t lo, uint32_t hi,
                    const char *what) {
  if (!json_object_is_type(v, json_type_int)) {
    return cfg_fail(x, field, what);
  }
  int64_t n = json_object_get_int64(v);
  if (n < lo || n > hi) {
    return cfg_fail(x, field, what);
  }
  *out = (uint32_t)n;
  return 0;
}

static int cfg_apply(nsd_config *cfg, json_object *root, const cfg_ctx *x) {
  int rv = 0;
  if (!json_object_is_type(root, json_type_object)) {
    return cfg_fail(x, "(top level)", "a JSON object");
  }
  json_object_object_foreach(root, key, val) {
    if (strcmp(key, "families") == 0) {
      rv = cfg_families(cfg, val, x);
    } else if (strcmp(key, "listen_ports") == 0) {
      rv = cfg_ports(&cfg->listen_ports, val, x, key);
    } else if (strcmp(key, "bind_ports") == 0) {
      rv = cfg_ports(&cfg->bind_ports, val, x, key);
    } else if (strcmp(key, "connect_ports") == 0) {
      rv = cfg_ports(&cfg->connect_ports, val, x, key);
    } else if (strcmp(key, "local_networks") == 0) {
      rv = cfg_nets(&cfg->local_networks, val, x, key);
    } else if (strcmp(key, "destinations") == 0) {
      rv = cfg_nets(&cfg->destinations, val, x, key);
    } else if (strcmp(key, "interfaces") == 0) {
      rv = cfg_interfaces(cfg, val, x);
    } else if (strcmp(key, "max_pending_connects") == 0) {
      rv = cfg_uint(&cfg->max_pending_connects, val, x, key, 1,
                    NSD_MAX_PENDING_CAP, "an integer 1..1024");
    } else if (strcmp(key, "socket_mode") == 0) {
      uint32_t mode = 0;
      const char *what = "a string with an octal mode, 0600..0666";
      char *end;
      if (!json_object_is_type(val, json_type_string)) {
        return cfg_fail(x, key, what);
      }
      errno = 0;
      mode = (uint32_t)strtoul(json_object_get_string(val), &end, 8);
      /* Owner read/write is required; execute bits make no sense. */
      if (errno != 0 || *end != '\0' || (mode & ~0666u) != 0 ||
          (mode & 0600u) != 0600u) {
        return cfg_fail(x, key, what);
      }
      cfg->socket_mode = mode;
    } else {
      char text[NSD_CONFIG_FIELD_TEXT_MAX];
      return cfg_errf(x,
                      "%s: %s: unknown field (known: families, "
                      "listen_ports, bind_ports, connect_ports, "
                      "local_networks, destinations, interfaces, "
                      "max_pending_connects, socket_mode)",
                      x->path, cfg_field_text(text, sizeof(text), key));
    }
    if (rv != 0) {
      return rv;
    }
  }
  return 0;
}

int nsd_config_load_json(nsd_config *cfg, const char *source_name,
                         const char *text, size_t len, char *err,
                         size_t errlen) {
  if (err != NULL && errlen > 0) {
    err[0] = '\0';
  }
  if (cfg == NULL || source_name == NULL || (text == NULL && len > 0)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  cfg_ctx x = {source_name, err, errlen};
  if (len > NSD_CONFIG_MAX_FILE) {
    return cfg_errf(&x, "%s: larger than %d KiB", source_name,
                    NSD_CONFIG_MAX_FILE / 1024);
  }
  /* A NUL-terminated copy: an embedded NUL must end up as trailing
   * garbage, never as the end of a shorter, valid text. */
  int rv = DSB_ERR_NOMEM;
  char *copy = malloc(len + 1);
  json_tokener *tok = json_tokener_new();
  nsd_config *tmp = malloc(sizeof(*tmp));
  json_object *root = NULL;
  if (copy == NULL || tok == NULL || tmp == NULL) {
    goto cleanup;
  }
  if (len > 0) {
    memcpy(copy, text, len);
  }
  copy[len] = '\0';
  root = json_tokener_parse_ex(tok, copy, (int)len);
  size_t end = root != NULL ? json_tokener_get_parse_end(tok) : 0;
  while (end < len && (copy[end] == ' ' || copy[end] == '\n' ||
                       copy[end] == '\t' || copy[end] == '\r')) {
    ++end;
  }
  if (root == NULL || end != len) {
    enum json_tokener_error je = json_tokener_get_error(tok);
    rv = cfg_errf(&x, "%s: cannot parse JSON: %s", source_name,
                  root == NULL && je != json_tokener_continue
                      ? json_tokener_error_desc(je)
                  : root == NULL ? "unexpected end of input"
                                 : "trailing data after the JSON value");
    goto cleanup;
  }
  *tmp = *cfg;
  rv = cfg_apply(tmp, root, &x);
  if (rv == 0) {
    *cfg = *tmp; /* commit only a fully valid policy */
  }
cleanup:
  json_object_put(root);
  if (tok != NULL) {
    json_tokener_free(tok);
  }
  free(tmp);
  free(copy);
  return rv;
}

int nsd_config_load(nsd_config *cfg, const char *path) {
  char err[NSD_CONFIG_ERR_MAX];
  int rv;
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    fprintf(stderr, "netstackd: %s: cannot read: %s\n", path, strerror(errno));
    return DSB_ERR_CONFIG;
  }
  /* One byte more than the cap so an oversize file is detected. */
  char *text = malloc(NSD_CONFIG_MAX_FILE + 1);
  if (text == NULL) {
    fclose(f);
    return DSB_ERR_NOMEM;
  }
  size_t n = fread(text, 1, NSD_CONFIG_MAX_FILE + 1, f);
  int rerr = ferror(f);
  fclose(f);
  if (rerr) {
    snprintf(err, sizeof(err), "%s: cannot read: read error", path);
    rv = DSB_ERR_CONFIG;
  } else {
    rv = nsd_config_load_json(cfg, path, text, n, err, sizeof(err));
  }
  free(text);
  if (rv != 0) {
    fprintf(stderr, "netstackd: %s\n", err[0] ? err : dsb_strerror(rv));
  }
  return rv;
}

int nsd_config_family_ok(const nsd_config *cfg, uint8_t family) {
  return (family == DSB_NETSTACK_FAMILY_IPV4 && cfg->allow_ipv4) ||
         (family == DSB_NETSTACK_FAMILY_IPV6 && cfg->allow_ipv6);
}

int nsd_config_port_ok(const nsd_ports *ports, uint16_t port) {
  for (size_t i = 0; i < ports->n; ++i) {
    if (port >= ports->r[i].lo && port <= ports->r[i].hi) {
      return 1;
    }
  }
  return 0;
}

static int cfg_prefix_match(const uint8_t *a, const uint8_t *b,
                            unsigned prefix) {
  unsigned full = prefix / 8, rest = prefix % 8;
  if (memcmp(a, b, full) != 0) {
    return 0;
  }
  if (rest == 0) {
    return 1;
  }
  uint8_t mask = (uint8_t)(0xff << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}

int nsd_config_net_ok(const nsd_nets *nets, const dsb_netstack_addr *a) {
  for (size_t i = 0; i < nets->n; ++i) {
    if (nets->r[i].family == a->family &&
        cfg_prefix_match(nets->r[i].ip, a->ip, nets->r[i].prefix)) {
      return 1;
    }
  }
  return 0;
}

int nsd_config_iface_ok(const nsd_config *cfg, const char *name) {
  if (cfg->any_interface) {
    return 1;
  }
  for (size_t i = 0; i < cfg->ninterfaces; ++i) {
    if (strcmp(cfg->interfaces[i], name) == 0) {
      return 1;
    }
  }
  return 0;
}
