/* qmgr_failed: what becomes of a forward that fails: first the alias's fallback destination (refused
 * for good, or deferred longer than fallback_after: the recipient goes there instead); a message whose
 * forward failed for good (a 5xx or maximal_queue_lifetime) is kept in the queue as failed for
 * failed_retention (mxctl queue failed/resend, queue_failed.h), or removed when failed_retention is 0;
 * and the removal of those whose retention has passed. See qmgr_private.h. */
#include "mxd/delivery/qmgr_private.h"

#include "db/alias.h"
#include "mxd/common/addr.h"
#include "mxd/common/config.h"
#include "mxd/common/log.h"
#include "mxd/common/util.h"
#include "mxd/queue/queue_batch.h"
#include "mxd/queue/queue_failed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define QMGR_FAILED_PURGE_INTERVAL 10 /* seconds between two looks for failed mail past its retention */

void qmgr_failed_record(struct qmgr *q, struct qmsg *m, const char *remove_reason,
                        const struct queue_new_msg *notify)
{
	const struct queue_msg_info *info = m->info;
	if (q->cfg->failed_retention <= 0) {
		queue_batch_remove(q->batch, info->id, remove_reason, notify);
		qmgr_batch_schedule(q);
		return;
	}
	/* the reason of the first recipient that failed: "5.1.1 550 5.1.1 <x>: user unknown" */
	char reason[512] = "failed";
	for (size_t i = 0; i < info->nrcpt; i++) {
		const struct queue_rcpt_info *r = &info->rcpts[i];
		if (r->state != QUEUE_RCPT_BOUNCED)
			continue;
		snprintf(reason, sizeof(reason), "%s%s%s", r->dsn != NULL ? r->dsn : "",
		         r->dsn != NULL && r->last_reason != NULL ? " " : "",
		         r->last_reason != NULL ? r->last_reason : (r->dsn != NULL ? "" : "failed"));
		break;
	}
	queue_batch_fail(q->batch, info->id, reason, notify);
	qmgr_batch_schedule(q);
	log_info("qmgr", "%s: kept as failed for %llds (mxctl queue failed): %s", info->id,
	         (long long)q->cfg->failed_retention, reason);
}

void qmgr_failed_expire(struct qmgr *q, int64_t now)
{
	int64_t removed = 0;
	const char *error;

	if (q->cfg->failed_retention <= 0 ||
	    (now - q->last_failed_purge < QMGR_FAILED_PURGE_INTERVAL && now >= q->last_failed_purge))
		return;
	q->last_failed_purge = now;
	if (queue_failed_purge(q->queue, now - q->cfg->failed_retention, "failed_retention expired", &removed,
	                       &error) < 0)
		log_warn("qmgr", "failed messages: %s", error);
	else if (removed > 0)
		log_info("qmgr", "failed messages: %lld kept longer than %llds removed", (long long)removed,
		         (long long)q->cfg->failed_retention);
}

/* The fallback of the alias r was accepted as: the alias itself, else its domain's catch-all. */
static void fallback_lookup(struct qmgr *q, const struct queue_rcpt_info *r, char fb[ADDR_MAX + 1])
{
	const char *error;
	char catchall[ADDR_MAX + 2];

	fb[0] = '\0';
	if (q->db == NULL || db_alias_fallback(q->db, r->orig_address, fb, &error) < 0) {
		if (q->db != NULL)
			log_warn("qmgr", "alias %s: %s", r->orig_address, error);
		return;
	}
	const char *domain = addr_domain(r->orig_address);
	if (fb[0] == '\0' && domain != NULL) {
		snprintf(catchall, sizeof(catchall), "@%s", domain);
		if (db_alias_fallback(q->db, catchall, fb, &error) < 0)
			fb[0] = '\0';
	}
}

bool qmgr_fallback_due(struct qmgr *q, const struct qmsg *m, const struct queue_rcpt_info *r,
                       enum queue_rcpt_state state, char fb[ADDR_MAX + 1])
{
	fb[0] = '\0';
	if (!qmgr_rcpt_forwarded(r))
		return false; /* relayed mail or mail to a mailbox: no alias, no fallback */
	if (state != QUEUE_RCPT_BOUNCED && (state != QUEUE_RCPT_DEFERRED || q->cfg->fallback_after <= 0 ||
	                                    qmgr_age(q, m->info->arrival) < q->cfg->fallback_after))
		return false;
	fallback_lookup(q, r, fb);
	return fb[0] != '\0' && strcasecmp(fb, r->address) != 0;
}

void qmgr_fallback_record(struct qmgr *q, struct qmsg *m, struct queue_rcpt_info *r, const char *fb,
                          const char *reason)
{
	char why[600];
	snprintf(why, sizeof(why), "fallback for <%s>: %s", r->address, reason != NULL ? reason : "");
	struct queue_log_event ev = {
	    .queue_id = m->info->id,
	    .event = "fallback",
	    .sender = m->info->sender,
	    .address = fb,
	    .orig_address = r->orig_address,
	    .relay = "",
	    .dsn = "",
	    .reply = why,
	};
	log_info("qmgr", "%s: orig_to=<%s>: fallback to=<%s> used instead of <%s> (%s)", m->info->id,
	         r->orig_address, fb, r->address, reason != NULL ? reason : "");
	qmgr_owner_event(q, m, r, QMGR_OWNER_FALLBACK, reason); /* the notice says it too */
	queue_batch_redirect(q->batch, m->info->id, r->idx, fb);
	queue_batch_log(q->batch, &ev, 1);
	qmgr_batch_schedule(q);
	free(r->address);
	r->address = xstrdup(fb);
}
