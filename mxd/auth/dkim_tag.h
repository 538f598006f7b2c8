/*
 * dkim_tag: the tag=value lists of DKIM-Signature, ARC-Seal, ARC-Message-Signature and DKIM key
 * records (RFC 6376 3.2), which come from strangers: a message's header or a DNS TXT record.
 *
 * Pure, any thread. A parsed list owns copies of its names and values; free it with dkim_tag_free().
 */
#ifndef MXD_DKIM_TAG_H
#define MXD_DKIM_TAG_H

#include <stddef.h>

#define DKIM_TAG_MAX 32 /* tags in one list; more is refused */

struct dkim_tag_list {
	size_t n;
	char *names[DKIM_TAG_MAX];
	char *values[DKIM_TAG_MAX]; /* folding removed; blanks inside a value kept as one space */
};

/* Parse text[0..len). 0, or -1 with *error_r (static text) for a malformed list, a duplicate tag or too
 * many tags; on failure *r holds nothing to free. */
int dkim_tag_parse(const char *text, size_t len, struct dkim_tag_list *r, const char **error_r);

/* The value of tag name, or NULL. */
const char *dkim_tag_get(const struct dkim_tag_list *l, const char *name);

void dkim_tag_free(struct dkim_tag_list *l);

/* A copy of s without any blank, CR or LF (for base64 values and h= lists). */
char *dkim_tag_strip(const char *s);

#endif
