/* Unit tests for mxd/smtpd/smtp_parse: one table per parser, one row per input and expected result. */
#include "mxd/smtpd/smtp_parse.h"

#include "mxd/common/util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* Long strings built at compile time: X10 is 10 octets, L63 a 63-octet label. */
#define X10           "xxxxxxxxxx"
#define X64           X10 X10 X10 X10 X10 X10 "xxxx"
#define X65           X64 "x"
#define L63           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define L61           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define D189          L63 "." L63 "." L61 /* with a 64-octet local part: a path of exactly 256 octets */
#define D190          L63 "." L63 "." L61 "a"
#define D256          L63 "." L63 "." L63 "." L63 "a"
#define E100          X10 X10 X10 X10 X10 X10 X10 X10 X10 X10
#define SMTP_ERR_NONE 0, NULL

/* smtp_parse_command */

struct cmd_row {
	const char *line;
	size_t len; /* 0: strlen(line) */
	int ret;
	enum smtp_verb verb;
	const char *name;
	const char *arg;
	size_t arg_len;
	int code;
	const char *enh;
};

#define CMD_OK(line, verb, name, arg, arg_len)                                                               \
	{                                                                                                    \
		line, 0, 0, verb, name, arg, arg_len, SMTP_ERR_NONE                                          \
	}
#define CMD_ERR(line, len, code, enh)                                                                        \
	{                                                                                                    \
		line, len, -1, SMTP_VERB_UNKNOWN, "", "", 0, code, enh                                       \
	}

static const struct cmd_row cmd_rows[] = {
    CMD_OK("HELO example.com", SMTP_VERB_HELO, "HELO", "example.com", 11),
    CMD_OK("helo example.com", SMTP_VERB_HELO, "HELO", "example.com", 11),
    CMD_OK("eHlO x", SMTP_VERB_EHLO, "EHLO", "x", 1),
    CMD_OK("MAIL FROM:<a@b.example>", SMTP_VERB_MAIL, "MAIL", "FROM:<a@b.example>", 18),
    CMD_OK("mail from:<>", SMTP_VERB_MAIL, "MAIL", "from:<>", 7),
    CMD_OK("rcpt TO:<a@b.example>", SMTP_VERB_RCPT, "RCPT", "TO:<a@b.example>", 16),
    CMD_OK("DATA", SMTP_VERB_DATA, "DATA", "", 0),
    CMD_OK("data", SMTP_VERB_DATA, "DATA", "", 0),
    CMD_OK("DATA ", SMTP_VERB_DATA, "DATA", "", 0),
    CMD_OK("DATA    ", SMTP_VERB_DATA, "DATA", "", 0),
    CMD_OK("BDAT 100 LAST", SMTP_VERB_BDAT, "BDAT", "100 LAST", 8),
    CMD_OK("RSET", SMTP_VERB_RSET, "RSET", "", 0),
    CMD_OK("NOOP hello there", SMTP_VERB_NOOP, "NOOP", "hello there", 11),
    CMD_OK("QUIT", SMTP_VERB_QUIT, "QUIT", "", 0),
    CMD_OK("VRFY root", SMTP_VERB_VRFY, "VRFY", "root", 4),
    CMD_OK("EXPN staff", SMTP_VERB_EXPN, "EXPN", "staff", 5),
    CMD_OK("HELP", SMTP_VERB_HELP, "HELP", "", 0),
    CMD_OK("STARTTLS", SMTP_VERB_STARTTLS, "STARTTLS", "", 0),
    CMD_OK("StartTls", SMTP_VERB_STARTTLS, "STARTTLS", "", 0),
    CMD_OK("AUTH PLAIN", SMTP_VERB_AUTH, "AUTH", "PLAIN", 5),
    CMD_OK("ETRN example.com", SMTP_VERB_ETRN, "ETRN", "example.com", 11),
    /* trailing spaces stay in arg but not in arg_len; only one space separates verb and argument */
    CMD_OK("HELO x.example   ", SMTP_VERB_HELO, "HELO", "x.example   ", 9),
    CMD_OK("NOOP  two", SMTP_VERB_NOOP, "NOOP", " two", 4),
    /* unknown verbs are not errors: the session answers 502 */
    CMD_OK("FOO bar", SMTP_VERB_UNKNOWN, "FOO", "bar", 3),
    CMD_OK("GET / HTTP/1.1", SMTP_VERB_UNKNOWN, "GET", "/ HTTP/1.1", 10),
    CMD_OK("MAILX FROM:<>", SMTP_VERB_UNKNOWN, "MAILX", "FROM:<>", 7),
    CMD_OK("HEL", SMTP_VERB_UNKNOWN, "HEL", "", 0),
    CMD_OK("STARTTLSX", SMTP_VERB_UNKNOWN, "STARTTLSX", "", 0),
    CMD_OK("averyveryverylongverb x", SMTP_VERB_UNKNOWN, "AVERYVERYVERYLO", "x", 1),
    CMD_OK("HELO h\xc3\xa9llo.example", SMTP_VERB_HELO, "HELO", "h\xc3\xa9llo.example", 14),
    /* errors */
    CMD_ERR("", 0, 500, "5.5.2"),
    CMD_ERR(" ", 0, 500, "5.5.2"),
    CMD_ERR(" HELO x", 0, 500, "5.5.2"),
    CMD_ERR("HELO\tx", 0, 500, "5.5.2"),
    CMD_ERR("HEL\xc3\x89 x", 0, 500, "5.5.2"),
    CMD_ERR("\x7f", 0, 500, "5.5.2"),
    CMD_ERR("MAIL FROM:<a@b.example>\r", 0, 500, "5.5.2"),
    CMD_ERR("NOOP a\nb", 0, 500, "5.5.2"),
    CMD_ERR("NOOP a\rb", 0, 500, "5.5.2"),
    CMD_ERR("NOOP a\0b", 8, 500, "5.5.2"),
    CMD_ERR("\0", 1, 500, "5.5.2"),
    CMD_ERR("\nQUIT", 0, 500, "5.5.2"),
};

