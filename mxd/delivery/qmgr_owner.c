/* qmgr_owner: notices to a hosted domain's owners (its report address, db/domain.h) when forwards to
 * one of its aliases' destinations are deferred longer than owner_warning_time or fail for good: the
 * events are recorded in queue.db (queue_owner.h) as results come in, and every few seconds the notices
 * due are made, at most one per destination per owner_notice_interval, each listing every event not yet
 * told; what came within an interval goes into the domain's digest every owner_digest_interval. A notice
 * comes from MAILER-DAEMON with the null sender (it never bounces) and goes only to the address an
 * administrator set. See qmgr_private.h. */
#include "mxd/delivery/qmgr_private.h"

#include "db/domain.h"
#include "mxd/common/addr.h"
#include "mxd/common/config.h"
#include "mxd/common/log.h"
#include "mxd/common/util.h"
#include "mxd/queue/queue_owner.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QMGR_OWNER_INTERVAL 2   /* seconds between two looks for notices due */
#define QMGR_OWNER_BATCH    20  /* notices made in one look at most */
#define QMGR_OWNER_REPLY    400 /* octets of a remote reply quoted */

/* The report address of domain into out ("" when none or not hosted). */
static void owner_address(struct qmgr *q, const char *domain, char out[ADDR_MAX + 1])
{
	struct db_domain d;
	const char *error;
	out[0] = '\0';
	if (q->db == NULL || domain == NULL)
		return;
	int rc = db_domain_get(q->db, domain, &d, &error);
	if (rc < 0)
		log_warn("qmgr", "domain %s: %s", domain, error);
	if (rc == 0)
		str_copy(out, ADDR_MAX + 1, d.report_address);
}

void qmgr_owner_event(struct qmgr *q, const struct qmsg *m, const struct queue_rcpt_info *r,
                      enum queue_rcpt_state state, const char *reason)
{
	const char *kind;
	char report[ADDR_MAX + 1];
	const char *error;

	if (!qmgr_rcpt_forwarded(r))
		return;
	if (state == QMGR_OWNER_FALLBACK)
		kind = "fallback";
	else if (state == QUEUE_RCPT_BOUNCED)
		kind = "failed";
	else if (state == QUEUE_RCPT_DEFERRED && q->cfg->owner_warning_time > 0 &&
	         qmgr_age(q, m->info->arrival) >= q->cfg->owner_warning_time)
		kind = "delayed";
	else
		return;
	const char *domain = addr_domain(r->orig_address);
	owner_address(q, domain, report);
	if (report[0] == '\0')
		return; /* nobody to tell */
	struct queue_owner_event ev = {
	    .queue_id = m->info->id,
	    .idx = r->idx,
	    .kind = (char *)kind,
	    .domain = (char *)domain,
	    .alias = r->orig_address,
	    .destination = r->address,
	    .reply = (char *)(reason != NULL ? reason : ""),
	};
	if (queue_owner_record(q->queue, &ev, &error) < 0)
		log_warn("qmgr", "%s: owner notice: %s", m->info->id, error);
}

