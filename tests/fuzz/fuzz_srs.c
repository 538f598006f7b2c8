/*
 * Fuzz target for mxd/rewrite/srs: a RCPT to our srs_domain is reversed from text a stranger chose. Besides
 * what the sanitizers catch, it aborts when a reversal yields something that is not an address (no
 * '@', a control character), or when a forwarded address does not reverse (back to its sender, for
 * a sender that is not itself an SRS address).
 */
#include "mxd/rewrite/srs.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1700000000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct srs *srs;
	if (srs == NULL) {
		const char *secrets[] = {"fuzz-secret-one", "fuzz-secret-two"};
		srs = srs_new_secrets("srs.example.com", secrets, 2, NULL);
	}
	char in[600], out[600], fwd[600], back[600];
	const char *error;
	if (size >= sizeof(in))
		size = sizeof(in) - 1;
	memcpy(in, data, size);
	in[size] = '\0';
	(void)srs_is_srs_address(srs, in);
	if (srs_reverse(srs, in, NOW, out, sizeof(out), &error) == 0) {
		if (strchr(out, '@') == NULL)
			abort();
		for (const unsigned char *c = (const unsigned char *)out; *c != '\0'; c++)
			if (*c < 0x20 || *c == 0x7f)
				abort();
	}
	const char *f = srs_forward(srs, in, NOW, fwd, sizeof(fwd));
	if (f != NULL && f != in && strcmp(f, in) != 0 && srs_is_srs_address(srs, f)) {
		/* a plain sender comes back as itself; another forwarder's SRS address comes back as the SRS0
		 * address at the first forwarder (the SRS1 rule), which must at least reverse */
		if (srs_reverse(srs, f, NOW, back, sizeof(back), &error) != 0)
			abort();
		if (strncasecmp(in, "SRS", 3) != 0 && strcasecmp(back, in) != 0)
			abort();
	}
	return 0;
}
