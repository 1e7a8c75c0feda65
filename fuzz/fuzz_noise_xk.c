/*
 * fuzz_noise_xk - arbitrary bytes into read_message on both roles of
 * Noise_XK_25519_ChaChaPoly_BLAKE2s, and into the transport decryptor.
 *
 * Input: one selector byte, then the message.
 *   selector % 4 == 0: the responder reads it as message 1
 *   selector % 4 == 1: the initiator reads it as message 2 (after a real 1)
 *   selector % 4 == 2: the responder reads it as message 3 (after real 1, 2)
 *   selector % 4 == 3: the responder's transport cipher decrypts it
 * Keys are fixed, so a genuine message (the seed corpus) is accepted and
 * mutations explore the paths past each check.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dsb/crypto.h"
#include "dsb/err.h"
#include "dsb/noise.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t fz_prologue[] = "dsoftbus-lite fuzz";

static void fz_key(uint8_t k[32], uint8_t seed) {
  for (int i = 0; i < 32; ++i) {
    k[i] = (uint8_t)(seed * 7 + i);
  }
}

static dsb_noise_handshake *fz_party(dsb_noise_role role) {
  dsb_noise_handshake *hs = NULL;
  uint8_t is[32], rs[32], rpk[32], e[32];
  fz_key(is, 1);
  fz_key(rs, 2);
  fz_key(e, role == DSB_NOISE_INITIATOR ? 3 : 4);
  if (dsb_noise_handshake_new(&hs, NULL, DSB_NOISE_PROTOCOL_XK, role, NULL) !=
          0 ||
      dsb_noise_handshake_set_prologue(hs, fz_prologue, sizeof(fz_prologue)) !=
          0 ||
      dsb_noise_handshake_set_fixed_ephemeral(hs, e) != 0) {
    abort();
  }
  if (role == DSB_NOISE_INITIATOR) {
    if (dsb_x25519_pubkey(rpk, rs) != 0 ||
        dsb_noise_handshake_set_local_static(hs, is) != 0 ||
        dsb_noise_handshake_set_remote_static(hs, rpk) != 0) {
      abort();
    }
  } else if (dsb_noise_handshake_set_local_static(hs, rs) != 0) {
    abort();
  }
  return hs;
}

/* Pass one genuine message from |tx| to |rx|. */
static void fz_pass(dsb_noise_handshake *tx, dsb_noise_handshake *rx) {
  uint8_t msg[256], pl[256];
  long n = dsb_noise_handshake_write_message(tx, msg, sizeof(msg),
                                             (const uint8_t *)"fuzz", 4);
  if (n < 0 || dsb_noise_handshake_read_message(rx, pl, sizeof(pl), msg,
                                                (size_t)n) != 4) {
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static uint8_t out[DSB_NOISE_MAX_MSG_LEN + 16];
  dsb_noise_handshake *hi, *hr, *rx;
  dsb_noise_cipher *is = NULL, *rr = NULL;
  unsigned mode;
  long n;

  if (size < 1) {
    return 0;
  }
  mode = data[0] % 4;
  ++data;
  --size;
  hi = fz_party(DSB_NOISE_INITIATOR);
  hr = fz_party(DSB_NOISE_RESPONDER);
  if (mode >= 1) {
    fz_pass(hi, hr);
  }
  if (mode >= 2) {
    fz_pass(hr, hi);
  }
  if (mode == 3) {
    fz_pass(hi, hr);
    if (dsb_noise_handshake_split(hi, &is, NULL) != 0 ||
        dsb_noise_handshake_split(hr, NULL, &rr) != 0) {
      abort();
    }
    n = dsb_noise_cipher_decrypt(rr, out, sizeof(out), NULL, 0, data, size);
    if (n >= 0 && (size_t)n + DSB_NOISE_TAG_LEN != size) {
      abort();
    }
  } else {
    rx = mode == 1 ? hi : hr;
    n = dsb_noise_handshake_read_message(rx, out, sizeof(out), data, size);
    if (n >= 0) {
      /* Accepted: the handshake must have advanced to a sane next step. */
      dsb_noise_action a = dsb_noise_handshake_action(rx);
      if (a != DSB_NOISE_ACTION_WRITE_MESSAGE && a != DSB_NOISE_ACTION_SPLIT) {
        abort();
      }
    } else if (dsb_noise_handshake_action(rx) == DSB_NOISE_ACTION_FAILED) {
      /* A failed handshake must refuse everything afterwards. */
      if (dsb_noise_handshake_read_message(rx, out, sizeof(out), data, size) !=
          DSB_ERR_NOISE_FAILED) {
        abort();
      }
    }
  }
  dsb_noise_cipher_del(is);
  dsb_noise_cipher_del(rr);
  dsb_noise_handshake_del(hi);
  dsb_noise_handshake_del(hr);
  return 0;
}
