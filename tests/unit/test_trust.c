/*
 * test_trust.c - the trust table, its handshake-time check, its JSON text
 * form and its file (real files in a mkdtemp directory under /tmp).
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
#include "dsb/identity.h"
#include "dsb/statefile.h"
#include "dsb/trust.h"
#include "dsb/trust_file.h"

static dsb_device_id mkid(uint32_t n) {
  dsb_device_id id;
  /* Spread the counter so sorted order differs from insertion order. */
  for (int i = 0; i < DSB_DEVICE_ID_LEN; ++i) {
    id.b[i] = (uint8_t)((n * 2654435761u) >> ((i % 4) * 8)) ^ (uint8_t)i;
  }
  return id;
}

static dsb_trust *new_table(size_t cap) {
  dsb_trust *t = NULL;
  assert_int_equal(dsb_trust_new(&t, NULL, cap), 0);
  assert_non_null(t);
  return t;
}

static void test_add_get_remove(void **state) {
  (void)state;
  dsb_trust *t = new_table(0);
  dsb_device_id a = mkid(1), b = mkid(2);
  dsb_trust_entry e;

  assert_int_equal(dsb_trust_capacity(t), DSB_TRUST_DEFAULT_CAPACITY);
  assert_int_equal(dsb_trust_add(t, &a, DSB_TRUST_TRUSTED, "laptop"), 0);
  assert_int_equal(dsb_trust_add(t, &b, DSB_TRUST_BLOCKED, NULL), 0);
  assert_int_equal(dsb_trust_count(t), 2);
  assert_int_equal(dsb_trust_get(t, &a, &e), 0);
  assert_true(dsb_device_id_eq(&e.id, &a));
  assert_int_equal(e.state, DSB_TRUST_TRUSTED);
  assert_string_equal(e.name, "laptop");
  assert_int_equal(dsb_trust_get(t, &b, &e), 0);
  assert_string_equal(e.name, "");
  assert_int_equal(dsb_trust_state_of(t, &b), DSB_TRUST_BLOCKED);

  assert_int_equal(dsb_trust_remove(t, &a), 0);
  assert_int_equal(dsb_trust_get(t, &a, &e), DSB_ERR_NOT_FOUND);
  assert_int_equal(dsb_trust_remove(t, &a), DSB_ERR_NOT_FOUND);
  assert_int_equal(dsb_trust_state_of(t, &a), DSB_TRUST_UNKNOWN);
  assert_int_equal(dsb_trust_count(t), 1);
  dsb_trust_clear(t);
  assert_int_equal(dsb_trust_count(t), 0);
  dsb_trust_del(t);
  dsb_trust_del(NULL);
}

static void test_set_adds_and_updates(void **state) {
  (void)state;
  dsb_trust *t = new_table(0);
  dsb_device_id a = mkid(1);
  dsb_trust_entry e;

  assert_int_equal(dsb_trust_set(t, &a, DSB_TRUST_TRUSTED), 0);
  assert_int_equal(dsb_trust_set_name(t, &a, "phone"), 0);
  assert_int_equal(dsb_trust_set(t, &a, DSB_TRUST_BLOCKED), 0);
  assert_int_equal(dsb_trust_count(t), 1);
  assert_int_equal(dsb_trust_get(t, &a, &e), 0);
  assert_int_equal(e.state, DSB_TRUST_BLOCKED);
  assert_string_equal(e.name, "phone"); /* the name survives */
  assert_int_equal(dsb_trust_set_name(t, &a, NULL), 0);
  assert_int_equal(dsb_trust_get(t, &a, &e), 0);
  assert_string_equal(e.name, "");
  dsb_trust_del(t);
}

static void test_reject_duplicate_add(void **state) {
  (void)state;
  dsb_trust *t = new_table(0);
  dsb_device_id a = mkid(1);

  assert_int_equal(dsb_trust_add(t, &a, DSB_TRUST_TRUSTED, NULL), 0);
  assert_int_equal(dsb_trust_add(t, &a, DSB_TRUST_BLOCKED, NULL),
                   DSB_ERR_EXISTS);
  assert_int_equal(dsb_trust_state_of(t, &a), DSB_TRUST_TRUSTED);
  dsb_trust_del(t);
}

static void test_reject_set_name_missing(void **state) {
  (void)state;
  dsb_trust *t = new_table(0);
  dsb_device_id a = mkid(1);
  assert_int_equal(dsb_trust_set_name(t, &a, "x"), DSB_ERR_NOT_FOUND);
  dsb_trust_del(t);
}

