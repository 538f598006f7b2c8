/* dns: lookups, their queries to unbound, MX and address stages, and the resolver itself; see dns.h.
 * Names are checked in dns_name.c, answers judged and results built in dns_result.c. */
#include "mxd/dns/dns_private.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <time.h>
#include <unbound.h>
#include <unistd.h>

#include "mxd/common/config.h"
#include "mxd/common/log.h"
#include "mxd/common/netaddr.h"
#include "mxd/common/util.h"

#define DNS_LOG "dns"

enum dns_kind { DNS_KIND_MX, DNS_KIND_ADDR, DNS_KIND_HOSTS, DNS_KIND_TXT };

/* Index of an address family in dns_host_state. */
enum { DNS_FAM_V6, DNS_FAM_V4, DNS_FAM_COUNT };

/* One question (name, type) handed to unbound. */
struct dns_query {
	struct dns *dns;
	struct dns_lookup *lookup; /* NULL once orphaned: unbound refused the cancel and will still answer */
	TAILQ_ENTRY(dns_query) entry;
	int async_id;
	int rrtype;
	size_t host; /* A/AAAA: index in lookup->result->hosts */
};
TAILQ_HEAD(dns_query_list, dns_query);

/* Address lookups of one host: the outcome per family and, for a failure, why. */
struct dns_host_state {
	enum dns_status status[DNS_FAM_COUNT]; /* OK, NXDOMAIN, NO_ADDR or TEMPFAIL */
	char *detail[DNS_FAM_COUNT];
};

struct dns_lookup {
	struct dns *dns;
	enum dns_kind kind;
	dns_callback *cb;
	void *ctx;
	struct dns_result *result;
	struct dns_host_state *states; /* one per result host once its addresses are asked for */
	size_t nstates;
	bool addr_stage;               /* address queries were started: the final status comes from them */
	bool finished;                 /* in dns->finished, waiting for dispatch */
	struct dns_query_list queries; /* outstanding */
	struct event *timer;
	TAILQ_ENTRY(dns_lookup) entry; /* in dns->running or dns->finished */
};
TAILQ_HEAD(dns_lookup_list, dns_lookup);

struct dns {
	struct event_base *base;
	struct ub_ctx *ub;
	struct event *ub_event; /* ub_fd() readable */
	struct event *dispatch; /* delivers dns->finished, one lookup per run */
	struct dns_lookup_list running;
	struct dns_lookup_list finished;
	struct dns_query_list orphans;
	unsigned timeout_msec;
	uint64_t rng;
	struct dns_stats stats;
};

static void lookup_check(struct dns_lookup *l);

/* --- small helpers ---------------------------------------------------------------------------- */

