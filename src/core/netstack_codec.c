/*
 * netstack_codec.c - encoder and bounded decoder of the netstackd protocol
 * (include/dsb/netstack.h, docs/PROTOCOL.md "netstackd protocol").
 *
 * Decoding works on a cursor (p, end) and checks what remains before every
 * read; the last 8 bytes of every packet are the nonce, so the payload is
 * decoded from [1, len - 8) and must end exactly there.
 */
#include <string.h>

#include "dsb/err.h"
#include "dsb/netstack.h"
#include "dsb/wire.h"

/* ---- shared helpers ------------------------------------------------------ */

typedef struct ns_rd {
  const uint8_t *p;
  const uint8_t *end;
} ns_rd;

static size_t ns_left(const ns_rd *r) {
  return (size_t)(r->end - r->p);
}

static int ns_get_u8(ns_rd *r, uint8_t *v) {
  if (ns_left(r) < 1) {
    return DSB_ERR_IPC_TRUNCATED;
  }
  r->p = dsb_wire_get_u8(r->p, v);
  return 0;
}

static int ns_get_u16(ns_rd *r, uint16_t *v) {
  if (ns_left(r) < 2) {
    return DSB_ERR_IPC_TRUNCATED;
  }
  r->p = dsb_wire_get_u16be(r->p, v);
  return 0;
}

static int ns_get_u32(ns_rd *r, uint32_t *v) {
  if (ns_left(r) < 4) {
    return DSB_ERR_IPC_TRUNCATED;
  }
  r->p = dsb_wire_get_u32be(r->p, v);
  return 0;
}

static int ns_get_u64(ns_rd *r, uint64_t *v) {
  if (ns_left(r) < 8) {
    return DSB_ERR_IPC_TRUNCATED;
  }
  r->p = dsb_wire_get_u64be(r->p, v);
  return 0;
}

size_t dsb_netstack_addr_iplen(uint8_t family) {
  switch (family) {
  case DSB_NETSTACK_FAMILY_IPV4:
    return 4;
  case DSB_NETSTACK_FAMILY_IPV6:
    return 16;
  default:
    return 0;
  }
}

/* Interface names are restricted to the characters Linux tools produce, so
 * a name can be logged and compared without surprises. */
static int ns_ifname_char_ok(uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
         c == ':' || c == '@';
}

static int ns_ifname_valid(const dsb_netstack_ifname *n) {
  size_t len = strnlen(n->name, sizeof(n->name));
  if (len == 0 || len > DSB_NETSTACK_IFNAME_MAX) {
    return 0;
  }
  for (size_t i = 0; i < len; ++i) {
    if (!ns_ifname_char_ok((uint8_t)n->name[i])) {
      return 0;
    }
  }
  return 1;
}

static int ns_is_multicast(const dsb_netstack_addr *a) {
  if (a->family == DSB_NETSTACK_FAMILY_IPV4) {
    return (a->ip[0] & 0xf0) == 0xe0; /* 224.0.0.0/4 */
  }
  return a->ip[0] == 0xff; /* ff00::/8 */
}

/* Writer with a bound: each put checks capacity first. */
typedef struct ns_wr {
  uint8_t *p;
  uint8_t *end;
  int err;
} ns_wr;

static int ns_room(ns_wr *w, size_t n) {
  if (w->err) {
    return 0;
  }
  if ((size_t)(w->end - w->p) < n) {
    w->err = DSB_ERR_NOBUF;
    return 0;
  }
  return 1;
}

static void ns_put_u8(ns_wr *w, uint8_t v) {
  if (ns_room(w, 1)) {
    w->p = dsb_wire_put_u8(w->p, v);
  }
}

static void ns_put_u16(ns_wr *w, uint16_t v) {
  if (ns_room(w, 2)) {
    w->p = dsb_wire_put_u16be(w->p, v);
  }
}

static void ns_put_u32(ns_wr *w, uint32_t v) {
  if (ns_room(w, 4)) {
    w->p = dsb_wire_put_u32be(w->p, v);
  }
}

