/*
 * rpc_codec.c - call and reply frames (include/dsb/rpc.h).
 * Layout: docs/PROTOCOL.md, "Remote calls".
 */
#include <string.h>

#include "dsb/err.h"
#include "dsb/rpc.h"
#include "dsb/wire.h"

void dsb_rpc_limits_default(dsb_rpc_limits *limits) {
  limits->max_request = DSB_RPC_MAX_REQUEST_DEFAULT;
  limits->max_reply = DSB_RPC_MAX_REPLY_DEFAULT;
}

int dsb_rpc_limits_check(const dsb_rpc_limits *limits) {
  if (!limits || limits->max_request < DSB_RPC_MAX_FRAME_MIN ||
      limits->max_request > DSB_RPC_MAX_REQUEST_DEFAULT ||
      limits->max_reply < DSB_RPC_MAX_FRAME_MIN ||
      limits->max_reply > DSB_RPC_MAX_REPLY_DEFAULT) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  return 0;
}

static const dsb_rpc_limits *rpc_limits_or_default(const dsb_rpc_limits *l,
                                                   dsb_rpc_limits *tmp) {
  if (l) {
    return l;
  }
  dsb_rpc_limits_default(tmp);
  return tmp;
}

static int rpc_name_char_ok(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

int dsb_rpc_name_valid(const char *name, size_t len) {
  if (!name || len == 0 || len > DSB_RPC_NAME_MAX) {
    return 0;
  }
  for (size_t i = 0; i < len; ++i) {
    if (!rpc_name_char_ok((unsigned char)name[i])) {
      return 0;
    }
  }
  return 1;
}

size_t dsb_rpc_call_encoded_len(const dsb_rpc_call *call) {
  size_t n = DSB_RPC_CALL_OVERHEAD;
  /* Names are bounded by the caller's validation, the payload is not. */
  if (call->servicelen > SIZE_MAX - n) {
    return 0;
  }
  n += call->servicelen;
  if (call->methodlen > SIZE_MAX - n) {
    return 0;
  }
  n += call->methodlen;
  if (call->payloadlen > SIZE_MAX - n) {
    return 0;
  }
  return n + call->payloadlen;
}

size_t dsb_rpc_call_max_payload(const dsb_rpc_limits *limits, size_t servicelen,
                                size_t methodlen) {
  dsb_rpc_limits tmp;
  limits = rpc_limits_or_default(limits, &tmp);
  if (servicelen > DSB_RPC_NAME_MAX || methodlen > DSB_RPC_NAME_MAX) {
    return 0;
  }
  size_t hdr = DSB_RPC_CALL_OVERHEAD + servicelen + methodlen;
  if (limits->max_request <= hdr) {
    return 0;
  }
  return limits->max_request - hdr;
}

size_t dsb_rpc_reply_max_payload(const dsb_rpc_limits *limits) {
  dsb_rpc_limits tmp;
  limits = rpc_limits_or_default(limits, &tmp);
  if (limits->max_reply <= DSB_RPC_REPLY_OVERHEAD) {
    return 0;
  }
  return limits->max_reply - DSB_RPC_REPLY_OVERHEAD;
}

long dsb_rpc_call_encode(uint8_t *dst, size_t dstlen, const dsb_rpc_call *call,
                         const dsb_rpc_limits *limits) {
  dsb_rpc_limits tmp;
  if (!dst || !call) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  limits = rpc_limits_or_default(limits, &tmp);
  if (!dsb_rpc_name_valid(call->service, call->servicelen) ||
      !dsb_rpc_name_valid(call->method, call->methodlen) ||
      (call->payloadlen && !call->payload)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  size_t n = dsb_rpc_call_encoded_len(call);
  if (n == 0 || n > limits->max_request) {
    return DSB_ERR_PROXY_OVERSIZE;
  }
  if (dstlen < n) {
    return DSB_ERR_NOBUF;
  }
  /* docs/PROTOCOL.md, "Remote calls": call frame */
  uint8_t *p = dst;
  p = dsb_wire_put_u8(p, DSB_RPC_VERSION);
  p = dsb_wire_put_u8(p, DSB_RPC_OP_CALL);
  p = dsb_wire_put_u8(p, (uint8_t)call->servicelen);
  p = dsb_wire_put_bytes(p, (const uint8_t *)call->service, call->servicelen);
  p = dsb_wire_put_u8(p, (uint8_t)call->methodlen);
  p = dsb_wire_put_bytes(p, (const uint8_t *)call->method, call->methodlen);
  p = dsb_wire_put_u32be(p, (uint32_t)call->payloadlen);
  p = dsb_wire_put_bytes(p, call->payload, call->payloadlen);
  p = dsb_wire_put_u64be(p, call->nonce);
  return (long)(p - dst);
}

long dsb_rpc_reply_encode(uint8_t *dst, size_t dstlen,
                          const dsb_rpc_reply *reply,
                          const dsb_rpc_limits *limits) {
  dsb_rpc_limits tmp;
  if (!dst || !reply || reply->status > DSB_RPC_STATUS_MAX ||
      (reply->payloadlen && !reply->payload)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  limits = rpc_limits_or_default(limits, &tmp);
  if (reply->payloadlen > limits->max_reply ||
      reply->payloadlen + DSB_RPC_REPLY_OVERHEAD > limits->max_reply) {
    return DSB_ERR_PROXY_OVERSIZE;
  }
  size_t n = reply->payloadlen + DSB_RPC_REPLY_OVERHEAD;
  if (dstlen < n) {
    return DSB_ERR_NOBUF;
  }
  /* docs/PROTOCOL.md, "Remote calls": reply frame. memmove: the payload may
   * already sit at its place inside |dst|. */
  if (reply->payloadlen) {
    memmove(dst + 7, reply->payload, reply->payloadlen);
  }
  uint8_t *p = dst;
  p = dsb_wire_put_u8(p, DSB_RPC_VERSION);
  p = dsb_wire_put_u8(p, DSB_RPC_OP_REPLY);
  p = dsb_wire_put_u8(p, reply->status);
  p = dsb_wire_put_u32be(p, (uint32_t)reply->payloadlen);
  p += reply->payloadlen;
  p = dsb_wire_put_u64be(p, reply->nonce);
  return (long)(p - dst);
}

/* Read a u8-length-prefixed name at |*pp| with |*prem| bytes left. */
static int rpc_get_name(const char **name, size_t *namelen, const uint8_t **pp,
                        size_t *prem) {
  uint8_t len;
  if (*prem < 1) {
    return DSB_ERR_PROXY_MALFORMED;
  }
  *pp = dsb_wire_get_u8(*pp, &len);
  *prem -= 1;
  if (len == 0 || len > DSB_RPC_NAME_MAX || len > *prem) {
    return DSB_ERR_PROXY_MALFORMED;
  }
  if (!dsb_rpc_name_valid((const char *)*pp, len)) {
    return DSB_ERR_PROXY_MALFORMED;
  }
  *name = (const char *)*pp;
  *namelen = len;
  *pp += len;
  *prem -= len;
  return 0;
}

/* Read a u32 payload length and the payload, leaving exactly the 8 nonce
 * bytes. */
static int rpc_get_payload(const uint8_t **payload, size_t *payloadlen,
                           const uint8_t **pp, size_t *prem) {
  uint32_t len;
  if (*prem < 4) {
    return DSB_ERR_PROXY_MALFORMED;
  }
  *pp = dsb_wire_get_u32be(*pp, &len);
  *prem -= 4;
  if (*prem < 8 || len > *prem - 8) {
    return DSB_ERR_PROXY_MALFORMED;
  }
  if (len != *prem - 8) {
    /* Something between the payload and the nonce: trailing bytes. */
    return DSB_ERR_PROXY_MALFORMED;
  }
  *payload = len ? *pp : NULL;
  *payloadlen = len;
  *pp += len;
  *prem -= len;
  return 0;
}

int dsb_rpc_decode(dsb_rpc_msg *msg, const uint8_t *in, size_t inlen,
                   const dsb_rpc_limits *limits) {
  dsb_rpc_limits tmp;
  dsb_rpc_msg m;
  uint8_t version, op;
  int rv;

  if (!msg || (!in && inlen)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  limits = rpc_limits_or_default(limits, &tmp);
  memset(&m, 0, sizeof(m));
  if (inlen < 1) {
    return DSB_ERR_PROXY_MALFORMED;
  }
  const uint8_t *p = in;
  size_t rem = inlen;
  p = dsb_wire_get_u8(p, &version);
  rem -= 1;
  if (version != DSB_RPC_VERSION) {
    return DSB_ERR_PROXY_VERSION;
  }
  if (rem < 1) {
    return DSB_ERR_PROXY_MALFORMED;
  }
  p = dsb_wire_get_u8(p, &op);
  rem -= 1;
  m.op = op;

  switch (op) {
  case DSB_RPC_OP_CALL:
    if (inlen > limits->max_request) {
      return DSB_ERR_PROXY_OVERSIZE;
    }
    rv = rpc_get_name(&m.call.service, &m.call.servicelen, &p, &rem);
    if (rv != 0) {
      return rv;
    }
    rv = rpc_get_name(&m.call.method, &m.call.methodlen, &p, &rem);
    if (rv != 0) {
      return rv;
    }
    rv = rpc_get_payload(&m.call.payload, &m.call.payloadlen, &p, &rem);
    if (rv != 0) {
      return rv;
    }
    p = dsb_wire_get_u64be(p, &m.call.nonce);
    rem -= 8;
    break;
  case DSB_RPC_OP_REPLY:
    if (inlen > limits->max_reply) {
      return DSB_ERR_PROXY_OVERSIZE;
    }
    if (rem < 1) {
      return DSB_ERR_PROXY_MALFORMED;
    }
    p = dsb_wire_get_u8(p, &m.reply.status);
    rem -= 1;
    if (m.reply.status > DSB_RPC_STATUS_MAX) {
      return DSB_ERR_PROXY_MALFORMED;
    }
    rv = rpc_get_payload(&m.reply.payload, &m.reply.payloadlen, &p, &rem);
    if (rv != 0) {
      return rv;
    }
    p = dsb_wire_get_u64be(p, &m.reply.nonce);
    rem -= 8;
    break;
  default:
    return DSB_ERR_PROXY_MALFORMED;
  }
  (void)p;
  if (rem != 0) {
    return DSB_ERR_PROXY_MALFORMED;
  }
  *msg = m;
  return 0;
}

int dsb_rpc_peek(uint8_t *op, uint64_t *nonce, const uint8_t *in,
                 size_t inlen) {
  if (!op || !nonce || (!in && inlen)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (inlen >= 1 && in[0] != DSB_RPC_VERSION) {
    return DSB_ERR_PROXY_VERSION;
  }
  if (inlen < 10) {
    return DSB_ERR_PROXY_MALFORMED;
  }
  if (in[1] != DSB_RPC_OP_CALL && in[1] != DSB_RPC_OP_REPLY) {
    return DSB_ERR_PROXY_MALFORMED;
  }
  *op = in[1];
  dsb_wire_get_u64be(in + inlen - 8, nonce);
  return 0;
}

long dsb_rpc_reject_encode(uint8_t *dst, size_t dstlen, const uint8_t *in,
                           size_t inlen, int err) {
  uint8_t op;
  uint64_t nonce;
  if (!dst) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  int rv = dsb_rpc_peek(&op, &nonce, in, inlen);
  if (rv != 0) {
    return rv;
  }
  if (op != DSB_RPC_OP_CALL) {
    return DSB_ERR_PROXY_MALFORMED;
  }
  dsb_rpc_reply reply = {err == DSB_ERR_PROXY_OVERSIZE ? DSB_RPC_OVERSIZE
                                                       : DSB_RPC_MALFORMED,
                         NULL, 0, nonce};
  return dsb_rpc_reply_encode(dst, dstlen, &reply, NULL);
}

/* Status <-> error code, and names: one table so they cannot drift. */
static const struct {
  int err;
  const char *name;
} rpc_status_table[DSB_RPC_STATUS_MAX + 1] = {
    [DSB_RPC_OK] = {0, "ok"},
    [DSB_RPC_DENIED] = {DSB_ERR_PROXY_DENIED, "denied"},
    [DSB_RPC_UNKNOWN_SERVICE] = {DSB_ERR_PROXY_UNKNOWN_SERVICE,
                                 "unknown_service"},
    [DSB_RPC_UNKNOWN_METHOD] = {DSB_ERR_PROXY_UNKNOWN_METHOD, "unknown_method"},
    [DSB_RPC_OVERSIZE] = {DSB_ERR_PROXY_OVERSIZE, "oversize"},
    [DSB_RPC_TOO_MANY_CALLS] = {DSB_ERR_PROXY_TOO_MANY_CALLS, "too_many_calls"},
    [DSB_RPC_UNAVAILABLE] = {DSB_ERR_PROXY_UNAVAILABLE, "unavailable"},
    [DSB_RPC_TIMEOUT] = {DSB_ERR_PROXY_TIMEOUT, "timeout"},
    [DSB_RPC_MALFORMED] = {DSB_ERR_PROXY_MALFORMED, "malformed"},
    [DSB_RPC_FAILED] = {DSB_ERR_PROXY_FAILED, "failed"},
};

int dsb_rpc_status_to_err(uint8_t status) {
  if (status > DSB_RPC_STATUS_MAX) {
    return DSB_ERR_PROXY_MALFORMED;
  }
  return rpc_status_table[status].err;
}

uint8_t dsb_rpc_status_from_err(int err) {
  if (err == DSB_ERR_NOBUF) {
    return DSB_RPC_OVERSIZE;
  }
  if (err == DSB_ERR_PROXY_VERSION) {
    return DSB_RPC_MALFORMED;
  }
  for (unsigned s = 0; s <= DSB_RPC_STATUS_MAX; ++s) {
    if (rpc_status_table[s].err == err) {
      return (uint8_t)s;
    }
  }
  return DSB_RPC_FAILED;
}

const char *dsb_rpc_status_name(uint8_t status) {
  if (status > DSB_RPC_STATUS_MAX) {
    return "invalid";
  }
  return rpc_status_table[status].name;
}
