/*
 * vector_file.h - reader for the golden vector files in tests/vectors/
 * (written by tests/vectors/wire_vectors.py). One vector per block:
 * "vector: <name>", "<field>: <value>" lines, then "bytes: <hex>" (spaces
 * between byte groups ignored); '#' starts a comment. Failures are cmocka
 * assertions, so a test stops at the first malformed line.
 */
#ifndef DSB_TEST_VECTOR_FILE_H
#define DSB_TEST_VECTOR_FILE_H

#include <stddef.h>
#include <stdint.h>

#define VEC_MAX 48
#define VEC_FIELDS 24
#define VEC_VALUE 256
#define VEC_BYTES 512

typedef struct vec_field {
  char key[32];
  char value[VEC_VALUE];
  int used; /* every field must be checked: a typo cannot pass unread */
} vec_field;

typedef struct vec {
  char name[64];
  vec_field f[VEC_FIELDS];
  size_t nf;
  uint8_t bytes[VEC_BYTES];
  size_t nbytes;
  int has_bytes;
} vec;

/* The vectors of the last vec_load(). */
extern vec vecs[VEC_MAX];

/* Reads every vector of tests/vectors/|file| into vecs[]; returns the
 * count. The source tree comes from DSB_SOURCE_DIR (set by CTest), else
 * from this file's own path. */
size_t vec_load(const char *file);

/* Hex digits of |hex| (spaces between byte groups allowed) into |out|. */
size_t vec_unhex(uint8_t *out, size_t cap, const char *hex);

/* The |nth| (0-based) value of |key| in |v|, or NULL; marks it used. */
const char *vec_get(vec *v, const char *key, size_t nth);

/* The first value of |key|; fails the test if there is none. */
const char *vec_str(vec *v, const char *key);

/* An integer field: decimal or 0x-hex, nothing after it. */
uint64_t vec_u64(vec *v, const char *key);

/* A hex field into |out|; returns its length. */
size_t vec_hex(vec *v, const char *key, uint8_t *out, size_t cap);

/* Copy the string |src| into |dst| (|cap| bytes); fails if it does not fit. */
void vec_copy(char *dst, size_t cap, const char *src);

/* Every field of |v| was read by the check. */
void vec_all_used(const vec *v);

#endif /* DSB_TEST_VECTOR_FILE_H */
