/* smtp_client: connection, candidates, I/O, TLS, timers and callbacks. See smtp_client.h; the replies
 * are read by smtp_reply.c and handled in smtp_client_cmd.c. */
#include "mxd/delivery/smtp_client_private.h"

#include "mxd/common/log.h"
#include "mxd/common/tls.h"
#include "mxd/common/util.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_CONNECT_TIMEOUT 30000
#define DEFAULT_COMMAND_TIMEOUT 300000
#define DEFAULT_DATA_TIMEOUT    600000
#define QUIT_TIMEOUT            5000
#define WRITE_LOW_WATER         (16 * 1024) /* the body is refilled when the output drains to this */

static void client_read_cb(struct bufferevent *bev, void *ctx);
static void client_write_cb(struct bufferevent *bev, void *ctx);
static void client_event_cb(struct bufferevent *bev, short what, void *ctx);
static void client_connect_next(struct smtp_client *c);

/* --- names, state, output ------------------------------------------------------------------------ */

const char *client_state_name(enum smtp_client_state state)
{
	static const char *const names[] = {
	    "CONNECTING", "GREETING", "EHLO",  "HELO", "STARTTLS", "TLS_HANDSHAKE",
	    "EHLO_TLS",   "AUTH",     "READY", "MAIL", "RCPT",     "DATA",
	    "BODY",       "DOT",      "RSET",  "QUIT", "CLOSED",
	};
	return names[state];
}

/* What the client was doing, for "lost connection with X while ..." (Postfix's wording). */
const char *client_while(enum smtp_client_state state)
{
	switch (state) {
	case SMTP_CLIENT_STATE_CONNECTING:
		return "connecting";
	case SMTP_CLIENT_STATE_GREETING:
		return "receiving the initial server greeting";
	case SMTP_CLIENT_STATE_EHLO:
	case SMTP_CLIENT_STATE_EHLO_TLS:
		return "performing the EHLO handshake";
	case SMTP_CLIENT_STATE_HELO:
		return "performing the HELO handshake";
	case SMTP_CLIENT_STATE_STARTTLS:
		return "sending STARTTLS";
	case SMTP_CLIENT_STATE_TLS_HANDSHAKE:
		return "performing the TLS handshake";
	case SMTP_CLIENT_STATE_AUTH:
		return "performing the AUTH handshake";
	case SMTP_CLIENT_STATE_READY:
		return "idle";
	case SMTP_CLIENT_STATE_MAIL:
		return "sending MAIL FROM";
	case SMTP_CLIENT_STATE_RCPT:
		return "sending RCPT TO";
	case SMTP_CLIENT_STATE_DATA:
		return "sending DATA command";
	case SMTP_CLIENT_STATE_BODY:
		return "sending message body";
	case SMTP_CLIENT_STATE_DOT:
		return "sending end of data -- message may be sent more than once";
	case SMTP_CLIENT_STATE_RSET:
		return "sending RSET";
	case SMTP_CLIENT_STATE_QUIT:
		return "sending QUIT";
	case SMTP_CLIENT_STATE_CLOSED:
		break;
	}
	return "closed";
}

void client_enter_state(struct smtp_client *c, enum smtp_client_state state)
{
	log_debug("smtp", "%s: state %s -> %s", c->name, client_state_name(c->state),
	          client_state_name(state));
	c->state = state;
}

void client_arm_timer(struct smtp_client *c, unsigned msec)
{
	if (msec == 0) {
		evtimer_del(c->timer);
		return;
	}
	struct timeval tv = {.tv_sec = msec / 1000, .tv_usec = (msec % 1000) * 1000};
	evtimer_add(c->timer, &tv);
}

