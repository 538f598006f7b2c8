/* Unit tests for mxd/delivery/smtp_reply: one table of replies (lines and the outcome expected), one of EHLO
 * keyword lines, and the bounds (line length, line count, text length). */
#include "mxd/delivery/smtp_reply.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Feed the lines of lines[] (NULL-terminated); each line's length is strlen unless lens gives one. */
static int feed(struct smtp_reply *r, const char *const *lines, const size_t *lens,
                struct smtp_reply_ehlo *ehlo, const char **error_r, size_t *fed_r)
{
	int rc = 0;
	size_t i;
	for (i = 0; lines[i] != NULL; i++) {
		size_t len = lens != NULL && lens[i] != 0 ? lens[i] : strlen(lines[i]);
		rc = smtp_reply_line(r, lines[i], len, ehlo, error_r);
		if (rc != 0)
			break;
	}
	*fed_r = i;
	return rc;
}

/* One reply: its lines, then rc of the last line fed, and for rc 1 the reply; for -1 the error. */
struct reply_row {
	const char *lines[6];
	size_t lens[6]; /* 0: strlen */
	int rc;
	int code;
	const char *enh;
	bool enh_given;
	const char *text;
	const char *str; /* smtp_reply_str() */
	const char *error;
};

#define OK(l, code, enh, given, text, str)                                                                   \
	{                                                                                                    \
		l, {0}, 1, code, enh, given, text, str, NULL                                                 \
	}
#define BAD(l, error)                                                                                        \
	{                                                                                                    \
		l, {0}, -1, 0, NULL, false, NULL, NULL, error                                                \
	}
#define L(...)                                                                                               \
	{                                                                                                    \
		__VA_ARGS__, NULL                                                                            \
	}

