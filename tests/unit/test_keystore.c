/*
 * test_keystore.c - the identity file: format, creation on first use,
 * permissions, corruption detection, never replacing an existing file.
 * Real files in a fresh mkdtemp directory under /tmp.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "dsb/crypto.h"
#include "dsb/err.h"
#include "dsb/identity.h"
#include "dsb/keystore.h"
#include "dsb/statefile.h"

typedef struct fixture {
  char dir[64];
  char state[128]; /* <dir>/state: created by the code under test */
  char key[192];   /* <dir>/state/identity.key */
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
  strcpy(f->dir, "/tmp/dsb-test-keystore-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
  snprintf(f->key, sizeof(f->key), "%s/identity.key", f->state);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  assert_int_equal(nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
  free(f);
  return 0;
}

static int counter_rng(void *ctx, uint8_t *buf, size_t len) {
  uint8_t *c = ctx;
  for (size_t i = 0; i < len; ++i) {
    buf[i] = (*c)++;
  }
  return 0;
}

static void vector_identity(dsb_identity *ident) {
  uint8_t seed[32], ssk[32];
  for (int i = 0; i < 32; ++i) {
    seed[i] = (uint8_t)i;
    ssk[i] = (uint8_t)(32 + i);
  }
  assert_int_equal(dsb_identity_from_secrets(ident, seed, ssk), 0);
}

static size_t read_file(const char *path, uint8_t *buf, size_t cap) {
  FILE *fp = fopen(path, "rb");
  assert_non_null(fp);
  size_t n = fread(buf, 1, cap, fp);
  fclose(fp);
  return n;
}

/* Overwrite |path| in place, keeping its mode (0600). */
static void write_file(const char *path, const uint8_t *buf, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, buf, len), (ssize_t)len);
  assert_int_equal(close(fd), 0);
}

static mode_t file_mode(const char *path) {
  struct stat st;
  assert_int_equal(lstat(path, &st), 0);
  return st.st_mode & 07777;
}

static void create_seeded(fixture *f, dsb_identity *ident) {
  uint8_t ctr = 1;
  dsb_rng rng = {counter_rng, &ctr};
  uint32_t flags = 0;
  assert_int_equal(dsb_keystore_load_or_create(ident, f->state, &rng, &flags),
                   0);
  assert_int_equal(flags, DSB_KEYSTORE_CREATED);
}

static void test_encode_vector(void **state) {
  (void)state;
  dsb_identity ident;
  uint8_t buf[DSB_KEYSTORE_FILE_LEN];
  uint8_t want[DSB_KEYSTORE_FILE_LEN];
  /* Checksum computed independently (Python hashlib.blake2s). */
  static const uint8_t sum[32] = {
      0x9b, 0xd9, 0xd4, 0x82, 0x42, 0xac, 0xb0, 0xeb, 0x5d, 0x3b, 0x6c,
      0x75, 0x34, 0x35, 0xc5, 0x28, 0x8e, 0xd3, 0x02, 0xdd, 0x75, 0x92,
      0x10, 0x0f, 0xe0, 0xfa, 0xc4, 0x41, 0xfe, 0x4a, 0x2d, 0xc8};

  vector_identity(&ident);
  memcpy(want, "DSBIDKEY\x01\x00\x00\x00", 12);
  for (int i = 0; i < 64; ++i) {
    want[12 + i] = (uint8_t)i;
  }
  memcpy(want + 76, sum, 32);
  assert_int_equal(dsb_keystore_encode(buf, sizeof(buf), &ident),
                   DSB_KEYSTORE_FILE_LEN);
  assert_memory_equal(buf, want, sizeof(want));
  assert_int_equal(dsb_keystore_encode(buf, sizeof(buf) - 1, &ident),
                   DSB_ERR_NOBUF);
  dsb_identity_wipe(&ident);
}

