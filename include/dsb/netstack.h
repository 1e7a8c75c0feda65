/*
 * dsb/netstack.h - the protocol between dsoftbusd and netstackd, the sockets
 * facade daemon. Byte layout: docs/PROTOCOL.md, "netstackd protocol".
 *
 * One message is one SOCK_SEQPACKET packet of at most DSB_NETSTACK_MAX_MSG
 * bytes:
 *   request  [op 0x01..0x7e] [payload]                  [nonce u64be]
 *   reply    [op|0x80]       [status u8] [payload if 0] [nonce u64be]
 *   notice   [0xff]          [status u8]                [nonce u64be]
 * A reply that carries a socket (TCP_LISTEN, TCP_CONNECT, UDP_BIND with
 * status 0) comes with exactly one descriptor in an SCM_RIGHTS message;
 * every other message carries none. netstackd closes its copy right after
 * sending. There is no ACCEPT operation: TCP_LISTEN hands over the
 * listening socket and the client calls accept(2) on it itself.
 *
 * This module is sans-IO: it encodes into caller buffers and decodes into
 * plain value structs. Nothing here allocates. Decoding checks every length
 * against what remains, bounds every count, and rejects trailing bytes.
 *
 * Thread safety: all functions are pure and thread-safe.
 */
#ifndef DSB_NETSTACK_H
#define DSB_NETSTACK_H

#include <stddef.h>
#include <stdint.h>

#include "dsb/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DSB_NETSTACK_VERSION 1
#define DSB_NETSTACK_MAX_MSG 4096 /* whole packet, op and nonce included */
#define DSB_NETSTACK_NONCE_LEN 8
#define DSB_NETSTACK_IFNAME_MAX 15 /* bytes, as the kernel's IFNAMSIZ - 1 */
#define DSB_NETSTACK_MAX_GROUPS 8  /* multicast joins per UDP_BIND */
#define DSB_NETSTACK_MAX_IFACES 16 /* interfaces per IFLIST reply */
#define DSB_NETSTACK_MAX_IFADDRS 8 /* addresses per interface */
#define DSB_NETSTACK_MAX_BACKLOG 4096
#define DSB_NETSTACK_MAX_CONNECT_TIMEOUT_MS 120000u

typedef enum dsb_netstack_op {
  DSB_NETSTACK_OP_HELLO = 0x01,
  DSB_NETSTACK_OP_TCP_LISTEN = 0x02,
  /* 0x03 is reserved (no ACCEPT: the client accepts on the listener). */
  DSB_NETSTACK_OP_TCP_CONNECT = 0x04,
  DSB_NETSTACK_OP_UDP_BIND = 0x05,
  DSB_NETSTACK_OP_LOCAL_ADDR = 0x06,
  DSB_NETSTACK_OP_IFLIST = 0x07,
  DSB_NETSTACK_OP_CLOSE = 0x08,
  /* Error notice: with nonce 0 it is unsolicited (wrong uid or busy, just
   * before netstackd hangs up; or a packet too short to carry a nonce); with
   * a non-zero nonce it answers a request whose op is unknown. */
  DSB_NETSTACK_OP_NOTICE = 0xff
} dsb_netstack_op;

#define DSB_NETSTACK_REPLY_BIT 0x80

/* Status byte of a reply or notice; each maps to one DSB_ERR_* code. */
typedef enum dsb_netstack_status {
  DSB_NETSTACK_ST_OK = 0,
  DSB_NETSTACK_ST_MALFORMED = 1,
  DSB_NETSTACK_ST_UNKNOWN_OP = 2,
  DSB_NETSTACK_ST_VERSION = 3,
  DSB_NETSTACK_ST_NOT_READY = 4,
  DSB_NETSTACK_ST_FAMILY = 5,
  DSB_NETSTACK_ST_PORT = 6,
  DSB_NETSTACK_ST_IFACE = 7,
  DSB_NETSTACK_ST_DEST = 8,
  DSB_NETSTACK_ST_LOCAL_ADDR = 9,
  DSB_NETSTACK_ST_UNKNOWN_HANDLE = 10,
  DSB_NETSTACK_ST_LIMIT = 11,
  DSB_NETSTACK_ST_ADDR_IN_USE = 12,
  DSB_NETSTACK_ST_REFUSED = 13,
  DSB_NETSTACK_ST_UNREACHABLE = 14,
  DSB_NETSTACK_ST_TIMEOUT = 15,
  DSB_NETSTACK_ST_CANCELLED = 16,
  DSB_NETSTACK_ST_SYSTEM = 17,
  DSB_NETSTACK_ST_NO_IFACE = 18,
  DSB_NETSTACK_ST_PEER_CRED = 19,
  DSB_NETSTACK_ST_BUSY = 20,
  DSB_NETSTACK_ST_DUPLICATE_NONCE = 21,
  DSB_NETSTACK_ST_MAX = 21
} dsb_netstack_status;

