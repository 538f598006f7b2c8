/*
 * dns: asynchronous DNS for the delivery engine: MX, A/AAAA, and the ordered list of MX hosts with
 * their addresses that the SMTP client walks. The event loop never blocks on it.
 *
 * OWNS a libunbound context (ub_ctx) and its resolver thread (ub_ctx_async(ctx, 1)), the pipe that
 * thread answers through (ub_fd(), watched by a libevent event; ub_process() runs in the loop), and
 * every lookup in progress. The TTL cache is unbound's: a second lookup within the TTL is answered
 * from memory. DNSSEC validation is off (no trust anchor is configured). Unbound's default refusal to
 * query localhost is lifted, so a local resolver or test server works, and the special-use "test."
 * zone is passed through to the resolver instead of being answered NXDOMAIN (RFC 6761 test names
 * simply do not exist on the public DNS, so this changes nothing there).
 *
 * LIFE: dns_new() reads /etc/resolv.conf and checks the configuration; libunbound's thread starts with
 * the first lookup, so create the resolver after daemonizing and dropping privileges.
 *
 * THREADS: every function here is called from the thread that runs the event_base given to dns_new(),
 * and every callback runs in that thread from the event loop: never synchronously inside the call that
 * started the lookup, even when the answer is in the cache or the name is invalid. libunbound's own
 * thread touches none of this module's data.
 *
 * LOOKUPS: dns_lookup_mx(), dns_lookup_addr(), dns_lookup_txt() and dns_resolve_mx_hosts() always start and
 * return a handle; every outcome, failures included, arrives through the callback exactly once, unless the
 * lookup is cancelled first with dns_cancel(), after which the callback never runs. The handle is
 * valid until the callback starts or dns_cancel() returns (clear your copy at the top of the callback).
 * Each lookup has a deadline (dns_set_timeout(), default 30 s) after which it ends as DNS_TEMPFAIL
 * (unbound itself answers SERVFAIL after about 18 s of silence from its forwarders).
 *
 * OWNERSHIP: the callback owns the struct dns_result it is given and frees it with dns_result_free().
 * dns_free() drops the lookups still running without calling their callbacks; it may be called from
 * inside a dns callback.
 *
 * STATUS: DNS_TEMPFAIL (SERVFAIL, REFUSED, timeout, malformed answer, resolver error) means "try again
 * later" and must never turn into a bounce. DNS_NXDOMAIN, DNS_NULL_MX and DNS_NO_ADDR are permanent.
 * A name that cannot exist in the DNS (empty or over-long label, over 253 octets, bytes other than
 * letters, digits, '-' and '_') is reported as DNS_NXDOMAIN without a query; callers convert U-labels
 * to A-labels first.
 */
#ifndef MXD_DNS_H
#define MXD_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct ub_ctx;
struct dns;
struct dns_lookup;

#define DNS_DEFAULT_TIMEOUT_MSEC 30000
#define DNS_MAX_HOSTS            32 /* MX hosts kept per domain, lowest preferences first */
#define DNS_MAX_ADDRS            32 /* addresses kept per host */

enum dns_status {
	DNS_OK = 0,   /* records found */
	DNS_NXDOMAIN, /* the name does not exist */
	DNS_NO_MX,    /* dns_lookup_mx(): the domain exists but has no MX, so it is its own implicit MX */
	DNS_NULL_MX,  /* RFC 7505 "MX 0 .": the domain accepts no mail */
	DNS_NO_ADDR,  /* the name exists but has no A or AAAA; for MX hosts: none of them has an address */
	DNS_TEMPFAIL, /* no answer now: retry later */
	DNS_STATUS_COUNT
};

/* One host: an MX target, the domain itself as implicit MX, or the name given to dns_lookup_addr(). */
struct dns_host {
	char *name;             /* lower case, no trailing dot */
	unsigned preference;    /* MX preference; 0 for an implicit MX and for dns_lookup_addr() */
	enum dns_status status; /* of its address lookup: OK, NXDOMAIN, NO_ADDR or TEMPFAIL (OK when the
	                           addresses were not asked for, as in dns_lookup_mx()) */
	size_t naddr;
	struct sockaddr_storage *addrs; /* IPv6 first, then IPv4, in answer order; the port is 0 */
};

