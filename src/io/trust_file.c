/*
 * trust_file.c - load and save the trust store (include/dsb/trust_file.h).
 */
#include "dsb/err.h"
#include "dsb/statefile.h"
#include "dsb/trust_file.h"

/* Group/other may read the trust store (it holds no secret) but never
 * write it. */
#define TRUST_FILE_MAX_MODE 0644
#define TRUST_FILE_MODE 0600

int dsb_trust_file_load(dsb_trust *trust, const char *path) {
  uint8_t *buf = NULL;
  size_t len = 0;
  int rv;

  if (!trust || !path) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  rv = dsb_statefile_read_alloc(path, NULL, dsb_trust_json_max(trust), &buf,
                                &len, TRUST_FILE_MAX_MODE);
  if (rv == DSB_ERR_LIMIT) {
    return DSB_ERR_TRUST_FILE_CORRUPT;
  }
  if (rv != 0) {
    return rv;
  }
  rv = dsb_trust_from_json(trust, (const char *)buf, len);
  dsb_mem_free(NULL, buf);
  return rv;
}

int dsb_trust_file_save(const dsb_trust *trust, const char *path) {
  size_t cap;
  char *buf;
  int rv;

  if (!trust || !path) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  cap = dsb_trust_json_bound(trust);
  buf = dsb_mem_malloc(NULL, cap);
  if (!buf) {
    return DSB_ERR_NOMEM;
  }
  rv = dsb_trust_to_json(trust, buf, cap);
  if (rv >= 0) {
    rv = dsb_statefile_write_atomic(path, (const uint8_t *)buf, (size_t)rv,
                                    TRUST_FILE_MODE);
  }
  dsb_mem_free(NULL, buf);
  return rv;
}
