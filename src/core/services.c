/*
 * services.c - service registry, built-in services and the call dispatcher
 * (include/dsb/services.h). Reply payload formats: docs/PROTOCOL.md,
 * "Remote calls".
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "dsb/err.h"
#include "dsb/service_name.h"
#include "dsb/services.h"

typedef struct svc_entry {
  uint8_t used;
  dsb_service_info info;
  dsb_services_handler_fn fn; /* BUILTIN and HANDLER */
  void *ctx;
} svc_entry;

typedef struct svc_bundle {
  uint8_t used;
  uint64_t owner;
  char name[DSB_RPC_NAME_MAX + 1];
  char version[DSB_SERVICES_VERSION_MAX + 1];
  size_t nservices;
  char services[DSB_SERVICES_PER_BUNDLE_MAX][DSB_RPC_NAME_MAX + 1];
} svc_bundle;

struct dsb_services {
  const dsb_mem *mem;
  size_t nservices;
  size_t nbundles;
  svc_entry services[DSB_SERVICES_MAX];
  svc_bundle bundles[DSB_SERVICES_MAX_BUNDLES];
  dsb_services_stats stats;
};

/* ---- validation ----------------------------------------------------------
 */

/* Services follow the service-name rule (dsb/service_name.h): whatever is
 * registered here can also be announced and opened as a stream. */
static int svc_name_ok(const char *name) {
  return name &&
         dsb_service_name_valid(name, strnlen(name, DSB_SERVICE_NAME_MAX + 1));
}

/* A bundle names an application, never a service: it is neither announced
 * nor opened, so it keeps the remote-call name bounds (1..64). */
static int svc_bundle_name_ok(const char *name) {
  return name && dsb_rpc_name_valid(name, strnlen(name, DSB_RPC_NAME_MAX + 1));
}

static int svc_desc_ok(const char *desc) {
  if (!desc) {
    return 1;
  }
  size_t n = strnlen(desc, DSB_SERVICES_DESC_MAX + 1);
  if (n > DSB_SERVICES_DESC_MAX) {
    return 0;
  }
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = (unsigned char)desc[i];
    if (c < 0x20 || c > 0x7e) {
      return 0;
    }
  }
  return 1;
}

static int svc_version_ok(const char *v) {
  if (!v) {
    return 0;
  }
  size_t n = strnlen(v, DSB_SERVICES_VERSION_MAX + 1);
  if (n == 0 || n > DSB_SERVICES_VERSION_MAX) {
    return 0;
  }
  for (size_t i = 0; i < n; ++i) {
    if (v[i] != '+' && !dsb_rpc_name_valid(&v[i], 1)) {
      return 0;
    }
  }
  return 1;
}

/* ---- registry ------------------------------------------------------------
 */

static svc_entry *svc_find(const dsb_services *r, const char *name,
                           size_t namelen) {
  if (namelen == 0 || namelen > DSB_RPC_NAME_MAX) {
    return NULL;
  }
  for (size_t i = 0; i < DSB_SERVICES_MAX; ++i) {
    const svc_entry *e = &r->services[i];
    if (e->used && strlen(e->info.name) == namelen &&
        memcmp(e->info.name, name, namelen) == 0) {
      /* The registry is ours to change: drop the const of the lookup. */
      return (svc_entry *)(uintptr_t)e;
    }
  }
  return NULL;
}

static svc_bundle *svc_find_bundle(dsb_services *r, const char *name) {
  for (size_t i = 0; i < DSB_SERVICES_MAX_BUNDLES; ++i) {
    if (r->bundles[i].used && strcmp(r->bundles[i].name, name) == 0) {
      return &r->bundles[i];
    }
  }
  return NULL;
}

static svc_entry *svc_free_slot(dsb_services *r) {
  for (size_t i = 0; i < DSB_SERVICES_MAX; ++i) {
    if (!r->services[i].used) {
      return &r->services[i];
    }
  }
  return NULL;
}

