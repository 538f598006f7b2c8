/*
 * test_smtp_server: the listener's connection caps, in process over loopback sockets. Each row sets
 * smtpd_connection_limit and smtpd_client_connection_limit and runs a script of clients connecting
 * from and leaving 127.0.0.x; every connection's first line must be the banner (220) or the 421 4.7.0
 * of the cap it hit, and a closed connection must give its place back. Then what smtp_server_bind
 * refuses, and smtp_server_shutdown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mxd/common/config.h"
#include "mxd/common/util.h"
#include "mxd/smtpd/policy.h"
#include "mxd/smtpd/smtp_server.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HOST        "mx.test"
#define BANNER      "220 " HOST " ESMTP mxd-test"
#define BUSY        "421 4.7.0 " HOST " Error: too many connections"
#define BUSY_CLIENT "421 4.7.0 " HOST " Error: too many connections from your address"
#define MAX_CLIENTS 16
#define WAIT_MSEC   5000

/* A script: steps separated by spaces, "+a" a client connecting from 127.0.0.1 ("+b" from 127.0.0.2,
 * ...), "-a" the oldest open connection from 127.0.0.1 closing. want: the first line each "+" got,
 * "ok" for the banner, "busy" for the total cap, "client" for the per-address cap. */
struct limit_row {
	int64_t total, per_client;
	const char *script;
	const char *want;
};

static const struct limit_row rows[] = {
    /* under both caps */
    {10, 10, "+a +a +b +c", "ok ok ok ok"},
    /* the per-address cap counts each address apart */
    {10, 2, "+a +a +a +b +b +b +a", "ok ok client ok ok client client"},
    {10, 1, "+a +b +c +a +b +c", "ok ok ok client client client"},
    /* the total cap counts every address */
    {3, 10, "+a +b +c +d +a", "ok ok ok busy busy"},
    {2, 1, "+a +a +b +c", "ok client ok busy"},
    /* both caps reached: the total one answers */
    {1, 1, "+a +a", "ok busy"},
    /* a closed connection gives its place back, to its address and to the total */
    {10, 2, "+a +a +a -a +a +a", "ok ok client ok client"},
    {2, 10, "+a +b +c -a +c +d", "ok ok busy ok busy"},
    {2, 1, "+a +b -a -b +b +a +c", "ok ok ok ok busy"},
    /* a refused connection takes no place */
    {2, 1, "+a +a +a +b", "ok client client ok"},
    {1, 10, "+a +b +b -a +b", "ok busy busy ok"},
};

struct client {
	int fd;
	char letter;
};

struct harness {
	struct event_base *base;
	struct mxd_config *cfg;
	struct policy *policy;
	struct smtp_server *srv;
	int port;
	struct client open[MAX_CLIENTS];
	size_t nopen;
};

static void must(int rc, const char *err)
{
	if (rc != 0)
		fail_msg("fixture: %s", err);
}

static void set(struct mxd_config *cfg, const char *name, const char *value)
{
	const char *err = "";
	must(config_set(cfg, name, value, &err), err);
}

/* A loopback port nobody listens on now (the listener sets SO_REUSEADDR, so it can take it). */
static int free_port(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

static void harness_start(struct harness *h, int64_t total, int64_t per_client)
{
	char value[64];
	const char *err = "";
	memset(h, 0, sizeof(*h));
	h->base = event_base_new();
	assert_non_null(h->base);
	h->cfg = config_new();
	h->port = free_port();
	snprintf(value, sizeof(value), "127.0.0.1:%d", h->port);
	set(h->cfg, "smtpd_listen", value);
	set(h->cfg, "myhostname", HOST);
	set(h->cfg, "smtpd_banner", HOST " ESMTP mxd-test");
	snprintf(value, sizeof(value), "%lld", (long long)total);
	set(h->cfg, "smtpd_connection_limit", value);
	snprintf(value, sizeof(value), "%lld", (long long)per_client);
	set(h->cfg, "smtpd_client_connection_limit", value);
	/* the sessions ask the policy only whether a client is trusted: no tables needed */
	must(policy_new(h->cfg, NULL, &h->policy, &err), err);
	must(smtp_server_bind(h->base, h->cfg, &h->srv, &err), err);
	smtp_server_start(h->srv, h->policy, NULL, NULL);
}

/* Run the event loop until cond(h, arg) holds; fail after WAIT_MSEC. */
static void pump(struct harness *h, bool (*cond)(struct harness *h, const void *arg), const void *arg,
                 const char *what)
{
	int64_t end = time_mono_msec() + WAIT_MSEC;
	while (!cond(h, arg)) {
		if (time_mono_msec() > end)
			fail_msg("timed out waiting for %s", what);
		event_base_loop(h->base, EVLOOP_NONBLOCK);
		poll(NULL, 0, 1);
	}
}

static bool line_ready(struct harness *h, const void *arg)
{
	const int *fd = arg;
	char buf[512];
	ssize_t n = recv(*fd, buf, sizeof(buf) - 1, MSG_PEEK | MSG_DONTWAIT);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return strstr(buf, "\r\n") != NULL;
}

static bool sessions_are(struct harness *h, const void *arg)
{
	return smtp_server_session_count(h->srv) == *(const size_t *)arg;
}

/* The first line the server sends on fd, without its CRLF. */
static void read_line(struct harness *h, int fd, char *line, size_t size)
{
	pump(h, line_ready, &fd, "a reply line");
	ssize_t n = recv(fd, line, size - 1, MSG_DONTWAIT);
	assert_true(n > 0);
	line[n] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
}

/* Connect from 127.0.0.<letter - 'a' + 1>: "ok" (the connection stays open), "busy" or "client". */
static const char *client_connect(struct harness *h, char letter)
{
	struct sockaddr_in from = {.sin_family = AF_INET}, to = {.sin_family = AF_INET};
	from.sin_addr.s_addr = htonl(INADDR_LOOPBACK + (uint32_t)(letter - 'a'));
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	to.sin_port = htons((uint16_t)h->port);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&from, sizeof(from)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0);
	char line[512];
	read_line(h, fd, line, sizeof(line));
	if (strcmp(line, BANNER) == 0) {
		assert_true(h->nopen < MAX_CLIENTS);
		h->open[h->nopen++] = (struct client){fd, letter};
		return "ok";
	}
	close(fd);
	if (strcmp(line, BUSY) == 0)
		return "busy";
	if (strcmp(line, BUSY_CLIENT) == 0)
		return "client";
	fail_msg("unexpected first line '%s'", line);
	return NULL;
}

