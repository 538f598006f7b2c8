/* dsn: see dsn.h. */
#include "mxd/delivery/dsn.h"

#include "mxd/common/addr.h"
#include "mxd/common/util.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define DSN_LINE_HARD    990    /* no output line is longer (RFC 5322 2.1.1: 998) */
#define DSN_FOLD_WIDTH   78     /* header fields fold at a space past this column */
#define DSN_TEXT_WIDTH   76     /* the text part wraps at a space past this column */
#define DSN_ADDR_MAX     512    /* octets kept of an address (RFC 5321 allows 256) */
#define DSN_HOST_MAX     255    /* octets kept of a host name */
#define DSN_QID_MAX      64     /* octets kept of the queue id in X-Mxd-Queue-ID */
#define DSN_TOKEN_MAX    20     /* octets of the queue id in the boundary and Message-ID */
#define DSN_DIAG_MAX     2048   /* octets kept of a diagnostic */
#define DSN_HEADERS_MAX  102400 /* original header octets returned (Postfix's header_size_limit) */
#define DSN_DATE_SIZE    96
#define DSN_TIME_MAX     253402300799LL /* 9999-12-31 23:59:59 UTC */
#define DSN_BOUNDARY_MAX 71             /* RFC 2046: 70 characters, NUL included here */

enum clean_mode {
	CLEAN_UTF8,  /* keep valid UTF-8 (the text part, the To: field) */
	CLEAN_ASCII, /* non-ASCII becomes '?' (delivery-status fields) */
};

/* Values prepared once for the three parts. */
struct dsn_ctx {
	char *host;   /* myhostname, LDH only */
	char *qid;    /* queue id, cleaned */
	char *token;  /* queue id, letters and digits only */
	char *sender; /* original sender in external form */
	int64_t now;
	uint64_t nonce;
};

/* UTF-8 */

/* Decode the UTF-8 sequence at s (n > 0 octets left): its length, or 0 when it is not valid UTF-8
 * (overlong forms, surrogates, beyond U+10FFFF, a cut sequence). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp_r)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t cp, min;

	if (c < 0x80) {
		*cp_r = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2, cp = c & 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3, cp = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_r = cp;
	return len;
}

/* The longest prefix of s (len octets) of at most max octets that does not cut a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
	size_t cut = max;

	if (len <= max)
		return len;
	while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
		cut--;
	return cut > 0 ? cut : max;
}

static bool str_is_ascii(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s >= 0x80)
			return false;
	}
	return true;
}

/* Cleaning of untrusted values */

/* A copy of s fit for one header line: control characters (C0, DEL, C1) become a space, invalid UTF-8
 * (and in CLEAN_ASCII mode any non-ASCII) becomes '?', runs of spaces collapse to one, no space leads
 * or trails, at most max octets are kept (never half a UTF-8 sequence). NULL gives "". */
static char *clean(const char *s, size_t max, enum clean_mode mode)
{
	size_t n = s != NULL ? strlen(s) : 0, o = 0;
	char *out = xmalloc(n + 1); /* every replacement is no longer than what it replaces */

	for (size_t i = 0; i < n;) {
		const unsigned char *p = (const unsigned char *)s + i;
		uint32_t cp = 0;
		size_t len = utf8_decode(p, n - i, &cp);
		const char *piece = (const char *)p;
		size_t piece_len = len;

		if (len == 0) {
			piece = "?", piece_len = len = 1;
		} else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
			piece = " ", piece_len = 1;
		} else if (cp >= 0x80 && mode == CLEAN_ASCII) {
			piece = "?", piece_len = 1;
		}
		i += len;
		if (piece[0] == ' ' && (o == 0 || out[o - 1] == ' '))
			continue;
		if (o + piece_len > max)
			break;
		memcpy(out + o, piece, piece_len);
		o += piece_len;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
	return out;
}

/* A host name for an addr-spec (From:, Message-ID): letters, digits, '-', '.', '_'; others become '-'. */
static char *clean_host(const char *s)
{
	char *h = clean(s, DSN_HOST_MAX, CLEAN_ASCII);

	for (char *p = h; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') &&
		    c != '-' && c != '.' && c != '_')
			*p = '-';
	}
	return h;
}

/* Letters and digits of s, at most max of them (for the boundary and the Message-ID). */
static char *clean_token(const char *s, size_t max)
{
	char *t = xmalloc(max + 1);
	size_t o = 0;

	for (; *s != '\0' && o < max; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
			t[o++] = (char)c;
	}
	t[o] = '\0';
	return t;
}

