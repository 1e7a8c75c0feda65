/* test_netstack_codec.c - the netstackd protocol codec: the golden vectors
 * of tests/vectors/netstack_messages.txt (every op, reply and notice, from
 * docs/PROTOCOL.md) both ways, round trips, and every decoder reject path. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "dsb/err.h"
#include "dsb/netstack.h"
#include "vector_file.h"

static dsb_netstack_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d,
                            uint16_t port) {
  dsb_netstack_addr x;
  memset(&x, 0, sizeof(x));
  x.family = DSB_NETSTACK_FAMILY_IPV4;
  x.ip[0] = a;
  x.ip[1] = b;
  x.ip[2] = c;
  x.ip[3] = d;
  x.port = port;
  return x;
}

static void set_ifname(dsb_netstack_ifname *n, const char *s) {
  memset(n, 0, sizeof(*n));
  size_t len = strnlen(s, sizeof(n->name) - 1);
  memcpy(n->name, s, len);
}

static dsb_netstack_req req_udp_bind(void) {
  dsb_netstack_req r;
  memset(&r, 0, sizeof(r));
  r.op = DSB_NETSTACK_OP_UDP_BIND;
  r.nonce = 7;
  r.u.udp_bind.local = v4(0, 0, 0, 0, 5683);
  r.u.udp_bind.flags = DSB_NETSTACK_UDP_REUSEADDR | DSB_NETSTACK_UDP_MCAST_LOOP;
  r.u.udp_bind.mcast_ttl = 1;
  r.u.udp_bind.ngroups = 1;
  set_ifname(&r.u.udp_bind.groups[0].ifname, "lo");
  r.u.udp_bind.groups[0].group = v4(239, 255, 0, 1, 0);
  return r;
}

static void roundtrip_req(const dsb_netstack_req *in) {
  uint8_t buf[DSB_NETSTACK_MAX_MSG];
  dsb_netstack_req out;
  int n = dsb_netstack_req_encode(buf, sizeof(buf), in);
  assert_true(n > 0);
  assert_int_equal(dsb_netstack_req_decode(&out, buf, (size_t)n), 0);
  assert_int_equal(out.op, in->op);
  assert_true(out.nonce == in->nonce);
  /* Re-encoding the decoded value gives the same bytes. */
  uint8_t buf2[DSB_NETSTACK_MAX_MSG];
  int n2 = dsb_netstack_req_encode(buf2, sizeof(buf2), &out);
  assert_int_equal(n, n2);
  assert_memory_equal(buf, buf2, (size_t)n);
  /* Every strict prefix is rejected, never read past. */
  for (int i = 0; i < n; ++i) {
    assert_true(dsb_netstack_req_decode(&out, buf, (size_t)i) < 0);
  }
}

static void test_request_roundtrips(void **state) {
  (void)state;
  dsb_netstack_req r;

  memset(&r, 0, sizeof(r));
  r.op = DSB_NETSTACK_OP_HELLO;
  r.nonce = 1;
  r.u.hello.version = DSB_NETSTACK_VERSION;
  roundtrip_req(&r);

  memset(&r, 0, sizeof(r));
  r.op = DSB_NETSTACK_OP_TCP_LISTEN;
  r.nonce = 2;
  r.u.tcp_listen.local = v4(127, 0, 0, 1, 0);
  r.u.tcp_listen.backlog = 64;
  roundtrip_req(&r);

  memset(&r, 0, sizeof(r));
  r.op = DSB_NETSTACK_OP_TCP_CONNECT;
  r.nonce = UINT64_MAX;
  r.u.tcp_connect.remote.family = DSB_NETSTACK_FAMILY_IPV6;
  r.u.tcp_connect.remote.ip[0] = 0xfe;
  r.u.tcp_connect.remote.ip[1] = 0x80;
  r.u.tcp_connect.remote.ip[15] = 1;
  r.u.tcp_connect.remote.scope_id = 3;
  r.u.tcp_connect.remote.port = 443;
  r.u.tcp_connect.timeout_ms = 5000;
  roundtrip_req(&r);

  r = req_udp_bind();
  r.u.udp_bind.ngroups = DSB_NETSTACK_MAX_GROUPS;
  for (size_t i = 0; i < DSB_NETSTACK_MAX_GROUPS; ++i) {
    set_ifname(&r.u.udp_bind.groups[i].ifname, "enp0s31f6.100");
    r.u.udp_bind.groups[i].group = v4(239, 1, 2, (uint8_t)i, 0);
  }
  roundtrip_req(&r);

  memset(&r, 0, sizeof(r));
  r.op = DSB_NETSTACK_OP_LOCAL_ADDR;
  r.nonce = 9;
  r.u.local_addr.remote = v4(10, 0, 0, 1, 0);
  roundtrip_req(&r);

  memset(&r, 0, sizeof(r));
  r.op = DSB_NETSTACK_OP_IFLIST;
  r.nonce = 10;
  roundtrip_req(&r);

  memset(&r, 0, sizeof(r));
  r.op = DSB_NETSTACK_OP_CLOSE;
  r.nonce = 11;
  r.u.close.target = 4;
  roundtrip_req(&r);
}

