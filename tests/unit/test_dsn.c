/*
 * Unit tests for mxd/delivery/dsn. Every composed notification goes through a strict MIME walk written here:
 * CRLF-only lines under 998 octets, exactly the expected top-level fields, a boundary that delimits
 * exactly three parts with the expected content types, and a delivery-status of one per-message group
 * and one group per recipient holding only known fields. Hostile inputs (table rows) must not change
 * that structure. When /usr/bin/python3 exists, its email package parses the same output as a check.
 */
#include "mxd/delivery/dsn.h"

#include "mxd/common/util.h"

#include <event2/buffer.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>

#define T_NOW      1700000000 /* Tue, 14 Nov 2023 22:13:20 +0000 */
#define T_NOW_DATE "Tue, 14 Nov 2023 22:13:20 +0000"
#define T_NONCE    0x1122334455667788ULL
#define T_BOUNDARY "ABC123.1700000000/1122334455667788"
#define T_HEADERS                                                                                            \
	"Received: from client.example.org (client.example.org [192.0.2.7])\r\n"                             \
	"\tby mx.example.net (mxd) with ESMTP id ABC123\r\n"                                                 \
	"From: Alice <alice@example.org>\r\n"                                                                \
	"To: bob@hosted.example\r\n"                                                                         \
	"Subject: lunch\r\n"
#define T_MESSAGE T_HEADERS "\r\nBODY-SECRET: this line is the body\r\nand so is this one\r\n"

/* The MIME walk */

struct field {
	char *name;
	char *value; /* unfolded: CRLFs removed, leading white space of the first line removed */
};

struct block {
	struct field f[32];
	size_t n;
};

struct part {
	struct block h;
	const char *body;
	size_t body_len;
};

struct parsed {
	char *raw;
	size_t len;
	struct block top;
	char boundary[128];
	struct part parts[3];
	struct block groups[16]; /* delivery-status: groups[0] per message, then one per recipient */
	size_t ngroups;
};

static const char *find_line_end(const char *p, const char *end)
{
	for (; p + 1 < end; p++) {
		if (p[0] == '\r' && p[1] == '\n')
			return p;
	}
	return end;
}

/* Parse header fields from p up to the empty line (consumed) or end; fails on anything malformed. */
static const char *parse_block(const char *p, const char *end, struct block *b)
{
	b->n = 0;
	while (p < end) {
		const char *eol = find_line_end(p, end);
		size_t len = (size_t)(eol - p);
		const char *next = eol < end ? eol + 2 : end;
		if (len == 0)
			return next;
		if (p[0] == ' ' || p[0] == '\t') {
			assert_true(b->n > 0);
			struct field *f = &b->f[b->n - 1];
			size_t old = strlen(f->value);
			f->value = xrealloc(f->value, old + len + 1);
			memcpy(f->value + old, p, len);
			f->value[old + len] = '\0';
		} else {
			const char *colon = memchr(p, ':', len);
			assert_non_null(colon);
			assert_true(b->n < MXD_ARRAY_SIZE(b->f));
			struct field *f = &b->f[b->n++];
			f->name = xstrndup(p, (size_t)(colon - p));
			const char *v = colon + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			f->value = xstrndup(v, (size_t)(eol - v));
		}
		p = next;
	}
	return p;
}

static void block_free(struct block *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->f[i].name);
		free(b->f[i].value);
	}
	b->n = 0;
}

static size_t block_count(const struct block *b, const char *name)
{
	size_t n = 0;
	for (size_t i = 0; i < b->n; i++)
		n += strcasecmp(b->f[i].name, name) == 0;
	return n;
}

static const char *block_get(const struct block *b, const char *name)
{
	for (size_t i = 0; i < b->n; i++) {
		if (strcasecmp(b->f[i].name, name) == 0)
			return b->f[i].value;
	}
	return NULL;
}

