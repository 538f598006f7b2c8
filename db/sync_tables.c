/*
 * sync_tables: the replicated tables, one descriptor each (sync_private.h): how a snapshot reads the
 * table, how a secondary upserts and deletes its rows. Rows travel as the json_object() the change-log
 * triggers of migration 4 make, with the same keys; a column added to one of these tables must be
 * added here and to its triggers (test_sync_log checks that the log holds every column).
 *
 * Upserts are INSERT ... ON CONFLICT (pk) DO UPDATE, never INSERT OR REPLACE, which deletes the old
 * row first and so would cascade to the rows referring to it.
 */
#include "db/sync_private.h"

#include "mxd/common/util.h"

#include <string.h>

/* clang-format off */

/* The row of each table as json_object(). */
#define DOMAINS_ROW                                                                                          \
	"json_object('name', name, 'description', description, 'active', active, 'alias_limit', alias_limit," \
	" 'hourly_message_limit', hourly_message_limit, 'dmarc_from_rewrite', dmarc_from_rewrite,"           \
	" 'report_address', report_address, 'created', created, 'modified', modified)"
#define ALIASES_ROW                                                                                          \
	"json_object('address', address, 'domain', domain, 'destinations', destinations, 'active', active,"  \
	" 'fallback', fallback, 'created', created, 'modified', modified)"
#define ALIAS_DOMAINS_ROW                                                                                    \
	"json_object('alias_domain', alias_domain, 'target_domain', target_domain, 'active', active,"        \
	" 'created', created, 'modified', modified)"
#define ROUTES_ROW                                                                                           \
	"json_object('id', id, 'match', match, 'tls_level', tls_level, 'description', description,"          \
	" 'active', active, 'created', created, 'modified', modified)"
#define ROUTE_HOPS_ROW                                                                                       \
	"json_object('id', id, 'route_id', route_id, 'nexthop', nexthop, 'weight', weight, 'priority',"      \
	" priority, 'auth_user', auth_user, 'auth_password', auth_password, 'allow_plaintext_auth',"         \
	" allow_plaintext_auth, 'allow_unverified_tls', allow_unverified_tls, 'rate', rate,"                 \
	" 'weight_schedule', weight_schedule, 'created', created, 'modified', modified)"

/* A snapshot's entries of table t by primary key, the whole table or after ?1, at most ?2 rows: the
 * entry's JSON and the key as JSON (for the "next" cursor). */
#define SNAPSHOT(t, pk, row, where)                                                                          \
	"SELECT json_object('tbl', '" t "', 'pk', " pk ", 'op', 'insert', 'row', " row "),"                  \
	" json_quote(" pk ") FROM " t where " ORDER BY " pk " LIMIT ?2"

/* A column of the row being applied (?1). */
#define J(col) "json_extract(?1, '$." col "')"

static const char domains_upsert_sql[] =
    "INSERT INTO domains (name, description, active, alias_limit, hourly_message_limit, dmarc_from_rewrite,"
    " report_address, created, modified)"
    " SELECT " J("name") ", " J("description") ", " J("active") ", " J("alias_limit") ","
    /* a primary before schema 9 sends none of the three */
    " coalesce(" J("hourly_message_limit") ", 0), " J("dmarc_from_rewrite") ","
    " coalesce(" J("report_address") ", ''), " J("created") ", " J("modified") " WHERE true"
    " ON CONFLICT (name) DO UPDATE SET description = excluded.description, active = excluded.active,"
    " alias_limit = excluded.alias_limit, hourly_message_limit = excluded.hourly_message_limit,"
    " dmarc_from_rewrite = excluded.dmarc_from_rewrite, report_address = excluded.report_address,"
    " created = excluded.created, modified = excluded.modified";

static const char aliases_upsert_sql[] =
    "INSERT INTO aliases (address, domain, destinations, active, fallback, created, modified)"
    " SELECT " J("address") ", " J("domain") ", " J("destinations") ", " J("active") ","
    /* a primary before schema 7 sends no such key */
    " coalesce(" J("fallback") ", ''),"
    " " J("created") ", " J("modified") " WHERE true"
    " ON CONFLICT (address) DO UPDATE SET domain = excluded.domain, destinations = excluded.destinations,"
    " active = excluded.active, fallback = excluded.fallback, created = excluded.created,"
    " modified = excluded.modified";

static const char alias_domains_upsert_sql[] =
    "INSERT INTO alias_domains (alias_domain, target_domain, active, created, modified)"
    " SELECT " J("alias_domain") ", " J("target_domain") ", " J("active") ", " J("created") ","
    " " J("modified") " WHERE true"
    " ON CONFLICT (alias_domain) DO UPDATE SET target_domain = excluded.target_domain,"
    " active = excluded.active, created = excluded.created, modified = excluded.modified";

static const char routes_upsert_sql[] =
    "INSERT INTO routes (id, match, tls_level, description, active, created, modified)"
    " SELECT " J("id") ", " J("match") ", " J("tls_level") ", " J("description") ", " J("active") ","
    " " J("created") ", " J("modified") " WHERE true"
    " ON CONFLICT (id) DO UPDATE SET match = excluded.match, tls_level = excluded.tls_level,"
    " description = excluded.description, active = excluded.active, created = excluded.created,"
    " modified = excluded.modified";

