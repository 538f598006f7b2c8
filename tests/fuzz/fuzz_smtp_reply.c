/*
 * Fuzz target for mxd/delivery/smtp_reply, the outbound client's reading of a remote server's replies. The
 * first input octet picks how replies are read: bit 0 set, as replies to EHLO (extension keywords).
 * The rest is the byte stream from the server, cut into lines as the client does (evbuffer_readln()
 * with EVBUFFER_EOL_CRLF, and smtp_reply_partial_too_long() for a line without its end), fed whole and
 * in pieces of 0-8 octets; both must see the same replies, the same EHLO extensions and the same end
 * (malformed at the same line, or a partial reply). It aborts when a complete reply has a code outside
 * 200..599, an enhanced code of another class or not of the form c.s.d, text holding anything but
 * printable ASCII or longer than the limit, a line count unlike the lines fed, a formatted reply that
 * does not fit SMTP_REPLY_STR_MAX, when EHLO extensions contradict each other, or when reply_class.h calls
 * a reply other than a 4xx a throttling one.
 */
#include "mxd/delivery/reply_class.h"
#include "mxd/delivery/smtp_reply.h"

#include <event2/buffer.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
	struct smtp_reply r;
	struct smtp_reply_ehlo ehlo;
	struct evbuffer *in;
	bool as_ehlo;
	bool failed;        /* malformed: the client would drop the connection */
	unsigned lines;     /* lines fed to the reply being read */
	unsigned replies;   /* complete replies */
	size_t lines_total; /* lines fed in all */
	uint64_t digest;    /* of every complete reply */
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3u;
	return h;
}

static bool is_digits(const char *s, size_t n)
{
	if (n < 1 || n > 3)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* "c.s.d" with c the class of code, s and d of 1-3 digits. */
static void check_enh(const char *enh, int code)
{
	size_t len = strnlen(enh, 16);
	if (len < 5 || len > 9 || enh[0] != (char)('0' + code / 100) || enh[1] != '.')
		abort();
	const char *dot = memchr(enh + 2, '.', len - 2);
	if (dot == NULL || !is_digits(enh + 2, (size_t)(dot - enh - 2)) ||
	    !is_digits(dot + 1, len - (size_t)(dot + 1 - enh)))
		abort();
}

static void check_text(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			abort();
}

static void check_reply(struct run *run)
{
	const struct smtp_reply *r = &run->r;
	if (r->r.code < 200 || r->r.code > 599 || r->more)
		abort();
	check_enh(r->r.enh, r->r.code);
	size_t tlen = strnlen(r->r.text, sizeof(r->r.text));
	if (tlen != r->text_len || tlen >= sizeof(r->r.text))
		abort();
	check_text(r->r.text, tlen);
	if (r->lines != run->lines || r->lines < 1 || r->lines > SMTP_REPLY_LINES_MAX)
		abort();

	char buf[SMTP_REPLY_STR_MAX + 1];
	memset(buf, 'Z', sizeof(buf));
	smtp_reply_str(r, buf, SMTP_REPLY_STR_MAX);
	size_t want = 4 + (r->enh_given ? strlen(r->r.enh) + 1 : 0) + tlen;
	if (buf[SMTP_REPLY_STR_MAX] != 'Z' || strlen(buf) != want || want >= SMTP_REPLY_STR_MAX)
		abort();
	check_text(buf, want);

	if ((run->ehlo.size_limit != 0 && !(run->ehlo.exts & SMTP_REPLY_EXT_SIZE)) ||
	    (run->ehlo.auth_mechs != 0 && !(run->ehlo.exts & SMTP_REPLY_EXT_AUTH)))
		abort();
	if (!run->as_ehlo && (run->ehlo.exts != 0 || run->ehlo.auth_mechs != 0))
		abort();
	/* reply_class.h reads every reply the queue manager gets: only a 4xx may be a throttling one */
	bool throttle = reply_class_throttle(r->r.code, r->r.enh, r->r.text);
	if (throttle && r->r.code / 100 != 4)
		abort();

	run->replies++;
	run->digest = fnv(run->digest, &throttle, sizeof(throttle));
	run->digest = fnv(run->digest, &r->r.code, sizeof(r->r.code));
	run->digest = fnv(run->digest, r->r.enh, strlen(r->r.enh) + 1);
	run->digest = fnv(run->digest, &r->enh_given, sizeof(r->enh_given));
	run->digest = fnv(run->digest, r->r.text, tlen + 1);
	run->digest = fnv(run->digest, &run->ehlo, sizeof(run->ehlo));
}

/* Read the lines the buffer holds, as the client's read callback does. */
static void drain(struct run *run)
{
	while (!run->failed) {
		size_t len;
		char *line = evbuffer_readln(run->in, &len, EVBUFFER_EOL_CRLF);
		if (line == NULL) {
			if (smtp_reply_partial_too_long(evbuffer_get_length(run->in)))
				run->failed = true;
			return;
		}
		const char *error = NULL;
		run->lines++;
		run->lines_total++;
		int rc = smtp_reply_line(&run->r, line, len, run->as_ehlo ? &run->ehlo : NULL, &error);
		free(line);
		if (rc < 0) {
			if (error == NULL || error[0] == '\0')
				abort();
			run->failed = true;
			return;
		}
		if (rc == 1) {
			check_reply(run);
			run->lines = 0;
			if (run->as_ehlo)
				memset(&run->ehlo, 0,
				       sizeof(run->ehlo)); /* a new EHLO before the next reply */
		} else if (!run->r.more || run->r.r.code < 200 || run->r.r.code > 599 ||
		           run->r.lines != run->lines) {
			abort();
		}
	}
}

/* mode 0: the whole stream at once; 1: pieces of 0-8 octets from a seed */
static void run(struct run *run, bool as_ehlo, const uint8_t *in, size_t len, uint64_t seed, int mode)
{
	memset(run, 0, sizeof(*run));
	run->as_ehlo = as_ehlo;
	run->digest = 0xcbf29ce484222325u;
	run->in = evbuffer_new();
	if (run->in == NULL)
		abort();
	uint64_t s = seed | 1;
	for (size_t off = 0; off < len && !run->failed;) {
		size_t n = len - off;
		if (mode == 1) {
			s ^= s << 13, s ^= s >> 7, s ^= s << 17;
			if (n > s % 9)
				n = (size_t)(s % 9);
		}
		if (evbuffer_add(run->in, in + off, n) != 0)
			abort();
		off += n;
		drain(run);
	}
	evbuffer_free(run->in);
	run->in = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run whole, pieces;
	if (size == 0)
		return 0;
	bool as_ehlo = (data[0] & 1) != 0;
	uint64_t seed = fnv(0xcbf29ce484222325u, data, size);
	run(&whole, as_ehlo, data + 1, size - 1, seed, 0);
	run(&pieces, as_ehlo, data + 1, size - 1, seed, 1);
	if (whole.failed != pieces.failed || whole.replies != pieces.replies || whole.digest != pieces.digest)
		abort();
	/* (a line too long is seen as a partial line in pieces, but read whole, then refused, at once) */
	if (!whole.failed && (whole.lines_total != pieces.lines_total || whole.lines != pieces.lines ||
	                      whole.r.more != pieces.r.more))
		abort();
	return 0;
}
