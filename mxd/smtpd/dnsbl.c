/* dnsbl: see dnsbl.h. */
#include "mxd/smtpd/dnsbl.h"

#include "mxd/common/config.h"
#include "mxd/common/util.h"
#include "mxd/dns/dns.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DNSBL_DOMAIN_MAX 200
#define DNSBL_SITES_MAX  64

struct dnsbl_site {
	char *domain;
	int weight;
	bool filtered;
	uint8_t octets[4][32]; /* filter: bit v of octets[i] set when octet i may be v */
};

struct dnsbl_sites {
	int refs;
	size_t n;
	struct dnsbl_site *site;
};

struct dnsbl_check {
	struct dnsbl_sites *sites;
	struct dns_lookup **lookups; /* one per site, NULL once answered */
	int *weights;                /* what each answered site added */
	void *actx_block;            /* the lookups' contexts, one allocation */
	size_t pending;
	dnsbl_callback *cb;
	void *ctx;
};

static __thread char dnsbl_err[300];

static int parse_uint(const char **p, unsigned max, unsigned *v_r)
{
	const char *s = *p;
	unsigned v = 0;
	if (*s < '0' || *s > '9')
		return -1;
	while (*s >= '0' && *s <= '9') {
		v = v * 10 + (unsigned)(*s - '0');
		if (v > max)
			return -1;
		s++;
	}
	*p = s;
	*v_r = v;
	return 0;
}

static void bits_set(uint8_t *bits, unsigned lo, unsigned hi)
{
	for (unsigned v = lo; v <= hi; v++)
		bits[v / 8] |= (uint8_t)(1u << (v % 8));
}

/* One octet pattern: "N" or "[N;A..B;...]". */
static int parse_octet(const char **p, uint8_t *bits)
{
	unsigned lo, hi;
	if (**p != '[') {
		if (parse_uint(p, 255, &lo) < 0)
			return -1;
		bits_set(bits, lo, lo);
		return 0;
	}
	(*p)++;
	for (;;) {
		if (parse_uint(p, 255, &lo) < 0)
			return -1;
		hi = lo;
		if ((*p)[0] == '.' && (*p)[1] == '.') {
			*p += 2;
			if (parse_uint(p, 255, &hi) < 0 || hi < lo)
				return -1;
		}
		bits_set(bits, lo, hi);
		if (**p == ']') {
			(*p)++;
			return 0;
		}
		if (**p != ';')
			return -1;
		(*p)++;
	}
}

static int parse_filter(const char **p, struct dnsbl_site *site)
{
	site->filtered = true;
	for (int i = 0; i < 4; i++) {
		if (i > 0 && *(*p)++ != '.')
			return -1;
		if (parse_octet(p, site->octets[i]) < 0)
			return -1;
	}
	return 0;
}

static int parse_weight(const char **p, int *weight_r)
{
	bool neg = **p == '-';
	unsigned v;
	if (neg)
		(*p)++;
	if (parse_uint(p, 100000, &v) < 0)
		return -1;
	*weight_r = neg ? -(int)v : (int)v;
	return 0;
}

