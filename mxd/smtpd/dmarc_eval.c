/* dmarc_eval: libopendmarc fed with what mxd looked up; see dmarc_eval.h. */
#include "mxd/smtpd/dmarc_eval.h"

#include "mxd/common/util.h"

#include <arpa/inet.h>
#include <opendmarc/dmarc.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

/* Exported by libopendmarc, missing from its header. */
int opendmarc_get_tld(u_char *domain, u_char *tld, size_t tld_len);

int dmarc_eval_init(const char *psl_path, const char **error_r)
{
	static OPENDMARC_LIB_T lib;
	memset(&lib, 0, sizeof(lib));
	if (psl_path[0] != '\0') {
		if (strlen(psl_path) >= sizeof(lib.tld_source_file)) {
			*error_r = "dmarc_public_suffix_list: path too long";
			return -1;
		}
		lib.tld_type = OPENDMARC_TLD_TYPE_MOZILLA;
		memcpy(lib.tld_source_file, psl_path, strlen(psl_path) + 1);
	}
	if (opendmarc_policy_library_init(&lib) != DMARC_PARSE_OKAY) {
		*error_r = "dmarc_public_suffix_list: cannot read the public suffix list";
		return -1;
	}
	return 0;
}

void dmarc_eval_org_domain(const char *domain, char *out, size_t out_size)
{
	if (opendmarc_get_tld((u_char *)domain, (u_char *)out, out_size) != 0 || out[0] == '\0')
		str_copy(out, out_size, domain);
}

static int spf_outcome(const char *r)
{
	if (strcmp(r, "pass") == 0)
		return DMARC_POLICY_SPF_OUTCOME_PASS;
	if (strcmp(r, "temperror") == 0)
		return DMARC_POLICY_SPF_OUTCOME_TMPFAIL;
	if (strcmp(r, "none") == 0 || strcmp(r, "neutral") == 0)
		return DMARC_POLICY_SPF_OUTCOME_NONE;
	return DMARC_POLICY_SPF_OUTCOME_FAIL;
}

static int dkim_outcome(const char *r)
{
	if (strcmp(r, "pass") == 0)
		return DMARC_POLICY_DKIM_OUTCOME_PASS;
	if (strcmp(r, "temperror") == 0)
		return DMARC_POLICY_DKIM_OUTCOME_TMPFAIL;
	return DMARC_POLICY_DKIM_OUTCOME_FAIL;
}

/* RFC 7489 6.6.4: a message outside pct= gets the next weaker policy. */
static char apply_pct(char p, int pct)
{
	if (pct < 0 || pct >= 100 || p == 'n')
		return p;
	uint32_t draw = 0;
	if (getrandom(&draw, sizeof(draw), 0) != (ssize_t)sizeof(draw))
		draw = (uint32_t)random();
	if ((int)(draw % 100) < pct)
		return p;
	return p == 'r' ? 'q' : 'n';
}

