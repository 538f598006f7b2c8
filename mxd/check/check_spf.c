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

/* A CIDR length from text ("24", "64/..."); -1 when it is none. */
static int cidr_len(const char *p)
{
	char *end;
	long v = strtol(p, &end, 10);
	return end == p || v < 0 || v > 128 ? -1 : (int)v;
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
			*b4 = cidr_len(slash + 1);
		const char *dbl = strstr(slash, "//");
		if (dbl != NULL)
			*b6 = cidr_len(dbl + 2);
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

void check_spf_term_parse(const char *t, const char *domain, struct spf_term *out)
{
	memset(out, 0, sizeof(*out));
	out->kind = SPF_TERM_OTHER;
	if (*t == '+' || *t == '-' || *t == '~' || *t == '?') {
		if (*t != '+')
			return; /* a fail or neutral mechanism authorizes nobody */
		t++;
	}
	const char *colon = strchr(t, ':'), *eq = strchr(t, '=');
	if (eq != NULL && (colon == NULL || eq < colon)) {
		if (strncasecmp(t, "redirect=", 9) == 0 && t[9] != '\0' &&
		    snprintf(out->domain, sizeof(out->domain), "%s", t + 9) < (int)sizeof(out->domain))
			out->kind = SPF_TERM_REDIRECT;
		return;
	}
	size_t nlen = strcspn(t, ":/");
	const char *arg = t[nlen] != '\0' ? t + nlen + (t[nlen] == ':') : NULL;
	if (nlen == 3 && (strncasecmp(t, "ip4", 3) == 0 || strncasecmp(t, "ip6", 3) == 0)) {
		char text[256];
		mech_target(arg, "", text, sizeof(text), &out->bits4, &out->bits6);
		int family = t[2] == '4' ? AF_INET : AF_INET6;
		void *dst = family == AF_INET ? (void *)&((struct sockaddr_in *)&out->net)->sin_addr
		                              : (void *)&((struct sockaddr_in6 *)&out->net)->sin6_addr;
		const char *slash = family == AF_INET6 && arg != NULL ? strchr(arg, '/') : NULL;
		if (family == AF_INET6) /* ip6: its one "/len" is the IPv6 length */
			out->bits6 = slash == NULL             ? 128
			             : cidr_len(slash + 1) < 0 ? 128
			                                       : cidr_len(slash + 1);
		if (inet_pton(family, text, dst) == 1) {
			out->net.ss_family = (sa_family_t)family;
			out->kind = SPF_TERM_NET;
		}
	} else if ((nlen == 1 && (t[0] == 'a' || t[0] == 'A')) ||
	           (nlen == 2 && strncasecmp(t, "mx", 2) == 0)) {
		mech_target(arg, domain, out->domain, sizeof(out->domain), &out->bits4, &out->bits6);
		if (out->domain[0] != '\0') /* "a:" names no domain: a syntax error, nobody authorized */
			out->kind = nlen == 1 ? SPF_TERM_A : SPF_TERM_MX;
	} else if (nlen == 7 && strncasecmp(t, "include", 7) == 0 && arg != NULL && arg[0] != '\0' &&
	           snprintf(out->domain, sizeof(out->domain), "%s", arg) < (int)sizeof(out->domain)) {
		out->kind = SPF_TERM_INCLUDE;
	}
}

static void term(struct spf_walk *w, const char *domain, const char *t, char *redirect, size_t size)
{
	struct spf_term st;
	check_spf_term_parse(t, domain, &st);
	if (st.kind == SPF_TERM_NET) {
		net_add(w, &st.net, st.bits4, st.bits6);
	} else if (st.kind == SPF_TERM_REDIRECT) {
		snprintf(redirect, size, "%s", st.domain);
	} else if (st.kind != SPF_TERM_OTHER && ++w->lookups <= SPF_LOOKUP_LIMIT) {
		struct dns_sync_answer mx;
		const char *detail;
		if (st.kind == SPF_TERM_A) {
			add_host(w, st.domain, st.bits4, st.bits6);
		} else if (st.kind == SPF_TERM_INCLUDE) {
			walk(w, st.domain, false, NULL);
		} else if (dns_sync_mx(w->ctx->dns, st.domain, &mx, &detail) == DNS_OK) {
			for (size_t i = 0; i < mx.n && i < 10; i++)
				add_host(w, mx.rr[i].text, st.bits4, st.bits6);
			dns_sync_answer_free(&mx);
		}
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
	char *copy = xstrdup(rec + 6), *save = NULL, redirect[256] = "";
	for (char *t = strtok_r(copy, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save))
		term(w, domain, t, redirect, sizeof(redirect));
	if (redirect[0] != '\0' && ++w->lookups <= SPF_LOOKUP_LIMIT)
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
