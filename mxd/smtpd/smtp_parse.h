/*
 * smtp_parse: syntax of what an SMTP client sends outside DATA: command lines, reverse and forward
 * paths (RFC 5321 4.1.2), and MAIL/RCPT parameters (SIZE, BODY, SMTPUTF8, RET, ENVID, AUTH, NOTIFY,
 * ORCPT). No I/O, no policy: it says what was sent and whether it is well-formed; the session decides.
 *
 * Every failure carries the reply to send (code, enhanced status code, text) in struct smtp_parse_error.
 * Addresses with CR, LF, NUL or anything else RFC 5321's grammar refuses are refused; every character
 * that grammar allows is taken (mxd runs no shell: "|&$`{}" are legal atext, as in
 * ~jack&jill=up-a_b3.c@e8.example.com);
 * source routes, '%' and '!' in a local part, quoted local parts hiding an '@', and address literals
 * are reported as flags so that the session can refuse them in RCPT (no relay tricks); so is a domain
 * of one label, which the session takes only from trusted clients (Postfix's reject_non_fqdn_sender
 * after permit_mynetworks).
 * Pure functions; thread-safe; no allocation (results live in caller-provided structs).
 */
#ifndef MXD_SMTP_PARSE_H
#define MXD_SMTP_PARSE_H

#include "mxd/common/addr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SMTP_LINE_MAX 512 /* command line, CRLF included (RFC 5321 4.5.3.1.4) */

enum smtp_verb {
	SMTP_VERB_UNKNOWN,
	SMTP_VERB_HELO,
	SMTP_VERB_EHLO,
	SMTP_VERB_MAIL,
	SMTP_VERB_RCPT,
	SMTP_VERB_DATA,
	SMTP_VERB_BDAT,
	SMTP_VERB_RSET,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_VRFY,
	SMTP_VERB_EXPN,
	SMTP_VERB_HELP,
	SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH,
	SMTP_VERB_ETRN,
};

struct smtp_parse_error {
	int code;        /* 500, 501, 553, 555 ... */
	const char *enh; /* "5.5.2" */
	const char *text;
};

struct smtp_command {
	enum smtp_verb verb;
	char name[16];   /* the verb as sent, upper-cased (for logs of unknown commands) */
	const char *arg; /* points into the line after the verb and one space; "" when none or only spaces */
	size_t arg_len;  /* length of arg without its trailing spaces */
};

/* Parse one command line (without CRLF; len excludes it, and line[len] must be '\0' so that arg is a
 * C string: the session's copy of the line is). Lines longer than SMTP_LINE_MAX - 2 give 500 5.5.2.
 * Refuses NUL, CR or LF anywhere, and control or 8-bit octets in the verb. An unknown verb is not an
 * error: 0 with verb SMTP_VERB_UNKNOWN. 0, or -1 with *err. cmd->arg points into line. */
int smtp_parse_command(const char *line, size_t len, struct smtp_command *cmd, struct smtp_parse_error *err);

enum smtp_path_flags {
	SMTP_PATH_SOURCE_ROUTE = 1 << 0,     /* "<@a,@b:user@c>" */
	SMTP_PATH_PERCENT_HACK = 1 << 1,     /* '%' in the local part */
	SMTP_PATH_BANG_PATH = 1 << 2,        /* '!' in the local part */
	SMTP_PATH_QUOTED_AT = 1 << 3,        /* quoted local part holding '@' */
	SMTP_PATH_ADDRESS_LITERAL = 1 << 4,  /* domain is "[1.2.3.4]" or "[IPv6:...]" */
	SMTP_PATH_QUOTED = 1 << 5,           /* local part was a quoted string */
	SMTP_PATH_UTF8 = 1 << 6,             /* octets >= 0x80 present (needs SMTPUTF8) */
	SMTP_PATH_NON_FQDN = 1 << 7,         /* the domain has a single label ("root@host") */
	SMTP_PATH_MALFORMED_DOMAIN = 1 << 8, /* MAIL only: a label over 63 octets (see malformed) */
};

struct smtp_path {
	bool null_path;                 /* "<>" */
	char local[ADDR_LOCAL_MAX + 3]; /* as sent (quotes kept when quoted) */
	char domain[ADDR_DOMAIN_MAX + 1];
	char address[ADDR_PATH_MAX + 1]; /* "local@domain" with the domain lower-cased; "" for <> */
	unsigned flags;
	const char *malformed; /* SMTP_PATH_MALFORMED_DOMAIN: what is wrong with the domain (static) */
};

/* Parse "FROM:<path> params" (MAIL) or "TO:<path> params" (RCPT): arg is smtp_command.arg, keyword is
 * "FROM:" or "TO:" (either case). One space after the keyword is tolerated ("MAIL FROM: <a@b>"); the
 * angle brackets are required. Accepts "<>" only for MAIL, the bare "<Postmaster>" (any case) only for
 * RCPT, giving address "postmaster" and an empty domain. A source route is checked, flagged and dropped.
 * A MAIL domain whose only fault is a label over 63 octets is flagged SMTP_PATH_MALFORMED_DOMAIN
 * rather than refused (refusing it is policy: strict_sender_domain_syntax).
 * A quoted local part is stored unquoted when its content is a plain dot-string, else as sent.
 * Enforces the RFC 5321 limits (local 64, domain 255, path 256 with its brackets) and well-formed
 * UTF-8. On success *params_r points at the parameters ("" when none). 0, or -1 with *err:
 * 501 5.5.4 without the keyword or the brackets; 501 5.1.7 (MAIL) or 5.1.3 (RCPT) for bad syntax and
 * excess length. */
int smtp_parse_path(const char *arg, const char *keyword, struct smtp_path *path, const char **params_r,
                    struct smtp_parse_error *err);

struct smtp_mail_params {
	bool has_size;
	uint64_t size;
	bool body_8bitmime;
	bool smtputf8;
	int ret;         /* 0 none, 1 FULL, 2 HDRS */
	char envid[101]; /* as sent (xtext, at most 100 octets); "" when not sent */
	bool has_auth;
	char auth[ADDR_PATH_MAX + 1]; /* xtext-decoded; "<>" when so sent */
};

struct smtp_rcpt_params {
	unsigned notify;                /* bit 0 NEVER, 1 SUCCESS, 2 FAILURE, 3 DELAY; 0 when not sent */
	char orcpt[ADDR_PATH_MAX + 32]; /* as sent: "addr-type;xtext"; "" when not sent */
};

/* Parse MAIL parameters: "KEY=VALUE" words. Unknown or repeated keys, bad values and control
 * characters give 555 5.5.4; parameters needing an extension not announced (smtputf8_ok false)
 * give 555 5.5.4 too. 0 or -1 with *err. */
int smtp_parse_mail_params(const char *params, bool smtputf8_ok, struct smtp_mail_params *out,
                           struct smtp_parse_error *err);
int smtp_parse_rcpt_params(const char *params, struct smtp_rcpt_params *out, struct smtp_parse_error *err);

/* HELO/EHLO argument, as reject_invalid_helo_hostname checks it: a host name (LDH labels, '_' and UTF-8
 * tolerated, single labels and a final dot allowed: whether to demand a FQDN is policy) or an address
 * literal, no control characters or spaces; trailing spaces are ignored. 0, or -1 with *err (501 5.5.4). */
int smtp_parse_helo(const char *arg, struct smtp_parse_error *err);

#endif
