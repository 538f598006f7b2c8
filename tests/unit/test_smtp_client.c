/*
 * test_smtp_client: mxd/delivery/smtp_client.c against scripted SMTP servers. Each server is a thread in this
 * process on its own 127.0.0.x address: it plays a dialogue step by step (send this reply, expect this
 * command line, read everything up to "DATA", read the content up to the final dot, do the TLS
 * handshake, ...) and records every octet it received, so the tests check the wire byte for byte. The
 * AUTH mechanisms a scripted server cannot easily check (CRAM-MD5, LOGIN) run against
 * tests/lib/sinkmx.py (Debian's /usr/bin/python3 with python3-aiosmtpd), started as a subprocess. The
 * TLS certificates (a test CA and "mx.test" signed by it) are made with the openssl command at start.
 * Nothing leaves loopback.
 */
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

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static int group_setup(void **state)
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

static int group_teardown(void **state)
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

static int setup(void **state)
{
	base = event_base_new();
	return base != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	event_base_free(base);
	base = NULL;
	return 0;
}

/* The log written since offset (caller frees). */
static char *log_since(long offset)
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

static long log_offset(void)
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

static void srv_fail(struct srv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void srv_fail(struct srv *s, const char *fmt, ...)
{
	if (s->error[0] != '\0')
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->error, sizeof(s->error), fmt, ap);
	va_end(ap);
}

static void append(char **buf, size_t *len, size_t *cap, const char *data, size_t n)
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
static ssize_t srv_read(struct srv *s)
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

static void srv_consume(struct srv *s, size_t n)
{
	memmove(s->in, s->in + n, s->inlen - n);
	s->inlen -= n;
}

static void srv_send(struct srv *s, const char *text)
{
	size_t len = strlen(text);
	if (s->ssl != NULL ? SSL_write(s->ssl, text, (int)len) != (int)len
	                   : send(s->fd, text, len, MSG_NOSIGNAL) != (ssize_t)len)
		srv_fail(s, "cannot send %s", text);
}

static void srv_close_conn(struct srv *s)
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

static int srv_accept(struct srv *s)
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

static void srv_step(struct srv *s, const struct step *st, int idx)
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

static void *srv_main(void *arg)
{
	struct srv *s = arg;
	if (srv_accept(s) == 0)
		for (int i = 0; s->steps[i].kind != S_END && s->error[0] == '\0'; i++)
			srv_step(s, &s->steps[i], i);
	srv_close_conn(s);
	close(s->lfd);
	return NULL;
}

static int listen_on(const char *ip, int *port_r)
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

static struct srv *srv_start(const char *ip, const struct step *steps)
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
static void srv_join(struct srv *s)
{
	pthread_join(s->thread, NULL);
	if (s->error[0] != '\0')
		fail_msg("scripted server %s: %s", s->ip, s->error);
}

static void srv_free(struct srv **sp)
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
static int closed_port(const char *ip)
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

static void on_result(struct smtp_client *conn, const struct smtp_client_result *r, void *ctx)
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

static void on_closed(struct smtp_client *conn, const char *reason, void *ctx)
{
	struct closed_capture *cc = ctx;
	cc->calls++;
	cc->done = true;
	str_copy(cc->reason, sizeof(cc->reason), reason);
	if (cc->free_it)
		smtp_client_free(cc->connp);
}

static bool timed_out;
static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	timed_out = true;
}

/* Run the loop until *flag (at most ms). */
static void run_until(bool *flag, int ms)
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
static void run_for(int ms)
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

static void peer_set(struct smtp_client_peer *p, const char *host, const char *ip, int port)
{
	memset(p, 0, sizeof(*p));
	struct sockaddr_in *sin = (struct sockaddr_in *)&p->addr;
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, ip, &sin->sin_addr);
	p->len = sizeof(*sin);
	p->hostname = host;
}

static struct smtp_client_options default_opts(void)
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

static struct smtp_client *client_new(const struct smtp_client_peer *peers, size_t npeer,
                                      const struct smtp_client_options *opts)
{
	struct smtp_client *conn = NULL;
	const char *error = NULL;
	if (smtp_client_new(base, peers, npeer, opts, &conn, &error) < 0)
		fail_msg("smtp_client_new: %s", error);
	return conn;
}

/* A message whose body is text; free the body with evbuffer_free. */
static struct smtp_client_msg msg_make(const char *sender, const char *const *rcpts, size_t nrcpt,
                                       const char *text, size_t len)
{
	struct smtp_client_msg m = {.id = "TESTID", .sender = sender, .rcpts = rcpts, .nrcpt = nrcpt};
	m.body = evbuffer_new();
	evbuffer_add(m.body, text, len);
	return m;
}

/* Send one message, quit from the callback, run until the server script ends. */
static void send_and_quit(struct smtp_client **conn, const struct smtp_client_msg *m, struct capture *cap)
{
	cap->quit = true;
	cap->connp = conn;
	smtp_client_send(*conn, m, on_result, cap);
	assert_int_equal(cap->calls, 0); /* never from inside the call */
	run_until(&cap->done, 10000);
	assert_null(*conn);
	run_for(50); /* let QUIT go out */
}

/* --- tests ----------------------------------------------------------------------------------------- */

