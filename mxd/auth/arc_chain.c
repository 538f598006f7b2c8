/* arc_chain: see arc_chain.h. */
#include "mxd/auth/arc_chain.h"

#include "mxd/auth/dkim_sig.h"
#include "mxd/common/util.h"

#include <stdlib.h>
#include <string.h>

const char *arc_cv_str(enum arc_cv cv)
{
	return cv == ARC_CV_PASS ? "pass" : cv == ARC_CV_FAIL ? "fail" : "none";
}

/* The instance of an ARC-Authentication-Results value: "i=N;" first (RFC 8617 4.1.1). 0 when none. */
static unsigned aar_instance(const struct header_field *f)
{
	size_t len;
	const char *v = header_field_value(f, &len), *end = v + len;
	while (v < end && strchr(" \t\r\n", *v) != NULL)
		v++;
	if (end - v < 2 || v[0] != 'i')
		return 0;
	v++;
	while (v < end && strchr(" \t\r\n", *v) != NULL)
		v++;
	if (v == end || *v != '=')
		return 0;
	v++;
	while (v < end && strchr(" \t\r\n", *v) != NULL)
		v++;
	unsigned i = 0;
	size_t digits = 0;
	for (; v < end && *v >= '0' && *v <= '9' && digits < 3; v++, digits++)
		i = i * 10 + (unsigned)(*v - '0');
	while (v < end && strchr(" \t\r\n", *v) != NULL)
		v++;
	return digits > 0 && v < end && *v == ';' ? i : 0;
}

static unsigned tag_instance(const struct dkim_tag_list *t)
{
	const char *i = dkim_tag_get(t, "i");
	if (i == NULL || strlen(i) > 2 || strspn(i, "0123456789") != strlen(i) || i[0] == '\0' || i[0] == '0')
		return 0;
	return (unsigned)atoi(i);
}

static bool has_tags(const struct dkim_tag_list *t, const char *const *names)
{
	for (; *names != NULL; names++)
		if (dkim_tag_get(t, *names) == NULL)
			return false;
	return true;
}

static void chain_fail(struct arc_chain *c, const char *why)
{
	if (c->cv != ARC_CV_FAIL) {
		c->cv = ARC_CV_FAIL;
		c->why = why;
	}
}

void arc_chain_parse(const struct header_list *m, struct arc_chain *c)
{
	memset(c, 0, sizeof(*c));
	unsigned max = 0;
	bool any = false;
	for (size_t k = 0; k < m->n; k++) {
		const struct header_field *f = &m->fields[k];
		int kind = header_field_is(f, "ARC-Authentication-Results") ? 0
		           : header_field_is(f, "ARC-Message-Signature")    ? 1
		           : header_field_is(f, "ARC-Seal")                 ? 2
		                                                            : -1;
		if (kind < 0)
			continue;
		any = true;
		unsigned i = 0;
		struct dkim_tag_list tags = {0};
		if (kind == 0) {
			i = aar_instance(f);
		} else {
			size_t len;
			const char *v = header_field_value(f, &len), *error;
			if (dkim_tag_parse(v, len, &tags, &error) < 0) {
				chain_fail(c, "malformed ARC signature");
				continue;
			}
			i = tag_instance(&tags);
		}
		if (i == 0 || i > ARC_MAX_INSTANCE) {
			dkim_tag_free(&tags);
			chain_fail(c, "ARC instance missing or out of range");
			continue;
		}
		struct arc_set *s = &c->sets[i - 1];
		const struct header_field **slot = kind == 0 ? &s->aar : kind == 1 ? &s->ams : &s->as;
		if (*slot != NULL) {
			dkim_tag_free(&tags);
			chain_fail(c, "duplicate ARC header field in one instance");
			continue;
		}
		*slot = f;
		if (kind == 1)
			s->ams_tags = tags;
		else if (kind == 2)
			s->as_tags = tags;
		if (i > max)
			max = i;
	}
	c->n = max;
	if (!any) {
		c->cv = ARC_CV_NONE;
		return;
	}
	static const char *const ams_need[] = {"a", "b", "bh", "d", "h", "s", NULL};
	static const char *const as_need[] = {"a", "b", "cv", "d", "s", NULL};
	for (size_t k = 0; k < c->n; k++) {
		struct arc_set *s = &c->sets[k];
		if (s->aar == NULL || s->ams == NULL || s->as == NULL) {
			chain_fail(c, "ARC set incomplete or instances not contiguous");
			continue;
		}
		if (!has_tags(&s->ams_tags, ams_need) || !has_tags(&s->as_tags, as_need) ||
		    dkim_tag_get(&s->as_tags, "h") != NULL) {
			chain_fail(c, "ARC signature lacks a required tag");
			continue;
		}
		const char *cv = dkim_tag_get(&s->as_tags, "cv");
		if (k == c->n - 1 && strcmp(cv, "fail") == 0) {
			c->terminated = true;
			chain_fail(c, "the newest ARC-Seal says cv=fail");
		} else if (strcmp(cv, k == 0 ? "none" : "pass") != 0) {
			chain_fail(c, "ARC-Seal with a wrong cv=");
		}
		char *h = dkim_tag_strip(dkim_tag_get(&s->ams_tags, "h"));
		for (char *p = h; *p; p++)
			*p = (*p >= 'A' && *p <= 'Z') ? (char)(*p + 32) : *p;
		if (strstr(h, "arc-seal") != NULL)
			chain_fail(c, "ARC-Message-Signature signs ARC-Seal");
		free(h);
	}
	if (c->cv != ARC_CV_FAIL)
		c->cv = ARC_CV_PASS;
}

