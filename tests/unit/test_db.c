/*
 * test_db: the tables' API. test_script runs a table of steps (an operation, its arguments, the
 * expected return and error words) against one fresh database: domain and alias CRUD, duplicates,
 * malformed input, aliases outside hosted domains, the alias limit, alias domains, cascades. Other
 * tests cover opening (without init, newer schema, read-only) and idempotent migrations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "db/alias.h"
#include "db/alias_domain.h"
#include "db/db.h"
#include "db/db_schema.h"
#include "db/domain.h"
#include "mxd/common/util.h"
#include "unit_fixtures.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum op {
	DOMAIN_ADD,     /* a name, b description, n alias limit */
	DOMAIN_SET,     /* a name, b description (NULL: keep), n alias limit (-1: keep) */
	DOMAIN_ENABLE,  /* a name */
	DOMAIN_DISABLE, /* a name */
	DOMAIN_DEL,     /* a name */
	DOMAIN_CHECK,   /* a name: expect found (rc 0) with n aliases, active = !b */
	ALIAS_ADD,      /* a address, dests; n: flags */
	ALIAS_CHECK,    /* a address: rc 0 with destinations joined as b, or rc 1 when missing */
	ALIAS_DISABLE,  /* a address */
	ALIAS_DEL,      /* a address */
	ALIAS_COUNT,    /* a domain (NULL: all): n aliases listed */
	AD_ADD,         /* a alias domain, b target */
	AD_DEL,         /* a alias domain */
	AD_COUNT,       /* n alias domains */
};

struct step {
	enum op op;
	const char *a, *b;
	const char *dests[5];
	int64_t n;
	int rc;                /* expected return */
	const char *errors[2]; /* words the error must contain */
};

static const char long_description[] =
    "0123456789012345678901234567890123456789012345678901234567890123456789"
    "0123456789012345678901234567890123456789012345678901234567890123456789"
    "0123456789012345678901234567890123456789012345678901234567890123456789";

