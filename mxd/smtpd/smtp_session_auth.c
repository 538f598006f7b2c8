/*
 * smtp_session_auth: the end of DATA for a session whose content is checked (dmarc_policy tag or
 * enforce): the DKIM/DMARC check (msg_auth.h) runs while reading waits, then the message is refused
 * (550 5.7.1, DMARC p=reject under enforce), or marked (X-mxd-DMARC for failures that are not refused),
 * From-rewritten (dmarc_from_rewrite) and handed to the queue with one Authentication-Results field.
 * Nothing is accepted before the verdict, so a refusal is never a bounce after a 250. A client that
 * leaves meanwhile frees the transaction, which cancels the check (session_txn_free).
 */
#include "mxd/smtpd/smtp_session_private.h"

#include "mxd/common/config.h"
#include "mxd/common/log.h"
#include "mxd/common/util.h"
#include "mxd/smtpd/auth_results.h"
#include "mxd/smtpd/msg_header.h"
#include "mxd/smtpd/policy.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct auth_results *results_of(struct smtp_session *s, const struct msg_auth_result *r)
{
	struct smtp_txn *t = s->txn;
	struct auth_results *ar = auth_results_new(s->env->cfg->myhostname);
	if (t->spf != NULL)
		spf_header_auth_results_add(ar, t->spf);
	if (r->nsig == 0)
		auth_results_add(ar, "dkim", "none", "no signature", NULL);
	for (size_t i = 0; i < r->nsig; i++) {
		const struct dkim_verify_sig *g = &r->sigs[i];
		auth_results_add(ar, "dkim", g->result, g->why, "header.d", g->domain, "header.s",
		                 g->selector, "header.b", g->b, NULL);
	}
	const struct dmarc_eval_verdict *v = &r->dmarc;
	char comment[96];
	if (v->policy != 0)
		snprintf(comment, sizeof(comment), "p=%s dis=%s", dmarc_policy_str(v->policy),
		         v->result == DMARC_RESULT_FAIL ? dmarc_policy_str(v->disposition) : "none");
	auth_results_add(ar, "dmarc", dmarc_result_str(v->result), v->policy != 0 ? comment : v->reason,
	                 "header.from", r->from_domain, "policy.dmarc", dmarc_policy_str(v->policy), NULL);
	/* an "arc" result (the ARC verifier's) goes here with one more auth_results_add() */
	return ar;
}

/* The new header for dmarc_from_rewrite: From: the alias, the original From: in Reply-To unless the
 * message has one. 0 done, -1 when the header cannot be rewritten (it stays as it is). */
static int rewrite_from(struct smtp_session *s, const char *alias, char *orig_r, size_t orig_size)
{
	struct smtp_txn *t = s->txn;
	struct evbuffer_ptr eoh = evbuffer_search(t->body, "\r\n\r\n", 4, NULL);
	if (eoh.pos < 0)
		return -1;
	size_t end = (size_t)eoh.pos + 2;
	const char *buf = (const char *)evbuffer_pullup(t->body, (ssize_t)end);
	const char *hdr = buf + t->content_offset;
	size_t len = end - t->content_offset, pos = 0;
	struct msg_field f, from = {0};
	bool have_from = false, have_reply_to = false;
	while (msg_header_next(hdr, len, &pos, &f) == 1) {
		if (msg_header_is(hdr, &f, "From")) {
			from = f;
			have_from = true;
		} else if (msg_header_is(hdr, &f, "Reply-To")) {
			have_reply_to = true;
		}
	}
	if (!have_from)
		return -1;
	size_t vs = from.value_off, vl = from.value_len;
	while (vl > 0 && (hdr[vs] == ' ' || hdr[vs] == '\t'))
		vs++, vl--;
	snprintf(orig_r, orig_size, "%.*s", (int)vl, hdr + vs);
	for (char *p = orig_r; *p != '\0'; p++)
		if (*p == '\r' || *p == '\n' || *p == '\t')
			*p = ' ';
	struct evbuffer *out = xevbuffer_new();
	evbuffer_add(out, buf, t->content_offset + from.start);
	evbuffer_add_printf(out, "From: <%s>\r\n", alias);
	if (!have_reply_to)
		evbuffer_add_printf(out, "Reply-To:%.*s\r\n", (int)from.value_len, hdr + from.value_off);
	size_t rest = t->content_offset + from.end + 2; /* past the CRLF of the old From: */
	evbuffer_drain(t->body, rest);
	evbuffer_add_buffer(out, t->body);
	evbuffer_free(t->body);
	t->body = out;
	return 0;
}

