/* qmgr_result: what the result of a delivery attempt does (qmgr_transport.c reports each job here):
 * each recipient's new state (sent, bounced, deferred with its backoff, or expired), its log line in
 * Postfix's form, the counters, and failover to the route's next hop after a connection-level failure.
 * See qmgr_private.h. */
#include "mxd/delivery/qmgr_private.h"

#include "mxd/common/addr.h"
#include "mxd/common/config.h"
#include "mxd/common/log.h"
#include "mxd/common/util.h"
#include "mxd/delivery/qmgr_log.h"
#include "mxd/delivery/qmgr_schedule.h"
#include "mxd/delivery/reply_class.h"
#include "mxd/queue/queue_batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Postfix prints delays with at most two decimals and no trailing zeros ("0.52", "3", "0.1"). */
static const char *fmt_delay(char *buf, size_t size, int64_t msec)
{
	if (msec < 0)
		msec = 0;
	if (msec >= 10000)
		snprintf(buf, size, "%lld", (long long)(msec / 1000));
	else if (msec >= 100 || msec % 100 == 0)
		snprintf(buf, size, "%.1f", (double)msec / 1000.0);
	else
		snprintf(buf, size, "%.2f", (double)msec / 1000.0);
	size_t len = strlen(buf);
	if (strchr(buf, '.') != NULL) {
		while (len > 0 && buf[len - 1] == '0')
			buf[--len] = '\0';
		if (len > 0 && buf[len - 1] == '.')
			buf[--len] = '\0';
	}
	return buf;
}

static int64_t wall_msec(void)
{
	return time_now_usec() / 1000;
}

static void result_log_rcpt(struct qmgr *q, struct qmsg *m, const struct queue_rcpt_info *r,
                            const char *relay, const struct smtp_client_result *res, const char *dsn,
                            const char *status, const char *diag)
{
	char d0[32], d1[32], d2[32], d3[32], d4[32];
	int64_t now = wall_msec();
	int64_t a = m->pickup_msec - m->info->arrival * 1000;
	int64_t c = res != NULL ? res->conn_msec : 0, dd = res != NULL ? res->xmit_msec : 0;
	int64_t total = now - m->info->arrival * 1000;
	int64_t b = total - a - c - dd;
	char orig[ADDR_PATH_MAX + 16] = "";
	if (strcmp(r->orig_address, r->address) != 0)
		snprintf(orig, sizeof(orig), " orig_to=<%s>,", r->orig_address);
	log_info("smtp", "%s: to=<%s>,%s relay=%s, delay=%s, delays=%s/%s/%s/%s, dsn=%s, status=%s (%s)",
	         m->info->id, r->address, orig, relay, fmt_delay(d0, sizeof(d0), total),
	         fmt_delay(d1, sizeof(d1), a), fmt_delay(d2, sizeof(d2), b), fmt_delay(d3, sizeof(d3), c),
	         fmt_delay(d4, sizeof(d4), dd), dsn, status, diag);
	(void)q;
}

/* Move a job whose hop failed at connection level (or throttled us) to the next choice of its route, if
 * there is one. */
static bool result_reroute(struct qjob *job, const struct smtp_client_result *res, bool throttled)
{
	struct qmgr *q = job->msg->q;
	int64_t now = time_now();
	if (job->choice.hop_id != 0 && throttled)
		route_report_throttled(q->routes, job->choice.hop_id, now);
	else if (job->choice.hop_id != 0)
		route_report(q->routes, job->choice.hop_id, false, now);
	if (job->reroutes >= ROUTE_FAILURE_THRESHOLD)
		return false;
	const char *domain = addr_domain(job->msg->info->rcpts[job->idx[0]].address);
	struct route_choice next;
	if (domain == NULL || route_select(q->routes, domain, now, &next, NULL) != 0)
		return false;
	if (next.hop_id == job->choice.hop_id && (next.hop_id == 0 || next.kind == DB_ROUTE_NEXTHOP_DIRECT)) {
		route_choice_clear(&next);
		return false; /* no circuit to open there, and nowhere else to go */
	}
	log_info("qmgr", "%s: %s failed (%s); trying %s", job->msg->info->id, job->choice.nexthop, res->diag,
	         next.nexthop);
	route_choice_clear(&job->choice);
	job->choice = next;
	job->reroutes++;
	qmgr_transport_submit(q, job);
	return true;
}