struct dns_result {
	enum dns_status status;
	char *name;       /* the name asked for, lower case, no trailing dot */
	char *detail;     /* when status is not DNS_OK: what failed, for logs and DSNs, e.g.
	                     "name=example.test type=MX: server failure (SERVFAIL)"; NULL for DNS_OK */
	bool implicit_mx; /* dns_resolve_mx_hosts(): no MX, hosts[0] is the domain itself */
	size_t nhost;
	struct dns_host *hosts;
	size_t ntxt;
	char **txts; /* dns_lookup_txt(): each record's strings joined, in answer order */
};

/* Called once per lookup, in the event-loop thread; owns result. */
typedef void dns_callback(struct dns_result *result, void *ctx);

/* Counters since dns_new(), for metrics. libunbound does not report cache hits, so "answers" counts
 * every answer whether it came from unbound's cache or from the network. */
struct dns_stats {
	uint64_t lookups;                     /* lookups started */
	uint64_t queries;                     /* queries (one name, one type) handed to unbound */
	uint64_t answers;                     /* answers unbound gave back */
	uint64_t timeouts;                    /* lookups ended by their deadline */
	uint64_t cancelled;                   /* lookups cancelled */
	uint64_t running;                     /* lookups not yet delivered */
	uint64_t by_status[DNS_STATUS_COUNT]; /* delivered lookups by final status */
};

/* A resolver on base. resolver is the "resolver" setting: "" uses the nameservers of /etc/resolv.conf;
 * otherwise a comma/space separated list of "addr", "addr:port" or "[v6addr]:port" forwarders
 * (numeric addresses; port 53 by default). Returns NULL with *error_r (static, valid until the next
 * call in this thread) on a bad setting or when libunbound cannot start. */
struct dns *dns_new(struct event_base *base, const char *resolver, const char **error_r);

/* Configure a libunbound context the way mxd resolves everywhere (the SPF workers use it too): the
 * "resolver" setting's forwarders or /etc/resolv.conf, local resolvers allowed, no DNSSEC validator,
 * the "test." zone passed through, a resolver thread. 0, or -1 with *error_r. */
int dns_configure_unbound(struct ub_ctx *ub, const char *resolver, const char **error_r);

/* Stop the resolver thread, drop running lookups without their callbacks, free, set *dns to NULL. */
void dns_free(struct dns **dns);

/* Deadline for lookups started from now on (milliseconds, at least 1). */
void dns_set_timeout(struct dns *dns, unsigned msec);

/* MX of domain. hosts (without addresses) are sorted by preference, equal preferences in a random order
 * chosen anew for each lookup. Status: OK, NXDOMAIN, NO_MX, NULL_MX or TEMPFAIL. */
struct dns_lookup *dns_lookup_mx(struct dns *dns, const char *domain, dns_callback *cb, void *ctx);

/* A and AAAA of host, both asked at once; hosts[0] carries the addresses. Status: OK (at least one
 * address, even when the other type failed), NXDOMAIN, NO_ADDR or TEMPFAIL. */
struct dns_lookup *dns_lookup_addr(struct dns *dns, const char *host, dns_callback *cb, void *ctx);

/* TXT records of name (DKIM keys, DMARC policies: "_" is allowed in labels). Status: OK (txts holds
 * them), NXDOMAIN, NO_ADDR (the name exists but has no TXT record) or TEMPFAIL. */
struct dns_lookup *dns_lookup_txt(struct dns *dns, const char *name, dns_callback *cb, void *ctx);

/* Where to deliver mail for domain: the MX hosts in the order to try them (as dns_lookup_mx()), each
 * with its addresses and its own status, or the domain itself as implicit MX when it has no MX
 * (implicit_mx set). Status: OK when at least one host has an address (hosts without one stay in the
 * list with their status), NXDOMAIN, NULL_MX, NO_ADDR (no host has an address and none failed
 * temporarily) or TEMPFAIL. */
struct dns_lookup *dns_resolve_mx_hosts(struct dns *dns, const char *domain, dns_callback *cb, void *ctx);

/* TXT records of name (DKIM and ARC keys). Status: OK (txts filled), NXDOMAIN, NO_ADDR (the name exists
 * but has no TXT) or TEMPFAIL (malformed records included). */
struct dns_lookup *dns_lookup_txt(struct dns *dns, const char *name, dns_callback *cb, void *ctx);

/* Cancel a lookup that has not been delivered: its callback will not run. Sets *lookup to NULL;
 * a NULL *lookup is allowed. */
void dns_cancel(struct dns_lookup **lookup);

void dns_result_free(struct dns_result **result);

/* "ok", "nxdomain", "no mx", "null mx", "no address", "tempfail". */
const char *dns_status_str(enum dns_status status);

void dns_stats(const struct dns *dns, struct dns_stats *stats_r);

#endif
