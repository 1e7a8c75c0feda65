/* test_services.c - service registry, built-ins (samgr, bundles, echo) and
 * the dispatcher: policy first, then lookup, then the service. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <json-c/json.h>

#include "dsb/err.h"
#include "dsb/policy.h"
#include "dsb/rpc.h"
#include "dsb/service_name.h"
#include "dsb/services.h"

#define PEER "00112233445566778899aabbccddeeff"
#define T DSB_POLICY_PEER_TRUSTED

typedef struct fixture {
  dsb_services *svc;
  dsb_policy *pol;
  uint8_t reply[DSB_RPC_MAX_REPLY_DEFAULT];
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  assert_int_equal(dsb_services_new(&f->svc, NULL), 0);
  assert_int_equal(dsb_policy_new_default(&f->pol, NULL), 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  dsb_policy_del(f->pol);
  dsb_services_del(f->svc);
  free(f);
  return 0;
}

static void set_policy(fixture *f, const char *json) {
  dsb_policy *p = NULL;
  char err[256];
  assert_int_equal(dsb_policy_load_json(&p, NULL, "t.json", json, strlen(json),
                                        err, sizeof(err)),
                   0);
  dsb_policy_del(f->pol);
  f->pol = p;
}

static const char allow_all[] =
    "{\"rules\": [{\"peer\": \"any\", \"service\": \"*\", \"method\": \"*\"}]}";

/* Dispatch a call and decode the reply it produced. */
static dsb_services_result call_full(fixture *f, unsigned flags,
                                     const char *svc, const char *meth,
                                     const void *payload, size_t payloadlen,
                                     const dsb_rpc_limits *limits,
                                     dsb_rpc_reply *rep) {
  dsb_rpc_call c = {svc,     strlen(svc), meth, strlen(meth),
                    payload, payloadlen,  4242};
  dsb_services_result res;
  assert_int_equal(dsb_services_dispatch(f->svc, &res, f->reply,
                                         sizeof(f->reply), f->pol, PEER, flags,
                                         &c, limits),
                   0);
  if (res.action == DSB_SERVICES_REPLY) {
    dsb_rpc_msg m;
    assert_int_equal(dsb_rpc_decode(&m, f->reply, res.replylen, limits), 0);
    assert_int_equal(m.op, DSB_RPC_OP_REPLY);
    assert_true(m.reply.nonce == 4242);
    assert_int_equal(m.reply.status, res.status);
    assert_int_equal(dsb_rpc_status_to_err(res.status), res.err);
    if (rep) {
      *rep = m.reply;
    }
  }
  return res;
}

static dsb_services_result call(fixture *f, unsigned flags, const char *svc,
                                const char *meth, const char *payload,
                                dsb_rpc_reply *rep) {
  return call_full(f, flags, svc, meth, payload, payload ? strlen(payload) : 0,
                   NULL, rep);
}

/* Parse a reply payload as JSON (the caller puts the result). */
static json_object *reply_json(const dsb_rpc_reply *rep) {
  json_tokener *tok = json_tokener_new();
  json_object *o = json_tokener_parse_ex(tok, (const char *)rep->payload,
                                         (int)rep->payloadlen);
  assert_int_equal(json_tokener_get_error(tok), json_tokener_success);
  assert_int_equal(json_tokener_get_parse_end(tok), rep->payloadlen);
  json_tokener_free(tok);
  assert_non_null(o);
  return o;
}

static json_object *jget(json_object *o, const char *key) {
  json_object *v = NULL;
  assert_true(json_object_object_get_ex(o, key, &v));
  return v;
}

/* A counting in-process service. */
typedef struct counter {
  int calls;
  size_t reply_size;
  long ret;
} counter;

static long counting_handler(void *ctx, uint8_t *out, size_t outlen,
                             const dsb_services_request *req) {
  counter *c = ctx;
  c->calls++;
  assert_string_equal(req->peer_id, PEER);
  if (c->ret < 0) {
    return c->ret;
  }
  if (c->reply_size > outlen) {
    return DSB_ERR_NOBUF;
  }
  memset(out, 'r', c->reply_size);
  return (long)c->reply_size;
}

/* ---- built-ins -------------------------------------------------------------
 */

static void test_builtins_registered(void **state) {
  fixture *f = *state;
  dsb_service_info info;
  assert_int_equal(dsb_services_count(f->svc), 3);
  assert_int_equal(dsb_services_lookup(f->svc, &info, "samgr", 5), 0);
  assert_int_equal(info.kind, DSB_SERVICE_KIND_BUILTIN);
  assert_int_equal(dsb_services_lookup(f->svc, &info, "bundles", 7), 0);
  assert_int_equal(dsb_services_lookup(f->svc, &info, "echo", 4), 0);
  assert_int_equal(dsb_services_lookup(f->svc, &info, "ech", 3),
                   DSB_ERR_NOT_FOUND);
  assert_int_equal(dsb_services_remove(f->svc, "samgr"), DSB_ERR_PERMISSION);
  assert_int_equal(dsb_services_add_app(f->svc, "echo", NULL, 1),
                   DSB_ERR_EXISTS);
}