/* Golden vector files: tests/support/vector_file.h. */

/* An address field: "a.b.c.d" or an IPv6 text with an optional "%scope";
 * with |port| a ":port" follows (IPv6 in brackets). */
static dsb_netstack_addr vec_addr(const char *text, int port) {
  char s[VEC_VALUE];
  dsb_netstack_addr a;
  memset(&a, 0, sizeof(a));
  vec_copy(s, sizeof(s), text);
  if (port) {
    char *colon = strrchr(s, ':');
    assert_non_null(colon);
    *colon = '\0';
    a.port = (uint16_t)strtoul(colon + 1, NULL, 10);
  }
  char *host = s;
  if (host[0] == '[') {
    ++host;
    host[strcspn(host, "]")] = '\0';
  }
  char *pct = strchr(host, '%');
  if (pct) {
    *pct = '\0';
    a.scope_id = (uint32_t)strtoul(pct + 1, NULL, 10);
  }
  if (inet_pton(AF_INET, host, a.ip) == 1) {
    a.family = DSB_NETSTACK_FAMILY_IPV4;
  } else {
    assert_int_equal(inet_pton(AF_INET6, host, a.ip), 1);
    a.family = DSB_NETSTACK_FAMILY_IPV6;
  }
  return a;
}

static void vec_ifname(dsb_netstack_ifname *n, const char *s) {
  memset(n, 0, sizeof(*n));
  vec_copy(n->name, sizeof(n->name), s);
}

static void addr_equal(const dsb_netstack_addr *got,
                       const dsb_netstack_addr *want) {
  assert_int_equal(got->family, want->family);
  assert_memory_equal(got->ip, want->ip, sizeof(want->ip));
  assert_int_equal(got->scope_id, want->scope_id);
  assert_int_equal(got->port, want->port);
}

/* The request a vector describes. */
static dsb_netstack_req vec_req(vec *v) {
  dsb_netstack_req r;
  memset(&r, 0, sizeof(r));
  r.op = (uint8_t)vec_u64(v, "op");
  r.nonce = vec_u64(v, "nonce");
  switch (r.op) {
  case DSB_NETSTACK_OP_HELLO:
    r.u.hello.version = (uint8_t)vec_u64(v, "version");
    break;
  case DSB_NETSTACK_OP_TCP_LISTEN:
    r.u.tcp_listen.local = vec_addr(vec_str(v, "local"), 1);
    r.u.tcp_listen.backlog = (uint16_t)vec_u64(v, "backlog");
    break;
  case DSB_NETSTACK_OP_TCP_CONNECT:
    r.u.tcp_connect.remote = vec_addr(vec_str(v, "remote"), 1);
    r.u.tcp_connect.timeout_ms = (uint32_t)vec_u64(v, "timeout_ms");
    break;
  case DSB_NETSTACK_OP_UDP_BIND: {
    dsb_netstack_udp_bind *b = &r.u.udp_bind;
    const char *ifname;
    b->local = vec_addr(vec_str(v, "local"), 1);
    b->flags = (uint8_t)vec_u64(v, "flags");
    b->mcast_ttl = (uint8_t)vec_u64(v, "mcast_ttl");
    while ((ifname = vec_get(v, "group_ifname", b->ngroups)) != NULL) {
      const char *group = vec_get(v, "group", b->ngroups);
      assert_non_null(group);
      assert_true(b->ngroups < DSB_NETSTACK_MAX_GROUPS);
      vec_ifname(&b->groups[b->ngroups].ifname, ifname);
      b->groups[b->ngroups].group = vec_addr(group, 0);
      b->ngroups++;
    }
    break;
  }
  case DSB_NETSTACK_OP_LOCAL_ADDR:
    r.u.local_addr.remote = vec_addr(vec_str(v, "remote"), 0);
    break;
  case DSB_NETSTACK_OP_IFLIST:
    break;
  case DSB_NETSTACK_OP_CLOSE:
    r.u.close.target = vec_u64(v, "target");
    break;
  default:
    fail_msg("vector %s: unknown op", v->name);
  }
  return r;
}

