/* dns_result: the outcome of an answer (rcode and flags to enum dns_status) and the struct dns_result
 * built from answers: its hosts, its status and detail, and its release; see dns.h and dns_private.h. */
#include "mxd/dns/dns_private.h"

#include "mxd/common/util.h"

#include <stdlib.h>
#include <string.h>
#include <unbound.h>

static const char *type_name(int rrtype)
{
	switch (rrtype) {
	case DNS_TYPE_A:
		return "A";
	case DNS_TYPE_AAAA:
		return "AAAA";
	case DNS_TYPE_MX:
		return "MX";
	case DNS_TYPE_TXT:
		return "TXT";
	default:
		return "?";
	}
}

/* Why an answer is not usable, as text for a result's detail. */
char *dns_result_detail(const char *name, int rrtype, const char *why)
{
	return xasprintf("name=%s type=%s: %s", name, type_name(rrtype), why);
}

/* The outcome of one answer: OK (data), NXDOMAIN, NO_ADDR (the name exists, no data of the type)
 * or TEMPFAIL, with a reason for anything but OK. */
enum dns_status dns_result_answer_status(int err, const struct ub_result *res, const char **why_r)
{
	if (err != 0) {
		*why_r = ub_strerror(err);
		return DNS_TEMPFAIL;
	}
	if (res->bogus) {
		*why_r = "DNSSEC validation failed";
		return DNS_TEMPFAIL;
	}
	switch (res->rcode) {
	case DNS_RCODE_NOERROR:
		if (res->havedata)
			return DNS_OK;
		*why_r = "host found but no data record of the requested type";
		return DNS_NO_ADDR;
	case DNS_RCODE_NXDOMAIN:
		*why_r = "host not found (NXDOMAIN)";
		return DNS_NXDOMAIN;
	case DNS_RCODE_SERVFAIL:
		*why_r = res->was_ratelimited ? "server failure (SERVFAIL, rate limited)"
		                              : "server failure (SERVFAIL)";
		return DNS_TEMPFAIL;
	case DNS_RCODE_REFUSED:
		*why_r = "query refused (REFUSED)";
		return DNS_TEMPFAIL;
	case DNS_RCODE_FORMERR:
		*why_r = "format error (FORMERR)";
		return DNS_TEMPFAIL;
	case DNS_RCODE_NOTIMP:
		*why_r = "not implemented (NOTIMP)";
		return DNS_TEMPFAIL;
	default:
		*why_r = "unexpected response code";
		return DNS_TEMPFAIL;
	}
}

struct dns_host *dns_result_add_host(struct dns_result *r, const char *name, unsigned preference)
{
	r->hosts = xrealloc(r->hosts, (r->nhost + 1) * sizeof(*r->hosts));
	struct dns_host *h = &r->hosts[r->nhost++];
	memset(h, 0, sizeof(*h));
	h->name = xstrdup(name);
	h->preference = preference;
	h->status = DNS_OK;
	return h;
}

int dns_result_add_txt(struct dns_result *r, const unsigned char *data, size_t len)
{
	char *text = xmalloc(len + 1);
	size_t n = 0;
	for (size_t i = 0; i < len;) {
		size_t sl = data[i++];
		if (sl > len - i) {
			free(text);
			return -1;
		}
		memcpy(text + n, data + i, sl);
		n += sl;
		i += sl;
	}
	text[n] = '\0';
	if (memchr(text, '\0', n) != NULL) {
		free(text);
		return 0; /* not text: left out */
	}
	r->txts = xrealloc(r->txts, (r->ntxt + 1) * sizeof(*r->txts));
	r->txts[r->ntxt++] = text;
	return 0;
}

void dns_result_set(struct dns_result *r, enum dns_status status, char *detail)
{
	r->status = status;
	free(r->detail);
	r->detail = detail;
}

void dns_result_free(struct dns_result **resultp)
{
	struct dns_result *r = *resultp;
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nhost; i++) {
		free(r->hosts[i].name);
		free(r->hosts[i].addrs);
	}
	free(r->hosts);
	for (size_t i = 0; i < r->ntxt; i++)
		free(r->txts[i]);
	free(r->txts);
	free(r->name);
	free(r->detail);
	free(r);
	*resultp = NULL;
}

const char *dns_status_str(enum dns_status status)
{
	switch (status) {
	case DNS_OK:
		return "ok";
	case DNS_NXDOMAIN:
		return "nxdomain";
	case DNS_NO_MX:
		return "no mx";
	case DNS_NULL_MX:
		return "null mx";
	case DNS_NO_ADDR:
		return "no address";
	case DNS_TEMPFAIL:
		return "tempfail";
	default:
		return "?";
	}
}