static void test_plain_delivery(void **state)
{
	static const struct step steps[] = {
	    SEND("220 mx.example ESMTP\r\n"),
	    EXPECT("EHLO client.test"),
	    SEND("250-mx.example\r\n250-SIZE 1000000\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
	         "250 ENHANCEDSTATUSCODES\r\n"),
	    EXPECT("MAIL FROM:<a@x.test> SIZE=14 BODY=8BITMIME SMTPUTF8"),
	    SEND("250 2.1.0 Ok\r\n"),
	    EXPECT("RCPT TO:<b@y.test>"),
	    SEND("250 2.1.5 Ok\r\n"),
	    EXPECT("DATA"),
	    SEND("354 go ahead\r\n"),
	    BODY(),
	    SEND("250 2.0.0 Ok: queued as ABC\r\n"),
	    QUIT_END(),
	};
	struct srv *s = srv_start("127.0.0.11", steps);
	struct smtp_client_peer peer;
	peer_set(&peer, "mx1.test", "127.0.0.11", s->port);
	struct smtp_client_options o = default_opts();
	struct smtp_client *conn = client_new(&peer, 1, &o);
	const char *rcpts[] = {"b@y.test"};
	static const char text[] = "Subject: x\n\nhi";
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, text, sizeof(text) - 1);
	m.eightbit = m.smtputf8 = true;
	struct capture cap = {0};
	send_and_quit(&conn, &m, &cap);
	srv_join(s);

	assert_int_equal(cap.calls, 1);
	assert_int_equal(cap.failure, SMTP_CLIENT_OK);
	assert_int_equal(cap.nsent, 1);
	assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_SENT);
	assert_int_equal(cap.rcpts[0].reply.code, 250);
	assert_string_equal(cap.rcpts[0].reply.enh, "2.0.0");
	assert_string_equal(cap.rcpts[0].reply.text, "Ok: queued as ABC");
	assert_string_equal(cap.rcpts[0].diag, "250 2.0.0 Ok: queued as ABC");
	char relay[64];
	snprintf(relay, sizeof(relay), "mx1.test[127.0.0.11]:%d", s->port);
	assert_string_equal(cap.relay, relay);
	assert_false(cap.tls);
	assert_false(cap.reused);
	assert_true(cap.conn_msec >= 0 && cap.xmit_msec >= 0);
	assert_int_equal(s->nbody, 1);
	assert_string_equal(s->bodies[0], "Subject: x\r\n\r\nhi\r\n.\r\n");
	assert_string_equal(smtp_client_status_str(SMTP_CLIENT_DEFERRED), "deferred");
	evbuffer_free(m.body);
	srv_free(&s);
}

static void test_pipelining_mixed_rcpts(void **state)
{
	static const struct step steps[] = {
	    GREET_EHLO("250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n"),
	    UNTIL("DATA\r\n"),
	    SEND("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <c@y.test>: no such user\r\n"
	         "450-4.2.1 mailbox busy\r\n450 4.2.1 try\tlater\x01\r\n354 go\r\n"),
	    BODY(),
	    SEND("250 2.0.0 Ok: queued as P1\r\n"),
	    QUIT_END(),
	};
	struct srv *s = srv_start("127.0.0.12", steps);
	struct smtp_client_peer peer;
	peer_set(&peer, "mx.gmail.test", "127.0.0.12", s->port);
	struct smtp_client_options o = default_opts();
	struct smtp_client *conn = client_new(&peer, 1, &o);
	const char *rcpts[] = {"b@y.test", "c@y.test", "d@y.test"};
	struct smtp_client_msg m = msg_make("", rcpts, 3, "hello\r\n", 7);
	struct capture cap = {0};
	send_and_quit(&conn, &m, &cap);
	srv_join(s);

	/* everything up to DATA came before the server said anything, in one write */
	assert_string_equal(s->until, "MAIL FROM:<>\r\nRCPT TO:<b@y.test>\r\nRCPT TO:<c@y.test>\r\n"
	                              "RCPT TO:<d@y.test>\r\nDATA\r\n");
	assert_int_equal(s->until_reads, 1);
	assert_int_equal(cap.failure, SMTP_CLIENT_OK);
	assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_SENT);
	assert_int_equal(cap.rcpts[1].status, SMTP_CLIENT_BOUNCED);
	assert_int_equal(cap.rcpts[2].status, SMTP_CLIENT_DEFERRED);
	assert_int_equal(cap.nsent, 1);
	assert_int_equal(cap.nbounced, 1);
	assert_int_equal(cap.ndeferred, 1);
	assert_string_equal(cap.rcpts[1].reply.enh, "5.1.1");
	assert_string_equal(cap.rcpts[1].diag,
	                    "host mx.gmail.test[127.0.0.12] said: 550 5.1.1 <c@y.test>: no such "
	                    "user (in reply to RCPT TO command)");
	/* multi-line, enhanced code stripped from each line, controls sanitized */
	assert_int_equal(cap.rcpts[2].reply.code, 450);
	assert_string_equal(cap.rcpts[2].reply.enh, "4.2.1");
	assert_string_equal(cap.rcpts[2].reply.text, "mailbox busy try later?");
	assert_string_equal(s->bodies[0], "hello\r\n.\r\n");
	evbuffer_free(m.body);
	srv_free(&s);
}

/* Dot-stuffing and line ends, byte for byte; all on one connection, which also tests reuse. */
#define ROW(in, wire)                                                                                        \
	{                                                                                                    \
		in, sizeof(in) - 1, wire, sizeof(wire) - 1                                                   \
	}
static const struct {
	const char *in;
	size_t len;
	const char *wire;
	size_t wire_len;
} body_rows[] = {
    ROW("line1\n.dot\r\n..two\rcr only\r\nlast", "line1\r\n..dot\r\n...two\r\ncr only\r\nlast\r\n.\r\n"),
    ROW("", ".\r\n"),
    ROW("ends with crlf\r\n", "ends with crlf\r\n.\r\n"),
    ROW(".\r\n", "..\r\n.\r\n"),
    ROW("a\r\r\nb\n\n.\n", "a\r\n\r\nb\r\n\r\n..\r\n.\r\n"),
    ROW(".", "..\r\n.\r\n"),
    ROW("8bit \xc3\xa9\x00nul\n", "8bit \xc3\xa9\x00nul\r\n.\r\n"),
    /* CRLF lines as the queue stores them (copied a line at a time), with dots, a stray CR, a bare LF */
    ROW("a\r\n.b\r\n\r\n..\r\nc\rd\r\n.e\nf\r\n.", "a\r\n..b\r\n\r\n...\r\nc\r\nd\r\n..e\r\nf\r\n..\r\n.\r\n"),
};

#define MSG_STEPS DELIVER("MAIL FROM:<a@x.test>", "RCPT TO:<b@y.test>")

