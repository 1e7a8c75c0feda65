/* test_daemon_config.c - dsoftbusd's config loader (src/daemon/config.h):
 * a full config read back field by field, and every rejection as exactly
 * one line naming the file and the field, leaving the config untouched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "dsb/err.h"
#include "daemon/config.h"

#define FULL_CONFIG                                                            \
  "{\n"                                                                        \
  "  \"state_dir\": \"/var/lib/dsb-test\",\n"                                  \
  "  \"socket\": \"/run/dsb-test/d.sock\",\n"                                  \
  "  \"port\": 47084,\n"                                                       \
  "  \"discovery_port\": 47083,\n"                                             \
  "  \"interfaces\": [\"lo\", \"enp0s31f6.100\"],\n"                           \
  "  \"peers\": [\"127.0.0.1:47084\", \"[::1]:9\"],\n"                         \
  "  \"name\": \"kitchen tablet\",\n"                                          \
  "  \"log_level\": \"debug\",\n"                                              \
  "  \"backend\": \"netstackd\",\n"                                            \
  "  \"netstackd_socket\": \"/run/netstackd/n.sock\",\n"                       \
  "  \"allow_unknown\": true,\n"                                               \
  "  \"policy\": \"/etc/dsb-test/policy.json\",\n"                             \
  "  \"proxy\": {\"max_request\": 4096, \"max_reply\": 8192,\n"                \
  "            \"max_calls_per_peer\": 8, \"call_timeout_ms\": 6000}\n"        \
  "}\n"

/* A fixed starting point (dsbd_config_defaults() reads the environment). */
static void base_config(dsbd_config *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->log_level = DSB_LOG_INFO;
  strcpy(cfg->state_dir, "/var/lib/dsoftbus");
  strcpy(cfg->interfaces[0], "lo");
  cfg->ninterfaces = 1;
}

static int load_text(dsbd_config *cfg, const char *text, char *err,
                     size_t errlen) {
  return dsbd_config_load_json(cfg, "test.json", text, strlen(text), err,
                               errlen);
}

/* Load |text|: DSB_ERR_CONFIG, exactly |msg|, the config unchanged. */
static void load_bad(const char *text, const char *msg) {
  static dsbd_config cfg, before;
  char err[DSBD_CONFIG_ERR_MAX];
  base_config(&cfg);
  before = cfg;
  int rv = load_text(&cfg, text, err, sizeof(err));
  if (rv != DSB_ERR_CONFIG || strcmp(err, msg) != 0) {
    print_error("text %s\n  got %d '%s'\n  expected '%s'\n", text, rv, err,
                msg);
  }
  assert_int_equal(rv, DSB_ERR_CONFIG);
  assert_string_equal(err, msg);
  assert_null(strchr(err, '\n'));
  assert_memory_equal(&cfg, &before, sizeof(cfg));
}

static void test_full_config_read_back(void **state) {
  (void)state;
  static dsbd_config cfg;
  char err[DSBD_CONFIG_ERR_MAX];
  base_config(&cfg);
  cfg.ninterfaces = 0;
  assert_int_equal(load_text(&cfg, FULL_CONFIG, err, sizeof(err)), 0);
  assert_string_equal(err, "");
  assert_string_equal(cfg.state_dir, "/var/lib/dsb-test");
  assert_string_equal(cfg.socket_path, "/run/dsb-test/d.sock");
  assert_int_equal(cfg.port, 47084);
  assert_int_equal(cfg.disc_port, 47083);
  assert_int_equal(cfg.ninterfaces, 2);
  assert_string_equal(cfg.interfaces[0], "lo");
  assert_string_equal(cfg.interfaces[1], "enp0s31f6.100");
  assert_int_equal(cfg.npeers, 2);
  assert_string_equal(cfg.peers[0], "127.0.0.1:47084");
  assert_string_equal(cfg.peers[1], "[::1]:9");
  assert_string_equal(cfg.name, "kitchen tablet");
  assert_int_equal(cfg.log_level, DSB_LOG_DEBUG);
  assert_int_equal(cfg.backend, DSBD_BACKEND_NETSTACKD);
  assert_string_equal(cfg.netstackd_socket, "/run/netstackd/n.sock");
  assert_int_equal(cfg.allow_unknown, 1);
  assert_string_equal(cfg.proxy.policy, "/etc/dsb-test/policy.json");
  assert_int_equal(cfg.proxy.max_request, 4096);
  assert_int_equal(cfg.proxy.max_reply, 8192);
  assert_int_equal(cfg.proxy.max_calls_per_peer, 8);
  assert_int_equal(cfg.proxy.call_timeout_ms, 6000);
}

