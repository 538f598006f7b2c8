/*
 * pages_admins: administrators (superadmins: add, delete, reset a password, set the role and the domains
 * of a domain admin), one's own account (change one's password, given the current one) and the audit
 * log (superadmins: every row; domain admins: the rows about their domains).
 */
#include "admin/html.h"
#include "admin/pages.h"
#include "admin/session.h"
#include "mxd/common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADMIN_DOMAINS_MAX 10000 /* domains in one assignment */

void page_admins(struct http_request *req)
{
	struct db_admin *list;
	struct admin_err err;
	char when[32];
	size_t n;

	if (admin_op_admin_list(req->ctx, &req->actor, &list, &n, &err) < 0) {
		page_fail(req, &err, "/");
		return;
	}
	page_begin(req, "Admins", "admins");
	html_f(req->out, "<table>\n<thead><tr><th>Name</th><th>Role and domains</th><th>Created (UTC)</th>"
	                 "<th>Actions</th></tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < n; i++) {
		const struct db_admin *a = &list[i];
		html_f(req->out,
		       "<tr><td>%s%s</td><td>\n<form method=\"post\" action=\"/admins/role\" "
		       "class=\"inline\">\n",
		       a->name, a->active ? "" : " (disabled)");
		html_csrf_field(req->out, req->session.csrf_token);
		html_f(req->out,
		       "<input type=\"hidden\" name=\"name\" value=\"%s\">\n<label class=\"check\">",
		       a->name);
		if (a->superadmin)
			html_f(req->out, "<input type=\"checkbox\" name=\"superadmin\" value=\"1\" checked>");
		else
			html_f(req->out, "<input type=\"checkbox\" name=\"superadmin\" value=\"1\">");
		html_f(req->out, " superadmin</label>\n<input name=\"domains\" aria-label=\"domains\" "
		                 "placeholder=\"domains, comma separated\" value=\"");
		for (size_t j = 0; j < a->ndomains; j++)
			html_f(req->out, "%s%s", j > 0 ? ", " : "", a->domains[j]);
		html_f(req->out,
		       "\">\n<button type=\"submit\" class=\"link\">Save "
		       "role</button>\n</form>\n</td><td>%s</td>"
		       "<td>\n<form method=\"post\" action=\"/admins/passwd\" class=\"inline\">\n",
		       html_time(a->created, when, sizeof(when)));
		html_csrf_field(req->out, req->session.csrf_token);
		html_f(req->out,
		       "<input type=\"hidden\" name=\"name\" value=\"%s\">\n"
		       "<input type=\"password\" name=\"password\" aria-label=\"new password\" "
		       "placeholder=\"new password\" "
		       "autocomplete=\"new-password\" required>\n<button type=\"submit\" "
		       "class=\"link\">Reset password"
		       "</button>\n</form>\n",
		       a->name);
		if (strcmp(a->name, req->actor.admin.name) != 0) {
			const char *hidden[] = {"name", a->name, NULL};
			html_button_form(req->out, req->session.csrf_token, "/admins/delete", "Delete",
			                 "link danger", hidden);
		}
		html_f(req->out, "</td></tr>\n");
	}
	html_f(req->out, "</tbody>\n</table>\n");
	db_admin_list_free(&list, n);
	html_f(req->out,
	       "<h2>Add an admin</h2>\n<form method=\"post\" action=\"/admins/add\" class=\"stack\">\n");
	html_csrf_field(req->out, req->session.csrf_token);
	html_f(req->out,
	       "<label>Name <input name=\"name\" required autocomplete=\"off\"></label>\n"
	       "<label>Password (at least %d characters) <input type=\"password\" name=\"password\" required "
	       "autocomplete=\"new-password\"></label>\n"
	       "<label class=\"check\"><input type=\"checkbox\" name=\"superadmin\" value=\"1\"> superadmin "
	       "(every "
	       "domain)</label>\n"
	       "<label>Domains of a domain admin (comma separated) <input name=\"domains\"></label>\n"
	       "<button type=\"submit\">Add admin</button>\n</form>\n",
	       DB_ADMIN_PASSWORD_MIN);
	page_end(req);
}

/* The superadmin flag and the domain list of an admin form. */
static int admin_form_role(struct http_request *req, bool *superadmin_r, const char ***domains_r,
                           char **storage_r, size_t *n_r, struct admin_err *err)
{
	const char *flag = page_param(req, "superadmin"), *domains = page_param(req, "domains");

	*superadmin_r = false;
	if (flag != NULL && admin_ops_parse_bool(flag, superadmin_r) < 0)
		return admin_err_set(err, 400, "superadmin", "superadmin: expected 1 or 0");
	const char *texts[] = {domains != NULL ? domains : ""};
	*domains_r = admin_ops_split(texts, 1, ADMIN_DOMAINS_MAX, storage_r, n_r);
	if (*superadmin_r)
		*n_r = 0; /* a superadmin has every domain */
	return 0;
}