void client_write(struct smtp_client *c, const char *fmt, ...)
{
	va_list ap;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	if (log_debug_enabled()) {
		char line[600];
		va_start(ap, fmt);
		vsnprintf(line, sizeof(line), fmt, ap);
		va_end(ap);
		log_debug("smtp", "%s: > %s", c->name, line);
	}
	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

void client_write_secret(struct smtp_client *c, const char *line, const char *log_text)
{
	log_debug("smtp", "%s: > %s", c->name, log_text);
	struct evbuffer *out = bufferevent_get_output(c->bev);
	evbuffer_add(out, line, strlen(line));
	evbuffer_add(out, "\r\n", 2);
}

void client_notify(struct smtp_client *c)
{
	event_active(c->notify_ev, EV_TIMEOUT, 1);
}

/* --- reading replies ------------------------------------------------------------------------------- */

/* One reply line. 1: the reply is complete (in c->reply); 0: more lines follow; -1: malformed. */
static int client_reply_line(struct smtp_client *c, const char *line, size_t len)
{
	if (c->state == SMTP_CLIENT_STATE_AUTH && len >= 3 && memcmp(line, "334", 3) == 0)
		log_debug("smtp", "%s: < 334 (AUTH data)", c->name);
	else
		log_debug("smtp", "%s: < %.*s", c->name, (int)(len > 600 ? 600 : len), line);
	bool ehlo = c->state == SMTP_CLIENT_STATE_EHLO || c->state == SMTP_CLIENT_STATE_EHLO_TLS;
	const char *error = NULL;
	int rc = smtp_reply_line(&c->reply, line, len, ehlo ? &c->ehlo : NULL, &error);
	if (rc < 0)
		log_debug("smtp", "%s: %s", c->name, error);
	return rc;
}

static void client_read_cb(struct bufferevent *bev, void *ctx)
{
	struct smtp_client *c = ctx;
	if (bev != c->bev)
		return; /* a connection given up already */
	while (c->bev != NULL && c->state != SMTP_CLIENT_STATE_CLOSED) {
		struct evbuffer *in = bufferevent_get_input(c->bev);
		size_t len;
		char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
		if (line == NULL) {
			if (smtp_reply_partial_too_long(evbuffer_get_length(in)))
				client_fail_conn(c, "4.5.0", "reply line too long from %s while %s");
			return;
		}
		int rc = client_reply_line(c, line, len);
		free(line);
		if (rc < 0) {
			client_fail_conn(c, "4.5.0", "malformed reply from %s while %s");
			return;
		}
		if (rc == 1)
			client_handle_reply(c);
	}
}

static void client_write_cb(struct bufferevent *bev, void *ctx)
{
	struct smtp_client *c = ctx;
	if (bev == c->bev && c->state == SMTP_CLIENT_STATE_BODY)
		client_body_pump(c);
}

/* --- connection and candidates ---------------------------------------------------------------------- */

static int sockaddr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return 0;
}

static void client_set_names(struct smtp_client *c)
{
	const struct smtp_client_peer *p = &c->peers[c->cur];
	netaddr_str((const struct sockaddr *)&p->addr, c->addr, sizeof(c->addr));
	const char *host = c->peer_hosts[c->cur] != NULL ? c->peer_hosts[c->cur] : c->addr;
	snprintf(c->name, sizeof(c->name), "%.256s[%s]", host, c->addr);
	snprintf(c->relay, sizeof(c->relay), "%.256s[%s]:%d", host, c->addr, sockaddr_port(&p->addr));
}

static void client_install(struct smtp_client *c)
{
	bufferevent_setcb(c->bev, client_read_cb, client_write_cb, client_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, WRITE_LOW_WATER, 0);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* Close the socket (and TLS) of the current candidate. */
static void client_drop(struct smtp_client *c)
{
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	evtimer_del(c->timer);
	c->reply.more = false; /* a partial reply is abandoned */
	c->tls = false;
}

static void client_set_last(struct smtp_client *c, enum smtp_client_failure failure,
                            const struct smtp_reply *reply, const char *enh)
{
	c->last_failure = failure;
	if (reply != NULL) {
		c->last_reply = reply->r;
		return;
	}
	memset(&c->last_reply, 0, sizeof(c->last_reply));
	str_copy(c->last_reply.enh, sizeof(c->last_reply.enh), enh);
	str_copy(c->last_reply.text, sizeof(c->last_reply.text), c->last_diag);
}

void client_peer_failed(struct smtp_client *c, enum smtp_client_failure failure,
                        const struct smtp_reply *reply, const char *enh, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->last_diag, sizeof(c->last_diag), fmt, ap);
	va_end(ap);
	log_info("smtp", "%s", c->last_diag);
	client_set_last(c, failure, reply, enh);
	client_drop(c);
	c->cur++;
	c->tls_off = false;
	client_connect_next(c);
}

/* Commands and the end of a message go out at once: each is the last thing sent before a reply is
 * awaited, so Nagle's algorithm would only hold it back until the peer's (possibly delayed) ACK of the
 * content before it. */
