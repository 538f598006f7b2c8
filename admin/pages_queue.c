/*
 * pages_queue: the mail queue as the administrator may see it (ops_queue.c decides): a list with
 * sender, recipients and their states; one message's envelope and header section (never its body);
 * delete, hold, release; flush (superadmins); the failed messages kept for failed_retention, with their
 * reason, a resend form (optionally to another address) and the .eml download (the JSON API's
 * /api/v1/queue/ID/eml, which a session cookie may GET). Everything shown came from the network, so it all
 * goes through html_f's escaping like any other value.
 */
#include "admin/html.h"
#include "admin/pages.h"
#include "mxd/common/util.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define URL_MAX 200

static void queue_rcpt_row(struct http_request *req, const struct admin_queue_rcpt *r)
{
	char when[32];

	html_f(req->out, "<li><span class=\"state-%s\">%s</span> %s", queue_rcpt_state_name(r->state),
	       queue_rcpt_state_name(r->state), r->orig_address[0] != '\0' ? r->orig_address : r->address);
	if (r->orig_address[0] != '\0' && strcmp(r->orig_address, r->address) != 0)
		html_f(req->out, " &rarr; %s", r->address);
	if (r->attempts > 0)
		html_f(req->out, " (%d attempts)", r->attempts);
	if (r->state == QUEUE_RCPT_DEFERRED && r->next_attempt > 0)
		html_f(req->out, ", next %s", html_time(r->next_attempt, when, sizeof(when)));
	if (r->last_reason[0] != '\0')
		html_f(req->out, "<br><small>%s</small>", r->last_reason);
	html_f(req->out, "</li>\n");
}

static void queue_actions(struct http_request *req, const struct admin_queue_msg *m)
{
	if (!m->all_visible)
		return;
	const char *hidden[] = {"id", m->id, NULL};
	html_button_form(req->out, req->session.csrf_token, m->held ? "/queue/release" : "/queue/hold",
	                 m->held ? "Release" : "Hold", "link", hidden);
	html_button_form(req->out, req->session.csrf_token, "/queue/delete", "Delete", "link danger", hidden);
}

void page_queue(struct http_request *req)
{
	struct admin_queue_list list;
	struct admin_err err;
	char url[URL_MAX], when[32];

	if (admin_op_queue_list(req->ctx, &req->actor, &list, &err) < 0) {
		page_fail(req, &err, "/");
		return;
	}
	const char *q = http_query(req, "quarantine");
	bool quarantine = q != NULL && strcmp(q, "1") == 0;
	if (quarantine)
		admin_queue_list_keep_quarantined(&list);
	page_begin(req, quarantine ? "Quarantine" : "Queue", "queue");
	if (quarantine)
		html_f(req->out, "<p>Messages a milter quarantined, held until released. "
		                 "<a href=\"/queue\">The whole queue</a></p>\n");
	else
		html_f(req->out,
		       "<p><a href=\"/queue?quarantine=1\">Quarantine</a>: messages a milter held</p>\n");
	html_f(req->out, "<p>%lld message%s", (long long)list.total, list.total == 1 ? "" : "s");
	if (list.oldest > 0)
		html_f(req->out, ", the oldest from %s (UTC)", html_time(list.oldest, when, sizeof(when)));
	if ((int64_t)list.n < list.total)
		html_f(req->out, "; the first %zu shown", list.n);
	html_f(req->out, ".</p>\n");
	html_f(req->out,
	       "<p><a href=\"/queue/failed\">Failed messages</a> (kept for failed_retention)</p>\n");
	if (req->actor.admin.superadmin) {
		static const char *const none[] = {NULL};
		html_button_form(req->out, req->session.csrf_token, "/queue/flush",
		                 "Flush: retry deferred mail now", NULL, none);
	} else {
		html_f(req->out, "<p class=\"muted\">Messages with recipients in your domains; only those "
		                 "recipients are shown.</p>\n");
	}
	if (list.n > 0)
		html_f(req->out,
		       "<table>\n<thead><tr><th>Queue ID</th><th>Arrival (UTC)</th><th>Size</th>"
		       "<th>Sender</th><th>Recipients</th><th>Actions</th></tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < list.n; i++) {
		const struct admin_queue_msg *m = &list.msgs[i];
		snprintf(url, sizeof(url), "/queue/show?id=%s", m->id);
		html_f(req->out, "<tr><td><a href=\"%s\">%s</a>", url, m->id);
		if (m->held)
			html_f(req->out, " <span class=\"tag\">held</span>");
		if (m->hold_reason[0] != '\0')
			html_f(req->out, "<br><small>quarantine: %s</small>", m->hold_reason);
		html_f(req->out, "</td><td>%s</td><td>%lld</td><td>&lt;%s&gt;</td><td><ul class=\"plain\">\n",
		       html_time(m->arrival, when, sizeof(when)), (long long)m->size, m->sender);
		for (size_t j = 0; j < m->nrcpt; j++)
			queue_rcpt_row(req, &m->rcpts[j]);
		html_f(req->out, "</ul></td><td>");
		queue_actions(req, m);
		html_f(req->out, "</td></tr>\n");
	}
	if (list.n > 0)
		html_f(req->out, "</tbody>\n</table>\n");
	admin_queue_list_free(&list);
	page_end(req);
}

