/* msg_auth: prefetch of DKIM keys and DMARC records, then the verdicts; see msg_auth.h. */
#include "mxd/smtpd/msg_auth.h"

#include "mxd/common/log.h"
#include "mxd/common/util.h"
#include "mxd/dns/dns.h"
#include "mxd/smtpd/msg_header.h"
#include "mxd/smtpd/spf.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MSG_AUTH_DNS_TIMEOUT_MSEC 10000         /* as OpenDKIM's DNSTimeout */
#define MSG_AUTH_HEADER_MAX       (1024 * 1024) /* header octets read for signatures and From: */

struct msg_auth {
	struct event_base *base;
	struct dns *dns;
	struct dkim_verify *dkim;
};

/* One TXT lookup of a check: a key record or a DMARC record. */
struct auth_query {
	struct msg_auth_check *check;
	struct dns_lookup *lookup;
	char name[DKIM_VERIFY_DOMAIN_MAX * 2 + 16];
	enum dns_status status;
	char *txt; /* the record kept: a key's first TXT, or the one v=DMARC1 record */
	bool done;
};

enum { Q_DMARC, Q_DMARC_ORG, Q_KEYS };
#define MSG_AUTH_QUERIES (Q_KEYS + DKIM_VERIFY_SIGS_MAX)

struct msg_auth_check {
	struct msg_auth *ma;
	struct evbuffer *msg;
	size_t offset;
	char spf_domain[256];
	char spf_result[16];
	bool have_from, org_differs;
	char from_domain[256], org_domain[256];
	struct auth_query q[MSG_AUTH_QUERIES];
	size_t nkeys, pending;
	struct event *done_ev; /* runs the verdict from the loop when nothing was asked */
	msg_auth_cb *cb;
	void *ctx;
};

struct msg_auth *msg_auth_new(struct event_base *base, const char *resolver, const char *psl_path,
                              const char **error_r)
{
	if (dmarc_eval_init(psl_path, error_r) < 0)
		return NULL;
	struct dkim_verify *dkim = dkim_verify_new(error_r);
	if (dkim == NULL)
		return NULL;
	struct dns *dns = dns_new(base, resolver, error_r);
	if (dns == NULL) {
		dkim_verify_free(&dkim);
		return NULL;
	}
	dns_set_timeout(dns, MSG_AUTH_DNS_TIMEOUT_MSEC);
	struct msg_auth *ma = xcalloc(1, sizeof(*ma));
	ma->base = base;
	ma->dns = dns;
	ma->dkim = dkim;
	return ma;
}

void msg_auth_free(struct msg_auth **map)
{
	struct msg_auth *ma = *map;
	if (ma == NULL)
		return;
	dns_free(&ma->dns);
	dkim_verify_free(&ma->dkim);
	free(ma);
	*map = NULL;
}

static void check_free(struct msg_auth_check *c)
{
	for (size_t i = 0; i < MSG_AUTH_QUERIES; i++) {
		dns_cancel(&c->q[i].lookup);
		free(c->q[i].txt);
	}
	if (c->done_ev != NULL)
		event_free(c->done_ev);
	free(c);
}

void msg_auth_cancel(struct msg_auth_check **checkp)
{
	if (*checkp == NULL)
		return;
	check_free(*checkp);
	*checkp = NULL;
}

void msg_auth_result_free(struct msg_auth_result **rp)
{
	if (*rp == NULL)
		return;
	free((*rp)->sigs);
	free(*rp);
	*rp = NULL;
}

/* The one DMARC record among the TXT records of a _dmarc name (RFC 7489 6.6.3: more than one, none). */
static char *dmarc_record_of(const struct dns_result *r)
{
	char *found = NULL;
	for (size_t i = 0; i < r->ntxt; i++) {
		const char *t = r->txts[i];
		while (*t == ' ')
			t++;
		if (strncmp(t, "v=DMARC1", 8) != 0 || (t[8] != ';' && t[8] != ' ' && t[8] != '\0'))
			continue;
		if (found != NULL) {
			free(found);
			return NULL;
		}
		found = xstrdup(r->txts[i]);
	}
	return found;
}

/* Every answer is in: verify, judge, report. */
static void check_finish(struct msg_auth_check *c)
{
	struct msg_auth_result *res = xcalloc(1, sizeof(*res));
	struct dkim_verify_key keys[DKIM_VERIFY_SIGS_MAX];
	for (size_t i = 0; i < c->nkeys; i++) {
		struct auth_query *q = &c->q[Q_KEYS + i];
		keys[i] = (struct dkim_verify_key){q->name, q->status, q->txt != NULL ? q->txt : ""};
	}
	const char *error;
	if (dkim_verify_message(c->ma->dkim, c->msg, c->offset, keys, c->nkeys, &res->sigs, &res->nsig,
	                        &error) < 0)
		log_warn("smtpd", "DKIM verification: %s", error);

	struct dmarc_eval_input in = {0};
	if (c->have_from) {
		str_copy(res->from_domain, sizeof(res->from_domain), c->from_domain);
		in.from_domain = c->from_domain;
		const struct auth_query *d = &c->q[Q_DMARC], *o = &c->q[Q_DMARC_ORG];
		if (d->txt != NULL) {
			in.record = d->txt;
		} else if (d->status == DNS_TEMPFAIL) {
			in.record_tempfail = true;
		} else if (c->org_differs && o->txt != NULL) {
			in.record = o->txt;
			in.record_at_org = true;
		} else if (c->org_differs && o->status == DNS_TEMPFAIL) {
			in.record_tempfail = true;
		}
	}
	if (c->spf_domain[0] != '\0') {
		in.spf_domain = c->spf_domain;
		in.spf_result = c->spf_result;
	}
	in.sigs = res->sigs;
	in.nsig = res->nsig;
	dmarc_eval_run(&in, &res->dmarc);
	msg_auth_cb *cb = c->cb;
	void *ctx = c->ctx;
	check_free(c);
	cb(res, ctx);
}

