/*
 * dkim_key: DKIM keys on OpenSSL. Private keys are read from dkim_key_directory/DOMAIN/SELECTOR.pem
 * (PEM, PKCS#8; RSA or Ed25519, as `mxctl dkim keygen` writes them); public keys come from a DNS key
 * record ("v=DKIM1; k=rsa; p=..."). Signs and verifies with rsa-sha256 or ed25519-sha256 (RFC 8463).
 *
 * Any thread. Keys are OpenSSL's EVP_PKEY (free with EVP_PKEY_free()); returned strings are allocated.
 * Errors come back as -1 with *error_r, static text or a string valid until the next call in the thread.
 */
#ifndef MXD_DKIM_KEY_H
#define MXD_DKIM_KEY_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>

/* The path of the key of (domain, selector) under directory (allocated). */
char *dkim_key_path(const char *directory, const char *domain, const char *selector);

/* Read a private key. 0, or -1 with *error_r (missing file, unreadable, not an RSA or Ed25519 key, RSA
 * under 1024 bits). */
int dkim_key_load(const char *path, EVP_PKEY **key_r, const char **error_r);

/* "rsa-sha256" or "ed25519-sha256" for key. */
const char *dkim_key_algorithm(const EVP_PKEY *key);

/* The public key of a DNS key record. 0, or -1 with *error_r (malformed, revoked (empty p=), wrong
 * k= or v=). */
int dkim_key_from_record(const char *record, EVP_PKEY **key_r, const char **error_r);

/* Sign data[0..len) (the canonicalized headers) with key; *b64_r is the base64 signature. 0 or -1. */
int dkim_key_sign(EVP_PKEY *key, const void *data, size_t len, char **b64_r, const char **error_r);

/* Does b64 (blanks allowed) sign data[0..len) with key under algorithm a= ("rsa-sha256",
 * "ed25519-sha256")? 0 yes, -1 no with *error_r. */
int dkim_key_verify(EVP_PKEY *key, const char *algorithm, const void *data, size_t len, const char *b64,
                    const char **error_r);

/* Base64 of data (allocated), and the octets of b64 (blanks skipped; NULL when malformed). */
char *dkim_base64_encode(const unsigned char *data, size_t len);
unsigned char *dkim_base64_decode(const char *b64, size_t *len_r);

#endif