/* Addresses */

static bool local_is_dot_atom(const char *s, size_t len)
{
	if (len == 0 || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (s[i + 1] == '.')
				return false;
		} else if (c < 0x80 && !addr_is_atext(c)) {
			return false;
		}
	}
	return true;
}

static bool local_is_quoted(const char *s, size_t len)
{
	if (len < 2 || s[0] != '"' || s[len - 1] != '"')
		return false;
	for (size_t i = 1; i < len - 1; i++) {
		if (s[i] == '\\') {
			if (i + 1 >= len - 1)
				return false;
			i++;
		} else if (s[i] == '"') {
			return false;
		}
	}
	return true;
}

/* An address in external (RFC 5321/5322) form, cleaned: a local part that is not a dot-atom (or an
 * already well-formed quoted string) is quoted; in the domain, characters that cannot be there become
 * '_'. The result cannot leave an angle-addr or a DSN field. */
static char *addr_external(const char *raw)
{
	char *a = clean(raw, DSN_ADDR_MAX, CLEAN_UTF8);
	const char *at = strrchr(a, '@');
	size_t len = strlen(a), local_len = at != NULL ? (size_t)(at - a) : len, o = 0;
	char *out = xmalloc(2 * len + 3);

	if (local_is_dot_atom(a, local_len) || local_is_quoted(a, local_len)) {
		memcpy(out, a, local_len);
		o = local_len;
	} else {
		out[o++] = '"';
		for (size_t i = 0; i < local_len; i++) {
			if (a[i] == '"' || a[i] == '\\')
				out[o++] = '\\';
			out[o++] = a[i];
		}
		out[o++] = '"';
	}
	if (at != NULL) {
		out[o++] = '@';
		for (const char *p = at + 1; *p != '\0'; p++) {
			unsigned char c = (unsigned char)*p;
			bool ok = c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			          (c >= '0' && c <= '9') || strchr("-._[]:", c) != NULL;
			out[o++] = ok ? (char)c : '_';
		}
	}
	out[o] = '\0';
	free(a);
	return out;
}

/* The 7-bit xtext form of a UTF-8 address (RFC 6533 utf-8-addr-xtext): printable ASCII but '+', '=',
 * '\' and space stays, every other character becomes \x{HEX} (its code point, upper case). */
static char *addr_xtext(const char *a)
{
	size_t n = strlen(a), o = 0;
	char *out = xmalloc(6 * n + 1); /* "\x{HH}" per octet is the worst case */

	for (size_t i = 0; i < n;) {
		uint32_t cp = '?';
		size_t len = utf8_decode((const unsigned char *)a + i, n - i, &cp);
		if (len == 0)
			cp = '?', len = 1;
		i += len;
		if (cp > 0x20 && cp < 0x7f && cp != '+' && cp != '=' && cp != '\\')
			out[o++] = (char)cp;
		else
			o += (size_t)sprintf(out + o, "\\x{%X}", (unsigned)cp);
	}
	out[o] = '\0';
	return out;
}

/* Formatting */

