/*
 * session: who is asking. Web sessions (cookie "mxadmin_session", "__Host-mxadmin_session" under HTTPS;
 * HttpOnly, SameSite=Strict, Path=/, Secure under HTTPS) backed by db/admin_session.h: a new id at every
 * login, gone at logout, after admin_session_timeout idle and after SESSION_MAX_AGE in all. CSRF: each
 * session has a random token that every state-changing form carries (field csrf_token) and API calls
 * made with the cookie send as X-CSRF-Token; it is compared in constant time. The login form, which
 * has no session yet, is protected the same way by a short-lived "mxadmin_login" cookie and field
 * (double submit). API tokens ("Authorization: Bearer ...") need no CSRF token: a browser never sends
 * them on its own.
 *
 * Logins are throttled by admin/throttle.h (per client address, and per account for the clients that
 * failed on it themselves: failures elsewhere never lock out the owner). An unknown name costs the same
 * argon2id work as a known one. Every administrator is read afresh from the database at each request, so a
 * changed role or a deleted account applies at once.
 */
#ifndef MXD_ADMIN_SESSION_H
#define MXD_ADMIN_SESSION_H

#include "admin/http.h"
#include "admin/ops.h"

#include <stdbool.h>

#define SESSION_MAX_AGE (12 * 3600) /* seconds: a session ends after this however active */

/* Load the session named by the request's cookie into req (req->actor, req->session...). 0 a live
 * session, 1 none, -1 database error (*err). */
int session_load(struct http_request *req, struct admin_err *err);

/* Authenticate an API request by its "Authorization: Bearer" token. 0, 1 no or bad token, -1 error. */
int session_load_token(struct http_request *req, struct admin_err *err);

/* Check name and password and start a new session (Set-Cookie on req; an older session cookie of the
 * request is ended). -1 with err->status 401 (wrong), 429 (throttled: Retry-After set) or 503. */
int session_login(struct http_request *req, const char *name, const char *password, struct admin_err *err);

/* End the request's session and delete its cookie. */
void session_logout(struct http_request *req);

/* Does token match the session's CSRF token (constant time)? */
bool session_csrf_ok(const struct http_request *req, const char *token);

/* A login-form token: set its cookie on req and write it into token_r. */
void session_login_token_new(struct http_request *req, char token_r[DB_ADMIN_SECRET_SIZE]);

/* Does the login form's token match its cookie (constant time)? */
bool session_login_token_ok(const struct http_request *req, const char *token);

/* Leave a message for the next page of this session. */
void session_flash(struct http_request *req, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
