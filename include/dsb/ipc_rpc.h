/*
 * dsb/ipc_rpc.h - the remote-call operations of the local API: apps
 * register services and bundles, make calls to services on other devices,
 * receive calls for their own services and answer them. Byte layout:
 * docs/PROTOCOL.md, "Local API: remote calls".
 *
 * These ops share the local API's envelope (dsb/ipc.h):
 *   request  [op 0x20..0x25] [payload] [nonce u64be]
 *   reply    [op|0x80] [status i32be] [payload if status == 0] [nonce]
 *   event    [op 0x60] [payload] [sequence u64be]
 * and are decoded here rather than in dsb_ipc_decode(), so the daemon and
 * the client library route every packet whose op byte is in this module's
 * range (dsb_ipc_rpc_op_is_ours()) to this codec.
 *
 * Sans-IO and allocation-free: decoding yields views into the input.
 * Thread safety: all functions are pure and thread-safe.
 */
#ifndef DSB_IPC_RPC_H
#define DSB_IPC_RPC_H

#include <stddef.h>
#include <stdint.h>

#include "dsb/identity.h"
#include "dsb/ipc.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dsb_ipc_rpc_op {
  /* requests */
  DSB_IPC_OP_RPC_SERVICE_ADD = 0x20,    /* offer an app service */
  DSB_IPC_OP_RPC_SERVICE_REMOVE = 0x21, /* withdraw it */
  DSB_IPC_OP_RPC_BUNDLE_ADD = 0x22,     /* register the app's bundle */
  DSB_IPC_OP_RPC_CALL = 0x23,           /* call a service on a device */
  DSB_IPC_OP_RPC_ANSWER = 0x24,         /* answer an incoming call */
  DSB_IPC_OP_RPC_POLICY_CHECK = 0x25,   /* which rule decides a call */
  /* events */
  DSB_IPC_EV_RPC_CALL = 0x60 /* an incoming call for one of our services */
} dsb_ipc_rpc_op;

#define DSB_IPC_RPC_DESC_MAX 255    /* bytes of a description on this API */
#define DSB_IPC_RPC_EXPLAIN_MAX 512 /* bytes of a policy explanation */
#define DSB_IPC_RPC_TIMEOUT_MAX_MS 600000u

/* Largest call payload that fits one local API packet with these names. */
size_t dsb_ipc_rpc_call_payload_max(size_t servicelen, size_t methodlen);
/* Largest answer payload / call-reply payload that fits one packet. */
#define DSB_IPC_RPC_ANSWER_PAYLOAD_MAX (DSB_IPC_MAX_MSG - 1 - 1 - 4 - 8 - 8)
#define DSB_IPC_RPC_REPLY_PAYLOAD_MAX (DSB_IPC_MAX_MSG - 1 - 4 - 1 - 4 - 8)

/* A borrowed string view (not NUL-terminated). */
typedef dsb_ipc_str dsb_ipc_rpc_str;

/* A service an app offers. Its name follows the service-name rule, 1..48
 * of [A-Za-z0-9._-] (dsb/service_name.h), as does SERVICE_REMOVE's; the
 * bundle name and the names of calls and policy checks may be 1..64 of
 * [A-Za-z0-9._-], as remote-call frames carry them (dsb/rpc.h). */
typedef struct dsb_ipc_rpc_svc {
  dsb_ipc_str name;        /* 1..48 of [A-Za-z0-9._-] */
  dsb_ipc_str description; /* 0..255 printable ASCII */
} dsb_ipc_rpc_svc;

#define DSB_IPC_RPC_BUNDLE_SERVICES_MAX 16

typedef struct dsb_ipc_rpc_msg {
  uint8_t op;
  int32_t status; /* replies only */
  uint64_t nonce; /* request nonce, or event sequence */
  union {
    dsb_ipc_rpc_svc service_add; /* SERVICE_ADD */
    dsb_ipc_str service_remove;  /* SERVICE_REMOVE: the name */
    struct {
      dsb_ipc_str name;    /* 1..64 of [A-Za-z0-9._-] */
      dsb_ipc_str version; /* 1..32 of [A-Za-z0-9.+_-] */
      uint8_t nservices;   /* 0..16 */
      dsb_ipc_rpc_svc services[DSB_IPC_RPC_BUNDLE_SERVICES_MAX];
    } bundle_add;
    struct {
      dsb_device_id id;
      uint32_t timeout_ms; /* 0: the daemon's default; else 1..600000 */
      dsb_ipc_str service;
      dsb_ipc_str method;
      dsb_ipc_str payload;
    } call;
    struct {
      uint8_t rpc_status; /* dsb_rpc_status */
      dsb_ipc_str payload;
    } call_r;
    struct {
      uint64_t call; /* the daemon's id of the incoming call */
      uint8_t rpc_status;
      dsb_ipc_str payload;
    } answer;
    struct {
      dsb_device_id id;
      dsb_ipc_str service;
      dsb_ipc_str method;
    } policy_check;
    struct {
      int32_t rule; /* deciding rule index, or -1: denied */
      dsb_ipc_str explanation;
    } policy_check_r;
    struct {
      uint64_t call;      /* quote it in the ANSWER */
      dsb_device_id id;   /* the calling device */
      uint8_t peer_flags; /* DSB_POLICY_PEER_* */
      dsb_ipc_str service;
      dsb_ipc_str method;
      dsb_ipc_str payload;
    } incoming;
  } u;
} dsb_ipc_rpc_msg;

/* 1 if |op| is a request, reply or event op of this module. */
int dsb_ipc_rpc_op_is_ours(uint8_t op);
int dsb_ipc_rpc_op_is_request(uint8_t op);

/* Short name of |op| for logs ("rpc_call", "rpc_call.reply", ...). */
const char *dsb_ipc_rpc_op_name(uint8_t op);

/*
 * Encode |msg| (a request, a successful reply or an event; error replies
 * come from dsb_ipc_encode_status()). Returns the packet length.
 * Errors: DSB_ERR_NOBUF, DSB_ERR_IPC_UNKNOWN_OP, DSB_ERR_IPC_BAD_STRING,
 * DSB_ERR_IPC_BAD_VALUE, DSB_ERR_IPC_TOO_MANY, DSB_ERR_IPC_OVERSIZE.
 */
long dsb_ipc_rpc_encode(uint8_t *dst, size_t dstlen,
                        const dsb_ipc_rpc_msg *msg);

/*
 * Decode one packet of this module. Views borrow |in|.
 * Errors: DSB_ERR_IPC_OVERSIZE, DSB_ERR_IPC_TRUNCATED, DSB_ERR_IPC_TRAILING,
 * DSB_ERR_IPC_UNKNOWN_OP, DSB_ERR_IPC_BAD_STRING (a name, version or
 * description out of its bounds), DSB_ERR_IPC_BAD_VALUE (status, rpc
 * status, timeout out of range), DSB_ERR_IPC_TOO_MANY (bundle services).
 */
int dsb_ipc_rpc_decode(dsb_ipc_rpc_msg *msg, const uint8_t *in, size_t inlen);

#ifdef __cplusplus
}
#endif

#endif /* DSB_IPC_RPC_H */
