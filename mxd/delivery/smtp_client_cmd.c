/* smtp_client_cmd: one handler per reply (greeting, EHLO/HELO, STARTTLS, MAIL, RCPT, DATA, end of data,
 * RSET, QUIT) and the per-message transaction and its result; AUTH is in smtp_client_auth.c. See
 * smtp_client.h. */
#include "mxd/delivery/smtp_client_private.h"

#include "mxd/common/log.h"
#include "mxd/common/util.h"

#include <assert.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BODY_CHUNK      (16 * 1024) /* body octets transformed at a time */
#define BODY_HIGH_WATER (64 * 1024) /* stop filling the output here */
#define ADDRESS_MAX     1000

/* The command a reply answers in each state, for "(in reply to X command)". */
static const char *client_cmd_name(enum smtp_client_state state)
{
	switch (state) {
	case SMTP_CLIENT_STATE_EHLO:
	case SMTP_CLIENT_STATE_EHLO_TLS:
		return "EHLO";
	case SMTP_CLIENT_STATE_HELO:
		return "HELO";
	case SMTP_CLIENT_STATE_STARTTLS:
		return "STARTTLS";
	case SMTP_CLIENT_STATE_AUTH:
		return "AUTH";
	case SMTP_CLIENT_STATE_MAIL:
		return "MAIL FROM";
	case SMTP_CLIENT_STATE_RCPT:
		return "RCPT TO";
	case SMTP_CLIENT_STATE_DATA:
		return "DATA";
	case SMTP_CLIENT_STATE_BODY:
	case SMTP_CLIENT_STATE_DOT:
		return "end of DATA";
	case SMTP_CLIENT_STATE_RSET:
		return "RSET";
	case SMTP_CLIENT_STATE_QUIT:
		return "QUIT";
	default:
		return "no";
	}
}

/* "host mx[1.2.3.4] said: 550 5.1.1 no such user (in reply to RCPT TO command)" */
static void client_said(struct smtp_client *c, char *buf, size_t size)
{
	char reply[SMTP_REPLY_STR_MAX];
	smtp_reply_str(&c->reply, reply, sizeof(reply));
	snprintf(buf, size, "host %s said: %s (in reply to %s command)", c->name, reply,
	         client_cmd_name(c->state));
}

static bool is_2xx(int code)
{
	return code >= 200 && code < 300;
}

/* --- greeting, EHLO, HELO, STARTTLS ----------------------------------------------------------------- */

void client_send_ehlo(struct smtp_client *c)
{
	memset(&c->ehlo, 0, sizeof(c->ehlo));
	c->esmtp = false;
	client_write(c, "EHLO %s", c->helo_name);
	client_enter_state(c, c->tls ? SMTP_CLIENT_STATE_EHLO_TLS : SMTP_CLIENT_STATE_EHLO);
	client_arm_timer(c, c->command_timeout);
}

/* EHLO (or HELO) done: STARTTLS, AUTH or READY, as the options want and the server offers. */
static void client_after_ehlo(struct smtp_client *c)
{
	if (c->tls_level != SMTP_CLIENT_TLS_NONE && !c->tls && !c->tls_off &&
	    (c->ehlo.exts & SMTP_REPLY_EXT_STARTTLS)) {
		client_write(c, "STARTTLS");
		client_enter_state(c, SMTP_CLIENT_STATE_STARTTLS);
		client_arm_timer(c, c->command_timeout);
		return;
	}
	if (!c->tls && c->tls_level >= SMTP_CLIENT_TLS_ENCRYPT) {
		client_peer_failed(c, SMTP_CLIENT_FAIL_TLS, NULL, "4.7.4",
		                   "TLS is required, but was not offered by host %s", c->name);
		return;
	}
	if (c->auth_user != NULL) {
		client_auth_start(c);
		return;
	}
	client_ready(c);
}

