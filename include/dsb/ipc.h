/*
 * dsb/ipc.h - the local API wire format between dsoftbusd and its clients
 * (apps, the dsb command). Byte layout: docs/PROTOCOL.md, "Local API".
 *
 * One message is one SOCK_SEQPACKET packet of at most DSB_IPC_MAX_MSG bytes:
 *   request  [op 0x01..0x3f] [payload] [nonce u64be]
 *   reply    [op|0x80]       [status i32be] [payload if status == 0] [nonce]
 *   event    [op 0x40..0x7f] [payload] [sequence u64be]
 * An error reply always carries the request's own op|0x80 when the op is
 * in the request range 0x01..0x3f, whether or not this side knows it (the
 * remote-call ops of dsb/ipc_rpc.h, ops of a newer peer): the client
 * matches it by op and nonce like any reply. Only a packet whose op byte is
 * not a request op at all (an event or reply op sent to the daemon) gets
 * the generic error reply DSB_IPC_OP_ERROR (0xff), with that packet's
 * nonce; a client treats 0xff with the nonce of a pending request as that
 * request's error reply.
 *
 * This module is sans-IO: it encodes into caller buffers and decodes into
 * views that borrow the input buffer (dsb_ipc_str, list entries). Nothing
 * here allocates. Decoding checks every length against what remains, bounds
 * every string and count, and rejects trailing bytes.
 *
 * Thread safety: all functions are pure and thread-safe.
 */
#ifndef DSB_IPC_H
#define DSB_IPC_H

#include <stddef.h>
#include <stdint.h>

#include "dsb/common.h"
#include "dsb/identity.h"
#include "dsb/service_name.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DSB_IPC_VERSION 1
#define DSB_IPC_MAX_MSG 65536 /* whole packet, header and nonce included */
#define DSB_IPC_NAME_MAX 64   /* device display name, bytes */
/* A service this side publishes, withdraws or opens: the service-name rule
 * (dsb/service_name.h). */
#define DSB_IPC_SERVICE_MAX DSB_SERVICE_NAME_MAX
/* A service in a peer entry: as discovery carries it (dsb/disc.h), so a
 * peer's longer or other names are listed, not dropped. */
#define DSB_IPC_PEER_SERVICE_MAX 64
#define DSB_IPC_ADDR_MAX 64     /* "host:port" text, bytes */
#define DSB_IPC_LABEL_MAX 64    /* counter name, bytes */
#define DSB_IPC_MAX_ADDRS 8     /* addresses per peer entry */
#define DSB_IPC_MAX_SERVICES 16 /* services per peer entry */
#define DSB_IPC_NONCE_LEN 8

/* Largest payload of a stream message passed over an app's stream socket:
 * each SOCK_SEQPACKET packet is one message. */
#define DSB_IPC_STREAM_MSG_MAX 65536

typedef enum dsb_ipc_op {
  /* requests */
  DSB_IPC_OP_HELLO = 0x01,
  DSB_IPC_OP_ID = 0x02,
  DSB_IPC_OP_PEERS = 0x03,
  DSB_IPC_OP_TRUST_SET = 0x04,
  DSB_IPC_OP_TRUST_LIST = 0x05,
  DSB_IPC_OP_STATUS = 0x06,
  DSB_IPC_OP_PUBLISH = 0x07,
  DSB_IPC_OP_WITHDRAW = 0x08,
  DSB_IPC_OP_OPEN = 0x09,
  /* 0x20..0x25 and event 0x60 are the remote-call ops (dsb/ipc_rpc.h). */
  /* events (daemon -> client) */
  DSB_IPC_EV_PEER_UP = 0x40,
  DSB_IPC_EV_PEER_DOWN = 0x41,
  DSB_IPC_EV_STREAM_INCOMING = 0x42,
  DSB_IPC_EV_STREAM_END = 0x43,
  /* replies are request op | DSB_IPC_REPLY_BIT */
  DSB_IPC_OP_ERROR = 0xff
} dsb_ipc_op;

#define DSB_IPC_REPLY_BIT 0x80
/* The request range of every module of the local API (this header and
 * dsb/ipc_rpc.h). */
#define DSB_IPC_OP_REQUEST_MIN 0x01
#define DSB_IPC_OP_REQUEST_MAX 0x3f

/* HELLO flags */
#define DSB_IPC_HELLO_PEER_EVENTS 0x01 /* push PEER_UP / PEER_DOWN */

/* Trust states on the wire. */
#define DSB_IPC_TRUST_UNKNOWN 0
#define DSB_IPC_TRUST_TRUSTED 1
#define DSB_IPC_TRUST_BLOCKED 2

