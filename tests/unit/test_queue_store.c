/*
 * test_queue_store: the durable queue. Submissions through the committer read back byte-identical,
 * group commit batches concurrent submissions, the synchronous calls, recovery after close and after
 * a crash (SIGKILL), and failures (queue directory gone, disk full, I/O error) that must reach the
 * callback as -1, never as success. Disk faults come from a SQLite VFS shim registered as the default
 * VFS, which fails writes that would grow the WAL beyond a limit (sqlite_fault_vfs.h). Queue ids are
 * tested in test_queue_id.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "mxd/common/log.h"
#include "mxd/queue/queue_store.h"
#include "mxd/common/util.h"
#include "unit_fixtures.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sqlite_fault_vfs.h"

/* ---- fixture: a temporary queue directory and an event base ---- */

struct fx {
	char tmp[256];
	char qdir[300];
	struct event_base *base;
	struct event *tick; /* keeps EVLOOP_ONCE from blocking for long */
	struct queue_store *qs;
};

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

static int fx_setup(void **state)
{
	struct fx *fx = xcalloc(1, sizeof(*fx));
	const char *tmpdir = getenv("TMPDIR");
	snprintf(fx->tmp, sizeof(fx->tmp), "%s/test_queue_store.XXXXXX", tmpdir != NULL ? tmpdir : "/tmp");
	assert_non_null(mkdtemp(fx->tmp));
	snprintf(fx->qdir, sizeof(fx->qdir), "%s/spool/queue", fx->tmp);
	fx->base = event_base_new();
	assert_non_null(fx->base);
	fx->tick = event_new(fx->base, -1, EV_PERSIST, tick_cb, NULL);
	struct timeval tv = {0, 100000};
	event_add(fx->tick, &tv);
	fault_set(-1, SQLITE_FULL);
	*state = fx;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *fx = *state;
	queue_store_close(&fx->qs);
	event_free(fx->tick);
	event_base_free(fx->base);
	unit_rm_tree(fx->tmp);
	free(fx);
	fault_set(-1, SQLITE_FULL);
	return 0;
}

static void fx_open(struct fx *fx, bool start)
{
	const char *error = NULL;
	assert_int_equal(queue_store_open(fx->qdir, &fx->qs, &error), 0);
	if (start)
		assert_int_equal(queue_store_start(fx->qs, fx->base, &error), 0);
}

/* ---- submitting ---- */

struct result {
	int calls;
	int result;
	char id[QUEUE_ID_SIZE];
	enum queue_error code;
	char error[512];
	int *done; /* counter shared by a group of submissions */
};

static void commit_cb(void *ctx, int result, const char *id, enum queue_error code, const char *error)
{
	struct result *r = ctx;
	r->calls++;
	r->result = result;
	r->code = code;
	str_copy(r->id, sizeof(r->id), id);
	str_copy(r->error, sizeof(r->error), error == NULL ? "" : error);
	if (result == 0) {
		assert_null(error);
		assert_int_equal(code, QUEUE_ERROR_NONE);
	} else {
		assert_non_null(error);
		assert_int_not_equal(code, QUEUE_ERROR_NONE);
	}
	(*r->done)++;
}

static void loop_until(struct fx *fx, const int *done, int target)
{
	int64_t deadline = time_mono_msec() + 60000;
	while (*done < target) {
		assert_true(time_mono_msec() < deadline);
		event_base_loop(fx->base, EVLOOP_ONCE);
	}
}

/* A body of size bytes with every octet value, in several evbuffer chains. */
static struct evbuffer *body_new(size_t size, unsigned seed)
{
	struct evbuffer *body = evbuffer_new();
	size_t part = size / 3 + 1;
	for (size_t off = 0; off < size; off += part) {
		size_t n = size - off < part ? size - off : part;
		struct evbuffer *piece = evbuffer_new();
		unsigned char *buf = xmalloc(n);
		for (size_t i = 0; i < n; i++)
			buf[i] = (unsigned char)((off + i) * 7 + seed);
		evbuffer_add(piece, buf, n);
		evbuffer_add_buffer(body, piece);
		evbuffer_free(piece);
		free(buf);
	}
	return body;
}

