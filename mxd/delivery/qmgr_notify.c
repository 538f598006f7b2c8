/* qmgr_notify: the queue manager's notifications to senders (bounces, delay warnings); see
 * qmgr_private.h. */
#include "mxd/delivery/qmgr_private.h"

#include "mxd/auth/dkim_signer.h"
#include "mxd/common/config.h"
#include "mxd/delivery/dsn.h"
#include "mxd/delivery/dsn_policy.h"
#include "mxd/delivery/qmgr_schedule.h"
#include "mxd/common/log.h"
#include "mxd/queue/queue_batch.h"
#include "mxd/common/util.h"

#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

/* The message's content for its notification: the copy in memory, or the queue's. NULL on error. */
static struct evbuffer *notify_content(struct qmgr *q, struct qmsg *m)
{
	struct evbuffer *content = xevbuffer_new();
	const char *error;
	size_t len = m->body != NULL ? evbuffer_get_length(m->body) : 0;
	if (len > 0) {
		if (evbuffer_add(content, evbuffer_pullup(m->body, -1), len) < 0)
			abort(); /* only fails to allocate */
		return content;
	}
	int rc = queue_store_read_body(q->queue, m->info->id, content, &error);
	if (rc == 0)
		return content;
	log_warn("bounce", "%s: cannot read the message for its notification: %s", m->info->id,
	         rc < 0 ? error : "no content");
	evbuffer_free(content);
	return NULL;
}

/* Against backscatter (dsn_policy.h): a message whose sender gets no notification is removed (or
 * marked warned) without one, and the log says why. 0 once recorded. */
static int notify_suppressed(struct qmgr *q, struct qmsg *m, enum dsn_kind kind, const char *remove_reason,
                             const char *reason)
{
	log_info("bounce", "%s: sender %s notification suppressed: %s", m->info->id,
	         kind == DSN_KIND_FAILURE ? "non-delivery" : "delay", reason);
	if (kind == DSN_KIND_FAILURE) {
		qmgr_failed_record(q, m, remove_reason, NULL);
		return 0;
	}
	queue_batch_warn(q->batch, m->info->id, NULL);
	qmgr_batch_schedule(q);
	return 0;
}

/* One notification to the sender: a bounce listing every recipient that failed (DSN_KIND_FAILURE; it
 * goes into q->batch with the removal of m, reason remove_reason), or a delay warning listing those still
 * deferred (DSN_KIND_DELAY; m is marked warned in the same write); none when dsn_policy says so. 0 once
 * recorded, or -1. */
int qmgr_notify(struct qmgr *q, struct qmsg *m, enum dsn_kind kind, const char *remove_reason)
{
	const struct queue_msg_info *info = m->info;
	struct evbuffer *original = notify_content(q, m);
	if (original == NULL)
		return -1;
	char why[DSN_POLICY_REASON_MAX];
	const char *reason = dsn_policy_suppress((const char *)evbuffer_pullup(original, -1),
	                                         evbuffer_get_length(original), why, sizeof(why));
	if (reason != NULL) {
		evbuffer_free(original);
		return notify_suppressed(q, m, kind, remove_reason, reason);
	}
	struct dsn_rcpt *rc = xcalloc(info->nrcpt, sizeof(*rc));
	size_t n = 0;
	int64_t now = time_now();
	for (size_t i = 0; i < info->nrcpt; i++) {
		const struct queue_rcpt_info *r = &info->rcpts[i];
		if (r->state != (kind == DSN_KIND_FAILURE ? QUEUE_RCPT_BOUNCED : QUEUE_RCPT_DEFERRED))
			continue;
		rc[n].final_rcpt = r->address;
		rc[n].orig_rcpt = strcmp(r->orig_address, r->address) != 0 ? r->orig_address : NULL;
		rc[n].action = kind == DSN_KIND_FAILURE ? DSN_ACTION_FAILED : DSN_ACTION_DELAYED;
		rc[n].retry_until = info->arrival + q->cfg->maximal_queue_lifetime;
		rc[n].status = r->dsn;
		rc[n].remote_mta = r->remote_mta;
		rc[n].diag_type = r->remote_mta != NULL ? DSN_DIAG_SMTP : DSN_DIAG_LOCAL;
		rc[n].diagnostic = r->last_reason;
		rc[n].last_attempt = now;
		n++;
	}
	struct dsn_report rep = {
	    .kind = kind,
	    .myhostname = q->cfg->myhostname,
	    .queue_id = info->id,
	    .sender = info->sender,
	    .arrival_time = info->arrival,
	    .message = (const char *)evbuffer_pullup(original, -1),
	    .message_len = evbuffer_get_length(original),
	    .rcpts = rc,
	    .rcpt_count = n,
	};
	struct evbuffer *body = xevbuffer_new();
	bool eightbit = false;
	const char *error;
	int ret = dsn_compose(&rep, body, &eightbit, &error);
	if (ret == 0 && q->dkim != NULL) {
		const char *sign_error;
		char *sig = dkim_signer_sign(q->dkim, (const char *)evbuffer_pullup(body, -1),
		                             evbuffer_get_length(body), (long long)now, &sign_error);
		if (sig != NULL)
			evbuffer_prepend(body, sig, strlen(sig));
		else
			log_warn("bounce", "%s: notification not DKIM-signed: %s", info->id, sign_error);
		free(sig);
	}
	if (ret == 0) {
		struct queue_new_msg dsn = {0};
		const char *to[] = {info->sender};
		queue_store_new_id(dsn.id);
		dsn.sender = "";
		dsn.rcpts = to;
		dsn.nrcpt = 1;
		dsn.client_name = "localhost";
		dsn.client_addr = "127.0.0.1";
		dsn.helo = q->cfg->myhostname;
		dsn.proto = "local";
		dsn.arrival = now;
		dsn.body = body;
		if (kind == DSN_KIND_FAILURE) {
			qmgr_failed_record(q, m, remove_reason, &dsn);
		} else {
			queue_batch_warn(q->batch, info->id, &dsn);
			qmgr_batch_schedule(q);
		}
		log_info("bounce", "%s: sender %s notification: %s", info->id,
		         kind == DSN_KIND_FAILURE ? "non-delivery" : "delay", dsn.id);
	} else {
		log_warn("bounce", "%s: cannot make the %s notification: %s", info->id,
		         kind == DSN_KIND_FAILURE ? "non-delivery" : "delay", error);
	}
	evbuffer_free(body);
	evbuffer_free(original);
	free(rc);
	return ret;
}

/* delay_warning_time: once a message has waited that long, tell its sender once. */
void qmgr_warn(struct qmgr *q, struct qmsg *m)
{
	if (!qmgr_schedule_warn_due(q->cfg, qmgr_age(q, m->info->arrival), m->info->warned) ||
	    !dsn_should_send(m->info->sender))
		return;
	if (qmgr_notify(q, m, DSN_KIND_DELAY, NULL) == 0)
		m->info->warned = true;
}
