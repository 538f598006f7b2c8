/*
 * test_expand: rows of a recipient, the recipient_delimiter, and the final destinations expected from
 * expand_recipient() (in order, each with its status) against one fixture database, read through a
 * read-only connection as mxd does: alias chains across hosted domains, loops and the depth bound,
 * +tags, catch-alls, alias domains, de-duplication, and the bound on the number of finals.
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
#include "mxd/common/util.h"
#include "mxd/rewrite/expand.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The tables: an alias and its destinations, joined with ','. */
static const struct {
	const char *address;
	const char *destinations;
} aliases[] = {
    {"info@example.com", "a@x.net,B@Y.org"},
    {"@example.com", "catch@x.net"},
    /* a chain through both hosted domains */
    {"chain1@example.com", "chain2@example.net"},
    {"chain2@example.net", "chain3@example.com"},
    {"chain3@example.com", "end@x.net"},
    /* fan-out: external and hosted destinations, one reached twice */
    {"team@example.com", "info@example.com,a@x.net,bob@example.net"},
    {"bob@example.net", "bob@x.net"},
    /* two aliases that point at each other, and one that leads into them */
    {"loop-a@example.net", "loop-b@example.net"},
    {"loop-b@example.net", "loop-a@example.net"},
    {"into-loop@example.net", "ok@x.net,loop-a@example.net"},
    /* a loop through an alias domain */
    {"ad-loop@example.com", "ad-loop@alias.example"},
    /* a destination at a hosted domain that resolves to nothing */
    {"dead@example.net", "nobody@example.net,live@x.net"},
    /* +tags */
    {"user@example.net", "u@x.net"},
    {"tagged@example.net", "user+list@example.net"},
    /* a hosted destination caught by the catch-all, and one at an alias domain */
    {"to-catch@example.net", "whoever@example.com"},
    {"to-alias@example.net", "info@alias.example"},
    /* a chain of 10 aliases: d0 -> d1 -> ... -> d9 -> end@x.net */
    {"d0@example.net", "d1@example.net"},
    {"d1@example.net", "d2@example.net"},
    {"d2@example.net", "d3@example.net"},
    {"d3@example.net", "d4@example.net"},
    {"d4@example.net", "d5@example.net"},
    {"d5@example.net", "d6@example.net"},
    {"d6@example.net", "d7@example.net"},
    {"d7@example.net", "d8@example.net"},
    {"d8@example.net", "d9@example.net"},
    {"d9@example.net", "deep@x.net"},
};

struct expand_row {
	const char *address;
	const char *delimiter;
	/* finals joined with ',', each marked " (loop)" or " (unknown)" unless EXPAND_OK */
	const char *finals;
};

