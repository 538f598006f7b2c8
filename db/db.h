/*
 * db: the shared SQLite database of mxd, mxctl and mxadmin (domains, aliases, alias domains, and the
 * tables later issues add). Opens in WAL mode with foreign keys on and a busy timeout, and migrates
 * the schema to the current version (db_schema.c holds the migrations, one SQL script per version).
 *
 * A struct db is used by one thread at a time; each thread or process opens its own. Errors come
 * back as -1 with *error_r pointing into the struct db (valid until its next call). db_error_is_busy()
 * tells a locked or unavailable database (the SMTP server answers 451 then, never 550).
 */
#ifndef MXD_DB_H
#define MXD_DB_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

struct db;

enum db_open_flags {
	DB_OPEN_READWRITE = 0,
	DB_OPEN_CREATE = 1 << 0,   /* create the file and migrate the schema (mxctl init) */
	DB_OPEN_READONLY = 1 << 1, /* mxd's lookups: never writes, never migrates */
};

/* Open path. Without DB_OPEN_CREATE a missing file or an older schema is an error that says to run
 * "mxctl init". 0, or -1 with *error_r (static storage for this thread). */
int db_open(const char *path, unsigned flags, struct db **db_r, const char **error_r);
void db_close(struct db **db);

/* The raw handle, for modules in db/ only. */
sqlite3 *db_handle(struct db *db);

/* Schema version of the open database. */
int db_schema_version(struct db *db);

/* Was the last failure a locked/busy/unreadable database rather than bad input? */
bool db_error_is_busy(const struct db *db);

/* A check that db_alias_add() runs inside its transaction, after the alias is written and before the
 * commit: returning -1 (with *error_r, the check's own text) refuses the change and rolls it back, with
 * that text as the add's error. The writers (mxctl, mxadmin) set expand_check() here, which lives above
 * db/ (mxd/rewrite), so that every alias change made through them is checked the same way. */
typedef int db_alias_check_fn(struct db *db, const char *address, const char *const *destinations, size_t n,
                              void *ctx, const char **error_r);
void db_set_alias_check(struct db *db, db_alias_check_fn *check, void *ctx);

#endif