static void test_command_table(void **state)
{
	for (size_t i = 0; i < MXD_ARRAY_SIZE(cmd_rows); i++) {
		const struct cmd_row *r = &cmd_rows[i];
		size_t len = r->len != 0 ? r->len : strlen(r->line);
		char line[SMTP_LINE_MAX + 16];
		struct smtp_command cmd;
		struct smtp_parse_error err = {0};
		memcpy(line, r->line, len);
		line[len] = '\0';
		int ret = smtp_parse_command(line, len, &cmd, &err);
		print_message("row %zu: \"%s\"\n", i, r->line);
		assert_int_equal(ret, r->ret);
		if (ret < 0) {
			assert_int_equal(err.code, r->code);
			assert_string_equal(err.enh, r->enh);
			assert_non_null(err.text);
			continue;
		}
		assert_int_equal(cmd.verb, r->verb);
		assert_string_equal(cmd.name, r->name);
		assert_string_equal(cmd.arg, r->arg);
		assert_int_equal(cmd.arg_len, r->arg_len);
		assert_true(cmd.arg >= line && cmd.arg <= line + len);
	}
}

static void test_command_line_limit(void **state)
{
	char line[1024];
	struct smtp_command cmd;
	struct smtp_parse_error err;
	/* up to 510 octets without the CRLF are fine; 511 and more are too long */
	for (size_t len = 500; len < sizeof(line); len++) {
		memset(line, 'x', len);
		memcpy(line, "NOOP ", 5);
		line[len] = '\0';
		int ret = smtp_parse_command(line, len, &cmd, &err);
		if (len <= SMTP_LINE_MAX - 2) {
			assert_int_equal(ret, 0);
			assert_int_equal(cmd.verb, SMTP_VERB_NOOP);
			assert_int_equal(cmd.arg_len, len - 5);
		} else {
			assert_int_equal(ret, -1);
			assert_int_equal(err.code, 500);
			assert_string_equal(err.enh, "5.5.2");
		}
	}
}

/* smtp_parse_path */

struct path_row {
	const char *arg;
	const char *keyword;
	int ret;
	int code;
	const char *enh;
	bool null_path;
	const char *local, *domain, *address;
	unsigned flags;
	const char *params;
};

#define F "FROM:"
#define T "TO:"
#define P_OK(arg, kw, local, domain, address, flags, params)                                                 \
	{                                                                                                    \
		arg, kw, 0, SMTP_ERR_NONE, false, local, domain, address, flags, params                      \
	}
#define P_NULL(arg, params)                                                                                  \
	{                                                                                                    \
		arg, F, 0, SMTP_ERR_NONE, true, "", "", "", 0, params                                        \
	}
#define P_ERR(arg, kw, code, enh)                                                                            \
	{                                                                                                    \
		arg, kw, -1, code, enh, false, "", "", "", 0, ""                                             \
	}

enum {
	Q = SMTP_PATH_QUOTED,
	QAT = SMTP_PATH_QUOTED_AT,
	SR = SMTP_PATH_SOURCE_ROUTE,
	PCT = SMTP_PATH_PERCENT_HACK,
	BANG = SMTP_PATH_BANG_PATH,
	LIT = SMTP_PATH_ADDRESS_LITERAL,
	U8 = SMTP_PATH_UTF8,
	NF = SMTP_PATH_NON_FQDN,
	MD = SMTP_PATH_MALFORMED_DOMAIN,
};

