/*
 * policy.c - remote-call policy: loading from JSON, evaluation, explanation
 * (include/dsb/policy.h, docs/SECURITY.md "Policy").
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "dsb/err.h"
#include "dsb/policy.h"
#include "dsb/rpc.h"

#define POLICY_JSON_DEPTH 8
#define POLICY_DEVICE_HEX 32

struct dsb_policy {
  const dsb_mem *mem;
  size_t nrules;
  char source[DSB_POLICY_SOURCE_MAX + 1];
  dsb_policy_rule rules[]; /* nrules */
};

static int policy_alloc(dsb_policy **pp, const dsb_mem *mem, size_t nrules,
                        const char *source) {
  /* nrules <= DSB_POLICY_MAX_RULES: no overflow. */
  dsb_policy *p =
      dsb_mem_calloc(mem, 1, sizeof(*p) + nrules * sizeof(dsb_policy_rule));
  if (!p) {
    return DSB_ERR_NOMEM;
  }
  p->mem = mem;
  p->nrules = nrules;
  snprintf(p->source, sizeof(p->source), "%s", source);
  *pp = p;
  return 0;
}

void dsb_policy_del(dsb_policy *policy) {
  if (!policy) {
    return;
  }
  dsb_mem_free(policy->mem, policy);
}

static void policy_rule_set(dsb_policy_rule *r, dsb_policy_peer_kind kind,
                            const char *service, const char *method) {
  memset(r, 0, sizeof(*r));
  r->peer_kind = kind;
  snprintf(r->service, sizeof(r->service), "%s", service);
  snprintf(r->method, sizeof(r->method), "%s", method);
}

int dsb_policy_new_default(dsb_policy **ppolicy, const dsb_mem *mem) {
  dsb_policy *p;
  if (!ppolicy) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  mem = mem ? mem : dsb_mem_default();
  int rv = policy_alloc(&p, mem, 3, "default");
  if (rv != 0) {
    return rv;
  }
  policy_rule_set(&p->rules[0], DSB_POLICY_PEER_GROUP_TRUSTED, "samgr", "list");
  policy_rule_set(&p->rules[1], DSB_POLICY_PEER_GROUP_TRUSTED, "samgr",
                  "resolve");
  policy_rule_set(&p->rules[2], DSB_POLICY_PEER_GROUP_TRUSTED, "echo", "*");
  *ppolicy = p;
  return 0;
}

/* ---- loading -------------------------------------------------------------
 */

typedef struct policy_loader {
  const char *source;
  char *errbuf;
  size_t errlen;
} policy_loader;

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 3, 4)))
#endif
static int
policy_fail(const policy_loader *ld, const char *field, const char *fmt, ...) {
  if (ld->errbuf && ld->errlen > 0) {
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (field && field[0]) {
      snprintf(ld->errbuf, ld->errlen, "%s: %s: %s", ld->source, field, what);
    } else {
      snprintf(ld->errbuf, ld->errlen, "%s: %s", ld->source, what);
    }
  }
  return DSB_ERR_PROXY_POLICY_INVALID;
}

