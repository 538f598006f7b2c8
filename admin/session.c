/*
 * session: see session.h.
 */
#include "admin/session.h"

#include "db/admin.h"
#include "db/admin_session.h"
#include "mxd/common/log.h"
#include "mxd/common/util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
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

/* The throttle key of the client: its address, or its /64 for IPv6 (one host has them all). */
static void session_client_key(const struct http_request *req, char *buf, size_t size)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&req->client_sa;

	if (req->client_sa.ss_family == AF_INET6 && !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		struct in6_addr prefix = s6->sin6_addr;
		char text[INET6_ADDRSTRLEN];
		memset(prefix.s6_addr + 8, 0, 8);
		inet_ntop(AF_INET6, &prefix, text, sizeof(text));
		snprintf(buf, size, "client:%s/64", text);
	} else {
		snprintf(buf, size, "client:%s", req->client_addr);
	}
}

int session_login(struct http_request *req, const char *name, const char *password, struct admin_err *err)
{
	struct admin_ctx *ctx = req->ctx;
	const struct mxd_config *cfg = ctx->cfg;
	char norm[DB_ADMIN_NAME_MAX + 1], account_key[DB_ADMIN_NAME_MAX + 16],
	    client_key[NETADDR_STR_MAX + 16];
	char id[DB_ADMIN_SECRET_SIZE], csrf[DB_ADMIN_SECRET_SIZE], retry[32];
	int64_t wait_account, wait_client;
	struct db_admin admin;
	const char *error;

	if (name == NULL || password == NULL)
		return admin_err_set(err, 400, name == NULL ? "name" : "password", "%s: missing",
		                     name == NULL ? "name" : "password");
	if (db_admin_normalize(ctx->db, name, norm, &error) < 0)
		str_copy(norm, sizeof(norm), "?invalid");
	snprintf(account_key, sizeof(account_key), "account:%s", norm);
	session_client_key(req, client_key, sizeof(client_key));
	int a = db_admin_login_throttled(ctx->db, account_key, cfg->admin_login_failure_limit,
	                                 cfg->admin_login_failure_window, &wait_account, &error);
	int c = a < 0 ? -1
	              : db_admin_login_throttled(ctx->db, client_key, cfg->admin_login_failure_limit,
	                                         cfg->admin_login_failure_window, &wait_client, &error);
	if (a < 0 || c < 0)
		return admin_err_set(err, 503, "", "%s", error);
	if (a > 0 || c > 0) {
		int64_t wait = a > 0 && (c == 0 || wait_account > wait_client) ? wait_account : wait_client;
		snprintf(retry, sizeof(retry), "%lld", (long long)wait);
		http_add_header(req, "Retry-After", retry);
		log_warn("mxadmin", "client=%s login throttled: name=%s (%s)", req->client_addr, norm,
		         a > 0 ? "account" : "client address");
		return admin_err_set(err, 429, "", "Too many failed logins: try again in %lld seconds.",
		                     (long long)wait);
	}
	int rc = db_admin_verify(ctx->db, name, password, &admin, &error);
	if (rc < 0)
		return admin_err_set(err, 503, "", "%s", error);
	if (rc > 0) {
		if (db_admin_login_failed(ctx->db, account_key, cfg->admin_login_failure_window, &error) <
		        0 ||
		    db_admin_login_failed(ctx->db, client_key, cfg->admin_login_failure_window, &error) < 0)
			log_warn("mxadmin", "login throttle: %s", error);
		log_warn("mxadmin", "client=%s login failed: name=%s", req->client_addr, norm);
		return admin_err_set(err, 401, "", "Wrong name or password.");
	}
	db_admin_clear(&admin);
	if (db_admin_login_clear(ctx->db, account_key, &error) < 0)
		log_warn("mxadmin", "login throttle: %s", error);
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