/* Every field of b is one of names (NULL-terminated) and none repeats; the required ones are there. */
static void block_check_names(const struct block *b, const char *const *names, const char *const *required)
{
	for (size_t i = 0; i < b->n; i++) {
		bool known = false;
		for (size_t j = 0; names[j] != NULL; j++)
			known = known || strcasecmp(b->f[i].name, names[j]) == 0;
		if (!known)
			fail_msg("unexpected field \"%s\"", b->f[i].name);
		assert_int_equal(block_count(b, b->f[i].name), 1);
	}
	for (size_t j = 0; required[j] != NULL; j++) {
		if (block_get(b, required[j]) == NULL)
			fail_msg("missing field \"%s\"", required[j]);
	}
}

static const char *const top_names[] = {"From",
                                        "To",
                                        "Subject",
                                        "Date",
                                        "Message-ID",
                                        "Auto-Submitted",
                                        "MIME-Version",
                                        "Content-Type",
                                        "Content-Transfer-Encoding",
                                        NULL};
static const char *const part_names[] = {"Content-Description", "Content-Type", "Content-Transfer-Encoding",
                                         NULL};
static const char *const part_required[] = {"Content-Description", "Content-Type", NULL};
static const char *const msg_names[] = {"Reporting-MTA", "X-Mxd-Queue-ID", "X-Mxd-Sender", "Arrival-Date",
                                        NULL};
static const char *const msg_required[] = {"Reporting-MTA", "X-Mxd-Queue-ID", "X-Mxd-Sender", NULL};
static const char *const rcpt_names[] = {
    "Final-Recipient", "Original-Recipient", "Action",           "Status", "Remote-MTA",
    "Diagnostic-Code", "Last-Attempt-Date",  "Will-Retry-Until", NULL};
static const char *const rcpt_required[] = {"Final-Recipient", "Action", "Status", NULL};

/* Lines: CRLF only, no NUL, none of 998 octets or more, ending in CRLF. */
static void check_lines(const char *raw, size_t len)
{
	size_t line = 0;
	assert_true(len >= 2 && raw[len - 2] == '\r' && raw[len - 1] == '\n');
	for (size_t i = 0; i < len; i++) {
		assert_true(raw[i] != '\0');
		if (raw[i] == '\r') {
			assert_true(i + 1 < len && raw[i + 1] == '\n');
		} else if (raw[i] == '\n') {
			assert_true(i > 0 && raw[i - 1] == '\r');
			line = 0;
			continue;
		}
		if (raw[i] != '\r' && ++line >= 998)
			fail_msg("line of 998 octets at offset %zu", i);
	}
}

static void parsed_free(struct parsed *m)
{
	block_free(&m->top);
	for (size_t i = 0; i < 3; i++)
		block_free(&m->parts[i].h);
	for (size_t i = 0; i < m->ngroups; i++)
		block_free(&m->groups[i]);
	free(m->raw);
}

