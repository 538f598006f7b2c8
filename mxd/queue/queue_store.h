/*
 * queue_store: the durable mail queue. Owns queue_directory and everything in it.
 *
 * THE RULE: a message is acknowledged (250 to DATA) only after its envelope (sender, every recipient
 * and its state) and its content are on stable storage: the commit callback reports success only
 * after the SQLite transaction holding them has committed with synchronous=FULL in WAL mode (the WAL
 * is fsync'd before the commit returns; the directory is fsync'd when files are created). A message
 * is one transaction: after a crash it is either wholly there or not at all, so recovery keeps every
 * committed message and nothing partial. Before each commit the committer also checks that
 * queue_directory/queue.db is still the file it opened, so a removed or renamed queue fails the
 * message instead of "committing" into an unlinked file.
 *
 * GROUP COMMIT: sessions hand finished messages to queue_store_submit() from the event-loop thread;
 * one committer thread takes every message waiting (at most 256 messages or 32 MiB per batch), writes
 * them in one transaction and pays one fsync for the batch, then calls each submitter back in the
 * event-loop thread (woken through an eventfd watched by the event base; libevent threading support is
 * not needed). If a batch fails, it is rolled back and retried one message at a time, so only the
 * messages that cannot be stored get -1. The queue manager's writes (queue_batch.h) go into the same
 * transactions, so queue.db has one writer in mxd. A checkpointer thread copies the WAL into queue.db
 * (PASSIVE checkpoints once it passes 1,000 pages), so no acceptance transaction pays for a checkpoint.
 *
 * STORAGE: queue_directory/queue.db (mode 0700 directory), tables messages, recipients and bodies;
 * the schema version is PRAGMA user_version and queue_store.c holds one migration per version (add a
 * column there). Deleting a message row cascades to its recipients and body (foreign_keys=ON: any other
 * program writing the queue must set it too). No temporary files are used, so recovery is SQLite's own
 * WAL replay when the database is first opened. Bodies the committer receives of QUEUE_SEGMENT_MIN_BYTES
 * or more are not blobs: they are appended to queue_directory/segments/ (queue_segment.h), fdatasync'd
 * once per batch before the COMMIT whose message rows point at them (body_segment, body_offset,
 * body_length), and a segment file goes once no row references it (the committer checks after each
 * batch). queue_store_start() locks segments/, so a second mxd on the same queue fails to start. Bodies
 * stored by queue_store_insert() (bounces, warnings) stay blobs.
 *
 * Other processes (mxctl, mxadmin) open the same store without starting the committer and use the
 * synchronous calls; SQLite's locking keeps them consistent with a running mxd.
 */
#ifndef MXD_QUEUE_STORE_H
#define MXD_QUEUE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evbuffer;
struct queue_store;

#define QUEUE_ID_SIZE 24 /* buffer size for a queue id, NUL included */

enum queue_rcpt_state {
	QUEUE_RCPT_PENDING = 0,  /* not yet tried */
	QUEUE_RCPT_DEFERRED = 1, /* temporary failure; retried at next_attempt */
	QUEUE_RCPT_SENT = 2,
	QUEUE_RCPT_BOUNCED = 3,
};

/* "pending", "deferred", "sent", "bounced" (as mxctl, the admin UI and the API show it). */
const char *queue_rcpt_state_name(enum queue_rcpt_state state);

/* A message handed to the store by an SMTP session. */
struct queue_new_msg {
	char id[QUEUE_ID_SIZE];   /* from queue_store_new_id() */
	const char *sender;       /* "" for the null sender */
	const char *const *rcpts; /* final recipients */
	size_t nrcpt;
	const char *const *orig_rcpts; /* the address each was accepted as (NULL: the same) */
	const int *rcpt_states;        /* enum queue_rcpt_state of each (NULL: all PENDING) */
	const char *const *rcpt_dsn;   /* for BOUNCED ones: enhanced status, e.g. "5.4.6" (NULL entries ok) */
	const char *const *rcpt_reasons; /* for BOUNCED ones: why (NULL entries ok) */
	const char *client_name, *client_addr, *helo, *proto;
	int64_t arrival; /* seconds since the epoch */
	bool smtputf8;
	struct evbuffer *body;     /* the whole message, trace headers included; the store takes it */
	const char *received_note; /* the delivery log's 'received' rows keep it as their reply (smtpd: the
	                              SPF/DKIM/DMARC verdicts, a From rewrite); NULL: none */
	bool held;                 /* stored on hold (a milter's quarantine): not delivered until released */
	const char *hold_reason;   /* why (NULL: none) */
};

struct queue_rcpt_info {
	int idx;
	char *address;
	char *orig_address;
	char *dsn;        /* enhanced status of the last result, NULL when none */
	char *remote_mta; /* host that gave the last result, NULL when none */
	enum queue_rcpt_state state;
	int attempts;
	int64_t next_attempt;
	char *last_reason; /* NULL when none */
};

