/*
 * domain: see domain.h. Owns the rows of "domains"; counts of aliases and alias domains are computed
 * from their tables, never stored.
 */
#include "db/domain.h"

#include "db/db_private.h"
#include "mxd/common/util.h"

#include <stdlib.h>
#include <string.h>

#define DOMAIN_COLUMNS                                                                                       \
	"d.name, d.description, d.active, d.alias_limit, d.created, d.modified,"                             \
	" (SELECT count(*) FROM aliases a WHERE a.domain = d.name),"                                         \
	" (SELECT count(*) FROM alias_domains ad WHERE ad.target_domain = d.name), d.hourly_message_limit,"  \
	" d.dmarc_from_rewrite, d.report_address"

int db_domain_normalize(struct db *db, const char *field, const char *name, char *out, const char **error_r)
{
	const char *err;
	if (addr_domain_valid(name, &err) < 0)
		return db_input_error(db, error_r, "%s '%s': %s", field, name, err);
	str_copy(out, ADDR_DOMAIN_MAX + 1, name);
	str_lower(out);
	return 0;
}

static int description_valid(struct db *db, const char *description, const char **error_r)
{
	if (strlen(description) > DB_DESCRIPTION_MAX)
		return db_input_error(db, error_r, "description: longer than %d octets", DB_DESCRIPTION_MAX);
	for (const char *p = description; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return db_input_error(db, error_r, "description: contains a control character");
	}
	return 0;
}

static int domain_from_row(sqlite3_stmt *stmt, void *item)
{
	struct db_domain *d = item;

	memset(d, 0, sizeof(*d));
	db_column_copy(stmt, 0, d->name, sizeof(d->name));
	db_column_copy(stmt, 1, d->description, sizeof(d->description));
	d->active = sqlite3_column_int(stmt, 2) != 0;
	d->alias_limit = (uint32_t)sqlite3_column_int64(stmt, 3);
	d->created = sqlite3_column_int64(stmt, 4);
	d->modified = sqlite3_column_int64(stmt, 5);
	d->alias_count = (uint32_t)sqlite3_column_int64(stmt, 6);
	d->alias_domain_count = (uint32_t)sqlite3_column_int64(stmt, 7);
	d->hourly_message_limit = (uint32_t)sqlite3_column_int64(stmt, 8);
	d->dmarc_from_rewrite =
	    sqlite3_column_type(stmt, 9) == SQLITE_NULL ? -1 : sqlite3_column_int(stmt, 9) != 0;
	db_column_copy(stmt, 10, d->report_address, sizeof(d->report_address));
	return 0;
}

static const struct db_rows domain_rows = {sizeof(struct db_domain), domain_from_row, NULL};

static int target_from_row(sqlite3_stmt *stmt, void *target_r)
{
	db_column_copy(stmt, 0, target_r, ADDR_DOMAIN_MAX + 1);
	return 0;
}

/* Is name an alias domain? 0 no, 1 yes (target copied into target_r), -1 error. */
static int domain_is_alias_domain(struct db *db, const char *name, char *target_r, const char **error_r)
{
	static const char sql[] = "SELECT target_domain FROM alias_domains WHERE alias_domain = ?1";
	int rc = db_row_get(db, sql, DB_PARAMS(DB_TEXT(name)), target_from_row, target_r,
	                    "look up alias domain", error_r);
	return rc < 0 ? -1 : rc == 0 ? 1 : 0;
}