static void on_greeting(struct smtp_client *c)
{
	if (c->reply.r.code == 220) {
		client_send_ehlo(c);
		return;
	}
	char reply[SMTP_REPLY_STR_MAX];
	smtp_reply_str(&c->reply, reply, sizeof(reply));
	client_peer_failed(c, SMTP_CLIENT_FAIL_CONNECT, &c->reply, NULL, "host %s refused to talk to me: %s",
	                   c->name, reply);
}

static void on_ehlo(struct smtp_client *c)
{
	int code = c->reply.r.code;
	if (is_2xx(code)) {
		c->esmtp = true;
		client_after_ehlo(c);
		return;
	}
	if (code >= 500) {
		/* an old server: fall back to HELO */
		memset(&c->ehlo, 0, sizeof(c->ehlo));
		client_write(c, "HELO %s", c->helo_name);
		client_enter_state(c, SMTP_CLIENT_STATE_HELO);
		client_arm_timer(c, c->command_timeout);
		return;
	}
	char diag[SMTP_CLIENT_DIAG_MAX];
	client_said(c, diag, sizeof(diag));
	client_peer_failed(c, SMTP_CLIENT_FAIL_CONNECT, &c->reply, NULL, "%s", diag);
}

static void on_helo(struct smtp_client *c)
{
	if (is_2xx(c->reply.r.code)) {
		c->esmtp = false;
		client_after_ehlo(c);
		return;
	}
	char diag[SMTP_CLIENT_DIAG_MAX];
	client_said(c, diag, sizeof(diag));
	client_peer_failed(c, SMTP_CLIENT_FAIL_CONNECT, &c->reply, NULL, "%s", diag);
}

static void on_starttls(struct smtp_client *c)
{
	if (c->reply.r.code == 220) {
		client_start_tls(c);
		return;
	}
	char diag[SMTP_CLIENT_DIAG_MAX];
	client_said(c, diag, sizeof(diag));
	if (c->tls_level >= SMTP_CLIENT_TLS_ENCRYPT || c->reply.r.code == 421) {
		client_peer_failed(c, SMTP_CLIENT_FAIL_TLS, &c->reply, NULL, "%s", diag);
		return;
	}
	/* opportunistic: go on in plaintext */
	log_info("smtp", "%s", diag);
	c->tls_off = true;
	client_after_ehlo(c);
}

/* --- the transaction -------------------------------------------------------------------------------- */

static bool address_ok(const char *a)
{
	size_t n = 0;
	for (; a[n] != '\0'; n++)
		if ((unsigned char)a[n] < 0x20 || a[n] == 0x7f)
			return false;
	return n <= ADDRESS_MAX;
}

struct client_txn *client_txn_new(const struct smtp_client_msg *msg, smtp_client_send_cb *cb, void *ctx)
{
	struct client_txn *t = xcalloc(1, sizeof(*t));
	struct smtp_client_result *r = xcalloc(1, sizeof(*r));
	r->id = xstrdup(msg->id != NULL ? msg->id : "");
	r->nrcpt = msg->nrcpt;
	r->rcpts = xcalloc(msg->nrcpt, sizeof(*r->rcpts));
	for (size_t i = 0; i < msg->nrcpt; i++) {
		r->rcpts[i].address = xstrdup(msg->rcpts[i]);
		r->rcpts[i].status = SMTP_CLIENT_DEFERRED;
	}
	t->result = r;
	t->sender = xstrdup(msg->sender != NULL ? msg->sender : "");
	t->body = msg->body;
	t->size = msg->size != 0 ? msg->size : msg->body != NULL ? evbuffer_get_length(msg->body) : 0;
	t->smtputf8 = msg->smtputf8;
	t->eightbit = msg->eightbit;
	t->cb = cb;
	t->ctx = ctx;
	t->phase = xcalloc(msg->nrcpt, sizeof(*t->phase));
	t->order = xcalloc(msg->nrcpt, sizeof(*t->order));
	return t;
}

void client_txn_free(struct client_txn **txn)
{
	struct client_txn *t = *txn;
	if (t == NULL)
		return;
	if (t->result != NULL)
		client_result_free(&t->result);
	free(t->sender);
	free(t->phase);
	free(t->order);
	free(t->chunk);
	free(t);
	*txn = NULL;
}

