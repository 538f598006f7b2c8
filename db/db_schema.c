/*
 * db_schema: see db_schema.h. The migrations array below is the whole history of the schema.
 *
 * Rules for every table, kept for replication with SQLite's session extension: an explicit PRIMARY KEY
 * (NOT NULL), keys that are natural names (no AUTOINCREMENT ids that would collide between hosts),
 * "created" and "modified" unix times. Names are stored lower-cased by the C API; the CHECKs keep
 * anything else (mxadmin, sqlite3 by hand) from storing a mixed-case key that lookups would never find.
 */
#include "db/db_schema.h"

#include "db/db_private.h"
#include "mxd/util.h"

#include <stdio.h>

static const char *const migrations[] = {
    /* 1: hosted domains, aliases (the catch-all is the alias "@domain"), alias domains. */
    "CREATE TABLE domains ("
    "  name TEXT NOT NULL PRIMARY KEY CHECK (name = lower(name) AND name <> ''),"
    "  description TEXT NOT NULL DEFAULT '',"
    "  active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),"
    "  alias_limit INTEGER NOT NULL DEFAULT 0 CHECK (alias_limit >= 0)," /* 0: no limit */
    "  created INTEGER NOT NULL,"
    "  modified INTEGER NOT NULL"
    ");"
    "CREATE TABLE aliases ("
    "  address TEXT NOT NULL PRIMARY KEY CHECK (address = lower(address)),"
    "  domain TEXT NOT NULL REFERENCES domains(name) ON DELETE CASCADE ON UPDATE CASCADE,"
    "  destinations TEXT NOT NULL CHECK (destinations <> '')," /* "a@example.net,b@example.org" */
    "  active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),"
    "  created INTEGER NOT NULL,"
    "  modified INTEGER NOT NULL,"
    "  CHECK (substr(address, -length(domain) - 1) = '@' || domain)"
    ");"
    "CREATE INDEX aliases_domain ON aliases(domain);"
    "CREATE TABLE alias_domains ("
    "  alias_domain TEXT NOT NULL PRIMARY KEY CHECK (alias_domain = lower(alias_domain)),"
    "  target_domain TEXT NOT NULL REFERENCES domains(name) ON DELETE CASCADE ON UPDATE CASCADE,"
    "  active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),"
    "  created INTEGER NOT NULL,"
    "  modified INTEGER NOT NULL,"
    "  CHECK (alias_domain <> target_domain)"
    ");"
    "CREATE INDEX alias_domains_target ON alias_domains(target_domain);",

    /* 2: routing rules (db/route.c): routes by recipient domain, their next hops (weights, priorities,
     * AUTH credentials) and per-hop counters that mxd adds to. Hops are keyed by an integer id because
     * mxd's live state follows a hop across reloads by it; ids are assigned where routes are edited
     * (the primary). route_stats is mxd's own runtime data. */
    "CREATE TABLE routes ("
    "  id INTEGER PRIMARY KEY,"
    "  match TEXT NOT NULL UNIQUE CHECK (match = lower(match) AND match <> ''),"
    "  tls_level TEXT CHECK (tls_level IS NULL OR tls_level IN ('none', 'may', 'encrypt', 'verify')),"
    "  description TEXT NOT NULL DEFAULT '',"
    "  active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),"
    "  created INTEGER NOT NULL,"
    "  modified INTEGER NOT NULL"
    ");"
    "CREATE TABLE route_hops ("
    "  id INTEGER PRIMARY KEY,"
    "  route_id INTEGER NOT NULL REFERENCES routes(id) ON DELETE CASCADE,"
    "  nexthop TEXT NOT NULL CHECK (nexthop = lower(nexthop) AND nexthop <> ''),"
    "  weight INTEGER NOT NULL DEFAULT 1 CHECK (weight >= 1),"
    "  priority INTEGER NOT NULL DEFAULT 0 CHECK (priority >= 0),"
    "  auth_user TEXT,"
    "  auth_password TEXT,"
    "  allow_plaintext_auth INTEGER NOT NULL DEFAULT 0 CHECK (allow_plaintext_auth IN (0, 1)),"
    "  created INTEGER NOT NULL,"
    "  modified INTEGER NOT NULL,"
    "  UNIQUE (route_id, nexthop),"
    "  CHECK ((auth_user IS NULL) = (auth_password IS NULL))"
    ");"
    "CREATE TABLE route_stats ("
    "  hop_id INTEGER PRIMARY KEY REFERENCES route_hops(id) ON DELETE CASCADE,"
    "  selected INTEGER NOT NULL DEFAULT 0,"
    "  sent INTEGER NOT NULL DEFAULT 0,"
    "  deferred INTEGER NOT NULL DEFAULT 0,"
    "  bounced INTEGER NOT NULL DEFAULT 0,"
    "  modified INTEGER NOT NULL"
    ");",
};

int db_schema_latest(void)
{
	return (int)MXD_ARRAY_SIZE(migrations);
}

int db_schema_read_version(struct db *db, int *version_r, const char **error_r)
{
	static const char sql[] = "PRAGMA user_version";
	sqlite3_stmt *stmt = db_stmt(db, sql, error_r);
	if (stmt == NULL)
		return -1;
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		db_fail(db, "read schema version", error_r);
		sqlite3_reset(stmt);
		return -1;
	}
	*version_r = sqlite3_column_int(stmt, 0);
	sqlite3_reset(stmt);
	return 0;
}

int db_schema_migrate(struct db *db, int *from_r, const char **error_r)
{
	int version, latest = db_schema_latest();
	char what[64], pragma[64];

	if (db_begin(db, error_r) < 0)
		return -1;
	/* Read the version inside the transaction: another "mxctl init" may have migrated meanwhile. */
	if (db_schema_read_version(db, &version, error_r) < 0)
		goto fail;
	if (version > latest) {
		db_input_error(db, error_r, "schema version %d is newer than this program understands (%d)",
		               version, latest);
		goto fail;
	}
	for (int v = version; v < latest; v++) {
		if (sqlite3_exec(db_handle(db), migrations[v], NULL, NULL, NULL) != SQLITE_OK) {
			snprintf(what, sizeof(what), "migrate to schema version %d", v + 1);
			db_fail(db, what, error_r);
			goto fail;
		}
	}
	/* The version is our own integer, not input: PRAGMA takes no bound parameters. */
	snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", latest);
	if (sqlite3_exec(db_handle(db), pragma, NULL, NULL, NULL) != SQLITE_OK) {
		db_fail(db, "set schema version", error_r);
		goto fail;
	}
	if (db_commit(db, error_r) < 0)
		return -1;
	if (from_r != NULL)
		*from_r = version == latest ? -1 : version;
	return 0;
fail:
	db_rollback(db);
	return -1;
}

int db_schema_migrated_from(const struct db *db)
{
	return db->migrated_from;
}
