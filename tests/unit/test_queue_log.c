/*
 * test_queue_log: the delivery log of queue.db (mxd/queue/queue_log.h): 'received' rows written by the
 * committer in the message's transaction (and 'bounced' for recipients refused at once), appended
 * events, search by address (case-insensitive, address or orig_address) and by queue id, the 24-hour
 * counts, expiry, and the sanitizing of reply text.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "mxd/common/log.h"
#include "mxd/queue/queue_log.h"
#include "mxd/queue/queue_store.h"
#include "mxd/common/util.h"
#include "unit_fixtures.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct found {
	size_t n;
	char events[16][16];
	char addresses[16][64];
	char reply[1100];
	int64_t at[16];
};

static int collect(void *ctx, const struct queue_log_event *ev)
{
	struct found *f = ctx;
	if (f->n < 16) {
		str_copy(f->events[f->n], sizeof(f->events[0]), ev->event);
		str_copy(f->addresses[f->n], sizeof(f->addresses[0]), ev->address);
		f->at[f->n] = ev->at;
	}
	str_copy(f->reply, sizeof(f->reply), ev->reply);
	f->n++;
	return 0;
}

static void commit_cb(void *ctx, int result, const char *id, enum queue_error code, const char *error)
{
	(void)id, (void)code, (void)error;
	*(int *)ctx = result == 0 ? 1 : -1;
}

static void test_delivery_log(void **state)
{
	(void)state;
	char tmp[256], qdir[300];
	const char *tmpdir = getenv("TMPDIR"), *error;
	struct queue_store *qs;
	struct found f;

	snprintf(tmp, sizeof(tmp), "%s/test_queue_log.XXXXXX", tmpdir != NULL ? tmpdir : "/tmp");
	assert_non_null(mkdtemp(tmp));
	snprintf(qdir, sizeof(qdir), "%s/queue", tmp);
	assert_int_equal(queue_store_open(qdir, &qs, &error), 0);

	/* the committer: 'received' for each recipient, 'bounced' for the one refused at once */
	struct event_base *base = event_base_new();
	const char *rcpts[] = {"user@dest.test", "gone@dest.test"};
	const char *orig[] = {"Info@Ok.Test", "old@ok.test"};
	const int states[] = {QUEUE_RCPT_PENDING, QUEUE_RCPT_BOUNCED};
	const char *dsn[] = {NULL, "5.1.1"};
	const char *reasons[] = {NULL, "no such user"};
	struct queue_new_msg msg = {.sender = "s@send.test",
	                            .rcpts = rcpts,
	                            .nrcpt = 2,
	                            .orig_rcpts = orig,
	                            .rcpt_states = states,
	                            .rcpt_dsn = dsn,
	                            .rcpt_reasons = reasons,
	                            .client_name = "c.test",
	                            .client_addr = "192.0.2.1",
	                            .helo = "c.test",
	                            .proto = "ESMTP",
	                            .arrival = time_now(),
	                            .body = evbuffer_new()};
	queue_store_new_id(msg.id);
	evbuffer_add_printf(msg.body, "Subject: x\r\n\r\nbody\r\n");
	int done = 0;
	queue_store_submit(qs, &msg, commit_cb, &done);
	assert_int_equal(queue_store_start(qs, base, &error), 0);
	while (done == 0)
		event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(done, 1);

	memset(&f, 0, sizeof(f));
	assert_int_equal(queue_store_log_search(qs, NULL, msg.id, 0, 100, collect, &f, &error), 0);
	assert_int_equal(f.n, 3);
	assert_string_equal(f.events[0], "received");
	assert_string_equal(f.events[1], "received");
	assert_string_equal(f.events[2], "bounced");
	assert_string_equal(f.addresses[2], "gone@dest.test");

	/* appended events; the reply is sanitized */
	char long_reply[1500];
	memset(long_reply, 'x', sizeof(long_reply) - 1);
	long_reply[sizeof(long_reply) - 1] = '\0';
	struct queue_log_event ev[] = {
	    {.queue_id = msg.id,
	     .event = "deferred",
	     .sender = "s@send.test",
	     .address = "user@dest.test",
	     .orig_address = "Info@Ok.Test",
	     .relay = "mx[192.0.2.2]:25",
	     .dsn = "4.2.0",
	     .reply = "451 a\r\nb\x1b"},
	    {.queue_id = msg.id,
	     .event = "sent",
	     .address = "user@dest.test",
	     .orig_address = "Info@Ok.Test",
	     .reply = long_reply},
	    {.queue_id = "OLD", .event = "sent", .address = "user@dest.test", .at = 1000},
	};
	assert_int_equal(queue_store_log_events(qs, ev, 3, &error), 0);
	memset(&f, 0, sizeof(f));
	assert_int_equal(queue_store_log_search(qs, NULL, msg.id, 0, 100, collect, &f, &error), 0);
	assert_int_equal(f.n, 5);
	assert_string_equal(f.events[3], "deferred");
	assert_string_equal(f.events[4], "sent");
	assert_int_equal(strlen(f.reply), QUEUE_LOG_REPLY_MAX);
	memset(&f, 0, sizeof(f));
	assert_int_equal(queue_store_log_search(qs, NULL, msg.id, 0, 4, collect, &f, &error), 0);
	assert_int_equal(f.n, 4); /* max */

	/* by address: address or orig_address, case-insensitive, exact */
	memset(&f, 0, sizeof(f));
	assert_int_equal(queue_store_log_search(qs, "info@ok.test", NULL, 0, 100, collect, &f, &error), 0);
	assert_int_equal(f.n, 3); /* received, deferred, sent */
	assert_string_equal(f.events[1], "deferred");
	memset(&f, 0, sizeof(f));
	assert_int_equal(queue_store_log_search(qs, "USER@DEST.TEST", NULL, 0, 100, collect, &f, &error), 0);
	assert_int_equal(f.n, 4); /* OLD's row last (queue id order) */
	assert_int_equal(f.at[3], 1000);
	memset(&f, 0, sizeof(f));
	assert_int_equal(queue_store_log_search(qs, "ok.test", NULL, 0, 100, collect, &f, &error), 0);
	assert_int_equal(f.n, 0);
	memset(&f, 0, sizeof(f));
	assert_int_equal(queue_store_log_search(qs, "user@dest.test", msg.id, 0, 100, collect, &f, &error),
	                 0);
	assert_int_equal(f.n, 3);

	/* counts since a time; expiry */
	int64_t sent, deferred, bounced, deleted;
	assert_int_equal(queue_store_log_counts(qs, time_now() - 86400, &sent, &deferred, &bounced, &error),
	                 0);
	assert_int_equal(sent, 1);
	assert_int_equal(deferred, 1);
	assert_int_equal(bounced, 1);
	assert_int_equal(queue_store_log_expire(qs, time_now() - 86400, &deleted, &error), 0);
	assert_int_equal(deleted, 1);
	memset(&f, 0, sizeof(f));
	assert_int_equal(queue_store_log_search(qs, "user@dest.test", NULL, 0, 100, collect, &f, &error), 0);
	assert_int_equal(f.n, 3);

	/* removal: 'removed' rows in the deleting transaction */
	assert_int_equal(queue_store_remove(qs, msg.id, "gone\n", &error), 0);
	assert_int_equal(queue_store_remove(qs, msg.id, "gone", &error), 1);
	memset(&f, 0, sizeof(f));
	assert_int_equal(queue_store_log_search(qs, NULL, msg.id, 0, 100, collect, &f, &error), 0);
	assert_int_equal(f.n, 7);
	assert_string_equal(f.events[5], "removed");
	assert_string_equal(f.addresses[5], "user@dest.test");
	assert_string_equal(f.events[6], "removed");
	assert_string_equal(f.reply, "gone?");

	queue_store_close(&qs);
	event_base_free(base);
	unit_rm_tree(tmp);
}

