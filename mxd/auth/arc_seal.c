/* arc_seal: see arc_seal.h. */
#include "mxd/auth/arc_seal.h"

#include "mxd/auth/dkim_key.h"
#include "mxd/auth/dkim_sig.h"
#include "mxd/common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct arc_sealer {
	EVP_PKEY *key;
	char *domain, *selector;
};

/* What the ARC-Message-Signature signs where present: as DKIM, plus the original signatures. */
static const char *const ams_headers[] = {"from",
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
                                          "dkim-signature",
                                          NULL};

int arc_sealer_new(const char *key_directory, const char *domain, const char *selector,
                   struct arc_sealer **sealer_r, const char **error_r)
{
	if (domain == NULL || domain[0] == '\0') {
		*error_r = "no arc_signing_domain (nor srs_domain)";
		return -1;
	}
	char *path = dkim_key_path(key_directory, domain, selector);
	EVP_PKEY *key;
	int r = dkim_key_load(path, &key, error_r);
	free(path);
	if (r < 0)
		return -1;
	struct arc_sealer *s = xcalloc(1, sizeof(*s));
	s->key = key;
	s->domain = xstrdup(domain);
	s->selector = xstrdup(selector);
	*sealer_r = s;
	return 0;
}

void arc_sealer_free(struct arc_sealer **sp)
{
	struct arc_sealer *s = *sp;
	if (s == NULL)
		return;
	EVP_PKEY_free(s->key);
	free(s->domain);
	free(s->selector);
	free(s);
	*sp = NULL;
}

static struct header_field field_of(const char *text)
{
	return (struct header_field){text, strlen(text), (size_t)(strchr(text, ':') - text)};
}

char *arc_seal(const struct arc_sealer *sealer, const char *msg, size_t len, enum arc_cv cv,
               const char *authres, long long now, const char **error_r)
{
	struct header_list m;
	header_list_parse(msg, len, &m);
	struct arc_chain chain;
	arc_chain_parse(&m, &chain);
	char *out = NULL, *aar = NULL, *ams = NULL;
	*error_r = NULL;
	if (chain.terminated || chain.n >= ARC_MAX_INSTANCE)
		goto done;
	unsigned i = (unsigned)chain.n + 1;
	if (i == 1)
		cv = ARC_CV_NONE; /* no chain: nothing could have failed (RFC 8617 5.1.1) */
	else if (cv == ARC_CV_NONE)
		cv = ARC_CV_FAIL; /* a chain was there, so "none" cannot describe it */
	while (*authres == ' ' || *authres == '\t')
		authres++;
	size_t al = strlen(authres);
	while (al > 0 && (authres[al - 1] == '\r' || authres[al - 1] == '\n'))
		al--;
	aar = xasprintf("ARC-Authentication-Results: i=%u; %.*s\r\n", i, (int)al, authres);

	char first[16];
	snprintf(first, sizeof(first), "i=%u", i);
	struct dkim_sig_params p = {
	    "ARC-Message-Signature", first, sealer->domain, sealer->selector, sealer->key, ams_headers, now};
	ams = dkim_sig_sign(&m, &p, error_r);
	if (ams == NULL)
		goto done;

	/* The seal signs every set, oldest first, ours last with its own ARC-Seal as the signature; a failed
	 * chain is not vouched for, so then only our set (RFC 8617 5.1.2). */
	const struct header_field *fields[3 * ARC_MAX_INSTANCE];
	size_t n = 0;
	if (cv != ARC_CV_FAIL)
		for (size_t k = 0; k < chain.n; k++) {
			fields[n++] = chain.sets[k].aar;
			fields[n++] = chain.sets[k].ams;
			fields[n++] = chain.sets[k].as;
		}
	struct header_field aar_f = field_of(aar), ams_f = field_of(ams);
	fields[n++] = &aar_f;
	fields[n++] = &ams_f;
	char *head =
	    xasprintf("ARC-Seal: i=%u; a=%s; t=%lld; cv=%s;\r\n\td=%s; s=%s; b=", i,
	              dkim_key_algorithm(sealer->key), now, arc_cv_str(cv), sealer->domain, sealer->selector);
	char *as = dkim_sig_seal_fields(fields, n, head, sealer->key, error_r);
	free(head);
	if (as != NULL) {
		out = xasprintf("%s%s%s", as, ams, aar);
		free(as);
	}
done:
	free(aar);
	free(ams);
	arc_chain_free(&chain);
	header_list_free(&m);
	return out;
}
