/*
 * smtp_client_private: the connection struct shared by smtp_client.c (connection, candidates, I/O,
 * TLS, timers, callbacks), smtp_client_cmd.c (one handler per reply: greeting, EHLO/HELO, STARTTLS and
 * the mail transaction) and smtp_client_auth.c (AUTH). Nothing outside those three files includes it.
 * All of it runs in the thread of the connection's event base.
 */
#ifndef MXD_SMTP_CLIENT_PRIVATE_H
#define MXD_SMTP_CLIENT_PRIVATE_H

#include "mxd/common/netaddr.h"
#include "mxd/delivery/smtp_client.h"
#include "mxd/delivery/smtp_reply.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum smtp_client_state {
	SMTP_CLIENT_STATE_CONNECTING,    /* TCP connect in progress */
	SMTP_CLIENT_STATE_GREETING,      /* waiting for 220 */
	SMTP_CLIENT_STATE_EHLO,          /* EHLO sent */
	SMTP_CLIENT_STATE_HELO,          /* HELO sent after EHLO was refused */
	SMTP_CLIENT_STATE_STARTTLS,      /* STARTTLS sent */
	SMTP_CLIENT_STATE_TLS_HANDSHAKE, /* TLS handshake in progress */
	SMTP_CLIENT_STATE_EHLO_TLS,      /* EHLO sent again over TLS */
	SMTP_CLIENT_STATE_AUTH,          /* AUTH exchange in progress */
	SMTP_CLIENT_STATE_READY,         /* greeted, no transaction */
	SMTP_CLIENT_STATE_MAIL,          /* waiting for the reply to MAIL FROM */
	SMTP_CLIENT_STATE_RCPT,          /* waiting for RCPT TO replies */
	SMTP_CLIENT_STATE_DATA,          /* waiting for the reply to DATA */
	SMTP_CLIENT_STATE_BODY,          /* writing the content */
	SMTP_CLIENT_STATE_DOT,           /* content and final dot written, waiting for the reply */
	SMTP_CLIENT_STATE_RSET,          /* RSET after a failed transaction */
	SMTP_CLIENT_STATE_QUIT,          /* QUIT sent */
	SMTP_CLIENT_STATE_CLOSED,        /* no connection */
};

enum client_rcpt_phase {
	CLIENT_RCPT_PENDING,  /* no final answer yet */
	CLIENT_RCPT_ACCEPTED, /* 2xx to RCPT, waiting for the end of DATA */
	CLIENT_RCPT_DONE,     /* status decided */
};

/* One mail transaction: from smtp_client_send() to the callback. */
struct client_txn {
	struct smtp_client_result *result; /* owns the id and address copies */
	char *sender;
	struct evbuffer *body; /* the caller's */
	uint64_t size;
	bool smtputf8, eightbit;
	smtp_client_send_cb *cb;
	void *ctx;

	enum client_rcpt_phase *phase;
	size_t *order; /* indexes of the recipients sent, in RCPT order */
	size_t norder;
	size_t rcpt_sent, rcpt_replied, naccepted;
	bool started;       /* MAIL written */
	bool mail_answered; /* MAIL got a reply other than 421 */
	bool pipelined;     /* MAIL, RCPTs and DATA went out together */
	bool mail_failed;   /* message-level failure decided; the pipelined replies are being drained */
	bool dot_only;      /* 354 came although nothing was accepted: send the dot alone */
	int64_t t_start;

	/* body streaming */
	size_t body_off;
	bool bol, cr, body_done;
	char *chunk;
};

struct smtp_client {
	struct event_base *base;
	struct bufferevent *bev;
	enum smtp_client_state state;

	/* options */
	char *helo_name;
	enum smtp_client_tls_level tls_level;
	SSL_CTX *tls_ctx;
	char *verify_name;
	unsigned connect_timeout, command_timeout, data_timeout, idle_timeout;
	char *auth_user, *auth_pass;
	bool auth_plaintext_ok;
	bool auth_unverified_ok; /* AUTH over TLS that was not verified (with a warning) */

