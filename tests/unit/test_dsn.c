/*
 * Unit tests for mxd/delivery/dsn. Every composed notification goes through a strict MIME walk written here:
 * CRLF-only lines under 998 octets, exactly the expected top-level fields, a boundary that delimits
 * exactly three parts with the expected content types, and a delivery-status of one per-message group
 * and one group per recipient holding only known fields. Hostile inputs (table rows) must not change
 * that structure. When /usr/bin/python3 exists, its email package parses the same output as a check.
 */
#include "dsn_fixture.h"

static void test_bounce_structure(void **state)
{
	struct dsn_report r = base_report(&base_rcpt, 1);
	struct parsed m;
	bool eightbit = true;

	compose_walk(&r, &m, &eightbit);
	assert_false(eightbit);
	assert_string_equal(m.boundary, T_BOUNDARY);
	assert_string_equal(block_get(&m.top, "From"), "Mail Delivery System <MAILER-DAEMON@mx.example.net>");
	assert_string_equal(block_get(&m.top, "To"), "<alice@example.org>");
	assert_string_equal(block_get(&m.top, "Subject"), "Undelivered Mail Returned to Sender");
	assert_string_equal(block_get(&m.top, "Date"), T_NOW_DATE);
	assert_string_equal(block_get(&m.top, "Message-ID"), "<ABC123.1700000000.11223344@mx.example.net>");
	assert_string_equal(block_get(&m.top, "Auto-Submitted"), "auto-replied");
	assert_string_equal(block_get(&m.top, "MIME-Version"), "1.0");
	assert_string_equal(block_get(&m.top, "Content-Transfer-Encoding"), "7bit");
	assert_string_equal(block_get(&m.parts[0].h, "Content-Type"), "text/plain; charset=us-ascii");
	assert_null(block_get(&m.parts[2].h, "Content-Transfer-Encoding"));

	assert_true(part_contains(&m.parts[0], "This is the mail system at host mx.example.net."));
	assert_true(
	    part_contains(&m.parts[0], "your message could not\r\nbe delivered to one or more recipients."));
	assert_true(part_contains(
	    &m.parts[0], "<bob@gmail.test> (expanded from <bob@hosted.example>): host\r\n"
	                 "    gmail-smtp-in.gmail.test said: 550 5.1.1 <bob@gmail.test>: no such user\r\n"));

	const struct block *g = &m.groups[0];
	assert_string_equal(block_get(g, "Reporting-MTA"), "dns; mx.example.net");
	assert_string_equal(block_get(g, "X-Mxd-Queue-ID"), "ABC123");
	assert_string_equal(block_get(g, "X-Mxd-Sender"), "rfc822; alice@example.org");
	assert_string_equal(block_get(g, "Arrival-Date"), "Tue, 14 Nov 2023 21:13:20 +0000");
	g = &m.groups[1];
	assert_string_equal(block_get(g, "Final-Recipient"), "rfc822; bob@gmail.test");
	assert_string_equal(block_get(g, "Original-Recipient"), "rfc822; bob@hosted.example");
	assert_string_equal(block_get(g, "Action"), "failed");
	assert_string_equal(block_get(g, "Status"), "5.1.1");
	assert_string_equal(block_get(g, "Remote-MTA"), "dns; gmail-smtp-in.gmail.test");
	assert_string_equal(block_get(g, "Diagnostic-Code"),
	                    "smtp; 550 5.1.1 <bob@gmail.test>: no such user");
	assert_string_equal(block_get(g, "Last-Attempt-Date"), "Tue, 14 Nov 2023 22:12:20 +0000");
	assert_null(block_get(g, "Will-Retry-Until"));

	/* The original header section, not one octet of the body. */
	assert_int_equal(m.parts[2].body_len, sizeof(T_HEADERS) - 1);
	assert_memory_equal(m.parts[2].body, T_HEADERS, sizeof(T_HEADERS) - 1);
	assert_null(strstr(m.raw, "BODY-SECRET"));
	assert_null(strstr(m.raw, "and so is this one"));
	parsed_free(&m);
}