static const struct step script[] = {
    {DOMAIN_ADD, "Example.COM", "Main", {NULL}, 3, 0, {NULL}},
    {DOMAIN_CHECK, "example.com", NULL, {NULL}, 0, 0, {NULL}},
    {DOMAIN_ADD, "EXAMPLE.com", NULL, {NULL}, 0, -1, {"domain 'example.com'", "already exists"}},
    {DOMAIN_ADD, "foo", NULL, {NULL}, 0, -1, {"domain 'foo'", "two labels"}},
    {DOMAIN_ADD, "bad_name.example", NULL, {NULL}, 0, -1, {"domain 'bad_name.example'", NULL}},
    {DOMAIN_ADD, "", NULL, {NULL}, 0, -1, {"domain ''", "empty domain"}},
    {DOMAIN_ADD, "d.example", "two\nlines", {NULL}, 0, -1, {"description", "control character"}},
    {DOMAIN_ADD, "d.example", long_description, {NULL}, 0, -1, {"description", "longer than 200"}},
    {DOMAIN_ADD, "d.example", NULL, {NULL}, DB_ALIAS_LIMIT_MAX + 1, -1, {"alias limit", NULL}},
    {DOMAIN_CHECK, "d.example", NULL, {NULL}, 0, 1, {NULL}},
    {DOMAIN_ADD, "example.net", NULL, {NULL}, 0, 0, {NULL}},
    {DOMAIN_ENABLE, "nosuch.example", NULL, {NULL}, 0, -1, {"domain 'nosuch.example'", "not a hosted"}},
    {DOMAIN_DEL, "nosuch.example", NULL, {NULL}, 0, -1, {"nosuch.example", "not a hosted"}},
    {DOMAIN_SET, "nosuch.example", "x", {NULL}, -1, -1, {"nosuch.example", "not a hosted"}},

    /* aliases */
    {ALIAS_ADD, "Info@Example.com", NULL, {"A@X.net", "b@y.org", "a@x.net"}, 0, 0, {NULL}},
    {ALIAS_CHECK, "INFO@example.COM", "a@x.net,b@y.org", {NULL}, 0, 0, {NULL}},
    {ALIAS_ADD,
     "info@example.com",
     NULL,
     {"c@z.net"},
     0,
     -1,
     {"address 'info@example.com'", "already exists"}},
    {ALIAS_ADD, "info@example.com", NULL, {"c@z.net"}, DB_ALIAS_REPLACE, 0, {NULL}},
    {ALIAS_CHECK, "info@example.com", "c@z.net", {NULL}, 0, 0, {NULL}},
    {ALIAS_ADD, "user@example.org", NULL, {"a@x.net"}, 0, -1, {"example.org", "not a hosted domain"}},
    {ALIAS_ADD, "a..b@example.com", NULL, {"a@x.net"}, 0, -1, {"address 'a..b@example.com'", "double"}},
    {ALIAS_ADD, "nodomain", NULL, {"a@x.net"}, 0, -1, {"address 'nodomain'", NULL}},
    {ALIAS_ADD, "@bad", NULL, {"a@x.net"}, 0, -1, {"address '@bad'", "two labels"}},
    {ALIAS_ADD, "x@example.com", NULL, {"a@x.net", "foo@"}, 0, -1, {"destination 'foo@'", "empty domain"}},
    {ALIAS_ADD, "x@example.com", NULL, {"a@x.net,b@y.org"}, 0, -1, {"destination 'a@x.net,b@y.org'", "','"}},
    {ALIAS_ADD, "x@example.com", NULL, {"bob"}, 0, -1, {"destination 'bob'", "'@domain'"}},
    {ALIAS_ADD, "x@example.com", NULL, {NULL}, 0, -1, {"destination", "at least one"}},
    {ALIAS_ADD, "x@example.com", NULL, {"X@example.com"}, 0, -1, {"destination 'X@example.com'", "loop"}},
    {ALIAS_CHECK, "x@example.com", NULL, {NULL}, 0, 1, {NULL}},
    {ALIAS_ADD, "@Example.com", NULL, {"catch@x.net"}, 0, 0, {NULL}},
    {ALIAS_CHECK, "@example.com", "catch@x.net", {NULL}, 0, 0, {NULL}},
    {ALIAS_ADD, "x@example.com", NULL, {"x@x.net"}, 0, 0, {NULL}},
    /* the limit is 3: info, @, x */
    {ALIAS_ADD, "y@example.com", NULL, {"y@x.net"}, 0, -1, {"alias limit", "example.com"}},
    {ALIAS_ADD, "x@example.com", NULL, {"x2@x.net"}, DB_ALIAS_REPLACE, 0, {NULL}},
    {DOMAIN_SET, "example.com", NULL, {NULL}, 4, 0, {NULL}},
    {ALIAS_ADD, "y@example.com", NULL, {"y@x.net"}, 0, 0, {NULL}},
    {DOMAIN_SET, "example.com", "Changed", {NULL}, -1, 0, {NULL}},
    {ALIAS_ADD, "z@example.com", NULL, {"z@x.net"}, 0, -1, {"alias limit", NULL}},
    {ALIAS_ADD, "s@example.net", NULL, {"s@x.net"}, 0, 0, {NULL}},
    {ALIAS_COUNT, "example.com", NULL, {NULL}, 4, 0, {NULL}},
    {ALIAS_COUNT, NULL, NULL, {NULL}, 5, 0, {NULL}},
    {ALIAS_COUNT, "example.org", NULL, {NULL}, 0, -1, {"example.org", "not a hosted"}},
    {ALIAS_DISABLE, "y@example.com", NULL, {NULL}, 0, 0, {NULL}},
    {ALIAS_DISABLE, "nosuch@example.com", NULL, {NULL}, 0, -1, {"nosuch@example.com", "no such alias"}},
    {ALIAS_DEL, "Y@example.com", NULL, {NULL}, 0, 0, {NULL}},
    {ALIAS_DEL, "y@example.com", NULL, {NULL}, 0, -1, {"y@example.com", "no such alias"}},
    {DOMAIN_CHECK, "example.com", NULL, {NULL}, 3, 0, {NULL}},

    /* alias domains */
    {AD_ADD, "Alias.Example", "EXAMPLE.com", {NULL}, 0, 0, {NULL}},
    {AD_ADD,
     "alias.example",
     "example.net",
     {NULL},
     0,
     -1,
     {"alias domain 'alias.example'", "already exists"}},
    {AD_ADD, "example.net", "example.com", {NULL}, 0, -1, {"alias domain 'example.net'", "hosted"}},
    {AD_ADD, "new.example", "nothosted.example", {NULL}, 0, -1, {"target domain 'nothosted.example'", "not"}},
    {AD_ADD,
     "new.example",
     "alias.example",
     {NULL},
     0,
     -1,
     {"target domain 'alias.example'", "alias domain"}},
    {AD_ADD, "new.example", "new.example", {NULL}, 0, -1, {"alias domain 'new.example'", "same"}},
    {AD_ADD, "bad", "example.com", {NULL}, 0, -1, {"alias domain 'bad'", "two labels"}},
    {AD_ADD, "new.example", "bad_target", {NULL}, 0, -1, {"target domain 'bad_target'", NULL}},
    {DOMAIN_ADD, "alias.example", NULL, {NULL}, 0, -1, {"domain 'alias.example'", "alias domain"}},
    {ALIAS_ADD, "u@alias.example", NULL, {"u@x.net"}, 0, -1, {"alias domain of 'example.com'", NULL}},
    {AD_ADD, "two.example", "example.net", {NULL}, 0, 0, {NULL}},
    {AD_COUNT, NULL, NULL, {NULL}, 2, 0, {NULL}},
    {AD_DEL, "two.example", NULL, {NULL}, 0, 0, {NULL}},
    {AD_DEL, "two.example", NULL, {NULL}, 0, -1, {"alias domain 'two.example'", "no such"}},
    {AD_COUNT, NULL, NULL, {NULL}, 1, 0, {NULL}},

    /* deleting a domain takes its aliases and alias domains along */
    {DOMAIN_DISABLE, "example.com", NULL, {NULL}, 0, 0, {NULL}},
    {DOMAIN_CHECK, "example.com", "inactive", {NULL}, 3, 0, {NULL}},
    {DOMAIN_DEL, "example.com", NULL, {NULL}, 0, 0, {NULL}},
    {DOMAIN_CHECK, "example.com", NULL, {NULL}, 0, 1, {NULL}},
    {ALIAS_COUNT, NULL, NULL, {NULL}, 1, 0, {NULL}},
    {ALIAS_CHECK, "info@example.com", NULL, {NULL}, 0, 1, {NULL}},
    {AD_COUNT, NULL, NULL, {NULL}, 0, 0, {NULL}},
    {DOMAIN_ADD, "alias.example", NULL, {NULL}, 0, 0, {NULL}},
};

