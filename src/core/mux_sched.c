/*
 * mux_sched.c - which stream's DATA frame goes next.
 *
 * Eight classes (priority 0 highest), each a ring of streams that have
 * queued data and stream credit; deficit round-robin within a class: a
 * turn is max_frame_payload bytes, so a frame cut short by the end of a
 * record does not cost the stream the rest of its turn and bandwidth
 * splits evenly in bytes, not frames. Strict priority between classes, bounded
 * by a starvation budget: starve[c] counts DATA frames sent from other classes
 * while class c had work; once it reaches the budget, class c sends the next
 * frame (if several classes are due, the highest priority first). So every
 * class with work sends at least one frame in any run of budget + 7 frames.
 * Control frames bypass the scheduler.
 */
#include "core/mux_internal.h"

int mux_sched_ready(const mux_stream *st) {
  return st->state == DSB_MUX_STREAM_OPEN &&
         !(st->flags & (MUX_SF_RETIRED | MUX_SF_CLOSE_SENT)) && st->slen > 0 &&
         st->send_credit > 0;
}

static void mux_sched_insert(dsb_mux *mux, mux_stream *st) {
  mux_stream **head = &mux->classes[st->priority];
  if (*head == NULL) {
    st->sched_next = st->sched_prev = st;
    *head = st;
    return;
  }
  /* Append at the tail, i.e. just before the head of the ring. */
  mux_stream *tail = (*head)->sched_prev;
  st->sched_next = *head;
  st->sched_prev = tail;
  tail->sched_next = st;
  (*head)->sched_prev = st;
}

void mux_sched_remove(dsb_mux *mux, mux_stream *st) {
  mux_stream **head = &mux->classes[st->priority];
  if (st->sched_next == NULL) {
    return;
  }
  if (st->sched_next == st) {
    *head = NULL;
  } else {
    st->sched_prev->sched_next = st->sched_next;
    st->sched_next->sched_prev = st->sched_prev;
    if (*head == st) {
      *head = st->sched_next;
    }
  }
  st->sched_next = st->sched_prev = NULL;
  st->deficit = 0;
}

void mux_sched_update(dsb_mux *mux, mux_stream *st) {
  int ready = mux_sched_ready(st);
  if (ready && st->sched_next == NULL) {
    mux_sched_insert(mux, st);
  } else if (!ready && st->sched_next != NULL) {
    mux_sched_remove(mux, st);
  }
}

/* First stream of class |c|, in round-robin order, that may send now. */
static mux_stream *mux_sched_first_ok(const dsb_mux *mux, int c) {
  mux_stream *head = mux->classes[c], *st = head;
  if (head == NULL) {
    return NULL;
  }
  do {
    if (mux_stream_session_ok(mux, st)) {
      return st;
    }
    st = st->sched_next;
  } while (st != head);
  return NULL;
}

mux_stream *mux_sched_peek(const dsb_mux *mux, int *pclass) {
  mux_stream *best = NULL;
  for (int c = 0; c < MUX_NCLASSES; ++c) {
    if (mux->classes[c] == NULL) {
      continue;
    }
    if (best != NULL && mux->starve[c] < mux->set.starvation_budget) {
      continue;
    }
    mux_stream *st = mux_sched_first_ok(mux, c);
    if (st == NULL) {
      continue;
    }
    *pclass = c;
    if (best != NULL) {
      return st; /* a starved lower class takes this frame */
    }
    best = st;
  }
  return best;
}

void mux_sched_sent(dsb_mux *mux, int c, mux_stream *st) {
  /* Round-robin: a stream whose turn is used up goes behind its peers. */
  if (st->sched_next != NULL && st->deficit == 0) {
    mux->classes[c] = st->sched_next;
  }
  for (int d = 0; d < MUX_NCLASSES; ++d) {
    if (d == c || mux->classes[d] == NULL) {
      mux->starve[d] = 0;
    } else {
      mux->starve[d]++;
    }
  }
}
