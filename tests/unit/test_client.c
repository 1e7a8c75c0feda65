/* test_client.c - the client library (include/dsb/client.h) against a
 * scripted fake daemon on a real SOCK_SEQPACKET socket: nonce correlation,
 * stale replies, queued events, descriptors. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <fcntl.h>
#include <unistd.h>
#include <cmocka.h>

#include "dsb/client.h"
#include "dsb/client_rpc.h"
#include "dsb/err.h"
#include "dsb/ipc.h"
#include "dsb/ipc_rpc.h"
#include "dsb/service_name.h"

typedef struct fake {
  char dir[64];
  char path[108];
  int lfd;
  pthread_t thread;
  int joined;
} fake;

static const char *const test_dev = "000102030405060708090a0b0c0d0e0f";

static int fake_send(int fd, const dsb_ipc_msg *m, int pass_fd) {
  uint8_t buf[1024];
  long n = dsb_ipc_encode(buf, sizeof(buf), m);
  if (n < 0) {
    return -1;
  }
  struct iovec iov = {buf, (size_t)n};
  union {
    struct cmsghdr h;
    char b[CMSG_SPACE(sizeof(int))];
  } cm;
  struct msghdr mh;
  memset(&mh, 0, sizeof(mh));
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  if (pass_fd >= 0) {
    memset(&cm, 0, sizeof(cm));
    mh.msg_control = cm.b;
    mh.msg_controllen = sizeof(cm.b);
    struct cmsghdr *ch = CMSG_FIRSTHDR(&mh);
    ch->cmsg_level = SOL_SOCKET;
    ch->cmsg_type = SCM_RIGHTS;
    ch->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(ch), &pass_fd, sizeof(int));
  }
  return sendmsg(fd, &mh, MSG_NOSIGNAL) == n ? 0 : -1;
}

static int fake_recv(int fd, dsb_ipc_msg *m, uint8_t *buf, size_t cap) {
  ssize_t n = recv(fd, buf, cap, 0);
  if (n <= 0) {
    return -1;
  }
  return dsb_ipc_decode(m, buf, (size_t)n);
}

static void fake_send_status(int fd, uint8_t op, uint64_t nonce, int st) {
  uint8_t buf[32];
  long n = dsb_ipc_encode_status(buf, sizeof(buf), op, nonce, st);
  if (n > 0) {
    send(fd, buf, (size_t)n, MSG_NOSIGNAL);
  }
}

/* Number of open descriptors of this process. */
static int fd_count(void) {
  int n = 0;
  for (int fd = 0; fd < 1024; ++fd) {
    if (fcntl(fd, F_GETFD) >= 0) {
      n++;
    }
  }
  return n;
}

