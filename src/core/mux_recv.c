/*
 * mux_recv.c - one received frame at a time: the stream state machine
 * (docs/PROTOCOL.md "Streams (mux v2)", state machine and credit rules).
 *
 * Fatal rejects return a mux.reject.* code and kill the mux. Stream-level
 * problems (bad or duplicate name, stream limit, message too large) reset
 * only that stream. Callbacks run with every counter already updated, and
 * the stream is re-checked afterwards because a callback may reset it.
 */
#include <string.h>

#include "dsb/err.h"
#include "core/mux_internal.h"

static int mux_is_local_id(const dsb_mux *mux, uint32_t id) {
  return (int)(id & 1u) == (mux->role == DSB_MUX_ROLE_INITIATOR ? 1 : 0);
}

/*
 * A frame for an id not in the table: ids at or below the highest id its
 * owner has opened belong to streams that are closed (ignore, in-flight
 * frames are legitimate after a reset); higher ids were never opened.
 */
static int mux_absent_stream(dsb_mux *mux, uint32_t id) {
  uint32_t last =
      mux_is_local_id(mux, id) ? mux->last_local_id : mux->last_peer_id;
  if (id <= last) {
    mux->stats.frames_ignored++;
    return 0;
  }
  return DSB_ERR_MUX_UNKNOWN_STREAM;
}

static int mux_refuse(dsb_mux *mux, uint32_t id, uint32_t code) {
  if (mux->ref_len >= mux->set.max_streams) {
    return DSB_ERR_MUX_REFUSAL_FLOOD;
  }
  uint32_t slot = (mux->ref_head + mux->ref_len) % mux->set.max_streams;
  mux->refusals[slot].id = id;
  mux->refusals[slot].code = code;
  mux->ref_len++;
  mux->stats.streams_refused++;
  return 0;
}

static uint32_t mux_min_u32(uint32_t a, uint32_t b) {
  return a < b ? a : b;
}

static int mux_recv_open(dsb_mux *mux, const dsb_mux_frame *fr) {
  mux_stream *st;
  int rv;

  if (mux_is_local_id(mux, fr->stream_id) ||
      fr->stream_id <= mux->last_peer_id) {
    return DSB_ERR_MUX_INVALID_TRANSITION; /* wrong parity or id reuse */
  }
  mux->last_peer_id = fr->stream_id;
  if (!dsb_mux_name_valid((const char *)fr->name, fr->namelen)) {
    mux_count_reject(mux, DSB_ERR_MUX_INVALID_NAME);
    return mux_refuse(mux, fr->stream_id, DSB_MUX_RST_INVALID_NAME);
  }
  if (mux_stream_name_in_use(mux, fr->name, fr->namelen, 0)) {
    mux_count_reject(mux, DSB_ERR_MUX_DUPLICATE_NAME);
    return mux_refuse(mux, fr->stream_id, DSB_MUX_RST_DUPLICATE_NAME);
  }
  if (mux->cb.on_stream_open == NULL) {
    return mux_refuse(mux, fr->stream_id, DSB_MUX_RST_REJECTED);
  }
  rv = mux_stream_new(mux, &st, fr->stream_id);
  if (rv == DSB_ERR_MUX_TOO_MANY_STREAMS) {
    mux_count_reject(mux, rv);
    return mux_refuse(mux, fr->stream_id, DSB_MUX_RST_REFUSED);
  }
  if (rv != 0) {
    return rv;
  }
  st->state = DSB_MUX_STREAM_PENDING;
  st->priority = fr->priority;
  st->flags = fr->mode == DSB_MUX_MODE_BYTES ? MUX_SF_BYTES : 0;
  st->namelen = (uint8_t)fr->namelen;
  memcpy(st->name, fr->name, fr->namelen);
  st->peer_window = fr->window;
  st->send_credit = fr->window;
  st->send_max_message =
      mux_min_u32(mux_min_u32(mux->set.max_message, fr->max_message),
                  mux_min_u32(fr->window, mux->set.stream_send_buffer));
  return MUX_CALL(mux, on_stream_open, st->id, st->name, st->namelen,
                  st->priority, fr->mode);
}

static int mux_recv_open_ack(dsb_mux *mux, const dsb_mux_frame *fr) {
  mux_stream *st = mux_stream_find(mux, fr->stream_id);
  int rv;
  if (st == NULL) {
    return mux_absent_stream(mux, fr->stream_id);
  }
  if (st->state == DSB_MUX_STREAM_RESET) {
    mux->stats.frames_ignored++;
    return 0;
  }
  if (st->state != DSB_MUX_STREAM_OPENING || !(st->flags & MUX_SF_OPEN_SENT)) {
    return DSB_ERR_MUX_INVALID_TRANSITION;
  }
  st->state = DSB_MUX_STREAM_OPEN;
  st->peer_window = fr->window;
  st->send_credit = fr->window;
  st->send_max_message =
      mux_min_u32(mux_min_u32(mux->set.max_message, fr->max_message),
                  mux_min_u32(fr->window, mux->set.stream_send_buffer));
  rv = MUX_CALL(mux, on_stream_accepted, st->id);
  if (rv != 0) {
    return rv;
  }
  if (st->state == DSB_MUX_STREAM_OPEN && (st->flags & MUX_SF_WANT_WRITABLE)) {
    st->flags &= ~MUX_SF_WANT_WRITABLE;
    rv = MUX_CALL(mux, on_stream_writable, st->id);
  }
  return rv;
}

