/*
 * dsb/wire.h - big-endian integer encoding for every wire format.
 *
 * Each put writes at |p| and returns the pointer past what it wrote; each get
 * reads from |p| into |*v| and returns the pointer past what it read. The
 * caller checks the remaining length first (see docs/PROTOCOL.md). Nothing
 * here allocates; all functions are thread-safe.
 */
#ifndef DSB_WIRE_H
#define DSB_WIRE_H

#include <stdint.h>
#include <string.h>

static inline uint8_t *dsb_wire_put_u8(uint8_t *p, uint8_t v) {
  *p = v;
  return p + 1;
}

static inline uint8_t *dsb_wire_put_u16be(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
  return p + 2;
}

static inline uint8_t *dsb_wire_put_u32be(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
  return p + 4;
}

static inline uint8_t *dsb_wire_put_u64be(uint8_t *p, uint64_t v) {
  p = dsb_wire_put_u32be(p, (uint32_t)(v >> 32));
  return dsb_wire_put_u32be(p, (uint32_t)v);
}

static inline uint8_t *dsb_wire_put_u64le(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; ++i) {
    p[i] = (uint8_t)(v >> (8 * i));
  }
  return p + 8;
}

static inline uint8_t *dsb_wire_put_bytes(uint8_t *p, const uint8_t *src,
                                          size_t len) {
  if (len) {
    memcpy(p, src, len);
  }
  return p + len;
}

static inline const uint8_t *dsb_wire_get_u8(const uint8_t *p, uint8_t *v) {
  *v = *p;
  return p + 1;
}

static inline const uint8_t *dsb_wire_get_u16be(const uint8_t *p, uint16_t *v) {
  *v = (uint16_t)(((uint16_t)p[0] << 8) | p[1]);
  return p + 2;
}

static inline const uint8_t *dsb_wire_get_u32be(const uint8_t *p, uint32_t *v) {
  *v = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) |
       (uint32_t)p[3];
  return p + 4;
}

static inline const uint8_t *dsb_wire_get_u64be(const uint8_t *p, uint64_t *v) {
  uint32_t hi, lo;
  p = dsb_wire_get_u32be(p, &hi);
  p = dsb_wire_get_u32be(p, &lo);
  *v = ((uint64_t)hi << 32) | lo;
  return p;
}

static inline const uint8_t *dsb_wire_get_u64le(const uint8_t *p, uint64_t *v) {
  uint64_t r = 0;
  for (int i = 7; i >= 0; --i) {
    r = (r << 8) | p[i];
  }
  *v = r;
  return p + 8;
}

#endif /* DSB_WIRE_H */
