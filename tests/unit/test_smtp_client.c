/*
 * test_smtp_client: mxd/delivery/smtp_client.c against scripted SMTP servers (smtp_client_fixture.h), in
 * plain text: a delivery, pipelining with mixed recipient replies, dot-stuffing and connection reuse,
 * DATA failures and drops, failover across candidates, HELO fallback, local refusals (SIZE, SMTPUTF8),
 * timeouts and idle connections. The tests check the wire byte for byte. STARTTLS and AUTH:
 * test_smtp_client_tls.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "smtp_client_fixture.h"

/* --- tests ----------------------------------------------------------------------------------------- */

static void test_plain_delivery(void **state)
{
	static const struct step steps[] = {
	    SEND("220 mx.example ESMTP\r\n"),
	    EXPECT("EHLO client.test"),
	    SEND("250-mx.example\r\n250-SIZE 1000000\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
	         "250 ENHANCEDSTATUSCODES\r\n"),
	    EXPECT("MAIL FROM:<a@x.test> SIZE=14 BODY=8BITMIME SMTPUTF8"),
	    SEND("250 2.1.0 Ok\r\n"),
	    EXPECT("RCPT TO:<b@y.test>"),
	    SEND("250 2.1.5 Ok\r\n"),
	    EXPECT("DATA"),
	    SEND("354 go ahead\r\n"),
	    BODY(),
	    SEND("250 2.0.0 Ok: queued as ABC\r\n"),
	    QUIT_END(),
	};
	struct srv *s = srv_start("127.0.0.11", steps);
	struct smtp_client_peer peer;
	peer_set(&peer, "mx1.test", "127.0.0.11", s->port);
	struct smtp_client_options o = default_opts();
	struct smtp_client *conn = client_new(&peer, 1, &o);
	const char *rcpts[] = {"b@y.test"};
	static const char text[] = "Subject: x\n\nhi";
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, text, sizeof(text) - 1);
	m.eightbit = m.smtputf8 = true;
	struct capture cap = {0};
	send_and_quit(&conn, &m, &cap);
	srv_join(s);

	assert_int_equal(cap.calls, 1);
	assert_int_equal(cap.failure, SMTP_CLIENT_OK);
	assert_int_equal(cap.nsent, 1);
	assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_SENT);
	assert_int_equal(cap.rcpts[0].reply.code, 250);
	assert_string_equal(cap.rcpts[0].reply.enh, "2.0.0");
	assert_string_equal(cap.rcpts[0].reply.text, "Ok: queued as ABC");
	assert_string_equal(cap.rcpts[0].diag, "250 2.0.0 Ok: queued as ABC");
	char relay[64];
	snprintf(relay, sizeof(relay), "mx1.test[127.0.0.11]:%d", s->port);
	assert_string_equal(cap.relay, relay);
	assert_false(cap.tls);
	assert_false(cap.reused);
	assert_true(cap.conn_msec >= 0 && cap.xmit_msec >= 0);
	assert_int_equal(s->nbody, 1);
	assert_string_equal(s->bodies[0], "Subject: x\r\n\r\nhi\r\n.\r\n");
	assert_string_equal(smtp_client_status_str(SMTP_CLIENT_DEFERRED), "deferred");
	evbuffer_free(m.body);
	srv_free(&s);
}

