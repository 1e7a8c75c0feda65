/* mem.c - the replaceable allocator (include/dsb/common.h). */
#include <stdlib.h>

#include "dsb/common.h"

static void *mem_libc_malloc(size_t size, void *ctx) {
  (void)ctx;
  return malloc(size);
}

static void mem_libc_free(void *ptr, void *ctx) {
  (void)ctx;
  free(ptr);
}

static void *mem_libc_calloc(size_t nmemb, size_t size, void *ctx) {
  (void)ctx;
  return calloc(nmemb, size);
}

static void *mem_libc_realloc(void *ptr, size_t size, void *ctx) {
  (void)ctx;
  return realloc(ptr, size);
}

static const dsb_mem mem_libc = {mem_libc_malloc, mem_libc_free,
                                 mem_libc_calloc, mem_libc_realloc, NULL};

const dsb_mem *dsb_mem_default(void) {
  return &mem_libc;
}

void *dsb_mem_malloc(const dsb_mem *mem, size_t size) {
  mem = mem ? mem : &mem_libc;
  return mem->malloc_fn(size, mem->ctx);
}

void *dsb_mem_calloc(const dsb_mem *mem, size_t nmemb, size_t size) {
  mem = mem ? mem : &mem_libc;
  return mem->calloc_fn(nmemb, size, mem->ctx);
}

void *dsb_mem_realloc(const dsb_mem *mem, void *ptr, size_t size) {
  mem = mem ? mem : &mem_libc;
  return mem->realloc_fn(ptr, size, mem->ctx);
}

void dsb_mem_free(const dsb_mem *mem, void *ptr) {
  if (!ptr) {
    return;
  }
  mem = mem ? mem : &mem_libc;
  mem->free_fn(ptr, mem->ctx);
}