static uint64_t dns_random(struct dns *dns)
{
	/* xorshift64*: shuffling MX hosts needs spread, not secrecy. */
	uint64_t x = dns->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	dns->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* --- queries ---------------------------------------------------------------------------------- */

static void ub_answer_cb(void *arg, int err, struct ub_result *res);
static void mx_answered(struct dns_lookup *l, enum dns_status status, const char *why,
                        const struct ub_result *res);
static void addr_answered(struct dns_lookup *l, size_t host, int rrtype, enum dns_status status,
                          const char *why, const struct ub_result *res);
static void txt_answered(struct dns_lookup *l, enum dns_status status, const char *why,
                         const struct ub_result *res);

/* Record the outcome of a query that got no answer (resolver error, timeout). */
static void query_failed(struct dns_lookup *l, int rrtype, size_t host, const char *why)
{
	if (rrtype == DNS_TYPE_MX)
		mx_answered(l, DNS_TEMPFAIL, why, NULL);
	else if (rrtype == DNS_TYPE_TXT)
		txt_answered(l, DNS_TEMPFAIL, why, NULL);
	else
		addr_answered(l, host, rrtype, DNS_TEMPFAIL, why, NULL);
}

/* Ask unbound for (name, rrtype) on behalf of l. A failure to ask is recorded as a TEMPFAIL answer. */
static void query_start(struct dns_lookup *l, int rrtype, size_t host)
{
	struct dns *dns = l->dns;
	const char *name =
	    rrtype == DNS_TYPE_MX || rrtype == DNS_TYPE_TXT ? l->result->name : l->result->hosts[host].name;
	struct dns_query *q = xcalloc(1, sizeof(*q));
	q->dns = dns;
	q->lookup = l;
	q->rrtype = rrtype;
	q->host = host;
	int r = ub_resolve_async(dns->ub, name, rrtype, DNS_CLASS_IN, q, ub_answer_cb, &q->async_id);
	if (r != 0) {
		free(q);
		query_failed(l, rrtype, host, ub_strerror(r));
		return;
	}
	TAILQ_INSERT_TAIL(&l->queries, q, entry);
	dns->stats.queries++;
}

/* Withdraw q from unbound. If unbound no longer knows it (it cannot happen while its answer is
 * undelivered, but if it did) q waits as an orphan for the answer so its memory stays valid. */
static void query_cancel(struct dns_query *q)
{
	struct dns_lookup *l = q->lookup;
	TAILQ_REMOVE(&l->queries, q, entry);
	if (ub_cancel(q->dns->ub, q->async_id) == 0) {
		free(q);
		return;
	}
	q->lookup = NULL;
	TAILQ_INSERT_TAIL(&q->dns->orphans, q, entry);
}

/* An answer from unbound, called inside ub_process() in the event-loop thread. */
static void ub_answer_cb(void *arg, int err, struct ub_result *res)
{
	struct dns_query *q = arg;
	struct dns *dns = q->dns;
	struct dns_lookup *l = q->lookup;
	dns->stats.answers++;
	if (l == NULL) {
		TAILQ_REMOVE(&dns->orphans, q, entry);
	} else {
		TAILQ_REMOVE(&l->queries, q, entry);
		const char *why = NULL;
		enum dns_status status = dns_result_answer_status(err, res, &why);
		if (q->rrtype == DNS_TYPE_MX)
			mx_answered(l, status, why, res);
		else if (q->rrtype == DNS_TYPE_TXT)
			txt_answered(l, status, why, res);
		else
			addr_answered(l, q->host, q->rrtype, status, why, res);
	}
	free(q);
	ub_resolve_free(res);
	if (l != NULL)
		lookup_check(l);
}

static void ub_readable_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns *dns = arg;
	int r = ub_process(dns->ub);
	if (r != 0)
		log_error(DNS_LOG, "reading answers from the resolver thread: %s", ub_strerror(r));
}

/* --- MX --------------------------------------------------------------------------------------- */

struct dns_mx {
	unsigned preference;
	char name[DNS_NAME_MAX + 1];
};

/* Sort by preference, keeping the (shuffled) order of equal preferences: insertion sort is stable. */
static void mx_sort(struct dns_mx *mx, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		struct dns_mx tmp = mx[i];
		size_t j = i;
		for (; j > 0 && mx[j - 1].preference > tmp.preference; j--)
			mx[j] = mx[j - 1];
		mx[j] = tmp;
	}
}

/* Turn an MX answer into result hosts. Returns the status: OK, NULL_MX or TEMPFAIL (malformed). */
static enum dns_status mx_parse(struct dns_lookup *l, const struct ub_result *res)
{
	size_t n = 0, null_mx = 0, bad = 0;
	for (; res->data[n] != NULL; n++)
		;
	struct dns_mx *mx = xcalloc(n, sizeof(*mx));
	size_t good = 0;
	for (size_t i = 0; i < n; i++) {
		const unsigned char *d = (const unsigned char *)res->data[i];
		size_t len = (size_t)res->len[i];
		if (len < 3 || dns_name_from_wire(d + 2, len - 2, mx[good].name, sizeof(mx[good].name)) < 0) {
			bad++;
			continue;
		}
		if (mx[good].name[0] == '\0') {
			null_mx++; /* "." can take no mail; with other MX present it is ignored */
			continue;
		}
		mx[good++].preference = (unsigned)d[0] << 8 | d[1];
	}
	if (null_mx > 0 && good == 0 && bad == 0) {
		free(mx);
		return DNS_NULL_MX;
	}
	if (good == 0) {
		free(mx);
		return DNS_TEMPFAIL;
	}
	for (size_t i = good - 1; i > 0; i--) {
		size_t j = (size_t)(dns_random(l->dns) % (i + 1));
		struct dns_mx tmp = mx[i];
		mx[i] = mx[j];
		mx[j] = tmp;
	}
	mx_sort(mx, good);
	for (size_t i = 0; i < good && l->result->nhost < DNS_MAX_HOSTS; i++) {
		bool seen = false;
		for (size_t k = 0; k < l->result->nhost && !seen; k++)
			seen = strcmp(l->result->hosts[k].name, mx[i].name) == 0;
		if (!seen)
			dns_result_add_host(l->result, mx[i].name, mx[i].preference);
	}
	free(mx);
	return DNS_OK;
}

