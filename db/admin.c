/*
 * admin: see admin.h. Owns the rows of "admins", "admin_domains" and "admin_tokens", and the hashing
 * of passwords and tokens. Sessions are admin_session.c's.
 */
#include "db/admin.h"

#include "db/db_private.h"
#include "db/domain.h"
#include "mxd/common/util.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define ADMIN_OPSLIMIT crypto_pwhash_OPSLIMIT_INTERACTIVE
#define ADMIN_MEMLIMIT crypto_pwhash_MEMLIMIT_INTERACTIVE

static pthread_once_t admin_once = PTHREAD_ONCE_INIT;
static char admin_dummy_hash[crypto_pwhash_STRBYTES]; /* verified against for unknown names */
static bool admin_sodium_ok;

static void admin_init_once(void)
{
	char pw[33];

	if (sodium_init() < 0)
		return;
	db_admin_random_hex(pw, 16);
	admin_sodium_ok =
	    crypto_pwhash_str(admin_dummy_hash, pw, strlen(pw), ADMIN_OPSLIMIT, ADMIN_MEMLIMIT) == 0;
	sodium_memzero(pw, sizeof(pw));
}

static int admin_init(struct db *db, const char **error_r)
{
	pthread_once(&admin_once, admin_init_once);
	if (!admin_sodium_ok)
		return db_input_error(db, error_r,
		                      "password hashing unavailable (libsodium initialization or "
		                      "memory for argon2id failed)");
	return 0;
}

void db_admin_random_hex(char *out, size_t nbytes)
{
	unsigned char raw[64];

	if (nbytes > sizeof(raw))
		abort();
	randombytes_buf(raw, nbytes);
	sodium_bin2hex(out, 2 * nbytes + 1, raw, nbytes);
	sodium_memzero(raw, sizeof(raw));
}

void db_admin_hash_hex(const char *secret, char out[DB_ADMIN_SECRET_SIZE])
{
	unsigned char digest[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(digest, (const unsigned char *)secret, strlen(secret));
	sodium_bin2hex(out, DB_ADMIN_SECRET_SIZE, digest, sizeof(digest));
}

bool db_admin_secret_valid(const char *s)
{
	size_t n = 0;
	for (; s[n] != '\0'; n++) {
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')) ||
		    n >= DB_ADMIN_SECRET_HEX)
			return false;
	}
	return n == DB_ADMIN_SECRET_HEX;
}

int db_admin_normalize(struct db *db, const char *name, char *out, const char **error_r)
{
	size_t len = strlen(name);

	if (len == 0)
		return db_input_error(db, error_r, "admin '': empty name");
	if (len > DB_ADMIN_NAME_MAX)
		return db_input_error(db, error_r, "admin '%.32s...': longer than %d octets", name,
		                      DB_ADMIN_NAME_MAX);
	for (const char *p = name; *p != '\0'; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == '_' || c == '@'))
			return db_input_error(
			    db, error_r, "admin '%s': only letters, digits and . - _ @ are allowed", name);
	}
	str_copy(out, DB_ADMIN_NAME_MAX + 1, name);
	str_lower(out);
	return 0;
}

static int password_valid(struct db *db, const char *password, const char **error_r)
{
	size_t len = strlen(password);

	if (len < DB_ADMIN_PASSWORD_MIN)
		return db_input_error(db, error_r, "password: shorter than %d octets", DB_ADMIN_PASSWORD_MIN);
	if (len > DB_ADMIN_PASSWORD_MAX)
		return db_input_error(db, error_r, "password: longer than %d octets", DB_ADMIN_PASSWORD_MAX);
	return 0;
}

static int password_hash(struct db *db, const char *password, char hash_r[crypto_pwhash_STRBYTES],
                         const char **error_r)
{
	if (admin_init(db, error_r) < 0 || password_valid(db, password, error_r) < 0)
		return -1;
	if (crypto_pwhash_str(hash_r, password, strlen(password), ADMIN_OPSLIMIT, ADMIN_MEMLIMIT) != 0)
		return db_input_error(db, error_r, "password: hashing failed (out of memory)");
	return 0;
}

