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
	sqlite3_stmt *stmt = db_stmt(db, sql, error_r);
	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, e.id);
	db_bind_text(stmt, 2, audit_cut(admin, e.admin, sizeof(e.admin)));
	db_bind_text(stmt, 3, audit_cut(client_addr, e.client_addr, sizeof(e.client_addr)));
	db_bind_text(stmt, 4, audit_cut(action, e.action, sizeof(e.action)));
	db_bind_text(stmt, 5, audit_cut(object, e.object, sizeof(e.object)));
	db_bind_text(stmt, 6, audit_cut(domain, e.domain, sizeof(e.domain)));
	db_bind_text(stmt, 7, audit_cut(detail, e.detail, sizeof(e.detail)));
	sqlite3_bind_int64(stmt, 8, usec / 1000000);
	return db_step_done(db, stmt, "add audit row", error_r);
}

int db_audit_list(struct db *db, const char *for_admin, const char *before_id, size_t max,
                  struct db_audit_entry **list_r, size_t *n_r, const char **error_r)
{
	static const char sql[] =
	    "SELECT id, created, admin, client_addr, action, object, domain, detail FROM audit_log"
	    " WHERE (?1 IS NULL OR domain IN (SELECT domain FROM admin_domains WHERE admin = ?1))"
	    " AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3";
	struct db_audit_entry *list = NULL;
	size_t n = 0;
	int rc = SQLITE_DONE;

	*list_r = NULL;
	*n_r = 0;
	sqlite3_stmt *stmt = db_stmt(db, sql, error_r);
	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, for_admin);
	db_bind_text(stmt, 2, before_id != NULL && *before_id != '\0' ? before_id : NULL);
	sqlite3_bind_int64(stmt, 3, (sqlite3_int64)max);
	if (max > 0)
		list = xcalloc(max, sizeof(*list));
	while (n < max && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct db_audit_entry *e = &list[n++];
		db_column_copy(stmt, 0, e->id, sizeof(e->id));
		e->created = sqlite3_column_int64(stmt, 1);
		db_column_copy(stmt, 2, e->admin, sizeof(e->admin));
		db_column_copy(stmt, 3, e->client_addr, sizeof(e->client_addr));
		db_column_copy(stmt, 4, e->action, sizeof(e->action));
		db_column_copy(stmt, 5, e->object, sizeof(e->object));
		db_column_copy(stmt, 6, e->domain, sizeof(e->domain));
		db_column_copy(stmt, 7, e->detail, sizeof(e->detail));
	}
	if (n < max && rc != SQLITE_DONE) {
		sqlite3_reset(stmt);
		free(list);
		return db_fail(db, "list audit log", error_r);
	}
	sqlite3_reset(stmt);
	*list_r = list;
	*n_r = n;
	return 0;
}
