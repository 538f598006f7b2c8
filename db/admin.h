/*
 * admin: the administrators of the admin UI (tables "admins", "admin_domains", "admin_tokens").
 *
 * An administrator is a superadmin (everything) or a domain admin limited to the hosted domains listed
 * for it in admin_domains (deleting a domain removes it from every list: foreign keys ON DELETE CASCADE).
 * Names are 1-64 octets of lower-case letters, digits and ".-_@" (an e-mail address works), stored
 * lower-cased. Passwords are stored only as argon2id hashes (libsodium crypto_pwhash_str, interactive
 * limits); API tokens (256 random bits, 64 hex digits, shown once) only as their SHA-256.
 *
 * Same thread rules as db.h. Every change runs in one transaction. Errors name the field ("admin
 * 'x': already exists", "password: shorter than 10 octets"), never a password; *error_r points into the
 * struct db. Returns 0, -1 on error, 1 for "not found" / "refused" where said.
 */
#ifndef MXD_DB_ADMIN_H
#define MXD_DB_ADMIN_H

#include "db/db.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DB_ADMIN_NAME_MAX     64
#define DB_ADMIN_PASSWORD_MIN 10   /* octets */
#define DB_ADMIN_PASSWORD_MAX 1024 /* octets: bounds the work of hashing */
#define DB_ADMIN_SECRET_HEX   64   /* session ids, CSRF and API tokens: 32 random octets in hex */
#define DB_ADMIN_SECRET_SIZE  (DB_ADMIN_SECRET_HEX + 1)

struct db_admin {
	char name[DB_ADMIN_NAME_MAX + 1];
	bool superadmin;
	bool active;
	char **domains; /* domain admins: NULL-terminated, sorted, malloc'd (db_admin_clear() frees) */
	size_t ndomains;
	int64_t created, modified;
};

/* Validate an administrator name and write it lower-cased into out (DB_ADMIN_NAME_MAX + 1 octets).
 * 0 or -1 with *error_r ("admin 'x': ..."). */
int db_admin_normalize(struct db *db, const char *name, char *out, const char **error_r);

/* Add an active administrator: a superadmin (domains must be empty), or a domain admin of the hosted
 * domains[0..n-1] (none is allowed: it sees nothing until some are assigned). */
int db_admin_add(struct db *db, const char *name, const char *password, bool superadmin,
                 const char *const *domains, size_t n, const char **error_r);

/* 0 found (db_admin_clear() it), 1 no such administrator, -1 error. */
int db_admin_get(struct db *db, const char *name, struct db_admin *admin_r, const char **error_r);

/* Every administrator, sorted by name; free with db_admin_list_free(). */
int db_admin_list(struct db *db, struct db_admin **list_r, size_t *n_r, const char **error_r);
void db_admin_clear(struct db_admin *admin);
void db_admin_list_free(struct db_admin **list, size_t n);

/* Delete an administrator with its domain list, tokens and sessions. */
int db_admin_del(struct db *db, const char *name, const char **error_r);

/* Set a new password; every session of the administrator ends (its API tokens stay). */
int db_admin_set_password(struct db *db, const char *name, const char *password, const char **error_r);

/* Make name a superadmin (domains ignored) or a domain admin of exactly domains[0..n-1]. */
int db_admin_set_role(struct db *db, const char *name, bool superadmin, const char *const *domains, size_t n,
                      const char **error_r);

/* Number of active superadmins. */
int db_admin_count_superadmins(struct db *db, int64_t *n_r, const char **error_r);

/* Check a login. 0 name and password match an active administrator (*admin_r filled: clear it), 1 they
 * do not (an unknown name costs the same hashing work as a known one), -1 error. A hash made with older
 * limits is replaced on success. */
int db_admin_verify(struct db *db, const char *name, const char *password, struct db_admin *admin_r,
                    const char **error_r);

/* A new API token for name into token_r (shown once: only its hash is stored). */
int db_admin_token_new(struct db *db, const char *name, char token_r[DB_ADMIN_SECRET_SIZE],
                       const char **error_r);

/* 0 token belongs to an active administrator (*admin_r filled), 1 unknown token, -1 error. */
int db_admin_token_verify(struct db *db, const char *token, struct db_admin *admin_r, const char **error_r);

/* Revoke every API token of name; *n_r (may be NULL) gets how many there were. */
int db_admin_token_revoke(struct db *db, const char *name, int64_t *n_r, const char **error_r);

/* Does the domain admin manage domain (lower-case)? Superadmins manage every domain. */
bool db_admin_manages(const struct db_admin *admin, const char *domain);

/* nbytes random octets (libsodium) as lower-case hex into out (2 * nbytes + 1 octets). */
void db_admin_random_hex(char *out, size_t nbytes);

/* SHA-256 of secret as lower-case hex into out (DB_ADMIN_SECRET_SIZE octets). */
void db_admin_hash_hex(const char *secret, char out[DB_ADMIN_SECRET_SIZE]);

/* Is s exactly DB_ADMIN_SECRET_HEX lower-case hex digits? */
bool db_admin_secret_valid(const char *s);

#endif
