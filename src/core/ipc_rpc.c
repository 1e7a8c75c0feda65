/*
 * ipc_rpc.c - the remote-call ops of the local API (include/dsb/ipc_rpc.h,
 * docs/PROTOCOL.md "Local API: remote calls"). Sans-IO, no allocation.
 *
 * Reads and writes go through the shared bounded cursors (ipc_wire.h):
 * every access checks the remaining length first and the first failure
 * wins.
 */
#include <string.h>

#include "dsb/err.h"
#include "dsb/ipc_rpc.h"
#include "dsb/rpc.h"
#include "dsb/service_name.h"
#include "dsb/wire.h"
#include "ipc_wire.h"

/* ---- names -------------------------------------------------------------- */

/* Names of calls and of the bundle: as remote-call frames carry them
 * (1..64), so a peer's longer names stay callable. */
static int rpcipc_name_ok(const uint8_t *s, size_t len) {
  return len >= 1 && len <= DSB_RPC_NAME_MAX &&
         dsb_rpc_name_valid((const char *)s, len);
}

/* Names an app offers (SERVICE_ADD, SERVICE_REMOVE, a bundle's services):
 * the service-name rule, so each is announceable, openable and callable. */
static int rpcipc_service_ok(const uint8_t *s, size_t len) {
  return dsb_service_name_valid((const char *)s, len);
}

static int rpcipc_version_ok(const uint8_t *s, size_t len) {
  if (len < 1 || len > 32) {
    return 0;
  }
  for (size_t i = 0; i < len; ++i) {
    uint8_t c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '.' || c == '+' || c == '_' ||
          c == '-')) {
      return 0;
    }
  }
  return 1;
}

/* Descriptions and explanations are printable ASCII: they are shown on
 * terminals. */
static int rpcipc_printable(const uint8_t *s, size_t len, size_t max) {
  if (len > max) {
    return 0;
  }
  for (size_t i = 0; i < len; ++i) {
    if (s[i] < 0x20 || s[i] > 0x7e) {
      return 0;
    }
  }
  return 1;
}

static int rpcipc_desc_ok(const uint8_t *s, size_t len) {
  return rpcipc_printable(s, len, DSB_IPC_RPC_DESC_MAX);
}

static int rpcipc_text_ok(const uint8_t *s, size_t len) {
  return rpcipc_printable(s, len, DSB_IPC_RPC_EXPLAIN_MAX);
}

/* ---- ops ---------------------------------------------------------------- */

int dsb_ipc_rpc_op_is_request(uint8_t op) {
  return op >= DSB_IPC_OP_RPC_SERVICE_ADD && op <= DSB_IPC_OP_RPC_POLICY_CHECK;
}

static int rpcipc_op_is_reply(uint8_t op) {
  return (op & DSB_IPC_REPLY_BIT) &&
         dsb_ipc_rpc_op_is_request((uint8_t)(op & ~DSB_IPC_REPLY_BIT));
}

int dsb_ipc_rpc_op_is_ours(uint8_t op) {
  return dsb_ipc_rpc_op_is_request(op) || rpcipc_op_is_reply(op) ||
         op == DSB_IPC_EV_RPC_CALL;
}

const char *dsb_ipc_rpc_op_name(uint8_t op) {
  static const char *const req[] = {"rpc_service_add", "rpc_service_remove",
                                    "rpc_bundle_add",  "rpc_call",
                                    "rpc_answer",      "rpc_policy_check"};
  static const char *const rep[] = {
      "rpc_service_add.reply", "rpc_service_remove.reply",
      "rpc_bundle_add.reply",  "rpc_call.reply",
      "rpc_answer.reply",      "rpc_policy_check.reply"};
  if (dsb_ipc_rpc_op_is_request(op)) {
    return req[op - DSB_IPC_OP_RPC_SERVICE_ADD];
  }
  if (rpcipc_op_is_reply(op)) {
    return rep[(op & ~DSB_IPC_REPLY_BIT) - DSB_IPC_OP_RPC_SERVICE_ADD];
  }
  return op == DSB_IPC_EV_RPC_CALL ? "rpc_incoming_call" : "unknown";
}