/* Walk raw (taken) as a multipart/report with nrcpt recipient groups; fails the test on any deviation. */
static void walk(char *raw, size_t len, size_t nrcpt, struct parsed *m)
{
	memset(m, 0, sizeof(*m));
	m->raw = raw;
	m->len = len;
	check_lines(raw, len);

	const char *end = raw + len;
	const char *body = parse_block(raw, end, &m->top);
	block_check_names(&m->top, top_names, top_names);
	assert_int_equal(m->top.n, 9);

	const char *ct = block_get(&m->top, "Content-Type");
	assert_true(strncmp(ct, "multipart/report; report-type=delivery-status;", 46) == 0);
	const char *bq = strstr(ct, "boundary=\"");
	assert_non_null(bq);
	bq += 10;
	const char *bq_end = strchr(bq, '"');
	assert_non_null(bq_end);
	assert_true(bq_end > bq && (size_t)(bq_end - bq) <= 70);
	assert_string_equal(bq_end + 1, "");
	memcpy(m->boundary, bq, (size_t)(bq_end - bq));
	m->boundary[bq_end - bq] = '\0';

	/* Delimiter lines: exactly "--B" or, last, "--B--"; no other line may even start with "--B". */
	size_t blen = strlen(m->boundary), nparts = 0;
	bool closed = false;
	const char *part_start = NULL;
	for (const char *p = body; p < end;) {
		const char *eol = find_line_end(p, end);
		size_t l = (size_t)(eol - p);
		if (l >= 2 + blen && p[0] == '-' && p[1] == '-' && memcmp(p + 2, m->boundary, blen) == 0) {
			bool last = l == 4 + blen && p[2 + blen] == '-' && p[3 + blen] == '-';
			assert_true(l == 2 + blen || last);
			assert_false(closed);
			if (part_start != NULL) {
				assert_true(p - 2 >= part_start && p[-2] == '\r');
				struct part *pt = &m->parts[nparts - 1];
				const char *pbody = parse_block(part_start, p - 2, &pt->h);
				pt->body = pbody;
				pt->body_len = (size_t)(p - 2 - pbody);
			}
			if (last) {
				closed = true;
			} else {
				assert_true(nparts < 3);
				nparts++;
			}
			part_start = eol + 2;
		}
		p = eol < end ? eol + 2 : end;
	}
	assert_true(closed);
	assert_int_equal(nparts, 3);
	assert_true(part_start == end); /* no epilogue */

	for (size_t i = 0; i < 3; i++)
		block_check_names(&m->parts[i].h, part_names, part_required);
	const char *t0 = block_get(&m->parts[0].h, "Content-Type");
	assert_true(strcmp(t0, "text/plain; charset=us-ascii") == 0 ||
	            strcmp(t0, "text/plain; charset=utf-8") == 0);
	assert_string_equal(block_get(&m->parts[1].h, "Content-Type"), "message/delivery-status");
	assert_null(block_get(&m->parts[1].h, "Content-Transfer-Encoding"));
	assert_string_equal(block_get(&m->parts[2].h, "Content-Type"), "text/rfc822-headers");

	/* The delivery-status: 7-bit, groups of known fields. */
	const struct part *ds = &m->parts[1];
	for (size_t i = 0; i < ds->body_len; i++)
		assert_true((unsigned char)ds->body[i] < 0x80);
	for (const char *p = ds->body; p < ds->body + ds->body_len;) {
		assert_true(m->ngroups < MXD_ARRAY_SIZE(m->groups));
		struct block *g = &m->groups[m->ngroups];
		p = parse_block(p, ds->body + ds->body_len, g);
		assert_true(g->n > 0);
		if (m->ngroups == 0)
			block_check_names(g, msg_names, msg_required);
		else
			block_check_names(g, rcpt_names, rcpt_required);
		m->ngroups++;
	}
	assert_int_equal(m->ngroups, nrcpt + 1);
}

/* Optional second opinion: Python's email package parses the output without defects. */
static void python_check(const char *raw, size_t len, size_t nrcpt)
{
	static const char script[] =
	    "import email, email.policy, sys\n"
	    "m = email.message_from_bytes(open(sys.argv[1], 'rb').read(), policy=email.policy.default)\n"
	    "n = int(sys.argv[2])\n"
	    "assert m.get_content_type() == 'multipart/report', m.get_content_type()\n"
	    "assert m.get_param('report-type') == 'delivery-status'\n"
	    "parts = m.get_payload()\n"
	    "assert [p.get_content_type() for p in parts] == "
	    "['text/plain', 'message/delivery-status', 'text/rfc822-headers'], parts\n"
	    "blocks = parts[1].get_payload()\n"
	    "assert len(blocks) == n + 1, len(blocks)\n"
	    "assert blocks[0]['Reporting-MTA'].startswith('dns; ')\n"
	    "for b in blocks[1:]:\n"
	    "    assert b['Action'] in ('failed', 'delayed') and b['Final-Recipient'], b\n"
	    "for p in [m] + parts + blocks:\n"
	    "    assert not p.defects, p.defects\n"
	    "assert str(m['To']) and parts[0].get_content()\n";
	char msg_path[] = "/tmp/test_dsn_msg.XXXXXX", py_path[] = "/tmp/test_dsn_py.XXXXXX";
	char cmd[256];
	int fd;

	if (access("/usr/bin/python3", X_OK) != 0)
		return;
	fd = mkstemp(msg_path);
	assert_true(fd >= 0);
	assert_int_equal(fd_write_all(fd, raw, len), 0);
	close(fd);
	fd = mkstemp(py_path);
	assert_true(fd >= 0);
	assert_int_equal(fd_write_all(fd, script, sizeof(script) - 1), 0);
	close(fd);
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s %s %zu", py_path, msg_path, nrcpt);
	int rc = system(cmd);
	unlink(msg_path);
	unlink(py_path);
	assert_int_equal(rc, 0);
}

