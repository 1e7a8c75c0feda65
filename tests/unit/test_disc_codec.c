/* test_disc_codec.c - discovery announcement/query codec: golden vectors,
 * round trips and every reject path of the decoders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dsb/disc.h"
#include "dsb/err.h"

/* ---- helpers ------------------------------------------------------------- */

#define VEC_MAX_FIELDS 24
#define VEC_VALUE_MAX 2600

typedef struct vec_field {
  char key[32];
  char value[VEC_VALUE_MAX];
} vec_field;

typedef struct vec_file {
  vec_field f[VEC_MAX_FIELDS];
  size_t n;
} vec_file;

/* Reads "key: value" lines of tests/vectors/<name>; '#' starts a comment. */
static void vec_load(vec_file *v, const char *name) {
  const char *src = getenv("DSB_SOURCE_DIR");
  char path[1024];
  char line[VEC_VALUE_MAX + 64];
  if (!src) {
    skip();
  }
  snprintf(path, sizeof(path), "%s/tests/vectors/%s", src, name);
  FILE *fp = fopen(path, "r");
  assert_non_null(fp);
  memset(v, 0, sizeof(*v));
  while (fgets(line, sizeof(line), fp)) {
    char *colon = strchr(line, ':');
    if (line[0] == '#' || !colon) {
      continue;
    }
    assert_true(v->n < VEC_MAX_FIELDS);
    *colon = '\0';
    char *val = colon + 1;
    while (*val == ' ') {
      ++val;
    }
    val[strcspn(val, "\r\n")] = '\0';
    assert_true(strlen(line) < sizeof(v->f[v->n].key));
    assert_true(strlen(val) < sizeof(v->f[v->n].value));
    memcpy(v->f[v->n].key, line, strlen(line) + 1);
    memcpy(v->f[v->n].value, val, strlen(val) + 1);
    v->n++;
  }
  fclose(fp);
}

/* The |nth| (0-based) value of |key|, or NULL. */
static const char *vec_get(const vec_file *v, const char *key, size_t nth) {
  for (size_t i = 0; i < v->n; ++i) {
    if (strcmp(v->f[i].key, key) == 0 && nth-- == 0) {
      return v->f[i].value;
    }
  }
  return NULL;
}

static size_t unhex(uint8_t *out, size_t outcap, const char *hex) {
  size_t n = strlen(hex);
  assert_int_equal(n % 2, 0);
  assert_true(n / 2 <= outcap);
  for (size_t i = 0; i < n / 2; ++i) {
    unsigned int b;
    assert_int_equal(sscanf(hex + 2 * i, "%2x", &b), 1);
    out[i] = (uint8_t)b;
  }
  return n / 2;
}

/* A fixed identity: seeds 00..1f and 20..3f (as in the vectors). */
static void fixed_identity(dsb_identity *id, uint8_t base) {
  uint8_t seed[32], ssk[32];
  for (int i = 0; i < 32; ++i) {
    seed[i] = (uint8_t)(base + i);
    ssk[i] = (uint8_t)(base + 0x20 + i);
  }
  assert_int_equal(dsb_identity_from_secrets(id, seed, ssk), 0);
}

static void sample_announce(dsb_disc_announce *a) {
  dsb_disc_announce_init(a);
  assert_int_equal(dsb_disc_announce_set_name(a, "node", 4), 0);
  a->session_port = 4242;
  a->seq = 1000;
  a->ttl_s = 30;
  assert_int_equal(dsb_disc_announce_add_service(a, "echo", 4), 0);
}

static size_t encode_sample(uint8_t *buf, size_t cap, dsb_identity *id) {
  dsb_disc_announce a;
  sample_announce(&a);
  long n = dsb_disc_announce_encode(buf, cap, &a, id);
  assert_true(n > 0);
  return (size_t)n;
}

/* ---- golden vectors ------------------------------------------------------ */

