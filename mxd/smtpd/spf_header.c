/* spf_header: the Received-SPF (RFC 7208 9.1) and Authentication-Results (RFC 8601) header fields of
 * an SPF verdict. See spf.h. Pure functions. */
#include "mxd/smtpd/spf.h"

#include "mxd/common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEADER_WIDTH 78 /* RFC 5322 2.1.1 */

/* A header field being written: words are joined by a space, or folded onto a new line. */
struct header {
	char *text;
	size_t len, line;
};

static void header_add(struct header *h, const char *word)
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

/* Add the words of text (split at spaces), each reduced to what a comment may hold. */
static void header_add_comment(struct header *h, const char *text)
{
	char *copy = xasprintf("(%s)", text);
	for (char *p = copy + 1; p[1] != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e || *p == '(' || *p == ')' ||
		    *p == '\\')
			*p = '?';
	char *save = NULL;
	for (char *w = strtok_r(copy, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save))
		header_add(h, w);
	free(copy);
}

static char *header_end(struct header *h)
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

/* s as a dot-atom when it is one, else as a quoted-string (octets outside printable ASCII: '?'). */
static char *value_text(const char *s)
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

/* key=value; as one word. */
static void header_add_pair(struct header *h, const char *key, const char *value, bool last)
{
	char *v = value_text(value);
	char *word = xasprintf("%s=%s%s", key, v, last ? "" : ";");
	header_add(h, word);
	free(word);
	free(v);
}

static void spf_resinfo(struct header *h, const struct spf_result *r, bool semicolon);

char *spf_header_received_spf(const struct spf_result *r, const char *receiver)
{
	char *comment;
	const char *ip = r->client_ip, *who = r->sender;
	switch (r->status) {
	case SPF_STATUS_PASS:
		comment = xasprintf("%s: domain of %s designates %s as permitted sender", receiver, who, ip);
		break;
	case SPF_STATUS_FAIL:
		comment = xasprintf("%s: domain of %s does not designate %s as permitted sender", receiver,
		                    who, ip);
		break;
	case SPF_STATUS_SOFTFAIL:
		comment =
		    xasprintf("%s: domain of transitioning %s does not designate %s as permitted sender",
		              receiver, who, ip);
		break;
	case SPF_STATUS_NEUTRAL:
		comment =
		    xasprintf("%s: %s is neither permitted nor denied by domain of %s", receiver, ip, who);
		break;
	case SPF_STATUS_NONE:
		comment =
		    xasprintf("%s: domain of %s does not designate permitted sender hosts", receiver, who);
		break;
	default:
		comment = xasprintf("%s: %s error in processing during lookup of %s", receiver,
		                    r->status == SPF_STATUS_TEMPERROR ? "temporary" : "permanent", who);
		break;
	}
	struct header h = {0};
	header_add(&h, "Received-SPF:");
	header_add(&h, spf_status_str(r->status));
	header_add_comment(&h, comment);
	free(comment);
	header_add_pair(&h, "client-ip", r->client_ip, false);
	header_add_pair(&h, "envelope-from", r->helo_identity ? "" : r->sender, false);
	header_add_pair(&h, "helo", r->helo, false);
	if (r->problem != NULL)
		header_add_pair(&h, "problem", r->problem, false);
	header_add_pair(&h, "receiver", receiver, false);
	header_add_pair(&h, "identity", r->helo_identity ? "helo" : "mailfrom", true);
	return header_end(&h);
}

char *spf_header_authentication_results(const struct spf_result *r, const char *authserv_id)
{
	return spf_header_authentication_results_more(r, authserv_id, NULL);
}

char *spf_header_authentication_results_more(const struct spf_result *r, const char *authserv_id,
                                             const char *const *more)
{
	struct header h = {0};
	char *id = value_text(authserv_id);
	bool any = r != NULL || (more != NULL && more[0] != NULL);
	char *word = xasprintf("%s;", id);
	header_add(&h, "Authentication-Results:");
	header_add(&h, word);
	free(word);
	free(id);
	if (!any)
		header_add(&h, "none"); /* RFC 8601 2.2: no result */
	if (r != NULL)
		spf_resinfo(&h, r, more != NULL && more[0] != NULL);
	for (size_t i = 0; more != NULL && more[i] != NULL; i++) {
		char *copy = xstrdup(more[i]), *save = NULL;
		for (char *w = strtok_r(copy, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save)) {
			bool last_word = save == NULL || *save == '\0';
			word = xasprintf("%s%s", w, last_word && more[i + 1] != NULL ? ";" : "");
	header_add(&h, word);
	free(word);
		}
		free(copy);
	}
	return header_end(&h);
}

/* "spf=RESULT smtp.mailfrom=..." (with a final ';' when more results follow). */
static void spf_resinfo(struct header *h, const struct spf_result *r, bool semicolon)
{
	char *word = xasprintf("spf=%s", spf_status_str(r->status));
	header_add(h, word);
	free(word);
	/* RFC 8601 2.7.2: smtp.mailfrom is an addr-spec (or a domain), smtp.helo a domain */
	const char *value = r->helo_identity ? r->helo : r->sender;
	const char *at = strrchr(value, '@');
	char *v;
	if (r->helo_identity || at == NULL) {
		v = value_text(value);
	} else {
		char *local = xstrndup(value, (size_t)(at - value));
		char *lv = value_text(local), *dv = value_text(at + 1);
		v = lv[0] != '"' && dv[0] != '"' ? xasprintf("%s@%s", lv, dv) : xstrdup(dv);
		free(local);
		free(lv);
		free(dv);
	}
	word = xasprintf("smtp.%s=%s%s", r->helo_identity ? "helo" : "mailfrom", v, semicolon ? ";" : "");
	header_add(h, word);
	free(word);
	free(v);
}
