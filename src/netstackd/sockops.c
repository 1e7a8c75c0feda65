/*
 * sockops.c - the socket operations netstackd performs on behalf of its
 * client. Policy checks happen before these are called (server.c); here we
 * only create, configure and hand back descriptors, closing them on every
 * error path.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dsb/err.h"
#include "netstackd.h"

int nsd_addr_to_sockaddr(struct sockaddr_storage *ss, socklen_t *sslen,
                         const dsb_netstack_addr *a) {
  memset(ss, 0, sizeof(*ss));
  if (a->family == DSB_NETSTACK_FAMILY_IPV4) {
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(a->port);
    memcpy(&sin->sin_addr, a->ip, 4);
    *sslen = sizeof(*sin);
    return 0;
  }
  if (a->family == DSB_NETSTACK_FAMILY_IPV6) {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(a->port);
    memcpy(&sin6->sin6_addr, a->ip, 16);
    sin6->sin6_scope_id = a->scope_id;
    *sslen = sizeof(*sin6);
    return 0;
  }
  return DSB_ERR_INVALID_ARGUMENT;
}

int nsd_sockaddr_to_addr(dsb_netstack_addr *a,
                         const struct sockaddr_storage *ss) {
  memset(a, 0, sizeof(*a));
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
    a->family = DSB_NETSTACK_FAMILY_IPV4;
    memcpy(a->ip, &sin->sin_addr, 4);
    a->port = ntohs(sin->sin_port);
    return 0;
  }
  if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
    a->family = DSB_NETSTACK_FAMILY_IPV6;
    memcpy(a->ip, &sin6->sin6_addr, 16);
    a->scope_id = sin6->sin6_scope_id;
    a->port = ntohs(sin6->sin6_port);
    return 0;
  }
  return DSB_ERR_UNSUPPORTED;
}

int nsd_errno_to_err(int e) {
  switch (e) {
  case EADDRINUSE:
  case EADDRNOTAVAIL:
    return DSB_ERR_NETSTACK_ADDR_IN_USE;
  case ECONNREFUSED:
  case ECONNRESET:
    return DSB_ERR_NETSTACK_REFUSED;
  case ENETUNREACH:
  case EHOSTUNREACH:
  case ENETDOWN:
  case EHOSTDOWN:
    return DSB_ERR_NETSTACK_UNREACHABLE;
  case ETIMEDOUT:
    return DSB_ERR_NETSTACK_CONNECT_TIMEOUT;
  case ENODEV:
  case ENXIO:
    return DSB_ERR_NETSTACK_NO_IFACE;
  case EMFILE:
  case ENFILE:
  case ENOBUFS:
  case ENOMEM:
    return DSB_ERR_LIMIT;
  default:
    return DSB_ERR_NETSTACK_SYSTEM;
  }
}

static int sock_af(uint8_t family) {
  return family == DSB_NETSTACK_FAMILY_IPV4 ? AF_INET : AF_INET6;
}

static int sock_new(int *fd, uint8_t family, int type) {
  int s = socket(sock_af(family), type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s < 0) {
    return nsd_errno_to_err(errno);
  }
  /* Families are allowed one by one, so an IPv6 socket never also serves
   * IPv4 (a v4-mapped listener would bypass "families"). */
  if (family == DSB_NETSTACK_FAMILY_IPV6) {
    int one = 1;
    if (setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) {
      int e = errno;
      close(s);
      return nsd_errno_to_err(e);
    }
  }
  *fd = s;
  return 0;
}

static int sock_bound(int fd, dsb_netstack_addr *bound) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  /* Zeroed so that a family the kernel did not fill reads as AF_UNSPEC. */
  memset(&ss, 0, sizeof(ss));
  if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
    return nsd_errno_to_err(errno);
  }
  return nsd_sockaddr_to_addr(bound, &ss);
}

static int sock_setint(int fd, int level, int opt, int v) {
  if (setsockopt(fd, level, opt, &v, sizeof(v)) != 0) {
    return nsd_errno_to_err(errno);
  }
  return 0;
}

int nsd_tcp_listen(int *fd, dsb_netstack_addr *bound,
                   const dsb_netstack_addr *local, int backlog) {
  struct sockaddr_storage ss;
  socklen_t sslen;
  int s = -1, rv;

  if ((rv = nsd_addr_to_sockaddr(&ss, &sslen, local)) != 0 ||
      (rv = sock_new(&s, local->family, SOCK_STREAM)) != 0) {
    return rv;
  }
  /* A restarted dsoftbusd must get its port back despite TIME_WAIT. */
  if ((rv = sock_setint(s, SOL_SOCKET, SO_REUSEADDR, 1)) != 0) {
    goto fail;
  }
  if (bind(s, (struct sockaddr *)&ss, sslen) != 0 || listen(s, backlog) != 0) {
    rv = nsd_errno_to_err(errno);
    goto fail;
  }
  if ((rv = sock_bound(s, bound)) != 0) {
    goto fail;
  }
  *fd = s;
  return 0;
fail:
  close(s);
  return rv;
}