/* Replace name's domain list with domains[0..n-1] (inside the caller's transaction). */
static int admin_domains_store(struct db *db, const char *name, const char *const *domains, size_t n,
                               const char **error_r)
{
	static const char del_sql[] = "DELETE FROM admin_domains WHERE admin = ?1";
	static const char ins_sql[] = "INSERT OR IGNORE INTO admin_domains (admin, domain, created, modified)"
	                              " VALUES (?1, ?2, ?3, ?3)";
	char domain[ADDR_DOMAIN_MAX + 1];
	struct db_domain d;

	if (db_exec(db, del_sql, DB_PARAMS(DB_TEXT(name)), "clear admin domains", error_r) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (db_domain_normalize(db, "domain", domains[i], domain, error_r) < 0)
			return -1;
		int rc = db_domain_get(db, domain, &d, error_r);
		if (rc > 0)
			return db_input_error(db, error_r, "domain '%s': not a hosted domain", domain);
		if (rc < 0)
			return -1;
		if (db_exec(db, ins_sql, DB_PARAMS(DB_TEXT(name), DB_TEXT(domain), DB_INT(time_now())),
		            "assign admin domain", error_r) < 0)
			return -1;
	}
	return 0;
}

int db_admin_add(struct db *db, const char *name, const char *password, bool superadmin,
                 const char *const *domains, size_t n, const char **error_r)
{
	static const char sql[] =
	    "INSERT INTO admins (name, password_hash, superadmin, active, created, modified)"
	    " VALUES (?1, ?2, ?3, 1, ?4, ?4)";
	char norm[DB_ADMIN_NAME_MAX + 1], hash[crypto_pwhash_STRBYTES];
	struct db_admin existing;

	if (db_admin_normalize(db, name, norm, error_r) < 0)
		return -1;
	if (superadmin && n > 0)
		return db_input_error(db, error_r,
		                      "domain: a superadmin manages every domain (give no domains)");
	if (password_hash(db, password, hash, error_r) < 0)
		return -1;
	if (db_begin(db, error_r) < 0)
		return -1;
	int rc = db_admin_get(db, norm, &existing, error_r);
	if (rc == 0) {
		db_admin_clear(&existing);
		db_input_error(db, error_r, "admin '%s': already exists", norm);
	}
	if (rc <= 0)
		goto fail;
	if (db_exec(db, sql,
	            DB_PARAMS(DB_TEXT(norm), DB_TEXT(hash), DB_INT(superadmin ? 1 : 0), DB_INT(time_now())),
	            "add admin", error_r) < 0)
		goto fail;
	if (admin_domains_store(db, norm, domains, n, error_r) < 0)
		goto fail;
	return db_commit(db, error_r);
fail:
	db_rollback(db);
	return -1;
}

static int domain_name_from_row(sqlite3_stmt *stmt, void *item)
{
	const unsigned char *d = sqlite3_column_text(stmt, 0);
	*(char **)item = xstrdup(d != NULL ? (const char *)d : "");
	return 0;
}

static void domain_name_clear(void *item)
{
	free(*(char **)item);
}

static const struct db_rows domain_name_rows = {sizeof(char *), domain_name_from_row, domain_name_clear};

/* Fill admin's domain list (NULL-terminated, never NULL itself once read). */
static int admin_load_domains(struct db *db, struct db_admin *admin, const char **error_r)
{
	static const char sql[] = "SELECT domain FROM admin_domains WHERE admin = ?1 ORDER BY domain";
	char **list;
	size_t n;

	admin->domains = NULL;
	admin->ndomains = 0;
	if (db_rows_list(db, sql, DB_PARAMS(DB_TEXT(admin->name)), &domain_name_rows, &list, &n,
	                 "list admin domains", error_r) < 0)
		return -1;
	admin->domains = xrealloc(list, (n + 1) * sizeof(char *));
	admin->domains[n] = NULL;
	admin->ndomains = n;
	return 0;
}

