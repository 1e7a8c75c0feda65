/*
 * disc_codec.c - discovery announcement and query codec (sans-IO).
 * Byte layouts: docs/PROTOCOL.md, "Discovery". Every read is preceded by a
 * check of what remains; nothing is allocated.
 */
#include <string.h>

#include "dsb/disc.h"
#include "dsb/err.h"
#include "dsb/wire.h"

#define DISC_SIG_LABEL_LEN (sizeof(DSB_DISC_SIG_LABEL) - 1)

/* ---- text validation ----------------------------------------------------- */

/* Display names are UTF-8 shown to users: reject invalid sequences
 * (overlong, surrogates, > U+10FFFF) and control characters (C0, DEL, C1),
 * which could forge log lines or terminal escapes. */
static int disc_name_valid(const uint8_t *p, size_t len) {
  size_t i = 0;
  while (i < len) {
    uint8_t c = p[i];
    uint32_t cp;
    size_t n;
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f) {
        return 0;
      }
      ++i;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
      cp = c & 0x1fu;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      cp = c & 0x0fu;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      cp = c & 0x07u;
    } else {
      return 0;
    }
    if (len - i - 1 < n) {
      return 0;
    }
    for (size_t k = 1; k <= n; ++k) {
      uint8_t cc = p[i + k];
      if ((cc & 0xc0) != 0x80) {
        return 0;
      }
      cp = (cp << 6) | (cc & 0x3fu);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f)) {
      return 0;
    }
    i += n + 1;
  }
  return 1;
}

/* Service names are identifiers: printable ASCII without space. */
static int disc_service_valid(const uint8_t *p, size_t len) {
  if (len == 0) {
    return 0;
  }
  for (size_t i = 0; i < len; ++i) {
    if (p[i] < 0x21 || p[i] > 0x7e) {
      return 0;
    }
  }
  return 1;
}

/* ---- building ------------------------------------------------------------ */

void dsb_disc_announce_init(dsb_disc_announce *ann) {
  memset(ann, 0, sizeof(*ann));
}

int dsb_disc_announce_set_name(dsb_disc_announce *ann, const char *name,
                               size_t len) {
  if (len > DSB_DISC_NAME_MAX) {
    return DSB_ERR_DISC_NAME_TOO_LONG;
  }
  if (len && !disc_name_valid((const uint8_t *)name, len)) {
    return DSB_ERR_DISC_MALFORMED;
  }
  memset(ann->name, 0, sizeof(ann->name));
  if (len) {
    memcpy(ann->name, name, len);
  }
  ann->name_len = (uint8_t)len;
  return 0;
}

int dsb_disc_announce_add_service(dsb_disc_announce *ann, const char *name,
                                  size_t len) {
  if (len > DSB_DISC_SERVICE_NAME_MAX) {
    return DSB_ERR_DISC_NAME_TOO_LONG;
  }
  if (!disc_service_valid((const uint8_t *)name, len)) {
    return DSB_ERR_DISC_MALFORMED;
  }
  if (dsb_disc_announce_offers(ann, name, len)) {
    return DSB_ERR_EXISTS;
  }
  if (ann->nservices >= DSB_DISC_MAX_SERVICES) {
    return DSB_ERR_DISC_TOO_MANY_SERVICES;
  }
  uint8_t i = ann->nservices;
  memset(ann->services[i], 0, sizeof(ann->services[i]));
  memcpy(ann->services[i], name, len);
  ann->service_len[i] = (uint8_t)len;
  ann->nservices = (uint8_t)(i + 1);
  return 0;
}

int dsb_disc_announce_offers(const dsb_disc_announce *ann, const char *name,
                             size_t len) {
  size_t n = ann->nservices;
  if (n > DSB_DISC_MAX_SERVICES) {
    n = DSB_DISC_MAX_SERVICES;
  }
  for (size_t i = 0; i < n; ++i) {
    if (ann->service_len[i] == len &&
        memcmp(ann->services[i], name, len) == 0) {
      return 1;
    }
  }
  return 0;
}

/* ---- announcement -------------------------------------------------------- */

/* Size of the signed body (everything before the signature) of |ann|, after
 * validating the variable fields the encoder is about to write. */
