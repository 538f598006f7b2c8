/*
 * dkim_keydir: the DKIM private keys kept under dkim_key_directory, one file per key,
 * DIRECTORY/DOMAIN/SELECTOR.pem (PKCS#8 PEM, RSA or Ed25519), and the DNS TXT record that publishes each.
 * mxctl dkim, the self-check (check.h) and the admin UI use it; the signers read the same files.
 *
 * FILES: dkim_keydir_write() creates the domain's directory (0750) and the key (0640) without following a
 * symbolic link, and never replaces a key unless asked to; when gid is not -1 both are given to group gid
 * (root:mxd, as mxd reads them after dropping root). Keys are loaded with dkim_key_load() of
 * mxd/auth/dkim_key.h (the signers' own loader) and freed by the caller (EVP_PKEY_free()). Strings returned
 * as char * are malloc'd; the caller frees them.
 *
 * RETURNS: 0 or -1 with *error_r (static text, valid until the next call in this thread) naming what is
 * wrong.
 */
#ifndef MXD_DKIM_KEYDIR_H
#define MXD_DKIM_KEYDIR_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define DKIM_SELECTOR_MAX 63

/* A key found under the directory. */
struct dkim_keydir_entry {
	char *domain;
	char *selector;
	char *path;
};

/* A selector is one DNS label or several (letters, digits, '-', '_'; RFC 6376 3.1). */
int dkim_keydir_selector_valid(const char *selector, const char **error_r);

/* DIRECTORY/DOMAIN/SELECTOR.pem */
char *dkim_keydir_path(const char *dir, const char *domain, const char *selector);

/* A new key: type "rsa" (2048 bits) or "ed25519". */
int dkim_keydir_generate(const char *type, EVP_PKEY **key_r, const char **error_r);

/* Write key to its file (see FILES). force: replace an existing key. */
int dkim_keydir_write(const char *dir, const char *domain, const char *selector, EVP_PKEY *key, bool force,
                      gid_t gid, const char **error_r);

/* The TXT record that publishes key: "v=DKIM1; k=rsa; p=..." (or k=ed25519 with the raw public key,
 * RFC 8463). */
int dkim_keydir_record(EVP_PKEY *key, char **record_r, const char **error_r);

/* record as a zone-file line for SELECTOR._domainkey.DOMAIN., its text cut into quoted strings of
 * at most 255 octets. */
char *dkim_keydir_zone_line(const char *domain, const char *selector, const char *record);

/* Every key under dir, sorted by domain then selector (*n_r 0 and *keys_r NULL when the directory
 * holds none or does not exist). */
int dkim_keydir_list(const char *dir, struct dkim_keydir_entry **keys_r, size_t *n_r, const char **error_r);
void dkim_keydir_list_free(struct dkim_keydir_entry **keys, size_t n);

/* Does a published TXT record (untrusted text from the DNS) publish the same key as expected (a record
 * of dkim_keydir_record())? Compares v=, k= (default rsa) and p= with folding white space removed.
 * true when equal; else false with *why_r (static) saying what differs. */
bool dkim_keydir_record_matches(const char *published, const char *expected, const char **why_r);

#endif
