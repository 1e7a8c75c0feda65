/* fuzz_identity_file.c - the identity file decoder (include/dsb/keystore.h)
 * on arbitrary bytes. Whatever decodes must re-encode to the same bytes and
 * yield an identity whose proof verifies. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dsb/err.h"
#include "dsb/identity.h"
#include "dsb/keystore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t out[DSB_KEYSTORE_FILE_LEN];
  dsb_identity ident;
  dsb_device_id id;
  int rv;

  rv = dsb_keystore_decode(&ident, data, size);
  if (rv != 0) {
    if (rv != DSB_ERR_IDENTITY_FILE_CORRUPT &&
        rv != DSB_ERR_STATEFILE_VERSION) {
      abort(); /* only the documented codes */
    }
    return 0;
  }
  if (size != DSB_KEYSTORE_FILE_LEN ||
      dsb_keystore_encode(out, sizeof(out), &ident) != DSB_KEYSTORE_FILE_LEN ||
      memcmp(out, data, size) != 0) {
    abort();
  }
  if (dsb_identity_proof_verify(&ident.proof, &id) != 0 ||
      !dsb_device_id_eq(&id, &ident.id)) {
    abort();
  }
  dsb_identity_wipe(&ident);
  return 0;
}
