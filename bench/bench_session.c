/*
 * bench_session.c - sessions against the cost of their crypto, in one run.
 *
 * 1. The crypto operations a handshake needs, timed here as the session
 *    core calls them: X25519 key generation (random scalar and public key),
 *    X25519 DH with a known local key pair (dsb_x25519_dh_keypair), Ed25519
 *    verification. An XK handshake costs, per side, one ephemeral key
 *    generation and three DH (es, ee, se), and one certificate verification
 *    unless the verified-proof cache already holds the peer's proof. With
 *    both roles in one process the bound is
 *      bound = 1 / (2 * keygen + 6 * DH [+ 2 * verify without the cache]).
 *    Full handshakes per second (session objects created, three messages,
 *    identity checks, split, freed) are reported against that bound.
 * 2. Record seal+open throughput (seal by one session, dsb_session_recv on
 *    the other: the transport's path) for 64 B, 1 KiB, 16 KiB and the
 *    largest record (65519 B, "64KiB"), against raw ChaCha20-Poly1305 of
 *    the same sizes through OpenSSL EVP directly (seal then open, in place).
 *
 * Every figure and its baseline are timed in short slices of thread CPU
 * time, interleaved round by round (op costs, handshakes, op costs, ...),
 * and both are the median over the rounds: a burst of load from another
 * process then lands in a few slices of each instead of skewing one side
 * of the ratio, and one statistic serves value and baseline alike.
 * Targets (issue #4): handshakes >= 80% of the bound, 64 KiB records >= 85%
 * of raw AEAD.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "bench_json.h"
#include "dsb/crypto.h"
#include "dsb/err.h"
#include "dsb/identity.h"
#include "dsb/proof_cache.h"
#include "dsb/session.h"

#define MIN_NS (40 * 1000 * 1000ull) /* each slice runs >= 40 ms of CPU */
/* Slices per figure, interleaved; the median of each figure is reported.
 * Odd, so the median is one measured slice. */
#define ROUNDS 11

/*
 * CPU time of this thread, in ns. The figures are CPU-bound loops, and on a
 * shared machine wall time also counts the slices in which other processes
 * ran instead; CPU time leaves that out (what remains, e.g. caches another
 * process emptied, the interleaving and the median absorb).
 */
