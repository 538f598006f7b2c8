/*
 * dns_private: what the resolver's files share: dns.c (lookups, queries, stages, the resolver),
 * dns_name.c (names) and dns_result.c (answers and results). Event-loop thread only, like dns.h; nothing
 * outside mxd/dns includes it. Strings returned as char * are allocated; the caller frees them.
 */
#ifndef MXD_DNS_PRIVATE_H
#define MXD_DNS_PRIVATE_H

#include "mxd/dns/dns.h"

#include <stdbool.h>
#include <stddef.h>

struct ub_result;

#define DNS_TYPE_A         1
#define DNS_TYPE_MX        15
#define DNS_TYPE_TXT       16
#define DNS_TYPE_AAAA      28
#define DNS_CLASS_IN       1
#define DNS_RCODE_NOERROR  0
#define DNS_RCODE_FORMERR  1
#define DNS_RCODE_SERVFAIL 2
#define DNS_RCODE_NXDOMAIN 3
#define DNS_RCODE_NOTIMP   4
#define DNS_RCODE_REFUSED  5
#define DNS_NAME_MAX       253 /* text form, no trailing dot */
#define DNS_LABEL_MAX      63

/* dns_name.c */
/* Lower-case copy of name without one trailing dot. */
char *dns_name_normalize(const char *name);
/* Can name (normalized) exist in the DNS as a host or mail domain? 0 or -1 with *error_r (static text). */
int dns_name_check(const char *name, const char **error_r);
/* The uncompressed wire-format name data[0..len) as lower-case text without the final dot into out
 * ("" for the root). 0, or -1 when malformed or holding bytes a host name cannot have. */
int dns_name_from_wire(const unsigned char *data, size_t len, char *out, size_t out_size);

/* dns_result.c */
/* Why an answer is not usable, as text for a result's detail: "name=... type=...: why". */
char *dns_result_detail(const char *name, int rrtype, const char *why);
/* The outcome of one answer: OK (data), NXDOMAIN, NO_ADDR (the name exists, no data of the type) or
 * TEMPFAIL, with a reason (static text) for anything but OK. */
enum dns_status dns_result_answer_status(int err, const struct ub_result *res, const char **why_r);
/* Append a host (name copied) to r, status DNS_OK and no address yet; the pointer lasts until the next
 * append. */
struct dns_host *dns_result_add_host(struct dns_result *r, const char *name, unsigned preference);
/* Append the TXT record data[0..len) (character-strings) to r as one string. 0, or -1 when malformed. */
int dns_result_add_txt(struct dns_result *r, const unsigned char *data, size_t len);
/* Set r's status and its detail (taken; NULL for none), freeing the old detail. */
void dns_result_set(struct dns_result *r, enum dns_status status, char *detail);

#endif
