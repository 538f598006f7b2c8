/*
 * header_writer: writing a header field that mxd adds to a message (Authentication-Results,
 * Received-SPF): words joined by a space and folded before column 78 (RFC 5322 2.1.1), comments and
 * values reduced to what their syntax may hold, whatever a client or the DNS put in them. Pure; any
 * thread. The caller owns the struct and frees its text.
 */
#ifndef MXD_HEADER_WRITER_H
#define MXD_HEADER_WRITER_H

#include <stdbool.h>
#include <stddef.h>

struct header_writer {
	char *text; /* NUL-terminated, NULL until the first word */
	size_t len, line;
};

/* Append word, after a space or a fold. */
void header_writer_add(struct header_writer *h, const char *word);
/* Make the next word start a new (folded) line. */
void header_writer_break(struct header_writer *h);
/* Append "(text)" split into words; octets a comment cannot hold become '?'. */
void header_writer_add_comment(struct header_writer *h, const char *text);
/* Append "key=value;" ("key=value" when last), the value as header_writer_value() gives it. */
void header_writer_add_pair(struct header_writer *h, const char *key, const char *value, bool last);
/* s as a dot-atom when it is one, else as a quoted-string (octets outside printable ASCII: '?');
 * allocated. */
char *header_writer_value(const char *s);
/* End the field with CRLF and return its text (the caller frees it). */
char *header_writer_end(struct header_writer *h);

#endif
