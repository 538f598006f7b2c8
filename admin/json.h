/*
 * json: the JSON of the API. json_parse_object() reads a request body that is one flat object into a
 * struct form (form.h), so the API reads its parameters as the pages do: strings as they are, numbers
 * as their text, true/false as "true"/"false", null as absent, an array of strings or numbers as the
 * name given once per element. Nested objects and arrays of arrays are refused, as is anything that is
 * not strict JSON (RFC 8259): trailing commas, single quotes, comments, lone surrogates, \u0000, control
 * characters in strings, invalid UTF-8, junk after the object. Depth and size are bounded by the body
 * limit and form.h's limits.
 *
 * The writers append to an evbuffer: json_str() writes a quoted string with '"', '\', control
 * characters, '<', '>' and '&' escaped, and invalid UTF-8 replaced by U+FFFD, so any text (queue
 * contents from the network included) comes out as valid JSON. json_kv_list() writes every array the
 * API answers with: the caller gives the elements and a function that writes one of them. Error strings
 * are static (thread-local).
 */
#ifndef MXD_ADMIN_JSON_H
#define MXD_ADMIN_JSON_H

#include "admin/form.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;

/* Parse len octets of text. 0 with *form_r, or -1 with *error_r. */
int json_parse_object(const char *text, size_t len, struct form **form_r, const char **error_r);

/* Append s as a JSON string (quotes included). */
void json_str(struct evbuffer *out, const char *s);

/* Append "name": and then the value; a comma first unless *first (which is cleared). */
void json_key(struct evbuffer *out, bool *first, const char *name);
void json_kv_str(struct evbuffer *out, bool *first, const char *name, const char *value);
void json_kv_int(struct evbuffer *out, bool *first, const char *name, int64_t value);
void json_kv_bool(struct evbuffer *out, bool *first, const char *name, bool value);

/* Write one element of a list (a whole JSON value: an object with its braces, a string, ...). */
typedef void json_item_fn(struct evbuffer *out, const void *item);

/* Append [e0,e1,...]: fn writes each of the n elements of the array items (size octets apart). */
void json_list_write(struct evbuffer *out, const void *items, size_t n, size_t size, json_item_fn *fn);

/* Append "name": and the list, as json_key() and json_list_write(). */
void json_kv_list(struct evbuffer *out, bool *first, const char *name, const void *items, size_t n,
                  size_t size, json_item_fn *fn);

/* Append "name": and an array of the n strings of list. */
void json_kv_strings(struct evbuffer *out, bool *first, const char *name, char *const *list, size_t n);

#endif