static int policy_hexval(char c) {
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

static int policy_parse_peer(dsb_policy_rule *r, const char *s, size_t len) {
  if ((len == 3 && memcmp(s, "any", 3) == 0) || (len == 1 && s[0] == '*')) {
    r->peer_kind = DSB_POLICY_PEER_ANY;
    return 0;
  }
  if (len == 7 && memcmp(s, "trusted", 7) == 0) {
    r->peer_kind = DSB_POLICY_PEER_GROUP_TRUSTED;
    return 0;
  }
  if (len != POLICY_DEVICE_HEX) {
    return -1;
  }
  for (size_t i = 0; i < len; ++i) {
    if (policy_hexval(s[i]) < 0) {
      return -1;
    }
    r->device[i] = "0123456789abcdef"[policy_hexval(s[i])];
  }
  r->device[len] = '\0';
  r->peer_kind = DSB_POLICY_PEER_DEVICE;
  return 0;
}

/* "*" or a service/method name; copies into |dst| (65 bytes). */
static int policy_parse_pattern(char *dst, const char *s, size_t len) {
  if (!(len == 1 && s[0] == '*') && !dsb_rpc_name_valid(s, len)) {
    return -1;
  }
  memcpy(dst, s, len);
  dst[len] = '\0';
  return 0;
}

/* The string value of |obj| and its length, or NULL if not a string. */
static const char *policy_string(json_object *obj, size_t *len) {
  if (!obj || !json_object_is_type(obj, json_type_string)) {
    return NULL;
  }
  *len = (size_t)json_object_get_string_len(obj);
  return json_object_get_string(obj);
}

#define POLICY_NAME_EXPECT                                                     \
  "expected \"*\" or a name of 1..64 characters [A-Za-z0-9._-]"

/* Object keys come from the file: keep only printable ASCII in messages. */
static void policy_key_text(char *dst, size_t dstlen, const char *key) {
  size_t i = 0;
  for (; key[i] && i + 1 < dstlen; ++i) {
    unsigned char c = (unsigned char)key[i];
    dst[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
  }
  dst[i] = '\0';
}

static int policy_load_rule(const policy_loader *ld, dsb_policy_rule *r,
                            json_object *obj, size_t idx) {
  char field[64]; /* "rules[" + 20-digit index + "]." + 24-char key */
  const char *s;
  size_t len;
  int have_peer = 0, have_service = 0, have_method = 0;

  memset(r, 0, sizeof(*r));
  snprintf(field, sizeof(field), "rules[%zu]", idx);
  if (!json_object_is_type(obj, json_type_object)) {
    return policy_fail(ld, field,
                       "expected an object with peer, service "
                       "and method");
  }
  json_object_object_foreach(obj, key, val) {
    char ktext[25];
    policy_key_text(ktext, sizeof(ktext), key);
    snprintf(field, sizeof(field), "rules[%zu].%s", idx, ktext);
    if (strcmp(key, "peer") == 0) {
      s = policy_string(val, &len);
      if (!s || policy_parse_peer(r, s, len) != 0) {
        return policy_fail(ld, field,
                           "expected \"trusted\", \"any\" or a device id "
                           "(32 hex characters)");
      }
      have_peer = 1;
    } else if (strcmp(key, "service") == 0) {
      s = policy_string(val, &len);
      if (!s || policy_parse_pattern(r->service, s, len) != 0) {
        return policy_fail(ld, field, POLICY_NAME_EXPECT);
      }
      have_service = 1;
    } else if (strcmp(key, "method") == 0) {
      s = policy_string(val, &len);
      if (!s || policy_parse_pattern(r->method, s, len) != 0) {
        return policy_fail(ld, field, POLICY_NAME_EXPECT);
      }
      have_method = 1;
    } else if (strcmp(key, "comment") == 0) {
      s = policy_string(val, &len);
      if (!s || len > DSB_POLICY_COMMENT_MAX) {
        return policy_fail(ld, field, "expected a string of at most %d bytes",
                           DSB_POLICY_COMMENT_MAX);
      }
    } else {
      return policy_fail(ld, field,
                         "unknown field (expected peer, service, method, "
                         "comment)");
    }
  }
  if (!have_peer || !have_service || !have_method) {
    snprintf(field, sizeof(field), "rules[%zu].%s", idx,
             !have_peer      ? "peer"
             : !have_service ? "service"
                             : "method");
    return policy_fail(ld, field, "missing");
  }
  return 0;
}

static size_t policy_line_of(const char *text, size_t off) {
  size_t line = 1;
  for (size_t i = 0; i < off; ++i) {
    if (text[i] == '\n') {
      line++;
    }
  }
  return line;
}

static int policy_is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int policy_parse_text(const policy_loader *ld, json_object **proot,
                             const char *text, size_t textlen) {
  json_tokener *tok;
  json_object *root;
  size_t end = SIZE_MAX;

  if (textlen > DSB_POLICY_MAX_FILE) {
    return policy_fail(ld, NULL, "file larger than %d bytes",
                       DSB_POLICY_MAX_FILE);
  }
  if (memchr(text, '\0', textlen)) {
    return policy_fail(ld, NULL, "not valid JSON (contains a NUL byte)");
  }
  tok = json_tokener_new_ex(POLICY_JSON_DEPTH);
  if (!tok) {
    return DSB_ERR_NOMEM;
  }
  /* Trailing text is checked below, with a clearer message. */
  json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
                                  JSON_TOKENER_ALLOW_TRAILING_CHARS |
                                  JSON_TOKENER_VALIDATE_UTF8);
  /* textlen <= DSB_POLICY_MAX_FILE fits in an int. */
  root = json_tokener_parse_ex(tok, text, (int)textlen);
  enum json_tokener_error jerr = json_tokener_get_error(tok);
  if (!root && jerr == json_tokener_continue) {
    /* End of input: a NUL lets the tokener finish a bare top-level value
     * and report a truncated object as such. */
    root = json_tokener_parse_ex(tok, "", 1);
    jerr = json_tokener_get_error(tok);
    if (root) {
      end = textlen;
    }
  }
  if (end == SIZE_MAX) {
    end = json_tokener_get_parse_end(tok);
  }
  json_tokener_free(tok);
  if (!root || jerr != json_tokener_success) {
    json_object_put(root);
    return policy_fail(ld, NULL, "line %zu: not valid JSON (%s)",
                       policy_line_of(text, end < textlen ? end : textlen),
                       json_tokener_error_desc(jerr));
  }
  for (size_t i = end; i < textlen; ++i) {
    if (!policy_is_space(text[i])) {
      json_object_put(root);
      return policy_fail(ld, NULL,
                         "line %zu: not valid JSON (text after the top-level "
                         "object)",
                         policy_line_of(text, i));
    }
  }
  *proot = root;
  return 0;
}

int dsb_policy_load_json(dsb_policy **ppolicy, const dsb_mem *mem,
                         const char *source, const char *text, size_t textlen,
                         char *errbuf, size_t errlen) {
  policy_loader ld;
  json_object *root = NULL, *rules = NULL;
  dsb_policy *p = NULL;
  int rv;

  if (errbuf && errlen) {
    errbuf[0] = '\0';
  }
  if (!ppolicy || (!text && textlen)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  mem = mem ? mem : dsb_mem_default();
  ld.source = source ? source : "policy file";
  ld.errbuf = errbuf;
  ld.errlen = errlen;

  rv = policy_parse_text(&ld, &root, text ? text : "", textlen);
  if (rv != 0) {
    return rv;
  }
  if (!json_object_is_type(root, json_type_object)) {
    rv = policy_fail(&ld, NULL, "expected a JSON object at the top level");
    goto out;
  }
  json_object_object_foreach(root, key, val) {
    if (strcmp(key, "version") == 0) {
      if (!json_object_is_type(val, json_type_int) ||
          json_object_get_int64(val) != 1) {
        rv = policy_fail(&ld, "version", "expected the integer 1");
        goto out;
      }
    } else if (strcmp(key, "rules") == 0) {
      rules = val;
    } else {
      char field[25];
      policy_key_text(field, sizeof(field), key);
      rv = policy_fail(&ld, field, "unknown field (expected version, rules)");
      goto out;
    }
  }
  if (!rules) {
    rv = policy_fail(&ld, "rules", "missing (expected an array of rules)");
    goto out;
  }
  if (!json_object_is_type(rules, json_type_array) ||
      json_object_array_length(rules) > DSB_POLICY_MAX_RULES) {
    rv = policy_fail(&ld, "rules", "expected an array of at most %d rules",
                     DSB_POLICY_MAX_RULES);
    goto out;
  }
  size_t n = json_object_array_length(rules);
  rv = policy_alloc(&p, mem, n, ld.source);
  if (rv != 0) {
    goto out;
  }
  for (size_t i = 0; i < n; ++i) {
    rv = policy_load_rule(&ld, &p->rules[i],
                          json_object_array_get_idx(rules, i), i);
    if (rv != 0) {
      goto out;
    }
  }
  *ppolicy = p;
  p = NULL;
  rv = 0;
out:
  dsb_policy_del(p);
  json_object_put(root);
  return rv;
}

/* ---- evaluation ----------------------------------------------------------
 */

size_t dsb_policy_rule_count(const dsb_policy *policy) {
  return policy ? policy->nrules : 0;
}

int dsb_policy_get_rule(const dsb_policy *policy, size_t index,
                        dsb_policy_rule *rule) {
  if (!policy || !rule) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (index >= policy->nrules) {
    return DSB_ERR_NOT_FOUND;
  }
  *rule = policy->rules[index];
  return 0;
}

const char *dsb_policy_source(const dsb_policy *policy) {
  return policy ? policy->source : "";
}

static int policy_match_name(const char *pattern, const char *s, size_t len) {
  if (pattern[0] == '*' && pattern[1] == '\0') {
    return 1;
  }
  /* len 0 may come with a NULL |s|, which memcmp must not see. */
  return strlen(pattern) == len && (len == 0 || memcmp(pattern, s, len) == 0);
}

static int policy_match_device(const char *want, const char *peer_id) {
  size_t i;
  for (i = 0; i < POLICY_DEVICE_HEX; ++i) {
    char c = peer_id[i];
    if (c >= 'A' && c <= 'F') {
      c = (char)(c - 'A' + 'a');
    }
    if (c != want[i]) {
      return 0; /* also stops at the NUL of a short peer_id */
    }
  }
  return peer_id[i] == '\0';
}

static int policy_match_rule(const dsb_policy_rule *r, const char *peer_id,
                             unsigned peer_flags, const char *service,
                             size_t servicelen, const char *method,
                             size_t methodlen) {
  switch (r->peer_kind) {
  case DSB_POLICY_PEER_ANY:
    break;
  case DSB_POLICY_PEER_GROUP_TRUSTED:
    if (!(peer_flags & DSB_POLICY_PEER_TRUSTED)) {
      return 0;
    }
    break;
  case DSB_POLICY_PEER_DEVICE:
    if (!policy_match_device(r->device, peer_id)) {
      return 0;
    }
    break;
  default:
    return 0;
  }
  return policy_match_name(r->service, service, servicelen) &&
         policy_match_name(r->method, method, methodlen);
}

long dsb_policy_eval(const dsb_policy *policy, const char *peer_id,
                     unsigned peer_flags, const char *service,
                     size_t servicelen, const char *method, size_t methodlen) {
  if (!policy || !peer_id || (!service && servicelen) ||
      (!method && methodlen)) {
    return DSB_ERR_PROXY_DENIED;
  }
  for (size_t i = 0; i < policy->nrules; ++i) {
    if (policy_match_rule(&policy->rules[i], peer_id, peer_flags, service,
                          servicelen, method, methodlen)) {
      return (long)i;
    }
  }
  return DSB_ERR_PROXY_DENIED;
}

/* Copy at most 64 bytes of |s| into |dst| (72 bytes), replacing anything a
 * name may not contain with '?', so untrusted text cannot forge log lines. */
static void policy_safe_copy(char *dst, const char *s, size_t len) {
  size_t n = len > 64 ? 64 : len;
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = (unsigned char)s[i];
    dst[i] = (c == '*' || dsb_rpc_name_valid(&s[i], 1)) ? (char)c : '?';
  }
  dst[n] = '\0';
  if (len > 64) {
    memcpy(dst + n, "...", 4);
  }
}

static const char *policy_peer_text(const dsb_policy_rule *r) {
  switch (r->peer_kind) {
  case DSB_POLICY_PEER_ANY:
    return "any";
  case DSB_POLICY_PEER_GROUP_TRUSTED:
    return "trusted";
  default:
    return r->device;
  }
}

long dsb_policy_explain(const dsb_policy *policy, char *out, size_t outlen,
                        const char *peer_id, unsigned peer_flags,
                        const char *service, size_t servicelen,
                        const char *method, size_t methodlen) {
  char speer[72], ssvc[72], smeth[72];
  long rv = dsb_policy_eval(policy, peer_id, peer_flags, service, servicelen,
                            method, methodlen);
  if (!out || outlen == 0) {
    return rv;
  }
  if (rv >= 0) {
    const dsb_policy_rule *r = &policy->rules[rv];
    snprintf(out, outlen,
             "allowed by rules[%ld] of %s: peer %s, service %s, method %s", rv,
             policy->source, policy_peer_text(r), r->service, r->method);
    return rv;
  }
  policy_safe_copy(speer, peer_id ? peer_id : "",
                   peer_id ? strlen(peer_id) : 0);
  policy_safe_copy(ssvc, service ? service : "", service ? servicelen : 0);
  policy_safe_copy(smeth, method ? method : "", method ? methodlen : 0);
  snprintf(out, outlen,
           "denied: no rule matches (peer %s%s, service %s, method %s)", speer,
           (peer_flags & DSB_POLICY_PEER_TRUSTED) ? " [trusted]" : "", ssvc,
           smeth);
  return rv;
}
