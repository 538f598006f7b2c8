/*
 * test_anvil: the per-client memory behind the smtpd_client_*_rate_limit settings and the pregreet
 * pass: rows of (client, rate, limit, time) events with whether each one stays within its limit, then
 * the pass, the IPv6 prefix and the sweep of expired entries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mxd/common/netaddr.h"
#include "mxd/smtpd/anvil.h"

#include <stdio.h>

static struct sockaddr_storage addr(const char *text)
{
	struct sockaddr_storage ss;
	socklen_t len;
	const char *error;
	assert_int_equal(netaddr_parse(text, 25, &ss, &len, &error), 0);
	return ss;
}

#define UNIT 60000 /* anvil_rate_time_unit 60s */

static const struct {
	const char *client;
	enum anvil_rate rate;
	unsigned limit;
	int64_t at;
	int expect;
} rows[] = {
    /* two messages a minute: the third in the window is over, and stays over */
    {"192.0.2.1", ANVIL_MESSAGE, 2, 0, 0},
    {"192.0.2.1", ANVIL_MESSAGE, 2, 1000, 0},
    {"192.0.2.1", ANVIL_MESSAGE, 2, 2000, -1},
    {"192.0.2.1", ANVIL_MESSAGE, 2, 3000, -1},
    /* another address has its own count; another rate of the same address too */
    {"192.0.2.2", ANVIL_MESSAGE, 2, 3000, 0},
    {"192.0.2.1", ANVIL_RECIPIENT, 2, 3000, 0},
    /* the window (opened at 0) ends at 60 s: counting starts over */
    {"192.0.2.1", ANVIL_MESSAGE, 2, UNIT, 0},
    {"192.0.2.1", ANVIL_MESSAGE, 2, UNIT + 1, 0},
    {"192.0.2.1", ANVIL_MESSAGE, 2, UNIT + 2, -1},
    /* IPv6: one /64 is one client */
    {"[2001:db8::1]", ANVIL_CONNECTION, 1, 0, 0},
    {"[2001:db8::2]", ANVIL_CONNECTION, 1, 10, -1},
    {"[2001:db8:0:1::1]", ANVIL_CONNECTION, 1, 20, 0},
    /* limit 0: no limit, nothing stored */
    {"198.51.100.1", ANVIL_TLS, 0, 0, 0},
    {"198.51.100.1", ANVIL_TLS, 0, 0, 0},
};

static void test_rates(void **state)
{
	struct anvil *a = anvil_new();
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct sockaddr_storage ss = addr(rows[i].client);
		int got =
		    anvil_count(a, (struct sockaddr *)&ss, 64, rows[i].rate, rows[i].limit, UNIT, rows[i].at);
		if (got != rows[i].expect)
			fail_msg("row %zu (%s at %lld): got %d, want %d", i, rows[i].client,
			         (long long)rows[i].at, got, rows[i].expect);
	}
	assert_int_equal(anvil_size(a), 4); /* 192.0.2.1, .2, and two IPv6 /64s: none for limit 0 */
	anvil_free(&a);
	assert_null(a);
}

static void test_greet_pass(void **state)
{
	struct anvil *a = anvil_new();
	struct sockaddr_storage c1 = addr("192.0.2.7"), c2 = addr("192.0.2.8");
	assert_false(anvil_greet_passed(a, (struct sockaddr *)&c1, 64, 0));
	anvil_greet_pass(a, (struct sockaddr *)&c1, 64, 1000, 86400000);
	assert_true(anvil_greet_passed(a, (struct sockaddr *)&c1, 64, 2000));
	assert_false(anvil_greet_passed(a, (struct sockaddr *)&c2, 64, 2000));
	assert_true(anvil_greet_passed(a, (struct sockaddr *)&c1, 64, 1000 + 86400000 - 1));
	assert_false(anvil_greet_passed(a, (struct sockaddr *)&c1, 64, 1000 + 86400000));
	anvil_free(&a);
}

/* Entries whose windows and pass have expired go when the table grows: memory follows the clients of
 * the last window, not every client ever seen. */
static void test_sweep(void **state)
{
	struct anvil *a = anvil_new();
	char text[32];
	for (int i = 0; i < 3000; i++) {
		snprintf(text, sizeof(text), "10.0.%d.%d", i / 250, i % 250 + 1);
		struct sockaddr_storage ss = addr(text);
		anvil_count(a, (struct sockaddr *)&ss, 64, ANVIL_CONNECTION, 5, UNIT, 0);
	}
	assert_int_equal(anvil_size(a), 3000);
	for (int i = 0; i < 3000; i++) {
		snprintf(text, sizeof(text), "10.1.%d.%d", i / 250, i % 250 + 1);
		struct sockaddr_storage ss = addr(text);
		anvil_count(a, (struct sockaddr *)&ss, 64, ANVIL_CONNECTION, 5, UNIT, 2 * UNIT);
	}
	assert_true(anvil_size(a) < 4000);
	anvil_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rates),
	    cmocka_unit_test(test_greet_pass),
	    cmocka_unit_test(test_sweep),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
