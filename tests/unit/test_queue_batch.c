/*
 * test_queue_batch: the queue manager's write batches (mxd/queue/queue_batch.h). Written at once: results,
 * log rows, a removal with its bounce, a delay warning; a bounce for a message deleted meanwhile is not
 * queued. Through the committer: a batch and the messages waiting are written in one transaction; a
 * batch that fails is rolled back as a whole and reported, while the messages beside it are stored.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "mxd/queue/queue_batch.h"
#include "mxd/queue/queue_log.h"
#include "mxd/queue/queue_store.h"
#include "mxd/common/util.h"
#include "unit_fixtures.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fx {
	char tmp[256], qdir[300], db[320];
	struct queue_store *qs;
	struct event_base *base;
};

static int fx_setup(void **state)
{
	struct fx *fx = xcalloc(1, sizeof(*fx));
	const char *tmpdir = getenv("TMPDIR"), *error;
	snprintf(fx->tmp, sizeof(fx->tmp), "%s/test_queue_batch.XXXXXX", tmpdir != NULL ? tmpdir : "/tmp");
	assert_non_null(mkdtemp(fx->tmp));
	snprintf(fx->qdir, sizeof(fx->qdir), "%s/queue", fx->tmp);
	snprintf(fx->db, sizeof(fx->db), "%s/queue.db", fx->qdir);
	assert_int_equal(queue_store_open(fx->qdir, &fx->qs, &error), 0);
	fx->base = event_base_new();
	*state = fx;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *fx = *state;
	queue_store_close(&fx->qs);
	event_base_free(fx->base);
	unit_rm_tree(fx->tmp);
	free(fx);
	return 0;
}

/* A message with n recipients r0@dest.test ..., inserted at once. */
static void insert_msg(struct fx *fx, char id[QUEUE_ID_SIZE], size_t n)
{
	const char *rcpts[] = {"r0@dest.test", "r1@dest.test", "r2@dest.test"};
	struct queue_new_msg msg = {.sender = "s@send.test",
	                            .rcpts = rcpts,
	                            .nrcpt = n,
	                            .client_name = "c.test",
	                            .client_addr = "192.0.2.1",
	                            .helo = "c.test",
	                            .proto = "ESMTP",
	                            .arrival = time_now(),
	                            .body = evbuffer_new()};
	const char *error;
	queue_store_new_id(msg.id);
	evbuffer_add_printf(msg.body, "Subject: x\r\n\r\nbody\r\n");
	assert_int_equal(queue_store_insert(fx->qs, &msg, &error), 0);
	evbuffer_free(msg.body);
	str_copy(id, QUEUE_ID_SIZE, msg.id);
}

/* A bounce to the sender, as the queue manager makes one. */
static void make_notify(struct queue_new_msg *n, const char *const *to, struct evbuffer *body)
{
	*n = (struct queue_new_msg){.sender = "",
	                            .rcpts = to,
	                            .nrcpt = 1,
	                            .client_name = "localhost",
	                            .client_addr = "127.0.0.1",
	                            .helo = "mx.test",
	                            .proto = "local",
	                            .arrival = time_now(),
	                            .body = body};
	queue_store_new_id(n->id);
	evbuffer_add_printf(body, "Subject: Undelivered Mail\r\n\r\nsorry\r\n");
}

