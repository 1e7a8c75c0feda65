/* fuzz_rpc.c - the remote call frame decoder (include/dsb/rpc.h) on
 * arbitrary bytes, under the default and a small limit. Whatever decodes
 * must re-encode to the same bytes; whatever is rejected returns only the
 * documented codes, and a rejected call can be answered only when its nonce
 * is recoverable. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dsb/err.h"
#include "dsb/policy.h"
#include "dsb/rpc.h"
#include "dsb/services.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_rpc_one(const uint8_t *data, size_t size,
                         const dsb_rpc_limits *limits) {
  static uint8_t out[DSB_RPC_MAX_REPLY_DEFAULT];
  dsb_rpc_msg m;
  long n;
  int rv = dsb_rpc_decode(&m, data, size, limits);
  if (rv != 0) {
    if (rv != DSB_ERR_PROXY_MALFORMED && rv != DSB_ERR_PROXY_VERSION &&
        rv != DSB_ERR_PROXY_OVERSIZE) {
      abort();
    }
    n = dsb_rpc_reject_encode(out, sizeof(out), data, size, rv);
    if (n >= 0) {
      /* Only calls are answered, and the answer decodes. */
      if (size < 10 || data[1] != DSB_RPC_OP_CALL ||
          dsb_rpc_decode(&m, out, (size_t)n, NULL) != 0 ||
          m.reply.payloadlen != 0) {
        abort();
      }
    }
    return;
  }
  if (m.op == DSB_RPC_OP_CALL) {
    if (!dsb_rpc_name_valid(m.call.service, m.call.servicelen) ||
        !dsb_rpc_name_valid(m.call.method, m.call.methodlen)) {
      abort();
    }
    n = dsb_rpc_call_encode(out, sizeof(out), &m.call, limits);
  } else if (m.op == DSB_RPC_OP_REPLY) {
    n = dsb_rpc_reply_encode(out, sizeof(out), &m.reply, limits);
  } else {
    abort();
  }
  if (n < 0 || (size_t)n != size || memcmp(out, data, size) != 0) {
    abort();
  }
}

/* The callee's whole path: whatever it answers is a well-formed reply. */
static void fuzz_rpc_callee(const uint8_t *data, size_t size) {
  static dsb_services *svc;
  static dsb_policy *pol;
  static uint8_t reply[DSB_RPC_MAX_REPLY_DEFAULT];
  if (!svc) {
    static const char allow[] =
        "{\"rules\":[{\"peer\":\"any\",\"service\":\"*\",\"method\":\"*\"}]}";
    if (dsb_services_new(&svc, NULL) != 0 ||
        dsb_policy_load_json(&pol, NULL, "allow", allow, sizeof(allow) - 1,
                             NULL, 0) != 0) {
      abort();
    }
  }
  dsb_services_result res;
  dsb_rpc_call call;
  dsb_rpc_msg m;
  int rv =
      dsb_services_handle_message(svc, &res, &call, reply, sizeof(reply), pol,
                                  "00112233445566778899aabbccddeeff",
                                  DSB_POLICY_PEER_TRUSTED, data, size, NULL);
  if (rv != 0) {
    if (rv != DSB_ERR_PROXY_MALFORMED && rv != DSB_ERR_PROXY_VERSION) {
      abort();
    }
    return;
  }
  if (res.action != DSB_SERVICES_REPLY ||
      dsb_rpc_decode(&m, reply, res.replylen, NULL) != 0 ||
      m.op != DSB_RPC_OP_REPLY || m.reply.nonce != call.nonce) {
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  dsb_rpc_limits def, small = {DSB_RPC_MAX_FRAME_MIN, DSB_RPC_MAX_FRAME_MIN};
  dsb_rpc_limits_default(&def);
  fuzz_rpc_one(data, size, &def);
  fuzz_rpc_one(data, size, &small);
  fuzz_rpc_callee(data, size);
  return 0;
}
