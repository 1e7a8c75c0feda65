/*
 * rpc-inject - a hostile-but-authenticated peer for remote-call reject
 * tests against a real dsoftbusd (tests/integration/test_proxy_inject.sh).
 *
 *   rpc-inject id [--state-dir DIR | --key FILE]
 *   rpc-inject malformed  --connect HOST:PORT --peer-id ID --peer-key HEX
 *                         [--target SERVICE] [common]
 *   rpc-inject stale-reply --connect HOST:PORT --peer-id ID --peer-key HEX
 *                         [common]
 *   common: [--state-dir DIR | --key FILE] [--timeout-ms N]
 *
 * Identity: --key loads an identity file, --state-dir loads or creates
 * DIR/identity.key (so `id` can print the device id for `dsb trust add`
 * before the session starts); without either a fresh identity lives in
 * memory only. Every mode first prints "id DEVICE_ID".
 *
 * The session and mux are the library's (dsb/tcp.h, dsb/stream_conn.h);
 * only the remote-call frames are hand-made, byte by byte, so they can be
 * wrong on purpose. The peer is the daemon's session port; its device id
 * and noise key are the device_id / noise_key of `dsb --json id`.
 *
 * malformed: opens its own message-mode "dsb.rpc" stream and, one case at
 * a time, sends a broken call frame followed by a valid `echo ping`
 * sentinel. Replies of built-ins come back in order on the stream, so the
 * sentinel's reply closes the case: a case passes when the broken frame
 * got exactly the reply docs/PROTOCOL.md specifies (status malformed or
 * oversize, with the frame's trailing nonce) or, for frames the callee
 * cannot answer (shorter than 10 bytes, another version, an unknown op, a
 * reply on a calls stream), no reply at all. Broken frames that carry
 * names address --target (default "echo") method "get"; a reply with
 * status ok to any of them would mean it reached the service. Finally,
 * on the same stream, a valid `echo echo` whose payload must come back
 * intact, and one valid call to --target (must be ok). Prints
 *   case NAME reply=STATUS|none want=STATUS|none ok|FAIL
 *   valid echo ok | valid target ok
 *
 * stale-reply: waits for the daemon to open "dsb.rpc" (the test runs
 * `dsb call <this id> ...` on the daemon), accepts it, and answers the
 * first call three times: with a nonce that matches no pending call, with
 * the right nonce (the call's payload back), and with the right nonce
 * again. The daemon must deliver the second only; the other two are
 * stale. Prints "call SERVICE METHOD" and "replied stale right duplicate".
 *
 * Exit status: 0 when the script ran as expected, 1 otherwise (an "error"
 * or "FAIL" line says what), 2 on bad usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "dsb/err.h"
#include "dsb/identity.h"
#include "dsb/keystore.h"
#include "dsb/mux.h"
#include "dsb/rpc.h"
#include "dsb/stream_conn.h"
#include "dsb/tcp.h"

#define INJ_OUTBOX 8
#define INJ_RPC_PRIORITY 1
/* Over the callee's default 65536-byte call frame limit. */
#define INJ_OVERSIZE_PAYLOAD 70000u
#define INJ_FRAME_MAX (INJ_OVERSIZE_PAYLOAD + 2 * DSB_RPC_NAME_MAX + 64)

/* Nonces: broken frame of case i, its sentinel, the final calls. */
#define INJ_NONCE_BROKEN UINT64_C(0xbad0000000000000)
#define INJ_NONCE_SENTINEL UINT64_C(0x5e00000000000000)
#define INJ_NONCE_FINAL_ECHO UINT64_C(0xf1a1000000000001)
#define INJ_NONCE_FINAL_TARGET UINT64_C(0xf1a1000000000002)

#define INJ_NO_REPLY (-1)

enum { INJ_MODE_ID, INJ_MODE_MALFORMED, INJ_MODE_STALE };

/* One broken frame: how to build it and what the callee must answer. */
typedef struct inj_case {
  const char *name;
  int want; /* a dsb_rpc_status, or INJ_NO_REPLY */
} inj_case;

