/*
 * disc_udp.c - the discovery driver over libuv UDP (include/dsb/disc_udp.h).
 * The sans-IO codec and peer table do all parsing and decisions; this file
 * owns sockets, multicast membership, timers and clocks.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dsb/crypto.h"
#include "dsb/disc_udp.h"
#include "dsb/err.h"

#define DISC_UDP_RXBUF 2048 /* > DSB_DISC_MAX_DATAGRAM: oversize is seen */
#define DISC_UDP_NONCES 32  /* recently answered (and sent) query nonces */

enum { DISC_V4 = 0, DISC_V6 = 1, DISC_NFAM = 2 };

typedef struct disc_iface {
  char name[IF_NAMESIZE];
  unsigned index;
  struct in_addr v4;
  int has_v4;
  int has_v6;
} disc_iface;

typedef struct disc_sock {
  uv_udp_t h;
  int open; /* initialised: needs uv_close */
} disc_sock;

struct dsb_disc_udp {
  uv_loop_t *loop;
  dsb_identity ident;
  dsb_disc_announce local;
  dsb_disc_udp_config cfg; /* pointers in it are not used after new() */
  dsb_disc_peers *peers;
  disc_sock rx[DISC_NFAM];
  disc_sock tx[DISC_NFAM];
  uv_timer_t announce_timer;
  uv_timer_t expire_timer;
  int timers_open;
  int pending_closes;
  int started;
  int closing;
  unsigned flags;
  int lo_mode;
  disc_iface ifaces[DSB_DISC_UDP_MAX_IFACES];
  size_t nifaces;
  struct sockaddr_storage peers_addr[DSB_DISC_UDP_MAX_PEERS];
  size_t npeers;
  uint64_t seq;
  uint8_t ann[DSB_DISC_MAX_DATAGRAM]; /* current signed announcement */
  size_t annlen;
  uint8_t nonces[DISC_UDP_NONCES][DSB_DISC_NONCE_LEN];
  size_t nonce_next;
  uint8_t rxbuf[DISC_UDP_RXBUF];
  int rxbuf_busy;
  dsb_disc_udp_stats stats;
};

/* ---- small helpers ------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static void
disc_udp_log(const dsb_disc_udp *d, dsb_log_level level, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  if (!d->cfg.log.fn) {
    return;
  }
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  d->cfg.log.fn(d->cfg.log.ctx, level, msg);
}

static dsb_tstamp disc_udp_now(void) {
  return (dsb_tstamp)uv_hrtime();
}

void dsb_disc_udp_config_default(dsb_disc_udp_config *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->port = DSB_DISC_DEFAULT_PORT;
  cfg->interval_ms = DSB_DISC_UDP_DEFAULT_INTERVAL_MS;
  cfg->jitter_pct = DSB_DISC_UDP_DEFAULT_JITTER_PCT;
  cfg->ttl_s = DSB_DISC_UDP_DEFAULT_TTL_S;
  dsb_disc_peers_settings_default(&cfg->table);
  cfg->rx_fd_v4 = -1;
  cfg->tx_fd_v4 = -1;
}

/* "1.2.3.4:5" or "[fe80::1%eth0]:5" -> sockaddr. Numeric only: no DNS
 * lookups on the event loop. */
static int disc_udp_parse_peer(struct sockaddr_storage *ss, const char *s) {
  char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  const char *colon;
  size_t hostlen;
  char *end;
  memset(ss, 0, sizeof(*ss));
  if (s[0] == '[') {
    const char *rb = strchr(s, ']');
    if (!rb || rb[1] != ':') {
      return DSB_ERR_CONFIG;
    }
    hostlen = (size_t)(rb - s - 1);
    if (hostlen == 0 || hostlen >= sizeof(host)) {
      return DSB_ERR_CONFIG;
    }
    memcpy(host, s + 1, hostlen);
    colon = rb + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon) {
      return DSB_ERR_CONFIG;
    }
    hostlen = (size_t)(colon - s);
    if (hostlen == 0 || hostlen >= sizeof(host)) {
      return DSB_ERR_CONFIG;
    }
    memcpy(host, s, hostlen);
  }
  host[hostlen] = '\0';
  errno = 0;
  unsigned long port = strtoul(colon + 1, &end, 10);
  if (errno || *end != '\0' || end == colon + 1 || port == 0 || port > 65535) {
    return DSB_ERR_CONFIG;
  }
  if (s[0] == '[') {
    if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) != 0) {
      return DSB_ERR_CONFIG;
    }
  } else if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) != 0) {
    return DSB_ERR_CONFIG;
  }
  return 0;
}

