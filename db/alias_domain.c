/*
 * alias_domain: see alias_domain.h. Owns the rows of "alias_domains".
 */
#include "db/alias_domain.h"

#include "db/db_private.h"
#include "db/domain.h"
#include "mxd/common/util.h"

#include <stdlib.h>
#include <string.h>

#define ALIAS_DOMAIN_COLUMNS "alias_domain, target_domain, active, created, modified"

static void alias_domain_from_row(sqlite3_stmt *stmt, struct db_alias_domain *ad)
{
	memset(ad, 0, sizeof(*ad));
	db_column_copy(stmt, 0, ad->alias_domain, sizeof(ad->alias_domain));
	db_column_copy(stmt, 1, ad->target_domain, sizeof(ad->target_domain));
	ad->active = sqlite3_column_int(stmt, 2) != 0;
	ad->created = sqlite3_column_int64(stmt, 3);
	ad->modified = sqlite3_column_int64(stmt, 4);
}

int db_alias_domain_add(struct db *db, const char *alias_domain, const char *target_domain,
                        const char **error_r)
{
	static const char sql[] = "INSERT INTO alias_domains (alias_domain, target_domain, active, created,"
	                          " modified) VALUES (?1, ?2, 1, ?3, ?3)";
	char alias[ADDR_DOMAIN_MAX + 1], target[ADDR_DOMAIN_MAX + 1];
	struct db_domain d;
	struct db_alias_domain existing;

	if (db_domain_normalize(db, "alias domain", alias_domain, alias, error_r) < 0 ||
	    db_domain_normalize(db, "target domain", target_domain, target, error_r) < 0)
		return -1;
	if (strcmp(alias, target) == 0)
		return db_input_error(db, error_r, "alias domain '%s': same as the target domain", alias);
	if (db_begin(db, error_r) < 0)
		return -1;
	int rc = db_domain_get(db, alias, &d, error_r);
	if (rc == 0)
		db_input_error(db, error_r, "alias domain '%s': is a hosted domain", alias);
	if (rc <= 0)
		goto fail;
	rc = db_alias_domain_get(db, alias, &existing, error_r);
	if (rc == 0)
		db_input_error(db, error_r, "alias domain '%s': already exists (target '%s')", alias,
		               existing.target_domain);
	if (rc <= 0)
		goto fail;
	rc = db_domain_get(db, target, &d, error_r);
	if (rc > 0) {
		rc = db_alias_domain_get(db, target, &existing, error_r);
		if (rc == 0)
			db_input_error(db, error_r,
			               "target domain '%s': is an alias domain of '%s', not hosted", target,
			               existing.target_domain);
		else if (rc > 0)
			db_input_error(db, error_r, "target domain '%s': not a hosted domain", target);
		goto fail;
	}
	if (rc < 0)
		goto fail;
	sqlite3_stmt *stmt = db_stmt(db, sql, error_r);
	if (stmt == NULL)
		goto fail;
	db_bind_text(stmt, 1, alias);
	db_bind_text(stmt, 2, target);
	sqlite3_bind_int64(stmt, 3, time_now());
	if (db_step_done(db, stmt, "add alias domain", error_r) < 0)
		goto fail;
	return db_commit(db, error_r);
fail:
	db_rollback(db);
	return -1;
}

int db_alias_domain_get(struct db *db, const char *alias_domain, struct db_alias_domain *ad_r,
                        const char **error_r)
{
	static const char sql[] =
	    "SELECT " ALIAS_DOMAIN_COLUMNS " FROM alias_domains WHERE alias_domain = ?1";
	char alias[ADDR_DOMAIN_MAX + 1];

	if (db_domain_normalize(db, "alias domain", alias_domain, alias, error_r) < 0)
		return -1;
	sqlite3_stmt *stmt = db_stmt(db, sql, error_r);
	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, alias);
	int rc = sqlite3_step(stmt), ret = 1;
	if (rc == SQLITE_ROW) {
		alias_domain_from_row(stmt, ad_r);
		ret = 0;
	} else if (rc != SQLITE_DONE) {
		ret = db_fail(db, "look up alias domain", error_r);
	}
	sqlite3_reset(stmt);
	return ret;
}

int db_alias_domain_list(struct db *db, struct db_alias_domain **list_r, size_t *n_r, const char **error_r)
{
	static const char sql[] = "SELECT " ALIAS_DOMAIN_COLUMNS " FROM alias_domains ORDER BY alias_domain";
	struct db_alias_domain *list = NULL;
	size_t n = 0, cap = 0;
	int rc;

	*list_r = NULL;
	*n_r = 0;
	sqlite3_stmt *stmt = db_stmt(db, sql, error_r);
	if (stmt == NULL)
		return -1;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			list = xrealloc(list, cap * sizeof(*list));
		}
		alias_domain_from_row(stmt, &list[n++]);
	}
	if (rc != SQLITE_DONE) {
		db_fail(db, "list alias domains", error_r);
		sqlite3_reset(stmt);
		free(list);
		return -1;
	}
	sqlite3_reset(stmt);
	*list_r = list;
	*n_r = n;
	return 0;
}

static int alias_domain_change(struct db *db, sqlite3_stmt *stmt, const char *alias, const char *what,
                               const char **error_r)
{
	if (db_step_done(db, stmt, what, error_r) < 0)
		return -1;
	if (sqlite3_changes(db->handle) == 0)
		return db_input_error(db, error_r, "alias domain '%s': no such alias domain", alias);
	return 0;
}

int db_alias_domain_set_active(struct db *db, const char *alias_domain, bool active, const char **error_r)
{
	static const char sql[] =
	    "UPDATE alias_domains SET active = ?2, modified = ?3 WHERE alias_domain = ?1";
	char alias[ADDR_DOMAIN_MAX + 1];

	if (db_domain_normalize(db, "alias domain", alias_domain, alias, error_r) < 0)
		return -1;
	sqlite3_stmt *stmt = db_stmt(db, sql, error_r);
	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, alias);
	sqlite3_bind_int(stmt, 2, active ? 1 : 0);
	sqlite3_bind_int64(stmt, 3, time_now());
	return alias_domain_change(db, stmt, alias, active ? "enable alias domain" : "disable alias domain",
	                           error_r);
}

int db_alias_domain_del(struct db *db, const char *alias_domain, const char **error_r)
{
	static const char sql[] = "DELETE FROM alias_domains WHERE alias_domain = ?1";
	char alias[ADDR_DOMAIN_MAX + 1];

	if (db_domain_normalize(db, "alias domain", alias_domain, alias, error_r) < 0)
		return -1;
	sqlite3_stmt *stmt = db_stmt(db, sql, error_r);
	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, alias);
	return alias_domain_change(db, stmt, alias, "delete alias domain", error_r);
}