static const char *const test_rcpts[] = {"alice@example.org", "bob@example.org", "j\xc3\xb6rg@example.org"};

static void submit(struct fx *fx, struct result *r, int *done, size_t body_size, unsigned seed,
                   int64_t arrival)
{
	struct queue_new_msg msg = {
	    .sender = "s\xc3\xa9nder@example.net",
	    .rcpts = test_rcpts,
	    .nrcpt = MXD_ARRAY_SIZE(test_rcpts),
	    .client_name = "mail.example.net",
	    .client_addr = "192.0.2.1",
	    .helo = "mail.example.net",
	    .proto = "UTF8SMTPS",
	    .arrival = arrival,
	    .smtputf8 = true,
	    .body = body_new(body_size, seed),
	};
	queue_store_new_id(msg.id);
	memset(r, 0, sizeof(*r));
	r->done = done;
	str_copy(r->id, sizeof(r->id), msg.id);
	queue_store_submit(fx->qs, &msg, commit_cb, r);
	assert_null(msg.body);
}

static void assert_body(struct fx *fx, const char *id, size_t size, unsigned seed)
{
	const char *error = NULL;
	struct evbuffer *out = evbuffer_new();
	evbuffer_add(out, "x", 1); /* read_body appends */
	assert_int_equal(queue_store_read_body(fx->qs, id, out, &error), 0);
	assert_int_equal(evbuffer_get_length(out), size + 1);
	const unsigned char *p = evbuffer_pullup(out, -1);
	assert_int_equal(p[0], 'x');
	for (size_t i = 0; i < size; i++) {
		if (p[i + 1] != (unsigned char)(i * 7 + seed))
			fail_msg("body differs at octet %zu", i);
	}
	evbuffer_free(out);
}

static void assert_msg(struct fx *fx, const char *id, int64_t arrival, size_t size)
{
	const char *error = NULL;
	struct queue_msg_info *info = NULL;
	assert_int_equal(queue_store_get(fx->qs, id, &info, &error), 0);
	assert_string_equal(info->id, id);
	assert_int_equal(info->arrival, arrival);
	assert_int_equal(info->size, size);
	assert_string_equal(info->sender, "s\xc3\xa9nder@example.net");
	assert_string_equal(info->client_name, "mail.example.net");
	assert_string_equal(info->client_addr, "192.0.2.1");
	assert_string_equal(info->helo, "mail.example.net");
	assert_string_equal(info->proto, "UTF8SMTPS");
	assert_true(info->smtputf8);
	assert_false(info->held);
	assert_int_equal(info->nrcpt, MXD_ARRAY_SIZE(test_rcpts));
	for (size_t i = 0; i < info->nrcpt; i++) {
		assert_int_equal(info->rcpts[i].idx, i);
		assert_string_equal(info->rcpts[i].address, test_rcpts[i]);
		assert_int_equal(info->rcpts[i].state, QUEUE_RCPT_PENDING);
		assert_int_equal(info->rcpts[i].attempts, 0);
		assert_int_equal(info->rcpts[i].next_attempt, 0);
		assert_null(info->rcpts[i].last_reason);
	}
	queue_msg_info_free(&info);
	assert_null(info);
}

static int64_t queue_count(struct fx *fx)
{
	const char *error = NULL;
	int64_t count, oldest;
	assert_int_equal(queue_store_stats(fx->qs, &count, &oldest, &error), 0);
	return count;
}

/* ---- tests ---- */

static int list_collect(void *ctx, const struct queue_msg_info *msg)
{
	struct result *r = ctx;
	r->calls++;
	str_copy(r->id, sizeof(r->id), msg->id);
	r->result = msg->held;
	return 0;
}

