/*
 * dsb/service_name.h - the one rule for the names of services a local
 * application offers: stream services (local API PUBLISH), remote-call
 * services (SERVICE_ADD) and the services a bundle exports (BUNDLE_ADD).
 * docs/PROTOCOL.md, "Service names".
 *
 * A service name is 1..DSB_SERVICE_NAME_MAX bytes of [A-Za-z0-9._-], so
 * every name this device offers is at once
 *  - announceable: discovery carries names of up to 64 printable bytes;
 *  - openable as a stream: the daemon names a stream "<service>/<n hex>",
 *    n a 32-bit counter, which must fit a 64-byte mux stream name;
 *  - callable: remote-call frames carry names of up to 64 bytes of the
 *    same charset.
 * Receivers stay liberal: discovery and remote-call decoders accept the
 * longer names their wire formats allow from peers (other versions or
 * implementations); only what a local application registers is held to
 * this rule.
 *
 * Thread safety: pure function.
 */
#ifndef DSB_SERVICE_NAME_H
#define DSB_SERVICE_NAME_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DSB_SERVICE_NAME_MAX 48 /* bytes */

/* 1 if |name| (|len| bytes, no NUL needed) is a valid service name, else
 * 0 (NULL, empty, longer than DSB_SERVICE_NAME_MAX, or a byte outside
 * [A-Za-z0-9._-]). */
int dsb_service_name_valid(const char *name, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* DSB_SERVICE_NAME_H */
