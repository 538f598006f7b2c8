/*
 * db_private: what the modules in db/ share and nobody else sees: the layout of struct db, the
 * per-connection cache of prepared statements, error reporting and transactions.
 *
 * Statements are cached by the address of their SQL text: callers pass a string literal or a static
 * array, so the same call site always finds its statement already prepared (no re-parsing on the hot
 * path of db_resolve()). db_stmt() hands the statement back reset and with its bindings cleared; the
 * caller calls sqlite3_reset() once it has read its rows, so that no read transaction stays open (in WAL
 * mode an open read would pin an old snapshot and hold back checkpoints).
 *
 * Errors: db_fail() records SQLite's message for a failed call (a "busy" failure for the SMTP server:
 * 451, never 550); db_input_error() records a message about the caller's input. Both return -1 and
 * point *error_r into the struct db.
 */
#ifndef MXD_DB_PRIVATE_H
#define MXD_DB_PRIVATE_H

#include "db/db.h"

#include <stddef.h>
#include <stdint.h>

struct resolve_cache;

struct db_cached_stmt {
	const char *sql;
	sqlite3_stmt *stmt;
};

struct db {
	sqlite3 *handle;
	char *path;
	unsigned flags;
	int migrated_from; /* -1: no migration ran in db_open; 0: created; N: upgraded from version N */
	bool busy;         /* the last failure came from SQLite, not from bad input */
	struct db_cached_stmt *stmts;
	size_t nstmts, stmts_cap;
	struct resolve_cache *rcache; /* db_resolve()'s recent answers (resolve_cache.h); NULL: off */
	db_alias_check_fn *alias_check; /* db_set_alias_check(); NULL: none */
	void *alias_check_ctx;
	char error[1024];
};

/* The cached statement for sql (a string with static storage), reset and unbound; NULL with *error_r. */
sqlite3_stmt *db_stmt(struct db *db, const char *sql, const char **error_r);

/* Record a failure of SQLite (message "what: sqlite's message"). Always returns -1. */
int db_fail(struct db *db, const char *what, const char **error_r);

/* Record a failure caused by the caller's input. Always returns -1. */
int db_input_error(struct db *db, const char **error_r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. db_rollback() keeps the error already recorded. */
int db_begin(struct db *db, const char **error_r);
int db_commit(struct db *db, const char **error_r);
void db_rollback(struct db *db);

/* Bind text that stays valid until the statement is reset (SQLITE_STATIC). */
int db_bind_text(sqlite3_stmt *stmt, int idx, const char *text);

/* Run a statement that returns no rows to completion (reset afterwards). 0 or -1. */
int db_step_done(struct db *db, sqlite3_stmt *stmt, const char *what, const char **error_r);

/* Run sql (static storage, as for db_stmt) and read the first column of its one row as an integer.
 * 0, or -1 with *error_r ("what: sqlite's message") when it fails or returns no row. */
int db_query_int64(struct db *db, const char *sql, const char *what, int64_t *value_r, const char **error_r);

/* Copy column col of the current row into buf (empty for NULL). */
void db_column_copy(sqlite3_stmt *stmt, int col, char *buf, size_t size);

#endif
