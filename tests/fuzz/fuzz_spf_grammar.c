/*
 * Fuzz target for mxd/smtpd/spf_grammar: an SPF record as a sender's DNS zone publishes it (the input,
 * after "v=spf1 " when it does not start with it), checked and rewritten for an IPv4 and an IPv6 client.
 * Besides what the sanitizers catch, it aborts when an accepted record's rewrite is not itself an
 * accepted record that rewrites to the same text (the rewrite is a fixed point, so libspf2 gets what
 * the grammar allowed), holds anything but visible ASCII and single spaces, or when an error comes
 * without its text.
 */
#include "mxd/smtpd/spf_grammar.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const char *rec, size_t len, int family)
{
	size_t size = SPF_GRAMMAR_OUT_SIZE(len);
	char *out = malloc(size), *again = malloc(SPF_GRAMMAR_OUT_SIZE(size));
	const char *error = NULL;
	if (spf_grammar_rewrite(rec, len, family, out, size, &error) == 0) {
		size_t n = strlen(out);
		if (!spf_grammar_is_record(out, n))
			abort();
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] > 0x7e ||
			    (out[i] == ' ' && (i + 1 == n || out[i + 1] == ' ')))
				abort();
		error = NULL;
		/* a rewrite of /0 ends in the exists suffixes, whose targets are no top labels: skip those */
		if (strstr(out, ".mxd.invalid") == NULL) {
			if (spf_grammar_rewrite(out, n, family, again, SPF_GRAMMAR_OUT_SIZE(size), &error) !=
			        0 ||
			    strcmp(out, again) != 0)
				abort();
		}
	} else if (error == NULL || error[0] == '\0') {
		abort();
	}
	free(out);
	free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *rec = malloc(size + 8);
	size_t len = 0;
	if (!spf_grammar_is_record((const char *)data, size)) {
		memcpy(rec, "v=spf1 ", 7);
		len = 7;
	}
	memcpy(rec + len, data, size);
	len += size;
	rec[len] = '\0';
	check(rec, len, AF_INET);
	check(rec, len, AF_INET6);
	free(rec);
	return 0;
}