static long disc_announce_body_len(const dsb_disc_announce *ann) {
  size_t len = DSB_DISC_ANNOUNCE_FIXED_LEN + 1 + ann->name_len + 1;
  if (ann->name_len > DSB_DISC_NAME_MAX) {
    return DSB_ERR_DISC_NAME_TOO_LONG;
  }
  if (!disc_name_valid((const uint8_t *)ann->name, ann->name_len)) {
    return DSB_ERR_DISC_MALFORMED;
  }
  if (ann->nservices > DSB_DISC_MAX_SERVICES) {
    return DSB_ERR_DISC_TOO_MANY_SERVICES;
  }
  for (size_t i = 0; i < ann->nservices; ++i) {
    if (ann->service_len[i] > DSB_DISC_SERVICE_NAME_MAX) {
      return DSB_ERR_DISC_NAME_TOO_LONG;
    }
    if (!disc_service_valid((const uint8_t *)ann->services[i],
                            ann->service_len[i])) {
      return DSB_ERR_DISC_MALFORMED;
    }
    len += 1 + (size_t)ann->service_len[i];
  }
  return (long)len;
}

/* Ed25519 over label || body, with the label and body in one buffer because
 * Ed25519 (PureEdDSA) signs a single message. */
static int disc_sig_message(uint8_t *buf, size_t buflen, const uint8_t *body,
                            size_t bodylen, size_t *outlen) {
  if (bodylen > buflen - DISC_SIG_LABEL_LEN) {
    return DSB_ERR_DISC_OVERSIZE;
  }
  memcpy(buf, DSB_DISC_SIG_LABEL, DISC_SIG_LABEL_LEN);
  memcpy(buf + DISC_SIG_LABEL_LEN, body, bodylen);
  *outlen = DISC_SIG_LABEL_LEN + bodylen;
  return 0;
}

long dsb_disc_announce_encode(uint8_t *dst, size_t dstlen,
                              const dsb_disc_announce *ann,
                              const dsb_identity *ident) {
  uint8_t msg[DISC_SIG_LABEL_LEN + DSB_DISC_MAX_DATAGRAM];
  size_t msglen;
  long body = disc_announce_body_len(ann);
  if (body < 0) {
    return body;
  }
  size_t total = (size_t)body + DSB_ED25519_SIG_LEN;
  if (total > DSB_DISC_MAX_DATAGRAM) {
    return DSB_ERR_DISC_OVERSIZE;
  }
  if (dstlen < total) {
    return DSB_ERR_NOBUF;
  }
  /* docs/PROTOCOL.md, "Discovery", announcement layout. */
  uint8_t *p = dst;
  p = dsb_wire_put_u8(p, DSB_DISC_VERSION);
  p = dsb_wire_put_u8(p, DSB_DISC_TYPE_ANNOUNCE);
  p = dsb_wire_put_bytes(p, ident->id.b, DSB_DEVICE_ID_LEN);
  p = dsb_wire_put_bytes(p, ident->proof.ed_pk, DSB_ED25519_PK_LEN);
  p = dsb_wire_put_bytes(p, ident->proof.static_pk, DSB_X25519_KEY_LEN);
  p = dsb_wire_put_bytes(p, ident->proof.cert, DSB_ED25519_SIG_LEN);
  p = dsb_wire_put_u16be(p, ann->session_port);
  p = dsb_wire_put_u64be(p, ann->seq);
  p = dsb_wire_put_u16be(p, ann->ttl_s);
  p = dsb_wire_put_u8(p, ann->name_len);
  p = dsb_wire_put_bytes(p, (const uint8_t *)ann->name, ann->name_len);
  p = dsb_wire_put_u8(p, ann->nservices);
  for (size_t i = 0; i < ann->nservices; ++i) {
    p = dsb_wire_put_u8(p, ann->service_len[i]);
    p = dsb_wire_put_bytes(p, (const uint8_t *)ann->services[i],
                           ann->service_len[i]);
  }
  int rv = disc_sig_message(msg, sizeof(msg), dst, (size_t)body, &msglen);
  if (rv != 0) {
    return rv;
  }
  rv = dsb_ed25519_sign(p, ident->ed_seed, msg, msglen);
  if (rv != 0) {
    return DSB_ERR_CRYPTO;
  }
  return (long)total;
}

static int disc_check_header(const uint8_t *in, size_t inlen) {
  if (inlen > DSB_DISC_MAX_DATAGRAM) {
    return DSB_ERR_DISC_OVERSIZE;
  }
  if (inlen < 2) {
    return DSB_ERR_DISC_TRUNCATED;
  }
  if (in[0] != DSB_DISC_VERSION) {
    return DSB_ERR_DISC_VERSION;
  }
  return 0;
}

