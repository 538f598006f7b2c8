/*
 * auth_results: the one Authentication-Results header field (RFC 8601) mxd adds to a message: a list
 * of results (spf, dkim per signature, dmarc; arc from the ARC verifier), each a method, a result, an
 * optional comment and properties, written in the order added. The same list gives the summary logged
 * with the message. Event-loop thread of the session that owns it; auth_results_free() releases it.
 * Values from the client or the DNS are quoted or replaced (header_field.h), never copied raw.
 */
#ifndef MXD_AUTH_RESULTS_H
#define MXD_AUTH_RESULTS_H

struct auth_results;

/* An empty list for authserv_id (our myhostname). */
struct auth_results *auth_results_new(const char *authserv_id);
void auth_results_free(struct auth_results **ar);

/* Add "method=result", then "(comment)" unless comment is NULL, then properties as pairs of
 * "ptype.property" and value, NULL-terminated; a NULL or empty value leaves its property out. e.g.
 * auth_results_add(ar, "dkim", "pass", NULL, "header.d", "example.com", "header.s", "s1", NULL). */
void auth_results_add(struct auth_results *ar, const char *method, const char *result, const char *comment,
                      ...) __attribute__((sentinel));

/* The header field, folded, ending in CRLF ("none" when nothing was added); allocated. */
char *auth_results_header(const struct auth_results *ar);

/* "spf=pass dkim=pass(example.com) dmarc=fail(p=reject)" style summary for mail.log; allocated. */
char *auth_results_summary(const struct auth_results *ar);

#endif
