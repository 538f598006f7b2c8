/*
 * header_field: writing a header field that mxd adds to a message (Authentication-Results,
 * Received-SPF): words joined by a space and folded before column 78 (RFC 5322 2.1.1), comments and
 * values reduced to what their syntax may hold, whatever a client or the DNS put in them. Pure; any
 * thread. The caller owns the struct and frees its text.
 */
#ifndef MXD_HEADER_FIELD_H
#define MXD_HEADER_FIELD_H

#include <stdbool.h>
#include <stddef.h>

struct header_field {
	char *text; /* NUL-terminated, NULL until the first word */
	size_t len, line;
};

/* Append word, after a space or a fold. */
void header_field_add(struct header_field *h, const char *word);
/* Make the next word start a new (folded) line. */
void header_field_break(struct header_field *h);
/* Append "(text)" split into words; octets a comment cannot hold become '?'. */
void header_field_add_comment(struct header_field *h, const char *text);
/* Append "key=value;" ("key=value" when last), the value as header_field_value() gives it. */
void header_field_add_pair(struct header_field *h, const char *key, const char *value, bool last);
/* s as a dot-atom when it is one, else as a quoted-string (octets outside printable ASCII: '?');
 * allocated. */
char *header_field_value(const char *s);
/* End the field with CRLF and return its text (the caller frees it). */
char *header_field_end(struct header_field *h);

#endif