static int mux_recv_window_update(dsb_mux *mux, const dsb_mux_frame *fr) {
  mux_stream *st;
  if (fr->stream_id == 0) {
    if (mux->send_credit + fr->increment > DSB_MUX_MAX_WINDOW) {
      return DSB_ERR_MUX_CREDIT;
    }
    mux->send_credit += fr->increment;
    return 0;
  }
  st = mux_stream_find(mux, fr->stream_id);
  if (st == NULL) {
    return mux_absent_stream(mux, fr->stream_id);
  }
  if (st->state == DSB_MUX_STREAM_RESET) {
    mux->stats.frames_ignored++;
    return 0;
  }
  if (st->state == DSB_MUX_STREAM_OPENING) {
    return DSB_ERR_MUX_INVALID_TRANSITION; /* before OPEN_ACK */
  }
  /* The peer only returns bytes it received, so credit can never exceed
   * the window it advertised. */
  if (st->send_credit + fr->increment > st->peer_window) {
    return DSB_ERR_MUX_CREDIT;
  }
  st->send_credit += fr->increment;
  mux_sched_update(mux, st);
  return 0;
}

/* Resets |st| from this end because of a stream-level error. */
static int mux_local_stream_error(dsb_mux *mux, mux_stream *st, uint32_t code) {
  uint32_t id = st->id;
  int rv = dsb_mux_reset(mux, id, code);
  if (rv != 0) {
    return rv;
  }
  return MUX_CALL(mux, on_stream_reset, id, code);
}

static int mux_asm_append(dsb_mux *mux, mux_stream *st, const uint8_t *data,
                          size_t len) {
  size_t need = st->alen + len;
  if (need > st->acap) {
    size_t cap =
        st->acap ? st->acap * 2 : 2 * (size_t)DSB_MUX_MAX_FRAME_PAYLOAD;
    uint8_t *nbuf;
    while (cap < need) {
      cap *= 2;
    }
    if (cap > mux->set.max_message) {
      cap = mux->set.max_message;
    }
    nbuf = cap == mux_asm_cap(mux) ? mux_asm_get(mux)
                                   : dsb_mem_malloc(mux->mem, cap);
    if (nbuf == NULL) {
      return DSB_ERR_NOMEM;
    }
    if (st->alen) {
      memcpy(nbuf, st->abuf, st->alen);
    }
    mux_asm_put(mux, st->abuf, st->acap);
    mux->recv_buffered += cap - st->acap;
    st->abuf = nbuf;
    st->acap = cap;
  }
  memcpy(st->abuf + st->alen, data, len);
  st->alen += len;
  return 0;
}

static int mux_recv_data(dsb_mux *mux, const dsb_mux_frame *fr) {
  mux_stream *st;
  size_t len = fr->datalen;
  uint32_t id = fr->stream_id;
  int fin = (fr->flags & DSB_MUX_FLAG_FIN_MESSAGE) != 0;
  int rv;

  if (len > (uint64_t)mux->set.session_window - mux->recv_unconsumed -
                mux->recv_unreported) {
    return DSB_ERR_MUX_CREDIT;
  }
  st = mux_stream_find(mux, id);
  if (st == NULL || st->state == DSB_MUX_STREAM_RESET) {
    if (st == NULL) {
      rv = mux_absent_stream(mux, id);
      if (rv != 0) {
        return rv;
      }
    } else {
      mux->stats.frames_ignored++;
    }
    /* Nobody will consume these bytes: hand their session credit back. */
    mux->recv_unreported += len;
    mux_session_check_window(mux);
    return 0;
  }
  if (st->state != DSB_MUX_STREAM_OPEN || (st->flags & MUX_SF_REMOTE_CLOSED)) {
    return DSB_ERR_MUX_INVALID_TRANSITION;
  }
  if ((st->flags & MUX_SF_BYTES) && fin) {
    return DSB_ERR_MUX_MALFORMED;
  }
  if (len >
      (uint64_t)st->recv_window - st->recv_unconsumed - st->recv_unreported) {
    return DSB_ERR_MUX_CREDIT;
  }
  st->recv_unconsumed += len;
  mux->recv_unconsumed += len;
  mux->stats.bytes_received += len;

  if (st->flags & MUX_SF_BYTES) {
    rv = MUX_CALL(mux, on_data, id, fr->data, len);
  } else if (st->alen == 0 && fin) {
    /* Single-frame message: deliver straight from the record. */
    mux->stats.messages_received++;
    rv = MUX_CALL(mux, on_message, id, fr->data, len);
  } else {
    if (st->alen + len > mux->set.max_message) {
      mux_count_reject(mux, DSB_ERR_MUX_MESSAGE_TOO_LARGE);
      return mux_local_stream_error(mux, st, DSB_MUX_RST_MESSAGE_TOO_LARGE);
    }
    rv = mux_asm_append(mux, st, fr->data, len);
    if (rv != 0 || !fin) {
      goto check_window;
    }
    /* Detach the buffer first: the callback may reset the stream. */
    uint8_t *msg = st->abuf;
    size_t msglen = st->alen, cap = st->acap;
    st->abuf = NULL;
    st->acap = st->alen = 0;
    mux->stats.messages_received++;
    rv = MUX_CALL(mux, on_message, id, msg, msglen);
    mux->recv_buffered -= cap;
    mux_asm_put(mux, msg, cap); /* dsb_mux_recv() trims the spares */
  }
check_window:
  if (rv != 0) {
    return rv;
  }
  if (mux_stream_find(mux, id) == st) {
    mux_stream_check_window(mux, st);
  }
  mux_session_check_window(mux);
  return 0;
}