static void test_submit_read_back(void **state)
{
	struct fx *fx = *state;
	struct result r, empty;
	int done = 0;
	const char *error = NULL;

	fx_open(fx, true);
	assert_true(access(fx->qdir, F_OK) == 0);
	struct stat st;
	assert_int_equal(stat(fx->qdir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	submit(fx, &r, &done, 300000, 5, 1700000000);
	struct queue_new_msg msg = {.sender = "", .rcpts = test_rcpts, .nrcpt = 1, .arrival = 1700000001};
	queue_store_new_id(msg.id);
	memset(&empty, 0, sizeof(empty));
	empty.done = &done;
	queue_store_submit(fx->qs, &msg, commit_cb, &empty);
	assert_int_equal(done, 0); /* never called back from inside submit */
	loop_until(fx, &done, 2);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.result, 0);
	assert_int_equal(empty.calls, 1);
	assert_int_equal(empty.result, 0);
	assert_string_equal(empty.id, msg.id);

	assert_msg(fx, r.id, 1700000000, 300000);
	assert_body(fx, r.id, 300000, 5);

	/* the null sender, no content, no client details */
	struct queue_msg_info *info = NULL;
	assert_int_equal(queue_store_get(fx->qs, msg.id, &info, &error), 0);
	assert_string_equal(info->sender, "");
	assert_string_equal(info->client_addr, "");
	assert_int_equal(info->size, 0);
	assert_int_equal(info->nrcpt, 1);
	queue_msg_info_free(&info);
	struct evbuffer *out = evbuffer_new();
	assert_int_equal(queue_store_read_body(fx->qs, msg.id, out, &error), 0);
	assert_int_equal(evbuffer_get_length(out), 0);

	/* unknown ids */
	assert_int_equal(queue_store_get(fx->qs, "00000000000000FF", &info, &error), 1);
	assert_int_equal(queue_store_read_body(fx->qs, "00000000000000FF", out, &error), 1);
	assert_int_equal(evbuffer_get_length(out), 0);
	evbuffer_free(out);

	struct result lr = {0};
	assert_int_equal(queue_store_list(fx->qs, list_collect, &lr, &error), 0);
	assert_int_equal(lr.calls, 2);
	assert_string_equal(lr.id, msg.id); /* in id order: the later one last */

	int64_t count, oldest;
	assert_int_equal(queue_store_stats(fx->qs, &count, &oldest, &error), 0);
	assert_int_equal(count, 2);
	assert_int_equal(oldest, 1700000000);
}

struct reader {
	struct queue_store *qs;
	atomic_bool stop;
	int rounds;
	char error[512]; /* set on failure (cmocka's asserts belong to the main thread) */
};

static int list_count(void *ctx, const struct queue_msg_info *msg)
{
	(*(int *)ctx)++;
	return 0;
}

/* Synchronous calls from another thread while the committer writes. */
static void *reader_thread(void *arg)
{
	struct reader *rd = arg;
	const char *error;
	while (!atomic_load(&rd->stop)) {
		int64_t count, oldest;
		int n = 0;
		if (queue_store_stats(rd->qs, &count, &oldest, &error) < 0 ||
		    queue_store_list(rd->qs, list_count, &n, &error) < 0) {
			str_copy(rd->error, sizeof(rd->error), error);
			break;
		}
		rd->rounds++;
	}
	return NULL;
}

struct burst {
	struct fx *fx;
	struct result *r;
	int *done;
	int next, total, per_tick;
	struct event *ev;
};

/* Sessions finish DATA a few at a time: each tick of the loop submits per_tick messages. */
static void burst_cb(evutil_socket_t fd, short what, void *arg)
{
	struct burst *b = arg;
	for (int i = 0; i < b->per_tick && b->next < b->total; i++, b->next++)
		submit(b->fx, &b->r[b->next], b->done, 2000 + (size_t)b->next, (unsigned)b->next, 1700000000);
	if (b->next == b->total)
		event_del(b->ev);
}

static void test_group_commit(void **state)
{
	enum { TOTAL = 2000 };
	struct fx *fx = *state;
	struct result *r = xcalloc(TOTAL, sizeof(*r));
	int done = 0;
	struct queue_commit_stats cs;

	fx_open(fx, true);
	struct reader rd = {.qs = fx->qs};
	pthread_t reader;
	pthread_create(&reader, NULL, reader_thread, &rd);

	struct burst b = {fx, r, &done, 0, TOTAL, 10, NULL};
	b.ev = event_new(fx->base, -1, EV_PERSIST, burst_cb, &b);
	struct timeval tv = {0, 200};
	event_add(b.ev, &tv);
	loop_until(fx, &done, TOTAL);
	event_free(b.ev);
	atomic_store(&rd.stop, true);
	pthread_join(reader, NULL);
	assert_string_equal(rd.error, "");

	for (int i = 0; i < TOTAL; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].result, 0);
	}
	assert_int_equal(done, TOTAL);
	assert_int_equal(queue_count(fx), TOTAL);
	queue_store_commit_stats(fx->qs, &cs);
	print_message("group commit: %d messages in %" PRIu64
	              " transactions (%.1f per commit, largest %" PRIu64 "); reader made %d rounds\n",
	              TOTAL, cs.batches, (double)cs.messages / (double)cs.batches, cs.largest_batch,
	              rd.rounds);
	assert_int_equal(cs.messages, TOTAL);
	assert_int_equal(cs.failed, 0);
	assert_true(cs.batches < TOTAL / 2);
	assert_true(cs.largest_batch > 1);
	assert_true(cs.largest_batch <= 256);
	assert_body(fx, r[TOTAL - 1].id, 2000 + TOTAL - 1, TOTAL - 1);
	free(r);
}

