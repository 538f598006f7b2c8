/* smtp_session: connection, I/O and state. See smtp_session.h; commands live in smtp_session_cmd.c. */
#include "mxd/smtpd/smtp_session_private.h"

#include "mxd/common/config.h"
#include "mxd/common/log.h"
#include "mxd/smtpd/policy.h"
#include "mxd/common/tls.h"
#include "mxd/common/util.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

/* Stop reading while this much reply text waits for a client that does not read. */
#define SESSION_OUTPUT_HIGH (64 * 1024)
/* How long a closing session drops what a client still sends, waiting for it to close too. */
#define SESSION_LINGER_MS 2000

static void session_read_cb(struct bufferevent *bev, void *ctx);
static void session_write_cb(struct bufferevent *bev, void *ctx);
static void session_event_cb(struct bufferevent *bev, short what, void *ctx);
static void session_process(struct smtp_session *s);

static const char *state_name(enum smtp_state state)
{
	static const char *const names[] = {"CONNECTED", "READY", "SPF",    "MAIL",   "RCPT",
	                                    "DATA",      "CHECK", "COMMIT", "CLOSING"};
	return names[state];
}

void session_enter_state(struct smtp_session *s, enum smtp_state state)
{
	if (s->state == SMTP_STATE_CLOSING)
		return; /* a close decided earlier (error limit, shutdown) wins */
	log_debug("smtpd", "%s[%s]: state %s -> %s", s->name, s->addr, state_name(s->state),
	          state_name(state));
	s->state = state;
}

/* Reading is timed by deadline_ev (session_wait_input); the bufferevent times only writing, for a
 * client that does not read its replies. */
static void session_set_timeouts(struct smtp_session *s)
{
	struct timeval tv = {.tv_sec = s->env->cfg->smtpd_timeout, .tv_usec = 0};
	bufferevent_set_timeouts(s->bev, NULL, &tv);
}

int64_t smtp_session_data_deadline(int64_t deadline, int64_t now, uint64_t octets, int64_t min_rate,
                                   int64_t timeout_ms)
{
	if (min_rate <= 0)
		return octets > 0 ? now + timeout_ms : deadline;
	uint64_t credit_ms = octets * 1000 / (uint64_t)min_rate; /* octets: one read's worth, no overflow */
	if (credit_ms > (uint64_t)timeout_ms)
		credit_ms = (uint64_t)timeout_ms;
	int64_t moved = deadline + (int64_t)credit_ms;
	return moved < now + timeout_ms ? moved : now + timeout_ms;
}

static void session_deadline_arm(struct smtp_session *s, int64_t now)
{
	int64_t left = s->deadline - now;
	if (left < 0)
		left = 0;
	struct timeval tv = {.tv_sec = left / 1000, .tv_usec = (left % 1000) * 1000};
	evtimer_add(s->deadline_ev, &tv);
}

static void session_deadline_stop(struct smtp_session *s)
{
	s->waiting = false;
	if (s->deadline_ev != NULL)
		evtimer_del(s->deadline_ev);
}

/* The session waits for client octets: a command line must be complete smtpd_timeout after the wait
 * for it began (the previous line, reply or greeting), however it trickles in (Postfix's
 * smtpd_per_record_deadline); DATA content gets smtpd_timeout, moved later by each octet that arrives
 * (smtpd_min_data_rate). data_octets: content octets just consumed. One timer, rearmed at most once
 * per read callback. */
static void session_wait_input(struct smtp_session *s, uint64_t data_octets)
{
	int64_t now = time_mono_msec(), timeout_ms = s->env->cfg->smtpd_timeout * 1000;
	int64_t min_rate = s->env->cfg->smtpd_min_data_rate;
	if (!s->waiting) {
		s->waiting = true;
		s->deadline = now + timeout_ms;
	} else if (s->state == SMTP_STATE_DATA && data_octets > 0) {
		s->deadline = smtp_session_data_deadline(s->deadline, now, data_octets, min_rate, timeout_ms);
	} else {
		return; /* part of a line: its deadline stands */
	}
	session_deadline_arm(s, now);
}

