/*
 * qmgr_private: what the queue manager's files share: qmgr.c (thread, events, messages in work, scans),
 * qmgr_result.c (what an attempt's result does), qmgr_transport.c (destinations, DNS, connections),
 * qmgr_batch.c (write batches), qmgr_notify.c (bounces, delay warnings), qmgr_failed.c (failed mail
 * kept for failed_retention), qmgr_takeover.c (the
 * secondary's choices) and qmgr_log.c (through qmgr_log.h: delivery log rows). The pure timing decisions
 * are apart, in qmgr_schedule.h. Everything here lives in the queue manager's thread (except what is
 * marked "lock") and nothing outside mxd/delivery/qmgr*.c includes it.
 */
#ifndef MXD_QMGR_PRIVATE_H
#define MXD_QMGR_PRIVATE_H

#include "mxd/delivery/dsn.h"
#include "mxd/delivery/qmgr.h"
#include "mxd/queue/queue_store.h"
#include "mxd/delivery/route.h"
#include "mxd/delivery/smtp_client.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

struct db;
struct dns;
struct event;
struct event_base;
struct queue_batch;

/* A message the queue manager is working on. */
struct qmsg {
	struct qmgr *q;
	struct queue_msg_info *info;
	struct evbuffer *body;
	bool eightbit;
	int64_t pickup_msec; /* wall clock when picked up (delays "a") */
	unsigned jobs;       /* jobs not yet finished */
	struct qmsg *prev, *next;
	struct qmsg *hnext; /* in q->active (by id) */
};

/* Some recipients of one message, for one next hop. */
struct qjob {
	struct qmsg *msg;
	struct route_choice choice;
	int *idx; /* indexes into msg->info->rcpts */
	size_t n;
	bool forwarded;    /* its recipients are forwarded (qmgr_rcpt_forwarded): the sender goes out SRS'd */
	unsigned reroutes; /* times moved to another hop after a connection-level failure */
	int64_t queued_msec; /* when it entered its destination's queue (delays "b") */
	struct qdest *dest;
	struct qjob *next;
};

struct qconn;
struct qprobe;

/* A job's destructor (its choice, its indexes, itself). */
static inline void qmgr_job_free(struct qjob *job)
{
	route_choice_clear(&job->choice);
	free(job->idx);
	free(job);
}

/* qmgr_transport.c reports each job it was given, exactly once, through this: delivered, refused or failed
 * (res->failure says at which stage); job is the callee's to free, res is valid during the call. */
typedef void qmgr_transport_done_cb(struct qjob *job, const struct smtp_client_result *res);
/* A probe of the primary got its 220. */
typedef void qmgr_transport_probe_cb(struct qmgr *q);

/* A next hop with its own queue, connections and concurrency limit. */
struct qdest {
	struct qmgr *q;
	char key[600];
	struct route_choice choice; /* how to reach it (host, port, auth, TLS) */
	char domain[256];           /* DIRECT: the recipient domain */
	struct qjob *head, **tail;
	unsigned active; /* connections open: busy, idle or connecting */
	struct qconn *idle;
	struct qconn *conns; /* all of them: busy, idle, connecting */
	bool resolving;
	struct dns_lookup *lookup;
	struct smtp_client_peer *peers;
	char **peer_names;
	size_t npeer;
	int64_t peers_expire;
	size_t primary_next; /* resolving primary_hosts: the entry being looked up */
	/* rate cap (the hop's --rate, else default_destination_rate_delay): no delivery starts before */
	int64_t next_send_msec; /* monotonic */
	struct event *rate_ev;  /* wakes dest_dispatch() then */
	/* throttled (reply_class.h) by a direct destination: no attempt before throttled_until (wall
	 * clock), a backoff of its own that doubles with each throttle in a row */
	int64_t throttled_until;
	unsigned throttles;
	struct qdest *next;
};

#define QMGR_ACTIVE_LIMIT   500  /* messages worked on at once */
#define QMGR_ACTIVE_BUCKETS 1024 /* hash buckets of the messages in work */
#define QMGR_NEW_MAX        1024 /* new messages handed over between two kicks; more: a whole scan */

struct dkim_signer;

