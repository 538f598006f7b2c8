/*
 * admin_session: see admin_session.h. Owns the rows of "admin_sessions" and "admin_login_failures".
 */
#include "db/admin_session.h"

#include "db/db_private.h"
#include "mxd/common/util.h"

#include <string.h>

/* Remove sessions past their time. */
static int session_expire(struct db *db, int64_t now, int64_t idle_timeout, int64_t max_age,
                          const char **error_r)
{
	static const char sql[] = "DELETE FROM admin_sessions WHERE last_seen <= ?1 OR created <= ?2";

	sqlite3_stmt *stmt = db_stmt(db, sql, error_r);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, now - idle_timeout);
	sqlite3_bind_int64(stmt, 2, now - max_age);
	return db_step_done(db, stmt, "expire admin sessions", error_r);
}

int db_admin_session_new(struct db *db, const char *admin, const char *client_addr, int64_t idle_timeout,
                         int64_t max_age, char id_r[DB_ADMIN_SECRET_SIZE], char csrf_r[DB_ADMIN_SECRET_SIZE],
                         const char **error_r)
{
	static const char sql[] =
	    "INSERT INTO admin_sessions (id_hash, admin, csrf_token, client_addr, flash, last_seen, created,"
	    " modified) VALUES (?1, ?2, ?3, ?4, '', ?5, ?5, ?5)";
	char hash[DB_ADMIN_SECRET_SIZE];
	int64_t now = time_now();

	if (session_expire(db, now, idle_timeout, max_age, error_r) < 0)
		return -1;
	db_admin_random_hex(id_r, DB_ADMIN_SECRET_HEX / 2);
	db_admin_random_hex(csrf_r, DB_ADMIN_SECRET_HEX / 2);
	db_admin_hash_hex(id_r, hash);
	sqlite3_stmt *stmt = db_stmt(db, sql, error_r);
	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, hash);
	db_bind_text(stmt, 2, admin);
	db_bind_text(stmt, 3, csrf_r);
	db_bind_text(stmt, 4, client_addr);
	sqlite3_bind_int64(stmt, 5, now);
	return db_step_done(db, stmt, "start admin session", error_r);
}

int db_admin_session_get(struct db *db, const char *id, int64_t idle_timeout, int64_t max_age,
                         struct db_admin_session *session_r, const char **error_r)
{
	static const char sql[] =
	    "SELECT admin, csrf_token, client_addr, flash, created, last_seen"
	    " FROM admin_sessions WHERE id_hash = ?1 AND last_seen > ?2 AND created > ?3";
	static const char touch_sql[] = "UPDATE admin_sessions SET last_seen = ?2 WHERE id_hash = ?1";
	char hash[DB_ADMIN_SECRET_SIZE];
	int64_t now = time_now();

	if (!db_admin_secret_valid(id))
		return 1;
	db_admin_hash_hex(id, hash);
	sqlite3_stmt *stmt = db_stmt(db, sql, error_r);
	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, hash);
	sqlite3_bind_int64(stmt, 2, now - idle_timeout);
	sqlite3_bind_int64(stmt, 3, now - max_age);
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		memset(session_r, 0, sizeof(*session_r));
		db_column_copy(stmt, 0, session_r->admin, sizeof(session_r->admin));
		db_column_copy(stmt, 1, session_r->csrf_token, sizeof(session_r->csrf_token));
		db_column_copy(stmt, 2, session_r->client_addr, sizeof(session_r->client_addr));
		db_column_copy(stmt, 3, session_r->flash, sizeof(session_r->flash));
		session_r->created = sqlite3_column_int64(stmt, 4);
		session_r->last_seen = sqlite3_column_int64(stmt, 5);
	}
	sqlite3_reset(stmt);
	if (rc == SQLITE_DONE)
		return 1;
	if (rc != SQLITE_ROW)
		return db_fail(db, "look up admin session", error_r);
	if (session_r->last_seen == now)
		return 0;
	stmt = db_stmt(db, touch_sql, error_r);
	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, hash);
	sqlite3_bind_int64(stmt, 2, now);
	return db_step_done(db, stmt, "touch admin session", error_r);
}

