/*
 * client_int.h - internal entry points of the client library (src/client)
 * for its extension modules (client_rpc.c). Not installed.
 *
 * An extension owns the packets whose op byte it claims: client.c hands
 * them over, whole, from whatever call is receiving (a blocking request,
 * dsb_client_next_event(), ...), so an extension's replies and events are
 * never counted stale by client.c nor lost while another call waits. It
 * also gets every generic error reply (DSB_IPC_OP_ERROR) whose nonce is
 * not client.c's own, since that may answer one of its requests.
 */
#ifndef DSB_CLIENT_INT_H
#define DSB_CLIENT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "dsb/client.h"

/* Claims |op|: return 1 to receive packets with that first byte. */
typedef int (*dsb_client_ext_claims_fn)(uint8_t op);
/* One claimed packet (borrowed for the call); |fd| (or -1) is consumed. */
typedef void (*dsb_client_ext_packet_fn)(void *ext, const uint8_t *p,
                                         size_t len, int fd);
typedef void (*dsb_client_ext_free_fn)(void *ext);

typedef struct dsb_client_ext {
  dsb_client_ext_claims_fn claims;
  dsb_client_ext_packet_fn packet;
  dsb_client_ext_free_fn free; /* called by dsb_client_close() */
} dsb_client_ext;

/* Install the one extension (|ops| must outlive the client). */
void dsb_client_ext_set(dsb_client *c, const dsb_client_ext *ops, void *ext);
void *dsb_client_ext_get(const dsb_client *c);

/* A fresh request nonce (never reused by client.c). */
uint64_t dsb_client_ext_nonce(dsb_client *c);

/* Send one packet. While the socket is full, packets that arrive are
 * received and dispatched (the extension's packet function may run).
 * Errors: DSB_ERR_CLOSED, DSB_ERR_IO, DSB_ERR_TIMEOUT (no room within the
 * client's timeout). */
int dsb_client_ext_send(dsb_client *c, const uint8_t *p, size_t len);

/* 1 while a send waits for room: a packet function called then must not
 * send (it would nest sends and overwrite the packet being sent), so it
 * defers what it has to say. */
int dsb_client_ext_sending(const dsb_client *c);

/* Receive and dispatch one packet, waiting up to |timeout_ms| (< 0:
 * forever). Returns 1 when a packet was handled, 0 on timeout, or
 * DSB_ERR_CLOSED, DSB_ERR_IO. */
int dsb_client_ext_pump(dsb_client *c, int timeout_ms);

/* Monotonic milliseconds (for deadlines). */
int64_t dsb_client_ext_now_ms(void);

#endif /* DSB_CLIENT_INT_H */
