/*
 * mux.c - the mux session object: creation, dsb_mux_recv() and
 * dsb_mux_send() (control frames, then DATA from the scheduler), and
 * keepalive. The per-stream API lives in mux_api.c.
 */
#include <assert.h>
#include <string.h>

#include "dsb/err.h"
#include "dsb/wire.h"
#include "core/mux_internal.h"

void dsb_mux_settings_default(dsb_mux_settings *s) {
  s->max_streams = 128;
  s->max_frame_payload = DSB_MUX_MAX_FRAME_PAYLOAD;
  s->stream_window = 256 * 1024;
  s->stream_send_buffer = 256 * 1024;
  s->max_message = 256 * 1024;
  s->session_window = 8 * 1024 * 1024;
  s->session_send_buffer = 8 * 1024 * 1024;
  s->starvation_budget = 16;
  s->keepalive_idle = 15 * DSB_NS_PER_S;
  s->keepalive_timeout = 10 * DSB_NS_PER_S;
}

static int mux_settings_valid(const dsb_mux_settings *s) {
  const uint32_t max_win = 1u << 30;
  return s->max_streams >= 1 && s->max_streams <= 1024 &&
         s->max_frame_payload >= 1024 &&
         s->max_frame_payload <= DSB_MUX_MAX_FRAME_PAYLOAD &&
         s->stream_window >= DSB_MUX_MIN_WINDOW &&
         s->stream_window <= max_win && s->stream_send_buffer >= 1024 &&
         s->stream_send_buffer <= max_win && s->max_message >= 1 &&
         s->max_message <= s->stream_window &&
         s->max_message <= s->stream_send_buffer &&
         s->session_window >= DSB_MUX_INITIAL_SESSION_WINDOW &&
         s->session_window <= max_win && s->session_window >= s->max_message &&
         s->session_send_buffer >= s->stream_send_buffer &&
         s->session_send_buffer <= max_win && s->starvation_budget >= 1 &&
         s->starvation_budget <= 1024 &&
         (s->keepalive_idle == 0 || s->keepalive_timeout > 0);
}