static void test_echo_and_ping(void **state) {
  fixture *f = *state;
  dsb_rpc_reply rep;
  dsb_services_result res = call(f, T, "echo", "echo", "hello", &rep);
  assert_int_equal(res.status, DSB_RPC_OK);
  assert_null(res.label);
  assert_int_equal(res.rule, 2);
  assert_int_equal(rep.payloadlen, 5);
  assert_memory_equal(rep.payload, "hello", 5);
  res = call(f, T, "echo", "ping", "ignored", &rep);
  assert_int_equal(res.status, DSB_RPC_OK);
  assert_int_equal(rep.payloadlen, 0);
  res = call(f, T, "echo", "echo", NULL, &rep);
  assert_int_equal(res.status, DSB_RPC_OK);
  assert_int_equal(rep.payloadlen, 0);
}

/* The largest request payload echoes back within the default reply limit. */
static void test_echo_max_request(void **state) {
  fixture *f = *state;
  size_t n = dsb_rpc_call_max_payload(NULL, 4, 4);
  uint8_t *payload = malloc(n);
  assert_non_null(payload);
  for (size_t i = 0; i < n; ++i) {
    payload[i] = (uint8_t)(i * 7);
  }
  dsb_rpc_reply rep;
  dsb_services_result res =
      call_full(f, T, "echo", "echo", payload, n, NULL, &rep);
  assert_int_equal(res.status, DSB_RPC_OK);
  assert_int_equal(rep.payloadlen, n);
  assert_memory_equal(rep.payload, payload, n);
  free(payload);
}

static void test_samgr_list(void **state) {
  fixture *f = *state;
  dsb_bundle_service bs[] = {{"camera", "takes pictures"}};
  dsb_bundle b = {"com.example.cam", "1.2.0", bs, 1};
  assert_int_equal(dsb_services_bundle_add(f->svc, &b, 7), 0);
  assert_int_equal(dsb_services_add_app(f->svc, "notes", "a/b \"notes\"", 8),
                   0);
  dsb_rpc_reply rep;
  dsb_services_result res = call(f, T, "samgr", "list", NULL, &rep);
  assert_int_equal(res.status, DSB_RPC_OK);
  json_object *o = reply_json(&rep);
  json_object *arr = jget(o, "services");
  assert_int_equal(json_object_array_length(arr), 5);
  int seen_cam = 0, seen_notes = 0, seen_samgr = 0;
  for (size_t i = 0; i < json_object_array_length(arr); ++i) {
    json_object *s = json_object_array_get_idx(arr, i);
    const char *name = json_object_get_string(jget(s, "name"));
    const char *kind = json_object_get_string(jget(s, "kind"));
    if (strcmp(name, "camera") == 0) {
      seen_cam = 1;
      assert_string_equal(kind, "app");
      assert_string_equal(json_object_get_string(jget(s, "bundle")),
                          "com.example.cam");
      assert_string_equal(json_object_get_string(jget(s, "description")),
                          "takes pictures");
    } else if (strcmp(name, "notes") == 0) {
      seen_notes = 1;
      assert_string_equal(json_object_get_string(jget(s, "description")),
                          "a/b \"notes\"");
      assert_false(json_object_object_get_ex(s, "bundle", NULL));
    } else if (strcmp(name, "samgr") == 0) {
      seen_samgr = 1;
      assert_string_equal(kind, "builtin");
    }
  }
  assert_true(seen_cam && seen_notes && seen_samgr);
  json_object_put(o);
  /* The listing takes no payload. */
  res = call(f, T, "samgr", "list", "x", &rep);
  assert_int_equal(res.status, DSB_RPC_MALFORMED);
}

static void test_samgr_resolve(void **state) {
  fixture *f = *state;
  assert_int_equal(dsb_services_add_app(f->svc, "camera", "pictures", 3), 0);
  dsb_rpc_reply rep;
  dsb_services_result res = call(f, T, "samgr", "resolve", "camera", &rep);
  assert_int_equal(res.status, DSB_RPC_OK);
  json_object *o = reply_json(&rep);
  assert_string_equal(json_object_get_string(jget(o, "name")), "camera");
  assert_string_equal(json_object_get_string(jget(o, "description")),
                      "pictures");
  assert_string_equal(json_object_get_string(jget(o, "kind")), "app");
  json_object_put(o);
  /* Unknown name: unknown_service; not a name: malformed. */
  res = call(f, T, "samgr", "resolve", "radio", &rep);
  assert_int_equal(res.status, DSB_RPC_UNKNOWN_SERVICE);
  assert_int_equal(rep.payloadlen, 0);
  res = call(f, T, "samgr", "resolve", "not a name", &rep);
  assert_int_equal(res.status, DSB_RPC_MALFORMED);
  res = call(f, T, "samgr", "resolve", NULL, &rep);
  assert_int_equal(res.status, DSB_RPC_MALFORMED);
}

static void test_bundles_list(void **state) {
  fixture *f = *state;
  set_policy(f, allow_all);
  dsb_bundle_service bs[] = {{"camera", NULL}, {"flash", "light"}};
  dsb_bundle b1 = {"com.example.cam", "1.2.0+b7", bs, 2};
  dsb_bundle b2 = {"org.example.empty", "0.1", NULL, 0};
  assert_int_equal(dsb_services_bundle_add(f->svc, &b1, 7), 0);
  assert_int_equal(dsb_services_bundle_add(f->svc, &b2, 8), 0);
  assert_int_equal(dsb_services_bundle_count(f->svc), 2);
  dsb_rpc_reply rep;
  dsb_services_result res = call(f, 0, "bundles", "list", NULL, &rep);
  assert_int_equal(res.status, DSB_RPC_OK);
  json_object *o = reply_json(&rep);
  json_object *arr = jget(o, "bundles");
  assert_int_equal(json_object_array_length(arr), 2);
  json_object *cam = json_object_array_get_idx(arr, 0);
  assert_string_equal(json_object_get_string(jget(cam, "name")),
                      "com.example.cam");
  assert_string_equal(json_object_get_string(jget(cam, "version")), "1.2.0+b7");
  json_object *svcs = jget(cam, "services");
  assert_int_equal(json_object_array_length(svcs), 2);
  assert_string_equal(
      json_object_get_string(json_object_array_get_idx(svcs, 1)), "flash");
  json_object_put(o);
  res = call(f, 0, "bundles", "install", NULL, &rep);
  assert_int_equal(res.status, DSB_RPC_UNKNOWN_METHOD);
}