static const struct path_row path_rows[] = {
    P_OK(F "<a@example.com>", F, "a", "example.com", "a@example.com", 0, ""),
    P_OK("from:<A.B@Example.COM>", F, "A.B", "example.com", "A.B@example.com", 0, ""),
    P_OK("From:<a@example.com>", F, "a", "example.com", "a@example.com", 0, ""),
    P_OK(F " <a@example.com>", F, "a", "example.com", "a@example.com", 0, ""),
    P_OK(F "<a@example.com>   ", F, "a", "example.com", "a@example.com", 0, ""),
    P_OK(F "<a@example.com> SIZE=10 BODY=8BITMIME", F, "a", "example.com", "a@example.com", 0,
         "SIZE=10 BODY=8BITMIME"),
    P_OK(F "<a@example.com>  SIZE=10", F, "a", "example.com", "a@example.com", 0, "SIZE=10"),
    P_NULL(F "<>", ""),
    P_NULL("from:<> SIZE=10", "SIZE=10"),
    P_NULL(F " <>", ""),
    P_OK(T "<a@example.com>", T, "a", "example.com", "a@example.com", 0, ""),
    P_OK("to:<a@example.com> NOTIFY=NEVER", T, "a", "example.com", "a@example.com", 0, "NOTIFY=NEVER"),
    P_OK(T "<o'brien+tag=x@example.com>", T, "o'brien+tag=x", "example.com", "o'brien+tag=x@example.com", 0,
         ""),
    P_OK(T "<a#b*c?d~e^f/g@example.com>", T, "a#b*c?d~e^f/g", "example.com", "a#b*c?d~e^f/g@example.com", 0,
         ""),
    /* the bare postmaster, RCPT only */
    P_OK(T "<Postmaster>", T, "Postmaster", "", "postmaster", 0, ""),
    P_OK(T "<POSTMASTER>", T, "POSTMASTER", "", "postmaster", 0, ""),
    P_OK(T "<postmaster@Example.com>", T, "postmaster", "example.com", "postmaster@example.com", 0, ""),
    /* quoted local parts: unquoted when plain, else kept */
    P_OK(T "<\"ab\"@example.com>", T, "ab", "example.com", "ab@example.com", Q, ""),
    P_OK(T "<\"a.b\"@example.com>", T, "a.b", "example.com", "a.b@example.com", Q, ""),
    P_OK(T "<\"a\\b\"@example.com>", T, "ab", "example.com", "ab@example.com", Q, ""),
    P_OK(T "<\"a b\"@example.com>", T, "\"a b\"", "example.com", "\"a b\"@example.com", Q, ""),
    P_OK(T "<\"a..b\"@example.com>", T, "\"a..b\"", "example.com", "\"a..b\"@example.com", Q, ""),
    P_OK(T "<\".a\"@example.com>", T, "\".a\"", "example.com", "\".a\"@example.com", Q, ""),
    P_OK(T "<\"a\\\"b\"@example.com>", T, "\"a\\\"b\"", "example.com", "\"a\\\"b\"@example.com", Q, ""),
    P_OK(T "<\"a@b\"@example.com>", T, "\"a@b\"", "example.com", "\"a@b\"@example.com", Q | QAT, ""),
    P_OK(T "<\"a@b.example\"@example.com>", T, "\"a@b.example\"", "example.com",
         "\"a@b.example\"@example.com", Q | QAT, ""),
    P_OK(T "<\"a|b\"@example.com>", T, "a|b", "example.com", "a|b@example.com", Q, ""),
    P_OK(T "<\"a;b>c\"@example.com>", T, "\"a;b>c\"", "example.com", "\"a;b>c\"@example.com", Q, ""),
    P_OK(T "<\"a%b\"@example.com>", T, "a%b", "example.com", "a%b@example.com", Q | PCT, ""),
    P_OK(T "<\"" X64 "\"@example.com>", T, X64, "example.com", X64 "@example.com", Q, ""),
    /* relay tricks are flagged, the route dropped */
    P_OK(T "<@a.example,@b.example:u@c.example>", T, "u", "c.example", "u@c.example", SR, ""),
    P_OK(T "<@a.example:u@c.example>", T, "u", "c.example", "u@c.example", SR, ""),
    P_OK(T "<u%v.example@example.com>", T, "u%v.example", "example.com", "u%v.example@example.com", PCT, ""),
    P_OK(T "<v.example!u@example.com>", T, "v.example!u", "example.com", "v.example!u@example.com", BANG, ""),
    P_OK(T "<u@[1.2.3.4]>", T, "u", "[1.2.3.4]", "u@[1.2.3.4]", LIT, ""),
    P_OK(T "<u@[IPv6:::1]>", T, "u", "[ipv6:::1]", "u@[ipv6:::1]", LIT, ""),
    P_OK(T "<u@[ipv6:2001:DB8::1]>", T, "u", "[ipv6:2001:db8::1]", "u@[ipv6:2001:db8::1]", LIT, ""),
    P_OK(T "<u@[IPv6:::ffff:1.2.3.4]>", T, "u", "[ipv6:::ffff:1.2.3.4]", "u@[ipv6:::ffff:1.2.3.4]", LIT, ""),
    /* SMTPUTF8 */
    P_OK(T "<j\xc3\xb6rg@example.com>", T, "j\xc3\xb6rg", "example.com", "j\xc3\xb6rg@example.com", U8, ""),
    P_OK(T "<u@B\xc3\xbc\x63her.de>", T, "u", "b\xc3\xbc\x63her.de", "u@b\xc3\xbc\x63her.de", U8, ""),
    P_OK(T "<\"\xe2\x82\xac\"@example.com>", T, "\xe2\x82\xac", "example.com", "\xe2\x82\xac@example.com",
         Q | U8, ""),
    /* limits: local 64, path 256 */
    P_OK(T "<" X64 "@example.com>", T, X64, "example.com", X64 "@example.com", 0, ""),
    P_OK(T "<" X64 "@" D189 ">", T, X64, D189, X64 "@" D189, 0, ""),
    P_ERR(T "<" X65 "@example.com>", T, 501, "5.1.3"),
    P_ERR(F "<" X65 "@example.com>", F, 501, "5.1.7"),
    P_ERR(T "<\"" X65 "\"@example.com>", T, 501, "5.1.3"),
    P_ERR(T "<" X64 "@" D190 ">", T, 501, "5.1.3"),
    P_ERR(F "<" X64 "@" D190 ">", F, 501, "5.1.7"),
    P_ERR(T "<u@" D256 ">", T, 501, "5.1.3"),
    /* keyword and brackets */
    P_ERR("FROM<a@example.com>", F, 501, "5.5.4"),
    P_ERR(T "<a@example.com>", F, 501, "5.5.4"),
    P_ERR(F "<a@example.com>", T, 501, "5.5.4"),
    P_ERR("", F, 501, "5.5.4"),
    P_ERR(F, F, 501, "5.5.4"),
    P_ERR(F "a@example.com", F, 501, "5.5.4"),
    P_ERR(T "a@example.com", T, 501, "5.5.4"),
    P_ERR(T "<a@example.com", T, 501, "5.5.4"),
    P_ERR(T "a@example.com>", T, 501, "5.5.4"),
    P_ERR(T "<a", T, 501, "5.5.4"),
    P_ERR(T "<", T, 501, "5.5.4"),
    P_ERR(F "  <a@example.com>", F, 501, "5.5.4"),
    P_ERR(F "\t<a@example.com>", F, 501, "5.5.4"),
    P_ERR(T "<a@example.com>junk", T, 501, "5.5.4"),
    P_ERR(T "<a@example.com>\tNOTIFY=NEVER", T, 501, "5.5.4"),
    P_ERR(F "<>junk", F, 501, "5.5.4"),
    /* null path and postmaster */
    P_ERR(T "<>", T, 501, "5.1.3"),
    P_ERR(F "<postmaster>", F, 501, "5.1.7"),
    P_ERR(T "<\"postmaster\">", T, 501, "5.1.3"),
    P_ERR(T "<@a.example:postmaster>", T, 501, "5.1.3"),
    P_ERR(T "<user>", T, 501, "5.1.3"),
    /* domains */
    /* a single-label domain is syntax (RFC 5321 4.1.2); whether to take it is the session's policy */
    P_OK(T "<a@localhost>", T, "a", "localhost", "a@localhost", NF, ""),
    P_OK(F "<root@Host>", F, "root", "host", "root@host", NF, ""),
    P_OK(F "<root@host> SIZE=10", F, "root", "host", "root@host", NF, "SIZE=10"),
    P_ERR(F "<a@-host>", F, 501, "5.1.7"),
    P_ERR(F "<a@host.>", F, 501, "5.1.7"),
    /* MAIL: a label over 63 octets is flagged, not refused (strict_sender_domain_syntax decides);
     * everything else wrong with a domain is refused, and RCPT refuses them all */
    P_ERR(F "<a@x..example>", F, 501, "5.1.7"),
    P_ERR(F "<a@.x.example>", F, 501, "5.1.7"),
    P_OK(F "<a@" X64 ".example>", F, "a", X64 ".example", "a@" X64 ".example", MD, ""),
    P_ERR(T "<a@" X64 ".example>", T, 501, "5.1.3"),
    P_ERR(F "<a@" X64 "-.example>", F, 501, "5.1.7"),
    P_ERR(F "<a@" X64 ".example.>", F, 501, "5.1.7"),
    P_ERR(F "<a@" X64 "._example>", F, 501, "5.1.7"),
    P_ERR(T "<a@>", T, 501, "5.1.3"),
    P_ERR(T "<a@-x.example>", T, 501, "5.1.3"),
    P_ERR(T "<a@x..example>", T, 501, "5.1.3"),
    P_ERR(T "<a@x.example.>", T, 501, "5.1.3"),
    P_ERR(T "<a@.x.example>", T, 501, "5.1.3"),
    P_ERR(T "<a@b@x.example>", T, 501, "5.1.3"),
    P_ERR(T "<a@x_y.example>", T, 501, "5.1.3"),
    P_ERR(T "<a@x.example;rm>", T, 501, "5.1.3"),
    P_ERR(T "<a@x.example\r>", T, 501, "5.1.3"),
    P_ERR(T "<a@x.example >", T, 501, "5.1.3"),
    P_ERR(T "<a@b\xff.example>", T, 501, "5.1.3"),
    P_ERR(T "<a@b\xc3.example>", T, 501, "5.1.3"),
    /* address literals */
    P_ERR(T "<a@[1.2.3]>", T, 501, "5.1.3"),
    P_ERR(T "<a@[300.1.1.1]>", T, 501, "5.1.3"),
    P_ERR(T "<a@[01.2.3.4]>", T, 501, "5.1.3"),
    P_ERR(T "<a@[IPv6:zz::1]>", T, 501, "5.1.3"),
    P_ERR(T "<a@[::1]>", T, 501, "5.1.3"),
    P_ERR(T "<a@[tag:content]>", T, 501, "5.1.3"),
    P_ERR(T "<a@[]>", T, 501, "5.1.3"),
    P_ERR(T "<a@[1.2.3.4>", T, 501, "5.1.3"),
    P_ERR(T "<a@[1.2.3.4]x>", T, 501, "5.1.3"),
    P_ERR(T "<a@[1.2.3.4 ]>", T, 501, "5.1.3"),
    /* local parts: syntax */
    P_ERR(T "<.a@example.com>", T, 501, "5.1.3"),
    P_ERR(T "<a.@example.com>", T, 501, "5.1.3"),
    P_ERR(T "<a..b@example.com>", T, 501, "5.1.3"),
    P_ERR(T "<@example.com>", T, 501, "5.1.3"),
    P_ERR(T "<a b@example.com>", T, 501, "5.1.3"),
    P_ERR(T "< a@example.com>", T, 501, "5.1.3"),
    P_ERR(T "<a;id@example.com>", T, 501, "5.1.3"),
    P_ERR(T "<a(b)@example.com>", T, 501, "5.1.3"),
    P_ERR(T "<a<b@example.com>", T, 501, "5.1.3"),
    P_ERR(T "<a\\b@example.com>", T, 501, "5.1.3"),
    P_ERR(T "<a,b@example.com>", T, 501, "5.1.3"),
    P_ERR(T "<a[b]@example.com>", T, 501, "5.1.3"),
    P_ERR(T "<a\x01"
            "b@example.com>",
          T, 501, "5.1.3"),
    P_ERR(T "<a\tb@example.com>", T, 501, "5.1.3"),
    P_ERR(T "<a\rb@example.com>", T, 501, "5.1.3"),
    P_ERR(T "<a\nb@example.com>", T, 501, "5.1.3"),
    P_ERR(T "<a\x7f@example.com>", T, 501, "5.1.3"),
    P_ERR(F "<a b@example.com>", F, 501, "5.1.7"),
    /* local parts: every atext character RFC 5321 allows is taken ("|&$`{}" too: no shell runs) */
    P_OK(F "<~jack&jill=up-a_b3.c@e8.example.com>", F, "~jack&jill=up-a_b3.c", "e8.example.com",
         "~jack&jill=up-a_b3.c@e8.example.com", 0, ""),
    P_OK(T "<a|id@example.com>", T, "a|id", "example.com", "a|id@example.com", 0, ""),
    P_OK(T "<$HOME@example.com>", T, "$HOME", "example.com", "$HOME@example.com", 0, ""),
    P_OK(T "<a`id`{b}@example.com>", T, "a`id`{b}", "example.com", "a`id`{b}@example.com", 0, ""),
    P_OK(T "<\"a&b\"@example.com>", T, "a&b", "example.com", "a&b@example.com", Q, ""),
    P_ERR(F "<;sleep${IFS}9;@example.com>", F, 501, "5.1.7"),
    /* local parts: quoted strings */
    P_ERR(T "<\"\"@example.com>", T, 501, "5.1.3"),
    P_ERR(T "<\"abc@example.com>", T, 501, "5.1.3"),
    P_ERR(T "<\"a\"b@example.com>", T, 501, "5.1.3"),
    P_ERR(T "<a\"b\"@example.com>", T, 501, "5.1.3"),
    P_ERR(T "<\"a\x01\"@example.com>", T, 501, "5.1.3"),
    P_ERR(T "<\"a\r\n\"@example.com>", T, 501, "5.1.3"),
    P_ERR(T "<\"a\\\x01\"@example.com>", T, 501, "5.1.3"),
    P_ERR(T "<\"a\\", T, 501, "5.1.3"),
    P_ERR(T "<\"\xc3\"@example.com>", T, 501, "5.1.3"),
    /* UTF-8 must be well-formed */
    P_ERR(T "<j\xc3@example.com>", T, 501, "5.1.3"),
    P_ERR(T "<\xc0\xafx@example.com>", T, 501, "5.1.3"),
    P_ERR(T "<\xed\xa0\x80@example.com>", T, 501, "5.1.3"),
    P_ERR(T "<\xf5\x80\x80\x80@example.com>", T, 501, "5.1.3"),
    P_ERR(T "<\xe2\x82@example.com>", T, 501, "5.1.3"),
    /* source routes */
    P_ERR(T "<@a.example u@c.example>", T, 501, "5.1.3"),
    P_ERR(T "<@a.example,u@c.example>", T, 501, "5.1.3"),
    P_ERR(T "<@localhost:u@c.example>", T, 501, "5.1.3"),
    P_ERR(T "<@a.example:>", T, 501, "5.1.3"),
    P_ERR(T "<@a.example:@b.example>", T, 501, "5.1.3"),
    P_ERR(T "<@:u@c.example>", T, 501, "5.1.3"),
    P_ERR(T "<@a.example,:u@c.example>", T, 501, "5.1.3"),
};

