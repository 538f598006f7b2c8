/* qmgr: the thread, its events (kick, tick, stop), messages in work and the scan of the queue. See qmgr.h;
 * results in qmgr_result.c, timing decisions in qmgr_schedule.c, transport in qmgr_transport.c, write
 * batches in qmgr_batch.c, notifications in qmgr_notify.c, the secondary's takeover in qmgr_takeover.c. */
#include "mxd/delivery/qmgr_private.h"

#include "mxd/auth/dkim_signer.h"
#include "db/db.h"
#include "mxd/common/addr.h"
#include "mxd/common/config.h"
#include "mxd/dns/dns.h"
#include "mxd/delivery/dsn.h"
#include "mxd/rewrite/expand.h"
#include "mxd/common/log.h"
#include "mxd/delivery/qmgr_log.h"
#include "mxd/delivery/qmgr_schedule.h"
#include "mxd/queue/queue_batch.h"
#include "mxd/rewrite/srs.h"
#include "mxd/common/util.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define QMGR_SCAN_PAGE 100

static void qmgr_scan(struct qmgr *q, int64_t deferred_until);

int64_t qmgr_age(const struct qmgr *q, int64_t arrival)
{
	return qmgr_schedule_age(time_now(), q->clock_skew, arrival);
}
static void qmgr_flush_now(struct qmgr *q);
static void qmgr_stop_cb(evutil_socket_t fd, short what, void *arg);

static struct qmsg **qmsg_bucket(struct qmgr *q, const char *id)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (const unsigned char *p = (const unsigned char *)id; *p != '\0'; p++)
		h = (h ^ *p) * 16777619u;
	return &q->active[h % QMGR_ACTIVE_BUCKETS];
}

static void qmsg_free(struct qmsg *m)
{
	struct qmgr *q = m->q;
	for (struct qmsg **pp = qmsg_bucket(q, m->info->id); *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == m) {
			*pp = m->hnext;
			break;
		}
	if (m->prev != NULL)
		m->prev->next = m->next;
	else
		q->msgs = m->next;
	if (m->next != NULL)
		m->next->prev = m->prev;
	q->nmsgs--;
	queue_msg_info_free(&m->info);
	if (m->body != NULL)
		evbuffer_free(m->body);
	free(m);
}

static bool qmsg_active(struct qmgr *q, const char *id)
{
	for (struct qmsg *m = *qmsg_bucket(q, id); m != NULL; m = m->hnext)
		if (strcmp(m->info->id, id) == 0)
			return true;
	return false;
}

/* Every job of m has finished: keep it for later, or bounce what failed and remove it. Its recipients'
 * state in m->info is current (qmgr_result_job_done applies each result to it as it records it); the removal
 * and the bounce go into q->batch, in one write. */
void qmgr_msg_finish(struct qmsg *m)
{
	struct qmgr *q = m->q;
	bool bounced = false;
	for (size_t i = 0; i < m->info->nrcpt; i++) {
		enum queue_rcpt_state st = m->info->rcpts[i].state;
		if (st == QUEUE_RCPT_PENDING || st == QUEUE_RCPT_DEFERRED) {
			qmgr_warn(q, m);
			qmsg_free(m); /* deferred: the next scan takes it again when due */
			return;
		}
		bounced |= st == QUEUE_RCPT_BOUNCED;
	}
	if (!bounced) {
		queue_batch_remove(q->batch, m->info->id, "delivered", NULL);
		qmgr_batch_schedule(q);
	} else if (!dsn_should_send(m->info->sender)) {
		qmgr_failed_record(q, m, "finished (bounced)", NULL);
	} else if (qmgr_notify(q, m, DSN_KIND_FAILURE, "finished (bounced)") < 0) {
		/* the message stays; the bounce is tried again at the next deferred scan */
	}
	qmsg_free(m);
}

void qmgr_stats(struct qmgr *q, struct qmgr_stats *stats_r)
{
	pthread_mutex_lock(&q->lock);
	*stats_r = q->stats;
	pthread_mutex_unlock(&q->lock);
}

