/*
 * test_sync_log: replication as the database sees it (db/sync.h), with no network: a primary database
 * and a replica in a temp dir, and a small in-process "client" that pages through the primary's feed
 * (db_sync_feed_changes/_snapshot) and applies it (db_sync_apply), as mxd/ha/sync_client.c does.
 *
 * Covers: the change log records inserts, updates and deletes, foreign-key cascades included, with
 * every column of every replicated table; applying reproduces the primary's tables exactly (compared
 * row by row, types included), in pages of any size; a replica resumes from last_seq; a trimmed log
 * (or an unknown log id) gives a snapshot, which keeps the replica's own rows that refer to kept rows
 * (route_stats) and resolves a unique key moved to another id; the replica lock refuses local writes
 * but not the sync's; a released replica logs again under a new id; bad pages change nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "db/alias.h"
#include "db/alias_domain.h"
#include "db/db.h"
#include "db/domain.h"
#include "db/route.h"
#include "db/sync.h"
#include "mxd/common/util.h"
#include "unit_fixtures.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const replicated[] = {"domains", "aliases", "alias_domains", "routes", "route_hops"};

struct fixture {
	char dir[64];
	char ppath[96], rpath[96];
	struct db *p, *r;
};

static void remove_db(const char *path)
{
	char buf[128];
	unlink(path);
	snprintf(buf, sizeof(buf), "%s-wal", path);
	unlink(buf);
	snprintf(buf, sizeof(buf), "%s-shm", path);
	unlink(buf);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	const char *err;
	str_copy(f->dir, sizeof(f->dir), "/tmp/test_sync_log.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->ppath, sizeof(f->ppath), "%s/primary.db", f->dir);
	snprintf(f->rpath, sizeof(f->rpath), "%s/replica.db", f->dir);
	if (db_open(f->ppath, DB_OPEN_CREATE, &f->p, &err) < 0 ||
	    db_open(f->rpath, DB_OPEN_CREATE, &f->r, &err) < 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	db_close(&f->p);
	db_close(&f->r);
	remove_db(f->ppath);
	remove_db(f->rpath);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Run SQL that returns no rows (test setup only: no input in it). */
static void exec(struct db *db, const char *sql)
{
	char *msg = NULL, copy[256];
	if (sqlite3_exec(db_handle(db), sql, NULL, NULL, &msg) != SQLITE_OK) {
		str_copy(copy, sizeof(copy), msg != NULL ? msg : "?");
		sqlite3_free(msg);
		fail_msg("%s: %s", sql, copy);
	}
}

/* Every row of the replicated tables, typed, in primary-key order: equal dumps, equal tables. */
static char *dump(struct db *db)
{
	size_t cap = 65536, len = 0;
	char *out = xmalloc(cap);
	out[0] = '\0';
	for (size_t t = 0; t < MXD_ARRAY_SIZE(replicated); t++) {
		char sql[128];
		sqlite3_stmt *stmt;
		snprintf(sql, sizeof(sql), "SELECT * FROM %s ORDER BY 1", replicated[t]);
		assert_int_equal(sqlite3_prepare_v2(db_handle(db), sql, -1, &stmt, NULL), SQLITE_OK);
		len += (size_t)snprintf(out + len, cap - len, "[%s]\n", replicated[t]);
		while (sqlite3_step(stmt) == SQLITE_ROW) {
			for (int c = 0; c < sqlite3_column_count(stmt); c++) {
				const char *v = (const char *)sqlite3_column_text(stmt, c);
				int n = snprintf(out + len, cap - len, "%d:%s|", sqlite3_column_type(stmt, c),
				                 v != NULL ? v : "");
				assert_true(n > 0 && (size_t)n < cap - len);
				len += (size_t)n;
			}
			len += (size_t)snprintf(out + len, cap - len, "\n");
			assert_true(len < cap - 1024);
		}
		sqlite3_finalize(stmt);
	}
	return out;
}

