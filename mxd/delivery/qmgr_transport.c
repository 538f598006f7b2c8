/* qmgr_transport: destinations (one per next hop), their DNS, concurrency limits and reusable
 * connections. Each job's result goes back through the callback given to qmgr_transport_init(). See
 * qmgr.h and qmgr_private.h. */
#include "mxd/delivery/qmgr_private.h"

#include "mxd/common/config.h"
#include "mxd/dns/dns.h"
#include "mxd/common/log.h"
#include "mxd/common/netaddr.h"
#include "mxd/delivery/peer_check.h"
#include "mxd/rewrite/srs.h"
#include "mxd/common/util.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PEERS_TTL       60 /* seconds a destination keeps its resolved addresses */
#define PEERS_MAX       10 /* addresses tried per connection (Postfix: smtp_mx_address_limit) */
#define IDLE_TIMEOUT_MS 5000

struct qconn {
	struct qdest *dest;
	struct smtp_client *client;
	struct qjob *job;
	struct qconn *next_idle;
	struct qconn *prev, *next; /* every connection of the destination */
};

static void dest_dispatch(struct qdest *d);
static int64_t dest_rate_delay(const struct qdest *d);
static struct qjob *dest_pop(struct qdest *d);

/* Report job as failed before any reply (its next hop could not be resolved or connected to): a result
 * made here, with status, dsn and diag for every recipient. */
static void transport_job_fail(struct qjob *job, enum smtp_client_status status, const char *dsn,
                               const char *diag, const char *relay)
{
	struct smtp_client_result res = {0};
	res.failure = status == SMTP_CLIENT_BOUNCED ? SMTP_CLIENT_FAIL_LOCAL : SMTP_CLIENT_FAIL_CONNECT;
	str_copy(res.reply.enh, sizeof(res.reply.enh), dsn);
	str_copy(res.diag, sizeof(res.diag), diag);
	str_copy(res.relay, sizeof(res.relay), relay);
	res.nrcpt = job->n;
	res.rcpts = xcalloc(job->n, sizeof(*res.rcpts));
	for (size_t i = 0; i < job->n; i++) {
		res.rcpts[i].address = job->msg->info->rcpts[job->idx[i]].address;
		res.rcpts[i].status = status;
		str_copy(res.rcpts[i].reply.enh, sizeof(res.rcpts[i].reply.enh), dsn);
		str_copy(res.rcpts[i].diag, sizeof(res.rcpts[i].diag), diag);
	}
	struct smtp_client_rcpt_result *rcpts = res.rcpts;
	job->msg->q->transport_done(job, &res);
	free(rcpts);
}

static void dest_key(const struct route_choice *c, char *buf, size_t size)
{
	if (c->kind == DB_ROUTE_NEXTHOP_DIRECT)
		snprintf(buf, size, "direct:%s", c->host);
	else
		snprintf(buf, size, "%s", c->nexthop);
}

static struct qdest *dest_find(struct qmgr *q, const struct route_choice *c)
{
	char key[sizeof(((struct qdest *)0)->key)];
	dest_key(c, key, sizeof(key));
	for (struct qdest *d = q->dests; d != NULL; d = d->next)
		if (strcmp(d->key, key) == 0)
			return d;
	struct qdest *d = xcalloc(1, sizeof(*d));
	d->q = q;
	str_copy(d->key, sizeof(d->key), key);
	d->choice = *c;
	if (c->kind == DB_ROUTE_NEXTHOP_DIRECT)
		d->choice.port = (uint16_t)q->cfg->smtp_tcp_port; /* MX hosts listen on the SMTP port */
	str_copy(d->domain, sizeof(d->domain), c->host);
	d->tail = &d->head;
	d->next = q->dests;
	q->dests = d;
	return d;
}

int qmgr_transport_init(struct qmgr *q, qmgr_transport_done_cb *done, const char **error_r)
{
	size_t n;
	char **listen = config_list(q->cfg->smtpd_listen, &n);
	int ret = peer_check_new(listen, n, &q->peer_check, error_r);
	config_list_free(&listen);
	q->transport_done = done;
	return ret;
}

