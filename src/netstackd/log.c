/*
 * log.c - netstackd's log lines on stderr (netstackd.h): level-filtered,
 * tagged with the process id so a shared journal tells instances apart.
 * Kept out of main.c so netstackd_core links on its own (tests, fuzzing).
 */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "dsb/common.h"
#include "netstackd.h"

static int nsd_log_level = DSB_LOG_INFO;

void nsd_log_set_level(int level) {
  nsd_log_level = level;
}

void nsd_log(int level, const char *fmt, ...) {
  static const char *const names[] = {"error", "warn", "info", "debug"};
  va_list ap;
  if (level > nsd_log_level || level < 0 || level > DSB_LOG_DEBUG) {
    return;
  }
  char line[512];
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  fprintf(stderr, "netstackd[%ld] %s: %s\n", (long)getpid(), names[level],
          line);
}
