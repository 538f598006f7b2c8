/*
 * form: request parameters as an ordered list of name/value pairs. form_parse_urlencoded() reads an
 * application/x-www-form-urlencoded body (what an HTML form posts) or a query string; json.c fills the
 * same struct from the API's flat JSON objects, so pages and API read parameters the same way.
 *
 * The parser is strict and bounded, because its input is anyone's: at most FORM_FIELDS_MAX pairs, names
 * of at most FORM_NAME_MAX octets of [A-Za-z0-9_.-], "+" is a space, a '%' must start two hex digits,
 * and the decoded text must be valid UTF-8 without NUL; anything else refuses the whole input. Empty
 * pairs ("a=1&&b=2") are skipped; a name without '=' has the value "".
 *
 * A name given twice is kept twice: form_get() then answers NULL (so "csrf=good&csrf=evil" cannot pick
 * one), and lists read form_count() / form_get_nth(). A form is owned by its creator (form_free()).
 * Error strings are static (thread-local), valid until the next call in the thread.
 */
#ifndef MXD_ADMIN_FORM_H
#define MXD_ADMIN_FORM_H

#include <stdbool.h>
#include <stddef.h>

#define FORM_FIELDS_MAX 256
#define FORM_NAME_MAX   64

struct form_field {
	char *name;
	char *value; /* NUL-terminated, valid UTF-8 */
};

struct form {
	struct form_field *fields;
	size_t n, cap;
};

struct form *form_new(void);
void form_free(struct form **form);

/* Append a pair (copies both). -1 with *error_r when the form is full or name is not a valid name. */
int form_add(struct form *form, const char *name, size_t name_len, const char *value, size_t value_len,
             const char **error_r);

/* Parse len octets of text. 0 with *form_r (never NULL), or -1 with *error_r. */
int form_parse_urlencoded(const char *text, size_t len, struct form **form_r, const char **error_r);

/* The value of name when it was given exactly once, else NULL. */
const char *form_get(const struct form *form, const char *name);

/* How often name was given, and its nth value (NULL past the end). */
size_t form_count(const struct form *form, const char *name);
const char *form_get_nth(const struct form *form, const char *name, size_t nth);

#endif