struct qmgr {
	const struct mxd_config *cfg;
	pthread_t thread;
	struct event_base *base;
	struct event *kick_ev, *tick_ev, *stop_ev;
	/* qmgr_batch.c: results recorded this pass (batch), handed to the committer (inflight) */
	struct queue_store *writer; /* the store whose committer writes them (NULL: written here) */
	struct queue_batch *batch, *inflight, *spare;
	struct event *batch_ev, *batch_done_ev;
	bool batch_landed; /* set by the committer's thread once inflight is written (lock) */
	bool scan_wanted;  /* a scan waits for the results in flight */
	int64_t scan_until;
	pthread_mutex_t lock;
	bool kicked;
	bool kick_scan;                                             /* a whole scan was asked for (lock) */
	char (*new_ids)[QUEUE_ID_SIZE], (*new_ids2)[QUEUE_ID_SIZE]; /* queued since the last kick (lock) */
	size_t nnew;
	struct qmsg *active[QMGR_ACTIVE_BUCKETS]; /* the messages in work, by id */
	struct db *db;
	struct queue_store *queue;
	struct dns *dns;
	struct dkim_signer *dkim; /* signs our notifications for the domain of their From:; NULL: no key */
	struct route_table *routes;
	SSL_CTX *tls_ctx;
	struct qmsg *msgs;
	size_t nmsgs;
	struct qdest *dests;
	unsigned conns; /* outbound connections open, in all */
	int64_t last_deferred_scan;
	int64_t flush_counter;
	int64_t last_stats_flush;
	int64_t last_failed_purge;
	int64_t last_owner_check;
	bool secondary;
	int64_t primary_down_since; /* secondary: first connection failure to the primary in a row; 0: up */
	bool takeover;              /* secondary: takeover_after passed: deliver directly, aliases expanded */
	bool flush_requested;       /* ETRN: guarded by lock */
	int64_t last_probe;
	unsigned probes_running;
	uint64_t probe_round, probe_round_ok;
	struct qprobe *probes;
	struct qmgr_stats stats;                /* guarded by lock */
	int64_t last_wall, last_mono;           /* clocks at the last tick, seconds */
	int64_t clock_skew;                     /* wall-clock jumps seen, seconds (persisted in the queue) */
	struct srs *srs;                        /* NULL: SRS off */
	struct peer_check *peer_check;          /* our own addresses (qmgr_transport.c) */
	qmgr_transport_done_cb *transport_done; /* qmgr_transport_init() */
};

#define QMGR_BATCH_MAX                                                                                       \
	256 /* results recorded before they are written without waiting for the pass to end                  \
	     */
#define QMGR_RCPT_PER_TRANSACTION                                                                            \
	50 /* recipients per SMTP transaction (Postfix: smtp_destination_recipient_limit) */
#define QMGR_PRIMARY_NEXTHOP "(primary_hosts)" /* a secondary's one destination when primary_hosts is set */
#define QMGR_PRIMARY_MATCH   "(primary)"       /* route_choice.match of a secondary's relay to the primary */

/* qmgr.c */
/* How long a message has been queued, on a clock that does not count jumps of the wall clock (see
 * qmgr_clock_check): a clock stepped 7 days forward must not expire the whole queue at once. */
int64_t qmgr_age(const struct qmgr *q, int64_t arrival);
/* Every job of m has finished: keep it for later (deferred), or bounce what failed and keep
 * it as failed (qmgr_failed_record), or remove it when all was delivered. m is
 * freed. */
void qmgr_msg_finish(struct qmsg *m);
/* Is r mail we forward for a hosted alias (accepted as another address than it goes to)? Its envelope
 * sender is rewritten with SRS; relayed mail (mynetworks to a domain we do not host) keeps its own. */
bool qmgr_rcpt_forwarded(const struct queue_rcpt_info *r);
/* Run the scan that waited for the results in flight, if one did. */
void qmgr_scan_resume(struct qmgr *q);

/* qmgr_result.c */
/* The transport's done callback: log and record each recipient's outcome (q->batch), or move the job to
 * the route's next hop after a connection-level failure; finishes the message after its last job. */
void qmgr_result_job_done(struct qjob *job, const struct smtp_client_result *res);
/* The queue's copy of r after update u (queue_store_update_rcpts: NULL strings keep the old ones). */
void qmgr_result_apply(struct queue_rcpt_info *r, const struct queue_rcpt_update *u);

/* qmgr_takeover.c */
/* Secondary: the primary answered (up), or no address of it could be reached (a relay job's connection
 * failure); takeover_after counts from the first failure in a row. */
void qmgr_primary_seen(struct qmgr *q, bool up);
/* A secondary sends everything to the primary: primary_hosts when set, else the MX hosts of the
 * recipient's (hosted) domain that are better than ourselves. */
void qmgr_secondary_choice(struct qmgr *q, const char *domain, struct route_choice *c);
/* Takeover: expand every due recipient of *info not yet expanded (the queue records the finals, one
 * transaction per recipient), then read *info again if the queue changed (NULL when that fails).
 * *keep_r: the queue indexes of recipients that could not be expanded (they go to the primary); free it. */
void qmgr_takeover_expand(struct qmgr *q, struct queue_msg_info **info, int64_t deferred_until, int **keep_r,
                          size_t *nkeep_r);
/* Does the secondary relay r to the primary? Always, unless in takeover: then only what is in keep. */
bool qmgr_relay_to_primary(struct qmgr *q, const struct queue_rcpt_info *r, const int *keep, size_t nkeep);