static bool body_has_8bit(struct evbuffer *body)
{
	struct evbuffer_ptr pos;
	struct evbuffer_iovec v;
	evbuffer_ptr_set(body, &pos, 0, EVBUFFER_PTR_SET);
	while (evbuffer_peek(body, -1, &pos, &v, 1) == 1) {
		const unsigned char *p = v.iov_base;
		size_t i = 0;
		for (; i + 8 <= v.iov_len; i += 8) { /* eight octets at a time */
			uint64_t w;
			memcpy(&w, p + i, sizeof(w));
			if ((w & UINT64_C(0x8080808080808080)) != 0)
				return true;
		}
		for (; i < v.iov_len; i++)
			if (p[i] >= 0x80)
				return true;
		if (evbuffer_ptr_set(body, &pos, v.iov_len, EVBUFFER_PTR_ADD) < 0)
			break;
	}
	return false;
}

bool qmgr_rcpt_forwarded(const struct queue_rcpt_info *r)
{
	return strcasecmp(r->orig_address, r->address) != 0;
}

/* Find the job of m for choice (same hop, and same domain for direct delivery) that can take r (one
 * envelope sender per job: forwarded and relayed recipients go apart), or make one. */
static struct qjob *job_for(struct qjob **jobs, struct qmsg *m, const struct route_choice *choice,
                            const struct queue_rcpt_info *r)
{
	for (struct qjob *j = *jobs; j != NULL; j = j->next)
		if (j->choice.hop_id == choice->hop_id && strcmp(j->choice.nexthop, choice->nexthop) == 0 &&
		    strcmp(j->choice.host, choice->host) == 0 && j->n < QMGR_RCPT_PER_TRANSACTION &&
		    j->forwarded == qmgr_rcpt_forwarded(r))
			return j;
	struct qjob *j = xcalloc(1, sizeof(*j));
	j->msg = m;
	j->choice = *choice;
	j->forwarded = qmgr_rcpt_forwarded(r);
	j->idx = xcalloc(m->info->nrcpt, sizeof(int));
	j->next = *jobs;
	*jobs = j;
	return j;
}

