/*
 * trust.c - the trust table and its JSON text form (include/dsb/trust.h,
 * docs/PROTOCOL.md "Trust file"). Sans-IO.
 */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "dsb/err.h"
#include "dsb/trust.h"

struct dsb_trust {
  const dsb_mem *mem;
  dsb_trust_entry *entries; /* sorted by id, |count| used of |alloc| */
  size_t count;
  size_t alloc;
  size_t capacity;
};

/* json-c nesting we need: object > array > object, plus slack. */
#define TRUST_JSON_DEPTH 8

int dsb_trust_new(dsb_trust **ptrust, const dsb_mem *mem, size_t capacity) {
  dsb_trust *t;

  if (!ptrust || capacity > DSB_TRUST_MAX_CAPACITY) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  t = dsb_mem_calloc(mem, 1, sizeof(*t));
  if (!t) {
    return DSB_ERR_NOMEM;
  }
  t->mem = mem;
  t->capacity = capacity ? capacity : DSB_TRUST_DEFAULT_CAPACITY;
  *ptrust = t;
  return 0;
}

void dsb_trust_del(dsb_trust *trust) {
  if (!trust) {
    return;
  }
  dsb_mem_free(trust->mem, trust->entries);
  dsb_mem_free(trust->mem, trust);
}

size_t dsb_trust_count(const dsb_trust *trust) {
  return trust ? trust->count : 0;
}

size_t dsb_trust_capacity(const dsb_trust *trust) {
  return trust ? trust->capacity : 0;
}

static int trust_state_valid(dsb_trust_state state) {
  return state == DSB_TRUST_UNKNOWN || state == DSB_TRUST_TRUSTED ||
         state == DSB_TRUST_BLOCKED;
}

/*
 * A display name: at most DSB_TRUST_NAME_MAX bytes of well-formed UTF-8
 * (no overlong forms, surrogates or code points above U+10FFFF) without C0
 * or C1 control characters or DEL, so it is safe to print on a terminal.
 */
static int trust_name_valid(const char *s, size_t len) {
  const uint8_t *p = (const uint8_t *)s;
  size_t i = 0;

  if (len > DSB_TRUST_NAME_MAX) {
    return 0;
  }
  while (i < len) {
    uint8_t c = p[i];
    uint32_t cp;
    size_t n;

    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f) {
        return 0;
      }
      i++;
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
    if (n > len - i - 1) {
      return 0;
    }
    for (size_t k = 1; k <= n; ++k) {
      if ((p[i + k] & 0xc0) != 0x80) {
        return 0;
      }
      cp = (cp << 6) | (p[i + k] & 0x3fu);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f)) {
      return 0;
    }
    i += n + 1;
  }
  return 1;
}

static int trust_id_cmp(const dsb_device_id *a, const dsb_device_id *b) {
  return memcmp(a->b, b->b, DSB_DEVICE_ID_LEN);
}

