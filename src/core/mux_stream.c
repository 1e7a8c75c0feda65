/*
 * mux_stream.c - stream objects, the id table, send rings and credit
 * bookkeeping of the mux.
 *
 * Memory: an idle stream is just its struct. The send ring is allocated on
 * the first write, grows by doubling up to the stream's cap and is freed
 * when it drains; a partial-message buffer lives only while a multi-frame
 * message is being assembled. Both are charged to session-wide totals.
 */
#include <string.h>

#include "dsb/err.h"
#include "dsb/wire.h"
#include "core/mux_internal.h"

void mux_count_reject(dsb_mux *mux, int err) {
  int idx = -err - 600;
  if (idx >= 0 && idx < (int)(sizeof(mux->rejects) / sizeof(mux->rejects[0]))) {
    mux->rejects[idx]++;
  }
  mux->stats.rejects_total++;
}

/* ---- id table: open addressing with backward-shift deletion ---- */

static uint32_t mux_hash(const dsb_mux *mux, uint32_t id) {
  return (id * 2654435761u) & mux->table_mask;
}

mux_stream *mux_stream_find(const dsb_mux *mux, uint32_t id) {
  uint32_t i = mux_hash(mux, id);
  for (;;) {
    mux_stream *st = mux->table[i];
    if (st == NULL) {
      return NULL;
    }
    if (st->id == id) {
      return st;
    }
    i = (i + 1) & mux->table_mask;
  }
}

static void mux_table_insert(dsb_mux *mux, mux_stream *st) {
  uint32_t i = mux_hash(mux, st->id);
  while (mux->table[i] != NULL) {
    i = (i + 1) & mux->table_mask;
  }
  mux->table[i] = st;
}

static void mux_table_remove(dsb_mux *mux, mux_stream *st) {
  uint32_t i = mux_hash(mux, st->id);
  while (mux->table[i] != st) {
    if (mux->table[i] == NULL) {
      return;
    }
    i = (i + 1) & mux->table_mask;
  }
  mux->table[i] = NULL;
  /* Shift back later entries of the probe run so lookups never stop at
   * the hole before reaching them. */
  uint32_t j = i;
  for (;;) {
    j = (j + 1) & mux->table_mask;
    mux_stream *e = mux->table[j];
    if (e == NULL) {
      return;
    }
    uint32_t home = mux_hash(mux, e->id);
    /* e may move to i if i lies cyclically in [home, j). */
    if (((j - home) & mux->table_mask) >= ((j - i) & mux->table_mask)) {
      mux->table[i] = e;
      mux->table[j] = NULL;
      i = j;
    }
  }
}

int mux_stream_new(dsb_mux *mux, mux_stream **pst, uint32_t id) {
  mux_stream *st;
  if (mux->nstreams >= mux->set.max_streams) {
    return DSB_ERR_MUX_TOO_MANY_STREAMS;
  }
  st = dsb_mem_calloc(mux->mem, 1, sizeof(*st));
  if (st == NULL) {
    return DSB_ERR_NOMEM;
  }
  st->id = id;
  st->recv_window = mux->set.stream_window;
  mux_table_insert(mux, st);
  mux->nstreams++;
  mux->stats.streams_live = mux->nstreams;
  *pst = st;
  return 0;
}

void mux_stream_free(dsb_mux *mux, mux_stream *st) {
  if (st == NULL) {
    return;
  }
  dsb_mem_free(mux->mem, st->sbuf);
  dsb_mem_free(mux->mem, st->abuf);
  dsb_mem_free(mux->mem, st);
}

int mux_stream_name_in_use(const dsb_mux *mux, const uint8_t *name,
                           size_t namelen, int local) {
  for (uint32_t i = 0; i <= mux->table_mask; ++i) {
    const mux_stream *st = mux->table[i];
    if (st == NULL || st->state == DSB_MUX_STREAM_RESET) {
      continue;
    }
    if (((st->flags & MUX_SF_LOCAL) != 0) != (local != 0)) {
      continue;
    }
    if (st->namelen == namelen && memcmp(st->name, name, namelen) == 0) {
      return 1;
    }
  }
  return 0;
}

/* ---- control FIFO ---- */

void mux_ctl_add(dsb_mux *mux, mux_stream *st, uint8_t ctl) {
  st->ctl |= ctl;
  if (st->in_ctl) {
    return;
  }
  st->in_ctl = 1;
  st->ctl_next = NULL;
  st->ctl_prev = mux->ctl_tail;
  if (mux->ctl_tail) {
    mux->ctl_tail->ctl_next = st;
  } else {
    mux->ctl_head = st;
  }
  mux->ctl_tail = st;
}

