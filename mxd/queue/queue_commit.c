/* queue_commit: the committer thread of queue_store (group commit) and the hand-over of submissions and
 * completions between it and the event-loop thread; see queue_store.h. */
#include "mxd/queue/queue_log.h"
#include "mxd/queue/queue_segment.h"
#include "mxd/queue/queue_store_private.h"

#include "mxd/common/log.h"
#include "mxd/common/util.h"

#include <assert.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#define QUEUE_BATCH_MAX_MSGS   256
#define QUEUE_BATCH_MAX_BYTES  ((size_t)32 << 20)
#define QUEUE_COMMIT_CACHE_KIB 49152 /* page cache of the committer: a whole batch fits */
#define QUEUE_CKPT_PAGES       1000 /* WAL pages after a commit that wake the checkpointer (SQLite's default) */

/* Why a write failed: the kind, which the session's reply depends on, and the text for the log. */
struct queue_fail {
	enum queue_error code;
	char *text; /* allocated */
};

/* A submitted message: its envelope and body until written, then its result until the callback. */
struct queue_pending {
	struct queue_pending *next;
	char id[QUEUE_ID_SIZE];
	char *sender, *client_name, *client_addr, *helo, *proto, *received_note;
	char **rcpts, **orig_rcpts, **rcpt_dsn, **rcpt_reasons;
	int *rcpt_states;
	size_t nrcpt;
	int64_t arrival;
	bool smtputf8;
	bool held;
	char *hold_reason;
	struct evbuffer *body;
	size_t size;

	queue_commit_cb *cb;
	void *ctx;
	int result;
	struct queue_fail fail; /* result -1 */
};

static char *queue_strdup_null(const char *s)
{
	return s == NULL ? NULL : xstrdup(s);
}

/* Free what only the writing needed, as soon as it is written. */
static void queue_pending_release_payload(struct queue_pending *p)
{
	free(p->sender);
	free(p->client_name);
	free(p->client_addr);
	free(p->helo);
	free(p->proto);
	free(p->received_note);
	p->received_note = NULL;
	free(p->hold_reason);
	p->hold_reason = NULL;
	for (size_t i = 0; i < p->nrcpt; i++) {
		free(p->rcpts[i]);
		free(p->orig_rcpts[i]);
		free(p->rcpt_dsn[i]);
		free(p->rcpt_reasons[i]);
	}
	free(p->rcpts);
	free(p->orig_rcpts);
	free(p->rcpt_dsn);
	free(p->rcpt_reasons);
	free(p->rcpt_states);
	p->orig_rcpts = p->rcpt_dsn = p->rcpt_reasons = NULL;
	p->rcpt_states = NULL;
	if (p->body != NULL)
		evbuffer_free(p->body);
	p->sender = p->client_name = p->client_addr = p->helo = p->proto = NULL;
	p->rcpts = NULL;
	p->nrcpt = 0;
	p->body = NULL;
}

