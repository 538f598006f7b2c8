/*
 * msg_auth_cost: CPU cost per message of the end-of-DATA checks (mxd/smtpd/dkim_verify and dmarc_eval,
 * the work msg_auth.c does once the DNS answers are in; the lookups themselves are unbound's cache or
 * the network). Usage: msg_auth_cost MESSAGE KEYNAME KEYTXT [N]: MESSAGE is a stored message (CRLF),
 * KEYNAME "sel._domainkey.example.com", KEYTXT its record; verifies it N times (default 2000) and
 * prints microseconds per message. tests/bench/README.md shows how to make the inputs.
 */
#include "mxd/smtpd/dkim_verify.h"
#include "mxd/smtpd/dmarc_eval.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s MESSAGE KEYNAME KEYTXT [N]\n", argv[0]);
		return 2;
	}
	int n = argc > 4 ? atoi(argv[4]) : 2000;
	FILE *f = fopen(argv[1], "rb");
	if (f == NULL) {
		perror(argv[1]);
		return 1;
	}
	static char data[1 << 20];
	size_t len = fread(data, 1, sizeof(data), f);
	fclose(f);
	const char *error;
	struct dkim_verify *v = dkim_verify_new(&error);
	if (v == NULL || dmarc_eval_init("/usr/share/publicsuffix/public_suffix_list.dat", &error) < 0) {
		fprintf(stderr, "%s\n", error);
		return 1;
	}
	struct dkim_verify_key key = {argv[2], DNS_OK, argv[3]};
	const char *d = strstr(argv[2], "._domainkey.") + strlen("._domainkey.");
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	const char *result = "";
	for (int i = 0; i < n; i++) {
		struct evbuffer *msg = evbuffer_new();
		evbuffer_add(msg, data, len);
		struct dkim_verify_sig *sigs;
		size_t nsig;
		if (dkim_verify_message(v, msg, 0, &key, 1, &sigs, &nsig, &error) < 0 || nsig == 0) {
			fprintf(stderr, "no signature verified\n");
			return 1;
		}
		struct dmarc_eval_input in = {.from_domain = d,
		                              .record = "v=DMARC1; p=reject",
		                              .spf_domain = d,
		                              .spf_result = "fail",
		                              .sigs = sigs,
		                              .nsig = nsig};
		struct dmarc_eval_verdict verdict;
		dmarc_eval_run(&in, &verdict);
		result = sigs[0].result;
		free(sigs);
		evbuffer_free(msg);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / n;
	printf("%zu octets, dkim=%s: %.1f us per message (%d messages)\n", len, result, us, n);
	dkim_verify_free(&v);
	return 0;
}
