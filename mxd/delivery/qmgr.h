/*
 * qmgr: the queue manager, the primary's delivery half. Runs in a thread of its own with its own event
 * loop, its own connections to the tables and the queue, its resolver (dns) and its outbound SMTP
 * connections, so that the fsyncs of recipient updates never stall the SMTP sessions.
 *
 * It takes due recipients from the queue (new mail at once when qmgr_kick() says so; deferred mail at
 * each queue_run_delay, or at once after "mxctl queue flush"), picks a next hop per recipient domain
 * (route: rules, weighted split, failover), groups the recipients of a message by next hop, and hands
 * each group to the transport (qmgr_transport.c: destinations, concurrency limits, connection reuse).
 * Each result is logged in Postfix's form (to=, orig_to=, relay=, delay=, delays=, dsn=, status=) and
 * recorded in a batch that the store's committer writes with the next messages it accepts (one writer
 * for queue.db, no fsync of its own; a bounce is queued in the same write that removes its message;
 * qmgr_batch.c). A temporary failure is retried with exponential backoff
 * between minimal_backoff_time and maximal_backoff_time until maximal_queue_lifetime; a permanent
 * failure or expiry bounces. When no recipient of a message is left to try, one RFC 3464 DSN lists every
 * failed recipient (never for a null sender), and the message is removed.
 *
 * On a secondary (role = secondary) every recipient goes to the primary: primary_hosts, or the MX hosts
 * of the hosted domain that are better than myhostname. While it holds mail, it probes the primary every
 * primary_probe_interval and flushes the queue as soon as the primary answers (fast drain). With
 * takeover_after set, once every relay to the primary has failed to connect for that long, it takes over:
 * each due recipient is expanded with its replica of the tables (the queue records the finals, keeping
 * orig_address, in one transaction per recipient) and delivered by the routes like on the primary, until
 * a probe (run every primary_probe_interval during a takeover) or a relay finds the primary again.
 */
#ifndef MXD_QMGR_H
#define MXD_QMGR_H

#include "mxd/dns/dns.h"

#include <stddef.h>
#include <stdint.h>

struct mxd_config;
struct qmgr;
struct queue_store;

#define QMGR_STATS_HOPS 64

/* Delivery counters since start, for metrics and "mxctl status". */
struct qmgr_stats {
	uint64_t sent, deferred, bounced;
	uint64_t throttled;       /* attempts answered with a throttling reply (reply_class.h) */
	uint64_t active_messages; /* being worked on now */
	uint64_t connections;     /* outbound connections open now */
	size_t nhops;
	struct {
		char route[64];    /* the rule that matched: "example.com", "*", "(relayhost)", "(primary)" */
		char nexthop[320]; /* "direct", "[relay.example]:587", ... */
		uint64_t sent, deferred, bounced;
	} hops[QMGR_STATS_HOPS];
	struct dns_stats dns;
};

/* A consistent copy of the counters. Thread-safe. */
void qmgr_stats(struct qmgr *q, struct qmgr_stats *stats_r);

/* Open what the queue manager needs and start its thread. cfg must outlive it; so must writer, the
 * started store whose committer writes the queue manager's results (queue_batch.h; NULL: it writes them
 * itself). 0, or -1 with *error_r. */
int qmgr_start(const struct mxd_config *cfg, struct queue_store *writer, struct qmgr **q_r,
               const char **error_r);

/* Mail was queued: scan the queue now. Thread-safe; cheap. */
void qmgr_kick(struct qmgr *q);

/* Message id was just queued (committed): take it now, without a scan. Thread-safe; cheap. */
void qmgr_queued(struct qmgr *q, const char *id);

/* Retry all deferred mail now (ETRN, and the secondary's fast drain). Thread-safe. */
void qmgr_flush(struct qmgr *q);

/* Stop the thread: connections are closed, recipients in flight keep their queue state (they are tried
 * again after the restart). Clears *q. */
void qmgr_stop(struct qmgr **q);

#endif
