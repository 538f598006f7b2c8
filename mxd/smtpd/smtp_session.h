/*
 * smtp_session: one inbound SMTP connection, from greeting to close (RFC 5321, with PIPELINING, SIZE,
 * 8BITMIME, ENHANCEDSTATUSCODES, STARTTLS and SMTPUTF8).
 *
 * An explicit state machine (enum smtp_state, moved only by session_enter_state) and a command table
 * order the dialogue; smtp_parse checks syntax, policy decides recipients, smtp_data turns DATA into
 * content, and the queue makes it durable: the 250 to DATA is written only from the queue's commit
 * callback. Replies go out in command order, so pipelined clients read them in sequence. Memory per
 * session is bounded: command lines are limited to 512 octets (longer ones are discarded as they
 * arrive), reading pauses while unread replies pile up, content beyond message_size_limit is dropped.
 * Time is bounded too: each command line must be complete within smtpd_timeout of the wait for it
 * beginning, however slowly it trickles in, and DATA content must keep up smtpd_min_data_rate; else
 * 421 4.4.2 and close (one timer per session).
 *
 * Runs in the event-loop thread. A session frees itself when the connection ends; if that happens
 * while its message is being committed, it lingers until the commit callback has run.
 */
#ifndef MXD_SMTP_SESSION_H
#define MXD_SMTP_SESSION_H

#include "mxd/smtpd/milter.h"

#include <event2/util.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <sys/socket.h>

struct anvil;
struct arc_sealer;
struct auth_worker;
struct dns;
struct domain_rate;
struct event_base;
struct mxd_config;
struct policy;
struct queue_store;
struct smtp_session;

/* Counters the server keeps for status and metrics. */
#define SMTP_STATS_REASONS 24

/* Why the connection gate refused a client (smtp_session_gate.c, smtp_server.c). */
enum smtp_gate_reason {
	SMTP_GATE_PREGREET,        /* talked before the banner: 554 5.5.0 */
	SMTP_GATE_PIPELINING,      /* pipelined where it must wait: 554 5.5.0 */
	SMTP_GATE_DNSBL,           /* DNSBL score at or above the threshold: 550 5.7.1 */
	SMTP_GATE_CONNECTION_RATE, /* smtpd_client_connection_rate_limit: 421 4.7.0 */
	SMTP_GATE_MESSAGE_RATE,    /* smtpd_client_message_rate_limit: 450 4.7.1 */
	SMTP_GATE_RECIPIENT_RATE,  /* smtpd_client_recipient_rate_limit: 450 4.7.1 */
	SMTP_GATE_TLS_RATE,        /* smtpd_client_new_tls_session_rate_limit: 454 4.7.0 */
	SMTP_GATE_DOMAIN_RATE,     /* a recipient domain's hourly_message_limit: 450 4.7.1 */
	SMTP_GATE_REASONS
};

/* "pregreet", "pipelining", "dnsbl", "connection_rate", "message_rate", "recipient_rate", "tls_rate",
 * "domain_rate". */
const char *smtp_gate_reason_name(enum smtp_gate_reason reason);

struct smtp_stats {
	uint64_t connections;
	uint64_t connections_refused; /* over a connection limit */
	uint64_t messages_accepted;
	uint64_t bytes_accepted;
	uint64_t rejected_rcpt;
	uint64_t rejected_data;
	uint64_t tls_sessions;
	uint64_t gate[SMTP_GATE_REASONS]; /* clients refused by the connection gate, by reason */
	/* milter verdicts (smtpd_milters): refused 5xx, refused 4xx, discarded, held, and milters that
	 * failed (down, timeout, garbage: milter_default_action applied) */
	uint64_t milter_rejected, milter_tempfailed, milter_discarded, milter_quarantined, milter_failed;
	/* rejections by enhanced status code ("5.1.1", "5.7.1", "4.3.0", ...) */
	struct {
		char code[12];
		uint64_t count;
	} rejected[SMTP_STATS_REASONS];
};

/* Count one rejection under its enhanced status code. */
void smtp_stats_reject(struct smtp_stats *stats, const char *enh);

/* What every session of a server shares (owned by smtp_server). */
struct msg_auth;

struct smtp_env {
	struct event_base *base;
	const struct mxd_config *cfg;
	struct policy *policy;
	struct queue_store *queue;
	SSL_CTX *tls_ctx;      /* NULL: STARTTLS not offered */
	struct anvil *anvil;   /* per-client rates and pregreet passes */
	struct dns *dnsbl_dns; /* DNSBL lookups (owned, postscreen_dnsbl_timeout); NULL until sites are set */
	struct domain_rate *domains; /* messages accepted per recipient domain this hour */
	struct dns *dns; /* validates the ARC chain of each message at the end of DATA; NULL: not checked */
	struct arc_sealer *arc;          /* adds our ARC set before the message is stored; NULL: no sealing */
	struct auth_worker *auth_worker; /* signatures made and checked off the loop; NULL: in the loop */
	struct smtp_stats stats;
	struct milter_settings milters; /* n == 0: no milters */
	/* called after each message is durably queued (NULL: nobody to tell) */
	void (*on_queued)(void *ctx, const char *id);
	/* called for an accepted ETRN (NULL: ETRN is not offered) */
	void (*on_etrn)(void *ctx);
	void *queued_ctx;
	/* called once when a session ends, before it is freed */
	void (*on_close)(void *ctx, struct smtp_session *session);
	/* called when a closing session starts dropping what its client still sends (at most 2 s before
	 * on_close): its client's connection slot may be given back (NULL: none) */
	void (*on_linger)(void *ctx, struct smtp_session *session);
	void *ctx;
	struct msg_auth *auth; /* DKIM and DMARC checks at the end of DATA (NULL: none) */
};

/* Start a session on an accepted socket (which it takes); sends the greeting. */
struct smtp_session *smtp_session_new(struct smtp_env *env, evutil_socket_t fd, const struct sockaddr *sa,
                                      socklen_t salen);

/* A pointer the server keeps with the session (its list node). */
void smtp_session_set_link(struct smtp_session *session, void *link);
void *smtp_session_link(const struct smtp_session *session);

/* The client's numeric address, as logged. */
const char *smtp_session_client_addr(const struct smtp_session *session);

/* The DATA deadline once octets more content octets have arrived at now (times in ms of one monotonic
 * clock): moved octets / min_rate seconds later, but never beyond now + timeout_ms (Postfix's
 * smtpd_min_data_rate). min_rate 0: no minimum rate, any octet moves it to now + timeout_ms. Pure. */
int64_t smtp_session_data_deadline(int64_t deadline, int64_t now, uint64_t octets, int64_t min_rate,
                                   int64_t timeout_ms);

/* Send "421 4.3.2 Service shutting down" and close (SIGTERM with sessions still open). A session that
 * is committing a message closes right after its reply. */
void smtp_session_shutdown(struct smtp_session *session);

#endif
