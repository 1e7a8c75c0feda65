/*
 * streams.c - dsb cat / listen / serve: pumps between byte streams (stdin,
 * stdout, a child's pipes) and stream descriptors from the daemon.
 *
 * A stream descriptor is SOCK_SEQPACKET: every write is one message (we
 * send what one read() of the byte source returned, at most 64 KiB) and
 * every read returns one message. End of input becomes shutdown(SHUT_WR);
 * read() returning 0 is the peer's close. Whether a stream ended cleanly
 * or was reset comes from the STREAM_END event on the control connection,
 * so the exit status tells the two apart.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dsb/client.h"
#include "dsb/err.h"
#include "dsb_cli.h"

#define PUMP_BUF DSB_IPC_STREAM_MSG_MAX
#define PUMP_MAX 64            /* concurrent streams of dsb serve */
#define PUMP_END_WAIT_MS 10000 /* wait for STREAM_END after EOF */

typedef struct pump {
  int src; /* byte source or -1 */
  int dst; /* byte sink or -1 */
  int sfd; /* stream */
  uint32_t handle;
  pid_t child;
  int hold_shut; /* half-close only after the peer's close (listen) */
  int src_eof, stream_eof, shut_sent;
  int ended, end_status; /* STREAM_END seen */
  int failed;            /* local I/O error on the stream */
  uint8_t *up;
  size_t uplen;
  uint8_t *down;
  size_t downlen, downoff;
} pump;

static int64_t pump_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int pump_init(pump *p, int src, int dst, int sfd, uint32_t handle) {
  memset(p, 0, sizeof(*p));
  p->src = src;
  p->dst = dst;
  p->sfd = sfd;
  p->handle = handle;
  p->child = -1;
  p->up = malloc(PUMP_BUF);
  p->down = malloc(PUMP_BUF);
  int fl = fcntl(sfd, F_GETFL);
  if (!p->up || !p->down || fl < 0 ||
      fcntl(sfd, F_SETFL, fl | O_NONBLOCK) != 0) {
    free(p->up);
    free(p->down);
    return -1;
  }
  if (src < 0) {
    p->src_eof = 1;
  }
  return 0;
}

static void pump_free(pump *p) {
  free(p->up);
  free(p->down);
  p->up = p->down = NULL;
  if (p->sfd >= 0) {
    close(p->sfd);
    p->sfd = -1;
  }
}

/* Everything the peer sent was written out. */
static int pump_drained(const pump *p) {
  return p->stream_eof && p->downlen == 0;
}

static void pump_shut(pump *p) {
  if (!p->shut_sent) {
    p->shut_sent = 1;
    shutdown(p->sfd, SHUT_WR);
  }
}

/* Poll interest of |p| into |fds| (3 slots: src, sfd, dst). */
static void pump_events(const pump *p, struct pollfd *fds) {
  fds[0].fd = (!p->src_eof && !p->uplen && !p->failed) ? p->src : -1;
  fds[0].events = POLLIN;
  short se = 0;
  if (!p->failed && !p->stream_eof && !p->downlen) {
    se |= POLLIN;
  }
  if (!p->failed && p->uplen) {
    se |= POLLOUT;
  }
  fds[1].fd = se ? p->sfd : -1;
  fds[1].events = se;
  fds[2].fd = p->downlen && p->dst >= 0 ? p->dst : -1;
  fds[2].events = POLLOUT;
}

static void pump_io(pump *p, const struct pollfd *fds) {
  if (fds[0].fd >= 0 && fds[0].revents) {
    ssize_t n = read(p->src, p->up, PUMP_BUF);
    if (n > 0) {
      p->uplen = (size_t)n;
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
      p->src_eof = 1;
      if (!p->hold_shut) {
        pump_shut(p);
      }
    }
  }
  if (fds[1].fd >= 0 && (fds[1].revents & POLLOUT) && p->uplen) {
    ssize_t n = send(p->sfd, p->up, p->uplen, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) {
      p->uplen = 0;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      p->failed = 1;
    }
  }
  if (fds[1].fd >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) &&
      !p->downlen && !p->stream_eof) {
    ssize_t n = recv(p->sfd, p->down, PUMP_BUF, MSG_DONTWAIT);
    if (n > 0) {
      p->downlen = (size_t)n;
      p->downoff = 0;
    } else if (n == 0) {
      p->stream_eof = 1;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      p->stream_eof = 1;
      p->failed = 1;
    }
  }
  if (fds[2].fd >= 0 && fds[2].revents && p->downlen) {
    ssize_t n = write(p->dst, p->down + p->downoff, p->downlen - p->downoff);
    if (n > 0) {
      p->downoff += (size_t)n;
      if (p->downoff == p->downlen) {
        p->downlen = 0;
      }
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
      p->downlen = 0; /* the sink is gone (EPIPE): drop what it would get */
      close(p->dst);
      p->dst = -1;
    }
  }
}

