/*
 * test_smtp_client_tls: mxd/delivery/smtp_client.c's STARTTLS (may, encrypt, verify) and AUTH against
 * scripted SMTP servers (smtp_client_fixture.h), with a test CA and "mx.test" made with the openssl
 * command at start. The AUTH mechanisms a scripted server cannot easily check (CRAM-MD5, LOGIN) run
 * against tests/lib/sinkmx.py (Debian's /usr/bin/python3 with python3-aiosmtpd), started as a subprocess.
 * Nothing leaves loopback.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "smtp_client_fixture.h"

static void test_starttls_may_untrusted(void **state)
{
	static const struct step steps[] = {
	    GREET_EHLO("250-STARTTLS\r\n"),
	    EXPECT("STARTTLS"),
	    SEND("220 2.0.0 Ready to start TLS\r\n"),
	    TLS(),
	    EXPECT("EHLO client.test"),
	    SEND("250 mx\r\n"),
	    DELIVER("MAIL FROM:<a@x.test>", "RCPT TO:<b@y.test>"),
	    QUIT_END(),
	};
	long off = log_offset();
	struct srv *s = srv_start("127.0.0.23", steps);
	struct smtp_client_peer peer;
	peer_set(&peer, "mx.test", "127.0.0.23", s->port);
	struct smtp_client_options o = default_opts();
	o.tls_level = SMTP_CLIENT_TLS_MAY; /* the test CA is not trusted here: fine for "may" */
	struct smtp_client *conn = client_new(&peer, 1, &o);
	const char *rcpts[] = {"b@y.test"};
	/* a body large enough to be streamed through the TLS layer in many pieces */
	size_t len = 1000000;
	char *text = xmalloc(len);
	for (size_t i = 0; i < len; i++)
		text[i] = i % 100 == 99 ? '\n' : (char)('a' + i % 26);
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, text, len);
	free(text);
	struct capture cap = {0};
	send_and_quit(&conn, &m, &cap);
	srv_join(s);
	assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_SENT);
	assert_true(cap.tls);
	assert_int_equal(s->body_len[0], len + len / 100 + 3); /* every LF became CRLF, then ".\r\n" */
	char *log = log_since(off);
	assert_contains(log, "Untrusted TLS connection established to mx.test[127.0.0.23]");
	free(log);
	evbuffer_free(m.body);
	srv_free(&s);
}

static void test_starttls_may_falls_back_to_plaintext(void **state)
{
	static const struct step steps[] = {
	    GREET_EHLO("250-STARTTLS\r\n"),
	    EXPECT("STARTTLS"),
	    SEND("220 go\r\n"),
	    SEND("this is not TLS\r\n\r\n\r\n"),
	    EOF_(),
	    ACCEPT(),
	    /* the same server again: STARTTLS is offered but not used this time */
	    GREET_EHLO("250-STARTTLS\r\n"),
	    DELIVER("MAIL FROM:<a@x.test>", "RCPT TO:<b@y.test>"),
	    QUIT_END(),
	};
	long off = log_offset();
	struct srv *s = srv_start("127.0.0.33", steps);
	struct smtp_client_peer peer;
	peer_set(&peer, "mx.test", "127.0.0.33", s->port);
	struct smtp_client_options o = default_opts();
	o.tls_level = SMTP_CLIENT_TLS_MAY;
	struct smtp_client *conn = client_new(&peer, 1, &o);
	const char *rcpts[] = {"b@y.test"};
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, "x\r\n", 3);
	struct capture cap = {0};
	send_and_quit(&conn, &m, &cap);
	srv_join(s);
	assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_SENT);
	assert_false(cap.tls);
	assert_int_equal(s->connections, 2);
	char *log = log_since(off);
	assert_contains(log, "Cannot start TLS with mx.test[127.0.0.33]: ");
	assert_contains(log, "; trying plaintext");
	free(log);
	evbuffer_free(m.body);
	srv_free(&s);
}

