/*
 * sync: see sync.h. This file owns sync_state and the life of the change log: reading the state,
 * turning a database into a replica and back, trimming the log and recording errors. The feed
 * (pages served and applied) is sync_feed.c.
 */
#include "db/sync.h"

#include "db/db_private.h"
#include "db/sync_private.h"
#include "mxd/common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The keys of a replica, dropped when it becomes a primary again. */
static const char *const replica_keys[] = {"primary",    "replica_lock",    "last_seq",      "last_sync",
                                           "last_error", "primary_version", "primary_log_id"};

int db_sync_state_put(struct db *db, const char *key, const char *value, const char **error_r)
{
	static const char sql[] = "INSERT INTO sync_state (key, value) VALUES (?1, ?2)"
	                          " ON CONFLICT (key) DO UPDATE SET value = excluded.value";
	return db_exec(db, sql, DB_PARAMS(DB_TEXT(key), DB_TEXT(value)), "write sync_state", error_r);
}

static int state_del(struct db *db, const char *key, const char **error_r)
{
	static const char sql[] = "DELETE FROM sync_state WHERE key = ?1";
	return db_exec(db, sql, DB_PARAMS(DB_TEXT(key)), "write sync_state", error_r);
}

struct state_value {
	char *buf;
	size_t size;
};

static int state_value_from_row(sqlite3_stmt *stmt, void *ctx)
{
	struct state_value *v = ctx;
	db_column_copy(stmt, 0, v->buf, v->size);
	return 0;
}

/* The value of key into buf ("" when absent): 0 found, 1 absent, -1 error. */
static int state_read(struct db *db, const char *key, char *buf, size_t size, const char **error_r)
{
	static const char sql[] = "SELECT value FROM sync_state WHERE key = ?1";
	struct state_value v = {buf, size};

	buf[0] = '\0';
	return db_row_get(db, sql, DB_PARAMS(DB_TEXT(key)), state_value_from_row, &v, "read sync_state",
	                  error_r);
}

/* The change log's last seq (AUTOINCREMENT's high-water mark: it survives trimming). */
static int log_seq_read(struct db *db, int64_t *seq_r, const char **error_r)
{
	static const char sql[] =
	    "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'changelog'), 0)";
	return db_query_int64(db, sql, "read the change log's seq", seq_r, error_r);
}

static int64_t parse_i64(const char *text)
{
	return strtoll(text, NULL, 10);
}

/* One key of sync_state into the struct db_sync_state at st. */
static int state_key_from_row(sqlite3_stmt *stmt, void *st)
{
	struct db_sync_state *st_r = st;
	const char *key = (const char *)sqlite3_column_text(stmt, 0);
	char value[DB_SYNC_ERROR_MAX + 1];

	db_column_copy(stmt, 1, value, sizeof(value));
	if (key == NULL)
		return 0;
	if (strcmp(key, "primary") == 0) {
		st_r->replica = true;
		str_copy(st_r->primary, sizeof(st_r->primary), value);
	} else if (strcmp(key, "last_seq") == 0) {
		st_r->last_seq = parse_i64(value);
	} else if (strcmp(key, "last_sync") == 0) {
		st_r->last_sync = parse_i64(value);
	} else if (strcmp(key, "last_error") == 0) {
		str_copy(st_r->last_error, sizeof(st_r->last_error), value);
	} else if (strcmp(key, "primary_version") == 0) {
		st_r->primary_seq = parse_i64(value);
	} else if (strcmp(key, "primary_log_id") == 0) {
		str_copy(st_r->primary_log_id, sizeof(st_r->primary_log_id), value);
	} else if (strcmp(key, "log_id") == 0) {
		str_copy(st_r->log_id, sizeof(st_r->log_id), value);
	} else if (strcmp(key, "trimmed_seq") == 0) {
		st_r->log_trimmed = parse_i64(value);
	}
	return 0;
}

static int log_counts_from_row(sqlite3_stmt *stmt, void *st)
{
	struct db_sync_state *st_r = st;
	st_r->log_rows = sqlite3_column_int64(stmt, 0);
	st_r->log_oldest = sqlite3_column_int64(stmt, 1);
	return 0;
}