static void session_deadline_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct smtp_session *s = ctx;
	int64_t now = time_mono_msec();
	if (s->state == SMTP_STATE_SPF && s->bev != NULL) {
		if (now < s->deadline)
			session_deadline_arm(s, now);
		else
			session_spf_expired(s);
		return;
	}
	if (!s->waiting || s->bev == NULL)
		return;
	if (now < s->deadline) {
		session_deadline_arm(s, now); /* the timer fired early (clock granularity) */
		return;
	}
	s->waiting = false;
	if (s->state == SMTP_STATE_DATA)
		log_info("smtpd", "timeout after DATA (%llu bytes) from %s[%s]",
		         (unsigned long long)s->txn->data.size, s->name, s->addr);
	else
		log_info("smtpd", "timeout after %s from %s[%s]", state_name(s->state), s->name, s->addr);
	session_reply(s, 421, "4.4.2", "%s Error: timeout exceeded", s->env->cfg->myhostname);
	session_close_after_reply(s);
}

static void session_install(struct smtp_session *s)
{
	bufferevent_setcb(s->bev, session_read_cb, session_write_cb, session_event_cb, s);
	session_set_timeouts(s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

void session_send_banner(struct smtp_session *s)
{
	session_reply(s, 220, NULL, "%s", s->env->cfg->smtpd_banner);
	session_wait_input(s, 0);
}

struct smtp_session *smtp_session_new(struct smtp_env *env, evutil_socket_t fd, const struct sockaddr *sa,
                                      socklen_t salen)
{
	struct smtp_session *s = xcalloc(1, sizeof(*s));
	s->env = env;
	memcpy(&s->sa, sa, salen < sizeof(s->sa) ? salen : sizeof(s->sa));
	netaddr_str(sa, s->addr, sizeof(s->addr));
	str_copy(s->name, sizeof(s->name), "unknown");
	s->trusted = policy_client_trusted(env->policy, sa);
	s->bev = bufferevent_socket_new(env->base, fd, BEV_OPT_CLOSE_ON_FREE);
	s->state = SMTP_STATE_CONNECTED;
	env->stats.connections++;
	log_info("smtpd", "connect from %s[%s]", s->name, s->addr);
	s->deadline_ev = evtimer_new(env->base, session_deadline_cb, s);
	session_install(s);
	if (session_gate_start(s) == 0)
		session_send_banner(s);
	return s;
}

void smtp_stats_reject(struct smtp_stats *stats, const char *enh)
{
	size_t i;
	if (enh == NULL)
		enh = "other";
	for (i = 0; i < SMTP_STATS_REASONS && stats->rejected[i].code[0] != '\0'; i++)
		if (strcmp(stats->rejected[i].code, enh) == 0)
			break;
	if (i == SMTP_STATS_REASONS)
		i = SMTP_STATS_REASONS - 1; /* the last slot collects the rest */
	if (stats->rejected[i].code[0] == '\0')
		str_copy(stats->rejected[i].code, sizeof(stats->rejected[i].code), enh);
	stats->rejected[i].count++;
}

void smtp_session_set_link(struct smtp_session *s, void *link)
{
	s->link = link;
}

void *smtp_session_link(const struct smtp_session *s)
{
	return s->link;
}

const char *smtp_session_client_addr(const struct smtp_session *s)
{
	return s->addr;
}

const char *session_proto(const struct smtp_session *s)
{
	bool utf8 = s->txn != NULL && s->txn->params.smtputf8;
	if (!s->esmtp)
		return "SMTP";
	if (utf8)
		return s->tls ? "UTF8SMTPS" : "UTF8SMTP";
	return s->tls ? "ESMTPS" : "ESMTP";
}

void session_txn_free(struct smtp_session *s)
{
	struct smtp_txn *t = s->txn;
	if (t == NULL)
		return;
	free(t->sender);
	for (size_t i = 0; i < t->nrcpt; i++)
		free(t->rcpts[i]);
	free(t->rcpts);
	for (size_t i = 0; i < t->nfinal; i++) {
		free(t->finals[i]);
		free(t->final_orig[i]);
	}
	free(t->finals);
	free(t->final_orig);
	free(t->final_state);
	free(t->final_dsn);
	free(t->final_reason);
	strmap_clear(&t->rcpt_set);
	strmap_clear(&t->final_set);
	data_spool_free(&t->spool);
	data_view_free(&t->view);
	t->body = NULL;
	spf_cancel(&t->spf_check);
	spf_result_free(&t->spf);
	arc_verify_cancel(&t->arc_verify);
	free(t->arc_sealers);
	msg_auth_cancel(&t->auth_check);
	free(t->auth_note);
	session_milter_free(t);
	free(t->hold_reason);
	free(t);
	s->txn = NULL;
}

static void session_log_disconnect(struct smtp_session *s)
{
	static const char *const names[SMTP_COUNT_VERBS] = {
	    [SMTP_VERB_UNKNOWN] = "unknown", [SMTP_VERB_HELO] = "helo",         [SMTP_VERB_EHLO] = "ehlo",
	    [SMTP_VERB_MAIL] = "mail",       [SMTP_VERB_RCPT] = "rcpt",         [SMTP_VERB_DATA] = "data",
	    [SMTP_VERB_BDAT] = "bdat",       [SMTP_VERB_RSET] = "rset",         [SMTP_VERB_NOOP] = "noop",
	    [SMTP_VERB_QUIT] = "quit",       [SMTP_VERB_VRFY] = "vrfy",         [SMTP_VERB_EXPN] = "expn",
	    [SMTP_VERB_HELP] = "help",       [SMTP_VERB_STARTTLS] = "starttls", [SMTP_VERB_AUTH] = "auth",
	    [SMTP_VERB_ETRN] = "etrn",
	};
	/* Postfix's form: "rcpt=2" when all succeeded, "rcpt=1/2" when some failed. */
	char buf[512];
	size_t len = 0;
	for (int i = 1; i <= SMTP_COUNT_VERBS; i++) {
		int v = i % SMTP_COUNT_VERBS; /* unknown commands last */
		if (s->counts[v] == 0 || len >= sizeof(buf) - 40)
			continue;
		if (s->counts_ok[v] == s->counts[v])
			len +=
			    (size_t)snprintf(buf + len, sizeof(buf) - len, " %s=%u", names[v], s->counts[v]);
		else
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, " %s=%u/%u", names[v],
			                        s->counts_ok[v], s->counts[v]);
	}
	if (s->count_total_ok == s->count_total)
		snprintf(buf + len, sizeof(buf) - len, " commands=%u", s->count_total);
	else
		snprintf(buf + len, sizeof(buf) - len, " commands=%u/%u", s->count_total_ok, s->count_total);
	log_info("smtpd", "disconnect from %s[%s]%s", s->name, s->addr, buf);
}

/* End the session now (only from a libevent callback, never from inside command processing). While a
 * commit is outstanding the struct stays until the commit callback runs. */
static void session_end(struct smtp_session *s)
{
	session_gate_free(s);
	if (s->close_ev != NULL) {
		event_free(s->close_ev);
		s->close_ev = NULL;
	}
	if (s->deadline_ev != NULL) {
		event_free(s->deadline_ev);
		s->deadline_ev = NULL;
	}
	if (s->bev != NULL) {
		bufferevent_free(s->bev);
		s->bev = NULL;
		session_log_disconnect(s);
		s->env->on_close(s->env->ctx, s);
	}
	if (s->state == SMTP_STATE_COMMIT) {
		s->dead = true;
		return;
	}
	session_txn_free(s);
	free(s);
}

/* Reply octets not yet handed to the kernel, the TLS layer's included. */
static size_t session_pending_output(struct smtp_session *s)
{
	size_t n = evbuffer_get_length(bufferevent_get_output(s->bev));
	struct bufferevent *under = bufferevent_get_underlying(s->bev);
	if (under != NULL)
		n += evbuffer_get_length(bufferevent_get_output(under));
	return n;
}

/* The last reply is out. If the client sent octets we never read, closing now would answer them with a
 * reset, which can destroy that reply before the client reads it (RFC 1122 4.2.2.13). Then half-close
 * instead and drop what comes until the client closes too, for at most SESSION_LINGER_MS. True when
 * lingering started. */
static bool session_linger(struct smtp_session *s, int64_t now)
{
	evutil_socket_t fd = bufferevent_getfd(s->bev);
	int unread = 0;
	if (fd < 0 || ioctl(fd, FIONREAD, &unread) < 0)
		return false;
	if (unread == 0 && evbuffer_get_length(bufferevent_get_input(s->bev)) == 0)
		return false;
	if (shutdown(fd, SHUT_WR) < 0)
		return false;
	s->lingering = true;
	if (s->env->on_linger != NULL)
		s->env->on_linger(s->env->ctx, s);
	if (s->close_deadline > now + SESSION_LINGER_MS)
		s->close_deadline = now + SESSION_LINGER_MS;
	evbuffer_drain(bufferevent_get_input(s->bev), evbuffer_get_length(bufferevent_get_input(s->bev)));
	bufferevent_setwatermark(s->bev, EV_READ, 0, 0);
	bufferevent_enable(s->bev, EV_READ); /* session_read_cb drops it; EOF ends the session */
	return true;
}

/* The deferred close: end once the last reply has left (and a lingering client has closed), or give up
 * at the deadline. */
static void session_close_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct smtp_session *s = ctx;
	int64_t now = time_mono_msec();
	if (s->bev == NULL || now >= s->close_deadline ||
	    (session_pending_output(s) == 0 && !s->lingering && !session_linger(s, now))) {
		session_end(s);
		return;
	}
	struct timeval tv = {0, 20000};
	evtimer_add(s->close_ev, &tv);
}