/* Take message id into work: route each due recipient and hand the jobs to the transport. */
static void qmgr_activate(struct qmgr *q, const char *id, int64_t deferred_until)
{
	struct queue_msg_info *info;
	const char *error;
	if (queue_store_get(q->queue, id, &info, &error) != 0)
		return;
	int *keep = NULL;
	size_t nkeep = 0;
	if (q->takeover) {
		qmgr_takeover_expand(q, &info, deferred_until, &keep, &nkeep);
		if (info == NULL) {
			free(keep);
			return;
		}
	}
	struct qmsg *m = xcalloc(1, sizeof(*m));
	m->q = q;
	m->info = info;
	m->pickup_msec = time_now_usec() / 1000;
	m->next = q->msgs;
	if (q->msgs != NULL)
		q->msgs->prev = m;
	q->msgs = m;
	q->nmsgs++;
	struct qmsg **bucket = qmsg_bucket(q, info->id);
	m->hnext = *bucket;
	*bucket = m;

	struct qjob *jobs = NULL;
	struct queue_rcpt_update *wait = xcalloc(info->nrcpt + 1, sizeof(*wait));
	size_t nwait = 0;
	int64_t now = time_now();
	for (size_t i = 0; i < info->nrcpt; i++) {
		const struct queue_rcpt_info *r = &info->rcpts[i];
		if (!qmgr_schedule_rcpt_due(r, deferred_until))
			continue;
		const char *domain = addr_domain(r->address);
		struct route_choice choice;
		int64_t retry_at = now + q->cfg->minimal_backoff_time;
		if (domain != NULL && qmgr_relay_to_primary(q, r, keep, nkeep)) {
			qmgr_secondary_choice(q, domain, &choice);
		} else if (domain == NULL || route_select(q->routes, domain, now, &choice, &retry_at) != 0) {
			/* every next hop of the route is down: wait for the next probe */
			wait[nwait].idx = r->idx;
			wait[nwait].state = QUEUE_RCPT_DEFERRED;
			wait[nwait].next_attempt = retry_at;
			wait[nwait].dsn = "4.4.1";
			wait[nwait].reason = "all next hops of the route are unavailable";
			nwait++;
			continue;
		}
		struct qjob *j = job_for(&jobs, m, &choice, r);
		route_choice_clear(&choice); /* job_for copied it */
		j->idx[j->n++] = (int)i;
	}
	if (nwait > 0 && queue_store_update_rcpts(q->queue, id, wait, nwait, &error) < 0)
		log_warn("qmgr", "%s: %s", id, error);
	for (size_t i = 0; i < nwait; i++)
		for (size_t k = 0; k < info->nrcpt; k++)
			if (info->rcpts[k].idx == wait[i].idx)
				qmgr_result_apply(&info->rcpts[k], &wait[i]);
	free(wait);
	free(keep);
	if (jobs == NULL) {
		qmgr_msg_finish(m);
		return;
	}
	m->body = xevbuffer_new();
	int rc = queue_store_read_body(q->queue, id, m->body, &error);
	if (rc != 0) {
		if (rc > 0) {
			/* a damaged message: set it aside (held) for the operator; the rest of the queue
			 * moves */
			log_warn("qmgr",
			         "%s: quarantined: the message content is missing (mxctl queue show/delete)",
			         id);
			if (queue_store_set_hold(q->queue, id, true, &error) < 0)
				log_warn("qmgr", "%s: %s", id, error);
		} else {
			log_warn("qmgr", "%s: cannot read the message: %s", id, error);
		}
		while (jobs != NULL) {
			struct qjob *next = jobs->next;
			qmgr_job_free(jobs);
			jobs = next;
		}
		qmsg_free(m);
		return;
	}
	m->eightbit = body_has_8bit(m->body);
	for (struct qjob *j = jobs; j != NULL; j = j->next)
		m->jobs++;
	while (jobs != NULL) {
		struct qjob *next = jobs->next;
		jobs->next = NULL;
		qmgr_transport_submit(q, jobs);
		jobs = next;
	}
}

void qmgr_scan_resume(struct qmgr *q)
{
	if (!q->scan_wanted)
		return;
	q->scan_wanted = false;
	int64_t until = q->scan_until;
	q->scan_until = 0;
	qmgr_scan(q, until);
}

/* Take every due message not yet in work, page by page, up to the active limit. */
static void qmgr_scan(struct qmgr *q, int64_t deferred_until)
{
	char ids[QMGR_SCAN_PAGE][QUEUE_ID_SIZE];
	char after[QUEUE_ID_SIZE] = "";
	size_t n;
	const char *error;
	if (!qmgr_batch_settled(q)) {
		/* the queue's state must be current before it is read: scan once the results are in */
		q->scan_wanted = true;
		if (deferred_until > q->scan_until)
			q->scan_until = deferred_until;
		qmgr_batch_flush(q);
		return;
	}
	do {
		if (queue_store_due(q->queue, deferred_until, after, QMGR_SCAN_PAGE, ids, &n, &error) < 0) {
			log_warn("qmgr", "queue scan: %s", error);
			return;
		}
		for (size_t i = 0; i < n && q->nmsgs < QMGR_ACTIVE_LIMIT; i++)
			if (!qmsg_active(q, ids[i]))
				qmgr_activate(q, ids[i], deferred_until);
		if (n > 0)
			str_copy(after, sizeof(after), ids[n - 1]);
	} while (n == QMGR_SCAN_PAGE && q->nmsgs < QMGR_ACTIVE_LIMIT);
}

/* New messages, straight from the committer's callbacks: taken without a scan of the queue. A whole scan
 * when more came than were kept, or when the active limit is reached (the next tick takes the rest). */
static void qmgr_take_new(struct qmgr *q, char (*ids)[QUEUE_ID_SIZE], size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (q->nmsgs >= QMGR_ACTIVE_LIMIT)
			return;
		if (!qmsg_active(q, ids[i]))
			qmgr_activate(q, ids[i], q->last_deferred_scan);
	}
}

