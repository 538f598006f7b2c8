/*
 * test_asserts: the test build runs assert(). Optimized build types define NDEBUG, which compiles the
 * asserted contracts out; the top-level CMakeLists.txt removes it from the sanitizer build. This file
 * refuses to compile without asserts, and checks at run time that a contract the product asserts
 * (smtp_client.h: smtp_client_send() while a message is in progress) aborts the process, so the rooms'
 * own objects were built with asserts too, not only this test.
 */
#ifdef NDEBUG
#error "the test build must run assert(): build with MXD_SANITIZE or MXD_ASSERT (CMakeLists.txt)"
#endif

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mxd/delivery/smtp_client.h"

static void on_sent(struct smtp_client *conn, const struct smtp_client_result *result, void *ctx)
{
}

/* In a child: one message in progress on a connection that is still connecting, then a second one. */
static void send_twice(void)
{
	struct event_base *base = event_base_new();
	struct smtp_client_peer peer = {.hostname = "localhost"};
	struct sockaddr_in *sin = (struct sockaddr_in *)&peer.addr;
	sin->sin_family = AF_INET;
	sin->sin_port = htons(9); /* nothing needs to answer: the second send asserts before any I/O */
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	peer.len = sizeof(*sin);
	struct smtp_client_options opts = {.helo_name = "test.example", .tls_level = SMTP_CLIENT_TLS_NONE};
	struct smtp_client *conn = NULL;
	const char *error = NULL;
	if (smtp_client_new(base, &peer, 1, &opts, &conn, &error) < 0)
		_exit(3);
	struct evbuffer *body = evbuffer_new();
	evbuffer_add_printf(body, "Subject: x\r\n\r\nx\r\n");
	const char *rcpts[] = {"a@example.com"};
	struct smtp_client_msg msg = {.id = "T1", .sender = "", .rcpts = rcpts, .nrcpt = 1, .body = body};
	smtp_client_send(conn, &msg, on_sent, NULL);
	smtp_client_send(conn, &msg, on_sent, NULL);
	_exit(0); /* reached only when the assert was compiled out */
}

static void test_product_asserts_abort(void **state)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* the sanitizer's abort_on_error would dump a report first: keep the child quiet and fast */
		setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
		send_twice();
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_product_asserts_abort),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