static void client_no_delay(struct smtp_client *c)
{
	int on = 1;
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	if (fd >= 0 && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) < 0)
		log_debug("smtp", "TCP_NODELAY: %s", strerror(errno));
}

static void client_connect_next(struct smtp_client *c)
{
	while (c->cur < c->npeer) {
		const struct smtp_client_peer *p = &c->peers[c->cur];
		client_set_names(c);
		memset(&c->ehlo, 0, sizeof(c->ehlo));
		c->reply.more = false;
		c->esmtp = c->tls = c->verified = c->server_closing = false;
		/* Deferred callbacks: a write into a TLS filter may fail inside SSL_write(), and its event
		 * callback must not run inside client_write() and re-enter the state machine. */
		c->bev = bufferevent_socket_new(c->base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
		if (c->bev == NULL)
			log_fatal("smtp", "cannot create a bufferevent");
		client_install(c);
		client_enter_state(c, SMTP_CLIENT_STATE_CONNECTING);
		client_arm_timer(c, c->connect_timeout);
		if (bufferevent_socket_connect(c->bev, (const struct sockaddr *)&p->addr, (int)p->len) == 0) {
			client_no_delay(c);
			return;
		}
		int err = EVUTIL_SOCKET_ERROR();
		snprintf(c->last_diag, sizeof(c->last_diag), "connect to %s: %s", c->relay,
		         err != 0 ? strerror(err) : "cannot connect");
		log_info("smtp", "%s", c->last_diag);
		client_set_last(c, SMTP_CLIENT_FAIL_CONNECT, NULL, "4.4.1");
		client_drop(c);
		c->cur++;
		c->tls_off = false;
	}
	/* every candidate failed */
	client_enter_state(c, SMTP_CLIENT_STATE_CLOSED);
	if (!c->ever_connected)
		str_copy(c->relay, sizeof(c->relay), "none");
	if (c->quitting) {
		c->destroy_pending = true;
		client_notify(c);
	} else if (c->txn != NULL) {
		client_txn_fail_unstarted(c);
	} else if (c->done == NULL) {
		c->closed_pending = true;
		client_notify(c);
	}
}

void client_close(struct smtp_client *c, const char *reason)
{
	client_drop(c);
	client_enter_state(c, SMTP_CLIENT_STATE_CLOSED);
	str_copy(c->last_diag, sizeof(c->last_diag), reason);
	client_set_last(c, SMTP_CLIENT_FAIL_LOST, NULL, "4.4.2");
	if (c->quitting) {
		c->destroy_pending = true;
		client_notify(c);
	} else if (c->txn != NULL) {
		client_txn_fail_unstarted(c); /* one in progress was finished before the close */
	} else if (c->done == NULL) {
		c->closed_pending = true;
		client_notify(c);
	}
}

/* The connection failed (lost, timed out, unreadable) in the current state: move to the next
 * candidate before READY, end the transaction in one, close otherwise. fmt takes the peer's name and
 * what the client was doing. */
void client_fail_conn(struct smtp_client *c, const char *enh, const char *fmt)
{
	char diag[SMTP_CLIENT_DIAG_MAX];
	snprintf(diag, sizeof(diag), fmt, c->name, client_while(c->state));
	switch (c->state) {
	case SMTP_CLIENT_STATE_CONNECTING:
	case SMTP_CLIENT_STATE_GREETING:
	case SMTP_CLIENT_STATE_EHLO:
	case SMTP_CLIENT_STATE_HELO:
	case SMTP_CLIENT_STATE_EHLO_TLS:
		client_peer_failed(c, SMTP_CLIENT_FAIL_CONNECT, NULL, enh, "%s", diag);
		break;
	case SMTP_CLIENT_STATE_STARTTLS:
	case SMTP_CLIENT_STATE_TLS_HANDSHAKE:
		client_peer_failed(c, SMTP_CLIENT_FAIL_TLS, NULL, enh, "%s", diag);
		break;
	case SMTP_CLIENT_STATE_AUTH:
		client_peer_failed(c, SMTP_CLIENT_FAIL_AUTH, NULL, enh, "%s", diag);
		break;
	case SMTP_CLIENT_STATE_MAIL:
	case SMTP_CLIENT_STATE_RCPT:
	case SMTP_CLIENT_STATE_DATA:
	case SMTP_CLIENT_STATE_BODY:
	case SMTP_CLIENT_STATE_DOT: {
		struct smtp_client_reply reply = {.code = 0};
		str_copy(reply.enh, sizeof(reply.enh), enh);
		str_copy(reply.text, sizeof(reply.text), diag);
		log_info("smtp", "%s: %s", c->txn->result->id, diag);
		client_txn_abort(c, &reply, diag);
		client_close(c, diag);
		break;
	}
	case SMTP_CLIENT_STATE_READY:
	case SMTP_CLIENT_STATE_RSET:
	case SMTP_CLIENT_STATE_QUIT:
		log_debug("smtp", "%s", diag);
		client_close(c, diag);
		break;
	case SMTP_CLIENT_STATE_CLOSED:
		break;
	}
}

/* --- TLS ------------------------------------------------------------------------------------------- */

static bool is_ip_literal(const char *name)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

void client_start_tls(struct smtp_client *c)
{
	/* Anything the server sent after its 220 was sent in plaintext: it must not be read as if it had
	 * come over TLS (response injection, CVE-2011-0411's client-side twin). */
	struct evbuffer *in = bufferevent_get_input(c->bev);
	evbuffer_drain(in, evbuffer_get_length(in));

	SSL *ssl = SSL_new(c->tls_ctx);
	if (ssl == NULL) {
		ERR_clear_error();
		client_peer_failed(c, SMTP_CLIENT_FAIL_TLS, NULL, "4.7.5",
		                   "Cannot start TLS with %s: no memory", c->name);
		return;
	}
	const char *host = c->peer_hosts[c->cur];
	if (host != NULL && !is_ip_literal(host))
		SSL_set_tlsext_host_name(ssl, host);
	/* The name is checked at every level: below "verify" a mismatch only leaves the connection
	 * unverified, which keeps AUTH credentials off it (client_auth_start()). */
	const char *name = c->verify_name != NULL ? c->verify_name : host != NULL ? host : c->addr;
	X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
	X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	int ok = is_ip_literal(name) ? X509_VERIFY_PARAM_set1_ip_asc(param, name)
	                             : X509_VERIFY_PARAM_set1_host(param, name, 0);
	c->verify_name_ok = ok == 1;
	if (ok != 1) {
		ERR_clear_error();
		if (c->tls_level == SMTP_CLIENT_TLS_VERIFY) {
			SSL_free(ssl);
			client_peer_failed(c, SMTP_CLIENT_FAIL_TLS, NULL, "4.7.5",
			                   "Cannot start TLS with %s: bad name to verify", c->name);
			return;
		}
	}
	/* The chain and name are checked after the handshake, from SSL_get_verify_result(), so the
	 * failure can be reported with its reason. */
	SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	struct bufferevent *tls =
	    bufferevent_openssl_filter_new(c->base, c->bev, ssl, BUFFEREVENT_SSL_CONNECTING,
	                                   BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (tls == NULL)
		log_fatal("smtp", "cannot create a TLS bufferevent");
	bufferevent_openssl_set_allow_dirty_shutdown(tls, 1);
	c->bev = tls;
	client_install(c);
	client_enter_state(c, SMTP_CLIENT_STATE_TLS_HANDSHAKE);
	client_arm_timer(c, c->command_timeout);
}

static void client_tls_done(struct smtp_client *c)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	char info[160];
	tls_describe(ssl, info, sizeof(info));
	X509 *cert = SSL_get0_peer_certificate(ssl);
	long vr = SSL_get_verify_result(ssl);
	const char *why = cert == NULL         ? "no certificate"
	                  : !c->verify_name_ok ? "bad name to verify"
	                                       : X509_verify_cert_error_string(vr);
	if (cert != NULL && c->verify_name_ok && vr == X509_V_OK) {
		c->verified = true;
	} else if (c->tls_level == SMTP_CLIENT_TLS_VERIFY) {
		client_peer_failed(c, SMTP_CLIENT_FAIL_TLS, NULL, "4.7.5",
		                   "server certificate verification failed for %s: %s", c->name, why);
		return;
	} else {
		str_copy(c->unverified_why, sizeof(c->unverified_why), why);
	}
	c->tls = true;
	log_info("smtp", "%s TLS connection established to %s: %s", c->verified ? "Verified" : "Untrusted",
	         c->relay, info);
	client_send_ehlo(c);
}

static void client_tls_failed(struct smtp_client *c)
{
	char reason[256] = "handshake failure";
	unsigned long e = bufferevent_get_openssl_error(c->bev);
	if (e != 0)
		ERR_error_string_n(e, reason, sizeof(reason));
	while (bufferevent_get_openssl_error(c->bev) != 0)
		;
	ERR_clear_error();
	if (c->tls_level == SMTP_CLIENT_TLS_MAY && !c->tls_off) {
		/* Opportunistic TLS: try the same server again without STARTTLS. */
		snprintf(c->last_diag, sizeof(c->last_diag), "Cannot start TLS with %s: %s; trying plaintext",
		         c->name, reason);
		log_info("smtp", "%s", c->last_diag);
		client_set_last(c, SMTP_CLIENT_FAIL_TLS, NULL, "4.7.5");
		client_drop(c);
		c->tls_off = true;
		client_connect_next(c);
		return;
	}
	client_peer_failed(c, SMTP_CLIENT_FAIL_TLS, NULL, "4.7.5", "Cannot start TLS with %s: %s", c->name,
	                   reason);
}

/* --- events ---------------------------------------------------------------------------------------- */

static void client_event_cb(struct bufferevent *bev, short what, void *ctx)
{
	struct smtp_client *c = ctx;
	if (bev != c->bev)
		return;
	if (what & BEV_EVENT_CONNECTED) {
		if (c->state == SMTP_CLIENT_STATE_CONNECTING) {
			c->ever_connected = true;
			client_enter_state(c, SMTP_CLIENT_STATE_GREETING);
			client_arm_timer(c, c->command_timeout);
		} else if (c->state == SMTP_CLIENT_STATE_TLS_HANDSHAKE) {
			client_tls_done(c);
		}
		return;
	}
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	int err = EVUTIL_SOCKET_ERROR();
	if (c->state == SMTP_CLIENT_STATE_CONNECTING) {
		client_peer_failed(c, SMTP_CLIENT_FAIL_CONNECT, NULL, "4.4.1", "connect to %s: %s", c->relay,
		                   err != 0 ? strerror(err) : "Connection failed");
		return;
	}
	if (c->state == SMTP_CLIENT_STATE_TLS_HANDSHAKE) {
		client_tls_failed(c);
		return;
	}
	client_fail_conn(c, "4.4.2", "lost connection with %s while %s");
}

static void client_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_client *c = arg;
	switch (c->state) {
	case SMTP_CLIENT_STATE_READY:
		/* idle too long: say goodbye */
		client_write(c, "QUIT");
		client_enter_state(c, SMTP_CLIENT_STATE_QUIT);
		client_arm_timer(c, QUIT_TIMEOUT);
		return;
	case SMTP_CLIENT_STATE_CONNECTING:
		client_peer_failed(c, SMTP_CLIENT_FAIL_CONNECT, NULL, "4.4.1",
		                   "connect to %s: Connection timed out", c->relay);
		return;
	default:
		client_fail_conn(c, "4.4.2", "conversation with %s timed out while %s");
		return;
	}
}

