/*
 * sync_feed: see sync.h. The pages of changes and of snapshots the primary serves. Each page is read
 * in one read transaction; its entries are made by SQLite (json_object in the triggers and in
 * sync_tables.c), the header around them here. Pages may hold relay passwords: every buffer is wiped
 * before it is freed.
 */
#include "db/db_private.h"
#include "db/sync_private.h"
#include "mxd/common/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growing JSON text. It may hold passwords: every copy is wiped before it is freed. */
struct jbuf {
	char *data;
	size_t len, cap;
};

static void jbuf_add(struct jbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap == 0 ? 4096 : b->cap;
		while (b->len + n + 1 > cap)
			cap *= 2;
		char *data = xmalloc(cap);
		if (b->data != NULL) {
			memcpy(data, b->data, b->len);
			explicit_bzero(b->data, b->cap);
			free(b->data);
		}
		b->data = data;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void jbuf_str(struct jbuf *b, const char *s)
{
	jbuf_add(b, s, strlen(s));
}

static void jbuf_printf(struct jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void jbuf_printf(struct jbuf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	jbuf_add(b, tmp, n < 0 ? 0 : (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void jbuf_wipe(struct jbuf *b)
{
	if (b->data != NULL) {
		explicit_bzero(b->data, b->cap);
		free(b->data);
	}
	memset(b, 0, sizeof(*b));
}

void db_sync_page_free(char **json, size_t len)
{
	if (*json == NULL)
		return;
	explicit_bzero(*json, len);
	free(*json);
	*json = NULL;
}

/* A read transaction, so that a page's header and rows come from one state of the database. */
static int read_begin(struct db *db, const char **error_r)
{
	static const char sql[] = "BEGIN";
	return db_exec(db, sql, DB_NO_PARAMS, "begin read transaction", error_r);
}

/* The log's identity as raw text and as a JSON string, its seq and trimmed_seq; refuses on a replica. */
struct log_head {
	char id[DB_SYNC_LOG_ID_MAX + 1];
	char id_json[2 * DB_SYNC_LOG_ID_MAX + 8];
	int64_t seq, trimmed;
};

static int log_head_read(struct db *db, struct log_head *h, const char **error_r)
{
	static const char sql[] =
	    "SELECT (SELECT value FROM sync_state WHERE key = 'log_id'),"
	    " json_quote((SELECT value FROM sync_state WHERE key = 'log_id')),"
	    " coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'changelog'), 0),"
	    " coalesce((SELECT CAST(value AS INTEGER) FROM sync_state WHERE key = 'trimmed_seq'), 0),"
	    " EXISTS (SELECT 1 FROM sync_state WHERE key = 'primary')";
	sqlite3_stmt *stmt = db_stmt(db, sql, error_r);
	if (stmt == NULL)
		return -1;
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		db_fail(db, "read the change log", error_r);
		sqlite3_reset(stmt);
		return -1;
	}
	db_column_copy(stmt, 0, h->id, sizeof(h->id));
	db_column_copy(stmt, 1, h->id_json, sizeof(h->id_json));
	h->seq = sqlite3_column_int64(stmt, 2);
	h->trimmed = sqlite3_column_int64(stmt, 3);
	bool replica = sqlite3_column_int(stmt, 4) != 0;
	sqlite3_reset(stmt);
	if (replica)
		return db_input_error(db, error_r,
		                      "this database is a replica: it keeps no change log to serve");
	if (h->id[0] == '\0')
		return db_input_error(db, error_r, "this database has no change log id (run 'mxctl init')");
	return 0;
}

/* The entries of a page: each row's first column, until limit entries or DB_SYNC_PAGE_BYTES. */
struct page_rows {
	struct jbuf *b;
	size_t n, limit;
	bool more;
};

/* Add the row's entry to the page; 1 (stop) when the page is full. */
static int page_row_add(sqlite3_stmt *stmt, struct page_rows *p)
{
	if (p->n == p->limit || p->b->len > DB_SYNC_PAGE_BYTES) {
		p->more = true;
		return 1;
	}
	if (p->n++ > 0)
		jbuf_str(p->b, ",");
	jbuf_add(p->b, (const char *)sqlite3_column_text(stmt, 0), (size_t)sqlite3_column_bytes(stmt, 0));
	return 0;
}

static int change_row(sqlite3_stmt *stmt, void *ctx)
{
	return page_row_add(stmt, ctx);
}

/* A snapshot page: its entries, and the table and key of the last one (where the next page starts). */
struct snapshot_rows {
	struct page_rows p;
	struct db *db;
	const char **error_r;
	const struct sync_table *t, *last_table;
	char last_pk[1024];
};

static int snapshot_row(sqlite3_stmt *stmt, void *ctx)
{
	struct snapshot_rows *s = ctx;

	if (page_row_add(stmt, &s->p) > 0)
		return 1;
	s->last_table = s->t;
	if ((size_t)sqlite3_column_bytes(stmt, 1) >= sizeof(s->last_pk))
		return db_input_error(s->db, s->error_r, "snapshot: a primary key of %s is too long",
		                      s->t->name);
	db_column_copy(stmt, 1, s->last_pk, sizeof(s->last_pk));
	return 0;
}

static unsigned limit_clamp(unsigned limit)
{
	return limit == 0 ? 1 : limit > DB_SYNC_PAGE_LIMIT ? DB_SYNC_PAGE_LIMIT : limit;
}

int db_sync_feed_changes(struct db *db, int64_t since, const char *log_id, unsigned limit, char **json_r,
                         size_t *len_r, const char **error_r)
{
	static const char sql[] =
	    "SELECT json_object('seq', seq, 'tbl', tbl, 'pk', pk, 'op', op, 'at', at, 'row', json(row))"
	    " FROM changelog WHERE seq > ?1 ORDER BY seq LIMIT ?2";
	struct jbuf b = {0};
	struct page_rows p = {.b = &b};
	struct log_head h;

	*json_r = NULL;
	*len_r = 0;
	limit = limit_clamp(limit);
	if (read_begin(db, error_r) < 0)
		return -1;
	if (log_head_read(db, &h, error_r) < 0)
		goto fail;
	bool reset = log_id == NULL || strcmp(log_id, h.id) != 0 || since < h.trimmed || since > h.seq;
	jbuf_printf(&b, "{\"log\":%s,\"seq\":%lld,\"now\":%lld,\"reset\":%s,\"changes\":[", h.id_json,
	            (long long)h.seq, (long long)time_now(), reset ? "true" : "false");
	p.limit = limit;
	if (!reset && db_rows_each(db, sql, DB_PARAMS(DB_INT(since), DB_INT((int64_t)limit + 1)), change_row,
	                           &p, "read the change log", error_r) < 0)
		goto fail;
	jbuf_printf(&b, "],\"more\":%s}", p.more ? "true" : "false");
	db_rollback(db); /* ends the read transaction */
	*json_r = b.data;
	*len_r = b.len;
	return 0;
fail:
	db_rollback(db);
	jbuf_wipe(&b);
	return -1;
}

int db_sync_feed_snapshot(struct db *db, const char *tbl, const char *after, unsigned limit, char **json_r,
                          size_t *len_r, const char **error_r)
{
	struct jbuf b = {0};
	struct snapshot_rows rows = {.p = {.b = &b}, .db = db, .error_r = error_r};
	struct log_head h;
	size_t start = 0;
	int64_t after_id = 0;

	*json_r = NULL;
	*len_r = 0;
	limit = limit_clamp(limit);
	if (tbl != NULL && *tbl != '\0') {
		const struct sync_table *t = db_sync_table_find(tbl);
		if (t == NULL)
			return db_input_error(db, error_r, "snapshot: no replicated table '%s'", tbl);
		start = (size_t)(t - db_sync_tables);
		if (after != NULL && t->int_pk) {
			char *end;
			after_id = strtoll(after, &end, 10);
			if (*after == '\0' || *end != '\0')
				return db_input_error(db, error_r,
				                      "snapshot: 'after' of %s must be an integer", t->name);
		}
	} else {
		after = NULL;
	}
	if (read_begin(db, error_r) < 0)
		return -1;
	if (log_head_read(db, &h, error_r) < 0)
		goto fail;
	jbuf_printf(&b, "{\"log\":%s,\"seq\":%lld,\"now\":%lld,\"reset\":true,\"changes\":[", h.id_json,
	            (long long)h.seq, (long long)time_now());
	rows.p.limit = limit;
	for (size_t i = start; i < db_sync_ntables && !rows.p.more; i++) {
		const struct sync_table *t = &db_sync_tables[i];
		bool from_start = i != start || after == NULL;
		struct db_param from = from_start ? DB_NULL : t->int_pk ? DB_INT(after_id) : DB_TEXT(after);
		rows.t = t;
		if (db_rows_each(db, from_start ? t->first_sql : t->next_sql,
		                 DB_PARAMS(from, DB_INT((int64_t)(limit - rows.p.n) + 1)), snapshot_row,
		                 &rows, "read a snapshot", error_r) < 0)
			goto fail;
	}
	if (rows.p.more && rows.last_table != NULL)
		jbuf_printf(&b, "],\"more\":true,\"next\":{\"tbl\":\"%s\",\"after\":%s}}",
		            rows.last_table->name, rows.last_pk);
	else if (rows.p.more) /* not even one row fit (cannot happen with limit >= 1): start over */
		jbuf_str(&b, "],\"more\":true}");
	else
		jbuf_str(&b, "],\"more\":false}");
	db_rollback(db);
	*json_r = b.data;
	*len_r = b.len;
	return 0;
fail:
	db_rollback(db);
	jbuf_wipe(&b);
	return -1;
}