/* Session states on the wire. */
#define DSB_IPC_SESSION_NONE 0
#define DSB_IPC_SESSION_CONNECTING 1
#define DSB_IPC_SESSION_ESTABLISHED 2

#define DSB_IPC_PRIORITY_MAX 7

/* A borrowed byte string (not NUL-terminated). */
typedef struct dsb_ipc_str {
  const uint8_t *p;
  size_t len;
} dsb_ipc_str;

/* A list reply: |count| encoded entries (|p|, |len|) starting at index
 * |start| of |total|. Read the entries with dsb_ipc_iter. */
typedef struct dsb_ipc_list {
  uint16_t total;
  uint16_t count;
  const uint8_t *p;
  size_t len;
} dsb_ipc_list;

typedef struct dsb_ipc_peer {
  dsb_device_id id;
  dsb_ipc_str name;
  uint8_t trust;   /* DSB_IPC_TRUST_* */
  uint8_t session; /* DSB_IPC_SESSION_* */
  uint8_t naddrs;
  uint8_t nservices;
  dsb_ipc_str addrs[DSB_IPC_MAX_ADDRS];
  dsb_ipc_str services[DSB_IPC_MAX_SERVICES];
} dsb_ipc_peer;

typedef struct dsb_ipc_trust_entry {
  dsb_device_id id;
  uint8_t state; /* DSB_IPC_TRUST_* */
  dsb_ipc_str name;
} dsb_ipc_trust_entry;

typedef struct dsb_ipc_counter {
  dsb_ipc_str name;
  uint64_t value;
} dsb_ipc_counter;

/*
 * One message. |op| selects the member of |u| that is valid; |status| is
 * meaningful for replies only (0 or a negative DSB_ERR_*; a reply with a
 * non-zero status has no payload). |nonce| is the request nonce, or the
 * event sequence number for events.
 */
typedef struct dsb_ipc_msg {
  uint8_t op;
  int32_t status;
  uint64_t nonce;
  union {
    struct {
      uint8_t version;
      uint8_t flags; /* DSB_IPC_HELLO_* */
    } hello;
    struct {
      uint8_t version;
      dsb_device_id id;
    } hello_r;
    struct {
      dsb_device_id id;
      dsb_ipc_str name;
      uint8_t ed_pk[32];
      uint8_t static_pk[32];
      uint16_t port;
    } id_r;
    struct {
      uint16_t start; /* PEERS, TRUST_LIST, STATUS requests */
    } list;
    dsb_ipc_list list_r; /* PEERS, TRUST_LIST, STATUS replies */
    struct {
      dsb_device_id id;
      uint8_t state; /* DSB_IPC_TRUST_* */
    } trust_set;
    struct {
      dsb_ipc_str service; /* PUBLISH, WITHDRAW */
    } service;
    struct {
      dsb_device_id id;
      dsb_ipc_str service;
      uint8_t priority; /* 0 (highest) .. 7 */
      uint8_t flags;    /* reserved, 0 */
    } open;
    struct {
      uint32_t stream;
    } open_r;
    struct {
      dsb_device_id id;
      dsb_ipc_str name;
    } peer_up;
    struct {
      dsb_device_id id;
    } peer_down;
    struct {
      uint32_t stream;
      dsb_device_id id;
      dsb_ipc_str service;
      uint8_t priority;
    } incoming;
    struct {
      uint32_t stream;
      int32_t status; /* 0: closed cleanly, else why it was reset */
    } stream_end;
  } u;
} dsb_ipc_msg;

/* Direction classes of an op byte. */
int dsb_ipc_op_is_request(uint8_t op);
int dsb_ipc_op_is_reply(uint8_t op);
int dsb_ipc_op_is_event(uint8_t op);

/* Short lowercase name of |op| for logs ("open", "open.reply", ...). */
const char *dsb_ipc_op_name(uint8_t op);

/*
 * Encode |msg| into |dst|. For list replies the entries in msg->u.list_r.p
 * must already be encoded (dsb_ipc_*_encode below); they are validated.
 * Returns the message length.
 * Errors: DSB_ERR_NOBUF, DSB_ERR_IPC_UNKNOWN_OP, DSB_ERR_IPC_BAD_STRING,
 * DSB_ERR_IPC_BAD_VALUE, DSB_ERR_IPC_OVERSIZE (over DSB_IPC_MAX_MSG), and the
 * list errors of dsb_ipc_decode.
 */
