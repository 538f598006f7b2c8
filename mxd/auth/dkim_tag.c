/* dkim_tag: see dkim_tag.h. */
#include "mxd/auth/dkim_tag.h"

#include "mxd/common/util.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool is_fws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_name_char(char c)
{
	return is_alpha(c) || (c >= '0' && c <= '9') || c == '_';
}

/* tval (RFC 6376 3.2): printable ASCII but ';', and octets above 0x7f (for UTF-8 in ARC results). */
static bool is_value_char(unsigned char c)
{
	return (c >= 0x21 && c <= 0x7e && c != ';') || c >= 0x80;
}

int dkim_tag_parse(const char *text, size_t len, struct dkim_tag_list *r, const char **error_r)
{
	memset(r, 0, sizeof(*r));
	size_t p = 0;
	for (;;) {
		while (p < len && is_fws(text[p]))
			p++;
		if (p == len)
			return 0; /* empty list, or a final ';' */
		size_t ns = p;
		if (!is_alpha(text[p]))
			goto bad;
		while (p < len && is_name_char(text[p]))
			p++;
		size_t ne = p;
		while (p < len && is_fws(text[p]))
			p++;
		if (p == len || text[p] != '=')
			goto bad;
		p++;
		while (p < len && is_fws(text[p]))
			p++;
		char *value = xmalloc(len - p + 1);
		size_t vl = 0;
		bool blank = false;
		for (; p < len && text[p] != ';'; p++) {
			if (is_fws(text[p])) {
				blank = true;
				continue;
			}
			if (!is_value_char((unsigned char)text[p])) {
				free(value);
				goto bad;
			}
			if (blank && vl > 0)
				value[vl++] = ' ';
			blank = false;
			value[vl++] = text[p];
		}
		value[vl] = '\0';
		char *name = xstrndup(text + ns, ne - ns);
		if (dkim_tag_get(r, name) != NULL || r->n == DKIM_TAG_MAX) {
			*error_r = r->n == DKIM_TAG_MAX ? "too many tags" : "duplicate tag";
			free(name);
			free(value);
			dkim_tag_free(r);
			return -1;
		}
		r->names[r->n] = name;
		r->values[r->n++] = value;
		if (p == len)
			return 0;
		p++; /* ';' */
	}
bad:
	*error_r = "malformed tag list";
	dkim_tag_free(r);
	return -1;
}

const char *dkim_tag_get(const struct dkim_tag_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->names[i], name) == 0)
			return l->values[i];
	return NULL;
}

void dkim_tag_free(struct dkim_tag_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->names[i]);
		free(l->values[i]);
	}
	memset(l, 0, sizeof(*l));
}

char *dkim_tag_strip(const char *s)
{
	char *out = xmalloc(strlen(s) + 1), *o = out;
	for (; *s != '\0'; s++)
		if (!is_fws(*s))
			*o++ = *s;
	*o = '\0';
	return out;
}
