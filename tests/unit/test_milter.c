/* Unit tests for mxd/smtpd/milter_proto (framing, one table of replies and the outcome expected) and
 * milter_message (the header section split, each edit, the content written back), and the smtpd_milters
 * syntax (milter_specs_parse). */
#include "mxd/smtpd/milter.h"
#include "mxd/smtpd/milter_message.h"
#include "mxd/smtpd/milter_proto.h"

#include <event2/buffer.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_frame(void **state)
{
	(void)state;
	uint8_t cmd;
	const uint8_t *data;
	size_t len, plen;
	const char *error = NULL;
	const uint8_t ok[] = {0, 0, 0, 3, 'h', 'a', 'b', 'x'};
	assert_int_equal(milter_proto_frame(ok, 3, &cmd, &data, &len, &plen, &error), 1);
	assert_int_equal(milter_proto_frame(ok, 6, &cmd, &data, &len, &plen, &error), 1);
	assert_int_equal(milter_proto_frame(ok, sizeof(ok), &cmd, &data, &len, &plen, &error), 0);
	assert_int_equal(cmd, 'h');
	assert_int_equal(len, 2);
	assert_int_equal(plen, 7);
	const uint8_t zero[] = {0, 0, 0, 0};
	assert_int_equal(milter_proto_frame(zero, 4, &cmd, &data, &len, &plen, &error), -1);
	assert_string_equal(error, "empty packet");
	const uint8_t big[] = {0, 0x04, 0, 1};
	assert_int_equal(milter_proto_frame(big, 4, &cmd, &data, &len, &plen, &error), -1);
	assert_string_equal(error, "packet too long");
}

struct reply_case {
	char cmd;
	const char *data; /* NULs written as \0 in the literal, length in len */
	size_t len;
	int rc;
	const char *expect; /* rc 0: addr, text or header "name=value"; rc -1: the error */
	int code;
	const char *enh;
};

#define D(s) s, sizeof(s) - 1

static const struct reply_case replies[] = {
    {'y', D("554 5.7.1 Gtube pattern\0"), 0, "Gtube pattern", 554, "5.7.1"},
    {'y', D("451 try later\0"), 0, "try later", 451, ""},
    {'y', D("550-5.7.1 first\r\n550 5.7.1 second\0"), 0, "first", 550, "5.7.1"},
    {'y', D("550 4.7.1 class differs\0"), 0, "4.7.1 class differs", 550, ""},
    {'y', D("550 5.7.1 bell\a and \xff\0"), 0, "bell? and ?", 550, "5.7.1"},
    {'y', D("250 ok\0"), -1, "reply code not 4xx or 5xx", 0, NULL},
    {'y', D("55\0"), -1, "reply code not 4xx or 5xx", 0, NULL},
    {'y', D("550 no nul"), -1, "reply code without its NUL", 0, NULL},
    {'+', D("<new@example.com>\0"), 0, "new@example.com", 0, NULL},
    {'-', D("old@example.com\0"), 0, "old@example.com", 0, NULL},
    {'e', D("<>\0"), 0, "", 0, NULL},
    {'+', D("<a b@example.com>\0"), -1, "address holds a space, a control character or a bracket", 0, NULL},
    {'+', D("<a@example.com>\r\nRCPT TO:<x@y>\0"), -1,
     "address holds a space, a control character or a bracket", 0, NULL},
    {'h', D("X-Spam\0yes\0"), 0, "X-Spam=yes", 0, NULL},
    {'h', D("X-Spam\0yes\n\tfolded\0"), 0, "X-Spam=yes\n\tfolded", 0, NULL},
    {'h', D("X-Spam\0yes\r\nInjected: 1\0"), -1, "header value holds a line break that does not fold", 0,
     NULL},
    {'h', D("X-Spam\0a\rb\0"), -1, "header value holds a bare CR", 0, NULL},
    {'h', D("Bad Name\0v\0"), -1, "header name holds a character a field name cannot", 0, NULL},
    {'h', D("\0v\0"), -1, "header name empty or too long", 0, NULL},
    {'h', D("X-Only-Name\0"), -1, "header name or value without its NUL", 0, NULL},
    {'m', D("\0\0\0\1Subject\0new\0"), 0, "Subject=new", 0, NULL},
    {'i', D("\0\0"), -1, "header change without its index", 0, NULL},
    {'q', D("phish\tlike\0"), 0, "phish like", 0, NULL},
    {'q', D("\0"), 0, "quarantined by milter", 0, NULL},
    {'O', D("\0\0\0\6\0\0\1\377\0\0\0\200"), 0, NULL, 0, NULL},
    {'O', D("\0\0\0\6"), -1, "option negotiation too short", 0, NULL},
    {'Z', D(""), -1, "unknown reply", 0, NULL},
    {'c', D("ignored"), 0, NULL, 0, NULL},
};