/* ---- bundles and owners ----------------------------------------------------
 */

static void test_bundle_all_or_nothing(void **state) {
  fixture *f = *state;
  dsb_bundle_service dup[] = {{"a1", NULL}, {"echo", NULL}};
  dsb_bundle b = {"com.x", "1", dup, 2};
  assert_int_equal(dsb_services_bundle_add(f->svc, &b, 7), DSB_ERR_EXISTS);
  assert_int_equal(dsb_services_count(f->svc), 3);
  assert_int_equal(dsb_services_bundle_count(f->svc), 0);
  dsb_bundle_service twice[] = {{"a1", NULL}, {"a1", NULL}};
  b.services = twice;
  assert_int_equal(dsb_services_bundle_add(f->svc, &b, 7), DSB_ERR_EXISTS);
  dsb_bundle_service ok[] = {{"a1", NULL}, {"a2", NULL}};
  b.services = ok;
  assert_int_equal(dsb_services_bundle_add(f->svc, &b, 7), 0);
  assert_int_equal(dsb_services_bundle_add(f->svc, &b, 7), DSB_ERR_EXISTS);
  assert_int_equal(dsb_services_count(f->svc), 5);
  /* Withdrawing one service takes it off the bundle's list. */
  assert_int_equal(dsb_services_remove(f->svc, "a1"), 0);
  char buf[512];
  long n = dsb_services_bundles_json(f->svc, buf, sizeof(buf));
  assert_true(n > 0);
  buf[n] = '\0';
  assert_string_equal(
      buf, "{\"bundles\":[{\"name\":\"com.x\",\"version\":\"1\",\"services\":["
           "\"a2\"]}]}");
  assert_int_equal(dsb_services_bundle_remove(f->svc, "com.x"), 0);
  assert_int_equal(dsb_services_bundle_remove(f->svc, "com.x"),
                   DSB_ERR_NOT_FOUND);
  assert_int_equal(dsb_services_count(f->svc), 3);
}

static void test_reject_invalid_bundle_fields(void **state) {
  fixture *f = *state;
  dsb_bundle_service bad_name[] = {{"bad name", NULL}};
  dsb_bundle_service bad_desc[] = {{"ok", "tab\there"}};
  dsb_bundle_service many[DSB_SERVICES_PER_BUNDLE_MAX + 1];
  for (size_t i = 0; i < sizeof(many) / sizeof(many[0]); ++i) {
    many[i] = (dsb_bundle_service){"x", NULL};
  }
  dsb_bundle cases[] = {
      {"", "1", NULL, 0},
      {"com.x", "", NULL, 0},
      {"com.x", "1 2", NULL, 0},
      {"com.x", "123456789012345678901234567890123", NULL, 0},
      {"com/x", "1", NULL, 0},
      {"com.x", "1", bad_name, 1},
      {"com.x", "1", bad_desc, 1},
      {"com.x", "1", many, DSB_SERVICES_PER_BUNDLE_MAX + 1},
      {"com.x", "1", NULL, 1},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
    assert_int_equal(dsb_services_bundle_add(f->svc, &cases[i], 7),
                     DSB_ERR_INVALID_ARGUMENT);
  }
  dsb_bundle ok = {"com.x", "1", NULL, 0};
  assert_int_equal(dsb_services_bundle_add(f->svc, &ok, 0),
                   DSB_ERR_INVALID_ARGUMENT);
  assert_int_equal(dsb_services_add_app(f->svc, "x", NULL, 0),
                   DSB_ERR_INVALID_ARGUMENT);
  char desc[DSB_SERVICES_DESC_MAX + 2];
  memset(desc, 'd', sizeof(desc) - 1);
  desc[sizeof(desc) - 1] = '\0';
  assert_int_equal(dsb_services_add_app(f->svc, "x", desc, 1),
                   DSB_ERR_INVALID_ARGUMENT);
  desc[DSB_SERVICES_DESC_MAX] = '\0';
  assert_int_equal(dsb_services_add_app(f->svc, "x", desc, 1), 0);
}

