/*
 * dsb/disc.h - discovery: the announcement and query codec (sans-IO) and the
 * bounded peer table (sans-IO). Wire layouts: docs/PROTOCOL.md, "Discovery".
 * The UDP multicast driver that moves these bytes is dsb/disc_udp.h.
 *
 * Thread safety: the codec functions are pure and thread-safe. A
 * dsb_disc_peers table is not thread-safe: use it from one thread (the
 * driver's event loop).
 *
 * Ownership: dsb_disc_announce and dsb_disc_query are plain values (fixed-size
 * arrays, no pointers); decoders fill them and allocate nothing. Pointers a
 * callback receives are borrowed for that call only. A dsb_disc_peer pointer
 * returned by the table is borrowed until the next call that mutates the
 * table (input, expire, remove, del).
 */
#ifndef DSB_DISC_H
#define DSB_DISC_H

#include <stddef.h>
#include <stdint.h>

#include "dsb/common.h"
#include "dsb/crypto.h"
#include "dsb/identity.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- wire constants (docs/PROTOCOL.md, "Discovery") ---------------------- */

#define DSB_DISC_VERSION 1
#define DSB_DISC_TYPE_ANNOUNCE 0x01
#define DSB_DISC_TYPE_QUERY 0x02

/* Whole datagram, any type: fits one IPv6 minimum-MTU packet. */
#define DSB_DISC_MAX_DATAGRAM 1200
#define DSB_DISC_NAME_MAX 64         /* display name, bytes of UTF-8 */
#define DSB_DISC_MAX_SERVICES 16     /* services per announcement */
#define DSB_DISC_SERVICE_NAME_MAX 64 /* bytes; at least 1 */
#define DSB_DISC_NONCE_LEN 8

/* Signed bytes are DSB_DISC_SIG_LABEL (ASCII, no NUL) || message body. */
#define DSB_DISC_SIG_LABEL "dsoftbus-lite/disc-announce/v1"

/* Smallest possible announcement (empty name, no services) and the size
 * of its fixed part before the name. */
#define DSB_DISC_ANNOUNCE_FIXED_LEN 158
#define DSB_DISC_ANNOUNCE_MIN_LEN (DSB_DISC_ANNOUNCE_FIXED_LEN + 2 + 64)
#define DSB_DISC_QUERY_MIN_LEN 11

/* Multicast groups and the default discovery port. */
#define DSB_DISC_GROUP_V4 "239.255.70.83"
#define DSB_DISC_GROUP_V6 "ff02::4653"
#define DSB_DISC_DEFAULT_PORT 47083

/*
 * An announcement (and a goodbye: ttl_s == 0). Text fields are stored with
 * their length and a NUL after them, so they can be used as C strings; the
 * codec guarantees they contain no NUL byte.
 */
typedef struct dsb_disc_announce {
  dsb_device_id id;
  dsb_identity_proof proof; /* ed_pk, static_pk, cert */
  uint16_t session_port;    /* TCP port of the session listener */
  uint64_t seq;             /* strictly increasing per device */
  uint16_t ttl_s;           /* seconds; 0 = goodbye */
  uint8_t name_len;
  char name[DSB_DISC_NAME_MAX + 1];
  uint8_t nservices;
  uint8_t service_len[DSB_DISC_MAX_SERVICES];
  char services[DSB_DISC_MAX_SERVICES][DSB_DISC_SERVICE_NAME_MAX + 1];
  uint8_t sig[DSB_ED25519_SIG_LEN];
} dsb_disc_announce;

/* A query: "who offers |service|?" (service_len 0: everyone). Answers go by
 * unicast to the query's source address. |nonce| lets a responder that
 * receives the same query on several paths answer once. */
typedef struct dsb_disc_query {
  uint8_t nonce[DSB_DISC_NONCE_LEN];
  uint8_t service_len;
  char service[DSB_DISC_SERVICE_NAME_MAX + 1];
} dsb_disc_query;

/* ---- building the local announcement ------------------------------------- */

/* Zero |ann| (no name, no services). */
void dsb_disc_announce_init(dsb_disc_announce *ann);

/* Set the display name: 0..64 bytes of valid UTF-8 without control
 * characters. Errors: DSB_ERR_DISC_NAME_TOO_LONG, DSB_ERR_DISC_MALFORMED */
