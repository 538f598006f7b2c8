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

static int alias_domain_from_row(sqlite3_stmt *stmt, void *item)
{
	struct db_alias_domain *ad = item;

	memset(ad, 0, sizeof(*ad));
	db_column_copy(stmt, 0, ad->alias_domain, sizeof(ad->alias_domain));
	db_column_copy(stmt, 1, ad->target_domain, sizeof(ad->target_domain));
	ad->active = sqlite3_column_int(stmt, 2) != 0;
	ad->created = sqlite3_column_int64(stmt, 3);
	ad->modified = sqlite3_column_int64(stmt, 4);
	return 0;
}

static const struct db_rows alias_domain_rows = {sizeof(struct db_alias_domain), alias_domain_from_row, NULL};

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
	if (db_exec(db, sql, DB_PARAMS(DB_TEXT(alias), DB_TEXT(target), DB_INT(time_now())),
	            "add alias domain", error_r) < 0)
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
	return db_row_get(db, sql, DB_PARAMS(DB_TEXT(alias)), alias_domain_from_row, ad_r,
	                  "look up alias domain", error_r);
}

int db_alias_domain_list(struct db *db, struct db_alias_domain **list_r, size_t *n_r, const char **error_r)
{
	static const char sql[] = "SELECT " ALIAS_DOMAIN_COLUMNS " FROM alias_domains ORDER BY alias_domain";
	return db_rows_list(db, sql, DB_NO_PARAMS, &alias_domain_rows, list_r, n_r, "list alias domains",
	                    error_r);
}

/* db_change()'s answer for alias: "no such alias domain" when no row changed. */
static int alias_domain_changed(struct db *db, int rc, const char *alias, const char **error_r)
{
	if (rc > 0)
		return db_input_error(db, error_r, "alias domain '%s': no such alias domain", alias);
	return rc;
}

int db_alias_domain_set_active(struct db *db, const char *alias_domain, bool active, const char **error_r)
{
	static const char sql[] =
	    "UPDATE alias_domains SET active = ?2, modified = ?3 WHERE alias_domain = ?1";
	char alias[ADDR_DOMAIN_MAX + 1];

	if (db_domain_normalize(db, "alias domain", alias_domain, alias, error_r) < 0)
		return -1;
	int rc = db_change(db, sql, DB_PARAMS(DB_TEXT(alias), DB_INT(active ? 1 : 0), DB_INT(time_now())),
	                   active ? "enable alias domain" : "disable alias domain", error_r);
	return alias_domain_changed(db, rc, alias, error_r);
}

int db_alias_domain_del(struct db *db, const char *alias_domain, const char **error_r)
{
	static const char sql[] = "DELETE FROM alias_domains WHERE alias_domain = ?1";
	char alias[ADDR_DOMAIN_MAX + 1];

	if (db_domain_normalize(db, "alias domain", alias_domain, alias, error_r) < 0)
		return -1;
	int rc = db_change(db, sql, DB_PARAMS(DB_TEXT(alias)), "delete alias domain", error_r);
	return alias_domain_changed(db, rc, alias, error_r);
}