int db_domain_add(struct db *db, const char *name, const char *description, uint32_t alias_limit,
                  const char **error_r)
{
	static const char sql[] =
	    "INSERT INTO domains (name, description, active, alias_limit, created, modified)"
	    " VALUES (?1, ?2, 1, ?3, ?4, ?4)";
	char domain[ADDR_DOMAIN_MAX + 1], target[ADDR_DOMAIN_MAX + 1];
	struct db_domain existing;

	if (description == NULL)
		description = "";
	if (db_domain_normalize(db, "domain", name, domain, error_r) < 0 ||
	    description_valid(db, description, error_r) < 0)
		return -1;
	if (alias_limit > DB_ALIAS_LIMIT_MAX)
		return db_input_error(db, error_r, "alias limit %u: more than %d", alias_limit,
		                      DB_ALIAS_LIMIT_MAX);
	if (db_begin(db, error_r) < 0)
		return -1;
	int rc = db_domain_get(db, domain, &existing, error_r);
	if (rc == 0)
		db_input_error(db, error_r, "domain '%s': already exists", domain);
	if (rc <= 0)
		goto fail;
	rc = domain_is_alias_domain(db, domain, target, error_r);
	if (rc > 0)
		db_input_error(db, error_r, "domain '%s': already an alias domain of '%s'", domain, target);
	if (rc != 0)
		goto fail;
	if (db_exec(db, sql,
	            DB_PARAMS(DB_TEXT(domain), DB_TEXT(description), DB_INT(alias_limit), DB_INT(time_now())),
	            "add domain", error_r) < 0)
		goto fail;
	return db_commit(db, error_r);
fail:
	db_rollback(db);
	return -1;
}

/* db_change()'s answer for domain: "not hosted" when no row changed. */
static int domain_changed(struct db *db, int rc, const char *domain, const char **error_r)
{
	if (rc > 0)
		return db_input_error(db, error_r, "domain '%s': not a hosted domain", domain);
	return rc;
}

int db_domain_update(struct db *db, const char *name, const char *description, int64_t alias_limit,
                     const char **error_r)
{
	return db_domain_change(db, name, description, alias_limit, -1, error_r);
}

int db_domain_change(struct db *db, const char *name, const char *description, int64_t alias_limit,
                     int active, const char **error_r)
{
	static const char sql[] = "UPDATE domains SET description = coalesce(?2, description),"
	                          " alias_limit = coalesce(?3, alias_limit), active = coalesce(?5, active),"
	                          " modified = ?4 WHERE name = ?1";
	char domain[ADDR_DOMAIN_MAX + 1];

	if (db_domain_normalize(db, "domain", name, domain, error_r) < 0)
		return -1;
	if (description != NULL && description_valid(db, description, error_r) < 0)
		return -1;
	if (alias_limit > DB_ALIAS_LIMIT_MAX)
		return db_input_error(db, error_r, "alias limit %lld: more than %d", (long long)alias_limit,
		                      DB_ALIAS_LIMIT_MAX);
	int rc = db_change(db, sql,
	                   DB_PARAMS(DB_TEXT(domain), DB_TEXT(description),
	                             alias_limit >= 0 ? DB_INT(alias_limit) : DB_NULL, DB_INT(time_now()),
	                             active >= 0 ? DB_INT(active ? 1 : 0) : DB_NULL),
	                   "update domain", error_r);
	return domain_changed(db, rc, domain, error_r);
}

int db_domain_set_hourly_limit(struct db *db, const char *name, int64_t limit, const char **error_r)
{
	static const char sql[] =
	    "UPDATE domains SET hourly_message_limit = ?2, modified = ?3 WHERE name = ?1";
	char domain[ADDR_DOMAIN_MAX + 1];

	if (db_domain_normalize(db, "domain", name, domain, error_r) < 0)
		return -1;
	if (limit < 0 || limit > DB_HOURLY_LIMIT_MAX)
		return db_input_error(db, error_r, "hourly message limit %lld: expected 0 (no limit) to %d",
		                      (long long)limit, DB_HOURLY_LIMIT_MAX);
	int rc = db_change(db, sql, DB_PARAMS(DB_TEXT(domain), DB_INT(limit), DB_INT(time_now())),
	                   "update domain", error_r);
	return domain_changed(db, rc, domain, error_r);
}

static int limit_from_row(sqlite3_stmt *stmt, void *limit_r)
{
	*(uint32_t *)limit_r = (uint32_t)sqlite3_column_int64(stmt, 0);
	return 0;
}

int db_domain_hourly_limit(struct db *db, const char *domain, uint32_t *limit_r, const char **error_r)
{
	static const char sql[] = "SELECT hourly_message_limit FROM domains WHERE name = ?1";
	*limit_r = 0;
	return db_row_get(db, sql, DB_PARAMS(DB_TEXT(domain)), limit_from_row, limit_r, "look up domain",
	                  error_r);
}