/* Normalised opaque bytes of a sender address for the peer table: only
 * family, port, address (and IPv6 scope), so equal senders compare equal. */
static size_t disc_udp_addr_key(uint8_t out[static DSB_DISC_ADDR_MAX],
                                const struct sockaddr *sa) {
  memset(out, 0, DSB_DISC_ADDR_MAX);
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    struct sockaddr_in n;
    memset(&n, 0, sizeof(n));
    n.sin_family = AF_INET;
    n.sin_port = in->sin_port;
    n.sin_addr = in->sin_addr;
    memcpy(out, &n, sizeof(n));
    return sizeof(n);
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    struct sockaddr_in6 n;
    memset(&n, 0, sizeof(n));
    n.sin6_family = AF_INET6;
    n.sin6_port = in6->sin6_port;
    n.sin6_addr = in6->sin6_addr;
    n.sin6_scope_id = in6->sin6_scope_id;
    memcpy(out, &n, sizeof(n));
    return sizeof(n);
  }
  return 0;
}

/* ---- interfaces ---------------------------------------------------------- */

static disc_iface *disc_udp_iface(dsb_disc_udp *d, const char *name) {
  for (size_t i = 0; i < d->nifaces; ++i) {
    if (strcmp(d->ifaces[i].name, name) == 0) {
      return &d->ifaces[i];
    }
  }
  if (d->nifaces == DSB_DISC_UDP_MAX_IFACES) {
    return NULL;
  }
  disc_iface *f = &d->ifaces[d->nifaces++];
  memset(f, 0, sizeof(*f));
  snprintf(f->name, sizeof(f->name), "%s", name);
  f->index = if_nametoindex(name);
  return f;
}

/* Selected interfaces: the named one, or every up, multicast-capable,
 * non-loopback one. */
static int disc_udp_scan_ifaces(dsb_disc_udp *d, const char *ifname) {
  struct ifaddrs *ifa, *it;
  if (getifaddrs(&ifa) != 0) {
    return DSB_ERR_IO;
  }
  for (it = ifa; it; it = it->ifa_next) {
    if (!it->ifa_addr || !(it->ifa_flags & IFF_UP)) {
      continue;
    }
    if (ifname) {
      if (strcmp(it->ifa_name, ifname) != 0) {
        continue;
      }
    } else if (!(it->ifa_flags & IFF_MULTICAST) ||
               (it->ifa_flags & IFF_LOOPBACK)) {
      continue;
    }
    int fam = it->ifa_addr->sa_family;
    if (fam != AF_INET && fam != AF_INET6) {
      continue;
    }
    disc_iface *f = disc_udp_iface(d, it->ifa_name);
    if (!f) {
      break;
    }
    if (fam == AF_INET && !f->has_v4) {
      f->v4 = ((const struct sockaddr_in *)it->ifa_addr)->sin_addr;
      f->has_v4 = 1;
    } else if (fam == AF_INET6) {
      const struct in6_addr *a6 =
          &((const struct sockaddr_in6 *)it->ifa_addr)->sin6_addr;
      /* Link-local scope needs a link-local address and a multicast
       * capable link (Linux loopback has neither: IPv4 only there). */
      if (IN6_IS_ADDR_LINKLOCAL(a6) && (it->ifa_flags & IFF_MULTICAST)) {
        f->has_v6 = 1;
      }
    }
  }
  freeifaddrs(ifa);
  if (ifname && d->nifaces == 0) {
    return DSB_ERR_CONFIG;
  }
  return 0;
}

/* Interfaces listed by the caller (IPv4 only; see dsb_disc_udp_config). */
static int disc_udp_given_ifaces(dsb_disc_udp *d, const dsb_disc_udp_iface *l,
                                 size_t n) {
  if (!l || n > DSB_DISC_UDP_MAX_IFACES) {
    return DSB_ERR_CONFIG;
  }
  for (size_t i = 0; i < n; ++i) {
    if (memchr(l[i].name, 0, sizeof(l[i].name)) == NULL || !l[i].name[0]) {
      return DSB_ERR_CONFIG;
    }
    disc_iface *f = &d->ifaces[d->nifaces++];
    memset(f, 0, sizeof(*f));
    snprintf(f->name, sizeof(f->name), "%s", l[i].name);
    f->index = l[i].index;
    memcpy(&f->v4, l[i].v4, 4);
    f->has_v4 = 1;
  }
  return 0;
}