static void test_path_table(void **state)
{
	for (size_t i = 0; i < MXD_ARRAY_SIZE(path_rows); i++) {
		const struct path_row *r = &path_rows[i];
		struct smtp_path path;
		struct smtp_parse_error err = {0};
		const char *params = NULL;
		print_message("row %zu: \"%s\"\n", i, r->arg);
		int ret = smtp_parse_path(r->arg, r->keyword, &path, &params, &err);
		assert_int_equal(ret, r->ret);
		if (ret < 0) {
			assert_int_equal(err.code, r->code);
			assert_string_equal(err.enh, r->enh);
			assert_non_null(err.text);
			continue;
		}
		assert_int_equal(path.null_path, r->null_path);
		assert_string_equal(path.local, r->local);
		assert_string_equal(path.domain, r->domain);
		assert_string_equal(path.address, r->address);
		assert_int_equal(path.flags, r->flags);
		assert_string_equal(params, r->params);
	}
}

/* smtp_parse_mail_params */

struct mail_row {
	const char *params;
	bool smtputf8_ok;
	int ret;
	int code;
	const char *enh;
	struct smtp_mail_params want;
};

#define M_OK(params, utf8_ok, ...)                                                                           \
	{                                                                                                    \
		params, utf8_ok, 0, SMTP_ERR_NONE,                                                           \
		{                                                                                            \
			__VA_ARGS__                                                                          \
		}                                                                                            \
	}
