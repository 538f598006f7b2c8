/*
 * db: see db.h. Owns the sqlite3 handle of one connection, its cache of prepared statements and its
 * error buffer. Opening sets WAL mode (read-write opens only: a read-only connection cannot change
 * the journal mode), foreign_keys=ON, busy_timeout 5000 ms and synchronous=NORMAL (the tables are
 * changed by an operator, so losing the last commit on power loss is acceptable; the queue, which
 * must not lose anything, lives in its own database with synchronous=FULL).
 */
#include "db/db.h"

#include "db/db_private.h"
#include "db/resolve_cache.h"
#include "db/db_schema.h"
#include "mxd/common/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DB_BUSY_TIMEOUT_MSEC 5000
#define DB_MMAP_SIZE         "1073741824" /* bytes of the tables mapped for reading (1 GiB) */

static __thread char db_open_error[1200];

/* Every failure reported by SQLite itself counts as "the database is unavailable", so the SMTP server
 * answers 451 and the sender retries; only constraint violations are about the input. */
static bool sqlite_code_is_busy(int code)
{
	return (code & 0xff) != SQLITE_CONSTRAINT;
}

int db_fail(struct db *db, const char *what, const char **error_r)
{
	int code = sqlite3_extended_errcode(db->handle);
	snprintf(db->error, sizeof(db->error), "%s: %s", what, sqlite3_errmsg(db->handle));
	db->busy = sqlite_code_is_busy(code);
	*error_r = db->error;
	return -1;
}

int db_input_error(struct db *db, const char **error_r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(db->error, sizeof(db->error), fmt, ap);
	va_end(ap);
	db->busy = false;
	*error_r = db->error;
	return -1;
}

sqlite3_stmt *db_stmt(struct db *db, const char *sql, const char **error_r)
{
	for (size_t i = 0; i < db->nstmts; i++) {
		if (db->stmts[i].sql == sql) {
			sqlite3_stmt *stmt = db->stmts[i].stmt;
			sqlite3_reset(stmt);
			sqlite3_clear_bindings(stmt);
			return stmt;
		}
	}
	sqlite3_stmt *stmt;
	if (sqlite3_prepare_v3(db->handle, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) != SQLITE_OK) {
		db_fail(db, "prepare", error_r);
		return NULL;
	}
	if (db->nstmts == db->stmts_cap) {
		db->stmts_cap = db->stmts_cap == 0 ? 32 : db->stmts_cap * 2;
		db->stmts = xrealloc(db->stmts, db->stmts_cap * sizeof(*db->stmts));
	}
	db->stmts[db->nstmts].sql = sql;
	db->stmts[db->nstmts].stmt = stmt;
	db->nstmts++;
	return stmt;
}

int db_bind_text(sqlite3_stmt *stmt, int idx, const char *text)
{
	if (text == NULL)
		return sqlite3_bind_null(stmt, idx) == SQLITE_OK ? 0 : -1;
	return sqlite3_bind_text(stmt, idx, text, -1, SQLITE_STATIC) == SQLITE_OK ? 0 : -1;
}

int db_step_done(struct db *db, sqlite3_stmt *stmt, const char *what, const char **error_r)
{
	int rc = sqlite3_step(stmt);
	int ret = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : db_fail(db, what, error_r);
	sqlite3_reset(stmt);
	return ret;
}

void db_column_copy(sqlite3_stmt *stmt, int col, char *buf, size_t size)
{
	const unsigned char *text = sqlite3_column_text(stmt, col);
	str_copy(buf, size, text != NULL ? (const char *)text : "");
}

int db_begin(struct db *db, const char **error_r)
{
	static const char sql[] = "BEGIN IMMEDIATE";
	sqlite3_stmt *stmt = db_stmt(db, sql, error_r);
	if (stmt == NULL)
		return -1;
	return db_step_done(db, stmt, "begin transaction", error_r);
}

int db_commit(struct db *db, const char **error_r)
{
	static const char sql[] = "COMMIT";
	sqlite3_stmt *stmt = db_stmt(db, sql, error_r);
	if (stmt == NULL || db_step_done(db, stmt, "commit", error_r) < 0) {
		db_rollback(db);
		return -1;
	}
	return 0;
}