static void fmt_date(int64_t t, char buf[DSN_DATE_SIZE])
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t tt = (time_t)(t < 0 ? 0 : t > DSN_TIME_MAX ? DSN_TIME_MAX : t);
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL) {
		tt = 0;
		gmtime_r(&tt, &tm);
	}
	snprintf(buf, DSN_DATE_SIZE, "%s, %d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7], tm.tm_mday,
	         months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Is s an enhanced status code class.subject.detail (RFC 3463) of class 2, 4 or 5? */
static bool status_valid(const char *s)
{
	const char *p;

	if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return false;
	p = s + 2;
	for (int part = 0; part < 2; part++) {
		size_t n = 0;
		while (p[n] >= '0' && p[n] <= '9')
			n++;
		if (n == 0 || n > 3)
			return false;
		p += n;
		if (part == 0 && *p++ != '.')
			return false;
	}
	return *p == '\0';
}

static const char *rcpt_status(const struct dsn_rcpt *rc)
{
	if (status_valid(rc->status))
		return rc->status;
	return rc->action == DSN_ACTION_DELAYED ? "4.0.0" : "5.0.0";
}

/* Append text (clean: single spaces, none leading or trailing) and CRLF, starting at column col.
 * Lines break at a space once they would pass width, continuing with indent; a word too long for a
 * line is cut at DSN_LINE_HARD octets (never inside a UTF-8 sequence), so no line ever passes that. */
static void put_folded(struct evbuffer *out, size_t col, const char *text, const char *indent, size_t width)
{
	size_t indent_len = strlen(indent);
	bool fresh = true; /* no word on this line yet */
	const char *p = text;

	while (*p != '\0') {
		size_t wlen = strcspn(p, " ");
		if (!fresh && col + 1 + wlen > width) {
			evbuffer_add(out, "\r\n", 2);
			evbuffer_add(out, indent, indent_len);
			col = indent_len;
			fresh = true;
		}
		if (!fresh) {
			evbuffer_add(out, " ", 1);
			col++;
		}
		while (col + wlen > DSN_LINE_HARD) {
			size_t cut = utf8_cut(p, wlen, DSN_LINE_HARD - col);
			evbuffer_add(out, p, cut);
			evbuffer_add(out, "\r\n", 2);
			evbuffer_add(out, indent, indent_len);
			p += cut, wlen -= cut;
			col = indent_len;
		}
		evbuffer_add(out, p, wlen);
		col += wlen, p += wlen;
		fresh = false;
		while (*p == ' ')
			p++;
	}
	evbuffer_add(out, "\r\n", 2);
}

/* A header or delivery-status field "Name: [type; ]value", folded. */
static void put_field(struct evbuffer *out, const char *name, const char *type, const char *value)
{
	size_t col = strlen(name) + 2;

	evbuffer_add_printf(out, "%s: ", name);
	if (type != NULL) {
		evbuffer_add_printf(out, "%s; ", type);
		col += strlen(type) + 2;
	}
	put_folded(out, col, value, " ", DSN_FOLD_WIDTH);
}

/* An address field of the delivery-status: "rfc822; addr", or RFC 6533 "utf-8; xtext" when not ASCII. */
static void put_addr_field(struct evbuffer *out, const char *name, const char *raw)
{
	char *a = addr_external(raw);

	if (str_is_ascii(a)) {
		put_field(out, name, "rfc822", a);
	} else {
		char *x = addr_xtext(a);
		put_field(out, name, "utf-8", x);
		free(x);
	}
	free(a);
}

static void put_date_field(struct evbuffer *out, const char *name, int64_t t)
{
	char date[DSN_DATE_SIZE];

	fmt_date(t, date);
	evbuffer_add_printf(out, "%s: %s\r\n", name, date);
}

/* The parts */

/* Part 1: what happened, in words. */
static void put_text_part(struct evbuffer *b, const struct dsn_report *r, const struct dsn_ctx *c)
{
	char date[DSN_DATE_SIZE];

	evbuffer_add_printf(b, "This is the mail system at host %s.\r\n\r\n", c->host);
	if (r->kind == DSN_KIND_DELAY) {
		int64_t hours =
		    r->arrival_time > 0 && c->now > r->arrival_time ? (c->now - r->arrival_time) / 3600 : 0;
		int64_t until = 0;
		for (size_t i = 0; i < r->rcpt_count; i++) {
			if (r->rcpts[i].retry_until > until)
				until = r->rcpts[i].retry_until;
		}
		fmt_date(until, date);
		char *hours_text = hours > 0 ? xasprintf(" for %lld hour(s)", (long long)hours) : xstrdup("");
		char *until_text = until > 0 ? xasprintf(" It will be retried until %s.", date) : xstrdup("");
		char *para = xasprintf("Your message could not be delivered%s to one or more recipients.%s",
		                       hours_text, until_text);
		evbuffer_add_printf(
		    b, "This is a warning only; you do not need to resend your message.\r\n\r\n");
		put_folded(b, 0, para, "", DSN_TEXT_WIDTH);
		evbuffer_add(b, "\r\n", 2);
		free(hours_text);
		free(until_text);
		free(para);
	} else {
		evbuffer_add_printf(b, "I'm sorry to have to inform you that your message could not\r\n"
		                       "be delivered to one or more recipients. The headers of your\r\n"
		                       "message are attached below.\r\n\r\n");
	}
	evbuffer_add_printf(b, "For further assistance, please send mail to postmaster.\r\n\r\n"
	                       "If you do so, please include this problem report.\r\n\r\n"
	                       "                   The mail system\r\n");

	for (size_t i = 0; i < r->rcpt_count; i++) {
		const struct dsn_rcpt *rc = &r->rcpts[i];
		char *final = addr_external(rc->final_rcpt);
		char *orig =
		    rc->orig_rcpt != NULL && rc->orig_rcpt[0] != '\0' ? addr_external(rc->orig_rcpt) : NULL;
		char *remote = clean(rc->remote_mta, DSN_HOST_MAX, CLEAN_UTF8);
		char *diag = clean(rc->diagnostic, DSN_DIAG_MAX, CLEAN_UTF8);
		char *expanded = orig != NULL ? xasprintf(" (expanded from <%s>)", orig) : xstrdup("");
		char *host = remote[0] != '\0' ? xasprintf("host %s said: ", remote) : xstrdup("");
		char *why = diag[0] != '\0'
		                ? xstrdup(diag)
		                : xasprintf("delivery %s with status %s",
		                            rc->action == DSN_ACTION_DELAYED ? "was deferred" : "failed",
		                            rcpt_status(rc));
		/* Starts with '<' and continues indented: no line of it can be a boundary. */
		char *line = xasprintf("<%s>%s: %s%s", final, expanded, host, why);

		evbuffer_add(b, "\r\n", 2);
		put_folded(b, 0, line, "    ", DSN_TEXT_WIDTH);
		free(final);
		free(orig);
		free(remote);
		free(diag);
		free(expanded);
		free(host);
		free(why);
		free(line);
	}
}

/* Part 2: message/delivery-status (RFC 3464 2.2, 2.3), 7-bit. */
static void put_status_part(struct evbuffer *b, const struct dsn_report *r, const struct dsn_ctx *c)
{
	put_field(b, "Reporting-MTA", "dns", c->host);
	put_field(b, "X-Mxd-Queue-ID", NULL, c->qid);
	put_addr_field(b, "X-Mxd-Sender", r->sender);
	if (r->arrival_time > 0)
		put_date_field(b, "Arrival-Date", r->arrival_time);

	for (size_t i = 0; i < r->rcpt_count; i++) {
		const struct dsn_rcpt *rc = &r->rcpts[i];
		bool delayed = rc->action == DSN_ACTION_DELAYED;

		evbuffer_add(b, "\r\n", 2);
		put_addr_field(b, "Final-Recipient", rc->final_rcpt);
		if (rc->orig_rcpt != NULL && rc->orig_rcpt[0] != '\0')
			put_addr_field(b, "Original-Recipient", rc->orig_rcpt);
		put_field(b, "Action", NULL, delayed ? "delayed" : "failed");
		put_field(b, "Status", NULL, rcpt_status(rc));
		char *remote = clean(rc->remote_mta, DSN_HOST_MAX, CLEAN_ASCII);
		if (remote[0] != '\0')
			put_field(b, "Remote-MTA", "dns", remote);
		free(remote);
		char *diag = clean(rc->diagnostic, DSN_DIAG_MAX, CLEAN_ASCII);
		if (diag[0] != '\0')
			put_field(b, "Diagnostic-Code", rc->diag_type == DSN_DIAG_LOCAL ? "X-mxd" : "smtp",
			          diag);
		free(diag);
		if (rc->last_attempt > 0)
			put_date_field(b, "Last-Attempt-Date", rc->last_attempt);
		if (delayed && rc->retry_until > 0)
			put_date_field(b, "Will-Retry-Until", rc->retry_until);
	}
}

/* Does the line msg[0..len) (no line end) start a header field: a name of printable ASCII but ':',
 * optional white space (RFC 822 allowed it), then ':'? */
static bool line_is_field(const char *line, size_t len)
{
	size_t i = 0;

	while (i < len && (unsigned char)line[i] > ' ' && (unsigned char)line[i] < 0x7f && line[i] != ':')
		i++;
	if (i == 0)
		return false;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	return i < len && line[i] == ':';
}

/* The length of msg[0..len) after its line starting at pos, and the line's length without LF or CRLF. */
static size_t line_at(const char *msg, size_t len, size_t pos, size_t *text_len_r)
{
	const char *nl = memchr(msg + pos, '\n', len - pos);
	size_t end = nl != NULL ? (size_t)(nl - msg) + 1 : len, l = end - pos;

	if (l > 0 && msg[pos + l - 1] == '\n')
		l--;
	if (l > 0 && msg[pos + l - 1] == '\r')
		l--;
	*text_len_r = l;
	return end;
}

/* How much of msg is its header section to return: whole lines up to the first empty line or the
 * first line that is neither a field nor a continuation (as Postfix's is_header()), and only whole
 * fields within DSN_HEADERS_MAX. */
static size_t header_section_len(const char *msg, size_t len)
{
	size_t pos = 0, field_start = 0;

	while (pos < len) {
		size_t l, end = line_at(msg, len, pos, &l);
		bool cont = l > 0 && (msg[pos] == ' ' || msg[pos] == '\t');

		if (l == 0 || (cont ? pos == 0 : !line_is_field(msg + pos, l)))
			break;
		if (!cont)
			field_start = pos;
		if (end > DSN_HEADERS_MAX)
			return field_start;
		pos = end;
	}
	return pos;
}

/* Part 3: the original header section, line by line with CRLF; NUL and stray CR become a space and a
 * line longer than DSN_LINE_HARD continues on a folded line. */
static void put_headers_part(struct evbuffer *b, const char *msg, size_t len)
{
	char seg[DSN_LINE_HARD];
	size_t pos = 0;

	len = header_section_len(msg, len);
	while (pos < len) {
		size_t l, end = line_at(msg, len, pos, &l);
		const char *p = msg + pos;
		size_t room = DSN_LINE_HARD;

		while (l > 0) {
			size_t n = utf8_cut(p, l, room);
			for (size_t i = 0; i < n; i++)
				seg[i] = p[i] == '\0' || p[i] == '\r' ? ' ' : p[i];
			evbuffer_add(b, seg, n);
			p += n, l -= n;
			if (l > 0) {
				evbuffer_add(b, "\r\n ", 3);
				room = DSN_LINE_HARD - 1;
			}
		}
		evbuffer_add(b, "\r\n", 2);
		pos = end;
	}
}

static bool buf_has_8bit(struct evbuffer *b)
{
	int n = evbuffer_peek(b, -1, NULL, NULL, 0);
	struct evbuffer_iovec *v = xcalloc(n > 0 ? (size_t)n : 1, sizeof(*v));
	bool found = false;

	n = evbuffer_peek(b, -1, NULL, v, n);
	for (int i = 0; i < n && !found; i++) {
		const unsigned char *p = v[i].iov_base;
		for (size_t j = 0; j < v[i].iov_len && !found; j++)
			found = p[j] >= 0x80;
	}
	free(v);
	return found;
}

static bool buf_contains(struct evbuffer *b, const char *s)
{
	struct evbuffer_ptr at = evbuffer_search(b, s, strlen(s), NULL);
	return at.pos != -1;
}

static uint64_t random_nonce(void)
{
	uint64_t n = 0;

	if (getrandom(&n, sizeof(n), GRND_NONBLOCK) != (ssize_t)sizeof(n) || n == 0)
		n = ((uint64_t)time_now_usec() * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)getpid() << 40) ^ 1;
	return n;
}