static void test_encode_decode_round_trip(void **state) {
  (void)state;
  dsb_identity a, b;
  uint8_t buf[DSB_KEYSTORE_FILE_LEN];
  uint8_t ctr = 9;
  dsb_rng rng = {counter_rng, &ctr};

  assert_int_equal(dsb_identity_generate(&a, &rng), 0);
  assert_int_equal(dsb_keystore_encode(buf, sizeof(buf), &a),
                   DSB_KEYSTORE_FILE_LEN);
  assert_int_equal(dsb_keystore_decode(&b, buf, sizeof(buf)), 0);
  assert_memory_equal(&a, &b, sizeof(a));
  dsb_identity_wipe(&a);
  dsb_identity_wipe(&b);
}

static void test_create_then_load_round_trip(void **state) {
  fixture *f = *state;
  dsb_identity a, b, c;
  uint32_t flags = 0xff;

  create_seeded(f, &a);
  assert_int_equal(file_mode(f->key), 0600);
  assert_int_equal(file_mode(f->state), 0700);

  /* Second start: same identity, nothing created. */
  assert_int_equal(dsb_keystore_load_or_create(&b, f->state, NULL, &flags), 0);
  assert_int_equal(flags, 0);
  assert_memory_equal(&a, &b, sizeof(a));

  assert_int_equal(dsb_keystore_load(&c, f->key), 0);
  assert_memory_equal(&a, &c, sizeof(a));
  dsb_identity_wipe(&a);
  dsb_identity_wipe(&b);
  dsb_identity_wipe(&c);
}

static void test_create_leaves_no_temp_files(void **state) {
  fixture *f = *state;
  dsb_identity a;
  struct dirent *de;
  int entries = 0;

  create_seeded(f, &a);
  DIR *d = opendir(f->state);
  assert_non_null(d);
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
      continue;
    }
    assert_string_equal(de->d_name, DSB_KEYSTORE_FILE_NAME);
    entries++;
  }
  closedir(d);
  assert_int_equal(entries, 1);
  dsb_identity_wipe(&a);
}

static void test_default_rng_creates_distinct_identities(void **state) {
  fixture *f = *state;
  dsb_identity a, b;
  char other[160];
  uint32_t flags = 0;

  assert_int_equal(dsb_keystore_load_or_create(&a, f->state, NULL, &flags), 0);
  assert_int_equal(flags, DSB_KEYSTORE_CREATED);
  snprintf(other, sizeof(other), "%s/other/nested", f->dir);
  assert_int_equal(dsb_keystore_load_or_create(&b, other, NULL, &flags), 0);
  assert_int_equal(flags, DSB_KEYSTORE_CREATED);
  assert_memory_not_equal(a.ed_seed, b.ed_seed, 32);
  dsb_identity_wipe(&a);
  dsb_identity_wipe(&b);
}

static void test_reject_load_missing_file(void **state) {
  fixture *f = *state;
  dsb_identity a;
  assert_int_equal(dsb_keystore_load(&a, f->key), DSB_ERR_NOT_FOUND);
}

static void test_reject_wrong_file_mode(void **state) {
  fixture *f = *state;
  dsb_identity a, b;
  uint8_t before[256], after[256];
  size_t nb, na;
  static const mode_t bad[] = {0640, 0604, 0644, 0660, 0606,
                               0700, 0601, 0610, 0666, 04600};

  create_seeded(f, &a);
  nb = read_file(f->key, before, sizeof(before));
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
    assert_int_equal(chmod(f->key, bad[i]), 0);
    assert_int_equal(dsb_keystore_load(&b, f->key), DSB_ERR_IDENTITY_FILE_MODE);
    assert_int_equal(dsb_keystore_load_or_create(&b, f->state, NULL, NULL),
                     DSB_ERR_IDENTITY_FILE_MODE);
    /* Neither fixed nor replaced behind the operator's back. */
    assert_int_equal(file_mode(f->key), bad[i]);
    na = read_file(f->key, after, sizeof(after));
    assert_int_equal(na, nb);
    assert_memory_equal(after, before, nb);
  }
  /* 0400 (read-only for the owner) is safe. */
  assert_int_equal(chmod(f->key, 0400), 0);
  assert_int_equal(dsb_keystore_load(&b, f->key), 0);
  assert_memory_equal(&a, &b, sizeof(a));
  dsb_identity_wipe(&a);
  dsb_identity_wipe(&b);
}

