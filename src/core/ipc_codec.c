/*
 * ipc_codec.c - the local API wire format (include/dsb/ipc.h,
 * docs/PROTOCOL.md "Local API"). Sans-IO: caller buffers, borrowed views.
 *
 * Reads and writes go through a cursor with a sticky error, so every field
 * access checks the remaining length first and the first failure wins.
 */
#include <string.h>

#include "dsb/err.h"
#include "dsb/ipc.h"
#include "dsb/wire.h"

/* ---- cursors ------------------------------------------------------------ */

typedef struct ipc_rd {
  const uint8_t *p;
  size_t len;
  size_t off;
  int err;
} ipc_rd;

typedef struct ipc_wr {
  uint8_t *p;
  size_t cap;
  size_t off;
  int err;
} ipc_wr;

static int ipc_rd_need(ipc_rd *r, size_t n) {
  if (r->err) {
    return 0;
  }
  if (r->len - r->off < n) {
    r->err = DSB_ERR_IPC_TRUNCATED;
    return 0;
  }
  return 1;
}

static uint8_t ipc_rd_u8(ipc_rd *r) {
  uint8_t v = 0;
  if (ipc_rd_need(r, 1)) {
    dsb_wire_get_u8(r->p + r->off, &v);
    r->off += 1;
  }
  return v;
}

static uint16_t ipc_rd_u16(ipc_rd *r) {
  uint16_t v = 0;
  if (ipc_rd_need(r, 2)) {
    dsb_wire_get_u16be(r->p + r->off, &v);
    r->off += 2;
  }
  return v;
}

static uint32_t ipc_rd_u32(ipc_rd *r) {
  uint32_t v = 0;
  if (ipc_rd_need(r, 4)) {
    dsb_wire_get_u32be(r->p + r->off, &v);
    r->off += 4;
  }
  return v;
}

static uint64_t ipc_rd_u64(ipc_rd *r) {
  uint64_t v = 0;
  if (ipc_rd_need(r, 8)) {
    dsb_wire_get_u64be(r->p + r->off, &v);
    r->off += 8;
  }
  return v;
}

static void ipc_rd_bytes(ipc_rd *r, uint8_t *dst, size_t n) {
  if (ipc_rd_need(r, n)) {
    memcpy(dst, r->p + r->off, n);
    r->off += n;
  } else {
    memset(dst, 0, n);
  }
}

typedef int (*ipc_str_check)(const uint8_t *s, size_t len);

