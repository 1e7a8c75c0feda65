/* test_netstackd_config.c - netstackd's policy loader from memory
 * (nsd_config_load_json, src/netstackd/netstackd.h): a policy read back,
 * and rejections as one line naming the source and the field, leaving the
 * policy untouched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dsb/err.h"
#include "netstackd/netstackd.h"

/* Load |text|: DSB_ERR_CONFIG, exactly |msg|, the policy unchanged. */
static void load_bad(const char *text, size_t len, const char *msg) {
  static nsd_config cfg, before;
  char err[NSD_CONFIG_ERR_MAX];
  nsd_config_defaults(&cfg);
  before = cfg;
  int rv = nsd_config_load_json(&cfg, "n.json", text, len, err, sizeof(err));
  if (rv != DSB_ERR_CONFIG || strcmp(err, msg) != 0) {
    print_error("got %d '%s'\n  expected '%s'\n", rv, err, msg);
  }
  assert_int_equal(rv, DSB_ERR_CONFIG);
  assert_string_equal(err, msg);
  assert_memory_equal(&cfg, &before, sizeof(cfg));
}

static void test_policy_read_back(void **state) {
  (void)state;
  static const char text[] =
      "{\"families\": [\"ipv4\"], \"listen_ports\": [0, \"1024-2048\"],\n"
      " \"destinations\": [\"10.0.0.0/8\", \"::1\"], \"interfaces\": "
      "[\"lo\"],\n \"max_pending_connects\": 3, \"socket_mode\": \"0660\"}\n";
  static nsd_config cfg;
  char err[NSD_CONFIG_ERR_MAX];
  nsd_config_defaults(&cfg);
  assert_int_equal(nsd_config_load_json(&cfg, "n.json", text, strlen(text), err,
                                        sizeof(err)),
                   0);
  assert_string_equal(err, "");
  assert_int_equal(cfg.allow_ipv4, 1);
  assert_int_equal(cfg.allow_ipv6, 0);
  assert_int_equal(cfg.listen_ports.n, 2);
  assert_int_equal(nsd_config_port_ok(&cfg.listen_ports, 2048), 1);
  assert_int_equal(nsd_config_port_ok(&cfg.listen_ports, 2049), 0);
  assert_int_equal(cfg.destinations.n, 2);
  assert_int_equal(cfg.destinations.r[0].prefix, 8);
  assert_int_equal(cfg.destinations.r[1].prefix, 128);
  assert_int_equal(cfg.any_interface, 0);
  assert_int_equal(nsd_config_iface_ok(&cfg, "lo"), 1);
  assert_int_equal(nsd_config_iface_ok(&cfg, "eth0"), 0);
  assert_int_equal(cfg.max_pending_connects, 3);
  assert_int_equal(cfg.socket_mode, 0660);
}

static void test_reject_unknown_field(void **state) {
  (void)state;
  const char *t = "{\"bogus\": 1}";
  load_bad(t, strlen(t),
           "n.json: bogus: unknown field (known: families, listen_ports, "
           "bind_ports, connect_ports, local_networks, destinations, "
           "interfaces, max_pending_connects, socket_mode)");
}

static void test_reject_bad_values(void **state) {
  (void)state;
  const char *t = "{\"listen_ports\": [\"2000-1000\"]}";
  load_bad(t, strlen(t),
           "n.json: listen_ports: expected an array of ports (0..65535) or "
           "\"LO-HI\" ranges, at most 16");
  t = "{\"destinations\": [\"10.0.0.0/33\"]}";
  load_bad(t, strlen(t),
           "n.json: destinations: expected an array of \"ADDRESS/PREFIX\" "
           "networks, at most 32");
  t = "{\"socket_mode\": \"0755\"}";
  load_bad(t, strlen(t),
           "n.json: socket_mode: expected a string with an octal mode, "
           "0600..0666");
}

static void test_reject_not_json(void **state) {
  (void)state;
  load_bad("{", 1, "n.json: cannot parse JSON: unexpected end of input");
  load_bad("{} x", 4,
           "n.json: cannot parse JSON: trailing data after the JSON value");
  load_bad("{}\0{}", 5,
           "n.json: cannot parse JSON: trailing data after the JSON value");
  load_bad("[]", 2, "n.json: (top level): expected a JSON object");
}

static void test_reject_oversize_file(void **state) {
  (void)state;
  char *text = malloc(NSD_CONFIG_MAX_FILE + 1);
  assert_non_null(text);
  memset(text, ' ', NSD_CONFIG_MAX_FILE + 1);
  memcpy(text, "{}", 2);
  load_bad(text, NSD_CONFIG_MAX_FILE + 1, "n.json: larger than 64 KiB");
  static nsd_config cfg;
  nsd_config_defaults(&cfg);
  assert_int_equal(
      nsd_config_load_json(&cfg, "n.json", text, NSD_CONFIG_MAX_FILE, NULL, 0),
      0);
  free(text);
}

/* Found by fuzz_netstackd_config: a key with a newline split the error
 * line in two. Keys are escaped in the message. */
static void test_reject_control_chars_in_field_name(void **state) {
  (void)state;
  const char *t = "{\"a\\nb\\u00ff\": 1}";
  load_bad(t, strlen(t),
           "n.json: a\\x0ab\\xc3\\xbf: unknown field (known: families, "
           "listen_ports, bind_ports, connect_ports, local_networks, "
           "destinations, interfaces, max_pending_connects, socket_mode)");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_policy_read_back),
      cmocka_unit_test(test_reject_unknown_field),
      cmocka_unit_test(test_reject_bad_values),
      cmocka_unit_test(test_reject_not_json),
      cmocka_unit_test(test_reject_oversize_file),
      cmocka_unit_test(test_reject_control_chars_in_field_name),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