/* Connections saying QUIT belong to nobody: this list lets their owner free them at shutdown. One
 * event-loop thread uses the client module, so the list needs no lock. */
static struct smtp_client *quitting_head;

static void quitting_unlink(struct smtp_client *c)
{
	if (c->quit_prev != NULL)
		c->quit_prev->quit_next = c->quit_next;
	else if (quitting_head == c)
		quitting_head = c->quit_next;
	if (c->quit_next != NULL)
		c->quit_next->quit_prev = c->quit_prev;
	c->quit_prev = c->quit_next = NULL;
}

static void client_destroy(struct smtp_client *c)
{
	quitting_unlink(c);
	client_drop(c);
	client_txn_free(&c->txn);
	if (c->done != NULL)
		client_result_free(&c->done);
	event_free(c->timer);
	event_free(c->notify_ev);
	if (c->tls_ctx != NULL)
		SSL_CTX_free(c->tls_ctx);
	for (size_t i = 0; i < c->npeer; i++)
		free(c->peer_hosts[i]);
	free(c->peer_hosts);
	free(c->peers);
	free(c->helo_name);
	free(c->verify_name);
	free(c->auth_user);
	if (c->auth_pass != NULL) {
		OPENSSL_cleanse(c->auth_pass, strlen(c->auth_pass));
		free(c->auth_pass);
	}
	free(c);
}

