/*
 * Unit tests for admin/form (urlencoded bodies and query strings) and admin/json (the API's request
 * objects): one table per parser, one row per input and the pairs expected (or the error), then a
 * fuzz-style run of random and mutated inputs under the sanitizers.
 */
#include "admin/form.h"
#include "admin/json.h"
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

#define X16  "xxxxxxxxxxxxxxxx"
#define X64  X16 X16 X16 X16
#define X65  X64 "x"
#define NONE NULL

struct form_row {
	const char *input;
	size_t len; /* 0: strlen(input) */
	const char
	    *pairs; /* "name=value|name=value" expected (with \x01 for an empty list), NULL: an error */
	const char *error; /* a substring of the error, when pairs is NULL */
};

static const struct form_row form_rows[] = {
    {"", 0, "\x01", NONE},
    {"a=1", 0, "a=1", NONE},
    {"a=1&b=2", 0, "a=1|b=2", NONE},
    {"a=hello+world%21", 0, "a=hello world!", NONE},
    {"a=%41%42%43", 0, "a=ABC", NONE},
    {"a=%e2%82%ac", 0, "a=\xe2\x82\xac", NONE},
    {"%61=1", 0, "a=1", NONE},
    {"a", 0, "a=", NONE},
    {"a=", 0, "a=", NONE},
    {"a=1&&b=2&", 0, "a=1|b=2", NONE},
    {"&&&", 0, "\x01", NONE},
    {"a=b=c", 0, "a=b=c", NONE},
    {"a=1;b=2", 0, "a=1;b=2", NONE},
    {"a=1&a=2", 0, "a=1|a=2", NONE},
    {"csrf_token=x&csrf_token=y", 0, "csrf_token=x|csrf_token=y", NONE},
    {"a=%3Cscript%3E", 0, "a=<script>", NONE},
    {"a=line1%0D%0Aline2", 0, "a=line1\r\nline2", NONE},
    {"a.b-c_d=1", 0, "a.b-c_d=1", NONE},
    {X64 "=1", 0, X64 "=1", NONE},
    /* malformed percent-escapes */
    {"a=%", 0, NULL, "percent-escape"},
    {"a=%4", 0, NULL, "percent-escape"},
    {"a=%4&b=1", 0, NULL, "percent-escape"},
    {"a=%zz", 0, NULL, "percent-escape"},
    {"a=%G1", 0, NULL, "percent-escape"},
    {"a=%%41", 0, NULL, "percent-escape"},
    {"a%=1", 0, NULL, "percent-escape"},
    {"a=% 1", 0, NULL, "percent-escape"},
    {"a=%+1", 0, NULL, "percent-escape"},
    /* NUL, bad UTF-8 */
    {"a=%00", 0, NULL, "NUL"},
    {"a=x%00y", 0, NULL, "NUL"},
    {"a=x\0y", 5, NULL, "NUL"},
    {"a=%C3%28", 0, NULL, "UTF-8"},
    {"a=%C0%AF", 0, NULL, "UTF-8"},
    {"a=%ED%A0%80", 0, NULL, "UTF-8"},
    {"a=%F4%90%80%80", 0, NULL, "UTF-8"},
    {"a=%FF", 0, NULL, "UTF-8"},
    {"a=%E2%82", 0, NULL, "UTF-8"},
    {"a=\xc3", 0, NULL, "UTF-8"},
    /* names */
    {"=x", 0, NULL, "empty field name"},
    {"=", 0, NULL, "empty field name"},
    {"%20=1", 0, NULL, "field name"},
    {"a+b=1", 0, NULL, "field name"},
    {"a%26b=1", 0, NULL, "field name"},
    {"<script>=1", 0, NULL, "field name"},
    {"\xc3\xa9=1", 0, NULL, "field name"},
    {X65 "=1", 0, NULL, "longer than 64"},
};