static void test_reject_bad_arguments(void **state) {
  (void)state;
  dsb_trust *t = NULL;
  dsb_device_id a = mkid(1);

  assert_int_equal(dsb_trust_new(&t, NULL, DSB_TRUST_MAX_CAPACITY + 1),
                   DSB_ERR_INVALID_ARGUMENT);
  assert_null(t);
  t = new_table(0);
  assert_int_equal(dsb_trust_add(t, &a, (dsb_trust_state)3, NULL),
                   DSB_ERR_INVALID_ARGUMENT);
  assert_int_equal(dsb_trust_set(t, &a, (dsb_trust_state)-1),
                   DSB_ERR_INVALID_ARGUMENT);
  assert_int_equal(dsb_trust_add(t, NULL, DSB_TRUST_TRUSTED, NULL),
                   DSB_ERR_INVALID_ARGUMENT);
  assert_int_equal(dsb_trust_check(t, NULL, 0), DSB_ERR_INVALID_ARGUMENT);
  assert_int_equal(dsb_trust_count(t), 0);
  dsb_trust_del(t);
}

static void test_reject_bad_name(void **state) {
  (void)state;
  dsb_trust *t = new_table(0);
  dsb_device_id a = mkid(1);
  char longname[DSB_TRUST_NAME_MAX + 2];
  static const char *const bad[] = {
      "tab\there",        "new\nline",
      "del\x7f",          "\xc3",
      "\xc3\x28",         "\xc0\xaf",     /* overlong */
      "\xe0\x80\xaf",     "\xed\xa0\x80", /* surrogate */
      "\xf4\x90\x80\x80", /* > U+10FFFF */ "\xf8\x88\x80\x80\x80",
      "\xc2\x85",         /* C1 control NEL */ "\xff"};

  memset(longname, 'n', DSB_TRUST_NAME_MAX + 1);
  longname[DSB_TRUST_NAME_MAX + 1] = '\0';
  assert_int_equal(dsb_trust_add(t, &a, DSB_TRUST_TRUSTED, longname),
                   DSB_ERR_INVALID_ARGUMENT);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
    assert_int_equal(dsb_trust_add(t, &a, DSB_TRUST_TRUSTED, bad[i]),
                     DSB_ERR_INVALID_ARGUMENT);
  }
  assert_int_equal(dsb_trust_count(t), 0);

  /* Exactly 64 bytes, and multi-byte UTF-8, are fine. */
  longname[DSB_TRUST_NAME_MAX] = '\0';
  assert_int_equal(dsb_trust_add(t, &a, DSB_TRUST_TRUSTED, longname), 0);
  assert_int_equal(dsb_trust_set_name(t, &a,
                                      "K\xc3\xbc"
                                      "che \xe2\x82\xac "
                                      "\xf0\x9f\x92\xbb"),
                   0);
  assert_int_equal(dsb_trust_set_name(t, &a, "bad\x01"),
                   DSB_ERR_INVALID_ARGUMENT);
  dsb_trust_del(t);
}

static void test_list_sorted_by_id(void **state) {
  (void)state;
  dsb_trust *t = new_table(0);
  dsb_trust_entry out[40];

  for (uint32_t i = 0; i < 40; ++i) {
    dsb_device_id id = mkid(i);
    assert_int_equal(dsb_trust_add(t, &id, (dsb_trust_state)(i % 3), NULL), 0);
  }
  assert_int_equal(dsb_trust_list(t, out, 40), 40);
  for (size_t i = 1; i < 40; ++i) {
    assert_true(memcmp(out[i - 1].id.b, out[i].id.b, DSB_DEVICE_ID_LEN) < 0);
  }
  for (uint32_t i = 0; i < 40; ++i) {
    dsb_device_id id = mkid(i);
    assert_int_equal(dsb_trust_state_of(t, &id), (dsb_trust_state)(i % 3));
  }
  dsb_trust_del(t);
}

static void test_reject_list_buffer_too_small(void **state) {
  (void)state;
  dsb_trust *t = new_table(0);
  dsb_trust_entry out[2];

  for (uint32_t i = 0; i < 3; ++i) {
    dsb_device_id id = mkid(i);
    assert_int_equal(dsb_trust_set(t, &id, DSB_TRUST_TRUSTED), 0);
  }
  assert_int_equal(dsb_trust_list(t, out, 2), DSB_ERR_NOBUF);
  dsb_trust_del(t);
}

static int count_cb(void *ctx, const dsb_trust_entry *e) {
  int *n = ctx;
  (void)e;
  (*n)++;
  return *n == 3 ? 1 : 0;
}

