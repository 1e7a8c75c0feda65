/*
 * ipc_wire.c - the bounded reader and writer of the local API codecs
 * (ipc_wire.h). Every access checks the remaining length first; the first
 * failure sticks.
 */
#include <string.h>

#include "dsb/err.h"
#include "dsb/wire.h"
#include "ipc_wire.h"

/* ---- reading ------------------------------------------------------------ */

void dsb_ipc_rd_init(dsb_ipc_rd *r, const uint8_t *p, size_t len, size_t off) {
  r->p = p;
  r->len = p ? len : 0;
  r->off = off <= r->len ? off : r->len;
  r->err = 0;
}

int dsb_ipc_rd_need(dsb_ipc_rd *r, size_t n) {
  if (r->err) {
    return 0;
  }
  if (r->len - r->off < n) {
    r->err = DSB_ERR_IPC_TRUNCATED;
    return 0;
  }
  return 1;
}

/* The next |n| bytes, consumed; NULL (with the error set) if absent. */
static const uint8_t *ipc_rd_take(dsb_ipc_rd *r, size_t n) {
  if (!dsb_ipc_rd_need(r, n)) {
    return NULL;
  }
  const uint8_t *p = r->p + r->off;
  r->off += n;
  return p;
}

/* One fixed-width big-endian reader per integer type (dsb/wire.h). */
#define IPC_RD_UINT(fn, type, get)                                             \
  type fn(dsb_ipc_rd *r) {                                                     \
    type v = 0;                                                                \
    const uint8_t *p = ipc_rd_take(r, sizeof(type));                           \
    if (p) {                                                                   \
      get(p, &v);                                                              \
    }                                                                          \
    return v;                                                                  \
  }

IPC_RD_UINT(dsb_ipc_rd_u8, uint8_t, dsb_wire_get_u8)
IPC_RD_UINT(dsb_ipc_rd_u16, uint16_t, dsb_wire_get_u16be)
IPC_RD_UINT(dsb_ipc_rd_u32, uint32_t, dsb_wire_get_u32be)
IPC_RD_UINT(dsb_ipc_rd_u64, uint64_t, dsb_wire_get_u64be)

void dsb_ipc_rd_bytes(dsb_ipc_rd *r, uint8_t *dst, size_t n) {
  const uint8_t *p = ipc_rd_take(r, n);
  if (p) {
    memcpy(dst, p, n);
  } else {
    memset(dst, 0, n);
  }
}

void dsb_ipc_rd_id(dsb_ipc_rd *r, dsb_device_id *id) {
  dsb_ipc_rd_bytes(r, id->b, sizeof(id->b));
}

/* |n| bytes at the cursor as a view, after |check| (NULL: any bytes). */
static dsb_ipc_str ipc_rd_view(dsb_ipc_rd *r, size_t n,
                               dsb_ipc_str_check check) {
  dsb_ipc_str s = {NULL, 0};
  if (!dsb_ipc_rd_need(r, n)) {
    return s;
  }
  if (check && !check(r->p + r->off, n)) {
    r->err = DSB_ERR_IPC_BAD_STRING;
    return s;
  }
  s.p = ipc_rd_take(r, n);
  s.len = n;
  return s;
}

dsb_ipc_str dsb_ipc_rd_str(dsb_ipc_rd *r, int width, dsb_ipc_str_check check) {
  size_t n = width == DSB_IPC_WIRE_STR16 ? dsb_ipc_rd_u16(r) : dsb_ipc_rd_u8(r);
  return ipc_rd_view(r, n, check);
}

dsb_ipc_str dsb_ipc_rd_blob(dsb_ipc_rd *r) {
  size_t n = dsb_ipc_rd_u32(r);
  return ipc_rd_view(r, n, NULL);
}

void dsb_ipc_rd_value(dsb_ipc_rd *r, int ok) {
  if (!r->err && !ok) {
    r->err = DSB_ERR_IPC_BAD_VALUE;
  }
}