static void test_multiple_recipients(void **state)
{
	struct dsn_rcpt rc[3] = {base_rcpt, base_rcpt, base_rcpt};
	struct parsed m;

	rc[1].final_rcpt = "carol@outlook.test";
	rc[1].orig_rcpt = NULL;
	rc[1].status = "5.7.1";
	rc[1].remote_mta = "mx.outlook.test";
	rc[1].diagnostic = "550 5.7.1 Service unavailable; client host blocked";
	rc[2].final_rcpt = "dave@gmail.test";
	rc[2].orig_rcpt = "dave@hosted.example";
	rc[2].status = "5.4.6";
	rc[2].remote_mta = NULL;
	rc[2].diag_type = DSN_DIAG_LOCAL;
	rc[2].diagnostic = "mail for gmail.test loops back to myself";
	rc[2].last_attempt = 0;
	struct dsn_report r = base_report(rc, 3);
	compose_walk(&r, &m, NULL);

	assert_string_equal(block_get(&m.groups[1], "Final-Recipient"), "rfc822; bob@gmail.test");
	assert_string_equal(block_get(&m.groups[2], "Final-Recipient"), "rfc822; carol@outlook.test");
	assert_null(block_get(&m.groups[2], "Original-Recipient"));
	assert_string_equal(block_get(&m.groups[2], "Status"), "5.7.1");
	assert_string_equal(block_get(&m.groups[2], "Remote-MTA"), "dns; mx.outlook.test");
	assert_string_equal(block_get(&m.groups[3], "Final-Recipient"), "rfc822; dave@gmail.test");
	assert_string_equal(block_get(&m.groups[3], "Original-Recipient"), "rfc822; dave@hosted.example");
	assert_null(block_get(&m.groups[3], "Remote-MTA"));
	assert_null(block_get(&m.groups[3], "Last-Attempt-Date"));
	assert_string_equal(block_get(&m.groups[3], "Diagnostic-Code"),
	                    "X-mxd; mail for gmail.test loops back to myself");

	assert_true(part_contains(&m.parts[0], "\r\n<bob@gmail.test> (expanded from"));
	assert_true(
	    part_contains(&m.parts[0], "\r\n<carol@outlook.test>: host mx.outlook.test said: 550 5.7.1"));
	assert_true(part_contains(
	    &m.parts[0],
	    "\r\n<dave@gmail.test> (expanded from <dave@hosted.example>): mail for gmail.test\r\n"
	    "    loops back to myself\r\n"));
	parsed_free(&m);
}

static void test_delay(void **state)
{
	struct dsn_rcpt rc = base_rcpt;
	struct parsed m;

	rc.action = DSN_ACTION_DELAYED;
	rc.status = NULL; /* defaults to 4.0.0 */
	rc.diagnostic = "451 4.7.1 Try again later";
	rc.retry_until = T_NOW + 4 * 86400;
	struct dsn_report r = base_report(&rc, 1);
	r.kind = DSN_KIND_DELAY;
	r.arrival_time = T_NOW - 5 * 3600 - 10;
	compose_walk(&r, &m, NULL);

	assert_string_equal(block_get(&m.top, "Subject"), "Delayed Mail (still being retried)");
	assert_string_equal(block_get(&m.groups[1], "Action"), "delayed");
	assert_string_equal(block_get(&m.groups[1], "Status"), "4.0.0");
	assert_string_equal(block_get(&m.groups[1], "Will-Retry-Until"), "Sat, 18 Nov 2023 22:13:20 +0000");
	assert_true(
	    part_contains(&m.parts[0], "This is a warning only; you do not need to resend your message."));
	assert_true(part_contains(
	    &m.parts[0], "Your message could not be delivered for 5 hour(s) to one or more recipients.\r\n"
	                 "It will be retried until Sat, 18 Nov 2023 22:13:20 +0000.\r\n"));
	assert_false(part_contains(&m.parts[0], "I'm sorry"));
	parsed_free(&m);
}

static void test_utf8_address(void **state)
{
	struct dsn_rcpt rc = base_rcpt;
	struct parsed m;
	bool eightbit = false;

	rc.final_rcpt = "j\xc3\xb6rg@b\xc3\xbc"
	                "cher.example";
	rc.orig_rcpt = "j+rg=x@hosted.example";
	rc.diagnostic = "550 5.1.1 <j\xc3\xb6rg@b\xc3\xbc"
	                "cher.example>: unknown";
	struct dsn_report r = base_report(&rc, 1);
	compose_walk(&r, &m, &eightbit);

	assert_true(eightbit);
	assert_string_equal(block_get(&m.top, "Content-Transfer-Encoding"), "8bit");
	assert_string_equal(block_get(&m.parts[0].h, "Content-Type"), "text/plain; charset=utf-8");
	assert_string_equal(block_get(&m.parts[0].h, "Content-Transfer-Encoding"), "8bit");
	/* RFC 6533 utf-8 type, 7-bit xtext form; ASCII addresses keep rfc822 */
	assert_string_equal(block_get(&m.groups[1], "Final-Recipient"),
	                    "utf-8; j\\x{F6}rg@b\\x{FC}cher.example");
	assert_string_equal(block_get(&m.groups[1], "Original-Recipient"), "rfc822; j+rg=x@hosted.example");
	assert_string_equal(block_get(&m.groups[1], "Diagnostic-Code"),
	                    "smtp; 550 5.1.1 <j?rg@b?cher.example>: unknown");
	assert_true(part_contains(&m.parts[0], "<j\xc3\xb6rg@b\xc3\xbc"
	                                       "cher.example> (expanded from"));
	parsed_free(&m);

	/* a UTF-8 sender: To: keeps it (the caller sends with SMTPUTF8), X-Mxd-Sender uses utf-8 type */
	rc = base_rcpt;
	r = base_report(&rc, 1);
	r.sender = "\xe7\x94\xa8\xe6\x88\xb7@example.org";
	compose_walk(&r, &m, &eightbit);
	assert_true(eightbit);
	assert_string_equal(block_get(&m.top, "To"), "<\xe7\x94\xa8\xe6\x88\xb7@example.org>");
	assert_string_equal(block_get(&m.groups[0], "X-Mxd-Sender"), "utf-8; \\x{7528}\\x{6237}@example.org");
	parsed_free(&m);
}

