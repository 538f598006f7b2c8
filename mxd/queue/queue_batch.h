/*
 * queue_batch: the queue manager's writes to the queue, gathered over one pass of its event loop:
 * recipient results, delivery-log rows, removals of finished messages and the notifications (bounces,
 * delay warnings) that go with them. They are applied in the order recorded, in one transaction.
 *
 * queue_batch_submit() hands a batch to the store's committer, which writes it in its next transaction
 * together with the messages being accepted (synchronous=FULL: the fsync it pays anyway). So queue.db has
 * one writer, the committer, and the queue manager never waits for the write lock or for an fsync; a
 * bounce is queued in the same transaction that records the failure and removes the original, so a
 * crash leaves both or neither. queue_batch_write() writes a batch at once on the store's synchronous
 * connection (shutdown, tools, tests).
 *
 * A batch that cannot be written is not retried: its recipients keep their previous state in the queue
 * and are tried again (a repeated delivery, never a lost one). One thread records into a batch; every
 * string and message body is copied when recorded.
 */
#ifndef MXD_QUEUE_BATCH_H
#define MXD_QUEUE_BATCH_H

#include "mxd/queue/queue_log.h"
#include "mxd/queue/queue_store.h"

#include <stdbool.h>
#include <stddef.h>

struct queue_batch;

struct queue_batch *queue_batch_new(void);
void queue_batch_free(struct queue_batch **bp);

/* Record n recipient updates of message id. */
void queue_batch_update(struct queue_batch *b, const char *id, const struct queue_rcpt_update *u, size_t n);
/* Record n delivery-log rows (at = 0: now). */
void queue_batch_log(struct queue_batch *b, const struct queue_log_event *events, size_t n);
/* Record the removal of message id as queue_store_remove() does it ('removed' rows included). With
 * notify (a bounce; NULL: none), that message is queued first, only if id is still there. */
void queue_batch_remove(struct queue_batch *b, const char *id, const char *reason,
                        const struct queue_new_msg *notify);
/* Record that message id failed for good and is kept (queue_failed.h) with reason instead of removed;
 * with notify (a bounce; NULL: none), that message is queued first, only if id is still there. */
void queue_batch_fail(struct queue_batch *b, const char *id, const char *reason,
                      const struct queue_new_msg *notify);
/* Record that recipient idx of message id goes to address from now on (its fallback destination); its
 * state, attempts and orig_address stay. */
void queue_batch_redirect(struct queue_batch *b, const char *id, int idx, const char *address);
/* Record a delay warning for message id: notify (NULL: none, the warning is withheld) is queued and id is
 * marked warned, if id is still there. */
void queue_batch_warn(struct queue_batch *b, const char *id, const struct queue_new_msg *notify);

/* Operations recorded (0: empty). */
size_t queue_batch_pending(const struct queue_batch *b);

/* Called from the committer's thread once b is written or has failed (queue_batch_result()); it must
 * only hand over to the thread that owns b (e.g. event_active()). */
typedef void queue_batch_done_cb(void *ctx, struct queue_batch *b);

/* Hand b to the committer of qs (queue_store_start() done). The caller must not touch b until cb. */
void queue_batch_submit(struct queue_batch *b, struct queue_store *qs, queue_batch_done_cb *cb, void *ctx);

/* Write b now on qs's synchronous connection, in one transaction. 0 or -1 (queue_batch_result()). */
int queue_batch_write(struct queue_batch *b, struct queue_store *qs);

/* After the write: 0, or -1 with *error_r (valid until b is reset). */
int queue_batch_result(const struct queue_batch *b, const char **error_r);

/* After a successful write: cb(ctx, id) for each removal that found its message, and the number of
 * notifications queued. */
typedef void queue_batch_removed_cb(void *ctx, const char *id);
size_t queue_batch_done(const struct queue_batch *b, queue_batch_removed_cb *cb, void *ctx);

/* Empty b for the next pass. */
void queue_batch_reset(struct queue_batch *b);

#endif
