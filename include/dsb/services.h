/*
 * dsb/services.h - the services a device offers to remote callers, and the
 * dispatcher that decides what happens to an incoming call.
 *
 * The registry holds the built-in services
 *   samgr    methods "list" (every service offered, JSON) and "resolve"
 *            (payload: a service name; reply: its JSON description)
 *   bundles  method "list" (registered applications, JSON)
 *   echo     methods "echo" (reply = request payload) and "ping" (empty)
 * plus in-process handler services (dsb_services_add_handler()) and app
 * services, which the daemon forwards to the local application that owns
 * them. Reply formats: docs/PROTOCOL.md, "Remote calls".
 *
 * dsb_services_dispatch() applies the policy FIRST: a call no rule allows
 * is answered "denied" and nothing of it reaches any service. Then an
 * unknown service is answered "unknown_service"; then a built-in or handler
 * runs, or the result says which application to forward to.
 *
 * Thread safety: a registry is not thread-safe; use it from the daemon's
 * loop thread only. Handlers run on the dispatching thread.
 *
 * Ownership: the registry allocates everything at creation through |mem|;
 * strings passed in are copied. Handler contexts are borrowed.
 */
#ifndef DSB_SERVICES_H
#define DSB_SERVICES_H

#include <stddef.h>
#include <stdint.h>

#include "dsb/common.h"
#include "dsb/policy.h"
#include "dsb/rpc.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DSB_SERVICES_MAX 128           /* services, built-ins included */
#define DSB_SERVICES_MAX_BUNDLES 64    /* registered applications */
#define DSB_SERVICES_PER_BUNDLE_MAX 16 /* services one bundle exports */
#define DSB_SERVICES_DESC_MAX 256      /* printable ASCII bytes */
#define DSB_SERVICES_VERSION_MAX 32    /* [A-Za-z0-9.+_-] bytes */

#define DSB_SERVICE_SAMGR "samgr"
#define DSB_SERVICE_BUNDLES "bundles"
#define DSB_SERVICE_ECHO "echo"

typedef struct dsb_services dsb_services;

typedef enum dsb_service_kind {
  DSB_SERVICE_KIND_BUILTIN = 0, /* samgr, bundles, echo */
  DSB_SERVICE_KIND_HANDLER = 1, /* in-process handler function */
  DSB_SERVICE_KIND_APP = 2      /* forwarded to a local application */
} dsb_service_kind;

/* A service, as plain values. */
typedef struct dsb_service_info {
  char name[DSB_RPC_NAME_MAX + 1];
  char description[DSB_SERVICES_DESC_MAX + 1];
  dsb_service_kind kind;
  uint64_t owner;                    /* APP: the owning client; else 0 */
  char bundle[DSB_RPC_NAME_MAX + 1]; /* exporting bundle, or "" */
} dsb_service_info;

/* What a handler sees of a call; everything is borrowed for the call. */
typedef struct dsb_services_request {
  const char *peer_id; /* caller's device id text, NUL-terminated */
  unsigned peer_flags; /* DSB_POLICY_PEER_* */
  const dsb_rpc_call *call;
} dsb_services_request;

/*
 * An in-process service. Write the reply payload into |out| (at most
 * |outlen| bytes) and return its length, or return a negative code:
 * DSB_ERR_NOBUF (reply too large: status "oversize"), a DSB_ERR_PROXY_*
 * code (its status), anything else (status "failed").
 */
typedef long (*dsb_services_handler_fn)(void *ctx, uint8_t *out, size_t outlen,
                                        const dsb_services_request *req);

/* One service a bundle exports. */
typedef struct dsb_bundle_service {
  const char *name;        /* a service name (dsb/service_name.h) */
  const char *description; /* may be NULL or "" */
} dsb_bundle_service;

/* An application registering with the daemon. */
typedef struct dsb_bundle {
  /* 1..64 bytes of [A-Za-z0-9._-], e.g. com.example.cam: an application,
   * not a service, so not held to the service-name rule */
  const char *name;
  const char *version; /* 1..32 bytes of [A-Za-z0-9.+_-] */
  const dsb_bundle_service *services;
  size_t nservices; /* <= DSB_SERVICES_PER_BUNDLE_MAX */
} dsb_bundle;

typedef enum dsb_services_action {
  DSB_SERVICES_REPLY = 0,  /* the encoded reply frame is in the reply buffer */
  DSB_SERVICES_FORWARD = 1 /* forward the call to the app |owner| */
} dsb_services_action;

typedef struct dsb_services_result {
  dsb_services_action action;
  uint8_t status;    /* dsb_rpc_status of the reply (REPLY) */
  int err;           /* the DSB_ERR_PROXY_* code |status| stands for, or 0 */
  long rule;         /* index of the policy rule that allowed; -1 if denied */
  size_t replylen;   /* REPLY: bytes of the reply frame */
  uint64_t owner;    /* FORWARD: the owning client */
  const char *label; /* the reject label to log ("proxy.reject.denied",
                        ...), or NULL when the call was served */
} dsb_services_result;

typedef struct dsb_services_stats {
  uint64_t dispatched;
  uint64_t denied;
  uint64_t unknown_service;
  uint64_t unknown_method;
  uint64_t oversize;
  uint64_t failed;
  uint64_t forwarded;
  uint64_t malformed; /* calls answered "malformed" */
  uint64_t dropped;   /* messages dropped unanswered */
} dsb_services_stats;

/* A registry holding the three built-ins.
 * Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_NOMEM. */
int dsb_services_new(dsb_services **pservices, const dsb_mem *mem);

/* NULL is a no-op. */
void dsb_services_del(dsb_services *services);