static int sock_join(int s, const dsb_netstack_group *g, int set_egress) {
  unsigned idx = if_nametoindex(g->ifname.name);
  if (idx == 0) {
    return DSB_ERR_NETSTACK_NO_IFACE;
  }
  if (g->group.family == DSB_NETSTACK_FAMILY_IPV4) {
    struct ip_mreqn mr;
    memset(&mr, 0, sizeof(mr));
    memcpy(&mr.imr_multiaddr, g->group.ip, 4);
    mr.imr_ifindex = (int)idx;
    if (setsockopt(s, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)) != 0 ||
        (set_egress &&
         setsockopt(s, IPPROTO_IP, IP_MULTICAST_IF, &mr, sizeof(mr)) != 0)) {
      return nsd_errno_to_err(errno);
    }
    return 0;
  }
  struct ipv6_mreq mr6;
  memset(&mr6, 0, sizeof(mr6));
  memcpy(&mr6.ipv6mr_multiaddr, g->group.ip, 16);
  mr6.ipv6mr_interface = idx;
  if (setsockopt(s, IPPROTO_IPV6, IPV6_JOIN_GROUP, &mr6, sizeof(mr6)) != 0) {
    return nsd_errno_to_err(errno);
  }
  if (set_egress) {
    return sock_setint(s, IPPROTO_IPV6, IPV6_MULTICAST_IF, (int)idx);
  }
  return 0;
}

int nsd_udp_bind(int *fd, dsb_netstack_addr *bound,
                 const dsb_netstack_udp_bind *b) {
  struct sockaddr_storage ss;
  socklen_t sslen;
  int s = -1, rv;
  int v6 = b->local.family == DSB_NETSTACK_FAMILY_IPV6;

  if ((rv = nsd_addr_to_sockaddr(&ss, &sslen, &b->local)) != 0 ||
      (rv = sock_new(&s, b->local.family, SOCK_DGRAM)) != 0) {
    return rv;
  }
  if ((b->flags & DSB_NETSTACK_UDP_REUSEADDR) &&
      (rv = sock_setint(s, SOL_SOCKET, SO_REUSEADDR, 1)) != 0) {
    goto fail;
  }
  if ((b->flags & DSB_NETSTACK_UDP_REUSEPORT) &&
      (rv = sock_setint(s, SOL_SOCKET, SO_REUSEPORT, 1)) != 0) {
    goto fail;
  }
  if (bind(s, (struct sockaddr *)&ss, sslen) != 0) {
    rv = nsd_errno_to_err(errno);
    goto fail;
  }
  if (b->ngroups > 0) {
    int loop = (b->flags & DSB_NETSTACK_UDP_MCAST_LOOP) ? 1 : 0;
    rv = v6 ? sock_setint(s, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, b->mcast_ttl)
            : sock_setint(s, IPPROTO_IP, IP_MULTICAST_TTL, b->mcast_ttl);
    if (rv == 0) {
      rv = v6 ? sock_setint(s, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, loop)
              : sock_setint(s, IPPROTO_IP, IP_MULTICAST_LOOP, loop);
    }
    for (size_t i = 0; rv == 0 && i < b->ngroups; ++i) {
      rv = sock_join(s, &b->groups[i], i == 0);
    }
    if (rv != 0) {
      goto fail;
    }
  }
  if ((rv = sock_bound(s, bound)) != 0) {
    goto fail;
  }
  *fd = s;
  return 0;
fail:
  close(s);
  return rv;
}

int nsd_tcp_connect_start(int *fd, int *in_progress,
                          const dsb_netstack_addr *remote) {
  struct sockaddr_storage ss;
  socklen_t sslen;
  int s = -1, rv;

  if ((rv = nsd_addr_to_sockaddr(&ss, &sslen, remote)) != 0 ||
      (rv = sock_new(&s, remote->family, SOCK_STREAM)) != 0) {
    return rv;
  }
  if (connect(s, (struct sockaddr *)&ss, sslen) == 0) {
    *in_progress = 0;
  } else if (errno == EINPROGRESS) {
    *in_progress = 1;
  } else {
    rv = nsd_errno_to_err(errno);
    close(s);
    return rv;
  }
  *fd = s;
  return 0;
}

int nsd_tcp_connect_finish(int fd, dsb_netstack_addr *bound) {
  int soerr = 0;
  socklen_t len = sizeof(soerr);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0) {
    return nsd_errno_to_err(errno);
  }
  if (soerr != 0) {
    return nsd_errno_to_err(soerr);
  }
  return sock_bound(fd, bound);
}