size_t dsb_ipc_rpc_call_payload_max(size_t servicelen, size_t methodlen) {
  /* op, id, timeout, two length-prefixed names, payload length, nonce */
  size_t fixed = 1 + DSB_DEVICE_ID_LEN + 4 + 1 + 1 + 4 + 8;
  if (servicelen > DSB_RPC_NAME_MAX || methodlen > DSB_RPC_NAME_MAX) {
    return 0;
  }
  return DSB_IPC_MAX_MSG - fixed - servicelen - methodlen;
}

/* ---- reading ------------------------------------------------------------ */

static void rpcipc_rd_svc(dsb_ipc_rd *r, dsb_ipc_rpc_svc *s) {
  s->name = dsb_ipc_rd_str(r, DSB_IPC_WIRE_STR8, rpcipc_service_ok);
  s->description = dsb_ipc_rd_str(r, DSB_IPC_WIRE_STR8, rpcipc_desc_ok);
}

static void rpcipc_rd_payload(dsb_ipc_rd *r, dsb_ipc_rpc_msg *m) {
  switch (m->op) {
  case DSB_IPC_OP_RPC_SERVICE_ADD:
    rpcipc_rd_svc(r, &m->u.service_add);
    break;
  case DSB_IPC_OP_RPC_SERVICE_REMOVE:
    m->u.service_remove =
        dsb_ipc_rd_str(r, DSB_IPC_WIRE_STR8, rpcipc_service_ok);
    break;
  case DSB_IPC_OP_RPC_BUNDLE_ADD: {
    m->u.bundle_add.name = dsb_ipc_rd_str(r, DSB_IPC_WIRE_STR8, rpcipc_name_ok);
    m->u.bundle_add.version =
        dsb_ipc_rd_str(r, DSB_IPC_WIRE_STR8, rpcipc_version_ok);
    uint8_t n = dsb_ipc_rd_u8(r);
    if (!r->err && n > DSB_IPC_RPC_BUNDLE_SERVICES_MAX) {
      r->err = DSB_ERR_IPC_TOO_MANY;
    }
    for (uint8_t i = 0; i < n && !r->err; ++i) {
      rpcipc_rd_svc(r, &m->u.bundle_add.services[i]);
    }
    m->u.bundle_add.nservices = n;
    break;
  }
  case DSB_IPC_OP_RPC_CALL:
    dsb_ipc_rd_id(r, &m->u.call.id);
    m->u.call.timeout_ms = dsb_ipc_rd_u32(r);
    dsb_ipc_rd_value(r, m->u.call.timeout_ms <= DSB_IPC_RPC_TIMEOUT_MAX_MS);
    m->u.call.service = dsb_ipc_rd_str(r, DSB_IPC_WIRE_STR8, rpcipc_name_ok);
    m->u.call.method = dsb_ipc_rd_str(r, DSB_IPC_WIRE_STR8, rpcipc_name_ok);
    m->u.call.payload = dsb_ipc_rd_blob(r);
    break;
  case DSB_IPC_OP_RPC_CALL | DSB_IPC_REPLY_BIT:
    m->u.call_r.rpc_status = dsb_ipc_rd_u8(r);
    dsb_ipc_rd_value(r, m->u.call_r.rpc_status <= DSB_RPC_STATUS_MAX);
    m->u.call_r.payload = dsb_ipc_rd_blob(r);
    break;
  case DSB_IPC_OP_RPC_ANSWER:
    m->u.answer.call = dsb_ipc_rd_u64(r);
    m->u.answer.rpc_status = dsb_ipc_rd_u8(r);
    dsb_ipc_rd_value(r, m->u.answer.rpc_status <= DSB_RPC_STATUS_MAX);
    m->u.answer.payload = dsb_ipc_rd_blob(r);
    break;
  case DSB_IPC_OP_RPC_POLICY_CHECK:
    dsb_ipc_rd_id(r, &m->u.policy_check.id);
    m->u.policy_check.service =
        dsb_ipc_rd_str(r, DSB_IPC_WIRE_STR8, rpcipc_name_ok);
    m->u.policy_check.method =
        dsb_ipc_rd_str(r, DSB_IPC_WIRE_STR8, rpcipc_name_ok);
    break;
  case DSB_IPC_OP_RPC_POLICY_CHECK | DSB_IPC_REPLY_BIT:
    m->u.policy_check_r.rule = (int32_t)dsb_ipc_rd_u32(r);
    dsb_ipc_rd_value(r, m->u.policy_check_r.rule >= -1);
    m->u.policy_check_r.explanation =
        dsb_ipc_rd_str(r, DSB_IPC_WIRE_STR16, rpcipc_text_ok);
    break;
  case DSB_IPC_EV_RPC_CALL:
    m->u.incoming.call = dsb_ipc_rd_u64(r);
    dsb_ipc_rd_id(r, &m->u.incoming.id);
    m->u.incoming.peer_flags = dsb_ipc_rd_u8(r);
    m->u.incoming.service =
        dsb_ipc_rd_str(r, DSB_IPC_WIRE_STR8, rpcipc_name_ok);
    m->u.incoming.method = dsb_ipc_rd_str(r, DSB_IPC_WIRE_STR8, rpcipc_name_ok);
    m->u.incoming.payload = dsb_ipc_rd_blob(r);
    break;
  default:
    break; /* the other replies carry nothing */
  }
}