static void qmgr_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct qmgr *q = arg;
	pthread_mutex_lock(&q->lock);
	q->kicked = false;
	bool etrn = q->flush_requested, scan = q->kick_scan || q->nnew > QMGR_NEW_MAX;
	q->flush_requested = q->kick_scan = false;
	char(*ids)[QUEUE_ID_SIZE] = q->new_ids;
	size_t n = q->nnew;
	q->new_ids = q->new_ids2; /* the other array takes the next ones */
	q->new_ids2 = ids;
	q->nnew = 0;
	pthread_mutex_unlock(&q->lock);
	if (etrn)
		qmgr_flush_now(q);
	else if (scan)
		qmgr_scan(q, q->last_deferred_scan);
	else
		qmgr_take_new(q, ids, n);
}

/* Every deferred recipient becomes due now, and the queue is scanned. */
static void qmgr_flush_now(struct qmgr *q)
{
	const char *error;
	if (queue_store_flush(q->queue, &error) < 0) {
		log_warn("qmgr", "flush: %s", error);
		return;
	}
	int64_t counter;
	if (queue_store_flush_counter(q->queue, &counter, &error) == 0)
		q->flush_counter = counter; /* our own flush: no need to notice it again */
	q->last_deferred_scan = time_now();
	qmgr_scan(q, q->last_deferred_scan);
}

/* Fast drain: the primary answers again; deliver what we hold at once, not at the next backoff slot. */
static void qmgr_primary_back(struct qmgr *q)
{
	qmgr_primary_seen(q, true);
	log_info("qmgr", "primary answers again: flushing the queue");
	qmgr_flush_now(q);
}

void qmgr_flush(struct qmgr *q)
{
	pthread_mutex_lock(&q->lock);
	q->flush_requested = true;
	pthread_mutex_unlock(&q->lock);
	qmgr_kick(q);
}

/* Compare the wall clock with the monotonic one since the last tick. A difference over a few minutes is
 * a jump (an operator or NTP stepping the clock): message ages do not count it, and deferred recipients'
 * retry times move with the clock, so a step back does not stall retries either. */
static void qmgr_clock_check(struct qmgr *q)
{
	int64_t wall = time_now(), mono = time_mono_msec() / 1000;
	int64_t jump = qmgr_schedule_clock_jump(wall, q->last_wall, mono, q->last_mono);
	q->last_wall = wall;
	q->last_mono = mono;
	if (jump == 0)
		return;
	const char *error;
	int64_t skew = q->clock_skew + jump;
	if (queue_store_clock_jump(q->queue, jump, skew, &error) < 0) {
		log_warn("qmgr", "clock jump: %s", error);
		return;
	}
	q->clock_skew = skew;
	log_warn("qmgr", "the clock jumped %s by %llds: queue lifetimes and retry times move with it",
	         jump > 0 ? "forward" : "backward", (long long)(jump > 0 ? jump : -jump));
}

/* Secondary: once the primary has been unreachable for takeover_after, deliver directly (aliases
 * expanded, routes as on the primary) until a probe or a relay finds it again. */
static void qmgr_takeover_check(struct qmgr *q, int64_t now)
{
	if (!qmgr_schedule_takeover_due(q->cfg, q->takeover, q->primary_down_since, now))
		return;
	q->takeover = true;
	log_info("qmgr", "takeover: primary unreachable for %llds, delivering directly",
	         (long long)(now - q->primary_down_since));
	qmgr_flush_now(q);
}