static void ns_put_u64(ns_wr *w, uint64_t v) {
  if (ns_room(w, 8)) {
    w->p = dsb_wire_put_u64be(w->p, v);
  }
}

static void ns_put_bytes(ns_wr *w, const void *b, size_t n) {
  if (ns_room(w, n)) {
    w->p = dsb_wire_put_bytes(w->p, b, n);
  }
}

/* ---- addresses and names --------------------------------------------------
 * addr   = family u8, ip (4 bytes) | ip (16 bytes) scope_id u32
 * addrp  = addr, port u16
 * ifname = len u8 (1..15), bytes
 */

static int ns_put_addr(ns_wr *w, const dsb_netstack_addr *a) {
  size_t iplen = dsb_netstack_addr_iplen(a->family);
  if (iplen == 0) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (a->family == DSB_NETSTACK_FAMILY_IPV4 && a->scope_id != 0) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  ns_put_u8(w, a->family);
  ns_put_bytes(w, a->ip, iplen);
  if (a->family == DSB_NETSTACK_FAMILY_IPV6) {
    ns_put_u32(w, a->scope_id);
  }
  return 0;
}

static int ns_put_addrp(ns_wr *w, const dsb_netstack_addr *a) {
  int rv = ns_put_addr(w, a);
  if (rv == 0) {
    ns_put_u16(w, a->port);
  }
  return rv;
}

