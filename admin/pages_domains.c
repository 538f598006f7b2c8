/*
 * pages_domains: the domain pages (list with alias counts, add, edit description and alias limit,
 * enable/disable, delete behind a confirmation page) and the alias domain pages. Domain admins see
 * their own domains and may edit their descriptions; everything else here is the superadmins'.
 */
#include "admin/html.h"
#include "admin/pages.h"
#include "mxd/common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define URL_MAX 1200

void page_domains(struct http_request *req)
{
	struct db_domain *list;
	struct admin_err err;
	char url[URL_MAX], limit[16];
	size_t n;

	if (admin_op_domain_list(req->ctx, &req->actor, &list, &n, &err) < 0) {
		page_fail(req, &err, "/");
		return;
	}
	page_begin(req, "Domains", "domains");
	if (n == 0)
		html_f(req->out, "<p>No domains%s.</p>\n",
		       req->actor.admin.superadmin ? " yet" : " are assigned to you");
	else
		html_f(req->out,
		       "<table>\n<thead><tr><th>Domain</th><th>Description</th><th>Aliases</th>"
		       "<th>Alias domains</th><th>Active</th><th>Actions</th></tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < n; i++) {
		const struct db_domain *d = &list[i];
		if (d->alias_limit > 0)
			snprintf(limit, sizeof(limit), " / %u", d->alias_limit);
		else
			limit[0] = '\0';
		html_f(req->out,
		       "<tr><td><a href=\"%s\">%s</a></td><td>%s</td><td>%u%s</td><td>%u</td><td>%s</td><td>",
		       page_url(url, sizeof(url), "/aliases", "domain", d->name), d->name, d->description,
		       d->alias_count, limit, d->alias_domain_count, d->active ? "yes" : "no");
		html_f(req->out, "<a href=\"%s\">Edit</a>",
		       page_url(url, sizeof(url), "/domain", "name", d->name));
		if (req->actor.admin.superadmin) {
			const char *hidden[] = {"name", d->name, NULL};
			html_button_form(req->out, req->session.csrf_token,
			                 d->active ? "/domain/disable" : "/domain/enable",
			                 d->active ? "Disable" : "Enable", "link", hidden);
			html_f(req->out, " <a href=\"%s\" class=\"danger\">Delete</a>",
			       page_url(url, sizeof(url), "/domain/delete", "name", d->name));
		}
		html_f(req->out, "</td></tr>\n");
	}
	if (n > 0)
		html_f(req->out, "</tbody>\n</table>\n");
	if (req->actor.admin.superadmin) {
		html_f(req->out, "<h2>Add a domain</h2>\n<form method=\"post\" action=\"/domains/add\" "
		                 "class=\"stack\">\n");
		html_csrf_field(req->out, req->session.csrf_token);
		html_f(req->out,
		       "<label>Domain <input name=\"domain\" required placeholder=\"example.com\"></label>\n"
		       "<label>Description <input name=\"description\" maxlength=\"200\"></label>\n"
		       "<label>Alias limit (0: none) <input name=\"alias_limit\" inputmode=\"numeric\" "
		       "value=\"0\"></label>\n<button type=\"submit\">Add domain</button>\n</form>\n");
	}
	page_end(req);
	free(list);
}

void page_domain_add(struct http_request *req)
{
	struct admin_err err;
	const char *name = page_param(req, "domain");

	if (admin_op_domain_add(req->ctx, &req->actor, name, page_param(req, "description"),
	                        page_param(req, "alias_limit"), &err) < 0) {
		page_fail(req, &err, "/domains");
		return;
	}
	page_done(req, "/domains", &err, "Domain %s added.", name);
}