static void req_equal(const dsb_netstack_req *got,
                      const dsb_netstack_req *want) {
  assert_int_equal(got->op, want->op);
  assert_true(got->nonce == want->nonce);
  switch (want->op) {
  case DSB_NETSTACK_OP_HELLO:
    assert_int_equal(got->u.hello.version, want->u.hello.version);
    break;
  case DSB_NETSTACK_OP_TCP_LISTEN:
    addr_equal(&got->u.tcp_listen.local, &want->u.tcp_listen.local);
    assert_int_equal(got->u.tcp_listen.backlog, want->u.tcp_listen.backlog);
    break;
  case DSB_NETSTACK_OP_TCP_CONNECT:
    addr_equal(&got->u.tcp_connect.remote, &want->u.tcp_connect.remote);
    assert_int_equal(got->u.tcp_connect.timeout_ms,
                     want->u.tcp_connect.timeout_ms);
    break;
  case DSB_NETSTACK_OP_UDP_BIND: {
    const dsb_netstack_udp_bind *g = &got->u.udp_bind, *w = &want->u.udp_bind;
    addr_equal(&g->local, &w->local);
    assert_int_equal(g->flags, w->flags);
    assert_int_equal(g->mcast_ttl, w->mcast_ttl);
    assert_int_equal(g->ngroups, w->ngroups);
    for (size_t i = 0; i < w->ngroups; ++i) {
      assert_string_equal(g->groups[i].ifname.name, w->groups[i].ifname.name);
      addr_equal(&g->groups[i].group, &w->groups[i].group);
    }
    break;
  }
  case DSB_NETSTACK_OP_LOCAL_ADDR:
    addr_equal(&got->u.local_addr.remote, &want->u.local_addr.remote);
    break;
  case DSB_NETSTACK_OP_CLOSE:
    assert_true(got->u.close.target == want->u.close.target);
    break;
  default: /* IFLIST: nothing */
    break;
  }
}

/* The reply or notice a vector describes. */
static dsb_netstack_rep vec_rep(vec *v, int notice) {
  dsb_netstack_rep r;
  memset(&r, 0, sizeof(r));
  r.op = notice ? DSB_NETSTACK_OP_NOTICE : (uint8_t)vec_u64(v, "op");
  r.status = (uint8_t)vec_u64(v, "status");
  r.nonce = vec_u64(v, "nonce");
  if (notice || r.status != DSB_NETSTACK_ST_OK) {
    return r;
  }
  switch (r.op) {
  case DSB_NETSTACK_OP_HELLO:
    r.u.hello.version = (uint8_t)vec_u64(v, "version");
    break;
  case DSB_NETSTACK_OP_TCP_LISTEN:
  case DSB_NETSTACK_OP_TCP_CONNECT:
  case DSB_NETSTACK_OP_UDP_BIND:
    r.u.sock.local = vec_addr(vec_str(v, "local"), 1);
    break;
  case DSB_NETSTACK_OP_LOCAL_ADDR:
    r.u.local_addr.local = vec_addr(vec_str(v, "local"), 0);
    break;
  case DSB_NETSTACK_OP_IFLIST: {
    /* "iface_addr" lines belong to the "iface_name" before them. */
    dsb_netstack_iface *f = NULL;
    for (size_t i = 0; i < v->nf; ++i) {
      vec_field *fl = &v->f[i];
      if (strcmp(fl->key, "iface_name") == 0) {
        assert_true(r.u.iflist.count < DSB_NETSTACK_MAX_IFACES);
        f = &r.u.iflist.ifaces[r.u.iflist.count++];
        vec_ifname(&f->ifname, fl->value);
      } else if (strcmp(fl->key, "iface_index") == 0) {
        assert_non_null(f);
        f->index = (uint32_t)strtoul(fl->value, NULL, 0);
      } else if (strcmp(fl->key, "iface_flags") == 0) {
        assert_non_null(f);
        f->flags = (uint8_t)strtoul(fl->value, NULL, 0);
      } else if (strcmp(fl->key, "iface_addr") == 0) {
        char a[VEC_VALUE];
        assert_non_null(f);
        assert_true(f->naddrs < DSB_NETSTACK_MAX_IFADDRS);
        vec_copy(a, sizeof(a), fl->value);
        char *slash = strchr(a, '/');
        assert_non_null(slash);
        *slash = '\0';
        f->addrs[f->naddrs].addr = vec_addr(a, 0);
        f->addrs[f->naddrs].prefix = (uint8_t)strtoul(slash + 1, NULL, 10);
        f->naddrs++;
      } else {
        continue;
      }
      fl->used = 1;
    }
    break;
  }
  default: /* CLOSE: empty */
    break;
  }
  return r;
}

