/*
 * mux_internal.h - shared internals of the stream multiplexer (mux v2).
 *
 * Not thread-safe (see dsb/mux.h). Layout:
 *   mux_frame.c   frame codec (pure)
 *   mux_stream.c  stream objects, id table, send rings, credit bookkeeping
 *   mux_sched.c   priority classes, round-robin, starvation budget
 *   mux_recv.c    dsb_mux_recv(): frame dispatch and stream state machine
 *   mux.c         session object, dsb_mux_send(), keepalive, stream API
 */
#ifndef DSB_MUX_INTERNAL_H
#define DSB_MUX_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "dsb/common.h"
#include "dsb/mux.h"

#define MUX_NCLASSES (DSB_MUX_PRIORITY_MAX + 1)
/* Bytes of the internal length header before each queued message. */
#define MUX_MSG_HDR 4
/* First allocation of a send ring; it doubles up to the stream's cap. */
#define MUX_RING_MIN 4096
/* Assembly buffers of finished messages kept for the next message (see
 * mux_asm_get()): at most this many, each of the first assembly size. */
#define MUX_ASM_SPARES 4

/* OPEN payload: priority u8, mode u8, window u32, max_message u32, namelen u8
 */
#define MUX_OPEN_FIXED_LEN 11
#define MUX_OPEN_ACK_LEN 8

/* stream flags */
#define MUX_SF_LOCAL 0x0001u         /* this end opened it */
#define MUX_SF_BYTES 0x0002u         /* byte mode */
#define MUX_SF_CLOSE_REQ 0x0004u     /* app called dsb_mux_close() */
#define MUX_SF_CLOSE_SENT 0x0008u    /* our CLOSE frame went out */
#define MUX_SF_REMOTE_CLOSED 0x0010u /* peer's CLOSE arrived */
#define MUX_SF_OPEN_SENT 0x0020u     /* our OPEN frame went out */
#define MUX_SF_WANT_WRITABLE 0x0040u /* a write would have blocked */
#define MUX_SF_RETIRED 0x0080u       /* out of the table, awaiting free */

/* pending control frames of a stream, emitted in this bit order */
#define MUX_CTL_OPEN 0x01u
#define MUX_CTL_OPEN_ACK 0x02u
#define MUX_CTL_WINDOW 0x04u
#define MUX_CTL_CLOSE 0x08u
#define MUX_CTL_RST 0x10u

typedef struct mux_stream mux_stream;

struct mux_stream {
  uint32_t id;
  uint32_t flags;   /* MUX_SF_* */
  uint8_t state;    /* dsb_mux_stream_state */
  uint8_t priority; /* 0..7, send class */
  uint8_t ctl;      /* MUX_CTL_* pending */
  uint8_t namelen;
  uint32_t rst_code;
  char name[DSB_MUX_NAME_MAX];
  void *user_data;

  /* send side: credit the peer granted, and the queued bytes. Message mode
   * queues [len u32][payload] per message; byte mode just the bytes. */
  uint64_t send_credit;
  uint32_t peer_window;      /* window the peer advertised */
  uint32_t send_max_message; /* effective max message for writes */
  uint8_t *sbuf;
  size_t scap, shead, slen;
  size_t msg_left;   /* bytes of the message being framed not yet sent */
  int in_msg;        /* a message is partly sent */
  size_t want_space; /* bytes a blocked write needs (MUX_SF_WANT_WRITABLE) */
  uint32_t deficit;  /* bytes left of this stream's round-robin turn */

  /* receive side: window we advertised, received-not-consumed (includes
   * the partial message), consumed-not-yet-returned. The peer's credit is
   * recv_window - recv_unconsumed - recv_unreported. */
  uint32_t recv_window;
  uint64_t recv_unconsumed;
  uint64_t recv_unreported;
  uint8_t *abuf; /* partial message being assembled */
  size_t acap, alen;

  /* links */
  mux_stream *sched_next, *sched_prev; /* class ring, NULL if not queued */
  mux_stream *ctl_next, *ctl_prev;     /* control FIFO */
  int in_ctl;
  mux_stream *retired_next;
};

/* A refused peer OPEN waiting for its RST to go out. */
typedef struct mux_refusal {
  uint32_t id;
  uint32_t code;
} mux_refusal;

struct dsb_mux {
  const dsb_mem *mem;
  dsb_mux_settings set;
  dsb_mux_callbacks cb;
  void *user_data;
  uint8_t role;
  uint8_t authenticated;
  uint8_t busy; /* inside recv/send/timeout: frees are deferred */
  int fatal;
  dsb_tstamp last_ts;

  /* stream table: open addressing, linear probing, power-of-two size */
  mux_stream **table;
  uint32_t table_mask;
  uint32_t nstreams;
  uint32_t next_local_id; /* next id to allocate; 0 once exhausted */
  uint32_t last_peer_id;  /* highest id the peer opened (0 none) */
  uint32_t last_local_id; /* highest id we allocated (0 none) */

  /* session-level flow control */
  uint64_t send_credit;     /* session credit the peer granted us */
  uint64_t recv_unconsumed; /* session receive bookkeeping, as streams */
  uint64_t recv_unreported;
  uint64_t send_buffered; /* total queued in send rings */
  uint64_t recv_buffered; /* total held in partial messages */
  int session_window_pending;