static void test_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
		const struct reply_case *c = &replies[i];
		struct milter_reply r;
		const char *error = NULL;
		int rc = milter_proto_parse((uint8_t)c->cmd, (const uint8_t *)c->data, c->len, &r, &error);
		if (rc != c->rc)
			fail_msg("case %zu ('%c'): rc %d, expected %d (%s)", i, c->cmd, rc, c->rc,
			         error ? error : "");
		if (rc < 0) {
			assert_string_equal(error, c->expect);
			continue;
		}
		if (c->code != 0) {
			assert_int_equal(r.code, c->code);
			assert_string_equal(r.enh, c->enh);
		}
		if (c->expect == NULL)
			continue;
		char got[700];
		if (r.hname != NULL)
			snprintf(got, sizeof(got), "%s=%s", r.hname, r.hvalue);
		else if (c->cmd == '+' || c->cmd == '-' || c->cmd == 'e')
			snprintf(got, sizeof(got), "%s", r.addr);
		else
			snprintf(got, sizeof(got), "%s", r.text);
		assert_string_equal(got, c->expect);
	}
	struct milter_reply r;
	const char *error;
	assert_int_equal(
	    milter_proto_parse('O', (const uint8_t *)"\0\0\0\6\0\0\1\377\0\0\0\200", 12, &r, &error), 0);
	assert_int_equal(r.version, 6);
	assert_int_equal(r.actions, 0x1ff);
	assert_int_equal(r.protocol, 0x80);
}

static char *written(const struct milter_message *m)
{
	struct evbuffer *out = evbuffer_new();
	milter_message_write(m, out);
	size_t len = evbuffer_get_length(out);
	char *s = malloc(len + 1);
	evbuffer_remove(out, s, len);
	s[len] = '\0';
	evbuffer_free(out);
	return s;
}