static const inj_case inj_cases[] = {
    {"short_frame", INJ_NO_REPLY},
    {"bad_version", INJ_NO_REPLY},
    {"unknown_op", INJ_NO_REPLY},
    {"reply_on_calls_stream", INJ_NO_REPLY},
    {"service_len_past_end", DSB_RPC_MALFORMED},
    {"service_len_zero", DSB_RPC_MALFORMED},
    {"service_bad_char", DSB_RPC_MALFORMED},
    {"method_len_past_end", DSB_RPC_MALFORMED},
    {"payload_len_past_end", DSB_RPC_MALFORMED},
    {"trailing_bytes", DSB_RPC_MALFORMED},
    {"oversize", DSB_RPC_OVERSIZE},
};
#define INJ_NCASES (sizeof(inj_cases) / sizeof(inj_cases[0]))

typedef struct inj {
  uv_loop_t *loop;
  dsb_tcp *tcp;
  dsb_tcp_conn *conn;
  dsb_stream_conn *sc;
  uv_timer_t watchdog, finish, shutdown;
  int mode;
  const char *target;
  int failed, closing, finished;
  /* the dsb.rpc stream: ours (malformed) or the daemon's (stale-reply) */
  uint32_t sid;
  int have_stream;
  /* frames waiting for send-buffer space, in order */
  uint8_t *outbox[INJ_OUTBOX];
  size_t outlen[INJ_OUTBOX];
  size_t outhead, outn;
  /* malformed */
  size_t step; /* case index; INJ_NCASES: the final calls */
  int got_broken_reply;
  uint8_t broken_status;
  int final_echo_ok, final_target_ok;
  uint8_t frame[INJ_FRAME_MAX];
} inj;

/* ---- output ------------------------------------------------------------- */

static void inj_fail(inj *p, const char *what, int err) {
  p->failed = 1;
  printf("error %s %s\n", what, err ? dsb_strerror(err) : "");
  fflush(stdout);
}

static const char *inj_want_name(int want) {
  return want == INJ_NO_REPLY ? "none" : dsb_rpc_status_name((uint8_t)want);
}

/* ---- sending ------------------------------------------------------------ */

/* Write queued frames while the stream's send buffer takes them. */
static int inj_flush_outbox(inj *p) {
  dsb_mux *mux = p->sc ? dsb_stream_conn_mux(p->sc) : NULL;
  if (!mux || !p->have_stream) {
    return 0;
  }
  while (p->outn > 0) {
    int rv = dsb_mux_write_message(mux, p->sid, p->outbox[p->outhead],
                                   p->outlen[p->outhead]);
    if (rv == DSB_ERR_WOULD_BLOCK) {
      return 0; /* on_stream_writable calls again */
    }
    if (rv != 0) {
      return rv;
    }
    free(p->outbox[p->outhead]);
    p->outbox[p->outhead] = NULL;
    p->outhead = (p->outhead + 1) % INJ_OUTBOX;
    p->outn--;
  }
  return 0;
}

static int inj_send(inj *p, const uint8_t *frame, size_t len) {
  if (p->outn == INJ_OUTBOX) {
    return DSB_ERR_LIMIT;
  }
  uint8_t *copy = malloc(len);
  if (!copy) {
    return DSB_ERR_NOMEM;
  }
  memcpy(copy, frame, len);
  size_t slot = (p->outhead + p->outn) % INJ_OUTBOX;
  p->outbox[slot] = copy;
  p->outlen[slot] = len;
  p->outn++;
  return inj_flush_outbox(p);
}

static void inj_outbox_clear(inj *p) {
  while (p->outn > 0) {
    free(p->outbox[p->outhead]);
    p->outbox[p->outhead] = NULL;
    p->outhead = (p->outhead + 1) % INJ_OUTBOX;
    p->outn--;
  }
}

static int inj_send_call(inj *p, const char *service, const char *method,
                         const uint8_t *payload, size_t payloadlen,
                         uint64_t nonce) {
  dsb_rpc_call c = {service, strlen(service), method, strlen(method),
                    payload, payloadlen,      nonce};
  long n = dsb_rpc_call_encode(p->frame, sizeof(p->frame), &c, NULL);
  return n < 0 ? (int)n : inj_send(p, p->frame, (size_t)n);
}