static void check_announce_vector(const char *file) {
  vec_file v;
  uint8_t seed[32], ssk[32], msg[DSB_DISC_MAX_DATAGRAM], out[1300];
  uint8_t name[128];
  dsb_identity id;
  dsb_disc_announce dec, enc;

  vec_load(&v, file);
  assert_int_equal(unhex(seed, 32, vec_get(&v, "ed_seed", 0)), 32);
  assert_int_equal(unhex(ssk, 32, vec_get(&v, "static_sk", 0)), 32);
  assert_int_equal(dsb_identity_from_secrets(&id, seed, ssk), 0);
  size_t msglen = unhex(msg, sizeof(msg), vec_get(&v, "message", 0));
  size_t namelen = unhex(name, sizeof(name), vec_get(&v, "name", 0));

  /* Decode: every field equals the inputs. */
  assert_int_equal(dsb_disc_announce_decode(&dec, msg, msglen), 0);
  assert_memory_equal(dec.id.b, id.id.b, DSB_DEVICE_ID_LEN);
  assert_memory_equal(&dec.proof, &id.proof, sizeof(id.proof));
  assert_int_equal(dec.session_port,
                   strtoul(vec_get(&v, "session_port", 0), NULL, 10));
  assert_int_equal(dec.seq, strtoull(vec_get(&v, "seq", 0), NULL, 10));
  assert_int_equal(dec.ttl_s, strtoul(vec_get(&v, "ttl_s", 0), NULL, 10));
  assert_int_equal(dec.name_len, namelen);
  assert_memory_equal(dec.name, name, namelen);
  size_t ns = 0;
  while (vec_get(&v, "service", ns)) {
    const char *s = vec_get(&v, "service", ns);
    assert_int_equal(dec.service_len[ns], strlen(s));
    assert_string_equal(dec.services[ns], s);
    ++ns;
  }
  assert_int_equal(dec.nservices, ns);

  /* Re-encode from the inputs: byte-identical. */
  dsb_disc_announce_init(&enc);
  assert_int_equal(
      dsb_disc_announce_set_name(&enc, (const char *)name, namelen), 0);
  enc.session_port = dec.session_port;
  enc.seq = dec.seq;
  enc.ttl_s = dec.ttl_s;
  for (size_t i = 0; i < ns; ++i) {
    const char *s = vec_get(&v, "service", i);
    assert_int_equal(dsb_disc_announce_add_service(&enc, s, strlen(s)), 0);
  }
  long n = dsb_disc_announce_encode(out, sizeof(out), &enc, &id);
  assert_int_equal(n, (long)msglen);
  assert_memory_equal(out, msg, msglen);
  dsb_identity_wipe(&id);
}

static void test_vector_announce(void **state) {
  (void)state;
  check_announce_vector("disc_announce.hex");
}

static void test_vector_goodbye(void **state) {
  (void)state;
  check_announce_vector("disc_goodbye.hex");
}

static void test_vector_query(void **state) {
  (void)state;
  vec_file v;
  uint8_t msg[128], out[128];
  dsb_disc_query q, q2;

  vec_load(&v, "disc_query.hex");
  size_t msglen = unhex(msg, sizeof(msg), vec_get(&v, "message", 0));
  assert_int_equal(dsb_disc_query_decode(&q, msg, msglen), 0);
  uint8_t nonce[8];
  unhex(nonce, 8, vec_get(&v, "nonce", 0));
  assert_memory_equal(q.nonce, nonce, 8);
  assert_string_equal(q.service, vec_get(&v, "service", 0));
  memset(&q2, 0, sizeof(q2));
  memcpy(q2.nonce, nonce, 8);
  q2.service_len = (uint8_t)strlen(vec_get(&v, "service", 0));
  memcpy(q2.service, vec_get(&v, "service", 0), q2.service_len);
  assert_int_equal(dsb_disc_query_encode(out, sizeof(out), &q2), (long)msglen);
  assert_memory_equal(out, msg, msglen);
  assert_int_equal(dsb_disc_peek_type(msg, msglen), DSB_DISC_TYPE_QUERY);
}

/* ---- round trips --------------------------------------------------------- */

