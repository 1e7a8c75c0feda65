/*
 * disc_probe_proc.h - run tools/disc-probe as a child process and talk to
 * it line by line: its stdin takes commands, its stdout prints events. Every
 * wait is bounded (PROC_WAIT_MS); failures are cmocka assertions.
 */
#ifndef DSB_TEST_DISC_PROBE_PROC_H
#define DSB_TEST_DISC_PROBE_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dsb/identity.h"

#define WAIT_MS 10000

typedef struct proc {
  pid_t pid;
  int in_fd;
  int out_fd;
  char buf[16384];
  size_t len;
  char id[DSB_DEVICE_ID_TEXT_LEN + 1];
  unsigned port, txport, sport;
  char dir[64];
} proc;

/* Path of the disc-probe binary; the test sets it in its setup. */
extern char probe_path[1024];

int64_t now_ms(void);

/* An unused UDP port on loopback (the kernel picks it). */
unsigned free_port(void);

/* Find a complete line starting with |prefix| in what has been read;
 * consume everything up to and including it. */
int proc_take_line(proc *p, const char *prefix, char *out, size_t outcap);

/* Read whatever is available within |timeout_ms| (0: poll once). */
int proc_fill(proc *p, int timeout_ms);

/* Wait up to |timeout_ms| for a line starting with |prefix|; 0 or -1. */
int proc_wait(proc *p, const char *prefix, char *out, size_t outcap,
              int timeout_ms);

/* 1 if a complete line starting with |prefix| has been printed so far
 * (after draining what is readable now); does not consume. */
int proc_has_line(proc *p, const char *prefix);

void proc_send(proc *p, const char *line);

/* Start the probe with --state-dir |dir| and |args| (NULL-terminated);
 * waits for its "ready" line and records its id and ports. */
void proc_start(proc *p, const char *dir, const char *const *args);

/* Reap |p| within the deadline, else kill it. Returns its exit status. */
int proc_reap(proc *p);

/* Clean stop: end of input -> goodbye -> "bye" -> exit 0. */
void proc_stop(proc *p);

/* Crash: SIGKILL, no goodbye; reap. */
void proc_crash(proc *p);

/* A fresh directory under /tmp, and its removal with everything in it. */
void make_dir(char *out, size_t cap);
void remove_dir(const char *dir);

#endif /* DSB_TEST_DISC_PROBE_PROC_H */
