/*
 * dkim_sig: DKIM-style signature fields (RFC 6376 3.5, 3.7): DKIM-Signature itself and, with other
 * header field names, ARC-Message-Signature and ARC-Seal (RFC 8617), which sign the same way. Makes
 * them (body hash, header selection, the field with its b=) and checks them against a known key.
 *
 * Pure, any thread; keys belong to the caller. Returned strings are allocated. Errors are -1 with
 * *error_r, static text.
 */
#ifndef MXD_DKIM_SIG_H
#define MXD_DKIM_SIG_H

#include "mxd/auth/dkim_canon.h"
#include "mxd/auth/dkim_tag.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>

/* The fields mxd signs when present, in this order (From always; an absent From is signed as absent). */
extern const char *const dkim_sig_default_headers[];

/* A new signature field. */
struct dkim_sig_params {
	const char *field;    /* "DKIM-Signature" or "ARC-Message-Signature" */
	const char *first;    /* the tags that open the value: "v=1" or "i=2" */
	const char *domain;   /* d= */
	const char *selector; /* s= */
	EVP_PKEY *key;
	const char *const *headers; /* NULL-terminated names to sign where present; NULL: the default */
	long long timestamp;        /* t=; 0 for none */
};

/* Sign message m with relaxed/relaxed: the whole field, folded, ending in CRLF. NULL on a signing error
 * with *error_r. */
char *dkim_sig_sign(const struct header_list *m, const struct dkim_sig_params *p, const char **error_r);

/* The base64 SHA-256 of the canonicalized body (l= octets of it when l >= 0). */
char *dkim_sig_body_hash(const char *body, size_t len, bool relaxed, long long l);

/* Finish a signature over fields[0..n) (each canonicalized relaxed): head is the field to make, from its
 * name to "b=" included; returns head, the base64 signature folded, CRLF. */
char *dkim_sig_seal_fields(const struct header_field *const *fields, size_t n, const char *head,
                           EVP_PKEY *key, const char **error_r);

/* Does signature field sig (tags parsed into tags) sign fields[0..n), canonicalized relaxed or simple,
 * with key? 0 yes, -1 no with *error_r. */
int dkim_sig_check_fields(const struct header_field *const *fields, size_t n, const struct header_field *sig,
                          const struct dkim_tag_list *tags, bool relaxed, EVP_PKEY *key,
                          const char **error_r);

/* Verify a DKIM-Signature or ARC-Message-Signature field sig of message m (tags parsed) with key: c=
 * (default c_default), h=, bh= and b=. 0, or -1 with *error_r. */
int dkim_sig_verify(const struct header_list *m, const struct header_field *sig,
                    const struct dkim_tag_list *tags, const char *c_default, EVP_PKEY *key,
                    const char **error_r);

#endif