static void assert_same_tables(struct db *a, struct db *b)
{
	char *da = dump(a), *db = dump(b);
	assert_string_equal(da, db);
	free(da);
	free(db);
}

struct pull {
	bool snapshot;
	size_t pages;
	int64_t applied;
	int64_t since; /* the seq the first request asked from */
};

/* What mxd/ha/sync_client.c does, in process: pages of changes (or of a snapshot) of limit rows, then one
 * apply. */
static int replicate(struct db *p, struct db *r, unsigned limit, struct pull *pull_r)
{
	struct db_sync_state st;
	struct db_sync_page page;
	char *pages[4096], log_id[DB_SYNC_LOG_ID_MAX + 1] = "", tbl[32] = "", *after = NULL;
	size_t lens[4096], n = 0;
	const char *err;
	int64_t pseq = 0;

	memset(pull_r, 0, sizeof(*pull_r));
	assert_int_equal(db_sync_state_get(r, &st, &err), 0);
	int64_t since = st.last_seq;
	pull_r->since = since;
	for (;;) {
		assert_true(n < MXD_ARRAY_SIZE(pages));
		if (db_sync_feed_changes(p, since, st.primary_log_id[0] != '\0' ? st.primary_log_id : NULL,
		                         limit, &pages[n], &lens[n], &err) < 0)
			fail_msg("feed: %s", err);
		assert_int_equal(db_sync_page_parse(r, pages[n], &page, &err), 0);
		if (page.reset) {
			db_sync_page_clear(&page);
			pull_r->snapshot = true;
			break;
		}
		str_copy(log_id, sizeof(log_id), page.log_id);
		pseq = page.seq;
		if (page.nchanges > 0)
			since = page.last_seq;
		n++;
		bool more = page.more;
		db_sync_page_clear(&page);
		if (!more)
			break;
	}
	if (pull_r->snapshot) {
		for (size_t i = 0; i <= n; i++)
			db_sync_page_free(&pages[i], lens[i]);
		n = 0;
		for (;;) {
			assert_true(n < MXD_ARRAY_SIZE(pages));
			if (db_sync_feed_snapshot(p, tbl, after, limit, &pages[n], &lens[n], &err) < 0)
				fail_msg("snapshot: %s", err);
			assert_int_equal(db_sync_page_parse(r, pages[n], &page, &err), 0);
			assert_true(page.reset);
			assert_true(n == 0 || page.seq == pseq);
			pseq = page.seq;
			str_copy(log_id, sizeof(log_id), page.log_id);
			n++;
			free(after);
			after = page.next_after != NULL ? xstrdup(page.next_after) : NULL;
			str_copy(tbl, sizeof(tbl), page.next_tbl);
			bool more = page.more;
			db_sync_page_clear(&page);
			if (!more)
				break;
		}
		free(after);
	}
	struct db_sync_batch batch = {pull_r->snapshot, (const char *const *)pages, n, log_id, pseq,
	                              time_now()};
	int rc = db_sync_apply(r, &batch, &pull_r->applied, &err);
	if (rc < 0)
		fprintf(stderr, "apply: %s\n", err);
	pull_r->pages = n;
	for (size_t i = 0; i < n; i++)
		db_sync_page_free(&pages[i], lens[i]);
	return rc;
}

static void add_domain(struct db *db, const char *name)
{
	const char *err;
	if (db_domain_add(db, name, "desc", 0, &err) < 0)
		fail_msg("%s", err);
}

static void add_alias(struct db *db, const char *address, const char *dest)
{
	const char *err;
	const char *dests[] = {dest};
	if (db_alias_add(db, address, dests, 1, DB_ALIAS_REPLACE, &err) < 0)
		fail_msg("%s", err);
}

static void add_hop(struct db *db, const char *match, const char *nexthop, const char *user, const char *pw)
{
	const char *err;
	struct db_route_hop_spec spec = {.match = match,
	                                 .nexthop = nexthop,
	                                 .weight = 2,
	                                 .auth_user = user,
	                                 .auth_password = pw,
	                                 .allow_unverified_tls = user != NULL, /* not the default */
	                                 .description = "relay"};
	if (db_route_add_hop(db, &spec, NULL, &err) < 0)
		fail_msg("%s", err);
}