static void test_round_trip_largest(void **state) {
  (void)state;
  dsb_identity id;
  dsb_disc_announce a, d;
  uint8_t buf[DSB_DISC_MAX_DATAGRAM];
  char svc[DSB_DISC_SERVICE_NAME_MAX + 1];

  fixed_identity(&id, 0x40);
  dsb_disc_announce_init(&a);
  char name[DSB_DISC_NAME_MAX];
  memset(name, 'n', sizeof(name));
  assert_int_equal(dsb_disc_announce_set_name(&a, name, sizeof(name)), 0);
  a.session_port = 65535;
  a.seq = UINT64_MAX - 1;
  a.ttl_s = 65535;
  /* 16 services, as long as the 1200-byte cap allows. */
  size_t room = DSB_DISC_MAX_DATAGRAM - DSB_DISC_ANNOUNCE_MIN_LEN -
                sizeof(name) - DSB_DISC_MAX_SERVICES;
  for (int i = 0; i < DSB_DISC_MAX_SERVICES; ++i) {
    size_t len = room / DSB_DISC_MAX_SERVICES;
    memset(svc, 'a' + i, len);
    assert_int_equal(dsb_disc_announce_add_service(&a, svc, len), 0);
  }
  long n = dsb_disc_announce_encode(buf, sizeof(buf), &a, &id);
  assert_true(n > 1150 && n <= DSB_DISC_MAX_DATAGRAM);
  assert_int_equal(dsb_disc_peek_type(buf, (size_t)n), DSB_DISC_TYPE_ANNOUNCE);
  assert_int_equal(dsb_disc_announce_decode(&d, buf, (size_t)n), 0);
  assert_int_equal(d.nservices, DSB_DISC_MAX_SERVICES);
  assert_int_equal(d.seq, a.seq);
  assert_int_equal(d.ttl_s, 65535);
  assert_memory_equal(d.name, a.name, sizeof(name));
  assert_memory_equal(d.services, a.services, sizeof(a.services));
  assert_true(dsb_disc_announce_offers(&d, svc, room / DSB_DISC_MAX_SERVICES));
  assert_false(dsb_disc_announce_offers(&d, "echo", 4));

  /* NOBUF one byte short. */
  assert_int_equal(dsb_disc_announce_encode(buf, (size_t)n - 1, &a, &id),
                   DSB_ERR_NOBUF);
  dsb_identity_wipe(&id);
}

static void test_round_trip_minimal_and_query_everyone(void **state) {
  (void)state;
  dsb_identity id;
  dsb_disc_announce a, d;
  dsb_disc_query q, dq;
  uint8_t buf[DSB_DISC_MAX_DATAGRAM];

  fixed_identity(&id, 0x01);
  dsb_disc_announce_init(&a);
  long n = dsb_disc_announce_encode(buf, sizeof(buf), &a, &id);
  assert_int_equal(n, DSB_DISC_ANNOUNCE_MIN_LEN);
  assert_int_equal(dsb_disc_announce_decode(&d, buf, (size_t)n), 0);
  assert_int_equal(d.name_len, 0);
  assert_int_equal(d.nservices, 0);

  memset(&q, 0, sizeof(q));
  n = dsb_disc_query_encode(buf, sizeof(buf), &q);
  assert_int_equal(n, DSB_DISC_QUERY_MIN_LEN);
  assert_int_equal(dsb_disc_query_decode(&dq, buf, (size_t)n), 0);
  assert_int_equal(dq.service_len, 0);
  assert_int_equal(dsb_disc_query_encode(buf, DSB_DISC_QUERY_MIN_LEN - 1, &q),
                   DSB_ERR_NOBUF);
  dsb_identity_wipe(&id);
}

/* ---- rejects: cryptography ----------------------------------------------- */

static void test_reject_bad_signature(void **state) {
  (void)state;
  dsb_identity id;
  dsb_disc_announce d;
  uint8_t buf[DSB_DISC_MAX_DATAGRAM];
  fixed_identity(&id, 0x02);
  size_t n = encode_sample(buf, sizeof(buf), &id);

  /* A flipped bit in the signature itself. */
  buf[n - 1] ^= 0x01;
  assert_int_equal(dsb_disc_announce_decode(&d, buf, n),
                   DSB_ERR_DISC_BAD_SIGNATURE);
  buf[n - 1] ^= 0x01;
  /* A changed signed field: session port (redirect attempt), seq, TTL,
   * name and service bytes. */
  const size_t offsets[] = {146, 148, 155, 156, 159, n - 65};
  for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); ++i) {
    buf[offsets[i]] ^= 0x04;
    assert_int_equal(dsb_disc_announce_decode(&d, buf, n),
                     DSB_ERR_DISC_BAD_SIGNATURE);
    buf[offsets[i]] ^= 0x04;
  }
  assert_int_equal(dsb_disc_announce_decode(&d, buf, n), 0);
  dsb_identity_wipe(&id);
}

