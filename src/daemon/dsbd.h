/*
 * dsbd.h - internal interfaces of dsoftbusd (src/daemon). Not installed.
 *
 * The daemon is one libuv loop on one thread. Files by concern:
 *   main.c      options, logging setup, process entry
 *   config.c    defaults and the JSON config file
 *   daemon.c    wiring: identity, trust, discovery, TCP transport, signals,
 *               counters, clean shutdown
 *   local_api.c the local API server (Unix SOCK_SEQPACKET, SO_PEERCRED)
 *   peers.c     one session + mux per peer device, connect on demand,
 *               dedupe of simultaneous connects
 *   streams.c   app stream sockets <-> mux streams
 * Everything here runs on the loop thread; nothing is thread-safe.
 */
#ifndef DSBD_H
#define DSBD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <uv.h>

#include "dsb/common.h"
#include "dsb/identity.h"
#include "dsb/ipc.h"

/* ---- configuration ------------------------------------------------------ */

#define DSBD_MAX_INTERFACES 8
#define DSBD_MAX_PEER_ADDRS 16
#define DSBD_PATH_MAX 4096

/* Remote calls (proxy.c): the policy file and limits; 0 / "" = default. */
typedef struct dsbd_proxy_config {
  char policy[DSBD_PATH_MAX];
  uint32_t max_request;
  uint32_t max_reply;
  uint32_t max_calls_per_peer;
  uint32_t call_timeout_ms;
} dsbd_proxy_config;

typedef struct dsbd_config {
  char state_dir[DSBD_PATH_MAX];
  char socket_path[108]; /* sun_path */
  int port;              /* session TCP port, 0 = ephemeral */
  int disc_port;         /* discovery UDP port, 0 = default */
  size_t ninterfaces;
  char interfaces[DSBD_MAX_INTERFACES][32];
  size_t npeers;
  char peers[DSBD_MAX_PEER_ADDRS][80]; /* HOST:PORT */
  char name[DSB_IPC_NAME_MAX + 1];
  int log_level; /* dsb_log_level */
  int allow_unknown;
  int backend;                /* DSBD_BACKEND_* (backend.h) */
  char netstackd_socket[108]; /* sun_path; netstackd mode only */
  dsbd_proxy_config proxy;
} dsbd_config;

#define DSBD_BACKEND_DIRECT 0
#define DSBD_BACKEND_NETSTACKD 1

/* Fill |cfg| with the zero-configuration defaults. */
int dsbd_config_defaults(dsbd_config *cfg);

/* ---- the daemon --------------------------------------------------------- */

typedef struct dsbd dsbd;
typedef struct dsbd_client dsbd_client;
typedef struct dsbd_peer dsbd_peer;
typedef struct dsbd_stream dsbd_stream;

/* Run the daemon until SIGINT/SIGTERM. Returns a process exit status. */
int dsbd_run(const dsbd_config *cfg);

