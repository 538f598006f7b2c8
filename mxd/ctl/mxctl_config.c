/*
 * mxctl_config: "mxctl config [-n|-d] [NAME...]", the postconf of mxd. Prints "name = value" lines of
 * the configuration in effect (values as written, $references unexpanded, like postconf): every
 * setting, only those changed from the default (-n), or the defaults (-d); with NAMEs only those.
 * An unknown NAME is reported on stderr and makes the exit status 1; the others are still printed.
 */
#include "mxd/ctl/mxctl.h"

#include "mxd/common/util.h"

#include <stdio.h>
#include <string.h>

int mxctl_cmd_config(struct mxctl *ctl, int argc, char **argv)
{
	bool only_non_default = false, defaults = false;
	int i, ret = 0;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-n") == 0) {
			only_non_default = true;
		} else if (strcmp(argv[i], "-d") == 0) {
			defaults = true;
		} else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else {
			fprintf(stderr,
			        "mxctl: config: unknown option '%s'\nusage: mxctl config [-n|-d] [NAME...]\n",
			        argv[i]);
			return 2;
		}
	}
	if (only_non_default && defaults) {
		fprintf(stderr, "mxctl: config: -n and -d exclude each other\n");
		return 2;
	}

	struct mxd_config *def = config_new();
	const struct mxd_config *cfg = defaults ? def : ctl->cfg;
	if (i == argc) {
		config_dump(cfg, stdout, only_non_default);
	} else {
		for (; i < argc; i++) {
			const char *value = config_raw_value(cfg, argv[i]);
			if (value == NULL) {
				fprintf(stderr, "mxctl: config: unknown setting '%s'\n", argv[i]);
				ret = 1;
				continue;
			}
			if (only_non_default && strcmp(value, config_raw_value(def, argv[i])) == 0)
				continue;
			printf("%s = %s\n", argv[i], value);
		}
	}
	config_free(&def);
	return ret;
}
