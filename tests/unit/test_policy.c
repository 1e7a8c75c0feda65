/* test_policy.c - policy loading (errors name file and field), evaluation,
 * explanation, the default policy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dsb/err.h"
#include "dsb/policy.h"

#define PEER_A "00112233445566778899aabbccddeeff"
#define PEER_B "ffeeddccbbaa99887766554433221100"
#define T DSB_POLICY_PEER_TRUSTED

static long ev(const dsb_policy *p, const char *peer, unsigned flags,
               const char *svc, const char *meth) {
  return dsb_policy_eval(p, peer, flags, svc, strlen(svc), meth, strlen(meth));
}

static dsb_policy *load_ok(const char *text) {
  dsb_policy *p = NULL;
  char err[256];
  int rv = dsb_policy_load_json(&p, NULL, "policy.json", text, strlen(text),
                                err, sizeof(err));
  if (rv != 0) {
    print_error("unexpected load failure: %s\n", err);
  }
  assert_int_equal(rv, 0);
  assert_string_equal(err, "");
  return p;
}

/* Load |text|, expect DSB_ERR_PROXY_POLICY_INVALID and exactly |msg|. */
static void load_bad(const char *text, const char *msg) {
  dsb_policy *p = NULL;
  char err[256];
  int rv = dsb_policy_load_json(&p, NULL, "policy.json", text, strlen(text),
                                err, sizeof(err));
  assert_int_equal(rv, DSB_ERR_PROXY_POLICY_INVALID);
  assert_null(p);
  assert_string_equal(err, msg);
}

/* Like load_bad() when the end of the message comes from json-c. */
static void load_bad_prefix(const char *text, const char *prefix) {
  dsb_policy *p = NULL;
  char err[256];
  int rv = dsb_policy_load_json(&p, NULL, "policy.json", text, strlen(text),
                                err, sizeof(err));
  assert_int_equal(rv, DSB_ERR_PROXY_POLICY_INVALID);
  assert_null(p);
  if (strncmp(err, prefix, strlen(prefix)) != 0) {
    fail_msg("\"%s\" does not start with \"%s\"", err, prefix);
  }
}

static void test_default_policy(void **state) {
  (void)state;
  dsb_policy *p = NULL;
  assert_int_equal(dsb_policy_new_default(&p, NULL), 0);
  assert_int_equal(dsb_policy_rule_count(p), 3);
  assert_string_equal(dsb_policy_source(p), "default");
  assert_int_equal(ev(p, PEER_A, T, "samgr", "list"), 0);
  assert_int_equal(ev(p, PEER_A, T, "samgr", "resolve"), 1);
  assert_int_equal(ev(p, PEER_A, T, "echo", "echo"), 2);
  assert_int_equal(ev(p, PEER_A, T, "echo", "ping"), 2);
  /* Only lookups and echo, only from trusted devices. */
  assert_int_equal(ev(p, PEER_A, T, "samgr", "register"), DSB_ERR_PROXY_DENIED);
  assert_int_equal(ev(p, PEER_A, T, "bundles", "list"), DSB_ERR_PROXY_DENIED);
  assert_int_equal(ev(p, PEER_A, T, "camera", "snap"), DSB_ERR_PROXY_DENIED);
  assert_int_equal(ev(p, PEER_A, 0, "samgr", "list"), DSB_ERR_PROXY_DENIED);
  assert_int_equal(ev(p, PEER_A, 0, "echo", "echo"), DSB_ERR_PROXY_DENIED);
  dsb_policy_del(p);
}

