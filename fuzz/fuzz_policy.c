/* fuzz_policy.c - the policy loader (include/dsb/policy.h) on arbitrary
 * text. A rejected file returns DSB_ERR_PROXY_POLICY_INVALID with a message
 * naming the source; an accepted one evaluates and explains without
 * surprises: every decision is a rule index in range or "denied". */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dsb/err.h"
#include "dsb/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const struct {
    const char *peer;
    unsigned flags;
    const char *svc;
    const char *meth;
  } probes[] = {
      {"00112233445566778899aabbccddeeff", DSB_POLICY_PEER_TRUSTED, "samgr",
       "list"},
      {"00112233445566778899aabbccddeeff", 0, "echo", "echo"},
      {"FFEEDDCCBBAA99887766554433221100", 0, "camera", "snap"},
      {"", 0, "*", "*"},
  };
  dsb_policy *p = NULL;
  char err[256], out[512];
  int rv = dsb_policy_load_json(&p, NULL, "fuzz.json", (const char *)data, size,
                                err, sizeof(err));
  if (rv != 0) {
    if (rv != DSB_ERR_PROXY_POLICY_INVALID || p != NULL ||
        strncmp(err, "fuzz.json: ", 11) != 0 ||
        !memchr(err, '\0', sizeof(err))) {
      abort();
    }
    return 0;
  }
  size_t n = dsb_policy_rule_count(p);
  if (n > DSB_POLICY_MAX_RULES) {
    abort();
  }
  for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); ++i) {
    long r = dsb_policy_explain(
        p, out, sizeof(out), probes[i].peer, probes[i].flags, probes[i].svc,
        strlen(probes[i].svc), probes[i].meth, strlen(probes[i].meth));
    if (!(r == DSB_ERR_PROXY_DENIED || (r >= 0 && (size_t)r < n)) ||
        strchr(out, '\n')) {
      abort();
    }
  }
  dsb_policy_del(p);
  return 0;
}