static void owner_date(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, size, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

/* The notice for events (one domain, one destination) to report. */
static struct evbuffer *owner_compose(struct qmgr *q, const struct queue_owner_event *ev, size_t n,
                                      const char *report, int64_t now, bool digest)
{
	struct evbuffer *b = xevbuffer_new();
	char date[64], when[64];
	bool failed = false;
	for (size_t i = 0; i < n; i++)
		failed |= strcmp(ev[i].kind, "failed") == 0;
	owner_date(now, date, sizeof(date));
	evbuffer_add_printf(b,
	                    "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n"
	                    "To: <%s>\r\n"
	                    "Subject: %s%s: mail to %s %s\r\n"
	                    "Date: %s\r\n"
	                    "Message-ID: <owner.%s.%lld@%s>\r\n"
	                    "Auto-Submitted: auto-generated\r\n"
	                    "MIME-Version: 1.0\r\n"
	                    "Content-Type: text/plain; charset=utf-8\r\n"
	                    "Content-Transfer-Encoding: 8bit\r\n\r\n",
	                    q->cfg->myhostname, report,
	                    digest ? "Digest of forwarding problems for " : "Forwarding problem for ",
	                    ev[0].domain, digest ? "and more" : ev[0].destination,
	                    failed ? "failed" : "is delayed", date, ev[0].queue_id, (long long)now,
	                    q->cfg->myhostname);
	if (digest)
		evbuffer_add_printf(
		    b,
		    "This is the mail system at %s, which forwards mail for %s.\r\n\r\n"
		    "Forwards that were not arriving and were not in a notice of their own (one "
		    "per destination every %lld seconds):\r\n\r\n",
		    q->cfg->myhostname, ev[0].domain, (long long)q->cfg->owner_notice_interval);
	else
		evbuffer_add_printf(b,
		                    "This is the mail system at %s, which forwards mail for %s.\r\n\r\n"
		                    "Mail forwarded to <%s> is not arriving:\r\n\r\n",
		                    q->cfg->myhostname, ev[0].domain, ev[0].destination);
	for (size_t i = 0; i < n; i++) {
		owner_date(ev[i].at, when, sizeof(when));
		evbuffer_add_printf(
		    b,
		    "  alias:        <%s>\r\n"
		    "  destination:  <%s>\r\n"
		    "  queue id:     %s\r\n"
		    "  state:        %s\r\n"
		    "  since:        %s\r\n"
		    "  remote reply: %.*s\r\n\r\n",
		    ev[i].alias, ev[i].destination, ev[i].queue_id,
		    strcmp(ev[i].kind, "failed") == 0
		        ? "failed for good (the sender got a bounce; the message is kept)"
		    : strcmp(ev[i].kind, "fallback") == 0
		        ? "refused or deferred too long: sent to the alias's fallback destination"
		        : "deferred, still being retried",
		    when, QMGR_OWNER_REPLY, ev[i].reply);
	}
	evbuffer_add_printf(
	    b,
	    "What to do: check that the destination address is right and accepts mail; the "
	    "remote reply says why it\r\n"
	    "refused or deferred it. An administrator can look at a message with "
	    "'mxctl queue show ID', send a\r\n"
	    "failed one again with 'mxctl queue resend ID [--to ADDRESS]' (or in the admin UI), "
	    "and give the alias a\r\n"
	    "fallback destination with 'mxctl alias fallback ALIAS ADDRESS'.\r\n\r\n"
	    "At most one such notice is sent per destination every %lld seconds "
	    "(owner_notice_interval).\r\n",
	    (long long)q->cfg->owner_notice_interval);
	return b;
}

/* The notice (or digest) of events ev[0..n), all of one domain: *upto_r is the newest event's time and
 * report the domain's report address. With none ("") nothing is made and NULL returned; else msg is
 * filled to go to report (through to, which must outlive it) and its body is returned for the caller
 * to free once the message is stored. */
static struct evbuffer *owner_message(struct qmgr *q, const struct queue_owner_event *ev, size_t n,
                                      int64_t now, bool digest, char report[ADDR_MAX + 1], const char **to,
                                      struct queue_new_msg *msg, int64_t *upto_r)
{
	*upto_r = 0;
	for (size_t i = 0; i < n; i++)
		*upto_r = ev[i].at > *upto_r ? ev[i].at : *upto_r;
	owner_address(q, ev[0].domain, report);
	if (report[0] == '\0')
		return NULL;
	struct evbuffer *body = owner_compose(q, ev, n, report, now, digest);
	to[0] = report;
	queue_store_new_id(msg->id);
	msg->sender = "";
	msg->rcpts = to;
	msg->nrcpt = 1;
	msg->client_name = "localhost";
	msg->client_addr = "127.0.0.1";
	msg->helo = q->cfg->myhostname;
	msg->proto = "local";
	msg->arrival = now;
	msg->body = body;
	return body;
}

/* Make and queue the digest of one domain (events is all it has not been told of). true if queued. */
static bool owner_digest(struct qmgr *q, struct queue_owner_event *ev, size_t n, int64_t now)
{
	char report[ADDR_MAX + 1];
	const char *error, *to[1];
	int64_t upto;
	struct queue_new_msg digest = {0};
	struct evbuffer *body = owner_message(q, ev, n, now, true, report, to, &digest, &upto);
	bool queued = false;
	if (queue_owner_told(q->queue, ev[0].domain, NULL, upto, now, report[0] != '\0' ? &digest : NULL,
	                     &error) < 0) {
		log_warn("qmgr", "owner digest: %s", error);
	} else if (report[0] != '\0') {
		log_info("qmgr", "owner digest for %s: %zu forward%s to <%s>: %s", ev[0].domain, n,
		         n == 1 ? "" : "s", report, digest.id);
		queued = true;
	}
	if (body != NULL)
		evbuffer_free(body);
	return queued;
}

void qmgr_owner_notify(struct qmgr *q, int64_t now)
{
	const char *error;
	bool queued = false;

	if (now - q->last_owner_check < QMGR_OWNER_INTERVAL && now >= q->last_owner_check)
		return;
	q->last_owner_check = now;
	for (int k = 0; k < QMGR_OWNER_BATCH; k++) {
		struct queue_owner_event *ev = NULL;
		size_t n = 0;
		if (queue_owner_due(q->queue, now, q->cfg->owner_notice_interval, &ev, &n, &error) < 0) {
			log_warn("qmgr", "owner notices: %s", error);
			break;
		}
		if (n == 0)
			break;
		char report[ADDR_MAX + 1];
		const char *to[1];
		int64_t upto;
		struct queue_new_msg notice = {0};
		struct evbuffer *body = owner_message(q, ev, n, now, false, report, to, &notice, &upto);
		if (queue_owner_told(q->queue, ev[0].domain, ev[0].destination, upto, now,
		                     report[0] != '\0' ? &notice : NULL, &error) < 0) {
			log_warn("qmgr", "owner notices: %s", error);
		} else if (report[0] != '\0') {
			log_info("qmgr", "owner notice for %s: %zu forward%s to <%s> to <%s>: %s",
			         ev[0].domain, n, n == 1 ? "" : "s", ev[0].destination, report, notice.id);
			queued = true;
		}
		if (body != NULL)
			evbuffer_free(body);
		queue_owner_events_free(&ev, n);
	}
	for (int k = 0; k < QMGR_OWNER_BATCH; k++) {
		struct queue_owner_event *ev = NULL;
		size_t n = 0;
		if (queue_owner_digest_due(q->queue, now, q->cfg->owner_digest_interval, &ev, &n, &error) <
		    0) {
			log_warn("qmgr", "owner digest: %s", error);
			break;
		}
		if (n == 0)
			break;
		queued |= owner_digest(q, ev, n, now);
		queue_owner_events_free(&ev, n);
	}
	if (queued)
		qmgr_kick(q);
}
