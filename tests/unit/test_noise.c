/* test_noise.c - the Noise core: the XK vector from the shared cacophony
 * file, round trips over every supported pattern, and the reject paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <json-c/json.h>

#include "dsb/crypto.h"
#include "dsb/err.h"
#include "dsb/noise.h"

#define XK DSB_NOISE_PROTOCOL_XK
#define BUF 65600

/* ---- helpers ------------------------------------------------------------ */

/* Deterministic rng (splitmix64) so every run draws the same keys. */
static int test_rng_fn(void *ctx, uint8_t *buf, size_t len) {
  uint64_t *s = ctx;
  for (size_t i = 0; i < len; ++i) {
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    buf[i] = (uint8_t)(z ^ (z >> 31));
  }
  return 0;
}

static uint64_t rng_state = 42;
static const dsb_rng test_rng = {test_rng_fn, &rng_state};

static void fill(uint8_t *p, size_t len, uint8_t seed) {
  for (size_t i = 0; i < len; ++i) {
    p[i] = (uint8_t)(seed + i * 31);
  }
}

/* Two parties of one protocol with the keys every pattern might need. */
typedef struct pair {
  dsb_noise_handshake *i, *r;
  uint8_t i_sk[32], i_pk[32], r_sk[32], r_pk[32];
} pair;

/* One-way patterns (N, K, X): a single-letter base name. */
static int is_one_way(const char *name) {
  const char *pat = strchr(name, '_') + 1;
  return pat[1] < 'A' || pat[1] > 'Z';
}

static void pair_new(pair *p, const char *name, const dsb_mem *mem) {
  memset(p, 0, sizeof(*p));
  assert_int_equal(dsb_x25519_keygen(&test_rng, p->i_sk, p->i_pk), 0);
  assert_int_equal(dsb_x25519_keygen(&test_rng, p->r_sk, p->r_pk), 0);
  assert_int_equal(
      dsb_noise_handshake_new(&p->i, mem, name, DSB_NOISE_INITIATOR, &test_rng),
      0);
  assert_int_equal(
      dsb_noise_handshake_new(&p->r, mem, name, DSB_NOISE_RESPONDER, &test_rng),
      0);
  assert_int_equal(dsb_noise_handshake_set_local_static(p->i, p->i_sk), 0);
  assert_int_equal(dsb_noise_handshake_set_local_static(p->r, p->r_sk), 0);
  /* Each setter refuses a key the pattern does not pre-share. */
  int ri = dsb_noise_handshake_set_remote_static(p->i, p->r_pk);
  int rr = dsb_noise_handshake_set_remote_static(p->r, p->i_pk);
  assert_true(ri == 0 || ri == DSB_ERR_INVALID_ARGUMENT);
  assert_true(rr == 0 || rr == DSB_ERR_INVALID_ARGUMENT);
  for (unsigned n = 0; n <= DSB_NOISE_MAX_PSK_INDEX; ++n) {
    uint8_t psk[32];
    fill(psk, 32, (uint8_t)(0x50 + n));
    int a = dsb_noise_handshake_set_psk(p->i, n, psk);
    int b = dsb_noise_handshake_set_psk(p->r, n, psk);
    assert_int_equal(a, b);
    assert_true(a == 0 || a == DSB_ERR_INVALID_ARGUMENT);
  }
}

static void pair_del(pair *p) {
  dsb_noise_handshake_del(p->i);
  dsb_noise_handshake_del(p->r);
  p->i = p->r = NULL;
}

/* Drive both sides until each reaches SPLIT; returns the message count. */
static int run_handshake(dsb_noise_handshake *a, dsb_noise_handshake *b) {
  static uint8_t msg[BUF], pl[BUF];
  int count = 0;
  for (;;) {
    dsb_noise_action aa = dsb_noise_handshake_action(a);
    dsb_noise_action ba = dsb_noise_handshake_action(b);
    if (aa == DSB_NOISE_ACTION_SPLIT && ba == DSB_NOISE_ACTION_SPLIT) {
      return count;
    }
    dsb_noise_handshake *tx = aa == DSB_NOISE_ACTION_WRITE_MESSAGE ? a : b;
    dsb_noise_handshake *rx = tx == a ? b : a;
    assert_int_equal(dsb_noise_handshake_action(tx),
                     DSB_NOISE_ACTION_WRITE_MESSAGE);
    assert_int_equal(dsb_noise_handshake_action(rx),
                     DSB_NOISE_ACTION_READ_MESSAGE);
    char payload[32];
    int plen = snprintf(payload, sizeof(payload), "payload %d", count);
    long n = dsb_noise_handshake_write_message(
        tx, msg, sizeof(msg), (const uint8_t *)payload, (size_t)plen);
    assert_true(n > 0);
    long r =
        dsb_noise_handshake_read_message(rx, pl, sizeof(pl), msg, (size_t)n);
    assert_int_equal(r, plen);
    assert_memory_equal(pl, payload, (size_t)plen);
    ++count;
  }
}

static void check_transport(dsb_noise_cipher *send, dsb_noise_cipher *recv) {
  uint8_t ct[64], pt[64];
  const uint8_t msg[] = "transport data";
  long n =
      dsb_noise_cipher_encrypt(send, ct, sizeof(ct), NULL, 0, msg, sizeof(msg));
  assert_int_equal(n, (long)sizeof(msg) + 16);
  assert_int_equal(
      dsb_noise_cipher_decrypt(recv, pt, sizeof(pt), NULL, 0, ct, (size_t)n),
      (long)sizeof(msg));
  assert_memory_equal(pt, msg, sizeof(msg));
}

/* Full handshake + split + transport both ways for |name|. */
static void round_trip(const char *name) {
  pair p;
  dsb_noise_cipher *is = NULL, *ir = NULL, *rs = NULL, *rr = NULL;
  uint8_t hi[64], hr[64], k[32];
  pair_new(&p, name, NULL);
  assert_true(run_handshake(p.i, p.r) >= 1);
  long li = dsb_noise_handshake_get_handshake_hash(p.i, hi, sizeof(hi));
  long lr = dsb_noise_handshake_get_handshake_hash(p.r, hr, sizeof(hr));
  assert_true(li == 32 || li == 64);
  assert_int_equal(li, lr);
  assert_memory_equal(hi, hr, (size_t)li);
  assert_int_equal(dsb_noise_handshake_split(p.i, &is, &ir), 0);
  assert_int_equal(dsb_noise_handshake_split(p.r, &rs, &rr), 0);
  assert_int_equal(dsb_noise_handshake_action(p.i), DSB_NOISE_ACTION_COMPLETE);
  check_transport(is, rr);
  if (!is_one_way(name)) {
    check_transport(rs, ir); /* interactive patterns: both directions */
  }
  /* Whoever learned the peer's static key learned the right one. */
  if (dsb_noise_handshake_get_remote_static(p.i, k) == 0) {
    assert_memory_equal(k, p.r_pk, 32);
  }
  if (dsb_noise_handshake_get_remote_static(p.r, k) == 0) {
    assert_memory_equal(k, p.i_pk, 32);
  }
  dsb_noise_cipher_del(is);
  dsb_noise_cipher_del(ir);
  dsb_noise_cipher_del(rs);
  dsb_noise_cipher_del(rr);
  pair_del(&p);
}