static void rep_equal(const dsb_netstack_rep *got,
                      const dsb_netstack_rep *want) {
  assert_int_equal(got->op, want->op);
  assert_int_equal(got->status, want->status);
  assert_true(got->nonce == want->nonce);
  if (want->op == DSB_NETSTACK_OP_NOTICE ||
      want->status != DSB_NETSTACK_ST_OK) {
    return;
  }
  switch (want->op) {
  case DSB_NETSTACK_OP_HELLO:
    assert_int_equal(got->u.hello.version, want->u.hello.version);
    break;
  case DSB_NETSTACK_OP_TCP_LISTEN:
  case DSB_NETSTACK_OP_TCP_CONNECT:
  case DSB_NETSTACK_OP_UDP_BIND:
    addr_equal(&got->u.sock.local, &want->u.sock.local);
    break;
  case DSB_NETSTACK_OP_LOCAL_ADDR:
    addr_equal(&got->u.local_addr.local, &want->u.local_addr.local);
    break;
  case DSB_NETSTACK_OP_IFLIST:
    assert_int_equal(got->u.iflist.count, want->u.iflist.count);
    for (size_t i = 0; i < want->u.iflist.count; ++i) {
      const dsb_netstack_iface *g = &got->u.iflist.ifaces[i];
      const dsb_netstack_iface *w = &want->u.iflist.ifaces[i];
      assert_string_equal(g->ifname.name, w->ifname.name);
      assert_int_equal(g->index, w->index);
      assert_int_equal(g->flags, w->flags);
      assert_int_equal(g->naddrs, w->naddrs);
      for (size_t j = 0; j < w->naddrs; ++j) {
        addr_equal(&g->addrs[j].addr, &w->addrs[j].addr);
        assert_int_equal(g->addrs[j].prefix, w->addrs[j].prefix);
      }
    }
    break;
  default:
    break;
  }
}

/* tests/vectors/netstack_messages.txt: every request op, every OK reply,
 * error replies and notices; decode(bytes) gives the fields and
 * encode(fields) gives exactly the bytes. */
static void test_golden_vectors_file(void **state) {
  (void)state;
  uint8_t buf[DSB_NETSTACK_MAX_MSG];
  size_t n = vec_load("netstack_messages.txt");
  unsigned reqs = 0, oks = 0, errors = 0, notices = 0;
  assert_int_equal(n, 29);
  for (size_t i = 0; i < n; ++i) {
    vec *v = &vecs[i];
    const char *kind = vec_str(v, "kind");
    int len;
    if (strcmp(kind, "request") == 0) {
      dsb_netstack_req want = vec_req(v), got;
      vec_all_used(v);
      len = dsb_netstack_req_encode(buf, sizeof(buf), &want);
      assert_int_equal(dsb_netstack_req_decode(&got, v->bytes, v->nbytes), 0);
      req_equal(&got, &want);
      reqs |= 1u << want.op;
    } else {
      int notice = strcmp(kind, "notice") == 0;
      assert_true(notice || strcmp(kind, "reply") == 0);
      dsb_netstack_rep want = vec_rep(v, notice), got;
      vec_all_used(v);
      len = dsb_netstack_rep_encode(buf, sizeof(buf), &want);
      assert_int_equal(dsb_netstack_rep_decode(&got, v->bytes, v->nbytes), 0);
      rep_equal(&got, &want);
      if (notice) {
        notices++;
      } else if (want.status == DSB_NETSTACK_ST_OK) {
        oks |= 1u << want.op;
      } else {
        errors++;
      }
    }
    assert_int_equal(len, (int)v->nbytes);
    assert_memory_equal(buf, v->bytes, v->nbytes);
  }
  /* HELLO .. CLOSE (0x03 is reserved) as requests and as OK replies */
  assert_int_equal(reqs, 0x1f6u);
  assert_int_equal(oks, 0x1f6u);
  assert_true(errors >= 6 && notices >= 3);
}

