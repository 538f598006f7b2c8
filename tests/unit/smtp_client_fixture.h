/*
 * smtp_client_fixture.h: what the tests of mxd/delivery/smtp_client.c share (test_smtp_client.c,
 * test_smtp_client_tls.c). A temporary directory with a test CA, a certificate for "mx.test" and a log;
 * scripted SMTP servers, each a thread on its own 127.0.0.x address that plays a dialogue step by step and
 * records every octet it received; and the client side's capture of results. Header-only (static inline):
 * each test file is one executable with its own copy. Nothing leaves loopback.
 */
#ifndef MXD_TESTS_SMTP_CLIENT_FIXTURE_H
#define MXD_TESTS_SMTP_CLIENT_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mxd/common/log.h"
#include "mxd/delivery/smtp_client.h"
#include "mxd/common/util.h"
#include "unit_fixtures.h"

#define PYTHON         "/usr/bin/python3"
#define SRV_TIMEOUT_MS 5000
#define MAX_RCPT       8

/* --- fixture: temporary directory, certificates, log ----------------------------------------------- */

static char tmpdir[64];
static char ca_file[128], cert_file[128], key_file[128], log_file[128], sink_script[4096];
static SSL_CTX *server_tls;
static struct event_base *base;

static inline int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static inline int group_setup(void **state)
{
	signal(SIGPIPE, SIG_IGN);
	if (unit_find_test_file(sink_script, sizeof(sink_script), __FILE__, "lib/sinkmx.py") < 0)
		return -1;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/mxd-test-smtpc-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(ca_file, sizeof(ca_file), "%s/ca.pem", tmpdir);
	snprintf(cert_file, sizeof(cert_file), "%s/mx.pem", tmpdir);
	snprintf(key_file, sizeof(key_file), "%s/mx.key", tmpdir);
	snprintf(log_file, sizeof(log_file), "%s/mail.log", tmpdir);
	if (sh("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key "
	       "-out ca.pem -days 2 -subj /CN=mxd-test-ca -addext basicConstraints=critical,CA:TRUE "
	       "-addext keyUsage=critical,keyCertSign 2>/dev/null && "
	       "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout mx.key -out mx.csr "
	       "-subj /CN=mx.test 2>/dev/null && printf 'subjectAltName=DNS:mx.test\\n' > ext.cnf && "
	       "openssl x509 -req -in mx.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out mx.pem -days 2 "
	       "-extfile ext.cnf 2>/dev/null",
	       tmpdir) != 0) {
		fprintf(stderr,
		        "test_smtp_client: FATAL: the openssl command could not make test certificates\n");
		return -1;
	}
	server_tls = SSL_CTX_new(TLS_server_method());
	if (server_tls == NULL || SSL_CTX_use_certificate_chain_file(server_tls, cert_file) != 1 ||
	    SSL_CTX_use_PrivateKey_file(server_tls, key_file, SSL_FILETYPE_PEM) != 1)
		return -1;
	const char *error;
	if (log_open(log_file, "test", "mxd", &error) < 0)
		return -1;
	log_set_debug(true);
	return 0;
}

static inline int group_teardown(void **state)
{
	const char *error;
	log_open(NULL, NULL, NULL, &error);
	SSL_CTX_free(server_tls);
	if (getenv("MXD_TEST_KEEP") != NULL) /* keep the log and certificates to look at */
		fprintf(stderr, "test_smtp_client: kept %s\n", tmpdir);
	else
		unit_rm_tree(tmpdir);
	return 0;
}

static inline int setup(void **state)
{
	base = event_base_new();
	return base != NULL ? 0 : -1;
}

static inline int teardown(void **state)
{
	event_base_free(base);
	base = NULL;
	return 0;
}