static void test_foreach(void **state) {
  (void)state;
  dsb_trust *t = new_table(0);
  int n = 0;

  for (uint32_t i = 0; i < 2; ++i) {
    dsb_device_id id = mkid(i);
    assert_int_equal(dsb_trust_set(t, &id, DSB_TRUST_TRUSTED), 0);
  }
  assert_int_equal(dsb_trust_foreach(t, count_cb, &n), 0);
  assert_int_equal(n, 2);
  {
    dsb_device_id id = mkid(9);
    assert_int_equal(dsb_trust_set(t, &id, DSB_TRUST_TRUSTED), 0);
  }
  n = 0;
  /* The callback stops the walk at the third entry. */
  assert_int_equal(dsb_trust_foreach(t, count_cb, &n),
                   DSB_ERR_CALLBACK_FAILURE);
  assert_int_equal(n, 3);
  dsb_trust_del(t);
}

static void test_check(void **state) {
  (void)state;
  dsb_trust *t = new_table(0);
  dsb_device_id tr = mkid(1), bl = mkid(2), un = mkid(3), absent = mkid(4);

  assert_int_equal(dsb_trust_add(t, &tr, DSB_TRUST_TRUSTED, NULL), 0);
  assert_int_equal(dsb_trust_add(t, &bl, DSB_TRUST_BLOCKED, NULL), 0);
  assert_int_equal(dsb_trust_add(t, &un, DSB_TRUST_UNKNOWN, "seen"), 0);

  assert_int_equal(dsb_trust_check(t, &tr, 0), 0);
  assert_int_equal(dsb_trust_check(t, &bl, 0), DSB_ERR_TRUST_BLOCKED);
  assert_int_equal(dsb_trust_check(t, &un, 0), DSB_ERR_TRUST_UNKNOWN);
  assert_int_equal(dsb_trust_check(t, &absent, 0), DSB_ERR_TRUST_UNKNOWN);

  /* Lab mode lets unknown devices through, never blocked ones. */
  assert_int_equal(dsb_trust_check(t, &tr, DSB_TRUST_ALLOW_UNKNOWN), 0);
  assert_int_equal(dsb_trust_check(t, &un, DSB_TRUST_ALLOW_UNKNOWN), 0);
  assert_int_equal(dsb_trust_check(t, &absent, DSB_TRUST_ALLOW_UNKNOWN), 0);
  assert_int_equal(dsb_trust_check(t, &bl, DSB_TRUST_ALLOW_UNKNOWN),
                   DSB_ERR_TRUST_BLOCKED);

  /* No table: nobody is trusted. */
  assert_int_equal(dsb_trust_check(NULL, &tr, 0), DSB_ERR_TRUST_UNKNOWN);
  assert_int_equal(dsb_trust_check(NULL, &tr, DSB_TRUST_ALLOW_UNKNOWN), 0);

  /* Blocking after trusting takes effect at the next check. */
  assert_int_equal(dsb_trust_set(t, &tr, DSB_TRUST_BLOCKED), 0);
  assert_int_equal(dsb_trust_check(t, &tr, DSB_TRUST_ALLOW_UNKNOWN),
                   DSB_ERR_TRUST_BLOCKED);
  dsb_trust_del(t);
}

static void test_peer_check_adapter(void **state) {
  (void)state;
  dsb_trust *t = new_table(0);
  dsb_device_id tr = mkid(1), bl = mkid(2), un = mkid(3);
  dsb_trust_checker strict = {t, 0}, lab = {t, DSB_TRUST_ALLOW_UNKNOWN};

  assert_int_equal(dsb_trust_set(t, &tr, DSB_TRUST_TRUSTED), 0);
  assert_int_equal(dsb_trust_set(t, &bl, DSB_TRUST_BLOCKED), 0);
  assert_int_equal(dsb_trust_peer_check(&strict, &tr), 0);
  assert_int_equal(dsb_trust_peer_check(&strict, &bl), DSB_ERR_TRUST_BLOCKED);
  assert_int_equal(dsb_trust_peer_check(&strict, &un), DSB_ERR_TRUST_UNKNOWN);
  assert_int_equal(dsb_trust_peer_check(&lab, &un), 0);
  assert_int_equal(dsb_trust_peer_check(&lab, &bl), DSB_ERR_TRUST_BLOCKED);
  assert_int_equal(dsb_trust_peer_check(NULL, &tr), DSB_ERR_INVALID_ARGUMENT);
  dsb_trust_del(t);
}