int db_domain_get(struct db *db, const char *name, struct db_domain *domain_r, const char **error_r)
{
	static const char sql[] = "SELECT " DOMAIN_COLUMNS " FROM domains d WHERE d.name = ?1";
	char domain[ADDR_DOMAIN_MAX + 1];

	if (db_domain_normalize(db, "domain", name, domain, error_r) < 0)
		return -1;
	return db_row_get(db, sql, DB_PARAMS(DB_TEXT(domain)), domain_from_row, domain_r, "look up domain",
	                  error_r);
}

int db_domain_list(struct db *db, struct db_domain **domains_r, size_t *n_r, const char **error_r)
{
	static const char sql[] = "SELECT " DOMAIN_COLUMNS " FROM domains d ORDER BY d.name";
	return db_rows_list(db, sql, DB_NO_PARAMS, &domain_rows, domains_r, n_r, "list domains", error_r);
}

int db_domain_set_active(struct db *db, const char *name, bool active, const char **error_r)
{
	static const char sql[] = "UPDATE domains SET active = ?2, modified = ?3 WHERE name = ?1";
	char domain[ADDR_DOMAIN_MAX + 1];

	if (db_domain_normalize(db, "domain", name, domain, error_r) < 0)
		return -1;
	int rc = db_change(db, sql, DB_PARAMS(DB_TEXT(domain), DB_INT(active ? 1 : 0), DB_INT(time_now())),
	                   active ? "enable domain" : "disable domain", error_r);
	return domain_changed(db, rc, domain, error_r);
}

int db_domain_set_dmarc_from_rewrite(struct db *db, const char *name, int value, const char **error_r)
{
	static const char sql[] = "UPDATE domains SET dmarc_from_rewrite = ?2, modified = ?3 WHERE name = ?1";
	char domain[ADDR_DOMAIN_MAX + 1];

	if (db_domain_normalize(db, "domain", name, domain, error_r) < 0)
		return -1;
	if (value < -1 || value > 1)
		return db_input_error(db, error_r, "dmarc_from_rewrite: %d is not -1, 0 or 1", value);
	int rc = db_change(
	    db, sql, DB_PARAMS(DB_TEXT(domain), value >= 0 ? DB_INT(value) : DB_NULL, DB_INT(time_now())),
	    "set dmarc_from_rewrite", error_r);
	return domain_changed(db, rc, domain, error_r);
}

int db_domain_dmarc_from_rewrite(struct db *db, const char *name, bool fallback, bool *value_r,
                                 const char **error_r)
{
	struct db_domain d;
	int rc = db_domain_get(db, name, &d, error_r);
	if (rc < 0)
		return -1;
	*value_r = rc == 0 && d.dmarc_from_rewrite >= 0 ? d.dmarc_from_rewrite == 1 : fallback;
	return 0;
}

int db_domain_del(struct db *db, const char *name, const char **error_r)
{
	static const char sql[] = "DELETE FROM domains WHERE name = ?1";
	char domain[ADDR_DOMAIN_MAX + 1];

	if (db_domain_normalize(db, "domain", name, domain, error_r) < 0)
		return -1;
	/* One statement: the cascade to aliases and alias domains happens inside its implicit transaction. */
	int rc = db_change(db, sql, DB_PARAMS(DB_TEXT(domain)), "delete domain", error_r);
	return domain_changed(db, rc, domain, error_r);
}

int db_domain_set_report_address(struct db *db, const char *name, const char *address, const char **error_r)
{
	static const char sql[] = "UPDATE domains SET report_address = ?2, modified = ?3 WHERE name = ?1";
	char norm[ADDR_DOMAIN_MAX + 1], addr[ADDR_MAX + 1] = "";
	const char *why;

	if (db_domain_normalize(db, "domain", name, norm, error_r) < 0)
		return -1;
	if (address != NULL && address[0] != '\0' && addr_normalize(address, addr, sizeof(addr), &why) < 0)
		return db_input_error(db, error_r, "report address '%s': %s", address, why);
	int rc = db_change(db, sql, DB_PARAMS(DB_TEXT(norm), DB_TEXT(addr), DB_INT(time_now())),
	                   "set report address", error_r);
	if (rc > 0)
		return db_input_error(db, error_r, "domain '%s': not a hosted domain", norm);
	return rc;
}
