/*
 * disc-probe - runs the discovery driver (dsb/disc_udp.h) with an identity
 * from a state directory and prints one line per event, for tests and for
 * looking at a network by hand. With --listen it also accepts sessions and
 * connects to discovered devices through discovery-driven connect
 * (dsb/disc_connect.h).
 *
 *   disc-probe --state-dir DIR [--name NAME] [--session-port N]
 *              [--service S]... [--port N] [--interface IF]
 *              [--peer HOST:PORT]... [--no-multicast] [--no-ipv6]
 *              [--no-query] [--interval-ms N] [--ttl N]
 *              [--listen HOST:PORT] [--claim-static-key HEX]
 *
 * --listen opens a session listener (port 0: ephemeral) and announces its
 * port, unless --session-port names another one to announce. Any proven
 * identity is accepted (no trust store: a lab tool).
 *
 * --claim-static-key HEX (64 hex characters) is an attack tool for tests:
 * the announcements carry this X25519 public key instead of the probe's own,
 * with a certificate the probe signs itself over (HEX, the probe's own
 * device id). Such an announcement verifies (it proves the probe's id and a
 * key that id vouches for), so receivers accept it; only a handshake can
 * show that whoever holds the key is a different device. Sessions the probe
 * itself opens or accepts (--listen) still use its real static key.
 *
 * Output (stdout, one line each, flushed):
 *   ready ID PORT TXPORT [SESSION_PORT]   (the last only with --listen)
 *   up|updated ID SESSION_PORT NAME_HEX SERVICES(comma-separated or -)
 *   gone ID goodbye|expired|evicted|removed
 *   reject LABEL
 *   SESSION ID out|in                     session established and verified
 *   error LABEL ID                        an outbound connect to ID failed
 *   session-reject LABEL                  an inbound handshake failed
 *   record ID TEXT                        (non-printable bytes as '.')
 *   closed ID LABEL|ok                    an established session ended
 *   bye
 *   stats announces=N queries=N answers=N received=N rejected=N peers=N
 *         [sessions=N]                    (one line; sessions with --listen)
 * Input (stdin lines): "query [SERVICE]", "announce", "stats", and with
 * --listen "connect ID", "send ID TEXT", "close ID". A command that fails at
 * once prints "error LABEL". End of input or SIGTERM/SIGINT: goodbye,
 * sessions closed, then exit 0.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "dsb/crypto.h"
#include "dsb/disc.h"
#include "dsb/disc_connect.h"
#include "dsb/disc_udp.h"
#include "dsb/err.h"
#include "dsb/identity.h"
#include "dsb/keystore.h"
#include "dsb/tcp.h"

#define PROBE_MAX_SESSIONS 16

typedef struct probe_slot {
  dsb_tcp_conn *conn; /* NULL: free */
  dsb_device_id id;   /* the device dialled, or the proven inbound peer */
  int established;
} probe_slot;

typedef struct probe {
  uv_loop_t *loop;
  dsb_disc_udp *disc;
  dsb_tcp *tcp; /* NULL without --listen */
  probe_slot slots[PROBE_MAX_SESSIONS];
  uv_pipe_t in;
  uv_signal_t sigterm, sigint;
  char line[256];
  size_t linelen;
  int stopping;
} probe;

static void probe_print_peer(const char *what, const dsb_disc_peer *p) {
  char id[DSB_DEVICE_ID_TEXT_LEN + 1];
  dsb_device_id_format(id, &p->ann.id);
  printf("%s %s %u ", what, id, p->ann.session_port);
  if (p->ann.name_len == 0) {
    printf("-");
  }
  for (size_t i = 0; i < p->ann.name_len; ++i) {
    printf("%02x", (unsigned char)p->ann.name[i]);
  }
  printf(" ");
  for (size_t i = 0; i < p->ann.nservices; ++i) {
    printf("%s%s", i ? "," : "", p->ann.services[i]);
  }
  printf("%s\n", p->ann.nservices ? "" : "-");
  fflush(stdout);
}