static void test_reject_full_table(void **state) {
  (void)state;
  dsb_trust *t = new_table(4);
  dsb_device_id extra = mkid(100), first = mkid(0);

  for (uint32_t i = 0; i < 4; ++i) {
    dsb_device_id id = mkid(i);
    assert_int_equal(dsb_trust_add(t, &id, DSB_TRUST_TRUSTED, NULL), 0);
  }
  assert_int_equal(dsb_trust_add(t, &extra, DSB_TRUST_TRUSTED, NULL),
                   DSB_ERR_LIMIT);
  assert_int_equal(dsb_trust_set(t, &extra, DSB_TRUST_BLOCKED), DSB_ERR_LIMIT);
  assert_int_equal(dsb_trust_count(t), 4);
  /* Existing entries still change; freeing a slot admits a new one. */
  assert_int_equal(dsb_trust_set(t, &first, DSB_TRUST_BLOCKED), 0);
  assert_int_equal(dsb_trust_remove(t, &first), 0);
  assert_int_equal(dsb_trust_add(t, &extra, DSB_TRUST_TRUSTED, NULL), 0);
  dsb_trust_del(t);
}

static void test_reject_full_default_table(void **state) {
  (void)state;
  dsb_trust *t = new_table(0);
  dsb_device_id extra;

  for (uint32_t i = 0; i < DSB_TRUST_DEFAULT_CAPACITY; ++i) {
    dsb_device_id id;
    memset(&id, 0, sizeof(id));
    id.b[0] = (uint8_t)(i >> 8);
    id.b[1] = (uint8_t)i;
    assert_int_equal(dsb_trust_set(t, &id, DSB_TRUST_TRUSTED), 0);
  }
  memset(&extra, 0xff, sizeof(extra));
  assert_int_equal(dsb_trust_set(t, &extra, DSB_TRUST_TRUSTED), DSB_ERR_LIMIT);
  assert_int_equal(dsb_trust_count(t), DSB_TRUST_DEFAULT_CAPACITY);
  dsb_trust_del(t);
}

static void test_state_names(void **state) {
  (void)state;
  dsb_trust_state s;
  assert_string_equal(dsb_trust_state_name(DSB_TRUST_UNKNOWN), "unknown");
  assert_string_equal(dsb_trust_state_name(DSB_TRUST_TRUSTED), "trusted");
  assert_string_equal(dsb_trust_state_name(DSB_TRUST_BLOCKED), "blocked");
  assert_string_equal(dsb_trust_state_name((dsb_trust_state)7), "invalid");
  assert_int_equal(dsb_trust_state_parse(&s, "blocked", 7), 0);
  assert_int_equal(s, DSB_TRUST_BLOCKED);
  assert_int_equal(dsb_trust_state_parse(&s, "Trusted", 7), DSB_ERR_MALFORMED);
  assert_int_equal(dsb_trust_state_parse(&s, "trust", 5), DSB_ERR_MALFORMED);
}

/* ---- JSON --------------------------------------------------------------- */

static const char golden_json[] =
    "{\n"
    "  \"version\": 1,\n"
    "  \"devices\": [\n"
    "    {\n"
    "      \"id\": \"00000000000000000000000000000001\",\n"
    "      \"state\": \"trusted\",\n"
    "      \"name\": \"laptop \\\"work\\\" \\\\ K\xc3\xbc"
    "che/1\"\n"
    "    },\n"
    "    {\n"
    "      \"id\": \"ff000000000000000000000000000000\",\n"
    "      \"state\": \"blocked\"\n"
    "    }\n"
    "  ]\n"
    "}\n";

static void golden_table(dsb_trust *t) {
  dsb_device_id a, b;
  memset(&a, 0, sizeof(a));
  memset(&b, 0, sizeof(b));
  a.b[15] = 1;
  b.b[0] = 0xff;
  assert_int_equal(dsb_trust_add(t, &b, DSB_TRUST_BLOCKED, NULL), 0);
  assert_int_equal(dsb_trust_add(t, &a, DSB_TRUST_TRUSTED,
                                 "laptop \"work\" \\ K\xc3\xbc"
                                 "che/1"),
                   0);
}

static void test_json_golden(void **state) {
  (void)state;
  dsb_trust *t = new_table(0);
  char buf[4096];
  int n;

  golden_table(t);
  n = dsb_trust_to_json(t, buf, sizeof(buf));
  assert_int_equal(n, (int)strlen(golden_json));
  assert_string_equal(buf, golden_json);
  assert_true((size_t)n < dsb_trust_json_bound(t));
  assert_int_equal(dsb_trust_to_json(t, buf, (size_t)n + 1), n);
  assert_int_equal(dsb_trust_to_json(t, buf, (size_t)n), DSB_ERR_NOBUF);
  dsb_trust_del(t);
}

