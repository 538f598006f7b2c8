/* queue_batch: see queue_batch.h. The committer's side is queue_batch_apply(), called by queue_commit.c
 * inside its transaction. */
#include "mxd/queue/queue_batch.h"

#include "mxd/queue/queue_store_private.h"
#include "mxd/common/util.h"

#include <event2/buffer.h>
#include <stdlib.h>

enum queue_batch_kind { BATCH_UPDATE, BATCH_LOG, BATCH_REMOVE, BATCH_WARN, BATCH_FAIL, BATCH_REDIRECT };

/* A copy of a notification message (queue_new_msg with owned strings and body). */
struct batch_msg {
	struct queue_new_msg msg;
	char **rcpts;
};

struct queue_batch_op {
	enum queue_batch_kind kind;
	char *id;                          /* UPDATE, REMOVE, WARN, FAIL */
	char *reason;                      /* REMOVE, FAIL; REDIRECT: the new address */
	int64_t at;                        /* FAIL */
	size_t n;                          /* UPDATE, LOG; REDIRECT: the recipient's index */
	struct queue_rcpt_update *updates; /* UPDATE: strings owned */
	struct queue_log_event *events;    /* LOG: strings owned */
	struct batch_msg *notify;          /* REMOVE, FAIL (may be NULL), WARN */
	bool found;                        /* REMOVE, WARN, FAIL: the message was there */
};

static char *dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

static struct batch_msg *batch_msg_copy(const struct queue_new_msg *m)
{
	struct batch_msg *c = xcalloc(1, sizeof(*c));
	c->msg = *m;
	c->msg.sender = xstrdup(m->sender != NULL ? m->sender : "");
	c->rcpts = xcalloc(m->nrcpt, sizeof(*c->rcpts));
	for (size_t i = 0; i < m->nrcpt; i++)
		c->rcpts[i] = xstrdup(m->rcpts[i]);
	c->msg.rcpts = (const char *const *)c->rcpts;
	c->msg.orig_rcpts = NULL;
	c->msg.rcpt_states = NULL;
	c->msg.rcpt_dsn = NULL;
	c->msg.rcpt_reasons = NULL;
	c->msg.client_name = dup_or_null(m->client_name);
	c->msg.client_addr = dup_or_null(m->client_addr);
	c->msg.helo = dup_or_null(m->helo);
	c->msg.proto = dup_or_null(m->proto);
	c->msg.body = xevbuffer_new();
	size_t len = m->body != NULL ? evbuffer_get_length(m->body) : 0;
	if (len > 0 && evbuffer_add(c->msg.body, evbuffer_pullup(m->body, -1), len) < 0)
		abort(); /* only fails to allocate */
	return c;
}

static void batch_msg_free(struct batch_msg *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->msg.nrcpt; i++)
		free(c->rcpts[i]);
	free(c->rcpts);
	free((char *)c->msg.sender);
	free((char *)c->msg.client_name);
	free((char *)c->msg.client_addr);
	free((char *)c->msg.helo);
	free((char *)c->msg.proto);
	evbuffer_free(c->msg.body);
	free(c);
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
	batch_msg_free(op->notify);
}

void queue_batch_reset(struct queue_batch *b)
{
	for (size_t i = 0; i < b->nops; i++)
		op_clear(&b->ops[i]);
	b->nops = 0;
	b->result = 0;
	free(b->error);
	b->error = NULL;
}

