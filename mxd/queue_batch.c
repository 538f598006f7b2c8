/* queue_batch: see queue_batch.h. */
#include "mxd/queue_batch.h"

#include "mxd/queue_store_private.h"
#include "mxd/util.h"

#include <stdlib.h>

enum queue_batch_kind { BATCH_UPDATE, BATCH_LOG, BATCH_REMOVE };

struct queue_batch_op {
	enum queue_batch_kind kind;
	char *id;     /* UPDATE, REMOVE */
	char *reason; /* REMOVE */
	size_t n;
	struct queue_rcpt_update *updates; /* UPDATE: strings owned */
	struct queue_log_event *events;    /* LOG: strings owned */
};

struct queue_batch {
	struct queue_batch_op *ops;
	size_t nops, alloc;
};

static char *dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

struct queue_batch *queue_batch_new(void)
{
	return xcalloc(1, sizeof(struct queue_batch));
}

static void op_clear(struct queue_batch_op *op)
{
	for (size_t i = 0; op->updates != NULL && i < op->n; i++) {
		free((char *)op->updates[i].dsn);
		free((char *)op->updates[i].reason);
		free((char *)op->updates[i].remote_mta);
	}
	for (size_t i = 0; op->events != NULL && i < op->n; i++) {
		struct queue_log_event *e = &op->events[i];
		free((char *)e->queue_id);
		free((char *)e->event);
		free((char *)e->sender);
		free((char *)e->address);
		free((char *)e->orig_address);
		free((char *)e->relay);
		free((char *)e->dsn);
		free((char *)e->reply);
	}
	free(op->updates);
	free(op->events);
	free(op->id);
	free(op->reason);
}

static void batch_clear(struct queue_batch *b)
{
	for (size_t i = 0; i < b->nops; i++)
		op_clear(&b->ops[i]);
	b->nops = 0;
}

void queue_batch_free(struct queue_batch **bp)
{
	struct queue_batch *b = *bp;
	if (b == NULL)
		return;
	*bp = NULL;
	batch_clear(b);
	free(b->ops);
	free(b);
}

static struct queue_batch_op *batch_add(struct queue_batch *b, enum queue_batch_kind kind)
{
	if (b->nops == b->alloc) {
		b->alloc = b->alloc == 0 ? 64 : b->alloc * 2;
		b->ops = xrealloc(b->ops, b->alloc * sizeof(*b->ops));
	}
	struct queue_batch_op *op = &b->ops[b->nops++];
	*op = (struct queue_batch_op){.kind = kind};
	return op;
}

void queue_batch_update(struct queue_batch *b, const char *id, const struct queue_rcpt_update *u, size_t n)
{
	if (n == 0)
		return;
	struct queue_batch_op *op = batch_add(b, BATCH_UPDATE);
	op->id = xstrdup(id);
	op->n = n;
	op->updates = xcalloc(n, sizeof(*op->updates));
	for (size_t i = 0; i < n; i++) {
		op->updates[i] = u[i];
		op->updates[i].dsn = dup_or_null(u[i].dsn);
		op->updates[i].reason = dup_or_null(u[i].reason);
		op->updates[i].remote_mta = dup_or_null(u[i].remote_mta);
	}
}

void queue_batch_log(struct queue_batch *b, const struct queue_log_event *events, size_t n)
{
	if (n == 0)
		return;
	struct queue_batch_op *op = batch_add(b, BATCH_LOG);
	op->n = n;
	op->events = xcalloc(n, sizeof(*op->events));
	for (size_t i = 0; i < n; i++) {
		const struct queue_log_event *e = &events[i];
		op->events[i] = (struct queue_log_event){
		    .at = e->at != 0 ? e->at : time_now(),
		    .queue_id = dup_or_null(e->queue_id),
		    .event = dup_or_null(e->event),
		    .sender = dup_or_null(e->sender),
		    .address = dup_or_null(e->address),
		    .orig_address = dup_or_null(e->orig_address),
		    .relay = dup_or_null(e->relay),
		    .dsn = dup_or_null(e->dsn),
		    .reply = dup_or_null(e->reply),
		};
	}
}

void queue_batch_remove(struct queue_batch *b, const char *id, const char *reason)
{
	struct queue_batch_op *op = batch_add(b, BATCH_REMOVE);
	op->id = xstrdup(id);
	op->reason = dup_or_null(reason);
}

size_t queue_batch_pending(const struct queue_batch *b)
{
	return b->nops;
}

/* Run op inside the open transaction. 0 done, 1 a removal that found nothing, -1 error. */
static int op_write(struct queue_store *qs, const struct queue_batch_op *op, const char **error_r)
{
	switch (op->kind) {
	case BATCH_UPDATE:
		return queue_update_rcpts_locked(qs, op->id, op->updates, op->n, error_r);
	case BATCH_LOG:
		return queue_log_events_locked(qs, op->events, op->n, error_r);
	case BATCH_REMOVE:
		return queue_remove_locked(qs, op->id, op->reason, error_r);
	}
	abort();
}

int queue_batch_write(struct queue_batch *b, struct queue_store *qs, queue_batch_removed_cb *removed,
                      void *ctx, const char **error_r)
{
	int ret = 0;
	if (b->nops == 0)
		return 0;
	bool *found = xcalloc(b->nops, sizeof(*found));
	pthread_mutex_lock(&qs->sync_lock);
	ret = queue_exec(qs->sync_db, "BEGIN IMMEDIATE", "write delivery results", error_r);
	for (size_t i = 0; i < b->nops && ret == 0; i++) {
		int rc = op_write(qs, &b->ops[i], error_r);
		found[i] = rc == 0 && b->ops[i].kind == BATCH_REMOVE;
		ret = rc < 0 ? -1 : 0;
	}
	if (ret == 0)
		ret = queue_exec(qs->sync_db, "COMMIT", "write delivery results", error_r);
	if (ret < 0)
		queue_rollback(qs->sync_db);
	pthread_mutex_unlock(&qs->sync_lock);
	for (size_t i = 0; i < b->nops && ret == 0; i++)
		if (found[i] && removed != NULL)
			removed(ctx, b->ops[i].id);
	free(found);
	batch_clear(b);
	return ret;
}
