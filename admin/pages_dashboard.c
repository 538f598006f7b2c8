/*
 * pages_dashboard: the first page after login. Domains and aliases the administrator manages, the queue
 * (size, oldest message, recipients by state) and, for superadmins, the per-next-hop counters mxd keeps
 * in route_stats, and the deliveries, deferrals and bounces of the last 24 hours from the delivery log
 * (as the administrator may see them: ops_log.c), the failing destinations of those 24 hours (forwards
 * deferred or bounced, per alias and destination), the clients the connection gate refused (from mxd's
 * metrics endpoint), and the last self-check's problems (pages_check.c).
 */
#include "db/sync.h"
#include "admin/html.h"
#include "admin/pages.h"
#include "mxd/common/config.h"
#include "mxd/common/metrics_fetch.h"
#include "mxd/common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *dashboard_age(int64_t since, char *buf, size_t size)
{
	int64_t age = time_now() - since;

	if (since == 0)
		snprintf(buf, size, "-");
	else if (age < 120)
		snprintf(buf, size, "%lld s", (long long)age);
	else if (age < 7200)
		snprintf(buf, size, "%lld min", (long long)(age / 60));
	else if (age < 2 * 86400)
		snprintf(buf, size, "%lld h", (long long)(age / 3600));
	else
		snprintf(buf, size, "%lld days", (long long)(age / 86400));
	return buf;
}

static void dashboard_routes(struct http_request *req)
{
	struct db_route *routes;
	struct admin_err err;
	uint64_t selected = 0, sent = 0, deferred = 0, bounced = 0;
	size_t n;

	if (admin_op_route_list(req->ctx, &req->actor, &routes, &n, &err) < 0) {
		html_f(req->out, "<p class=\"error\">%s</p>\n", err.message);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < routes[i].nhops; j++) {
			selected += routes[i].hops[j].selected;
			sent += routes[i].hops[j].sent;
			deferred += routes[i].hops[j].deferred;
			bounced += routes[i].hops[j].bounced;
		}
	}
	html_f(req->out,
	       "<section>\n<h2>Deliveries through routing rules</h2>\n<dl class=\"figures\">\n"
	       "<dt>Routes</dt><dd>%zu</dd>\n<dt>Selected</dt><dd>%llu</dd>\n<dt>Sent</dt><dd>%llu</dd>\n"
	       "<dt>Deferred</dt><dd>%llu</dd>\n<dt>Bounced</dt><dd>%llu</dd>\n</dl>\n"
	       "<p class=\"muted\">Totals since mxd started counting, for mail that matched a routing rule "
	       "(<a href=\"/routes\">per next hop</a>); mail delivered directly or through relayhost is not "
	       "counted here.</p>\n</section>\n",
	       n, (unsigned long long)selected, (unsigned long long)sent, (unsigned long long)deferred,
	       (unsigned long long)bounced);
	db_route_list_free(&routes, n);
}

static void dashboard_log(struct http_request *req)
{
	struct admin_err err;
	int64_t sent, deferred, bounced;

	html_f(req->out, "<section>\n<h2>Last 24 hours</h2>\n");
	if (admin_op_log_counts(req->ctx, &req->actor, time_now() - 86400, &sent, &deferred, &bounced, &err) <
	    0)
		html_f(req->out, "<p class=\"error\">%s</p>\n", err.message);
	else
		html_f(
		    req->out,
		    "<dl class=\"figures\">\n<dt>Deliveries</dt><dd>%lld</dd>\n<dt>Deferrals</dt>"
		    "<dd>%lld</dd>\n<dt>Bounces</dt><dd>%lld</dd>\n</dl>\n<p class=\"muted\">Recipient "
		    "outcomes from the <a href=\"/log\">delivery log</a> (a recipient deferred twice counts "
		    "twice).</p>\n",
		    (long long)sent, (long long)deferred, (long long)bounced);
	int64_t milter[3];
	if (admin_op_log_milter_counts(req->ctx, &req->actor, time_now() - 86400, milter, &err) == 0 &&
	    milter[0] + milter[1] + milter[2] > 0)
		html_f(req->out,
		       "<dl class=\"figures\">\n<dt>Refused by milters</dt><dd>%lld</dd>\n<dt>Discarded</dt>"
		       "<dd>%lld</dd>\n<dt>Quarantined</dt><dd>%lld</dd>\n</dl>\n<p class=\"muted\">Milter "
		       "verdicts "
		       "per recipient; the reasons are in the <a href=\"/log\">delivery log</a>, quarantined "
		       "messages in the <a href=\"/queue?quarantine=1\">quarantine</a>.</p>\n",
		       (long long)milter[0], (long long)milter[1], (long long)milter[2]);
	html_f(req->out, "</section>\n");
}