static const struct expand_row rows[] = {
    /* a domain we do not host: the address is its own final, as given but lower-cased */
    {"Someone@Elsewhere.org", "+", "someone@elsewhere.org"},
    /* one level; lower-cased; case-insensitive lookup */
    {"info@example.com", "+", "a@x.net,b@y.org"},
    {"INFO@Example.COM", "+", "a@x.net,b@y.org"},
    /* chains across hosted domains */
    {"chain1@example.com", "+", "end@x.net"},
    {"chain2@example.net", "+", "end@x.net"},
    /* finals are de-duplicated (a@x.net twice), in the order first reached */
    {"team@example.com", "+", "a@x.net,b@y.org,bob@x.net"},
    /* loops: the address that closes the cycle is kept as a loop, the rest of the tree goes on */
    {"loop-a@example.net", "+", "loop-a@example.net (loop)"},
    {"loop-b@example.net", "+", "loop-b@example.net (loop)"},
    {"into-loop@example.net", "+", "ok@x.net,loop-a@example.net (loop)"},
    {"ad-loop@example.com", "+", "ad-loop@alias.example (loop)"},
    /* a hosted destination that resolves to nothing is kept as unknown */
    {"dead@example.net", "+", "nobody@example.net (unknown),live@x.net"},
    {"nobody@example.net", "+", "nobody@example.net (unknown)"},
    /* +tag: the base alias matches with a delimiter; without one the tagged address is unknown */
    {"user+news@example.net", "+", "u@x.net"},
    {"user-news@example.net", "+-", "u@x.net"},
    {"user+news@example.net", "", "user+news@example.net (unknown)"},
    {"tagged@example.net", "+", "u@x.net"},
    {"tagged@example.net", "", "user+list@example.net (unknown)"},
    /* catch-all, directly and as a destination; a +tag the catch-all takes */
    {"whoever@example.com", "+", "catch@x.net"},
    {"to-catch@example.net", "+", "catch@x.net"},
    {"info+x@example.com", "", "catch@x.net"},
    /* alias domains: the target's aliases, directly and as a destination */
    {"info@alias.example", "+", "a@x.net,b@y.org"},
    {"Whoever@ALIAS.example", "+", "catch@x.net"},
    {"to-alias@example.net", "+", "a@x.net,b@y.org"},
    /* the depth bound: a destination EXPAND_MAX_DEPTH levels down counts as a loop */
    {"d1@example.net", "+", "deep@x.net"},
    {"d0@example.net", "+", "deep@x.net (loop)"},
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

/* Add address -> the destinations in joined (split at ','). */
static void add_alias(const char *address, const char *joined)
{
	char *copy = xstrdup(joined), *save = NULL;
	const char *dests[DB_ALIAS_DESTINATIONS_MAX];
	size_t n = 0;
	for (char *d = strtok_r(copy, ",", &save); d != NULL; d = strtok_r(NULL, ",", &save))
		dests[n++] = d;
	const char *err = "";
	must(db_alias_add(fx.rw, address, dests, n, 0, &err), err);
	free(copy);
}

static int setup(void **state)
{
	const char *err = "";
	str_copy(fx.dir, sizeof(fx.dir), "/tmp/test_expand.XXXXXX");
	if (mkdtemp(fx.dir) == NULL)
		return -1;
	snprintf(fx.path, sizeof(fx.path), "%s/mxd.db", fx.dir);
	must(db_open(fx.path, DB_OPEN_CREATE, &fx.rw, &err), err);
	must(db_domain_add(fx.rw, "example.com", NULL, 0, &err), err);
	must(db_domain_add(fx.rw, "example.net", NULL, 0, &err), err);
	must(db_domain_add(fx.rw, "wide.example", NULL, 0, &err), err);
	must(db_alias_domain_add(fx.rw, "alias.example", "example.com", &err), err);
	for (size_t i = 0; i < MXD_ARRAY_SIZE(aliases); i++)
		add_alias(aliases[i].address, aliases[i].destinations);
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

/* The finals of exp as the rows write them. */
static void join_finals(const struct expansion *exp, char *out, size_t size)
{
	static const char *const marks[] = {
	    [EXPAND_OK] = "", [EXPAND_LOOP] = " (loop)", [EXPAND_UNKNOWN] = " (unknown)"};
	size_t len = 0;
	out[0] = '\0';
	for (size_t i = 0; i < exp->n && len < size; i++)
		len += (size_t)snprintf(out + len, size - len, "%s%s%s", i > 0 ? "," : "",
		                        exp->finals[i].address, marks[exp->finals[i].status]);
}

static void test_rows(void **state)
{
	for (size_t i = 0; i < MXD_ARRAY_SIZE(rows); i++) {
		const struct expand_row *row = &rows[i];
		struct expansion exp;
		const char *err = "";
		char got[1024];
		if (expand_recipient(fx.ro, row->address, row->delimiter, &exp, &err) != 0)
			fail_msg("row %zu '%s': error %s", i, row->address, err);
		join_finals(&exp, got, sizeof(got));
		if (strcmp(got, row->finals) != 0 || exp.truncated)
			fail_msg("row %zu '%s' (delimiter '%s'): got '%s'%s; expected '%s'", i, row->address,
			         row->delimiter, got, exp.truncated ? " (truncated)" : "", row->finals);
		expansion_clear(&exp);
		assert_int_equal(exp.n, 0);
		assert_null(exp.finals);
	}
}

/* More than EXPAND_MAX_FINALS destinations: the first EXPAND_MAX_FINALS are kept and the expansion
 * says it was cut. fan@wide.example -> 11 aliases of 100 external destinations each. */
static void test_truncated(void **state)
{
	const char *fan[11];
	char names[11][64];
	const char *err = "";
	for (size_t i = 0; i < MXD_ARRAY_SIZE(fan); i++) {
		const char *dests[DB_ALIAS_DESTINATIONS_MAX];
		char buf[DB_ALIAS_DESTINATIONS_MAX][64];
		for (size_t j = 0; j < DB_ALIAS_DESTINATIONS_MAX; j++) {
			snprintf(buf[j], sizeof(buf[j]), "m%zu-%zu@x.net", i, j);
			dests[j] = buf[j];
		}
		snprintf(names[i], sizeof(names[i]), "part%zu@wide.example", i);
		fan[i] = names[i];
		must(db_alias_add(fx.rw, names[i], dests, DB_ALIAS_DESTINATIONS_MAX, 0, &err), err);
	}
	must(db_alias_add(fx.rw, "fan@wide.example", fan, MXD_ARRAY_SIZE(fan), 0, &err), err);

	struct expansion exp;
	must(expand_recipient(fx.ro, "fan@wide.example", "+", &exp, &err), err);
	assert_int_equal(exp.n, EXPAND_MAX_FINALS);
	assert_true(exp.truncated);
	assert_string_equal(exp.finals[0].address, "m0-0@x.net");
	assert_string_equal(exp.finals[EXPAND_MAX_FINALS - 1].address, "m9-99@x.net");
	expansion_clear(&exp);
	assert_int_equal(exp.truncated, 0);

	/* one part alone is not cut */
	must(expand_recipient(fx.ro, "part3@wide.example", "+", &exp, &err), err);
	assert_int_equal(exp.n, DB_ALIAS_DESTINATIONS_MAX);
	assert_false(exp.truncated);
	expansion_clear(&exp);
}

/* A table that cannot be read: -1 with the error, and nothing left to free. */
static void test_db_error(void **state)
{
	struct db *db;
	const char *err = "";
	must(db_open(fx.path, DB_OPEN_READONLY, &db, &err), err);
	assert_int_equal(
	    sqlite3_exec(db_handle(fx.rw), "ALTER TABLE aliases RENAME TO aliases_gone", NULL, NULL, NULL),
	    SQLITE_OK);
	struct expansion exp;
	err = NULL;
	assert_int_equal(expand_recipient(db, "chain1@example.com", "+", &exp, &err), -1);
	assert_non_null(err);
	assert_int_equal(exp.n, 0);
	assert_null(exp.finals);
	assert_int_equal(
	    sqlite3_exec(db_handle(fx.rw), "ALTER TABLE aliases_gone RENAME TO aliases", NULL, NULL, NULL),
	    SQLITE_OK);
	db_close(&db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_db_error),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