DSB_MUST_CHECK int dsb_disc_announce_set_name(dsb_disc_announce *ann,
                                              const char *name, size_t len);

/* Add a service name: 1..64 bytes of printable ASCII (0x21..0x7e).
 * Errors: DSB_ERR_DISC_TOO_MANY_SERVICES, DSB_ERR_DISC_NAME_TOO_LONG,
 * DSB_ERR_DISC_MALFORMED (empty or bad character), DSB_ERR_EXISTS */
DSB_MUST_CHECK int dsb_disc_announce_add_service(dsb_disc_announce *ann,
                                                 const char *name, size_t len);

/* 1 if |ann| lists the service |name| (exact bytes), else 0. */
int dsb_disc_announce_offers(const dsb_disc_announce *ann, const char *name,
                             size_t len);

/* ---- codec --------------------------------------------------------------- */

/*
 * Encode and sign an announcement. The identity fields of |ann| (id, proof,
 * sig) are ignored: they come from |ident|, whose device key signs. Output
 * is deterministic (Ed25519). Returns the number of bytes written.
 * Errors: DSB_ERR_NOBUF, DSB_ERR_DISC_OVERSIZE (over 1200 bytes),
 * DSB_ERR_DISC_NAME_TOO_LONG, DSB_ERR_DISC_TOO_MANY_SERVICES,
 * DSB_ERR_DISC_MALFORMED (a text field violates its charset),
 * DSB_ERR_CRYPTO
 */
DSB_MUST_CHECK long dsb_disc_announce_encode(uint8_t *dst, size_t dstlen,
                                             const dsb_disc_announce *ann,
                                             const dsb_identity *ident);

/*
 * Structural decode only: bounds, lengths, charsets; no cryptography. Use
 * dsb_disc_announce_decode() for untrusted input.
 * Errors: DSB_ERR_DISC_OVERSIZE, DSB_ERR_DISC_TRUNCATED,
 * DSB_ERR_DISC_VERSION, DSB_ERR_DISC_MALFORMED (wrong type, bad text,
 * trailing bytes), DSB_ERR_DISC_NAME_TOO_LONG,
 * DSB_ERR_DISC_TOO_MANY_SERVICES
 */
DSB_MUST_CHECK int dsb_disc_announce_parse(dsb_disc_announce *ann,
                                           const uint8_t *in, size_t inlen);

/*
 * The cryptographic checks of an announcement parsed from |in|: the device
 * id is the one derived from proof.ed_pk, the certificate binds
 * proof.static_pk to that key, and the signature by proof.ed_pk covers
 * DSB_DISC_SIG_LABEL || every byte of |in| before the signature.
 * Errors: DSB_ERR_DISC_BAD_DEVICE_ID, DSB_ERR_DISC_BAD_CERT,
 * DSB_ERR_DISC_BAD_SIGNATURE, DSB_ERR_DISC_MALFORMED (inlen too short),
 * DSB_ERR_CRYPTO
 */
DSB_MUST_CHECK int dsb_disc_announce_verify(const dsb_disc_announce *ann,
                                            const uint8_t *in, size_t inlen);

/* parse + verify. |ann| is meaningful only on success.
 * Errors: those of dsb_disc_announce_parse() and _verify(). */
DSB_MUST_CHECK int dsb_disc_announce_decode(dsb_disc_announce *ann,
                                            const uint8_t *in, size_t inlen);

/* Encode a query. Returns the number of bytes written.
 * Errors: DSB_ERR_NOBUF, DSB_ERR_DISC_NAME_TOO_LONG, DSB_ERR_DISC_MALFORMED */
DSB_MUST_CHECK long dsb_disc_query_encode(uint8_t *dst, size_t dstlen,
                                          const dsb_disc_query *q);

/* Decode a query (unsigned: see docs/SECURITY.md, "Discovery").
 * Errors: DSB_ERR_DISC_OVERSIZE, DSB_ERR_DISC_TRUNCATED,
 * DSB_ERR_DISC_VERSION, DSB_ERR_DISC_MALFORMED,
 * DSB_ERR_DISC_NAME_TOO_LONG */
DSB_MUST_CHECK int dsb_disc_query_decode(dsb_disc_query *q, const uint8_t *in,
                                         size_t inlen);

