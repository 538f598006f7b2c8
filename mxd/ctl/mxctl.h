/*
 * mxctl: the command-line tool. mxctl.c parses the global options (-c FILE), loads the configuration
 * and dispatches to one mxctl_<noun>.c per command family. Each command returns the process exit
 * status: 0 success, 1 bad input or failed operation (a message naming the bad field went to stderr),
 * 2 usage error. Output meant for scripts goes to stdout, diagnostics to stderr.
 */
#ifndef MXD_MXCTL_H
#define MXD_MXCTL_H

#include "mxd/common/config.h"

struct mxctl {
	struct mxd_config *cfg;
	const char *config_path;
};

/* argv[0] is the command family ("domain", "queue", ...), argv[1] its action. */
int mxctl_cmd_init(struct mxctl *ctl, int argc, char **argv);
int mxctl_cmd_config(struct mxctl *ctl, int argc, char **argv);
int mxctl_cmd_domain(struct mxctl *ctl, int argc, char **argv);
int mxctl_cmd_alias(struct mxctl *ctl, int argc, char **argv);
int mxctl_cmd_aliasdomain(struct mxctl *ctl, int argc, char **argv);
int mxctl_cmd_resolve(struct mxctl *ctl, int argc, char **argv);
int mxctl_cmd_queue(struct mxctl *ctl, int argc, char **argv);
int mxctl_cmd_route(struct mxctl *ctl, int argc, char **argv);
int mxctl_cmd_admin(struct mxctl *ctl, int argc, char **argv);
int mxctl_cmd_sync(struct mxctl *ctl, int argc, char **argv);
int mxctl_cmd_status(struct mxctl *ctl, int argc, char **argv);
int mxctl_cmd_secret(struct mxctl *ctl, int argc, char **argv);
int mxctl_cmd_dkim(struct mxctl *ctl, int argc, char **argv);
int mxctl_cmd_check(struct mxctl *ctl, int argc, char **argv);

#endif
