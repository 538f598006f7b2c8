/*
 * test_client_count: the per-client counts behind smtpd_client_connection_limit and the SPF bounds.
 * Rows of (address, IPv6 prefix length, expected key) for netaddr_client_key(), then rows of
 * connections in order with whether each one is counted under a limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mxd/common/netaddr.h"
#include "mxd/smtpd/client_count.h"

#include <string.h>

static struct sockaddr_storage addr(const char *text)
{
	struct sockaddr_storage ss;
	socklen_t len;
	const char *error;
	assert_int_equal(netaddr_parse(text, 25, &ss, &len, &error), 0);
	return ss;
}

static const struct {
	const char *addr;
	unsigned prefix;
	const char *key;
} key_rows[] = {
    {"192.0.2.1", 64, "192.0.2.1"},
    {"[2001:db8:1:2:3:4:5:6]", 64, "2001:db8:1:2::/64"},
    {"[2001:db8:1:2:ffff::1]", 64, "2001:db8:1:2::/64"},
    {"[2001:db8:1:2:3:4:5:6]", 128, "2001:db8:1:2:3:4:5:6/128"},
    {"[2001:db8:1:2:3:4:5:6]", 56, "2001:db8:1::/56"},
    {"[2001:db8:1:2:3:4:5:6]", 84, "2001:db8:1:2:3::/84"},
    {"[2001:db8:1:2:3:4:5:6]", 1, "::/1"},
    {"[::ffff:192.0.2.1]", 64, "192.0.2.1"},
    {"[::1]", 64, "::/64"},
};

static void test_client_key(void **state)
{
	for (size_t i = 0; i < sizeof(key_rows) / sizeof(key_rows[0]); i++) {
		struct sockaddr_storage ss = addr(key_rows[i].addr);
		char key[NETADDR_STR_MAX];
		netaddr_client_key((struct sockaddr *)&ss, key_rows[i].prefix, key, sizeof(key));
		if (strcmp(key, key_rows[i].key) != 0)
			fail_msg("row %zu: %s /%u: got %s, want %s", i, key_rows[i].addr, key_rows[i].prefix,
			         key, key_rows[i].key);
	}
}

static const struct {
	const char *addr;
	unsigned prefix;
	int ret; /* client_count_acquire with a limit of 2 */
} count_rows[] = {
    {"[2001:db8:1::10]", 64, 0},
    {"[2001:db8:1::11]", 64, 0},
    {"[2001:db8:1:0:ffff::12]", 64, -1}, /* the same /64: a third */
    {"[2001:db8:2::10]", 64, 0},         /* another /64 */
    {"[2001:db8:1::13]", 128, 0},        /* by address: a first */
    {"192.0.2.1", 64, 0},
    {"192.0.2.1", 64, 0},
    {"[::ffff:192.0.2.1]", 64, -1}, /* the same IPv4 client */
    {"192.0.2.2", 64, 0},
};

static void test_counting(void **state)
{
	struct client_count_table *table = client_count_table_new();
	struct client_count *held[16] = {0};
	size_t n = sizeof(count_rows) / sizeof(count_rows[0]);
	for (size_t i = 0; i < n; i++) {
		struct sockaddr_storage ss = addr(count_rows[i].addr);
		int ret =
		    client_count_acquire(table, (struct sockaddr *)&ss, count_rows[i].prefix, 2, &held[i]);
		if (ret != count_rows[i].ret)
			fail_msg("row %zu: %s /%u: got %d", i, count_rows[i].addr, count_rows[i].prefix, ret);
	}
	struct sockaddr_storage one = addr("[2001:db8:1::99]");
	assert_int_equal(client_count_get(table, (struct sockaddr *)&one, 64), 2);
	/* a release frees a slot of the /64, whatever address took it */
	client_count_release(table, &held[0]);
	assert_null(held[0]);
	assert_int_equal(client_count_get(table, (struct sockaddr *)&one, 64), 1);
	struct client_count *again = NULL;
	assert_int_equal(client_count_acquire(table, (struct sockaddr *)&one, 64, 2, &again), 0);
	client_count_release(table, &again);
	for (size_t i = 0; i < n; i++)
		client_count_release(table, &held[i]);
	assert_int_equal(client_count_get(table, (struct sockaddr *)&one, 64), 0);
	client_count_table_free(&table);
	assert_null(table);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_client_key),
	    cmocka_unit_test(test_counting),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
