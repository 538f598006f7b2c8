/*
 * dns_sync: blocking lookups for tools that may wait: mxctl check, the admin's check page and the
 * start-up check thread of mxd. Never call it from an event-loop thread (dns.h is for those).
 *
 * OWNS a libunbound context of its own, configured as mxd resolves everywhere (dns_configure_unbound():
 * the "resolver" setting or /etc/resolv.conf), and the answers it returns. One struct dns_sync serves
 * one thread at a time. As in dns.h, the reverse zones of private and documentation networks are asked
 * from the resolver rather than answered NXDOMAIN by libunbound's built-in RFC 6303 zones.
 *
 * ANSWERS: each lookup returns a status (dns.h): DNS_OK with at least one record, DNS_NXDOMAIN (no such
 * name), DNS_NO_ADDR (the name exists without records of the type asked) or DNS_TEMPFAIL. On anything
 * but DNS_OK, *detail_r (static, valid until the next call in this thread) says what failed. The
 * caller frees the answer with dns_sync_answer_free().
 */
#ifndef MXD_DNS_SYNC_H
#define MXD_DNS_SYNC_H

#include "mxd/dns/dns.h"

#include <stddef.h>
#include <sys/socket.h>

struct dns_sync;

/* One record: TXT (its strings joined, NUL-terminated; a NUL inside makes the record unreadable and it is
 * skipped), PTR and MX (the target name, lower case, no final dot; preference for MX), A/AAAA (addr). */
struct dns_sync_rr {
	char *text;
	unsigned preference;
	struct sockaddr_storage addr;
};

struct dns_sync_answer {
	size_t n;
	struct dns_sync_rr *rr; /* MX: sorted by preference; A/AAAA: IPv4 then IPv6 */
};

/* A resolver for the "resolver" setting. NULL with *error_r (static) when libunbound cannot start. */
struct dns_sync *dns_sync_new(const char *resolver, const char **error_r);
void dns_sync_free(struct dns_sync **ds);

enum dns_status dns_sync_txt(struct dns_sync *ds, const char *name, struct dns_sync_answer *ans_r,
                             const char **detail_r);
enum dns_status dns_sync_mx(struct dns_sync *ds, const char *name, struct dns_sync_answer *ans_r,
                            const char **detail_r);
/* A and AAAA of name: DNS_OK when either has records. */
enum dns_status dns_sync_addrs(struct dns_sync *ds, const char *name, struct dns_sync_answer *ans_r,
                               const char **detail_r);
/* The PTR names of an address (in-addr.arpa or ip6.arpa). */
enum dns_status dns_sync_ptr(struct dns_sync *ds, const struct sockaddr_storage *addr,
                             struct dns_sync_answer *ans_r, const char **detail_r);

void dns_sync_answer_free(struct dns_sync_answer *ans);

#endif
