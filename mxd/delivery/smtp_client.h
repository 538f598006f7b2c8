/*
 * smtp_client: ONE outbound SMTP connection (RFC 5321 with PIPELINING, SIZE, 8BITMIME, SMTPUTF8,
 * ENHANCEDSTATUSCODES, STARTTLS and AUTH PLAIN/LOGIN/CRAM-MD5), driven by an explicit state machine
 * on libevent bufferevents.
 *
 * CONNECTING: smtp_client_new() is given the candidate addresses in the order to try them (the caller
 * resolved them: MX hosts by preference, or the relay host) and starts at once. A candidate is given up
 * and the next one tried on: connect failure or timeout, a greeting other than 220 (421, 4xx, 5xx),
 * EHLO and HELO refused, STARTTLS missing or failing when tls_level is encrypt or verify (for "may", a
 * failed handshake is retried once with the same address in plaintext), a certificate that does not
 * chain to the CA or match the name (verify), and AUTH trouble (refused over plaintext or over TLS
 * whose certificate did not verify for the peer's name, not offered, rejected). The certificate is
 * checked at every TLS level: below verify a failure only marks the connection unverified ("Untrusted"
 * in the log), and then credentials are not sent unless auth_allow_unverified_tls. When every candidate
 * failed, the last error is reported, always as a temporary failure: a 5xx greeting from every server is
 * still DEFERRED; the caller decides what to do about it.
 *
 * SENDING: smtp_client_send() may be called as soon as the connection exists: the message waits until
 * the connection is READY. MAIL, every RCPT and DATA go out in one write when the server offers
 * PIPELINING (RFC 2920), one at a time otherwise. The body is streamed from the caller's evbuffer with
 * dot-stuffing and every line end (CRLF, bare LF, bare CR) sent as CRLF, and ends with CRLF.CRLF.
 * After the result, a connection that is still smtp_client_is_reusable() takes the next message
 * (RSET is sent only after a transaction that failed half-way).
 *
 * THREADS: everything runs in the thread of the event_base given to smtp_client_new().
 *
 * CALLBACKS run from the event loop, never synchronously inside the call that caused them. A callback
 * may call any function of this module on its connection, smtp_client_free() and smtp_client_quit()
 * included. Once smtp_client_free() or smtp_client_quit() has been called, no callback runs again.
 *
 * OWNERSHIP: smtp_client_new() copies the peers and the options (an SSL_CTX given in the options is
 * referenced, not copied). smtp_client_send() copies the message fields except the body, an evbuffer
 * that the caller keeps alive and unchanged until the callback (it is only read, never drained). The
 * result given to the callback is valid during the call only.
 *
 * LOGS: only connection-level events, Postfix-style, under the service name "smtp" ("connect to
 * mx[1.2.3.4]:25: Connection refused", "host mx[1.2.3.4] said: 421 ... (in reply to end of DATA
 * command)", TLS established); the per-recipient status lines are the caller's. The password and the
 * AUTH exchanges are never logged; debug lines show "AUTH PLAIN" only.
 */
#ifndef MXD_SMTP_CLIENT_H
#define MXD_SMTP_CLIENT_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct evbuffer;
struct smtp_client;

#define SMTP_CLIENT_TEXT_MAX  512  /* reply text kept, NUL included */
#define SMTP_CLIENT_DIAG_MAX  1024 /* diagnostic text, NUL included */
#define SMTP_CLIENT_RELAY_MAX 320  /* "hostname[address]:port", NUL included */

enum smtp_client_tls_level {
	SMTP_CLIENT_TLS_NONE,    /* never STARTTLS */
	SMTP_CLIENT_TLS_MAY,     /* STARTTLS when offered, certificate not checked */
	SMTP_CLIENT_TLS_ENCRYPT, /* STARTTLS required, certificate not checked */
	SMTP_CLIENT_TLS_VERIFY,  /* STARTTLS required, certificate chains to the CA and matches the name */
};

/* One candidate address. hostname is the MX host (or relay host) name used in logs, for SNI and as the
 * name to verify; NULL means the address itself. The caller sets the port in addr. */
struct smtp_client_peer {
	const char *hostname;
	struct sockaddr_storage addr;
	socklen_t len;
};

