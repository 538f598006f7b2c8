/*
 * test_dns: mxd/dns/dns.c against tests/lib/dnsserver.py, started for each test on a free port of
 * 127.0.0.1 (it needs Debian's /usr/bin/python3 with dnslib: without them the suite fails at once).
 * Nothing leaves loopback: the resolver's only forwarder is the test server.
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
#include <sys/wait.h>
#include <unistd.h>

#include "mxd/dns/dns.h"
#include "mxd/common/util.h"
#include "unit_fixtures.h"

#define PYTHON "/usr/bin/python3"

static const char zone_text[] = "$ORIGIN gmail.test\n"
                                "@        MX 10 mx1\n"
                                "@        MX 20 mx2\n"
                                "@        MX 20 mx3.gmail.test.\n"
                                "@        MX 5 mx0\n"
                                "mx0      A 127.0.0.10\n"
                                "mx1      A 127.0.0.11\n"
                                "mx1      AAAA ::1\n"
                                "mx2      A 127.0.0.12\n"
                                "mx3      AAAA 2001:db8::3\n"
                                "alias    CNAME mx2\n"
                                "$ORIGIN equal.test\n"
                                "@        MX 10 a\n"
                                "@        MX 10 b\n"
                                "a        A 127.0.0.1\n"
                                "b        A 127.0.0.2\n"
                                "$ORIGIN nomx.test\n"
                                "@        A 127.0.0.20\n"
                                "@        AAAA 2001:db8::20\n"
                                "@        TXT \"v=spf1 -all\" ; no MX: implicit MX\n"
                                "$ORIGIN nullmx.test\n"
                                "@        MX 0 .\n"
                                "$ORIGIN broken.test\n"
                                "@        SERVFAIL\n"
                                "$ORIGIN slow.test\n"
                                "@        TIMEOUT\n"
                                "mx       TIMEOUT\n"
                                "$ORIGIN v6only.test\n"
                                "@        MX 10 mx\n"
                                "mx       AAAA 2001:db8::25\n"
                                "$ORIGIN noaddr.test\n"
                                "@        MX 10 mx\n"
                                "mx       TXT \"no address here\"\n"
                                "$ORIGIN partial.test\n"
                                "@        MX 10 good\n"
                                "@        MX 20 bad\n"
                                "good     A 127.0.0.30\n"
                                "bad      SERVFAIL\n"
                                "$ORIGIN halfaddr.test\n"
                                "@        A 127.0.0.40\n"
                                "@        AAAA SERVFAIL\n"
                                "$ORIGIN slowmx.test\n"
                                "@        MX 10 mx.slow.test.\n"
                                "$ORIGIN keys.test\n"
                                "s1._domainkey TXT \"v=DKIM1; k=rsa; \" \"p=AbC\"\n"
                                "two      TXT \"first\"\n"
                                "two      TXT \"second\"\n"
                                "$ORIGIN txt.test\n"
                                "mxd._domainkey TXT \"v=DKIM1; k=rsa; \" \"p=AAAA\"\n"
                                "_dmarc   TXT \"v=DMARC1; p=reject\"\n"
                                "_dmarc   TXT \"second\"\n"
                                "@        A 127.0.0.50\n"
                                "bad      TXT SERVFAIL\n";

struct fixture {
	struct event_base *base;
	struct dns *dns;
	pid_t server;
	int port;
	char zone_path[64];
};

struct waiter {
	int calls;
	struct dns_result *result;
	struct dns **free_dns; /* when set, the callback frees the resolver */
};

/* --- the test server -------------------------------------------------------------------------- */

static char script_path[4096];

static int group_setup(void **state)
{
	if (unit_find_test_file(script_path, sizeof(script_path), __FILE__, "lib/dnsserver.py") < 0)
		return -1;
	if (access(PYTHON, X_OK) < 0) {
		fprintf(stderr,
		        "test_dns: FATAL: %s is missing: the DNS tests need Debian's python3 with dnslib\n",
		        PYTHON);
		return -1;
	}
	if (system(PYTHON " -c 'import dnslib.server'") != 0) {
		fprintf(stderr, "test_dns: FATAL: %s cannot import dnslib (apt-get install python3-dnslib)\n",
		        PYTHON);
		return -1;
	}
	return 0;
}

