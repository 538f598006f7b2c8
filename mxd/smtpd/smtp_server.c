/* smtp_server: see smtp_server.h. */
#include "mxd/smtpd/smtp_server.h"

#include "mxd/smtpd/anvil.h"
#include "mxd/smtpd/client_count.h"
#include "mxd/smtpd/dnsbl.h"
#include "mxd/smtpd/domain_rate.h"
#include "mxd/smtpd/policy.h"

#include "mxd/common/config.h"
#include "mxd/common/log.h"
#include "mxd/common/netaddr.h"
#include "mxd/common/util.h"
#include "mxd/dns/dns.h"

#include <event2/event.h>
#include <event2/listener.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct session_node {
	struct smtp_session *session;
	struct client_count *client; /* the session's count against smtpd_client_connection_limit */
	struct session_node *prev, *next;
};

struct smtp_server {
	struct smtp_env env;
	struct evconnlistener **listeners;
	size_t nlisteners;
	struct session_node *sessions;
	size_t nsessions;
	struct client_count_table *clients; /* by address, IPv6 by smtpd_client_ipv6_prefix_length */
	bool shutting_down;
};

static void server_session_closed(void *ctx, struct smtp_session *session)
{
	struct smtp_server *srv = ctx;
	struct session_node *node = smtp_session_link(session);
	client_count_release(srv->clients, &node->client);
	if (node->prev != NULL)
		node->prev->next = node->next;
	else
		srv->sessions = node->next;
	if (node->next != NULL)
		node->next->prev = node->prev;
	free(node);
	srv->nsessions--;
}

/* A lingering session only drops input: its client may connect again meanwhile. */
static void server_session_lingering(void *ctx, struct smtp_session *session)
{
	struct smtp_server *srv = ctx;
	struct session_node *node = smtp_session_link(session);
	client_count_release(srv->clients, &node->client);
}

/* Refuse a connection over a limit with a 421 written straight to the socket (best effort). */
static void refuse(struct smtp_server *srv, evutil_socket_t fd, const char *addr, const char *hostname,
                   const char *why)
{
	srv->env.stats.connections_refused++;
	char line[512];
	int n = snprintf(line, sizeof(line), "421 4.7.0 %s Error: %s\r\n", hostname, why);
	ssize_t w = write(fd, line, (size_t)n);
	(void)w;
	evutil_closesocket(fd);
	if (strstr(why, addr) != NULL) /* the reply names the client already */
		log_warn("smtpd", "%s; refused with 421", why);
	else
		log_warn("smtpd", "%s from unknown[%s]; refused with 421", why, addr);
}

static void server_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                          void *ctx)
{
	struct smtp_server *srv = ctx;
	const struct mxd_config *cfg = srv->env.cfg;
	char addr[NETADDR_STR_MAX];
	netaddr_str(sa, addr, sizeof(addr));
	evutil_make_socket_nonblocking(fd);
	if (srv->shutting_down) {
		evutil_closesocket(fd);
		return;
	}
	if (srv->nsessions >= (size_t)cfg->smtpd_connection_limit) {
		refuse(srv, fd, addr, cfg->myhostname, "too many connections");
		return;
	}
	if (cfg->smtpd_client_connection_rate_limit > 0 && !policy_client_trusted(srv->env.policy, sa) &&
	    anvil_count(srv->env.anvil, sa, (unsigned)cfg->smtpd_client_ipv6_prefix_length, ANVIL_CONNECTION,
	                (unsigned)cfg->smtpd_client_connection_rate_limit, cfg->anvil_rate_time_unit * 1000,
	                time_mono_msec()) < 0) {
		char why[NETADDR_STR_MAX + 40];
		snprintf(why, sizeof(why), "too many connections from %s", addr);
		log_warn("smtpd", "connection rate limit exceeded from unknown[%s] (limit %lld per %llds)",
		         addr, (long long)cfg->smtpd_client_connection_rate_limit,
		         (long long)cfg->anvil_rate_time_unit);
		srv->env.stats.gate[SMTP_GATE_CONNECTION_RATE]++;
		refuse(srv, fd, addr, cfg->myhostname, why);
		return;
	}
	struct client_count *client;
	if (client_count_acquire(srv->clients, sa, (unsigned)cfg->smtpd_client_ipv6_prefix_length,
	                         (unsigned)cfg->smtpd_client_connection_limit, &client) < 0) {
		refuse(srv, fd, addr, cfg->myhostname, "too many connections from your address");
		return;
	}
	struct session_node *node = xcalloc(1, sizeof(*node));
	node->client = client;
	node->next = srv->sessions;
	if (node->next != NULL)
		node->next->prev = node;
	srv->sessions = node;
	srv->nsessions++;
	node->session = smtp_session_new(&srv->env, fd, sa, (socklen_t)salen);
	smtp_session_set_link(node->session, node);
}