/*
 * Replies leave by a direct send() on plaintext connections: when nothing older waits in the
 * bufferevent, the kernel takes them at once and the event loop never has to watch the socket for
 * writing (two epoll_ctl calls a reply). While session_process() runs, the replies it writes are
 * gathered (corked) and leave in one send at its end, pipelined replies included (RFC 2920). What the
 * kernel does not take goes to the bufferevent's output, which sends it in order. One cork per thread:
 * session_process() never runs inside another.
 */
static _Thread_local struct {
	struct smtp_session *owner; /* the session whose replies are being gathered; NULL: none */
	size_t len;
	char buf[2048];
} cork;

/* Hand text to the kernel if the connection is plaintext and nothing older waits; queue the rest. */
static void session_send(struct smtp_session *s, const char *text, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	if (!s->tls && evbuffer_get_length(out) == 0) {
		ssize_t n = send(bufferevent_getfd(s->bev), text, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			text += n;
			len -= (size_t)n;
		}
		/* an error (EAGAIN, a reset) leaves the text to the bufferevent, which reports the error */
	}
	if (len > 0)
		evbuffer_add(out, text, len);
}

/* Send what the cork gathered and stop gathering. */
static void session_uncork(void)
{
	struct smtp_session *s = cork.owner;
	cork.owner = NULL;
	if (s != NULL && s->bev != NULL && cork.len > 0)
		session_send(s, cork.buf, cork.len);
	cork.len = 0;
}