int64_t qmgr_transport_throttled(struct qmgr *q, struct qdest *d, int64_t now)
{
	int64_t backoff = q->cfg->minimal_backoff_time;
	for (unsigned i = 0; i < d->throttles && backoff < q->cfg->maximal_backoff_time; i++)
		backoff *= 2;
	if (backoff > q->cfg->maximal_backoff_time)
		backoff = q->cfg->maximal_backoff_time;
	d->throttles++;
	d->throttled_until = now + backoff;
	log_info("qmgr", "%s: throttled %u time%s in a row: no attempt for %llds", d->key, d->throttles,
	         d->throttles == 1 ? "" : "s", (long long)backoff);
	return d->throttled_until;
}

void qmgr_transport_delivered(struct qdest *d)
{
	d->throttles = 0;
	d->throttled_until = 0;
}

/* Defer every job waiting for d, without an attempt: it is backing off after throttling us. */
static void dest_backoff_all(struct qdest *d)
{
	char diag[160];
	snprintf(diag, sizeof(diag), "%s throttled us: backing off for %llds", d->domain,
	         (long long)(d->throttled_until - time_now()));
	while (d->head != NULL) {
		struct qjob *job = dest_pop(d);
		struct smtp_client_result res = {0};
		res.failure = SMTP_CLIENT_FAIL_LOCAL;
		str_copy(res.reply.enh, sizeof(res.reply.enh), "4.7.0");
		str_copy(res.diag, sizeof(res.diag), diag);
		str_copy(res.relay, sizeof(res.relay), "none");
		res.nrcpt = job->n;
		res.rcpts = xcalloc(job->n, sizeof(*res.rcpts));
		for (size_t i = 0; i < job->n; i++) {
			res.rcpts[i].address = job->msg->info->rcpts[job->idx[i]].address;
			res.rcpts[i].status = SMTP_CLIENT_DEFERRED;
			str_copy(res.rcpts[i].reply.enh, sizeof(res.rcpts[i].reply.enh), "4.7.0");
			str_copy(res.rcpts[i].diag, sizeof(res.rcpts[i].diag), diag);
		}
		struct smtp_client_rcpt_result *rcpts = res.rcpts;
		d->q->transport_done(job, &res);
		free(rcpts);
	}
}

void qmgr_transport_submit(struct qmgr *q, struct qjob *job)
{
	struct qdest *d = dest_find(q, &job->choice);
	d->choice.rate_delay_usec = job->choice.rate_delay_usec; /* the route's cap as it is now */
	job->dest = d;
	job->next = NULL;
	job->queued_msec = time_mono_msec();
	*d->tail = job;
	d->tail = &job->next;
	if (d->throttled_until > time_now() && d->active == 0) {
		dest_backoff_all(d);
		return;
	}
	dest_dispatch(d);
}

static struct qjob *dest_pop(struct qdest *d)
{
	struct qjob *job = d->head;
	d->head = job->next;
	if (d->head == NULL)
		d->tail = &d->head;
	job->next = NULL;
	return job;
}

static void dest_push_front(struct qdest *d, struct qjob *job)
{
	job->next = d->head;
	d->head = job;
	if (job->next == NULL)
		d->tail = &job->next;
}

/* Fail every job waiting at d (its next hop could not be resolved). */
static void dest_fail_all(struct qdest *d, enum smtp_client_status status, const char *dsn, const char *diag)
{
	while (d->head != NULL)
		transport_job_fail(dest_pop(d), status, dsn, diag, "none");
}

static void dest_peers_clear(struct qdest *d)
{
	for (size_t i = 0; i < d->npeer; i++)
		free(d->peer_names[i]);
	free(d->peer_names);
	free(d->peers);
	d->peers = NULL;
	d->peer_names = NULL;
	d->npeer = 0;
}