static void test_boundary_random(void **state)
{
	struct dsn_report r = base_report(&base_rcpt, 1);
	struct parsed m1, m2;

	r.nonce = 0;
	r.now = 0;
	compose_walk(&r, &m1, NULL);
	compose_walk(&r, &m2, NULL);
	assert_true(strncmp(m1.boundary, "ABC123.", 7) == 0);
	assert_string_not_equal(m1.boundary, m2.boundary);
	assert_string_not_equal(block_get(&m1.top, "Message-ID"), block_get(&m2.top, "Message-ID"));
	parsed_free(&m1);
	parsed_free(&m2);
}

static void test_compose_errors(void **state)
{
	struct dsn_rcpt rc = base_rcpt;
	struct dsn_rcpt no_addr = base_rcpt;
	struct evbuffer *out = evbuffer_new();
	no_addr.final_rcpt = "";
	struct {
		const char *sender, *host, *qid;
		const struct dsn_rcpt *rcpts;
		size_t n;
	} rows[] = {
	    {"", "mx.example.net", "Q1", &rc, 1},
	    {"<>", "mx.example.net", "Q1", &rc, 1},
	    {"\r\n", "mx.example.net", "Q1", &rc, 1},
	    {NULL, "mx.example.net", "Q1", &rc, 1},
	    {"a@b.example", NULL, "Q1", &rc, 1},
	    {"a@b.example", "\r\n", "Q1", &rc, 1},
	    {"a@b.example", "mx.example.net", NULL, &rc, 1},
	    {"a@b.example", "mx.example.net", "Q1", NULL, 0},
	    {"a@b.example", "mx.example.net", "Q1", &rc, 0},
	    {"a@b.example", "mx.example.net", "Q1", &no_addr, 1},
	};

	for (size_t i = 0; i < MXD_ARRAY_SIZE(rows); i++) {
		struct dsn_report r = base_report(rows[i].rcpts, rows[i].n);
		const char *error = NULL;
		r.sender = rows[i].sender;
		r.myhostname = rows[i].host;
		r.queue_id = rows[i].qid;
		print_message("row %zu\n", i);
		assert_int_equal(dsn_compose(&r, out, NULL, &error), -1);
		assert_non_null(error);
		assert_int_equal(evbuffer_get_length(out), 0);
	}
	evbuffer_free(out);
}

static void test_should_send(void **state)
{
	static const struct {
		const char *sender;
		bool send;
	} rows[] = {
	    {"alice@example.org", true},
	    {"postmaster@example.org", true},
	    {"mailer-daemon-fan@example.org", true},
	    {"daemon@example.org", true},
	    {"j\xc3\xb6rg@example.org", true},
	    {"", false},
	    {"<>", false},
	    {NULL, false},
	    {"MAILER-DAEMON@mx.example.net", false},
	    {"mailer-daemon@example.org", false},
	    {"Mailer-Daemon@example.org", false},
	    {"MAILER_DAEMON@example.org", false},
	    {"mailerdaemon@example.org", false},
	    {"MAILER-DAEMON", false},
	};

	for (size_t i = 0; i < MXD_ARRAY_SIZE(rows); i++) {
		print_message("row %zu: %s\n", i, rows[i].sender ? rows[i].sender : "(null)");
		assert_int_equal(dsn_should_send(rows[i].sender), rows[i].send);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bounce_structure),
	    cmocka_unit_test(test_multiple_recipients),
	    cmocka_unit_test(test_delay),
	    cmocka_unit_test(test_utf8_address),
	    cmocka_unit_test(test_boundary_random),
	    cmocka_unit_test(test_compose_errors),
	    cmocka_unit_test(test_should_send),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
