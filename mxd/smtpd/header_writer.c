/* header_writer: folded header fields with safe comments and values; see header_writer.h. */
#include "mxd/smtpd/header_writer.h"

#include "mxd/common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEADER_WIDTH 78 /* RFC 5322 2.1.1 */

void header_writer_add(struct header_writer *h, const char *word)
{
	size_t wl = strlen(word);
	bool fold = h->line > 1 && h->line + 1 + wl > HEADER_WIDTH;
	h->text = xrealloc(h->text, h->len + wl + 4);
	if (h->len > 0) {
		memcpy(h->text + h->len, fold ? "\r\n\t" : " ", fold ? 3 : 1);
		h->len += fold ? 3 : 1;
		h->line = fold ? 1 : h->line + 1;
	}
	memcpy(h->text + h->len, word, wl);
	h->len += wl;
	h->line += wl;
	h->text[h->len] = '\0';
}

void header_writer_break(struct header_writer *h)
{
	h->line = HEADER_WIDTH; /* the next word does not fit */
}

void header_writer_add_comment(struct header_writer *h, const char *text)
{
	char *copy = xasprintf("(%s)", text);
	for (char *p = copy + 1; p[1] != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e || *p == '(' || *p == ')' ||
		    *p == '\\')
			*p = '?';
	char *save = NULL;
	for (char *w = strtok_r(copy, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save))
		header_writer_add(h, w);
	free(copy);
}

char *header_writer_end(struct header_writer *h)
{
	h->text = xrealloc(h->text, h->len + 3);
	memcpy(h->text + h->len, "\r\n", 3);
	h->len += 2;
	return h->text;
}

static bool atext_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

char *header_writer_value(const char *s)
{
	bool atom = s[0] != '\0' && s[0] != '.';
	for (const char *p = s; *p != '\0' && atom; p++)
		atom = atext_char((unsigned char)*p) || (*p == '.' && p[1] != '.' && p[1] != '\0');
	if (atom)
		return xstrdup(s);
	char *out = xmalloc(2 * strlen(s) + 3), *o = out;
	*o++ = '"';
	for (const char *p = s; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"' || c == '\\')
			*o++ = '\\';
		*o++ = c < 0x20 || c > 0x7e ? '?' : (char)c;
	}
	*o++ = '"';
	*o = '\0';
	return out;
}

void header_writer_add_pair(struct header_writer *h, const char *key, const char *value, bool last)
{
	char *v = header_writer_value(value);
	char *word = xasprintf("%s=%s%s", key, v, last ? "" : ";");
	header_writer_add(h, word);
	free(word);
	free(v);
}
