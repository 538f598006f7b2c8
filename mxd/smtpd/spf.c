/* spf: see spf.h. */
#include "mxd/smtpd/spf.h"

#include "mxd/smtpd/client_count.h"

#include "mxd/dns/dns.h"

#include "mxd/common/config.h"
#include "mxd/common/log.h"
#include "mxd/common/netaddr.h"
#include "mxd/common/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <unbound.h>
#include <unistd.h>

#include <spf2/spf.h>
#include <spf2/spf_dns.h>
#include <spf2/spf_record.h>

#define SPF_LOG       "spf"
#define POLL_SLICE_MS 100 /* how often a waiting lookup looks at the stop flag */
#define DNS_NAME_MAX  253
#define DNS_LABEL_MAX 63
/* Our explanation when the domain gives none (the SPF macro language: %_ is a space). */
#define DEFAULT_EXPLANATION "%{o}%_does%_not%_designate%_%{c}%_as%_permitted%_sender"

enum check_state { CHECK_QUEUED, CHECK_RUNNING, CHECK_DONE };

struct spf_check {
	struct spf *spf;
	spf_callback *cb;
	void *ctx;
	int family;
	struct in_addr v4;
	struct in6_addr v6;
	char *helo, *sender;
	struct spf_result *result;
	enum check_state state; /* under spf->lock */
	bool cancelled;         /* under spf->lock */
	int64_t deadline;       /* monotonic msec by which the whole check ends (from the queueing) */
	struct client_count *client; /* event loop: its count against max_client_checks (NULL: none) */
	bool counted;                /* event loop: counted in spf->inflight */
	bool timed_out;         /* worker: a lookup ran out of time */
	struct spf_check *next;
};

/* A lookup handed to unbound. Its callback may still come after we stopped waiting (the answer was
 * already in the pipe when we cancelled): then it stays on the worker's orphan list until it has. */
struct ub_wait {
	bool done, orphan;
	int err;
	struct ub_result *res;
	struct ub_wait *next;
};

struct spf_worker {
	struct spf *spf;
	pthread_t thread;
	bool started;
	struct ub_ctx *ub;
	SPF_server_t *server;
	SPF_dns_server_t *layer; /* the server's DNS layer */
	struct spf_check *check; /* running */
	struct ub_wait *orphans;
};

struct spf {
	struct event_base *base;
	int efd;
	struct event *done_ev;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct spf_check *queue, **queue_tail;
	struct spf_check *done, **done_tail;
	atomic_bool stopping;
	struct spf_worker *workers;
	unsigned nworkers;
	unsigned lookup_timeout_msec, check_timeout_msec;
	/* the bounds on checks in flight: event-loop thread only */
	struct client_count_table *clients;
	unsigned inflight, max_checks, max_client_checks, ipv6_prefix;
};

/* --- text -------------------------------------------------------------------------------------- */

/* A copy of s with every octet outside printable ASCII replaced by '?'. */
static char *printable(const char *s)
{
	char *copy = xstrdup(s);
	for (char *p = copy; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	return copy;
}

const char *spf_status_str(enum spf_status status)
{
	static const char *const names[] = {"none",     "neutral",   "pass",     "fail",
	                                    "softfail", "temperror", "permerror"};
	return (unsigned)status < MXD_ARRAY_SIZE(names) ? names[status] : "permerror";
}

/* Could name be looked up: printable ASCII without '\' (unbound's escape), labels of 1-63 octets,
 * 253 octets in all? */
static bool name_ok(const char *name)
{
	size_t len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > DNS_NAME_MAX)
		return false;
	size_t label = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (c <= 0x20 || c > 0x7e || c == '\\' || ++label > DNS_LABEL_MAX) {
			return false;
		}
	}
	return label > 0;
}

/* Is domain one whose policy can be looked up (RFC 7208 4.3): a multi-label name of letters, digits,
 * '-' and '_' whose last label is not numeric? Address literals and U-labels are not. */
static bool identity_domain_ok(const char *domain)
{
	if (!name_ok(domain) || strchr(domain, '.') == NULL)
		return false;
	bool numeric = true;
	for (const char *p = domain; *p != '\0'; p++) {
		if (*p == '.')
			numeric = true;
		else if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return false;
		else if (!isdigit((unsigned char)*p))
			numeric = false;
	}
	return !numeric;
}