/* Start dnsserver.py on a free port; f->port gets the port it reports. */
static void server_start(struct fixture *f)
{
	snprintf(f->zone_path, sizeof(f->zone_path), "/tmp/mxd-test-dns-XXXXXX");
	int zfd = mkstemp(f->zone_path);
	assert_true(zfd >= 0);
	assert_int_equal(fd_write_all(zfd, zone_text, strlen(zone_text)), 0);
	close(zfd);

	int out[2];
	assert_int_equal(pipe(out), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM); /* no server outlives a crashed test */
		dup2(out[1], STDOUT_FILENO);
		close(out[0]);
		close(out[1]);
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, STDIN_FILENO);
		setenv("PYTHONDONTWRITEBYTECODE", "1", 1);
		execl(PYTHON, PYTHON, script_path, "--port", "0", "--zone", f->zone_path, (char *)NULL);
		fprintf(stderr, "test_dns: exec %s: %s\n", PYTHON, strerror(errno));
		_exit(127);
	}
	close(out[1]);
	f->server = pid;

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
	unlink(f->zone_path); /* read before READY; gone even if a test crashes */
	line[len] = '\0';
	if (sscanf(line, "READY %d", &f->port) != 1)
		fail_msg("test_dns: FATAL: %s %s did not start (said \"%s\"); see its error above", PYTHON,
		         script_path, line);
}

static void server_stop(struct fixture *f)
{
	if (f->server > 0) {
		kill(f->server, SIGTERM);
		waitpid(f->server, NULL, 0);
		f->server = 0;
	}
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	*state = f;
	f->base = event_base_new();
	assert_non_null(f->base);
	server_start(f);
	char resolver[64];
	snprintf(resolver, sizeof(resolver), "127.0.0.1:%d", f->port);
	const char *error = NULL;
	f->dns = dns_new(f->base, resolver, &error);
	if (f->dns == NULL)
		fail_msg("dns_new: %s", error);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	dns_free(&f->dns);
	server_stop(f);
	event_base_free(f->base);
	free(f);
	return 0;
}

/* --- running lookups -------------------------------------------------------------------------- */

static void on_result(struct dns_result *result, void *ctx)
{
	struct waiter *w = ctx;
	w->calls++;
	dns_result_free(&w->result);
	w->result = result;
	if (w->free_dns != NULL)
		dns_free(w->free_dns);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	*(bool *)arg = true;
}

/* Run the loop for msec, or until every waiter has its callback when stop_when_done. */
static void run_loop(struct fixture *f, struct waiter *w, size_t n, int msec, bool stop_when_done)
{
	bool expired = false;
	struct event *timer = evtimer_new(f->base, on_deadline, &expired);
	struct timeval tv = {msec / 1000, (msec % 1000) * 1000};
	evtimer_add(timer, &tv);
	while (!expired) {
		bool done = true;
		for (size_t i = 0; i < n; i++)
			done = done && w[i].calls > 0;
		if (done && stop_when_done)
			break;
		event_base_loop(f->base, EVLOOP_ONCE);
	}
	event_free(timer);
}

enum kind { MX, ADDR, HOSTS, TXT };

/* One lookup to its end. The callback must not have run when the starting call returns. */
static struct dns_result *lookup(struct fixture *f, enum kind kind, const char *name)
{
	struct waiter w = {0};
	struct dns_lookup *l = kind == MX     ? dns_lookup_mx(f->dns, name, on_result, &w)
	                       : kind == ADDR ? dns_lookup_addr(f->dns, name, on_result, &w)
	                       : kind == TXT  ? dns_lookup_txt(f->dns, name, on_result, &w)
	                                      : dns_resolve_mx_hosts(f->dns, name, on_result, &w);
	assert_non_null(l);
	assert_int_equal(w.calls, 0);
	run_loop(f, &w, 1, 20000, true);
	assert_int_equal(w.calls, 1);
	assert_non_null(w.result);
	return w.result;
}

