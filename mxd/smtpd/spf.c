/* spf: see spf.h. */
#include "mxd/smtpd/spf.h"

#include "mxd/smtpd/client_count.h"
#include "mxd/smtpd/spf_helper.h"
#include "mxd/smtpd/spf_link.h"
#include "mxd/smtpd/spf_proto.h"

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
#include <arpa/nameser.h>
#include <unbound.h>
#include <unistd.h>

#define SPF_LOG           "spf"
#define POLL_SLICE_MS     100 /* how often a waiting lookup looks at the stop flag */
#define DNS_NAME_MAX      253
#define DNS_LABEL_MAX     63
#define HELPER_GRACE_MSEC 500 /* past the check's deadline, for the helper to give its verdict */

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
	enum check_state state;      /* under spf->lock */
	bool cancelled;              /* under spf->lock */
	int64_t deadline;            /* monotonic msec by which the whole check ends (from the queueing) */
	struct client_count *client; /* event loop: its count against max_client_checks (NULL: none) */
	bool counted;                /* event loop: counted in spf->inflight */
	bool timed_out;              /* worker: a lookup ran out of time */
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
	struct spf_link link;             /* to this worker's helper process */
	bool link_lost;                   /* the helper hung up while we looked something up for it */
	struct spf_proto_buf *out;        /* the frame being sent */
	struct spf_proto_helper_msg *msg; /* the frame received */
	struct spf_check *check;          /* running */
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
	struct spf_link_spawn spawn; /* how the workers start their helpers */
	char *argv[5], **envp;
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

/* --- lookups for the helper (worker threads) ----------------------------------------------------- */

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
 * the answer (free with ub_resolve_free) or NULL after a timeout, a stop, a resolver error, or when the
 * helper, which has nothing to say while it waits, hangs up or speaks (w->link_lost). */
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
		if (atomic_load(&spf->stopping) || now >= deadline || w->link_lost) {
			c->timed_out = c->timed_out || !w->link_lost;
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
		struct pollfd pfd[2] = {{.fd = ub_fd(w->ub), .events = POLLIN},
		                        {.fd = spf_link_fd(&w->link), .events = POLLIN}};
		if (poll(pfd, 2, (int)slice) <= 0)
			continue;
		if (pfd[1].revents != 0)
			w->link_lost = true;
		if (pfd[0].revents != 0 && ub_process(w->ub) != 0)
			log_warn(SPF_LOG, "reading answers from the resolver thread failed");
	}
	struct ub_result *res = wait->res;
	if (wait->err != 0)
		log_debug(SPF_LOG, "lookup %s type %d: %s", name, type, ub_strerror(wait->err));
	free(wait);
	return res;
}

/* --- one check (worker threads) --------------------------------------------------------------- */

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

/* name in the text form unbound reads (out: 4 octets per octet of name, and one): every octet but a
 * letter, a digit, '-', '_' and the dots between labels as \DDD, so a name with spaces, '%' or '\\'
 * (what macro expansion may yield, RFC 7208 7.3) is asked as it is. */
static void unbound_name(const char *name, char *out)
{
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
		unsigned char c = *p;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		    c == '_' || c == '.') {
			out[o++] = (char)c;
		} else {
			out[o++] = '\\';
			out[o++] = (char)('0' + c / 100);
			out[o++] = (char)('0' + c / 10 % 10);
			out[o++] = (char)('0' + c % 10);
		}
	}
	out[o] = '\0';
}

/* The answer to the helper's query for (name, type), built in w->out: looked up through unbound, or at
 * once for what is not to be looked up. */