/* Run an XK handshake up to the point where |msg_index| is ready to go. */
static long xk_prepare(pair *p, unsigned msg_index, uint8_t *msg,
                       size_t msgcap) {
  uint8_t pl[256];
  pair_new(p, XK, NULL);
  for (unsigned i = 0;; ++i) {
    dsb_noise_handshake *tx = i % 2 == 0 ? p->i : p->r;
    dsb_noise_handshake *rx = i % 2 == 0 ? p->r : p->i;
    long n = dsb_noise_handshake_write_message(tx, msg, msgcap,
                                               (const uint8_t *)"hello", 5);
    assert_true(n > 0);
    if (i == msg_index) {
      return n;
    }
    assert_int_equal(
        dsb_noise_handshake_read_message(rx, pl, sizeof(pl), msg, (size_t)n),
        5);
  }
}

/* ---- the shared cacophony vector --------------------------------------- */

static int unhex_str(uint8_t *out, size_t cap, const char *s) {
  size_t len = strlen(s);
  if (len % 2 || len / 2 > cap) {
    return -1;
  }
  for (size_t i = 0; i < len / 2; ++i) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1) {
      return -1;
    }
    out[i] = (uint8_t)v;
  }
  return (int)(len / 2);
}

static int unhex_field(json_object *o, const char *k, uint8_t *out,
                       size_t cap) {
  json_object *v;
  assert_true(json_object_object_get_ex(o, k, &v));
  int n = unhex_str(out, cap, json_object_get_string(v));
  assert_true(n >= 0);
  return n;
}

/* The cacophony file, or NULL (test skipped) when the shared folder is not
 * there. */
static json_object *load_cacophony(void) {
  char path[4096];
  const char *dir = getenv("DSB_NOISE_VECTORS_DIR");
  const char *shared = getenv("DSB_SHARED_DIR");
  if (dir) {
    snprintf(path, sizeof(path), "%s/cacophony.txt", dir);
  } else if (shared) {
    snprintf(path, sizeof(path), "%s/vectors/noise/cacophony.txt", shared);
  } else {
    snprintf(path, sizeof(path), "../shared/vectors/noise/cacophony.txt");
  }
  FILE *f = fopen(path, "r");
  if (!f) {
    print_message("SKIPPED: %s not found\n", path);
    return NULL;
  }
  fclose(f);
  json_object *root = json_object_from_file(path);
  assert_non_null(root);
  return root;
}

static json_object *find_vector(json_object *root, const char *name) {
  json_object *vectors, *found = NULL;
  int count = 0;
  assert_true(json_object_object_get_ex(root, "vectors", &vectors));
  for (size_t i = 0; i < json_object_array_length(vectors); ++i) {
    json_object *v = json_object_array_get_idx(vectors, i), *n;
    if (json_object_object_get_ex(v, "protocol_name", &n) &&
        strcmp(json_object_get_string(n), name) == 0) {
      found = v;
      ++count;
    }
  }
  /* Exactly one, so a parsing bug cannot silently select none. */
  assert_int_equal(count, 1);
  return found;
}

typedef struct xk_vector {
  uint8_t prologue[64], i_s[32], i_e[32], i_rs[32], r_s[32], r_e[32], hh[32];
  int prologuelen;
  int nmsgs;
  uint8_t payload[6][128], ct[6][256];
  int plen[6], clen[6];
} xk_vector;

static void load_xk_vector(json_object *v, xk_vector *x) {
  json_object *msgs;
  x->prologuelen = unhex_field(v, "init_prologue", x->prologue, 64);
  assert_int_equal(unhex_field(v, "init_static", x->i_s, 32), 32);
  assert_int_equal(unhex_field(v, "init_ephemeral", x->i_e, 32), 32);
  assert_int_equal(unhex_field(v, "init_remote_static", x->i_rs, 32), 32);
  assert_int_equal(unhex_field(v, "resp_static", x->r_s, 32), 32);
  assert_int_equal(unhex_field(v, "resp_ephemeral", x->r_e, 32), 32);
  assert_int_equal(unhex_field(v, "handshake_hash", x->hh, 32), 32);
  assert_true(json_object_object_get_ex(v, "messages", &msgs));
  x->nmsgs = (int)json_object_array_length(msgs);
  assert_int_equal(x->nmsgs, 6);
  for (int i = 0; i < x->nmsgs; ++i) {
    json_object *m = json_object_array_get_idx(msgs, (size_t)i);
    x->plen[i] = unhex_field(m, "payload", x->payload[i], 128);
    x->clen[i] = unhex_field(m, "ciphertext", x->ct[i], 256);
  }
}

static void xk_vector_pair(const xk_vector *x, dsb_noise_handshake **pi,
                           dsb_noise_handshake **pr) {
  assert_int_equal(
      dsb_noise_handshake_new(pi, NULL, XK, DSB_NOISE_INITIATOR, NULL), 0);
  assert_int_equal(
      dsb_noise_handshake_new(pr, NULL, XK, DSB_NOISE_RESPONDER, NULL), 0);
  assert_int_equal(dsb_noise_handshake_set_prologue(*pi, x->prologue,
                                                    (size_t)x->prologuelen),
                   0);
  assert_int_equal(dsb_noise_handshake_set_prologue(*pr, x->prologue,
                                                    (size_t)x->prologuelen),
                   0);
  assert_int_equal(dsb_noise_handshake_set_local_static(*pi, x->i_s), 0);
  assert_int_equal(dsb_noise_handshake_set_fixed_ephemeral(*pi, x->i_e), 0);
  assert_int_equal(dsb_noise_handshake_set_remote_static(*pi, x->i_rs), 0);
  assert_int_equal(dsb_noise_handshake_set_local_static(*pr, x->r_s), 0);
  assert_int_equal(dsb_noise_handshake_set_fixed_ephemeral(*pr, x->r_e), 0);
}

