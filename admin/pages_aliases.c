/*
 * pages_aliases: the aliases of one domain: search, add (several destinations, one per line or comma
 * separated; "@" is the catch-all), edit, enable/disable, delete behind a confirmation page. Protected
 * addresses (postmaster@, abuse@) are marked; only superadmins may disable or delete them, after a
 * warning.
 */
#include "admin/html.h"
#include "admin/pages.h"
#include "mxd/common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define URL_MAX 1200

static void aliases_dests(struct http_request *req, const struct db_alias *a, const char *sep)
{
	for (size_t j = 0; j < a->ndestinations; j++) {
		if (j > 0)
			html_f(req->out, "%s",
			       sep); /* sep is ours: "<br>" would be escaped, so use newlines */
		html_f(req->out, "%s", a->destinations[j]);
	}
}

void page_aliases(struct http_request *req)
{
	const char *domain = http_query(req, "domain"), *query = http_query(req, "q");
	struct db_alias *list;
	struct admin_err err;
	char url[URL_MAX];
	size_t n;

	if (admin_op_alias_list(req->ctx, &req->actor, domain, query, &list, &n, &err) < 0) {
		page_fail(req, &err, "/domains");
		return;
	}
	const char *dom = n > 0 ? list[0].domain : domain;
	char title[300];
	snprintf(title, sizeof(title), "Aliases of %s", domain);
	page_begin(req, title, "domains");
	html_f(req->out,
	       "<form method=\"get\" action=\"/aliases\" class=\"search\">\n"
	       "<input type=\"hidden\" name=\"domain\" value=\"%s\">\n"
	       "<label>Search <input type=\"search\" name=\"q\" value=\"%s\"></label>\n"
	       "<button type=\"submit\">Search</button>\n</form>\n",
	       dom, query != NULL ? query : "");
	if (n == 0)
		html_f(req->out, "<p>No aliases%s.</p>\n", query != NULL && *query != '\0' ? " match" : "");
	else
		html_f(req->out, "<table>\n<thead><tr><th>Address</th><th>Destinations</th><th>Active</th>"
		                 "<th>Actions</th></tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < n; i++) {
		const struct db_alias *a = &list[i];
		html_f(req->out, "<tr><td><a href=\"%s\">%s</a>%s%s</td><td class=\"dests\">",
		       page_url(url, sizeof(url), "/alias", "address", a->address), a->address,
		       a->address[0] == '@' ? " (catch-all)" : "",
		       admin_ops_alias_protected(a->address) ? " (protected)" : "");
		aliases_dests(req, a, "\n");
		html_f(req->out, "</td><td>%s</td><td>", a->active ? "yes" : "no");
		if (req->actor.admin.superadmin || !admin_ops_alias_protected(a->address) || !a->active) {
			const char *hidden[] = {"address", a->address, NULL};
			html_button_form(req->out, req->session.csrf_token,
			                 a->active ? "/alias/disable" : "/alias/enable",
			                 a->active ? "Disable" : "Enable", "link", hidden);
		}
		if (req->actor.admin.superadmin || !admin_ops_alias_protected(a->address))
			html_f(req->out, " <a href=\"%s\" class=\"danger\">Delete</a>",
			       page_url(url, sizeof(url), "/alias/delete", "address", a->address));
		html_f(req->out, "</td></tr>\n");
	}
	if (n > 0)
		html_f(req->out, "</tbody>\n</table>\n");
	html_f(req->out,
	       "<h2>Add an alias</h2>\n<form method=\"post\" action=\"/aliases/add\" class=\"stack\">\n");
	html_csrf_field(req->out, req->session.csrf_token);
	html_f(req->out,
	       "<input type=\"hidden\" name=\"domain\" value=\"%s\">\n"
	       "<label>Address (local part, or @ for the catch-all) <input name=\"address\" required "
	       "placeholder=\"info\"></label>\n"
	       "<label>Destinations (one per line or comma separated) <textarea name=\"destinations\" "
	       "rows=\"3\" "
	       "required placeholder=\"someone@example.net\"></textarea></label>\n"
	       "<button type=\"submit\">Add alias</button>\n</form>\n",
	       dom);
	page_end(req);
	db_alias_list_free(&list, n);
}

void page_alias_add(struct http_request *req)
{
	const char *domain = page_param(req, "domain"), *address = page_param(req, "address");
	const char *dests[] = {page_param(req, "destinations")};
	struct admin_err err;
	char url[URL_MAX];

	page_url(url, sizeof(url), "/aliases", "domain", domain);
	if (admin_op_alias_add(req->ctx, &req->actor, domain, address, dests, dests[0] != NULL ? 1 : 0,
	                       &err) < 0) {
		page_fail(req, &err, url);
		return;
	}
	page_done(req, url, &err, "Alias %s added.", address);
}