static int inj_send_reply(inj *p, uint8_t status, const uint8_t *payload,
                          size_t payloadlen, uint64_t nonce) {
  dsb_rpc_reply r = {status, payload, payloadlen, nonce};
  long n = dsb_rpc_reply_encode(p->frame, sizeof(p->frame), &r, NULL);
  return n < 0 ? (int)n : inj_send(p, p->frame, (size_t)n);
}

/* Ends the run on the next loop turn, outside any mux callback, so the
 * last frames are flushed before the graceful close. */
static void inj_on_finish(uv_timer_t *t) {
  inj *p = t->data;
  if (p->sc) {
    (void)dsb_stream_conn_flush(p->sc);
  }
  if (p->conn && !p->closing) {
    p->closing = 1;
    dsb_tcp_conn_close(p->conn, 0);
  }
}

static void inj_finish(inj *p) {
  if (!p->finished) {
    p->finished = 1;
    uv_timer_start(&p->finish, inj_on_finish, 0, 0);
  }
}

/* ---- malformed ---------------------------------------------------------- */

static size_t put_u32(uint8_t *b, uint32_t v) {
  b[0] = (uint8_t)(v >> 24);
  b[1] = (uint8_t)(v >> 16);
  b[2] = (uint8_t)(v >> 8);
  b[3] = (uint8_t)v;
  return 4;
}

static size_t put_u64(uint8_t *b, uint64_t v) {
  put_u32(b, (uint32_t)(v >> 32));
  put_u32(b + 4, (uint32_t)v);
  return 8;
}

/* A call frame laid out field by field, each length field independent of
 * the bytes that follow it, so any of them can lie. */
typedef struct inj_raw {
  uint8_t version, op;
  uint8_t service_len; /* the field */
  const char *service; /* the bytes actually written */
  uint8_t method_len;
  const char *method;
  uint32_t payload_len;
  size_t payload_bytes; /* 'x' bytes actually written */
  uint64_t nonce;
} inj_raw;

static size_t inj_build_raw(uint8_t *b, const inj_raw *r) {
  size_t o = 0;
  size_t sl = strlen(r->service), ml = strlen(r->method);
  b[o++] = r->version;
  b[o++] = r->op;
  b[o++] = r->service_len;
  memcpy(b + o, r->service, sl);
  o += sl;
  b[o++] = r->method_len;
  memcpy(b + o, r->method, ml);
  o += ml;
  o += put_u32(b + o, r->payload_len);
  memset(b + o, 'x', r->payload_bytes);
  o += r->payload_bytes;
  o += put_u64(b + o, r->nonce);
  return o;
}

/* Build the broken frame of case |i| into p->frame; returns its length. */
static size_t inj_build_case(inj *p, size_t i) {
  const char *name = inj_cases[i].name;
  uint64_t nonce = INJ_NONCE_BROKEN + i;
  uint8_t tlen = (uint8_t)strlen(p->target);
  inj_raw r = {
      DSB_RPC_VERSION, DSB_RPC_OP_CALL, tlen, p->target, 3, "get", 6, 6, nonce};

  if (strcmp(name, "short_frame") == 0) {
    /* version, op, service_len and 3 bytes of the name: no room for a
     * nonce, so the callee cannot answer it. */
    (void)inj_build_raw(p->frame, &r);
    return 6;
  }
  if (strcmp(name, "bad_version") == 0) {
    r.version = DSB_RPC_VERSION + 1;
  } else if (strcmp(name, "unknown_op") == 0) {
    r.op = 0x02;
  } else if (strcmp(name, "reply_on_calls_stream") == 0) {
    dsb_rpc_reply rep = {DSB_RPC_OK, (const uint8_t *)"hi", 2, nonce};
    long n = dsb_rpc_reply_encode(p->frame, sizeof(p->frame), &rep, NULL);
    return n > 0 ? (size_t)n : 0;
  } else if (strcmp(name, "service_len_past_end") == 0) {
    /* The name field claims 64 bytes; the whole frame is shorter. */
    r.service_len = DSB_RPC_NAME_MAX;
    r.service = "ab";
    r.method_len = 0;
    r.method = "";
    size_t o = 0;
    p->frame[o++] = r.version;
    p->frame[o++] = r.op;
    p->frame[o++] = r.service_len;
    memcpy(p->frame + o, "ab", 2);
    o += 2;
    o += put_u64(p->frame + o, nonce);
    return o;
  } else if (strcmp(name, "service_len_zero") == 0) {
    r.service_len = 0;
    r.service = "";
  } else if (strcmp(name, "service_bad_char") == 0) {
    r.service = "ec/o";
    r.service_len = 4;
  } else if (strcmp(name, "method_len_past_end") == 0) {
    size_t o = 0;
    p->frame[o++] = r.version;
    p->frame[o++] = r.op;
    p->frame[o++] = tlen;
    memcpy(p->frame + o, p->target, tlen);
    o += tlen;
    p->frame[o++] = DSB_RPC_NAME_MAX;
    memcpy(p->frame + o, "get", 3);
    o += 3;
    o += put_u64(p->frame + o, nonce);
    return o;
  } else if (strcmp(name, "payload_len_past_end") == 0) {
    r.payload_len = 100; /* 6 bytes follow */
  } else if (strcmp(name, "trailing_bytes") == 0) {
    r.payload_len = 2; /* 6 bytes follow: 4 trailing */
  } else if (strcmp(name, "oversize") == 0) {
    r.payload_len = INJ_OVERSIZE_PAYLOAD;
    r.payload_bytes = INJ_OVERSIZE_PAYLOAD;
  }
  return inj_build_raw(p->frame, &r);
}

