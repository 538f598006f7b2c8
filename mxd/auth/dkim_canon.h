/*
 * dkim_canon: the header fields of a message, and DKIM's "simple" and "relaxed" canonicalizations of
 * header fields and bodies (RFC 6376 3.4), which ARC (RFC 8617) reuses.
 *
 * Pure functions on memory, any thread. A message is its octets with CRLF line ends, as mxd stores it.
 * Returned strings are allocated; the caller frees them. Nothing here fails except header splitting,
 * which reports a message with no header/body separator as all headers and an empty body.
 */
#ifndef MXD_DKIM_CANON_H
#define MXD_DKIM_CANON_H

#include <stdbool.h>
#include <stddef.h>

/* One header field as it sits in the message: text[0..len) runs from its name to its final CRLF
 * (continuation lines included); name_len is the length of its name (before the colon). */
struct header_field {
	const char *text;
	size_t len, name_len;
};

/* The fields of a message, top to bottom, pointing into the message, and where its body starts. */
struct header_list {
	struct header_field *fields;
	size_t n;
	const char *body;
	size_t body_len;
};

/* Split msg[0..len) into fields and body. A line that is neither a field nor a continuation ends the
 * header there (it and the rest belong to the body). Free with header_list_free(). */
void header_list_parse(const char *msg, size_t len, struct header_list *r);
void header_list_free(struct header_list *r);

/* Does field f have this name (ASCII case-insensitive)? */
bool header_field_is(const struct header_field *f, const char *name);

/* The field's value: what follows the colon up to (not including) the final CRLF. */
const char *header_field_value(const struct header_field *f, size_t *len_r);

/* One header field canonicalized: "relaxed" gives "name:value\r\n" with the name in lower case, the
 * value unfolded, runs of blanks as one space and none around the colon or at the end; "simple" gives
 * the field unchanged (a final CRLF added when missing). text[0..len) is the whole field. */
char *dkim_canon_header(const char *text, size_t len, bool relaxed, size_t *out_len_r);

/* The body canonicalized: trailing empty lines removed, a final CRLF ensured ("simple" turns an empty
 * body into one CRLF; "relaxed" keeps it empty and also turns runs of blanks into one space and drops
 * blanks at line ends). */
char *dkim_canon_body(const char *body, size_t len, bool relaxed, size_t *out_len_r);

#endif
