/*
 * test_expand_limits: alias expansion does bounded work (mxd/rewrite/expand.c) and the string map it
 * and the SMTP transaction de-duplicate with (mxd/common/strmap.c).
 *
 * Rows of table shapes and the work expected: aliases that all list each other cost at most one lookup
 * per alias and depth (not one per path); a tree past EXPAND_MAX_LOOKUPS stops there and says overflow;
 * expand_check(), as db_alias_add() runs it, refuses an alias past EXPAND_MAX_FINALS finals or the
 * lookup bound with a message naming the destinations, and the refused alias is not stored.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db/alias.h"
#include "db/db.h"
#include "db/domain.h"
#include "mxd/common/strmap.h"
#include "mxd/common/util.h"
#include "mxd/rewrite/expand.h"

static char dir[] = "/tmp/test_expand_limits.XXXXXX";
static char path[256];

#define must(rc, error) must_at(rc, error, __LINE__)
static void must_at(int rc, const char *error, int line)
{
	if (rc < 0)
		print_error("line %d: ", line);
	if (rc < 0)
		fail_msg("%s", error != NULL && *error != 0 ? error : "(no message)");
}

static struct db *fresh_db(void)
{
	const char *err = NULL;
	struct db *db;
	snprintf(path, sizeof(path), "%s/mxd.db", dir);
	unlink(path);
	must(db_open(path, DB_OPEN_CREATE, &db, &err), err);
	must(db_domain_add(db, "example.com", NULL, 0, &err), err);
	return db;
}

static void close_db(struct db **db)
{
	db_close(db);
	char extra[300];
	unlink(path);
	snprintf(extra, sizeof(extra), "%s-wal", path);
	unlink(extra);
	snprintf(extra, sizeof(extra), "%s-shm", path);
	unlink(extra);
}

/* k aliases a0..a{k-1}@example.com, each listing all the others and one external address. */
static void add_mutual(struct db *db, int k)
{
	const char *err = NULL;
	char **dests = xcalloc((size_t)k, sizeof(*dests));
	for (int i = 0; i < k; i++) {
		size_t n = 0;
		for (int j = 0; j < k; j++)
			if (j != i)
				dests[n++] = xasprintf("a%d@example.com", j);
		dests[n++] = xasprintf("out%d@gmail.test", i);
		char *name = xasprintf("a%d@example.com", i);
		must(db_alias_add(db, name, (const char *const *)dests, n, 0, &err), err);
		free(name);
		for (size_t m = 0; m < n; m++)
			free(dests[m]);
	}
	free(dests);
}

/* alias "name" -> n external addresses "prefix-<i>@ext.test" */
static void add_list(struct db *db, const char *name, const char *prefix, int n)
{
	const char *err = NULL;
	char **dests = xcalloc((size_t)n, sizeof(*dests));
	for (int i = 0; i < n; i++)
		dests[i] = xasprintf("%s-%d@ext.test", prefix, i);
	must(db_alias_add(db, name, (const char *const *)dests, (size_t)n, 0, &err), err);
	for (int i = 0; i < n; i++)
		free(dests[i]);
	free(dests);
}

static void test_mutual_aliases_bounded(void **state)
{
	static const int sizes[] = {2, 8, 16, 40};
	for (size_t s = 0; s < MXD_ARRAY_SIZE(sizes); s++) {
		int k = sizes[s];
		struct db *db = fresh_db();
		add_mutual(db, k);
		struct expansion exp;
		const char *err = NULL;
		must(expand_recipient(db, "a0@example.com", "+", &exp, &err), err);
		/* one lookup per address (k aliases, k externals) and depth at most: not one per path */
		assert_true(exp.lookups <= (size_t)(2 * k * EXPAND_MAX_DEPTH));
		assert_false(exp.overflow);
		size_t outs = 0;
		for (size_t i = 0; i < exp.n; i++)
			outs +=
			    strncmp(exp.finals[i].address, "out", 3) == 0; /* ok, or a loop past the depth */
		assert_int_equal(outs, (size_t)k);
		expansion_clear(&exp);
		close_db(&db);
	}
}

