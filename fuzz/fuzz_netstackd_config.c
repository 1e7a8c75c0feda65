/* fuzz_netstackd_config.c - netstackd's JSON policy loader
 * (src/netstackd/netstackd.h) on arbitrary text. A rejected text leaves
 * the policy untouched and explains itself in one line naming the source;
 * an accepted one is within every cap, its ranges are ordered, its
 * prefixes fit their family, and the checks netstackd runs on every
 * request answer 0 or 1 over it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dsb/err.h"
#include "netstackd/netstackd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check_ports(const nsd_ports *p) {
  if (p->n > NSD_MAX_RANGES) {
    abort();
  }
  for (size_t i = 0; i < p->n; ++i) {
    if (p->r[i].lo > p->r[i].hi) {
      abort();
    }
  }
  /* A port inside a range is allowed; the loop above proves ranges are
   * ordered, so lo itself must be. */
  for (size_t i = 0; i < p->n; ++i) {
    if (nsd_config_port_ok(p, p->r[i].lo) != 1) {
      abort();
    }
  }
}

static void fuzz_check_nets(const nsd_nets *n) {
  if (n->n > NSD_MAX_NETS) {
    abort();
  }
  for (size_t i = 0; i < n->n; ++i) {
    const nsd_net *r = &n->r[i];
    dsb_netstack_addr a;
    memset(&a, 0, sizeof(a));
    if (r->family != DSB_NETSTACK_FAMILY_IPV4 &&
        r->family != DSB_NETSTACK_FAMILY_IPV6) {
      abort();
    }
    if (r->prefix > dsb_netstack_addr_iplen(r->family) * 8) {
      abort();
    }
    /* The network's own address is inside it. */
    a.family = r->family;
    memcpy(a.ip, r->ip, sizeof(a.ip));
    if (nsd_config_net_ok(n, &a) != 1) {
      abort();
    }
  }
}

static void fuzz_check_accepted(const nsd_config *cfg) {
  if (!cfg->allow_ipv4 && !cfg->allow_ipv6) {
    abort();
  }
  fuzz_check_ports(&cfg->listen_ports);
  fuzz_check_ports(&cfg->bind_ports);
  fuzz_check_ports(&cfg->connect_ports);
  fuzz_check_nets(&cfg->local_networks);
  fuzz_check_nets(&cfg->destinations);
  if (cfg->ninterfaces > NSD_MAX_IFACES || cfg->max_pending_connects < 1 ||
      cfg->max_pending_connects > NSD_MAX_PENDING_CAP ||
      (cfg->socket_mode & ~0666u) != 0 || (cfg->socket_mode & 0600u) != 0600u) {
    abort();
  }
  for (size_t i = 0; i < cfg->ninterfaces; ++i) {
    size_t n = strnlen(cfg->interfaces[i], sizeof(cfg->interfaces[i]));
    if (n == 0 || n > DSB_NETSTACK_IFNAME_MAX ||
        nsd_config_iface_ok(cfg, cfg->interfaces[i]) != 1) {
      abort();
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static nsd_config cfg, before;
  static char err[NSD_CONFIG_ERR_MAX];
  nsd_config_defaults(&cfg);
  before = cfg;
  memset(err, 'x', sizeof(err));
  int rv = nsd_config_load_json(&cfg, "fuzz.json", (const char *)data, size,
                                err, sizeof(err));
  if (memchr(err, '\0', sizeof(err)) == NULL || strchr(err, '\n')) {
    abort();
  }
  if (rv != 0) {
    if ((rv != DSB_ERR_CONFIG && rv != DSB_ERR_NOMEM) ||
        memcmp(&cfg, &before, sizeof(cfg)) != 0 ||
        strncmp(err, "fuzz.json: ", 11) != 0) {
      abort();
    }
    return 0;
  }
  if (err[0]) {
    abort();
  }
  fuzz_check_accepted(&cfg);
  return 0;
}
