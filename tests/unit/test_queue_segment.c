/*
 * test_queue_segment: large bodies in append-only segment files. Appends read back byte-identical (from
 * evbuffers of several pieces, one of them a reference to an mmapped file), rollover, garbage
 * collection, short writes, a crash between append and sync (the tail is ignored and goes with its file), a
 * second writer refused, permissions that follow the queue directory, and errors in pwritev and fdatasync:
 * through the store they fail the message with the SQLite path's errors (452 on a full disk, 451 else)
 * while small bodies in the same batch are stored. Faults come from sqlite_fault_vfs.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "mxd/common/log.h"
#include "mxd/common/util.h"
#include "mxd/queue/queue_failed.h"
#include "mxd/queue/queue_segment.h"
#include "mxd/queue/queue_store.h"
#include "unit_fixtures.h"

#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sqlite_fault_vfs.h"

struct fx {
	char tmp[256];
	char qdir[300];
	struct queue_segment *seg;
	struct event_base *base;
	struct queue_store *qs;
};

static int fx_setup(void **state)
{
	struct fx *fx = xcalloc(1, sizeof(*fx));
	const char *tmpdir = getenv("TMPDIR");
	snprintf(fx->tmp, sizeof(fx->tmp), "%s/test_queue_segment.XXXXXX", tmpdir != NULL ? tmpdir : "/tmp");
	assert_non_null(mkdtemp(fx->tmp));
	snprintf(fx->qdir, sizeof(fx->qdir), "%s/queue", fx->tmp);
	assert_int_equal(mkdir(fx->qdir, 0700), 0);
	fx->base = event_base_new();
	fault_set(-1, SQLITE_FULL);
	fault_set_sync(0);
	*state = fx;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *fx = *state;
	queue_segment_free(&fx->seg);
	queue_store_close(&fx->qs);
	event_base_free(fx->base);
	unit_rm_tree(fx->tmp);
	fault_set(-1, SQLITE_FULL);
	fault_set_sync(0);
	fault_set_short(0);
	free(fx);
	return 0;
}

/* size bytes, value (i * 13 + seed) at offset i, in three pieces. */
static struct evbuffer *body_new(size_t size, unsigned seed)
{
	struct evbuffer *body = xevbuffer_new();
	unsigned char *buf = xmalloc(size);
	for (size_t i = 0; i < size; i++)
		buf[i] = (unsigned char)(i * 13 + seed);
	size_t third = size / 3;
	evbuffer_add(body, buf, third);
	evbuffer_add(body, buf + third, third);
	evbuffer_add(body, buf + 2 * third, size - 2 * third);
	free(buf);
	return body;
}

static void assert_bytes(struct evbuffer *got, size_t size, unsigned seed)
{
	assert_int_equal(evbuffer_get_length(got), size);
	const unsigned char *p = evbuffer_pullup(got, -1);
	for (size_t i = 0; i < size; i++)
		if (p[i] != (unsigned char)(i * 13 + seed))
			fail_msg("differs at octet %zu", i);
}

static void assert_reads(struct fx *fx, const struct queue_segment_ref *ref, size_t size, unsigned seed)
{
	const char *error = NULL;
	struct evbuffer *out = xevbuffer_new();
	assert_int_equal(queue_segment_read(fx->qdir, ref, out, &error), 0);
	assert_bytes(out, size, seed);
	evbuffer_free(out);
}

static void append(struct fx *fx, size_t size, unsigned seed, struct queue_segment_ref *ref)
{
	const char *error = NULL;
	struct evbuffer *body = body_new(size, seed);
	assert_int_equal(queue_segment_append(fx->seg, body, ref, &error), 0);
	assert_int_equal(evbuffer_get_length(body), size); /* left untouched */
	evbuffer_free(body);
}

static int count_files(struct fx *fx)
{
	char dir[400];
	int n = 0;
	snprintf(dir, sizeof(dir), "%s/segments", fx->qdir);
	DIR *d = opendir(dir);
	assert_non_null(d);
	for (struct dirent *de; (de = readdir(d)) != NULL;)
		n += strstr(de->d_name, ".seg") != NULL;
	closedir(d);
	return n;
}

