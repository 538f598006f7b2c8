/*
 * test_sdnotify: the sd_notify datagrams as systemd receives them. The test binds an AF_UNIX datagram
 * socket (a path in a temp dir, then a name in the abstract namespace), points $NOTIFY_SOCKET at it and
 * checks, row by row, the datagram each call sends; then the watchdog interval read from
 * $WATCHDOG_USEC/$WATCHDOG_PID, the silent no-op without $NOTIFY_SOCKET, the errors, and the watchdog
 * timer on a libevent loop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mxd/common/sdnotify.h"

#include <errno.h>
#include <event2/event.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct listener {
	int fd;
	char dir[64];
	char name[108]; /* what goes into $NOTIFY_SOCKET */
};

/* Bind a datagram socket: a path in a fresh temp dir, or (abstract) "@mxd-test-sdnotify-<pid>". */
static void listener_open(struct listener *l, bool abstract)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	socklen_t len;
	l->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(l->fd >= 0);
	l->dir[0] = '\0';
	if (abstract) {
		snprintf(l->name, sizeof(l->name), "@mxd-test-sdnotify-%d", (int)getpid());
		memcpy(sun.sun_path, l->name, strlen(l->name));
		sun.sun_path[0] = '\0';
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(l->name));
	} else {
		snprintf(l->dir, sizeof(l->dir), "/tmp/test_sdnotify.XXXXXX");
		assert_non_null(mkdtemp(l->dir));
		snprintf(l->name, sizeof(l->name), "%s/notify", l->dir);
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", l->name);
		len = (socklen_t)sizeof(sun);
	}
	assert_int_equal(bind(l->fd, (struct sockaddr *)&sun, len), 0);
	assert_int_equal(setenv("NOTIFY_SOCKET", l->name, 1), 0);
}

static void listener_close(struct listener *l)
{
	close(l->fd);
	if (l->dir[0] != '\0') {
		unlink(l->name);
		rmdir(l->dir);
	}
	unsetenv("NOTIFY_SOCKET");
}

/* The next datagram within timeout_ms, NUL-terminated into buf; "" when none came. */
static const char *listener_recv(struct listener *l, char *buf, size_t size, int timeout_ms)
{
	struct pollfd pfd = {.fd = l->fd, .events = POLLIN};
	buf[0] = '\0';
	if (poll(&pfd, 1, timeout_ms) != 1)
		return buf;
	ssize_t n = recv(l->fd, buf, size - 1, 0);
	assert_true(n >= 0);
	buf[n] = '\0';
	return buf;
}

enum call { CALL_READY, CALL_STOPPING, CALL_WATCHDOG, CALL_STATUS, CALL_SEND };

static const struct message_row {
	enum call call;
	const char *arg;
	const char *expected; /* the datagram systemd reads */
} message_rows[] = {
    {CALL_READY, NULL, "READY=1"},
    {CALL_STOPPING, NULL, "STOPPING=1"},
    {CALL_WATCHDOG, NULL, "WATCHDOG=1"},
    {CALL_STATUS, "accepting mail on 0.0.0.0:25", "STATUS=accepting mail on 0.0.0.0:25"},
    {CALL_STATUS, "two\nlines\r", "STATUS=two lines "}, /* no KEY= smuggled in by a newline */
    {CALL_STATUS, "", "STATUS="},
    {CALL_SEND, "READY=1\nSTATUS=up", "READY=1\nSTATUS=up"},
};

static int call(enum call c, const char *arg)
{
	switch (c) {
	case CALL_READY:
		return sd_notify_ready();
	case CALL_STOPPING:
		return sd_notify_stopping();
	case CALL_WATCHDOG:
		return sd_notify_watchdog();
	case CALL_STATUS:
		return sd_notify_status(arg);
	case CALL_SEND:
		return sd_notify_send(arg);
	}
	return -1;
}

static void check_messages(bool abstract)
{
	struct listener l;
	char buf[1024];
	listener_open(&l, abstract);
	for (size_t i = 0; i < sizeof(message_rows) / sizeof(message_rows[0]); i++) {
		const struct message_row *row = &message_rows[i];
		assert_int_equal(call(row->call, row->arg), 0);
		assert_string_equal(listener_recv(&l, buf, sizeof(buf), 1000), row->expected);
	}
	listener_close(&l);
}

static void test_messages_to_path(void **state)
{
	check_messages(false);
}

static void test_messages_to_abstract_name(void **state)
{
	check_messages(true);
}

static void test_long_status_is_cut(void **state)
{
	struct listener l;
	char text[2000], buf[4096];
	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	listener_open(&l, false);
	assert_int_equal(sd_notify_status(text), 0);
	listener_recv(&l, buf, sizeof(buf), 1000);
	assert_int_equal(strncmp(buf, "STATUS=xxx", 10), 0);
	assert_true(strlen(buf) < 600);
	listener_close(&l);
}

