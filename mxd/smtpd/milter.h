/*
 * milter: runs one message past the configured milters (smtpd_milters), one after the other, over
 * the Sendmail milter protocol (milter_proto.h), and gives one verdict. Non-blocking sockets on the
 * session's event loop: a milter that is slow, hangs or talks garbage holds only its own message,
 * for at most milter_connect_timeout, milter_command_timeout (each command up to DATA) or
 * milter_content_timeout (each header, body chunk and the end of the message).
 *
 * The whole conversation happens at the end of DATA, before the reply: CONNECT, HELO, MAIL, each RCPT,
 * DATA, the header fields, the body, the end of message (with macros {client_addr}, {client_name},
 * {client_port}, {daemon_name}, j, v, i, {mail_addr}, {rcpt_addr}, {auth_type}/{auth_authen}/
 * {auth_author} empty). A milter's reject, tempfail or reply code at any step refuses the message; accept
 * ends that milter's part; its edits at the end of the message change the milter_message the next
 * milter and the store see. A milter that fails (cannot connect, times out, closes, sends a malformed
 * or unexpected packet) gives milter_default_action; with lenient (our own networks), it is skipped.
 *
 * Runs in the event-loop thread. The done callback runs exactly once, never from inside
 * milter_run_start(); the run frees itself after it returns.
 */
#ifndef MXD_MILTER_H
#define MXD_MILTER_H

#include "mxd/smtpd/milter_message.h"
#include "mxd/smtpd/milter_proto.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;

struct milter_spec {
	char name[160]; /* as configured: inet:host:port or unix:/path */
	struct sockaddr_storage sa;
	socklen_t salen;
};

enum milter_default {
	MILTER_DEFAULT_TEMPFAIL,
	MILTER_DEFAULT_ACCEPT,
	MILTER_DEFAULT_REJECT,
	MILTER_DEFAULT_QUARANTINE, /* accept, on hold, with the failure as the reason */
};

struct milter_settings {
	struct milter_spec *specs;
	size_t n;
	enum milter_default default_action;
	int64_t connect_ms, command_ms, content_ms;
	uint32_t version; /* milter_protocol: 2..6 */
};

/* Parse smtpd_milters ("inet:127.0.0.1:11332, unix:/run/x.sock"; inet hosts as numeric addresses or
 * localhost, IPv6 in brackets) into *specs_r. 0, or -1 with *error_r naming the bad entry (a static
 * buffer of this thread). */
int milter_specs_parse(const char *list, struct milter_spec **specs_r, size_t *n_r, const char **error_r);

enum milter_verdict {
	MILTER_VERDICT_ACCEPT,   /* store it (maybe held: quarantine[0] != 0) */
	MILTER_VERDICT_REJECT,   /* code 5xx, enh, text */
	MILTER_VERDICT_TEMPFAIL, /* code 4xx, enh, text */
	MILTER_VERDICT_DISCARD,  /* say 250, store nothing */
};

struct milter_result {
	enum milter_verdict verdict;
	int code;
	char enh[16];
	char text[MILTER_PROTO_TEXT_MAX];
	char quarantine[MILTER_PROTO_TEXT_MAX]; /* "" unless a milter quarantined the message */
	char milter[160];                       /* the milter that decided ("" for plain accept) */
	bool failed;                            /* the verdict is milter_default_action's */
};

typedef void milter_done_cb(void *ctx, const struct milter_result *result);

struct milter_run;

/* Start running msg (borrowed until done) past the milters of settings (copied). */
struct milter_run *milter_run_start(struct event_base *base, const struct milter_settings *settings,
                                    struct milter_message *msg, bool lenient, milter_done_cb *cb, void *ctx);

/* Stop a run without its callback (the session is closing); the milter's connection is closed. Clears
 * *run. */
void milter_run_cancel(struct milter_run **run);

#endif
