/*
 * mux_api.c - the per-stream API of the mux: open, accept, write, consume,
 * close, reset (dsb/mux.h). These may be called from callbacks.
 */
#include <string.h>

#include "dsb/err.h"
#include "core/mux_internal.h"

/* A live stream the application may address: not reset, not retired. */
static mux_stream *mux_api_stream(const dsb_mux *mux, uint32_t id) {
  mux_stream *st = mux_stream_find(mux, id);
  if (st == NULL || st->state == DSB_MUX_STREAM_RESET) {
    return NULL;
  }
  return st;
}

int dsb_mux_open(dsb_mux *mux, uint32_t *pid, const char *name, size_t namelen,
                 uint8_t priority, uint32_t flags, void *stream_user_data) {
  mux_stream *st;
  uint32_t id;
  int rv;

  if (mux == NULL || pid == NULL || priority > DSB_MUX_PRIORITY_MAX ||
      (flags & ~DSB_MUX_OPEN_BYTES) != 0) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (mux->fatal) {
    return mux->fatal;
  }
  if (!dsb_mux_name_valid(name, namelen)) {
    return DSB_ERR_MUX_INVALID_NAME;
  }
  if (mux_stream_name_in_use(mux, (const uint8_t *)name, namelen, 1)) {
    return DSB_ERR_MUX_DUPLICATE_NAME;
  }
  id = mux->next_local_id;
  if (id == 0) {
    return DSB_ERR_LIMIT;
  }
  rv = mux_stream_new(mux, &st, id);
  if (rv != 0) {
    return rv;
  }
  /* Ids only grow; the last two of the parity are never used so the
   * increment cannot wrap to a valid id. */
  mux->next_local_id = id > UINT32_MAX - 2 ? 0 : id + 2;
  mux->last_local_id = id;
  st->state = DSB_MUX_STREAM_OPENING;
  st->flags = MUX_SF_LOCAL | ((flags & DSB_MUX_OPEN_BYTES) ? MUX_SF_BYTES : 0);
  st->priority = priority;
  st->namelen = (uint8_t)namelen;
  memcpy(st->name, name, namelen);
  st->user_data = stream_user_data;
  mux_ctl_add(mux, st, MUX_CTL_OPEN);
  mux->stats.streams_opened++;
  *pid = id;
  return 0;
}

int dsb_mux_accept(dsb_mux *mux, uint32_t id, void *stream_user_data) {
  mux_stream *st;
  if (mux == NULL) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (mux->fatal) {
    return mux->fatal;
  }
  st = mux_api_stream(mux, id);
  if (st == NULL) {
    return DSB_ERR_NOT_FOUND;
  }
  if (st->state != DSB_MUX_STREAM_PENDING) {
    return DSB_ERR_INVALID_STATE;
  }
  st->state = DSB_MUX_STREAM_OPEN;
  st->user_data = stream_user_data;
  mux_ctl_add(mux, st, MUX_CTL_OPEN_ACK);
  mux->stats.streams_accepted++;
  return 0;
}

/* Common checks of the write calls; returns the stream or sets *prv. */
static mux_stream *mux_write_stream(dsb_mux *mux, uint32_t id, int bytes,
                                    size_t len, int *prv) {
  mux_stream *st;
  if (mux == NULL) {
    *prv = DSB_ERR_INVALID_ARGUMENT;
    return NULL;
  }
  if (mux->fatal) {
    *prv = mux->fatal;
    return NULL;
  }
  st = mux_api_stream(mux, id);
  if (st == NULL) {
    *prv = DSB_ERR_NOT_FOUND;
    return NULL;
  }
  if (len == 0 || (bytes != 0) != ((st->flags & MUX_SF_BYTES) != 0)) {
    *prv = DSB_ERR_INVALID_ARGUMENT;
    return NULL;
  }
  if (st->state == DSB_MUX_STREAM_PENDING || (st->flags & MUX_SF_CLOSE_REQ)) {
    *prv = DSB_ERR_INVALID_STATE;
    return NULL;
  }
  return st;
}

