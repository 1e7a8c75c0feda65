/*
 * session_record.c - the incremental record reader: [length u16be][body]
 * frames out of a byte stream that arrives in arbitrary pieces, down to one
 * byte at a time (docs/PROTOCOL.md, "Sessions", record format).
 */
#include <string.h>

#include "core/session_internal.h"
#include "dsb/err.h"
#include "dsb/wire.h"

void dsb_record_reader_init(dsb_record_reader *r, uint8_t *buf, size_t cap) {
  memset(r, 0, sizeof(*r));
  r->buf = buf;
  r->cap = cap;
  r->min_len = 0;
  r->max_len = cap;
}

void dsb_record_reader_set_buffer(dsb_record_reader *r, uint8_t *buf,
                                  size_t cap) {
  r->buf = buf;
  r->cap = cap;
  if (r->max_len > cap) {
    r->max_len = cap;
  }
}

void dsb_record_reader_set_limits(dsb_record_reader *r, size_t min_len,
                                  size_t max_len) {
  r->min_len = min_len;
  r->max_len = max_len < r->cap ? max_len : r->cap;
}

int dsb_record_reader_partial(const dsb_record_reader *r) {
  return r->hdrlen != 0;
}

long dsb_record_reader_feed(dsb_record_reader *r, const uint8_t *in,
                            size_t inlen, const uint8_t **body, size_t *bodylen,
                            int *body_in_buf) {
  size_t used = 0;
  size_t take;

  *body = NULL;
  *bodylen = 0;
  *body_in_buf = 0;
  while (r->hdrlen < DSB_SESSION_RECORD_HDR_LEN && used < inlen) {
    r->hdr[r->hdrlen++] = in[used++];
  }
  if (r->hdrlen < DSB_SESSION_RECORD_HDR_LEN) {
    return (long)used;
  }
  if (used > 0) {
    /* The header just completed: check the length before taking a byte
     * of the body, so an oversize frame costs nothing. */
    uint16_t len;
    dsb_wire_get_u16be(r->hdr, &len);
    if (len > r->max_len) {
      return DSB_ERR_SESSION_RECORD_OVERSIZE;
    }
    if (len < r->min_len) {
      return DSB_ERR_SESSION_RECORD_UNDERSIZE;
    }
    r->need = len;
    r->have = 0;
  }
  if (r->have == 0 && inlen - used >= r->need) {
    /* The whole body is in the caller's input: no copy. */
    *body = in + used;
    *bodylen = r->need;
    used += r->need;
    r->hdrlen = 0;
    return (long)used;
  }
  take = r->need - r->have;
  if (take > inlen - used) {
    take = inlen - used;
  }
  if (take > 0) {
    if (!r->buf) {
      return (long)used; /* the owner supplies storage for split bodies */
    }
    memcpy(r->buf + r->have, in + used, take);
    r->have += take;
    used += take;
  }
  if (r->have == r->need) {
    *body = r->buf;
    *bodylen = r->need;
    *body_in_buf = 1;
    r->hdrlen = 0;
    r->have = 0;
  }
  return (long)used;
}