static void test_load_and_first_match_wins(void **state) {
  (void)state;
  dsb_policy *p = load_ok(
      "{\"version\": 1, \"rules\": [\n"
      "  {\"peer\": \"" PEER_A "\", \"service\": \"camera\", \"method\": "
      "\"snap\", \"comment\": \"lab camera\"},\n"
      "  {\"peer\": \"trusted\", \"service\": \"camera\", \"method\": \"*\"},\n"
      "  {\"peer\": \"any\", \"service\": \"echo\", \"method\": \"ping\"},\n"
      "  {\"peer\": \"*\", \"service\": \"*\", \"method\": \"status\"}\n"
      "]}\n");
  assert_int_equal(dsb_policy_rule_count(p), 4);
  assert_int_equal(ev(p, PEER_A, 0, "camera", "snap"), 0);
  assert_int_equal(ev(p, PEER_A, T, "camera", "snap"), 0);
  assert_int_equal(ev(p, PEER_B, T, "camera", "snap"), 1);
  assert_int_equal(ev(p, PEER_B, T, "camera", "zoom"), 1);
  assert_int_equal(ev(p, PEER_B, 0, "echo", "ping"), 2);
  assert_int_equal(ev(p, PEER_B, 0, "anything", "status"), 3);
  assert_int_equal(ev(p, PEER_B, 0, "echo", "echo"), DSB_ERR_PROXY_DENIED);
  /* Names match exactly: no prefixes, no case folding. */
  assert_int_equal(ev(p, PEER_A, 0, "camera", "snapshot"),
                   DSB_ERR_PROXY_DENIED);
  assert_int_equal(ev(p, PEER_A, 0, "Camera", "snap"), DSB_ERR_PROXY_DENIED);
  assert_int_equal(ev(p, PEER_A, 0, "camer", "snap"), DSB_ERR_PROXY_DENIED);

  dsb_policy_rule r;
  assert_int_equal(dsb_policy_get_rule(p, 0, &r), 0);
  assert_int_equal(r.peer_kind, DSB_POLICY_PEER_DEVICE);
  assert_string_equal(r.device, PEER_A);
  assert_string_equal(r.service, "camera");
  assert_int_equal(dsb_policy_get_rule(p, 3, &r), 0);
  assert_int_equal(r.peer_kind, DSB_POLICY_PEER_ANY);
  assert_int_equal(dsb_policy_get_rule(p, 4, &r), DSB_ERR_NOT_FOUND);
  dsb_policy_del(p);
}

/* Device ids match in either case; the rule is stored lowercase. */
static void test_device_id_case(void **state) {
  (void)state;
  dsb_policy *p = load_ok("{\"rules\": [{\"peer\": "
                          "\"00112233445566778899AABBCCDDEEFF\", \"service\": "
                          "\"x\", \"method\": \"y\"}]}");
  assert_int_equal(ev(p, PEER_A, 0, "x", "y"), 0);
  assert_int_equal(ev(p, "00112233445566778899AABBCCDDEEFF", 0, "x", "y"), 0);
  assert_int_equal(ev(p, "00112233445566778899aabbccddeef", 0, "x", "y"),
                   DSB_ERR_PROXY_DENIED);
  assert_int_equal(ev(p, PEER_A "0", 0, "x", "y"), DSB_ERR_PROXY_DENIED);
  assert_int_equal(ev(p, "", 0, "x", "y"), DSB_ERR_PROXY_DENIED);
  dsb_policy_del(p);
}

static void test_empty_rules_deny_everything(void **state) {
  (void)state;
  dsb_policy *p = load_ok("{\"version\": 1, \"rules\": []}");
  assert_int_equal(ev(p, PEER_A, T, "samgr", "list"), DSB_ERR_PROXY_DENIED);
  dsb_policy_del(p);
}

static void test_reject_no_matching_rule(void **state) {
  (void)state;
  dsb_policy *p = load_ok("{\"rules\": [{\"peer\": \"trusted\", \"service\": "
                          "\"echo\", \"method\": \"echo\"}]}");
  assert_int_equal(ev(p, PEER_A, T, "echo", "ping"), DSB_ERR_PROXY_DENIED);
  assert_int_equal(ev(p, PEER_A, T, "samgr", "echo"), DSB_ERR_PROXY_DENIED);
  assert_int_equal(dsb_policy_eval(NULL, PEER_A, T, "echo", 4, "echo", 4),
                   DSB_ERR_PROXY_DENIED);
  assert_int_equal(dsb_policy_eval(p, NULL, T, "echo", 4, "echo", 4),
                   DSB_ERR_PROXY_DENIED);
  dsb_policy_del(p);
}

