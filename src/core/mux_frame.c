/*
 * mux_frame.c - the mux v2 frame codec (docs/PROTOCOL.md "Streams (mux v2)").
 *
 * Header (9 bytes): version u8 | type u8 | flags u8 | stream_id u32 |
 * length u16, then |length| payload bytes. The decoder is pure and bounded:
 * it checks what remains before every read and each length against the
 * input, and never allocates.
 */
#include <string.h>

#include "dsb/err.h"
#include "dsb/mux.h"
#include "dsb/wire.h"
#include "core/mux_internal.h"

int dsb_mux_name_valid(const char *name, size_t namelen) {
  if (name == NULL || namelen == 0 || namelen > DSB_MUX_NAME_MAX) {
    return 0;
  }
  for (size_t i = 0; i < namelen; ++i) {
    unsigned char c = (unsigned char)name[i];
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9')) {
      continue;
    }
    if (c == '.' || c == '_' || c == '-' || c == '/' || c == ':' || c == '@' ||
        c == '+') {
      continue;
    }
    return 0;
  }
  return 1;
}

/* Checks the fields a type fixes: flags, stream id, payload size. */
static int mux_frame_check_shape(uint8_t type, uint8_t flags, uint32_t id,
                                 size_t len) {
  switch (type) {
  case DSB_MUX_FRAME_OPEN:
    if (flags != 0 || id == 0 || len < MUX_OPEN_FIXED_LEN) {
      return DSB_ERR_MUX_MALFORMED;
    }
    return 0;
  case DSB_MUX_FRAME_OPEN_ACK:
    return (flags != 0 || id == 0 || len != MUX_OPEN_ACK_LEN)
               ? DSB_ERR_MUX_MALFORMED
               : 0;
  case DSB_MUX_FRAME_DATA:
    /* An empty DATA frame would move no credit and carry nothing. */
    return ((flags & ~DSB_MUX_FLAG_FIN_MESSAGE) != 0 || id == 0 || len == 0)
               ? DSB_ERR_MUX_MALFORMED
               : 0;
  case DSB_MUX_FRAME_WINDOW_UPDATE:
    return (flags != 0 || len != 4) ? DSB_ERR_MUX_MALFORMED : 0;
  case DSB_MUX_FRAME_RST:
    return (flags != 0 || id == 0 || len != 4) ? DSB_ERR_MUX_MALFORMED : 0;
  case DSB_MUX_FRAME_PING:
  case DSB_MUX_FRAME_PONG:
    return (flags != 0 || id != 0 || len != 8) ? DSB_ERR_MUX_MALFORMED : 0;
  case DSB_MUX_FRAME_CLOSE:
    return (flags != 0 || id == 0 || len != 0) ? DSB_ERR_MUX_MALFORMED : 0;
  default:
    return DSB_ERR_MUX_MALFORMED;
  }
}