static void test_reply_roundtrips(void **state) {
  (void)state;
  uint8_t buf[DSB_NETSTACK_MAX_MSG];
  dsb_netstack_rep rep, out;

  /* The largest IFLIST reply fits one packet. */
  memset(&rep, 0, sizeof(rep));
  rep.op = DSB_NETSTACK_OP_IFLIST;
  rep.nonce = 42;
  rep.u.iflist.count = DSB_NETSTACK_MAX_IFACES;
  for (size_t i = 0; i < DSB_NETSTACK_MAX_IFACES; ++i) {
    dsb_netstack_iface *f = &rep.u.iflist.ifaces[i];
    set_ifname(&f->ifname, "abcdefghijklmno");
    f->index = (uint32_t)i + 1;
    f->flags = DSB_NETSTACK_IF_FLAGS_ALL;
    f->naddrs = DSB_NETSTACK_MAX_IFADDRS;
    for (size_t j = 0; j < DSB_NETSTACK_MAX_IFADDRS; ++j) {
      f->addrs[j].addr.family = DSB_NETSTACK_FAMILY_IPV6;
      f->addrs[j].addr.ip[0] = 0xfe;
      f->addrs[j].addr.scope_id = (uint32_t)i;
      f->addrs[j].prefix = 64;
    }
  }
  int n = dsb_netstack_rep_encode(buf, sizeof(buf), &rep);
  assert_true(n > 0 && n <= DSB_NETSTACK_MAX_MSG);
  assert_int_equal(dsb_netstack_rep_decode(&out, buf, (size_t)n), 0);
  assert_int_equal(out.u.iflist.count, DSB_NETSTACK_MAX_IFACES);
  assert_string_equal(out.u.iflist.ifaces[15].ifname.name, "abcdefghijklmno");
  assert_int_equal(out.u.iflist.ifaces[15].addrs[7].prefix, 64);
  for (int i = 0; i < n; ++i) {
    assert_true(dsb_netstack_rep_decode(&out, buf, (size_t)i) < 0);
  }

  memset(&rep, 0, sizeof(rep));
  rep.op = DSB_NETSTACK_OP_TCP_CONNECT;
  rep.nonce = 3;
  rep.u.sock.local = v4(127, 0, 0, 1, 40000);
  n = dsb_netstack_rep_encode(buf, sizeof(buf), &rep);
  assert_int_equal(dsb_netstack_rep_decode(&out, buf, (size_t)n), 0);
  assert_int_equal(out.op, DSB_NETSTACK_OP_TCP_CONNECT);
  assert_int_equal(out.u.sock.local.port, 40000);
  assert_true(dsb_netstack_op_has_fd(out.op));
  assert_false(dsb_netstack_op_has_fd(DSB_NETSTACK_OP_IFLIST));

  uint8_t op;
  uint64_t nonce;
  assert_int_equal(dsb_netstack_peek(&op, &nonce, buf, (size_t)n), 0);
  assert_int_equal(op, 0x84);
  assert_true(nonce == 3);
}