static int mux_block(dsb_mux *mux, mux_stream *st, size_t want) {
  st->flags |= MUX_SF_WANT_WRITABLE;
  st->want_space = want;
  mux->writable_pending = 1;
  return DSB_ERR_WOULD_BLOCK;
}

int dsb_mux_write_message(dsb_mux *mux, uint32_t id, const uint8_t *data,
                          size_t len) {
  int rv = 0;
  mux_stream *st = mux_write_stream(mux, id, 0, len, &rv);
  size_t local_max;

  if (st == NULL) {
    return rv;
  }
  if (data == NULL) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  local_max = mux->set.max_message < mux->set.stream_send_buffer
                  ? mux->set.max_message
                  : mux->set.stream_send_buffer;
  if (len > local_max) {
    return DSB_ERR_MUX_MESSAGE_TOO_LARGE;
  }
  if (st->state == DSB_MUX_STREAM_OPENING) {
    return mux_block(mux, st, len + MUX_MSG_HDR); /* peer limits unknown */
  }
  if (len > st->send_max_message) {
    return DSB_ERR_MUX_MESSAGE_TOO_LARGE;
  }
  /* Each queued message costs a 4-byte header; the caps allow one header
   * beyond the configured size so a max-size message fits an empty
   * buffer. */
  if (st->slen + MUX_MSG_HDR + len >
          (size_t)mux->set.stream_send_buffer + MUX_MSG_HDR ||
      mux->send_buffered + MUX_MSG_HDR + len >
          (uint64_t)mux->set.session_send_buffer + MUX_MSG_HDR) {
    return mux_block(mux, st, len + MUX_MSG_HDR);
  }
  rv = mux_ring_push(mux, st, data, len, 1);
  if (rv != 0) {
    return rv;
  }
  mux_sched_update(mux, st);
  return 0;
}

long dsb_mux_write_bytes(dsb_mux *mux, uint32_t id, const uint8_t *data,
                         size_t len) {
  int rv = 0;
  mux_stream *st = mux_write_stream(mux, id, 1, len, &rv);
  size_t room, sroom;

  if (st == NULL) {
    return rv;
  }
  if (data == NULL) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (st->state == DSB_MUX_STREAM_OPENING) {
    return mux_block(mux, st, 1);
  }
  room = mux->set.stream_send_buffer - st->slen;
  sroom = mux->send_buffered >= mux->set.session_send_buffer
              ? 0
              : (size_t)(mux->set.session_send_buffer - mux->send_buffered);
  if (room > sroom) {
    room = sroom;
  }
  if (room == 0) {
    /* Wake up once a useful amount fits, not for every freed byte. */
    size_t want = mux->set.stream_send_buffer / 4;
    return mux_block(mux, st, len < want ? len : want);
  }
  if (len > room) {
    len = room;
  }
  rv = mux_ring_push(mux, st, data, len, 0);
  if (rv != 0) {
    return rv;
  }
  mux_sched_update(mux, st);
  return (long)len;
}

int dsb_mux_consume(dsb_mux *mux, uint32_t id, size_t n) {
  mux_stream *st;
  if (mux == NULL) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (mux->fatal) {
    return mux->fatal;
  }
  st = mux_api_stream(mux, id);
  if (st == NULL) {
    return DSB_ERR_NOT_FOUND;
  }
  /* Only delivered bytes can be consumed, not the partial message. */
  if (n > st->recv_unconsumed - st->alen) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  st->recv_unconsumed -= n;
  st->recv_unreported += n;
  mux->recv_unconsumed -= n;
  mux->recv_unreported += n;
  mux_stream_check_window(mux, st);
  mux_session_check_window(mux);
  mux_stream_maybe_finish(mux, st);
  return 0;
}

