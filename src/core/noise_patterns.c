/*
 * noise_patterns.c - the handshake pattern table and the protocol-name
 * parser. Patterns are written as in the Noise specification (sections 7.4,
 * 7.5 and 18 of revision 34): message i goes initiator -> responder when i
 * is even, responder -> initiator when odd (one-way patterns: always
 * initiator -> responder). Pre-messages are limited to static keys, which is
 * all the fundamental and deferred patterns use.
 */
#include <string.h>

#include "core/noise_internal.h"
#include "dsb/err.h"

typedef struct noise_pattern_def {
  const char *name;
  const char *pre_init; /* "s" or "" */
  const char *pre_resp; /* "s" or "" */
  const char *msgs[NOISE_MAX_MESSAGES];
} noise_pattern_def;

/* Immutable table; each message is a space-separated token list. */
static const noise_pattern_def noise_patterns[] = {
    /* one-way (7.4) */
    {"N", "", "s", {"e es"}},
    {"K", "s", "s", {"e es ss"}},
    {"X", "", "s", {"e es s ss"}},
    /* interactive fundamental (7.5) */
    {"NN", "", "", {"e", "e ee"}},
    {"NK", "", "s", {"e es", "e ee"}},
    {"NX", "", "", {"e", "e ee s es"}},
    {"XN", "", "", {"e", "e ee", "s se"}},
    {"XK", "", "s", {"e es", "e ee", "s se"}},
    {"XX", "", "", {"e", "e ee s es", "s se"}},
    {"KN", "s", "", {"e", "e ee se"}},
    {"KK", "s", "s", {"e es ss", "e ee se"}},
    {"KX", "s", "", {"e", "e ee se s es"}},
    {"IN", "", "", {"e s", "e ee se"}},
    {"IK", "", "s", {"e es s ss", "e ee se"}},
    {"IX", "", "", {"e s", "e ee se s es"}},
    /* deferred (18) */
    {"NK1", "", "s", {"e", "e ee es"}},
    {"NX1", "", "", {"e", "e ee s", "es"}},
    {"X1N", "", "", {"e", "e ee", "s", "se"}},
    {"X1K", "", "s", {"e es", "e ee", "s", "se"}},
    {"XK1", "", "s", {"e", "e ee es", "s se"}},
    {"X1K1", "", "s", {"e", "e ee es", "s", "se"}},
    {"X1X", "", "", {"e", "e ee s es", "s", "se"}},
    {"XX1", "", "", {"e", "e ee s", "es s se"}},
    {"X1X1", "", "", {"e", "e ee s", "es s", "se"}},
    {"K1N", "s", "", {"e", "e ee", "se"}},
    {"K1K", "s", "s", {"e es", "e ee", "se"}},
    {"KK1", "s", "s", {"e", "e ee se es"}},
    {"K1K1", "s", "s", {"e", "e ee es", "se"}},
    {"K1X", "s", "", {"e", "e ee s es", "se"}},
    {"KX1", "s", "", {"e", "e ee se s", "es"}},
    {"K1X1", "s", "", {"e", "e ee s", "se es"}},
    {"I1N", "", "", {"e s", "e ee", "se"}},
    {"I1K", "", "s", {"e es s", "e ee", "se"}},
    {"IK1", "", "s", {"e s", "e ee se es"}},
    {"I1K1", "", "s", {"e s", "e ee es", "se"}},
    {"I1X", "", "", {"e s", "e ee s es", "se"}},
    {"IX1", "", "", {"e s", "e ee se s", "es"}},
    {"I1X1", "", "", {"e s", "e ee s", "se es"}},
};

#define NOISE_NUM_PATTERNS (sizeof(noise_patterns) / sizeof(noise_patterns[0]))

/* Decode one space-separated token list into |out| (END-terminated). */
static int noise_decode_tokens(uint8_t out[NOISE_MAX_TOKENS], const char *s) {
  static const struct {
    const char *name;
    uint8_t tok;
  } names[] = {{"e", NOISE_TOK_E},   {"s", NOISE_TOK_S},
               {"ee", NOISE_TOK_EE}, {"es", NOISE_TOK_ES},
               {"se", NOISE_TOK_SE}, {"ss", NOISE_TOK_SS}};
  size_t n = 0;
  while (*s) {
    size_t len = strcspn(s, " ");
    size_t i;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); ++i) {
      if (strlen(names[i].name) == len && memcmp(names[i].name, s, len) == 0) {
        break;
      }
    }
    if (i == sizeof(names) / sizeof(names[0]) || n + 1 >= NOISE_MAX_TOKENS) {
      return DSB_ERR_INTERNAL; /* the table above is malformed */
    }
    out[n++] = names[i].tok;
    s += len;
    s += strspn(s, " ");
  }
  out[n] = NOISE_TOK_END;
  return 0;
}

static size_t noise_token_count(const uint8_t *t) {
  size_t n = 0;
  while (t[n] != NOISE_TOK_END) {
    ++n;
  }
  return n;
}

/* Apply modifier "pskN": psk0 opens the first message, pskN (N >= 1) ends
 * message N (spec 9.2). */
static int noise_apply_psk(noise_protocol *p, unsigned n) {
  uint8_t *t;
  size_t cnt;
  if (n > DSB_NOISE_MAX_PSK_INDEX || n > p->nmsgs ||
      (p->psk_mask & (1u << n))) {
    return DSB_ERR_NOISE_UNKNOWN_PROTOCOL;
  }
  p->psk_mask |= (uint8_t)(1u << n);
  t = p->tokens[n == 0 ? 0 : n - 1];
  cnt = noise_token_count(t);
  if (cnt + 1 >= NOISE_MAX_TOKENS) {
    return DSB_ERR_NOISE_UNKNOWN_PROTOCOL;
  }
  if (n == 0) {
    memmove(t + 1, t, cnt + 1);
    t[0] = (uint8_t)(NOISE_TOK_PSK + n);
  } else {
    t[cnt] = (uint8_t)(NOISE_TOK_PSK + n);
    t[cnt + 1] = NOISE_TOK_END;
  }
  return 0;
}