int dsb_ipc_rpc_decode(dsb_ipc_rpc_msg *msg, const uint8_t *in, size_t inlen) {
  if (!msg || !in) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (inlen > DSB_IPC_MAX_MSG) {
    return DSB_ERR_IPC_OVERSIZE;
  }
  if (inlen < 1 + DSB_IPC_NONCE_LEN) {
    return DSB_ERR_IPC_TRUNCATED;
  }
  dsb_ipc_rpc_msg m;
  memset(&m, 0, sizeof(m));
  m.op = in[0];
  if (!dsb_ipc_rpc_op_is_ours(m.op)) {
    return DSB_ERR_IPC_UNKNOWN_OP;
  }
  dsb_wire_get_u64be(in + inlen - DSB_IPC_NONCE_LEN, &m.nonce);
  dsb_ipc_rd r;
  dsb_ipc_rd_init(&r, in, inlen - DSB_IPC_NONCE_LEN, 1);
  if (rpcipc_op_is_reply(m.op)) {
    m.status = (int32_t)dsb_ipc_rd_u32(&r);
    dsb_ipc_rd_value(&r, m.status <= 0);
  }
  if (!r.err && m.status == 0) {
    rpcipc_rd_payload(&r, &m);
  }
  int rv = dsb_ipc_rd_done(&r);
  if (rv) {
    return rv;
  }
  *msg = m;
  return 0;
}

/* ---- writing ------------------------------------------------------------ */

static void rpcipc_wsvc(dsb_ipc_wr *w, const dsb_ipc_rpc_svc *s) {
  dsb_ipc_wr_str(w, s->name, DSB_IPC_WIRE_STR8, rpcipc_service_ok);
  dsb_ipc_wr_str(w, s->description, DSB_IPC_WIRE_STR8, rpcipc_desc_ok);
}