static void test_append_read_back(void **state)
{
	struct fx *fx = *state;
	const char *error = NULL;
	struct queue_segment_ref ref[4];
	char path[400];
	struct stat st;

	assert_int_equal(queue_segment_open(fx->qdir, 0, &fx->seg, &error), 0);
	append(fx, 40000, 1, &ref[0]);
	append(fx, 100000, 2, &ref[1]);

	/* a body made of a reference to an mmapped file, as the DATA spool hands over */
	snprintf(path, sizeof(path), "%s/spool", fx->tmp);
	struct evbuffer *src = body_new(70000, 3);
	int fd = open(path, O_RDWR | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, evbuffer_pullup(src, -1), 70000), 70000);
	evbuffer_free(src);
	void *map = mmap(NULL, 70000, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	assert_true(map != MAP_FAILED);
	struct evbuffer *body = xevbuffer_new();
	evbuffer_add_reference(body, map, 5000, NULL, NULL);
	evbuffer_add_reference(body, (char *)map + 5000, 65000, NULL, NULL);
	assert_int_equal(queue_segment_append(fx->seg, body, &ref[2], &error), 0);
	evbuffer_free(body);
	munmap(map, 70000);

	fault_set_short(777); /* short writes: the rest follows */
	append(fx, 45000, 8, &ref[3]);
	fault_set_short(0);
	assert_int_equal(queue_segment_sync(fx->seg, &error), 0);
	assert_int_equal(ref[0].seq, ref[2].seq);
	assert_reads(fx, &ref[3], 45000, 8);
	assert_int_equal(ref[1].offset, 40000);
	assert_int_equal(ref[2].offset, 140000);
	assert_reads(fx, &ref[0], 40000, 1);
	assert_reads(fx, &ref[1], 100000, 2);
	assert_reads(fx, &ref[2], 70000, 3);

	/* the mapping outlives the writer and is released with the buffer */
	struct evbuffer *out = xevbuffer_new();
	assert_int_equal(queue_segment_read(fx->qdir, &ref[1], out, &error), 0);
	queue_segment_free(&fx->seg);
	assert_bytes(out, 100000, 2);
	evbuffer_free(out);

	/* permissions of a private queue */
	snprintf(path, sizeof(path), "%s/segments", fx->qdir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	snprintf(path, sizeof(path), "%s/segments/%016" PRIX64 ".seg", fx->qdir, ref[0].seq);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_group_permissions(void **state)
{
	struct fx *fx = *state;
	const char *error = NULL;
	struct queue_segment_ref ref;
	char path[400];
	struct stat st;

	assert_int_equal(chmod(fx->qdir, 02770), 0);
	assert_int_equal(queue_segment_open(fx->qdir, 0, &fx->seg, &error), 0);
	append(fx, 40000, 1, &ref);
	snprintf(path, sizeof(path), "%s/segments", fx->qdir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 02770);
	snprintf(path, sizeof(path), "%s/segments/%016" PRIX64 ".seg", fx->qdir, ref.seq);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
}

/* used() of the tests: the segments in the set referenced by ctx (a zero-terminated list). */
static int used_in(void *ctx, uint64_t seq)
{
	for (const uint64_t *p = ctx; *p != 0; p++)
		if (*p == seq)
			return 1;
	return 0;
}

static void test_rollover_and_collect(void **state)
{
	struct fx *fx = *state;
	const char *error = NULL;
	struct queue_segment_ref ref[6];

	assert_int_equal(queue_segment_open(fx->qdir, 100000, &fx->seg, &error), 0);
	for (unsigned i = 0; i < 5; i++)
		append(fx, 40000, i, &ref[i]);
	append(fx, 250000, 9, &ref[5]); /* larger than a segment: one of its own */
	assert_int_equal(queue_segment_sync(fx->seg, &error), 0);
	/* 2 + 2 + 1 bodies of 40000 fit under 100000, then the large one */
	assert_int_equal(ref[1].seq, ref[0].seq);
	assert_int_equal(ref[2].seq, ref[0].seq + 1);
	assert_int_equal(ref[4].seq, ref[0].seq + 2);
	assert_int_equal(ref[5].seq, ref[0].seq + 3);
	assert_int_equal(ref[5].offset, 0);
	assert_int_equal(queue_segment_count(fx->seg), 4);
	for (unsigned i = 0; i < 5; i++)
		assert_reads(fx, &ref[i], 40000, i);
	assert_reads(fx, &ref[5], 250000, 9);

	/* the second segment and the current one are still referenced */
	uint64_t keep[] = {ref[2].seq, ref[5].seq, 0};
	assert_int_equal(queue_segment_collect(fx->seg, used_in, keep), 2);
	assert_int_equal(count_files(fx), 2);
	struct evbuffer *out = xevbuffer_new();
	assert_int_equal(queue_segment_read(fx->qdir, &ref[0], out, &error), 1); /* gone */
	evbuffer_free(out);
	assert_reads(fx, &ref[3], 40000, 3);
	assert_reads(fx, &ref[5], 250000, 9);

	/* not even the current one: an idle queue keeps no files; the next append starts a new one */
	uint64_t none[] = {0};
	assert_int_equal(queue_segment_collect(fx->seg, used_in, none), 2);
	assert_int_equal(count_files(fx), 0);
	append(fx, 40000, 8, &ref[0]);
	assert_int_equal(ref[0].seq, ref[5].seq + 1);
	assert_int_equal(queue_segment_collect(fx->seg, used_in, none), 0); /* not synced yet */
	assert_int_equal(queue_segment_sync(fx->seg, &error), 0);
	assert_reads(fx, &ref[0], 40000, 8);
}

static void test_crash_tail_and_lock(void **state)
{
	struct fx *fx = *state;
	const char *error = NULL;
	struct queue_segment_ref ref, after;
	int fds[2];

	/* a writer that dies between an append and its sync: the synced body stays readable */
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct queue_segment *seg;
		struct queue_segment_ref r;
		struct evbuffer *b = body_new(50000, 4);
		if (queue_segment_open(fx->qdir, 0, &seg, &error) < 0 ||
		    queue_segment_append(seg, b, &r, &error) < 0 || queue_segment_sync(seg, &error) < 0)
			_exit(1);
		struct evbuffer *tail = body_new(60000, 5);
		(void)queue_segment_append(seg, tail, &r, &error); /* never synced nor committed */
		(void)!write(fds[1], &r, sizeof(r));
		pause();
		_exit(0);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &ref, sizeof(ref)), sizeof(ref));
	close(fds[0]);

	/* while it lives, a second writer is refused */
	assert_int_equal(queue_segment_open(fx->qdir, 0, &fx->seg, &error), -1);
	assert_non_null(strstr(error, "in use by another"));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);

	assert_int_equal(queue_segment_open(fx->qdir, 0, &fx->seg, &error), 0);
	struct queue_segment_ref first = {ref.seq, 0, 50000};
	assert_reads(fx, &first, 50000, 4);
	append(fx, 40000, 6, &after); /* never after the dead writer's tail: a new segment */
	assert_int_equal(after.seq, ref.seq + 1);
	assert_int_equal(after.offset, 0);
	assert_int_equal(queue_segment_sync(fx->seg, &error), 0);
	uint64_t keep[] = {ref.seq, after.seq, 0};
	assert_int_equal(queue_segment_collect(fx->seg, used_in, keep), 0);
	uint64_t only_after[] = {after.seq, 0};
	assert_int_equal(queue_segment_collect(fx->seg, used_in, only_after), 1); /* with its tail */
	assert_int_equal(count_files(fx), 1);
}