static void dest_add_peer(struct qdest *d, const char *name, const struct sockaddr_storage *ss)
{
	if (d->npeer >= PEERS_MAX)
		return;
	d->peers = xrealloc(d->peers, (d->npeer + 1) * sizeof(*d->peers));
	d->peer_names = xrealloc(d->peer_names, (d->npeer + 1) * sizeof(char *));
	struct smtp_client_peer *p = &d->peers[d->npeer];
	memset(p, 0, sizeof(*p));
	p->addr = *ss;
	if (ss->ss_family == AF_INET) {
		((struct sockaddr_in *)&p->addr)->sin_port = htons(d->choice.port);
		p->len = sizeof(struct sockaddr_in);
	} else {
		((struct sockaddr_in6 *)&p->addr)->sin6_port = htons(d->choice.port);
		p->len = sizeof(struct sockaddr_in6);
	}
	d->peer_names[d->npeer] = xstrdup(name);
	d->npeer++;
	for (size_t i = 0; i < d->npeer; i++) /* names may have moved with the realloc */
		d->peers[i].hostname = d->peer_names[i];
}

static void dest_resolved(struct dns_result *res, void *ctx)
{
	struct qdest *d = ctx;
	struct qmgr *q = d->q;
	bool direct = d->choice.kind == DB_ROUTE_NEXTHOP_DIRECT;
	char diag[600];
	d->lookup = NULL;
	d->resolving = false;
	dest_peers_clear(d);
	snprintf(diag, sizeof(diag), "Host or domain name not found. %s",
	         res->detail != NULL ? res->detail : "");
	switch (res->status) {
	case DNS_OK:
		break;
	case DNS_NULL_MX:
		snprintf(diag, sizeof(diag), "Domain %s does not accept mail (nullMX)", res->name);
		dest_fail_all(d, direct ? SMTP_CLIENT_BOUNCED : SMTP_CLIENT_DEFERRED,
		              direct ? "5.1.10" : "4.4.4", diag);
		goto out;
	case DNS_NXDOMAIN:
	case DNS_NO_ADDR:
		/* a relay that does not resolve is our misconfiguration: keep the mail */
		dest_fail_all(d, direct ? SMTP_CLIENT_BOUNCED : SMTP_CLIENT_DEFERRED,
		              direct ? (res->status == DNS_NXDOMAIN ? "5.1.2" : "5.4.4") : "4.4.4", diag);
		goto out;
	default:
		dest_fail_all(d, SMTP_CLIENT_DEFERRED, "4.4.3", diag);
		goto out;
	}
	/* Peers found through DNS (not an explicit [host] relay) must not be ourselves, nor private
	 * unless smtp_allow_private_destinations (peer_check.h). */
	bool checked = d->choice.kind != DB_ROUTE_NEXTHOP_HOST_NO_MX;
	bool allow_private = q->cfg->smtp_allow_private_destinations;
	char private_diag[600] = "";
	for (size_t h = 0; h < res->nhost; h++) {
		const struct dns_host *host = &res->hosts[h];
		bool self = strcasecmp(host->name, q->cfg->myhostname) == 0;
		for (size_t a = 0; checked && !self && a < host->naddr && host->status == DNS_OK; a++)
			self = peer_check_is_self(q->peer_check, (const struct sockaddr *)&host->addrs[a],
			                          d->choice.port);
		if (self) {
			if (d->npeer == 0) {
				snprintf(diag, sizeof(diag), "mail for %s loops back to myself", d->domain);
				dest_fail_all(d, SMTP_CLIENT_BOUNCED, "5.4.6", diag);
				goto out;
			}
			break; /* only hosts better than ourselves */
		}
		for (size_t a = 0; a < host->naddr && host->status == DNS_OK; a++) {
			const struct sockaddr *sa = (const struct sockaddr *)&host->addrs[a];
			if (checked && !allow_private && peer_check_is_private(sa)) {
				char ip[NETADDR_STR_MAX];
				if (private_diag[0] == '\0')
					snprintf(private_diag, sizeof(private_diag),
					         "mail for %s: %s[%s] is a private address "
					         "(smtp_allow_private_destinations = no)",
					         d->domain, host->name, netaddr_str(sa, ip, sizeof(ip)));
				log_info("qmgr", "%s: MX host %s[%s] skipped: private address", d->domain,
				         host->name, netaddr_str(sa, ip, sizeof(ip)));
				continue;
			}
			dest_add_peer(d, host->name, &host->addrs[a]);
		}
	}
	if (d->npeer == 0 && private_diag[0] != '\0') {
		/* a relay's MX hosts are our configuration: keep the mail */
		dest_fail_all(d, direct ? SMTP_CLIENT_BOUNCED : SMTP_CLIENT_DEFERRED,
		              direct ? "5.4.4" : "4.4.4", private_diag);
		goto out;
	}
	if (d->npeer == 0) {
		dest_fail_all(d, SMTP_CLIENT_DEFERRED, "4.4.3", "no address for any mail exchanger");
		goto out;
	}
	d->peers_expire = time_now() + PEERS_TTL;
	dest_dispatch(d);
out:
	dns_result_free(&res);
}