int db_sync_state_get(struct db *db, struct db_sync_state *st_r, const char **error_r)
{
	static const char state_sql[] = "SELECT key, value FROM sync_state";
	static const char log_sql[] = "SELECT count(*), coalesce(min(seq), 0) FROM changelog";

	memset(st_r, 0, sizeof(*st_r));
	int rc =
	    db_rows_each(db, state_sql, DB_NO_PARAMS, state_key_from_row, st_r, "read sync_state", error_r);
	if (rc < 0 || log_seq_read(db, &st_r->log_seq, error_r) < 0)
		return -1;
	rc = db_row_get(db, log_sql, DB_NO_PARAMS, log_counts_from_row, st_r, "read the change log", error_r);
	return rc > 0 ? db_fail(db, "read the change log", error_r) : rc;
}

int db_sync_is_replica(struct db *db)
{
	char value[DB_SYNC_PRIMARY_MAX + 1];
	const char *error;
	int rc = state_read(db, "primary", value, sizeof(value), &error);
	return rc < 0 ? -1 : rc == 0 ? 1 : 0;
}

int db_sync_replica_init(struct db *db, const char *primary, const char **error_r)
{
	static const char clear_log_sql[] = "DELETE FROM changelog";
	char old[DB_SYNC_PRIMARY_MAX + 1];

	if (primary == NULL || *primary == '\0' || strlen(primary) > DB_SYNC_PRIMARY_MAX)
		return db_input_error(db, error_r, "primary '%s': empty or too long",
		                      primary != NULL ? primary : "");
	if (db_protect(db, "a replica holds relay passwords", error_r) < 0)
		return -1;
	if (db_begin(db, error_r) < 0)
		return -1;
	int rc = state_read(db, "primary", old, sizeof(old), error_r);
	if (rc < 0)
		goto fail;
	if (rc == 0 && strcmp(old, primary) != 0) {
		/* Another primary: what we hold came from elsewhere; the next pull is a snapshot. */
		if (state_del(db, "last_seq", error_r) < 0 || state_del(db, "primary_version", error_r) < 0 ||
		    state_del(db, "primary_log_id", error_r) < 0)
			goto fail;
	}
	if (db_sync_state_put(db, "primary", primary, error_r) < 0 ||
	    db_sync_state_put(db, "replica_lock", "1", error_r) < 0 ||
	    db_exec(db, clear_log_sql, DB_NO_PARAMS, "empty the change log", error_r) < 0)
		goto fail;
	return db_commit(db, error_r);
fail:
	db_rollback(db);
	return -1;
}

/* Inside a transaction: a new log_id, an empty log, trimmed_seq at the current seq. */
static int log_restart(struct db *db, const char **error_r)
{
	static const char new_log_sql[] =
	    "INSERT INTO sync_state (key, value) VALUES ('log_id', lower(hex(randomblob(16))))"
	    " ON CONFLICT (key) DO UPDATE SET value = excluded.value";
	static const char clear_log_sql[] = "DELETE FROM changelog";
	char seq_text[32];
	int64_t seq = 0;

	if (db_exec(db, new_log_sql, DB_NO_PARAMS, "start a new change log", error_r) < 0 ||
	    db_exec(db, clear_log_sql, DB_NO_PARAMS, "empty the change log", error_r) < 0 ||
	    log_seq_read(db, &seq, error_r) < 0)
		return -1;
	snprintf(seq_text, sizeof(seq_text), "%lld", (long long)seq);
	return db_sync_state_put(db, "trimmed_seq", seq_text, error_r);
}

int db_sync_replica_release(struct db *db, bool *released_r, const char **error_r)
{
	char value[DB_SYNC_PRIMARY_MAX + 1];

	*released_r = false;
	if (db_begin(db, error_r) < 0)
		return -1;
	int rc = state_read(db, "primary", value, sizeof(value), error_r);
	if (rc < 0)
		goto fail;
	if (rc == 1)
		return db_commit(db, error_r);
	for (size_t i = 0; i < MXD_ARRAY_SIZE(replica_keys); i++) {
		if (state_del(db, replica_keys[i], error_r) < 0)
			goto fail;
	}
	if (log_restart(db, error_r) < 0)
		goto fail;
	if (db_commit(db, error_r) < 0)
		return -1;
	*released_r = true;
	return 0;
fail:
	db_rollback(db);
	return -1;
}