int dsb_mux_new(dsb_mux **pmux, const dsb_mem *mem, dsb_mux_role role,
                const dsb_mux_settings *settings, const dsb_mux_callbacks *cb,
                void *user_data, dsb_tstamp now) {
  dsb_mux *mux;
  uint32_t tsize = 16;

  if (pmux == NULL ||
      (role != DSB_MUX_ROLE_INITIATOR && role != DSB_MUX_ROLE_RESPONDER)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (settings != NULL && !mux_settings_valid(settings)) {
    return DSB_ERR_CONFIG;
  }
  mem = mem ? mem : dsb_mem_default();
  mux = dsb_mem_calloc(mem, 1, sizeof(*mux));
  if (mux == NULL) {
    goto fail_mux;
  }
  mux->mem = mem;
  if (settings) {
    mux->set = *settings;
  } else {
    dsb_mux_settings_default(&mux->set);
  }
  if (cb) {
    mux->cb = *cb;
  }
  mux->user_data = user_data;
  mux->role = (uint8_t)role;
  mux->last_ts = now;
  mux->last_recv = now;
  mux->next_local_id = role == DSB_MUX_ROLE_INITIATOR ? 1 : 2;

  /* At most half full, so probe runs stay short. */
  while (tsize < 2 * mux->set.max_streams) {
    tsize *= 2;
  }
  /* A table of stream pointers: the element size is a pointer's. */
  mux->table = dsb_mem_calloc(mem, tsize, sizeof(mux_stream *));
  if (mux->table == NULL) {
    goto fail_table;
  }
  mux->table_mask = tsize - 1;
  mux->refusals =
      dsb_mem_calloc(mem, mux->set.max_streams, sizeof(*mux->refusals));
  if (mux->refusals == NULL) {
    goto fail_refusals;
  }
  mux->scratch_ids =
      dsb_mem_calloc(mem, mux->set.max_streams, sizeof(*mux->scratch_ids));
  if (mux->scratch_ids == NULL) {
    goto fail_scratch;
  }

  /* Every mux starts with the protocol's initial session credit; the rest
   * of our session window goes to the peer as the first WINDOW_UPDATE. */
  mux->send_credit = DSB_MUX_INITIAL_SESSION_WINDOW;
  mux->recv_unreported =
      mux->set.session_window - DSB_MUX_INITIAL_SESSION_WINDOW;
  mux->session_window_pending = mux->recv_unreported > 0;

  *pmux = mux;
  return 0;

fail_scratch:
  dsb_mem_free(mem, mux->refusals);
fail_refusals:
  dsb_mem_free(mem, mux->table);
fail_table:
  dsb_mem_free(mem, mux);
fail_mux:
  return DSB_ERR_NOMEM;
}

void dsb_mux_del(dsb_mux *mux) {
  if (mux == NULL) {
    return;
  }
  for (uint32_t i = 0; i <= mux->table_mask; ++i) {
    mux_stream_free(mux, mux->table[i]);
  }
  mux_free_retired(mux);
  mux_asm_trim(mux);
  dsb_mem_free(mux->mem, mux->scratch_ids);
  dsb_mem_free(mux->mem, mux->refusals);
  dsb_mem_free(mux->mem, mux->table);
  dsb_mem_free(mux->mem, mux);
}

/* Time never goes backwards; a caller bug is clamped in release builds. */
static dsb_tstamp mux_update_ts(dsb_mux *mux, dsb_tstamp now) {
  assert(now >= mux->last_ts);
  if (now < mux->last_ts) {
    now = mux->last_ts;
  }
  mux->last_ts = now;
  return now;
}

/* Records a fatal error: the mux is dead from now on. */
static int mux_die(dsb_mux *mux, int err) {
  if (dsb_err_is_fatal(err)) {
    mux->fatal = err;
    if (err <= -600 && err > -700) {
      mux_count_reject(mux, err);
    }
  }
  return err;
}

int dsb_mux_set_authenticated(dsb_mux *mux, dsb_tstamp now) {
  if (mux == NULL) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (mux->fatal) {
    return mux->fatal;
  }
  now = mux_update_ts(mux, now);
  if (!mux->authenticated) {
    mux->authenticated = 1;
    mux->last_recv = now;
  }
  return 0;
}

long dsb_mux_recv(dsb_mux *mux, const uint8_t *in, size_t inlen,
                  dsb_tstamp now) {
  size_t off = 0;
  int rv = 0;

  if (mux == NULL || (in == NULL && inlen != 0)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (mux->fatal) {
    return mux->fatal;
  }
  if (mux->busy) {
    return DSB_ERR_INVALID_STATE;
  }
  now = mux_update_ts(mux, now);
  if (inlen == 0) {
    return 0;
  }
  if (!mux->authenticated) {
    return mux_die(mux, DSB_ERR_MUX_UNAUTHENTICATED);
  }
  mux->busy = 1;
  while (off < inlen) {
    dsb_mux_frame fr;
    long n = dsb_mux_frame_decode(&fr, in + off, inlen - off);
    if (n < 0) {
      rv = (int)n;
      break;
    }
    rv = mux_recv_frame(mux, &fr, now);
    if (rv != 0) {
      break;
    }
    mux->stats.frames_received++;
    off += (size_t)n;
  }
  mux->busy = 0;
  mux_free_retired(mux);
  if (mux->recv_buffered == 0) {
    mux_asm_trim(mux); /* nothing partly assembled: keep no spares */
  }
  if (rv != 0) {
    return mux_die(mux, rv);
  }
  mux->last_recv = now;
  return (long)inlen;
}

/* ---- sending ---- */

typedef struct mux_out {
  uint8_t *dst;
  size_t dstlen;
  size_t off;
} mux_out;

/* Appends one control frame; DSB_ERR_NOBUF when it does not fit. */
static int mux_out_frame(dsb_mux *mux, mux_out *out, const dsb_mux_frame *fr) {
  long n =
      dsb_mux_frame_encode(out->dst + out->off, out->dstlen - out->off, fr);
  if (n < 0) {
    return (int)n;
  }
  out->off += (size_t)n;
  mux->stats.frames_sent++;
  return 0;
}

static int mux_emit_stream_ctl(dsb_mux *mux, mux_out *out, mux_stream *st) {
  dsb_mux_frame fr;
  int rv;

  while (st->ctl) {
    memset(&fr, 0, sizeof(fr));
    fr.stream_id = st->id;
    if (st->ctl & MUX_CTL_OPEN) {
      fr.type = DSB_MUX_FRAME_OPEN;
      fr.priority = st->priority;
      fr.mode = (st->flags & MUX_SF_BYTES) ? DSB_MUX_MODE_BYTES
                                           : DSB_MUX_MODE_MESSAGE;
      fr.window = st->recv_window;
      fr.max_message = mux->set.max_message;
      fr.name = (const uint8_t *)st->name;
      fr.namelen = st->namelen;
      if ((rv = mux_out_frame(mux, out, &fr)) != 0) {
        return rv;
      }
      st->ctl &= (uint8_t)~MUX_CTL_OPEN;
      st->flags |= MUX_SF_OPEN_SENT;
    } else if (st->ctl & MUX_CTL_OPEN_ACK) {
      fr.type = DSB_MUX_FRAME_OPEN_ACK;
      fr.window = st->recv_window;
      fr.max_message = mux->set.max_message;
      if ((rv = mux_out_frame(mux, out, &fr)) != 0) {
        return rv;
      }
      st->ctl &= (uint8_t)~MUX_CTL_OPEN_ACK;
    } else if (st->ctl & MUX_CTL_WINDOW) {
      if (st->recv_unreported > 0 && !(st->flags & MUX_SF_REMOTE_CLOSED)) {
        fr.type = DSB_MUX_FRAME_WINDOW_UPDATE;
        fr.increment = (uint32_t)st->recv_unreported;
        if ((rv = mux_out_frame(mux, out, &fr)) != 0) {
          return rv;
        }
        st->recv_unreported = 0;
      }
      st->ctl &= (uint8_t)~MUX_CTL_WINDOW;
    } else if (st->ctl & MUX_CTL_CLOSE) {
      fr.type = DSB_MUX_FRAME_CLOSE;
      if ((rv = mux_out_frame(mux, out, &fr)) != 0) {
        return rv;
      }
      st->ctl &= (uint8_t)~MUX_CTL_CLOSE;
      st->flags |= MUX_SF_CLOSE_SENT;
    } else {
      fr.type = DSB_MUX_FRAME_RST;
      fr.code = st->rst_code;
      if ((rv = mux_out_frame(mux, out, &fr)) != 0) {
        return rv;
      }
      st->ctl = 0;
    }
  }
  return 0;
}

/* Control frames in a fixed order: PONG, session credit, PING, per-stream
 * controls in FIFO order, refusals. */
static int mux_emit_ctl(dsb_mux *mux, mux_out *out) {
  dsb_mux_frame fr;
  int rv;

  memset(&fr, 0, sizeof(fr));
  if (mux->pong_pending) {
    fr.type = DSB_MUX_FRAME_PONG;
    fr.opaque = mux->pong_opaque;
    if ((rv = mux_out_frame(mux, out, &fr)) != 0) {
      return rv;
    }
    mux->pong_pending = 0;
  }
  if (mux->session_window_pending) {
    if (mux->recv_unreported > 0) {
      fr.type = DSB_MUX_FRAME_WINDOW_UPDATE;
      fr.stream_id = 0;
      fr.increment = (uint32_t)mux->recv_unreported;
      if ((rv = mux_out_frame(mux, out, &fr)) != 0) {
        return rv;
      }
      mux->recv_unreported = 0;
    }
    mux->session_window_pending = 0;
  }
  if (mux->ping_pending) {
    memset(&fr, 0, sizeof(fr));
    fr.type = DSB_MUX_FRAME_PING;
    fr.opaque = mux->ping_counter;
    if ((rv = mux_out_frame(mux, out, &fr)) != 0) {
      return rv;
    }
    mux->ping_pending = 0;
    mux->stats.pings_sent++;
  }
  while (mux->ctl_head) {
    mux_stream *st = mux->ctl_head;
    if ((rv = mux_emit_stream_ctl(mux, out, st)) != 0) {
      return rv;
    }
    mux_ctl_unlink(mux, st);
    if (st->state == DSB_MUX_STREAM_RESET) {
      mux_stream_retire(mux, st); /* RST sent: the stream is gone */
    } else {
      mux_sched_update(mux, st);
      mux_stream_maybe_finish(mux, st);
    }
  }
  while (mux->ref_len) {
    mux_refusal *r = &mux->refusals[mux->ref_head];
    memset(&fr, 0, sizeof(fr));
    fr.type = DSB_MUX_FRAME_RST;
    fr.stream_id = r->id;
    fr.code = r->code;
    if ((rv = mux_out_frame(mux, out, &fr)) != 0) {
      return rv;
    }
    mux->ref_head = (mux->ref_head + 1) % mux->set.max_streams;
    mux->ref_len--;
  }
  return 0;
}

static size_t mux_min_size(size_t a, size_t b) {
  return a < b ? a : b;
}

/* One DATA frame from |st|; the caller checked readiness and space. */
static void mux_emit_data(dsb_mux *mux, mux_out *out, mux_stream *st) {
  uint8_t *p = out->dst + out->off;
  size_t space = out->dstlen - out->off - DSB_MUX_FRAME_HEADER_LEN;
  size_t n = mux_min_size(space, mux->set.max_frame_payload);
  uint8_t flags = 0;

  if (st->deficit == 0) {
    st->deficit = mux->set.max_frame_payload; /* a new turn */
  }
  n = mux_min_size(n, st->deficit);
  n = mux_min_size(n, st->send_credit);
  if (st->flags & MUX_SF_BYTES) {
    n = mux_min_size(n, st->slen);
    n = mux_min_size(n, mux->send_credit - mux->send_reserved);
  } else {
    if (!st->in_msg) {
      uint8_t h[MUX_MSG_HDR];
      st->msg_left = mux_ring_peek_msglen(st);
      mux_ring_pop(mux, st, h, sizeof(h));
      st->in_msg = 1;
      mux->send_reserved += st->msg_left;
    }
    n = mux_min_size(n, st->msg_left);
    if (n == st->msg_left) {
      flags = DSB_MUX_FLAG_FIN_MESSAGE;
    }
  }
  p = dsb_wire_put_u8(p, DSB_MUX_VERSION);
  p = dsb_wire_put_u8(p, DSB_MUX_FRAME_DATA);
  p = dsb_wire_put_u8(p, flags);
  p = dsb_wire_put_u32be(p, st->id);
  p = dsb_wire_put_u16be(p, (uint16_t)n);
  mux_ring_pop(mux, st, p, n);
  out->off += DSB_MUX_FRAME_HEADER_LEN + n;

  st->send_credit -= n;
  st->deficit -= (uint32_t)n;
  mux->send_credit -= n;
  if (!(st->flags & MUX_SF_BYTES)) {
    mux->send_reserved -= n;
    st->msg_left -= n;
    if (st->msg_left == 0) {
      st->in_msg = 0;
      mux->stats.messages_sent++;
    }
  }
  mux->stats.frames_sent++;
  mux->stats.bytes_sent += n;
  if (st->slen == 0 && (st->flags & MUX_SF_CLOSE_REQ)) {
    mux_ctl_add(mux, st, MUX_CTL_CLOSE);
  }
}

/*
 * Smallest DATA frame worth starting at the end of a record: splitting a
 * message into slivers costs a header each, so a frame shorter than this
 * (when more is sendable) waits for the next record.
 */
#define MUX_MIN_TAIL_FRAME 512

static int mux_tail_too_small(const dsb_mux *mux, const mux_out *out,
                              const mux_stream *st) {
  size_t space = out->dstlen - out->off - DSB_MUX_FRAME_HEADER_LEN;
  size_t want = st->in_msg                   ? st->msg_left
                : (st->flags & MUX_SF_BYTES) ? st->slen
                                             : mux_ring_peek_msglen(st);
  want = mux_min_size(want, st->send_credit);
  want = mux_min_size(want, MUX_MIN_TAIL_FRAME);
  (void)mux;
  return space < want;
}

int mux_notify_writable(dsb_mux *mux) {
  uint32_t n = 0;
  int rv = 0;
  if (!mux->writable_pending) {
    return 0;
  }
  mux->writable_pending = 0;
  for (uint32_t i = 0; i <= mux->table_mask; ++i) {
    mux_stream *st = mux->table[i];
    if (st == NULL || !(st->flags & MUX_SF_WANT_WRITABLE)) {
      continue;
    }
    size_t limit = (size_t)mux->set.stream_send_buffer + MUX_MSG_HDR;
    size_t slimit = (size_t)mux->set.session_send_buffer + MUX_MSG_HDR;
    if (st->state != DSB_MUX_STREAM_OPEN || st->slen + st->want_space > limit ||
        mux->send_buffered + st->want_space > slimit) {
      mux->writable_pending = 1; /* still blocked */
      continue;
    }
    st->flags &= ~MUX_SF_WANT_WRITABLE;
    mux->scratch_ids[n++] = st->id;
  }
  /* Callbacks may open, reset or retire streams: call them by id. */
  for (uint32_t i = 0; i < n && rv == 0; ++i) {
    if (mux_stream_find(mux, mux->scratch_ids[i]) != NULL) {
      rv = MUX_CALL(mux, on_stream_writable, mux->scratch_ids[i]);
    }
  }
  return rv;
}

long dsb_mux_send(dsb_mux *mux, uint8_t *dst, size_t dstlen, dsb_tstamp now) {
  mux_out out = {dst, dstlen, 0};
  uint64_t popped;
  int rv = 0;

  if (mux == NULL || (dst == NULL && dstlen != 0)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (mux->fatal) {
    return mux->fatal;
  }
  if (mux->busy) {
    return DSB_ERR_INVALID_STATE;
  }
  mux_update_ts(mux, now);
  if (!mux->authenticated) {
    return 0;
  }
  mux->busy = 1;
  popped = mux->stats.bytes_sent;
  rv = mux_emit_ctl(mux, &out);
  while (rv == 0 && out.dstlen - out.off > DSB_MUX_FRAME_HEADER_LEN) {
    int c;
    mux_stream *st = mux_sched_peek(mux, &c);
    if (st == NULL || mux_tail_too_small(mux, &out, st)) {
      break;
    }
    mux_emit_data(mux, &out, st);
    mux_sched_update(mux, st);
    mux_sched_sent(mux, c, st);
    if (mux->ctl_head) {
      rv = mux_emit_ctl(mux, &out); /* a drained stream's CLOSE */
    }
  }
  if (rv == DSB_ERR_NOBUF) {
    rv = 0; /* the rest goes in the next record */
  }
  if (rv == 0 && mux->stats.bytes_sent != popped) {
    rv = mux_notify_writable(mux);
  }
  mux->busy = 0;
  mux_free_retired(mux);
  if (rv != 0) {
    return mux_die(mux, rv);
  }
  return (long)out.off;
}

int dsb_mux_want_send(const dsb_mux *mux) {
  int c;
  if (mux == NULL || mux->fatal || !mux->authenticated) {
    return 0;
  }
  if (mux->pong_pending || mux->ping_pending || mux->ctl_head || mux->ref_len ||
      (mux->session_window_pending && mux->recv_unreported)) {
    return 1;
  }
  return mux_sched_peek(mux, &c) != NULL;
}

/* ---- keepalive ---- */

dsb_tstamp dsb_mux_next_timeout(const dsb_mux *mux) {
  if (mux == NULL || mux->fatal || !mux->authenticated ||
      mux->set.keepalive_idle == 0) {
    return UINT64_MAX;
  }
  if (mux->ping_outstanding) {
    return mux->ping_deadline;
  }
  if (mux->last_recv > UINT64_MAX - mux->set.keepalive_idle) {
    return UINT64_MAX;
  }
  return mux->last_recv + mux->set.keepalive_idle;
}

int dsb_mux_handle_timeout(dsb_mux *mux, dsb_tstamp now) {
  if (mux == NULL) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (mux->fatal) {
    return mux->fatal;
  }
  if (mux->busy) {
    return DSB_ERR_INVALID_STATE;
  }
  now = mux_update_ts(mux, now);
  if (!mux->authenticated || mux->set.keepalive_idle == 0) {
    return 0;
  }
  if (mux->ping_outstanding) {
    if (now >= mux->ping_deadline) {
      int rv = 0;
      mux->fatal = DSB_ERR_MUX_KEEPALIVE_TIMEOUT;
      if (mux->cb.on_keepalive_timeout != NULL &&
          mux->cb.on_keepalive_timeout(mux, mux->user_data) != 0) {
        rv = DSB_ERR_CALLBACK_FAILURE;
      }
      (void)rv; /* the keepalive verdict is the more useful code */
      return DSB_ERR_MUX_KEEPALIVE_TIMEOUT;
    }
    return 0;
  }
  if (now >= dsb_mux_next_timeout(mux)) {
    mux->ping_counter++;
    mux->ping_pending = 1;
    mux->ping_outstanding = 1;
    mux->ping_deadline = now + mux->set.keepalive_timeout;
  }
  return 0;
}

/* ---- stats ---- */

void dsb_mux_get_stats(const dsb_mux *mux, dsb_mux_stats *stats) {
  *stats = mux->stats;
  stats->send_buffered = mux->send_buffered;
  stats->recv_buffered = mux->recv_buffered;
  stats->session_send_credit = mux->send_credit;
  stats->streams_live = mux->nstreams;
}

uint64_t dsb_mux_reject_count(const dsb_mux *mux, int err) {
  int idx = -err - 600;
  if (mux == NULL || idx < 0 ||
      idx >= (int)(sizeof(mux->rejects) / sizeof(mux->rejects[0]))) {
    return 0;
  }
  return mux->rejects[idx];
}

int dsb_mux_fatal_error(const dsb_mux *mux) {
  return mux ? mux->fatal : DSB_ERR_INVALID_ARGUMENT;
}