/* Compose r and walk the result; the caller frees m. */
static void compose_walk(const struct dsn_report *r, struct parsed *m, bool *eightbit_r)
{
	struct evbuffer *out = evbuffer_new();
	const char *error = NULL;
	bool eightbit = false;

	assert_int_equal(dsn_compose(r, out, &eightbit, &error), 0);
	size_t len = evbuffer_get_length(out);
	char *raw = xmalloc(len + 1);
	assert_int_equal(evbuffer_remove(out, raw, len), (int)len);
	raw[len] = '\0';
	evbuffer_free(out);
	walk(raw, len, r->rcpt_count, m);
	python_check(raw, len, r->rcpt_count);
	if (eightbit_r != NULL)
		*eightbit_r = eightbit;
}

static bool has_line_starting(const struct parsed *m, const char *prefix)
{
	size_t n = strlen(prefix);
	for (const char *p = m->raw; p < m->raw + m->len;) {
		const char *eol = find_line_end(p, m->raw + m->len);
		if ((size_t)(eol - p) >= n && strncasecmp(p, prefix, n) == 0)
			return true;
		p = eol + 2;
	}
	return false;
}

static bool part_contains(const struct part *pt, const char *s)
{
	char *body = xstrndup(pt->body, pt->body_len);
	bool found = strstr(body, s) != NULL;
	free(body);
	return found;
}

static const struct dsn_rcpt base_rcpt = {
    .final_rcpt = "bob@gmail.test",
    .orig_rcpt = "bob@hosted.example",
    .action = DSN_ACTION_FAILED,
    .status = "5.1.1",
    .remote_mta = "gmail-smtp-in.gmail.test",
    .diagnostic = "550 5.1.1 <bob@gmail.test>: no such user",
    .last_attempt = T_NOW - 60,
};

static struct dsn_report base_report(const struct dsn_rcpt *rcpts, size_t n)
{
	return (struct dsn_report){
	    .kind = DSN_KIND_FAILURE,
	    .myhostname = "mx.example.net",
	    .queue_id = "ABC123",
	    .sender = "alice@example.org",
	    .arrival_time = T_NOW - 3600,
	    .message = T_MESSAGE,
	    .message_len = sizeof(T_MESSAGE) - 1,
	    .rcpts = rcpts,
	    .rcpt_count = n,
	    .now = T_NOW,
	    .nonce = T_NONCE,
	};
}

/* Tests */

