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
 *
 * The shapes every table module repeats are here once: a statement with its parameters (struct
 * db_param, always bound, never pasted into SQL), run for its changes (db_exec, db_change), for its
 * first row (db_row_get) or for every row (db_rows_each), or read into a malloc'd array of structs
 * (db_rows_list, freed with db_list_free). Each of them leaves its statement reset with its bindings
 * cleared, so no read stays open and no bound text (a password, say) stays referenced.
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
	struct resolve_cache *rcache;   /* db_resolve()'s recent answers (resolve_cache.h); NULL: off */
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

/* One parameter of a statement: DB_TEXT(s) (NULL binds SQL NULL; s must outlive the call), DB_INT(n),
 * DB_NULL. DB_PARAMS(...) passes a list of them as "params, n" to the functions below; DB_NO_PARAMS
 * passes none. Parameters are bound as ?1, ?2, ... in the order given. */
enum db_param_kind { DB_PARAM_NULL, DB_PARAM_TEXT, DB_PARAM_INT };

struct db_param {
	enum db_param_kind kind;
	const char *text;
	int64_t value;
};

#define DB_TEXT(s)     ((struct db_param){DB_PARAM_TEXT, (s), 0})
#define DB_INT(n)      ((struct db_param){DB_PARAM_INT, NULL, (int64_t)(n)})
#define DB_NULL        ((struct db_param){DB_PARAM_NULL, NULL, 0})
#define DB_PARAMS(...) (const struct db_param[]){__VA_ARGS__}, DB_NPARAMS(__VA_ARGS__)
#define DB_NPARAMS(...)                                                                                      \
	(sizeof((const struct db_param[]){__VA_ARGS__}) / sizeof(struct db_param)) /* not evaluated */
#define DB_NO_PARAMS NULL, 0

/* The cached statement for sql with params bound; NULL with *error_r. */
sqlite3_stmt *db_prepare(struct db *db, const char *sql, const struct db_param *params, size_t nparams,
                         const char **error_r);

/* Run sql (no rows wanted) with params. 0, or -1 with *error_r ("what: sqlite's message"). */
int db_exec(struct db *db, const char *sql, const struct db_param *params, size_t nparams, const char *what,
            const char **error_r);

/* As db_exec() for an UPDATE or DELETE that should touch a row: 0 it changed one or more, 1 it changed
 * none (the caller words "no such ..."), -1 error. */
int db_change(struct db *db, const char *sql, const struct db_param *params, size_t nparams, const char *what,
              const char **error_r);

/* Read one row: fn(stmt, ctx) returns 0 to go on, 1 to stop here (no error), -1 to stop with its own
 * error in *error_r. */
typedef int db_row_fn(sqlite3_stmt *stmt, void *ctx);

/* Run sql with params and hand each row to fn. 0, or -1 when a step fails ("what: ...") or fn stops. */
int db_rows_each(struct db *db, const char *sql, const struct db_param *params, size_t nparams, db_row_fn *fn,
                 void *ctx, const char *what, const char **error_r);

/* Run sql with params and hand its first row to fn (NULL: only look). 0 a row was there, 1 none, -1
 * error ("what: ...") or fn's -1. */
int db_row_get(struct db *db, const char *sql, const struct db_param *params, size_t nparams, db_row_fn *fn,
               void *ctx, const char *what, const char **error_r);

/* How the rows of a query become an array of structs: each element is size octets, filled by
 * from_row(stmt, element) (a db_row_fn: -1 stops the list); clear(element) (NULL: nothing to do) frees
 * what from_row allocated. */
struct db_rows {
	size_t size;
	db_row_fn *from_row;
	void (*clear)(void *item);
};

/* Read every row of sql into one malloc'd array stored at list_r (the address of the caller's
 * "struct x *"; NULL when there are no rows) and its length in *n_r. On failure nothing is kept:
 * *list_r NULL, *n_r 0, -1 with *error_r ("what: ..."). */
int db_rows_list(struct db *db, const char *sql, const struct db_param *params, size_t nparams,
                 const struct db_rows *rows, void *list_r, size_t *n_r, const char *what,
                 const char **error_r);

/* Clear each of the n elements of the array at list_p (the address of the caller's "struct x *") with
 * rows->clear, free it and set the caller's pointer to NULL. */
void db_list_free(void *list_p, size_t n, const struct db_rows *rows);

/* The database holds passwords from now on (why ends the error: "a replica holds relay passwords"): take
 * every permission for other users off the file and its -wal and -shm files. 0, or -1 with *error_r when they
 * are readable by others and cannot be changed. */
int db_protect(struct db *db, const char *why, const char **error_r);

#endif