#define M_ERR(params, utf8_ok)                                                                               \
	{                                                                                                    \
		params, utf8_ok, -1, 555, "5.5.4",                                                           \
		{                                                                                            \
			0                                                                                    \
		}                                                                                            \
	}

static const struct mail_row mail_rows[] = {
    M_OK("", false, 0),
    M_OK("   ", false, 0),
    M_OK("SIZE=123", false, .has_size = true, .size = 123),
    M_OK("size=0", false, .has_size = true, .size = 0),
    M_OK("SIZE=18446744073709551615", false, .has_size = true, .size = UINT64_MAX),
    M_OK("SIZE=00000000000000000001", false, .has_size = true, .size = 1),
    M_ERR("SIZE=18446744073709551616", false),
    M_ERR("SIZE=99999999999999999999999999", false),
    M_ERR("SIZE=", false),
    M_ERR("SIZE", false),
    M_ERR("SIZE=-1", false),
    M_ERR("SIZE=+1", false),
    M_ERR("SIZE=12a", false),
    M_ERR("SIZE=1 SIZE=2", false),
    M_ERR("SIZE==1", false),
    M_ERR("SIZE=1=2", false),
    M_OK("BODY=8BITMIME", false, .body_8bitmime = true),
    M_OK("body=8bitmime", false, .body_8bitmime = true),
    M_OK("BODY=7BIT", false, 0),
    M_ERR("BODY=BINARYMIME", false),
    M_ERR("BODY", false),
    M_ERR("BODY=8BITMIME BODY=7BIT", false),
    M_OK("SMTPUTF8", true, .smtputf8 = true),
    M_OK("smtputf8", true, .smtputf8 = true),
    M_ERR("SMTPUTF8", false),
    M_ERR("SMTPUTF8=yes", true),
    M_ERR("SMTPUTF8 SMTPUTF8", true),
    M_OK("RET=FULL", false, .ret = 1),
    M_OK("ret=hdrs", false, .ret = 2),
    M_ERR("RET=NONE", false),
    M_ERR("RET", false),
    M_ERR("RET=FULL RET=HDRS", false),
    M_OK("ENVID=abc+2Bdef", false, .envid = "abc+2Bdef"),
    M_OK("ENVID=QQ314159", false, .envid = "QQ314159"),
    M_OK("ENVID=" E100, false, .envid = E100),
    M_ERR("ENVID=" E100 "x", false),
    M_ERR("ENVID=a+2", false),
    M_ERR("ENVID=a+", false),
    M_ERR("ENVID=a+ZZ", false),
    M_ERR("ENVID=a+0D+0A", false),
    M_ERR("ENVID=a+7F", false),
    M_ERR("ENVID=a+C3+A9", false),
    M_ERR("ENVID=", false),
    M_OK("AUTH=<>", false, .has_auth = true, .auth = "<>"),
    M_OK("AUTH=a+2Bb@example.com", false, .has_auth = true, .auth = "a+b@example.com"),
    M_OK("AUTH=+22a+20b+22@example.com", false, .has_auth = true, .auth = "\"a b\"@example.com"),
    M_ERR("AUTH=a+0Ab@example.com", false),
    M_ERR("AUTH=a+00", false),
    M_ERR("AUTH", false),
    M_ERR("AUTH=<> AUTH=<>", false),
    M_ERR("FOO=bar", false),
    M_ERR("X-FOO", false),
    M_ERR("NOTIFY=NEVER", false),
    M_ERR("=x", false),
    M_ERR("-SIZE=1", false),
    M_ERR("SI_ZE=1", false),
    M_ERR("SIZE=10\tBODY=7BIT", false),
    M_ERR("SIZE=1\x01", false),
    M_ERR("BODY=8BIT\xc3\xa9", false),
    M_OK("SIZE=10  BODY=7BIT  ", false, .has_size = true, .size = 10),
    M_OK("SIZE=10 SMTPUTF8 BODY=8BITMIME RET=HDRS ENVID=QQ AUTH=<>", true, .has_size = true, .size = 10,
         .body_8bitmime = true, .smtputf8 = true, .ret = 2, .envid = "QQ", .has_auth = true, .auth = "<>"),
};

