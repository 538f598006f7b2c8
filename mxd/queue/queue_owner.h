/*
 * queue_owner: what the owners of a hosted domain are to be told about its forwards (tables owner_events
 * and owner_notices of queue.db; each host's own, like the queue). The queue manager records an event
 * when a forward to an alias's destination has been deferred longer than owner_warning_time ('delayed',
 * once per recipient), has failed for good ('failed') or went to the alias's fallback ('fallback').
 * Notices are batched: an event makes a notice for its (domain, destination) unless one went out less
 * than owner_notice_interval before it; such a notice lists every event of the pair not yet told.
 * The rest, events that came within the interval, wait for the domain's digest (owner_digest_interval
 * after the previous one; the clock starts with the domain's first notice), which lists them all. Both
 * go to the domain's report address (db/domain.h). Mail refused at our door never enters the queue, so it
 * never makes an event. Every call is one transaction on the store's synchronous connection; errors are -1
 * with *error_r in thread-local storage (queue_store.h).
 */
#ifndef MXD_QUEUE_OWNER_H
#define MXD_QUEUE_OWNER_H

#include "mxd/queue/queue_store.h"

#include <stddef.h>
#include <stdint.h>

/* One event: a forward of queue_id's recipient idx, accepted as alias of domain, to destination. */
struct queue_owner_event {
	char *queue_id;
	int idx;
	char *kind; /* "delayed", "failed" or "fallback" (went to the alias's fallback destination) */
	char *domain, *alias, *destination;
	char *reply; /* the remote reply or our diagnostic */
	int64_t at;
};

/* Record ev (at 0: now), unless the same (queue_id, idx, kind) was recorded before. 0 or -1. */
int queue_owner_record(struct queue_store *qs, const struct queue_owner_event *ev, const char **error_r);

/* The events not yet told of one (domain, destination) that has an event at least interval after its
 * last notice (or never had one): *events_r (free with queue_owner_events_free), *n_r of them; *n_r 0
 * when none is due. One group per call, the oldest first. now is unused (kept for symmetry). 0 or -1. */
int queue_owner_due(struct queue_store *qs, int64_t now, int64_t interval,
                    struct queue_owner_event **events_r, size_t *n_r, const char **error_r);
void queue_owner_events_free(struct queue_owner_event **events, size_t n);

/* A domain whose digest is due (the previous one, or its first notice, at least interval ago) and that
 * has events not yet told: all of them (every destination). *n_r 0 when none. 0 or -1. */
int queue_owner_digest_due(struct queue_store *qs, int64_t now, int64_t interval,
                           struct queue_owner_event **events_r, size_t *n_r, const char **error_r);

/* In one transaction: queue notice (NULL: none, the events are dropped: no report address), mark the
 * events of (domain, destination) up to and including `upto` told, and remember now as that pair's last
 * notice (starting the domain's digest clock if it has none). destination NULL: the domain's digest (all
 * its destinations; now becomes its last digest). 0 or -1. */
int queue_owner_told(struct queue_store *qs, const char *domain, const char *destination, int64_t upto,
                     int64_t now, const struct queue_new_msg *notice, const char **error_r);

#endif
