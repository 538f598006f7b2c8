/* queue_failed: failed messages kept for failed_retention; see queue_failed.h. */
#include "mxd/queue/queue_failed.h"

#include "mxd/queue/queue_log.h"
#include "mxd/queue/queue_store_private.h"

#include "mxd/common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUEUE_FAILED_PURGE_STEP 256 /* messages removed per pass of queue_failed_purge() */

int queue_fail_locked(struct queue_conn *c, const char *id, int64_t at, const char *reason,
                      const char **error_r)
{
	sqlite3_stmt *st;
	char text[QUEUE_LOG_REPLY_MAX + 1];

	queue_log_sanitize(text, sizeof(text), reason);
	/* the delivery log says it, once per recipient that failed (before the update: only while it was not)
	 */
	if (queue_stmt(c,
	               "INSERT INTO delivery_log(at, queue_id, event, sender, address, orig_address, relay,"
	               " dsn, reply) SELECT ?2, m.id, 'failed', m.sender, r.address, r.orig_address, '',"
	               " coalesce(r.dsn, ''), ?3 FROM messages m JOIN recipients r ON r.msg_id = m.id"
	               " WHERE m.id = ?1 AND m.failed_at = 0 AND r.state = 3 ORDER BY r.idx",
	               &st, error_r) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, at);
	sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
	int lrc = sqlite3_step(st);
	if (lrc != SQLITE_DONE)
		*error_r = queue_db_error(c->db, "write delivery log");
	queue_stmt_release(c, st);
	if (lrc != SQLITE_DONE)
		return -1;
	if (queue_stmt(
	        c, "UPDATE messages SET failed_at = ?2, failed_reason = ?3 WHERE id = ?1 AND failed_at = 0",
	        &st, error_r) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, at > 0 ? at : 1);
	sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		*error_r = queue_db_error(c->db, "mark message failed");
	bool found = sqlite3_changes(c->db) > 0;
	queue_stmt_release(c, st);
	if (rc != SQLITE_DONE)
		return -1;
	return found ? 0 : 1;
}

int queue_failed_stats(struct queue_store *qs, int64_t *count_r, int64_t *bytes_r, const char **error_r)
{
	sqlite3_stmt *st;
	int ret = -1;

	pthread_mutex_lock(&qs->sync_lock);
	if (queue_stmt(&qs->sync, "SELECT count(*), coalesce(sum(size), 0) FROM messages WHERE failed_at > 0",
	               &st, error_r) == 0) {
		if (sqlite3_step(st) == SQLITE_ROW) {
			*count_r = sqlite3_column_int64(st, 0);
			*bytes_r = sqlite3_column_int64(st, 1);
			ret = 0;
		} else {
			*error_r = queue_db_error(qs->sync.db, "failed messages");
		}
		queue_stmt_release(&qs->sync, st);
	}
	pthread_mutex_unlock(&qs->sync_lock);
	return ret;
}

struct failed_list_ctx {
	queue_list_cb *cb;
	void *ctx;
};

static int failed_list_one(void *ctx, const struct queue_msg_info *msg)
{
	struct failed_list_ctx *fc = ctx;
	return msg->failed_at > 0 ? fc->cb(fc->ctx, msg) : 0;
}

int queue_failed_list(struct queue_store *qs, queue_list_cb *cb, void *ctx, const char **error_r)
{
	struct failed_list_ctx fc = {cb, ctx};
	return queue_store_list(qs, failed_list_one, &fc, error_r);
}

/* Run a statement with ?1 = new id, ?2 = old id and, if it has one, ?3 = text or else now; *changes_r: rows
 * changed. */