static void test_bounce_structure(void **state)
{
	struct dsn_report r = base_report(&base_rcpt, 1);
	struct parsed m;
	bool eightbit = true;

	compose_walk(&r, &m, &eightbit);
	assert_false(eightbit);
	assert_string_equal(m.boundary, T_BOUNDARY);
	assert_string_equal(block_get(&m.top, "From"), "Mail Delivery System <MAILER-DAEMON@mx.example.net>");
	assert_string_equal(block_get(&m.top, "To"), "<alice@example.org>");
	assert_string_equal(block_get(&m.top, "Subject"), "Undelivered Mail Returned to Sender");
	assert_string_equal(block_get(&m.top, "Date"), T_NOW_DATE);
	assert_string_equal(block_get(&m.top, "Message-ID"), "<ABC123.1700000000.11223344@mx.example.net>");
	assert_string_equal(block_get(&m.top, "Auto-Submitted"), "auto-replied");
	assert_string_equal(block_get(&m.top, "MIME-Version"), "1.0");
	assert_string_equal(block_get(&m.top, "Content-Transfer-Encoding"), "7bit");
	assert_string_equal(block_get(&m.parts[0].h, "Content-Type"), "text/plain; charset=us-ascii");
	assert_null(block_get(&m.parts[2].h, "Content-Transfer-Encoding"));

	assert_true(part_contains(&m.parts[0], "This is the mail system at host mx.example.net."));
	assert_true(
	    part_contains(&m.parts[0], "your message could not\r\nbe delivered to one or more recipients."));
	assert_true(part_contains(
	    &m.parts[0], "<bob@gmail.test> (expanded from <bob@hosted.example>): host\r\n"
	                 "    gmail-smtp-in.gmail.test said: 550 5.1.1 <bob@gmail.test>: no such user\r\n"));

	const struct block *g = &m.groups[0];
	assert_string_equal(block_get(g, "Reporting-MTA"), "dns; mx.example.net");
	assert_string_equal(block_get(g, "X-Mxd-Queue-ID"), "ABC123");
	assert_string_equal(block_get(g, "X-Mxd-Sender"), "rfc822; alice@example.org");
	assert_string_equal(block_get(g, "Arrival-Date"), "Tue, 14 Nov 2023 21:13:20 +0000");
	g = &m.groups[1];
	assert_string_equal(block_get(g, "Final-Recipient"), "rfc822; bob@gmail.test");
	assert_string_equal(block_get(g, "Original-Recipient"), "rfc822; bob@hosted.example");
	assert_string_equal(block_get(g, "Action"), "failed");
	assert_string_equal(block_get(g, "Status"), "5.1.1");
	assert_string_equal(block_get(g, "Remote-MTA"), "dns; gmail-smtp-in.gmail.test");
	assert_string_equal(block_get(g, "Diagnostic-Code"),
	                    "smtp; 550 5.1.1 <bob@gmail.test>: no such user");
	assert_string_equal(block_get(g, "Last-Attempt-Date"), "Tue, 14 Nov 2023 22:12:20 +0000");
	assert_null(block_get(g, "Will-Retry-Until"));

	/* The original header section, not one octet of the body. */
	assert_int_equal(m.parts[2].body_len, sizeof(T_HEADERS) - 1);
	assert_memory_equal(m.parts[2].body, T_HEADERS, sizeof(T_HEADERS) - 1);
	assert_null(strstr(m.raw, "BODY-SECRET"));
	assert_null(strstr(m.raw, "and so is this one"));
	parsed_free(&m);
}

static void test_multiple_recipients(void **state)
{
	struct dsn_rcpt rc[3] = {base_rcpt, base_rcpt, base_rcpt};
	struct parsed m;

	rc[1].final_rcpt = "carol@outlook.test";
	rc[1].orig_rcpt = NULL;
	rc[1].status = "5.7.1";
	rc[1].remote_mta = "mx.outlook.test";
	rc[1].diagnostic = "550 5.7.1 Service unavailable; client host blocked";
	rc[2].final_rcpt = "dave@gmail.test";
	rc[2].orig_rcpt = "dave@hosted.example";
	rc[2].status = "5.4.6";
	rc[2].remote_mta = NULL;
	rc[2].diag_type = DSN_DIAG_LOCAL;
	rc[2].diagnostic = "mail for gmail.test loops back to myself";
	rc[2].last_attempt = 0;
	struct dsn_report r = base_report(rc, 3);
	compose_walk(&r, &m, NULL);

	assert_string_equal(block_get(&m.groups[1], "Final-Recipient"), "rfc822; bob@gmail.test");
	assert_string_equal(block_get(&m.groups[2], "Final-Recipient"), "rfc822; carol@outlook.test");
	assert_null(block_get(&m.groups[2], "Original-Recipient"));
	assert_string_equal(block_get(&m.groups[2], "Status"), "5.7.1");
	assert_string_equal(block_get(&m.groups[2], "Remote-MTA"), "dns; mx.outlook.test");
	assert_string_equal(block_get(&m.groups[3], "Final-Recipient"), "rfc822; dave@gmail.test");
	assert_string_equal(block_get(&m.groups[3], "Original-Recipient"), "rfc822; dave@hosted.example");
	assert_null(block_get(&m.groups[3], "Remote-MTA"));
	assert_null(block_get(&m.groups[3], "Last-Attempt-Date"));
	assert_string_equal(block_get(&m.groups[3], "Diagnostic-Code"),
	                    "X-mxd; mail for gmail.test loops back to myself");

	assert_true(part_contains(&m.parts[0], "\r\n<bob@gmail.test> (expanded from"));
	assert_true(
	    part_contains(&m.parts[0], "\r\n<carol@outlook.test>: host mx.outlook.test said: 550 5.7.1"));
	assert_true(part_contains(
	    &m.parts[0],
	    "\r\n<dave@gmail.test> (expanded from <dave@hosted.example>): mail for gmail.test\r\n"
	    "    loops back to myself\r\n"));
	parsed_free(&m);
}

