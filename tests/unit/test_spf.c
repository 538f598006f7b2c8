/*
 * test_spf: mxd/smtpd/spf.c against tests/lib/dnsserver.py (started once for the suite on a free port of
 * 127.0.0.1; it needs Debian's /usr/bin/python3 with dnslib). Every verdict of RFC 7208, the worker pool
 * (a silent name does not hold up other checks; cancelling and stopping), and the header fields,
 * including what hostile senders and zones put into them. Nothing leaves loopback.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mxd/smtpd/auth_results.h"
#include "mxd/smtpd/spf.h"
#include "mxd/smtpd/spf_helper.h"
#include "mxd/smtpd/spf_sandbox.h"
#include "mxd/common/util.h"
#include "unit_fixtures.h"

#define PYTHON   "/usr/bin/python3"
#define RECEIVER "mx.mxd.test"

/* dnslib reads \DDD in TXT data as octal: \015\012 is CR LF. */
static const char zone_text[] = "$ORIGIN pass.test\n"
                                "@        TXT \"v=spf1 ip4:127.0.0.1 -all\"\n"
                                "$ORIGIN fail.test\n"
                                "@        TXT \"v=spf1 ip4:192.0.2.1 -all\"\n"
                                "$ORIGIN softfail.test\n"
                                "@        TXT \"v=spf1 ip4:192.0.2.1 ~all\"\n"
                                "$ORIGIN neutral.test\n"
                                "@        TXT \"v=spf1 ?all\"\n"
                                "$ORIGIN none.test\n"
                                "@        A 192.0.2.9\n"
                                "@        TXT \"site-verification=abc\"\n"
                                "$ORIGIN temp.test\n"
                                "@        TXT SERVFAIL\n"
                                "$ORIGIN perm.test\n"
                                "@        TXT \"v=spf1 ip4:127.0.0.1 frobnicate:x -all\"\n"
                                "$ORIGIN multi.test\n"
                                "@        TXT \"v=spf1 -all\"\n"
                                "@        TXT \"v=spf1 +all\"\n"
                                "$ORIGIN mx.test\n"
                                "@        TXT \"v=spf1 mx -all\"\n"
                                "@        MX 10 mail\n"
                                "mail     A 127.0.0.1\n"
                                "$ORIGIN a6.test\n"
                                "@        TXT \"v=spf1 a:host.a6.test -all\"\n"
                                "host     AAAA 2001:db8::25\n"
                                "$ORIGIN include.test\n"
                                "@        TXT \"v=spf1 include:pass.test -all\"\n"
                                "$ORIGIN split.test\n"
                                "@        TXT \"v=spf1 ip4:192.0.2.0/24 \" \"ip4:127.0.0.0/8 -all\"\n"
                                "$ORIGIN exp.test\n"
                                "@        TXT \"v=spf1 -all exp=why.exp.test\"\n"
                                "why      TXT \"%{i} is not a mail server of %{d}\"\n"
                                "$ORIGIN inject.test\n"
                                "@        TXT \"v=spf1 -all exp=why.inject.test\"\n"
                                "why      TXT \"no\\015\\012X-Injected: yes\"\n"
                                "$ORIGIN helo.test\n"
                                "@        TXT \"v=spf1 ip4:127.0.0.1 -all\"\n"
                                "$ORIGIN slow.test\n"
                                "@        TIMEOUT\n";

static char script_path[4096];
static pid_t server_pid;
static char resolver[64];

/* --- the test DNS server ---------------------------------------------------------------------- */