static void qmgr_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct qmgr *q = arg;
	qmgr_clock_check(q);
	struct dns_stats dns;
	dns_stats(q->dns, &dns);
	pthread_mutex_lock(&q->lock);
	q->stats.dns = dns;
	q->stats.active_messages = q->nmsgs;
	q->stats.connections = q->conns;
	pthread_mutex_unlock(&q->lock);
	int64_t now = time_now();
	int64_t flush;
	const char *error;
	if (queue_store_flush_counter(q->queue, &flush, &error) == 0 && flush != q->flush_counter) {
		q->flush_counter = flush;
		q->last_deferred_scan = 0; /* scan the deferred mail now */
		log_info("qmgr", "queue flush requested");
	}
	int changed = route_table_changed(q->routes, q->db, &error);
	if (changed > 0 && route_table_reload(q->routes, q->db, &error) < 0)
		changed = -1;
	if (changed < 0)
		log_warn("qmgr", "routing rules: %s", error);
	if (now - q->last_stats_flush >= 5) {
		q->last_stats_flush = now;
		if (route_stats_flush(q->routes, q->db, &error) < 0)
			log_warn("qmgr", "route statistics: %s", error);
	}
	pthread_mutex_lock(&q->lock);
	bool etrn = q->flush_requested;
	q->flush_requested = false;
	pthread_mutex_unlock(&q->lock);
	if (etrn)
		qmgr_flush_now(q);
	if (q->secondary)
		qmgr_takeover_check(q, now);
	if (q->secondary && now - q->last_probe >= q->cfg->primary_probe_interval) {
		int64_t count = 0, oldest;
		q->last_probe = now;
		/* in takeover, probe even with nothing held: its end depends on it */
		if (q->takeover ||
		    (queue_store_stats(q->queue, &count, &oldest, &error) == 0 && count > (int64_t)q->nmsgs))
			qmgr_transport_probe_primary(q, qmgr_primary_back);
	}
	if (now - q->last_deferred_scan >= q->cfg->queue_run_delay)
		q->last_deferred_scan = now;
	qmgr_log_expire(q, now);
	qmgr_failed_expire(q, now);
	qmgr_owner_notify(q, now);
	qmgr_scan(q, q->last_deferred_scan);
}

static void qmgr_wake(struct qmgr *q)
{
	bool was = q->kicked;
	q->kicked = true;
	if (!was)
		event_active(q->kick_ev, EV_READ, 0);
}

void qmgr_kick(struct qmgr *q)
{
	pthread_mutex_lock(&q->lock);
	q->kick_scan = true;
	qmgr_wake(q);
	pthread_mutex_unlock(&q->lock);
}

void qmgr_queued(struct qmgr *q, const char *id)
{
	pthread_mutex_lock(&q->lock);
	if (q->nnew < QMGR_NEW_MAX)
		str_copy(q->new_ids[q->nnew], QUEUE_ID_SIZE, id);
	if (q->nnew <= QMGR_NEW_MAX)
		q->nnew++; /* one past the room: a whole scan instead */
	qmgr_wake(q);
	pthread_mutex_unlock(&q->lock);
}

static void *qmgr_main(void *arg)
{
	struct qmgr *q = arg;
	event_base_dispatch(q->base);
	return NULL;
}