static void test_delay(void **state)
{
	struct dsn_rcpt rc = base_rcpt;
	struct parsed m;

	rc.action = DSN_ACTION_DELAYED;
	rc.status = NULL; /* defaults to 4.0.0 */
	rc.diagnostic = "451 4.7.1 Try again later";
	rc.retry_until = T_NOW + 4 * 86400;
	struct dsn_report r = base_report(&rc, 1);
	r.kind = DSN_KIND_DELAY;
	r.arrival_time = T_NOW - 5 * 3600 - 10;
	compose_walk(&r, &m, NULL);

	assert_string_equal(block_get(&m.top, "Subject"), "Delayed Mail (still being retried)");
	assert_string_equal(block_get(&m.groups[1], "Action"), "delayed");
	assert_string_equal(block_get(&m.groups[1], "Status"), "4.0.0");
	assert_string_equal(block_get(&m.groups[1], "Will-Retry-Until"), "Sat, 18 Nov 2023 22:13:20 +0000");
	assert_true(
	    part_contains(&m.parts[0], "This is a warning only; you do not need to resend your message."));
	assert_true(part_contains(
	    &m.parts[0], "Your message could not be delivered for 5 hour(s) to one or more recipients.\r\n"
	                 "It will be retried until Sat, 18 Nov 2023 22:13:20 +0000.\r\n"));
	assert_false(part_contains(&m.parts[0], "I'm sorry"));
	parsed_free(&m);
}

static void test_utf8_address(void **state)
{
	struct dsn_rcpt rc = base_rcpt;
	struct parsed m;
	bool eightbit = false;

	rc.final_rcpt = "j\xc3\xb6rg@b\xc3\xbc"
	                "cher.example";
	rc.orig_rcpt = "j+rg=x@hosted.example";
	rc.diagnostic = "550 5.1.1 <j\xc3\xb6rg@b\xc3\xbc"
	                "cher.example>: unknown";
	struct dsn_report r = base_report(&rc, 1);
	compose_walk(&r, &m, &eightbit);

	assert_true(eightbit);
	assert_string_equal(block_get(&m.top, "Content-Transfer-Encoding"), "8bit");
	assert_string_equal(block_get(&m.parts[0].h, "Content-Type"), "text/plain; charset=utf-8");
	assert_string_equal(block_get(&m.parts[0].h, "Content-Transfer-Encoding"), "8bit");
	/* RFC 6533 utf-8 type, 7-bit xtext form; ASCII addresses keep rfc822 */
	assert_string_equal(block_get(&m.groups[1], "Final-Recipient"),
	                    "utf-8; j\\x{F6}rg@b\\x{FC}cher.example");
	assert_string_equal(block_get(&m.groups[1], "Original-Recipient"), "rfc822; j+rg=x@hosted.example");
	assert_string_equal(block_get(&m.groups[1], "Diagnostic-Code"),
	                    "smtp; 550 5.1.1 <j?rg@b?cher.example>: unknown");
	assert_true(part_contains(&m.parts[0], "<j\xc3\xb6rg@b\xc3\xbc"
	                                       "cher.example> (expanded from"));
	parsed_free(&m);

	/* a UTF-8 sender: To: keeps it (the caller sends with SMTPUTF8), X-Mxd-Sender uses utf-8 type */
	rc = base_rcpt;
	r = base_report(&rc, 1);
	r.sender = "\xe7\x94\xa8\xe6\x88\xb7@example.org";
	compose_walk(&r, &m, &eightbit);
	assert_true(eightbit);
	assert_string_equal(block_get(&m.top, "To"), "<\xe7\x94\xa8\xe6\x88\xb7@example.org>");
	assert_string_equal(block_get(&m.groups[0], "X-Mxd-Sender"), "utf-8; \\x{7528}\\x{6237}@example.org");
	parsed_free(&m);
}

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