static void test_registry_caps(void **state) {
  fixture *f = *state;
  char name[16], desc[DSB_SERVICES_DESC_MAX + 1];
  size_t added = 0;
  memset(desc, 'd', DSB_SERVICES_DESC_MAX);
  desc[DSB_SERVICES_DESC_MAX] = '\0';
  for (int i = 0; i < DSB_SERVICES_MAX; ++i) {
    snprintf(name, sizeof(name), "s%d", i);
    int rv = dsb_services_add_app(f->svc, name, desc, 1);
    if (rv == DSB_ERR_LIMIT) {
      break;
    }
    assert_int_equal(rv, 0);
    added++;
  }
  assert_int_equal(added, DSB_SERVICES_MAX - 3);
  assert_int_equal(dsb_services_add_app(f->svc, "more", NULL, 1),
                   DSB_ERR_LIMIT);
  dsb_bundle_service bs[] = {{"more", NULL}};
  dsb_bundle b = {"com.more", "1", bs, 1};
  assert_int_equal(dsb_services_bundle_add(f->svc, &b, 2), DSB_ERR_LIMIT);
  /* The samgr listing of a full registry fits the default reply limit. */
  dsb_rpc_reply rep;
  dsb_services_result res = call(f, T, "samgr", "list", NULL, &rep);
  assert_int_equal(res.status, DSB_RPC_OK);
  assert_true(rep.payloadlen > DSB_SERVICES_MAX * DSB_SERVICES_DESC_MAX / 2);
  assert_int_equal(dsb_services_remove_owner(f->svc, 1), added);
  for (int i = 0; i < DSB_SERVICES_MAX_BUNDLES; ++i) {
    snprintf(name, sizeof(name), "b%d", i);
    dsb_bundle e = {name, "1", NULL, 0};
    assert_int_equal(dsb_services_bundle_add(f->svc, &e, 3), 0);
  }
  dsb_bundle e = {"one.more", "1", NULL, 0};
  assert_int_equal(dsb_services_bundle_add(f->svc, &e, 3), DSB_ERR_LIMIT);
  assert_int_equal(dsb_services_remove_owner(f->svc, 3), 0);
  assert_int_equal(dsb_services_bundle_count(f->svc), 0);
}

/* ---- dispatch decisions ----------------------------------------------------
 */

static void test_app_service_forwarded(void **state) {
  fixture *f = *state;
  set_policy(f, allow_all);
  assert_int_equal(dsb_services_add_app(f->svc, "camera", NULL, 99), 0);
  dsb_services_result res = call(f, 0, "camera", "snap", "x", NULL);
  assert_int_equal(res.action, DSB_SERVICES_FORWARD);
  assert_true(res.owner == 99);
  assert_int_equal(res.rule, 0);
  dsb_services_stats st;
  dsb_services_get_stats(f->svc, &st);
  assert_int_equal(st.forwarded, 1);
}

/*
 * An app exits: its services are withdrawn and the calls forwarded to it
 * are answered "unavailable" (the daemon's side, with the cores).
 */
static void test_app_exit_answers_unavailable(void **state) {
  fixture *f = *state;
  set_policy(f, allow_all);
  int app; /* stands for the daemon's client object */
  assert_int_equal(dsb_services_add_app(f->svc, "camera", NULL, 5), 0);
  dsb_rpc_pending *fwd = NULL;
  assert_int_equal(dsb_rpc_pending_new(&fwd, NULL, NULL, NULL), 0);
  dsb_device_id caller;
  memset(caller.b, 1, sizeof(caller.b));
  uint64_t local[3];
  for (int i = 0; i < 3; ++i) {
    dsb_services_result res = call(f, 0, "camera", "snap", NULL, NULL);
    assert_int_equal(res.action, DSB_SERVICES_FORWARD);
    /* Remember the remote nonce as the tag. */
    assert_int_equal(
        dsb_rpc_pending_add(fwd, &local[i], &caller, 1, 0, &app, 4242, 0), 0);
  }
  /* The app answers the first call itself (by its local nonce). */
  dsb_rpc_pending_call pc;
  assert_int_equal(dsb_rpc_pending_complete_user(fwd, &pc, &app, local[0], 1),
                   0);
  assert_true(pc.tag == 4242);
  assert_int_equal(dsb_services_remove_owner(f->svc, 5), 1);
  int answered = 0;
  while (dsb_rpc_pending_take_user(fwd, &pc, &app)) {
    dsb_rpc_reply r = {DSB_RPC_UNAVAILABLE, NULL, 0, pc.tag};
    long n = dsb_rpc_reply_encode(f->reply, sizeof(f->reply), &r, NULL);
    assert_int_equal(n, DSB_RPC_REPLY_OVERHEAD);
    answered++;
  }
  assert_int_equal(answered, 2);
  /* Later calls find no such service. */
  dsb_services_result res = call(f, 0, "camera", "snap", NULL, NULL);
  assert_int_equal(res.status, DSB_RPC_UNKNOWN_SERVICE);
  dsb_rpc_pending_del(fwd);
}

static void test_handler_service(void **state) {
  fixture *f = *state;
  set_policy(f, allow_all);
  counter c = {0, 3, 0};
  assert_int_equal(
      dsb_services_add_handler(f->svc, "count", "counts", counting_handler, &c),
      0);
  dsb_rpc_reply rep;
  dsb_services_result res = call(f, 0, "count", "any", "p", &rep);
  assert_int_equal(res.status, DSB_RPC_OK);
  assert_int_equal(c.calls, 1);
  assert_memory_equal(rep.payload, "rrr", 3);
  c.ret = DSB_ERR_PROXY_UNKNOWN_METHOD;
  res = call(f, 0, "count", "any", "p", &rep);
  assert_int_equal(res.status, DSB_RPC_UNKNOWN_METHOD);
  c.ret = DSB_ERR_IO;
  res = call(f, 0, "count", "any", "p", &rep);
  assert_int_equal(res.status, DSB_RPC_FAILED);
  assert_null(res.label);
  assert_int_equal(dsb_services_remove(f->svc, "count"), 0);
  assert_int_equal(dsb_services_remove(f->svc, "count"), DSB_ERR_NOT_FOUND);
}