static int probe_on_peer(void *ctx, dsb_disc_event_type ev,
                         dsb_disc_gone_reason reason,
                         const dsb_disc_peer *peer) {
  static const char *const reasons[] = {"none", "goodbye", "expired", "evicted",
                                        "removed"};
  (void)ctx;
  if (ev == DSB_DISC_PEER_UP) {
    probe_print_peer("up", peer);
  } else if (ev == DSB_DISC_PEER_UPDATED) {
    probe_print_peer("updated", peer);
  } else {
    char id[DSB_DEVICE_ID_TEXT_LEN + 1];
    dsb_device_id_format(id, &peer->ann.id);
    printf("gone %s %s\n", id,
           (unsigned)reason < 5 ? reasons[reason] : "unknown");
    fflush(stdout);
  }
  return 0;
}

static void probe_on_reject(void *ctx, int err, const struct sockaddr *src) {
  (void)ctx;
  (void)src;
  printf("reject %s\n", dsb_strerror(err));
  fflush(stdout);
}

static void probe_on_log(void *ctx, dsb_log_level level, const char *msg) {
  (void)ctx;
  fprintf(stderr, "disc-probe: [%d] %s\n", (int)level, msg);
}

/* ---- sessions ------------------------------------------------------------ */

static probe_slot *probe_slot_alloc(probe *pr) {
  for (size_t i = 0; i < PROBE_MAX_SESSIONS; ++i) {
    if (!pr->slots[i].conn) {
      return &pr->slots[i];
    }
  }
  return NULL;
}

/* The established session with |id|, if any. */
static probe_slot *probe_slot_find(probe *pr, const dsb_device_id *id) {
  for (size_t i = 0; i < PROBE_MAX_SESSIONS; ++i) {
    probe_slot *s = &pr->slots[i];
    if (s->conn && s->established && dsb_device_id_eq(&s->id, id)) {
      return s;
    }
  }
  return NULL;
}

static size_t probe_sessions(const probe *pr) {
  size_t n = 0;
  for (size_t i = 0; i < PROBE_MAX_SESSIONS; ++i) {
    n += pr->slots[i].conn && pr->slots[i].established;
  }
  return n;
}

static int probe_on_established(dsb_tcp_conn *conn, const dsb_device_id *peer,
                                void *user_data) {
  probe *pr = user_data;
  probe_slot *s = dsb_tcp_conn_get_user(conn);
  char id[DSB_DEVICE_ID_TEXT_LEN + 1];
  int inbound = s == NULL;

  if (inbound) {
    s = probe_slot_alloc(pr);
    if (!s) {
      return -1; /* the transport closes it: no room to track it */
    }
    s->conn = conn;
    dsb_tcp_conn_set_user(conn, s);
  }
  s->id = *peer;
  s->established = 1;
  dsb_device_id_format(id, peer);
  printf("SESSION %s %s\n", id, inbound ? "in" : "out");
  fflush(stdout);
  return 0;
}

static int probe_on_record(dsb_tcp_conn *conn, const uint8_t *pt, size_t ptlen,
                           void *user_data) {
  probe_slot *s = dsb_tcp_conn_get_user(conn);
  char id[DSB_DEVICE_ID_TEXT_LEN + 1];

  (void)user_data;
  dsb_device_id_format(id, &s->id);
  printf("record %s ", id);
  for (size_t i = 0; i < ptlen; ++i) {
    putchar(pt[i] >= 0x20 && pt[i] < 0x7f ? pt[i] : '.');
  }
  printf("\n");
  fflush(stdout);
  return 0;
}

static void probe_on_closed(dsb_tcp_conn *conn, int reason, void *user_data) {
  probe_slot *s = dsb_tcp_conn_get_user(conn);
  char id[DSB_DEVICE_ID_TEXT_LEN + 1];

  (void)user_data;
  if (!s) {
    return; /* inbound, refused in on_established */
  }
  dsb_device_id_format(id, &s->id);
  if (s->established) {
    printf("closed %s %s\n", id, reason ? dsb_strerror(reason) : "ok");
  } else {
    /* An outbound connect that never established: identity mismatch,
     * handshake failure, refused, timeout. */
    printf("error %s %s\n", dsb_strerror(reason ? reason : DSB_ERR_CLOSED), id);
  }
  fflush(stdout);
  memset(s, 0, sizeof(*s));
}