struct queue_msg_info {
	char id[QUEUE_ID_SIZE];
	int64_t arrival;
	int64_t size;
	char *sender;
	char *client_name, *client_addr, *helo, *proto;
	bool held;
	char *hold_reason; /* a milter's quarantine reason; NULL when none (cleared on release) */
	bool warned;       /* a delay warning was sent */
	bool smtputf8;
	int64_t failed_at;   /* kept as failed since (queue_failed.h); 0: in the queue */
	char *failed_reason; /* why it failed, NULL when not failed */
	size_t nrcpt;
	struct queue_rcpt_info *rcpts;
};

/* Why a message could not be stored; the session's reply depends on it. */
enum queue_error {
	QUEUE_ERROR_NONE = 0,     /* stored */
	QUEUE_ERROR_STORAGE_FULL, /* the disk or the queue file is full: 452 4.3.1 */
	QUEUE_ERROR_LOCAL,        /* any other failure to store it: 451 4.3.0 */
};

/* Called in the event-loop thread once the message is durable (result 0, code QUEUE_ERROR_NONE, error
 * NULL) or could not be stored (result -1, code says why; the session answers 452/451, never 250).
 * error, the text for the log, is valid during the call only (it starts with "insufficient storage"
 * when code is QUEUE_ERROR_STORAGE_FULL). */
typedef void queue_commit_cb(void *ctx, int result, const char *id, enum queue_error code, const char *error);

/* Called for each message by queue_store_list(), in id (arrival) order, while the store's synchronous
 * connection is locked: it must not call back into the store. Return non-zero to stop. */
typedef int queue_list_cb(void *ctx, const struct queue_msg_info *msg);

/* Open (creating the directory, mode 0700, and the schema as needed; both fsync'd when new) the store
 * in dir, and recover: SQLite replays its WAL, so committed messages are kept and unfinished
 * transactions vanish. 0 or -1 with *error_r. */
int queue_store_open(const char *dir, struct queue_store **qs_r, const char **error_r);

/* Start the committer thread (mxd only); completions are delivered on base, in the thread that runs it.
 * Logs "queue recovered: N messages". 0 or -1 with *error_r. */
int queue_store_start(struct queue_store *qs, struct event_base *base, const char **error_r);

/* Stop the committer (after writing everything submitted), run the callbacks still due (in the calling
 * thread, which must be the event-loop thread or one running after the loop has stopped; a callback must
 * not close the store) and free everything. Clears *qs. */
void queue_store_close(struct queue_store **qs);

/* A new unique queue id: 16 upper-case hex digits, microseconds since the epoch shifted left by 8 bits
 * plus a counter, strictly increasing within the process (queue_store_open() also moves it past every
 * id already stored, so a clock stepped back cannot reuse one). Thread-safe. */
void queue_store_new_id(char id_r[QUEUE_ID_SIZE]);

/* Hand msg to the committer; cb(ctx, ...) follows exactly once, in the event-loop thread, never from
 * inside this call. The store copies every field and takes msg->body (the caller must not touch it
 * again; NULL means empty). Messages submitted before queue_store_start() wait for it (tests use this
 * to form a batch); closing without starting fails them with -1. */
void queue_store_submit(struct queue_store *qs, struct queue_new_msg *msg, queue_commit_cb *cb, void *ctx);

/* Synchronous calls (any thread; they share one connection under a mutex, apart from the committer's).
 * Errors: -1 with *error_r in thread-local storage, valid until the next call in this thread.
 * Returned strings are never NULL except last_reason. */
int queue_store_list(struct queue_store *qs, queue_list_cb *cb, void *ctx, const char **error_r);
/* 0 found (*info_r set; free with queue_msg_info_free), 1 no such message, -1 error. */
int queue_store_get(struct queue_store *qs, const char *id, struct queue_msg_info **info_r,
                    const char **error_r);
void queue_msg_info_free(struct queue_msg_info **info);
/* Append the message content to out (a segment's bytes as a read-only mapping that out references and
 * releases when it lets go of them). 0, 1 no such message, -1 error. */
int queue_store_read_body(struct queue_store *qs, const char *id, struct evbuffer *out, const char **error_r);
/* 0 done, 1 no such message, -1 error. Logs nothing: queue_store_remove() is the logged removal. */
int queue_store_delete(struct queue_store *qs, const char *id, const char **error_r);
/* Delete message id like queue_store_delete() and, in the same transaction, log 'removed' in the
 * delivery log (queue_log.h) for each of its recipients with reply = reason (NULL: ""). 0 done, 1 no
 * such message, -1 error. */
