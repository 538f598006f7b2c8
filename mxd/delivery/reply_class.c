/* reply_class: see reply_class.h. */
#include "mxd/delivery/reply_class.h"

#include "mxd/common/util.h"

#include <ctype.h>
#include <stddef.h>
#include <string.h>

/* A temporary reply is throttling when its code is one of codes (0: any 4xx), its enhanced status starts
 * with enh (NULL: any) and its text holds text (NULL: any; ASCII case ignored). */
struct reply_rule {
	int code;
	const char *enh;
	const char *text;
};

static const struct reply_rule reply_rules[] = {
    /* RFC 3463 4.7.x (security or policy status) on the replies that defer a whole transaction */
    {421, "4.7.", NULL},
    {450, "4.7.", NULL},
    {451, "4.7.", NULL},
    /* the large providers' texts, whatever code or enhanced status they come with */
    {0, NULL, "very low reputation"}, /* Gmail 421 4.7.0 */
    {0, NULL, "unusual rate"},        /* Gmail 421 4.7.28 "unusual rate of unsolicited mail" */
    {0, NULL, "rate limit"},          /* Gmail 4.7.28, Outlook 4.7.650 "rate limited", many */
    {0, NULL, "ratelimit"},
    {0, NULL, "ip reputation"},        /* Outlook 451 4.7.650 */
    {0, NULL, "temporarily deferred"}, /* Yahoo 421 4.7.0 [TSS04] */
    {0, NULL, "[tss04]"},
    {0, NULL, "too many messages"},
    {0, NULL, "too many connections"},
    {0, NULL, "too many concurrent"},
    {0, NULL, "sending rate"},
    {0, NULL, "throttl"},                  /* "throttled", "throttling" */
    {0, NULL, "try again later, closing"}, /* Postfix's anvil limits */
};

/* Does haystack contain needle, ASCII case ignored (needle lower-case)? */
static bool contains_ci(const char *haystack, const char *needle)
{
	size_t n = strlen(needle);
	for (const char *p = haystack; *p != '\0'; p++) {
		size_t i = 0;
		while (i < n && p[i] != '\0' && tolower((unsigned char)p[i]) == needle[i])
			i++;
		if (i == n)
			return true;
	}
	return false;
}

bool reply_class_throttle(int code, const char *enh, const char *text)
{
	if (code < 400 || code > 499)
		return false;
	for (size_t i = 0; i < MXD_ARRAY_SIZE(reply_rules); i++) {
		const struct reply_rule *r = &reply_rules[i];
		if (r->code != 0 && r->code != code)
			continue;
		if (r->enh != NULL && (enh == NULL || strncmp(enh, r->enh, strlen(r->enh)) != 0))
			continue;
		if (r->text != NULL && (text == NULL || !contains_ci(text, r->text)))
			continue;
		return true;
	}
	return false;
}
