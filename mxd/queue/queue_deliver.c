/* queue_deliver: the queue manager's calls on the store (due messages, recipient updates, inserted
 * bounces, flush). See queue_store.h; all run on the synchronous connection under sync_lock. */
#include "mxd/queue/queue_store_private.h"

#include "mxd/common/util.h"

#include <event2/buffer.h>
#include <string.h>

int queue_store_due(struct queue_store *qs, int64_t now, const char *after_id, size_t max,
                    char (*ids_r)[QUEUE_ID_SIZE], size_t *n_r, const char **error_r)
{
	sqlite3_stmt *st;
	int ret = -1;
	*n_r = 0;
	pthread_mutex_lock(&qs->sync_lock);
	if (queue_stmt(
	        &qs->sync,
	        "SELECT m.id FROM messages m WHERE m.held = 0 AND m.failed_at = 0 AND m.id > ?3 AND ("
	        " EXISTS (SELECT 1 FROM recipients r WHERE r.msg_id = m.id AND +r.state IN (0, 1)"
	        "  AND +r.next_attempt <= ?1)"
	        " OR NOT EXISTS (SELECT 1 FROM recipients r WHERE r.msg_id = m.id AND +r.state IN (0, 1)))"
	        " ORDER BY m.id LIMIT ?2",
	        &st, error_r) == 0) {
		sqlite3_bind_int64(st, 1, now);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
		sqlite3_bind_text(st, 3, after_id, -1, SQLITE_STATIC);
		int rc;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n_r < max)
			str_copy(ids_r[(*n_r)++], QUEUE_ID_SIZE, (const char *)sqlite3_column_text(st, 0));
		if (rc == SQLITE_DONE || rc == SQLITE_ROW)
			ret = 0;
		else
			*error_r = queue_db_error(qs->sync.db, "scan due recipients");
		queue_stmt_release(&qs->sync, st);
	}
	pthread_mutex_unlock(&qs->sync_lock);
	return ret;
}

int queue_update_rcpts_locked(struct queue_conn *c, const char *id, const struct queue_rcpt_update *u,
                              size_t n, const char **error_r)
{
	sqlite3_stmt *st;
	int ret = 0;
	if (queue_stmt(c,
	               "UPDATE recipients SET state = ?3, next_attempt = ?4, attempts = attempts + 1,"
	               " dsn = coalesce(?5, dsn), last_reason = coalesce(?6, last_reason),"
	               " remote_mta = coalesce(?7, remote_mta) WHERE msg_id = ?1 AND idx = ?2",
	               &st, error_r) < 0)
		return -1;
	for (size_t i = 0; i < n && ret == 0; i++) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, u[i].idx);
		sqlite3_bind_int(st, 3, (int)u[i].state);
		sqlite3_bind_int64(st, 4, u[i].next_attempt);
		sqlite3_bind_text(st, 5, u[i].dsn, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, u[i].reason, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, u[i].remote_mta, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE) {
			*error_r = queue_db_error(c->db, "update recipient");
			ret = -1;
		}
		sqlite3_reset(st);
	}
	queue_stmt_release(c, st);
	return ret;
}

int queue_store_update_rcpts(struct queue_store *qs, const char *id, const struct queue_rcpt_update *u,
                             size_t n, const char **error_r)
{
	int ret = -1;
	pthread_mutex_lock(&qs->sync_lock);
	if (queue_exec(qs->sync.db, "BEGIN IMMEDIATE", "update recipients", error_r) == 0) {
		ret = queue_update_rcpts_locked(&qs->sync, id, u, n, error_r);
		if (ret == 0)
			ret = queue_exec(qs->sync.db, "COMMIT", "update recipients", error_r);
		if (ret < 0)
			queue_rollback(qs->sync.db);
	}
	pthread_mutex_unlock(&qs->sync_lock);
	return ret;
}

static int insert_step(sqlite3 *db, sqlite3_stmt *st, const char *what, const char **error_r)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		*error_r = queue_db_error(db, what);
		return -1;
	}
	return 0;
}

