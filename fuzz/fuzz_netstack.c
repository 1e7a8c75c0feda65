/* fuzz_netstack.c - netstackd request and reply decoders: no input may crash
 * them, and whatever decodes re-encodes to the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dsb/netstack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static uint8_t out[DSB_NETSTACK_MAX_MSG];
  dsb_netstack_req req;
  dsb_netstack_rep rep;

  if (dsb_netstack_req_decode(&req, data, size) == 0) {
    int n = dsb_netstack_req_encode(out, sizeof(out), &req);
    if (n < 0 || (size_t)n != size || memcmp(out, data, size) != 0) {
      abort();
    }
  }
  if (dsb_netstack_rep_decode(&rep, data, size) == 0) {
    int n = dsb_netstack_rep_encode(out, sizeof(out), &rep);
    if (n < 0 || (size_t)n != size || memcmp(out, data, size) != 0) {
      abort();
    }
  }
  return 0;
}