static void test_reject_signed_by_other_key(void **state) {
  (void)state;
  dsb_identity a, b;
  dsb_disc_announce d;
  uint8_t buf[DSB_DISC_MAX_DATAGRAM];
  fixed_identity(&a, 0x03);
  fixed_identity(&b, 0x04);
  /* Proof of A, signature by B's key. */
  memcpy(b.proof.ed_pk, a.proof.ed_pk, 32);
  memcpy(b.proof.static_pk, a.proof.static_pk, 32);
  memcpy(b.proof.cert, a.proof.cert, 64);
  b.id = a.id;
  size_t n = encode_sample(buf, sizeof(buf), &b);
  assert_int_equal(dsb_disc_announce_decode(&d, buf, n),
                   DSB_ERR_DISC_BAD_SIGNATURE);
  dsb_identity_wipe(&a);
  dsb_identity_wipe(&b);
}

static void test_reject_cert_mismatch(void **state) {
  (void)state;
  dsb_identity id, other;
  dsb_disc_announce d;
  uint8_t buf[DSB_DISC_MAX_DATAGRAM];
  fixed_identity(&id, 0x05);
  fixed_identity(&other, 0x06);

  /* Another static key under this device's certificate. */
  memcpy(id.proof.static_pk, other.proof.static_pk, 32);
  size_t n = encode_sample(buf, sizeof(buf), &id);
  assert_int_equal(dsb_disc_announce_decode(&d, buf, n), DSB_ERR_DISC_BAD_CERT);

  /* A certificate made by another device key. */
  fixed_identity(&id, 0x05);
  memcpy(id.proof.cert, other.proof.cert, 64);
  n = encode_sample(buf, sizeof(buf), &id);
  assert_int_equal(dsb_disc_announce_decode(&d, buf, n), DSB_ERR_DISC_BAD_CERT);
  dsb_identity_wipe(&id);
  dsb_identity_wipe(&other);
}

static void test_reject_device_id_not_derived(void **state) {
  (void)state;
  dsb_identity id, other;
  dsb_disc_announce d;
  uint8_t buf[DSB_DISC_MAX_DATAGRAM];
  fixed_identity(&id, 0x07);
  fixed_identity(&other, 0x08);
  /* Valid keys, cert and signature, but the id of another device. */
  id.id = other.id;
  size_t n = encode_sample(buf, sizeof(buf), &id);
  assert_int_equal(dsb_disc_announce_decode(&d, buf, n),
                   DSB_ERR_DISC_BAD_DEVICE_ID);
  /* Structure alone is fine: the reject comes from verification. */
  assert_int_equal(dsb_disc_announce_parse(&d, buf, n), 0);
  dsb_identity_wipe(&id);
  dsb_identity_wipe(&other);
}

/* ---- rejects: structure -------------------------------------------------- */

static void test_reject_truncated(void **state) {
  (void)state;
  dsb_identity id;
  dsb_disc_announce d;
  dsb_disc_query q;
  uint8_t buf[DSB_DISC_MAX_DATAGRAM];
  fixed_identity(&id, 0x09);
  size_t n = encode_sample(buf, sizeof(buf), &id);
  /* Every proper prefix. */
  for (size_t len = 0; len < n; ++len) {
    assert_int_equal(dsb_disc_announce_decode(&d, buf, len),
                     DSB_ERR_DISC_TRUNCATED);
  }
  memset(&q, 0, sizeof(q));
  memcpy(q.service, "svc", 3);
  q.service_len = 3;
  long qn = dsb_disc_query_encode(buf, sizeof(buf), &q);
  assert_true(qn > 0);
  for (size_t len = 0; len < (size_t)qn; ++len) {
    assert_int_equal(dsb_disc_query_decode(&q, buf, len),
                     DSB_ERR_DISC_TRUNCATED);
  }
  dsb_identity_wipe(&id);
}