void page_domain(struct http_request *req)
{
	struct db_domain d;
	struct admin_err err;
	char url[URL_MAX];

	if (admin_op_domain_get(req->ctx, &req->actor, http_query(req, "name"), &d, &err) < 0) {
		page_fail(req, &err, "/domains");
		return;
	}
	page_begin(req, d.name, "domains");
	html_f(req->out, "<p><a href=\"%s\">Aliases (%u)</a> &middot; %s</p>\n",
	       page_url(url, sizeof(url), "/aliases", "domain", d.name), d.alias_count,
	       d.active ? "active" : "disabled: mail to it is refused");
	html_f(req->out, "<form method=\"post\" action=\"/domain/edit\" class=\"stack\">\n");
	html_csrf_field(req->out, req->session.csrf_token);
	html_f(req->out,
	       "<input type=\"hidden\" name=\"name\" value=\"%s\">\n"
	       "<label>Description <input name=\"description\" value=\"%s\" maxlength=\"200\"></label>\n",
	       d.name, d.description);
	if (req->actor.admin.superadmin) {
		html_f(req->out,
		       "<label>Alias limit (0: none) <input name=\"alias_limit\" value=\"%u\" "
		       "inputmode=\"numeric\">"
		       "</label>\n"
		       "<label>Messages per hour, on each MX host (0: no limit) <input "
		       "name=\"hourly_message_limit\" value=\"%u\" inputmode=\"numeric\"></label>\n",
		       d.alias_limit, d.hourly_message_limit);
		html_f(req->out, "<label>DMARC From rewrite (p=reject senders passing by SPF only) "
		                 "<select name=\"dmarc_from_rewrite\">");
		static const char *const choices[] = {"default", "yes", "no"};
		for (size_t i = 0; i < 3; i++)
			html_f(req->out, "<option value=\"%s\"%s>%s</option>", choices[i],
			       strcmp(choices[i], admin_from_rewrite_str(d.dmarc_from_rewrite)) == 0
			           ? " selected"
			           : "",
			       i == 0 ? "default (dmarc_from_rewrite setting)" : choices[i]);
		html_f(req->out, "</select></label>\n");
	} else if (d.hourly_message_limit > 0) {
		html_f(req->out,
		       "<p>At most %u messages per hour are accepted for this domain on each MX host.</p>\n",
		       d.hourly_message_limit);
	}
	html_f(req->out, "<button type=\"submit\">Save</button>\n</form>\n");
	html_f(req->out, "<form method=\"post\" action=\"/domain/report\" class=\"stack\">\n");
	html_csrf_field(req->out, req->session.csrf_token);
	html_f(req->out,
	       "<input type=\"hidden\" name=\"name\" value=\"%s\">\n"
	       "<label>Report address (notices of forwards that are delayed or fail; empty: none) "
	       "<input name=\"report_address\" value=\"%s\"></label>\n"
	       "<button type=\"submit\">Save report address</button>\n</form>\n",
	       d.name, d.report_address);
	if (req->actor.admin.superadmin) {
		const char *hidden[] = {"name", d.name, NULL};
		html_f(req->out, "<p>");
		html_button_form(req->out, req->session.csrf_token,
		                 d.active ? "/domain/disable" : "/domain/enable",
		                 d.active ? "Disable domain" : "Enable domain", NULL, hidden);
		html_f(req->out, " <a href=\"%s\" class=\"danger\">Delete domain</a></p>\n",
		       page_url(url, sizeof(url), "/domain/delete", "name", d.name));
	}
	html_f(req->out, "<p class=\"muted\">Created %s", html_time(d.created, url, sizeof(url)));
	html_f(req->out, ", changed %s (UTC).</p>\n", html_time(d.modified, url, sizeof(url)));
	page_end(req);
}

void page_domain_report(struct http_request *req)
{
	struct admin_err err;
	const char *name = page_param(req, "name");
	char url[URL_MAX];

	page_url(url, sizeof(url), "/domain", "name", name);
	if (admin_op_domain_set_report(req->ctx, &req->actor, name, page_param(req, "report_address"), &err) <
	    0) {
		page_fail(req, &err, url);
		return;
	}
	page_done(req, url, &err, "Report address of %s saved.", name);
}