void session_write(struct smtp_session *s, const char *text)
{
	if (s->bev == NULL)
		return;
	size_t len = strlen(text);
	if (cork.owner != s) {
		session_send(s, text, len);
		return;
	}
	if (cork.len + len > sizeof(cork.buf)) {
		session_uncork();
		cork.owner = s;
		if (len > sizeof(cork.buf)) {
			session_send(s, text, len);
			return;
		}
	}
	memcpy(cork.buf + cork.len, text, len);
	cork.len += len;
}

void session_reply(struct smtp_session *s, int code, const char *enh, const char *fmt, ...)
{
	char text[600];
	va_list ap;
	int n = snprintf(text, sizeof(text), "%d ", code);
	if (enh != NULL)
		n += snprintf(text + n, sizeof(text) - (size_t)n, "%s ", enh);
	va_start(ap, fmt);
	vsnprintf(text + n, sizeof(text) - (size_t)n - 2, fmt, ap);
	va_end(ap);
	strcat(text, "\r\n");
	session_write(s, text);
	s->last_code = code;
	if (code >= 400 && code != 421) {
		s->errors++;
		if (s->errors >= (unsigned)s->env->cfg->smtpd_hard_error_limit &&
		    s->state != SMTP_STATE_CLOSING) {
			log_info("smtpd", "too many errors after %s from %s[%s]", state_name(s->state),
			         s->name, s->addr);
			session_reply(s, 421, "4.7.0", "%s Error: too many errors", s->env->cfg->myhostname);
			session_close_after_reply(s);
		}
	}
}