static int server_start(void)
{
	char zone_path[] = "/tmp/mxd-test-spf-XXXXXX";
	int zfd = mkstemp(zone_path);
	if (zfd < 0 || fd_write_all(zfd, zone_text, strlen(zone_text)) < 0)
		return -1;
	close(zfd);
	int out[2];
	if (pipe(out) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM); /* no server outlives a crashed test */
		dup2(out[1], STDOUT_FILENO);
		close(out[0]);
		close(out[1]);
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, STDIN_FILENO);
		setenv("PYTHONDONTWRITEBYTECODE", "1", 1);
		execl(PYTHON, PYTHON, script_path, "--port", "0", "--zone", zone_path, (char *)NULL);
		fprintf(stderr, "test_spf: exec %s: %s\n", PYTHON, strerror(errno));
		_exit(127);
	}
	close(out[1]);
	server_pid = pid;
	char line[64];
	size_t len = 0;
	int64_t deadline = time_mono_msec() + 15000;
	while (len < sizeof(line) - 1 && (len == 0 || line[len - 1] != '\n')) {
		int64_t left = deadline - time_mono_msec();
		struct pollfd pfd = {.fd = out[0], .events = POLLIN};
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			break;
		ssize_t n = read(out[0], line + len, sizeof(line) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(out[0]);
	unlink(zone_path);
	line[len] = '\0';
	int port;
	if (sscanf(line, "READY %d", &port) != 1) {
		fprintf(stderr, "test_spf: FATAL: %s %s did not start (said \"%s\")\n", PYTHON, script_path,
		        line);
		return -1;
	}
	snprintf(resolver, sizeof(resolver), "127.0.0.1:%d", port);
	return 0;
}

static int group_setup(void **state)
{
	if (unit_find_test_file(script_path, sizeof(script_path), __FILE__, "lib/dnsserver.py") < 0)
		return -1;
	if (access(PYTHON, X_OK) < 0 || system(PYTHON " -c 'import dnslib.server'") != 0) {
		fprintf(stderr, "test_spf: FATAL: the SPF tests need %s with dnslib (python3-dnslib)\n",
		        PYTHON);
		return -1;
	}
	return server_start();
}

static int group_teardown(void **state)
{
	if (server_pid > 0) {
		kill(server_pid, SIGTERM);
		waitpid(server_pid, NULL, 0);
	}
	return 0;
}

/* --- running checks --------------------------------------------------------------------------- */

struct fixture {
	struct event_base *base;
	struct spf *spf;
};

struct waiter {
	int calls;
	int64_t at; /* monotonic msec of the callback */
	struct spf_result *result;
};

static struct fixture *fixture_new(unsigned threads, unsigned lookup_msec, unsigned check_msec)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	f->base = event_base_new();
	assert_non_null(f->base);
	/* the rows start their checks at once, all from a few addresses: no bound on checks in flight */
	struct spf_options opts = {.threads = threads,
	                           .lookup_timeout_msec = lookup_msec,
	                           .check_timeout_msec = check_msec,
	                           .max_checks = 100000,
	                           .max_client_checks = 100000};
	const char *error = NULL;
	if (spf_new(f->base, resolver, RECEIVER, &opts, &f->spf, &error) < 0)
		fail_msg("spf_new: %s", error);
	return f;
}

static void fixture_free(struct fixture *f)
{
	spf_free(&f->spf);
	assert_null(f->spf);
	event_base_free(f->base);
	free(f);
}

static void on_result(struct spf_result *result, void *ctx)
{
	struct waiter *w = ctx;
	w->calls++;
	w->at = time_mono_msec();
	spf_result_free(&w->result);
	w->result = result;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	*(bool *)arg = true;
}

/* Run the loop until waiter w has its callback, or for msec. */
static void run_until(struct fixture *f, const struct waiter *w, int msec)
{
	bool expired = false;
	struct event *timer = evtimer_new(f->base, on_deadline, &expired);
	struct timeval tv = {msec / 1000, (msec % 1000) * 1000};
	evtimer_add(timer, &tv);
	while (!expired && (w == NULL || w->calls == 0))
		event_base_loop(f->base, EVLOOP_ONCE);
	event_free(timer);
}

static void sockaddr_of(const char *ip, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		return;
	}
	assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
	sin6->sin6_family = AF_INET6;
}

static struct spf_check *start(struct fixture *f, const char *ip, const char *helo, const char *sender,
                               struct waiter *w)
{
	struct sockaddr_storage ss;
	sockaddr_of(ip, &ss);
	struct spf_check *c = spf_check_start(f->spf, (struct sockaddr *)&ss, helo, sender, on_result, w);
	assert_non_null(c);
	assert_int_equal(w->calls, 0); /* never inside the call that started it */
	return c;
}

/* --- verdicts --------------------------------------------------------------------------------- */

struct verdict_case {
	const char *ip, *helo, *sender;
	enum spf_status status;
	const char *explanation; /* substring expected in it (FAIL), or NULL */
	const char *problem;     /* substring expected in it (errors), or NULL */
};

