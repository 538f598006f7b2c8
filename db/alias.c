/*
 * alias: see alias.h. Owns the rows of "aliases" and the format of their destinations column.
 */
#include "db/alias.h"

#include "db/db_private.h"
#include "db/domain.h"
#include "mxd/common/util.h"

#include <stdlib.h>
#include <string.h>

int db_alias_normalize(struct db *db, const char *address, char *out, const char **error_r)
{
	const char *err;
	if (address[0] == '@') {
		if (strlen(address) > ADDR_MAX)
			return db_input_error(db, error_r, "address '%.32s...': longer than %d octets",
			                      address, ADDR_MAX);
		if (addr_domain_valid(address + 1, &err) < 0)
			return db_input_error(db, error_r, "address '%s': %s", address, err);
		str_copy(out, ADDR_MAX + 1, address);
	} else if (addr_normalize(address, out, ADDR_MAX + 1, &err) < 0) {
		return db_input_error(db, error_r, "address '%s': %s", address, err);
	}
	str_lower(out);
	return 0;
}

char **db_alias_split_destinations(const char *stored, size_t *n_r)
{
	size_t n = 1;
	for (const char *p = stored; *p != '\0'; p++)
		n += *p == ',';
	char **list = xcalloc(n + 1, sizeof(char *));
	size_t i = 0;
	for (const char *p = stored; *p != '\0';) {
		size_t len = strcspn(p, ",");
		if (len > 0)
			list[i++] = xstrndup(p, len);
		p += len;
		if (*p == ',')
			p++;
	}
	list[i] = NULL;
	if (n_r != NULL)
		*n_r = i;
	return list;
}

void db_alias_destinations_free(char ***destinations)
{
	char **list = *destinations;
	if (list == NULL)
		return;
	for (size_t i = 0; list[i] != NULL; i++)
		free(list[i]);
	free(list);
	*destinations = NULL;
}

/* Validate destinations and join them into "a,b,c" (malloc'd); NULL with *error_r. */
static char *destinations_join(struct db *db, const char *address, const char *const *destinations, size_t n,
                               const char **error_r)
{
	char norm[ADDR_MAX + 1];
	const char *err;

	if (n == 0) {
		db_input_error(db, error_r, "destination: at least one is needed");
		return NULL;
	}
	if (n > DB_ALIAS_DESTINATIONS_MAX) {
		db_input_error(db, error_r, "destinations: more than %d", DB_ALIAS_DESTINATIONS_MAX);
		return NULL;
	}
	size_t cap = n * (ADDR_MAX + 1) + 1, len = 0;
	char *joined = xmalloc(cap);
	joined[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const char *dest = destinations[i];
		if (strchr(dest, ',') != NULL) {
			db_input_error(db, error_r,
			               "destination '%s': contains ',' (give each destination apart)", dest);
			goto fail;
		}
		if (addr_normalize(dest, norm, sizeof(norm), &err) < 0) {
			db_input_error(db, error_r, "destination '%s': %s", dest, err);
			goto fail;
		}
		if (strcmp(norm, address) == 0) {
			db_input_error(db, error_r, "destination '%s': same as the alias address (a loop)",
			               dest);
			goto fail;
		}
		/* Drop a duplicate: look for ",norm," in ",joined,". */
		bool dup = false;
		for (const char *p = joined; *p != '\0' && !dup;) {
			size_t l = strcspn(p, ",");
			dup = l == strlen(norm) && memcmp(p, norm, l) == 0;
			p += l;
			if (*p == ',')
				p++;
		}
		if (dup)
			continue;
		if (len > 0)
			joined[len++] = ',';
		memcpy(joined + len, norm, strlen(norm) + 1);
		len += strlen(norm);
	}
	return joined;
fail:
	free(joined);
	return NULL;
}

