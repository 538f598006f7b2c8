/* milter_message: see milter_message.h. */
#include "mxd/smtpd/milter_message.h"

#include "mxd/common/util.h"

#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool is_field_name_char(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e && c != ':';
}

static void header_push(struct milter_message *m, size_t at, char *name, char *value)
{
	if (m->nheader == m->header_cap) {
		m->header_cap = m->header_cap ? m->header_cap * 2 : 16;
		m->headers = xrealloc(m->headers, m->header_cap * sizeof(*m->headers));
	}
	if (at > m->nheader)
		at = m->nheader;
	memmove(m->headers + at + 1, m->headers + at, (m->nheader - at) * sizeof(*m->headers));
	m->headers[at].name = name;
	m->headers[at].value = value;
	m->nheader++;
}

static void rcpt_push(struct milter_message *m, const char *rcpt)
{
	if (m->nrcpt == m->rcpt_cap) {
		m->rcpt_cap = m->rcpt_cap ? m->rcpt_cap * 2 : 4;
		m->rcpts = xrealloc(m->rcpts, m->rcpt_cap * sizeof(char *));
	}
	m->rcpts[m->nrcpt++] = xstrdup(rcpt);
}

void milter_message_init(struct milter_message *m, struct evbuffer *content, const char *sender,
                         const char *const *rcpts, size_t nrcpt)
{
	m->sender = xstrdup(sender);
	for (size_t i = 0; i < nrcpt; i++)
		rcpt_push(m, rcpts[i]);
	m->content = content;
	size_t total = evbuffer_get_length(content);
	struct evbuffer_ptr end = evbuffer_search(content, "\r\n\r\n", 4, NULL);
	size_t hlen = end.pos >= 0 ? (size_t)end.pos + 4 : total;
	const char *p = (const char *)evbuffer_pullup(content, (ev_ssize_t)hlen);
	size_t off = 0;
	m->body_off = hlen;
	while (off < hlen) {
		const char *eol = memchr(p + off, '\n', hlen - off);
		size_t line_end = eol != NULL ? (size_t)(eol - p) + 1 : hlen; /* past the LF */
		size_t text_end = line_end;
		if (text_end > off && p[text_end - 1] == '\n')
			text_end--;
		if (text_end > off && p[text_end - 1] == '\r')
			text_end--;
		if (text_end == off) { /* the empty line */
			m->has_blank = true;
			m->body_off = line_end;
			return;
		}
		if ((p[off] == ' ' || p[off] == '\t') && m->nheader > 0) {
			struct milter_header *h = &m->headers[m->nheader - 1];
			char *v = xasprintf("%s\r\n%.*s", h->value, (int)(text_end - off), p + off);
			free(h->value);
			h->value = v;
			off = line_end;
			continue;
		}
		size_t n = off;
		while (n < text_end && is_field_name_char((unsigned char)p[n]))
			n++;
		if (n == off || n >= text_end || p[n] != ':') {
			m->body_off = off; /* not a header field: the body starts without an empty line */
			return;
		}
		header_push(m, m->nheader, xstrndup(p + off, n - off), xstrndup(p + n + 1, text_end - n - 1));
		off = line_end;
	}
}

void milter_message_clear(struct milter_message *m)
{
	for (size_t i = 0; i < m->nheader; i++) {
		free(m->headers[i].name);
		free(m->headers[i].value);
	}
	free(m->headers);
	for (size_t i = 0; i < m->nrcpt; i++)
		free(m->rcpts[i]);
	free(m->rcpts);
	free(m->sender);
	if (m->new_body != NULL)
		evbuffer_free(m->new_body);
	memset(m, 0, sizeof(*m));
}

char *milter_message_header_value(const struct milter_header *h, bool leadspc)
{
	const char *v = h->value;
	if (!leadspc)
		while (*v == ' ' || *v == '\t')
			v++;
	char *out = xmalloc(strlen(v) + 1), *o = out;
	for (; *v != '\0'; v++)
		if (!(v[0] == '\r' && v[1] == '\n'))
			*o++ = *v;
	*o = '\0';
	return out;
}

/* A value from a milter as stored: " value" (a leading space unless the milter gave its own), folding
 * as CRLF. milter_proto checked that every line break folds. */
