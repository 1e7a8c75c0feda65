/*
 * server.h - netstackd's Unix socket server (server.c). One per process;
 * runs on the caller's libuv loop.
 */
#ifndef DSB_NETSTACKD_SERVER_H
#define DSB_NETSTACKD_SERVER_H

#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "netstackd.h"

typedef struct nsd_server_stats {
  uint64_t clients;             /* clients accepted */
  uint64_t refused_connections; /* wrong uid or busy */
  uint64_t requests;
  uint64_t replies;
  uint64_t fds_sent;
  uint64_t rejected[DSB_NETSTACK_ST_MAX + 1]; /* by status byte */
} nsd_server_stats;

/* Bind |s->socket_path| (replacing a stale socket, never another file) and
 * start accepting. |s->cfg| is borrowed for the server's lifetime. Returns
 * 0, DSB_ERR_NOMEM, DSB_ERR_CONFIG (path too long), DSB_ERR_EXISTS (path
 * is not a socket) or DSB_ERR_IO. */
int nsd_server_new(nsd_server **psrv, uv_loop_t *loop,
                   const nsd_server_settings *s);

/* Drop the client, cancel pending connects, unlink the socket path and
 * close the listener; the server frees itself once its handles closed. */
void nsd_server_stop(nsd_server *srv);

void nsd_server_get_stats(const nsd_server *srv, nsd_server_stats *st);

#endif /* DSB_NETSTACKD_SERVER_H */
