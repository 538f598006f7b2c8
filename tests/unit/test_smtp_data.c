/* Unit tests for mxd/smtpd/smtp_data: a table of DATA streams and what must come out of them, each row fed
 * whole, one octet at a time, and split in two at every offset; all must agree. */
#include "mxd/smtpd/smtp_data.h"

#include "mxd/common/util.h"

#include <event2/buffer.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define LIMIT_DEFAULT (1024 * 1024)

struct data_row {
	const char *name;
	const char *in;
	size_t in_len; /* 0: strlen(in) */
	uint64_t limit;
	enum smtp_data_status status;
	const char *rest; /* for DONE: the input left over for the next command */
	const char *out;
	size_t out_len; /* 0: strlen(out) */
	enum smtp_data_error error;
	unsigned received;
	bool eightbit;
};

#define DONE(name, in, rest, out, error)                                                                     \
	{                                                                                                    \
		name, in, 0, LIMIT_DEFAULT, SMTP_DATA_DONE, rest, out, 0, error, 0, false                    \
	}
#define MORE(name, in, out, error)                                                                           \
	{                                                                                                    \
		name, in, 0, LIMIT_DEFAULT, SMTP_DATA_MORE, "", out, 0, error, 0, false                      \
	}
#define LIMITED(name, in, limit, rest, out, error)                                                           \
	{                                                                                                    \
		name, in, 0, limit, SMTP_DATA_DONE, rest, out, 0, error, 0, false                            \
	}
#define RECEIVED(name, in, out, count)                                                                       \
	{                                                                                                    \
		name, in, 0, LIMIT_DEFAULT, SMTP_DATA_DONE, "", out, 0, SMTP_DATA_OK, count, false           \
	}

#define OK   SMTP_DATA_OK
#define BARE SMTP_DATA_BARE_NEWLINE
#define BIG  SMTP_DATA_TOO_BIG