void client_result_free(struct smtp_client_result **result)
{
	struct smtp_client_result *r = *result;
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nrcpt; i++)
		free((char *)r->rcpts[i].address);
	free(r->rcpts);
	free((char *)r->id);
	free(r);
	*result = NULL;
}

static void set_reply(struct smtp_client_reply *dst, int code, const char *enh, const char *text)
{
	dst->code = code;
	str_copy(dst->enh, sizeof(dst->enh), enh);
	str_copy(dst->text, sizeof(dst->text), text);
}

/* Give recipient i its final status. A failure whose code is not 4xx or 5xx (a protocol surprise) is
 * temporary. */
static void rcpt_done(struct client_txn *t, size_t i, enum smtp_client_status status,
                      const struct smtp_client_reply *reply, const char *diag)
{
	struct smtp_client_rcpt_result *rr = &t->result->rcpts[i];
	t->phase[i] = CLIENT_RCPT_DONE;
	rr->status = status;
	rr->reply = *reply;
	if (status != SMTP_CLIENT_SENT && rr->reply.enh[0] != '4' && rr->reply.enh[0] != '5')
		str_copy(rr->reply.enh, sizeof(rr->reply.enh), "4.5.0");
	str_copy(rr->diag, sizeof(rr->diag), diag);
}

static enum smtp_client_status status_of(int code)
{
	return code >= 500 && code < 600 ? SMTP_CLIENT_BOUNCED : SMTP_CLIENT_DEFERRED;
}

/* Every recipient without a final status gets this one. */
static void rcpt_done_all(struct client_txn *t, enum smtp_client_status status,
                          const struct smtp_client_reply *reply, const char *diag)
{
	for (size_t i = 0; i < t->result->nrcpt; i++)
		if (t->phase[i] != CLIENT_RCPT_DONE)
			rcpt_done(t, i, status, reply, diag);
}

/* The whole message failed here (unless a failure was recorded already). */
static void txn_failure(struct client_txn *t, enum smtp_client_failure failure,
                        const struct smtp_client_reply *reply, const char *diag)
{
	struct smtp_client_result *r = t->result;
	if (r->failure != SMTP_CLIENT_OK)
		return;
	r->failure = failure;
	r->reply = *reply;
	str_copy(r->diag, sizeof(r->diag), diag);
}

enum txn_next { TXN_NEXT_READY, TXN_NEXT_RSET, TXN_NEXT_NONE };

/* Hand the result to the callback (from the event loop) and move on. */
static void client_txn_finish(struct smtp_client *c, enum txn_next next)
{
	struct client_txn *t = c->txn;
	struct smtp_client_result *r = t->result;
	int64_t now = time_mono_msec();
	for (size_t i = 0; i < r->nrcpt; i++) {
		if (t->phase[i] != CLIENT_RCPT_DONE) {
			struct smtp_client_reply reply;
			set_reply(&reply, 0, "4.3.0", "internal error: no reply recorded");
			rcpt_done(t, i, SMTP_CLIENT_DEFERRED, &reply, reply.text);
		}
		r->nsent += r->rcpts[i].status == SMTP_CLIENT_SENT;
		r->ndeferred += r->rcpts[i].status == SMTP_CLIENT_DEFERRED;
		r->nbounced += r->rcpts[i].status == SMTP_CLIENT_BOUNCED;
	}
	if (!c->was_ready)
		c->conn_msec = now - c->t_start;
	r->conn_msec = c->conn_msec_reported ? 0 : c->conn_msec;
	c->conn_msec_reported = true;
	r->xmit_msec = t->started ? now - t->t_start : 0;
	if (t->started)
		c->transactions++;
	c->done = r;
	c->done_cb = t->cb;
	c->done_ctx = t->ctx;
	t->result = NULL;
	client_txn_free(&c->txn);
	client_notify(c);
	if (next == TXN_NEXT_RSET) {
		client_write(c, "RSET");
		client_enter_state(c, SMTP_CLIENT_STATE_RSET);
		client_arm_timer(c, c->command_timeout);
	} else if (next == TXN_NEXT_READY) {
		client_ready(c);
	}
}

