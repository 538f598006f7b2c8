/*
 * milter_message: a message as the milters see and change it: the client's context, the envelope
 * (sender, recipients as the client gave them) and the content split into its header fields and its
 * body. The milters' edits (header add/insert/change/delete, recipient add/delete, sender and body
 * replacement) are applied here, in the order they come, so each milter sees what the previous one
 * made; milter_message_write() then gives the content to store. Runs in the event-loop thread.
 *
 * The content is borrowed from the session (not copied, not freed); header fields are copied out of
 * it. Nothing here decides whether a milter may make an edit: milter.c checks that against what the
 * milter negotiated.
 */
#ifndef MXD_MILTER_MESSAGE_H
#define MXD_MILTER_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;

struct milter_header {
	char *name;
	char *value; /* the text after the colon, leading space and folding (CRLF) included, no final CRLF */
};

struct milter_message {
	/* context, read only, borrowed */
	const char *client_name, *client_addr; /* "unknown" when the name was not found */
	int client_family;                     /* AF_INET, AF_INET6, AF_UNIX or 0 */
	unsigned client_port;
	const char *helo, *queue_id, *myhostname;
	bool esmtp;
	/* envelope: changed by edits */
	char *sender; /* "" for the null sender */
	char **rcpts;
	size_t nrcpt, rcpt_cap;
	/* content */
	struct milter_header *headers;
	size_t nheader, header_cap;
	struct evbuffer *content;  /* borrowed: the message as received */
	size_t body_off;           /* the body starts here in content */
	bool has_blank;            /* the header section ended with an empty line */
	struct evbuffer *new_body; /* a replacement body (NULL: none) */
	bool content_changed, envelope_changed;
};

/* Split content into header fields and body; copy sender and rcpts. */
void milter_message_init(struct milter_message *m, struct evbuffer *content, const char *sender,
                         const char *const *rcpts, size_t nrcpt);
void milter_message_clear(struct milter_message *m);

/* Header value for a milter: leading white space removed unless leadspc, CRLF folding as LF. Free it. */
char *milter_message_header_value(const struct milter_header *h, bool leadspc);

/* Edits. Values come as a milter sends them (LF or CRLF folding, leading space only when the milter
 * asked for HDR_LEADSPC). */
void milter_message_add_header(struct milter_message *m, const char *name, const char *value, bool leadspc);
/* Insert at position index among all fields (0: first; beyond the last: appended). */
void milter_message_insert_header(struct milter_message *m, uint32_t index, const char *name,
                                  const char *value, bool leadspc);
/* Change the index-th (1-based) field called name (any case); an empty value deletes it; a missing one
 * is added when value is not empty. */
void milter_message_change_header(struct milter_message *m, uint32_t index, const char *name,
                                  const char *value, bool leadspc);
void milter_message_add_rcpt(struct milter_message *m, const char *rcpt);
/* 0 removed, -1 no such recipient (any case). */
int milter_message_del_rcpt(struct milter_message *m, const char *rcpt);
void milter_message_set_sender(struct milter_message *m, const char *sender);
/* The body so far (the replacement once there is one). */
const struct evbuffer *milter_message_body(const struct milter_message *m, size_t *off_r);
/* Start a replacement body (the first REPLBODY packet), then append to it. */
void milter_message_replace_body(struct milter_message *m, const void *data, size_t len, bool first);

/* The header section to store: the header fields, then the empty line. With the body unchanged, it
 * replaces the first body_off octets of content. */
void milter_message_write_head(const struct milter_message *m, struct evbuffer *out);
/* The content to store: header fields, the empty line, the body. */
void milter_message_write(const struct milter_message *m, struct evbuffer *out);

#endif
