/*
 * pages_check: the self-check page (superadmins; ops_check.c runs the check in a thread): the last
 * check's lines, OK, WARN or FAIL with what to fix, the same as mxctl check prints, and a form that
 * starts a new one (of every hosted domain, or of one). A summary for the dashboard too. Every text
 * may hold what the DNS said and goes through html_f's escaping.
 */
#include "admin/html.h"
#include "admin/pages.h"

#include <stdio.h>
#include <string.h>

static void check_table(struct http_request *req, const struct check_report *r, bool problems_only)
{
	html_f(req->out, "<table class=\"check\">\n<thead><tr><th>Result</th><th>Check</th><th>About</th>"
	                 "<th>Finding, and what to do</th></tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < r->n; i++) {
		const struct check_line *l = &r->lines[i];
		if (problems_only && l->level == CHECK_OK)
			continue;
		html_f(
		    req->out,
		    "<tr><td><span class=\"check-%s\">%s</span></td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
		    check_level_str(l->level), check_level_str(l->level), l->check, l->subject, l->text);
	}
	html_f(req->out, "</tbody>\n</table>\n");
}

static void check_summary(struct http_request *req, const struct admin_check_view *v)
{
	char when[32];
	size_t count[3] = {0, 0, 0};
	for (size_t i = 0; i < v->report.n; i++)
		count[v->report.lines[i].level]++;
	if (v->running)
		html_f(req->out,
		       "<p>A check is running (started %s UTC): reload this page in a few seconds.</p>\n",
		       html_time(v->started, when, sizeof(when)));
	if (v->error[0] != '\0')
		html_f(req->out, "<p class=\"error\">The check could not run: %s</p>\n", v->error);
	else if (v->finished == 0 && !v->running)
		html_f(req->out, "<p>No check has run since mxadmin started.</p>\n");
	else if (!v->running)
		html_f(req->out, "<p>Last check%s%s, %s UTC: %zu OK, %zu WARN, %zu FAIL.</p>\n",
		       v->domain[0] != '\0' ? " of " : "", v->domain,
		       html_time(v->finished, when, sizeof(when)), count[CHECK_OK], count[CHECK_WARN],
		       count[CHECK_FAIL]);
}

void page_check(struct http_request *req)
{
	struct admin_check_view v;
	struct admin_err err;
	if (admin_op_check_get(req->ctx, &req->actor, &v, &err) < 0) {
		page_fail(req, &err, NULL);
		return;
	}
	page_begin(req, "Self-check", "check");
	html_f(req->out, "<p class=\"muted\">What the world sees of this installation: MX records, SPF of "
	                 "srs_domain, DKIM and ARC keys, DMARC, reverse DNS, outbound port 25, the STARTTLS "
	                 "certificate and the replica (mxctl check prints the same).</p>\n");
	check_summary(req, &v);
	if (!v.running && v.report.n > 0)
		check_table(req, &v.report, false);
	html_f(req->out, "<form method=\"post\" action=\"/check\" class=\"search\">\n");
	html_csrf_field(req->out, req->session.csrf_token);
	html_f(req->out, "<label>Domain <input name=\"domain\" placeholder=\"every hosted domain\"></label>\n"
	                 "<button type=\"submit\">Run the check</button>\n</form>\n");
	admin_check_view_free(&v);
	page_end(req);
}

void page_check_run(struct http_request *req)
{
	struct admin_err err;
	if (admin_op_check_start(req->ctx, &req->actor, page_param(req, "domain"), &err) < 0) {
		page_fail(req, &err, "/check");
		return;
	}
	page_done(req, "/check", &err, "Check started");
}

void page_check_dashboard(struct http_request *req)
{
	struct admin_check_view v;
	struct admin_err err;
	if (admin_op_check_get(req->ctx, &req->actor, &v, &err) < 0)
		return;
	html_f(req->out, "<section>\n<h2>Self-check</h2>\n");
	check_summary(req, &v);
	if (!v.running && check_report_worst(&v.report) != CHECK_OK)
		check_table(req, &v.report, true);
	html_f(req->out, "<p><a href=\"/check\">Run the self-check</a></p>\n</section>\n");
	admin_check_view_free(&v);
}