/* --- the DNS layer libspf2 calls (worker threads) ----------------------------------------------- */

static void ub_answer(void *arg, int err, struct ub_result *res)
{
	struct ub_wait *wait = arg;
	wait->done = true;
	wait->err = err;
	if (wait->orphan) {
		if (res != NULL)
			ub_resolve_free(res);
		return;
	}
	wait->res = res;
}

static void orphans_sweep(struct spf_worker *w, bool all)
{
	for (struct ub_wait **pp = &w->orphans; *pp != NULL;) {
		struct ub_wait *o = *pp;
		if (all || o->done) {
			*pp = o->next;
			free(o);
		} else {
			pp = &o->next;
		}
	}
}

/* Ask unbound for (name, type) and wait, at most until the lookup's or the check's deadline. Returns
 * the answer (free with ub_resolve_free) or NULL after a timeout, a stop or a resolver error. */
static struct ub_result *resolve(struct spf_worker *w, const char *name, int type)
{
	struct spf *spf = w->spf;
	struct spf_check *c = w->check;
	int64_t now = time_mono_msec();
	int64_t deadline = now + spf->lookup_timeout_msec;
	if (deadline > c->deadline)
		deadline = c->deadline;
	orphans_sweep(w, false);
	if (atomic_load(&spf->stopping) || now >= deadline) {
		c->timed_out = true;
		return NULL;
	}
	struct ub_wait *wait = xcalloc(1, sizeof(*wait));
	int id;
	int r = ub_resolve_async(w->ub, name, type, 1 /* IN */, wait, ub_answer, &id);
	if (r != 0) {
		log_debug(SPF_LOG, "lookup %s type %d: %s", name, type, ub_strerror(r));
		free(wait);
		return NULL;
	}
	while (!wait->done) {
		now = time_mono_msec();
		if (atomic_load(&spf->stopping) || now >= deadline) {
			c->timed_out = true;
			if (ub_cancel(w->ub, id) == 0) {
				free(wait);
			} else {
				wait->orphan = true;
				wait->next = w->orphans;
				w->orphans = wait;
			}
			return NULL;
		}
		int64_t slice = deadline - now < POLL_SLICE_MS ? deadline - now : POLL_SLICE_MS;
		struct pollfd pfd = {.fd = ub_fd(w->ub), .events = POLLIN};
		if (poll(&pfd, 1, (int)slice) > 0 && ub_process(w->ub) != 0)
			log_warn(SPF_LOG, "reading answers from the resolver thread failed");
	}
	struct ub_result *res = wait->res;
	if (wait->err != 0)
		log_debug(SPF_LOG, "lookup %s type %d: %s", name, type, ub_strerror(wait->err));
	free(wait);
	return res;
}

/* The uncompressed wire-format name data[0..len) as text without the final dot into out. 0, or -1 when
 * malformed, the root, or holding octets names cannot have. */