static const struct verdict_case verdict_cases[] = {
    {"127.0.0.1", "client.test", "alice@pass.test", SPF_STATUS_PASS, NULL, NULL},
    {"127.0.0.1", "client.test", "alice@fail.test", SPF_STATUS_FAIL,
     "fail.test does not designate 127.0.0.1 as permitted sender", NULL},
    {"127.0.0.1", "client.test", "alice@softfail.test", SPF_STATUS_SOFTFAIL, NULL, NULL},
    {"127.0.0.1", "client.test", "alice@neutral.test", SPF_STATUS_NEUTRAL, NULL, NULL},
    {"127.0.0.1", "client.test", "alice@none.test", SPF_STATUS_NONE, NULL, NULL},       /* no SPF TXT */
    {"127.0.0.1", "client.test", "alice@nx.none.test", SPF_STATUS_NONE, NULL, NULL},    /* NXDOMAIN */
    {"127.0.0.1", "client.test", "alice@temp.test", SPF_STATUS_TEMPERROR, NULL, NULL},  /* SERVFAIL */
    {"127.0.0.1", "client.test", "alice@perm.test", SPF_STATUS_PERMERROR, NULL, NULL},  /* syntax */
    {"127.0.0.1", "client.test", "alice@multi.test", SPF_STATUS_PERMERROR, NULL, NULL}, /* two */
    {"127.0.0.1", "client.test", "alice@mx.test", SPF_STATUS_PASS, NULL, NULL},
    {"192.0.2.7", "client.test", "alice@mx.test", SPF_STATUS_FAIL, NULL, NULL},
    {"2001:db8::25", "client.test", "alice@a6.test", SPF_STATUS_PASS, NULL, NULL},
    {"127.0.0.1", "client.test", "alice@a6.test", SPF_STATUS_FAIL, NULL, NULL},
    {"::ffff:127.0.0.1", "client.test", "alice@pass.test", SPF_STATUS_PASS, NULL, NULL}, /* v4-mapped */
    {"127.0.0.1", "client.test", "alice@include.test", SPF_STATUS_PASS, NULL, NULL},
    {"127.0.0.1", "client.test", "alice@split.test", SPF_STATUS_PASS, NULL, NULL}, /* strings joined */
    {"127.0.0.1", "client.test", "alice@exp.test", SPF_STATUS_FAIL,
     "127.0.0.1 is not a mail server of exp.test", NULL},
    {"127.0.0.1", "client.test", "alice@inject.test", SPF_STATUS_FAIL, "no??X-Injected: yes", NULL},
    /* the null sender: the HELO identity, postmaster@<helo> */
    {"127.0.0.1", "helo.test", "", SPF_STATUS_PASS, NULL, NULL},
    {"192.0.2.7", "helo.test", "", SPF_STATUS_FAIL, NULL, NULL},
    {"127.0.0.1", "[127.0.0.1]", "", SPF_STATUS_NONE, NULL, NULL}, /* no domain to ask */
    /* a domain outside every zone: the test server REFUSEs it */
    {"127.0.0.1", "client.test", "alice@elsewhere.example", SPF_STATUS_TEMPERROR, NULL, NULL},
};

static void test_verdicts(void **state)
{
	struct fixture *f = fixture_new(4, 3000, 10000);
	size_t n = MXD_ARRAY_SIZE(verdict_cases);
	struct waiter *w = xcalloc(n, sizeof(*w));
	for (size_t i = 0; i < n; i++)
		start(f, verdict_cases[i].ip, verdict_cases[i].helo, verdict_cases[i].sender, &w[i]);
	for (size_t i = 0; i < n; i++)
		run_until(f, &w[i], 15000);
	for (size_t i = 0; i < n; i++) {
		const struct verdict_case *c = &verdict_cases[i];
		struct spf_result *r = w[i].result;
		if (w[i].calls != 1)
			fail_msg("case %zu (%s): %d callbacks", i, c->sender, w[i].calls);
		if (r->status != c->status)
			fail_msg("case %zu (<%s> from %s): %s, expected %s (problem: %s)", i, c->sender,
			         c->ip, spf_status_str(r->status), spf_status_str(c->status),
			         r->problem != NULL ? r->problem : "-");
		if (c->explanation != NULL &&
		    (r->explanation == NULL || strstr(r->explanation, c->explanation) == NULL))
			fail_msg("case %zu: explanation \"%s\", expected \"%s\"", i,
			         r->explanation != NULL ? r->explanation : "(none)", c->explanation);
		if (r->status == SPF_STATUS_TEMPERROR || r->status == SPF_STATUS_PERMERROR)
			assert_non_null(r->problem);
		assert_true(r->helo_identity == (c->sender[0] == '\0'));
		if (c->sender[0] == '\0') {
			char want[300];
			snprintf(want, sizeof(want), "postmaster@%s", c->helo);
			assert_string_equal(r->sender, want);
		} else {
			assert_string_equal(r->sender, c->sender);
		}
		spf_result_free(&w[i].result);
	}
	free(w);
	fixture_free(f);
}

