/*
 * smtp_reply: a reply from a remote SMTP server (RFC 5321 4.2), read one line at a time: its code, its
 * enhanced status code (RFC 3463), its text, and for the reply to EHLO the extensions it announces.
 *
 * PURE PARSING: no I/O, no allocation, no logging; it runs in the caller's thread (the outbound client's
 * event loop). The caller cuts the stream into lines at CRLF and hands each line, without its CRLF, to
 * smtp_reply_line(). A struct smtp_reply holds the reply being read and, once smtp_reply_line() says it
 * is complete, that reply until the first line of the next one.
 *
 * UNTRUSTED INPUT: every octet. A line is three digits (the first 2 to 5), then nothing, ' ' (the last
 * line) or '-' (more lines follow), then text; at most SMTP_REPLY_LINE_MAX octets. Every line of one
 * reply carries the same code, and a reply has at most SMTP_REPLY_LINES_MAX lines. Anything else is
 * malformed: the caller drops the connection. The enhanced code is taken from the first line when its
 * class is the code's ("550 4.1.1 x" has none, and "4.1.1 x" stays text); when the server gave none,
 * "<class>.0.0" is derived from the code. A later line that repeats the first line's enhanced code has
 * it removed. The text holds printable ASCII only (a tab becomes a space, any other control octet, DEL
 * or octet >= 0x80 becomes '?'), the lines joined by one space, cut at SMTP_CLIENT_TEXT_MAX - 1 octets.
 *
 * The complete reply is the client's struct smtp_client_reply (smtp_client.h): the form that delivery
 * results carry. Return values: see smtp_reply_line().
 */
#ifndef MXD_SMTP_REPLY_H
#define MXD_SMTP_REPLY_H

#include "mxd/delivery/smtp_client.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SMTP_REPLY_LINE_MAX  4096                        /* longest reply line accepted, CRLF not included */
#define SMTP_REPLY_LINES_MAX 1000                        /* most lines in one reply */
#define SMTP_REPLY_STR_MAX   (SMTP_CLIENT_TEXT_MAX + 32) /* room for smtp_reply_str(), NUL included */

/* EHLO keywords understood (RFC 2920, 1870, 3207, 6152, 6531, 2034, 4954). */
enum smtp_reply_ext {
	SMTP_REPLY_EXT_PIPELINING = 1 << 0,
	SMTP_REPLY_EXT_SIZE = 1 << 1,
	SMTP_REPLY_EXT_STARTTLS = 1 << 2,
	SMTP_REPLY_EXT_8BITMIME = 1 << 3,
	SMTP_REPLY_EXT_SMTPUTF8 = 1 << 4,
	SMTP_REPLY_EXT_ENHANCEDSTATUSCODES = 1 << 5,
	SMTP_REPLY_EXT_AUTH = 1 << 6,
};

/* SASL mechanisms understood in "AUTH ..." (and the old "AUTH=..."). */
enum smtp_reply_auth {
	SMTP_REPLY_AUTH_LOGIN = 1 << 0,
	SMTP_REPLY_AUTH_PLAIN = 1 << 1,
	SMTP_REPLY_AUTH_CRAM_MD5 = 1 << 2,
};

/* What a reply to EHLO announced. Zero it (memset) before the EHLO reply is read. */
struct smtp_reply_ehlo {
	unsigned exts;       /* enum smtp_reply_ext bits */
	unsigned auth_mechs; /* enum smtp_reply_auth bits */
	uint64_t size_limit; /* "SIZE n"; 0 when no number (or no valid one) was given */
};

struct smtp_reply {
	struct smtp_client_reply r; /* code, enh (given or derived once complete), text */
	bool enh_given;             /* the server sent the enhanced code (else it was derived) */
	bool more;                  /* a '-' line was read: the reply goes on */
	unsigned lines;             /* lines of the reply read so far */
	size_t text_len;            /* strlen(r.text) */
};

/* Read one line (without its CRLF) of a reply. The first line after a complete reply (or after
 * memset to 0, or more set to false to abandon a partial reply) starts a new reply. When ehlo is not
 * NULL the reply answers EHLO: the lines after the first of a 250 reply are read as extension keywords
 * into *ehlo. Returns 1 when the reply is complete (r holds it), 0 when more lines follow, -1 when the
 * line is malformed (*error_r says why; r is then left partial, to be abandoned with the connection). */
int smtp_reply_line(struct smtp_reply *r, const char *line, size_t len, struct smtp_reply_ehlo *ehlo,
                    const char **error_r);

/* Whether a partial line of len octets (buffered, no LF yet) is already longer than any line accepted:
 * its last octet may be the CR of the CRLF to come. The reader drops the connection when it is. */
bool smtp_reply_partial_too_long(size_t len);

/* Record one EHLO keyword line ("SIZE 1000", "auth=plain LOGIN", ...) into *ehlo. Keywords are matched
 * without regard to case; unknown keywords and mechanisms are ignored. */
void smtp_reply_ehlo_keyword(struct smtp_reply_ehlo *ehlo, const char *text, size_t len);

/* Length of an enhanced status code of class code / 100 at the start of t[0..len): "c.sss.ddd" with
 * 1-3 digits in each of the last two fields, followed by a space or the end; 0 when there is none. */
size_t smtp_reply_enh_len(const char *t, size_t len, int code);

/* "550 5.1.1 text" (the enhanced code only when the server gave it), always NUL-terminated in buf;
 * SMTP_REPLY_STR_MAX octets hold any reply. */
void smtp_reply_str(const struct smtp_reply *r, char *buf, size_t size);

#endif
