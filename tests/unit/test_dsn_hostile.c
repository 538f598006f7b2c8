/*
 * test_dsn_hostile: the DSN writer (mxd/delivery/dsn.c) against hostile input: remote reply texts and
 * addresses that try to inject header lines or MIME parts, control characters, over-long values, and the
 * copied header section's limits (its size bound, lines that are not headers, no body ever).
 */
#include "dsn_fixture.h"

/* Hostile values: each row puts one value into one input; the structure must not change. */
enum poison {
	P_DIAG,
	P_REMOTE,
	P_FINAL,
	P_ORIG,
	P_SENDER,
	P_HOST,
	P_QID,
	P_STATUS,
};

struct nasty_row {
	enum poison where;
	const char *value;
};

#define INJ_PART                                                                                             \
	"550 x\r\n\r\n--" T_BOUNDARY "\r\nContent-Type: text/html\r\n\r\n<b>owned</b>\r\n--" T_BOUNDARY "--"
#define INJ_HDR "x\r\nX-Injected: yes"

static const struct nasty_row nasty_rows[] = {
    {P_DIAG, INJ_HDR},
    {P_DIAG, INJ_PART},
    {P_DIAG, "550 a\nX-Injected: bare LF"},
    {P_DIAG, "550 a\rX-Injected: bare CR"},
    {P_DIAG, "550 a\r\n\r\nX-Injected: after an empty line"},
    {P_DIAG, "550 a\r\n.\r\nMAIL FROM:<x@y>"},
    {P_DIAG, "550 \x1b[31mred\x1b[0m \x7f \xc2\x85 NEL \xff\xfe invalid"},
    {P_DIAG, "\r\n\r\n\r\n"},
    {P_DIAG, "--" T_BOUNDARY "--"},
    {P_REMOTE, INJ_HDR},
    {P_REMOTE, INJ_PART},
    {P_REMOTE, "mx.example\r\n\r\nX-Injected: yes"},
    {P_FINAL, "bob@x\r\nX-Injected: yes"},
    {P_FINAL, "bob@x\r\n\r\n--" T_BOUNDARY "\r\nContent-Type: text/html"},
    {P_FINAL, "\"a>b\"@x"},
    {P_FINAL, "a>b, <evil@x>@x"},
    {P_FINAL, "\r\n"},
    {P_ORIG, INJ_HDR},
    {P_ORIG, INJ_PART},
    {P_SENDER, "alice@example.org>\r\nBcc: <victim@example.com"},
    {P_SENDER, "alice@example.org\r\n\r\n--" T_BOUNDARY "\r\nContent-Type: text/html"},
    {P_SENDER, "a\"b\\c@example.org"},
    {P_HOST, "mx.example.net>\r\nX-Injected: yes"},
    {P_HOST, "mx.example.net\r\n\r\n--" T_BOUNDARY "\r\nContent-Type: text/html"},
    {P_QID, "ABC\r\nX-Injected: yes"},
    {P_QID, "ABC123\r\n\r\n--" T_BOUNDARY "\r\nContent-Type: text/html"},
    {P_STATUS, "5.1.1\r\nX-Injected: yes"},
};

static void test_injection_table(void **state)
{
	for (size_t i = 0; i < MXD_ARRAY_SIZE(nasty_rows); i++) {
		const struct nasty_row *row = &nasty_rows[i];
		struct dsn_rcpt rc = base_rcpt;
		struct dsn_report r = base_report(&rc, 1);
		struct parsed m;

		print_message("row %zu\n", i);
		switch (row->where) {
		case P_DIAG:
			rc.diagnostic = row->value;
			break;
		case P_REMOTE:
			rc.remote_mta = row->value;
			break;
		case P_FINAL:
			rc.final_rcpt = row->value;
			break;
		case P_ORIG:
			rc.orig_rcpt = row->value;
			break;
		case P_SENDER:
			r.sender = row->value;
			break;
		case P_HOST:
			r.myhostname = row->value;
			break;
		case P_QID:
			r.queue_id = row->value;
			break;
		case P_STATUS:
			rc.status = row->value;
			break;
		}
		compose_walk(&r, &m, NULL); /* the walk checks the structure */
		assert_false(has_line_starting(&m, "X-Injected"));
		assert_false(has_line_starting(&m, "Bcc"));
		assert_false(has_line_starting(&m, "Content-Type: text/html"));
		assert_false(has_line_starting(&m, "<b>"));
		assert_false(has_line_starting(&m, "MAIL FROM"));
		assert_false(has_line_starting(&m, "."));
		assert_int_equal(strchr(block_get(&m.top, "To"), '\n') == NULL, 1);
		parsed_free(&m);
	}
}

