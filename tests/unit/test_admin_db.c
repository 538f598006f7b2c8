/*
 * test_admin_db: the admin UI's tables (db/admin.h, db/admin_session.h, db/audit.h) against a fresh
 * database: administrator names, passwords (argon2id, never stored in clear), login checks with unknown
 * names, roles and domain lists, API tokens (only their hash stored), sessions (hashed ids, expiry,
 * logout, the end of every session at a password change), the login throttle and the audit log with
 * its per-domain view.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "db/admin.h"
#include "db/admin_session.h"
#include "db/audit.h"
#include "db/db.h"
#include "db/domain.h"
#include "mxd/common/util.h"
#include "unit_fixtures.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int setup(void **state)
{
	struct unit_db *f = xcalloc(1, sizeof(*f));
	const char *err;

	if (unit_db_open(f, "test_admin_db") < 0)
		return -1;
	if (db_domain_add(f->db, "a.test", NULL, 0, &err) < 0 ||
	    db_domain_add(f->db, "b.test", NULL, 0, &err) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct unit_db *f = *state;

	unit_db_close(f);
	free(f);
	return 0;
}

/* The stored password hash of name ("" when none). */
static void stored_hash(struct db *db, const char *name, char *buf, size_t size)
{
	sqlite3_stmt *st;

	buf[0] = '\0';
	assert_int_equal(sqlite3_prepare_v2(db_handle(db), "SELECT password_hash FROM admins WHERE name = ?1",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		str_copy(buf, size, (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
}

static void test_admins(void **state)
{
	struct unit_db *f = *state;
	const char *err, *doms[] = {"A.test", "b.test"}, *bad[] = {"nowhere.test"};
	struct db_admin a;
	char hash[256];

	static const struct {
		const char *name, *error;
	} bad_names[] = {{"", "empty"},
	                 {"a b", "only letters"},
	                 {"<x>", "only letters"},
	                 {"x\"y", "only letters"},
	                 {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "longer"}};
	for (size_t i = 0; i < MXD_ARRAY_SIZE(bad_names); i++) {
		assert_int_equal(
		    db_admin_add(f->db, bad_names[i].name, "long-enough-pw", true, NULL, 0, &err), -1);
		assert_non_null(strstr(err, bad_names[i].error));
	}
	assert_int_equal(db_admin_add(f->db, "root", "short", true, NULL, 0, &err), -1);
	assert_non_null(strstr(err, "password: shorter"));
	assert_int_equal(db_admin_add(f->db, "Root", "root-password-1", true, NULL, 0, &err), 0);
	assert_int_equal(db_admin_add(f->db, "root", "root-password-1", true, NULL, 0, &err), -1);
	assert_non_null(strstr(err, "already exists"));
	assert_int_equal(db_admin_add(f->db, "dom@a.test", "dom-password-1", false, bad, 1, &err), -1);
	assert_non_null(strstr(err, "not a hosted domain"));
	assert_int_equal(db_admin_add(f->db, "dom@a.test", "dom-password-1", true, doms, 1, &err), -1);
	assert_int_equal(db_admin_add(f->db, "dom@a.test", "dom-password-1", false, doms, 1, &err), 0);

	stored_hash(f->db, "root", hash, sizeof(hash));
	assert_non_null(strstr(hash, "$argon2id$"));
	assert_null(strstr(hash, "root-password-1"));

	assert_int_equal(db_admin_get(f->db, "DOM@a.test", &a, &err), 0);
	assert_false(a.superadmin);
	assert_int_equal(a.ndomains, 1);
	assert_string_equal(a.domains[0], "a.test");
	assert_true(db_admin_manages(&a, "a.test"));
	assert_false(db_admin_manages(&a, "b.test"));
	db_admin_clear(&a);

	/* verify: right, wrong, unknown, case of the name */
	assert_int_equal(db_admin_verify(f->db, "ROOT", "root-password-1", &a, &err), 0);
	assert_true(a.superadmin);
	assert_true(db_admin_manages(&a, "anything.test"));
	db_admin_clear(&a);
	assert_int_equal(db_admin_verify(f->db, "root", "root-password-2", &a, &err), 1);
	assert_int_equal(db_admin_verify(f->db, "nobody", "root-password-1", &a, &err), 1);
	assert_int_equal(db_admin_verify(f->db, "bad name!", "x", &a, &err), 1);

	/* roles: deleting a domain takes it off every list */
	assert_int_equal(db_admin_set_role(f->db, "dom@a.test", false, doms, 2, &err), 0);
	assert_int_equal(db_admin_get(f->db, "dom@a.test", &a, &err), 0);
	assert_int_equal(a.ndomains, 2);
	db_admin_clear(&a);
	assert_int_equal(db_domain_del(f->db, "b.test", &err), 0);
	assert_int_equal(db_admin_get(f->db, "dom@a.test", &a, &err), 0);
	assert_int_equal(a.ndomains, 1);
	db_admin_clear(&a);

	int64_t n;
	assert_int_equal(db_admin_count_superadmins(f->db, &n, &err), 0);
	assert_int_equal(n, 1);
	struct db_admin *list;
	size_t count;
	assert_int_equal(db_admin_list(f->db, &list, &count, &err), 0);
	assert_int_equal(count, 2);
	assert_string_equal(list[0].name, "dom@a.test");
	db_admin_list_free(&list, count);

	assert_int_equal(db_admin_del(f->db, "dom@a.test", &err), 0);
	assert_int_equal(db_admin_del(f->db, "dom@a.test", &err), -1);
	assert_non_null(strstr(err, "no such admin"));
}

static void test_tokens(void **state)
{
	struct unit_db *f = *state;
	char token[DB_ADMIN_SECRET_SIZE], token2[DB_ADMIN_SECRET_SIZE];
	struct db_admin a;
	const char *err;
	int64_t n;

	assert_int_equal(db_admin_add(f->db, "api", "api-password-1", false, NULL, 0, &err), 0);
	assert_int_equal(db_admin_token_new(f->db, "nobody", token, &err), -1);
	assert_int_equal(db_admin_token_new(f->db, "api", token, &err), 0);
	assert_int_equal(db_admin_token_new(f->db, "api", token2, &err), 0);
	assert_true(db_admin_secret_valid(token));
	assert_string_not_equal(token, token2);
	assert_int_equal(db_admin_token_verify(f->db, token, &a, &err), 0);
	assert_string_equal(a.name, "api");
	db_admin_clear(&a);
	char wrong[DB_ADMIN_SECRET_SIZE];
	memcpy(wrong, token, sizeof(wrong));
	wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
	assert_int_equal(db_admin_token_verify(f->db, wrong, &a, &err), 1);
	assert_int_equal(db_admin_token_verify(f->db, "", &a, &err), 1);
	assert_int_equal(db_admin_token_verify(f->db, "XYZ", &a, &err), 1);

	/* only the hash is stored */
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db_handle(f->db),
	                                    "SELECT count(*) FROM admin_tokens WHERE token_hash = ?1", -1,
	                                    &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_text(st, 1, token, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 0);
	sqlite3_finalize(st);

	assert_int_equal(db_admin_token_revoke(f->db, "api", &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(db_admin_token_verify(f->db, token, &a, &err), 1);
}

static void test_sessions_and_throttle(void **state)
{
	struct unit_db *f = *state;
	char id[DB_ADMIN_SECRET_SIZE], csrf[DB_ADMIN_SECRET_SIZE], id2[DB_ADMIN_SECRET_SIZE];
	struct db_admin_session s;
	const char *err;
	int64_t wait;

	assert_int_equal(db_admin_add(f->db, "web", "web-password-1", true, NULL, 0, &err), 0);
	assert_int_equal(db_admin_session_new(f->db, "web", "127.0.0.1", 60, 3600, id, csrf, &err), 0);
	assert_true(db_admin_secret_valid(id));
	assert_true(db_admin_secret_valid(csrf));
	assert_int_equal(db_admin_session_get(f->db, id, 60, 3600, &s, &err), 0);
	assert_string_equal(s.admin, "web");
	assert_string_equal(s.csrf_token, csrf);
	assert_int_equal(db_admin_session_get(f->db, "nope", 60, 3600, &s, &err), 1);
	assert_int_equal(db_admin_session_get(f->db, id, 60, 0, &s, &err), 1); /* past max age */
	assert_int_equal(db_admin_session_set_flash(f->db, id, "saved <x>", &err), 0);
	assert_int_equal(db_admin_session_get(f->db, id, 60, 3600, &s, &err), 0);
	assert_string_equal(s.flash, "saved <x>");
	assert_int_equal(db_admin_session_del(f->db, id, &err), 0);
	assert_int_equal(db_admin_session_get(f->db, id, 60, 3600, &s, &err), 1);
	/* a new password ends every session */
	assert_int_equal(db_admin_session_new(f->db, "web", "127.0.0.1", 60, 3600, id2, csrf, &err), 0);
	assert_int_equal(db_admin_set_password(f->db, "web", "web-password-2", &err), 0);
	assert_int_equal(db_admin_session_get(f->db, id2, 60, 3600, &s, &err), 1);

	/* throttle: 3 failures within the window refuse the key, others are not affected */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(db_admin_login_throttled(f->db, "account:web", 3, 60, &wait, &err), 0);
		assert_int_equal(db_admin_login_failed(f->db, "account:web", 60, &err), 0);
	}
	assert_int_equal(db_admin_login_throttled(f->db, "account:web", 3, 60, &wait, &err), 1);
	assert_true(wait > 0 && wait <= 60);
	assert_int_equal(db_admin_login_throttled(f->db, "client:127.0.0.1", 3, 60, &wait, &err), 0);
	assert_int_equal(db_admin_login_throttled(f->db, "account:web", 4, 60, &wait, &err), 0);
	assert_int_equal(db_admin_login_clear(f->db, "account:web", &err), 0);
	assert_int_equal(db_admin_login_throttled(f->db, "account:web", 3, 60, &wait, &err), 0);
}

static void test_audit(void **state)
{
	struct unit_db *f = *state;
	const char *err, *doms[] = {"a.test"};
	struct db_audit_entry *list;
	size_t n;
	char longtext[3000];

	memset(longtext, 'x', sizeof(longtext) - 3);
	memcpy(longtext + sizeof(longtext) - 3, "\xc3\xa9", 3); /* cut must not split it */
	assert_int_equal(db_admin_add(f->db, "doma", "doma-password-1", false, doms, 1, &err), 0);
	assert_int_equal(
	    db_audit_add(f->db, "root", "127.0.0.1", "alias.add", "x@a.test", "a.test", "-> y@e.test", &err),
	    0);
	assert_int_equal(
	    db_audit_add(f->db, "root", "127.0.0.1", "alias.add", "x@b.test", "b.test", longtext, &err), 0);
	assert_int_equal(db_audit_add(f->db, "root", "::1", "session.login", "root", NULL, NULL, &err), 0);

	assert_int_equal(db_audit_list(f->db, NULL, NULL, 10, &list, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(list[0].action, "session.login"); /* newest first */
	assert_string_equal(list[2].object, "x@a.test");
	assert_int_equal(strlen(list[1].detail), DB_AUDIT_DETAIL_MAX);
	assert_true(strcmp(list[0].id, list[1].id) > 0);
	char before[DB_AUDIT_ID_MAX + 1];
	str_copy(before, sizeof(before), list[0].id);
	free(list);

	assert_int_equal(db_audit_list(f->db, "doma", NULL, 10, &list, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].domain, "a.test");
	free(list);
	assert_int_equal(db_audit_list(f->db, NULL, before, 1, &list, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].object, "x@b.test");
	free(list);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_admins, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sessions_and_throttle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_audit, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