static int admin_from_row(sqlite3_stmt *stmt, void *item)
{
	struct db_admin *a = item;

	memset(a, 0, sizeof(*a));
	db_column_copy(stmt, 0, a->name, sizeof(a->name));
	a->superadmin = sqlite3_column_int(stmt, 1) != 0;
	a->active = sqlite3_column_int(stmt, 2) != 0;
	a->created = sqlite3_column_int64(stmt, 3);
	a->modified = sqlite3_column_int64(stmt, 4);
	return 0;
}

static void admin_clear(void *item)
{
	db_admin_clear(item);
}

static const struct db_rows admin_rows = {sizeof(struct db_admin), admin_from_row, admin_clear};

struct admin_row {
	struct db_admin *admin;
	char *hash; /* NULL: not wanted */
};

static int admin_row_from_row(sqlite3_stmt *stmt, void *ctx)
{
	struct admin_row *row = ctx;

	admin_from_row(stmt, row->admin);
	if (row->hash != NULL)
		db_column_copy(stmt, 5, row->hash, crypto_pwhash_STRBYTES);
	return 0;
}

/* Look up the normalized name; with hash_r, also copy its password hash. 0, 1 not found, -1. */
static int admin_lookup(struct db *db, const char *norm, struct db_admin *admin_r, char *hash_r,
                        const char **error_r)
{
	static const char sql[] =
	    "SELECT name, superadmin, active, created, modified, password_hash FROM admins WHERE name = ?1";
	struct admin_row row = {admin_r, hash_r};

	int ret =
	    db_row_get(db, sql, DB_PARAMS(DB_TEXT(norm)), admin_row_from_row, &row, "look up admin", error_r);
	if (ret == 0 && admin_load_domains(db, admin_r, error_r) < 0) {
		db_admin_clear(admin_r);
		return -1;
	}
	return ret;
}

int db_admin_get(struct db *db, const char *name, struct db_admin *admin_r, const char **error_r)
{
	char norm[DB_ADMIN_NAME_MAX + 1];

	if (db_admin_normalize(db, name, norm, error_r) < 0)
		return -1;
	return admin_lookup(db, norm, admin_r, NULL, error_r);
}

int db_admin_list(struct db *db, struct db_admin **list_r, size_t *n_r, const char **error_r)
{
	static const char sql[] =
	    "SELECT name, superadmin, active, created, modified FROM admins ORDER BY name";
	struct db_admin *list;
	size_t n;

	*list_r = NULL;
	*n_r = 0;
	if (db_rows_list(db, sql, DB_NO_PARAMS, &admin_rows, &list, &n, "list admins", error_r) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (admin_load_domains(db, &list[i], error_r) < 0) {
			db_admin_list_free(&list, n);
			return -1;
		}
	}
	*list_r = list;
	*n_r = n;
	return 0;
}

void db_admin_clear(struct db_admin *admin)
{
	for (size_t i = 0; admin->domains != NULL && admin->domains[i] != NULL; i++)
		free(admin->domains[i]);
	free(admin->domains);
	admin->domains = NULL;
	admin->ndomains = 0;
}

void db_admin_list_free(struct db_admin **list, size_t n)
{
	db_list_free(list, n, &admin_rows);
}

/* db_change()'s answer for name: "no such admin" when no row changed. */
static int admin_changed(struct db *db, int rc, const char *name, const char **error_r)
{
	if (rc > 0)
		return db_input_error(db, error_r, "admin '%s': no such admin", name);
	return rc;
}

int db_admin_del(struct db *db, const char *name, const char **error_r)
{
	static const char sql[] = "DELETE FROM admins WHERE name = ?1";
	char norm[DB_ADMIN_NAME_MAX + 1];

	if (db_admin_normalize(db, name, norm, error_r) < 0)
		return -1;
	int rc = db_change(db, sql, DB_PARAMS(DB_TEXT(norm)), "delete admin", error_r);
	return admin_changed(db, rc, norm, error_r);
}

