/* fuzz_ipc_rpc.c - the remote-call ops of the local API
 * (include/dsb/ipc_rpc.h) on arbitrary bytes: the daemon decodes these
 * from any local app, and the client library from the daemon. Whatever
 * decodes must re-encode to the same bytes; rejects return only the
 * documented codes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dsb/err.h"
#include "dsb/ipc_rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static uint8_t out[DSB_IPC_MAX_MSG];
  dsb_ipc_rpc_msg m;
  int rv = dsb_ipc_rpc_decode(&m, data, size);
  if (rv != 0) {
    if (rv != DSB_ERR_IPC_OVERSIZE && rv != DSB_ERR_IPC_TRUNCATED &&
        rv != DSB_ERR_IPC_TRAILING && rv != DSB_ERR_IPC_UNKNOWN_OP &&
        rv != DSB_ERR_IPC_BAD_STRING && rv != DSB_ERR_IPC_BAD_VALUE &&
        rv != DSB_ERR_IPC_TOO_MANY) {
      abort();
    }
    return 0;
  }
  long n = m.status ? dsb_ipc_encode_status(out, sizeof(out), m.op & 0x7f,
                                            m.nonce, m.status)
                    : dsb_ipc_rpc_encode(out, sizeof(out), &m);
  if (n < 0 || (size_t)n != size || memcmp(out, data, size) != 0) {
    abort();
  }
  return 0;
}
