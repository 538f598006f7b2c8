/*
 * smtp_session_auth: the end of DATA, between the client's final "." and the queue. In order:
 *  1. the ARC chain the message came with is validated (keys through the resolver, signatures on an
 *     auth_worker thread);
 *  2. for clients that are checked (dmarc_policy tag or enforce; not mynetworks nor trusted_peers),
 *     DKIM and DMARC (msg_auth.h); the message is refused (550 5.7.1, DMARC p=reject under enforce,
 *     unless a passing ARC chain was sealed last by one of arc_trusted_sealers), or marked
 *     (X-mxd-DMARC for failures kept), From-rewritten (dmarc_from_rewrite);
 *  3. our Authentication-Results (spf, dkim, dmarc, arc) goes on top, and with a key our ARC set above
 *     it (on a worker thread: an RSA signature costs a millisecond or more, which the loop must not
 *     spend); then session_data_submit() hands the message to the queue.
 * Steps 1-2 run in SMTP_STATE_CHECK: a client that leaves ends the session, which cancels them, and
 * nothing is stored. Step 3 runs in SMTP_STATE_COMMIT; a client gone by its end gets nothing stored.
 * Nothing is accepted before the verdict, so a refusal is never a bounce after a 250.
 */
#include "mxd/smtpd/smtp_session_private.h"

#include "mxd/auth/arc_seal.h"
#include "mxd/auth/auth_worker.h"
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
#include <strings.h>
#include <time.h>

/* Input kept while the checks run: reading goes on so that a client leaving is seen (its session ends,
 * which cancels them: nothing is queued), but what it pipelines meanwhile is held, up to this. */
#define SESSION_CHECK_INPUT_MAX (64 * 1024)

/* Our Authentication-Results starts with spf (when checked)... */
static struct auth_results *results_base(struct smtp_session *s)
{
	struct smtp_txn *t = s->txn;
	struct auth_results *ar = auth_results_new(s->env->cfg->myhostname);
	if (t->spf != NULL)
		spf_header_auth_results_add(ar, t->spf);
	return ar;
}

/* ... and ends with arc when the chain was checked ("none" without one: the next hop knows we looked;
 * RFC 8617 10.2 registers the method and smtp.remote-ip). */
static struct auth_results *results_add_arc(struct smtp_session *s, struct auth_results *ar)
{
	struct smtp_txn *t = s->txn;
	if (t->arc_checked)
		auth_results_add(ar, "arc", arc_cv_str(t->arc_cv), NULL, "smtp.remote-ip", s->addr, NULL);
	return ar;
}

/* The results of the DKIM/DMARC check. override: the trusted ARC sealer that vouches for a DMARC
 * failure (NULL: none), said in the dmarc result's comment as "dis=none arc-override=DOMAIN", the way
 * verifiers write a disposition overridden by local policy. */
static struct auth_results *results_of(struct smtp_session *s, const struct msg_auth_result *r,
                                       const char *override)
{
	struct auth_results *ar = results_base(s);
	if (r->nsig == 0)
		auth_results_add(ar, "dkim", "none", "no signature", NULL);
	for (size_t i = 0; i < r->nsig; i++) {
		const struct dkim_verify_sig *g = &r->sigs[i];
		auth_results_add(ar, "dkim", g->result, g->why, "header.d", g->domain, "header.s",
		                 g->selector, "header.b", g->b, NULL);
	}
	const struct dmarc_eval_verdict *v = &r->dmarc;
	char comment[400];
	if (v->policy != 0 && override != NULL)
		snprintf(comment, sizeof(comment), "p=%s dis=none arc-override=%s",
		         dmarc_policy_str(v->policy), override);
	else if (v->policy != 0)
		snprintf(comment, sizeof(comment), "p=%s dis=%s", dmarc_policy_str(v->policy),
		         v->result == DMARC_RESULT_FAIL ? dmarc_policy_str(v->disposition) : "none");
	auth_results_add(ar, "dmarc", dmarc_result_str(v->result), v->policy != 0 ? comment : v->reason,
	                 "header.from", r->from_domain, "policy.dmarc", dmarc_policy_str(v->policy), NULL);
	return results_add_arc(s, ar);
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
	/* the new head (a copy: the view rewrites in place), over the old one up to the old From:'s CRLF */
	struct evbuffer *head = xevbuffer_new();
	evbuffer_add(head, buf, t->content_offset + from.start);
	evbuffer_add_printf(head, "From: <%s>\r\n", alias);
	if (!have_reply_to)
		evbuffer_add_printf(head, "Reply-To:%.*s\r\n", (int)from.value_len, hdr + from.value_off);
	size_t head_len = evbuffer_get_length(head);
	data_view_replace_head(t->view, t->content_offset + from.end + 2, evbuffer_pullup(head, -1),
	                       head_len);
	evbuffer_free(head);
	return 0;
}