/* The log written since offset (caller frees). */
static inline char *log_since(long offset)
{
	FILE *f = fopen(log_file, "r");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long end = ftell(f);
	char *buf = xmalloc((size_t)(end - offset) + 1);
	fseek(f, offset, SEEK_SET);
	size_t n = fread(buf, 1, (size_t)(end - offset), f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static inline long log_offset(void)
{
	struct stat st;
	return stat(log_file, &st) == 0 ? (long)st.st_size : 0;
}

/* --- scripted servers ------------------------------------------------------------------------------ */

enum step_kind {
	S_END,
	S_SEND,
	S_EXPECT,
	S_UNTIL,
	S_BODY,
	S_READN,
	S_TLS,
	S_TLS_EOF,
	S_EOF,
	S_CLOSE,
	S_SLEEP,
	S_ACCEPT,
};

struct step {
	enum step_kind kind;
	const char *text;
	int n;
};

/* clang-format off */
#define SEND(t)   {S_SEND, t, 0}
#define EXPECT(t) {S_EXPECT, t, 0}      /* one command line: equal, or starting with t before a final '*' */
#define UNTIL(t)  {S_UNTIL, t, 0}       /* read until t has arrived, without replying */
#define BODY()    {S_BODY, NULL, 0}     /* the content up to and including the final dot */
#define READN(n)  {S_READN, NULL, n}    /* at least n octets */
#define TLS()     {S_TLS, NULL, 0}      /* the server side of the TLS handshake */
#define TLS_EOF() {S_TLS_EOF, NULL, 0}  /* a handshake the client may abandon, then wait for it to close */
#define EOF_()    {S_EOF, NULL, 0}      /* wait for the client to close */
#define CLOSE()   {S_CLOSE, NULL, 0}
#define SLEEP(ms) {S_SLEEP, NULL, ms}
#define ACCEPT()  {S_ACCEPT, NULL, 0}   /* close this connection, take the next one */
#define END()     {S_END, NULL, 0}

#define GREET_EHLO(ext) \
	SEND("220 mx ESMTP\r\n"), EXPECT("EHLO client.test"), SEND("250-mx\r\n" ext "250 8BITMIME\r\n")
#define QUIT_END() EXPECT("QUIT"), SEND("221 2.0.0 Bye\r\n"), EOF_(), END()
#define DELIVER(mail, rcpt) /* one message with one recipient, accepted */ \
	EXPECT(mail), SEND("250 ok\r\n"), EXPECT(rcpt), SEND("250 ok\r\n"), EXPECT("DATA"), SEND("354 go\r\n"), \
	BODY(), SEND("250 ok\r\n")
/* clang-format on */

struct srv {
	char ip[32];
	int port, lfd, fd;
	SSL *ssl;
	const struct step *steps;
	pthread_t thread;
	char *in;
	size_t inlen, incap;
	char *log; /* everything received, decrypted */
	size_t loglen, logcap;
	char *bodies[16];
	size_t body_len[16];
	int nbody;
	char until[4096];
	int until_reads; /* reads it took to get the UNTIL text */
	int connections;
	char error[512];
};

static inline void srv_fail(struct srv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void srv_fail(struct srv *s, const char *fmt, ...)
{
	if (s->error[0] != '\0')
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->error, sizeof(s->error), fmt, ap);
	va_end(ap);
}

static inline void append(char **buf, size_t *len, size_t *cap, const char *data, size_t n)
{
	if (*len + n + 1 > *cap) {
		*cap = (*len + n + 1) * 2;
		*buf = xrealloc(*buf, *cap);
	}
	memcpy(*buf + *len, data, n);
	*len += n;
	(*buf)[*len] = '\0';
}

/* Read what is there (waiting up to SRV_TIMEOUT_MS). >0, 0 at EOF, -1 on error or timeout. */
static inline ssize_t srv_read(struct srv *s)
{
	char buf[16384];
	ssize_t n;
	if (s->fd < 0)
		return -1;
	if (s->ssl != NULL) {
		int r = SSL_read(s->ssl, buf, sizeof(buf));
		if (r <= 0) {
			int e = SSL_get_error(s->ssl, r);
			ERR_clear_error();
			return e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL ? 0 : -1;
		}
		n = r;
	} else {
		n = recv(s->fd, buf, sizeof(buf), 0);
		if (n < 0)
			return -1;
	}
	append(&s->in, &s->inlen, &s->incap, buf, (size_t)n);
	append(&s->log, &s->loglen, &s->logcap, buf, (size_t)n);
	return n;
}

static inline void srv_consume(struct srv *s, size_t n)
{
	memmove(s->in, s->in + n, s->inlen - n);
	s->inlen -= n;
}

static inline void srv_send(struct srv *s, const char *text)
{
	size_t len = strlen(text);
	if (s->ssl != NULL ? SSL_write(s->ssl, text, (int)len) != (int)len
	                   : send(s->fd, text, len, MSG_NOSIGNAL) != (ssize_t)len)
		srv_fail(s, "cannot send %s", text);
}

static inline void srv_close_conn(struct srv *s)
{
	if (s->ssl != NULL) {
		SSL_free(s->ssl);
		s->ssl = NULL;
	}
	if (s->fd >= 0) {
		close(s->fd);
		s->fd = -1;
	}
	s->inlen = 0;
}

static inline int srv_accept(struct srv *s)
{
	struct pollfd p = {.fd = s->lfd, .events = POLLIN};
	if (poll(&p, 1, SRV_TIMEOUT_MS) != 1) {
		srv_fail(s, "no connection came");
		return -1;
	}
	s->fd = accept(s->lfd, NULL, NULL);
	if (s->fd < 0) {
		srv_fail(s, "accept: %s", strerror(errno));
		return -1;
	}
	struct timeval tv = {SRV_TIMEOUT_MS / 1000, 0};
	setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	s->connections++;
	return 0;
}

static inline void srv_step(struct srv *s, const struct step *st, int idx)
{
	switch (st->kind) {
	case S_SEND:
		srv_send(s, st->text);
		return;
	case S_EXPECT: {
		char *eol;
		while ((eol = memmem(s->in != NULL ? s->in : "", s->inlen, "\r\n", 2)) == NULL)
			if (srv_read(s) <= 0) {
				srv_fail(s, "step %d: expected \"%s\", the client closed", idx, st->text);
				return;
			}
		size_t len = (size_t)(eol - s->in);
		char line[4096];
		snprintf(line, sizeof(line), "%.*s", (int)len, s->in);
		srv_consume(s, len + 2);
		size_t tl = strlen(st->text);
		bool ok = tl > 0 && st->text[tl - 1] == '*' ? strncmp(line, st->text, tl - 1) == 0
		                                            : strcmp(line, st->text) == 0;
		if (!ok)
			srv_fail(s, "step %d: expected \"%s\", got \"%s\"", idx, st->text, line);
		return;
	}
	case S_UNTIL: {
		char *at;
		s->until_reads = 0;
		while ((at = memmem(s->in != NULL ? s->in : "", s->inlen, st->text, strlen(st->text))) ==
		       NULL) {
			if (srv_read(s) <= 0) {
				srv_fail(s, "step %d: \"%s\" never came (got \"%.*s\")", idx, st->text,
				         (int)s->inlen, s->in);
				return;
			}
			s->until_reads++;
		}
		size_t n = (size_t)(at - s->in) + strlen(st->text);
		snprintf(s->until, sizeof(s->until), "%.*s", (int)n, s->in);
		srv_consume(s, n);
		return;
	}
	case S_BODY: {
		size_t n = 0;
		for (;;) {
			char *at;
			if (s->inlen >= 3 && memcmp(s->in, ".\r\n", 3) == 0) {
				n = 3;
				break;
			}
			if (s->inlen > 0 && (at = memmem(s->in, s->inlen, "\r\n.\r\n", 5)) != NULL) {
				n = (size_t)(at - s->in) + 5;
				break;
			}
			if (srv_read(s) <= 0) {
				srv_fail(s, "step %d: the content never ended", idx);
				return;
			}
		}
		if (s->nbody < 16) {
			s->bodies[s->nbody] = xmalloc(n + 1);
			memcpy(s->bodies[s->nbody], s->in, n);
			s->bodies[s->nbody][n] = '\0';
			s->body_len[s->nbody++] = n;
		}
		srv_consume(s, n);
		return;
	}
	case S_READN:
		while (s->inlen < (size_t)st->n)
			if (srv_read(s) <= 0) {
				srv_fail(s, "step %d: fewer than %d octets came", idx, st->n);
				return;
			}
		srv_consume(s, s->inlen);
		return;
	case S_TLS:
		s->ssl = SSL_new(server_tls);
		SSL_set_fd(s->ssl, s->fd);
		if (s->inlen > 0)
			srv_fail(s, "step %d: plaintext after STARTTLS", idx);
		if (SSL_accept(s->ssl) != 1) {
			ERR_clear_error();
			srv_fail(s, "step %d: TLS handshake failed", idx);
		}
		return;
	case S_TLS_EOF:
		s->ssl = SSL_new(server_tls);
		SSL_set_fd(s->ssl, s->fd);
		if (SSL_accept(s->ssl) != 1) /* a client that hangs up at once makes the tickets fail */
			ERR_clear_error();
		while (srv_read(s) > 0)
			;
		return;
	case S_EOF:
		while (srv_read(s) > 0)
			;
		return;
	case S_CLOSE:
		srv_close_conn(s);
		return;
	case S_SLEEP:
		usleep((useconds_t)st->n * 1000);
		return;
	case S_ACCEPT:
		srv_close_conn(s);
		srv_accept(s);
		return;
	case S_END:
		return;
	}
}

static inline void *srv_main(void *arg)
{
	struct srv *s = arg;
	if (srv_accept(s) == 0)
		for (int i = 0; s->steps[i].kind != S_END && s->error[0] == '\0'; i++)
			srv_step(s, &s->steps[i], i);
	srv_close_conn(s);
	close(s->lfd);
	return NULL;
}

static inline int listen_on(const char *ip, int *port_r)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sin = {.sin_family = AF_INET};
	inet_pton(AF_INET, ip, &sin.sin_addr);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 16), 0);
	socklen_t len = sizeof(sin);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	*port_r = ntohs(sin.sin_port);
	return fd;
}