	/* candidates */
	struct smtp_client_peer *peers;
	char **peer_hosts;
	size_t npeer, cur;
	bool tls_off;        /* this candidate again without STARTTLS ("may" after a failed handshake) */
	bool ever_connected; /* some TCP connection was made */
	char name[SMTP_CLIENT_RELAY_MAX];  /* "host[address]" of the current candidate */
	char relay[SMTP_CLIENT_RELAY_MAX]; /* "host[address]:port" */
	char addr[NETADDR_STR_MAX];

	/* session */
	struct smtp_reply_ehlo ehlo; /* what the last EHLO reply announced */
	bool esmtp, tls, verified;
	bool verify_name_ok;     /* the name to verify was set on this TLS session */
	char unverified_why[96]; /* why tls && !verified: the certificate's fault, for the log */
	bool server_closing;     /* 421 seen */
	unsigned auth_mech, auth_step;
	struct smtp_reply reply; /* the reply being read, then the last complete one */
	unsigned transactions;
	int64_t t_start, conn_msec;
	bool was_ready;          /* reached READY once */
	bool conn_msec_reported; /* the first result carried conn_msec */

	/* the last error that ended a candidate or the connection */
	enum smtp_client_failure last_failure;
	struct smtp_client_reply last_reply;
	char last_diag[SMTP_CLIENT_DIAG_MAX];

	struct client_txn *txn;          /* message in progress or waiting for READY */
	struct smtp_client_result *done; /* result waiting for its callback */
	smtp_client_send_cb *done_cb;
	void *done_ctx;
	smtp_client_closed_cb *closed_cb;
	void *closed_ctx;
	bool closed_pending; /* the closed callback is due */
	bool quitting;       /* smtp_client_quit(): free once QUIT is done */
	/* while quitting: the list smtp_client_free_quitting() frees */
	struct smtp_client *quit_prev, *quit_next;
	unsigned replies_to_skip; /* in QUIT: replies to commands sent before it (RSET) */
	bool destroy_pending;

	struct event *timer;
	struct event *notify_ev;
};

/* smtp_client.c */
const char *client_state_name(enum smtp_client_state state);
void client_enter_state(struct smtp_client *c, enum smtp_client_state state);
void client_write(struct smtp_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void client_write_secret(struct smtp_client *c, const char *line, const char *log_text);
void client_arm_timer(struct smtp_client *c, unsigned msec);
void client_peer_failed(struct smtp_client *c, enum smtp_client_failure failure,
                        const struct smtp_reply *reply, const char *enh, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void client_fail_conn(struct smtp_client *c, const char *enh, const char *fmt);
void client_start_tls(struct smtp_client *c);
void client_close(struct smtp_client *c, const char *reason);
void client_notify(struct smtp_client *c);
const char *client_while(enum smtp_client_state state);

/* smtp_client_cmd.c */
void client_handle_reply(struct smtp_client *c);
void client_send_ehlo(struct smtp_client *c);
void client_ready(struct smtp_client *c);
struct client_txn *client_txn_new(const struct smtp_client_msg *msg, smtp_client_send_cb *cb, void *ctx);
void client_txn_start(struct smtp_client *c);
void client_txn_abort(struct smtp_client *c, const struct smtp_client_reply *reply, const char *diag);
void client_txn_fail_unstarted(struct smtp_client *c);
void client_txn_free(struct client_txn **txn);
void client_result_free(struct smtp_client_result **result);
void client_body_pump(struct smtp_client *c);

/* smtp_client_auth.c */
/* After EHLO, when credentials are set: pick a mechanism the server offers and start it (state AUTH),
 * or fail the peer (4.7.x, without the secret: AUTH over plaintext or over TLS whose certificate was
 * not verified, when the options do not allow it; or no mechanism in common). */
void client_auth_start(struct smtp_client *c);
/* A reply in state AUTH: READY on 2xx, the next step on 334, else the peer fails. */
void client_auth_reply(struct smtp_client *c);

#endif