static void test_pipelining_mixed_rcpts(void **state)
{
	static const struct step steps[] = {
	    GREET_EHLO("250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n"),
	    UNTIL("DATA\r\n"),
	    SEND("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <c@y.test>: no such user\r\n"
	         "450-4.2.1 mailbox busy\r\n450 4.2.1 try\tlater\x01\r\n354 go\r\n"),
	    BODY(),
	    SEND("250 2.0.0 Ok: queued as P1\r\n"),
	    QUIT_END(),
	};
	struct srv *s = srv_start("127.0.0.12", steps);
	struct smtp_client_peer peer;
	peer_set(&peer, "mx.gmail.test", "127.0.0.12", s->port);
	struct smtp_client_options o = default_opts();
	struct smtp_client *conn = client_new(&peer, 1, &o);
	const char *rcpts[] = {"b@y.test", "c@y.test", "d@y.test"};
	struct smtp_client_msg m = msg_make("", rcpts, 3, "hello\r\n", 7);
	struct capture cap = {0};
	send_and_quit(&conn, &m, &cap);
	srv_join(s);

	/* everything up to DATA came before the server said anything, in one write */
	assert_string_equal(s->until, "MAIL FROM:<>\r\nRCPT TO:<b@y.test>\r\nRCPT TO:<c@y.test>\r\n"
	                              "RCPT TO:<d@y.test>\r\nDATA\r\n");
	assert_int_equal(s->until_reads, 1);
	assert_int_equal(cap.failure, SMTP_CLIENT_OK);
	assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_SENT);
	assert_int_equal(cap.rcpts[1].status, SMTP_CLIENT_BOUNCED);
	assert_int_equal(cap.rcpts[2].status, SMTP_CLIENT_DEFERRED);
	assert_int_equal(cap.nsent, 1);
	assert_int_equal(cap.nbounced, 1);
	assert_int_equal(cap.ndeferred, 1);
	assert_string_equal(cap.rcpts[1].reply.enh, "5.1.1");
	assert_string_equal(cap.rcpts[1].diag,
	                    "host mx.gmail.test[127.0.0.12] said: 550 5.1.1 <c@y.test>: no such "
	                    "user (in reply to RCPT TO command)");
	/* multi-line, enhanced code stripped from each line, controls sanitized */
	assert_int_equal(cap.rcpts[2].reply.code, 450);
	assert_string_equal(cap.rcpts[2].reply.enh, "4.2.1");
	assert_string_equal(cap.rcpts[2].reply.text, "mailbox busy try later?");
	assert_string_equal(s->bodies[0], "hello\r\n.\r\n");
	evbuffer_free(m.body);
	srv_free(&s);
}

/* Dot-stuffing and line ends, byte for byte; all on one connection, which also tests reuse. */
#define ROW(in, wire)                                                                                        \
	{                                                                                                    \
		in, sizeof(in) - 1, wire, sizeof(wire) - 1                                                   \
	}
static const struct {
	const char *in;
	size_t len;
	const char *wire;
	size_t wire_len;
} body_rows[] = {
    ROW("line1\n.dot\r\n..two\rcr only\r\nlast", "line1\r\n..dot\r\n...two\r\ncr only\r\nlast\r\n.\r\n"),
    ROW("", ".\r\n"),
    ROW("ends with crlf\r\n", "ends with crlf\r\n.\r\n"),
    ROW(".\r\n", "..\r\n.\r\n"),
    ROW("a\r\r\nb\n\n.\n", "a\r\n\r\nb\r\n\r\n..\r\n.\r\n"),
    ROW(".", "..\r\n.\r\n"),
    ROW("8bit \xc3\xa9\x00nul\n", "8bit \xc3\xa9\x00nul\r\n.\r\n"),
    /* CRLF lines as the queue stores them (copied a line at a time), with dots, a stray CR, a bare LF */
    ROW("a\r\n.b\r\n\r\n..\r\nc\rd\r\n.e\nf\r\n.",
        "a\r\n..b\r\n\r\n...\r\nc\r\nd\r\n..e\r\nf\r\n..\r\n.\r\n"),
};

#define MSG_STEPS DELIVER("MAIL FROM:<a@x.test>", "RCPT TO:<b@y.test>")

