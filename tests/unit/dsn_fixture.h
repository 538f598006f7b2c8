/*
 * dsn_fixture.h: what the DSN unit tests share (test_dsn.c: the report's structure; test_dsn_hostile.c:
 * hostile input and limits): the fixed clock and nonce, a small MIME walker that parses a report into
 * its blocks and checks every line, Python's email parser as a second opinion, and a base report.
 */
#ifndef MXD_TEST_DSN_FIXTURE_H
#define MXD_TEST_DSN_FIXTURE_H
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

static inline void block_free(struct block *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->f[i].name);
		free(b->f[i].value);
	}
	b->n = 0;
}

static inline size_t block_count(const struct block *b, const char *name)
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
static inline void block_check_names(const struct block *b, const char *const *names,
                                     const char *const *required)
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
static inline void check_lines(const char *raw, size_t len)
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

static inline void parsed_free(struct parsed *m)
{
	block_free(&m->top);
	for (size_t i = 0; i < 3; i++)
		block_free(&m->parts[i].h);
	for (size_t i = 0; i < m->ngroups; i++)
		block_free(&m->groups[i]);
	free(m->raw);
}

/* Walk raw (taken) as a multipart/report with nrcpt recipient groups; fails the test on any deviation. */
static inline void walk(char *raw, size_t len, size_t nrcpt, struct parsed *m)
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
static inline void python_check(const char *raw, size_t len, size_t nrcpt)
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
static inline void compose_walk(const struct dsn_report *r, struct parsed *m, bool *eightbit_r)
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

static inline bool has_line_starting(const struct parsed *m, const char *prefix)
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

static inline bool part_contains(const struct part *pt, const char *s)
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

static inline struct dsn_report base_report(const struct dsn_rcpt *rcpts, size_t n)
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

#endif
