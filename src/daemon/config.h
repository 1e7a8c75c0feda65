/*
 * config.h - dsoftbusd's configuration (config.c): the zero-configuration
 * defaults, the JSON config file (--config FILE) and the value checks the
 * command line (main.c) shares with it, so a value means the same thing in
 * either place.
 *
 * Every rejection produces one line naming the source (the file), the
 * field and what was expected: a half-configured daemon is worse than none.
 * Not thread-safe (process start-up only); nothing here keeps state.
 */
#ifndef DSBD_CONFIG_H
#define DSBD_CONFIG_H

#include <stddef.h>

#include "dsbd.h"

/* The largest config file accepted, in bytes. */
#define DSBD_CONFIG_MAX_FILE (64 * 1024)
/* Room for any error line of this module (a path and a sentence). */
#define DSBD_CONFIG_ERR_MAX (DSBD_PATH_MAX + 256)
/* Linux interface names: 1..IFNAMSIZ - 1 bytes. */
#define DSBD_CONFIG_IFNAME_MAX 15

/*
 * Apply the JSON config |text| (|len| bytes, need not be NUL-terminated) to
 * |cfg|; |source_name| names it in error lines (the file path). The text
 * must be one JSON object (trailing whitespace allowed) of at most
 * DSBD_CONFIG_MAX_FILE bytes. Unknown keys are errors so a typo never
 * silently falls back to a default. Keys: state_dir, socket, port,
 * discovery_port, interfaces, peers, name, log_level, backend,
 * netstackd_socket, allow_unknown, and proxy.c's policy and proxy.
 * Lists in the text are appended to those already in |cfg|.
 *
 * |cfg| changes only on success. On failure |err| holds one line without
 * the "dsoftbusd: " prefix or a newline ("config FILE: field 'F': what"),
 * except that it is empty when proxy.c rejected one of its keys and has
 * printed that line to stderr itself.
 * Errors: DSB_ERR_CONFIG (invalid content or too large), DSB_ERR_NOMEM,
 * DSB_ERR_INVALID_ARGUMENT (NULL cfg, source_name or text).
 */
int dsbd_config_load_json(dsbd_config *cfg, const char *source_name,
                          const char *text, size_t len, char *err,
                          size_t errlen);

/*
 * Read the file |path| and apply it as dsbd_config_load_json() does.
 * Errors: those of dsbd_config_load_json(), and DSB_ERR_IO (cannot open or
 * read; |err| says which, with the file name).
 */
int dsbd_config_load_file(dsbd_config *cfg, const char *path, char *err,
                          size_t errlen);

/* ---- value checks shared with the command line -------------------------- */
/* Each returns 0, or DSB_ERR_CONFIG leaving |cfg| / |dst| unchanged. */

/* Copy a non-empty |src| that fits |cap| with its NUL. */
int dsbd_config_set_str(char *dst, size_t cap, const char *src);
/* A decimal port 0..65535. */
int dsbd_config_parse_port(const char *s, int *out);
/* "error", "warn", "info" or "debug": the dsb_log_level, else
 * DSB_ERR_CONFIG. */
int dsbd_config_parse_level(const char *s);
/* Append an interface name: 1..15 bytes, not "." or "..", no '/', ':',
 * space or control character (what the kernel accepts); at most
 * DSBD_MAX_INTERFACES. */
int dsbd_config_add_interface(dsbd_config *cfg, const char *s);
/* Append a unicast peer "HOST:PORT" ("[v6]:PORT"), port 1..65535; at most
 * DSBD_MAX_PEER_ADDRS, each shorter than sizeof(cfg->peers[0]). */
int dsbd_config_add_peer(dsbd_config *cfg, const char *s);
/* A display name as dsb_ipc_name_valid() accepts it. */
int dsbd_config_set_name(dsbd_config *cfg, const char *s);
/* Fill cfg->socket_path with the default socket for this user: root ->
 * /run/dsoftbus/dsoftbusd.sock, otherwise $XDG_RUNTIME_DIR/dsoftbusd.sock,
 * else <state-dir>/dsoftbusd.sock (the client library's rule,
 * dsb_client_default_socket). */
int dsbd_config_default_socket(dsbd_config *cfg);

#endif /* DSBD_CONFIG_H */