static inline struct srv *srv_start(const char *ip, const struct step *steps)
{
	struct srv *s = xcalloc(1, sizeof(*s));
	str_copy(s->ip, sizeof(s->ip), ip);
	s->fd = -1;
	s->steps = steps;
	s->lfd = listen_on(ip, &s->port);
	pthread_create(&s->thread, NULL, srv_main, s);
	return s;
}

/* Wait for the script to end; fails the test on a script error. */
static inline void srv_join(struct srv *s)
{
	pthread_join(s->thread, NULL);
	if (s->error[0] != '\0')
		fail_msg("scripted server %s: %s", s->ip, s->error);
}

static inline void srv_free(struct srv **sp)
{
	struct srv *s = *sp;
	for (int i = 0; i < s->nbody; i++)
		free(s->bodies[i]);
	free(s->in);
	free(s->log);
	free(s);
	*sp = NULL;
}

/* A port on ip where nothing listens. */
static inline int closed_port(const char *ip)
{
	int port;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET};
	inet_pton(AF_INET, ip, &sin.sin_addr);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	socklen_t len = sizeof(sin);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/* --- the client side ------------------------------------------------------------------------------- */

struct capture {
	int calls;
	bool done;
	enum smtp_client_failure failure;
	struct smtp_client_reply reply;
	char diag[SMTP_CLIENT_DIAG_MAX], relay[SMTP_CLIENT_RELAY_MAX];
	bool tls, reused, conn_stale, reusable;
	int64_t conn_msec, xmit_msec;
	size_t nrcpt, nsent, ndeferred, nbounced;
	struct {
		char address[128];
		enum smtp_client_status status;
		struct smtp_client_reply reply;
		char diag[SMTP_CLIENT_DIAG_MAX];
	} rcpts[MAX_RCPT];
	bool quit; /* smtp_client_quit() from the callback */
	struct smtp_client **connp;
};

