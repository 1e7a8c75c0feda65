/*
 * test_statefile.c - atomic writes and checked reads of state files, in a
 * fresh mkdtemp directory under /tmp.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "dsb/err.h"
#include "dsb/statefile.h"

typedef struct fixture {
  char dir[64];
  char path[128];
} fixture;

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  strcpy(f->dir, "/tmp/dsb-test-statefile-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->path, sizeof(f->path), "%s/state.bin", f->dir);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  assert_int_equal(nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
  free(f);
  return 0;
}

static int count_entries(const char *dir) {
  struct dirent *de;
  int n = 0;
  DIR *d = opendir(dir);
  assert_non_null(d);
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
      n++;
    }
  }
  closedir(d);
  return n;
}

static void test_write_replace_and_read(void **state) {
  fixture *f = *state;
  uint8_t buf[16];
  size_t len = 0;
  struct stat st;

  assert_int_equal(
      dsb_statefile_write_atomic(f->path, (const uint8_t *)"first", 5, 0600),
      0);
  assert_int_equal(
      dsb_statefile_write_atomic(f->path, (const uint8_t *)"second!", 7, 0640),
      0);
  assert_int_equal(stat(f->path, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0640);
  assert_int_equal(dsb_statefile_read(f->path, buf, sizeof(buf), &len, 0644),
                   0);
  assert_int_equal(len, 7);
  assert_memory_equal(buf, "second!", 7);
  assert_int_equal(count_entries(f->dir), 1); /* no temporary left */

  /* An empty file is a valid state file. */
  assert_int_equal(dsb_statefile_write_atomic(f->path, NULL, 0, 0600), 0);
  assert_int_equal(dsb_statefile_read(f->path, buf, sizeof(buf), &len, 0600),
                   0);
  assert_int_equal(len, 0);
}

static void test_reject_create_over_existing(void **state) {
  fixture *f = *state;
  uint8_t buf[16];
  size_t len = 0;

  assert_int_equal(
      dsb_statefile_create_atomic(f->path, (const uint8_t *)"one", 3, 0600), 0);
  assert_int_equal(
      dsb_statefile_create_atomic(f->path, (const uint8_t *)"two", 3, 0600),
      DSB_ERR_EXISTS);
  assert_int_equal(dsb_statefile_read(f->path, buf, sizeof(buf), &len, 0600),
                   0);
  assert_memory_equal(buf, "one", 3);
  assert_int_equal(count_entries(f->dir), 1);
}

static void test_reject_write_into_missing_dir(void **state) {
  fixture *f = *state;
  char path[160];

  snprintf(path, sizeof(path), "%s/missing/file", f->dir);
  assert_int_equal(
      dsb_statefile_write_atomic(path, (const uint8_t *)"x", 1, 0600),
      DSB_ERR_NOT_FOUND);
  assert_int_equal(
      dsb_statefile_write_atomic("", (const uint8_t *)"x", 1, 0600),
      DSB_ERR_INVALID_ARGUMENT);
  snprintf(path, sizeof(path), "%s/", f->dir);
  assert_int_equal(
      dsb_statefile_write_atomic(path, (const uint8_t *)"x", 1, 0600),
      DSB_ERR_INVALID_ARGUMENT);
}

static void test_reject_read_longer_than_cap(void **state) {
  fixture *f = *state;
  uint8_t data[100], buf[100];
  size_t len = 0;

  memset(data, 0x5a, sizeof(data));
  assert_int_equal(dsb_statefile_write_atomic(f->path, data, 100, 0600), 0);
  assert_int_equal(dsb_statefile_read(f->path, buf, 99, &len, 0600),
                   DSB_ERR_LIMIT);
  assert_int_equal(dsb_statefile_read(f->path, buf, 100, &len, 0600), 0);
  assert_int_equal(len, 100);
}

static void test_read_alloc_grows_to_file_size(void **state) {
  fixture *f = *state;
  uint8_t *data = malloc(5000), *got = NULL;
  size_t len = 0;

  assert_non_null(data);
  for (size_t i = 0; i < 5000; ++i) {
    data[i] = (uint8_t)(i * 7);
  }
  assert_int_equal(dsb_statefile_write_atomic(f->path, data, 5000, 0600), 0);
  assert_int_equal(
      dsb_statefile_read_alloc(f->path, NULL, 5000, &got, &len, 0600), 0);
  assert_int_equal(len, 5000);
  assert_memory_equal(got, data, 5000);
  assert_int_equal(got[5000], 0); /* NUL-terminated for text parsers */
  free(got);
  got = NULL;
  assert_int_equal(
      dsb_statefile_read_alloc(f->path, NULL, 4999, &got, &len, 0600),
      DSB_ERR_LIMIT);
  assert_null(got);
  free(data);
}