static void test_body_transparency_and_reuse(void **state)
{
	static const struct step steps[] = {
	    GREET_EHLO(""), MSG_STEPS, MSG_STEPS, MSG_STEPS, MSG_STEPS,  MSG_STEPS,
	    MSG_STEPS,      MSG_STEPS, MSG_STEPS, MSG_STEPS, QUIT_END(),
	};
	size_t nrows = MXD_ARRAY_SIZE(body_rows);
	struct srv *s = srv_start("127.0.0.13", steps);
	struct smtp_client_peer peer;
	peer_set(&peer, "mx.test", "127.0.0.13", s->port);
	struct smtp_client_options o = default_opts();
	struct smtp_client *conn = client_new(&peer, 1, &o);
	const char *rcpts[] = {"b@y.test"};
	for (size_t i = 0; i < nrows; i++) {
		struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, body_rows[i].in, body_rows[i].len);
		struct capture cap = {0};
		smtp_client_send(conn, &m, on_result, &cap);
		run_until(&cap.done, 5000);
		assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_SENT);
		assert_true(cap.reusable);
		assert_int_equal(cap.reused, i > 0);
		if (i > 0)
			assert_int_equal(cap.conn_msec, 0);
		evbuffer_free(m.body);
	}

	/* a large body: streamed in chunks, with a CR LF and a leading dot across chunk boundaries */
	size_t big_len = 300000;
	char *big = xmalloc(big_len);
	for (size_t i = 0; i < big_len; i++)
		big[i] = (char)('a' + i % 26);
	big[16383] = '\r', big[16384] = '\n', big[16385] = '.';
	big[32767] = '\n', big[32768] = '.', big[32769] = '.';
	big[50000] = '\r', big[50001] = 'x';
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, big, big_len);
	struct capture cap = {.quit = true, .connp = &conn};
	smtp_client_send(conn, &m, on_result, &cap);
	run_until(&cap.done, 10000);
	run_for(50);
	srv_join(s);
	assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_SENT);
	assert_int_equal(s->connections, 1);

	for (size_t i = 0; i < nrows; i++) {
		size_t wl = body_rows[i].wire_len;
		if (s->body_len[i] != wl || memcmp(s->bodies[i], body_rows[i].wire, wl) != 0)
			fail_msg("row %zu: sent \"%s\"", i, s->bodies[i]);
	}
	/* expected wire form of the large body */
	char *want = xmalloc(2 * big_len + 8);
	size_t w = 0;
	for (size_t i = 0; i < big_len; i++) {
		bool bol = w == 0 || (w >= 2 && want[w - 2] == '\r' && want[w - 1] == '\n');
		if (big[i] == '\r' && i + 1 < big_len && big[i + 1] == '\n')
			continue; /* the LF writes the line end */
		if (big[i] == '\r' || big[i] == '\n') {
			want[w++] = '\r', want[w++] = '\n';
			continue;
		}
		if (bol && big[i] == '.')
			want[w++] = '.';
		want[w++] = big[i];
	}
	memcpy(want + w, "\r\n.\r\n", 5);
	w += 5;
	assert_int_equal(s->body_len[nrows], w);
	assert_memory_equal(s->bodies[nrows], want, w);
	free(want);
	free(big);
	evbuffer_free(m.body);
	srv_free(&s);
}

static void test_data_tempfail_then_rset(void **state)
{
	static const struct step steps[] = {
	    GREET_EHLO(""),
	    EXPECT("MAIL FROM:<a@x.test>"),
	    SEND("250 ok\r\n"),
	    EXPECT("RCPT TO:<b@y.test>"),
	    SEND("250 ok\r\n"),
	    EXPECT("RCPT TO:<c@y.test>"),
	    SEND("550 5.1.1 unknown\r\n"),
	    EXPECT("DATA"),
	    SEND("451 4.3.0 try again later\r\n"),
	    EXPECT("RSET"),
	    SEND("250 ok\r\n"),
	    QUIT_END(),
	};
	struct srv *s = srv_start("127.0.0.14", steps);
	struct smtp_client_peer peer;
	peer_set(&peer, "mx.test", "127.0.0.14", s->port);
	struct smtp_client_options o = default_opts();
	struct smtp_client *conn = client_new(&peer, 1, &o);
	const char *rcpts[] = {"b@y.test", "c@y.test"};
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 2, "x\r\n", 3);
	struct capture cap = {0};
	smtp_client_send(conn, &m, on_result, &cap);
	run_until(&cap.done, 5000);
	assert_int_equal(cap.failure, SMTP_CLIENT_FAIL_DATA);
	assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_DEFERRED);
	assert_int_equal(cap.rcpts[1].status, SMTP_CLIENT_BOUNCED);
	assert_string_equal(cap.rcpts[0].diag,
	                    "host mx.test[127.0.0.14] said: 451 4.3.0 try again later (in reply "
	                    "to DATA command)");
	assert_true(cap.reusable); /* RSET on its way */
	smtp_client_quit(&conn);
	run_for(300);
	srv_join(s);
	evbuffer_free(m.body);
	srv_free(&s);
}