int nsd_local_addr(dsb_netstack_addr *local, const dsb_netstack_addr *remote) {
  /* A connected UDP socket asks the routing table which source address the
   * kernel would use; no packet is sent. */
  dsb_netstack_addr dst = *remote;
  struct sockaddr_storage ss;
  socklen_t sslen;
  int s = -1, rv;

  dst.port = 9; /* any non-zero port; UDP connect sends nothing */
  if ((rv = nsd_addr_to_sockaddr(&ss, &sslen, &dst)) != 0 ||
      (rv = sock_new(&s, dst.family, SOCK_DGRAM)) != 0) {
    return rv;
  }
  if (connect(s, (struct sockaddr *)&ss, sslen) != 0) {
    rv = nsd_errno_to_err(errno);
  } else {
    rv = sock_bound(s, local);
    local->port = 0;
  }
  close(s);
  return rv;
}

static unsigned sock_prefix(const struct sockaddr *mask) {
  const uint8_t *p;
  size_t n;
  unsigned bits = 0;
  if (mask == NULL) {
    return 0;
  }
  if (mask->sa_family == AF_INET) {
    p = (const uint8_t *)&((const struct sockaddr_in *)(const void *)mask)
            ->sin_addr;
    n = 4;
  } else if (mask->sa_family == AF_INET6) {
    p = (const uint8_t *)&((const struct sockaddr_in6 *)(const void *)mask)
            ->sin6_addr;
    n = 16;
  } else {
    return 0;
  }
  for (size_t i = 0; i < n; ++i) {
    for (int b = 7; b >= 0; --b) {
      if ((p[i] >> b) & 1) {
        bits++;
      } else {
        return bits;
      }
    }
  }
  return bits;
}

static dsb_netstack_iface *iflist_find(dsb_netstack_rep *rep,
                                       const char *name) {
  for (size_t i = 0; i < rep->u.iflist.count; ++i) {
    if (strcmp(rep->u.iflist.ifaces[i].ifname.name, name) == 0) {
      return &rep->u.iflist.ifaces[i];
    }
  }
  if (rep->u.iflist.count >= DSB_NETSTACK_MAX_IFACES) {
    return NULL; /* capped: further interfaces are left out */
  }
  dsb_netstack_iface *f = &rep->u.iflist.ifaces[rep->u.iflist.count++];
  memset(f, 0, sizeof(*f));
  memcpy(f->ifname.name, name, strlen(name) + 1);
  f->index = if_nametoindex(name);
  return f;
}

int nsd_iflist(dsb_netstack_rep *rep, const nsd_config *cfg) {
  struct ifaddrs *ifa = NULL;
  if (getifaddrs(&ifa) != 0) {
    return nsd_errno_to_err(errno);
  }
  rep->u.iflist.count = 0;
  for (struct ifaddrs *it = ifa; it != NULL; it = it->ifa_next) {
    size_t len = it->ifa_name ? strlen(it->ifa_name) : 0;
    if (len == 0 || len > DSB_NETSTACK_IFNAME_MAX ||
        !nsd_config_iface_ok(cfg, it->ifa_name)) {
      continue;
    }
    int fam = it->ifa_addr ? it->ifa_addr->sa_family : AF_UNSPEC;
    if (fam != AF_INET && fam != AF_INET6) {
      continue;
    }
    uint8_t nfam =
        fam == AF_INET ? DSB_NETSTACK_FAMILY_IPV4 : DSB_NETSTACK_FAMILY_IPV6;
    if (!nsd_config_family_ok(cfg, nfam)) {
      continue;
    }
    dsb_netstack_iface *f = iflist_find(rep, it->ifa_name);
    if (f == NULL) {
      continue;
    }
    f->flags =
        (uint8_t)(((it->ifa_flags & IFF_UP) ? DSB_NETSTACK_IF_UP : 0) |
                  ((it->ifa_flags & IFF_LOOPBACK) ? DSB_NETSTACK_IF_LOOPBACK
                                                  : 0) |
                  ((it->ifa_flags & IFF_MULTICAST) ? DSB_NETSTACK_IF_MULTICAST
                                                   : 0));
    if (f->naddrs >= DSB_NETSTACK_MAX_IFADDRS) {
      continue;
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    memcpy(&ss, it->ifa_addr,
           fam == AF_INET ? sizeof(struct sockaddr_in)
                          : sizeof(struct sockaddr_in6));
    dsb_netstack_ifaddr *a = &f->addrs[f->naddrs];
    if (nsd_sockaddr_to_addr(&a->addr, &ss) != 0) {
      continue;
    }
    a->addr.port = 0;
    a->prefix = (uint8_t)sock_prefix(it->ifa_netmask);
    f->naddrs++;
  }
  freeifaddrs(ifa);
  return 0;
}
