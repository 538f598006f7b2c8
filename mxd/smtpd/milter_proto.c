/* milter_proto: see milter_proto.h. */
#include "mxd/smtpd/milter_proto.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <string.h>

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int milter_proto_frame(const uint8_t *buf, size_t len, uint8_t *cmd_r, const uint8_t **data_r,
                       size_t *data_len_r, size_t *packet_len_r, const char **error_r)
{
	if (len < 4)
		return 1;
	uint32_t n = get32(buf);
	if (n == 0) {
		*error_r = "empty packet";
		return -1;
	}
	if (n > MILTER_PROTO_PACKET_MAX) {
		*error_r = "packet too long";
		return -1;
	}
	if (len - 4 < n)
		return 1;
	*cmd_r = buf[4];
	*data_r = buf + 5;
	*data_len_r = n - 1;
	*packet_len_r = 4 + (size_t)n;
	return 0;
}

/* The NUL-terminated string at *pos in data; moves *pos past its NUL. NULL when there is none. */
static const char *take_string(const uint8_t *data, size_t len, size_t *pos)
{
	if (*pos >= len)
		return NULL;
	const uint8_t *nul = memchr(data + *pos, '\0', len - *pos);
	if (nul == NULL)
		return NULL;
	const char *s = (const char *)data + *pos;
	*pos = (size_t)(nul - data) + 1;
	return s;
}

/* An envelope address as a milter gives it, "<a@b>" or "a@b", into out without the brackets. */
static int parse_addr(const char *s, char *out, size_t out_size, const char **error_r)
{
	size_t len = strlen(s);
	while (len > 0 && (s[0] == ' ' || s[0] == '\t'))
		s++, len--;
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len >= 2 && s[0] == '<' && s[len - 1] == '>')
		s++, len -= 2;
	if (len >= out_size) {
		*error_r = "address too long";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x21 || c == 0x7f || c == '<' || c == '>') {
			*error_r = "address holds a space, a control character or a bracket";
			return -1;
		}
	}
	memcpy(out, s, len);
	out[len] = '\0';
	return 0;
}

static int check_hname(const char *s, const char **error_r)
{
	size_t len = strlen(s);
	if (len == 0 || len > MILTER_PROTO_HNAME_MAX) {
		*error_r = "header name empty or too long";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x21 || c > 0x7e || c == ':') {
			*error_r = "header name holds a character a field name cannot";
			return -1;
		}
	}
	return 0;
}

/* A header value: printable text, tabs, and folding (LF or CRLF followed by a space or tab) only. */
static int check_hvalue(const char *s, const char **error_r)
{
	size_t len = strlen(s);
	if (len > MILTER_PROTO_HVALUE_MAX) {
		*error_r = "header value too long";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\r') {
			if (s[i + 1] != '\n') {
				*error_r = "header value holds a bare CR";
				return -1;
			}
			continue;
		}
		if (c == '\n') {
			if (s[i + 1] != ' ' && s[i + 1] != '\t') {
				*error_r = "header value holds a line break that does not fold";
				return -1;
			}
			continue;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			*error_r = "header value holds a control character";
			return -1;
		}
	}
	return 0;
}

/* Printable ASCII of s (up to its end or a line break) into out; anything else becomes '?'. */
static void copy_text(char *out, size_t out_size, const char *s)
{
	size_t n = 0;
	for (; *s != '\0' && *s != '\r' && *s != '\n' && n + 1 < out_size; s++) {
		unsigned char c = (unsigned char)*s;
		out[n++] = c >= 0x20 && c <= 0x7e ? (char)c : c == '\t' ? ' ' : '?';
	}
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
}

/* "550 5.7.1 text" (the first line of a multi-line "550-..." too). */
static int parse_replycode(const char *s, struct milter_reply *r, const char **error_r)
{
	if (!(s[0] == '4' || s[0] == '5') || s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9' ||
	    !(s[3] == ' ' || s[3] == '-' || s[3] == '\0')) {
		*error_r = "reply code not 4xx or 5xx";
		return -1;
	}
	r->code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	const char *p = s[3] == '\0' ? s + 3 : s + 4;
	r->enh[0] = '\0';
	/* an enhanced status code of the reply's class: c.s.d, 1-3 digits each */
	if (p[0] == s[0] && p[1] == '.') {
		const char *q = p + 2;
		size_t d1 = 0, d2 = 0;
		while (q[d1] >= '0' && q[d1] <= '9' && d1 < 4)
			d1++;
		if (d1 >= 1 && d1 <= 3 && q[d1] == '.') {
			const char *q2 = q + d1 + 1;
			while (q2[d2] >= '0' && q2[d2] <= '9' && d2 < 4)
				d2++;
			if (d2 >= 1 && d2 <= 3 &&
			    (q2[d2] == ' ' || q2[d2] == '\0' || q2[d2] == '\r' || q2[d2] == '\n')) {
				size_t elen = (size_t)(q2 + d2 - p);
				memcpy(r->enh, p, elen);
				r->enh[elen] = '\0';
				p = q2 + d2;
				while (*p == ' ')
					p++;
			}
		}
	}
	copy_text(r->text, sizeof(r->text), p);
	return 0;
}