int queue_insert_locked(struct queue_conn *c, const struct queue_new_msg *msg, const char **error_r)
{
	sqlite3 *db = c->db;
	sqlite3_stmt *st;
	size_t size = msg->body == NULL ? 0 : evbuffer_get_length(msg->body);
	int ret = -1;

	if (queue_stmt(
	        c,
	        "INSERT INTO messages(id, arrival, size, sender, client_name, client_addr, helo, proto,"
	        " smtputf8) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	        &st, error_r) < 0)
		return -1;
	sqlite3_bind_text(st, 1, msg->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, msg->arrival);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)size);
	sqlite3_bind_text(st, 4, msg->sender, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, msg->client_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, msg->client_addr, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, msg->helo, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, msg->proto, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 9, msg->smtputf8 ? 1 : 0);
	ret = insert_step(db, st, "insert message", error_r);
	queue_stmt_release(c, st);
	if (ret < 0)
		return -1;

	if (queue_stmt(c,
	               "INSERT INTO recipients(msg_id, idx, address, orig_address, state)"
	               " VALUES(?1, ?2, ?3, ?4, 0)",
	               &st, error_r) < 0)
		return -1;
	for (size_t i = 0; i < msg->nrcpt && ret == 0; i++) {
		sqlite3_bind_text(st, 1, msg->id, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, (int)i);
		sqlite3_bind_text(st, 3, msg->rcpts[i], -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, msg->orig_rcpts != NULL ? msg->orig_rcpts[i] : msg->rcpts[i], -1,
		                  SQLITE_STATIC);
		ret = insert_step(db, st, "insert recipient", error_r);
	}
	queue_stmt_release(c, st);
	if (ret < 0)
		return -1;

	if (queue_stmt(c, "INSERT INTO bodies(id, data) VALUES(?1, ?2)", &st, error_r) < 0)
		return -1;
	sqlite3_bind_text(st, 1, msg->id, -1, SQLITE_STATIC);
	const unsigned char *data = size > 0 ? evbuffer_pullup(msg->body, -1) : (const unsigned char *)"";
	sqlite3_bind_blob64(st, 2, data, size, SQLITE_STATIC);
	ret = insert_step(db, st, "insert message content", error_r);
	queue_stmt_release(c, st);
	return ret;
}

