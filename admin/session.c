/*
 * session: see session.h.
 */
#include "admin/session.h"

#include "admin/throttle.h"
#include "db/admin.h"
#include "db/admin_session.h"
#include "mxd/common/log.h"
#include "mxd/common/util.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define LOGIN_TOKEN_MAX_AGE 3600 /* seconds a login form stays usable */

static const char *session_cookie_name(const struct http_request *req)
{
	return req->https ? "__Host-mxadmin_session" : "mxadmin_session";
}

static const char *session_login_cookie_name(const struct http_request *req)
{
	return req->https ? "__Host-mxadmin_login" : "mxadmin_login";
}

static bool session_secret_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL || strlen(a) != DB_ADMIN_SECRET_HEX || strlen(b) != DB_ADMIN_SECRET_HEX)
		return false;
	return sodium_memcmp(a, b, DB_ADMIN_SECRET_HEX) == 0;
}

/* Make the administrator name the request's actor. 0, 1 gone or disabled, -1 error. */
static int session_actor(struct http_request *req, const char *name, struct admin_err *err)
{
	const char *error;

	int rc = db_admin_get(req->ctx->db, name, &req->actor.admin, &error);
	if (rc < 0)
		return admin_err_set(err, 503, "", "%s", error);
	if (rc > 0)
		return 1;
	if (!req->actor.admin.active) {
		db_admin_clear(&req->actor.admin);
		return 1;
	}
	str_copy(req->actor.client_addr, sizeof(req->actor.client_addr), req->client_addr);
	req->authenticated = true;
	return 0;
}

int session_load(struct http_request *req, struct admin_err *err)
{
	const char *id = http_cookie(req, session_cookie_name(req));
	const char *error;

	if (id == NULL)
		return 1;
	int rc = db_admin_session_get(req->ctx->db, id, req->ctx->cfg->admin_session_timeout, SESSION_MAX_AGE,
	                              &req->session, &error);
	if (rc < 0)
		return admin_err_set(err, 503, "", "%s", error);
	if (rc > 0)
		return 1;
	str_copy(req->session_id, sizeof(req->session_id), id);
	return session_actor(req, req->session.admin, err);
}

int session_load_token(struct http_request *req, struct admin_err *err)
{
	const char *auth = http_header(req, "Authorization"), *error;
	struct db_admin admin;

	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
		return 1;
	const char *token = auth + 7;
	token += strspn(token, " ");
	int rc = db_admin_token_verify(req->ctx->db, token, &admin, &error);
	if (rc < 0)
		return admin_err_set(err, 503, "", "%s", error);
	if (rc > 0)
		return 1;
	req->actor.admin = admin;
	str_copy(req->actor.client_addr, sizeof(req->actor.client_addr), req->client_addr);
	req->actor.via_api = true;
	req->authenticated = true;
	req->via_token = true;
	return 0;
}

int session_login(struct http_request *req, const char *name, const char *password, struct admin_err *err)
{
	struct admin_ctx *ctx = req->ctx;
	const struct mxd_config *cfg = ctx->cfg;
	char norm[DB_ADMIN_NAME_MAX + 1], id[DB_ADMIN_SECRET_SIZE], csrf[DB_ADMIN_SECRET_SIZE], retry[32];
	struct throttle throttle;
	struct db_admin admin;
	const char *error;

	if (name == NULL || password == NULL)
		return admin_err_set(err, 400, name == NULL ? "name" : "password", "%s: missing",
		                     name == NULL ? "name" : "password");
	if (db_admin_normalize(ctx->db, name, norm, &error) < 0)
		str_copy(norm, sizeof(norm), "?invalid");
	throttle_init(&throttle, norm, req->client_addr);
	if (throttle_check(ctx, &throttle, err) < 0) {
		if (err->status == 429) {
			snprintf(retry, sizeof(retry), "%lld", (long long)err->retry_after);
			http_add_header(req, "Retry-After", retry);
			log_warn("mxadmin", "client=%s login throttled: name=%s", req->client_addr, norm);
		}
		return -1;
	}
	int rc = db_admin_verify(ctx->db, name, password, &admin, &error);
	if (rc < 0)
		return admin_err_set(err, 503, "", "%s", error);
	if (rc > 0) {
		throttle_failed(ctx, &throttle);
		log_warn("mxadmin", "client=%s login failed: name=%s", req->client_addr, norm);
		return admin_err_set(err, 401, "", "Wrong name or password.");
	}
	db_admin_clear(&admin);
	throttle_passed(ctx, &throttle);
	/* A new id at every login: an id planted before the login is worth nothing after it. */
	const char *old = http_cookie(req, session_cookie_name(req));
	if (old != NULL && db_admin_session_del(ctx->db, old, &error) < 0)
		log_warn("mxadmin", "end old session: %s", error);
	if (db_admin_session_new(ctx->db, norm, req->client_addr, cfg->admin_session_timeout, SESSION_MAX_AGE,
	                         id, csrf, &error) < 0)
		return admin_err_set(err, 503, "", "%s", error);
	http_set_cookie(req, session_cookie_name(req), id, -1);
	http_set_cookie(req, session_login_cookie_name(req), "", 0);
	str_copy(req->session_id, sizeof(req->session_id), id);
	str_copy(req->session.csrf_token, sizeof(req->session.csrf_token), csrf);
	str_copy(req->session.admin, sizeof(req->session.admin), norm);
	sodium_memzero(id, sizeof(id));
	rc = session_actor(req, norm, err);
	if (rc != 0)
		return rc < 0 ? -1 : admin_err_set(err, 401, "", "Wrong name or password.");
	admin_ops_audit(ctx, &req->actor, "session.login", norm, NULL, NULL);
	return 0;
}

void session_logout(struct http_request *req)
{
	const char *error;

	if (req->authenticated)
		admin_ops_audit(req->ctx, &req->actor, "session.logout", req->actor.admin.name, NULL, NULL);
	if (req->session_id[0] != '\0' && db_admin_session_del(req->ctx->db, req->session_id, &error) < 0)
		log_warn("mxadmin", "logout: %s", error);
	http_set_cookie(req, session_cookie_name(req), "", 0);
}

bool session_csrf_ok(const struct http_request *req, const char *token)
{
	return req->session_id[0] != '\0' && session_secret_equal(token, req->session.csrf_token);
}

void session_login_token_new(struct http_request *req, char token_r[DB_ADMIN_SECRET_SIZE])
{
	db_admin_random_hex(token_r, DB_ADMIN_SECRET_HEX / 2);
	http_set_cookie(req, session_login_cookie_name(req), token_r, LOGIN_TOKEN_MAX_AGE);
}

bool session_login_token_ok(const struct http_request *req, const char *token)
{
	return session_secret_equal(token, http_cookie(req, session_login_cookie_name(req)));
}

void session_flash(struct http_request *req, const char *fmt, ...)
{
	char buf[DB_SESSION_FLASH_MAX + 1];
	const char *error;
	va_list ap;

	if (req->session_id[0] == '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (db_admin_session_set_flash(req->ctx->db, req->session_id, buf, &error) < 0)
		log_warn("mxadmin", "session message: %s", error);
}