/* No rule matches: denied, and the service never runs. */
static void test_reject_denied_service_not_invoked(void **state) {
  fixture *f = *state;
  set_policy(f, "{\"rules\": [{\"peer\": \"any\", \"service\": \"echo\", "
                "\"method\": \"*\"}]}");
  counter c = {0, 3, 0};
  assert_int_equal(
      dsb_services_add_handler(f->svc, "count", NULL, counting_handler, &c), 0);
  dsb_rpc_reply rep;
  dsb_services_result res = call(f, T, "count", "get", "secret", &rep);
  assert_int_equal(res.action, DSB_SERVICES_REPLY);
  assert_int_equal(res.status, DSB_RPC_DENIED);
  assert_int_equal(res.err, DSB_ERR_PROXY_DENIED);
  assert_int_equal(res.rule, -1);
  assert_string_equal(res.label, "proxy.reject.denied");
  assert_int_equal(rep.payloadlen, 0);
  assert_int_equal(c.calls, 0);

  /* The log line names peer, service and method, never the payload. */
  char line[256];
  dsb_rpc_call cl = {"count", 5, "get", 3, (const uint8_t *)"secret", 6, 1};
  long n = dsb_services_format_reject(line, sizeof(line), &res, PEER, &cl);
  assert_true(n > 0);
  assert_string_equal(line, "proxy.reject.denied peer=" PEER
                            " service=count method=get");
  assert_null(strstr(line, "secret"));

  /* Denied also for an app service: nothing is forwarded. */
  assert_int_equal(dsb_services_add_app(f->svc, "camera", NULL, 9), 0);
  res = call(f, T, "camera", "snap", NULL, NULL);
  assert_int_equal(res.action, DSB_SERVICES_REPLY);
  assert_int_equal(res.status, DSB_RPC_DENIED);
  dsb_services_stats st;
  dsb_services_get_stats(f->svc, &st);
  assert_int_equal(st.denied, 2);
  assert_int_equal(st.forwarded, 0);
}

/* Denial comes before existence: a denied caller cannot probe names. */
static void test_reject_denied_before_unknown_service(void **state) {
  fixture *f = *state;
  dsb_services_result res = call(f, T, "nosuch", "x", NULL, NULL);
  assert_int_equal(res.status, DSB_RPC_DENIED);
}

static void test_reject_unknown_service(void **state) {
  fixture *f = *state;
  set_policy(f, allow_all);
  dsb_rpc_reply rep;
  dsb_services_result res = call(f, 0, "nosuch", "x", "p", &rep);
  assert_int_equal(res.status, DSB_RPC_UNKNOWN_SERVICE);
  assert_int_equal(res.rule, 0);
  assert_string_equal(res.label, "proxy.reject.unknown_service");
  assert_int_equal(rep.payloadlen, 0);
}

static void test_reject_unknown_method(void **state) {
  fixture *f = *state;
  dsb_services_result res = call(f, T, "echo", "shout", "p", NULL);
  assert_int_equal(res.status, DSB_RPC_UNKNOWN_METHOD);
  assert_string_equal(res.label, "proxy.reject.unknown_method");
}

static void test_reject_untrusted_caller(void **state) {
  fixture *f = *state;
  dsb_services_result res = call(f, 0, "echo", "echo", "hi", NULL);
  assert_int_equal(res.status, DSB_RPC_DENIED);
  res = call(f, 0, "samgr", "list", NULL, NULL);
  assert_int_equal(res.status, DSB_RPC_DENIED);
}

/* A reply larger than the limit is replaced by an empty oversize reply. */
static void test_reject_oversized_reply(void **state) {
  fixture *f = *state;
  set_policy(f, allow_all);
  dsb_rpc_limits small = {1024, 512};
  counter c = {0, 512 - DSB_RPC_REPLY_OVERHEAD, 0};
  assert_int_equal(
      dsb_services_add_handler(f->svc, "big", NULL, counting_handler, &c), 0);
  dsb_rpc_reply rep;
  /* Exactly at the limit: fine. */
  dsb_services_result res =
      call_full(f, 0, "big", "get", NULL, 0, &small, &rep);
  assert_int_equal(res.status, DSB_RPC_OK);
  assert_int_equal(res.replylen, 512);
  /* One byte more: oversize, empty payload. */
  c.reply_size++;
  res = call_full(f, 0, "big", "get", NULL, 0, &small, &rep);
  assert_int_equal(res.status, DSB_RPC_OVERSIZE);
  assert_string_equal(res.label, "proxy.reject.oversize");
  assert_int_equal(rep.payloadlen, 0);
  /* Echo of a request bigger than the reply limit, and a samgr list. */
  uint8_t payload[600];
  memset(payload, 1, sizeof(payload));
  res = call_full(f, 0, "echo", "echo", payload, sizeof(payload), &small, &rep);
  assert_int_equal(res.status, DSB_RPC_OVERSIZE);
  dsb_rpc_limits tiny = {256, 256};
  for (int i = 0; i < 5; ++i) {
    char name[8];
    snprintf(name, sizeof(name), "svc%d", i);
    assert_int_equal(dsb_services_add_app(f->svc, name, NULL, 1), 0);
  }
  res = call_full(f, 0, "samgr", "list", NULL, 0, &tiny, &rep);
  assert_int_equal(res.status, DSB_RPC_OVERSIZE);
}

