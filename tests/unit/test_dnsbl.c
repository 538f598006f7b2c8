/*
 * test_dnsbl: postscreen_dnsbl_sites as Postfix writes it: rows of setting text, whether it parses,
 * and for good ones which reply addresses each site scores; then the names looked up for IPv4 and
 * IPv6 clients.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mxd/common/netaddr.h"
#include "mxd/smtpd/dnsbl.h"

#include <string.h>

static struct sockaddr_storage addr(const char *text)
{
	struct sockaddr_storage ss;
	socklen_t len;
	const char *error;
	assert_int_equal(netaddr_parse(text, 0, &ss, &len, &error), 0);
	return ss;
}

static const struct {
	const char *text;
	int ok;
	size_t count;
} parse_rows[] = {
    {"", 0, 0},
    {"zen.spamhaus.org", 0, 1},
    {"zen.spamhaus.org*3, bl.example*2, list.dnswl.org=127.0.[0..255].[1..3]*-2", 0, 3},
    {"b.example=127.0.0.[2;4;10..12]", 0, 1},
    {"b.example=127.0.0.2*0 c.example", 0, 2},
    {"b.example=127.0.0", -1, 0},        /* three octets */
    {"b.example=127.0.0.256", -1, 0},    /* over 255 */
    {"b.example=127.0.0.[3..2]", -1, 0}, /* empty range */
    {"b.example=127.0.0.[2", -1, 0},     /* unclosed */
    {"b.example=127.0.0.[]", -1, 0},     /* empty list */
    {"b.example*", -1, 0},               /* no weight */
    {"b.example*x", -1, 0},              /* not a number */
    {"b.example*2=127.0.0.2", -1, 0},    /* weight before filter */
    {"b..example", -1, 0},               /* empty label */
    {"b.exa mple", 0, 2},                /* two items */
    {"b.ex\"ample", -1, 0},              /* not a name */
    {"=127.0.0.2", -1, 0},               /* no domain */
    {"b.example=127.0.0.2.5", -1, 0},    /* five octets */
};

static void test_parse(void **state)
{
	for (size_t i = 0; i < sizeof(parse_rows) / sizeof(parse_rows[0]); i++) {
		struct dnsbl_sites *sites = NULL;
		const char *error = NULL;
		int got = dnsbl_sites_parse(parse_rows[i].text, &sites, &error);
		if (got != parse_rows[i].ok)
			fail_msg("row %zu '%s': got %d (%s)", i, parse_rows[i].text, got, error ? error : "");
		if (got == 0)
			assert_int_equal(dnsbl_sites_count(sites), parse_rows[i].count);
		else
			assert_non_null(strstr(error, "postscreen_dnsbl_sites"));
		dnsbl_sites_unref(&sites);
		assert_null(sites);
	}
}

static const struct {
	const char *reply;
	int weights[4];
} score_rows[] = {
    /* zen*3 (any reply), bl=127.0.0.2*2, wl=127.0.[0..255].[1..3]*-2, multi=127.0.0.[2;4;10..12] */
    {"127.0.0.2", {3, 2, -2, 1}}, {"127.0.0.3", {3, 0, -2, 0}}, {"127.0.0.4", {3, 0, 0, 1}},
    {"127.0.0.11", {3, 0, 0, 1}}, {"127.0.0.13", {3, 0, 0, 0}}, {"127.0.9.1", {3, 0, -2, 0}},
    {"127.1.0.1", {3, 0, 0, 0}},
};

static void test_weights(void **state)
{
	struct dnsbl_sites *sites;
	const char *error;
	assert_int_equal(
	    dnsbl_sites_parse("ZEN.example*3 bl.example=127.0.0.2*2 "
	                      "wl.example=127.0.[0..255].[1..3]*-2 multi.example=127.0.0.[2;4;10..12]",
	                      &sites, &error),
	    0);
	assert_string_equal(dnsbl_site_domain(sites, 0), "zen.example");
	for (size_t i = 0; i < sizeof(score_rows) / sizeof(score_rows[0]); i++) {
		struct sockaddr_storage reply[2] = {addr("[2001:db8::1]"), addr(score_rows[i].reply)};
		for (size_t site = 0; site < 4; site++) {
			int w = dnsbl_site_weight(sites, site, reply, 2);
			if (w != score_rows[i].weights[site])
				fail_msg("reply %s, site %zu: weight %d, want %d", score_rows[i].reply, site,
				         w, score_rows[i].weights[site]);
		}
		/* an IPv6 answer alone matches nothing */
		assert_int_equal(dnsbl_site_weight(sites, 0, reply, 1), 0);
	}
	struct dnsbl_sites *ref = dnsbl_sites_ref(sites);
	dnsbl_sites_unref(&sites);
	assert_int_equal(dnsbl_sites_count(ref), 4); /* still held */
	dnsbl_sites_unref(&ref);
}

static void test_query_name(void **state)
{
	char buf[300];
	struct sockaddr_storage v4 = addr("192.0.2.10"), v6 = addr("[2001:db8:1::5]"),
	                        mapped = addr("[::ffff:192.0.2.10]");
	assert_int_equal(dnsbl_query_name((struct sockaddr *)&v4, "zen.example", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "10.2.0.192.zen.example");
	assert_int_equal(dnsbl_query_name((struct sockaddr *)&mapped, "zen.example", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "10.2.0.192.zen.example");
	assert_int_equal(dnsbl_query_name((struct sockaddr *)&v6, "zen.example", buf, sizeof(buf)), 0);
	assert_string_equal(buf,
	                    "5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.zen.example");
	assert_int_equal(dnsbl_query_name((struct sockaddr *)&v4, "zen.example", buf, 10), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_weights),
	    cmocka_unit_test(test_query_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
