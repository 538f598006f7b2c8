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
#include "mxd/common/util.h"

#include <stdio.h>

/* Migration 4's triggers (db/sync.c), written once per replicated table. Frozen like the script: a
 * later script that adds a column to a replicated table re-creates that table's triggers itself. */
#define M4_LOGGING " WHEN NOT EXISTS (SELECT 1 FROM sync_state WHERE key = 'primary')"
#define M4_LOCKED  " WHEN EXISTS (SELECT 1 FROM sync_state WHERE key = 'replica_lock')"
#define M4_LOG(t, pk, row)                                                                                   \
	"CREATE TRIGGER " t "_log_insert AFTER INSERT ON " t M4_LOGGING " BEGIN"                             \
	" INSERT INTO changelog (tbl, pk, op, row, at) VALUES ('" t "', NEW." pk ", 'insert', " row          \
	", unixepoch()); END;"                                                                               \
	"CREATE TRIGGER " t "_log_update AFTER UPDATE ON " t M4_LOGGING " BEGIN"                             \
	" INSERT INTO changelog (tbl, pk, op, row, at) SELECT '" t "', OLD." pk ", 'delete', NULL,"          \
	" unixepoch() WHERE OLD." pk " IS NOT NEW." pk ";"                                                   \
	" INSERT INTO changelog (tbl, pk, op, row, at) VALUES ('" t "', NEW." pk ", 'update', " row          \
	", unixepoch()); END;"                                                                               \
	"CREATE TRIGGER " t "_log_delete AFTER DELETE ON " t M4_LOGGING " BEGIN"                             \
	" INSERT INTO changelog (tbl, pk, op, row, at) VALUES ('" t "', OLD." pk ", 'delete', NULL,"         \
	" unixepoch()); END;"
#define M4_LOCK_ONE(t, what)                                                                                 \
	"CREATE TRIGGER " t "_replica_" what " BEFORE " what " ON " t M4_LOCKED                              \
	" BEGIN SELECT RAISE(ABORT, 'this is a secondary: change the tables on the primary'); END;"
