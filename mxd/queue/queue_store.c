/* queue_store: opening, schema, queue ids and the synchronous calls, removal with its delivery-log rows
 * included; see queue_store.h. The committer thread lives in queue_commit.c. */
#include "mxd/queue/queue_store_private.h"

#include "mxd/queue/queue_log.h"
#include "mxd/queue/queue_segment.h"

#include "mxd/common/log.h"
#include "mxd/common/util.h"

#include <assert.h>
#include <errno.h>
#include <event2/buffer.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#define QUEUE_BUSY_TIMEOUT_MS 5000
#define QUEUE_READ_CHUNK      65536

/* One script per schema version: queue_migrations[v - 1] takes the schema from version v - 1 to v.
 * Append new versions (the delivery engine's columns) at the end; never edit a released one. */
static const char *const queue_migrations[] = {
    /* 1 */
    "CREATE TABLE messages(id TEXT PRIMARY KEY NOT NULL, arrival INTEGER NOT NULL, size INTEGER NOT NULL,"
    " sender TEXT NOT NULL, client_name TEXT, client_addr TEXT, helo TEXT, proto TEXT,"
    " smtputf8 INTEGER NOT NULL DEFAULT 0, held INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE recipients(msg_id TEXT NOT NULL REFERENCES messages ON DELETE CASCADE,"
    " idx INTEGER NOT NULL, address TEXT NOT NULL, orig_address TEXT NOT NULL,"
    " state INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,"
    " next_attempt INTEGER NOT NULL DEFAULT 0, last_reason TEXT, PRIMARY KEY(msg_id, idx));"
    "CREATE TABLE bodies(id TEXT PRIMARY KEY NOT NULL REFERENCES messages ON DELETE CASCADE,"
    " data BLOB NOT NULL);",
    /* 2: delivery: the due-recipient index, each recipient's last status and relay, the flush counter */
    "CREATE INDEX recipients_due ON recipients(state, next_attempt);"
    "ALTER TABLE recipients ADD COLUMN dsn TEXT;"
    "ALTER TABLE recipients ADD COLUMN remote_mta TEXT;"
    "CREATE TABLE control(key TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL);"
    "INSERT INTO control(key, value) VALUES ('flush', 0);",
    /* 3: delay warnings (delay_warning_time): sent at most once per message */
    "ALTER TABLE messages ADD COLUMN warned INTEGER NOT NULL DEFAULT 0;",
    /* 4: the delivery log (queue_log.h) */
    "CREATE TABLE delivery_log(id INTEGER PRIMARY KEY, at INTEGER NOT NULL, queue_id TEXT NOT NULL,"
    " event TEXT NOT NULL, sender TEXT NOT NULL DEFAULT '', address TEXT NOT NULL DEFAULT '',"
    " orig_address TEXT NOT NULL DEFAULT '', relay TEXT NOT NULL DEFAULT '', dsn TEXT NOT NULL DEFAULT '',"
    " reply TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX delivery_log_queue_id ON delivery_log(queue_id);"
    "CREATE INDEX delivery_log_address ON delivery_log(address COLLATE NOCASE);"
    "CREATE INDEX delivery_log_orig_address ON delivery_log(orig_address COLLATE NOCASE);"
    "CREATE INDEX delivery_log_at ON delivery_log(at);",
    /* 5: quarantine: why a milter held the message (NULL: not held by a milter); failed messages kept
     * for failed_retention (queue_failed.h): when they failed and why */
    "ALTER TABLE messages ADD COLUMN hold_reason TEXT;"
    "ALTER TABLE messages ADD COLUMN failed_at INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE messages ADD COLUMN failed_reason TEXT;"
    "CREATE INDEX messages_failed ON messages(failed_at) WHERE failed_at > 0;",
    /* 6: owner notices (queue_owner.h): what to tell a domain's report address, and when it was told */
    "CREATE TABLE owner_events(queue_id TEXT NOT NULL, idx INTEGER NOT NULL, kind TEXT NOT NULL,"
    " domain TEXT NOT NULL, alias TEXT NOT NULL, destination TEXT NOT NULL, reply TEXT NOT NULL DEFAULT '',"
    " at INTEGER NOT NULL, told INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(queue_id, idx, kind));"
    "CREATE INDEX owner_events_pending ON owner_events(told, domain, destination);"
    "CREATE TABLE owner_notices(domain TEXT NOT NULL, destination TEXT NOT NULL, at INTEGER NOT NULL,"
    " PRIMARY KEY(domain, destination));"
    "CREATE TABLE owner_digests(domain TEXT PRIMARY KEY NOT NULL, at INTEGER NOT NULL);",
    /* 7: large bodies in segment files (queue_segment.h): where the body is when it has no bodies row */
    "ALTER TABLE messages ADD COLUMN body_segment INTEGER;"
    "ALTER TABLE messages ADD COLUMN body_offset INTEGER;"
    "ALTER TABLE messages ADD COLUMN body_length INTEGER;"
    "CREATE INDEX messages_body_segment ON messages(body_segment) WHERE body_segment IS NOT NULL;",
};
#define QUEUE_SCHEMA_VERSION ((int)MXD_ARRAY_SIZE(queue_migrations))

