/*
 * dkim_signer: DKIM-signing messages mxd writes itself (bounces, delay warnings) for the domain of their
 * From:, with the key found at dkim_key_directory/DOMAIN/SELECTOR.pem (the selector "mxd" when that key
 * exists, else the first .pem there in name order), so they pass DMARC for that domain.
 *
 * The key is read once by dkim_signer_open() (a reload of mxd opens it again); signing is pure CPU,
 * any thread. relaxed/relaxed, rsa-sha256 or ed25519-sha256 by the key, h= the fields a DSN has
 * (dkim_sig_default_headers), From signed once more than it appears so none can be added.
 */
#ifndef MXD_DKIM_SIGNER_H
#define MXD_DKIM_SIGNER_H

#include <stddef.h>

struct dkim_signer;

/* A signer for domain (lower-cased here). 1 with *signer_r; 0 when there is no key for domain (no
 * directory, or no .pem in it); -1 with *error_r when a key is there but cannot be used. */
int dkim_signer_open(const char *key_directory, const char *domain, struct dkim_signer **signer_r,
                     const char **error_r);
void dkim_signer_free(struct dkim_signer **signer);

/* "d=DOMAIN s=SELECTOR" for logs. */
const char *dkim_signer_name(const struct dkim_signer *signer);

/* The DKIM-Signature field for msg[0..len) (CRLF line ends), to put on top; NULL with *error_r. */
char *dkim_signer_sign(const struct dkim_signer *signer, const char *msg, size_t len, long long now,
                       const char **error_r);

#endif