static int64_t raw_count(struct fx *fx, const char *sql, const char *id)
{
	char *path = xasprintf("%s/queue.db", fx->qdir);
	sqlite3 *db;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(path);
	return n;
}

static void test_delete_hold_release(void **state)
{
	struct fx *fx = *state;
	struct result r[3];
	int done = 0;
	const char *error = NULL;
	struct queue_msg_info *info = NULL;

	fx_open(fx, true);
	for (int i = 0; i < 3; i++)
		submit(fx, &r[i], &done, 1000, (unsigned)i, 1700000000 + i);
	loop_until(fx, &done, 3);

	assert_int_equal(queue_store_set_hold(fx->qs, r[1].id, true, &error), 0);
	assert_int_equal(queue_store_get(fx->qs, r[1].id, &info, &error), 0);
	assert_true(info->held);
	queue_msg_info_free(&info);
	struct result lr = {0};
	assert_int_equal(queue_store_list(fx->qs, list_collect, &lr, &error), 0);
	assert_int_equal(lr.calls, 3);
	assert_int_equal(queue_store_set_hold(fx->qs, r[1].id, false, &error), 0);
	assert_int_equal(queue_store_get(fx->qs, r[1].id, &info, &error), 0);
	assert_false(info->held);
	queue_msg_info_free(&info);

	assert_int_equal(queue_store_delete(fx->qs, r[0].id, &error), 0);
	assert_int_equal(queue_store_get(fx->qs, r[0].id, &info, &error), 1);
	struct evbuffer *out = evbuffer_new();
	assert_int_equal(queue_store_read_body(fx->qs, r[0].id, out, &error), 1);
	evbuffer_free(out);
	assert_int_equal(raw_count(fx, "SELECT count(*) FROM recipients WHERE msg_id = ?1", r[0].id), 0);
	assert_int_equal(raw_count(fx, "SELECT count(*) FROM bodies WHERE id = ?1", r[0].id), 0);
	assert_int_equal(raw_count(fx, "SELECT count(*) FROM recipients WHERE msg_id = ?1", r[2].id), 3);

	assert_int_equal(queue_store_delete(fx->qs, r[0].id, &error), 1);
	assert_int_equal(queue_store_set_hold(fx->qs, r[0].id, true, &error), 1);
	assert_int_equal(queue_store_set_hold(fx->qs, "not-an-id", false, &error), 1);

	int64_t count, oldest;
	assert_int_equal(queue_store_stats(fx->qs, &count, &oldest, &error), 0);
	assert_int_equal(count, 2);
	assert_int_equal(oldest, 1700000001);
	assert_msg(fx, r[2].id, 1700000002, 1000);
	assert_body(fx, r[2].id, 1000, 2);
}

/* A secondary's takeover: one recipient replaced by its finals in one transaction, keeping orig_address;
 * a failed write changes nothing; a recipient no longer to try is left alone. */