void page_domain_edit(struct http_request *req)
{
	struct admin_err err;
	const char *name = page_param(req, "name");
	char url[URL_MAX];

	page_url(url, sizeof(url), "/domain", "name", name);
	const char *hourly = page_param(req, "hourly_message_limit");
	const char *rewrite = page_param(req, "dmarc_from_rewrite");
	if ((hourly != NULL &&
	     admin_op_domain_set_hourly_limit(req->ctx, &req->actor, name, hourly, true, &err) < 0) ||
	    admin_op_domain_update(req->ctx, &req->actor, name, page_param(req, "description"),
	                           page_param(req, "alias_limit"), &err) < 0 ||
	    (hourly != NULL &&
	     admin_op_domain_set_hourly_limit(req->ctx, &req->actor, name, hourly, false, &err) < 0) ||
	    (rewrite != NULL &&
	     admin_op_domain_set_from_rewrite(req->ctx, &req->actor, name, rewrite, &err) < 0)) {
		page_fail(req, &err, url);
		return;
	}
	page_done(req, url, &err, "Domain %s saved.", name);
}

static void page_domain_active(struct http_request *req, bool active)
{
	struct admin_err err;
	const char *name = page_param(req, "name");

	if (admin_op_domain_set_active(req->ctx, &req->actor, name, active, &err) < 0) {
		page_fail(req, &err, "/domains");
		return;
	}
	page_done(req, "/domains", &err, "Domain %s %s.", name, active ? "enabled" : "disabled");
}

void page_domain_enable(struct http_request *req)
{
	page_domain_active(req, true);
}

void page_domain_disable(struct http_request *req)
{
	page_domain_active(req, false);
}

void page_domain_delete_confirm(struct http_request *req)
{
	struct db_domain d;
	struct admin_err err;

	if (admin_op_domain_get(req->ctx, &req->actor, http_query(req, "name"), &d, &err) < 0) {
		page_fail(req, &err, "/domains");
		return;
	}
	if (!req->actor.admin.superadmin) {
		admin_err_set(&err, 403, "", "not allowed: this needs a superadmin");
		page_fail(req, &err, "/domains");
		return;
	}
	page_begin(req, "Delete domain", "domains");
	html_f(req->out,
	       "<p>Delete <strong>%s</strong> with its %u aliases and %u alias domains? Mail to it will be "
	       "refused from then on. This cannot be undone.</p>\n",
	       d.name, d.alias_count, d.alias_domain_count);
	const char *hidden[] = {"name", d.name, NULL};
	html_button_form(req->out, req->session.csrf_token, "/domain/delete", "Delete domain", "danger",
	                 hidden);
	html_f(req->out, " <a href=\"/domains\">Cancel</a>\n");
	page_end(req);
}

void page_domain_delete(struct http_request *req)
{
	struct admin_err err;
	const char *name = page_param(req, "name");

	if (admin_op_domain_del(req->ctx, &req->actor, name, &err) < 0) {
		page_fail(req, &err, "/domains");
		return;
	}
	page_done(req, "/domains", &err, "Domain %s deleted.", name);
}

/* --- alias domains --- */