static void auth_checked(struct msg_auth_result *r, void *ctx)
{
	struct smtp_session *s = ctx;
	struct smtp_txn *t = s->txn;
	t->auth_check = NULL;
	if (s->bev != NULL)
		bufferevent_setwatermark(s->bev, EV_READ, 0, 0);
	if (s->state != SMTP_STATE_CHECK) {
		msg_auth_result_free(&r); /* closing meanwhile (write timeout): no reply is due */
		return;
	}
	const struct mxd_config *cfg = s->env->cfg;
	const struct dmarc_eval_verdict *v = &r->dmarc;
	struct auth_results *ar = results_of(s, r);
	char *summary = auth_results_summary(ar);
	log_info("smtpd", "%s: %s", t->id, summary);
	t->auth_note = summary; /* the delivery log's 'received' rows */

	bool failed = v->result == DMARC_RESULT_FAIL;
	/* Without an SPF verdict (spf_policy = off) DMARC saw only half the evidence: never refused then. */
	if (failed && v->disposition == 'r' && strcmp(cfg->dmarc_policy, "enforce") == 0 && t->spf != NULL) {
		char text[400];
		snprintf(text, sizeof(text), "Error: DMARC policy of %s rejects this message (%s)",
		         r->from_domain, v->reason);
		s->env->stats.rejected_data++;
		smtp_stats_reject(&s->env->stats, "5.7.1");
		session_log_reject(s, "END-OF-MESSAGE", 550, "5.7.1", text);
		session_reply(s, 550, "5.7.1", "%s", text);
		auth_results_free(&ar);
		msg_auth_result_free(&r);
		session_txn_free(s);
		session_enter_state(s, SMTP_STATE_READY);
		session_resume(s);
		return;
	}
	if (failed && (v->disposition == 'q' || v->disposition == 'r')) {
		/* kept, and marked for the mailbox's filters: rspamd and Gmail file such mail as spam */
		char *mark =
		    xasprintf("X-mxd-DMARC: %s (p=%s; header.from=%s)\r\n", dmarc_policy_str(v->disposition),
		              dmarc_policy_str(v->policy), r->from_domain);
		evbuffer_prepend(t->body, mark, strlen(mark));
		t->content_offset += strlen(mark);
		free(mark);
	}
	if (v->result == DMARC_RESULT_PASS && v->policy == 'r' && v->spf_aligned && !v->dkim_aligned &&
	    t->nrcpt > 0 && policy_dmarc_from_rewrite(s->env->policy, t->rcpts[0])) {
		/* passed by SPF alone: after our forward it cannot pass again, so From: becomes the alias */
		char orig[512];
		if (rewrite_from(s, t->rcpts[0], orig, sizeof(orig)) == 0) {
			log_info("cleanup",
			         "%s: from rewritten: <%s> replaces %s (DMARC p=reject of %s, SPF only)",
			         t->id, t->rcpts[0], orig, r->from_domain);
			char *note = xasprintf("%s; from rewritten to <%s>", t->auth_note, t->rcpts[0]);
			free(t->auth_note);
			t->auth_note = note;
		}
	}
	msg_auth_result_free(&r);
	session_data_submit(s, ar);
}

/* Input kept while the check runs: reading goes on so that a client leaving is seen (its session ends,
 * which cancels the check: nothing is queued), but what it pipelines meanwhile is held, up to this. */
#define SESSION_CHECK_INPUT_MAX (64 * 1024)

void session_auth_start(struct smtp_session *s)
{
	struct smtp_txn *t = s->txn;
	session_enter_state(s, SMTP_STATE_CHECK);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SESSION_CHECK_INPUT_MAX);
	t->auth_check = msg_auth_start(s->env->auth, t->body, t->content_offset, t->spf, auth_checked, s);
}
