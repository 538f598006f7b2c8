/*
 * sync_apply: see sync.h. A secondary reads the header of each page received and applies a pull's
 * pages in one transaction. The pages are read by SQLite (json_valid, json_extract, json_each): no JSON
 * parser of our own reads what comes over the network, and every value reaches the tables as a bound
 * parameter of sync_tables.c's statements.
 *
 * A snapshot marks the rows it holds in a TEMP table and deletes the others at the end; the rows it
 * holds are updated in place, so the local tables that refer to them (route_stats, admin_domains) keep
 * their rows.
 */
#include "db/db_private.h"
#include "db/sync_private.h"
#include "mxd/common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t column_i64_or(sqlite3_stmt *stmt, int col, int64_t def)
{
	return sqlite3_column_type(stmt, col) == SQLITE_NULL ? def : sqlite3_column_int64(stmt, col);
}

int db_sync_page_parse(struct db *db, const char *json, struct db_sync_page *page_r, const char **error_r)
{
	static const char valid_sql[] = "SELECT json_valid(?1)";
	static const char head_sql[] =
	    "SELECT json_type(?1), json_type(?1, '$.changes'), json_extract(?1, '$.log'),"
	    " json_type(?1, '$.seq'), json_extract(?1, '$.seq'), json_extract(?1, '$.now'),"
	    " json_extract(?1, '$.reset'), json_extract(?1, '$.more'), json_extract(?1, '$.next.tbl'),"
	    " json_extract(?1, '$.next.after'), json_array_length(?1, '$.changes'),"
	    " json_extract(?1, '$.changes[#-1].seq'), json_extract(?1, '$.changes[#-1].at')";
	char type[16], changes_type[16];

	memset(page_r, 0, sizeof(*page_r));
	sqlite3_stmt *stmt = db_stmt(db, valid_sql, error_r);
	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, json);
	int rc = sqlite3_step(stmt);
	bool valid = rc == SQLITE_ROW && sqlite3_column_int(stmt, 0) != 0;
	sqlite3_reset(stmt);
	if (rc != SQLITE_ROW)
		return db_fail(db, "read a page", error_r);
	if (!valid)
		return db_input_error(db, error_r, "page: not valid JSON");
	stmt = db_stmt(db, head_sql, error_r);
	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, json);
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		db_fail(db, "read a page", error_r);
		sqlite3_reset(stmt);
		return -1;
	}
	db_column_copy(stmt, 0, type, sizeof(type));
	db_column_copy(stmt, 1, changes_type, sizeof(changes_type));
	bool log_ok = sqlite3_column_type(stmt, 2) == SQLITE_TEXT &&
	              (size_t)sqlite3_column_bytes(stmt, 2) <= DB_SYNC_LOG_ID_MAX &&
	              sqlite3_column_bytes(stmt, 2) > 0;
	db_column_copy(stmt, 2, page_r->log_id, sizeof(page_r->log_id));
	bool seq_ok = sqlite3_column_type(stmt, 3) == SQLITE_TEXT &&
	              strcmp((const char *)sqlite3_column_text(stmt, 3), "integer") == 0;
	page_r->seq = sqlite3_column_int64(stmt, 4);
	page_r->now = sqlite3_column_int64(stmt, 5);
	page_r->reset = sqlite3_column_int(stmt, 6) != 0;
	page_r->more = sqlite3_column_int(stmt, 7) != 0;
	db_column_copy(stmt, 8, page_r->next_tbl, sizeof(page_r->next_tbl));
	if (sqlite3_column_type(stmt, 9) != SQLITE_NULL)
		page_r->next_after = xstrdup((const char *)sqlite3_column_text(stmt, 9));
	page_r->nchanges = sqlite3_column_int64(stmt, 10);
	page_r->last_seq = column_i64_or(stmt, 11, 0);
	page_r->last_at = column_i64_or(stmt, 12, 0);
	sqlite3_reset(stmt);
	const char *bad = NULL;
	if (strcmp(type, "object") != 0 || strcmp(changes_type, "array") != 0)
		bad = "not a page of changes";
	else if (!log_ok || !seq_ok || page_r->seq < 0)
		bad = "bad 'log' or 'seq'";
	else if (page_r->reset && page_r->more && page_r->next_tbl[0] != '\0' &&
	         db_sync_table_find(page_r->next_tbl) == NULL)
		bad = "bad 'next' table";
	if (bad != NULL) {
		db_sync_page_clear(page_r);
		return db_input_error(db, error_r, "page: %s", bad);
	}
	return 0;
}