static void probe_on_session_reject(dsb_tcp *tcp, const struct sockaddr *addr,
                                    int reason, void *user_data) {
  (void)tcp;
  (void)addr;
  (void)user_data;
  printf("session-reject %s\n", dsb_strerror(reason));
  fflush(stdout);
}

static const dsb_tcp_callbacks probe_tcp_callbacks = {
    .on_established = probe_on_established,
    .on_record = probe_on_record,
    .on_closed = probe_on_closed,
    .on_reject = probe_on_session_reject,
};

/* "ID" at the start of |arg|, followed by the end or a space. */
static int probe_parse_id(dsb_device_id *id, const char *arg) {
  size_t n = strcspn(arg, " ");
  return n == DSB_DEVICE_ID_TEXT_LEN ? dsb_device_id_parse(id, arg, n)
                                     : DSB_ERR_MALFORMED;
}

static int probe_connect(probe *pr, const char *arg) {
  dsb_device_id id;
  probe_slot *s;
  int rv;

  if (!pr->tcp) {
    return DSB_ERR_INVALID_STATE;
  }
  rv = probe_parse_id(&id, arg);
  if (rv != 0) {
    return rv;
  }
  s = probe_slot_alloc(pr);
  if (!s) {
    return DSB_ERR_LIMIT;
  }
  /* The text id only selects the peer-table entry; address, static key and
   * the id the handshake must prove come from the verified entry. */
  rv =
      dsb_disc_connect(pr->tcp, &s->conn, dsb_disc_udp_peers(pr->disc), &id, s);
  if (rv != 0) {
    s->conn = NULL;
    return rv;
  }
  s->id = id;
  return 0;
}

static int probe_send(probe *pr, const char *arg, int close) {
  dsb_device_id id;
  probe_slot *s;
  int rv;

  if (!pr->tcp) {
    return DSB_ERR_INVALID_STATE;
  }
  rv = probe_parse_id(&id, arg);
  if (rv != 0) {
    return rv;
  }
  s = probe_slot_find(pr, &id);
  if (!s) {
    return DSB_ERR_NOT_FOUND;
  }
  if (close) {
    dsb_tcp_conn_close(s->conn, 0);
    return 0;
  }
  arg += DSB_DEVICE_ID_TEXT_LEN;
  arg += *arg == ' ';
  return dsb_tcp_conn_send(s->conn, (const uint8_t *)arg, strlen(arg));
}

/* ---- control ------------------------------------------------------------- */

static void probe_closed(uv_handle_t *h) {
  (void)h;
}

static void probe_stop(probe *pr) {
  if (pr->stopping) {
    return;
  }
  pr->stopping = 1;
  dsb_disc_udp_del(pr->disc); /* sends the goodbye */
  pr->disc = NULL;
  dsb_tcp_del(pr->tcp); /* on_closed runs for each session */
  pr->tcp = NULL;
  uv_close((uv_handle_t *)&pr->in, probe_closed);
  uv_close((uv_handle_t *)&pr->sigterm, probe_closed);
  uv_close((uv_handle_t *)&pr->sigint, probe_closed);
}

static void probe_command(probe *pr, const char *cmd) {
  int rv = 0;
  if (strncmp(cmd, "query", 5) == 0) {
    const char *svc = cmd[5] == ' ' ? cmd + 6 : "";
    rv = dsb_disc_udp_query(pr->disc, svc, strlen(svc));
  } else if (strcmp(cmd, "stats") == 0) {
    dsb_disc_udp_stats st;
    dsb_disc_udp_get_stats(pr->disc, &st);
    printf("stats announces=%llu queries=%llu answers=%llu received=%llu "
           "rejected=%llu peers=%zu",
           (unsigned long long)st.announces_sent,
           (unsigned long long)st.queries_sent,
           (unsigned long long)st.answers_sent,
           (unsigned long long)st.datagrams_received,
           (unsigned long long)st.rejected,
           dsb_disc_peers_count(dsb_disc_udp_peers(pr->disc)));
    if (pr->tcp) {
      printf(" sessions=%zu", probe_sessions(pr));
    }
    printf("\n");
    fflush(stdout);
  } else if (strcmp(cmd, "announce") == 0) {
    rv = dsb_disc_udp_announce(pr->disc);
  } else if (strncmp(cmd, "connect ", 8) == 0) {
    rv = probe_connect(pr, cmd + 8);
  } else if (strncmp(cmd, "send ", 5) == 0) {
    rv = probe_send(pr, cmd + 5, 0);
  } else if (strncmp(cmd, "close ", 6) == 0) {
    rv = probe_send(pr, cmd + 6, 1);
  } else if (cmd[0]) {
    rv = DSB_ERR_INVALID_ARGUMENT;
  }
  if (rv != 0) {
    printf("error %s\n", dsb_strerror(rv));
    fflush(stdout);
  }
}