void page_admin_add(struct http_request *req)
{
	const char *name = page_param(req, "name"), **domains = NULL;
	struct admin_err err;
	char *storage = NULL;
	bool superadmin;
	size_t n;

	if (admin_form_role(req, &superadmin, &domains, &storage, &n, &err) < 0 ||
	    admin_op_admin_add(req->ctx, &req->actor, name, page_param(req, "password"), superadmin, domains,
	                       n, &err) < 0)
		page_fail(req, &err, "/admins");
	else
		page_done(req, "/admins", &err, "Admin %s added.", name);
	free(domains);
	free(storage);
}

void page_admin_delete(struct http_request *req)
{
	const char *name = page_param(req, "name");
	struct admin_err err;

	if (admin_op_admin_del(req->ctx, &req->actor, name, &err) < 0) {
		page_fail(req, &err, "/admins");
		return;
	}
	page_done(req, "/admins", &err, "Admin %s deleted.", name);
}

void page_admin_passwd(struct http_request *req)
{
	const char *name = page_param(req, "name");
	struct admin_err err;

	if (name != NULL && strcmp(name, req->actor.admin.name) == 0) {
		admin_err_set(&err, 400, "name",
		              "change your own password on the account page (it asks for the "
		              "current one)");
		page_fail(req, &err, "/account");
		return;
	}
	if (admin_op_admin_passwd(req->ctx, &req->actor, name, NULL, page_param(req, "password"), &err) < 0) {
		page_fail(req, &err, "/admins");
		return;
	}
	page_done(req, "/admins", &err, "Password of %s reset; its sessions have ended.", name);
}

void page_admin_role(struct http_request *req)
{
	const char *name = page_param(req, "name"), **domains = NULL;
	struct admin_err err;
	char *storage = NULL;
	bool superadmin;
	size_t n;

	if (admin_form_role(req, &superadmin, &domains, &storage, &n, &err) < 0 ||
	    admin_op_admin_set_role(req->ctx, &req->actor, name, superadmin, domains, n, &err) < 0)
		page_fail(req, &err, "/admins");
	else
		page_done(req, "/admins", &err, "Role of %s saved.", name);
	free(domains);
	free(storage);
}

void page_account(struct http_request *req)
{
	page_begin(req, "Your account", NULL);
	html_f(req->out, "<p>%s, %s", req->actor.admin.name,
	       req->actor.admin.superadmin ? "superadmin" : "domain admin");
	for (size_t i = 0; i < req->actor.admin.ndomains; i++)
		html_f(req->out, "%s%s", i == 0 ? " of " : ", ", req->actor.admin.domains[i]);
	html_f(req->out, ".</p>\n<h2>Change your password</h2>\n"
	                 "<form method=\"post\" action=\"/account/password\" class=\"stack narrow\">\n");
	html_csrf_field(req->out, req->session.csrf_token);
	html_f(req->out,
	       "<label>Current password <input type=\"password\" name=\"current_password\" required "
	       "autocomplete=\"current-password\"></label>\n"
	       "<label>New password (at least %d characters) <input type=\"password\" name=\"password\" "
	       "required "
	       "autocomplete=\"new-password\"></label>\n"
	       "<label>New password again <input type=\"password\" name=\"password2\" required "
	       "autocomplete=\"new-password\"></label>\n"
	       "<button type=\"submit\">Change password</button>\n</form>\n",
	       DB_ADMIN_PASSWORD_MIN);
	page_end(req);
}

void page_account_password(struct http_request *req)
{
	const char *password = page_param(req, "password"), *again = page_param(req, "password2");
	struct admin_err err;

	if (password == NULL || again == NULL || strcmp(password, again) != 0) {
		admin_err_set(&err, 400, "password2", "new password: the two entries differ");
		page_fail(req, &err, "/account");
		return;
	}
	if (admin_op_admin_passwd(req->ctx, &req->actor, req->actor.admin.name,
	                          page_param(req, "current_password"), password, &err) < 0) {
		page_fail(req, &err, "/account");
		return;
	}
	/* Every session of ours has ended with the change: log in again with the new password. */
	session_logout(req);
	http_redirect(req, "/login");
}

void page_audit(struct http_request *req)
{
	const char *before = http_query(req, "before");
	struct db_audit_entry *list;
	struct admin_err err;
	char when[32], url[100];
	size_t n;

	if (admin_op_audit_list(req->ctx, &req->actor, before, &list, &n, &err) < 0) {
		page_fail(req, &err, "/");
		return;
	}
	page_begin(req, "Audit log", "audit");
	if (!req->actor.admin.superadmin)
		html_f(req->out, "<p class=\"muted\">Changes to your domains.</p>\n");
	if (n == 0)
		html_f(req->out, "<p>Nothing%s.</p>\n", before != NULL ? " older" : " yet");
	else
		html_f(req->out,
		       "<table>\n<thead><tr><th>Time (UTC)</th><th>Admin</th><th>From</th><th>Action</th>"
		       "<th>Object</th><th>Detail</th></tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < n; i++) {
		const struct db_audit_entry *e = &list[i];
		html_f(req->out,
		       "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
		       html_time(e->created, when, sizeof(when)), e->admin, e->client_addr, e->action,
		       e->object, e->detail);
	}
	if (n > 0)
		html_f(req->out, "</tbody>\n</table>\n<p><a href=\"%s\">Older</a></p>\n",
		       page_url(url, sizeof(url), "/audit", "before", list[n - 1].id));
	free(list);
	page_end(req);
}