static void test_reject_unsafe_files(void **state) {
  fixture *f = *state;
  uint8_t buf[16];
  size_t len = 0;
  char link[160], fifo[160];

  assert_int_equal(
      dsb_statefile_write_atomic(f->path, (const uint8_t *)"x", 1, 0660), 0);
  assert_int_equal(dsb_statefile_read(f->path, buf, sizeof(buf), &len, 0600),
                   DSB_ERR_STATEFILE_MODE);
  assert_int_equal(dsb_statefile_read(f->path, buf, sizeof(buf), &len, 0660),
                   0);

  snprintf(link, sizeof(link), "%s/link", f->dir);
  assert_int_equal(symlink(f->path, link), 0);
  assert_int_equal(dsb_statefile_read(link, buf, sizeof(buf), &len, 0777),
                   DSB_ERR_STATEFILE_MODE);

  /* A FIFO must not hang the reader. */
  snprintf(fifo, sizeof(fifo), "%s/fifo", f->dir);
  assert_int_equal(mkfifo(fifo, 0600), 0);
  assert_int_equal(dsb_statefile_read(fifo, buf, sizeof(buf), &len, 0600),
                   DSB_ERR_STATEFILE_MODE);

  assert_int_equal(dsb_statefile_read(f->dir, buf, sizeof(buf), &len, 0777),
                   DSB_ERR_STATEFILE_MODE);
  snprintf(link, sizeof(link), "%s/none", f->dir);
  assert_int_equal(dsb_statefile_read(link, buf, sizeof(buf), &len, 0600),
                   DSB_ERR_NOT_FOUND);
}

static void test_ensure_dir(void **state) {
  fixture *f = *state;
  char deep[192];
  struct stat st;

  snprintf(deep, sizeof(deep), "%s/a//b/c/", f->dir);
  assert_int_equal(dsb_statefile_ensure_dir(deep, 0700), 0);
  assert_int_equal(stat(deep, &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  assert_int_equal(st.st_mode & 0777, 0700);
  assert_int_equal(dsb_statefile_ensure_dir(deep, 0700), 0); /* idempotent */

  assert_int_equal(chmod(deep, 0720), 0);
  assert_int_equal(dsb_statefile_ensure_dir(deep, 0700),
                   DSB_ERR_STATEFILE_MODE);
  /* A file where a directory should be. */
  assert_int_equal(
      dsb_statefile_write_atomic(f->path, (const uint8_t *)"x", 1, 0600), 0);
  assert_int_equal(dsb_statefile_ensure_dir(f->path, 0700),
                   DSB_ERR_STATEFILE_MODE);
}

static void test_join(void **state) {
  (void)state;
  char out[16];
  assert_int_equal(dsb_statefile_join(out, sizeof(out), "/a/b", "c.key"), 0);
  assert_string_equal(out, "/a/b/c.key");
  assert_int_equal(dsb_statefile_join(out, sizeof(out), "/a/b/", "c.key"), 0);
  assert_string_equal(out, "/a/b/c.key");
  assert_int_equal(dsb_statefile_join(out, 11, "/a/b", "c.key"), 0);
  assert_int_equal(dsb_statefile_join(out, 10, "/a/b", "c.key"), DSB_ERR_NOBUF);
  assert_int_equal(dsb_statefile_join(out, sizeof(out), "", "c"),
                   DSB_ERR_INVALID_ARGUMENT);
  assert_int_equal(dsb_statefile_join(out, sizeof(out), "/a", ""),
                   DSB_ERR_INVALID_ARGUMENT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_write_replace_and_read, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_reject_create_over_existing, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_reject_write_into_missing_dir, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_reject_read_longer_than_cap, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_read_alloc_grows_to_file_size, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_reject_unsafe_files, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_ensure_dir, setup, teardown),
      cmocka_unit_test(test_join),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