static void test_json_round_trip(void **state) {
  (void)state;
  dsb_trust *t = new_table(0), *u = new_table(0);
  dsb_trust_entry a[64], b[64];
  size_t cap;
  char *buf;
  int n;

  for (uint32_t i = 0; i < 50; ++i) {
    dsb_device_id id = mkid(i);
    char name[DSB_TRUST_NAME_MAX + 1];
    /* Worst-case names for escaping: quotes and backslashes. */
    memset(name, i % 2 ? '"' : '\\', DSB_TRUST_NAME_MAX);
    name[i % 3 == 0 ? 0 : DSB_TRUST_NAME_MAX] = '\0';
    assert_int_equal(dsb_trust_add(t, &id, (dsb_trust_state)(i % 3), name), 0);
  }
  cap = dsb_trust_json_bound(t);
  buf = malloc(cap);
  assert_non_null(buf);
  n = dsb_trust_to_json(t, buf, cap);
  assert_true(n > 0);
  assert_int_equal(dsb_trust_from_json(u, buf, (size_t)n), 0);
  assert_int_equal(dsb_trust_list(t, a, 64), 50);
  assert_int_equal(dsb_trust_list(u, b, 64), 50);
  assert_memory_equal(a, b, 50 * sizeof(a[0]));
  free(buf);
  dsb_trust_del(t);
  dsb_trust_del(u);
}

static void test_json_parse_accepts_upper_case_and_any_order(void **state) {
  (void)state;
  dsb_trust *t = new_table(0);
  dsb_device_id id;
  static const char text[] =
      "{\"devices\":[{\"state\":\"trusted\",\"name\":\"\","
      "\"id\":\"ABCDEF00000000000000000000000000\"}],\"version\":1}";
  static const char empty[] = "{\"version\":1,\"devices\":[]}";

  assert_int_equal(dsb_trust_from_json(t, text, strlen(text)), 0);
  assert_int_equal(
      dsb_device_id_parse(&id, "abcdef00000000000000000000000000", 32), 0);
  assert_int_equal(dsb_trust_check(t, &id, 0), 0);
  assert_int_equal(dsb_trust_from_json(t, empty, strlen(empty)), 0);
  assert_int_equal(dsb_trust_count(t), 0);
  dsb_trust_del(t);
}

#define ENTRY(x) "{\"version\":1,\"devices\":[" x "]}"
#define ID1 "\"id\":\"00000000000000000000000000000001\""