static void queue_failed_actions(struct http_request *req, const struct admin_queue_msg *m);

void page_queue_show(struct http_request *req)
{
	struct admin_queue_msg m;
	struct admin_err err;
	char when[32], title[64];
	struct evbuffer *headers = xevbuffer_new();

	if (admin_op_queue_get(req->ctx, &req->actor, http_query(req, "id"), &m, headers, &err) < 0) {
		evbuffer_free(headers);
		page_fail(req, &err, "/queue");
		return;
	}
	snprintf(title, sizeof(title), "Message %s", m.id);
	page_begin(req, title, "queue");
	html_f(req->out,
	       "<h2>Envelope</h2>\n<dl class=\"fields\">\n<dt>Queue ID</dt><dd>%s</dd>\n"
	       "<dt>Arrival</dt><dd>%s UTC</dd>\n<dt>Size</dt><dd>%lld octets</dd>\n"
	       "<dt>Sender</dt><dd>&lt;%s&gt;</dd>\n<dt>Client</dt><dd>%s (HELO %s)</dd>\n"
	       "<dt>Held</dt><dd>%s</dd>\n",
	       m.id, html_time(m.arrival, when, sizeof(when)), (long long)m.size, m.sender, m.client_addr,
	       m.helo, m.held ? "yes" : "no");
	if (m.hold_reason[0] != '\0')
		html_f(req->out, "<dt>Quarantine</dt><dd>%s</dd>\n", m.hold_reason);
	html_f(req->out, "<dt>Recipients</dt><dd><ul class=\"plain\">\n");
	for (size_t j = 0; j < m.nrcpt; j++)
		queue_rcpt_row(req, &m.rcpts[j]);
	html_f(req->out, "</ul>");
	if (m.nrcpt < m.nrcpt_total)
		html_f(req->out, "<small>and %zu outside your domains</small>", m.nrcpt_total - m.nrcpt);
	html_f(req->out, "</dd>\n");
	if (m.failed_at > 0)
		html_f(req->out, "<dt>Failed</dt><dd>%s UTC: %s</dd>\n",
		       html_time(m.failed_at, when, sizeof(when)), m.failed_reason);
	html_f(req->out, "</dl>\n<p>");
	if (m.failed_at > 0)
		queue_failed_actions(req, &m);
	else
		queue_actions(req, &m);
	html_f(req->out, "</p>\n<h2>Header section</h2>\n<pre class=\"headers\">");
	evbuffer_add(headers, "", 1);
	html_f(req->out, "%s", (const char *)evbuffer_pullup(headers, -1));
	html_f(req->out, "</pre>\n<p class=\"muted\">The body is not shown.</p>\n");
	page_end(req);
	evbuffer_free(headers);
	admin_queue_msg_clear(&m);
}