static void answer_query(struct spf_worker *w, const char *name, unsigned type)
{
	struct spf_proto_buf *b = w->out;
	spf_proto_begin(b, SPF_PROTO_ANSWER);
	if (type != ns_t_a && type != ns_t_aaaa && type != ns_t_mx && type != ns_t_txt && type != ns_t_ptr) {
		spf_proto_put_u8(b, SPF_PROTO_DNS_OK); /* no such data, without asking */
		spf_proto_put_u16(b, 0);
		spf_proto_end(b);
		return;
	}
	if (!spf_proto_name_ok(name, strlen(name))) {
		spf_proto_put_u8(b, SPF_PROTO_DNS_NXDOMAIN);
		spf_proto_put_u16(b, 0);
		spf_proto_end(b);
		return;
	}
	char escaped[SPF_PROTO_NAME_MAX * 4 + 1];
	unbound_name(name, escaped);
	struct ub_result *res = resolve(w, escaped, (int)type);
	if (res == NULL || (res->rcode != 0 && res->rcode != 3) || res->bogus) {
		spf_proto_put_u8(b, SPF_PROTO_DNS_TRYAGAIN); /* timeout, stop, SERVFAIL, REFUSED, ... */
		spf_proto_put_u16(b, 0);
	} else if (res->rcode == 3 /* NXDOMAIN */) {
		spf_proto_put_u8(b, SPF_PROTO_DNS_NXDOMAIN);
		spf_proto_put_u16(b, 0);
	} else {
		spf_proto_put_u8(b, SPF_PROTO_DNS_OK);
		size_t count_at = b->len, count = 0;
		spf_proto_put_u16(b, 0);
		for (int i = 0; res->havedata && res->data[i] != NULL && count < SPF_PROTO_RR_MAX; i++) {
			size_t len = (size_t)res->len[i];
			if (len > 0xffff || b->len + 2 + len > sizeof(b->data))
				break; /* what does not fit is left out, as a truncated answer */
			spf_proto_put_u16(b, (unsigned)len);
			spf_proto_put_bytes(b, res->data[i], len);
			count++;
		}
		b->data[count_at] = (unsigned char)(count >> 8);
		b->data[count_at + 1] = (unsigned char)count;
	}
	if (res != NULL)
		ub_resolve_free(res);
	spf_proto_end(b);
}

/* Give check c to the helper, answer its lookups, read its verdict into c->result. Whatever goes wrong
 * with the helper (it crashed, hung, or said something malformed) makes the check a temperror, and the
 * helper is killed and restarted. */
