/*
 * mxctl_init: "mxctl init". Creates the database's directory and the database, or brings an existing
 * database's schema up to date, and creates queue_directory (its contents belong to queue_store).
 * Idempotent: running it again on a current installation changes nothing and succeeds. Runs as
 * mail_owner (mxctl.c switched already), so what it creates is mxd's.
 */
#include "mxd/ctl/mxctl.h"

#include "db/db.h"
#include "db/db_schema.h"
#include "mxd/common/util.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>

int mxctl_cmd_init(struct mxctl *ctl, int argc, char **argv)
{
	const struct mxd_config *cfg = ctl->cfg;
	const char *error;
	struct db *db;

	if (argc != 1) {
		fprintf(stderr, "mxctl: init: takes no arguments\nusage: mxctl init\n");
		return 2;
	}
	char *db_copy = xstrdup(cfg->database);
	int rc = mkdir_p(dirname(db_copy), 0750, &error);
	free(db_copy);
	if (rc < 0) {
		fprintf(stderr, "mxctl: init: database: %s\n", error);
		return 1;
	}
	if (db_open(cfg->database, DB_OPEN_CREATE, &db, &error) < 0) {
		fprintf(stderr, "mxctl: init: %s\n", error);
		return 1;
	}
	int from = db_schema_migrated_from(db), version = db_schema_version(db);
	if (from == 0)
		printf("database %s: created (schema version %d)\n", cfg->database, version);
	else if (from > 0)
		printf("database %s: upgraded from schema version %d to %d\n", cfg->database, from, version);
	else
		printf("database %s: up to date (schema version %d)\n", cfg->database, version);
	db_close(&db);

	if (mkdir_p(cfg->queue_directory, 0750, &error) < 0) {
		fprintf(stderr, "mxctl: init: queue_directory: %s\n", error);
		return 1;
	}
	printf("queue_directory %s: ready\n", cfg->queue_directory);
	return 0;
}
