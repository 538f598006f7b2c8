/*
 * http: see http.h. The access handler is called by libmicrohttpd once with the headers, then with each
 * piece of the body, then once more at its end; the request is handled at the end, except that an address
 * outside admin_allow and a Content-Length above HTTP_BODY_MAX are answered at once.
 */
#include "admin/http.h"

#include "admin/api.h"
#include "admin/hostnames.h"
#include "admin/json.h"
#include "admin/pages.h"
#include "mxd/common/log.h"
#include "mxd/common/util.h"
#include "style_css.h"

#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define HTTP_CSP                                                                                             \
	"default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; " \
	"base-uri 'none'"
#define HTTP_PEM_MAX (1024 * 1024)

struct http_server {
	struct admin_ctx *ctx;
	struct cidr_list *allow;
	struct hostnames *hostnames;
	struct MHD_Daemon *daemon;
	bool https;
	char *cert, *key;
};

/* What libmicrohttpd keeps for us between the calls for one request. */
struct http_pending {
	char *body;
	size_t len, cap;
	bool answered; /* a response went out at the first call: ignore the rest */
};

int http_server_bind(const struct mxd_config *cfg, int *fd_r, const char **error_r)
{
	static __thread char err[512];
	struct sockaddr_storage ss;
	socklen_t len;
	const char *error;
	int one = 1;

	if (netaddr_parse(cfg->admin_listen, 8080, &ss, &len, &error) < 0) {
		snprintf(err, sizeof(err), "admin_listen '%s': %s", cfg->admin_listen, error);
		*error_r = err;
		return -1;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 64) < 0) {
		snprintf(err, sizeof(err), "admin_listen '%s': %s", cfg->admin_listen, strerror(errno));
		if (fd >= 0)
			close(fd);
		*error_r = err;
		return -1;
	}
	*fd_r = fd;
	return 0;
}

static char *http_read_pem(const char *setting, const char *path, const char **error_r)
{
	static __thread char err[600];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st = {0};

	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size > HTTP_PEM_MAX) {
		bool large = fd >= 0 && st.st_size > HTTP_PEM_MAX;
		snprintf(err, sizeof(err), "%s %s: %s", setting, path, large ? "too large" : strerror(errno));
		if (fd >= 0)
			close(fd);
		*error_r = err;
		return NULL;
	}
	char *pem = xmalloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, pem + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	pem[got] = '\0';
	return pem;
}

int http_server_load_tls(const struct mxd_config *cfg, char **cert_r, char **key_r, const char **error_r)
{
	*cert_r = *key_r = NULL;
	if ((cfg->admin_tls_cert_file[0] == '\0') != (cfg->admin_tls_key_file[0] == '\0')) {
		*error_r = "admin_tls_cert_file and admin_tls_key_file must be set together";
		return -1;
	}
	if (cfg->admin_tls_cert_file[0] == '\0')
		return 0;
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		*error_r = "admin_tls_cert_file: this libmicrohttpd has no TLS support";
		return -1;
	}
	*cert_r = http_read_pem("admin_tls_cert_file", cfg->admin_tls_cert_file, error_r);
	if (*cert_r == NULL)
		return -1;
	*key_r = http_read_pem("admin_tls_key_file", cfg->admin_tls_key_file, error_r);
	if (*key_r == NULL) {
		free(*cert_r);
		*cert_r = NULL;
		return -1;
	}
	return 0;
}