static void test_body_transparency_and_reuse(void **state)
{
	static const struct step steps[] = {
	    GREET_EHLO(""), MSG_STEPS, MSG_STEPS, MSG_STEPS, MSG_STEPS, MSG_STEPS,
	    MSG_STEPS,      MSG_STEPS, MSG_STEPS, MSG_STEPS, QUIT_END(),
	};
	size_t nrows = MXD_ARRAY_SIZE(body_rows);
	struct srv *s = srv_start("127.0.0.13", steps);
	struct smtp_client_peer peer;
	peer_set(&peer, "mx.test", "127.0.0.13", s->port);
	struct smtp_client_options o = default_opts();
	struct smtp_client *conn = client_new(&peer, 1, &o);
	const char *rcpts[] = {"b@y.test"};
	for (size_t i = 0; i < nrows; i++) {
		struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, body_rows[i].in, body_rows[i].len);
		struct capture cap = {0};
		smtp_client_send(conn, &m, on_result, &cap);
		run_until(&cap.done, 5000);
		assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_SENT);
		assert_true(cap.reusable);
		assert_int_equal(cap.reused, i > 0);
		if (i > 0)
			assert_int_equal(cap.conn_msec, 0);
		evbuffer_free(m.body);
	}

	/* a large body: streamed in chunks, with a CR LF and a leading dot across chunk boundaries */
	size_t big_len = 300000;
	char *big = xmalloc(big_len);
	for (size_t i = 0; i < big_len; i++)
		big[i] = (char)('a' + i % 26);
	big[16383] = '\r', big[16384] = '\n', big[16385] = '.';
	big[32767] = '\n', big[32768] = '.', big[32769] = '.';
	big[50000] = '\r', big[50001] = 'x';
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, big, big_len);
	struct capture cap = {.quit = true, .connp = &conn};
	smtp_client_send(conn, &m, on_result, &cap);
	run_until(&cap.done, 10000);
	run_for(50);
	srv_join(s);
	assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_SENT);
	assert_int_equal(s->connections, 1);

	for (size_t i = 0; i < nrows; i++) {
		size_t wl = body_rows[i].wire_len;
		if (s->body_len[i] != wl || memcmp(s->bodies[i], body_rows[i].wire, wl) != 0)
			fail_msg("row %zu: sent \"%s\"", i, s->bodies[i]);
	}
	/* expected wire form of the large body */
	char *want = xmalloc(2 * big_len + 8);
	size_t w = 0;
	for (size_t i = 0; i < big_len; i++) {
		bool bol = w == 0 || (w >= 2 && want[w - 2] == '\r' && want[w - 1] == '\n');
		if (big[i] == '\r' && i + 1 < big_len && big[i + 1] == '\n')
			continue; /* the LF writes the line end */
		if (big[i] == '\r' || big[i] == '\n') {
			want[w++] = '\r', want[w++] = '\n';
			continue;
		}
		if (bol && big[i] == '.')
			want[w++] = '.';
		want[w++] = big[i];
	}
	memcpy(want + w, "\r\n.\r\n", 5);
	w += 5;
	assert_int_equal(s->body_len[nrows], w);
	assert_memory_equal(s->bodies[nrows], want, w);
	free(want);
	free(big);
	evbuffer_free(m.body);
	srv_free(&s);
}

static void test_data_tempfail_then_rset(void **state)
{
	static const struct step steps[] = {
	    GREET_EHLO(""),
	    EXPECT("MAIL FROM:<a@x.test>"),
	    SEND("250 ok\r\n"),
	    EXPECT("RCPT TO:<b@y.test>"),
	    SEND("250 ok\r\n"),
	    EXPECT("RCPT TO:<c@y.test>"),
	    SEND("550 5.1.1 unknown\r\n"),
	    EXPECT("DATA"),
	    SEND("451 4.3.0 try again later\r\n"),
	    EXPECT("RSET"),
	    SEND("250 ok\r\n"),
	    QUIT_END(),
	};
	struct srv *s = srv_start("127.0.0.14", steps);
	struct smtp_client_peer peer;
	peer_set(&peer, "mx.test", "127.0.0.14", s->port);
	struct smtp_client_options o = default_opts();
	struct smtp_client *conn = client_new(&peer, 1, &o);
	const char *rcpts[] = {"b@y.test", "c@y.test"};
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 2, "x\r\n", 3);
	struct capture cap = {0};
	smtp_client_send(conn, &m, on_result, &cap);
	run_until(&cap.done, 5000);
	assert_int_equal(cap.failure, SMTP_CLIENT_FAIL_DATA);
	assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_DEFERRED);
	assert_int_equal(cap.rcpts[1].status, SMTP_CLIENT_BOUNCED);
	assert_string_equal(cap.rcpts[0].diag,
	                    "host mx.test[127.0.0.14] said: 451 4.3.0 try again later (in reply "
	                    "to DATA command)");
	assert_true(cap.reusable); /* RSET on its way */
	smtp_client_quit(&conn);
	run_for(300);
	srv_join(s);
	evbuffer_free(m.body);
	srv_free(&s);
}

static void test_drop_mid_data(void **state)
{
	static const struct step steps[] = {
	    GREET_EHLO("250-PIPELINING\r\n"),
	    UNTIL("DATA\r\n"),
	    SEND("250 ok\r\n250 ok\r\n354 go\r\n"),
	    READN(4000),
	    CLOSE(),
	    END(),
	};
	struct srv *s = srv_start("127.0.0.15", steps);
	struct smtp_client_peer peer;
	peer_set(&peer, "mx.test", "127.0.0.15", s->port);
	struct smtp_client_options o = default_opts();
	struct smtp_client *conn = client_new(&peer, 1, &o);
	const char *rcpts[] = {"b@y.test"};
	size_t len = 4 * 1024 * 1024;
	char *text = xmalloc(len);
	memset(text, 'x', len);
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, text, len);
	free(text);
	struct capture cap = {0};
	smtp_client_send(conn, &m, on_result, &cap);
	run_until(&cap.done, 10000);
	srv_join(s);
	assert_int_equal(cap.failure, SMTP_CLIENT_FAIL_LOST);
	assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_DEFERRED);
	assert_int_equal(cap.nsent, 0);
	assert_contains(cap.rcpts[0].diag, "lost connection with mx.test[127.0.0.15] while sending");
	assert_string_equal(cap.rcpts[0].reply.enh, "4.4.2");
	assert_false(cap.reusable);
	assert_false(cap.conn_stale);
	smtp_client_free(&conn);
	evbuffer_free(m.body);
	srv_free(&s);
}

