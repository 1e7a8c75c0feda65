/*
 * proxy.h - dsoftbusd's remote service proxy (proxy.c): the "dsb.rpc"
 * streams of every session, the policy (file, SIGHUP reload), the service
 * registry (built-ins and app services), calls made by local apps and calls
 * forwarded to them. Wire formats: docs/PROTOCOL.md "Remote calls" and
 * "Local API: remote calls".
 *
 * Everything runs on the daemon's loop thread. Every hook accepts a NULL
 * proxy (the daemon is starting or stopping) and then does nothing.
 */
#ifndef DSBD_PROXY_H
#define DSBD_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "dsb/rpc.h"
#include "dsbd.h"

/* Mux stream user data tag of the proxy's streams (see DSBD_UD_* in
 * dsbd.h): the user data starts with this int. */
#define DSBD_UD_RPC 3

struct dsb_mux;
typedef struct dsbd_proxy dsbd_proxy;

/*
 * Apply the config key |key| (JSON value |val|): "policy" (a path) or
 * "proxy" (an object of limits, docs/ARCHITECTURE.md). Returns 1 if the key
 * is not the proxy's, 0 when applied, -1 with the failing field (e.g.
 * "proxy.max_reply", as it appears in the file: the caller escapes it) in
 * |field| and what was expected in |what|.
 */
int dsbd_proxy_config_key(dsbd_proxy_config *pc, const char *key,
                          json_object *val, char *field, size_t fieldlen,
                          char *what, size_t whatlen);

/*
 * Load the policy (cfg->proxy.policy, else the default policy), create the
 * registry, the pending-call tables, the call timer and the SIGHUP handler.
 * An invalid policy file is logged (file, field, what was expected) and
 * refused: the daemon must not start.
 * Errors: DSB_ERR_PROXY_POLICY_INVALID, DSB_ERR_IO, DSB_ERR_NOMEM,
 * DSB_ERR_CONFIG (limits out of range).
 */
int dsbd_proxy_new(dsbd_proxy **ppx, dsbd *d);

/* Stop the timer and the signal handler; the proxy is freed once libuv has
 * closed them. Pending calls are dropped. NULL is a no-op. */
void dsbd_proxy_close(dsbd_proxy *px);

/* ---- provided to the proxy by peers.c and local_api.c ------------------ */

/*
 * The session with device |id|: the kept one, established or still
 * connecting (then dsbd_proxy_session_up() follows), else a new connection
 * is started. Errors: DSB_ERR_INVALID_ARGUMENT (our own id), the trust
 * check's errors, DSB_ERR_IPC_NO_PEER, DSB_ERR_LIMIT, DSB_ERR_NOMEM.
 */
int dsbd_peers_connect(dsbd_peers *pp, const dsb_device_id *id,
                       dsbd_peer **ppeer);
/* The device of a session (NULL before the handshake names it). */
const dsb_device_id *dsbd_peer_device(const dsbd_peer *peer);
/* The mux of an established, open session, else NULL. */
struct dsb_mux *dsbd_peer_mux(const dsbd_peer *peer);
/* Send a raw local API packet to |c| (as dsbd_client_send). */
int dsbd_client_send_raw(dsbd_client *c, const uint8_t *p, size_t len);

/* ---- hooks from peers.c ------------------------------------------------- */

/* The peer opened a stream named "dsb.rpc". Returns 0 or -1 (mux error). */
int dsbd_proxy_on_stream_open(dsbd_proxy *px, dsbd_peer *peer,
                              struct dsb_mux *mux, uint32_t id, uint8_t mode);
/* A message on a stream whose user data is tagged DSBD_UD_RPC. */
int dsbd_proxy_on_message(dsbd_proxy *px, void *ud, const uint8_t *data,
                          size_t len);
/* The stream with DSBD_UD_RPC user data can take more (or was accepted). */
void dsbd_proxy_on_writable(dsbd_proxy *px, void *ud);
/* Stream |id| of |peer| was reset. Returns 1 if it was the proxy's. */
int dsbd_proxy_on_stream_reset(dsbd_proxy *px, dsbd_peer *peer, uint32_t id);
/* The session |peer| is established / is gone (calls on it end). */
void dsbd_proxy_session_up(dsbd_proxy *px, dsbd_peer *peer);
void dsbd_proxy_session_gone(dsbd_proxy *px, dsbd_peer *peer);

/* ---- hooks from local_api.c --------------------------------------------- */

/* A packet whose op is dsb_ipc_rpc_op_is_ours(). Always answers it. */
void dsbd_proxy_ipc(dsbd_proxy *px, dsbd_client *c, const uint8_t *p,
                    size_t len);
/* |c| disconnected: withdraw its services, answer its forwarded calls
 * "unavailable", forget its own calls. */
void dsbd_proxy_client_gone(dsbd_proxy *px, dsbd_client *c);

/* ---- hooks from discovery.c --------------------------------------------- */

/* Call |fn| with the name of every service apps registered for remote
 * calls (built-ins left out: every daemon offers them), in registry
 * order. The proxy calls dsbd_services_changed() when that set changes. */
void dsbd_proxy_each_service(dsbd_proxy *px,
                             void (*fn)(void *ctx, const char *service),
                             void *ctx);

/* ---- hooks from daemon.c ------------------------------------------------ */

void dsbd_proxy_add_counters(dsbd_proxy *px,
                             void (*fn)(void *ctx, const char *label,
                                        uint64_t v),
                             void *ctx);

#endif /* DSBD_PROXY_H */