long dsb_mux_frame_decode(dsb_mux_frame *fr, const uint8_t *in, size_t inlen) {
  uint8_t version, type, flags;
  uint32_t id;
  uint16_t len16;
  const uint8_t *p = in;
  int rv;

  if (fr == NULL || (in == NULL && inlen != 0)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (inlen < DSB_MUX_FRAME_HEADER_LEN) {
    return DSB_ERR_MUX_MALFORMED;
  }
  p = dsb_wire_get_u8(p, &version);
  if (version != DSB_MUX_VERSION) {
    return DSB_ERR_MUX_VERSION;
  }
  p = dsb_wire_get_u8(p, &type);
  p = dsb_wire_get_u8(p, &flags);
  p = dsb_wire_get_u32be(p, &id);
  p = dsb_wire_get_u16be(p, &len16);
  size_t len = len16;
  /* Oversize is judged on the length field alone, before truncation. */
  if (len > DSB_MUX_MAX_FRAME_PAYLOAD) {
    return DSB_ERR_MUX_FRAME_OVERSIZE;
  }
  if (len > inlen - DSB_MUX_FRAME_HEADER_LEN) {
    return DSB_ERR_MUX_MALFORMED;
  }
  rv = mux_frame_check_shape(type, flags, id, len);
  if (rv != 0) {
    return rv;
  }

  memset(fr, 0, sizeof(*fr));
  fr->version = version;
  fr->type = type;
  fr->flags = flags;
  fr->stream_id = id;

  switch (type) {
  case DSB_MUX_FRAME_OPEN: {
    uint8_t namelen;
    p = dsb_wire_get_u8(p, &fr->priority);
    p = dsb_wire_get_u8(p, &fr->mode);
    p = dsb_wire_get_u32be(p, &fr->window);
    p = dsb_wire_get_u32be(p, &fr->max_message);
    p = dsb_wire_get_u8(p, &namelen);
    if (fr->priority > DSB_MUX_PRIORITY_MAX || fr->mode > DSB_MUX_MODE_BYTES ||
        fr->window < DSB_MUX_MIN_WINDOW || fr->window > DSB_MUX_MAX_WINDOW ||
        fr->max_message > DSB_MUX_MAX_WINDOW ||
        len != MUX_OPEN_FIXED_LEN + (size_t)namelen) {
      return DSB_ERR_MUX_MALFORMED;
    }
    fr->name = p;
    fr->namelen = namelen;
    break;
  }
  case DSB_MUX_FRAME_OPEN_ACK:
    p = dsb_wire_get_u32be(p, &fr->window);
    p = dsb_wire_get_u32be(p, &fr->max_message);
    if (fr->window < DSB_MUX_MIN_WINDOW || fr->window > DSB_MUX_MAX_WINDOW ||
        fr->max_message > DSB_MUX_MAX_WINDOW) {
      return DSB_ERR_MUX_MALFORMED;
    }
    break;
  case DSB_MUX_FRAME_DATA:
    fr->data = p;
    fr->datalen = len;
    break;
  case DSB_MUX_FRAME_WINDOW_UPDATE:
    p = dsb_wire_get_u32be(p, &fr->increment);
    if (fr->increment == 0 || fr->increment > DSB_MUX_MAX_WINDOW) {
      return DSB_ERR_MUX_MALFORMED;
    }
    break;
  case DSB_MUX_FRAME_RST:
    p = dsb_wire_get_u32be(p, &fr->code);
    break;
  case DSB_MUX_FRAME_PING:
  case DSB_MUX_FRAME_PONG:
    p = dsb_wire_get_u64be(p, &fr->opaque);
    break;
  default: /* CLOSE: no payload */
    break;
  }
  (void)p;
  return (long)(DSB_MUX_FRAME_HEADER_LEN + len);
}

/* Payload length of a valid frame, or -1. */
static long mux_frame_payload_len(const dsb_mux_frame *fr) {
  size_t len;
  switch (fr->type) {
  case DSB_MUX_FRAME_OPEN:
    if (fr->namelen > 255 || fr->priority > DSB_MUX_PRIORITY_MAX ||
        fr->mode > DSB_MUX_MODE_BYTES || fr->window < DSB_MUX_MIN_WINDOW ||
        fr->window > DSB_MUX_MAX_WINDOW ||
        fr->max_message > DSB_MUX_MAX_WINDOW ||
        (fr->namelen != 0 && fr->name == NULL)) {
      return -1;
    }
    len = MUX_OPEN_FIXED_LEN + fr->namelen;
    break;
  case DSB_MUX_FRAME_OPEN_ACK:
    if (fr->window < DSB_MUX_MIN_WINDOW || fr->window > DSB_MUX_MAX_WINDOW ||
        fr->max_message > DSB_MUX_MAX_WINDOW) {
      return -1;
    }
    len = MUX_OPEN_ACK_LEN;
    break;
  case DSB_MUX_FRAME_DATA:
    if (fr->datalen > DSB_MUX_MAX_FRAME_PAYLOAD || fr->data == NULL) {
      return -1;
    }
    len = fr->datalen;
    break;
  case DSB_MUX_FRAME_WINDOW_UPDATE:
    if (fr->increment == 0 || fr->increment > DSB_MUX_MAX_WINDOW) {
      return -1;
    }
    len = 4;
    break;
  case DSB_MUX_FRAME_RST:
    len = 4;
    break;
  case DSB_MUX_FRAME_PING:
  case DSB_MUX_FRAME_PONG:
    len = 8;
    break;
  case DSB_MUX_FRAME_CLOSE:
    len = 0;
    break;
  default:
    return -1;
  }
  if (mux_frame_check_shape(fr->type, fr->flags, fr->stream_id, len) != 0) {
    return -1;
  }
  return (long)len;
}

size_t dsb_mux_frame_len(const dsb_mux_frame *fr) {
  long len = fr ? mux_frame_payload_len(fr) : -1;
  return len < 0 ? 0 : DSB_MUX_FRAME_HEADER_LEN + (size_t)len;
}

long dsb_mux_frame_encode(uint8_t *dst, size_t dstlen,
                          const dsb_mux_frame *fr) {
  long len = fr ? mux_frame_payload_len(fr) : -1;
  uint8_t *p = dst;

  if (len < 0 || dst == NULL) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (dstlen < DSB_MUX_FRAME_HEADER_LEN + (size_t)len) {
    return DSB_ERR_NOBUF;
  }
  p = dsb_wire_put_u8(p, DSB_MUX_VERSION);
  p = dsb_wire_put_u8(p, fr->type);
  p = dsb_wire_put_u8(p, fr->flags);
  p = dsb_wire_put_u32be(p, fr->stream_id);
  p = dsb_wire_put_u16be(p, (uint16_t)len);
  switch (fr->type) {
  case DSB_MUX_FRAME_OPEN:
    p = dsb_wire_put_u8(p, fr->priority);
    p = dsb_wire_put_u8(p, fr->mode);
    p = dsb_wire_put_u32be(p, fr->window);
    p = dsb_wire_put_u32be(p, fr->max_message);
    p = dsb_wire_put_u8(p, (uint8_t)fr->namelen);
    p = dsb_wire_put_bytes(p, fr->name, fr->namelen);
    break;
  case DSB_MUX_FRAME_OPEN_ACK:
    p = dsb_wire_put_u32be(p, fr->window);
    p = dsb_wire_put_u32be(p, fr->max_message);
    break;
  case DSB_MUX_FRAME_DATA:
    p = dsb_wire_put_bytes(p, fr->data, fr->datalen);
    break;
  case DSB_MUX_FRAME_WINDOW_UPDATE:
    p = dsb_wire_put_u32be(p, fr->increment);
    break;
  case DSB_MUX_FRAME_RST:
    p = dsb_wire_put_u32be(p, fr->code);
    break;
  case DSB_MUX_FRAME_PING:
  case DSB_MUX_FRAME_PONG:
    p = dsb_wire_put_u64be(p, fr->opaque);
    break;
  default:
    break;
  }
  return (long)(p - dst);
}