/* Ask for the addresses of every host in l's result. */
static void addr_stage_start(struct dns_lookup *l)
{
	struct dns_result *r = l->result;
	l->addr_stage = true;
	l->states = xcalloc(r->nhost, sizeof(*l->states));
	l->nstates = r->nhost;
	for (size_t i = 0; i < r->nhost; i++) {
		query_start(l, DNS_TYPE_AAAA, i);
		query_start(l, DNS_TYPE_A, i);
	}
}

static void mx_answered(struct dns_lookup *l, enum dns_status status, const char *why,
                        const struct ub_result *res)
{
	struct dns_result *r = l->result;
	if (status == DNS_OK) {
		status = mx_parse(l, res);
		if (status == DNS_TEMPFAIL)
			why = "malformed MX records";
		else if (status == DNS_NULL_MX)
			why = "domain accepts no mail (null MX)";
	} else if (status == DNS_NO_ADDR) {
		status = DNS_NO_MX;
	}
	if (l->kind == DNS_KIND_HOSTS && (status == DNS_OK || status == DNS_NO_MX)) {
		if (status == DNS_NO_MX) {
			r->implicit_mx = true;
			dns_result_add_host(r, r->name, 0);
		}
		addr_stage_start(l);
		return;
	}
	dns_result_set(r, status, status == DNS_OK ? NULL : dns_result_detail(r->name, DNS_TYPE_MX, why));
}

/* --- TXT -------------------------------------------------------------------------------------- */

/* Each TXT record's character-strings joined into one string (RFC 7208 3.3, RFC 6376 3.6.2.2); a record
 * whose strings overrun it, or that holds a NUL, is malformed. */
static enum dns_status txt_parse(struct dns_result *r, const struct ub_result *res)
{
	size_t n = 0;
	for (; res->data[n] != NULL; n++)
		;
	r->txts = xcalloc(n + 1, sizeof(*r->txts));
	for (size_t i = 0; i < n; i++) {
		const unsigned char *d = (const unsigned char *)res->data[i];
		size_t len = (size_t)res->len[i], at = 0, out = 0;
		char *text = xmalloc(len + 1);
		while (at < len) {
			size_t sl = d[at++];
			if (sl > len - at || memchr(d + at, '\0', sl) != NULL) {
				free(text);
				return DNS_TEMPFAIL;
			}
			memcpy(text + out, d + at, sl);
			out += sl;
			at += sl;
		}
		text[out] = '\0';
		r->txts[r->ntxt++] = text;
	}
	return DNS_OK;
}

static void txt_answered(struct dns_lookup *l, enum dns_status status, const char *why,
                         const struct ub_result *res)
{
	struct dns_result *r = l->result;
	if (status == DNS_OK && txt_parse(r, res) != DNS_OK) {
		status = DNS_TEMPFAIL;
		why = "malformed TXT record";
	}
	dns_result_set(r, status, status == DNS_OK ? NULL : dns_result_detail(r->name, DNS_TYPE_TXT, why));
}

/* --- addresses -------------------------------------------------------------------------------- */

static void host_add_addr(struct dns_host *h, int rrtype, const unsigned char *data)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (rrtype == DNS_TYPE_AAAA) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, data, 16);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, data, 4);
	}
	h->addrs = xrealloc(h->addrs, (h->naddr + 1) * sizeof(*h->addrs));
	h->addrs[h->naddr++] = ss;
}