/* The same config through a real file, and keys the text leaves out keep
 * their values. */
static void test_file_round_trip(void **state) {
  (void)state;
  static dsbd_config cfg, mem;
  char err[DSBD_CONFIG_ERR_MAX];
  char dir[] = "/tmp/dsb-test-daemon-config.XXXXXX";
  char path[sizeof(dir) + 16];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof(path), "%s/d.json", dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(fputs(FULL_CONFIG, f) >= 0, 1);
  assert_int_equal(fclose(f), 0);

  base_config(&cfg);
  base_config(&mem);
  assert_int_equal(dsbd_config_load_file(&cfg, path, err, sizeof(err)), 0);
  assert_string_equal(err, "");
  assert_int_equal(load_text(&mem, FULL_CONFIG, err, sizeof(err)), 0);
  assert_memory_equal(&cfg, &mem, sizeof(cfg));
  /* Lists append to what is there: base_config's "lo" comes first. */
  assert_int_equal(cfg.ninterfaces, 3);
  assert_string_equal(cfg.interfaces[0], "lo");

  base_config(&cfg);
  assert_int_equal(load_text(&cfg, "{\"port\": 0}  \r\n\t", err, sizeof(err)),
                   0);
  assert_int_equal(cfg.port, 0);
  assert_string_equal(cfg.state_dir, "/var/lib/dsoftbus");
  assert_int_equal(cfg.log_level, DSB_LOG_INFO);

  assert_int_equal(unlink(path), 0);
  assert_int_equal(rmdir(dir), 0);
}

static void test_reject_unknown_field(void **state) {
  (void)state;
  load_bad("{\"interfaces\": [\"lo\"], \"nmae\": \"typo\"}",
           "config test.json: field 'nmae': unknown field");
  load_bad("{\"Port\": 1}", "config test.json: field 'Port': unknown field");
}

static void test_reject_wrong_type(void **state) {
  (void)state;
  load_bad("{\"port\": \"x\"}",
           "config test.json: field 'port': expected an integer 0..65535");
  load_bad("{\"port\": 80.0}",
           "config test.json: field 'port': expected an integer 0..65535");
  load_bad("{\"name\": 5}",
           "config test.json: field 'name': expected a string");
  load_bad("{\"allow_unknown\": 1}",
           "config test.json: field 'allow_unknown': expected true or false");
  load_bad("{\"interfaces\": \"lo\"}",
           "config test.json: field 'interfaces': expected an array of "
           "strings");
  load_bad("{\"peers\": [47084]}",
           "config test.json: field 'peers': expected at most 16 "
           "\"HOST:PORT\" strings");
  load_bad("{\"log_level\": \"verbose\"}",
           "config test.json: field 'log_level': expected \"error\", "
           "\"warn\", \"info\" or \"debug\"");
}

static void test_reject_port_out_of_range(void **state) {
  (void)state;
  load_bad("{\"port\": 65536}",
           "config test.json: field 'port': expected an integer 0..65535");
  load_bad("{\"port\": -1}",
           "config test.json: field 'port': expected an integer 0..65535");
  load_bad("{\"discovery_port\": 99999999999999999999}",
           "config test.json: field 'discovery_port': expected an integer "
           "0..65535");
  load_bad("{\"peers\": [\"127.0.0.1:0\"]}",
           "config test.json: field 'peers': expected at most 16 "
           "\"HOST:PORT\" strings");
}

static void test_reject_bad_backend(void **state) {
  (void)state;
  load_bad("{\"backend\": \"kernel\"}",
           "config test.json: field 'backend': expected \"direct\" or "
           "\"netstackd\"");
  load_bad("{\"backend\": \"\"}",
           "config test.json: field 'backend': expected \"direct\" or "
           "\"netstackd\"");
}

static void test_reject_bad_interface_name(void **state) {
  (void)state;
  static const char *const bad[] = {
      "{\"interfaces\": [\"\"]}",
      "{\"interfaces\": [\"sixteen-bytes-xx\"]}",
      "{\"interfaces\": [\"eth/0\"]}",
      "{\"interfaces\": [\"eth:0\"]}",
      "{\"interfaces\": [\"eth 0\"]}",
      "{\"interfaces\": [\"eth\\t0\"]}",
      "{\"interfaces\": [\"..\"]}",
      /* base_config() has one already: 8 more is one too many */
      "{\"interfaces\": [\"a\", \"b\", \"c\", \"d\", \"e\", \"f\", \"g\", "
      "\"h\"]}",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
    load_bad(bad[i], "config test.json: field 'interfaces': expected at most "
                     "8 interface names (1..15 bytes; no '/', ':' or "
                     "spaces)");
  }
  /* The longest allowed name, and the same checks on the command line. */
  static dsbd_config cfg;
  base_config(&cfg);
  assert_int_equal(dsbd_config_add_interface(&cfg, "fifteen-bytes-x"), 0);
  assert_int_equal(dsbd_config_add_interface(&cfg, "a/b"), DSB_ERR_CONFIG);
  assert_int_equal(dsbd_config_add_interface(&cfg, "."), DSB_ERR_CONFIG);
  assert_int_equal(cfg.ninterfaces, 2);
}