/* --- the pool --------------------------------------------------------------------------------- */

/* A name that never answers ties up one worker until its lookup times out; another check finishes
 * meanwhile, and the silent one ends as a temperror. */
static void test_slow_name_does_not_block(void **state)
{
	struct fixture *f = fixture_new(2, 1500, 5000);
	struct waiter slow = {0}, fast = {0};
	int64_t t0 = time_mono_msec();
	start(f, "127.0.0.1", "client.test", "alice@slow.test", &slow);
	usleep(100 * 1000); /* the slow one is surely running first */
	start(f, "127.0.0.1", "client.test", "alice@pass.test", &fast);
	run_until(f, &fast, 10000);
	assert_int_equal(fast.calls, 1);
	assert_int_equal(fast.result->status, SPF_STATUS_PASS);
	assert_int_equal(slow.calls, 0);
	assert_true(fast.at - t0 < 1400);
	run_until(f, &slow, 10000);
	assert_int_equal(slow.calls, 1);
	assert_int_equal(slow.result->status, SPF_STATUS_TEMPERROR);
	assert_non_null(strstr(slow.result->problem, "timed out"));
	assert_true(slow.at - t0 >= 1400);
	spf_result_free(&slow.result);
	spf_result_free(&fast.result);
	fixture_free(f);
}

/* Cancelled checks never call back, whether they waited or ran; stopping gives up a running lookup at
 * once rather than at its timeout. */
static void test_cancel_and_stop(void **state)
{
	struct fixture *f = fixture_new(1, 1500, 10000);
	struct waiter running = {0}, queued = {0}, kept = {0}, stuck = {0};
	struct spf_check *c1 = start(f, "127.0.0.1", "client.test", "alice@slow.test", &running);
	usleep(100 * 1000);
	struct spf_check *c2 = start(f, "127.0.0.1", "client.test", "alice@pass.test", &queued);
	spf_cancel(&c2); /* still queued: gone at once */
	assert_null(c2);
	spf_cancel(&c1); /* running: its verdict is dropped when it arrives */
	spf_cancel(&c1); /* NULL is fine */
	start(f, "127.0.0.1", "client.test", "alice@pass.test", &kept);
	run_until(f, &kept, 10000);
	assert_int_equal(kept.calls, 1);
	assert_int_equal(running.calls, 0);
	assert_int_equal(queued.calls, 0);
	spf_result_free(&kept.result);

	start(f, "127.0.0.1", "client.test", "alice@slow.test", &stuck);
	usleep(200 * 1000);
	int64_t t0 = time_mono_msec();
	fixture_free(f);
	assert_true(time_mono_msec() - t0 < 1000);
	assert_int_equal(stuck.calls, 0);
}

/* --- header fields ---------------------------------------------------------------------------- */

/* h with its folding undone and without the final CRLF, in a static buffer. */
static const char *unfold(const char *h)
{
	static char buf[4096];
	size_t o = 0;
	for (const char *p = h; *p != '\0' && o < sizeof(buf) - 1; p++) {
		if (p[0] == '\r' && p[1] == '\n' && p[2] == '\t') {
			buf[o++] = ' ';
			p += 2;
		} else if (p[0] == '\r' && p[1] == '\n' && p[2] == '\0') {
			break;
		} else {
			buf[o++] = *p;
		}
	}
	buf[o] = '\0';
	return buf;
}

static void assert_prefix(const char *s, const char *prefix)
{
	if (strncmp(s, prefix, strlen(prefix)) != 0)
		fail_msg("\"%s\" does not start with \"%s\"", s, prefix);
}

