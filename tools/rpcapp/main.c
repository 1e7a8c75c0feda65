/*
 * rpcapp - a small application of the remote-call client API
 * (dsb/client_rpc.h), used by tests/integration/test_proxy.sh, the demo
 * and the proxy benchmark.
 *
 *   rpcapp serve SOCKET SERVICE [options]
 *     Register SERVICE and answer each call with "<caller id>:<payload>".
 *     --bundle NAME VERSION  register it as the one export of a bundle
 *     --echo                 answer with the payload alone
 *     --reply-size N         answer with N bytes of 'x' instead
 *     --hold                 take calls and never answer them
 *     --delay-ms N           answer each call N ms after it came
 *     --count-file FILE      keep the number of calls received in FILE
 *   Prints "ready" once registered; runs until killed.
 *
 *   rpcapp load SOCKET DEVICE SERVICE METHOD CALLS SEED [MAXSIZE]
 *     Start CALLS calls at once with random payloads (1..MAXSIZE bytes,
 *     default 1024, from SEED), then collect every reply and check that
 *     each call got exactly one reply carrying its own payload back.
 *     Prints "ok CALLS" and exits 0, or says what went wrong and exits 1.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dsb/client_rpc.h"
#include "dsb/err.h"

typedef struct app_opts {
  const char *service;
  const char *bundle, *version;
  const char *count_file;
  int echo;
  long reply_size;
  int hold;
  long delay_ms;
  unsigned long calls;
} app_opts;

static void app_count(app_opts *o) {
  if (!o->count_file) {
    return;
  }
  char tmp[4096];
  snprintf(tmp, sizeof(tmp), "%s.tmp", o->count_file);
  FILE *f = fopen(tmp, "w");
  if (f) {
    fprintf(f, "%lu\n", o->calls);
    fclose(f);
    rename(tmp, o->count_file);
  }
}

static long app_handler(void *ctx, uint8_t *out, size_t outlen,
                        const dsb_client_rpc_request *req) {
  app_opts *o = ctx;
  o->calls++;
  app_count(o);
  if (o->reply_size > 0) {
    if ((size_t)o->reply_size > outlen) {
      return DSB_ERR_NOBUF;
    }
    memset(out, 'x', (size_t)o->reply_size);
    return o->reply_size;
  }
  size_t idlen = o->echo ? 0 : strlen(req->device_id) + 1;
  if (idlen + req->payloadlen > outlen) {
    return DSB_ERR_NOBUF;
  }
  if (idlen) {
    memcpy(out, req->device_id, idlen - 1);
    out[idlen - 1] = ':';
  }
  if (req->payloadlen) {
    memcpy(out + idlen, req->payload, req->payloadlen);
  }
  return (long)(idlen + req->payloadlen);
}

static int app_serve(dsb_client *c, app_opts *o) {
  int rv;
  if (o->bundle) {
    dsb_client_bundle_service s = {o->service, "rpcapp test service"};
    dsb_client_bundle b = {o->bundle, o->version, &s, 1};
    rv = dsb_client_rpc_register_bundle(c, &b);
  } else {
    rv = dsb_client_rpc_register(c, o->service, "rpcapp test service", NULL,
                                 NULL);
  }
  if (rv) {
    fprintf(stderr, "rpcapp: register %s: %s\n", o->service, dsb_strerror(rv));
    return 1;
  }
  app_count(o);
  printf("ready\n");
  fflush(stdout);
  if (!o->hold && o->delay_ms == 0) {
    dsb_client_rpc_set_handler(c, o->service, app_handler, o);
    for (;;) {
      rv = dsb_client_rpc_serve(c, -1);
      if (rv < 0) {
        fprintf(stderr, "rpcapp: %s\n", dsb_strerror(rv));
        return 1;
      }
    }
  }
  for (;;) {
    dsb_client_rpc_request req;
    rv = dsb_client_rpc_next_call(c, &req, -1);
    if (rv < 0) {
      fprintf(stderr, "rpcapp: %s\n", dsb_strerror(rv));
      return 1;
    }
    if (rv == 0 || o->hold) {
      if (rv == 1) {
        o->calls++;
        app_count(o);
      }
      continue;
    }
    /* Answer late: the call is the current request until the next
     * dsb_client_rpc_* call, so answer before anything else. */
    struct timespec ts = {o->delay_ms / 1000, (o->delay_ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
    static uint8_t out[DSB_IPC_MAX_MSG];
    long n = app_handler(o, out, sizeof(out) - 64, &req);
    dsb_client_rpc_answer(c, req.call, n >= 0 ? DSB_RPC_OK : DSB_RPC_FAILED,
                          out, n >= 0 ? (size_t)n : 0);
  }
}

/* xorshift64*: deterministic payloads from the seed. */
static uint64_t app_rand(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * UINT64_C(2685821657736338717);
}

typedef struct app_call {
  uint64_t handle;
  uint8_t *payload;
  size_t len;
  int replies;
} app_call;