static const struct data_row data_rows[] = {
    DONE("plain", "Subject: x\r\n\r\nhello\r\n.\r\n", "", "Subject: x\r\n\r\nhello\r\n", OK),
    DONE("empty message", ".\r\n", "", "", OK),
    DONE("empty line only", "\r\n.\r\n", "", "\r\n", OK),
    DONE("dot-stuffed", "..foo\r\n.\r\n", "", ".foo\r\n", OK),
    DONE("dots only", "...\r\n.\r\n", "", "..\r\n", OK),
    DONE("stuffed dot line", "a\r\n..\r\n.\r\n", "", "a\r\n.\r\n", OK),
    DONE("unstuffed leading dot is deleted", ".foo\r\n.\r\n", "", "foo\r\n", OK),
    DONE("dot inside a line", "a.b\r\n a.\r\n.\r\n", "", "a.b\r\n a.\r\n", OK),
    DONE("dot then space", ". \r\n.\r\n", "", " \r\n", OK),
    DONE("pipelined command", "a\r\n.\r\nQUIT\r\n", "QUIT\r\n", "a\r\n", OK),
    DONE("pipelined transaction", "a\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<x@y.example>\r\nDATA\r\n",
         "MAIL FROM:<>\r\nRCPT TO:<x@y.example>\r\nDATA\r\n", "a\r\n", OK),
    DONE("second end is the next input", ".\r\n.\r\n", ".\r\n", "", OK),
    MORE("no end yet", "a\r\n", "a\r\n", OK),
    MORE("dot pending", "a\r\n.", "a\r\n", OK),
    MORE("dot CR pending", "a\r\n.\r", "a\r\n", OK),
    MORE("CR pending", "a\r", "a", OK),
    MORE("nothing", "", "", OK),
    /* smuggling: only CRLF.CRLF ends the message; the rest is data and the message is refused */
    DONE("LF.LF", "a\n.\nMAIL FROM:<x@y.example>\r\n.\r\n", "", "a", BARE),
    DONE("CR.CR", "a\r.\rMAIL FROM:<x@y.example>\r\n.\r\n", "", "a", BARE),
    DONE("LF.CRLF", "a\n.\r\nMAIL FROM:<x@y.example>\r\n.\r\n", "", "a", BARE),
    DONE("CRLF.LF", "a\r\n.\nMAIL FROM:<x@y.example>\r\n.\r\n", "", "a\r\n", BARE),
    DONE("CRLF.CR", "a\r\n.\rMAIL FROM:<x@y.example>\r\n.\r\n", "", "a\r\n", BARE),
    DONE("CR.CRLF", "a\r.\r\nMAIL FROM:<x@y.example>\r\n.\r\n", "", "a", BARE),
    DONE("CR.LF", "a\r.\nMAIL\r\n.\r\n", "", "a", BARE),
    DONE("LF.CR", "a\n.\rMAIL\r\n.\r\n", "", "a", BARE),
    DONE("CRLF.CRCRLF", "a\r\n.\r\r\n.\r\n", "", "a\r\n", BARE),
    DONE("CRCRLF.CRLF", "a\r\r\n.\r\n", "", "a", BARE),
    DONE("LF at the start", "\n.\r\n.\r\n", "", "", BARE),
    DONE("LF.LF at the start", ".\n.\r\n.\r\n", "", "", BARE),
    DONE("CR at the start", "\r.\r\n.\r\n", "", "", BARE),
    DONE("bare LF in a line", "a\nb\r\n.\r\n", "", "a", BARE),
    DONE("bare CR in a line", "a\rb\r\n.\r\n", "", "a", BARE),
    DONE("LFCR", "a\n\r\n.\r\n", "", "a", BARE),
    DONE("error keeps pipelining", "a\n.\n\r\n.\r\nQUIT\r\n", "QUIT\r\n", "a", BARE),
    MORE("LF.LF never ends", "a\n.\n", "a", BARE),
    MORE("CRLF.LF never ends", "a\r\n.\n", "a\r\n", BARE),
    MORE("LF.CRLF never ends", "a\n.\r\n", "a", BARE),
    MORE("CR.CR never ends", "a\r.\r", "a", BARE),
    MORE("CR.CRLF never ends", "a\r.\r\n", "a", BARE),
    MORE("CRLF.CR then junk never ends", "a\r\n.\rX", "a\r\n", BARE),
    MORE("CRLF.CRLF split by a bare LF", "a\r\n\n.\r\n", "a\r\n", BARE),
    /* NUL */
    {"NUL", "a\0b\r\n.\r\n", 8, LIMIT_DEFAULT, SMTP_DATA_DONE, "", "a", 0, SMTP_DATA_NUL, 0, false},
    {"NUL after bare LF", "a\n\0\r\n.\r\n", 8, LIMIT_DEFAULT, SMTP_DATA_DONE, "", "a", 0, BARE, 0, false},
    {"NUL at the start", "\0\r\n.\r\n", 6, LIMIT_DEFAULT, SMTP_DATA_DONE, "", "", 0, SMTP_DATA_NUL, 0, false},
    /* size: output holds at most the first limit octets; the real end is still found */
    LIMITED("at the limit", "abc\r\n.\r\n", 5, "", "abc\r\n", OK),
    LIMITED("one over", "abc\r\n.\r\n", 4, "", "abc\r", BIG),
    LIMITED("far over", "abcdefgh\r\nxyz\r\n.\r\nNOOP\r\n", 3, "NOOP\r\n", "abc", BIG),
    LIMITED("zero limit, empty", ".\r\n", 0, "", "", OK),
    LIMITED("zero limit", "a\r\n.\r\n", 0, "", "", BIG),
    LIMITED("stuffing not counted", "..\r\n.\r\n", 3, "", ".\r\n", OK),
    LIMITED("too big, then bare LF", "abcdef\n.\r\n.\r\n", 2, "", "ab", BIG),
    /* Received: fields in the header section only */
    RECEIVED("received", "Received: a\r\nreceived: b\r\nRECEIVED:c\r\nX: y\r\n\r\nReceived: body\r\n.\r\n",
             "Received: a\r\nreceived: b\r\nRECEIVED:c\r\nX: y\r\n\r\nReceived: body\r\n", 3),
    RECEIVED("folded", "Received: from a\r\n\tby b\r\n Received: c\r\n\r\n.\r\n",
             "Received: from a\r\n\tby b\r\n Received: c\r\n\r\n", 1),
    RECEIVED("not received", "X-Received: a\r\nReceivedx: b\r\nReceive: c\r\nReceived : d\r\n\r\n.\r\n",
             "X-Received: a\r\nReceivedx: b\r\nReceive: c\r\nReceived : d\r\n\r\n", 0),
    RECEIVED("no header section", "\r\nReceived: a\r\n.\r\n", "\r\nReceived: a\r\n", 0),
    RECEIVED("exactly the name", "Rec\r\nReceived:\r\n.\r\n", "Rec\r\nReceived:\r\n", 1),
    RECEIVED("leading dot deleted", ".Received: a\r\n..Received: b\r\n.\r\n",
             "Received: a\r\n.Received: b\r\n", 1),
    RECEIVED("no empty line", "Received: a\r\nReceived: b\r\n.\r\n", "Received: a\r\nReceived: b\r\n", 2),
    /* 8-bit content is passed on and noted */
    {"eightbit", "caf\xc3\xa9\r\n.\r\n", 0, LIMIT_DEFAULT, SMTP_DATA_DONE, "", "caf\xc3\xa9\r\n", 0, OK, 0,
     true},
};