int db_sync_log_restart(struct db *db, const char **error_r)
{
	char value[DB_SYNC_PRIMARY_MAX + 1];

	if (db_begin(db, error_r) < 0)
		return -1;
	int rc = state_read(db, "primary", value, sizeof(value), error_r);
	if (rc == 0)
		db_input_error(db, error_r, "this database is a replica of %s: it keeps no change log",
		               value);
	if (rc <= 0 || log_restart(db, error_r) < 0)
		goto fail;
	return db_commit(db, error_r);
fail:
	db_rollback(db);
	return -1;
}

/* The first column into *value_r, unless it is NULL. */
static int i64_from_row(sqlite3_stmt *stmt, void *value_r)
{
	if (sqlite3_column_type(stmt, 0) != SQLITE_NULL)
		*(int64_t *)value_r = sqlite3_column_int64(stmt, 0);
	return 0;
}

int db_sync_log_trim(struct db *db, int64_t max_age, int64_t now, int64_t *deleted_r, const char **error_r)
{
	/* seq and at grow together; cutting at the newest old row keeps the log a suffix of seqs even if
	 * the clock once stepped back. */
	static const char cut_sql[] = "SELECT max(seq) FROM changelog WHERE at < ?1";
	static const char del_sql[] = "DELETE FROM changelog WHERE seq <= ?1";
	char value[32];
	int64_t cut = 0, deleted = 0;

	if (deleted_r != NULL)
		*deleted_r = 0;
	/* the oldest row first (by the primary key: cheap): with nothing old enough there is nothing to
	 * scan, which keeps mxd's start fast after a million changes were logged */
	static const char oldest_sql[] = "SELECT at FROM changelog ORDER BY seq LIMIT 1";
	int64_t oldest = now;
	int rc =
	    db_row_get(db, oldest_sql, DB_NO_PARAMS, i64_from_row, &oldest, "trim the change log", error_r);
	if (rc < 0)
		return -1;
	if (oldest >= now - max_age)
		return 0;
	if (db_begin(db, error_r) < 0)
		return -1;
	rc = db_row_get(db, cut_sql, DB_PARAMS(DB_INT(now - max_age)), i64_from_row, &cut,
	                "trim the change log", error_r);
	if (rc > 0)
		db_fail(db, "trim the change log", error_r);
	if (rc != 0)
		goto fail;
	if (cut > 0) {
		if (db_exec(db, del_sql, DB_PARAMS(DB_INT(cut)), "trim the change log", error_r) < 0)
			goto fail;
		deleted = sqlite3_changes(db->handle);
		if (state_read(db, "trimmed_seq", value, sizeof(value), error_r) < 0)
			goto fail;
		if (parse_i64(value) < cut) {
			snprintf(value, sizeof(value), "%lld", (long long)cut);
			if (db_sync_state_put(db, "trimmed_seq", value, error_r) < 0)
				goto fail;
		}
	}
	if (db_commit(db, error_r) < 0)
		return -1;
	if (deleted_r != NULL)
		*deleted_r = deleted;
	return 0;
fail:
	db_rollback(db);
	return -1;
}

int db_sync_tables_version(struct db *db, int64_t *version_r, const char **error_r)
{
	static const char sql[] =
	    "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'changelog'), 0)"
	    " + coalesce((SELECT CAST(value AS INTEGER) FROM sync_state WHERE key = 'tables_version'), 0)";
	return db_query_int64(db, sql, "read the tables' version", version_r, error_r);
}

int db_sync_set_error(struct db *db, const char *error, const char **error_r)
{
	char old[DB_SYNC_ERROR_MAX + 1], text[DB_SYNC_ERROR_MAX + 1];

	str_copy(text, sizeof(text), error);
	int rc = state_read(db, "last_error", old, sizeof(old), error_r);
	if (rc < 0)
		return -1;
	if (rc == 0 && strcmp(old, text) == 0)
		return 0;
	return db_sync_state_put(db, "last_error", text, error_r);
}