static int app_load(dsb_client *c, char **argv, int argc) {
  const char *device = argv[0], *service = argv[1], *method = argv[2];
  unsigned long n = strtoul(argv[3], NULL, 10);
  uint64_t seed = strtoull(argv[4], NULL, 10) * 2 + 1;
  size_t maxsize = argc > 5 ? strtoul(argv[5], NULL, 10) : 1024;
  if (n == 0 || n > DSB_CLIENT_RPC_MAX_IN_FLIGHT || maxsize == 0) {
    fprintf(stderr, "rpcapp: bad CALLS or MAXSIZE\n");
    return 2;
  }
  app_call *calls = calloc(n, sizeof(*calls));
  if (!calls) {
    return 1;
  }
  int status = 1;
  unsigned long started = 0, done = 0, bad = 0;
  for (; started < n; ++started) {
    app_call *k = &calls[started];
    k->len = 1 + (size_t)(app_rand(&seed) % maxsize);
    k->payload = malloc(k->len);
    if (!k->payload) {
      goto out;
    }
    for (size_t i = 0; i < k->len; ++i) {
      k->payload[i] = (uint8_t)app_rand(&seed);
    }
    int rv = dsb_client_rpc_call_start(c, &k->handle, device, service, method,
                                       k->payload, k->len, 0);
    if (rv) {
      fprintf(stderr, "rpcapp: call %lu: %s\n", started, dsb_strerror(rv));
      goto out;
    }
  }
  while (done < n) {
    dsb_client_rpc_reply r;
    int rv = dsb_client_rpc_call_wait(c, &r, 30000);
    if (rv != 1) {
      fprintf(stderr, "rpcapp: waiting after %lu replies: %s\n", done,
              rv == 0 ? "timeout" : dsb_strerror(rv));
      goto out;
    }
    done++;
    app_call *k = NULL;
    for (unsigned long i = 0; i < n; ++i) {
      if (calls[i].handle == r.handle) {
        k = &calls[i];
        break;
      }
    }
    if (!k || k->replies++ || r.status != DSB_RPC_OK ||
        r.payloadlen != k->len || memcmp(r.payload, k->payload, k->len) != 0) {
      bad++;
      fprintf(stderr, "rpcapp: bad reply (status %s, %s)\n",
              dsb_rpc_status_name(r.status),
              !k ? "unknown handle" : "wrong or duplicate payload");
    }
    dsb_client_rpc_reply_free(&r);
  }
  if (bad == 0 && dsb_client_rpc_stale(c) == 0) {
    printf("ok %lu\n", n);
    status = 0;
  } else {
    fprintf(stderr, "rpcapp: %lu bad replies, %llu stale\n", bad,
            (unsigned long long)dsb_client_rpc_stale(c));
  }
out:
  for (unsigned long i = 0; i < n; ++i) {
    free(calls[i].payload);
  }
  free(calls);
  return status;
}

static void app_usage(void) {
  fprintf(stderr, "usage: rpcapp serve SOCKET SERVICE [--bundle NAME VERSION] "
                  "[--echo] [--reply-size N] [--hold] [--delay-ms N] "
                  "[--count-file FILE]\n"
                  "       rpcapp load SOCKET DEVICE SERVICE METHOD CALLS SEED "
                  "[MAXSIZE]\n");
}

int main(int argc, char **argv) {
  if (argc < 4) {
    app_usage();
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  app_opts o;
  memset(&o, 0, sizeof(o));
  int load = strcmp(argv[1], "load") == 0;
  if (!load && strcmp(argv[1], "serve") != 0) {
    app_usage();
    return 2;
  }
  if (load && argc < 8) {
    app_usage();
    return 2;
  }
  if (!load) {
    o.service = argv[3];
    for (int i = 4; i < argc; ++i) {
      if (strcmp(argv[i], "--bundle") == 0 && i + 2 < argc) {
        o.bundle = argv[++i];
        o.version = argv[++i];
      } else if (strcmp(argv[i], "--echo") == 0) {
        o.echo = 1;
      } else if (strcmp(argv[i], "--hold") == 0) {
        o.hold = 1;
      } else if (strcmp(argv[i], "--reply-size") == 0 && i + 1 < argc) {
        o.reply_size = strtol(argv[++i], NULL, 10);
      } else if (strcmp(argv[i], "--delay-ms") == 0 && i + 1 < argc) {
        o.delay_ms = strtol(argv[++i], NULL, 10);
      } else if (strcmp(argv[i], "--count-file") == 0 && i + 1 < argc) {
        o.count_file = argv[++i];
      } else {
        app_usage();
        return 2;
      }
    }
  }
  dsb_client *c;
  int rv = dsb_client_connect(&c, argv[2], 0);
  if (rv) {
    fprintf(stderr, "rpcapp: connect %s: %s\n", argv[2], dsb_strerror(rv));
    return 1;
  }
  int status = load ? app_load(c, argv + 3, argc - 3) : app_serve(c, &o);
  dsb_client_close(c);
  return status;
}