/* the fixture: a fresh database in a directory of its own */
static int setup(void **state)
{
	struct unit_db *f = xcalloc(1, sizeof(*f));
	if (unit_db_open(f, "test_db") < 0)
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

static int run_step(struct db *db, const struct step *s, const char **err)
{
	size_t n = 0;
	while (n < MXD_ARRAY_SIZE(s->dests) && s->dests[n] != NULL)
		n++;
	switch (s->op) {
	case DOMAIN_ADD:
		return db_domain_add(db, s->a, s->b, (uint32_t)s->n, err);
	case DOMAIN_SET:
		return db_domain_update(db, s->a, s->b, s->n, err);
	case DOMAIN_ENABLE:
		return db_domain_set_active(db, s->a, true, err);
	case DOMAIN_DISABLE:
		return db_domain_set_active(db, s->a, false, err);
	case DOMAIN_DEL:
		return db_domain_del(db, s->a, err);
	case DOMAIN_CHECK: {
		struct db_domain d;
		int rc = db_domain_get(db, s->a, &d, err);
		if (rc == 0) {
			assert_int_equal(d.alias_count, s->n);
			assert_int_equal(d.active, s->b == NULL);
			assert_true(d.created > 0 && d.modified >= d.created);
		}
		return rc;
	}
	case ALIAS_ADD:
		return db_alias_add(db, s->a, s->dests, n, (unsigned)s->n, err);
	case ALIAS_CHECK: {
		struct db_alias a;
		int rc = db_alias_get(db, s->a, &a, err);
		if (rc == 0) {
			char joined[1024] = "";
			for (size_t i = 0; i < a.ndestinations; i++) {
				if (i > 0)
					strcat(joined, ",");
				strcat(joined, a.destinations[i]);
			}
			assert_null(a.destinations[a.ndestinations]);
			assert_string_equal(joined, s->b);
			assert_string_equal(a.domain, addr_domain(a.address));
			db_alias_clear(&a);
		}
		return rc;
	}
	case ALIAS_DISABLE:
		return db_alias_set_active(db, s->a, false, err);
	case ALIAS_DEL:
		return db_alias_del(db, s->a, err);
	case ALIAS_COUNT: {
		struct db_alias *list;
		size_t count;
		int rc = db_alias_list(db, s->a, &list, &count, err);
		if (rc == 0) {
			assert_int_equal(count, s->n);
			db_alias_list_free(&list, count);
			assert_null(list);
		}
		return rc;
	}
	case AD_ADD:
		return db_alias_domain_add(db, s->a, s->b, err);
	case AD_DEL:
		return db_alias_domain_del(db, s->a, err);
	case AD_COUNT: {
		struct db_alias_domain *list;
		size_t count;
		int rc = db_alias_domain_list(db, &list, &count, err);
		if (rc == 0)
			assert_int_equal(count, s->n);
		free(list);
		return rc;
	}
	}
	return -2;
}

static void test_script(void **state)
{
	struct unit_db *f = *state;
	for (size_t i = 0; i < MXD_ARRAY_SIZE(script); i++) {
		const struct step *s = &script[i];
		const char *err = "(none)";
		int rc = run_step(f->db, s, &err);
		if (rc != s->rc)
			fail_msg("step %zu (op %d, '%s'): returned %d, expected %d; error: %s", i, (int)s->op,
			         s->a != NULL ? s->a : "", rc, s->rc, err);
		for (size_t j = 0; rc < 0 && j < MXD_ARRAY_SIZE(s->errors) && s->errors[j] != NULL; j++) {
			if (strstr(err, s->errors[j]) == NULL)
				fail_msg("step %zu: error '%s' lacks '%s'", i, err, s->errors[j]);
		}
		if (rc < 0)
			assert_false(db_error_is_busy(f->db));
	}
}

static void test_domain_list_sorted(void **state)
{
	struct unit_db *f = *state;
	static const char *const names[] = {"c.example", "A.example", "b.example"};
	const char *err;
	for (size_t i = 0; i < MXD_ARRAY_SIZE(names); i++)
		assert_int_equal(db_domain_add(f->db, names[i], "d", 0, &err), 0);
	struct db_domain *list;
	size_t n;
	assert_int_equal(db_domain_list(f->db, &list, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(list[0].name, "a.example");
	assert_string_equal(list[1].name, "b.example");
	assert_string_equal(list[2].name, "c.example");
	assert_string_equal(list[0].description, "d");
	free(list);
}

/* domains.hourly_message_limit (migration 7): set, read on the RCPT path and with the domain, refused
 * out of range with the field named, and "not found" for a domain we do not host. */
static void test_domain_hourly_limit(void **state)
{
	struct unit_db *f = *state;
	const char *err;
	uint32_t limit = 99;
	assert_int_equal(db_domain_add(f->db, "capped.example", NULL, 0, &err), 0);
	assert_int_equal(db_domain_hourly_limit(f->db, "capped.example", &limit, &err), 0);
	assert_int_equal(limit, 0);
	assert_int_equal(db_domain_set_hourly_limit(f->db, "Capped.Example", 500, &err), 0);
	assert_int_equal(db_domain_hourly_limit(f->db, "capped.example", &limit, &err), 0);
	assert_int_equal(limit, 500);
	struct db_domain d;
	assert_int_equal(db_domain_get(f->db, "capped.example", &d, &err), 0);
	assert_int_equal(d.hourly_message_limit, 500);
	assert_int_equal(db_domain_set_hourly_limit(f->db, "capped.example", -1, &err), -1);
	assert_non_null(strstr(err, "hourly message limit -1"));
	assert_int_equal(db_domain_set_hourly_limit(f->db, "capped.example", DB_HOURLY_LIMIT_MAX + 1LL, &err),
	                 -1);
	assert_int_not_equal(db_domain_set_hourly_limit(f->db, "other.example", 5, &err), 0);
	assert_int_equal(db_domain_hourly_limit(f->db, "other.example", &limit, &err), 1);
	assert_int_equal(limit, 0);
	/* the other fields keep their values */
	assert_int_equal(db_domain_update(f->db, "capped.example", "x", 7, &err), 0);
	assert_int_equal(db_domain_hourly_limit(f->db, "capped.example", &limit, &err), 0);
	assert_int_equal(limit, 500);
}

/* The per-domain dmarc_from_rewrite (migration 7): unset means the setting, and the change is logged
 * for the secondaries with the column. */
static void test_domain_dmarc_from_rewrite(void **state)
{
	struct unit_db *f = *state;
	const char *err;
	struct db_domain d;
	bool v;
	assert_int_equal(db_domain_add(f->db, "example.com", NULL, 0, &err), 0);
	assert_int_equal(db_domain_get(f->db, "example.com", &d, &err), 0);
	assert_int_equal(d.dmarc_from_rewrite, -1);
	assert_int_equal(db_domain_dmarc_from_rewrite(f->db, "example.com", true, &v, &err), 0);
	assert_true(v);
	assert_int_equal(db_domain_set_dmarc_from_rewrite(f->db, "Example.COM", 0, &err), 0);
	assert_int_equal(db_domain_dmarc_from_rewrite(f->db, "example.com", true, &v, &err), 0);
	assert_false(v);
	assert_int_equal(db_domain_set_dmarc_from_rewrite(f->db, "example.com", 1, &err), 0);
	assert_int_equal(db_domain_dmarc_from_rewrite(f->db, "example.com", false, &v, &err), 0);
	assert_true(v);
	assert_int_equal(db_domain_get(f->db, "example.com", &d, &err), 0);
	assert_int_equal(d.dmarc_from_rewrite, 1);
	assert_int_equal(db_domain_set_dmarc_from_rewrite(f->db, "example.com", -1, &err), 0);
	assert_int_equal(db_domain_dmarc_from_rewrite(f->db, "example.com", false, &v, &err), 0);
	assert_false(v);
	/* not hosted: the setting; errors name the domain */
	assert_int_equal(db_domain_dmarc_from_rewrite(f->db, "other.example", true, &v, &err), 0);
	assert_true(v);
	assert_int_equal(db_domain_set_dmarc_from_rewrite(f->db, "other.example", 1, &err), -1);
	assert_non_null(strstr(err, "other.example"));
	assert_int_equal(db_domain_set_dmarc_from_rewrite(f->db, "example.com", 2, &err), -1);
	assert_non_null(strstr(err, "dmarc_from_rewrite"));
	/* the change log carries the column to the secondaries */
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db_handle(f->db),
	                                    "SELECT count(*) FROM changelog WHERE tbl = 'domains' AND"
	                                    " json_extract(row, '$.dmarc_from_rewrite') = 1",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 1);
	sqlite3_finalize(st);
}

static void test_migrations_idempotent(void **state)
{
	struct unit_db *f = *state;
	const char *err;
	int from = 42;
	assert_int_equal(db_schema_migrated_from(f->db), 0); /* setup created it */
	assert_int_equal(db_schema_version(f->db), db_schema_latest());
	assert_int_equal(db_schema_migrate(f->db, &from, &err), 0);
	assert_int_equal(from, -1);
	assert_int_equal(db_domain_add(f->db, "keep.example", NULL, 0, &err), 0);
	for (int i = 0; i < 2; i++) {
		struct db *db;
		assert_int_equal(db_open(f->path, DB_OPEN_CREATE, &db, &err), 0);
		assert_int_equal(db_schema_migrated_from(db), -1);
		assert_int_equal(db_schema_version(db), db_schema_latest());
		struct db_domain d;
		assert_int_equal(db_domain_get(db, "keep.example", &d, &err), 0);
		db_close(&db);
		assert_null(db);
	}
}

static void expect_open_error(const char *path, unsigned flags, const char *words1, const char *words2)
{
	struct db *db = (struct db *)1;
	const char *err;
	assert_int_equal(db_open(path, flags, &db, &err), -1);
	assert_null(db);
	if (strstr(err, words1) == NULL || (words2 != NULL && strstr(err, words2) == NULL))
		fail_msg("open error '%s' lacks '%s'/'%s'", err, words1, words2 != NULL ? words2 : "");
}

static void test_open_without_init(void **state)
{
	struct unit_db *f = *state;
	char path[160];
	snprintf(path, sizeof(path), "%s/missing.db", f->dir);
	expect_open_error(path, DB_OPEN_READWRITE, "does not exist", "mxctl init");
	expect_open_error(path, DB_OPEN_READONLY, "does not exist", "mxctl init");
	assert_int_equal(access(path, F_OK), -1); /* and nothing was created */

	/* An existing but empty file: not initialized. */
	snprintf(path, sizeof(path), "%s/empty.db", f->dir);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	expect_open_error(path, DB_OPEN_READWRITE, "not initialized", "mxctl init");
	unlink(path);

	/* Not a database at all. */
	fp = fopen(path, "w");
	fputs("this is not an SQLite database, it is a text file that is long enough to have a header.....\n",
	      fp);
	fclose(fp);
	expect_open_error(path, DB_OPEN_READWRITE, path, NULL);
	unlink(path);

	/* A schema newer than this program. */
	assert_int_equal(sqlite3_exec(db_handle(f->db), "PRAGMA user_version = 999", NULL, NULL, NULL),
	                 SQLITE_OK);
	expect_open_error(f->path, DB_OPEN_READWRITE, "999", "newer");
	expect_open_error(f->path, DB_OPEN_CREATE, "999", "newer");

	/* An older one (version 0 with tables, as if a migration was never recorded). */
	assert_int_equal(sqlite3_exec(db_handle(f->db), "PRAGMA user_version = 0", NULL, NULL, NULL),
	                 SQLITE_OK);
	expect_open_error(f->path, DB_OPEN_READONLY, "mxctl init", NULL);
	assert_int_equal(sqlite3_exec(db_handle(f->db), "PRAGMA user_version = 1", NULL, NULL, NULL),
	                 SQLITE_OK);

	expect_open_error(f->path, DB_OPEN_CREATE | DB_OPEN_READONLY, "read-only", NULL);
	expect_open_error("", DB_OPEN_READWRITE, "no path", NULL);
}

static void test_readonly(void **state)
{
	struct unit_db *f = *state;
	const char *err;
	struct db *ro;
	assert_int_equal(db_domain_add(f->db, "ro.example", NULL, 0, &err), 0);
	assert_int_equal(db_open(f->path, DB_OPEN_READONLY, &ro, &err), 0);
	struct db_domain d;
	assert_int_equal(db_domain_get(ro, "ro.example", &d, &err), 0);
	/* A write through a read-only connection fails as a database error, not as bad input. */
	assert_int_equal(db_domain_add(ro, "other.example", NULL, 0, &err), -1);
	assert_true(db_error_is_busy(ro));
	/* Bad input is not "busy". */
	assert_int_equal(db_domain_get(ro, "bad", &d, &err), -1);
	assert_false(db_error_is_busy(ro));
	/* A change made elsewhere is visible to the next read (no snapshot left open). */
	assert_int_equal(db_domain_add(f->db, "later.example", NULL, 0, &err), 0);
	assert_int_equal(db_domain_get(ro, "later.example", &d, &err), 0);
	db_close(&ro);
}

static void test_split_destinations(void **state)
{
	static const struct {
		const char *stored;
		size_t n;
		const char *first;
	} rows[] = {
	    {"a@x.net", 1, "a@x.net"},
	    {"a@x.net,b@y.org,c@z.com", 3, "a@x.net"},
	    {",a@x.net,,", 1, "a@x.net"},
	    {"", 0, NULL},
	};
	for (size_t i = 0; i < MXD_ARRAY_SIZE(rows); i++) {
		size_t n;
		char **list = db_alias_split_destinations(rows[i].stored, &n);
		assert_int_equal(n, rows[i].n);
		if (rows[i].first != NULL)
			assert_string_equal(list[0], rows[i].first);
		assert_null(list[n]);
		db_alias_destinations_free(&list);
		assert_null(list);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_script, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_domain_list_sorted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_domain_hourly_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migrations_idempotent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_domain_dmarc_from_rewrite, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_without_init, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_readonly, setup, teardown),
	    cmocka_unit_test(test_split_destinations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
