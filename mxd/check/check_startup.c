/* check_startup: see check_startup.h. */
#include "mxd/check/check_startup.h"

#include "mxd/check/check.h"
#include "mxd/common/log.h"
#include "db/db.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A copy of cfg that the thread owns (mxd frees its own at exit, perhaps while the check still runs):
 * every setting's raw value set again on a new config. NULL when one is refused. */
static struct mxd_config *config_copy(const struct mxd_config *cfg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (f == NULL)
		return NULL;
	config_dump(cfg, f, true);
	fclose(f);
	struct mxd_config *copy = config_new();
	const char *error;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line != NULL && copy != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *eq = strstr(line, " = ");
		if (eq == NULL)
			continue;
		*eq = '\0';
		if (config_set(copy, line, eq + 3, &error) < 0)
			config_free(&copy);
	}
	free(text);
	return copy;
}

static void *check_thread(void *arg)
{
	struct mxd_config *cfg = arg;
	struct check_options opt = {.skip_probe = true};
	struct check_report report;
	struct db *db = NULL;
	const char *error;
	if (db_open(cfg->database, DB_OPEN_READONLY, &db, &error) < 0) {
		log_warn("check", "self-check: %s", error);
		config_free(&cfg);
		return NULL;
	}
	if (check_run(cfg, db, &opt, &report, &error) < 0) {
		log_warn("check", "self-check: %s", error);
		db_close(&db);
		config_free(&cfg);
		return NULL;
	}
	db_close(&db);
	size_t count[3] = {0, 0, 0};
	for (size_t i = 0; i < report.n; i++) {
		const struct check_line *l = &report.lines[i];
		count[l->level]++;
		if (l->level != CHECK_OK)
			log_warn("check", "%s %s %s: %s", check_level_str(l->level), l->check, l->subject,
			         l->text);
	}
	log_info("check", "self-check: %zu OK, %zu WARN, %zu FAIL%s", count[CHECK_OK], count[CHECK_WARN],
	         count[CHECK_FAIL],
	         count[CHECK_WARN] + count[CHECK_FAIL] > 0 ? " (mxctl check shows them all)" : "");
	check_report_free(&report);
	config_free(&cfg);
	return NULL;
}

int check_startup_start(const struct mxd_config *cfg, const char **error_r)
{
	struct mxd_config *copy = config_copy(cfg);
	if (copy == NULL) {
		*error_r = "cannot copy the configuration";
		return -1;
	}
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int err = pthread_create(&t, &attr, check_thread, copy);
	pthread_attr_destroy(&attr);
	if (err != 0) {
		config_free(&copy);
		*error_r = strerror(err);
		return -1;
	}
	return 0;
}