/* Count one recipient's outcome, overall and for its route and next hop. */
static void result_count(struct qmgr *q, const struct route_choice *c, enum queue_rcpt_state state)
{
	struct qmgr_stats *st = &q->stats;
	pthread_mutex_lock(&q->lock);
	size_t i;
	for (i = 0; i < st->nhops; i++)
		if (strcmp(st->hops[i].nexthop, c->nexthop) == 0 && strcmp(st->hops[i].route, c->match) == 0)
			break;
	if (i == st->nhops && st->nhops < QMGR_STATS_HOPS) {
		str_copy(st->hops[i].route, sizeof(st->hops[i].route), c->match);
		str_copy(st->hops[i].nexthop, sizeof(st->hops[i].nexthop), c->nexthop);
		st->nhops++;
	}
	uint64_t dummy[3] = {0, 0, 0};
	uint64_t *sent = i < st->nhops ? &st->hops[i].sent : &dummy[0];
	uint64_t *deferred = i < st->nhops ? &st->hops[i].deferred : &dummy[1];
	uint64_t *bounced = i < st->nhops ? &st->hops[i].bounced : &dummy[2];
	if (state == QUEUE_RCPT_SENT) {
		st->sent++;
		(*sent)++;
	} else if (state == QUEUE_RCPT_BOUNCED) {
		st->bounced++;
		(*bounced)++;
	} else {
		st->deferred++;
		(*deferred)++;
	}
	pthread_mutex_unlock(&q->lock);
}

/* The queue's copy of r after update u (queue_store_update_rcpts: NULL strings keep the old ones). */
void qmgr_result_apply(struct queue_rcpt_info *r, const struct queue_rcpt_update *u)
{
	r->state = u->state;
	r->next_attempt = u->next_attempt;
	r->attempts++;
	if (u->dsn != NULL) {
		free(r->dsn);
		r->dsn = xstrdup(u->dsn);
	}
	if (u->reason != NULL) {
		free(r->last_reason);
		r->last_reason = xstrdup(u->reason);
	}
	if (u->remote_mta != NULL) {
		free(r->remote_mta);
		r->remote_mta = xstrdup(u->remote_mta);
	}
}

/* Did the server throttle us (reply_class.h): nothing delivered, and the reply that decided it, or every
 * recipient's, a throttling answer? */
static bool result_throttled(const struct smtp_client_result *res)
{
	if (res->nsent > 0 || res->nbounced > 0)
		return false;
	if (res->failure != SMTP_CLIENT_OK &&
	    reply_class_throttle(res->reply.code, res->reply.enh, res->reply.text))
		return true;
	bool any = false;
	for (size_t i = 0; i < res->nrcpt; i++) {
		const struct smtp_client_reply *r = &res->rcpts[i].reply;
		if (r->code == 0)
			continue;
		if (!reply_class_throttle(r->code, r->enh, r->text))
			return false;
		any = true;
	}
	return any;
}

/* Count a throttling answer (route stats and metrics) and say it in the log. */
static void result_throttle_note(struct qjob *job, const struct smtp_client_result *res)
{
	struct qmgr *q = job->msg->q;
	const struct smtp_client_reply *r = &res->reply;
	for (size_t i = 0; r->code == 0 && i < res->nrcpt; i++)
		r = &res->rcpts[i].reply;
	log_warn("qmgr", "%s: %s throttles us: %d %s %s", job->msg->info->id,
	         res->relay[0] != '\0' ? res->relay : job->choice.nexthop, r->code, r->enh, r->text);
	pthread_mutex_lock(&q->lock);
	q->stats.throttled++;
	pthread_mutex_unlock(&q->lock);
}

