/* dsn_policy: see dsn_policy.h. */
#include "mxd/delivery/dsn_policy.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define VALUE_MAX 128 /* octets of a field's value looked at */
#define TOKEN_MAX 40  /* octets of a value put into a reason */

/* The line at pos: its text length (without CR LF) into *text_len_r; returns where the next starts. */
static size_t line_at(const char *msg, size_t len, size_t pos, size_t *text_len_r)
{
	const char *nl = memchr(msg + pos, '\n', len - pos);
	size_t end = nl != NULL ? (size_t)(nl - msg) : len;
	size_t text_end = end > pos && msg[end - 1] == '\r' ? end - 1 : end;
	*text_len_r = text_end - pos;
	return nl != NULL ? end + 1 : len;
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* The first word of value, lowercased, printable ASCII only ('?' for the rest), into token. */
static void first_token(const char *value, char token[TOKEN_MAX + 1])
{
	size_t n = 0;
	while (is_wsp(*value))
		value++;
	for (; *value != '\0' && !is_wsp(*value) && *value != ';' && *value != '(' && n < TOKEN_MAX;
	     value++) {
		unsigned char c = (unsigned char)*value;
		token[n++] = c > 0x20 && c < 0x7f ? (char)(c >= 'A' && c <= 'Z' ? c + 32 : c) : '?';
	}
	token[n] = '\0';
}

static bool name_is(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

const char *dsn_policy_suppress(const char *msg, size_t len, char *buf, size_t size)
{
	bool seen_received = false, seen_spf = false;
	size_t pos = 0;
	while (msg != NULL && pos < len) {
		size_t text_len;
		const char *line = msg + pos;
		pos = line_at(msg, len, pos, &text_len);
		if (text_len == 0 || is_wsp(line[0]))
			break; /* the end of the header section (a stray continuation ends it too) */
		const char *colon = memchr(line, ':', text_len);
		if (colon == NULL)
			break; /* not a header field: the body began without an empty line */
		size_t name_len = (size_t)(colon - line);
		while (name_len > 0 && is_wsp(line[name_len - 1]))
			name_len--;
		/* the value, unfolded, its first VALUE_MAX octets */
		char value[VALUE_MAX + 1];
		size_t vn = 0, part = text_len - name_len - 1;
		const char *from = colon + 1;
		for (;;) {
			size_t take = part < VALUE_MAX - vn ? part : VALUE_MAX - vn;
			memcpy(value + vn, from, take);
			vn += take;
			if (pos >= len || !is_wsp(msg[pos]))
				break;
			from = msg + pos;
			pos = line_at(msg, len, pos, &part);
			if (vn < VALUE_MAX)
				value[vn++] = ' ';
		}
		value[vn] = '\0';
		for (size_t i = 0; i < vn; i++)
			if (value[i] == '\0')
				value[i] = ' ';
		char token[TOKEN_MAX + 1];
		first_token(value, token);
		if (name_is(line, name_len, "Received")) {
			seen_received = true;
		} else if (name_is(line, name_len, "Received-SPF")) {
			if (!seen_received && !seen_spf && strcmp(token, "fail") == 0)
				return "SPF fail";
			seen_spf = true;
		} else if (name_is(line, name_len, "Auto-Submitted")) {
			if (strcmp(token, "no") != 0) {
				snprintf(buf, size, "Auto-Submitted: %s", token);
				return buf;
			}
		} else if (name_is(line, name_len, "Precedence")) {
			if (strcmp(token, "bulk") == 0 || strcmp(token, "list") == 0 ||
			    strcmp(token, "junk") == 0) {
				snprintf(buf, size, "Precedence: %s", token);
				return buf;
			}
		} else if (name_is(line, name_len, "List-Id")) {
			return "List-Id";
		} else if (name_is(line, name_len, "List-Unsubscribe")) {
			return "List-Unsubscribe";
		}
	}
	return NULL;
}
