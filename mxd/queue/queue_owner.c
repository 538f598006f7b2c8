/* queue_owner: owner events and notices; see queue_owner.h. */
#include "mxd/queue/queue_owner.h"

#include "mxd/queue/queue_log.h"
#include "mxd/queue/queue_store_private.h"

#include "mxd/common/util.h"

#include <stdlib.h>
#include <string.h>

#define QUEUE_OWNER_EVENTS_MAX 100         /* events listed in one notice */
#define QUEUE_OWNER_KEEP       (7 * 86400) /* seconds a told event is kept */

static void bind_str(sqlite3_stmt *st, int col, const char *s)
{
	sqlite3_bind_text(st, col, s != NULL ? s : "", -1, SQLITE_TRANSIENT);
}

int queue_owner_record(struct queue_store *qs, const struct queue_owner_event *ev, const char **error_r)
{
	sqlite3_stmt *st;
	char reply[QUEUE_LOG_REPLY_MAX + 1];
	int ret = -1;

	queue_log_sanitize(reply, sizeof(reply), ev->reply);
	pthread_mutex_lock(&qs->sync_lock);
	if (queue_stmt(
	        &qs->sync,
	        "INSERT OR IGNORE INTO owner_events(queue_id, idx, kind, domain, alias, destination, reply,"
	        " at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	        &st, error_r) == 0) {
		bind_str(st, 1, ev->queue_id);
		sqlite3_bind_int(st, 2, ev->idx);
		bind_str(st, 3, ev->kind);
		bind_str(st, 4, ev->domain);
		bind_str(st, 5, ev->alias);
		bind_str(st, 6, ev->destination);
		bind_str(st, 7, reply);
		sqlite3_bind_int64(st, 8, ev->at != 0 ? ev->at : time_now());
		if (sqlite3_step(st) == SQLITE_DONE)
			ret = 0;
		else
			*error_r = queue_db_error(qs->sync.db, "record owner event");
		queue_stmt_release(&qs->sync, st);
	}
	pthread_mutex_unlock(&qs->sync_lock);
	return ret;
}

static char *col_dup(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);
	return xstrdup(s != NULL ? (const char *)s : "");
}

/* The events not yet told of domain (and of destination, unless NULL), at most QUEUE_OWNER_EVENTS_MAX. */
static int owner_events_read(struct queue_conn *c, const char *domain, const char *destination,
                             struct queue_owner_event **events_r, size_t *n_r, const char **error_r)
{
	sqlite3_stmt *st;
	int rc;
	if (queue_stmt(c,
	               "SELECT queue_id, idx, kind, domain, alias, destination, reply, at FROM owner_events"
	               " WHERE told = 0 AND domain = ?1 AND (?2 IS NULL OR destination = ?2)"
	               " ORDER BY destination, at, queue_id, idx LIMIT ?3",
	               &st, error_r) < 0)
		return -1;
	sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
	if (destination != NULL)
		sqlite3_bind_text(st, 2, destination, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, QUEUE_OWNER_EVENTS_MAX);
	struct queue_owner_event *ev = xcalloc(QUEUE_OWNER_EVENTS_MAX, sizeof(*ev));
	size_t n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < QUEUE_OWNER_EVENTS_MAX) {
		ev[n] = (struct queue_owner_event){
		    .queue_id = col_dup(st, 0),
		    .idx = sqlite3_column_int(st, 1),
		    .kind = col_dup(st, 2),
		    .domain = col_dup(st, 3),
		    .alias = col_dup(st, 4),
		    .destination = col_dup(st, 5),
		    .reply = col_dup(st, 6),
		    .at = sqlite3_column_int64(st, 7),
		};
		n++;
	}
	queue_stmt_release(c, st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		*error_r = queue_db_error(c->db, "read owner events");
		queue_owner_events_free(&ev, n);
		return -1;
	}
	*events_r = ev;
	*n_r = n;
	return 0;
}

/* The events of the first due pair, read inside the caller's lock. */
static int owner_due_locked(struct queue_conn *c, int64_t now, int64_t interval,
                            struct queue_owner_event **events_r, size_t *n_r, const char **error_r)
{
	sqlite3_stmt *st;
	char *domain = NULL, *destination = NULL;
	int rc;

	if (queue_stmt(c,
	               "SELECT e.domain, e.destination FROM owner_events e LEFT JOIN owner_notices n"
	               " ON n.domain = e.domain AND n.destination = e.destination"
	               " WHERE e.told = 0 AND (n.at IS NULL OR e.at >= n.at + ?1) ORDER BY e.at LIMIT 1",
	               &st, error_r) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, interval);
	(void)now;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		domain = col_dup(st, 0);
		destination = col_dup(st, 1);
	} else if (rc != SQLITE_DONE) {
		*error_r = queue_db_error(c->db, "find owner events");
	}
	queue_stmt_release(c, st);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? 0 : -1;

	int ret = owner_events_read(c, domain, destination, events_r, n_r, error_r);
	free(domain);
	free(destination);
	return ret;
}