int milter_proto_parse(uint8_t cmd, const uint8_t *data, size_t len, struct milter_reply *r,
                       const char **error_r)
{
	size_t pos = 0;
	const char *s;
	memset(r, 0, sizeof(*r));
	r->type = (enum milter_reply_type)cmd;
	switch (cmd) {
	case MILTER_REPLY_ACCEPT:
	case MILTER_REPLY_CONTINUE:
	case MILTER_REPLY_DISCARD:
	case MILTER_REPLY_REJECT:
	case MILTER_REPLY_TEMPFAIL:
	case MILTER_REPLY_PROGRESS:
	case MILTER_REPLY_SKIP:
	case MILTER_REPLY_SHUTDOWN:
	case MILTER_REPLY_CONN_FAIL:
	case MILTER_REPLY_SETSYMLIST:
		return 0; /* whatever follows is not read */
	case MILTER_REPLY_OPTNEG:
		if (len < 12) {
			*error_r = "option negotiation too short";
			return -1;
		}
		r->version = get32(data);
		r->actions = get32(data + 4);
		r->protocol = get32(data + 8);
		return 0; /* macro lists that may follow are not used */
	case MILTER_REPLY_ADDRCPT:
	case MILTER_REPLY_DELRCPT:
	case MILTER_REPLY_ADDRCPT_PAR:
	case MILTER_REPLY_CHGFROM:
		if ((s = take_string(data, len, &pos)) == NULL) {
			*error_r = "address without its NUL";
			return -1;
		}
		return parse_addr(s, r->addr, sizeof(r->addr), error_r);
	case MILTER_REPLY_INSHEADER:
	case MILTER_REPLY_CHGHEADER:
		if (len < 4) {
			*error_r = "header change without its index";
			return -1;
		}
		r->hindex = get32(data);
		pos = 4;
		/* fall through */
	case MILTER_REPLY_ADDHEADER:
		if ((r->hname = take_string(data, len, &pos)) == NULL ||
		    (r->hvalue = take_string(data, len, &pos)) == NULL) {
			*error_r = "header name or value without its NUL";
			return -1;
		}
		if (check_hname(r->hname, error_r) < 0 || check_hvalue(r->hvalue, error_r) < 0)
			return -1;
		return 0;
	case MILTER_REPLY_QUARANTINE:
		if ((s = take_string(data, len, &pos)) == NULL) {
			*error_r = "quarantine reason without its NUL";
			return -1;
		}
		copy_text(r->text, sizeof(r->text), s);
		if (r->text[0] == '\0')
			strcpy(r->text, "quarantined by milter");
		return 0;
	case MILTER_REPLY_REPLYCODE:
		if ((s = take_string(data, len, &pos)) == NULL) {
			*error_r = "reply code without its NUL";
			return -1;
		}
		return parse_replycode(s, r, error_r);
	case MILTER_REPLY_REPLBODY:
		r->body = data;
		r->body_len = len;
		return 0;
	default:
		*error_r = "unknown reply";
		return -1;
	}
}

void milter_proto_put(struct evbuffer *out, uint8_t cmd, const void *data, size_t len)
{
	uint32_t n = htonl((uint32_t)(len + 1));
	evbuffer_add(out, &n, 4);
	evbuffer_add(out, &cmd, 1);
	if (len > 0)
		evbuffer_add(out, data, len);
}

void milter_proto_put_optneg(struct evbuffer *out, uint32_t version, uint32_t actions, uint32_t protocol)
{
	uint32_t v[3] = {htonl(version), htonl(actions), htonl(protocol)};
	milter_proto_put(out, MILTER_CMD_OPTNEG, v, sizeof(v));
}

void milter_proto_put_strings(struct evbuffer *out, uint8_t cmd, const char *const *strs, size_t n)
{
	size_t len = 0;
	for (size_t i = 0; i < n; i++)
		len += strlen(strs[i]) + 1;
	uint32_t hdr = htonl((uint32_t)(len + 1));
	evbuffer_add(out, &hdr, 4);
	evbuffer_add(out, &cmd, 1);
	for (size_t i = 0; i < n; i++)
		evbuffer_add(out, strs[i], strlen(strs[i]) + 1);
}