static void test_mail_params_table(void **state)
{
	for (size_t i = 0; i < MXD_ARRAY_SIZE(mail_rows); i++) {
		const struct mail_row *r = &mail_rows[i];
		struct smtp_mail_params p;
		struct smtp_parse_error err = {0};
		print_message("row %zu: \"%s\"\n", i, r->params);
		int ret = smtp_parse_mail_params(r->params, r->smtputf8_ok, &p, &err);
		assert_int_equal(ret, r->ret);
		if (ret < 0) {
			assert_int_equal(err.code, r->code);
			assert_string_equal(err.enh, r->enh);
			assert_non_null(err.text);
			continue;
		}
		assert_int_equal(p.has_size, r->want.has_size);
		assert_true(p.size == r->want.size);
		assert_int_equal(p.body_8bitmime, r->want.body_8bitmime);
		assert_int_equal(p.smtputf8, r->want.smtputf8);
		assert_int_equal(p.ret, r->want.ret);
		assert_string_equal(p.envid, r->want.envid);
		assert_int_equal(p.has_auth, r->want.has_auth);
		assert_string_equal(p.auth, r->want.auth);
	}
}

/* smtp_parse_rcpt_params */

struct rcpt_row {
	const char *params;
	int ret;
	unsigned notify;
	const char *orcpt;
};