/* ---- sockets ------------------------------------------------------------- */

static void disc_udp_on_close(uv_handle_t *h);
static void disc_udp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void disc_udp_on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                             const struct sockaddr *addr, unsigned flags);

static int disc_udp_setsockopt(int fd, int level, int opt, int val) {
  return setsockopt(fd, level, opt, &val, sizeof(val)) == 0 ? 0 : -errno;
}

/* Open a socket bound to |bind_addr| and hand it to libuv. */
static int disc_udp_open(dsb_disc_udp *d, disc_sock *s, int fd,
                         const struct sockaddr *bind_addr, int reuse) {
  int rv;
  int fam = bind_addr ? bind_addr->sa_family : AF_INET;
  int own_fd = fd < 0;
  if (own_fd) {
    fd = socket(fam, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      return DSB_ERR_IO;
    }
    if (fam == AF_INET6 &&
        disc_udp_setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1) != 0) {
      goto fail_fd;
    }
    /* SO_REUSEADDR (not SO_REUSEPORT): every socket on the port gets the
     * multicast datagrams, none steals another's by load balancing. */
    if (reuse && disc_udp_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1) != 0) {
      goto fail_fd;
    }
    if (bind(fd, bind_addr,
             fam == AF_INET ? sizeof(struct sockaddr_in)
                            : sizeof(struct sockaddr_in6)) != 0) {
      disc_udp_log(d, DSB_LOG_WARN, "discovery: bind failed: %s",
                   strerror(errno));
      goto fail_fd;
    }
  }
  rv = uv_udp_init(d->loop, &s->h);
  if (rv != 0) {
    goto fail_fd;
  }
  s->h.data = d;
  s->open = 1;
  rv = uv_udp_open(&s->h, fd);
  if (rv != 0) {
    /* The handle owns nothing yet: close the fd ourselves. */
    goto fail_fd;
  }
  rv = uv_udp_recv_start(&s->h, disc_udp_alloc, disc_udp_on_recv);
  if (rv != 0) {
    return DSB_ERR_IO; /* fd now belongs to the handle */
  }
  return 0;

fail_fd:
  /* The handle never took the fd; adopted fds are ours to close too. */
  close(fd);
  return DSB_ERR_IO;
}

static int disc_udp_open_v4(dsb_disc_udp *d) {
  struct sockaddr_in any, txa;
  int rv;
  uv_ip4_addr("0.0.0.0", d->cfg.port, &any);
  uv_ip4_addr(d->lo_mode ? "127.0.0.1" : "0.0.0.0", 0, &txa);

  rv = disc_udp_open(d, &d->rx[DISC_V4], d->cfg.rx_fd_v4,
                     (const struct sockaddr *)&any, 1);
  if (rv != 0) {
    if (d->cfg.tx_fd_v4 >= 0) {
      close(d->cfg.tx_fd_v4); /* adopted: ours to close as well */
    }
    return rv;
  }
  rv = disc_udp_open(d, &d->tx[DISC_V4], d->cfg.tx_fd_v4,
                     (const struct sockaddr *)&txa, 0);
  if (rv != 0) {
    return rv;
  }
  if (d->flags & DSB_DISC_UDP_NO_MULTICAST || d->cfg.rx_fd_v4 >= 0) {
    return 0;
  }
  uv_os_fd_t rxfd, txfd;
  uv_fileno((uv_handle_t *)&d->rx[DISC_V4].h, &rxfd);
  uv_fileno((uv_handle_t *)&d->tx[DISC_V4].h, &txfd);
  /* Only the groups this socket joined, not every group any socket on
   * the host joined on this port. */
#ifdef IP_MULTICAST_ALL
  (void)disc_udp_setsockopt(rxfd, IPPROTO_IP, IP_MULTICAST_ALL, 0);
#endif
  size_t joined = 0;
  for (size_t i = 0; i < d->nifaces; ++i) {
    struct ip_mreq mr;
    if (!d->ifaces[i].has_v4) {
      continue;
    }
    memset(&mr, 0, sizeof(mr));
    inet_pton(AF_INET, DSB_DISC_GROUP_V4, &mr.imr_multiaddr);
    mr.imr_interface = d->ifaces[i].v4;
    if (setsockopt(rxfd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)) != 0) {
      disc_udp_log(d, DSB_LOG_WARN, "discovery: IPv4 join on %s failed: %s",
                   d->ifaces[i].name, strerror(errno));
      d->ifaces[i].has_v4 = 0;
      continue;
    }
    ++joined;
  }
  /* TTL 0 keeps loopback-mode multicast on this host; 1 keeps the rest on
   * the link. Loopback delivery lets processes on one host meet. */
  if (disc_udp_setsockopt(txfd, IPPROTO_IP, IP_MULTICAST_TTL,
                          d->lo_mode ? 0 : 1) != 0 ||
      disc_udp_setsockopt(txfd, IPPROTO_IP, IP_MULTICAST_LOOP, 1) != 0) {
    return DSB_ERR_IO;
  }
  return joined || d->npeers ? 0 : DSB_ERR_IO;
}

