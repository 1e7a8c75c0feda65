/*
 * dsb/disc_udp.h - the discovery driver: moves the datagrams of dsb/disc.h
 * over UDP with libuv. IPv4 multicast (DSB_DISC_GROUP_V4) and IPv6
 * link-local multicast (DSB_DISC_GROUP_V6) on chosen interfaces, plus a list
 * of unicast peers for networks without multicast. Docs: docs/PROTOCOL.md
 * and docs/ARCHITECTURE.md, "Discovery".
 *
 * Behaviour: dsb_disc_udp_start() announces, then sends a query for
 * everyone (answered by unicast, so a new node sees existing ones at once),
 * then re-announces every interval +- jitter. Announcements and queries go
 * to the multicast group on every selected interface and to every unicast
 * peer. Received announcements feed the peer table (dsb_disc_peers), whose
 * events reach on_peer. Received queries are answered by unicast with the
 * current announcement, once per query nonce, within the per-source rate
 * limit. dsb_disc_udp_del() sends a goodbye (TTL 0) and closes everything.
 *
 * Sockets, per address family: a receive socket bound to the discovery port
 * (SO_REUSEADDR, so several processes on one host share it for multicast)
 * and joined to the group; a send socket bound to an ephemeral port, which
 * also receives the unicast answers to our queries (a unicast datagram to a
 * shared port would reach only one of the processes sharing it).
 *
 * Loopback mode (ifname "lo"): multicast goes out through 127.0.0.1 (and
 * ::1's interface) with TTL/hop limit 0 and loopback on, and the send
 * sockets are bound to 127.0.0.1 / ::1, so no datagram can leave the host:
 * a unicast peer outside loopback fails to send. Tests use only this mode.
 *
 * Thread safety: everything runs on the loop's thread. Time: uv_hrtime()
 * (monotonic) feeds the sans-IO table; the wall clock (uv_gettimeofday)
 * only seeds the sequence number.
 *
 * Lifetime: dsb_disc_udp_del() closes the handles; the memory is released by
 * libuv close callbacks, so run the loop afterwards until it has no more
 * handles. Callbacks may call dsb_disc_udp_del() (nothing else runs for
 * this driver afterwards).
 */
#ifndef DSB_DISC_UDP_H
#define DSB_DISC_UDP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "dsb/common.h"
#include "dsb/disc.h"
#include "dsb/identity.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DSB_DISC_UDP_MAX_PEERS 32  /* unicast peer list */
#define DSB_DISC_UDP_MAX_IFACES 16 /* multicast interfaces */
#define DSB_DISC_UDP_DEFAULT_INTERVAL_MS 5000
#define DSB_DISC_UDP_DEFAULT_JITTER_PCT 20
#define DSB_DISC_UDP_DEFAULT_TTL_S 20 /* four intervals */

/* Flags of dsb_disc_udp_config. */
#define DSB_DISC_UDP_NO_MULTICAST 0x01 /* unicast peers only */
#define DSB_DISC_UDP_NO_IPV6 0x02
#define DSB_DISC_UDP_NO_IPV4 0x04
#define DSB_DISC_UDP_NO_QUERY 0x08 /* do not query at start (tests) */

/* Why a datagram was dropped: |err| is a DSB_ERR_DISC_* code (labels via
 * dsb_strerror), |src| the sender. Borrowed for the call. */
typedef void (*dsb_disc_udp_reject_fn)(void *ctx, int err,
                                       const struct sockaddr *src);

/* An IPv4 multicast interface given by the caller (facade backend). */
typedef struct dsb_disc_udp_iface {
  char name[16];  /* IFNAMSIZ */
  uint32_t index; /* interface index */
  uint8_t v4[4];  /* its IPv4 address: the multicast egress */
} dsb_disc_udp_iface;