static void addr_answered(struct dns_lookup *l, size_t host, int rrtype, enum dns_status status,
                          const char *why, const struct ub_result *res)
{
	struct dns_host *h = &l->result->hosts[host];
	size_t want = rrtype == DNS_TYPE_AAAA ? 16 : 4;
	if (status == DNS_OK) {
		size_t added = 0;
		for (size_t i = 0; res->data[i] != NULL; i++) {
			if ((size_t)res->len[i] != want)
				continue;
			if (h->naddr < DNS_MAX_ADDRS)
				host_add_addr(h, rrtype, (const unsigned char *)res->data[i]);
			added++;
		}
		if (added == 0) {
			status = DNS_TEMPFAIL;
			why = "malformed address records";
		}
	}
	struct dns_host_state *st = &l->states[host];
	int fam = rrtype == DNS_TYPE_AAAA ? DNS_FAM_V6 : DNS_FAM_V4;
	st->status[fam] = status;
	if (status != DNS_OK && st->detail[fam] == NULL)
		st->detail[fam] = dns_result_detail(h->name, rrtype, why);
}

/* Put IPv6 addresses before IPv4 ones, each in answer order. */
static void host_order_addrs(struct dns_host *h)
{
	if (h->naddr < 2)
		return;
	struct sockaddr_storage *sorted = xcalloc(h->naddr, sizeof(*sorted));
	size_t n = 0;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < h->naddr; i++)
			if ((h->addrs[i].ss_family == AF_INET6) == (pass == 0))
				sorted[n++] = h->addrs[i];
	free(h->addrs);
	h->addrs = sorted;
}

/* A host's status from its two address lookups; *detail_r gets the deciding failure's text. */
static enum dns_status host_status(const struct dns_host *h, const struct dns_host_state *st,
                                   const char **detail_r)
{
	*detail_r = NULL;
	if (h->naddr > 0)
		return DNS_OK;
	static const enum dns_status order[] = {DNS_TEMPFAIL, DNS_NXDOMAIN, DNS_NO_ADDR};
	for (size_t k = 0; k < MXD_ARRAY_SIZE(order); k++)
		for (int fam = 0; fam < DNS_FAM_COUNT; fam++)
			if (st->status[fam] == order[k]) {
				*detail_r = st->detail[fam];
				return order[k];
			}
	return DNS_NO_ADDR; /* both families answered with data none of which was kept: cannot happen */
}

/* Settle the result of an address stage from its hosts. */
static void addr_stage_finish(struct dns_lookup *l)
{
	struct dns_result *r = l->result;
	const char *first_detail[DNS_STATUS_COUNT] = {NULL};
	bool seen[DNS_STATUS_COUNT] = {false};
	for (size_t i = 0; i < r->nhost; i++) {
		struct dns_host *h = &r->hosts[i];
		const char *detail;
		host_order_addrs(h);
		h->status = host_status(h, &l->states[i], &detail);
		seen[h->status] = true;
		if (first_detail[h->status] == NULL)
			first_detail[h->status] = detail;
	}
	enum dns_status status;
	if (seen[DNS_OK])
		status = DNS_OK;
	else if (seen[DNS_TEMPFAIL])
		status = DNS_TEMPFAIL;
	else if (seen[DNS_NXDOMAIN] && (l->kind == DNS_KIND_ADDR || r->implicit_mx))
		status = DNS_NXDOMAIN;
	else
		status = DNS_NO_ADDR;
	char *detail = NULL;
	if (status != DNS_OK) {
		const char *why = first_detail[status];
		if (why == NULL) /* NO_ADDR over hosts that were NXDOMAIN */
			why = first_detail[DNS_NXDOMAIN];
		if (l->kind == DNS_KIND_HOSTS && !r->implicit_mx)
			detail = xasprintf("no MX host of %s has an address: %s", r->name, why ? why : "?");
		else
			detail = xstrdup(why ? why : "no address");
	}
	dns_result_set(r, status, detail);
}

