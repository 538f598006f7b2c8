/*
 * test_resolve: rows of an address, the recipient_delimiter, and the resolution expected (status,
 * rule, alias domain or not, matched key, destinations) against one fixture database, looked up
 * through a read-only connection as mxd does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "db/alias.h"
#include "db/alias_domain.h"
#include "db/db.h"
#include "db/domain.h"
#include "db/resolve.h"
#include "mxd/common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct resolve_row {
	const char *address;
	const char *delimiter;
	enum db_resolve_status status;
	enum db_resolve_rule rule;
	int via;
	const char *matched;      /* NULL: "" */
	const char *destinations; /* joined with ','; NULL: none */
};

#define OK     DB_RESOLVE_OK
#define NODOM  DB_RESOLVE_UNKNOWN_DOMAIN
#define NOUSER DB_RESOLVE_UNKNOWN_USER
#define EXACT  DB_RULE_EXACT
#define DELIM  DB_RULE_DELIMITER
#define CATCH  DB_RULE_CATCHALL
#define NORULE DB_RULE_NONE

static const struct resolve_row rows[] = {
    /* exact, with several destinations; case-insensitive */
    {"info@example.com", "+", OK, EXACT, 0, "info@example.com", "a@x.net,b@y.org"},
    {"INFO@Example.COM", "+", OK, EXACT, 0, "info@example.com", "a@x.net,b@y.org"},
    /* +tag */
    {"info+news@example.com", "+", OK, DELIM, 0, "info@example.com", "a@x.net,b@y.org"},
    {"Info+News+More@example.com", "+", OK, DELIM, 0, "info@example.com", "a@x.net,b@y.org"},
    {"user+special@example.com", "+", OK, EXACT, 0, "user+special@example.com", "special@x.net"},
    {"user+other@example.com", "+", OK, DELIM, 0, "user@example.com", "u@x.net"},
    {"user-other@example.com", "+-", OK, DELIM, 0, "user@example.com", "u@x.net"},
    {"user-other@example.com", "+", OK, CATCH, 0, "@example.com", "catch@x.net"},
    {"info+news@example.com", "", OK, CATCH, 0, "@example.com", "catch@x.net"},
    {"info+news@example.com", NULL, OK, CATCH, 0, "@example.com", "catch@x.net"},
    /* catch-all; an inactive alias falls through to it */
    {"nobody@example.com", "+", OK, CATCH, 0, "@example.com", "catch@x.net"},
    {"old@example.com", "+", OK, CATCH, 0, "@example.com", "catch@x.net"},
    {"+tag@example.com", "+", OK, CATCH, 0, "@example.com", "catch@x.net"},
    /* a domain without catch-all: unknown user */
    {"sales@example.net", "+", OK, EXACT, 0, "sales@example.net", "s@x.net"},
    {"sales+q@example.net", "+", OK, DELIM, 0, "sales@example.net", "s@x.net"},
    {"nobody@example.net", "+", NOUSER, NORULE, 0, NULL, NULL},
    {"gone@example.net", "+", NOUSER, NORULE, 0, NULL, NULL},
    {"gone+x@example.net", "+", NOUSER, NORULE, 0, NULL, NULL},
    {"+sales@example.net", "+", NOUSER, NORULE, 0, NULL, NULL},
    /* an empty local part never matches the catch-all key */
    {"@example.com", "+", NOUSER, NORULE, 0, NULL, NULL},
    /* inactive and unknown domains */
    {"info@disabled.example", "+", NODOM, NORULE, 0, NULL, NULL},
    {"info@unknown.example", "+", NODOM, NORULE, 0, NULL, NULL},
    {"info@sub.example.com", "+", NODOM, NORULE, 0, NULL, NULL},
    {"postmaster", "+", NODOM, NORULE, 0, NULL, NULL},
    {"user@", "+", NODOM, NORULE, 0, NULL, NULL},
    /* alias domains: the same rules at the target */
    {"info@alias.example", "+", OK, EXACT, 1, "info@example.com", "a@x.net,b@y.org"},
    {"Info+T@ALIAS.Example", "+", OK, DELIM, 1, "info@example.com", "a@x.net,b@y.org"},
    {"zz@alias.example", "+", OK, CATCH, 1, "@example.com", "catch@x.net"},
    {"sales@alias-net.example", "+", OK, EXACT, 1, "sales@example.net", "s@x.net"},
    {"zz@alias-net.example", "+", NOUSER, NORULE, 1, NULL, NULL},
    {"info@off-alias.example", "+", NODOM, NORULE, 0, NULL, NULL},
    {"info@to-disabled.example", "+", NODOM, NORULE, 0, NULL, NULL},
};

struct fixture {
	char dir[64];
	char path[128];
	struct db *rw, *ro;
};