static void test_sanitized_values(void **state)
{
	struct dsn_rcpt rc = base_rcpt;
	struct parsed m;

	rc.diagnostic = "550-5.1.1 first line\r\n550 5.1.1 second\tline \x01\x02 end";
	rc.final_rcpt = "john doe@example.com";
	rc.status = "5.1.1\r\n";
	struct dsn_report r = base_report(&rc, 1);
	r.sender = "alice@example.org>\r\nBcc: <victim@example.com";
	compose_walk(&r, &m, NULL);
	assert_string_equal(block_get(&m.groups[1], "Diagnostic-Code"),
	                    "smtp; 550-5.1.1 first line 550 5.1.1 second line end");
	assert_string_equal(block_get(&m.groups[1], "Final-Recipient"), "rfc822; \"john doe\"@example.com");
	assert_string_equal(block_get(&m.groups[1], "Status"), "5.0.0"); /* malformed: by action */
	/* the whole value stays inside one quoted local part of one angle-addr */
	assert_string_equal(block_get(&m.top, "To"), "<\"alice@example.org> Bcc: <victim\"@example.com>");
	parsed_free(&m);

	r = base_report(&rc, 1);
	r.sender = "\"odd one\"@example.org";
	compose_walk(&r, &m, NULL);
	assert_string_equal(block_get(&m.top, "To"), "<\"odd one\"@example.org>");
	parsed_free(&m);
}

static void test_long_values(void **state)
{
	struct dsn_rcpt rc = base_rcpt;
	struct parsed m;
	size_t n = 5000;
	char *words = xmalloc(n + 1), *blob = xmalloc(n + 1);

	for (size_t i = 0; i < n; i++) {
		words[i] = i % 7 == 6 ? ' ' : (char)('a' + i % 26);
		blob[i] = (char)('A' + i % 26);
	}
	words[n] = blob[n] = '\0';

	/* words: folded at spaces; unfolded, the value is a prefix of the input, capped */
	rc.diagnostic = words;
	struct dsn_report r = base_report(&rc, 1);
	compose_walk(&r, &m, NULL);
	const char *d = block_get(&m.groups[1], "Diagnostic-Code");
	assert_true(strncmp(d, "smtp; ", 6) == 0);
	d += 6;
	assert_true(strlen(d) > 1000 && strlen(d) <= 2048);
	assert_memory_equal(d, words, strlen(d));
	parsed_free(&m);

	/* one long word, everywhere: hard-cut lines (check_lines: all under 998) */
	rc.diagnostic = blob;
	rc.remote_mta = blob;
	rc.final_rcpt = blob;
	r = base_report(&rc, 1);
	r.sender = blob;
	r.myhostname = blob;
	r.queue_id = blob;
	compose_walk(&r, &m, NULL);
	d = block_get(&m.groups[1], "Diagnostic-Code") + 6;
	for (size_t i = 0, j = 0; d[i] != '\0'; i++) {
		if (d[i] != ' ')
			assert_int_equal(d[i], blob[j++]);
	}
	assert_true(strlen(block_get(&m.top, "Message-ID")) < 300);
	parsed_free(&m);
	free(words);
	free(blob);
}

/* The header section: which octets of an original message come back, and how. */
struct hdr_row {
	const char *message;
	size_t len; /* 0: strlen */
	const char *expect;
};