/* Check seal k (0-based): it signs every set up to its own, AAR, AMS, AS each, with its own AS last. */
static int check_seal(const struct arc_chain *c, size_t k, EVP_PKEY *key, const char **error_r)
{
	const struct header_field *fields[3 * ARC_MAX_INSTANCE];
	size_t n = 0;
	for (size_t j = 0; j <= k; j++) {
		fields[n++] = c->sets[j].aar;
		fields[n++] = c->sets[j].ams;
		if (j < k)
			fields[n++] = c->sets[j].as;
	}
	return dkim_sig_check_fields(fields, n, c->sets[k].as, &c->sets[k].as_tags, true, key, error_r);
}

void arc_chain_validate(struct arc_chain *c, const struct header_list *m, arc_key_fn *key_of, void *ctx)
{
	if (c->cv != ARC_CV_PASS)
		return;
	const char *error;
	struct arc_set *last = &c->sets[c->n - 1];
	EVP_PKEY *key = key_of(ctx, dkim_tag_get(&last->ams_tags, "d"), dkim_tag_get(&last->ams_tags, "s"));
	if (key == NULL ||
	    dkim_sig_verify(m, last->ams, &last->ams_tags, "relaxed/relaxed", key, &error) < 0) {
		chain_fail(c, "the newest ARC-Message-Signature does not verify");
		return;
	}
	for (size_t k = c->n; k > 0; k--) {
		struct arc_set *s = &c->sets[k - 1];
		key = key_of(ctx, dkim_tag_get(&s->as_tags, "d"), dkim_tag_get(&s->as_tags, "s"));
		if (key == NULL || check_seal(c, k - 1, key, &error) < 0) {
			chain_fail(c, "an ARC-Seal does not verify");
			return;
		}
	}
}

char *arc_chain_sealers(const struct arc_chain *c)
{
	char *out = xstrdup("");
	for (size_t k = 0; k < c->n; k++) {
		const char *d = c->sets[k].as ? dkim_tag_get(&c->sets[k].as_tags, "d") : NULL;
		if (d == NULL)
			continue;
		char *next = xasprintf("%s%s%s", out, out[0] ? "," : "", d);
		free(out);
		out = next;
	}
	return out;
}

void arc_chain_free(struct arc_chain *c)
{
	for (size_t k = 0; k < ARC_MAX_INSTANCE; k++) {
		dkim_tag_free(&c->sets[k].ams_tags);
		dkim_tag_free(&c->sets[k].as_tags);
	}
	memset(c, 0, sizeof(*c));
}