static const struct rcpt_row rcpt_rows[] = {
    {"", 0, 0, ""},
    {"NOTIFY=NEVER", 0, 1, ""},
    {"notify=never", 0, 1, ""},
    {"NOTIFY=SUCCESS", 0, 2, ""},
    {"NOTIFY=FAILURE", 0, 4, ""},
    {"notify=delay", 0, 8, ""},
    {"NOTIFY=SUCCESS,FAILURE", 0, 6, ""},
    {"NOTIFY=DELAY,FAILURE,SUCCESS", 0, 14, ""},
    {"NOTIFY=NEVER,SUCCESS", -1, 0, ""},
    {"NOTIFY=SUCCESS,NEVER", -1, 0, ""},
    {"NOTIFY=", -1, 0, ""},
    {"NOTIFY", -1, 0, ""},
    {"NOTIFY=SUCCESS,", -1, 0, ""},
    {"NOTIFY=,SUCCESS", -1, 0, ""},
    {"NOTIFY=SUCCESS,,DELAY", -1, 0, ""},
    {"NOTIFY=BOGUS", -1, 0, ""},
    {"NOTIFY=SUCCESSFUL", -1, 0, ""},
    {"NOTIFY=NEVER NOTIFY=NEVER", -1, 0, ""},
    {"ORCPT=rfc822;a@example.com", 0, 0, "rfc822;a@example.com"},
    {"ORCPT=RFC822;a+2Bb@example.com", 0, 0, "RFC822;a+2Bb@example.com"},
    {"ORCPT=utf-8;j\\x{00F6}rg@example.com", 0, 0, "utf-8;j\\x{00F6}rg@example.com"},
    {"ORCPT=rfc822", -1, 0, ""},
    {"ORCPT=rfc822;", -1, 0, ""},
    {"ORCPT=;a@example.com", -1, 0, ""},
    {"ORCPT=rfc 822;a@example.com", -1, 0, ""},
    {"ORCPT=rfc822;a+0D+0A@example.com", -1, 0, ""},
    {"ORCPT=rfc822;a+ZZ@example.com", -1, 0, ""},
    {"ORCPT=rfc822;a\x01@example.com", -1, 0, ""},
    {"ORCPT=rfc822;a@example.com ORCPT=rfc822;b@example.com", -1, 0, ""},
    {"ORCPT=rfc822;" X64 X64 X64 X64 X64, -1, 0, ""},
    {"NOTIFY=SUCCESS,DELAY ORCPT=rfc822;a@example.com", 0, 10, "rfc822;a@example.com"},
    {"  ORCPT=rfc822;a@example.com   NOTIFY=NEVER  ", 0, 1, "rfc822;a@example.com"},
    {"SIZE=10", -1, 0, ""},
    {"SMTPUTF8", -1, 0, ""},
};