void db_sync_page_clear(struct db_sync_page *page)
{
	free(page->next_after);
	memset(page, 0, sizeof(*page));
}

/* Apply one change of a page. */
static int apply_change(struct db *db, bool snapshot, const struct sync_table *t, const char *op,
                        const char *pk, const char *row, const char **error_r)
{
	static const char seen_sql[] =
	    "INSERT OR IGNORE INTO temp.sync_seen (tbl, pk) VALUES (?1, json_extract(?2, ?3))";
	char what[160];

	snprintf(what, sizeof(what), "apply %s %s", t->name, op);
	if (strcmp(op, "delete") == 0) {
		if (snapshot || pk == NULL)
			return db_input_error(db, error_r, "page: a delete of %s %s", t->name,
			                      snapshot ? "in a snapshot" : "without a key");
		return db_exec(db, t->delete_sql, DB_PARAMS(DB_TEXT(pk)), what, error_r);
	}
	if ((strcmp(op, "insert") != 0 && (snapshot || strcmp(op, "update") != 0)) || row == NULL)
		return db_input_error(db, error_r, "page: a change of %s with a bad op or no row", t->name);
	if (t->unique_sql != NULL && db_exec(db, t->unique_sql, DB_PARAMS(DB_TEXT(row)), what, error_r) < 0)
		return -1;
	if (db_exec(db, t->upsert_sql, DB_PARAMS(DB_TEXT(row)), what, error_r) < 0)
		return -1;
	if (!snapshot)
		return 0;
	/* db_exec() unbinds the row afterwards: it may hold a password. */
	return db_exec(db, seen_sql, DB_PARAMS(DB_TEXT(t->name), DB_TEXT(row), DB_TEXT(t->pk_path)),
	               "apply a snapshot", error_r);
}

/* Apply the changes of one page; *last_seq_r is raised to the last change's seq. */
static int apply_page(struct db *db, bool snapshot, const char *json, int64_t *last_seq_r, int64_t *applied_r,
                      const char **error_r)
{
	static const char sql[] =
	    "SELECT json_extract(value, '$.seq'), json_extract(value, '$.tbl'),"
	    " json_extract(value, '$.pk'), json_extract(value, '$.op'),"
	    " json_extract(value, '$.row') FROM json_each(?1, '$.changes') ORDER BY key";
	int rc, ret = 0;
	sqlite3_stmt *stmt = db_stmt(db, sql, error_r);
	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, json);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(stmt, 0);
		const char *tbl = (const char *)sqlite3_column_text(stmt, 1);
		const char *pk = (const char *)sqlite3_column_text(stmt, 2);
		const char *op = (const char *)sqlite3_column_text(stmt, 3);
		const char *row = (const char *)sqlite3_column_text(stmt, 4);
		const struct sync_table *t = db_sync_table_find(tbl);
		if (t == NULL || op == NULL) {
			ret = db_input_error(db, error_r, "page: a change of an unknown table");
			break;
		}
		if (!snapshot) {
			if (sqlite3_column_type(stmt, 0) != SQLITE_INTEGER || seq <= *last_seq_r) {
				ret = db_input_error(db, error_r,
				                     "page: change seq %lld out of order (after %lld)",
				                     (long long)seq, (long long)*last_seq_r);
				break;
			}
			*last_seq_r = seq;
		}
		if (apply_change(db, snapshot, t, op, pk, row, error_r) < 0) {
			ret = -1;
			break;
		}
		(*applied_r)++;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = db_fail(db, "read a page", error_r);
	sqlite3_reset(stmt);
	return ret;
}