static void test_errors(void **state)
{
	struct fx *fx = *state;
	const char *error = NULL;
	struct queue_segment_ref ref, good;
	struct evbuffer *body = body_new(40000, 7);

	assert_int_equal(queue_segment_open(fx->qdir, 0, &fx->seg, &error), 0);
	append(fx, 40000, 1, &good);
	assert_int_equal(queue_segment_sync(fx->seg, &error), 0);

	fault_set(0, SQLITE_FULL); /* the disk is full */
	assert_int_equal(queue_segment_append(fx->seg, body, &ref, &error), -1);
	assert_int_equal(errno, ENOSPC);
	assert_non_null(strstr(error, "write segment"));
	fault_set(0, SQLITE_IOERR_WRITE);
	assert_int_equal(queue_segment_append(fx->seg, body, &ref, &error), -1);
	assert_int_equal(errno, EIO);
	fault_set(-1, SQLITE_FULL);
	assert_int_equal(queue_segment_append(fx->seg, body, &ref, &error), 0);
	assert_int_not_equal(ref.seq, good.seq); /* a failed segment is left */
	assert_int_equal(ref.offset, 0);

	fault_set_sync(EIO);
	assert_int_equal(queue_segment_sync(fx->seg, &error), -1);
	assert_int_equal(errno, EIO);
	assert_non_null(strstr(error, "fdatasync"));
	fault_set_sync(0);
	uint64_t failed_seq = ref.seq;
	assert_int_equal(queue_segment_append(fx->seg, body, &ref, &error), 0);
	assert_true(ref.seq > failed_seq);
	assert_int_equal(queue_segment_sync(fx->seg, &error), 0);
	assert_reads(fx, &good, 40000, 1);
	assert_reads(fx, &ref, 40000, 7);
	evbuffer_free(body);

	/* a reference beyond the file's end is an error, not a crash */
	struct queue_segment_ref beyond = {ref.seq, 30000, 40000};
	struct evbuffer *out = xevbuffer_new();
	assert_int_equal(queue_segment_read(fx->qdir, &beyond, out, &error), -1);
	assert_non_null(strstr(error, "shorter"));
	assert_int_equal(evbuffer_get_length(out), 0);
	evbuffer_free(out);

	/* a queue directory that cannot hold segments/ */
	struct queue_segment *seg = NULL;
	char file[400];
	snprintf(file, sizeof(file), "%s/plain", fx->tmp);
	assert_int_equal(close(open(file, O_WRONLY | O_CREAT, 0600)), 0);
	assert_int_equal(queue_segment_open(file, 0, &seg, &error), -1);
	assert_null(seg);
}