static void test_reject_corrupt_trust_json(void **state) {
  (void)state;
  dsb_trust *t = new_table(0);
  dsb_device_id keep = mkid(5);
  static const char *const bad[] = {
      "",
      "not json",
      "[]",
      "1",
      "null",
      "{}",
      "{\"version\":1}",
      "{\"devices\":[]}",
      "{\"version\":\"1\",\"devices\":[]}",
      "{\"version\":1.0,\"devices\":[]}",
      "{\"version\":1,\"devices\":{}}",
      "{\"version\":1,\"devices\":[],\"extra\":0}",
      "{\"version\":1,\"devices\":[]}x",
      "{\"version\":1,\"devices\":[]}{}",
      "{\"version\":1,\"devices\":[],}",
      "{\"version\":1,\"devices\":[]} /* c */",
      ENTRY("1"),
      ENTRY("[]"),
      ENTRY("{}"),
      ENTRY("{\"state\":\"trusted\"}"),
      ENTRY("{" ID1 "}"),
      ENTRY("{" ID1 ",\"state\":\"Trusted\"}"),
      ENTRY("{" ID1 ",\"state\":1}"),
      ENTRY("{" ID1 ",\"state\":null}"),
      ENTRY(
          "{\"id\":\"0000000000000000000000000000001\",\"state\":\"trusted\"}"),
      ENTRY("{\"id\":\"000000000000000000000000000000001\","
            "\"state\":\"trusted\"}"),
      ENTRY("{\"id\":\"g0000000000000000000000000000001\","
            "\"state\":\"trusted\"}"),
      ENTRY("{\"id\":1,\"state\":\"trusted\"}"),
      ENTRY("{" ID1 ",\"state\":\"trusted\",\"name\":5}"),
      ENTRY("{" ID1 ",\"state\":\"trusted\",\"name\":\"a\\u0000b\"}"),
      ENTRY("{" ID1 ",\"state\":\"trusted\",\"name\":\"a\\nb\"}"),
      ENTRY("{" ID1 ",\"state\":\"trusted\",\"name\":\"\xc3\x28\"}"),
      ENTRY(
          "{" ID1 ",\"state\":\"trusted\",\"name\":"
          "\"12345678901234567890123456789012345678901234567890123456789012345"
          "\"}"),
      ENTRY("{" ID1 ",\"state\":\"trusted\",\"group\":\"x\"}"),
      ENTRY("{" ID1 ",\"state\":\"trusted\"},{" ID1 ",\"state\":\"blocked\"}"),
      ENTRY("{" ID1 ",\"state\":\"trusted\"},"
            "{\"id\":\"00000000000000000000000000000001\","
            "\"state\":\"trusted\"}"),
      ENTRY(
          "{\"id\":\"abcdef00000000000000000000000000\",\"state\":\"trusted\"},"
          "{\"id\":\"ABCDEF00000000000000000000000000\",\"state\":"
          "\"trusted\"}"),
      "{\"version\":1,\"devices\":[[[[[[[[[[[[]]]]]]]]]]]]}",
  };

  assert_int_equal(dsb_trust_set(t, &keep, DSB_TRUST_TRUSTED), 0);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
    int rv = dsb_trust_from_json(t, bad[i], strlen(bad[i]));
    if (rv != DSB_ERR_TRUST_FILE_CORRUPT) {
      fail_msg("case %zu (%s): got %s", i, bad[i], dsb_err_name(rv));
    }
    /* A rejected text leaves the table as it was. */
    assert_int_equal(dsb_trust_count(t), 1);
    assert_int_equal(dsb_trust_check(t, &keep, 0), 0);
  }
  /* An embedded NUL byte. */
  {
    static const char nul[] = "{\"version\":1,\0\"devices\":[]}";
    assert_int_equal(dsb_trust_from_json(t, nul, sizeof(nul) - 1),
                     DSB_ERR_TRUST_FILE_CORRUPT);
  }
  dsb_trust_del(t);
}

static void test_reject_truncated_trust_json(void **state) {
  (void)state;
  dsb_trust *t = new_table(0);
  size_t full = strlen(golden_json);

  /* golden_json ends with "}\n": every shorter prefix is truncated. */
  for (size_t len = 0; len < full - 1; ++len) {
    assert_int_equal(dsb_trust_from_json(t, golden_json, len),
                     DSB_ERR_TRUST_FILE_CORRUPT);
  }
  assert_int_equal(dsb_trust_from_json(t, golden_json, full - 1), 0);
  assert_int_equal(dsb_trust_count(t), 2);
  dsb_trust_del(t);
}

static void test_reject_unknown_trust_json_version(void **state) {
  (void)state;
  dsb_trust *t = new_table(0);
  static const char v2[] = "{\"version\":2,\"devices\":[],\"groups\":[]}";
  static const char v0[] = "{\"version\":0,\"devices\":[]}";
  assert_int_equal(dsb_trust_from_json(t, v2, strlen(v2)),
                   DSB_ERR_STATEFILE_VERSION);
  assert_int_equal(dsb_trust_from_json(t, v0, strlen(v0)),
                   DSB_ERR_STATEFILE_VERSION);
  dsb_trust_del(t);
}

static void test_reject_trust_json_over_capacity(void **state) {
  (void)state;
  dsb_trust *big = new_table(0), *small = new_table(2);
  char buf[4096];
  int n;

  for (uint32_t i = 0; i < 3; ++i) {
    dsb_device_id id = mkid(i);
    assert_int_equal(dsb_trust_set(big, &id, DSB_TRUST_TRUSTED), 0);
  }
  n = dsb_trust_to_json(big, buf, sizeof(buf));
  assert_true(n > 0);
  assert_int_equal(dsb_trust_from_json(small, buf, (size_t)n), DSB_ERR_LIMIT);
  assert_int_equal(dsb_trust_count(small), 0);
  dsb_trust_del(big);
  dsb_trust_del(small);
}

static void test_reject_trust_json_too_long(void **state) {
  (void)state;
  dsb_trust *t = new_table(1);
  size_t max = dsb_trust_json_max(t);
  char *buf = malloc(max + 1);
  static const char head[] = "{\"version\":1,\"devices\":[]}";

  assert_non_null(buf);
  memset(buf, ' ', max + 1);
  memcpy(buf, head, sizeof(head) - 1);
  assert_int_equal(dsb_trust_from_json(t, buf, max), 0);
  assert_int_equal(dsb_trust_from_json(t, buf, max + 1),
                   DSB_ERR_TRUST_FILE_CORRUPT);
  free(buf);
  dsb_trust_del(t);
}