void qmgr_result_job_done(struct qjob *job, const struct smtp_client_result *res)
{
	struct qmsg *m = job->msg;
	struct qmgr *q = m->q;
	bool conn_level = res->failure == SMTP_CLIENT_FAIL_CONNECT || res->failure == SMTP_CLIENT_FAIL_TLS ||
	                  res->failure == SMTP_CLIENT_FAIL_AUTH;
	bool to_primary = strcmp(job->choice.match, QMGR_PRIMARY_MATCH) == 0;
	bool throttled = !to_primary && result_throttled(res);
	bool relay_hop = job->choice.hop_id != 0 && job->choice.kind != DB_ROUTE_NEXTHOP_DIRECT;
	if (throttled)
		result_throttle_note(job, res);
	if (to_primary)
		qmgr_primary_seen(q, res->failure != SMTP_CLIENT_FAIL_CONNECT);
	else if ((conn_level || (throttled && relay_hop)) && result_reroute(job, res, throttled))
		return; /* (the relay to the primary has no route to fail over to) */
	if (throttled && !relay_hop && job->choice.hop_id != 0)
		route_report_throttled(q->routes, job->choice.hop_id, time_now()); /* counted */
	/* a direct destination that throttles us is backed off on its own schedule */
	int64_t backoff_until = 0;
	bool direct = job->choice.kind == DB_ROUTE_NEXTHOP_DIRECT;
	if (job->dest != NULL && direct && throttled)
		backoff_until = qmgr_transport_throttled(q, job->dest, time_now());
	else if (job->dest != NULL && direct && res->nsent > 0)
		qmgr_transport_delivered(job->dest);
	else if (job->dest != NULL && direct && job->dest->throttled_until > time_now())
		backoff_until = job->dest->throttled_until;
	if (!conn_level && !throttled && job->choice.hop_id != 0)
		route_report(q->routes, job->choice.hop_id, true, time_now());

	int64_t now = time_now();
	struct queue_rcpt_update *u = xcalloc(job->n, sizeof(*u));
	char(*reasons)[SMTP_CLIENT_TEXT_MAX + 32] = xcalloc(job->n, sizeof(*reasons));
	char(*fallback)[ADDR_MAX + 1] = xcalloc(job->n, sizeof(*fallback));
	char remote_mta[SMTP_CLIENT_RELAY_MAX];
	str_copy(remote_mta, sizeof(remote_mta), res->relay); /* "host[addr]:port" -> "host" */
	remote_mta[strcspn(remote_mta, "[")] = '\0';
	bool expired_logged = false;
	for (size_t i = 0; i < job->n; i++) {
		const struct queue_rcpt_info *r = &m->info->rcpts[job->idx[i]];
		const struct smtp_client_rcpt_result *rr = &res->rcpts[i];
		enum smtp_client_status st = rr->status;
		const char *diag = rr->diag[0] != '\0' ? rr->diag : res->diag;
		const char *dsn = rr->reply.enh[0] != '\0' ? rr->reply.enh : res->reply.enh;
		const char *status = smtp_client_status_str(st);
		/* The queue keeps the remote reply itself and who gave it: the DSN's Diagnostic-Code and
		 * Remote-MTA. Without a reply (connection, DNS, local trouble) it keeps our explanation. */
		const struct smtp_client_reply *reply = rr->reply.code != 0 ? &rr->reply : &res->reply;
		snprintf(reasons[i], sizeof(reasons[i]), "%d %s %s", reply->code, reply->enh, reply->text);
		u[i].idx = r->idx;
		u[i].dsn = dsn;
		u[i].reason = reply->code != 0 ? reasons[i] : diag;
		u[i].remote_mta = reply->code != 0 ? remote_mta : NULL;
		if (st == SMTP_CLIENT_SENT) {
			u[i].state = QUEUE_RCPT_SENT;
		} else if (st == SMTP_CLIENT_BOUNCED) {
			u[i].state = QUEUE_RCPT_BOUNCED;
		} else {
			u[i].state = qmgr_schedule_retry(q->cfg, now, qmgr_age(q, m->info->arrival),
			                                 r->attempts, &u[i].next_attempt);
			if (u[i].state == QUEUE_RCPT_BOUNCED)
				status = "expired";
		}
		if (u[i].state == QUEUE_RCPT_DEFERRED && u[i].next_attempt < backoff_until)
			u[i].next_attempt = backoff_until;
		if (!to_primary && st != SMTP_CLIENT_SENT &&
		    qmgr_fallback_due(q, m, r, u[i].state, fallback[i])) {
			u[i].state = QUEUE_RCPT_DEFERRED; /* to its fallback, at once */
			u[i].next_attempt = now;
			status = "deferred";
		} else {
			fallback[i][0] = '\0';
		}
		if (strcmp(status, "expired") == 0 && !expired_logged) {
			log_info("qmgr", "%s: from=<%s>, status=expired, returned to sender", m->info->id,
			         m->info->sender);
			expired_logged = true;
		}
		if (job->choice.hop_id != 0)
			route_count(q->routes, job->choice.hop_id,
			            u[i].state == QUEUE_RCPT_SENT      ? ROUTE_SENT
			            : u[i].state == QUEUE_RCPT_BOUNCED ? ROUTE_BOUNCED
			                                               : ROUTE_DEFERRED);
		if (fallback[i][0] == '\0')
			qmgr_owner_event(q, m, r, u[i].state, u[i].reason);
		result_count(q, &job->choice, u[i].state);
		result_log_rcpt(q, m, r, res->relay[0] != '\0' ? res->relay : "none", res, dsn, status, diag);
	}
	queue_batch_update(q->batch, m->info->id, u, job->n);
	qmgr_log_attempt(q, job, res, u);
	for (size_t i = 0; i < job->n; i++) {
		qmgr_result_apply(&m->info->rcpts[job->idx[i]], &u[i]);
		if (fallback[i][0] != '\0')
			qmgr_fallback_record(q, m, &m->info->rcpts[job->idx[i]], fallback[i], u[i].reason);
	}
	qmgr_batch_schedule(q);
	free(fallback);
	free(u);
	free(reasons);
	qmgr_job_free(job);
	if (--m->jobs == 0)
		qmgr_msg_finish(m);
}