static void test_message_edits(void **state)
{
	(void)state;
	struct evbuffer *content = evbuffer_new();
	evbuffer_add_printf(content, "Received: from a\r\n\tby b\r\nSubject: old\r\nX-A: 1\r\nX-A: 2\r\n\r\n"
	                             "body line\r\n");
	const char *rcpts[] = {"info@example.com", "sales@example.com"};
	struct milter_message m;
	memset(&m, 0, sizeof(m));
	milter_message_init(&m, content, "s@example.org", rcpts, 2);
	assert_int_equal(m.nheader, 4);
	assert_string_equal(m.headers[0].value, " from a\r\n\tby b");
	char *v = milter_message_header_value(&m.headers[0], false);
	assert_string_equal(v, "from a\n\tby b");
	free(v);
	v = milter_message_header_value(&m.headers[1], true);
	assert_string_equal(v, " old");
	free(v);
	assert_true(m.has_blank);

	milter_message_change_header(&m, 2, "x-a", "", false); /* deletes the second X-A */
	milter_message_change_header(&m, 1, "Subject", "new\n\tline", false);
	milter_message_change_header(&m, 3, "X-Missing", "added", false);
	milter_message_insert_header(&m, 0, "X-Top", "first", false);
	milter_message_insert_header(&m, 99, "X-End", " own space", true);
	milter_message_add_header(&m, "X-Last", "last", false);
	assert_true(m.content_changed);
	char *s = written(&m);
	assert_string_equal(
	    s, "X-Top: first\r\nReceived: from a\r\n\tby b\r\nSubject: new\r\n\tline\r\nX-A: 1\r\n"
	       "X-Missing: added\r\nX-End: own space\r\nX-Last: last\r\n\r\nbody line\r\n");
	free(s);

	assert_int_equal(milter_message_del_rcpt(&m, "INFO@example.com"), 0);
	assert_int_equal(milter_message_del_rcpt(&m, "nobody@example.com"), -1);
	milter_message_add_rcpt(&m, "new@example.com");
	milter_message_add_rcpt(&m, "new@example.com");
	assert_int_equal(m.nrcpt, 2);
	assert_string_equal(m.rcpts[0], "sales@example.com");
	assert_string_equal(m.rcpts[1], "new@example.com");
	milter_message_set_sender(&m, "");
	assert_string_equal(m.sender, "");
	assert_true(m.envelope_changed);

	milter_message_replace_body(&m, "new ", 4, true);
	milter_message_replace_body(&m, "body\r\n", 6, false);
	s = written(&m);
	assert_non_null(strstr(s, "\r\n\r\nnew body\r\n"));
	assert_null(strstr(s, "body line"));
	free(s);
	milter_message_clear(&m);
	evbuffer_free(content);
}

static void test_message_without_blank_line(void **state)
{
	(void)state;
	struct evbuffer *content = evbuffer_new();
	evbuffer_add_printf(content, "Subject: x\r\nnot a header line\r\nmore\r\n");
	struct milter_message m;
	memset(&m, 0, sizeof(m));
	milter_message_init(&m, content, "", NULL, 0);
	assert_int_equal(m.nheader, 1);
	assert_false(m.has_blank);
	char *s = written(&m);
	assert_string_equal(s, "Subject: x\r\n\r\nnot a header line\r\nmore\r\n");
	free(s);
	milter_message_clear(&m);
	evbuffer_free(content);
}

static void test_specs(void **state)
{
	(void)state;
	struct milter_spec *specs;
	size_t n;
	const char *error;
	assert_int_equal(milter_specs_parse("inet:127.0.0.1:11332, unix:/run/rspamd/milter.sock inet:[::1]:1 "
	                                    "inet:localhost:2",
	                                    &specs, &n, &error),
	                 0);
	assert_int_equal(n, 4);
	assert_string_equal(specs[0].name, "inet:127.0.0.1:11332");
	assert_int_equal(specs[0].sa.ss_family, AF_INET);
	assert_int_equal(specs[1].sa.ss_family, AF_UNIX);
	assert_int_equal(specs[2].sa.ss_family, AF_INET6);
	assert_int_equal(specs[3].sa.ss_family, AF_INET);
	free(specs);
	assert_int_equal(milter_specs_parse("", &specs, &n, &error), 0);
	assert_int_equal(n, 0);
	const char *bad[] = {"inet:rspamd.example:11332",
	                     "inet:127.0.0.1",
	                     "inet:127.0.0.1:0",
	                     "inet:127.0.0.1:70000",
	                     "unix:relative",
	                     "tcp:127.0.0.1:1",
	                     "inet:[::1:5"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (milter_specs_parse(bad[i], &specs, &n, &error) != -1)
			fail_msg("'%s' accepted", bad[i]);
		assert_non_null(strstr(error, "smtpd_milters: '"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_frame),         cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_message_edits), cmocka_unit_test(test_message_without_blank_line),
	    cmocka_unit_test(test_specs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
