/*
 * noise-vectors - run Noise test vectors in the cacophony JSON format
 * against the Noise core, byte for byte.
 *
 *   noise-vectors FILE...
 *
 * For each vector whose protocol name the core supports, both sides run the
 * handshake with the vector's fixed keys; every message's ciphertext must
 * equal the vector's, every decrypted payload must equal its payload, and
 * both sides' handshake hash must equal handshake_hash (when present).
 * Transport messages follow the handshake. Names the core does not support
 * (e.g. the 448 curve) are counted as skipped. The last line printed is
 * "N passed, N failed, N skipped"; the exit status is 1 if anything failed
 * and 2 if a file could not be read.
 *
 * Direction of message i: initiator when i is even, responder when odd; in
 * the one-way patterns (N, K, X) always the initiator. After the handshake,
 * Split()'s first cipher carries initiator -> responder traffic.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "dsb/crypto.h"
#include "dsb/err.h"
#include "dsb/noise.h"

#define NV_MAX_BYTES (DSB_NOISE_MAX_MSG_LEN + 1)

typedef struct nv_counts {
  unsigned long passed, failed, skipped;
} nv_counts;

typedef struct nv_party {
  dsb_noise_handshake *hs;
  dsb_noise_cipher *send, *recv;
} nv_party;

/* The reason for a vector's failure; printed once. */
static char nv_reason[512];

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static int
nv_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(nv_reason, sizeof(nv_reason), fmt, ap);
  va_end(ap);
  return -1;
}

