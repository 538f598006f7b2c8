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

static int alias_target_from_row(sqlite3_stmt *stmt, void *target_r)
{
	db_column_copy(stmt, 0, target_r, ADDR_DOMAIN_MAX + 1);
	return 0;
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
		char target[ADDR_DOMAIN_MAX + 1];
		rc = db_row_get(db, alias_domain_sql, DB_PARAMS(DB_TEXT(domain)), alias_target_from_row,
		                target, "look up alias domain", error_r);
		if (rc == 0)
			db_input_error(db, error_r,
			               "address '%s': '%s' is an alias domain of '%s'; add the alias at '%s'",
			               address, domain, target, target);
		else if (rc > 0)
			db_input_error(db, error_r, "address '%s': domain '%s' is not a hosted domain",
			               address, domain);
		return -1;
	}
	if (adding && d.alias_limit > 0 && d.alias_count >= d.alias_limit)
		return db_input_error(db, error_r,
		                      "address '%s': alias limit of domain '%s' reached (%u aliases)",
		                      address, domain, d.alias_limit);
	return 0;
}

/* db_alias_add() and db_alias_change(): only_existing refuses a new alias; active < 0 keeps the flag of
 * an existing alias (a new one is active). */
static int alias_write(struct db *db, const char *address, const char *const *destinations, size_t n,
                       unsigned flags, bool only_existing, int active, const char **error_r)
{
	static const char insert_sql[] =
	    "INSERT INTO aliases (address, domain, destinations, active, created,"
	    " modified) VALUES (?1, ?2, ?3, 1, ?4, ?4)";
	static const char replace_sql[] =
	    "UPDATE aliases SET destinations = ?2, active = coalesce(?4, active),"
	    " modified = ?3 WHERE address = ?1";
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
	if (!exists && only_existing) {
		db_input_error(db, error_r, "address '%s': no such alias", norm);
		goto fail;
	}
	if (alias_domain_check(db, norm, domain, !exists, error_r) < 0)
		goto fail;
	if (exists)
		rc = db_exec(db, replace_sql,
		             DB_PARAMS(DB_TEXT(norm), DB_TEXT(joined), DB_INT(time_now()),
		                       active >= 0 ? DB_INT(active ? 1 : 0) : DB_NULL),
		             "replace alias", error_r);
	else
		rc = db_exec(db, insert_sql,
		             DB_PARAMS(DB_TEXT(norm), DB_TEXT(domain), DB_TEXT(joined), DB_INT(time_now())),
		             "add alias", error_r);
	if (rc < 0)
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

int db_alias_add(struct db *db, const char *address, const char *const *destinations, size_t n,
                 unsigned flags, const char **error_r)
{
	return alias_write(db, address, destinations, n, flags, false, -1, error_r);
}

int db_alias_change(struct db *db, const char *address, const char *const *destinations, size_t n, int active,
                    const char **error_r)
{
	if (destinations == NULL && active < 0)
		return 0;
	if (destinations == NULL)
		return db_alias_set_active(db, address, active > 0, error_r);
	return alias_write(db, address, destinations, n, DB_ALIAS_REPLACE, true, active, error_r);
}

static int alias_from_row(sqlite3_stmt *stmt, void *item)
{
	struct db_alias *a = item;

	memset(a, 0, sizeof(*a));
	db_column_copy(stmt, 0, a->address, sizeof(a->address));
	db_column_copy(stmt, 1, a->domain, sizeof(a->domain));
	const unsigned char *dest = sqlite3_column_text(stmt, 2);
	a->destinations =
	    db_alias_split_destinations(dest != NULL ? (const char *)dest : "", &a->ndestinations);
	a->active = sqlite3_column_int(stmt, 3) != 0;
	a->created = sqlite3_column_int64(stmt, 4);
	a->modified = sqlite3_column_int64(stmt, 5);
	db_column_copy(stmt, 6, a->fallback, sizeof(a->fallback));
	return 0;
}

void db_alias_clear(struct db_alias *alias)
{
	db_alias_destinations_free(&alias->destinations);
	alias->ndestinations = 0;
}

static void alias_clear(void *item)
{
	db_alias_clear(item);
}

static const struct db_rows alias_rows = {sizeof(struct db_alias), alias_from_row, alias_clear};

int db_alias_get(struct db *db, const char *address, struct db_alias *alias_r, const char **error_r)
{
	static const char sql[] = "SELECT address, domain, destinations, active, created, modified, fallback"
	                          " FROM aliases WHERE address = ?1";
	char norm[ADDR_MAX + 1];

	if (db_alias_normalize(db, address, norm, error_r) < 0)
		return -1;
	return db_row_get(db, sql, DB_PARAMS(DB_TEXT(norm)), alias_from_row, alias_r, "look up alias",
	                  error_r);
}

int db_alias_list(struct db *db, const char *domain, struct db_alias **aliases_r, size_t *n_r,
                  const char **error_r)
{
	static const char sql[] =
	    "SELECT address, domain, destinations, active, created, modified, fallback FROM aliases"
	    " WHERE ?1 IS NULL OR domain = ?1"
	    " ORDER BY domain, substr(address, 1, 1) <> '@', address";
	char norm[ADDR_DOMAIN_MAX + 1];
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
	return db_rows_list(db, sql, DB_PARAMS(DB_TEXT(domain != NULL ? norm : NULL)), &alias_rows, aliases_r,
	                    n_r, "list aliases", error_r);
}

void db_alias_list_free(struct db_alias **aliases, size_t n)
{
	db_list_free(aliases, n, &alias_rows);
}

/* db_change()'s answer for address: "no such alias" when no row changed. */
static int alias_changed(struct db *db, int rc, const char *address, const char **error_r)
{
	if (rc > 0)
		return db_input_error(db, error_r, "address '%s': no such alias", address);
	return rc;
}

int db_alias_set_active(struct db *db, const char *address, bool active, const char **error_r)
{
	static const char sql[] = "UPDATE aliases SET active = ?2, modified = ?3 WHERE address = ?1";
	char norm[ADDR_MAX + 1];

	if (db_alias_normalize(db, address, norm, error_r) < 0)
		return -1;
	int rc = db_change(db, sql, DB_PARAMS(DB_TEXT(norm), DB_INT(active ? 1 : 0), DB_INT(time_now())),
	                   active ? "enable alias" : "disable alias", error_r);
	return alias_changed(db, rc, norm, error_r);
}

int db_alias_set_fallback(struct db *db, const char *address, const char *fallback, const char **error_r)
{
	static const char sql[] = "UPDATE aliases SET fallback = ?2, modified = ?3 WHERE address = ?1";
	char norm[ADDR_MAX + 1], fb[ADDR_MAX + 1] = "";
	const char *why;
	struct db_alias a;

	if (db_alias_normalize(db, address, norm, error_r) < 0)
		return -1;
	if (fallback != NULL && fallback[0] != '\0' && addr_normalize(fallback, fb, sizeof(fb), &why) < 0)
		return db_input_error(db, error_r, "fallback '%s': %s", fallback, why);
	int rc = db_alias_get(db, norm, &a, error_r);
	if (rc != 0)
		return rc < 0 ? -1 : db_input_error(db, error_r, "address '%s': no such alias", norm);
	bool bad = strcmp(fb, norm) == 0;
	for (size_t i = 0; !bad && fb[0] != '\0' && i < a.ndestinations; i++)
		bad = strcmp(a.destinations[i], fb) == 0;
	db_alias_clear(&a);
	if (bad)
		return db_input_error(db, error_r,
		                      "fallback '%s': is the alias itself or one of its destinations", fb);
	rc = db_change(db, sql, DB_PARAMS(DB_TEXT(norm), DB_TEXT(fb), DB_INT(time_now())),
	               "set alias fallback", error_r);
	return alias_changed(db, rc, norm, error_r);
}

static int alias_fallback_row(sqlite3_stmt *stmt, void *ctx)
{
	db_column_copy(stmt, 0, ctx, ADDR_MAX + 1);
	return 0;
}

int db_alias_fallback(struct db *db, const char *address, char out[ADDR_MAX + 1], const char **error_r)
{
	static const char sql[] = "SELECT fallback FROM aliases WHERE address = ?1 AND active = 1";

	out[0] = '\0';
	int rc = db_row_get(db, sql, DB_PARAMS(DB_TEXT(address)), alias_fallback_row, out,
	                    "look up alias fallback", error_r);
	return rc < 0 ? -1 : 0;
}

int db_alias_del(struct db *db, const char *address, const char **error_r)
{
	static const char sql[] = "DELETE FROM aliases WHERE address = ?1";
	char norm[ADDR_MAX + 1];

	if (db_alias_normalize(db, address, norm, error_r) < 0)
		return -1;
	int rc = db_change(db, sql, DB_PARAMS(DB_TEXT(norm)), "delete alias", error_r);
	return alias_changed(db, rc, norm, error_r);
}