static void test_lookup_bound_overflows(void **state)
{
	struct db *db = fresh_db();
	const char *err = NULL;
	/* top -> 100 lists of 30 externals: 3,101 lookups needed, EXPAND_MAX_LOOKUPS allowed */
	char *lists[100];
	for (int i = 0; i < 100; i++) {
		char name[64], prefix[16];
		snprintf(name, sizeof(name), "l%d@example.com", i);
		snprintf(prefix, sizeof(prefix), "x%d", i);
		add_list(db, name, prefix, 30);
		lists[i] = xstrdup(name);
	}
	must(db_alias_add(db, "top@example.com", (const char *const *)lists, 100, 0, &err), err);
	struct expansion exp;
	must(expand_recipient(db, "top@example.com", "+", &exp, &err), err);
	assert_true(exp.overflow);
	assert_int_equal(exp.lookups, EXPAND_MAX_LOOKUPS);
	expansion_clear(&exp);
	/* the same alias through the write-time check is refused, and not stored */
	db_set_alias_check(db, expand_check, "+");
	assert_int_equal(db_alias_add(db, "top2@example.com", (const char *const *)lists, 100, 0, &err), -1);
	assert_non_null(strstr(err, "destinations: the alias would need more than"));
	struct db_alias alias;
	assert_int_equal(db_alias_get(db, "top2@example.com", &alias, &err), 1);
	for (int i = 0; i < 100; i++)
		free(lists[i]);
	close_db(&db);
}

static void test_check_refuses_too_many_finals(void **state)
{
	struct db *db = fresh_db();
	const char *err = NULL;
	add_list(db, "l0@example.com", "p", 100);
	add_list(db, "l1@example.com", "q", 100);
	db_set_alias_check(db, expand_check, "+");
	const char *ok[] = {"l0@example.com", "l1@example.com"};
	must(db_alias_add(db, "two@example.com", ok, 2, 0, &err), err);
	/* 11 lists of 100: past EXPAND_MAX_FINALS */
	char *lists[11];
	for (int i = 0; i < 11; i++) {
		char name[64], prefix[16];
		snprintf(name, sizeof(name), "m%d@example.com", i);
		snprintf(prefix, sizeof(prefix), "m%d", i);
		add_list(db, name, prefix, 100);
		lists[i] = xstrdup(name);
	}
	assert_int_equal(db_alias_add(db, "all@example.com", (const char *const *)lists, 11, 0, &err), -1);
	assert_string_equal(err, "destinations: the alias would expand to more than 1000 addresses");
	assert_int_equal(db_alias_add(db, "ten@example.com", (const char *const *)lists, 10, 0, &err), 0);
	/* a loop is not refused at write time: it may be completed by a later change */
	const char *to_b[] = {"loop-b@example.com"}, *to_a[] = {"loop-a@example.com"};
	must(db_alias_add(db, "loop-a@example.com", to_b, 1, 0, &err), err);
	must(db_alias_add(db, "loop-b@example.com", to_a, 1, 0, &err), err);
	for (int i = 0; i < 11; i++)
		free(lists[i]);
	close_db(&db);
}

static void test_strmap(void **state)
{
	struct strmap map = STRMAP_INIT;
	size_t v = 0;
	assert_false(strmap_get(&map, "a@x", &v));
	char key[64];
	for (size_t i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "User%zu@Example.COM", i);
		assert_true(strmap_put(&map, key, i));
	}
	assert_int_equal(map.n, 5000);
	for (size_t i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "user%zu@example.com", i);
		assert_true(strmap_get(&map, key, &v));
		assert_int_equal(v, i);
	}
	assert_false(strmap_put(&map, "USER7@EXAMPLE.COM", 99)); /* same key, any case: updated */
	assert_true(strmap_get(&map, "user7@example.com", &v));
	assert_int_equal(v, 99);
	assert_false(strmap_get(&map, "user5000@example.com", NULL));
	strmap_clear(&map);
	assert_int_equal(map.n, 0);
	assert_false(strmap_get(&map, "user7@example.com", NULL));
}

static int setup(void **state)
{
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	rmdir(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_strmap),
	    cmocka_unit_test(test_mutual_aliases_bounded),
	    cmocka_unit_test(test_lookup_bound_overflows),
	    cmocka_unit_test(test_check_refuses_too_many_finals),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