int queue_store_remove(struct queue_store *qs, const char *id, const char *reason, const char **error_r);
int queue_store_set_hold(struct queue_store *qs, const char *id, bool hold, const char **error_r);
/* Number of messages waiting for delivery and the arrival time of the oldest (0 when empty); failed
 * messages kept for failed_retention do not count (queue_failed_stats()). */
int queue_store_stats(struct queue_store *qs, int64_t *count_r, int64_t *oldest_r, const char **error_r);

/* Committer counters since queue_store_start(), for tests and status output: a batch is one committed
 * transaction, so messages / batches is the group-commit factor. */
struct queue_commit_stats {
	uint64_t batches;       /* transactions committed */
	uint64_t messages;      /* messages committed (result 0) */
	uint64_t failed;        /* messages reported with -1 */
	uint64_t largest_batch; /* most messages committed in one transaction */
};
void queue_store_commit_stats(struct queue_store *qs, struct queue_commit_stats *stats_r);

/*
 * Delivery side (queue_deliver.c), used by the queue manager thread and mxctl on the synchronous
 * connection. Every write is one transaction, durable when the call returns.
 */

/* One recipient's new state after a delivery attempt. */
struct queue_rcpt_update {
	int idx;
	enum queue_rcpt_state state;
	int64_t next_attempt;   /* DEFERRED: when to try again */
	const char *dsn;        /* enhanced status, e.g. "4.4.1" (NULL keeps the old one) */
	const char *reason;     /* the reply or our own diagnostic (NULL keeps the old one) */
	const char *remote_mta; /* the host that answered (NULL keeps the old one) */
};

/* Up to max ids, in id order and greater than after_id (pages: pass the last id of the previous page;
 * "" to start), of messages not held nor failed that have a recipient PENDING or DEFERRED and due at now, or
 * no recipient left to try (finished, not yet removed). ids_r has room for max ids. 0 or -1. */
int queue_store_due(struct queue_store *qs, int64_t now, const char *after_id, size_t max,
                    char (*ids_r)[QUEUE_ID_SIZE], size_t *n_r, const char **error_r);

/* Apply n recipient updates of message id in one transaction; attempts grows by one for each. */
int queue_store_update_rcpts(struct queue_store *qs, const char *id, const struct queue_rcpt_update *u,
                             size_t n, const char **error_r);

/* Store msg now (bounces and delay warnings made by the queue manager); durable on return. The body
 * is read, not taken. 0 or -1 with *error_r. */
int queue_store_insert(struct queue_store *qs, const struct queue_new_msg *msg, const char **error_r);

/* Replace recipient idx of message id, when it is still PENDING or DEFERRED, by n new recipients with
 * the same orig_address (an alias expanded at delivery time: a secondary's takeover), in one transaction,
 * so that after a crash the queue holds either the old recipient or all the new ones. The new ones take
 * the next free indexes; states[i] is PENDING or BOUNCED (then with dsn[i] and reasons[i]). n >= 1.
 * 0 done, 1 no such recipient left to try, -1 error. */
int queue_store_expand_rcpt(struct queue_store *qs, const char *id, int idx, const char *const *addresses,
                            const int *states, const char *const *dsn, const char *const *reasons, size_t n,
                            const char **error_r);

/* For the queue manager's own store: the writes it makes on its own connection (takeover expansions,
 * flush, quarantine, clock jumps, the last batch at stop; its delivery results go through the committer,
 * queue_batch.h) commit without an fsync (synchronous=NORMAL). The WAL keeps them in order, so a power
 * loss can only drop the newest ones together: a delivery may be repeated, but no message is lost, and
 * nothing acked to a client depends on these writes (acceptance stays synchronous=FULL). 0 or -1. */
int queue_store_relax_durability(struct queue_store *qs, const char **error_r);

/* Remember that the delay warning of message id was sent. 0, 1 no such message, -1. */
int queue_store_set_warned(struct queue_store *qs, const char *id, const char **error_r);

/* A value of the queue's control table (0 when it was never set). 0 or -1. */
int queue_store_control_get(struct queue_store *qs, const char *key, int64_t *value_r, const char **error_r);

/* The wall clock jumped by jump seconds: record the accumulated skew (control key "clock_skew", which
 * the queue manager subtracts from message ages) and move every deferred recipient's retry time with
 * the clock, in one transaction. 0 or -1. */
int queue_store_clock_jump(struct queue_store *qs, int64_t jump, int64_t skew, const char **error_r);

/* "mxctl queue flush": every DEFERRED recipient becomes due now, and the flush counter grows so that a
 * running queue manager looks at once. 0 or -1. */
int queue_store_flush(struct queue_store *qs, const char **error_r);
int queue_store_flush_counter(struct queue_store *qs, int64_t *value_r, const char **error_r);

#endif
