/*
 * Fuzz target for mxd/smtpd/spf_proto: what mxd reads from its SPF helper process, which runs libspf2
 * on records any sender controls and so may be under an attacker's control. The input is a byte stream
 * from the helper; it is cut into frames as mxd's reader does (spf_proto_frame_len) and each frame is
 * parsed (spf_proto_parse_helper). Besides what the sanitizers catch, it aborts when a parsed message
 * breaks what mxd relies on: a known type, a status in range, NUL-terminated strings within their
 * bounds, a QUERY name without control characters, of a DNS name's length. The helper's own parsers of mxd's
 * frames (CHECK, ANSWER) get the same frames too.
 */
#include "mxd/smtpd/spf_proto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_msg(const struct spf_proto_helper_msg *m)
{
	switch (m->type) {
	case SPF_PROTO_READY:
		break;
	case SPF_PROTO_QUERY: {
		size_t len = strnlen(m->name, sizeof(m->name));
		if (len == 0 || len > SPF_PROTO_NAME_MAX)
			abort();
		for (size_t i = 0; i < len; i++)
			if ((unsigned char)m->name[i] < 0x20 || (unsigned char)m->name[i] == 0x7f)
				abort(); /* spaces and the like are asked (RFC 7208 7.3), escaped for unbound
				          */
		break;
	}
	case SPF_PROTO_RESULT:
		if (m->status > 6 || strnlen(m->explanation, sizeof(m->explanation)) > SPF_PROTO_TEXT_MAX ||
		    strnlen(m->problem, sizeof(m->problem)) > SPF_PROTO_TEXT_MAX)
			abort();
		break;
	default:
		abort(); /* the parser admits no other type */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct spf_proto_helper_msg msg;
	static struct spf_proto_check check;
	static struct spf_proto_answer answer;
	const char *error;
	size_t off = 0;
	while (off < size) {
		size_t flen = 0;
		int r = spf_proto_frame_len(data + off, size - off, &flen);
		if (r != 0)
			break; /* malformed: mxd kills the helper; incomplete: mxd waits */
		if (flen < SPF_PROTO_HEADER || flen > size - off || flen > SPF_PROTO_FRAME_MAX)
			abort();
		/* a copy of exactly the frame, so that ASan sees any read past it */
		uint8_t *frame = malloc(flen);
		memcpy(frame, data + off, flen);
		if (spf_proto_parse_helper(frame, flen, &msg, &error) == 0)
			check_msg(&msg);
		else if (error == NULL)
			abort();
		if (spf_proto_parse_check(frame, flen, &check, &error) == 0 &&
		    (check.helo[SPF_PROTO_IDENT_MAX] != '\0' || check.sender[SPF_PROTO_IDENT_MAX] != '\0'))
			abort();
		if (spf_proto_parse_answer(frame, flen, &answer, &error) == 0) {
			if (answer.count > SPF_PROTO_RR_MAX || answer.outcome >= SPF_PROTO_DNS_OUTCOMES)
				abort();
			for (size_t i = 0; i < answer.count; i++)
				if (answer.rdata[i] < frame ||
				    answer.rdata[i] + answer.rdlen[i] > frame + flen)
					abort();
		}
		free(frame);
		off += flen;
	}
	return 0;
}
