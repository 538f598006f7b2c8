/*
 * audit: the audit log of administrators' actions (table "audit_log"): who (an administrator's name,
 * or "mxctl"), when, from which address, what (an action such as "alias.add", its object, the hosted
 * domain concerned and a short detail). Rows are only added, never changed; ids are "TIME-RANDOM" hex
 * text (microseconds since the epoch, then 32 random bits), so they sort in time order and two hosts
 * never make the same one. Details never hold passwords or tokens.
 *
 * Same thread rules as db.h. Returns 0 or -1 with *error_r (into the struct db).
 */
#ifndef MXD_DB_AUDIT_H
#define MXD_DB_AUDIT_H

#include "db/admin.h"
#include "db/db.h"
#include "mxd/common/addr.h"

#include <stddef.h>
#include <stdint.h>

#define DB_AUDIT_ID_MAX     32
#define DB_AUDIT_ACTION_MAX 32
#define DB_AUDIT_OBJECT_MAX 300
#define DB_AUDIT_DETAIL_MAX 1000
#define DB_AUDIT_CLIENT_MAX 63

struct db_audit_entry {
	char id[DB_AUDIT_ID_MAX + 1];
	int64_t created;
	char admin[DB_ADMIN_NAME_MAX + 1];
	char client_addr[DB_AUDIT_CLIENT_MAX + 1];
	char action[DB_AUDIT_ACTION_MAX + 1];
	char object[DB_AUDIT_OBJECT_MAX + 1];
	char domain[ADDR_DOMAIN_MAX + 1];
	char detail[DB_AUDIT_DETAIL_MAX + 1];
};

/* Add one row. domain and detail may be NULL (""); longer texts are cut. */
int db_audit_add(struct db *db, const char *admin, const char *client_addr, const char *action,
                 const char *object, const char *domain, const char *detail, const char **error_r);

/* Up to max rows, newest first, older than before_id ("" or NULL: from the newest). With for_admin
 * (a domain admin's name), only rows about the domains it manages now. Free *list_r with free(). */
int db_audit_list(struct db *db, const char *for_admin, const char *before_id, size_t max,
                  struct db_audit_entry **list_r, size_t *n_r, const char **error_r);

#endif
