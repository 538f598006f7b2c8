/*
 * route: see route.h. The table is an array of routes sorted by match (bsearch for the exact domain,
 * each ".parent" suffix, then "*"), the default route built from relayhost, and an index of every hop
 * by id for route_report(), route_count() and carrying state over a reload.
 */
#include "mxd/delivery/route.h"

#include "db/route_hop.h"

#include "mxd/common/log.h"
#include "mxd/common/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUTE_LOG "qmgr"

enum route_circuit { CIRCUIT_CLOSED, CIRCUIT_OPEN, CIRCUIT_HALF_OPEN };

struct route_hop {
	int64_t id;
	struct db_route_nexthop nh;
	char nexthop[DB_ROUTE_NEXTHOP_MAX + 1];
	uint32_t weight, priority;
	char *auth_user, *auth_password; /* NULL without AUTH */
	bool allow_plaintext_auth;
	bool allow_unverified_tls;
	int64_t rate_delay_usec; /* between two deliveries through it (its rate cap); 0: none */
	struct db_route_schedule_step schedule[DB_ROUTE_SCHEDULE_STEPS]; /* weights from dates on */
	size_t nschedule;
	const struct route_entry *route;

	/* live state, carried over a reload */
	int64_t current; /* smooth weighted round-robin */
	enum route_circuit circuit;
	unsigned failures; /* consecutive */
	int64_t probe_at;  /* OPEN: a probe may go from then; HALF_OPEN: the probe is presumed lost then */
	uint64_t selected, sent, deferred, bounced; /* since the last flush */
	uint64_t throttled, conn_failures;          /* since the last flush */
};

struct route_entry {
	int64_t id;
	char match[DB_ROUTE_MATCH_MAX + 1];
	char tls_level[DB_ROUTE_TLS_LEVEL_MAX + 1]; /* resolved: the route's or the global level */
	struct route_hop *hops;                     /* by priority, then id */
	size_t nhops;
};

struct route_table {
	char *relayhost;
	char *default_tls_level;
	struct route_entry *routes; /* by match */
	size_t nroutes;
	struct route_entry deflt; /* relayhost: one hop, id 0 */
	struct route_hop **by_id; /* every hop of routes[], by id */
	size_t nhops;
	int64_t data_version;
};

static __thread char route_error[600];

static const char *const circuit_names[] = {"closed", "open", "half-open"};

static int route_fail(const char **error_r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int route_fail(const char **error_r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(route_error, sizeof(route_error), fmt, ap);
	va_end(ap);
	*error_r = route_error;
	return -1;
}

static void wipe_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void entry_clear(struct route_entry *e)
{
	for (size_t i = 0; i < e->nhops; i++) {
		free(e->hops[i].auth_user);
		wipe_free(e->hops[i].auth_password);
	}
	free(e->hops);
	e->hops = NULL;
	e->nhops = 0;
}

/* The parts of a table that a reload replaces. */
static void table_clear_rules(struct route_table *t)
{
	for (size_t i = 0; i < t->nroutes; i++)
		entry_clear(&t->routes[i]);
	free(t->routes);
	t->routes = NULL;
	t->nroutes = 0;
	entry_clear(&t->deflt);
	free(t->by_id);
	t->by_id = NULL;
	t->nhops = 0;
}

void route_table_free(struct route_table **tp)
{
	struct route_table *t = *tp;
	if (t == NULL)
		return;
	table_clear_rules(t);
	free(t->relayhost);
	free(t->default_tls_level);
	free(t);
	*tp = NULL;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct route_entry *)a)->match, ((const struct route_entry *)b)->match);
}