/* Index of |id| (return 1) or where it would be inserted (return 0). */
static int trust_find(const dsb_trust *t, const dsb_device_id *id,
                      size_t *pos) {
  size_t lo = 0, hi = t->count;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = trust_id_cmp(&t->entries[mid].id, id);
    if (c == 0) {
      *pos = mid;
      return 1;
    }
    if (c < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  *pos = lo;
  return 0;
}

static int trust_reserve_one(dsb_trust *t) {
  dsb_trust_entry *n;
  size_t nalloc;

  if (t->count < t->alloc) {
    return 0;
  }
  if (t->count >= t->capacity) {
    return DSB_ERR_LIMIT;
  }
  nalloc = t->alloc ? t->alloc * 2 : 16;
  if (nalloc > t->capacity) {
    nalloc = t->capacity;
  }
  n = dsb_mem_realloc(t->mem, t->entries, nalloc * sizeof(*n));
  if (!n) {
    return DSB_ERR_NOMEM;
  }
  t->entries = n;
  t->alloc = nalloc;
  return 0;
}

static int trust_insert(dsb_trust *t, size_t pos, const dsb_device_id *id,
                        dsb_trust_state state, const char *name,
                        size_t namelen) {
  dsb_trust_entry *e;
  int rv = trust_reserve_one(t);

  if (rv != 0) {
    return rv;
  }
  memmove(&t->entries[pos + 1], &t->entries[pos],
          (t->count - pos) * sizeof(*t->entries));
  e = &t->entries[pos];
  memset(e, 0, sizeof(*e));
  e->id = *id;
  e->state = state;
  if (namelen) {
    memcpy(e->name, name, namelen);
  }
  t->count++;
  return 0;
}

int dsb_trust_add(dsb_trust *trust, const dsb_device_id *id,
                  dsb_trust_state state, const char *name) {
  size_t pos, namelen = name ? strlen(name) : 0;

  if (!trust || !id || !trust_state_valid(state) ||
      !trust_name_valid(name, namelen)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (trust_find(trust, id, &pos)) {
    return DSB_ERR_EXISTS;
  }
  return trust_insert(trust, pos, id, state, name, namelen);
}

int dsb_trust_set(dsb_trust *trust, const dsb_device_id *id,
                  dsb_trust_state state) {
  size_t pos;

  if (!trust || !id || !trust_state_valid(state)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (trust_find(trust, id, &pos)) {
    trust->entries[pos].state = state;
    return 0;
  }
  return trust_insert(trust, pos, id, state, NULL, 0);
}

int dsb_trust_set_name(dsb_trust *trust, const dsb_device_id *id,
                       const char *name) {
  size_t pos, namelen = name ? strlen(name) : 0;
  dsb_trust_entry *e;

  if (!trust || !id || !trust_name_valid(name, namelen)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (!trust_find(trust, id, &pos)) {
    return DSB_ERR_NOT_FOUND;
  }
  e = &trust->entries[pos];
  memset(e->name, 0, sizeof(e->name));
  if (namelen) {
    memcpy(e->name, name, namelen);
  }
  return 0;
}

int dsb_trust_remove(dsb_trust *trust, const dsb_device_id *id) {
  size_t pos;

  if (!trust || !id) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (!trust_find(trust, id, &pos)) {
    return DSB_ERR_NOT_FOUND;
  }
  memmove(&trust->entries[pos], &trust->entries[pos + 1],
          (trust->count - pos - 1) * sizeof(*trust->entries));
  trust->count--;
  return 0;
}

void dsb_trust_clear(dsb_trust *trust) {
  if (trust) {
    trust->count = 0;
  }
}

int dsb_trust_get(const dsb_trust *trust, const dsb_device_id *id,
                  dsb_trust_entry *entry) {
  size_t pos;

  if (!trust || !id || !entry) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (!trust_find(trust, id, &pos)) {
    return DSB_ERR_NOT_FOUND;
  }
  *entry = trust->entries[pos];
  return 0;
}

dsb_trust_state dsb_trust_state_of(const dsb_trust *trust,
                                   const dsb_device_id *id) {
  size_t pos;

  if (!trust || !id || !trust_find(trust, id, &pos)) {
    return DSB_TRUST_UNKNOWN;
  }
  return trust->entries[pos].state;
}

int dsb_trust_list(const dsb_trust *trust, dsb_trust_entry *out,
                   size_t outcap) {
  if (!trust || (!out && outcap > 0)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (outcap < trust->count) {
    return DSB_ERR_NOBUF;
  }
  if (trust->count) {
    memcpy(out, trust->entries, trust->count * sizeof(*out));
  }
  return (int)trust->count;
}

int dsb_trust_foreach(const dsb_trust *trust, dsb_trust_foreach_fn cb,
                      void *ctx) {
  if (!trust || !cb) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  for (size_t i = 0; i < trust->count; ++i) {
    if (cb(ctx, &trust->entries[i]) != 0) {
      return DSB_ERR_CALLBACK_FAILURE;
    }
  }
  return 0;
}

int dsb_trust_check(const dsb_trust *trust, const dsb_device_id *id,
                    uint32_t flags) {
  if (!id) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  switch (dsb_trust_state_of(trust, id)) {
  case DSB_TRUST_TRUSTED:
    return 0;
  case DSB_TRUST_BLOCKED:
    /* A block is the owner's explicit word: no lab flag overrides it. */
    return DSB_ERR_TRUST_BLOCKED;
  default:
    return (flags & DSB_TRUST_ALLOW_UNKNOWN) ? 0 : DSB_ERR_TRUST_UNKNOWN;
  }
}

int dsb_trust_peer_check(void *ctx, const dsb_device_id *peer) {
  const dsb_trust_checker *checker = ctx;

  if (!checker) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  return dsb_trust_check(checker->trust, peer, checker->flags);
}

const char *dsb_trust_state_name(dsb_trust_state state) {
  switch (state) {
  case DSB_TRUST_UNKNOWN:
    return "unknown";
  case DSB_TRUST_TRUSTED:
    return "trusted";
  case DSB_TRUST_BLOCKED:
    return "blocked";
  default:
    return "invalid";
  }
}

int dsb_trust_state_parse(dsb_trust_state *state, const char *text,
                          size_t textlen) {
  static const dsb_trust_state all[] = {DSB_TRUST_UNKNOWN, DSB_TRUST_TRUSTED,
                                        DSB_TRUST_BLOCKED};

  if (!state || !text) {
    return DSB_ERR_MALFORMED;
  }
  for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); ++i) {
    const char *name = dsb_trust_state_name(all[i]);
    if (textlen == strlen(name) && memcmp(text, name, textlen) == 0) {
      *state = all[i];
      return 0;
    }
  }
  return DSB_ERR_MALFORMED;
}

/* ---- JSON --------------------------------------------------------------- */

size_t dsb_trust_json_bound(const dsb_trust *trust) {
  return DSB_TRUST_JSON_OVERHEAD +
         (trust ? trust->count : 0) * (size_t)DSB_TRUST_JSON_ENTRY_MAX;
}

size_t dsb_trust_json_max(const dsb_trust *trust) {
  return DSB_TRUST_JSON_OVERHEAD +
         (trust ? trust->capacity : 0) * (size_t)DSB_TRUST_JSON_ENTRY_MAX;
}

/* Add |val| to |obj| under |key|; takes ownership of |val| either way. */
static int trust_json_put(json_object *obj, const char *key, json_object *val) {
  if (!val) {
    return DSB_ERR_NOMEM;
  }
  if (json_object_object_add(obj, key, val) != 0) {
    json_object_put(val);
    return DSB_ERR_NOMEM;
  }
  return 0;
}

static int trust_json_entry(json_object *arr, const dsb_trust_entry *e) {
  char idtext[DSB_DEVICE_ID_TEXT_LEN + 1];
  json_object *obj = json_object_new_object();
  int rv;

  if (!obj) {
    return DSB_ERR_NOMEM;
  }
  dsb_device_id_format(idtext, &e->id);
  rv = trust_json_put(obj, "id", json_object_new_string(idtext));
  if (rv == 0) {
    rv = trust_json_put(obj, "state",
                        json_object_new_string(dsb_trust_state_name(e->state)));
  }
  if (rv == 0 && e->name[0]) {
    rv = trust_json_put(obj, "name", json_object_new_string(e->name));
  }
  if (rv == 0 && json_object_array_add(arr, obj) != 0) {
    rv = DSB_ERR_NOMEM;
  }
  if (rv != 0) {
    json_object_put(obj);
  }
  return rv;
}

int dsb_trust_to_json(const dsb_trust *trust, char *out, size_t outlen) {
  json_object *root, *arr;
  const char *text;
  size_t len;
  int rv;

  if (!trust || !out) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  root = json_object_new_object();
  if (!root) {
    return DSB_ERR_NOMEM;
  }
  rv = trust_json_put(root, "version",
                      json_object_new_int(DSB_TRUST_JSON_VERSION));
  if (rv != 0) {
    goto out;
  }
  arr = json_object_new_array_ext((int)trust->count);
  rv = trust_json_put(root, "devices", arr);
  if (rv != 0) {
    goto out;
  }
  for (size_t i = 0; i < trust->count; ++i) {
    rv = trust_json_entry(arr, &trust->entries[i]);
    if (rv != 0) {
      goto out;
    }
  }
  text = json_object_to_json_string_ext(
      root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                JSON_C_TO_STRING_NOSLASHESCAPE);
  if (!text) {
    rv = DSB_ERR_NOMEM;
    goto out;
  }
  len = strlen(text);
  if (len + 2 > outlen || len + 1 > (size_t)INT32_MAX) {
    rv = DSB_ERR_NOBUF;
    goto out;
  }
  /* A final newline, as text files are expected to have. */
  memcpy(out, text, len);
  out[len++] = '\n';
  out[len] = '\0';
  rv = (int)len;

out:
  json_object_put(root);
  return rv;
}

/* |*out| = the string member |key| of |obj|, or NULL when absent. */
static int trust_json_string(json_object *obj, const char *key,
                             const char **out, size_t *outlen) {
  json_object *val;

  if (!json_object_object_get_ex(obj, key, &val)) {
    *out = NULL;
    *outlen = 0;
    return 0;
  }
  if (!json_object_is_type(val, json_type_string)) {
    return DSB_ERR_TRUST_FILE_CORRUPT;
  }
  *out = json_object_get_string(val);
  *outlen = (size_t)json_object_get_string_len(val);
  return 0;
}

/* Members other than |allowed| make the object invalid: a typo in a
 * hand-edited file must not silently change what is trusted. */
static int trust_json_only_members(json_object *obj, const char *const *allowed,
                                   size_t nallowed) {
  struct json_object_iterator it = json_object_iter_begin(obj);
  struct json_object_iterator end = json_object_iter_end(obj);

  for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
    const char *name = json_object_iter_peek_name(&it);
    size_t i;
    for (i = 0; i < nallowed; ++i) {
      if (strcmp(name, allowed[i]) == 0) {
        break;
      }
    }
    if (i == nallowed) {
      return DSB_ERR_TRUST_FILE_CORRUPT;
    }
  }
  return 0;
}

static int trust_json_parse_entry(json_object *obj, dsb_trust_entry *e) {
  static const char *const members[] = {"id", "state", "name"};
  const char *s;
  size_t slen;
  int rv;

  if (!json_object_is_type(obj, json_type_object)) {
    return DSB_ERR_TRUST_FILE_CORRUPT;
  }
  rv = trust_json_only_members(obj, members, 3);
  if (rv != 0) {
    return rv;
  }
  memset(e, 0, sizeof(*e));
  rv = trust_json_string(obj, "id", &s, &slen);
  if (rv != 0 || !s || dsb_device_id_parse(&e->id, s, slen) != 0) {
    return DSB_ERR_TRUST_FILE_CORRUPT;
  }
  rv = trust_json_string(obj, "state", &s, &slen);
  if (rv != 0 || !s || dsb_trust_state_parse(&e->state, s, slen) != 0) {
    return DSB_ERR_TRUST_FILE_CORRUPT;
  }
  rv = trust_json_string(obj, "name", &s, &slen);
  if (rv != 0) {
    return rv;
  }
  if (s) {
    /* strlen() check: a "\u0000" inside the JSON string would otherwise
     * cut the name short. */
    if (!trust_name_valid(s, slen) || strlen(s) != slen) {
      return DSB_ERR_TRUST_FILE_CORRUPT;
    }
    memcpy(e->name, s, slen);
  }
  return 0;
}

static int trust_entry_qsort_cmp(const void *a, const void *b) {
  return trust_id_cmp(&((const dsb_trust_entry *)a)->id,
                      &((const dsb_trust_entry *)b)->id);
}

/* Parse |text| into a json-c tree, strictly, with bounded depth. */
static int trust_json_tokenize(const char *text, size_t textlen,
                               json_object **proot) {
  json_tokener *tok;
  json_object *root;
  size_t end;

  tok = json_tokener_new_ex(TRUST_JSON_DEPTH);
  if (!tok) {
    return DSB_ERR_NOMEM;
  }
  json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
  root = json_tokener_parse_ex(tok, text, (int)textlen);
  if (!root && json_tokener_get_error(tok) == json_tokener_continue) {
    /* Input ended inside a value: truncated. */
    json_tokener_free(tok);
    return DSB_ERR_TRUST_FILE_CORRUPT;
  }
  if (!root || json_tokener_get_error(tok) != json_tokener_success) {
    json_object_put(root);
    json_tokener_free(tok);
    return DSB_ERR_TRUST_FILE_CORRUPT;
  }
  /* Only whitespace may follow the top-level value. */
  end = json_tokener_get_parse_end(tok);
  json_tokener_free(tok);
  for (; end < textlen; ++end) {
    char c = text[end];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
      json_object_put(root);
      return DSB_ERR_TRUST_FILE_CORRUPT;
    }
  }
  *proot = root;
  return 0;
}

int dsb_trust_from_json(dsb_trust *trust, const char *text, size_t textlen) {
  static const char *const members[] = {"version", "devices"};
  json_object *root = NULL, *val, *devices;
  dsb_trust_entry *entries = NULL;
  size_t n = 0;
  int rv;

  if (!trust || (!text && textlen > 0)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (textlen == 0 || textlen > dsb_trust_json_max(trust) ||
      textlen > (size_t)INT32_MAX || memchr(text, '\0', textlen)) {
    return DSB_ERR_TRUST_FILE_CORRUPT;
  }
  rv = trust_json_tokenize(text, textlen, &root);
  if (rv != 0) {
    return rv;
  }
  if (!json_object_is_type(root, json_type_object)) {
    rv = DSB_ERR_TRUST_FILE_CORRUPT;
    goto out;
  }
  /* The version first: a newer file is "unsupported", not "corrupt". */
  if (!json_object_object_get_ex(root, "version", &val) ||
      !json_object_is_type(val, json_type_int)) {
    rv = DSB_ERR_TRUST_FILE_CORRUPT;
    goto out;
  }
  if (json_object_get_int64(val) != DSB_TRUST_JSON_VERSION) {
    rv = DSB_ERR_STATEFILE_VERSION;
    goto out;
  }
  rv = trust_json_only_members(root, members, 2);
  if (rv != 0) {
    goto out;
  }
  if (!json_object_object_get_ex(root, "devices", &devices) ||
      !json_object_is_type(devices, json_type_array)) {
    rv = DSB_ERR_TRUST_FILE_CORRUPT;
    goto out;
  }
  n = json_object_array_length(devices);
  if (n > trust->capacity) {
    rv = DSB_ERR_LIMIT;
    goto out;
  }
  if (n > 0) {
    entries = dsb_mem_malloc(trust->mem, n * sizeof(*entries));
    if (!entries) {
      rv = DSB_ERR_NOMEM;
      goto out;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    rv = trust_json_parse_entry(json_object_array_get_idx(devices, i),
                                &entries[i]);
    if (rv != 0) {
      goto out;
    }
  }
  if (n > 1) {
    qsort(entries, n, sizeof(*entries), trust_entry_qsort_cmp);
  }
  for (size_t i = 1; i < n; ++i) {
    if (trust_id_cmp(&entries[i - 1].id, &entries[i].id) == 0) {
      rv = DSB_ERR_TRUST_FILE_CORRUPT; /* one device, two verdicts */
      goto out;
    }
  }
  /* Commit only after every entry passed. */
  dsb_mem_free(trust->mem, trust->entries);
  trust->entries = entries;
  trust->count = n;
  trust->alloc = n;
  entries = NULL;
  rv = 0;

out:
  dsb_mem_free(trust->mem, entries);
  json_object_put(root);
  return rv;
}
