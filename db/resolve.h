/*
 * resolve: recipient resolution against the tables, the one place that decides whether an address
 * is hosted and where it goes.
 *
 * Order (first match wins): the exact address; the address without its +tag (recipient_delimiter);
 * the domain's catch-all "@domain"; then, when the domain is an alias domain, the same three at its
 * target domain. Domains and local parts compare case-insensitively. Inactive domains, aliases and
 * alias domains do not resolve. This is one level: following alias chains is the delivery engine's job.
 */
#ifndef MXD_DB_RESOLVE_H
#define MXD_DB_RESOLVE_H

#include "db/db.h"

#include <stdbool.h>
#include <stddef.h>

enum db_resolve_status {
	DB_RESOLVE_OK,             /* destinations found */
	DB_RESOLVE_UNKNOWN_DOMAIN, /* not a hosted domain (or the domain is inactive): relay would be needed
	                            */
	DB_RESOLVE_UNKNOWN_USER,   /* hosted domain, but no active alias matched */
};

enum db_resolve_rule { DB_RULE_NONE, DB_RULE_EXACT, DB_RULE_DELIMITER, DB_RULE_CATCHALL };

struct db_resolution {
	enum db_resolve_status status;
	enum db_resolve_rule rule;
	int via_alias_domain;  /* 1 when matched at an alias domain's target */
	char matched[256 + 2]; /* the alias key that matched: "info@example.com" or "@example.com" */
	char **destinations;   /* NULL-terminated, malloc'd; free with db_resolution_clear() */
	size_t ndestinations;
};

/* Resolve address (any case). delimiter is recipient_delimiter ("" for none). Returns 0 with *res
 * filled (check res->status), or -1 on a database error (*error_r; db_error_is_busy() tells a
 * temporary failure). */
int db_resolve(struct db *db, const char *address, const char *delimiter, struct db_resolution *res,
               const char **error_r);
void db_resolution_clear(struct db_resolution *res);

/* Keep recent resolutions of this connection (on by default): a cache that is emptied whenever the
 * tables change (db/resolve_cache.h), so answers are the same with it as without. */
void db_resolve_cache(struct db *db, bool on);

/* A readable name of the rule, for logs and "mxctl resolve": "exact", "delimiter", "catch-all". */
const char *db_resolve_rule_name(enum db_resolve_rule rule);

#endif
