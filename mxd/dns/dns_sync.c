/* dns_sync: see dns_sync.h. */
#include "mxd/dns/dns_sync.h"

#include "mxd/common/util.h"
#include "mxd/dns/dns_private.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unbound.h>

#define DNS_TYPE_PTR 12
#define DNS_TYPE_TXT 16

struct dns_sync {
	struct ub_ctx *ub;
};

static __thread char sync_detail[512];

struct dns_sync *dns_sync_new(const char *resolver, const char **error_r)
{
	struct ub_ctx *ub = ub_ctx_create();
	if (ub == NULL) {
		*error_r = "resolver: libunbound cannot start";
		return NULL;
	}
	if (dns_configure_unbound(ub, resolver, error_r) < 0) {
		ub_ctx_delete(ub);
		return NULL;
	}
	struct dns_sync *ds = xcalloc(1, sizeof(*ds));
	ds->ub = ub;
	return ds;
}

void dns_sync_free(struct dns_sync **dsp)
{
	if (*dsp == NULL)
		return;
	ub_ctx_delete((*dsp)->ub);
	free(*dsp);
	*dsp = NULL;
}

void dns_sync_answer_free(struct dns_sync_answer *ans)
{
	for (size_t i = 0; i < ans->n; i++)
		free(ans->rr[i].text);
	free(ans->rr);
	ans->rr = NULL;
	ans->n = 0;
}

static struct dns_sync_rr *answer_add(struct dns_sync_answer *ans)
{
	ans->rr = xrealloc(ans->rr, (ans->n + 1) * sizeof(*ans->rr));
	struct dns_sync_rr *rr = &ans->rr[ans->n++];
	memset(rr, 0, sizeof(*rr));
	return rr;
}

static const char *type_text(int rrtype)
{
	switch (rrtype) {
	case DNS_TYPE_A:
		return "A";
	case DNS_TYPE_AAAA:
		return "AAAA";
	case DNS_TYPE_MX:
		return "MX";
	case DNS_TYPE_PTR:
		return "PTR";
	default:
		return "TXT";
	}
}

/* One record's data into ans; records that cannot be read are skipped. */
static void parse_rr(int rrtype, const unsigned char *d, size_t len, struct dns_sync_answer *ans)
{
	char name[DNS_NAME_MAX + 2];
	if (rrtype == DNS_TYPE_TXT) {
		char *text = xmalloc(len + 1);
		size_t o = 0, i = 0;
		while (i < len) {
			size_t l = d[i++];
			if (l > len - i || memchr(d + i, '\0', l) != NULL) {
				free(text);
				return;
			}
			memcpy(text + o, d + i, l);
			o += l;
			i += l;
		}
		text[o] = '\0';
		answer_add(ans)->text = text;
	} else if (rrtype == DNS_TYPE_PTR || rrtype == DNS_TYPE_MX) {
		size_t skip = rrtype == DNS_TYPE_MX ? 2 : 0;
		if (len <= skip || dns_name_from_wire(d + skip, len - skip, name, sizeof(name)) < 0)
			return;
		struct dns_sync_rr *rr = answer_add(ans);
		rr->text = xstrdup(name);
		rr->preference = rrtype == DNS_TYPE_MX ? (unsigned)d[0] << 8 | d[1] : 0;
	} else if ((rrtype == DNS_TYPE_A && len == 4) || (rrtype == DNS_TYPE_AAAA && len == 16)) {
		struct dns_sync_rr *rr = answer_add(ans);
		if (rrtype == DNS_TYPE_A) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&rr->addr;
			s4->sin_family = AF_INET;
			memcpy(&s4->sin_addr, d, 4);
		} else {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&rr->addr;
			s6->sin6_family = AF_INET6;
			memcpy(&s6->sin6_addr, d, 16);
		}
	}
}