typedef struct dsb_disc_udp_config {
  const dsb_identity *ident;      /* copied (and wiped on del) */
  const dsb_disc_announce *local; /* name, session_port, services; copied */
  uint16_t port;                  /* discovery port */
  const char *ifname;             /* NULL: all multicast-capable; "lo" */
  unsigned flags;                 /* DSB_DISC_UDP_* */
  const char *const *peers;       /* "a.b.c.d:port" or "[v6]:port" */
  size_t npeers;
  uint32_t interval_ms;             /* re-announce period */
  uint32_t jitter_pct;              /* +- this percentage, 0..50 */
  uint16_t ttl_s;                   /* announced TTL, 1..65535 */
  uint64_t seq_start;               /* 0: wall-clock ms * 1000 (see PROTOCOL) */
  dsb_disc_peers_settings table;    /* peer table bounds */
  dsb_rng rng;                      /* jitter and nonces; fn NULL: CSPRNG */
  dsb_disc_peers_event_fn on_peer;  /* may be NULL */
  dsb_disc_udp_reject_fn on_reject; /* may be NULL */
  void *ctx;                        /* for on_peer and on_reject */
  dsb_log log;                      /* fn may be NULL */
  /* Facade backend: already bound (and joined) IPv4 sockets to adopt
   * instead of opening them; -1 to open. The driver then owns them. */
  int rx_fd_v4;
  int tx_fd_v4;
  /* Facade backend: the multicast interfaces, as netstackd listed them,
   * instead of scanning with getifaddrs() (which would see this process's
   * network namespace, not the one of the adopted sockets). nifaces 0:
   * scan. At most DSB_DISC_UDP_MAX_IFACES; borrowed for new() only. */
  const dsb_disc_udp_iface *ifaces;
  size_t nifaces;
} dsb_disc_udp_config;

/* Defaults: port DSB_DISC_DEFAULT_PORT, all interfaces, 5 s +- 20 %,
 * TTL 20 s, default table settings, no fds to adopt. */
void dsb_disc_udp_config_default(dsb_disc_udp_config *cfg);

typedef struct dsb_disc_udp dsb_disc_udp;

/* Counters, for status output. */
typedef struct dsb_disc_udp_stats {
  uint64_t announces_sent;
  uint64_t queries_sent;
  uint64_t answers_sent;
  uint64_t datagrams_received;
  uint64_t rejected;
  uint64_t send_errors;
} dsb_disc_udp_stats;

/*
 * Validate |cfg|, open and bind the sockets and join the groups. Nothing is
 * sent until dsb_disc_udp_start().
 * Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_CONFIG (bad peer address,
 * unknown interface, too many peers), DSB_ERR_IO (socket, bind or join
 * failed on every family), DSB_ERR_NOMEM, DSB_ERR_CRYPTO
 */
DSB_MUST_CHECK int dsb_disc_udp_new(dsb_disc_udp **pd, uv_loop_t *loop,
                                    const dsb_disc_udp_config *cfg);

/* Announce, query (unless NO_QUERY), start the timers.
 * Errors: DSB_ERR_INVALID_STATE (already started), DSB_ERR_CRYPTO,
 * DSB_ERR_IO */
DSB_MUST_CHECK int dsb_disc_udp_start(dsb_disc_udp *d);

/* Ask "who offers |service|?" (len 0: everyone) on every path.
 * Errors: DSB_ERR_DISC_NAME_TOO_LONG, DSB_ERR_DISC_MALFORMED,
 * DSB_ERR_CRYPTO_RNG */
DSB_MUST_CHECK int dsb_disc_udp_query(dsb_disc_udp *d, const char *service,
                                      size_t len);

/* Replace the announced name, session port and services, and announce the
 * change at once. Errors: those of dsb_disc_announce_encode() */
DSB_MUST_CHECK int dsb_disc_udp_set_local(dsb_disc_udp *d,
                                          const dsb_disc_announce *local);

/* Announce now (also re-arms the periodic timer). Errors: as set_local */
DSB_MUST_CHECK int dsb_disc_udp_announce(dsb_disc_udp *d);

/* The peer table (borrowed; valid until del). */
dsb_disc_peers *dsb_disc_udp_peers(dsb_disc_udp *d);

/* Bound ports: the discovery (receive) port and the IPv4 send port. */
uint16_t dsb_disc_udp_port(const dsb_disc_udp *d);
uint16_t dsb_disc_udp_tx_port(const dsb_disc_udp *d);

void dsb_disc_udp_get_stats(const dsb_disc_udp *d, dsb_disc_udp_stats *st);

/* Say goodbye (if started), close everything. NULL is a no-op. */
void dsb_disc_udp_del(dsb_disc_udp *d);

#ifdef __cplusplus
}
#endif

#endif /* DSB_DISC_UDP_H */