/* Address family byte on the wire. */
#define DSB_NETSTACK_FAMILY_IPV4 4
#define DSB_NETSTACK_FAMILY_IPV6 6

/* UDP_BIND flags. */
#define DSB_NETSTACK_UDP_REUSEADDR 0x01
#define DSB_NETSTACK_UDP_REUSEPORT 0x02
#define DSB_NETSTACK_UDP_MCAST_LOOP 0x04
#define DSB_NETSTACK_UDP_FLAGS_ALL 0x07

/* IFLIST interface flags. */
#define DSB_NETSTACK_IF_UP 0x01
#define DSB_NETSTACK_IF_LOOPBACK 0x02
#define DSB_NETSTACK_IF_MULTICAST 0x04
#define DSB_NETSTACK_IF_FLAGS_ALL 0x07

/*
 * An IP address with port. |ip| holds 4 bytes (IPv4) or 16 (IPv6);
 * |scope_id| is meaningful for IPv6 only (link-local) and 0 for IPv4.
 */
typedef struct dsb_netstack_addr {
  uint8_t family; /* DSB_NETSTACK_FAMILY_* */
  uint8_t ip[16];
  uint32_t scope_id;
  uint16_t port;
} dsb_netstack_addr;

/* Interface name: NUL-terminated, 1..DSB_NETSTACK_IFNAME_MAX bytes. */
typedef struct dsb_netstack_ifname {
  char name[DSB_NETSTACK_IFNAME_MAX + 1];
} dsb_netstack_ifname;

typedef struct dsb_netstack_group {
  dsb_netstack_ifname ifname;
  dsb_netstack_addr group; /* port unused (0) */
} dsb_netstack_group;

typedef struct dsb_netstack_ifaddr {
  dsb_netstack_addr addr; /* port unused (0) */
  uint8_t prefix;
} dsb_netstack_ifaddr;

typedef struct dsb_netstack_iface {
  dsb_netstack_ifname ifname;
  uint32_t index;
  uint8_t flags; /* DSB_NETSTACK_IF_* */
  uint8_t naddrs;
  dsb_netstack_ifaddr addrs[DSB_NETSTACK_MAX_IFADDRS];
} dsb_netstack_iface;

/* UDP_BIND parameters: bind, then join each group on its interface; the
 * first group's interface also becomes the multicast egress interface. */
typedef struct dsb_netstack_udp_bind {
  dsb_netstack_addr local;
  uint8_t flags;     /* DSB_NETSTACK_UDP_* */
  uint8_t mcast_ttl; /* IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS */
  uint8_t ngroups;
  dsb_netstack_group groups[DSB_NETSTACK_MAX_GROUPS];
} dsb_netstack_udp_bind;

/* A request. |op| selects the member of |u| that is meaningful. */
typedef struct dsb_netstack_req {
  uint8_t op;
  uint64_t nonce;
  union {
    struct {
      uint8_t version;
    } hello;
    struct {
      dsb_netstack_addr local;
      uint16_t backlog; /* 1..DSB_NETSTACK_MAX_BACKLOG */
    } tcp_listen;
    struct {
      dsb_netstack_addr remote;
      uint32_t timeout_ms; /* 1..DSB_NETSTACK_MAX_CONNECT_TIMEOUT_MS */
    } tcp_connect;
    dsb_netstack_udp_bind udp_bind;
    struct {
      dsb_netstack_addr remote; /* port unused (0) */
    } local_addr;
    struct {
      uint64_t target; /* nonce of the pending request to cancel */
    } close;
  } u;
} dsb_netstack_req;

