/*
 * mux_test_pair.h - two muxes joined by an in-memory record pipe, for the
 * mux tests. Records are carried whole, as the session would carry them.
 * Header-only so each test executable stays one file plus this.
 */
#ifndef DSB_MUX_TEST_PAIR_H
#define DSB_MUX_TEST_PAIR_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dsb/err.h"
#include "dsb/mux.h"

#define PAIR_RECORD DSB_MUX_MAX_RECORD_PLAINTEXT

/* Counts allocations and fails the fail_at-th one (0 = never). */
typedef struct failmem {
  uint64_t count;
  uint64_t fail_at;
  uint64_t failed;
} failmem;

static void *failmem_malloc(size_t size, void *ctx) {
  failmem *f = ctx;
  if (f->fail_at && ++f->count == f->fail_at) {
    f->failed++;
    return NULL;
  }
  return malloc(size);
}

static void failmem_free(void *ptr, void *ctx) {
  (void)ctx;
  free(ptr);
}

static void *failmem_calloc(size_t nmemb, size_t size, void *ctx) {
  failmem *f = ctx;
  if (f->fail_at && ++f->count == f->fail_at) {
    f->failed++;
    return NULL;
  }
  return calloc(nmemb, size);
}

static void *failmem_realloc(void *ptr, size_t size, void *ctx) {
  failmem *f = ctx;
  if (f->fail_at && ++f->count == f->fail_at) {
    f->failed++;
    return NULL;
  }
  return realloc(ptr, size);
}

static inline dsb_mem failmem_make(failmem *f) {
  dsb_mem m = {failmem_malloc, failmem_free, failmem_calloc, failmem_realloc,
               f};
  return m;
}

/* Moves records from |from| to |to| until |from| has nothing to send.
 * Returns the number of records or a negative error. |frames| (optional)
 * sees every record. */
typedef void (*pair_record_fn)(void *ctx, const uint8_t *rec, size_t len);

static inline long pair_flow(dsb_mux *from, dsb_mux *to, dsb_tstamp now,
                             pair_record_fn fn, void *ctx, long max_records) {
  static uint8_t rec[PAIR_RECORD];
  long n = 0;
  while (max_records < 0 || n < max_records) {
    long len = dsb_mux_send(from, rec, sizeof(rec), now);
    if (len < 0) {
      return len;
    }
    if (len == 0) {
      break;
    }
    if (fn) {
      fn(ctx, rec, (size_t)len);
    }
    long rv = dsb_mux_recv(to, rec, (size_t)len, now);
    if (rv < 0) {
      return rv;
    }
    n++;
  }
  return n;
}

/* Both directions until quiet (bounded). Returns 0 or a negative error. */
static inline int pair_pump(dsb_mux *a, dsb_mux *b, dsb_tstamp now) {
  for (int round = 0; round < 100000; ++round) {
    long x = pair_flow(a, b, now, NULL, NULL, -1);
    if (x < 0) {
      return (int)x;
    }
    long y = pair_flow(b, a, now, NULL, NULL, -1);
    if (y < 0) {
      return (int)y;
    }
    if (x == 0 && y == 0) {
      return 0;
    }
  }
  return DSB_ERR_INTERNAL;
}

/* Walks the frames of one record: fn(ctx, frame) for each. */
static inline int pair_each_frame(const uint8_t *rec, size_t len,
                                  void (*fn)(void *, const dsb_mux_frame *),
                                  void *ctx) {
  size_t off = 0;
  while (off < len) {
    dsb_mux_frame fr;
    long n = dsb_mux_frame_decode(&fr, rec + off, len - off);
    if (n < 0) {
      return (int)n;
    }
    fn(ctx, &fr);
    off += (size_t)n;
  }
  return 0;
}

#endif /* DSB_MUX_TEST_PAIR_H */
