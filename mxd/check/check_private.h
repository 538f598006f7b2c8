/*
 * check_private: what the files of the self-check share: check.c (the run, MX, DMARC, DKIM and ARC
 * keys), check_spf.c (srs_domain's SPF), check_host.c (reverse DNS, port 25, certificate, replica).
 * Nothing outside mxd/check includes it.
 */
#ifndef MXD_CHECK_PRIVATE_H
#define MXD_CHECK_PRIVATE_H

#include "mxd/check/check.h"
#include "mxd/dns/dns_sync.h"

#include <sys/socket.h>

struct check_ctx {
	const struct mxd_config *cfg;
	struct db *db;
	struct dns_sync *dns;
	struct check_report *report;
	const char *hostname; /* myhostname, or the system's name when it is empty */
	unsigned timeout_msec;
	/* the addresses of our hosts (myhostname's first), each with the host's name */
	size_t naddr;
	struct sockaddr_storage *addrs;
	char **addr_hosts;
};

/* check_spf.c: srs_domain's SPF lists every address in ctx. */
void check_spf(struct check_ctx *ctx);

/* One term of an SPF record (untrusted text from the DNS), as far as the check needs it: a mechanism
 * that authorizes (qualifier + or none) with the network it names (ip4, ip6), or the name to look up
 * (a, mx: domain by default; include; the redirect modifier). Anything else is SPF_TERM_OTHER. */
enum spf_term_kind {
	SPF_TERM_OTHER,
	SPF_TERM_NET,
	SPF_TERM_A,
	SPF_TERM_MX,
	SPF_TERM_INCLUDE,
	SPF_TERM_REDIRECT
};
struct spf_term {
	enum spf_term_kind kind;
	char domain[256];            /* A, MX, INCLUDE, REDIRECT */
	struct sockaddr_storage net; /* NET (the port is 0) */
	int bits4, bits6;            /* NET, A, MX: CIDR lengths (32 and 128 when absent) */
};
void check_spf_term_parse(const char *term, const char *domain, struct spf_term *term_r);

/* check_host.c */
void check_fcrdns(struct check_ctx *ctx);
void check_port25(struct check_ctx *ctx);
void check_tls(struct check_ctx *ctx);
void check_replica(struct check_ctx *ctx);

#endif