/* Check that the alias's domain is hosted and that one more alias fits under its limit. */
static int alias_domain_check(struct db *db, const char *address, const char *domain, bool adding,
                              const char **error_r)
{
	static const char alias_domain_sql[] =
	    "SELECT target_domain FROM alias_domains WHERE alias_domain = ?1";
	struct db_domain d;
	int rc = db_domain_get(db, domain, &d, error_r);
	if (rc < 0)
		return -1;
	if (rc > 0) {
		sqlite3_stmt *stmt = db_stmt(db, alias_domain_sql, error_r);
		if (stmt == NULL)
			return -1;
		db_bind_text(stmt, 1, domain);
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW)
			db_input_error(db, error_r,
			               "address '%s': '%s' is an alias domain of '%s'; add the alias at '%s'",
			               address, domain, (const char *)sqlite3_column_text(stmt, 0),
			               (const char *)sqlite3_column_text(stmt, 0));
		else if (rc == SQLITE_DONE)
			db_input_error(db, error_r, "address '%s': domain '%s' is not a hosted domain",
			               address, domain);
		else
			db_fail(db, "look up alias domain", error_r);
		sqlite3_reset(stmt);
		return -1;
	}
	if (adding && d.alias_limit > 0 && d.alias_count >= d.alias_limit)
		return db_input_error(db, error_r,
		                      "address '%s': alias limit of domain '%s' reached (%u aliases)",
		                      address, domain, d.alias_limit);
	return 0;
}

int db_alias_add(struct db *db, const char *address, const char *const *destinations, size_t n,
                 unsigned flags, const char **error_r)
{
	static const char insert_sql[] =
	    "INSERT INTO aliases (address, domain, destinations, active, created,"
	    " modified) VALUES (?1, ?2, ?3, 1, ?4, ?4)";
	static const char replace_sql[] =
	    "UPDATE aliases SET destinations = ?2, modified = ?3 WHERE address = ?1";
	char norm[ADDR_MAX + 1];
	struct db_alias existing;

	if (db_alias_normalize(db, address, norm, error_r) < 0)
		return -1;
	char *joined = destinations_join(db, norm, destinations, n, error_r);
	if (joined == NULL)
		return -1;
	const char *domain = addr_domain(norm);
	if (db_begin(db, error_r) < 0) {
		free(joined);
		return -1;
	}
	int rc = db_alias_get(db, norm, &existing, error_r);
	if (rc < 0)
		goto fail;
	bool exists = rc == 0;
	if (exists)
		db_alias_clear(&existing);
	if (exists && (flags & DB_ALIAS_REPLACE) == 0) {
		db_input_error(db, error_r, "address '%s': already exists", norm);
		goto fail;
	}
	if (alias_domain_check(db, norm, domain, !exists, error_r) < 0)
		goto fail;
	sqlite3_stmt *stmt = db_stmt(db, exists ? replace_sql : insert_sql, error_r);
	if (stmt == NULL)
		goto fail;
	db_bind_text(stmt, 1, norm);
	if (exists) {
		db_bind_text(stmt, 2, joined);
		sqlite3_bind_int64(stmt, 3, time_now());
	} else {
		db_bind_text(stmt, 2, domain);
		db_bind_text(stmt, 3, joined);
		sqlite3_bind_int64(stmt, 4, time_now());
	}
	if (db_step_done(db, stmt, exists ? "replace alias" : "add alias", error_r) < 0)
		goto fail;
	const char *why;
	if (db->alias_check != NULL &&
	    db->alias_check(db, norm, destinations, n, db->alias_check_ctx, &why) < 0) {
		db_input_error(db, error_r, "%s", why);
		goto fail;
	}
	free(joined);
	return db_commit(db, error_r);
fail:
	db_rollback(db);
	free(joined);
	return -1;
}

static void alias_from_row(sqlite3_stmt *stmt, struct db_alias *a)
{
	memset(a, 0, sizeof(*a));
	db_column_copy(stmt, 0, a->address, sizeof(a->address));
	db_column_copy(stmt, 1, a->domain, sizeof(a->domain));
	const unsigned char *dest = sqlite3_column_text(stmt, 2);
	a->destinations =
	    db_alias_split_destinations(dest != NULL ? (const char *)dest : "", &a->ndestinations);
	a->active = sqlite3_column_int(stmt, 3) != 0;
	a->created = sqlite3_column_int64(stmt, 4);
	a->modified = sqlite3_column_int64(stmt, 5);
}