static __thread char queue_errbuf[1024];

static pthread_mutex_t queue_id_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t queue_id_last;

void queue_store_new_id(char id_r[QUEUE_ID_SIZE])
{
	uint64_t v = (uint64_t)time_now_usec() << 8;

	pthread_mutex_lock(&queue_id_lock);
	if (v <= queue_id_last)
		v = queue_id_last + 1;
	queue_id_last = v;
	pthread_mutex_unlock(&queue_id_lock);
	snprintf(id_r, QUEUE_ID_SIZE, "%016" PRIX64, v);
}

/* Make every later id greater than id, one read from the store (ids of another form are ignored). */
static void queue_id_seed(const char *id)
{
	uint64_t v = 0;

	if (strlen(id) != 16 || strspn(id, "0123456789ABCDEF") != 16)
		return;
	for (const char *p = id; *p != '\0'; p++)
		v = v << 4 | (uint64_t)(*p <= '9' ? *p - '0' : *p - 'A' + 10);
	pthread_mutex_lock(&queue_id_lock);
	if (v > queue_id_last)
		queue_id_last = v;
	pthread_mutex_unlock(&queue_id_lock);
}

const char *queue_db_error(sqlite3 *db, const char *what)
{
	snprintf(queue_errbuf, sizeof(queue_errbuf), "%s: %s", what, sqlite3_errmsg(db));
	return queue_errbuf;
}

int queue_exec(sqlite3 *db, const char *sql, const char *what, const char **error_r)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		*error_r = queue_db_error(db, what);
		return -1;
	}
	return 0;
}

/* End the transaction a failed call left open, keeping the error message of the failure. */
void queue_rollback(sqlite3 *db)
{
	if (!sqlite3_get_autocommit(db))
		(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

int queue_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st_r, const char **error_r)
{
	if (sqlite3_prepare_v2(db, sql, -1, st_r, NULL) != SQLITE_OK) {
		*error_r = queue_db_error(db, "prepare");
		return -1;
	}
	return 0;
}

int queue_stmt(struct queue_conn *c, const char *sql, sqlite3_stmt **st_r, const char **error_r)
{
	for (size_t i = 0; i < c->nstmts; i++)
		if (c->stmts[i].sql == sql || strcmp(c->stmts[i].sql, sql) == 0) {
			*st_r = c->stmts[i].st;
			return 0;
		}
	if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st_r, NULL) != SQLITE_OK) {
		*error_r = queue_db_error(c->db, "prepare");
		return -1;
	}
	if (c->nstmts < QUEUE_STMT_CACHE) {
		c->stmts[c->nstmts].sql = sql;
		c->stmts[c->nstmts++].st = *st_r;
	}
	return 0;
}