#define M4_LOCK(t) M4_LOCK_ONE(t, "insert") M4_LOCK_ONE(t, "update") M4_LOCK_ONE(t, "delete")

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

    /* 3: the admin UI (db/admin.c, db/admin_session.c, db/audit.c): administrators (superadmins, or
     * domain admins limited to the domains in admin_domains), their API tokens (SHA-256 of the token),
     * web sessions (SHA-256 of the session id), login failures for throttling, and the audit log.
     * Sessions and login failures are each host's runtime data: replication should leave them out.
     * Audit rows are keyed by "time-random" text ids that sort chronologically and never collide. */
    "CREATE TABLE admins ("
    "  name TEXT NOT NULL PRIMARY KEY CHECK (name = lower(name) AND name <> ''),"
    "  password_hash TEXT NOT NULL,"
    "  superadmin INTEGER NOT NULL DEFAULT 0 CHECK (superadmin IN (0, 1)),"
    "  active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),"
    "  created INTEGER NOT NULL,"
    "  modified INTEGER NOT NULL"
    ");"
    "CREATE TABLE admin_domains ("
    "  admin TEXT NOT NULL REFERENCES admins(name) ON DELETE CASCADE ON UPDATE CASCADE,"
    "  domain TEXT NOT NULL REFERENCES domains(name) ON DELETE CASCADE ON UPDATE CASCADE,"
    "  created INTEGER NOT NULL,"
    "  modified INTEGER NOT NULL,"
    "  PRIMARY KEY (admin, domain)"
    ");"
    "CREATE INDEX admin_domains_domain ON admin_domains(domain);"
    "CREATE TABLE admin_tokens ("
    "  token_hash TEXT NOT NULL PRIMARY KEY,"
    "  admin TEXT NOT NULL REFERENCES admins(name) ON DELETE CASCADE ON UPDATE CASCADE,"
    "  last_used INTEGER NOT NULL DEFAULT 0,"
    "  created INTEGER NOT NULL,"
    "  modified INTEGER NOT NULL"
    ");"
    "CREATE INDEX admin_tokens_admin ON admin_tokens(admin);"
    "CREATE TABLE admin_sessions ("
    "  id_hash TEXT NOT NULL PRIMARY KEY,"
    "  admin TEXT NOT NULL REFERENCES admins(name) ON DELETE CASCADE ON UPDATE CASCADE,"
    "  csrf_token TEXT NOT NULL,"
    "  client_addr TEXT NOT NULL DEFAULT '',"
    "  flash TEXT NOT NULL DEFAULT '',"
    "  last_seen INTEGER NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  modified INTEGER NOT NULL"
    ");"
    "CREATE INDEX admin_sessions_admin ON admin_sessions(admin);"
    "CREATE TABLE admin_login_failures ("
    "  key TEXT NOT NULL PRIMARY KEY," /* "account:NAME" or "client:ADDRESS" */
    "  failures INTEGER NOT NULL,"
    "  last_failure INTEGER NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  modified INTEGER NOT NULL"
    ");"
    "CREATE TABLE audit_log ("
    "  id TEXT NOT NULL PRIMARY KEY,"
    "  admin TEXT NOT NULL,"
    "  client_addr TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  object TEXT NOT NULL,"
    "  domain TEXT NOT NULL DEFAULT ''," /* the hosted domain concerned, '' for none */
    "  detail TEXT NOT NULL DEFAULT '',"
    "  created INTEGER NOT NULL,"
    "  modified INTEGER NOT NULL"
    ");"
    "CREATE INDEX audit_log_domain ON audit_log(domain, id);",

    /* 4: replication (db/sync.c, db/README.md "Replication"): sync_state holds the replication state
     * (the change log's id on a primary; last_seq, last_sync, last_error, ... on a secondary), changelog
     * the changes of the replicated tables, recorded by triggers on each (not while the database is a
     * replica, i.e. while sync_state has a "primary"); on a replica (sync_state has a "replica_lock")
     * other triggers refuse local writes to those tables. route_stats and the admin tables are each
     * host's own and are not replicated. */
    // clang-format off
    "CREATE TABLE sync_state ("
    "  key TEXT NOT NULL PRIMARY KEY,"
    "  value TEXT"
    ");"
    "INSERT INTO sync_state (key, value) VALUES ('log_id', lower(hex(randomblob(16))));"
    "CREATE TABLE changelog ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  tbl TEXT NOT NULL,"
    "  pk TEXT NOT NULL,"
    "  op TEXT NOT NULL CHECK (op IN ('insert', 'update', 'delete')),"
    "  row TEXT," /* json_object of the new row, NULL for a delete */
    "  at INTEGER NOT NULL"
    ");"
    M4_LOG("domains", "name",
           "json_object('name', NEW.name, 'description', NEW.description, 'active', NEW.active,"
           " 'alias_limit', NEW.alias_limit, 'created', NEW.created, 'modified', NEW.modified)")
    M4_LOG("aliases", "address",
           "json_object('address', NEW.address, 'domain', NEW.domain, 'destinations', NEW.destinations,"
           " 'active', NEW.active, 'created', NEW.created, 'modified', NEW.modified)")
    M4_LOG("alias_domains", "alias_domain",
           "json_object('alias_domain', NEW.alias_domain, 'target_domain', NEW.target_domain,"
           " 'active', NEW.active, 'created', NEW.created, 'modified', NEW.modified)")
    M4_LOG("routes", "id",
           "json_object('id', NEW.id, 'match', NEW.match, 'tls_level', NEW.tls_level,"
           " 'description', NEW.description, 'active', NEW.active, 'created', NEW.created,"
           " 'modified', NEW.modified)")
    M4_LOG("route_hops", "id",
           "json_object('id', NEW.id, 'route_id', NEW.route_id, 'nexthop', NEW.nexthop,"
           " 'weight', NEW.weight, 'priority', NEW.priority, 'auth_user', NEW.auth_user,"
           " 'auth_password', NEW.auth_password, 'allow_plaintext_auth', NEW.allow_plaintext_auth,"
           " 'created', NEW.created, 'modified', NEW.modified)")
    M4_LOCK("domains") M4_LOCK("aliases") M4_LOCK("alias_domains") M4_LOCK("routes") M4_LOCK("route_hops"),

    /* 5: route_hops.allow_unverified_tls: AUTH may go over TLS whose certificate does not verify for
     * the hop's name (mxctl route add --allow-unverified-tls). The column is replicated, so the
     * change-log triggers of route_hops are made again with it (db/sync_tables.c has the same row). */
    "ALTER TABLE route_hops ADD COLUMN allow_unverified_tls INTEGER NOT NULL DEFAULT 0"
    "  CHECK (allow_unverified_tls IN (0, 1));"
    "DROP TRIGGER route_hops_log_insert;"
    "DROP TRIGGER route_hops_log_update;"
    "DROP TRIGGER route_hops_log_delete;"
    M4_LOG("route_hops", "id",
           "json_object('id', NEW.id, 'route_id', NEW.route_id, 'nexthop', NEW.nexthop,"
           " 'weight', NEW.weight, 'priority', NEW.priority, 'auth_user', NEW.auth_user,"
           " 'auth_password', NEW.auth_password, 'allow_plaintext_auth', NEW.allow_plaintext_auth,"
           " 'allow_unverified_tls', NEW.allow_unverified_tls,"
           " 'created', NEW.created, 'modified', NEW.modified)"),
    // clang-format on

    /* 6: a relay password lives in the change log only as long as its row does: each new entry of a
     * route hop (an update, a delete) blanks the password in that hop's older entries, which the new one
     * supersedes (a secondary that still has to apply them applies the new one right after). Entries
     * already superseded are blanked now. */
    "CREATE TRIGGER changelog_scrub_password AFTER INSERT ON changelog WHEN NEW.tbl = 'route_hops'"
    " BEGIN"
    "  UPDATE changelog SET row = json_set(row, '$.auth_password', '')"
    "   WHERE tbl = 'route_hops' AND pk = NEW.pk AND seq < NEW.seq AND row IS NOT NULL"
    "     AND json_extract(row, '$.auth_password') <> '';"
    " END;"
    "UPDATE changelog SET row = json_set(row, '$.auth_password', '')"
    " WHERE tbl = 'route_hops' AND row IS NOT NULL AND json_extract(row, '$.auth_password') <> ''"
    "   AND seq < (SELECT max(c.seq) FROM changelog c WHERE c.tbl = 'route_hops' AND c.pk = changelog.pk);",

    /* 7: aliases.fallback: where a forward goes when its destination refuses it for good or has deferred
     * it longer than fallback_after ('' = none; mxctl alias fallback). The column is replicated, so the
     * change-log triggers of aliases are made again with it (db/sync_tables.c has the same row). */
    // clang-format off
    "ALTER TABLE aliases ADD COLUMN fallback TEXT NOT NULL DEFAULT '' CHECK (fallback = lower(fallback));"
    "DROP TRIGGER aliases_log_insert;"
    "DROP TRIGGER aliases_log_update;"
    "DROP TRIGGER aliases_log_delete;"
    M4_LOG("aliases", "address",
           "json_object('address', NEW.address, 'domain', NEW.domain, 'destinations', NEW.destinations,"
           " 'active', NEW.active, 'fallback', NEW.fallback, 'created', NEW.created,"
           " 'modified', NEW.modified)"),
    // clang-format on

    /* 8: route_stats counts the replies that throttle us (reply_class.h: 421 4.7.0 "very low reputation",
     * rate limits) apart from connection failures (connect, greeting, TLS, AUTH); both open a relay
     * hop's circuit. route_stats is each host's own: not replicated. */
    "ALTER TABLE route_stats ADD COLUMN throttled INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE route_stats ADD COLUMN conn_failures INTEGER NOT NULL DEFAULT 0;",

    /* 9: three columns of domains, all replicated (so the change-log triggers of domains are made again
     * with them; db/sync_tables.c has the same row): hourly_message_limit, messages accepted per hour for
     * the domain's recipients on each MX host (0: no limit; mxctl domain set --hourly-message-limit, the
     * admin UI and API); dmarc_from_rewrite, the domain's own choice for dmarc_from_rewrite (NULL: the
     * setting; mxctl domain option); report_address, where owner notices of failed forwards go ('' =
     * none; mxctl domain report). */
    // clang-format off
    "ALTER TABLE domains ADD COLUMN hourly_message_limit INTEGER NOT NULL DEFAULT 0"
    "  CHECK (hourly_message_limit >= 0);"
    "ALTER TABLE domains ADD COLUMN dmarc_from_rewrite INTEGER CHECK (dmarc_from_rewrite IN (0, 1));"
    "ALTER TABLE domains ADD COLUMN report_address TEXT NOT NULL DEFAULT ''"
    "  CHECK (report_address = lower(report_address));"
    "DROP TRIGGER domains_log_insert;"
    "DROP TRIGGER domains_log_update;"
    "DROP TRIGGER domains_log_delete;"
    M4_LOG("domains", "name",
           "json_object('name', NEW.name, 'description', NEW.description, 'active', NEW.active,"
           " 'alias_limit', NEW.alias_limit, 'hourly_message_limit', NEW.hourly_message_limit,"
           " 'dmarc_from_rewrite', NEW.dmarc_from_rewrite, 'report_address', NEW.report_address,"
           " 'created', NEW.created, 'modified', NEW.modified)"),
    // clang-format on

    /* 10: route_hops.rate: a cap on deliveries through the hop, "N/unit" ('' none; mxctl route add|set
     * --rate); route_hops.weight_schedule: weights from given dates, "YYYY-MM-DD=W,..." in date order
     * ('' none; mxctl route schedule), for a warm-up that grows by itself. Replicated: the change-log
     * triggers of route_hops are made again with them. */
    // clang-format off
    "ALTER TABLE route_hops ADD COLUMN rate TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE route_hops ADD COLUMN weight_schedule TEXT NOT NULL DEFAULT '';"
    "DROP TRIGGER route_hops_log_insert;"
    "DROP TRIGGER route_hops_log_update;"
    "DROP TRIGGER route_hops_log_delete;"
    M4_LOG("route_hops", "id",
           "json_object('id', NEW.id, 'route_id', NEW.route_id, 'nexthop', NEW.nexthop,"
           " 'weight', NEW.weight, 'priority', NEW.priority, 'auth_user', NEW.auth_user,"
           " 'auth_password', NEW.auth_password, 'allow_plaintext_auth', NEW.allow_plaintext_auth,"
           " 'allow_unverified_tls', NEW.allow_unverified_tls, 'rate', NEW.rate,"
           " 'weight_schedule', NEW.weight_schedule,"
           " 'created', NEW.created, 'modified', NEW.modified)"),
    // clang-format on
};

int db_schema_latest(void)
{
	return (int)MXD_ARRAY_SIZE(migrations);
}

int db_schema_read_version(struct db *db, int *version_r, const char **error_r)
{
	static const char sql[] = "PRAGMA user_version";
	int64_t version;
	if (db_query_int64(db, sql, "read schema version", &version, error_r) < 0)
		return -1;
	*version_r = (int)version;
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
