/*
 * srs: the Sender Rewriting Scheme, in the address format of libsrs2 (and so of postsrsd), so that
 * operators can move from Postfix + postsrsd without breaking bounces to addresses already sent out.
 *
 * A forwarder that keeps the original envelope sender sends mail "from" other people's domains out
 * of its own address, and SPF at the destination fails. So mail we forward leaves with a sender at
 * srs_domain that says, signed, where a bounce has to go:
 *
 *   alice@example.org                    -> SRS0=HHHH=TT=example.org=alice@srs_domain
 *   SRS0=hhhh=tt=example.org=alice@fwd.example (another forwarder's)
 *                                        -> SRS1=HHHH=fwd.example==hhhh=tt=example.org=alice@srs_domain
 *   SRS1=gggg=fwd.example==...@other.example -> SRS1=HHHH=fwd.example==...@srs_domain
 *
 * TT is the day (seconds since the epoch / 86400, modulo 1024) in two base32 characters
 * (A-Z, 2-7); HHHH is the first four base64 characters of HMAC-SHA1(secret, data) where data is the
 * lower-cased concatenation of TT, domain and local part (SRS0), or of the first forwarder's domain and
 * the rest of the address after it (SRS1). Bounces to an SRS0 address of ours are reversed to the
 * original sender when the hash is right and the stamp at most SRS_MAX_AGE_DAYS old; bounces to an
 * SRS1 address go to the first forwarder as its SRS0 address (it checks its own signature). Hashes
 * compare case-insensitively (some MTAs lower-case addresses), as in libsrs2.
 *
 * Secrets: the secret file holds one per line (blank lines and '#' lines are skipped); the first one
 * signs, every one verifies, so a new secret goes on the first line and the old one stays below it
 * for SRS_MAX_AGE_DAYS.
 *
 * Not rewritten: the null sender, senders at srs_domain itself, senders at srs_exclude_domains (exact
 * domain match), and senders whose local part is not a dot-atom (a quoted local part cannot be
 * carried inside another one).
 *
 * A struct srs is read-only once made: any thread may use it. The error strings are static.
 */
#ifndef MXD_SRS_H
#define MXD_SRS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct srs;

#define SRS_MAX_AGE_DAYS 21
#define SRS_ADDRESS_MAX  1024 /* buffer for a rewritten address */

/* SRS for srs_domain with the secrets of secret_file; exclude_domains is a list value (comma or space
 * separated). An empty domain turns SRS off: 0 with *srs_r = NULL, which every function here accepts.
 * 0, or -1 with *error_r (the file cannot be read, or holds no secret). */
int srs_new(const char *domain, const char *secret_file, const char *exclude_domains, struct srs **srs_r,
            const char **error_r);

/* The same with secrets given in memory (secrets[0] signs). Never NULL; domain must not be empty. */
struct srs *srs_new_secrets(const char *domain, const char *const *secrets, size_t nsecret,
                            const char *exclude_domains);

void srs_free(struct srs **srs);

/* The envelope sender to use when forwarding mail from sender at time now (seconds since the epoch):
 * the rewritten address in buf (size bytes, SRS_ADDRESS_MAX is always enough), or sender itself when
 * it is not rewritten (see above; also when srs is NULL or the result does not fit). */
const char *srs_forward(const struct srs *srs, const char *sender, int64_t now, char *buf, size_t size);

/* Does address look like one of our SRS addresses (SRS0 or SRS1 local part at srs_domain)? Only the
 * form is looked at; srs_reverse() checks the signature. */
bool srs_is_srs_address(const struct srs *srs, const char *address);

/* The address a bounce to our SRS address has to go to, into buf. 0, or -1 with *error_r ("not an SRS
 * address", "malformed SRS address", "SRS hash invalid", "SRS address expired") when the address was
 * forged, tampered with or is too old. */
int srs_reverse(const struct srs *srs, const char *address, int64_t now, char *buf, size_t size,
                const char **error_r);

#endif
