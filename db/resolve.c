/*
 * resolve: see resolve.h. The hot path of recipient checks: one read transaction per address holding
 * two or three queries of primary-key lookups, through statements cached in the struct db, and no
 * allocation but the destinations handed back (about 120k lookups/s on one connection, no sanitizers).
 *
 * 1. the domain: a hosted domain (inactive: UNKNOWN_DOMAIN), else an active alias domain whose target
 *    is an active hosted domain (the lookups continue at the target), else UNKNOWN_DOMAIN;
 * 2. one query probing the three keys "local@domain", "base@domain" (local part cut at the first
 *    recipient_delimiter character, if that leaves something), "@domain"; the first in that order
 *    wins; active aliases only. An inactive alias is skipped, so the next rule may match.
 * An empty local part never resolves (it would otherwise look like the catch-all key).
 */
#include "db/resolve.h"

#include "db/alias.h"
#include "db/db_private.h"
#include "db/resolve_cache.h"
#include "mxd/common/addr.h"
#include "mxd/common/util.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* 0 hosted and active (target domain copied into target_r), 1 unknown or inactive, -1 error. */
static int resolve_domain(struct db *db, const char *domain, char *target_r, int *via_r, const char **error_r)
{
	static const char domain_sql[] = "SELECT active FROM domains WHERE name = ?1";
	static const char alias_domain_sql[] =
	    "SELECT ad.target_domain FROM alias_domains ad"
	    " JOIN domains d ON d.name = ad.target_domain"
	    " WHERE ad.alias_domain = ?1 AND ad.active = 1 AND d.active = 1";
	sqlite3_stmt *stmt = db_stmt(db, domain_sql, error_r);
	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, domain);
	int rc = sqlite3_step(stmt), ret = 1;
	if (rc == SQLITE_ROW) {
		ret = sqlite3_column_int(stmt, 0) != 0 ? 0 : 1;
		str_copy(target_r, ADDR_DOMAIN_MAX + 1, domain);
		*via_r = 0;
	} else if (rc != SQLITE_DONE) {
		ret = db_fail(db, "look up domain", error_r);
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE)
		return ret;

	stmt = db_stmt(db, alias_domain_sql, error_r);
	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, domain);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		db_column_copy(stmt, 0, target_r, ADDR_DOMAIN_MAX + 1);
		*via_r = 1;
		ret = 0;
	} else if (rc != SQLITE_DONE) {
		ret = db_fail(db, "look up alias domain", error_r);
	}
	sqlite3_reset(stmt);
	return ret;
}

static int resolve_alias(struct db *db, const char *exact, const char *base, const char *catchall,
                         struct db_resolution *res, const char **error_r)
{
	/* Three primary-key probes; the best row is picked here rather than by ORDER BY, which would cost
	 * an ephemeral sorter (allocation and page faults) on every lookup. */
	static const char sql[] =
	    "SELECT 1, destinations FROM aliases WHERE address = ?1 AND active = 1"
	    " UNION ALL SELECT 2, destinations FROM aliases WHERE address = ?2 AND active = 1"
	    " UNION ALL SELECT 3, destinations FROM aliases WHERE address = ?3 AND active = 1";
	static const enum db_resolve_rule rules[] = {DB_RULE_NONE, DB_RULE_EXACT, DB_RULE_DELIMITER,
	                                             DB_RULE_CATCHALL};
	const char *keys[] = {NULL, exact, base, catchall};
	sqlite3_stmt *stmt = db_stmt(db, sql, error_r);
	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, exact);
	db_bind_text(stmt, 2, base);
	db_bind_text(stmt, 3, catchall);
	int rc, best = 4;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		int prio = sqlite3_column_int(stmt, 0);
		if (prio < 1 || prio >= best)
			continue;
		best = prio;
		const unsigned char *dest = sqlite3_column_text(stmt, 1);
		db_alias_destinations_free(&res->destinations);
		res->destinations =
		    db_alias_split_destinations(dest != NULL ? (const char *)dest : "", &res->ndestinations);
		if (best == 1)
			break;
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		db_resolution_clear(res);
		return db_fail(db, "look up alias", error_r);
	}
	if (best == 4 || res->ndestinations == 0) {
		db_resolution_clear(res);
		res->status = DB_RESOLVE_UNKNOWN_USER;
		return 0;
	}
	res->status = DB_RESOLVE_OK;
	res->rule = rules[best];
	str_copy(res->matched, sizeof(res->matched), keys[best]);
	return 0;
}

