/*
 * Fuzz target for mxd/smtpd/dnsbl: postscreen_dnsbl_sites text (an operator's, often pasted from a web
 * page), with its [a..b;c] octet patterns. Besides what the sanitizers catch, it aborts when a refusal
 * comes without an error text, or a parsed list holds a site with an empty domain; each site then
 * scores replies built from the input (reads of the filter bitmaps for any octet).
 */
#include "mxd/smtpd/dnsbl.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char in[4096];
	if (size >= sizeof(in))
		size = sizeof(in) - 1;
	memcpy(in, data, size);
	in[size] = '\0';
	struct dnsbl_sites *sites;
	const char *error;
	if (dnsbl_sites_parse(in, &sites, &error) < 0) {
		if (error == NULL || error[0] == '\0')
			abort();
		return 0;
	}
	struct sockaddr_storage reply[3];
	memset(reply, 0, sizeof(reply));
	for (int i = 0; i < 3; i++) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&reply[i];
		sin->sin_family = AF_INET;
		uint8_t *a = (uint8_t *)&sin->sin_addr;
		a[0] = 127;
		a[1] = (uint8_t)(size > 0 ? data[0] : 0);
		a[2] = (uint8_t)i;
		a[3] = (uint8_t)(size > 1 ? data[size - 1] : 2);
	}
	for (size_t i = 0; i < dnsbl_sites_count(sites); i++) {
		if (dnsbl_site_domain(sites, i)[0] == '\0')
			abort();
		int w1 = dnsbl_site_weight(sites, i, reply, 3);
		int w2 = dnsbl_site_weight(sites, i, reply, 3);
		if (w1 != w2)
			abort();
	}
	dnsbl_sites_unref(&sites);
	return 0;
}