static void test_status_map(void **state) {
  (void)state;
  for (unsigned s = 0; s <= DSB_NETSTACK_ST_MAX; ++s) {
    int err = dsb_netstack_status_to_err((uint8_t)s);
    assert_true(s == 0 ? err == 0 : err < 0);
    assert_int_equal(dsb_netstack_err_to_status(err), s);
  }
  assert_int_equal(dsb_netstack_status_to_err(DSB_NETSTACK_ST_MAX + 1),
                   DSB_ERR_IPC_BAD_VALUE);
  assert_int_equal(dsb_netstack_err_to_status(DSB_ERR_IPC_TRAILING),
                   DSB_NETSTACK_ST_MALFORMED);
  assert_int_equal(dsb_netstack_err_to_status(DSB_ERR_NOMEM),
                   DSB_NETSTACK_ST_SYSTEM);
}

/* ---- rejects ------------------------------------------------------------- */

static int encode(uint8_t *buf, const dsb_netstack_req *r) {
  int n = dsb_netstack_req_encode(buf, DSB_NETSTACK_MAX_MSG, r);
  assert_true(n > 0);
  return n;
}

static void test_reject_truncated(void **state) {
  (void)state;
  dsb_netstack_req r;
  static const uint8_t shortmsg[] = {0x01, 0, 0, 0, 0, 0, 0, 0};
  assert_int_equal(dsb_netstack_req_decode(&r, shortmsg, sizeof(shortmsg)),
                   DSB_ERR_IPC_TRUNCATED);
  assert_int_equal(dsb_netstack_req_decode(&r, NULL, 0), DSB_ERR_IPC_TRUNCATED);
  /* HELLO without its version byte. */
  static const uint8_t hello[] = {0x01, 0, 0, 0, 0, 0, 0, 0, 1};
  assert_int_equal(dsb_netstack_req_decode(&r, hello, sizeof(hello)),
                   DSB_ERR_IPC_TRUNCATED);
}

static void test_reject_oversize(void **state) {
  (void)state;
  static uint8_t big[DSB_NETSTACK_MAX_MSG + 1];
  dsb_netstack_req r;
  big[0] = DSB_NETSTACK_OP_IFLIST;
  big[sizeof(big) - 1] = 1;
  assert_int_equal(dsb_netstack_req_decode(&r, big, sizeof(big)),
                   DSB_ERR_IPC_OVERSIZE);
}

static void test_reject_unknown_op(void **state) {
  (void)state;
  dsb_netstack_req r;
  uint8_t msg[] = {0x03, 0, 0, 0, 0, 0, 0, 0, 1}; /* reserved: no ACCEPT */
  assert_int_equal(dsb_netstack_req_decode(&r, msg, sizeof(msg)),
                   DSB_ERR_IPC_UNKNOWN_OP);
  msg[0] = 0x87; /* a reply op is not a request */
  assert_int_equal(dsb_netstack_req_decode(&r, msg, sizeof(msg)),
                   DSB_ERR_IPC_UNKNOWN_OP);
  msg[0] = 0x00;
  assert_int_equal(dsb_netstack_req_decode(&r, msg, sizeof(msg)),
                   DSB_ERR_IPC_UNKNOWN_OP);
}

static void test_reject_zero_nonce(void **state) {
  (void)state;
  dsb_netstack_req r;
  static const uint8_t msg[] = {0x07, 0, 0, 0, 0, 0, 0, 0, 0};
  assert_int_equal(dsb_netstack_req_decode(&r, msg, sizeof(msg)),
                   DSB_ERR_IPC_BAD_VALUE);
}

static void test_reject_trailing_bytes(void **state) {
  (void)state;
  dsb_netstack_req r;
  static const uint8_t msg[] = {0x07, 0xaa, 0, 0, 0, 0, 0, 0, 0, 1};
  assert_int_equal(dsb_netstack_req_decode(&r, msg, sizeof(msg)),
                   DSB_ERR_IPC_TRAILING);
}

static void test_reject_bad_family(void **state) {
  (void)state;
  uint8_t buf[DSB_NETSTACK_MAX_MSG];
  dsb_netstack_req r = req_udp_bind();
  int n = encode(buf, &r);
  buf[1] = 5; /* neither 4 nor 6 */
  assert_int_equal(dsb_netstack_req_decode(&r, buf, (size_t)n),
                   DSB_ERR_IPC_BAD_VALUE);
}

