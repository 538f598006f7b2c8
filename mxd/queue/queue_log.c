/*
 * queue_log: the delivery log of queue.db (see queue_log.h); the synchronous calls, on the store's
 * synchronous connection under its lock.
 */
#include "mxd/queue/queue_log.h"

#include "mxd/queue/queue_store_private.h"
#include "mxd/common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void queue_log_bind(sqlite3_stmt *st, int col, const char *s)
{
	sqlite3_bind_text(st, col, s != NULL ? s : "", -1, SQLITE_TRANSIENT);
}

/* Control characters become '?'; at most QUEUE_LOG_REPLY_MAX octets, not cutting a UTF-8 sequence. */
void queue_log_sanitize(char *out, size_t size, const char *in)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)(in != NULL ? in : "");
	     *p != '\0' && n + 1 < size; p++)
		out[n++] = *p < 0x20 || *p == 0x7f ? '?' : (char)*p;
	if (n + 1 >= size)
		while (n > 0 && ((unsigned char)out[n - 1] & 0xc0) == 0x80)
			n--; /* drop a trailing partial sequence (its lead octet too, below) */
	if (n + 1 >= size && n > 0 && (unsigned char)out[n - 1] >= 0xc0)
		n--;
	out[n] = '\0';
}

int queue_log_events_locked(struct queue_conn *c, const struct queue_log_event *events, size_t n,
                            const char **error_r)
{
	sqlite3_stmt *st;
	char reply[QUEUE_LOG_REPLY_MAX + 1];
	int64_t now = time_now();
	int ret = 0;

	if (n == 0)
		return 0;
	if (queue_stmt(c,
	               "INSERT INTO delivery_log(at, queue_id, event, sender, address, orig_address, relay,"
	               " dsn, reply) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	               &st, error_r) < 0)
		return -1;
	for (size_t i = 0; i < n && ret == 0; i++) {
		const struct queue_log_event *e = &events[i];
		sqlite3_bind_int64(st, 1, e->at != 0 ? e->at : now);
		queue_log_bind(st, 2, e->queue_id);
		queue_log_bind(st, 3, e->event);
		queue_log_bind(st, 4, e->sender);
		queue_log_bind(st, 5, e->address);
		queue_log_bind(st, 6, e->orig_address);
		queue_log_bind(st, 7, e->relay);
		queue_log_bind(st, 8, e->dsn);
		queue_log_sanitize(reply, sizeof(reply), e->reply);
		queue_log_bind(st, 9, reply);
		if (sqlite3_step(st) != SQLITE_DONE) {
			*error_r = queue_db_error(c->db, "write delivery log");
			ret = -1;
		}
		sqlite3_reset(st);
	}
	queue_stmt_release(c, st);
	return ret;
}

int queue_store_log_events(struct queue_store *qs, const struct queue_log_event *events, size_t n,
                           const char **error_r)
{
	int ret = -1;

	if (n == 0)
		return 0;
	pthread_mutex_lock(&qs->sync_lock);
	if (queue_exec(qs->sync.db, "BEGIN IMMEDIATE", "write delivery log", error_r) == 0) {
		ret = queue_log_events_locked(&qs->sync, events, n, error_r);
		if (ret == 0)
			ret = queue_exec(qs->sync.db, "COMMIT", "write delivery log", error_r);
		if (ret < 0)
			queue_rollback(qs->sync.db);
	}
	pthread_mutex_unlock(&qs->sync_lock);
	return ret;
}

static const char *queue_log_col(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);
	return s != NULL ? (const char *)s : "";
}

int queue_store_log_search(struct queue_store *qs, const char *address, const char *queue_id, int64_t since,
                           size_t max, queue_log_cb *cb, void *ctx, const char **error_r)
{
	sqlite3_stmt *st;
	size_t count = 0;
	int ret = -1, rc = SQLITE_DONE;

	/* one statement per case, so that SQLite can use the address, queue_id or at index */
	char sql[512];
	snprintf(sql, sizeof(sql),
	         "SELECT id, at, queue_id, event, sender, address, orig_address, relay, dsn, reply"
	         " FROM delivery_log WHERE %s%s at >= ?3 ORDER BY queue_id, id",
	         address != NULL ? "(address = ?1 COLLATE NOCASE OR orig_address = ?1 COLLATE NOCASE) AND"
	                         : "",
	         queue_id != NULL ? " queue_id = ?2 AND" : "");
	pthread_mutex_lock(&qs->sync_lock);
	if (queue_prepare(qs->sync.db, sql, &st, error_r) < 0)
		goto out;
	if (address != NULL)
		sqlite3_bind_text(st, 1, address, -1, SQLITE_STATIC);
	if (queue_id != NULL)
		sqlite3_bind_text(st, 2, queue_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, since);
	while (count < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct queue_log_event e = {
		    .id = sqlite3_column_int64(st, 0),
		    .at = sqlite3_column_int64(st, 1),
		    .queue_id = queue_log_col(st, 2),
		    .event = queue_log_col(st, 3),
		    .sender = queue_log_col(st, 4),
		    .address = queue_log_col(st, 5),
		    .orig_address = queue_log_col(st, 6),
		    .relay = queue_log_col(st, 7),
		    .dsn = queue_log_col(st, 8),
		    .reply = queue_log_col(st, 9),
		};
		count++;
		if (cb(ctx, &e) != 0)
			break;
	}
	if (count < max && rc != SQLITE_ROW && rc != SQLITE_DONE)
		*error_r = queue_db_error(qs->sync.db, "read delivery log");
	else
		ret = 0;
	sqlite3_finalize(st);
out:
	pthread_mutex_unlock(&qs->sync_lock);
	return ret;
}

int queue_store_log_counts(struct queue_store *qs, int64_t since, int64_t *sent_r, int64_t *deferred_r,
                           int64_t *bounced_r, const char **error_r)
{
	sqlite3_stmt *st;
	int ret = -1, rc;

	*sent_r = *deferred_r = *bounced_r = 0;
	pthread_mutex_lock(&qs->sync_lock);
	if (queue_prepare(qs->sync.db,
	                  "SELECT event, count(*) FROM delivery_log WHERE at >= ?1"
	                  " AND event IN ('sent', 'deferred', 'bounced', 'expired') GROUP BY event",
	                  &st, error_r) < 0)
		goto out;
	sqlite3_bind_int64(st, 1, since);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *event = queue_log_col(st, 0);
		int64_t count = sqlite3_column_int64(st, 1);
		if (strcmp(event, "sent") == 0)
			*sent_r += count;
		else if (strcmp(event, "deferred") == 0)
			*deferred_r += count;
		else
			*bounced_r += count;
	}
	if (rc != SQLITE_DONE)
		*error_r = queue_db_error(qs->sync.db, "count delivery log");
	else
		ret = 0;
	sqlite3_finalize(st);
out:
	pthread_mutex_unlock(&qs->sync_lock);
	return ret;
}

