/*
 * domain: the hosted domains (table "domains"). A hosted domain has a name (lower-cased, stored as
 * given to addr_domain_valid()), a free-text description, an active flag and an alias limit (0 means
 * no limit). Deleting a domain deletes its aliases and the alias domains that point at it (foreign
 * keys ON DELETE CASCADE).
 *
 * Same thread rules as db.h. Every change runs in one transaction. Errors name the field and the
 * value: "domain 'Foo': domain needs at least two labels (example.com)", "domain 'example.com': already
 * exists"; *error_r points into the struct db. Returns 0, -1 on error, 1 for "not found" where said.
 */
#ifndef MXD_DB_DOMAIN_H
#define MXD_DB_DOMAIN_H

#include "db/db.h"
#include "mxd/common/addr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DB_DESCRIPTION_MAX  200       /* octets */
#define DB_ALIAS_LIMIT_MAX  100000000 /* largest alias_limit accepted */
#define DB_HOURLY_LIMIT_MAX 100000000 /* largest hourly_message_limit accepted */

struct db_domain {
	char name[ADDR_DOMAIN_MAX + 1];
	char description[DB_DESCRIPTION_MAX + 1];
	bool active;
	uint32_t alias_limit;          /* 0: no limit */
	uint32_t alias_count;          /* aliases in the domain, catch-all included */
	uint32_t alias_domain_count;   /* alias domains whose target is this domain */
	uint32_t hourly_message_limit; /* messages accepted per hour for its recipients; 0: no limit */
	int64_t created, modified;     /* unix time */
	int dmarc_from_rewrite;        /* the domain's dmarc_from_rewrite: 1 yes, 0 no, -1 the setting's */
	char report_address[ADDR_MAX + 1]; /* owner notices of failed forwards go there ("" none) */
};

/* Validate name and write it lower-cased into out (ADDR_DOMAIN_MAX + 1 octets). field names the value
 * in the error ("domain", "target domain"). 0 or -1 with *error_r (db's buffer). */
int db_domain_normalize(struct db *db, const char *field, const char *name, char *out, const char **error_r);

/* Add an active domain. description may be NULL. Refuses a duplicate and a name that is an alias
 * domain. */
int db_domain_add(struct db *db, const char *name, const char *description, uint32_t alias_limit,
                  const char **error_r);

/* Change the description (NULL: keep) and/or the alias limit (negative: keep). */
int db_domain_update(struct db *db, const char *name, const char *description, int64_t alias_limit,
                     const char **error_r);

/* db_domain_update() and the active flag too (negative: keep), in one statement: every field is
 * checked first, and either all change or none does. */
int db_domain_change(struct db *db, const char *name, const char *description, int64_t alias_limit,
                     int active, const char **error_r);

/* Set the hourly message limit (0: none): what each MX host accepts per hour for the domain's
 * recipients (a cap against one domain under attack flooding its destination). */
int db_domain_set_hourly_limit(struct db *db, const char *name, int64_t limit, const char **error_r);

/* The hot path of RCPT: the hourly message limit of domain (already lower case, as resolved), one
 * indexed read. 0 found (*limit_r, 0 for none), 1 not a hosted domain, -1 error. */
int db_domain_hourly_limit(struct db *db, const char *domain, uint32_t *limit_r, const char **error_r);

/* Set the domain's report address (NULL or "": none), where the queue manager sends its owner notices
 * (forwards deferred longer than owner_warning_time or failed for good). 0 or -1. */
int db_domain_set_report_address(struct db *db, const char *name, const char *address, const char **error_r);

/* Look up one domain: 0 found, 1 not hosted, -1 error. */
int db_domain_get(struct db *db, const char *name, struct db_domain *domain_r, const char **error_r);

/* Every domain, sorted by name, in one malloc'd array (free() it; NULL when there is none). */
int db_domain_list(struct db *db, struct db_domain **domains_r, size_t *n_r, const char **error_r);

/* Enable or disable a domain: an inactive domain resolves nothing (mail to it is not accepted). */
int db_domain_set_active(struct db *db, const char *name, bool active, const char **error_r);

/* The domain's dmarc_from_rewrite: 1 yes, 0 no, -1 (stored as NULL) as the setting says. */
int db_domain_set_dmarc_from_rewrite(struct db *db, const char *name, int value, const char **error_r);

/* Whether mail to name gets From: rewritten (smtpd): the domain's choice, else fallback (the setting;
 * also for a name that is not hosted). 0 or -1. */
int db_domain_dmarc_from_rewrite(struct db *db, const char *name, bool fallback, bool *value_r,
                                 const char **error_r);

/* Delete a domain with its aliases and the alias domains that target it. */
int db_domain_del(struct db *db, const char *name, const char **error_r);

#endif