void db_alias_clear(struct db_alias *alias)
{
	db_alias_destinations_free(&alias->destinations);
	alias->ndestinations = 0;
}

int db_alias_get(struct db *db, const char *address, struct db_alias *alias_r, const char **error_r)
{
	static const char sql[] = "SELECT address, domain, destinations, active, created, modified"
	                          " FROM aliases WHERE address = ?1";
	char norm[ADDR_MAX + 1];

	if (db_alias_normalize(db, address, norm, error_r) < 0)
		return -1;
	sqlite3_stmt *stmt = db_stmt(db, sql, error_r);
	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, norm);
	int rc = sqlite3_step(stmt), ret = 1;
	if (rc == SQLITE_ROW) {
		alias_from_row(stmt, alias_r);
		ret = 0;
	} else if (rc != SQLITE_DONE) {
		ret = db_fail(db, "look up alias", error_r);
	}
	sqlite3_reset(stmt);
	return ret;
}

int db_alias_list(struct db *db, const char *domain, struct db_alias **aliases_r, size_t *n_r,
                  const char **error_r)
{
	static const char sql[] =
	    "SELECT address, domain, destinations, active, created, modified FROM aliases"
	    " WHERE ?1 IS NULL OR domain = ?1"
	    " ORDER BY domain, substr(address, 1, 1) <> '@', address";
	char norm[ADDR_DOMAIN_MAX + 1];
	struct db_alias *list = NULL;
	size_t n = 0, cap = 0;
	struct db_domain d;
	int rc;

	*aliases_r = NULL;
	*n_r = 0;
	if (domain != NULL) {
		if (db_domain_normalize(db, "domain", domain, norm, error_r) < 0)
			return -1;
		rc = db_domain_get(db, norm, &d, error_r);
		if (rc > 0)
			return db_input_error(db, error_r, "domain '%s': not a hosted domain", norm);
		if (rc < 0)
			return -1;
	}
	sqlite3_stmt *stmt = db_stmt(db, sql, error_r);
	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, domain != NULL ? norm : NULL);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			list = xrealloc(list, cap * sizeof(*list));
		}
		alias_from_row(stmt, &list[n++]);
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE) {
		db_alias_list_free(&list, n);
		return db_fail(db, "list aliases", error_r);
	}
	*aliases_r = list;
	*n_r = n;
	return 0;
}

void db_alias_list_free(struct db_alias **aliases, size_t n)
{
	if (*aliases == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		db_alias_clear(&(*aliases)[i]);
	free(*aliases);
	*aliases = NULL;
}

static int alias_change(struct db *db, sqlite3_stmt *stmt, const char *address, const char *what,
                        const char **error_r)
{
	if (db_step_done(db, stmt, what, error_r) < 0)
		return -1;
	if (sqlite3_changes(db->handle) == 0)
		return db_input_error(db, error_r, "address '%s': no such alias", address);
	return 0;
}

int db_alias_set_active(struct db *db, const char *address, bool active, const char **error_r)
{
	static const char sql[] = "UPDATE aliases SET active = ?2, modified = ?3 WHERE address = ?1";
	char norm[ADDR_MAX + 1];

	if (db_alias_normalize(db, address, norm, error_r) < 0)
		return -1;
	sqlite3_stmt *stmt = db_stmt(db, sql, error_r);
	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, norm);
	sqlite3_bind_int(stmt, 2, active ? 1 : 0);
	sqlite3_bind_int64(stmt, 3, time_now());
	return alias_change(db, stmt, norm, active ? "enable alias" : "disable alias", error_r);
}

int db_alias_del(struct db *db, const char *address, const char **error_r)
{
	static const char sql[] = "DELETE FROM aliases WHERE address = ?1";
	char norm[ADDR_MAX + 1];

	if (db_alias_normalize(db, address, norm, error_r) < 0)
		return -1;
	sqlite3_stmt *stmt = db_stmt(db, sql, error_r);
	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, norm);
	return alias_change(db, stmt, norm, "delete alias", error_r);
}