/* ---- failing allocator -------------------------------------------------- */

typedef struct failmem {
  int countdown; /* fail when it reaches 0; negative: never */
  int calls;
} failmem;

static void *fm_malloc(size_t size, void *ctx) {
  failmem *f = ctx;
  f->calls++;
  if (f->countdown >= 0 && f->countdown-- == 0) {
    return NULL;
  }
  return malloc(size);
}

static void fm_free(void *p, void *ctx) {
  (void)ctx;
  free(p);
}

static void *fm_calloc(size_t n, size_t size, void *ctx) {
  failmem *f = ctx;
  f->calls++;
  if (f->countdown >= 0 && f->countdown-- == 0) {
    return NULL;
  }
  return calloc(n, size);
}

static void *fm_realloc(void *p, size_t size, void *ctx) {
  failmem *f = ctx;
  f->calls++;
  if (f->countdown >= 0 && f->countdown-- == 0) {
    return NULL;
  }
  return realloc(p, size);
}

/* One scenario; returns the first error or 0. */
static int failmem_scenario(const dsb_mem *mem) {
  dsb_trust *t = NULL;
  int rv = dsb_trust_new(&t, mem, 64);
  if (rv != 0) {
    return rv;
  }
  for (uint32_t i = 0; i < 40 && rv == 0; ++i) {
    dsb_device_id id = mkid(i);
    rv = dsb_trust_set(t, &id, DSB_TRUST_TRUSTED);
  }
  if (rv == 0) {
    rv = dsb_trust_from_json(t, golden_json, strlen(golden_json));
  }
  if (rv == 0) {
    assert_int_equal(dsb_trust_count(t), 2);
  }
  dsb_trust_del(t);
  return rv;
}

static void test_failing_allocator(void **state) {
  (void)state;
  failmem f = {-1, 0};
  dsb_mem mem = {fm_malloc, fm_free, fm_calloc, fm_realloc, &f};
  int total;

  assert_int_equal(failmem_scenario(&mem), 0);
  total = f.calls;
  assert_true(total > 2);
  for (int i = 0; i < total; ++i) {
    f.countdown = i;
    f.calls = 0;
    assert_int_equal(failmem_scenario(&mem), DSB_ERR_NOMEM);
  }
}

/* ---- files -------------------------------------------------------------- */

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
  strcpy(f->dir, "/tmp/dsb-test-trust-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  assert_int_equal(
      dsb_statefile_join(f->path, sizeof(f->path), f->dir, DSB_TRUST_FILE_NAME),
      0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  assert_int_equal(nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
  free(f);
  return 0;
}

static void write_text(const char *path, const char *text, mode_t mode) {
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
  assert_int_equal(fclose(fp), 0);
  assert_int_equal(chmod(path, mode), 0);
}

static void test_trust_file_round_trip(void **state) {
  fixture *f = *state;
  dsb_trust *t = new_table(0), *u = new_table(0);
  dsb_trust_entry a[8], b[8];
  struct stat st;
  struct dirent *de;
  int files = 0;

  golden_table(t);
  assert_int_equal(dsb_trust_file_save(t, f->path), 0);
  assert_int_equal(stat(f->path, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0600);
  assert_int_equal(dsb_trust_file_load(u, f->path), 0);
  assert_int_equal(dsb_trust_list(t, a, 8), 2);
  assert_int_equal(dsb_trust_list(u, b, 8), 2);
  assert_memory_equal(a, b, 2 * sizeof(a[0]));

  /* Save again after a change: replaced atomically, no leftovers. */
  {
    dsb_device_id id = mkid(77);
    assert_int_equal(dsb_trust_set(t, &id, DSB_TRUST_TRUSTED), 0);
  }
  assert_int_equal(dsb_trust_file_save(t, f->path), 0);
  assert_int_equal(dsb_trust_file_load(u, f->path), 0);
  assert_int_equal(dsb_trust_count(u), 3);
  DIR *d = opendir(f->dir);
  assert_non_null(d);
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] != '.' || de->d_name[1] == 't') {
      if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
        assert_string_equal(de->d_name, DSB_TRUST_FILE_NAME);
        files++;
      }
    }
  }
  closedir(d);
  assert_int_equal(files, 1);
  dsb_trust_del(t);
  dsb_trust_del(u);
}

