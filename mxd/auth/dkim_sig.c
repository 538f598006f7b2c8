/* dkim_sig: see dkim_sig.h. */
#include "mxd/auth/dkim_sig.h"

#include "mxd/auth/dkim_key.h"
#include "mxd/common/util.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FOLD_WIDTH 76

const char *const dkim_sig_default_headers[] = {"from",
                                                "to",
                                                "cc",
                                                "subject",
                                                "date",
                                                "message-id",
                                                "reply-to",
                                                "in-reply-to",
                                                "references",
                                                "mime-version",
                                                "content-type",
                                                "content-transfer-encoding",
                                                "auto-submitted",
                                                "dkim-signature",
                                                NULL};

/* A growing string. */
struct text {
	char *s;
	size_t len, cap;
};

static void text_add(struct text *t, const char *s, size_t len)
{
	if (t->len + len + 1 > t->cap) {
		t->cap = (t->len + len + 1) * 2;
		t->s = xrealloc(t->s, t->cap);
	}
	memcpy(t->s + t->len, s, len);
	t->len += len;
	t->s[t->len] = '\0';
}

static void text_str(struct text *t, const char *s)
{
	text_add(t, s, strlen(s));
}

/* Length of the last line of t. */
static size_t text_line(const struct text *t)
{
	size_t i = t->len;
	while (i > 0 && t->s[i - 1] != '\n')
		i--;
	return t->len - i;
}

/* Append "tag; " folding first when the line would grow past FOLD_WIDTH. */
static void text_tag(struct text *t, const char *tag)
{
	if (text_line(t) + strlen(tag) + 2 > FOLD_WIDTH) {
		if (t->len > 0 && t->s[t->len - 1] == ' ')
			t->len--; /* no blank at a line's end */
		text_str(t, "\r\n\t");
	}
	text_str(t, tag);
	text_str(t, "; ");
}

char *dkim_sig_body_hash(const char *body, size_t len, bool relaxed, long long l)
{
	size_t clen;
	char *c = dkim_canon_body(body, len, relaxed, &clen);
	if (l >= 0 && (size_t)l < clen)
		clen = (size_t)l;
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256((unsigned char *)c, clen, md);
	free(c);
	return dkim_base64_encode(md, sizeof(md));
}

/* The text of field f with the value of its b= tag removed ("b=" stays), for hashing. */
static char *without_b(const struct header_field *f, size_t *len_r)
{
	const char *v = memchr(f->text, ':', f->len) + 1, *end = f->text + f->len;
	struct text t = {0};
	text_add(&t, f->text, (size_t)(v - f->text));
	const char *p = v;
	while (p < end) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *stop = semi ? semi : end;
		const char *n = p;
		while (n < stop && strchr(" \t\r\n", *n) != NULL)
			n++;
		const char *eq = memchr(n, '=', (size_t)(stop - n));
		bool is_b = false;
		if (eq != NULL) {
			const char *ne = eq;
			while (ne > n && strchr(" \t\r\n", ne[-1]) != NULL)
				ne--;
			is_b = ne - n == 1 && *n == 'b';
		}
		if (is_b) {
			text_add(&t, p, (size_t)(eq + 1 - p));
			/* the value goes, but not the line end that closes the field */
			const char *q = stop;
			if (semi == NULL)
				while (q > eq + 1 && (q[-1] == '\r' || q[-1] == '\n'))
					q--;
			text_add(&t, q, (size_t)(stop - q));
		} else {
			text_add(&t, p, (size_t)(stop - p));
		}
		if (semi != NULL)
			text_add(&t, ";", 1);
		p = stop + (semi != NULL);
	}
	*len_r = t.len;
	return t.s ? t.s : xstrdup("");
}

/* The octets a signature covers: each field canonicalized, then the signature field with b= empty and
 * without its final CRLF. */
static char *signed_data(const struct header_field *const *fields, size_t n, const char *sig, size_t sig_len,
                         bool relaxed, size_t *len_r)
{
	struct text t = {0};
	for (size_t i = 0; i < n; i++) {
		size_t cl;
		char *c = dkim_canon_header(fields[i]->text, fields[i]->len, relaxed, &cl);
		text_add(&t, c, cl);
		free(c);
	}
	size_t cl;
	char *c = dkim_canon_header(sig, sig_len, relaxed, &cl);
	text_add(&t, c, cl - 2);
	free(c);
	*len_r = t.len;
	return t.s;
}

char *dkim_sig_seal_fields(const struct header_field *const *fields, size_t n, const char *head,
                           EVP_PKEY *key, const char **error_r)
{
	size_t dl;
	char *data = signed_data(fields, n, head, strlen(head), true, &dl);
	char *b64;
	int r = dkim_key_sign(key, data, dl, &b64, error_r);
	free(data);
	if (r < 0)
		return NULL;
	struct text t = {0};
	text_str(&t, head);
	for (size_t i = 0, len = strlen(b64); i < len;) {
		size_t room = FOLD_WIDTH > text_line(&t) ? FOLD_WIDTH - text_line(&t) : 0;
		if (room < 8) {
			text_str(&t, "\r\n\t");
			continue;
		}
		size_t k = len - i < room ? len - i : room;
		text_add(&t, b64 + i, k);
		i += k;
	}
	text_str(&t, "\r\n");
	free(b64);
	return t.s;
}