static int disc_udp_open_v6(dsb_disc_udp *d) {
  struct sockaddr_in6 any, txa;
  int rv;
  uv_ip6_addr("::", d->cfg.port, &any);
  uv_ip6_addr(d->lo_mode ? "::1" : "::", 0, &txa);

  size_t want = 0;
  for (size_t i = 0; i < d->nifaces; ++i) {
    want += (size_t)d->ifaces[i].has_v6;
  }
  int peers6 = 0;
  for (size_t i = 0; i < d->npeers; ++i) {
    peers6 |= d->peers_addr[i].ss_family == AF_INET6;
  }
  if ((d->flags & DSB_DISC_UDP_NO_MULTICAST || !want) && !peers6) {
    return DSB_ERR_UNSUPPORTED;
  }
  rv = disc_udp_open(d, &d->rx[DISC_V6], -1, (const struct sockaddr *)&any, 1);
  if (rv != 0) {
    return rv;
  }
  rv = disc_udp_open(d, &d->tx[DISC_V6], -1, (const struct sockaddr *)&txa, 0);
  if (rv != 0) {
    return rv;
  }
  if (d->flags & DSB_DISC_UDP_NO_MULTICAST) {
    return 0;
  }
  uv_os_fd_t rxfd, txfd;
  uv_fileno((uv_handle_t *)&d->rx[DISC_V6].h, &rxfd);
  uv_fileno((uv_handle_t *)&d->tx[DISC_V6].h, &txfd);
#ifdef IPV6_MULTICAST_ALL
  (void)disc_udp_setsockopt(rxfd, IPPROTO_IPV6, IPV6_MULTICAST_ALL, 0);
#endif
  for (size_t i = 0; i < d->nifaces; ++i) {
    struct ipv6_mreq mr;
    if (!d->ifaces[i].has_v6) {
      continue;
    }
    memset(&mr, 0, sizeof(mr));
    inet_pton(AF_INET6, DSB_DISC_GROUP_V6, &mr.ipv6mr_multiaddr);
    mr.ipv6mr_interface = d->ifaces[i].index;
    if (setsockopt(rxfd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &mr, sizeof(mr)) != 0) {
      disc_udp_log(d, DSB_LOG_INFO, "discovery: IPv6 join on %s failed: %s",
                   d->ifaces[i].name, strerror(errno));
      d->ifaces[i].has_v6 = 0;
    }
  }
  if (disc_udp_setsockopt(txfd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS,
                          d->lo_mode ? 0 : 1) != 0 ||
      disc_udp_setsockopt(txfd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 1) != 0) {
    return DSB_ERR_IO;
  }
  return 0;
}

/* ---- sending ------------------------------------------------------------- */

static void disc_udp_send_to(dsb_disc_udp *d, const uint8_t *p, size_t len,
                             const struct sockaddr *to) {
  int fam = to->sa_family == AF_INET6 ? DISC_V6 : DISC_V4;
  if (!d->tx[fam].open) {
    return;
  }
  uv_buf_t b = uv_buf_init((char *)(uintptr_t)p, (unsigned)len);
  /* Datagrams are fire-and-forget: a full socket buffer drops this one,
   * the next period sends again. */
  int rv = uv_udp_try_send(&d->tx[fam].h, &b, 1, to);
  if (rv < 0) {
    d->stats.send_errors++;
    disc_udp_log(d, DSB_LOG_DEBUG, "discovery: send failed: %s",
                 uv_strerror(rv));
  }
}

