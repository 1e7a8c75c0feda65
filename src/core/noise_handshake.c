/*
 * noise_handshake.c - HandshakeState (Noise spec section 5.3) for DH 25519.
 *
 * Every message is first sized from the pattern (which tokens, whether a key
 * is already in place), so buffer and length errors are reported before any
 * state changes. Once tokens are being processed, any error fails the
 * handshake for good and wipes it: no half-updated state stays usable.
 */
#include <string.h>

#include "core/noise_internal.h"
#include "dsb/err.h"

enum noise_hs_state {
  NOISE_HS_CONFIG = 0, /* setters allowed */
  NOISE_HS_RUNNING = 1,
  NOISE_HS_SPLIT = 2,    /* all messages done, split() pending */
  NOISE_HS_COMPLETE = 3, /* split() done */
  NOISE_HS_FAILED = 4
};

#define NOISE_HAS_S 0x01u
#define NOISE_HAS_E 0x02u
#define NOISE_HAS_RS 0x04u
#define NOISE_HAS_RE 0x08u
#define NOISE_FIXED_E 0x10u
#define NOISE_PROLOGUE 0x20u

struct dsb_noise_handshake {
  const dsb_mem *mem;
  dsb_rng rng;
  noise_protocol proto;
  noise_symmetric ss;
  dsb_noise_role role;
  int state;
  unsigned flags;
  unsigned msg_index;
  uint8_t s_sk[32], s_pk[32];
  uint8_t e_sk[32], e_pk[32];
  uint8_t rs[32], re[32];
  uint8_t psk[DSB_NOISE_MAX_PSK_INDEX + 1][32];
  unsigned psk_set; /* bit N: psk[N] was given */
};

/* Wipe every secret and refuse further use. */
static void noise_hs_fail(dsb_noise_handshake *hs) {
  noise_sym_clear(&hs->ss);
  dsb_wipe(hs->s_sk, sizeof(hs->s_sk));
  dsb_wipe(hs->e_sk, sizeof(hs->e_sk));
  dsb_wipe(hs->psk, sizeof(hs->psk));
  hs->psk_set = 0;
  dsb_wipe(hs->re, sizeof(hs->re));
  dsb_wipe(hs->rs, sizeof(hs->rs));
  hs->flags = 0;
  hs->state = NOISE_HS_FAILED;
}

