/*
 * form: see form.h.
 */
#include "admin/form.h"

#include "admin/text.h"
#include "mxd/common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static __thread char form_error[160];

struct form *form_new(void)
{
	return xcalloc(1, sizeof(struct form));
}

void form_free(struct form **formp)
{
	struct form *form = *formp;
	if (form == NULL)
		return;
	for (size_t i = 0; i < form->n; i++) {
		free(form->fields[i].name);
		free(form->fields[i].value);
	}
	free(form->fields);
	free(form);
	*formp = NULL;
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
	       c == '.' || c == '-';
}

int form_add(struct form *form, const char *name, size_t name_len, const char *value, size_t value_len,
             const char **error_r)
{
	if (name_len == 0) {
		*error_r = "empty field name";
		return -1;
	}
	if (name_len > FORM_NAME_MAX) {
		snprintf(form_error, sizeof(form_error), "field name '%.16s...': longer than %d octets", name,
		         FORM_NAME_MAX);
		*error_r = form_error;
		return -1;
	}
	for (size_t i = 0; i < name_len; i++) {
		if (!name_char(name[i])) {
			*error_r = "field name: only letters, digits and _ . - are allowed";
			return -1;
		}
	}
	if (form->n >= FORM_FIELDS_MAX) {
		snprintf(form_error, sizeof(form_error), "more than %d fields", FORM_FIELDS_MAX);
		*error_r = form_error;
		return -1;
	}
	if (form->n == form->cap)
		form->fields = xrealloc(form->fields, (form->cap = form->cap == 0 ? 8 : form->cap * 2) *
		                                          sizeof(*form->fields));
	form->fields[form->n].name = xstrndup(name, name_len);
	form->fields[form->n].value = xstrndup(value, value_len);
	form->n++;
	return 0;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode len octets of one name or value into out (room for len + 1). Returns the decoded length, or
 * -1 with *error_r. */
static long decode(const char *in, size_t len, char *out, const char **error_r)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == '+') {
			out[o++] = ' ';
		} else if (c == '%') {
			int hi = i + 2 < len ? hex_value(in[i + 1]) : -1;
			int lo = i + 2 < len ? hex_value(in[i + 2]) : -1;
			if (hi < 0 || lo < 0) {
				*error_r = "malformed percent-escape (expected % and two hex digits)";
				return -1;
			}
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			out[o++] = c;
		}
		if (out[o - 1] == '\0') {
			*error_r = "NUL octet in a field";
			return -1;
		}
	}
	out[o] = '\0';
	if (!text_utf8_valid(out, o)) {
		*error_r = "invalid UTF-8 in a field";
		return -1;
	}
	return (long)o;
}

int form_parse_urlencoded(const char *text, size_t len, struct form **form_r, const char **error_r)
{
	struct form *form = form_new();
	char *name = xmalloc(len + 1), *value = xmalloc(len + 1);
	size_t pos = 0;

	while (pos < len) {
		const char *pair = text + pos;
		const char *amp = memchr(pair, '&', len - pos);
		size_t pair_len = amp != NULL ? (size_t)(amp - pair) : len - pos;
		pos += pair_len + (amp != NULL ? 1 : 0);
		if (pair_len == 0)
			continue;
		const char *eq = memchr(pair, '=', pair_len);
		size_t raw_name_len = eq != NULL ? (size_t)(eq - pair) : pair_len;
		long nl = decode(pair, raw_name_len, name, error_r);
		long vl = nl < 0       ? -1
		          : eq != NULL ? decode(eq + 1, pair_len - raw_name_len - 1, value, error_r)
		                       : decode("", 0, value, error_r);
		if (nl < 0 || vl < 0 || form_add(form, name, (size_t)nl, value, (size_t)vl, error_r) < 0) {
			form_free(&form);
			break;
		}
	}
	free(name);
	free(value);
	*form_r = form;
	return form != NULL ? 0 : -1;
}

const char *form_get(const struct form *form, const char *name)
{
	const char *found = NULL;

	for (size_t i = 0; i < form->n; i++) {
		if (strcmp(form->fields[i].name, name) == 0) {
			if (found != NULL)
				return NULL;
			found = form->fields[i].value;
		}
	}
	return found;
}

size_t form_count(const struct form *form, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; i < form->n; i++)
		n += strcmp(form->fields[i].name, name) == 0;
	return n;
}

const char *form_get_nth(const struct form *form, const char *name, size_t nth)
{
	for (size_t i = 0; i < form->n; i++) {
		if (strcmp(form->fields[i].name, name) == 0 && nth-- == 0)
			return form->fields[i].value;
	}
	return NULL;
}