static void test_reject_symlinked_identity_file(void **state) {
  fixture *f = *state;
  dsb_identity a, b;
  char real[160];

  create_seeded(f, &a);
  snprintf(real, sizeof(real), "%s/real.key", f->dir);
  assert_int_equal(rename(f->key, real), 0);
  assert_int_equal(symlink(real, f->key), 0);
  assert_int_equal(dsb_keystore_load(&b, f->key), DSB_ERR_IDENTITY_FILE_MODE);
  assert_int_equal(dsb_keystore_load_or_create(&b, f->state, NULL, NULL),
                   DSB_ERR_IDENTITY_FILE_MODE);
  dsb_identity_wipe(&a);
}

static void test_reject_identity_path_is_directory(void **state) {
  fixture *f = *state;
  dsb_identity b;

  assert_int_equal(mkdir(f->state, 0700), 0);
  assert_int_equal(mkdir(f->key, 0700), 0);
  assert_int_equal(dsb_keystore_load(&b, f->key), DSB_ERR_IDENTITY_FILE_MODE);
  assert_int_equal(dsb_keystore_load_or_create(&b, f->state, NULL, NULL),
                   DSB_ERR_IDENTITY_FILE_MODE);
}

static void test_reject_unsafe_state_dir(void **state) {
  fixture *f = *state;
  dsb_identity b;

  assert_int_equal(mkdir(f->state, 0700), 0);
  assert_int_equal(chmod(f->state, 0770), 0);
  assert_int_equal(dsb_keystore_load_or_create(&b, f->state, NULL, NULL),
                   DSB_ERR_STATEFILE_MODE);
  assert_int_equal(chmod(f->state, 0702), 0);
  assert_int_equal(dsb_keystore_load_or_create(&b, f->state, NULL, NULL),
                   DSB_ERR_STATEFILE_MODE);
  /* Nothing was created in it. */
  assert_int_equal(access(f->key, F_OK), -1);
  /* A world-readable (not writable) directory is acceptable. */
  assert_int_equal(chmod(f->state, 0755), 0);
  assert_int_equal(dsb_keystore_load_or_create(&b, f->state, NULL, NULL), 0);
  dsb_identity_wipe(&b);
}

static void test_reject_corrupt_identity_file(void **state) {
  fixture *f = *state;
  dsb_identity a, b;
  uint8_t good[DSB_KEYSTORE_FILE_LEN], now[256];

  create_seeded(f, &a);
  assert_int_equal(read_file(f->key, good, sizeof(good)), sizeof(good));

  /* Every truncation, through the file path. */
  for (size_t len = 0; len < sizeof(good); ++len) {
    write_file(f->key, good, len);
    assert_int_equal(dsb_keystore_load(&b, f->key),
                     DSB_ERR_IDENTITY_FILE_CORRUPT);
    assert_int_equal(dsb_keystore_load_or_create(&b, f->state, NULL, NULL),
                     DSB_ERR_IDENTITY_FILE_CORRUPT);
    /* Never silently replaced by a fresh identity. */
    assert_int_equal(read_file(f->key, now, sizeof(now)), len);
    assert_memory_equal(now, good, len);
  }

  /* A flipped byte at every offset except the version byte. */
  for (size_t i = 0; i < sizeof(good); ++i) {
    uint8_t bad[sizeof(good)];
    if (i == DSB_KEYSTORE_MAGIC_LEN) {
      continue;
    }
    memcpy(bad, good, sizeof(bad));
    bad[i] ^= 0x40;
    write_file(f->key, bad, sizeof(bad));
    assert_int_equal(dsb_keystore_load_or_create(&b, f->state, NULL, NULL),
                     DSB_ERR_IDENTITY_FILE_CORRUPT);
    assert_int_equal(read_file(f->key, now, sizeof(now)), sizeof(bad));
    assert_memory_equal(now, bad, sizeof(bad));
  }

  /* A trailing byte. */
  {
    uint8_t longer[sizeof(good) + 1];
    memcpy(longer, good, sizeof(good));
    longer[sizeof(good)] = 0;
    write_file(f->key, longer, sizeof(longer));
    assert_int_equal(dsb_keystore_load(&b, f->key),
                     DSB_ERR_IDENTITY_FILE_CORRUPT);
  }

  /* Restored, it loads again: the identity was never lost. */
  write_file(f->key, good, sizeof(good));
  assert_int_equal(dsb_keystore_load(&b, f->key), 0);
  assert_memory_equal(&a, &b, sizeof(a));
  dsb_identity_wipe(&a);
  dsb_identity_wipe(&b);
}