/* Close the oldest open connection from letter, and wait until the server has let it go. */
static void client_close(struct harness *h, char letter)
{
	size_t i = 0;
	while (i < h->nopen && h->open[i].letter != letter)
		i++;
	if (i == h->nopen)
		fail_msg("no open connection from %c to close", letter);
	close(h->open[i].fd);
	memmove(&h->open[i], &h->open[i + 1], (h->nopen - i - 1) * sizeof(h->open[0]));
	h->nopen--;
	size_t want = smtp_server_session_count(h->srv) - 1;
	pump(h, sessions_are, &want, "the session to close");
}

static void harness_stop(struct harness *h)
{
	while (h->nopen > 0)
		client_close(h, h->open[0].letter);
	smtp_server_free(&h->srv);
	assert_null(h->srv);
	policy_free(&h->policy);
	config_free(&h->cfg);
	event_base_free(h->base);
}

static void test_limits(void **state)
{
	for (size_t i = 0; i < MXD_ARRAY_SIZE(rows); i++) {
		const struct limit_row *row = &rows[i];
		struct harness h;
		char got[256] = "";
		size_t len = 0, refused = 0, accepted = 0;
		harness_start(&h, row->total, row->per_client);
		for (const char *step = row->script; *step != '\0'; step += strcspn(step, " ")) {
			step += strspn(step, " ");
			if (step[0] == '+') {
				const char *r = client_connect(&h, step[1]);
				if (strcmp(r, "ok") == 0)
					accepted++;
				else
					refused++;
				len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%s",
				                        len > 0 ? " " : "", r);
			} else {
				client_close(&h, step[1]);
			}
			assert_int_equal(smtp_server_session_count(h.srv), h.nopen);
		}
		if (strcmp(got, row->want) != 0)
			fail_msg("row %zu (total %lld, per client %lld) '%s': got '%s', expected '%s'", i,
			         (long long)row->total, (long long)row->per_client, row->script, got,
			         row->want);
		const struct smtp_stats *stats = smtp_server_stats(h.srv);
		assert_int_equal(stats->connections_refused, refused);
		assert_int_equal(stats->connections, accepted);
		harness_stop(&h);
	}
}

/* smtp_server_bind refuses what it cannot listen on, naming the setting and the address. */
static void test_bind_errors(void **state)
{
	static const struct {
		const char *listen, *error;
	} bad[] = {
	    {"", "smtpd_listen: no address to listen on"},
	    {"not-an-address:25", "smtpd_listen: bad address 'not-an-address:25': "},
	    {"127.0.0.1:0", "smtpd_listen: bad address '127.0.0.1:0': bad port"},
	    {"192.0.2.1:2525", "smtpd_listen: cannot listen on 192.0.2.1:2525: "},
	};
	struct event_base *base = event_base_new();
	for (size_t i = 0; i < MXD_ARRAY_SIZE(bad); i++) {
		struct mxd_config *cfg = config_new();
		set(cfg, "smtpd_listen", bad[i].listen);
		struct smtp_server *srv = NULL;
		const char *err = NULL;
		if (smtp_server_bind(base, cfg, &srv, &err) != -1)
			fail_msg("row %zu '%s': bound", i, bad[i].listen);
		assert_null(srv);
		if (strncmp(err, bad[i].error, strlen(bad[i].error)) != 0)
			fail_msg("row %zu '%s': error '%s', expected '%s...'", i, bad[i].listen, err,
			         bad[i].error);
		config_free(&cfg);
	}
	event_base_free(base);
}

/* SIGTERM: open sessions get 421 4.3.2 and close. */
static void test_shutdown(void **state)
{
	struct harness h;
	harness_start(&h, 10, 10);
	assert_string_equal(client_connect(&h, 'a'), "ok");
	assert_string_equal(client_connect(&h, 'b'), "ok");
	smtp_server_shutdown(h.srv);
	for (size_t i = 0; i < h.nopen; i++) {
		char line[512];
		read_line(&h, h.open[i].fd, line, sizeof(line));
		if (strncmp(line, "421 4.3.2 ", 10) != 0)
			fail_msg("client %zu after shutdown: '%s'", i, line);
	}
	size_t none = 0;
	pump(&h, sessions_are, &none, "the sessions to close");
	while (h.nopen > 0)
		close(h.open[--h.nopen].fd);
	harness_stop(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_bind_errors),
	    cmocka_unit_test(test_shutdown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
