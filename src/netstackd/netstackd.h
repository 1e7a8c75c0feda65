/*
 * netstackd.h - internals of netstackd, the sockets facade daemon.
 *
 * netstackd owns every operation that needs network access (TCP listen and
 * connect, UDP bind with multicast joins, local address, interface list) and
 * hands the resulting sockets to its single client (dsoftbusd) with
 * SCM_RIGHTS. It never opens the fabric's state directory or keys.
 *
 * Single-threaded: everything runs on one libuv loop.
 */
#ifndef DSB_NETSTACKD_H
#define DSB_NETSTACKD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "dsb/netstack.h"

#define NSD_MAX_RANGES 16
#define NSD_MAX_NETS 32
#define NSD_MAX_IFACES 32
#define NSD_MAX_PENDING_DEFAULT 64
#define NSD_MAX_PENDING_CAP 1024

typedef struct nsd_range {
  uint16_t lo, hi;
} nsd_range;

typedef struct nsd_ports {
  size_t n;
  nsd_range r[NSD_MAX_RANGES];
} nsd_ports;

typedef struct nsd_net {
  uint8_t family; /* DSB_NETSTACK_FAMILY_* */
  uint8_t ip[16];
  uint8_t prefix;
} nsd_net;

typedef struct nsd_nets {
  size_t n;
  nsd_net r[NSD_MAX_NETS];
} nsd_nets;

/* The validated policy netstackd enforces on every request. */
typedef struct nsd_config {
  int allow_ipv4;
  int allow_ipv6;
  nsd_ports listen_ports;
  nsd_ports bind_ports;
  nsd_ports connect_ports;
  nsd_nets local_networks; /* TCP_LISTEN / UDP_BIND local address */
  nsd_nets destinations;   /* TCP_CONNECT / LOCAL_ADDR remote address */
  int any_interface;
  size_t ninterfaces;
  char interfaces[NSD_MAX_IFACES][DSB_NETSTACK_IFNAME_MAX + 1];
  uint32_t max_pending_connects;
  unsigned socket_mode;
} nsd_config;

/* config.c */
#define NSD_CONFIG_MAX_FILE (64 * 1024) /* bytes */
#define NSD_CONFIG_ERR_MAX (4096 + 256) /* a path and a sentence */
void nsd_config_defaults(nsd_config *cfg);
/*
 * Apply the JSON policy |text| (|len| bytes, need not be NUL-terminated)
 * over |cfg|; |source_name| (the file) names it in the error line. The text
 * must be one JSON object, trailing whitespace allowed, of at most
 * NSD_CONFIG_MAX_FILE bytes. |cfg| changes only on success. On failure
 * |err| (may be NULL) holds one line "SOURCE: FIELD: expected ..." (or
 * "SOURCE: cannot parse JSON: ..."), without a prefix or newline.
 * Errors: DSB_ERR_CONFIG, DSB_ERR_NOMEM, DSB_ERR_INVALID_ARGUMENT.
 */
int nsd_config_load_json(nsd_config *cfg, const char *source_name,
                         const char *text, size_t len, char *err,
                         size_t errlen);
/* Read |path| and apply it as nsd_config_load_json() does. On error prints
 * "netstackd: " and the error line to stderr. Errors: DSB_ERR_CONFIG
 * (also for a file that cannot be read), DSB_ERR_NOMEM. */
int nsd_config_load(nsd_config *cfg, const char *path);
int nsd_config_family_ok(const nsd_config *cfg, uint8_t family);
int nsd_config_port_ok(const nsd_ports *ports, uint16_t port);
int nsd_config_net_ok(const nsd_nets *nets, const dsb_netstack_addr *a);
int nsd_config_iface_ok(const nsd_config *cfg, const char *name);

/* sockops.c: each returns 0 or a negative DSB_ERR_*; sockets are created
 * non-blocking and close-on-exec, and closed again on every error path. */
int nsd_addr_to_sockaddr(struct sockaddr_storage *ss, socklen_t *sslen,
                         const dsb_netstack_addr *a);
int nsd_sockaddr_to_addr(dsb_netstack_addr *a,
                         const struct sockaddr_storage *ss);
int nsd_errno_to_err(int e);
int nsd_tcp_listen(int *fd, dsb_netstack_addr *bound,
                   const dsb_netstack_addr *local, int backlog);
int nsd_udp_bind(int *fd, dsb_netstack_addr *bound,
                 const dsb_netstack_udp_bind *b);
/* Start a non-blocking connect. *in_progress is 1 when completion must be
 * awaited (writability, then nsd_tcp_connect_finish()). */
int nsd_tcp_connect_start(int *fd, int *in_progress,
                          const dsb_netstack_addr *remote);
int nsd_tcp_connect_finish(int fd, dsb_netstack_addr *bound);
int nsd_local_addr(dsb_netstack_addr *local, const dsb_netstack_addr *remote);
int nsd_iflist(dsb_netstack_rep *rep, const nsd_config *cfg);

/* server.c */
typedef struct nsd_server nsd_server;
typedef struct nsd_server_settings {
  const char *socket_path;
  uid_t allow_uid;
  const nsd_config *cfg;
} nsd_server_settings;

/* log.c */
void nsd_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void nsd_log_set_level(int level);

#endif /* DSB_NETSTACKD_H */