/* --- lookups ---------------------------------------------------------------------------------- */

static void lookup_free(struct dns_lookup *l)
{
	struct dns_query *q;
	while ((q = TAILQ_FIRST(&l->queries)) != NULL)
		query_cancel(q);
	for (size_t i = 0; i < l->nstates; i++)
		for (int fam = 0; fam < DNS_FAM_COUNT; fam++)
			free(l->states[i].detail[fam]);
	free(l->states);
	if (l->timer != NULL)
		event_free(l->timer);
	dns_result_free(&l->result);
	free(l);
}

/* l has its answer: settle the result and queue it for the callback. */
static void lookup_finish(struct dns_lookup *l)
{
	struct dns *dns = l->dns;
	if (l->addr_stage)
		addr_stage_finish(l);
	evtimer_del(l->timer);
	TAILQ_REMOVE(&dns->running, l, entry);
	TAILQ_INSERT_TAIL(&dns->finished, l, entry);
	l->finished = true;
	event_active(dns->dispatch, 0, 0);
}

static void lookup_check(struct dns_lookup *l)
{
	if (!l->finished && TAILQ_EMPTY(&l->queries))
		lookup_finish(l);
}

static void lookup_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_lookup *l = arg;
	struct dns *dns = l->dns;
	char why[64];
	snprintf(why, sizeof(why), "no answer within %u ms", dns->timeout_msec);
	dns->stats.timeouts++;
	struct dns_query *q;
	while ((q = TAILQ_FIRST(&l->queries)) != NULL) {
		int rrtype = q->rrtype;
		size_t host = q->host;
		query_cancel(q);
		query_failed(l, rrtype, host, why);
	}
	/* A late MX failure may not start an address stage, so nothing is outstanding now. */
	lookup_check(l);
}

/* Deliver one finished lookup; re-arm first, as the callback may free dns. */
static void dispatch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns *dns = arg;
	struct dns_lookup *l = TAILQ_FIRST(&dns->finished);
	if (l == NULL)
		return;
	TAILQ_REMOVE(&dns->finished, l, entry);
	if (!TAILQ_EMPTY(&dns->finished))
		event_active(dns->dispatch, 0, 0);
	dns_callback *cb = l->cb;
	void *ctx = l->ctx;
	struct dns_result *result = l->result;
	l->result = NULL;
	dns->stats.running--;
	dns->stats.by_status[result->status]++;
	lookup_free(l);
	cb(result, ctx);
}

static struct dns_lookup *lookup_start(struct dns *dns, enum dns_kind kind, const char *name,
                                       dns_callback *cb, void *ctx)
{
	struct dns_lookup *l = xcalloc(1, sizeof(*l));
	l->dns = dns;
	l->kind = kind;
	l->cb = cb;
	l->ctx = ctx;
	l->result = xcalloc(1, sizeof(*l->result));
	l->result->name = dns_name_normalize(name);
	TAILQ_INIT(&l->queries);
	TAILQ_INSERT_TAIL(&dns->running, l, entry);
	dns->stats.lookups++;
	dns->stats.running++;

	l->timer = evtimer_new(dns->base, lookup_timeout_cb, l);
	if (l->timer == NULL)
		log_fatal(DNS_LOG, "cannot create a timer");
	struct timeval tv = {dns->timeout_msec / 1000, (dns->timeout_msec % 1000) * 1000};
	evtimer_add(l->timer, &tv);

	const char *error;
	int rrtype = kind == DNS_KIND_ADDR ? DNS_TYPE_A : kind == DNS_KIND_TXT ? DNS_TYPE_TXT : DNS_TYPE_MX;
	if (dns_name_check(l->result->name, &error) < 0) {
		dns_result_set(l->result, DNS_NXDOMAIN, dns_result_detail(l->result->name, rrtype, error));
	} else if (kind == DNS_KIND_ADDR) {
		dns_result_add_host(l->result, l->result->name, 0);
		addr_stage_start(l);
	} else {
		query_start(l, rrtype, 0);
	}
	lookup_check(l);
	return l;
}