int dsb_mux_close(dsb_mux *mux, uint32_t id) {
  mux_stream *st;
  if (mux == NULL) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (mux->fatal) {
    return mux->fatal;
  }
  st = mux_api_stream(mux, id);
  if (st == NULL) {
    return DSB_ERR_NOT_FOUND;
  }
  /* A stream not yet accepted is refused with dsb_mux_reset() instead. */
  if ((st->flags & MUX_SF_CLOSE_REQ) || st->state == DSB_MUX_STREAM_PENDING) {
    return DSB_ERR_INVALID_STATE;
  }
  st->flags |= MUX_SF_CLOSE_REQ;
  st->flags &= ~MUX_SF_WANT_WRITABLE;
  if (st->slen == 0) {
    mux_ctl_add(mux, st, MUX_CTL_CLOSE);
  }
  return 0;
}

int dsb_mux_reset(dsb_mux *mux, uint32_t id, uint32_t code) {
  mux_stream *st;
  if (mux == NULL) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (mux->fatal) {
    return mux->fatal;
  }
  st = mux_api_stream(mux, id);
  if (st == NULL) {
    return 0; /* idempotent */
  }
  if (st->state == DSB_MUX_STREAM_OPENING && !(st->flags & MUX_SF_OPEN_SENT)) {
    mux_stream_retire(mux, st); /* the peer never heard of it */
    return 0;
  }
  mux_sched_remove(mux, st);
  mux_stream_drop_buffers(mux, st);
  mux->recv_unconsumed -= st->recv_unconsumed;
  mux->recv_unreported += st->recv_unconsumed;
  st->recv_unconsumed = 0;
  mux_session_check_window(mux);
  st->state = DSB_MUX_STREAM_RESET;
  st->flags &= ~MUX_SF_WANT_WRITABLE;
  st->rst_code = code;
  st->ctl = 0;
  mux_ctl_add(mux, st, MUX_CTL_RST);
  return 0;
}

int dsb_mux_set_priority(dsb_mux *mux, uint32_t id, uint8_t priority) {
  mux_stream *st;
  if (mux == NULL || priority > DSB_MUX_PRIORITY_MAX) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  st = mux_api_stream(mux, id);
  if (st == NULL) {
    return DSB_ERR_NOT_FOUND;
  }
  mux_sched_remove(mux, st);
  st->priority = priority;
  mux_sched_update(mux, st);
  return 0;
}

void *dsb_mux_stream_user_data(const dsb_mux *mux, uint32_t id) {
  mux_stream *st = mux ? mux_api_stream(mux, id) : NULL;
  return st ? st->user_data : NULL;
}

int dsb_mux_set_stream_user_data(dsb_mux *mux, uint32_t id, void *data) {
  mux_stream *st = mux ? mux_api_stream(mux, id) : NULL;
  if (st == NULL) {
    return DSB_ERR_NOT_FOUND;
  }
  st->user_data = data;
  return 0;
}

int dsb_mux_stream_get_info(const dsb_mux *mux, uint32_t id,
                            dsb_mux_stream_info *info) {
  const mux_stream *st = mux ? mux_stream_find(mux, id) : NULL;
  if (st == NULL || info == NULL) {
    return DSB_ERR_NOT_FOUND;
  }
  memset(info, 0, sizeof(*info));
  info->id = st->id;
  info->state = st->state;
  info->priority = st->priority;
  info->mode =
      (st->flags & MUX_SF_BYTES) ? DSB_MUX_MODE_BYTES : DSB_MUX_MODE_MESSAGE;
  info->local_closed = (st->flags & MUX_SF_CLOSE_REQ) != 0;
  info->remote_closed = (st->flags & MUX_SF_REMOTE_CLOSED) != 0;
  info->send_credit = st->send_credit;
  info->send_buffered = st->slen;
  info->recv_unconsumed = st->recv_unconsumed;
  info->max_message = st->send_max_message;
  return 0;
}