/* A domain whose digest is due (its clock older than interval) with events not yet told. */
static int owner_digest_due_locked(struct queue_conn *c, int64_t now, int64_t interval,
                                   struct queue_owner_event **events_r, size_t *n_r, const char **error_r)
{
	sqlite3_stmt *st;
	char *domain = NULL;
	if (queue_stmt(c,
	               "SELECT d.domain FROM owner_digests d WHERE d.at <= ?1 AND EXISTS"
	               " (SELECT 1 FROM owner_events e WHERE e.told = 0 AND e.domain = d.domain) LIMIT 1",
	               &st, error_r) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, now - interval);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		domain = col_dup(st, 0);
	else if (rc != SQLITE_DONE)
		*error_r = queue_db_error(c->db, "find owner digests");
	queue_stmt_release(c, st);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? 0 : -1;
	int ret = owner_events_read(c, domain, NULL, events_r, n_r, error_r);
	free(domain);
	return ret;
}

int queue_owner_digest_due(struct queue_store *qs, int64_t now, int64_t interval,
                           struct queue_owner_event **events_r, size_t *n_r, const char **error_r)
{
	*events_r = NULL;
	*n_r = 0;
	pthread_mutex_lock(&qs->sync_lock);
	int ret = owner_digest_due_locked(&qs->sync, now, interval, events_r, n_r, error_r);
	pthread_mutex_unlock(&qs->sync_lock);
	return ret;
}

int queue_owner_due(struct queue_store *qs, int64_t now, int64_t interval,
                    struct queue_owner_event **events_r, size_t *n_r, const char **error_r)
{
	*events_r = NULL;
	*n_r = 0;
	pthread_mutex_lock(&qs->sync_lock);
	int ret = owner_due_locked(&qs->sync, now, interval, events_r, n_r, error_r);
	pthread_mutex_unlock(&qs->sync_lock);
	return ret;
}

void queue_owner_events_free(struct queue_owner_event **events, size_t n)
{
	struct queue_owner_event *ev = *events;
	if (ev == NULL)
		return;
	*events = NULL;
	for (size_t i = 0; i < n; i++) {
		free(ev[i].queue_id);
		free(ev[i].kind);
		free(ev[i].domain);
		free(ev[i].alias);
		free(ev[i].destination);
		free(ev[i].reply);
	}
	free(ev);
}

/* Run sql with ?1 = text, ?2 = value. 0 or -1. */
static int owner_exec2(struct queue_conn *c, const char *sql, const char *text, int64_t value,
                       const char **error_r)
{
	sqlite3_stmt *st;
	if (queue_stmt(c, sql, &st, error_r) < 0)
		return -1;
	sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, value);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		*error_r = queue_db_error(c->db, "owner notices");
	queue_stmt_release(c, st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int owner_told_locked(struct queue_conn *c, const char *domain, const char *destination, int64_t upto,
                             int64_t now, const struct queue_new_msg *notice, const char **error_r)
{
	sqlite3_stmt *st;
	if (notice != NULL && queue_insert_locked(c, notice, error_r) < 0)
		return -1;
	if (queue_stmt(c,
	               "UPDATE owner_events SET told = 1 WHERE told = 0 AND domain = ?1"
	               " AND (?2 IS NULL OR destination = ?2) AND at <= ?3",
	               &st, error_r) < 0)
		return -1;
	sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, destination, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, upto);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		*error_r = queue_db_error(c->db, "mark owner events");
	queue_stmt_release(c, st);
	if (rc != SQLITE_DONE)
		return -1;
	/* told events are kept a week (the INSERT OR IGNORE of each recipient's 'delayed' relies on them),
	 * then dropped so that the table does not grow without end */
	if (owner_exec2(c, "DELETE FROM owner_events WHERE told = 1 AND domain = ?1 AND at < ?2", domain,
	                now - QUEUE_OWNER_KEEP, error_r) < 0)
		return -1;
	if (notice == NULL)
		return 0;        /* nobody was told: no interval starts */
	if (destination == NULL) /* a digest */
		return owner_exec2(c,
		                   "INSERT INTO owner_digests(domain, at) VALUES(?1, ?2)"
		                   " ON CONFLICT(domain) DO UPDATE SET at = excluded.at",
		                   domain, now, error_r);
	/* the domain's digest clock starts with its first notice */
	if (owner_exec2(c, "INSERT OR IGNORE INTO owner_digests(domain, at) VALUES(?1, ?2)", domain, now,
	                error_r) < 0)
		return -1;
	if (queue_stmt(c,
	               "INSERT INTO owner_notices(domain, destination, at) VALUES(?1, ?2, ?3)"
	               " ON CONFLICT(domain, destination) DO UPDATE SET at = excluded.at",
	               &st, error_r) < 0)
		return -1;
	sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, destination, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		*error_r = queue_db_error(c->db, "remember owner notice");
	queue_stmt_release(c, st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int queue_owner_told(struct queue_store *qs, const char *domain, const char *destination, int64_t upto,
                     int64_t now, const struct queue_new_msg *notice, const char **error_r)
{
	int ret = -1;
	pthread_mutex_lock(&qs->sync_lock);
	if (queue_exec(qs->sync.db, "BEGIN IMMEDIATE", "owner notice", error_r) == 0) {
		ret = owner_told_locked(&qs->sync, domain, destination, upto, now, notice, error_r);
		if (ret == 0 && queue_exec(qs->sync.db, "COMMIT", "owner notice", error_r) < 0)
			ret = -1;
		if (ret < 0)
			queue_rollback(qs->sync.db);
	}
	pthread_mutex_unlock(&qs->sync_lock);
	return ret;
}
