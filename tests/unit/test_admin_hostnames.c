/*
 * Unit tests for admin/hostnames: which Host headers mxadmin serves (admin_hostnames, against DNS
 * rebinding), and which admin_hostnames values it refuses at start-up. One row per case.
 */
#include "admin/hostnames.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

struct match_row {
	const char *names, *listen, *host;
	bool ok;
};

static const struct match_row match_rows[] = {
    /* the default: admin_listen (expanded) and localhost; loopback literals on a loopback listener */
    {"127.0.0.1:8080, localhost", "127.0.0.1:8080", "127.0.0.1:8080", true},
    {"127.0.0.1:8080, localhost", "127.0.0.1:8080", "127.0.0.1", true},
    {"127.0.0.1:8080, localhost", "127.0.0.1:8080", "[::1]:8080", true},
    {"127.0.0.1:8080, localhost", "127.0.0.1:8080", "localhost:8080", true},
    {"127.0.0.1:8080, localhost", "127.0.0.1:8080", "LOCALHOST", true},
    {"127.0.0.1:8080, localhost", "127.0.0.1:8080", "localhost:8081", false},
    {"127.0.0.1:8080, localhost", "127.0.0.1:8080", "127.0.0.1:80", false},
    {"127.0.0.1:8080, localhost", "127.0.0.1:8080", "127.0.0.2:8080", false},
    {"127.0.0.1:8080, localhost", "127.0.0.1:8080", "evil.example:8080", false},
    {"127.0.0.1:8080, localhost", "127.0.0.1:8080", "localhost.evil.example:8080", false},
    {"127.0.0.1:8080, localhost", "127.0.0.1:8080", "localhost.:8080", false},
    {"127.0.0.1:8080, localhost", "127.0.0.1:8080", "localhost:8080x", false},
    {"127.0.0.1:8080, localhost", "127.0.0.1:8080", "localhost:", false},
    {"127.0.0.1:8080, localhost", "127.0.0.1:8080", "localhost:08080", true},
    {"127.0.0.1:8080, localhost", "127.0.0.1:8080", "localhost:0", false},
    {"127.0.0.1:8080, localhost", "127.0.0.1:8080", "[::1", false},
    {"127.0.0.1:8080, localhost", "127.0.0.1:8080", "", false},
    {"127.0.0.1:8080, localhost", "127.0.0.1:8080", NULL, false},
    {"127.0.0.1:8080, localhost", "127.0.0.1:8080", "localhost\r\nX: y", false},
    /* [::1] listener */
    {"[::1]:8443, localhost", "[::1]:8443", "[::1]:8443", true},
    {"[::1]:8443, localhost", "[::1]:8443", "[0:0::1]:8443", false},
    {"[::1]:8443, localhost", "[::1]:8443", "127.0.0.1:8443", true},
    /* a public listener: no loopback literals, names as configured */
    {"admin.example.net, proxy.example:443", "192.0.2.1:8080", "admin.example.net:8080", true},
    {"admin.example.net, proxy.example:443", "192.0.2.1:8080", "Admin.Example.Net", true},
    {"admin.example.net, proxy.example:443", "192.0.2.1:8080", "admin.example.net:9090", false},
    {"admin.example.net, proxy.example:443", "192.0.2.1:8080", "proxy.example:443", true},
    {"admin.example.net, proxy.example:443", "192.0.2.1:8080", "proxy.example", false},
    {"admin.example.net, proxy.example:443", "192.0.2.1:8080", "proxy.example:8080", false},
    {"admin.example.net, proxy.example:443", "192.0.2.1:8080", "127.0.0.1:8080", false},
    {"admin.example.net, proxy.example:443", "192.0.2.1:8080", "192.0.2.1:8080", false},
    {"192.0.2.1:8080 [2001:db8::1]", "192.0.2.1:8080", "192.0.2.1:8080", true},
    {"192.0.2.1:8080 [2001:db8::1]", "192.0.2.1:8080", "[2001:DB8::1]:8080", true},
    {"", "127.0.0.1:8080", "localhost:8080", false},
    {"", "127.0.0.1:8080", "127.0.0.1:8080", true},
};

static void test_match_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(match_rows) / sizeof(match_rows[0]); i++) {
		const struct match_row *r = &match_rows[i];
		struct hostnames *list;
		const char *error = NULL;
		if (hostnames_parse(r->names, r->listen, &list, &error) < 0)
			fail_msg("row %zu: parse '%s': %s", i, r->names, error);
		if (hostnames_match(list, r->host) != r->ok)
			fail_msg("row %zu: names '%s', Host '%s': expected %s", i, r->names,
			         r->host != NULL ? r->host : "(none)", r->ok ? "served" : "refused");
		hostnames_free(&list);
		assert_null(list);
	}
}

struct bad_row {
	const char *names, *listen, *error;
};

static const struct bad_row bad_rows[] = {
    {"ok.example, bad/name", "127.0.0.1:8080", "admin_hostnames: 'bad/name': a host name has"},
    {"ok.example:99999", "127.0.0.1:8080", "admin_hostnames: 'ok.example:99999': bad port"},
    {"ok.example:", "127.0.0.1:8080", "admin_hostnames: 'ok.example:': bad port"},
    {"::1", "127.0.0.1:8080", "admin_hostnames: '::1': an IPv6 address goes in brackets"},
    {"[::1", "127.0.0.1:8080", "admin_hostnames: '[::1': '[' without ']'"},
    {"[nonsense]", "127.0.0.1:8080", "admin_hostnames: '[nonsense]': not an IPv6 address"},
    {"localhost", "nowhere:x", "admin_listen 'nowhere:x'"},
};

static void test_bad_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_rows) / sizeof(bad_rows[0]); i++) {
		const struct bad_row *r = &bad_rows[i];
		struct hostnames *list = (struct hostnames *)1;
		const char *error = NULL;
		if (hostnames_parse(r->names, r->listen, &list, &error) == 0)
			fail_msg("row %zu: '%s' accepted", i, r->names);
		assert_null(list);
		if (strncmp(error, r->error, strlen(r->error)) != 0)
			fail_msg("row %zu: error '%s', expected '%s...'", i, error, r->error);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_match_rows),
	    cmocka_unit_test(test_bad_rows),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