static void test_starttls_encrypt_not_offered(void **state)
{
	static const struct step steps[] = {GREET_EHLO(""), EOF_(), END()};
	struct srv *s = srv_start("127.0.0.24", steps);
	struct smtp_client_peer peer;
	peer_set(&peer, "mx.test", "127.0.0.24", s->port);
	struct smtp_client_options o = default_opts();
	o.tls_level = SMTP_CLIENT_TLS_ENCRYPT;
	struct smtp_client *conn = client_new(&peer, 1, &o);
	const char *rcpts[] = {"b@y.test"};
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, "x\r\n", 3);
	struct capture cap = {0};
	smtp_client_send(conn, &m, on_result, &cap);
	run_until(&cap.done, 5000);
	srv_join(s);
	assert_int_equal(cap.failure, SMTP_CLIENT_FAIL_TLS);
	assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_DEFERRED);
	assert_string_equal(cap.diag, "TLS is required, but was not offered by host mx.test[127.0.0.24]");
	assert_not_contains(s->log, "MAIL");
	smtp_client_free(&conn);
	evbuffer_free(m.body);
	srv_free(&s);
}

static void test_starttls_verify(void **state)
{
	static const struct step steps[] = {
	    /* first connection: the certificate does not match "wrong.test" */
	    GREET_EHLO("250-STARTTLS\r\n"),
	    EXPECT("STARTTLS"),
	    SEND("220 go\r\n"),
	    TLS_EOF(),
	    ACCEPT(),
	    /* second connection: "mx.test" matches */
	    GREET_EHLO("250-STARTTLS\r\n"),
	    EXPECT("STARTTLS"),
	    SEND("220 go\r\n"),
	    TLS(),
	    EXPECT("EHLO client.test"),
	    SEND("250 mx\r\n"),
	    DELIVER("MAIL FROM:<a@x.test>", "RCPT TO:<b@y.test>"),
	    QUIT_END(),
	};
	long off = log_offset();
	struct srv *s = srv_start("127.0.0.25", steps);
	struct smtp_client_peer peers[2];
	peer_set(&peers[0], "wrong.test", "127.0.0.25", s->port);
	peer_set(&peers[1], "mx.test", "127.0.0.25", s->port);
	struct smtp_client_options o = default_opts();
	o.tls_level = SMTP_CLIENT_TLS_VERIFY;
	SSL_CTX *ctx = NULL;
	const char *error = NULL;
	assert_int_equal(smtp_client_tls_ctx_new(ca_file, &ctx, &error), 0);
	o.tls_ctx = ctx;
	struct smtp_client *conn = client_new(peers, 2, &o);
	SSL_CTX_free(ctx); /* the connection holds its own reference */
	const char *rcpts[] = {"b@y.test"};
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, "x\r\n", 3);
	struct capture cap = {0};
	send_and_quit(&conn, &m, &cap);
	srv_join(s);
	assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_SENT);
	assert_true(cap.tls);
	char want[128];
	snprintf(want, sizeof(want), "mx.test[127.0.0.25]:%d", s->port);
	assert_string_equal(cap.relay, want);
	char *log = log_since(off);
	assert_contains(
	    log, "server certificate verification failed for wrong.test[127.0.0.25]: hostname mismatch");
	assert_contains(log, "Verified TLS connection established to mx.test[127.0.0.25]");
	free(log);
	evbuffer_free(m.body);
	srv_free(&s);

	/* a CA file that cannot be read */
	assert_int_equal(smtp_client_tls_ctx_new("/nonexistent/ca.pem", &ctx, &error), -1);
	assert_contains(error, "/nonexistent/ca.pem");
	enum smtp_client_tls_level level;
	assert_int_equal(smtp_client_tls_level_parse("encrypt", &level), 0);
	assert_int_equal(level, SMTP_CLIENT_TLS_ENCRYPT);
	assert_int_equal(smtp_client_tls_level_parse("sometimes", &level), -1);
}

