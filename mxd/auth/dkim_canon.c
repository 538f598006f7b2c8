/* dkim_canon: see dkim_canon.h. */
#include "mxd/auth/dkim_canon.h"

#include "mxd/common/util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* End of the line starting at p: the offset just past its LF (or end). */
static size_t line_end(const char *msg, size_t len, size_t p)
{
	const char *lf = memchr(msg + p, '\n', len - p);
	return lf == NULL ? len : (size_t)(lf - msg) + 1;
}

void header_list_parse(const char *msg, size_t len, struct header_list *r)
{
	memset(r, 0, sizeof(*r));
	size_t cap = 0, p = 0;
	while (p < len) {
		size_t e = line_end(msg, len, p);
		if (msg[p] == '\r' || msg[p] == '\n') { /* the empty line */
			p = e;
			break;
		}
		if (is_wsp(msg[p]) && r->n > 0) { /* continuation */
			r->fields[r->n - 1].len = e - (size_t)(r->fields[r->n - 1].text - msg);
			p = e;
			continue;
		}
		const char *colon = memchr(msg + p, ':', e - p);
		if (colon == NULL || colon == msg + p)
			break; /* not a header field: the body starts here */
		size_t nl = (size_t)(colon - (msg + p));
		while (nl > 0 && is_wsp(msg[p + nl - 1]))
			nl--;
		if (r->n == cap) {
			cap = cap ? cap * 2 : 32;
			r->fields = xrealloc(r->fields, cap * sizeof(*r->fields));
		}
		r->fields[r->n++] = (struct header_field){msg + p, e - p, nl};
		p = e;
	}
	r->body = msg + p;
	r->body_len = len - p;
}

void header_list_free(struct header_list *r)
{
	free(r->fields);
	memset(r, 0, sizeof(*r));
}

bool header_field_is(const struct header_field *f, const char *name)
{
	return strlen(name) == f->name_len && strncasecmp(f->text, name, f->name_len) == 0;
}

const char *header_field_value(const struct header_field *f, size_t *len_r)
{
	const char *v = memchr(f->text, ':', f->len) + 1;
	size_t len = f->len - (size_t)(v - f->text);
	if (len > 0 && v[len - 1] == '\n')
		len--;
	if (len > 0 && v[len - 1] == '\r')
		len--;
	*len_r = len;
	return v;
}

char *dkim_canon_header(const char *text, size_t len, bool relaxed, size_t *out_len_r)
{
	char *out = xmalloc(len + 3);
	size_t o = 0;
	if (!relaxed) {
		memcpy(out, text, len);
		o = len;
		if (o < 2 || out[o - 2] != '\r' || out[o - 1] != '\n') {
			if (o > 0 && out[o - 1] == '\n')
				o--;
			out[o++] = '\r';
			out[o++] = '\n';
		}
		out[o] = '\0';
		*out_len_r = o;
		return out;
	}
	const char *colon = memchr(text, ':', len);
	size_t nl = colon ? (size_t)(colon - text) : len;
	for (size_t i = 0; i < nl; i++) /* the name, lower case, without blanks before the colon */
		if (!is_wsp(text[i]) && text[i] != '\r' && text[i] != '\n')
			out[o++] = (text[i] >= 'A' && text[i] <= 'Z') ? (char)(text[i] + 32) : text[i];
	out[o++] = ':';
	bool blank = false, started = false;
	for (size_t i = nl + 1; i < len; i++) {
		char c = text[i];
		if (c == '\r' || c == '\n')
			continue; /* unfold */
		if (is_wsp(c)) {
			blank = true;
			continue;
		}
		if (blank && started)
			out[o++] = ' ';
		blank = false;
		started = true;
		out[o++] = c;
	}
	out[o++] = '\r';
	out[o++] = '\n';
	out[o] = '\0';
	*out_len_r = o;
	return out;
}

char *dkim_canon_body(const char *body, size_t len, bool relaxed, size_t *out_len_r)
{
	char *out = xmalloc(2 * len + 3);
	size_t o = 0, keep = 0; /* keep: length up to the end of the last non-empty line */
	size_t p = 0;
	while (p < len) {
		size_t e = line_end(body, len, p);
		size_t content = e - p; /* the line without its CR LF */
		bool has_nl = content > 0 && body[e - 1] == '\n';
		if (has_nl)
			content--;
		if (content > 0 && body[p + content - 1] == '\r' && has_nl)
			content--;
		size_t start = o;
		if (relaxed) {
			bool blank = false;
			for (size_t i = 0; i < content; i++) {
				if (is_wsp(body[p + i])) {
					blank = true;
					continue;
				}
				if (blank)
					out[o++] = ' ';
				blank = false;
				out[o++] = body[p + i];
			}
		} else {
			memcpy(out + o, body + p, content);
			o += content;
		}
		bool empty = o == start; /* nothing written on this line */
		out[o++] = '\r';
		out[o++] = '\n';
		if (!empty)
			keep = o;
		p = e;
	}
	o = keep; /* trailing empty lines go */
	if (o == 0 && !relaxed) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	out[o] = '\0';
	*out_len_r = o;
	return out;
}