static void test_xk_cacophony_vector(void **state) {
  (void)state;
  json_object *root = load_cacophony();
  if (!root) {
    skip();
  }
  xk_vector x;
  load_xk_vector(find_vector(root, XK), &x);
  json_object_put(root);

  dsb_noise_handshake *hi = NULL, *hr = NULL;
  dsb_noise_cipher *cs[4] = {NULL, NULL, NULL, NULL}; /* is, ir, rs, rr */
  uint8_t out[256], pl[256], h[64];
  xk_vector_pair(&x, &hi, &hr);
  for (int i = 0; i < 6; ++i) {
    int from_i = i % 2 == 0;
    long n, r;
    if (i < 3) {
      n = dsb_noise_handshake_write_message(from_i ? hi : hr, out, sizeof(out),
                                            x.payload[i], (size_t)x.plen[i]);
      assert_int_equal(n, x.clen[i]);
      assert_memory_equal(out, x.ct[i], (size_t)n);
      r = dsb_noise_handshake_read_message(from_i ? hr : hi, pl, sizeof(pl),
                                           x.ct[i], (size_t)x.clen[i]);
    } else {
      if (i == 3) {
        assert_int_equal(dsb_noise_handshake_get_handshake_hash(hi, h, 64), 32);
        assert_memory_equal(h, x.hh, 32);
        assert_int_equal(dsb_noise_handshake_get_handshake_hash(hr, h, 64), 32);
        assert_memory_equal(h, x.hh, 32);
        assert_int_equal(dsb_noise_handshake_split(hi, &cs[0], &cs[1]), 0);
        assert_int_equal(dsb_noise_handshake_split(hr, &cs[2], &cs[3]), 0);
      }
      n = dsb_noise_cipher_encrypt(from_i ? cs[0] : cs[2], out, sizeof(out),
                                   NULL, 0, x.payload[i], (size_t)x.plen[i]);
      assert_int_equal(n, x.clen[i]);
      assert_memory_equal(out, x.ct[i], (size_t)n);
      r = dsb_noise_cipher_decrypt(from_i ? cs[3] : cs[1], pl, sizeof(pl), NULL,
                                   0, x.ct[i], (size_t)x.clen[i]);
    }
    assert_int_equal(r, x.plen[i]);
    assert_memory_equal(pl, x.payload[i], (size_t)r);
  }
  /* The responder learned the initiator's static key. */
  uint8_t ipk[32], got[32];
  assert_int_equal(dsb_x25519_pubkey(ipk, x.i_s), 0);
  assert_int_equal(dsb_noise_handshake_get_remote_static(hr, got), 0);
  assert_memory_equal(got, ipk, 32);
  for (int i = 0; i < 4; ++i) {
    dsb_noise_cipher_del(cs[i]);
  }
  dsb_noise_handshake_del(hi);
  dsb_noise_handshake_del(hr);
}

/* Every single-byte change of each XK vector handshake message is rejected
 * by its receiver, which then stays failed. */
static void test_reject_xk_vector_every_byte_flip(void **state) {
  (void)state;
  json_object *root = load_cacophony();
  if (!root) {
    skip();
  }
  xk_vector x;
  load_xk_vector(find_vector(root, XK), &x);
  json_object_put(root);

  int total = 0;
  for (int m = 0; m < 3; ++m) {
    for (int pos = 0; pos < x.clen[m]; ++pos) {
      dsb_noise_handshake *hi = NULL, *hr = NULL;
      uint8_t pl[256], bad[256];
      xk_vector_pair(&x, &hi, &hr);
      /* Deliver the genuine messages before |m|. */
      for (int i = 0; i < m; ++i) {
        dsb_noise_handshake *tx = i % 2 == 0 ? hi : hr;
        dsb_noise_handshake *rx = i % 2 == 0 ? hr : hi;
        uint8_t out[256];
        assert_int_equal(dsb_noise_handshake_write_message(tx, out, sizeof(out),
                                                           x.payload[i],
                                                           (size_t)x.plen[i]),
                         x.clen[i]);
        assert_int_equal(dsb_noise_handshake_read_message(
                             rx, pl, sizeof(pl), x.ct[i], (size_t)x.clen[i]),
                         x.plen[i]);
      }
      dsb_noise_handshake *rx = m % 2 == 0 ? hr : hi;
      memcpy(bad, x.ct[m], (size_t)x.clen[m]);
      bad[pos] ^= 0x01;
      assert_int_equal(dsb_noise_handshake_read_message(rx, pl, sizeof(pl), bad,
                                                        (size_t)x.clen[m]),
                       DSB_ERR_CRYPTO_AUTH);
      assert_int_equal(dsb_noise_handshake_action(rx), DSB_NOISE_ACTION_FAILED);
      /* Even the genuine message is refused now. */
      assert_int_equal(dsb_noise_handshake_read_message(
                           rx, pl, sizeof(pl), x.ct[m], (size_t)x.clen[m]),
                       DSB_ERR_NOISE_FAILED);
      dsb_noise_handshake_del(hi);
      dsb_noise_handshake_del(hr);
      ++total;
    }
  }
  assert_int_equal(total, 64 + 63 + 75);
}

static void test_reject_xk_vector_wrong_prologue(void **state) {
  (void)state;
  json_object *root = load_cacophony();
  if (!root) {
    skip();
  }
  xk_vector x;
  load_xk_vector(find_vector(root, XK), &x);
  json_object_put(root);
  dsb_noise_handshake *hi = NULL, *hr = NULL;
  uint8_t pl[256];
  /* The initiator keeps the vector's prologue; the responder's differs. */
  xk_vector_pair(&x, &hi, &hr);
  dsb_noise_handshake_del(hr);
  x.prologue[0] ^= 1;
  assert_int_equal(
      dsb_noise_handshake_new(&hr, NULL, XK, DSB_NOISE_RESPONDER, NULL), 0);
  assert_int_equal(
      dsb_noise_handshake_set_prologue(hr, x.prologue, (size_t)x.prologuelen),
      0);
  assert_int_equal(dsb_noise_handshake_set_local_static(hr, x.r_s), 0);
  uint8_t out[256];
  long n = dsb_noise_handshake_write_message(hi, out, sizeof(out), x.payload[0],
                                             (size_t)x.plen[0]);
  assert_int_equal(n, x.clen[0]);
  assert_int_equal(
      dsb_noise_handshake_read_message(hr, pl, sizeof(pl), out, (size_t)n),
      DSB_ERR_CRYPTO_AUTH);
  dsb_noise_handshake_del(hi);
  dsb_noise_handshake_del(hr);
}

/* ---- round trips -------------------------------------------------------- */

