/*
 * discovery.c - the daemon's discovery: one UDP driver (dsb/disc_udp.h) per
 * configured interface (or one for all interfaces), announcing this
 * device, its session port and the services local apps published. The
 * unicast peer list goes to the first driver. Listings merge the drivers'
 * peer tables by device id.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsb/disc.h"
#include "dsb/disc_udp.h"
#include "dsb/err.h"
#include "backend.h"
#include "daemon_int.h"
#include "proxy.h"

typedef struct disc_state {
  size_t ndrivers;
  dsb_disc_udp *drivers[DSBD_MAX_INTERFACES];
  dsb_disc_announce local;
} disc_state;

static int disc_on_peer(void *ctx, dsb_disc_event_type ev,
                        dsb_disc_gone_reason reason,
                        const dsb_disc_peer *peer) {
  dsbd *d = ctx;
  char text[DSB_DEVICE_ID_TEXT_LEN + 1];
  dsb_device_id_format(text, &peer->ann.id);
  if (ev == DSB_DISC_PEER_UP) {
    dsbd_log(d, DSB_LOG_INFO, "discovered %s \"%s\"", text, peer->ann.name);
    dsbd_api_peer_event(d->api, DSB_IPC_EV_PEER_UP, &peer->ann.id,
                        peer->ann.name);
  } else if (ev == DSB_DISC_PEER_GONE) {
    dsbd_log(d, DSB_LOG_INFO, "device %s gone (%s)", text,
             reason == DSB_DISC_GONE_GOODBYE ? "goodbye" : "expired");
    dsbd_api_peer_event(d->api, DSB_IPC_EV_PEER_DOWN, &peer->ann.id, NULL);
  }
  return 0;
}

static void disc_on_reject(void *ctx, int err, const struct sockaddr *src) {
  (void)src;
  dsbd_count(ctx, dsb_strerror(err), 1);
}

/* The announcement being built and what did not fit it. */
typedef struct disc_build {
  dsb_disc_announce *a;
  size_t omitted;
  char first_omitted[DSB_DISC_SERVICE_NAME_MAX + 1];
} disc_build;

static void disc_add_service(void *ctx, const char *service) {
  disc_build *b = ctx;
  int rv = dsb_disc_announce_add_service(b->a, service, strlen(service));
  if (rv == 0 || rv == DSB_ERR_EXISTS) {
    return; /* EXISTS: a stream and a remote-call service of one name */
  }
  if (b->omitted++ == 0) {
    snprintf(b->first_omitted, sizeof(b->first_omitted), "%s", service);
  }
}

/* The local announcement: the services apps published as streams first
 * (the local API caps them at one announcement's worth, so they always
 * fit), then the remote-call services apps registered, in registry order.
 * Built-ins (samgr, bundles, echo) are not announced: every daemon offers
 * them. A remote-call service beyond the 16 an announcement carries stays
 * callable by name and listed by samgr; one line per rebuild (a service
 * change) says how many were left out. */
static void disc_build_local(dsbd *d, dsb_disc_announce *a) {
  disc_build b = {a, 0, ""};
  dsb_disc_announce_init(a);
  if (dsb_disc_announce_set_name(a, d->cfg.name, strlen(d->cfg.name)) != 0) {
    dsbd_log(d, DSB_LOG_WARN, "name \"%s\" not announceable", d->cfg.name);
  }
  a->session_port = d->port;
  dsbd_api_each_service(d->api, disc_add_service, &b);
  dsbd_proxy_each_service(d->proxy, disc_add_service, &b);
  if (b.omitted) {
    dsbd_log(d, DSB_LOG_WARN,
             "disc: %zu remote-call service(s) not announced (at most %d "
             "per announcement, published streams first), first \"%s\"; "
             "peers can still call them by name (samgr lists them)",
             b.omitted, DSB_DISC_MAX_SERVICES, b.first_omitted);
  }
}