static void test_reject_corrupt_identity_image_every_bit(void **state) {
  (void)state;
  dsb_identity a, b;
  uint8_t good[DSB_KEYSTORE_FILE_LEN];

  vector_identity(&a);
  assert_int_equal(dsb_keystore_encode(good, sizeof(good), &a),
                   DSB_KEYSTORE_FILE_LEN);
  for (size_t i = 0; i < sizeof(good); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      uint8_t bad[sizeof(good)];
      memcpy(bad, good, sizeof(bad));
      bad[i] ^= (uint8_t)(1u << bit);
      int want = i == DSB_KEYSTORE_MAGIC_LEN ? DSB_ERR_STATEFILE_VERSION
                                             : DSB_ERR_IDENTITY_FILE_CORRUPT;
      assert_int_equal(dsb_keystore_decode(&b, bad, sizeof(bad)), want);
    }
  }
  assert_int_equal(dsb_keystore_decode(&b, NULL, 0),
                   DSB_ERR_IDENTITY_FILE_CORRUPT);
  dsb_identity_wipe(&a);
}

static void test_reject_unknown_identity_file_version(void **state) {
  fixture *f = *state;
  dsb_identity a, b;
  uint8_t buf[DSB_KEYSTORE_FILE_LEN];

  create_seeded(f, &a);
  assert_int_equal(read_file(f->key, buf, sizeof(buf)), sizeof(buf));
  buf[DSB_KEYSTORE_MAGIC_LEN] = 2;
  write_file(f->key, buf, sizeof(buf));
  assert_int_equal(dsb_keystore_load(&b, f->key), DSB_ERR_STATEFILE_VERSION);
  assert_int_equal(dsb_keystore_load_or_create(&b, f->state, NULL, NULL),
                   DSB_ERR_STATEFILE_VERSION);
  dsb_identity_wipe(&a);
}

static void test_reject_create_over_existing(void **state) {
  fixture *f = *state;
  dsb_identity a, other;
  uint8_t before[DSB_KEYSTORE_FILE_LEN], after[DSB_KEYSTORE_FILE_LEN];

  create_seeded(f, &a);
  assert_int_equal(read_file(f->key, before, sizeof(before)), sizeof(before));
  assert_int_equal(dsb_identity_generate(&other, NULL), 0);
  assert_int_equal(dsb_keystore_create(f->key, &other), DSB_ERR_EXISTS);
  assert_int_equal(read_file(f->key, after, sizeof(after)), sizeof(after));
  assert_memory_equal(before, after, sizeof(before));
  dsb_identity_wipe(&a);
  dsb_identity_wipe(&other);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_encode_vector),
      cmocka_unit_test(test_encode_decode_round_trip),
      cmocka_unit_test(test_reject_corrupt_identity_image_every_bit),
      cmocka_unit_test_setup_teardown(test_create_then_load_round_trip, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_create_leaves_no_temp_files, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_default_rng_creates_distinct_identities, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reject_load_missing_file, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_reject_wrong_file_mode, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_reject_symlinked_identity_file,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_reject_identity_path_is_directory,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_reject_unsafe_state_dir, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_reject_corrupt_identity_file, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_reject_unknown_identity_file_version,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_reject_create_over_existing, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