static void test_drop_mid_data(void **state)
{
	static const struct step steps[] = {
	    GREET_EHLO("250-PIPELINING\r\n"),
	    UNTIL("DATA\r\n"),
	    SEND("250 ok\r\n250 ok\r\n354 go\r\n"),
	    READN(4000),
	    CLOSE(),
	    END(),
	};
	struct srv *s = srv_start("127.0.0.15", steps);
	struct smtp_client_peer peer;
	peer_set(&peer, "mx.test", "127.0.0.15", s->port);
	struct smtp_client_options o = default_opts();
	struct smtp_client *conn = client_new(&peer, 1, &o);
	const char *rcpts[] = {"b@y.test"};
	size_t len = 4 * 1024 * 1024;
	char *text = xmalloc(len);
	memset(text, 'x', len);
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, text, len);
	free(text);
	struct capture cap = {0};
	smtp_client_send(conn, &m, on_result, &cap);
	run_until(&cap.done, 10000);
	srv_join(s);
	assert_int_equal(cap.failure, SMTP_CLIENT_FAIL_LOST);
	assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_DEFERRED);
	assert_int_equal(cap.nsent, 0);
	assert_contains(cap.rcpts[0].diag, "lost connection with mx.test[127.0.0.15] while sending");
	assert_string_equal(cap.rcpts[0].reply.enh, "4.4.2");
	assert_false(cap.reusable);
	assert_false(cap.conn_stale);
	smtp_client_free(&conn);
	evbuffer_free(m.body);
	srv_free(&s);
}

static void test_failover_refused_and_421(void **state)
{
	static const struct step busy[] = {SEND("421 4.3.2 mx2 busy\r\n"), CLOSE(), END()};
	static const struct step good[] = {
	    GREET_EHLO(""),
	    DELIVER("MAIL FROM:<a@x.test>", "RCPT TO:<b@y.test>"),
	    QUIT_END(),
	};
	long off = log_offset();
	struct srv *s2 = srv_start("127.0.0.17", busy);
	struct srv *s3 = srv_start("127.0.0.18", good);
	int dead = closed_port("127.0.0.16");
	struct smtp_client_peer peers[3];
	peer_set(&peers[0], "mx1.test", "127.0.0.16", dead);
	peer_set(&peers[1], "mx2.test", "127.0.0.17", s2->port);
	peer_set(&peers[2], "mx3.test", "127.0.0.18", s3->port);
	struct smtp_client_options o = default_opts();
	struct smtp_client *conn = client_new(peers, 3, &o);
	const char *rcpts[] = {"b@y.test"};
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, "x\r\n", 3);
	struct capture cap = {0};
	send_and_quit(&conn, &m, &cap);
	srv_join(s2);
	srv_join(s3);
	assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_SENT);
	char want[128];
	snprintf(want, sizeof(want), "mx3.test[127.0.0.18]:%d", s3->port);
	assert_string_equal(cap.relay, want);
	char *log = log_since(off);
	snprintf(want, sizeof(want), "smtp[%d]: connect to mx1.test[127.0.0.16]:%d: Connection refused",
	         (int)getpid(), dead);
	assert_contains(log, want);
	assert_contains(log, "host mx2.test[127.0.0.17] refused to talk to me: 421 4.3.2 mx2 busy");
	free(log);
	evbuffer_free(m.body);
	srv_free(&s2);
	srv_free(&s3);
}

static void test_all_candidates_fail(void **state)
{
	static const struct step reject[] = {SEND("554 5.7.1 go away\r\n"), CLOSE(), END()};
	struct srv *s = srv_start("127.0.0.19", reject);
	int dead = closed_port("127.0.0.20");
	struct smtp_client_peer peers[2];
	peer_set(&peers[0], "mx1.test", "127.0.0.20", dead);
	peer_set(&peers[1], "mx2.test", "127.0.0.19", s->port);
	struct smtp_client_options o = default_opts();
	struct smtp_client *conn = client_new(peers, 2, &o);
	const char *rcpts[] = {"b@y.test", "c@y.test"};
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 2, "x\r\n", 3);
	struct capture cap = {0};
	smtp_client_send(conn, &m, on_result, &cap);
	run_until(&cap.done, 5000);
	srv_join(s);
	/* a 5xx greeting from the last candidate is still temporary */
	assert_int_equal(cap.failure, SMTP_CLIENT_FAIL_CONNECT);
	assert_int_equal(cap.ndeferred, 2);
	assert_int_equal(cap.reply.code, 554);
	assert_string_equal(cap.diag, "host mx2.test[127.0.0.19] refused to talk to me: 554 5.7.1 go away");
	assert_string_equal(cap.rcpts[1].diag, cap.diag);
	assert_false(cap.conn_stale);
	assert_false(cap.reusable);
	smtp_client_free(&conn);

	/* without a message: the closed callback says why */
	struct closed_capture cc = {0};
	conn = client_new(peers, 1, &o);
	cc.free_it = true;
	cc.connp = &conn;
	smtp_client_set_closed_cb(conn, on_closed, &cc);
	assert_int_equal(cc.calls, 0);
	run_until(&cc.done, 5000);
	assert_null(conn);
	assert_contains(cc.reason, "Connection refused");
	evbuffer_free(m.body);
	srv_free(&s);
}