static const char *addr_str(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	const void *a = ss->ss_family == AF_INET6
	                    ? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
	                    : (const void *)&((const struct sockaddr_in *)ss)->sin_addr;
	assert_non_null(inet_ntop(ss->ss_family, a, buf, (socklen_t)size));
	return buf;
}

static void assert_addrs(const struct dns_host *h, const char *const *expected, size_t n)
{
	char buf[64];
	assert_int_equal(h->naddr, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(addr_str(&h->addrs[i], buf, sizeof(buf)), expected[i]);
}

static void assert_status(const struct dns_result *r, enum dns_status status)
{
	if (r->status != status)
		fail_msg("%s: status %s, expected %s (%s)", r->name, dns_status_str(r->status),
		         dns_status_str(status), r->detail ? r->detail : "");
	if (status == DNS_OK)
		assert_null(r->detail);
	else
		assert_non_null(r->detail);
}

/* --- tests ------------------------------------------------------------------------------------ */

static void test_resolver_setting(void **state)
{
	static const struct {
		const char *resolver;
		bool ok;
	} rows[] = {
	    {"127.0.0.1", true},
	    {"127.0.0.1:5353", true},
	    {"[::1]:5353", true},
	    {"::1", true},
	    {"127.0.0.1:53, [::1]:53 192.0.2.1", true},
	    {"mx.example.test", false},
	    {"127.0.0.1:0", false},
	    {"127.0.0.1:65536", false},
	    {"[::1", false},
	    {" , ", false},
	};
	struct event_base *base = event_base_new();
	for (size_t i = 0; i < MXD_ARRAY_SIZE(rows); i++) {
		const char *error = NULL;
		struct dns *dns = dns_new(base, rows[i].resolver, &error);
		if ((dns != NULL) != rows[i].ok)
			fail_msg("resolver \"%s\": %s", rows[i].resolver, dns ? "accepted" : error);
		if (dns == NULL)
			assert_non_null(strstr(error, "resolver"));
		dns_free(&dns);
		assert_null(dns);
	}
	event_base_free(base);
}

static void test_mx_order(void **state)
{
	struct fixture *f = *state;
	struct dns_result *r = lookup(f, MX, "Gmail.TEST.");
	assert_status(r, DNS_OK);
	assert_string_equal(r->name, "gmail.test");
	assert_int_equal(r->nhost, 4);
	assert_string_equal(r->hosts[0].name, "mx0.gmail.test");
	assert_int_equal(r->hosts[0].preference, 5);
	assert_string_equal(r->hosts[1].name, "mx1.gmail.test");
	assert_int_equal(r->hosts[1].preference, 10);
	assert_int_equal(r->hosts[2].preference, 20);
	assert_int_equal(r->hosts[3].preference, 20);
	assert_true(strcmp(r->hosts[2].name, "mx2.gmail.test") == 0 ||
	            strcmp(r->hosts[2].name, "mx3.gmail.test") == 0);
	assert_string_not_equal(r->hosts[2].name, r->hosts[3].name);
	for (size_t i = 0; i < r->nhost; i++)
		assert_int_equal(r->hosts[i].naddr, 0);
	dns_result_free(&r);
	assert_null(r);
}

static void test_mx_shuffle(void **state)
{
	struct fixture *f = *state;
	int a_first = 0, b_first = 0;
	for (int i = 0; i < 50; i++) {
		struct dns_result *r = lookup(f, MX, "equal.test");
		assert_status(r, DNS_OK);
		assert_int_equal(r->nhost, 2);
		if (strcmp(r->hosts[0].name, "a.equal.test") == 0)
			a_first++;
		else if (strcmp(r->hosts[0].name, "b.equal.test") == 0)
			b_first++;
		dns_result_free(&r);
	}
	assert_int_equal(a_first + b_first, 50);
	assert_true(a_first > 0);
	assert_true(b_first > 0);
}

static void test_mx_hosts(void **state)
{
	struct fixture *f = *state;
	struct dns_result *r = lookup(f, HOSTS, "gmail.test");
	assert_status(r, DNS_OK);
	assert_false(r->implicit_mx);
	assert_int_equal(r->nhost, 4);
	assert_string_equal(r->hosts[0].name, "mx0.gmail.test");
	assert_addrs(&r->hosts[0], (const char *[]){"127.0.0.10"}, 1);
	assert_string_equal(r->hosts[1].name, "mx1.gmail.test");
	assert_addrs(&r->hosts[1], (const char *[]){"::1", "127.0.0.11"}, 2); /* IPv6 first */
	for (size_t i = 2; i < 4; i++) {
		assert_int_equal(r->hosts[i].status, DNS_OK);
		if (strcmp(r->hosts[i].name, "mx2.gmail.test") == 0)
			assert_addrs(&r->hosts[i], (const char *[]){"127.0.0.12"}, 1);
		else
			assert_addrs(&r->hosts[i], (const char *[]){"2001:db8::3"}, 1);
	}
	dns_result_free(&r);
}

static void test_no_mx_fallback(void **state)
{
	struct fixture *f = *state;
	struct dns_result *r = lookup(f, MX, "nomx.test");
	assert_status(r, DNS_NO_MX);
	assert_int_equal(r->nhost, 0);
	dns_result_free(&r);

	r = lookup(f, HOSTS, "nomx.test");
	assert_status(r, DNS_OK);
	assert_true(r->implicit_mx);
	assert_int_equal(r->nhost, 1);
	assert_string_equal(r->hosts[0].name, "nomx.test");
	assert_int_equal(r->hosts[0].preference, 0);
	assert_addrs(&r->hosts[0], (const char *[]){"2001:db8::20", "127.0.0.20"}, 2);
	dns_result_free(&r);
}

static void test_null_mx(void **state)
{
	struct fixture *f = *state;
	struct dns_result *r = lookup(f, MX, "nullmx.test");
	assert_status(r, DNS_NULL_MX);
	assert_int_equal(r->nhost, 0);
	dns_result_free(&r);
	r = lookup(f, HOSTS, "nullmx.test");
	assert_status(r, DNS_NULL_MX);
	dns_result_free(&r);
}

static void test_nxdomain(void **state)
{
	struct fixture *f = *state;
	static const struct {
		enum kind kind;
		const char *name;
		enum dns_status status;
	} rows[] = {
	    {MX, "nope.gmail.test", DNS_NXDOMAIN},
	    {HOSTS, "nope.gmail.test", DNS_NXDOMAIN},
	    {ADDR, "nope.gmail.test", DNS_NXDOMAIN},
	    /* not valid DNS names: answered without a query, still never synchronously */
	    {MX, "bad..name.test", DNS_NXDOMAIN},
	    {HOSTS, "", DNS_NXDOMAIN},
	    {ADDR, "sp ace.test", DNS_NXDOMAIN},
	    {MX, "a123456789012345678901234567890123456789012345678901234567890123.test", DNS_NXDOMAIN},
	    /* a zone the server does not serve: REFUSED is no proof the name does not exist */
	    {MX, "unknown-zone.example", DNS_TEMPFAIL},
	};
	for (size_t i = 0; i < MXD_ARRAY_SIZE(rows); i++) {
		struct dns_result *r = lookup(f, rows[i].kind, rows[i].name);
		assert_status(r, rows[i].status);
		dns_result_free(&r);
	}
}

/* TXT (DKIM and ARC keys): a record's strings joined, every record, and the failures. */
static void test_txt(void **state)
{
	struct fixture *f = *state;
	struct dns_result *r = lookup(f, TXT, "s1._domainkey.keys.test");
	assert_status(r, DNS_OK);
	assert_int_equal(r->ntxt, 1);
	assert_string_equal(r->txts[0], "v=DKIM1; k=rsa; p=AbC");
	dns_result_free(&r);
	r = lookup(f, TXT, "two.keys.test");
	assert_status(r, DNS_OK);
	assert_int_equal(r->ntxt, 2);
	assert_true((strcmp(r->txts[0], "first") == 0 && strcmp(r->txts[1], "second") == 0) ||
	            (strcmp(r->txts[0], "second") == 0 && strcmp(r->txts[1], "first") == 0));
	dns_result_free(&r);
	static const struct {
		const char *name;
		enum dns_status status;
	} rows[] = {
	    {"mx0.gmail.test", DNS_NO_ADDR}, /* the name exists, without TXT */
	    {"nope._domainkey.keys.test", DNS_NXDOMAIN},
	    {"broken.test", DNS_TEMPFAIL},
	    {"bad..name.test", DNS_NXDOMAIN},
	};
	for (size_t i = 0; i < MXD_ARRAY_SIZE(rows); i++) {
		r = lookup(f, TXT, rows[i].name);
		assert_status(r, rows[i].status);
		assert_int_equal(r->ntxt, 0);
		if (rows[i].status == DNS_TEMPFAIL)
			assert_non_null(strstr(r->detail, "type=TXT"));
		dns_result_free(&r);
	}
}

static void test_servfail(void **state)
{
	struct fixture *f = *state;
	struct dns_result *r = lookup(f, MX, "broken.test");
	assert_status(r, DNS_TEMPFAIL);
	assert_non_null(strstr(r->detail, "broken.test"));
	dns_result_free(&r);
	r = lookup(f, HOSTS, "broken.test");
	assert_status(r, DNS_TEMPFAIL);
	dns_result_free(&r);
}

static void test_timeout(void **state)
{
	struct fixture *f = *state;
	dns_set_timeout(f->dns, 1500);
	int64_t start = time_mono_msec();
	struct dns_result *r = lookup(f, MX, "slow.test");
	assert_status(r, DNS_TEMPFAIL);
	assert_true(time_mono_msec() - start < 5000);
	dns_result_free(&r);

	/* a timeout in the address stage: the MX answers, its host does not */
	r = lookup(f, HOSTS, "slowmx.test");
	assert_status(r, DNS_TEMPFAIL);
	assert_int_equal(r->nhost, 1);
	assert_int_equal(r->hosts[0].status, DNS_TEMPFAIL);
	dns_result_free(&r);

	struct dns_stats st;
	dns_stats(f->dns, &st);
	assert_int_equal(st.timeouts, 2);
	assert_int_equal(st.running, 0);
}

static void test_addresses(void **state)
{
	struct fixture *f = *state;
	struct dns_result *r = lookup(f, ADDR, "mx1.gmail.test");
	assert_status(r, DNS_OK);
	assert_int_equal(r->nhost, 1);
	assert_string_equal(r->hosts[0].name, "mx1.gmail.test");
	assert_int_equal(r->hosts[0].status, DNS_OK);
	assert_addrs(&r->hosts[0], (const char *[]){"::1", "127.0.0.11"}, 2);
	assert_int_equal(r->hosts[0].addrs[0].ss_family, AF_INET6);
	assert_int_equal(((struct sockaddr_in6 *)&r->hosts[0].addrs[0])->sin6_port, 0);
	assert_int_equal(r->hosts[0].addrs[1].ss_family, AF_INET);
	dns_result_free(&r);

	r = lookup(f, ADDR, "alias.gmail.test"); /* CNAME followed */
	assert_status(r, DNS_OK);
	assert_addrs(&r->hosts[0], (const char *[]){"127.0.0.12"}, 1);
	dns_result_free(&r);

	r = lookup(f, ADDR, "mx.noaddr.test");
	assert_status(r, DNS_NO_ADDR);
	assert_int_equal(r->hosts[0].status, DNS_NO_ADDR);
	dns_result_free(&r);

	r = lookup(f, ADDR, "halfaddr.test"); /* AAAA fails, A answers: usable */
	assert_status(r, DNS_OK);
	assert_addrs(&r->hosts[0], (const char *[]){"127.0.0.40"}, 1);
	dns_result_free(&r);
}

static void test_ipv6_only(void **state)
{
	struct fixture *f = *state;
	struct dns_result *r = lookup(f, HOSTS, "v6only.test");
	assert_status(r, DNS_OK);
	assert_int_equal(r->nhost, 1);
	assert_string_equal(r->hosts[0].name, "mx.v6only.test");
	assert_int_equal(r->hosts[0].preference, 10);
	assert_addrs(&r->hosts[0], (const char *[]){"2001:db8::25"}, 1);
	dns_result_free(&r);
}

static void test_host_failures(void **state)
{
	struct fixture *f = *state;
	/* one MX host resolves, the other fails temporarily: usable, each host with its status */
	struct dns_result *r = lookup(f, HOSTS, "partial.test");
	assert_status(r, DNS_OK);
	assert_int_equal(r->nhost, 2);
	assert_string_equal(r->hosts[0].name, "good.partial.test");
	assert_int_equal(r->hosts[0].status, DNS_OK);
	assert_string_equal(r->hosts[1].name, "bad.partial.test");
	assert_int_equal(r->hosts[1].status, DNS_TEMPFAIL);
	assert_int_equal(r->hosts[1].naddr, 0);
	dns_result_free(&r);

	/* the only MX host has no address: permanent */
	r = lookup(f, HOSTS, "noaddr.test");
	assert_status(r, DNS_NO_ADDR);
	assert_int_equal(r->hosts[0].status, DNS_NO_ADDR);
	dns_result_free(&r);
}

static void test_cancel(void **state)
{
	struct fixture *f = *state;
	struct waiter w[5] = {{0}};
	struct dns_lookup *l[5];
	l[0] = dns_lookup_mx(f->dns, "gmail.test", on_result, &w[0]);        /* in flight */
	l[1] = dns_resolve_mx_hosts(f->dns, "gmail.test", on_result, &w[1]); /* in flight */
	l[2] = dns_lookup_mx(f->dns, "slow.test", on_result, &w[2]);         /* never answered */
	l[3] = dns_lookup_addr(f->dns, "bad..name", on_result, &w[3]);       /* answered, not yet delivered */
	l[4] = dns_lookup_mx(f->dns, "equal.test", on_result, &w[4]);        /* kept */
	for (size_t i = 0; i < 4; i++) {
		dns_cancel(&l[i]);
		assert_null(l[i]);
	}
	dns_cancel(&l[0]); /* NULL: nothing */
	run_loop(f, &w[4], 1, 20000, true);
	run_loop(f, w, 4, 300, false);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(w[i].calls, 0);
	assert_int_equal(w[4].calls, 1);
	dns_result_free(&w[4].result);

	/* cancelled between stages: the MX answered, the addresses are being asked */
	struct waiter w5 = {0};
	struct dns_lookup *l5 = dns_resolve_mx_hosts(f->dns, "slowmx.test", on_result, &w5);
	run_loop(f, &w5, 1, 500, false);
	assert_int_equal(w5.calls, 0);
	dns_cancel(&l5);
	run_loop(f, &w5, 1, 300, false);
	assert_int_equal(w5.calls, 0);

	struct dns_stats st;
	dns_stats(f->dns, &st);
	assert_int_equal(st.cancelled, 5);
	assert_int_equal(st.running, 0);
}

static void test_cache(void **state)
{
	struct fixture *f = *state;
	struct dns_result *r = lookup(f, HOSTS, "gmail.test");
	assert_status(r, DNS_OK);
	dns_result_free(&r);
	r = lookup(f, MX, "nope.gmail.test"); /* negative answers are cached too */
	assert_status(r, DNS_NXDOMAIN);
	dns_result_free(&r);

	server_stop(f);

	r = lookup(f, HOSTS, "gmail.test");
	assert_status(r, DNS_OK);
	assert_int_equal(r->nhost, 4);
	assert_addrs(&r->hosts[1], (const char *[]){"::1", "127.0.0.11"}, 2);
	dns_result_free(&r);
	r = lookup(f, ADDR, "mx0.gmail.test");
	assert_status(r, DNS_OK);
	dns_result_free(&r);
	r = lookup(f, MX, "nope.gmail.test");
	assert_status(r, DNS_NXDOMAIN);
	dns_result_free(&r);

	/* and the server really is gone: what was not asked before fails */
	dns_set_timeout(f->dns, 1000);
	r = lookup(f, MX, "equal.test");
	assert_status(r, DNS_TEMPFAIL);
	dns_result_free(&r);
}

static void test_stats(void **state)
{
	struct fixture *f = *state;
	struct dns_result *r = lookup(f, HOSTS, "nomx.test");
	dns_result_free(&r);
	r = lookup(f, MX, "broken.test");
	dns_result_free(&r);
	struct dns_stats st;
	dns_stats(f->dns, &st);
	assert_int_equal(st.lookups, 2);
	assert_int_equal(st.queries, 4); /* MX, AAAA, A; MX */
	assert_int_equal(st.answers, 4);
	assert_int_equal(st.by_status[DNS_OK], 1);
	assert_int_equal(st.by_status[DNS_TEMPFAIL], 1);
	assert_int_equal(st.running, 0);
}

static void test_free_pending(void **state)
{
	struct fixture *f = *state;
	struct waiter w[2] = {{0}};
	dns_lookup_mx(f->dns, "slow.test", on_result, &w[0]);
	dns_lookup_addr(f->dns, "bad..name", on_result, &w[1]);
	run_loop(f, w, 2, 200, false); /* the second is delivered, the first waits */
	assert_int_equal(w[1].calls, 1);
	dns_result_free(&w[1].result);
	dns_free(&f->dns);
	run_loop(f, w, 1, 200, false);
	assert_int_equal(w[0].calls, 0);
}

/* TXT: the strings of a record joined, every record kept, and each failure with its status. */
static void test_txt_dmarc(void **state)
{
	struct fixture *f = *state;
	struct dns_result *r = lookup(f, TXT, "mxd._domainkey.TXT.test");
	assert_status(r, DNS_OK);
	assert_int_equal(r->ntxt, 1);
	assert_string_equal(r->txts[0], "v=DKIM1; k=rsa; p=AAAA");
	dns_result_free(&r);
	r = lookup(f, TXT, "_dmarc.txt.test");
	assert_status(r, DNS_OK);
	assert_int_equal(r->ntxt, 2);
	assert_true(strcmp(r->txts[0], "second") == 0 || strcmp(r->txts[1], "second") == 0);
	dns_result_free(&r);
	r = lookup(f, TXT, "txt.test");
	assert_status(r, DNS_NO_ADDR);
	assert_int_equal(r->ntxt, 0);
	assert_non_null(strstr(r->detail, "type=TXT"));
	dns_result_free(&r);
	r = lookup(f, TXT, "_dmarc.none.txt.test");
	assert_status(r, DNS_NXDOMAIN);
	dns_result_free(&r);
	r = lookup(f, TXT, "bad.txt.test");
	assert_status(r, DNS_TEMPFAIL);
	dns_result_free(&r);
	r = lookup(f, TXT, "bad..txt.test");
	assert_status(r, DNS_NXDOMAIN);
	dns_result_free(&r);
}

static void test_free_in_callback(void **state)
{
	struct fixture *f = *state;
	struct waiter w[2] = {{0}};
	w[0].free_dns = &f->dns;
	dns_lookup_addr(f->dns, "bad..name", on_result, &w[0]);
	dns_lookup_addr(f->dns, "bad..name2", on_result, &w[1]); /* finished too: dropped by dns_free */
	run_loop(f, w, 1, 300, false);
	assert_int_equal(w[0].calls, 1);
	assert_null(f->dns);
	assert_int_equal(w[1].calls, 0);
	dns_result_free(&w[0].result);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_resolver_setting),
	    cmocka_unit_test_setup_teardown(test_mx_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mx_shuffle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mx_hosts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_mx_fallback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_null_mx, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nxdomain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_servfail, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_txt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_addresses, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ipv6_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_host_failures, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cache, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_free_pending, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_free_in_callback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_txt_dmarc, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