/* A string is [len u8][len bytes], validated by |check|. */
static dsb_ipc_str ipc_rd_str(ipc_rd *r, ipc_str_check check) {
  dsb_ipc_str s = {NULL, 0};
  size_t n = ipc_rd_u8(r);
  if (!ipc_rd_need(r, n)) {
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

static void ipc_rd_value(ipc_rd *r, int ok) {
  if (!r->err && !ok) {
    r->err = DSB_ERR_IPC_BAD_VALUE;
  }
}

static int ipc_wr_need(ipc_wr *w, size_t n) {
  if (w->err) {
    return 0;
  }
  if (w->cap - w->off < n) {
    w->err = DSB_ERR_NOBUF;
    return 0;
  }
  return 1;
}

static void ipc_wr_u8(ipc_wr *w, uint8_t v) {
  if (ipc_wr_need(w, 1)) {
    dsb_wire_put_u8(w->p + w->off, v);
    w->off += 1;
  }
}

static void ipc_wr_u16(ipc_wr *w, uint16_t v) {
  if (ipc_wr_need(w, 2)) {
    dsb_wire_put_u16be(w->p + w->off, v);
    w->off += 2;
  }
}

static void ipc_wr_u32(ipc_wr *w, uint32_t v) {
  if (ipc_wr_need(w, 4)) {
    dsb_wire_put_u32be(w->p + w->off, v);
    w->off += 4;
  }
}

static void ipc_wr_u64(ipc_wr *w, uint64_t v) {
  if (ipc_wr_need(w, 8)) {
    dsb_wire_put_u64be(w->p + w->off, v);
    w->off += 8;
  }
}

static void ipc_wr_bytes(ipc_wr *w, const uint8_t *src, size_t n) {
  if (ipc_wr_need(w, n)) {
    dsb_wire_put_bytes(w->p + w->off, src, n);
    w->off += n;
  }
}

static void ipc_wr_str(ipc_wr *w, dsb_ipc_str s, ipc_str_check check) {
  if (w->err) {
    return;
  }
  if (s.len > UINT8_MAX || (s.len && !s.p) || !check(s.p, s.len)) {
    w->err = DSB_ERR_IPC_BAD_STRING;
    return;
  }
  ipc_wr_u8(w, (uint8_t)s.len);
  ipc_wr_bytes(w, s.p, s.len);
}

static void ipc_wr_value(ipc_wr *w, int ok) {
  if (!w->err && !ok) {
    w->err = DSB_ERR_IPC_BAD_VALUE;
  }
}

/* ---- names -------------------------------------------------------------- */

int dsb_ipc_service_valid(const uint8_t *s, size_t len) {
  if (len < 1 || len > DSB_IPC_SERVICE_MAX || !s) {
    return 0;
  }
  for (size_t i = 0; i < len; ++i) {
    uint8_t c = s[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) {
      return 0;
    }
  }
  return 1;
}

int dsb_ipc_name_valid(const uint8_t *s, size_t len) {
  if (len > DSB_IPC_NAME_MAX || (len && !s)) {
    return 0;
  }
  /* UTF-8 is passed through; only control characters are refused so a name
   * can never forge lines in logs or listings. */
  for (size_t i = 0; i < len; ++i) {
    if (s[i] < 0x20 || s[i] == 0x7f) {
      return 0;
    }
  }
  return 1;
}

int dsb_ipc_label_valid(const uint8_t *s, size_t len) {
  if (len < 1 || len > DSB_IPC_LABEL_MAX || !s) {
    return 0;
  }
  for (size_t i = 0; i < len; ++i) {
    if (s[i] <= 0x20 || s[i] >= 0x7f) {
      return 0;
    }
  }
  return 1;
}

dsb_ipc_str dsb_ipc_cstr(const char *s) {
  dsb_ipc_str r = {(const uint8_t *)s, s ? strlen(s) : 0};
  return r;
}

/* ---- op classes --------------------------------------------------------- */

int dsb_ipc_op_is_request(uint8_t op) {
  return op >= DSB_IPC_OP_HELLO && op <= DSB_IPC_OP_OPEN;
}

int dsb_ipc_op_is_reply(uint8_t op) {
  return op == DSB_IPC_OP_ERROR ||
         ((op & DSB_IPC_REPLY_BIT) &&
          dsb_ipc_op_is_request((uint8_t)(op & ~DSB_IPC_REPLY_BIT)));
}

int dsb_ipc_op_is_event(uint8_t op) {
  return op >= DSB_IPC_EV_PEER_UP && op <= DSB_IPC_EV_STREAM_END;
}

const char *dsb_ipc_op_name(uint8_t op) {
  switch (op) {
  case DSB_IPC_OP_HELLO:
    return "hello";
  case DSB_IPC_OP_ID:
    return "id";
  case DSB_IPC_OP_PEERS:
    return "peers";
  case DSB_IPC_OP_TRUST_SET:
    return "trust_set";
  case DSB_IPC_OP_TRUST_LIST:
    return "trust_list";
  case DSB_IPC_OP_STATUS:
    return "status";
  case DSB_IPC_OP_PUBLISH:
    return "publish";
  case DSB_IPC_OP_WITHDRAW:
    return "withdraw";
  case DSB_IPC_OP_OPEN:
    return "open";
  case DSB_IPC_EV_PEER_UP:
    return "event.peer_up";
  case DSB_IPC_EV_PEER_DOWN:
    return "event.peer_down";
  case DSB_IPC_EV_STREAM_INCOMING:
    return "event.stream_incoming";
  case DSB_IPC_EV_STREAM_END:
    return "event.stream_end";
  case DSB_IPC_OP_ERROR:
    return "error.reply";
  default:
    break;
  }
  if (dsb_ipc_op_is_reply(op)) {
    return "reply";
  }
  return "unknown";
}

/* ---- list entries ------------------------------------------------------- */

static int ipc_addr_valid(const uint8_t *s, size_t len) {
  return len <= DSB_IPC_ADDR_MAX && dsb_ipc_label_valid(s, len);
}

static void ipc_rd_id(ipc_rd *r, dsb_device_id *id) {
  ipc_rd_bytes(r, id->b, sizeof(id->b));
}

static void ipc_rd_peer(ipc_rd *r, dsb_ipc_peer *e) {
  memset(e, 0, sizeof(*e));
  ipc_rd_id(r, &e->id);
  e->name = ipc_rd_str(r, dsb_ipc_name_valid);
  e->trust = ipc_rd_u8(r);
  ipc_rd_value(r, e->trust <= DSB_IPC_TRUST_BLOCKED);
  e->session = ipc_rd_u8(r);
  ipc_rd_value(r, e->session <= DSB_IPC_SESSION_ESTABLISHED);
  e->naddrs = ipc_rd_u8(r);
  if (!r->err && e->naddrs > DSB_IPC_MAX_ADDRS) {
    r->err = DSB_ERR_IPC_TOO_MANY;
  }
  for (size_t i = 0; !r->err && i < e->naddrs; ++i) {
    e->addrs[i] = ipc_rd_str(r, ipc_addr_valid);
  }
  e->nservices = ipc_rd_u8(r);
  if (!r->err && e->nservices > DSB_IPC_MAX_SERVICES) {
    r->err = DSB_ERR_IPC_TOO_MANY;
  }
  for (size_t i = 0; !r->err && i < e->nservices; ++i) {
    e->services[i] = ipc_rd_str(r, dsb_ipc_service_valid);
  }
}

static void ipc_rd_trust(ipc_rd *r, dsb_ipc_trust_entry *e) {
  memset(e, 0, sizeof(*e));
  ipc_rd_id(r, &e->id);
  e->state = ipc_rd_u8(r);
  ipc_rd_value(r, e->state <= DSB_IPC_TRUST_BLOCKED);
  e->name = ipc_rd_str(r, dsb_ipc_name_valid);
}

static void ipc_rd_counter(ipc_rd *r, dsb_ipc_counter *e) {
  memset(e, 0, sizeof(*e));
  e->name = ipc_rd_str(r, dsb_ipc_label_valid);
  e->value = ipc_rd_u64(r);
}

static long ipc_wr_done(ipc_wr *w) {
  return w->err ? w->err : (long)w->off;
}

long dsb_ipc_peer_encode(uint8_t *dst, size_t dstlen, const dsb_ipc_peer *e) {
  ipc_wr w = {dst, dst ? dstlen : 0, 0, 0};
  if (!e) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (e->naddrs > DSB_IPC_MAX_ADDRS || e->nservices > DSB_IPC_MAX_SERVICES) {
    return DSB_ERR_IPC_TOO_MANY;
  }
  ipc_wr_bytes(&w, e->id.b, sizeof(e->id.b));
  ipc_wr_str(&w, e->name, dsb_ipc_name_valid);
  ipc_wr_value(&w, e->trust <= DSB_IPC_TRUST_BLOCKED &&
                       e->session <= DSB_IPC_SESSION_ESTABLISHED);
  ipc_wr_u8(&w, e->trust);
  ipc_wr_u8(&w, e->session);
  ipc_wr_u8(&w, e->naddrs);
  for (size_t i = 0; i < e->naddrs; ++i) {
    ipc_wr_str(&w, e->addrs[i], ipc_addr_valid);
  }
  ipc_wr_u8(&w, e->nservices);
  for (size_t i = 0; i < e->nservices; ++i) {
    ipc_wr_str(&w, e->services[i], dsb_ipc_service_valid);
  }
  return ipc_wr_done(&w);
}

long dsb_ipc_trust_entry_encode(uint8_t *dst, size_t dstlen,
                                const dsb_ipc_trust_entry *e) {
  ipc_wr w = {dst, dst ? dstlen : 0, 0, 0};
  if (!e) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  ipc_wr_bytes(&w, e->id.b, sizeof(e->id.b));
  ipc_wr_value(&w, e->state <= DSB_IPC_TRUST_BLOCKED);
  ipc_wr_u8(&w, e->state);
  ipc_wr_str(&w, e->name, dsb_ipc_name_valid);
  return ipc_wr_done(&w);
}

long dsb_ipc_counter_encode(uint8_t *dst, size_t dstlen,
                            const dsb_ipc_counter *e) {
  ipc_wr w = {dst, dst ? dstlen : 0, 0, 0};
  if (!e) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  ipc_wr_str(&w, e->name, dsb_ipc_label_valid);
  ipc_wr_u64(&w, e->value);
  return ipc_wr_done(&w);
}

/* Which entry kind a list reply of |op| carries; 0 if it is not a list. */
static uint8_t ipc_list_kind(uint8_t op) {
  uint8_t req = (uint8_t)(op & ~DSB_IPC_REPLY_BIT);
  if (!(op & DSB_IPC_REPLY_BIT)) {
    return 0;
  }
  if (req == DSB_IPC_OP_PEERS || req == DSB_IPC_OP_TRUST_LIST ||
      req == DSB_IPC_OP_STATUS) {
    return req;
  }
  return 0;
}

/* Walk |count| entries of |kind| in (p, len); they must fill it exactly. */
static int ipc_list_check(uint8_t kind, uint16_t count, const uint8_t *p,
                          size_t len) {
  ipc_rd r = {p, p ? len : 0, 0, 0};
  if (len && !p) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  for (uint16_t i = 0; i < count && !r.err; ++i) {
    switch (kind) {
    case DSB_IPC_OP_PEERS: {
      dsb_ipc_peer e;
      ipc_rd_peer(&r, &e);
      break;
    }
    case DSB_IPC_OP_TRUST_LIST: {
      dsb_ipc_trust_entry e;
      ipc_rd_trust(&r, &e);
      break;
    }
    default: {
      dsb_ipc_counter e;
      ipc_rd_counter(&r, &e);
      break;
    }
    }
  }
  if (r.err) {
    return r.err;
  }
  return r.off == r.len ? 0 : DSB_ERR_IPC_TRAILING;
}

void dsb_ipc_iter_init(dsb_ipc_iter *it, const dsb_ipc_list *list) {
  it->p = list->p;
  it->len = list->p ? list->len : 0;
  it->off = 0;
  it->left = list->count;
}

#define IPC_ITER_NEXT(fn, type, reader)                                        \
  int fn(dsb_ipc_iter *it, type *e) {                                          \
    if (!it->left) {                                                           \
      return 0;                                                                \
    }                                                                          \
    ipc_rd r = {it->p, it->len, it->off, 0};                                   \
    reader(&r, e);                                                             \
    if (r.err) {                                                               \
      it->left = 0;                                                            \
      return r.err;                                                            \
    }                                                                          \
    it->off = r.off;                                                           \
    it->left--;                                                                \
    return 1;                                                                  \
  }

IPC_ITER_NEXT(dsb_ipc_next_peer, dsb_ipc_peer, ipc_rd_peer)
IPC_ITER_NEXT(dsb_ipc_next_trust, dsb_ipc_trust_entry, ipc_rd_trust)
IPC_ITER_NEXT(dsb_ipc_next_counter, dsb_ipc_counter, ipc_rd_counter)

/* ---- messages ----------------------------------------------------------- */

int dsb_ipc_peek(uint8_t *op, uint64_t *nonce, const uint8_t *in,
                 size_t inlen) {
  if (!in || inlen < 1 + DSB_IPC_NONCE_LEN) {
    return DSB_ERR_IPC_TRUNCATED;
  }
  if (inlen > DSB_IPC_MAX_MSG) {
    return DSB_ERR_IPC_OVERSIZE;
  }
  *op = in[0];
  dsb_wire_get_u64be(in + inlen - DSB_IPC_NONCE_LEN, nonce);
  return 0;
}

/* Payload of a successful reply or of a request/event, by op. */
static void ipc_rd_payload(ipc_rd *r, dsb_ipc_msg *m) {
  switch (m->op) {
  case DSB_IPC_OP_HELLO:
    m->u.hello.version = ipc_rd_u8(r);
    m->u.hello.flags = ipc_rd_u8(r);
    if (!r->err && m->u.hello.version != DSB_IPC_VERSION) {
      r->err = DSB_ERR_IPC_VERSION;
    }
    ipc_rd_value(r, (m->u.hello.flags & ~DSB_IPC_HELLO_PEER_EVENTS) == 0);
    break;
  case DSB_IPC_OP_HELLO | DSB_IPC_REPLY_BIT:
    m->u.hello_r.version = ipc_rd_u8(r);
    if (!r->err && m->u.hello_r.version != DSB_IPC_VERSION) {
      r->err = DSB_ERR_IPC_VERSION;
    }
    ipc_rd_id(r, &m->u.hello_r.id);
    break;
  case DSB_IPC_OP_ID | DSB_IPC_REPLY_BIT:
    ipc_rd_id(r, &m->u.id_r.id);
    m->u.id_r.name = ipc_rd_str(r, dsb_ipc_name_valid);
    ipc_rd_bytes(r, m->u.id_r.ed_pk, sizeof(m->u.id_r.ed_pk));
    ipc_rd_bytes(r, m->u.id_r.static_pk, sizeof(m->u.id_r.static_pk));
    m->u.id_r.port = ipc_rd_u16(r);
    break;
  case DSB_IPC_OP_ID:
  case DSB_IPC_OP_TRUST_SET | DSB_IPC_REPLY_BIT:
  case DSB_IPC_OP_PUBLISH | DSB_IPC_REPLY_BIT:
  case DSB_IPC_OP_WITHDRAW | DSB_IPC_REPLY_BIT:
    break;
  case DSB_IPC_OP_PEERS:
  case DSB_IPC_OP_TRUST_LIST:
  case DSB_IPC_OP_STATUS:
    m->u.list.start = ipc_rd_u16(r);
    break;
  case DSB_IPC_OP_PEERS | DSB_IPC_REPLY_BIT:
  case DSB_IPC_OP_TRUST_LIST | DSB_IPC_REPLY_BIT:
  case DSB_IPC_OP_STATUS | DSB_IPC_REPLY_BIT: {
    m->u.list_r.total = ipc_rd_u16(r);
    m->u.list_r.count = ipc_rd_u16(r);
    if (r->err) {
      break;
    }
    if (m->u.list_r.count > m->u.list_r.total) {
      r->err = DSB_ERR_IPC_TOO_MANY;
      break;
    }
    m->u.list_r.p = r->p + r->off;
    m->u.list_r.len = r->len - r->off;
    int rv = ipc_list_check(ipc_list_kind(m->op), m->u.list_r.count,
                            m->u.list_r.p, m->u.list_r.len);
    if (rv) {
      r->err = rv;
      break;
    }
    r->off = r->len;
    break;
  }
  case DSB_IPC_OP_TRUST_SET:
    ipc_rd_id(r, &m->u.trust_set.id);
    m->u.trust_set.state = ipc_rd_u8(r);
    ipc_rd_value(r, m->u.trust_set.state <= DSB_IPC_TRUST_BLOCKED);
    break;
  case DSB_IPC_OP_PUBLISH:
  case DSB_IPC_OP_WITHDRAW:
    m->u.service.service = ipc_rd_str(r, dsb_ipc_service_valid);
    break;
  case DSB_IPC_OP_OPEN:
    ipc_rd_id(r, &m->u.open.id);
    m->u.open.service = ipc_rd_str(r, dsb_ipc_service_valid);
    m->u.open.priority = ipc_rd_u8(r);
    ipc_rd_value(r, m->u.open.priority <= DSB_IPC_PRIORITY_MAX);
    m->u.open.flags = ipc_rd_u8(r);
    ipc_rd_value(r, m->u.open.flags == 0);
    break;
  case DSB_IPC_OP_OPEN | DSB_IPC_REPLY_BIT:
    m->u.open_r.stream = ipc_rd_u32(r);
    break;
  case DSB_IPC_EV_PEER_UP:
    ipc_rd_id(r, &m->u.peer_up.id);
    m->u.peer_up.name = ipc_rd_str(r, dsb_ipc_name_valid);
    break;
  case DSB_IPC_EV_PEER_DOWN:
    ipc_rd_id(r, &m->u.peer_down.id);
    break;
  case DSB_IPC_EV_STREAM_INCOMING:
    m->u.incoming.stream = ipc_rd_u32(r);
    ipc_rd_id(r, &m->u.incoming.id);
    m->u.incoming.service = ipc_rd_str(r, dsb_ipc_service_valid);
    m->u.incoming.priority = ipc_rd_u8(r);
    ipc_rd_value(r, m->u.incoming.priority <= DSB_IPC_PRIORITY_MAX);
    break;
  case DSB_IPC_EV_STREAM_END:
    m->u.stream_end.stream = ipc_rd_u32(r);
    m->u.stream_end.status = (int32_t)ipc_rd_u32(r);
    ipc_rd_value(r, m->u.stream_end.status <= 0);
    break;
  default:
    r->err = DSB_ERR_IPC_UNKNOWN_OP;
    break;
  }
}

int dsb_ipc_decode(dsb_ipc_msg *msg, const uint8_t *in, size_t inlen) {
  uint8_t op;
  uint64_t nonce;
  int rv = dsb_ipc_peek(&op, &nonce, in, inlen);
  if (rv) {
    return rv;
  }
  if (!dsb_ipc_op_is_request(op) && !dsb_ipc_op_is_reply(op) &&
      !dsb_ipc_op_is_event(op)) {
    return DSB_ERR_IPC_UNKNOWN_OP;
  }
  dsb_ipc_msg m;
  memset(&m, 0, sizeof(m));
  m.op = op;
  m.nonce = nonce;
  ipc_rd r = {in, inlen - DSB_IPC_NONCE_LEN, 1, 0};
  if (dsb_ipc_op_is_reply(op)) {
    m.status = (int32_t)ipc_rd_u32(&r);
    ipc_rd_value(&r, m.status <= 0);
    /* The generic error reply exists only to carry a failure. */
    ipc_rd_value(&r, op != DSB_IPC_OP_ERROR || m.status != 0);
  }
  if (!r.err && m.status == 0) {
    ipc_rd_payload(&r, &m);
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

long dsb_ipc_encode_status(uint8_t *dst, size_t dstlen, uint8_t op,
                           uint64_t nonce, int32_t status) {
  ipc_wr w = {dst, dst ? dstlen : 0, 0, 0};
  uint8_t rop = dsb_ipc_op_is_request(op) ? (uint8_t)(op | DSB_IPC_REPLY_BIT)
                                          : (uint8_t)DSB_IPC_OP_ERROR;
  if (status > 0 || (status == 0 && rop == DSB_IPC_OP_ERROR)) {
    return DSB_ERR_IPC_BAD_VALUE;
  }
  ipc_wr_u8(&w, rop);
  ipc_wr_u32(&w, (uint32_t)status);
  ipc_wr_u64(&w, nonce);
  return ipc_wr_done(&w);
}

static void ipc_wr_payload(ipc_wr *w, const dsb_ipc_msg *m) {
  switch (m->op) {
  case DSB_IPC_OP_HELLO:
    ipc_wr_value(w, (m->u.hello.flags & ~DSB_IPC_HELLO_PEER_EVENTS) == 0);
    ipc_wr_u8(w, m->u.hello.version);
    ipc_wr_u8(w, m->u.hello.flags);
    break;
  case DSB_IPC_OP_HELLO | DSB_IPC_REPLY_BIT:
    ipc_wr_u8(w, m->u.hello_r.version);
    ipc_wr_bytes(w, m->u.hello_r.id.b, DSB_DEVICE_ID_LEN);
    break;
  case DSB_IPC_OP_ID | DSB_IPC_REPLY_BIT:
    ipc_wr_bytes(w, m->u.id_r.id.b, DSB_DEVICE_ID_LEN);
    ipc_wr_str(w, m->u.id_r.name, dsb_ipc_name_valid);
    ipc_wr_bytes(w, m->u.id_r.ed_pk, sizeof(m->u.id_r.ed_pk));
    ipc_wr_bytes(w, m->u.id_r.static_pk, sizeof(m->u.id_r.static_pk));
    ipc_wr_u16(w, m->u.id_r.port);
    break;
  case DSB_IPC_OP_ID:
  case DSB_IPC_OP_TRUST_SET | DSB_IPC_REPLY_BIT:
  case DSB_IPC_OP_PUBLISH | DSB_IPC_REPLY_BIT:
  case DSB_IPC_OP_WITHDRAW | DSB_IPC_REPLY_BIT:
    break;
  case DSB_IPC_OP_PEERS:
  case DSB_IPC_OP_TRUST_LIST:
  case DSB_IPC_OP_STATUS:
    ipc_wr_u16(w, m->u.list.start);
    break;
  case DSB_IPC_OP_PEERS | DSB_IPC_REPLY_BIT:
  case DSB_IPC_OP_TRUST_LIST | DSB_IPC_REPLY_BIT:
  case DSB_IPC_OP_STATUS | DSB_IPC_REPLY_BIT: {
    const dsb_ipc_list *l = &m->u.list_r;
    if (w->err) {
      break;
    }
    if (l->count > l->total) {
      w->err = DSB_ERR_IPC_TOO_MANY;
      break;
    }
    int rv = ipc_list_check(ipc_list_kind(m->op), l->count, l->p, l->len);
    if (rv) {
      w->err = rv;
      break;
    }
    ipc_wr_u16(w, l->total);
    ipc_wr_u16(w, l->count);
    ipc_wr_bytes(w, l->p, l->len);
    break;
  }
  case DSB_IPC_OP_TRUST_SET:
    ipc_wr_value(w, m->u.trust_set.state <= DSB_IPC_TRUST_BLOCKED);
    ipc_wr_bytes(w, m->u.trust_set.id.b, DSB_DEVICE_ID_LEN);
    ipc_wr_u8(w, m->u.trust_set.state);
    break;
  case DSB_IPC_OP_PUBLISH:
  case DSB_IPC_OP_WITHDRAW:
    ipc_wr_str(w, m->u.service.service, dsb_ipc_service_valid);
    break;
  case DSB_IPC_OP_OPEN:
    ipc_wr_value(w, m->u.open.priority <= DSB_IPC_PRIORITY_MAX &&
                        m->u.open.flags == 0);
    ipc_wr_bytes(w, m->u.open.id.b, DSB_DEVICE_ID_LEN);
    ipc_wr_str(w, m->u.open.service, dsb_ipc_service_valid);
    ipc_wr_u8(w, m->u.open.priority);
    ipc_wr_u8(w, m->u.open.flags);
    break;
  case DSB_IPC_OP_OPEN | DSB_IPC_REPLY_BIT:
    ipc_wr_u32(w, m->u.open_r.stream);
    break;
  case DSB_IPC_EV_PEER_UP:
    ipc_wr_bytes(w, m->u.peer_up.id.b, DSB_DEVICE_ID_LEN);
    ipc_wr_str(w, m->u.peer_up.name, dsb_ipc_name_valid);
    break;
  case DSB_IPC_EV_PEER_DOWN:
    ipc_wr_bytes(w, m->u.peer_down.id.b, DSB_DEVICE_ID_LEN);
    break;
  case DSB_IPC_EV_STREAM_INCOMING:
    ipc_wr_value(w, m->u.incoming.priority <= DSB_IPC_PRIORITY_MAX);
    ipc_wr_u32(w, m->u.incoming.stream);
    ipc_wr_bytes(w, m->u.incoming.id.b, DSB_DEVICE_ID_LEN);
    ipc_wr_str(w, m->u.incoming.service, dsb_ipc_service_valid);
    ipc_wr_u8(w, m->u.incoming.priority);
    break;
  case DSB_IPC_EV_STREAM_END:
    ipc_wr_value(w, m->u.stream_end.status <= 0);
    ipc_wr_u32(w, m->u.stream_end.stream);
    ipc_wr_u32(w, (uint32_t)m->u.stream_end.status);
    break;
  default:
    w->err = DSB_ERR_IPC_UNKNOWN_OP;
    break;
  }
}

long dsb_ipc_encode(uint8_t *dst, size_t dstlen, const dsb_ipc_msg *msg) {
  if (!msg) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  uint8_t op = msg->op;
  if (!dsb_ipc_op_is_request(op) && !dsb_ipc_op_is_reply(op) &&
      !dsb_ipc_op_is_event(op)) {
    return DSB_ERR_IPC_UNKNOWN_OP;
  }
  if (dsb_ipc_op_is_reply(op) && (msg->status != 0 || op == DSB_IPC_OP_ERROR)) {
    return dsb_ipc_encode_status(dst, dstlen,
                                 (uint8_t)(op & ~DSB_IPC_REPLY_BIT), msg->nonce,
                                 msg->status);
  }
  /* Encode at most one maximum message so the size cap is the only limit
   * a large caller buffer can reach. */
  size_t cap = dstlen > DSB_IPC_MAX_MSG ? DSB_IPC_MAX_MSG : dstlen;
  ipc_wr w = {dst, dst ? cap : 0, 0, 0};
  ipc_wr_u8(&w, op);
  if (dsb_ipc_op_is_reply(op)) {
    ipc_wr_u32(&w, 0);
  }
  ipc_wr_payload(&w, msg);
  ipc_wr_u64(&w, msg->nonce);
  if (w.err == DSB_ERR_NOBUF && dstlen > DSB_IPC_MAX_MSG) {
    return DSB_ERR_IPC_OVERSIZE;
  }
  return ipc_wr_done(&w);
}
