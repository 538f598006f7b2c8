/*
 * msg_header: reading the header of a message as a stranger sent it, for DKIM and DMARC: walking its
 * fields, the d= and s= tags of a DKIM-Signature (RFC 6376 3.2 tag lists) and the domain of the one
 * author address of From: (RFC 7489 6.6.1). Pure functions on caller buffers, any thread; nothing is
 * allocated. Input may hold any octets; every result is bounded by the size given for it.
 */
#ifndef MXD_MSG_HEADER_H
#define MXD_MSG_HEADER_H

#include <stdbool.h>
#include <stddef.h>

/* One header field: name (without the colon) and value (after the colon, folding kept), and the
 * whole field [start, end) without its final CRLF, as offsets into the buffer walked. */
struct msg_field {
	size_t name_off, name_len;
	size_t value_off, value_len;
	size_t start, end;
};

/* The field at *pos of the header buf[0..len) (content lines end in CRLF, as mxd stores them). 1 with
 * *field_r and *pos moved past it; 0 at the end of the header (the empty line, or the end of buf);
 * -1 for a line that is no field (no colon, or a continuation line first): the header ends there. */
int msg_header_next(const char *buf, size_t len, size_t *pos, struct msg_field *field_r);

/* Does the field's name equal name (case-insensitive)? */
bool msg_header_is(const char *buf, const struct msg_field *field, const char *name);

/* Does the header of buf[0..len) hold a field whose name starts with prefix (case-insensitive), e.g.
 * "ARC-"? 1 yes, 0 no (the header ended cleanly without one), -1 when a line that is no field ends
 * the header early (a caller that must not miss a field parses the message its own way then). */
int msg_header_has_prefix(const char *buf, size_t len, const char *prefix);

/* The d= and s= tags of a DKIM-Signature value, white space removed, lower-cased, each checked to be
 * a DNS name (letters, digits, '-', '_', '.'; no empty label). 0, or -1 when either is missing, malformed
 * or longer than its buffer. */
int msg_header_dkim_tags(const char *value, size_t len, char *d, size_t d_size, char *s, size_t s_size);

/* The domain of the single address in a From: value (display name, comments and angle brackets
 * allowed), lower-cased, without a trailing dot. 0, or -1 when there is no address, more than one, or
 * the domain is no DNS name or is longer than out_size - 1. */
int msg_header_from_domain(const char *value, size_t len, char *out, size_t out_size);

#endif
