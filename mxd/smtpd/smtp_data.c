/* smtp_data: see smtp_data.h. */
#include "mxd/smtpd/smtp_data.h"

#include <event2/buffer.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Parser states: where we are relative to line ends. CRs are held back until we know whether an LF
 * follows; a leading dot is held back until we know whether the line is the end marker. */
enum {
	DATA_LINE_START, /* after CRLF (or at the start): a '.' here is special */
	DATA_IN_LINE,    /* inside a line */
	DATA_CR,         /* a CR inside a line, not yet known to be part of CRLF */
	DATA_DOT,        /* '.' at the start of a line */
	DATA_DOT_CR,     /* ".\r" at the start of a line */
	DATA_DONE,       /* CRLF.CRLF seen */
};

#define RECEIVED     "Received:"
#define RECEIVED_LEN (sizeof(RECEIVED) - 1)

void smtp_data_init(struct smtp_data *d, uint64_t size_limit)
{
	memset(d, 0, sizeof(*d));
	d->size_limit = size_limit;
	d->in_headers = true;
	d->state = DATA_LINE_START;
}

static void data_error(struct smtp_data *d, enum smtp_data_error error)
{
	if (d->error == SMTP_DATA_OK)
		d->error = error;
}

/* Count n content octets and store them while there is no error and room under the limit. */
static void data_store(struct smtp_data *d, struct evbuffer *out, const char *p, size_t n)
{
	if (d->error == SMTP_DATA_OK) {
		uint64_t room = d->size_limit > d->size ? d->size_limit - d->size : 0;
		size_t take = n;
		if (n > room) {
			take = (size_t)room;
			d->error = SMTP_DATA_TOO_BIG;
		}
		if (take > 0 && evbuffer_add(out, p, take) != 0)
			abort(); /* allocation failure */
	}
	d->size = n > UINT64_MAX - d->size ? UINT64_MAX : d->size + n;
}

/* Octets of a line's text (never CRLF). The first few of each header line tell a Received: field. */
static void data_text(struct smtp_data *d, struct evbuffer *out, const char *p, size_t n)
{
	if (d->in_headers && d->prefix_len < RECEIVED_LEN) {
		size_t k = RECEIVED_LEN - d->prefix_len;
		if (k > n)
			k = n;
		memcpy(d->prefix + d->prefix_len, p, k);
		d->prefix_len += (unsigned)k;
		if (d->prefix_len == RECEIVED_LEN && strncasecmp(d->prefix, RECEIVED, RECEIVED_LEN) == 0 &&
		    d->received_count < UINT_MAX)
			d->received_count++;
	}
	d->line_len = n >= UINT_MAX - d->line_len ? UINT_MAX : d->line_len + (unsigned)n;
	data_store(d, out, p, n);
}

/* A CRLF: the end of a line; an empty one ends the header section. */
static void data_eol(struct smtp_data *d, struct evbuffer *out)
{
	if (d->line_len == 0)
		d->in_headers = false;
	d->line_len = 0;
	d->prefix_len = 0;
	data_store(d, out, "\r\n", 2);
}

/* A bare CR, bare LF or NUL: an error, then counted as line text (stored no more). */
static void data_bad(struct smtp_data *d, struct evbuffer *out, char c)
{
	data_error(d, c == '\0' ? SMTP_DATA_NUL : SMTP_DATA_BARE_NEWLINE);
	data_text(d, out, &c, 1);
}

/* How many octets from p are neither CR, LF nor NUL, eight at a time; *eightbit is set when one of
 * them is 0x80 or above. */
static size_t data_plain_span(const unsigned char *p, size_t n, bool *eightbit)
{
	const uint64_t ones = UINT64_C(0x0101010101010101), highs = UINT64_C(0x8080808080808080);
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t v;
		memcpy(&v, p + i, sizeof(v));
		uint64_t cr = v ^ (ones * '\r'), lf = v ^ (ones * '\n');
		/* (x - ones) & ~x & highs: whether x has a zero octet */
		if ((((v - ones) & ~v) | ((cr - ones) & ~cr) | ((lf - ones) & ~lf)) & highs)
			break; /* a CR, LF or NUL in these eight: find it below */
		if (v & highs)
			*eightbit = true;
	}
	for (; i < n && p[i] != '\r' && p[i] != '\n' && p[i] != '\0'; i++)
		if (p[i] >= 0x80)
			*eightbit = true;
	return i;
}

/* The body (past the headers, no error yet) inside a line: the longest run from i that the state
 * machine would store unchanged (lines ending in CRLF, no NUL, no bare CR or LF, no line starting with
 * '.'), stored at once. Returns where it stopped (i when nothing could be taken); the state stays
 * DATA_IN_LINE. */