/* To the group on every selected interface, then to every unicast peer. */
static void disc_udp_send_all(dsb_disc_udp *d, const uint8_t *p, size_t len) {
  if (!(d->flags & DSB_DISC_UDP_NO_MULTICAST)) {
    for (size_t i = 0; i < d->nifaces; ++i) {
      const disc_iface *f = &d->ifaces[i];
      if (f->has_v4 && d->tx[DISC_V4].open) {
        struct sockaddr_in g;
        char ifa[INET_ADDRSTRLEN];
        uv_ip4_addr(DSB_DISC_GROUP_V4, d->cfg.port, &g);
        inet_ntop(AF_INET, &f->v4, ifa, sizeof(ifa));
        if (uv_udp_set_multicast_interface(&d->tx[DISC_V4].h, ifa) == 0) {
          disc_udp_send_to(d, p, len, (const struct sockaddr *)&g);
        }
      }
      if (f->has_v6 && d->tx[DISC_V6].open) {
        struct sockaddr_in6 g;
        uv_os_fd_t fd;
        unsigned idx = f->index;
        uv_ip6_addr(DSB_DISC_GROUP_V6, d->cfg.port, &g);
        g.sin6_scope_id = idx;
        uv_fileno((uv_handle_t *)&d->tx[DISC_V6].h, &fd);
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx,
                       sizeof(idx)) == 0) {
          disc_udp_send_to(d, p, len, (const struct sockaddr *)&g);
        }
      }
    }
  }
  for (size_t i = 0; i < d->npeers; ++i) {
    disc_udp_send_to(d, p, len, (const struct sockaddr *)&d->peers_addr[i]);
  }
}

/* Sign the current local state with the next sequence number. */
static int disc_udp_encode(dsb_disc_udp *d, uint16_t ttl_s) {
  dsb_disc_announce a = d->local;
  a.seq = ++d->seq;
  a.ttl_s = ttl_s;
  long n = dsb_disc_announce_encode(d->ann, sizeof(d->ann), &a, &d->ident);
  if (n < 0) {
    d->annlen = 0;
    return (int)n;
  }
  d->annlen = (size_t)n;
  return 0;
}

static uint64_t disc_udp_next_delay(dsb_disc_udp *d) {
  uint64_t base = d->cfg.interval_ms;
  uint32_t r = 0;
  if (d->cfg.jitter_pct == 0 || dsb_random(d->cfg.rng.fn ? &d->cfg.rng : NULL,
                                           (uint8_t *)&r, sizeof(r)) != 0) {
    return base;
  }
  /* base * (1 +- jitter): uniform in [base - j, base + j]. */
  uint64_t j = base * d->cfg.jitter_pct / 100;
  uint64_t off = j ? (uint64_t)r % (2 * j + 1) : 0;
  return base - j + off;
}

static void disc_udp_on_announce_timer(uv_timer_t *t);

int dsb_disc_udp_announce(dsb_disc_udp *d) {
  int rv = disc_udp_encode(d, d->cfg.ttl_s);
  if (rv != 0) {
    return rv;
  }
  disc_udp_send_all(d, d->ann, d->annlen);
  d->stats.announces_sent++;
  if (d->started) {
    uv_timer_start(&d->announce_timer, disc_udp_on_announce_timer,
                   disc_udp_next_delay(d), 0);
  }
  return 0;
}

static void disc_udp_on_announce_timer(uv_timer_t *t) {
  dsb_disc_udp *d = t->data;
  if (dsb_disc_udp_announce(d) != 0) {
    disc_udp_log(d, DSB_LOG_ERROR, "discovery: cannot encode announcement");
  }
}

static void disc_udp_remember_nonce(dsb_disc_udp *d, const uint8_t *nonce) {
  memcpy(d->nonces[d->nonce_next], nonce, DSB_DISC_NONCE_LEN);
  d->nonce_next = (d->nonce_next + 1) % DISC_UDP_NONCES;
}

static int disc_udp_seen_nonce(const dsb_disc_udp *d, const uint8_t *nonce) {
  for (size_t i = 0; i < DISC_UDP_NONCES; ++i) {
    if (memcmp(d->nonces[i], nonce, DSB_DISC_NONCE_LEN) == 0) {
      return 1;
    }
  }
  return 0;
}