int db_admin_set_password(struct db *db, const char *name, const char *password, const char **error_r)
{
	static const char sql[] = "UPDATE admins SET password_hash = ?2, modified = ?3 WHERE name = ?1";
	static const char sessions_sql[] = "DELETE FROM admin_sessions WHERE admin = ?1";
	char norm[DB_ADMIN_NAME_MAX + 1], hash[crypto_pwhash_STRBYTES];

	if (db_admin_normalize(db, name, norm, error_r) < 0 || password_hash(db, password, hash, error_r) < 0)
		return -1;
	if (db_begin(db, error_r) < 0)
		return -1;
	int rc = db_change(db, sql, DB_PARAMS(DB_TEXT(norm), DB_TEXT(hash), DB_INT(time_now())),
	                   "set admin password", error_r);
	if (admin_changed(db, rc, norm, error_r) < 0 ||
	    db_exec(db, sessions_sql, DB_PARAMS(DB_TEXT(norm)), "end admin sessions", error_r) < 0)
		goto fail;
	return db_commit(db, error_r);
fail:
	db_rollback(db);
	return -1;
}

int db_admin_set_role(struct db *db, const char *name, bool superadmin, const char *const *domains, size_t n,
                      const char **error_r)
{
	static const char sql[] = "UPDATE admins SET superadmin = ?2, modified = ?3 WHERE name = ?1";
	char norm[DB_ADMIN_NAME_MAX + 1];

	if (db_admin_normalize(db, name, norm, error_r) < 0)
		return -1;
	if (db_begin(db, error_r) < 0)
		return -1;
	int rc = db_change(db, sql, DB_PARAMS(DB_TEXT(norm), DB_INT(superadmin ? 1 : 0), DB_INT(time_now())),
	                   "set admin role", error_r);
	if (admin_changed(db, rc, norm, error_r) < 0)
		goto fail;
	if (admin_domains_store(db, norm, superadmin ? NULL : domains, superadmin ? 0 : n, error_r) < 0)
		goto fail;
	return db_commit(db, error_r);
fail:
	db_rollback(db);
	return -1;
}

int db_admin_count_superadmins(struct db *db, int64_t *n_r, const char **error_r)
{
	static const char sql[] = "SELECT count(*) FROM admins WHERE superadmin = 1 AND active = 1";
	return db_query_int64(db, sql, "count superadmins", n_r, error_r);
}

int db_admin_verify(struct db *db, const char *name, const char *password, struct db_admin *admin_r,
                    const char **error_r)
{
	static const char rehash_sql[] = "UPDATE admins SET password_hash = ?2 WHERE name = ?1";
	char norm[DB_ADMIN_NAME_MAX + 1], hash[crypto_pwhash_STRBYTES];
	const char *ignored;
	int found = 1;

	if (admin_init(db, error_r) < 0)
		return -1;
	size_t len = strlen(password);
	if (len > DB_ADMIN_PASSWORD_MAX)
		len = DB_ADMIN_PASSWORD_MAX; /* still hash (the dummy): the answer is "no" either way */
	if (db_admin_normalize(db, name, norm, &ignored) == 0) {
		found = admin_lookup(db, norm, admin_r, hash, error_r);
		if (found < 0)
			return -1;
	}
	/* Unknown names cost one verification too, so timing does not tell which names exist. */
	bool ok = crypto_pwhash_str_verify(found == 0 ? hash : admin_dummy_hash, password, len) == 0;
	if (found != 0)
		return 1;
	if (!ok || !admin_r->active || strlen(password) > DB_ADMIN_PASSWORD_MAX) {
		db_admin_clear(admin_r);
		return 1;
	}
	if (crypto_pwhash_str_needs_rehash(hash, ADMIN_OPSLIMIT, ADMIN_MEMLIMIT) != 0 &&
	    crypto_pwhash_str(hash, password, len, ADMIN_OPSLIMIT, ADMIN_MEMLIMIT) == 0)
		db_exec(db, rehash_sql, DB_PARAMS(DB_TEXT(norm), DB_TEXT(hash)), "rehash admin password",
		        &ignored);
	return 0;
}