/*
 * A reply or notice. |op| is the request op without the reply bit (or
 * DSB_NETSTACK_OP_NOTICE). The payload members are meaningful only when
 * |status| is DSB_NETSTACK_ST_OK.
 */
typedef struct dsb_netstack_rep {
  uint8_t op;
  uint8_t status;
  uint64_t nonce;
  union {
    struct {
      uint8_t version;
    } hello;
    struct {
      dsb_netstack_addr local; /* TCP_LISTEN, TCP_CONNECT, UDP_BIND */
    } sock;
    struct {
      dsb_netstack_addr local; /* port 0 */
    } local_addr;
    struct {
      uint8_t count;
      dsb_netstack_iface ifaces[DSB_NETSTACK_MAX_IFACES];
    } iflist;
  } u;
} dsb_netstack_rep;

/*
 * Encode |req| into |out|. Returns the byte count, or
 *   DSB_ERR_INVALID_ARGUMENT  a field is out of range (unknown op, family,
 *                             flags, count, bad interface name, ...);
 *   DSB_ERR_NOBUF             |outlen| is too small.
 */
int dsb_netstack_req_encode(uint8_t *out, size_t outlen,
                            const dsb_netstack_req *req);

/*
 * Decode one request packet. On success fills |req| and returns 0. Errors:
 *   DSB_ERR_IPC_TRUNCATED   shorter than op + nonce, or than a field needs;
 *   DSB_ERR_IPC_OVERSIZE    longer than DSB_NETSTACK_MAX_MSG;
 *   DSB_ERR_IPC_UNKNOWN_OP  op is not a request op of this protocol;
 *   DSB_ERR_IPC_BAD_VALUE   a field is out of range (family, flags, backlog,
 *                           timeout, nonce 0, ...);
 *   DSB_ERR_IPC_BAD_STRING  an interface name is empty, too long or has a
 *                           byte outside [A-Za-z0-9._:@-];
 *   DSB_ERR_IPC_TOO_MANY    more multicast groups than the cap;
 *   DSB_ERR_IPC_TRAILING    bytes left between the payload and the nonce.
 * On error |req| is unspecified.
 */
int dsb_netstack_req_decode(dsb_netstack_req *req, const uint8_t *in,
                            size_t inlen);

/* Encode |rep|; same contract as dsb_netstack_req_encode(). Payload is
 * written only when |rep->status| is DSB_NETSTACK_ST_OK. */
int dsb_netstack_rep_encode(uint8_t *out, size_t outlen,
                            const dsb_netstack_rep *rep);

/* Decode one reply or notice packet; same errors as
 * dsb_netstack_req_decode() (DSB_ERR_IPC_BAD_VALUE also for an unknown
 * status byte, a notice with status OK, or a reply with nonce 0). */
int dsb_netstack_rep_decode(dsb_netstack_rep *rep, const uint8_t *in,
                            size_t inlen);

/*
 * Read the op byte and trailing nonce of any packet without decoding the
 * payload, so a malformed request still gets a reply with its nonce.
 * Returns 0, or DSB_ERR_IPC_TRUNCATED below 1 + 8 bytes.
 */
int dsb_netstack_peek(uint8_t *op, uint64_t *nonce, const uint8_t *in,
                      size_t inlen);

/* 1 if |op| is a request op that carries a descriptor in its OK reply. */
int dsb_netstack_op_has_fd(uint8_t op);

/* The DSB_ERR_* code of a status byte (0 for OK; DSB_ERR_IPC_BAD_VALUE for
 * an unknown status). */
int dsb_netstack_status_to_err(uint8_t status);

/* The status byte for a DSB_ERR_* code (DSB_NETSTACK_ST_SYSTEM for codes
 * without their own status). */
uint8_t dsb_netstack_err_to_status(int err);

/* Address helpers: 4 or 16 for a valid family, 0 otherwise. */
size_t dsb_netstack_addr_iplen(uint8_t family);

#ifdef __cplusplus
}
#endif

#endif /* DSB_NETSTACK_H */