void mux_ctl_unlink(dsb_mux *mux, mux_stream *st) {
  if (!st->in_ctl) {
    return;
  }
  if (st->ctl_prev) {
    st->ctl_prev->ctl_next = st->ctl_next;
  } else {
    mux->ctl_head = st->ctl_next;
  }
  if (st->ctl_next) {
    st->ctl_next->ctl_prev = st->ctl_prev;
  } else {
    mux->ctl_tail = st->ctl_prev;
  }
  st->ctl_next = st->ctl_prev = NULL;
  st->in_ctl = 0;
}

/* ---- buffers ---- */

void mux_stream_drop_buffers(dsb_mux *mux, mux_stream *st) {
  if (st->in_msg) {
    mux->send_reserved -= st->msg_left; /* promised credit goes back */
  }
  mux->send_buffered -= st->slen;
  mux->recv_buffered -= st->acap;
  dsb_mem_free(mux->mem, st->sbuf);
  mux_asm_put(mux, st->abuf, st->acap);
  if (mux->recv_buffered == 0) {
    mux_asm_trim(mux); /* no other message in assembly to take it */
  }
  st->sbuf = NULL;
  st->abuf = NULL;
  st->scap = st->shead = st->slen = 0;
  st->acap = st->alen = 0;
  st->msg_left = 0;
  st->in_msg = 0;
}

/* ---- assembly buffers ----
 *
 * Every message longer than one frame is assembled in a buffer of its
 * stream. Allocating and freeing one per message made the allocator hand
 * pages back to the kernel and fault them in again for the next message
 * (most of the receiver's page faults with several streams); spares of the
 * first size avoid that while messages keep arriving, and go once none is
 * partly assembled, so an idle mux holds none. */

size_t mux_asm_cap(const dsb_mux *mux) {
  size_t cap = 2 * (size_t)DSB_MUX_MAX_FRAME_PAYLOAD;
  return cap < mux->set.max_message ? cap : mux->set.max_message;
}

uint8_t *mux_asm_get(dsb_mux *mux) {
  if (mux->nasm_spare > 0) {
    return mux->asm_spare[--mux->nasm_spare];
  }
  return dsb_mem_malloc(mux->mem, mux_asm_cap(mux));
}

void mux_asm_put(dsb_mux *mux, uint8_t *buf, size_t cap) {
  if (buf == NULL) {
    return;
  }
  if (cap == mux_asm_cap(mux) && mux->nasm_spare < MUX_ASM_SPARES) {
    mux->asm_spare[mux->nasm_spare++] = buf;
    return;
  }
  dsb_mem_free(mux->mem, buf);
}

void mux_asm_trim(dsb_mux *mux) {
  while (mux->nasm_spare > 0) {
    dsb_mem_free(mux->mem, mux->asm_spare[--mux->nasm_spare]);
  }
}

static void mux_ring_copy_in(mux_stream *st, const uint8_t *src, size_t len) {
  size_t tail = (st->shead + st->slen) % st->scap;
  size_t first = st->scap - tail < len ? st->scap - tail : len;
  memcpy(st->sbuf + tail, src, first);
  if (len > first) {
    memcpy(st->sbuf, src + first, len - first);
  }
  st->slen += len;
}

/* Makes room for |need| more bytes; the caller checked the caps. */
static int mux_ring_reserve(dsb_mux *mux, mux_stream *st, size_t need) {
  size_t limit = (size_t)mux->set.stream_send_buffer + MUX_MSG_HDR;
  size_t want = st->slen + need;
  size_t cap;
  uint8_t *nbuf;

  if (want <= st->scap) {
    return 0;
  }
  cap = st->scap ? st->scap : MUX_RING_MIN;
  while (cap < want) {
    cap *= 2;
  }
  if (cap > limit) {
    cap = limit;
  }
  nbuf = dsb_mem_malloc(mux->mem, cap);
  if (nbuf == NULL) {
    return DSB_ERR_NOMEM;
  }
  if (st->slen) {
    size_t first =
        st->scap - st->shead < st->slen ? st->scap - st->shead : st->slen;
    memcpy(nbuf, st->sbuf + st->shead, first);
    memcpy(nbuf + first, st->sbuf, st->slen - first);
  }
  dsb_mem_free(mux->mem, st->sbuf);
  st->sbuf = nbuf;
  st->scap = cap;
  st->shead = 0;
  return 0;
}

int mux_ring_push(dsb_mux *mux, mux_stream *st, const uint8_t *data, size_t len,
                  int hdr) {
  size_t need = len + (hdr ? MUX_MSG_HDR : 0);
  int rv = mux_ring_reserve(mux, st, need);
  if (rv != 0) {
    return rv;
  }
  if (hdr) {
    uint8_t h[MUX_MSG_HDR];
    dsb_wire_put_u32be(h, (uint32_t)len);
    mux_ring_copy_in(st, h, sizeof(h));
  }
  mux_ring_copy_in(st, data, len);
  mux->send_buffered += need;
  return 0;
}

