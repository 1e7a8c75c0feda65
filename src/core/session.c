/*
 * session.c - the session core: Noise_XK_25519_ChaChaPoly_BLAKE2s bound to
 * device identities, then the record layer (include/dsb/session.h,
 * docs/PROTOCOL.md "Sessions").
 *
 *   XK:
 *     <- s
 *     ...
 *     -> e, es            payload: version
 *     <- e, ee            payload: responder's identity proof
 *     -> s, se            payload: initiator's identity proof
 *
 * The proof in message 2 is encrypted under a key that already includes the
 * responder's static key (es), so only the holder of that key produces it;
 * the proof in message 3 is sent after s and se, so Noise has authenticated
 * the initiator's static key before we check that the proof binds it.
 *
 * Every network-facing error is fatal: session_fail() wipes every key and
 * buffered plaintext and the session stays FAILED. Nothing is delivered
 * from a record before its tag verified.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/session_internal.h"
#include "dsb/crypto.h"
#include "dsb/err.h"
#include "dsb/noise.h"
#include "dsb/proof_cache.h"
#include "dsb/session.h"
#include "dsb/trust.h"
#include "dsb/wire.h"

#define SESSION_HASH_LEN 32 /* BLAKE2s */
#define SESSION_MIN_RECORD_LEN (DSB_SESSION_TAG_LEN + 1)

struct dsb_session {
  const dsb_mem *mem;
  dsb_log log;
  dsb_session_role role;
  dsb_session_state state;
  int error;
  dsb_session_settings settings;
  dsb_session_callbacks cb;
  void *user_data;
  dsb_session_peer_check_fn peer_check;
  void *peer_check_ctx;
  struct dsb_proof_cache *proof_cache;

  dsb_identity_proof local_proof;
  uint8_t remote_static[DSB_X25519_KEY_LEN]; /* initiator: from discovery */
  dsb_device_id expected;                    /* initiator: from discovery */

  dsb_noise_handshake *hs; /* NULL once split or failed */
  dsb_noise_cipher *tx;
  dsb_noise_cipher *rx;
  unsigned msgs_done; /* handshake messages written or read, 0..3 */
  int paused;         /* a callback asked recv to return early */
  dsb_tstamp deadline;
  dsb_tstamp last_ts;

  dsb_record_reader reader;
  uint8_t hsbuf[DSB_SESSION_MSG3_LEN]; /* a handshake message split by TCP */
  /* max_record_len bytes, only while needed: for a record split across
   * calls, and for the plaintext of dsb_session_recv (not _inplace). */
  uint8_t *rxbuf;
  size_t rx_dirty; /* leading bytes of rxbuf written so far (to wipe) */
  int rx_keep;     /* dsb_session_recv used it: keep it (no churn) */

  int have_peer;
  dsb_device_id peer_id;
  dsb_identity_proof peer_proof;
  uint8_t hhash[SESSION_HASH_LEN];

  dsb_session_stats stats;
};