static const char *const all_patterns[] = {"N",
                                           "K",
                                           "X",
                                           "NN",
                                           "NK",
                                           "NX",
                                           "XN",
                                           "XK",
                                           "XX",
                                           "KN",
                                           "KK",
                                           "KX",
                                           "IN",
                                           "IK",
                                           "IX",
                                           "NK1",
                                           "NX1",
                                           "X1N",
                                           "X1K",
                                           "XK1",
                                           "X1K1",
                                           "X1X",
                                           "XX1",
                                           "X1X1",
                                           "K1N",
                                           "K1K",
                                           "KK1",
                                           "K1K1",
                                           "K1X",
                                           "KX1",
                                           "K1X1",
                                           "I1N",
                                           "I1K",
                                           "IK1",
                                           "I1K1",
                                           "I1X",
                                           "IX1",
                                           "I1X1",
                                           "NNpsk0",
                                           "NNpsk2",
                                           "NKpsk0",
                                           "NKpsk2",
                                           "NXpsk2",
                                           "XNpsk3",
                                           "XKpsk3",
                                           "XXpsk3",
                                           "KNpsk0",
                                           "KNpsk2",
                                           "KKpsk0",
                                           "KKpsk2",
                                           "KXpsk2",
                                           "INpsk1",
                                           "INpsk2",
                                           "IKpsk1",
                                           "IKpsk2",
                                           "IXpsk2",
                                           "Npsk0",
                                           "Kpsk0",
                                           "Xpsk1",
                                           "NNpsk0+psk2",
                                           "XXpsk0+psk1+psk3"};

static void test_round_trip_every_pattern(void **state) {
  (void)state;
  char name[128];
  for (size_t i = 0; i < sizeof(all_patterns) / sizeof(all_patterns[0]); ++i) {
    snprintf(name, sizeof(name), "Noise_%s_25519_ChaChaPoly_BLAKE2s",
             all_patterns[i]);
    round_trip(name);
  }
}

static void test_round_trip_every_cipher_and_hash(void **state) {
  (void)state;
  static const char *const ciphers[] = {"ChaChaPoly", "AESGCM"};
  static const char *const hashes[] = {"BLAKE2s", "BLAKE2b", "SHA256",
                                       "SHA512"};
  char name[128];
  for (int c = 0; c < 2; ++c) {
    for (int h = 0; h < 4; ++h) {
      snprintf(name, sizeof(name), "Noise_XKpsk3_25519_%s_%s", ciphers[c],
               hashes[h]);
      round_trip(name);
    }
  }
}

static void test_rekey_both_sides(void **state) {
  (void)state;
  pair p;
  dsb_noise_cipher *is = NULL, *rr = NULL;
  uint8_t ct[64], pt[64];
  pair_new(&p, XK, NULL);
  run_handshake(p.i, p.r);
  assert_int_equal(dsb_noise_handshake_split(p.i, &is, NULL), 0);
  assert_int_equal(dsb_noise_handshake_split(p.r, NULL, &rr), 0);
  check_transport(is, rr);
  assert_int_equal(dsb_noise_cipher_rekey(is), 0);
  assert_int_equal(dsb_noise_cipher_rekey(rr), 0);
  assert_int_equal(dsb_noise_cipher_get_nonce(is), 1); /* unchanged */
  check_transport(is, rr);
  /* Only one side rekeys: the other cannot read. */
  assert_int_equal(dsb_noise_cipher_rekey(is), 0);
  long n = dsb_noise_cipher_encrypt(is, ct, sizeof(ct), NULL, 0,
                                    (const uint8_t *)"x", 1);
  assert_int_equal(n, 17);
  assert_int_equal(
      dsb_noise_cipher_decrypt(rr, pt, sizeof(pt), NULL, 0, ct, (size_t)n),
      DSB_ERR_CRYPTO_AUTH);
  dsb_noise_cipher_del(is);
  dsb_noise_cipher_del(rr);
  pair_del(&p);
}

/* ---- rejects: transport ------------------------------------------------- */

typedef struct session {
  pair p;
  dsb_noise_cipher *is, *ir, *rs, *rr;
} session;

static void session_up(session *s) {
  memset(s, 0, sizeof(*s));
  pair_new(&s->p, XK, NULL);
  run_handshake(s->p.i, s->p.r);
  assert_int_equal(dsb_noise_handshake_split(s->p.i, &s->is, &s->ir), 0);
  assert_int_equal(dsb_noise_handshake_split(s->p.r, &s->rs, &s->rr), 0);
}

static void session_down(session *s) {
  dsb_noise_cipher_del(s->is);
  dsb_noise_cipher_del(s->ir);
  dsb_noise_cipher_del(s->rs);
  dsb_noise_cipher_del(s->rr);
  pair_del(&s->p);
}

static void flip_and_expect_reject(size_t pos) {
  session s;
  uint8_t ct[64], pt[64];
  const uint8_t msg[32] = "0123456789abcdef0123456789abcde";
  session_up(&s);
  long n = dsb_noise_cipher_encrypt(s.is, ct, sizeof(ct), NULL, 0, msg, 32);
  assert_int_equal(n, 48);
  ct[pos] ^= 0x04;
  memset(pt, 0xcc, sizeof(pt));
  assert_int_equal(
      dsb_noise_cipher_decrypt(s.rr, pt, sizeof(pt), NULL, 0, ct, (size_t)n),
      DSB_ERR_CRYPTO_AUTH);
  assert_true(dsb_ct_is_zero(pt, 32)); /* no unauthenticated plaintext */
  assert_int_equal(dsb_noise_cipher_get_nonce(s.rr), 0);
  /* The genuine message still opens: the nonce did not move. */
  ct[pos] ^= 0x04;
  assert_int_equal(
      dsb_noise_cipher_decrypt(s.rr, pt, sizeof(pt), NULL, 0, ct, (size_t)n),
      32);
  session_down(&s);
}

static void test_reject_flipped_ciphertext_bit(void **state) {
  (void)state;
  flip_and_expect_reject(0);
  flip_and_expect_reject(31);
}

static void test_reject_flipped_tag_bit(void **state) {
  (void)state;
  flip_and_expect_reject(32);
  flip_and_expect_reject(47);
}

static void test_reject_truncated_transport_message(void **state) {
  (void)state;
  session s;
  uint8_t ct[64], pt[64];
  session_up(&s);
  long n = dsb_noise_cipher_encrypt(s.is, ct, sizeof(ct), NULL, 0,
                                    (const uint8_t *)"abc", 3);
  assert_int_equal(n, 19);
  assert_int_equal(dsb_noise_cipher_decrypt(s.rr, pt, sizeof(pt), NULL, 0, ct,
                                            (size_t)n - 1),
                   DSB_ERR_CRYPTO_AUTH);
  assert_int_equal(
      dsb_noise_cipher_decrypt(s.rr, pt, sizeof(pt), NULL, 0, ct, 15),
      DSB_ERR_CRYPTO_AUTH);
  session_down(&s);
}