int queue_set_warned_locked(struct queue_conn *c, const char *id, const char **error_r)
{
	sqlite3_stmt *st;
	if (queue_stmt(c, "UPDATE messages SET warned = 1 WHERE id = ?1", &st, error_r) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		*error_r = queue_db_error(c->db, "mark delay warning");
	int found = sqlite3_changes(c->db) > 0;
	queue_stmt_release(c, st);
	return rc != SQLITE_DONE ? -1 : found ? 0 : 1;
}

int queue_store_insert(struct queue_store *qs, const struct queue_new_msg *msg, const char **error_r)
{
	int ret = -1;
	pthread_mutex_lock(&qs->sync_lock);
	if (queue_exec(qs->sync.db, "BEGIN IMMEDIATE", "insert message", error_r) == 0) {
		ret = queue_insert_locked(&qs->sync, msg, error_r);
		if (ret == 0)
			ret = queue_exec(qs->sync.db, "COMMIT", "insert message", error_r);
		if (ret < 0)
			queue_rollback(qs->sync.db);
	}
	pthread_mutex_unlock(&qs->sync_lock);
	return ret;
}

int queue_store_flush(struct queue_store *qs, const char **error_r)
{
	int ret;
	pthread_mutex_lock(&qs->sync_lock);
	ret = queue_exec(qs->sync.db,
	                 "BEGIN IMMEDIATE;"
	                 "UPDATE recipients SET next_attempt = 0 WHERE state = 1;"
	                 "UPDATE control SET value = value + 1 WHERE key = 'flush';"
	                 "COMMIT",
	                 "flush queue", error_r);
	if (ret < 0)
		queue_rollback(qs->sync.db);
	pthread_mutex_unlock(&qs->sync_lock);
	return ret;
}

int queue_store_flush_counter(struct queue_store *qs, int64_t *value_r, const char **error_r)
{
	sqlite3_stmt *st;
	int ret = -1;
	pthread_mutex_lock(&qs->sync_lock);
	if (queue_prepare(qs->sync.db, "SELECT value FROM control WHERE key = 'flush'", &st, error_r) == 0) {
		if (sqlite3_step(st) == SQLITE_ROW) {
			*value_r = sqlite3_column_int64(st, 0);
			ret = 0;
		} else {
			*error_r = queue_db_error(qs->sync.db, "read flush counter");
		}
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&qs->sync_lock);
	return ret;
}

int queue_store_control_get(struct queue_store *qs, const char *key, int64_t *value_r, const char **error_r)
{
	sqlite3_stmt *st;
	int ret = -1;
	*value_r = 0;
	pthread_mutex_lock(&qs->sync_lock);
	if (queue_prepare(qs->sync.db, "SELECT value FROM control WHERE key = ?1", &st, error_r) == 0) {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			*value_r = sqlite3_column_int64(st, 0);
		if (rc == SQLITE_ROW || rc == SQLITE_DONE)
			ret = 0;
		else
			*error_r = queue_db_error(qs->sync.db, "read queue control value");
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&qs->sync_lock);
	return ret;
}

int queue_store_clock_jump(struct queue_store *qs, int64_t jump, int64_t skew, const char **error_r)
{
	sqlite3_stmt *st = NULL;
	int ret = -1;
	pthread_mutex_lock(&qs->sync_lock);
	if (queue_exec(qs->sync.db, "BEGIN IMMEDIATE", "record a clock jump", error_r) < 0)
		goto out;
	if (queue_prepare(qs->sync.db,
	                  "INSERT INTO control(key, value) VALUES ('clock_skew', ?1)"
	                  " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
	                  &st, error_r) < 0)
		goto fail;
	sqlite3_bind_int64(st, 1, skew);
	if (sqlite3_step(st) != SQLITE_DONE) {
		*error_r = queue_db_error(qs->sync.db, "record a clock jump");
		goto fail;
	}
	sqlite3_finalize(st);
	st = NULL;
	/* retry times were set on the old clock: move them with it (never before now on the new one) */
	if (queue_prepare(qs->sync.db,
	                  "UPDATE recipients SET next_attempt = max(0, next_attempt + ?1) WHERE state = 1 "
	                  "AND next_attempt > 0",
	                  &st, error_r) < 0)
		goto fail;
	sqlite3_bind_int64(st, 1, jump);
	if (sqlite3_step(st) != SQLITE_DONE) {
		*error_r = queue_db_error(qs->sync.db, "move retry times");
		goto fail;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (queue_exec(qs->sync.db, "COMMIT", "record a clock jump", error_r) == 0)
		ret = 0;
	else
		queue_rollback(qs->sync.db);
	goto out;
fail:
	sqlite3_finalize(st);
	queue_rollback(qs->sync.db);
out:
	pthread_mutex_unlock(&qs->sync_lock);
	return ret;
}

int queue_store_expand_rcpt(struct queue_store *qs, const char *id, int idx, const char *const *addresses,
                            const int *states, const char *const *dsn, const char *const *reasons, size_t n,
                            const char **error_r)
{
	sqlite3_stmt *st = NULL;
	int ret = -1;
	pthread_mutex_lock(&qs->sync_lock);
	if (queue_exec(qs->sync.db, "BEGIN IMMEDIATE", "expand recipient", error_r) < 0)
		goto out;
	if (queue_prepare(
	        qs->sync.db,
	        "INSERT INTO recipients(msg_id, idx, address, orig_address, state, dsn, last_reason)"
	        " SELECT ?1, (SELECT max(idx) + 1 FROM recipients WHERE msg_id = ?1), ?3, orig_address,"
	        " ?4, ?5, ?6 FROM recipients WHERE msg_id = ?1 AND idx = ?2 AND state IN (0, 1)",
	        &st, error_r) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, idx);
		sqlite3_bind_text(st, 3, addresses[i], -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 4, states[i]);
		sqlite3_bind_text(st, 5, dsn[i], -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, reasons[i], -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE) {
			*error_r = queue_db_error(qs->sync.db, "insert expanded recipient");
			goto fail;
		}
		if (sqlite3_changes(qs->sync.db) == 0) {
			ret = 1; /* gone meanwhile (delivered, bounced, deleted): nothing to replace */
			goto fail;
		}
	}
	sqlite3_finalize(st);
	st = NULL;
	if (queue_prepare(qs->sync.db, "DELETE FROM recipients WHERE msg_id = ?1 AND idx = ?2", &st,
	                  error_r) < 0)
		goto fail;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, idx);
	if (sqlite3_step(st) != SQLITE_DONE) {
		*error_r = queue_db_error(qs->sync.db, "remove expanded recipient");
		goto fail;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (queue_exec(qs->sync.db, "COMMIT", "expand recipient", error_r) == 0) {
		ret = 0;
		goto out;
	}
fail:
	sqlite3_finalize(st);
	queue_rollback(qs->sync.db);
out:
	pthread_mutex_unlock(&qs->sync_lock);
	return ret;
}