int db_admin_session_del(struct db *db, const char *id, const char **error_r)
{
	static const char sql[] = "DELETE FROM admin_sessions WHERE id_hash = ?1";
	char hash[DB_ADMIN_SECRET_SIZE];

	if (!db_admin_secret_valid(id))
		return 0;
	db_admin_hash_hex(id, hash);
	sqlite3_stmt *stmt = db_stmt(db, sql, error_r);
	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, hash);
	return db_step_done(db, stmt, "end admin session", error_r);
}

int db_admin_session_set_flash(struct db *db, const char *id, const char *flash, const char **error_r)
{
	static const char sql[] = "UPDATE admin_sessions SET flash = ?2 WHERE id_hash = ?1";
	char hash[DB_ADMIN_SECRET_SIZE], text[DB_SESSION_FLASH_MAX + 1];
	size_t len = strlen(flash);

	if (!db_admin_secret_valid(id))
		return 0;
	db_admin_hash_hex(id, hash);
	sqlite3_stmt *stmt = db_stmt(db, sql, error_r);
	if (stmt == NULL)
		return -1;
	if (len > DB_SESSION_FLASH_MAX) { /* cut at a character boundary */
		len = DB_SESSION_FLASH_MAX;
		while (len > 0 && ((unsigned char)flash[len] & 0xc0) == 0x80)
			len--;
	}
	memcpy(text, flash, len);
	text[len] = '\0';
	db_bind_text(stmt, 1, hash);
	db_bind_text(stmt, 2, text);
	return db_step_done(db, stmt, "set session message", error_r);
}

int db_admin_login_throttled(struct db *db, const char *key, int64_t limit, int64_t window,
                             int64_t *retry_after_r, const char **error_r)
{
	static const char sql[] = "SELECT failures, last_failure FROM admin_login_failures WHERE key = ?1";
	int64_t now = time_now(), failures = 0, last = 0;

	*retry_after_r = 0;
	sqlite3_stmt *stmt = db_stmt(db, sql, error_r);
	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, key);
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		failures = sqlite3_column_int64(stmt, 0);
		last = sqlite3_column_int64(stmt, 1);
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(db, "look up login failures", error_r);
	if (failures < limit || now - last >= window)
		return 0;
	*retry_after_r = last + window - now;
	return 1;
}

int db_admin_login_failed(struct db *db, const char *key, int64_t window, const char **error_r)
{
	static const char gc_sql[] = "DELETE FROM admin_login_failures WHERE last_failure <= ?1";
	static const char sql[] =
	    "INSERT INTO admin_login_failures (key, failures, last_failure, created, modified)"
	    " VALUES (?1, 1, ?2, ?2, ?2) ON CONFLICT (key) DO UPDATE SET failures = failures + 1,"
	    " last_failure = ?2, modified = ?2";
	int64_t now = time_now();

	if (db_begin(db, error_r) < 0)
		return -1;
	sqlite3_stmt *stmt = db_stmt(db, gc_sql, error_r);
	if (stmt == NULL)
		goto fail;
	sqlite3_bind_int64(stmt, 1, now - window);
	if (db_step_done(db, stmt, "forget old login failures", error_r) < 0)
		goto fail;
	stmt = db_stmt(db, sql, error_r);
	if (stmt == NULL)
		goto fail;
	db_bind_text(stmt, 1, key);
	sqlite3_bind_int64(stmt, 2, now);
	if (db_step_done(db, stmt, "count login failure", error_r) < 0)
		goto fail;
	return db_commit(db, error_r);
fail:
	db_rollback(db);
	return -1;
}

int db_admin_login_clear(struct db *db, const char *key, const char **error_r)
{
	static const char sql[] = "DELETE FROM admin_login_failures WHERE key = ?1";

	sqlite3_stmt *stmt = db_stmt(db, sql, error_r);
	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, key);
	return db_step_done(db, stmt, "clear login failures", error_r);
}