static struct fixture fx;

static void must(int rc, const char *err)
{
	if (rc != 0)
		fail_msg("fixture: %s", err);
}

static void add_alias(const char *address, const char *d1, const char *d2, bool active)
{
	const char *dests[] = {d1, d2};
	const char *err = "";
	must(db_alias_add(fx.rw, address, dests, d2 != NULL ? 2 : 1, 0, &err), err);
	if (!active)
		must(db_alias_set_active(fx.rw, address, false, &err), err);
}

static int setup(void **state)
{
	const char *err = "";
	str_copy(fx.dir, sizeof(fx.dir), "/tmp/test_resolve.XXXXXX");
	if (mkdtemp(fx.dir) == NULL)
		return -1;
	snprintf(fx.path, sizeof(fx.path), "%s/mxd.db", fx.dir);
	must(db_open(fx.path, DB_OPEN_CREATE, &fx.rw, &err), err);

	must(db_domain_add(fx.rw, "example.com", "main", 0, &err), err);
	must(db_domain_add(fx.rw, "example.net", NULL, 0, &err), err);
	must(db_domain_add(fx.rw, "disabled.example", NULL, 0, &err), err);
	add_alias("info@example.com", "a@x.net", "B@Y.org", true);
	add_alias("user@example.com", "u@x.net", NULL, true);
	add_alias("user+special@example.com", "special@x.net", NULL, true);
	add_alias("old@example.com", "old@x.net", NULL, false);
	add_alias("@example.com", "catch@x.net", NULL, true);
	add_alias("sales@example.net", "s@x.net", NULL, true);
	add_alias("gone@example.net", "g@x.net", NULL, false);
	add_alias("info@disabled.example", "d@x.net", NULL, true);
	add_alias("@disabled.example", "d@x.net", NULL, true);
	must(db_alias_domain_add(fx.rw, "alias.example", "example.com", &err), err);
	must(db_alias_domain_add(fx.rw, "alias-net.example", "example.net", &err), err);
	must(db_alias_domain_add(fx.rw, "off-alias.example", "example.com", &err), err);
	must(db_alias_domain_set_active(fx.rw, "off-alias.example", false, &err), err);
	must(db_alias_domain_add(fx.rw, "to-disabled.example", "disabled.example", &err), err);
	must(db_domain_set_active(fx.rw, "disabled.example", false, &err), err);

	must(db_open(fx.path, DB_OPEN_READONLY, &fx.ro, &err), err);
	return 0;
}

static int teardown(void **state)
{
	static const char *const suffixes[] = {"", "-wal", "-shm"};
	char p[160];
	db_close(&fx.ro);
	db_close(&fx.rw);
	for (size_t i = 0; i < MXD_ARRAY_SIZE(suffixes); i++) {
		snprintf(p, sizeof(p), "%s%s", fx.path, suffixes[i]);
		unlink(p);
	}
	return rmdir(fx.dir);
}

static void check_row(size_t i, const struct resolve_row *row, const struct db_resolution *res)
{
	char joined[1024] = "";
	for (size_t j = 0; j < res->ndestinations; j++) {
		if (j > 0)
			strcat(joined, ",");
		strcat(joined, res->destinations[j]);
	}
	const char *want_dest = row->destinations != NULL ? row->destinations : "";
	const char *want_matched = row->matched != NULL ? row->matched : "";
	if (res->status != row->status || res->rule != row->rule || res->via_alias_domain != row->via ||
	    strcmp(res->matched, want_matched) != 0 || strcmp(joined, want_dest) != 0)
		fail_msg("row %zu '%s' (delimiter '%s'): got status %d rule %s via %d matched '%s' -> '%s'; "
		         "expected status %d rule %s via %d matched '%s' -> '%s'",
		         i, row->address, row->delimiter != NULL ? row->delimiter : "(null)", res->status,
		         db_resolve_rule_name(res->rule), res->via_alias_domain, res->matched, joined,
		         row->status, db_resolve_rule_name(row->rule), row->via, want_matched, want_dest);
	if (res->destinations != NULL)
		assert_null(res->destinations[res->ndestinations]);
	else
		assert_int_equal(res->ndestinations, 0);
}

static void test_rows(void **state)
{
	for (size_t i = 0; i < MXD_ARRAY_SIZE(rows); i++) {
		struct db_resolution res;
		const char *err = "";
		if (db_resolve(fx.ro, rows[i].address, rows[i].delimiter, &res, &err) != 0)
			fail_msg("row %zu '%s': error %s", i, rows[i].address, err);
		check_row(i, &rows[i], &res);
		db_resolution_clear(&res);
		assert_null(res.destinations);
		assert_int_equal(res.ndestinations, 0);
	}
}

