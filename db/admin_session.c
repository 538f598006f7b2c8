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

	return db_exec(db, sql, DB_PARAMS(DB_INT(now - idle_timeout), DB_INT(now - max_age)),
	               "expire admin sessions", error_r);
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
	return db_exec(
	    db, sql,
	    DB_PARAMS(DB_TEXT(hash), DB_TEXT(admin), DB_TEXT(csrf_r), DB_TEXT(client_addr), DB_INT(now)),
	    "start admin session", error_r);
}

static int session_from_row(sqlite3_stmt *stmt, void *item)
{
	struct db_admin_session *session = item;

	memset(session, 0, sizeof(*session));
	db_column_copy(stmt, 0, session->admin, sizeof(session->admin));
	db_column_copy(stmt, 1, session->csrf_token, sizeof(session->csrf_token));
	db_column_copy(stmt, 2, session->client_addr, sizeof(session->client_addr));
	db_column_copy(stmt, 3, session->flash, sizeof(session->flash));
	session->created = sqlite3_column_int64(stmt, 4);
	session->last_seen = sqlite3_column_int64(stmt, 5);
	return 0;
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
	int rc =
	    db_row_get(db, sql, DB_PARAMS(DB_TEXT(hash), DB_INT(now - idle_timeout), DB_INT(now - max_age)),
	               session_from_row, session_r, "look up admin session", error_r);
	if (rc != 0 || session_r->last_seen == now)
		return rc;
	return db_exec(db, touch_sql, DB_PARAMS(DB_TEXT(hash), DB_INT(now)), "touch admin session", error_r);
}

int db_admin_session_del(struct db *db, const char *id, const char **error_r)
{
	static const char sql[] = "DELETE FROM admin_sessions WHERE id_hash = ?1";
	char hash[DB_ADMIN_SECRET_SIZE];

	if (!db_admin_secret_valid(id))
		return 0;
	db_admin_hash_hex(id, hash);
	return db_exec(db, sql, DB_PARAMS(DB_TEXT(hash)), "end admin session", error_r);
}

int db_admin_session_set_flash(struct db *db, const char *id, const char *flash, const char **error_r)
{
	static const char sql[] = "UPDATE admin_sessions SET flash = ?2 WHERE id_hash = ?1";
	char hash[DB_ADMIN_SECRET_SIZE], text[DB_SESSION_FLASH_MAX + 1];
	size_t len = strlen(flash);

	if (!db_admin_secret_valid(id))
		return 0;
	db_admin_hash_hex(id, hash);
	if (len > DB_SESSION_FLASH_MAX) { /* cut at a character boundary */
		len = DB_SESSION_FLASH_MAX;
		while (len > 0 && ((unsigned char)flash[len] & 0xc0) == 0x80)
			len--;
	}
	memcpy(text, flash, len);
	text[len] = '\0';
	return db_exec(db, sql, DB_PARAMS(DB_TEXT(hash), DB_TEXT(text)), "set session message", error_r);
}

/* failures and last_failure into out[0] and out[1]. */
static int failures_from_row(sqlite3_stmt *stmt, void *out)
{
	((int64_t *)out)[0] = sqlite3_column_int64(stmt, 0);
	((int64_t *)out)[1] = sqlite3_column_int64(stmt, 1);
	return 0;
}

int db_admin_login_throttled(struct db *db, const char *key, int64_t limit, int64_t window,
                             int64_t *retry_after_r, const char **error_r)
{
	static const char sql[] = "SELECT failures, last_failure FROM admin_login_failures WHERE key = ?1";
	int64_t now = time_now(), failures_last[2] = {0, 0};

	*retry_after_r = 0;
	if (db_row_get(db, sql, DB_PARAMS(DB_TEXT(key)), failures_from_row, failures_last,
	               "look up login failures", error_r) < 0)
		return -1;
	int64_t failures = failures_last[0], last = failures_last[1];
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
	if (db_exec(db, gc_sql, DB_PARAMS(DB_INT(now - window)), "forget old login failures", error_r) < 0 ||
	    db_exec(db, sql, DB_PARAMS(DB_TEXT(key), DB_INT(now)), "count login failure", error_r) < 0)
		goto fail;
	return db_commit(db, error_r);
fail:
	db_rollback(db);
	return -1;
}

int db_admin_login_clear(struct db *db, const char *key, const char **error_r)
{
	static const char sql[] = "DELETE FROM admin_login_failures WHERE key = ?1";

	return db_exec(db, sql, DB_PARAMS(DB_TEXT(key)), "clear login failures", error_r);
}
