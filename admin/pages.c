/*
 * pages: see pages.h. This file: the route table and dispatch, the helpers every page uses, and the
 * login and logout pages.
 */
#include "admin/pages.h"

#include "admin/html.h"
#include "admin/session.h"
#include "mxd/common/log.h"
#include "mxd/common/util.h"

#include <event2/buffer.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum page_flags {
	PAGE_PUBLIC = 1 << 0, /* no session needed (the login page) */
};

static void page_login_form(struct http_request *req);
static void page_login(struct http_request *req);
static void page_logout(struct http_request *req);

static const struct page_route {
	const char *method, *path;
	void (*run)(struct http_request *req);
	unsigned flags;
} page_table[] = {
    {"GET", "/login", page_login_form, PAGE_PUBLIC},
    {"POST", "/login", page_login, PAGE_PUBLIC},
    {"POST", "/logout", page_logout, 0},
    {"GET", "/", page_dashboard, 0},
    {"GET", "/domains", page_domains, 0},
    {"POST", "/domains/add", page_domain_add, 0},
    {"GET", "/domain", page_domain, 0},
    {"POST", "/domain/edit", page_domain_edit, 0},
    {"POST", "/domain/report", page_domain_report, 0},
    {"POST", "/domain/enable", page_domain_enable, 0},
    {"POST", "/domain/disable", page_domain_disable, 0},
    {"GET", "/domain/delete", page_domain_delete_confirm, 0},
    {"POST", "/domain/delete", page_domain_delete, 0},
    {"GET", "/aliases", page_aliases, 0},
    {"POST", "/aliases/add", page_alias_add, 0},
    {"GET", "/alias", page_alias, 0},
    {"POST", "/alias/edit", page_alias_edit, 0},
    {"POST", "/alias/fallback", page_alias_fallback, 0},
    {"POST", "/alias/enable", page_alias_enable, 0},
    {"POST", "/alias/disable", page_alias_disable, 0},
    {"GET", "/alias/delete", page_alias_delete_confirm, 0},
    {"POST", "/alias/delete", page_alias_delete, 0},
    {"GET", "/aliasdomains", page_aliasdomains, 0},
    {"POST", "/aliasdomains/add", page_aliasdomain_add, 0},
    {"POST", "/aliasdomain/enable", page_aliasdomain_enable, 0},
    {"POST", "/aliasdomain/disable", page_aliasdomain_disable, 0},
    {"GET", "/aliasdomain/delete", page_aliasdomain_delete_confirm, 0},
    {"POST", "/aliasdomain/delete", page_aliasdomain_delete, 0},
    {"GET", "/routes", page_routes, 0},
    {"POST", "/routes/add", page_route_add, 0},
    {"POST", "/routes/delhop", page_route_del_hop, 0},
    {"POST", "/routes/sethop", page_route_set_hop, 0},
    {"POST", "/routes/delete", page_route_delete, 0},
    {"GET", "/log", page_log, 0},
    {"GET", "/check", page_check, 0},
    {"POST", "/check", page_check_run, 0},
    {"GET", "/queue", page_queue, 0},
    {"GET", "/queue/show", page_queue_show, 0},
    {"POST", "/queue/delete", page_queue_delete, 0},
    {"POST", "/queue/hold", page_queue_hold, 0},
    {"POST", "/queue/release", page_queue_release, 0},
    {"POST", "/queue/flush", page_queue_flush, 0},
    {"GET", "/queue/failed", page_queue_failed, 0},
    {"POST", "/queue/resend", page_queue_resend, 0},
    {"GET", "/admins", page_admins, 0},
    {"POST", "/admins/add", page_admin_add, 0},
    {"POST", "/admins/delete", page_admin_delete, 0},
    {"POST", "/admins/passwd", page_admin_passwd, 0},
    {"POST", "/admins/role", page_admin_role, 0},
    {"GET", "/account", page_account, 0},
    {"POST", "/account/password", page_account_password, 0},
    {"GET", "/audit", page_audit, 0},
};

const char *page_param(const struct http_request *req, const char *name)
{
	return form_get(req->form, name);
}

const char *page_url(char *buf, size_t size, const char *path, const char *name, const char *value)
{
	char enc[3 * 1024 + 1];

	snprintf(buf, size, "%s?%s=%s", path, name,
	         html_url_param(value != NULL ? value : "", enc, sizeof(enc)));
	return buf;
}

static void page_start(struct http_request *req, const char *title, const char *section, const char *error,
                       const char *warning)
{
	const char *ignored;
	struct html_page page = {
	    .title = title,
	    .section = section,
	    .admin = req->authenticated ? req->actor.admin.name : NULL,
	    .superadmin = req->actor.admin.superadmin,
	    .csrf_token = req->session.csrf_token,
	    .flash = req->session.flash,
	    .error = error,
	    .warning = warning,
	};
	req->content_type = "text/html; charset=utf-8";
	html_page_begin(req->out, &page);
	if (req->session.flash[0] != '\0' && req->session_id[0] != '\0') {
		db_admin_session_set_flash(req->ctx->db, req->session_id, "", &ignored);
		req->session.flash[0] = '\0';
	}
}

void page_begin(struct http_request *req, const char *title, const char *section)
{
	page_start(req, title, section, NULL, NULL);
}

