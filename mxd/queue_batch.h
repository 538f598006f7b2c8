/*
 * queue_batch: the queue manager's writes to the queue gathered over one pass of its event loop
 * (recipient results, delivery-log rows, removals of finished messages) and written by
 * queue_batch_write() in one transaction, in the order they were recorded. One transaction per pass
 * instead of three per message: the queue manager and the committer take turns on the one write lock of
 * queue.db, so fewer, larger transactions mean fewer waits on the committer's fsyncs.
 *
 * Durability is the queue manager's (synchronous=NORMAL): a crash that loses a batch leaves those
 * recipients in their previous state, so they are tried again (a repeated delivery, never a lost one).
 * Owned by one thread; every string is copied when recorded.
 */
#ifndef MXD_QUEUE_BATCH_H
#define MXD_QUEUE_BATCH_H

#include "mxd/queue_log.h"
#include "mxd/queue_store.h"

#include <stddef.h>

struct queue_batch;

struct queue_batch *queue_batch_new(void);
void queue_batch_free(struct queue_batch **bp);

/* Record n recipient updates of message id. */
void queue_batch_update(struct queue_batch *b, const char *id, const struct queue_rcpt_update *u, size_t n);
/* Record n delivery-log rows. */
void queue_batch_log(struct queue_batch *b, const struct queue_log_event *events, size_t n);
/* Record the removal of message id, as queue_store_remove() does it (its 'removed' rows included). */
void queue_batch_remove(struct queue_batch *b, const char *id, const char *reason);

/* Writes recorded and not yet written. */
size_t queue_batch_pending(const struct queue_batch *b);

/* Called after the commit for each removal that found its message. */
typedef void queue_batch_removed_cb(void *ctx, const char *id);

/* Write everything recorded in one transaction and empty the batch, whatever the outcome (a failed
 * batch is not retried: its recipients are tried again from their previous state). 0, or -1 with
 * *error_r (nothing of the batch was written). */
int queue_batch_write(struct queue_batch *b, struct queue_store *qs, queue_batch_removed_cb *removed,
                      void *ctx, const char **error_r);

#endif