struct smtp_client_options {
	const char *helo_name; /* smtp_helo_name */
	enum smtp_client_tls_level tls_level;
	SSL_CTX *tls_ctx;              /* from smtp_client_tls_ctx_new(), shared by connections; NULL: one
	                                  is made from tls_ca_file for this connection */
	const char *tls_ca_file;       /* NULL or "": the system's default CA store */
	const char *tls_verify_name;   /* name the certificate must match; NULL: each peer's hostname */
	unsigned connect_timeout_msec; /* TCP connect */
	unsigned command_timeout_msec; /* each reply: greeting, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA, ... */
	unsigned data_timeout_msec;    /* each part of the body written, and the reply to the final dot */
	unsigned idle_timeout_msec;    /* READY without a message this long: QUIT and close; 0: never */
	const char *auth_username;     /* NULL: no AUTH */
	const char *auth_password;
	bool auth_allow_plaintext; /* AUTH without TLS; otherwise such a peer fails without the secret */
	/* AUTH over TLS whose certificate was not verified for the peer's name (a warning is logged
	 * each time); otherwise such a peer fails without the secret. auth_allow_plaintext implies it. */
	bool auth_allow_unverified_tls;
};

/* A message to send. The strings are copied; body is the caller's until the callback. */
struct smtp_client_msg {
	const char *id;     /* queue id, for logs */
	const char *sender; /* "" for the null sender */
	const char *const *rcpts;
	size_t nrcpt;
	struct evbuffer *body; /* the message as stored, any line ends; read, never drained */
	uint64_t size;         /* for MAIL SIZE= and the server's limit; 0: the body's length */
	bool smtputf8;         /* needs SMTPUTF8: without it at the server, the message bounces (5.6.7) */
	bool eightbit;         /* 8-bit content: BODY=8BITMIME when the server offers it */
};

enum smtp_client_status {
	SMTP_CLIENT_SENT,
	SMTP_CLIENT_DEFERRED,
	SMTP_CLIENT_BOUNCED,
};

/* Where a message failed as a whole; SMTP_CLIENT_OK means each recipient has its own result. */
enum smtp_client_failure {
	SMTP_CLIENT_OK = 0,
	SMTP_CLIENT_FAIL_CONNECT, /* no candidate got as far as READY: connect, greeting, EHLO/HELO */
	SMTP_CLIENT_FAIL_TLS,     /* the last candidate failed at STARTTLS or certificate verification */
	SMTP_CLIENT_FAIL_AUTH,    /* the last candidate failed at AUTH: reply.code 535 (5xx) means the
	                             credentials were rejected; 0 means refused locally (plaintext,
	                             unverified TLS: 4.7.5) */
	SMTP_CLIENT_FAIL_LOCAL,   /* refused before sending: over the server's SIZE, SMTPUTF8 missing,
	                             invalid sender (BOUNCED), or a message with no valid recipient */
	SMTP_CLIENT_FAIL_MAIL,    /* MAIL FROM rejected: 4xx DEFERRED, 5xx BOUNCED */
	SMTP_CLIENT_FAIL_DATA,    /* DATA or end of DATA rejected, for the recipients that were accepted */
	SMTP_CLIENT_FAIL_LOST,    /* connection lost, timed out, or 421 during the transaction: DEFERRED */
};

/* An SMTP reply, sanitized: printable ASCII only, lines of a multi-line reply joined by a space. code
 * 0 means no reply from the server (a local or network error); enh is then set by the client. enh is
 * the server's enhanced status code, or x.0.0 derived from code when it gave none. */
struct smtp_client_reply {
	int code;
	char enh[16];
	char text[SMTP_CLIENT_TEXT_MAX]; /* without the code and enhanced code */
};

struct smtp_client_rcpt_result {
	const char *address;
	enum smtp_client_status status;
	struct smtp_client_reply reply;
	/* Postfix's status explanation: "250 2.0.0 Ok: queued as X" when SENT, otherwise e.g. "host
	 * mx.gmail.test[127.0.0.5] said: 550 5.1.1 no such user (in reply to RCPT TO command)" */
	char diag[SMTP_CLIENT_DIAG_MAX];
};