static int mux_recv_rst(dsb_mux *mux, const dsb_mux_frame *fr) {
  mux_stream *st = mux_stream_find(mux, fr->stream_id);
  int rv;
  if (st == NULL) {
    return mux_absent_stream(mux, fr->stream_id);
  }
  if (st->state == DSB_MUX_STREAM_RESET) {
    mux->stats.frames_ignored++; /* both ends reset: RST is idempotent */
    return 0;
  }
  if (st->state == DSB_MUX_STREAM_OPENING && !(st->flags & MUX_SF_OPEN_SENT)) {
    return DSB_ERR_MUX_INVALID_TRANSITION;
  }
  /* Mark first so a dsb_mux_reset() from the callback is a no-op. */
  st->state = DSB_MUX_STREAM_RESET;
  st->ctl = 0;
  mux_sched_remove(mux, st);
  rv = MUX_CALL(mux, on_stream_reset, st->id, fr->code);
  mux_stream_retire(mux, st);
  return rv;
}

static int mux_recv_close(dsb_mux *mux, const dsb_mux_frame *fr) {
  mux_stream *st = mux_stream_find(mux, fr->stream_id);
  int rv;
  if (st == NULL) {
    return mux_absent_stream(mux, fr->stream_id);
  }
  if (st->state == DSB_MUX_STREAM_RESET) {
    mux->stats.frames_ignored++;
    return 0;
  }
  if (st->state == DSB_MUX_STREAM_OPENING ||
      (st->flags & MUX_SF_REMOTE_CLOSED) || st->alen != 0) {
    /* before OPEN_ACK, twice, or in the middle of a message */
    return DSB_ERR_MUX_INVALID_TRANSITION;
  }
  st->flags |= MUX_SF_REMOTE_CLOSED;
  st->ctl &= (uint8_t)~MUX_CTL_WINDOW;
  rv = MUX_CALL(mux, on_stream_close, st->id);
  if (rv != 0) {
    return rv;
  }
  if (mux_stream_find(mux, fr->stream_id) == st) {
    mux_stream_maybe_finish(mux, st);
  }
  return 0;
}

int mux_recv_frame(dsb_mux *mux, const dsb_mux_frame *fr, dsb_tstamp now) {
  switch (fr->type) {
  case DSB_MUX_FRAME_OPEN:
    return mux_recv_open(mux, fr);
  case DSB_MUX_FRAME_OPEN_ACK:
    return mux_recv_open_ack(mux, fr);
  case DSB_MUX_FRAME_DATA:
    return mux_recv_data(mux, fr);
  case DSB_MUX_FRAME_WINDOW_UPDATE:
    return mux_recv_window_update(mux, fr);
  case DSB_MUX_FRAME_RST:
    return mux_recv_rst(mux, fr);
  case DSB_MUX_FRAME_CLOSE:
    return mux_recv_close(mux, fr);
  case DSB_MUX_FRAME_PING:
    /* Answer the latest PING only: a PING flood costs one PONG. */
    mux->pong_pending = 1;
    mux->pong_opaque = fr->opaque;
    return 0;
  case DSB_MUX_FRAME_PONG:
    if (mux->ping_outstanding && fr->opaque == mux->ping_counter) {
      mux->ping_outstanding = 0;
      mux->stats.pongs_received++;
    } else {
      mux->stats.frames_ignored++;
    }
    (void)now;
    return 0;
  default:
    return DSB_ERR_MUX_MALFORMED;
  }
}