static void test_failover_refused_and_421(void **state)
{
	static const struct step busy[] = {SEND("421 4.3.2 mx2 busy\r\n"), CLOSE(), END()};
	static const struct step good[] = {
	    GREET_EHLO(""),
	    DELIVER("MAIL FROM:<a@x.test>", "RCPT TO:<b@y.test>"),
	    QUIT_END(),
	};
	long off = log_offset();
	struct srv *s2 = srv_start("127.0.0.17", busy);
	struct srv *s3 = srv_start("127.0.0.18", good);
	int dead = closed_port("127.0.0.16");
	struct smtp_client_peer peers[3];
	peer_set(&peers[0], "mx1.test", "127.0.0.16", dead);
	peer_set(&peers[1], "mx2.test", "127.0.0.17", s2->port);
	peer_set(&peers[2], "mx3.test", "127.0.0.18", s3->port);
	struct smtp_client_options o = default_opts();
	struct smtp_client *conn = client_new(peers, 3, &o);
	const char *rcpts[] = {"b@y.test"};
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, "x\r\n", 3);
	struct capture cap = {0};
	send_and_quit(&conn, &m, &cap);
	srv_join(s2);
	srv_join(s3);
	assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_SENT);
	char want[128];
	snprintf(want, sizeof(want), "mx3.test[127.0.0.18]:%d", s3->port);
	assert_string_equal(cap.relay, want);
	char *log = log_since(off);
	snprintf(want, sizeof(want), "smtp[%d]: connect to mx1.test[127.0.0.16]:%d: Connection refused",
	         (int)getpid(), dead);
	assert_contains(log, want);
	assert_contains(log, "host mx2.test[127.0.0.17] refused to talk to me: 421 4.3.2 mx2 busy");
	free(log);
	evbuffer_free(m.body);
	srv_free(&s2);
	srv_free(&s3);
}

static void test_all_candidates_fail(void **state)
{
	static const struct step reject[] = {SEND("554 5.7.1 go away\r\n"), CLOSE(), END()};
	struct srv *s = srv_start("127.0.0.19", reject);
	int dead = closed_port("127.0.0.20");
	struct smtp_client_peer peers[2];
	peer_set(&peers[0], "mx1.test", "127.0.0.20", dead);
	peer_set(&peers[1], "mx2.test", "127.0.0.19", s->port);
	struct smtp_client_options o = default_opts();
	struct smtp_client *conn = client_new(peers, 2, &o);
	const char *rcpts[] = {"b@y.test", "c@y.test"};
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 2, "x\r\n", 3);
	struct capture cap = {0};
	smtp_client_send(conn, &m, on_result, &cap);
	run_until(&cap.done, 5000);
	srv_join(s);
	/* a 5xx greeting from the last candidate is still temporary */
	assert_int_equal(cap.failure, SMTP_CLIENT_FAIL_CONNECT);
	assert_int_equal(cap.ndeferred, 2);
	assert_int_equal(cap.reply.code, 554);
	assert_string_equal(cap.diag, "host mx2.test[127.0.0.19] refused to talk to me: 554 5.7.1 go away");
	assert_string_equal(cap.rcpts[1].diag, cap.diag);
	assert_false(cap.conn_stale);
	assert_false(cap.reusable);
	smtp_client_free(&conn);

	/* without a message: the closed callback says why */
	struct closed_capture cc = {0};
	conn = client_new(peers, 1, &o);
	cc.free_it = true;
	cc.connp = &conn;
	smtp_client_set_closed_cb(conn, on_closed, &cc);
	assert_int_equal(cc.calls, 0);
	run_until(&cc.done, 5000);
	assert_null(conn);
	assert_contains(cc.reason, "Connection refused");
	evbuffer_free(m.body);
	srv_free(&s);
}

static void test_helo_fallback(void **state)
{
	static const struct step steps[] = {
	    SEND("220 old server\r\n"),
	    EXPECT("EHLO client.test"),
	    SEND("502 5.5.2 Error: command not recognized\r\n"),
	    EXPECT("HELO client.test"),
	    SEND("250 old\r\n"),
	    EXPECT("MAIL FROM:<a@x.test>"), /* no SIZE= or BODY= without EHLO */
	    SEND("250 ok\r\n"),
	    EXPECT("RCPT TO:<b@y.test>"),
	    SEND("250 ok\r\n"),
	    EXPECT("DATA"),
	    SEND("354 go\r\n"),
	    BODY(),
	    SEND("250 ok\r\n"),
	    QUIT_END(),
	};
	struct srv *s = srv_start("127.0.0.21", steps);
	struct smtp_client_peer peer;
	peer_set(&peer, "old.test", "127.0.0.21", s->port);
	struct smtp_client_options o = default_opts();
	o.tls_level = SMTP_CLIENT_TLS_MAY; /* no STARTTLS without EHLO */
	struct smtp_client *conn = client_new(&peer, 1, &o);
	const char *rcpts[] = {"b@y.test"};
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, "x\r\n", 3);
	m.eightbit = true;
	struct capture cap = {0};
	send_and_quit(&conn, &m, &cap);
	srv_join(s);
	assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_SENT);
	assert_string_equal(cap.rcpts[0].reply.enh, "2.0.0"); /* derived */
	evbuffer_free(m.body);
	srv_free(&s);
}

