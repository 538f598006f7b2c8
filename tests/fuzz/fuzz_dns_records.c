/*
 * Fuzz target for the TXT records the self-check reads from the DNS (mxd/check): anyone who controls a
 * zone writes them. First octet: 0 = a DKIM key record compared with ours (dkim_keydir_record_matches()),
 * else an SPF record cut into terms (check_spf_term_parse()). Besides what the sanitizers catch, it
 * aborts on a match of a record that does not hold our p= value, a term whose domain is not
 * NUL-terminated within its buffer or is empty, or CIDR lengths outside 0..32 and 0..128.
 */
#include "mxd/check/check_private.h"
#include "mxd/check/dkim_keydir.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char ours[] = "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAz";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	char *text = malloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	if (data[0] == 0) {
		const char *why = NULL;
		bool m = dkim_keydir_record_matches(text, ours, &why);
		if (!m && why == NULL)
			abort();
		if (m) {
			/* the published p= must be ours once white space is taken out */
			char squeezed[4096];
			size_t o = 0;
			for (const char *p = text; *p != '\0' && o + 1 < sizeof(squeezed); p++) {
				if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
					squeezed[o++] = *p;
			}
			squeezed[o] = '\0';
			if (strstr(squeezed, "p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAz") == NULL)
				abort();
		}
	} else {
		char *save = NULL;
		for (char *t = strtok_r(text, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save)) {
			struct spf_term st;
			check_spf_term_parse(t, "srs.example", &st);
			if (memchr(st.domain, '\0', sizeof(st.domain)) == NULL)
				abort();
			if ((st.kind == SPF_TERM_A || st.kind == SPF_TERM_MX || st.kind == SPF_TERM_INCLUDE ||
			     st.kind == SPF_TERM_REDIRECT) &&
			    st.domain[0] == '\0')
				abort();
			if ((st.kind == SPF_TERM_NET || st.kind == SPF_TERM_A || st.kind == SPF_TERM_MX) &&
			    (st.bits4 < 0 || st.bits4 > 32 || st.bits6 < 0 || st.bits6 > 128))
				abort();
		}
	}
	free(text);
	return 0;
}
