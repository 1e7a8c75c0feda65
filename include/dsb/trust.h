/*
 * dsb/trust.h - the trust store: which devices this device talks to.
 *
 * A bounded table from device id to a state (unknown, trusted, blocked) and
 * an optional display name, with a JSON text form for storage (layout:
 * docs/PROTOCOL.md, "Trust file"; file I/O: include/dsb/trust_file.h).
 * Sans-IO: no files, no clock. Entries are kept sorted by device id, so
 * listings and the JSON text are deterministic.
 *
 * Thread safety: a dsb_trust is not thread-safe; lock around it or keep it
 * on one thread. The read-only functions may run concurrently with each
 * other. Ownership: the table owns its entries; entries handed out are
 * copies (dsb_trust_get/list) or borrowed for one callback (foreach).
 */
#ifndef DSB_TRUST_H
#define DSB_TRUST_H

#include <stddef.h>
#include <stdint.h>

#include "dsb/common.h"
#include "dsb/identity.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DSB_TRUST_DEFAULT_CAPACITY 1024 /* entries, when 0 is given */
#define DSB_TRUST_MAX_CAPACITY 16384    /* largest capacity accepted */
#define DSB_TRUST_NAME_MAX 64           /* display name: bytes of UTF-8 */
#define DSB_TRUST_JSON_VERSION 1
/* JSON text size bounds: at most this many bytes per entry (worst-case
 * escaped name, pretty-printed) plus a fixed overhead. */
#define DSB_TRUST_JSON_ENTRY_MAX 640
#define DSB_TRUST_JSON_OVERHEAD 256

/* Values match DSB_IPC_TRUST_* and the JSON strings below. */
typedef enum dsb_trust_state {
  DSB_TRUST_UNKNOWN = 0, /* "unknown": seen or named, no decision */
  DSB_TRUST_TRUSTED = 1, /* "trusted": sessions allowed */
  DSB_TRUST_BLOCKED = 2  /* "blocked": handshakes refused */
} dsb_trust_state;

typedef struct dsb_trust_entry {
  dsb_device_id id;
  dsb_trust_state state;
  char name[DSB_TRUST_NAME_MAX + 1]; /* NUL-terminated; "" for none */
} dsb_trust_entry;

typedef struct dsb_trust dsb_trust;

/* Flags of dsb_trust_check(). */
#define DSB_TRUST_ALLOW_UNKNOWN 0x1u /* lab mode: unknown devices pass */

/*
 * New empty table of at most |capacity| entries (0: the default 1024).
 * Memory grows with use, up to the capacity.
 * Errors: DSB_ERR_INVALID_ARGUMENT (capacity over DSB_TRUST_MAX_CAPACITY),
 * DSB_ERR_NOMEM.
 */
DSB_MUST_CHECK int dsb_trust_new(dsb_trust **ptrust, const dsb_mem *mem,
                                 size_t capacity);

/* NULL is a no-op. */
void dsb_trust_del(dsb_trust *trust);

size_t dsb_trust_count(const dsb_trust *trust);
size_t dsb_trust_capacity(const dsb_trust *trust);

/*
 * Add a new entry. |name| may be NULL or "" (no name); otherwise valid
 * UTF-8 of at most DSB_TRUST_NAME_MAX bytes without control characters.
 * Errors: DSB_ERR_INVALID_ARGUMENT (bad state or name), DSB_ERR_EXISTS,
 * DSB_ERR_LIMIT (table full), DSB_ERR_NOMEM.
 */
DSB_MUST_CHECK int dsb_trust_add(dsb_trust *trust, const dsb_device_id *id,
                                 dsb_trust_state state, const char *name);

/*
 * Set the state of |id|, adding an entry without a name if there is none
 * (what `dsb trust add|block` does).
 * Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_LIMIT, DSB_ERR_NOMEM.
 */
DSB_MUST_CHECK int dsb_trust_set(dsb_trust *trust, const dsb_device_id *id,
                                 dsb_trust_state state);

/* Replace the name of an existing entry (NULL or "": clear it).
 * Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_NOT_FOUND. */
DSB_MUST_CHECK int dsb_trust_set_name(dsb_trust *trust, const dsb_device_id *id,
                                      const char *name);

/* Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_NOT_FOUND */
DSB_MUST_CHECK int dsb_trust_remove(dsb_trust *trust, const dsb_device_id *id);

/* Remove every entry. */
void dsb_trust_clear(dsb_trust *trust);

/* Copy the entry of |id| into |entry|.
 * Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_NOT_FOUND. */