static void test_reject_oversize_transport_message(void **state) {
  (void)state;
  session s;
  static uint8_t big[BUF], out[BUF];
  session_up(&s);
  assert_int_equal(dsb_noise_cipher_encrypt(s.is, out, sizeof(out), NULL, 0,
                                            big, DSB_NOISE_MAX_PAYLOAD_LEN + 1),
                   DSB_ERR_NOISE_MSG_TOO_LONG);
  assert_int_equal(dsb_noise_cipher_get_nonce(s.is), 0);
  /* Exactly 65535 bytes on the wire is allowed. */
  long n = dsb_noise_cipher_encrypt(s.is, out, sizeof(out), NULL, 0, big,
                                    DSB_NOISE_MAX_PAYLOAD_LEN);
  assert_int_equal(n, DSB_NOISE_MAX_MSG_LEN);
  assert_int_equal(dsb_noise_cipher_decrypt(s.rr, big, sizeof(big), NULL, 0,
                                            out, DSB_NOISE_MAX_MSG_LEN + 1),
                   DSB_ERR_NOISE_MSG_TOO_LONG);
  assert_int_equal(
      dsb_noise_cipher_decrypt(s.rr, big, sizeof(big), NULL, 0, out, (size_t)n),
      DSB_NOISE_MAX_PAYLOAD_LEN);
  session_down(&s);
}

static void test_reject_nonce_exhausted(void **state) {
  (void)state;
  session s;
  uint8_t ct[64], pt[64];
  session_up(&s);
  dsb_noise_cipher_set_nonce(s.is, UINT64_MAX - 1);
  dsb_noise_cipher_set_nonce(s.rr, UINT64_MAX - 1);
  /* 2^64-2 is the last usable nonce. */
  long n = dsb_noise_cipher_encrypt(s.is, ct, sizeof(ct), NULL, 0,
                                    (const uint8_t *)"last", 4);
  assert_int_equal(n, 20);
  assert_int_equal(
      dsb_noise_cipher_decrypt(s.rr, pt, sizeof(pt), NULL, 0, ct, (size_t)n),
      4);
  assert_int_equal(dsb_noise_cipher_get_nonce(s.is), UINT64_MAX);
  assert_int_equal(dsb_noise_cipher_encrypt(s.is, ct, sizeof(ct), NULL, 0,
                                            (const uint8_t *)"more", 4),
                   DSB_ERR_NOISE_NONCE_EXHAUSTED);
  assert_int_equal(
      dsb_noise_cipher_decrypt(s.rr, pt, sizeof(pt), NULL, 0, ct, (size_t)n),
      DSB_ERR_NOISE_NONCE_EXHAUSTED);
  session_down(&s);
}

/* ---- rejects: handshake ------------------------------------------------- */

static void test_reject_truncated_handshake_message(void **state) {
  (void)state;
  pair p;
  uint8_t msg[256], pl[256];
  long n = xk_prepare(&p, 0, msg, sizeof(msg)); /* e, es, payload "hello" */
  assert_int_equal(n, 32 + 5 + 16);
  /* Shorter than e plus a tag: refused before any state change. */
  assert_int_equal(
      dsb_noise_handshake_read_message(p.r, pl, sizeof(pl), msg, 32 + 15),
      DSB_ERR_NOISE_SHORT_MESSAGE);
  assert_int_equal(dsb_noise_handshake_action(p.r),
                   DSB_NOISE_ACTION_READ_MESSAGE);
  /* Long enough to parse but cut into the payload: authentication fails. */
  assert_int_equal(
      dsb_noise_handshake_read_message(p.r, pl, sizeof(pl), msg, (size_t)n - 1),
      DSB_ERR_CRYPTO_AUTH);
  pair_del(&p);
}

static void test_reject_oversize_handshake_message(void **state) {
  (void)state;
  pair p;
  static uint8_t big[BUF], out[BUF];
  pair_new(&p, XK, NULL);
  /* 32 (e) + payload + 16 (tag) must fit in 65535. */
  assert_int_equal(dsb_noise_handshake_write_message(
                       p.i, out, sizeof(out), big, DSB_NOISE_MAX_MSG_LEN - 47),
                   DSB_ERR_NOISE_MSG_TOO_LONG);
  assert_int_equal(dsb_noise_handshake_action(p.i),
                   DSB_NOISE_ACTION_WRITE_MESSAGE);
  long n = dsb_noise_handshake_write_message(p.i, out, sizeof(out), big,
                                             DSB_NOISE_MAX_MSG_LEN - 48);
  assert_int_equal(n, DSB_NOISE_MAX_MSG_LEN);
  assert_int_equal(dsb_noise_handshake_read_message(p.r, big, sizeof(big), out,
                                                    DSB_NOISE_MAX_MSG_LEN + 1),
                   DSB_ERR_NOISE_MSG_TOO_LONG);
  assert_int_equal(
      dsb_noise_handshake_read_message(p.r, big, sizeof(big), out, (size_t)n),
      DSB_NOISE_MAX_MSG_LEN - 48);
  pair_del(&p);
}

static void test_reject_wrong_static_key(void **state) {
  (void)state;
  pair p;
  uint8_t msg[256], pl[256], other_sk[32], other_pk[32];
  dsb_noise_handshake *hi = NULL;
  pair_new(&p, XK, NULL);
  /* The initiator believes in another responder key: message 1's es
   * differs, so the real responder cannot authenticate it. */
  assert_int_equal(dsb_x25519_keygen(&test_rng, other_sk, other_pk), 0);
  assert_int_equal(
      dsb_noise_handshake_new(&hi, NULL, XK, DSB_NOISE_INITIATOR, &test_rng),
      0);
  assert_int_equal(dsb_noise_handshake_set_local_static(hi, p.i_sk), 0);
  assert_int_equal(dsb_noise_handshake_set_remote_static(hi, other_pk), 0);
  long n = dsb_noise_handshake_write_message(hi, msg, sizeof(msg), NULL, 0);
  assert_int_equal(n, 48);
  assert_int_equal(
      dsb_noise_handshake_read_message(p.r, pl, sizeof(pl), msg, (size_t)n),
      DSB_ERR_CRYPTO_AUTH);
  assert_int_equal(dsb_noise_handshake_action(p.r), DSB_NOISE_ACTION_FAILED);
  dsb_noise_handshake_del(hi);
  pair_del(&p);
}

static void test_reject_low_order_ephemeral(void **state) {
  (void)state;
  pair p;
  uint8_t msg[256], pl[256];
  long n = xk_prepare(&p, 0, msg, sizeof(msg));
  memset(msg, 0, 32); /* e = 0, a low-order point: es is all zero */
  assert_int_equal(
      dsb_noise_handshake_read_message(p.r, pl, sizeof(pl), msg, (size_t)n),
      DSB_ERR_CRYPTO_DH_ZERO);
  assert_int_equal(dsb_noise_handshake_action(p.r), DSB_NOISE_ACTION_FAILED);
  pair_del(&p);
}

