/*
 * dsb/client_rpc.h - remote service calls through dsoftbusd, for apps
 * (part of the client library; wire format docs/PROTOCOL.md "Local API:
 * remote calls").
 *
 * Calling: dsb_client_rpc_call() sends one call and waits for its reply;
 * dsb_client_rpc_call_start() / dsb_client_rpc_call_wait() keep many calls
 * in flight on one connection. Each reply is matched to its call by nonce
 * (by the daemon on the network side, and here on the local side), so it
 * reaches exactly the caller that asked.
 *
 * Serving: register a service (optionally with a handler) and, when
 * dsb_client_fd() is readable, call dsb_client_rpc_serve(); or take calls
 * one by one with dsb_client_rpc_next_call() and answer each, possibly
 * later, with dsb_client_rpc_answer(). Each incoming call names the device
 * that made it (as the daemon authenticated it) and has passed the
 * daemon's policy. When the app disconnects, the daemon withdraws its
 * services and answers its unanswered calls "unavailable".
 *
 * Thread safety: like dsb_client, not thread-safe; one thread per client.
 * Ownership: reply payloads are malloc'd for the caller
 * (dsb_client_rpc_reply_free); request views live until the next
 * dsb_client_rpc_* call on the same client.
 */
#ifndef DSB_CLIENT_RPC_H
#define DSB_CLIENT_RPC_H

#include <stddef.h>
#include <stdint.h>

#include "dsb/client.h"
#include "dsb/rpc.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DSB_CLIENT_RPC_MAX_SERVICES 16
#define DSB_CLIENT_RPC_MAX_IN_FLIGHT 4096    /* calls started, not yet waited */
#define DSB_CLIENT_RPC_MAX_QUEUED_CALLS 1024 /* incoming, not yet taken */
/* Payload bytes held for the app: replies not yet collected and incoming
 * calls not yet taken. A reply beyond it completes its call with
 * DSB_ERR_IPC_QUEUE_FULL (status "failed", no payload); an incoming call
 * beyond it is answered "too_many_calls". */
#define DSB_CLIENT_RPC_MAX_QUEUED_BYTES (32u * 1024 * 1024)

/* An incoming call. All members are valid until the next dsb_client_rpc_*
 * call on the client. */
typedef struct dsb_client_rpc_request {
  uint64_t call; /* quote it in dsb_client_rpc_answer() */
  char device_id[DSB_DEVICE_ID_TEXT_LEN + 1];
  unsigned peer_flags; /* DSB_POLICY_PEER_* (dsb/policy.h) */
  char service[DSB_RPC_NAME_MAX + 1];
  char method[DSB_RPC_NAME_MAX + 1];
  const uint8_t *payload;
  size_t payloadlen;
} dsb_client_rpc_request;

/*
 * A service handler: write the reply payload into |out| (|outlen| bytes)
 * and return its length; or return a negative code: a DSB_ERR_PROXY_* code
 * answers with its status, DSB_ERR_NOBUF with "oversize", anything else
 * with "failed".
 */
typedef long (*dsb_client_rpc_handler)(void *ctx, uint8_t *out, size_t outlen,
                                       const dsb_client_rpc_request *req);

/* A reply. |payload| is malloc'd (NULL when empty). */
typedef struct dsb_client_rpc_reply {
  uint64_t handle; /* the call's handle (dsb_client_rpc_call_start) */
  uint8_t status;  /* dsb_rpc_status */
  int err;         /* 0, or the DSB_ERR_PROXY_* code |status| stands for */
  uint8_t *payload;
  size_t payloadlen;
} dsb_client_rpc_reply;

void dsb_client_rpc_reply_free(dsb_client_rpc_reply *reply);

/*
 * Offer |service| to remote callers, as the daemon's policy allows. The
 * name follows the service-name rule, 1..48 of [A-Za-z0-9._-]
 * (dsb/service_name.h), checked before anything is sent; the daemon
 * announces the service in discovery. |description| (0..255 printable bytes)
 * may be NULL. With |fn| NULL calls are taken with dsb_client_rpc_next_call().
 * Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_EXISTS (a service of that name
 * exists on this device), DSB_ERR_LIMIT, and the transport errors.
 */
int dsb_client_rpc_register(dsb_client *c, const char *service,
                            const char *description, dsb_client_rpc_handler fn,
                            void *ctx);

/* Withdraw a service this client registered.
 * Errors: DSB_ERR_NOT_FOUND, DSB_ERR_PERMISSION (not ours), transport. */
int dsb_client_rpc_unregister(dsb_client *c, const char *service);

/* A bundle: an application as `bundles list` shows it. */
typedef struct dsb_client_bundle_service {
  const char *name;
  const char *description; /* may be NULL */
} dsb_client_bundle_service;

typedef struct dsb_client_bundle {
  const char *name;    /* 1..64 of [A-Za-z0-9._-], e.g. com.example.cam */
  const char *version; /* 1..32 of [A-Za-z0-9.+_-] */
  const dsb_client_bundle_service *services;
  size_t nservices; /* <= 16 */
} dsb_client_bundle;