/*
 * Offer |name| served by the local application |owner| (non-zero, chosen by
 * the daemon, e.g. its client id). |name| follows the service-name rule,
 * 1..48 of [A-Za-z0-9._-] (dsb/service_name.h), as do the names of handler
 * and bundle services. |description| may be NULL.
 * Errors: DSB_ERR_INVALID_ARGUMENT (bad name, description or owner 0),
 * DSB_ERR_EXISTS, DSB_ERR_LIMIT.
 */
int dsb_services_add_app(dsb_services *services, const char *name,
                         const char *description, uint64_t owner);

/* Offer |name| served in-process by |fn|.
 * Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_EXISTS, DSB_ERR_LIMIT. */
int dsb_services_add_handler(dsb_services *services, const char *name,
                             const char *description,
                             dsb_services_handler_fn fn, void *ctx);

/* Withdraw |name| (also from its bundle's export list).
 * Errors: DSB_ERR_NOT_FOUND, DSB_ERR_PERMISSION (a built-in). */
int dsb_services_remove(dsb_services *services, const char *name);

/* Withdraw every service and bundle of |owner| (its app went away).
 * Returns the number of services withdrawn. */
size_t dsb_services_remove_owner(dsb_services *services, uint64_t owner);

/*
 * Register |bundle| for |owner| (non-zero) and offer the services it
 * exports, all or nothing.
 * Errors: DSB_ERR_INVALID_ARGUMENT (a field out of its bounds),
 * DSB_ERR_EXISTS (bundle name or a service name taken), DSB_ERR_LIMIT.
 */
int dsb_services_bundle_add(dsb_services *services, const dsb_bundle *bundle,
                            uint64_t owner);

/* Unregister a bundle and withdraw its services. Errors: DSB_ERR_NOT_FOUND */
int dsb_services_bundle_remove(dsb_services *services, const char *name);

/* Walk the registry: start with |*cursor| 0; each call fills |info| with
 * the next service (built-ins included, in slot order, a freed slot being
 * reused) and returns 1, or returns 0 at the end. */
int dsb_services_next(const dsb_services *services, size_t *cursor,
                      dsb_service_info *info);

size_t dsb_services_count(const dsb_services *services);
size_t dsb_services_bundle_count(const dsb_services *services);

/* Look a service up by name (|namelen| bytes, no NUL needed).
 * Errors: DSB_ERR_NOT_FOUND, DSB_ERR_INVALID_ARGUMENT. */
int dsb_services_lookup(const dsb_services *services, dsb_service_info *info,
                        const char *name, size_t namelen);

/*
 * The samgr "list" and bundles "list" reply payloads (JSON text, no NUL),
 * for local listings too. Returns the length written.
 * Errors: DSB_ERR_NOBUF, DSB_ERR_NOMEM, DSB_ERR_INVALID_ARGUMENT.
 */
long dsb_services_list_json(const dsb_services *services, char *out,
                            size_t outlen);
long dsb_services_bundles_json(const dsb_services *services, char *out,
                               size_t outlen);

/*
 * Decide and, when it can be answered here, answer the call |call| from
 * |peer_id| (device id text, NUL-terminated) with |peer_flags|. The reply
 * frame is encoded into |reply| (size it with limits->max_reply; NULL
 * |limits| means the defaults); |res| says what happened. Order: policy
 * (denied), service lookup (unknown_service), then the service: built-in and
 * handler replies are written, app services give DSB_SERVICES_FORWARD.
 * A reply larger than the limit or the buffer becomes status "oversize".
 * Returns 0 whenever |res| is filled in (the status may be an error).
 * Errors: DSB_ERR_INVALID_ARGUMENT (NULL argument), DSB_ERR_NOBUF (|reply|
 * cannot hold even an empty reply frame).
 */
int dsb_services_dispatch(dsb_services *services, dsb_services_result *res,
                          uint8_t *reply, size_t replylen,
                          const dsb_policy *policy, const char *peer_id,
                          unsigned peer_flags, const dsb_rpc_call *call,
                          const dsb_rpc_limits *limits);

/*
 * The callee's whole handling of one message received on a `dsb.rpc` stream
 * the PEER opened: decode it (|limits| are this end's), then
 *  - a call that decodes: dsb_services_dispatch(); |*call| is the decoded
 *    view (borrowing |msg|), e.g. to forward it to an application;
 *  - a call that does not decode but whose nonce is readable: |res| holds
 *    an "oversize" or "malformed" reply for the caller (label set, rule -1);
 * Returns 0 whenever |res| is filled in.
 * Errors (drop the message and count the label; nothing is sent back):
 * DSB_ERR_PROXY_MALFORMED (a reply frame: only calls travel this way, or
 * too short to hold a nonce), DSB_ERR_PROXY_VERSION (another version: the
 * nonce position is not known), DSB_ERR_NOBUF, DSB_ERR_INVALID_ARGUMENT.
 */
int dsb_services_handle_message(dsb_services *services,
                                dsb_services_result *res, dsb_rpc_call *call,
                                uint8_t *reply, size_t replylen,
                                const dsb_policy *policy, const char *peer_id,
                                unsigned peer_flags, const uint8_t *msg,
                                size_t msglen, const dsb_rpc_limits *limits);

/*
 * One log line for a rejected call, without its payload:
 *   "proxy.reject.denied peer=<id> service=<name> method=<name>"
 * Returns the length written (truncated to fit), or
 * DSB_ERR_INVALID_ARGUMENT.
 */
long dsb_services_format_reject(char *out, size_t outlen,
                                const dsb_services_result *res,
                                const char *peer_id, const dsb_rpc_call *call);

void dsb_services_get_stats(const dsb_services *services,
                            dsb_services_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* DSB_SERVICES_H */