/* The reply buffer, not only the limit, bounds the reply. */
static void test_reply_buffer_bounds(void **state) {
  fixture *f = *state;
  uint8_t small[32];
  dsb_rpc_call c = {"echo", 4, "echo", 4, (const uint8_t *)"0123456789ab",
                    12,     1};
  dsb_services_result res;
  assert_int_equal(
      dsb_services_dispatch(f->svc, &res, small, 27, f->pol, PEER, T, &c, NULL),
      0);
  assert_int_equal(res.status, DSB_RPC_OK);
  assert_int_equal(res.replylen, 27);
  assert_int_equal(
      dsb_services_dispatch(f->svc, &res, small, 26, f->pol, PEER, T, &c, NULL),
      0);
  assert_int_equal(res.status, DSB_RPC_OVERSIZE);
  assert_int_equal(
      dsb_services_dispatch(f->svc, &res, small, 14, f->pol, PEER, T, &c, NULL),
      DSB_ERR_NOBUF);
  assert_int_equal(dsb_services_dispatch(f->svc, &res, small, sizeof(small),
                                         NULL, PEER, T, &c, NULL),
                   DSB_ERR_INVALID_ARGUMENT);
}

/* A malformed or oversized request never reaches dispatch: the callee
 * answers from the frame's nonce and the caller hears the status. */
static void test_reject_oversized_request_end_to_end(void **state) {
  fixture *f = *state;
  dsb_rpc_limits callee = {512, 512};
  dsb_rpc_pending *p = NULL;
  assert_int_equal(dsb_rpc_pending_new(&p, NULL, NULL, NULL), 0);
  dsb_device_id peer;
  memset(peer.b, 2, sizeof(peer.b));
  uint64_t nonce;
  assert_int_equal(dsb_rpc_pending_add(p, &nonce, &peer, 1, 0, NULL, 0, 0), 0);
  static uint8_t payload[1000], frame[2048];
  dsb_rpc_call c = {"echo", 4, "echo", 4, payload, sizeof(payload), nonce};
  long n = dsb_rpc_call_encode(frame, sizeof(frame), &c, NULL);
  assert_true(n > 0);
  dsb_rpc_msg m;
  int err = dsb_rpc_decode(&m, frame, (size_t)n, &callee);
  assert_int_equal(err, DSB_ERR_PROXY_OVERSIZE);
  long rn =
      dsb_rpc_reject_encode(f->reply, sizeof(f->reply), frame, (size_t)n, err);
  assert_true(rn > 0);
  assert_int_equal(dsb_rpc_decode(&m, f->reply, (size_t)rn, NULL), 0);
  dsb_rpc_pending_call pc;
  assert_int_equal(dsb_rpc_pending_complete(p, &pc, 1, m.reply.nonce, 1), 0);
  assert_int_equal(dsb_rpc_status_to_err(m.reply.status),
                   DSB_ERR_PROXY_OVERSIZE);
  dsb_rpc_pending_del(p);
}

/* ---- the callee's entry point: one dsb.rpc message -------------------- */

static long encode_call(uint8_t *dst, size_t dstlen, const char *svc,
                        const char *meth, const void *payload,
                        size_t payloadlen, uint64_t nonce) {
  dsb_rpc_call c = {svc,     strlen(svc), meth, strlen(meth),
                    payload, payloadlen,  nonce};
  return dsb_rpc_call_encode(dst, dstlen, &c, NULL);
}

static void test_handle_message_call(void **state) {
  fixture *f = *state;
  uint8_t msg[64];
  long n = encode_call(msg, sizeof(msg), "echo", "echo", "abc", 3, 31);
  dsb_services_result res;
  dsb_rpc_call call;
  assert_int_equal(dsb_services_handle_message(f->svc, &res, &call, f->reply,
                                               sizeof(f->reply), f->pol, PEER,
                                               T, msg, (size_t)n, NULL),
                   0);
  assert_int_equal(res.action, DSB_SERVICES_REPLY);
  assert_int_equal(res.status, DSB_RPC_OK);
  assert_true(call.nonce == 31);
  assert_int_equal(call.servicelen, 4);
  dsb_rpc_msg m;
  assert_int_equal(dsb_rpc_decode(&m, f->reply, res.replylen, NULL), 0);
  assert_memory_equal(m.reply.payload, "abc", 3);
  assert_true(m.reply.nonce == 31);
}