static void test_size_and_smtputf8_refused_locally(void **state)
{
	static const struct step steps[] = {GREET_EHLO("250-SIZE 100\r\n"), QUIT_END()};
	struct srv *s = srv_start("127.0.0.22", steps);
	struct smtp_client_peer peer;
	peer_set(&peer, "mx.test", "127.0.0.22", s->port);
	struct smtp_client_options o = default_opts();
	struct smtp_client *conn = client_new(&peer, 1, &o);
	const char *rcpts[] = {"b@y.test"};
	char text[1000];
	memset(text, 'x', sizeof(text));
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, text, sizeof(text));
	struct capture cap = {0};
	smtp_client_send(conn, &m, on_result, &cap);
	run_until(&cap.done, 5000);
	assert_int_equal(cap.failure, SMTP_CLIENT_FAIL_LOCAL);
	assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_BOUNCED);
	assert_string_equal(cap.rcpts[0].reply.enh, "5.3.4");
	assert_contains(cap.rcpts[0].diag,
	                "message size 1000 exceeds size limit 100 of server mx.test[127.0.0.22]");
	assert_true(cap.reusable);
	evbuffer_free(m.body);

	m = msg_make("a@x.test", rcpts, 1, "x", 1);
	m.smtputf8 = true;
	struct capture cap2 = {.quit = true, .connp = &conn};
	smtp_client_send(conn, &m, on_result, &cap2);
	assert_int_equal(cap2.calls, 0);
	run_until(&cap2.done, 5000);
	run_for(100);
	srv_join(s);
	assert_int_equal(cap2.rcpts[0].status, SMTP_CLIENT_BOUNCED);
	assert_string_equal(cap2.rcpts[0].reply.enh, "5.6.7");
	assert_not_contains(s->log, "MAIL");
	evbuffer_free(m.body);
	srv_free(&s);
}

static void test_starttls_may_untrusted(void **state)
{
	static const struct step steps[] = {
	    GREET_EHLO("250-STARTTLS\r\n"),
	    EXPECT("STARTTLS"),
	    SEND("220 2.0.0 Ready to start TLS\r\n"),
	    TLS(),
	    EXPECT("EHLO client.test"),
	    SEND("250 mx\r\n"),
	    DELIVER("MAIL FROM:<a@x.test>", "RCPT TO:<b@y.test>"),
	    QUIT_END(),
	};
	long off = log_offset();
	struct srv *s = srv_start("127.0.0.23", steps);
	struct smtp_client_peer peer;
	peer_set(&peer, "mx.test", "127.0.0.23", s->port);
	struct smtp_client_options o = default_opts();
	o.tls_level = SMTP_CLIENT_TLS_MAY; /* the test CA is not trusted here: fine for "may" */
	struct smtp_client *conn = client_new(&peer, 1, &o);
	const char *rcpts[] = {"b@y.test"};
	/* a body large enough to be streamed through the TLS layer in many pieces */
	size_t len = 1000000;
	char *text = xmalloc(len);
	for (size_t i = 0; i < len; i++)
		text[i] = i % 100 == 99 ? '\n' : (char)('a' + i % 26);
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, text, len);
	free(text);
	struct capture cap = {0};
	send_and_quit(&conn, &m, &cap);
	srv_join(s);
	assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_SENT);
	assert_true(cap.tls);
	assert_int_equal(s->body_len[0], len + len / 100 + 3); /* every LF became CRLF, then ".\r\n" */
	char *log = log_since(off);
	assert_contains(log, "Untrusted TLS connection established to mx.test[127.0.0.23]");
	free(log);
	evbuffer_free(m.body);
	srv_free(&s);
}

static void test_starttls_may_falls_back_to_plaintext(void **state)
{
	static const struct step steps[] = {
	    GREET_EHLO("250-STARTTLS\r\n"),
	    EXPECT("STARTTLS"),
	    SEND("220 go\r\n"),
	    SEND("this is not TLS\r\n\r\n\r\n"),
	    EOF_(),
	    ACCEPT(),
	    /* the same server again: STARTTLS is offered but not used this time */
	    GREET_EHLO("250-STARTTLS\r\n"),
	    DELIVER("MAIL FROM:<a@x.test>", "RCPT TO:<b@y.test>"),
	    QUIT_END(),
	};
	long off = log_offset();
	struct srv *s = srv_start("127.0.0.33", steps);
	struct smtp_client_peer peer;
	peer_set(&peer, "mx.test", "127.0.0.33", s->port);
	struct smtp_client_options o = default_opts();
	o.tls_level = SMTP_CLIENT_TLS_MAY;
	struct smtp_client *conn = client_new(&peer, 1, &o);
	const char *rcpts[] = {"b@y.test"};
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, "x\r\n", 3);
	struct capture cap = {0};
	send_and_quit(&conn, &m, &cap);
	srv_join(s);
	assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_SENT);
	assert_false(cap.tls);
	assert_int_equal(s->connections, 2);
	char *log = log_since(off);
	assert_contains(log, "Cannot start TLS with mx.test[127.0.0.33]: ");
	assert_contains(log, "; trying plaintext");
	free(log);
	evbuffer_free(m.body);
	srv_free(&s);
}

static void test_starttls_encrypt_not_offered(void **state)
{
	static const struct step steps[] = {GREET_EHLO(""), EOF_(), END()};
	struct srv *s = srv_start("127.0.0.24", steps);
	struct smtp_client_peer peer;
	peer_set(&peer, "mx.test", "127.0.0.24", s->port);
	struct smtp_client_options o = default_opts();
	o.tls_level = SMTP_CLIENT_TLS_ENCRYPT;
	struct smtp_client *conn = client_new(&peer, 1, &o);
	const char *rcpts[] = {"b@y.test"};
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, "x\r\n", 3);
	struct capture cap = {0};
	smtp_client_send(conn, &m, on_result, &cap);
	run_until(&cap.done, 5000);
	srv_join(s);
	assert_int_equal(cap.failure, SMTP_CLIENT_FAIL_TLS);
	assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_DEFERRED);
	assert_string_equal(cap.diag, "TLS is required, but was not offered by host mx.test[127.0.0.24]");
	assert_not_contains(s->log, "MAIL");
	smtp_client_free(&conn);
	evbuffer_free(m.body);
	srv_free(&s);
}