/* Callers have validated every field. */
static void svc_put(dsb_services *r, svc_entry *e, const char *name,
                    const char *desc, dsb_service_kind kind, uint64_t owner,
                    const char *bundle) {
  memset(e, 0, sizeof(*e));
  e->used = 1;
  snprintf(e->info.name, sizeof(e->info.name), "%s", name);
  snprintf(e->info.description, sizeof(e->info.description), "%s",
           desc ? desc : "");
  e->info.kind = kind;
  e->info.owner = owner;
  snprintf(e->info.bundle, sizeof(e->info.bundle), "%s", bundle ? bundle : "");
  r->nservices++;
}

static void svc_drop(dsb_services *r, svc_entry *e) {
  memset(e, 0, sizeof(*e));
  r->nservices--;
}

static long svc_samgr(void *ctx, uint8_t *out, size_t outlen,
                      const dsb_services_request *req);
static long svc_bundles(void *ctx, uint8_t *out, size_t outlen,
                        const dsb_services_request *req);
static long svc_echo(void *ctx, uint8_t *out, size_t outlen,
                     const dsb_services_request *req);

int dsb_services_new(dsb_services **pservices, const dsb_mem *mem) {
  static const struct {
    const char *name;
    const char *desc;
    dsb_services_handler_fn fn;
  } builtins[] = {
      {DSB_SERVICE_SAMGR,
       "service manager: list (all services) and resolve (one by name)",
       svc_samgr},
      {DSB_SERVICE_BUNDLES, "bundle manager: list registered applications",
       svc_bundles},
      {DSB_SERVICE_ECHO, "echo: returns its payload (echo) or nothing (ping)",
       svc_echo},
  };
  dsb_services *r;

  if (!pservices) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  mem = mem ? mem : dsb_mem_default();
  r = dsb_mem_calloc(mem, 1, sizeof(*r));
  if (!r) {
    return DSB_ERR_NOMEM;
  }
  r->mem = mem;
  for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); ++i) {
    svc_entry *e = &r->services[i];
    svc_put(r, e, builtins[i].name, builtins[i].desc, DSB_SERVICE_KIND_BUILTIN,
            0, NULL);
    e->fn = builtins[i].fn;
    e->ctx = r;
  }
  *pservices = r;
  return 0;
}

void dsb_services_del(dsb_services *services) {
  if (!services) {
    return;
  }
  dsb_mem_free(services->mem, services);
}

int dsb_services_add_app(dsb_services *r, const char *name,
                         const char *description, uint64_t owner) {
  if (!r || !svc_name_ok(name) || !svc_desc_ok(description) || owner == 0) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (svc_find(r, name, strlen(name))) {
    return DSB_ERR_EXISTS;
  }
  svc_entry *e = svc_free_slot(r);
  if (!e) {
    return DSB_ERR_LIMIT;
  }
  svc_put(r, e, name, description, DSB_SERVICE_KIND_APP, owner, NULL);
  return 0;
}

