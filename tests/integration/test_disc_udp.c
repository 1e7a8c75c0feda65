/* test_disc_udp.c - discovery between real processes (tools/disc-probe)
 * over loopback only: IPv4 multicast on lo (IP_MULTICAST_IF 127.0.0.1,
 * TTL 0) and the unicast peer list to 127.0.0.1. Every wait reads the
 * probes' output lines with a deadline; nothing sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "dsb/disc.h"
#include "dsb/err.h"
#include "disc_probe_proc.h"

/* Probe processes: tests/support/disc_probe_proc.h. */

static int setup(void **state) {
  (void)state;
  const char *b = getenv("DSB_BUILD_DIR");
  if (!b) {
    return -1;
  }
  snprintf(probe_path, sizeof(probe_path), "%s/disc-probe", b);
  signal(SIGPIPE, SIG_IGN);
  return access(probe_path, X_OK) == 0 ? 0 : -1;
}

/* ---- tests --------------------------------------------------------------- */

static void test_multicast_loopback(void **state) {
  (void)state;
  char da[64], db[64], port[16], want[128];
  proc a, b;
  make_dir(da, sizeof(da));
  make_dir(db, sizeof(db));
  snprintf(port, sizeof(port), "%u", free_port());
  const char *aa[] = {"--interface",    "lo",    "--port",    port,
                      "--name",         "alpha", "--service", "echo",
                      "--session-port", "4101",  NULL};
  const char *ba[] = {"--interface", "lo",   "--port",         port,
                      "--name",      "beta", "--session-port", "4102",
                      NULL};
  proc_start(&a, da, aa);
  proc_start(&b, db, ba);
  assert_int_equal(a.port, b.port); /* both share the discovery port */

  /* Each sees the other with its announced fields. */
  snprintf(want, sizeof(want), "up %s 4101 616c706861 echo", a.id);
  assert_int_equal(proc_wait(&b, want, NULL, 0, WAIT_MS), 0);
  snprintf(want, sizeof(want), "up %s 4102 62657461 -", b.id);
  assert_int_equal(proc_wait(&a, want, NULL, 0, WAIT_MS), 0);

  /* A leaves cleanly: B gets its goodbye. */
  proc_stop(&a);
  snprintf(want, sizeof(want), "gone %s goodbye", a.id);
  assert_int_equal(proc_wait(&b, want, NULL, 0, WAIT_MS), 0);
  proc_stop(&b);
  remove_dir(da);
  remove_dir(db);
}

static void test_unicast_peer_list(void **state) {
  (void)state;
  char da[64], db[64], pa[16], pb[16], peer_a[32], peer_b[32], want[128];
  proc a, b;
  make_dir(da, sizeof(da));
  make_dir(db, sizeof(db));
  unsigned porta = free_port(), portb = free_port();
  while (portb == porta) {
    portb = free_port();
  }
  snprintf(pa, sizeof(pa), "%u", porta);
  snprintf(pb, sizeof(pb), "%u", portb);
  snprintf(peer_a, sizeof(peer_a), "127.0.0.1:%u", porta);
  snprintf(peer_b, sizeof(peer_b), "127.0.0.1:%u", portb);
  const char *aa[] = {
      "--no-multicast", "--interface",    "lo",   "--port", pa, "--peer",
      peer_b,           "--session-port", "4201", NULL};
  const char *ba[] = {
      "--no-multicast", "--interface",    "lo",   "--port", pb, "--peer",
      peer_a,           "--session-port", "4202", NULL};
  /* A announces to B before B exists; B's start announcement reaches A
   * and B's start query makes A answer. */
  proc_start(&a, da, aa);
  proc_start(&b, db, ba);
  snprintf(want, sizeof(want), "up %s 4202", b.id);
  assert_int_equal(proc_wait(&a, want, NULL, 0, WAIT_MS), 0);
  snprintf(want, sizeof(want), "up %s 4201", a.id);
  assert_int_equal(proc_wait(&b, want, NULL, 0, WAIT_MS), 0);
  proc_stop(&b);
  snprintf(want, sizeof(want), "gone %s goodbye", b.id);
  assert_int_equal(proc_wait(&a, want, NULL, 0, WAIT_MS), 0);
  proc_stop(&a);
  remove_dir(da);
  remove_dir(db);
}

static void test_query_answers_new_node(void **state) {
  (void)state;
  char da[64], db[64], port[16], want[128], stats[256];
  proc a, b;
  make_dir(da, sizeof(da));
  make_dir(db, sizeof(db));
  snprintf(port, sizeof(port), "%u", free_port());
  /* A re-announces only every 10 minutes: B can learn of it quickly
   * only through answers to its queries. */
  const char *aa[] = {"--interface", "lo",   "--port",        port,
                      "--service",   "echo", "--interval-ms", "600000",
                      NULL};
  const char *ba[] = {"--interface",   "lo",     "--port", port, "--no-query",
                      "--interval-ms", "600000", NULL};
  proc_start(&a, da, aa);
  proc_start(&b, db, ba);
  /* A service nobody offers: not answered. Then "echo": answered. */
  proc_send(&b, "query nosuch\nquery echo\n");
  snprintf(want, sizeof(want), "up %s", a.id);
  assert_int_equal(proc_wait(&b, want, NULL, 0, WAIT_MS), 0);
  proc_send(&a, "stats\n");
  assert_int_equal(proc_wait(&a, "stats ", stats, sizeof(stats), WAIT_MS), 0);
  assert_non_null(strstr(stats, " answers=1 "));
  proc_stop(&b);
  proc_stop(&a);
  remove_dir(da);
  remove_dir(db);
}