static void test_helo_fallback(void **state)
{
	static const struct step steps[] = {
	    SEND("220 old server\r\n"),
	    EXPECT("EHLO client.test"),
	    SEND("502 5.5.2 Error: command not recognized\r\n"),
	    EXPECT("HELO client.test"),
	    SEND("250 old\r\n"),
	    EXPECT("MAIL FROM:<a@x.test>"), /* no SIZE= or BODY= without EHLO */
	    SEND("250 ok\r\n"),
	    EXPECT("RCPT TO:<b@y.test>"),
	    SEND("250 ok\r\n"),
	    EXPECT("DATA"),
	    SEND("354 go\r\n"),
	    BODY(),
	    SEND("250 ok\r\n"),
	    QUIT_END(),
	};
	struct srv *s = srv_start("127.0.0.21", steps);
	struct smtp_client_peer peer;
	peer_set(&peer, "old.test", "127.0.0.21", s->port);
	struct smtp_client_options o = default_opts();
	o.tls_level = SMTP_CLIENT_TLS_MAY; /* no STARTTLS without EHLO */
	struct smtp_client *conn = client_new(&peer, 1, &o);
	const char *rcpts[] = {"b@y.test"};
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, "x\r\n", 3);
	m.eightbit = true;
	struct capture cap = {0};
	send_and_quit(&conn, &m, &cap);
	srv_join(s);
	assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_SENT);
	assert_string_equal(cap.rcpts[0].reply.enh, "2.0.0"); /* derived */
	evbuffer_free(m.body);
	srv_free(&s);
}

static void test_size_and_smtputf8_refused_locally(void **state)
{
	static const struct step steps[] = {GREET_EHLO("250-SIZE 100\r\n"), QUIT_END()};
	struct srv *s = srv_start("127.0.0.22", steps);
	struct smtp_client_peer peer;
	peer_set(&peer, "mx.test", "127.0.0.22", s->port);
	struct smtp_client_options o = default_opts();
	struct smtp_client *conn = client_new(&peer, 1, &o);
	const char *rcpts[] = {"b@y.test"};
	char text[1000];
	memset(text, 'x', sizeof(text));
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, text, sizeof(text));
	struct capture cap = {0};
	smtp_client_send(conn, &m, on_result, &cap);
	run_until(&cap.done, 5000);
	assert_int_equal(cap.failure, SMTP_CLIENT_FAIL_LOCAL);
	assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_BOUNCED);
	assert_string_equal(cap.rcpts[0].reply.enh, "5.3.4");
	assert_contains(cap.rcpts[0].diag,
	                "message size 1000 exceeds size limit 100 of server mx.test[127.0.0.22]");
	assert_true(cap.reusable);
	evbuffer_free(m.body);

	m = msg_make("a@x.test", rcpts, 1, "x", 1);
	m.smtputf8 = true;
	struct capture cap2 = {.quit = true, .connp = &conn};
	smtp_client_send(conn, &m, on_result, &cap2);
	assert_int_equal(cap2.calls, 0);
	run_until(&cap2.done, 5000);
	run_for(100);
	srv_join(s);
	assert_int_equal(cap2.rcpts[0].status, SMTP_CLIENT_BOUNCED);
	assert_string_equal(cap2.rcpts[0].reply.enh, "5.6.7");
	assert_not_contains(s->log, "MAIL");
	evbuffer_free(m.body);
	srv_free(&s);
}