int dsb_services_add_handler(dsb_services *r, const char *name,
                             const char *description,
                             dsb_services_handler_fn fn, void *ctx) {
  if (!r || !fn || !svc_name_ok(name) || !svc_desc_ok(description)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (svc_find(r, name, strlen(name))) {
    return DSB_ERR_EXISTS;
  }
  svc_entry *e = svc_free_slot(r);
  if (!e) {
    return DSB_ERR_LIMIT;
  }
  svc_put(r, e, name, description, DSB_SERVICE_KIND_HANDLER, 0, NULL);
  e->fn = fn;
  e->ctx = ctx;
  return 0;
}

/* Take |name| out of its bundle's export list, if it has one. */
static void svc_unexport(dsb_services *r, const svc_entry *e) {
  if (!e->info.bundle[0]) {
    return;
  }
  svc_bundle *b = svc_find_bundle(r, e->info.bundle);
  if (!b) {
    return;
  }
  for (size_t i = 0; i < b->nservices; ++i) {
    if (strcmp(b->services[i], e->info.name) == 0) {
      memmove(b->services[i], b->services[i + 1],
              (b->nservices - i - 1) * sizeof(b->services[0]));
      b->nservices--;
      memset(b->services[b->nservices], 0, sizeof(b->services[0]));
      return;
    }
  }
}

int dsb_services_remove(dsb_services *r, const char *name) {
  if (!r || !name) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  svc_entry *e = svc_find(r, name, strnlen(name, DSB_RPC_NAME_MAX + 1));
  if (!e) {
    return DSB_ERR_NOT_FOUND;
  }
  if (e->info.kind == DSB_SERVICE_KIND_BUILTIN) {
    return DSB_ERR_PERMISSION;
  }
  svc_unexport(r, e);
  svc_drop(r, e);
  return 0;
}

size_t dsb_services_remove_owner(dsb_services *r, uint64_t owner) {
  size_t n = 0;
  if (!r || owner == 0) {
    return 0;
  }
  for (size_t i = 0; i < DSB_SERVICES_MAX; ++i) {
    svc_entry *e = &r->services[i];
    if (e->used && e->info.kind == DSB_SERVICE_KIND_APP &&
        e->info.owner == owner) {
      svc_drop(r, e);
      n++;
    }
  }
  for (size_t i = 0; i < DSB_SERVICES_MAX_BUNDLES; ++i) {
    if (r->bundles[i].used && r->bundles[i].owner == owner) {
      memset(&r->bundles[i], 0, sizeof(r->bundles[i]));
      r->nbundles--;
    }
  }
  return n;
}

int dsb_services_bundle_add(dsb_services *r, const dsb_bundle *bundle,
                            uint64_t owner) {
  svc_bundle *b = NULL;

  if (!r || !bundle || owner == 0 || !svc_bundle_name_ok(bundle->name) ||
      !svc_version_ok(bundle->version) ||
      bundle->nservices > DSB_SERVICES_PER_BUNDLE_MAX ||
      (bundle->nservices && !bundle->services)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  /* Validate everything before changing anything: all or nothing. */
  for (size_t i = 0; i < bundle->nservices; ++i) {
    const dsb_bundle_service *s = &bundle->services[i];
    if (!svc_name_ok(s->name) || !svc_desc_ok(s->description)) {
      return DSB_ERR_INVALID_ARGUMENT;
    }
    for (size_t j = 0; j < i; ++j) {
      if (strcmp(bundle->services[j].name, s->name) == 0) {
        return DSB_ERR_EXISTS;
      }
    }
    if (svc_find(r, s->name, strlen(s->name))) {
      return DSB_ERR_EXISTS;
    }
  }
  if (svc_find_bundle(r, bundle->name)) {
    return DSB_ERR_EXISTS;
  }
  if (r->nbundles >= DSB_SERVICES_MAX_BUNDLES ||
      bundle->nservices > DSB_SERVICES_MAX - r->nservices) {
    return DSB_ERR_LIMIT;
  }
  for (size_t i = 0; i < DSB_SERVICES_MAX_BUNDLES; ++i) {
    if (!r->bundles[i].used) {
      b = &r->bundles[i];
      break;
    }
  }
  memset(b, 0, sizeof(*b));
  b->used = 1;
  b->owner = owner;
  snprintf(b->name, sizeof(b->name), "%s", bundle->name);
  snprintf(b->version, sizeof(b->version), "%s", bundle->version);
  for (size_t i = 0; i < bundle->nservices; ++i) {
    const dsb_bundle_service *s = &bundle->services[i];
    svc_put(r, svc_free_slot(r), s->name, s->description, DSB_SERVICE_KIND_APP,
            owner, bundle->name);
    snprintf(b->services[i], sizeof(b->services[i]), "%s", s->name);
  }
  b->nservices = bundle->nservices;
  r->nbundles++;
  return 0;
}

int dsb_services_bundle_remove(dsb_services *r, const char *name) {
  if (!r || !name) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  svc_bundle *b = svc_find_bundle(r, name);
  if (!b) {
    return DSB_ERR_NOT_FOUND;
  }
  for (size_t i = 0; i < b->nservices; ++i) {
    svc_entry *e = svc_find(r, b->services[i], strlen(b->services[i]));
    if (e && e->info.kind == DSB_SERVICE_KIND_APP) {
      svc_drop(r, e);
    }
  }
  memset(b, 0, sizeof(*b));
  r->nbundles--;
  return 0;
}

size_t dsb_services_count(const dsb_services *r) {
  return r ? r->nservices : 0;
}

size_t dsb_services_bundle_count(const dsb_services *r) {
  return r ? r->nbundles : 0;
}

int dsb_services_next(const dsb_services *r, size_t *cursor,
                      dsb_service_info *info) {
  if (!r || !cursor || !info) {
    return 0;
  }
  while (*cursor < DSB_SERVICES_MAX) {
    const svc_entry *e = &r->services[(*cursor)++];
    if (e->used) {
      *info = e->info;
      return 1;
    }
  }
  return 0;
}

int dsb_services_lookup(const dsb_services *r, dsb_service_info *info,
                        const char *name, size_t namelen) {
  if (!r || !info || !name) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  const svc_entry *e = svc_find(r, name, namelen);
  if (!e) {
    return DSB_ERR_NOT_FOUND;
  }
  *info = e->info;
  return 0;
}

/* ---- JSON listings -------------------------------------------------------
 */

static const char *svc_kind_name(dsb_service_kind k) {
  switch (k) {
  case DSB_SERVICE_KIND_BUILTIN:
    return "builtin";
  case DSB_SERVICE_KIND_HANDLER:
    return "handler";
  default:
    return "app";
  }
}

/* Add key -> string; json-c reports allocation failure as non-zero. */
static int svc_json_str(json_object *obj, const char *key, const char *val) {
  json_object *s = json_object_new_string(val);
  if (!s) {
    return DSB_ERR_NOMEM;
  }
  if (json_object_object_add(obj, key, s) != 0) {
    json_object_put(s);
    return DSB_ERR_NOMEM;
  }
  return 0;
}

static int svc_json_array_add(json_object *arr, json_object *item) {
  if (!item) {
    return DSB_ERR_NOMEM;
  }
  if (json_object_array_add(arr, item) != 0) {
    json_object_put(item);
    return DSB_ERR_NOMEM;
  }
  return 0;
}

static json_object *svc_info_json(const dsb_service_info *info) {
  json_object *o = json_object_new_object();
  if (!o) {
    return NULL;
  }
  if (svc_json_str(o, "name", info->name) != 0 ||
      svc_json_str(o, "description", info->description) != 0 ||
      svc_json_str(o, "kind", svc_kind_name(info->kind)) != 0 ||
      (info->bundle[0] && svc_json_str(o, "bundle", info->bundle) != 0)) {
    json_object_put(o);
    return NULL;
  }
  return o;
}

/* Serialize |root| (consumed) into |out|. */
static long svc_json_emit(json_object *root, char *out, size_t outlen) {
  size_t n;
  const char *s = json_object_to_json_string_length(
      root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
  long rv;
  if (!s) {
    rv = DSB_ERR_NOMEM;
  } else if (n > outlen) {
    rv = DSB_ERR_NOBUF;
  } else {
    memcpy(out, s, n);
    rv = (long)n;
  }
  json_object_put(root);
  return rv;
}

/* Wrap |arr| (consumed) as {"<key>": arr} and emit it. */
static long svc_json_wrap_emit(json_object *arr, const char *key, char *out,
                               size_t outlen) {
  json_object *root = json_object_new_object();
  if (!root) {
    json_object_put(arr);
    return DSB_ERR_NOMEM;
  }
  if (json_object_object_add(root, key, arr) != 0) {
    json_object_put(arr);
    json_object_put(root);
    return DSB_ERR_NOMEM;
  }
  return svc_json_emit(root, out, outlen);
}

long dsb_services_list_json(const dsb_services *r, char *out, size_t outlen) {
  if (!r || (!out && outlen)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  json_object *arr = json_object_new_array();
  if (!arr) {
    return DSB_ERR_NOMEM;
  }
  for (size_t i = 0; i < DSB_SERVICES_MAX; ++i) {
    if (r->services[i].used &&
        svc_json_array_add(arr, svc_info_json(&r->services[i].info)) != 0) {
      json_object_put(arr);
      return DSB_ERR_NOMEM;
    }
  }
  return svc_json_wrap_emit(arr, "services", out, outlen);
}

static json_object *svc_bundle_json(const svc_bundle *b) {
  json_object *o = json_object_new_object();
  json_object *svcs = json_object_new_array();
  if (!o || !svcs) {
    goto fail;
  }
  if (svc_json_str(o, "name", b->name) != 0 ||
      svc_json_str(o, "version", b->version) != 0) {
    goto fail;
  }
  for (size_t i = 0; i < b->nservices; ++i) {
    if (svc_json_array_add(svcs, json_object_new_string(b->services[i])) != 0) {
      goto fail;
    }
  }
  if (json_object_object_add(o, "services", svcs) != 0) {
    goto fail;
  }
  return o;
fail:
  json_object_put(svcs);
  json_object_put(o);
  return NULL;
}

long dsb_services_bundles_json(const dsb_services *r, char *out,
                               size_t outlen) {
  if (!r || (!out && outlen)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  json_object *arr = json_object_new_array();
  if (!arr) {
    return DSB_ERR_NOMEM;
  }
  for (size_t i = 0; i < DSB_SERVICES_MAX_BUNDLES; ++i) {
    if (r->bundles[i].used &&
        svc_json_array_add(arr, svc_bundle_json(&r->bundles[i])) != 0) {
      json_object_put(arr);
      return DSB_ERR_NOMEM;
    }
  }
  return svc_json_wrap_emit(arr, "bundles", out, outlen);
}

/* ---- built-in services ---------------------------------------------------
 */

static int svc_method_is(const dsb_rpc_call *call, const char *m) {
  size_t n = strlen(m);
  return call->methodlen == n && memcmp(call->method, m, n) == 0;
}

static long svc_samgr(void *ctx, uint8_t *out, size_t outlen,
                      const dsb_services_request *req) {
  const dsb_services *r = ctx;
  const dsb_rpc_call *call = req->call;
  dsb_service_info info;

  if (svc_method_is(call, "list")) {
    if (call->payloadlen != 0) {
      return DSB_ERR_PROXY_MALFORMED;
    }
    return dsb_services_list_json(r, (char *)out, outlen);
  }
  if (svc_method_is(call, "resolve")) {
    /* Payload: the service name, raw bytes. */
    const char *name = (const char *)call->payload;
    if (!dsb_rpc_name_valid(name, call->payloadlen)) {
      return DSB_ERR_PROXY_MALFORMED;
    }
    if (dsb_services_lookup(r, &info, name, call->payloadlen) != 0) {
      return DSB_ERR_PROXY_UNKNOWN_SERVICE;
    }
    json_object *o = svc_info_json(&info);
    if (!o) {
      return DSB_ERR_NOMEM;
    }
    return svc_json_emit(o, (char *)out, outlen);
  }
  return DSB_ERR_PROXY_UNKNOWN_METHOD;
}

static long svc_bundles(void *ctx, uint8_t *out, size_t outlen,
                        const dsb_services_request *req) {
  if (!svc_method_is(req->call, "list")) {
    return DSB_ERR_PROXY_UNKNOWN_METHOD;
  }
  if (req->call->payloadlen != 0) {
    return DSB_ERR_PROXY_MALFORMED;
  }
  return dsb_services_bundles_json(ctx, (char *)out, outlen);
}

static long svc_echo(void *ctx, uint8_t *out, size_t outlen,
                     const dsb_services_request *req) {
  const dsb_rpc_call *call = req->call;
  (void)ctx;
  if (svc_method_is(call, "ping")) {
    return 0;
  }
  if (!svc_method_is(call, "echo")) {
    return DSB_ERR_PROXY_UNKNOWN_METHOD;
  }
  if (call->payloadlen > outlen) {
    return DSB_ERR_NOBUF;
  }
  if (call->payloadlen) {
    memcpy(out, call->payload, call->payloadlen);
  }
  return (long)call->payloadlen;
}

/* ---- dispatch ------------------------------------------------------------
 */

static void svc_count(dsb_services *r, int err) {
  switch (err) {
  case 0:
    break;
  case DSB_ERR_PROXY_DENIED:
    r->stats.denied++;
    break;
  case DSB_ERR_PROXY_UNKNOWN_SERVICE:
    r->stats.unknown_service++;
    break;
  case DSB_ERR_PROXY_UNKNOWN_METHOD:
    r->stats.unknown_method++;
    break;
  case DSB_ERR_PROXY_OVERSIZE:
    r->stats.oversize++;
    break;
  case DSB_ERR_PROXY_MALFORMED:
    r->stats.malformed++;
    break;
  default:
    r->stats.failed++;
    break;
  }
}

/* Finish |res| as a reply with |payloadlen| bytes already at reply + 7. */
static int svc_reply(dsb_services *r, dsb_services_result *res, uint8_t *reply,
                     size_t cap, uint8_t status, size_t payloadlen,
                     uint64_t nonce, const dsb_rpc_limits *limits) {
  dsb_rpc_reply rep = {status, payloadlen ? reply + 7 : NULL, payloadlen,
                       nonce};
  long n = dsb_rpc_reply_encode(reply, cap, &rep, limits);
  if (n < 0) {
    return (int)n; /* cap was checked by the caller: not reached */
  }
  res->action = DSB_SERVICES_REPLY;
  res->status = status;
  res->err = dsb_rpc_status_to_err(status);
  res->replylen = (size_t)n;
  /* A service's own failure is an answer, not a reject to log. */
  res->label = (res->err != 0 && res->err != DSB_ERR_PROXY_FAILED)
                   ? dsb_strerror(res->err)
                   : NULL;
  svc_count(r, res->err);
  return 0;
}

int dsb_services_dispatch(dsb_services *r, dsb_services_result *res,
                          uint8_t *reply, size_t replylen,
                          const dsb_policy *policy, const char *peer_id,
                          unsigned peer_flags, const dsb_rpc_call *call,
                          const dsb_rpc_limits *limits) {
  dsb_rpc_limits deflimits;

  if (!r || !res || !reply || !policy || !peer_id || !call) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (!limits) {
    dsb_rpc_limits_default(&deflimits);
    limits = &deflimits;
  }
  size_t cap = replylen < limits->max_reply ? replylen : limits->max_reply;
  if (cap < DSB_RPC_REPLY_OVERHEAD) {
    return DSB_ERR_NOBUF;
  }
  memset(res, 0, sizeof(*res));
  res->rule = -1;
  r->stats.dispatched++;

  /* 1. Policy first: nothing of a denied call reaches any service. */
  long rule = dsb_policy_eval(policy, peer_id, peer_flags, call->service,
                              call->servicelen, call->method, call->methodlen);
  if (rule < 0) {
    return svc_reply(r, res, reply, cap, DSB_RPC_DENIED, 0, call->nonce,
                     limits);
  }
  res->rule = rule;

  /* 2. The service must exist. */
  svc_entry *e = svc_find(r, call->service, call->servicelen);
  if (!e) {
    return svc_reply(r, res, reply, cap, DSB_RPC_UNKNOWN_SERVICE, 0,
                     call->nonce, limits);
  }

  /* 3. Apps answer asynchronously through the daemon. */
  if (e->info.kind == DSB_SERVICE_KIND_APP) {
    res->action = DSB_SERVICES_FORWARD;
    res->owner = e->info.owner;
    r->stats.forwarded++;
    return 0;
  }

  dsb_services_request req = {peer_id, peer_flags, call};
  size_t room = cap - DSB_RPC_REPLY_OVERHEAD;
  long n = e->fn(e->ctx, reply + 7, room, &req);
  if (n < 0) {
    return svc_reply(r, res, reply, cap, dsb_rpc_status_from_err((int)n), 0,
                     call->nonce, limits);
  }
  if ((size_t)n > room) {
    /* A handler that claims more than it was given is broken. */
    return svc_reply(r, res, reply, cap, DSB_RPC_FAILED, 0, call->nonce,
                     limits);
  }
  return svc_reply(r, res, reply, cap, DSB_RPC_OK, (size_t)n, call->nonce,
                   limits);
}

int dsb_services_handle_message(dsb_services *r, dsb_services_result *res,
                                dsb_rpc_call *call, uint8_t *reply,
                                size_t replylen, const dsb_policy *policy,
                                const char *peer_id, unsigned peer_flags,
                                const uint8_t *msg, size_t msglen,
                                const dsb_rpc_limits *limits) {
  dsb_rpc_msg m;

  if (!r || !res || !call || !reply || !policy || !peer_id ||
      (!msg && msglen)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  int err = dsb_rpc_decode(&m, msg, msglen, limits);
  if (err == 0 && m.op != DSB_RPC_OP_CALL) {
    /* Replies never travel on a stream the peer opened. */
    r->stats.dropped++;
    return DSB_ERR_PROXY_MALFORMED;
  }
  if (err == 0) {
    *call = m.call;
    return dsb_services_dispatch(r, res, reply, replylen, policy, peer_id,
                                 peer_flags, call, limits);
  }
  dsb_rpc_limits deflimits;
  if (!limits) {
    dsb_rpc_limits_default(&deflimits);
    limits = &deflimits;
  }
  size_t cap = replylen < limits->max_reply ? replylen : limits->max_reply;
  long n = dsb_rpc_reject_encode(reply, cap, msg, msglen, err);
  if (n < 0) {
    r->stats.dropped++;
    return (int)n;
  }
  memset(res, 0, sizeof(*res));
  memset(call, 0, sizeof(*call));
  dsb_rpc_peek(&m.op, &call->nonce, msg, msglen);
  res->action = DSB_SERVICES_REPLY;
  res->status = reply[2];
  res->err = dsb_rpc_status_to_err(res->status);
  res->rule = -1;
  res->replylen = (size_t)n;
  res->label = dsb_strerror(err);
  r->stats.dispatched++;
  svc_count(r, res->err);
  return 0;
}

long dsb_services_format_reject(char *out, size_t outlen,
                                const dsb_services_result *res,
                                const char *peer_id, const dsb_rpc_call *call) {
  if (!out || outlen == 0 || !res || !peer_id || !call) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  /* Names passed the decoder's charset check, so they are safe to log;
   * the payload never appears. */
  /* An undecodable call has no names: print them empty. */
  const char *svc = call->service ? call->service : "";
  const char *meth = call->method ? call->method : "";
  int svclen = call->service ? (int)call->servicelen : 0;
  int methlen = call->method ? (int)call->methodlen : 0;
  int n = snprintf(out, outlen, "%s peer=%s service=%.*s method=%.*s",
                   res->label ? res->label : dsb_rpc_status_name(res->status),
                   peer_id, svclen, svc, methlen, meth);
  if (n < 0) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  return (size_t)n < outlen ? n : (long)outlen - 1;
}

void dsb_services_get_stats(const dsb_services *r, dsb_services_stats *stats) {
  if (r && stats) {
    *stats = r->stats;
  }
}
