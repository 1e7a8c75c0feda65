/*
 * disc_connect.c - discovery-driven connect (dsb/disc_connect.h): the peer
 * table entry is the only source of the address, static key and expected
 * device id handed to the TCP transport.
 */
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "dsb/disc_connect.h"
#include "dsb/err.h"

int dsb_disc_connect_resolve(dsb_disc_target *target,
                             const dsb_disc_peers *peers,
                             const dsb_device_id *id) {
  dsb_disc_endpoint ep;
  dsb_disc_target t;
  sa_family_t family;
  int rv;

  if (!target || !peers || !id) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  rv = dsb_disc_peers_endpoint(peers, id, &ep);
  if (rv != 0) {
    return rv;
  }
  /* Port 0: the device discovers but takes no sessions (a probe, a
   * client-only node). Dialling it would only produce a refused connect. */
  if (ep.session_port == 0 || ep.addrlen < sizeof(sa_family_t)) {
    return DSB_ERR_DISC_NO_ENDPOINT;
  }
  memset(&t, 0, sizeof(t));
  memcpy(&family, ep.addr, sizeof(family));
  if (family == AF_INET && ep.addrlen >= sizeof(struct sockaddr_in)) {
    struct sockaddr_in *sin = (struct sockaddr_in *)&t.addr;
    memcpy(sin, ep.addr, sizeof(*sin));
    sin->sin_port = htons(ep.session_port);
    t.addrlen = sizeof(*sin);
  } else if (family == AF_INET6 && ep.addrlen >= sizeof(struct sockaddr_in6)) {
    /* The scope id of a link-local source stays: it names the interface
     * the announcement arrived on, which is the one to dial out of. */
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&t.addr;
    memcpy(sin6, ep.addr, sizeof(*sin6));
    sin6->sin6_port = htons(ep.session_port);
    t.addrlen = sizeof(*sin6);
  } else {
    return DSB_ERR_DISC_NO_ENDPOINT;
  }
  t.id = ep.id;
  memcpy(t.static_pk, ep.static_pk, sizeof(t.static_pk));
  *target = t;
  return 0;
}

int dsb_disc_connect(dsb_tcp *tcp, dsb_tcp_conn **pconn,
                     const dsb_disc_peers *peers, const dsb_device_id *id,
                     void *conn_user) {
  dsb_disc_target t;
  int rv;

  if (!tcp || !pconn) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  rv = dsb_disc_connect_resolve(&t, peers, id);
  if (rv != 0) {
    return rv;
  }
  /* Both binding inputs come from the verified entry (t), not from |id|:
   * they are equal by construction of the lookup, and keeping it that way
   * means no future caller-supplied id can reach the handshake. */
  return dsb_tcp_connect(tcp, pconn, (const struct sockaddr *)&t.addr,
                         t.static_pk, &t.id, conn_user);
}