static void test_reject_trailing_bytes(void **state) {
  (void)state;
  dsb_identity id;
  dsb_disc_announce d;
  dsb_disc_query q;
  uint8_t buf[DSB_DISC_MAX_DATAGRAM];
  fixed_identity(&id, 0x0a);
  size_t n = encode_sample(buf, sizeof(buf), &id);
  buf[n] = 0;
  assert_int_equal(dsb_disc_announce_decode(&d, buf, n + 1),
                   DSB_ERR_DISC_MALFORMED);
  memset(&q, 0, sizeof(q));
  long qn = dsb_disc_query_encode(buf, sizeof(buf), &q);
  buf[qn] = 'x';
  assert_int_equal(dsb_disc_query_decode(&q, buf, (size_t)qn + 1),
                   DSB_ERR_DISC_MALFORMED);
  dsb_identity_wipe(&id);
}

static void test_reject_oversize(void **state) {
  (void)state;
  dsb_identity id;
  dsb_disc_announce a, d;
  dsb_disc_query q;
  uint8_t buf[DSB_DISC_MAX_DATAGRAM + 1];
  char svc[DSB_DISC_SERVICE_NAME_MAX];

  fixed_identity(&id, 0x0b);
  size_t n = encode_sample(buf, sizeof(buf), &id);
  (void)n;
  memset(buf + n, 0, sizeof(buf) - n);
  assert_int_equal(dsb_disc_announce_decode(&d, buf, sizeof(buf)),
                   DSB_ERR_DISC_OVERSIZE);
  assert_int_equal(dsb_disc_query_decode(&q, buf, sizeof(buf)),
                   DSB_ERR_DISC_OVERSIZE);
  assert_int_equal(dsb_disc_peek_type(buf, sizeof(buf)), DSB_ERR_DISC_OVERSIZE);

  /* Within every per-field cap, over the datagram cap: the encoder
   * refuses instead of producing what receivers would drop. */
  dsb_disc_announce_init(&a);
  for (int i = 0; i < DSB_DISC_MAX_SERVICES; ++i) {
    memset(svc, 'a' + i, sizeof(svc));
    assert_int_equal(dsb_disc_announce_add_service(&a, svc, sizeof(svc)), 0);
  }
  assert_int_equal(dsb_disc_announce_encode(buf, sizeof(buf), &a, &id),
                   DSB_ERR_DISC_OVERSIZE);
  dsb_identity_wipe(&id);
}

/* A structurally crafted announcement (no valid signature needed: the
 * structural rejects come first). Returns its length. */
static size_t craft(uint8_t *buf, uint8_t name_len, uint8_t nservices,
                    uint8_t svc_len) {
  size_t off = 0;
  memset(buf, 0, DSB_DISC_MAX_DATAGRAM);
  buf[0] = DSB_DISC_VERSION;
  buf[1] = DSB_DISC_TYPE_ANNOUNCE;
  off = DSB_DISC_ANNOUNCE_FIXED_LEN;
  buf[off++] = name_len;
  memset(buf + off, 'n', name_len);
  off += name_len;
  buf[off++] = nservices;
  for (int i = 0; i < nservices && off + 1 + svc_len < 1100; ++i) {
    buf[off++] = svc_len;
    memset(buf + off, 's', svc_len);
    off += svc_len;
  }
  return off + 64;
}

static void test_reject_too_many_services(void **state) {
  (void)state;
  dsb_disc_announce a, d;
  uint8_t buf[DSB_DISC_MAX_DATAGRAM];
  size_t n = craft(buf, 1, DSB_DISC_MAX_SERVICES + 1, 1);
  assert_int_equal(dsb_disc_announce_parse(&d, buf, n),
                   DSB_ERR_DISC_TOO_MANY_SERVICES);
  n = craft(buf, 1, 255, 1);
  assert_int_equal(dsb_disc_announce_decode(&d, buf, n),
                   DSB_ERR_DISC_TOO_MANY_SERVICES);
  /* Exactly the cap parses. */
  n = craft(buf, 1, DSB_DISC_MAX_SERVICES, 1);
  assert_int_equal(dsb_disc_announce_parse(&d, buf, n), 0);

  dsb_disc_announce_init(&a);
  char svc[3] = "s0";
  for (int i = 0; i < DSB_DISC_MAX_SERVICES; ++i) {
    svc[1] = (char)('a' + i);
    assert_int_equal(dsb_disc_announce_add_service(&a, svc, 2), 0);
  }
  assert_int_equal(dsb_disc_announce_add_service(&a, "zz", 2),
                   DSB_ERR_DISC_TOO_MANY_SERVICES);
}

