/*
 * alias_domain: domains that mirror a hosted domain (table "alias_domains"). Mail to
 * user@alias.example resolves as user@target.example (see resolve.h). An alias domain is never itself
 * hosted, and its target is a hosted domain (not another alias domain: one level only). Deleting the
 * target deletes the alias domain.
 *
 * Same thread rules as db.h; every change runs in one transaction. Errors name the field ("alias
 * domain 'x': ...", "target domain 'y': ..."); *error_r points into the struct db. Returns 0, -1 on
 * error, 1 for "not found" where said.
 */
#ifndef MXD_DB_ALIAS_DOMAIN_H
#define MXD_DB_ALIAS_DOMAIN_H

#include "db/db.h"
#include "mxd/common/addr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db_alias_domain {
	char alias_domain[ADDR_DOMAIN_MAX + 1];
	char target_domain[ADDR_DOMAIN_MAX + 1];
	bool active;
	int64_t created, modified;
};

/* Add alias_domain -> target_domain, active. Refuses an alias domain that is hosted or already an
 * alias domain, and a target that is not hosted. */
int db_alias_domain_add(struct db *db, const char *alias_domain, const char *target_domain,
                        const char **error_r);

/* 0 found, 1 not an alias domain, -1 error. */
int db_alias_domain_get(struct db *db, const char *alias_domain, struct db_alias_domain *ad_r,
                        const char **error_r);

/* Every alias domain, sorted by name, in one malloc'd array (free() it; NULL when there is none). */
int db_alias_domain_list(struct db *db, struct db_alias_domain **list_r, size_t *n_r, const char **error_r);

int db_alias_domain_set_active(struct db *db, const char *alias_domain, bool active, const char **error_r);
int db_alias_domain_del(struct db *db, const char *alias_domain, const char **error_r);

#endif