int dsb_disc_udp_query(dsb_disc_udp *d, const char *service, size_t len) {
  dsb_disc_query q;
  uint8_t buf[DSB_DISC_QUERY_MIN_LEN + DSB_DISC_SERVICE_NAME_MAX];
  memset(&q, 0, sizeof(q));
  if (len > DSB_DISC_SERVICE_NAME_MAX) {
    return DSB_ERR_DISC_NAME_TOO_LONG;
  }
  if (dsb_random(d->cfg.rng.fn ? &d->cfg.rng : NULL, q.nonce,
                 sizeof(q.nonce)) != 0) {
    return DSB_ERR_CRYPTO_RNG;
  }
  if (len) {
    memcpy(q.service, service, len);
  }
  q.service_len = (uint8_t)len;
  long n = dsb_disc_query_encode(buf, sizeof(buf), &q);
  if (n < 0) {
    return (int)n;
  }
  /* Our own query loops back through multicast: do not answer it. */
  disc_udp_remember_nonce(d, q.nonce);
  disc_udp_send_all(d, buf, (size_t)n);
  d->stats.queries_sent++;
  return 0;
}

/* ---- receiving ----------------------------------------------------------- */

static void disc_udp_on_expire_timer(uv_timer_t *t);

/* One timer for the earliest expiry in the table. */
static void disc_udp_rearm_expiry(dsb_disc_udp *d) {
  dsb_tstamp next = dsb_disc_peers_next_expiry(d->peers);
  if (next == UINT64_MAX) {
    uv_timer_stop(&d->expire_timer);
    return;
  }
  dsb_tstamp now = disc_udp_now();
  uint64_t ms =
      next > now ? (next - now + DSB_NS_PER_MS - 1) / DSB_NS_PER_MS : 0;
  uv_timer_start(&d->expire_timer, disc_udp_on_expire_timer, ms, 0);
}

static void disc_udp_on_expire_timer(uv_timer_t *t) {
  dsb_disc_udp *d = t->data;
  /* Events went to on_peer; a failing callback changes nothing here. */
  int n = dsb_disc_peers_expire(d->peers, disc_udp_now());
  (void)n;
  if (!d->closing) {
    disc_udp_rearm_expiry(d);
  }
}

static void disc_udp_reject(dsb_disc_udp *d, int err,
                            const struct sockaddr *src) {
  d->stats.rejected++;
  if (d->cfg.on_reject) {
    d->cfg.on_reject(d->cfg.ctx, err, src);
  }
}

static void disc_udp_handle_query(dsb_disc_udp *d, const uint8_t *p, size_t len,
                                  const uint8_t *key, size_t keylen,
                                  const struct sockaddr *src) {
  dsb_disc_query q;
  /* Answers are larger than queries: the source budget bounds how much a
   * spoofed query can make us send. */
  int rv = dsb_disc_peers_admit(d->peers, key, keylen, disc_udp_now());
  if (rv == 0) {
    rv = dsb_disc_query_decode(&q, p, len);
  }
  if (rv != 0) {
    disc_udp_reject(d, rv, src);
    return;
  }
  if (disc_udp_seen_nonce(d, q.nonce)) {
    return;
  }
  disc_udp_remember_nonce(d, q.nonce);
  if (q.service_len &&
      !dsb_disc_announce_offers(&d->local, q.service, q.service_len)) {
    return;
  }
  if (!d->started || d->annlen == 0) {
    return;
  }
  disc_udp_send_to(d, d->ann, d->annlen, src);
  d->stats.answers_sent++;
}

static void disc_udp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  dsb_disc_udp *d = h->data;
  (void)hint;
  if (d->rxbuf_busy) {
    *buf = uv_buf_init(NULL, 0);
    return;
  }
  d->rxbuf_busy = 1;
  *buf = uv_buf_init((char *)d->rxbuf, sizeof(d->rxbuf));
}