static void check_run(struct spf_worker *w, struct spf_check *c)
{
	struct spf_result *r = result_new(c);
	c->result = r;
	if (!identity_domain_ok(r->domain)) {
		r->status = SPF_STATUS_NONE; /* an address literal or no domain: nothing to look up */
		return;
	}
	if (strlen(c->helo) > SPF_PROTO_IDENT_MAX || strlen(c->sender) > SPF_PROTO_IDENT_MAX) {
		r->status = SPF_STATUS_PERMERROR;
		r->problem = xstrdup("the identity is too long to check");
		return;
	}
	const char *error;
	if (spf_link_open(&w->link, &error) < 0) {
		r->status = SPF_STATUS_TEMPERROR;
		r->problem = xstrdup(error);
		return;
	}
	/* after the deadline every lookup fails at once, and the helper has a moment to say so */
	int64_t wait_until = c->deadline + HELPER_GRACE_MSEC;
	struct spf_proto_buf *b = w->out;
	spf_proto_begin(b, SPF_PROTO_CHECK);
	spf_proto_put_u8(b, c->family == AF_INET ? 4 : 6);
	if (c->family == AF_INET)
		spf_proto_put_bytes(b, &c->v4, sizeof(c->v4));
	else
		spf_proto_put_bytes(b, &c->v6, sizeof(c->v6));
	spf_proto_put_str16(b, c->helo, SPF_PROTO_IDENT_MAX);
	spf_proto_put_str16(b, c->sender, SPF_PROTO_IDENT_MAX);
	spf_proto_end(b);
	w->link_lost = false;
	if (spf_link_send(&w->link, b, wait_until, &error) < 0)
		goto broken;
	for (;;) {
		if (spf_link_recv(&w->link, w->msg, wait_until, &error) < 0)
			goto broken;
		if (w->msg->type == SPF_PROTO_RESULT)
			break;
		answer_query(w, w->msg->name, w->msg->qtype); /* QUERY: the only other frame it may send */
		if (w->link_lost) {
			error = "it hung up during a lookup";
			goto broken;
		}
		if (spf_link_send(&w->link, b, wait_until, &error) < 0)
			goto broken;
	}
	spf_link_ok(&w->link);
	r->status = (enum spf_status)w->msg->status;
	if (r->status == SPF_STATUS_FAIL)
		r->explanation = printable(w->msg->explanation);
	if (r->status == SPF_STATUS_TEMPERROR && c->timed_out)
		r->problem = xasprintf("DNS lookups for %s timed out", r->domain);
	else if (r->status == SPF_STATUS_TEMPERROR || r->status == SPF_STATUS_PERMERROR)
		r->problem = printable(w->msg->problem[0] != '\0' ? w->msg->problem : "unknown error");
	return;
broken:
	if (!atomic_load(&w->spf->stopping))
		spf_link_fail(&w->link, error);
	r->status = SPF_STATUS_TEMPERROR;
	if (c->timed_out)
		r->problem = xasprintf("DNS lookups for %s timed out", r->domain);
	else
		r->problem = xasprintf("the SPF evaluation failed (%s)", error);
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

static int worker_init(struct spf_worker *w, const char *resolver, const char **error_r)
{
	w->out = xmalloc(sizeof(*w->out));
	w->msg = xmalloc(sizeof(*w->msg));
	w->ub = ub_ctx_create();
	if (w->ub == NULL) {
		*error_r = "resolver: libunbound cannot create a context";
		return -1;
	}
	return dns_configure_unbound(w->ub, resolver, error_r);
}

/* The environment of the helpers: only what the sanitizers read (a test build's reports). */
static char **helper_environment(void)
{
	static const char *const keep[] = {"ASAN_OPTIONS=", "UBSAN_OPTIONS=", "LSAN_OPTIONS="};
	char **envp = xcalloc(MXD_ARRAY_SIZE(keep) + 1, sizeof(*envp));
	size_t n = 0;
	for (size_t i = 0; i < MXD_ARRAY_SIZE(keep); i++) {
		const char *v = getenv(strndupa(keep[i], strlen(keep[i]) - 1));
		if (v != NULL)
			envp[n++] = xasprintf("%s%s", keep[i], v);
	}
	return envp;
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
		spf_link_close(&w->link);
		free(w->out);
		free(w->msg);
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
	for (size_t i = 0; i < MXD_ARRAY_SIZE(spf->argv); i++)
		free(spf->argv[i]);
	for (size_t i = 0; spf->envp != NULL && spf->envp[i] != NULL; i++)
		free(spf->envp[i]);
	free(spf->envp);
	free(spf);
	*spfp = NULL;
}

int spf_new(struct event_base *base, const char *resolver, const char *receiver,
            const struct spf_options *opts, struct spf **spf_r, const char **error_r)
{
	struct spf *spf = xcalloc(1, sizeof(*spf));
	spf->base = base;
	spf->efd = -1;
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
	/* the helpers run this very program again (spf_helper.h) */
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	spf->argv[0] = xstrdup(exe);
	spf->argv[1] = xstrdup(SPF_HELPER_ARG);
	spf->argv[2] = xstrdup(receiver);
	spf->argv[3] = xstrdup(opts != NULL && opts->helper_user != NULL ? opts->helper_user : "");
	spf->envp = helper_environment();
	spf->spawn = (struct spf_link_spawn){spf->argv[0], spf->argv, spf->envp};
	spf->workers = xcalloc(spf->nworkers, sizeof(*spf->workers));
	for (unsigned i = 0; i < spf->nworkers; i++) {
		spf->workers[i].spf = spf;
		spf_link_init(&spf->workers[i].link, &spf->spawn, &spf->stopping);
	}
	if (n <= 0 || (size_t)n >= sizeof(exe) - 1) {
		*error_r = "spf: cannot find our own program (/proc/self/exe) to run the SPF helper";
		goto fail;
	}
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
	for (unsigned i = 0; i < spf->nworkers; i++) {
		if (worker_init(&spf->workers[i], resolver, error_r) < 0)
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