static void test_reject_out_of_turn(void **state) {
  (void)state;
  pair p;
  uint8_t msg[256], pl[256];
  pair_new(&p, XK, NULL);
  assert_int_equal(
      dsb_noise_handshake_write_message(p.r, msg, sizeof(msg), NULL, 0),
      DSB_ERR_NOISE_OUT_OF_TURN);
  assert_int_equal(
      dsb_noise_handshake_read_message(p.i, pl, sizeof(pl), msg, 48),
      DSB_ERR_NOISE_OUT_OF_TURN);
  /* Misuse changed nothing: the handshake still completes. */
  assert_int_equal(run_handshake(p.i, p.r), 3);
  assert_int_equal(
      dsb_noise_handshake_write_message(p.i, msg, sizeof(msg), NULL, 0),
      DSB_ERR_NOISE_HANDSHAKE_DONE);
  pair_del(&p);
}

static void test_reject_missing_key(void **state) {
  (void)state;
  dsb_noise_handshake *hs = NULL;
  uint8_t msg[256], key[32];
  fill(key, 32, 9);
  /* XK initiator without the responder's key. */
  assert_int_equal(
      dsb_noise_handshake_new(&hs, NULL, XK, DSB_NOISE_INITIATOR, &test_rng),
      0);
  assert_int_equal(dsb_noise_handshake_set_local_static(hs, key), 0);
  assert_int_equal(dsb_noise_handshake_start(hs), DSB_ERR_NOISE_MISSING_KEY);
  assert_int_equal(
      dsb_noise_handshake_write_message(hs, msg, sizeof(msg), NULL, 0),
      DSB_ERR_NOISE_MISSING_KEY);
  /* Fixable: the configuration error changed no state. */
  assert_int_equal(dsb_noise_handshake_set_remote_static(hs, key), 0);
  assert_int_equal(
      dsb_noise_handshake_write_message(hs, msg, sizeof(msg), NULL, 0), 48);
  dsb_noise_handshake_del(hs);
  /* XK initiator without its own static key (sent in message 3). */
  assert_int_equal(
      dsb_noise_handshake_new(&hs, NULL, XK, DSB_NOISE_INITIATOR, &test_rng),
      0);
  assert_int_equal(dsb_noise_handshake_set_remote_static(hs, key), 0);
  assert_int_equal(dsb_noise_handshake_start(hs), DSB_ERR_NOISE_MISSING_KEY);
  dsb_noise_handshake_del(hs);
  /* XK responder without its static key. */
  assert_int_equal(
      dsb_noise_handshake_new(&hs, NULL, XK, DSB_NOISE_RESPONDER, &test_rng),
      0);
  assert_int_equal(dsb_noise_handshake_start(hs), DSB_ERR_NOISE_MISSING_KEY);
  dsb_noise_handshake_del(hs);
  /* A psk pattern without its psk. */
  assert_int_equal(dsb_noise_handshake_new(&hs, NULL,
                                           "Noise_NNpsk0_25519_ChaChaPoly_"
                                           "BLAKE2s",
                                           DSB_NOISE_INITIATOR, &test_rng),
                   0);
  assert_int_equal(dsb_noise_handshake_start(hs), DSB_ERR_NOISE_PSK_MISSING);
  assert_int_equal(dsb_noise_handshake_set_psk(hs, 2, key),
                   DSB_ERR_INVALID_ARGUMENT);
  assert_int_equal(dsb_noise_handshake_set_psk(hs, 0, key), 0);
  assert_int_equal(dsb_noise_handshake_start(hs), 0);
  dsb_noise_handshake_del(hs);
}

static void test_reject_unknown_protocol(void **state) {
  (void)state;
  static const char *const bad[] = {
      "Noise_XK_448_ChaChaPoly_BLAKE2s",
      "Noise_ZZ_25519_ChaChaPoly_BLAKE2s",
      "Noise_XK_25519_ChaChaPoly_BLAKE3",
      "Noise_XK_25519_AESGCM",
      "Noise_XK_25519_ChaChaPoly_BLAKE2s_",
      "Noise_XK_25519_ChaChaPoly_BLAKE2s_extra",
      "NoisePSK_XK_25519_ChaChaPoly_BLAKE2s",
      "Noise_XKpsk4_25519_ChaChaPoly_BLAKE2s", /* XK has 3 messages */
      "Noise_XKpsk9_25519_ChaChaPoly_BLAKE2s",
      "Noise_XKpsk_25519_ChaChaPoly_BLAKE2s",
      "Noise_XKpsk01_25519_ChaChaPoly_BLAKE2s",
      "Noise_XKpsk0+_25519_ChaChaPoly_BLAKE2s",
      "Noise_XKpsk0+psk0_25519_ChaChaPoly_BLAKE2s",
      "Noise_XXfallback_25519_ChaChaPoly_BLAKE2s",
      "Noise_XXhfs_25519+Kyber1024_ChaChaPoly_BLAKE2s",
      "Noise_xk_25519_ChaChaPoly_BLAKE2s",
      "",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
    dsb_noise_handshake *hs = NULL;
    assert_int_equal(
        dsb_noise_handshake_new(&hs, NULL, bad[i], DSB_NOISE_INITIATOR, NULL),
        DSB_ERR_NOISE_UNKNOWN_PROTOCOL);
    assert_null(hs);
  }
  dsb_noise_handshake *hs = NULL;
  assert_int_equal(
      dsb_noise_handshake_new(&hs, NULL, NULL, DSB_NOISE_INITIATOR, NULL),
      DSB_ERR_NOISE_UNKNOWN_PROTOCOL);
}

static void test_reject_remote_static_not_premessage(void **state) {
  (void)state;
  dsb_noise_handshake *hs = NULL;
  uint8_t key[32];
  fill(key, 32, 1);
  assert_int_equal(dsb_noise_handshake_new(&hs, NULL,
                                           "Noise_XX_25519_ChaChaPoly_BLAKE2s",
                                           DSB_NOISE_INITIATOR, NULL),
                   0);
  assert_int_equal(dsb_noise_handshake_set_remote_static(hs, key),
                   DSB_ERR_INVALID_ARGUMENT);
  dsb_noise_handshake_del(hs);
  /* XK's responder learns the initiator's key from message 3. */
  assert_int_equal(
      dsb_noise_handshake_new(&hs, NULL, XK, DSB_NOISE_RESPONDER, NULL), 0);
  assert_int_equal(dsb_noise_handshake_set_remote_static(hs, key),
                   DSB_ERR_INVALID_ARGUMENT);
  dsb_noise_handshake_del(hs);
}

/* The XK vector again, with the static keys given as key pairs
 * (set_local_keypair): the same bytes on the wire. */