static void *fake_main(void *arg) {
  fake *f = arg;
  uint8_t buf[DSB_IPC_MAX_MSG];
  int c = accept(f->lfd, NULL, NULL);
  if (c < 0) {
    return NULL;
  }
  dsb_ipc_msg req, r;
  /* HELLO */
  if (fake_recv(c, &req, buf, sizeof(buf)) != 0) {
    close(c);
    return NULL;
  }
  memset(&r, 0, sizeof(r));
  r.op = DSB_IPC_OP_HELLO | DSB_IPC_REPLY_BIT;
  r.nonce = req.nonce;
  r.u.hello_r.version = DSB_IPC_VERSION;
  fake_send(c, &r, -1);
  /* ID: a stale reply (with a descriptor that must be closed), an event,
   * then the real reply. */
  if (fake_recv(c, &req, buf, sizeof(buf)) == 0) {
    int sv[2];
    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv);
    memset(&r, 0, sizeof(r));
    r.op = DSB_IPC_OP_ID | DSB_IPC_REPLY_BIT;
    r.nonce = req.nonce + 100;
    r.u.id_r.name = dsb_ipc_cstr("stale");
    fake_send(c, &r, sv[0]);
    close(sv[0]);
    close(sv[1]);
    dsb_ipc_msg ev;
    memset(&ev, 0, sizeof(ev));
    ev.op = DSB_IPC_EV_PEER_UP;
    ev.nonce = 1;
    ev.u.peer_up.id.b[0] = 0xab;
    ev.u.peer_up.name = dsb_ipc_cstr("peer");
    fake_send(c, &ev, -1);
    memset(&r, 0, sizeof(r));
    r.op = DSB_IPC_OP_ID | DSB_IPC_REPLY_BIT;
    r.nonce = req.nonce;
    r.u.id_r.name = dsb_ipc_cstr("fake-node");
    r.u.id_r.port = 4242;
    fake_send(c, &r, -1);
  }
  /* OPEN: an error reply for the first, a stream for the second. */
  if (fake_recv(c, &req, buf, sizeof(buf)) == 0) {
    fake_send_status(c, req.op, req.nonce, DSB_ERR_IPC_NO_SERVICE);
  }
  if (fake_recv(c, &req, buf, sizeof(buf)) == 0) {
    int sv[2];
    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv);
    memset(&r, 0, sizeof(r));
    r.op = DSB_IPC_OP_OPEN | DSB_IPC_REPLY_BIT;
    r.nonce = req.nonce;
    r.u.open_r.stream = 7;
    fake_send(c, &r, sv[0]);
    close(sv[0]);
    send(sv[1], "ping", 4, 0);
    close(sv[1]);
  }
  /* Wait for the client to leave. */
  while (recv(c, buf, sizeof(buf), 0) > 0) {
  }
  close(c);
  return NULL;
}

/* Accept one client and answer its HELLO; returns the connection or -1. */
static int fake_accept_hello(fake *f, uint8_t *buf, size_t cap) {
  dsb_ipc_msg req, r;
  int c = accept(f->lfd, NULL, NULL);
  if (c < 0) {
    return -1;
  }
  if (fake_recv(c, &req, buf, cap) != 0) {
    close(c);
    return -1;
  }
  memset(&r, 0, sizeof(r));
  r.op = DSB_IPC_OP_HELLO | DSB_IPC_REPLY_BIT;
  r.nonce = req.nonce;
  r.u.hello_r.version = DSB_IPC_VERSION;
  fake_send(c, &r, -1);
  return c;
}

/* Remote-call requests answered with error replies: the request's own
 * reply op from dsb_ipc_encode_status(), then the generic 0xff. */
static void *fake_rpc_errors_main(void *arg) {
  fake *f = arg;
  static uint8_t buf[DSB_IPC_MAX_MSG];
  int c = fake_accept_hello(f, buf, sizeof(buf));
  if (c < 0) {
    return NULL;
  }
  static const int32_t statuses[] = {DSB_ERR_TRUST_UNKNOWN, DSB_ERR_IPC_NO_PEER,
                                     DSB_ERR_LIMIT};
  for (size_t i = 0; i < 3; ++i) {
    ssize_t n = recv(c, buf, sizeof(buf), 0);
    uint8_t op;
    uint64_t nonce;
    if (n <= 0 || dsb_ipc_peek(&op, &nonce, buf, (size_t)n) != 0) {
      break;
    }
    uint8_t out[32];
    long len =
        i == 0 ? dsb_ipc_encode_status(out, sizeof(out), op, nonce, statuses[i])
               : dsb_ipc_encode_status(out, sizeof(out), 0x7f, nonce,
                                       statuses[i]); /* 0xff */
    if (len > 0) {
      send(c, out, (size_t)len, MSG_NOSIGNAL);
    }
  }
  while (recv(c, buf, sizeof(buf), 0) > 0) {
  }
  close(c);
  return NULL;
}

/* A daemon that, like dsoftbusd, stops reading while it cannot deliver a
 * reply: it answers each remote call with a blocking send of its payload.
 * A client that does not read while it sends deadlocks with it; the send
 * timeout turns that into a closed connection (a failed test, not a hang). */