static void test_rcpt_params_table(void **state)
{
	for (size_t i = 0; i < MXD_ARRAY_SIZE(rcpt_rows); i++) {
		const struct rcpt_row *r = &rcpt_rows[i];
		struct smtp_rcpt_params p;
		struct smtp_parse_error err = {0};
		print_message("row %zu: \"%s\"\n", i, r->params);
		int ret = smtp_parse_rcpt_params(r->params, &p, &err);
		assert_int_equal(ret, r->ret);
		if (ret < 0) {
			assert_int_equal(err.code, 555);
			assert_string_equal(err.enh, "5.5.4");
			continue;
		}
		assert_int_equal(p.notify, r->notify);
		assert_string_equal(p.orcpt, r->orcpt);
	}
}

/* smtp_parse_helo */

struct helo_row {
	const char *arg;
	int ret;
};

static const struct helo_row helo_rows[] = {
    {"example.com", 0},
    {"mail.example.com.", 0},
    {"MAIL.Example.COM", 0},
    {"localhost", 0},
    {"my_pc", 0},
    {"1.2.3.4", 0},
    {"[1.2.3.4]", 0},
    {"[IPv6:::1]", 0},
    {"[ipv6:2001:db8::25]", 0},
    {"example.com   ", 0},
    {"b\xc3\xbc\x63her.de", 0},
    {L63 ".example", 0},
    {"", -1},
    {"   ", -1},
    {".", -1},
    {"ex ample.com", -1},
    {"example.com extra", -1},
    {"example.com;rm -rf /", -1},
    {"exa$mple.com", -1},
    {"a`id`.example", -1},
    {"a..b", -1},
    {".a", -1},
    {"a.b..", -1},
    {"a\tb", -1},
    {"a\x01", -1},
    {"a\r", -1},
    {"\xff.example", -1},
    {"\xc3.example", -1},
    {L63 "a.example", -1},
    {"[1.2.3.4", -1},
    {"[300.0.0.1]", -1},
    {"[1.2.3.4]x", -1},
    {"[1.2.3.4]]", -1},
    {"[]", -1},
    {"[", -1},
    {"[tag:x]", -1},
    {"<example.com>", -1},
    {L63 "." L63 "." L63 "." L63 ".a", -1},
};

static void test_helo_table(void **state)
{
	for (size_t i = 0; i < MXD_ARRAY_SIZE(helo_rows); i++) {
		struct smtp_parse_error err = {0};
		print_message("row %zu: \"%s\"\n", i, helo_rows[i].arg);
		int ret = smtp_parse_helo(helo_rows[i].arg, &err);
		assert_int_equal(ret, helo_rows[i].ret);
		if (ret < 0) {
			assert_int_equal(err.code, 501);
			assert_string_equal(err.enh, "5.5.4");
		}
	}
}

/* A command line flows through smtp_parse_command into smtp_parse_path, as in the session. */
static void test_command_then_path(void **state)
{
	char line[] = "MAIL FROM:<a@example.com> SIZE=42  ";
	struct smtp_command cmd;
	struct smtp_path path;
	struct smtp_mail_params mp;
	struct smtp_parse_error err;
	const char *params;
	assert_int_equal(smtp_parse_command(line, strlen(line), &cmd, &err), 0);
	assert_int_equal(smtp_parse_path(cmd.arg, "FROM:", &path, &params, &err), 0);
	assert_string_equal(path.address, "a@example.com");
	assert_int_equal(smtp_parse_mail_params(params, false, &mp, &err), 0);
	assert_true(mp.has_size && mp.size == 42);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_command_table),     cmocka_unit_test(test_command_line_limit),
	    cmocka_unit_test(test_path_table),        cmocka_unit_test(test_mail_params_table),
	    cmocka_unit_test(test_rcpt_params_table), cmocka_unit_test(test_helo_table),
	    cmocka_unit_test(test_command_then_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