/* Refuse the message without sending anything; the connection stays READY. */
static void txn_refuse(struct smtp_client *c, const char *enh, const char *diag)
{
	struct client_txn *t = c->txn;
	struct smtp_client_reply reply;
	set_reply(&reply, 0, enh, diag);
	txn_failure(t, SMTP_CLIENT_FAIL_LOCAL, &reply, diag);
	rcpt_done_all(t, enh[0] == '5' ? SMTP_CLIENT_BOUNCED : SMTP_CLIENT_DEFERRED, &reply, diag);
	client_txn_finish(c, TXN_NEXT_READY);
}

void client_txn_start(struct smtp_client *c)
{
	struct client_txn *t = c->txn;
	struct smtp_client_result *r = t->result;
	char buf[SMTP_CLIENT_DIAG_MAX];
	t->t_start = time_mono_msec();
	client_arm_timer(c, 0);
	str_copy(r->relay, sizeof(r->relay), c->relay);
	r->tls = c->tls;
	r->reused = c->transactions > 0;

	if (!address_ok(t->sender)) {
		txn_refuse(c, "5.1.7", "invalid sender address");
		return;
	}
	if (t->smtputf8 && !(c->ehlo.exts & SMTP_REPLY_EXT_SMTPUTF8)) {
		snprintf(buf, sizeof(buf), "SMTPUTF8 is required, but was not offered by host %s", c->name);
		txn_refuse(c, "5.6.7", buf);
		return;
	}
	if ((c->ehlo.exts & SMTP_REPLY_EXT_SIZE) && c->ehlo.size_limit > 0 && t->size > c->ehlo.size_limit) {
		snprintf(buf, sizeof(buf), "message size %llu exceeds size limit %llu of server %s",
		         (unsigned long long)t->size, (unsigned long long)c->ehlo.size_limit, c->name);
		txn_refuse(c, "5.3.4", buf);
		return;
	}
	for (size_t i = 0; i < r->nrcpt; i++) {
		if (address_ok(r->rcpts[i].address)) {
			t->order[t->norder++] = i;
			continue;
		}
		struct smtp_client_reply reply;
		set_reply(&reply, 0, "5.1.3", "invalid recipient address");
		rcpt_done(t, i, SMTP_CLIENT_BOUNCED, &reply, reply.text);
	}
	if (t->norder == 0) {
		txn_refuse(c, "5.1.3", "no valid recipient");
		return;
	}

	char params[96] = "";
	size_t n = 0;
	if (c->ehlo.exts & SMTP_REPLY_EXT_SIZE)
		n += (size_t)snprintf(params + n, sizeof(params) - n, " SIZE=%llu",
		                      (unsigned long long)t->size);
	if (t->eightbit && (c->ehlo.exts & SMTP_REPLY_EXT_8BITMIME))
		n += (size_t)snprintf(params + n, sizeof(params) - n, " BODY=8BITMIME");
	if (t->smtputf8)
		snprintf(params + n, sizeof(params) - n, " SMTPUTF8");
	client_write(c, "MAIL FROM:<%s>%s", t->sender, params);
	t->started = true;
	if (c->ehlo.exts & SMTP_REPLY_EXT_PIPELINING) {
		/* RFC 2920: the whole envelope and DATA in one write; the replies are read in order. */
		t->pipelined = true;
		for (size_t k = 0; k < t->norder; k++)
			client_write(c, "RCPT TO:<%s>", r->rcpts[t->order[k]].address);
		t->rcpt_sent = t->norder;
		client_write(c, "DATA");
	}
	client_enter_state(c, SMTP_CLIENT_STATE_MAIL);
	client_arm_timer(c, c->command_timeout);
}

