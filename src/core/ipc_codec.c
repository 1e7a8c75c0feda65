/*
 * ipc_codec.c - the local API wire format (include/dsb/ipc.h,
 * docs/PROTOCOL.md "Local API"). Sans-IO: caller buffers, borrowed views.
 *
 * Reads and writes go through a cursor with a sticky error, so every field
 * access checks the remaining length first and the first failure wins.
 */
#include <string.h>

#include "dsb/err.h"
#include "dsb/disc.h"
#include "dsb/ipc.h"
#include "dsb/service_name.h"
#include "dsb/wire.h"
#include "ipc_wire.h"

/* ---- names -------------------------------------------------------------- */

_Static_assert(DSB_IPC_PEER_SERVICE_MAX == DSB_DISC_SERVICE_NAME_MAX,
               "peer listings carry every service discovery accepts");
_Static_assert(DSB_IPC_PEER_SERVICE_MAX <= DSB_IPC_LABEL_MAX,
               "peer services are checked as labels");
_Static_assert(DSB_IPC_MAX_SERVICES == DSB_DISC_MAX_SERVICES,
               "a peer entry holds every service of an announcement");

int dsb_ipc_service_valid(const uint8_t *s, size_t len) {
  return dsb_service_name_valid((const char *)s, len);
}

/* Peers announce what their discovery codec allows (dsb/disc.h): listings
 * show it; opening such a service is refused by dsb_ipc_service_valid(). */
