/*
 * test_queue_failed: failed messages kept for failed_retention (mxd/queue/queue_failed.h). A batch's FAIL
 * keeps the message with its bounce queued beside it and logs 'failed' for the recipients that failed;
 * the queue manager's scan and the queue's statistics skip it; resend queues a new message (its failed
 * recipients, or one --to address with the alias kept) and removes the old one in one transaction; purge
 * removes only what failed at or before its time.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "mxd/queue/queue_batch.h"
#include "mxd/queue/queue_failed.h"
#include "mxd/queue/queue_store.h"
#include "mxd/common/util.h"
#include "unit_fixtures.h"

#include <event2/buffer.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fx {
	char tmp[256], qdir[300], db[320];
	struct queue_store *qs;
};

static int fx_setup(void **state)
{
	struct fx *fx = xcalloc(1, sizeof(*fx));
	const char *tmpdir = getenv("TMPDIR"), *error;
	snprintf(fx->tmp, sizeof(fx->tmp), "%s/test_queue_failed.XXXXXX", tmpdir != NULL ? tmpdir : "/tmp");
	assert_non_null(mkdtemp(fx->tmp));
	snprintf(fx->qdir, sizeof(fx->qdir), "%s/queue", fx->tmp);
	snprintf(fx->db, sizeof(fx->db), "%s/queue.db", fx->qdir);
	assert_int_equal(queue_store_open(fx->qdir, &fx->qs, &error), 0);
	*state = fx;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *fx = *state;
	queue_store_close(&fx->qs);
	unit_rm_tree(fx->tmp);
	free(fx);
	return 0;
}

/* One integer from queue.db through a connection of our own. */
static int64_t qint(struct fx *fx, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open_v2(fx->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* A message to r0@dest.test (refused: 5.1.1) and r1@dest.test (sent), accepted as alias@hosted.test. */
static void insert_failed_rcpts(struct fx *fx, char id[QUEUE_ID_SIZE])
{
	const char *rcpts[] = {"r0@dest.test", "r1@dest.test"};
	const char *orig[] = {"alias@hosted.test", "alias@hosted.test"};
	struct queue_new_msg msg = {.sender = "s@send.test",
	                            .rcpts = rcpts,
	                            .orig_rcpts = orig,
	                            .nrcpt = 2,
	                            .client_name = "c.test",
	                            .client_addr = "192.0.2.1",
	                            .helo = "c.test",
	                            .proto = "ESMTP",
	                            .arrival = time_now() - 100,
	                            .body = evbuffer_new()};
	const char *error;
	queue_store_new_id(msg.id);
	evbuffer_add_printf(msg.body, "Subject: x\r\n\r\nbody of the failed one\r\n");
	assert_int_equal(queue_store_insert(fx->qs, &msg, &error), 0);
	evbuffer_free(msg.body);
	str_copy(id, QUEUE_ID_SIZE, msg.id);
	struct queue_rcpt_update u[] = {
	    {.idx = 0,
	     .state = QUEUE_RCPT_BOUNCED,
	     .dsn = "5.1.1",
	     .reason = "550 5.1.1 no such user",
	     .remote_mta = "mx.dest.test"},
	    {.idx = 1, .state = QUEUE_RCPT_SENT, .dsn = "2.0.0", .reason = "250 ok"},
	};
	assert_int_equal(queue_store_update_rcpts(fx->qs, id, u, 2, &error), 0);
}

/* Record FAIL of id (with a bounce to its sender) and write it. */
static void record_fail(struct fx *fx, const char *id, char bounce_id[QUEUE_ID_SIZE])
{
	struct queue_batch *b = queue_batch_new();
	const char *to[] = {"s@send.test"};
	struct queue_new_msg dsn = {.sender = "",
	                            .rcpts = to,
	                            .nrcpt = 1,
	                            .proto = "local",
	                            .arrival = time_now(),
	                            .body = evbuffer_new()};
	queue_store_new_id(dsn.id);
	evbuffer_add_printf(dsn.body, "Subject: Undelivered Mail\r\n\r\nbounce\r\n");
	queue_batch_fail(b, id, "5.1.1 550 5.1.1 no such user", &dsn);
	assert_int_equal(queue_batch_write(b, fx->qs), 0);
	assert_int_equal(queue_batch_done(b, NULL, NULL), 1);
	queue_batch_free(&b);
	evbuffer_free(dsn.body);
	if (bounce_id != NULL)
		str_copy(bounce_id, QUEUE_ID_SIZE, dsn.id);
}

static void test_fail_keeps_and_hides(void **state)
{
	struct fx *fx = *state;
	char id[QUEUE_ID_SIZE], bounce[QUEUE_ID_SIZE], due[4][QUEUE_ID_SIZE];
	const char *error;
	size_t n;
	insert_failed_rcpts(fx, id);
	/* finished, not yet removed: the scan would take it to finish it */
	assert_int_equal(queue_store_due(fx->qs, time_now(), "", 4, due, &n, &error), 0);
	assert_int_equal(n, 1);
	record_fail(fx, id, bounce);

	struct queue_msg_info *info = NULL;
	assert_int_equal(queue_store_get(fx->qs, id, &info, &error), 0);
	assert_true(info->failed_at > 0);
	assert_string_equal(info->failed_reason, "5.1.1 550 5.1.1 no such user");
	queue_msg_info_free(&info);
	/* the bounce is queued; the scan sees only it */
	assert_int_equal(queue_store_due(fx->qs, time_now(), "", 4, due, &n, &error), 0);
	assert_int_equal(n, 1);
	assert_string_equal(due[0], bounce);
	int64_t count, oldest, failed, bytes;
	assert_int_equal(queue_store_stats(fx->qs, &count, &oldest, &error), 0);
	assert_int_equal(count, 1); /* the bounce only */
	assert_int_equal(queue_failed_stats(fx->qs, &failed, &bytes, &error), 0);
	assert_int_equal(failed, 1);
	assert_true(bytes > 0);
	/* one 'failed' row, for the recipient that failed, and none more when it is recorded again */
	assert_int_equal(
	    qint(fx, "SELECT count(*) FROM delivery_log WHERE event = 'failed' AND address = 'r0@dest.test'"
	             " AND dsn = '5.1.1'"),
	    1);
	record_fail(fx, id, NULL);
	assert_int_equal(qint(fx, "SELECT count(*) FROM delivery_log WHERE event = 'failed'"), 1);
	assert_int_equal(qint(fx, "SELECT count(*) FROM messages WHERE sender = ''"), 2);
}

static int count_cb(void *ctx, const struct queue_msg_info *msg)
{
	assert_true(msg->failed_at > 0);
	(*(int *)ctx)++;
	return 0;
}

static void test_resend(void **state)
{
	struct fx *fx = *state;
	char id[QUEUE_ID_SIZE], id2[QUEUE_ID_SIZE], new_id[QUEUE_ID_SIZE], other[QUEUE_ID_SIZE];
	const char *error;
	insert_failed_rcpts(fx, id);
	/* not failed: not resent */
	assert_int_equal(queue_failed_resend(fx->qs, id, NULL, new_id, &error), 1);
	record_fail(fx, id, NULL);
	insert_failed_rcpts(fx, id2);
	record_fail(fx, id2, NULL);
	int listed = 0;
	assert_int_equal(queue_failed_list(fx->qs, count_cb, &listed, &error), 0);
	assert_int_equal(listed, 2);
	int64_t flush0 = qint(fx, "SELECT value FROM control WHERE key = 'flush'");

	assert_int_equal(queue_failed_resend(fx->qs, id, NULL, new_id, &error), 0);
	struct queue_msg_info *info = NULL;
	assert_int_equal(queue_store_get(fx->qs, id, &info, &error), 1);
	assert_int_equal(queue_store_get(fx->qs, new_id, &info, &error), 0);
	assert_int_equal(info->failed_at, 0);
	assert_string_equal(info->sender, "s@send.test");
	assert_true(info->arrival >= time_now() - 5); /* a new lifetime */
	assert_int_equal(info->nrcpt, 1);             /* only the recipient that failed */
	assert_string_equal(info->rcpts[0].address, "r0@dest.test");
	assert_string_equal(info->rcpts[0].orig_address, "alias@hosted.test");
	assert_int_equal(info->rcpts[0].state, QUEUE_RCPT_PENDING);
	assert_int_equal(info->rcpts[0].attempts, 0);
	queue_msg_info_free(&info);
	struct evbuffer *body = evbuffer_new();
	assert_int_equal(queue_store_read_body(fx->qs, new_id, body, &error), 0);
	assert_non_null(strstr((const char *)evbuffer_pullup(body, -1), "body of the failed one"));
	evbuffer_free(body);
	assert_int_equal(qint(fx, "SELECT value FROM control WHERE key = 'flush'"), flush0 + 1);
	assert_int_equal(
	    qint(fx,
	         "SELECT count(*) FROM delivery_log WHERE event = 'removed' AND reply LIKE 'resent as %'"),
	    2);

	/* --to: one recipient, the alias kept */
	assert_int_equal(queue_failed_resend(fx->qs, id2, "new@else.test", other, &error), 0);
	assert_int_equal(queue_store_get(fx->qs, other, &info, &error), 0);
	assert_int_equal(info->nrcpt, 1);
	assert_string_equal(info->rcpts[0].address, "new@else.test");
	assert_string_equal(info->rcpts[0].orig_address, "alias@hosted.test");
	queue_msg_info_free(&info);
	assert_int_equal(queue_failed_resend(fx->qs, id2, "new@else.test", other, &error), 1);
	listed = 0;
	assert_int_equal(queue_failed_list(fx->qs, count_cb, &listed, &error), 0);
	assert_int_equal(listed, 0);
}

static void test_purge_by_time(void **state)
{
	struct fx *fx = *state;
	char old[QUEUE_ID_SIZE], young[QUEUE_ID_SIZE];
	const char *error;
	int64_t n;
	insert_failed_rcpts(fx, old);
	record_fail(fx, old, NULL);
	insert_failed_rcpts(fx, young);
	record_fail(fx, young, NULL);
	/* make the first one fail an hour ago */
	sqlite3 *db;
	assert_int_equal(sqlite3_open(fx->db, &db), SQLITE_OK);
	char sql[200];
	snprintf(sql, sizeof(sql), "UPDATE messages SET failed_at = failed_at - 3600 WHERE id = '%s'", old);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	assert_int_equal(
	    queue_failed_purge(fx->qs, time_now() - 1800, "failed_retention expired", &n, &error), 0);
	assert_int_equal(n, 1);
	struct queue_msg_info *info = NULL;
	assert_int_equal(queue_store_get(fx->qs, old, &info, &error), 1);
	assert_int_equal(queue_store_get(fx->qs, young, &info, &error), 0);
	queue_msg_info_free(&info);
	assert_int_equal(qint(fx, "SELECT count(*) FROM delivery_log WHERE event = 'removed'"
	                          " AND reply = 'failed_retention expired'"),
	                 2); /* both of its recipients */
	/* the bounces are not failed messages: all purges only the young one */
	assert_int_equal(queue_failed_purge(fx->qs, INT64_MAX, "purged", &n, &error), 0);
	assert_int_equal(n, 1);
	assert_int_equal(qint(fx, "SELECT count(*) FROM messages"), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_fail_keeps_and_hides, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_resend, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_purge_by_time, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
