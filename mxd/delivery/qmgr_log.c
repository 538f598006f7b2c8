/*
 * qmgr_log: the queue manager's delivery log rows (see qmgr_log.h).
 */
#include "mxd/delivery/qmgr_log.h"

#include "mxd/common/config.h"
#include "mxd/common/log.h"
#include "mxd/queue/queue_batch.h"
#include "mxd/queue/queue_log.h"
#include "mxd/delivery/smtp_client.h"
#include "mxd/common/util.h"

#include <stdlib.h>

#define QMGR_LOG_EXPIRE_INTERVAL 3600

void qmgr_log_attempt(struct qmgr *q, const struct qjob *job, const struct smtp_client_result *res,
                      const struct queue_rcpt_update *u)
{
	const struct queue_msg_info *info = job->msg->info;
	struct queue_log_event *ev = xcalloc(job->n, sizeof(*ev));

	for (size_t i = 0; i < job->n; i++) {
		const struct queue_rcpt_info *r = &info->rcpts[job->idx[i]];
		const char *event = "deferred";
		if (u[i].state == QUEUE_RCPT_SENT)
			event = "sent";
		else if (u[i].state == QUEUE_RCPT_BOUNCED)
			event = res->rcpts[i].status == SMTP_CLIENT_BOUNCED ? "bounced" : "expired";
		ev[i] = (struct queue_log_event){
		    .queue_id = info->id,
		    .event = event,
		    .sender = info->sender,
		    .address = r->address,
		    .orig_address = r->orig_address,
		    .relay = res->relay[0] != '\0' ? res->relay : "none",
		    .dsn = u[i].dsn,
		    .reply = u[i].reason,
		};
	}
	queue_batch_log(q->batch, ev, job->n);
	free(ev);
}

void qmgr_log_expire(struct qmgr *q, int64_t now)
{
	static int64_t last; /* one queue manager per process */
	int64_t deleted;
	const char *error;

	if (now - last < QMGR_LOG_EXPIRE_INTERVAL && now >= last)
		return;
	last = now;
	if (queue_store_log_expire(q->queue, now - q->cfg->delivery_log_retention, &deleted, &error) < 0)
		log_warn("qmgr", "delivery log: %s", error);
	else if (deleted > 0)
		log_info("qmgr", "delivery log: %lld entries older than %llds removed", (long long)deleted,
		         (long long)q->cfg->delivery_log_retention);
}
