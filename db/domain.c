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
	" (SELECT count(*) FROM alias_domains ad WHERE ad.target_domain = d.name)"

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

static void domain_from_row(sqlite3_stmt *stmt, struct db_domain *d)
{
	memset(d, 0, sizeof(*d));
	db_column_copy(stmt, 0, d->name, sizeof(d->name));
	db_column_copy(stmt, 1, d->description, sizeof(d->description));
	d->active = sqlite3_column_int(stmt, 2) != 0;
	d->alias_limit = (uint32_t)sqlite3_column_int64(stmt, 3);
	d->created = sqlite3_column_int64(stmt, 4);
	d->modified = sqlite3_column_int64(stmt, 5);
	d->alias_count = (uint32_t)sqlite3_column_int64(stmt, 6);
	d->alias_domain_count = (uint32_t)sqlite3_column_int64(stmt, 7);
}

/* Is name an alias domain? 0 no, 1 yes (target copied into target_r), -1 error. */
static int domain_is_alias_domain(struct db *db, const char *name, char *target_r, const char **error_r)
{
	static const char sql[] = "SELECT target_domain FROM alias_domains WHERE alias_domain = ?1";
	sqlite3_stmt *stmt = db_stmt(db, sql, error_r);
	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, name);
	int rc = sqlite3_step(stmt), ret = 0;
	if (rc == SQLITE_ROW) {
		db_column_copy(stmt, 0, target_r, ADDR_DOMAIN_MAX + 1);
		ret = 1;
	} else if (rc != SQLITE_DONE) {
		ret = db_fail(db, "look up alias domain", error_r);
	}
	sqlite3_reset(stmt);
	return ret;
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
	sqlite3_stmt *stmt = db_stmt(db, sql, error_r);
	if (stmt == NULL)
		goto fail;
	db_bind_text(stmt, 1, domain);
	db_bind_text(stmt, 2, description);
	sqlite3_bind_int64(stmt, 3, alias_limit);
	sqlite3_bind_int64(stmt, 4, time_now());
	if (db_step_done(db, stmt, "add domain", error_r) < 0)
		goto fail;
	return db_commit(db, error_r);
fail:
	db_rollback(db);
	return -1;
}

/* Run a one-row UPDATE/DELETE on domain name inside a transaction; "not hosted" when no row changed. */
static int domain_change(struct db *db, sqlite3_stmt *stmt, const char *domain, const char *what,
                         const char **error_r)
{
	if (db_step_done(db, stmt, what, error_r) < 0)
		return -1;
	if (sqlite3_changes(db->handle) == 0)
		return db_input_error(db, error_r, "domain '%s': not a hosted domain", domain);
	return 0;
}

int db_domain_update(struct db *db, const char *name, const char *description, int64_t alias_limit,
                     const char **error_r)
{
	static const char sql[] = "UPDATE domains SET description = coalesce(?2, description),"
	                          " alias_limit = coalesce(?3, alias_limit), modified = ?4 WHERE name = ?1";
	char domain[ADDR_DOMAIN_MAX + 1];

	if (db_domain_normalize(db, "domain", name, domain, error_r) < 0)
		return -1;
	if (description != NULL && description_valid(db, description, error_r) < 0)
		return -1;
	if (alias_limit > DB_ALIAS_LIMIT_MAX)
		return db_input_error(db, error_r, "alias limit %lld: more than %d", (long long)alias_limit,
		                      DB_ALIAS_LIMIT_MAX);
	sqlite3_stmt *stmt = db_stmt(db, sql, error_r);
	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, domain);
	db_bind_text(stmt, 2, description);
	if (alias_limit >= 0)
		sqlite3_bind_int64(stmt, 3, alias_limit);
	sqlite3_bind_int64(stmt, 4, time_now());
	return domain_change(db, stmt, domain, "update domain", error_r);
}

int db_domain_get(struct db *db, const char *name, struct db_domain *domain_r, const char **error_r)
{
	static const char sql[] = "SELECT " DOMAIN_COLUMNS " FROM domains d WHERE d.name = ?1";
	char domain[ADDR_DOMAIN_MAX + 1];

	if (db_domain_normalize(db, "domain", name, domain, error_r) < 0)
		return -1;
	sqlite3_stmt *stmt = db_stmt(db, sql, error_r);
	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, domain);
	int rc = sqlite3_step(stmt), ret = 1;
	if (rc == SQLITE_ROW) {
		domain_from_row(stmt, domain_r);
		ret = 0;
	} else if (rc != SQLITE_DONE) {
		ret = db_fail(db, "look up domain", error_r);
	}
	sqlite3_reset(stmt);
	return ret;
}

int db_domain_list(struct db *db, struct db_domain **domains_r, size_t *n_r, const char **error_r)
{
	static const char sql[] = "SELECT " DOMAIN_COLUMNS " FROM domains d ORDER BY d.name";
	struct db_domain *list = NULL;
	size_t n = 0, cap = 0;
	int rc;

	*domains_r = NULL;
	*n_r = 0;
	sqlite3_stmt *stmt = db_stmt(db, sql, error_r);
	if (stmt == NULL)
		return -1;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			list = xrealloc(list, cap * sizeof(*list));
		}
		domain_from_row(stmt, &list[n++]);
	}
	if (rc != SQLITE_DONE) {
		db_fail(db, "list domains", error_r);
		sqlite3_reset(stmt);
		free(list);
		return -1;
	}
	sqlite3_reset(stmt);
	*domains_r = list;
	*n_r = n;
	return 0;
}

int db_domain_set_active(struct db *db, const char *name, bool active, const char **error_r)
{
	static const char sql[] = "UPDATE domains SET active = ?2, modified = ?3 WHERE name = ?1";
	char domain[ADDR_DOMAIN_MAX + 1];

	if (db_domain_normalize(db, "domain", name, domain, error_r) < 0)
		return -1;
	sqlite3_stmt *stmt = db_stmt(db, sql, error_r);
	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, domain);
	sqlite3_bind_int(stmt, 2, active ? 1 : 0);
	sqlite3_bind_int64(stmt, 3, time_now());
	return domain_change(db, stmt, domain, active ? "enable domain" : "disable domain", error_r);
}

int db_domain_del(struct db *db, const char *name, const char **error_r)
{
	static const char sql[] = "DELETE FROM domains WHERE name = ?1";
	char domain[ADDR_DOMAIN_MAX + 1];

	if (db_domain_normalize(db, "domain", name, domain, error_r) < 0)
		return -1;
	/* One statement: the cascade to aliases and alias domains happens inside its implicit transaction. */
	sqlite3_stmt *stmt = db_stmt(db, sql, error_r);
	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, domain);
	return domain_change(db, stmt, domain, "delete domain", error_r);
}