/* Truncated, bad lengths, trailing bytes: the caller hears "malformed". */
static void test_reject_malformed_call_frame(void **state) {
  fixture *f = *state;
  uint8_t msg[64];
  long n = encode_call(msg, sizeof(msg), "echo", "echo", "abc", 3, 77);
  struct {
    size_t len;
    size_t at;
    uint8_t val;
  } cases[] = {
      {(size_t)n + 1, 0, 0}, /* trailing byte (a zero after the nonce) */
      {(size_t)n, 2, 0},     /* service length 0 */
      {(size_t)n, 2, 65},    /* service length over 64 */
      {(size_t)n, 15, 9},    /* payload length beyond the frame */
      {(size_t)n, 4, ' '},   /* bad character in the service name */
      {(size_t)n - 9, 0, 0}, /* truncated: nonce cut, still >= 10 bytes */
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
    uint8_t bad[64];
    memcpy(bad, msg, (size_t)n);
    bad[n] = 0;
    if (cases[i].at) {
      bad[cases[i].at] = cases[i].val;
    }
    dsb_services_result res;
    dsb_rpc_call call;
    assert_int_equal(dsb_services_handle_message(f->svc, &res, &call, f->reply,
                                                 sizeof(f->reply), f->pol, PEER,
                                                 T, bad, cases[i].len, NULL),
                     0);
    assert_int_equal(res.action, DSB_SERVICES_REPLY);
    assert_int_equal(res.status, DSB_RPC_MALFORMED);
    assert_string_equal(res.label, "proxy.reject.malformed");
    assert_int_equal(res.rule, -1);
    dsb_rpc_msg m;
    assert_int_equal(dsb_rpc_decode(&m, f->reply, res.replylen, NULL), 0);
    assert_int_equal(m.reply.payloadlen, 0);
    /* The nonce is whatever the frame's last 8 bytes say. */
    uint8_t op;
    uint64_t nonce;
    assert_int_equal(dsb_rpc_peek(&op, &nonce, bad, cases[i].len), 0);
    assert_true(m.reply.nonce == nonce);
    if (cases[i].len == (size_t)n) {
      assert_true(nonce == 77);
    }
    char line[160];
    assert_true(
        dsb_services_format_reject(line, sizeof(line), &res, PEER, &call) > 0);
    assert_string_equal(line, "proxy.reject.malformed peer=" PEER
                              " service= method=");
  }
  dsb_services_stats st;
  dsb_services_get_stats(f->svc, &st);
  assert_int_equal(st.malformed, sizeof(cases) / sizeof(cases[0]));
}

static void test_reject_frames_dropped_unanswered(void **state) {
  fixture *f = *state;
  uint8_t msg[64];
  dsb_services_result res;
  dsb_rpc_call call;
  long n = encode_call(msg, sizeof(msg), "echo", "echo", "abc", 3, 77);
  /* Bad version: the nonce position is unknown. */
  msg[0] = 2;
  assert_int_equal(dsb_services_handle_message(f->svc, &res, &call, f->reply,
                                               sizeof(f->reply), f->pol, PEER,
                                               T, msg, (size_t)n, NULL),
                   DSB_ERR_PROXY_VERSION);
  /* Too short to carry a nonce. */
  msg[0] = 1;
  assert_int_equal(dsb_services_handle_message(f->svc, &res, &call, f->reply,
                                               sizeof(f->reply), f->pol, PEER,
                                               T, msg, 9, NULL),
                   DSB_ERR_PROXY_MALFORMED);
  /* A reply on a stream the peer opened: replies are never answered. */
  dsb_rpc_reply r = {DSB_RPC_OK, NULL, 0, 5};
  n = dsb_rpc_reply_encode(msg, sizeof(msg), &r, NULL);
  assert_int_equal(dsb_services_handle_message(f->svc, &res, &call, f->reply,
                                               sizeof(f->reply), f->pol, PEER,
                                               T, msg, (size_t)n, NULL),
                   DSB_ERR_PROXY_MALFORMED);
  dsb_services_stats st;
  dsb_services_get_stats(f->svc, &st);
  assert_int_equal(st.dropped, 3);
  assert_int_equal(st.dispatched, 0);
}

static void test_reject_oversized_request_message(void **state) {
  fixture *f = *state;
  static uint8_t msg[2048], payload[1000];
  dsb_rpc_limits callee = {512, 512};
  long n = encode_call(msg, sizeof(msg), "echo", "echo", payload,
                       sizeof(payload), 12);
  dsb_services_result res;
  dsb_rpc_call call;
  assert_int_equal(dsb_services_handle_message(f->svc, &res, &call, f->reply,
                                               sizeof(f->reply), f->pol, PEER,
                                               T, msg, (size_t)n, &callee),
                   0);
  assert_int_equal(res.status, DSB_RPC_OVERSIZE);
  assert_string_equal(res.label, "proxy.reject.oversize");
  assert_true(call.nonce == 12);
}

/* ---- failing allocator ---------------------------------------------------
 */

static void *fm_malloc(size_t size, void *ctx) {
  return (*(int *)ctx)-- > 0 ? malloc(size) : NULL;
}

static void *fm_calloc(size_t n, size_t size, void *ctx) {
  return (*(int *)ctx)-- > 0 ? calloc(n, size) : NULL;
}

static void *fm_realloc(void *ptr, size_t size, void *ctx) {
  return (*(int *)ctx)-- > 0 ? realloc(ptr, size) : NULL;
}

static void fm_free(void *ptr, void *ctx) {
  (void)ctx;
  free(ptr);
}

static void test_failing_allocator(void **state) {
  (void)state;
  int budget = 0;
  dsb_mem mem = {fm_malloc, fm_free, fm_calloc, fm_realloc, &budget};
  dsb_services *s = NULL;
  assert_int_equal(dsb_services_new(&s, &mem), DSB_ERR_NOMEM);
  assert_null(s);
  budget = 1;
  assert_int_equal(dsb_services_new(&s, &mem), 0);
  dsb_services_del(s);
  dsb_services_del(NULL);
}

#define T_(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

/* ---- the service-name rule (dsb/service_name.h) ---------------------------
 */

static long name_rule_handler(void *ctx, uint8_t *out, size_t outlen,
                              const dsb_services_request *req) {
  (void)ctx;
  (void)out;
  (void)outlen;
  (void)req;
  return 0;
}