struct smtp_client_result {
	const char *id;
	enum smtp_client_failure failure;
	struct smtp_client_reply reply;    /* the reply (or local error) that decided the failure; for
	                                      SMTP_CLIENT_OK the reply to the end of DATA (code 0 if none) */
	char diag[SMTP_CLIENT_DIAG_MAX];   /* the failure's explanation ("" for SMTP_CLIENT_OK) */
	char relay[SMTP_CLIENT_RELAY_MAX]; /* Postfix's relay=: "host[address]:port", "none" */
	bool tls;                          /* the message went over TLS */
	bool reused;                       /* the connection had carried a transaction before */
	/* Set when the connection had been used before and failed before the server answered MAIL
	 * (an idle connection the server had dropped): nothing was delivered or refused, so the caller
	 * may retry at once on a new connection without counting an attempt. */
	bool conn_stale;
	int64_t conn_msec; /* connect, greeting, EHLO, TLS, AUTH (Postfix's delays "c"); 0 when reused */
	int64_t xmit_msec; /* MAIL to the last reply (delays "d") */
	size_t nsent, ndeferred, nbounced;
	size_t nrcpt; /* as given, in the same order */
	struct smtp_client_rcpt_result *rcpts;
};

/* Runs once per smtp_client_send(). After it, keep the connection only when
 * smtp_client_is_reusable(); otherwise free it (or quit). */
typedef void smtp_client_send_cb(struct smtp_client *conn, const struct smtp_client_result *result,
                                 void *ctx);

/* Runs when the connection ends while no message is being sent: an idle connection closed or timed
 * out, or all candidates failed before any message was given. The owner drops it from its pool and
 * frees it (inside the callback is fine). reason is valid during the call only. */
typedef void smtp_client_closed_cb(struct smtp_client *conn, const char *reason, void *ctx);

/* A client TLS context (TLS 1.2 or newer) trusting ca_file (NULL or "": the system's default store),
 * to share between connections through smtp_client_options.tls_ctx. 0, or -1 with *error_r (static
 * storage, valid until the next call in this thread). */
int smtp_client_tls_ctx_new(const char *ca_file, SSL_CTX **ctx_r, const char **error_r);

/* "none", "may", "encrypt", "verify" (Postfix's smtp_tls_security_level; "secure" is taken as verify).
 * 0 or -1. */
int smtp_client_tls_level_parse(const char *text, enum smtp_client_tls_level *level_r);

/* Start connecting to peers[0], then the next ones as each fails. 0 with *conn_r set, or -1 with
 * *error_r (static storage) when npeer is 0 or the TLS context cannot be made. */
int smtp_client_new(struct event_base *base, const struct smtp_client_peer *peers, size_t npeer,
                    const struct smtp_client_options *opts, struct smtp_client **conn_r,
                    const char **error_r);

void smtp_client_set_closed_cb(struct smtp_client *conn, smtp_client_closed_cb *cb, void *ctx);

/* Send msg; cb(conn, result, ctx) follows exactly once. Allowed whenever no message is in progress
 * (asserted): while connecting the message waits for READY; on a closed connection it fails with the
 * error that closed it (DEFERRED). */
void smtp_client_send(struct smtp_client *conn, const struct smtp_client_msg *msg, smtp_client_send_cb *cb,
                      void *ctx);

/* True when a new message can be sent at once: connected, greeted, no message in progress, and the
 * server has not said it is closing. */
bool smtp_client_is_reusable(const struct smtp_client *conn);

/* The peer in use ("host[address]:port"), or the last one tried; "none" before any. */
const char *smtp_client_relay(const struct smtp_client *conn);

/* Transactions completed on this connection (for smtp_connection_reuse_count). */
unsigned smtp_client_transactions(const struct smtp_client *conn);

/* Say QUIT when idle (READY, or an RSET in progress), wait briefly for the reply, close and free; close
 * and free at once otherwise (a message in progress is dropped without its callback). Clears *conn; no
 * callback runs after this. */
void smtp_client_quit(struct smtp_client **conn);

/* Free every connection still saying QUIT after smtp_client_quit() (at shutdown, before the event
 * base goes). */
void smtp_client_free_quitting(void);

/* Close and free now, without QUIT or callbacks. Clears *conn; NULL is allowed. */
void smtp_client_free(struct smtp_client **conn);

/* "sent", "deferred", "bounced" (Postfix's status=). */
const char *smtp_client_status_str(enum smtp_client_status status);

#endif
