/*
 * html: see html.h.
 */
#include "admin/html.h"

#include "admin/text.h"
#include "mxd/common/util.h"

#include <event2/buffer.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void html_escape(struct evbuffer *out, const char *s)
{
	if (s == NULL)
		return;
	size_t len = strlen(s), run = 0;
	for (size_t i = 0; i < len;) {
		const char *rep = NULL;
		size_t n = text_utf8_seq(s + i, len - i);
		switch (n == 0 ? -1 : s[i]) {
		case -1:
			rep = "\xef\xbf\xbd"; /* U+FFFD */
			n = 1;
			break;
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&#39;";
			break;
		}
		if (rep != NULL) {
			evbuffer_add(out, s + run, i - run);
			evbuffer_add(out, rep, strlen(rep));
			run = i + n;
		}
		i += n;
	}
	evbuffer_add(out, s + run, len - run);
}

/* One numeric conversion: spec is "%[flags][width][.prec][length]conv" (copied), the arguments come
 * from ap according to length and conv. */
static void html_number(struct evbuffer *out, const char *spec, const char *length, char conv, int star_w,
                        int star_p, va_list *ap)
{
	char buf[128];
	bool is_signed = conv == 'd' || conv == 'i';
	bool has_w = star_w != INT32_MIN, has_p = star_p != INT32_MIN;

#define HTML_FMT(type)                                                                                       \
	do {                                                                                                 \
		type v = va_arg(*ap, type);                                                                  \
		if (has_w && has_p)                                                                          \
			snprintf(buf, sizeof(buf), spec, star_w, star_p, v);                                 \
		else if (has_w)                                                                              \
			snprintf(buf, sizeof(buf), spec, star_w, v);                                         \
		else if (has_p)                                                                              \
			snprintf(buf, sizeof(buf), spec, star_p, v);                                         \
		else                                                                                         \
			snprintf(buf, sizeof(buf), spec, v);                                                 \
	} while (0)

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	if (conv == 'f' || conv == 'g' || conv == 'e')
		HTML_FMT(double);
	else if (strcmp(length, "ll") == 0 && is_signed)
		HTML_FMT(long long);
	else if (strcmp(length, "ll") == 0)
		HTML_FMT(unsigned long long);
	else if (strcmp(length, "l") == 0 && is_signed)
		HTML_FMT(long);
	else if (strcmp(length, "l") == 0)
		HTML_FMT(unsigned long);
	else if (strcmp(length, "z") == 0 && is_signed)
		HTML_FMT(ptrdiff_t);
	else if (strcmp(length, "z") == 0)
		HTML_FMT(size_t);
	else if (strcmp(length, "j") == 0 && is_signed)
		HTML_FMT(intmax_t);
	else if (strcmp(length, "j") == 0)
		HTML_FMT(uintmax_t);
	else if (strcmp(length, "t") == 0)
		HTML_FMT(ptrdiff_t);
	else if (is_signed)
		HTML_FMT(int);
	else
		HTML_FMT(unsigned);
#pragma GCC diagnostic pop
#undef HTML_FMT
	evbuffer_add(out, buf, strlen(buf));
}

void html_f(struct evbuffer *out, const char *fmt, ...)
{
	va_list ap;
	const char *p = fmt, *run = fmt;

	va_start(ap, fmt);
	while (*p != '\0') {
		if (*p != '%') {
			p++;
			continue;
		}
		evbuffer_add(out, run, (size_t)(p - run));
		const char *start = p++;
		if (*p == '%') {
			evbuffer_add(out, "%", 1);
			run = ++p;
			continue;
		}
		int star_w = INT32_MIN, star_p = INT32_MIN;
		bool width = false;
		while (*p != '\0' && strchr("-+ #0", *p) != NULL)
			p++;
		if (*p == '*') {
			star_w = va_arg(ap, int);
			p++;
			width = true;
		}
		while (*p >= '0' && *p <= '9') {
			p++;
			width = true;
		}
		if (*p == '.') {
			p++;
			width = true;
			if (*p == '*') {
				star_p = va_arg(ap, int);
				p++;
			}
			while (*p >= '0' && *p <= '9')
				p++;
		}
		char length[3] = "";
		size_t ln = 0;
		while (*p != '\0' && strchr("hlzjt", *p) != NULL && ln < 2)
			length[ln++] = *p++;
		length[ln] = '\0';
		char conv = *p != '\0' ? *p++ : '\0';
		if (conv == 's') {
			if (width) /* would cut or pad escaped text: a programming error */
				abort();
			html_escape(out, va_arg(ap, const char *));
		} else if (conv == 'c') {
			char c[2] = {(char)va_arg(ap, int), '\0'};
			html_escape(out, c);
		} else if (conv != '\0' && strchr("diuxXofge", conv) != NULL) {
			char spec[32];
			size_t sl = (size_t)(p - start);
			if (sl >= sizeof(spec))
				abort();
			memcpy(spec, start, sl);
			spec[sl] = '\0';
			html_number(out, spec, length, conv, star_w, star_p, &ap);
		} else {
			abort(); /* a conversion html_f does not know: a programming error */
		}
		run = p;
	}
	evbuffer_add(out, run, (size_t)(p - run));
	va_end(ap);
}

