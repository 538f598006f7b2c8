/*
 * Unit tests for admin/html: the one escaping function (html_escape), html_f (every %s escaped, numbers
 * as printf), URL parameters and the page layout. One row per input and the output expected.
 */
#include "admin/html.h"
#include "admin/text.h"
#include "mxd/common/util.h"

#include <event2/buffer.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* The buffer's text (NUL-terminated), drained. The caller frees it. */
static char *take(struct evbuffer *out)
{
	size_t len = evbuffer_get_length(out);
	char *s = malloc(len + 1);
	evbuffer_remove(out, s, len);
	s[len] = '\0';
	return s;
}

struct escape_row {
	const char *input, *output;
};

static const struct escape_row escape_rows[] = {
    {"", ""},
    {"plain text", "plain text"},
    {"<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"},
    {"\"double\" 'single'", "&quot;double&quot; &#39;single&#39;"},
    {"a & b", "a &amp; b"},
    {"&amp;", "&amp;amp;"},
    {"&#39;", "&amp;#39;"},
    {"\"><img src=x onerror=alert(1)>", "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"},
    {"' onmouseover='x", "&#39; onmouseover=&#39;x"},
    {"javascript:alert(1)", "javascript:alert(1)"}, /* text, not markup: links never take values raw */
    {"x&y'z{w}@ext.test", "x&amp;y&#39;z{w}@ext.test"},
    {"caf\xc3\xa9 \xe2\x82\xac", "caf\xc3\xa9 \xe2\x82\xac"},
    {"bad \xff byte", "bad \xef\xbf\xbd byte"},
    {"cut \xe2\x82", "cut \xef\xbf\xbd\xef\xbf\xbd"},
    {"overlong \xc0\xbc", "overlong \xef\xbf\xbd\xef\xbf\xbd"},
    {"<\xff>", "&lt;\xef\xbf\xbd&gt;"},
    {"line\nbreak\ttab", "line\nbreak\ttab"},
};

static void test_escape_rows(void **state)
{
	struct evbuffer *out = evbuffer_new();

	for (size_t i = 0; i < MXD_ARRAY_SIZE(escape_rows); i++) {
		html_escape(out, escape_rows[i].input);
		char *got = take(out);
		if (strcmp(got, escape_rows[i].output) != 0)
			fail_msg("row %zu '%s': got '%s', expected '%s'", i, escape_rows[i].input, got,
			         escape_rows[i].output);
		free(got);
	}
	html_escape(out, NULL);
	assert_int_equal(evbuffer_get_length(out), 0);
	evbuffer_free(out);
}

static void test_html_f(void **state)
{
	struct evbuffer *out = evbuffer_new();
	char *got;

	html_f(out, "<td class=\"x\">%s</td>", "<b>\"&'</b>");
	got = take(out);
	assert_string_equal(got, "<td class=\"x\">&lt;b&gt;&quot;&amp;&#39;&lt;/b&gt;</td>");
	free(got);

	html_f(out, "%d %u %ld %lld %zu %llu %x %5d|%-3d|%05.1f %% %c%c", -5, 7u, 123456789L, -9000000000LL,
	       (size_t)42, 18446744073709551615ULL, 255u, 12, 3, 2.25, '<', 'a');
	got = take(out);
	assert_string_equal(got,
	                    "-5 7 123456789 -9000000000 42 18446744073709551615 ff    12|3  |002.2 % &lt;a");
	free(got);

	html_f(out, "%s%s%s", "", "<", "");
	got = take(out);
	assert_string_equal(got, "&lt;");
	free(got);

	html_f(out, "no conversions");
	got = take(out);
	assert_string_equal(got, "no conversions");
	free(got);

	html_f(out, "%*d|%.*f", 4, 7, 2, 1.0);
	got = take(out);
	assert_string_equal(got, "   7|1.00");
	free(got);
	evbuffer_free(out);
}

static void test_url_param(void **state)
{
	static const struct escape_row rows[] = {
	    {"info@example.com", "info@example.com"},
	    {"@example.com", "@example.com"},
	    {"a+b c&d=e/f?g#h%", "a%2Bb%20c%26d%3De%2Ff%3Fg%23h%25"},
	    {"\"<'>", "%22%3C%27%3E"},
	    {"caf\xc3\xa9", "caf%C3%A9"},
	};
	char buf[128];

	for (size_t i = 0; i < MXD_ARRAY_SIZE(rows); i++)
		assert_string_equal(html_url_param(rows[i].input, buf, sizeof(buf)), rows[i].output);
	/* too long: cut at a character boundary, never mid-escape */
	assert_string_equal(html_url_param("abc\xc3\xa9", buf, 6), "abc");
	assert_string_equal(html_url_param("ab&", buf, 5), "ab");
}

static void test_page_layout_escapes(void **state)
{
	struct evbuffer *out = evbuffer_new();
	struct html_page page = {
	    .title = "<title>",
	    .section = "domains",
	    .admin = "a<b",
	    .superadmin = false,
	    .csrf_token = "\"tok\"",
	    .flash = "done <i>",
	    .error = "bad & worse",
	    .warning = "'warn'",
	};

	html_page_begin(out, &page);
	html_page_end(out);
	char *got = take(out);
	assert_non_null(strstr(got, "<title>&lt;title&gt; - mxadmin</title>"));
	assert_non_null(strstr(got, "<h1>&lt;title&gt;</h1>"));
	assert_non_null(strstr(got, "a&lt;b"));
	assert_non_null(strstr(got, "value=\"&quot;tok&quot;\""));
	assert_non_null(strstr(got, "done &lt;i&gt;"));
	assert_non_null(strstr(got, "bad &amp; worse"));
	assert_non_null(strstr(got, "&#39;warn&#39;"));
	assert_non_null(strstr(got, "<a href=\"/domains\" aria-current=\"page\">Domains</a>"));
	assert_null(strstr(got, "/routes")); /* superadmins only */
	assert_null(strstr(got, "<script"));
	assert_null(strstr(got, "style="));
	free(got);
	evbuffer_free(out);
}

static void test_time(void **state)
{
	char buf[32];

	assert_string_equal(html_time(0, buf, sizeof(buf)), "-");
	assert_string_equal(html_time(86400, buf, sizeof(buf)), "1970-01-02 00:00:00");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escape_rows), cmocka_unit_test(test_html_f),
	    cmocka_unit_test(test_url_param),   cmocka_unit_test(test_page_layout_escapes),
	    cmocka_unit_test(test_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
