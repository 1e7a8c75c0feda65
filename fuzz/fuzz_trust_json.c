/* fuzz_trust_json.c - the trust store JSON parser (include/dsb/trust.h) on
 * arbitrary text. Whatever parses must serialize and parse back to the
 * same table; a rejected text must leave the table untouched. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dsb/err.h"
#include "dsb/trust.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_TRUST_CAP 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static dsb_trust_entry a[FUZZ_TRUST_CAP], b[FUZZ_TRUST_CAP];
  dsb_trust *t = NULL, *u = NULL;
  dsb_device_id sentinel;
  char *text = NULL;
  size_t cap;
  int rv, n, na, nb;

  if (dsb_trust_new(&t, NULL, FUZZ_TRUST_CAP) != 0 ||
      dsb_trust_new(&u, NULL, FUZZ_TRUST_CAP) != 0) {
    abort();
  }
  memset(&sentinel, 0xee, sizeof(sentinel));
  if (dsb_trust_set(t, &sentinel, DSB_TRUST_BLOCKED) != 0) {
    abort();
  }
  rv = dsb_trust_from_json(t, (const char *)data, size);
  if (rv != 0) {
    if (dsb_trust_count(t) != 1 ||
        dsb_trust_state_of(t, &sentinel) != DSB_TRUST_BLOCKED) {
      abort(); /* a failed parse changed the table */
    }
    goto out;
  }
  cap = dsb_trust_json_bound(t);
  text = malloc(cap);
  if (!text) {
    abort();
  }
  n = dsb_trust_to_json(t, text, cap);
  if (n < 0 || dsb_trust_from_json(u, text, (size_t)n) != 0) {
    abort();
  }
  na = dsb_trust_list(t, a, FUZZ_TRUST_CAP);
  nb = dsb_trust_list(u, b, FUZZ_TRUST_CAP);
  if (na < 0 || na != nb || memcmp(a, b, (size_t)na * sizeof(a[0])) != 0) {
    abort();
  }

out:
  free(text);
  dsb_trust_del(t);
  dsb_trust_del(u);
  return 0;
}
