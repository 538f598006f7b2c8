/*
 * queue_store: the durable mail queue. Owns queue_directory and everything in it.
 *
 * THE RULE: a message is acknowledged (250 to DATA) only after its envelope (sender, every recipient
 * and its state) and its content are on stable storage: the commit callback reports success only
 * after the SQLite transaction holding them has committed with synchronous=FULL in WAL mode (the WAL
 * is fsync'd before the commit returns; the directory is fsync'd when files are created). A message
 * is one transaction: after a crash it is either wholly there or not at all, so recovery keeps every
 * committed message and nothing partial.
 *
 * GROUP COMMIT: sessions hand finished messages to queue_store_submit() from the event-loop thread;
 * one committer thread takes every message waiting, writes them in one transaction and pays one fsync
 * for the batch, then calls each submitter back in the event-loop thread.
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
	QUEUE_RCPT_PENDING = 0, /* not yet tried */
	QUEUE_RCPT_DEFERRED = 1, /* temporary failure; retried at next_attempt */
	QUEUE_RCPT_SENT = 2,
	QUEUE_RCPT_BOUNCED = 3,
};

/* A message handed to the store by an SMTP session. */
struct queue_new_msg {
	char id[QUEUE_ID_SIZE]; /* from queue_store_new_id() */
	const char *sender;     /* "" for the null sender */
	const char *const *rcpts;
	size_t nrcpt;
	const char *client_name, *client_addr, *helo, *proto;
	int64_t arrival; /* seconds since the epoch */
	bool smtputf8;
	struct evbuffer *body; /* the whole message, trace headers included; the store takes it */
};

struct queue_rcpt_info {
	int idx;
	char *address;
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
	bool smtputf8;
	size_t nrcpt;
	struct queue_rcpt_info *rcpts;
};

/* Called in the event-loop thread once the message is durable (result 0) or could not be stored
 * (result -1; error says why, e.g. a full disk: the session answers 452/451, never 250). */
typedef void queue_commit_cb(void *ctx, int result, const char *id, const char *error);

/* Called for each message by queue_store_list(); return non-zero to stop. */
typedef int queue_list_cb(void *ctx, const struct queue_msg_info *msg);

/* Open (creating directories and schema as needed) the store in dir, and recover: committed messages
 * are kept, temporary files of unfinished ones removed. 0 or -1 with *error_r. */
int queue_store_open(const char *dir, struct queue_store **qs_r, const char **error_r);

/* Start the committer thread; completions are delivered on base. 0 or -1 with *error_r. */
int queue_store_start(struct queue_store *qs, struct event_base *base, const char **error_r);

/* Stop the committer (after finishing what was submitted) and close. Clears *qs. */
void queue_store_close(struct queue_store **qs);

/* A new unique queue id (upper-case hex, time-ordered). Thread-safe. */
void queue_store_new_id(char id_r[QUEUE_ID_SIZE]);

/* Hand msg to the committer; cb(ctx, ...) follows exactly once. The store copies every field and takes
 * msg->body (the caller must not touch it again). */
void queue_store_submit(struct queue_store *qs, struct queue_new_msg *msg, queue_commit_cb *cb, void *ctx);

/* Synchronous calls (any thread but the committer's; each opens its own connection per thread). */
int queue_store_list(struct queue_store *qs, queue_list_cb *cb, void *ctx, const char **error_r);
/* 0 found (*info_r set; free with queue_msg_info_free), 1 no such message, -1 error. */
int queue_store_get(struct queue_store *qs, const char *id, struct queue_msg_info **info_r, const char **error_r);
void queue_msg_info_free(struct queue_msg_info **info);
/* Append the message content to out. 0, 1 no such message, -1 error. */
int queue_store_read_body(struct queue_store *qs, const char *id, struct evbuffer *out, const char **error_r);
/* 0 done, 1 no such message, -1 error. */
int queue_store_delete(struct queue_store *qs, const char *id, const char **error_r);
int queue_store_set_hold(struct queue_store *qs, const char *id, bool hold, const char **error_r);
/* Number of messages and the arrival time of the oldest (0 when empty). */
int queue_store_stats(struct queue_store *qs, int64_t *count_r, int64_t *oldest_r, const char **error_r);

#endif