/* Deferred work: results, the closed callback and self-destruction after QUIT, one per turn, so that
 * every callback runs from the event loop and nothing here touches c after calling one. */
static void client_notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_client *c = arg;
	if (c->destroy_pending) {
		client_destroy(c);
		return;
	}
	if (c->done != NULL) {
		struct smtp_client_result *result = c->done;
		smtp_client_send_cb *cb = c->done_cb;
		void *ctx = c->done_ctx;
		c->done = NULL;
		c->done_cb = NULL;
		if (c->closed_pending)
			client_notify(c);
		cb(c, result, ctx);
		client_result_free(&result);
		return;
	}
	if (c->closed_pending) {
		c->closed_pending = false;
		if (c->closed_cb != NULL) {
			char reason[SMTP_CLIENT_DIAG_MAX];
			str_copy(reason, sizeof(reason), c->last_diag);
			c->closed_cb(c, reason, c->closed_ctx);
		}
	}
}

/* --- public API ------------------------------------------------------------------------------------ */

int smtp_client_tls_ctx_new(const char *ca_file, SSL_CTX **ctx_r, const char **error_r)
{
	static __thread char err[512];
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL) {
		ERR_clear_error();
		*error_r = "cannot create a TLS client context";
		return -1;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	long opts = SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION;
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
	opts |= SSL_OP_IGNORE_UNEXPECTED_EOF;
#endif
	SSL_CTX_set_options(ctx, opts);
	bool have_file = ca_file != NULL && ca_file[0] != '\0';
	int ok = have_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
	                   : SSL_CTX_set_default_verify_paths(ctx);
	if (ok != 1) {
		char reason[256];
		ERR_error_string_n(ERR_get_error(), reason, sizeof(reason));
		ERR_clear_error();
		snprintf(err, sizeof(err), "smtp_tls_CAfile %s: %s", have_file ? ca_file : "(default)",
		         reason);
		*error_r = err;
		SSL_CTX_free(ctx);
		return -1;
	}
	*ctx_r = ctx;
	return 0;
}

