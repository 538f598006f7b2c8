/*
 * json: see json.h. A small recursive-descent reader for one flat object; strings are decoded into a
 * scratch buffer as long as the input (an escape never decodes longer than it is written).
 */
#include "admin/json.h"

#include "admin/text.h"
#include "mxd/common/util.h"

#include <event2/buffer.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct json_reader {
	const char *p, *end;
	char *scratch; /* len + 1 octets */
	const char *error;
};

static void json_ws(struct json_reader *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static int json_fail(struct json_reader *r, const char *error)
{
	if (r->error == NULL)
		r->error = error;
	return -1;
}

static int json_hex4(struct json_reader *r, unsigned *value_r)
{
	unsigned v = 0;

	if (r->end - r->p < 4)
		return json_fail(r, "JSON: \\u needs four hex digits");
	for (int i = 0; i < 4; i++) {
		char c = *r->p++;
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return json_fail(r, "JSON: \\u needs four hex digits");
	}
	*value_r = v;
	return 0;
}

static size_t json_put_utf8(char *out, unsigned cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Read a string at r->p (which is at its '"') into out; *len_r gets its length. */
static int json_string(struct json_reader *r, char *out, size_t *len_r)
{
	size_t o = 0;

	r->p++; /* '"' */
	for (;;) {
		if (r->p >= r->end)
			return json_fail(r, "JSON: unterminated string");
		unsigned char c = (unsigned char)*r->p;
		if (c == '"') {
			r->p++;
			break;
		}
		if (c < 0x20)
			return json_fail(r, "JSON: control character in a string");
		if (c != '\\') {
			size_t n = text_utf8_seq(r->p, (size_t)(r->end - r->p));
			if (n == 0)
				return json_fail(r, "JSON: invalid UTF-8 in a string");
			memcpy(out + o, r->p, n);
			o += n;
			r->p += n;
			continue;
		}
		r->p++;
		if (r->p >= r->end)
			return json_fail(r, "JSON: unterminated string");
		char e = *r->p++;
		unsigned cp;
		switch (e) {
		case '"':
		case '\\':
		case '/':
			out[o++] = e;
			break;
		case 'b':
			out[o++] = '\b';
			break;
		case 'f':
			out[o++] = '\f';
			break;
		case 'n':
			out[o++] = '\n';
			break;
		case 'r':
			out[o++] = '\r';
			break;
		case 't':
			out[o++] = '\t';
			break;
		case 'u':
			if (json_hex4(r, &cp) < 0)
				return -1;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return json_fail(r, "JSON: lone low surrogate");
			if (cp >= 0xd800 && cp <= 0xdbff) {
				unsigned lo;
				if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u')
					return json_fail(r, "JSON: lone high surrogate");
				r->p += 2;
				if (json_hex4(r, &lo) < 0)
					return -1;
				if (lo < 0xdc00 || lo > 0xdfff)
					return json_fail(r, "JSON: lone high surrogate");
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			if (cp == 0)
				return json_fail(r, "JSON: \\u0000 is not allowed");
			o += json_put_utf8(out + o, cp);
			break;
		default:
			return json_fail(r, "JSON: unknown escape in a string");
		}
	}
	out[o] = '\0';
	*len_r = o;
	return 0;
}

/* A number (RFC 8259 grammar) into out. */
static int json_number(struct json_reader *r, char *out, size_t *len_r)
{
	const char *start = r->p;

	if (r->p < r->end && *r->p == '-')
		r->p++;
	if (r->p >= r->end || !(*r->p >= '0' && *r->p <= '9'))
		return json_fail(r, "JSON: bad number");
	if (*r->p == '0')
		r->p++;
	else
		while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
			r->p++;
	if (r->p < r->end && *r->p == '.') {
		r->p++;
		if (r->p >= r->end || !(*r->p >= '0' && *r->p <= '9'))
			return json_fail(r, "JSON: bad number");
		while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
			r->p++;
	}
	if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
		r->p++;
		if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
			r->p++;
		if (r->p >= r->end || !(*r->p >= '0' && *r->p <= '9'))
			return json_fail(r, "JSON: bad number");
		while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
			r->p++;
	}
	*len_r = (size_t)(r->p - start);
	memcpy(out, start, *len_r);
	out[*len_r] = '\0';
	return 0;
}

static bool json_word(struct json_reader *r, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
		return false;
	r->p += n;
	return true;
}

/* A scalar (string, number, true, false) into r->scratch. 0, 1 for null, -1. */
static int json_scalar(struct json_reader *r, size_t *len_r)
{
	if (r->p >= r->end)
		return json_fail(r, "JSON: value expected");
	char c = *r->p;
	if (c == '"')
		return json_string(r, r->scratch, len_r);
	if (c == '-' || (c >= '0' && c <= '9'))
		return json_number(r, r->scratch, len_r);
	const char *word = json_word(r, "true") ? "true" : json_word(r, "false") ? "false" : NULL;
	if (word != NULL) {
		*len_r = strlen(word);
		memcpy(r->scratch, word, *len_r + 1);
		return 0;
	}
	if (json_word(r, "null"))
		return 1;
	if (c == '{' || c == '[')
		return json_fail(r, "JSON: nested objects and arrays are not allowed");
	return json_fail(r, "JSON: value expected");
}

static int json_member(struct json_reader *r, struct form *form, char *name, const char **error_r)
{
	size_t name_len, len;

	if (r->p >= r->end || *r->p != '"')
		return json_fail(r, "JSON: member name expected");
	if (json_string(r, name, &name_len) < 0)
		return -1;
	json_ws(r);
	if (r->p >= r->end || *r->p != ':')
		return json_fail(r, "JSON: ':' expected");
	r->p++;
	json_ws(r);
	if (r->p < r->end && *r->p == '[') {
		r->p++;
		json_ws(r);
		if (r->p < r->end && *r->p == ']') {
			r->p++;
			return 0;
		}
		for (;;) {
			json_ws(r);
			int rc = json_scalar(r, &len);
			if (rc < 0)
				return -1;
			if (rc == 0 && form_add(form, name, name_len, r->scratch, len, error_r) < 0)
				return json_fail(r, *error_r);
			json_ws(r);
			if (r->p < r->end && *r->p == ',') {
				r->p++;
				continue;
			}
			if (r->p < r->end && *r->p == ']') {
				r->p++;
				return 0;
			}
			return json_fail(r, "JSON: ',' or ']' expected");
		}
	}
	int rc = json_scalar(r, &len);
	if (rc < 0)
		return -1;
	if (rc == 0 && form_add(form, name, name_len, r->scratch, len, error_r) < 0)
		return json_fail(r, *error_r);
	return 0;
}

int json_parse_object(const char *text, size_t len, struct form **form_r, const char **error_r)
{
	struct json_reader r = {.p = text, .end = text + len, .scratch = xmalloc(len + 1)};
	struct form *form = form_new();
	char *name = xmalloc(len + 1);
	int ret = -1;

	json_ws(&r);
	if (r.p >= r.end || *r.p != '{') {
		json_fail(&r, "JSON: an object expected");
		goto out;
	}
	r.p++;
	json_ws(&r);
	if (r.p < r.end && *r.p == '}') {
		r.p++;
	} else {
		for (;;) {
			json_ws(&r);
			if (json_member(&r, form, name, error_r) < 0)
				goto out;
			json_ws(&r);
			if (r.p < r.end && *r.p == ',') {
				r.p++;
				continue;
			}
			if (r.p < r.end && *r.p == '}') {
				r.p++;
				break;
			}
			json_fail(&r, "JSON: ',' or '}' expected");
			goto out;
		}
	}
	json_ws(&r);
	if (r.p != r.end) {
		json_fail(&r, "JSON: junk after the object");
		goto out;
	}
	ret = 0;
out:
	free(r.scratch);
	free(name);
	if (ret < 0) {
		*error_r = r.error;
		form_free(&form);
	}
	*form_r = form;
	return ret;
}

void json_str(struct evbuffer *out, const char *s)
{
	size_t len = strlen(s);

	evbuffer_add(out, "\"", 1);
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)s[i];
		size_t n = text_utf8_seq(s + i, len - i);
		if (n == 0) {
			evbuffer_add(out, "\\ufffd", 6);
			i++;
		} else if (c == '"' || c == '\\') {
			evbuffer_add_printf(out, "\\%c", c);
			i++;
		} else if (c < 0x20 || c == 0x7f || c == '<' || c == '>' || c == '&') {
			evbuffer_add_printf(out, "\\u%04x", c);
			i++;
		} else {
			evbuffer_add(out, s + i, n);
			i += n;
		}
	}
	evbuffer_add(out, "\"", 1);
}

