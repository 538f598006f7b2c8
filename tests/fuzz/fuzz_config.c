/*
 * Fuzz target for the configuration parser (mxd/common/config.c): the input is an mxd.conf. A configuration
 * is the operator's, not a stranger's, but a typo must never crash mxd or mxctl: every input ends in a
 * config or in an error naming file:line. It aborts when an accepted config breaks a setting's bounds.
 */
#include "mxd/common/config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/mxd-fuzz-config-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		unlink(path);
		return 0;
	}
	close(fd);
	struct mxd_config *cfg = config_new();
	const char *error;
	if (config_load(cfg, path, &error) == 0) {
		if (cfg->message_size_limit < 1024 || cfg->smtpd_recipient_limit < 1 ||
		    cfg->myhostname == NULL || cfg->myhostname[0] == '\0')
			abort();
		FILE *null = fopen("/dev/null", "w");
		if (null != NULL) {
			config_dump(cfg, null, true);
			fclose(null);
		}
	} else if (error == NULL) {
		abort();
	}
	config_free(&cfg);
	unlink(path);
	return 0;
}