#define FAKE_FLOOD_CALLS 3000
static size_t fake_reply_size; /* 0: echo the call's payload */
static void *fake_flood_main(void *arg) {
  fake *f = arg;
  static uint8_t buf[DSB_IPC_MAX_MSG];
  static uint8_t out[DSB_IPC_MAX_MSG];
  int c = fake_accept_hello(f, buf, sizeof(buf));
  if (c < 0) {
    return NULL;
  }
  struct timeval tv = {10, 0};
  setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  for (;;) {
    ssize_t n = recv(c, buf, sizeof(buf), 0);
    dsb_ipc_rpc_msg m;
    if (n <= 0 || dsb_ipc_rpc_decode(&m, buf, (size_t)n) != 0) {
      break;
    }
    static uint8_t big[DSB_IPC_RPC_REPLY_PAYLOAD_MAX];
    dsb_ipc_rpc_msg r;
    memset(&r, 0, sizeof(r));
    r.op = (uint8_t)(m.op | DSB_IPC_REPLY_BIT);
    r.nonce = m.nonce;
    if (m.op == DSB_IPC_OP_RPC_CALL) {
      r.u.call_r.rpc_status = DSB_RPC_OK;
      r.u.call_r.payload = m.u.call.payload;
      if (fake_reply_size) {
        r.u.call_r.payload.p = big;
        r.u.call_r.payload.len = fake_reply_size;
      }
    } else {
      r.u.policy_check_r.rule = 0;
      r.u.policy_check_r.explanation = dsb_ipc_cstr("allowed");
    }
    long len = dsb_ipc_rpc_encode(out, sizeof(out), &r);
    if (len < 0 || send(c, out, (size_t)len, MSG_NOSIGNAL) != len) {
      shutdown(c, SHUT_RDWR); /* stuck: fail the client instead of hanging */
      break;
    }
  }
  close(c);
  return NULL;
}

static int fake_start(void **state, void *(*fn)(void *)) {
  fake *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  snprintf(f->dir, sizeof(f->dir), "/tmp/dsb-test-client.XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->path, sizeof(f->path), "%s/s", f->dir);
  f->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  assert_true(f->lfd >= 0);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, f->path, strlen(f->path) + 1);
  assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  assert_int_equal(listen(f->lfd, 4), 0);
  assert_int_equal(pthread_create(&f->thread, NULL, fn, f), 0);
  *state = f;
  return 0;
}

static int fake_setup(void **state) {
  return fake_start(state, fake_main);
}

static int fake_flood_setup(void **state) {
  fake_reply_size = 0;
  return fake_start(state, fake_flood_main);
}

static int fake_big_replies_setup(void **state) {
  fake_reply_size = 60000;
  return fake_start(state, fake_flood_main);
}

static int fake_rpc_errors_setup(void **state) {
  return fake_start(state, fake_rpc_errors_main);
}

/* Answers HELLO, then records what reaches it: names the client library
 * refuses must never be sent. */
static size_t fake_names_packets;
static uint8_t fake_names_first_op;
static char fake_names_first_service[DSB_IPC_SERVICE_MAX + 1];
static void *fake_names_main(void *arg) {
  fake *f = arg;
  static uint8_t buf[DSB_IPC_MAX_MSG];
  int c = fake_accept_hello(f, buf, sizeof(buf));
  if (c < 0) {
    return NULL;
  }
  ssize_t n;
  while ((n = recv(c, buf, sizeof(buf), 0)) > 0) {
    dsb_ipc_msg req, r;
    if (fake_names_packets++ == 0) {
      fake_names_first_op = buf[0];
    }
    if (dsb_ipc_decode(&req, buf, (size_t)n) != 0) {
      continue;
    }
    if (req.op == DSB_IPC_OP_PUBLISH) {
      snprintf(fake_names_first_service, sizeof(fake_names_first_service),
               "%.*s", (int)req.u.service.service.len,
               (const char *)req.u.service.service.p);
    }
    memset(&r, 0, sizeof(r));
    r.op = (uint8_t)(req.op | DSB_IPC_REPLY_BIT);
    r.nonce = req.nonce;
    fake_send(c, &r, -1);
  }
  close(c);
  return NULL;
}