/* Forwards deferred or bounced in the last 24 hours, per alias and destination. */
static void dashboard_failing(struct http_request *req)
{
	struct admin_failing *list;
	struct admin_err err;
	char when[32], url[1200];
	size_t n;

	html_f(req->out, "<section>\n<h2>Failing destinations (24 hours)</h2>\n");
	if (admin_op_log_failing(req->ctx, &req->actor, time_now() - 86400, &list, &n, &err) < 0) {
		html_f(req->out, "<p class=\"error\">%s</p>\n</section>\n", err.message);
		return;
	}
	if (n == 0)
		html_f(req->out, "<p class=\"muted\">No forward was deferred or bounced.</p>\n");
	else
		html_f(req->out,
		       "<table class=\"failing\">\n<thead><tr><th>Alias</th><th>Destination</th>"
		       "<th>Deferred</th><th>Bounced</th><th>Last (UTC)</th><th>Last reply</th></tr>"
		       "</thead>\n<tbody>\n");
	for (size_t i = 0; i < n; i++)
		html_f(req->out,
		       "<tr><td><a href=\"%s\">%s</a></td><td>%s</td><td>%lld</td><td>%lld</td><td>%s</td>"
		       "<td><small>%s</small></td></tr>\n",
		       page_url(url, sizeof(url), "/log", "address", list[i].alias), list[i].alias,
		       list[i].destination, (long long)list[i].deferred, (long long)list[i].bounced,
		       html_time(list[i].last_at, when, sizeof(when)), list[i].reply);
	if (n > 0)
		html_f(req->out, "</tbody>\n</table>\n<p class=\"muted\">Failed messages are kept: <a "
		                 "href=\"/queue/failed\">Failed messages</a>.</p>\n");
	html_f(req->out, "</section>\n");
	admin_failing_free(list, n);
}

/* The value of key="..." in a metric's labels ({reason="dnsbl"}), into out. */
static const char *dashboard_label(const char *labels, const char *key, char *out, size_t size)
{
	char pattern[32];
	snprintf(pattern, sizeof(pattern), "%s=\"", key);
	const char *v = strstr(labels, pattern);
	out[0] = '\0';
	if (v != NULL) {
		v += strlen(pattern);
		size_t len = strcspn(v, "\"");
		snprintf(out, size, "%.*s", (int)len, v);
	}
	return out;
}

/* Superadmins: the clients refused at the connection gate since mxd started, by reason, read from mxd's
 * metrics endpoint (metrics_listen): these refusals come before any message, so the delivery log has
 * none of them (one row per refused spam connection would put its writes in an attacker's hands). */
static void dashboard_gate(struct http_request *req)
{
	const char *listen = req->ctx->cfg->metrics_listen;
	html_f(req->out, "<section>\n<h2>Refused at the gate</h2>\n");
	char *m = listen[0] != '\0' ? metrics_fetch(listen, 1000) : NULL;
	if (listen[0] == '\0') {
		html_f(req->out,
		       "<p class=\"muted\">Set metrics_listen to see here the clients the connection "
		       "gate refused (pregreet, DNSBL, rates, pipelining).</p>\n</section>\n");
		return;
	}
	if (m == NULL) {
		html_f(req->out,
		       "<p class=\"error\">mxd does not answer on metrics_listen %s.</p>\n</section>\n",
		       listen);
		return;
	}
	struct metrics_labelled v[16];
	size_t n = metrics_labelled(m, "mxd_smtpd_gate_refused_total", v, MXD_ARRAY_SIZE(v));
	double total = 0;
	for (size_t i = 0; i < n; i++)
		total += v[i].value;
	if (total == 0) {
		html_f(req->out, "<p class=\"muted\">No client refused since mxd started.</p>\n");
	} else {
		html_f(req->out, "<dl class=\"figures\">\n");
		for (size_t i = 0; i < n; i++) {
			char reason[64];
			if (v[i].value > 0)
				html_f(req->out, "<dt>%s</dt><dd>%.0f</dd>\n",
				       dashboard_label(v[i].labels, "reason", reason, sizeof(reason)),
				       v[i].value);
		}
		html_f(req->out, "</dl>\n<p class=\"muted\">Since mxd started; each refusal is in mail.log "
		                 "with the client's address.</p>\n");
	}
	free(m);
	html_f(req->out, "</section>\n");
}

