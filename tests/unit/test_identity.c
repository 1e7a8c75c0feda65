/*
 * test_identity.c - device id, text form, static-key certificate.
 *
 * Golden values were computed outside this code base (Python hashlib
 * BLAKE2s and the openssl command line for Ed25519/X25519), so they check
 * the documented formats, not just self-consistency.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dsb/crypto.h"
#include "dsb/err.h"
#include "dsb/identity.h"
#include "dsb/keystore.h"

/* ed_seed = 00 01 .. 1f, static_sk = 20 21 .. 3f */
static const char vec_ed_pk[] =
    "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8";
static const char vec_static_pk[] =
    "358072d6365880d1aeea329adf9121383851ed21a28e3b75e965d0d2cd166254";
static const char vec_device_id[] = "69307be8ef34abf26e91b943d0ec2c8d";
static const char vec_cert[] =
    "2a251346ecd5d39b14f84ae54121387626d414edb25c3d6aaf12570ae97308d7"
    "6ab0a87745e021a34f719fc8531e15bb42684c2ee27606de382a5f7b198a750b";

static void unhex(uint8_t *out, const char *hex, size_t outlen) {
  assert_int_equal(strlen(hex), 2 * outlen);
  for (size_t i = 0; i < outlen; ++i) {
    unsigned v;
    assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
    out[i] = (uint8_t)v;
  }
}

/* Deterministic rng: a counter stream, so runs are reproducible. */
static int counter_rng(void *ctx, uint8_t *buf, size_t len) {
  uint8_t *c = ctx;
  for (size_t i = 0; i < len; ++i) {
    buf[i] = (*c)++;
  }
  return 0;
}

static int failing_rng(void *ctx, uint8_t *buf, size_t len) {
  (void)ctx;
  (void)buf;
  (void)len;
  return DSB_ERR_CRYPTO_RNG;
}

static void vector_identity(dsb_identity *ident) {
  uint8_t seed[32], ssk[32];
  for (int i = 0; i < 32; ++i) {
    seed[i] = (uint8_t)i;
    ssk[i] = (uint8_t)(32 + i);
  }
  assert_int_equal(dsb_identity_from_secrets(ident, seed, ssk), 0);
}

static void generate_seeded(dsb_identity *ident, uint8_t start) {
  uint8_t ctr = start;
  dsb_rng rng = {counter_rng, &ctr};
  assert_int_equal(dsb_identity_generate(ident, &rng), 0);
}

static void test_vector_identity(void **state) {
  (void)state;
  dsb_identity ident;
  uint8_t want[64];
  char text[DSB_DEVICE_ID_TEXT_LEN + 1];

  vector_identity(&ident);
  unhex(want, vec_ed_pk, 32);
  assert_memory_equal(ident.proof.ed_pk, want, 32);
  unhex(want, vec_static_pk, 32);
  assert_memory_equal(ident.proof.static_pk, want, 32);
  unhex(want, vec_cert, 64);
  assert_memory_equal(ident.proof.cert, want, 64);
  dsb_device_id_format(text, &ident.id);
  assert_string_equal(text, vec_device_id);
  dsb_identity_wipe(&ident);
}

/* The value of |key| in tests/vectors/identity.hex ("key: value" lines). */
static void vector_field(const char *key, char *out, size_t outcap) {
  const char *src = getenv("DSB_SOURCE_DIR");
  char path[1024], line[512];
  size_t klen = strlen(key);
  FILE *fp;

  if (!src) {
    skip(); /* run outside CTest */
  }
  snprintf(path, sizeof(path), "%s/tests/vectors/identity.hex", src);
  fp = fopen(path, "r");
  assert_non_null(fp);
  while (fgets(line, sizeof(line), fp)) {
    if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
      const char *v = line + klen + 1;
      while (*v == ' ') {
        v++;
      }
      assert_true(strlen(v) < outcap);
      strcpy(out, v);
      out[strcspn(out, "\r\n")] = '\0';
      fclose(fp);
      return;
    }
  }
  fclose(fp);
  fail_msg("no %s in identity.hex", key);
}