static void test_reject_bad_ifname(void **state) {
  (void)state;
  uint8_t buf[DSB_NETSTACK_MAX_MSG];
  dsb_netstack_req r = req_udp_bind();
  int n = encode(buf, &r);
  /* layout of vector udp_bind_one_group: ifname length at 11, bytes 12..13 */
  buf[12] = '/';
  assert_int_equal(dsb_netstack_req_decode(&r, buf, (size_t)n),
                   DSB_ERR_IPC_BAD_STRING);
  r = req_udp_bind();
  n = encode(buf, &r);
  buf[11] = 0; /* empty name */
  assert_int_equal(dsb_netstack_req_decode(&r, buf, (size_t)n),
                   DSB_ERR_IPC_BAD_STRING);
  r = req_udp_bind();
  n = encode(buf, &r);
  buf[11] = 16; /* longer than IFNAMSIZ - 1 */
  assert_int_equal(dsb_netstack_req_decode(&r, buf, (size_t)n),
                   DSB_ERR_IPC_BAD_STRING);
  r = req_udp_bind();
  set_ifname(&r.u.udp_bind.groups[0].ifname, "e\nvil");
  assert_int_equal(dsb_netstack_req_encode(buf, sizeof(buf), &r),
                   DSB_ERR_INVALID_ARGUMENT);
}

static void test_reject_too_many_groups(void **state) {
  (void)state;
  uint8_t buf[DSB_NETSTACK_MAX_MSG];
  dsb_netstack_req r = req_udp_bind();
  int n = encode(buf, &r);
  buf[10] = DSB_NETSTACK_MAX_GROUPS + 1;
  assert_int_equal(dsb_netstack_req_decode(&r, buf, (size_t)n),
                   DSB_ERR_IPC_TOO_MANY);
}

static void test_reject_group_not_multicast(void **state) {
  (void)state;
  uint8_t buf[DSB_NETSTACK_MAX_MSG];
  dsb_netstack_req r = req_udp_bind();
  int n = encode(buf, &r);
  buf[15] = 10; /* 10.255.0.1 is unicast */
  assert_int_equal(dsb_netstack_req_decode(&r, buf, (size_t)n),
                   DSB_ERR_IPC_BAD_VALUE);
}

static void test_reject_bad_udp_flags(void **state) {
  (void)state;
  uint8_t buf[DSB_NETSTACK_MAX_MSG];
  dsb_netstack_req r = req_udp_bind();
  int n = encode(buf, &r);
  buf[8] = 0x80;
  assert_int_equal(dsb_netstack_req_decode(&r, buf, (size_t)n),
                   DSB_ERR_IPC_BAD_VALUE);
}

static void test_reject_bad_backlog_and_timeout(void **state) {
  (void)state;
  dsb_netstack_req r;
  static const uint8_t listen0[] = {0x02, 0x04, 127, 0, 0, 1, 0, 0, 0,
                                    0,    0,    0,   0, 0, 0, 0, 0, 1};
  assert_int_equal(dsb_netstack_req_decode(&r, listen0, sizeof(listen0)),
                   DSB_ERR_IPC_BAD_VALUE);
  static const uint8_t connect0[] = {0x04, 0x04, 127, 0, 0, 1, 0, 80, 0, 0,
                                     0,    0,    0,   0, 0, 0, 0, 0,  0, 1};
  assert_int_equal(dsb_netstack_req_decode(&r, connect0, sizeof(connect0)),
                   DSB_ERR_IPC_BAD_VALUE);
}

static void test_reject_close_zero_target(void **state) {
  (void)state;
  dsb_netstack_req r;
  static const uint8_t msg[] = {0x08, 0, 0, 0, 0, 0, 0, 0, 0,
                                0,    0, 0, 0, 0, 0, 0, 1};
  assert_int_equal(dsb_netstack_req_decode(&r, msg, sizeof(msg)),
                   DSB_ERR_IPC_BAD_VALUE);
}

static void test_reject_reply_unknown_status(void **state) {
  (void)state;
  dsb_netstack_rep rep;
  static const uint8_t msg[] = {
      0x88, DSB_NETSTACK_ST_MAX + 1, 0, 0, 0, 0, 0, 0, 0, 1};
  assert_int_equal(dsb_netstack_rep_decode(&rep, msg, sizeof(msg)),
                   DSB_ERR_IPC_BAD_VALUE);
}