static void session_log(const dsb_session *s, dsb_log_level level,
                        const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void session_log(const dsb_session *s, dsb_log_level level,
                        const char *fmt, ...) {
  char msg[256];
  va_list ap;

  if (!s->log.fn) {
    return;
  }
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  s->log.fn(s->log.ctx, level, msg);
}

static const char *session_role_name(const dsb_session *s) {
  return s->role == DSB_SESSION_INITIATOR ? "initiator" : "responder";
}

void dsb_session_settings_default(dsb_session_settings *settings) {
  memset(settings, 0, sizeof(*settings));
  settings->rekey_interval = DSB_SESSION_DEFAULT_REKEY_INTERVAL;
  settings->handshake_timeout = DSB_SESSION_DEFAULT_HANDSHAKE_TIMEOUT;
  settings->max_record_len = DSB_SESSION_BODY_MAX;
}

/* Drop every secret and every buffered plaintext. */
static void session_wipe_keys(dsb_session *s) {
  dsb_noise_handshake_del(s->hs);
  s->hs = NULL;
  dsb_noise_cipher_del(s->tx);
  s->tx = NULL;
  dsb_noise_cipher_del(s->rx);
  s->rx = NULL;
  dsb_wipe(s->hsbuf, sizeof(s->hsbuf));
  /* Only what was written can hold plaintext; wiping the whole 64 KiB of
   * a session that carried a few records (or none) was a measurable part
   * of a handshake's cost. */
  if (s->rxbuf) {
    dsb_wipe(s->rxbuf, s->rx_dirty);
    s->rx_dirty = 0;
  }
}

static int session_fail(dsb_session *s, int err) {
  if (s->state == DSB_SESSION_STATE_HANDSHAKE ||
      s->state == DSB_SESSION_STATE_ESTABLISHED) {
    session_log(s, DSB_LOG_INFO, "session %s: %s (%s)", session_role_name(s),
                s->state == DSB_SESSION_STATE_HANDSHAKE ? "handshake failed"
                                                        : "torn down",
                dsb_strerror(err));
    s->state = DSB_SESSION_STATE_FAILED;
    s->error = err;
  }
  session_wipe_keys(s);
  return err;
}

static void session_update_ts(dsb_session *s, dsb_tstamp now) {
  /* Time never goes backwards (common.h); a caller that breaks this has a
   * bug we want to see in tests. */
  assert(now >= s->last_ts);
  if (now > s->last_ts) {
    s->last_ts = now;
  }
}

/* The deadline only matters while the handshake runs. */
static int session_check_deadline(dsb_session *s, dsb_tstamp now) {
  if (s->state == DSB_SESSION_STATE_HANDSHAKE && now >= s->deadline) {
    return session_fail(s, DSB_ERR_SESSION_HANDSHAKE_TIMEOUT);
  }
  return 0;
}

static int session_alive(const dsb_session *s) {
  return s->state == DSB_SESSION_STATE_HANDSHAKE ||
         s->state == DSB_SESSION_STATE_ESTABLISHED;
}

int dsb_session_new(dsb_session **psession, const dsb_session_config *config,
                    dsb_tstamp now) {
  dsb_session *s;
  dsb_session_settings st;
  dsb_noise_role nrole;
  int rv;

  if (!psession || !config || !config->local) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (config->role != DSB_SESSION_INITIATOR &&
      config->role != DSB_SESSION_RESPONDER) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (config->role == DSB_SESSION_INITIATOR &&
      (!config->remote_static || !config->expected_peer)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  dsb_session_settings_default(&st);
  if (config->settings) {
    if (config->settings->rekey_interval) {
      st.rekey_interval = config->settings->rekey_interval;
    }
    if (config->settings->handshake_timeout) {
      st.handshake_timeout = config->settings->handshake_timeout;
    }
    if (config->settings->max_record_len) {
      st.max_record_len = config->settings->max_record_len;
    }
  }
  if (st.max_record_len < SESSION_MIN_RECORD_LEN ||
      st.max_record_len > DSB_SESSION_BODY_MAX) {
    return DSB_ERR_INVALID_ARGUMENT;
  }

  s = dsb_mem_calloc(config->mem, 1, sizeof(*s));
  if (!s) {
    return DSB_ERR_NOMEM;
  }
  s->mem = config->mem;
  if (config->log) {
    s->log = *config->log;
  }
  s->role = config->role;
  s->state = DSB_SESSION_STATE_HANDSHAKE;
  s->settings = st;
  if (config->callbacks) {
    s->cb = *config->callbacks;
  }
  s->user_data = config->user_data;
  s->peer_check = config->peer_check;
  s->peer_check_ctx = config->peer_check_ctx;
  s->proof_cache = config->proof_cache;
  s->local_proof = config->local->proof;
  s->last_ts = now;
  /* Saturate rather than wrap: a huge timeout means "no deadline". */
  s->deadline = now > UINT64_MAX - st.handshake_timeout
                    ? UINT64_MAX
                    : now + st.handshake_timeout;

  nrole = s->role == DSB_SESSION_INITIATOR ? DSB_NOISE_INITIATOR
                                           : DSB_NOISE_RESPONDER;
  rv = dsb_noise_handshake_new(&s->hs, s->mem, DSB_SESSION_PROTOCOL_NAME, nrole,
                               config->rng);
  if (rv != 0) {
    goto fail_hs;
  }
  rv = dsb_noise_handshake_set_prologue(
      s->hs, (const uint8_t *)DSB_SESSION_PROLOGUE, DSB_SESSION_PROLOGUE_LEN);
  if (rv != 0) {
    goto fail_setup;
  }
  /* The identity carries its static public key (proof.static_pk), so the
   * handshake need not derive it again for every session. */
  rv = dsb_noise_handshake_set_local_keypair(s->hs, config->local->static_sk,
                                             config->local->proof.static_pk);
  if (rv != 0) {
    goto fail_setup;
  }
  if (s->role == DSB_SESSION_INITIATOR) {
    memcpy(s->remote_static, config->remote_static, sizeof(s->remote_static));
    s->expected = *config->expected_peer;
    rv = dsb_noise_handshake_set_remote_static(s->hs, s->remote_static);
    if (rv != 0) {
      goto fail_setup;
    }
  }
  rv = dsb_noise_handshake_start(s->hs);
  if (rv != 0) {
    goto fail_setup;
  }
  dsb_record_reader_init(&s->reader, s->hsbuf, sizeof(s->hsbuf));
  *psession = s;
  return 0;

fail_setup:
  dsb_noise_handshake_del(s->hs);
fail_hs:
  dsb_mem_free(s->mem, s);
  /* Setup errors are the caller's (bad key) or the library's. */
  return rv == DSB_ERR_NOISE_MISSING_KEY ? DSB_ERR_INVALID_ARGUMENT : rv;
}

void dsb_session_del(dsb_session *session) {
  const dsb_mem *mem;

  if (!session) {
    return;
  }
  mem = session->mem;
  session_wipe_keys(session);
  dsb_mem_free(mem, session->rxbuf);
  dsb_wipe(session, sizeof(*session));
  dsb_mem_free(mem, session);
}

int dsb_session_want_write(const dsb_session *session) {
  return session->state == DSB_SESSION_STATE_HANDSHAKE && session->hs &&
         dsb_noise_handshake_action(session->hs) ==
             DSB_NOISE_ACTION_WRITE_MESSAGE;
}

/* ---- identity binding ---------------------------------------------------- */

/*
 * Check the peer's proof (payload of message 2 or 3) against what Noise
 * authenticated. On success |*id| is the proven device id; nothing is
 * committed to the session yet.
 */
static int session_check_peer(dsb_session *s, const uint8_t *payload,
                              size_t payloadlen, dsb_identity_proof *proof,
                              dsb_device_id *id) {
  uint8_t rs[DSB_X25519_KEY_LEN];
  int rv;

  rv = dsb_session_proof_decode(proof, payload, payloadlen);
  if (rv != 0) {
    return rv;
  }
  rv = dsb_noise_handshake_get_remote_static(s->hs, rs);
  if (rv != 0) {
    return DSB_ERR_INTERNAL;
  }
  /* The proof must bind the key Noise authenticated, not merely some key
   * of the same device: otherwise anyone could replay a device's public
   * proof over their own static key. */
  if (!dsb_ct_memeq(proof->static_pk, rs, sizeof(rs))) {
    return DSB_ERR_IDENTITY_MISMATCH;
  }
  /* A NULL cache just verifies. */
  rv = dsb_proof_cache_verify(s->proof_cache, proof, id);
  if (rv != 0) {
    return rv == DSB_ERR_CRYPTO_BAD_SIGNATURE ? DSB_ERR_IDENTITY_BAD_CERT : rv;
  }
  if (s->role == DSB_SESSION_INITIATOR && !dsb_device_id_eq(id, &s->expected)) {
    return DSB_ERR_IDENTITY_MISMATCH;
  }
  if (s->peer_check) {
    rv = s->peer_check(s->peer_check_ctx, id);
    if (rv != 0) {
      /* A callback returning a positive value or a non-error is a bug in
       * the caller; still refuse. */
      return rv < 0 ? rv : DSB_ERR_CALLBACK_FAILURE;
    }
  }
  return 0;
}

/*
 * The receive buffer. An established session that is fed through
 * dsb_session_recv_inplace() holds one only while a record is split across
 * calls, so an idle session costs no 64 KiB; dsb_session_recv() keeps it
 * once used, as it decrypts every record into it.
 */
static int session_rx_alloc(dsb_session *s) {
  if (s->rxbuf) {
    return 0;
  }
  s->rxbuf = dsb_mem_malloc(s->mem, s->settings.max_record_len);
  if (!s->rxbuf) {
    return DSB_ERR_NOMEM;
  }
  dsb_record_reader_set_buffer(&s->reader, s->rxbuf,
                               s->settings.max_record_len);
  return 0;
}

static void session_rx_note(dsb_session *s, size_t written) {
  if (written > s->rx_dirty) {
    s->rx_dirty = written;
  }
}

/* Between calls: free the buffer unless it holds part of a record. */
static void session_rx_release(dsb_session *s) {
  if (!s->rxbuf || s->rx_keep || s->reader.have > 0 ||
      s->state != DSB_SESSION_STATE_ESTABLISHED) {
    return;
  }
  dsb_wipe(s->rxbuf, s->rx_dirty);
  s->rx_dirty = 0;
  dsb_mem_free(s->mem, s->rxbuf);
  s->rxbuf = NULL;
  dsb_record_reader_set_buffer(&s->reader, NULL, s->settings.max_record_len);
}

/* Split and enter ESTABLISHED. The peer was verified before this. */
static int session_establish(dsb_session *s) {
  long n;
  int rv;

  n = dsb_noise_handshake_get_handshake_hash(s->hs, s->hhash, sizeof(s->hhash));
  if (n != SESSION_HASH_LEN) {
    return session_fail(s, n < 0 ? (int)n : DSB_ERR_INTERNAL);
  }
  rv = dsb_noise_handshake_split(s->hs, &s->tx, &s->rx);
  if (rv != 0) {
    return session_fail(s, rv);
  }
  dsb_noise_handshake_del(s->hs);
  s->hs = NULL;
  dsb_wipe(s->hsbuf, sizeof(s->hsbuf));
  /* No buffer yet: session_rx_alloc() when a record needs one. */
  dsb_record_reader_set_buffer(&s->reader, NULL, s->settings.max_record_len);
  dsb_record_reader_set_limits(&s->reader, DSB_SESSION_TAG_LEN,
                               s->settings.max_record_len);
  s->state = DSB_SESSION_STATE_ESTABLISHED;
  s->have_peer = 1;
  {
    char text[DSB_DEVICE_ID_TEXT_LEN + 1];
    dsb_device_id_format(text, &s->peer_id);
    /* A short prefix names the peer without filling logs with ids. */
    session_log(s, DSB_LOG_INFO, "session %s: established with %.8s",
                session_role_name(s), text);
  }
  if (s->cb.on_established &&
      s->cb.on_established(s, &s->peer_id, s->user_data) != 0) {
    return session_fail(s, DSB_ERR_CALLBACK_FAILURE);
  }
  return 0;
}

/* ---- handshake ------------------------------------------------------------
 */

/* Exact Noise length of the next message the peer must send. */
static size_t session_expected_msg_len(const dsb_session *s) {
  return s->role == DSB_SESSION_RESPONDER
             ? (s->msgs_done == 0 ? DSB_SESSION_MSG1_LEN : DSB_SESSION_MSG3_LEN)
             : DSB_SESSION_MSG2_LEN;
}

long dsb_session_write_handshake(dsb_session *session, uint8_t *dst,
                                 size_t dstlen, dsb_tstamp now) {
  dsb_session *s = session;
  uint8_t payload[DSB_SESSION_PROOF_PAYLOAD_LEN];
  long plen;
  long n;
  int rv;

  if (!s || !dst) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (!session_alive(s)) {
    return DSB_ERR_SESSION_CLOSED;
  }
  session_update_ts(s, now);
  rv = session_check_deadline(s, now);
  if (rv != 0) {
    return rv;
  }
  if (!dsb_session_want_write(s)) {
    return 0;
  }
  if (dstlen < DSB_SESSION_HANDSHAKE_MAX) {
    return DSB_ERR_NOBUF;
  }
  if (s->msgs_done == 0) {
    /* -> e, es: only a version byte; no identity before the peer proved
     * it holds the static key we expect. */
    plen = dsb_session_hello_encode(payload, sizeof(payload));
  } else {
    /* <- e, ee (responder) or -> s, se (initiator): our proof. */
    plen = dsb_session_proof_encode(payload, sizeof(payload), &s->local_proof);
  }
  if (plen < 0) {
    return session_fail(s, (int)plen);
  }
  n = dsb_noise_handshake_write_message(s->hs, dst + DSB_SESSION_RECORD_HDR_LEN,
                                        dstlen - DSB_SESSION_RECORD_HDR_LEN,
                                        payload, (size_t)plen);
  if (n < 0) {
    return session_fail(s, (int)n);
  }
  if ((size_t)n > DSB_SESSION_MSG3_LEN) {
    return session_fail(s, DSB_ERR_INTERNAL);
  }
  dsb_wire_put_u16be(dst, (uint16_t)n);
  ++s->msgs_done;
  if (s->msgs_done < 3) {
    dsb_record_reader_set_limits(&s->reader, session_expected_msg_len(s),
                                 session_expected_msg_len(s));
  }
  if (dsb_noise_handshake_action(s->hs) == DSB_NOISE_ACTION_SPLIT) {
    /* Initiator after message 3: the responder was verified at message 2. */
    rv = session_establish(s);
    if (rv != 0) {
      return rv;
    }
  }
  return n + DSB_SESSION_RECORD_HDR_LEN;
}

/* One complete handshake message from the peer. */
static int session_read_handshake(dsb_session *s, const uint8_t *msg,
                                  size_t msglen) {
  uint8_t payload[DSB_SESSION_MSG3_LEN];
  dsb_identity_proof proof;
  dsb_device_id id;
  long n;
  int rv;

  if (dsb_noise_handshake_action(s->hs) != DSB_NOISE_ACTION_READ_MESSAGE) {
    /* The peer sent before its turn (or a record before the handshake
     * completed). */
    return session_fail(s, DSB_ERR_SESSION_BAD_HANDSHAKE);
  }
  n = dsb_noise_handshake_read_message(s->hs, payload, sizeof(payload), msg,
                                       msglen);
  if (n < 0) {
    return session_fail(s, (int)n);
  }
  ++s->msgs_done;
  if (s->msgs_done == 1) {
    /* Responder, message 1. */
    rv = dsb_session_hello_decode(payload, (size_t)n);
    if (rv != 0) {
      return session_fail(s, rv);
    }
    return 0;
  }
  rv = session_check_peer(s, payload, (size_t)n, &proof, &id);
  dsb_wipe(payload, sizeof(payload));
  if (rv != 0) {
    return session_fail(s, rv);
  }
  s->peer_proof = proof;
  s->peer_id = id;
  if (s->role == DSB_SESSION_RESPONDER) {
    /* Message 3 was the last one. */
    return session_establish(s);
  }
  return 0;
}

/* ---- records --------------------------------------------------------------
 */

static int session_rekey_check(dsb_session *s, dsb_noise_cipher *cs,
                               uint64_t count, uint64_t *rekeys) {
  int rv;

  if (count % s->settings.rekey_interval != 0) {
    return 0;
  }
  rv = dsb_noise_cipher_rekey(cs);
  if (rv != 0) {
    return rv;
  }
  ++*rekeys;
  return 0;
}

/* Authenticate and decrypt one record body into |dst| (|dstlen| bytes),
 * then deliver it. |body| is the receive buffer or the caller's input;
 * |dst| may be |body| (in place). */
static int session_deliver_record(dsb_session *s, uint8_t *dst, size_t dstlen,
                                  const uint8_t *body, size_t bodylen) {
  long n;
  int rv;

  n = dsb_noise_cipher_decrypt(s->rx, dst, dstlen, NULL, 0, body, bodylen);
  if (n < 0) {
    return session_fail(s, (int)n);
  }
  ++s->stats.records_received;
  s->stats.bytes_received += (uint64_t)n;
  rv = session_rekey_check(s, s->rx, s->stats.records_received,
                           &s->stats.rekeys_received);
  if (rv != 0) {
    return session_fail(s, rv);
  }
  if (s->cb.on_record &&
      s->cb.on_record(s, dst, (size_t)n, s->user_data) != 0) {
    return session_fail(s, DSB_ERR_CALLBACK_FAILURE);
  }
  return 0;
}

/* |inmut| is |in| when the caller allows decryption in place, else NULL. */
static long session_recv(dsb_session *s, const uint8_t *in, uint8_t *inmut,
                         size_t inlen, dsb_tstamp now) {
  size_t off = 0;
  int rv;

  if (!s || (!in && inlen)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (!session_alive(s)) {
    return DSB_ERR_SESSION_CLOSED;
  }
  session_update_ts(s, now);
  rv = session_check_deadline(s, now);
  if (rv != 0) {
    return rv;
  }
  s->paused = 0; /* only a pause from this call's callbacks counts */
  while (off < inlen) {
    const uint8_t *body;
    size_t bodylen;
    int in_buf;
    long used;

    if (s->state == DSB_SESSION_STATE_HANDSHAKE &&
        !dsb_record_reader_partial(&s->reader)) {
      if (dsb_noise_handshake_action(s->hs) != DSB_NOISE_ACTION_READ_MESSAGE) {
        /* Bytes while it is our turn: the peer does not follow XK. */
        return session_fail(s, DSB_ERR_SESSION_BAD_HANDSHAKE);
      }
      dsb_record_reader_set_limits(&s->reader, session_expected_msg_len(s),
                                   session_expected_msg_len(s));
    }
    used = dsb_record_reader_feed(&s->reader, in + off, inlen - off, &body,
                                  &bodylen, &in_buf);
    if (used < 0) {
      return session_fail(s, (int)used);
    }
    off += (size_t)used;
    if (!body) {
      if (s->state != DSB_SESSION_STATE_ESTABLISHED) {
        continue;
      }
      session_rx_note(s, s->reader.have);
      if (off < inlen) {
        /* The reader stopped at a split body: it needs the buffer. */
        rv = session_rx_alloc(s);
        if (rv != 0) {
          return session_fail(s, rv);
        }
      }
      continue;
    }
    if (s->state == DSB_SESSION_STATE_HANDSHAKE) {
      rv = session_read_handshake(s, body, bodylen);
    } else if (in_buf) {
      /* A split body, gathered in the buffer: decrypt it there. */
      session_rx_note(s, bodylen);
      rv = session_deliver_record(s, s->rxbuf, s->settings.max_record_len, body,
                                  bodylen);
    } else if (inmut) {
      rv = session_deliver_record(s, inmut + (body - in), bodylen, body,
                                  bodylen);
    } else {
      rv = session_rx_alloc(s);
      if (rv != 0) {
        return session_fail(s, rv);
      }
      s->rx_keep = 1;
      session_rx_note(s, bodylen);
      rv = session_deliver_record(s, s->rxbuf, s->settings.max_record_len, body,
                                  bodylen);
    }
    if (rv != 0) {
      return rv;
    }
    if (!session_alive(s)) {
      /* A callback closed the session: the rest of the input is moot. */
      return (long)inlen;
    }
    if (s->paused) {
      s->paused = 0;
      session_rx_release(s);
      return (long)off;
    }
  }
  session_rx_release(s);
  return (long)inlen;
}

long dsb_session_recv(dsb_session *session, const uint8_t *in, size_t inlen,
                      dsb_tstamp now) {
  return session_recv(session, in, NULL, inlen, now);
}

long dsb_session_recv_inplace(dsb_session *session, uint8_t *in, size_t inlen,
                              dsb_tstamp now) {
  return session_recv(session, in, in, inlen, now);
}

void dsb_session_pause(dsb_session *session) {
  if (session) {
    session->paused = 1;
  }
}

int dsb_session_recv_eof(dsb_session *session) {
  if (!session) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (!session_alive(session)) {
    return DSB_ERR_SESSION_CLOSED;
  }
  if (dsb_record_reader_partial(&session->reader)) {
    return session_fail(session, DSB_ERR_SESSION_RECORD_TRUNCATED);
  }
  if (session->state == DSB_SESSION_STATE_HANDSHAKE) {
    return session_fail(session, DSB_ERR_SESSION_CLOSED);
  }
  dsb_session_close(session);
  return 0;
}

long dsb_session_seal(dsb_session *session, uint8_t *dst, size_t dstlen,
                      const uint8_t *pt, size_t ptlen) {
  dsb_session *s = session;
  uint8_t *body;
  long n;
  int rv;

  if (!s || !dst || (!pt && ptlen)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (s->state == DSB_SESSION_STATE_HANDSHAKE) {
    return DSB_ERR_SESSION_NOT_ESTABLISHED;
  }
  if (s->state != DSB_SESSION_STATE_ESTABLISHED) {
    return DSB_ERR_SESSION_CLOSED;
  }
  if (ptlen > DSB_SESSION_PLAINTEXT_MAX) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (dstlen < ptlen + DSB_SESSION_RECORD_OVERHEAD) {
    return DSB_ERR_NOBUF;
  }
  body = dst + DSB_SESSION_RECORD_HDR_LEN;
  /* In place is exactly pt == body; any other overlap would corrupt the
   * plaintext before it is read. */
  if (pt && pt != body && pt < dst + dstlen && dst < pt + ptlen) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  n = dsb_noise_cipher_encrypt(s->tx, body, dstlen - DSB_SESSION_RECORD_HDR_LEN,
                               NULL, 0, pt, ptlen);
  if (n < 0) {
    return session_fail(s, (int)n);
  }
  dsb_wire_put_u16be(dst, (uint16_t)n);
  ++s->stats.records_sent;
  s->stats.bytes_sent += ptlen;
  rv = session_rekey_check(s, s->tx, s->stats.records_sent,
                           &s->stats.rekeys_sent);
  if (rv != 0) {
    return session_fail(s, rv);
  }
  return n + DSB_SESSION_RECORD_HDR_LEN;
}

long dsb_session_open(dsb_session *session, uint8_t *dst, size_t dstlen,
                      const uint8_t *rec, size_t reclen) {
  dsb_session *s = session;
  uint16_t len;
  long n;
  int rv;

  if (!s || !dst || !rec) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (s->state == DSB_SESSION_STATE_HANDSHAKE) {
    return DSB_ERR_SESSION_NOT_ESTABLISHED;
  }
  if (s->state != DSB_SESSION_STATE_ESTABLISHED) {
    return DSB_ERR_SESSION_CLOSED;
  }
  if (reclen < DSB_SESSION_RECORD_HDR_LEN) {
    return session_fail(s, DSB_ERR_SESSION_RECORD_TRUNCATED);
  }
  dsb_wire_get_u16be(rec, &len);
  if (len > s->settings.max_record_len) {
    return session_fail(s, DSB_ERR_SESSION_RECORD_OVERSIZE);
  }
  if (len < DSB_SESSION_TAG_LEN) {
    return session_fail(s, DSB_ERR_SESSION_RECORD_UNDERSIZE);
  }
  if (reclen - DSB_SESSION_RECORD_HDR_LEN < len) {
    return session_fail(s, DSB_ERR_SESSION_RECORD_TRUNCATED);
  }
  if (reclen - DSB_SESSION_RECORD_HDR_LEN > len) {
    return session_fail(s, DSB_ERR_MALFORMED);
  }
  if (dstlen < (size_t)len - DSB_SESSION_TAG_LEN) {
    return DSB_ERR_NOBUF;
  }
  n = dsb_noise_cipher_decrypt(s->rx, dst, dstlen, NULL, 0,
                               rec + DSB_SESSION_RECORD_HDR_LEN, len);
  if (n < 0) {
    return session_fail(s, (int)n);
  }
  ++s->stats.records_received;
  s->stats.bytes_received += (uint64_t)n;
  rv = session_rekey_check(s, s->rx, s->stats.records_received,
                           &s->stats.rekeys_received);
  if (rv != 0) {
    dsb_wipe(dst, (size_t)n);
    return session_fail(s, rv);
  }
  return n;
}

/* ---- timers, state, accessors -------------------------------------------- */

dsb_tstamp dsb_session_next_timeout(const dsb_session *session) {
  return session->state == DSB_SESSION_STATE_HANDSHAKE ? session->deadline
                                                       : UINT64_MAX;
}

int dsb_session_handle_timeout(dsb_session *session, dsb_tstamp now) {
  session_update_ts(session, now);
  return session_check_deadline(session, now);
}

void dsb_session_close(dsb_session *session) {
  if (!session) {
    return;
  }
  if (session_alive(session)) {
    session->state = DSB_SESSION_STATE_CLOSED;
  }
  session_wipe_keys(session);
}

dsb_session_state dsb_session_get_state(const dsb_session *session) {
  return session->state;
}

dsb_session_role dsb_session_get_role(const dsb_session *session) {
  return session->role;
}

int dsb_session_get_error(const dsb_session *session) {
  return session->error;
}

int dsb_session_get_peer(const dsb_session *session, dsb_device_id *id,
                         dsb_identity_proof *proof) {
  if (!session->have_peer) {
    return DSB_ERR_SESSION_NOT_ESTABLISHED;
  }
  if (id) {
    *id = session->peer_id;
  }
  if (proof) {
    *proof = session->peer_proof;
  }
  return 0;
}

long dsb_session_get_handshake_hash(const dsb_session *session, uint8_t *out,
                                    size_t outlen) {
  if (!session->have_peer) {
    return DSB_ERR_SESSION_NOT_ESTABLISHED;
  }
  if (outlen < sizeof(session->hhash)) {
    return DSB_ERR_NOBUF;
  }
  memcpy(out, session->hhash, sizeof(session->hhash));
  return (long)sizeof(session->hhash);
}

void dsb_session_get_stats(const dsb_session *session,
                           dsb_session_stats *stats) {
  *stats = session->stats;
}

int dsb_session_test_set_nonces(dsb_session *session, uint64_t send_nonce,
                                uint64_t recv_nonce) {
  if (session->state != DSB_SESSION_STATE_ESTABLISHED) {
    return DSB_ERR_SESSION_NOT_ESTABLISHED;
  }
  dsb_noise_cipher_set_nonce(session->tx, send_nonce);
  dsb_noise_cipher_set_nonce(session->rx, recv_nonce);
  return 0;
}

int dsb_session_trust_check(void *ctx, const dsb_device_id *peer) {
  const dsb_session_trust_ctx *tc = ctx;

  return dsb_trust_check(tc ? tc->trust : NULL, peer, tc ? tc->flags : 0);
}