static void test_service_names_at_the_limit(void **state) {
  fixture *f = *state;
  char s48[DSB_SERVICE_NAME_MAX + 1], b64[DSB_RPC_NAME_MAX + 1];
  memset(s48, 'a', DSB_SERVICE_NAME_MAX);
  s48[DSB_SERVICE_NAME_MAX] = '\0';
  memset(b64, 'b', DSB_RPC_NAME_MAX);
  b64[DSB_RPC_NAME_MAX] = '\0';
  assert_int_equal(dsb_services_add_app(f->svc, s48, NULL, 1), 0);
  s48[0] = 'h';
  assert_int_equal(
      dsb_services_add_handler(f->svc, s48, NULL, name_rule_handler, NULL), 0);
  s48[0] = 'c';
  /* The bundle names an application: it may use the 64 of remote calls. */
  dsb_bundle_service bs[] = {{s48, NULL}};
  dsb_bundle b = {b64, "1", bs, 1};
  assert_int_equal(dsb_services_bundle_add(f->svc, &b, 2), 0);
  /* dsb_services_next walks all of them, built-ins included. */
  dsb_service_info info;
  size_t cur = 0, n = 0, apps = 0;
  while (dsb_services_next(f->svc, &cur, &info)) {
    n++;
    apps += info.kind == DSB_SERVICE_KIND_APP;
  }
  assert_int_equal(n, 6);
  assert_int_equal(apps, 2);
  assert_int_equal(dsb_services_next(f->svc, &cur, &info), 0);
}

static void test_reject_app_service_name_too_long(void **state) {
  fixture *f = *state;
  char s49[DSB_SERVICE_NAME_MAX + 2];
  memset(s49, 'a', DSB_SERVICE_NAME_MAX + 1);
  s49[DSB_SERVICE_NAME_MAX + 1] = '\0';
  assert_int_equal(dsb_services_add_app(f->svc, s49, NULL, 1),
                   DSB_ERR_INVALID_ARGUMENT);
  assert_int_equal(
      dsb_services_add_handler(f->svc, s49, NULL, name_rule_handler, NULL),
      DSB_ERR_INVALID_ARGUMENT);
  assert_int_equal(dsb_services_count(f->svc), 3);
}

static void test_reject_app_service_name_bad_char(void **state) {
  fixture *f = *state;
  static const char *const bad[] = {"a/b", "a:b", "a@b", "a+b", "a b", ""};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
    assert_int_equal(dsb_services_add_app(f->svc, bad[i], NULL, 1),
                     DSB_ERR_INVALID_ARGUMENT);
  }
  assert_int_equal(dsb_services_count(f->svc), 3);
}

static void test_reject_bundle_service_name_too_long(void **state) {
  fixture *f = *state;
  char s49[DSB_SERVICE_NAME_MAX + 2];
  memset(s49, 'a', DSB_SERVICE_NAME_MAX + 1);
  s49[DSB_SERVICE_NAME_MAX + 1] = '\0';
  dsb_bundle_service bs[] = {{"ok", NULL}, {s49, NULL}};
  dsb_bundle b = {"com.x", "1", bs, 2};
  assert_int_equal(dsb_services_bundle_add(f->svc, &b, 2),
                   DSB_ERR_INVALID_ARGUMENT);
  /* All or nothing: neither the bundle nor its first service. */
  assert_int_equal(dsb_services_count(f->svc), 3);
  assert_int_equal(dsb_services_bundle_count(f->svc), 0);
}

static void test_reject_bundle_service_name_bad_char(void **state) {
  fixture *f = *state;
  dsb_bundle_service bs[] = {{"ok", NULL}, {"cam/front", NULL}};
  dsb_bundle b = {"com.x", "1", bs, 2};
  assert_int_equal(dsb_services_bundle_add(f->svc, &b, 2),
                   DSB_ERR_INVALID_ARGUMENT);
  assert_int_equal(dsb_services_count(f->svc), 3);
  assert_int_equal(dsb_services_bundle_count(f->svc), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      T_(test_builtins_registered),
      T_(test_echo_and_ping),
      T_(test_echo_max_request),
      T_(test_samgr_list),
      T_(test_samgr_resolve),
      T_(test_bundles_list),
      T_(test_bundle_all_or_nothing),
      T_(test_reject_invalid_bundle_fields),
      T_(test_registry_caps),
      T_(test_app_service_forwarded),
      T_(test_app_exit_answers_unavailable),
      T_(test_handler_service),
      T_(test_reject_denied_service_not_invoked),
      T_(test_reject_denied_before_unknown_service),
      T_(test_reject_unknown_service),
      T_(test_reject_unknown_method),
      T_(test_reject_untrusted_caller),
      T_(test_reject_oversized_reply),
      T_(test_reply_buffer_bounds),
      T_(test_reject_oversized_request_end_to_end),
      T_(test_handle_message_call),
      T_(test_reject_malformed_call_frame),
      T_(test_reject_frames_dropped_unanswered),
      T_(test_reject_oversized_request_message),
      T_(test_service_names_at_the_limit),
      T_(test_reject_app_service_name_too_long),
      T_(test_reject_app_service_name_bad_char),
      T_(test_reject_bundle_service_name_too_long),
      T_(test_reject_bundle_service_name_bad_char),
      cmocka_unit_test(test_failing_allocator),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
