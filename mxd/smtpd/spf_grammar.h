/*
 * spf_grammar: RFC 7208's grammar for SPF records (section 12), checked before libspf2 sees a record,
 * and the rewrite of a valid record into the dialect libspf2 1.2.10 evaluates the way RFC 7208 says.
 *
 * OWNS nothing: pure functions over caller buffers; thread-safe; no allocation. Runs in the sandboxed
 * SPF helper (spf_helper.c) on records any sender controls, so every input is hostile (fuzz_spf_grammar).
 *
 * CHECK: a record is "v=spf1" followed by terms separated by spaces; every octet is visible ASCII (a
 * control character or an octet >= 0x80 is an error); mechanisms, qualifiers, CIDR lengths (no leading
 * zeros, at most 32 or 128), IPv4 and IPv6 networks, domain-specs (macro-strings ending in a macro or a
 * top label that is not numeric), macros (known letters; c, r and t only in explanations; no zero digit
 * transformer), at most one redirect= and one exp=, unknown modifiers' names and values. Any error is a
 * permerror for the whole record (RFC 7208 4.6), whatever the order of its terms.
 *
 * REWRITE (what libspf2 would get wrong otherwise):
 *  - unknown modifiers are dropped (RFC 7208 6: ignored; libspf2 refuses some legal names);
 *  - redirect= is dropped when the record has an "all" (RFC 7208 6.1), and else moved last;
 *  - a CIDR length of 0 (libspf2 refuses it): ip4:x/0 and ip6:x/0 become the two halves of the address
 *    space (/1 each); a and mx with /0 for the client's family become "exists" on a name ending in
 *    SPF_GRAMMAR_SUFFIX_*, which the helper's DNS layer answers by the lookups the mechanism means
 *    (any A/AAAA of the name, or of its MX hosts);
 *  - the CIDR length of the other family is dropped (it cannot matter for this client).
 */
#ifndef MXD_SPF_GRAMMAR_H
#define MXD_SPF_GRAMMAR_H

#include <stdbool.h>
#include <stddef.h>

/* exists:<target><suffix>: "does <target> (its MX hosts) have an address of the client's family?" */
#define SPF_GRAMMAR_SUFFIX_A4  "._a4-0.mxd.invalid"
#define SPF_GRAMMAR_SUFFIX_A6  "._a6-0.mxd.invalid"
#define SPF_GRAMMAR_SUFFIX_MX4 "._mx4-0.mxd.invalid"
#define SPF_GRAMMAR_SUFFIX_MX6 "._mx6-0.mxd.invalid"

/* Room the rewrite of a record of len octets may need, with its final NUL. */
#define SPF_GRAMMAR_OUT_SIZE(len) ((len)*12 + 64)

/* Is text[0..len) an SPF record at all: "v=spf1" (any case) followed by a space or its end? */
bool spf_grammar_is_record(const char *text, size_t len);

/* Check the record text[0..len) and write its rewrite for a client of family (AF_INET, AF_INET6) into
 * out (out_size >= SPF_GRAMMAR_OUT_SIZE(len)), NUL-terminated. 0, or -1 with *error_r (static text
 * naming the fault) when the record breaks RFC 7208's grammar. */
int spf_grammar_rewrite(const char *text, size_t len, int family, char *out, size_t out_size,
                        const char **error_r);

#endif
