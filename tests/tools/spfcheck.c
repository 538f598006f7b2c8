/*
 * spfcheck: one SPF check with mxd's own spf module (libspf2 over libunbound), for the integration
 * tests, which need to judge an address they only learn at run time (the SRS sender a sink received)
 * against their test DNS server. Debian's spfquery (package spfquery) cannot do this: libspf2's own
 * resolver reads /etc/resolv.conf and only talks to port 53.
 *
 *   spfcheck RESOLVER CLIENT-IP HELO SENDER
 *
 * RESOLVER as the "resolver" setting ("127.0.0.1:5353"); SENDER "" for the null sender. Prints the result
 * ("pass", "fail", ...) on the first line and the Received-SPF header field after it; exits 0 once a
 * verdict is in (whatever it is), 2 on bad arguments, 1 when the check could not run.
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxd/smtpd/spf.h"
#include "mxd/smtpd/spf_helper.h"

#define RECEIVER "spfcheck.mxd.test"

static struct spf_result *verdict;

static void on_result(struct spf_result *result, void *ctx)
{
	verdict = result;
	event_base_loopbreak(ctx);
}

int main(int argc, char **argv)
{
	spf_helper_dispatch(argc, argv); /* the SPF helper process: never returns */
	if (argc != 5) {
		fprintf(stderr, "usage: spfcheck RESOLVER CLIENT-IP HELO SENDER\n");
		return 2;
	}
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, argv[2], &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
	} else if (inet_pton(AF_INET6, argv[2], &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
	} else {
		fprintf(stderr, "spfcheck: not an IP address: %s\n", argv[2]);
		return 2;
	}
	struct event_base *base = event_base_new();
	if (base == NULL)
		return 1;
	struct spf_options opts = {.threads = 1, .lookup_timeout_msec = 5000, .check_timeout_msec = 10000};
	struct spf *spf = NULL;
	const char *error = NULL;
	if (spf_new(base, argv[1], RECEIVER, &opts, &spf, &error) < 0) {
		fprintf(stderr, "spfcheck: %s\n", error);
		event_base_free(base);
		return 1;
	}
	struct spf_check *check =
	    spf_check_start(spf, (struct sockaddr *)&ss, argv[3], argv[4], on_result, base);
	if (check == NULL) {
		fprintf(stderr, "spfcheck: the check did not start\n");
		spf_free(&spf);
		event_base_free(base);
		return 1;
	}
	event_base_dispatch(base); /* until on_result breaks the loop */
	int rc = 1;
	if (verdict != NULL) {
		char *header = spf_header_received_spf(verdict, RECEIVER);
		printf("%s\n%s", spf_status_str(verdict->status), header);
		free(header);
		spf_result_free(&verdict);
		rc = 0;
	} else {
		fprintf(stderr, "spfcheck: no verdict\n");
	}
	spf_free(&spf);
	event_base_free(base);
	return rc;
}