static int hop_order_cmp(const void *a, const void *b)
{
	const struct route_hop *x = a, *y = b;
	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int hop_id_cmp(const void *a, const void *b)
{
	const struct route_hop *x = *(struct route_hop *const *)a, *y = *(struct route_hop *const *)b;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* Copy the usable hops of a stored route into e (a hop whose next hop no longer parses is skipped). */
static void entry_from_db(struct route_entry *e, const struct db_route *r, const char *default_tls_level)
{
	const char *err;

	memset(e, 0, sizeof(*e));
	e->id = r->id;
	str_copy(e->match, sizeof(e->match), r->match);
	str_copy(e->tls_level, sizeof(e->tls_level),
	         r->tls_level[0] != '\0' ? r->tls_level : default_tls_level);
	e->hops = xcalloc(r->nhops, sizeof(*e->hops));
	for (size_t i = 0; i < r->nhops; i++) {
		const struct db_route_hop *src = &r->hops[i];
		struct route_hop *h = &e->hops[e->nhops];
		if (db_route_nexthop_parse(src->nexthop, &h->nh, &err) < 0) {
			log_warn(ROUTE_LOG, "route %s: skipping nexthop '%s' (id %lld): %s", r->match,
			         src->nexthop, (long long)src->id, err);
			continue;
		}
		h->id = src->id;
		db_route_nexthop_format(&h->nh, h->nexthop, sizeof(h->nexthop));
		h->weight = src->weight >= 1 ? src->weight : 1;
		h->priority = src->priority;
		if (src->auth_user[0] != '\0' && src->has_password) {
			h->auth_user = xstrdup(src->auth_user);
			h->auth_password = xstrdup(src->auth_password);
		}
		h->allow_plaintext_auth = src->allow_plaintext_auth;
		h->allow_unverified_tls = src->allow_unverified_tls;
		const char *rate_error;
		if (db_route_rate_parse(src->rate, &h->rate_delay_usec, NULL, &rate_error) < 0)
			h->rate_delay_usec = 0; /* (db_route_add_hop checked it) */
		if (db_route_schedule_parse(src->weight_schedule, h->schedule, &h->nschedule, &rate_error) <
		    0) {
			log_warn(ROUTE_LOG, "route %s: nexthop %s: weight schedule ignored: %s", r->match,
			         h->nexthop, rate_error);
			h->nschedule = 0;
		}
		e->nhops++;
	}
	qsort(e->hops, e->nhops, sizeof(*e->hops), hop_order_cmp);
}

/* Build the rules of a table from db into t (relayhost and default_tls_level set already). */
static int table_read(struct route_table *t, struct db *db, const char **error_r)
{
	struct db_route_nexthop nh;
	struct db_route *list;
	const char *err;
	size_t n;

	memset(&t->deflt, 0, sizeof(t->deflt));
	if (db_route_nexthop_parse(t->relayhost[0] != '\0' ? t->relayhost : "direct", &nh, &err) < 0)
		return route_fail(error_r, "relayhost '%s': %s", t->relayhost, err);
	if (db_route_data_version(db, &t->data_version, error_r) < 0 ||
	    db_route_list(db, DB_ROUTE_WITH_SECRETS, &list, &n, error_r) < 0)
		return -1;

	str_copy(t->deflt.match, sizeof(t->deflt.match), ROUTE_DEFAULT_MATCH);
	str_copy(t->deflt.tls_level, sizeof(t->deflt.tls_level), t->default_tls_level);
	t->deflt.hops = xcalloc(1, sizeof(*t->deflt.hops));
	t->deflt.nhops = 1;
	t->deflt.hops[0].nh = nh;
	t->deflt.hops[0].weight = 1;
	db_route_nexthop_format(&nh, t->deflt.hops[0].nexthop, sizeof(t->deflt.hops[0].nexthop));

	t->routes = xcalloc(n > 0 ? n : 1, sizeof(*t->routes));
	for (size_t i = 0; i < n; i++) {
		if (!list[i].active)
			continue;
		struct route_entry *e = &t->routes[t->nroutes];
		entry_from_db(e, &list[i], t->default_tls_level);
		if (e->nhops == 0) {
			log_warn(ROUTE_LOG, "route %s: no usable next hop, rule ignored", list[i].match);
			entry_clear(e);
			continue;
		}
		t->nroutes++;
		t->nhops += e->nhops;
	}
	db_route_list_free(&list, n);
	qsort(t->routes, t->nroutes, sizeof(*t->routes), entry_cmp);

	/* Back pointers and the id index (after the sort: entries moved). */
	t->by_id = xcalloc(t->nhops > 0 ? t->nhops : 1, sizeof(*t->by_id));
	size_t k = 0;
	for (size_t i = 0; i < t->nroutes; i++) {
		for (size_t j = 0; j < t->routes[i].nhops; j++) {
			t->routes[i].hops[j].route = &t->routes[i];
			t->by_id[k++] = &t->routes[i].hops[j];
		}
	}
	t->deflt.hops[0].route = &t->deflt;
	qsort(t->by_id, t->nhops, sizeof(*t->by_id), hop_id_cmp);
	return 0;
}

int route_table_load(struct db *db, const char *relayhost, const char *default_tls_level,
                     struct route_table **t_r, const char **error_r)
{
	const char *err;
	*t_r = NULL;
	if (default_tls_level == NULL || *default_tls_level == '\0')
		default_tls_level = "may";
	if (strcmp(default_tls_level, "default") == 0 ||
	    db_route_tls_level_valid(default_tls_level, &err) < 0)
		return route_fail(error_r,
		                  "smtp_tls_security_level '%s': expected none, may, encrypt or verify",
		                  default_tls_level);

	struct route_table *t = xcalloc(1, sizeof(*t));
	t->relayhost = xstrdup(relayhost != NULL ? relayhost : "");
	t->default_tls_level = xstrdup(default_tls_level);
	if (table_read(t, db, error_r) < 0) {
		route_table_free(&t);
		return -1;
	}
	*t_r = t;
	return 0;
}

static struct route_hop *hop_find(const struct route_table *t, int64_t hop_id)
{
	if (hop_id == 0)
		return (struct route_hop *)&t->deflt.hops[0];
	size_t lo = 0, hi = t->nhops;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->by_id[mid]->id == hop_id)
			return t->by_id[mid];
		if (t->by_id[mid]->id < hop_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void hop_carry_state(struct route_hop *to, const struct route_hop *from)
{
	to->current = from->current;
	to->circuit = from->circuit;
	to->failures = from->failures;
	to->probe_at = from->probe_at;
	to->selected = from->selected;
	to->sent = from->sent;
	to->deferred = from->deferred;
	to->bounced = from->bounced;
}

int route_table_changed(struct route_table *t, struct db *db, const char **error_r)
{
	int64_t version;
	if (db_route_data_version(db, &version, error_r) < 0)
		return -1;
	return version != t->data_version ? 1 : 0;
}

int route_table_reload(struct route_table *t, struct db *db, const char **error_r)
{
	struct route_table *fresh = xcalloc(1, sizeof(*fresh));
	fresh->relayhost = xstrdup(t->relayhost);
	fresh->default_tls_level = xstrdup(t->default_tls_level);
	if (table_read(fresh, db, error_r) < 0) {
		route_table_free(&fresh);
		return -1;
	}
	size_t kept = 0;
	for (size_t i = 0; i < fresh->nhops; i++) {
		struct route_hop *h = fresh->by_id[i];
		const struct route_hop *old = hop_find(t, h->id);
		/* A deleted hop's id may be reused: the same id with another next hop is a new hop. */
		if (old != NULL && strcmp(old->nexthop, h->nexthop) == 0) {
			hop_carry_state(h, old);
			kept++;
		}
	}
	hop_carry_state(&fresh->deflt.hops[0], &t->deflt.hops[0]);
	log_info(ROUTE_LOG, "routes reloaded: %zu rules, %zu next hops (%zu kept their state)",
	         fresh->nroutes, fresh->nhops, kept);

	/* Move fresh's rules into t, so that the caller's pointer stays valid. */
	table_clear_rules(t);
	t->routes = fresh->routes;
	t->nroutes = fresh->nroutes;
	t->deflt = fresh->deflt;
	t->by_id = fresh->by_id;
	t->nhops = fresh->nhops;
	t->data_version = fresh->data_version;
	t->deflt.hops[0].route = &t->deflt;
	memset(&fresh->deflt, 0, sizeof(fresh->deflt));
	fresh->routes = NULL;
	fresh->nroutes = 0;
	fresh->by_id = NULL;
	fresh->nhops = 0;
	route_table_free(&fresh);
	return 0;
}

static const struct route_entry *entry_find(const struct route_table *t, const char *pattern)
{
	struct route_entry key;
	if (str_copy(key.match, sizeof(key.match), pattern) < 0)
		return NULL;
	return bsearch(&key, t->routes, t->nroutes, sizeof(*t->routes), entry_cmp);
}

/* The most specific rule for domain (lower-case): exact, longest parent, "*", else the default. */
static const struct route_entry *route_match(const struct route_table *t, const char *domain)
{
	const struct route_entry *e;
	if (t->nroutes == 0)
		return &t->deflt;
	if (*domain != '\0' && (e = entry_find(t, domain)) != NULL)
		return e;
	for (const char *dot = strchr(domain, '.'); dot != NULL; dot = strchr(dot + 1, '.')) {
		if ((e = entry_find(t, dot)) != NULL)
			return e;
	}
	if ((e = entry_find(t, "*")) != NULL)
		return e;
	return &t->deflt;
}

static bool hop_has_circuit(const struct route_hop *h)
{
	return h->nh.kind != DB_ROUTE_NEXTHOP_DIRECT;
}

/* Pick a hop of e: the best priority group with a probe due or a closed circuit. NULL when none is
 * available; *retry_at_r then gets the earliest probe time. */
/* h's weight at time now: the last step of its schedule whose day has begun, else its own weight. */
static uint32_t hop_weight(const struct route_hop *h, int64_t now)
{
	uint32_t w = h->weight;
	for (size_t i = 0; i < h->nschedule && h->schedule[i].day <= now; i++)
		w = h->schedule[i].weight;
	return w;
}

static struct route_hop *entry_pick(const struct route_entry *e, int64_t now, bool *probe_r,
                                    int64_t *retry_at_r)
{
	int64_t retry_at = INT64_MAX;

	*probe_r = false;
	for (size_t i = 0; i < e->nhops;) {
		size_t end = i;
		while (end < e->nhops && e->hops[end].priority == e->hops[i].priority)
			end++;
		/* A probe that is due goes first: one selection, so the hop can prove itself. */
		for (size_t k = i; k < end; k++) {
			struct route_hop *h = &e->hops[k];
			if (h->circuit != CIRCUIT_CLOSED && now >= h->probe_at) {
				h->circuit = CIRCUIT_HALF_OPEN;
				h->probe_at = now + ROUTE_PROBE_COOLDOWN;
				*probe_r = true;
				log_info(ROUTE_LOG, "route %s: probing nexthop %s", e->match, h->nexthop);
				return h;
			}
		}
		/* Smooth weighted round-robin among the closed circuits of this priority, with each hop's
		 * weight as its schedule has it today. */
		struct route_hop *best = NULL;
		int64_t total = 0;
		for (size_t k = i; k < end; k++) {
			struct route_hop *h = &e->hops[k];
			if (h->circuit != CIRCUIT_CLOSED) {
				if (h->probe_at < retry_at)
					retry_at = h->probe_at;
				continue;
			}
			uint32_t w = hop_weight(h, now);
			h->current += w;
			total += w;
			if (best == NULL || h->current > best->current)
				best = h;
		}
		if (best != NULL) {
			best->current -= total;
			return best;
		}
		i = end;
	}
	*retry_at_r = retry_at;
	return NULL;
}

int route_select(struct route_table *t, const char *recipient_domain, int64_t now, struct route_choice *out,
                 int64_t *retry_at_r)
{
	char domain[ADDR_DOMAIN_MAX + 1];
	int64_t retry_at = 0;
	bool probe;

	str_copy(domain, sizeof(domain), recipient_domain != NULL ? recipient_domain : "");
	str_lower(domain);
	size_t len = strlen(domain);
	if (len > 0 && domain[len - 1] == '.')
		domain[len - 1] = '\0';

	const struct route_entry *e = route_match(t, domain);
	struct route_hop *h = entry_pick(e, now, &probe, &retry_at);
	memset(out, 0, sizeof(*out));
	if (h == NULL) {
		if (retry_at_r != NULL)
			*retry_at_r = retry_at;
		return 1;
	}
	h->selected++;
	out->kind = h->nh.kind;
	str_copy(out->host, sizeof(out->host), h->nh.kind == DB_ROUTE_NEXTHOP_DIRECT ? domain : h->nh.host);
	out->port = h->nh.port;
	if (h->auth_user != NULL) {
		str_copy(out->auth_user, sizeof(out->auth_user), h->auth_user);
		str_copy(out->auth_password, sizeof(out->auth_password), h->auth_password);
	}
	out->allow_plaintext_auth = h->allow_plaintext_auth;
	out->allow_unverified_tls = h->allow_unverified_tls;
	out->rate_delay_usec = h->rate_delay_usec;
	str_copy(out->tls_level, sizeof(out->tls_level), e->tls_level);
	str_copy(out->nexthop, sizeof(out->nexthop), h->nexthop);
	str_copy(out->match, sizeof(out->match), e->match);
	out->route_id = e->id;
	out->hop_id = h->id;
	out->probe = probe;
	return 0;
}

/* One more failure in a row of h's: open its circuit at the threshold, or again after a failed probe. */
static void hop_failed(struct route_hop *h, int64_t now, const char *what)
{
	if (h->failures < UINT32_MAX)
		h->failures++;
	if (h->circuit == CIRCUIT_HALF_OPEN) {
		h->circuit = CIRCUIT_OPEN;
		h->probe_at = now + ROUTE_PROBE_COOLDOWN;
		log_warn(ROUTE_LOG, "route %s: probe of nexthop %s failed (%s), next probe in %ds",
		         h->route->match, h->nexthop, what, ROUTE_PROBE_COOLDOWN);
	} else if (h->circuit == CIRCUIT_CLOSED && h->failures >= ROUTE_FAILURE_THRESHOLD) {
		h->circuit = CIRCUIT_OPEN;
		h->probe_at = now + ROUTE_PROBE_COOLDOWN;
		log_warn(ROUTE_LOG,
		         "route %s: nexthop %s unavailable after %u consecutive failures (%s), probe in %ds",
		         h->route->match, h->nexthop, h->failures, what, ROUTE_PROBE_COOLDOWN);
	}
}

void route_report(struct route_table *t, int64_t hop_id, bool ok, int64_t now)
{
	struct route_hop *h = hop_find(t, hop_id);
	if (h == NULL)
		return;
	if (!ok)
		h->conn_failures++;
	if (!hop_has_circuit(h))
		return;
	if (ok) {
		if (h->circuit != CIRCUIT_CLOSED)
			log_info(ROUTE_LOG, "route %s: nexthop %s available again", h->route->match,
			         h->nexthop);
		h->circuit = CIRCUIT_CLOSED;
		h->failures = 0;
		return;
	}
	hop_failed(h, now, "connection");
}

void route_report_throttled(struct route_table *t, int64_t hop_id, int64_t now)
{
	struct route_hop *h = hop_find(t, hop_id);
	if (h == NULL)
		return;
	h->throttled++;
	if (hop_has_circuit(h))
		hop_failed(h, now, "throttled");
}

void route_count(struct route_table *t, int64_t hop_id, enum route_outcome outcome)
{
	struct route_hop *h = hop_find(t, hop_id);
	if (h == NULL)
		return;
	switch (outcome) {
	case ROUTE_SENT:
		h->sent++;
		break;
	case ROUTE_DEFERRED:
		h->deferred++;
		break;
	case ROUTE_BOUNCED:
		h->bounced++;
		break;
	}
}

int route_stats_flush(struct route_table *t, struct db *db, const char **error_r)
{
	struct db_route_stats_delta *deltas = xcalloc(t->nhops > 0 ? t->nhops : 1, sizeof(*deltas));
	size_t n = 0;

	for (size_t i = 0; i < t->nhops; i++) {
		const struct route_hop *h = t->by_id[i];
		if (h->selected + h->sent + h->deferred + h->bounced + h->throttled + h->conn_failures == 0)
			continue;
		deltas[n++] = (struct db_route_stats_delta){.hop_id = h->id,
		                                            .nexthop = h->nexthop,
		                                            .selected = h->selected,
		                                            .sent = h->sent,
		                                            .deferred = h->deferred,
		                                            .bounced = h->bounced,
		                                            .throttled = h->throttled,
		                                            .conn_failures = h->conn_failures};
	}
	int ret = db_route_stats_add(db, deltas, n, error_r);
	free(deltas);
	if (ret < 0)
		return -1;
	for (size_t i = 0; i < t->nhops; i++) {
		struct route_hop *h = t->by_id[i];
		h->selected = h->sent = h->deferred = h->bounced = h->throttled = h->conn_failures = 0;
	}
	return 0;
}

void route_choice_clear(struct route_choice *choice)
{
	explicit_bzero(choice->auth_password, sizeof(choice->auth_password));
}

const char *route_hop_state(const struct route_table *t, int64_t hop_id)
{
	const struct route_hop *h = hop_find(t, hop_id);
	return h != NULL ? circuit_names[h->circuit] : NULL;
}