static void test_timeouts(void **state)
{
	static const struct step silent[] = {SLEEP(1500), END()};
	static const struct step slow_rcpt[] = {
	    GREET_EHLO(""),
	    EXPECT("MAIL FROM:<a@x.test>"),
	    SEND("250 ok\r\n"),
	    EXPECT("RCPT TO:<b@y.test>"),
	    EOF_(),
	    END(),
	};
	struct srv *s = srv_start("127.0.0.29", silent);
	struct smtp_client_peer peer;
	peer_set(&peer, "mx.test", "127.0.0.29", s->port);
	struct smtp_client_options o = default_opts();
	o.command_timeout_msec = 300;
	struct smtp_client *conn = client_new(&peer, 1, &o);
	const char *rcpts[] = {"b@y.test"};
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, "x\r\n", 3);
	struct capture cap = {0};
	smtp_client_send(conn, &m, on_result, &cap);
	run_until(&cap.done, 5000);
	assert_int_equal(cap.failure, SMTP_CLIENT_FAIL_CONNECT);
	assert_string_equal(cap.diag,
	                    "conversation with mx.test[127.0.0.29] timed out while receiving the initial "
	                    "server greeting");
	smtp_client_free(&conn);
	srv_join(s);
	srv_free(&s);

	s = srv_start("127.0.0.29", slow_rcpt);
	peer_set(&peer, "mx.test", "127.0.0.29", s->port);
	conn = client_new(&peer, 1, &o);
	struct capture cap2 = {0};
	smtp_client_send(conn, &m, on_result, &cap2);
	run_until(&cap2.done, 5000);
	assert_int_equal(cap2.failure, SMTP_CLIENT_FAIL_LOST);
	assert_int_equal(cap2.rcpts[0].status, SMTP_CLIENT_DEFERRED);
	assert_string_equal(cap2.rcpts[0].diag,
	                    "conversation with mx.test[127.0.0.29] timed out while sending RCPT TO");
	assert_false(cap2.reusable);
	smtp_client_free(&conn);
	srv_join(s);
	evbuffer_free(m.body);
	srv_free(&s);
}

static void test_idle_close_and_stale_send(void **state)
{
	static const struct step steps[] = {
	    GREET_EHLO(""), DELIVER("MAIL FROM:<a@x.test>", "RCPT TO:<b@y.test>"),
	    SLEEP(100),     SEND("421 4.4.2 mx idle timeout\r\n"),
	    CLOSE(),        END(),
	};
	struct srv *s = srv_start("127.0.0.30", steps);
	struct smtp_client_peer peer;
	peer_set(&peer, "mx.test", "127.0.0.30", s->port);
	struct smtp_client_options o = default_opts();
	struct smtp_client *conn = client_new(&peer, 1, &o);
	struct closed_capture cc = {0};
	smtp_client_set_closed_cb(conn, on_closed, &cc);
	const char *rcpts[] = {"b@y.test"};
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, "x\r\n", 3);
	struct capture cap = {0};
	smtp_client_send(conn, &m, on_result, &cap);
	run_until(&cap.done, 5000);
	assert_true(cap.reusable);
	assert_int_equal(smtp_client_transactions(conn), 1);
	run_until(&cc.done, 5000);
	srv_join(s);
	assert_int_equal(cc.calls, 1);
	assert_contains(cc.reason, "421 4.4.2 mx idle timeout");
	assert_false(smtp_client_is_reusable(conn));

	/* a message given to the dead connection fails at once, marked stale so it can be retried */
	struct capture cap2 = {0};
	smtp_client_send(conn, &m, on_result, &cap2);
	assert_int_equal(cap2.calls, 0);
	run_until(&cap2.done, 5000);
	assert_int_equal(cap2.failure, SMTP_CLIENT_FAIL_LOST);
	assert_int_equal(cap2.rcpts[0].status, SMTP_CLIENT_DEFERRED);
	assert_true(cap2.conn_stale);
	assert_int_equal(cc.calls, 1);
	smtp_client_free(&conn);
	evbuffer_free(m.body);
	srv_free(&s);
}

static void test_idle_timeout_quits(void **state)
{
	static const struct step steps[] = {GREET_EHLO(""), QUIT_END()};
	struct srv *s = srv_start("127.0.0.34", steps);
	struct smtp_client_peer peer;
	peer_set(&peer, "mx.test", "127.0.0.34", s->port);
	struct smtp_client_options o = default_opts();
	o.idle_timeout_msec = 200;
	struct smtp_client *conn = client_new(&peer, 1, &o);
	struct closed_capture cc = {.free_it = true, .connp = &conn};
	smtp_client_set_closed_cb(conn, on_closed, &cc);
	run_until(&cc.done, 5000);
	srv_join(s);
	assert_null(conn);
	assert_string_equal(cc.reason, "idle connection closed");
	srv_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_plain_delivery, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pipelining_mixed_rcpts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_body_transparency_and_reuse, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_data_tempfail_then_rset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drop_mid_data, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failover_refused_and_421, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_all_candidates_fail, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_helo_fallback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_size_and_smtputf8_refused_locally, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeouts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_idle_close_and_stale_send, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_idle_timeout_quits, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
