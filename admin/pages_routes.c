/*
 * pages_routes: the routing rules (superadmins): every route with its next hops, weights, priorities,
 * credentials as "user=alice password=****" (a password is written here, never shown back) and the
 * counters per next hop; add a next hop (creating the route), delete a next hop or a whole route.
 */
#include "admin/html.h"
#include "admin/pages.h"
#include "mxd/common/util.h"

#include <stdio.h>
#include <stdlib.h>

void page_routes(struct http_request *req)
{
	struct db_route *list;
	struct admin_err err;
	size_t n;

	if (admin_op_route_list(req->ctx, &req->actor, &list, &n, &err) < 0) {
		page_fail(req, &err, "/");
		return;
	}
	page_begin(req, "Routes", "routes");
	html_f(req->out,
	       "<p class=\"muted\">Mail for a domain goes by the most specific rule (example.com, then "
	       ".example.com for subdomains, then *), else by relayhost, else directly by MX.</p>\n");
	if (n == 0)
		html_f(req->out, "<p>No routing rules.</p>\n");
	for (size_t i = 0; i < n; i++) {
		const struct db_route *r = &list[i];
		uint64_t total = 0;
		for (size_t j = 0; j < r->nhops; j++)
			total += r->hops[j].selected;
		html_f(req->out, "<section class=\"route\">\n<h2>%s</h2>\n<p>TLS: %s &middot; %s", r->match,
		       r->tls_level[0] != '\0' ? r->tls_level : "default", r->active ? "active" : "disabled");
		if (r->description[0] != '\0')
			html_f(req->out, " &middot; %s", r->description);
		html_f(
		    req->out,
		    "</p>\n<table>\n<thead><tr><th>Next hop</th><th>Weight</th><th>Priority</th><th>Auth</th>"
		    "<th>Selected</th><th>Share</th><th>Sent</th><th>Deferred</th><th>Bounced</th>"
		    "<th>Throttled</th><th>Connection failures</th><th>Actions</th></tr></thead>\n<tbody>\n");
		for (size_t j = 0; j < r->nhops; j++) {
			const struct db_route_hop *h = &r->hops[j];
			char auth[DB_ROUTE_AUTH_MAX + 64], share[16];
			if (total == 0)
				snprintf(share, sizeof(share), "-");
			else
				snprintf(share, sizeof(share), "%.1f%%",
				         100.0 * (double)h->selected / (double)total);
			html_f(req->out,
			       "<tr><td>%s</td><td>%u</td><td>%u</td><td>%s</td><td>%llu</td><td>%s</"
			       "td><td>%llu</td>"
			       "<td>%llu</td><td>%llu</td><td>%llu</td><td>%llu</td><td>",
			       h->nexthop, h->weight, h->priority,
			       db_route_hop_auth_str(h, auth, sizeof(auth)), (unsigned long long)h->selected,
			       share, (unsigned long long)h->sent, (unsigned long long)h->deferred,
			       (unsigned long long)h->bounced, (unsigned long long)h->throttled,
			       (unsigned long long)h->conn_failures);
			/* weight and rate cap in place (a warm-up grows without deleting the hop) */
			html_f(req->out,
			       "<form method=\"post\" action=\"/routes/sethop\" class=\"inline\">\n");
			html_csrf_field(req->out, req->session.csrf_token);
			html_f(req->out,
			       "<input type=\"hidden\" name=\"match\" value=\"%s\">"
			       "<input type=\"hidden\" name=\"nexthop\" value=\"%s\">"
			       "<input name=\"weight\" value=\"%u\" size=\"5\" inputmode=\"numeric\" "
			       "aria-label=\"weight\">"
			       "<input name=\"rate\" value=\"%s\" size=\"8\" placeholder=\"rate: 100/m\" "
			       "aria-label=\"rate cap\">"
			       "<button type=\"submit\" class=\"link\">Save</button>\n</form>\n",
			       r->match, h->nexthop, h->weight, h->rate);
			if (h->weight_schedule[0] != '\0')
				html_f(req->out, "<small>schedule (UTC): %s</small>\n", h->weight_schedule);
			const char *hidden[] = {"match", r->match, "nexthop", h->nexthop, NULL};
			html_button_form(req->out, req->session.csrf_token, "/routes/delhop", "Delete hop",
			                 "link danger", hidden);
			html_f(req->out, "</td></tr>\n");
		}
		html_f(req->out, "</tbody>\n</table>\n");
		const char *hidden[] = {"match", r->match, NULL};
		html_button_form(req->out, req->session.csrf_token, "/routes/delete", "Delete route",
		                 "danger", hidden);
		html_f(req->out, "</section>\n");
	}
	db_route_list_free(&list, n);
	html_f(req->out,
	       "<h2>Add a next hop</h2>\n<p class=\"muted\">A new match creates the route. Next hop: "
	       "direct, [host]:port (no MX lookup) or host:port (MX lookup of host).</p>\n"
	       "<form method=\"post\" action=\"/routes/add\" class=\"stack\">\n");
	html_csrf_field(req->out, req->session.csrf_token);
	html_f(
	    req->out,
	    "<label>Match <input name=\"match\" required placeholder=\"example.com, .example.com or "
	    "*\"></label>\n"
	    "<label>Next hop <input name=\"nexthop\" required placeholder=\"[relay.example]:587\"></label>\n"
	    "<label>Weight <input name=\"weight\" inputmode=\"numeric\" value=\"1\"></label>\n"
	    "<label>Priority (lower is preferred) <input name=\"priority\" inputmode=\"numeric\" value=\"0\">"
	    "</label>\n"
	    "<label>Auth user <input name=\"auth_user\" autocomplete=\"off\"></label>\n"
	    "<label>Auth password <input type=\"password\" name=\"auth_password\" "
	    "autocomplete=\"new-password\">"
	    "</label>\n"
	    "<label class=\"check\"><input type=\"checkbox\" name=\"allow_plaintext_auth\" value=\"1\"> "
	    "Allow "
	    "AUTH without TLS</label>\n"
	    "<label class=\"check\"><input type=\"checkbox\" name=\"allow_unverified_tls\" value=\"1\"> "
	    "Allow AUTH over TLS whose certificate does not verify (logged as a warning each time)</label>\n"
	    "<label>TLS level <select name=\"tls_level\"><option value=\"\">keep / default</option>"
	    "<option>none</option><option>may</option><option>encrypt</option><option>verify</option>"
	    "</select></label>\n"
	    "<label>Description <input name=\"description\" maxlength=\"200\"></label>\n"
	    "<label>Rate cap (N/s, N/m, N/h or N/d; empty: none) <input name=\"rate\" "
	    "placeholder=\"100/m\"></label>\n"
	    "<button type=\"submit\">Add next hop</button>\n</form>\n");
	page_end(req);
}