static void test_boundary_random(void **state)
{
	struct dsn_report r = base_report(&base_rcpt, 1);
	struct parsed m1, m2;

	r.nonce = 0;
	r.now = 0;
	compose_walk(&r, &m1, NULL);
	compose_walk(&r, &m2, NULL);
	assert_true(strncmp(m1.boundary, "ABC123.", 7) == 0);
	assert_string_not_equal(m1.boundary, m2.boundary);
	assert_string_not_equal(block_get(&m1.top, "Message-ID"), block_get(&m2.top, "Message-ID"));
	parsed_free(&m1);
	parsed_free(&m2);
}

static void test_compose_errors(void **state)
{
	struct dsn_rcpt rc = base_rcpt;
	struct dsn_rcpt no_addr = base_rcpt;
	struct evbuffer *out = evbuffer_new();
	no_addr.final_rcpt = "";
	struct {
		const char *sender, *host, *qid;
		const struct dsn_rcpt *rcpts;
		size_t n;
	} rows[] = {
	    {"", "mx.example.net", "Q1", &rc, 1},
	    {"<>", "mx.example.net", "Q1", &rc, 1},
	    {"\r\n", "mx.example.net", "Q1", &rc, 1},
	    {NULL, "mx.example.net", "Q1", &rc, 1},
	    {"a@b.example", NULL, "Q1", &rc, 1},
	    {"a@b.example", "\r\n", "Q1", &rc, 1},
	    {"a@b.example", "mx.example.net", NULL, &rc, 1},
	    {"a@b.example", "mx.example.net", "Q1", NULL, 0},
	    {"a@b.example", "mx.example.net", "Q1", &rc, 0},
	    {"a@b.example", "mx.example.net", "Q1", &no_addr, 1},
	};

	for (size_t i = 0; i < MXD_ARRAY_SIZE(rows); i++) {
		struct dsn_report r = base_report(rows[i].rcpts, rows[i].n);
		const char *error = NULL;
		r.sender = rows[i].sender;
		r.myhostname = rows[i].host;
		r.queue_id = rows[i].qid;
		print_message("row %zu\n", i);
		assert_int_equal(dsn_compose(&r, out, NULL, &error), -1);
		assert_non_null(error);
		assert_int_equal(evbuffer_get_length(out), 0);
	}
	evbuffer_free(out);
}

static void test_should_send(void **state)
{
	static const struct {
		const char *sender;
		bool send;
	} rows[] = {
	    {"alice@example.org", true},
	    {"postmaster@example.org", true},
	    {"mailer-daemon-fan@example.org", true},
	    {"daemon@example.org", true},
	    {"j\xc3\xb6rg@example.org", true},
	    {"", false},
	    {"<>", false},
	    {NULL, false},
	    {"MAILER-DAEMON@mx.example.net", false},
	    {"mailer-daemon@example.org", false},
	    {"Mailer-Daemon@example.org", false},
	    {"MAILER_DAEMON@example.org", false},
	    {"mailerdaemon@example.org", false},
	    {"MAILER-DAEMON", false},
	};

	for (size_t i = 0; i < MXD_ARRAY_SIZE(rows); i++) {
		print_message("row %zu: %s\n", i, rows[i].sender ? rows[i].sender : "(null)");
		assert_int_equal(dsn_should_send(rows[i].sender), rows[i].send);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bounce_structure),
	    cmocka_unit_test(test_multiple_recipients),
	    cmocka_unit_test(test_delay),
	    cmocka_unit_test(test_utf8_address),
	    cmocka_unit_test(test_injection_table),
	    cmocka_unit_test(test_sanitized_values),
	    cmocka_unit_test(test_long_values),
	    cmocka_unit_test(test_header_section_table),
	    cmocka_unit_test(test_header_section_limits),
	    cmocka_unit_test(test_boundary_random),
	    cmocka_unit_test(test_compose_errors),
	    cmocka_unit_test(test_should_send),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