static const struct reply_row reply_rows[] = {
    OK(L("250 Ok"), 250, "2.0.0", false, "Ok", "250 Ok"),
    OK(L("250"), 250, "2.0.0", false, "", "250 "),
    OK(L("250 "), 250, "2.0.0", false, "", "250 "),
    OK(L("220 mx.example ESMTP"), 220, "2.0.0", false, "mx.example ESMTP", "220 mx.example ESMTP"),
    OK(L("550 5.1.1 no such user"), 550, "5.1.1", true, "no such user", "550 5.1.1 no such user"),
    OK(L("550 5.1.1"), 550, "5.1.1", true, "", "550 5.1.1 "),
    OK(L("451 4.7.1   greylisted"), 451, "4.7.1", true, "greylisted", "451 4.7.1 greylisted"),
    OK(L("552 5.123.456 big"), 552, "5.123.456", true, "big", "552 5.123.456 big"),
    /* an enhanced code of the wrong class, or malformed, stays text */
    OK(L("550 4.1.1 no"), 550, "5.0.0", false, "4.1.1 no", "550 4.1.1 no"),
    OK(L("450 5.1.1 no"), 450, "4.0.0", false, "5.1.1 no", "450 5.1.1 no"),
    OK(L("550 5.1234.1 x"), 550, "5.0.0", false, "5.1234.1 x", "550 5.1234.1 x"),
    OK(L("550 5.1.1234 x"), 550, "5.0.0", false, "5.1.1234 x", "550 5.1.1234 x"),
    OK(L("550 5..1 x"), 550, "5.0.0", false, "5..1 x", "550 5..1 x"),
    OK(L("550 5.1. x"), 550, "5.0.0", false, "5.1. x", "550 5.1. x"),
    OK(L("550 5.1.1x"), 550, "5.0.0", false, "5.1.1x", "550 5.1.1x"),
    OK(L("550 5.1"), 550, "5.0.0", false, "5.1", "550 5.1"),
    OK(L("354 3.0.0 go ahead"), 354, "3.0.0", true, "go ahead", "354 3.0.0 go ahead"),
    OK(L("354 End data with <CR><LF>.<CR><LF>"), 354, "3.0.0", false, "End data with <CR><LF>.<CR><LF>",
       "354 End data with <CR><LF>.<CR><LF>"),
    /* multi-line: joined by a space; the first line's enhanced code is dropped from the others */
    OK(L("550-5.7.1 first", "550-5.7.1 second", "550 5.7.1 third"), 550, "5.7.1", true, "first second third",
       "550 5.7.1 first second third"),
    OK(L("550-5.7.1 first", "550-5.7.2 other", "550 5.7.1"), 550, "5.7.1", true, "first 5.7.2 other 5.7.1",
       "550 5.7.1 first 5.7.2 other 5.7.1"),
    OK(L("250-mx.example", "250-PIPELINING", "250 SIZE 100"), 250, "2.0.0", false,
       "mx.example PIPELINING SIZE 100", "250 mx.example PIPELINING SIZE 100"),
    OK(L("250-", "250-", "250 x"), 250, "2.0.0", false, "x", "250 x"),
    OK(L("421-4.3.2 going", "421 down"), 421, "4.3.2", true, "going down", "421 4.3.2 going down"),
    /* control characters, DEL and 8-bit octets become '?', a tab a space */
    OK(L("550 a\tb\x01"
         "c\x7f"
         "d\xc3\xa9"),
       550, "5.0.0", false, "a b?c?d??", "550 a b?c?d??"),
    OK(L("550 a\rb\nc\x1b[31m"), 550, "5.0.0", false, "a?b?c?[31m", "550 a?b?c?[31m"),
    {L("550 a\0b"), {7}, 1, 550, "5.0.0", false, "a?b", "550 a?b", NULL},
    /* malformed */
    BAD(L(""), "three digits"),
    BAD(L("25"), "three digits"),
    BAD(L("2x0 Ok"), "three digits"),
    BAD(L(" 250 Ok"), "three digits"),
    BAD(L("-250 Ok"), "three digits"),
    BAD(L("150 Ok"), "out of range"),
    BAD(L("650 Ok"), "out of range"),
    BAD(L("050 Ok"), "out of range"),
    BAD(L("250Ok"), "no space or hyphen"),
    BAD(L("250\tOk"), "no space or hyphen"),
    BAD(L("250=Ok"), "no space or hyphen"),
    BAD(L("250-first", "251 second"), "differs"),
    BAD(L("250-first", "550 second"), "differs"),
    BAD(L("250-first", "25"), "three digits"),
    BAD(L("250-first", "250+second"), "no space or hyphen"),
};

static void test_replies(void **state)
{
	for (size_t i = 0; i < sizeof(reply_rows) / sizeof(reply_rows[0]); i++) {
		const struct reply_row *row = &reply_rows[i];
		struct smtp_reply r;
		memset(&r, 0, sizeof(r));
		const char *error = NULL;
		size_t fed;
		int rc = feed(&r, row->lines, row->lens, NULL, &error, &fed);
		if (rc != row->rc)
			fail_msg("row %zu (%s): rc %d, expected %d", i, row->lines[0], rc, row->rc);
		if (rc == 1) {
			assert_null(row->lines[fed + 1]); /* complete at the last line */
			assert_int_equal(r.r.code, row->code);
			assert_string_equal(r.r.enh, row->enh);
			assert_int_equal(r.enh_given, row->enh_given);
			assert_string_equal(r.r.text, row->text);
			assert_int_equal(r.text_len, strlen(r.r.text));
			assert_false(r.more);
			char buf[SMTP_REPLY_STR_MAX];
			smtp_reply_str(&r, buf, sizeof(buf));
			assert_string_equal(buf, row->str);
		} else {
			assert_non_null(error);
			if (strstr(error, row->error) == NULL)
				fail_msg("row %zu (%s): error '%s', expected '%s'", i, row->lines[0], error,
				         row->error);
		}
	}
}