struct result {
	enum smtp_data_status status;
	size_t consumed; /* of the whole input */
	struct smtp_data d;
	char *out;
	size_t out_len;
};

/* Feed in[0..len) in pieces ending at the offsets in cuts (ascending, the last one len). */
static void run(const struct data_row *r, const char *in, size_t len, const size_t *cuts, size_t ncuts,
                struct result *res)
{
	struct evbuffer *out = evbuffer_new();
	size_t off = 0;
	smtp_data_init(&res->d, r->limit);
	res->status = SMTP_DATA_MORE;
	res->consumed = 0;
	for (size_t k = 0; k < ncuts && res->status == SMTP_DATA_MORE; k++) {
		size_t consumed = 0, n = cuts[k] - off;
		res->status = smtp_data_feed(&res->d, in + off, n, out, &consumed);
		assert_true(consumed <= n);
		if (res->status == SMTP_DATA_MORE)
			assert_int_equal(consumed, n);
		res->consumed += consumed;
		off = cuts[k];
		assert_true(evbuffer_get_length(out) <= res->d.size_limit);
	}
	res->out_len = evbuffer_get_length(out);
	res->out = xmalloc(res->out_len + 1);
	evbuffer_remove(out, res->out, res->out_len);
	res->out[res->out_len] = '\0';
	evbuffer_free(out);
}

static void check(const struct data_row *r, size_t in_len, const struct result *res)
{
	const char *want = r->out;
	size_t want_len = r->out_len != 0 ? r->out_len : strlen(want);
	assert_int_equal(res->status, r->status);
	assert_int_equal(res->consumed, r->status == SMTP_DATA_DONE ? in_len - strlen(r->rest) : in_len);
	assert_int_equal(res->out_len, want_len);
	assert_memory_equal(res->out, want, want_len);
	assert_int_equal(res->d.error, r->error);
	assert_int_equal(res->d.received_count, r->received);
	assert_int_equal(res->d.eightbit, r->eightbit);
	if (r->error == SMTP_DATA_OK)
		assert_true(res->d.size == want_len);
	else
		assert_true(res->d.size >= want_len);
}

static void test_data_table(void **state)
{
	for (size_t i = 0; i < MXD_ARRAY_SIZE(data_rows); i++) {
		const struct data_row *r = &data_rows[i];
		size_t len = r->in_len != 0 ? r->in_len : strlen(r->in);
		size_t *cuts = xmalloc((len + 1) * sizeof(*cuts));
		struct result res;
		print_message("row %zu: %s\n", i, r->name);

		/* whole */
		cuts[0] = len;
		run(r, r->in, len, cuts, 1, &res);
		check(r, len, &res);
		free(res.out);

		/* one octet at a time */
		for (size_t k = 0; k < len; k++)
			cuts[k] = k + 1;
		run(r, r->in, len, cuts, len, &res);
		check(r, len, &res);
		free(res.out);

		/* two pieces, split at every offset (an empty piece included) */
		for (size_t at = 0; at <= len; at++) {
			size_t two[2] = {at, len};
			run(r, r->in, len, two, 2, &res);
			check(r, len, &res);
			free(res.out);
		}
		free(cuts);
	}
}

/* After DONE the parser takes nothing more until smtp_data_init(). */
static void test_data_done_is_final(void **state)
{
	struct smtp_data d;
	struct evbuffer *out = evbuffer_new();
	size_t consumed = 99;
	smtp_data_init(&d, 100);
	assert_int_equal(smtp_data_feed(&d, "x\r\n.\r\nNOOP\r\n", 12, out, &consumed), SMTP_DATA_DONE);
	assert_int_equal(consumed, 6);
	assert_int_equal(smtp_data_feed(&d, "more\r\n", 6, out, &consumed), SMTP_DATA_DONE);
	assert_int_equal(consumed, 0);
	assert_int_equal(evbuffer_get_length(out), 3);
	evbuffer_free(out);
}

/* A 1 MiB line, fed in 4 KiB pieces: passed through whole under a big limit, cut at a small one; the
 * output never grows past the limit. */