static void primary_resolve_next(struct qdest *d);

/* Split a primary_hosts entry ("[host]:port", "host:port", "host", an IPv4 or [IPv6] address). */
static void primary_entry(const char *entry, char *host, size_t size, uint16_t *port_r)
{
	uint64_t port = 25;
	const char *colon;
	if (entry[0] == '[') {
		const char *end = strchr(entry, ']');
		size_t len = end != NULL ? (size_t)(end - entry - 1) : strlen(entry + 1);
		snprintf(host, size, "%.*s", (int)len, entry + 1);
		colon = end != NULL && end[1] == ':' ? end + 1 : NULL;
	} else {
		colon = strchr(entry, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL)
			colon = NULL; /* a bare IPv6 address */
		snprintf(host, size, "%.*s", colon != NULL ? (int)(colon - entry) : (int)strlen(entry),
		         entry);
	}
	if (colon != NULL && (str_to_u64(colon + 1, &port) < 0 || port == 0 || port > 65535))
		port = 25;
	*port_r = (uint16_t)port;
}

static void primary_resolved(struct dns_result *res, void *ctx)
{
	struct qdest *d = ctx;
	d->lookup = NULL;
	if (res->status == DNS_OK && res->nhost > 0) {
		for (size_t a = 0; a < res->hosts[0].naddr; a++)
			dest_add_peer(d, res->hosts[0].name, &res->hosts[0].addrs[a]);
	} else {
		log_warn("qmgr", "primary_hosts: %s: %s", res->name,
		         res->detail != NULL ? res->detail : "no address");
	}
	dns_result_free(&res);
	d->primary_next++;
	primary_resolve_next(d);
}

/* Resolve the entries of primary_hosts one after the other into d's peers. */
static void primary_resolve_next(struct qdest *d)
{
	struct qmgr *q = d->q;
	size_t n;
	char **entries = config_list(q->cfg->primary_hosts, &n);
	for (; d->primary_next < n; d->primary_next++) {
		char host[256];
		struct sockaddr_storage ss;
		socklen_t len;
		const char *error;
		primary_entry(entries[d->primary_next], host, sizeof(host), &d->choice.port);
		if (netaddr_parse(host, d->choice.port, &ss, &len, &error) == 0) {
			dest_add_peer(d, host, &ss);
			continue;
		}
		d->lookup = dns_lookup_addr(q->dns, host, primary_resolved, d);
		config_list_free(&entries);
		return;
	}
	config_list_free(&entries);
	d->resolving = false;
	if (d->npeer == 0) {
		dest_fail_all(d, SMTP_CLIENT_DEFERRED, "4.4.3", "no address for any of primary_hosts");
		return;
	}
	d->peers_expire = time_now() + PEERS_TTL;
	dest_dispatch(d);
}