static size_t data_body_run(struct smtp_data *d, const char *buf, size_t i, size_t len, struct evbuffer *out)
{
	size_t j = i, line_start = i;
	bool eol = false;
	while (j < len) {
		j += data_plain_span((const unsigned char *)buf + j, len - j, &d->eightbit);
		if (j >= len || buf[j] != '\r' || j + 2 >= len || buf[j + 1] != '\n' || buf[j + 2] == '.')
			break;
		j += 2; /* CRLF, and the next line does not start with '.' */
		line_start = j;
		eol = true;
	}
	if (j > i) {
		size_t n = j - line_start + (eol ? 0 : d->line_len);
		d->line_len = n >= UINT_MAX ? UINT_MAX : (unsigned)n;
		if (eol)
			d->prefix_len = 0;
		data_store(d, out, buf + i, j - i);
	}
	return j;
}

enum smtp_data_status smtp_data_feed(struct smtp_data *d, const char *buf, size_t len, struct evbuffer *out,
                                     size_t *consumed_r)
{
	size_t i = 0;
	if (d->state == DATA_DONE) {
		*consumed_r = 0;
		return SMTP_DATA_DONE;
	}
	while (i < len) {
		char c = buf[i];
		switch (d->state) {
		case DATA_LINE_START:
			if (c == '.') {
				d->state = DATA_DOT;
				i++;
			} else {
				d->state = DATA_IN_LINE;
			}
			break;
		case DATA_IN_LINE: {
			if (!d->in_headers && d->error == SMTP_DATA_OK) {
				size_t run = data_body_run(d, buf, i, len, out);
				if (run > i) {
					i = run;
					break;
				}
			}
			size_t j = i;
			while (j < len && buf[j] != '\r' && buf[j] != '\n' && buf[j] != '\0') {
				if ((unsigned char)buf[j] >= 0x80)
					d->eightbit = true;
				j++;
			}
			if (j > i) {
				data_text(d, out, buf + i, j - i);
				i = j;
			} else if (c == '\r') {
				d->state = DATA_CR;
				i++;
			} else {
				data_bad(d, out, c);
				i++;
			}
			break;
		}
		case DATA_CR:
			if (c == '\n') {
				data_eol(d, out);
				d->state = DATA_LINE_START;
				i++;
			} else {
				/* the held CR was bare; c is seen again inside the line */
				data_bad(d, out, '\r');
				d->state = DATA_IN_LINE;
			}
			break;
		case DATA_DOT:
			if (c == '\r') {
				d->state = DATA_DOT_CR;
				i++;
			} else {
				/* RFC 5321 4.5.2: a leading dot is deleted; "..x" gives ".x". c is seen
				 * again. */
				d->state = DATA_IN_LINE;
				if (c == '.') {
					data_text(d, out, ".", 1);
					i++;
				}
			}
			break;
		case DATA_DOT_CR:
			if (c == '\n') {
				d->state = DATA_DONE;
				*consumed_r = i + 1;
				return SMTP_DATA_DONE;
			}
			/* ".\r" then not LF: never the end (smuggling); the dot is deleted, the CR bare */
			data_bad(d, out, '\r');
			d->state = DATA_IN_LINE;
			break;
		default:
			abort();
		}
	}
	*consumed_r = len;
	return SMTP_DATA_MORE;
}

/* Does the line at p (n octets, no CRLF) start the field name (case-insensitive, then ':')? The colon's
 * offset plus one, or 0. */
static size_t header_field(const char *p, size_t n, const char *name)
{
	size_t len = strlen(name);
	return n > len && strncasecmp(p, name, len) == 0 && p[len] == ':' ? len + 1 : 0;
}

/* Append n octets of a field value to buf (at *o), printable ASCII only, runs of white space as one
 * space. */
static void header_value_append(char *buf, size_t size, size_t *o, const char *p, size_t n)
{
	for (size_t i = 0; i < n && *o + 1 < size; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (ch == ' ' || ch == '\t') {
			if (*o > 0 && buf[*o - 1] != ' ')
				buf[(*o)++] = ' ';
			continue;
		}
		buf[(*o)++] = ch > 0x20 && ch < 0x7f ? (char)ch : '?';
	}
}

void smtp_data_message_id(struct evbuffer *msg, char *buf, size_t size)
{
	char head[SMTP_DATA_HEADER_SCAN];
	size_t n = evbuffer_copyout(msg, head, sizeof(head)), o = 0;
	bool in_field = false;
	buf[0] = '\0';
	for (size_t at = 0; at < n;) {
		const char *eol = memchr(head + at, '\n', n - at);
		size_t end = eol != NULL ? (size_t)(eol - head) : n, len = end - at;
		if (len > 0 && head[at + len - 1] == '\r')
			len--;
		if (len == 0)
			break; /* the end of the header section */
		bool folded = head[at] == ' ' || head[at] == '\t';
		if (in_field && !folded)
			break; /* the field ended */
		size_t value = in_field ? 0 : header_field(head + at, len, "Message-ID");
		if (in_field || value > 0) {
			in_field = true;
			header_value_append(buf, size, &o, head + at + value, len - value);
		}
		at = end + 1;
	}
	while (o > 0 && buf[o - 1] == ' ')
		o--;
	size_t lead = o > 0 && buf[0] == ' ' ? 1 : 0;
	memmove(buf, buf + lead, o - lead);
	buf[o - lead] = '\0';
}