void queue_stmt_release(struct queue_conn *c, sqlite3_stmt *st)
{
	if (st == NULL)
		return;
	for (size_t i = 0; i < c->nstmts; i++)
		if (c->stmts[i].st == st) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return;
		}
	sqlite3_finalize(st); /* the cache was full */
}

void queue_conn_close(struct queue_conn *c)
{
	for (size_t i = 0; i < c->nstmts; i++)
		sqlite3_finalize(c->stmts[i].st);
	c->nstmts = 0;
	if (c->db != NULL && sqlite3_close(c->db) != SQLITE_OK)
		log_warn("qmgr", "%s", queue_db_error(c->db, "close queue database"));
	c->db = NULL;
}

/* The committer and the queue manager write the same file: wait for each other in steps of 200 us
 * rather than SQLite's default 1..100 ms sleeps, which put the waits in the accept latency's tail. Gives
 * up after QUEUE_BUSY_TIMEOUT_MS. */
static int queue_busy_handler(void *ctx, int count)
{
	if ((int64_t)count * 200 >= (int64_t)QUEUE_BUSY_TIMEOUT_MS * 1000)
		return 0;
	struct timespec ts = {0, 200000};
	nanosleep(&ts, NULL);
	return 1;
}

int queue_store_relax_durability(struct queue_store *qs, const char **error_r)
{
	pthread_mutex_lock(&qs->sync_lock);
	int ret = queue_exec(qs->sync.db, "PRAGMA synchronous=NORMAL", "relax durability", error_r);
	pthread_mutex_unlock(&qs->sync_lock);
	return ret;
}

