/* spf_proto: see spf_proto.h. */
#include "mxd/smtpd/spf_proto.h"

#include <string.h>
#include <sys/socket.h>

/* A reader over one frame's payload: every get fails once past the end. */
struct reader {
	const unsigned char *p;
	size_t left;
	bool bad;
};

static unsigned get_u8(struct reader *r)
{
	if (r->left < 1) {
		r->bad = true;
		return 0;
	}
	r->left--;
	return *r->p++;
}

static unsigned get_u16(struct reader *r)
{
	unsigned hi = get_u8(r);
	return hi << 8 | get_u8(r);
}

static uint32_t get_u32(struct reader *r)
{
	uint32_t hi = get_u16(r);
	return hi << 16 | get_u16(r);
}

static const unsigned char *get_bytes(struct reader *r, size_t len)
{
	if (r->left < len) {
		r->bad = true;
		r->left = 0;
		return NULL;
	}
	const unsigned char *p = r->p;
	r->p += len;
	r->left -= len;
	return p;
}

/* A string of len octets into out (room for max and a NUL): no NUL inside, at most max octets. */
static void get_str(struct reader *r, size_t len, char *out, size_t max)
{
	out[0] = '\0';
	if (len > max) {
		r->bad = true;
		return;
	}
	const unsigned char *p = get_bytes(r, len);
	if (p == NULL)
		return;
	if (memchr(p, '\0', len) != NULL) {
		r->bad = true;
		return;
	}
	memcpy(out, p, len);
	out[len] = '\0';
}

int spf_proto_frame_len(const unsigned char *buf, size_t len, size_t *frame_len_r)
{
	if (len >= 2 && buf[1] != 0)
		return -1;
	if (len < SPF_PROTO_HEADER)
		return 1;
	size_t payload = (size_t)buf[2] << 8 | buf[3];
	if (payload > SPF_PROTO_PAYLOAD_MAX)
		return -1;
	if (len < SPF_PROTO_HEADER + payload)
		return 1;
	*frame_len_r = SPF_PROTO_HEADER + payload;
	return 0;
}

/* The payload of the whole frame buf[0..len), or -1 when the header does not describe exactly it. */
static int reader_init(struct reader *r, const unsigned char *buf, size_t len, const char **error_r)
{
	size_t frame_len;
	if (spf_proto_frame_len(buf, len, &frame_len) != 0 || frame_len != len) {
		*error_r = "malformed frame header";
		return -1;
	}
	r->p = buf + SPF_PROTO_HEADER;
	r->left = len - SPF_PROTO_HEADER;
	r->bad = false;
	return 0;
}

static int reader_finish(struct reader *r, const char *what, const char **error_r)
{
	if (r->bad || r->left != 0) {
		*error_r = what;
		return -1;
	}
	return 0;
}

bool spf_proto_name_ok(const char *name, size_t len)
{
	size_t label = 0;
	if (len == 0 || len > SPF_PROTO_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (c < 0x20 || c == 0x7f || ++label > 63) {
			return false;
		}
	}
	return label > 0;
}

int spf_proto_parse_helper(const unsigned char *buf, size_t len, struct spf_proto_helper_msg *msg,
                           const char **error_r)
{
	struct reader r;
	if (reader_init(&r, buf, len, error_r) < 0)
		return -1;
	memset(msg, 0, sizeof(*msg));
	msg->type = (enum spf_proto_type)buf[0];
	switch (buf[0]) {
	case SPF_PROTO_READY:
		msg->version = get_u32(&r);
		return reader_finish(&r, "malformed READY", error_r);
	case SPF_PROTO_QUERY: {
		msg->qtype = (uint16_t)get_u16(&r);
		size_t n = get_u8(&r);
		get_str(&r, n, msg->name, SPF_PROTO_NAME_MAX);
		if (reader_finish(&r, "malformed QUERY", error_r) < 0)
			return -1;
		if (!spf_proto_name_ok(msg->name, strlen(msg->name))) {
			*error_r = "QUERY for a malformed name";
			return -1;
		}
		return 0;
	}
	case SPF_PROTO_RESULT: {
		msg->status = get_u8(&r);
		size_t n = get_u16(&r);
		get_str(&r, n, msg->explanation, SPF_PROTO_TEXT_MAX);
		n = get_u16(&r);
		get_str(&r, n, msg->problem, SPF_PROTO_TEXT_MAX);
		if (reader_finish(&r, "malformed RESULT", error_r) < 0)
			return -1;
		if (msg->status > 6 /* SPF_STATUS_PERMERROR */) {
			*error_r = "RESULT with an unknown status";
			return -1;
		}
		return 0;
	}
	default:
		*error_r = "unexpected frame type";
		return -1;
	}
}

