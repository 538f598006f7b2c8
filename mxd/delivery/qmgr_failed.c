/* qmgr_failed: what becomes of a message whose forward failed for good (a 5xx or maximal_queue_lifetime):
 * kept in the queue as failed for failed_retention (mxctl queue failed/resend, queue_failed.h), or removed
 * when failed_retention is 0; and the removal of those whose retention has passed. See qmgr_private.h. */
#include "mxd/delivery/qmgr_private.h"

#include "mxd/common/config.h"
#include "mxd/common/log.h"
#include "mxd/common/util.h"
#include "mxd/queue/queue_batch.h"
#include "mxd/queue/queue_failed.h"

#include <stdio.h>
#include <string.h>

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