void page_alias(struct http_request *req)
{
	struct db_alias a;
	struct admin_err err;
	char url[URL_MAX];

	if (admin_op_alias_get(req->ctx, &req->actor, http_query(req, "address"), &a, &err) < 0) {
		page_fail(req, &err, "/domains");
		return;
	}
	page_begin(req, a.address, "domains");
	html_f(req->out, "<p><a href=\"%s\">All aliases of %s</a> &middot; %s",
	       page_url(url, sizeof(url), "/aliases", "domain", a.domain), a.domain,
	       a.active ? "active" : "disabled");
	if (admin_ops_alias_protected(a.address))
		html_f(req->out, " &middot; protected address");
	html_f(req->out, "</p>\n");
	html_f(req->out, "<form method=\"post\" action=\"/alias/edit\" class=\"stack\">\n");
	html_csrf_field(req->out, req->session.csrf_token);
	html_f(req->out,
	       "<input type=\"hidden\" name=\"address\" value=\"%s\">\n"
	       "<label>Destinations (one per line or comma separated) <textarea name=\"destinations\" "
	       "rows=\"%zu\" required>",
	       a.address, a.ndestinations + 1);
	aliases_dests(req, &a, "\n");
	html_f(req->out, "</textarea></label>\n<button type=\"submit\">Save</button>\n</form>\n");
	html_f(req->out, "<form method=\"post\" action=\"/alias/fallback\" class=\"stack\">\n");
	html_csrf_field(req->out, req->session.csrf_token);
	html_f(req->out,
	       "<input type=\"hidden\" name=\"address\" value=\"%s\">\n"
	       "<label>Fallback destination (when a destination refuses the mail for good or defers it too "
	       "long; empty: none) <input type=\"text\" name=\"fallback\" value=\"%s\"></label>\n"
	       "<button type=\"submit\">Save fallback</button>\n</form>\n<p>",
	       a.address, a.fallback);
	const char *hidden[] = {"address", a.address, NULL};
	if (req->actor.admin.superadmin || !admin_ops_alias_protected(a.address) || !a.active)
		html_button_form(req->out, req->session.csrf_token,
		                 a.active ? "/alias/disable" : "/alias/enable",
		                 a.active ? "Disable alias" : "Enable alias", NULL, hidden);
	if (req->actor.admin.superadmin || !admin_ops_alias_protected(a.address))
		html_f(req->out, " <a href=\"%s\" class=\"danger\">Delete alias</a>",
		       page_url(url, sizeof(url), "/alias/delete", "address", a.address));
	html_f(req->out, "</p>\n");
	page_end(req);
	db_alias_clear(&a);
}

void page_alias_edit(struct http_request *req)
{
	const char *address = page_param(req, "address");
	const char *dests[] = {page_param(req, "destinations")};
	struct admin_err err;
	char url[URL_MAX];

	page_url(url, sizeof(url), "/alias", "address", address);
	if (admin_op_alias_update(req->ctx, &req->actor, address, dests, dests[0] != NULL ? 1 : 0, &err) <
	    0) {
		page_fail(req, &err, url);
		return;
	}
	page_done(req, url, &err, "Alias %s saved.", address);
}

void page_alias_fallback(struct http_request *req)
{
	const char *address = page_param(req, "address");
	struct admin_err err;
	char url[URL_MAX];

	page_url(url, sizeof(url), "/alias", "address", address);
	if (admin_op_alias_set_fallback(req->ctx, &req->actor, address, page_param(req, "fallback"), &err) <
	    0) {
		page_fail(req, &err, url);
		return;
	}
	page_done(req, url, &err, "Fallback of %s saved.", address);
}

/* Back to the aliases of the domain of address. */
static const char *alias_back(const char *address, char *url, size_t size)
{
	const char *at = address != NULL ? strrchr(address, '@') : NULL;
	return at != NULL ? page_url(url, size, "/aliases", "domain", at + 1) : "/domains";
}

static void page_alias_active(struct http_request *req, bool active)
{
	const char *address = page_param(req, "address");
	struct admin_err err;
	char url[URL_MAX];

	const char *back = alias_back(address, url, sizeof(url));
	if (admin_op_alias_set_active(req->ctx, &req->actor, address, active, &err) < 0) {
		page_fail(req, &err, back);
		return;
	}
	page_done(req, back, &err, "Alias %s %s.", address, active ? "enabled" : "disabled");
}

void page_alias_enable(struct http_request *req)
{
	page_alias_active(req, true);
}

void page_alias_disable(struct http_request *req)
{
	page_alias_active(req, false);
}

void page_alias_delete_confirm(struct http_request *req)
{
	struct db_alias a;
	struct admin_err err;
	char url[URL_MAX];

	if (admin_op_alias_get(req->ctx, &req->actor, http_query(req, "address"), &a, &err) < 0) {
		page_fail(req, &err, "/domains");
		return;
	}
	const char *back = alias_back(a.address, url, sizeof(url));
	bool protect = admin_ops_alias_protected(a.address);
	if (protect && !req->actor.admin.superadmin) {
		admin_err_set(
		    &err, 403, "address",
		    "address '%s': protected (postmaster@ and abuse@ must reach someone): only a superadmin "
		    "can delete it",
		    a.address);
		db_alias_clear(&a);
		page_fail(req, &err, back);
		return;
	}
	page_begin_warning(req, "Delete alias", "domains",
	                   protect
	                       ? "This is a protected address: RFC 5321 requires postmaster@ and RFC 2142 "
	                         "abuse@ to reach someone. Mail to it will be refused unless a catch-all "
	                         "takes it."
	                       : NULL);
	html_f(req->out,
	       "<p>Delete the alias <strong>%s</strong>? Mail to it will no longer be forwarded.</p>\n",
	       a.address);
	const char *hidden[] = {"address", a.address, NULL};
	html_button_form(req->out, req->session.csrf_token, "/alias/delete", "Delete alias", "danger",
	                 hidden);
	html_f(req->out, " <a href=\"%s\">Cancel</a>\n", back);
	page_end(req);
	db_alias_clear(&a);
}

void page_alias_delete(struct http_request *req)
{
	const char *address = page_param(req, "address");
	struct admin_err err;
	char url[URL_MAX];

	const char *back = alias_back(address, url, sizeof(url));
	if (admin_op_alias_del(req->ctx, &req->actor, address, &err) < 0) {
		page_fail(req, &err, back);
		return;
	}
	page_done(req, back, &err, "Alias %s deleted.", address);
}
