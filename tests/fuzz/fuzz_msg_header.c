/*
 * Fuzz target for mxd/smtpd/msg_header (the header walk, DKIM-Signature d=/s= tags, the From: domain)
 * and for what mxd hands libopendkim and libopendmarc from a stranger's message: the input is a message
 * as stored (header, CRLF CRLF, body). The target walks the fields and aborts when one leaves the buffer,
 * overlaps the previous one or has a name with a colon or white space; it aborts when a d=/s= or From:
 * domain it returns is empty, longer than its buffer or holds anything but lower-case letters, digits,
 * '-', '_' and dots between labels. Then the whole message goes through dkim_verify with every key lookup
 * answered "no such key" (libopendkim parses the signatures anyway), and, for a From: domain, through
 * dmarc_eval with the input's first line as the DMARC record.
 */
#include "mxd/smtpd/dkim_verify.h"
#include "mxd/smtpd/dmarc_eval.h"
#include "mxd/smtpd/msg_header.h"

#include <event2/buffer.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_name(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n >= max || s[0] == '.' || s[n - 1] == '.' || strstr(s, "..") != NULL)
		abort();
	for (const char *p = s; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
		      *p == '.'))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dkim_verify *v;
	static bool init;
	if (!init) {
		const char *error;
		v = dkim_verify_new(&error);
		if (v == NULL || dmarc_eval_init("", &error) < 0)
			abort();
		init = true;
	}
	const char *buf = (const char *)data;
	size_t pos = 0, prev_end = 0;
	struct msg_field f;
	char from[256] = "";
	bool have_from = false;
	int r;
	while ((r = msg_header_next(buf, size, &pos, &f)) == 1) {
		if (f.start < prev_end || f.end > size || f.start >= f.end || pos > size || pos <= f.start ||
		    f.name_len == 0 || f.value_off + f.value_len != f.end)
			abort();
		for (size_t i = 0; i < f.name_len; i++)
			if (buf[f.name_off + i] == ':' || buf[f.name_off + i] == ' ' ||
			    buf[f.name_off + i] == '\n')
				abort();
		prev_end = f.end;
		char d[64], s[64];
		if (msg_header_dkim_tags(buf + f.value_off, f.value_len, d, sizeof(d), s, sizeof(s)) == 0) {
			check_name(d, sizeof(d));
			check_name(s, sizeof(s));
		}
		if (msg_header_from_domain(buf + f.value_off, f.value_len, from, sizeof(from)) == 0) {
			check_name(from, sizeof(from));
			have_from = true;
		}
	}
	if (r != 0 && r != -1)
		abort();

	struct evbuffer *msg = evbuffer_new();
	evbuffer_add(msg, data, size);
	struct dkim_verify_key none = {"x._domainkey.example", DNS_NXDOMAIN, ""};
	struct dkim_verify_sig *sigs = NULL;
	size_t nsig = 0;
	const char *error;
	if (dkim_verify_message(v, msg, 0, &none, 1, &sigs, &nsig, &error) == 0 &&
	    nsig > DKIM_VERIFY_SIGS_MAX)
		abort();
	if (have_from) {
		const char *eol = memchr(data, '\n', size);
		size_t n = eol != NULL ? (size_t)(eol - buf) : size;
		char *record = strndup(buf, n);
		struct dmarc_eval_input in = {.from_domain = from,
		                              .record = record,
		                              .spf_domain = from,
		                              .spf_result = "fail",
		                              .sigs = sigs,
		                              .nsig = nsig};
		struct dmarc_eval_verdict verdict;
		dmarc_eval_run(&in, &verdict);
		free(record);
	}
	free(sigs);
	evbuffer_free(msg);
	return 0;
}