static void query_done(struct dns_result *r, void *arg)
{
	struct auth_query *q = arg;
	struct msg_auth_check *c = q->check;
	q->lookup = NULL;
	q->done = true;
	q->status = r->status;
	if (r->status == DNS_OK) {
		if (q == &c->q[Q_DMARC] || q == &c->q[Q_DMARC_ORG])
			q->txt = dmarc_record_of(r);
		else
			q->txt = xstrdup(r->txts[0]);
	}
	dns_result_free(&r);
	if (--c->pending == 0)
		check_finish(c);
}

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
	check_finish(arg);
}

static void query_start(struct msg_auth_check *c, size_t i, const char *name)
{
	struct auth_query *q = &c->q[i];
	q->check = c;
	str_copy(q->name, sizeof(q->name), name);
	c->pending++;
	q->lookup = dns_lookup_txt(c->ma->dns, q->name, query_done, q);
}

/* Read the header: the DKIM keys to fetch and the From: domain. */
static void read_header(struct msg_auth_check *c)
{
	size_t total = evbuffer_get_length(c->msg);
	if (c->offset > total)
		c->offset = total;
	struct evbuffer_ptr eoh = evbuffer_search(c->msg, "\r\n\r\n", 4, NULL);
	size_t end = eoh.pos >= 0 ? (size_t)eoh.pos + 2 : total;
	if (end < c->offset)
		end = c->offset;
	if (end - c->offset > MSG_AUTH_HEADER_MAX)
		end = c->offset + MSG_AUTH_HEADER_MAX;
	const char *base = end > 0 ? (const char *)evbuffer_pullup(c->msg, (ssize_t)end) : "";
	const char *hdr = base + (end > 0 ? c->offset : 0);
	size_t len = end - c->offset, pos = 0;
	struct msg_field f;
	unsigned nfrom = 0;
	while (msg_header_next(hdr, len, &pos, &f) == 1) {
		if (msg_header_is(hdr, &f, "From")) {
			nfrom++;
			c->have_from = msg_header_from_domain(hdr + f.value_off, f.value_len, c->from_domain,
			                                      sizeof(c->from_domain)) == 0;
		} else if (msg_header_is(hdr, &f, "DKIM-Signature") && c->nkeys < DKIM_VERIFY_SIGS_MAX) {
			char d[DKIM_VERIFY_DOMAIN_MAX], s[DKIM_VERIFY_DOMAIN_MAX];
			if (msg_header_dkim_tags(hdr + f.value_off, f.value_len, d, sizeof(d), s, sizeof(s)) <
			    0)
				continue; /* libopendkim reports it as invalid */
			char name[DKIM_VERIFY_DOMAIN_MAX * 2 + 16];
			snprintf(name, sizeof(name), "%s._domainkey.%s", s, d);
			bool seen = false;
			for (size_t i = 0; i < c->nkeys && !seen; i++)
				seen = strcmp(c->q[Q_KEYS + i].name, name) == 0;
			if (!seen)
				str_copy(c->q[Q_KEYS + c->nkeys++].name, sizeof(c->q[0].name), name);
		}
	}
	if (nfrom != 1)
		c->have_from = false; /* RFC 7489 6.6.1: none or several From: fields */
}

struct msg_auth_check *msg_auth_start(struct msg_auth *ma, struct evbuffer *msg, size_t offset,
                                      const struct spf_result *spf, msg_auth_cb *cb, void *ctx)
{
	struct msg_auth_check *c = xcalloc(1, sizeof(*c));
	c->ma = ma;
	c->msg = msg;
	c->offset = offset;
	c->cb = cb;
	c->ctx = ctx;
	if (spf != NULL) {
		const char *id = spf->helo_identity ? spf->helo : spf->domain;
		str_copy(c->spf_domain, sizeof(c->spf_domain), id != NULL ? id : "");
		str_copy(c->spf_result, sizeof(c->spf_result), spf_status_str(spf->status));
	}
	read_header(c);
	char name[300];
	for (size_t i = 0; i < c->nkeys; i++) {
		str_copy(name, sizeof(name), c->q[Q_KEYS + i].name);
		query_start(c, Q_KEYS + i, name);
	}
	if (c->have_from) {
		snprintf(name, sizeof(name), "_dmarc.%s", c->from_domain);
		query_start(c, Q_DMARC, name);
		dmarc_eval_org_domain(c->from_domain, c->org_domain, sizeof(c->org_domain));
		c->org_differs = strcmp(c->org_domain, c->from_domain) != 0;
		if (c->org_differs) {
			snprintf(name, sizeof(name), "_dmarc.%s", c->org_domain);
			query_start(c, Q_DMARC_ORG, name);
		}
	}
	if (c->pending == 0) {
		c->done_ev = evtimer_new(ma->base, done_cb, c);
		struct timeval tv = {0, 0};
		evtimer_add(c->done_ev, &tv);
	}
	return c;
}
