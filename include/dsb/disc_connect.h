/*
 * dsb/disc_connect.h - discovery-driven connect: dial a device by its id,
 * taking everything that binds the session to that device from the verified
 * peer-table entry (dsb_disc_peers_endpoint), never from a caller string.
 *
 * What comes from the entry: the address (the source address of the last
 * verified announcement, with the announced session port in place of the
 * discovery port), the responder's Noise static key (certified in the
 * announcement by the device key) and the device id the handshake must then
 * prove (derived from that device key). The caller's |id| is only the key
 * of the lookup. The session core (dsb/session.h) makes any mismatch a hard
 * reject: a responder that does not hold the announced static key fails
 * message 1 or 2 of Noise XK, and one that proves a different device id
 * fails with DSB_ERR_IDENTITY_MISMATCH. In both cases on_closed of the
 * transport reports the error and no on_established runs.
 *
 * Discovery is not the authorization boundary: a verified announcement only
 * proves that the device key signed it. An attacker device can announce its
 * own id with someone else's address, port, or even someone else's static
 * public key (it can certify any public key with its own device key); the
 * handshake then fails, because it cannot complete Noise with a key whose
 * secret it lacks, and the real holder of the key proves another id.
 *
 * Reachability: the address is whatever family the announcement arrived on.
 * A device whose listener does not serve that family (e.g. announces over
 * IPv6 but listens on 127.0.0.1 only) is not reachable by this connect;
 * connect errors arrive through on_closed (DSB_ERR_IO).
 *
 * Thread safety: as dsb/tcp.h and dsb/disc.h: use on the loop's thread. The
 * peer table is only read, and nothing of it is kept after the call.
 */
#ifndef DSB_DISC_CONNECT_H
#define DSB_DISC_CONNECT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "dsb/common.h"
#include "dsb/crypto.h"
#include "dsb/disc.h"
#include "dsb/identity.h"
#include "dsb/tcp.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where and whom to dial, resolved from one verified peer-table entry. */
typedef struct dsb_disc_target {
  dsb_device_id id;                      /* the id the handshake must prove */
  struct sockaddr_storage addr;          /* IPv4 or IPv6, session port set */
  socklen_t addrlen;                     /* of the family's sockaddr */
  uint8_t static_pk[DSB_X25519_KEY_LEN]; /* responder static key */
} dsb_disc_target;

/*
 * Resolve |id| in |peers| into |target| (written only on success).
 * Errors: DSB_ERR_INVALID_ARGUMENT (a NULL argument),
 * DSB_ERR_NOT_FOUND (no entry for |id|: unknown, expired or gone),
 * DSB_ERR_DISC_NO_ENDPOINT (the entry announces session port 0, or its
 * source address is neither IPv4 nor IPv6)
 */
DSB_MUST_CHECK int dsb_disc_connect_resolve(dsb_disc_target *target,
                                            const dsb_disc_peers *peers,
                                            const dsb_device_id *id);

/*
 * Connect |tcp| to the discovered device |id| as initiator, bound to the
 * entry's static key and device id (see top). |*pconn| is set on success;
 * the outcome arrives as the transport's on_established (the peer proved
 * exactly the announced id) or on_closed (refused, handshake failure,
 * DSB_ERR_IDENTITY_MISMATCH, timeout).
 * Errors: those of dsb_disc_connect_resolve(), and those of
 * dsb_tcp_connect(): DSB_ERR_LIMIT, DSB_ERR_NOMEM, DSB_ERR_IO,
 * DSB_ERR_CLOSED, DSB_ERR_CRYPTO, DSB_ERR_CRYPTO_RNG
 */
DSB_MUST_CHECK int dsb_disc_connect(dsb_tcp *tcp, dsb_tcp_conn **pconn,
                                    const dsb_disc_peers *peers,
                                    const dsb_device_id *id, void *conn_user);

#ifdef __cplusplus
}
#endif

#endif /* DSB_DISC_CONNECT_H */