static int inj_send_final(inj *p) {
  static const char payload[] = "inject-final-echo";
  int rv = inj_send_call(p, "echo", "echo", (const uint8_t *)payload,
                         strlen(payload), INJ_NONCE_FINAL_ECHO);
  if (rv == 0) {
    rv = inj_send_call(p, p->target, "get", (const uint8_t *)payload,
                       strlen(payload), INJ_NONCE_FINAL_TARGET);
  }
  return rv;
}

/* Send case p->step (broken frame then sentinel), or the final calls. */
static int inj_send_step(inj *p) {
  p->got_broken_reply = 0;
  if (p->step == INJ_NCASES) {
    return inj_send_final(p);
  }
  size_t n = inj_build_case(p, p->step);
  if (n == 0) {
    return DSB_ERR_INTERNAL;
  }
  int rv = inj_send(p, p->frame, n);
  if (rv == 0) {
    rv =
        inj_send_call(p, "echo", "ping", NULL, 0, INJ_NONCE_SENTINEL + p->step);
  }
  return rv;
}

static void inj_case_done(inj *p) {
  const inj_case *c = &inj_cases[p->step];
  int got = p->got_broken_reply ? p->broken_status : INJ_NO_REPLY;
  int ok = got == c->want;
  printf("case %s reply=%s want=%s %s\n", c->name, inj_want_name(got),
         inj_want_name(c->want), ok ? "ok" : "FAIL");
  fflush(stdout);
  if (!ok) {
    p->failed = 1;
  }
}

static void inj_on_reply(inj *p, const uint8_t *data, size_t len) {
  static const char want_echo[] = "inject-final-echo";
  dsb_rpc_msg m;
  int rv = dsb_rpc_decode(&m, data, len, NULL);
  if (rv == 0 && m.op != DSB_RPC_OP_REPLY) {
    rv = DSB_ERR_PROXY_MALFORMED;
  }
  if (rv != 0) {
    inj_fail(p, "undecodable reply", rv);
    inj_finish(p);
    return;
  }
  uint64_t nonce = m.reply.nonce;
  if (p->step < INJ_NCASES && nonce == INJ_NONCE_BROKEN + p->step &&
      !p->got_broken_reply) {
    p->got_broken_reply = 1;
    p->broken_status = m.reply.status;
    return;
  }
  if (p->step < INJ_NCASES && nonce == INJ_NONCE_SENTINEL + p->step) {
    if (m.reply.status != DSB_RPC_OK) {
      inj_fail(p, "sentinel ping not ok",
               dsb_rpc_status_to_err(m.reply.status));
    }
    inj_case_done(p);
    p->step++;
    rv = inj_send_step(p);
    if (rv != 0) {
      inj_fail(p, "send", rv);
      inj_finish(p);
    }
    return;
  }
  if (p->step == INJ_NCASES && nonce == INJ_NONCE_FINAL_ECHO &&
      !p->final_echo_ok) {
    int ok = m.reply.status == DSB_RPC_OK &&
             m.reply.payloadlen == strlen(want_echo) &&
             memcmp(m.reply.payload, want_echo, strlen(want_echo)) == 0;
    printf("valid echo reply=%s %s\n", dsb_rpc_status_name(m.reply.status),
           ok ? "ok" : "FAIL");
    p->final_echo_ok = 1;
    p->failed |= !ok;
  } else if (p->step == INJ_NCASES && nonce == INJ_NONCE_FINAL_TARGET &&
             !p->final_target_ok) {
    int ok = m.reply.status == DSB_RPC_OK;
    printf("valid target reply=%s %s\n", dsb_rpc_status_name(m.reply.status),
           ok ? "ok" : "FAIL");
    p->final_target_ok = 1;
    p->failed |= !ok;
  } else {
    /* A second reply, or one to a nonce never sent on its own. */
    printf("unexpected reply nonce=%016llx status=%s FAIL\n",
           (unsigned long long)nonce, dsb_rpc_status_name(m.reply.status));
    p->failed = 1;
  }
  fflush(stdout);
  if (p->final_echo_ok && p->final_target_ok) {
    inj_finish(p);
  }
}

