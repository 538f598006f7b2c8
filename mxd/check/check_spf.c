/* check_spf: does srs_domain's SPF record list every address of ours? (check_private.h)
 * The record is text from the DNS: read with care. Mechanisms ip4, ip6, a, mx, include and the redirect
 * modifier are followed (at most 10 lookups, as RFC 7208 4.6.4); the others match nothing here. */
#include "mxd/check/check_private.h"

#include "mxd/common/netaddr.h"
#include "mxd/common/util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SPF_LOOKUP_LIMIT 10

struct spf_net {
	struct sockaddr_storage addr;
	unsigned bits;
};

struct spf_walk {
	struct check_ctx *ctx;
	size_t nnet;
	struct spf_net *nets;
	int lookups;
	char error[256];
};

static void net_add(struct spf_walk *w, const struct sockaddr_storage *ss, int bits4, int bits6)
{
	w->nets = xrealloc(w->nets, (w->nnet + 1) * sizeof(*w->nets));
	w->nets[w->nnet].addr = *ss;
	w->nets[w->nnet++].bits = (unsigned)(ss->ss_family == AF_INET ? bits4 : bits6);
}

static bool net_match(const struct spf_net *n, const struct sockaddr_storage *ss)
{
	if (n->addr.ss_family != ss->ss_family)
		return false;
	const unsigned char *a, *b;
	unsigned max;
	if (ss->ss_family == AF_INET) {
		a = (const unsigned char *)&((const struct sockaddr_in *)&n->addr)->sin_addr;
		b = (const unsigned char *)&((const struct sockaddr_in *)ss)->sin_addr;
		max = 32;
	} else {
		a = ((const struct sockaddr_in6 *)&n->addr)->sin6_addr.s6_addr;
		b = ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
		max = 128;
	}
	unsigned bits = n->bits > max ? max : n->bits;
	for (unsigned i = 0; i < bits; i++) {
		unsigned char m = (unsigned char)(0x80 >> (i % 8));
		if ((a[i / 8] & m) != (b[i / 8] & m))
			return false;
	}
	return true;
}

/* "name/24//64" after a mechanism's ':' or '/': the domain (default dflt) and the CIDR lengths. */
static void mech_target(const char *arg, const char *dflt, char *dom, size_t size, int *b4, int *b6)
{
	*b4 = 32;
	*b6 = 128;
	const char *slash = arg != NULL ? strchr(arg, '/') : NULL;
	if (arg == NULL || arg == slash)
		snprintf(dom, size, "%s", dflt);
	else
		snprintf(dom, size, "%.*s", (int)(slash != NULL ? (size_t)(slash - arg) : strlen(arg)), arg);
	if (slash != NULL) {
		if (slash[1] != '/')
			*b4 = atoi(slash + 1);
		const char *dbl = strstr(slash, "//");
		if (dbl != NULL)
			*b6 = atoi(dbl + 2);
	}
	if (*b4 < 0 || *b4 > 32)
		*b4 = 32;
	if (*b6 < 0 || *b6 > 128)
		*b6 = 128;
}

static void add_host(struct spf_walk *w, const char *name, int b4, int b6)
{
	struct dns_sync_answer ans;
	const char *detail;
	if (dns_sync_addrs(w->ctx->dns, name, &ans, &detail) != DNS_OK)
		return;
	for (size_t i = 0; i < ans.n; i++)
		net_add(w, &ans.rr[i].addr, b4, b6);
	dns_sync_answer_free(&ans);
}

static int walk(struct spf_walk *w, const char *domain, bool top, char **record_r);

