/*
 * text: UTF-8 checks shared by the admin UI's parsers (form.c, json.c) and writers (html.c, json.c).
 * Pure functions, thread-safe.
 */
#ifndef MXD_ADMIN_TEXT_H
#define MXD_ADMIN_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* The length (1-4) of the valid UTF-8 sequence at s (len octets available), or 0 when s starts with an
 * invalid one (stray continuation octet, overlong form, surrogate, past U+10FFFF, cut short). */
size_t text_utf8_seq(const char *s, size_t len);

/* Is s[0..len-1] all valid UTF-8? */
bool text_utf8_valid(const char *s, size_t len);

#endif