static int wire_name(const unsigned char *data, size_t len, char *out, size_t size)
{
	size_t pos = 0, o = 0;
	for (;;) {
		if (pos >= len)
			return -1;
		size_t label = data[pos++];
		if (label == 0)
			break;
		if (label > DNS_LABEL_MAX || pos + label > len)
			return -1;
		if (o != 0)
			out[o++] = '.';
		for (size_t i = 0; i < label; i++) {
			unsigned char c = data[pos++];
			if (c <= 0x20 || c > 0x7e || c == '\\' || o + 2 >= size)
				return -1;
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	return o > 0 ? 0 : -1;
}

/* One answer record in libspf2's form: the next slot of rr, or nothing when it does not parse. */
static void rr_add(SPF_dns_rr_t *rr, int type, const unsigned char *data, size_t len)
{
	char text[DNS_NAME_MAX + 2];
	int i = rr->num_rr;
	switch (type) {
	case ns_t_a:
		if (len != sizeof(struct in_addr) || SPF_dns_rr_buf_realloc(rr, i, len) != SPF_E_SUCCESS)
			return;
		memcpy(&rr->rr[i]->a, data, len);
		break;
	case ns_t_aaaa:
		if (len != sizeof(struct in6_addr) || SPF_dns_rr_buf_realloc(rr, i, len) != SPF_E_SUCCESS)
			return;
		memcpy(&rr->rr[i]->aaaa, data, len);
		break;
	case ns_t_mx:
	case ns_t_ptr: {
		size_t skip = type == ns_t_mx ? 2 : 0; /* MX: the preference comes first */
		if (len <= skip || wire_name(data + skip, len - skip, text, sizeof(text)) < 0 ||
		    SPF_dns_rr_buf_realloc(rr, i, strlen(text) + 1) != SPF_E_SUCCESS)
			return;
		strcpy(type == ns_t_mx ? rr->rr[i]->mx : rr->rr[i]->ptr, text);
		break;
	}
	case ns_t_txt: {
		/* the character-strings of one record, joined (RFC 7208 3.3) */
		char *joined = xmalloc(len + 1);
		size_t pos = 0, o = 0;
		while (pos < len) {
			size_t n = data[pos++];
			if (n > len - pos)
				n = len - pos;
			memcpy(joined + o, data + pos, n);
			o += n;
			pos += n;
		}
		joined[o] = '\0';
		/* libspf2 (1.2.10) reads a literal space in an explanation (exp=) as a broken '%' escape:
		 * hand it every TXT record that is not an SPF record with its spaces written as the macro
		 * "%_", which means the same (RFC 7208 7.1). SPF records go through unchanged. */
		bool spf_record =
		    strncasecmp(joined, "v=spf1", 6) == 0 && (joined[6] == ' ' || joined[6] == '\0');
		size_t spaces = 0;
		for (size_t k = 0; !spf_record && k < o; k++)
			spaces += joined[k] == ' ';
		if (SPF_dns_rr_buf_realloc(rr, i, o + spaces + 1) != SPF_E_SUCCESS) {
			free(joined);
			return;
		}
		char *out = rr->rr[i]->txt;
		for (size_t k = 0, w = 0; k <= o; k++) {
			if (!spf_record && joined[k] == ' ') {
				out[w++] = '%';
				out[w++] = '_';
			} else {
				out[w++] = joined[k];
			}
		}
		free(joined);
		break;
	}
	default:
		return;
	}
	rr->num_rr++;
}

static SPF_dns_rr_t *rr_new(SPF_dns_server_t *layer, const char *name, ns_type type, SPF_dns_stat_t herrno)
{
	SPF_dns_rr_t *rr = SPF_dns_rr_new_init(layer, name, type, 0, herrno);
	if (rr == NULL)
		abort(); /* out of memory, as xmalloc */
	return rr;
}

static SPF_dns_rr_t *layer_lookup(SPF_dns_server_t *layer, const char *name, ns_type type, int should_cache)
{
	struct spf_worker *w = layer->hook;
	switch (type) {
	case ns_t_a:
	case ns_t_aaaa:
	case ns_t_mx:
	case ns_t_txt:
	case ns_t_ptr:
		break;
	default:
		/* the SPF RR type (99) is obsolete (RFC 7208 3.1): answer "no such data" without asking */
		return rr_new(layer, name, type, NO_DATA);
	}
	if (!name_ok(name))
		return rr_new(layer, name, type, HOST_NOT_FOUND);
	struct ub_result *res = resolve(w, name, type);
	if (res == NULL)
		return rr_new(layer, name, type, TRY_AGAIN);
	SPF_dns_rr_t *rr;
	if (res->rcode == 3 /* NXDOMAIN */) {
		rr = rr_new(layer, name, type, HOST_NOT_FOUND);
	} else if (res->rcode != 0 || res->bogus) {
		rr = rr_new(layer, name, type, TRY_AGAIN); /* SERVFAIL, REFUSED, ... */
	} else {
		rr = rr_new(layer, name, type, NETDB_SUCCESS);
		for (int i = 0; res->havedata && res->data[i] != NULL; i++)
			rr_add(rr, type, (const unsigned char *)res->data[i], (size_t)res->len[i]);
		if (rr->num_rr == 0)
			rr->herrno = NO_DATA;
	}
	ub_resolve_free(res);
	return rr;
}

/* --- one check (worker threads) --------------------------------------------------------------- */

/* The first error libspf2 recorded, else its text for err. */
static char *response_problem(SPF_response_t *resp, SPF_errcode_t err)
{
	for (int i = 0; i < SPF_response_messages(resp); i++) {
		SPF_error_t *e = SPF_response_message(resp, i);
		if (e->is_error && e->message != NULL)
			return printable(e->message);
	}
	return printable(SPF_strerror(err));
}

/* The verdict when libspf2 found no record to evaluate (RFC 7208 4.5): none, unless the lookup failed
 * (temperror) or the record is there but broken (permerror: several records, a syntax error). */
static enum spf_status no_record_status(SPF_response_t *resp, SPF_errcode_t err)
{
	if (resp->result == SPF_RESULT_PERMERROR)
		return SPF_STATUS_PERMERROR;
	if (err == SPF_E_DNS_ERROR)
		return SPF_STATUS_TEMPERROR;
	for (int i = 0; i < SPF_response_messages(resp); i++) {
		SPF_error_t *e = SPF_response_message(resp, i);
		if (e->is_error && e->code != SPF_E_NOT_SPF && e->code != SPF_E_DNS_ERROR)
			return SPF_STATUS_PERMERROR; /* the record did not compile */
	}
	return SPF_STATUS_NONE;
}

static enum spf_status status_of(SPF_result_t result)
{
	switch (result) {
	case SPF_RESULT_PASS:
		return SPF_STATUS_PASS;
	case SPF_RESULT_FAIL:
		return SPF_STATUS_FAIL;
	case SPF_RESULT_SOFTFAIL:
		return SPF_STATUS_SOFTFAIL;
	case SPF_RESULT_NEUTRAL:
		return SPF_STATUS_NEUTRAL;
	case SPF_RESULT_NONE:
		return SPF_STATUS_NONE;
	case SPF_RESULT_TEMPERROR:
		return SPF_STATUS_TEMPERROR;
	default:
		return SPF_STATUS_PERMERROR;
	}
}

/* A result for check c without a verdict yet (status none): who asked, for what identity. Reads only
 * what spf_check_start() wrote, so any thread may call it. */
static struct spf_result *result_new(const struct spf_check *c)
{
	struct spf_result *r = xcalloc(1, sizeof(*r));
	char ip[INET6_ADDRSTRLEN];
	inet_ntop(c->family, c->family == AF_INET ? (const void *)&c->v4 : (const void *)&c->v6, ip,
	          sizeof(ip));
	r->client_ip = xstrdup(ip);
	r->helo = xstrdup(c->helo);
	r->helo_identity = c->sender[0] == '\0';
	r->sender = r->helo_identity ? xasprintf("postmaster@%s", c->helo) : xstrdup(c->sender);
	const char *at = strrchr(r->sender, '@');
	r->domain = xstrdup(at != NULL ? at + 1 : "");
	return r;
}

static struct spf_result *result_temperror(const struct spf_check *c, const char *problem)
{
	struct spf_result *r = result_new(c);
	r->status = SPF_STATUS_TEMPERROR;
	r->problem = xstrdup(problem);
	return r;
}

static void check_run(struct spf_worker *w, struct spf_check *c)
{
	struct spf_result *r = result_new(c);
	c->result = r;
	if (!identity_domain_ok(r->domain)) {
		r->status = SPF_STATUS_NONE; /* an address literal or no domain: nothing to look up */
		return;
	}

	SPF_request_t *req = SPF_request_new(w->server);
	if (c->family == AF_INET)
		SPF_request_set_ipv4(req, c->v4);
	else
		SPF_request_set_ipv6(req, c->v6);
	if (c->helo[0] != '\0')
		SPF_request_set_helo_dom(req, c->helo);
	SPF_request_set_env_from(req, r->sender);
	/* What SPF_request_query_mailfrom() does, without its free pass for loopback clients. */
	req->use_helo = r->helo_identity;
	req->cur_dom = req->env_from_dp;
	SPF_response_t *resp = SPF_response_new(req);
	SPF_record_t *record = NULL;
	SPF_errcode_t err = SPF_server_get_record(w->server, req, resp, &record);
	if (err == SPF_E_SUCCESS && record != NULL) {
		resp->spf_record_exp = record;
		err = SPF_record_interpret(record, req, resp, 0);
		resp->spf_record_exp = NULL;
		SPF_record_free(record);
		r->status = status_of(resp->result);
	} else {
		if (record != NULL)
			SPF_record_free(record);
		r->status = no_record_status(resp, err);
	}
	if (r->status == SPF_STATUS_FAIL)
		r->explanation = printable(resp->explanation != NULL ? resp->explanation : "");
	if (r->status == SPF_STATUS_TEMPERROR && c->timed_out)
		r->problem = xasprintf("DNS lookups for %s timed out", r->domain);
	else if (r->status == SPF_STATUS_TEMPERROR || r->status == SPF_STATUS_PERMERROR)
		r->problem = response_problem(resp, err != SPF_E_SUCCESS ? err : resp->err);
	SPF_response_free(resp);
	SPF_request_free(req);
}

/* --- the pool ---------------------------------------------------------------------------------- */

/* Event-loop thread (or spf_free() once the workers have stopped). */
static void check_free(struct spf_check *c)
{
	if (c->counted)
		c->spf->inflight--;
	client_count_release(c->spf->clients, &c->client);
	spf_result_free(&c->result);
	free(c->helo);
	free(c->sender);
	free(c);
}

static void *worker_main(void *arg)
{
	struct spf_worker *w = arg;
	struct spf *spf = w->spf;
	pthread_mutex_lock(&spf->lock);
	for (;;) {
		while (!atomic_load(&spf->stopping) && spf->queue == NULL)
			pthread_cond_wait(&spf->cond, &spf->lock);
		if (atomic_load(&spf->stopping))
			break;
		struct spf_check *c = spf->queue;
		spf->queue = c->next;
		if (spf->queue == NULL)
			spf->queue_tail = &spf->queue;
		c->next = NULL;
		c->state = CHECK_RUNNING;
		pthread_mutex_unlock(&spf->lock);

		if (time_mono_msec() >= c->deadline) {
			c->result =
			    result_temperror(c, "the SPF check waited in the queue past its deadline");
		} else {
			w->check = c;
			check_run(w, c);
			w->check = NULL;
		}

		pthread_mutex_lock(&spf->lock);
		c->state = CHECK_DONE;
		*spf->done_tail = c;
		spf->done_tail = &c->next;
		uint64_t one = 1;
		if (write(spf->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_warn(SPF_LOG, "eventfd: %s", strerror(errno));
	}
	pthread_mutex_unlock(&spf->lock);
	return NULL;
}

/* In the event loop: hand the finished checks to their callbacks, one at a time (a callback may cancel
 * another check). */
static void done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct spf *spf = arg;
	uint64_t n;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn(SPF_LOG, "eventfd: %s", strerror(errno));
	for (;;) {
		pthread_mutex_lock(&spf->lock);
		struct spf_check *c = spf->done;
		if (c != NULL) {
			spf->done = c->next;
			if (spf->done == NULL)
				spf->done_tail = &spf->done;
		}
		pthread_mutex_unlock(&spf->lock);
		if (c == NULL)
			return;
		if (!c->cancelled) {
			struct spf_result *result = c->result;
			c->result = NULL;
			c->cb(result, c->ctx);
		}
		check_free(c);
	}
}

static void log_spf_message(const char *file, int line, const char *msg)
{
	log_debug(SPF_LOG, "libspf2: %s", msg);
}

static int worker_init(struct spf_worker *w, const char *resolver, const char *receiver, const char **error_r)
{
	w->ub = ub_ctx_create();
	if (w->ub == NULL) {
		*error_r = "resolver: libunbound cannot create a context";
		return -1;
	}
	if (dns_configure_unbound(w->ub, resolver, error_r) < 0)
		return -1;
	/* ours, freed after the server: without a destructor libspf2 leaves it alone */
	SPF_dns_server_t *layer = xcalloc(1, sizeof(*layer));
	w->layer = layer;
	layer->lookup = layer_lookup;
	layer->name = "mxd-unbound";
	layer->hook = w;
	w->server = SPF_server_new_dns(layer, 0);
	if (w->server == NULL) {
		*error_r = "libspf2 cannot create a server";
		return -1;
	}
	SPF_response_t *resp = NULL;
	SPF_server_set_rec_dom(w->server, receiver);
	SPF_server_set_sanitize(w->server, 1);
	SPF_errcode_t err = SPF_server_set_explanation(w->server, DEFAULT_EXPLANATION, &resp);
	if (resp != NULL)
		SPF_response_free(resp);
	if (err != SPF_E_SUCCESS) {
		*error_r = "libspf2 refuses the default explanation";
		return -1;
	}
	return 0;
}

void spf_free(struct spf **spfp)
{
	struct spf *spf = *spfp;
	if (spf == NULL)
		return;
	pthread_mutex_lock(&spf->lock);
	atomic_store(&spf->stopping, true);
	pthread_cond_broadcast(&spf->cond);
	pthread_mutex_unlock(&spf->lock);
	for (unsigned i = 0; i < spf->nworkers; i++)
		if (spf->workers[i].started)
			pthread_join(spf->workers[i].thread, NULL);
	for (unsigned i = 0; i < spf->nworkers; i++) {
		struct spf_worker *w = &spf->workers[i];
		if (w->server != NULL)
			SPF_server_free(w->server);
		free(w->layer);
		if (w->ub != NULL)
			ub_ctx_delete(w->ub);
		orphans_sweep(w, true);
	}
	struct spf_check *lists[] = {spf->queue, spf->done};
	for (size_t i = 0; i < MXD_ARRAY_SIZE(lists); i++) {
		while (lists[i] != NULL) {
			struct spf_check *c = lists[i];
			lists[i] = c->next;
			check_free(c);
		}
	}
	client_count_table_free(&spf->clients);
	if (spf->done_ev != NULL)
		event_free(spf->done_ev);
	if (spf->efd >= 0)
		close(spf->efd);
	pthread_cond_destroy(&spf->cond);
	pthread_mutex_destroy(&spf->lock);
	free(spf->workers);
	free(spf);
	*spfp = NULL;
}

int spf_new(struct event_base *base, const char *resolver, const char *receiver,
            const struct spf_options *opts, struct spf **spf_r, const char **error_r)
{
	struct spf *spf = xcalloc(1, sizeof(*spf));
	spf->base = base;
	spf->nworkers = opts != NULL && opts->threads > 0 ? opts->threads : SPF_DEFAULT_THREADS;
	spf->lookup_timeout_msec = opts != NULL && opts->lookup_timeout_msec > 0
	                               ? opts->lookup_timeout_msec
	                               : SPF_DEFAULT_LOOKUP_TIMEOUT_MSEC;
	spf->check_timeout_msec = opts != NULL && opts->check_timeout_msec > 0
	                              ? opts->check_timeout_msec
	                              : SPF_DEFAULT_CHECK_TIMEOUT_MSEC;
	spf->max_checks = opts != NULL && opts->max_checks > 0 ? opts->max_checks : SPF_DEFAULT_MAX_CHECKS;
	spf->max_client_checks = opts != NULL && opts->max_client_checks > 0 ? opts->max_client_checks
	                                                                     : SPF_DEFAULT_MAX_CLIENT_CHECKS;
	spf->ipv6_prefix =
	    opts != NULL && opts->ipv6_prefix > 0 ? opts->ipv6_prefix : SPF_DEFAULT_IPV6_PREFIX;
	spf->clients = client_count_table_new();
	spf->queue_tail = &spf->queue;
	spf->done_tail = &spf->done;
	pthread_mutex_init(&spf->lock, NULL);
	pthread_cond_init(&spf->cond, NULL);
	spf->workers = xcalloc(spf->nworkers, sizeof(*spf->workers));
	spf->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (spf->efd < 0) {
		*error_r = "spf: cannot create an eventfd";
		goto fail;
	}
	spf->done_ev = event_new(base, spf->efd, EV_READ | EV_PERSIST, done_cb, spf);
	if (spf->done_ev == NULL || event_add(spf->done_ev, NULL) < 0) {
		*error_r = "spf: cannot watch the eventfd";
		goto fail;
	}
	/* libspf2's messages go to stdout and stderr unless told otherwise (process-wide settings). */
	SPF_warning_handler = log_spf_message;
	SPF_info_handler = log_spf_message;
	SPF_debug_handler = log_spf_message;
	for (unsigned i = 0; i < spf->nworkers; i++) {
		spf->workers[i].spf = spf;
		if (worker_init(&spf->workers[i], resolver, receiver, error_r) < 0)
			goto fail;
	}
	for (unsigned i = 0; i < spf->nworkers; i++) {
		if (pthread_create(&spf->workers[i].thread, NULL, worker_main, &spf->workers[i]) != 0) {
			*error_r = "spf: cannot start a worker thread";
			goto fail;
		}
		spf->workers[i].started = true;
	}
	*spf_r = spf;
	return 0;
fail:
	spf_free(&spf);
	return -1;
}

struct spf_check *spf_check_start(struct spf *spf, const struct sockaddr *client, const char *helo,
                                  const char *sender, spf_callback *cb, void *ctx)
{
	struct spf_check *c = xcalloc(1, sizeof(*c));
	c->spf = spf;
	c->cb = cb;
	c->ctx = ctx;
	c->helo = xstrdup(helo);
	c->sender = xstrdup(sender);
	if (client->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)client)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			c->family = AF_INET;
			memcpy(&c->v4, &a->s6_addr[12], sizeof(c->v4));
		} else {
			c->family = AF_INET6;
			c->v6 = *a;
		}
	} else {
		c->family = AF_INET;
		c->v4 = ((const struct sockaddr_in *)client)->sin_addr;
	}
	c->deadline = time_mono_msec() + spf->check_timeout_msec;
	const char *over = NULL;
	if (spf->inflight >= spf->max_checks)
		over = "too many SPF checks in flight";
	else if (client_count_acquire(spf->clients, client, spf->ipv6_prefix, spf->max_client_checks,
	                              &c->client) < 0)
		over = "too many SPF checks in flight for this client";
	else
		spf->inflight++, c->counted = true;
	pthread_mutex_lock(&spf->lock);
	if (over != NULL) {
		/* a temperror, delivered from the event loop like any verdict */
		c->result = result_temperror(c, over);
		c->state = CHECK_DONE;
		*spf->done_tail = c;
		spf->done_tail = &c->next;
		uint64_t one = 1;
		if (write(spf->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_warn(SPF_LOG, "eventfd: %s", strerror(errno));
	} else {
		c->state = CHECK_QUEUED;
		*spf->queue_tail = c;
		spf->queue_tail = &c->next;
		pthread_cond_signal(&spf->cond);
	}
	pthread_mutex_unlock(&spf->lock);
	return c;
}

struct spf_result *spf_check_expire(struct spf_check **checkp, const char *problem)
{
	struct spf_result *r = result_temperror(*checkp, problem);
	spf_cancel(checkp);
	return r;
}

void spf_cancel(struct spf_check **checkp)
{
	struct spf_check *c = *checkp;
	if (c == NULL)
		return;
	*checkp = NULL;
	struct spf *spf = c->spf;
	pthread_mutex_lock(&spf->lock);
	if (c->state != CHECK_QUEUED) {
		c->cancelled = true; /* running or done: freed when it reaches the event loop */
		pthread_mutex_unlock(&spf->lock);
		return;
	}
	struct spf_check **pp = &spf->queue;
	while (*pp != c)
		pp = &(*pp)->next;
	*pp = c->next;
	if (spf->queue_tail == &c->next)
		spf->queue_tail = pp;
	pthread_mutex_unlock(&spf->lock);
	check_free(c);
}

void spf_result_free(struct spf_result **resultp)
{
	struct spf_result *r = *resultp;
	if (r == NULL)
		return;
	free(r->client_ip);
	free(r->helo);
	free(r->sender);
	free(r->domain);
	free(r->explanation);
	free(r->problem);
	free(r);
	*resultp = NULL;
}