/* Replication: on a secondary, how old its copy of the tables is; on a primary, its change log. */
static void dashboard_replication(struct http_request *req)
{
	struct db_sync_state st;
	const char *error;
	char age[64];
	html_f(req->out, "<section>\n<h2>Replication</h2>\n");
	if (db_sync_state_get(req->ctx->db, &st, &error) < 0) {
		html_f(req->out, "<p class=\"error\">%s</p>\n", error);
	} else if (st.replica) {
		html_f(
		    req->out,
		    "<dl class=\"figures\">\n<dt>Primary</dt><dd>%s</dd>\n<dt>Replica lag</dt><dd>%s</dd>\n"
		    "<dt>Version</dt><dd>%lld of %lld</dd>\n<dt>Last error</dt><dd>%s</dd>\n</dl>\n",
		    st.primary,
		    st.last_sync > 0 ? dashboard_age(st.last_sync, age, sizeof(age)) : "never synced",
		    (long long)st.last_seq, (long long)st.primary_seq,
		    st.last_error[0] != '\0' ? st.last_error : "none");
	} else {
		html_f(req->out,
		       "<dl class=\"figures\">\n<dt>Role</dt><dd>primary (serves its tables to "
		       "secondaries)</dd>\n"
		       "<dt>Change log</dt><dd>version %lld, %lld changes kept</dd>\n</dl>\n",
		       (long long)st.log_seq, (long long)st.log_rows);
	}
	html_f(req->out, "</section>\n");
}

void page_dashboard(struct http_request *req)
{
	struct db_domain *domains = NULL;
	struct db_alias_domain *ads = NULL;
	struct admin_queue_list queue;
	struct admin_err err;
	size_t ndomains = 0, nads = 0;
	uint64_t aliases = 0;
	char age[32];

	if (admin_op_domain_list(req->ctx, &req->actor, &domains, &ndomains, &err) < 0 ||
	    admin_op_aliasdomain_list(req->ctx, &req->actor, &ads, &nads, &err) < 0) {
		free(domains);
		page_fail(req, &err, NULL);
		return;
	}
	for (size_t i = 0; i < ndomains; i++)
		aliases += domains[i].alias_count;
	page_begin(req, "Dashboard", "dashboard");
	html_f(req->out,
	       "<section>\n<h2>Domains</h2>\n<dl class=\"figures\">\n<dt>Domains</dt><dd>%zu</dd>\n"
	       "<dt>Aliases</dt><dd>%llu</dd>\n<dt>Alias domains</dt><dd>%zu</dd>\n</dl>\n",
	       ndomains, (unsigned long long)aliases, nads);
	if (ndomains > 0) {
		html_f(req->out,
		       "<table>\n<thead><tr><th>Domain</th><th>Aliases</th><th>Active</th></tr></thead>\n"
		       "<tbody>\n");
		for (size_t i = 0; i < ndomains && i < 20; i++) {
			char url[1200];
			html_f(req->out, "<tr><td><a href=\"%s\">%s</a></td><td>%u</td><td>%s</td></tr>\n",
			       page_url(url, sizeof(url), "/aliases", "domain", domains[i].name),
			       domains[i].name, domains[i].alias_count, domains[i].active ? "yes" : "no");
		}
		html_f(req->out, "</tbody>\n</table>\n");
		if (ndomains > 20)
			html_f(req->out, "<p><a href=\"/domains\">All %zu domains</a></p>\n", ndomains);
	}
	html_f(req->out, "</section>\n");
	free(domains);
	free(ads);

	html_f(req->out, "<section>\n<h2>Queue</h2>\n");
	if (admin_op_queue_list(req->ctx, &req->actor, &queue, &err) < 0) {
		html_f(req->out, "<p class=\"error\">%s</p>\n", err.message);
	} else {
		html_f(req->out,
		       "<dl class=\"figures\">\n<dt>Messages</dt><dd><a href=\"/queue\">%lld</a></dd>\n"
		       "<dt>Oldest</dt><dd>%s</dd>\n<dt>Recipients pending</dt><dd>%lld</dd>\n"
		       "<dt>Recipients deferred</dt><dd>%lld</dd>\n<dt>Sent, awaiting "
		       "removal</dt><dd>%lld</dd>\n"
		       "<dt>Bounced, awaiting removal</dt><dd>%lld</dd>\n</dl>\n",
		       (long long)queue.total, dashboard_age(queue.oldest, age, sizeof(age)),
		       (long long)queue.rcpt_by_state[QUEUE_RCPT_PENDING],
		       (long long)queue.rcpt_by_state[QUEUE_RCPT_DEFERRED],
		       (long long)queue.rcpt_by_state[QUEUE_RCPT_SENT],
		       (long long)queue.rcpt_by_state[QUEUE_RCPT_BOUNCED]);
		admin_queue_list_free(&queue);
	}
	html_f(req->out, "</section>\n");
	dashboard_log(req);
	dashboard_failing(req);
	if (req->actor.admin.superadmin) {
		dashboard_gate(req);
		dashboard_replication(req);
		dashboard_routes(req);
		page_check_dashboard(req);
	}
	page_end(req);
}