static void test_sanitize(void **state)
{
	(void)state;
	char tmp[256], qdir[300];
	const char *tmpdir = getenv("TMPDIR"), *error;
	struct queue_store *qs;
	struct found f;

	snprintf(tmp, sizeof(tmp), "%s/test_queue_log.XXXXXX", tmpdir != NULL ? tmpdir : "/tmp");
	assert_non_null(mkdtemp(tmp));
	snprintf(qdir, sizeof(qdir), "%s/queue", tmp);
	assert_int_equal(queue_store_open(qdir, &qs, &error), 0);
	struct queue_log_event ev = {.queue_id = "A1", .event = "deferred", .reply = "451 a\r\nb\x1b\x7f"};
	assert_int_equal(queue_store_log_events(qs, &ev, 1, &error), 0);
	memset(&f, 0, sizeof(f));
	assert_int_equal(queue_store_log_search(qs, NULL, "A1", 0, 100, collect, &f, &error), 0);
	assert_int_equal(f.n, 1);
	assert_string_equal(f.reply, "451 a??b??");
	queue_store_close(&qs);
	unit_rm_tree(tmp);
}

int main(void)
{
	const char *error;
	if (log_open("/dev/null", "mx.test", "mxd", &error) < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_delivery_log),
	    cmocka_unit_test(test_sanitize),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
