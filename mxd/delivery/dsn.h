/*
 * dsn: composes delivery status notifications (bounces and delay warnings) as complete messages:
 * multipart/report (RFC 6522, formerly RFC 3462) with report-type=delivery-status (RFC 3464), in three
 * parts: a human-readable text/plain note in Postfix's words, the machine-readable message/delivery-status,
 * and the original message's header section as text/rfc822-headers (never its body). The queue manager
 * enqueues the result as a new message from the null sender to the original sender.
 *
 * A pure function of its input: no I/O, no global state, thread-safe. The only outside inputs are the
 * clock and a random boundary part, and both can be fixed through the report (tests do).
 *
 * UNTRUSTED INPUT: remote replies, addresses, remote host names and the original headers come from other
 * parties. Every value put into a header line or a delivery-status field is cleaned first: CR, LF, NUL and
 * the other control characters (C0, DEL, C1) become a space, runs of spaces collapse, invalid UTF-8
 * becomes '?', values are capped in length and folded so that no line reaches 998 octets. So no value
 * can end a field, start a header, or place a MIME boundary line. The original header section is copied
 * as it is, up to its end, except that NUL and stray CR become a space, lines longer than 990 octets are
 * broken (as folded continuations) and it is cut at a field boundary past 102400 octets (Postfix's
 * header_size_limit). The boundary is chosen so that it occurs in none of the three parts.
 *
 * Output lines all end in CRLF. The delivery-status part is 7-bit ASCII: a non-ASCII address is written
 * with the "utf-8" address type of RFC 6533 in its 7-bit xtext form (J\x{F6}rg@example.org), and other
 * non-ASCII text becomes '?'. The text part keeps UTF-8 (charset=utf-8), and the headers part carries
 * 8-bit octets when the original did; *eightbit_r then tells the caller to send with BODY=8BITMIME.
 * Dates are RFC 5322 dates in UTC ("+0000"), in English whatever the locale.
 */
#ifndef MXD_DSN_H
#define MXD_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;

/* The notification as a whole: a bounce, or a warning that delivery is still being retried. */
enum dsn_kind {
	DSN_KIND_FAILURE, /* Subject: Undelivered Mail Returned to Sender */
	DSN_KIND_DELAY,   /* Subject: Delayed Mail (still being retried) */
};

/* The Action field of one recipient (RFC 3464 2.3.3). */
enum dsn_action {
	DSN_ACTION_FAILED,
	DSN_ACTION_DELAYED,
};

/* Whose words the diagnostic is: the Diagnostic-Code type (RFC 3464 2.3.6). */
enum dsn_diag_type {
	DSN_DIAG_SMTP,  /* a reply from the remote SMTP server: "smtp; 550 5.1.1 ..." */
	DSN_DIAG_LOCAL, /* our own text ("mail for x loops back to myself"): "X-mxd; ..." */
};

/* One recipient reported on. Addresses are in the queue's internal (unquoted) form; a local part that
 * is not a dot-atom is quoted on output. Times are seconds since the epoch; 0 leaves the field out. */
struct dsn_rcpt {
	const char *final_rcpt; /* the address tried (required) */
	const char *orig_rcpt;  /* the alias address it was expanded from, or NULL */
	enum dsn_action action;
	const char *status;     /* enhanced status code "5.1.1"; NULL or malformed: 5.0.0 / 4.0.0 by action */
	const char *remote_mta; /* host name of the server that answered, or NULL */
	enum dsn_diag_type diag_type;
	const char *diagnostic; /* the reply text or our own text, or NULL */
	int64_t last_attempt;   /* Last-Attempt-Date */
	int64_t retry_until;    /* Will-Retry-Until (written for DSN_ACTION_DELAYED only) */
};

/* Everything a notification is made of. The report and the strings it points to stay the caller's. */
struct dsn_report {
	enum dsn_kind kind;
	const char *myhostname; /* reporting MTA (required) */
	const char *queue_id;   /* queue id of the original message (required) */
	const char *sender;     /* the original envelope sender: the notification's recipient (not "") */
	int64_t arrival_time;   /* when the original arrived; 0 leaves Arrival-Date out */
	const char *message;    /* the whole original message (header section and body), or NULL */
	size_t message_len;
	const struct dsn_rcpt *rcpts;
	size_t rcpt_count; /* at least 1 */
	int64_t now;       /* Date: and the Message-ID; 0 means time_now() */
	uint64_t nonce;    /* randomness for the boundary and Message-ID; 0 means getrandom() */
};

/* Append the complete notification message (header and body, CRLF line ends, no SMTP dot-stuffing) to
 * out. *eightbit_r (when not NULL) is set when the message holds octets above 127, so it must be sent
 * with BODY=8BITMIME (and with SMTPUTF8 when the sender address itself is not ASCII). Returns 0, or -1
 * with *error_r set (a static string) when a required field is missing or the sender is the null
 * sender; out is then left unchanged. */
int dsn_compose(const struct dsn_report *report, struct evbuffer *out, bool *eightbit_r,
                const char **error_r);

/* Whether a notification may be sent to sender at all. False for the null sender ("" or "<>", and NULL),
 * and for a MAILER-DAEMON sender (local part "mailer-daemon", "mailer_daemon" or "mailerdaemon", any
 * case, with or without a domain): notifications come from the null sender, and some systems use
 * MAILER-DAEMON@host instead, so replying to either could start a bounce loop (RFC 5321 4.5.5, RFC 3834).
 * Postmaster and every other address get notifications as usual. */
bool dsn_should_send(const char *sender);

#endif
