/*
 * fuzz_mux_frame.c - the mux v2 frame decoder on arbitrary bytes. Every
 * frame it accepts must re-encode to exactly the bytes it came from.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dsb/err.h"
#include "dsb/mux.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static uint8_t out[DSB_MUX_FRAME_HEADER_LEN + DSB_MUX_MAX_FRAME_PAYLOAD];
  size_t off = 0;
  while (off < size) {
    dsb_mux_frame fr;
    long n = dsb_mux_frame_decode(&fr, data + off, size - off);
    if (n < 0) {
      /* every failure is one of the documented codes */
      if (n != DSB_ERR_MUX_MALFORMED && n != DSB_ERR_MUX_VERSION &&
          n != DSB_ERR_MUX_FRAME_OVERSIZE) {
        abort();
      }
      return 0;
    }
    if ((size_t)n > size - off || n < DSB_MUX_FRAME_HEADER_LEN) {
      abort();
    }
    long m = dsb_mux_frame_encode(out, sizeof(out), &fr);
    if (m != n || memcmp(out, data + off, (size_t)n) != 0 ||
        dsb_mux_frame_len(&fr) != (size_t)n) {
      abort();
    }
    off += (size_t)n;
  }
  return 0;
}