/* Read pending control events; STREAM_END goes to its pump. New incoming
 * streams go to |accept_fn| (or are closed). */
static int pump_control(dsb_client *c, pump *ps, size_t n,
                        void (*accept_fn)(void *, dsb_client_event *),
                        void *ctx) {
  dsb_client_event ev;
  int rv;
  while ((rv = dsb_client_next_event(c, &ev, 0)) == 1) {
    if (ev.type == DSB_CLIENT_EV_STREAM_END) {
      for (size_t i = 0; i < n; ++i) {
        if (ps[i].handle == ev.stream && ps[i].sfd >= 0) {
          ps[i].ended = 1;
          ps[i].end_status = ev.status;
        }
      }
    } else if (ev.type == DSB_CLIENT_EV_STREAM) {
      if (accept_fn) {
        accept_fn(ctx, &ev);
      } else {
        close(ev.fd);
      }
    }
  }
  return rv;
}

/* Run one pump (cat, listen) to its end. Returns the exit status. */
static int pump_run_one(dsb_client *c, pump *p, const char *device,
                        const char *service) {
  int64_t end_deadline = -1;
  for (;;) {
    if (p->ended && p->end_status) {
      break; /* reset */
    }
    if (pump_drained(p)) {
      pump_shut(p);
      if (p->ended) {
        break;
      }
      if (end_deadline < 0) {
        end_deadline = pump_now_ms() + PUMP_END_WAIT_MS;
      }
    }
    if (p->failed && !p->ended && end_deadline < 0) {
      end_deadline = pump_now_ms() + PUMP_END_WAIT_MS;
    }
    int timeout = -1;
    if (end_deadline >= 0) {
      int64_t left = end_deadline - pump_now_ms();
      if (left <= 0) {
        break;
      }
      timeout = (int)left;
    }
    struct pollfd fds[4];
    pump_events(p, fds);
    fds[3].fd = dsb_client_fd(c);
    fds[3].events = POLLIN;
    int pr = poll(fds, 4, timeout);
    if (pr < 0 && errno != EINTR) {
      break;
    }
    if (pr <= 0) {
      continue;
    }
    pump_io(p, fds);
    if (fds[3].revents) {
      int rv = pump_control(c, p, 1, NULL, NULL);
      if (rv < 0) {
        fprintf(stderr, "dsb: lost the connection to dsoftbusd\n");
        return 1;
      }
    }
  }
  if (p->ended && p->end_status) {
    if (p->end_status == DSB_ERR_IPC_NO_SERVICE) {
      cli_error(p->end_status, device, service, "stream");
    } else {
      fprintf(stderr, "dsb: stream with device %s was reset: %s (%s)\n", device,
              dsb_err_describe(p->end_status), dsb_strerror(p->end_status));
    }
    return 1;
  }
  if (!p->ended || p->failed) {
    fprintf(stderr, "dsb: stream with device %s did not end cleanly\n", device);
    return 1;
  }
  return 0;
}

int cmd_cat(dsb_client *c, const char *device, const char *service) {
  int fd;
  uint32_t handle;
  int rv = dsb_client_open_stream(c, device, service, 0, &fd, &handle);
  if (rv) {
    cli_error(rv, device, service, "open stream");
    return 1;
  }
  pump p;
  if (pump_init(&p, STDIN_FILENO, STDOUT_FILENO, fd, handle)) {
    close(fd);
    return 1;
  }
  int status = pump_run_one(c, &p, device, service);
  pump_free(&p);
  return status;
}