/* ---- stale-reply -------------------------------------------------------- */

static void inj_on_call(inj *p, const uint8_t *data, size_t len) {
  dsb_rpc_msg m;
  int rv = dsb_rpc_decode(&m, data, len, NULL);
  if (rv == 0 && m.op != DSB_RPC_OP_CALL) {
    rv = DSB_ERR_PROXY_MALFORMED;
  }
  if (rv != 0) {
    inj_fail(p, "undecodable call", rv);
    inj_finish(p);
    return;
  }
  if (p->finished) {
    return; /* one call is the script */
  }
  printf("call %.*s %.*s\n", (int)m.call.servicelen, m.call.service,
         (int)m.call.methodlen, m.call.method);
  uint64_t right = m.call.nonce;
  /* Any other nonce: the daemon has this one call pending on us. */
  uint64_t stale = right ^ UINT64_C(0x8000000000000000);
  static const char stale_payload[] = "STALE";
  rv = inj_send_reply(p, DSB_RPC_OK, (const uint8_t *)stale_payload,
                      strlen(stale_payload), stale);
  if (rv == 0) {
    rv =
        inj_send_reply(p, DSB_RPC_OK, m.call.payload, m.call.payloadlen, right);
  }
  if (rv == 0) {
    static const char dup_payload[] = "DUPLICATE";
    rv = inj_send_reply(p, DSB_RPC_OK, (const uint8_t *)dup_payload,
                        strlen(dup_payload), right);
  }
  if (rv != 0) {
    inj_fail(p, "send", rv);
  } else {
    printf("replied stale=%016llx right=%016llx duplicate=%016llx\n",
           (unsigned long long)stale, (unsigned long long)right,
           (unsigned long long)right);
  }
  fflush(stdout);
  inj_finish(p);
}

/* ---- mux callbacks ------------------------------------------------------ */

static int inj_on_open(dsb_mux *mux, uint32_t id, const char *name,
                       size_t namelen, uint8_t priority, uint8_t mode,
                       void *user_data) {
  inj *p = user_data;
  (void)priority;
  if (p->mode != INJ_MODE_STALE || p->have_stream ||
      mode != DSB_MUX_MODE_MESSAGE || namelen != strlen(DSB_RPC_STREAM_NAME) ||
      memcmp(name, DSB_RPC_STREAM_NAME, namelen) != 0) {
    return dsb_mux_reset(mux, id, DSB_MUX_RST_REJECTED) == 0 ? 0 : -1;
  }
  if (dsb_mux_accept(mux, id, NULL) != 0) {
    return -1;
  }
  p->sid = id;
  p->have_stream = 1;
  return 0;
}

static int inj_on_accepted(dsb_mux *mux, uint32_t id, void *user_data) {
  inj *p = user_data;
  (void)mux;
  if (p->mode != INJ_MODE_MALFORMED || id != p->sid || p->have_stream) {
    return 0;
  }
  p->have_stream = 1;
  int rv = inj_send_step(p);
  if (rv != 0) {
    inj_fail(p, "send", rv);
    inj_finish(p);
  }
  return 0;
}

