/*
 * admin_session: the admin UI's web sessions and login throttle (tables "admin_sessions",
 * "admin_login_failures"). Both are runtime data of the host that runs mxadmin.
 *
 * A session id is 256 random bits in hex, given to the browser once; the table stores only its SHA-256,
 * so reading the database does not give anyone a live session. Each session has its own random CSRF
 * token (stored as is: it is worthless without the session id) and a one-shot "flash" message that the
 * next page shows. A session ends at logout, after idle_timeout seconds without a request, after
 * max_age seconds in all, and when its administrator's password changes or the administrator goes.
 *
 * The throttle counts failed logins per key ("account:NAME", "client:ADDRESS"): once a key has limit
 * failures, each less than window seconds after the one before, it is refused until window seconds
 * after its last failure.
 *
 * Same thread rules as db.h. Returns 0, -1 on error (*error_r into the struct db), 1 where said.
 */
#ifndef MXD_DB_ADMIN_SESSION_H
#define MXD_DB_ADMIN_SESSION_H

#include "db/admin.h"
#include "db/db.h"

#include <stdint.h>

#define DB_SESSION_FLASH_MAX  1000 /* octets of a flash message */
#define DB_SESSION_CLIENT_MAX 63

struct db_admin_session {
	char admin[DB_ADMIN_NAME_MAX + 1];
	char csrf_token[DB_ADMIN_SECRET_SIZE];
	char client_addr[DB_SESSION_CLIENT_MAX + 1];
	char flash[DB_SESSION_FLASH_MAX + 1];
	int64_t created, last_seen;
};

/* Start a session for admin: a new id into id_r (for the cookie only) and its CSRF token into csrf_r.
 * Sessions past their time are removed on the way. */
int db_admin_session_new(struct db *db, const char *admin, const char *client_addr, int64_t idle_timeout,
                         int64_t max_age, char id_r[DB_ADMIN_SECRET_SIZE], char csrf_r[DB_ADMIN_SECRET_SIZE],
                         const char **error_r);

/* Find the live session for id and note this request in it. 0 found (*session_r filled), 1 none (bad,
 * unknown, ended or expired id), -1 error. */
int db_admin_session_get(struct db *db, const char *id, int64_t idle_timeout, int64_t max_age,
                         struct db_admin_session *session_r, const char **error_r);

/* End the session for id (logout). Unknown ids are no error. */
int db_admin_session_del(struct db *db, const char *id, const char **error_r);

/* Set the flash message of the session for id ("" clears it). */
int db_admin_session_set_flash(struct db *db, const char *id, const char *flash, const char **error_r);

/* Is key refused now? 0 no, 1 yes (*retry_after_r: seconds until it is not), -1 error. */
int db_admin_login_throttled(struct db *db, const char *key, int64_t limit, int64_t window,
                             int64_t *retry_after_r, const char **error_r);

/* Count one failed login for key; rows older than window go on the way. */
int db_admin_login_failed(struct db *db, const char *key, int64_t window, const char **error_r);

/* Forget the failures of key (a successful login). */
int db_admin_login_clear(struct db *db, const char *key, const char **error_r);

#endif
