/*
 * queue_failed: messages whose forward failed for good (a 5xx, or maximal_queue_lifetime passed), kept in
 * the queue for failed_retention instead of being removed after the sender's bounce, so that an operator
 * or a domain's admin can see why, download them and send them again.
 *
 * A failed message stays in queue.db (messages.failed_at > 0, failed_reason) with its recipients and
 * content; the queue manager never picks it up again (queue_store_due() skips it) and it does not count
 * in queue_store_stats(). It leaves the queue by queue_failed_resend() (a new message with a new id takes
 * its place, in the same transaction), queue_failed_purge() (retention expired, or mxctl queue purge) or
 * queue_store_remove(). Every call here is one transaction on the store's synchronous connection,
 * durable when it returns; errors are -1 with *error_r in thread-local storage (queue_store.h).
 */
#ifndef MXD_QUEUE_FAILED_H
#define MXD_QUEUE_FAILED_H

#include "mxd/queue/queue_store.h"

#include <stdint.h>

/* Number of failed messages kept and the bytes their content takes. 0 or -1. */
int queue_failed_stats(struct queue_store *qs, int64_t *count_r, int64_t *bytes_r, const char **error_r);

/* Call cb for each failed message, in id order (queue_store_list()'s rules). 0 or -1. */
int queue_failed_list(struct queue_store *qs, queue_list_cb *cb, void *ctx, const char **error_r);

/* Queue failed message id again as a new message (new_id_r, arrival now, the same sender and content):
 * to its recipients that failed, or, when to is not NULL, to that one address instead (orig_to kept, so
 * that the forward is SRS'd as before). The failed message is removed ('removed' logged with "resent as
 * NEWID") in the same transaction and the flush counter grows, so a running mxd delivers it at once.
 * 0 done, 1 no such failed message, -1 error. */
int queue_failed_resend(struct queue_store *qs, const char *id, const char *to, char new_id_r[QUEUE_ID_SIZE],
                        const char **error_r);

/* Remove every failed message that failed at or before `before` (INT64_MAX: all), each logged 'removed'
 * with reason. *n_r: how many. 0 or -1. */
int queue_failed_purge(struct queue_store *qs, int64_t before, const char *reason, int64_t *n_r,
                       const char **error_r);

#endif
