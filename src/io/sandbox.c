/*
 * sandbox.c - facade-mode sandbox for dsoftbusd (include/dsb/sandbox.h,
 * docs/SECURITY.md "Privilege separation").
 *
 * seccomp cannot look at the socket behind a descriptor nor dereference a
 * sockaddr, so the filter works on what it can see: the family argument of
 * socket()/socketpair(), and whole syscalls. That is enough for the goal —
 * no new network endpoint — because every network socket the daemon can
 * ever hold then comes from netstackd, which checked it against its policy.
 * connect() must stay open for AF_UNIX (reconnecting to netstackd); where
 * the kernel offers Landlock's TCP rules (ABI >= 4) they close connect() and
 * bind() on TCP sockets, which seccomp cannot tell apart.
 */
#include <dlfcn.h>
#include <errno.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dsb/err.h"
#include "dsb/sandbox.h"

/* ---- capabilities -------------------------------------------------------- */

static int sandbox_cap_last(void) {
  FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
  int last = 40; /* CAP_CHECKPOINT_RESTORE, Linux 5.9 */
  if (f != NULL) {
    if (fscanf(f, "%d", &last) != 1 || last < 0 || last > 63) {
      last = 40;
    }
    fclose(f);
  }
  return last;
}

int dsb_sandbox_drop_privileges(void) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];

  /* The bounding set first: it needs CAP_SETPCAP, which the capset below
   * removes. Without CAP_SETPCAP (unprivileged run) EPERM is expected and
   * harmless: such a process cannot regain capabilities anyway, and
   * no_new_privs stops execve() from granting any. */
  for (int cap = 0; cap <= sandbox_cap_last(); ++cap) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL &&
        errno != EPERM) {
      return DSB_ERR_PERMISSION;
    }
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 &&
      errno != EINVAL) {
    return DSB_ERR_PERMISSION;
  }
  memset(data, 0, sizeof(data));
  if (syscall(SYS_capset, &hdr, data) != 0) {
    return DSB_ERR_PERMISSION;
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return DSB_ERR_PERMISSION;
  }
  return 0;
}

/* ---- Landlock (TCP bind/connect) ----------------------------------------- */

/* The ABI >= 4 layout of the ruleset attribute, declared here because the
 * installed kernel headers may predate it; the kernel accepts any prefix
 * size it knows. */
struct sandbox_landlock_attr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
};
#define SANDBOX_LANDLOCK_NET_BIND_TCP (1ULL << 0)
#define SANDBOX_LANDLOCK_NET_CONNECT_TCP (1ULL << 1)

/* Returns 1 when applied, 0 when the kernel cannot (older ABI, disabled),
 * negative on a failure after the kernel said it could. */
static int sandbox_landlock_tcp(void) {
#ifdef SYS_landlock_create_ruleset
  long abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
                     LANDLOCK_CREATE_RULESET_VERSION);
  if (abi < 4) {
    return 0;
  }
  /* Handle TCP bind and connect with no rule allowing any port: both are
   * refused for every TCP socket, including those from netstackd. File
   * system access is not handled, so it is unaffected. */
  struct sandbox_landlock_attr attr = {0, SANDBOX_LANDLOCK_NET_BIND_TCP |
                                              SANDBOX_LANDLOCK_NET_CONNECT_TCP};
  long fd = syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
  if (fd < 0) {
    return DSB_ERR_INTERNAL;
  }
  long rv = syscall(SYS_landlock_restrict_self, (int)fd, 0);
  close((int)fd);
  return rv == 0 ? 1 : DSB_ERR_INTERNAL;
#else
  return 0;
#endif
}

/* ---- seccomp (libseccomp, loaded at run time) ---------------------------- */

typedef struct sandbox_scmp {
  void *lib;
  scmp_filter_ctx (*init)(uint32_t def_action);
  int (*rule_add)(scmp_filter_ctx ctx, uint32_t action, int syscall,
                  unsigned int arg_cnt, ...);
  int (*attr_set)(scmp_filter_ctx ctx, enum scmp_filter_attr attr,
                  uint64_t value);
  int (*load)(const scmp_filter_ctx ctx);
  void (*release)(scmp_filter_ctx ctx);
} sandbox_scmp;

