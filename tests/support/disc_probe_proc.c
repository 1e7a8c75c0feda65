/* disc_probe_proc.c - drive tools/disc-probe child processes from tests
 * (disc_probe_proc.h). */
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

#include "disc_probe_proc.h"

char probe_path[1024];

int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An unused UDP port on loopback (the kernel picks it). */
unsigned free_port(void) {
  struct sockaddr_in a;
  socklen_t alen = sizeof(a);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  assert_true(fd >= 0);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
  close(fd);
  return ntohs(a.sin_port);
}

/* Find a complete line starting with |prefix|; consume up to it. */
int proc_take_line(proc *p, const char *prefix, char *out, size_t outcap) {
  size_t start = 0;
  while (start < p->len) {
    char *nl = memchr(p->buf + start, '\n', p->len - start);
    if (!nl) {
      return 0;
    }
    size_t linelen = (size_t)(nl - (p->buf + start));
    if (linelen >= strlen(prefix) &&
        memcmp(p->buf + start, prefix, strlen(prefix)) == 0) {
      if (out) {
        size_t n = linelen < outcap - 1 ? linelen : outcap - 1;
        memcpy(out, p->buf + start, n);
        out[n] = '\0';
      }
      size_t used = start + linelen + 1;
      memmove(p->buf, p->buf + used, p->len - used);
      p->len -= used;
      return 1;
    }
    start += linelen + 1;
  }
  return 0;
}

/* Read whatever is available within |timeout_ms| (0: poll once). */
int proc_fill(proc *p, int timeout_ms) {
  struct pollfd pfd = {.fd = p->out_fd, .events = POLLIN};
  if (p->len == sizeof(p->buf)) {
    return -1;
  }
  int rv = poll(&pfd, 1, timeout_ms);
  if (rv < 0 && errno == EINTR) {
    return 0;
  }
  if (rv <= 0) {
    return rv;
  }
  ssize_t n = read(p->out_fd, p->buf + p->len, sizeof(p->buf) - p->len);
  if (n <= 0) {
    return -1; /* exited */
  }
  p->len += (size_t)n;
  return 1;
}

/* Wait (bounded) for a line starting with |prefix|. 0 on success. */
int proc_wait(proc *p, const char *prefix, char *out, size_t outcap,
              int timeout_ms) {
  int64_t deadline = now_ms() + timeout_ms;
  for (;;) {
    if (proc_take_line(p, prefix, out, outcap)) {
      return 0;
    }
    int64_t left = deadline - now_ms();
    if (left <= 0 || proc_fill(p, (int)left) < 0) {
      return -1;
    }
  }
}

/* 1 if a complete line starting with |prefix| has been printed so far
 * (after draining what is readable now); does not consume. */
int proc_has_line(proc *p, const char *prefix) {
  while (proc_fill(p, 0) > 0) {
  }
  for (size_t start = 0; start < p->len;) {
    char *nl = memchr(p->buf + start, '\n', p->len - start);
    if (!nl) {
      break;
    }
    if (strncmp(p->buf + start, prefix, strlen(prefix)) == 0) {
      return 1;
    }
    start = (size_t)(nl - p->buf) + 1;
  }
  return 0;
}

void proc_send(proc *p, const char *line) {
  size_t n = strlen(line);
  assert_int_equal(write(p->in_fd, line, n), (ssize_t)n);
}

void proc_start(proc *p, const char *dir, const char *const *args) {
  const char *argv[40];
  int in[2], out[2];
  size_t n = 0;
  char ready[160];

  memset(p, 0, sizeof(*p));
  snprintf(p->dir, sizeof(p->dir), "%s", dir);
  argv[n++] = probe_path;
  argv[n++] = "--state-dir";
  argv[n++] = dir;
  for (size_t i = 0; args[i]; ++i) {
    assert_true(n < 38);
    argv[n++] = args[i];
  }
  argv[n] = NULL;
  assert_int_equal(pipe2(in, O_CLOEXEC), 0);
  assert_int_equal(pipe2(out, O_CLOEXEC), 0);
  p->pid = fork();
  assert_true(p->pid >= 0);
  if (p->pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    execv(probe_path, (char *const *)(uintptr_t)argv);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  p->in_fd = in[1];
  p->out_fd = out[0];
  assert_int_equal(proc_wait(p, "ready ", ready, sizeof(ready), WAIT_MS), 0);
  assert_true(sscanf(ready, "ready %32s %u %u %u", p->id, &p->port, &p->txport,
                     &p->sport) >= 3);
}

int proc_reap(proc *p) {
  int status = -1;
  int64_t deadline = now_ms() + WAIT_MS;
  char tmp[256];
  for (;;) {
    int64_t left = deadline - now_ms();
    struct pollfd pfd = {.fd = p->out_fd, .events = POLLIN};
    if (left <= 0 || poll(&pfd, 1, (int)left) <= 0 ||
        read(p->out_fd, tmp, sizeof(tmp)) <= 0) {
      break;
    }
  }
  if (now_ms() >= deadline) {
    kill(p->pid, SIGKILL);
  }
  waitpid(p->pid, &status, 0);
  close(p->out_fd);
  if (p->in_fd >= 0) {
    close(p->in_fd);
  }
  p->pid = 0;
  return status;
}

/* Clean stop: end of input -> goodbye -> "bye" -> exit 0. */
void proc_stop(proc *p) {
  close(p->in_fd);
  p->in_fd = -1;
  assert_int_equal(proc_wait(p, "bye", NULL, 0, WAIT_MS), 0);
  int status = proc_reap(p);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

/* Crash: SIGKILL, no goodbye; reap. */
void proc_crash(proc *p) {
  kill(p->pid, SIGKILL);
  (void)proc_reap(p);
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

void make_dir(char *out, size_t cap) {
  snprintf(out, cap, "/tmp/dsb-probe-XXXXXX");
  assert_non_null(mkdtemp(out));
}

void remove_dir(const char *dir) {
  nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}