static void put_part_header(struct evbuffer *out, const char *boundary, const char *description,
                            const char *type, bool eightbit)
{
	evbuffer_add_printf(out, "\r\n--%s\r\nContent-Description: %s\r\nContent-Type: %s\r\n", boundary,
	                    description, type);
	if (eightbit)
		evbuffer_add_printf(out, "Content-Transfer-Encoding: 8bit\r\n");
	evbuffer_add(out, "\r\n", 2);
}

static void ctx_free(struct dsn_ctx *c)
{
	free(c->host);
	free(c->qid);
	free(c->token);
	free(c->sender);
}

int dsn_compose(const struct dsn_report *r, struct evbuffer *out, bool *eightbit_r, const char **error_r)
{
	struct dsn_ctx c = {0};
	struct evbuffer *part[3], *msg;
	char boundary[DSN_BOUNDARY_MAX], date[DSN_DATE_SIZE];
	bool text8, headers8;

	if (r->myhostname == NULL || r->queue_id == NULL || r->sender == NULL) {
		*error_r = "myhostname, queue id and sender are required";
		return -1;
	}
	if (r->rcpts == NULL || r->rcpt_count == 0) {
		*error_r = "no recipients to report on";
		return -1;
	}
	for (size_t i = 0; i < r->rcpt_count; i++) {
		if (r->rcpts[i].final_rcpt == NULL || r->rcpts[i].final_rcpt[0] == '\0') {
			*error_r = "a recipient without an address";
			return -1;
		}
	}
	char *sender = clean(r->sender, DSN_ADDR_MAX, CLEAN_UTF8);
	bool null_sender = sender[0] == '\0' || strcmp(sender, "<>") == 0;
	free(sender);
	if (null_sender) {
		*error_r = "no notification to the null sender";
		return -1;
	}
	c.host = clean_host(r->myhostname);
	if (c.host[0] == '\0') {
		*error_r = "myhostname is empty";
		ctx_free(&c);
		return -1;
	}
	c.sender = addr_external(r->sender);
	c.qid = clean(r->queue_id, DSN_QID_MAX, CLEAN_ASCII);
	c.token = clean_token(r->queue_id, DSN_TOKEN_MAX);
	if (c.token[0] == '\0') {
		free(c.token);
		c.token = xstrdup("dsn");
	}
	c.now = r->now > 0 ? r->now : time_now();
	if (c.now > DSN_TIME_MAX)
		c.now = DSN_TIME_MAX;
	c.nonce = r->nonce != 0 ? r->nonce : random_nonce();

	for (size_t i = 0; i < MXD_ARRAY_SIZE(part); i++)
		part[i] = xevbuffer_new();
	put_text_part(part[0], r, &c);
	put_status_part(part[1], r, &c);
	if (r->message != NULL)
		put_headers_part(part[2], r->message, r->message_len);
	text8 = buf_has_8bit(part[0]);
	headers8 = buf_has_8bit(part[2]);

	/* A boundary that occurs in none of the parts, so no content can end or start a part. */
	for (unsigned attempt = 0;; attempt++) {
		int n = snprintf(boundary, sizeof(boundary), "%s.%lld/%016llx", c.token, (long long)c.now,
		                 (unsigned long long)c.nonce);
		if (attempt > 0 && n > 0 && (size_t)n < sizeof(boundary))
			snprintf(boundary + n, sizeof(boundary) - (size_t)n, ".%u", attempt);
		if (!buf_contains(part[0], boundary) && !buf_contains(part[1], boundary) &&
		    !buf_contains(part[2], boundary))
			break;
	}

	msg = xevbuffer_new();
	evbuffer_add_printf(msg, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", c.host);
	char *to = xasprintf("<%s>", c.sender);
	put_field(msg, "To", NULL, to);
	free(to);
	evbuffer_add_printf(msg, "Subject: %s\r\n",
	                    r->kind == DSN_KIND_DELAY ? "Delayed Mail (still being retried)"
	                                              : "Undelivered Mail Returned to Sender");
	fmt_date(c.now, date);
	evbuffer_add_printf(msg, "Date: %s\r\n", date);
	evbuffer_add_printf(msg, "Message-ID: <%s.%lld.%08llx@%s>\r\n", c.token, (long long)c.now,
	                    (unsigned long long)(c.nonce >> 32), c.host);
	evbuffer_add_printf(msg,
	                    "Auto-Submitted: auto-replied\r\n"
	                    "MIME-Version: 1.0\r\n"
	                    "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	                    "\tboundary=\"%s\"\r\n"
	                    "Content-Transfer-Encoding: %s\r\n"
	                    "\r\n"
	                    "This is a MIME-encapsulated message.\r\n",
	                    boundary, text8 || headers8 ? "8bit" : "7bit");

	put_part_header(msg, boundary, "Notification",
	                text8 ? "text/plain; charset=utf-8" : "text/plain; charset=us-ascii", text8);
	evbuffer_add_buffer(msg, part[0]);
	put_part_header(msg, boundary, "Delivery report", "message/delivery-status", false);
	evbuffer_add_buffer(msg, part[1]);
	put_part_header(msg, boundary, "Undelivered Message Headers", "text/rfc822-headers", headers8);
	evbuffer_add_buffer(msg, part[2]);
	evbuffer_add_printf(msg, "\r\n--%s--\r\n", boundary);

	if (eightbit_r != NULL)
		*eightbit_r = text8 || headers8 || !str_is_ascii(c.sender);
	evbuffer_add_buffer(out, msg);
	evbuffer_free(msg);
	for (size_t i = 0; i < MXD_ARRAY_SIZE(part); i++)
		evbuffer_free(part[i]);
	ctx_free(&c);
	return 0;
}

bool dsn_should_send(const char *sender)
{
	static const char *const daemons[] = {"mailer-daemon", "mailer_daemon", "mailerdaemon"};
	size_t local_len;
	const char *at;

	if (sender == NULL || sender[0] == '\0' || strcmp(sender, "<>") == 0)
		return false;
	at = strrchr(sender, '@');
	local_len = at != NULL ? (size_t)(at - sender) : strlen(sender);
	for (size_t i = 0; i < MXD_ARRAY_SIZE(daemons); i++) {
		if (local_len == strlen(daemons[i]) && strncasecmp(sender, daemons[i], local_len) == 0)
			return false;
	}
	return true;
}