/* ---- through the store: the committer ---- */

struct result {
	int result;
	enum queue_error code;
	char id[QUEUE_ID_SIZE];
	char error[512];
	int *done;
};

static void commit_cb(void *ctx, int result, const char *id, enum queue_error code, const char *error)
{
	struct result *r = ctx;
	r->result = result;
	r->code = code;
	str_copy(r->error, sizeof(r->error), error == NULL ? "" : error);
	(*r->done)++;
}

static void submit(struct fx *fx, struct result *r, int *done, size_t size, unsigned seed)
{
	static const char *const rcpts[] = {"a@example.org"};
	struct queue_new_msg msg = {.sender = "s@example.net",
	                            .rcpts = rcpts,
	                            .nrcpt = 1,
	                            .arrival = 1700000000,
	                            .body = body_new(size, seed)};
	queue_store_new_id(msg.id);
	memset(r, 0, sizeof(*r));
	r->done = done;
	str_copy(r->id, sizeof(r->id), msg.id);
	queue_store_submit(fx->qs, &msg, commit_cb, r);
}

static void wait_done(struct fx *fx, const int *done, int target)
{
	int64_t deadline = time_mono_msec() + 60000;
	while (*done < target) {
		assert_true(time_mono_msec() < deadline);
		event_base_loop(fx->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(1000);
	}
}

static void assert_body(struct fx *fx, const char *id, size_t size, unsigned seed)
{
	const char *error = NULL;
	struct evbuffer *out = xevbuffer_new();
	assert_int_equal(queue_store_read_body(fx->qs, id, out, &error), 0);
	assert_bytes(out, size, seed);
	evbuffer_free(out);
}

static void test_store(void **state)
{
	struct fx *fx = *state;
	const char *error = NULL;
	struct result r[4];
	int done = 0;
	struct queue_store *other = NULL;

	assert_int_equal(queue_store_open(fx->qdir, &fx->qs, &error), 0);
	/* one batch: a large body the disk has no room for, a small one that fits */
	submit(fx, &r[0], &done, 2 << 20, 1);
	submit(fx, &r[1], &done, 1000, 2);
	fault_set(1 << 20, SQLITE_FULL);
	assert_int_equal(queue_store_start(fx->qs, fx->base, &error), 0);
	wait_done(fx, &done, 2);
	fault_set(-1, SQLITE_FULL);
	assert_int_equal(r[0].result, -1);
	assert_int_equal(r[0].code, QUEUE_ERROR_STORAGE_FULL); /* 452 4.3.1 */
	assert_non_null(strstr(r[0].error, "insufficient storage"));
	assert_int_equal(r[1].result, 0);
	assert_body(fx, r[1].id, 1000, 2);

	/* a failed fdatasync: 451, nothing referenced */
	fault_set_sync(EIO);
	submit(fx, &r[2], &done, 100000, 3);
	wait_done(fx, &done, 3);
	fault_set_sync(0);
	assert_int_equal(r[2].result, -1);
	assert_int_equal(r[2].code, QUEUE_ERROR_LOCAL);
	assert_non_null(strstr(r[2].error, "fdatasync"));
	struct queue_msg_info *info = NULL;
	assert_int_equal(queue_store_get(fx->qs, r[2].id, &info, &error), 1);

	submit(fx, &r[3], &done, 3 << 20, 4);
	wait_done(fx, &done, 4);
	assert_int_equal(r[3].result, 0);
	assert_body(fx, r[3].id, 3 << 20, 4);

	/* a second committer on the same queue is refused */
	assert_int_equal(queue_store_open(fx->qdir, &other, &error), 0);
	assert_int_equal(queue_store_start(other, fx->base, &error), -1);
	assert_non_null(strstr(error, "in use by another"));
	queue_store_close(&other);

	/* after a restart the body is read from its segment; once deleted, its segment goes */
	queue_store_close(&fx->qs);
	assert_int_equal(queue_store_open(fx->qdir, &fx->qs, &error), 0);
	assert_int_equal(queue_store_start(fx->qs, fx->base, &error), 0);
	assert_int_equal(count_files(fx), 1); /* the failed batches' segments are collected at start */
	assert_body(fx, r[3].id, 3 << 20, 4);

	/* kept as failed, then resent: the new message points at the same bytes */
	char new_id[QUEUE_ID_SIZE], dbpath[400];
	static const char *const fail_sql[] = {
	    "UPDATE messages SET failed_at = 1, failed_reason = 'x' WHERE id = ?1",
	    "UPDATE recipients SET state = 3 WHERE msg_id = ?1",
	};
	sqlite3 *db;
	snprintf(dbpath, sizeof(dbpath), "%s/queue.db", fx->qdir);
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	for (size_t i = 0; i < MXD_ARRAY_SIZE(fail_sql); i++) {
		sqlite3_stmt *st;
		assert_int_equal(sqlite3_prepare_v2(db, fail_sql[i], -1, &st, NULL), SQLITE_OK);
		sqlite3_bind_text(st, 1, r[3].id, -1, SQLITE_STATIC);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	assert_int_equal(queue_failed_resend(fx->qs, r[3].id, NULL, new_id, &error), 0);
	assert_body(fx, new_id, 3 << 20, 4);
	str_copy(r[3].id, sizeof(r[3].id), new_id);
	assert_int_equal(queue_store_delete(fx->qs, r[3].id, &error), 0);
	submit(fx, &r[0], &done, 100, 5); /* the next batch collects */
	wait_done(fx, &done, 5);
	assert_int_equal(count_files(fx), 0);
}

int main(void)
{
	const char *error;
	fault_install();
	if (log_open("/dev/null", "mx.test", "mxd", &error) < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_append_read_back, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_group_permissions, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_rollover_and_collect, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_crash_tail_and_lock, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_errors, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_store, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