static void page_queue_change(struct http_request *req, const char *action, const char *done)
{
	const char *id = page_param(req, "id");
	struct admin_err err;

	if (admin_op_queue_change(req->ctx, &req->actor, id, action, &err) < 0) {
		page_fail(req, &err, "/queue");
		return;
	}
	page_done(req, "/queue", &err, "Message %s %s.", id, done);
}

void page_queue_delete(struct http_request *req)
{
	page_queue_change(req, "delete", "deleted");
}

void page_queue_hold(struct http_request *req)
{
	page_queue_change(req, "hold", "held");
}

void page_queue_release(struct http_request *req)
{
	page_queue_change(req, "release", "released");
}

void page_queue_flush(struct http_request *req)
{
	struct admin_err err;

	if (admin_op_queue_flush(req->ctx, &req->actor, &err) < 0) {
		page_fail(req, &err, "/queue");
		return;
	}
	page_done(req, "/queue", &err, "Deferred mail will be retried now.");
}

/* Resend (to another address when one is typed in) and download, for a message the actor may change. */
static void queue_failed_actions(struct http_request *req, const struct admin_queue_msg *m)
{
	if (!m->all_visible)
		return;
	html_f(req->out, "<a href=\"/api/v1/queue/%s/eml\">Download .eml</a>\n", m->id);
	html_f(req->out, "<form method=\"post\" action=\"/queue/resend\" class=\"inline\">\n");
	html_csrf_field(req->out, req->session.csrf_token);
	html_f(req->out,
	       "<input type=\"hidden\" name=\"id\" value=\"%s\">\n"
	       "<input type=\"text\" name=\"to\" placeholder=\"to another address (optional)\">\n"
	       "<button type=\"submit\">Resend</button>\n</form>\n",
	       m->id);
	const char *hidden[] = {"id", m->id, NULL};
	html_button_form(req->out, req->session.csrf_token, "/queue/delete", "Purge", "link danger", hidden);
}

void page_queue_failed(struct http_request *req)
{
	struct admin_queue_list list;
	struct admin_err err;
	char when[32];

	if (admin_op_queue_failed(req->ctx, &req->actor, &list, &err) < 0) {
		page_fail(req, &err, "/queue");
		return;
	}
	page_begin(req, "Failed messages", "queue");
	html_f(req->out,
	       "<p>%lld failed message%s kept for failed_retention: the forward was refused for good or "
	       "expired. Resend one once its destination is fixed, or to another address.</p>\n",
	       (long long)list.total, list.total == 1 ? "" : "s");
	if (list.n > 0)
		html_f(req->out,
		       "<table>\n<thead><tr><th>Queue ID</th><th>Failed (UTC)</th><th>Reason</th>"
		       "<th>Sender</th><th>Recipients</th><th>Actions</th></tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < list.n; i++) {
		const struct admin_queue_msg *m = &list.msgs[i];
		html_f(req->out,
		       "<tr><td><a "
		       "href=\"/queue/show?id=%s\">%s</a></td><td>%s</td><td>%s</td><td>&lt;%s&gt;</td>"
		       "<td><ul class=\"plain\">\n",
		       m->id, m->id, html_time(m->failed_at, when, sizeof(when)), m->failed_reason,
		       m->sender);
		for (size_t j = 0; j < m->nrcpt; j++)
			queue_rcpt_row(req, &m->rcpts[j]);
		html_f(req->out, "</ul></td><td>");
		queue_failed_actions(req, m);
		html_f(req->out, "</td></tr>\n");
	}
	if (list.n > 0)
		html_f(req->out, "</tbody>\n</table>\n");
	admin_queue_list_free(&list);
	page_end(req);
}

void page_queue_resend(struct http_request *req)
{
	const char *id = page_param(req, "id");
	char new_id[QUEUE_ID_SIZE];
	struct admin_err err;

	if (admin_op_queue_resend(req->ctx, &req->actor, id, page_param(req, "to"), new_id, &err) < 0) {
		page_fail(req, &err, "/queue/failed");
		return;
	}
	page_done(req, "/queue/failed", &err, "Message %s queued again as %s.", id, new_id);
}
