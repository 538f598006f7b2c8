/*
 * check_startup: the self-check (check.h) that mxd runs once at start when check_at_start = yes, in a
 * detached thread of its own so that neither the start nor the event loop waits for it. Each WARN and
 * FAIL line is logged as a warning (service "check"), then one summary line. It never probes port 25
 * (check_smtp_probe is for mxctl check and the admin UI). The thread works on a copy of cfg that it owns,
 * so the caller may free cfg at any time; a check still running at exit is simply dropped.
 */
#ifndef MXD_CHECK_STARTUP_H
#define MXD_CHECK_STARTUP_H

#include "mxd/common/config.h"

/* Start the thread. 0, or -1 with *error_r (static) when it cannot start. */
int check_startup_start(const struct mxd_config *cfg, const char **error_r);

#endif