static inline void on_result(struct smtp_client *conn, const struct smtp_client_result *r, void *ctx)
{
	struct capture *cap = ctx;
	cap->calls++;
	cap->done = true;
	cap->failure = r->failure;
	cap->reply = r->reply;
	str_copy(cap->diag, sizeof(cap->diag), r->diag);
	str_copy(cap->relay, sizeof(cap->relay), r->relay);
	cap->tls = r->tls;
	cap->reused = r->reused;
	cap->conn_stale = r->conn_stale;
	cap->conn_msec = r->conn_msec;
	cap->xmit_msec = r->xmit_msec;
	cap->nrcpt = r->nrcpt;
	cap->nsent = r->nsent;
	cap->ndeferred = r->ndeferred;
	cap->nbounced = r->nbounced;
	for (size_t i = 0; i < r->nrcpt && i < MAX_RCPT; i++) {
		str_copy(cap->rcpts[i].address, sizeof(cap->rcpts[i].address), r->rcpts[i].address);
		cap->rcpts[i].status = r->rcpts[i].status;
		cap->rcpts[i].reply = r->rcpts[i].reply;
		str_copy(cap->rcpts[i].diag, sizeof(cap->rcpts[i].diag), r->rcpts[i].diag);
	}
	cap->reusable = smtp_client_is_reusable(conn);
	if (cap->quit && cap->connp != NULL)
		smtp_client_quit(cap->connp);
}