static int inj_on_message(dsb_mux *mux, uint32_t id, const uint8_t *data,
                          size_t len, void *user_data) {
  inj *p = user_data;
  if (!p->have_stream || id != p->sid) {
    return -1;
  }
  if (p->mode == INJ_MODE_MALFORMED) {
    inj_on_reply(p, data, len);
  } else {
    inj_on_call(p, data, len);
  }
  return dsb_mux_consume(mux, id, len) == 0 ? 0 : -1;
}

static int inj_on_data(dsb_mux *mux, uint32_t id, const uint8_t *data,
                       size_t len, void *user_data) {
  (void)mux;
  (void)id;
  (void)data;
  (void)len;
  (void)user_data;
  return -1; /* no byte-mode stream is ever accepted or opened */
}

static int inj_on_close(dsb_mux *mux, uint32_t id, void *user_data) {
  (void)mux;
  (void)id;
  (void)user_data;
  return 0;
}

static int inj_on_reset(dsb_mux *mux, uint32_t id, uint32_t code,
                        void *user_data) {
  inj *p = user_data;
  (void)mux;
  if (p->have_stream && id == p->sid) {
    printf("error dsb.rpc stream reset code=%u\n", code);
    fflush(stdout);
    p->failed = 1;
    p->have_stream = 0;
    inj_finish(p);
  }
  return 0;
}

static int inj_on_writable(dsb_mux *mux, uint32_t id, void *user_data) {
  inj *p = user_data;
  (void)mux;
  (void)id;
  int rv = inj_flush_outbox(p);
  if (rv != 0) {
    inj_fail(p, "write", rv);
    inj_finish(p);
  }
  return 0;
}

static int inj_on_keepalive(dsb_mux *mux, void *user_data) {
  (void)mux;
  inj_fail(user_data, "keepalive_timeout", 0);
  return 0;
}

static const dsb_mux_callbacks inj_mux_cb = {
    inj_on_open,  inj_on_accepted, inj_on_message,  inj_on_data,
    inj_on_close, inj_on_reset,    inj_on_writable, inj_on_keepalive};

/* ---- transport ---------------------------------------------------------- */

static int inj_on_established(dsb_tcp_conn *conn, const dsb_device_id *peer,
                              void *user_data) {
  inj *p = user_data;
  dsb_stream_conn_config cfg;
  (void)peer;
  if (conn != p->conn) {
    return -1;
  }
  memset(&cfg, 0, sizeof(cfg));
  cfg.loop = p->loop;
  cfg.conn = conn;
  cfg.callbacks = &inj_mux_cb;
  cfg.user_data = p;
  int rv = dsb_stream_conn_new(&p->sc, &cfg);
  if (rv != 0) {
    inj_fail(p, "stream_conn", rv);
    return -1;
  }
  printf("session established\n");
  fflush(stdout);
  if (p->mode == INJ_MODE_MALFORMED) {
    rv = dsb_mux_open(dsb_stream_conn_mux(p->sc), &p->sid, DSB_RPC_STREAM_NAME,
                      strlen(DSB_RPC_STREAM_NAME), INJ_RPC_PRIORITY, 0, NULL);
    if (rv != 0) {
      inj_fail(p, "open dsb.rpc", rv);
      inj_finish(p);
    }
  }
  return 0;
}

static int inj_on_record(dsb_tcp_conn *conn, const uint8_t *pt, size_t ptlen,
                         void *user_data) {
  inj *p = user_data;
  (void)conn;
  if (p->sc) {
    (void)dsb_stream_conn_on_record(p->sc, pt, ptlen);
  }
  return 0;
}

static void inj_on_tcp_writable(dsb_tcp_conn *conn, void *user_data) {
  inj *p = user_data;
  (void)conn;
  if (p->sc) {
    dsb_stream_conn_on_writable(p->sc);
  }
}

static void inj_on_shutdown(uv_timer_t *t) {
  inj *p = t->data;
  dsb_tcp_del(p->tcp);
  p->tcp = NULL;
  uv_close((uv_handle_t *)&p->watchdog, NULL);
  uv_close((uv_handle_t *)&p->finish, NULL);
  uv_close((uv_handle_t *)&p->shutdown, NULL);
}