/* qmgr_notify.c */
/* One notification to the sender of m: a bounce listing every recipient that failed (DSN_KIND_FAILURE;
 * recorded in q->batch with m's failed state or removal, qmgr_failed_record(), reason remove_reason), or a
 * delay warning listing those still deferred (DSN_KIND_DELAY; m is marked warned in the same write). 0 once
 * recorded, or -1. */
int qmgr_notify(struct qmgr *q, struct qmsg *m, enum dsn_kind kind, const char *remove_reason);
/* delay_warning_time: once m has waited that long, tell its sender, once. */
void qmgr_warn(struct qmgr *q, struct qmsg *m);

/* qmgr_failed.c */
/* Every recipient of m is done and some failed for good: record (q->batch) that m is kept as failed
 * (failed_retention > 0) or removed with remove_reason, with notify (the sender's bounce; NULL: none)
 * queued in the same write. */
void qmgr_failed_record(struct qmgr *q, struct qmsg *m, const char *remove_reason,
                        const struct queue_new_msg *notify);
/* Does recipient r of m, whose attempt ended in state, go to its alias's fallback instead (refused for
 * good, or deferred and m older than fallback_after; the alias, else its domain's catch-all, has a
 * fallback that r is not already at)? fb gets the fallback. */
bool qmgr_fallback_due(struct qmgr *q, const struct qmsg *m, const struct queue_rcpt_info *r,
                       enum queue_rcpt_state state, char fb[ADDR_MAX + 1]);
/* Record (q->batch) that r goes to fb from now on, log it (mail.log and the delivery log's 'fallback'
 * row, with reason) and change r->address in memory. The caller has recorded r as DEFERRED, due now. */
void qmgr_fallback_record(struct qmgr *q, struct qmsg *m, struct queue_rcpt_info *r, const char *fb,
                          const char *reason);
/* Remove the failed messages kept longer than failed_retention (looks every few seconds). */
void qmgr_failed_expire(struct qmgr *q, int64_t now);

/* qmgr_owner.c */
#define QMGR_OWNER_FALLBACK ((enum queue_rcpt_state)100) /* qmgr_owner_event(): the fallback was used */
/* Recipient r of m ended an attempt in state (after any fallback) with reason: record an owner event
 * (queue_owner.h) when it is a forward of a domain with a report address that failed for good, has
 * been deferred longer than owner_warning_time, or (state QMGR_OWNER_FALLBACK) went to its alias's
 * fallback destination. */
void qmgr_owner_event(struct qmgr *q, const struct qmsg *m, const struct queue_rcpt_info *r,
                      enum queue_rcpt_state state, const char *reason);
/* Make and queue the owner notices due (every few seconds). */
void qmgr_owner_notify(struct qmgr *q, int64_t now);

/* qmgr_batch.c: the queue manager's writes (queue_batch.h). Results are recorded in q->batch during a
 * pass of the loop and handed to the committer when the pass ends (or when QMGR_BATCH_MAX are waiting);
 * one batch is in flight at a time. Anything that reads the queue's state (a scan) waits until
 * qmgr_batch_settled(). */
void qmgr_batch_init(struct qmgr *q);
void qmgr_batch_schedule(struct qmgr *q); /* something was recorded in q->batch */
void qmgr_batch_flush(struct qmgr *q);    /* hand q->batch over now, unless one is in flight */
bool qmgr_batch_settled(const struct qmgr *q);
/* At stop: wait for the batch in flight, write what is left on the queue manager's own connection. */
void qmgr_batch_shutdown(struct qmgr *q);

/* qmgr_transport.c: destinations, their DNS, concurrency limits and connections. */
/* Set the callback that every job handed to qmgr_transport_submit() comes back through, and learn our own
 * addresses (smtpd_listen). Once, at start. 0, or -1 with *error_r. */
int qmgr_transport_init(struct qmgr *q, qmgr_transport_done_cb *done, const char **error_r);
/* A direct destination throttled job's attempt: back it off (its own schedule, from minimal_backoff_time
 * doubling up to maximal_backoff_time); jobs for it are deferred without an attempt until then. Returns
 * the time the backoff ends. A delivery through it ends the series. */
int64_t qmgr_transport_throttled(struct qmgr *q, struct qdest *d, int64_t now);
void qmgr_transport_delivered(struct qdest *d);
/* Queue job for its next hop (job->choice); the transport holds it until it reports it. */
void qmgr_transport_submit(struct qmgr *q, struct qjob *job);
/* At stop: close every connection and free every job still held, without reporting them (their
 * recipients keep their queue state and are tried again after the restart). */
void qmgr_transport_free_all(struct qmgr *q);
/* Secondary: probe the primary (each destination's first address); on a 220, cb(q) runs. */
void qmgr_transport_probe_primary(struct qmgr *q, qmgr_transport_probe_cb *cb);

#endif