static void test_vector_file(void **state) {
  (void)state;
  char hex[512];
  uint8_t seed[32], ssk[32], want[64];
  char text[DSB_DEVICE_ID_TEXT_LEN + 1];
  dsb_identity ident;

  vector_field("ed_seed", hex, sizeof(hex));
  unhex(seed, hex, 32);
  vector_field("static_sk", hex, sizeof(hex));
  unhex(ssk, hex, 32);
  assert_int_equal(dsb_identity_from_secrets(&ident, seed, ssk), 0);
  vector_field("ed_pk", hex, sizeof(hex));
  unhex(want, hex, 32);
  assert_memory_equal(ident.proof.ed_pk, want, 32);
  vector_field("static_pk", hex, sizeof(hex));
  unhex(want, hex, 32);
  assert_memory_equal(ident.proof.static_pk, want, 32);
  vector_field("cert", hex, sizeof(hex));
  unhex(want, hex, 64);
  assert_memory_equal(ident.proof.cert, want, 64);
  vector_field("device_id", hex, sizeof(hex));
  dsb_device_id_format(text, &ident.id);
  assert_string_equal(text, hex);

  /* The identity file image (include/dsb/keystore.h) of the same keys. */
  {
    uint8_t img[DSB_KEYSTORE_FILE_LEN], enc[DSB_KEYSTORE_FILE_LEN];
    dsb_identity back;
    vector_field("identity_file", hex, sizeof(hex));
    unhex(img, hex, sizeof(img));
    assert_int_equal(dsb_keystore_encode(enc, sizeof(enc), &ident),
                     DSB_KEYSTORE_FILE_LEN);
    assert_memory_equal(enc, img, sizeof(img));
    assert_int_equal(dsb_keystore_decode(&back, img, sizeof(img)), 0);
    assert_memory_equal(&back, &ident, sizeof(ident));
    dsb_identity_wipe(&back);
  }
  dsb_identity_wipe(&ident);
}

static void test_device_id_derive(void **state) {
  (void)state;
  uint8_t pk[32];
  dsb_device_id id, want;

  unhex(pk, vec_ed_pk, 32);
  assert_int_equal(dsb_device_id_derive(&id, pk), 0);
  assert_int_equal(dsb_device_id_parse(&want, vec_device_id, 32), 0);
  assert_true(dsb_device_id_eq(&id, &want));
  pk[31] ^= 1;
  assert_int_equal(dsb_device_id_derive(&id, pk), 0);
  assert_false(dsb_device_id_eq(&id, &want));
}

static void test_device_id_text_round_trip(void **state) {
  (void)state;
  dsb_device_id id, back;
  char text[DSB_DEVICE_ID_TEXT_LEN + 1];

  for (int i = 0; i < DSB_DEVICE_ID_LEN; ++i) {
    id.b[i] = (uint8_t)(0xf0 + i * 7);
  }
  dsb_device_id_format(text, &id);
  assert_int_equal(strlen(text), DSB_DEVICE_ID_TEXT_LEN);
  for (size_t i = 0; i < DSB_DEVICE_ID_TEXT_LEN; ++i) {
    assert_true((text[i] >= '0' && text[i] <= '9') ||
                (text[i] >= 'a' && text[i] <= 'f'));
  }
  assert_int_equal(dsb_device_id_parse(&back, text, strlen(text)), 0);
  assert_memory_equal(back.b, id.b, DSB_DEVICE_ID_LEN);
}

static void test_device_id_parse_upper_case(void **state) {
  (void)state;
  dsb_device_id a, b;
  assert_int_equal(
      dsb_device_id_parse(&a, "69307BE8EF34ABF26E91B943D0EC2C8D", 32), 0);
  assert_int_equal(dsb_device_id_parse(&b, vec_device_id, 32), 0);
  assert_true(dsb_device_id_eq(&a, &b));
}

static void test_reject_device_id_text_length(void **state) {
  (void)state;
  dsb_device_id id;
  memset(&id, 0xaa, sizeof(id));
  assert_int_equal(dsb_device_id_parse(&id, vec_device_id, 31),
                   DSB_ERR_MALFORMED);
  assert_int_equal(
      dsb_device_id_parse(&id, "69307be8ef34abf26e91b943d0ec2c8d0", 33),
      DSB_ERR_MALFORMED);
  assert_int_equal(dsb_device_id_parse(&id, "", 0), DSB_ERR_MALFORMED);
  assert_int_equal(dsb_device_id_parse(&id, NULL, 32), DSB_ERR_MALFORMED);
  for (size_t i = 0; i < sizeof(id.b); ++i) {
    assert_int_equal(id.b[i], 0xaa); /* untouched on failure */
  }
}