static enum dns_status query(struct dns_sync *ds, const char *name, int rrtype, struct dns_sync_answer *ans,
                             const char **detail_r)
{
	const char *why = NULL;
	char *norm = dns_name_normalize(name);
	struct ub_result *res = NULL;
	enum dns_status st;
	if (dns_name_check(norm, &why) < 0) {
		st = DNS_NXDOMAIN;
	} else {
		int err = ub_resolve(ds->ub, norm, rrtype, DNS_CLASS_IN, &res);
		st = dns_result_answer_status(err, res, &why);
		if (st == DNS_OK) {
			size_t before = ans->n;
			for (size_t i = 0; res->data[i] != NULL; i++)
				parse_rr(rrtype, (const unsigned char *)res->data[i], (size_t)res->len[i],
				         ans);
			if (ans->n == before) {
				st = DNS_TEMPFAIL;
				why = "no record could be read";
			}
		}
	}
	if (st != DNS_OK) {
		snprintf(sync_detail, sizeof(sync_detail), "name=%s type=%s: %s", norm, type_text(rrtype),
		         st == DNS_NO_ADDR ? "no such record" : why);
		*detail_r = sync_detail;
	}
	if (res != NULL)
		ub_resolve_free(res);
	free(norm);
	return st;
}

enum dns_status dns_sync_txt(struct dns_sync *ds, const char *name, struct dns_sync_answer *ans_r,
                             const char **detail_r)
{
	memset(ans_r, 0, sizeof(*ans_r));
	return query(ds, name, DNS_TYPE_TXT, ans_r, detail_r);
}

static int mx_cmp(const void *a, const void *b)
{
	const struct dns_sync_rr *x = a, *y = b;
	return x->preference < y->preference   ? -1
	       : x->preference > y->preference ? 1
	                                       : strcmp(x->text, y->text);
}

enum dns_status dns_sync_mx(struct dns_sync *ds, const char *name, struct dns_sync_answer *ans_r,
                            const char **detail_r)
{
	memset(ans_r, 0, sizeof(*ans_r));
	enum dns_status st = query(ds, name, DNS_TYPE_MX, ans_r, detail_r);
	if (st == DNS_OK)
		qsort(ans_r->rr, ans_r->n, sizeof(*ans_r->rr), mx_cmp);
	return st;
}

enum dns_status dns_sync_addrs(struct dns_sync *ds, const char *name, struct dns_sync_answer *ans_r,
                               const char **detail_r)
{
	memset(ans_r, 0, sizeof(*ans_r));
	const char *d4 = NULL, *d6 = NULL;
	enum dns_status s4 = query(ds, name, DNS_TYPE_A, ans_r, &d4);
	char keep[sizeof(sync_detail)] = "";
	if (s4 != DNS_OK)
		str_copy(keep, sizeof(keep), d4);
	enum dns_status s6 = query(ds, name, DNS_TYPE_AAAA, ans_r, &d6);
	if (s4 == DNS_OK || s6 == DNS_OK)
		return DNS_OK;
	if (s4 == DNS_TEMPFAIL || s4 == DNS_NXDOMAIN) {
		str_copy(sync_detail, sizeof(sync_detail), keep);
		*detail_r = sync_detail;
		return s4;
	}
	*detail_r = d6;
	return s6;
}

enum dns_status dns_sync_ptr(struct dns_sync *ds, const struct sockaddr_storage *addr,
                             struct dns_sync_answer *ans_r, const char **detail_r)
{
	char name[80];
	size_t o = 0;
	memset(ans_r, 0, sizeof(*ans_r));
	if (addr->ss_family == AF_INET) {
		const unsigned char *a = (const unsigned char *)&((const struct sockaddr_in *)addr)->sin_addr;
		snprintf(name, sizeof(name), "%u.%u.%u.%u.in-addr.arpa", a[3], a[2], a[1], a[0]);
	} else {
		const unsigned char *a = ((const struct sockaddr_in6 *)addr)->sin6_addr.s6_addr;
		static const char hex[] = "0123456789abcdef";
		for (int i = 15; i >= 0; i--) {
			name[o++] = hex[a[i] & 15];
			name[o++] = '.';
			name[o++] = hex[a[i] >> 4];
			name[o++] = '.';
		}
		str_copy(name + o, sizeof(name) - o, "ip6.arpa");
	}
	return query(ds, name, DNS_TYPE_PTR, ans_r, detail_r);
}
