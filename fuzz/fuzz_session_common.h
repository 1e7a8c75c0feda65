/*
 * fuzz_session_common.h - the driver shared by the session fuzz targets.
 *
 * One side (the fuzzed one) talks to an honest peer with deterministic keys.
 * The input is a chunk size followed by operations, each one byte of opcode
 * and its arguments:
 *   0 n     the peer's next real message (handshake or an n-byte record)
 *   1 n ..  n raw bytes from the input
 *   2 p x   the peer's next real message with byte p xored by x|1
 *   3 n     the fuzzed side answers (its handshake message or a record)
 * Everything fed to the fuzzed side goes through dsb_session_recv in pieces
 * of the chunk size, so framing across reads is exercised too. After a
 * failure every entry point must keep refusing without crashing.
 */
#ifndef DSB_FUZZ_SESSION_COMMON_H
#define DSB_FUZZ_SESSION_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/unit/session_test_util.h"

typedef struct fz_in {
  const uint8_t *p;
  size_t n;
} fz_in;

static uint8_t fz_byte(fz_in *in) {
  uint8_t b = 0;
  if (in->n) {
    b = *in->p++;
    --in->n;
  }
  return b;
}

/* The peer's next message into |buf|: handshake if due, else a record. */
static long fz_peer_message(stu_side *peer, uint8_t *buf, size_t cap,
                            size_t reclen, dsb_tstamp now) {
  static uint8_t pt[256];
  if (dsb_session_want_write(peer->s)) {
    return dsb_session_write_handshake(peer->s, buf, cap, now);
  }
  if (dsb_session_get_state(peer->s) == DSB_SESSION_STATE_ESTABLISHED) {
    memset(pt, (int)reclen, sizeof(pt));
    return dsb_session_seal(peer->s, buf, cap, pt, reclen % sizeof(pt));
  }
  return 0;
}

static int fz_drive(const uint8_t *data, size_t size, dsb_session_role role,
                    int establish_first) {
  static dsb_identity a, b;
  static int keys_ready;
  static uint8_t buf[DSB_SESSION_RECORD_MAX];
  stu_side x, y; /* x: fuzzed, y: honest peer */
  fz_in in = {data, size};
  dsb_tstamp now = 1;
  size_t chunk;
  int dead = 0;

  if (!keys_ready) {
    if (stu_identity(&a, 0xA) != 0 || stu_identity(&b, 0xB) != 0) {
      abort();
    }
    keys_ready = 1;
  }
  memset(&x, 0, sizeof(x));
  memset(&y, 0, sizeof(y));
  if (role == DSB_SESSION_RESPONDER) {
    if (stu_side_new(&x, DSB_SESSION_RESPONDER, &b, NULL, NULL, 2, NULL, now) !=
            0 ||
        stu_side_new(&y, DSB_SESSION_INITIATOR, &a, b.proof.static_pk, &b.id, 1,
                     NULL, now) != 0) {
      abort();
    }
  } else {
    if (stu_side_new(&x, DSB_SESSION_INITIATOR, &a, b.proof.static_pk, &b.id, 1,
                     NULL, now) != 0 ||
        stu_side_new(&y, DSB_SESSION_RESPONDER, &b, NULL, NULL, 2, NULL, now) !=
            0) {
      abort();
    }
  }
  if (establish_first) {
    /* An honest handshake, so the input only hits the record layer. */
    stu_side *from = role == DSB_SESSION_INITIATOR ? &x : &y;
    stu_side *to = from == &x ? &y : &x;
    int k;
    for (k = 0; k < 3; ++k) {
      long n = dsb_session_write_handshake(from->s, buf, sizeof(buf), now);
      if (n <= 0 || dsb_session_recv(to->s, buf, (size_t)n, now) != n) {
        abort();
      }
      stu_side *t = from;
      from = to;
      to = t;
    }
    if (!x.established || !y.established) {
      abort();
    }
  } else if (role == DSB_SESSION_INITIATOR) {
    /* The initiator speaks first: deliver message 1 to the peer. */
    long n = dsb_session_write_handshake(x.s, buf, sizeof(buf), now);
    if (n <= 0 || dsb_session_recv(y.s, buf, (size_t)n, now) != n) {
      abort();
    }
  }
  chunk = (size_t)(fz_byte(&in) % 64) + 1;
  while (in.n > 0) {
    uint8_t op = fz_byte(&in) % 4;
    long n = 0;

    now += 1000;
    if (op == 0 || op == 2) {
      size_t reclen = fz_byte(&in);
      uint8_t pos = op == 2 ? fz_byte(&in) : 0;
      uint8_t x_or = op == 2 ? (uint8_t)(fz_byte(&in) | 1) : 0;
      n = fz_peer_message(&y, buf, sizeof(buf), reclen, now);
      if (n > 0 && op == 2) {
        buf[pos % (size_t)n] ^= x_or;
      }
    } else if (op == 1) {
      size_t len = fz_byte(&in);
      if (len > in.n) {
        len = in.n;
      }
      memcpy(buf, in.p, len);
      in.p += len;
      in.n -= len;
      n = (long)len;
    } else {
      /* The fuzzed side answers; the peer may reject it, that is fine. */
      size_t reclen = fz_byte(&in);
      long m = fz_peer_message(&x, buf, sizeof(buf), reclen, now);
      if (m > 0) {
        (void)dsb_session_recv(y.s, buf, (size_t)m, now);
      }
      if (dead && m >= 0 && m != DSB_ERR_SESSION_CLOSED && m != 0) {
        abort(); /* a failed session produced output */
      }
      continue;
    }
    if (n > 0) {
      long rv = stu_feed(&x, buf, (size_t)n, chunk, now);
      if (rv < 0) {
        if (!dead && dsb_session_get_state(x.s) != DSB_SESSION_STATE_FAILED) {
          abort(); /* every recv error is fatal */
        }
        dead = 1;
      }
    }
  }
  (void)dsb_session_recv_eof(x.s);
  if (dsb_session_get_state(x.s) == DSB_SESSION_STATE_ESTABLISHED ||
      dsb_session_get_state(x.s) == DSB_SESSION_STATE_HANDSHAKE) {
    abort(); /* after EOF the session is over */
  }
  stu_side_free(&x);
  stu_side_free(&y);
  return 0;
}

#endif /* DSB_FUZZ_SESSION_COMMON_H */