void client_txn_abort(struct smtp_client *c, const struct smtp_client_reply *reply, const char *diag)
{
	struct client_txn *t = c->txn;
	txn_failure(t, SMTP_CLIENT_FAIL_LOST, reply, diag);
	rcpt_done_all(t, SMTP_CLIENT_DEFERRED, reply, diag);
	t->result->conn_stale = c->transactions > 0 && !t->mail_answered;
	client_txn_finish(c, TXN_NEXT_NONE);
}

void client_txn_fail_unstarted(struct smtp_client *c)
{
	struct client_txn *t = c->txn;
	struct smtp_client_result *r = t->result;
	assert(!t->started); /* one that started is ended by client_txn_abort() */
	r->failure = c->last_failure;
	r->reply = c->last_reply;
	str_copy(r->diag, sizeof(r->diag), c->last_diag);
	str_copy(r->relay, sizeof(r->relay), c->relay);
	r->conn_stale = c->was_ready;
	rcpt_done_all(t, SMTP_CLIENT_DEFERRED, &c->last_reply, c->last_diag);
	client_txn_finish(c, TXN_NEXT_NONE);
}

static void client_send_rcpt(struct smtp_client *c)
{
	struct client_txn *t = c->txn;
	client_write(c, "RCPT TO:<%s>", t->result->rcpts[t->order[t->rcpt_sent++]].address);
}

static void on_mail(struct smtp_client *c)
{
	struct client_txn *t = c->txn;
	t->mail_answered = true;
	if (!is_2xx(c->reply.r.code)) {
		char diag[SMTP_CLIENT_DIAG_MAX];
		client_said(c, diag, sizeof(diag));
		txn_failure(t, SMTP_CLIENT_FAIL_MAIL, &c->reply.r, diag);
		rcpt_done_all(t, status_of(c->reply.r.code), &c->reply.r, diag);
		if (!t->pipelined) {
			client_txn_finish(c, TXN_NEXT_RSET);
			return;
		}
		t->mail_failed = true; /* the RCPT and DATA replies are still to come */
	} else if (!t->pipelined) {
		client_send_rcpt(c);
	}
	client_enter_state(c, SMTP_CLIENT_STATE_RCPT);
	client_arm_timer(c, c->command_timeout);
}

static void on_rcpt(struct smtp_client *c)
{
	struct client_txn *t = c->txn;
	size_t i = t->order[t->rcpt_replied++];
	if (!t->mail_failed) {
		if (is_2xx(c->reply.r.code)) {
			t->phase[i] = CLIENT_RCPT_ACCEPTED;
			t->naccepted++;
		} else {
			char diag[SMTP_CLIENT_DIAG_MAX];
			client_said(c, diag, sizeof(diag));
			rcpt_done(t, i, status_of(c->reply.r.code), &c->reply.r, diag);
		}
	}
	client_arm_timer(c, c->command_timeout);
	if (t->rcpt_replied < t->norder) {
		if (!t->pipelined)
			client_send_rcpt(c);
		return;
	}
	if (!t->pipelined) {
		if (t->naccepted == 0) {
			client_txn_finish(c, TXN_NEXT_RSET);
			return;
		}
		client_write(c, "DATA");
	}
	client_enter_state(c, SMTP_CLIENT_STATE_DATA);
}

static void on_data(struct smtp_client *c)
{
	struct client_txn *t = c->txn;
	bool nothing = t->mail_failed || t->naccepted == 0;
	if (c->reply.r.code == 354) {
		if (nothing) {
			/* RFC 2920: DATA went out with the envelope but nobody was accepted; end it empty */
			evbuffer_add(bufferevent_get_output(c->bev), ".\r\n", 3);
			t->dot_only = true;
			client_enter_state(c, SMTP_CLIENT_STATE_DOT);
			client_arm_timer(c, c->command_timeout);
			return;
		}
		t->bol = true;
		t->chunk = xmalloc(2 * BODY_CHUNK);
		client_enter_state(c, SMTP_CLIENT_STATE_BODY);
		client_body_pump(c);
		return;
	}
	if (!nothing) {
		char diag[SMTP_CLIENT_DIAG_MAX];
		client_said(c, diag, sizeof(diag));
		txn_failure(t, SMTP_CLIENT_FAIL_DATA, &c->reply.r, diag);
		rcpt_done_all(t, status_of(c->reply.r.code), &c->reply.r, diag);
	}
	client_txn_finish(c, TXN_NEXT_RSET);
}

