/*
 * dsb/statefile.h - small state files (keys, trust store, daemon state)
 * written atomically and read back with ownership and permission checks.
 *
 * Writes never leave a half-written file under the final name: the data goes
 * to a temporary file in the same directory, which is fsync'd, renamed over
 * (or, for a create, linked to) the final name, and then the directory is
 * fsync'd so the rename itself survives a crash.
 *
 * Reads refuse files that are not regular files (symlinks included), not
 * owned by the effective uid, or that carry permission bits outside the
 * caller's |max_mode|.
 *
 * Thread safety: the functions are thread-safe; concurrent writers of the
 * same path each leave a complete file (the last rename wins). Part of
 * dsb_io (not of the sans-IO libdsb cores).
 */
#ifndef DSB_STATEFILE_H
#define DSB_STATEFILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dsb/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Atomically replace (or create) |path| with |data|, file mode |mode| (e.g.
 * 0600). The directory of |path| must exist.
 * Errors: DSB_ERR_INVALID_ARGUMENT (path too long, no file name),
 * DSB_ERR_NOT_FOUND (directory missing), DSB_ERR_PERMISSION, DSB_ERR_IO.
 */
DSB_MUST_CHECK int dsb_statefile_write_atomic(const char *path,
                                              const uint8_t *data, size_t len,
                                              mode_t mode);

/*
 * Like dsb_statefile_write_atomic(), but never replaces an existing file:
 * when |path| already exists nothing is changed and DSB_ERR_EXISTS is
 * returned. Two racing creators: exactly one wins.
 * Errors: DSB_ERR_EXISTS and those of dsb_statefile_write_atomic().
 */
DSB_MUST_CHECK int dsb_statefile_create_atomic(const char *path,
                                               const uint8_t *data, size_t len,
                                               mode_t mode);

/*
 * Read all of |path| into |buf| (|cap| bytes); |*plen| gets the length.
 * The file must be a regular file (not a symlink) owned by the effective
 * uid with no permission bits outside |max_mode| (e.g. 0600 for keys).
 * Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_NOT_FOUND, DSB_ERR_PERMISSION
 * (open refused by the OS), DSB_ERR_STATEFILE_MODE (wrong type, owner or
 * mode), DSB_ERR_LIMIT (file longer than |cap|), DSB_ERR_IO.
 */
DSB_MUST_CHECK int dsb_statefile_read(const char *path, uint8_t *buf,
                                      size_t cap, size_t *plen,
                                      mode_t max_mode);

/*
 * Like dsb_statefile_read() into a buffer allocated from |mem| (NULL: libc)
 * of at most |maxlen| bytes plus one NUL byte (so text can be parsed in
 * place). On success |*pbuf| is owned by the caller (free with
 * dsb_mem_free(mem, ...)); on failure |*pbuf| is untouched.
 * Errors: those of dsb_statefile_read(), DSB_ERR_NOMEM.
 */
DSB_MUST_CHECK int dsb_statefile_read_alloc(const char *path,
                                            const dsb_mem *mem, size_t maxlen,
                                            uint8_t **pbuf, size_t *plen,
                                            mode_t max_mode);

/*
 * Make sure directory |path| exists, creating missing components with mode
 * |mode| (e.g. 0700). The final directory must be owned by the effective
 * uid and must not be writable by group or others (someone who can write
 * the directory can swap the files in it).
 * Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_PERMISSION,
 * DSB_ERR_STATEFILE_MODE, DSB_ERR_IO.
 */
DSB_MUST_CHECK int dsb_statefile_ensure_dir(const char *path, mode_t mode);

/*
 * Join |dir| and |name| with one '/' into |out| (|outlen| bytes, NUL
 * included). Errors: DSB_ERR_INVALID_ARGUMENT (empty), DSB_ERR_NOBUF.
 */
DSB_MUST_CHECK int dsb_statefile_join(char *out, size_t outlen, const char *dir,
                                      const char *name);

#ifdef __cplusplus
}
#endif

#endif /* DSB_STATEFILE_H */