static void test_auth_plain_over_tls(void **state)
{
	static const struct step steps[] = {
	    GREET_EHLO("250-AUTH LOGIN\r\n250-STARTTLS\r\n"),
	    EXPECT("STARTTLS"),
	    SEND("220 go\r\n"),
	    TLS(),
	    EXPECT("EHLO client.test"),
	    SEND("250-mx\r\n250-AUTH PLAIN LOGIN\r\n250 PIPELINING\r\n"),
	    EXPECT("AUTH PLAIN AHVzZXIAc2VjcmV0"),
	    SEND("235 2.7.0 Authentication successful\r\n"),
	    UNTIL("DATA\r\n"),
	    SEND("250 ok\r\n250 ok\r\n354 go\r\n"),
	    BODY(),
	    SEND("250 ok\r\n"),
	    QUIT_END(),
	};
	long off = log_offset();
	struct srv *s = srv_start("127.0.0.26", steps);
	struct smtp_client_peer peer;
	peer_set(&peer, "mx.test", "127.0.0.26", s->port);
	struct smtp_client_options o = default_opts();
	o.tls_level = SMTP_CLIENT_TLS_ENCRYPT; /* not "verify": the certificate is still checked for AUTH */
	o.tls_ca_file = ca_file;
	o.auth_username = "user";
	o.auth_password = "secret";
	struct smtp_client *conn = client_new(&peer, 1, &o);
	const char *rcpts[] = {"b@y.test"};
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, "x\r\n", 3);
	struct capture cap = {0};
	send_and_quit(&conn, &m, &cap);
	srv_join(s);
	assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_SENT);
	char *log = log_since(off);
	assert_contains(log, "Verified TLS connection established to mx.test[127.0.0.26]");
	assert_contains(log, "> AUTH PLAIN");
	assert_not_contains(log, "unverified");
	assert_not_contains(log, "AHVzZXIAc2VjcmV0");
	assert_not_contains(log, "secret");
	free(log);
	evbuffer_free(m.body);
	srv_free(&s);
}

/* TLS whose certificate does not verify (the test CA is not trusted here) with credentials: "may" and
 * "encrypt" alike, no AUTH goes out and the message is deferred (4.7.5), unless the hop allows it. */
static void test_auth_refused_over_unverified_tls(void **state)
{
	static const enum smtp_client_tls_level levels[] = {SMTP_CLIENT_TLS_MAY, SMTP_CLIENT_TLS_ENCRYPT};
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		static const struct step steps[] = {
		    GREET_EHLO("250-STARTTLS\r\n"),
		    EXPECT("STARTTLS"),
		    SEND("220 go\r\n"),
		    TLS(),
		    EXPECT("EHLO client.test"),
		    SEND("250-mx\r\n250 AUTH PLAIN LOGIN\r\n"),
		    EOF_(),
		    END(),
		};
		long off = log_offset();
		struct srv *s = srv_start("127.0.0.29", steps);
		struct smtp_client_peer peer;
		peer_set(&peer, "mx.test", "127.0.0.29", s->port);
		struct smtp_client_options o = default_opts();
		o.tls_level = levels[i];
		o.auth_username = "user";
		o.auth_password = "secret";
		struct smtp_client *conn = client_new(&peer, 1, &o);
		const char *rcpts[] = {"b@y.test"};
		struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, "x\r\n", 3);
		struct capture cap = {0};
		smtp_client_send(conn, &m, on_result, &cap);
		run_until(&cap.done, 8000);
		srv_join(s);
		assert_int_equal(cap.failure, SMTP_CLIENT_FAIL_AUTH);
		assert_int_equal(cap.reply.code, 0);
		assert_string_equal(cap.reply.enh, "4.7.5");
		assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_DEFERRED);
		assert_contains(cap.diag, "AUTH refused over unverified TLS with mx.test[127.0.0.29]");
		assert_not_contains(s->log, "AUTH");
		assert_not_contains(s->log, "MAIL");
		char *log = log_since(off);
		assert_contains(log, "AUTH refused over unverified TLS with mx.test[127.0.0.29]");
		assert_contains(log, "allow-unverified-tls");
		free(log);
		smtp_client_free(&conn);
		evbuffer_free(m.body);
		srv_free(&s);
	}
}

static void test_auth_unverified_tls_allowed(void **state)
{
	static const struct step steps[] = {
	    GREET_EHLO("250-STARTTLS\r\n"),
	    EXPECT("STARTTLS"),
	    SEND("220 go\r\n"),
	    TLS(),
	    EXPECT("EHLO client.test"),
	    SEND("250-mx\r\n250 AUTH PLAIN\r\n"),
	    EXPECT("AUTH PLAIN AHVzZXIAc2VjcmV0"),
	    SEND("235 2.7.0 Authentication successful\r\n"),
	    DELIVER("MAIL FROM:<a@x.test>", "RCPT TO:<b@y.test>"),
	    QUIT_END(),
	};
	long off = log_offset();
	struct srv *s = srv_start("127.0.0.30", steps);
	struct smtp_client_peer peer;
	peer_set(&peer, "mx.test", "127.0.0.30", s->port);
	struct smtp_client_options o = default_opts();
	o.tls_level = SMTP_CLIENT_TLS_ENCRYPT;
	o.auth_username = "user";
	o.auth_password = "secret";
	o.auth_allow_unverified_tls = true;
	struct smtp_client *conn = client_new(&peer, 1, &o);
	const char *rcpts[] = {"b@y.test"};
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, "x\r\n", 3);
	struct capture cap = {0};
	send_and_quit(&conn, &m, &cap);
	srv_join(s);
	assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_SENT);
	char *log = log_since(off);
	assert_contains(log, "warning: mx.test[127.0.0.30]: sending AUTH credentials over unverified TLS");
	assert_not_contains(log, "secret");
	free(log);
	evbuffer_free(m.body);
	srv_free(&s);
}