static void test_starttls_verify(void **state)
{
	static const struct step steps[] = {
	    /* first connection: the certificate does not match "wrong.test" */
	    GREET_EHLO("250-STARTTLS\r\n"),
	    EXPECT("STARTTLS"),
	    SEND("220 go\r\n"),
	    TLS_EOF(),
	    ACCEPT(),
	    /* second connection: "mx.test" matches */
	    GREET_EHLO("250-STARTTLS\r\n"),
	    EXPECT("STARTTLS"),
	    SEND("220 go\r\n"),
	    TLS(),
	    EXPECT("EHLO client.test"),
	    SEND("250 mx\r\n"),
	    DELIVER("MAIL FROM:<a@x.test>", "RCPT TO:<b@y.test>"),
	    QUIT_END(),
	};
	long off = log_offset();
	struct srv *s = srv_start("127.0.0.25", steps);
	struct smtp_client_peer peers[2];
	peer_set(&peers[0], "wrong.test", "127.0.0.25", s->port);
	peer_set(&peers[1], "mx.test", "127.0.0.25", s->port);
	struct smtp_client_options o = default_opts();
	o.tls_level = SMTP_CLIENT_TLS_VERIFY;
	SSL_CTX *ctx = NULL;
	const char *error = NULL;
	assert_int_equal(smtp_client_tls_ctx_new(ca_file, &ctx, &error), 0);
	o.tls_ctx = ctx;
	struct smtp_client *conn = client_new(peers, 2, &o);
	SSL_CTX_free(ctx); /* the connection holds its own reference */
	const char *rcpts[] = {"b@y.test"};
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, "x\r\n", 3);
	struct capture cap = {0};
	send_and_quit(&conn, &m, &cap);
	srv_join(s);
	assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_SENT);
	assert_true(cap.tls);
	char want[128];
	snprintf(want, sizeof(want), "mx.test[127.0.0.25]:%d", s->port);
	assert_string_equal(cap.relay, want);
	char *log = log_since(off);
	assert_contains(
	    log, "server certificate verification failed for wrong.test[127.0.0.25]: hostname mismatch");
	assert_contains(log, "Verified TLS connection established to mx.test[127.0.0.25]");
	free(log);
	evbuffer_free(m.body);
	srv_free(&s);

	/* a CA file that cannot be read */
	assert_int_equal(smtp_client_tls_ctx_new("/nonexistent/ca.pem", &ctx, &error), -1);
	assert_contains(error, "/nonexistent/ca.pem");
	enum smtp_client_tls_level level;
	assert_int_equal(smtp_client_tls_level_parse("encrypt", &level), 0);
	assert_int_equal(level, SMTP_CLIENT_TLS_ENCRYPT);
	assert_int_equal(smtp_client_tls_level_parse("sometimes", &level), -1);
}

static void test_auth_plain_over_tls(void **state)
{
	static const struct step steps[] = {
	    GREET_EHLO("250-AUTH LOGIN\r\n250-STARTTLS\r\n"),
	    EXPECT("STARTTLS"),
	    SEND("220 go\r\n"),
	    TLS(),
	    EXPECT("EHLO client.test"),
	    SEND("250-mx\r\n250-AUTH PLAIN LOGIN\r\n250 PIPELINING\r\n"),
	    EXPECT("AUTH PLAIN AHVzZXIAc2VjcmV0"),
	    SEND("235 2.7.0 Authentication successful\r\n"),
	    UNTIL("DATA\r\n"),
	    SEND("250 ok\r\n250 ok\r\n354 go\r\n"),
	    BODY(),
	    SEND("250 ok\r\n"),
	    QUIT_END(),
	};
	long off = log_offset();
	struct srv *s = srv_start("127.0.0.26", steps);
	struct smtp_client_peer peer;
	peer_set(&peer, "relay.test", "127.0.0.26", s->port);
	struct smtp_client_options o = default_opts();
	o.tls_level = SMTP_CLIENT_TLS_ENCRYPT;
	o.auth_username = "user";
	o.auth_password = "secret";
	struct smtp_client *conn = client_new(&peer, 1, &o);
	const char *rcpts[] = {"b@y.test"};
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, "x\r\n", 3);
	struct capture cap = {0};
	send_and_quit(&conn, &m, &cap);
	srv_join(s);
	assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_SENT);
	char *log = log_since(off);
	assert_contains(log, "> AUTH PLAIN");
	assert_not_contains(log, "AHVzZXIAc2VjcmV0");
	assert_not_contains(log, "secret");
	free(log);
	evbuffer_free(m.body);
	srv_free(&s);
}

static void test_auth_refused_over_plaintext(void **state)
{
	static const struct step steps[] = {GREET_EHLO("250-AUTH PLAIN LOGIN\r\n"), EOF_(), END()};
	struct srv *s = srv_start("127.0.0.27", steps);
	struct smtp_client_peer peer;
	peer_set(&peer, "relay.test", "127.0.0.27", s->port);
	struct smtp_client_options o = default_opts();
	o.tls_level = SMTP_CLIENT_TLS_MAY; /* STARTTLS is not offered */
	o.auth_username = "user";
	o.auth_password = "secret";
	struct smtp_client *conn = client_new(&peer, 1, &o);
	const char *rcpts[] = {"b@y.test"};
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, "x\r\n", 3);
	struct capture cap = {0};
	smtp_client_send(conn, &m, on_result, &cap);
	run_until(&cap.done, 5000);
	srv_join(s);
	assert_int_equal(cap.failure, SMTP_CLIENT_FAIL_AUTH);
	assert_int_equal(cap.reply.code, 0);
	assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_DEFERRED);
	assert_contains(cap.diag, "AUTH refused over a plaintext connection");
	assert_not_contains(s->log, "AUTH");
	assert_not_contains(s->log, "AHVzZXIAc2VjcmV0");
	smtp_client_free(&conn);
	evbuffer_free(m.body);
	srv_free(&s);
}