/* Parse the modifier list after the base name: "" or "pskA+pskB...". */
static int noise_parse_modifiers(noise_protocol *p, const char *s, size_t len) {
  while (len > 0) {
    size_t mlen = 0;
    unsigned n = 0;
    while (mlen < len && s[mlen] != '+') {
      ++mlen;
    }
    /* "psk" then one or two decimal digits; "fallback", "hfs" and anything
     * else are unsupported. */
    if (mlen < 4 || mlen > 5 || memcmp(s, "psk", 3) != 0) {
      return DSB_ERR_NOISE_UNKNOWN_PROTOCOL;
    }
    for (size_t i = 3; i < mlen; ++i) {
      if (s[i] < '0' || s[i] > '9' || (i == 3 && s[i] == '0' && mlen > 4)) {
        return DSB_ERR_NOISE_UNKNOWN_PROTOCOL;
      }
      n = n * 10 + (unsigned)(s[i] - '0');
    }
    if (noise_apply_psk(p, n) != 0) {
      return DSB_ERR_NOISE_UNKNOWN_PROTOCOL;
    }
    s += mlen;
    len -= mlen;
    if (len > 0) { /* skip '+', which must be followed by a modifier */
      ++s;
      --len;
      if (len == 0) {
        return DSB_ERR_NOISE_UNKNOWN_PROTOCOL;
      }
    }
  }
  return 0;
}

static int noise_lookup(const char *s, size_t len, const char *const *names,
                        size_t count) {
  for (size_t i = 0; i < count; ++i) {
    if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0) {
      return (int)i;
    }
  }
  return -1;
}

int noise_protocol_parse(noise_protocol *p, const char *name) {
  /* Indexes match dsb_cipher_id and dsb_hash_id. */
  static const char *const ciphers[] = {"ChaChaPoly", "AESGCM"};
  static const char *const hashes[] = {"BLAKE2s", "BLAKE2b", "SHA256",
                                       "SHA512"};
  static const char *const dhs[] = {"25519"};
  const char *field[5];
  size_t flen[5];
  size_t namelen, baselen;
  const noise_pattern_def *def = NULL;
  int ci, hi;

  memset(p, 0, sizeof(*p));
  if (!name) {
    return DSB_ERR_NOISE_UNKNOWN_PROTOCOL;
  }
  namelen = strnlen(name, DSB_NOISE_MAX_NAME_LEN + 1);
  if (namelen > DSB_NOISE_MAX_NAME_LEN) {
    return DSB_ERR_NOISE_UNKNOWN_PROTOCOL;
  }
  /* Exactly five '_'-separated fields. */
  {
    const char *s = name;
    for (int i = 0; i < 5; ++i) {
      size_t l = strcspn(s, "_");
      field[i] = s;
      flen[i] = l;
      s += l;
      if (i < 4) {
        if (*s != '_') {
          return DSB_ERR_NOISE_UNKNOWN_PROTOCOL;
        }
        ++s;
      } else if (*s != '\0') {
        return DSB_ERR_NOISE_UNKNOWN_PROTOCOL;
      }
    }
  }
  if (flen[0] != 5 || memcmp(field[0], "Noise", 5) != 0 ||
      noise_lookup(field[2], flen[2], dhs, 1) < 0) {
    return DSB_ERR_NOISE_UNKNOWN_PROTOCOL;
  }
  ci = noise_lookup(field[3], flen[3], ciphers, 2);
  hi = noise_lookup(field[4], flen[4], hashes, 4);
  if (ci < 0 || hi < 0) {
    return DSB_ERR_NOISE_UNKNOWN_PROTOCOL;
  }
  /* The base pattern name is the leading run of capitals and '1's. */
  baselen = 0;
  while (baselen < flen[1] &&
         ((field[1][baselen] >= 'A' && field[1][baselen] <= 'Z') ||
          field[1][baselen] == '1')) {
    ++baselen;
  }
  for (size_t i = 0; i < NOISE_NUM_PATTERNS; ++i) {
    if (strlen(noise_patterns[i].name) == baselen &&
        memcmp(noise_patterns[i].name, field[1], baselen) == 0) {
      def = &noise_patterns[i];
      break;
    }
  }
  if (!def) {
    return DSB_ERR_NOISE_UNKNOWN_PROTOCOL;
  }
  for (size_t m = 0; m < NOISE_MAX_MESSAGES && def->msgs[m]; ++m) {
    if (noise_decode_tokens(p->tokens[m], def->msgs[m]) != 0) {
      return DSB_ERR_NOISE_UNKNOWN_PROTOCOL;
    }
    p->nmsgs = (uint8_t)(m + 1);
  }
  p->one_way = baselen == 1;
  p->pre_init_s = def->pre_init[0] == 's';
  p->pre_resp_s = def->pre_resp[0] == 's';
  p->cipher = (dsb_cipher_id)ci;
  p->hash = (dsb_hash_id)hi;
  if (noise_parse_modifiers(p, field[1] + baselen, flen[1] - baselen) != 0) {
    memset(p, 0, sizeof(*p));
    return DSB_ERR_NOISE_UNKNOWN_PROTOCOL;
  }
  return 0;
}
