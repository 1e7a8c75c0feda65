/*
 * session_internal.h - pieces of the session core shared between its files,
 * the tests and the fuzz targets: the incremental record reader and the
 * handshake payload codec. Not installed.
 */
#ifndef DSB_SESSION_INTERNAL_H
#define DSB_SESSION_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "dsb/identity.h"
#include "dsb/session.h"

/* ---- record reader (session_record.c) ------------------------------------
 *
 * Splits a byte stream into frames of [length u16be][body]. It buffers at
 * most one body, in a buffer the owner provides (|buf|, |cap|), and returns
 * whole bodies. A body that arrives in one piece is returned in place (a
 * pointer into the caller's input), so the common case copies nothing.
 */
typedef struct dsb_record_reader {
  uint8_t *buf; /* owner's buffer for a body split across reads */
  size_t cap;
  size_t min_len; /* accepted body lengths, set per frame by the owner */
  size_t max_len;
  uint8_t hdr[DSB_SESSION_RECORD_HDR_LEN];
  size_t hdrlen; /* header bytes seen of the current frame (0..2) */
  size_t need;   /* body length of the current frame, once hdrlen == 2 */
  size_t have;   /* body bytes buffered in |buf| */
} dsb_record_reader;

void dsb_record_reader_init(dsb_record_reader *r, uint8_t *buf, size_t cap);

/* Change the buffer (e.g. a larger one once the handshake is done). Only
 * allowed while no body bytes are buffered. |buf| may be NULL with a
 * non-zero |cap|: the reader then takes storage only when a body is split
 * (see dsb_record_reader_feed). */
void dsb_record_reader_set_buffer(dsb_record_reader *r, uint8_t *buf,
                                  size_t cap);

/* Accepted body lengths for the next frames: min_len <= len <= max_len,
 * max_len <= cap. */
void dsb_record_reader_set_limits(dsb_record_reader *r, size_t min_len,
                                  size_t max_len);

/*
 * Consume bytes of |in| up to the end of at most one frame. Returns the
 * number of bytes consumed (> 0 when inlen > 0). When a whole frame is
 * complete, |*body| points at its body (inside |in| or the reader's buffer;
 * writable only in the latter case, which *body_in_buf tells) and
 * |*bodylen| is its length; otherwise |*body| is NULL.
 * Errors (the reader must then be dropped): DSB_ERR_SESSION_RECORD_OVERSIZE
 * (length above max_len), DSB_ERR_SESSION_RECORD_UNDERSIZE (below min_len).
 * Without a buffer, a body that does not arrive whole stops the reader
 * before its first byte: it returns fewer than |inlen| (possibly 0) with
 * |*body| NULL; give it a buffer and feed the rest again.
 */
long dsb_record_reader_feed(dsb_record_reader *r, const uint8_t *in,
                            size_t inlen, const uint8_t **body, size_t *bodylen,
                            int *body_in_buf);

/* 1 if the reader holds part of a frame, else 0. */
int dsb_record_reader_partial(const dsb_record_reader *r);

/* ---- handshake payloads (session_payload.c) ------------------------------
 *
 * msg1: [version u8]
 * msg2, msg3: [version u8][ed_pk 32][static_pk 32][cert 64] (the identity
 * proof of the sender). docs/PROTOCOL.md, "Sessions".
 */
#define DSB_SESSION_HELLO_LEN 1
#define DSB_SESSION_PROOF_PAYLOAD_LEN                                          \
  (1 + DSB_ED25519_PK_LEN + DSB_X25519_KEY_LEN + DSB_ED25519_SIG_LEN)

/* Errors: DSB_ERR_NOBUF */
long dsb_session_hello_encode(uint8_t *dst, size_t dstlen);
/* Errors: DSB_ERR_SESSION_BAD_PAYLOAD, DSB_ERR_SESSION_VERSION */
int dsb_session_hello_decode(const uint8_t *in, size_t inlen);

/* Errors: DSB_ERR_NOBUF */
long dsb_session_proof_encode(uint8_t *dst, size_t dstlen,
                              const dsb_identity_proof *proof);
/* Errors: DSB_ERR_SESSION_BAD_PAYLOAD, DSB_ERR_SESSION_VERSION */
int dsb_session_proof_decode(dsb_identity_proof *proof, const uint8_t *in,
                             size_t inlen);

/* ---- test hooks (session.c) ---------------------------------------------- */

/* Set the nonces of the transport cipher states (tests of nonce
 * exhaustion). Errors: DSB_ERR_SESSION_NOT_ESTABLISHED */
int dsb_session_test_set_nonces(dsb_session *session, uint64_t send_nonce,
                                uint64_t recv_nonce);

#endif /* DSB_SESSION_INTERNAL_H */