static void test_auth_rejected_535(void **state)
{
	static const struct step steps[] = {
	    GREET_EHLO("250-AUTH PLAIN\r\n"),
	    EXPECT("AUTH PLAIN AHVzZXIAd3Jvbmc="),
	    SEND("535 5.7.8 Error: authentication failed\r\n"),
	    EOF_(),
	    END(),
	};
	struct srv *s = srv_start("127.0.0.28", steps);
	struct smtp_client_peer peer;
	peer_set(&peer, "relay.test", "127.0.0.28", s->port);
	struct smtp_client_options o = default_opts();
	o.auth_username = "user";
	o.auth_password = "wrong";
	o.auth_allow_plaintext = true;
	struct smtp_client *conn = client_new(&peer, 1, &o);
	const char *rcpts[] = {"b@y.test"};
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, "x\r\n", 3);
	struct capture cap = {0};
	smtp_client_send(conn, &m, on_result, &cap);
	run_until(&cap.done, 5000);
	srv_join(s);
	assert_int_equal(cap.failure, SMTP_CLIENT_FAIL_AUTH);
	assert_int_equal(cap.reply.code, 535);
	assert_string_equal(cap.reply.enh, "5.7.8");
	assert_int_equal(cap.rcpts[0].status, SMTP_CLIENT_DEFERRED);
	assert_string_equal(cap.diag,
	                    "SASL authentication failed; server relay.test[127.0.0.28] said: 535 5.7.8 "
	                    "Error: authentication failed");
	smtp_client_free(&conn);
	evbuffer_free(m.body);
	srv_free(&s);
}

static void test_timeouts(void **state)
{
	static const struct step silent[] = {SLEEP(1500), END()};
	static const struct step slow_rcpt[] = {
	    GREET_EHLO(""),
	    EXPECT("MAIL FROM:<a@x.test>"),
	    SEND("250 ok\r\n"),
	    EXPECT("RCPT TO:<b@y.test>"),
	    EOF_(),
	    END(),
	};
	struct srv *s = srv_start("127.0.0.29", silent);
	struct smtp_client_peer peer;
	peer_set(&peer, "mx.test", "127.0.0.29", s->port);
	struct smtp_client_options o = default_opts();
	o.command_timeout_msec = 300;
	struct smtp_client *conn = client_new(&peer, 1, &o);
	const char *rcpts[] = {"b@y.test"};
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, "x\r\n", 3);
	struct capture cap = {0};
	smtp_client_send(conn, &m, on_result, &cap);
	run_until(&cap.done, 5000);
	assert_int_equal(cap.failure, SMTP_CLIENT_FAIL_CONNECT);
	assert_string_equal(cap.diag,
	                    "conversation with mx.test[127.0.0.29] timed out while receiving the initial "
	                    "server greeting");
	smtp_client_free(&conn);
	srv_join(s);
	srv_free(&s);

	s = srv_start("127.0.0.29", slow_rcpt);
	peer_set(&peer, "mx.test", "127.0.0.29", s->port);
	conn = client_new(&peer, 1, &o);
	struct capture cap2 = {0};
	smtp_client_send(conn, &m, on_result, &cap2);
	run_until(&cap2.done, 5000);
	assert_int_equal(cap2.failure, SMTP_CLIENT_FAIL_LOST);
	assert_int_equal(cap2.rcpts[0].status, SMTP_CLIENT_DEFERRED);
	assert_string_equal(cap2.rcpts[0].diag,
	                    "conversation with mx.test[127.0.0.29] timed out while sending RCPT TO");
	assert_false(cap2.reusable);
	smtp_client_free(&conn);
	srv_join(s);
	evbuffer_free(m.body);
	srv_free(&s);
}

static void test_idle_close_and_stale_send(void **state)
{
	static const struct step steps[] = {
	    GREET_EHLO(""), DELIVER("MAIL FROM:<a@x.test>", "RCPT TO:<b@y.test>"),
	    SLEEP(100),     SEND("421 4.4.2 mx idle timeout\r\n"),
	    CLOSE(),        END(),
	};
	struct srv *s = srv_start("127.0.0.30", steps);
	struct smtp_client_peer peer;
	peer_set(&peer, "mx.test", "127.0.0.30", s->port);
	struct smtp_client_options o = default_opts();
	struct smtp_client *conn = client_new(&peer, 1, &o);
	struct closed_capture cc = {0};
	smtp_client_set_closed_cb(conn, on_closed, &cc);
	const char *rcpts[] = {"b@y.test"};
	struct smtp_client_msg m = msg_make("a@x.test", rcpts, 1, "x\r\n", 3);
	struct capture cap = {0};
	smtp_client_send(conn, &m, on_result, &cap);
	run_until(&cap.done, 5000);
	assert_true(cap.reusable);
	assert_int_equal(smtp_client_transactions(conn), 1);
	run_until(&cc.done, 5000);
	srv_join(s);
	assert_int_equal(cc.calls, 1);
	assert_contains(cc.reason, "421 4.4.2 mx idle timeout");
	assert_false(smtp_client_is_reusable(conn));

	/* a message given to the dead connection fails at once, marked stale so it can be retried */
	struct capture cap2 = {0};
	smtp_client_send(conn, &m, on_result, &cap2);
	assert_int_equal(cap2.calls, 0);
	run_until(&cap2.done, 5000);
	assert_int_equal(cap2.failure, SMTP_CLIENT_FAIL_LOST);
	assert_int_equal(cap2.rcpts[0].status, SMTP_CLIENT_DEFERRED);
	assert_true(cap2.conn_stale);
	assert_int_equal(cc.calls, 1);
	smtp_client_free(&conn);
	evbuffer_free(m.body);
	srv_free(&s);
}