/* Type byte of a datagram (DSB_DISC_TYPE_*), after checking the version.
 * Errors: DSB_ERR_DISC_OVERSIZE, DSB_ERR_DISC_TRUNCATED,
 * DSB_ERR_DISC_VERSION, DSB_ERR_DISC_MALFORMED (unknown type) */
DSB_MUST_CHECK int dsb_disc_peek_type(const uint8_t *in, size_t inlen);

/* ---- peer table ---------------------------------------------------------- */

/* Largest opaque source address the table stores (a sockaddr_in6 fits). */
#define DSB_DISC_ADDR_MAX 32

/* Defaults of dsb_disc_peers_settings (docs/PROTOCOL.md, "Discovery"). */
#define DSB_DISC_DEFAULT_CAPACITY 256
#define DSB_DISC_DEFAULT_MAX_SOURCES 64
#define DSB_DISC_DEFAULT_RATE_PER_S 10
#define DSB_DISC_DEFAULT_BURST 20
#define DSB_DISC_DEFAULT_MAX_TTL_S 600
#define DSB_DISC_DEFAULT_TOMBSTONE_S 3600

typedef struct dsb_disc_peers_settings {
  size_t capacity;      /* peers held; full table evicts least recently seen */
  size_t max_sources;   /* rate-limiter table size (LRU) */
  uint32_t rate_per_s;  /* datagrams per second per source, sustained */
  uint32_t burst;       /* datagrams per source in one burst */
  uint32_t max_ttl_s;   /* announced TTLs are clamped to this */
  uint32_t tombstone_s; /* how long the last sequence number of a removed
                           peer is remembered (replay after goodbye) */
} dsb_disc_peers_settings;

void dsb_disc_peers_settings_default(dsb_disc_peers_settings *s);

typedef enum dsb_disc_event_type {
  DSB_DISC_PEER_UP = 1,      /* a new device */
  DSB_DISC_PEER_UPDATED = 2, /* a known device re-announced (newer seq) */
  DSB_DISC_PEER_GONE = 3     /* goodbye, expiry, eviction or removal */
} dsb_disc_event_type;

typedef enum dsb_disc_gone_reason {
  DSB_DISC_GONE_NONE = 0, /* UP/UPDATED events */
  DSB_DISC_GONE_GOODBYE = 1,
  DSB_DISC_GONE_EXPIRED = 2,
  DSB_DISC_GONE_EVICTED = 3,
  DSB_DISC_GONE_REMOVED = 4 /* dsb_disc_peers_remove() */
} dsb_disc_gone_reason;

/* One peer: the latest verified announcement and where it came from. */
typedef struct dsb_disc_peer {
  dsb_disc_announce ann; /* ann.id is the key */
  uint8_t addr[DSB_DISC_ADDR_MAX];
  size_t addrlen;        /* opaque source address (the io layer's sockaddr) */
  dsb_tstamp first_seen; /* when it came up */
  dsb_tstamp last_seen;  /* last accepted announcement: the LRU key */
  dsb_tstamp expires;    /* last_seen + clamped TTL */
} dsb_disc_peer;

/*
 * Event callback. |peer| is borrowed for the call (for GONE it is the entry
 * as it was before removal). The table state is already committed when it
 * runs; it must not call back into the table. A non-zero return makes the
 * calling function return DSB_ERR_CALLBACK_FAILURE (the change stays).
 */
typedef int (*dsb_disc_peers_event_fn)(void *ctx, dsb_disc_event_type ev,
                                       dsb_disc_gone_reason reason,
                                       const dsb_disc_peer *peer);

typedef struct dsb_disc_peers dsb_disc_peers;

/* |s| NULL: defaults. |cb| may be NULL.
 * Errors: DSB_ERR_INVALID_ARGUMENT (zero capacity/sources/rate/burst),
 * DSB_ERR_NOMEM */
DSB_MUST_CHECK int dsb_disc_peers_new(dsb_disc_peers **ptab,
                                      const dsb_disc_peers_settings *s,
                                      dsb_disc_peers_event_fn cb, void *cbctx,
                                      const dsb_mem *mem);

/* NULL is a no-op. Emits no events. */
void dsb_disc_peers_del(dsb_disc_peers *tab);

/* Announcements carrying |self| are ignored (DSB_ERR_DISC_SELF): multicast
 * loops our own announcements back. */
void dsb_disc_peers_set_self(dsb_disc_peers *tab, const dsb_device_id *self);