int spf_proto_parse_check(const unsigned char *buf, size_t len, struct spf_proto_check *check,
                          const char **error_r)
{
	struct reader r;
	if (reader_init(&r, buf, len, error_r) < 0)
		return -1;
	if (buf[0] != SPF_PROTO_CHECK) {
		*error_r = "expected CHECK";
		return -1;
	}
	memset(check, 0, sizeof(*check));
	unsigned family = get_u8(&r);
	size_t alen = family == 4 ? 4 : 16;
	if (family != 4 && family != 6) {
		*error_r = "CHECK with an unknown address family";
		return -1;
	}
	check->family = family == 4 ? AF_INET : AF_INET6;
	const unsigned char *a = get_bytes(&r, alen);
	if (a != NULL)
		memcpy(check->addr, a, alen);
	size_t n = get_u16(&r);
	get_str(&r, n, check->helo, SPF_PROTO_IDENT_MAX);
	n = get_u16(&r);
	get_str(&r, n, check->sender, SPF_PROTO_IDENT_MAX);
	return reader_finish(&r, "malformed CHECK", error_r);
}

int spf_proto_parse_answer(const unsigned char *buf, size_t len, struct spf_proto_answer *answer,
                           const char **error_r)
{
	struct reader r;
	if (reader_init(&r, buf, len, error_r) < 0)
		return -1;
	if (buf[0] != SPF_PROTO_ANSWER) {
		*error_r = "expected ANSWER";
		return -1;
	}
	answer->outcome = (enum spf_proto_outcome)get_u8(&r);
	answer->count = get_u16(&r);
	if (answer->outcome >= SPF_PROTO_DNS_OUTCOMES || answer->count > SPF_PROTO_RR_MAX) {
		*error_r = "ANSWER out of range";
		return -1;
	}
	for (size_t i = 0; i < answer->count && !r.bad; i++) {
		answer->rdlen[i] = get_u16(&r);
		answer->rdata[i] = get_bytes(&r, answer->rdlen[i]);
	}
	return reader_finish(&r, "malformed ANSWER", error_r);
}

void spf_proto_begin(struct spf_proto_buf *b, enum spf_proto_type type)
{
	b->len = 0;
	b->overflow = false;
	spf_proto_put_u8(b, type);
	spf_proto_put_u8(b, 0);
	spf_proto_put_u16(b, 0);
}

void spf_proto_put_bytes(struct spf_proto_buf *b, const void *data, size_t len)
{
	if (b->overflow || len > sizeof(b->data) - b->len) {
		b->overflow = true;
		return;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
}

void spf_proto_put_u8(struct spf_proto_buf *b, unsigned v)
{
	unsigned char c = (unsigned char)v;
	spf_proto_put_bytes(b, &c, 1);
}

void spf_proto_put_u16(struct spf_proto_buf *b, unsigned v)
{
	unsigned char c[2] = {(unsigned char)(v >> 8), (unsigned char)v};
	spf_proto_put_bytes(b, c, 2);
}

void spf_proto_put_u32(struct spf_proto_buf *b, uint32_t v)
{
	spf_proto_put_u16(b, v >> 16);
	spf_proto_put_u16(b, v & 0xffff);
}

void spf_proto_put_str16(struct spf_proto_buf *b, const char *s, size_t max)
{
	size_t len = strlen(s);
	if (len > max)
		len = max;
	spf_proto_put_u16(b, (unsigned)len);
	spf_proto_put_bytes(b, s, len);
}

void spf_proto_end(struct spf_proto_buf *b)
{
	if (b->overflow || b->len < SPF_PROTO_HEADER)
		return;
	size_t payload = b->len - SPF_PROTO_HEADER;
	b->data[2] = (unsigned char)(payload >> 8);
	b->data[3] = (unsigned char)payload;
}