static void server_accept_error(struct evconnlistener *l, void *ctx)
{
	int err = EVUTIL_SOCKET_ERROR();
	/* EMFILE and friends: keep running; the listener retries on the next event. */
	log_warn("smtpd", "accept: %s", evutil_socket_error_to_string(err));
}

/* The milter settings of cfg into env (the old ones replaced). 0, or -1 with *error_r. */
static int server_milters(struct smtp_env *env, const struct mxd_config *cfg, const char **error_r)
{
	struct milter_spec *specs;
	size_t n;
	if (milter_specs_parse(cfg->smtpd_milters, &specs, &n, error_r) < 0)
		return -1;
	free(env->milters.specs);
	env->milters.specs = specs;
	env->milters.n = n;
	const char *action = cfg->milter_default_action;
	env->milters.default_action = strcmp(action, "accept") == 0       ? MILTER_DEFAULT_ACCEPT
	                              : strcmp(action, "reject") == 0     ? MILTER_DEFAULT_REJECT
	                              : strcmp(action, "quarantine") == 0 ? MILTER_DEFAULT_QUARANTINE
	                                                                  : MILTER_DEFAULT_TEMPFAIL;
	env->milters.connect_ms = cfg->milter_connect_timeout * 1000;
	env->milters.command_ms = cfg->milter_command_timeout * 1000;
	env->milters.content_ms = cfg->milter_content_timeout * 1000;
	env->milters.version = (uint32_t)cfg->milter_protocol;
	return 0;
}

int smtp_server_bind(struct event_base *base, const struct mxd_config *cfg, struct smtp_server **srv_r,
                     const char **error_r)
{
	static __thread char err[512];
	size_t n;
	char **addrs = config_list(cfg->smtpd_listen, &n);
	struct smtp_server *srv = xcalloc(1, sizeof(*srv));
	srv->env.base = base;
	srv->env.cfg = cfg;
	srv->env.on_close = server_session_closed;
	srv->env.on_linger = server_session_lingering;
	srv->env.ctx = srv;
	srv->clients = client_count_table_new();
	srv->env.anvil = anvil_new();
	srv->env.domains = domain_rate_new();
	srv->listeners = xcalloc(n, sizeof(*srv->listeners));
	if (n == 0) {
		*error_r = "smtpd_listen: no address to listen on";
		goto fail;
	}
	if (server_milters(&srv->env, cfg, error_r) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		struct sockaddr_storage ss;
		socklen_t len;
		const char *e;
		if (netaddr_parse(addrs[i], 25, &ss, &len, &e) < 0) {
			snprintf(err, sizeof(err), "smtpd_listen: bad address '%s': %s", addrs[i], e);
			*error_r = err;
			goto fail;
		}
		struct evconnlistener *l = evconnlistener_new_bind(
		    base, server_accept, srv,
		    LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_DISABLED,
		    1024, (struct sockaddr *)&ss, (int)len);
		if (l == NULL) {
			snprintf(err, sizeof(err), "smtpd_listen: cannot listen on %s: %s", addrs[i],
			         strerror(errno));
			*error_r = err;
			goto fail;
		}
		evconnlistener_set_error_cb(l, server_accept_error);
		srv->listeners[srv->nlisteners++] = l;
	}
	config_list_free(&addrs);
	*srv_r = srv;
	return 0;
fail:
	config_list_free(&addrs);
	smtp_server_free(&srv);
	return -1;
}