static void long_line(uint64_t limit, size_t want_out, enum smtp_data_error want_error)
{
	const size_t line = 1024 * 1024, piece = 4096;
	char *buf = xmalloc(piece);
	struct smtp_data d;
	struct evbuffer *out = evbuffer_new();
	size_t consumed;
	memset(buf, 'x', piece);
	smtp_data_init(&d, limit);
	for (size_t off = 0; off < line; off += piece) {
		assert_int_equal(smtp_data_feed(&d, buf, piece, out, &consumed), SMTP_DATA_MORE);
		assert_true(evbuffer_get_length(out) <= limit);
	}
	assert_int_equal(smtp_data_feed(&d, "\r\n.\r\n", 5, out, &consumed), SMTP_DATA_DONE);
	assert_int_equal(consumed, 5);
	assert_int_equal(evbuffer_get_length(out), want_out);
	assert_int_equal(d.error, want_error);
	assert_true(d.size == line + 2);
	evbuffer_free(out);
	free(buf);
}

static void test_data_long_line(void **state)
{
	long_line(8 * 1024 * 1024, 1024 * 1024 + 2, SMTP_DATA_OK);
	long_line(1000, 1000, SMTP_DATA_TOO_BIG);
}

/* 16 MiB of lines against a 64 KiB limit: memory stays bounded, the end is found. */
/* The Message-ID for the log line (smtp_data_message_id). */
static void test_message_id(void **state)
{
	static const struct {
		const char *msg, *want;
		size_t size;
	} rows[] = {
	    {"Subject: x\r\nMessage-ID: <a@b>\r\n\r\nbody\r\n", "<a@b>", 64},
	    {"message-id:<a@b>\r\n\r\n", "<a@b>", 64},
	    {"MESSAGE-ID:   <a@b>  \r\n\r\n", "<a@b>", 64},
	    {"Message-ID:\r\n\t<folded@b>\r\nSubject: y\r\n\r\n", "<folded@b>", 64},
	    {"Message-ID: <a\r\n b@c>\r\n\r\n", "<a b@c>", 64},
	    {"Message-ID: <a\x01\xc3\xa9@b>\r\n\r\n", "<a???@b>", 64},
	    {"Subject: x\r\n\r\nMessage-ID: <in-body@b>\r\n", "", 64},
	    {"X-Message-ID: <no@b>\r\n\r\n", "", 64},
	    {"Message-IDs: <no@b>\r\n\r\n", "", 64},
	    {"Message-ID: <first@b>\r\nMessage-ID: <second@b>\r\n\r\n", "<first@b>", 64},
	    {"Message-ID: <0123456789@b>\r\n\r\n", "<0123", 6},
	    {"Message-ID: <a@b>", "<a@b>", 64},
	    {"", "", 64},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct evbuffer *msg = evbuffer_new();
		char buf[64];
		evbuffer_add(msg, rows[i].msg, strlen(rows[i].msg));
		memset(buf, 'x', sizeof(buf));
		smtp_data_message_id(msg, buf, rows[i].size);
		if (strcmp(buf, rows[i].want) != 0)
			fail_msg("row %zu: got '%s', expected '%s'", i, buf, rows[i].want);
		evbuffer_free(msg);
	}
}

static void test_data_bounded(void **state)
{
	static const char chunk[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n";
	const uint64_t limit = 64 * 1024;
	struct smtp_data d;
	struct evbuffer *out = evbuffer_new();
	size_t consumed;
	smtp_data_init(&d, limit);
	for (size_t i = 0; i < 16 * 1024 * 1024 / (sizeof(chunk) - 1); i++) {
		assert_int_equal(smtp_data_feed(&d, chunk, sizeof(chunk) - 1, out, &consumed),
		                 SMTP_DATA_MORE);
		assert_true(evbuffer_get_length(out) <= limit);
	}
	assert_int_equal(smtp_data_feed(&d, ".\r\nQUIT\r\n", 9, out, &consumed), SMTP_DATA_DONE);
	assert_int_equal(consumed, 3);
	assert_int_equal(d.error, SMTP_DATA_TOO_BIG);
	assert_int_equal(evbuffer_get_length(out), limit);
	assert_true(d.size == 16 * 1024 * 1024);
	evbuffer_free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_data_table),     cmocka_unit_test(test_data_done_is_final),
	    cmocka_unit_test(test_data_long_line), cmocka_unit_test(test_data_bounded),
	    cmocka_unit_test(test_message_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