static void test_expand_rcpt(void **state)
{
	struct fx *fx = *state;
	struct result r;
	int done = 0;
	const char *error = NULL;
	struct queue_msg_info *info = NULL;
	const char *finals[] = {"someone@gmail.test", "loop@example.org"};
	const int states[] = {QUEUE_RCPT_PENDING, QUEUE_RCPT_BOUNCED};
	const char *dsn[] = {NULL, "5.4.6"};
	const char *reasons[] = {NULL, "mail forwarding loop: alias chain comes back"};

	fx_open(fx, true);
	submit(fx, &r, &done, 100, 1, 1700000000);
	loop_until(fx, &done, 1);
	assert_int_equal(r.result, 0);

	/* the disk is full: the transaction rolls back, the recipient stays as it was */
	fault_set(0, SQLITE_FULL);
	assert_int_equal(queue_store_expand_rcpt(fx->qs, r.id, 1, finals, states, dsn, reasons, 2, &error),
	                 -1);
	fault_set(-1, SQLITE_FULL);
	assert_msg(fx, r.id, 1700000000, 100);

	assert_int_equal(queue_store_expand_rcpt(fx->qs, r.id, 1, finals, states, dsn, reasons, 2, &error),
	                 0);
	assert_int_equal(queue_store_get(fx->qs, r.id, &info, &error), 0);
	assert_int_equal(info->nrcpt, 4);
	int want_idx[] = {0, 2, 3, 4};
	const char *want_addr[] = {test_rcpts[0], test_rcpts[2], finals[0], finals[1]};
	const char *want_orig[] = {test_rcpts[0], test_rcpts[2], test_rcpts[1], test_rcpts[1]};
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(info->rcpts[i].idx, want_idx[i]);
		assert_string_equal(info->rcpts[i].address, want_addr[i]);
		assert_string_equal(info->rcpts[i].orig_address, want_orig[i]);
	}
	assert_int_equal(info->rcpts[2].state, QUEUE_RCPT_PENDING);
	assert_int_equal(info->rcpts[3].state, QUEUE_RCPT_BOUNCED);
	assert_string_equal(info->rcpts[3].dsn, "5.4.6");
	assert_string_equal(info->rcpts[3].last_reason, reasons[1]);
	queue_msg_info_free(&info);

	/* gone (idx 1) or finished (sent): nothing to replace */
	assert_int_equal(queue_store_expand_rcpt(fx->qs, r.id, 1, finals, states, dsn, reasons, 1, &error),
	                 1);
	struct queue_rcpt_update u = {.idx = 0, .state = QUEUE_RCPT_SENT};
	assert_int_equal(queue_store_update_rcpts(fx->qs, r.id, &u, 1, &error), 0);
	assert_int_equal(queue_store_expand_rcpt(fx->qs, r.id, 0, finals, states, dsn, reasons, 1, &error),
	                 1);
	assert_int_equal(raw_count(fx, "SELECT count(*) FROM recipients WHERE msg_id = ?1", r.id), 4);
}

/* The child commits 3 messages and dies by SIGKILL with them still in the WAL. */
static void crash_child(struct fx *fx, int fd)
{
	struct event_base *base = event_base_new();
	const char *error;
	struct result r[3];
	int done = 0;

	fx->base = base; /* the parent's base and tick are left alone */
	fx->tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	struct timeval tv = {0, 100000};
	event_add(fx->tick, &tv);
	if (queue_store_open(fx->qdir, &fx->qs, &error) < 0 || queue_store_start(fx->qs, base, &error) < 0)
		_exit(2);
	for (int i = 0; i < 3; i++)
		submit(fx, &r[i], &done, 5000, 100 + (unsigned)i, 1800000000);
	while (done < 3)
		event_base_loop(base, EVLOOP_ONCE);
	for (int i = 0; i < 3; i++) {
		if (r[i].result != 0)
			_exit(3);
		if (fd_write_all(fd, r[i].id, QUEUE_ID_SIZE) < 0)
			_exit(4);
	}
	raise(SIGKILL);
}