static void rpcipc_wpayload(dsb_ipc_wr *w, const dsb_ipc_rpc_msg *m) {
  switch (m->op) {
  case DSB_IPC_OP_RPC_SERVICE_ADD:
    rpcipc_wsvc(w, &m->u.service_add);
    break;
  case DSB_IPC_OP_RPC_SERVICE_REMOVE:
    dsb_ipc_wr_str(w, m->u.service_remove, DSB_IPC_WIRE_STR8,
                   rpcipc_service_ok);
    break;
  case DSB_IPC_OP_RPC_BUNDLE_ADD:
    dsb_ipc_wr_str(w, m->u.bundle_add.name, DSB_IPC_WIRE_STR8, rpcipc_name_ok);
    dsb_ipc_wr_str(w, m->u.bundle_add.version, DSB_IPC_WIRE_STR8,
                   rpcipc_version_ok);
    if (m->u.bundle_add.nservices > DSB_IPC_RPC_BUNDLE_SERVICES_MAX) {
      w->err = w->err ? w->err : DSB_ERR_IPC_TOO_MANY;
      return;
    }
    dsb_ipc_wr_u8(w, m->u.bundle_add.nservices);
    for (uint8_t i = 0; i < m->u.bundle_add.nservices; ++i) {
      rpcipc_wsvc(w, &m->u.bundle_add.services[i]);
    }
    break;
  case DSB_IPC_OP_RPC_CALL:
    dsb_ipc_wr_bytes(w, m->u.call.id.b, DSB_DEVICE_ID_LEN);
    dsb_ipc_wr_value(w, m->u.call.timeout_ms <= DSB_IPC_RPC_TIMEOUT_MAX_MS);
    dsb_ipc_wr_u32(w, m->u.call.timeout_ms);
    dsb_ipc_wr_str(w, m->u.call.service, DSB_IPC_WIRE_STR8, rpcipc_name_ok);
    dsb_ipc_wr_str(w, m->u.call.method, DSB_IPC_WIRE_STR8, rpcipc_name_ok);
    dsb_ipc_wr_blob(w, m->u.call.payload);
    break;
  case DSB_IPC_OP_RPC_CALL | DSB_IPC_REPLY_BIT:
    dsb_ipc_wr_value(w, m->u.call_r.rpc_status <= DSB_RPC_STATUS_MAX);
    dsb_ipc_wr_u8(w, m->u.call_r.rpc_status);
    dsb_ipc_wr_blob(w, m->u.call_r.payload);
    break;
  case DSB_IPC_OP_RPC_ANSWER:
    dsb_ipc_wr_u64(w, m->u.answer.call);
    dsb_ipc_wr_value(w, m->u.answer.rpc_status <= DSB_RPC_STATUS_MAX);
    dsb_ipc_wr_u8(w, m->u.answer.rpc_status);
    dsb_ipc_wr_blob(w, m->u.answer.payload);
    break;
  case DSB_IPC_OP_RPC_POLICY_CHECK:
    dsb_ipc_wr_bytes(w, m->u.policy_check.id.b, DSB_DEVICE_ID_LEN);
    dsb_ipc_wr_str(w, m->u.policy_check.service, DSB_IPC_WIRE_STR8,
                   rpcipc_name_ok);
    dsb_ipc_wr_str(w, m->u.policy_check.method, DSB_IPC_WIRE_STR8,
                   rpcipc_name_ok);
    break;
  case DSB_IPC_OP_RPC_POLICY_CHECK | DSB_IPC_REPLY_BIT:
    dsb_ipc_wr_value(w, m->u.policy_check_r.rule >= -1);
    dsb_ipc_wr_u32(w, (uint32_t)m->u.policy_check_r.rule);
    dsb_ipc_wr_str(w, m->u.policy_check_r.explanation, DSB_IPC_WIRE_STR16,
                   rpcipc_text_ok);
    break;
  case DSB_IPC_EV_RPC_CALL:
    dsb_ipc_wr_u64(w, m->u.incoming.call);
    dsb_ipc_wr_bytes(w, m->u.incoming.id.b, DSB_DEVICE_ID_LEN);
    dsb_ipc_wr_u8(w, m->u.incoming.peer_flags);
    dsb_ipc_wr_str(w, m->u.incoming.service, DSB_IPC_WIRE_STR8, rpcipc_name_ok);
    dsb_ipc_wr_str(w, m->u.incoming.method, DSB_IPC_WIRE_STR8, rpcipc_name_ok);
    dsb_ipc_wr_blob(w, m->u.incoming.payload);
    break;
  default:
    break;
  }
}

long dsb_ipc_rpc_encode(uint8_t *dst, size_t dstlen,
                        const dsb_ipc_rpc_msg *msg) {
  if (!dst || !msg) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (!dsb_ipc_rpc_op_is_ours(msg->op)) {
    return DSB_ERR_IPC_UNKNOWN_OP;
  }
  dsb_ipc_wr w;
  dsb_ipc_wr_init(&w, dst, dstlen);
  dsb_ipc_wr_u8(&w, msg->op);
  if (rpcipc_op_is_reply(msg->op)) {
    /* Error replies are dsb_ipc_encode_status()'s job. */
    dsb_ipc_wr_value(&w, msg->status == 0);
    dsb_ipc_wr_u32(&w, 0);
  }
  rpcipc_wpayload(&w, msg);
  dsb_ipc_wr_u64(&w, msg->nonce);
  if (w.err) {
    /* Out of room in a buffer of a whole packet: the message is too big. */
    return w.err == DSB_ERR_NOBUF && dstlen >= DSB_IPC_MAX_MSG
               ? DSB_ERR_IPC_OVERSIZE
               : w.err;
  }
  if (w.off > DSB_IPC_MAX_MSG) {
    return DSB_ERR_IPC_OVERSIZE;
  }
  return (long)w.off;
}