static int nv_hexval(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

/* Decode the hex string field |key| of |obj| into |out|. Returns the byte
 * count, -1 when absent, -2 when malformed or longer than |cap|. */
static long nv_hex_field(json_object *obj, const char *key, uint8_t *out,
                         size_t cap) {
  json_object *v;
  const char *s;
  size_t len;
  if (!json_object_object_get_ex(obj, key, &v)) {
    return -1;
  }
  if (!json_object_is_type(v, json_type_string)) {
    return -2;
  }
  s = json_object_get_string(v);
  len = (size_t)json_object_get_string_len(v);
  if (len % 2 != 0 || len / 2 > cap) {
    return -2;
  }
  for (size_t i = 0; i < len / 2; ++i) {
    int hi = nv_hexval(s[2 * i]), lo = nv_hexval(s[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return -2;
    }
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return (long)(len / 2);
}

/* A 32-byte key field: 1 if present, 0 if absent, -1 if malformed. */
static int nv_key_field(json_object *obj, const char *key,
                        uint8_t out[static 32]) {
  long n = nv_hex_field(obj, key, out, 32);
  if (n == -1) {
    return 0;
  }
  if (n != 32) {
    return nv_fail("field %s is not a 32-byte hex key", key);
  }
  return 1;
}

/*
 * The pskN modifiers of |name| in order, into |idx|; returns how many.
 * The vector's psk lists follow that order.
 */
static size_t nv_psk_indexes(const char *name, unsigned idx[8]) {
  const char *pat = strchr(name, '_');
  size_t n = 0;
  if (!pat) {
    return 0;
  }
  ++pat;
  const char *end = strchr(pat, '_');
  for (const char *p = pat; p && (!end || p < end) && n < 8;) {
    p = strstr(p, "psk");
    if (!p || (end && p >= end)) {
      break;
    }
    p += 3;
    idx[n++] = (unsigned)strtoul(p, NULL, 10);
  }
  return n;
}

static void nv_party_free(nv_party *p) {
  dsb_noise_handshake_del(p->hs);
  dsb_noise_cipher_del(p->send);
  dsb_noise_cipher_del(p->recv);
  memset(p, 0, sizeof(*p));
}

/* Configure one side from the vector fields with prefix |pre| ("init_" or
 * "resp_"). */
static int nv_setup(nv_party *p, json_object *v, const char *name,
                    dsb_noise_role role, const char *pre) {
  char key[64];
  uint8_t k[32];
  static uint8_t buf[NV_MAX_BYTES];
  long n;
  int r;

  snprintf(key, sizeof(key), "%sprologue", pre);
  n = nv_hex_field(v, key, buf, sizeof(buf));
  if (n == -2) {
    return nv_fail("malformed %s", key);
  }
  if (n >= 0 && dsb_noise_handshake_set_prologue(p->hs, buf, (size_t)n) != 0) {
    return nv_fail("set_prologue failed");
  }
  snprintf(key, sizeof(key), "%sstatic", pre);
  if ((r = nv_key_field(v, key, k)) < 0) {
    return r;
  }
  if (r == 1 && dsb_noise_handshake_set_local_static(p->hs, k) != 0) {
    return nv_fail("set_local_static failed");
  }
  snprintf(key, sizeof(key), "%sephemeral", pre);
  if ((r = nv_key_field(v, key, k)) < 0) {
    return r;
  }
  if (r == 1 && dsb_noise_handshake_set_fixed_ephemeral(p->hs, k) != 0) {
    return nv_fail("set_fixed_ephemeral failed");
  }
  snprintf(key, sizeof(key), "%sremote_static", pre);
  if ((r = nv_key_field(v, key, k)) < 0) {
    return r;
  }
  if (r == 1) {
    int rv = dsb_noise_handshake_set_remote_static(p->hs, k);
    /* A key the pattern would learn in a message instead is not needed. */
    if (rv != 0 && rv != DSB_ERR_INVALID_ARGUMENT) {
      return nv_fail("set_remote_static: %s", dsb_strerror(rv));
    }
  }
  snprintf(key, sizeof(key), "%spsks", pre);
  json_object *psks;
  if (json_object_object_get_ex(v, key, &psks)) {
    unsigned idx[8];
    size_t cnt = nv_psk_indexes(name, idx);
    if (!json_object_is_type(psks, json_type_array) ||
        json_object_array_length(psks) != cnt) {
      return nv_fail("%s does not match the psk modifiers", key);
    }
    for (size_t i = 0; i < cnt; ++i) {
      json_object *e = json_object_array_get_idx(psks, i);
      const char *s = json_object_get_string(e);
      if (!json_object_is_type(e, json_type_string) || strlen(s) != 64) {
        return nv_fail("malformed psk %zu", i);
      }
      for (size_t j = 0; j < 32; ++j) {
        int hi = nv_hexval(s[2 * j]), lo = nv_hexval(s[2 * j + 1]);
        if (hi < 0 || lo < 0) {
          return nv_fail("malformed psk %zu", i);
        }
        k[j] = (uint8_t)(hi << 4 | lo);
      }
      if (dsb_noise_handshake_set_psk(p->hs, idx[i], k) != 0) {
        return nv_fail("set_psk(%u) failed", idx[i]);
      }
    }
  }
  (void)role;
  return 0;
}

static int nv_one_way(const char *name) {
  const char *pat = strchr(name, '_');
  size_t n = 0;
  if (!pat) {
    return 0;
  }
  ++pat;
  while ((pat[n] >= 'A' && pat[n] <= 'Z') || pat[n] == '1') {
    ++n;
  }
  return n == 1;
}

static int nv_compare(const char *what, size_t i, const uint8_t *got,
                      size_t gotlen, const uint8_t *want, size_t wantlen) {
  if (gotlen != wantlen) {
    return nv_fail("message %zu: %s length %zu, expected %zu", i, what, gotlen,
                   wantlen);
  }
  for (size_t b = 0; b < gotlen; ++b) {
    if (got[b] != want[b]) {
      return nv_fail("message %zu: %s differs at byte %zu (%02x, expected "
                     "%02x)",
                     i, what, b, got[b], want[b]);
    }
  }
  return 0;
}

static int nv_check_hash(nv_party *p, const char *side, const uint8_t *want,
                         long wantlen) {
  uint8_t h[DSB_NOISE_MAX_HASH_LEN];
  long n = dsb_noise_handshake_get_handshake_hash(p->hs, h, sizeof(h));
  if (n < 0) {
    return nv_fail("%s handshake hash: %s", side, dsb_strerror((int)n));
  }
  if (wantlen >= 0 && (n != wantlen || memcmp(h, want, (size_t)n) != 0)) {
    return nv_fail("%s handshake hash mismatch", side);
  }
  return 0;
}

/* Run one vector: 0 pass, 1 skipped, -1 fail (nv_reason set). */
static int nv_run(json_object *v) {
  static uint8_t payload[NV_MAX_BYTES], ct[NV_MAX_BYTES], out[NV_MAX_BYTES],
      back[NV_MAX_BYTES];
  uint8_t hh[DSB_NOISE_MAX_HASH_LEN];
  json_object *jname, *msgs;
  nv_party init = {0}, resp = {0};
  const char *name;
  long hhlen;
  int rv, one_way, split = 0;

  if (!json_object_object_get_ex(v, "protocol_name", &jname) &&
      !json_object_object_get_ex(v, "name", &jname)) {
    return nv_fail("vector without protocol_name");
  }
  name = json_object_get_string(jname);
  rv = dsb_noise_handshake_new(&init.hs, NULL, name, DSB_NOISE_INITIATOR, NULL);
  if (rv == DSB_ERR_NOISE_UNKNOWN_PROTOCOL) {
    return 1;
  }
  if (rv != 0) {
    return nv_fail("handshake_new: %s", dsb_strerror(rv));
  }
  rv = dsb_noise_handshake_new(&resp.hs, NULL, name, DSB_NOISE_RESPONDER, NULL);
  if (rv != 0) {
    rv = nv_fail("handshake_new: %s", dsb_strerror(rv));
    goto out;
  }
  one_way = nv_one_way(name);
  hhlen = nv_hex_field(v, "handshake_hash", hh, sizeof(hh));
  if (hhlen == -2) {
    rv = nv_fail("malformed handshake_hash");
    goto out;
  }
  if ((rv = nv_setup(&init, v, name, DSB_NOISE_INITIATOR, "init_")) != 0 ||
      (rv = nv_setup(&resp, v, name, DSB_NOISE_RESPONDER, "resp_")) != 0) {
    goto out;
  }
  if (!json_object_object_get_ex(v, "messages", &msgs) ||
      !json_object_is_type(msgs, json_type_array)) {
    rv = nv_fail("vector without messages");
    goto out;
  }
  for (size_t i = 0; i < json_object_array_length(msgs); ++i) {
    json_object *m = json_object_array_get_idx(msgs, i);
    long plen = nv_hex_field(m, "payload", payload, sizeof(payload));
    long clen = nv_hex_field(m, "ciphertext", ct, sizeof(ct));
    int from_init = one_way || i % 2 == 0;
    nv_party *tx = from_init ? &init : &resp, *rx = from_init ? &resp : &init;
    long n, r;

    if (plen < 0 || clen < 0) {
      rv = nv_fail("message %zu: missing or malformed hex", i);
      goto out;
    }
    if (!split &&
        dsb_noise_handshake_action(init.hs) == DSB_NOISE_ACTION_SPLIT) {
      if (dsb_noise_handshake_action(resp.hs) != DSB_NOISE_ACTION_SPLIT) {
        rv = nv_fail("initiator finished the handshake, responder did not");
        goto out;
      }
      if ((rv = nv_check_hash(&init, "initiator", hh, hhlen)) != 0 ||
          (rv = nv_check_hash(&resp, "responder", hh, hhlen)) != 0) {
        goto out;
      }
      if ((rv = dsb_noise_handshake_split(init.hs, &init.send, &init.recv)) !=
              0 ||
          (rv = dsb_noise_handshake_split(resp.hs, &resp.send, &resp.recv)) !=
              0) {
        rv = nv_fail("split: %s", dsb_strerror(rv));
        goto out;
      }
      split = 1;
    }
    if (!split) {
      n = dsb_noise_handshake_write_message(tx->hs, out, sizeof(out), payload,
                                            (size_t)plen);
      if (n < 0) {
        rv = nv_fail("message %zu: write_message: %s", i, dsb_strerror((int)n));
        goto out;
      }
      if ((rv = nv_compare("ciphertext", i, out, (size_t)n, ct,
                           (size_t)clen)) != 0) {
        goto out;
      }
      r = dsb_noise_handshake_read_message(rx->hs, back, sizeof(back), ct,
                                           (size_t)clen);
    } else {
      n = dsb_noise_cipher_encrypt(tx->send, out, sizeof(out), NULL, 0, payload,
                                   (size_t)plen);
      if (n < 0) {
        rv = nv_fail("message %zu: encrypt: %s", i, dsb_strerror((int)n));
        goto out;
      }
      if ((rv = nv_compare("ciphertext", i, out, (size_t)n, ct,
                           (size_t)clen)) != 0) {
        goto out;
      }
      r = dsb_noise_cipher_decrypt(rx->recv, back, sizeof(back), NULL, 0, ct,
                                   (size_t)clen);
    }
    if (r < 0) {
      rv = nv_fail("message %zu: receiver rejected it: %s", i,
                   dsb_strerror((int)r));
      goto out;
    }
    if ((rv = nv_compare("payload", i, back, (size_t)r, payload,
                         (size_t)plen)) != 0) {
      goto out;
    }
  }
  /* A vector whose messages all belong to the handshake ends here. */
  if (!split) {
    if (dsb_noise_handshake_action(init.hs) != DSB_NOISE_ACTION_SPLIT ||
        dsb_noise_handshake_action(resp.hs) != DSB_NOISE_ACTION_SPLIT) {
      rv = nv_fail("the vector ends before the handshake does");
      goto out;
    }
    if ((rv = nv_check_hash(&init, "initiator", hh, hhlen)) != 0 ||
        (rv = nv_check_hash(&resp, "responder", hh, hhlen)) != 0) {
      goto out;
    }
  }
  rv = 0;
out:
  nv_party_free(&init);
  nv_party_free(&resp);
  return rv;
}

/* Run every vector of |path|; -1 if the file is unusable. */
static int nv_file(const char *path, nv_counts *c) {
  json_object *root = json_object_from_file(path), *vectors;
  if (!root) {
    fprintf(stderr, "%s: cannot read or parse JSON: %s\n", path,
            json_util_get_last_err());
    return -1;
  }
  if (!json_object_object_get_ex(root, "vectors", &vectors) ||
      !json_object_is_type(vectors, json_type_array)) {
    fprintf(stderr, "%s: no \"vectors\" array\n", path);
    json_object_put(root);
    return -1;
  }
  for (size_t i = 0; i < json_object_array_length(vectors); ++i) {
    json_object *v = json_object_array_get_idx(vectors, i);
    json_object *jname;
    const char *name = "?";
    if (json_object_object_get_ex(v, "protocol_name", &jname) ||
        json_object_object_get_ex(v, "name", &jname)) {
      name = json_object_get_string(jname);
    }
    nv_reason[0] = '\0';
    switch (nv_run(v)) {
    case 0:
      c->passed++;
      break;
    case 1:
      c->skipped++;
      break;
    default:
      c->failed++;
      printf("FAIL %s #%zu %s: %s\n", path, i, name, nv_reason);
      break;
    }
  }
  json_object_put(root);
  return 0;
}

int main(int argc, char **argv) {
  nv_counts c = {0, 0, 0};
  int bad_file = 0;
  if (argc < 2) {
    fprintf(stderr, "usage: %s VECTOR_FILE...\n", argv[0]);
    return 2;
  }
  for (int i = 1; i < argc; ++i) {
    if (nv_file(argv[i], &c) != 0) {
      bad_file = 1;
    }
  }
  printf("%lu passed, %lu failed, %lu skipped\n", c.passed, c.failed,
         c.skipped);
  if (c.failed) {
    return 1;
  }
  return bad_file ? 2 : 0;
}
