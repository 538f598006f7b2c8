/*
 * mxctl_check: mxctl check [DOMAIN] [--no-probe]: the self-check (mxd/check/check.h), one line per
 * finding: "OK|WARN|FAIL CHECK SUBJECT: text". Exit status 1 when a line is FAIL, else 0. --no-probe
 * skips the outbound port-25 connection. Runs as mail_owner (mxctl.c), as it opens the database (read-only).
 */
#include "mxd/ctl/mxctl.h"

#include "mxd/check/check.h"
#include "mxd/common/addr.h"
#include "db/db.h"

#include <stdio.h>
#include <string.h>

static const char check_usage[] = "usage: mxctl check [DOMAIN] [--no-probe]\n";

int mxctl_cmd_check(struct mxctl *ctl, int argc, char **argv)
{
	struct check_options opt = {0};
	const char *error;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "help") == 0 && argc == 2) {
			fputs(check_usage, stdout);
			return 0;
		} else if (strcmp(argv[i], "--no-probe") == 0) {
			opt.skip_probe = true;
		} else if (argv[i][0] == '-' || opt.domain != NULL) {
			fputs(check_usage, stderr);
			return 2;
		} else if (addr_domain_valid(argv[i], &error) < 0) {
			fprintf(stderr, "mxctl: check: domain '%s': %s\n", argv[i], error);
			return 1;
		} else {
			opt.domain = argv[i];
		}
	}
	struct db *db = NULL;
	if (db_open(ctl->cfg->database, DB_OPEN_READONLY, &db, &error) < 0) {
		fprintf(stderr, "mxctl: check: %s\n", error);
		return 1;
	}
	struct check_report report;
	int rc = check_run(ctl->cfg, db, &opt, &report, &error);
	db_close(&db);
	if (rc < 0) {
		fprintf(stderr, "mxctl: check: %s\n", error);
		return 1;
	}
	size_t count[3] = {0, 0, 0};
	for (size_t i = 0; i < report.n; i++) {
		const struct check_line *l = &report.lines[i];
		count[l->level]++;
		printf("%-4s %-7s %s: %s\n", check_level_str(l->level), l->check, l->subject, l->text);
	}
	printf("%zu OK, %zu WARN, %zu FAIL\n", count[CHECK_OK], count[CHECK_WARN], count[CHECK_FAIL]);
	enum check_level worst = check_report_worst(&report);
	check_report_free(&report);
	return worst == CHECK_FAIL ? 1 : 0;
}
