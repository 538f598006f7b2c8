/*
 * spf_proto: the messages between mxd and its SPF helper process (spf_helper.c), which runs libspf2
 * apart from mxd (README.md, "SPF"). Pure functions, no I/O, thread-safe.
 *
 * A frame is a 4-octet header, then its payload: type (one octet), 0, payload length (16 bits, big
 * endian, at most SPF_PROTO_PAYLOAD_MAX). Numbers are big endian; a string is a length then its octets
 * (no NUL). Each side reads the other's frames as hostile: every length is checked against the frame,
 * every value against its range, and a frame with trailing octets is malformed.
 *
 *   helper -> mxd   READY   u32 version                         once, after the sandbox is in force
 *                   QUERY   u16 type, u8 len, name              one DNS lookup, then wait for ANSWER
 *                   RESULT  u8 status, u16 len, explanation, u16 len, problem    the check's verdict
 *   mxd -> helper   CHECK   u8 family (4, 6), 4 or 16 octets address, u16 len, helo, u16 len, sender
 *                   ANSWER  u8 outcome, u16 count, count x (u16 len, rdata)      wire-format rdata
 *
 * A helper holds one check at a time: CHECK, then QUERY/ANSWER pairs, then RESULT.
 */
#ifndef MXD_SPF_PROTO_H
#define MXD_SPF_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPF_PROTO_VERSION     1
#define SPF_PROTO_HEADER      4
#define SPF_PROTO_PAYLOAD_MAX 65532
#define SPF_PROTO_FRAME_MAX   (SPF_PROTO_HEADER + SPF_PROTO_PAYLOAD_MAX)
#define SPF_PROTO_NAME_MAX    253  /* a DNS name as text, without the final dot */
#define SPF_PROTO_NAMES_MAX   10   /* names one MX or PTR answer may give (RFC 7208 4.6.4) */
#define SPF_PROTO_TEXT_MAX    1024 /* an explanation or a problem */
#define SPF_PROTO_IDENT_MAX   1024 /* a HELO name or a sender */

enum spf_proto_type {
	SPF_PROTO_READY = 'r',
	SPF_PROTO_QUERY = 'q',
	SPF_PROTO_RESULT = 'v',
	SPF_PROTO_CHECK = 'c',
	SPF_PROTO_ANSWER = 'a',
};

/* How a lookup went (ANSWER). */
enum spf_proto_outcome {
	SPF_PROTO_DNS_OK,       /* records follow (none: no data) */
	SPF_PROTO_DNS_NXDOMAIN, /* no such name */
	SPF_PROTO_DNS_TRYAGAIN, /* timeout, SERVFAIL, a stop */
	SPF_PROTO_DNS_OUTCOMES
};

/* What the helper sent, as mxd reads it. Strings are NUL-terminated copies. */
struct spf_proto_helper_msg {
	enum spf_proto_type type;
	uint32_t version;                         /* READY */
	uint16_t qtype;                           /* QUERY */
	char name[SPF_PROTO_NAME_MAX + 1];        /* QUERY */
	unsigned status;                          /* RESULT: an enum spf_status */
	char explanation[SPF_PROTO_TEXT_MAX + 1]; /* RESULT, "" when none */
	char problem[SPF_PROTO_TEXT_MAX + 1];     /* RESULT, "" when none */
};

/* A check as the helper reads it; the strings point into the frame's copy in the struct. */
struct spf_proto_check {
	int family; /* AF_INET, AF_INET6 */
	unsigned char addr[16];
	char helo[SPF_PROTO_IDENT_MAX + 1];
	char sender[SPF_PROTO_IDENT_MAX + 1];
};

/* An answer as the helper reads it: rdata[i] of rdlen[i] octets point into the frame. */
#define SPF_PROTO_RR_MAX 1024
struct spf_proto_answer {
	enum spf_proto_outcome outcome;
	size_t count;
	const unsigned char *rdata[SPF_PROTO_RR_MAX];
	size_t rdlen[SPF_PROTO_RR_MAX];
};

/* A frame being built. */
struct spf_proto_buf {
	unsigned char data[SPF_PROTO_FRAME_MAX];
	size_t len;
	bool overflow; /* a put did not fit: the frame is not to be sent */
};

/* Is there a whole frame at the start of buf[0..len)? 1: not yet (read more); 0: yes, *frame_len_r
 * octets long; -1: the header is malformed (reserved octet not 0, payload over the bound). */
int spf_proto_frame_len(const unsigned char *buf, size_t len, size_t *frame_len_r);

/* mxd's side: the helper's frame buf[0..len) (as spf_proto_frame_len() delimited it) into *msg.
 * 0, or -1 with *error_r (static) when it is malformed or of a type the helper does not send. */
/* Could name[0..len) (no final dot) be asked: labels of 1-63 octets, 253 in all, no control character
 * (RFC 7208 7.3: a name is queried as macro expansion yields it, spaces and all; mxd escapes what
 * unbound's text form needs). */
bool spf_proto_name_ok(const char *name, size_t len);

int spf_proto_parse_helper(const unsigned char *buf, size_t len, struct spf_proto_helper_msg *msg,
                           const char **error_r);

/* The helper's side: a CHECK or ANSWER frame. 0, or -1 with *error_r (static). */
int spf_proto_parse_check(const unsigned char *buf, size_t len, struct spf_proto_check *check,
                          const char **error_r);
int spf_proto_parse_answer(const unsigned char *buf, size_t len, struct spf_proto_answer *answer,
                           const char **error_r);

/* Building frames: begin (type), put fields, end (fills in the length). Check b->overflow before
 * sending. */
void spf_proto_begin(struct spf_proto_buf *b, enum spf_proto_type type);
void spf_proto_put_u8(struct spf_proto_buf *b, unsigned v);
void spf_proto_put_u16(struct spf_proto_buf *b, unsigned v);
void spf_proto_put_u32(struct spf_proto_buf *b, uint32_t v);
void spf_proto_put_bytes(struct spf_proto_buf *b, const void *data, size_t len);
/* A string with a 16-bit length, cut at max octets. */
void spf_proto_put_str16(struct spf_proto_buf *b, const char *s, size_t max);
void spf_proto_end(struct spf_proto_buf *b);

#endif