  /* control FIFO of streams with pending control frames */
  mux_stream *ctl_head, *ctl_tail;
  mux_refusal *refusals; /* ring of max_streams */
  uint32_t ref_head, ref_len;

  /* scheduler */
  mux_stream *classes[MUX_NCLASSES]; /* ring head = next to serve */
  uint32_t starve[MUX_NCLASSES];

  /* keepalive */
  dsb_tstamp last_recv;
  dsb_tstamp ping_deadline;
  uint64_t ping_counter;
  int ping_outstanding;
  int ping_pending; /* PING queued, not yet sent */
  int pong_pending;
  uint64_t pong_opaque;

  int writable_pending;  /* some stream has MUX_SF_WANT_WRITABLE */
  uint32_t *scratch_ids; /* max_streams ids, for callback-safe sweeps */
  /* session credit promised to messages already started (see mux.c) */
  uint64_t send_reserved;
  mux_stream *retired; /* deferred frees */
  /* Spare assembly buffers (mux_asm_cap() bytes each); freed at the end
   * of a dsb_mux_recv() that leaves no message partly assembled. */
  uint8_t *asm_spare[MUX_ASM_SPARES];
  uint32_t nasm_spare;

  dsb_mux_stats stats;
  uint64_t rejects[32]; /* by -(err) - 600 */
};

/* ---- mux_stream.c ---- */
int mux_stream_new(dsb_mux *mux, mux_stream **pst, uint32_t id);
void mux_stream_free(dsb_mux *mux, mux_stream *st);
mux_stream *mux_stream_find(const dsb_mux *mux, uint32_t id);
/* Removes from table, scheduler and control FIFO; frees now or at the end
 * of the running recv/send call. Releases buffers and session credit. */
void mux_stream_retire(dsb_mux *mux, mux_stream *st);
void mux_free_retired(dsb_mux *mux);
int mux_stream_name_in_use(const dsb_mux *mux, const uint8_t *name,
                           size_t namelen, int local);
/* Drops queued send data and the partial message, releasing budgets. */
void mux_stream_drop_buffers(dsb_mux *mux, mux_stream *st);
/* Assembly buffers: the first allocation for a multi-frame message is
 * mux_asm_cap() bytes and comes from the spares when one is left; a
 * released buffer of that size becomes a spare (up to MUX_ASM_SPARES).
 * mux_asm_trim() frees the spares once no message is partly assembled. */
size_t mux_asm_cap(const dsb_mux *mux);
uint8_t *mux_asm_get(dsb_mux *mux);
void mux_asm_put(dsb_mux *mux, uint8_t *buf, size_t cap);
void mux_asm_trim(dsb_mux *mux);
/* Queues |len| bytes (plus a message header when |hdr|) into the ring. */
int mux_ring_push(dsb_mux *mux, mux_stream *st, const uint8_t *data, size_t len,
                  int hdr);
/* Copies |len| bytes from the ring head into |dst| and drops them. */
void mux_ring_pop(dsb_mux *mux, mux_stream *st, uint8_t *dst, size_t len);
void mux_ctl_add(dsb_mux *mux, mux_stream *st, uint8_t ctl);
void mux_ctl_unlink(dsb_mux *mux, mux_stream *st);
/* Queues WINDOW_UPDATEs when the returned credit is worth sending. */
void mux_stream_check_window(dsb_mux *mux, mux_stream *st);
void mux_session_check_window(dsb_mux *mux);
/* Frees a stream both ends closed whose data is all consumed. */
void mux_stream_maybe_finish(dsb_mux *mux, mux_stream *st);
int mux_stream_is_writable_state(const mux_stream *st);
void mux_count_reject(dsb_mux *mux, int err);

/* Length of the next queued message (message mode, not in a message). */
size_t mux_ring_peek_msglen(const mux_stream *st);
/* Non-zero if |st| may send a DATA frame under the session credit. */
int mux_stream_session_ok(const dsb_mux *mux, const mux_stream *st);

/* ---- mux_sched.c ---- */
/* Puts |st| into or out of its class ring to match its readiness. */
void mux_sched_update(dsb_mux *mux, mux_stream *st);
void mux_sched_remove(dsb_mux *mux, mux_stream *st);
/* The stream whose DATA goes next (ready and mux_stream_session_ok), or
 * NULL. Does not change state. */
mux_stream *mux_sched_peek(const dsb_mux *mux, int *pclass);
/* Accounts one DATA frame sent from class |c| and rotates its ring. */
void mux_sched_sent(dsb_mux *mux, int c, mux_stream *st);
int mux_sched_ready(const mux_stream *st);

/* ---- mux_recv.c ---- */
int mux_recv_frame(dsb_mux *mux, const dsb_mux_frame *fr, dsb_tstamp now);

/* ---- mux.c ---- */
/* Calls writable callbacks of blocked streams that now have room. */
int mux_notify_writable(dsb_mux *mux);

/* Every callback goes through here: NULL is a no-op and any non-zero
 * return becomes DSB_ERR_CALLBACK_FAILURE. */
#define MUX_CALL(mux, name, ...)                                               \
  ((mux)->cb.name == NULL                                                      \
       ? 0                                                                     \
       : ((mux)->cb.name((mux), __VA_ARGS__, (mux)->user_data) != 0            \
              ? DSB_ERR_CALLBACK_FAILURE                                       \
              : 0))

#endif /* DSB_MUX_INTERNAL_H */
