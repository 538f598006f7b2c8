/*
 * alias: the aliases of hosted domains (table "aliases"). An alias maps an address to one or more
 * destinations (external mailboxes). The address "@domain" is the domain's catch-all. An alias belongs
 * to a hosted domain (not to an alias domain: those map whole domains) and goes when its domain goes.
 *
 * Addresses and destinations are validated with addr_normalize() and stored lower-cased; destinations
 * are stored comma-separated in list order, duplicates dropped. Same thread rules as db.h; every change
 * runs in one transaction. Errors name the field: "destination 'foo@': empty domain"; *error_r points
 * into the struct db. Returns 0, -1 on error, 1 for "not found" where said.
 */
#ifndef MXD_DB_ALIAS_H
#define MXD_DB_ALIAS_H

#include "db/db.h"
#include "mxd/common/addr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DB_ALIAS_DESTINATIONS_MAX 100 /* destinations of one alias */

struct db_alias {
	char address[ADDR_MAX + 1]; /* "info@example.com", or "@example.com" for the catch-all */
	char domain[ADDR_DOMAIN_MAX + 1];
	char **destinations; /* NULL-terminated, malloc'd: db_alias_clear() frees */
	size_t ndestinations;
	bool active;
	char
	    fallback[ADDR_MAX + 1]; /* where a failed forward goes instead ("" none): db_alias_set_fallback */
	int64_t created, modified;
};

enum db_alias_add_flags {
	DB_ALIAS_REPLACE = 1 << 0, /* an existing alias gets the new destinations instead of an error */
};

/* Validate an alias address ("local@domain" or "@domain") and write it lower-cased into out
 * (ADDR_MAX + 1 octets). 0 or -1 with *error_r ("address '...': ..."). */
int db_alias_normalize(struct db *db, const char *address, char *out, const char **error_r);

/* Add the alias address -> destinations[0..n-1], active. The domain must be hosted; an existing alias
 * is an error ("already exists") unless flags has DB_ALIAS_REPLACE (its active flag is kept then); a
 * new alias beyond the domain's alias limit is an error. */
int db_alias_add(struct db *db, const char *address, const char *const *destinations, size_t n,
                 unsigned flags, const char **error_r);

/* Look up one alias (any case): 0 found (db_alias_clear() it), 1 no such alias, -1 error. */
int db_alias_get(struct db *db, const char *address, struct db_alias *alias_r, const char **error_r);

/* The aliases of domain (NULL: of every domain), sorted by domain then address, catch-all first.
 * Free with db_alias_list_free(). A domain that is not hosted is an error. */
int db_alias_list(struct db *db, const char *domain, struct db_alias **aliases_r, size_t *n_r,
                  const char **error_r);
void db_alias_list_free(struct db_alias **aliases, size_t n);
void db_alias_clear(struct db_alias *alias);

/* Enable or disable an alias: an inactive alias does not resolve (the next rule, e.g. the catch-all,
 * may then match). */
int db_alias_set_active(struct db *db, const char *address, bool active, const char **error_r);

/* Change an existing alias in one transaction: its destinations (NULL: keep) and its active flag
 * (negative: keep). Every field is checked first; either all change or none does. */
int db_alias_change(struct db *db, const char *address, const char *const *destinations, size_t n, int active,
                    const char **error_r);

/* Set the alias's fallback destination (NULL or "" clears it): tried when a forward to one of its
 * destinations is refused for good or deferred longer than fallback_after (mxd/delivery). A valid
 * address, not the alias itself nor one of its destinations. 0, or -1 ("no such alias" included). */
int db_alias_set_fallback(struct db *db, const char *address, const char *fallback, const char **error_r);

/* The fallback of alias address (exact, as stored) into out ("" when none or no such alias). 0 or -1. */
int db_alias_fallback(struct db *db, const char *address, char out[ADDR_MAX + 1], const char **error_r);

int db_alias_del(struct db *db, const char *address, const char **error_r);

/* Split a stored destinations column ("a@x.net,b@y.org") into a NULL-terminated malloc'd array. */
char **db_alias_split_destinations(const char *stored, size_t *n_r);
void db_alias_destinations_free(char ***destinations);

#endif
