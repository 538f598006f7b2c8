/*
 * smtp_data: the DATA stream parser. Turns the octets a client sends after 354 into message content,
 * one chunk at a time with bounded memory.
 *
 * It removes dot-stuffing, ends the message only at CRLF "." CRLF, and never takes a bare LF or bare CR
 * as a line end: a message containing either is consumed to its real end and then refused (the SMTP
 * smuggling class, CVE-2023-51764/5/6; as Postfix's smtpd_forbid_bare_newline). It counts octets against
 * the size limit (content beyond it is dropped, not stored) and counts Received: headers in the header
 * section (hop count, mail loops). Output lines always end in CRLF. Single-threaded; one per session.
 */
#ifndef MXD_SMTP_DATA_H
#define MXD_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;

enum smtp_data_status {
	SMTP_DATA_MORE, /* all input consumed; more expected */
	SMTP_DATA_DONE, /* end of data seen; *consumed_r tells how much of the input belonged to it */
};

enum smtp_data_error {
	SMTP_DATA_OK = 0,
	SMTP_DATA_TOO_BIG,      /* content exceeded the size limit: 552 5.3.4 */
	SMTP_DATA_BARE_NEWLINE, /* a bare CR or LF: 550 5.5.2 */
	SMTP_DATA_NUL,          /* a NUL octet: 550 5.6.0 */
};

struct smtp_data {
	uint64_t size_limit;
	uint64_t size;           /* content octets after unstuffing, CRLFs included */
	unsigned received_count; /* Received: header fields in the header section */
	bool in_headers;
	bool eightbit;              /* an octet >= 0x80 was seen */
	enum smtp_data_error error; /* the first error seen; content stops being stored after it */
	/* parser state (private) */
	int state;
	unsigned line_len;
	char prefix[10];
	unsigned prefix_len;
};

/* Prepare d for a new message of at most size_limit octets (taken literally: 0 allows only an empty
 * message; the caller maps "no limit" to UINT64_MAX if it wants one). The stream starts at a line
 * start: the CRLF of the DATA command precedes it. */
void smtp_data_init(struct smtp_data *d, uint64_t size_limit);

/* Feed len octets. Content goes to out (unless an error stopped storing), unstuffed, with CRLF line
 * ends, without the final ".CRLF"; how the input is split across calls makes no difference. After
 * SMTP_DATA_TOO_BIG out holds exactly the first size_limit octets; after another error, what came
 * before it; in both cases parsing goes on to the real CRLF.CRLF, and size keeps counting. Returns
 * SMTP_DATA_DONE with *consumed_r <= len when the terminating CRLF.CRLF was in this input (octets after
 * it belong to the next command: pipelining), else SMTP_DATA_MORE with *consumed_r == len. Once DONE,
 * further calls return DONE with *consumed_r 0 until smtp_data_init(). */
enum smtp_data_status smtp_data_feed(struct smtp_data *d, const char *buf, size_t len, struct evbuffer *out,
                                     size_t *consumed_r);

#define SMTP_DATA_HEADER_SCAN 16384 /* octets of a message's start searched for its Message-ID */

/* The Message-ID field of a stored message's header section, for the log line: the first one in the
 * first SMTP_DATA_HEADER_SCAN octets, folded lines unfolded, surrounding white space removed, anything
 * but printable ASCII replaced by '?', cut to fit buf. "" when there is none. size >= 1. */
void smtp_data_message_id(struct evbuffer *msg, char *buf, size_t size);

#endif