static int64_t count(struct fx *fx, const char *sql, const char *arg)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open(fx->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (arg != NULL)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

struct removed {
	size_t n;
	char ids[4][QUEUE_ID_SIZE];
};

static void on_removed(void *ctx, const char *id)
{
	struct removed *r = ctx;
	if (r->n < 4)
		str_copy(r->ids[r->n], QUEUE_ID_SIZE, id);
	r->n++;
}

static void test_write_now(void **state)
{
	struct fx *fx = *state;
	char a[QUEUE_ID_SIZE], gone[QUEUE_ID_SIZE], late[QUEUE_ID_SIZE];
	const char *error;
	insert_msg(fx, a, 2);
	insert_msg(fx, gone, 1);
	insert_msg(fx, late, 1);
	assert_int_equal(queue_store_delete(fx->qs, gone, &error), 0); /* mxctl queue delete meanwhile */

	struct queue_batch *b = queue_batch_new();
	struct queue_rcpt_update u[] = {
	    {.idx = 0, .state = QUEUE_RCPT_SENT, .dsn = "2.0.0", .reason = "250 ok", .remote_mta = "mx.dest"},
	    {.idx = 1, .state = QUEUE_RCPT_BOUNCED, .dsn = "5.1.1", .reason = "550 no such user"}};
	queue_batch_update(b, a, u, 2);
	struct queue_log_event ev[] = {{.queue_id = a, .event = "sent", .address = "r0@dest.test"},
	                               {.queue_id = a, .event = "bounced", .address = "r1@dest.test"}};
	queue_batch_log(b, ev, 2);
	const char *to[] = {"s@send.test"};
	struct queue_new_msg n1, n2, n3;
	struct evbuffer *b1 = evbuffer_new(), *b2 = evbuffer_new(), *b3 = evbuffer_new();
	make_notify(&n1, to, b1);
	make_notify(&n2, to, b2);
	make_notify(&n3, to, b3);
	queue_batch_remove(b, a, "finished (bounced)", &n1);
	queue_batch_remove(b, gone, "finished (bounced)", &n2); /* not there: no bounce */
	queue_batch_warn(b, late, &n3);
	evbuffer_free(b1); /* the batch has its own copies */
	evbuffer_free(b2);
	evbuffer_free(b3);
	assert_int_equal(queue_batch_pending(b), 5);

	assert_int_equal(queue_batch_write(b, fx->qs), 0);
	assert_int_equal(queue_batch_result(b, &error), 0);
	struct removed r = {0};
	assert_int_equal(queue_batch_done(b, on_removed, &r), 2); /* the bounce and the warning */
	assert_int_equal(r.n, 1);
	assert_string_equal(r.ids[0], a);

	assert_int_equal(count(fx, "SELECT count(*) FROM messages WHERE id = ?1", a), 0);
	assert_int_equal(count(fx, "SELECT count(*) FROM messages WHERE id = ?1", n1.id), 1);
	assert_int_equal(count(fx, "SELECT count(*) FROM messages WHERE id = ?1", n2.id), 0);
	assert_int_equal(count(fx, "SELECT count(*) FROM messages WHERE id = ?1", n3.id), 1);
	assert_int_equal(count(fx, "SELECT warned FROM messages WHERE id = ?1", late), 1);
	assert_int_equal(
	    count(fx, "SELECT count(*) FROM delivery_log WHERE queue_id = ?1 AND event = 'removed'", a), 2);
	assert_int_equal(
	    count(fx, "SELECT count(*) FROM delivery_log WHERE queue_id = ?1 AND event = 'sent'", a), 1);
	struct queue_msg_info *info;
	assert_int_equal(queue_store_get(fx->qs, n1.id, &info, &error), 0);
	assert_string_equal(info->sender, "");
	assert_string_equal(info->rcpts[0].address, "s@send.test");
	queue_msg_info_free(&info);
	struct evbuffer *body = evbuffer_new();
	assert_int_equal(queue_store_read_body(fx->qs, n1.id, body, &error), 0);
	assert_non_null(strstr((const char *)evbuffer_pullup(body, -1), "sorry"));
	evbuffer_free(body);

	/* reset: empty, reusable */
	queue_batch_reset(b);
	assert_int_equal(queue_batch_pending(b), 0);
	assert_int_equal(queue_batch_write(b, fx->qs), 0);
	queue_batch_free(&b);
	assert_null(b);
}

struct landed {
	atomic_int n;
	struct queue_batch *b;
};

static void on_landed(void *ctx, struct queue_batch *b)
{
	struct landed *l = ctx;
	l->b = b;
	atomic_fetch_add(&l->n, 1);
}

static void on_commit(void *ctx, int result, const char *id, enum queue_error code, const char *error)
{
	(void)id, (void)code, (void)error;
	*(int *)ctx = result == 0 ? 1 : -1;
}

static void submit_msg(struct fx *fx, int *done, char id_r[QUEUE_ID_SIZE])
{
	const char *rcpts[] = {"new@dest.test"};
	struct queue_new_msg msg = {.sender = "s@send.test",
	                            .rcpts = rcpts,
	                            .nrcpt = 1,
	                            .client_name = "c.test",
	                            .client_addr = "192.0.2.1",
	                            .helo = "c.test",
	                            .proto = "ESMTP",
	                            .arrival = time_now(),
	                            .body = evbuffer_new()};
	queue_store_new_id(msg.id);
	evbuffer_add_printf(msg.body, "Subject: y\r\n\r\nbody\r\n");
	str_copy(id_r, QUEUE_ID_SIZE, msg.id);
	queue_store_submit(fx->qs, &msg, on_commit, done);
}

static void wait_landed(struct fx *fx, struct landed *l, int *done)
{
	for (int i = 0; i < 10000 && (atomic_load(&l->n) == 0 || *done == 0); i++) {
		event_base_loop(fx->base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	assert_int_equal(atomic_load(&l->n), 1);
}

static void test_through_committer(void **state)
{
	struct fx *fx = *state;
	char a[QUEUE_ID_SIZE], fresh[QUEUE_ID_SIZE];
	const char *error;
	insert_msg(fx, a, 1);

	/* submitted before the committer starts: the message and the batch wait, then go in one
	 * transaction */
	int done = 0;
	submit_msg(fx, &done, fresh);
	struct queue_batch *b = queue_batch_new();
	struct queue_rcpt_update u = {.idx = 0, .state = QUEUE_RCPT_SENT, .dsn = "2.0.0"};
	queue_batch_update(b, a, &u, 1);
	queue_batch_remove(b, a, "delivered", NULL);
	struct landed l = {0};
	queue_batch_submit(b, fx->qs, on_landed, &l);
	assert_int_equal(queue_store_start(fx->qs, fx->base, &error), 0);
	wait_landed(fx, &l, &done);
	assert_ptr_equal(l.b, b);
	assert_int_equal(done, 1);
	assert_int_equal(queue_batch_result(b, &error), 0);
	struct queue_commit_stats stats;
	queue_store_commit_stats(fx->qs, &stats);
	assert_int_equal(stats.batches, 1); /* one transaction for both */
	struct removed r = {0};
	assert_int_equal(queue_batch_done(b, on_removed, &r), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(count(fx, "SELECT count(*) FROM messages WHERE id = ?1", a), 0);
	assert_int_equal(count(fx, "SELECT count(*) FROM messages WHERE id = ?1", fresh), 1);
	queue_batch_free(&b);
}

static void test_failed_batch(void **state)
{
	struct fx *fx = *state;
	char a[QUEUE_ID_SIZE], fresh[QUEUE_ID_SIZE];
	const char *error;
	insert_msg(fx, a, 1);
	assert_int_equal(queue_store_start(fx->qs, fx->base, &error), 0);

	/* the delivery log cannot take rows: the batch fails as a whole (its update is rolled back) and
	 * is reported; the message committed beside it is stored */
	sqlite3 *db;
	assert_int_equal(sqlite3_open(fx->db, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db,
	                 "CREATE TRIGGER no_log BEFORE INSERT ON delivery_log WHEN NEW.event = 'sent'"
	                 " BEGIN SELECT RAISE(ABORT, 'log refused'); END",
	                 NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);

	int done = 0;
	struct queue_batch *b = queue_batch_new();
	struct queue_rcpt_update u = {.idx = 0, .state = QUEUE_RCPT_SENT, .dsn = "2.0.0"};
	queue_batch_update(b, a, &u, 1);
	struct queue_log_event ev = {.queue_id = a, .event = "sent", .address = "r0@dest.test"};
	queue_batch_log(b, &ev, 1);
	queue_batch_remove(b, a, "delivered", NULL);
	struct landed l = {0};
	submit_msg(fx, &done, fresh);
	queue_batch_submit(b, fx->qs, on_landed, &l);
	wait_landed(fx, &l, &done);
	assert_int_equal(done, 1);
	assert_int_equal(queue_batch_result(b, &error), -1);
	assert_non_null(strstr(error, "log refused"));
	assert_int_equal(queue_batch_done(b, on_removed, NULL), 0);
	assert_int_equal(count(fx, "SELECT count(*) FROM messages WHERE id = ?1", a), 1);
	assert_int_equal(count(fx, "SELECT state FROM recipients WHERE msg_id = ?1", a), QUEUE_RCPT_PENDING);
	assert_int_equal(count(fx, "SELECT count(*) FROM messages WHERE id = ?1", fresh), 1);

	/* the same batch written at once fails the same way and leaves the queue as it was */
	queue_batch_reset(b);
	queue_batch_update(b, a, &u, 1);
	queue_batch_log(b, &ev, 1);
	assert_int_equal(queue_batch_write(b, fx->qs), -1);
	assert_int_equal(queue_batch_result(b, &error), -1);
	assert_int_equal(count(fx, "SELECT state FROM recipients WHERE msg_id = ?1", a), QUEUE_RCPT_PENDING);
	queue_batch_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_write_now, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_through_committer, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_failed_batch, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