void json_key(struct evbuffer *out, bool *first, const char *name)
{
	if (!*first)
		evbuffer_add(out, ",", 1);
	*first = false;
	json_str(out, name);
	evbuffer_add(out, ":", 1);
}

void json_kv_str(struct evbuffer *out, bool *first, const char *name, const char *value)
{
	json_key(out, first, name);
	json_str(out, value);
}

void json_kv_int(struct evbuffer *out, bool *first, const char *name, int64_t value)
{
	json_key(out, first, name);
	evbuffer_add_printf(out, "%" PRId64, value);
}

void json_kv_bool(struct evbuffer *out, bool *first, const char *name, bool value)
{
	json_key(out, first, name);
	evbuffer_add_printf(out, "%s", value ? "true" : "false");
}

void json_list_write(struct evbuffer *out, const void *items, size_t n, size_t size, json_item_fn *fn)
{
	const char *item = items;

	evbuffer_add(out, "[", 1);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			evbuffer_add(out, ",", 1);
		fn(out, item + i * size);
	}
	evbuffer_add(out, "]", 1);
}

void json_kv_list(struct evbuffer *out, bool *first, const char *name, const void *items, size_t n,
                  size_t size, json_item_fn *fn)
{
	json_key(out, first, name);
	json_list_write(out, items, n, size, fn);
}

/* One element of an array of char *. */
static void json_item_str(struct evbuffer *out, const void *item)
{
	json_str(out, *(char *const *)item);
}

void json_kv_strings(struct evbuffer *out, bool *first, const char *name, char *const *list, size_t n)
{
	json_kv_list(out, first, name, list, n, sizeof(*list), json_item_str);
}
