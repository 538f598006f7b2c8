/*
 * Fuzz target for mxd/smtpd/smtp_data. The first input octet sets the size limit (0xff: 1 MiB, else that
 * many octets, so that small limits are exercised); the rest is the DATA stream. It is fed whole, in
 * two pieces split at a point derived from the input, and in many small pieces of pseudo-random sizes;
 * all three must give the same status, consumed count, output and counters. It aborts when the output
 * outgrows the limit, when a clean message's output holds a bare CR, bare LF or NUL, or when the
 * message ends anywhere but after CRLF.CRLF (or a first-line ".CRLF").
 */
#include "mxd/smtpd/smtp_data.h"

#include <event2/buffer.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
	struct smtp_data d;
	enum smtp_data_status status;
	size_t consumed;
	struct evbuffer *out;
};

static uint64_t hash(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3u;
	return h;
}

/* Feed in pieces: mode 0 all at once, 1 two pieces cut at seed, 2 pieces of 0-8 octets from seed. */
static void run(struct run *r, uint64_t limit, const char *in, size_t len, uint64_t seed, int mode)
{
	size_t off = 0;
	uint64_t s = seed | 1;
	r->out = evbuffer_new();
	if (r->out == NULL)
		abort();
	smtp_data_init(&r->d, limit);
	r->status = SMTP_DATA_MORE;
	r->consumed = 0;
	for (size_t k = 0; r->status == SMTP_DATA_MORE && (off < len || k == 0); k++) {
		size_t n = len - off, consumed = 0;
		if (mode == 1 && k == 0) {
			n = (size_t)(seed % (len + 1));
		} else if (mode == 2) {
			s ^= s << 13, s ^= s >> 7, s ^= s << 17;
			if (n > s % 9)
				n = (size_t)(s % 9);
		}
		r->status = smtp_data_feed(&r->d, in + off, n, r->out, &consumed);
		if (consumed > n || (r->status == SMTP_DATA_MORE && consumed != n))
			abort();
		if (evbuffer_get_length(r->out) > limit)
			abort();
		r->consumed += consumed;
		off += consumed;
	}
}

static void same(struct run *a, struct run *b)
{
	size_t len = evbuffer_get_length(a->out);
	if (a->status != b->status || a->consumed != b->consumed || a->d.error != b->d.error ||
	    a->d.size != b->d.size || a->d.received_count != b->d.received_count ||
	    a->d.eightbit != b->d.eightbit || a->d.in_headers != b->d.in_headers ||
	    len != evbuffer_get_length(b->out))
		abort();
	if (len > 0 && memcmp(evbuffer_pullup(a->out, -1), evbuffer_pullup(b->out, -1), len) != 0)
		abort();
}

static void check(struct run *r, const char *in)
{
	size_t len = evbuffer_get_length(r->out);
	const char *out = len > 0 ? (const char *)evbuffer_pullup(r->out, -1) : "";
	if (r->status == SMTP_DATA_DONE) {
		size_t c = r->consumed;
		if (c < 3 || memcmp(in + c - 3, ".\r\n", 3) != 0 ||
		    (c > 3 && (c < 5 || memcmp(in + c - 5, "\r\n", 2) != 0)))
			abort();
	}
	if (r->d.error != SMTP_DATA_OK)
		return;
	if (r->d.size != len)
		abort();
	for (size_t i = 0; i < len; i++) {
		if (out[i] == '\0' || (out[i] == '\r' && (i + 1 == len || out[i + 1] != '\n')) ||
		    (out[i] == '\n' && (i == 0 || out[i - 1] != '\r')))
			abort();
	}
	if (r->status == SMTP_DATA_DONE && len > 0 && (len < 2 || memcmp(out + len - 2, "\r\n", 2) != 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run whole, two, many;
	if (size == 0)
		return 0;
	uint64_t limit = data[0] == 0xff ? 1024 * 1024 : data[0];
	const char *in = (const char *)data + 1;
	size_t len = size - 1;
	uint64_t seed = hash(data, size);

	run(&whole, limit, in, len, seed, 0);
	run(&two, limit, in, len, seed, 1);
	run(&many, limit, in, len, seed, 2);
	check(&whole, in);
	same(&whole, &two);
	same(&whole, &many);
	evbuffer_free(whole.out);
	evbuffer_free(two.out);
	evbuffer_free(many.out);
	return 0;
}