void dmarc_eval_run(const struct dmarc_eval_input *in, struct dmarc_eval_verdict *v)
{
	memset(v, 0, sizeof(*v));
	if (in->from_domain == NULL) {
		v->result = DMARC_RESULT_PERMERROR;
		v->reason = "no single author domain in From:";
		return;
	}
	if (in->record_tempfail) {
		v->result = DMARC_RESULT_TEMPERROR;
		v->reason = "DMARC record lookup failed";
		return;
	}
	if (in->record == NULL) {
		v->result = DMARC_RESULT_NONE;
		v->reason = "no DMARC record";
		return;
	}
	DMARC_POLICY_T *p = opendmarc_policy_connect_init((u_char *)"0.0.0.0", DMARC_POLICY_IP_TYPE_IPV4);
	if (p == NULL)
		abort(); /* allocation failure */
	char org[256];
	dmarc_eval_org_domain(in->from_domain, org, sizeof(org));
	(void)opendmarc_policy_store_from_domain(p, (u_char *)in->from_domain);
	OPENDMARC_STATUS_T st = opendmarc_policy_store_dmarc(
	    p, (u_char *)in->record, (u_char *)in->from_domain, in->record_at_org ? (u_char *)org : NULL);
	if (st != DMARC_PARSE_OKAY) {
		v->result = DMARC_RESULT_PERMERROR;
		v->reason = "malformed DMARC record";
		opendmarc_policy_connect_shutdown(p);
		return;
	}
	if (in->spf_domain != NULL && in->spf_result != NULL && in->spf_domain[0] != '\0')
		(void)opendmarc_policy_store_spf(p, (u_char *)in->spf_domain, spf_outcome(in->spf_result),
		                                 DMARC_POLICY_SPF_ORIGIN_MAILFROM, NULL);
	for (size_t i = 0; i < in->nsig; i++)
		if (in->sigs[i].domain[0] != '\0')
			(void)opendmarc_policy_store_dkim(p, (u_char *)in->sigs[i].domain,
			                                  (u_char *)in->sigs[i].selector,
			                                  dkim_outcome(in->sigs[i].result), NULL);
	st = opendmarc_get_policy_to_enforce(p);
	int dkim_al = 0, spf_al = 0, pub = 0, sp = 0, pct = -1;
	(void)opendmarc_policy_fetch_alignment(p, &dkim_al, &spf_al);
	(void)opendmarc_policy_fetch_p(p, &pub);
	(void)opendmarc_policy_fetch_sp(p, &sp);
	(void)opendmarc_policy_fetch_pct(p, &pct);
	int adkim = 0, aspf = 0;
	(void)opendmarc_policy_fetch_adkim(p, &adkim);
	(void)opendmarc_policy_fetch_aspf(p, &aspf);
	opendmarc_policy_connect_shutdown(p);
	v->spf_aligned = spf_al == DMARC_POLICY_SPF_ALIGNMENT_PASS;
	v->dkim_aligned = dkim_al == DMARC_POLICY_DKIM_ALIGNMENT_PASS;
	/* libopendmarc 1.4 takes a domain whose organizational domain is the From: domain as aligned even
	 * under aspf=s / adkim=s; strict alignment is an exact match (RFC 7489 3.1) */
	if (aspf == DMARC_RECORD_A_STRICT && v->spf_aligned)
		v->spf_aligned = strcasecmp(in->spf_domain, in->from_domain) == 0;
	if (adkim == DMARC_RECORD_A_STRICT && v->dkim_aligned) {
		v->dkim_aligned = false;
		for (size_t i = 0; i < in->nsig; i++)
			if (strcmp(in->sigs[i].result, "pass") == 0 &&
			    strcasecmp(in->sigs[i].domain, in->from_domain) == 0)
				v->dkim_aligned = true;
	}
	if (st == DMARC_POLICY_PASS && !v->spf_aligned && !v->dkim_aligned)
		st = DMARC_POLICY_REJECT; /* failed: the disposition follows from the policy below */
	int applies = in->record_at_org && sp != DMARC_RECORD_P_UNSPECIFIED ? sp : pub;
	v->policy = applies == DMARC_RECORD_P_REJECT ? 'r' : applies == DMARC_RECORD_P_QUARANTINE ? 'q' : 'n';
	switch (st) {
	case DMARC_POLICY_PASS:
		v->result = DMARC_RESULT_PASS;
		v->disposition = 'n';
		v->reason = v->dkim_aligned ? "aligned DKIM signature" : "aligned SPF";
		break;
	case DMARC_POLICY_REJECT:
	case DMARC_POLICY_QUARANTINE:
	case DMARC_POLICY_NONE:
		v->result = DMARC_RESULT_FAIL;
		v->disposition = apply_pct(v->policy, pct);
		v->reason = "neither SPF nor DKIM aligned with From:";
		break;
	case DMARC_POLICY_ABSENT:
		v->result = DMARC_RESULT_NONE;
		v->reason = "no DMARC policy";
		break;
	default:
		v->result = DMARC_RESULT_PERMERROR;
		v->reason = "DMARC evaluation failed";
		break;
	}
}

const char *dmarc_result_str(enum dmarc_result r)
{
	static const char *const names[] = {"none", "pass", "fail", "temperror", "permerror"};
	return (size_t)r < MXD_ARRAY_SIZE(names) ? names[r] : "?";
}

const char *dmarc_policy_str(char policy)
{
	return policy == 'r' ? "reject" : policy == 'q' ? "quarantine" : policy == 'n' ? "none" : "";
}