/*
 * Register this app's bundle and offer the services it exports (all or
 * nothing). Each service name follows the service-name rule (checked
 * before anything is sent); the bundle name may be 1..64 bytes. Serve them with
 * dsb_client_rpc_set_handler() or take the calls with
 * dsb_client_rpc_next_call(). Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_EXISTS,
 * DSB_ERR_LIMIT, transport errors.
 */
int dsb_client_rpc_register_bundle(dsb_client *c, const dsb_client_bundle *b);

/* Set (or clear, |fn| NULL) the handler of a service registered by this
 * client. Errors: DSB_ERR_NOT_FOUND, DSB_ERR_LIMIT, DSB_ERR_NOMEM. */
int dsb_client_rpc_set_handler(dsb_client *c, const char *service,
                               dsb_client_rpc_handler fn, void *ctx);

/*
 * Handle incoming calls for services with handlers: wait up to
 * |timeout_ms| (0: do not wait; < 0: forever) for the first, then handle
 * every call already received. Calls for services without a handler stay
 * queued for dsb_client_rpc_next_call(). Returns the number of calls
 * handled (>= 0). Errors: DSB_ERR_CLOSED, DSB_ERR_IO, DSB_ERR_NOMEM.
 */
int dsb_client_rpc_serve(dsb_client *c, int timeout_ms);

/*
 * Take the next incoming call (any service), waiting up to |timeout_ms|.
 * Returns 1 with |*req| filled, 0 if none came, or DSB_ERR_CLOSED,
 * DSB_ERR_IO, DSB_ERR_NOMEM.
 */
int dsb_client_rpc_next_call(dsb_client *c, dsb_client_rpc_request *req,
                             int timeout_ms);

/*
 * Answer call |call| with |status| (dsb_rpc_status) and a payload of at
 * most DSB_IPC_RPC_ANSWER_PAYLOAD_MAX bytes. The daemon checks that the
 * call was given to this client and is still waiting; if not, the answer
 * is dropped there and counted. Returns 0 once sent.
 * Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_PROXY_OVERSIZE, transport.
 */
int dsb_client_rpc_answer(dsb_client *c, uint64_t call, uint8_t status,
                          const uint8_t *payload, size_t len);

/*
 * Call |method| of |service| on device |device_id| (32 hex characters)
 * and wait for the reply (|timeout_ms| 0: the daemon's default call
 * timeout, else 1..600000). Returns 0 when the call was decided, with the
 * outcome in |reply| (status "ok", "denied", "timeout", ...), else an error
 * before any reply: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_MALFORMED (device
 * id), DSB_ERR_PROXY_OVERSIZE (payload over what one call can carry),
 * DSB_ERR_TRUST_UNKNOWN, DSB_ERR_TRUST_BLOCKED, DSB_ERR_IPC_NO_PEER,
 * DSB_ERR_LIMIT, DSB_ERR_IPC_QUEUE_FULL (the reply came while over
 * DSB_CLIENT_RPC_MAX_QUEUED_BYTES of uncollected replies), transport
 * errors (DSB_ERR_TIMEOUT also when the daemon took no request for the
 * client's timeout).
 */
int dsb_client_rpc_call(dsb_client *c, const char *device_id,
                        const char *service, const char *method,
                        const uint8_t *payload, size_t len, int timeout_ms,
                        dsb_client_rpc_reply *reply);

/* Start a call without waiting; |*handle| identifies its reply. At most
 * DSB_CLIENT_RPC_MAX_IN_FLIGHT calls. Errors as dsb_client_rpc_call, plus
 * DSB_ERR_LIMIT. */
int dsb_client_rpc_call_start(dsb_client *c, uint64_t *handle,
                              const char *device_id, const char *service,
                              const char *method, const uint8_t *payload,
                              size_t len, int timeout_ms);

/*
 * The next finished call started with dsb_client_rpc_call_start(), waiting
 * up to |timeout_ms|. Returns 1 with |*reply| filled (reply->err set to a
 * local error such as DSB_ERR_TRUST_UNKNOWN when the daemon refused to
 * send it, or DSB_ERR_IPC_QUEUE_FULL when its payload arrived over
 * DSB_CLIENT_RPC_MAX_QUEUED_BYTES), 0 if none finished, DSB_ERR_NOT_FOUND
 * if no call is in flight, or DSB_ERR_CLOSED, DSB_ERR_IO.
 */
int dsb_client_rpc_call_wait(dsb_client *c, dsb_client_rpc_reply *reply,
                             int timeout_ms);

/* Calls started and not yet returned by dsb_client_rpc_call_wait(). */
size_t dsb_client_rpc_in_flight(const dsb_client *c);

/*
 * Ask the daemon which policy rule decides a call from |device_id| to
 * |service|/|method|. |*rule| gets the rule index or -1 (denied); |text|
 * one line explaining it (NUL-terminated, truncated to |textlen|).
 * Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_MALFORMED, transport.
 */
int dsb_client_rpc_policy_check(dsb_client *c, const char *device_id,
                                const char *service, const char *method,
                                long *rule, char *text, size_t textlen);

/* Local counters: replies and answers that matched nothing here. */
uint64_t dsb_client_rpc_stale(const dsb_client *c);

#ifdef __cplusplus
}
#endif

#endif /* DSB_CLIENT_RPC_H */