static void test_reject_reply_without_reply_bit(void **state) {
  (void)state;
  dsb_netstack_rep rep;
  static const uint8_t msg[] = {0x08, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  assert_int_equal(dsb_netstack_rep_decode(&rep, msg, sizeof(msg)),
                   DSB_ERR_IPC_UNKNOWN_OP);
}

static void test_reject_notice_ok_status(void **state) {
  (void)state;
  dsb_netstack_rep rep;
  /* An error notice may answer a request (non-zero nonce)... */
  static const uint8_t msg[] = {
      0xff, DSB_NETSTACK_ST_UNKNOWN_OP, 0, 0, 0, 0, 0, 0, 0, 1};
  assert_int_equal(dsb_netstack_rep_decode(&rep, msg, sizeof(msg)), 0);
  assert_int_equal(rep.op, DSB_NETSTACK_OP_NOTICE);
  assert_true(rep.nonce == 1);
  /* ...but never says "OK". */
  static const uint8_t ok_notice[] = {0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  assert_int_equal(dsb_netstack_rep_decode(&rep, ok_notice, sizeof(ok_notice)),
                   DSB_ERR_IPC_BAD_VALUE);
}

static void test_reject_iflist_bad_prefix(void **state) {
  (void)state;
  uint8_t buf[DSB_NETSTACK_MAX_MSG];
  dsb_netstack_rep rep, out;
  memset(&rep, 0, sizeof(rep));
  rep.op = DSB_NETSTACK_OP_IFLIST;
  rep.nonce = 1;
  rep.u.iflist.count = 1;
  set_ifname(&rep.u.iflist.ifaces[0].ifname, "lo");
  rep.u.iflist.ifaces[0].naddrs = 1;
  rep.u.iflist.ifaces[0].addrs[0].addr = v4(127, 0, 0, 1, 0);
  rep.u.iflist.ifaces[0].addrs[0].prefix = 8;
  int n = dsb_netstack_rep_encode(buf, sizeof(buf), &rep);
  assert_true(n > 0);
  buf[n - 9] = 33; /* prefix byte, just before the nonce */
  assert_int_equal(dsb_netstack_rep_decode(&out, buf, (size_t)n),
                   DSB_ERR_IPC_BAD_VALUE);
  buf[n - 9] = 8;
  buf[2] = DSB_NETSTACK_MAX_IFACES + 1;
  assert_int_equal(dsb_netstack_rep_decode(&out, buf, (size_t)n),
                   DSB_ERR_IPC_TOO_MANY);
}

static void test_reject_encode_nobuf(void **state) {
  (void)state;
  uint8_t buf[16];
  dsb_netstack_req r = req_udp_bind();
  assert_int_equal(dsb_netstack_req_encode(buf, sizeof(buf), &r),
                   DSB_ERR_NOBUF);
  r.nonce = 0;
  assert_int_equal(dsb_netstack_req_encode(buf, sizeof(buf), &r),
                   DSB_ERR_INVALID_ARGUMENT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_request_roundtrips),
      cmocka_unit_test(test_golden_vectors_file),
      cmocka_unit_test(test_reply_roundtrips),
      cmocka_unit_test(test_status_map),
      cmocka_unit_test(test_reject_truncated),
      cmocka_unit_test(test_reject_oversize),
      cmocka_unit_test(test_reject_unknown_op),
      cmocka_unit_test(test_reject_zero_nonce),
      cmocka_unit_test(test_reject_trailing_bytes),
      cmocka_unit_test(test_reject_bad_family),
      cmocka_unit_test(test_reject_bad_ifname),
      cmocka_unit_test(test_reject_too_many_groups),
      cmocka_unit_test(test_reject_group_not_multicast),
      cmocka_unit_test(test_reject_bad_udp_flags),
      cmocka_unit_test(test_reject_bad_backlog_and_timeout),
      cmocka_unit_test(test_reject_close_zero_target),
      cmocka_unit_test(test_reject_reply_unknown_status),
      cmocka_unit_test(test_reject_reply_without_reply_bit),
      cmocka_unit_test(test_reject_notice_ok_status),
      cmocka_unit_test(test_reject_iflist_bad_prefix),
      cmocka_unit_test(test_reject_encode_nobuf),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