static int fake_names_setup(void **state) {
  fake_names_packets = 0;
  fake_names_first_op = 0;
  fake_names_first_service[0] = '\0';
  return fake_start(state, fake_names_main);
}

static int fake_teardown(void **state) {
  fake *f = *state;
  if (!f->joined) {
    pthread_join(f->thread, NULL);
  }
  close(f->lfd);
  unlink(f->path);
  rmdir(f->dir);
  free(f);
  return 0;
}

static void test_client_correlates_replies(void **state) {
  fake *f = *state;
  int fds_before = fd_count();
  dsb_client *c = NULL;
  assert_int_equal(dsb_client_connect(&c, f->path, 0), 0);

  /* A stale reply (nonce of no request) is dropped and counted, and the
   * descriptor it carried is closed; the event before the real reply is
   * queued. */
  dsb_client_identity id;
  assert_int_equal(dsb_client_id(c, &id), 0);
  assert_string_equal(id.name, "fake-node");
  assert_int_equal(id.session_port, 4242);
  assert_int_equal(dsb_client_stale_replies(c), 1);
  dsb_client_event ev;
  assert_int_equal(dsb_client_next_event(c, &ev, 0), 1);
  assert_int_equal(ev.type, DSB_CLIENT_EV_PEER_UP);
  assert_string_equal(ev.name, "peer");
  assert_int_equal(dsb_client_next_event(c, &ev, 0), 0);

  /* An error reply surfaces its code. */
  const char *dev = test_dev;
  int sfd = -1;
  assert_int_equal(dsb_client_open_stream(c, dev, "echo", 0, &sfd, NULL),
                   DSB_ERR_IPC_NO_SERVICE);
  assert_int_equal(sfd, -1);

  /* A stream reply carries its descriptor. */
  uint32_t handle = 0;
  assert_int_equal(dsb_client_open_stream(c, dev, "echo", 0, &sfd, &handle), 0);
  assert_int_equal(handle, 7);
  char msg[16];
  assert_int_equal(read(sfd, msg, sizeof(msg)), 4);
  assert_memory_equal(msg, "ping", 4);
  close(sfd);
  dsb_client_close(c);
  /* The fake daemon's own descriptors are gone once its thread ended. */
  pthread_join(f->thread, NULL);
  f->joined = 1;
  /* Every descriptor received on any path was closed. */
  assert_int_equal(fd_count(), fds_before);
}

/* Error replies to remote-call requests reach the caller: the request's
 * own reply op (0xa3, ...) and the generic 0xff with the request's nonce;
 * none is counted stale. */
static void test_rpc_error_replies_reach_the_caller(void **state) {
  fake *f = *state;
  dsb_client *c = NULL;
  assert_int_equal(dsb_client_connect(&c, f->path, 0), 0);
  dsb_client_rpc_reply reply;
  assert_int_equal(dsb_client_rpc_call(c, test_dev, "echo", "echo",
                                       (const uint8_t *)"x", 1, 1000, &reply),
                   DSB_ERR_TRUST_UNKNOWN);
  assert_int_equal(dsb_client_rpc_call(c, test_dev, "echo", "echo",
                                       (const uint8_t *)"x", 1, 1000, &reply),
                   DSB_ERR_IPC_NO_PEER);
  long rule = 0;
  char text[64];
  assert_int_equal(dsb_client_rpc_policy_check(c, test_dev, "echo", "echo",
                                               &rule, text, sizeof(text)),
                   DSB_ERR_LIMIT);
  assert_int_equal(dsb_client_rpc_stale(c), 0);
  assert_int_equal(dsb_client_stale_replies(c), 0);
  dsb_client_close(c);
}

/* Issue #8 follow-up: thousands of calls in flight on one connection to a
 * daemon that stops reading while its replies pile up. The library reads
 * (and queues) replies while it waits to send, so every call completes and
 * each reply carries its own call's payload. */