static void test_auth_refused_over_plaintext(void **state)
{
	static const struct step steps[] = {GREET_EHLO("250-AUTH PLAIN LOGIN\r\n"), EOF_(), END()};
	struct srv *s = srv_start("127.0.0.27", steps);
	struct smtp_client_peer peer;
	peer_set(&peer, "relay.test", "127.0.0.27", s->port);
	struct smtp_client_options o = default_opts();
	o.tls_level = SMTP_CLIENT_TLS_MAY; /* STARTTLS is not offered */
	o.auth_username = "user";
	o.auth_password = "secret";
	struct smtp_client *conn = client_new(&peer, 1, &o);
	const char *rcpts[] = {"b@y.test"};
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, "x\r\n", 3);
	struct capture cap = {0};
	smtp_client_send(conn, &m, on_result, &cap);
	run_until(&cap.done, 5000);
	srv_join(s);
	assert_int_equal(cap.failure, SMTP_CLIENT_FAIL_AUTH);
	assert_int_equal(cap.reply.code, 0);
	assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_DEFERRED);
	assert_contains(cap.diag, "AUTH refused over a plaintext connection");
	assert_not_contains(s->log, "AUTH");
	assert_not_contains(s->log, "AHVzZXIAc2VjcmV0");
	smtp_client_free(&conn);
	evbuffer_free(m.body);
	srv_free(&s);
}

static void test_auth_rejected_535(void **state)
{
	static const struct step steps[] = {
	    GREET_EHLO("250-AUTH PLAIN\r\n"),
	    EXPECT("AUTH PLAIN AHVzZXIAd3Jvbmc="),
	    SEND("535 5.7.8 Error: authentication failed\r\n"),
	    EOF_(),
	    END(),
	};
	struct srv *s = srv_start("127.0.0.28", steps);
	struct smtp_client_peer peer;
	peer_set(&peer, "relay.test", "127.0.0.28", s->port);
	struct smtp_client_options o = default_opts();
	o.auth_username = "user";
	o.auth_password = "wrong";
	o.auth_allow_plaintext = true;
	struct smtp_client *conn = client_new(&peer, 1, &o);
	const char *rcpts[] = {"b@y.test"};
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, "x\r\n", 3);
	struct capture cap = {0};
	smtp_client_send(conn, &m, on_result, &cap);
	run_until(&cap.done, 5000);
	srv_join(s);
	assert_int_equal(cap.failure, SMTP_CLIENT_FAIL_AUTH);
	assert_int_equal(cap.reply.code, 535);
	assert_string_equal(cap.reply.enh, "5.7.8");
	assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_DEFERRED);
	assert_string_equal(cap.diag,
	                    "SASL authentication failed; server relay.test[127.0.0.28] said: 535 5.7.8 "
	                    "Error: authentication failed");
	smtp_client_free(&conn);
	evbuffer_free(m.body);
	srv_free(&s);
}

/* --- against sinkmx.py ----------------------------------------------------------------------------- */

struct sink {
	pid_t pid;
	char ip[32];
	int port;
	char store[160];
};