static void test_reject_oversize_file(void **state) {
  (void)state;
  static dsbd_config cfg, before;
  char err[DSBD_CONFIG_ERR_MAX];
  char dir[] = "/tmp/dsb-test-daemon-config.XXXXXX";
  char path[sizeof(dir) + 16];
  /* An object padded with whitespace to exactly the cap is accepted. */
  char *text = malloc(DSBD_CONFIG_MAX_FILE + 1);
  assert_non_null(text);
  memset(text, ' ', DSBD_CONFIG_MAX_FILE + 1);
  memcpy(text, "{\"port\": 7}", 11);
  base_config(&cfg);
  assert_int_equal(dsbd_config_load_json(&cfg, "big.json", text,
                                         DSBD_CONFIG_MAX_FILE, err,
                                         sizeof(err)),
                   0);
  assert_int_equal(cfg.port, 7);

  /* One byte more is not, from memory or from a file. */
  base_config(&cfg);
  before = cfg;
  assert_int_equal(dsbd_config_load_json(&cfg, "big.json", text,
                                         DSBD_CONFIG_MAX_FILE + 1, err,
                                         sizeof(err)),
                   DSB_ERR_CONFIG);
  assert_string_equal(err, "config big.json: larger than 64 KiB");
  assert_memory_equal(&cfg, &before, sizeof(cfg));

  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof(path), "%s/big.json", dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(fwrite(text, 1, DSBD_CONFIG_MAX_FILE + 1, f),
                   DSBD_CONFIG_MAX_FILE + 1);
  assert_int_equal(fclose(f), 0);
  char want[sizeof(path) + 64];
  snprintf(want, sizeof(want), "config %s: larger than 64 KiB", path);
  assert_int_equal(dsbd_config_load_file(&cfg, path, err, sizeof(err)),
                   DSB_ERR_CONFIG);
  assert_string_equal(err, want);
  assert_memory_equal(&cfg, &before, sizeof(cfg));
  free(text);
  assert_int_equal(unlink(path), 0);
  assert_int_equal(rmdir(dir), 0);
}

static void test_reject_missing_file(void **state) {
  (void)state;
  static dsbd_config cfg;
  char err[DSBD_CONFIG_ERR_MAX];
  base_config(&cfg);
  assert_int_equal(
      dsbd_config_load_file(&cfg, "/nonexistent/dsb/d.json", err, sizeof(err)),
      DSB_ERR_IO);
  assert_string_equal(err, "config /nonexistent/dsb/d.json: cannot open: No "
                           "such file or directory");
}

static void test_reject_not_an_object(void **state) {
  (void)state;
  static const char *const bad[] = {
      "", "[\"lo\"]", "7", "{\"port\": 1", "{\"port\": 1} x", "{} {}", "null",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
    load_bad(bad[i], "config test.json: not a valid JSON object");
  }
  /* An embedded NUL is trailing garbage, not the end of the text. */
  static dsbd_config cfg, before;
  char err[DSBD_CONFIG_ERR_MAX];
  base_config(&cfg);
  before = cfg;
  assert_int_equal(dsbd_config_load_json(&cfg, "test.json", "{}\0{\"port\":1}",
                                         13, err, sizeof(err)),
                   DSB_ERR_CONFIG);
  assert_string_equal(err, "config test.json: not a valid JSON object");
  assert_memory_equal(&cfg, &before, sizeof(cfg));
}

/* Found by fuzz_daemon_config: a key with a newline split the error line
 * in two. Keys are escaped and cut short in the message. */
static void test_reject_control_chars_in_field_name(void **state) {
  (void)state;
  load_bad("{\"a\\nb\\u001b[31m'\": 1}",
           "config test.json: field 'a\\x0ab\\x1b[31m\\x27': unknown field");
  char text[300], want[200];
  memset(text, 0, sizeof(text));
  strcpy(text, "{\"");
  memset(text + 2, 'k', 200);
  strcpy(text + 202, "\": 1}");
  snprintf(want, sizeof(want),
           "config test.json: field '%.64s...': unknown "
           "field",
           text + 2);
  load_bad(text, want);
}

