/*
 * dmarc_eval: the DMARC verdict (RFC 7489) for the From: domain of a message, with libopendmarc:
 * the policy record (looked up by the caller through mxd/dns, never by the library), the SPF result of
 * MAIL FROM and the DKIM results, aligned against the organizational domains of the public suffix list.
 *
 * dmarc_eval_init() loads the list once per process (libopendmarc keeps it in a global table); the
 * other calls are pure CPU work in the calling thread.
 */
#ifndef MXD_DMARC_EVAL_H
#define MXD_DMARC_EVAL_H

#include "mxd/smtpd/dkim_verify.h"

#include <stdbool.h>
#include <stddef.h>

enum dmarc_result {
	DMARC_RESULT_NONE,      /* no From: domain to judge, or it publishes no policy */
	DMARC_RESULT_PASS,      /* aligned SPF or DKIM pass */
	DMARC_RESULT_FAIL,      /* neither aligned */
	DMARC_RESULT_TEMPERROR, /* the policy lookup failed for now */
	DMARC_RESULT_PERMERROR, /* a malformed policy record, or a From: with no single domain */
};

struct dmarc_eval_input {
	const char *from_domain; /* NULL when From: has no single domain */
	const char *record;      /* the v=DMARC1 record found, NULL for none */
	bool record_at_org;      /* record came from the organizational domain: its sp= applies */
	bool record_tempfail;    /* the lookup failed temporarily */
	const char *spf_domain;  /* MAIL FROM domain (or HELO) that SPF checked, NULL when not checked */
	const char *spf_result;  /* "pass", "fail", ... as RFC 8601 names it */
	const struct dkim_verify_sig *sigs;
	size_t nsig;
};

struct dmarc_eval_verdict {
	enum dmarc_result result;
	char policy;        /* published policy that applies: 'n', 'q', 'r', or 0 with no record */
	char disposition;   /* what the policy asks for this message after pct=: 'n', 'q' or 'r' */
	bool spf_aligned;   /* SPF passed for a domain aligned with From: */
	bool dkim_aligned;  /* a DKIM signature of an aligned domain passed */
	const char *reason; /* static text for logs */
};

/* Load the public suffix list (path; "" for none: exact domains only). 0, or -1 with *error_r. */
int dmarc_eval_init(const char *psl_path, const char **error_r);

/* The organizational domain of domain (RFC 7489 3.2) into out. */
void dmarc_eval_org_domain(const char *domain, char *out, size_t out_size);

/* Judge a message. Never fails: what cannot be judged is NONE, TEMPERROR or PERMERROR. */
void dmarc_eval_run(const struct dmarc_eval_input *in, struct dmarc_eval_verdict *verdict_r);

/* "none", "pass", "fail", "temperror", "permerror". */
const char *dmarc_result_str(enum dmarc_result result);
/* "none", "quarantine", "reject" for 'n', 'q', 'r'; "" for 0. */
const char *dmarc_policy_str(char policy);

#endif
