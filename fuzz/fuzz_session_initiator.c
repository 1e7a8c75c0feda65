/*
 * fuzz_session_initiator.c - the initiator role of the session handshake, then
 * its records: arbitrary input through dsb_session_recv. Driver:
 * fuzz_session_common.h.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_session_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return fz_drive(data, size, DSB_SESSION_INITIATOR, 0);
}