const char *http_query(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_header(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_cookie(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, name);
}

void http_add_header(struct http_request *req, const char *name, const char *value)
{
	if (req->nheaders >= HTTP_HEADERS_MAX)
		abort(); /* a handler sets more headers than any needs: a programming error */
	req->headers[req->nheaders].name = xstrdup(name);
	req->headers[req->nheaders].value = xstrdup(value);
	req->nheaders++;
}

void http_redirect(struct http_request *req, const char *location)
{
	req->status = 303;
	http_add_header(req, "Location", location);
}

void http_set_cookie(struct http_request *req, const char *name, const char *value, long max_age)
{
	char age[32] = "";

	if (max_age >= 0)
		snprintf(age, sizeof(age), "; Max-Age=%ld", max_age);
	char *cookie = xasprintf("%s=%s; Path=/; HttpOnly; SameSite=Strict%s%s", name, value,
	                         req->https ? "; Secure" : "", age);
	http_add_header(req, "Set-Cookie", cookie);
	free(cookie);
}

bool http_method_is(const struct http_request *req, const char *m)
{
	if (strcmp(m, "GET") == 0 && strcmp(req->method, "HEAD") == 0)
		return true;
	return strcmp(req->method, m) == 0;
}

static bool http_is_api(const struct http_request *req)
{
	return strcmp(req->path, "/api/v1") == 0 || strncmp(req->path, "/api/v1/", 8) == 0;
}

/* Error for what happens before any page or API code runs: plain text, or the API's JSON error (the
 * message without its leading status) on an API path. */
static void http_plain(struct http_request *req, int status, const char *text)
{
	req->status = status;
	evbuffer_drain(req->out, evbuffer_get_length(req->out));
	if (http_is_api(req)) {
		const char *space = strchr(text, ' ');
		const char *message = space != NULL && space - text == 3 ? space + 1 : text;
		req->content_type = "application/json";
		api_error_body(req->out, NULL, message);
		return;
	}
	req->content_type = "text/plain; charset=utf-8";
	evbuffer_add_printf(req->out, "%s\n", text);
}

/* A Host that is not one of admin_hostnames (DNS rebinding, or a name the configuration lacks): 421. */
static void http_misdirected(struct http_request *req, const char *host)
{
	char shown[101], text[300];
	size_t i;

	for (i = 0; host != NULL && host[i] != '\0' && i < sizeof(shown) - 1; i++)
		shown[i] = host[i] >= 0x20 && host[i] < 0x7f ? host[i] : '?';
	shown[i] = '\0';
	log_warn("mxadmin", "client=%s refused: Host '%s' is not in admin_hostnames", req->client_addr,
	         shown);
	if (host == NULL)
		snprintf(text, sizeof(text), "421 Misdirected Request: no Host header (admin_hostnames)");
	else
		snprintf(text, sizeof(text),
		         "421 Misdirected Request: Host '%s' is not one of admin_hostnames in mxd.conf",
		         shown);
	http_plain(req, 421, text);
}

static enum MHD_Result http_send(struct http_request *req)
{
	size_t len = evbuffer_get_length(req->out);
	void *data = len > 0 ? evbuffer_pullup(req->out, -1) : NULL;
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_COPY);

	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type",
	                        req->content_type != NULL ? req->content_type : "text/html; charset=utf-8");
	MHD_add_response_header(resp, "Content-Security-Policy", HTTP_CSP);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
	MHD_add_response_header(resp, "Cache-Control", req->cacheable ? "public, max-age=3600" : "no-store");
	for (size_t i = 0; i < req->nheaders; i++)
		MHD_add_response_header(resp, req->headers[i].name, req->headers[i].value);
	enum MHD_Result ret = MHD_queue_response(req->conn, (unsigned)req->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void http_request_init(struct http_request *req, struct http_server *srv, struct MHD_Connection *conn,
                              const char *url, const char *method)
{
	memset(req, 0, sizeof(*req));
	req->conn = conn;
	req->ctx = srv->ctx;
	req->path = url;
	req->method = strcmp(method, "HEAD") == 0 ? "GET" : method;
	req->https = srv->https;
	req->status = 200;
	req->out = xevbuffer_new();
	const union MHD_ConnectionInfo *info =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (info != NULL && info->client_addr != NULL) {
		size_t salen = info->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
		                                                        : sizeof(struct sockaddr_in);
		memcpy(&req->client_sa, info->client_addr, salen);
	}
	netaddr_str((const struct sockaddr *)&req->client_sa, req->client_addr, sizeof(req->client_addr));
}

static void http_request_free(struct http_request *req)
{
	for (size_t i = 0; i < req->nheaders; i++) {
		free(req->headers[i].name);
		free(req->headers[i].value);
	}
	form_free(&req->form);
	admin_actor_clear(&req->actor);
	evbuffer_free(req->out);
	sodium_memzero(req->session_id, sizeof(req->session_id));
}

/* A state-changing request that says where it comes from must come from us. Under our
 * "Referrer-Policy: no-referrer", browsers send "Origin: null" with every form POST (Fetch standard,
 * "serializing a request origin"): that one counts as ours when Sec-Fetch-Site says same-origin. */
static bool http_same_origin(const struct http_request *req)
{
	const char *origin = http_header(req, "Origin"), *host = http_header(req, "Host");
	const char *site = http_header(req, "Sec-Fetch-Site");

	if (site != NULL && strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0)
		return false;
	if (origin == NULL)
		return true;
	if (strcmp(origin, "null") == 0)
		return site != NULL && strcmp(site, "same-origin") == 0;
	if (host == NULL)
		return false;
	const char *scheme = req->https ? "https://" : "http://";
	return strncmp(origin, scheme, strlen(scheme)) == 0 && strcasecmp(origin + strlen(scheme), host) == 0;
}

/* Parse the body by its Content-Type into req->form. */
static void http_parse_body(struct http_request *req, const struct http_pending *p)
{
	const char *type = http_header(req, "Content-Type");
	const char *error = NULL;

	if (p->len == 0) {
		req->form = form_new();
	} else if (type != NULL && str_has_prefix_ci(type, "application/x-www-form-urlencoded")) {
		if (form_parse_urlencoded(p->body, p->len, &req->form, &error) < 0)
			req->form_error = error;
	} else if (type != NULL && str_has_prefix_ci(type, "application/json")) {
		if (json_parse_object(p->body, p->len, &req->form, &error) < 0)
			req->form_error = error;
	} else {
		req->form_error = "unsupported Content-Type: send application/x-www-form-urlencoded or "
		                  "application/json";
	}
	if (req->form == NULL)
		req->form = form_new();
}

static void http_handle(struct http_server *srv, struct http_request *req, const struct http_pending *p)
{
	bool reading = http_method_is(req, "GET");

	if (!reading) {
		http_parse_body(req, p);
		if (!http_same_origin(req)) {
			http_plain(req, 403, "403 Forbidden: cross-site request");
			return;
		}
	} else {
		req->form = form_new();
	}
	if (strcmp(req->path, "/static/style.css") == 0) {
		if (!reading) {
			http_plain(req, 405, "405 Method Not Allowed");
			http_add_header(req, "Allow", "GET, HEAD");
			return;
		}
		evbuffer_add(req->out, admin_style_css, sizeof(admin_style_css));
		req->content_type = "text/css; charset=utf-8";
		req->cacheable = true;
		return;
	}
	if (http_is_api(req))
		api_dispatch(req);
	else
		pages_dispatch(req);
}

static enum MHD_Result http_access(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct http_pending *p = *con_cls;
	struct http_request req;
	enum MHD_Result ret;

	if (p == NULL) {
		p = xcalloc(1, sizeof(*p));
		*con_cls = p;
		http_request_init(&req, srv, conn, url, method);
		const char *length = http_header(&req, "Content-Length");
		uint64_t n;
		bool answer = true;
		const char *host = http_header(&req, "Host");
		if (!cidr_list_match(srv->allow, (const struct sockaddr *)&req.client_sa)) {
			log_warn("mxadmin", "client=%s refused: not in admin_allow", req.client_addr);
			http_plain(&req, 403, "403 Forbidden: your address is not in admin_allow");
		} else if (!hostnames_match(srv->hostnames, host)) {
			http_misdirected(&req, host);
		} else if (length != NULL && (str_to_u64(length, &n) < 0 || n > HTTP_BODY_MAX)) {
			http_plain(&req, 413, "413 Content Too Large");
		} else {
			answer = false;
		}
		ret = answer ? http_send(&req) : MHD_YES;
		p->answered = answer;
		http_request_free(&req);
		return ret;
	}
	if (*upload_data_size > 0) {
		if (!p->answered) {
			if (p->len + *upload_data_size > HTTP_BODY_MAX)
				return MHD_NO; /* no Content-Length, and too much: drop the connection */
			if (p->len + *upload_data_size > p->cap) {
				p->cap = p->len + *upload_data_size;
				p->body = xrealloc(p->body, p->cap);
			}
			memcpy(p->body + p->len, upload_data, *upload_data_size);
			p->len += *upload_data_size;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (p->answered)
		return MHD_YES;
	http_request_init(&req, srv, conn, url, method);
	http_handle(srv, &req, p);
	ret = http_send(&req);
	http_request_free(&req);
	p->answered = true;
	return ret;
}

static void http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
	struct http_pending *p = *con_cls;

	if (p == NULL)
		return;
	if (p->body != NULL)
		sodium_memzero(p->body, p->cap); /* may hold a password */
	free(p->body);
	free(p);
	*con_cls = NULL;
}

static void http_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	size_t len = strlen(buf);
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	log_warn("mxadmin", "http: %s", buf);
}

int http_server_start(struct admin_ctx *ctx, int fd, const char *cert, const char *key,
                      struct http_server **srv_r, const char **error_r)
{
	static __thread char err[512];
	struct http_server *srv = xcalloc(1, sizeof(*srv));
	const char *error;

	srv->ctx = ctx;
	if (cidr_list_parse(ctx->cfg->admin_allow, &srv->allow, &error) < 0) {
		snprintf(err, sizeof(err), "admin_allow: %s", error);
		*error_r = err;
		free(srv);
		return -1;
	}
	if (hostnames_parse(ctx->cfg->admin_hostnames, ctx->cfg->admin_listen, &srv->hostnames, error_r) <
	    0) {
		http_server_stop(&srv);
		return -1;
	}
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	if (cert != NULL) {
		srv->https = true;
		srv->cert = xstrdup(cert);
		srv->key = xstrdup(key);
		flags |= MHD_USE_TLS;
	}
	/* Options for TLS must not be given without it: MHD_OPTION_END ends the list early then. */
	srv->daemon = MHD_start_daemon(
	    flags, 0, NULL, NULL, http_access, srv, MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, srv,
	    MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED, http_completed, srv,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_CONNECTION_LIMIT, (unsigned)256,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)32, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)(64 * 1024), srv->https ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, srv->cert,
	    MHD_OPTION_HTTPS_MEM_KEY, srv->key, MHD_OPTION_HTTPS_PRIORITIES,
	    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2", MHD_OPTION_END);
	if (srv->daemon == NULL) {
		snprintf(err, sizeof(err), "admin_listen: cannot start the HTTP server%s",
		         srv->https ? " (check admin_tls_cert_file and admin_tls_key_file)" : "");
		*error_r = err;
		http_server_stop(&srv);
		return -1;
	}
	*srv_r = srv;
	return 0;
}

void http_server_stop(struct http_server **srvp)
{
	struct http_server *srv = *srvp;

	if (srv == NULL)
		return;
	if (srv->daemon != NULL)
		MHD_stop_daemon(srv->daemon);
	cidr_list_free(&srv->allow);
	hostnames_free(&srv->hostnames);
	if (srv->key != NULL)
		sodium_memzero(srv->key, strlen(srv->key));
	free(srv->cert);
	free(srv->key);
	free(srv);
	*srvp = NULL;
}