/* Select the fields named in the h= list names (a ':' list) from m: each name takes the lowest instance
 * not yet taken (RFC 6376 5.4.2); a name with no instance left adds nothing. */
static const struct header_field **select_fields(const struct header_list *m, const char *names, size_t *n_r)
{
	char *list = dkim_tag_strip(names);
	size_t cap = 1;
	for (const char *p = list; *p; p++)
		cap += *p == ':';
	const struct header_field **out = xcalloc(cap, sizeof(*out));
	bool *used = xcalloc(m->n + 1, sizeof(*used));
	size_t n = 0;
	char *save = NULL;
	for (char *name = strtok_r(list, ":", &save); name != NULL; name = strtok_r(NULL, ":", &save)) {
		for (size_t i = m->n; i > 0; i--) {
			if (!used[i - 1] && header_field_is(&m->fields[i - 1], name)) {
				used[i - 1] = true;
				out[n++] = &m->fields[i - 1];
				break;
			}
		}
	}
	free(used);
	free(list);
	*n_r = n;
	return out;
}

char *dkim_sig_sign(const struct header_list *m, const struct dkim_sig_params *p, const char **error_r)
{
	const char *const *names = p->headers ? p->headers : dkim_sig_default_headers;
	struct text h = {0};
	for (size_t k = 0; names[k] != NULL; k++) {
		size_t count = 0;
		for (size_t i = 0; i < m->n; i++)
			count += header_field_is(&m->fields[i], names[k]);
		if (count == 0 && strcasecmp(names[k], "from") == 0)
			count = 1;
		for (size_t c = 0; c < count; c++) {
			if (h.len > 0)
				text_str(&h, ":");
			text_str(&h, names[k]);
		}
	}
	char *bh = dkim_sig_body_hash(m->body, m->body_len, true, -1);
	struct text t = {0};
	text_str(&t, p->field);
	text_str(&t, ": ");
	text_tag(&t, p->first);
	char *tag = xasprintf("a=%s", dkim_key_algorithm(p->key));
	text_tag(&t, tag);
	free(tag);
	text_tag(&t, "c=relaxed/relaxed");
	tag = xasprintf("d=%s", p->domain);
	text_tag(&t, tag);
	free(tag);
	tag = xasprintf("s=%s", p->selector);
	text_tag(&t, tag);
	free(tag);
	if (p->timestamp > 0) {
		tag = xasprintf("t=%lld", p->timestamp);
		text_tag(&t, tag);
		free(tag);
	}
	tag = xasprintf("h=%s", h.s);
	text_tag(&t, tag);
	free(tag);
	tag = xasprintf("bh=%s", bh);
	text_tag(&t, tag);
	free(tag);
	free(bh);
	text_str(&t, "b=");
	size_t n;
	const struct header_field **sel = select_fields(m, h.s, &n);
	free(h.s);
	char *field = dkim_sig_seal_fields(sel, n, t.s, p->key, error_r);
	free(sel);
	free(t.s);
	return field;
}

int dkim_sig_check_fields(const struct header_field *const *fields, size_t n, const struct header_field *sig,
                          const struct dkim_tag_list *tags, bool relaxed, EVP_PKEY *key, const char **error_r)
{
	const char *a = dkim_tag_get(tags, "a"), *b = dkim_tag_get(tags, "b");
	if (a == NULL || b == NULL) {
		*error_r = "a= or b= missing";
		return -1;
	}
	size_t sl, dl;
	char *s = without_b(sig, &sl);
	char *data = signed_data(fields, n, s, sl, relaxed, &dl);
	int r = dkim_key_verify(key, a, data, dl, b, error_r);
	free(data);
	free(s);
	return r;
}

int dkim_sig_verify(const struct header_list *m, const struct header_field *sig,
                    const struct dkim_tag_list *tags, const char *c_default, EVP_PKEY *key,
                    const char **error_r)
{
	const char *c = dkim_tag_get(tags, "c"), *h = dkim_tag_get(tags, "h"), *bh = dkim_tag_get(tags, "bh");
	const char *l = dkim_tag_get(tags, "l");
	if (c == NULL)
		c = c_default;
	if (h == NULL || bh == NULL) {
		*error_r = "h= or bh= missing";
		return -1;
	}
	const char *slash = strchr(c, '/');
	size_t hl = slash ? (size_t)(slash - c) : strlen(c);
	const char *body_c = slash ? slash + 1 : "simple";
	bool h_relaxed = hl == 7 && strncmp(c, "relaxed", 7) == 0;
	bool b_relaxed = strcmp(body_c, "relaxed") == 0;
	if ((!h_relaxed && !(hl == 6 && strncmp(c, "simple", 6) == 0)) ||
	    (!b_relaxed && strcmp(body_c, "simple") != 0)) {
		*error_r = "unknown c=";
		return -1;
	}
	char *want = dkim_sig_body_hash(m->body, m->body_len, b_relaxed, l ? strtoll(l, NULL, 10) : -1);
	char *got = dkim_tag_strip(bh);
	bool same = strcmp(want, got) == 0;
	free(want);
	free(got);
	if (!same) {
		*error_r = "body hash did not verify";
		return -1;
	}
	size_t n;
	const struct header_field **sel = select_fields(m, h, &n);
	int r = dkim_sig_check_fields(sel, n, sig, tags, h_relaxed, key, error_r);
	free(sel);
	return r;
}
