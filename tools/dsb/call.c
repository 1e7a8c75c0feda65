/*
 * call.c - remote calls from the dsb command: `dsb call`, `dsb services`,
 * `dsb bundles` and `dsb policy check` (over dsb/client_rpc.h).
 *
 * `dsb call` writes the reply payload to stdout as it came and reports a
 * refused call in one line on stderr ("denied: ..."). Its exit status is
 * 0 for "ok", 10 + the reply status for a call the remote side refused or
 * failed (11 denied ... 19 failed), 1 for local errors, 2 for usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "dsb/client_rpc.h"
#include "dsb/err.h"
#include "dsb/ipc_rpc.h"
#include "dsb_cli.h"

#define CALL_EXIT_STATUS_BASE 10

/* Read all of stdin, at most |cap| bytes. Returns the length, or -1 (read
 * error or more than |cap|). */
static long call_read_stdin(uint8_t *buf, size_t cap) {
  size_t n = 0;
  for (;;) {
    ssize_t r = read(STDIN_FILENO, buf + n, cap - n);
    if (r < 0) {
      return -1;
    }
    if (r == 0) {
      return (long)n;
    }
    n += (size_t)r;
    if (n == cap) {
      uint8_t extra;
      return read(STDIN_FILENO, &extra, 1) == 0 ? (long)n : -1;
    }
  }
}

/* What a refused call means, for the one-line error. */
static const char *call_status_reason(uint8_t status) {
  switch (status) {
  case DSB_RPC_DENIED:
    return "the device's policy has no rule allowing this call";
  case DSB_RPC_UNKNOWN_SERVICE:
    return "no such service on the device";
  case DSB_RPC_UNKNOWN_METHOD:
    return "the service has no such method";
  case DSB_RPC_OVERSIZE:
    return "the request or the reply is over the size limit";
  case DSB_RPC_TOO_MANY_CALLS:
    return "too many calls in flight";
  case DSB_RPC_UNAVAILABLE:
    return "the service or the session went away";
  case DSB_RPC_TIMEOUT:
    return "no reply in time";
  case DSB_RPC_MALFORMED:
    return "the call was not understood";
  default:
    return "the service reported an error";
  }
}

/* Make one call; on "ok" |*reply| holds the payload (caller frees). */
static int call_do(dsb_client *c, const char *device, const char *service,
                   const char *method, const uint8_t *payload, size_t len,
                   dsb_client_rpc_reply *reply) {
  int rv =
      dsb_client_rpc_call(c, device, service, method, payload, len, 0, reply);
  if (rv) {
    if (rv == DSB_ERR_INVALID_ARGUMENT) {
      fprintf(stderr,
              "dsb: '%s' / '%s' is not a service / method name (1..64 of "
              "A-Z a-z 0-9 . _ -)\n",
              service, method);
    } else if (rv == DSB_ERR_PROXY_OVERSIZE) {
      fprintf(stderr, "dsb: oversize: the request is over the size limit\n");
    } else {
      cli_error(rv, device, service, "call");
    }
    return 1;
  }
  if (reply->status != DSB_RPC_OK) {
    fprintf(stderr, "dsb: %s: %s.%s on %s: %s",
            dsb_rpc_status_name(reply->status), service, method, device,
            call_status_reason(reply->status));
    if (reply->status == DSB_RPC_FAILED && reply->payloadlen) {
      /* A failing service may say why in a short text. */
      fprintf(stderr, " (%.*s)",
              (int)(reply->payloadlen > 200 ? 200 : reply->payloadlen),
              (const char *)reply->payload);
    }
    fputc('\n', stderr);
    return CALL_EXIT_STATUS_BASE + reply->status;
  }
  return 0;
}

int cmd_call(dsb_client *c, const char *device, const char *service,
             const char *method, const char *arg) {
  uint8_t *buf = NULL;
  const uint8_t *payload = (const uint8_t *)"";
  size_t len = 0;
  if (arg && strcmp(arg, "-") == 0) {
    size_t cap = dsb_ipc_rpc_call_payload_max(strlen(service), strlen(method));
    buf = malloc(cap ? cap : 1);
    long n = buf ? call_read_stdin(buf, cap) : -1;
    if (n < 0) {
      fprintf(stderr,
              "dsb: oversize: stdin is over the %zu bytes one call can "
              "carry (or unreadable)\n",
              cap);
      free(buf);
      return 1;
    }
    payload = buf;
    len = (size_t)n;
  } else if (arg) {
    payload = (const uint8_t *)arg;
    len = strlen(arg);
  }
  dsb_client_rpc_reply reply;
  int status = call_do(c, device, service, method, payload, len, &reply);
  free(buf);
  if (status == 0 && reply.payloadlen) {
    fwrite(reply.payload, 1, reply.payloadlen, stdout);
    if (fflush(stdout) != 0) {
      status = 1;
    }
  }
  if (status != 1) {
    dsb_client_rpc_reply_free(&reply);
  }
  return status;
}