void queue_batch_free(struct queue_batch **bp)
{
	struct queue_batch *b = *bp;
	if (b == NULL)
		return;
	*bp = NULL;
	queue_batch_reset(b);
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

void queue_batch_remove(struct queue_batch *b, const char *id, const char *reason,
                        const struct queue_new_msg *notify)
{
	struct queue_batch_op *op = batch_add(b, BATCH_REMOVE);
	op->id = xstrdup(id);
	op->reason = dup_or_null(reason);
	op->notify = notify != NULL ? batch_msg_copy(notify) : NULL;
}

void queue_batch_fail(struct queue_batch *b, const char *id, const char *reason,
                      const struct queue_new_msg *notify)
{
	struct queue_batch_op *op = batch_add(b, BATCH_FAIL);
	op->id = xstrdup(id);
	op->reason = dup_or_null(reason);
	op->at = time_now();
	op->notify = notify != NULL ? batch_msg_copy(notify) : NULL;
}

void queue_batch_redirect(struct queue_batch *b, const char *id, int idx, const char *address)
{
	struct queue_batch_op *op = batch_add(b, BATCH_REDIRECT);
	op->id = xstrdup(id);
	op->n = (size_t)idx;
	op->reason = xstrdup(address);
}

/* REDIRECT: the recipient's new address (its state, orig_address and attempts stay). */
static int op_redirect_write(struct queue_batch_op *op, struct queue_conn *c, const char **error_r)
{
	sqlite3_stmt *st;
	if (queue_stmt(c, "UPDATE recipients SET address = ?3 WHERE msg_id = ?1 AND idx = ?2", &st, error_r) <
	    0)
		return -1;
	sqlite3_bind_text(st, 1, op->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)op->n);
	sqlite3_bind_text(st, 3, op->reason, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		*error_r = queue_db_error(c->db, "redirect recipient");
	queue_stmt_release(c, st);
	return rc == SQLITE_DONE ? 0 : -1;
}

void queue_batch_warn(struct queue_batch *b, const char *id, const struct queue_new_msg *notify)
{
	struct queue_batch_op *op = batch_add(b, BATCH_WARN);
	op->id = xstrdup(id);
	op->notify = notify != NULL ? batch_msg_copy(notify) : NULL;
}

size_t queue_batch_pending(const struct queue_batch *b)
{
	return b->nops;
}

/* Is message id in the queue? 1 yes, 0 no, -1 error. */
static int batch_msg_exists(struct queue_conn *c, const char *id, const char **error_r)
{
	sqlite3_stmt *st;
	if (queue_stmt(c, "SELECT 1 FROM messages WHERE id = ?1", &st, error_r) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		*error_r = queue_db_error(c->db, "look up message");
	queue_stmt_release(c, st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* REMOVE, FAIL and WARN: the notification first, and only while the message is there. */
static int op_notify_write(struct queue_batch_op *op, struct queue_conn *c, const char **error_r)
{
	int rc = batch_msg_exists(c, op->id, error_r);
	op->found = rc == 1;
	if (rc <= 0 || op->notify == NULL)
		return rc < 0 ? -1 : 0;
	return queue_insert_locked(c, &op->notify->msg, error_r);
}

static int op_write(struct queue_batch_op *op, struct queue_conn *c, const char **error_r)
{
	switch (op->kind) {
	case BATCH_UPDATE:
		return queue_update_rcpts_locked(c, op->id, op->updates, op->n, error_r);
	case BATCH_LOG:
		return queue_log_events_locked(c, op->events, op->n, error_r);
	case BATCH_REMOVE:
		if (op_notify_write(op, c, error_r) < 0)
			return -1;
		return op->found ? (queue_remove_locked(c, op->id, op->reason, error_r) < 0 ? -1 : 0) : 0;
	case BATCH_FAIL:
		if (op_notify_write(op, c, error_r) < 0)
			return -1;
		return op->found ? (queue_fail_locked(c, op->id, op->at, op->reason, error_r) < 0 ? -1 : 0)
		                 : 0;
	case BATCH_REDIRECT:
		return op_redirect_write(op, c, error_r);
	case BATCH_WARN:
		if (op_notify_write(op, c, error_r) < 0)
			return -1;
		return op->found ? (queue_set_warned_locked(c, op->id, error_r) < 0 ? -1 : 0) : 0;
	}
	abort();
}

int queue_batch_apply(struct queue_batch *b, struct queue_conn *c, const char **error_r)
{
	for (size_t i = 0; i < b->nops; i++)
		if (op_write(&b->ops[i], c, error_r) < 0)
			return -1;
	return 0;
}

void queue_batch_set_result(struct queue_batch *b, int result, const char *error)
{
	b->result = result;
	free(b->error);
	b->error = result < 0 ? xstrdup(error != NULL ? error : "unknown error") : NULL;
}

void queue_batch_submit(struct queue_batch *b, struct queue_store *qs, queue_batch_done_cb *cb, void *ctx)
{
	b->cb = cb;
	b->ctx = ctx;
	queue_commit_add_batch(qs, b);
}

int queue_batch_write(struct queue_batch *b, struct queue_store *qs)
{
	const char *error = NULL;
	int ret;
	if (b->nops == 0) {
		queue_batch_set_result(b, 0, NULL);
		return 0;
	}
	pthread_mutex_lock(&qs->sync_lock);
	ret = queue_exec(qs->sync.db, "BEGIN IMMEDIATE", "write delivery results", &error);
	if (ret == 0)
		ret = queue_batch_apply(b, &qs->sync, &error);
	if (ret == 0)
		ret = queue_exec(qs->sync.db, "COMMIT", "write delivery results", &error);
	if (ret < 0)
		queue_rollback(qs->sync.db);
	pthread_mutex_unlock(&qs->sync_lock);
	queue_batch_set_result(b, ret, error);
	return ret;
}

int queue_batch_result(const struct queue_batch *b, const char **error_r)
{
	if (b->result < 0)
		*error_r = b->error;
	return b->result;
}

size_t queue_batch_done(const struct queue_batch *b, queue_batch_removed_cb *cb, void *ctx)
{
	size_t notes = 0;
	if (b->result < 0)
		return 0;
	for (size_t i = 0; i < b->nops; i++) {
		const struct queue_batch_op *op = &b->ops[i];
		if (op->found && op->notify != NULL)
			notes++;
		if (op->found && op->kind == BATCH_REMOVE && cb != NULL)
			cb(ctx, op->id);
	}
	return notes;
}