/* Render a form as "name=value|..." ("\x01" when empty) into buf. */
static void form_render(const struct form *form, char *buf, size_t size)
{
	buf[0] = '\0';
	if (form->n == 0) {
		snprintf(buf, size, "\x01");
		return;
	}
	for (size_t i = 0; i < form->n; i++) {
		size_t len = strlen(buf);
		snprintf(buf + len, size - len, "%s%s=%s", i > 0 ? "|" : "", form->fields[i].name,
		         form->fields[i].value);
	}
}

static void test_form_rows(void **state)
{
	char got[2048];

	for (size_t i = 0; i < MXD_ARRAY_SIZE(form_rows); i++) {
		const struct form_row *row = &form_rows[i];
		size_t len = row->len != 0 ? row->len : strlen(row->input);
		struct form *form = NULL;
		const char *error = NULL;
		int rc = form_parse_urlencoded(row->input, len, &form, &error);
		if (row->pairs != NULL) {
			if (rc != 0)
				fail_msg("row %zu '%s': unexpected error %s", i, row->input, error);
			form_render(form, got, sizeof(got));
			if (strcmp(got, row->pairs) != 0)
				fail_msg("row %zu '%s': got '%s', expected '%s'", i, row->input, got,
				         row->pairs);
		} else {
			if (rc == 0)
				fail_msg("row %zu '%s': accepted, expected an error with '%s'", i, row->input,
				         row->error);
			assert_null(form);
			if (strstr(error, row->error) == NULL)
				fail_msg("row %zu '%s': error '%s' lacks '%s'", i, row->input, error,
				         row->error);
		}
		form_free(&form);
		assert_null(form);
	}
}

static void test_form_duplicates(void **state)
{
	struct form *form;
	const char *error;

	assert_int_equal(form_parse_urlencoded("a=1&b=2&a=3&c=", 14, &form, &error), 0);
	assert_null(form_get(form, "a")); /* given twice: no single value */
	assert_string_equal(form_get(form, "b"), "2");
	assert_string_equal(form_get(form, "c"), "");
	assert_null(form_get(form, "d"));
	assert_int_equal(form_count(form, "a"), 2);
	assert_string_equal(form_get_nth(form, "a", 0), "1");
	assert_string_equal(form_get_nth(form, "a", 1), "3");
	assert_null(form_get_nth(form, "a", 2));
	form_free(&form);
}

static void test_form_limits(void **state)
{
	struct form *form;
	const char *error;
	size_t cap = 8 * (FORM_FIELDS_MAX + 2);
	char *text = malloc(cap);

	/* exactly FORM_FIELDS_MAX fields pass, one more does not */
	for (int extra = 0; extra <= 1; extra++) {
		size_t len = 0;
		for (int i = 0; i < FORM_FIELDS_MAX + extra; i++)
			len += (size_t)snprintf(text + len, cap - len, "%sf%d=1", i > 0 ? "&" : "", i);
		int rc = form_parse_urlencoded(text, len, &form, &error);
		assert_int_equal(rc, extra == 0 ? 0 : -1);
		if (rc == 0)
			assert_int_equal(form->n, FORM_FIELDS_MAX);
		else
			assert_non_null(strstr(error, "more than"));
		form_free(&form);
	}
	free(text);

	/* a huge value (the body limit is the only bound on values) */
	size_t big = 60 * 1024;
	text = malloc(big + 3);
	memcpy(text, "v=", 2);
	memset(text + 2, 'y', big);
	assert_int_equal(form_parse_urlencoded(text, big + 2, &form, &error), 0);
	assert_int_equal(strlen(form_get(form, "v")), big);
	form_free(&form);
	/* a huge name */
	memset(text, 'k', big);
	text[big] = '=';
	assert_int_equal(form_parse_urlencoded(text, big + 1, &form, &error), -1);
	free(text);
}

struct json_row {
	const char *input;
	const char *pairs; /* as form_rows; NULL: an error */
	const char *error;
};