int dsb_ipc_rd_done(const dsb_ipc_rd *r) {
  if (r->err) {
    return r->err;
  }
  return r->off == r->len ? 0 : DSB_ERR_IPC_TRAILING;
}

/* ---- writing ------------------------------------------------------------ */

void dsb_ipc_wr_init(dsb_ipc_wr *w, uint8_t *p, size_t cap) {
  w->p = p;
  w->cap = p ? cap : 0;
  w->off = 0;
  w->err = 0;
}

int dsb_ipc_wr_need(dsb_ipc_wr *w, size_t n) {
  if (w->err) {
    return 0;
  }
  if (w->cap - w->off < n) {
    w->err = DSB_ERR_NOBUF;
    return 0;
  }
  return 1;
}

/* Room for the next |n| bytes, claimed; NULL (with the error set) if the
 * buffer is full. */
static uint8_t *ipc_wr_take(dsb_ipc_wr *w, size_t n) {
  if (!dsb_ipc_wr_need(w, n)) {
    return NULL;
  }
  uint8_t *p = w->p + w->off;
  w->off += n;
  return p;
}

/* One fixed-width big-endian writer per integer type (dsb/wire.h). */
#define IPC_WR_UINT(fn, type, put)                                             \
  void fn(dsb_ipc_wr *w, type v) {                                             \
    uint8_t *p = ipc_wr_take(w, sizeof(type));                                 \
    if (p) {                                                                   \
      put(p, v);                                                               \
    }                                                                          \
  }

IPC_WR_UINT(dsb_ipc_wr_u8, uint8_t, dsb_wire_put_u8)
IPC_WR_UINT(dsb_ipc_wr_u16, uint16_t, dsb_wire_put_u16be)
IPC_WR_UINT(dsb_ipc_wr_u32, uint32_t, dsb_wire_put_u32be)
IPC_WR_UINT(dsb_ipc_wr_u64, uint64_t, dsb_wire_put_u64be)

void dsb_ipc_wr_bytes(dsb_ipc_wr *w, const uint8_t *src, size_t n) {
  uint8_t *p = n ? ipc_wr_take(w, n) : NULL;
  if (p) {
    dsb_wire_put_bytes(p, src, n);
  }
}

void dsb_ipc_wr_str(dsb_ipc_wr *w, dsb_ipc_str s, int width,
                    dsb_ipc_str_check check) {
  size_t max = width == DSB_IPC_WIRE_STR16 ? UINT16_MAX : UINT8_MAX;
  if (w->err) {
    return;
  }
  if (s.len > max || (s.len && !s.p) ||
      !check(s.p ? s.p : (const uint8_t *)"", s.len)) {
    w->err = DSB_ERR_IPC_BAD_STRING;
    return;
  }
  if (width == DSB_IPC_WIRE_STR16) {
    dsb_ipc_wr_u16(w, (uint16_t)s.len);
  } else {
    dsb_ipc_wr_u8(w, (uint8_t)s.len);
  }
  dsb_ipc_wr_bytes(w, s.p, s.len);
}

void dsb_ipc_wr_blob(dsb_ipc_wr *w, dsb_ipc_str s) {
  if (w->err) {
    return;
  }
  if ((s.len && !s.p) || s.len > DSB_IPC_MAX_MSG) {
    w->err = DSB_ERR_IPC_OVERSIZE;
    return;
  }
  dsb_ipc_wr_u32(w, (uint32_t)s.len);
  dsb_ipc_wr_bytes(w, s.p, s.len);
}

void dsb_ipc_wr_value(dsb_ipc_wr *w, int ok) {
  if (!w->err && !ok) {
    w->err = DSB_ERR_IPC_BAD_VALUE;
  }
}

long dsb_ipc_wr_done(const dsb_ipc_wr *w) {
  return w->err ? w->err : (long)w->off;
}