void mux_ring_pop(dsb_mux *mux, mux_stream *st, uint8_t *dst, size_t len) {
  size_t first = st->scap - st->shead < len ? st->scap - st->shead : len;
  memcpy(dst, st->sbuf + st->shead, first);
  if (len > first) {
    memcpy(dst + first, st->sbuf, len - first);
  }
  st->shead = (st->shead + len) % st->scap;
  st->slen -= len;
  mux->send_buffered -= len;
  if (st->slen == 0) {
    /* Idle streams keep no buffer (see the file comment). */
    dsb_mem_free(mux->mem, st->sbuf);
    st->sbuf = NULL;
    st->scap = st->shead = 0;
  }
}

/* ---- credit returned to the peer ---- */

/*
 * Send a WINDOW_UPDATE once half the window was consumed, or as soon as
 * anything was consumed while the peer holds less than half the window.
 * The second rule is what keeps a message as large as the window moving:
 * the peer can be stalled on credit only while we hold consumed bytes.
 */
static int mux_window_worth_update(uint64_t window, uint64_t unconsumed,
                                   uint64_t unreported) {
  if (unreported == 0) {
    return 0;
  }
  return unreported >= window / 2 ||
         window - unconsumed - unreported < window / 2;
}

void mux_stream_check_window(dsb_mux *mux, mux_stream *st) {
  if (st->state != DSB_MUX_STREAM_OPEN || (st->flags & MUX_SF_REMOTE_CLOSED)) {
    return; /* nothing more can arrive: no credit to return */
  }
  if (mux_window_worth_update(st->recv_window, st->recv_unconsumed,
                              st->recv_unreported)) {
    mux_ctl_add(mux, st, MUX_CTL_WINDOW);
  }
}

void mux_session_check_window(dsb_mux *mux) {
  if (mux_window_worth_update(mux->set.session_window, mux->recv_unconsumed,
                              mux->recv_unreported)) {
    mux->session_window_pending = 1;
  }
}

/* ---- lifecycle ---- */

int mux_stream_is_writable_state(const mux_stream *st) {
  return st->state == DSB_MUX_STREAM_OPEN &&
         !(st->flags & (MUX_SF_CLOSE_REQ | MUX_SF_RETIRED));
}

void mux_stream_retire(dsb_mux *mux, mux_stream *st) {
  if (st->flags & MUX_SF_RETIRED) {
    return;
  }
  st->flags |= MUX_SF_RETIRED;
  mux_sched_remove(mux, st);
  mux_ctl_unlink(mux, st);
  mux_table_remove(mux, st);
  mux->nstreams--;
  mux->stats.streams_live = mux->nstreams;
  /* Whatever the application still holds of this stream no longer counts
   * against the session window: the stream is gone. */
  mux->recv_unconsumed -= st->recv_unconsumed;
  mux->recv_unreported += st->recv_unconsumed;
  st->recv_unconsumed = 0;
  mux_session_check_window(mux);
  mux_stream_drop_buffers(mux, st);
  if (mux->busy) {
    st->retired_next = mux->retired;
    mux->retired = st;
  } else {
    mux_stream_free(mux, st);
  }
}

void mux_free_retired(dsb_mux *mux) {
  while (mux->retired) {
    mux_stream *st = mux->retired;
    mux->retired = st->retired_next;
    mux_stream_free(mux, st);
  }
}

void mux_stream_maybe_finish(dsb_mux *mux, mux_stream *st) {
  const uint32_t done = MUX_SF_CLOSE_SENT | MUX_SF_REMOTE_CLOSED;
  if ((st->flags & done) == done && st->recv_unconsumed == 0 &&
      st->state == DSB_MUX_STREAM_OPEN) {
    mux_stream_retire(mux, st);
  }
}

size_t mux_ring_peek_msglen(const mux_stream *st) {
  uint8_t h[MUX_MSG_HDR];
  uint32_t len;
  for (size_t i = 0; i < MUX_MSG_HDR; ++i) {
    h[i] = st->sbuf[(st->shead + i) % st->scap];
  }
  dsb_wire_get_u32be(h, &len);
  return len;
}

/*
 * Session credit: a message starts only when the session credit not yet
 * promised to other started messages covers all of it. The receiver holds
 * partial messages against its session window; promising whole messages
 * means partials can never fill that window and block each other.
 */
int mux_stream_session_ok(const dsb_mux *mux, const mux_stream *st) {
  uint64_t avail = mux->send_credit - mux->send_reserved;
  if (st->flags & MUX_SF_BYTES) {
    return avail > 0;
  }
  if (st->in_msg) {
    return 1;
  }
  return mux_ring_peek_msglen(st) <= avail;
}
