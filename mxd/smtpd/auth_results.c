/* auth_results: the Authentication-Results field and its log summary; see auth_results.h. */
#include "mxd/smtpd/auth_results.h"

#include "mxd/common/util.h"
#include "mxd/smtpd/header_writer.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct auth_result {
	char *method, *result, *comment;
	char **props; /* ptype.property, value, ... */
	size_t nprop;
};

struct auth_results {
	char *authserv_id;
	struct auth_result *items;
	size_t n;
};

struct auth_results *auth_results_new(const char *authserv_id)
{
	struct auth_results *ar = xcalloc(1, sizeof(*ar));
	ar->authserv_id = xstrdup(authserv_id);
	return ar;
}

void auth_results_free(struct auth_results **arp)
{
	struct auth_results *ar = *arp;
	if (ar == NULL)
		return;
	for (size_t i = 0; i < ar->n; i++) {
		struct auth_result *r = &ar->items[i];
		free(r->method);
		free(r->result);
		free(r->comment);
		for (size_t j = 0; j < r->nprop; j++)
			free(r->props[j]);
		free(r->props);
	}
	free(ar->items);
	free(ar->authserv_id);
	free(ar);
	*arp = NULL;
}

void auth_results_add(struct auth_results *ar, const char *method, const char *result, const char *comment,
                      ...)
{
	ar->items = xrealloc(ar->items, (ar->n + 1) * sizeof(*ar->items));
	struct auth_result *r = &ar->items[ar->n++];
	memset(r, 0, sizeof(*r));
	r->method = xstrdup(method);
	r->result = xstrdup(result);
	r->comment = comment != NULL ? xstrdup(comment) : NULL;
	va_list ap;
	va_start(ap, comment);
	const char *key;
	while ((key = va_arg(ap, const char *)) != NULL) {
		const char *value = va_arg(ap, const char *);
		if (value == NULL || value[0] == '\0')
			continue;
		r->props = xrealloc(r->props, (r->nprop + 2) * sizeof(*r->props));
		r->props[r->nprop++] = xstrdup(key);
		r->props[r->nprop++] = xstrdup(value);
	}
	va_end(ap);
}

/* A pvalue (RFC 8601 2.2): an addr-spec whose parts are dot-atoms as it is, another address as its
 * domain, anything else as a value (quoted when it is no dot-atom). */
static char *pvalue(const char *s)
{
	const char *at = strrchr(s, '@');
	if (at == NULL || at == s)
		return header_writer_value(at == s ? s + 1 : s);
	char *local = xstrndup(s, (size_t)(at - s));
	char *lv = header_writer_value(local), *dv = header_writer_value(at + 1);
	char *v = lv[0] != '"' && dv[0] != '"' ? xasprintf("%s@%s", lv, dv) : xstrdup(dv);
	free(local);
	free(lv);
	free(dv);
	return v;
}

char *auth_results_header(const struct auth_results *ar)
{
	struct header_writer h = {0};
	char *id = header_writer_value(ar->authserv_id);
	char *word = xasprintf("%s;", id);
	header_writer_add(&h, "Authentication-Results:");
	header_writer_add(&h, word);
	free(word);
	free(id);
	if (ar->n == 0)
		header_writer_add(&h, "none");
	for (size_t i = 0; i < ar->n; i++) {
		const struct auth_result *r = &ar->items[i];
		bool last_item = i + 1 == ar->n;
		bool bare = r->comment == NULL && r->nprop == 0;
		if (ar->n > 1)
			header_writer_break(&h); /* one result per line when there are several */
		word = xasprintf("%s=%s%s", r->method, r->result, bare && !last_item ? ";" : "");
		header_writer_add(&h, word);
		free(word);
		if (r->comment != NULL) {
			header_writer_add_comment(&h, r->comment);
			if (r->nprop == 0 && !last_item) {
				h.text = xrealloc(h.text, h.len + 2);
				h.text[h.len++] = ';';
				h.text[h.len] = '\0';
				h.line++;
			}
		}
		for (size_t j = 0; j < r->nprop; j += 2) {
			bool last = j + 2 == r->nprop;
			char *v = pvalue(r->props[j + 1]);
			word = xasprintf("%s=%s%s", r->props[j], v, last && !last_item ? ";" : "");
			header_writer_add(&h, word);
			free(word);
			free(v);
		}
	}
	return header_writer_end(&h);
}

char *auth_results_summary(const struct auth_results *ar)
{
	char *out = xstrdup("");
	for (size_t i = 0; i < ar->n; i++) {
		const struct auth_result *r = &ar->items[i];
		const char *d = NULL;
		for (size_t j = 0; j < r->nprop; j += 2)
			if (strcmp(r->props[j], "header.d") == 0 || strcmp(r->props[j], "header.from") == 0)
				d = r->props[j + 1];
		char *next = d != NULL
		                 ? xasprintf("%s%s%s=%s(%s)", out, i > 0 ? " " : "", r->method, r->result, d)
		                 : xasprintf("%s%s%s=%s", out, i > 0 ? " " : "", r->method, r->result);
		free(out);
		out = next;
	}
	return out;
}