static int resolve_locked(struct db *db, const char *address, const char *delimiter,
                          struct db_resolution *res, const char **error_r)
{
	char domain[ADDR_DOMAIN_MAX + 1], target[ADDR_DOMAIN_MAX + 1];
	char local[ADDR_LOCAL_MAX + 1];
	char exact[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2], base[sizeof(exact)], catchall[ADDR_DOMAIN_MAX + 2];

	memset(res, 0, sizeof(*res));
	res->status = DB_RESOLVE_UNKNOWN_DOMAIN;
	const char *at = strrchr(address, '@');
	if (at == NULL || at[1] == '\0' || strlen(at + 1) > ADDR_DOMAIN_MAX)
		return 0;
	str_copy(domain, sizeof(domain), at + 1);
	str_lower(domain);

	int via = 0;
	int rc = resolve_domain(db, domain, target, &via, error_r);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	res->via_alias_domain = via;
	res->status = DB_RESOLVE_UNKNOWN_USER;

	size_t local_len = (size_t)(at - address);
	if (local_len == 0 || local_len > ADDR_LOCAL_MAX || local_len + 1 + strlen(target) > ADDR_MAX)
		return 0;
	memcpy(local, address, local_len);
	local[local_len] = '\0';
	str_lower(local);

	snprintf(exact, sizeof(exact), "%s@%s", local, target);
	snprintf(catchall, sizeof(catchall), "@%s", target);
	const char *base_key = NULL;
	size_t cut = delimiter != NULL && *delimiter != '\0' ? strcspn(local, delimiter) : local_len;
	if (cut > 0 && cut < local_len) {
		snprintf(base, sizeof(base), "%.*s@%s", (int)cut, local, target);
		base_key = base;
	}
	return resolve_alias(db, exact, base_key, catchall, res, error_r);
}

/* The tables' version for the cache: changes whenever another connection commits. 0 or -1. */
static int resolve_version(struct db *db, int64_t *data_version_r, const char **error_r)
{
	static const char sql[] = "PRAGMA data_version";
	return db_query_int64(db, sql, "read data_version", data_version_r, error_r);
}

int db_resolve(struct db *db, const char *address, const char *delimiter, struct db_resolution *res,
               const char **error_r)
{
	/* One read transaction for all the probes: one snapshot, and one round of file locking instead
	 * of one per statement. */
	static const char begin_sql[] = "BEGIN";
	static const char commit_sql[] = "COMMIT";
	bool own = sqlite3_get_autocommit(db->handle) != 0;
	sqlite3_stmt *stmt;

	if (delimiter == NULL)
		delimiter = "";
	/* The cache first: data_version, read in a statement of its own, tells whether any connection
	 * committed since the cache was filled. A change after this read and before the lookups below
	 * only makes the entry they store newer than its label: the next read sees the change and
	 * empties the cache. */
	if (db->rcache != NULL) {
		int64_t version = 0;
		if (resolve_version(db, &version, error_r) < 0) {
			memset(res, 0, sizeof(*res));
			return -1;
		}
		resolve_cache_validate(db->rcache, version, sqlite3_total_changes64(db->handle));
		if (resolve_cache_get(db->rcache, address, delimiter, res))
			return 0;
	}
	if (own) {
		if ((stmt = db_stmt(db, begin_sql, error_r)) == NULL ||
		    db_step_done(db, stmt, "begin", error_r) < 0) {
			memset(res, 0, sizeof(*res));
			return -1;
		}
	}
	int ret = resolve_locked(db, address, delimiter, res, error_r);
	if (own) {
		if (ret < 0 || (stmt = db_stmt(db, commit_sql, error_r)) == NULL ||
		    db_step_done(db, stmt, "end read", error_r) < 0) {
			db_rollback(db);
			db_resolution_clear(res);
			return -1;
		}
	}
	if (ret == 0 && db->rcache != NULL)
		resolve_cache_put(db->rcache, address, delimiter, res);
	return ret;
}

void db_resolve_cache(struct db *db, bool on)
{
	if (!on)
		resolve_cache_free(&db->rcache);
	else if (db->rcache == NULL)
		db->rcache = resolve_cache_new();
}

void db_resolution_clear(struct db_resolution *res)
{
	db_alias_destinations_free(&res->destinations);
	res->ndestinations = 0;
}

const char *db_resolve_rule_name(enum db_resolve_rule rule)
{
	switch (rule) {
	case DB_RULE_EXACT:
		return "exact";
	case DB_RULE_DELIMITER:
		return "delimiter";
	case DB_RULE_CATCHALL:
		return "catch-all";
	case DB_RULE_NONE:
		break;
	}
	return "none";
}