int cmd_listen(dsb_client *c, const char *service) {
  int rv = dsb_client_publish(c, service);
  if (rv) {
    if (rv == DSB_ERR_EXISTS) {
      fprintf(stderr, "dsb: service %s is already published\n", service);
    } else {
      cli_error(rv, NULL, service, "publish");
    }
    return 1;
  }
  dsb_client_event ev;
  rv = dsb_client_accept(c, &ev, -1);
  if (rv <= 0) {
    fprintf(stderr, "dsb: lost the connection to dsoftbusd\n");
    return 1;
  }
  /* Only one stream: later ones are turned away by withdrawing. */
  (void)dsb_client_withdraw(c, service);
  pump p;
  if (pump_init(&p, -1, STDOUT_FILENO, ev.fd, ev.stream)) {
    close(ev.fd);
    return 1;
  }
  p.hold_shut = 1;
  int status = pump_run_one(c, &p, ev.device_id, service);
  pump_free(&p);
  return status;
}

/* ---- serve ------------------------------------------------------------- */

typedef struct serve_ctx {
  pump pumps[PUMP_MAX];
  size_t n;
  char **cmd;
} serve_ctx;

static void serve_accept(void *vctx, dsb_client_event *ev) {
  serve_ctx *s = vctx;
  if (s->n >= PUMP_MAX) {
    fprintf(stderr, "dsb: serve: too many streams, refusing one\n");
    close(ev->fd);
    return;
  }
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0) {
    close(ev->fd);
    return;
  }
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(in[0]);
    close(in[1]);
    close(ev->fd);
    return;
  }
  pid_t pid = fork();
  if (pid == 0) {
    /* Child: stdin from the stream, stdout to the stream. */
    dup2(in[0], STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    signal(SIGPIPE, SIG_DFL);
    execvp(s->cmd[0], s->cmd);
    fprintf(stderr, "dsb: serve: cannot run %s: %s\n", s->cmd[0],
            strerror(errno));
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  if (pid < 0) {
    close(in[1]);
    close(out[0]);
    close(ev->fd);
    return;
  }
  fcntl(in[1], F_SETFL, fcntl(in[1], F_GETFL) | O_NONBLOCK);
  fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
  pump *p = &s->pumps[s->n];
  if (pump_init(p, out[0], in[1], ev->fd, ev->stream)) {
    close(in[1]);
    close(out[0]);
    close(ev->fd);
    return;
  }
  p->child = pid;
  s->n++;
}

static void serve_finish(serve_ctx *s, size_t i) {
  pump *p = &s->pumps[i];
  if (p->src >= 0) {
    close(p->src);
  }
  if (p->dst >= 0) {
    close(p->dst);
  }
  pump_free(p);
  s->pumps[i] = s->pumps[--s->n];
}

int cmd_serve(dsb_client *c, const char *service, char **cmd) {
  int rv = dsb_client_publish(c, service);
  if (rv) {
    if (rv == DSB_ERR_EXISTS) {
      fprintf(stderr, "dsb: service %s is already published\n", service);
    } else {
      cli_error(rv, NULL, service, "publish");
    }
    return 1;
  }
  serve_ctx *s = calloc(1, sizeof(*s));
  if (!s) {
    return 1;
  }
  s->cmd = cmd;
  for (;;) {
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    for (size_t i = 0; i < s->n;) {
      pump *p = &s->pumps[i];
      if (pump_drained(p) && p->dst >= 0) {
        close(p->dst); /* the command sees end of input */
        p->dst = -1;
      }
      if ((pump_drained(p) && p->src_eof && !p->uplen) || p->failed ||
          (p->ended && p->end_status)) {
        pump_shut(p);
        serve_finish(s, i);
        continue;
      }
      ++i;
    }
    struct pollfd fds[3 * PUMP_MAX + 1];
    for (size_t i = 0; i < s->n; ++i) {
      pump_events(&s->pumps[i], &fds[3 * i]);
    }
    fds[3 * s->n].fd = dsb_client_fd(c);
    fds[3 * s->n].events = POLLIN;
    /* Wake up now and then to reap children. */
    int pr = poll(fds, 3 * s->n + 1, 1000);
    if (pr < 0 && errno != EINTR) {
      break;
    }
    if (pr <= 0) {
      continue;
    }
    size_t n = s->n;
    for (size_t i = 0; i < n; ++i) {
      pump_io(&s->pumps[i], &fds[3 * i]);
    }
    if (fds[3 * n].revents) {
      if (pump_control(c, s->pumps, s->n, serve_accept, s) < 0) {
        fprintf(stderr, "dsb: lost the connection to dsoftbusd\n");
        break;
      }
    }
  }
  while (s->n) {
    serve_finish(s, 0);
  }
  free(s);
  return 1;
}
