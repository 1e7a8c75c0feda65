/*
 * proxy_int.h - what the files of dsoftbusd's remote service proxy
 * (proxy.h) share: the proxy object, its per-session state and frame
 * queues, and the helpers one file calls in another. proxy.c holds the
 * object's lifetime, the config keys, the policy (load, SIGHUP reload,
 * peer flags), the deadline timer and the counters; proxy_session.c the
 * per-session dsb.rpc streams and their queues, the callee side and the
 * peers hooks; proxy_calls.c the caller side and the local API requests.
 * Not thread-safe: everything runs on the daemon's loop thread.
 */
#ifndef DSBD_PROXY_INT_H
#define DSBD_PROXY_INT_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "dsb/ipc_rpc.h"
#include "dsb/policy.h"
#include "dsb/rpc.h"
#include "dsb/services.h"
#include "daemon_int.h"
#include "proxy.h"

#define PROXY_QUEUE_MAX_BYTES (4u * 1024 * 1024) /* per stream direction */
#define PROXY_RPC_PRIORITY 1
#define PROXY_DEFAULT_TIMEOUT_MS 10000u
#define PROXY_MAX_SESSIONS 256

typedef struct proxy_sess proxy_sess;

/* Mux user data of a proxy stream; |kind| first (DSBD_UD_RPC). */
typedef struct proxy_ud {
  int kind;
  proxy_sess *s;
  int outbound; /* 1: our calls stream, 0: the peer's (we reply) */
} proxy_ud;

typedef struct proxy_frame {
  struct proxy_frame *next;
  size_t len;
  uint8_t data[];
} proxy_frame;

typedef struct proxy_q {
  proxy_frame *head, *tail;
  size_t bytes;
} proxy_q;

enum { PROXY_STREAM_NONE = 0, PROXY_STREAM_OPENING, PROXY_STREAM_OPEN };

struct proxy_sess {
  proxy_sess *next, *prev;
  dsbd_proxy *px;
  dsbd_peer *peer;
  uint64_t serial; /* the session id in the pending tables */
  dsb_device_id id;
  char idtext[DSB_DEVICE_ID_TEXT_LEN + 1];
  proxy_ud out_ud, in_ud;
  int out_state;
  uint32_t out_sid;
  int in_open;
  uint32_t in_sid;
  proxy_q outq, inq;
};

struct dsbd_proxy {
  dsbd *d;
  dsb_policy *policy;
  dsb_services *svc;
  dsb_rpc_pending *out, *fwd;
  dsb_rpc_limits limits;
  dsb_tstamp call_timeout, fwd_timeout;
  proxy_sess *sessions;
  size_t nsessions;
  uint64_t next_serial;
  uv_timer_t timer;
  uv_signal_t sighup;
  int closing;
  int handles_open;
  /* counters */
  uint64_t calls_out, calls_in, forwarded, answers, reloads, reload_failures;
  uint64_t queue_drops;
  uint8_t frame[DSB_RPC_MAX_REPLY_DEFAULT]; /* one encoded rpc frame */
  uint8_t tx[DSB_IPC_MAX_MSG];              /* one local API packet */
};

/* proxy.c: DSB_POLICY_PEER_TRUSTED if |id| is trusted, else 0. */
unsigned proxy_peer_flags(dsbd_proxy *px, const dsb_device_id *id);
/* proxy.c: (re)arm the timer for the earliest pending-call deadline. */
void proxy_arm(dsbd_proxy *px);

/* proxy_session.c: queue |len| bytes (DSB_ERR_LIMIT past the queue cap). */
int proxy_q_push(proxy_q *q, const uint8_t *p, size_t len);
/* proxy_session.c: the session with serial |serial|, or NULL. */
proxy_sess *proxy_sess_by_serial(dsbd_proxy *px, uint64_t serial);
/* proxy_session.c: the session of |peer|, created if absent (NULL at the
 * session cap or without memory). */
proxy_sess *proxy_sess_get(dsbd_proxy *px, dsbd_peer *peer,
                           const dsb_device_id *id);
/* proxy_session.c: unlink and free |s| with its queues. */
void proxy_sess_free(proxy_sess *s);
/* proxy_session.c: write queued frames of one direction. */
void proxy_flush_dir(proxy_sess *s, int outbound);
/* proxy_session.c: open our calls stream to the peer of |s| if not yet. */
void proxy_open_out(proxy_sess *s);
/* proxy_session.c: queue a reply frame on the peer's calls stream. */
void proxy_send_reply_frame(proxy_sess *s, const uint8_t *frame, size_t len);
/* proxy_session.c: reply |status| without payload to the peer's call. */
void proxy_reply_status(proxy_sess *s, uint64_t nonce, uint8_t status);

/* proxy_calls.c: answer the app's call |nonce| (NULL |c|: nobody). */
void proxy_reply_client(dsbd_proxy *px, dsbd_client *c, uint64_t nonce,
                        uint8_t status, const uint8_t *payload, size_t len);
/* proxy_calls.c: a frame on our calls stream: the reply to one of ours. */
void proxy_on_reply_message(proxy_sess *s, const uint8_t *data, size_t len);

#endif /* DSBD_PROXY_INT_H */
