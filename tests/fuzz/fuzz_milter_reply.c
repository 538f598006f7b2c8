/*
 * Fuzz target for mxd/smtpd/milter_proto (the reading of what a milter sends) and milter_message (the
 * edits it asks for). The input is the byte stream from a milter: packets are cut with
 * milter_proto_frame() and decoded with milter_proto_parse(), fed whole and in pieces of 0-8 octets (both
 * must see the same packets and the same end), and every edit is applied to a small message, which is
 * then written out. It aborts when a decoded reply breaks the parser's promises (a reply code outside
 * 4xx/5xx, an enhanced code of another class, text or an address with a control character, a header name
 * that is not a field name, a header value with a line break that does not fold), or when the written
 * message's header section holds a line that is neither a field nor a continuation.
 */
#include "mxd/smtpd/milter_message.h"
#include "mxd/smtpd/milter_proto.h"

#include <event2/buffer.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3u;
	return h;
}

static void check_printable(const char *s, bool allow_space)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f || (!allow_space && c == ' '))
			abort();
	}
}

static void check_reply(const struct milter_reply *r)
{
	switch (r->type) {
	case MILTER_REPLY_REPLYCODE:
		if (r->code < 400 || r->code > 599)
			abort();
		if (r->enh[0] != '\0' && (r->enh[0] != '0' + r->code / 100 || r->enh[1] != '.'))
			abort();
		/* fall through */
	case MILTER_REPLY_QUARANTINE:
		if (strlen(r->text) >= sizeof(r->text))
			abort();
		for (const char *p = r->text; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
				abort();
		break;
	case MILTER_REPLY_ADDRCPT:
	case MILTER_REPLY_ADDRCPT_PAR:
	case MILTER_REPLY_DELRCPT:
	case MILTER_REPLY_CHGFROM:
		check_printable(r->addr, false);
		if (strchr(r->addr, '<') != NULL || strchr(r->addr, '>') != NULL)
			abort();
		break;
	case MILTER_REPLY_ADDHEADER:
	case MILTER_REPLY_INSHEADER:
	case MILTER_REPLY_CHGHEADER:
		if (r->hname[0] == '\0' || strlen(r->hname) > MILTER_PROTO_HNAME_MAX || strchr(r->hname, ':'))
			abort();
		check_printable(r->hname, false);
		for (const char *p = r->hvalue; *p != '\0'; p++) {
			if (*p == '\n' && p[1] != ' ' && p[1] != '\t')
				abort();
			if (*p == '\r' && p[1] != '\n')
				abort();
		}
		break;
	default:
		break;
	}
}

static void apply(struct milter_message *m, const struct milter_reply *r)
{
	switch (r->type) {
	case MILTER_REPLY_ADDHEADER:
		milter_message_add_header(m, r->hname, r->hvalue, false);
		break;
	case MILTER_REPLY_INSHEADER:
		milter_message_insert_header(m, r->hindex, r->hname, r->hvalue, r->hindex & 1);
		break;
	case MILTER_REPLY_CHGHEADER:
		milter_message_change_header(m, r->hindex, r->hname, r->hvalue, false);
		break;
	case MILTER_REPLY_ADDRCPT:
	case MILTER_REPLY_ADDRCPT_PAR:
		milter_message_add_rcpt(m, r->addr);
		break;
	case MILTER_REPLY_DELRCPT:
		(void)milter_message_del_rcpt(m, r->addr);
		break;
	case MILTER_REPLY_CHGFROM:
		milter_message_set_sender(m, r->addr);
		break;
	case MILTER_REPLY_REPLBODY:
		milter_message_replace_body(m, r->body, r->body_len, r->body_len & 1);
		break;
	default:
		break;
	}
}

/* Every line of the written header section is a field ("name:") or a continuation. */
static void check_written(struct evbuffer *out)
{
	size_t len = evbuffer_get_length(out);
	const char *p = (const char *)evbuffer_pullup(out, -1);
	size_t off = 0;
	while (off < len) {
		const char *eol = memchr(p + off, '\n', len - off);
		if (eol == NULL || eol == p + off || eol[-1] != '\r')
			abort(); /* the header section ends with CRLF lines */
		size_t line_len = (size_t)(eol - (p + off)) - 1;
		if (line_len == 0)
			return; /* the empty line: the body follows */
		if (p[off] != ' ' && p[off] != '\t') {
			const char *colon = memchr(p + off, ':', line_len);
			if (colon == NULL || colon == p + off)
				abort();
		}
		for (size_t i = 0; i < line_len; i++)
			if (p[off + i] == '\r' || p[off + i] == '\0')
				abort();
		off = (size_t)(eol - p) + 1;
	}
	abort(); /* no empty line */
}

struct run {
	uint64_t digest;
	size_t packets;
	bool failed;
};

static void run(struct run *res, const uint8_t *in, size_t len, uint64_t seed, bool pieces)
{
	memset(res, 0, sizeof(*res));
	res->digest = 0xcbf29ce484222325u;
	struct evbuffer *content = evbuffer_new(), *buf = evbuffer_new(), *out = evbuffer_new();
	if (content == NULL || buf == NULL || out == NULL)
		abort();
	evbuffer_add_printf(content,
	                    "Received: from x\r\n\tby y\r\nSubject: s\r\nX-A: 1\r\nX-A: 2\r\n\r\nbody\r\n");
	struct milter_message m;
	memset(&m, 0, sizeof(m));
	const char *rcpts[] = {"a@example.com", "b@example.com"};
	milter_message_init(&m, content, "s@example.org", rcpts, 2);
	uint64_t s = seed | 1;
	for (size_t off = 0; off < len && !res->failed;) {
		size_t n = len - off;
		if (pieces) {
			s ^= s << 13, s ^= s >> 7, s ^= s << 17;
			if (n > s % 9)
				n = (size_t)(s % 9);
		}
		evbuffer_add(buf, in + off, n);
		off += n;
		for (;;) {
			size_t avail = evbuffer_get_length(buf);
			const uint8_t *p = evbuffer_pullup(buf, -1);
			uint8_t cmd;
			const uint8_t *pd;
			size_t pd_len, packet_len;
			const char *error = NULL;
			int rc = milter_proto_frame(p, avail, &cmd, &pd, &pd_len, &packet_len, &error);
			if (rc == 1)
				break;
			struct milter_reply r;
			if (rc < 0 || milter_proto_parse(cmd, pd, pd_len, &r, &error) < 0) {
				if (error == NULL || error[0] == '\0')
					abort();
				res->failed = true;
				break;
			}
			if (packet_len > avail || packet_len < 5)
				abort();
			check_reply(&r);
			apply(&m, &r);
			res->packets++;
			res->digest = fnv(res->digest, p, packet_len);
			evbuffer_drain(buf, packet_len);
		}
	}
	milter_message_write(&m, out);
	check_written(out);
	res->digest = fnv(res->digest, evbuffer_pullup(out, -1), evbuffer_get_length(out));
	milter_message_clear(&m);
	evbuffer_free(content);
	evbuffer_free(buf);
	evbuffer_free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run whole, pieces;
	uint64_t seed = fnv(0xcbf29ce484222325u, data, size);
	run(&whole, data, size, seed, false);
	run(&pieces, data, size, seed, true);
	if (whole.failed != pieces.failed || whole.packets != pieces.packets || whole.digest != pieces.digest)
		abort();
	return 0;
}