/* Changes made by mxctl show up in the next lookup of a long-lived read-only connection. */
static void test_sees_changes(void **state)
{
	struct db_resolution res;
	const char *err = "";
	must(db_resolve(fx.ro, "new@example.net", "+", &res, &err), err);
	assert_int_equal(res.status, DB_RESOLVE_UNKNOWN_USER);
	db_resolution_clear(&res);
	add_alias("new@example.net", "n@x.net", NULL, true);
	must(db_resolve(fx.ro, "new@example.net", "+", &res, &err), err);
	assert_int_equal(res.status, DB_RESOLVE_OK);
	db_resolution_clear(&res);
	must(db_alias_del(fx.rw, "new@example.net", &err), err);
	must(db_resolve(fx.ro, "new@example.net", "+", &res, &err), err);
	assert_int_equal(res.status, DB_RESOLVE_UNKNOWN_USER);
	db_resolution_clear(&res);
}

/* The cache (on by default) answers exactly as the tables do: every row twice (the second time from the
 * cache) and once more with the cache off; a change by another connection or by the same one empties it. */
static void test_cache(void **state)
{
	for (int pass = 0; pass < 3; pass++) {
		db_resolve_cache(fx.ro, pass < 2);
		for (size_t i = 0; i < MXD_ARRAY_SIZE(rows); i++) {
			struct db_resolution res;
			const char *err = "";
			must(db_resolve(fx.ro, rows[i].address, rows[i].delimiter, &res, &err), err);
			check_row(i, &rows[i], &res);
			db_resolution_clear(&res);
		}
	}
	db_resolve_cache(fx.ro, true);
	struct db_resolution res;
	const char *err = "";
	const char *dests[] = {"other@x.net"};
	/* another connection changes where sales@ goes, then drops it */
	must(db_resolve(fx.ro, "sales@example.net", "+", &res, &err), err);
	assert_string_equal(res.destinations[0], "s@x.net");
	db_resolution_clear(&res);
	must(db_alias_del(fx.rw, "sales@example.net", &err), err);
	must(db_alias_add(fx.rw, "sales@example.net", dests, 1, 0, &err), err);
	must(db_resolve(fx.ro, "sales@example.net", "+", &res, &err), err);
	assert_string_equal(res.destinations[0], "other@x.net");
	db_resolution_clear(&res);
	/* the same connection changes it back: its own writes empty its cache too */
	const char *back[] = {"s@x.net"};
	must(db_resolve(fx.rw, "sales@example.net", "+", &res, &err), err);
	assert_string_equal(res.destinations[0], "other@x.net");
	db_resolution_clear(&res);
	must(db_alias_del(fx.rw, "sales@example.net", &err), err);
	must(db_alias_add(fx.rw, "sales@example.net", back, 1, 0, &err), err);
	must(db_resolve(fx.rw, "sales@example.net", "+", &res, &err), err);
	assert_string_equal(res.destinations[0], "s@x.net");
	db_resolution_clear(&res);
	must(db_resolve(fx.ro, "sales@example.net", "+", &res, &err), err);
	assert_string_equal(res.destinations[0], "s@x.net");
	db_resolution_clear(&res);
}

static void test_rule_names(void **state)
{
	static const struct {
		enum db_resolve_rule rule;
		const char *name;
	} names[] = {
	    {DB_RULE_EXACT, "exact"},
	    {DB_RULE_DELIMITER, "delimiter"},
	    {DB_RULE_CATCHALL, "catch-all"},
	    {DB_RULE_NONE, "none"},
	};
	for (size_t i = 0; i < MXD_ARRAY_SIZE(names); i++)
		assert_string_equal(db_resolve_rule_name(names[i].rule), names[i].name);
}

/* Many lookups on one connection: statements are cached, nothing leaks (ASan), and the rate is
 * printed for a rough idea (the sanitizers slow it down a lot). */
static void test_many_lookups(void **state)
{
	const int n = 30000;
	int64_t start = time_mono_msec();
	for (int i = 0; i < n; i++) {
		struct db_resolution res;
		const char *err = "";
		const struct resolve_row *row = &rows[(size_t)i % MXD_ARRAY_SIZE(rows)];
		must(db_resolve(fx.ro, row->address, row->delimiter, &res, &err), err);
		assert_int_equal(res.status, row->status);
		db_resolution_clear(&res);
	}
	int64_t ms = time_mono_msec() - start;
	printf("# %d lookups in %lld ms (%.0f/s)\n", n, (long long)ms,
	       ms > 0 ? n * 1000.0 / (double)ms : 0.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows),         cmocka_unit_test(test_sees_changes),
	    cmocka_unit_test(test_cache),        cmocka_unit_test(test_rule_names),
	    cmocka_unit_test(test_many_lookups),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