int db_admin_token_new(struct db *db, const char *name, char token_r[DB_ADMIN_SECRET_SIZE],
                       const char **error_r)
{
	static const char sql[] = "INSERT INTO admin_tokens (token_hash, admin, last_used, created, modified)"
	                          " VALUES (?1, ?2, 0, ?3, ?3)";
	char norm[DB_ADMIN_NAME_MAX + 1], hash[DB_ADMIN_SECRET_SIZE];
	struct db_admin admin;

	if (db_admin_normalize(db, name, norm, error_r) < 0 || admin_init(db, error_r) < 0)
		return -1;
	if (db_begin(db, error_r) < 0)
		return -1;
	int rc = admin_lookup(db, norm, &admin, NULL, error_r);
	if (rc > 0)
		db_input_error(db, error_r, "admin '%s': no such admin", norm);
	if (rc != 0)
		goto fail;
	db_admin_clear(&admin);
	db_admin_random_hex(token_r, DB_ADMIN_SECRET_HEX / 2);
	db_admin_hash_hex(token_r, hash);
	if (db_exec(db, sql, DB_PARAMS(DB_TEXT(hash), DB_TEXT(norm), DB_INT(time_now())), "add admin token",
	            error_r) < 0)
		goto fail;
	if (db_commit(db, error_r) < 0)
		goto fail_wiped;
	return 0;
fail:
	db_rollback(db);
fail_wiped:
	sodium_memzero(token_r, DB_ADMIN_SECRET_SIZE);
	return -1;
}

static int admin_name_from_row(sqlite3_stmt *stmt, void *name_r)
{
	db_column_copy(stmt, 0, name_r, DB_ADMIN_NAME_MAX + 1);
	return 0;
}

int db_admin_token_verify(struct db *db, const char *token, struct db_admin *admin_r, const char **error_r)
{
	static const char sql[] = "SELECT admin FROM admin_tokens WHERE token_hash = ?1";
	static const char used_sql[] = "UPDATE admin_tokens SET last_used = ?2 WHERE token_hash = ?1";
	char hash[DB_ADMIN_SECRET_SIZE], name[DB_ADMIN_NAME_MAX + 1];
	const char *ignored;

	if (!db_admin_secret_valid(token))
		return 1;
	if (admin_init(db, error_r) < 0)
		return -1;
	db_admin_hash_hex(token, hash);
	int rc = db_row_get(db, sql, DB_PARAMS(DB_TEXT(hash)), admin_name_from_row, name,
	                    "look up admin token", error_r);
	if (rc != 0)
		return rc;
	rc = admin_lookup(db, name, admin_r, NULL, error_r);
	if (rc != 0)
		return rc;
	if (!admin_r->active) {
		db_admin_clear(admin_r);
		return 1;
	}
	db_exec(db, used_sql, DB_PARAMS(DB_TEXT(hash), DB_INT(time_now())), "note admin token use", &ignored);
	return 0;
}

int db_admin_token_revoke(struct db *db, const char *name, int64_t *n_r, const char **error_r)
{
	static const char sql[] = "DELETE FROM admin_tokens WHERE admin = ?1";
	char norm[DB_ADMIN_NAME_MAX + 1];

	if (db_admin_normalize(db, name, norm, error_r) < 0)
		return -1;
	if (db_exec(db, sql, DB_PARAMS(DB_TEXT(norm)), "revoke admin tokens", error_r) < 0)
		return -1;
	if (n_r != NULL)
		*n_r = sqlite3_changes(db->handle);
	return 0;
}

bool db_admin_manages(const struct db_admin *admin, const char *domain)
{
	if (admin->superadmin)
		return true;
	for (size_t i = 0; i < admin->ndomains; i++) {
		if (strcmp(admin->domains[i], domain) == 0)
			return true;
	}
	return false;
}