/* Only printable ASCII, tabs, and CRLF followed by a tab (a folded line), ending in one CRLF. */
static void assert_one_field(const char *h)
{
	size_t len = strlen(h);
	assert_true(len > 2 && strcmp(h + len - 2, "\r\n") == 0);
	for (size_t i = 0; i < len - 2; i++) {
		unsigned char c = (unsigned char)h[i];
		if (c == '\r') {
			if (h[i + 1] != '\n' || h[i + 2] != '\t')
				fail_msg("a line break that is not folding at %zu: %s", i, h);
			i++;
		} else if (c == '\n' || ((c < 0x20 || c > 0x7e) && c != '\t')) {
			fail_msg("octet 0x%02x at %zu: %s", c, i, h);
		}
	}
}

static void test_headers(void **state)
{
	struct spf_result r = {
	    .status = SPF_STATUS_PASS,
	    .client_ip = "127.0.0.1",
	    .helo = "client.test",
	    .sender = "alice@sender.test",
	    .domain = "sender.test",
	};
	char *h = spf_header_authentication_results(&r, RECEIVER);
	assert_string_equal(
	    h, "Authentication-Results: mx.mxd.test; spf=pass smtp.mailfrom=alice@sender.test\r\n");
	free(h);
	h = spf_header_received_spf(&r, RECEIVER);
	assert_one_field(h);
	assert_string_equal(unfold(h),
	                    "Received-SPF: pass (mx.mxd.test: domain of alice@sender.test designates "
	                    "127.0.0.1 as permitted sender) client-ip=127.0.0.1; "
	                    "envelope-from=\"alice@sender.test\"; helo=client.test; "
	                    "receiver=mx.mxd.test; identity=mailfrom");
	free(h);

	/* the null sender: the HELO identity */
	struct spf_result helo = {
	    .status = SPF_STATUS_NONE,
	    .helo_identity = true,
	    .client_ip = "2001:db8::1",
	    .helo = "mail.example.org",
	    .sender = "postmaster@mail.example.org",
	    .domain = "mail.example.org",
	};
	h = spf_header_authentication_results(&helo, RECEIVER);
	assert_string_equal(h,
	                    "Authentication-Results: mx.mxd.test; spf=none smtp.helo=mail.example.org\r\n");
	free(h);
	h = spf_header_received_spf(&helo, RECEIVER);
	assert_non_null(strstr(h, "client-ip=\"2001:db8::1\";"));
	assert_non_null(strstr(h, "envelope-from=\"\";"));
	assert_non_null(strstr(h, "identity=helo"));
	assert_one_field(h);
	free(h);

	/* hostile values: quotes, parentheses, line breaks, 8-bit, a very long local part */
	char long_local[300];
	memset(long_local, 'x', sizeof(long_local) - 1);
	long_local[sizeof(long_local) - 1] = '\0';
	char *long_sender = xasprintf("%s@sender.test", long_local);
	const char *senders[] = {"\"a\\\"b)(\\r\\n X-Evil: 1\"@sender.test", "b\xc3\xa9@sender.test",
	                         long_sender};
	for (size_t i = 0; i < MXD_ARRAY_SIZE(senders); i++) {
		struct spf_result bad = {
		    .status = SPF_STATUS_PERMERROR,
		    .client_ip = "127.0.0.1",
		    .helo = "evil\r\nX-Injected: 1",
		    .sender = (char *)senders[i],
		    .domain = "sender.test",
		    .problem = "Unknown mechanism\r\nX-Injected: 2 (near ')')",
		};
		h = spf_header_received_spf(&bad, RECEIVER);
		assert_one_field(h);
		assert_prefix(h, "Received-SPF: permerror (");
		free(h);
		h = spf_header_authentication_results(&bad, RECEIVER);
		assert_one_field(h);
		assert_prefix(unfold(h), "Authentication-Results: mx.mxd.test; spf=permerror smtp.mailfrom=");
		free(h);
	}
	free(long_sender);

	/* further results after SPF's (arc=), without SPF, and with nothing at all (RFC 8601 "none") */
	struct auth_results *ar = auth_results_new(RECEIVER);
	spf_header_auth_results_add(ar, &r);
	auth_results_add(ar, "arc", "pass", NULL, NULL);
	h = auth_results_header(ar);
	auth_results_free(&ar);
	assert_one_field(h);
	assert_prefix(unfold(h), "Authentication-Results: mx.mxd.test;");
	assert_non_null(strstr(h, "spf=pass smtp.mailfrom=alice@sender.test;"));
	assert_non_null(strstr(h, "arc=pass"));
	free(h);
	ar = auth_results_new(RECEIVER);
	auth_results_add(ar, "arc", "fail", NULL, NULL);
	h = auth_results_header(ar);
	auth_results_free(&ar);
	assert_null(strstr(h, "spf="));
	assert_non_null(strstr(h, "arc=fail"));
	free(h);
	ar = auth_results_new(RECEIVER);
	h = auth_results_header(ar);
	auth_results_free(&ar);
	assert_string_equal(unfold(h), "Authentication-Results: mx.mxd.test; none");
	free(h);
	r.sender = long_local; /* long enough to fold: still one field, the results intact once unfolded */
	ar = auth_results_new(RECEIVER);
	spf_header_auth_results_add(ar, &r);
	auth_results_add(ar, "arc", "pass", NULL, NULL);
	h = auth_results_header(ar);
	auth_results_free(&ar);
	assert_one_field(h);
	assert_non_null(strstr(unfold(h), "arc=pass"));
	free(h);
	r.sender = "alice@sender.test";
	for (enum spf_status s = SPF_STATUS_NONE; s <= SPF_STATUS_PERMERROR; s++) {
		r.status = s;
		h = spf_header_received_spf(&r, RECEIVER);
		assert_one_field(h);
		assert_true(strncmp(h + 14, spf_status_str(s), strlen(spf_status_str(s))) == 0);
		free(h);
	}
}

