/*
 * session_payload.c - the handshake payload codec (docs/PROTOCOL.md,
 * "Sessions"): message 1 carries a version byte, messages 2 and 3 the
 * sender's identity proof after the version byte.
 */
#include <string.h>

#include "core/session_internal.h"
#include "dsb/err.h"
#include "dsb/wire.h"

long dsb_session_hello_encode(uint8_t *dst, size_t dstlen) {
  if (dstlen < DSB_SESSION_HELLO_LEN) {
    return DSB_ERR_NOBUF;
  }
  dsb_wire_put_u8(dst, DSB_SESSION_VERSION);
  return DSB_SESSION_HELLO_LEN;
}

/* The version byte comes first so a later version may change the rest. */
static int payload_check_version(const uint8_t *in, size_t inlen) {
  uint8_t version;

  if (inlen < 1) {
    return DSB_ERR_SESSION_BAD_PAYLOAD;
  }
  dsb_wire_get_u8(in, &version);
  if (version != DSB_SESSION_VERSION) {
    return DSB_ERR_SESSION_VERSION;
  }
  return 0;
}

int dsb_session_hello_decode(const uint8_t *in, size_t inlen) {
  int rv = payload_check_version(in, inlen);

  if (rv != 0) {
    return rv;
  }
  if (inlen != DSB_SESSION_HELLO_LEN) {
    return DSB_ERR_SESSION_BAD_PAYLOAD;
  }
  return 0;
}

long dsb_session_proof_encode(uint8_t *dst, size_t dstlen,
                              const dsb_identity_proof *proof) {
  uint8_t *p = dst;

  if (dstlen < DSB_SESSION_PROOF_PAYLOAD_LEN) {
    return DSB_ERR_NOBUF;
  }
  p = dsb_wire_put_u8(p, DSB_SESSION_VERSION);
  p = dsb_wire_put_bytes(p, proof->ed_pk, sizeof(proof->ed_pk));
  p = dsb_wire_put_bytes(p, proof->static_pk, sizeof(proof->static_pk));
  p = dsb_wire_put_bytes(p, proof->cert, sizeof(proof->cert));
  return (long)(p - dst);
}

int dsb_session_proof_decode(dsb_identity_proof *proof, const uint8_t *in,
                             size_t inlen) {
  const uint8_t *p = in + 1;
  int rv = payload_check_version(in, inlen);

  if (rv != 0) {
    return rv;
  }
  if (inlen != DSB_SESSION_PROOF_PAYLOAD_LEN) {
    return DSB_ERR_SESSION_BAD_PAYLOAD;
  }
  memcpy(proof->ed_pk, p, sizeof(proof->ed_pk));
  p += sizeof(proof->ed_pk);
  memcpy(proof->static_pk, p, sizeof(proof->static_pk));
  p += sizeof(proof->static_pk);
  memcpy(proof->cert, p, sizeof(proof->cert));
  return 0;
}