static void test_xk_cacophony_vector_local_keypair(void **state) {
  (void)state;
  json_object *root = load_cacophony();
  if (!root) {
    skip();
  }
  xk_vector x;
  load_xk_vector(find_vector(root, XK), &x);
  json_object_put(root);

  dsb_noise_handshake *h[2];
  const uint8_t *sk[2] = {x.i_s, x.r_s};
  const uint8_t *ek[2] = {x.i_e, x.r_e};
  uint8_t pk[32], out[256], pl[256];
  for (int side = 0; side < 2; ++side) {
    assert_int_equal(dsb_noise_handshake_new(&h[side], NULL, XK,
                                             side ? DSB_NOISE_RESPONDER
                                                  : DSB_NOISE_INITIATOR,
                                             NULL),
                     0);
    assert_int_equal(dsb_noise_handshake_set_prologue(h[side], x.prologue,
                                                      (size_t)x.prologuelen),
                     0);
    assert_int_equal(dsb_x25519_pubkey(pk, sk[side]), 0);
    assert_int_equal(
        dsb_noise_handshake_set_local_keypair(h[side], sk[side], pk), 0);
    assert_int_equal(dsb_noise_handshake_set_fixed_ephemeral(h[side], ek[side]),
                     0);
  }
  assert_int_equal(dsb_noise_handshake_set_remote_static(h[0], x.i_rs), 0);
  for (int i = 0; i < 3; ++i) {
    long n = dsb_noise_handshake_write_message(h[i % 2], out, sizeof(out),
                                               x.payload[i], (size_t)x.plen[i]);
    assert_int_equal(n, x.clen[i]);
    assert_memory_equal(out, x.ct[i], (size_t)n);
    assert_int_equal(dsb_noise_handshake_read_message(
                         h[1 - i % 2], pl, sizeof(pl), out, (size_t)n),
                     x.plen[i]);
  }
  assert_int_equal(dsb_noise_handshake_get_local_static(h[1], out), 0);
  assert_int_equal(dsb_x25519_pubkey(pk, x.r_s), 0);
  assert_memory_equal(out, pk, 32);
  dsb_noise_handshake_del(h[0]);
  dsb_noise_handshake_del(h[1]);
}

/* set_local_keypair trusts |pk|: one that is not the key of |sk| is what
 * the peer authenticates, and the DH it computes with it does not match
 * ours, so the message carrying s fails at the peer. */
static void test_reject_local_keypair_wrong_public_key(void **state) {
  (void)state;
  dsb_noise_handshake *hi, *hr;
  uint8_t isk[32], ipk[32], rsk[32], rpk[32], wrong_sk[32], wrong[32];
  uint8_t out[256], pl[256];
  long n;

  assert_int_equal(dsb_x25519_keygen(&test_rng, isk, ipk), 0);
  assert_int_equal(dsb_x25519_keygen(&test_rng, rsk, rpk), 0);
  assert_int_equal(dsb_x25519_keygen(&test_rng, wrong_sk, wrong), 0);
  assert_int_equal(
      dsb_noise_handshake_new(&hi, NULL, XK, DSB_NOISE_INITIATOR, &test_rng),
      0);
  assert_int_equal(
      dsb_noise_handshake_new(&hr, NULL, XK, DSB_NOISE_RESPONDER, &test_rng),
      0);
  assert_int_equal(dsb_noise_handshake_set_local_keypair(hi, isk, wrong), 0);
  assert_int_equal(dsb_noise_handshake_set_remote_static(hi, rpk), 0);
  assert_int_equal(dsb_noise_handshake_set_local_keypair(hr, rsk, rpk), 0);
  n = dsb_noise_handshake_write_message(hi, out, sizeof(out), NULL, 0);
  assert_true(n > 0);
  assert_int_equal(
      dsb_noise_handshake_read_message(hr, pl, sizeof(pl), out, (size_t)n), 0);
  n = dsb_noise_handshake_write_message(hr, out, sizeof(out), NULL, 0);
  assert_true(n > 0);
  assert_int_equal(
      dsb_noise_handshake_read_message(hi, pl, sizeof(pl), out, (size_t)n), 0);
  n = dsb_noise_handshake_write_message(hi, out, sizeof(out), NULL, 0);
  assert_true(n > 0);
  assert_int_equal(
      dsb_noise_handshake_read_message(hr, pl, sizeof(pl), out, (size_t)n),
      DSB_ERR_CRYPTO_AUTH);
  assert_int_equal(dsb_noise_handshake_action(hr), DSB_NOISE_ACTION_FAILED);
  dsb_noise_handshake_del(hi);
  dsb_noise_handshake_del(hr);
}

static void test_reject_setters_after_start(void **state) {
  (void)state;
  pair p;
  uint8_t key[32];
  fill(key, 32, 1);
  pair_new(&p, XK, NULL);
  assert_int_equal(dsb_noise_handshake_start(p.i), 0);
  assert_int_equal(dsb_noise_handshake_start(p.i), 0); /* idempotent */
  assert_int_equal(dsb_noise_handshake_set_prologue(p.i, key, 32),
                   DSB_ERR_INVALID_STATE);
  assert_int_equal(dsb_noise_handshake_set_local_static(p.i, key),
                   DSB_ERR_INVALID_STATE);
  assert_int_equal(dsb_noise_handshake_set_local_keypair(p.i, key, key),
                   DSB_ERR_INVALID_STATE);
  assert_int_equal(dsb_noise_handshake_set_remote_static(p.i, key),
                   DSB_ERR_INVALID_STATE);
  assert_int_equal(dsb_noise_handshake_set_fixed_ephemeral(p.i, key),
                   DSB_ERR_INVALID_STATE);
  assert_int_equal(dsb_noise_handshake_set_prologue(p.r, key, 1), 0);
  assert_int_equal(dsb_noise_handshake_set_prologue(p.r, key, 1),
                   DSB_ERR_INVALID_STATE); /* at most once */
  pair_del(&p);
}

static void test_reject_split_before_done(void **state) {
  (void)state;
  pair p;
  dsb_noise_cipher *a = NULL, *b = NULL;
  uint8_t msg[256], pl[256], h[64];
  long n = xk_prepare(&p, 1, msg, sizeof(msg));
  assert_true(n > 0);
  assert_int_equal(dsb_noise_handshake_split(p.i, &a, &b),
                   DSB_ERR_INVALID_STATE);
  assert_null(a);
  assert_int_equal(
      dsb_noise_handshake_read_message(p.i, pl, sizeof(pl), msg, (size_t)n), 5);
  assert_int_equal(dsb_noise_handshake_get_handshake_hash(p.i, h, 31),
                   DSB_ERR_NOBUF);
  pair_del(&p);
}

