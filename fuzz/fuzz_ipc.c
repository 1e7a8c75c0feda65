/* fuzz_ipc.c - the local API decoder (include/dsb/ipc.h) on arbitrary
 * packets: decode, walk list entries, and re-encode what decoded; the
 * re-encoding must reproduce the input byte for byte. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dsb/ipc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static uint8_t out[DSB_IPC_MAX_MSG];
  dsb_ipc_msg m;
  uint8_t op;
  uint64_t nonce;
  (void)dsb_ipc_peek(&op, &nonce, data, size);
  if (dsb_ipc_decode(&m, data, size) != 0) {
    return 0;
  }
  if (dsb_ipc_op_is_reply(m.op) && m.status == 0 && m.op != DSB_IPC_OP_ERROR) {
    dsb_ipc_iter it;
    dsb_ipc_iter_init(&it, &m.u.list_r);
    uint8_t req = (uint8_t)(m.op & ~DSB_IPC_REPLY_BIT);
    int rv = 1;
    while (rv == 1) {
      if (req == DSB_IPC_OP_PEERS) {
        dsb_ipc_peer p;
        rv = dsb_ipc_next_peer(&it, &p);
      } else if (req == DSB_IPC_OP_TRUST_LIST) {
        dsb_ipc_trust_entry t;
        rv = dsb_ipc_next_trust(&it, &t);
      } else if (req == DSB_IPC_OP_STATUS) {
        dsb_ipc_counter c;
        rv = dsb_ipc_next_counter(&it, &c);
      } else {
        rv = 0;
      }
    }
    if (rv < 0) {
      abort(); /* decode validated the list: walking it cannot fail */
    }
  }
  long n = dsb_ipc_encode(out, sizeof(out), &m);
  if (n < 0 || (size_t)n != size || memcmp(out, data, size) != 0) {
    abort();
  }
  return 0;
}