int queue_db_open(const char *path, sqlite3 **db_r, const char **error_r)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char what[64];

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		if (db == NULL) {
			*error_r = "open queue database: out of memory";
			return -1;
		}
		snprintf(what, sizeof(what), "open %s", path);
		*error_r = queue_db_error(db, what);
		sqlite3_close(db);
		return -1;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_handler(db, queue_busy_handler, NULL);
	/* WAL is a property of the file; only the first open of a new file really switches. */
	if (queue_prepare(db, "PRAGMA journal_mode=WAL", &st, error_r) < 0)
		goto fail;
	if (sqlite3_step(st) != SQLITE_ROW) {
		*error_r = queue_db_error(db, "set journal_mode=WAL");
		goto fail;
	}
	if (strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0)
		log_warn("qmgr", "%s: cannot use WAL mode (journal_mode=%s); commits stay durable but slower",
		         path, (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	st = NULL;
	if (queue_exec(db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON", "set pragmas", error_r) < 0)
		goto fail;
	*db_r = db;
	return 0;
fail:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return -1;
}

static int queue_user_version(sqlite3 *db, int *version_r, const char **error_r)
{
	sqlite3_stmt *st;

	if (queue_prepare(db, "PRAGMA user_version", &st, error_r) < 0)
		return -1;
	if (sqlite3_step(st) != SQLITE_ROW) {
		*error_r = queue_db_error(db, "read schema version");
		sqlite3_finalize(st);
		return -1;
	}
	*version_r = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return 0;
}

/* Bring the schema to QUEUE_SCHEMA_VERSION in one transaction (a no-op read when it is current). */
static int queue_migrate(sqlite3 *db, const char **error_r)
{
	int version;
	char sql[64];

	if (queue_user_version(db, &version, error_r) < 0)
		return -1;
	if (version == QUEUE_SCHEMA_VERSION)
		return 0;
	if (queue_exec(db, "BEGIN IMMEDIATE", "migrate queue schema", error_r) < 0)
		return -1;
	if (queue_user_version(db, &version, error_r) < 0)
		goto fail;
	if (version > QUEUE_SCHEMA_VERSION) {
		snprintf(queue_errbuf, sizeof(queue_errbuf),
		         "queue.db has schema version %d, newer than this program's %d", version,
		         QUEUE_SCHEMA_VERSION);
		*error_r = queue_errbuf;
		goto fail;
	}
	for (; version < QUEUE_SCHEMA_VERSION; version++) {
		if (queue_exec(db, queue_migrations[version], "migrate queue schema", error_r) < 0)
			goto fail;
	}
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", QUEUE_SCHEMA_VERSION);
	if (queue_exec(db, sql, "migrate queue schema", error_r) < 0 ||
	    queue_exec(db, "COMMIT", "migrate queue schema", error_r) < 0)
		goto fail;
	return 0;
fail:
	queue_rollback(db);
	return -1;
}

/* fsync the directory holding dir, so that a directory we created survives a crash. */
static int queue_fsync_parent(const char *dir)
{
	char *parent = xstrdup(dir);
	size_t len = strlen(parent);

	while (len > 1 && parent[len - 1] == '/')
		parent[--len] = '\0';
	char *slash = strrchr(parent, '/');
	if (slash == NULL)
		strcpy(parent, ".");
	else if (slash == parent)
		parent[1] = '\0';
	else
		*slash = '\0';
	int ret = fsync_dir(parent);
	free(parent);
	return ret;
}

static int queue_seed_ids(sqlite3 *db, const char **error_r)
{
	sqlite3_stmt *st;

	if (queue_prepare(db, "SELECT max(id) FROM messages", &st, error_r) < 0)
		return -1;
	if (sqlite3_step(st) != SQLITE_ROW) {
		*error_r = queue_db_error(db, "read queue ids");
		sqlite3_finalize(st);
		return -1;
	}
	if (sqlite3_column_type(st, 0) == SQLITE_TEXT)
		queue_id_seed((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return 0;
}

int queue_store_open(const char *dir, struct queue_store **qs_r, const char **error_r)
{
	struct stat st;
	bool new_dir = stat(dir, &st) < 0 && errno == ENOENT;
	char *db_path;
	sqlite3 *db = NULL;

	if (mkdir_p(dir, 0700, error_r) < 0)
		return -1;
	if (new_dir && queue_fsync_parent(dir) < 0) {
		snprintf(queue_errbuf, sizeof(queue_errbuf), "fsync parent of %s: %s", dir, strerror(errno));
		*error_r = queue_errbuf;
		return -1;
	}
	db_path = xasprintf("%s/queue.db", dir);
	bool new_file = stat(db_path, &st) < 0 && errno == ENOENT;
	if (queue_db_open(db_path, &db, error_r) < 0 || queue_migrate(db, error_r) < 0 ||
	    queue_seed_ids(db, error_r) < 0)
		goto fail;
	if (new_file && fsync_dir(dir) < 0) {
		snprintf(queue_errbuf, sizeof(queue_errbuf), "fsync %s: %s", dir, strerror(errno));
		*error_r = queue_errbuf;
		goto fail;
	}

	struct queue_store *qs = xcalloc(1, sizeof(*qs));
	qs->dir = xstrdup(dir);
	qs->db_path = db_path;
	qs->sync.db = db;
	qs->wake_fd = -1;
	pthread_mutex_init(&qs->sync_lock, NULL);
	pthread_mutex_init(&qs->lock, NULL);
	pthread_cond_init(&qs->cond, NULL);
	pthread_cond_init(&qs->ckpt_cond, NULL);
	qs->pending_tail = &qs->pending;
	qs->done_tail = &qs->done;
	qs->batches_tail = &qs->batches;
	*qs_r = qs;
	return 0;
fail:
	sqlite3_close(db);
	free(db_path);
	return -1;
}

void queue_store_close(struct queue_store **qsp)
{
	struct queue_store *qs = *qsp;

	if (qs == NULL)
		return;
	*qsp = NULL;
	queue_commit_stop(qs);
	queue_conn_close(&qs->sync);
	pthread_cond_destroy(&qs->cond);
	pthread_cond_destroy(&qs->ckpt_cond);
	pthread_mutex_destroy(&qs->lock);
	pthread_mutex_destroy(&qs->sync_lock);
	free(qs->db_path);
	free(qs->dir);
	free(qs);
}

/* Columns read by queue_rows_read(): one row per recipient (NULLs for a message without any). */
#define QUEUE_MSG_SELECT                                                                                     \
	"SELECT m.id, m.arrival, m.size, m.sender, m.client_name, m.client_addr, m.helo, m.proto,"           \
	" m.smtputf8, m.held, r.idx, r.address, r.state, r.attempts, r.next_attempt, r.last_reason,"         \
	" r.orig_address, r.dsn, r.remote_mta, m.warned, m.hold_reason, m.failed_at, m.failed_reason"        \
	" FROM messages m LEFT JOIN recipients r ON r.msg_id = m.id "

static char *queue_column_str(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);
	return xstrdup(s == NULL ? "" : (const char *)s);
}

static struct queue_msg_info *queue_msg_info_from_row(sqlite3_stmt *st)
{
	struct queue_msg_info *info = xcalloc(1, sizeof(*info));
	const unsigned char *id = sqlite3_column_text(st, 0);

	str_copy(info->id, sizeof(info->id), id == NULL ? "" : (const char *)id);
	info->arrival = sqlite3_column_int64(st, 1);
	info->size = sqlite3_column_int64(st, 2);
	info->sender = queue_column_str(st, 3);
	info->client_name = queue_column_str(st, 4);
	info->client_addr = queue_column_str(st, 5);
	info->helo = queue_column_str(st, 6);
	info->proto = queue_column_str(st, 7);
	info->smtputf8 = sqlite3_column_int(st, 8) != 0;
	info->held = sqlite3_column_int(st, 9) != 0;
	info->warned = sqlite3_column_int(st, 19) != 0;
	info->hold_reason = sqlite3_column_type(st, 20) == SQLITE_NULL ? NULL : queue_column_str(st, 20);
	info->failed_at = sqlite3_column_int64(st, 21);
	info->failed_reason = sqlite3_column_type(st, 22) == SQLITE_NULL ? NULL : queue_column_str(st, 22);
	return info;
}

static void queue_msg_info_add_rcpt(struct queue_msg_info *info, size_t *alloc, sqlite3_stmt *st)
{
	if (info->nrcpt == *alloc) {
		*alloc = *alloc == 0 ? 4 : *alloc * 2;
		info->rcpts = xrealloc(info->rcpts, *alloc * sizeof(*info->rcpts));
	}
	struct queue_rcpt_info *r = &info->rcpts[info->nrcpt++];
	r->idx = sqlite3_column_int(st, 10);
	r->address = queue_column_str(st, 11);
	r->state = (enum queue_rcpt_state)sqlite3_column_int(st, 12);
	r->attempts = sqlite3_column_int(st, 13);
	r->next_attempt = sqlite3_column_int64(st, 14);
	r->last_reason = sqlite3_column_type(st, 15) == SQLITE_NULL ? NULL : queue_column_str(st, 15);
	r->orig_address = queue_column_str(st, 16);
	r->dsn = sqlite3_column_type(st, 17) == SQLITE_NULL ? NULL : queue_column_str(st, 17);
	r->remote_mta = sqlite3_column_type(st, 18) == SQLITE_NULL ? NULL : queue_column_str(st, 18);
}

/* Step st (QUEUE_MSG_SELECT ordered by m.id, r.idx) and hand each whole message to emit, which takes
 * it and returns non-zero to stop. 0 or -1. */
static int queue_rows_read(sqlite3 *db, sqlite3_stmt *st, int (*emit)(void *ctx, struct queue_msg_info *info),
                           void *ctx, const char **error_r)
{
	struct queue_msg_info *cur = NULL;
	size_t alloc = 0;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *id = sqlite3_column_text(st, 0);
		if (cur == NULL || strcmp(cur->id, id == NULL ? "" : (const char *)id) != 0) {
			if (cur != NULL && emit(ctx, cur) != 0)
				return 0;
			cur = queue_msg_info_from_row(st);
			alloc = 0;
		}
		if (sqlite3_column_type(st, 10) != SQLITE_NULL)
			queue_msg_info_add_rcpt(cur, &alloc, st);
	}
	if (rc != SQLITE_DONE) {
		*error_r = queue_db_error(db, "read queue");
		queue_msg_info_free(&cur);
		return -1;
	}
	if (cur != NULL)
		(void)emit(ctx, cur);
	return 0;
}

struct queue_list_ctx {
	queue_list_cb *cb;
	void *ctx;
};

static int queue_list_emit(void *ctx, struct queue_msg_info *info)
{
	struct queue_list_ctx *lc = ctx;
	int ret = lc->cb(lc->ctx, info);
	queue_msg_info_free(&info);
	return ret;
}

int queue_store_list(struct queue_store *qs, queue_list_cb *cb, void *ctx, const char **error_r)
{
	struct queue_list_ctx lc = {cb, ctx};
	sqlite3_stmt *st;
	int ret = -1;

	pthread_mutex_lock(&qs->sync_lock);
	if (queue_prepare(qs->sync.db, QUEUE_MSG_SELECT "ORDER BY m.id, r.idx", &st, error_r) == 0) {
		ret = queue_rows_read(qs->sync.db, st, queue_list_emit, &lc, error_r);
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&qs->sync_lock);
	return ret;
}

static int queue_get_emit(void *ctx, struct queue_msg_info *info)
{
	*(struct queue_msg_info **)ctx = info;
	return 1;
}

int queue_store_get(struct queue_store *qs, const char *id, struct queue_msg_info **info_r,
                    const char **error_r)
{
	struct queue_msg_info *info = NULL;
	sqlite3_stmt *st;
	int ret = -1;

	pthread_mutex_lock(&qs->sync_lock);
	if (queue_stmt(&qs->sync, QUEUE_MSG_SELECT "WHERE m.id = ?1 ORDER BY r.idx", &st, error_r) == 0) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		ret = queue_rows_read(qs->sync.db, st, queue_get_emit, &info, error_r);
		queue_stmt_release(&qs->sync, st);
	}
	pthread_mutex_unlock(&qs->sync_lock);
	if (ret < 0)
		return -1;
	if (info == NULL)
		return 1;
	*info_r = info;
	return 0;
}

void queue_msg_info_free(struct queue_msg_info **infop)
{
	struct queue_msg_info *info = *infop;

	if (info == NULL)
		return;
	*infop = NULL;
	for (size_t i = 0; i < info->nrcpt; i++) {
		free(info->rcpts[i].address);
		free(info->rcpts[i].last_reason);
		free(info->rcpts[i].orig_address);
		free(info->rcpts[i].dsn);
		free(info->rcpts[i].remote_mta);
	}
	free(info->rcpts);
	free(info->hold_reason);
	free(info->failed_reason);
	free(info->sender);
	free(info->client_name);
	free(info->client_addr);
	free(info->helo);
	free(info->proto);
	free(info);
}

/* Read the body blob of id into tmp, inside one read transaction. 0, 1 or -1. */
static int queue_read_blob(struct queue_store *qs, const char *id, struct evbuffer *tmp, const char **error_r)
{
	sqlite3 *db = qs->sync.db;
	sqlite3_stmt *st;
	sqlite3_blob *blob = NULL;
	int rc;

	if (queue_stmt(&qs->sync, "SELECT rowid FROM bodies WHERE id = ?1", &st, error_r) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		queue_stmt_release(&qs->sync, st);
		return 1;
	}
	if (rc != SQLITE_ROW || sqlite3_blob_open(db, "main", "bodies", "data", sqlite3_column_int64(st, 0),
	                                          0, &blob) != SQLITE_OK) {
		*error_r = queue_db_error(db, "read message content");
		queue_stmt_release(&qs->sync, st);
		sqlite3_blob_close(blob);
		return -1;
	}
	queue_stmt_release(&qs->sync, st);

	int size = sqlite3_blob_bytes(blob);
	for (int off = 0; off < size;) {
		int chunk = size - off < QUEUE_READ_CHUNK ? size - off : QUEUE_READ_CHUNK;
		struct evbuffer_iovec vec;
		if (evbuffer_reserve_space(tmp, chunk, &vec, 1) != 1)
			abort(); /* only fails to allocate */
		if (sqlite3_blob_read(blob, vec.iov_base, chunk, off) != SQLITE_OK) {
			*error_r = queue_db_error(db, "read message content");
			sqlite3_blob_close(blob);
			return -1;
		}
		vec.iov_len = (size_t)chunk;
		evbuffer_commit_space(tmp, &vec, 1);
		off += chunk;
	}
	sqlite3_blob_close(blob);
	return 0;
}

/* Where the body of id is: *in_segment_r false for a blob, else *ref_r. 0, 1 no such message, -1. */
static int queue_body_place(struct queue_store *qs, const char *id, bool *in_segment_r,
                            struct queue_segment_ref *ref_r, const char **error_r)
{
	sqlite3_stmt *st;

	if (queue_stmt(&qs->sync, "SELECT body_segment, body_offset, body_length FROM messages WHERE id = ?1",
	               &st, error_r) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*in_segment_r = sqlite3_column_type(st, 0) != SQLITE_NULL;
		ref_r->seq = (uint64_t)sqlite3_column_int64(st, 0);
		ref_r->offset = (uint64_t)sqlite3_column_int64(st, 1);
		ref_r->length = (uint64_t)sqlite3_column_int64(st, 2);
	} else if (rc != SQLITE_DONE) {
		*error_r = queue_db_error(qs->sync.db, "read message content");
	}
	queue_stmt_release(&qs->sync, st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

/* Read the body of id into tmp (a blob copied, a segment's bytes mapped), inside one read
 * transaction. 0, 1 or -1. */
static int queue_read_body_locked(struct queue_store *qs, const char *id, struct evbuffer *tmp,
                                  const char **error_r)
{
	struct queue_segment_ref ref;
	bool in_segment = false;
	int ret = queue_body_place(qs, id, &in_segment, &ref, error_r);

	if (ret != 0)
		return ret;
	if (in_segment)
		return queue_segment_read(qs->dir, &ref, tmp, error_r);
	return queue_read_blob(qs, id, tmp, error_r);
}

int queue_store_read_body(struct queue_store *qs, const char *id, struct evbuffer *out, const char **error_r)
{
	struct evbuffer *tmp = xevbuffer_new();
	int ret;

	pthread_mutex_lock(&qs->sync_lock);
	ret = queue_exec(qs->sync.db, "BEGIN", "read message content", error_r);
	if (ret == 0) {
		ret = queue_read_body_locked(qs, id, tmp, error_r);
		queue_rollback(qs->sync.db); /* a read transaction: nothing to keep */
	}
	pthread_mutex_unlock(&qs->sync_lock);
	if (ret == 0)
		evbuffer_add_buffer(out, tmp);
	evbuffer_free(tmp);
	return ret;
}

/* Run a one-row write (?1 = id, ?2 = value if the statement has it). 0 done, 1 no such id, -1 error. */
static int queue_write_one(struct queue_store *qs, const char *sql, const char *id, int64_t value,
                           const char *what, const char **error_r)
{
	sqlite3_stmt *st;
	int ret = -1;

	pthread_mutex_lock(&qs->sync_lock);
	if (queue_prepare(qs->sync.db, sql, &st, error_r) == 0) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		if (sqlite3_bind_parameter_count(st) >= 2)
			sqlite3_bind_int64(st, 2, value);
		if (sqlite3_step(st) == SQLITE_DONE)
			ret = sqlite3_changes(qs->sync.db) > 0 ? 0 : 1;
		else
			*error_r = queue_db_error(qs->sync.db, what);
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&qs->sync_lock);
	return ret;
}

int queue_store_delete(struct queue_store *qs, const char *id, const char **error_r)
{
	/* recipients and bodies go with it: ON DELETE CASCADE */
	return queue_write_one(qs, "DELETE FROM messages WHERE id = ?1", id, 0, "delete message", error_r);
}

int queue_remove_locked(struct queue_conn *c, const char *id, const char *reason, const char **error_r)
{
	sqlite3_stmt *st;
	char text[QUEUE_LOG_REPLY_MAX + 1];

	queue_log_sanitize(text, sizeof(text), reason);
	if (queue_stmt(c,
	               "INSERT INTO delivery_log(at, queue_id, event, sender, address, orig_address, relay,"
	               " dsn, reply) SELECT ?2, m.id, 'removed', m.sender, r.address, r.orig_address, '',"
	               " '', ?3 FROM messages m JOIN recipients r ON r.msg_id = m.id WHERE m.id = ?1"
	               " ORDER BY r.idx",
	               &st, error_r) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, time_now());
	sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		*error_r = queue_db_error(c->db, "write delivery log");
	queue_stmt_release(c, st);
	if (rc != SQLITE_DONE)
		return -1;
	/* recipients and bodies go with it: ON DELETE CASCADE */
	if (queue_stmt(c, "DELETE FROM messages WHERE id = ?1", &st, error_r) < 0)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		*error_r = queue_db_error(c->db, "delete message");
	bool found = sqlite3_changes(c->db) > 0;
	queue_stmt_release(c, st);
	if (rc != SQLITE_DONE)
		return -1;
	return found ? 0 : 1;
}

int queue_store_remove(struct queue_store *qs, const char *id, const char *reason, const char **error_r)
{
	int ret = -1;

	pthread_mutex_lock(&qs->sync_lock);
	if (queue_exec(qs->sync.db, "BEGIN IMMEDIATE", "remove message", error_r) == 0) {
		ret = queue_remove_locked(&qs->sync, id, reason, error_r);
		if (ret >= 0 && queue_exec(qs->sync.db, "COMMIT", "remove message", error_r) < 0)
			ret = -1;
		if (ret < 0)
			queue_rollback(qs->sync.db);
	}
	pthread_mutex_unlock(&qs->sync_lock);
	return ret;
}

int queue_store_set_warned(struct queue_store *qs, const char *id, const char **error_r)
{
	return queue_write_one(qs, "UPDATE messages SET warned = 1 WHERE id = ?1", id, 0,
	                       "mark delay warning", error_r);
}

int queue_store_set_hold(struct queue_store *qs, const char *id, bool hold, const char **error_r)
{
	return queue_write_one(qs,
	                       hold ? "UPDATE messages SET held = ?2 WHERE id = ?1"
	                            : "UPDATE messages SET held = ?2, hold_reason = NULL WHERE id = ?1",
	                       id, hold ? 1 : 0, hold ? "hold message" : "release message", error_r);
}

int queue_store_stats(struct queue_store *qs, int64_t *count_r, int64_t *oldest_r, const char **error_r)
{
	sqlite3_stmt *st;
	int ret = -1;

	pthread_mutex_lock(&qs->sync_lock);
	if (queue_prepare(qs->sync.db,
	                  "SELECT count(*), coalesce(min(arrival), 0) FROM messages WHERE failed_at = 0", &st,
	                  error_r) == 0) {
		if (sqlite3_step(st) == SQLITE_ROW) {
			*count_r = sqlite3_column_int64(st, 0);
			*oldest_r = sqlite3_column_int64(st, 1);
			ret = 0;
		} else {
			*error_r = queue_db_error(qs->sync.db, "queue statistics");
		}
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&qs->sync_lock);
	return ret;
}

const char *queue_rcpt_state_name(enum queue_rcpt_state state)
{
	switch (state) {
	case QUEUE_RCPT_PENDING:
		return "pending";
	case QUEUE_RCPT_DEFERRED:
		return "deferred";
	case QUEUE_RCPT_SENT:
		return "sent";
	case QUEUE_RCPT_BOUNCED:
		return "bounced";
	}
	return "unknown";
}