/* Logging to stderr with a level filter. Never pass secrets. */
void dsbd_log(dsbd *d, dsb_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void dsbd_log_set_level(int level);
void dsbd_logf(dsb_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const dsb_log *dsbd_core_log(void);

/* Monotonic time for the sans-IO cores. */
dsb_tstamp dsbd_now(void);

/* Count one occurrence of |label| (a stable error label or counter name). */
void dsbd_count(dsbd *d, const char *label, uint64_t n);

/* The loop, identity and settings. */
uv_loop_t *dsbd_loop(dsbd *d);
const dsb_identity *dsbd_identity(const dsbd *d);
const dsbd_config *dsbd_cfg(const dsbd *d);
const char *dsbd_self_text(const dsbd *d);
uint16_t dsbd_session_port(const dsbd *d);
int dsbd_stopping(const dsbd *d);

/* Trust (daemon.c over the trust store): DSB_IPC_TRUST_* of |id|. */
int dsbd_trust_get(dsbd *d, const dsb_device_id *id);
/* Errors: DSB_ERR_LIMIT, DSB_ERR_IO (not saved) */
int dsbd_trust_set(dsbd *d, const dsb_device_id *id, int state,
                   const char *name);
/* The session peer check: 0, DSB_ERR_TRUST_BLOCKED, DSB_ERR_TRUST_UNKNOWN. */
int dsbd_trust_check(dsbd *d, const dsb_device_id *id);
/* Encode trust entries from index |start| into |dst| (list reply). */
long dsbd_trust_list(dsbd *d, uint8_t *dst, size_t dstlen, uint16_t start,
                     uint16_t *total, uint16_t *count);

/* Discovery (daemon.c): the published services changed, re-announce. */
void dsbd_services_changed(dsbd *d);
/* Discovery lookup for connecting. Errors: DSB_ERR_IPC_NO_PEER */
int dsbd_disc_endpoint(dsbd *d, const dsb_device_id *id,
                       struct sockaddr_storage *addr, uint8_t static_pk[32]);
long dsbd_disc_list(dsbd *d, uint8_t *dst, size_t dstlen, uint16_t start,
                    uint16_t *total, uint16_t *count);
size_t dsbd_disc_count(dsbd *d);

/* Status counters as a list reply. */
long dsbd_status_list(dsbd *d, uint8_t *dst, size_t dstlen, uint16_t start,
                      uint16_t *total, uint16_t *count);

/* ---- local API (local_api.c) ------------------------------------------- */

typedef struct dsbd_api dsbd_api;

int dsbd_api_new(dsbd_api **papi, dsbd *d, const char *path);
/* Disconnect every client, remove the socket file. */
void dsbd_api_del(dsbd_api *api);
size_t dsbd_api_clients(const dsbd_api *api);
/* Push a peer event to subscribed clients. */
void dsbd_api_peer_event(dsbd_api *api, uint8_t op, const dsb_device_id *id,
                         const char *name);
/* The client that published |service| (first match), or NULL. */
dsbd_client *dsbd_api_service_owner(dsbd_api *api, const char *service,
                                    size_t len);
/* Iterate published services: call |fn| for each (for announcements). */
void dsbd_api_each_service(dsbd_api *api,
                           void (*fn)(void *ctx, const char *service),
                           void *ctx);
/*
 * Send a reply or event to |c|, with |fd| (or -1) attached. The fd is
 * always consumed: passed on, or closed on failure. Returns 0, or an error
 * after which the client has been scheduled for disconnection.
 */
int dsbd_client_send(dsbd_client *c, const dsb_ipc_msg *msg, int fd);
/* Send an error reply. */
int dsbd_client_send_status(dsbd_client *c, uint8_t op, uint64_t nonce,
                            int status);
/* Streams owned by |c| drop their owner pointer when |c| goes away. */
void dsbd_client_add_stream(dsbd_client *c, dsbd_stream *s);
void dsbd_client_remove_stream(dsbd_client *c, dsbd_stream *s);
size_t dsbd_client_stream_count(const dsbd_client *c);
uint64_t dsbd_api_next_event_seq(dsbd_api *api);

/* Mux stream user data starts with one of these tags (peers.c, streams.c). */
#define DSBD_UD_OPEN 1   /* an OPEN request waiting for OPEN_ACK */
#define DSBD_UD_STREAM 2 /* a dsbd_stream */

/* ---- peers (peers.c) ---------------------------------------------------- */

typedef struct dsbd_peers dsbd_peers;

int dsbd_peers_new(dsbd_peers **pp, dsbd *d);
/* Reset every stream (reason |code|), close every session. */
void dsbd_peers_del(dsbd_peers *pp);
/* Session state (DSB_IPC_SESSION_*) with |id|. */
int dsbd_peers_session_state(dsbd_peers *pp, const dsb_device_id *id);
size_t dsbd_peers_sessions(const dsbd_peers *pp);
/* Periodic work: keepalive timeouts. */
void dsbd_peers_tick(dsbd_peers *pp);
/* Trust changed to blocked/unknown: close sessions no longer allowed. */
void dsbd_peers_trust_changed(dsbd_peers *pp, const dsb_device_id *id);
/* Mux counters summed over live and past sessions. */
void dsbd_peers_add_counters(dsbd_peers *pp,
                             void (*fn)(void *ctx, const char *label,
                                        uint64_t v),
                             void *ctx);
/*
 * A client asked to open a stream to (id, service). The reply (with the
 * stream fd, or an error) is sent to |c| later, correlated by |nonce|.
 * Returns 0 when the request is pending, else an error to reply now.
 */
int dsbd_peers_open(dsbd_peers *pp, dsbd_client *c, uint64_t nonce,
                    const dsb_device_id *id, const char *service,
                    uint8_t priority);
/* A client went away: forget its pending opens. */
void dsbd_peers_client_gone(dsbd_peers *pp, dsbd_client *c);

/* ---- streams (streams.c) ------------------------------------------------ */

struct dsb_mux;

typedef struct dsbd_stream_stats {
  uint64_t live;
  uint64_t opened;
  uint64_t app_bytes_in;  /* app -> mux */
  uint64_t app_bytes_out; /* mux -> app */
} dsbd_stream_stats;

/*
 * Create the daemon side of a stream for mux stream |sid| of |peer|: a
 * SOCK_SEQPACKET socketpair; |*app_fd| is the end for the app (the caller
 * passes it with SCM_RIGHTS, which consumes it).
 */
int dsbd_stream_new(dsbd_stream **ps, dsbd *d, dsbd_peer *peer,
                    struct dsb_mux *mux, uint32_t sid, dsbd_client *owner,
                    int *app_fd);
/* The app side is not yet handed out: forget it without an event. */
void dsbd_stream_abort(dsbd_stream *s);
/* Mux events for the stream. */
int dsbd_stream_on_message(dsbd_stream *s, const uint8_t *data, size_t len);
void dsbd_stream_on_remote_close(dsbd_stream *s);
void dsbd_stream_on_writable(dsbd_stream *s);
/* The mux stream is gone (reset by the peer, or the session ended):
 * close the app socket, tell the owner, free. */
void dsbd_stream_on_reset(dsbd_stream *s, int status);
/* Detach from a client that disconnected. */
void dsbd_stream_drop_owner(dsbd_stream *s);
uint32_t dsbd_stream_handle(const dsbd_stream *s);
/* The stream of mux stream |sid| on session |peer|, or NULL. */
dsbd_stream *dsbd_stream_find(dsbd_peer *peer, uint32_t sid);
void dsbd_streams_stats(dsbd_stream_stats *st);
/* The session |peer| ended: reset all its streams with |status|. */
void dsbd_streams_session_gone(dsbd_peer *peer, int status);

/* Peers hooks used by streams. A dsbd_peer is one session (connection)
 * with a peer device; streams live on it. */
void dsbd_peer_flush(dsbd_peer *peer);
void dsbd_peer_stream_gone(dsbd_peer *peer, dsbd_stream *s);

#endif /* DSBD_H */