static void test_recovery(void **state)
{
	struct fx *fx = *state;
	struct result r[5];
	int done = 0;
	char crashed[3][QUEUE_ID_SIZE];
	const char *error = NULL;

	fx_open(fx, true);
	for (int i = 0; i < 5; i++)
		submit(fx, &r[i], &done, 10000 * (size_t)i, (unsigned)i, 1700000000 + i);
	loop_until(fx, &done, 5);
	assert_int_equal(queue_store_set_hold(fx->qs, r[3].id, true, &error), 0);
	queue_store_close(&fx->qs);
	assert_null(fx->qs);

	/* a crash: committed messages survive without a clean close */
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		crash_child(fx, fds[1]);
	}
	close(fds[1]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	for (int i = 0; i < 3; i++)
		assert_int_equal(read(fds[0], crashed[i], QUEUE_ID_SIZE), QUEUE_ID_SIZE);
	close(fds[0]);
	char *wal = xasprintf("%s/queue.db-wal", fx->qdir);
	struct stat st;
	assert_int_equal(stat(wal, &st), 0); /* the crash left them in the WAL, not checkpointed */
	assert_true(st.st_size > 0);
	free(wal);

	char *logpath = xasprintf("%s/maillog", fx->tmp);
	assert_int_equal(log_open(logpath, "mx.test", "mxd", &error), 0);
	fx_open(fx, true);
	assert_int_equal(log_open("/dev/null", "mx.test", "mxd", &error), 0);
	assert_true(unit_file_contains(logpath, "mxd/qmgr["));
	assert_true(unit_file_contains(logpath, "queue recovered: 8 messages"));
	free(logpath);

	assert_int_equal(queue_count(fx), 8);
	for (int i = 0; i < 5; i++) {
		assert_body(fx, r[i].id, 10000 * (size_t)i, (unsigned)i);
		if (i != 3)
			assert_msg(fx, r[i].id, 1700000000 + i, 10000 * (size_t)i);
	}
	struct queue_msg_info *info = NULL;
	assert_int_equal(queue_store_get(fx->qs, r[3].id, &info, &error), 0);
	assert_true(info->held);
	queue_msg_info_free(&info);
	for (int i = 0; i < 3; i++) {
		assert_msg(fx, crashed[i], 1800000000, 5000);
		assert_body(fx, crashed[i], 5000, 100 + (unsigned)i);
	}
	/* ids stay increasing past every stored one (the child's were made after ours) */
	char id[QUEUE_ID_SIZE];
	queue_store_new_id(id);
	assert_true(strcmp(id, crashed[2]) > 0);
}

static void test_queue_gone(void **state)
{
	struct fx *fx = *state;
	struct result r;
	int done = 0;
	char moved[320];
	struct queue_commit_stats cs;

	fx_open(fx, true);
	snprintf(moved, sizeof(moved), "%s/spool/moved", fx->tmp);
	assert_int_equal(rename(fx->qdir, moved), 0);
	submit(fx, &r, &done, 100, 1, 1700000000);
	loop_until(fx, &done, 1);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.result, -1);
	assert_non_null(strstr(r.error, "queue file unavailable"));

	/* a queue replaced by another directory is not ours either */
	assert_int_equal(mkdir(fx->qdir, 0700), 0);
	submit(fx, &r, &done, 100, 1, 1700000000);
	loop_until(fx, &done, 2);
	assert_int_equal(r.result, -1);
	assert_int_equal(rmdir(fx->qdir), 0);

	assert_int_equal(rename(moved, fx->qdir), 0);
	submit(fx, &r, &done, 100, 1, 1700000000);
	loop_until(fx, &done, 3);
	assert_int_equal(r.result, 0);
	queue_store_commit_stats(fx->qs, &cs);
	assert_int_equal(cs.failed, 2);
	assert_int_equal(cs.messages, 1);
	assert_int_equal(queue_count(fx), 1);
}

static void test_disk_full(void **state)
{
	struct fx *fx = *state;
	struct result r;
	int done = 0;
	struct queue_msg_info *info = NULL;
	const char *error = NULL;

	fx_open(fx, true);
	fault_set(0, SQLITE_FULL);
	submit(fx, &r, &done, 100, 1, 1700000000);
	loop_until(fx, &done, 1);
	assert_int_equal(r.result, -1);
	assert_int_equal(r.code, QUEUE_ERROR_STORAGE_FULL); /* the session answers 452 4.3.1 */
	assert_non_null(strstr(r.error, "insufficient storage"));
	assert_non_null(strstr(r.error, "disk full"));
	fault_set(-1, SQLITE_FULL);
	assert_int_equal(queue_store_get(fx->qs, r.id, &info, &error), 1);

	fault_set(0, SQLITE_IOERR_WRITE);
	submit(fx, &r, &done, 100, 1, 1700000000);
	loop_until(fx, &done, 2);
	assert_int_equal(r.result, -1);
	assert_int_equal(r.code, QUEUE_ERROR_LOCAL); /* 451 4.3.0 */
	assert_null(strstr(r.error, "insufficient storage"));
	assert_non_null(strstr(r.error, "queue write error"));
	fault_set(-1, SQLITE_FULL);
	assert_int_equal(queue_store_get(fx->qs, r.id, &info, &error), 1);

	/* the store carries on once there is room again */
	submit(fx, &r, &done, 100000, 9, 1700000000);
	loop_until(fx, &done, 3);
	assert_int_equal(r.result, 0);
	assert_msg(fx, r.id, 1700000000, 100000);
	assert_body(fx, r.id, 100000, 9);
	assert_int_equal(queue_count(fx), 1);
}