static int sandbox_scmp_open(sandbox_scmp *s) {
  memset(s, 0, sizeof(*s));
  s->lib = dlopen("libseccomp.so.2", RTLD_NOW | RTLD_LOCAL);
  if (s->lib == NULL) {
    return DSB_ERR_UNSUPPORTED;
  }
  /* POSIX guarantees object and function pointers convert through dlsym. */
  *(void **)&s->init = dlsym(s->lib, "seccomp_init");
  *(void **)&s->rule_add = dlsym(s->lib, "seccomp_rule_add");
  *(void **)&s->attr_set = dlsym(s->lib, "seccomp_attr_set");
  *(void **)&s->load = dlsym(s->lib, "seccomp_load");
  *(void **)&s->release = dlsym(s->lib, "seccomp_release");
  if (!s->init || !s->rule_add || !s->attr_set || !s->load || !s->release) {
    dlclose(s->lib);
    return DSB_ERR_UNSUPPORTED;
  }
  return 0;
}

static int sandbox_seccomp(void) {
  const uint32_t deny = SCMP_ACT_ERRNO(EPERM);
  sandbox_scmp s;
  scmp_filter_ctx ctx;
  int rv = sandbox_scmp_open(&s);
  if (rv != 0) {
    return rv;
  }
  /* Default allow: this filter removes network powers, it is not a full
   * syscall allowlist. Foreign architectures (i386 via int 0x80, x32) are
   * killed by libseccomp's default bad-arch action, so the socketcall()
   * multiplexer cannot route around the rules. */
  ctx = s.init(SCMP_ACT_ALLOW);
  if (ctx == NULL) {
    dlclose(s.lib);
    return DSB_ERR_INTERNAL;
  }
  rv = 0;
  /* Synchronise all threads that exist; fails harmlessly if none. */
  (void)s.attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
  /* No new socket of any family but AF_UNIX. */
  rv |= s.rule_add(ctx, deny, SCMP_SYS(socket), 1,
                   SCMP_A0(SCMP_CMP_NE, AF_UNIX, 0));
  rv |= s.rule_add(ctx, deny, SCMP_SYS(socketpair), 1,
                   SCMP_A0(SCMP_CMP_NE, AF_UNIX, 0));
  /* All Unix sockets the daemon serves on exist before the filter, and
   * every network socket arrives bound/listening from netstackd. */
  rv |= s.rule_add(ctx, deny, SCMP_SYS(bind), 0);
  rv |= s.rule_add(ctx, deny, SCMP_SYS(listen), 0);
  /* A send with MSG_FASTOPEN connects an unconnected TCP socket. */
  rv |= s.rule_add(ctx, deny, SCMP_SYS(sendto), 1,
                   SCMP_A3(SCMP_CMP_MASKED_EQ, MSG_FASTOPEN, MSG_FASTOPEN));
  rv |= s.rule_add(ctx, deny, SCMP_SYS(sendmsg), 1,
                   SCMP_A2(SCMP_CMP_MASKED_EQ, MSG_FASTOPEN, MSG_FASTOPEN));
  rv |= s.rule_add(ctx, deny, SCMP_SYS(sendmmsg), 1,
                   SCMP_A3(SCMP_CMP_MASKED_EQ, MSG_FASTOPEN, MSG_FASTOPEN));
  /* io_uring performs socket/bind/listen/connect without these syscalls. */
  rv |= s.rule_add(ctx, deny, SCMP_SYS(io_uring_setup), 0);
  rv |= s.rule_add(ctx, deny, SCMP_SYS(io_uring_enter), 0);
  rv |= s.rule_add(ctx, deny, SCMP_SYS(io_uring_register), 0);
  if (rv == 0) {
    rv = s.load(ctx);
  }
  s.release(ctx);
  dlclose(s.lib);
  return rv == 0 ? 0 : DSB_ERR_INTERNAL;
}

int dsb_sandbox_enter_facade(unsigned *applied) {
  unsigned done = 0;
  int rv;

  if (applied != NULL) {
    *applied = 0;
  }
  if ((rv = dsb_sandbox_drop_privileges()) != 0) {
    return rv;
  }
  done |= DSB_SANDBOX_CAPS_DROPPED | DSB_SANDBOX_NO_NEW_PRIVS;
  rv = sandbox_landlock_tcp();
  if (rv < 0) {
    return rv;
  }
  if (rv == 1) {
    done |= DSB_SANDBOX_LANDLOCK_NET;
  }
  if ((rv = sandbox_seccomp()) != 0) {
    return rv;
  }
  done |= DSB_SANDBOX_SECCOMP;
  if (applied != NULL) {
    *applied = done;
  }
  return 0;
}