static void probe_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  static char mem[512];
  (void)h;
  (void)hint;
  *buf = uv_buf_init(mem, sizeof(mem));
}

static void probe_on_stdin(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  probe *pr = s->data;
  if (n < 0) {
    probe_stop(pr);
    return;
  }
  for (ssize_t i = 0; i < n && !pr->stopping; ++i) {
    char c = buf->base[i];
    if (c == '\n') {
      pr->line[pr->linelen] = '\0';
      probe_command(pr, pr->line);
      pr->linelen = 0;
    } else if (pr->linelen + 1 < sizeof(pr->line)) {
      pr->line[pr->linelen++] = c;
    }
  }
}

static void probe_on_signal(uv_signal_t *h, int signum) {
  (void)signum;
  probe_stop(h->data);
}

static void usage(void) {
  fprintf(stderr,
          "usage: disc-probe --state-dir DIR [--name NAME] [--session-port N]\n"
          "  [--service S]... [--port N] [--interface IF] [--peer H:P]...\n"
          "  [--no-multicast] [--no-ipv6] [--no-query] [--interval-ms N]\n"
          "  [--ttl N] [--listen HOST:PORT] [--claim-static-key HEX]\n");
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || *end || end == s || v > max) {
    return -1;
  }
  *out = v;
  return 0;
}

/* Exactly 2 * |len| hex digits of either case into |out|. */
static int parse_hex(uint8_t *out, size_t len, const char *s) {
  if (strlen(s) != 2 * len) {
    return -1;
  }
  for (size_t i = 0; i < 2 * len; ++i) {
    char c = s[i];
    int v = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (v < 0) {
      return -1;
    }
    out[i / 2] = (uint8_t)(i % 2 ? (out[i / 2] << 4) | v : v);
  }
  return 0;
}

/* Make |ann_ident| announce |static_pk| under |ident|'s own device id: the
 * certificate is signed with |ident|'s Ed25519 key over the claimed key.
 * The secret static key is dropped from the copy: discovery never uses it,
 * and it does not belong to the claimed public key. */
static int probe_claim_static(dsb_identity *ann_ident,
                              const dsb_identity *ident,
                              const uint8_t static_pk[DSB_X25519_KEY_LEN]) {
  dsb_device_id check;
  int rv;

  *ann_ident = *ident;
  dsb_wipe(ann_ident->static_sk, sizeof(ann_ident->static_sk));
  memcpy(ann_ident->proof.static_pk, static_pk, DSB_X25519_KEY_LEN);
  rv = dsb_cert_sign(ann_ident->proof.cert, ann_ident->ed_seed,
                     ann_ident->proof.ed_pk, ann_ident->proof.static_pk);
  if (rv == 0) {
    rv = dsb_identity_proof_verify(&ann_ident->proof, &check);
  }
  if (rv == 0 && !dsb_device_id_eq(&check, &ident->id)) {
    rv = DSB_ERR_INTERNAL;
  }
  return rv;
}

/* "a.b.c.d:port" or "[v6]:port", numeric only. */
static int parse_hostport(const char *s, struct sockaddr_storage *ss) {
  char host[64];
  const char *colon = strrchr(s, ':');
  unsigned long port;
  size_t hlen;

  if (!colon || parse_uint(colon + 1, 65535, &port) != 0) {
    return -1;
  }
  hlen = (size_t)(colon - s);
  if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') {
    s++;
    hlen -= 2;
  }
  if (hlen == 0 || hlen >= sizeof(host)) {
    return -1;
  }
  memcpy(host, s, hlen);
  host[hlen] = '\0';
  memset(ss, 0, sizeof(*ss));
  if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) == 0 ||
      uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0) {
    return 0;
  }
  return -1;
}

