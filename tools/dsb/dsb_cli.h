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

/* call.c: remote calls */
int cmd_call(dsb_client *c, const char *device, const char *service,
             const char *method, const char *arg);
int cmd_services(dsb_client *c, const char *device, int json);
int cmd_bundles(dsb_client *c, const char *device, int json);
int cmd_policy_check(dsb_client *c, const char *device, const char *service,
                     const char *method, int json);

#endif /* DSB_CLI_H */