long dsb_ipc_encode(uint8_t *dst, size_t dstlen, const dsb_ipc_msg *msg);

/*
 * Decode one message. String and list members borrow |in|. Besides the
 * messages of this module it decodes the error reply ([op|0x80][status <
 * 0][nonce]) to any op of the request range, so a client can match an
 * error to any request it made.
 * Errors: DSB_ERR_IPC_OVERSIZE, DSB_ERR_IPC_TRUNCATED (shorter than its op
 * requires), DSB_ERR_IPC_TRAILING, DSB_ERR_IPC_UNKNOWN_OP,
 * DSB_ERR_IPC_VERSION (HELLO with another version), DSB_ERR_IPC_BAD_STRING
 * (empty/over-long/invalid service, name or label), DSB_ERR_IPC_BAD_VALUE
 * (trust/session state, priority, flags, status out of range),
 * DSB_ERR_IPC_TOO_MANY (list count over what fits, or over DSB_IPC_MAX_*).
 */
int dsb_ipc_decode(dsb_ipc_msg *msg, const uint8_t *in, size_t inlen);

/*
 * Read the op and the trailing nonce of a message without validating the
 * payload, so that a server can address an error reply to a malformed
 * request. Errors: DSB_ERR_IPC_TRUNCATED, DSB_ERR_IPC_OVERSIZE.
 */
int dsb_ipc_peek(uint8_t *op, uint64_t *nonce, const uint8_t *in, size_t inlen);

/* Encode a reply carrying only |status| for a request with |op| and
 * |nonce|: op|0x80 for every op of the request range 0x01..0x3f (known
 * here or not), DSB_IPC_OP_ERROR for any other op byte. |status| must be
 * negative, or 0 for a base request op whose reply has no payload.
 * Errors: DSB_ERR_NOBUF, DSB_ERR_IPC_BAD_VALUE. */
long dsb_ipc_encode_status(uint8_t *dst, size_t dstlen, uint8_t op,
                           uint64_t nonce, int32_t status);

/* List entry encoders, appended by the caller to build a list reply.
 * Return the entry length. Errors: DSB_ERR_NOBUF, DSB_ERR_IPC_BAD_STRING,
 * DSB_ERR_IPC_BAD_VALUE, DSB_ERR_IPC_TOO_MANY. */
long dsb_ipc_peer_encode(uint8_t *dst, size_t dstlen, const dsb_ipc_peer *e);
long dsb_ipc_trust_entry_encode(uint8_t *dst, size_t dstlen,
                                const dsb_ipc_trust_entry *e);
long dsb_ipc_counter_encode(uint8_t *dst, size_t dstlen,
                            const dsb_ipc_counter *e);

/* Iterator over the entries of a decoded list reply. */
typedef struct dsb_ipc_iter {
  const uint8_t *p;
  size_t len;
  size_t off;
  uint16_t left;
} dsb_ipc_iter;

void dsb_ipc_iter_init(dsb_ipc_iter *it, const dsb_ipc_list *list);

/* Each returns 1 and fills |e| when an entry was read, 0 at the end, or
 * a decode error (only possible for lists that were not decoded by
 * dsb_ipc_decode). */
int dsb_ipc_next_peer(dsb_ipc_iter *it, dsb_ipc_peer *e);
int dsb_ipc_next_trust(dsb_ipc_iter *it, dsb_ipc_trust_entry *e);
int dsb_ipc_next_counter(dsb_ipc_iter *it, dsb_ipc_counter *e);

/* Validity of names as the local API accepts them.
 * Service (PUBLISH, WITHDRAW, OPEN, STREAM_INCOMING): the service-name rule,
 * 1..48 bytes of [A-Za-z0-9._-] (dsb_service_name_valid()). Peer service
 * (a peer entry's list): 1..64 bytes of printable ASCII without space, as
 * discovery accepts it. Display name: 0..64 bytes, no ASCII control
 * characters. Counter label: 1..64 bytes, printable ASCII without space.
 * Address: 1..64 bytes, printable ASCII. Return 1 if valid, else 0. */
int dsb_ipc_service_valid(const uint8_t *s, size_t len);
int dsb_ipc_peer_service_valid(const uint8_t *s, size_t len);
int dsb_ipc_name_valid(const uint8_t *s, size_t len);
int dsb_ipc_label_valid(const uint8_t *s, size_t len);

/* Make a dsb_ipc_str of a NUL-terminated C string (NULL gives empty). */
dsb_ipc_str dsb_ipc_cstr(const char *s);

#ifdef __cplusplus
}
#endif

#endif /* DSB_IPC_H */
