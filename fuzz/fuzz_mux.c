/*
 * fuzz_mux.c - a whole mux fed arbitrary frame sequences, in both roles.
 *
 * Input: byte 0 picks the role, the settings profile and the callback
 * behaviour; then records, each [len u16be][bytes]. After every record
 * the mux is asked to send and, now and then, the application side opens,
 * writes, consumes, closes or resets, and time advances. A fatal error
 * ends the run; anything else must keep the mux consistent (ASan/UBSan
 * and the mux's own bookkeeping do the checking).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dsb/err.h"
#include "dsb/mux.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fz {
  uint8_t mode;
  uint32_t last_id;
} fz;

static int fz_open(dsb_mux *mux, uint32_t id, const char *name, size_t namelen,
                   uint8_t prio, uint8_t mode, void *ud) {
  fz *f = ud;
  (void)name;
  (void)namelen;
  (void)prio;
  (void)mode;
  f->last_id = id;
  if (f->mode & 1) {
    dsb_mux_accept(mux, id, NULL);
  } else if (f->mode & 2) {
    dsb_mux_reset(mux, id, 9);
  }
  return 0;
}

static int fz_msg(dsb_mux *mux, uint32_t id, const uint8_t *d, size_t len,
                  void *ud) {
  fz *f = ud;
  f->last_id = id;
  if (len) {
    (void)d[0];
    (void)d[len - 1];
  }
  if (f->mode & 4) {
    dsb_mux_consume(mux, id, len);
  }
  if ((f->mode & 8) && len > 3) {
    dsb_mux_write_message(mux, id, d, len / 2);
  }
  return 0;
}

static int fz_close(dsb_mux *mux, uint32_t id, void *ud) {
  (void)ud;
  dsb_mux_close(mux, id);
  return 0;
}

static int fz_reset(dsb_mux *mux, uint32_t id, uint32_t code, void *ud) {
  (void)code;
  (void)ud;
  /* must be harmless on a stream that is being reset */
  dsb_mux_reset(mux, id, 1);
  return 0;
}

static const dsb_mux_callbacks fz_cbs = {fz_open,  NULL,     fz_msg, fz_msg,
                                         fz_close, fz_reset, NULL,   NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static uint8_t out[DSB_MUX_MAX_RECORD_PLAINTEXT];
  static const uint8_t payload[1024] = {1, 2, 3};
  dsb_mux *mux = NULL;
  dsb_mux_settings s;
  fz f = {0, 0};
  dsb_tstamp now = DSB_NS_PER_S;
  size_t off = 1;

  if (size < 1) {
    return 0;
  }
  f.mode = data[0];
  dsb_mux_settings_default(&s);
  if (data[0] & 0x20) {
    s.max_streams = 4;
    s.stream_window = 2048;
    s.stream_send_buffer = 2048;
    s.max_message = 1500;
    s.session_window = 65536;
    s.session_send_buffer = 4096;
    s.max_frame_payload = 1024;
    s.starvation_budget = 2;
  }
  s.keepalive_idle = 5 * DSB_NS_PER_S;
  s.keepalive_timeout = 3 * DSB_NS_PER_S;
  if (dsb_mux_new(&mux, NULL,
                  (data[0] & 0x80) ? DSB_MUX_ROLE_RESPONDER
                                   : DSB_MUX_ROLE_INITIATOR,
                  &s, &fz_cbs, &f, now) != 0) {
    return 0;
  }
  if (!(data[0] & 0x40) || size > 3) {
    dsb_mux_set_authenticated(mux, now);
  }
  while (off + 2 <= size) {
    size_t len = ((size_t)data[off] << 8) | data[off + 1];
    off += 2;
    if (len > size - off) {
      len = size - off;
    }
    long rv = dsb_mux_recv(mux, data + off, len, now);
    uint8_t ctl = len ? data[off] : 0;
    off += len;
    if (rv < 0 && dsb_err_is_fatal((int)rv)) {
      break;
    }
    /* application activity steered by the record's first byte */
    switch (ctl & 7) {
    case 0: {
      uint32_t id;
      char name[3] = {'f', (char)('a' + (ctl >> 3 & 15)), 0};
      dsb_mux_open(mux, &id, name, 2, ctl >> 5, (ctl & 8) ? 1 : 0, NULL);
      break;
    }
    case 1:
      dsb_mux_write_message(mux, f.last_id, payload, 1 + ctl);
      break;
    case 2:
      dsb_mux_write_bytes(mux, f.last_id, payload, sizeof(payload));
      break;
    case 3:
      dsb_mux_consume(mux, f.last_id, ctl >> 3);
      break;
    case 4:
      dsb_mux_close(mux, f.last_id);
      break;
    case 5:
      dsb_mux_reset(mux, f.last_id, ctl);
      break;
    case 6:
      now += (dsb_tstamp)ctl * DSB_NS_PER_S / 16;
      if (dsb_mux_handle_timeout(mux, now) != 0) {
        goto out;
      }
      break;
    default:
      break;
    }
    for (int i = 0; i < 4; ++i) {
      long n = dsb_mux_send(mux, out, (ctl & 0x10) ? 200 : sizeof(out), now);
      if (n <= 0) {
        break;
      }
      /* what we send must itself decode */
      size_t p = 0;
      while (p < (size_t)n) {
        dsb_mux_frame fr;
        long m = dsb_mux_frame_decode(&fr, out + p, (size_t)n - p);
        if (m <= 0) {
          abort();
        }
        p += (size_t)m;
      }
    }
  }
out:
  dsb_mux_del(mux);
  return 0;
}