static void test_batch_isolation(void **state)
{
	struct fx *fx = *state;
	struct result r[7];
	int done = 0;
	struct queue_commit_stats cs;
	const char *error = NULL;

	/* Submitted before start, the committer's first batch holds all seven. The fourth does not fit on
	 * the disk (fails at commit), the seventh reuses the second's id (fails at insert). */
	fx_open(fx, false);
	for (int i = 0; i < 6; i++)
		submit(fx, &r[i], &done, i == 3 ? 2 << 20 : 1000, (unsigned)i, 1700000000);
	struct queue_new_msg dup = {.sender = "", .rcpts = test_rcpts, .nrcpt = 1, .arrival = 1700000000};
	str_copy(dup.id, sizeof(dup.id), r[1].id);
	memset(&r[6], 0, sizeof(r[6]));
	r[6].done = &done;
	queue_store_submit(fx->qs, &dup, commit_cb, &r[6]);
	fault_set(1 << 20, SQLITE_FULL);
	assert_int_equal(queue_store_start(fx->qs, fx->base, &error), 0);
	loop_until(fx, &done, 7);
	fault_set(-1, SQLITE_FULL);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(r[i].calls, 1);
		if (i == 3) {
			assert_int_equal(r[i].result, -1);
			assert_int_equal(r[i].code, QUEUE_ERROR_STORAGE_FULL);
			assert_non_null(strstr(r[i].error, "insufficient storage"));
		} else {
			assert_int_equal(r[i].result, 0);
			assert_body(fx, r[i].id, 1000, (unsigned)i);
		}
	}
	assert_int_equal(r[6].calls, 1);
	assert_int_equal(r[6].result, -1);
	assert_int_equal(r[6].code, QUEUE_ERROR_LOCAL);
	assert_non_null(strstr(r[6].error, "queue write error"));
	assert_msg(fx, r[1].id, 1700000000, 1000); /* the first holder of the id is untouched */
	queue_store_commit_stats(fx->qs, &cs);
	assert_int_equal(cs.messages, 5);
	assert_int_equal(cs.failed, 2);
	assert_int_equal(cs.batches, 5);
	assert_int_equal(queue_count(fx), 5);
}

static void test_close_finishes(void **state)
{
	enum { N = 50 };
	struct fx *fx = *state;
	struct result r[N];
	int done = 0;

	fx_open(fx, true);
	for (int i = 0; i < N; i++)
		submit(fx, &r[i], &done, 3000, (unsigned)i, 1700000000);
	queue_store_close(&fx->qs); /* without running the loop */
	assert_int_equal(done, N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].result, 0);
	}
	fx_open(fx, false);
	assert_int_equal(queue_count(fx), N);
	assert_body(fx, r[N - 1].id, 3000, N - 1);

	/* never started: the submissions fail, still exactly once */
	submit(fx, &r[0], &done, 10, 0, 1700000000);
	queue_store_close(&fx->qs);
	assert_int_equal(r[0].calls, 1);
	assert_int_equal(r[0].result, -1);
	assert_non_null(strstr(r[0].error, "closed"));
}

int main(void)
{
	const char *error;
	fault_install();
	if (log_open("/dev/null", "mx.test", "mxd", &error) < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_submit_read_back, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_group_commit, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_delete_hold_release, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_expand_rcpt, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_recovery, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_queue_gone, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_disk_full, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_batch_isolation, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_close_finishes, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