static const struct hdr_row hdr_rows[] = {
    {T_MESSAGE, 0, T_HEADERS},
    {"A: 1\nB: 2\n\nbody\n", 0, "A: 1\r\nB: 2\r\n"},            /* LF line ends */
    {"A: 1\r\nB: 2", 0, "A: 1\r\nB: 2\r\n"},                    /* no body, no final CRLF */
    {"A: 1\r\nnot a header line\r\nB: 2\r\n", 0, "A: 1\r\n"},   /* body without empty line */
    {"\r\nA: body\r\n", 0, ""},                                 /* no headers */
    {" cont: x\r\nA: 1\r\n\r\n", 0, ""},                        /* starts with continuation */
    {"From alice@example.org Tue Nov 14\r\nA: 1\r\n", 0, ""},   /* mbox line: not a field */
    {"Subject : spaced\r\n\r\nx", 0, "Subject : spaced\r\n"},   /* RFC 822 WSP before colon */
    {"A: x\0y\r\nB: z\rw\r\n\r\n", 18, "A: x y\r\nB: z w\r\n"}, /* NUL and stray CR */
    {"A: 1\r\n\r\nB: 2\r\n\r\n", 0, "A: 1\r\n"},                /* first empty line only */
    {"X-Evil: --" T_BOUNDARY "\r\n--" T_BOUNDARY ": x\r\n\r\n", 0,
     "X-Evil: --" T_BOUNDARY "\r\n--" T_BOUNDARY ": x\r\n"},         /* boundary lookalikes kept */
    {"A: \xc3\xa9t\xc3\xa9\r\n\r\n", 0, "A: \xc3\xa9t\xc3\xa9\r\n"}, /* 8-bit kept */
    {"", 0, ""},
};

static void test_header_section_table(void **state)
{
	for (size_t i = 0; i < MXD_ARRAY_SIZE(hdr_rows); i++) {
		const struct hdr_row *row = &hdr_rows[i];
		struct dsn_report r = base_report(&base_rcpt, 1);
		struct parsed m;
		bool eightbit = false;

		print_message("row %zu\n", i);
		r.message = row->message;
		r.message_len = row->len != 0 ? row->len : strlen(row->message);
		compose_walk(&r, &m, &eightbit);
		assert_int_equal(m.parts[2].body_len, strlen(row->expect));
		assert_memory_equal(m.parts[2].body, row->expect, strlen(row->expect));
		bool eight = strpbrk(row->expect, "\x80\x81\xa9\xc3") != NULL;
		assert_int_equal(eightbit, eight);
		if (eight)
			assert_string_equal(block_get(&m.parts[2].h, "Content-Transfer-Encoding"), "8bit");
		/* the boundary avoided the lookalikes */
		assert_null(strstr(row->expect, m.boundary));
		parsed_free(&m);
	}
}

static void test_header_section_limits(void **state)
{
	struct dsn_report r = base_report(&base_rcpt, 1);
	struct parsed m;
	size_t n = 3000;
	char *msg = xmalloc(200 * 1024);

	/* a 3000-octet field: broken into folded lines, nothing lost but the line ends */
	memcpy(msg, "X-Long: ", 8);
	memset(msg + 8, 'q', n);
	memcpy(msg + 8 + n, "\r\n\r\nbody\r\n", 10);
	r.message = msg;
	r.message_len = 8 + n + 10;
	compose_walk(&r, &m, NULL);
	size_t q = 0;
	for (size_t i = 0; i < m.parts[2].body_len; i++)
		q += m.parts[2].body[i] == 'q';
	assert_int_equal(q, n);
	struct block b;
	parse_block(m.parts[2].body, m.parts[2].body + m.parts[2].body_len, &b);
	assert_int_equal(b.n, 1);
	block_free(&b);
	parsed_free(&m);

	/* more than 102400 octets of fields: whole fields only, within the limit */
	size_t len = 0;
	for (unsigned i = 0; len < 150 * 1024; i++)
		len += (size_t)sprintf(msg + len, "X-Filler-%05u: %0100u\r\n\t%080u\r\n", i, i, i);
	memcpy(msg + len, "\r\nbody\r\n", 8);
	r.message = msg;
	r.message_len = len + 8;
	compose_walk(&r, &m, NULL);
	assert_true(m.parts[2].body_len <= 102400 && m.parts[2].body_len > 100000);
	assert_memory_equal(m.parts[2].body, msg, m.parts[2].body_len);
	assert_true(strncmp(msg + m.parts[2].body_len, "X-Filler-", 9) == 0);
	parsed_free(&m);
	free(msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_injection_table),       cmocka_unit_test(test_sanitized_values),
	    cmocka_unit_test(test_long_values),           cmocka_unit_test(test_header_section_table),
	    cmocka_unit_test(test_header_section_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
