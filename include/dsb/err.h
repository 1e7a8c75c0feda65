/*
 * dsb/err.h - the one error list of dsoftbus-lite.
 *
 * Every function that can fail returns 0 (or a byte count) on success and a
 * negative DSB_ERR_* code on failure. Each code has a stable string label
 * (dsb_strerror()), a symbolic name (dsb_err_name()) and a human sentence
 * (dsb_err_describe()). Labels of reject paths follow "<module>.reject.<why>"
 * and never change once released: scripts and counters key on them.
 *
 * The list is split by module so modules can grow independently; numbers are
 * stable and each module owns a range of 100. XX(NAME, value, flags, label,
 * description). Flags: 0, or DSB_ERRF_FATAL when the error must close the
 * session it happened on (dsb_err_is_fatal()).
 *
 * Thread safety: all functions here are pure and thread-safe.
 */
#ifndef DSB_ERR_H
#define DSB_ERR_H

#ifdef __cplusplus
extern "C" {
#endif

#define DSB_ERRF_FATAL 1

/* -1 .. -99: generic */
#define DSB_ERR_MAP_GENERIC(XX)                                                \
  XX(INVALID_ARGUMENT, -1, 0, "invalid_argument", "invalid argument")          \
  XX(NOMEM, -2, DSB_ERRF_FATAL, "nomem", "out of memory")                      \
  XX(NOBUF, -3, 0, "nobuf", "output buffer too small")                         \
  XX(WOULD_BLOCK, -4, 0, "would_block",                                        \
     "would block: retry when the peer grants credit or the queue drains")     \
  XX(CALLBACK_FAILURE, -5, DSB_ERRF_FATAL, "callback_failure",                 \
     "user callback failed")                                                   \
  XX(INVALID_STATE, -6, 0, "invalid_state",                                    \
     "operation not valid in the current state")                               \
  XX(LIMIT, -7, 0, "limit", "configured limit reached")                        \
  XX(NOT_FOUND, -8, 0, "not_found", "not found")                               \
  XX(EXISTS, -9, 0, "exists", "already exists")                                \
  XX(IO, -10, 0, "io", "input/output error")                                   \
  XX(TIMEOUT, -11, DSB_ERRF_FATAL, "timeout", "timed out")                     \
  XX(CLOSED, -12, 0, "closed", "closed")                                       \
  XX(UNSUPPORTED, -13, 0, "unsupported", "not supported")                      \
  XX(PERMISSION, -14, 0, "permission", "permission denied")                    \
  XX(MALFORMED, -15, 0, "malformed", "malformed input")                        \
  XX(TRUNCATED, -16, 0, "truncated", "input truncated")                        \
  XX(CONFIG, -17, 0, "config", "invalid configuration")                        \
  XX(RATE_LIMITED, -18, 0, "rate_limited", "rate limit exceeded")              \
  XX(INTERNAL, -19, DSB_ERRF_FATAL, "internal", "internal error")              \
  XX(AGAIN, -20, 0, "again", "resource temporarily unavailable")

/* -100 .. -199: crypto layer */
#define DSB_ERR_MAP_CRYPTO(XX)                                                 \
  XX(CRYPTO, -100, DSB_ERRF_FATAL, "crypto.failure", "crypto library failure") \
  XX(CRYPTO_AUTH, -101, DSB_ERRF_FATAL, "crypto.reject.auth_tag",              \
     "authentication tag mismatch")                                            \
  XX(CRYPTO_DH_ZERO, -102, DSB_ERRF_FATAL, "crypto.reject.dh_all_zero",        \
     "X25519 produced the all-zero output (low-order point)")                  \
  XX(CRYPTO_BAD_SIGNATURE, -103, DSB_ERRF_FATAL,                               \
     "crypto.reject.bad_signature", "Ed25519 signature does not verify")       \
  XX(CRYPTO_RNG, -104, DSB_ERRF_FATAL, "crypto.rng_failure",                   \
     "random number generator failed")

/* -200 .. -299: Noise framework */
#define DSB_ERR_MAP_NOISE(XX)                                                  \
  XX(NOISE_UNKNOWN_PROTOCOL, -200, 0, "noise.unknown_protocol",                \
     "unsupported Noise protocol name")                                        \
  XX(NOISE_OUT_OF_TURN, -201, 0, "noise.out_of_turn",                          \
     "handshake call out of turn")                                             \
  XX(NOISE_MISSING_KEY, -202, 0, "noise.missing_key",                          \
     "a key the handshake pattern needs was not set")                          \
  XX(NOISE_MSG_TOO_LONG, -203, DSB_ERRF_FATAL,                                 \
     "noise.reject.message_too_long", "Noise message longer than 65535 bytes") \
  XX(NOISE_NONCE_EXHAUSTED, -204, DSB_ERRF_FATAL,                              \
     "noise.reject.nonce_exhausted", "cipher state nonce exhausted")           \
  XX(NOISE_SHORT_MESSAGE, -205, DSB_ERRF_FATAL, "noise.reject.short_message",  \
     "Noise message shorter than its pattern requires")                        \
  XX(NOISE_HANDSHAKE_DONE, -206, 0, "noise.handshake_done",                    \
     "handshake already complete")                                             \
  XX(NOISE_PSK_MISSING, -207, 0, "noise.psk_missing",                          \
     "a PSK the pattern needs was not set")                                    \
  XX(NOISE_FAILED, -208, DSB_ERRF_FATAL, "noise.handshake_failed",             \
     "handshake already failed; its state was wiped")

/* -300 .. -399: identity, trust store, key files */
#define DSB_ERR_MAP_IDENTITY(XX)                                               \
  XX(IDENTITY_MISMATCH, -300, DSB_ERRF_FATAL,                                  \
     "session.reject.identity_mismatch", "identity mismatch")                  \
  XX(IDENTITY_BAD_CERT, -301, DSB_ERRF_FATAL,                                  \
     "identity.reject.bad_certificate",                                        \
     "static-key certificate does not verify")                                 \
  XX(IDENTITY_FILE_MODE, -302, 0, "identity.file_mode",                        \
     "key file has unsafe permissions (must be 0600)")                         \
  XX(IDENTITY_FILE_CORRUPT, -303, 0, "identity.file_corrupt",                  \
     "key file is truncated or corrupt")                                       \
  XX(TRUST_BLOCKED, -304, DSB_ERRF_FATAL, "trust.reject.blocked",              \
     "device is blocked")                                                      \
  XX(TRUST_UNKNOWN, -305, DSB_ERRF_FATAL, "trust.reject.not_trusted",          \
     "device is not trusted")                                                  \
  XX(TRUST_FILE_CORRUPT, -306, 0, "trust.file_corrupt",                        \
     "trust store file is corrupt")                                            \
  XX(STATEFILE_MODE, -307, 0, "statefile.unsafe_mode",                         \
     "state file or directory has unsafe owner, type or permissions")          \
  XX(STATEFILE_VERSION, -308, 0, "statefile.unsupported_version",              \
     "state file has an unsupported format version")

/* -400 .. -499: sessions and records */
#define DSB_ERR_MAP_SESSION(XX)                                                \
  XX(SESSION_RECORD_OVERSIZE, -400, DSB_ERRF_FATAL,                            \
     "session.reject.record_oversize", "record length over the limit")         \
  XX(SESSION_HANDSHAKE_TIMEOUT, -401, DSB_ERRF_FATAL,                          \
     "session.reject.handshake_timeout", "handshake took too long")            \
  XX(SESSION_HALF_OPEN_LIMIT, -402, DSB_ERRF_FATAL,                            \
     "session.reject.half_open_limit", "too many half-open handshakes")        \
  XX(SESSION_BAD_HANDSHAKE, -403, DSB_ERRF_FATAL,                              \
     "session.reject.bad_handshake", "handshake message rejected")             \
  XX(SESSION_BAD_PAYLOAD, -404, DSB_ERRF_FATAL, "session.reject.bad_payload",  \
     "handshake payload malformed")                                            \
  XX(SESSION_NOT_ESTABLISHED, -405, 0, "session.not_established",              \
     "session is not established")                                             \
  XX(SESSION_CLOSED, -406, DSB_ERRF_FATAL, "session.closed",                   \
     "session is closed")                                                      \
  XX(SESSION_RECORD_TRUNCATED, -407, DSB_ERRF_FATAL,                           \
     "session.reject.record_truncated", "record truncated")                    \
  XX(SESSION_RATE_LIMITED, -408, DSB_ERRF_FATAL,                               \
     "session.reject.rate_limited",                                            \
     "handshake rate limit exceeded for source")                               \
  XX(SESSION_RECORD_UNDERSIZE, -409, DSB_ERRF_FATAL,                           \
     "session.reject.record_undersize", "record shorter than its tag")         \
  XX(SESSION_VERSION, -410, DSB_ERRF_FATAL, "session.reject.unknown_version",  \
     "unknown session protocol version")

/* -500 .. -599: discovery */
#define DSB_ERR_MAP_DISC(XX)                                                   \
  XX(DISC_VERSION, -500, 0, "disc.reject.unknown_version",                     \
     "unknown announcement version")                                           \
  XX(DISC_OVERSIZE, -501, 0, "disc.reject.oversize",                           \
     "announcement over the size limit")                                       \
  XX(DISC_TRUNCATED, -502, 0, "disc.reject.truncated",                         \
     "announcement truncated")                                                 \
  XX(DISC_BAD_SIGNATURE, -503, 0, "disc.reject.bad_signature",                 \
     "announcement signature does not verify")                                 \
  XX(DISC_BAD_CERT, -504, 0, "disc.reject.bad_certificate",                    \
     "announcement certificate does not match its keys")                       \
  XX(DISC_BAD_DEVICE_ID, -505, 0, "disc.reject.bad_device_id",                 \
     "device id is not derived from the announced key")                        \
  XX(DISC_REPLAY, -506, 0, "disc.reject.replay",                               \
     "announcement sequence number is not newer")                              \
  XX(DISC_TOO_MANY_SERVICES, -507, 0, "disc.reject.too_many_services",         \
     "too many services in announcement")                                      \
  XX(DISC_NAME_TOO_LONG, -508, 0, "disc.reject.name_too_long",                 \
     "name over the length limit")                                             \
  XX(DISC_RATE_LIMITED, -509, 0, "disc.reject.rate_limited",                   \
     "announcement rate limit exceeded for source")                            \
  XX(DISC_MALFORMED, -510, 0, "disc.reject.malformed",                         \
     "malformed discovery message")                                            \
  XX(DISC_SELF, -511, 0, "disc.ignore.self",                                   \
     "announcement from this device (looped back)")                            \
  XX(DISC_NO_ENDPOINT, -512, 0, "disc.no_session_endpoint",                    \
     "peer announces no usable session endpoint")

/* -600 .. -699: streams (mux v2); labels fixed by the brief */
#define DSB_ERR_MAP_MUX(XX)                                                    \
  XX(MUX_FRAME_OVERSIZE, -600, DSB_ERRF_FATAL, "mux.reject.frame_oversize",    \
     "mux frame over the size limit")                                          \
  XX(MUX_INVALID_TRANSITION, -601, DSB_ERRF_FATAL,                             \
     "mux.reject.invalid_stream_state_transition",                             \
     "invalid stream state transition")                                        \
  XX(MUX_CREDIT, -602, DSB_ERRF_FATAL,                                         \
     "mux.reject.window_credit_overflow_or_underflow",                         \
     "stream window credit overflow or underflow")                             \
  XX(MUX_UNKNOWN_STREAM, -603, DSB_ERRF_FATAL,                                 \
     "mux.reject.unknown_stream_frame", "frame for an unknown stream")         \
  XX(MUX_UNAUTHENTICATED, -604, DSB_ERRF_FATAL,                                \
     "mux.reject.unauthenticated_session",                                     \
     "mux frame on an unauthenticated session")                                \
  XX(MUX_DUPLICATE_NAME, -605, 0, "mux.reject.duplicate_stream_name",          \
     "duplicate stream name")                                                  \
  XX(MUX_INVALID_NAME, -606, 0, "mux.reject.invalid_stream_name",              \
     "invalid stream name")                                                    \
  XX(MUX_MESSAGE_TOO_LARGE, -607, 0, "mux.message_too_large",                  \
     "message larger than the maximum message size")                           \
  XX(MUX_TOO_MANY_STREAMS, -608, 0, "mux.too_many_streams",                    \
     "stream limit reached")                                                   \
  XX(MUX_MALFORMED, -609, DSB_ERRF_FATAL, "mux.reject.malformed_frame",        \
     "malformed mux frame")                                                    \
  XX(MUX_KEEPALIVE_TIMEOUT, -610, DSB_ERRF_FATAL, "mux.keepalive_timeout",     \
     "peer did not answer keepalive in time")                                  \
  XX(MUX_STREAM_RESET, -611, 0, "mux.stream_reset", "stream was reset")        \
  XX(MUX_VERSION, -612, DSB_ERRF_FATAL, "mux.reject.unknown_version",          \
     "unknown mux frame version")                                              \
  XX(MUX_REFUSAL_FLOOD, -613, DSB_ERRF_FATAL,                                  \
     "mux.reject.stream_refusal_flood",                                        \
     "peer opened streams faster than refusals could be sent")

/* -700 .. -799: local IPC (daemon <-> apps, daemon <-> netstackd) */
#define DSB_ERR_MAP_IPC(XX)                                                    \
  XX(IPC_MALFORMED, -700, 0, "ipc.reject.malformed", "malformed IPC message")  \
  XX(IPC_UNKNOWN_OP, -701, 0, "ipc.reject.unknown_op",                         \
     "unknown IPC operation")                                                  \
  XX(IPC_STALE_NONCE, -702, 0, "ipc.reject.stale_nonce",                       \
     "reply nonce matches no pending request")                                 \
  XX(IPC_PEER_CRED, -703, 0, "ipc.reject.peer_credentials",                    \
     "peer credentials not allowed")                                           \
  XX(IPC_NOT_ALLOWED, -704, 0, "ipc.reject.not_allowed",                       \
     "request refused by policy")                                              \
  XX(IPC_OVERSIZE, -705, 0, "ipc.reject.oversize",                             \
     "IPC message over the size limit")                                        \
  XX(IPC_VERSION, -706, 0, "ipc.reject.unsupported_version",                   \
     "unsupported local API version")                                          \
  XX(IPC_TRUNCATED, -707, 0, "ipc.reject.truncated", "IPC message truncated")  \
  XX(IPC_TRAILING, -708, 0, "ipc.reject.trailing_bytes",                       \
     "trailing bytes after the IPC payload")                                   \
  XX(IPC_BAD_STRING, -709, 0, "ipc.reject.bad_string",                         \
     "invalid name or service string")                                         \
  XX(IPC_BAD_VALUE, -710, 0, "ipc.reject.bad_value",                           \
     "field value out of range")                                               \
  XX(IPC_TOO_MANY, -711, 0, "ipc.reject.too_many_entries",                     \
     "too many entries in an IPC list")                                        \
  XX(IPC_NO_SERVICE, -712, 0, "ipc.no_such_service",                           \
     "no such service on the device")                                          \
  XX(IPC_NO_PEER, -713, 0, "ipc.no_such_device", "device not discovered")      \
  XX(IPC_CLIENT_LIMIT, -714, 0, "ipc.reject.too_many_clients",                 \
     "too many local clients")                                                 \
  XX(IPC_UNREACHABLE, -715, 0, "ipc.device_unreachable",                       \
     "could not establish a session with the device")                          \
  XX(IPC_QUEUE_FULL, -716, 0, "ipc.client_queue_full",                         \
     "the client library's receive queue is full (replies not collected)")

/* -800 .. -899: remote service proxy */
#define DSB_ERR_MAP_PROXY(XX)                                                  \
  XX(PROXY_DENIED, -800, 0, "proxy.reject.denied", "denied by policy")         \
  XX(PROXY_UNKNOWN_SERVICE, -801, 0, "proxy.reject.unknown_service",           \
     "no such service")                                                        \
  XX(PROXY_OVERSIZE, -802, 0, "proxy.reject.oversize",                         \
     "request or reply over the size limit")                                   \
  XX(PROXY_TOO_MANY_CALLS, -803, 0, "proxy.reject.too_many_calls",             \
     "too many calls in flight")                                               \
  XX(PROXY_UNAVAILABLE, -804, 0, "proxy.unavailable", "service unavailable")   \
  XX(PROXY_MALFORMED, -805, 0, "proxy.reject.malformed",                       \
     "malformed call frame")                                                   \
  XX(PROXY_TIMEOUT, -806, 0, "proxy.timeout", "remote call timed out")         \
  XX(PROXY_STALE_REPLY, -807, 0, "proxy.reject.stale_reply",                   \
     "reply nonce matches no pending call")                                    \
  XX(PROXY_LATE_REPLY, -808, 0, "proxy.reject.late_reply",                     \
     "reply arrived after its call timed out")                                 \
  XX(PROXY_VERSION, -809, 0, "proxy.reject.unknown_version",                   \
     "unknown call frame version")                                             \
  XX(PROXY_UNKNOWN_METHOD, -810, 0, "proxy.reject.unknown_method",             \
     "no such method on the service")                                          \
  XX(PROXY_FAILED, -811, 0, "proxy.service_failed",                            \
     "the service reported an error")                                          \
  XX(PROXY_POLICY_INVALID, -812, 0, "proxy.policy_invalid",                    \
     "invalid policy file")

/* -900 .. -999: netstackd sockets facade (docs/PROTOCOL.md "netstackd
 * protocol") */
#define DSB_ERR_MAP_NETSTACK(XX)                                               \
  XX(NETSTACK_VERSION, -900, 0, "netstack.reject.unsupported_version",         \
     "unsupported netstackd protocol version")                                 \
  XX(NETSTACK_NOT_READY, -901, 0, "netstack.reject.hello_required",            \
     "request before the HELLO exchange")                                      \
  XX(NETSTACK_FAMILY, -902, 0, "netstack.reject.family_not_allowed",           \
     "address family not allowed by the netstackd config")                     \
  XX(NETSTACK_PORT, -903, 0, "netstack.reject.port_not_allowed",               \
     "port not allowed by the netstackd config")                               \
  XX(NETSTACK_IFACE, -904, 0, "netstack.reject.interface_not_allowed",         \
     "interface not allowed by the netstackd config")                          \
  XX(NETSTACK_DEST, -905, 0, "netstack.reject.destination_not_allowed",        \
     "destination network not allowed by the netstackd config")                \
  XX(NETSTACK_LOCAL_ADDR, -906, 0,                                             \
     "netstack.reject.local_address_not_allowed",                              \
     "local address not allowed by the netstackd config")                      \
  XX(NETSTACK_UNKNOWN_HANDLE, -907, 0, "netstack.reject.unknown_handle",       \
     "no pending operation with that nonce")                                   \
  XX(NETSTACK_BUSY, -908, 0, "netstack.reject.busy",                           \
     "netstackd already serves another client")                                \
  XX(NETSTACK_ADDR_IN_USE, -909, 0, "netstack.address_in_use",                 \
     "address already in use")                                                 \
  XX(NETSTACK_REFUSED, -910, 0, "netstack.connection_refused",                 \
     "connection refused by the destination")                                  \
  XX(NETSTACK_UNREACHABLE, -911, 0, "netstack.unreachable",                    \
     "network or host unreachable")                                            \
  XX(NETSTACK_CONNECT_TIMEOUT, -912, 0, "netstack.connect_timeout",            \
     "connect did not complete in time")                                       \
  XX(NETSTACK_CANCELLED, -913, 0, "netstack.cancelled",                        \
     "operation cancelled by CLOSE")                                           \
  XX(NETSTACK_SYSTEM, -914, 0, "netstack.system_error",                        \
     "netstackd hit an operating system error")                                \
  XX(NETSTACK_NO_IFACE, -915, 0, "netstack.no_such_interface",                 \
     "no such network interface")                                              \
  XX(NETSTACK_DESCRIPTOR, -916, 0, "netstack.reject.descriptor_mismatch",      \
     "descriptor missing from, or unexpected in, a netstackd message")         \
  XX(NETSTACK_DOWN, -917, 0, "netstack.unavailable",                           \
     "not connected to netstackd")                                             \
  XX(NETSTACK_DUPLICATE_NONCE, -918, 0, "netstack.reject.duplicate_nonce",     \
     "nonce already used by a pending request")

#define DSB_ERR_MAP(XX)                                                        \
  DSB_ERR_MAP_GENERIC(XX)                                                      \
  DSB_ERR_MAP_CRYPTO(XX)                                                       \
  DSB_ERR_MAP_NOISE(XX)                                                        \
  DSB_ERR_MAP_IDENTITY(XX)                                                     \
  DSB_ERR_MAP_SESSION(XX)                                                      \
  DSB_ERR_MAP_DISC(XX)                                                         \
  DSB_ERR_MAP_MUX(XX)                                                          \
  DSB_ERR_MAP_IPC(XX)                                                          \
  DSB_ERR_MAP_PROXY(XX)                                                        \
  DSB_ERR_MAP_NETSTACK(XX)

typedef enum dsb_err {
  DSB_OK = 0,
#define DSB_ERR_XX(name, value, flags, label, desc) DSB_ERR_##name = (value),
  DSB_ERR_MAP(DSB_ERR_XX)
#undef DSB_ERR_XX
} dsb_err;

/* Stable label, e.g. "mux.reject.frame_oversize". Never NULL. */
const char *dsb_strerror(int err);

/* Symbolic name, e.g. "DSB_ERR_MUX_FRAME_OVERSIZE". Never NULL. */
const char *dsb_err_name(int err);

/* One human sentence, e.g. "mux frame over the size limit". Never NULL. */
const char *dsb_err_describe(int err);

/* Non-zero if |err| must close the session it happened on. */
int dsb_err_is_fatal(int err);

#ifdef __cplusplus
}
#endif

#endif /* DSB_ERR_H */
