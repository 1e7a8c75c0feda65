/*
 * streams.c - the pump between an app's stream socket and a mux stream.
 *
 * The app gets one end of a SOCK_SEQPACKET socketpair; each packet is one
 * message (1..DSB_IPC_STREAM_MSG_MAX bytes) and maps to one mux message,
 * so boundaries are preserved end to end. Zero-length packets cannot be
 * told apart from end-of-file on a seqpacket socket and are not carried.
 *
 * Backpressure both ways, with bounded memory:
 *  - app -> mux: when the mux refuses a message (WOULD_BLOCK) it is parked
 *    (one message) and the app socket is not read until on_stream_writable.
 *  - mux -> app: a message the app socket cannot take now is queued and
 *    its mux credit is only returned (dsb_mux_consume) once the app has it,
 *    so the queue never exceeds the stream's receive window.
 * Half-close: the app's shutdown(SHUT_WR) (or close) becomes a mux CLOSE;
 * the peer's CLOSE becomes shutdown(SHUT_WR) on our end once everything
 * before it was delivered. A reset closes our end at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dsb/err.h"
#include "dsb/mux.h"
#include "daemon_int.h"

#define STREAMS_BATCH 16          /* app messages read per wakeup */
#define STREAMS_SOCKBUF (1 << 20) /* requested socket buffer */

typedef struct stream_msg {
  struct stream_msg *next;
  size_t len;
  uint8_t data[];
} stream_msg;

struct dsbd_stream {
  int kind; /* DSBD_UD_STREAM: first member, see dsbd.h */
  dsbd_stream *next, *prev;
  dsbd *d;
  dsbd_peer *peer;
  dsb_mux *mux;
  uint32_t sid;
  uint32_t handle;
  dsbd_client *owner;
  int fd;
  uv_poll_t poll;
  int poll_events;
  int closing;
  /* app -> mux */
  uint8_t *parked;
  size_t parked_len;
  int app_eof;
  /* mux -> app */
  stream_msg *q, *q_tail;
  size_t q_bytes;
  int remote_closed;
  int shut_wr;
};

/* Process-wide: one daemon per process. */
static dsbd_stream *streams_all;
static dsbd_stream_stats streams_stats;
static uint32_t streams_next_handle;
static uint8_t streams_rx[DSB_IPC_STREAM_MSG_MAX + 1];

void dsbd_streams_stats(dsbd_stream_stats *st) {
  *st = streams_stats;
}
uint32_t dsbd_stream_handle(const dsbd_stream *s) {
  return s->handle;
}
void dsbd_stream_drop_owner(dsbd_stream *s) {
  s->owner = NULL;
}

static void streams_on_io(uv_poll_t *h, int status, int events);

static void streams_on_closed(uv_handle_t *h) {
  dsbd_stream *s = h->data;
  close(s->fd);
  free(s);
}

/* Unlink, tell the owner, release the socket. |status| 0: clean end. */
static void streams_finish(dsbd_stream *s, int status) {
  if (s->closing) {
    return;
  }
  s->closing = 1;
  if (s->prev) {
    s->prev->next = s->next;
  } else {
    streams_all = s->next;
  }
  if (s->next) {
    s->next->prev = s->prev;
  }
  streams_stats.live--;
  free(s->parked);
  s->parked = NULL;
  while (s->q) {
    stream_msg *m = s->q;
    s->q = m->next;
    free(m);
  }
  if (s->owner) {
    dsbd_client_remove_stream(s->owner, s);
    dsb_ipc_msg ev;
    memset(&ev, 0, sizeof(ev));
    ev.op = DSB_IPC_EV_STREAM_END;
    ev.nonce = dsbd_api_next_event_seq(s->d->api);
    ev.u.stream_end.stream = s->handle;
    ev.u.stream_end.status = status;
    dsbd_client_send(s->owner, &ev, -1);
    s->owner = NULL;
  }
  uv_poll_stop(&s->poll);
  uv_close((uv_handle_t *)&s->poll, streams_on_closed);
}

static void streams_update_poll(dsbd_stream *s) {
  if (s->closing) {
    return;
  }
  int ev = 0;
  if (!s->app_eof && !s->parked) {
    ev |= UV_READABLE;
  }
  if (s->q) {
    ev |= UV_WRITABLE;
  }
  if (ev == s->poll_events) {
    return;
  }
  s->poll_events = ev;
  if (ev) {
    uv_poll_start(&s->poll, ev, streams_on_io);
  } else {
    uv_poll_stop(&s->poll);
  }
}