static const char route_hops_upsert_sql[] =
    "INSERT INTO route_hops (id, route_id, nexthop, weight, priority, auth_user, auth_password,"
    " allow_plaintext_auth, allow_unverified_tls, rate, weight_schedule, created, modified)"
    " SELECT " J("id") ", " J("route_id") ", " J("nexthop") ", " J("weight") ", " J("priority") ","
    " " J("auth_user") ", " J("auth_password") ", " J("allow_plaintext_auth") ","
    /* a primary before schema 5 (10) sends no such key */
    " coalesce(" J("allow_unverified_tls") ", 0), coalesce(" J("rate") ", ''),"
    " coalesce(" J("weight_schedule") ", ''),"
    " " J("created") ", " J("modified") " WHERE true"
    " ON CONFLICT (id) DO UPDATE SET route_id = excluded.route_id, nexthop = excluded.nexthop,"
    " weight = excluded.weight, priority = excluded.priority, auth_user = excluded.auth_user,"
    " auth_password = excluded.auth_password, allow_plaintext_auth = excluded.allow_plaintext_auth,"
    " allow_unverified_tls = excluded.allow_unverified_tls, rate = excluded.rate,"
    " weight_schedule = excluded.weight_schedule,"
    " created = excluded.created, modified = excluded.modified";

/* A snapshot applied over an older replica can meet a row that holds this row's unique key under
 * another id (the primary deleted and re-created it, and ids are reused): that row goes first (if it
 * still exists on the primary, the snapshot brings it back under its own id). Changes applied in the
 * primary's order never meet such a row. */
static const char routes_unique_sql[] =
    "DELETE FROM routes WHERE match = " J("match") " AND id IS NOT " J("id");
static const char route_hops_unique_sql[] =
    "DELETE FROM route_hops WHERE route_id = " J("route_id") " AND nexthop = " J("nexthop")
    " AND id IS NOT " J("id");

const struct sync_table db_sync_tables[] = {
    {"domains", "$.name", false,
     SNAPSHOT("domains", "name", DOMAINS_ROW, ""),
     SNAPSHOT("domains", "name", DOMAINS_ROW, " WHERE name > ?1"),
     domains_upsert_sql, NULL,
     "DELETE FROM domains WHERE name = ?1",
     "DELETE FROM domains WHERE name NOT IN (SELECT pk FROM temp.sync_seen WHERE tbl = 'domains')"},
    {"aliases", "$.address", false,
     SNAPSHOT("aliases", "address", ALIASES_ROW, ""),
     SNAPSHOT("aliases", "address", ALIASES_ROW, " WHERE address > ?1"),
     aliases_upsert_sql, NULL,
     "DELETE FROM aliases WHERE address = ?1",
     "DELETE FROM aliases WHERE address NOT IN (SELECT pk FROM temp.sync_seen WHERE tbl = 'aliases')"},
    {"alias_domains", "$.alias_domain", false,
     SNAPSHOT("alias_domains", "alias_domain", ALIAS_DOMAINS_ROW, ""),
     SNAPSHOT("alias_domains", "alias_domain", ALIAS_DOMAINS_ROW, " WHERE alias_domain > ?1"),
     alias_domains_upsert_sql, NULL,
     "DELETE FROM alias_domains WHERE alias_domain = ?1",
     "DELETE FROM alias_domains WHERE alias_domain NOT IN"
     " (SELECT pk FROM temp.sync_seen WHERE tbl = 'alias_domains')"},
    {"routes", "$.id", true,
     SNAPSHOT("routes", "id", ROUTES_ROW, ""),
     SNAPSHOT("routes", "id", ROUTES_ROW, " WHERE id > ?1"),
     routes_upsert_sql, routes_unique_sql,
     "DELETE FROM routes WHERE id = CAST(?1 AS INTEGER)",
     "DELETE FROM routes WHERE id NOT IN"
     " (SELECT CAST(pk AS INTEGER) FROM temp.sync_seen WHERE tbl = 'routes')"},
    {"route_hops", "$.id", true,
     SNAPSHOT("route_hops", "id", ROUTE_HOPS_ROW, ""),
     SNAPSHOT("route_hops", "id", ROUTE_HOPS_ROW, " WHERE id > ?1"),
     route_hops_upsert_sql, route_hops_unique_sql,
     "DELETE FROM route_hops WHERE id = CAST(?1 AS INTEGER)",
     "DELETE FROM route_hops WHERE id NOT IN"
     " (SELECT CAST(pk AS INTEGER) FROM temp.sync_seen WHERE tbl = 'route_hops')"},
};

/* clang-format on */

const size_t db_sync_ntables = MXD_ARRAY_SIZE(db_sync_tables);

const struct sync_table *db_sync_table_find(const char *name)
{
	for (size_t i = 0; name != NULL && i < db_sync_ntables; i++) {
		if (strcmp(db_sync_tables[i].name, name) == 0)
			return &db_sync_tables[i];
	}
	return NULL;
}