static int ns_put_ifname(ns_wr *w, const dsb_netstack_ifname *n) {
  if (!ns_ifname_valid(n)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  size_t len = strlen(n->name);
  ns_put_u8(w, (uint8_t)len);
  ns_put_bytes(w, n->name, len);
  return 0;
}

static int ns_get_addr(ns_rd *r, dsb_netstack_addr *a) {
  int rv;
  memset(a, 0, sizeof(*a));
  if ((rv = ns_get_u8(r, &a->family)) != 0) {
    return rv;
  }
  size_t iplen = dsb_netstack_addr_iplen(a->family);
  if (iplen == 0) {
    return DSB_ERR_IPC_BAD_VALUE;
  }
  if (ns_left(r) < iplen) {
    return DSB_ERR_IPC_TRUNCATED;
  }
  memcpy(a->ip, r->p, iplen);
  r->p += iplen;
  if (a->family == DSB_NETSTACK_FAMILY_IPV6) {
    return ns_get_u32(r, &a->scope_id);
  }
  return 0;
}

static int ns_get_addrp(ns_rd *r, dsb_netstack_addr *a) {
  int rv = ns_get_addr(r, a);
  if (rv != 0) {
    return rv;
  }
  return ns_get_u16(r, &a->port);
}

static int ns_get_ifname(ns_rd *r, dsb_netstack_ifname *n) {
  uint8_t len;
  int rv;
  memset(n, 0, sizeof(*n));
  if ((rv = ns_get_u8(r, &len)) != 0) {
    return rv;
  }
  if (len == 0 || len > DSB_NETSTACK_IFNAME_MAX) {
    return DSB_ERR_IPC_BAD_STRING;
  }
  if (ns_left(r) < len) {
    return DSB_ERR_IPC_TRUNCATED;
  }
  memcpy(n->name, r->p, len);
  r->p += len;
  for (size_t i = 0; i < len; ++i) {
    if (!ns_ifname_char_ok((uint8_t)n->name[i])) {
      return DSB_ERR_IPC_BAD_STRING;
    }
  }
  return 0;
}

/* ---- framing ------------------------------------------------------------- */

int dsb_netstack_peek(uint8_t *op, uint64_t *nonce, const uint8_t *in,
                      size_t inlen) {
  if (in == NULL || inlen < 1 + DSB_NETSTACK_NONCE_LEN) {
    return DSB_ERR_IPC_TRUNCATED;
  }
  *op = in[0];
  dsb_wire_get_u64be(in + inlen - DSB_NETSTACK_NONCE_LEN, nonce);
  return 0;
}

/* Set up a reader over the payload, between the op (and status) and the
 * nonce. */
static int ns_frame(ns_rd *r, uint64_t *nonce, const uint8_t *in, size_t inlen,
                    size_t hdrlen) {
  if (in == NULL || inlen < hdrlen + DSB_NETSTACK_NONCE_LEN) {
    return DSB_ERR_IPC_TRUNCATED;
  }
  if (inlen > DSB_NETSTACK_MAX_MSG) {
    return DSB_ERR_IPC_OVERSIZE;
  }
  dsb_wire_get_u64be(in + inlen - DSB_NETSTACK_NONCE_LEN, nonce);
  r->p = in + hdrlen;
  r->end = in + inlen - DSB_NETSTACK_NONCE_LEN;
  return 0;
}

int dsb_netstack_op_has_fd(uint8_t op) {
  return op == DSB_NETSTACK_OP_TCP_LISTEN ||
         op == DSB_NETSTACK_OP_TCP_CONNECT || op == DSB_NETSTACK_OP_UDP_BIND;
}

static int ns_is_request_op(uint8_t op) {
  switch (op) {
  case DSB_NETSTACK_OP_HELLO:
  case DSB_NETSTACK_OP_TCP_LISTEN:
  case DSB_NETSTACK_OP_TCP_CONNECT:
  case DSB_NETSTACK_OP_UDP_BIND:
  case DSB_NETSTACK_OP_LOCAL_ADDR:
  case DSB_NETSTACK_OP_IFLIST:
  case DSB_NETSTACK_OP_CLOSE:
    return 1;
  default:
    return 0;
  }
}

/* ---- requests ------------------------------------------------------------ */

int dsb_netstack_req_encode(uint8_t *out, size_t outlen,
                            const dsb_netstack_req *req) {
  ns_wr w;
  int rv = 0;

  if (out == NULL || req == NULL || !ns_is_request_op(req->op) ||
      req->nonce == 0) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  /* Only now: out + outlen on a NULL |out| would be undefined. */
  w = (ns_wr){out, out + outlen, 0};
  ns_put_u8(&w, req->op);
  switch (req->op) {
  case DSB_NETSTACK_OP_HELLO:
    ns_put_u8(&w, req->u.hello.version);
    break;
  case DSB_NETSTACK_OP_TCP_LISTEN:
    if (req->u.tcp_listen.backlog == 0 ||
        req->u.tcp_listen.backlog > DSB_NETSTACK_MAX_BACKLOG) {
      return DSB_ERR_INVALID_ARGUMENT;
    }
    rv = ns_put_addrp(&w, &req->u.tcp_listen.local);
    ns_put_u16(&w, req->u.tcp_listen.backlog);
    break;
  case DSB_NETSTACK_OP_TCP_CONNECT:
    if (req->u.tcp_connect.timeout_ms == 0 ||
        req->u.tcp_connect.timeout_ms > DSB_NETSTACK_MAX_CONNECT_TIMEOUT_MS) {
      return DSB_ERR_INVALID_ARGUMENT;
    }
    rv = ns_put_addrp(&w, &req->u.tcp_connect.remote);
    ns_put_u32(&w, req->u.tcp_connect.timeout_ms);
    break;
  case DSB_NETSTACK_OP_UDP_BIND: {
    const dsb_netstack_udp_bind *b = &req->u.udp_bind;
    if ((b->flags & ~DSB_NETSTACK_UDP_FLAGS_ALL) != 0 ||
        b->ngroups > DSB_NETSTACK_MAX_GROUPS) {
      return DSB_ERR_INVALID_ARGUMENT;
    }
    rv = ns_put_addrp(&w, &b->local);
    ns_put_u8(&w, b->flags);
    ns_put_u8(&w, b->mcast_ttl);
    ns_put_u8(&w, b->ngroups);
    for (size_t i = 0; rv == 0 && i < b->ngroups; ++i) {
      if (b->groups[i].group.family != b->local.family ||
          !ns_is_multicast(&b->groups[i].group)) {
        return DSB_ERR_INVALID_ARGUMENT;
      }
      rv = ns_put_ifname(&w, &b->groups[i].ifname);
      if (rv == 0) {
        rv = ns_put_addr(&w, &b->groups[i].group);
      }
    }
    break;
  }
  case DSB_NETSTACK_OP_LOCAL_ADDR:
    rv = ns_put_addr(&w, &req->u.local_addr.remote);
    break;
  case DSB_NETSTACK_OP_IFLIST:
    break;
  case DSB_NETSTACK_OP_CLOSE:
    if (req->u.close.target == 0) {
      return DSB_ERR_INVALID_ARGUMENT;
    }
    ns_put_u64(&w, req->u.close.target);
    break;
  default:
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (rv != 0) {
    return rv;
  }
  ns_put_u64(&w, req->nonce);
  if (w.err) {
    return w.err;
  }
  if ((size_t)(w.p - out) > DSB_NETSTACK_MAX_MSG) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  return (int)(w.p - out);
}

static int ns_decode_udp_bind(ns_rd *r, dsb_netstack_req *req) {
  dsb_netstack_udp_bind *b = &req->u.udp_bind;
  int rv;

  if ((rv = ns_get_addrp(r, &b->local)) != 0 ||
      (rv = ns_get_u8(r, &b->flags)) != 0 ||
      (rv = ns_get_u8(r, &b->mcast_ttl)) != 0 ||
      (rv = ns_get_u8(r, &b->ngroups)) != 0) {
    return rv;
  }
  if ((b->flags & ~DSB_NETSTACK_UDP_FLAGS_ALL) != 0) {
    return DSB_ERR_IPC_BAD_VALUE;
  }
  if (b->ngroups > DSB_NETSTACK_MAX_GROUPS) {
    return DSB_ERR_IPC_TOO_MANY;
  }
  for (size_t i = 0; i < b->ngroups; ++i) {
    if ((rv = ns_get_ifname(r, &b->groups[i].ifname)) != 0 ||
        (rv = ns_get_addr(r, &b->groups[i].group)) != 0) {
      return rv;
    }
    if (b->groups[i].group.family != b->local.family ||
        !ns_is_multicast(&b->groups[i].group)) {
      return DSB_ERR_IPC_BAD_VALUE;
    }
  }
  return 0;
}

int dsb_netstack_req_decode(dsb_netstack_req *req, const uint8_t *in,
                            size_t inlen) {
  ns_rd r;
  int rv;

  if (req == NULL) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  memset(req, 0, sizeof(*req));
  if ((rv = ns_frame(&r, &req->nonce, in, inlen, 1)) != 0) {
    return rv;
  }
  req->op = in[0];
  if (!ns_is_request_op(req->op)) {
    return DSB_ERR_IPC_UNKNOWN_OP;
  }
  if (req->nonce == 0) {
    return DSB_ERR_IPC_BAD_VALUE; /* 0 is reserved for notices */
  }
  switch (req->op) {
  case DSB_NETSTACK_OP_HELLO:
    rv = ns_get_u8(&r, &req->u.hello.version);
    break;
  case DSB_NETSTACK_OP_TCP_LISTEN:
    rv = ns_get_addrp(&r, &req->u.tcp_listen.local);
    if (rv == 0) {
      rv = ns_get_u16(&r, &req->u.tcp_listen.backlog);
    }
    if (rv == 0 && (req->u.tcp_listen.backlog == 0 ||
                    req->u.tcp_listen.backlog > DSB_NETSTACK_MAX_BACKLOG)) {
      rv = DSB_ERR_IPC_BAD_VALUE;
    }
    break;
  case DSB_NETSTACK_OP_TCP_CONNECT:
    rv = ns_get_addrp(&r, &req->u.tcp_connect.remote);
    if (rv == 0) {
      rv = ns_get_u32(&r, &req->u.tcp_connect.timeout_ms);
    }
    if (rv == 0 &&
        (req->u.tcp_connect.timeout_ms == 0 ||
         req->u.tcp_connect.timeout_ms > DSB_NETSTACK_MAX_CONNECT_TIMEOUT_MS)) {
      rv = DSB_ERR_IPC_BAD_VALUE;
    }
    break;
  case DSB_NETSTACK_OP_UDP_BIND:
    rv = ns_decode_udp_bind(&r, req);
    break;
  case DSB_NETSTACK_OP_LOCAL_ADDR:
    rv = ns_get_addr(&r, &req->u.local_addr.remote);
    break;
  case DSB_NETSTACK_OP_IFLIST:
    break;
  case DSB_NETSTACK_OP_CLOSE:
    rv = ns_get_u64(&r, &req->u.close.target);
    if (rv == 0 && req->u.close.target == 0) {
      rv = DSB_ERR_IPC_BAD_VALUE;
    }
    break;
  default:
    rv = DSB_ERR_IPC_UNKNOWN_OP;
    break;
  }
  if (rv != 0) {
    return rv;
  }
  if (ns_left(&r) != 0) {
    return DSB_ERR_IPC_TRAILING;
  }
  return 0;
}

/* ---- replies ------------------------------------------------------------- */

static int ns_put_iface(ns_wr *w, const dsb_netstack_iface *f) {
  int rv;
  if ((f->flags & ~DSB_NETSTACK_IF_FLAGS_ALL) != 0 ||
      f->naddrs > DSB_NETSTACK_MAX_IFADDRS) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if ((rv = ns_put_ifname(w, &f->ifname)) != 0) {
    return rv;
  }
  ns_put_u32(w, f->index);
  ns_put_u8(w, f->flags);
  ns_put_u8(w, f->naddrs);
  for (size_t i = 0; i < f->naddrs; ++i) {
    const dsb_netstack_ifaddr *a = &f->addrs[i];
    if (a->prefix > 8 * dsb_netstack_addr_iplen(a->addr.family)) {
      return DSB_ERR_INVALID_ARGUMENT;
    }
    if ((rv = ns_put_addr(w, &a->addr)) != 0) {
      return rv;
    }
    ns_put_u8(w, a->prefix);
  }
  return 0;
}

int dsb_netstack_rep_encode(uint8_t *out, size_t outlen,
                            const dsb_netstack_rep *rep) {
  ns_wr w;
  int rv = 0;

  if (out == NULL || rep == NULL || rep->status > DSB_NETSTACK_ST_MAX) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  /* Only now: out + outlen on a NULL |out| would be undefined. */
  w = (ns_wr){out, out + outlen, 0};
  if (rep->op == DSB_NETSTACK_OP_NOTICE) {
    if (rep->status == DSB_NETSTACK_ST_OK) {
      return DSB_ERR_INVALID_ARGUMENT;
    }
    ns_put_u8(&w, DSB_NETSTACK_OP_NOTICE);
    ns_put_u8(&w, rep->status);
    ns_put_u64(&w, rep->nonce);
    return w.err ? w.err : (int)(w.p - out);
  }
  if (!ns_is_request_op(rep->op) || rep->nonce == 0) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  ns_put_u8(&w, (uint8_t)(rep->op | DSB_NETSTACK_REPLY_BIT));
  ns_put_u8(&w, rep->status);
  if (rep->status == DSB_NETSTACK_ST_OK) {
    switch (rep->op) {
    case DSB_NETSTACK_OP_HELLO:
      ns_put_u8(&w, rep->u.hello.version);
      break;
    case DSB_NETSTACK_OP_TCP_LISTEN:
    case DSB_NETSTACK_OP_TCP_CONNECT:
    case DSB_NETSTACK_OP_UDP_BIND:
      rv = ns_put_addrp(&w, &rep->u.sock.local);
      break;
    case DSB_NETSTACK_OP_LOCAL_ADDR:
      rv = ns_put_addr(&w, &rep->u.local_addr.local);
      break;
    case DSB_NETSTACK_OP_IFLIST:
      if (rep->u.iflist.count > DSB_NETSTACK_MAX_IFACES) {
        return DSB_ERR_INVALID_ARGUMENT;
      }
      ns_put_u8(&w, rep->u.iflist.count);
      for (size_t i = 0; rv == 0 && i < rep->u.iflist.count; ++i) {
        rv = ns_put_iface(&w, &rep->u.iflist.ifaces[i]);
      }
      break;
    default: /* CLOSE: empty payload */
      break;
    }
  }
  if (rv != 0) {
    return rv;
  }
  ns_put_u64(&w, rep->nonce);
  if (w.err) {
    return w.err;
  }
  if ((size_t)(w.p - out) > DSB_NETSTACK_MAX_MSG) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  return (int)(w.p - out);
}

static int ns_get_iface(ns_rd *r, dsb_netstack_iface *f) {
  int rv;
  if ((rv = ns_get_ifname(r, &f->ifname)) != 0 ||
      (rv = ns_get_u32(r, &f->index)) != 0 ||
      (rv = ns_get_u8(r, &f->flags)) != 0 ||
      (rv = ns_get_u8(r, &f->naddrs)) != 0) {
    return rv;
  }
  if ((f->flags & ~DSB_NETSTACK_IF_FLAGS_ALL) != 0) {
    return DSB_ERR_IPC_BAD_VALUE;
  }
  if (f->naddrs > DSB_NETSTACK_MAX_IFADDRS) {
    return DSB_ERR_IPC_TOO_MANY;
  }
  for (size_t i = 0; i < f->naddrs; ++i) {
    dsb_netstack_ifaddr *a = &f->addrs[i];
    if ((rv = ns_get_addr(r, &a->addr)) != 0 ||
        (rv = ns_get_u8(r, &a->prefix)) != 0) {
      return rv;
    }
    if (a->prefix > 8 * dsb_netstack_addr_iplen(a->addr.family)) {
      return DSB_ERR_IPC_BAD_VALUE;
    }
  }
  return 0;
}

int dsb_netstack_rep_decode(dsb_netstack_rep *rep, const uint8_t *in,
                            size_t inlen) {
  ns_rd r;
  int rv = 0;

  if (rep == NULL) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  memset(rep, 0, sizeof(*rep));
  if ((rv = ns_frame(&r, &rep->nonce, in, inlen, 2)) != 0) {
    return rv;
  }
  rep->status = in[1];
  if (rep->status > DSB_NETSTACK_ST_MAX) {
    return DSB_ERR_IPC_BAD_VALUE;
  }
  if (in[0] == DSB_NETSTACK_OP_NOTICE) {
    rep->op = DSB_NETSTACK_OP_NOTICE;
    if (rep->status == DSB_NETSTACK_ST_OK) {
      return DSB_ERR_IPC_BAD_VALUE;
    }
    return ns_left(&r) == 0 ? 0 : DSB_ERR_IPC_TRAILING;
  }
  if ((in[0] & DSB_NETSTACK_REPLY_BIT) == 0 ||
      !ns_is_request_op((uint8_t)(in[0] & ~DSB_NETSTACK_REPLY_BIT))) {
    return DSB_ERR_IPC_UNKNOWN_OP;
  }
  rep->op = (uint8_t)(in[0] & ~DSB_NETSTACK_REPLY_BIT);
  if (rep->nonce == 0) {
    return DSB_ERR_IPC_BAD_VALUE;
  }
  if (rep->status == DSB_NETSTACK_ST_OK) {
    switch (rep->op) {
    case DSB_NETSTACK_OP_HELLO:
      rv = ns_get_u8(&r, &rep->u.hello.version);
      break;
    case DSB_NETSTACK_OP_TCP_LISTEN:
    case DSB_NETSTACK_OP_TCP_CONNECT:
    case DSB_NETSTACK_OP_UDP_BIND:
      rv = ns_get_addrp(&r, &rep->u.sock.local);
      break;
    case DSB_NETSTACK_OP_LOCAL_ADDR:
      rv = ns_get_addr(&r, &rep->u.local_addr.local);
      break;
    case DSB_NETSTACK_OP_IFLIST:
      rv = ns_get_u8(&r, &rep->u.iflist.count);
      if (rv == 0 && rep->u.iflist.count > DSB_NETSTACK_MAX_IFACES) {
        rv = DSB_ERR_IPC_TOO_MANY;
      }
      for (size_t i = 0; rv == 0 && i < rep->u.iflist.count; ++i) {
        rv = ns_get_iface(&r, &rep->u.iflist.ifaces[i]);
      }
      break;
    default: /* CLOSE: empty payload */
      break;
    }
  }
  if (rv != 0) {
    return rv;
  }
  if (ns_left(&r) != 0) {
    return DSB_ERR_IPC_TRAILING;
  }
  return 0;
}

/* ---- status <-> error ---------------------------------------------------- */

/* One table so the two directions cannot drift. */
static const struct {
  uint8_t status;
  int err;
} ns_status_map[] = {
    {DSB_NETSTACK_ST_OK, 0},
    {DSB_NETSTACK_ST_MALFORMED, DSB_ERR_IPC_MALFORMED},
    {DSB_NETSTACK_ST_UNKNOWN_OP, DSB_ERR_IPC_UNKNOWN_OP},
    {DSB_NETSTACK_ST_VERSION, DSB_ERR_NETSTACK_VERSION},
    {DSB_NETSTACK_ST_NOT_READY, DSB_ERR_NETSTACK_NOT_READY},
    {DSB_NETSTACK_ST_FAMILY, DSB_ERR_NETSTACK_FAMILY},
    {DSB_NETSTACK_ST_PORT, DSB_ERR_NETSTACK_PORT},
    {DSB_NETSTACK_ST_IFACE, DSB_ERR_NETSTACK_IFACE},
    {DSB_NETSTACK_ST_DEST, DSB_ERR_NETSTACK_DEST},
    {DSB_NETSTACK_ST_LOCAL_ADDR, DSB_ERR_NETSTACK_LOCAL_ADDR},
    {DSB_NETSTACK_ST_UNKNOWN_HANDLE, DSB_ERR_NETSTACK_UNKNOWN_HANDLE},
    {DSB_NETSTACK_ST_LIMIT, DSB_ERR_LIMIT},
    {DSB_NETSTACK_ST_ADDR_IN_USE, DSB_ERR_NETSTACK_ADDR_IN_USE},
    {DSB_NETSTACK_ST_REFUSED, DSB_ERR_NETSTACK_REFUSED},
    {DSB_NETSTACK_ST_UNREACHABLE, DSB_ERR_NETSTACK_UNREACHABLE},
    {DSB_NETSTACK_ST_TIMEOUT, DSB_ERR_NETSTACK_CONNECT_TIMEOUT},
    {DSB_NETSTACK_ST_CANCELLED, DSB_ERR_NETSTACK_CANCELLED},
    {DSB_NETSTACK_ST_SYSTEM, DSB_ERR_NETSTACK_SYSTEM},
    {DSB_NETSTACK_ST_NO_IFACE, DSB_ERR_NETSTACK_NO_IFACE},
    {DSB_NETSTACK_ST_PEER_CRED, DSB_ERR_IPC_PEER_CRED},
    {DSB_NETSTACK_ST_BUSY, DSB_ERR_NETSTACK_BUSY},
    {DSB_NETSTACK_ST_DUPLICATE_NONCE, DSB_ERR_NETSTACK_DUPLICATE_NONCE},
};

int dsb_netstack_status_to_err(uint8_t status) {
  for (size_t i = 0; i < sizeof(ns_status_map) / sizeof(ns_status_map[0]);
       ++i) {
    if (ns_status_map[i].status == status) {
      return ns_status_map[i].err;
    }
  }
  return DSB_ERR_IPC_BAD_VALUE;
}

uint8_t dsb_netstack_err_to_status(int err) {
  /* Every decoder reject of a request is "malformed" on the wire. */
  switch (err) {
  case DSB_ERR_IPC_TRUNCATED:
  case DSB_ERR_IPC_OVERSIZE:
  case DSB_ERR_IPC_BAD_VALUE:
  case DSB_ERR_IPC_BAD_STRING:
  case DSB_ERR_IPC_TOO_MANY:
  case DSB_ERR_IPC_TRAILING:
    return DSB_NETSTACK_ST_MALFORMED;
  default:
    break;
  }
  for (size_t i = 0; i < sizeof(ns_status_map) / sizeof(ns_status_map[0]);
       ++i) {
    if (ns_status_map[i].err == err) {
      return ns_status_map[i].status;
    }
  }
  return DSB_NETSTACK_ST_SYSTEM;
}
