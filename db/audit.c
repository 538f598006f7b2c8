/*
 * audit: see audit.h. Owns the rows of "audit_log".
 */
#include "db/audit.h"

#include "db/db_private.h"
#include "mxd/common/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copy s into buf (size octets), cut at a character boundary when too long. Returns buf. */
static const char *audit_cut(const char *s, char *buf, size_t size)
{
	size_t len = strlen(s != NULL ? s : "");

	if (len >= size) {
		len = size - 1;
		while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
			len--;
	}
	memcpy(buf, s != NULL ? s : "", len);
	buf[len] = '\0';
	return buf;
}

int db_audit_add(struct db *db, const char *admin, const char *client_addr, const char *action,
                 const char *object, const char *domain, const char *detail, const char **error_r)
{
	static const char sql[] = "INSERT INTO audit_log (id, admin, client_addr, action, object, domain, "
	                          "detail, created, modified)"
	                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)";
	struct db_audit_entry e;
	char rnd[9];
	int64_t usec = time_now_usec();

	db_admin_random_hex(rnd, 4);
	snprintf(e.id, sizeof(e.id), "%016" PRIx64 "-%s", (uint64_t)usec, rnd);
	return db_exec(db, sql,
	               DB_PARAMS(DB_TEXT(e.id), DB_TEXT(audit_cut(admin, e.admin, sizeof(e.admin))),
	                         DB_TEXT(audit_cut(client_addr, e.client_addr, sizeof(e.client_addr))),
	                         DB_TEXT(audit_cut(action, e.action, sizeof(e.action))),
	                         DB_TEXT(audit_cut(object, e.object, sizeof(e.object))),
	                         DB_TEXT(audit_cut(domain, e.domain, sizeof(e.domain))),
	                         DB_TEXT(audit_cut(detail, e.detail, sizeof(e.detail))),
	                         DB_INT(usec / 1000000)),
	               "add audit row", error_r);
}

static int audit_from_row(sqlite3_stmt *stmt, void *item)
{
	struct db_audit_entry *e = item;

	db_column_copy(stmt, 0, e->id, sizeof(e->id));
	e->created = sqlite3_column_int64(stmt, 1);
	db_column_copy(stmt, 2, e->admin, sizeof(e->admin));
	db_column_copy(stmt, 3, e->client_addr, sizeof(e->client_addr));
	db_column_copy(stmt, 4, e->action, sizeof(e->action));
	db_column_copy(stmt, 5, e->object, sizeof(e->object));
	db_column_copy(stmt, 6, e->domain, sizeof(e->domain));
	db_column_copy(stmt, 7, e->detail, sizeof(e->detail));
	return 0;
}

static const struct db_rows audit_rows = {sizeof(struct db_audit_entry), audit_from_row, NULL};

int db_audit_list(struct db *db, const char *for_admin, const char *before_id, size_t max,
                  struct db_audit_entry **list_r, size_t *n_r, const char **error_r)
{
	static const char sql[] =
	    "SELECT id, created, admin, client_addr, action, object, domain, detail FROM audit_log"
	    " WHERE (?1 IS NULL OR domain IN (SELECT domain FROM admin_domains WHERE admin = ?1))"
	    " AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3";

	return db_rows_list(db, sql,
	                    DB_PARAMS(DB_TEXT(for_admin),
	                              DB_TEXT(before_id != NULL && *before_id != '\0' ? before_id : NULL),
	                              DB_INT(max)),
	                    &audit_rows, list_r, n_r, "list audit log", error_r);
}