static void test_restart_accepted(void **state) {
  (void)state;
  char da[64], db[64], port[16], want[128];
  proc a, b;
  make_dir(da, sizeof(da));
  make_dir(db, sizeof(db));
  snprintf(port, sizeof(port), "%u", free_port());
  const char *aa[] = {"--interface", "lo", "--port", port, NULL};
  const char *ba[] = {"--interface", "lo", "--port", port, NULL};
  proc_start(&a, da, aa);
  proc_start(&b, db, ba);
  snprintf(want, sizeof(want), "up %s", a.id);
  assert_int_equal(proc_wait(&b, want, NULL, 0, WAIT_MS), 0);
  char old_id[DSB_DEVICE_ID_TEXT_LEN + 1];
  memcpy(old_id, a.id, sizeof(old_id));

  /* Crash (no goodbye), restart with the same identity: its sequence
   * number restarts from the wall clock, above everything it sent, and it
   * comes from a new source port, so B reports an update. */
  proc_crash(&a);
  proc_start(&a, da, aa);
  assert_string_equal(a.id, old_id);
  snprintf(want, sizeof(want), "updated %s", a.id);
  assert_int_equal(proc_wait(&b, want, NULL, 0, WAIT_MS), 0);
  snprintf(want, sizeof(want), "up %s", b.id);
  assert_int_equal(proc_wait(&a, want, NULL, 0, WAIT_MS), 0);
  proc_stop(&a);
  proc_stop(&b);
  remove_dir(da);
  remove_dir(db);
}

static void test_reject_forged_datagrams(void **state) {
  (void)state;
  char da[64], port[16];
  proc a;
  uint8_t buf[DSB_DISC_MAX_DATAGRAM];
  dsb_identity id;
  dsb_disc_announce ann;
  make_dir(da, sizeof(da));
  snprintf(port, sizeof(port), "%u", free_port());
  const char *aa[] = {"--no-multicast", "--interface", "lo", "--port", port,
                      "--no-query",     NULL};
  proc_start(&a, da, aa);

  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in to;
  memset(&to, 0, sizeof(to));
  to.sin_family = AF_INET;
  to.sin_port = htons((uint16_t)a.port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

  /* Unknown version. */
  const uint8_t v9[] = {9, 1, 0, 0};
  assert_int_equal(
      sendto(fd, v9, sizeof(v9), 0, (struct sockaddr *)&to, sizeof(to)),
      (ssize_t)sizeof(v9));
  assert_int_equal(
      proc_wait(&a, "reject disc.reject.unknown_version", NULL, 0, WAIT_MS), 0);
  /* A valid announcement with a changed session port. */
  assert_int_equal(dsb_identity_generate(&id, NULL), 0);
  dsb_disc_announce_init(&ann);
  ann.seq = 7;
  ann.ttl_s = 30;
  ann.session_port = 1;
  long n = dsb_disc_announce_encode(buf, sizeof(buf), &ann, &id);
  assert_true(n > 0);
  buf[147] ^= 1;
  assert_int_equal(
      sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&to, sizeof(to)), n);
  assert_int_equal(
      proc_wait(&a, "reject disc.reject.bad_signature", NULL, 0, WAIT_MS), 0);
  /* Truncated. */
  assert_int_equal(
      sendto(fd, buf, (size_t)n - 1, 0, (struct sockaddr *)&to, sizeof(to)),
      n - 1);
  assert_int_equal(
      proc_wait(&a, "reject disc.reject.truncated", NULL, 0, WAIT_MS), 0);
  /* The intact one is accepted. */
  buf[147] ^= 1;
  assert_int_equal(
      sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&to, sizeof(to)), n);
  char id_text[DSB_DEVICE_ID_TEXT_LEN + 1], want[64];
  dsb_device_id_format(id_text, &id.id);
  snprintf(want, sizeof(want), "up %s 1 ", id_text);
  assert_int_equal(proc_wait(&a, want, NULL, 0, WAIT_MS), 0);
  close(fd);
  dsb_identity_wipe(&id);
  proc_stop(&a);
  remove_dir(da);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_multicast_loopback),
      cmocka_unit_test(test_unicast_peer_list),
      cmocka_unit_test(test_query_answers_new_node),
      cmocka_unit_test(test_restart_accepted),
      cmocka_unit_test(test_reject_forged_datagrams),
  };
  if (setup(NULL) != 0) {
    fprintf(stderr, "disc-probe not built or DSB_BUILD_DIR unset: skip\n");
    return 77;
  }
  return cmocka_run_group_tests(tests, NULL, NULL);
}