struct dns_lookup *dns_lookup_mx(struct dns *dns, const char *domain, dns_callback *cb, void *ctx)
{
	return lookup_start(dns, DNS_KIND_MX, domain, cb, ctx);
}

struct dns_lookup *dns_lookup_addr(struct dns *dns, const char *host, dns_callback *cb, void *ctx)
{
	return lookup_start(dns, DNS_KIND_ADDR, host, cb, ctx);
}

struct dns_lookup *dns_lookup_txt(struct dns *dns, const char *name, dns_callback *cb, void *ctx)
{
	return lookup_start(dns, DNS_KIND_TXT, name, cb, ctx);
}

struct dns_lookup *dns_resolve_mx_hosts(struct dns *dns, const char *domain, dns_callback *cb, void *ctx)
{
	return lookup_start(dns, DNS_KIND_HOSTS, domain, cb, ctx);
}

void dns_cancel(struct dns_lookup **lookupp)
{
	struct dns_lookup *l = *lookupp;
	if (l == NULL)
		return;
	struct dns *dns = l->dns;
	TAILQ_REMOVE(l->finished ? &dns->finished : &dns->running, l, entry);
	dns->stats.cancelled++;
	dns->stats.running--;
	lookup_free(l);
	*lookupp = NULL;
}

/* --- the resolver ----------------------------------------------------------------------------- */

/* Configure the forwarders of a non-empty "resolver" setting. 0 or -1 with *error_r. */
static int dns_set_forwarders(struct ub_ctx *ub, const char *resolver, const char **error_r)
{
	static __thread char err[256];
	size_t n;
	char **list = config_list(resolver, &n);
	int ret = 0;
	for (size_t i = 0; i < n && ret == 0; i++) {
		struct sockaddr_storage ss;
		socklen_t len;
		const char *error;
		if (netaddr_parse(list[i], 53, &ss, &len, &error) < 0) {
			snprintf(err, sizeof(err), "resolver: %s: %s", list[i], error);
			ret = -1;
			break;
		}
		char host[NETADDR_STR_MAX], fwd[NETADDR_STR_MAX + 8];
		unsigned port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
		                                               : ((struct sockaddr_in *)&ss)->sin_port);
		snprintf(fwd, sizeof(fwd), "%s@%u", netaddr_str((struct sockaddr *)&ss, host, sizeof(host)),
		         port);
		int r = ub_ctx_set_fwd(ub, fwd);
		if (r != 0) {
			snprintf(err, sizeof(err), "resolver: %s: %s", list[i], ub_strerror(r));
			ret = -1;
		}
	}
	if (ret == 0 && n == 0) {
		snprintf(err, sizeof(err), "resolver: no address in \"%s\"", resolver);
		ret = -1;
	}
	config_list_free(&list);
	if (ret < 0)
		*error_r = err;
	return ret;
}

/* unbound's default local zones for addresses a site's own resolver may know (unbound.conf(5)):
 * RFC 1918, RFC 6598 (100.64.0.0/10), link-local, the documentation ranges, fd00::/8 (unbound's part of
 * fc00::/7), fe80::/10 and 2001:db8::/32. Loopback, "this network" and broadcast stay unbound's. */