int dsb_noise_handshake_new(dsb_noise_handshake **phs, const dsb_mem *mem,
                            const char *protocol_name, dsb_noise_role role,
                            const dsb_rng *rng) {
  dsb_noise_handshake *hs;
  int rv;

  if (!phs || (role != DSB_NOISE_INITIATOR && role != DSB_NOISE_RESPONDER)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  hs = dsb_mem_calloc(mem, 1, sizeof(*hs));
  if (!hs) {
    return DSB_ERR_NOMEM;
  }
  hs->mem = mem;
  hs->role = role;
  if (rng && rng->fn) {
    hs->rng = *rng;
  } else {
    hs->rng = dsb_rng_default();
  }
  rv = noise_protocol_parse(&hs->proto, protocol_name);
  if (rv != 0) {
    goto fail_parse;
  }
  rv = noise_sym_init(&hs->ss, mem, protocol_name, hs->proto.cipher,
                      hs->proto.hash);
  if (rv != 0) {
    goto fail_sym;
  }
  *phs = hs;
  return 0;

fail_sym:
  noise_sym_clear(&hs->ss);
fail_parse:
  dsb_mem_free(mem, hs);
  return rv;
}

void dsb_noise_handshake_del(dsb_noise_handshake *hs) {
  if (!hs) {
    return;
  }
  const dsb_mem *mem = hs->mem;
  noise_hs_fail(hs);
  dsb_wipe(hs, sizeof(*hs));
  dsb_mem_free(mem, hs);
}

/* ---- configuration ------------------------------------------------------ */

int dsb_noise_handshake_set_prologue(dsb_noise_handshake *hs,
                                     const uint8_t *prologue,
                                     size_t prologuelen) {
  int rv;
  if (hs->state != NOISE_HS_CONFIG || (hs->flags & NOISE_PROLOGUE)) {
    return DSB_ERR_INVALID_STATE;
  }
  rv = noise_sym_mix_hash(&hs->ss, prologue, prologuelen);
  if (rv != 0) {
    noise_hs_fail(hs);
    return rv;
  }
  hs->flags |= NOISE_PROLOGUE;
  return 0;
}

int dsb_noise_handshake_set_local_static(dsb_noise_handshake *hs,
                                         const uint8_t sk[static 32]) {
  int rv;
  if (hs->state != NOISE_HS_CONFIG) {
    return DSB_ERR_INVALID_STATE;
  }
  rv = dsb_x25519_pubkey(hs->s_pk, sk);
  if (rv != 0) {
    return rv;
  }
  memcpy(hs->s_sk, sk, 32);
  hs->flags |= NOISE_HAS_S;
  return 0;
}

int dsb_noise_handshake_set_local_keypair(dsb_noise_handshake *hs,
                                          const uint8_t sk[static 32],
                                          const uint8_t pk[static 32]) {
  if (hs->state != NOISE_HS_CONFIG) {
    return DSB_ERR_INVALID_STATE;
  }
  memcpy(hs->s_sk, sk, 32);
  memcpy(hs->s_pk, pk, 32);
  hs->flags |= NOISE_HAS_S;
  return 0;
}

/* Does the peer's static key appear as a pre-message? */
static int noise_hs_remote_pre_s(const dsb_noise_handshake *hs) {
  return hs->role == DSB_NOISE_INITIATOR ? hs->proto.pre_resp_s
                                         : hs->proto.pre_init_s;
}

static int noise_hs_local_pre_s(const dsb_noise_handshake *hs) {
  return hs->role == DSB_NOISE_INITIATOR ? hs->proto.pre_init_s
                                         : hs->proto.pre_resp_s;
}

int dsb_noise_handshake_set_remote_static(dsb_noise_handshake *hs,
                                          const uint8_t pk[static 32]) {
  if (hs->state != NOISE_HS_CONFIG) {
    return DSB_ERR_INVALID_STATE;
  }
  if (!noise_hs_remote_pre_s(hs)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  memcpy(hs->rs, pk, 32);
  hs->flags |= NOISE_HAS_RS;
  return 0;
}

int dsb_noise_handshake_set_psk(dsb_noise_handshake *hs, unsigned index,
                                const uint8_t psk[static 32]) {
  if (hs->state != NOISE_HS_CONFIG) {
    return DSB_ERR_INVALID_STATE;
  }
  if (index > DSB_NOISE_MAX_PSK_INDEX ||
      !(hs->proto.psk_mask & (1u << index))) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  memcpy(hs->psk[index], psk, 32);
  hs->psk_set |= 1u << index;
  return 0;
}

int dsb_noise_handshake_set_fixed_ephemeral(dsb_noise_handshake *hs,
                                            const uint8_t sk[static 32]) {
  int rv;
  if (hs->state != NOISE_HS_CONFIG) {
    return DSB_ERR_INVALID_STATE;
  }
  rv = dsb_x25519_pubkey(hs->e_pk, sk);
  if (rv != 0) {
    return rv;
  }
  memcpy(hs->e_sk, sk, 32);
  hs->flags |= NOISE_FIXED_E;
  return 0;
}

/* Is message |i| ours to write? */
static int noise_hs_writes(const dsb_noise_handshake *hs, unsigned i) {
  int initiator_sends = hs->proto.one_way || (i % 2) == 0;
  return initiator_sends == (hs->role == DSB_NOISE_INITIATOR);
}

/* Does any message we write carry our static key? */
static int noise_hs_sends_s(const dsb_noise_handshake *hs) {
  for (unsigned i = 0; i < hs->proto.nmsgs; ++i) {
    if (!noise_hs_writes(hs, i)) {
      continue;
    }
    for (const uint8_t *t = hs->proto.tokens[i]; *t; ++t) {
      if (*t == NOISE_TOK_S) {
        return 1;
      }
    }
  }
  return 0;
}

int dsb_noise_handshake_start(dsb_noise_handshake *hs) {
  int rv = 0;
  if (hs->state == NOISE_HS_FAILED) {
    return DSB_ERR_NOISE_FAILED;
  }
  if (hs->state != NOISE_HS_CONFIG) {
    return 0;
  }
  /* Check everything before mixing anything, so a configuration error can
   * be fixed and start() retried. */
  if ((noise_hs_local_pre_s(hs) || noise_hs_sends_s(hs)) &&
      !(hs->flags & NOISE_HAS_S)) {
    return DSB_ERR_NOISE_MISSING_KEY;
  }
  if (noise_hs_remote_pre_s(hs) && !(hs->flags & NOISE_HAS_RS)) {
    return DSB_ERR_NOISE_MISSING_KEY;
  }
  if ((hs->proto.psk_mask & hs->psk_set) != hs->proto.psk_mask) {
    return DSB_ERR_NOISE_PSK_MISSING;
  }
  /* Initialize(): the prologue (empty unless set), then the pre-message
   * keys, initiator's first. */
  if (!(hs->flags & NOISE_PROLOGUE)) {
    rv = noise_sym_mix_hash(&hs->ss, NULL, 0);
  }
  if (rv == 0 && hs->proto.pre_init_s) {
    rv = noise_sym_mix_hash(
        &hs->ss, hs->role == DSB_NOISE_INITIATOR ? hs->s_pk : hs->rs, 32);
  }
  if (rv == 0 && hs->proto.pre_resp_s) {
    rv = noise_sym_mix_hash(
        &hs->ss, hs->role == DSB_NOISE_INITIATOR ? hs->rs : hs->s_pk, 32);
  }
  if (rv != 0) {
    noise_hs_fail(hs);
    return rv;
  }
  hs->state = NOISE_HS_RUNNING;
  return 0;
}

dsb_noise_action dsb_noise_handshake_action(const dsb_noise_handshake *hs) {
  switch (hs->state) {
  case NOISE_HS_FAILED:
    return DSB_NOISE_ACTION_FAILED;
  case NOISE_HS_SPLIT:
    return DSB_NOISE_ACTION_SPLIT;
  case NOISE_HS_COMPLETE:
    return DSB_NOISE_ACTION_COMPLETE;
  default:
    return noise_hs_writes(hs, hs->msg_index) ? DSB_NOISE_ACTION_WRITE_MESSAGE
                                              : DSB_NOISE_ACTION_READ_MESSAGE;
  }
}

/* ---- message processing ------------------------------------------------- */

/*
 * The fixed part of message |i| (keys and their tags, without the payload)
 * and whether the payload is encrypted, computed from the pattern alone.
 */
static size_t noise_hs_fixed_len(const dsb_noise_handshake *hs, unsigned i,
                                 int *payload_keyed) {
  int keyed = hs->ss.cs.has_key;
  size_t len = 0;
  for (const uint8_t *t = hs->proto.tokens[i]; *t; ++t) {
    switch (*t) {
    case NOISE_TOK_E:
      len += DSB_NOISE_DH_LEN;
      if (hs->proto.psk_mask) {
        keyed = 1; /* e also runs MixKey in psk handshakes */
      }
      break;
    case NOISE_TOK_S:
      len += DSB_NOISE_DH_LEN + (keyed ? DSB_NOISE_TAG_LEN : 0);
      break;
    default: /* DH tokens and psk all MixKey */
      keyed = 1;
      break;
    }
  }
  *payload_keyed = keyed;
  return len;
}

/* Common entry checks. Returns 0 when message |hs->msg_index| may be
 * processed in the |writing| direction. */
static int noise_hs_check_turn(dsb_noise_handshake *hs, int writing) {
  int rv;
  if (hs->state == NOISE_HS_FAILED) {
    return DSB_ERR_NOISE_FAILED;
  }
  if ((rv = dsb_noise_handshake_start(hs)) != 0) {
    return rv;
  }
  if (hs->state != NOISE_HS_RUNNING) {
    return DSB_ERR_NOISE_HANDSHAKE_DONE;
  }
  if (noise_hs_writes(hs, hs->msg_index) != writing) {
    return DSB_ERR_NOISE_OUT_OF_TURN;
  }
  return 0;
}

/* MixKey(DH(...)) for a DH token, from our point of view. */
static int noise_hs_mix_dh(dsb_noise_handshake *hs, uint8_t tok) {
  const uint8_t *sk, *sk_pub, *pk;
  unsigned need_local, need_remote;
  uint8_t dh[DSB_NOISE_DH_LEN];
  int initiator = hs->role == DSB_NOISE_INITIATOR;
  int rv;

  switch (tok) {
  case NOISE_TOK_EE: /* DH(e, re) */
    need_local = NOISE_HAS_E;
    need_remote = NOISE_HAS_RE;
    break;
  case NOISE_TOK_ES: /* initiator's e with responder's s */
    need_local = initiator ? NOISE_HAS_E : NOISE_HAS_S;
    need_remote = initiator ? NOISE_HAS_RS : NOISE_HAS_RE;
    break;
  case NOISE_TOK_SE: /* initiator's s with responder's e */
    need_local = initiator ? NOISE_HAS_S : NOISE_HAS_E;
    need_remote = initiator ? NOISE_HAS_RE : NOISE_HAS_RS;
    break;
  case NOISE_TOK_SS:
    need_local = NOISE_HAS_S;
    need_remote = NOISE_HAS_RS;
    break;
  default:
    return DSB_ERR_INTERNAL;
  }
  if (!(hs->flags & need_local) || !(hs->flags & need_remote)) {
    return DSB_ERR_NOISE_MISSING_KEY;
  }
  sk = need_local == NOISE_HAS_E ? hs->e_sk : hs->s_sk;
  sk_pub = need_local == NOISE_HAS_E ? hs->e_pk : hs->s_pk;
  pk = need_remote == NOISE_HAS_RE ? hs->re : hs->rs;
  /* Both public halves are at hand (generated, derived once, or given by
   * set_local_keypair), so the DH skips re-deriving them. */
  rv = dsb_x25519_dh_keypair(dh, sk, sk_pub, pk);
  if (rv == 0) {
    rv = noise_sym_mix_key(&hs->ss, dh, sizeof(dh));
  }
  dsb_wipe(dh, sizeof(dh));
  return rv;
}

/* After message |msg_index| went through: advance, or finish. */
static void noise_hs_advance(dsb_noise_handshake *hs) {
  if (++hs->msg_index == hs->proto.nmsgs) {
    hs->state = NOISE_HS_SPLIT;
  }
}

/* The tokens of one message we write; |p| advances. */
static int noise_hs_write_tokens(dsb_noise_handshake *hs, uint8_t **pp,
                                 uint8_t *end) {
  uint8_t *p = *pp;
  int rv = 0;
  long n;
  for (const uint8_t *t = hs->proto.tokens[hs->msg_index]; *t && rv == 0; ++t) {
    switch (*t) {
    case NOISE_TOK_E: /* e: a fresh (or fixed) ephemeral, sent in clear */
      if (!(hs->flags & NOISE_FIXED_E)) {
        rv = dsb_x25519_keygen(&hs->rng, hs->e_sk, hs->e_pk);
        if (rv != 0) {
          break;
        }
      }
      hs->flags |= NOISE_HAS_E;
      memcpy(p, hs->e_pk, DSB_NOISE_DH_LEN);
      p += DSB_NOISE_DH_LEN;
      rv = noise_sym_mix_hash(&hs->ss, hs->e_pk, DSB_NOISE_DH_LEN);
      if (rv == 0 && hs->proto.psk_mask) {
        rv = noise_sym_mix_key(&hs->ss, hs->e_pk, DSB_NOISE_DH_LEN);
      }
      break;
    case NOISE_TOK_S: /* s: our static key, encrypted once a key exists */
      n = noise_sym_encrypt_and_hash(&hs->ss, p, (size_t)(end - p), hs->s_pk,
                                     DSB_NOISE_DH_LEN);
      if (n < 0) {
        rv = (int)n;
        break;
      }
      p += n;
      break;
    case NOISE_TOK_EE:
    case NOISE_TOK_ES:
    case NOISE_TOK_SE:
    case NOISE_TOK_SS:
      rv = noise_hs_mix_dh(hs, *t);
      break;
    default: /* psk */
      rv = noise_sym_mix_key_and_hash(&hs->ss, hs->psk[*t - NOISE_TOK_PSK],
                                      DSB_NOISE_PSK_LEN);
      break;
    }
  }
  *pp = p;
  return rv;
}

long dsb_noise_handshake_write_message(dsb_noise_handshake *hs, uint8_t *dst,
                                       size_t dstlen, const uint8_t *payload,
                                       size_t payloadlen) {
  size_t fixed, total;
  int keyed, rv;
  uint8_t *p = dst;
  long n;

  if ((rv = noise_hs_check_turn(hs, 1)) != 0) {
    return rv;
  }
  if (payloadlen && !payload) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  fixed = noise_hs_fixed_len(hs, hs->msg_index, &keyed);
  if (payloadlen > DSB_NOISE_MAX_MSG_LEN) {
    return DSB_ERR_NOISE_MSG_TOO_LONG;
  }
  total = fixed + payloadlen + (keyed ? DSB_NOISE_TAG_LEN : 0);
  if (total > DSB_NOISE_MAX_MSG_LEN) {
    return DSB_ERR_NOISE_MSG_TOO_LONG;
  }
  if (!dst || dstlen < total) {
    return DSB_ERR_NOBUF;
  }
  rv = noise_hs_write_tokens(hs, &p, dst + total);
  if (rv == 0) {
    n = noise_sym_encrypt_and_hash(&hs->ss, p, (size_t)(dst + total - p),
                                   payload, payloadlen);
    rv = n < 0 ? (int)n : 0;
    p += n < 0 ? 0 : n;
  }
  if (rv == 0 && (size_t)(p - dst) != total) {
    rv = DSB_ERR_INTERNAL;
  }
  if (rv != 0) {
    dsb_wipe(dst, total);
    noise_hs_fail(hs);
    return rv;
  }
  noise_hs_advance(hs);
  return (long)total;
}

/* The tokens of one message we read; |p| advances. Lengths were checked
 * by the caller against the pattern. */
static int noise_hs_read_tokens(dsb_noise_handshake *hs, const uint8_t **pp) {
  const uint8_t *p = *pp;
  int rv = 0;
  long n;
  size_t slen;
  for (const uint8_t *t = hs->proto.tokens[hs->msg_index]; *t && rv == 0; ++t) {
    switch (*t) {
    case NOISE_TOK_E: /* e: the peer's ephemeral, in clear */
      memcpy(hs->re, p, DSB_NOISE_DH_LEN);
      hs->flags |= NOISE_HAS_RE;
      p += DSB_NOISE_DH_LEN;
      rv = noise_sym_mix_hash(&hs->ss, hs->re, DSB_NOISE_DH_LEN);
      if (rv == 0 && hs->proto.psk_mask) {
        rv = noise_sym_mix_key(&hs->ss, hs->re, DSB_NOISE_DH_LEN);
      }
      break;
    case NOISE_TOK_S: /* s: the peer's static key, decrypted if keyed */
      slen = DSB_NOISE_DH_LEN + (hs->ss.cs.has_key ? DSB_NOISE_TAG_LEN : 0);
      n = noise_sym_decrypt_and_hash(&hs->ss, hs->rs, sizeof(hs->rs), p, slen);
      if (n < 0) {
        rv = (int)n;
        break;
      }
      hs->flags |= NOISE_HAS_RS;
      p += slen;
      break;
    case NOISE_TOK_EE:
    case NOISE_TOK_ES:
    case NOISE_TOK_SE:
    case NOISE_TOK_SS:
      rv = noise_hs_mix_dh(hs, *t);
      break;
    default: /* psk */
      rv = noise_sym_mix_key_and_hash(&hs->ss, hs->psk[*t - NOISE_TOK_PSK],
                                      DSB_NOISE_PSK_LEN);
      break;
    }
  }
  *pp = p;
  return rv;
}

long dsb_noise_handshake_read_message(dsb_noise_handshake *hs, uint8_t *dst,
                                      size_t dstlen, const uint8_t *msg,
                                      size_t msglen) {
  size_t fixed, min, plen;
  int keyed, rv;
  const uint8_t *p = msg;
  long n = 0;

  if ((rv = noise_hs_check_turn(hs, 0)) != 0) {
    return rv;
  }
  if (msglen > DSB_NOISE_MAX_MSG_LEN) {
    return DSB_ERR_NOISE_MSG_TOO_LONG;
  }
  if (msglen && !msg) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  fixed = noise_hs_fixed_len(hs, hs->msg_index, &keyed);
  min = fixed + (keyed ? DSB_NOISE_TAG_LEN : 0);
  if (msglen < min) {
    return DSB_ERR_NOISE_SHORT_MESSAGE;
  }
  plen = msglen - min;
  if (plen && (!dst || dstlen < plen)) {
    return DSB_ERR_NOBUF;
  }
  rv = noise_hs_read_tokens(hs, &p);
  if (rv == 0 && (size_t)(p - msg) != fixed) {
    rv = DSB_ERR_INTERNAL;
  }
  if (rv == 0) {
    n = noise_sym_decrypt_and_hash(&hs->ss, dst, plen, p, msglen - fixed);
    rv = n < 0 ? (int)n : 0;
  }
  if (rv != 0) {
    noise_hs_fail(hs);
    return rv;
  }
  noise_hs_advance(hs);
  return n;
}

/* ---- results ------------------------------------------------------------ */

int dsb_noise_handshake_split(dsb_noise_handshake *hs, dsb_noise_cipher **psend,
                              dsb_noise_cipher **precv) {
  uint8_t k1[32], k2[32];
  dsb_noise_cipher *c1 = NULL, *c2 = NULL;
  dsb_cipher_id id = hs->proto.cipher;
  int rv;

  if (hs->state != NOISE_HS_SPLIT) {
    return DSB_ERR_INVALID_STATE;
  }
  rv = noise_sym_split(&hs->ss, k1, k2);
  if (rv != 0) {
    goto out;
  }
  /* c1 carries initiator -> responder, c2 the reverse. */
  if ((rv = dsb_noise_cipher_new(&c1, hs->mem, id, k1)) != 0 ||
      (rv = dsb_noise_cipher_new(&c2, hs->mem, id, k2)) != 0) {
    goto out;
  }
  if (hs->role == DSB_NOISE_INITIATOR) {
    if (psend) {
      *psend = c1;
      c1 = NULL;
    }
    if (precv) {
      *precv = c2;
      c2 = NULL;
    }
  } else {
    if (psend) {
      *psend = c2;
      c2 = NULL;
    }
    if (precv) {
      *precv = c1;
      c1 = NULL;
    }
  }
  /* Keep h (channel binding) and rs (identity checks); nothing else. */
  noise_cipher_clear(&hs->ss.cs);
  dsb_wipe(hs->ss.ck, sizeof(hs->ss.ck));
  dsb_wipe(hs->s_sk, sizeof(hs->s_sk));
  dsb_wipe(hs->e_sk, sizeof(hs->e_sk));
  dsb_wipe(hs->psk, sizeof(hs->psk));
  hs->state = NOISE_HS_COMPLETE;
out:
  dsb_noise_cipher_del(c1);
  dsb_noise_cipher_del(c2);
  dsb_wipe(k1, sizeof(k1));
  dsb_wipe(k2, sizeof(k2));
  return rv;
}

long dsb_noise_handshake_get_handshake_hash(const dsb_noise_handshake *hs,
                                            uint8_t *out, size_t outlen) {
  if (hs->state == NOISE_HS_FAILED) {
    return DSB_ERR_INVALID_STATE;
  }
  if (!out || outlen < hs->ss.hashlen) {
    return DSB_ERR_NOBUF;
  }
  memcpy(out, hs->ss.h, hs->ss.hashlen);
  return (long)hs->ss.hashlen;
}

int dsb_noise_handshake_get_remote_static(const dsb_noise_handshake *hs,
                                          uint8_t pk[static 32]) {
  if (!(hs->flags & NOISE_HAS_RS)) {
    return DSB_ERR_NOT_FOUND;
  }
  memcpy(pk, hs->rs, 32);
  return 0;
}

int dsb_noise_handshake_get_local_static(const dsb_noise_handshake *hs,
                                         uint8_t pk[static 32]) {
  if (!(hs->flags & NOISE_HAS_S)) {
    return DSB_ERR_NOT_FOUND;
  }
  memcpy(pk, hs->s_pk, 32);
  return 0;
}

dsb_noise_role dsb_noise_handshake_role(const dsb_noise_handshake *hs) {
  return hs->role;
}