static void on_dot(struct smtp_client *c)
{
	struct client_txn *t = c->txn;
	if (t->dot_only) {
		client_txn_finish(c, TXN_NEXT_READY);
		return;
	}
	char diag[SMTP_CLIENT_DIAG_MAX];
	enum smtp_client_status status = SMTP_CLIENT_SENT;
	t->result->reply = c->reply.r;
	if (is_2xx(c->reply.r.code)) {
		smtp_reply_str(&c->reply, diag, sizeof(diag));
	} else {
		client_said(c, diag, sizeof(diag));
		status = status_of(c->reply.r.code);
		txn_failure(t, SMTP_CLIENT_FAIL_DATA, &c->reply.r, diag);
	}
	for (size_t i = 0; i < t->result->nrcpt; i++)
		if (t->phase[i] == CLIENT_RCPT_ACCEPTED)
			rcpt_done(t, i, status, &c->reply.r, diag);
	client_txn_finish(c, TXN_NEXT_READY);
}

/* One octet of body_stuff(): line ends made CRLF, dot-stuffing. */
static size_t body_stuff_octet(struct client_txn *t, unsigned char ch, char *out)
{
	size_t o = 0;
	if (ch == '\r' || (ch == '\n' && !t->cr)) {
		out[o++] = '\r';
		out[o++] = '\n';
		t->bol = true;
		t->cr = ch == '\r';
		return o;
	}
	if (ch == '\n') {
		t->cr = false; /* the LF of a CRLF already sent */
		return 0;
	}
	t->cr = false;
	if (t->bol && ch == '.')
		out[o++] = '.';
	out[o++] = (char)ch;
	t->bol = false;
	return o;
}

/* Copy len body octets to out with every line end as CRLF and dot-stuffing; out holds 2 * len. Lines
 * already ending in CRLF (all of them, for mail as the queue stores it) are copied whole; anything else
 * goes octet by octet. */
static size_t body_stuff(struct client_txn *t, const unsigned char *p, size_t len, char *out)
{
	size_t o = 0, i = 0;
	while (i < len) {
		const unsigned char *lf = t->cr ? NULL : memchr(p + i, '\n', len - i);
		size_t end = len; /* octets before this go one by one */
		if (lf != NULL) {
			size_t k = (size_t)(lf - p);
			if (k > i && memchr(p + i, '\r', k - i) == lf - 1) {
				if (t->bol && p[i] == '.')
					out[o++] = '.';
				memcpy(out + o, p + i, k + 1 - i);
				o += k + 1 - i;
				i = k + 1;
				t->bol = true;
				continue;
			}
			end = k + 1;
		}
		while (i < end)
			o += body_stuff_octet(t, p[i++], out + o);
	}
	return o;
}

void client_body_pump(struct smtp_client *c)
{
	struct client_txn *t = c->txn;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	size_t blen = t->body != NULL ? evbuffer_get_length(t->body) : 0;
	while (!t->body_done && evbuffer_get_length(out) < BODY_HIGH_WATER) {
		if (t->body_off < blen) {
			struct evbuffer_ptr pos;
			struct evbuffer_iovec v[8];
			size_t want = blen - t->body_off < BODY_CHUNK ? blen - t->body_off : BODY_CHUNK;
			size_t took = 0, n = 0;
			evbuffer_ptr_set(t->body, &pos, t->body_off, EVBUFFER_PTR_SET);
			int nv = evbuffer_peek(t->body, (ev_ssize_t)want, &pos, v, 8);
			for (int k = 0; k < nv && k < 8 && took < want; k++) {
				size_t len = v[k].iov_len < want - took ? v[k].iov_len : want - took;
				n += body_stuff(t, v[k].iov_base, len, t->chunk + n);
				took += len;
			}
			t->body_off += took;
			evbuffer_add(out, t->chunk, n);
			continue;
		}
		if (!t->bol)
			evbuffer_add(out, "\r\n", 2);
		evbuffer_add(out, ".\r\n", 3);
		t->body_done = true;
	}
	if (t->body_done)
		client_enter_state(c, SMTP_CLIENT_STATE_DOT);
	client_arm_timer(c, c->data_timeout);
}