int smtp_client_tls_level_parse(const char *text, enum smtp_client_tls_level *level_r)
{
	static const struct {
		const char *name;
		enum smtp_client_tls_level level;
	} levels[] = {
	    {"none", SMTP_CLIENT_TLS_NONE},       {"may", SMTP_CLIENT_TLS_MAY},
	    {"encrypt", SMTP_CLIENT_TLS_ENCRYPT}, {"verify", SMTP_CLIENT_TLS_VERIFY},
	    {"secure", SMTP_CLIENT_TLS_VERIFY},
	};
	for (size_t i = 0; i < MXD_ARRAY_SIZE(levels); i++) {
		if (strcasecmp(text, levels[i].name) == 0) {
			*level_r = levels[i].level;
			return 0;
		}
	}
	return -1;
}

int smtp_client_new(struct event_base *base, const struct smtp_client_peer *peers, size_t npeer,
                    const struct smtp_client_options *opts, struct smtp_client **conn_r, const char **error_r)
{
	SSL_CTX *ctx = NULL;
	if (npeer == 0) {
		*error_r = "no address to connect to";
		return -1;
	}
	if (opts->tls_level != SMTP_CLIENT_TLS_NONE) {
		if (opts->tls_ctx != NULL) {
			SSL_CTX_up_ref(opts->tls_ctx);
			ctx = opts->tls_ctx;
		} else if (smtp_client_tls_ctx_new(opts->tls_ca_file, &ctx, error_r) < 0) {
			return -1;
		}
	}
	struct smtp_client *c = xcalloc(1, sizeof(*c));
	c->base = base;
	c->state = SMTP_CLIENT_STATE_CLOSED;
	c->helo_name =
	    xstrdup(opts->helo_name != NULL && opts->helo_name[0] != '\0' ? opts->helo_name : "localhost");
	c->tls_level = opts->tls_level;
	c->tls_ctx = ctx;
	if (opts->tls_verify_name != NULL && opts->tls_verify_name[0] != '\0')
		c->verify_name = xstrdup(opts->tls_verify_name);
	c->connect_timeout =
	    opts->connect_timeout_msec ? opts->connect_timeout_msec : DEFAULT_CONNECT_TIMEOUT;
	c->command_timeout =
	    opts->command_timeout_msec ? opts->command_timeout_msec : DEFAULT_COMMAND_TIMEOUT;
	c->data_timeout = opts->data_timeout_msec ? opts->data_timeout_msec : DEFAULT_DATA_TIMEOUT;
	c->idle_timeout = opts->idle_timeout_msec;
	if (opts->auth_username != NULL && opts->auth_username[0] != '\0') {
		c->auth_user = xstrdup(opts->auth_username);
		c->auth_pass = xstrdup(opts->auth_password != NULL ? opts->auth_password : "");
	}
	c->auth_plaintext_ok = opts->auth_allow_plaintext;
	c->auth_unverified_ok = opts->auth_allow_unverified_tls || opts->auth_allow_plaintext;
	c->peers = xcalloc(npeer, sizeof(*c->peers));
	c->peer_hosts = xcalloc(npeer, sizeof(*c->peer_hosts));
	for (size_t i = 0; i < npeer; i++) {
		c->peers[i] = peers[i];
		c->peers[i].hostname = NULL;
		if (peers[i].hostname != NULL && peers[i].hostname[0] != '\0')
			c->peer_hosts[i] = xstrdup(peers[i].hostname);
	}
	c->npeer = npeer;
	c->timer = evtimer_new(base, client_timer_cb, c);
	c->notify_ev = event_new(base, -1, 0, client_notify_cb, c);
	str_copy(c->name, sizeof(c->name), "none");
	str_copy(c->relay, sizeof(c->relay), "none");
	c->t_start = time_mono_msec();
	client_connect_next(c);
	*conn_r = c;
	return 0;
}