static void test_trust_file_golden_text(void **state) {
  fixture *f = *state;
  dsb_trust *t = new_table(0);
  char buf[4096];
  FILE *fp;
  size_t n;

  golden_table(t);
  assert_int_equal(dsb_trust_file_save(t, f->path), 0);
  fp = fopen(f->path, "rb");
  assert_non_null(fp);
  n = fread(buf, 1, sizeof(buf) - 1, fp);
  fclose(fp);
  buf[n] = '\0';
  assert_string_equal(buf, golden_json);
  dsb_trust_del(t);
}

static void test_reject_trust_file_missing(void **state) {
  fixture *f = *state;
  dsb_trust *t = new_table(0);
  assert_int_equal(dsb_trust_file_load(t, f->path), DSB_ERR_NOT_FOUND);
  dsb_trust_del(t);
}

static void test_reject_trust_file_mode(void **state) {
  fixture *f = *state;
  dsb_trust *t = new_table(0);

  write_text(f->path, golden_json, 0664);
  assert_int_equal(dsb_trust_file_load(t, f->path), DSB_ERR_STATEFILE_MODE);
  assert_int_equal(chmod(f->path, 0646), 0);
  assert_int_equal(dsb_trust_file_load(t, f->path), DSB_ERR_STATEFILE_MODE);
  assert_int_equal(dsb_trust_count(t), 0);
  /* Readable by others is fine: nothing secret in it. */
  assert_int_equal(chmod(f->path, 0644), 0);
  assert_int_equal(dsb_trust_file_load(t, f->path), 0);
  assert_int_equal(dsb_trust_count(t), 2);
  dsb_trust_del(t);
}

static void test_reject_corrupt_trust_file(void **state) {
  fixture *f = *state;
  dsb_trust *t = new_table(0);
  char text[sizeof(golden_json)];

  /* Truncated in the middle of an entry. */
  memcpy(text, golden_json, sizeof(text));
  text[sizeof(text) / 2] = '\0';
  write_text(f->path, text, 0600);
  assert_int_equal(dsb_trust_file_load(t, f->path), DSB_ERR_TRUST_FILE_CORRUPT);
  /* A flipped byte in a state name. */
  memcpy(text, golden_json, sizeof(text));
  *strstr(text, "blocked") = 'B';
  write_text(f->path, text, 0600);
  assert_int_equal(dsb_trust_file_load(t, f->path), DSB_ERR_TRUST_FILE_CORRUPT);
  assert_int_equal(dsb_trust_count(t), 0);
  dsb_trust_del(t);
}

static void test_reject_trust_file_too_long(void **state) {
  fixture *f = *state;
  dsb_trust *t = new_table(1);
  size_t len = dsb_trust_json_max(t) + 1;
  char *text = malloc(len + 1);

  assert_non_null(text);
  memset(text, ' ', len);
  text[len] = '\0';
  memcpy(text, "{\"version\":1,\"devices\":[]}", 26);
  write_text(f->path, text, 0600);
  assert_int_equal(dsb_trust_file_load(t, f->path), DSB_ERR_TRUST_FILE_CORRUPT);
  free(text);
  dsb_trust_del(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_add_get_remove),
      cmocka_unit_test(test_set_adds_and_updates),
      cmocka_unit_test(test_reject_duplicate_add),
      cmocka_unit_test(test_reject_set_name_missing),
      cmocka_unit_test(test_reject_bad_arguments),
      cmocka_unit_test(test_reject_bad_name),
      cmocka_unit_test(test_list_sorted_by_id),
      cmocka_unit_test(test_reject_list_buffer_too_small),
      cmocka_unit_test(test_foreach),
      cmocka_unit_test(test_check),
      cmocka_unit_test(test_peer_check_adapter),
      cmocka_unit_test(test_reject_full_table),
      cmocka_unit_test(test_reject_full_default_table),
      cmocka_unit_test(test_state_names),
      cmocka_unit_test(test_json_golden),
      cmocka_unit_test(test_json_round_trip),
      cmocka_unit_test(test_json_parse_accepts_upper_case_and_any_order),
      cmocka_unit_test(test_reject_corrupt_trust_json),
      cmocka_unit_test(test_reject_truncated_trust_json),
      cmocka_unit_test(test_reject_unknown_trust_json_version),
      cmocka_unit_test(test_reject_trust_json_over_capacity),
      cmocka_unit_test(test_reject_trust_json_too_long),
      cmocka_unit_test(test_failing_allocator),
      cmocka_unit_test_setup_teardown(test_trust_file_round_trip, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_trust_file_golden_text, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_reject_trust_file_missing, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_reject_trust_file_mode, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_reject_corrupt_trust_file, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_reject_trust_file_too_long, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
