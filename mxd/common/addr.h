/*
 * addr: syntax of domains and mailbox addresses as they are stored in the tables and compared.
 *
 * Limits follow RFC 5321 4.5.3.1: local part 64 octets, domain 255, address 254 (path 256 with <>).
 * A stored address is "local@domain" with a dot-atom local part (atext, '.', or UTF-8 octets for
 * SMTPUTF8) and an LDH domain (UTF-8 U-labels allowed); both compare case-insensitively (ASCII), so
 * addr_normalize() lower-cases them. Pure functions; thread-safe. Error strings are static.
 */
#ifndef MXD_ADDR_H
#define MXD_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#define ADDR_LOCAL_MAX  64
#define ADDR_DOMAIN_MAX 255
#define ADDR_MAX        254
#define ADDR_PATH_MAX   256

/* Is c an RFC 5322 atext character (letters, digits and !#$%&'*+-/=?^_`{|}~)? */
bool addr_is_atext(unsigned char c);

/* A valid domain: labels of letters, digits, '-' (not at a label's ends) or UTF-8 octets, 1-63 octets
 * each, at least two labels, 255 octets at most. 0 or -1 with *error_r. */
int addr_domain_valid(const char *domain, const char **error_r);

/* As addr_domain_valid(), but a single label ("localhost") is allowed: RFC 5321 syntax, which leaves
 * the demand for a fully-qualified name to policy. */
int addr_hostname_valid(const char *domain, const char **error_r);

/* As addr_hostname_valid(), but labels over 63 octets pass: RFC 5321's grammar allows them, no DNS query
 * can carry them, and RFC 7208 4.3 gives such a sender SPF "none". */
int addr_hostname_loose_valid(const char *domain, const char **error_r);

/* A valid dot-atom local part (1-64 octets, no leading, trailing or double dot). 0 or -1 with *error_r. */
int addr_local_valid(const char *local, const char **error_r);

/* Validate "local@domain" and write its lower-cased form into out (out_size >= ADDR_MAX + 1).
 * 0 or -1 with *error_r. */
int addr_normalize(const char *address, char *out, size_t out_size, const char **error_r);

/* The domain part of a normalized address (after the last '@'), or NULL. */
const char *addr_domain(const char *address);

#endif
