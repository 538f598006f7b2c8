/* smtp_session_auth: the end of DATA's authentication steps: the ARC chain a message came with is
 * validated (keys through the resolver, signatures on an auth_worker thread), our Authentication-Results
 * is written, and our ARC set seals the message (on a worker thread: an RSA signature costs a
 * millisecond or more, which the event loop must not spend) before the queue stores it. See
 * smtp_session_private.h. */
#include "mxd/smtpd/smtp_session_private.h"

#include "mxd/auth/arc_seal.h"
#include "mxd/auth/auth_worker.h"
#include "mxd/common/config.h"
#include "mxd/common/log.h"
#include "mxd/common/util.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Our Authentication-Results field (RFC 8601) as it stands for this transaction: SPF, and ARC once the
 * chain was validated; NULL when nothing was checked. Every header that repeats our results (the ARC
 * set's AAR) takes it from here. */
static char *session_authres(struct smtp_session *s)
{
	struct smtp_txn *t = s->txn;
	if (t->spf == NULL && !t->arc_checked)
		return NULL;
	char *arc = t->arc_checked ? xasprintf("arc=%s", arc_cv_str(t->arc_cv)) : NULL;
	const char *more[] = {arc, NULL};
	char *h = spf_header_authentication_results_more(t->spf, s->env->cfg->myhostname, more);
	free(arc);
	return h;
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

/* The seal is made (or failed: the message goes unsealed, with a warning); store the message. */
static void seal_done(void *arg)
{
	struct seal_job *j = arg;
	struct smtp_session *s = j->s;
	struct smtp_txn *t = s->txn;
	if (j->set != NULL)
		evbuffer_prepend(t->body, j->set, strlen(j->set));
	else if (j->error != NULL)
		log_warn("smtpd", "%s: ARC seal not added: %s", t->id, j->error);
	free(j->set);
	free(j->authres);
	free(j);
	session_data_submit(s);
}

/* Put Authentication-Results on top of the message (when SPF was checked or an ARC chain came with it:
 * "arc=none" alone tells nobody anything) and, with a key, our ARC set above it (RFC 8617 5.1), sealing
 * the message as it will be stored; then store it. */
static void data_seal(struct smtp_session *s, bool may_seal)
{
	struct smtp_txn *t = s->txn;
	char *ar = session_authres(s);
	if (ar != NULL && (t->spf != NULL || t->arc_cv != ARC_CV_NONE))
		evbuffer_prepend(t->body, ar, strlen(ar));
	if (s->env->arc == NULL || !may_seal || ar == NULL) {
		free(ar);
		session_data_submit(s);
		return;
	}
	struct seal_job *j = xcalloc(1, sizeof(*j));
	j->s = s;
	j->sealer = s->env->arc;
	j->len = evbuffer_get_length(t->body);
	j->msg = (const char *)evbuffer_pullup(t->body, -1);
	j->cv = t->arc_cv;
	j->authres = xstrdup(ar + strlen("Authentication-Results:"));
	j->now = (long long)time(NULL);
	free(ar);
	if (s->env->auth_worker != NULL) {
		auth_worker_submit(s->env->auth_worker, seal_run, seal_done, j);
		return;
	}
	seal_run(j);
	seal_done(j);
}

/* The verdict on the ARC chain the message came with: recorded in the transaction, then the message is
 * sealed and stored, unless the client left meanwhile (then nothing is stored: it had no reply). */
static void data_arc_checked(void *ctx, const struct arc_verdict *v)
{
	struct smtp_session *s = ctx;
	struct smtp_txn *t = s->txn;
	t->arc_verify = NULL;
	t->arc_checked = true;
	t->arc_cv = v->cv;
	t->arc_sealers = xstrdup(v->sealers);
	if (v->cv != ARC_CV_NONE)
		log_info("smtpd", "%s: arc=%s%s%s%s%s", t->id, arc_cv_str(v->cv),
		         v->sealers[0] ? " sealers=" : "", v->sealers, v->why ? ", reason=" : "",
		         v->why ? v->why : "");
	if (s->bev == NULL) {
		log_info("smtpd", "%s: the client left before the reply; message not stored", t->id);
		smtp_session_commit_done(s);
		return;
	}
	bufferevent_disable(s->bev, EV_READ);
	bufferevent_setwatermark(s->bev, EV_READ, 0, 0);
	data_seal(s, !v->terminated);
}

void session_auth_data(struct smtp_session *s)
{
	struct smtp_txn *t = s->txn;
	if (s->env->dns == NULL) {
		data_seal(s, true);
		return;
	}
	/* The chain's keys come through the resolver: the loop runs on meanwhile. Reading goes on, a line's
	 * worth at most (nothing read is processed before the reply), so that a client that hangs up is
	 * seen and its message, never answered, is not stored. */
	size_t len = evbuffer_get_length(t->body);
	const char *text = (const char *)evbuffer_pullup(t->body, -1);
	t->arc_verify =
	    arc_verify_start(s->env->base, s->env->dns, s->env->auth_worker, text, len, data_arc_checked, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SMTP_LINE_MAX);
	bufferevent_enable(s->bev, EV_READ);
}
