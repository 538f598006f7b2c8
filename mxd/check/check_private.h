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

/* check_host.c */
void check_fcrdns(struct check_ctx *ctx);
void check_port25(struct check_ctx *ctx);
void check_tls(struct check_ctx *ctx);
void check_replica(struct check_ctx *ctx);

#endif