/* The log as "tbl op pk" lines. */
static char *log_lines(struct db *db, int64_t after)
{
	sqlite3_stmt *stmt;
	size_t cap = 8192, len = 0;
	char *out = xmalloc(cap);
	out[0] = '\0';
	assert_int_equal(sqlite3_prepare_v2(db_handle(db),
	                                    "SELECT tbl, op, pk FROM changelog WHERE seq > ?1 ORDER BY seq",
	                                    -1, &stmt, NULL),
	                 SQLITE_OK);
	sqlite3_bind_int64(stmt, 1, after);
	while (sqlite3_step(stmt) == SQLITE_ROW)
		len += (size_t)snprintf(out + len, cap - len, "%s %s %s\n", sqlite3_column_text(stmt, 0),
		                        sqlite3_column_text(stmt, 1), sqlite3_column_text(stmt, 2));
	sqlite3_finalize(stmt);
	return out;
}

static void test_log_records_changes(void **state)
{
	struct fixture *f = *state;
	const char *err;

	add_domain(f->p, "example.com");
	add_alias(f->p, "info@example.com", "a@gmail.test");
	assert_int_equal(db_alias_domain_add(f->p, "example.net", "example.com", &err), 0);
	add_alias(f->p, "info@example.com", "b@gmail.test"); /* replace: an update */
	assert_int_equal(db_domain_set_active(f->p, "example.com", false, &err), 0);
	add_hop(f->p, "example.com", "[relay.test]:587", "alice", "pw-secret");
	int64_t before_delete = unit_query_int(f->p, "SELECT max(seq) FROM changelog");
	assert_int_equal(db_domain_del(f->p, "example.com", &err), 0); /* cascades */
	assert_int_equal(db_route_del(f->p, "example.com", &err), 0);  /* cascades to its hop */

	char *all = log_lines(f->p, 0);
	assert_string_equal(all, "domains insert example.com\n"
	                         "aliases insert info@example.com\n"
	                         "alias_domains insert example.net\n"
	                         "aliases update info@example.com\n"
	                         "domains update example.com\n"
	                         "routes insert 1\n"
	                         "route_hops insert 1\n"
	                         "alias_domains delete example.net\n"
	                         "aliases delete info@example.com\n"
	                         "domains delete example.com\n"
	                         "route_hops delete 1\n"
	                         "routes delete 1\n");
	free(all);
	/* A delete has no row; an update has the whole new row. */
	assert_int_equal(
	    unit_query_int(f->p, "SELECT count(*) FROM changelog WHERE op = 'delete' AND row IS NOT NULL"),
	    0);
	assert_int_equal(
	    unit_query_int(f->p, "SELECT count(*) FROM changelog WHERE op <> 'delete' AND row IS NULL"), 0);
	assert_int_equal(unit_query_int(f->p, "SELECT json_extract(row, '$.active') FROM changelog"
	                                      " WHERE tbl = 'domains' AND op = 'update'"),
	                 0);
	assert_true(before_delete > 0);
	/* route_stats is not replicated: mxd's counters stay out of the log. */
	add_hop(f->p, "b.example", "[relay.test]:25", NULL, NULL);
	int64_t seq = unit_query_int(f->p, "SELECT max(seq) FROM changelog");
	exec(f->p, "INSERT INTO route_stats (hop_id, selected, modified) SELECT id, 5, 1 FROM route_hops");
	assert_int_equal(unit_query_int(f->p, "SELECT max(seq) FROM changelog"), seq);
}

/* A relay password stays in the log only while its entry is the hop's newest: a change blanks it in
 * the older entries, a delete in all of them. */
