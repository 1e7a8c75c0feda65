/*
 * ipc_rpc.c - the remote-call ops of the local API (include/dsb/ipc_rpc.h,
 * docs/PROTOCOL.md "Local API: remote calls"). Sans-IO, no allocation.
 *
 * Cursor reads and writes keep a sticky error: every access checks the
 * remaining length first and the first failure wins.
 */
#include <string.h>

#include "dsb/err.h"
#include "dsb/ipc_rpc.h"
#include "dsb/rpc.h"
#include "dsb/wire.h"

typedef struct rpcipc_rd {
  const uint8_t *p;
  size_t len;
  size_t off;
  int err;
} rpcipc_rd;

typedef struct rpcipc_wr {
  uint8_t *p;
  size_t cap;
  size_t off;
  int err;
} rpcipc_wr;

/* ---- names -------------------------------------------------------------- */

static int rpcipc_name_ok(const uint8_t *s, size_t len) {
  return len >= 1 && len <= DSB_RPC_NAME_MAX &&
         dsb_rpc_name_valid((const char *)s, len);
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

static int rpcipc_desc_ok(const uint8_t *s, size_t len) {
  if (len > DSB_IPC_RPC_DESC_MAX) {
    return 0;
  }
  for (size_t i = 0; i < len; ++i) {
    if (s[i] < 0x20 || s[i] > 0x7e) {
      return 0;
    }
  }
  return 1;
}

/* Explanations are printable ASCII too (they are shown on terminals). */
static int rpcipc_text_ok(const uint8_t *s, size_t len) {
  if (len > DSB_IPC_RPC_EXPLAIN_MAX) {
    return 0;
  }
  for (size_t i = 0; i < len; ++i) {
    if (s[i] < 0x20 || s[i] > 0x7e) {
      return 0;
    }
  }
  return 1;
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

static int rpcipc_need(rpcipc_rd *r, size_t n) {
  if (r->err) {
    return 0;
  }
  if (r->len - r->off < n) {
    r->err = DSB_ERR_IPC_TRUNCATED;
    return 0;
  }
  return 1;
}

static uint8_t rpcipc_u8(rpcipc_rd *r) {
  uint8_t v = 0;
  if (rpcipc_need(r, 1)) {
    dsb_wire_get_u8(r->p + r->off, &v);
    r->off += 1;
  }
  return v;
}

static uint32_t rpcipc_u32(rpcipc_rd *r) {
  uint32_t v = 0;
  if (rpcipc_need(r, 4)) {
    dsb_wire_get_u32be(r->p + r->off, &v);
    r->off += 4;
  }
  return v;
}

static uint64_t rpcipc_u64(rpcipc_rd *r) {
  uint64_t v = 0;
  if (rpcipc_need(r, 8)) {
    dsb_wire_get_u64be(r->p + r->off, &v);
    r->off += 8;
  }
  return v;
}

static void rpcipc_id(rpcipc_rd *r, dsb_device_id *id) {
  memset(id, 0, sizeof(*id));
  if (rpcipc_need(r, DSB_DEVICE_ID_LEN)) {
    memcpy(id->b, r->p + r->off, DSB_DEVICE_ID_LEN);
    r->off += DSB_DEVICE_ID_LEN;
  }
}

/* [len][bytes] with a u8 (|wide| 0) or u16 (|wide| 1) length. */
static dsb_ipc_str rpcipc_str(rpcipc_rd *r, int wide,
                              int (*check)(const uint8_t *, size_t)) {
  dsb_ipc_str s = {NULL, 0};
  size_t n = rpcipc_u8(r);
  if (wide) {
    n = (n << 8) | rpcipc_u8(r);
  }
  if (!rpcipc_need(r, n)) {
    return s;
  }
  if (!check(r->p + r->off, n)) {
    r->err = DSB_ERR_IPC_BAD_STRING;
    return s;
  }
  s.p = r->p + r->off;
  s.len = n;
  r->off += n;
  return s;
}

/* [len u32][bytes]: the length is bounded by what remains. */
static dsb_ipc_str rpcipc_blob(rpcipc_rd *r) {
  dsb_ipc_str s = {NULL, 0};
  uint32_t n = rpcipc_u32(r);
  if (!rpcipc_need(r, n)) {
    return s;
  }
  s.p = r->p + r->off;
  s.len = n;
  r->off += n;
  return s;
}

static void rpcipc_value(rpcipc_rd *r, int ok) {
  if (!r->err && !ok) {
    r->err = DSB_ERR_IPC_BAD_VALUE;
  }
}

static void rpcipc_rd_svc(rpcipc_rd *r, dsb_ipc_rpc_svc *s) {
  s->name = rpcipc_str(r, 0, rpcipc_name_ok);
  s->description = rpcipc_str(r, 0, rpcipc_desc_ok);
}

static void rpcipc_rd_payload(rpcipc_rd *r, dsb_ipc_rpc_msg *m) {
  switch (m->op) {
  case DSB_IPC_OP_RPC_SERVICE_ADD:
    rpcipc_rd_svc(r, &m->u.service_add);
    break;
  case DSB_IPC_OP_RPC_SERVICE_REMOVE:
    m->u.service_remove = rpcipc_str(r, 0, rpcipc_name_ok);
    break;
  case DSB_IPC_OP_RPC_BUNDLE_ADD: {
    m->u.bundle_add.name = rpcipc_str(r, 0, rpcipc_name_ok);
    m->u.bundle_add.version = rpcipc_str(r, 0, rpcipc_version_ok);
    uint8_t n = rpcipc_u8(r);
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
    rpcipc_id(r, &m->u.call.id);
    m->u.call.timeout_ms = rpcipc_u32(r);
    rpcipc_value(r, m->u.call.timeout_ms <= DSB_IPC_RPC_TIMEOUT_MAX_MS);
    m->u.call.service = rpcipc_str(r, 0, rpcipc_name_ok);
    m->u.call.method = rpcipc_str(r, 0, rpcipc_name_ok);
    m->u.call.payload = rpcipc_blob(r);
    break;
  case DSB_IPC_OP_RPC_CALL | DSB_IPC_REPLY_BIT:
    m->u.call_r.rpc_status = rpcipc_u8(r);
    rpcipc_value(r, m->u.call_r.rpc_status <= DSB_RPC_STATUS_MAX);
    m->u.call_r.payload = rpcipc_blob(r);
    break;
  case DSB_IPC_OP_RPC_ANSWER:
    m->u.answer.call = rpcipc_u64(r);
    m->u.answer.rpc_status = rpcipc_u8(r);
    rpcipc_value(r, m->u.answer.rpc_status <= DSB_RPC_STATUS_MAX);
    m->u.answer.payload = rpcipc_blob(r);
    break;
  case DSB_IPC_OP_RPC_POLICY_CHECK:
    rpcipc_id(r, &m->u.policy_check.id);
    m->u.policy_check.service = rpcipc_str(r, 0, rpcipc_name_ok);
    m->u.policy_check.method = rpcipc_str(r, 0, rpcipc_name_ok);
    break;
  case DSB_IPC_OP_RPC_POLICY_CHECK | DSB_IPC_REPLY_BIT:
    m->u.policy_check_r.rule = (int32_t)rpcipc_u32(r);
    rpcipc_value(r, m->u.policy_check_r.rule >= -1);
    m->u.policy_check_r.explanation = rpcipc_str(r, 1, rpcipc_text_ok);
    break;
  case DSB_IPC_EV_RPC_CALL:
    m->u.incoming.call = rpcipc_u64(r);
    rpcipc_id(r, &m->u.incoming.id);
    m->u.incoming.peer_flags = rpcipc_u8(r);
    m->u.incoming.service = rpcipc_str(r, 0, rpcipc_name_ok);
    m->u.incoming.method = rpcipc_str(r, 0, rpcipc_name_ok);
    m->u.incoming.payload = rpcipc_blob(r);
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
  rpcipc_rd r = {in, inlen - DSB_IPC_NONCE_LEN, 1, 0};
  if (rpcipc_op_is_reply(m.op)) {
    m.status = (int32_t)rpcipc_u32(&r);
    rpcipc_value(&r, m.status <= 0);
  }
  if (!r.err && m.status == 0) {
    rpcipc_rd_payload(&r, &m);
  }
  if (r.err) {
    return r.err;
  }
  if (r.off != r.len) {
    return DSB_ERR_IPC_TRAILING;
  }
  *msg = m;
  return 0;
}

/* ---- writing ------------------------------------------------------------ */

static int rpcipc_wneed(rpcipc_wr *w, size_t n) {
  if (w->err) {
    return 0;
  }
  if (w->cap - w->off < n) {
    w->err = DSB_ERR_NOBUF;
    return 0;
  }
  return 1;
}

static void rpcipc_w8(rpcipc_wr *w, uint8_t v) {
  if (rpcipc_wneed(w, 1)) {
    dsb_wire_put_u8(w->p + w->off, v);
    w->off += 1;
  }
}

static void rpcipc_w32(rpcipc_wr *w, uint32_t v) {
  if (rpcipc_wneed(w, 4)) {
    dsb_wire_put_u32be(w->p + w->off, v);
    w->off += 4;
  }
}

static void rpcipc_w64(rpcipc_wr *w, uint64_t v) {
  if (rpcipc_wneed(w, 8)) {
    dsb_wire_put_u64be(w->p + w->off, v);
    w->off += 8;
  }
}

static void rpcipc_wbytes(rpcipc_wr *w, const uint8_t *p, size_t n) {
  if (rpcipc_wneed(w, n)) {
    dsb_wire_put_bytes(w->p + w->off, p, n);
    w->off += n;
  }
}

static void rpcipc_wstr(rpcipc_wr *w, dsb_ipc_str s, int wide,
                        int (*check)(const uint8_t *, size_t)) {
  if (w->err) {
    return;
  }
  if ((s.len && !s.p) || !check(s.p ? s.p : (const uint8_t *)"", s.len)) {
    w->err = DSB_ERR_IPC_BAD_STRING;
    return;
  }
  if (wide) {
    rpcipc_w8(w, (uint8_t)(s.len >> 8));
  }
  rpcipc_w8(w, (uint8_t)s.len);
  rpcipc_wbytes(w, s.p, s.len);
}

static void rpcipc_wblob(rpcipc_wr *w, dsb_ipc_str s) {
  if (w->err) {
    return;
  }
  if ((s.len && !s.p) || s.len > DSB_IPC_MAX_MSG) {
    w->err = DSB_ERR_IPC_OVERSIZE;
    return;
  }
  rpcipc_w32(w, (uint32_t)s.len);
  rpcipc_wbytes(w, s.p, s.len);
}

static void rpcipc_wvalue(rpcipc_wr *w, int ok) {
  if (!w->err && !ok) {
    w->err = DSB_ERR_IPC_BAD_VALUE;
  }
}

static void rpcipc_wsvc(rpcipc_wr *w, const dsb_ipc_rpc_svc *s) {
  rpcipc_wstr(w, s->name, 0, rpcipc_name_ok);
  rpcipc_wstr(w, s->description, 0, rpcipc_desc_ok);
}

static void rpcipc_wpayload(rpcipc_wr *w, const dsb_ipc_rpc_msg *m) {
  switch (m->op) {
  case DSB_IPC_OP_RPC_SERVICE_ADD:
    rpcipc_wsvc(w, &m->u.service_add);
    break;
  case DSB_IPC_OP_RPC_SERVICE_REMOVE:
    rpcipc_wstr(w, m->u.service_remove, 0, rpcipc_name_ok);
    break;
  case DSB_IPC_OP_RPC_BUNDLE_ADD:
    rpcipc_wstr(w, m->u.bundle_add.name, 0, rpcipc_name_ok);
    rpcipc_wstr(w, m->u.bundle_add.version, 0, rpcipc_version_ok);
    if (m->u.bundle_add.nservices > DSB_IPC_RPC_BUNDLE_SERVICES_MAX) {
      w->err = w->err ? w->err : DSB_ERR_IPC_TOO_MANY;
      return;
    }
    rpcipc_w8(w, m->u.bundle_add.nservices);
    for (uint8_t i = 0; i < m->u.bundle_add.nservices; ++i) {
      rpcipc_wsvc(w, &m->u.bundle_add.services[i]);
    }
    break;
  case DSB_IPC_OP_RPC_CALL:
    rpcipc_wbytes(w, m->u.call.id.b, DSB_DEVICE_ID_LEN);
    rpcipc_wvalue(w, m->u.call.timeout_ms <= DSB_IPC_RPC_TIMEOUT_MAX_MS);
    rpcipc_w32(w, m->u.call.timeout_ms);
    rpcipc_wstr(w, m->u.call.service, 0, rpcipc_name_ok);
    rpcipc_wstr(w, m->u.call.method, 0, rpcipc_name_ok);
    rpcipc_wblob(w, m->u.call.payload);
    break;
  case DSB_IPC_OP_RPC_CALL | DSB_IPC_REPLY_BIT:
    rpcipc_wvalue(w, m->u.call_r.rpc_status <= DSB_RPC_STATUS_MAX);
    rpcipc_w8(w, m->u.call_r.rpc_status);
    rpcipc_wblob(w, m->u.call_r.payload);
    break;
  case DSB_IPC_OP_RPC_ANSWER:
    rpcipc_w64(w, m->u.answer.call);
    rpcipc_wvalue(w, m->u.answer.rpc_status <= DSB_RPC_STATUS_MAX);
    rpcipc_w8(w, m->u.answer.rpc_status);
    rpcipc_wblob(w, m->u.answer.payload);
    break;
  case DSB_IPC_OP_RPC_POLICY_CHECK:
    rpcipc_wbytes(w, m->u.policy_check.id.b, DSB_DEVICE_ID_LEN);
    rpcipc_wstr(w, m->u.policy_check.service, 0, rpcipc_name_ok);
    rpcipc_wstr(w, m->u.policy_check.method, 0, rpcipc_name_ok);
    break;
  case DSB_IPC_OP_RPC_POLICY_CHECK | DSB_IPC_REPLY_BIT:
    rpcipc_wvalue(w, m->u.policy_check_r.rule >= -1);
    rpcipc_w32(w, (uint32_t)m->u.policy_check_r.rule);
    rpcipc_wstr(w, m->u.policy_check_r.explanation, 1, rpcipc_text_ok);
    break;
  case DSB_IPC_EV_RPC_CALL:
    rpcipc_w64(w, m->u.incoming.call);
    rpcipc_wbytes(w, m->u.incoming.id.b, DSB_DEVICE_ID_LEN);
    rpcipc_w8(w, m->u.incoming.peer_flags);
    rpcipc_wstr(w, m->u.incoming.service, 0, rpcipc_name_ok);
    rpcipc_wstr(w, m->u.incoming.method, 0, rpcipc_name_ok);
    rpcipc_wblob(w, m->u.incoming.payload);
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
  rpcipc_wr w = {dst, dstlen, 0, 0};
  rpcipc_w8(&w, msg->op);
  if (rpcipc_op_is_reply(msg->op)) {
    /* Error replies are dsb_ipc_encode_status()'s job. */
    rpcipc_wvalue(&w, msg->status == 0);
    rpcipc_w32(&w, 0);
  }
  rpcipc_wpayload(&w, msg);
  rpcipc_w64(&w, msg->nonce);
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

long dsb_ipc_rpc_encode_status(uint8_t *dst, size_t dstlen, uint8_t op,
                               uint64_t nonce, int32_t status) {
  if (!dst) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (!dsb_ipc_rpc_op_is_request(op)) {
    return DSB_ERR_IPC_UNKNOWN_OP;
  }
  if (status >= 0) {
    return DSB_ERR_IPC_BAD_VALUE;
  }
  rpcipc_wr w = {dst, dstlen, 0, 0};
  rpcipc_w8(&w, (uint8_t)(op | DSB_IPC_REPLY_BIT));
  rpcipc_w32(&w, (uint32_t)status);
  rpcipc_w64(&w, nonce);
  return w.err ? w.err : (long)w.off;
}
