/*
 * service_name.c - the service-name rule (include/dsb/service_name.h).
 */
#include "dsb/service_name.h"
#include "dsb/disc.h"
#include "dsb/mux.h"
#include "dsb/rpc.h"

/* The rule exists so these hold; a change to any limit must keep them. */
_Static_assert(DSB_SERVICE_NAME_MAX <= DSB_DISC_SERVICE_NAME_MAX,
               "every service name fits a discovery announcement");
_Static_assert(DSB_SERVICE_NAME_MAX <= DSB_RPC_NAME_MAX,
               "every service name fits a remote-call frame");
/* "<service>/" plus up to 8 hex digits of a 32-bit stream counter. */
_Static_assert(DSB_SERVICE_NAME_MAX + 1 + 8 <= DSB_MUX_NAME_MAX,
               "every stream name of a service fits a mux stream name");

int dsb_service_name_valid(const char *name, size_t len) {
  if (!name || len < 1 || len > DSB_SERVICE_NAME_MAX) {
    return 0;
  }
  for (size_t i = 0; i < len; ++i) {
    unsigned char c = (unsigned char)name[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) {
      return 0;
    }
  }
  return 1;
}