void session_close_after_reply(struct smtp_session *s)
{
	if (s->state == SMTP_STATE_COMMIT) {
		s->dead = true; /* the commit callback finishes the close */
		return;
	}
	session_enter_state(s, SMTP_STATE_CLOSING);
	session_deadline_stop(s);
	if (s->bev == NULL || s->close_ev != NULL)
		return;
	bufferevent_disable(s->bev, EV_READ);
	s->close_deadline = time_mono_msec() + 10000;
	s->close_ev = evtimer_new(s->env->base, session_close_cb, s);
	struct timeval tv = {0, 0};
	evtimer_add(s->close_ev, &tv);
}

void smtp_session_shutdown(struct smtp_session *s)
{
	if (s->state == SMTP_STATE_CLOSING)
		return;
	if (s->state == SMTP_STATE_COMMIT && !session_milter_shutdown(s)) {
		s->dead = true;
		return;
	}
	if (s->state == SMTP_STATE_CHECK)
		session_txn_free(s); /* nothing was accepted: the check is dropped */
	session_reply(s, 421, "4.3.2", "%s Service shutting down, closing transmission channel",
	              s->env->cfg->myhostname);
	session_close_after_reply(s);
}

void session_start_tls(struct smtp_session *s)
{
	/* CVE-2011-0411: whatever the client sent after STARTTLS in plaintext is thrown away. */
	struct evbuffer *in = bufferevent_get_input(s->bev);
	evbuffer_drain(in, evbuffer_get_length(in));
	if (cork.owner == s)
		session_uncork(); /* the 220 goes out in plaintext, before the TLS layer */
	SSL *ssl = SSL_new(s->env->tls_ctx);
	struct bufferevent *tls = bufferevent_openssl_filter_new(
	    s->env->base, s->bev, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (tls == NULL) {
		log_warn("smtpd", "cannot start TLS for %s[%s]", s->name, s->addr);
		SSL_free(ssl);
		session_close_after_reply(s);
		return;
	}
	s->bev = tls;
	s->tls = true;
	/* RFC 3207 4.2: forget everything learned before TLS. */
	s->helo[0] = '\0';
	s->esmtp = false;
	session_txn_free(s);
	session_enter_state(s, SMTP_STATE_CONNECTED);
	session_install(s);
}

/* Feed buffered content to the DATA parser, adding the octets taken to *octets_r. Returns true when
 * the end of data was reached. */
static bool session_feed_data(struct smtp_session *s, struct evbuffer *in, uint64_t *octets_r)
{
	while (evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec v;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		size_t consumed;
		enum smtp_data_status st = smtp_data_feed(&s->txn->data, v.iov_base, v.iov_len,
		                                          data_spool_input(s->txn->spool), &consumed);
		evbuffer_drain(in, consumed);
		data_spool_flush(s->txn->spool); /* a failure is answered at the end of DATA */
		*octets_r += consumed;
		if (st == SMTP_DATA_DONE)
			return true;
	}
	return false;
}

/* Take one command line from in; returns false when no complete line is buffered yet. */
static bool session_next_line(struct smtp_session *s, struct evbuffer *in)
{
	size_t eol_len;
	struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF_STRICT);
	if (eol.pos < 0) {
		size_t len = evbuffer_get_length(in);
		if (len > SMTP_LINE_MAX) {
			/* Keep the last octet: it may be the CR of a CRLF split across reads. */
			evbuffer_drain(in, len - 1);
			s->discarding = true;
		}
		return false;
	}
	if (s->discarding || (size_t)eol.pos > SMTP_LINE_MAX - 2) {
		evbuffer_drain(in, (size_t)eol.pos + eol_len);
		s->discarding = false;
		s->waiting = false;
		s->count_total++;
		session_reply(s, 500, "5.5.2", "Error: line too long");
		return true;
	}
	char line[SMTP_LINE_MAX];
	size_t len = (size_t)eol.pos;
	evbuffer_remove(in, line, len);
	evbuffer_drain(in, eol_len);
	line[len] = '\0';
	s->waiting = false; /* the next line gets a deadline of its own */
	session_command(s, line, len);
	return true;
}

static void session_process_input(struct smtp_session *s);

/* Run the commands (or DATA content) buffered, with their replies gathered into one send. */
static void session_process(struct smtp_session *s)
{
	bool outer = cork.owner == NULL;
	if (outer)
		cork.owner = s;
	session_process_input(s);
	if (outer)
		session_uncork();
}