static void test_reject_device_id_text_bad_char(void **state) {
  (void)state;
  dsb_device_id id;
  char text[DSB_DEVICE_ID_TEXT_LEN + 1];
  const char bad[] = {'g', 'G', ' ', ':', '-', 'x', '\0', (char)0xc3};

  for (size_t pos = 0; pos < DSB_DEVICE_ID_TEXT_LEN; ++pos) {
    for (size_t k = 0; k < sizeof(bad); ++k) {
      memcpy(text, vec_device_id, sizeof(text));
      text[pos] = bad[k];
      assert_int_equal(dsb_device_id_parse(&id, text, DSB_DEVICE_ID_TEXT_LEN),
                       DSB_ERR_MALFORMED);
    }
  }
}

static void test_generate_deterministic_with_rng(void **state) {
  (void)state;
  dsb_identity a, b, c, rebuilt;

  generate_seeded(&a, 1);
  generate_seeded(&b, 1);
  generate_seeded(&c, 2);
  assert_memory_equal(&a, &b, sizeof(a));
  assert_memory_not_equal(a.proof.ed_pk, c.proof.ed_pk, 32);
  assert_memory_not_equal(a.static_sk, c.static_sk, 32);
  assert_memory_not_equal(a.ed_seed, a.static_sk, 32);

  /* The two secrets are all the state there is. */
  assert_int_equal(dsb_identity_from_secrets(&rebuilt, a.ed_seed, a.static_sk),
                   0);
  assert_memory_equal(&rebuilt, &a, sizeof(a));
  dsb_identity_wipe(&a);
  dsb_identity_wipe(&b);
  dsb_identity_wipe(&c);
  dsb_identity_wipe(&rebuilt);
}

static void test_generate_default_rng(void **state) {
  (void)state;
  dsb_identity a, b;
  dsb_device_id id;

  assert_int_equal(dsb_identity_generate(&a, NULL), 0);
  assert_int_equal(dsb_identity_generate(&b, NULL), 0);
  assert_memory_not_equal(a.ed_seed, b.ed_seed, 32);
  assert_int_equal(dsb_identity_proof_verify(&a.proof, &id), 0);
  assert_true(dsb_device_id_eq(&id, &a.id));
  dsb_identity_wipe(&a);
  dsb_identity_wipe(&b);
}

static void test_reject_generate_rng_failure(void **state) {
  (void)state;
  dsb_identity ident;
  dsb_rng rng = {failing_rng, NULL};

  memset(&ident, 0x55, sizeof(ident));
  assert_int_equal(dsb_identity_generate(&ident, &rng), DSB_ERR_CRYPTO_RNG);
  for (size_t i = 0; i < sizeof(ident.ed_seed); ++i) {
    assert_int_equal(ident.ed_seed[i], 0x55); /* untouched on failure */
  }
}

static void test_proof_verify(void **state) {
  (void)state;
  dsb_identity ident;
  dsb_device_id id;

  generate_seeded(&ident, 7);
  assert_int_equal(dsb_identity_proof_verify(&ident.proof, &id), 0);
  assert_true(dsb_device_id_eq(&id, &ident.id));
  dsb_identity_wipe(&ident);
}

static void test_reject_cert_signed_by_other_device_key(void **state) {
  (void)state;
  dsb_identity a, b;
  dsb_identity_proof forged;
  dsb_device_id id;

  generate_seeded(&a, 10);
  generate_seeded(&b, 20);
  /* B signs A's static key under A's device key name. */
  forged = a.proof;
  assert_int_equal(
      dsb_cert_sign(forged.cert, b.ed_seed, a.proof.ed_pk, a.proof.static_pk),
      0);
  memset(&id, 0xaa, sizeof(id));
  assert_int_equal(dsb_identity_proof_verify(&forged, &id),
                   DSB_ERR_IDENTITY_BAD_CERT);
  for (size_t i = 0; i < sizeof(id.b); ++i) {
    assert_int_equal(id.b[i], 0xaa); /* no id for a rejected proof */
  }
  /* B's genuine certificate presented with A's device key. */
  forged = b.proof;
  memcpy(forged.ed_pk, a.proof.ed_pk, 32);
  assert_int_equal(dsb_identity_proof_verify(&forged, &id),
                   DSB_ERR_IDENTITY_BAD_CERT);
  dsb_identity_wipe(&a);
  dsb_identity_wipe(&b);
}

static void test_reject_cert_over_other_static_key(void **state) {
  (void)state;
  dsb_identity a, b;
  dsb_identity_proof forged;
  dsb_device_id id;

  generate_seeded(&a, 30);
  generate_seeded(&b, 40);
  /* A man in the middle keeps A's key and certificate but offers its own
   * Noise static key. */
  forged = a.proof;
  memcpy(forged.static_pk, b.proof.static_pk, 32);
  assert_int_equal(dsb_identity_proof_verify(&forged, &id),
                   DSB_ERR_IDENTITY_BAD_CERT);
  dsb_identity_wipe(&a);
  dsb_identity_wipe(&b);
}

