/*
 * smtp_server: the inbound listeners. Binds every smtpd_listen address, accepts connections, enforces
 * the global (smtpd_connection_limit) and per-client (smtpd_client_connection_limit) caps with
 * "421 4.7.0" (a client is an address, or an IPv6 network of smtpd_client_ipv6_prefix_length bits:
 * client_count.h), and starts a smtp_session for each accepted connection. Owns the sessions' shared
 * environment (struct smtp_env) and the per-address connection counts. Event-loop thread only.
 */
#ifndef MXD_SMTP_SERVER_H
#define MXD_SMTP_SERVER_H

#include "mxd/smtpd/smtp_session.h"

#include <stddef.h>

struct smtp_server;

/* Bind the listeners (call before dropping privileges). 0 or -1 with *error_r naming the address. */
int smtp_server_bind(struct event_base *base, const struct mxd_config *cfg, struct smtp_server **srv_r,
                     const char **error_r);

/* Start accepting with what sessions need (policy and queue are not owned; tls_ctx may be NULL). */
void smtp_server_start(struct smtp_server *srv, struct policy *policy, struct queue_store *queue,
                       SSL_CTX *tls_ctx);

/* ARC for the sessions from now on: dns validates the chain each message arrived with, sealer (NULL: no
 * key, no seal) adds our set, worker (NULL: the loop itself) makes and checks the signatures. All stay
 * the caller's and must outlive the server. */
void smtp_server_set_arc(struct smtp_server *srv, struct dns *dns, struct arc_sealer *sealer,
                         struct auth_worker *worker);
/* The DKIM/DMARC checker for the end of DATA (not owned; NULL: none). */
struct msg_auth;
void smtp_server_set_auth(struct smtp_server *srv, struct msg_auth *auth);

/* Who to tell after each message is queued, and on ETRN (the queue manager). */
void smtp_server_on_queued(struct smtp_server *srv, void (*fn)(void *ctx, const char *id),
                           void (*etrn)(void *ctx), void *ctx);

/* SIGHUP: sessions use cfg, policy and tls_ctx from now on (the caller keeps the old cfg alive; the old
 * policy and TLS context are the caller's to free once this returns). */
void smtp_server_reload(struct smtp_server *srv, const struct mxd_config *cfg, struct policy *policy,
                        SSL_CTX *tls_ctx);

/* Stop accepting and tell open sessions to close (SIGTERM). */
void smtp_server_shutdown(struct smtp_server *srv);
size_t smtp_server_session_count(const struct smtp_server *srv);
const struct smtp_stats *smtp_server_stats(const struct smtp_server *srv);

void smtp_server_free(struct smtp_server **srv);

#endif
