/*
 * trust.c - the daemon's trust store: <state-dir>/trust.json loaded at
 * start (absent: empty), saved atomically after every change, consulted by
 * the session handshake (peer check) and before dialling.
 */
#include <stdlib.h>
#include <string.h>

#include "dsb/err.h"
#include "dsb/statefile.h"
#include "dsb/trust.h"
#include "dsb/trust_file.h"
#include "daemon_int.h"

typedef struct trust_state {
  dsb_trust *table;
  char path[DSBD_PATH_MAX];
} trust_state;

int dsbd_trust_open(dsbd *d) {
  trust_state *t = calloc(1, sizeof(*t));
  if (!t) {
    return DSB_ERR_NOMEM;
  }
  int rv = dsb_statefile_join(t->path, sizeof(t->path), d->cfg.state_dir,
                              DSB_TRUST_FILE_NAME);
  if (rv == 0) {
    rv = dsb_trust_new(&t->table, NULL, 0);
  }
  if (rv == 0) {
    rv = dsb_trust_file_load(t->table, t->path);
    if (rv == DSB_ERR_NOT_FOUND) {
      rv = 0; /* first start: empty store, written on the first change */
    }
  }
  if (rv) {
    dsb_trust_del(t->table);
    free(t);
    return rv;
  }
  d->trust = t;
  dsbd_log(d, DSB_LOG_INFO, "trust store %s: %zu devices", t->path,
           dsb_trust_count(t->table));
  return 0;
}

void dsbd_trust_close(dsbd *d) {
  trust_state *t = d->trust;
  if (t) {
    dsb_trust_del(t->table);
    free(t);
    d->trust = NULL;
  }
}

int dsbd_trust_get(dsbd *d, const dsb_device_id *id) {
  trust_state *t = d->trust;
  return (int)dsb_trust_state_of(t ? t->table : NULL, id);
}

int dsbd_trust_check(dsbd *d, const dsb_device_id *id) {
  trust_state *t = d->trust;
  return dsb_trust_check(t ? t->table : NULL, id,
                         d->cfg.allow_unknown ? DSB_TRUST_ALLOW_UNKNOWN : 0);
}

int dsbd_trust_set(dsbd *d, const dsb_device_id *id, int state,
                   const char *name) {
  trust_state *t = d->trust;
  int rv;
  if (state == DSB_IPC_TRUST_UNKNOWN) {
    rv = dsb_trust_remove(t->table, id);
    if (rv == DSB_ERR_NOT_FOUND) {
      rv = 0;
    }
  } else {
    rv = dsb_trust_set(t->table, id, (dsb_trust_state)state);
    if (rv == 0 && name && name[0]) {
      rv = dsb_trust_set_name(t->table, id, name);
    }
  }
  if (rv) {
    return rv;
  }
  rv = dsb_trust_file_save(t->table, t->path);
  char text[DSB_DEVICE_ID_TEXT_LEN + 1];
  dsb_device_id_format(text, id);
  if (rv) {
    dsbd_log(d, DSB_LOG_ERROR, "saving %s: %s", t->path, dsb_strerror(rv));
    return rv;
  }
  dsbd_log(d, DSB_LOG_INFO, "trust: %s is now %s", text,
           dsb_trust_state_name((dsb_trust_state)state));
  return 0;
}

typedef struct trust_list_ctx {
  uint8_t *dst;
  size_t dstlen, off;
  uint16_t start, index, count;
  int full;
} trust_list_ctx;

static int trust_list_one(void *ctx, const dsb_trust_entry *e) {
  trust_list_ctx *lc = ctx;
  uint16_t idx = lc->index++;
  if (idx < lc->start || lc->full) {
    return 0;
  }
  dsb_ipc_trust_entry te = {e->id, (uint8_t)e->state, dsb_ipc_cstr(e->name)};
  long n =
      dsb_ipc_trust_entry_encode(lc->dst + lc->off, lc->dstlen - lc->off, &te);
  if (n == DSB_ERR_NOBUF) {
    lc->full = 1;
  } else if (n > 0) {
    lc->off += (size_t)n;
    lc->count++;
  }
  return 0;
}

long dsbd_trust_list(dsbd *d, uint8_t *dst, size_t dstlen, uint16_t start,
                     uint16_t *total, uint16_t *count) {
  trust_state *t = d->trust;
  trust_list_ctx lc = {dst, dstlen, 0, start, 0, 0, 0};
  int rv = dsb_trust_foreach(t->table, trust_list_one, &lc);
  if (rv) {
    return rv;
  }
  *total = lc.index;
  *count = lc.count;
  return (long)lc.off;
}