/* A seal being made on a worker thread: it reads the message (the session's body, which nothing
 * touches while the session commits) and the sealer's key, and writes set or error. */
struct seal_job {
	struct smtp_session *s;
	const struct arc_sealer *sealer;
	const char *msg;
	size_t len;
	enum arc_cv cv;
	char *authres;
	long long now;
	char *set;
	const char *error;
};

static void seal_run(void *arg)
{
	struct seal_job *j = arg;
	j->set = arc_seal(j->sealer, j->msg, j->len, j->cv, j->authres, j->now, &j->error);
}

/* The seal is made (or failed: the message goes unsealed, with a warning); store the message, unless
 * the client left meanwhile: it had no reply, and will send the message again. */
static void seal_done(void *arg)
{
	struct seal_job *j = arg;
	struct smtp_session *s = j->s;
	struct smtp_txn *t = s->txn;
	if (j->set != NULL)
		data_view_replace_head(t->view, 0, j->set, strlen(j->set));
	else if (j->error != NULL)
		log_warn("smtpd", "%s: ARC seal not added: %s", t->id, j->error);
	free(j->set);
	free(j->authres);
	free(j);
	if (s->bev == NULL) {
		log_info("smtpd", "%s: the client left before the reply; message not stored", t->id);
		smtp_session_commit_done(s);
		return;
	}
	session_data_submit(s);
}

/* Step 3: Authentication-Results on top (ar, taken; NULL when nothing was checked: then none, as
 * "arc=none" alone tells nobody anything) and, with a key, our ARC set above it (RFC 8617 5.1), sealing
 * the message as it will be stored; then store it. */
static void data_seal(struct smtp_session *s, struct auth_results *ar)
{
	struct smtp_txn *t = s->txn;
	session_enter_state(s, SMTP_STATE_COMMIT);
	bufferevent_disable(s->bev, EV_READ);
	bufferevent_setwatermark(s->bev, EV_READ, 0, 0);
	char *h = NULL;
	if (ar != NULL) {
		h = auth_results_header(ar);
		auth_results_free(&ar);
		data_view_replace_head(t->view, 0, h, strlen(h));
	}
	if (s->env->arc == NULL || t->arc_terminated || h == NULL) {
		free(h);
		session_data_submit(s);
		return;
	}
	struct seal_job *j = xcalloc(1, sizeof(*j));
	j->s = s;
	j->sealer = s->env->arc;
	j->len = evbuffer_get_length(t->body);
	j->msg = (const char *)evbuffer_pullup(t->body, -1); /* one chunk: no copy */
	j->cv = t->arc_checked ? t->arc_cv : ARC_CV_NONE;
	j->authres = xstrdup(h + strlen("Authentication-Results:"));
	j->now = (long long)time(NULL);
	free(h);
	if (s->env->auth_worker != NULL) {
		auth_worker_submit(s->env->auth_worker, seal_run, seal_done, j);
		return;
	}
	seal_run(j);
	seal_done(j);
}

/* The sealer that arc_trusted_sealers vouches for, if the chain validated and its last seal (the hop
 * that handed the message to us) was made by a listed domain; else NULL. */
static const char *arc_trusted(struct smtp_session *s)
{
	struct smtp_txn *t = s->txn;
	if (!t->arc_checked || t->arc_cv != ARC_CV_PASS || t->arc_sealers == NULL)
		return NULL;
	const char *last = strrchr(t->arc_sealers, ',');
	last = last != NULL ? last + 1 : t->arc_sealers;
	return *last != '\0' && policy_arc_trusted_sealer(s->env->policy, last) ? last : NULL;
}