int dsbd_disc_start(dsbd *d) {
  disc_state *s = calloc(1, sizeof(*s));
  if (!s) {
    return DSB_ERR_NOMEM;
  }
  disc_build_local(d, &s->local);
  const char *peers[DSBD_MAX_PEER_ADDRS];
  for (size_t i = 0; i < d->cfg.npeers; ++i) {
    peers[i] = d->cfg.peers[i];
  }
  size_t n = d->cfg.ninterfaces ? d->cfg.ninterfaces : 1;
  int rv = 0;
  for (size_t i = 0; i < n && !rv; ++i) {
    dsb_disc_udp_config c;
    dsb_disc_udp_config_default(&c);
    c.ident = &d->ident;
    c.local = &s->local;
    if (d->cfg.disc_port) {
      c.port = (uint16_t)d->cfg.disc_port;
    }
    c.ifname = d->cfg.ninterfaces ? d->cfg.interfaces[i] : NULL;
    if (i == 0) {
      c.peers = peers;
      c.npeers = d->cfg.npeers;
    }
    c.on_peer = disc_on_peer;
    c.on_reject = disc_on_reject;
    c.ctx = d;
    c.log = *dsbd_core_log();
    rv = dsbd_backend_disc_sockets(d, &c);
    if (rv == 0) {
      rv = dsb_disc_udp_new(&s->drivers[i], &d->loop, &c);
    }
    if (rv == 0) {
      s->ndrivers++;
      rv = dsb_disc_udp_start(s->drivers[i]);
    } else {
      dsbd_log(d, DSB_LOG_ERROR, "discovery on %s: %s",
               c.ifname ? c.ifname : "all interfaces", dsb_strerror(rv));
    }
  }
  d->disc = s;
  if (rv) {
    dsbd_disc_stop(d);
    return rv;
  }
  dsbd_log(d, DSB_LOG_INFO, "discovery on port %u",
           dsb_disc_udp_port(s->drivers[0]));
  return 0;
}

void dsbd_disc_stop(dsbd *d) {
  disc_state *s = d->disc;
  if (!s) {
    return;
  }
  for (size_t i = 0; i < s->ndrivers; ++i) {
    dsb_disc_udp_del(s->drivers[i]); /* goodbye */
  }
  free(s);
  d->disc = NULL;
}

void dsbd_services_changed(dsbd *d) {
  disc_state *s = d->disc;
  if (!s) {
    return;
  }
  disc_build_local(d, &s->local);
  for (size_t i = 0; i < s->ndrivers; ++i) {
    int rv = dsb_disc_udp_set_local(s->drivers[i], &s->local);
    if (rv) {
      dsbd_log(d, DSB_LOG_WARN, "announcing services: %s", dsb_strerror(rv));
    }
  }
}

/* The entry of |id| in any driver's table (first found). */
static const dsb_disc_peer *disc_find(disc_state *s, const dsb_device_id *id,
                                      size_t *which) {
  for (size_t i = 0; s && i < s->ndrivers; ++i) {
    const dsb_disc_peer *p =
        dsb_disc_peers_get(dsb_disc_udp_peers(s->drivers[i]), id);
    if (p) {
      if (which) {
        *which = i;
      }
      return p;
    }
  }
  return NULL;
}

int dsbd_disc_endpoint(dsbd *d, const dsb_device_id *id,
                       struct sockaddr_storage *addr, uint8_t static_pk[32]) {
  disc_state *s = d->disc;
  size_t which = 0;
  if (!disc_find(s, id, &which)) {
    return DSB_ERR_IPC_NO_PEER;
  }
  dsb_disc_endpoint ep;
  int rv =
      dsb_disc_peers_endpoint(dsb_disc_udp_peers(s->drivers[which]), id, &ep);
  if (rv) {
    return DSB_ERR_IPC_NO_PEER;
  }
  memset(addr, 0, sizeof(*addr));
  memcpy(addr, ep.addr,
         ep.addrlen < sizeof(*addr) ? ep.addrlen : sizeof(*addr));
  if (addr->ss_family == AF_INET) {
    ((struct sockaddr_in *)addr)->sin_port = htons(ep.session_port);
  } else if (addr->ss_family == AF_INET6) {
    ((struct sockaddr_in6 *)addr)->sin6_port = htons(ep.session_port);
  } else {
    return DSB_ERR_IPC_NO_PEER;
  }
  memcpy(static_pk, ep.static_pk, 32);
  return 0;
}