void queue_store_submit(struct queue_store *qs, struct queue_new_msg *msg, queue_commit_cb *cb, void *ctx)
{
	struct queue_pending *p = xcalloc(1, sizeof(*p));

	assert(msg->id[0] != '\0');
	str_copy(p->id, sizeof(p->id), msg->id);
	p->sender = xstrdup(msg->sender == NULL ? "" : msg->sender);
	p->client_name = queue_strdup_null(msg->client_name);
	p->client_addr = queue_strdup_null(msg->client_addr);
	p->helo = queue_strdup_null(msg->helo);
	p->proto = queue_strdup_null(msg->proto);
	p->received_note = queue_strdup_null(msg->received_note);
	p->rcpts = xcalloc(msg->nrcpt, sizeof(*p->rcpts));
	p->orig_rcpts = xcalloc(msg->nrcpt, sizeof(*p->orig_rcpts));
	p->rcpt_dsn = xcalloc(msg->nrcpt, sizeof(*p->rcpt_dsn));
	p->rcpt_reasons = xcalloc(msg->nrcpt, sizeof(*p->rcpt_reasons));
	p->rcpt_states = xcalloc(msg->nrcpt, sizeof(*p->rcpt_states));
	for (size_t i = 0; i < msg->nrcpt; i++) {
		p->rcpts[i] = xstrdup(msg->rcpts[i]);
		p->orig_rcpts[i] = xstrdup(msg->orig_rcpts != NULL ? msg->orig_rcpts[i] : msg->rcpts[i]);
		p->rcpt_states[i] = msg->rcpt_states != NULL ? msg->rcpt_states[i] : QUEUE_RCPT_PENDING;
		if (msg->rcpt_dsn != NULL)
			p->rcpt_dsn[i] = queue_strdup_null(msg->rcpt_dsn[i]);
		if (msg->rcpt_reasons != NULL)
			p->rcpt_reasons[i] = queue_strdup_null(msg->rcpt_reasons[i]);
	}
	p->nrcpt = msg->nrcpt;
	p->arrival = msg->arrival;
	p->smtputf8 = msg->smtputf8;
	p->held = msg->held;
	p->hold_reason = queue_strdup_null(msg->hold_reason);
	p->body = msg->body;
	p->size = p->body == NULL ? 0 : evbuffer_get_length(p->body);
	msg->body = NULL;
	p->cb = cb;
	p->ctx = ctx;

	pthread_mutex_lock(&qs->lock);
	assert(!qs->stopping);
	*qs->pending_tail = p;
	qs->pending_tail = &p->next;
	pthread_cond_signal(&qs->cond);
	pthread_mutex_unlock(&qs->lock);
}

void queue_commit_add_batch(struct queue_store *qs, struct queue_batch *b)
{
	b->next = NULL;
	pthread_mutex_lock(&qs->lock);
	assert(!qs->stopping);
	*qs->batches_tail = b;
	qs->batches_tail = &b->next;
	pthread_cond_signal(&qs->cond);
	pthread_mutex_unlock(&qs->lock);
}

/* Set *f for a failed write: a full disk or queue file is QUEUE_ERROR_STORAGE_FULL (the session answers
 * 452), anything else QUEUE_ERROR_LOCAL (451). */
static void queue_commit_error(struct queue_fail *f, sqlite3 *db, int rc, const char *what)
{
	const char *msg = sqlite3_errmsg(db);

	f->code = QUEUE_ERROR_LOCAL;
	switch (rc & 0xff) {
	case SQLITE_FULL:
		f->code = QUEUE_ERROR_STORAGE_FULL;
		f->text = xasprintf("insufficient storage: queue disk full (%s: %s)", what, msg);
		break;
	case SQLITE_TOOBIG:
		f->text = xasprintf("message too big for the queue (%s: %s)", what, msg);
		break;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		f->text = xasprintf("queue busy (%s: %s)", what, msg);
		break;
	default:
		f->text = xasprintf("queue write error (%s: %s)", what, msg);
		break;
	}
}

/* Set *f for a failure that is not SQLite's: QUEUE_ERROR_LOCAL with text (taken). */
static void queue_commit_error_local(struct queue_fail *f, char *text)
{
	f->code = QUEUE_ERROR_LOCAL;
	f->text = text;
}

/* Step a prepared insert and make it ready for the next use. */
static int queue_commit_step(sqlite3 *db, sqlite3_stmt *st, const char *what, struct queue_fail *f)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE)
		queue_commit_error(f, db, rc, what);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Fill the zeroblob just inserted into bodies with the evbuffer's chunks, without linearizing it. */