/* Resolve where d's connections go: MX hosts of the domain or of the relay, or the relay itself. */
static void dest_resolve(struct qdest *d)
{
	struct qmgr *q = d->q;
	if (strcmp(d->choice.nexthop, QMGR_PRIMARY_NEXTHOP) == 0) {
		dest_peers_clear(d);
		d->resolving = true;
		d->primary_next = 0;
		primary_resolve_next(d);
		return;
	}
	struct sockaddr_storage ss;
	socklen_t len;
	const char *error;
	if (d->choice.kind == DB_ROUTE_NEXTHOP_HOST_NO_MX &&
	    netaddr_parse(d->choice.host, d->choice.port, &ss, &len, &error) == 0) {
		dest_peers_clear(d);
		dest_add_peer(d, d->choice.host, &ss);
		d->peers_expire = time_now() + PEERS_TTL;
		dest_dispatch(d);
		return;
	}
	d->resolving = true;
	if (d->choice.kind == DB_ROUTE_NEXTHOP_HOST_NO_MX)
		d->lookup = dns_lookup_addr(q->dns, d->choice.host, dest_resolved, d);
	else
		d->lookup = dns_resolve_mx_hosts(q->dns, d->choice.host, dest_resolved, d);
}

static void conn_send(struct qconn *c, struct qjob *job);
static void conn_release(struct qconn *c);

static void conn_closed(struct smtp_client *client, const char *reason, void *ctx)
{
	struct qconn *c = ctx;
	struct qdest *d = c->dest;
	for (struct qconn **pp = &d->idle; *pp != NULL; pp = &(*pp)->next_idle) {
		if (*pp == c) {
			*pp = c->next_idle;
			break;
		}
	}
	smtp_client_free(&c->client);
	conn_release(c);
}

static void conn_sent(struct smtp_client *client, const struct smtp_client_result *res, void *ctx)
{
	struct qconn *c = ctx;
	struct qdest *d = c->dest;
	struct qmgr *q = d->q;
	struct qjob *job = c->job;
	c->job = NULL;
	if (res->conn_stale) {
		/* an idle connection the server had dropped: nothing happened, try a new one */
		smtp_client_free(&c->client);
		dest_push_front(d, job);
		conn_release(c);
		return;
	}
	q->transport_done(job, res);
	if (c->client != NULL && smtp_client_is_reusable(c->client) &&
	    smtp_client_transactions(c->client) < (unsigned)q->cfg->smtp_connection_reuse_count) {
		if (d->head != NULL && dest_rate_delay(d) == 0) {
			conn_send(c, dest_pop(d));
			return;
		}
		c->next_idle = d->idle;
		d->idle = c;
		if (d->head != NULL)
			dest_dispatch(d); /* under its rate cap */
		return;
	}
	smtp_client_quit(&c->client);
	conn_release(c);
}

/* A connection is gone: free its slot and let waiting mail use it. */
static void conn_release(struct qconn *c)
{
	struct qdest *d = c->dest;
	struct qmgr *q = d->q;
	bool global_full = q->conns >= (unsigned)q->cfg->smtp_concurrency_limit;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		d->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	d->active--;
	q->conns--;
	free(c);
	if (global_full) {
		for (struct qdest *o = q->dests; o != NULL; o = o->next)
			dest_dispatch(o);
	} else {
		dest_dispatch(d);
	}
}

static void conn_send(struct qconn *c, struct qjob *job)
{
	struct qmsg *m = job->msg;
	const char **rcpts = xcalloc(job->n, sizeof(char *));
	for (size_t i = 0; i < job->n; i++)
		rcpts[i] = m->info->rcpts[job->idx[i]].address;
	/* Forwarded mail leaves from our SRS address, so that SPF at its destination passes (a job holds
	 * only forwarded or only relayed recipients). */
	char srs_sender[SRS_ADDRESS_MAX];
	const char *sender = m->info->sender;
	if (job->forwarded)
		sender = srs_forward(m->q->srs, sender, time_now(), srs_sender, sizeof(srs_sender));
	if (sender != m->info->sender)
		log_debug("smtp", "%s: sender <%s> rewritten as <%s>", m->info->id, m->info->sender, sender);
	struct smtp_client_msg msg = {
	    .id = m->info->id,
	    .sender = sender,
	    .rcpts = rcpts,
	    .nrcpt = job->n,
	    .body = m->body,
	    .size = evbuffer_get_length(m->body),
	    .smtputf8 = m->info->smtputf8,
	    .eightbit = m->eightbit,
	};
	c->job = job;
	smtp_client_send(c->client, &msg, conn_sent, c);
	free(rcpts);
}