static void test_calls_in_flight_do_not_deadlock(void **state) {
  fake *f = *state;
  dsb_client *c = NULL;
  assert_int_equal(dsb_client_connect(&c, f->path, 0), 0);
  static uint64_t handles[FAKE_FLOOD_CALLS];
  uint8_t payload[1024];
  for (size_t i = 0; i < FAKE_FLOOD_CALLS; ++i) {
    memset(payload, (int)(i & 0xff), sizeof(payload));
    memcpy(payload, &i, sizeof(i));
    assert_int_equal(dsb_client_rpc_call_start(c, &handles[i], test_dev, "echo",
                                               "echo", payload, sizeof(payload),
                                               0),
                     0);
  }
  for (size_t k = 0; k < FAKE_FLOOD_CALLS; ++k) {
    dsb_client_rpc_reply r;
    assert_int_equal(dsb_client_rpc_call_wait(c, &r, 10000), 1);
    assert_int_equal(r.status, DSB_RPC_OK);
    assert_int_equal(r.payloadlen, sizeof(payload));
    size_t i;
    memcpy(&i, r.payload, sizeof(i));
    assert_true(i < FAKE_FLOOD_CALLS);
    assert_true(handles[i] == r.handle);
    handles[i] = 0; /* each call answered once */
    assert_int_equal(r.payload[sizeof(payload) - 1], (uint8_t)(i & 0xff));
    dsb_client_rpc_reply_free(&r);
  }
  assert_int_equal(dsb_client_rpc_in_flight(c), 0);
  assert_int_equal(dsb_client_rpc_stale(c), 0);
  dsb_client_close(c);
}

/* Replies the app does not collect are held up to
 * DSB_CLIENT_RPC_MAX_QUEUED_BYTES of payload; beyond it a reply still
 * completes its call, with the named error and without its payload. */
static void test_reject_replies_over_queue_bound(void **state) {
  fake *f = *state;
  enum { CALLS = 600 };
  size_t fit = DSB_CLIENT_RPC_MAX_QUEUED_BYTES / 60000;
  dsb_client *c = NULL;
  assert_int_equal(dsb_client_connect(&c, f->path, 0), 0);
  for (size_t i = 0; i < CALLS; ++i) {
    uint64_t h;
    assert_int_equal(dsb_client_rpc_call_start(c, &h, test_dev, "echo", "echo",
                                               (const uint8_t *)"x", 1, 0),
                     0);
  }
  /* The fake answers in order: once this reply is here, every call's
   * reply has been received and queued. */
  long rule = -1;
  assert_int_equal(
      dsb_client_rpc_policy_check(c, test_dev, "echo", "echo", &rule, NULL, 0),
      0);
  size_t ok = 0, full = 0;
  for (size_t i = 0; i < CALLS; ++i) {
    dsb_client_rpc_reply r;
    assert_int_equal(dsb_client_rpc_call_wait(c, &r, 0), 1);
    if (r.err == 0) {
      assert_int_equal(r.payloadlen, 60000);
      ok++;
    } else {
      assert_int_equal(r.err, DSB_ERR_IPC_QUEUE_FULL);
      assert_int_equal(r.status, DSB_RPC_FAILED);
      assert_null(r.payload);
      full++;
    }
    dsb_client_rpc_reply_free(&r);
  }
  assert_int_equal(ok, fit);
  assert_int_equal(full, CALLS - fit);
  dsb_client_close(c);
}

static void test_reject_bad_arguments(void **state) {
  (void)state;
  dsb_client *c = NULL;
  assert_int_equal(dsb_client_connect(&c, "", 0), DSB_ERR_INVALID_ARGUMENT);
  assert_int_equal(dsb_client_connect(&c, "/nonexistent/dsb.sock", 0),
                   DSB_ERR_NOT_FOUND);
  assert_null(c);
}

/* Names outside the service-name rule: too long (49 bytes) and with a
 * character mux names allow but services do not. */
static const char *const names_bad[] = {
    "sssssssssssssssssssssssssssssssssssssssssssssssss", "cam/front",
    "cam:front"};