static char *stored_value(const char *value, bool leadspc)
{
	size_t len = strlen(value);
	char *out = xmalloc(2 * len + 2), *o = out;
	if (!leadspc)
		*o++ = ' ';
	for (const char *v = value; *v != '\0'; v++) {
		if (*v == '\r')
			continue;
		if (*v == '\n')
			*o++ = '\r';
		*o++ = *v;
	}
	*o = '\0';
	return out;
}

void milter_message_add_header(struct milter_message *m, const char *name, const char *value, bool leadspc)
{
	header_push(m, m->nheader, xstrdup(name), stored_value(value, leadspc));
	m->content_changed = true;
}

void milter_message_insert_header(struct milter_message *m, uint32_t index, const char *name,
                                  const char *value, bool leadspc)
{
	header_push(m, index, xstrdup(name), stored_value(value, leadspc));
	m->content_changed = true;
}

void milter_message_change_header(struct milter_message *m, uint32_t index, const char *name,
                                  const char *value, bool leadspc)
{
	uint32_t seen = 0;
	for (size_t i = 0; i < m->nheader; i++) {
		if (strcasecmp(m->headers[i].name, name) != 0 || ++seen != (index == 0 ? 1 : index))
			continue;
		m->content_changed = true;
		if (value[0] == '\0') {
			free(m->headers[i].name);
			free(m->headers[i].value);
			memmove(m->headers + i, m->headers + i + 1,
			        (m->nheader - i - 1) * sizeof(*m->headers));
			m->nheader--;
		} else {
			free(m->headers[i].value);
			m->headers[i].value = stored_value(value, leadspc);
		}
		return;
	}
	if (value[0] != '\0')
		milter_message_add_header(m, name, value, leadspc);
}

void milter_message_add_rcpt(struct milter_message *m, const char *rcpt)
{
	for (size_t i = 0; i < m->nrcpt; i++)
		if (strcasecmp(m->rcpts[i], rcpt) == 0)
			return;
	rcpt_push(m, rcpt);
	m->envelope_changed = true;
}

int milter_message_del_rcpt(struct milter_message *m, const char *rcpt)
{
	for (size_t i = 0; i < m->nrcpt; i++) {
		if (strcasecmp(m->rcpts[i], rcpt) != 0)
			continue;
		free(m->rcpts[i]);
		memmove(m->rcpts + i, m->rcpts + i + 1, (m->nrcpt - i - 1) * sizeof(char *));
		m->nrcpt--;
		m->envelope_changed = true;
		return 0;
	}
	return -1;
}

void milter_message_set_sender(struct milter_message *m, const char *sender)
{
	free(m->sender);
	m->sender = xstrdup(sender);
	m->envelope_changed = true;
}

const struct evbuffer *milter_message_body(const struct milter_message *m, size_t *off_r)
{
	if (m->new_body != NULL) {
		*off_r = 0;
		return m->new_body;
	}
	*off_r = m->body_off;
	return m->content;
}

void milter_message_replace_body(struct milter_message *m, const void *data, size_t len, bool first)
{
	if (first && m->new_body != NULL) {
		evbuffer_free(m->new_body);
		m->new_body = NULL;
	}
	if (m->new_body == NULL)
		m->new_body = xevbuffer_new();
	evbuffer_add(m->new_body, data, len);
	m->content_changed = true;
}

void milter_message_write_head(const struct milter_message *m, struct evbuffer *out)
{
	for (size_t i = 0; i < m->nheader; i++)
		evbuffer_add_printf(out, "%s:%s\r\n", m->headers[i].name, m->headers[i].value);
	evbuffer_add(out, "\r\n", 2);
}

void milter_message_write(const struct milter_message *m, struct evbuffer *out)
{
	milter_message_write_head(m, out);
	size_t off;
	const struct evbuffer *body = milter_message_body(m, &off);
	size_t len = evbuffer_get_length(body);
	if (off >= len)
		return;
	struct evbuffer_ptr ptr;
	evbuffer_ptr_set((struct evbuffer *)body, &ptr, off, EVBUFFER_PTR_SET);
	char chunk[16384];
	while (off < len) {
		ev_ssize_t n = evbuffer_copyout_from((struct evbuffer *)body, &ptr, chunk, sizeof(chunk));
		if (n <= 0)
			break;
		evbuffer_add(out, chunk, (size_t)n);
		evbuffer_ptr_set((struct evbuffer *)body, &ptr, (size_t)n, EVBUFFER_PTR_ADD);
		off += (size_t)n;
	}
}