static int state_put_i64(struct db *db, const char *key, int64_t value, const char **error_r)
{
	char text[32];
	snprintf(text, sizeof(text), "%lld", (long long)value);
	return db_sync_state_put(db, key, text, error_r);
}

static int last_seq_read(struct db *db, int64_t *seq_r, const char **error_r)
{
	static const char sql[] =
	    "SELECT coalesce((SELECT CAST(value AS INTEGER) FROM sync_state WHERE key = 'last_seq'), 0)";
	return db_query_int64(db, sql, "read sync_state", seq_r, error_r);
}

int db_sync_apply(struct db *db, const struct db_sync_batch *batch, int64_t *applied_r, const char **error_r)
{
	static const char defer_sql[] = "PRAGMA defer_foreign_keys = ON";
	static const char unlock_sql[] = "DELETE FROM sync_state WHERE key = 'replica_lock'";
	static const char lock_sql[] = "INSERT INTO sync_state (key, value) VALUES ('replica_lock', '1')";
	static const char seen_create_sql[] = "CREATE TEMP TABLE IF NOT EXISTS sync_seen"
	                                      " (tbl TEXT NOT NULL, pk TEXT NOT NULL, PRIMARY KEY (tbl, pk))";
	static const char seen_clear_sql[] = "DELETE FROM temp.sync_seen";
	static const char version_sql[] =
	    "INSERT INTO sync_state (key, value) VALUES ('tables_version', 1)"
	    " ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1";
	int64_t last_seq = 0, applied = 0;

	if (applied_r != NULL)
		*applied_r = 0;
	if (batch->log_id == NULL || *batch->log_id == '\0')
		return db_input_error(db, error_r, "apply: no log id");
	/* The temporary table is created outside the transaction, so that the statements naming it can
	 * be prepared (and cached) once. */
	if (batch->snapshot && sqlite3_exec(db->handle, seen_create_sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(db, "apply a snapshot", error_r);
	if (db_begin(db, error_r) < 0)
		return -1;
	if (db_exec(db, defer_sql, DB_NO_PARAMS, "defer foreign keys", error_r) < 0 ||
	    last_seq_read(db, &last_seq, error_r) < 0 ||
	    db_exec(db, unlock_sql, DB_NO_PARAMS, "lift the replica lock", error_r) < 0)
		goto fail;
	bool locked = sqlite3_changes(db->handle) > 0;
	if (batch->snapshot && db_exec(db, seen_clear_sql, DB_NO_PARAMS, "apply a snapshot", error_r) < 0)
		goto fail;
	int64_t seq = batch->snapshot ? 0 : last_seq;
	for (size_t i = 0; i < batch->npages; i++) {
		if (apply_page(db, batch->snapshot, batch->pages[i], &seq, &applied, error_r) < 0)
			goto fail;
	}
	if (batch->snapshot) {
		for (size_t i = db_sync_ntables; i-- > 0;) {
			if (db_exec(db, db_sync_tables[i].prune_sql, DB_NO_PARAMS, "apply a snapshot",
			            error_r) < 0)
				goto fail;
		}
		if (db_exec(db, seen_clear_sql, DB_NO_PARAMS, "apply a snapshot", error_r) < 0)
			goto fail;
		seq = batch->primary_seq;
	}
	if ((batch->snapshot || applied > 0) &&
	    db_exec(db, version_sql, DB_NO_PARAMS, "count the pull", error_r) < 0)
		goto fail;
	if ((locked && db_exec(db, lock_sql, DB_NO_PARAMS, "restore the replica lock", error_r) < 0) ||
	    state_put_i64(db, "last_seq", seq, error_r) < 0 ||
	    state_put_i64(db, "primary_version", batch->primary_seq, error_r) < 0 ||
	    db_sync_state_put(db, "primary_log_id", batch->log_id, error_r) < 0 ||
	    state_put_i64(db, "last_sync", batch->now, error_r) < 0 ||
	    db_sync_state_put(db, "last_error", "", error_r) < 0)
		goto fail;
	if (db_commit(db, error_r) < 0)
		return -1;
	if (applied_r != NULL)
		*applied_r = applied;
	return 0;
fail:
	db_rollback(db);
	return -1;
}
