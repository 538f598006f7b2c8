/*
 * db_schema: the schema of the tables database and its migrations.
 *
 * The schema is a list of SQL scripts, one per version: script N turns version N-1 into version N,
 * and "PRAGMA user_version" records the version reached. db_schema_migrate() applies every script the
 * database has not seen in one IMMEDIATE transaction, so a migration is applied wholly or not at all and
 * two "mxctl init" running at once cannot both apply it. Adding a table later means appending one
 * script; scripts already released are never edited.
 */
#ifndef MXD_DB_SCHEMA_H
#define MXD_DB_SCHEMA_H

#include "db/db.h"

/* The schema version this program builds and understands. */
int db_schema_latest(void);

/* Read "PRAGMA user_version" (0 for a new, empty database). 0, or -1 with *error_r. */
int db_schema_read_version(struct db *db, int *version_r, const char **error_r);

/* Bring the schema up to db_schema_latest(). *from_r (may be NULL) gets the version found before.
 * A database newer than this program is an error. 0, or -1 with *error_r (nothing changed). */
int db_schema_migrate(struct db *db, int *from_r, const char **error_r);

/* What db_open(DB_OPEN_CREATE) did: -1 nothing (already current), 0 created the schema, N upgraded
 * from version N. */
int db_schema_migrated_from(const struct db *db);

#endif
