/*
 * mxctl_sync: replication as the database records it (db/sync.h).
 *   mxctl sync status    on a secondary: the primary replicated, the replica's version (the primary's
 *                        seq applied last), the primary's seq at the last contact, the lag (seconds
 *                        since the last successful pull) and the last error; on a primary: the change
 *                        log's current seq, how many rows it keeps and from which seq. One "name: value"
 *                        line each, for people and scripts. Reads only.
 *   mxctl sync new-log   on a primary: start a new change log, so that every secondary takes a snapshot
 *                        (after restoring the primary's database from a backup).
 * Both work beside a running mxd.
 */
#include "mxd/ctl/mxctl.h"

#include "db/db.h"
#include "db/sync.h"
#include "mxd/common/util.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char sync_usage[] = "usage: mxctl sync status\n"
                                 "       mxctl sync new-log   (primary: every secondary takes a snapshot)\n";

static const char *fmt_time(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (t == 0)
		str_copy(buf, size, "never");
	else if (localtime_r(&tt, &tm) == NULL || strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, size, "%lld", (long long)t);
	return buf;
}

/* Print s with control characters replaced ("-" when empty). */
static void print_clean(const char *name, const char *s)
{
	printf("%s: ", name);
	if (*s == '\0')
		fputs("-", stdout);
	for (; *s != '\0'; s++)
		putchar((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
	putchar('\n');
}

static void print_secondary(const struct mxctl *ctl, const struct db_sync_state *st)
{
	char when[64];
	int64_t now = time_now();

	printf("role: secondary\n");
	print_clean("primary", st->replica ? st->primary : ctl->cfg->sync_primary);
	if (!st->replica)
		printf(
		    "replica: not yet (mxd makes the database a replica when it starts with sync_primary)\n");
	printf("replica seq: %lld\n", (long long)st->last_seq);
	printf("primary seq: %lld\n", (long long)st->primary_seq);
	printf("last sync: %s\n", fmt_time(st->last_sync, when, sizeof(when)));
	if (st->last_sync > 0)
		printf("lag: %llds\n", (long long)(now > st->last_sync ? now - st->last_sync : 0));
	else
		printf("lag: -\n");
	print_clean("last error", st->last_error);
}

static void print_primary(const struct db_sync_state *st)
{
	printf("role: primary\n");
	printf("changelog seq: %lld\n", (long long)st->log_seq);
	printf("changelog rows: %lld\n", (long long)st->log_rows);
	printf("changelog oldest seq: %lld\n", (long long)st->log_oldest);
	printf("changelog trimmed through: %lld\n", (long long)st->log_trimmed);
	print_clean("changelog id", st->log_id);
	if (st->replica)
		print_clean("warning",
		            "this database is still a replica: mxd releases it when it starts as the "
		            "primary");
}

static int sync_new_log(struct mxctl *ctl)
{
	const char *error;
	struct db *db;

	if (strcmp(ctl->cfg->role, "primary") != 0) {
		fprintf(
		    stderr,
		    "mxctl: sync new-log: this is a secondary: its replica has no change log of its own\n");
		return 1;
	}
	if (db_open(ctl->cfg->database, DB_OPEN_READWRITE, &db, &error) < 0) {
		fprintf(stderr, "mxctl: sync new-log: %s\n", error);
		return 1;
	}
	int rc = db_sync_log_restart(db, &error);
	if (rc < 0)
		fprintf(stderr, "mxctl: sync new-log: %s\n", error);
	else
		printf("new change log started: every secondary takes a snapshot at its next pull\n");
	db_close(&db);
	return rc < 0 ? 1 : 0;
}

int mxctl_cmd_sync(struct mxctl *ctl, int argc, char **argv)
{
	struct db_sync_state st;
	const char *error;
	struct db *db;

	if (argc >= 2 && strcmp(argv[1], "help") == 0) {
		fputs(sync_usage, stdout);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "new-log") == 0)
		return sync_new_log(ctl);
	if (argc != 2 || strcmp(argv[1], "status") != 0) {
		fputs(sync_usage, stderr);
		return 2;
	}
	if (db_open(ctl->cfg->database, DB_OPEN_READONLY, &db, &error) < 0) {
		fprintf(stderr, "mxctl: sync status: %s\n", error);
		return 1;
	}
	int rc = db_sync_state_get(db, &st, &error);
	if (rc < 0)
		fprintf(stderr, "mxctl: sync status: %s\n", error);
	db_close(&db);
	if (rc < 0)
		return 1;
	if (strcmp(ctl->cfg->role, "secondary") == 0)
		print_secondary(ctl, &st);
	else
		print_primary(&st);
	return 0;
}