static int queue_commit_write_body(sqlite3 *db, const struct queue_pending *p, struct queue_fail *f)
{
	sqlite3_blob *blob = NULL;
	int rc = sqlite3_blob_open(db, "main", "bodies", "data", sqlite3_last_insert_rowid(db), 1, &blob);

	if (rc == SQLITE_OK) {
		int n = evbuffer_peek(p->body, -1, NULL, NULL, 0);
		struct evbuffer_iovec *vec = xcalloc((size_t)n, sizeof(*vec));
		int off = 0;
		evbuffer_peek(p->body, -1, NULL, vec, n);
		for (int i = 0; i < n && rc == SQLITE_OK; i++) {
			rc = sqlite3_blob_write(blob, vec[i].iov_base, (int)vec[i].iov_len, off);
			off += (int)vec[i].iov_len;
		}
		free(vec);
	}
	if (rc != SQLITE_OK) {
		queue_commit_error(f, db, rc, "write message content");
		sqlite3_blob_close(blob);
		return -1;
	}
	rc = sqlite3_blob_close(blob);
	if (rc != SQLITE_OK) {
		queue_commit_error(f, db, rc, "write message content");
		return -1;
	}
	return 0;
}

/* Set *f for a segment write that failed with errno: a full disk is QUEUE_ERROR_STORAGE_FULL. */
static void queue_commit_segment_error(struct queue_fail *f, const char *error)
{
	if (errno == ENOSPC || errno == EDQUOT) {
		f->code = QUEUE_ERROR_STORAGE_FULL;
		f->text = xasprintf("insufficient storage: queue disk full (%s)", error);
	} else {
		queue_commit_error_local(f, xasprintf("queue write error (%s)", error));
	}
}

/* Does a large body go to a segment? */
static bool queue_commit_in_segment(const struct queue_store *qs, const struct queue_pending *p)
{
	return qs->segments != NULL && p->size >= QUEUE_SEGMENT_MIN_BYTES;
}

/* A large body: appended to the current segment, its place bound to the message row's ?12..?14. */
static int queue_commit_append_body(struct queue_store *qs, const struct queue_pending *p,
                                    struct queue_fail *f)
{
	struct queue_segment_ref ref;
	const char *error;

	if (queue_segment_append(qs->segments, p->body, &ref, &error) < 0) {
		queue_commit_segment_error(f, error);
		return -1;
	}
	sqlite3_bind_int64(qs->ins_msg, 12, (sqlite3_int64)ref.seq);
	sqlite3_bind_int64(qs->ins_msg, 13, (sqlite3_int64)ref.offset);
	sqlite3_bind_int64(qs->ins_msg, 14, (sqlite3_int64)ref.length);
	return 0;
}

/* Insert one message (envelope, recipients, body) into the open transaction. */
static int queue_commit_insert(struct queue_store *qs, const struct queue_pending *p, struct queue_fail *f)
{
	sqlite3 *db = qs->commit.db;
	sqlite3_stmt *st = qs->ins_msg;
	bool in_segment = queue_commit_in_segment(qs, p);

	if (!in_segment && p->size > (size_t)sqlite3_limit(db, SQLITE_LIMIT_LENGTH, -1)) {
		queue_commit_error_local(f, xasprintf("message too big for the queue (%zu bytes)", p->size));
		return -1;
	}
	if (in_segment && queue_commit_append_body(qs, p, f) < 0)
		return -1;
	sqlite3_bind_text(st, 1, p->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, p->arrival);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)p->size);
	sqlite3_bind_text(st, 4, p->sender, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, p->client_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, p->client_addr, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, p->helo, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, p->proto, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 9, p->smtputf8 ? 1 : 0);
	sqlite3_bind_int(st, 10, p->held ? 1 : 0);
	sqlite3_bind_text(st, 11, p->hold_reason, -1, SQLITE_STATIC);
	if (queue_commit_step(db, st, "insert message", f) < 0)
		return -1;

	st = qs->ins_rcpt;
	for (size_t i = 0; i < p->nrcpt; i++) {
		sqlite3_bind_text(st, 1, p->id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
		sqlite3_bind_text(st, 3, p->rcpts[i], -1, SQLITE_STATIC); /* address */
		sqlite3_bind_text(st, 4, p->orig_rcpts[i], -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 5, p->rcpt_states[i]);
		sqlite3_bind_text(st, 6, p->rcpt_dsn[i], -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, p->rcpt_reasons[i], -1, SQLITE_STATIC);
		if (queue_commit_step(db, st, "insert recipient", f) < 0)
			return -1;
	}

	st = qs->ins_log; /* the delivery log's 'received' rows, in the same transaction */
	sqlite3_bind_text(st, 1, p->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, p->received_note, -1, SQLITE_STATIC); /* NULL: '' */
	if (queue_commit_step(db, st, "write delivery log", f) < 0)
		return -1;

	if (in_segment)
		return 0;
	st = qs->ins_body;
	sqlite3_bind_text(st, 1, p->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)p->size);
	if (queue_commit_step(db, st, "insert message content", f) < 0)
		return -1;
	return p->size == 0 ? 0 : queue_commit_write_body(db, p, f);
}