static void session_process_input(struct smtp_session *s)
{
	uint64_t data_octets = 0;
	while (s->bev != NULL && s->state != SMTP_STATE_COMMIT && s->state != SMTP_STATE_CLOSING &&
	       s->state != SMTP_STATE_SPF && s->state != SMTP_STATE_CHECK) {
		struct evbuffer *in = bufferevent_get_input(s->bev);
		if (evbuffer_get_length(bufferevent_get_output(s->bev)) > SESSION_OUTPUT_HIGH) {
			/* The client does not read its replies: stop reading until they drain (the write
			 * timeout watches that); the wait for the line starts over then. */
			bufferevent_disable(s->bev, EV_READ);
			s->paused = true;
			session_deadline_stop(s);
			return;
		}
		if (s->state == SMTP_STATE_DATA) {
			if (!session_feed_data(s, in, &data_octets)) {
				session_wait_input(s, data_octets);
				return;
			}
			s->waiting = false;
			session_data_done(s);
			continue;
		}
		if (!session_next_line(s, in)) {
			session_wait_input(s, 0);
			return;
		}
	}
	/* SPF check or commit: we are the one working, the client waits; but the MAIL reply is due within
	 * smtpd_timeout whatever the SPF queue holds */
	session_deadline_stop(s);
	if (s->bev != NULL && s->state == SMTP_STATE_SPF) {
		int64_t now = time_mono_msec();
		s->deadline = now + s->env->cfg->smtpd_timeout * 1000;
		session_deadline_arm(s, now);
	}
}

static void session_read_cb(struct bufferevent *bev, void *ctx)
{
	struct smtp_session *s = ctx;
	if (s->lingering) {
		struct evbuffer *in = bufferevent_get_input(bev);
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	if (s->greet_ev != NULL) {
		session_gate_pregreet(s);
		return;
	}
	session_process(s);
}

static void session_write_cb(struct bufferevent *bev, void *ctx)
{
	struct smtp_session *s = ctx;
	if (s->state == SMTP_STATE_CLOSING)
		return; /* session_close_cb ends it */
	if (s->paused) {
		s->paused = false;
		bufferevent_enable(s->bev, EV_READ);
		session_process(s);
	}
}

static void session_event_cb(struct bufferevent *bev, short what, void *ctx)
{
	struct smtp_session *s = ctx;
	if (what & BEV_EVENT_CONNECTED) {
		/* TLS handshake done. */
		SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
		if (ssl != NULL) {
			tls_describe(ssl, s->tls_info, sizeof(s->tls_info));
			s->env->stats.tls_sessions++;
			log_info("smtpd", "Anonymous TLS connection established from %s[%s]: %s", s->name,
			         s->addr, s->tls_info);
		}
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (s->state == SMTP_STATE_CLOSING) {
			session_end(s); /* the client does not even read the last reply */
			return;
		}
		if (s->state == SMTP_STATE_COMMIT)
			return; /* the commit callback answers and reading resumes */
		log_info("smtpd", "timeout after %s from %s[%s]", state_name(s->state), s->name, s->addr);
		session_reply(s, 421, "4.4.2", "%s Error: timeout exceeded", s->env->cfg->myhostname);
		session_close_after_reply(s);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (s->state != SMTP_STATE_CLOSING && s->state != SMTP_STATE_READY &&
		    s->state != SMTP_STATE_CONNECTED)
			log_info("smtpd", "lost connection after %s from %s[%s]", state_name(s->state),
			         s->name, s->addr);
		session_end(s);
	}
}

void session_resume(struct smtp_session *s)
{
	bufferevent_enable(s->bev, EV_READ);
	session_process(s);
}

/* Called by smtp_session_cmd.c when the queue's commit callback arrives. */
void smtp_session_commit_done(struct smtp_session *s);
void smtp_session_commit_done(struct smtp_session *s)
{
	if (s->dead) {
		if (s->bev != NULL) {
			/* closing was requested (shutdown or error limit) during the commit */
			s->dead = false;
			session_enter_state(s, SMTP_STATE_READY);
			session_close_after_reply(s);
			return;
		}
		session_txn_free(s);
		free(s);
		return;
	}
	bufferevent_enable(s->bev, EV_READ);
	session_process(s);
}