int queue_store_log_count_event(struct queue_store *qs, const char *event, int64_t since, int64_t *count_r,
                                const char **error_r)
{
	sqlite3_stmt *st;
	int ret = -1;

	*count_r = 0;
	pthread_mutex_lock(&qs->sync_lock);
	if (queue_prepare(qs->sync.db, "SELECT count(*) FROM delivery_log WHERE at >= ?1 AND event = ?2", &st,
	                  error_r) < 0)
		goto out;
	sqlite3_bind_int64(st, 1, since);
	sqlite3_bind_text(st, 2, event, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*count_r = sqlite3_column_int64(st, 0);
		ret = 0;
	} else {
		*error_r = queue_db_error(qs->sync.db, "count delivery log");
	}
	sqlite3_finalize(st);
out:
	pthread_mutex_unlock(&qs->sync_lock);
	return ret;
}

int queue_store_log_expire(struct queue_store *qs, int64_t before, int64_t *deleted_r, const char **error_r)
{
	sqlite3_stmt *st;
	int ret = -1;

	pthread_mutex_lock(&qs->sync_lock);
	if (queue_prepare(qs->sync.db, "DELETE FROM delivery_log WHERE at < ?1", &st, error_r) == 0) {
		sqlite3_bind_int64(st, 1, before);
		if (sqlite3_step(st) == SQLITE_DONE) {
			if (deleted_r != NULL)
				*deleted_r = sqlite3_changes(qs->sync.db);
			ret = 0;
		} else {
			*error_r = queue_db_error(qs->sync.db, "expire delivery log");
		}
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&qs->sync_lock);
	return ret;
}

int queue_store_log_failing(struct queue_store *qs, int64_t since, size_t max, queue_log_failing_cb *cb,
                            void *ctx, const char **error_r)
{
	sqlite3_stmt *st;
	int ret = -1, rc;

	pthread_mutex_lock(&qs->sync_lock);
	/* the bare reply column comes from the row of max(at) (SQLite's rule for min/max aggregates) */
	if (queue_prepare(
	        qs->sync.db,
	        "SELECT orig_address, address, sum(event = 'deferred'), sum(event <> 'deferred'),"
	        " max(at), reply FROM delivery_log WHERE at >= ?1"
	        " AND event IN ('deferred', 'bounced', 'expired') AND orig_address <> ''"
	        " AND orig_address <> address COLLATE NOCASE"
	        " GROUP BY orig_address COLLATE NOCASE, address COLLATE NOCASE ORDER BY 5 DESC LIMIT ?2",
	        &st, error_r) < 0)
		goto out;
	sqlite3_bind_int64(st, 1, since);
	sqlite3_bind_int64(st, 2, max > INT64_MAX ? INT64_MAX : (int64_t)max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct queue_log_failing f = {
		    .alias = queue_log_col(st, 0),
		    .destination = queue_log_col(st, 1),
		    .deferred = sqlite3_column_int64(st, 2),
		    .bounced = sqlite3_column_int64(st, 3),
		    .last_at = sqlite3_column_int64(st, 4),
		    .reply = queue_log_col(st, 5),
		};
		if (cb(ctx, &f) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	if (rc != SQLITE_DONE)
		*error_r = queue_db_error(qs->sync.db, "read delivery log");
	else
		ret = 0;
	sqlite3_finalize(st);
out:
	pthread_mutex_unlock(&qs->sync_lock);
	return ret;
}
