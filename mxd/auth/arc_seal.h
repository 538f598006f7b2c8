/*
 * arc_seal: adding our ARC set (RFC 8617 5.1) to a message we forward: ARC-Authentication-Results
 * (our Authentication-Results value), ARC-Message-Signature and ARC-Seal with the next instance and the
 * cv= of the chain it arrived with, signed with the key of arc_signing_domain and arc_selector.
 *
 * An arc_sealer holds the key, read once at start (dkim_key_directory/DOMAIN/SELECTOR.pem). Sealing is
 * pure CPU (no I/O), any thread; the sealer itself is read-only after arc_sealer_new().
 */
#ifndef MXD_ARC_SEAL_H
#define MXD_ARC_SEAL_H

#include "mxd/auth/arc_chain.h"

#include <stddef.h>

struct arc_sealer;

/* A sealer for domain and selector with the key in key_directory. 0, or -1 with *error_r (no domain,
 * missing or unusable key: the caller warns and seals nothing). */
int arc_sealer_new(const char *key_directory, const char *domain, const char *selector,
                   struct arc_sealer **sealer_r, const char **error_r);
void arc_sealer_free(struct arc_sealer **sealer);

/* The fields to put on top of msg[0..len): ARC-Seal, ARC-Message-Signature, ARC-Authentication-Results
 * (CRLF ended, allocated). cv is the validation of the chain msg carries (arc_verify). authres is the
 * value of our Authentication-Results ("authserv-id; method=result ..."). NULL without error when no
 * set may be added (the chain was terminated by a cv=fail seal, or holds 50 sets); NULL with *error_r
 * when signing failed. */
char *arc_seal(const struct arc_sealer *sealer, const char *msg, size_t len, enum arc_cv cv,
               const char *authres, long long now, const char **error_r);

#endif