/* Both directions ended cleanly and everything was delivered. */
static void streams_check_done(dsbd_stream *s) {
  if (s->closing || !s->app_eof || !s->remote_closed || s->q || s->parked) {
    return;
  }
  /* The mux frees the stream itself once both sides closed; make sure no
   * late callback finds our pointer. */
  dsb_mux_set_stream_user_data(s->mux, s->sid, NULL);
  streams_finish(s, 0);
}

static void streams_reset(dsbd_stream *s, uint32_t code, int status) {
  dsb_mux_reset(s->mux, s->sid, code);
  streams_finish(s, status);
  dsbd_peer_flush(s->peer);
}

static void streams_maybe_shut(dsbd_stream *s) {
  if (s->remote_closed && !s->q && !s->shut_wr) {
    s->shut_wr = 1;
    shutdown(s->fd, SHUT_WR);
  }
}

/* Send one message to the app. 0 sent, DSB_ERR_AGAIN full, DSB_ERR_IO. */
static int streams_app_send(dsbd_stream *s, const uint8_t *p, size_t len) {
  for (;;) {
    ssize_t n = send(s->fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) {
      streams_stats.app_bytes_out += len;
      return 0;
    }
    if (errno == EINTR) {
      continue;
    }
    return errno == EAGAIN || errno == EWOULDBLOCK ? DSB_ERR_AGAIN : DSB_ERR_IO;
  }
}

int dsbd_stream_on_message(dsbd_stream *s, const uint8_t *data, size_t len) {
  if (s->closing) {
    return 0;
  }
  if (!s->q) {
    int rv = streams_app_send(s, data, len);
    if (rv == 0) {
      dsb_mux_consume(s->mux, s->sid, len);
      return 0;
    }
    if (rv != DSB_ERR_AGAIN) {
      /* The app is gone: nobody will read this stream. */
      dsb_mux_reset(s->mux, s->sid, DSB_MUX_RST_CANCEL);
      streams_finish(s, DSB_ERR_CLOSED);
      return 0;
    }
  }
  /* Bounded by the stream's receive window: credit for queued bytes is not
   * returned until the app took them. */
  stream_msg *m = malloc(sizeof(*m) + len);
  if (!m) {
    dsb_mux_reset(s->mux, s->sid, DSB_MUX_RST_CANCEL);
    streams_finish(s, DSB_ERR_NOMEM);
    return 0;
  }
  m->next = NULL;
  m->len = len;
  memcpy(m->data, data, len);
  if (s->q_tail) {
    s->q_tail->next = m;
  } else {
    s->q = m;
  }
  s->q_tail = m;
  s->q_bytes += len;
  streams_update_poll(s);
  return 0;
}

void dsbd_stream_on_remote_close(dsbd_stream *s) {
  if (s->closing) {
    return;
  }
  s->remote_closed = 1;
  streams_maybe_shut(s);
  streams_check_done(s);
}

/* Hand the parked message to the mux again. */
static int streams_unpark(dsbd_stream *s) {
  if (!s->parked) {
    return 0;
  }
  int rv = dsb_mux_write_message(s->mux, s->sid, s->parked, s->parked_len);
  if (rv == DSB_ERR_WOULD_BLOCK) {
    return rv;
  }
  if (rv) {
    streams_reset(s, DSB_MUX_RST_CANCEL, rv);
    return rv;
  }
  streams_stats.app_bytes_in += s->parked_len;
  free(s->parked);
  s->parked = NULL;
  s->parked_len = 0;
  streams_update_poll(s);
  return 0;
}

void dsbd_stream_on_writable(dsbd_stream *s) {
  if (s->closing) {
    return;
  }
  if (streams_unpark(s) == 0 && !s->closing) {
    dsbd_peer_flush(s->peer);
  }
}

void dsbd_stream_on_reset(dsbd_stream *s, int status) {
  streams_finish(s, status);
}

void dsbd_streams_session_gone(dsbd_peer *peer, int status) {
  dsbd_stream *next;
  for (dsbd_stream *s = streams_all; s; s = next) {
    next = s->next;
    if (s->peer == peer) {
      streams_finish(s, status);
    }
  }
}