/* Start sinkmx.py on ip with the extra arguments (NULL-terminated). */
static void sink_start(struct sink *k, const char *ip, const char *const *extra)
{
	const char *argv[40];
	char listen[64];
	int n = 0;
	snprintf(listen, sizeof(listen), "%s:0", ip);
	snprintf(k->store, sizeof(k->store), "%s/store-%s", tmpdir, ip);
	str_copy(k->ip, sizeof(k->ip), ip);
	argv[n++] = PYTHON;
	argv[n++] = sink_script;
	argv[n++] = "--listen";
	argv[n++] = listen;
	argv[n++] = "--store";
	argv[n++] = k->store;
	while (*extra != NULL && n < 38)
		argv[n++] = *extra++;
	argv[n] = NULL;
	int out[2];
	assert_int_equal(pipe(out), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(out[1], STDOUT_FILENO);
		close(out[0]);
		close(out[1]);
		setenv("PYTHONDONTWRITEBYTECODE", "1", 1);
		execv(PYTHON, (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	k->pid = pid;
	char line[128];
	size_t len = 0;
	int64_t deadline = time_mono_msec() + 20000;
	while (len < sizeof(line) - 1 && (len == 0 || line[len - 1] != '\n')) {
		struct pollfd p = {.fd = out[0], .events = POLLIN};
		int64_t left = deadline - time_mono_msec();
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		ssize_t r = read(out[0], line + len, sizeof(line) - 1 - len);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(out[0]);
	line[len] = '\0';
	char want[48];
	snprintf(want, sizeof(want), "READY %s:%%d", ip);
	if (sscanf(line, want, &k->port) != 1)
		fail_msg("sinkmx.py did not start (said \"%s\"): it needs %s with python3-aiosmtpd", line,
		         PYTHON);
}

static void sink_stop(struct sink *k)
{
	kill(k->pid, SIGTERM);
	waitpid(k->pid, NULL, 0);
}

/* The one message file in the sink's store (caller frees). */
static char *sink_message(struct sink *k)
{
	DIR *d = opendir(k->store);
	assert_non_null(d);
	struct dirent *e;
	char path[512] = "";
	while ((e = readdir(d)) != NULL)
		if (strstr(e->d_name, ".msg") != NULL && e->d_name[0] != '.')
			snprintf(path, sizeof(path), "%s/%s", k->store, e->d_name);
	closedir(d);
	assert_true(path[0] != '\0');
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char *buf = xcalloc(1, 65536);
	size_t n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void sink_deliver(const char *ip, const char *mech)
{
	const char *extra[] = {"--tls-cert",        cert_file, "--tls-key",       key_file,
	                       "--auth-user",       "user",    "--auth-password", "pass word",
	                       "--auth-mechanisms", mech,      "--require-auth",  NULL};
	struct sink k;
	long off = log_offset();
	sink_start(&k, ip, extra);
	struct smtp_client_peer peer;
	peer_set(&peer, "mx.test", ip, k.port);
	struct smtp_client_options o = default_opts();
	o.tls_level = SMTP_CLIENT_TLS_VERIFY;
	o.tls_ca_file = ca_file;
	o.auth_username = "user";
	o.auth_password = "pass word";
	struct smtp_client *conn = client_new(&peer, 1, &o);
	const char *rcpts[] = {"b@y.test", "c@y.test"};
	static const char body[] = "Subject: t\n\n.x\n";
	struct smtp_client_msg m = msg_make("", rcpts, 2, body, sizeof(body) - 1);
	struct capture cap = {0};
	send_and_quit(&conn, &m, &cap);
	sink_stop(&k);
	if (cap.nsent != 2)
		fail_msg("%s: %s / %s", mech, cap.diag, cap.rcpts[0].diag);
	char *text = sink_message(&k);
	assert_contains(text, "\"mail_from\": \"\"");
	assert_contains(text, "\"rcpt_tos\": [\"b@y.test\", \"c@y.test\"]");
	assert_contains(text, "\"tls\": true");
	assert_contains(text, "\"auth_user\": \"user\"");
	assert_contains(text, "}\nSubject: t\r\n\r\n.x\r\n");
	free(text);
	char *log = log_since(off);
	assert_not_contains(log, "pass word");
	free(log);
	evbuffer_free(m.body);
}

static void test_sinkmx_auth_cram_md5_and_login(void **state)
{
	sink_deliver("127.0.0.31", "CRAM-MD5");
	sink_deliver("127.0.0.32", "LOGIN");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_starttls_may_untrusted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_starttls_may_falls_back_to_plaintext, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_starttls_encrypt_not_offered, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_starttls_verify, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_auth_plain_over_tls, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_auth_refused_over_unverified_tls, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_auth_unverified_tls_allowed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_auth_refused_over_plaintext, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_auth_rejected_535, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sinkmx_auth_cram_md5_and_login, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