static const char *const forwarded_reverse_zones[] = {
    "10.in-addr.arpa.",        "16.172.in-addr.arpa.",      "17.172.in-addr.arpa.",
    "18.172.in-addr.arpa.",    "19.172.in-addr.arpa.",      "20.172.in-addr.arpa.",
    "21.172.in-addr.arpa.",    "22.172.in-addr.arpa.",      "23.172.in-addr.arpa.",
    "24.172.in-addr.arpa.",    "25.172.in-addr.arpa.",      "26.172.in-addr.arpa.",
    "27.172.in-addr.arpa.",    "28.172.in-addr.arpa.",      "29.172.in-addr.arpa.",
    "30.172.in-addr.arpa.",    "31.172.in-addr.arpa.",      "168.192.in-addr.arpa.",
    "254.169.in-addr.arpa.",   "2.0.192.in-addr.arpa.",     "100.51.198.in-addr.arpa.",
    "113.0.203.in-addr.arpa.", "64.100.in-addr.arpa.",      "65.100.in-addr.arpa.",
    "66.100.in-addr.arpa.",    "67.100.in-addr.arpa.",      "68.100.in-addr.arpa.",
    "69.100.in-addr.arpa.",    "70.100.in-addr.arpa.",      "71.100.in-addr.arpa.",
    "72.100.in-addr.arpa.",    "73.100.in-addr.arpa.",      "74.100.in-addr.arpa.",
    "75.100.in-addr.arpa.",    "76.100.in-addr.arpa.",      "77.100.in-addr.arpa.",
    "78.100.in-addr.arpa.",    "79.100.in-addr.arpa.",      "80.100.in-addr.arpa.",
    "81.100.in-addr.arpa.",    "82.100.in-addr.arpa.",      "83.100.in-addr.arpa.",
    "84.100.in-addr.arpa.",    "85.100.in-addr.arpa.",      "86.100.in-addr.arpa.",
    "87.100.in-addr.arpa.",    "88.100.in-addr.arpa.",      "89.100.in-addr.arpa.",
    "90.100.in-addr.arpa.",    "91.100.in-addr.arpa.",      "92.100.in-addr.arpa.",
    "93.100.in-addr.arpa.",    "94.100.in-addr.arpa.",      "95.100.in-addr.arpa.",
    "96.100.in-addr.arpa.",    "97.100.in-addr.arpa.",      "98.100.in-addr.arpa.",
    "99.100.in-addr.arpa.",    "100.100.in-addr.arpa.",     "101.100.in-addr.arpa.",
    "102.100.in-addr.arpa.",   "103.100.in-addr.arpa.",     "104.100.in-addr.arpa.",
    "105.100.in-addr.arpa.",   "106.100.in-addr.arpa.",     "107.100.in-addr.arpa.",
    "108.100.in-addr.arpa.",   "109.100.in-addr.arpa.",     "110.100.in-addr.arpa.",
    "111.100.in-addr.arpa.",   "112.100.in-addr.arpa.",     "113.100.in-addr.arpa.",
    "114.100.in-addr.arpa.",   "115.100.in-addr.arpa.",     "116.100.in-addr.arpa.",
    "117.100.in-addr.arpa.",   "118.100.in-addr.arpa.",     "119.100.in-addr.arpa.",
    "120.100.in-addr.arpa.",   "121.100.in-addr.arpa.",     "122.100.in-addr.arpa.",
    "123.100.in-addr.arpa.",   "124.100.in-addr.arpa.",     "125.100.in-addr.arpa.",
    "126.100.in-addr.arpa.",   "127.100.in-addr.arpa.",     "d.f.ip6.arpa.",
    "8.e.f.ip6.arpa.",         "9.e.f.ip6.arpa.",           "a.e.f.ip6.arpa.",
    "b.e.f.ip6.arpa.",         "8.b.d.0.1.0.0.2.ip6.arpa.",
};

int dns_configure_unbound(struct ub_ctx *ub, const char *resolver, const char **error_r)
{
	static __thread char err[256];
	static const char *const options[][2] = {
	    /* Let forwarders and resolv.conf name a resolver on this host (127.0.0.1, ::1, 127.0.0.53). */
	    {"do-not-query-localhost:", "no"},
	    /* No trust anchor is configured, so no validator. */
	    {"module-config:", "iterator"},
	};
	const char *what = "resolver thread";
	int r = ub_ctx_async(ub, 1);
	for (size_t i = 0; r == 0 && i < MXD_ARRAY_SIZE(options); i++) {
		what = options[i][0];
		r = ub_ctx_set_option(ub, options[i][0], options[i][1]);
	}
	if (r == 0 && resolver[0] == '\0') {
		what = "/etc/resolv.conf";
		r = ub_ctx_resolvconf(ub, NULL);
	} else if (r == 0 && dns_set_forwarders(ub, resolver, error_r) < 0) {
		return -1;
	}
	/* The reverse zones of private, link-local and documentation ranges (RFC 6303, RFC 5737, RFC 3849,
	 * RFC 6598), which unbound answers itself (NXDOMAIN) unless told otherwise: they go to the resolver
	 * like any other name, so "ptr" and %{p} see the PTR records that a site's resolver (on EC2, the
	 * VPC's) publishes for its private addresses. A transparent zone without data is resolved normally.
	 */
	for (size_t i = 0; r == 0 && i < MXD_ARRAY_SIZE(forwarded_reverse_zones); i++) {
		what = forwarded_reverse_zones[i];
		r = ub_ctx_zone_add(ub, forwarded_reverse_zones[i], "transparent");
	}
	if (r == 0) {
		/* Finalizes the configuration, so that its errors show now rather than at the first lookup.
		 * RFC 6761 test names go to the resolver like any other (unbound answers them itself). */
		what = "local-zone test.";
		r = ub_ctx_zone_add(ub, "test.", "transparent");
	}
	if (r != 0) {
		snprintf(err, sizeof(err), "resolver: %s: %s", what, ub_strerror(r));
		*error_r = err;
		return -1;
	}
	return 0;
}

