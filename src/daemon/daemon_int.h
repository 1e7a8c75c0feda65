/*
 * daemon_int.h - the dsbd object shared by the files of src/daemon, and the
 * glue entry points between them (see dsbd.h for the file map).
 */
#ifndef DSBD_DAEMON_INT_H
#define DSBD_DAEMON_INT_H

#include <uv.h>

#include "dsb/identity.h"
#include "dsb/tcp.h"
#include "dsbd.h"

#define DSBD_MAX_COUNTERS 96

typedef struct dsbd_counter {
  char label[64];
  uint64_t value;
} dsbd_counter;

struct dsbd {
  uv_loop_t loop;
  dsbd_config cfg;
  dsb_identity ident; /* secrets: wiped at exit */
  char self_text[DSB_DEVICE_ID_TEXT_LEN + 1];
  uint16_t port; /* session TCP port actually bound */
  dsb_tcp *tcp;
  dsbd_api *api;
  dsbd_peers *peers;
  void *trust;              /* trust.c */
  void *disc;               /* discovery.c */
  void *backend;            /* backend.c: netstackd mode only */
  struct dsbd_proxy *proxy; /* proxy.c */
  uv_signal_t sigint, sigterm, sigpipe;
  uv_timer_t tick;
  int stopping;
  size_t ncounters;
  dsbd_counter counters[DSBD_MAX_COUNTERS];
};

/* trust.c: load <state-dir>/trust.json (created on first change). */
int dsbd_trust_open(dsbd *d);
void dsbd_trust_close(dsbd *d);

/* discovery.c: start announcing/listening; stop says goodbye. */
int dsbd_disc_start(dsbd *d);
void dsbd_disc_stop(dsbd *d);

/* peers.c: the TCP transport's callbacks (user_data is the dsbd_peers). */
void dsbd_peers_tcp_callbacks(dsb_tcp_callbacks *cb);
dsb_tcp *dsbd_tcp(dsbd *d);

#endif /* DSBD_DAEMON_INT_H */