/* Is queue.db still the file the committer opened? A removed or renamed queue directory would
 * otherwise take commits into an unlinked file. */
static int queue_commit_check_file(struct queue_store *qs, struct queue_fail *f)
{
	struct stat st;

	if (stat(qs->db_path, &st) < 0) {
		queue_commit_error_local(
		    f, xasprintf("queue file unavailable: %s: %s", qs->db_path, strerror(errno)));
		return -1;
	}
	if (st.st_dev != qs->db_dev || st.st_ino != qs->db_ino) {
		queue_commit_error_local(f,
		                         xasprintf("queue file unavailable: %s was replaced", qs->db_path));
		return -1;
	}
	return 0;
}

/* Write n messages and the batches in one transaction. 0, or -1 with *f set and *retry_r telling
 * whether writing them one at a time may help (the failure came from the writing, not from the queue as
 * a whole). */
static int queue_commit_txn(struct queue_store *qs, struct queue_pending **v, size_t n,
                            struct queue_batch *batches, struct queue_fail *f, bool *retry_r)
{
	sqlite3 *db = qs->commit.db;
	int rc;

	*retry_r = false;
	if (queue_commit_check_file(qs, f) < 0)
		return -1;
	rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		queue_commit_error(f, db, rc, "begin");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (queue_commit_insert(qs, v[i], f) < 0) {
			*retry_r = true;
			goto fail;
		}
	}
	for (struct queue_batch *b = batches; b != NULL; b = b->next) {
		const char *error;
		if (queue_batch_apply(b, &qs->commit, &error) < 0) {
			queue_commit_error_local(f, xasprintf("queue write error (%s)", error));
			*retry_r = true;
			goto fail;
		}
	}
	if (queue_commit_check_file(qs, f) < 0)
		goto fail;
	const char *error;
	if (qs->segments != NULL && queue_segment_sync(qs->segments, &error) < 0) {
		queue_commit_segment_error(f, error); /* the rows must not reference unsynced bytes */
		*retry_r = true;
		goto fail;
	}
	rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		queue_commit_error(f, db, rc, "commit");
		*retry_r = true;
		goto fail;
	}
	return 0;
