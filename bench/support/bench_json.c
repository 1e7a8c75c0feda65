/*
 * bench_json.c - the shared results writer (bench_json.h). Read, append,
 * write to a temp file, rename: a reader never sees a half-written array.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "bench_json.h"

uint64_t dsb_bench_now_ns(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void dsb_bench_print_header(const char *title) {
  printf("\n%s\n", title);
  printf("%-44s %14s %-13s %14s %7s  %s\n", "figure", "value", "unit",
         "baseline", "ratio", "baseline is");
}

static json_object *bench_load(const char *path) {
  json_object *arr;
  FILE *f = fopen(path, "r");

  if (!f) {
    /* A missing file is an empty array; the first program creates it. */
    return errno == ENOENT ? json_object_new_array() : NULL;
  }
  fclose(f);
  arr = json_object_from_file(path);
  if (!arr || !json_object_is_type(arr, json_type_array)) {
    fprintf(stderr, "bench: %s is not a JSON array\n", path);
    json_object_put(arr);
    return NULL;
  }
  return arr;
}

static int bench_append(const char *path, const dsb_bench_result *r) {
  json_object *arr = bench_load(path);
  json_object *o;
  char tmp[4096];
  int rv = -1;

  if (!arr) {
    fprintf(stderr, "bench: cannot read %s\n", path);
    return -1;
  }
  o = json_object_new_object();
  if (!o) {
    goto out;
  }
  json_object_object_add(o, "name", json_object_new_string(r->name));
  json_object_object_add(o, "value", json_object_new_double(r->value));
  json_object_object_add(o, "unit", json_object_new_string(r->unit));
  json_object_object_add(
      o, "baseline", r->baseline ? json_object_new_string(r->baseline) : NULL);
  if (r->baseline_value > 0) {
    json_object_object_add(o, "baseline_value",
                           json_object_new_double(r->baseline_value));
    json_object_object_add(
        o, "ratio", json_object_new_double(r->value / r->baseline_value));
  } else {
    json_object_object_add(o, "baseline_value", NULL);
    json_object_object_add(o, "ratio", NULL);
  }
  json_object_array_add(arr, o);
  if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
      (int)sizeof(tmp)) {
    goto out;
  }
  if (json_object_to_file_ext(tmp, arr, JSON_C_TO_STRING_PRETTY) != 0) {
    fprintf(stderr, "bench: cannot write %s\n", tmp);
    goto out;
  }
  if (rename(tmp, path) != 0) {
    fprintf(stderr, "bench: cannot rename %s: %s\n", tmp, strerror(errno));
    remove(tmp);
    goto out;
  }
  rv = 0;
out:
  json_object_put(arr);
  return rv;
}

int dsb_bench_record(const dsb_bench_result *r) {
  const char *path = getenv("DSB_BENCH_RESULTS");

  if (r->baseline_value > 0) {
    printf("%-44s %14.2f %-13s %14.2f %6.1f%%  %s\n", r->name, r->value,
           r->unit, r->baseline_value, 100.0 * r->value / r->baseline_value,
           r->baseline ? r->baseline : "");
  } else {
    printf("%-44s %14.2f %-13s %14s %7s\n", r->name, r->value, r->unit, "-",
           "-");
  }
  fflush(stdout);
  if (!path || !*path) {
    return 0;
  }
  return bench_append(path, r);
}