struct dns *dns_new(struct event_base *base, const char *resolver, const char **error_r)
{
	struct ub_ctx *ub = ub_ctx_create();
	if (ub == NULL) {
		*error_r = "resolver: libunbound cannot create a context";
		return NULL;
	}
	if (dns_configure_unbound(ub, resolver, error_r) < 0) {
		ub_ctx_delete(ub);
		return NULL;
	}

	struct dns *dns = xcalloc(1, sizeof(*dns));
	dns->base = base;
	dns->ub = ub;
	dns->timeout_msec = DNS_DEFAULT_TIMEOUT_MSEC;
	TAILQ_INIT(&dns->running);
	TAILQ_INIT(&dns->finished);
	TAILQ_INIT(&dns->orphans);
	if (getrandom(&dns->rng, sizeof(dns->rng), GRND_NONBLOCK) != (ssize_t)sizeof(dns->rng))
		dns->rng = (uint64_t)time_now_usec() ^ ((uint64_t)getpid() << 32);
	if (dns->rng == 0)
		dns->rng = 0x9E3779B97F4A7C15ULL;
	dns->ub_event = event_new(base, ub_fd(ub), EV_READ | EV_PERSIST, ub_readable_cb, dns);
	dns->dispatch = event_new(base, -1, 0, dispatch_cb, dns);
	if (dns->ub_event == NULL || dns->dispatch == NULL || event_add(dns->ub_event, NULL) < 0) {
		*error_r = "resolver: cannot watch the resolver thread's pipe";
		dns_free(&dns);
		return NULL;
	}
	return dns;
}

void dns_free(struct dns **dnsp)
{
	struct dns *dns = *dnsp;
	if (dns == NULL)
		return;
	if (dns->ub_event != NULL)
		event_free(dns->ub_event);
	if (dns->dispatch != NULL)
		event_free(dns->dispatch);
	/* After this unbound calls nothing back: its thread is gone and ub_process() never runs again. */
	ub_ctx_delete(dns->ub);
	dns->ub = NULL;
	struct dns_lookup_list *lists[] = {&dns->running, &dns->finished};
	for (size_t i = 0; i < MXD_ARRAY_SIZE(lists); i++) {
		struct dns_lookup *l;
		while ((l = TAILQ_FIRST(lists[i])) != NULL) {
			TAILQ_REMOVE(lists[i], l, entry);
			struct dns_query *q;
			while ((q = TAILQ_FIRST(&l->queries)) != NULL) {
				TAILQ_REMOVE(&l->queries, q, entry);
				free(q);
			}
			lookup_free(l);
		}
	}
	struct dns_query *q;
	while ((q = TAILQ_FIRST(&dns->orphans)) != NULL) {
		TAILQ_REMOVE(&dns->orphans, q, entry);
		free(q);
	}
	free(dns);
	*dnsp = NULL;
}

void dns_set_timeout(struct dns *dns, unsigned msec)
{
	dns->timeout_msec = msec > 0 ? msec : 1;
}

void dns_stats(const struct dns *dns, struct dns_stats *stats_r)
{
	*stats_r = dns->stats;
}