void page_aliasdomains(struct http_request *req)
{
	struct db_alias_domain *list;
	struct admin_err err;
	char url[URL_MAX];
	size_t n;

	if (admin_op_aliasdomain_list(req->ctx, &req->actor, &list, &n, &err) < 0) {
		page_fail(req, &err, "/");
		return;
	}
	page_begin(req, "Alias domains", "aliasdomains");
	html_f(req->out,
	       "<p class=\"muted\">Mail to user@alias-domain is handled as mail to user@target.</p>\n");
	if (n == 0)
		html_f(req->out, "<p>No alias domains.</p>\n");
	else
		html_f(req->out, "<table>\n<thead><tr><th>Alias domain</th><th>Target</th><th>Active</th>"
		                 "<th>Actions</th></tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < n; i++) {
		const struct db_alias_domain *ad = &list[i];
		html_f(req->out, "<tr><td>%s</td><td><a href=\"%s\">%s</a></td><td>%s</td><td>",
		       ad->alias_domain, page_url(url, sizeof(url), "/aliases", "domain", ad->target_domain),
		       ad->target_domain, ad->active ? "yes" : "no");
		if (req->actor.admin.superadmin) {
			const char *hidden[] = {"alias_domain", ad->alias_domain, NULL};
			html_button_form(req->out, req->session.csrf_token,
			                 ad->active ? "/aliasdomain/disable" : "/aliasdomain/enable",
			                 ad->active ? "Disable" : "Enable", "link", hidden);
			html_f(req->out, " <a href=\"%s\" class=\"danger\">Delete</a>",
			       page_url(url, sizeof(url), "/aliasdomain/delete", "alias_domain",
			                ad->alias_domain));
		}
		html_f(req->out, "</td></tr>\n");
	}
	if (n > 0)
		html_f(req->out, "</tbody>\n</table>\n");
	free(list);
	if (req->actor.admin.superadmin) {
		html_f(req->out,
		       "<h2>Add an alias domain</h2>\n<form method=\"post\" action=\"/aliasdomains/add\" "
		       "class=\"stack\">\n");
		html_csrf_field(req->out, req->session.csrf_token);
		html_f(
		    req->out,
		    "<label>Alias domain <input name=\"alias_domain\" required placeholder=\"example.net\">"
		    "</label>\n<label>Target domain <input name=\"target_domain\" required "
		    "placeholder=\"example.com\"></label>\n<button type=\"submit\">Add alias domain</button>"
		    "\n</form>\n");
	}
	page_end(req);
}

void page_aliasdomain_add(struct http_request *req)
{
	struct admin_err err;
	const char *alias = page_param(req, "alias_domain");

	if (admin_op_aliasdomain_add(req->ctx, &req->actor, alias, page_param(req, "target_domain"), &err) <
	    0) {
		page_fail(req, &err, "/aliasdomains");
		return;
	}
	page_done(req, "/aliasdomains", &err, "Alias domain %s added.", alias);
}

static void page_aliasdomain_active(struct http_request *req, bool active)
{
	struct admin_err err;
	const char *alias = page_param(req, "alias_domain");

	if (admin_op_aliasdomain_set_active(req->ctx, &req->actor, alias, active, &err) < 0) {
		page_fail(req, &err, "/aliasdomains");
		return;
	}
	page_done(req, "/aliasdomains", &err, "Alias domain %s %s.", alias, active ? "enabled" : "disabled");
}

void page_aliasdomain_enable(struct http_request *req)
{
	page_aliasdomain_active(req, true);
}

void page_aliasdomain_disable(struct http_request *req)
{
	page_aliasdomain_active(req, false);
}

void page_aliasdomain_delete_confirm(struct http_request *req)
{
	const char *alias = http_query(req, "alias_domain");
	struct admin_err err;

	if (!req->actor.admin.superadmin || alias == NULL) {
		admin_err_set(&err, alias == NULL ? 400 : 403, "",
		              alias == NULL ? "alias domain: missing"
		                            : "not allowed: this needs a superadmin");
		page_fail(req, &err, "/aliasdomains");
		return;
	}
	page_begin(req, "Delete alias domain", "aliasdomains");
	html_f(req->out, "<p>Delete the alias domain <strong>%s</strong>? Mail to it will be refused.</p>\n",
	       alias);
	const char *hidden[] = {"alias_domain", alias, NULL};
	html_button_form(req->out, req->session.csrf_token, "/aliasdomain/delete", "Delete alias domain",
	                 "danger", hidden);
	html_f(req->out, " <a href=\"/aliasdomains\">Cancel</a>\n");
	page_end(req);
}

void page_aliasdomain_delete(struct http_request *req)
{
	struct admin_err err;
	const char *alias = page_param(req, "alias_domain");

	if (admin_op_aliasdomain_del(req->ctx, &req->actor, alias, &err) < 0) {
		page_fail(req, &err, "/aliasdomains");
		return;
	}
	page_done(req, "/aliasdomains", &err, "Alias domain %s deleted.", alias);
}