static void test_reject_untrusted_when_rule_names_trusted(void **state) {
  (void)state;
  dsb_policy *p = load_ok("{\"rules\": [{\"peer\": \"trusted\", \"service\": "
                          "\"*\", \"method\": \"*\"}]}");
  assert_int_equal(ev(p, PEER_A, T, "camera", "snap"), 0);
  assert_int_equal(ev(p, PEER_A, 0, "camera", "snap"), DSB_ERR_PROXY_DENIED);
  dsb_policy_del(p);
}

static void test_explain(void **state) {
  (void)state;
  dsb_policy *p = NULL;
  char out[256];
  assert_int_equal(dsb_policy_new_default(&p, NULL), 0);
  assert_int_equal(dsb_policy_explain(p, out, sizeof(out), PEER_A, T, "samgr",
                                      5, "resolve", 7),
                   1);
  assert_string_equal(out, "allowed by rules[1] of default: peer trusted, "
                           "service samgr, method resolve");
  assert_int_equal(
      dsb_policy_explain(p, out, sizeof(out), PEER_A, 0, "samgr", 5, "list", 4),
      DSB_ERR_PROXY_DENIED);
  assert_string_equal(out, "denied: no rule matches (peer " PEER_A
                           ", service samgr, method list)");
  /* Untrusted input cannot smuggle line breaks into the explanation. */
  assert_int_equal(
      dsb_policy_explain(p, out, sizeof(out), "x\ny", T, "a b\n", 4, "m", 1),
      DSB_ERR_PROXY_DENIED);
  assert_string_equal(out, "denied: no rule matches (peer x?y [trusted], "
                           "service a?b?, method m)");
  /* Truncation keeps the NUL. */
  assert_int_equal(
      dsb_policy_explain(p, out, 8, PEER_A, T, "samgr", 5, "list", 4), 0);
  assert_string_equal(out, "allowed");
  dsb_policy_del(p);

  p = load_ok("{\"rules\": [{\"peer\": \"" PEER_B
              "\", \"service\": \"*\", \"method\": \"*\"}]}");
  assert_int_equal(
      dsb_policy_explain(p, out, sizeof(out), PEER_B, 0, "x", 1, "y", 1), 0);
  assert_string_equal(out, "allowed by rules[0] of policy.json: peer " PEER_B
                           ", service *, method *");
  dsb_policy_del(p);
}

/* A failed reload leaves the policy in use untouched. */
static void test_reload_keeps_old_policy(void **state) {
  (void)state;
  dsb_policy *p = load_ok("{\"rules\": [{\"peer\": \"any\", \"service\": "
                          "\"echo\", \"method\": \"*\"}]}");
  dsb_policy *old = p;
  char err[256];
  const char *bad = "{\"rules\": [{\"peer\": \"any\"}]}";
  assert_int_equal(dsb_policy_load_json(&p, NULL, "policy.json", bad,
                                        strlen(bad), err, sizeof(err)),
                   DSB_ERR_PROXY_POLICY_INVALID);
  assert_ptr_equal(p, old);
  assert_int_equal(ev(p, PEER_A, 0, "echo", "echo"), 0);
  dsb_policy_del(p);
}

/* ---- invalid files: one test per kind of error --------------------------
 */

static void test_reject_policy_not_json(void **state) {
  (void)state;
  load_bad_prefix("{\"rules\": [\n  {\"peer\": \"any\",,}\n]}",
                  "policy.json: line 2: not valid JSON (");
  load_bad("", "policy.json: line 1: not valid JSON (unexpected end of data)");
  load_bad("{\"rules\": [",
           "policy.json: line 1: not valid JSON (unexpected end of data)");
}

static void test_reject_policy_trailing_text(void **state) {
  (void)state;
  load_bad("{\"rules\": []}\n\n{}",
           "policy.json: line 3: not valid JSON (text after the top-level "
           "object)");
}