static void test_reject_small_buffer_keeps_state(void **state) {
  (void)state;
  pair p;
  uint8_t msg[256], pl[256];
  pair_new(&p, XK, NULL);
  assert_int_equal(dsb_noise_handshake_write_message(
                       p.i, msg, 48 + 4, (const uint8_t *)"hello", 5),
                   DSB_ERR_NOBUF);
  long n = dsb_noise_handshake_write_message(p.i, msg, sizeof(msg),
                                             (const uint8_t *)"hello", 5);
  assert_int_equal(n, 53);
  assert_int_equal(dsb_noise_handshake_read_message(p.r, pl, 4, msg, (size_t)n),
                   DSB_ERR_NOBUF);
  assert_int_equal(dsb_noise_handshake_read_message(p.r, pl, 5, msg, (size_t)n),
                   5);
  pair_del(&p);
}

static void test_reject_after_failure(void **state) {
  (void)state;
  pair p;
  uint8_t msg[256], pl[256], h[64], k[32];
  long n = xk_prepare(&p, 0, msg, sizeof(msg));
  msg[40] ^= 1;
  assert_int_equal(
      dsb_noise_handshake_read_message(p.r, pl, sizeof(pl), msg, (size_t)n),
      DSB_ERR_CRYPTO_AUTH);
  assert_int_equal(dsb_noise_handshake_action(p.r), DSB_NOISE_ACTION_FAILED);
  assert_int_equal(
      dsb_noise_handshake_write_message(p.r, msg, sizeof(msg), NULL, 0),
      DSB_ERR_NOISE_FAILED);
  assert_int_equal(dsb_noise_handshake_start(p.r), DSB_ERR_NOISE_FAILED);
  assert_int_equal(dsb_noise_handshake_get_handshake_hash(p.r, h, sizeof(h)),
                   DSB_ERR_INVALID_STATE);
  assert_int_equal(dsb_noise_handshake_get_remote_static(p.r, k),
                   DSB_ERR_NOT_FOUND);
  pair_del(&p);
}

/* ---- failing allocator -------------------------------------------------- */

typedef struct fail_mem {
  int countdown; /* the allocation that fails (0 = the first); <0: none */
  int live;
} fail_mem;

static void *fm_malloc(size_t size, void *ctx) {
  fail_mem *f = ctx;
  if (f->countdown-- == 0) {
    return NULL;
  }
  f->live++;
  return malloc(size);
}
static void fm_free(void *ptr, void *ctx) {
  fail_mem *f = ctx;
  if (ptr) {
    f->live--;
  }
  free(ptr);
}
static void *fm_calloc(size_t nmemb, size_t size, void *ctx) {
  fail_mem *f = ctx;
  if (f->countdown-- == 0) {
    return NULL;
  }
  f->live++;
  return calloc(nmemb, size);
}
static void *fm_realloc(void *ptr, size_t size, void *ctx) {
  (void)ctx;
  return realloc(ptr, size);
}

/* Fail the i-th allocation for every i of a full XK handshake and split:
 * each attempt returns DSB_ERR_NOMEM cleanly and frees everything. */
static void test_failing_allocator(void **state) {
  (void)state;
  int succeeded = 0;
  for (int fail_at = 0; !succeeded && fail_at < 64; ++fail_at) {
    fail_mem f = {fail_at, 0};
    dsb_mem mem = {fm_malloc, fm_free, fm_calloc, fm_realloc, &f};
    dsb_noise_handshake *hi = NULL, *hr = NULL;
    dsb_noise_cipher *a = NULL, *b = NULL, *c = NULL, *d = NULL;
    uint8_t isk[32], ipk[32], rsk[32], rpk[32];
    int rv;
    assert_int_equal(dsb_x25519_keygen(&test_rng, isk, ipk), 0);
    assert_int_equal(dsb_x25519_keygen(&test_rng, rsk, rpk), 0);
    rv = dsb_noise_handshake_new(&hi, &mem, XK, DSB_NOISE_INITIATOR, &test_rng);
    if (rv == 0) {
      rv = dsb_noise_handshake_new(&hr, &mem, XK, DSB_NOISE_RESPONDER,
                                   &test_rng);
    }
    if (rv == 0) {
      assert_int_equal(dsb_noise_handshake_set_local_static(hi, isk), 0);
      assert_int_equal(dsb_noise_handshake_set_remote_static(hi, rpk), 0);
      assert_int_equal(dsb_noise_handshake_set_local_static(hr, rsk), 0);
      run_handshake(hi, hr);
      rv = dsb_noise_handshake_split(hi, &a, &b);
      if (rv == 0) {
        rv = dsb_noise_handshake_split(hr, &c, &d);
      }
    }
    if (rv == 0) {
      check_transport(a, d);
      check_transport(c, b);
      succeeded = 1;
    } else {
      assert_int_equal(rv, DSB_ERR_NOMEM);
    }
    dsb_noise_cipher_del(a);
    dsb_noise_cipher_del(b);
    dsb_noise_cipher_del(c);
    dsb_noise_cipher_del(d);
    dsb_noise_handshake_del(hi);
    dsb_noise_handshake_del(hr);
    assert_int_equal(f.live, 0);
  }
  assert_true(succeeded);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_xk_cacophony_vector),
      cmocka_unit_test(test_xk_cacophony_vector_local_keypair),
      cmocka_unit_test(test_reject_local_keypair_wrong_public_key),
      cmocka_unit_test(test_reject_xk_vector_every_byte_flip),
      cmocka_unit_test(test_reject_xk_vector_wrong_prologue),
      cmocka_unit_test(test_round_trip_every_pattern),
      cmocka_unit_test(test_round_trip_every_cipher_and_hash),
      cmocka_unit_test(test_rekey_both_sides),
      cmocka_unit_test(test_reject_flipped_ciphertext_bit),
      cmocka_unit_test(test_reject_flipped_tag_bit),
      cmocka_unit_test(test_reject_truncated_transport_message),
      cmocka_unit_test(test_reject_oversize_transport_message),
      cmocka_unit_test(test_reject_nonce_exhausted),
      cmocka_unit_test(test_reject_truncated_handshake_message),
      cmocka_unit_test(test_reject_oversize_handshake_message),
      cmocka_unit_test(test_reject_wrong_static_key),
      cmocka_unit_test(test_reject_low_order_ephemeral),
      cmocka_unit_test(test_reject_out_of_turn),
      cmocka_unit_test(test_reject_missing_key),
      cmocka_unit_test(test_reject_unknown_protocol),
      cmocka_unit_test(test_reject_remote_static_not_premessage),
      cmocka_unit_test(test_reject_setters_after_start),
      cmocka_unit_test(test_reject_split_before_done),
      cmocka_unit_test(test_reject_small_buffer_keeps_state),
      cmocka_unit_test(test_reject_after_failure),
      cmocka_unit_test(test_failing_allocator),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
