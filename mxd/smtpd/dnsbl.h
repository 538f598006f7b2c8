/*
 * dnsbl: DNS block and allow lists scored as Postfix's postscreen does. postscreen_dnsbl_sites lists
 * "domain[=filter][*weight]" items: the client's address is looked up as an A record under each domain
 * (IPv4 octets reversed, IPv6 nibbles reversed); a site that answers with an address its filter
 * accepts (any address without a filter) adds its weight (1 by default, negative for allow lists) to
 * the client's score. A filter is four dot-separated octet patterns, each a number or a bracketed list
 * of numbers and ranges separated by ';': "127.0.0.2", "127.0.0.[2..11]", "127.0.[0..255].[1;3]".
 *
 * dnsbl_sites_parse() checks untrusted-looking operator text and is fuzzed (tests/fuzz/fuzz_dnsbl).
 * A parsed list is reference-counted: the policy holds it, and each running check holds it too, so a
 * reload that replaces the policy does not pull it from under a check.
 *
 * A check asks every site at once through mxd/dns (asynchronous; answers cached by their TTL in
 * unbound's cache) and calls its callback once, from the event loop, when the last answer is in; a
 * failed or timed-out lookup counts as "not listed". Event-loop thread only.
 */
#ifndef MXD_DNSBL_H
#define MXD_DNSBL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct dns;
struct dnsbl_sites;
struct dnsbl_check;

/* Parse postscreen_dnsbl_sites. An empty text gives an empty list. 0, or -1 with *error_r (static,
 * valid until the next call in this thread) naming the bad item. */
int dnsbl_sites_parse(const char *text, struct dnsbl_sites **sites_r, const char **error_r);
struct dnsbl_sites *dnsbl_sites_ref(struct dnsbl_sites *sites);
/* Drop one reference and clear *sites; NULL is allowed. */
void dnsbl_sites_unref(struct dnsbl_sites **sites);
size_t dnsbl_sites_count(const struct dnsbl_sites *sites);
const char *dnsbl_site_domain(const struct dnsbl_sites *sites, size_t i);

/* What site i adds to the score when it answered with these addresses (IPv4 ones are compared; others
 * ignored): its weight when one passes its filter, else 0. */
int dnsbl_site_weight(const struct dnsbl_sites *sites, size_t i, const struct sockaddr_storage *addrs,
                      size_t naddr);

/* The name to look up for client under domain ("2.0.0.127.zen.example"). 0, or -1 when buf is small
 * or the address family is neither IPv4 nor IPv6. */
int dnsbl_query_name(const struct sockaddr *client, const char *domain, char *buf, size_t size);

typedef void dnsbl_callback(void *ctx);

/* Start looking client up in every site (sites must not be empty). cb runs once when all answers are
 * in, never inside this call. */
struct dnsbl_check *dnsbl_check_start(struct dns *dns, struct dnsbl_sites *sites,
                                      const struct sockaddr *client, dnsbl_callback *cb, void *ctx);

/* The score from the answers in so far, and the domain of the listing site with the largest positive
 * weight (NULL when none listed the client; valid while the check lives). */
int dnsbl_check_score(const struct dnsbl_check *check, const char **site_r);
bool dnsbl_check_done(const struct dnsbl_check *check);

/* Cancel lookups still running (the callback will not run), free, clear *check; NULL is allowed. */
void dnsbl_check_free(struct dnsbl_check **check);

#endif