static void test_reject_policy_nul_byte(void **state) {
  (void)state;
  dsb_policy *p = NULL;
  char err[256];
  const char text[] = "{\"rules\": []}\0";
  assert_int_equal(dsb_policy_load_json(&p, NULL, "policy.json", text,
                                        sizeof(text) - 1, err, sizeof(err)),
                   DSB_ERR_PROXY_POLICY_INVALID);
  assert_string_equal(err, "policy.json: not valid JSON (contains a NUL byte)");
}

static void test_reject_policy_too_large(void **state) {
  (void)state;
  size_t n = DSB_POLICY_MAX_FILE + 1;
  char *text = malloc(n);
  assert_non_null(text);
  memset(text, ' ', n);
  dsb_policy *p = NULL;
  char err[256];
  assert_int_equal(
      dsb_policy_load_json(&p, NULL, "policy.json", text, n, err, sizeof(err)),
      DSB_ERR_PROXY_POLICY_INVALID);
  assert_string_equal(err, "policy.json: file larger than 65536 bytes");
  free(text);
}

static void test_reject_policy_top_level(void **state) {
  (void)state;
  load_bad("[]", "policy.json: expected a JSON object at the top level");
  load_bad("1", "policy.json: expected a JSON object at the top level");
  load_bad("{\"version\": 1, \"rulez\": []}",
           "policy.json: rulez: unknown field (expected version, rules)");
  load_bad("{\"version\": 1}",
           "policy.json: rules: missing (expected an array of rules)");
  load_bad("{\"version\": 2, \"rules\": []}",
           "policy.json: version: expected the integer 1");
  load_bad("{\"version\": \"1\", \"rules\": []}",
           "policy.json: version: expected the integer 1");
  load_bad("{\"rules\": {}}",
           "policy.json: rules: expected an array of at most 256 rules");
}

static void test_reject_policy_too_many_rules(void **state) {
  (void)state;
  size_t cap = 64 + 80 * (DSB_POLICY_MAX_RULES + 1);
  char *text = malloc(cap);
  assert_non_null(text);
  size_t off = (size_t)snprintf(text, cap, "{\"rules\": [");
  for (int i = 0; i <= DSB_POLICY_MAX_RULES; ++i) {
    off += (size_t)snprintf(
        text + off, cap - off,
        "%s{\"peer\":\"any\",\"service\":\"s\",\"method\":\"m\"}",
        i ? "," : "");
  }
  snprintf(text + off, cap - off, "]}");
  load_bad(text, "policy.json: rules: expected an array of at most 256 rules");
  /* Exactly the cap is fine. */
  char *last = strrchr(text, '{');
  memcpy(last - 1, "]}", 3);
  dsb_policy *p = load_ok(text);
  assert_int_equal(dsb_policy_rule_count(p), DSB_POLICY_MAX_RULES);
  dsb_policy_del(p);
  free(text);
}

static void test_reject_policy_rule_not_object(void **state) {
  (void)state;
  load_bad("{\"rules\": [{\"peer\": \"any\", \"service\": \"s\", \"method\": "
           "\"m\"}, \"allow all\"]}",
           "policy.json: rules[1]: expected an object with peer, service and "
           "method");
}

static void test_reject_policy_bad_peer(void **state) {
  (void)state;
  const char *exp = "policy.json: rules[0].peer: expected \"trusted\", "
                    "\"any\" or a device id (32 hex characters)";
  load_bad("{\"rules\": [{\"peer\": \"friends\", \"service\": \"s\", "
           "\"method\": \"m\"}]}",
           exp);
  load_bad("{\"rules\": [{\"peer\": \"0011\", \"service\": \"s\", "
           "\"method\": \"m\"}]}",
           exp);
  load_bad("{\"rules\": [{\"peer\": \"00112233445566778899aabbccddeefg\", "
           "\"service\": \"s\", \"method\": \"m\"}]}",
           exp);
  load_bad("{\"rules\": [{\"peer\": 5, \"service\": \"s\", \"method\": "
           "\"m\"}]}",
           exp);
  load_bad("{\"rules\": [{\"peer\": \"Trusted\", \"service\": \"s\", "
           "\"method\": \"m\"}]}",
           exp);
}

