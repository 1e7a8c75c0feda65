/*
 * dsb/common.h - types shared by every dsoftbus-lite module.
 *
 * Thread safety: the types here are plain values. Objects built on them
 * (sessions, muxes, tables) are not thread-safe; use one per thread or lock
 * around them.
 */
#ifndef DSB_COMMON_H
#define DSB_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#  define DSB_MUST_CHECK __attribute__((warn_unused_result))
#else
#  define DSB_MUST_CHECK
#endif

/*
 * Monotonic time in nanoseconds. Cores never read a clock: the caller passes
 * the current time into every call that needs it, and cores assert that it
 * never goes backwards.
 */
typedef uint64_t dsb_tstamp;

#define DSB_NS_PER_MS UINT64_C(1000000)
#define DSB_NS_PER_S UINT64_C(1000000000)

/*
 * Randomness source. |fn| fills |buf| with |len| random bytes and returns 0,
 * or a negative DSB_ERR_* code. Cores take a dsb_rng at creation; tests
 * inject a deterministic one. dsb_rng_default() (crypto.h) is the CSPRNG.
 */
typedef int (*dsb_rng_fn)(void *ctx, uint8_t *buf, size_t len);

typedef struct dsb_rng {
  dsb_rng_fn fn;
  void *ctx;
} dsb_rng;

/*
 * Replaceable allocator. Every core object is allocated through the dsb_mem
 * given at creation (NULL means libc), so tests can fail the i-th
 * allocation.
 */
typedef struct dsb_mem {
  void *(*malloc_fn)(size_t size, void *ctx);
  void (*free_fn)(void *ptr, void *ctx);
  void *(*calloc_fn)(size_t nmemb, size_t size, void *ctx);
  void *(*realloc_fn)(void *ptr, size_t size, void *ctx);
  void *ctx;
} dsb_mem;

/* The libc allocator. */
const dsb_mem *dsb_mem_default(void);

void *dsb_mem_malloc(const dsb_mem *mem, size_t size);
void *dsb_mem_calloc(const dsb_mem *mem, size_t nmemb, size_t size);
void *dsb_mem_realloc(const dsb_mem *mem, void *ptr, size_t size);
void dsb_mem_free(const dsb_mem *mem, void *ptr);

/* Log levels for the logging callbacks cores accept. */
typedef enum dsb_log_level {
  DSB_LOG_ERROR = 0,
  DSB_LOG_WARN = 1,
  DSB_LOG_INFO = 2,
  DSB_LOG_DEBUG = 3
} dsb_log_level;

/*
 * Log callback. |msg| is borrowed for the call. Cores never pass keys,
 * nonces, plaintext or transcript hashes here.
 */
typedef void (*dsb_log_fn)(void *ctx, dsb_log_level level, const char *msg);

typedef struct dsb_log {
  dsb_log_fn fn;
  void *ctx;
} dsb_log;

#ifdef __cplusplus
}
#endif

#endif /* DSB_COMMON_H */