/* The transport is freed on the next loop turn, never from inside one of
 * its own callbacks. */
static void inj_shutdown(inj *p) {
  uv_timer_stop(&p->watchdog);
  uv_timer_stop(&p->finish);
  uv_timer_start(&p->shutdown, inj_on_shutdown, 0, 0);
}

static void inj_on_closed(dsb_tcp_conn *conn, int reason, void *user_data) {
  inj *p = user_data;
  (void)conn;
  if (p->sc) {
    int err = dsb_stream_conn_error(p->sc);
    if (err != 0) {
      reason = err;
    }
    dsb_stream_conn_del(p->sc);
    p->sc = NULL;
  }
  p->conn = NULL;
  p->have_stream = 0;
  /* Our own graceful close reports DSB_ERR_CLOSED; anything else, or the
   * peer hanging up before the script ended, is a failure. */
  if (!(p->closing && (reason == 0 || reason == DSB_ERR_CLOSED))) {
    inj_fail(p, "session closed", reason ? reason : DSB_ERR_CLOSED);
  }
  printf("done %s\n", p->failed ? "FAIL" : "ok");
  fflush(stdout);
  inj_shutdown(p);
}

static void inj_on_reject(dsb_tcp *tcp, const struct sockaddr *addr, int reason,
                          void *user_data) {
  (void)tcp;
  (void)addr;
  inj_fail(user_data, "session refused", reason);
}

static void inj_on_watchdog(uv_timer_t *t) {
  inj *p = t->data;
  inj_fail(p, "timeout", DSB_ERR_TIMEOUT);
  if (p->conn) {
    p->closing = 1;
    dsb_tcp_conn_close(p->conn, DSB_ERR_TIMEOUT);
  } else {
    printf("done FAIL\n");
    inj_shutdown(p);
  }
}

/* ---- command line ------------------------------------------------------- */

static void usage(void) {
  fprintf(stderr,
          "usage: rpc-inject id [--state-dir DIR | --key FILE]\n"
          "       rpc-inject malformed --connect HOST:PORT --peer-id ID\n"
          "         --peer-key HEX [--target SERVICE] [common]\n"
          "       rpc-inject stale-reply --connect HOST:PORT --peer-id ID\n"
          "         --peer-key HEX [common]\n"
          "  common: [--state-dir DIR | --key FILE] [--timeout-ms N]\n");
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out) {
  char *end;
  unsigned long long v;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno || *end || end == s || *s == '-' || v > max) {
    return -1;
  }
  *out = v;
  return 0;
}

static int parse_hostport(const char *s, struct sockaddr_in *sin) {
  char host[64];
  const char *colon = strrchr(s, ':');
  uint64_t port;
  if (!colon || (size_t)(colon - s) >= sizeof(host) ||
      parse_u64(colon + 1, 65535, &port) != 0) {
    return -1;
  }
  memcpy(host, s, (size_t)(colon - s));
  host[colon - s] = '\0';
  return uv_ip4_addr(host, (int)port, sin) == 0 ? 0 : -1;
}

static int parse_hex32(const char *s, uint8_t out[32]) {
  if (strlen(s) != 64) {
    return -1;
  }
  for (int i = 0; i < 32; ++i) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1) {
      return -1;
    }
    out[i] = (uint8_t)v;
  }
  return 0;
}

typedef struct inj_args {
  const char *key, *state_dir, *connect, *peer_id, *peer_key, *target;
  uint64_t timeout_ms;
} inj_args;

static int inj_parse(inj_args *a, int argc, char **argv) {
  for (int i = 2; i < argc; i += 2) {
    const char *o = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (v == NULL) {
      return -1;
    }
    if (strcmp(o, "--key") == 0) {
      a->key = v;
    } else if (strcmp(o, "--state-dir") == 0) {
      a->state_dir = v;
    } else if (strcmp(o, "--connect") == 0) {
      a->connect = v;
    } else if (strcmp(o, "--peer-id") == 0) {
      a->peer_id = v;
    } else if (strcmp(o, "--peer-key") == 0) {
      a->peer_key = v;
    } else if (strcmp(o, "--target") == 0) {
      if (!dsb_rpc_name_valid(v, strlen(v))) {
        return -1;
      }
      a->target = v;
    } else if (strcmp(o, "--timeout-ms") == 0) {
      if (parse_u64(v, UINT32_MAX, &a->timeout_ms) != 0 || !a->timeout_ms) {
        return -1;
      }
    } else {
      return -1;
    }
  }
  return 0;
}