static int failed_copy(struct queue_conn *c, const char *sql, const char *new_id, const char *id,
                       const char *text, int64_t now, int *changes_r, const char **error_r)
{
	sqlite3_stmt *st;

	if (queue_stmt(c, sql, &st, error_r) < 0)
		return -1;
	sqlite3_bind_text(st, 1, new_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	if (sqlite3_bind_parameter_count(st) < 3)
		; /* no third parameter */
	else if (text != NULL)
		sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 3, now);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		*error_r = queue_db_error(c->db, "resend message");
	*changes_r = sqlite3_changes(c->db);
	queue_stmt_release(c, st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* The resend's statements inside the caller's transaction. 0, 1 no such failed message, -1. */
static int failed_resend_locked(struct queue_conn *c, const char *id, const char *to, const char *new_id,
                                const char **error_r)
{
	int changes;
	if (failed_copy(
	        c,
	        "INSERT INTO messages(id, arrival, size, sender, client_name, client_addr, helo, proto,"
	        " smtputf8, body_segment, body_offset, body_length) SELECT ?1, ?3, size, sender,"
	        " client_name, client_addr, helo, proto, smtputf8, body_segment, body_offset, body_length"
	        " FROM messages WHERE id = ?2 AND failed_at > 0",
	        new_id, id, NULL, time_now(), &changes, error_r) < 0)
		return -1;
	if (changes == 0)
		return 1;
	if (failed_copy(c, "INSERT INTO bodies(id, data) SELECT ?1, data FROM bodies WHERE id = ?2", new_id,
	                id, NULL, 0, &changes, error_r) < 0)
		return -1;
	if (to == NULL) {
		if (failed_copy(c,
		                "INSERT INTO recipients(msg_id, idx, address, orig_address) SELECT ?1, idx,"
		                " address, orig_address FROM recipients WHERE msg_id = ?2 AND state = 3",
		                new_id, id, NULL, 0, &changes, error_r) < 0)
			return -1;
	} else {
		/* the first failed recipient's alias, so the log and SRS see the same forward */
		if (failed_copy(c,
		                "INSERT INTO recipients(msg_id, idx, address, orig_address) SELECT ?1, 0, ?3,"
		                " coalesce((SELECT orig_address FROM recipients WHERE msg_id = ?2"
		                " ORDER BY state <> 3, idx LIMIT 1), ?3)",
		                new_id, id, to, 0, &changes, error_r) < 0)
			return -1;
	}
	if (changes == 0) {
		*error_r = "the message has no failed recipient to send it to again (give --to ADDRESS)";
		return -1;
	}
	char reason[64];
	snprintf(reason, sizeof(reason), "resent as %s", new_id);
	if (queue_remove_locked(c, id, reason, error_r) < 0)
		return -1;
	return queue_exec(c->db, "UPDATE control SET value = value + 1 WHERE key = 'flush'", "resend message",
	                  error_r);
}

int queue_failed_resend(struct queue_store *qs, const char *id, const char *to, char new_id_r[QUEUE_ID_SIZE],
                        const char **error_r)
{
	int ret = -1;

	queue_store_new_id(new_id_r);
	pthread_mutex_lock(&qs->sync_lock);
	if (queue_exec(qs->sync.db, "BEGIN IMMEDIATE", "resend message", error_r) == 0) {
		ret = failed_resend_locked(&qs->sync, id, to, new_id_r, error_r);
		if (ret == 0 && queue_exec(qs->sync.db, "COMMIT", "resend message", error_r) < 0)
			ret = -1;
		if (ret != 0)
			queue_rollback(qs->sync.db);
	}
	pthread_mutex_unlock(&qs->sync_lock);
	return ret;
}

/* Up to max ids of failed messages that failed at or before `before`. */
static int failed_due(struct queue_conn *c, int64_t before, char (*ids)[QUEUE_ID_SIZE], size_t max,
                      size_t *n_r, const char **error_r)
{
	sqlite3_stmt *st;
	*n_r = 0;
	if (queue_stmt(c,
	               "SELECT id FROM messages WHERE failed_at > 0 AND failed_at <= ?1 ORDER BY id LIMIT ?2",
	               &st, error_r) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, before);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n_r < max)
		str_copy(ids[(*n_r)++], QUEUE_ID_SIZE, (const char *)sqlite3_column_text(st, 0));
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		*error_r = queue_db_error(c->db, "find expired failed messages");
	queue_stmt_release(c, st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

int queue_failed_purge(struct queue_store *qs, int64_t before, const char *reason, int64_t *n_r,
                       const char **error_r)
{
	char(*ids)[QUEUE_ID_SIZE] = xcalloc(QUEUE_FAILED_PURGE_STEP, QUEUE_ID_SIZE);
	int ret = 0;

	*n_r = 0;
	for (;;) {
		size_t n = 0;
		pthread_mutex_lock(&qs->sync_lock);
		ret = queue_exec(qs->sync.db, "BEGIN IMMEDIATE", "purge failed messages", error_r);
		if (ret == 0)
			ret = failed_due(&qs->sync, before, ids, QUEUE_FAILED_PURGE_STEP, &n, error_r);
		for (size_t i = 0; ret == 0 && i < n; i++)
			ret = queue_remove_locked(&qs->sync, ids[i], reason, error_r) < 0 ? -1 : 0;
		if (ret == 0)
			ret = queue_exec(qs->sync.db, "COMMIT", "purge failed messages", error_r);
		if (ret < 0)
			queue_rollback(qs->sync.db);
		pthread_mutex_unlock(&qs->sync_lock);
		if (ret < 0 || n == 0)
			break;
		*n_r += (int64_t)n;
		if (n < QUEUE_FAILED_PURGE_STEP)
			break;
	}
	free(ids);
	return ret;
}
