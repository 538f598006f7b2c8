/*
 * pages_log: the delivery log (ops_log.c decides what the administrator may see). A search by address
 * (final or original recipient) or by queue id shows each message's path in time order: received (sender
 * and client), then each attempt (sent, deferred, bounced, expired, with the relay and the remote reply)
 * and its removal from the queue. Every value came from the network and goes through html_f's escaping.
 */
#include "admin/html.h"
#include "admin/pages.h"

#include <stdio.h>
#include <string.h>

#define URL_MAX 1200

static void log_row(struct http_request *req, const struct admin_log_entry *e)
{
	char when[32];

	html_f(req->out, "<tr><td>%s</td><td><span class=\"state-%s\">%s</span></td><td>%s",
	       html_time(e->at, when, sizeof(when)), e->event, e->event,
	       e->orig_address[0] != '\0' ? e->orig_address : e->address);
	if (e->orig_address[0] != '\0' && strcmp(e->orig_address, e->address) != 0)
		html_f(req->out, " &rarr; %s", e->address);
	html_f(req->out, "</td><td>");
	if (strcmp(e->event, "received") == 0)
		html_f(req->out, "from &lt;%s&gt;, client %s", e->sender,
		       e->relay[0] != '\0' ? e->relay : "-");
	else if (strcmp(e->event, "removed") != 0 && strcmp(e->event, "failed") != 0)
		html_f(req->out, "relay %s", e->relay[0] != '\0' ? e->relay : "none");
	html_f(req->out, "</td><td>%s</td><td>%s</td></tr>\n", e->dsn, e->reply);
}

void page_log(struct http_request *req)
{
	const char *address = http_query(req, "address"), *queue_id = http_query(req, "queue_id");
	struct admin_log_entry *list = NULL;
	struct admin_err err;
	char url[URL_MAX];
	size_t n = 0;
	bool searched = (address != NULL && *address != '\0') || (queue_id != NULL && *queue_id != '\0');
	int rc =
	    searched ? admin_op_log_search(req->ctx, &req->actor, address, queue_id, &list, &n, &err) : 0;

	page_begin(req, "Delivery log", "log");
	html_f(req->out,
	       "<form method=\"get\" action=\"/log\" class=\"search\">\n"
	       "<label>Address <input type=\"search\" name=\"address\" value=\"%s\"></label>\n"
	       "<label>or queue ID <input type=\"search\" name=\"queue_id\" value=\"%s\"></label>\n"
	       "<button type=\"submit\">Search</button>\n</form>\n",
	       address != NULL ? address : "", queue_id != NULL ? queue_id : "");
	if (!req->actor.admin.superadmin)
		html_f(req->out, "<p class=\"muted\">Entries for recipients in your domains.</p>\n");
	if (rc < 0) {
		html_f(req->out, "<p class=\"error\">%s</p>\n", err.message);
	} else if (searched && n == 0) {
		html_f(req->out, "<p>No entries.</p>\n");
	} else if (n > 0) {
		html_f(req->out, "<p>%zu entr%s%s.</p>\n", n, n == 1 ? "y" : "ies",
		       n >= ADMIN_LOG_MAX ? " (the first ones only)" : "");
	}
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || strcmp(list[i].queue_id, list[i - 1].queue_id) != 0) {
			if (i > 0)
				html_f(req->out, "</tbody>\n</table>\n");
			html_f(req->out,
			       "<h2 class=\"log-message\">Message <a href=\"%s\">%s</a></h2>\n"
			       "<table class=\"log\">\n<thead><tr><th>Time (UTC)</th><th>Event</th>"
			       "<th>Recipient</th><th>From / relay</th><th>DSN</th><th>Reply</th></tr>"
			       "</thead>\n<tbody>\n",
			       page_url(url, sizeof(url), "/log", "queue_id", list[i].queue_id),
			       list[i].queue_id);
		}
		log_row(req, &list[i]);
	}
	if (n > 0)
		html_f(req->out, "</tbody>\n</table>\n");
	admin_log_free(list, n);
	page_end(req);
}
