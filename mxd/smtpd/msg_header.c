/* msg_header: header fields, DKIM-Signature tags and the From: domain; see msg_header.h. */
#include "mxd/smtpd/msg_header.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

int msg_header_next(const char *buf, size_t len, size_t *pos, struct msg_field *field_r)
{
	size_t p = *pos;
	if (p >= len || buf[p] == '\r' || buf[p] == '\n')
		return 0;
	if (buf[p] == ' ' || buf[p] == '\t')
		return -1;
	size_t colon = p;
	while (colon < len && buf[colon] != ':' && buf[colon] != '\r' && buf[colon] != '\n' &&
	       buf[colon] != ' ' && buf[colon] != '\t')
		colon++;
	size_t name_end = colon;
	while (colon < len && (buf[colon] == ' ' || buf[colon] == '\t'))
		colon++; /* obsolete syntax: WSP before the colon */
	if (colon >= len || buf[colon] != ':' || name_end == p)
		return -1;
	/* the field runs to a line end not followed by WSP */
	size_t e = colon + 1;
	for (;;) {
		while (e < len && buf[e] != '\n')
			e++;
		if (e >= len) {
			field_r->end = len;
			*pos = len;
			break;
		}
		if (e + 1 < len && (buf[e + 1] == ' ' || buf[e + 1] == '\t')) {
			e++;
			continue;
		}
		field_r->end = e > p && buf[e - 1] == '\r' ? e - 1 : e;
		*pos = e + 1;
		break;
	}
	field_r->start = p;
	field_r->name_off = p;
	field_r->name_len = name_end - p;
	field_r->value_off = colon + 1;
	field_r->value_len = field_r->end - (colon + 1);
	return 1;
}

bool msg_header_is(const char *buf, const struct msg_field *field, const char *name)
{
	size_t n = strlen(name);
	return field->name_len == n && strncasecmp(buf + field->name_off, name, n) == 0;
}

int msg_header_has_prefix(const char *buf, size_t len, const char *prefix)
{
	size_t n = strlen(prefix), pos = 0;
	struct msg_field f;
	int r;
	while ((r = msg_header_next(buf, len, &pos, &f)) == 1)
		if (f.name_len >= n && strncasecmp(buf + f.name_off, prefix, n) == 0)
			return 1;
	return r;
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Copy v[0..n) without white space, lower-cased, as a DNS name into out. 0 or -1. */
static int copy_name(const char *v, size_t n, char *out, size_t out_size)
{
	size_t o = 0, label = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (is_wsp((char)c))
			continue;
		if (c == '.') {
			if (label == 0)
				return -1;
			label = 0;
		} else if (isalnum(c) || c == '-' || c == '_') {
			if (++label > 63)
				return -1;
		} else {
			return -1;
		}
		if (o + 1 >= out_size)
			return -1;
		out[o++] = (char)tolower(c);
	}
	if (o > 0 && out[o - 1] == '.')
		o--; /* one trailing dot */
	if (o == 0 || (o > 0 && out[o - 1] == '.'))
		return -1;
	out[o] = '\0';
	return 0;
}

int msg_header_dkim_tags(const char *value, size_t len, char *d, size_t d_size, char *s, size_t s_size)
{
	bool have_d = false, have_s = false;
	size_t i = 0;
	while (i < len) {
		size_t end = i;
		while (end < len && value[end] != ';')
			end++;
		size_t a = i, b = end;
		while (a < b && is_wsp(value[a]))
			a++;
		size_t eq = a;
		while (eq < b && value[eq] != '=')
			eq++;
		if (eq < b) {
			size_t ne = eq;
			while (ne > a && is_wsp(value[ne - 1]))
				ne--;
			if (ne - a == 1 && (value[a] == 'd' || value[a] == 's')) {
				bool is_d = value[a] == 'd';
				if (is_d ? have_d : have_s)
					return -1; /* a tag twice: the signature is invalid (RFC 6376 3.2) */
				if (copy_name(value + eq + 1, b - eq - 1, is_d ? d : s,
				              is_d ? d_size : s_size) < 0)
					return -1;
				*(is_d ? &have_d : &have_s) = true;
			}
		}
		i = end + 1;
	}
	return have_d && have_s ? 0 : -1;
}

/* Skip a comment starting at v[i] == '(' (nested, with quoted pairs); the index after it. */
static size_t skip_comment(const char *v, size_t len, size_t i)
{
	int depth = 0;
	for (; i < len; i++) {
		if (v[i] == '\\')
			i++;
		else if (v[i] == '(')
			depth++;
		else if (v[i] == ')' && --depth == 0)
			return i + 1;
	}
	return len;
}

int msg_header_from_domain(const char *value, size_t len, char *out, size_t out_size)
{
	/* Find the address: inside the angle brackets, or the whole mailbox; one mailbox only. */
	size_t addr_start = 0, addr_end = 0, at = 0;
	bool quoted = false, in_angle = false, have_angle = false, have_at = false;
	for (size_t i = 0; i < len; i++) {
		char c = value[i];
		if (quoted) {
			if (c == '\\')
				i++;
			else if (c == '"')
				quoted = false;
			continue;
		}
		if (c == '"') {
			quoted = true;
		} else if (c == '(') {
			i = skip_comment(value, len, i) - 1;
		} else if (c == '<') {
			if (have_angle)
				return -1;
			in_angle = have_angle = true;
			addr_start = i + 1;
			have_at = false;
		} else if (c == '>' && in_angle) {
			in_angle = false;
			addr_end = i;
		} else if (c == ',' || c == ';' || c == ':') {
			return -1; /* more than one address, or a group */
		} else if (c == '@' && (in_angle || !have_angle)) {
			at = i;
			have_at = true;
		}
	}
	if (quoted || in_angle || !have_at)
		return -1;
	if (!have_angle) {
		addr_end = len;
		addr_start = 0;
	}
	if (at < addr_start || at >= addr_end)
		return -1;
	/* the domain: from after the '@' to the end of the address, comments and white space dropped */
	char dom[256];
	size_t o = 0;
	for (size_t i = at + 1; i < addr_end; i++) {
		if (value[i] == '(') {
			i = skip_comment(value, addr_end, i) - 1;
			continue;
		}
		if (is_wsp(value[i]))
			continue;
		if (o + 1 >= sizeof(dom))
			return -1;
		dom[o++] = value[i];
	}
	return copy_name(dom, o, out, out_size);
}