/* A verdict from the DNS all the way into the header fields. */
static void test_headers_from_check(void **state)
{
	struct fixture *f = fixture_new(1, 3000, 10000);
	struct waiter w = {0};
	start(f, "127.0.0.1", "client.test", "alice@inject.test", &w);
	run_until(f, &w, 10000);
	assert_int_equal(w.result->status, SPF_STATUS_FAIL);
	char *h = spf_header_received_spf(w.result, RECEIVER);
	assert_one_field(h);
	assert_prefix(unfold(h),
	              "Received-SPF: fail (mx.mxd.test: domain of alice@inject.test does not designate");
	free(h);
	spf_result_free(&w.result);
	fixture_free(f);
}

static void test_bad_resolver(void **state)
{
	struct event_base *base = event_base_new();
	struct spf *spf = NULL;
	const char *error = NULL;
	assert_int_equal(spf_new(base, "not an address", RECEIVER, NULL, &spf, &error), -1);
	assert_null(spf);
	assert_non_null(strstr(error, "resolver"));
	event_base_free(base);
}

/* --- the helper's sandbox ---------------------------------------------------------------------- */

enum sandbox_try { TRY_NOTHING, TRY_OPEN, TRY_SOCKET, TRY_KILL_PARENT };

/* What becomes of a child that enters the sandbox and then tries what. */
static int sandboxed_child(enum sandbox_try what)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		const char *error;
		if (spf_sandbox_enter("", &error) < 0)
			_exit(3);
		switch (what) {
		case TRY_OPEN:
			_exit(open("/etc/passwd", O_RDONLY) >= 0 ? 4 : 5);
		case TRY_SOCKET:
			_exit(socket(AF_INET, SOCK_STREAM, 0) >= 0 ? 4 : 5);
		case TRY_KILL_PARENT:
			_exit(kill(parent, 0) == 0 ? 4 : 5);
		default:
			_exit(write(STDERR_FILENO, "", 0) == 0 ? 0 : 6); /* what it may do still works */
		}
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void test_sandbox(void **state)
{
	int status = sandboxed_child(TRY_NOTHING);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	const enum sandbox_try denied[] = {TRY_OPEN, TRY_SOCKET, TRY_KILL_PARENT};
	for (size_t i = 0; i < MXD_ARRAY_SIZE(denied); i++) {
		status = sandboxed_child(denied[i]);
		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSYS)
			fail_msg("try %d: status %#x, expected death by SIGSYS", (int)denied[i], status);
	}
}

int main(int argc, char **argv)
{
	spf_helper_dispatch(argc, argv); /* the SPF helper process: never returns */
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sandbox),
	    cmocka_unit_test(test_verdicts),
	    cmocka_unit_test(test_slow_name_does_not_block),
	    cmocka_unit_test(test_cancel_and_stop),
	    cmocka_unit_test(test_headers),
	    cmocka_unit_test(test_headers_from_check),
	    cmocka_unit_test(test_bad_resolver),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