static void test_reject_name_too_long(void **state) {
  (void)state;
  dsb_disc_announce a, d;
  dsb_disc_query q;
  uint8_t buf[DSB_DISC_MAX_DATAGRAM];
  char long_name[DSB_DISC_NAME_MAX + 1];
  memset(long_name, 'x', sizeof(long_name));

  size_t n = craft(buf, DSB_DISC_NAME_MAX + 1, 0, 0);
  assert_int_equal(dsb_disc_announce_decode(&d, buf, n),
                   DSB_ERR_DISC_NAME_TOO_LONG);
  n = craft(buf, 4, 1, DSB_DISC_SERVICE_NAME_MAX + 1);
  assert_int_equal(dsb_disc_announce_decode(&d, buf, n),
                   DSB_ERR_DISC_NAME_TOO_LONG);
  n = craft(buf, DSB_DISC_NAME_MAX, 1, DSB_DISC_SERVICE_NAME_MAX);
  assert_int_equal(dsb_disc_announce_parse(&d, buf, n), 0);

  dsb_disc_announce_init(&a);
  assert_int_equal(dsb_disc_announce_set_name(&a, long_name, sizeof(long_name)),
                   DSB_ERR_DISC_NAME_TOO_LONG);
  assert_int_equal(
      dsb_disc_announce_add_service(&a, long_name, sizeof(long_name)),
      DSB_ERR_DISC_NAME_TOO_LONG);

  /* Query for an over-long service name. */
  buf[0] = DSB_DISC_VERSION;
  buf[1] = DSB_DISC_TYPE_QUERY;
  buf[10] = DSB_DISC_SERVICE_NAME_MAX + 1;
  memset(buf + 11, 'q', DSB_DISC_SERVICE_NAME_MAX + 1);
  assert_int_equal(
      dsb_disc_query_decode(&q, buf, 11 + DSB_DISC_SERVICE_NAME_MAX + 1),
      DSB_ERR_DISC_NAME_TOO_LONG);
  memset(&q, 0, sizeof(q));
  q.service_len = DSB_DISC_SERVICE_NAME_MAX + 1;
  assert_int_equal(dsb_disc_query_encode(buf, sizeof(buf), &q),
                   DSB_ERR_DISC_NAME_TOO_LONG);
}

static void test_reject_unknown_version(void **state) {
  (void)state;
  dsb_identity id;
  dsb_disc_announce d;
  dsb_disc_query q;
  uint8_t buf[DSB_DISC_MAX_DATAGRAM];
  fixed_identity(&id, 0x0c);
  size_t n = encode_sample(buf, sizeof(buf), &id);
  const uint8_t bad[] = {0, 2, 0x81, 0xff};
  for (size_t i = 0; i < sizeof(bad); ++i) {
    buf[0] = bad[i];
    assert_int_equal(dsb_disc_announce_decode(&d, buf, n),
                     DSB_ERR_DISC_VERSION);
    assert_int_equal(dsb_disc_query_decode(&q, buf, n), DSB_ERR_DISC_VERSION);
    assert_int_equal(dsb_disc_peek_type(buf, n), DSB_ERR_DISC_VERSION);
  }
  dsb_identity_wipe(&id);
}

static void test_reject_unknown_type(void **state) {
  (void)state;
  dsb_identity id;
  dsb_disc_announce d;
  dsb_disc_query q;
  uint8_t buf[DSB_DISC_MAX_DATAGRAM];
  fixed_identity(&id, 0x0d);
  size_t n = encode_sample(buf, sizeof(buf), &id);
  /* An announcement is not a query and vice versa. */
  assert_int_equal(dsb_disc_query_decode(&q, buf, n), DSB_ERR_DISC_MALFORMED);
  buf[1] = 0x03;
  assert_int_equal(dsb_disc_peek_type(buf, n), DSB_ERR_DISC_MALFORMED);
  assert_int_equal(dsb_disc_announce_decode(&d, buf, n),
                   DSB_ERR_DISC_MALFORMED);
  dsb_identity_wipe(&id);
}