static int inj_identity(dsb_identity *ident, const inj_args *a) {
  if (a->key) {
    return dsb_keystore_load(ident, a->key);
  }
  if (a->state_dir) {
    return dsb_keystore_load_or_create(ident, a->state_dir, NULL, NULL);
  }
  return dsb_identity_generate(ident, NULL);
}

int main(int argc, char **argv) {
  static inj p; /* holds a frame buffer: keep it off the stack */
  inj_args a;
  dsb_identity ident;
  dsb_tcp_config tcfg;
  dsb_tcp_callbacks tcb = {inj_on_established, inj_on_record,
                           inj_on_tcp_writable, inj_on_closed, inj_on_reject};
  struct sockaddr_in sin;
  uint8_t key[32];
  dsb_device_id peer;
  char idtext[DSB_DEVICE_ID_TEXT_LEN + 1];
  int rv;

  memset(&a, 0, sizeof(a));
  a.timeout_ms = 20000;
  a.target = "echo";
  if (argc < 2) {
    usage();
    return 2;
  }
  if (strcmp(argv[1], "id") == 0) {
    p.mode = INJ_MODE_ID;
  } else if (strcmp(argv[1], "malformed") == 0) {
    p.mode = INJ_MODE_MALFORMED;
  } else if (strcmp(argv[1], "stale-reply") == 0) {
    p.mode = INJ_MODE_STALE;
  } else {
    usage();
    return 2;
  }
  if (inj_parse(&a, argc, argv) != 0 ||
      (p.mode != INJ_MODE_ID &&
       (!a.connect || !a.peer_id || !a.peer_key ||
        parse_hostport(a.connect, &sin) != 0 ||
        parse_hex32(a.peer_key, key) != 0 ||
        dsb_device_id_parse(&peer, a.peer_id, strlen(a.peer_id)) != 0))) {
    usage();
    return 2;
  }
  p.target = a.target;
  rv = inj_identity(&ident, &a);
  if (rv != 0) {
    printf("error identity %s\n", dsb_strerror(rv));
    return 1;
  }
  dsb_device_id_format(idtext, &ident.id);
  printf("id %s\n", idtext);
  fflush(stdout);
  if (p.mode == INJ_MODE_ID) {
    dsb_identity_wipe(&ident);
    return 0;
  }

  p.loop = uv_default_loop();
  memset(&tcfg, 0, sizeof(tcfg));
  tcfg.loop = p.loop;
  tcfg.local = &ident;
  tcfg.callbacks = &tcb;
  tcfg.user_data = &p;
  rv = dsb_tcp_new(&p.tcp, &tcfg);
  dsb_identity_wipe(&ident); /* the transport keeps its own copy */
  if (rv != 0) {
    printf("error tcp %s\n", dsb_strerror(rv));
    return 1;
  }
  uv_timer_init(p.loop, &p.watchdog);
  uv_timer_init(p.loop, &p.finish);
  uv_timer_init(p.loop, &p.shutdown);
  p.watchdog.data = &p;
  p.finish.data = &p;
  p.shutdown.data = &p;
  uv_timer_start(&p.watchdog, inj_on_watchdog, a.timeout_ms, 0);
  rv = dsb_tcp_connect(p.tcp, &p.conn, (const struct sockaddr *)&sin, key,
                       &peer, NULL);
  if (rv != 0) {
    printf("error connect %s\n", dsb_strerror(rv));
    p.failed = 1;
    inj_shutdown(&p);
  }
  uv_run(p.loop, UV_RUN_DEFAULT);
  inj_outbox_clear(&p);
  if (uv_loop_close(p.loop) != 0) {
    fprintf(stderr, "rpc-inject: loop still has handles\n");
    return 1;
  }
  return p.failed ? 1 : 0;
}
