/* Unit tests for mxd/delivery/peer_check: which addresses are private, and which are ours for a set of
 * listeners (fixed addresses; a wildcard, whose interface addresses include loopback's 127.0.0.1). */
#include "mxd/delivery/peer_check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static struct sockaddr_storage addr(const char *text)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, text, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		ss.ss_family = AF_INET;
	} else {
		assert_int_equal(inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)&ss)->sin6_addr), 1);
		ss.ss_family = AF_INET6;
	}
	return ss;
}

static const struct {
	const char *addr;
	bool private;
} private_rows[] = {
    {"10.0.0.1", true},
    {"10.255.255.255", true},
    {"172.16.0.1", true},
    {"172.31.255.1", true},
    {"172.15.0.1", false},
    {"172.32.0.1", false},
    {"192.168.1.1", true},
    {"192.169.1.1", false},
    {"169.254.169.254", true},
    {"0.0.0.0", true},
    {"0.1.2.3", true},
    {"127.0.0.1", false},
    {"127.0.0.2", false},
    {"8.8.8.8", false},
    {"192.0.2.1", false},
    {"fc00::1", true},
    {"fd12:3456::1", true},
    {"fe80::1", true},
    {"febf::1", true},
    {"fec0::1", false},
    {"::", true},
    {"::1", false},
    {"2001:db8::1", false},
    {"::ffff:10.1.2.3", true},
    {"::ffff:192.168.0.1", true},
    {"::ffff:8.8.8.8", false},
};

static void test_private(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(private_rows) / sizeof(private_rows[0]); i++) {
		struct sockaddr_storage ss = addr(private_rows[i].addr);
		if (peer_check_is_private((struct sockaddr *)&ss) != private_rows[i].private)
			fail_msg("%s: expected %s", private_rows[i].addr,
			         private_rows[i].private ? "private" : "not");
	}
}

/* For each listener set: peers (address, port) and whether each is ours. */
static const struct {
	const char *listen[3];
	const char *peer;
	uint16_t port;
	bool self;
} self_rows[] = {
    {{"127.0.0.1:2525"}, "127.0.0.1", 2525, true},
    {{"127.0.0.1:2525"}, "127.0.0.1", 25, false},   /* another server on our address */
    {{"127.0.0.1:2525"}, "127.0.0.2", 2525, false}, /* other 127/8 addresses are not ours */
    {{"127.0.0.1:2525"}, "::ffff:127.0.0.1", 2525, true},
    {{"127.0.0.1:2525"}, "0.0.0.0", 2525, true}, /* reaches this host */
    {{"192.0.2.7:25", "[2001:db8::7]:25"}, "192.0.2.7", 25, true},
    {{"192.0.2.7:25", "[2001:db8::7]:25"}, "2001:db8::7", 25, true},
    {{"192.0.2.7:25", "[2001:db8::7]:25"}, "192.0.2.8", 25, false},
    {{"192.0.2.7"}, "192.0.2.7", 25, true},      /* port 25 by default */
    {{"0.0.0.0:2526"}, "127.0.0.1", 2526, true}, /* an interface address (lo) */
    {{"0.0.0.0:2526"}, "127.0.0.2", 2526, false},
    {{"0.0.0.0:2526"}, "127.0.0.1", 2527, false},
    {{"0.0.0.0:2526"}, "192.0.2.200", 2526, false}, /* not an interface address */
    {{"[::]:2527"}, "127.0.0.1", 2527, true},
    {{"[::]:2527"}, "::", 2527, true},
};

static void test_self(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(self_rows) / sizeof(self_rows[0]); i++) {
		char *listen[3];
		size_t n = 0;
		for (; n < 3 && self_rows[i].listen[n] != NULL; n++)
			listen[n] = (char *)self_rows[i].listen[n];
		struct peer_check *pc;
		const char *error;
		assert_int_equal(peer_check_new(listen, n, &pc, &error), 0);
		struct sockaddr_storage ss = addr(self_rows[i].peer);
		if (peer_check_is_self(pc, (struct sockaddr *)&ss, self_rows[i].port) != self_rows[i].self)
			fail_msg("row %zu: %s port %u: expected %s", i, self_rows[i].peer, self_rows[i].port,
			         self_rows[i].self ? "ours" : "not ours");
		peer_check_free(&pc);
		assert_null(pc);
	}
}

static void test_bad_listen(void **state)
{
	(void)state;
	char *listen[] = {"not an address:x"};
	struct peer_check *pc = NULL;
	const char *error = NULL;
	assert_int_equal(peer_check_new(listen, 1, &pc, &error), -1);
	assert_non_null(error);
	assert_null(pc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_private),
	    cmocka_unit_test(test_self),
	    cmocka_unit_test(test_bad_listen),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