/* A bad key stops at the first error, and nothing before it is kept. */
static void test_reject_leaves_config_unchanged(void **state) {
  (void)state;
  load_bad("{\"port\": 1, \"name\": \"x\", \"interfaces\": [\"eth0\"], "
           "\"peers\": [\"h:1\"], \"backend\": \"nope\"}",
           "config test.json: field 'backend': expected \"direct\" or "
           "\"netstackd\"");
  load_bad("{\"name\": \"bad\\u0001name\"}",
           "config test.json: field 'name': expected 0..64 bytes without "
           "control characters");
  load_bad("{\"state_dir\": \"\"}",
           "config test.json: field 'state_dir': expected a non-empty path");
}

/* The proxy's keys fail like the others: one line naming the file and the
 * field (escaped), the config untouched. */
static void test_reject_proxy_limits(void **state) {
  (void)state;
  static dsbd_config cfg, before;
  char err[DSBD_CONFIG_ERR_MAX];
  base_config(&cfg);
  before = cfg;
  assert_int_equal(
      load_text(&cfg, "{\"proxy\": {\"max_reply\": 1}}", err, sizeof(err)),
      DSB_ERR_CONFIG);
  assert_non_null(strstr(err, "config test.json: field 'proxy.max_reply': "
                              "expected an integer "));
  assert_memory_equal(&cfg, &before, sizeof(cfg));
  assert_int_equal(
      load_text(&cfg, "{\"proxy\": {\"a\\nb\": 1}}", err, sizeof(err)),
      DSB_ERR_CONFIG);
  assert_string_equal(err,
                      "config test.json: field 'proxy.a\\x0ab': unknown field");
  assert_int_equal(load_text(&cfg, "{\"policy\": 7}", err, sizeof(err)),
                   DSB_ERR_CONFIG);
  assert_string_equal(err, "config test.json: field 'policy': expected the "
                           "path of a policy file");
  assert_memory_equal(&cfg, &before, sizeof(cfg));
}

static void test_command_line_checks(void **state) {
  (void)state;
  static dsbd_config cfg;
  int port = -1;
  base_config(&cfg);
  assert_int_equal(dsbd_config_parse_port("65535", &port), 0);
  assert_int_equal(port, 65535);
  assert_int_equal(dsbd_config_parse_port("65536", &port), DSB_ERR_CONFIG);
  assert_int_equal(dsbd_config_parse_port("", &port), DSB_ERR_CONFIG);
  assert_int_equal(dsbd_config_parse_port("1x", &port), DSB_ERR_CONFIG);
  assert_int_equal(port, 65535);
  assert_int_equal(dsbd_config_parse_level("warn"), DSB_LOG_WARN);
  assert_int_equal(dsbd_config_parse_level("WARN"), DSB_ERR_CONFIG);
  assert_int_equal(dsbd_config_add_peer(&cfg, "[fe80::1]:47084"), 0);
  assert_int_equal(dsbd_config_add_peer(&cfg, ":47084"), DSB_ERR_CONFIG);
  assert_int_equal(dsbd_config_add_peer(&cfg, "host"), DSB_ERR_CONFIG);
  assert_int_equal(cfg.npeers, 1);
  char longsock[sizeof(cfg.socket_path) + 1];
  memset(longsock, 's', sizeof(longsock) - 1);
  longsock[sizeof(longsock) - 1] = 0;
  assert_int_equal(
      dsbd_config_set_str(cfg.socket_path, sizeof(cfg.socket_path), longsock),
      DSB_ERR_CONFIG);
  longsock[sizeof(cfg.socket_path) - 1] = 0; /* 107 bytes fit */
  assert_int_equal(
      dsbd_config_set_str(cfg.socket_path, sizeof(cfg.socket_path), longsock),
      0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_full_config_read_back),
      cmocka_unit_test(test_file_round_trip),
      cmocka_unit_test(test_reject_unknown_field),
      cmocka_unit_test(test_reject_wrong_type),
      cmocka_unit_test(test_reject_port_out_of_range),
      cmocka_unit_test(test_reject_bad_backend),
      cmocka_unit_test(test_reject_bad_interface_name),
      cmocka_unit_test(test_reject_oversize_file),
      cmocka_unit_test(test_reject_missing_file),
      cmocka_unit_test(test_reject_not_an_object),
      cmocka_unit_test(test_reject_control_chars_in_field_name),
      cmocka_unit_test(test_reject_leaves_config_unchanged),
      cmocka_unit_test(test_reject_proxy_limits),
      cmocka_unit_test(test_command_line_checks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