/* Parse a JSON reply payload; NULL (and a message) if it is not JSON. */
static json_object *call_parse(const dsb_client_rpc_reply *reply,
                               const char *what) {
  json_tokener *tok = json_tokener_new();
  json_object *o =
      tok ? json_tokener_parse_ex(tok, (const char *)reply->payload,
                                  (int)reply->payloadlen)
          : NULL;
  if (tok) {
    json_tokener_free(tok);
  }
  if (!o) {
    fprintf(stderr, "dsb: %s: the reply is not JSON\n", what);
  }
  return o;
}

static const char *call_jstr(json_object *o, const char *key) {
  json_object *v;
  if (json_object_object_get_ex(o, key, &v) &&
      json_object_is_type(v, json_type_string)) {
    return json_object_get_string(v);
  }
  return "";
}

/* `dsb services DEVICE` and `dsb bundles DEVICE`: a remote list call. */
static int call_list(dsb_client *c, const char *device, const char *service,
                     const char *key, int json) {
  dsb_client_rpc_reply reply;
  int status = call_do(c, device, service, "list", NULL, 0, &reply);
  if (status) {
    if (status != 1) {
      dsb_client_rpc_reply_free(&reply);
    }
    return status;
  }
  json_object *o = call_parse(&reply, service);
  dsb_client_rpc_reply_free(&reply);
  json_object *arr;
  if (!o || !json_object_object_get_ex(o, key, &arr) ||
      !json_object_is_type(arr, json_type_array)) {
    json_object_put(o);
    return 1;
  }
  if (json) {
    printf("%s\n",
           json_object_to_json_string_ext(
               arr, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    return 0;
  }
  size_t n = json_object_array_length(arr);
  for (size_t i = 0; i < n; ++i) {
    json_object *e = json_object_array_get_idx(arr, i);
    if (strcmp(key, "services") == 0) {
      const char *bundle = call_jstr(e, "bundle");
      printf("%-24s %-8s %s%s%s\n", call_jstr(e, "name"), call_jstr(e, "kind"),
             call_jstr(e, "description"), bundle[0] ? "  bundle " : "", bundle);
    } else {
      printf("%-32s %-12s", call_jstr(e, "name"), call_jstr(e, "version"));
      json_object *svcs;
      if (json_object_object_get_ex(e, "services", &svcs) &&
          json_object_is_type(svcs, json_type_array)) {
        size_t m = json_object_array_length(svcs);
        for (size_t j = 0; j < m; ++j) {
          printf("%s%s", j ? "," : " ",
                 json_object_get_string(json_object_array_get_idx(svcs, j)));
        }
      }
      printf("\n");
    }
  }
  if (n == 0) {
    printf("(none)\n");
  }
  json_object_put(o);
  return 0;
}

int cmd_services(dsb_client *c, const char *device, int json) {
  return call_list(c, device, "samgr", "services", json);
}

int cmd_bundles(dsb_client *c, const char *device, int json) {
  return call_list(c, device, "bundles", "bundles", json);
}

int cmd_policy_check(dsb_client *c, const char *device, const char *service,
                     const char *method, int json) {
  long rule;
  char text[DSB_IPC_RPC_EXPLAIN_MAX + 1];
  int rv = dsb_client_rpc_policy_check(c, device, service, method, &rule, text,
                                       sizeof(text));
  if (rv) {
    if (rv == DSB_ERR_INVALID_ARGUMENT) {
      fprintf(stderr,
              "dsb: '%s' / '%s' is not a service / method name (1..64 of "
              "A-Z a-z 0-9 . _ -)\n",
              service, method);
    } else {
      cli_error(rv, device, service, "policy check");
    }
    return 1;
  }
  if (json) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "allowed", json_object_new_boolean(rule >= 0));
    json_object_object_add(o, "rule", json_object_new_int64(rule));
    json_object_object_add(o, "explanation", json_object_new_string(text));
    printf("%s\n",
           json_object_to_json_string_ext(
               o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
  } else {
    printf("%s\n", text);
  }
  return rule >= 0 ? 0 : CALL_EXIT_STATUS_BASE + DSB_RPC_DENIED;
}