/* A complete reply is kept until the first line of the next, which starts afresh. */
static void test_next_reply_starts_afresh(void **state)
{
	struct smtp_reply r;
	const char *error = NULL;
	memset(&r, 0, sizeof(r));
	assert_int_equal(smtp_reply_line(&r, "550-5.1.1 a", 11, NULL, &error), 0);
	assert_true(r.more);
	assert_int_equal(smtp_reply_line(&r, "550 5.1.1 b", 11, NULL, &error), 1);
	assert_string_equal(r.r.text, "a b");
	assert_int_equal(r.lines, 2);
	assert_int_equal(smtp_reply_line(&r, "250 ok", 6, NULL, &error), 1);
	assert_int_equal(r.r.code, 250);
	assert_string_equal(r.r.enh, "2.0.0");
	assert_false(r.enh_given);
	assert_string_equal(r.r.text, "ok");
	assert_int_equal(r.lines, 1);

	/* a partial reply abandoned (more set to false) does not leak into the next */
	assert_int_equal(smtp_reply_line(&r, "450-4.2.0 part", 14, NULL, &error), 0);
	r.more = false;
	assert_int_equal(smtp_reply_line(&r, "220 hi", 6, NULL, &error), 1);
	assert_int_equal(r.r.code, 220);
	assert_string_equal(r.r.text, "hi");
}

static void test_line_too_long(void **state)
{
	char *line = malloc(SMTP_REPLY_LINE_MAX + 2);
	assert_non_null(line);
	memset(line, 'x', SMTP_REPLY_LINE_MAX + 1);
	memcpy(line, "250 ", 4);
	struct smtp_reply r;
	const char *error = NULL;
	memset(&r, 0, sizeof(r));
	/* the longest line is accepted; its text is cut to the room there is */
	assert_int_equal(smtp_reply_line(&r, line, SMTP_REPLY_LINE_MAX, NULL, &error), 1);
	assert_int_equal(r.text_len, SMTP_CLIENT_TEXT_MAX - 1);
	assert_int_equal(strlen(r.r.text), SMTP_CLIENT_TEXT_MAX - 1);
	assert_int_equal(smtp_reply_line(&r, line, SMTP_REPLY_LINE_MAX + 1, NULL, &error), -1);
	assert_non_null(strstr(error, "too long"));
	/* also in the middle of a reply */
	memset(&r, 0, sizeof(r));
	assert_int_equal(smtp_reply_line(&r, "250-a", 5, NULL, &error), 0);
	assert_int_equal(smtp_reply_line(&r, line, SMTP_REPLY_LINE_MAX + 1, NULL, &error), -1);
	assert_non_null(strstr(error, "too long"));
	free(line);
}

static void test_too_many_lines(void **state)
{
	struct smtp_reply r;
	const char *error = NULL;
	memset(&r, 0, sizeof(r));
	for (unsigned i = 0; i < SMTP_REPLY_LINES_MAX - 1; i++)
		assert_int_equal(smtp_reply_line(&r, "250-more text here", 18, NULL, &error), 0);
	/* the last line allowed ends the reply */
	struct smtp_reply copy = r;
	assert_int_equal(smtp_reply_line(&copy, "250 end", 7, NULL, &error), 1);
	assert_int_equal(copy.lines, SMTP_REPLY_LINES_MAX);
	assert_int_equal(copy.text_len, SMTP_CLIENT_TEXT_MAX - 1);
	/* one more continuation is one too many */
	assert_int_equal(smtp_reply_line(&r, "250-more", 8, NULL, &error), 0);
	assert_int_equal(smtp_reply_line(&r, "250 end", 7, NULL, &error), -1);
	assert_non_null(strstr(error, "too many lines"));
}

static void test_enh_len(void **state)
{
	assert_int_equal(smtp_reply_enh_len("5.1.1 x", 7, 550), 5);
	assert_int_equal(smtp_reply_enh_len("5.1.1", 5, 550), 5);
	assert_int_equal(smtp_reply_enh_len("5.1.1", 4, 550), 0);
	assert_int_equal(smtp_reply_enh_len("4.1.1", 5, 550), 0);
	assert_int_equal(smtp_reply_enh_len("2.123.456 x", 11, 250), 9);
	assert_int_equal(smtp_reply_enh_len("2.1.1", 5, 0), 0);
	assert_int_equal(smtp_reply_enh_len("2.1.1", 5, 1000), 0);
	assert_int_equal(smtp_reply_enh_len("5.a.1", 5, 550), 0);
	assert_int_equal(smtp_reply_enh_len("5-1.1", 5, 550), 0);
}