struct closed_capture {
	int calls;
	bool done;
	char reason[SMTP_CLIENT_DIAG_MAX];
	bool free_it;
	struct smtp_client **connp;
};

static inline void on_closed(struct smtp_client *conn, const char *reason, void *ctx)
{
	struct closed_capture *cc = ctx;
	cc->calls++;
	cc->done = true;
	str_copy(cc->reason, sizeof(cc->reason), reason);
	if (cc->free_it)
		smtp_client_free(cc->connp);
}

static bool timed_out;
static inline void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	timed_out = true;
}

/* Run the loop until *flag (at most ms). */
static inline void run_until(bool *flag, int ms)
{
	struct event *ev = evtimer_new(base, deadline_cb, NULL);
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	timed_out = false;
	evtimer_add(ev, &tv);
	while (!*flag && !timed_out)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(ev);
	if (!*flag)
		fail_msg("nothing happened within %d ms", ms);
}

/* Run the loop for ms, whatever happens. */
static inline void run_for(int ms)
{
	bool never = false;
	struct event *ev = evtimer_new(base, deadline_cb, NULL);
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	timed_out = false;
	evtimer_add(ev, &tv);
	while (!never && !timed_out)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(ev);
}

static inline void peer_set(struct smtp_client_peer *p, const char *host, const char *ip, int port)
{
	memset(p, 0, sizeof(*p));
	struct sockaddr_in *sin = (struct sockaddr_in *)&p->addr;
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, ip, &sin->sin_addr);
	p->len = sizeof(*sin);
	p->hostname = host;
}

static inline struct smtp_client_options default_opts(void)
{
	struct smtp_client_options o = {
	    .helo_name = "client.test",
	    .tls_level = SMTP_CLIENT_TLS_NONE,
	    .connect_timeout_msec = 2000,
	    .command_timeout_msec = 3000,
	    .data_timeout_msec = 3000,
	};
	return o;
}

static inline struct smtp_client *client_new(const struct smtp_client_peer *peers, size_t npeer,
                                             const struct smtp_client_options *opts)
{
	struct smtp_client *conn = NULL;
	const char *error = NULL;
	if (smtp_client_new(base, peers, npeer, opts, &conn, &error) < 0)
		fail_msg("smtp_client_new: %s", error);
	return conn;
}

/* A message whose body is text; free the body with evbuffer_free. */
static inline struct smtp_client_msg msg_make(const char *sender, const char *const *rcpts, size_t nrcpt,
                                              const char *text, size_t len)
{
	struct smtp_client_msg m = {.id = "TESTID", .sender = sender, .rcpts = rcpts, .nrcpt = nrcpt};
	m.body = evbuffer_new();
	evbuffer_add(m.body, text, len);
	return m;
}

/* Send one message, quit from the callback, run until the server script ends. */
static inline void send_and_quit(struct smtp_client **conn, const struct smtp_client_msg *m,
                                 struct capture *cap)
{
	cap->quit = true;
	cap->connp = conn;
	smtp_client_send(*conn, m, on_result, cap);
	assert_int_equal(cap->calls, 0); /* never from inside the call */
	run_until(&cap->done, 10000);
	assert_null(*conn);
	run_for(50); /* let QUIT go out */
}

#endif
