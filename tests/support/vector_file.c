/* vector_file.c - reader for tests/vectors/ golden vector files
 * (vector_file.h). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vector_file.h"

vec vecs[VEC_MAX];

static int vec_hexval(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  return -1;
}

/* Hex digits of |hex| (spaces between byte groups allowed) into |out|. */
size_t vec_unhex(uint8_t *out, size_t cap, const char *hex) {
  size_t n = 0;
  for (const char *p = hex; *p;) {
    if (*p == ' ') {
      ++p;
      continue;
    }
    int hi = vec_hexval(p[0]);
    int lo = hi < 0 ? -1 : vec_hexval(p[1]);
    assert_true(hi >= 0 && lo >= 0);
    assert_true(n < cap);
    out[n++] = (uint8_t)(hi << 4 | lo);
    p += 2;
  }
  return n;
}

void vec_copy(char *dst, size_t cap, const char *src) {
  size_t len = strlen(src);
  assert_true(len < cap);
  memcpy(dst, src, len + 1);
}

/* Reads every vector of tests/vectors/|file| into vecs[]; returns the
 * count. The source tree comes from DSB_SOURCE_DIR (set by CTest), else
 * from this file's own path. */
size_t vec_load(const char *file) {
  char path[4096];
  static char line[4096];
  const char *src = getenv("DSB_SOURCE_DIR");
  if (src) {
    snprintf(path, sizeof(path), "%s/tests/vectors/%s", src, file);
  } else {
    snprintf(path, sizeof(path), "%s", __FILE__);
    char *cut = strstr(path, "/tests/support/");
    assert_non_null(cut);
    snprintf(cut, sizeof(path) - (size_t)(cut - path), "/tests/vectors/%s",
             file);
  }
  FILE *fp = fopen(path, "r");
  assert_non_null(fp);
  memset(vecs, 0, sizeof(vecs));
  size_t n = 0;
  vec *cur = NULL;
  while (fgets(line, sizeof(line), fp)) {
    assert_non_null(strchr(line, '\n')); /* no line longer than the buffer */
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0] == '#' || line[0] == '\0') {
      continue;
    }
    char *colon = strchr(line, ':');
    assert_non_null(colon);
    *colon = '\0';
    char *val = colon + 1;
    while (*val == ' ') {
      ++val;
    }
    if (strcmp(line, "vector") == 0) {
      assert_true(cur == NULL || cur->has_bytes);
      assert_true(n < VEC_MAX);
      cur = &vecs[n++];
      vec_copy(cur->name, sizeof(cur->name), val);
    } else if (strcmp(line, "bytes") == 0) {
      assert_true(cur != NULL && !cur->has_bytes);
      cur->nbytes = vec_unhex(cur->bytes, sizeof(cur->bytes), val);
      cur->has_bytes = 1;
    } else {
      assert_true(cur != NULL && !cur->has_bytes);
      assert_true(cur->nf < VEC_FIELDS);
      vec_field *f = &cur->f[cur->nf++];
      vec_copy(f->key, sizeof(f->key), line);
      vec_copy(f->value, sizeof(f->value), val);
    }
  }
  fclose(fp);
  assert_true(cur != NULL && cur->has_bytes);
  return n;
}

/* The |nth| (0-based) value of |key| in |v|, or NULL; marks it used. */
const char *vec_get(vec *v, const char *key, size_t nth) {
  for (size_t i = 0; i < v->nf; ++i) {
    if (strcmp(v->f[i].key, key) == 0 && nth-- == 0) {
      v->f[i].used = 1;
      return v->f[i].value;
    }
  }
  return NULL;
}

const char *vec_str(vec *v, const char *key) {
  const char *s = vec_get(v, key, 0);
  if (!s) {
    fail_msg("vector %s: no field %s", v->name, key);
  }
  return s;
}

/* An integer field: decimal or 0x-hex, nothing after it. */
uint64_t vec_u64(vec *v, const char *key) {
  const char *s = vec_str(v, key);
  char *end;
  errno = 0;
  unsigned long long x = strtoull(s, &end, 0);
  assert_true(*s != '\0' && *end == '\0' && errno == 0 && s[0] != '-');
  return (uint64_t)x;
}

size_t vec_hex(vec *v, const char *key, uint8_t *out, size_t cap) {
  return vec_unhex(out, cap, vec_str(v, key));
}

/* Every field of |v| was read by the check. */
void vec_all_used(const vec *v) {
  for (size_t i = 0; i < v->nf; ++i) {
    if (!v->f[i].used) {
      fail_msg("vector %s: field %s not checked", v->name, v->f[i].key);
    }
  }
}