fail:
	if (!sqlite3_get_autocommit(db))
		(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static void queue_commit_fail_all(struct queue_pending **batch, size_t n, struct queue_batch *batches,
                                  const struct queue_fail *f)
{
	for (size_t i = 0; i < n; i++) {
		batch[i]->result = -1;
		batch[i]->fail.code = f->code;
		batch[i]->fail.text = xstrdup(f->text);
	}
	for (struct queue_batch *b = batches; b != NULL; b = b->next)
		queue_batch_set_result(b, -1, f->text);
}

/* After a failed transaction: each message, then each of the queue manager's batches, in a transaction
 * of its own, so that only what cannot be stored fails. Returns the transactions committed. */
static unsigned queue_commit_one_by_one(struct queue_store *qs, struct queue_pending **batch, size_t n,
                                        struct queue_batch *batches)
{
	unsigned commits = 0;
	bool retry = true;
	struct queue_fail fail = {0};
	for (size_t i = 0; i < n; i++) {
		if (!retry) { /* the queue as a whole failed: the rest would fail the same way */
			batch[i]->result = -1;
			batch[i]->fail.code = batch[i - 1]->fail.code;
			batch[i]->fail.text = xstrdup(batch[i - 1]->fail.text);
		} else if (queue_commit_txn(qs, &batch[i], 1, NULL, &batch[i]->fail, &retry) == 0) {
			commits++;
			retry = true;
		} else {
			batch[i]->result = -1;
		}
	}
	for (struct queue_batch *b = batches; b != NULL; b = b->next) {
		struct queue_batch *next = b->next;
		b->next = NULL; /* one at a time */
		if (queue_commit_txn(qs, NULL, 0, b, &fail, &retry) == 0) {
			queue_batch_set_result(b, 0, NULL);
			commits++;
		} else {
			queue_batch_set_result(b, -1, fail.text);
		}
		free(fail.text);
		fail.text = NULL;
		b->next = next;
	}
	return commits;
}

/* Write what was taken: one transaction, or after a failure one per message and per batch. Sets each
 * result and error, frees each message's payload. Returns the transactions committed. */
static unsigned queue_commit_batch(struct queue_store *qs, struct queue_pending **batch, size_t n,
                                   struct queue_batch *batches)
{
	struct queue_fail fail = {0};
	bool retry;
	unsigned commits = 0;
	size_t nb = 0;
	for (struct queue_batch *b = batches; b != NULL; b = b->next)
		nb++;

	if (queue_commit_txn(qs, batch, n, batches, &fail, &retry) == 0) {
		commits = 1;
		for (struct queue_batch *b = batches; b != NULL; b = b->next)
			queue_batch_set_result(b, 0, NULL);
	} else if (n + nb > 1 && retry) {
		log_warn("qmgr",
		         "batch of %zu messages and %zu delivery updates not committed (%s); writing them "
		         "one at a time",
		         n, nb, fail.text);
		commits = queue_commit_one_by_one(qs, batch, n, batches);
	} else {
		queue_commit_fail_all(batch, n, batches, &fail);
	}
	free(fail.text);

	/* The session logs each message's fate ("queued as" or the error); drop the payload now. */
	for (size_t i = 0; i < n; i++)
		queue_pending_release_payload(batch[i]);
	log_debug("qmgr", "batch of %zu messages and %zu delivery updates: %u transaction%s committed", n, nb,
	          commits, commits == 1 ? "" : "s");
	return commits;
}

/* Is segment seq still referenced by a committed message? 1, 0, or -1 (then it is kept). */
static int queue_commit_segment_used(void *ctx, uint64_t seq)
{
	struct queue_store *qs = ctx;
	sqlite3_stmt *st;
	const char *error;

	if (queue_stmt(&qs->commit, "SELECT 1 FROM messages WHERE body_segment = ?1 LIMIT 1", &st, &error) <
	    0) {
		log_warn("qmgr", "%s", error);
		return -1;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		log_warn("qmgr", "%s", queue_db_error(qs->commit.db, "look for segment references"));
	queue_stmt_release(&qs->commit, st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* Remove the segments no message references any more (after the transaction that removed the last
 * reference, or at start for a previous run's). */
static void queue_commit_collect(struct queue_store *qs)
{
	unsigned n = queue_segment_collect(qs->segments, queue_commit_segment_used, qs);
	if (n > 0)
		log_debug("qmgr", "removed %u unreferenced segment%s", n, n == 1 ? "" : "s");
}

static void queue_commit_wake_loop(struct queue_store *qs)
{
	uint64_t one = 1;

	if (write(qs->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("qmgr", "wake event loop: %s", strerror(errno));
}

static void *queue_committer(void *arg)
{
	struct queue_store *qs = arg;
	struct queue_pending *batch[QUEUE_BATCH_MAX_MSGS];

	pthread_mutex_lock(&qs->lock);
	for (;;) {
		while (qs->pending == NULL && qs->batches == NULL && !qs->stopping)
			pthread_cond_wait(&qs->cond, &qs->lock);
		if (qs->pending == NULL && qs->batches == NULL)
			break;

		/* Take everything waiting, up to the batch limits (always at least one message). */
		size_t n = 0, bytes = 0;
		while (qs->pending != NULL && n < QUEUE_BATCH_MAX_MSGS &&
		       (n == 0 || bytes + qs->pending->size <= QUEUE_BATCH_MAX_BYTES)) {
			struct queue_pending *p = qs->pending;
			qs->pending = p->next;
			p->next = NULL;
			batch[n++] = p;
			bytes += p->size;
		}
		if (qs->pending == NULL)
			qs->pending_tail = &qs->pending;
		struct queue_batch *batches = qs->batches; /* and every batch of the queue manager's writes */
		qs->batches = NULL;
		qs->batches_tail = &qs->batches;
		pthread_mutex_unlock(&qs->lock);

		unsigned commits = queue_commit_batch(qs, batch, n, batches);
		if (commits > 0)
			queue_commit_collect(qs);
		while (batches != NULL) {
			struct queue_batch *b = batches;
			batches = b->next;
			b->next = NULL;
			b->cb(b->ctx, b); /* b belongs to the queue manager again */
		}

		pthread_mutex_lock(&qs->lock);
		size_t ok = 0;
		for (size_t i = 0; i < n; i++) {
			*qs->done_tail = batch[i];
			qs->done_tail = &batch[i]->next;
			ok += batch[i]->result == 0;
		}
		qs->stats.batches += commits;
		qs->stats.messages += ok;
		qs->stats.failed += n - ok;
		size_t per_txn = commits == 1 ? ok : ok > 0; /* the retry path commits one per txn */
		if (per_txn > qs->stats.largest_batch)
			qs->stats.largest_batch = per_txn;
		pthread_mutex_unlock(&qs->lock);
		if (n > 0)
			queue_commit_wake_loop(qs);
		pthread_mutex_lock(&qs->lock);
	}
	pthread_mutex_unlock(&qs->lock);
	return NULL;
}

/* Run the callbacks of every finished message, in the calling (event-loop) thread. */
static void queue_commit_run_callbacks(struct queue_store *qs)
{
	pthread_mutex_lock(&qs->lock);
	struct queue_pending *list = qs->done;
	qs->done = NULL;
	qs->done_tail = &qs->done;
	pthread_mutex_unlock(&qs->lock);

	while (list != NULL) {
		struct queue_pending *p = list;
		list = p->next;
		p->cb(p->ctx, p->result, p->id, p->result == 0 ? QUEUE_ERROR_NONE : p->fail.code,
		      p->result == 0 ? NULL : p->fail.text);
		free(p->fail.text);
		free(p);
	}
}

static void queue_commit_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t count;

	if (read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_warn("qmgr", "read wake-up eventfd: %s", strerror(errno));
	queue_commit_run_callbacks(arg);
}

static void queue_commit_free_resources(struct queue_store *qs)
{
	sqlite3_finalize(qs->ins_msg);
	sqlite3_finalize(qs->ins_rcpt);
	sqlite3_finalize(qs->ins_body);
	sqlite3_finalize(qs->ins_log);
	qs->ins_msg = qs->ins_rcpt = qs->ins_body = qs->ins_log = NULL;
	queue_conn_close(&qs->commit);
	queue_conn_close(&qs->ckpt);
	queue_segment_free(&qs->segments);
	if (qs->wake_ev != NULL)
		event_free(qs->wake_ev);
	qs->wake_ev = NULL;
	if (qs->wake_fd >= 0)
		close(qs->wake_fd);
	qs->wake_fd = -1;
}

/* After each commit of the committer's connection: wake the checkpointer once the WAL has grown. */
static int queue_commit_wal_hook(void *ctx, sqlite3 *db, const char *name, int pages)
{
	struct queue_store *qs = ctx;
	(void)db, (void)name;
	if (pages >= QUEUE_CKPT_PAGES) {
		pthread_mutex_lock(&qs->lock);
		qs->ckpt_wanted = true;
		pthread_cond_signal(&qs->ckpt_cond);
		pthread_mutex_unlock(&qs->lock);
	}
	return SQLITE_OK;
}

/* PASSIVE checkpoints: they copy what they can without waiting for the writer or readers; what is left
 * is copied next time. */
static void *queue_checkpointer(void *arg)
{
	struct queue_store *qs = arg;
	pthread_mutex_lock(&qs->lock);
	for (;;) {
		while (!qs->ckpt_wanted && !qs->stopping)
			pthread_cond_wait(&qs->ckpt_cond, &qs->lock);
		if (!qs->ckpt_wanted)
			break;
		qs->ckpt_wanted = false;
		pthread_mutex_unlock(&qs->lock);
		int rc = sqlite3_wal_checkpoint_v2(qs->ckpt.db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		if (rc != SQLITE_OK && rc != SQLITE_BUSY)
			log_warn("qmgr", "%s", queue_db_error(qs->ckpt.db, "checkpoint the queue's log"));
		pthread_mutex_lock(&qs->lock);
	}
	pthread_mutex_unlock(&qs->lock);
	return NULL;
}

static int queue_commit_prepare(struct queue_store *qs, const char *sql, sqlite3_stmt **st_r,
                                const char **error_r)
{
	if (sqlite3_prepare_v3(qs->commit.db, sql, -1, SQLITE_PREPARE_PERSISTENT, st_r, NULL) != SQLITE_OK) {
		*error_r = queue_db_error(qs->commit.db, "prepare");
		return -1;
	}
	return 0;
}

int queue_store_start(struct queue_store *qs, struct event_base *base, const char **error_r)
{
	static __thread char errbuf[512];
	struct stat st;
	char pragma[64];
	int64_t count, oldest;

	assert(!qs->started);
	if (queue_segment_open(qs->dir, 0, &qs->segments, error_r) < 0)
		return -1;
	if (queue_db_open(qs->db_path, &qs->commit.db, error_r) < 0)
		goto fail;
	snprintf(pragma, sizeof(pragma), "PRAGMA cache_size = -%d", QUEUE_COMMIT_CACHE_KIB);
	if (sqlite3_exec(qs->commit.db, pragma, NULL, NULL, NULL) != SQLITE_OK) {
		*error_r = queue_db_error(qs->commit.db, "set cache_size");
		goto fail;
	}
	if (stat(qs->db_path, &st) < 0) {
		snprintf(errbuf, sizeof(errbuf), "stat %s: %s", qs->db_path, strerror(errno));
		*error_r = errbuf;
		goto fail;
	}
	qs->db_dev = st.st_dev;
	qs->db_ino = st.st_ino;
	if (queue_db_open(qs->db_path, &qs->ckpt.db, error_r) < 0)
		goto fail;
	sqlite3_wal_hook(qs->commit.db, queue_commit_wal_hook, qs); /* replaces the auto-checkpoint */
	if (queue_commit_prepare(
	        qs,
	        "INSERT INTO messages(id, arrival, size, sender, client_name, client_addr, helo,"
	        " proto, smtputf8, held, hold_reason, body_segment, body_offset, body_length)"
	        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
	        &qs->ins_msg, error_r) < 0 ||
	    queue_commit_prepare(qs,
	                         "INSERT INTO recipients(msg_id, idx, address, orig_address, state, dsn,"
	                         " last_reason) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	                         &qs->ins_rcpt, error_r) < 0 ||
	    queue_commit_prepare(qs, "INSERT INTO bodies(id, data) VALUES(?1, zeroblob(?2))", &qs->ins_body,
	                         error_r) < 0 ||
	    queue_commit_prepare(qs, QUEUE_LOG_RECEIVED_SQL, &qs->ins_log, error_r) < 0)
		goto fail;

	qs->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (qs->wake_fd < 0) {
		snprintf(errbuf, sizeof(errbuf), "eventfd: %s", strerror(errno));
		*error_r = errbuf;
		goto fail;
	}
	qs->wake_ev = event_new(base, qs->wake_fd, EV_READ | EV_PERSIST, queue_commit_wake_cb, qs);
	if (qs->wake_ev == NULL || event_add(qs->wake_ev, NULL) < 0) {
		*error_r = "cannot add the queue's wake-up event";
		goto fail;
	}
	if (queue_store_stats(qs, &count, &oldest, error_r) < 0)
		goto fail;
	queue_commit_collect(qs); /* a previous run's segments, crash tails included */

	/* The committer takes no signals: they stay with the event loop's thread. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int err = pthread_create(&qs->thread, NULL, queue_committer, qs);
	if (err == 0) {
		err = pthread_create(&qs->ckpt_thread, NULL, queue_checkpointer, qs);
		if (err != 0) {
			pthread_mutex_lock(&qs->lock);
			qs->stopping = true;
			pthread_cond_signal(&qs->cond);
			pthread_mutex_unlock(&qs->lock);
			pthread_join(qs->thread, NULL);
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0) {
		snprintf(errbuf, sizeof(errbuf), "start queue committer: %s", strerror(err));
		*error_r = errbuf;
		goto fail;
	}
	qs->base = base;
	qs->started = true;
	log_info("qmgr", "queue recovered: %" PRId64 " message%s", count, count == 1 ? "" : "s");
	return 0;
fail:
	queue_commit_free_resources(qs);
	return -1;
}

void queue_commit_stop(struct queue_store *qs)
{
	if (qs->started) {
		pthread_mutex_lock(&qs->lock);
		qs->stopping = true;
		pthread_cond_signal(&qs->cond);
		pthread_cond_signal(&qs->ckpt_cond);
		pthread_mutex_unlock(&qs->lock);
		pthread_join(qs->thread, NULL);
		pthread_join(qs->ckpt_thread, NULL);
		qs->started = false;
	} else {
		/* Never started: what was submitted cannot be written. */
		pthread_mutex_lock(&qs->lock);
		qs->stopping = true;
		for (struct queue_pending *p = qs->pending; p != NULL; p = p->next) {
			p->result = -1;
			queue_commit_error_local(&p->fail,
			                         xstrdup("queue store closed before it was started"));
			queue_pending_release_payload(p);
		}
		*qs->done_tail = qs->pending;
		if (qs->pending != NULL)
			qs->done_tail = qs->pending_tail;
		qs->pending = NULL;
		qs->pending_tail = &qs->pending;
		struct queue_batch *batches = qs->batches;
		qs->batches = NULL;
		qs->batches_tail = &qs->batches;
		pthread_mutex_unlock(&qs->lock);
		while (batches != NULL) {
			struct queue_batch *b = batches;
			batches = b->next;
			b->next = NULL;
			queue_batch_set_result(b, -1, "queue store closed before it was started");
			b->cb(b->ctx, b);
		}
	}
	queue_commit_run_callbacks(qs);
	queue_commit_free_resources(qs);
}

void queue_store_commit_stats(struct queue_store *qs, struct queue_commit_stats *stats_r)
{
	pthread_mutex_lock(&qs->lock);
	*stats_r = qs->stats;
	pthread_mutex_unlock(&qs->lock);
}