static void disc_udp_on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                             const struct sockaddr *addr, unsigned flags) {
  dsb_disc_udp *d = h->data;
  uint8_t key[DSB_DISC_ADDR_MAX];
  if (buf->base == (char *)d->rxbuf) {
    d->rxbuf_busy = 0;
  }
  if (d->closing || nread <= 0 || !addr) {
    return; /* 0 with NULL addr: nothing more to read; errors: transient */
  }
  d->stats.datagrams_received++;
  if (flags & UV_UDP_PARTIAL) {
    disc_udp_reject(d, DSB_ERR_DISC_OVERSIZE, addr);
    return;
  }
  size_t keylen = disc_udp_addr_key(key, addr);
  const uint8_t *p = (const uint8_t *)buf->base;
  size_t len = (size_t)nread;
  int type = dsb_disc_peek_type(p, len);
  if (type == DSB_DISC_TYPE_QUERY) {
    disc_udp_handle_query(d, p, len, key, keylen, addr);
    return;
  }
  if (type < 0) {
    disc_udp_reject(d, type, addr);
    return;
  }
  int rv = dsb_disc_peers_input(d->peers, p, len, key, keylen, disc_udp_now());
  if (d->closing) {
    return; /* a callback deleted us */
  }
  if (rv != 0 && rv != DSB_ERR_DISC_SELF && rv != DSB_ERR_CALLBACK_FAILURE) {
    disc_udp_reject(d, rv, addr);
  }
  disc_udp_rearm_expiry(d);
}

/* ---- lifecycle ----------------------------------------------------------- */

