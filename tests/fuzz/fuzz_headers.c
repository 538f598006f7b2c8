/*
 * Fuzz target for the header parsing of message content: mxd/smtpd/smtp_data's count of Received: fields
 * (the hop limit, hopcount_limit, rests on it) and its notion of where the header section ends. The
 * input is a message as the client sends it after DATA (dot-stuffed; the target appends CRLF.CRLF),
 * fed whole and in pieces of 1-16 octets. When the message is clean (no bare CR/LF, no NUL, under the
 * limit) the target counts again by itself on the stored content: the lines before the first empty
 * one whose first nine octets are "Received:" in any case. It aborts when smtp_data's count or its
 * in_headers disagree with that, when the pieces and the whole disagree, or when the count exceeds the
 * number of lines. (mxd/delivery/dsn's copy of the header section is fuzz_dsn's; the Message-ID for the log
 * is read by a static function of smtp_session_cmd.c that no target reaches yet: see README.md.)
 */
#include "mxd/smtpd/smtp_data.h"

#include <event2/buffer.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LIMIT (1024 * 1024)

static void feed(struct smtp_data *d, struct evbuffer *out, const char *in, size_t len, uint64_t seed)
{
	uint64_t s = seed | 1;
	size_t off = 0;
	smtp_data_init(d, LIMIT);
	while (off < len) {
		size_t n = len - off, consumed = 0;
		if (seed != 0) {
			s ^= s << 13, s ^= s >> 7, s ^= s << 17;
			n = n < 1 + s % 16 ? n : (size_t)(1 + s % 16);
		}
		enum smtp_data_status st = smtp_data_feed(d, in + off, n, out, &consumed);
		if (consumed > n)
			abort();
		off += consumed;
		if (st == SMTP_DATA_DONE)
			break;
	}
}

/* The independent count on clean content: Received: fields of the header section, lines, and whether
 * the header section is still open at the end. */
static void count(const char *out, size_t len, unsigned *received_r, unsigned *lines_r, bool *in_headers_r)
{
	bool in_headers = true;
	unsigned received = 0, lines = 0;
	for (size_t pos = 0; pos < len;) {
		const char *eol = memmem(out + pos, len - pos, "\r\n", 2);
		size_t llen = eol != NULL ? (size_t)(eol - (out + pos)) : len - pos;
		lines++;
		if (in_headers && llen >= 9 && strncasecmp(out + pos, "Received:", 9) == 0)
			received++;
		if (eol != NULL && llen == 0)
			in_headers = false;
		pos += llen + (eol != NULL ? 2 : 0);
	}
	*received_r = received;
	*lines_r = lines;
	*in_headers_r = in_headers;
}

/* Does a line of out start with "Message-ID:" (any case)? */
static bool has_field_line(const char *out, size_t len)
{
	for (size_t pos = 0; pos < len;) {
		if (len - pos >= 11 && strncasecmp(out + pos, "Message-ID:", 11) == 0)
			return true;
		const char *eol = memchr(out + pos, '\n', len - pos);
		if (eol == NULL)
			break;
		pos = (size_t)(eol - out) + 1;
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 5);
	if (in == NULL)
		abort();
	memcpy(in, data, size);
	memcpy(in + size, "\r\n.\r\n", 5);
	uint64_t seed = 0xcbf29ce484222325u;
	for (size_t i = 0; i < size; i++)
		seed = (seed ^ data[i]) * 0x100000001b3u;

	struct smtp_data whole, pieces;
	struct evbuffer *out_whole = evbuffer_new(), *out_pieces = evbuffer_new();
	if (out_whole == NULL || out_pieces == NULL)
		abort();
	feed(&whole, out_whole, in, size + 5, 0);
	feed(&pieces, out_pieces, in, size + 5, seed);
	if (whole.received_count != pieces.received_count || whole.in_headers != pieces.in_headers ||
	    whole.error != pieces.error || whole.size != pieces.size)
		abort();

	size_t len = evbuffer_get_length(out_whole);
	const char *out = len > 0 ? (const char *)evbuffer_pullup(out_whole, -1) : "";
	if (whole.error == SMTP_DATA_OK) {
		unsigned received, lines;
		bool in_headers;
		count(out, len, &received, &lines, &in_headers);
		if (received != whole.received_count || in_headers != whole.in_headers || received > lines)
			abort();
	}
	/* the Message-ID for the log line: bounded, printable ASCII, trimmed, and only when there is a
	 * field of that name at the start of a line */
	char msgid[64];
	smtp_data_message_id(out_whole, msgid, sizeof(msgid));
	size_t idlen = strlen(msgid);
	if (idlen >= sizeof(msgid) || (idlen > 0 && (msgid[0] == ' ' || msgid[idlen - 1] == ' ')))
		abort();
	for (size_t i = 0; i < idlen; i++)
		if (msgid[i] < 0x20 || msgid[i] > 0x7e)
			abort();
	if (idlen > 0 && !has_field_line(out, len))
		abort();
	evbuffer_free(out_whole);
	evbuffer_free(out_pieces);
	free(in);
	return 0;
}
