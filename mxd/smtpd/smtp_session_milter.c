/*
 * smtp_session_milter: the end of DATA with smtpd_milters set: the message goes past the milters
 * (milter.h) before the reply, then is stored (with the milters' edits, held when one quarantined it),
 * refused (its reply), or dropped (discard: 250, nothing stored). The session waits in
 * SMTP_STATE_COMMIT meanwhile, reading nothing; a client that leaves meanwhile gets nothing stored
 * (it never saw a 250) and the session lingers until the verdict, as it does for a commit.
 */
#include "mxd/smtpd/smtp_session_private.h"

#include "mxd/common/config.h"
#include "mxd/common/log.h"
#include "mxd/common/util.h"
#include "mxd/queue/queue_batch.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

void smtp_session_commit_done(struct smtp_session *s);

void session_milter_free(struct smtp_txn *t)
{
	milter_run_cancel(&t->milter_run);
	if (t->milter == NULL)
		return;
	milter_message_clear(t->milter);
	free(t->milter);
	t->milter = NULL;
}

/* Take out the recipients (as the client gave them) that the milters deleted, with their finals. */
static void txn_drop_rcpt(struct smtp_txn *t, const char *rcpt)
{
	size_t k = 0;
	for (size_t i = 0; i < t->nfinal; i++) {
		if (strcasecmp(t->final_orig[i], rcpt) == 0) {
			free(t->finals[i]);
			free(t->final_orig[i]);
			continue;
		}
		t->finals[k] = t->finals[i];
		t->final_orig[k] = t->final_orig[i];
		t->final_state[k] = t->final_state[i];
		t->final_dsn[k] = t->final_dsn[i];
		t->final_reason[k] = t->final_reason[i];
		k++;
	}
	t->nfinal = k;
}

static bool in_list(char *const *list, size_t n, const char *addr)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(list[i], addr) == 0)
			return true;
	return false;
}

/* Apply the milters' envelope edits to the transaction: deleted recipients leave, added ones are
 * expanded as if a client in our own networks had given them. */
static void apply_envelope(struct smtp_session *s)
{
	struct smtp_txn *t = s->txn;
	struct milter_message *m = t->milter;
	if (strcmp(t->sender, m->sender) != 0) {
		log_info("smtpd", "%s: milter: sender changed from <%s> to <%s>", t->id, t->sender,
		         m->sender);
		free(t->sender);
		t->sender = xstrdup(m->sender);
	}
	for (size_t i = 0; i < t->nrcpt; i++) {
		if (in_list(m->rcpts, m->nrcpt, t->rcpts[i]))
			continue;
		log_info("smtpd", "%s: milter: recipient <%s> deleted", t->id, t->rcpts[i]);
		txn_drop_rcpt(t, t->rcpts[i]);
	}
	for (size_t i = 0; i < m->nrcpt; i++) {
		if (in_list(t->rcpts, t->nrcpt, m->rcpts[i]))
			continue;
		char *arg = xasprintf("TO:<%s>", m->rcpts[i]);
		struct smtp_path path;
		struct smtp_parse_error err;
		struct policy_reply reply;
		struct expansion exp;
		const char *rest;
		if (smtp_parse_path(arg, "TO:", &path, &rest, &err) < 0) {
			log_warn("smtpd", "%s: milter: added recipient <%s> ignored: %s", t->id, m->rcpts[i],
			         err.text);
		} else if (policy_check_rcpt(s->env->policy, &path, t->sender, true, &reply, &exp) < 0) {
			log_warn("smtpd", "%s: milter: added recipient <%s> ignored: %d %s", t->id,
			         m->rcpts[i], reply.code, reply.text);
		} else {
			log_info("smtpd", "%s: milter: recipient <%s> added", t->id, path.address);
			session_txn_add_finals(t, path.address, &exp);
			expansion_clear(&exp);
		}
		free(arg);
	}
}

