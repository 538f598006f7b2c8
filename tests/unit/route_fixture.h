/*
 * route_fixture.h: what test_route.c and test_route_select.c share: a fresh database per test (setup,
 * teardown), error-word checks, and short ways to add a rule, find its next hop's id, load the queue
 * manager's routing table and pick a next hop at a given time. Header-only (static inline).
 */
#ifndef MXD_TESTS_ROUTE_FIXTURE_H
#define MXD_TESTS_ROUTE_FIXTURE_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "db/db.h"
#include "db/route.h"
#include "mxd/delivery/route.h"
#include "mxd/common/util.h"
#include "unit_fixtures.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static inline int setup(void **state)
{
	struct unit_db *f = xcalloc(1, sizeof(*f));
	if (unit_db_open(f, "test_route") < 0)
		return -1;
	*state = f;
	return 0;
}

static inline int teardown(void **state)
{
	struct unit_db *f = *state;
	unit_db_close(f);
	free(f);
	return 0;
}

static inline void assert_words(const char *error, const char *const *words, size_t n)
{
	for (size_t i = 0; i < n && words[i] != NULL; i++) {
		if (strstr(error, words[i]) == NULL)
			fail_msg("error '%s' lacks '%s'", error, words[i]);
	}
}

/* Add a hop; fail the test on error. */
static inline void add(struct db *db, const char *match, const char *nexthop, uint32_t weight,
                       uint32_t priority)
{
	struct db_route_hop_spec spec = {
	    .match = match, .nexthop = nexthop, .weight = weight, .priority = priority};
	const char *err = "";
	if (db_route_add_hop(db, &spec, NULL, &err) < 0)
		fail_msg("add %s %s: %s", match, nexthop, err);
}

static inline int64_t hop_id(struct db *db, const char *match, const char *nexthop)
{
	struct db_route r;
	const char *err;
	int64_t id = -1;
	assert_int_equal(db_route_get(db, match, 0, &r, &err), 0);
	for (size_t i = 0; i < r.nhops; i++) {
		if (strcmp(r.hops[i].nexthop, nexthop) == 0)
			id = r.hops[i].id;
	}
	db_route_clear(&r);
	if (id < 0)
		fail_msg("no hop %s in %s", nexthop, match);
	return id;
}

static inline struct route_table *load(struct db *db, const char *relayhost)
{
	struct route_table *t;
	const char *err = "";
	if (route_table_load(db, relayhost, "may", &t, &err) < 0)
		fail_msg("load: %s", err);
	return t;
}

static inline int64_t pick(struct route_table *t, const char *domain, int64_t now)
{
	struct route_choice c;
	int64_t retry;
	assert_int_equal(route_select(t, domain, now, &c, &retry), 0);
	route_choice_clear(&c);
	return c.hop_id;
}

#endif