const char *html_url_param(const char *s, char *buf, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0, len = strlen(s);

	for (size_t i = 0; i < len;) {
		size_t n = text_utf8_seq(s + i, len - i);
		if (n == 0)
			n = 1;
		if (o + 3 * n + 1 > size)
			break;
		for (size_t k = 0; k < n; k++, i++) {
			unsigned char c = (unsigned char)s[i];
			if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			    c == '-' || c == '_' || c == '.' || c == '~' || c == '@') {
				buf[o++] = (char)c;
			} else {
				buf[o++] = '%';
				buf[o++] = hex[c >> 4];
				buf[o++] = hex[c & 15];
			}
		}
	}
	if (size > 0)
		buf[o] = '\0';
	return buf;
}

const char *html_time(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL || strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		str_copy(buf, size, "-");
	return buf;
}

static const struct {
	const char *section, *url, *label;
	bool superadmin_only;
} html_nav[] = {
    {"dashboard", "/", "Dashboard", false},
    {"domains", "/domains", "Domains", false},
    {"aliasdomains", "/aliasdomains", "Alias domains", false},
    {"routes", "/routes", "Routes", true},
    {"queue", "/queue", "Queue", false},
    {"log", "/log", "Delivery log", false},
    {"audit", "/audit", "Audit log", false},
    {"admins", "/admins", "Admins", true},
    {"check", "/check", "Self-check", true},
};

void html_page_begin(struct evbuffer *out, const struct html_page *page)
{
	html_f(out,
	       "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	       "<title>%s - mxadmin</title>\n<link rel=\"stylesheet\" href=\"/static/style.css\">\n"
	       "</head>\n<body>\n<header>\n<span class=\"brand\">mxadmin</span>\n",
	       page->title);
	if (page->admin != NULL) {
		html_f(out, "<nav>\n");
		for (size_t i = 0; i < MXD_ARRAY_SIZE(html_nav); i++) {
			if (html_nav[i].superadmin_only && !page->superadmin)
				continue;
			bool current =
			    page->section != NULL && strcmp(page->section, html_nav[i].section) == 0;
			if (current)
				html_f(out, "<a href=\"%s\" aria-current=\"page\">%s</a>\n", html_nav[i].url,
				       html_nav[i].label);
			else
				html_f(out, "<a href=\"%s\">%s</a>\n", html_nav[i].url, html_nav[i].label);
		}
		html_f(out, "</nav>\n<div class=\"who\"><a href=\"/account\">%s</a> (%s)\n", page->admin,
		       page->superadmin ? "superadmin" : "domain admin");
		static const char *const none[] = {NULL};
		html_button_form(out, page->csrf_token, "/logout", "Log out", "link", none);
		html_f(out, "</div>\n");
	}
	html_f(out, "</header>\n<main>\n<h1>%s</h1>\n", page->title);
	if (page->flash != NULL && page->flash[0] != '\0')
		html_f(out, "<p class=\"flash\" role=\"status\">%s</p>\n", page->flash);
	if (page->warning != NULL && page->warning[0] != '\0')
		html_f(out, "<p class=\"warning\" role=\"alert\">%s</p>\n", page->warning);
	if (page->error != NULL && page->error[0] != '\0')
		html_f(out, "<p class=\"error\" role=\"alert\">%s</p>\n", page->error);
}

void html_page_end(struct evbuffer *out)
{
	html_f(out, "</main>\n<footer>mxd %s</footer>\n</body>\n</html>\n", MXD_VERSION);
}

void html_csrf_field(struct evbuffer *out, const char *csrf_token)
{
	html_f(out, "<input type=\"hidden\" name=\"csrf_token\" value=\"%s\">\n",
	       csrf_token != NULL ? csrf_token : "");
}

void html_button_form(struct evbuffer *out, const char *csrf_token, const char *action, const char *label,
                      const char *cls, const char *const *hidden)
{
	html_f(out, "<form method=\"post\" action=\"%s\" class=\"inline\">\n", action);
	html_csrf_field(out, csrf_token);
	for (size_t i = 0; hidden[i] != NULL && hidden[i + 1] != NULL; i += 2)
		html_f(out, "<input type=\"hidden\" name=\"%s\" value=\"%s\">\n", hidden[i], hidden[i + 1]);
	if (cls != NULL)
		html_f(out, "<button type=\"submit\" class=\"%s\">%s</button>\n</form>\n", cls, label);
	else
		html_f(out, "<button type=\"submit\">%s</button>\n</form>\n", label);
}