static void test_reject_device_id_not_matching(void **state) {
  (void)state;
  dsb_identity a, b;
  dsb_identity_proof forged;
  dsb_device_id id;
  uint8_t msg[32 + 32 + 16];

  generate_seeded(&a, 50);
  generate_seeded(&b, 60);
  /* A correctly formed signature by A, but over B's device id: the
   * verifier recomputes the id from the key, so this cannot pass. */
  assert_int_equal(sizeof(DSB_CERT_LABEL) - 1, 32);
  memcpy(msg, DSB_CERT_LABEL, 32);
  memcpy(msg + 32, a.proof.static_pk, 32);
  memcpy(msg + 64, b.id.b, 16);
  forged = a.proof;
  assert_int_equal(dsb_ed25519_sign(forged.cert, a.ed_seed, msg, sizeof(msg)),
                   0);
  assert_int_equal(dsb_identity_proof_verify(&forged, &id),
                   DSB_ERR_IDENTITY_BAD_CERT);

  /* The same bytes over A's own id are exactly A's certificate. */
  memcpy(msg + 64, a.id.b, 16);
  assert_int_equal(dsb_ed25519_sign(forged.cert, a.ed_seed, msg, sizeof(msg)),
                   0);
  assert_memory_equal(forged.cert, a.proof.cert, 64);

  /* A valid proof of A never yields B's id. */
  assert_int_equal(dsb_identity_proof_verify(&a.proof, &id), 0);
  assert_false(dsb_device_id_eq(&id, &b.id));
  dsb_identity_wipe(&a);
  dsb_identity_wipe(&b);
}

static void test_reject_every_bit_flip_of_proof(void **state) {
  (void)state;
  dsb_identity a;
  dsb_device_id id;
  uint8_t *raw;

  generate_seeded(&a, 70);
  _Static_assert(sizeof(dsb_identity_proof) == 128, "packed proof");
  for (size_t byte = 0; byte < sizeof(dsb_identity_proof); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      dsb_identity_proof p = a.proof;
      raw = (uint8_t *)&p;
      raw[byte] ^= (uint8_t)(1u << bit);
      assert_int_equal(dsb_identity_proof_verify(&p, &id),
                       DSB_ERR_IDENTITY_BAD_CERT);
    }
  }
  dsb_identity_wipe(&a);
}

static void test_reject_null_arguments(void **state) {
  (void)state;
  dsb_identity a;
  dsb_device_id id;

  generate_seeded(&a, 80);
  assert_int_equal(dsb_identity_proof_verify(NULL, &id),
                   DSB_ERR_INVALID_ARGUMENT);
  assert_int_equal(dsb_identity_proof_verify(&a.proof, NULL),
                   DSB_ERR_INVALID_ARGUMENT);
  assert_int_equal(dsb_identity_generate(NULL, NULL), DSB_ERR_INVALID_ARGUMENT);
  assert_int_equal(dsb_device_id_derive(NULL, a.proof.ed_pk),
                   DSB_ERR_INVALID_ARGUMENT);
  dsb_identity_wipe(&a);
}

static void test_identity_wipe(void **state) {
  (void)state;
  dsb_identity a;
  const uint8_t *raw = (const uint8_t *)&a;

  generate_seeded(&a, 90);
  dsb_identity_wipe(&a);
  for (size_t i = 0; i < sizeof(a); ++i) {
    assert_int_equal(raw[i], 0);
  }
  dsb_identity_wipe(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vector_identity),
      cmocka_unit_test(test_vector_file),
      cmocka_unit_test(test_device_id_derive),
      cmocka_unit_test(test_device_id_text_round_trip),
      cmocka_unit_test(test_device_id_parse_upper_case),
      cmocka_unit_test(test_reject_device_id_text_length),
      cmocka_unit_test(test_reject_device_id_text_bad_char),
      cmocka_unit_test(test_generate_deterministic_with_rng),
      cmocka_unit_test(test_generate_default_rng),
      cmocka_unit_test(test_reject_generate_rng_failure),
      cmocka_unit_test(test_proof_verify),
      cmocka_unit_test(test_reject_cert_signed_by_other_device_key),
      cmocka_unit_test(test_reject_cert_over_other_static_key),
      cmocka_unit_test(test_reject_device_id_not_matching),
      cmocka_unit_test(test_reject_every_bit_flip_of_proof),
      cmocka_unit_test(test_reject_null_arguments),
      cmocka_unit_test(test_identity_wipe),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