static int conn_open(struct qdest *d, struct qjob *job)
{
	struct qmgr *q = d->q;
	const struct mxd_config *cfg = q->cfg;
	struct smtp_client_options opts = {0};
	const char *error;
	opts.helo_name = cfg->smtp_helo_name;
	if (smtp_client_tls_level_parse(d->choice.tls_level, &opts.tls_level) < 0)
		opts.tls_level = SMTP_CLIENT_TLS_MAY;
	opts.tls_ctx = q->tls_ctx;
	opts.tls_ca_file = cfg->smtp_tls_CAfile;
	opts.tls_verify_name = d->choice.kind == DB_ROUTE_NEXTHOP_DIRECT ? NULL : d->choice.host;
	opts.connect_timeout_msec = (unsigned)cfg->smtp_connect_timeout * 1000;
	opts.command_timeout_msec = (unsigned)cfg->smtp_helo_timeout * 1000;
	opts.data_timeout_msec = (unsigned)cfg->smtp_data_timeout * 1000;
	opts.idle_timeout_msec = IDLE_TIMEOUT_MS;
	if (d->choice.auth_user[0] != '\0') {
		opts.auth_username = d->choice.auth_user;
		opts.auth_password = d->choice.auth_password;
		opts.auth_allow_plaintext = d->choice.allow_plaintext_auth;
		opts.auth_allow_unverified_tls = d->choice.allow_unverified_tls;
	}
	struct qconn *c = xcalloc(1, sizeof(*c));
	c->dest = d;
	if (smtp_client_new(q->base, d->peers, d->npeer, &opts, &c->client, &error) < 0) {
		free(c);
		transport_job_fail(job, SMTP_CLIENT_DEFERRED, "4.3.0", error, "none");
		return -1;
	}
	smtp_client_set_closed_cb(c->client, conn_closed, c);
	c->next = d->conns;
	if (c->next != NULL)
		c->next->prev = c;
	d->conns = c;
	d->active++;
	q->conns++;
	conn_send(c, job);
	return 0;
}

static void dest_rate_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	dest_dispatch(arg);
}

/* The rate cap of d (milliseconds between two deliveries; 0: none). */
static int64_t dest_rate_delay(const struct qdest *d)
{
	if (d->choice.rate_delay_usec > 0)
		return d->choice.rate_delay_usec >= 1000 ? d->choice.rate_delay_usec / 1000 : 1;
	return d->q->cfg->default_destination_rate_delay * 1000;
}

/* May d start a delivery now under its rate cap? If so the next may start one delay later; if not, a
 * timer calls dest_dispatch() again when it may. */
static bool dest_rate_allows(struct qdest *d)
{
	int64_t delay = dest_rate_delay(d);
	if (delay <= 0)
		return true;
	int64_t now = time_mono_msec();
	if (now < d->next_send_msec) {
		if (d->rate_ev == NULL)
			d->rate_ev = evtimer_new(d->q->base, dest_rate_cb, d);
		if (!evtimer_pending(d->rate_ev, NULL)) {
			int64_t wait = d->next_send_msec - now;
			struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)(wait % 1000) * 1000};
			evtimer_add(d->rate_ev, &tv);
		}
		return false;
	}
	d->next_send_msec = (d->next_send_msec > now - delay ? d->next_send_msec : now) + delay;
	return true;
}

/* dest_rate_allows() said yes but nothing started: the slot is not used. */
static void dest_rate_unspend(struct qdest *d)
{
	int64_t delay = dest_rate_delay(d);
	if (delay > 0)
		d->next_send_msec -= delay;
}