static void delivery_log_written(void *ctx, struct queue_batch *b)
{
	(void)ctx;
	const char *error;
	if (queue_batch_result(b, &error) < 0)
		log_warn("smtpd", "delivery log: cannot record a milter verdict: %s", error);
	queue_batch_free(&b); /* the committer's thread: nothing else holds b */
}

/* The verdict in the delivery log (one row per recipient, event milter-reject, milter-discard or
 * milter-hold), so the admin UI's log and mxctl show refusals by reason. Written by the queue's committer
 * with its next transaction: the event loop does not wait for it. */
static void delivery_log_verdict(struct smtp_session *s, const char *event, const char *dsn,
                                 const char *reply)
{
	struct smtp_txn *t = s->txn;
	if (s->env->queue == NULL || t->nrcpt == 0)
		return;
	struct queue_log_event *ev = xcalloc(t->nrcpt, sizeof(*ev));
	for (size_t i = 0; i < t->nrcpt; i++) {
		ev[i].queue_id = t->id;
		ev[i].event = event;
		ev[i].sender = t->sender;
		ev[i].address = t->rcpts[i];
		ev[i].orig_address = t->rcpts[i];
		ev[i].relay = s->addr;
		ev[i].dsn = dsn;
		ev[i].reply = reply;
	}
	struct queue_batch *b = queue_batch_new();
	queue_batch_log(b, ev, t->nrcpt);
	free(ev);
	queue_batch_submit(b, s->env->queue, delivery_log_written, NULL);
}

static void log_milter(struct smtp_session *s, const char *what, const char *detail)
{
	struct smtp_txn *t = s->txn;
	log_info("smtpd", "%s: %s: END-OF-MESSAGE from %s[%s]: %s; from=<%s> to=<%s> proto=%s helo=<%s>",
	         t->id, what, s->name, s->addr, detail, t->sender, t->nrcpt > 0 ? t->rcpts[0] : "",
	         session_proto(s), s->helo);
}

/* Whether the client closed its side while we did not read (reading stops while the milters run). */
static bool client_gone(struct smtp_session *s)
{
	if (s->bev == NULL)
		return true;
	char c;
	evutil_socket_t fd = bufferevent_getfd(s->bev);
	if (fd < 0) {
		struct bufferevent *under = bufferevent_get_underlying(s->bev);
		fd = under != NULL ? bufferevent_getfd(under) : -1;
	}
	/* commands pipelined after the message (QUIT) and then a half-close: the client still reads */
	if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0)
		return false;
	return fd >= 0 && recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* The milters' header edits become the message's new head (the body stays where it is, in the view);
 * a replaced body replaces all. */
static void apply_content(struct smtp_session *s)
{
	struct smtp_txn *t = s->txn;
	const struct milter_message *m = t->milter;
	struct evbuffer *head = xevbuffer_new();
	size_t old_len = m->body_off;
	if (m->new_body != NULL) {
		milter_message_write(m, head);
		old_len = evbuffer_get_length(t->body);
	} else {
		milter_message_write_head(m, head);
	}
	size_t len = evbuffer_get_length(head);
	data_view_replace_head(t->view, old_len, evbuffer_pullup(head, -1), len);
	evbuffer_free(head);
}

