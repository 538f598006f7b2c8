/* smtp_reply: see smtp_reply.h. */
#include "mxd/delivery/smtp_reply.h"

#include "mxd/common/util.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

size_t smtp_reply_enh_len(const char *t, size_t len, int code)
{
	size_t i = 2, n;
	if (len < 5 || code < 100 || code > 999 || t[0] != (char)('0' + code / 100) || t[1] != '.')
		return 0;
	for (n = 0; i < len && n < 3 && t[i] >= '0' && t[i] <= '9'; i++, n++)
		;
	if (n == 0 || i >= len || t[i] != '.')
		return 0;
	for (i++, n = 0; i < len && n < 3 && t[i] >= '0' && t[i] <= '9'; i++, n++)
		;
	if (n == 0 || (i < len && t[i] != ' '))
		return 0;
	return i;
}

/* Append text to the reply, printable ASCII only, bounded. */
static void reply_append(struct smtp_reply *r, const char *text, size_t len)
{
	char *dst = r->r.text;
	size_t size = sizeof(r->r.text);
	if (r->text_len > 0 && len > 0 && r->text_len + 1 < size)
		dst[r->text_len++] = ' ';
	for (size_t i = 0; i < len && r->text_len + 1 < size; i++) {
		unsigned char ch = (unsigned char)text[i];
		dst[r->text_len++] = ch == '\t' ? ' ' : (ch < 0x20 || ch >= 0x7f) ? '?' : (char)ch;
	}
	dst[r->text_len] = '\0';
}

static int reply_error(const char **error_r, const char *error)
{
	*error_r = error;
	return -1;
}

int smtp_reply_line(struct smtp_reply *r, const char *line, size_t len, struct smtp_reply_ehlo *ehlo,
                    const char **error_r)
{
	if (len > SMTP_REPLY_LINE_MAX)
		return reply_error(error_r, "reply line too long");
	for (size_t i = 0; i < 3; i++)
		if (i >= len || line[i] < '0' || line[i] > '9')
			return reply_error(error_r, "reply code is not three digits");
	if (line[0] < '2' || line[0] > '5')
		return reply_error(error_r, "reply code out of range");
	if (len > 3 && line[3] != ' ' && line[3] != '-')
		return reply_error(error_r, "no space or hyphen after the reply code");
	int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	bool more = len > 3 && line[3] == '-';
	const char *text = len > 3 ? line + 4 : "";
	size_t tlen = len > 3 ? len - 4 : 0;

	if (!r->more) {
		memset(r, 0, sizeof(*r));
		r->r.code = code;
		r->lines = 1;
		size_t elen = smtp_reply_enh_len(text, tlen, code);
		if (elen > 0 && elen < sizeof(r->r.enh)) {
			memcpy(r->r.enh, text, elen);
			r->enh_given = true;
			text += elen;
			tlen -= elen;
			while (tlen > 0 && *text == ' ')
				text++, tlen--;
		}
	} else {
		if (code != r->r.code)
			return reply_error(error_r, "reply code differs between lines");
		if (r->lines >= SMTP_REPLY_LINES_MAX)
			return reply_error(error_r, "too many lines in one reply");
		r->lines++;
		size_t elen = strlen(r->r.enh);
		if (r->enh_given && tlen > elen && memcmp(text, r->r.enh, elen) == 0 && text[elen] == ' ') {
			text += elen + 1;
			tlen -= elen + 1;
		}
		if (ehlo != NULL && code == 250)
			smtp_reply_ehlo_keyword(ehlo, text, tlen);
	}
	reply_append(r, text, tlen);
	r->more = more;
	if (more)
		return 0;
	if (!r->enh_given)
		snprintf(r->r.enh, sizeof(r->r.enh), "%d.0.0", code / 100);
	return 1;
}

bool smtp_reply_partial_too_long(size_t len)
{
	return len > SMTP_REPLY_LINE_MAX + 1;
}

/* Each mechanism of the space-separated list arg[0..len). */
static void ehlo_auth_mechs(struct smtp_reply_ehlo *ehlo, const char *arg, size_t len)
{
	while (len > 0) {
		size_t m = 0;
		while (m < len && arg[m] != ' ')
			m++;
		if (m == 5 && strncasecmp(arg, "PLAIN", 5) == 0)
			ehlo->auth_mechs |= SMTP_REPLY_AUTH_PLAIN;
		else if (m == 5 && strncasecmp(arg, "LOGIN", 5) == 0)
			ehlo->auth_mechs |= SMTP_REPLY_AUTH_LOGIN;
		else if (m == 8 && strncasecmp(arg, "CRAM-MD5", 8) == 0)
			ehlo->auth_mechs |= SMTP_REPLY_AUTH_CRAM_MD5;
		arg += m;
		len -= m;
		while (len > 0 && *arg == ' ')
			arg++, len--;
	}
}

void smtp_reply_ehlo_keyword(struct smtp_reply_ehlo *ehlo, const char *text, size_t len)
{
	char kw[32];
	size_t n = 0;
	while (n < len && text[n] != ' ' && text[n] != '=' && text[n] != '\0' && n < sizeof(kw) - 1) {
		kw[n] = text[n];
		n++;
	}
	kw[n] = '\0';
	if (n < len && text[n] != ' ' && text[n] != '=')
		return; /* longer than any keyword we know, or holding a NUL */
	const char *arg = text + n;
	size_t alen = len - n;
	if (alen > 0) {
		arg++;
		alen--;
	}
	if (strcasecmp(kw, "PIPELINING") == 0) {
		ehlo->exts |= SMTP_REPLY_EXT_PIPELINING;
	} else if (strcasecmp(kw, "SIZE") == 0) {
		char num[24];
		size_t k = alen < sizeof(num) - 1 ? alen : sizeof(num) - 1;
		memcpy(num, arg, k);
		num[k] = '\0';
		uint64_t limit = 0;
		ehlo->exts |= SMTP_REPLY_EXT_SIZE;
		ehlo->size_limit = str_to_u64(num, &limit) == 0 ? limit : 0;
	} else if (strcasecmp(kw, "STARTTLS") == 0) {
		ehlo->exts |= SMTP_REPLY_EXT_STARTTLS;
	} else if (strcasecmp(kw, "8BITMIME") == 0) {
		ehlo->exts |= SMTP_REPLY_EXT_8BITMIME;
	} else if (strcasecmp(kw, "SMTPUTF8") == 0) {
		ehlo->exts |= SMTP_REPLY_EXT_SMTPUTF8;
	} else if (strcasecmp(kw, "ENHANCEDSTATUSCODES") == 0) {
		ehlo->exts |= SMTP_REPLY_EXT_ENHANCEDSTATUSCODES;
	} else if (strcasecmp(kw, "AUTH") == 0) {
		/* "AUTH PLAIN LOGIN" and the old "AUTH=PLAIN LOGIN" */
		ehlo->exts |= SMTP_REPLY_EXT_AUTH;
		ehlo_auth_mechs(ehlo, arg, alen);
	}
}

void smtp_reply_str(const struct smtp_reply *r, char *buf, size_t size)
{
	snprintf(buf, size, "%d %s%s%s", r->r.code, r->enh_given ? r->r.enh : "", r->enh_given ? " " : "",
	         r->r.text);
}
