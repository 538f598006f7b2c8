/*
 * dkim_verify: DKIM signatures of a received message checked with libopendkim (RFC 6376). The keys
 * come from the caller, already looked up through mxd/dns (msg_auth.c prefetches them): libopendkim
 * never touches the DNS itself (its key lookup is overridden and its own resolver is never started), so
 * a check is CPU work only and runs in the event loop. It hashes the body once per signature's
 * canonicalization; RSA-2048 verification is about 20 us.
 *
 * OWNS one DKIM_LIB for the process (dkim_verify_new / dkim_verify_free), used from one thread.
 */
#ifndef MXD_DKIM_VERIFY_H
#define MXD_DKIM_VERIFY_H

#include "mxd/dns/dns.h"

#include <stddef.h>

struct evbuffer;
struct dkim_verify;

#define DKIM_VERIFY_DOMAIN_MAX 254
#define DKIM_VERIFY_SIGS_MAX   8 /* signatures checked per message; more are reported as policy */

/* A key record as the DNS gave it: name is "selector._domainkey.domain" lower-cased; status of its
 * TXT lookup; txt the first record when OK (not owned). */
struct dkim_verify_key {
	const char *name;
	enum dns_status status;
	const char *txt;
};

/* The outcome of one signature, as RFC 8601 names it: "pass", "fail", "neutral", "policy",
 * "temperror" or "permerror"; why (static text) for anything but pass; b is the first 8 characters
 * of its b= tag (header.b, RFC 6008). */
struct dkim_verify_sig {
	char domain[DKIM_VERIFY_DOMAIN_MAX];
	char selector[DKIM_VERIFY_DOMAIN_MAX];
	char b[12];
	const char *result;
	const char *why;
};

struct dkim_verify *dkim_verify_new(const char **error_r);
void dkim_verify_free(struct dkim_verify **v);

/* Check the signatures of the message msg[offset..] (CRLF lines, header then body) against keys.
 * *sigs_r (allocated, at most DKIM_VERIFY_SIGS_MAX entries; the caller frees it) and *nsig_r get one
 * entry per signature; none when it has no signature. 0, or -1 when libopendkim failed as a whole
 * (*error_r, static text). */
int dkim_verify_message(struct dkim_verify *v, struct evbuffer *msg, size_t offset,
                        const struct dkim_verify_key *keys, size_t nkeys, struct dkim_verify_sig **sigs_r,
                        size_t *nsig_r, const char **error_r);

#endif