void smtp_client_set_closed_cb(struct smtp_client *c, smtp_client_closed_cb *cb, void *ctx)
{
	c->closed_cb = cb;
	c->closed_ctx = ctx;
}

void smtp_client_send(struct smtp_client *c, const struct smtp_client_msg *msg, smtp_client_send_cb *cb,
                      void *ctx)
{
	assert(c->txn == NULL && c->done == NULL);
	c->txn = client_txn_new(msg, cb, ctx);
	if (c->state == SMTP_CLIENT_STATE_READY)
		client_txn_start(c);
	else if (c->state == SMTP_CLIENT_STATE_CLOSED)
		client_txn_fail_unstarted(c);
	/* otherwise it starts when the connection becomes READY */
}

bool smtp_client_is_reusable(const struct smtp_client *c)
{
	return (c->state == SMTP_CLIENT_STATE_READY || c->state == SMTP_CLIENT_STATE_RSET) &&
	       c->txn == NULL && c->done == NULL && !c->server_closing;
}

const char *smtp_client_relay(const struct smtp_client *c)
{
	return c->relay;
}

unsigned smtp_client_transactions(const struct smtp_client *c)
{
	return c->transactions;
}

void smtp_client_quit(struct smtp_client **connp)
{
	struct smtp_client *c = *connp;
	*connp = NULL;
	if (c == NULL)
		return;
	c->closed_cb = NULL;
	c->closed_pending = false;
	c->quitting = true;
	if (c->done != NULL)
		client_result_free(&c->done);
	bool rset = c->state == SMTP_CLIENT_STATE_RSET;
	if ((c->state == SMTP_CLIENT_STATE_READY || rset) && c->txn == NULL && !c->server_closing) {
		/* after an RSET on its way, QUIT follows it and its reply comes first */
		c->replies_to_skip = rset ? 1 : 0;
		client_write(c, "QUIT");
		client_enter_state(c, SMTP_CLIENT_STATE_QUIT);
		client_arm_timer(c, c->command_timeout < QUIT_TIMEOUT ? c->command_timeout : QUIT_TIMEOUT);
		c->quit_next = quitting_head;
		if (quitting_head != NULL)
			quitting_head->quit_prev = c;
		quitting_head = c;
		return;
	}
	client_destroy(c);
}

void smtp_client_free_quitting(void)
{
	while (quitting_head != NULL)
		client_destroy(quitting_head);
}

void smtp_client_free(struct smtp_client **connp)
{
	if (*connp == NULL)
		return;
	client_destroy(*connp);
	*connp = NULL;
}

const char *smtp_client_status_str(enum smtp_client_status status)
{
	switch (status) {
	case SMTP_CLIENT_SENT:
		return "sent";
	case SMTP_CLIENT_DEFERRED:
		return "deferred";
	case SMTP_CLIENT_BOUNCED:
		return "bounced";
	}
	return "unknown";
}