static void qmgr_free(struct qmgr *q)
{
	qmgr_transport_free_all(q);
	smtp_client_free_quitting();
	qmgr_batch_shutdown(q);
	free(q->new_ids);
	free(q->new_ids2);
	while (q->msgs != NULL)
		qmsg_free(q->msgs);
	if (q->routes != NULL) {
		const char *error;
		if (q->db != NULL && route_stats_flush(q->routes, q->db, &error) < 0)
			log_warn("qmgr", "route statistics: %s", error);
		route_table_free(&q->routes);
	}
	dns_free(&q->dns);
	dkim_signer_free(&q->dkim);
	srs_free(&q->srs);
	if (q->kick_ev != NULL)
		event_free(q->kick_ev);
	if (q->tick_ev != NULL)
		event_free(q->tick_ev);
	if (q->stop_ev != NULL)
		event_free(q->stop_ev);
	if (q->base != NULL) {
		/* a client's bufferevent (BEV_OPT_DEFER_CALLBACKS) freed above may still be held by a deferred
		 * callback, which event_base_free() drops without running: one more turn lets it go (its
		 * callbacks were cleared by bufferevent_free(), so nothing of ours runs) */
		event_base_loop(q->base, EVLOOP_NONBLOCK);
		event_base_free(q->base);
	}
	if (q->tls_ctx != NULL)
		SSL_CTX_free(q->tls_ctx);
	queue_store_close(&q->queue);
	db_close(&q->db);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

int qmgr_start(const struct mxd_config *cfg, struct queue_store *writer, struct qmgr **q_r,
               const char **error_r)
{
	struct qmgr *q = xcalloc(1, sizeof(*q));
	q->cfg = cfg;
	q->writer = writer;
	q->secondary = strcmp(cfg->role, "secondary") == 0;
	pthread_mutex_init(&q->lock, NULL);
	q->base = event_base_new();
	if (q->base == NULL) {
		*error_r = "cannot create the queue manager's event loop";
		goto fail;
	}
	if (db_open(cfg->database, DB_OPEN_READWRITE, &q->db, error_r) < 0 ||
	    queue_store_open(cfg->queue_directory, &q->queue, error_r) < 0 ||
	    queue_store_relax_durability(q->queue, error_r) < 0 ||
	    route_table_load(q->db, cfg->relayhost, cfg->smtp_tls_security_level, &q->routes, error_r) < 0 ||
	    smtp_client_tls_ctx_new(cfg->smtp_tls_CAfile, &q->tls_ctx, error_r) < 0)
		goto fail;
	q->dns = dns_new(q->base, cfg->resolver, error_r);
	if (q->dns == NULL ||
	    srs_new(cfg->srs_domain, cfg->srs_secret_file, cfg->srs_exclude_domains, &q->srs, error_r) < 0)
		goto fail;
	const char *error;
	/* notifications come From: MAILER-DAEMON@myhostname (dsn.c): signed for that domain when it has a key
	 */
	int found = dkim_signer_open(cfg->dkim_key_directory, cfg->myhostname, &q->dkim, &error);
	if (found < 0)
		log_warn("qmgr", "notifications will not be DKIM-signed: %s", error);
	else if (found > 0)
		log_info("qmgr", "notifications DKIM-signed as %s", dkim_signer_name(q->dkim));
	if (queue_store_flush_counter(q->queue, &q->flush_counter, &error) < 0)
		log_warn("qmgr", "%s", error);
	q->kick_ev = event_new(q->base, -1, 0, qmgr_kick_cb, q);
	qmgr_batch_init(q);
	if (qmgr_transport_init(q, qmgr_result_job_done, error_r) < 0)
		goto fail;
	q->new_ids = xcalloc(QMGR_NEW_MAX, sizeof(*q->new_ids));
	q->new_ids2 = xcalloc(QMGR_NEW_MAX, sizeof(*q->new_ids2));
	q->tick_ev = event_new(q->base, -1, EV_PERSIST, qmgr_tick_cb, q);
	q->stop_ev = event_new(q->base, -1, 0, qmgr_stop_cb, q);
	struct timeval one = {1, 0};
	event_add(q->tick_ev, &one);
	q->last_deferred_scan = time_now(); /* at start, whatever is due now */
	q->last_wall = time_now();
	q->last_mono = time_mono_msec() / 1000;
	if (queue_store_control_get(q->queue, "clock_skew", &q->clock_skew, &error) < 0)
		log_warn("qmgr", "%s", error);
	q->last_stats_flush = time_now();
	q->kick_scan = true; /* at start: a whole scan */
	event_active(q->kick_ev, EV_READ, 0);
	if (pthread_create(&q->thread, NULL, qmgr_main, q) != 0) {
		*error_r = "cannot start the queue manager thread";
		goto fail;
	}
	*q_r = q;
	return 0;
fail:
	qmgr_free(q);
	return -1;
}

static void qmgr_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct qmgr *q = arg;
	event_base_loopbreak(q->base);
}

void qmgr_stop(struct qmgr **qp)
{
	struct qmgr *q = *qp;
	if (q == NULL)
		return;
	/* An event, not event_base_loopbreak() from here: a break asked for before the thread's loop has
	 * started would be forgotten when it starts, and the join would wait forever. An event made active
	 * now runs as soon as the loop runs. */
	event_active(q->stop_ev, EV_READ, 0);
	pthread_join(q->thread, NULL);
	qmgr_free(q);
	*qp = NULL;
}
