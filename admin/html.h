/*
 * html: every octet of HTML that mxadmin sends goes through here. html_escape() is the one escaping
 * function; html_f() is printf whose every %s argument goes through html_escape(), so markup can come
 * only from format strings in our code and any value (from the database, the queue, the request) is
 * text. Links carry values as query parameters encoded by html_url_param() (and then escaped by %s).
 *
 * The page layout (html_page_begin/end) has no inline script or style (the Content-Security-Policy
 * forbids both): one stylesheet, /static/style.css. Output goes to an evbuffer. Thread-safe.
 */
#ifndef MXD_ADMIN_HTML_H
#define MXD_ADMIN_HTML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;

/* Append s with & < > " ' escaped and invalid UTF-8 replaced by U+FFFD. NULL appends nothing. */
void html_escape(struct evbuffer *out, const char *s);

/* printf into out; %s arguments are escaped (no width or precision on %s), %c too; numbers as printf. */
void html_f(struct evbuffer *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Percent-encode s for a URL query value into buf (3 * strlen(s) + 1 octets suffice; longer input is
 * cut at a character boundary). Returns buf. */
const char *html_url_param(const char *s, char *buf, size_t size);

/* "2024-05-01 12:00:00" (UTC) into buf, or "-" for 0. Returns buf. */
const char *html_time(int64_t t, char *buf, size_t size);

struct html_page {
	const char *title;
	const char *section; /* nav entry to mark current: "dashboard", "domains", ... */
	const char *admin;   /* signed-in administrator, NULL on the login page */
	bool superadmin;
	const char *csrf_token; /* for the logout form */
	const char *flash;      /* a message from the previous action, or NULL */
	const char *error;      /* an error to show, or NULL */
	const char *warning;    /* a warning to show, or NULL */
};

void html_page_begin(struct evbuffer *out, const struct html_page *page);
void html_page_end(struct evbuffer *out);

/* <input type="hidden" name="csrf_token" value="..."> */
void html_csrf_field(struct evbuffer *out, const char *csrf_token);

/* A one-button POST form: action URL, hidden fields (name, value pairs, NULL-terminated), label and
 * an optional CSS class for the button. */
void html_button_form(struct evbuffer *out, const char *csrf_token, const char *action, const char *label,
                      const char *cls, const char *const *hidden);

#endif