void page_route_add(struct http_request *req)
{
	const char *description = page_param(req, "description");
	struct admin_route_input in = {
	    .match = page_param(req, "match"),
	    .nexthop = page_param(req, "nexthop"),
	    .weight = page_param(req, "weight"),
	    .priority = page_param(req, "priority"),
	    .auth_user = page_param(req, "auth_user"),
	    .auth_password = page_param(req, "auth_password"),
	    .allow_plaintext_auth = page_param(req, "allow_plaintext_auth"),
	    .allow_unverified_tls = page_param(req, "allow_unverified_tls"),
	    .tls_level = page_param(req, "tls_level"),
	    .description = description != NULL && *description != '\0' ? description : NULL,
	    .rate = page_param(req, "rate"),
	};
	struct admin_err err;

	if (admin_op_route_add_hop(req->ctx, &req->actor, &in, &err) < 0) {
		page_fail(req, &err, "/routes");
		return;
	}
	page_done(req, "/routes", &err, "Route %s: next hop %s added.", in.match, in.nexthop);
}

void page_route_set_hop(struct http_request *req)
{
	const char *match = page_param(req, "match"), *nexthop = page_param(req, "nexthop");
	const char *rate = page_param(req, "rate");
	struct admin_err err;

	if (admin_op_route_set_hop(req->ctx, &req->actor, match, nexthop, page_param(req, "weight"),
	                           rate != NULL ? rate : "", &err) < 0) {
		page_fail(req, &err, "/routes");
		return;
	}
	page_done(req, "/routes", &err, "Route %s: next hop %s changed.", match, nexthop);
}

void page_route_del_hop(struct http_request *req)
{
	const char *match = page_param(req, "match"), *nexthop = page_param(req, "nexthop");
	struct admin_err err;

	if (admin_op_route_del_hop(req->ctx, &req->actor, match, nexthop, &err) < 0) {
		page_fail(req, &err, "/routes");
		return;
	}
	page_done(req, "/routes", &err, "Route %s: next hop %s deleted.", match, nexthop);
}

void page_route_delete(struct http_request *req)
{
	const char *match = page_param(req, "match");
	struct admin_err err;

	if (admin_op_route_del(req->ctx, &req->actor, match, &err) < 0) {
		page_fail(req, &err, "/routes");
		return;
	}
	page_done(req, "/routes", &err, "Route %s deleted.", match);
}