/*
 * Per-source token bucket: 0 if a datagram from |src| may be processed now
 * (and takes a token), else DSB_ERR_DISC_RATE_LIMITED. dsb_disc_peers_input
 * calls it; the driver calls it for queries too. |ts| must not go back.
 * Errors: DSB_ERR_DISC_RATE_LIMITED, DSB_ERR_INVALID_ARGUMENT (srclen over
 * DSB_DISC_ADDR_MAX), DSB_ERR_INTERNAL (a broken invariant: the source
 * table has no slot)
 */
DSB_MUST_CHECK int dsb_disc_peers_admit(dsb_disc_peers *tab, const uint8_t *src,
                                        size_t srclen, dsb_tstamp ts);

/*
 * Process one announcement datagram from |src| at |ts|: rate limit, parse,
 * replay check against the stored entry (or tombstone), cryptographic
 * verification, then update the table and emit one event. Only a verified,
 * strictly newer announcement for a device changes that device's entry; a
 * goodbye (TTL 0) removes it. Returns 0 when the table changed (or a
 * goodbye for an unknown device was noted).
 * Errors: DSB_ERR_DISC_RATE_LIMITED, the parse and verify errors,
 * DSB_ERR_DISC_REPLAY, DSB_ERR_DISC_SELF, DSB_ERR_INVALID_ARGUMENT,
 * DSB_ERR_CALLBACK_FAILURE
 */
DSB_MUST_CHECK int dsb_disc_peers_input(dsb_disc_peers *tab, const uint8_t *in,
                                        size_t inlen, const uint8_t *src,
                                        size_t srclen, dsb_tstamp ts);

/* Remove every peer whose expiry is <= |ts| (PEER_GONE, EXPIRED). Returns
 * the number removed. Errors: DSB_ERR_CALLBACK_FAILURE */
DSB_MUST_CHECK int dsb_disc_peers_expire(dsb_disc_peers *tab, dsb_tstamp ts);

/* Earliest expiry among the peers, or UINT64_MAX when empty: when to call
 * dsb_disc_peers_expire() next. */
dsb_tstamp dsb_disc_peers_next_expiry(const dsb_disc_peers *tab);

/* Forget a peer (PEER_GONE, REMOVED). Its sequence number is kept as a
 * tombstone. Errors: DSB_ERR_NOT_FOUND, DSB_ERR_CALLBACK_FAILURE */
DSB_MUST_CHECK int dsb_disc_peers_remove(dsb_disc_peers *tab,
                                         const dsb_device_id *id,
                                         dsb_tstamp ts);

/* The entry of |id| (borrowed, see top), or NULL. */
const dsb_disc_peer *dsb_disc_peers_get(const dsb_disc_peers *tab,
                                        const dsb_device_id *id);

size_t dsb_disc_peers_count(const dsb_disc_peers *tab);

/*
 * Iterate: start with *cursor = 0; each call returns the next peer or NULL
 * at the end. Order is unspecified. Do not mutate the table while
 * iterating.
 */
const dsb_disc_peer *dsb_disc_peers_next(const dsb_disc_peers *tab,
                                         size_t *cursor);

/* Like dsb_disc_peers_next, only peers offering the service |name|. */
const dsb_disc_peer *dsb_disc_peers_next_offering(const dsb_disc_peers *tab,
                                                  size_t *cursor,
                                                  const char *name, size_t len);

/*
 * What a session connector needs to dial a discovered device: the source
 * address the announcement came from (the io layer's sockaddr bytes; its
 * port is the discovery port, use |session_port| instead), the announced
 * session port, and the verified static key and device id that the
 * handshake must then authenticate.
 */
typedef struct dsb_disc_endpoint {
  dsb_device_id id;
  uint8_t addr[DSB_DISC_ADDR_MAX];
  size_t addrlen;
  uint16_t session_port;
  uint8_t static_pk[DSB_X25519_KEY_LEN];
} dsb_disc_endpoint;

/* Errors: DSB_ERR_NOT_FOUND */
DSB_MUST_CHECK int dsb_disc_peers_endpoint(const dsb_disc_peers *tab,
                                           const dsb_device_id *id,
                                           dsb_disc_endpoint *ep);

#ifdef __cplusplus
}
#endif

#endif /* DSB_DISC_H */