/* EHLO keyword lines: what each sets in an ehlo zeroed before. */
struct ehlo_row {
	const char *line;
	unsigned exts;
	unsigned auth;
	uint64_t size;
};

static const struct ehlo_row ehlo_rows[] = {
    {"PIPELINING", SMTP_REPLY_EXT_PIPELINING, 0, 0},
    {"pipelining", SMTP_REPLY_EXT_PIPELINING, 0, 0},
    {"PiPeLiNiNg extra args", SMTP_REPLY_EXT_PIPELINING, 0, 0},
    {"PIPELININGX", 0, 0, 0},
    {"PIPELIN", 0, 0, 0},
    {" PIPELINING", 0, 0, 0},
    {"SIZE 10240000", SMTP_REPLY_EXT_SIZE, 0, 10240000},
    {"size=35882577", SMTP_REPLY_EXT_SIZE, 0, 35882577},
    {"SIZE", SMTP_REPLY_EXT_SIZE, 0, 0},
    {"SIZE ", SMTP_REPLY_EXT_SIZE, 0, 0},
    {"SIZE abc", SMTP_REPLY_EXT_SIZE, 0, 0},
    {"SIZE -1", SMTP_REPLY_EXT_SIZE, 0, 0},
    {"SIZE 100 200", SMTP_REPLY_EXT_SIZE, 0, 0},
    {"SIZE 18446744073709551615", SMTP_REPLY_EXT_SIZE, 0, UINT64_MAX},
    {"SIZE 18446744073709551616", SMTP_REPLY_EXT_SIZE, 0, 0},
    {"SIZE 000000000000000000000000000001", SMTP_REPLY_EXT_SIZE, 0, 0}, /* cut at 23 digits: 0 */
    {"STARTTLS", SMTP_REPLY_EXT_STARTTLS, 0, 0},
    {"starttls", SMTP_REPLY_EXT_STARTTLS, 0, 0},
    {"8BITMIME", SMTP_REPLY_EXT_8BITMIME, 0, 0},
    {"SMTPUTF8", SMTP_REPLY_EXT_SMTPUTF8, 0, 0},
    {"ENHANCEDSTATUSCODES", SMTP_REPLY_EXT_ENHANCEDSTATUSCODES, 0, 0},
    {"AUTH PLAIN LOGIN", SMTP_REPLY_EXT_AUTH, SMTP_REPLY_AUTH_PLAIN | SMTP_REPLY_AUTH_LOGIN, 0},
    {"AUTH=PLAIN LOGIN", SMTP_REPLY_EXT_AUTH, SMTP_REPLY_AUTH_PLAIN | SMTP_REPLY_AUTH_LOGIN, 0},
    {"auth cram-md5", SMTP_REPLY_EXT_AUTH, SMTP_REPLY_AUTH_CRAM_MD5, 0},
    {"AUTH  GSSAPI   plain  XOAUTH2 ", SMTP_REPLY_EXT_AUTH, SMTP_REPLY_AUTH_PLAIN, 0},
    {"AUTH PLAINX LOGI CRAM-MD5X", SMTP_REPLY_EXT_AUTH, 0, 0},
    {"AUTH", SMTP_REPLY_EXT_AUTH, 0, 0},
    {"AUTH DIGEST-MD5 NTLM", SMTP_REPLY_EXT_AUTH, 0, 0},
    {"AUTHPLAIN", 0, 0, 0},
    {"X-EXPS GSSAPI NTLM", 0, 0, 0},
    {"DSN", 0, 0, 0},
    {"", 0, 0, 0},
    {"=", 0, 0, 0},
    {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 0, 0, 0},
    {"PIPELININGPIPELININGPIPELININGPIPELINING", 0, 0, 0},
};