void db_rollback(struct db *db)
{
	/* Not through the cache: a rollback must work even when preparing fails. */
	if (!sqlite3_get_autocommit(db->handle))
		sqlite3_exec(db->handle, "ROLLBACK", NULL, NULL, NULL);
}

/* Run one PRAGMA (or other row-less SQL) at open time. */
static int db_pragma(struct db *db, const char *sql, const char **error_r)
{
	if (sqlite3_exec(db->handle, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(db, sql, error_r);
	return 0;
}

static int db_set_wal(struct db *db, const char **error_r)
{
	sqlite3_stmt *stmt;
	if (sqlite3_prepare_v2(db->handle, "PRAGMA journal_mode=WAL", -1, &stmt, NULL) != SQLITE_OK)
		return db_fail(db, "set journal_mode", error_r);
	int rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		db_fail(db, "set journal_mode", error_r);
		sqlite3_finalize(stmt);
		return -1;
	}
	const char *mode = (const char *)sqlite3_column_text(stmt, 0);
	bool wal = mode != NULL && strcmp(mode, "wal") == 0;
	sqlite3_finalize(stmt);
	if (!wal)
		return db_input_error(db, error_r, "cannot switch %s to WAL mode", db->path);
	return 0;
}

/* Check (or, with DB_OPEN_CREATE, bring up to date) the schema version. */
static int db_check_schema(struct db *db, const char **error_r)
{
	int version, latest = db_schema_latest();
	if (db_schema_read_version(db, &version, error_r) < 0)
		return -1;
	if (version > latest)
		return db_input_error(
		    db, error_r,
		    "database %s has schema version %d, newer than this program understands (%d)", db->path,
		    version, latest);
	if (version == latest)
		return 0;
	if ((db->flags & DB_OPEN_CREATE) != 0) {
		int from;
		if (db_schema_migrate(db, &from, error_r) < 0)
			return -1;
		db->migrated_from = from;
		return 0;
	}
	if (version == 0)
		return db_input_error(db, error_r, "database %s is not initialized: run 'mxctl init'",
		                      db->path);
	return db_input_error(
	    db, error_r,
	    "database %s has schema version %d, this program needs %d: run 'mxctl init' to upgrade", db->path,
	    version, latest);
}

static int db_open_error_set(const char **error_r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int db_open_error_set(const char **error_r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(db_open_error, sizeof(db_open_error), fmt, ap);
	va_end(ap);
	*error_r = db_open_error;
	return -1;
}

int db_open(const char *path, unsigned flags, struct db **db_r, const char **error_r)
{
	bool create = (flags & DB_OPEN_CREATE) != 0, readonly = (flags & DB_OPEN_READONLY) != 0;
	struct stat st;

	*db_r = NULL;
	if (create && readonly)
		return db_open_error_set(error_r, "database %s: cannot create a read-only database", path);
	if (path == NULL || *path == '\0')
		return db_open_error_set(error_r, "database: no path configured");
	if (!create && stat(path, &st) < 0) {
		if (errno == ENOENT)
			return db_open_error_set(error_r, "database %s does not exist: run 'mxctl init'",
			                         path);
		return db_open_error_set(error_r, "database %s: %s", path, strerror(errno));
	}

	struct db *db = xcalloc(1, sizeof(*db));
	db->path = xstrdup(path);
	db->flags = flags;
	db->migrated_from = -1;
	int oflags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
	if (create)
		oflags |= SQLITE_OPEN_CREATE;
	int rc = sqlite3_open_v2(path, &db->handle, oflags | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		db_open_error_set(error_r, "database %s: %s", path,
		                  db->handle != NULL ? sqlite3_errmsg(db->handle) : sqlite3_errstr(rc));
		db_close(&db);
		return -1;
	}
	sqlite3_extended_result_codes(db->handle, 1);
	sqlite3_busy_timeout(db->handle, DB_BUSY_TIMEOUT_MSEC);

	const char *err;
	int ret = 0;
	if (!readonly && db_set_wal(db, &err) < 0)
		ret = -1;
	if (ret == 0 && db_pragma(db, "PRAGMA foreign_keys=ON", &err) < 0)
		ret = -1;
	/* Reads through a memory map: no copy of each page out of the kernel's cache (about 1.4x the
	 * lookups/s with 1,000,000 aliases, tests/bench). Address space, not memory: pages are shared with
	 * the page cache. Writes still go through write(). */
	if (ret == 0 && db_pragma(db, "PRAGMA mmap_size=" DB_MMAP_SIZE, &err) < 0)
		ret = -1;
	if (ret == 0 && !readonly && db_pragma(db, "PRAGMA synchronous=NORMAL", &err) < 0)
		ret = -1;
	if (ret == 0 && db_check_schema(db, &err) < 0)
		ret = -1;
	if (ret < 0) {
		/* err may say "database X: ..." already; avoid repeating the path. */
		if (strstr(err, path) != NULL)
			db_open_error_set(error_r, "%s", err);
		else
			db_open_error_set(error_r, "database %s: %s", path, err);
		db_close(&db);
		return -1;
	}
	db->rcache = resolve_cache_new();
	*db_r = db;
	return 0;
}

void db_set_alias_check(struct db *db, db_alias_check_fn *check, void *ctx)
{
	db->alias_check = check;
	db->alias_check_ctx = ctx;
}

void db_close(struct db **dbp)
{
	struct db *db = *dbp;
	if (db == NULL)
		return;
	for (size_t i = 0; i < db->nstmts; i++)
		sqlite3_finalize(db->stmts[i].stmt);
	free(db->stmts);
	resolve_cache_free(&db->rcache);
	if (db->handle != NULL)
		sqlite3_close(db->handle);
	free(db->path);
	free(db);
	*dbp = NULL;
}

static int db_read_int64(sqlite3_stmt *stmt, void *value_r)
{
	*(int64_t *)value_r = sqlite3_column_int64(stmt, 0);
	return 0;
}

int db_query_int64(struct db *db, const char *sql, const char *what, int64_t *value_r, const char **error_r)
{
	int rc = db_row_get(db, sql, DB_NO_PARAMS, db_read_int64, value_r, what, error_r);
	return rc > 0 ? db_fail(db, what, error_r) : rc;
}

sqlite3 *db_handle(struct db *db)
{
	return db->handle;
}

int db_schema_version(struct db *db)
{
	const char *err;
	int version;
	return db_schema_read_version(db, &version, &err) < 0 ? -1 : version;
}

bool db_error_is_busy(const struct db *db)
{
	return db->busy;
}

sqlite3_stmt *db_prepare(struct db *db, const char *sql, const struct db_param *params, size_t nparams,
                         const char **error_r)
{
	sqlite3_stmt *stmt = db_stmt(db, sql, error_r);
	if (stmt == NULL)
		return NULL;
	for (size_t i = 0; i < nparams; i++) {
		int idx = (int)i + 1;
		switch (params[i].kind) {
		case DB_PARAM_NULL:
			sqlite3_bind_null(stmt, idx);
			break;
		case DB_PARAM_TEXT:
			db_bind_text(stmt, idx, params[i].text);
			break;
		case DB_PARAM_INT:
			sqlite3_bind_int64(stmt, idx, params[i].value);
			break;
		}
	}
	return stmt;
}

int db_exec(struct db *db, const char *sql, const struct db_param *params, size_t nparams, const char *what,
            const char **error_r)
{
	sqlite3_stmt *stmt = db_prepare(db, sql, params, nparams, error_r);
	if (stmt == NULL)
		return -1;
	int ret = db_step_done(db, stmt, what, error_r);
	sqlite3_clear_bindings(stmt);
	return ret;
}

int db_change(struct db *db, const char *sql, const struct db_param *params, size_t nparams, const char *what,
              const char **error_r)
{
	if (db_exec(db, sql, params, nparams, what, error_r) < 0)
		return -1;
	return sqlite3_changes(db->handle) > 0 ? 0 : 1;
}

/* Step stmt to its end, each row to fn; reset and unbind it. 0, or -1 ("what: ..." or fn's error). */
static int db_rows_run(struct db *db, sqlite3_stmt *stmt, db_row_fn *fn, void *ctx, bool first_only,
                       const char *what, const char **error_r)
{
	int rc, ret = 1;

	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		ret = 0;
		int more = fn != NULL ? fn(stmt, ctx) : 0;
		if (more < 0)
			ret = -1;
		if (more != 0 || first_only)
			break;
	}
	if (ret >= 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = db_fail(db, what, error_r);
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	return ret;
}

int db_rows_each(struct db *db, const char *sql, const struct db_param *params, size_t nparams, db_row_fn *fn,
                 void *ctx, const char *what, const char **error_r)
{
	sqlite3_stmt *stmt = db_prepare(db, sql, params, nparams, error_r);
	if (stmt == NULL)
		return -1;
	return db_rows_run(db, stmt, fn, ctx, false, what, error_r) < 0 ? -1 : 0;
}

int db_row_get(struct db *db, const char *sql, const struct db_param *params, size_t nparams, db_row_fn *fn,
               void *ctx, const char *what, const char **error_r)
{
	sqlite3_stmt *stmt = db_prepare(db, sql, params, nparams, error_r);
	if (stmt == NULL)
		return -1;
	return db_rows_run(db, stmt, fn, ctx, true, what, error_r);
}

struct db_rows_array {
	const struct db_rows *rows;
	char *items;
	size_t n, cap;
};

static int db_rows_append(sqlite3_stmt *stmt, void *ctx)
{
	struct db_rows_array *a = ctx;
	size_t size = a->rows->size;

	if (a->n == a->cap) {
		a->cap = a->cap == 0 ? 16 : a->cap * 2;
		a->items = xrealloc(a->items, a->cap * size);
	}
	void *item = a->items + a->n * size;
	memset(item, 0, size);
	if (a->rows->from_row(stmt, item) < 0) {
		if (a->rows->clear != NULL)
			a->rows->clear(item);
		return -1;
	}
	a->n++;
	return 0;
}

int db_rows_list(struct db *db, const char *sql, const struct db_param *params, size_t nparams,
                 const struct db_rows *rows, void *list_r, size_t *n_r, const char *what,
                 const char **error_r)
{
	struct db_rows_array a = {.rows = rows};
	void *none = NULL;

	memcpy(list_r, &none, sizeof(none));
	*n_r = 0;
	if (db_rows_each(db, sql, params, nparams, db_rows_append, &a, what, error_r) < 0) {
		void *items = a.items;
		db_list_free(&items, a.n, rows);
		return -1;
	}
	void *items = a.items;
	memcpy(list_r, &items, sizeof(items));
	*n_r = a.n;
	return 0;
}

void db_list_free(void *list_p, size_t n, const struct db_rows *rows)
{
	char *list;

	memcpy(&list, list_p, sizeof(list));
	if (list == NULL)
		return;
	for (size_t i = 0; rows->clear != NULL && i < n; i++)
		rows->clear(list + i * rows->size);
	free(list);
	list = NULL;
	memcpy(list_p, &list, sizeof(list));
}

/* Take every permission for "other" users off path (when it exists). 0, or -1 with the db's error. */
static int db_protect_file(struct db *db, const char *path, const char *why, const char **error_r)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return db_input_error(db, error_r, "database %s: %s", path, strerror(errno));
	}
	if ((st.st_mode & 0007) != 0 && chmod(path, st.st_mode & 0770) < 0)
		return db_input_error(db, error_r,
		                      "database %s: readable by other users and cannot be changed (%s): %s",
		                      path, strerror(errno), why);
	return 0;
}

int db_protect(struct db *db, const char *why, const char **error_r)
{
	char *wal = xasprintf("%s-wal", db->path), *shm = xasprintf("%s-shm", db->path);
	int ret = db_protect_file(db, db->path, why, error_r) < 0 ||
	                  db_protect_file(db, wal, why, error_r) < 0 ||
	                  db_protect_file(db, shm, why, error_r) < 0
	              ? -1
	              : 0;
	free(wal);
	free(shm);
	return ret;
}