static void milter_done(void *ctx, const struct milter_result *res)
{
	struct smtp_session *s = ctx;
	struct smtp_txn *t = s->txn;
	struct smtp_stats *st = &s->env->stats;
	t->milter_run = NULL; /* it frees itself after this call */
	if (res->failed)
		st->milter_failed++;
	if (client_gone(s)) {
		/* no 250 can reach the client: storing the message would deliver it twice when it retries */
		log_info("smtpd", "%s: lost connection while the milters ran: nothing stored", t->id);
		session_txn_free(s);
		if (s->bev != NULL) {
			session_enter_state(s, SMTP_STATE_READY);
			session_close_after_reply(s);
			return;
		}
		smtp_session_commit_done(s);
		return;
	}
	char detail[MILTER_PROTO_TEXT_MAX + 64];
	switch (res->verdict) {
	case MILTER_VERDICT_REJECT:
	case MILTER_VERDICT_TEMPFAIL: {
		if (res->verdict == MILTER_VERDICT_REJECT)
			st->milter_rejected++;
		else
			st->milter_tempfailed++;
		smtp_stats_reject(st, res->enh);
		struct policy_reply r = {.code = res->code, .enh = res->enh};
		snprintf(r.text, sizeof(r.text), "%s", res->text);
		snprintf(detail, sizeof(detail), "%d %s %s%s (milter %s)", res->code, res->enh, res->text,
		         res->failed ? ", milter_default_action" : "", res->milter);
		log_milter(s, "milter-reject", detail);
		delivery_log_verdict(s, "milter-reject", res->enh, detail);
		session_reply(s, r.code, r.enh, "%s", r.text);
		break;
	}
	case MILTER_VERDICT_DISCARD:
		st->milter_discarded++;
		snprintf(detail, sizeof(detail), "milter triggers DISCARD action (milter %s)", res->milter);
		log_milter(s, "milter-discard", detail);
		delivery_log_verdict(s, "milter-discard", "", detail);
		session_reply(s, 250, "2.0.0", "Ok: queued as %s", t->id);
		break;
	case MILTER_VERDICT_ACCEPT:
		if (t->milter->envelope_changed)
			apply_envelope(s);
		if (t->milter->content_changed)
			apply_content(s);
		if (t->nfinal == 0) {
			st->milter_discarded++;
			log_milter(s, "milter-discard", "the milters deleted every recipient");
			session_reply(s, 250, "2.0.0", "Ok: queued as %s", t->id);
			break;
		}
		session_milter_free(t);
		if (res->quarantine[0] != '\0') {
			st->milter_quarantined++;
			snprintf(detail, sizeof(detail), "milter triggers HOLD action: %s (milter %s)",
			         res->quarantine, res->milter);
			log_milter(s, "milter-hold", detail);
			delivery_log_verdict(s, "milter-hold", "", detail);
			char reason[MILTER_PROTO_TEXT_MAX + 200];
			snprintf(reason, sizeof(reason), "%s (milter %s)", res->quarantine, res->milter);
			session_data_store(s, reason);
		} else {
			session_data_store(s, NULL);
		}
		return; /* the commit callback replies */
	}
	session_txn_free(s);
	session_enter_state(s, SMTP_STATE_READY);
	smtp_session_commit_done(s);
}

void session_milter_start(struct smtp_session *s)
{
	struct smtp_txn *t = s->txn;
	struct milter_message *m = xcalloc(1, sizeof(*m));
	m->client_name = s->name;
	m->client_addr = s->addr;
	m->client_family = s->sa.ss_family;
	if (s->sa.ss_family == AF_INET)
		m->client_port = ntohs(((const struct sockaddr_in *)&s->sa)->sin_port);
	else if (s->sa.ss_family == AF_INET6)
		m->client_port = ntohs(((const struct sockaddr_in6 *)&s->sa)->sin6_port);
	m->helo = s->helo;
	m->queue_id = t->id;
	m->myhostname = s->env->cfg->myhostname;
	m->esmtp = s->esmtp;
	milter_message_init(m, t->body, t->sender, (const char *const *)t->rcpts, t->nrcpt);
	t->milter = m;
	session_enter_state(s, SMTP_STATE_COMMIT);
	bufferevent_disable(s->bev, EV_READ);
	t->milter_run = milter_run_start(s->env->base, &s->env->milters, m, s->trusted, milter_done, s);
}

bool session_milter_shutdown(struct smtp_session *s)
{
	if (s->txn == NULL || s->txn->milter_run == NULL || s->bev == NULL)
		return false;
	log_info("smtpd", "%s: milter run cancelled: shutting down; nothing stored", s->txn->id);
	session_txn_free(s);                      /* cancels the run */
	session_enter_state(s, SMTP_STATE_READY); /* out of COMMIT, so that the close goes ahead */
	return true;
}