static void test_log_scrubs_superseded_passwords(void **state)
{
	struct fixture *f = *state;
	const char *err;
	add_hop(f->p, "example.com", "[relay.test]:587", "alice", "pw-one");
	exec(f->p, "UPDATE route_hops SET auth_password = 'pw-two' WHERE auth_password = 'pw-one'");
	add_hop(f->p, "example.org", "[relay.test]:587", "bob", "pw-other");
	assert_int_equal(
	    unit_query_int(f->p, "SELECT count(*) FROM changelog WHERE instr(row, 'pw-one') > 0"), 0);
	assert_int_equal(
	    unit_query_int(f->p, "SELECT count(*) FROM changelog WHERE instr(row, 'pw-two') > 0"), 1);
	assert_int_equal(
	    unit_query_int(f->p, "SELECT count(*) FROM changelog WHERE instr(row, 'pw-other') > 0"), 1);
	assert_int_equal(db_route_del(f->p, "example.com", &err), 0);
	assert_int_equal(
	    unit_query_int(f->p, "SELECT count(*) FROM changelog WHERE instr(row, 'pw-two') > 0"), 0);
	assert_int_equal(
	    unit_query_int(f->p, "SELECT count(*) FROM changelog WHERE instr(row, 'pw-other') > 0"), 1);
}

/* Each replicated table's log rows hold every one of its columns (a migration that adds a column must
 * re-create the triggers, and sync_feed.c's statements must follow). */
