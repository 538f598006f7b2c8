/*
 * http: mxadmin's HTTP server on libmicrohttpd: the listening socket (admin_listen, bound before the
 * switch to mail_owner), optional TLS (admin_tls_cert_file/key_file), the admin_allow check (others get
 * 403 before anything else), bounded request bodies (HTTP_BODY_MAX; larger ones get 413 or lose the
 * connection), parsing of bodies into a struct form (urlencoded for pages, JSON or urlencoded for the
 * API), a same-origin check on every state-changing request that carries an Origin header, the static
 * stylesheet, dispatch to pages.c or api.c, and the headers every response carries (CSP without inline
 * script or style, nosniff, no referrer, no framing, no-store).
 *
 * libmicrohttpd runs every request in its one internal thread, so a struct admin_ctx (one database
 * connection, one queue store) serves all of them without locks; a request is short (one argon2id
 * verification at most). Handlers fill the response part of struct http_request; http.c sends it.
 */
#ifndef MXD_ADMIN_HTTP_H
#define MXD_ADMIN_HTTP_H

#include "admin/form.h"
#include "admin/ops.h"
#include "db/admin_session.h"
#include "mxd/common/config.h"
#include "mxd/common/netaddr.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define HTTP_BODY_MAX    (64 * 1024)
#define HTTP_HEADERS_MAX 8

struct MHD_Connection;
struct evbuffer;
struct http_server;

struct http_request {
	/* the request */
	struct MHD_Connection *conn;
	const char *method; /* "GET", "POST", ... ("HEAD" is handled as "GET") */
	const char *path;   /* decoded, without the query */
	struct sockaddr_storage client_sa;
	char client_addr[NETADDR_STR_MAX];
	bool https;
	struct form *form;      /* the body's parameters (empty for GET) */
	const char *form_error; /* why the body could not be parsed, or NULL */

	/* who asks (session.c fills these) */
	struct admin_ctx *ctx;
	struct admin_actor actor;
	bool authenticated;
	bool via_token;
	char session_id[DB_ADMIN_SECRET_SIZE];
	struct db_admin_session session;

	/* the response */
	int status;
	const char *content_type;
	struct evbuffer *out;
	bool cacheable; /* the stylesheet: may be cached */
	size_t nheaders;
	struct {
		char *name, *value;
	} headers[HTTP_HEADERS_MAX];
};

/* Bind admin_listen. 0 with *fd_r, or -1 with *error_r. */
int http_server_bind(const struct mxd_config *cfg, int *fd_r, const char **error_r);

/* Read the TLS certificate and key (as root, before the switch) when admin_tls_* are set. */
int http_server_load_tls(const struct mxd_config *cfg, char **cert_r, char **key_r, const char **error_r);

/* Start serving fd with ctx (which must outlive the server). cert and key (PEM text, may be NULL) are
 * copied. 0 or -1 with *error_r. */
int http_server_start(struct admin_ctx *ctx, int fd, const char *cert, const char *key,
                      struct http_server **srv_r, const char **error_r);

/* Stop: finish the request in progress, close the socket, free. Clears *srv. */
void http_server_stop(struct http_server **srv);

/* Request helpers: a query parameter (decoded; NULL when absent), a request header, a cookie. */
const char *http_query(const struct http_request *req, const char *name);
const char *http_header(const struct http_request *req, const char *name);
const char *http_cookie(const struct http_request *req, const char *name);

/* Response helpers. http_add_header() copies; at most HTTP_HEADERS_MAX extra headers. */
void http_add_header(struct http_request *req, const char *name, const char *value);
void http_redirect(struct http_request *req, const char *location); /* 303 See Other */

/* A Set-Cookie for name: HttpOnly, SameSite=Strict, Path=/ (and Secure under HTTPS); max_age < 0 means
 * a browser-session cookie, 0 deletes it. */
void http_set_cookie(struct http_request *req, const char *name, const char *value, long max_age);

/* Is the request's method m (HEAD counts as GET)? */
bool http_method_is(const struct http_request *req, const char *m);

#endif