int dsb_disc_udp_new(dsb_disc_udp **pd, uv_loop_t *loop,
                     const dsb_disc_udp_config *cfg) {
  dsb_disc_udp *d;
  int rv;
  if (!pd || !loop || !cfg || !cfg->ident || !cfg->local ||
      cfg->interval_ms == 0 || cfg->jitter_pct > 50 || cfg->ttl_s == 0 ||
      cfg->npeers > DSB_DISC_UDP_MAX_PEERS || (cfg->npeers && !cfg->peers)) {
    rv = DSB_ERR_INVALID_ARGUMENT;
    goto fail_fds;
  }
  d = calloc(1, sizeof(*d));
  if (!d) {
    rv = DSB_ERR_NOMEM;
    goto fail_fds;
  }
  d->loop = loop;
  d->ident = *cfg->ident;
  d->local = *cfg->local;
  d->cfg = *cfg;
  d->cfg.ident = NULL;
  d->cfg.local = NULL;
  d->cfg.peers = NULL;
  d->cfg.ifname = NULL;
  d->flags = cfg->flags;
  d->lo_mode = cfg->ifname && strcmp(cfg->ifname, "lo") == 0;
  d->seq = cfg->seq_start;
  if (d->seq == 0) {
    uv_timeval64_t tv;
    if (uv_gettimeofday(&tv) == 0 && tv.tv_sec > 0) {
      /* Wall-clock ms * 1000: a restarted node starts above everything
       * it sent before, as long as its clock moved forward
       * (docs/PROTOCOL.md, "Discovery", sequence numbers). */
      d->seq =
          ((uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000) * 1000;
    }
  }
  for (size_t i = 0; i < cfg->npeers; ++i) {
    rv = disc_udp_parse_peer(&d->peers_addr[i], cfg->peers[i]);
    if (rv != 0) {
      goto fail_config;
    }
    d->npeers++;
  }
  /* The encoder validates the local fields once here. */
  rv = disc_udp_encode(d, d->cfg.ttl_s);
  if (rv != 0) {
    goto fail_config;
  }
  d->seq--; /* start() announces with this same number */
  rv = dsb_disc_peers_new(&d->peers, &cfg->table, cfg->on_peer, cfg->ctx, NULL);
  if (rv != 0) {
    goto fail_config;
  }
  dsb_disc_peers_set_self(d->peers, &d->ident.id);
  if (!(d->flags & DSB_DISC_UDP_NO_MULTICAST) && cfg->nifaces > 0) {
    rv = disc_udp_given_ifaces(d, cfg->ifaces, cfg->nifaces);
    if (rv != 0) {
      goto fail_peers;
    }
  } else if (!(d->flags & DSB_DISC_UDP_NO_MULTICAST)) {
    rv = disc_udp_scan_ifaces(d, cfg->ifname);
    if (rv != 0) {
      goto fail_peers;
    }
  }
  uv_timer_init(loop, &d->announce_timer);
  uv_timer_init(loop, &d->expire_timer);
  d->announce_timer.data = d;
  d->expire_timer.data = d;
  d->timers_open = 1;

  int ok = 0;
  if (!(d->flags & DSB_DISC_UDP_NO_IPV4)) {
    rv = disc_udp_open_v4(d);
    if (rv == 0) {
      ok = 1;
    } else {
      disc_udp_log(d, DSB_LOG_WARN, "discovery: IPv4 unavailable");
    }
  }
  if (!(d->flags & DSB_DISC_UDP_NO_IPV6)) {
    rv = disc_udp_open_v6(d);
    if (rv == 0) {
      ok = 1;
    } else if (rv != DSB_ERR_UNSUPPORTED) {
      disc_udp_log(d, DSB_LOG_INFO, "discovery: IPv6 unavailable");
    }
  }
  if (!ok) {
    /* Handles exist: release through the close path. */
    d->started = 0;
    dsb_disc_udp_del(d);
    return DSB_ERR_IO;
  }
  *pd = d;
  return 0;

fail_peers:
  dsb_disc_peers_del(d->peers);
fail_config:
  dsb_identity_wipe(&d->ident);
  free(d);
fail_fds:
  /* Adopted sockets belong to the driver from the call on. */
  if (cfg && cfg->rx_fd_v4 >= 0) {
    close(cfg->rx_fd_v4);
  }
  if (cfg && cfg->tx_fd_v4 >= 0) {
    close(cfg->tx_fd_v4);
  }
  return rv;
}

int dsb_disc_udp_start(dsb_disc_udp *d) {
  if (d->started || d->closing) {
    return DSB_ERR_INVALID_STATE;
  }
  d->started = 1;
  int rv = dsb_disc_udp_announce(d);
  if (rv != 0) {
    return rv;
  }
  if (!(d->flags & DSB_DISC_UDP_NO_QUERY)) {
    rv = dsb_disc_udp_query(d, NULL, 0);
  }
  return rv;
}

int dsb_disc_udp_set_local(dsb_disc_udp *d, const dsb_disc_announce *local) {
  dsb_disc_announce old = d->local;
  d->local = *local;
  int rv = disc_udp_encode(d, d->cfg.ttl_s);
  if (rv != 0) {
    d->local = old;
    return rv;
  }
  d->seq--; /* announce() signs again with this number */
  return d->started ? dsb_disc_udp_announce(d) : 0;
}

dsb_disc_peers *dsb_disc_udp_peers(dsb_disc_udp *d) {
  return d->peers;
}

static uint16_t disc_udp_sock_port(const disc_sock *s) {
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  if (!s->open ||
      uv_udp_getsockname(&s->h, (struct sockaddr *)&ss, &len) != 0) {
    return 0;
  }
  if (ss.ss_family == AF_INET) {
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
  }
  return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

uint16_t dsb_disc_udp_port(const dsb_disc_udp *d) {
  uint16_t p = disc_udp_sock_port(&d->rx[DISC_V4]);
  return p ? p : disc_udp_sock_port(&d->rx[DISC_V6]);
}

uint16_t dsb_disc_udp_tx_port(const dsb_disc_udp *d) {
  return disc_udp_sock_port(&d->tx[DISC_V4]);
}

void dsb_disc_udp_get_stats(const dsb_disc_udp *d, dsb_disc_udp_stats *st) {
  *st = d->stats;
}

static void disc_udp_on_close(uv_handle_t *h) {
  dsb_disc_udp *d = h->data;
  if (--d->pending_closes == 0) {
    dsb_disc_peers_del(d->peers);
    dsb_identity_wipe(&d->ident);
    dsb_wipe(d, sizeof(*d));
    free(d);
  }
}

static void disc_udp_close_handle(dsb_disc_udp *d, uv_handle_t *h) {
  d->pending_closes++;
  uv_close(h, disc_udp_on_close);
}

void dsb_disc_udp_del(dsb_disc_udp *d) {
  if (!d || d->closing) {
    return;
  }
  if (d->started && disc_udp_encode(d, 0) == 0) {
    disc_udp_send_all(d, d->ann, d->annlen);
  }
  d->closing = 1;
  for (int f = 0; f < DISC_NFAM; ++f) {
    if (d->rx[f].open) {
      disc_udp_close_handle(d, (uv_handle_t *)&d->rx[f].h);
    }
    if (d->tx[f].open) {
      disc_udp_close_handle(d, (uv_handle_t *)&d->tx[f].h);
    }
  }
  if (d->timers_open) {
    disc_udp_close_handle(d, (uv_handle_t *)&d->announce_timer);
    disc_udp_close_handle(d, (uv_handle_t *)&d->expire_timer);
  }
  if (d->pending_closes == 0) {
    dsb_disc_peers_del(d->peers);
    dsb_identity_wipe(&d->ident);
    free(d);
  }
}