DSB_MUST_CHECK int dsb_trust_get(const dsb_trust *trust,
                                 const dsb_device_id *id,
                                 dsb_trust_entry *entry);

/* State of |id|: DSB_TRUST_UNKNOWN when absent (or |trust| is NULL). */
dsb_trust_state dsb_trust_state_of(const dsb_trust *trust,
                                   const dsb_device_id *id);

/*
 * Copy all entries, sorted by device id, into |out| (|outcap| entries).
 * Returns the number copied.
 * Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_NOBUF (|outcap| < count).
 */
DSB_MUST_CHECK int dsb_trust_list(const dsb_trust *trust, dsb_trust_entry *out,
                                  size_t outcap);

/*
 * Call |cb| for each entry in device-id order; the entry is borrowed for
 * the call and the table must not be changed from inside |cb|. A non-zero
 * return stops the walk.
 * Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_CALLBACK_FAILURE (|cb|
 * returned non-zero).
 */
typedef int (*dsb_trust_foreach_fn)(void *ctx, const dsb_trust_entry *entry);
DSB_MUST_CHECK int dsb_trust_foreach(const dsb_trust *trust,
                                     dsb_trust_foreach_fn cb, void *ctx);

/*
 * The handshake-time decision for a proven device id: 0 if trusted,
 * DSB_ERR_TRUST_BLOCKED if blocked (always, whatever |flags|),
 * DSB_ERR_TRUST_UNKNOWN if absent or unknown unless |flags| has
 * DSB_TRUST_ALLOW_UNKNOWN. A NULL |trust| is an empty table.
 * Errors: DSB_ERR_INVALID_ARGUMENT (NULL id), DSB_ERR_TRUST_BLOCKED,
 * DSB_ERR_TRUST_UNKNOWN.
 */
DSB_MUST_CHECK int dsb_trust_check(const dsb_trust *trust,
                                   const dsb_device_id *id, uint32_t flags);

/*
 * Adapter for the session layer's peer check (dsb_session_peer_check_fn in
 * include/dsb/session.h): set config.peer_check = dsb_trust_peer_check and
 * config.peer_check_ctx = a dsb_trust_checker that outlives the session.
 * Returns dsb_trust_check(checker->trust, peer, checker->flags).
 */
typedef struct dsb_trust_checker {
  const dsb_trust *trust; /* borrowed; NULL: empty table */
  uint32_t flags;         /* DSB_TRUST_ALLOW_UNKNOWN or 0 */
} dsb_trust_checker;

int dsb_trust_peer_check(void *ctx, const dsb_device_id *peer);

/* "unknown", "trusted", "blocked"; "invalid" for other values. */
const char *dsb_trust_state_name(dsb_trust_state state);

/* Parse one of the three names. Errors: DSB_ERR_MALFORMED */
DSB_MUST_CHECK int dsb_trust_state_parse(dsb_trust_state *state,
                                         const char *text, size_t textlen);

/*
 * An upper bound of the JSON text length of |trust| as it is now (NUL
 * included), for sizing the buffer of dsb_trust_to_json().
 */
size_t dsb_trust_json_bound(const dsb_trust *trust);

/*
 * The largest JSON text dsb_trust_from_json() accepts for this table:
 * DSB_TRUST_JSON_OVERHEAD + capacity * DSB_TRUST_JSON_ENTRY_MAX bytes, so
 * whatever a full table writes can be read back, and nothing much larger.
 */
size_t dsb_trust_json_max(const dsb_trust *trust);

/*
 * Write the JSON text (docs/PROTOCOL.md, "Trust file") and a NUL into
 * |out|. Returns the text length without the NUL.
 * Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_NOBUF, DSB_ERR_NOMEM.
 */
DSB_MUST_CHECK int dsb_trust_to_json(const dsb_trust *trust, char *out,
                                     size_t outlen);

/*
 * Replace the contents of |trust| with the JSON text |text| (|textlen|
 * bytes, no NUL needed). Every field is validated; on any error the table
 * is left unchanged.
 * Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_TRUST_FILE_CORRUPT (not JSON,
 * wrong shape or types, unknown member, bad id/state/name, duplicate id,
 * NUL byte, longer than dsb_trust_json_max()), DSB_ERR_STATEFILE_VERSION (a
 * "version" other than 1), DSB_ERR_LIMIT (more entries than the capacity),
 * DSB_ERR_NOMEM.
 */
DSB_MUST_CHECK int dsb_trust_from_json(dsb_trust *trust, const char *text,
                                       size_t textlen);

#ifdef __cplusplus
}
#endif

#endif /* DSB_TRUST_H */