static void test_reject_policy_bad_service(void **state) {
  (void)state;
  const char *exp = "policy.json: rules[2].service: expected \"*\" or a name "
                    "of 1..64 characters [A-Za-z0-9._-]";
  const char *head = "{\"rules\": [{\"peer\": \"any\", \"service\": \"a\", "
                     "\"method\": \"m\"}, {\"peer\": \"any\", \"service\": "
                     "\"b\", \"method\": \"m\"}, {\"peer\": \"any\", "
                     "\"method\": \"m\", \"service\": ";
  const char *values[] = {
      "\"\"",
      "\"with space\"",
      "\"cam*\"",
      "null",
      "[\"s\"]",
      "\"\\u00e9\"",
      "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""};
  char text[512];
  for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); ++i) {
    snprintf(text, sizeof(text), "%s%s}]}", head, values[i]);
    load_bad(text, exp);
  }
  /* 64 characters is the maximum that fits. */
  snprintf(text, sizeof(text), "%s%s}]}", head,
           "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
           "a\"");
  dsb_policy *p = load_ok(text);
  dsb_policy_del(p);
}

static void test_reject_policy_bad_method(void **state) {
  (void)state;
  load_bad("{\"rules\": [{\"peer\": \"any\", \"service\": \"s\", \"method\": "
           "\"do it\"}]}",
           "policy.json: rules[0].method: expected \"*\" or a name of 1..64 "
           "characters [A-Za-z0-9._-]");
  load_bad("{\"rules\": [{\"peer\": \"any\", \"service\": \"s\", \"method\": "
           "true}]}",
           "policy.json: rules[0].method: expected \"*\" or a name of 1..64 "
           "characters [A-Za-z0-9._-]");
}

static void test_reject_policy_missing_field(void **state) {
  (void)state;
  load_bad("{\"rules\": [{\"service\": \"s\", \"method\": \"m\"}]}",
           "policy.json: rules[0].peer: missing");
  load_bad("{\"rules\": [{\"peer\": \"any\", \"method\": \"m\"}]}",
           "policy.json: rules[0].service: missing");
  load_bad("{\"rules\": [{\"peer\": \"any\", \"service\": \"s\"}]}",
           "policy.json: rules[0].method: missing");
}

static void test_reject_policy_unknown_rule_field(void **state) {
  (void)state;
  load_bad("{\"rules\": [{\"peer\": \"any\", \"service\": \"s\", \"method\": "
           "\"m\", \"action\": \"deny\"}]}",
           "policy.json: rules[0].action: unknown field (expected peer, "
           "service, method, comment)");
  /* Control characters in a key never reach the message. */
  load_bad("{\"rules\": [{\"peer\": \"any\", \"service\": \"s\", \"method\": "
           "\"m\", \"a\\nb\": 1}]}",
           "policy.json: rules[0].a?b: unknown field (expected peer, "
           "service, method, comment)");
}

static void test_reject_policy_bad_comment(void **state) {
  (void)state;
  char text[1024], comment[300];
  memset(comment, 'c', 257);
  comment[257] = '\0';
  snprintf(text, sizeof(text),
           "{\"rules\": [{\"peer\": \"any\", \"service\": \"s\", \"method\": "
           "\"m\", \"comment\": \"%s\"}]}",
           comment);
  load_bad(text, "policy.json: rules[0].comment: expected a string of at "
                 "most 256 bytes");
}

static void test_reject_policy_too_deep(void **state) {
  (void)state;
  load_bad("{\"rules\": [{\"peer\": \"any\", \"service\": \"s\", \"method\": "
           "\"m\", \"comment\": [[[[[[[[[[1]]]]]]]]]]}]}",
           "policy.json: line 1: not valid JSON (nesting too deep)");
}

static void test_reject_policy_bad_utf8(void **state) {
  (void)state;
  load_bad("{\"rules\": [], \"x\": \"\xff\"}",
           "policy.json: line 1: not valid JSON (invalid utf-8 string)");
}