static const struct json_row json_rows[] = {
    {"{}", "\x01", NONE},
    {" { } ", "\x01", NONE},
    {"{\"a\":\"1\"}", "a=1", NONE},
    {"{\"a\" : 12 , \"b\":-1.5e3}", "a=12|b=-1.5e3", NONE},
    {"{\"t\":true,\"f\":false,\"n\":null}", "t=true|f=false", NONE},
    {"{\"d\":[\"x@a.test\",\"y@b.test\"]}", "d=x@a.test|d=y@b.test", NONE},
    {"{\"d\":[]}", "\x01", NONE},
    {"{\"d\":[1,null,\"z\"]}", "d=1|d=z", NONE},
    {"{\"s\":\"q\\\"b\\\\s\\/n\\n\"}", "s=q\"b\\s/n\n", NONE},
    {"{\"u\":\"\\u00e9\\u20ac\\ud83d\\ude00\"}", "u=\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", NONE},
    {"{\"h\":\"<script>\"}", "h=<script>", NONE},
    {"{\"a\":1,\"a\":2}", "a=1|a=2", NONE},
    {"", NULL, "object expected"},
    {"[]", NULL, "object expected"},
    {"\"a\"", NULL, "object expected"},
    {"{", NULL, "member name"},
    {"{\"a\"}", NULL, "':' expected"},
    {"{\"a\":}", NULL, "value expected"},
    {"{\"a\":1,}", NULL, "member name"},
    {"{\"a\":1}x", NULL, "junk"},
    {"{\"a\":1}{}", NULL, "junk"},
    {"{'a':1}", NULL, "member name"},
    {"{a:1}", NULL, "member name"},
    {"{\"a\":01}", NULL, "','"},
    {"{\"a\":1.}", NULL, "bad number"},
    {"{\"a\":-}", NULL, "bad number"},
    {"{\"a\":.5}", NULL, "value expected"},
    {"{\"a\":tru}", NULL, "value expected"},
    {"{\"a\":{\"b\":1}}", NULL, "nested"},
    {"{\"a\":[[1]]}", NULL, "nested"},
    {"{\"a\":[1,]}", NULL, "value expected"},
    {"{\"a\":[1 2]}", NULL, "']'"},
    {"{\"a\":\"x}", NULL, "unterminated"},
    {"{\"a\":\"x\ny\"}", NULL, "control character"},
    {"{\"a\":\"\\x\"}", NULL, "unknown escape"},
    {"{\"a\":\"\\u12\"}", NULL, "four hex digits"},
    {"{\"a\":\"\\u0000\"}", NULL, "\\u0000"},
    {"{\"a\":\"\\ud800\"}", NULL, "lone high surrogate"},
    {"{\"a\":\"\\ud800\\u0041\"}", NULL, "lone high surrogate"},
    {"{\"a\":\"\\udc00\"}", NULL, "lone low surrogate"},
    {"{\"a\":\"\xff\"}", NULL, "UTF-8"},
    {"{\"a\":\"\xc0\xaf\"}", NULL, "UTF-8"},
    {"{\"\":1}", NULL, "empty field name"},
    {"{\"a b\":1}", NULL, "field name"},
    {"{\"" X65 "\":1}", NULL, "longer than 64"},
    {"{\"a\":1", NULL, "','"},
};

static void test_json_rows(void **state)
{
	char got[2048];

	for (size_t i = 0; i < MXD_ARRAY_SIZE(json_rows); i++) {
		const struct json_row *row = &json_rows[i];
		struct form *form = NULL;
		const char *error = NULL;
		int rc = json_parse_object(row->input, strlen(row->input), &form, &error);
		if (row->pairs != NULL) {
			if (rc != 0)
				fail_msg("row %zu '%s': unexpected error %s", i, row->input, error);
			form_render(form, got, sizeof(got));
			if (strcmp(got, row->pairs) != 0)
				fail_msg("row %zu '%s': got '%s', expected '%s'", i, row->input, got,
				         row->pairs);
		} else {
			if (rc == 0)
				fail_msg("row %zu '%s': accepted, expected an error with '%s'", i, row->input,
				         row->error);
			if (error == NULL || strstr(error, row->error) == NULL)
				fail_msg("row %zu '%s': error '%s' lacks '%s'", i, row->input, error,
				         row->error);
		}
		form_free(&form);
	}
}

