/*
 * dsb/trust_file.h - the trust store on disk (<state-dir>/trust.json),
 * written atomically through include/dsb/statefile.h. Part of dsb_io.
 *
 * The file is written mode 0600. On load it must be a regular file owned by
 * the effective uid and not writable by group or others (0644 at most):
 * who may edit the trust store decides who may connect.
 *
 * Thread safety: as for the dsb_trust passed in (not thread-safe).
 */
#ifndef DSB_TRUST_FILE_H
#define DSB_TRUST_FILE_H

#include "dsb/common.h"
#include "dsb/trust.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DSB_TRUST_FILE_NAME "trust.json"

/*
 * Replace the contents of |trust| with the file at |path|. On any error the
 * table is unchanged. A missing file is DSB_ERR_NOT_FOUND: the caller
 * decides whether that means "empty store" (first start).
 * Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_NOT_FOUND, DSB_ERR_PERMISSION,
 * DSB_ERR_STATEFILE_MODE (wrong type, owner or mode), DSB_ERR_IO,
 * DSB_ERR_NOMEM, and those of dsb_trust_from_json(): DSB_ERR_TRUST_FILE_CORRUPT
 * (also for a file over dsb_trust_json_max()), DSB_ERR_STATEFILE_VERSION,
 * DSB_ERR_LIMIT.
 */
DSB_MUST_CHECK int dsb_trust_file_load(dsb_trust *trust, const char *path);

/*
 * Write |trust| to |path| atomically (mode 0600), replacing the old file.
 * Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_NOMEM, DSB_ERR_NOT_FOUND (no
 * directory), DSB_ERR_PERMISSION, DSB_ERR_IO.
 */
DSB_MUST_CHECK int dsb_trust_file_save(const dsb_trust *trust,
                                       const char *path);

#ifdef __cplusplus
}
#endif

#endif /* DSB_TRUST_FILE_H */