static void test_ehlo_keywords(void **state)
{
	for (size_t i = 0; i < sizeof(ehlo_rows) / sizeof(ehlo_rows[0]); i++) {
		const struct ehlo_row *row = &ehlo_rows[i];
		struct smtp_reply_ehlo e;
		memset(&e, 0, sizeof(e));
		smtp_reply_ehlo_keyword(&e, row->line, strlen(row->line));
		if (e.exts != row->exts || e.auth_mechs != row->auth || e.size_limit != row->size)
			fail_msg("row %zu '%s': exts %#x auth %#x size %llu", i, row->line, e.exts,
			         e.auth_mechs, (unsigned long long)e.size_limit);
	}
	/* a NUL inside the keyword: not a keyword */
	struct smtp_reply_ehlo e;
	memset(&e, 0, sizeof(e));
	smtp_reply_ehlo_keyword(&e, "SIZE\0 100", 9);
	assert_int_equal(e.exts, 0);
}

/* A whole EHLO reply: the first line (the server's name) is no keyword; 250 only; the enhanced code
 * of the first line is removed before the keyword. */
static void test_ehlo_reply(void **state)
{
	static const char *const lines[] = {"250-STARTTLS mx.example greets you",
	                                    "250-PIPELINING",
	                                    "250-SIZE 5000",
	                                    "250-8bitmime",
	                                    "250-AUTH=LOGIN",
	                                    "250-AUTH PLAIN CRAM-MD5",
	                                    "250-ENHANCEDSTATUSCODES",
	                                    "250 SMTPUTF8",
	                                    NULL};
	struct smtp_reply r;
	struct smtp_reply_ehlo e;
	const char *error = NULL;
	size_t fed;
	memset(&r, 0, sizeof(r));
	memset(&e, 0, sizeof(e));
	assert_int_equal(feed(&r, lines, NULL, &e, &error, &fed), 1);
	assert_int_equal(e.exts, SMTP_REPLY_EXT_PIPELINING | SMTP_REPLY_EXT_SIZE | SMTP_REPLY_EXT_8BITMIME |
	                             SMTP_REPLY_EXT_AUTH | SMTP_REPLY_EXT_ENHANCEDSTATUSCODES |
	                             SMTP_REPLY_EXT_SMTPUTF8);
	assert_int_equal(e.auth_mechs,
	                 SMTP_REPLY_AUTH_LOGIN | SMTP_REPLY_AUTH_PLAIN | SMTP_REPLY_AUTH_CRAM_MD5);
	assert_int_equal(e.size_limit, 5000);

	static const char *const with_enh[] = {"250-2.0.0 mx.example", "250-2.0.0 STARTTLS",
	                                       "250 2.0.0 SIZE 7", NULL};
	memset(&r, 0, sizeof(r));
	memset(&e, 0, sizeof(e));
	assert_int_equal(feed(&r, with_enh, NULL, &e, &error, &fed), 1);
	assert_int_equal(e.exts, SMTP_REPLY_EXT_STARTTLS | SMTP_REPLY_EXT_SIZE);
	assert_int_equal(e.size_limit, 7);

	/* not 250, or not given an ehlo: no keywords */
	static const char *const refused[] = {"550-5.5.1 no", "550-STARTTLS", "550 PIPELINING", NULL};
	memset(&r, 0, sizeof(r));
	memset(&e, 0, sizeof(e));
	assert_int_equal(feed(&r, refused, NULL, &e, &error, &fed), 1);
	assert_int_equal(e.exts, 0);
	memset(&r, 0, sizeof(r));
	assert_int_equal(feed(&r, lines, NULL, NULL, &error, &fed), 1);
	assert_int_equal(r.r.code, 250);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_replies),       cmocka_unit_test(test_next_reply_starts_afresh),
	    cmocka_unit_test(test_line_too_long), cmocka_unit_test(test_too_many_lines),
	    cmocka_unit_test(test_enh_len),       cmocka_unit_test(test_ehlo_keywords),
	    cmocka_unit_test(test_ehlo_reply),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