static void term(struct spf_walk *w, const char *domain, char *t, char **redirect)
{
	char dom[256];
	int b4, b6;
	if (*t == '+' || *t == '-' || *t == '~' || *t == '?') {
		if (*t != '+')
			return; /* a fail or neutral mechanism authorizes nobody */
		t++;
	}
	char *colon = strchr(t, ':'), *eq = strchr(t, '=');
	if (eq != NULL && (colon == NULL || eq < colon)) {
		if (strncasecmp(t, "redirect=", 9) == 0)
			*redirect = t + 9;
		return;
	}
	size_t nlen = strcspn(t, ":/");
	const char *arg = t[nlen] != '\0' ? t + nlen + (t[nlen] == ':') : NULL;
	if ((nlen == 3 && strncasecmp(t, "ip4", 3) == 0) || (nlen == 3 && strncasecmp(t, "ip6", 3) == 0)) {
		struct sockaddr_storage ss;
		socklen_t len;
		const char *err;
		mech_target(arg, "", dom, sizeof(dom), &b4, &b6);
		if (dom[0] != '\0' && netaddr_parse(dom, 0, &ss, &len, &err) == 0)
			net_add(w, &ss, b4, b6);
		else if (dom[0] != '\0' && t[2] == '6') {
			/* netaddr_parse wants brackets around an IPv6 address with a port; try it bare */
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
			memset(&ss, 0, sizeof(ss));
			s6->sin6_family = AF_INET6;
			if (inet_pton(AF_INET6, dom, &s6->sin6_addr) == 1)
				net_add(w, &ss, b4, b6);
		}
	} else if (nlen == 1 && (t[0] == 'a' || t[0] == 'A')) {
		if (++w->lookups > SPF_LOOKUP_LIMIT)
			return;
		mech_target(arg, domain, dom, sizeof(dom), &b4, &b6);
		add_host(w, dom, b4, b6);
	} else if (nlen == 2 && strncasecmp(t, "mx", 2) == 0) {
		if (++w->lookups > SPF_LOOKUP_LIMIT)
			return;
		mech_target(arg, domain, dom, sizeof(dom), &b4, &b6);
		struct dns_sync_answer mx;
		const char *detail;
		if (dns_sync_mx(w->ctx->dns, dom, &mx, &detail) == DNS_OK) {
			for (size_t i = 0; i < mx.n && i < 10; i++)
				add_host(w, mx.rr[i].text, b4, b6);
			dns_sync_answer_free(&mx);
		}
	} else if (nlen == 7 && strncasecmp(t, "include", 7) == 0 && arg != NULL) {
		if (++w->lookups <= SPF_LOOKUP_LIMIT)
			walk(w, arg, false, NULL);
	}
}

/* Collect the networks domain's record authorizes. record_r: the record of the top domain. */
static int walk(struct spf_walk *w, const char *domain, bool top, char **record_r)
{
	struct dns_sync_answer txt;
	const char *detail;
	enum dns_status st = dns_sync_txt(w->ctx->dns, domain, &txt, &detail);
	const char *rec = NULL;
	size_t found = 0;
	for (size_t i = 0; st == DNS_OK && i < txt.n; i++) {
		if (strncasecmp(txt.rr[i].text, "v=spf1", 6) == 0 &&
		    (txt.rr[i].text[6] == '\0' || txt.rr[i].text[6] == ' ')) {
			rec = txt.rr[i].text;
			found++;
		}
	}
	if (found != 1) {
		if (top)
			snprintf(w->error, sizeof(w->error), "%s",
			         found > 1            ? "more than one SPF record (a permerror): keep one"
			         : st == DNS_TEMPFAIL ? "the DNS did not answer"
			                              : "no SPF record");
		if (st == DNS_OK)
			dns_sync_answer_free(&txt);
		return -1;
	}
	if (record_r != NULL)
		*record_r = xstrdup(rec);
	char *copy = xstrdup(rec + 6), *save = NULL, *redirect = NULL;
	for (char *t = strtok_r(copy, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save))
		term(w, domain, t, &redirect);
	if (redirect != NULL && ++w->lookups <= SPF_LOOKUP_LIMIT)
		walk(w, redirect, false, NULL);
	free(copy);
	dns_sync_answer_free(&txt);
	return 0;
}

void check_spf(struct check_ctx *ctx)
{
	const char *domain = ctx->cfg->srs_domain;
	struct spf_walk w = {.ctx = ctx};
	char *record = NULL, addr[NETADDR_STR_MAX], *need = xstrdup("");
	size_t missing = 0;
	for (size_t i = 0; i < ctx->naddr; i++) {
		netaddr_str((const struct sockaddr *)&ctx->addrs[i], addr, sizeof(addr));
		char *next =
		    xasprintf("%s ip%c:%s", need, ctx->addrs[i].ss_family == AF_INET ? '4' : '6', addr);
		free(need);
		need = next;
	}
	if (walk(&w, domain, true, &record) < 0) {
		check_report_add(ctx->report, CHECK_FAIL, "spf", domain,
		                 "%s: publish %s. IN TXT \"v=spf1%s -all\"", w.error, domain, need);
		goto out;
	}
	for (size_t i = 0; i < ctx->naddr; i++) {
		bool ok = false;
		for (size_t k = 0; k < w.nnet && !ok; k++)
			ok = net_match(&w.nets[k], &ctx->addrs[i]);
		if (!ok) {
			netaddr_str((const struct sockaddr *)&ctx->addrs[i], addr, sizeof(addr));
			check_report_add(ctx->report, CHECK_FAIL, "spf", domain,
			                 "the SPF record does not list %s (%s): add ip%c:%s to \"%s\"", addr,
			                 ctx->addr_hosts[i], ctx->addrs[i].ss_family == AF_INET ? '4' : '6',
			                 addr, record);
			missing++;
		}
	}
	if (missing == 0)
		check_report_add(ctx->report, CHECK_OK, "spf", domain, "\"%s\" lists every host of ours",
		                 record);
out:
	free(need);
	free(record);
	free(w.nets);
}
