/*
 * backend.h - where dsoftbusd's network sockets come from (brief 6,
 * docs/ARCHITECTURE.md "Backends"):
 *   direct     the daemon opens them itself (libuv);
 *   netstackd  netstackd opens them and passes them with SCM_RIGHTS
 *              (dsb/netstack_client.h); after start-up the daemon enters
 *              the sandbox (dsb/sandbox.h) and can open none itself.
 *
 * Start-up order in dsbd_run(): dsbd_backend_open, dsbd_backend_listen (the
 * session listener; also installs the outbound connector),
 * dsbd_backend_disc_sockets per discovery driver, then, once every Unix
 * socket exists, dsbd_backend_seal. Every step fails closed: an error stops
 * the daemon. dsbd_backend_close is idempotent.
 *
 * When netstackd goes away, sockets already received (listener, discovery,
 * sessions) keep working; outbound connects fail with "unreachable" until
 * the client has reconnected (bounded exponential backoff). Everything
 * runs on the loop thread.
 */
#ifndef DSBD_BACKEND_H
#define DSBD_BACKEND_H

#include "dsb/disc_udp.h"
#include "dsb/tcp.h"
#include "dsbd.h"

/* Open the backend: in netstackd mode connect to netstackd and exchange
 * HELLO. Errors: DSB_ERR_NOMEM, DSB_ERR_NETSTACK_DOWN (not running),
 * DSB_ERR_NETSTACK_VERSION, DSB_ERR_IPC_PEER_CRED, DSB_ERR_TIMEOUT */
int dsbd_backend_open(dsbd *d);

/* Make |tcp| listen on the configured session port (direct: IPv6 dual
 * stack, else IPv4; netstackd: IPv4) and route its outbound connects
 * through the backend. Errors: those of dsb_tcp_listen / dsb_tcp_listen_fd
 * and of the netstackd request (DSB_ERR_NETSTACK_*). */
int dsbd_backend_listen(dsbd *d, dsb_tcp *tcp);

/* Fill the socket part of a discovery driver's config |c| (its ifname,
 * peers and port already set): nothing in direct mode; in netstackd mode
 * the two IPv4 sockets and the interface list, IPv6 off. On error nothing
 * is left open. Errors: DSB_ERR_CONFIG (no such interface),
 * DSB_ERR_NETSTACK_* */
int dsbd_backend_disc_sockets(dsbd *d, dsb_disc_udp_config *c);

/* End of start-up: in netstackd mode enter the sandbox, check that it
 * holds (socket(AF_INET) must fail with EPERM), then let the client
 * reconnect on its own. Errors: those of dsb_sandbox_enter_facade,
 * DSB_ERR_INTERNAL (the check failed). */
int dsbd_backend_seal(dsbd *d);

/* Release the backend (the loop must run afterwards). NULL-safe. */
void dsbd_backend_close(dsbd *d);

/* "direct" or "netstackd": the option/config value; -1 if unknown. */
int dsbd_backend_parse(const char *s);

#endif /* DSBD_BACKEND_H */