static uint64_t bench_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, int err) {
  fprintf(stderr, "bench_session: %s: %s\n", what, dsb_strerror(err));
  exit(1);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Median of |n| (odd) values; sorts |v|. */
static double median(double *v, size_t n) {
  qsort(v, n, sizeof(*v), cmp_double);
  return v[n / 2];
}

/* ---- crypto operation costs (ns per op) ---------------------------------- */

/* A DH as the handshake does it: the local key pair is known (generated
 * ephemeral, or the identity's static key), the peer key is another one. */
static double time_x25519_dh(void) {
  uint8_t sk[32], pk[32], peer_sk[32], peer[32], out[32];
  uint64_t t0, n = 0;

  if (dsb_x25519_keygen(NULL, sk, pk) != 0 ||
      dsb_x25519_keygen(NULL, peer_sk, peer) != 0) {
    die("keygen", DSB_ERR_CRYPTO);
  }
  dsb_wipe(peer_sk, sizeof(peer_sk));
  t0 = bench_cpu_ns();
  do {
    for (int i = 0; i < 16; ++i) {
      if (dsb_x25519_dh_keypair(out, sk, pk, peer) != 0) {
        die("dh", DSB_ERR_CRYPTO);
      }
    }
    n += 16;
  } while (bench_cpu_ns() - t0 < MIN_NS);
  dsb_wipe(sk, sizeof(sk));
  dsb_wipe(out, sizeof(out));
  return (double)(bench_cpu_ns() - t0) / (double)n;
}

static double time_x25519_keygen(void) {
  uint8_t sk[32], pk[32];
  uint64_t t0, n = 0;

  t0 = bench_cpu_ns();
  do {
    for (int i = 0; i < 64; ++i) {
      if (dsb_x25519_keygen(NULL, sk, pk) != 0) {
        die("keygen", DSB_ERR_CRYPTO);
      }
    }
    n += 64;
  } while (bench_cpu_ns() - t0 < MIN_NS);
  dsb_wipe(sk, sizeof(sk));
  return (double)(bench_cpu_ns() - t0) / (double)n;
}

static double time_ed25519_verify(const dsb_identity *id) {
  uint8_t msg[96];
  uint64_t t0, n = 0;

  memcpy(msg, id->proof.static_pk, 32);
  memset(msg + 32, 7, 64);
  /* A certificate check verifies a signature over a message of this
   * size; any valid signature costs the same. */
  uint8_t sig[64];
  if (dsb_ed25519_sign(sig, id->ed_seed, msg, sizeof(msg)) != 0) {
    die("sign", DSB_ERR_CRYPTO);
  }
  t0 = bench_cpu_ns();
  do {
    for (int i = 0; i < 64; ++i) {
      if (dsb_ed25519_verify(sig, id->proof.ed_pk, msg, sizeof(msg)) != 0) {
        die("verify", DSB_ERR_CRYPTO);
      }
    }
    n += 64;
  } while (bench_cpu_ns() - t0 < MIN_NS);
  return (double)(bench_cpu_ns() - t0) / (double)n;
}

/* ---- handshakes ------------------------------------------------------------
 */

static int one_handshake(const dsb_identity *a, const dsb_identity *b,
                         dsb_proof_cache *cache) {
  static uint8_t msg[DSB_SESSION_HANDSHAKE_MAX];
  dsb_session_config ci, cr;
  dsb_session *si, *sr;
  dsb_session *from, *to;
  int k, rv;

  memset(&ci, 0, sizeof(ci));
  ci.role = DSB_SESSION_INITIATOR;
  ci.local = a;
  ci.remote_static = b->proof.static_pk;
  ci.expected_peer = &b->id;
  ci.proof_cache = cache;
  cr = ci;
  cr.role = DSB_SESSION_RESPONDER;
  cr.local = b;
  cr.remote_static = NULL;
  cr.expected_peer = NULL;
  rv = dsb_session_new(&si, &ci, 0);
  if (rv != 0) {
    return rv;
  }
  rv = dsb_session_new(&sr, &cr, 0);
  if (rv != 0) {
    dsb_session_del(si);
    return rv;
  }
  from = si;
  to = sr;
  for (k = 0; k < 3; ++k) {
    long n = dsb_session_write_handshake(from, msg, sizeof(msg), 0);
    if (n <= 0) {
      rv = n < 0 ? (int)n : DSB_ERR_INTERNAL;
      break;
    }
    n = dsb_session_recv(to, msg, (size_t)n, 0);
    if (n < 0) {
      rv = (int)n;
      break;
    }
    dsb_session *t = from;
    from = to;
    to = t;
  }
  if (rv == 0 && (dsb_session_get_state(si) != DSB_SESSION_STATE_ESTABLISHED ||
                  dsb_session_get_state(sr) != DSB_SESSION_STATE_ESTABLISHED)) {
    rv = DSB_ERR_INTERNAL;
  }
  dsb_session_del(si);
  dsb_session_del(sr);
  return rv;
}

static double handshakes_per_s(const dsb_identity *a, const dsb_identity *b,
                               dsb_proof_cache *cache) {
  uint64_t t0, n = 0;
  int rv;

  /* Warm up (and fill the cache, when there is one). */
  rv = one_handshake(a, b, cache);
  if (rv != 0) {
    die("handshake", rv);
  }
  t0 = bench_cpu_ns();
  do {
    for (int i = 0; i < 16; ++i) {
      rv = one_handshake(a, b, cache);
      if (rv != 0) {
        die("handshake", rv);
      }
    }
    n += 16;
  } while (bench_cpu_ns() - t0 < MIN_NS);
  return (double)n * 1e9 / (double)(bench_cpu_ns() - t0);
}

/* ---- records ----------------------------------------------------------------
 */

typedef struct sink {
  uint64_t bytes;
} sink;

static int sink_on_record(dsb_session *s, const uint8_t *pt, size_t ptlen,
                          void *user) {
  sink *k = user;
  (void)s;
  (void)pt;
  k->bytes += ptlen;
  return 0;
}

/* MB/s of seal (in place) + recv of |size|-byte records. */
static double session_records_mbps(const dsb_identity *a, const dsb_identity *b,
                                   size_t size) {
  static const dsb_session_callbacks cbs = {NULL, sink_on_record};
  static uint8_t rec[DSB_SESSION_RECORD_MAX];
  static uint8_t msg[DSB_SESSION_HANDSHAKE_MAX];
  dsb_session_config ci, cr;
  dsb_session *si, *sr;
  sink k = {0};
  uint64_t t0, n = 0;
  int i;

  memset(&ci, 0, sizeof(ci));
  ci.role = DSB_SESSION_INITIATOR;
  ci.local = a;
  ci.remote_static = b->proof.static_pk;
  ci.expected_peer = &b->id;
  cr = ci;
  cr.role = DSB_SESSION_RESPONDER;
  cr.local = b;
  cr.remote_static = NULL;
  cr.expected_peer = NULL;
  cr.callbacks = &cbs;
  cr.user_data = &k;
  if (dsb_session_new(&si, &ci, 0) != 0 || dsb_session_new(&sr, &cr, 0) != 0) {
    die("session", DSB_ERR_NOMEM);
  }
  for (i = 0; i < 3; ++i) {
    dsb_session *from = i == 1 ? sr : si;
    dsb_session *to = i == 1 ? si : sr;
    long m = dsb_session_write_handshake(from, msg, sizeof(msg), 0);
    if (m <= 0 || dsb_session_recv(to, msg, (size_t)m, 0) != m) {
      die("handshake", m < 0 ? (int)m : DSB_ERR_INTERNAL);
    }
  }
  memset(rec, 0x5a, sizeof(rec));
  t0 = bench_cpu_ns();
  do {
    for (i = 0; i < 32; ++i) {
      long m = dsb_session_seal(si, rec, sizeof(rec),
                                rec + DSB_SESSION_RECORD_HDR_LEN, size);
      if (m < 0) {
        die("seal", (int)m);
      }
      m = dsb_session_recv(sr, rec, (size_t)m, 0);
      if (m < 0) {
        die("recv", (int)m);
      }
      /* In place: the next plaintext is the ciphertext just sent; the
       * content does not change the cost. */
    }
    n += 32;
  } while (bench_cpu_ns() - t0 < MIN_NS);
  {
    double secs = (double)(bench_cpu_ns() - t0) / 1e9;
    if (k.bytes != n * size) {
      die("records lost", DSB_ERR_INTERNAL);
    }
    dsb_session_del(si);
    dsb_session_del(sr);
    return (double)(n * size) / secs / 1e6;
  }
}

/* MB/s of raw ChaCha20-Poly1305 seal + open of |size| bytes, in place,
 * through OpenSSL EVP with reused contexts (the library's best case). */
static double raw_aead_mbps(size_t size) {
  static uint8_t buf[DSB_SESSION_RECORD_MAX];
  EVP_CIPHER_CTX *enc = EVP_CIPHER_CTX_new();
  EVP_CIPHER_CTX *dec = EVP_CIPHER_CTX_new();
  EVP_CIPHER *cipher = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
  uint8_t key[32] = {1}, iv[12] = {0}, tag[16];
  uint64_t t0, n = 0, nonce = 0;
  int len;

  if (!enc || !dec || !cipher ||
      EVP_EncryptInit_ex(enc, cipher, NULL, key, iv) != 1 ||
      EVP_DecryptInit_ex(dec, cipher, NULL, key, iv) != 1) {
    die("EVP", DSB_ERR_CRYPTO);
  }
  memset(buf, 0x5a, sizeof(buf));
  t0 = bench_cpu_ns();
  do {
    for (int i = 0; i < 32; ++i, ++nonce) {
      memcpy(iv + 4, &nonce, 8);
      if (EVP_EncryptInit_ex(enc, NULL, NULL, NULL, iv) != 1 ||
          EVP_EncryptUpdate(enc, buf, &len, buf, (int)size) != 1 ||
          EVP_EncryptFinal_ex(enc, buf + len, &len) != 1 ||
          EVP_CIPHER_CTX_ctrl(enc, EVP_CTRL_AEAD_GET_TAG, 16, tag) != 1) {
        die("EVP seal", DSB_ERR_CRYPTO);
      }
      if (EVP_DecryptInit_ex(dec, NULL, NULL, NULL, iv) != 1 ||
          EVP_DecryptUpdate(dec, buf, &len, buf, (int)size) != 1 ||
          EVP_CIPHER_CTX_ctrl(dec, EVP_CTRL_AEAD_SET_TAG, 16, tag) != 1 ||
          EVP_DecryptFinal_ex(dec, buf + len, &len) != 1) {
        die("EVP open", DSB_ERR_CRYPTO_AUTH);
      }
    }
    n += 32;
  } while (bench_cpu_ns() - t0 < MIN_NS);
  {
    double secs = (double)(bench_cpu_ns() - t0) / 1e9;
    EVP_CIPHER_free(cipher);
    EVP_CIPHER_CTX_free(enc);
    EVP_CIPHER_CTX_free(dec);
    return (double)(n * size) / secs / 1e6;
  }
}

static void record(const char *name, double value, const char *unit,
                   const char *baseline, double baseline_value) {
  dsb_bench_result r = {name, value, unit, baseline, baseline_value};
  if (dsb_bench_record(&r) != 0) {
    exit(1);
  }
}

int main(void) {
  static const struct {
    size_t size;
    const char *label;
  } sizes[] = {{64, "64B"},
               {1024, "1KiB"},
               {16384, "16KiB"},
               {DSB_SESSION_PLAINTEXT_MAX, "64KiB"}};
  dsb_identity a, b;
  dsb_proof_cache *cache;
  double dh[ROUNDS], kg[ROUNDS], vf[ROUNDS], hs_c[ROUNDS], hs_u[ROUNDS];
  double bound_c[ROUNDS], bound_u[ROUNDS];
  double m_hs_c, m_bound_c;
  double ratio64k = 0, ratio_hs = 0;
  size_t i;
  int rv;

  if ((rv = dsb_identity_generate(&a, NULL)) != 0 ||
      (rv = dsb_identity_generate(&b, NULL)) != 0) {
    die("identity", rv);
  }
  if ((rv = dsb_proof_cache_new(&cache, NULL, 16)) != 0) {
    die("proof cache", rv);
  }

  for (int round = 0; round < ROUNDS; ++round) {
    /* Alternate which side of the ratio goes first, so a slow start or a
     * trend in the load does not favour either. */
    if (round % 2) {
      hs_c[round] = handshakes_per_s(&a, &b, cache);
      hs_u[round] = handshakes_per_s(&a, &b, NULL);
    }
    dh[round] = time_x25519_dh();
    kg[round] = time_x25519_keygen();
    vf[round] = time_ed25519_verify(&a);
    if (round % 2 == 0) {
      hs_c[round] = handshakes_per_s(&a, &b, cache);
      hs_u[round] = handshakes_per_s(&a, &b, NULL);
    }
    /* The bound of this round, from this round's op costs. */
    bound_c[round] = 1e9 / (2 * kg[round] + 6 * dh[round]);
    bound_u[round] = 1e9 / (2 * kg[round] + 6 * dh[round] + 2 * vf[round]);
  }
  dsb_bench_print_header("session: crypto operation costs (median of rounds)");
  record("crypto.x25519_dh_keypair", 1e9 / median(dh, ROUNDS), "ops/s", NULL,
         0);
  record("crypto.x25519_keygen", 1e9 / median(kg, ROUNDS), "ops/s", NULL, 0);
  record("crypto.ed25519_verify", 1e9 / median(vf, ROUNDS), "ops/s", NULL, 0);

  dsb_bench_print_header("session: full XK handshakes, both roles in one "
                         "process, vs the crypto-op bound (median of rounds)");
  m_hs_c = median(hs_c, ROUNDS);
  m_bound_c = median(bound_c, ROUNDS);
  record("session.handshakes.proof_cache", m_hs_c, "handshakes/s",
         "crypto_bound.2keygen_6dh", m_bound_c);
  record("session.handshakes.no_proof_cache", median(hs_u, ROUNDS),
         "handshakes/s", "crypto_bound.2keygen_6dh_2verify",
         median(bound_u, ROUNDS));
  ratio_hs = m_hs_c / m_bound_c;

  dsb_bench_print_header("session: record seal + open vs raw "
                         "ChaCha20-Poly1305 (OpenSSL EVP, median of rounds)");
  for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); ++i) {
    char name[64], base[64];
    double s[ROUNDS], r[ROUNDS], ms, mr;
    for (int round = 0; round < ROUNDS; ++round) {
      if (round % 2) {
        r[round] = raw_aead_mbps(sizes[i].size);
      }
      s[round] = session_records_mbps(&a, &b, sizes[i].size);
      if (round % 2 == 0) {
        r[round] = raw_aead_mbps(sizes[i].size);
      }
    }
    ms = median(s, ROUNDS);
    mr = median(r, ROUNDS);
    snprintf(name, sizeof(name), "session.record_seal_open.%s", sizes[i].label);
    snprintf(base, sizeof(base), "aead.raw_seal_open.%s", sizes[i].label);
    record(name, ms, "MB/s", base, mr);
    if (sizes[i].size == DSB_SESSION_PLAINTEXT_MAX) {
      ratio64k = ms / mr;
    }
  }

  printf("\ntargets: handshakes (proof cache) %.1f%% of bound (>= 80%%): %s; "
         "64 KiB records %.1f%% of raw AEAD (>= 85%%): %s\n",
         100 * ratio_hs, ratio_hs >= 0.80 ? "met" : "MISSED", 100 * ratio64k,
         ratio64k >= 0.85 ? "met" : "MISSED");
  dsb_proof_cache_del(cache);
  dsb_identity_wipe(&a);
  dsb_identity_wipe(&b);
  return 0;
}