/* Step 2's verdict. */
static void auth_checked(struct msg_auth_result *r, void *ctx)
{
	struct smtp_session *s = ctx;
	struct smtp_txn *t = s->txn;
	t->auth_check = NULL;
	const struct mxd_config *cfg = s->env->cfg;
	const struct dmarc_eval_verdict *v = &r->dmarc;
	bool failed = v->result == DMARC_RESULT_FAIL;
	const char *sealer = failed ? arc_trusted(s) : NULL;
	bool trusted_arc = sealer != NULL;
	struct auth_results *ar = results_of(s, r, sealer);
	char *summary = auth_results_summary(ar);
	if (trusted_arc)
		log_info("smtpd", "%s: %s; DMARC failure overridden: ARC sealer %s is trusted", t->id,
		         summary, sealer);
	else
		log_info("smtpd", "%s: %s", t->id, summary);
	t->auth_note = summary; /* the delivery log's 'received' rows */

	/* Without an SPF verdict (spf_policy = off) DMARC saw only half the evidence: never refused then. */
	if (failed && !trusted_arc && v->disposition == 'r' && strcmp(cfg->dmarc_policy, "enforce") == 0 &&
	    t->spf != NULL) {
		char text[400];
		snprintf(text, sizeof(text), "Error: DMARC policy of %s rejects this message (%s)",
		         r->from_domain, v->reason);
		s->env->stats.rejected_data++;
		smtp_stats_reject(&s->env->stats, "5.7.1");
		session_log_reject_text(s, "END-OF-MESSAGE", 550, "5.7.1", text);
		session_reply(s, 550, "5.7.1", "%s", text);
		auth_results_free(&ar);
		msg_auth_result_free(&r);
		bufferevent_setwatermark(s->bev, EV_READ, 0, 0);
		session_txn_free(s);
		session_enter_state(s, SMTP_STATE_READY);
		session_resume(s);
		return;
	}
	if (failed && !trusted_arc && (v->disposition == 'q' || v->disposition == 'r')) {
		/* kept, and marked for the mailbox's filters: rspamd and Gmail file such mail as spam */
		char *mark =
		    xasprintf("X-mxd-DMARC: %s (p=%s; header.from=%s)\r\n", dmarc_policy_str(v->disposition),
		              dmarc_policy_str(v->policy), r->from_domain);
		data_view_replace_head(t->view, 0, mark, strlen(mark));
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
	data_seal(s, ar);
}

/* Step 2 for the clients it applies to; else straight to step 3. */
static void data_check_content(struct smtp_session *s)
{
	struct smtp_txn *t = s->txn;
	/* mynetworks and trusted_peers (our other MX host, which checked the mail it relays) are not
	 * checked, as for SPF */
	if (s->env->auth != NULL && !s->trusted && strcmp(s->env->cfg->dmarc_policy, "off") != 0) {
		t->auth_check =
		    msg_auth_start(s->env->auth, t->body, t->content_offset, t->spf, auth_checked, s);
		return;
	}
	bool any = t->spf != NULL || (t->arc_checked && t->arc_cv != ARC_CV_NONE);
	data_seal(s, any ? results_add_arc(s, results_base(s)) : NULL);
}

/* Might the message carry an ARC chain? Only its header section is made contiguous to look; a header
 * that ends on a line that is no field is left to arc_verify's own parser. */
static bool header_has_arc(struct evbuffer *body)
{
	struct evbuffer_ptr end = evbuffer_search(body, "\r\n\r\n", 4, NULL);
	size_t len = end.pos < 0 ? evbuffer_get_length(body) : (size_t)end.pos + 2;
	const char *head = (const char *)evbuffer_pullup(body, (ev_ssize_t)len);
	return head == NULL ? len > 0 : msg_header_has_prefix(head, len, "ARC-") != 0;
}

/* Step 1's verdict: recorded in the transaction (arc_trusted_sealers reads it), then step 2. */
static void data_arc_checked(void *ctx, const struct arc_verdict *v)
{
	struct smtp_session *s = ctx;
	struct smtp_txn *t = s->txn;
	t->arc_verify = NULL;
	t->arc_checked = true;
	t->arc_cv = v->cv;
	t->arc_terminated = v->terminated;
	t->arc_sealers = xstrdup(v->sealers);
	if (v->cv != ARC_CV_NONE)
		log_info("smtpd", "%s: arc=%s%s%s%s%s", t->id, arc_cv_str(v->cv),
		         v->sealers[0] ? " sealers=" : "", v->sealers, v->why ? ", reason=" : "",
		         v->why ? v->why : "");
	data_check_content(s);
}

void session_auth_start(struct smtp_session *s)
{
	struct smtp_txn *t = s->txn;
	session_enter_state(s, SMTP_STATE_CHECK);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SESSION_CHECK_INPUT_MAX);
	bufferevent_enable(s->bev, EV_READ);
	if (s->env->dns == NULL) {
		data_check_content(s);
		return;
	}
	if (!header_has_arc(t->body)) {
		const struct arc_verdict none = {.cv = ARC_CV_NONE, .sealers = ""};
		data_arc_checked(s, &none); /* no chain to validate: the whole message is not even read */
		return;
	}
	/* the view is one chunk (its head grows into the room in front), so this copies nothing; arc_verify
	 * copies a message whose chain passes its first checks, to verify it on a worker thread */
	size_t len = evbuffer_get_length(t->body);
	const char *text = (const char *)evbuffer_pullup(t->body, -1);
	t->arc_verify =
	    arc_verify_start(s->env->base, s->env->dns, s->env->auth_worker, text, len, data_arc_checked, s);
}