int dsb_ipc_peer_service_valid(const uint8_t *s, size_t len) {
  return len <= DSB_IPC_PEER_SERVICE_MAX && dsb_ipc_label_valid(s, len);
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

/* The reply op of any op in the request range (0x81..0xbf), or 0xff: each
 * can carry an error status, whichever module knows its payload. */
static int ipc_op_is_error_reply(uint8_t op) {
  uint8_t req = (uint8_t)(op & ~DSB_IPC_REPLY_BIT);
  return op == DSB_IPC_OP_ERROR ||
         ((op & DSB_IPC_REPLY_BIT) && req >= DSB_IPC_OP_REQUEST_MIN &&
          req <= DSB_IPC_OP_REQUEST_MAX);
}

static int ipc_op_is_known(uint8_t op) {
  return dsb_ipc_op_is_request(op) || dsb_ipc_op_is_reply(op) ||
         dsb_ipc_op_is_event(op);
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

static void ipc_rd_peer(dsb_ipc_rd *r, dsb_ipc_peer *e) {
  memset(e, 0, sizeof(*e));
  dsb_ipc_rd_id(r, &e->id);
  e->name = dsb_ipc_rd_str(r, DSB_IPC_WIRE_STR8, dsb_ipc_name_valid);
  e->trust = dsb_ipc_rd_u8(r);
  dsb_ipc_rd_value(r, e->trust <= DSB_IPC_TRUST_BLOCKED);
  e->session = dsb_ipc_rd_u8(r);
  dsb_ipc_rd_value(r, e->session <= DSB_IPC_SESSION_ESTABLISHED);
  e->naddrs = dsb_ipc_rd_u8(r);
  if (!r->err && e->naddrs > DSB_IPC_MAX_ADDRS) {
    r->err = DSB_ERR_IPC_TOO_MANY;
  }
  for (size_t i = 0; !r->err && i < e->naddrs; ++i) {
    e->addrs[i] = dsb_ipc_rd_str(r, DSB_IPC_WIRE_STR8, ipc_addr_valid);
  }
  e->nservices = dsb_ipc_rd_u8(r);
  if (!r->err && e->nservices > DSB_IPC_MAX_SERVICES) {
    r->err = DSB_ERR_IPC_TOO_MANY;
  }
  for (size_t i = 0; !r->err && i < e->nservices; ++i) {
    e->services[i] =
        dsb_ipc_rd_str(r, DSB_IPC_WIRE_STR8, dsb_ipc_peer_service_valid);
  }
}

static void ipc_rd_trust(dsb_ipc_rd *r, dsb_ipc_trust_entry *e) {
  memset(e, 0, sizeof(*e));
  dsb_ipc_rd_id(r, &e->id);
  e->state = dsb_ipc_rd_u8(r);
  dsb_ipc_rd_value(r, e->state <= DSB_IPC_TRUST_BLOCKED);
  e->name = dsb_ipc_rd_str(r, DSB_IPC_WIRE_STR8, dsb_ipc_name_valid);
}

static void ipc_rd_counter(dsb_ipc_rd *r, dsb_ipc_counter *e) {
  memset(e, 0, sizeof(*e));
  e->name = dsb_ipc_rd_str(r, DSB_IPC_WIRE_STR8, dsb_ipc_label_valid);
  e->value = dsb_ipc_rd_u64(r);
}

long dsb_ipc_peer_encode(uint8_t *dst, size_t dstlen, const dsb_ipc_peer *e) {
  dsb_ipc_wr w;
  dsb_ipc_wr_init(&w, dst, dstlen);
  if (!e) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (e->naddrs > DSB_IPC_MAX_ADDRS || e->nservices > DSB_IPC_MAX_SERVICES) {
    return DSB_ERR_IPC_TOO_MANY;
  }
  dsb_ipc_wr_bytes(&w, e->id.b, sizeof(e->id.b));
  dsb_ipc_wr_str(&w, e->name, DSB_IPC_WIRE_STR8, dsb_ipc_name_valid);
  dsb_ipc_wr_value(&w, e->trust <= DSB_IPC_TRUST_BLOCKED &&
                           e->session <= DSB_IPC_SESSION_ESTABLISHED);
  dsb_ipc_wr_u8(&w, e->trust);
  dsb_ipc_wr_u8(&w, e->session);
  dsb_ipc_wr_u8(&w, e->naddrs);
  for (size_t i = 0; i < e->naddrs; ++i) {
    dsb_ipc_wr_str(&w, e->addrs[i], DSB_IPC_WIRE_STR8, ipc_addr_valid);
  }
  dsb_ipc_wr_u8(&w, e->nservices);
  for (size_t i = 0; i < e->nservices; ++i) {
    dsb_ipc_wr_str(&w, e->services[i], DSB_IPC_WIRE_STR8,
                   dsb_ipc_peer_service_valid);
  }
  return dsb_ipc_wr_done(&w);
}

long dsb_ipc_trust_entry_encode(uint8_t *dst, size_t dstlen,
                                const dsb_ipc_trust_entry *e) {
  dsb_ipc_wr w;
  dsb_ipc_wr_init(&w, dst, dstlen);
  if (!e) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  dsb_ipc_wr_bytes(&w, e->id.b, sizeof(e->id.b));
  dsb_ipc_wr_value(&w, e->state <= DSB_IPC_TRUST_BLOCKED);
  dsb_ipc_wr_u8(&w, e->state);
  dsb_ipc_wr_str(&w, e->name, DSB_IPC_WIRE_STR8, dsb_ipc_name_valid);
  return dsb_ipc_wr_done(&w);
}

long dsb_ipc_counter_encode(uint8_t *dst, size_t dstlen,
                            const dsb_ipc_counter *e) {
  dsb_ipc_wr w;
  dsb_ipc_wr_init(&w, dst, dstlen);
  if (!e) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  dsb_ipc_wr_str(&w, e->name, DSB_IPC_WIRE_STR8, dsb_ipc_label_valid);
  dsb_ipc_wr_u64(&w, e->value);
  return dsb_ipc_wr_done(&w);
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
  dsb_ipc_rd r;
  if (len && !p) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  dsb_ipc_rd_init(&r, p, len, 0);
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
  return dsb_ipc_rd_done(&r);
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
    dsb_ipc_rd r;                                                              \
    dsb_ipc_rd_init(&r, it->p, it->len, it->off);                              \
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
static void ipc_rd_payload(dsb_ipc_rd *r, dsb_ipc_msg *m) {
  switch (m->op) {
  case DSB_IPC_OP_HELLO:
    m->u.hello.version = dsb_ipc_rd_u8(r);
    m->u.hello.flags = dsb_ipc_rd_u8(r);
    if (!r->err && m->u.hello.version != DSB_IPC_VERSION) {
      r->err = DSB_ERR_IPC_VERSION;
    }
    dsb_ipc_rd_value(r, (m->u.hello.flags & ~DSB_IPC_HELLO_PEER_EVENTS) == 0);
    break;
  case DSB_IPC_OP_HELLO | DSB_IPC_REPLY_BIT:
    m->u.hello_r.version = dsb_ipc_rd_u8(r);
    if (!r->err && m->u.hello_r.version != DSB_IPC_VERSION) {
      r->err = DSB_ERR_IPC_VERSION;
    }
    dsb_ipc_rd_id(r, &m->u.hello_r.id);
    break;
  case DSB_IPC_OP_ID | DSB_IPC_REPLY_BIT:
    dsb_ipc_rd_id(r, &m->u.id_r.id);
    m->u.id_r.name = dsb_ipc_rd_str(r, DSB_IPC_WIRE_STR8, dsb_ipc_name_valid);
    dsb_ipc_rd_bytes(r, m->u.id_r.ed_pk, sizeof(m->u.id_r.ed_pk));
    dsb_ipc_rd_bytes(r, m->u.id_r.static_pk, sizeof(m->u.id_r.static_pk));
    m->u.id_r.port = dsb_ipc_rd_u16(r);
    break;
  case DSB_IPC_OP_ID:
  case DSB_IPC_OP_TRUST_SET | DSB_IPC_REPLY_BIT:
  case DSB_IPC_OP_PUBLISH | DSB_IPC_REPLY_BIT:
  case DSB_IPC_OP_WITHDRAW | DSB_IPC_REPLY_BIT:
    break;
  case DSB_IPC_OP_PEERS:
  case DSB_IPC_OP_TRUST_LIST:
  case DSB_IPC_OP_STATUS:
    m->u.list.start = dsb_ipc_rd_u16(r);
    break;
  case DSB_IPC_OP_PEERS | DSB_IPC_REPLY_BIT:
  case DSB_IPC_OP_TRUST_LIST | DSB_IPC_REPLY_BIT:
  case DSB_IPC_OP_STATUS | DSB_IPC_REPLY_BIT: {
    m->u.list_r.total = dsb_ipc_rd_u16(r);
    m->u.list_r.count = dsb_ipc_rd_u16(r);
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
    dsb_ipc_rd_id(r, &m->u.trust_set.id);
    m->u.trust_set.state = dsb_ipc_rd_u8(r);
    dsb_ipc_rd_value(r, m->u.trust_set.state <= DSB_IPC_TRUST_BLOCKED);
    break;
  case DSB_IPC_OP_PUBLISH:
  case DSB_IPC_OP_WITHDRAW:
    m->u.service.service =
        dsb_ipc_rd_str(r, DSB_IPC_WIRE_STR8, dsb_ipc_service_valid);
    break;
  case DSB_IPC_OP_OPEN:
    dsb_ipc_rd_id(r, &m->u.open.id);
    m->u.open.service =
        dsb_ipc_rd_str(r, DSB_IPC_WIRE_STR8, dsb_ipc_service_valid);
    m->u.open.priority = dsb_ipc_rd_u8(r);
    dsb_ipc_rd_value(r, m->u.open.priority <= DSB_IPC_PRIORITY_MAX);
    m->u.open.flags = dsb_ipc_rd_u8(r);
    dsb_ipc_rd_value(r, m->u.open.flags == 0);
    break;
  case DSB_IPC_OP_OPEN | DSB_IPC_REPLY_BIT:
    m->u.open_r.stream = dsb_ipc_rd_u32(r);
    break;
  case DSB_IPC_EV_PEER_UP:
    dsb_ipc_rd_id(r, &m->u.peer_up.id);
    m->u.peer_up.name =
        dsb_ipc_rd_str(r, DSB_IPC_WIRE_STR8, dsb_ipc_name_valid);
    break;
  case DSB_IPC_EV_PEER_DOWN:
    dsb_ipc_rd_id(r, &m->u.peer_down.id);
    break;
  case DSB_IPC_EV_STREAM_INCOMING:
    m->u.incoming.stream = dsb_ipc_rd_u32(r);
    dsb_ipc_rd_id(r, &m->u.incoming.id);
    m->u.incoming.service =
        dsb_ipc_rd_str(r, DSB_IPC_WIRE_STR8, dsb_ipc_service_valid);
    m->u.incoming.priority = dsb_ipc_rd_u8(r);
    dsb_ipc_rd_value(r, m->u.incoming.priority <= DSB_IPC_PRIORITY_MAX);
    break;
  case DSB_IPC_EV_STREAM_END:
    m->u.stream_end.stream = dsb_ipc_rd_u32(r);
    m->u.stream_end.status = (int32_t)dsb_ipc_rd_u32(r);
    dsb_ipc_rd_value(r, m->u.stream_end.status <= 0);
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
  if (!ipc_op_is_known(op) && !ipc_op_is_error_reply(op)) {
    return DSB_ERR_IPC_UNKNOWN_OP;
  }
  dsb_ipc_msg m;
  memset(&m, 0, sizeof(m));
  m.op = op;
  m.nonce = nonce;
  dsb_ipc_rd r;
  dsb_ipc_rd_init(&r, in, inlen - DSB_IPC_NONCE_LEN, 1);
  if (ipc_op_is_error_reply(op)) {
    m.status = (int32_t)dsb_ipc_rd_u32(&r);
    dsb_ipc_rd_value(&r, m.status <= 0);
    /* The generic error reply exists only to carry a failure. */
    dsb_ipc_rd_value(&r, op != DSB_IPC_OP_ERROR || m.status != 0);
  }
  /* Only the ops of this module have a payload known here; an error reply
   * to any other request op has none and decodes above. */
  if (!r.err && m.status == 0) {
    ipc_rd_payload(&r, &m);
  }
  rv = dsb_ipc_rd_done(&r);
  if (rv) {
    return rv;
  }
  *msg = m;
  return 0;
}

long dsb_ipc_encode_status(uint8_t *dst, size_t dstlen, uint8_t op,
                           uint64_t nonce, int32_t status) {
  dsb_ipc_wr w;
  dsb_ipc_wr_init(&w, dst, dstlen);
  /* Every op of the request range, known here or not (the remote-call ops,
   * ops of a newer client), is answered with its own reply op so that the
   * client can match the error to its request. */
  int ranged = op >= DSB_IPC_OP_REQUEST_MIN && op <= DSB_IPC_OP_REQUEST_MAX;
  uint8_t rop =
      ranged ? (uint8_t)(op | DSB_IPC_REPLY_BIT) : (uint8_t)DSB_IPC_OP_ERROR;
  /* Status 0 without a payload is a whole reply only for the base ops
   * that reply with nothing else; everything else needs a failure. */
  if (status > 0 || (status == 0 && !dsb_ipc_op_is_request(op))) {
    return DSB_ERR_IPC_BAD_VALUE;
  }
  dsb_ipc_wr_u8(&w, rop);
  dsb_ipc_wr_u32(&w, (uint32_t)status);
  dsb_ipc_wr_u64(&w, nonce);
  return dsb_ipc_wr_done(&w);
}

static void ipc_wr_payload(dsb_ipc_wr *w, const dsb_ipc_msg *m) {
  switch (m->op) {
  case DSB_IPC_OP_HELLO:
    dsb_ipc_wr_value(w, (m->u.hello.flags & ~DSB_IPC_HELLO_PEER_EVENTS) == 0);
    dsb_ipc_wr_u8(w, m->u.hello.version);
    dsb_ipc_wr_u8(w, m->u.hello.flags);
    break;
  case DSB_IPC_OP_HELLO | DSB_IPC_REPLY_BIT:
    dsb_ipc_wr_u8(w, m->u.hello_r.version);
    dsb_ipc_wr_bytes(w, m->u.hello_r.id.b, DSB_DEVICE_ID_LEN);
    break;
  case DSB_IPC_OP_ID | DSB_IPC_REPLY_BIT:
    dsb_ipc_wr_bytes(w, m->u.id_r.id.b, DSB_DEVICE_ID_LEN);
    dsb_ipc_wr_str(w, m->u.id_r.name, DSB_IPC_WIRE_STR8, dsb_ipc_name_valid);
    dsb_ipc_wr_bytes(w, m->u.id_r.ed_pk, sizeof(m->u.id_r.ed_pk));
    dsb_ipc_wr_bytes(w, m->u.id_r.static_pk, sizeof(m->u.id_r.static_pk));
    dsb_ipc_wr_u16(w, m->u.id_r.port);
    break;
  case DSB_IPC_OP_ID:
  case DSB_IPC_OP_TRUST_SET | DSB_IPC_REPLY_BIT:
  case DSB_IPC_OP_PUBLISH | DSB_IPC_REPLY_BIT:
  case DSB_IPC_OP_WITHDRAW | DSB_IPC_REPLY_BIT:
    break;
  case DSB_IPC_OP_PEERS:
  case DSB_IPC_OP_TRUST_LIST:
  case DSB_IPC_OP_STATUS:
    dsb_ipc_wr_u16(w, m->u.list.start);
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
    dsb_ipc_wr_u16(w, l->total);
    dsb_ipc_wr_u16(w, l->count);
    dsb_ipc_wr_bytes(w, l->p, l->len);
    break;
  }
  case DSB_IPC_OP_TRUST_SET:
    dsb_ipc_wr_value(w, m->u.trust_set.state <= DSB_IPC_TRUST_BLOCKED);
    dsb_ipc_wr_bytes(w, m->u.trust_set.id.b, DSB_DEVICE_ID_LEN);
    dsb_ipc_wr_u8(w, m->u.trust_set.state);
    break;
  case DSB_IPC_OP_PUBLISH:
  case DSB_IPC_OP_WITHDRAW:
    dsb_ipc_wr_str(w, m->u.service.service, DSB_IPC_WIRE_STR8,
                   dsb_ipc_service_valid);
    break;
  case DSB_IPC_OP_OPEN:
    dsb_ipc_wr_value(w, m->u.open.priority <= DSB_IPC_PRIORITY_MAX &&
                            m->u.open.flags == 0);
    dsb_ipc_wr_bytes(w, m->u.open.id.b, DSB_DEVICE_ID_LEN);
    dsb_ipc_wr_str(w, m->u.open.service, DSB_IPC_WIRE_STR8,
                   dsb_ipc_service_valid);
    dsb_ipc_wr_u8(w, m->u.open.priority);
    dsb_ipc_wr_u8(w, m->u.open.flags);
    break;
  case DSB_IPC_OP_OPEN | DSB_IPC_REPLY_BIT:
    dsb_ipc_wr_u32(w, m->u.open_r.stream);
    break;
  case DSB_IPC_EV_PEER_UP:
    dsb_ipc_wr_bytes(w, m->u.peer_up.id.b, DSB_DEVICE_ID_LEN);
    dsb_ipc_wr_str(w, m->u.peer_up.name, DSB_IPC_WIRE_STR8, dsb_ipc_name_valid);
    break;
  case DSB_IPC_EV_PEER_DOWN:
    dsb_ipc_wr_bytes(w, m->u.peer_down.id.b, DSB_DEVICE_ID_LEN);
    break;
  case DSB_IPC_EV_STREAM_INCOMING:
    dsb_ipc_wr_value(w, m->u.incoming.priority <= DSB_IPC_PRIORITY_MAX);
    dsb_ipc_wr_u32(w, m->u.incoming.stream);
    dsb_ipc_wr_bytes(w, m->u.incoming.id.b, DSB_DEVICE_ID_LEN);
    dsb_ipc_wr_str(w, m->u.incoming.service, DSB_IPC_WIRE_STR8,
                   dsb_ipc_service_valid);
    dsb_ipc_wr_u8(w, m->u.incoming.priority);
    break;
  case DSB_IPC_EV_STREAM_END:
    dsb_ipc_wr_value(w, m->u.stream_end.status <= 0);
    dsb_ipc_wr_u32(w, m->u.stream_end.stream);
    dsb_ipc_wr_u32(w, (uint32_t)m->u.stream_end.status);
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
  if (ipc_op_is_error_reply(op) &&
      (msg->status != 0 || op == DSB_IPC_OP_ERROR)) {
    return dsb_ipc_encode_status(dst, dstlen,
                                 (uint8_t)(op & ~DSB_IPC_REPLY_BIT), msg->nonce,
                                 msg->status);
  }
  if (!ipc_op_is_known(op)) {
    return DSB_ERR_IPC_UNKNOWN_OP;
  }
  /* Encode at most one maximum message so the size cap is the only limit
   * a large caller buffer can reach. */
  size_t cap = dstlen > DSB_IPC_MAX_MSG ? DSB_IPC_MAX_MSG : dstlen;
  dsb_ipc_wr w;
  dsb_ipc_wr_init(&w, dst, cap);
  dsb_ipc_wr_u8(&w, op);
  if (dsb_ipc_op_is_reply(op)) {
    dsb_ipc_wr_u32(&w, 0);
  }
  ipc_wr_payload(&w, msg);
  dsb_ipc_wr_u64(&w, msg->nonce);
  if (w.err == DSB_ERR_NOBUF && dstlen > DSB_IPC_MAX_MSG) {
    return DSB_ERR_IPC_OVERSIZE;
  }
  return dsb_ipc_wr_done(&w);
}
