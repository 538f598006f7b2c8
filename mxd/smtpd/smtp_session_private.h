/*
 * smtp_session_private: the session struct shared by smtp_session.c (connection, I/O, state machine)
 * and smtp_session_cmd.c (one handler per command). Nothing outside those two files includes it.
 */
#ifndef MXD_SMTP_SESSION_PRIVATE_H
#define MXD_SMTP_SESSION_PRIVATE_H

#include "mxd/common/netaddr.h"
#include "mxd/common/strmap.h"
#include "mxd/queue/queue_store.h"
#include "mxd/smtpd/smtp_data.h"
#include "mxd/smtpd/policy.h"
#include "mxd/smtpd/smtp_parse.h"
#include "mxd/smtpd/smtp_session.h"
#include "mxd/smtpd/spf.h"

#include <stdbool.h>
#include <stddef.h>

enum smtp_state {
	SMTP_STATE_CONNECTED, /* greeting sent, waiting for HELO/EHLO */
	SMTP_STATE_READY,     /* greeted, no transaction */
	SMTP_STATE_SPF,       /* MAIL received, its SPF check running: no reading until the verdict */
	SMTP_STATE_MAIL,      /* MAIL accepted, no recipient yet */
	SMTP_STATE_RCPT,      /* at least one recipient accepted */
	SMTP_STATE_DATA,      /* receiving content after 354 */
	SMTP_STATE_COMMIT,    /* content handed to the queue, waiting for its fsync */
	SMTP_STATE_CLOSING,   /* last reply written; closing once it is flushed */
};

/* Most final destinations in one transaction: a RCPT whose expansion would pass it gets 452 4.5.3 (the
 * client sends the rest in another transaction), so memory and work per message stay bounded. */
#define SMTP_TXN_FINALS_MAX 10000

/* One mail transaction: MAIL to the end of DATA. */
struct smtp_txn {
	char id[QUEUE_ID_SIZE]; /* "" until the first recipient is accepted (then logged as client=) */
	char *sender;
	struct smtp_mail_params params;
	char **rcpts; /* accepted addresses, as sent */
	size_t nrcpt, rcpt_cap;
	size_t rcpt_accepted; /* RCPT commands answered 250, duplicates included (smtpd_recipient_limit) */
	/* final destinations (alias chains followed), parallel arrays, de-duplicated */
	char **finals, **final_orig;
	int *final_state; /* QUEUE_RCPT_PENDING, or QUEUE_RCPT_BOUNCED for loops and dead ends */
	const char **final_dsn, **final_reason;
	size_t nfinal, final_cap;
	struct strmap rcpt_set, final_set; /* the addresses in rcpts and finals, for O(1) de-duplication */
	struct smtp_data data;
	struct evbuffer *body;
	struct spf_check *spf_check;   /* the SPF check of MAIL FROM while it runs */
	struct spf_result *spf;        /* its verdict; NULL when the client was not checked */
	struct milter_message *milter; /* what the milters see and change while they run (NULL: none) */
	struct milter_run *milter_run; /* the milters at work (NULL: none) */
};

#define SMTP_COUNT_VERBS (SMTP_VERB_ETRN + 1)

struct smtp_session {
	struct smtp_env *env;
	struct bufferevent *bev;
	enum smtp_state state;
	struct sockaddr_storage sa;
	char addr[NETADDR_STR_MAX];
	char name[256];
	char helo[256];
	bool esmtp;
	bool tls;
	bool trusted;    /* client in mynetworks */
	bool discarding; /* inside an over-long command line */
	bool dead;       /* connection gone while committing */
	bool paused;     /* reading stopped until replies drain */
	bool waiting;    /* deadline_ev runs for the line (or DATA content) being read */
	unsigned errors;
	unsigned counts[SMTP_COUNT_VERBS], counts_ok[SMTP_COUNT_VERBS];
	unsigned count_total, count_total_ok;
	int last_code; /* code of the last reply written */
	char tls_info[160];
	struct smtp_txn *txn;
	void *link;
	struct event *close_ev; /* deferred close: waits for the last reply to leave */
	struct event *greet_ev; /* smtpd_greet_pause: the banner is not sent yet */
	int64_t close_deadline;
	/* smtpd_timeout as a deadline per command line, and for DATA one moved by smtpd_min_data_rate */
	struct event *deadline_ev;
	int64_t deadline; /* time_mono_msec() */
};

/* smtp_session.c */
void session_enter_state(struct smtp_session *s, enum smtp_state state);
void session_reply(struct smtp_session *s, int code, const char *enh, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void session_write(struct smtp_session *s, const char *text);
void session_close_after_reply(struct smtp_session *s);
void session_start_tls(struct smtp_session *s);
void session_txn_free(struct smtp_session *s);
const char *session_proto(const struct smtp_session *s);
void session_resume(struct smtp_session *s); /* reading stopped for SPF: take it up again */

/* smtp_session_cmd.c */
void session_command(struct smtp_session *s, const char *line, size_t len);
void session_data_done(struct smtp_session *s);
/* The session's deadline passed while MAIL waited for its SPF verdict: answer as for a temperror. */
void session_spf_expired(struct smtp_session *s);
/* Add the final destinations of an accepted recipient (duplicates across recipients dropped). */
void session_txn_add_finals(struct smtp_txn *t, const char *orig, const struct expansion *exp);
/* Hand the finished message to the queue (held with hold_reason when not NULL); the reply follows from
 * the commit callback. */
void session_data_store(struct smtp_session *s, const char *hold_reason);
void session_log_reject(struct smtp_session *s, const char *stage, const struct policy_reply *r,
                        const char *to);

/* smtp_session_milter.c */
/* Run the finished message past smtpd_milters, then store it, refuse it or drop it. */
void session_milter_start(struct smtp_session *s);
void session_milter_free(struct smtp_txn *t);
/* Shutdown while the milters run: stop them, answer 421 4.3.2 and close (nothing stored). Returns false
 * when no milter runs. */
bool session_milter_shutdown(struct smtp_session *s);

#endif
