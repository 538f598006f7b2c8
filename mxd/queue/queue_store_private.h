/*
 * queue_store_private: what the queue store's files share: queue_store.c (open, schema, ids, synchronous
 * calls, removal), queue_commit.c (the committer thread and its completions), queue_deliver.c (the queue
 * manager's statements), queue_log.c (the delivery log), queue_batch.c (its batches), queue_failed.c
 * (failed messages kept for failed_retention), queue_owner.c (owner notices). Nothing else
 * includes it.
 */
#ifndef MXD_QUEUE_STORE_PRIVATE_H
#define MXD_QUEUE_STORE_PRIVATE_H

#include "mxd/queue/queue_batch.h"
#include "mxd/queue/queue_store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <sys/types.h>

struct event;
struct queue_pending;

#define QUEUE_STMT_CACHE 32 /* statements of the synchronous connection kept prepared */

/* A connection to queue.db and the statements prepared on it (kept for reuse). */
struct queue_conn {
	sqlite3 *db;
	struct {
		const char *sql;
		sqlite3_stmt *st;
	} stmts[QUEUE_STMT_CACHE];
	size_t nstmts;
};

struct queue_store {
	char *dir;
	char *db_path;

	/* The synchronous calls' connection, used under sync_lock. */
	pthread_mutex_t sync_lock;
	struct queue_conn sync;

	/* Set by queue_store_start(); the committer's connection and statements serve its thread only. */
	bool started;
	struct event_base *base;
	struct event *wake_ev;
	int wake_fd; /* eventfd: the committer writes, the loop thread reads */
	pthread_t thread;
	/* The checkpointer: copies the WAL into queue.db beside the committer, so that the committer's
	 * transactions never pay for a checkpoint (its connection has no auto-checkpoint). */
	pthread_t ckpt_thread;
	bool ckpt_wanted; /* lock */
	pthread_cond_t ckpt_cond;
	struct queue_conn ckpt;
	struct queue_conn commit;
	sqlite3_stmt *ins_msg, *ins_rcpt, *ins_body, *ins_log;
	struct queue_segment *segments; /* large bodies (queue_segment.h); the committer's */
	dev_t db_dev;                   /* identity of queue.db when the committer opened it */
	ino_t db_ino;

	/* Guarded by lock: the hand-over between the loop thread and the committer. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping;
	struct queue_pending *pending, **pending_tail; /* submitted, not yet taken */
	struct queue_pending *done, **done_tail;       /* written or failed, callback not yet run */
	struct queue_batch *batches, **batches_tail;   /* the queue manager's writes, not yet taken */
	struct queue_commit_stats stats;
};

/* Open a connection to path with the store's settings (WAL, synchronous=FULL, foreign keys, busy
 * timeout). 0 or -1 with *error_r (thread-local). */
int queue_db_open(const char *path, sqlite3 **db_r, const char **error_r);

/* Format "what: sqlite message" into the thread-local error buffer and return it. */
const char *queue_db_error(sqlite3 *db, const char *what);

/* Stop the committer if it runs, write or fail what is still pending, run every callback due and free
 * the committer's resources. Called by queue_store_close(). */
void queue_commit_stop(struct queue_store *qs);

/* Shared statement helpers of queue_store.c: run sql with no result rows; prepare; roll back. */
int queue_exec(sqlite3 *db, const char *sql, const char *what, const char **error_r);
int queue_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st_r, const char **error_r);
void queue_rollback(sqlite3 *db);

/* c's statement for sql (a string literal), prepared once and kept: the hot calls run the same few
 * statements thousands of times a second. Give it back with queue_stmt_release() (reset, so that no
 * read transaction stays open). queue_conn_close() finalizes them and closes c->db. 0 or -1. */
int queue_stmt(struct queue_conn *c, const char *sql, sqlite3_stmt **st_r, const char **error_r);
void queue_stmt_release(struct queue_conn *c, sqlite3_stmt *st);
void queue_conn_close(struct queue_conn *c);

/* Writes run inside a transaction the caller holds on c. 0 or -1 with *error_r. */
int queue_update_rcpts_locked(struct queue_conn *c, const char *id, const struct queue_rcpt_update *u,
                              size_t n, const char **error_r);
struct queue_log_event;
int queue_log_events_locked(struct queue_conn *c, const struct queue_log_event *events, size_t n,
                            const char **error_r);
/* queue_log.c: control characters of in become '?'; at most size - 1 octets, not cutting a UTF-8
 * sequence. */
void queue_log_sanitize(char *out, size_t size, const char *in);
/* queue_store.c: delete message id and log 'removed' for its recipients. 0 removed, 1 no such message,
 * -1 error. */
int queue_remove_locked(struct queue_conn *c, const char *id, const char *reason, const char **error_r);
/* Store msg (its body read, not taken). */
int queue_insert_locked(struct queue_conn *c, const struct queue_new_msg *msg, const char **error_r);
/* queue_failed.c: keep message id as failed since at, with reason. 0 done, 1 no such message (or already
 * failed), -1 error. */
int queue_fail_locked(struct queue_conn *c, const char *id, int64_t at, const char *reason,
                      const char **error_r);
/* 0 done, 1 no such message, -1 error. */
int queue_set_warned_locked(struct queue_conn *c, const char *id, const char **error_r);

/* queue_batch.c: a batch of the queue manager's writes (queue_batch.h). */
struct queue_batch_op;
struct queue_batch {
	struct queue_batch_op *ops;
	size_t nops, alloc;
	int result;  /* after the write */
	char *error; /* result -1 */
	/* submitted to the committer (guarded by the store's lock until taken) */
	struct queue_batch *next;
	queue_batch_done_cb *cb;
	void *ctx;
};
/* The committer's side: write b's operations into the transaction open on c. 0 or -1. */
int queue_batch_apply(struct queue_batch *b, struct queue_conn *c, const char **error_r);
void queue_batch_set_result(struct queue_batch *b, int result, const char *error);
/* queue_commit.c: queue b for the committer's next transaction. */
void queue_commit_add_batch(struct queue_store *qs, struct queue_batch *b);

#endif
