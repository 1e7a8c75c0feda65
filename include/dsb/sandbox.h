/*
 * dsb/sandbox.h - the process sandbox dsoftbusd enters in facade mode
 * (--backend netstackd), after it has created its Unix sockets and before it
 * handles any input from the network. Rationale and the exact rule list:
 * docs/SECURITY.md, "Privilege separation".
 *
 * After dsb_sandbox_enter_facade() the process cannot create a network
 * socket (socket()/socketpair() of any family but AF_UNIX fail with EPERM),
 * cannot bind() or listen() at all (EPERM), cannot turn a send into an
 * implicit TCP connect (MSG_FASTOPEN, EPERM), cannot use io_uring (EPERM;
 * it would bypass the syscall filter), and, where the kernel has Landlock
 * ABI >= 4, cannot connect() or bind() any TCP socket (EACCES). Unix-domain
 * connect() stays allowed so the daemon can reconnect to netstackd. It runs
 * with no capabilities, an empty bounding set and no_new_privs. Nothing of
 * this can be undone by the process or its children.
 *
 * libseccomp is loaded at run time (libseccomp.so.2), so only the processes
 * that sandbox themselves depend on it.
 *
 * Thread safety: call before starting threads; the filter applies to the
 * calling thread and is synchronised to the others (TSYNC) when they exist.
 */
#ifndef DSB_SANDBOX_H
#define DSB_SANDBOX_H

#ifdef __cplusplus
extern "C" {
#endif

/* What dsb_sandbox_enter_facade() applied (bitmask in *applied). */
#define DSB_SANDBOX_NO_NEW_PRIVS 0x01
#define DSB_SANDBOX_CAPS_DROPPED 0x02
#define DSB_SANDBOX_SECCOMP 0x04
#define DSB_SANDBOX_LANDLOCK_NET 0x08

/*
 * Drop every capability (bounding set when allowed, ambient, then
 * effective/permitted/inheritable) and set no_new_privs. Returns 0 or
 * DSB_ERR_PERMISSION when a step the kernel supports fails.
 */
int dsb_sandbox_drop_privileges(void);

/*
 * Drop privileges, restrict TCP with Landlock where available, and install
 * the seccomp filter described above. Fails closed: any error other than a
 * missing Landlock leaves the caller responsible for exiting. Returns 0 and
 * sets *applied (may be NULL), or
 *   DSB_ERR_UNSUPPORTED  libseccomp cannot be loaded or the kernel lacks
 *                        seccomp filtering;
 *   DSB_ERR_PERMISSION   dropping privileges failed;
 *   DSB_ERR_INTERNAL     building or loading the filter failed.
 */
int dsb_sandbox_enter_facade(unsigned *applied);

#ifdef __cplusplus
}
#endif

#endif /* DSB_SANDBOX_H */
