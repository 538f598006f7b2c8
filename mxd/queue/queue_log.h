/*
 * queue_log: the delivery log, table delivery_log of queue.db (queue schema version 4). One row per
 * recipient and event: 'received' (written by the committer in the message's own transaction, relay =
 * the client's address, reply = the message's received_note: smtpd's SPF/DKIM/DMARC verdicts), 'sent',
 * 'deferred', 'bounced', 'expired' (written by the queue manager after each delivery attempt) and 'removed'
 * (queue_store_remove() in queue_store.h, in the deleting transaction: the queue manager when a message is
 * finished, mxctl queue delete, mxadmin; reply says which) and 'failed' (a message kept as failed for
 * failed_retention, queue_failed.h: one row per recipient that failed, reply = why). smtpd adds
 * 'milter-reject', 'milter-discard' and 'milter-hold' (a milter's verdict, reply = what it said) through
 * queue_batch. The queue manager deletes rows older than delivery_log_retention once an hour. mxadmin reads
 * it (the /log page, GET /api/v1/log and the dashboard's 24-hour figures).
 */
#ifndef MXD_QUEUE_LOG_H
#define MXD_QUEUE_LOG_H

#include "mxd/queue/queue_store.h"

#include <stddef.h>
#include <stdint.h>

#define QUEUE_LOG_REPLY_MAX 1000 /* octets of reply text kept */

/* One row. Strings may be NULL when written (stored as ""); never NULL when read. */
struct queue_log_event {
	int64_t id; /* read only */
	int64_t at; /* unix time; 0 when written: now */
	const char *queue_id, *event, *sender, *address, *orig_address, *relay, *dsn, *reply;
};

/* Append n events in one transaction (reply text is sanitized: control characters become '?' and it is
 * cut at QUEUE_LOG_REPLY_MAX). 0 or -1 with *error_r. */
int queue_store_log_events(struct queue_store *qs, const struct queue_log_event *events, size_t n,
                           const char **error_r);

/* Called for each row found, in (queue_id, id) order; the strings are valid during the call only.
 * Return non-zero to stop. */
typedef int queue_log_cb(void *ctx, const struct queue_log_event *ev);

/* The rows whose address or orig_address is address (exact, ASCII case-insensitive; NULL: any), of
 * message queue_id (NULL: any), at or after since, at most max of them. 0 or -1. */
int queue_store_log_search(struct queue_store *qs, const char *address, const char *queue_id, int64_t since,
                           size_t max, queue_log_cb *cb, void *ctx, const char **error_r);

/* Count 'sent', 'deferred' and 'bounced' (with 'expired') rows at or after since. 0 or -1. */
int queue_store_log_counts(struct queue_store *qs, int64_t since, int64_t *sent_r, int64_t *deferred_r,
                           int64_t *bounced_r, const char **error_r);

/* Count the rows of one event (e.g. "milter-reject") at or after since. 0 or -1. */
int queue_store_log_count_event(struct queue_store *qs, const char *event, int64_t since, int64_t *count_r,
                                const char **error_r);

/* A destination that failing forwards went to: an alias (orig_address), where it forwards (address), the
 * attempts deferred and the recipients bounced or expired since a time, the last of them and its reply. */
struct queue_log_failing {
	const char *alias, *destination, *reply;
	int64_t deferred, bounced, last_at;
};
typedef int queue_log_failing_cb(void *ctx, const struct queue_log_failing *f);

/* The forwards (orig_address other than address) deferred or bounced at or after since, one per alias
 * and destination, the most recent first, at most max; cb as queue_log_cb. 0 or -1. */
int queue_store_log_failing(struct queue_store *qs, int64_t since, size_t max, queue_log_failing_cb *cb,
                            void *ctx, const char **error_r);

/* Delete the rows older than before; *deleted_r (may be NULL) gets how many. 0 or -1. */
int queue_store_log_expire(struct queue_store *qs, int64_t before, int64_t *deleted_r, const char **error_r);

/* The committer's SQL: log 'received' for each recipient of message ?1 with reply ?2 (NULL: ''), and
 * 'bounced' for those refused at once, inside the message's transaction. */
#define QUEUE_LOG_RECEIVED_SQL                                                                               \
	"INSERT INTO delivery_log(at, queue_id, event, sender, address, orig_address, relay, dsn, reply)"    \
	" SELECT m.arrival, m.id, 'received', m.sender, r.address, r.orig_address,"                          \
	" coalesce(m.client_addr, ''), '', coalesce(?2, '') FROM messages m JOIN recipients r"               \
	" ON r.msg_id = m.id"                                                                                \
	" WHERE m.id = ?1 UNION ALL"                                                                         \
	" SELECT m.arrival, m.id, 'bounced', m.sender, r.address, r.orig_address, 'none',"                   \
	" coalesce(r.dsn, ''), coalesce(r.last_reason, '') FROM messages m JOIN recipients r"                \
	" ON r.msg_id = m.id WHERE m.id = ?1 AND r.state = 3"

#endif
