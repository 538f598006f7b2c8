/*
 * Fuzz target for mxd/common/addr (what mxctl, mxadmin and the tables accept as addresses and domains) and
 * mxd/rewrite/expand's input side. Besides what the sanitizers catch, it aborts when a result breaks the
 * contract: a normalized address that is not lower case, too long, or holds a control character.
 */
#include "mxd/common/addr.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char in[1024], out[ADDR_MAX + 1];
	const char *error;
	if (size >= sizeof(in))
		size = sizeof(in) - 1;
	memcpy(in, data, size);
	in[size] = '\0';
	(void)addr_domain_valid(in, &error);
	(void)addr_local_valid(in, &error);
	if (addr_normalize(in, out, sizeof(out), &error) == 0) {
		if (strlen(out) > ADDR_MAX || addr_domain(out) == NULL)
			abort();
		for (const unsigned char *c = (const unsigned char *)out; *c != '\0'; c++)
			if (*c < 0x20 || *c == 0x7f || (*c >= 'A' && *c <= 'Z'))
				abort();
	} else if (error == NULL || strpbrk(error, "\r\n") != NULL) {
		abort();
	}
	return 0;
}
