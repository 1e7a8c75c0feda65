/* fuzz_daemon_config.c - dsoftbusd's JSON config loader
 * (src/daemon/config.h) on arbitrary text. A rejected text leaves the
 * config untouched and explains itself in one line naming the source (or
 * leaves the line to proxy.c, which prints its own); an accepted one yields
 * a config whose every field is within its documented bounds. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dsb/err.h"
#include "dsb/ipc.h"
#include "daemon/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* |s| is NUL-terminated within |cap| bytes. */
static int fuzz_terminated(const char *s, size_t cap) {
  return memchr(s, '\0', cap) != NULL;
}

static void fuzz_check_accepted(const dsbd_config *cfg) {
  if (!fuzz_terminated(cfg->state_dir, sizeof(cfg->state_dir)) ||
      !fuzz_terminated(cfg->socket_path, sizeof(cfg->socket_path)) ||
      !fuzz_terminated(cfg->name, sizeof(cfg->name)) ||
      !fuzz_terminated(cfg->netstackd_socket, sizeof(cfg->netstackd_socket)) ||
      !fuzz_terminated(cfg->proxy.policy, sizeof(cfg->proxy.policy))) {
    abort();
  }
  if (!dsb_ipc_name_valid((const uint8_t *)cfg->name, strlen(cfg->name)) ||
      cfg->port < 0 || cfg->port > 65535 || cfg->disc_port < 0 ||
      cfg->disc_port > 65535 || cfg->log_level < DSB_LOG_ERROR ||
      cfg->log_level > DSB_LOG_DEBUG ||
      (cfg->backend != DSBD_BACKEND_DIRECT &&
       cfg->backend != DSBD_BACKEND_NETSTACKD) ||
      cfg->ninterfaces > DSBD_MAX_INTERFACES ||
      cfg->npeers > DSBD_MAX_PEER_ADDRS) {
    abort();
  }
  for (size_t i = 0; i < cfg->ninterfaces; ++i) {
    size_t n = strnlen(cfg->interfaces[i], sizeof(cfg->interfaces[i]));
    if (n == 0 || n > DSBD_CONFIG_IFNAME_MAX) {
      abort();
    }
  }
  for (size_t i = 0; i < cfg->npeers; ++i) {
    size_t n = strnlen(cfg->peers[i], sizeof(cfg->peers[i]));
    if (n == 0 || n == sizeof(cfg->peers[i]) || !strchr(cfg->peers[i], ':')) {
      abort();
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Fixed defaults, not dsbd_config_defaults(): that one reads the
   * environment and the host name, and the fuzzer must be deterministic. */
  static dsbd_config cfg, before;
  static char err[DSBD_CONFIG_ERR_MAX];
  memset(&cfg, 0, sizeof(cfg));
  cfg.log_level = DSB_LOG_INFO;
  memcpy(cfg.state_dir, "/var/lib/dsoftbus", sizeof("/var/lib/dsoftbus"));
  before = cfg;
  memset(err, 'x', sizeof(err));
  int rv = dsbd_config_load_json(&cfg, "fuzz.json", (const char *)data, size,
                                 err, sizeof(err));
  if (!fuzz_terminated(err, sizeof(err)) || strchr(err, '\n')) {
    abort();
  }
  if (rv != 0) {
    if ((rv != DSB_ERR_CONFIG && rv != DSB_ERR_NOMEM) ||
        memcmp(&cfg, &before, sizeof(cfg)) != 0 ||
        (err[0] && strncmp(err, "config fuzz.json: ", 18) != 0)) {
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
