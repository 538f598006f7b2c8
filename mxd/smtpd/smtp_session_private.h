/*
 * smtp_session_private: the session struct shared by smtp_session.c (connection, I/O, state machine)
 * and smtp_session_cmd.c (one handler per command). Nothing outside those two files includes it.
 */
#ifndef MXD_SMTP_SESSION_PRIVATE_H
#define MXD_SMTP_SESSION_PRIVATE_H

#include "mxd/auth/arc_verify.h"
#include "mxd/common/netaddr.h"
#include "mxd/common/strmap.h"
#include "mxd/queue/queue_store.h"
#include "mxd/smtpd/anvil.h"
#include "mxd/smtpd/data_spool.h"
#include "mxd/smtpd/smtp_data.h"
#include "mxd/smtpd/policy.h"
#include "mxd/smtpd/smtp_parse.h"
#include "mxd/smtpd/smtp_session.h"
#include "mxd/smtpd/msg_auth.h"
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
	SMTP_STATE_CHECK,     /* content received, its DKIM/DMARC check running: no reading until then */
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
	struct data_spool *spool;    /* the content while DATA runs (trace headers first) */
	struct data_view *view;      /* after the final ".": the content, its head changed through the view */
	struct evbuffer *body;       /* the view's evbuffer (borrowed): read by the checks and the milters */
	struct spf_check *spf_check; /* the SPF check of MAIL FROM while it runs */
	struct spf_result *spf;      /* its verdict; NULL when the client was not checked */
	size_t content_offset;       /* body octets before the client's content (our trace headers) */
	/* ARC (RFC 8617): the chain the message arrived with, validated at the end of DATA */
	struct arc_verify *arc_verify;     /* while it runs */
	bool arc_checked;                  /* arc_cv, arc_terminated and arc_sealers hold a verdict */
	enum arc_cv arc_cv;                /* none, pass or fail: arc= of our Authentication-Results */
	bool arc_terminated;               /* the chain's last seal says cv=fail: no seal of ours */
	char *arc_sealers;                 /* the d= of the chain's seals, oldest first, comma separated: with
	                                      a passing chain, whom arc_trusted_sealers may trust */
	struct msg_auth_check *auth_check; /* the DKIM/DMARC check at the end of DATA while it runs */
	char *auth_note; /* its verdicts (and a From rewrite) for the delivery log; NULL: none */
	struct milter_message *milter; /* what the milters see and change while they run (NULL: none) */
	struct milter_run *milter_run; /* the milters at work (NULL: none) */
	char *hold_reason;             /* a milter's quarantine: stored on hold with this reason */
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
	bool lingering;  /* closing: half-closed, dropping input until the client closes */
	unsigned errors;
	unsigned counts[SMTP_COUNT_VERBS], counts_ok[SMTP_COUNT_VERBS];
	unsigned count_total, count_total_ok;
	int last_code; /* code of the last reply written */
	char tls_info[160];
	struct smtp_txn *txn;
	void *link;
	struct event *close_ev; /* deferred close: waits for the last reply to leave */
	struct event *greet_ev; /* the gate holds the banner back (pregreet pause, DNSBL lookups) */
	bool greet_pausing;     /* the pregreet pause runs */
	bool greet_test;        /* passing the pause is remembered (anvil_greet_pass) */
	int64_t gate_deadline;  /* the banner waits for DNSBL answers until then */
	struct dnsbl_check *dnsbl;
	char dnsbl_site[208]; /* non-empty: listed, every command but QUIT gets 550 5.7.1 */
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
void session_resume(struct smtp_session *s);      /* reading stopped for SPF: take it up again */
void session_send_banner(struct smtp_session *s); /* the 220, then wait for the first command */

/* smtp_session_gate.c: the connection gate (pregreet pause, DNSBL score, unauthorised pipelining,
 * anvil rate limits). Trusted clients (mynetworks, trusted_peers) pass every check. */
/* At connect: 1 when the banner is held back (the gate sends it later), 0 to send it now. */
int session_gate_start(struct smtp_session *s);
/* Octets arrived while the banner is held back: 554 5.5.0 and close. */
void session_gate_pregreet(struct smtp_session *s);
/* Before a parsed command runs: true when the gate answered it (DNSBL listing, pipelining). */
bool session_gate_command(struct smtp_session *s, enum smtp_verb verb, const char *name);
/* Count one more of rate for this client: true when over its limit (refusal sent). */
bool session_gate_rate(struct smtp_session *s, enum anvil_rate rate);
/* RCPT to domain: true when the domain's hourly message limit is reached (refusal sent). */
bool session_gate_domain_full(struct smtp_session *s, const char *domain);
/* The message was queued: count it once for each recipient domain. */
void session_gate_count_domains(struct smtp_session *s);
/* Release what the gate holds (timer, lookups). */
void session_gate_free(struct smtp_session *s);

/* smtp_session_cmd.c */
void session_command(struct smtp_session *s, const char *line, size_t len);
void session_data_done(struct smtp_session *s);
/* Hand the finished message (the session in SMTP_STATE_COMMIT) to the queue; 250 comes from the
 * commit callback. */
void session_data_submit(struct smtp_session *s);
/* The session's deadline passed while MAIL waited for its SPF verdict: answer as for a temperror. */
void session_spf_expired(struct smtp_session *s);
/* Add the final destinations of an accepted recipient (duplicates across recipients dropped). */
void session_txn_add_finals(struct smtp_txn *t, const char *orig, const struct expansion *exp);
/* Hand the finished message to the queue (held with hold_reason when not NULL); the reply follows from
 * the commit callback. */
void session_data_store(struct smtp_session *s, const char *hold_reason);
/* The Postfix-style "reject:" line of a refusal at stage (MAIL, RCPT, END-OF-MESSAGE); to "" when none. */
void session_log_reject(struct smtp_session *s, const char *stage, const struct policy_reply *r,
                        const char *to);
/* The same from a code, an enhanced code and a text; to is the first recipient. */
void session_log_reject_text(struct smtp_session *s, const char *stage, int code, const char *enh,
                             const char *text);

/* smtp_session_milter.c */
/* Run the finished message past smtpd_milters, then store it, refuse it or drop it. */
void session_milter_start(struct smtp_session *s);
void session_milter_free(struct smtp_txn *t);
/* Shutdown while the milters run: stop them, answer 421 4.3.2 and close (nothing stored). Returns false
 * when no milter runs. */
bool session_milter_shutdown(struct smtp_session *s);

/* smtp_session_auth.c */
/* The end of DATA once the content passed the checks before it: ARC chain, DKIM and DMARC (state
 * CHECK), then Authentication-Results and our ARC seal (state COMMIT) and session_data_submit(); or a
 * refusal (DMARC), or nothing stored when the client left meanwhile. */
void session_auth_start(struct smtp_session *s);

/* smtp_session.c */
/* Called when the commit (or what stands for it) is over. */
void smtp_session_commit_done(struct smtp_session *s);

#endif