void page_begin_warning(struct http_request *req, const char *title, const char *section, const char *warning)
{
	page_start(req, title, section, NULL, warning);
}

void page_end(struct http_request *req)
{
	html_page_end(req->out);
}

static const char *page_status_title(int status)
{
	switch (status) {
	case 400:
		return "Bad request";
	case 401:
		return "Not logged in";
	case 403:
		return "Forbidden";
	case 404:
		return "Not found";
	case 405:
		return "Method not allowed";
	case 409:
		return "Conflict";
	case 429:
		return "Too many requests";
	default:
		return "Error";
	}
}

void page_fail(struct http_request *req, const struct admin_err *err, const char *back_url)
{
	evbuffer_drain(req->out, evbuffer_get_length(req->out));
	req->status = err->status >= 400 ? err->status : 500;
	if (err->status == 429 && err->retry_after > 0) {
		char retry[32];
		snprintf(retry, sizeof(retry), "%lld", (long long)err->retry_after);
		http_add_header(req, "Retry-After", retry);
	}
	page_start(req, page_status_title(req->status), NULL, err->message, NULL);
	if (back_url != NULL)
		html_f(req->out, "<p><a href=\"%s\">Back</a></p>\n", back_url);
	page_end(req);
}

void page_done(struct http_request *req, const char *location, const struct admin_err *err, const char *fmt,
               ...)
{
	char msg[DB_SESSION_FLASH_MAX + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (err != NULL && err->warning[0] != '\0')
		session_flash(req, "%s %s", msg, err->warning);
	else
		session_flash(req, "%s", msg);
	http_redirect(req, location);
}

static void page_fail_status(struct http_request *req, int status, const char *message, const char *back)
{
	struct admin_err err = {.status = status};

	str_copy(err.message, sizeof(err.message), message);
	page_fail(req, &err, back);
}

void pages_dispatch(struct http_request *req)
{
	const struct page_route *route = NULL;
	bool path_known = false;
	struct admin_err err = {0};

	for (size_t i = 0; i < MXD_ARRAY_SIZE(page_table); i++) {
		if (strcmp(page_table[i].path, req->path) != 0)
			continue;
		path_known = true;
		if (http_method_is(req, page_table[i].method))
			route = &page_table[i];
	}
	if (route == NULL) {
		if (path_known)
			http_add_header(req, "Allow", "GET, HEAD, POST");
		page_fail_status(req, path_known ? 405 : 404,
		                 path_known ? "Method not allowed." : "No such page.", "/");
		return;
	}
	bool post = strcmp(route->method, "POST") == 0;
	if ((route->flags & PAGE_PUBLIC) == 0) {
		int rc = session_load(req, &err);
		if (rc < 0) {
			page_fail(req, &err, NULL);
			return;
		}
		if (rc > 0 && !post) {
			http_redirect(req, "/login");
			return;
		}
		if (rc > 0) {
			page_fail_status(req, 403, "Your session has ended: log in again.", "/login");
			return;
		}
	}
	if (post && req->form_error != NULL) {
		page_fail_status(req, 400, req->form_error, "/");
		return;
	}
	if (post && (route->flags & PAGE_PUBLIC) == 0 &&
	    !session_csrf_ok(req, page_param(req, "csrf_token"))) {
		log_warn("mxadmin", "client=%s admin=%s refused: missing or wrong CSRF token on %s",
		         req->client_addr, req->actor.admin.name, req->path);
		page_fail_status(
		    req, 403, "The form's security token is missing or wrong: reload the page and try again.",
		    "/");
		return;
	}
	route->run(req);
}

/* --- login and logout --- */

static void page_login_render(struct http_request *req, const char *error)
{
	char token[DB_ADMIN_SECRET_SIZE];
	const char *name = page_param(req, "name");

	session_login_token_new(req, token);
	page_start(req, "Log in", NULL, error, NULL);
	html_f(req->out,
	       "<form method=\"post\" action=\"/login\" class=\"stack narrow\">\n"
	       "<input type=\"hidden\" name=\"login_token\" value=\"%s\">\n"
	       "<label>Name <input name=\"name\" value=\"%s\" autocomplete=\"username\" required "
	       "autofocus></label>\n"
	       "<label>Password <input type=\"password\" name=\"password\" autocomplete=\"current-password\" "
	       "required></label>\n"
	       "<button type=\"submit\">Log in</button>\n</form>\n",
	       token, name != NULL ? name : "");
	page_end(req);
}

static void page_login_form(struct http_request *req)
{
	page_login_render(req, NULL);
}

static void page_login(struct http_request *req)
{
	struct admin_err err = {0};

	if (req->form_error != NULL) {
		req->status = 400;
		page_login_render(req, req->form_error);
		return;
	}
	if (!session_login_token_ok(req, page_param(req, "login_token"))) {
		req->status = 403;
		page_login_render(req, "The login form expired or was not ours: please try again.");
		return;
	}
	if (session_login(req, page_param(req, "name"), page_param(req, "password"), &err) < 0) {
		req->status = err.status;
		page_login_render(req, err.message);
		return;
	}
	http_redirect(req, "/");
}

static void page_logout(struct http_request *req)
{
	session_logout(req);
	http_redirect(req, "/login");
}