int dsb_disc_peek_type(const uint8_t *in, size_t inlen) {
  int rv = disc_check_header(in, inlen);
  if (rv != 0) {
    return rv;
  }
  if (in[1] != DSB_DISC_TYPE_ANNOUNCE && in[1] != DSB_DISC_TYPE_QUERY) {
    return DSB_ERR_DISC_MALFORMED;
  }
  return in[1];
}

int dsb_disc_announce_parse(dsb_disc_announce *ann, const uint8_t *in,
                            size_t inlen) {
  int rv = disc_check_header(in, inlen);
  if (rv != 0) {
    return rv;
  }
  if (in[1] != DSB_DISC_TYPE_ANNOUNCE) {
    return DSB_ERR_DISC_MALFORMED;
  }
  memset(ann, 0, sizeof(*ann));
  const uint8_t *p = in + 2;
  const uint8_t *end = in + inlen;
  uint8_t v8;

  if ((size_t)(end - p) < DSB_DISC_ANNOUNCE_FIXED_LEN - 2) {
    return DSB_ERR_DISC_TRUNCATED;
  }
  memcpy(ann->id.b, p, DSB_DEVICE_ID_LEN);
  p += DSB_DEVICE_ID_LEN;
  memcpy(ann->proof.ed_pk, p, DSB_ED25519_PK_LEN);
  p += DSB_ED25519_PK_LEN;
  memcpy(ann->proof.static_pk, p, DSB_X25519_KEY_LEN);
  p += DSB_X25519_KEY_LEN;
  memcpy(ann->proof.cert, p, DSB_ED25519_SIG_LEN);
  p += DSB_ED25519_SIG_LEN;
  p = dsb_wire_get_u16be(p, &ann->session_port);
  p = dsb_wire_get_u64be(p, &ann->seq);
  p = dsb_wire_get_u16be(p, &ann->ttl_s);

  /* display name */
  if (end - p < 1) {
    return DSB_ERR_DISC_TRUNCATED;
  }
  p = dsb_wire_get_u8(p, &v8);
  if (v8 > DSB_DISC_NAME_MAX) {
    return DSB_ERR_DISC_NAME_TOO_LONG;
  }
  if ((size_t)(end - p) < v8) {
    return DSB_ERR_DISC_TRUNCATED;
  }
  if (!disc_name_valid(p, v8)) {
    return DSB_ERR_DISC_MALFORMED;
  }
  memcpy(ann->name, p, v8);
  ann->name_len = v8;
  p += v8;

  /* services */
  if (end - p < 1) {
    return DSB_ERR_DISC_TRUNCATED;
  }
  p = dsb_wire_get_u8(p, &v8);
  if (v8 > DSB_DISC_MAX_SERVICES) {
    return DSB_ERR_DISC_TOO_MANY_SERVICES;
  }
  ann->nservices = v8;
  for (size_t i = 0; i < ann->nservices; ++i) {
    if (end - p < 1) {
      return DSB_ERR_DISC_TRUNCATED;
    }
    p = dsb_wire_get_u8(p, &v8);
    if (v8 > DSB_DISC_SERVICE_NAME_MAX) {
      return DSB_ERR_DISC_NAME_TOO_LONG;
    }
    if ((size_t)(end - p) < v8) {
      return DSB_ERR_DISC_TRUNCATED;
    }
    if (!disc_service_valid(p, v8)) {
      return DSB_ERR_DISC_MALFORMED;
    }
    memcpy(ann->services[i], p, v8);
    ann->service_len[i] = v8;
    p += v8;
  }

  /* signature, then nothing */
  if ((size_t)(end - p) < DSB_ED25519_SIG_LEN) {
    return DSB_ERR_DISC_TRUNCATED;
  }
  memcpy(ann->sig, p, DSB_ED25519_SIG_LEN);
  p += DSB_ED25519_SIG_LEN;
  if (p != end) {
    return DSB_ERR_DISC_MALFORMED;
  }
  return 0;
}

