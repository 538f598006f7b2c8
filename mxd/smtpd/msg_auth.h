/*
 * msg_auth: the checks of a received message's content at the end of DATA, before the queue: DKIM
 * signatures (dkim_verify.h) and the DMARC verdict of its From: domain (dmarc_eval.h), with the SPF
 * verdict of MAIL FROM. It reads the header (msg_header.h), asks the DNS for every key and policy record
 * at once through mxd/dns, and when all answers are in runs libopendkim and libopendmarc on them. The
 * event loop never waits: a check is asynchronous, its callback runs once from the loop (never inside
 * msg_auth_start()), unless it is cancelled first.
 *
 * OWNS the libraries' process-wide state (msg_auth_new), a resolver on the smtpd event loop, and each
 * check in progress. Event-loop thread only. The callback owns the result it is given.
 */
#ifndef MXD_MSG_AUTH_H
#define MXD_MSG_AUTH_H

#include "mxd/smtpd/dkim_verify.h"
#include "mxd/smtpd/dmarc_eval.h"

#include <stddef.h>

struct event_base;
struct evbuffer;
struct msg_auth;
struct msg_auth_check;
struct spf_result;

struct msg_auth_result {
	struct dkim_verify_sig *sigs; /* one per DKIM-Signature (at most DKIM_VERIFY_SIGS_MAX) */
	size_t nsig;
	char from_domain[256]; /* "" when From: holds no single domain */
	struct dmarc_eval_verdict dmarc;
};

typedef void msg_auth_cb(struct msg_auth_result *result, void *ctx);

/* The checker: resolver is the "resolver" setting, psl_path dmarc_public_suffix_list. NULL with
 * *error_r on failure. */
struct msg_auth *msg_auth_new(struct event_base *base, const char *resolver, const char *psl_path,
                              const char **error_r);
void msg_auth_free(struct msg_auth **ma);

/* Check the message msg[offset..] (the content as the client sent it; what precedes offset is ours).
 * spf is the MAIL FROM verdict (NULL: not checked). msg must stay unchanged until the callback. */
struct msg_auth_check *msg_auth_start(struct msg_auth *ma, struct evbuffer *msg, size_t offset,
                                      const struct spf_result *spf, msg_auth_cb *cb, void *ctx);

/* Cancel a check whose callback has not run: it never will. Sets *check to NULL; NULL is allowed. */
void msg_auth_cancel(struct msg_auth_check **check);

void msg_auth_result_free(struct msg_auth_result **result);

#endif