struct json_out_row {
	const char *input, *output;
};

static const struct json_out_row json_out_rows[] = {
    {"", "\"\""},
    {"plain", "\"plain\""},
    {"q\"b\\s", "\"q\\\"b\\\\s\""},
    {"<script>&", "\"\\u003cscript\\u003e\\u0026\""},
    {"\r\n\t\x01\x7f", "\"\\u000d\\u000a\\u0009\\u0001\\u007f\""},
    {"\xc3\xa9", "\"\xc3\xa9\""},
    {"a\xffz", "\"a\\ufffdz\""},
    {"\xe2\x82", "\"\\ufffd\\ufffd\""},
};

static void test_json_str(void **state)
{
	for (size_t i = 0; i < MXD_ARRAY_SIZE(json_out_rows); i++) {
		struct evbuffer *out = evbuffer_new();
		json_str(out, json_out_rows[i].input);
		evbuffer_add(out, "", 1);
		const char *got = (const char *)evbuffer_pullup(out, -1);
		if (strcmp(got, json_out_rows[i].output) != 0)
			fail_msg("row %zu: got %s, expected %s", i, got, json_out_rows[i].output);
		evbuffer_free(out);
	}
}

/* Random octets, and valid inputs with random octets changed: never a crash, a leak or a value that is
 * not valid UTF-8 without NUL. The sanitizers watch the rest. */
static void fuzz_check(const char *input, size_t len)
{
	struct form *form = NULL;
	const char *error;

	for (int parser = 0; parser < 2; parser++) {
		int rc = parser == 0 ? form_parse_urlencoded(input, len, &form, &error)
		                     : json_parse_object(input, len, &form, &error);
		if (rc == 0) {
			for (size_t i = 0; i < form->n; i++) {
				assert_true(
				    text_utf8_valid(form->fields[i].value, strlen(form->fields[i].value)));
				assert_true(strlen(form->fields[i].name) <= FORM_NAME_MAX);
			}
			assert_true(form->n <= FORM_FIELDS_MAX);
		} else {
			assert_null(form);
			assert_non_null(error);
		}
		form_free(&form);
	}
}

static void test_fuzz(void **state)
{
	static const char *const seeds[] = {
	    "a=1&b=%41+c&d",
	    "{\"a\":\"x\\u00e9\",\"b\":[1,\"y\"],\"c\":true}",
	    "name=root&password=p%26w&csrf_token=ab",
	    "{\"destinations\":[\"a@b.test\"],\"address\":\"@\"}",
	};
	static const char alphabet[] =
	    "%=&+{}[]\":,\\u0123456789abcdefABCDEF \t\r\n\x00\x7f\x80\xc3\xa9\xed\xff";
	char buf[512];
	uint32_t seed = 12345;

#define RND() (seed = seed * 1103515245u + 12345u, (seed >> 8))
	for (int round = 0; round < 20000; round++) {
		size_t len;
		if (round % 2 == 0) {
			len = RND() % sizeof(buf);
			for (size_t i = 0; i < len; i++)
				buf[i] = alphabet[RND() % (sizeof(alphabet) - 1)];
		} else {
			const char *s = seeds[RND() % MXD_ARRAY_SIZE(seeds)];
			len = strlen(s);
			memcpy(buf, s, len);
			for (int k = (int)(RND() % 4); k >= 0; k--) {
				size_t at = RND() % len;
				buf[at] =
				    (RND() % 3 == 0) ? (char)RND() : alphabet[RND() % (sizeof(alphabet) - 1)];
			}
			len = RND() % (len + 1); /* and cut short */
		}
		fuzz_check(buf, len);
	}
#undef RND
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_form_rows),   cmocka_unit_test(test_form_duplicates),
	    cmocka_unit_test(test_form_limits), cmocka_unit_test(test_json_rows),
	    cmocka_unit_test(test_json_str),    cmocka_unit_test(test_fuzz),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