size_t dsbd_disc_count(dsbd *d) {
  disc_state *s = d->disc;
  size_t n = 0;
  for (size_t i = 0; s && i < s->ndrivers; ++i) {
    dsb_disc_peers *t = dsb_disc_udp_peers(s->drivers[i]);
    size_t cur = 0;
    const dsb_disc_peer *p;
    while ((p = dsb_disc_peers_next(t, &cur))) {
      if (disc_find(s, &p->ann.id, NULL) == p) {
        n++; /* count a device once, in the first table that has it */
      }
    }
  }
  return n;
}

/* "host:port" of a peer's source address with the session port. */
static void disc_format_addr(const dsb_disc_peer *p, char *out, size_t cap) {
  char host[INET6_ADDRSTRLEN] = "?";
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  memcpy(&ss, p->addr, p->addrlen < sizeof(ss) ? p->addrlen : sizeof(ss));
  if (ss.ss_family == AF_INET) {
    inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host,
              sizeof(host));
    snprintf(out, cap, "%s:%u", host, p->ann.session_port);
  } else if (ss.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host,
              sizeof(host));
    snprintf(out, cap, "[%s]:%u", host, p->ann.session_port);
  } else {
    snprintf(out, cap, "?:%u", p->ann.session_port);
  }
}

long dsbd_disc_list(dsbd *d, uint8_t *dst, size_t dstlen, uint16_t start,
                    uint16_t *total, uint16_t *count) {
  disc_state *s = d->disc;
  size_t off = 0;
  uint16_t index = 0, n = 0;
  int full = 0;
  for (size_t i = 0; s && i < s->ndrivers; ++i) {
    dsb_disc_peers *t = dsb_disc_udp_peers(s->drivers[i]);
    size_t cur = 0;
    const dsb_disc_peer *p;
    while ((p = dsb_disc_peers_next(t, &cur))) {
      if (disc_find(s, &p->ann.id, NULL) != p) {
        continue;
      }
      uint16_t idx = index++;
      if (idx < start || full) {
        continue;
      }
      dsb_ipc_peer e;
      memset(&e, 0, sizeof(e));
      e.id = p->ann.id;
      e.name.p = (const uint8_t *)p->ann.name;
      e.name.len = p->ann.name_len;
      e.trust = (uint8_t)dsbd_trust_get(d, &p->ann.id);
      e.session = (uint8_t)dsbd_peers_session_state(d->peers, &p->ann.id);
      /* One address per driver that sees the device. */
      char addrs[DSB_IPC_MAX_ADDRS][DSB_IPC_ADDR_MAX + 1];
      for (size_t j = i; j < s->ndrivers && e.naddrs < DSB_IPC_MAX_ADDRS; ++j) {
        const dsb_disc_peer *q =
            dsb_disc_peers_get(dsb_disc_udp_peers(s->drivers[j]), &p->ann.id);
        if (!q) {
          continue;
        }
        disc_format_addr(q, addrs[e.naddrs], sizeof(addrs[0]));
        int dup = 0;
        for (size_t k = 0; k < e.naddrs; ++k) {
          dup |= strcmp(addrs[k], addrs[e.naddrs]) == 0;
        }
        if (!dup) {
          e.addrs[e.naddrs] = dsb_ipc_cstr(addrs[e.naddrs]);
          e.naddrs++;
        }
      }
      /* Every announced service is listed, also one outside the
       * service-name rule (a peer of another version): opening that one
       * is refused with DSB_ERR_IPC_BAD_STRING. The discovery decoder
       * admits exactly what a peer entry can carry. */
      for (size_t k = 0; k < p->ann.nservices; ++k) {
        e.services[e.nservices].p = (const uint8_t *)p->ann.services[k];
        e.services[e.nservices].len = p->ann.service_len[k];
        e.nservices++;
      }
      if (!dsb_ipc_name_valid(e.name.p, e.name.len)) {
        e.name.len = 0;
      }
      long rv = dsb_ipc_peer_encode(dst + off, dstlen - off, &e);
      if (rv == DSB_ERR_NOBUF) {
        full = 1;
        continue;
      }
      if (rv < 0) {
        continue;
      }
      off += (size_t)rv;
      n++;
    }
  }
  *total = index;
  *count = n;
  return (long)off;
}