int dsb_disc_announce_verify(const dsb_disc_announce *ann, const uint8_t *in,
                             size_t inlen) {
  uint8_t msg[DISC_SIG_LABEL_LEN + DSB_DISC_MAX_DATAGRAM];
  size_t msglen;
  dsb_device_id derived;
  int rv;

  if (inlen < DSB_DISC_ANNOUNCE_MIN_LEN || inlen > DSB_DISC_MAX_DATAGRAM) {
    return DSB_ERR_DISC_MALFORMED;
  }
  /* Cheapest first: a hash, then two signature verifications. The id is
   * never trusted from the wire: it must be the one the key derives. */
  if (dsb_device_id_derive(&derived, ann->proof.ed_pk) != 0) {
    return DSB_ERR_CRYPTO;
  }
  if (!dsb_device_id_eq(&derived, &ann->id)) {
    return DSB_ERR_DISC_BAD_DEVICE_ID;
  }
  rv = dsb_identity_proof_verify(&ann->proof, &derived);
  if (rv == DSB_ERR_IDENTITY_BAD_CERT) {
    return DSB_ERR_DISC_BAD_CERT;
  }
  if (rv != 0) {
    return rv == DSB_ERR_CRYPTO ? DSB_ERR_CRYPTO : DSB_ERR_DISC_BAD_CERT;
  }
  rv = disc_sig_message(msg, sizeof(msg), in, inlen - DSB_ED25519_SIG_LEN,
                        &msglen);
  if (rv != 0) {
    return rv;
  }
  if (dsb_ed25519_verify(in + inlen - DSB_ED25519_SIG_LEN, ann->proof.ed_pk,
                         msg, msglen) != 0) {
    return DSB_ERR_DISC_BAD_SIGNATURE;
  }
  return 0;
}

int dsb_disc_announce_decode(dsb_disc_announce *ann, const uint8_t *in,
                             size_t inlen) {
  int rv = dsb_disc_announce_parse(ann, in, inlen);
  if (rv != 0) {
    return rv;
  }
  return dsb_disc_announce_verify(ann, in, inlen);
}

/* ---- query --------------------------------------------------------------- */

long dsb_disc_query_encode(uint8_t *dst, size_t dstlen,
                           const dsb_disc_query *q) {
  if (q->service_len > DSB_DISC_SERVICE_NAME_MAX) {
    return DSB_ERR_DISC_NAME_TOO_LONG;
  }
  if (q->service_len &&
      !disc_service_valid((const uint8_t *)q->service, q->service_len)) {
    return DSB_ERR_DISC_MALFORMED;
  }
  size_t total = DSB_DISC_QUERY_MIN_LEN + (size_t)q->service_len;
  if (dstlen < total) {
    return DSB_ERR_NOBUF;
  }
  uint8_t *p = dst;
  p = dsb_wire_put_u8(p, DSB_DISC_VERSION);
  p = dsb_wire_put_u8(p, DSB_DISC_TYPE_QUERY);
  p = dsb_wire_put_bytes(p, q->nonce, DSB_DISC_NONCE_LEN);
  p = dsb_wire_put_u8(p, q->service_len);
  dsb_wire_put_bytes(p, (const uint8_t *)q->service, q->service_len);
  return (long)total;
}

int dsb_disc_query_decode(dsb_disc_query *q, const uint8_t *in, size_t inlen) {
  int rv = disc_check_header(in, inlen);
  if (rv != 0) {
    return rv;
  }
  if (in[1] != DSB_DISC_TYPE_QUERY) {
    return DSB_ERR_DISC_MALFORMED;
  }
  memset(q, 0, sizeof(*q));
  const uint8_t *p = in + 2;
  const uint8_t *end = in + inlen;
  uint8_t v8;
  if ((size_t)(end - p) < DSB_DISC_NONCE_LEN + 1) {
    return DSB_ERR_DISC_TRUNCATED;
  }
  memcpy(q->nonce, p, DSB_DISC_NONCE_LEN);
  p += DSB_DISC_NONCE_LEN;
  p = dsb_wire_get_u8(p, &v8);
  if (v8 > DSB_DISC_SERVICE_NAME_MAX) {
    return DSB_ERR_DISC_NAME_TOO_LONG;
  }
  if ((size_t)(end - p) < v8) {
    return DSB_ERR_DISC_TRUNCATED;
  }
  if (v8 && !disc_service_valid(p, v8)) {
    return DSB_ERR_DISC_MALFORMED;
  }
  memcpy(q->service, p, v8);
  q->service_len = v8;
  p += v8;
  if (p != end) {
    return DSB_ERR_DISC_MALFORMED;
  }
  return 0;
}