/* --- dispatch --------------------------------------------------------------------------------------- */

void client_ready(struct smtp_client *c)
{
	if (!c->was_ready) {
		c->was_ready = true;
		c->conn_msec = time_mono_msec() - c->t_start;
	}
	client_enter_state(c, SMTP_CLIENT_STATE_READY);
	client_arm_timer(c, c->idle_timeout);
	if (c->txn != NULL)
		client_txn_start(c);
}

static void on_rset(struct smtp_client *c)
{
	if (is_2xx(c->reply.r.code)) {
		client_ready(c);
		return;
	}
	char diag[SMTP_CLIENT_DIAG_MAX];
	client_said(c, diag, sizeof(diag));
	client_close(c, diag);
}

void client_handle_reply(struct smtp_client *c)
{
	char diag[SMTP_CLIENT_DIAG_MAX];
	if (c->reply.r.code == 421)
		c->server_closing = true;
	switch (c->state) {
	case SMTP_CLIENT_STATE_GREETING:
		on_greeting(c);
		return;
	case SMTP_CLIENT_STATE_EHLO:
	case SMTP_CLIENT_STATE_EHLO_TLS:
		on_ehlo(c);
		return;
	case SMTP_CLIENT_STATE_HELO:
		on_helo(c);
		return;
	case SMTP_CLIENT_STATE_STARTTLS:
		on_starttls(c);
		return;
	case SMTP_CLIENT_STATE_AUTH:
		client_auth_reply(c);
		return;
	case SMTP_CLIENT_STATE_MAIL:
	case SMTP_CLIENT_STATE_RCPT:
	case SMTP_CLIENT_STATE_DATA:
	case SMTP_CLIENT_STATE_BODY:
	case SMTP_CLIENT_STATE_DOT:
		if (c->reply.r.code == 421 || c->state == SMTP_CLIENT_STATE_BODY) {
			/* the server is closing, or answered before the end of the content */
			client_said(c, diag, sizeof(diag));
			log_info("smtp", "%s: %s", c->txn->result->id, diag);
			client_txn_abort(c, &c->reply.r, diag);
			client_close(c, diag);
			return;
		}
		if (c->state == SMTP_CLIENT_STATE_MAIL)
			on_mail(c);
		else if (c->state == SMTP_CLIENT_STATE_RCPT)
			on_rcpt(c);
		else if (c->state == SMTP_CLIENT_STATE_DATA)
			on_data(c);
		else
			on_dot(c);
		return;
	case SMTP_CLIENT_STATE_RSET:
		on_rset(c);
		return;
	case SMTP_CLIENT_STATE_QUIT:
		if (c->replies_to_skip > 0 && c->reply.r.code != 421) {
			c->replies_to_skip--;
			return;
		}
		client_close(c, c->quitting ? "QUIT" : "idle connection closed");
		return;
	case SMTP_CLIENT_STATE_READY: {
		/* nothing was asked: a 421 before the server hangs up an idle connection, or garbage */
		char reply[SMTP_REPLY_STR_MAX];
		smtp_reply_str(&c->reply, reply, sizeof(reply));
		snprintf(diag, sizeof(diag), "host %s said: %s (while idle)", c->name, reply);
		log_debug("smtp", "%s", diag);
		client_close(c, diag);
		return;
	}
	case SMTP_CLIENT_STATE_CONNECTING:
	case SMTP_CLIENT_STATE_TLS_HANDSHAKE:
	case SMTP_CLIENT_STATE_CLOSED:
		return;
	}
}