static bool domain_ok(const char *d, size_t len)
{
	if (len == 0 || len > DNSBL_DOMAIN_MAX || d[0] == '.' || d[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = d[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		          c == '-' || c == '_' || c == '.';
		if (!ok || (c == '.' && d[i + 1] == '.'))
			return false;
	}
	return true;
}

static int parse_item(const char *item, struct dnsbl_site *site)
{
	size_t dlen = strcspn(item, "=*");
	if (!domain_ok(item, dlen))
		return -1;
	site->domain = xstrndup(item, dlen);
	for (size_t i = 0; i < dlen; i++)
		if (site->domain[i] >= 'A' && site->domain[i] <= 'Z')
			site->domain[i] = (char)(site->domain[i] - 'A' + 'a');
	site->weight = 1;
	const char *p = item + dlen;
	if (*p == '=') {
		p++;
		if (parse_filter(&p, site) < 0)
			return -1;
	}
	if (*p == '*') {
		p++;
		if (parse_weight(&p, &site->weight) < 0)
			return -1;
	}
	return *p == '\0' ? 0 : -1;
}

int dnsbl_sites_parse(const char *text, struct dnsbl_sites **sites_r, const char **error_r)
{
	size_t n;
	char **items = config_list(text, &n);
	struct dnsbl_sites *sites = xcalloc(1, sizeof(*sites));
	sites->refs = 1;
	if (n > DNSBL_SITES_MAX) {
		snprintf(dnsbl_err, sizeof(dnsbl_err), "postscreen_dnsbl_sites: more than %d sites",
		         DNSBL_SITES_MAX);
		goto fail;
	}
	sites->site = xcalloc(n > 0 ? n : 1, sizeof(*sites->site));
	for (size_t i = 0; i < n; i++) {
		if (parse_item(items[i], &sites->site[sites->n++]) < 0) {
			snprintf(dnsbl_err, sizeof(dnsbl_err),
			         "postscreen_dnsbl_sites: bad item '%.100s' (want domain[=d.d.d.d][*weight], "
			         "d a number or [a..b;c])",
			         items[i]);
			goto fail;
		}
	}
	config_list_free(&items);
	*sites_r = sites;
	return 0;
fail:
	config_list_free(&items);
	dnsbl_sites_unref(&sites);
	*error_r = dnsbl_err;
	return -1;
}

struct dnsbl_sites *dnsbl_sites_ref(struct dnsbl_sites *sites)
{
	sites->refs++;
	return sites;
}

void dnsbl_sites_unref(struct dnsbl_sites **sitesp)
{
	struct dnsbl_sites *sites = *sitesp;
	*sitesp = NULL;
	if (sites == NULL || --sites->refs > 0)
		return;
	for (size_t i = 0; i < sites->n; i++)
		free(sites->site[i].domain);
	free(sites->site);
	free(sites);
}

size_t dnsbl_sites_count(const struct dnsbl_sites *sites)
{
	return sites != NULL ? sites->n : 0;
}

const char *dnsbl_site_domain(const struct dnsbl_sites *sites, size_t i)
{
	return sites->site[i].domain;
}

static bool bit(const uint8_t *bits, unsigned v)
{
	return (bits[v / 8] >> (v % 8)) & 1u;
}

int dnsbl_site_weight(const struct dnsbl_sites *sites, size_t i, const struct sockaddr_storage *addrs,
                      size_t naddr)
{
	const struct dnsbl_site *site = &sites->site[i];
	for (size_t k = 0; k < naddr; k++) {
		if (addrs[k].ss_family != AF_INET)
			continue;
		const uint8_t *a = (const uint8_t *)&((const struct sockaddr_in *)&addrs[k])->sin_addr;
		if (!site->filtered || (bit(site->octets[0], a[0]) && bit(site->octets[1], a[1]) &&
		                        bit(site->octets[2], a[2]) && bit(site->octets[3], a[3])))
			return site->weight;
	}
	return 0;
}

int dnsbl_query_name(const struct sockaddr *client, const char *domain, char *buf, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	char rev[80];
	size_t len = 0;
	const uint8_t *a;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)client;
	if (client->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		a = sin6->sin6_addr.s6_addr + 12;
		len = (size_t)snprintf(rev, sizeof(rev), "%u.%u.%u.%u", a[3], a[2], a[1], a[0]);
	} else if (client->sa_family == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)client)->sin_addr;
		len = (size_t)snprintf(rev, sizeof(rev), "%u.%u.%u.%u", a[3], a[2], a[1], a[0]);
	} else if (client->sa_family == AF_INET6) {
		a = sin6->sin6_addr.s6_addr;
		for (int i = 15; i >= 0; i--) {
			rev[len++] = hex[a[i] & 15];
			rev[len++] = '.';
			rev[len++] = hex[a[i] >> 4];
			rev[len++] = i > 0 ? '.' : '\0';
		}
		len--;
	} else {
		return -1;
	}
	int n = snprintf(buf, size, "%.*s.%s", (int)len, rev, domain);
	return n > 0 && (size_t)n < size ? 0 : -1;
}

static void check_answer(struct dns_result *res, void *ctx);

/* The lookups carry the check and the site's index: one small record each. */
struct dnsbl_answer_ctx {
	struct dnsbl_check *check;
	size_t site;
};

struct dnsbl_check *dnsbl_check_start(struct dns *dns, struct dnsbl_sites *sites,
                                      const struct sockaddr *client, dnsbl_callback *cb, void *ctx)
{
	struct dnsbl_check *c = xcalloc(1, sizeof(*c));
	c->sites = dnsbl_sites_ref(sites);
	c->lookups = xcalloc(sites->n, sizeof(*c->lookups));
	c->weights = xcalloc(sites->n, sizeof(*c->weights));
	c->cb = cb;
	c->ctx = ctx;
	struct dnsbl_answer_ctx *actx = xcalloc(sites->n, sizeof(*actx));
	c->actx_block = actx;
	for (size_t i = 0; i < sites->n; i++) {
		char name[300];
		actx[i].check = c;
		actx[i].site = i;
		if (dnsbl_query_name(client, sites->site[i].domain, name, sizeof(name)) < 0)
			str_copy(name, sizeof(name), "-"); /* not a name: answered NXDOMAIN, asynchronously */
		c->pending++;
		c->lookups[i] = dns_lookup_addr(dns, name, check_answer, &actx[i]);
	}
	return c;
}

static void check_answer(struct dns_result *res, void *ctx)
{
	struct dnsbl_answer_ctx *actx = ctx;
	struct dnsbl_check *c = actx->check;
	c->lookups[actx->site] = NULL;
	if (res->status == DNS_OK && res->nhost > 0)
		c->weights[actx->site] =
		    dnsbl_site_weight(c->sites, actx->site, res->hosts[0].addrs, res->hosts[0].naddr);
	dns_result_free(&res);
	if (--c->pending == 0)
		c->cb(c->ctx);
}

int dnsbl_check_score(const struct dnsbl_check *c, const char **site_r)
{
	int score = 0, best = 0;
	*site_r = NULL;
	for (size_t i = 0; i < c->sites->n; i++) {
		score += c->weights[i];
		if (c->weights[i] > best) {
			best = c->weights[i];
			*site_r = c->sites->site[i].domain;
		}
	}
	return score;
}

bool dnsbl_check_done(const struct dnsbl_check *c)
{
	return c->pending == 0;
}

void dnsbl_check_free(struct dnsbl_check **cp)
{
	struct dnsbl_check *c = *cp;
	if (c == NULL)
		return;
	*cp = NULL;
	for (size_t i = 0; i < c->sites->n; i++)
		dns_cancel(&c->lookups[i]);
	free(c->actx_block);
	free(c->lookups);
	free(c->weights);
	dnsbl_sites_unref(&c->sites);
	free(c);
}