/* DNSBL lookups need a resolver on our event loop: started the first time postscreen_dnsbl_sites is
 * set (after privileges are dropped), kept for the life of the server since checks may be running. */
static void server_dns_for_dnsbl(struct smtp_server *srv)
{
	const char *error;
	if (srv->env.policy == NULL || dnsbl_sites_count(policy_dnsbl_sites(srv->env.policy)) == 0)
		return;
	if (srv->env.dnsbl_dns == NULL) {
		srv->env.dnsbl_dns = dns_new(srv->env.base, srv->env.cfg->resolver, &error);
		if (srv->env.dnsbl_dns == NULL) {
			log_warn("smtpd", "postscreen_dnsbl_sites: no resolver, no DNSBL checks: %s", error);
			return;
		}
	}
	dns_set_timeout(srv->env.dnsbl_dns, (unsigned)srv->env.cfg->postscreen_dnsbl_timeout * 1000);
}

void smtp_server_set_arc(struct smtp_server *srv, struct dns *dns, struct arc_sealer *sealer,
                         struct auth_worker *worker)
{
	srv->env.dns = dns;
	srv->env.arc = sealer;
	srv->env.auth_worker = worker;
}

void smtp_server_start(struct smtp_server *srv, struct policy *policy, struct queue_store *queue,
                       SSL_CTX *tls_ctx)
{
	srv->env.policy = policy;
	srv->env.queue = queue;
	srv->env.tls_ctx = tls_ctx;
	server_dns_for_dnsbl(srv);
	for (size_t i = 0; i < srv->nlisteners; i++)
		evconnlistener_enable(srv->listeners[i]);
}

void smtp_server_set_auth(struct smtp_server *srv, struct msg_auth *auth)
{
	srv->env.auth = auth;
}

void smtp_server_on_queued(struct smtp_server *srv, void (*fn)(void *ctx, const char *id),
                           void (*etrn)(void *ctx), void *ctx)
{
	srv->env.on_queued = fn;
	srv->env.on_etrn = etrn;
	srv->env.queued_ctx = ctx;
}

void smtp_server_reload(struct smtp_server *srv, const struct mxd_config *cfg, struct policy *policy,
                        SSL_CTX *tls_ctx)
{
	srv->env.cfg = cfg;
	srv->env.policy = policy;
	srv->env.tls_ctx = tls_ctx;
	server_dns_for_dnsbl(srv);
	const char *error;
	if (server_milters(&srv->env, cfg, &error) < 0)
		log_warn("smtpd", "reload: %s; the milters stay as they were", error);
}

void smtp_server_shutdown(struct smtp_server *srv)
{
	srv->shutting_down = true;
	for (size_t i = 0; i < srv->nlisteners; i++)
		evconnlistener_disable(srv->listeners[i]);
	struct session_node *node = srv->sessions;
	while (node != NULL) {
		struct session_node *next = node->next; /* the session may unlink itself */
		smtp_session_shutdown(node->session);
		node = next;
	}
}

size_t smtp_server_session_count(const struct smtp_server *srv)
{
	return srv->nsessions;
}

const struct smtp_stats *smtp_server_stats(const struct smtp_server *srv)
{
	return &srv->env.stats;
}

void smtp_server_free(struct smtp_server **srvp)
{
	struct smtp_server *srv = *srvp;
	if (srv == NULL)
		return;
	for (size_t i = 0; i < srv->nlisteners; i++)
		evconnlistener_free(srv->listeners[i]);
	free(srv->listeners);
	client_count_table_free(&srv->clients);
	anvil_free(&srv->env.anvil);
	domain_rate_free(&srv->env.domains);
	dns_free(&srv->env.dnsbl_dns); /* env.dns is main.c's */
	free(srv->env.milters.specs);
	while (srv->sessions != NULL) {
		struct session_node *node = srv->sessions;
		srv->sessions = node->next;
		free(node);
	}
	free(srv);
	*srvp = NULL;
}