static void test_without_notify_socket_does_nothing(void **state)
{
	unsetenv("NOTIFY_SOCKET");
	for (size_t i = 0; i < sizeof(message_rows) / sizeof(message_rows[0]); i++)
		assert_int_equal(call(message_rows[i].call, message_rows[i].arg), 0);
	setenv("NOTIFY_SOCKET", "", 1);
	assert_int_equal(sd_notify_ready(), 0);
	unsetenv("NOTIFY_SOCKET");
}

static const struct error_row {
	const char *notify_socket;
	int expected_errno; /* 0: any */
} error_rows[] = {
    {"relative/path", EINVAL},
    {"@", EINVAL},
    {"/tmp/test_sdnotify-nobody-listens-here/notify", 0},
    {"/tmp/"
     "this-path-is-far-too-long-for-sun-path-"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxx",
     EINVAL},
};

static void test_errors(void **state)
{
	for (size_t i = 0; i < sizeof(error_rows) / sizeof(error_rows[0]); i++) {
		setenv("NOTIFY_SOCKET", error_rows[i].notify_socket, 1);
		errno = 0;
		assert_int_equal(sd_notify_ready(), -1);
		if (error_rows[i].expected_errno != 0)
			assert_int_equal(errno, error_rows[i].expected_errno);
		else
			assert_int_not_equal(errno, 0);
	}
	unsetenv("NOTIFY_SOCKET");
}

enum pid_kind { PID_UNSET, PID_SELF, PID_OTHER, PID_JUNK };

static const struct interval_row {
	const char *usec; /* NULL: unset */
	enum pid_kind pid;
	uint64_t expected;
} interval_rows[] = {
    {NULL, PID_UNSET, 0},
    {"60000000", PID_UNSET, 60000000},
    {"60000000", PID_SELF, 60000000},
    {"60000000", PID_OTHER, 0},
    {"60000000", PID_JUNK, 0},
    {"0", PID_SELF, 0},
    {"junk", PID_SELF, 0},
    {"", PID_UNSET, 0},
    {"-5", PID_UNSET, 0},
    {"1000", PID_UNSET, 1000},
};

static void test_watchdog_interval(void **state)
{
	for (size_t i = 0; i < sizeof(interval_rows) / sizeof(interval_rows[0]); i++) {
		const struct interval_row *row = &interval_rows[i];
		char pid[32];
		if (row->usec != NULL)
			setenv("WATCHDOG_USEC", row->usec, 1);
		else
			unsetenv("WATCHDOG_USEC");
		switch (row->pid) {
		case PID_UNSET:
			unsetenv("WATCHDOG_PID");
			break;
		case PID_SELF:
		case PID_OTHER:
			snprintf(pid, sizeof(pid), "%d", (int)getpid() + (row->pid == PID_OTHER ? 1 : 0));
			setenv("WATCHDOG_PID", pid, 1);
			break;
		case PID_JUNK:
			setenv("WATCHDOG_PID", "12x", 1);
			break;
		}
		assert_int_equal(sd_notify_watchdog_interval(), row->expected);
	}
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

static void stop_loop(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopexit(arg, NULL);
}

/* A 200 ms watchdog pings at once and every 100 ms while the loop turns; the pending timer is freed
 * with the event base (the sanitizer build would report it otherwise). */
static void test_watchdog_timer(void **state)
{
	struct listener l;
	char buf[256];
	listener_open(&l, false);
	setenv("WATCHDOG_USEC", "200000", 1);
	struct event_base *base = event_base_new();
	assert_non_null(base);
	assert_int_equal(sd_notify_watchdog_start(base), 0);
	struct timeval run = {0, 450000};
	assert_int_equal(event_base_once(base, -1, EV_TIMEOUT, stop_loop, base, &run), 0);
	event_base_dispatch(base);
	event_base_free(base);
	int pings = 0;
	while (strcmp(listener_recv(&l, buf, sizeof(buf), 0), "WATCHDOG=1") == 0)
		pings++;
	assert_string_equal(buf, ""); /* nothing but pings */
	assert_in_range(pings, 4, 6); /* at 0, 100, 200, 300, 400 ms */
	unsetenv("WATCHDOG_USEC");
	listener_close(&l);
}

static void test_watchdog_timer_without_watchdog(void **state)
{
	struct listener l;
	char buf[256];
	listener_open(&l, false);
	unsetenv("WATCHDOG_USEC");
	struct event_base *base = event_base_new();
	assert_int_equal(sd_notify_watchdog_start(base), 0);
	struct timeval run = {0, 50000};
	event_base_once(base, -1, EV_TIMEOUT, stop_loop, base, &run);
	event_base_dispatch(base);
	event_base_free(base);
	assert_string_equal(listener_recv(&l, buf, sizeof(buf), 0), "");
	listener_close(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_messages_to_path),
	    cmocka_unit_test(test_messages_to_abstract_name),
	    cmocka_unit_test(test_long_status_is_cut),
	    cmocka_unit_test(test_without_notify_socket_does_nothing),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_watchdog_interval),
	    cmocka_unit_test(test_watchdog_timer),
	    cmocka_unit_test(test_watchdog_timer_without_watchdog),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