static void test_reject_bad_text(void **state) {
  (void)state;
  dsb_disc_announce a, d;
  dsb_disc_query q;
  uint8_t buf[DSB_DISC_MAX_DATAGRAM];

  dsb_disc_announce_init(&a);
  /* Display names: valid UTF-8 without control characters. */
  static const char *const bad_names[] = {
      "a\nb",             /* C0 control: forged log lines */
      "a\x1b[2J",         /* terminal escape */
      "\xc0\xaf",         /* overlong '/' */
      "\xed\xa0\x80",     /* surrogate */
      "\xf4\x90\x80\x80", /* above U+10FFFF */
      "\xc2\x85",         /* C1 control (NEL) */
      "\xe2\x82",         /* cut sequence */
      "\xff"};
  for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); ++i) {
    assert_int_equal(
        dsb_disc_announce_set_name(&a, bad_names[i], strlen(bad_names[i])),
        DSB_ERR_DISC_MALFORMED);
  }
  const char *nul_name = "a\0b";
  assert_int_equal(dsb_disc_announce_set_name(&a, nul_name, 3),
                   DSB_ERR_DISC_MALFORMED);
  assert_int_equal(
      dsb_disc_announce_set_name(&a, "caf\xc3\xa9 \xf0\x9f\x8d\xb5", 10), 0);
  /* Service names: printable ASCII, no space, not empty, no duplicates. */
  assert_int_equal(dsb_disc_announce_add_service(&a, "a b", 3),
                   DSB_ERR_DISC_MALFORMED);
  assert_int_equal(dsb_disc_announce_add_service(&a, "", 0),
                   DSB_ERR_DISC_MALFORMED);
  assert_int_equal(dsb_disc_announce_add_service(&a, "x", 1), 0);
  assert_int_equal(dsb_disc_announce_add_service(&a, "x", 1), DSB_ERR_EXISTS);

  /* On the wire: a control character in the name, a space in a service
   * name, an empty service name. */
  size_t n = craft(buf, 3, 0, 0);
  buf[DSB_DISC_ANNOUNCE_FIXED_LEN + 2] = '\r';
  assert_int_equal(dsb_disc_announce_decode(&d, buf, n),
                   DSB_ERR_DISC_MALFORMED);
  n = craft(buf, 0, 1, 3);
  buf[DSB_DISC_ANNOUNCE_FIXED_LEN + 3] = ' ';
  assert_int_equal(dsb_disc_announce_decode(&d, buf, n),
                   DSB_ERR_DISC_MALFORMED);
  n = craft(buf, 0, 1, 0);
  assert_int_equal(dsb_disc_announce_decode(&d, buf, n),
                   DSB_ERR_DISC_MALFORMED);
  const uint8_t qbad[] = {1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 2, 'a', 0};
  assert_int_equal(dsb_disc_query_decode(&q, qbad, sizeof(qbad)),
                   DSB_ERR_DISC_MALFORMED);
}

static void test_reject_verify_short_input(void **state) {
  (void)state;
  dsb_disc_announce d;
  uint8_t buf[DSB_DISC_ANNOUNCE_MIN_LEN];
  memset(&d, 0, sizeof(d));
  memset(buf, 0, sizeof(buf));
  assert_int_equal(dsb_disc_announce_verify(&d, buf, sizeof(buf) - 1),
                   DSB_ERR_DISC_MALFORMED);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vector_announce),
      cmocka_unit_test(test_vector_goodbye),
      cmocka_unit_test(test_vector_query),
      cmocka_unit_test(test_round_trip_largest),
      cmocka_unit_test(test_round_trip_minimal_and_query_everyone),
      cmocka_unit_test(test_reject_bad_signature),
      cmocka_unit_test(test_reject_signed_by_other_key),
      cmocka_unit_test(test_reject_cert_mismatch),
      cmocka_unit_test(test_reject_device_id_not_derived),
      cmocka_unit_test(test_reject_truncated),
      cmocka_unit_test(test_reject_trailing_bytes),
      cmocka_unit_test(test_reject_oversize),
      cmocka_unit_test(test_reject_too_many_services),
      cmocka_unit_test(test_reject_name_too_long),
      cmocka_unit_test(test_reject_unknown_version),
      cmocka_unit_test(test_reject_unknown_type),
      cmocka_unit_test(test_reject_bad_text),
      cmocka_unit_test(test_reject_verify_short_input),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
