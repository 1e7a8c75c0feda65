/*
 * ipc_wire.h - the bounded reader and writer shared by the local API codecs
 * (ipc_codec.c for the base ops, ipc_rpc.c for the remote-call ops). Not
 * installed.
 *
 * Both cursors keep a sticky error: every access checks what remains (or
 * what room is left) first, a failed access leaves the cursor where it was
 * and yields zeros, and the first failure is the one reported. So a decoder
 * reads a whole message field by field and looks at the error once.
 *
 * Strings are [len][bytes] with a u8 (DSB_IPC_WIRE_STR8) or u16be
 * (DSB_IPC_WIRE_STR16) length, checked by a validity function; blobs are
 * [len u32be][bytes], bounded by what remains of the input.
 *
 * Thread safety: a cursor belongs to one caller; the functions are pure.
 */
#ifndef DSB_IPC_WIRE_H
#define DSB_IPC_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "dsb/identity.h"
#include "dsb/ipc.h"

typedef struct dsb_ipc_rd {
  const uint8_t *p;
  size_t len;
  size_t off;
  int err; /* 0 or the first DSB_ERR_* */
} dsb_ipc_rd;

typedef struct dsb_ipc_wr {
  uint8_t *p;
  size_t cap;
  size_t off;
  int err; /* 0 or the first DSB_ERR_* */
} dsb_ipc_wr;

/* Width of a string's length prefix, bytes. */
#define DSB_IPC_WIRE_STR8 1
#define DSB_IPC_WIRE_STR16 2

/* Validity of a string's bytes: 1 if valid. Called with a non-NULL |s|. */
typedef int (*dsb_ipc_str_check)(const uint8_t *s, size_t len);

/* A reader over (p, len) starting at |off|; a NULL |p| reads nothing. */
void dsb_ipc_rd_init(dsb_ipc_rd *r, const uint8_t *p, size_t len, size_t off);

/* 1 if |n| more bytes remain, else 0 with DSB_ERR_IPC_TRUNCATED. */
int dsb_ipc_rd_need(dsb_ipc_rd *r, size_t n);
uint8_t dsb_ipc_rd_u8(dsb_ipc_rd *r);
uint16_t dsb_ipc_rd_u16(dsb_ipc_rd *r);
uint32_t dsb_ipc_rd_u32(dsb_ipc_rd *r);
uint64_t dsb_ipc_rd_u64(dsb_ipc_rd *r);
/* |n| raw bytes into |dst| (zeroed when they are not there). */
void dsb_ipc_rd_bytes(dsb_ipc_rd *r, uint8_t *dst, size_t n);
void dsb_ipc_rd_id(dsb_ipc_rd *r, dsb_device_id *id);
/* A string whose bytes |check| accepts, else DSB_ERR_IPC_BAD_STRING. The
 * view borrows the input. */
dsb_ipc_str dsb_ipc_rd_str(dsb_ipc_rd *r, int width, dsb_ipc_str_check check);
/* [len u32be][bytes]; the view borrows the input. */
dsb_ipc_str dsb_ipc_rd_blob(dsb_ipc_rd *r);
/* Record DSB_ERR_IPC_BAD_VALUE unless |ok| (and no error came before). */
void dsb_ipc_rd_value(dsb_ipc_rd *r, int ok);
/* 0 if everything was read without error, else the error, or
 * DSB_ERR_IPC_TRAILING when bytes are left over. */
int dsb_ipc_rd_done(const dsb_ipc_rd *r);

/* A writer into (p, cap); a NULL |p| has no room. */
void dsb_ipc_wr_init(dsb_ipc_wr *w, uint8_t *p, size_t cap);

/* 1 if |n| more bytes fit, else 0 with DSB_ERR_NOBUF. */
int dsb_ipc_wr_need(dsb_ipc_wr *w, size_t n);
void dsb_ipc_wr_u8(dsb_ipc_wr *w, uint8_t v);
void dsb_ipc_wr_u16(dsb_ipc_wr *w, uint16_t v);
void dsb_ipc_wr_u32(dsb_ipc_wr *w, uint32_t v);
void dsb_ipc_wr_u64(dsb_ipc_wr *w, uint64_t v);
void dsb_ipc_wr_bytes(dsb_ipc_wr *w, const uint8_t *src, size_t n);
/* A string: DSB_ERR_IPC_BAD_STRING if it is longer than its prefix can
 * say, NULL with a length, or refused by |check|. */
void dsb_ipc_wr_str(dsb_ipc_wr *w, dsb_ipc_str s, int width,
                    dsb_ipc_str_check check);
/* A blob: DSB_ERR_IPC_OVERSIZE if it cannot fit one message. */
void dsb_ipc_wr_blob(dsb_ipc_wr *w, dsb_ipc_str s);
/* Record DSB_ERR_IPC_BAD_VALUE unless |ok| (and no error came before). */
void dsb_ipc_wr_value(dsb_ipc_wr *w, int ok);
/* The bytes written, or the first error. */
long dsb_ipc_wr_done(const dsb_ipc_wr *w);

#endif /* DSB_IPC_WIRE_H */
