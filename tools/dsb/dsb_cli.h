/* dsb_cli.h - shared declarations of the dsb command (tools/dsb). */
#ifndef DSB_CLI_H
#define DSB_CLI_H

#include "dsb/client.h"

/* One line on stderr for |err|, naming the device/service when known. */
void cli_error(int err, const char *device, const char *service,
               const char *what);

int cmd_cat(dsb_client *c, const char *device, const char *service);
int cmd_listen(dsb_client *c, const char *service);
int cmd_serve(dsb_client *c, const char *service, char **cmd);

#endif /* DSB_CLI_H */