static void test_source_name_default(void **state) {
  (void)state;
  dsb_policy *p = NULL;
  char err[256];
  assert_int_equal(
      dsb_policy_load_json(&p, NULL, NULL, "[]", 2, err, sizeof(err)),
      DSB_ERR_PROXY_POLICY_INVALID);
  assert_string_equal(err,
                      "policy file: expected a JSON object at the top level");
  assert_int_equal(
      dsb_policy_load_json(NULL, NULL, NULL, "[]", 2, err, sizeof(err)),
      DSB_ERR_INVALID_ARGUMENT);
}

/* ---- failing allocator ---------------------------------------------------
 */

typedef struct failmem {
  int fail_at;
  int count;
  int live;
} failmem;

static void *fm_malloc(size_t size, void *ctx) {
  failmem *f = ctx;
  if (f->count++ == f->fail_at) {
    return NULL;
  }
  f->live++;
  return malloc(size);
}

static void *fm_calloc(size_t n, size_t size, void *ctx) {
  failmem *f = ctx;
  if (f->count++ == f->fail_at) {
    return NULL;
  }
  f->live++;
  return calloc(n, size);
}

static void *fm_realloc(void *ptr, size_t size, void *ctx) {
  (void)ptr;
  (void)size;
  (void)ctx;
  return NULL;
}

static void fm_free(void *ptr, void *ctx) {
  failmem *f = ctx;
  if (ptr) {
    f->live--;
  }
  free(ptr);
}

static void test_failing_allocator(void **state) {
  (void)state;
  const char *text = "{\"rules\": [{\"peer\": \"any\", \"service\": \"s\", "
                     "\"method\": \"m\"}]}";
  for (int i = 0; i < 3; ++i) {
    failmem f = {i, 0, 0};
    dsb_mem mem = {fm_malloc, fm_free, fm_calloc, fm_realloc, &f};
    dsb_policy *p = NULL;
    int rv = dsb_policy_load_json(&p, &mem, "p", text, strlen(text), NULL, 0);
    if (i == 0) {
      assert_int_equal(rv, DSB_ERR_NOMEM);
      assert_null(p);
    } else {
      assert_int_equal(rv, 0);
      dsb_policy_del(p);
    }
    assert_int_equal(f.live, 0);
    f = (failmem){i, 0, 0};
    p = NULL;
    rv = dsb_policy_new_default(&p, &mem);
    assert_int_equal(rv, i == 0 ? DSB_ERR_NOMEM : 0);
    dsb_policy_del(p);
    assert_int_equal(f.live, 0);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_default_policy),
      cmocka_unit_test(test_load_and_first_match_wins),
      cmocka_unit_test(test_device_id_case),
      cmocka_unit_test(test_empty_rules_deny_everything),
      cmocka_unit_test(test_reject_no_matching_rule),
      cmocka_unit_test(test_reject_untrusted_when_rule_names_trusted),
      cmocka_unit_test(test_explain),
      cmocka_unit_test(test_reload_keeps_old_policy),
      cmocka_unit_test(test_reject_policy_not_json),
      cmocka_unit_test(test_reject_policy_trailing_text),
      cmocka_unit_test(test_reject_policy_nul_byte),
      cmocka_unit_test(test_reject_policy_too_large),
      cmocka_unit_test(test_reject_policy_top_level),
      cmocka_unit_test(test_reject_policy_too_many_rules),
      cmocka_unit_test(test_reject_policy_rule_not_object),
      cmocka_unit_test(test_reject_policy_bad_peer),
      cmocka_unit_test(test_reject_policy_bad_service),
      cmocka_unit_test(test_reject_policy_bad_method),
      cmocka_unit_test(test_reject_policy_missing_field),
      cmocka_unit_test(test_reject_policy_unknown_rule_field),
      cmocka_unit_test(test_reject_policy_bad_comment),
      cmocka_unit_test(test_reject_policy_too_deep),
      cmocka_unit_test(test_reject_policy_bad_utf8),
      cmocka_unit_test(test_source_name_default),
      cmocka_unit_test(test_failing_allocator),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