static void test_reject_publish_bad_name(void **state) {
  fake *f = *state;
  dsb_client *c = NULL;
  assert_int_equal(strlen(names_bad[0]), DSB_SERVICE_NAME_MAX + 1);
  assert_int_equal(dsb_client_connect(&c, f->path, 0), 0);
  for (size_t i = 0; i < sizeof(names_bad) / sizeof(names_bad[0]); ++i) {
    assert_int_equal(dsb_client_publish(c, names_bad[i]),
                     DSB_ERR_IPC_BAD_STRING);
    assert_int_equal(dsb_client_withdraw(c, names_bad[i]),
                     DSB_ERR_IPC_BAD_STRING);
    int sfd = -1;
    assert_int_equal(
        dsb_client_open_stream(c, test_dev, names_bad[i], 0, &sfd, NULL),
        DSB_ERR_IPC_BAD_STRING);
  }
  /* 48 bytes is the longest name; it reaches the daemon first. */
  char s48[DSB_SERVICE_NAME_MAX + 1];
  memcpy(s48, names_bad[0], DSB_SERVICE_NAME_MAX);
  s48[DSB_SERVICE_NAME_MAX] = '\0';
  assert_int_equal(dsb_client_publish(c, s48), 0);
  dsb_client_close(c);
  pthread_join(f->thread, NULL);
  f->joined = 1;
  assert_int_equal(fake_names_packets, 1);
  assert_int_equal(fake_names_first_op, DSB_IPC_OP_PUBLISH);
  assert_string_equal(fake_names_first_service, s48);
}

static void test_reject_rpc_register_bad_name(void **state) {
  fake *f = *state;
  dsb_client *c = NULL;
  assert_int_equal(dsb_client_connect(&c, f->path, 0), 0);
  for (size_t i = 0; i < sizeof(names_bad) / sizeof(names_bad[0]); ++i) {
    assert_int_equal(dsb_client_rpc_register(c, names_bad[i], NULL, NULL, NULL),
                     DSB_ERR_INVALID_ARGUMENT);
  }
  assert_int_equal(dsb_client_publish(c, "after"), 0);
  dsb_client_close(c);
  pthread_join(f->thread, NULL);
  f->joined = 1;
  assert_int_equal(fake_names_packets, 1);
  assert_int_equal(fake_names_first_op, DSB_IPC_OP_PUBLISH);
}

static void test_reject_rpc_bundle_bad_service_name(void **state) {
  fake *f = *state;
  dsb_client *c = NULL;
  assert_int_equal(dsb_client_connect(&c, f->path, 0), 0);
  for (size_t i = 0; i < sizeof(names_bad) / sizeof(names_bad[0]); ++i) {
    dsb_client_bundle_service bs[] = {{"fine", NULL}, {names_bad[i], NULL}};
    dsb_client_bundle b = {"com.example.cam", "1.0", bs, 2};
    assert_int_equal(dsb_client_rpc_register_bundle(c, &b),
                     DSB_ERR_INVALID_ARGUMENT);
  }
  assert_int_equal(dsb_client_publish(c, "after"), 0);
  dsb_client_close(c);
  pthread_join(f->thread, NULL);
  f->joined = 1;
  assert_int_equal(fake_names_packets, 1);
  assert_int_equal(fake_names_first_op, DSB_IPC_OP_PUBLISH);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_client_correlates_replies,
                                      fake_setup, fake_teardown),
      cmocka_unit_test_setup_teardown(test_rpc_error_replies_reach_the_caller,
                                      fake_rpc_errors_setup, fake_teardown),
      cmocka_unit_test_setup_teardown(test_calls_in_flight_do_not_deadlock,
                                      fake_flood_setup, fake_teardown),
      cmocka_unit_test_setup_teardown(test_reject_replies_over_queue_bound,
                                      fake_big_replies_setup, fake_teardown),
      cmocka_unit_test(test_reject_bad_arguments),
      cmocka_unit_test_setup_teardown(test_reject_publish_bad_name,
                                      fake_names_setup, fake_teardown),
      cmocka_unit_test_setup_teardown(test_reject_rpc_register_bad_name,
                                      fake_names_setup, fake_teardown),
      cmocka_unit_test_setup_teardown(test_reject_rpc_bundle_bad_service_name,
                                      fake_names_setup, fake_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