static void dest_dispatch(struct qdest *d)
{
	struct qmgr *q = d->q;
	while (d->head != NULL) {
		if (!dest_rate_allows(d))
			return;
		if (d->idle != NULL) {
			struct qconn *c = d->idle;
			d->idle = c->next_idle;
			conn_send(c, dest_pop(d));
			continue;
		}
		if (d->active >= (unsigned)q->cfg->default_destination_concurrency_limit ||
		    q->conns >= (unsigned)q->cfg->smtp_concurrency_limit || d->resolving) {
			dest_rate_unspend(d);
			return;
		}
		if (d->npeer == 0 || time_now() >= d->peers_expire) {
			dest_rate_unspend(d);
			dest_resolve(d);
			return;
		}
		conn_open(d, dest_pop(d));
	}
}

/* One probe of the primary: connect, wait for the greeting. */
struct qprobe {
	struct qmgr *q;
	struct bufferevent *bev;
	uint64_t round;
	qmgr_transport_probe_cb *cb;
	struct qprobe *prev, *next; /* q->probes */
};

static void probe_unlink(struct qprobe *p)
{
	struct qmgr *q = p->q;
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		q->probes = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
}

static void probe_end(struct qprobe *p, bool ok)
{
	struct qmgr *q = p->q;
	probe_unlink(p);
	bufferevent_free(p->bev);
	q->probes_running--;
	if (ok && q->probe_round_ok != p->round) {
		q->probe_round_ok = p->round;
		p->cb(q);
	}
	free(p);
}

static void probe_read(struct bufferevent *bev, void *ctx)
{
	struct qprobe *p = ctx;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len;
	char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
	if (line == NULL) {
		if (evbuffer_get_length(in) > 1024)
			probe_end(p, false);
		return;
	}
	bool ok = strncmp(line, "220", 3) == 0 && (line[3] == ' ' || line[3] == '-' || line[3] == '\0');
	free(line);
	if (ok)
		evbuffer_add(bufferevent_get_output(bev), "QUIT\r\n", 6);
	probe_end(p, ok);
}

static void probe_event(struct bufferevent *bev, short what, void *ctx)
{
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF | BEV_EVENT_TIMEOUT))
		probe_end(ctx, false);
}

void qmgr_transport_probe_primary(struct qmgr *q, qmgr_transport_probe_cb *cb)
{
	unsigned started = 0;
	if (q->probes_running > 0)
		return;
	q->probe_round++;
	for (struct qdest *d = q->dests; d != NULL && started < 8; d = d->next) {
		if (d->npeer == 0 || strcmp(d->choice.match, QMGR_PRIMARY_MATCH) != 0)
			continue; /* not the primary: in takeover, the external mail exchangers */
		struct qprobe *p = xcalloc(1, sizeof(*p));
		p->q = q;
		p->round = q->probe_round;
		p->cb = cb;
		p->next = q->probes;
		if (p->next != NULL)
			p->next->prev = p;
		q->probes = p;
		p->bev = bufferevent_socket_new(q->base, -1, BEV_OPT_CLOSE_ON_FREE);
		struct timeval tv = {5, 0};
		bufferevent_set_timeouts(p->bev, &tv, &tv);
		bufferevent_setcb(p->bev, probe_read, NULL, probe_event, p);
		bufferevent_enable(p->bev, EV_READ);
		q->probes_running++;
		started++;
		if (bufferevent_socket_connect(p->bev, (struct sockaddr *)&d->peers[0].addr,
		                               (int)d->peers[0].len) < 0)
			probe_end(p, false);
	}
}

void qmgr_transport_free_all(struct qmgr *q)
{
	while (q->probes != NULL) {
		struct qprobe *p = q->probes;
		probe_unlink(p);
		bufferevent_free(p->bev);
		free(p);
	}
	while (q->dests != NULL) {
		struct qdest *d = q->dests;
		q->dests = d->next;
		dns_cancel(&d->lookup);
		while (d->conns != NULL) {
			struct qconn *c = d->conns;
			d->conns = c->next;
			smtp_client_free(&c->client);
			if (c->job != NULL)
				qmgr_job_free(c->job);
			free(c);
		}
		while (d->head != NULL)
			qmgr_job_free(dest_pop(d));
		dest_peers_clear(d);
		if (d->rate_ev != NULL)
			event_free(d->rate_ev);
		free(d);
	}
	peer_check_free(&q->peer_check);
}