static void test_idle_timeout_quits(void **state)
{
	static const struct step steps[] = {GREET_EHLO(""), QUIT_END()};
	struct srv *s = srv_start("127.0.0.34", steps);
	struct smtp_client_peer peer;
	peer_set(&peer, "mx.test", "127.0.0.34", s->port);
	struct smtp_client_options o = default_opts();
	o.idle_timeout_msec = 200;
	struct smtp_client *conn = client_new(&peer, 1, &o);
	struct closed_capture cc = {.free_it = true, .connp = &conn};
	smtp_client_set_closed_cb(conn, on_closed, &cc);
	run_until(&cc.done, 5000);
	srv_join(s);
	assert_null(conn);
	assert_string_equal(cc.reason, "idle connection closed");
	srv_free(&s);
}

/* --- against sinkmx.py ----------------------------------------------------------------------------- */

struct sink {
	pid_t pid;
	char ip[32];
	int port;
	char store[160];
};

/* Start sinkmx.py on ip with the extra arguments (NULL-terminated). */
static void sink_start(struct sink *k, const char *ip, const char *const *extra)
{
	const char *argv[40];
	char listen[64];
	int n = 0;
	snprintf(listen, sizeof(listen), "%s:0", ip);
	snprintf(k->store, sizeof(k->store), "%s/store-%s", tmpdir, ip);
	str_copy(k->ip, sizeof(k->ip), ip);
	argv[n++] = PYTHON;
	argv[n++] = sink_script;
	argv[n++] = "--listen";
	argv[n++] = listen;
	argv[n++] = "--store";
	argv[n++] = k->store;
	while (*extra != NULL && n < 38)
		argv[n++] = *extra++;
	argv[n] = NULL;
	int out[2];
	assert_int_equal(pipe(out), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(out[1], STDOUT_FILENO);
		close(out[0]);
		close(out[1]);
		setenv("PYTHONDONTWRITEBYTECODE", "1", 1);
		execv(PYTHON, (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	k->pid = pid;
	char line[128];
	size_t len = 0;
	int64_t deadline = time_mono_msec() + 20000;
	while (len < sizeof(line) - 1 && (len == 0 || line[len - 1] != '\n')) {
		struct pollfd p = {.fd = out[0], .events = POLLIN};
		int64_t left = deadline - time_mono_msec();
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		ssize_t r = read(out[0], line + len, sizeof(line) - 1 - len);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(out[0]);
	line[len] = '\0';
	char want[48];
	snprintf(want, sizeof(want), "READY %s:%%d", ip);
	if (sscanf(line, want, &k->port) != 1)
		fail_msg("sinkmx.py did not start (said \"%s\"): it needs %s with python3-aiosmtpd", line,
		         PYTHON);
}

static void sink_stop(struct sink *k)
{
	kill(k->pid, SIGTERM);
	waitpid(k->pid, NULL, 0);
}

/* The one message file in the sink's store (caller frees). */
static char *sink_message(struct sink *k)
{
	DIR *d = opendir(k->store);
	assert_non_null(d);
	struct dirent *e;
	char path[512] = "";
	while ((e = readdir(d)) != NULL)
		if (strstr(e->d_name, ".msg") != NULL && e->d_name[0] != '.')
			snprintf(path, sizeof(path), "%s/%s", k->store, e->d_name);
	closedir(d);
	assert_true(path[0] != '\0');
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char *buf = xcalloc(1, 65536);
	size_t n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void sink_deliver(const char *ip, const char *mech)
{
	const char *extra[] = {"--tls-cert",        cert_file, "--tls-key",       key_file,
	                       "--auth-user",       "user",    "--auth-password", "pass word",
	                       "--auth-mechanisms", mech,      "--require-auth",  NULL};
	struct sink k;
	long off = log_offset();
	sink_start(&k, ip, extra);
	struct smtp_client_peer peer;
	peer_set(&peer, "mx.test", ip, k.port);
	struct smtp_client_options o = default_opts();
	o.tls_level = SMTP_CLIENT_TLS_VERIFY;
	o.tls_ca_file = ca_file;
	o.auth_username = "user";
	o.auth_password = "pass word";
	struct smtp_client *conn = client_new(&peer, 1, &o);
	const char *rcpts[] = {"b@y.test", "c@y.test"};
	static const char body[] = "Subject: t\n\n.x\n";
	struct smtp_client_msg m = msg_make("", rcpts, 2, body, sizeof(body) - 1);
	struct capture cap = {0};
	send_and_quit(&conn, &m, &cap);
	sink_stop(&k);
	if (cap.nsent != 2)
		fail_msg("%s: %s / %s", mech, cap.diag, cap.rcpts[0].diag);
	char *text = sink_message(&k);
	assert_contains(text, "\"mail_from\": \"\"");
	assert_contains(text, "\"rcpt_tos\": [\"b@y.test\", \"c@y.test\"]");
	assert_contains(text, "\"tls\": true");
	assert_contains(text, "\"auth_user\": \"user\"");
	assert_contains(text, "}\nSubject: t\r\n\r\n.x\r\n");
	free(text);
	char *log = log_since(off);
	assert_not_contains(log, "pass word");
	free(log);
	evbuffer_free(m.body);
}

static void test_sinkmx_auth_cram_md5_and_login(void **state)
{
	sink_deliver("127.0.0.31", "CRAM-MD5");
	sink_deliver("127.0.0.32", "LOGIN");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_plain_delivery, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pipelining_mixed_rcpts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_body_transparency_and_reuse, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_data_tempfail_then_rset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drop_mid_data, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failover_refused_and_421, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_all_candidates_fail, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_helo_fallback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_size_and_smtputf8_refused_locally, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_starttls_may_untrusted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_starttls_may_falls_back_to_plaintext, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_starttls_encrypt_not_offered, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_starttls_verify, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_auth_plain_over_tls, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_auth_refused_over_plaintext, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_auth_rejected_535, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeouts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_idle_close_and_stale_send, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_idle_timeout_quits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sinkmx_auth_cram_md5_and_login, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