/* Open the session listener on |listen_addr|; returns the bound port. */
static int probe_listen(probe *pr, const dsb_identity *ident,
                        const struct sockaddr_storage *listen_addr,
                        uint16_t *port) {
  dsb_tcp_config tcfg;
  struct sockaddr_storage bound;
  int rv;

  memset(&tcfg, 0, sizeof(tcfg));
  tcfg.loop = pr->loop;
  tcfg.local = ident;
  tcfg.callbacks = &probe_tcp_callbacks;
  tcfg.user_data = pr;
  rv = dsb_tcp_new(&pr->tcp, &tcfg);
  if (rv != 0) {
    return rv;
  }
  rv = dsb_tcp_listen(pr->tcp, (const struct sockaddr *)listen_addr,
                      DSB_TCP_DEFAULT_BACKLOG);
  if (rv == 0) {
    rv = dsb_tcp_listen_addr(pr->tcp, &bound);
  }
  if (rv != 0) {
    dsb_tcp_del(pr->tcp);
    pr->tcp = NULL;
    return rv;
  }
  *port = ntohs(bound.ss_family == AF_INET
                    ? ((struct sockaddr_in *)&bound)->sin_port
                    : ((struct sockaddr_in6 *)&bound)->sin6_port);
  return 0;
}

int main(int argc, char **argv) {
  const char *state_dir = NULL;
  const char *peers[DSB_DISC_UDP_MAX_PEERS];
  dsb_disc_udp_config cfg;
  dsb_disc_announce local;
  dsb_identity ident, ann_ident;
  struct sockaddr_storage listen_addr;
  uint8_t claim_pk[DSB_X25519_KEY_LEN];
  int want_listen = 0, port_given = 0, claim = 0;
  uint16_t session_port = 0;
  probe pr;
  unsigned long v;
  int rv;

  memset(&pr, 0, sizeof(pr));
  dsb_disc_udp_config_default(&cfg);
  dsb_disc_announce_init(&local);
  cfg.peers = peers;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    int takes = 1;
    if (strcmp(a, "--state-dir") == 0 && val) {
      state_dir = val;
    } else if (strcmp(a, "--name") == 0 && val) {
      if (dsb_disc_announce_set_name(&local, val, strlen(val)) != 0) {
        fprintf(stderr, "disc-probe: bad --name\n");
        return 2;
      }
    } else if (strcmp(a, "--service") == 0 && val) {
      if (dsb_disc_announce_add_service(&local, val, strlen(val)) != 0) {
        fprintf(stderr, "disc-probe: bad --service %s\n", val);
        return 2;
      }
    } else if (strcmp(a, "--session-port") == 0 && val &&
               parse_uint(val, 65535, &v) == 0) {
      local.session_port = (uint16_t)v;
      port_given = 1;
    } else if (strcmp(a, "--port") == 0 && val &&
               parse_uint(val, 65535, &v) == 0) {
      cfg.port = (uint16_t)v;
    } else if (strcmp(a, "--interface") == 0 && val) {
      cfg.ifname = val;
    } else if (strcmp(a, "--peer") == 0 && val &&
               cfg.npeers < DSB_DISC_UDP_MAX_PEERS) {
      peers[cfg.npeers++] = val;
    } else if (strcmp(a, "--interval-ms") == 0 && val &&
               parse_uint(val, 86400000, &v) == 0 && v > 0) {
      cfg.interval_ms = (uint32_t)v;
    } else if (strcmp(a, "--ttl") == 0 && val &&
               parse_uint(val, 65535, &v) == 0 && v > 0) {
      cfg.ttl_s = (uint16_t)v;
    } else if (strcmp(a, "--listen") == 0 && val &&
               parse_hostport(val, &listen_addr) == 0) {
      want_listen = 1;
    } else if (strcmp(a, "--claim-static-key") == 0 && val &&
               parse_hex(claim_pk, sizeof(claim_pk), val) == 0) {
      claim = 1;
    } else {
      takes = 0;
      if (strcmp(a, "--no-multicast") == 0) {
        cfg.flags |= DSB_DISC_UDP_NO_MULTICAST;
      } else if (strcmp(a, "--no-ipv6") == 0) {
        cfg.flags |= DSB_DISC_UDP_NO_IPV6;
      } else if (strcmp(a, "--no-query") == 0) {
        cfg.flags |= DSB_DISC_UDP_NO_QUERY;
      } else {
        usage();
        return 2;
      }
    }
    i += takes;
  }
  if (!state_dir) {
    usage();
    return 2;
  }
  rv = dsb_keystore_load_or_create(&ident, state_dir, NULL, NULL);
  if (rv != 0) {
    fprintf(stderr, "disc-probe: identity in %s: %s\n", state_dir,
            dsb_strerror(rv));
    return 1;
  }
  if (claim) {
    rv = probe_claim_static(&ann_ident, &ident, claim_pk);
    if (rv != 0) {
      dsb_identity_wipe(&ann_ident);
      dsb_identity_wipe(&ident);
      fprintf(stderr, "disc-probe: --claim-static-key: %s\n", dsb_strerror(rv));
      return 1;
    }
  } else {
    ann_ident = ident;
  }
  char id[DSB_DEVICE_ID_TEXT_LEN + 1];
  dsb_device_id_format(id, &ident.id);
  signal(SIGPIPE, SIG_IGN);
  pr.loop = uv_default_loop();
  if (want_listen) {
    /* The listener exists before the first announcement, so the port it
     * announces is already accepting. */
    rv = probe_listen(&pr, &ident, &listen_addr, &session_port);
    if (rv != 0) {
      dsb_identity_wipe(&ann_ident);
      dsb_identity_wipe(&ident);
      fprintf(stderr, "disc-probe: listen: %s\n", dsb_strerror(rv));
      return 1;
    }
    if (!port_given) {
      local.session_port = session_port;
    }
  }
  cfg.ident = &ann_ident;
  cfg.local = &local;
  cfg.on_peer = probe_on_peer;
  cfg.on_reject = probe_on_reject;
  cfg.ctx = &pr;
  cfg.log.fn = probe_on_log;
  rv = dsb_disc_udp_new(&pr.disc, pr.loop, &cfg);
  /* The driver and transport keep their copies. */
  dsb_identity_wipe(&ann_ident);
  dsb_identity_wipe(&ident);
  if (rv != 0) {
    fprintf(stderr, "disc-probe: %s\n", dsb_strerror(rv));
    dsb_tcp_del(pr.tcp);
    uv_run(pr.loop, UV_RUN_DEFAULT);
    return 1;
  }
  uv_pipe_init(pr.loop, &pr.in, 0);
  pr.in.data = &pr;
  uv_signal_init(pr.loop, &pr.sigterm);
  uv_signal_init(pr.loop, &pr.sigint);
  pr.sigterm.data = &pr;
  pr.sigint.data = &pr;
  uv_signal_start(&pr.sigterm, probe_on_signal, SIGTERM);
  uv_signal_start(&pr.sigint, probe_on_signal, SIGINT);
  if (uv_pipe_open(&pr.in, 0) != 0 ||
      uv_read_start((uv_stream_t *)&pr.in, probe_alloc, probe_on_stdin) != 0) {
    fprintf(stderr, "disc-probe: stdin must be a pipe\n");
    probe_stop(&pr);
    uv_run(pr.loop, UV_RUN_DEFAULT);
    return 1;
  }
  if (pr.tcp) {
    printf("ready %s %u %u %u\n", id, dsb_disc_udp_port(pr.disc),
           dsb_disc_udp_tx_port(pr.disc), session_port);
  } else {
    printf("ready %s %u %u\n", id, dsb_disc_udp_port(pr.disc),
           dsb_disc_udp_tx_port(pr.disc));
  }
  fflush(stdout);
  rv = dsb_disc_udp_start(pr.disc);
  if (rv != 0) {
    fprintf(stderr, "disc-probe: start: %s\n", dsb_strerror(rv));
    probe_stop(&pr);
  }
  uv_run(pr.loop, UV_RUN_DEFAULT);
  printf("bye\n");
  fflush(stdout);
  uv_loop_close(pr.loop);
  return rv == 0 ? 0 : 1;
}