static void test_log_has_every_column(void **state)
{
	struct fixture *f = *state;
	const char *err;

	add_domain(f->p, "example.com");
	add_alias(f->p, "info@example.com", "a@gmail.test");
	assert_int_equal(db_alias_domain_add(f->p, "example.net", "example.com", &err), 0);
	add_hop(f->p, "example.com", "[relay.test]:587", "alice", "pw-secret");
	for (size_t t = 0; t < MXD_ARRAY_SIZE(replicated); t++) {
		char sql[512];
		sqlite3_stmt *stmt;
		snprintf(
		    sql, sizeof(sql),
		    "SELECT (SELECT group_concat(name) FROM (SELECT name FROM pragma_table_info('%s') ORDER "
		    "BY "
		    "name)),"
		    " (SELECT group_concat(key) FROM (SELECT key FROM json_each((SELECT row FROM changelog"
		    " WHERE tbl = '%s' ORDER BY seq DESC LIMIT 1)) ORDER BY key))",
		    replicated[t], replicated[t]);
		assert_int_equal(sqlite3_prepare_v2(db_handle(f->p), sql, -1, &stmt, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
		assert_non_null(sqlite3_column_text(stmt, 1));
		assert_string_equal(sqlite3_column_text(stmt, 0), sqlite3_column_text(stmt, 1));
		sqlite3_finalize(stmt);
	}
}

/* Build a varied primary; replicate in rounds with pages of several sizes; compare each time. */
static void test_apply_reproduces(void **state)
{
	struct fixture *f = *state;
	struct pull pull;
	const char *err;
	char name[64], addr[96];

	for (int i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "d%02d.example", i);
		add_domain(f->p, name);
		for (int j = 0; j < 4; j++) {
			snprintf(addr, sizeof(addr), "u%d@%s", j, name);
			add_alias(f->p, addr, "x@gmail.test");
		}
	}
	assert_int_equal(db_alias_domain_add(f->p, "mirror.example", "d01.example", &err), 0);
	add_hop(f->p, "*", "[smart.test]:25", NULL, NULL);
	add_hop(f->p, "d02.example", "[relay.test]:587", "alice", "pw'\"\\ secret");
	add_hop(f->p, "d02.example", "[relay2.test]:587", NULL, NULL);

	/* First contact: a snapshot, in pages of 7 rows. */
	assert_int_equal(replicate(f->p, f->r, 7, &pull), 0);
	assert_true(pull.snapshot);
	assert_true(pull.pages > 5);
	assert_same_tables(f->p, f->r);

	/* Then changes: updates, deletes with cascades, a route emptied, a catch-all. */
	assert_int_equal(db_domain_del(f->p, "d01.example", &err), 0);
	assert_int_equal(db_domain_set_active(f->p, "d03.example", false, &err), 0);
	add_alias(f->p, "@d04.example", "catch@gmail.test");
	add_alias(f->p, "u1@d05.example", "new@gmail.test");
	assert_int_equal(db_alias_del(f->p, "u2@d05.example", &err), 0);
	assert_int_equal(db_route_del_hop(f->p, "d02.example", "[relay2.test]:587", NULL, &err), 0);
	assert_int_equal(db_route_del(f->p, "*", &err), 0);
	for (unsigned limit = 1; limit <= 1000; limit *= 10) {
		assert_int_equal(replicate(f->p, f->r, limit, &pull), 0);
		assert_false(pull.snapshot);
		assert_same_tables(f->p, f->r);
		add_alias(f->p, "u0@d06.example", limit == 1 ? "one@gmail.test" : "other@gmail.test");
		assert_int_equal(db_domain_set_active(f->p, "d07.example", limit % 2 == 0, &err), 0);
	}
	assert_int_equal(replicate(f->p, f->r, 3, &pull), 0);
	assert_same_tables(f->p, f->r);
	/* Nothing new: an empty pull that still records the contact. */
	assert_int_equal(replicate(f->p, f->r, 3, &pull), 0);
	assert_int_equal(pull.applied, 0);
	struct db_sync_state st;
	assert_int_equal(db_sync_state_get(f->r, &st, &err), 0);
	assert_int_equal(st.last_seq, unit_query_int(f->p, "SELECT max(seq) FROM changelog"));
	assert_int_equal(st.primary_seq, st.last_seq);
	assert_true(st.last_sync >= time_now() - 5);
	assert_string_equal(st.last_error, "");
}

static void test_resume(void **state)
{
	struct fixture *f = *state;
	struct pull pull;
	const char *err;

	add_domain(f->p, "example.com");
	add_alias(f->p, "info@example.com", "a@gmail.test");
	assert_int_equal(replicate(f->p, f->r, 100, &pull), 0);
	int64_t seq = unit_query_int(f->p, "SELECT max(seq) FROM changelog");

	/* The replica goes away; the primary changes; the replica comes back. */
	db_close(&f->r);
	add_alias(f->p, "sales@example.com", "b@gmail.test");
	assert_int_equal(db_alias_del(f->p, "info@example.com", &err), 0);
	assert_int_equal(db_open(f->rpath, DB_OPEN_READWRITE, &f->r, &err), 0);
	assert_int_equal(replicate(f->p, f->r, 100, &pull), 0);
	assert_false(pull.snapshot);
	assert_int_equal(pull.since, seq);
	assert_int_equal(pull.applied, 2);
	assert_same_tables(f->p, f->r);
}

static void test_snapshot_after_trim(void **state)
{
	struct fixture *f = *state;
	struct pull pull;
	const char *err;
	int64_t deleted;

	add_domain(f->p, "example.com");
	add_hop(f->p, "a.example", "[relay-a.test]:25", NULL, NULL); /* route 1, hop 1 */
	add_hop(f->p, "b.example", "[relay-b.test]:25", NULL, NULL); /* route 2, hop 2 */
	assert_int_equal(replicate(f->p, f->r, 100, &pull), 0);
	/* The replica's own counters of hop 2. */
	exec(f->r, "INSERT INTO route_stats (hop_id, selected, modified) VALUES (2, 7, 1)");

	/* Meanwhile on the primary: route a goes and route b is made again, under id 1 (ids are reused). */
	add_alias(f->p, "info@example.com", "a@gmail.test");
	assert_int_equal(db_route_del(f->p, "b.example", &err), 0);
	assert_int_equal(db_route_del(f->p, "a.example", &err), 0);
	add_hop(f->p, "b.example", "[relay-b.test]:25", NULL, NULL);
	assert_int_equal(unit_query_int(f->p, "SELECT id FROM routes WHERE match = 'b.example'"), 1);
	add_hop(f->p, "example.com", "[relay-c.test]:25", NULL, NULL);

	/* ... and the log is trimmed past what the replica has. */
	assert_int_equal(db_sync_log_trim(f->p, 60, time_now() + 3600, &deleted, &err), 0);
	assert_true(deleted > 0);
	assert_int_equal(unit_query_int(f->p, "SELECT count(*) FROM changelog"), 0);
	assert_int_equal(replicate(f->p, f->r, 2, &pull), 0);
	assert_true(pull.snapshot);
	assert_same_tables(f->p, f->r);

	/* A snapshot keeps the rows it holds in place: counters of a hop that stayed survive. */
	add_hop(f->p, "c.example", "[relay-d.test]:25", NULL, NULL);
	exec(f->r, "INSERT INTO route_stats (hop_id, selected, modified) SELECT id, 3, 1 FROM route_hops"
	           " WHERE nexthop = '[relay-c.test]:25'");
	assert_int_equal(db_sync_log_trim(f->p, 60, time_now() + 3600, &deleted, &err), 0);
	assert_int_equal(replicate(f->p, f->r, 1000, &pull), 0);
	assert_true(pull.snapshot);
	assert_same_tables(f->p, f->r);
	assert_int_equal(unit_query_int(f->r, "SELECT selected FROM route_stats"), 3);

	/* A new log (mxctl sync new-log) is a snapshot too; a replica has no log to restart. */
	assert_int_equal(db_sync_log_restart(f->p, &err), 0);
	assert_int_equal(replicate(f->p, f->r, 1000, &pull), 0);
	assert_true(pull.snapshot);
	assert_int_equal(replicate(f->p, f->r, 1000, &pull), 0);
	assert_false(pull.snapshot);
	/* An unknown log id (a new primary database) is a snapshot too. */
	exec(f->r, "UPDATE sync_state SET value = 'feedface' WHERE key = 'primary_log_id'");
	assert_int_equal(replicate(f->p, f->r, 1000, &pull), 0);
	assert_true(pull.snapshot);
	/* So is a seq beyond the primary's log (a primary restored from an older copy). */
	exec(f->r, "UPDATE sync_state SET value = '999999' WHERE key = 'last_seq'");
	assert_int_equal(replicate(f->p, f->r, 1000, &pull), 0);
	assert_true(pull.snapshot);
	assert_same_tables(f->p, f->r);
}

static void test_replica_lock(void **state)
{
	struct fixture *f = *state;
	struct pull pull;
	const char *err;
	bool released;

	add_domain(f->p, "example.com");
	assert_int_equal(db_sync_is_replica(f->r), 0);
	assert_int_equal(db_sync_replica_init(f->r, "primary.test:8026", &err), 0);
	assert_int_equal(db_sync_is_replica(f->r), 1);

	/* Local writes are refused, whatever writes them. */
	assert_int_equal(db_domain_add(f->r, "local.example", NULL, 0, &err), -1);
	assert_non_null(strstr(err, DB_SYNC_LOCK_MESSAGE));
	assert_false(db_error_is_busy(f->r));
	assert_int_not_equal(
	    sqlite3_exec(db_handle(f->r),
	                 "INSERT INTO domains (name, created, modified) VALUES ('x.example', 1, 1)", NULL,
	                 NULL, NULL),
	    SQLITE_OK);

	/* The sync writes. */
	assert_int_equal(replicate(f->p, f->r, 100, &pull), 0);
	add_alias(f->p, "info@example.com", "a@gmail.test");
	assert_int_equal(replicate(f->p, f->r, 100, &pull), 0);
	assert_same_tables(f->p, f->r);
	/* ... and the lock is back; a replica keeps no change log of its own. */
	const char *dests[] = {"b@gmail.test"};
	assert_int_equal(db_alias_add(f->r, "x@example.com", dests, 1, 0, &err), -1);
	assert_non_null(strstr(err, "this is a secondary"));
	assert_int_equal(db_alias_del(f->r, "info@example.com", &err), -1);
	assert_int_equal(unit_query_int(f->r, "SELECT count(*) FROM changelog"), 0);
	/* Its route_stats (its own) stay writable. */
	add_hop(f->p, "example.com", "[relay.test]:25", NULL, NULL);
	assert_int_equal(replicate(f->p, f->r, 100, &pull), 0);
	exec(f->r, "INSERT INTO route_stats (hop_id, selected, modified) SELECT id, 1, 1 FROM route_hops");

	/* A replica serves no feed. */
	char *json;
	size_t len;
	assert_int_equal(db_sync_feed_changes(f->r, 0, NULL, 10, &json, &len, &err), -1);
	assert_non_null(strstr(err, "replica"));
	assert_int_equal(db_sync_log_restart(f->r, &err), -1);
	assert_non_null(strstr(err, "replica"));

	/* Made a primary again: writable, logging, under a new log id. */
	struct db_sync_state before, after;
	assert_int_equal(db_sync_state_get(f->r, &before, &err), 0);
	assert_int_equal(db_sync_replica_release(f->r, &released, &err), 0);
	assert_true(released);
	assert_int_equal(db_sync_is_replica(f->r), 0);
	assert_int_equal(db_sync_state_get(f->r, &after, &err), 0);
	assert_string_not_equal(before.log_id, after.log_id);
	assert_int_equal(after.last_sync, 0);
	add_domain(f->r, "local.example");
	assert_int_equal(unit_query_int(f->r, "SELECT count(*) FROM changelog"), 1);
	assert_int_equal(db_sync_replica_release(f->r, &released, &err), 0);
	assert_false(released);
}

static void test_bad_pages(void **state)
{
	struct fixture *f = *state;
	struct db_sync_page page;
	struct pull pull;
	const char *err;

	add_domain(f->p, "example.com");
	assert_int_equal(replicate(f->p, f->r, 100, &pull), 0);
	char *before = dump(f->r);
	struct db_sync_state st;
	assert_int_equal(db_sync_state_get(f->r, &st, &err), 0);

	static const struct {
		const char *json;
		const char *error; /* of parse; NULL: parses, apply fails */
	} cases[] = {
	    {"not json", "not valid JSON"},
	    {"[1,2]", "not a page"},
	    {"{\"log\":\"x\",\"seq\":1,\"changes\":{}}", "not a page"},
	    {"{\"log\":\"x\",\"seq\":\"1\",\"changes\":[]}", "bad 'log' or 'seq'"},
	    {"{\"seq\":1,\"changes\":[]}", "bad 'log' or 'seq'"},
	    {"{\"log\":\"x\",\"seq\":9,\"changes\":[{\"seq\":8,\"tbl\":\"admins\",\"pk\":\"a\",\"op\":"
	     "\"delete\"}]}",
	     NULL},
	    {"{\"log\":\"x\",\"seq\":9,\"changes\":[{\"seq\":9,\"tbl\":\"domains\",\"pk\":\"example.com\","
	     "\"op\":\"delete\"},{\"seq\":9,\"tbl\":\"domains\",\"pk\":\"b\",\"op\":\"delete\"}]}",
	     NULL},
	    {"{\"log\":\"x\",\"seq\":9,\"changes\":[{\"seq\":9,\"tbl\":\"domains\",\"pk\":\"example.com\","
	     "\"op\":\"delete\"},{\"seq\":10,\"tbl\":\"domains\",\"pk\":\"b\",\"op\":\"drop\",\"row\":{}}]}",
	     NULL},
	    {"{\"log\":\"x\",\"seq\":9,\"changes\":[{\"seq\":9,\"tbl\":\"domains\",\"pk\":\"Bad\",\"op\":"
	     "\"insert\","
	     "\"row\":{\"name\":\"Bad\",\"description\":\"\",\"active\":1,\"alias_limit\":0,\"created\":1,"
	     "\"modified\":1}}]}",
	     NULL},
	};
	for (size_t i = 0; i < MXD_ARRAY_SIZE(cases); i++) {
		int rc = db_sync_page_parse(f->r, cases[i].json, &page, &err);
		if (cases[i].error != NULL) {
			assert_int_equal(rc, -1);
			assert_non_null(strstr(err, cases[i].error));
			continue;
		}
		assert_int_equal(rc, 0);
		db_sync_page_clear(&page);
		const char *pages[] = {cases[i].json};
		struct db_sync_batch batch = {false, pages, 1, "x", 9, time_now()};
		assert_int_equal(db_sync_apply(f->r, &batch, NULL, &err), -1);
		char *now = dump(f->r);
		assert_string_equal(before, now);
		free(now);
	}
	struct db_sync_state st2;
	assert_int_equal(db_sync_state_get(f->r, &st2, &err), 0);
	assert_int_equal(st2.last_seq, st.last_seq);
	assert_string_equal(st2.primary_log_id, st.primary_log_id);
	free(before);

	/* A snapshot page of an unknown table or with a bad cursor. */
	char *json;
	size_t len;
	assert_int_equal(db_sync_feed_snapshot(f->p, "admins", NULL, 10, &json, &len, &err), -1);
	assert_false(db_error_is_busy(f->p));
	assert_int_equal(db_sync_feed_snapshot(f->p, "routes", "x", 10, &json, &len, &err), -1);
}

static void test_error_state(void **state)
{
	struct fixture *f = *state;
	struct db_sync_state st;
	const char *err;

	assert_int_equal(db_sync_set_error(f->r, "connect to p: refused", &err), 0);
	assert_int_equal(db_sync_set_error(f->r, "connect to p: refused", &err), 0);
	assert_int_equal(db_sync_state_get(f->r, &st, &err), 0);
	assert_string_equal(st.last_error, "connect to p: refused");
	assert_int_equal(st.last_sync, 0);
	struct pull pull;
	assert_int_equal(replicate(f->p, f->r, 10, &pull), 0);
	assert_int_equal(db_sync_state_get(f->r, &st, &err), 0);
	assert_string_equal(st.last_error, "");
	/* The keys other modules read. */
	assert_true(unit_query_int(f->r, "SELECT value FROM sync_state WHERE key = 'last_sync'") > 0);
	assert_int_equal(unit_query_int(f->r, "SELECT count(*) FROM sync_state WHERE key IN"
	                                      " ('last_seq', 'last_sync', 'last_error', 'primary_version')"),
	                 4);
}

/* The tables' version moves with changes to the replicated tables only, not with heartbeats. */
static void test_tables_version(void **state)
{
	struct fixture *f = *state;
	struct pull pull;
	const char *err;
	int64_t p0, p1, r0, r1, r2;

	assert_int_equal(db_sync_tables_version(f->p, &p0, &err), 0);
	add_domain(f->p, "example.com");
	assert_int_equal(db_sync_tables_version(f->p, &p1, &err), 0);
	assert_true(p1 != p0);
	assert_int_equal(db_sync_replica_init(f->r, "primary.test", &err), 0);
	assert_int_equal(db_sync_tables_version(f->r, &r0, &err), 0);
	assert_int_equal(replicate(f->p, f->r, 10, &pull), 0);
	assert_int_equal(db_sync_tables_version(f->r, &r1, &err), 0);
	assert_true(r1 != r0);
	assert_int_equal(replicate(f->p, f->r, 10, &pull), 0); /* nothing new: a heartbeat */
	assert_int_equal(db_sync_tables_version(f->r, &r2, &err), 0);
	assert_int_equal(r2, r1);
	add_hop(f->p, "example.com", "[relay.test]:25", NULL, NULL);
	assert_int_equal(db_sync_tables_version(f->p, &p1, &err), 0);
	exec(f->p, "INSERT INTO route_stats (hop_id, selected, modified) VALUES (1, 1, 1)");
	assert_int_equal(db_sync_tables_version(f->p, &p0, &err), 0);
	assert_int_equal(p0, p1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_log_records_changes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_log_scrubs_superseded_passwords, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_log_has_every_column, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_apply_reproduces, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resume, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_after_trim, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replica_lock, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_pages, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_error_state, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tables_version, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