static void streams_read_app(dsbd_stream *s) {
  for (int i = 0; i < STREAMS_BATCH && !s->closing && !s->parked && !s->app_eof;
       ++i) {
    ssize_t n =
        recv(s->fd, streams_rx, sizeof(streams_rx), MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        break;
      }
      streams_reset(s, DSB_MUX_RST_CANCEL, DSB_ERR_IO);
      return;
    }
    if (n == 0) {
      s->app_eof = 1;
      int rv = dsb_mux_close(s->mux, s->sid);
      if (rv && rv != DSB_ERR_INVALID_STATE) {
        streams_reset(s, DSB_MUX_RST_CANCEL, rv);
        return;
      }
      break;
    }
    if ((size_t)n > DSB_IPC_STREAM_MSG_MAX) {
      dsbd_count(s->d, dsb_strerror(DSB_ERR_MUX_MESSAGE_TOO_LARGE), 1);
      streams_reset(s, DSB_MUX_RST_MESSAGE_TOO_LARGE,
                    DSB_ERR_MUX_MESSAGE_TOO_LARGE);
      return;
    }
    int rv = dsb_mux_write_message(s->mux, s->sid, streams_rx, (size_t)n);
    if (rv == DSB_ERR_WOULD_BLOCK) {
      s->parked = malloc((size_t)n);
      if (!s->parked) {
        streams_reset(s, DSB_MUX_RST_CANCEL, DSB_ERR_NOMEM);
        return;
      }
      memcpy(s->parked, streams_rx, (size_t)n);
      s->parked_len = (size_t)n;
      break;
    }
    if (rv) {
      streams_reset(s, DSB_MUX_RST_CANCEL, rv);
      return;
    }
    streams_stats.app_bytes_in += (size_t)n;
  }
  if (s->closing) {
    return;
  }
  streams_update_poll(s);
  dsbd_peer_flush(s->peer);
  streams_check_done(s);
}

static void streams_write_app(dsbd_stream *s) {
  size_t consumed = 0;
  while (s->q) {
    stream_msg *m = s->q;
    int rv = streams_app_send(s, m->data, m->len);
    if (rv == DSB_ERR_AGAIN) {
      break;
    }
    if (rv) {
      streams_reset(s, DSB_MUX_RST_CANCEL, DSB_ERR_CLOSED);
      return;
    }
    s->q = m->next;
    if (!s->q) {
      s->q_tail = NULL;
    }
    s->q_bytes -= m->len;
    consumed += m->len;
    free(m);
  }
  if (consumed) {
    dsb_mux_consume(s->mux, s->sid, consumed);
    dsbd_peer_flush(s->peer);
  }
  streams_maybe_shut(s);
  streams_update_poll(s);
  streams_check_done(s);
}

static void streams_on_io(uv_poll_t *h, int status, int events) {
  dsbd_stream *s = h->data;
  if (status < 0) {
    streams_reset(s, DSB_MUX_RST_CANCEL, DSB_ERR_IO);
    return;
  }
  if (events & UV_WRITABLE) {
    streams_write_app(s);
  }
  if (!s->closing && (events & UV_READABLE)) {
    streams_read_app(s);
  }
}

int dsbd_stream_new(dsbd_stream **ps, dsbd *d, dsbd_peer *peer,
                    struct dsb_mux *mux, uint32_t sid, dsbd_client *owner,
                    int *app_fd) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    return errno == EMFILE || errno == ENFILE ? DSB_ERR_LIMIT : DSB_ERR_IO;
  }
  dsbd_stream *s = calloc(1, sizeof(*s));
  if (!s) {
    close(sv[0]);
    close(sv[1]);
    return DSB_ERR_NOMEM;
  }
  int bufsz = STREAMS_SOCKBUF;
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
  setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
  int fl = fcntl(sv[0], F_GETFL);
  if (fl < 0 || fcntl(sv[0], F_SETFL, fl | O_NONBLOCK) != 0 ||
      uv_poll_init(dsbd_loop(d), &s->poll, sv[0]) != 0) {
    close(sv[0]);
    close(sv[1]);
    free(s);
    return DSB_ERR_IO;
  }
  s->kind = DSBD_UD_STREAM;
  s->d = d;
  s->peer = peer;
  s->mux = mux;
  s->sid = sid;
  s->handle = ++streams_next_handle;
  s->owner = owner;
  s->fd = sv[0];
  s->poll.data = s;
  s->next = streams_all;
  if (streams_all) {
    streams_all->prev = s;
  }
  streams_all = s;
  streams_stats.live++;
  streams_stats.opened++;
  if (owner) {
    dsbd_client_add_stream(owner, s);
  }
  streams_update_poll(s);
  *app_fd = sv[1];
  *ps = s;
  return 0;
}

void dsbd_stream_abort(dsbd_stream *s) {
  if (s->owner) {
    dsbd_client_remove_stream(s->owner, s);
    s->owner = NULL; /* no event: the app never saw it */
  }
  streams_finish(s, DSB_ERR_CLOSED);
}

dsbd_stream *dsbd_stream_find(dsbd_peer *peer, uint32_t sid) {
  for (dsbd_stream *s = streams_all; s; s = s->next) {
    if (s->peer == peer && s->sid == sid) {
      return s;
    }
  }
  return NULL;
}
