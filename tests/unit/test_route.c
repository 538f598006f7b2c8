/*
 * test_route: the routing rules (db/route.c) and the queue manager's routing table (mxd/delivery/route.c).
 * Table-driven: match patterns and next hops (a row of input and the expected canonical form or error
 * words each), writes through the db API, and recipient domains against a set of rules (precedence).
 * Then the selection itself with a fake clock: smooth weighted round-robin (an exact split over every
 * window of sum(weights) picks), priority failover through the circuit breaker (probe after the
 * cooldown, recovery), a reload that keeps the live state, the counters flushed and read back, and
 * credentials that are never shown.
 */
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

static int setup(void **state)
{
	struct unit_db *f = xcalloc(1, sizeof(*f));
	if (unit_db_open(f, "test_route") < 0)
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

static void assert_words(const char *error, const char *const *words, size_t n)
{
	for (size_t i = 0; i < n && words[i] != NULL; i++) {
		if (strstr(error, words[i]) == NULL)
			fail_msg("error '%s' lacks '%s'", error, words[i]);
	}
}

/* Add a hop; fail the test on error. */
static void add(struct db *db, const char *match, const char *nexthop, uint32_t weight, uint32_t priority)
{
	struct db_route_hop_spec spec = {
	    .match = match, .nexthop = nexthop, .weight = weight, .priority = priority};
	const char *err = "";
	if (db_route_add_hop(db, &spec, NULL, &err) < 0)
		fail_msg("add %s %s: %s", match, nexthop, err);
}

static int64_t hop_id(struct db *db, const char *match, const char *nexthop)
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

static struct route_table *load(struct db *db, const char *relayhost)
{
	struct route_table *t;
	const char *err = "";
	if (route_table_load(db, relayhost, "may", &t, &err) < 0)
		fail_msg("load: %s", err);
	return t;
}

static int64_t pick(struct route_table *t, const char *domain, int64_t now)
{
	struct route_choice c;
	int64_t retry;
	assert_int_equal(route_select(t, domain, now, &c, &retry), 0);
	route_choice_clear(&c);
	return c.hop_id;
}

/* --- syntax ----------------------------------------------------------------------------------------- */

static const struct match_row {
	const char *in;
	int rc;
	const char *out_or_error;
} match_rows[] = {
    {"example.com", 0, "example.com"},
    {"Example.COM", 0, "example.com"},
    {".example.com", 0, ".example.com"},
    {".DE", 0, ".de"},
    {"*", 0, "*"},
    {"", -1, "empty"},
    {"*.example.com", -1, "'.example.com'"},
    {"**", -1, "'*'"},
    {".", -1, "'.'"},
    {"..example.com", -1, "empty label"},
    {"com", -1, "two labels"},
    {"example.com.", -1, "ends with '.'"},
    {"exa mple.com", -1, NULL},
    {"user@example.com", -1, NULL},
};

static void test_match_rows(void **state)
{
	for (size_t i = 0; i < MXD_ARRAY_SIZE(match_rows); i++) {
		const struct match_row *row = &match_rows[i];
		char out[DB_ROUTE_MATCH_MAX + 1];
		const char *err = "";
		int rc = db_route_match_normalize(row->in, out, sizeof(out), &err);
		if (rc != row->rc)
			fail_msg("match '%s': rc %d, expected %d (%s)", row->in, rc, row->rc, err);
		if (rc == 0)
			assert_string_equal(out, row->out_or_error);
		else if (row->out_or_error != NULL)
			assert_words(err, &row->out_or_error, 1);
	}
}

static const struct nexthop_row {
	const char *in;
	int rc;
	enum db_route_nexthop_kind kind;
	const char *host;
	unsigned port;
	const char *canonical_or_error;
} nexthop_rows[] = {
    {"direct", 0, DB_ROUTE_NEXTHOP_DIRECT, "", 25, "direct"},
    {"DIRECT", 0, DB_ROUTE_NEXTHOP_DIRECT, "", 25, "direct"},
    {"[relay.example]:587", 0, DB_ROUTE_NEXTHOP_HOST_NO_MX, "relay.example", 587, "[relay.example]:587"},
    {"[Relay.Example]", 0, DB_ROUTE_NEXTHOP_HOST_NO_MX, "relay.example", 25, "[relay.example]:25"},
    {"[localhost]:2525", 0, DB_ROUTE_NEXTHOP_HOST_NO_MX, "localhost", 2525, "[localhost]:2525"},
    {"[192.0.2.1]:25", 0, DB_ROUTE_NEXTHOP_HOST_NO_MX, "192.0.2.1", 25, "[192.0.2.1]:25"},
    {"[2001:DB8:0::1]:465", 0, DB_ROUTE_NEXTHOP_HOST_NO_MX, "2001:db8::1", 465, "[2001:db8::1]:465"},
    {"relay.example", 0, DB_ROUTE_NEXTHOP_MX_OF_HOST, "relay.example", 25, "relay.example:25"},
    {"smtp.provider.example:2525", 0, DB_ROUTE_NEXTHOP_MX_OF_HOST, "smtp.provider.example", 2525,
     "smtp.provider.example:2525"},
    {"", -1, 0, NULL, 0, "empty"},
    {"[x", -1, 0, NULL, 0, "missing ']'"},
    {"[]:25", -1, 0, NULL, 0, "empty host"},
    {"[relay.example]x", -1, 0, NULL, 0, "after ']'"},
    {"[relay.example]:", -1, 0, NULL, 0, "port"},
    {"[relay.example]:0", -1, 0, NULL, 0, "port"},
    {"[relay.example]:65536", -1, 0, NULL, 0, "port"},
    {"relay.example:smtp", -1, 0, NULL, 0, "port"},
    {"192.0.2.1", -1, 0, NULL, 0, "brackets"},
    {"192.0.2.1:25", -1, 0, NULL, 0, "brackets"},
    {"2001:db8::1", -1, 0, NULL, 0, "brackets"},
    {"[2001:db8::zz]", -1, 0, NULL, 0, "IPv6"},
    {"relay..example", -1, 0, NULL, 0, "empty label"},
    {"-relay.example", -1, 0, NULL, 0, "starts with '-'"},
    {"relay.example.", -1, 0, NULL, 0, "ends with '.'"},
    {"relay example", -1, 0, NULL, 0, "letters, digits"},
    {"relay.example]", -1, 0, NULL, 0, "']'"},
};

static void test_nexthop_rows(void **state)
{
	for (size_t i = 0; i < MXD_ARRAY_SIZE(nexthop_rows); i++) {
		const struct nexthop_row *row = &nexthop_rows[i];
		struct db_route_nexthop nh;
		char buf[DB_ROUTE_NEXTHOP_MAX + 1];
		const char *err = "";
		int rc = db_route_nexthop_parse(row->in, &nh, &err);
		if (rc != row->rc)
			fail_msg("nexthop '%s': rc %d, expected %d (%s)", row->in, rc, row->rc, err);
		if (rc < 0) {
			assert_words(err, &row->canonical_or_error, 1);
			continue;
		}
		assert_int_equal(nh.kind, row->kind);
		assert_string_equal(nh.host, row->host);
		assert_int_equal(nh.port, row->port);
		assert_string_equal(db_route_nexthop_format(&nh, buf, sizeof(buf)), row->canonical_or_error);
		/* The canonical form parses to itself. */
		struct db_route_nexthop again;
		assert_int_equal(db_route_nexthop_parse(buf, &again, &err), 0);
		assert_string_equal(db_route_nexthop_format(&again, buf, sizeof(buf)),
		                    row->canonical_or_error);
	}
}

/* --- writes ----------------------------------------------------------------------------------------- */

enum write_op { W_ADD, W_DEL_HOP, W_DEL, W_COUNT };

static const struct write_row {
	enum write_op op;
	struct db_route_hop_spec spec; /* W_DEL_HOP, W_DEL: match, nexthop */
	int rc;
	int routes, hops;     /* W_COUNT: expected totals */
	const char *error[2]; /* words the error must hold */
} write_rows[] = {
    {W_ADD, {.match = "Example.com", .nexthop = "[Relay.example]:587", .weight = 20}, 0, 0, 0, {NULL}},
    {W_ADD, {.match = "example.com", .nexthop = "direct", .weight = 80}, 0, 0, 0, {NULL}},
    {W_COUNT, {0}, 0, 1, 2, {NULL}},
    {W_ADD,
     {.match = "example.com", .nexthop = "[relay.example]:587"},
     -1,
     0,
     0,
     {"nexthop '[relay.example]:587'", "already exists"}},
    {W_ADD, {.match = "example.com", .nexthop = "relay.example"}, 0, 0, 0, {NULL}},
    {W_ADD,
     {.match = "example.com", .nexthop = "relay.example:25"},
     -1,
     0,
     0,
     {"relay.example:25", "already exists"}},
    {W_ADD, {.match = "*.example.com", .nexthop = "direct"}, -1, 0, 0, {"match '*.example.com'", NULL}},
    {W_ADD, {.match = "x.example", .nexthop = "[x"}, -1, 0, 0, {"nexthop '[x'", "']'"}},
    {W_ADD, {.match = "x.example", .nexthop = "direct", .weight = 10001}, -1, 0, 0, {"weight 10001", NULL}},
    {W_ADD,
     {.match = "x.example", .nexthop = "direct", .priority = 70000},
     -1,
     0,
     0,
     {"priority 70000", NULL}},
    {W_ADD,
     {.match = "x.example", .nexthop = "direct", .tls_level = "strict"},
     -1,
     0,
     0,
     {"tls level 'strict'", NULL}},
    {W_ADD,
     {.match = "x.example", .nexthop = "[r.example]", .auth_user = "alice"},
     -1,
     0,
     0,
     {"auth password", "missing"}},
    {W_ADD,
     {.match = "x.example", .nexthop = "[r.example]", .auth_password = "s3cret-pw"},
     -1,
     0,
     0,
     {"auth user", NULL}},
    {W_ADD,
     {.match = "x.example", .nexthop = "direct", .auth_user = "alice", .auth_password = "s3cret-pw"},
     -1,
     0,
     0,
     {"auth user", "direct"}},
    {W_ADD,
     {.match = "x.example", .nexthop = "[r.example]", .auth_user = "alice", .auth_password = "bad\npw"},
     -1,
     0,
     0,
     {"auth password", "control"}},
    {W_ADD,
     {.match = "x.example", .nexthop = "[r.example]", .allow_plaintext_auth = true},
     -1,
     0,
     0,
     {"plaintext", NULL}},
    {W_ADD,
     {.match = "x.example", .nexthop = "direct", .description = "a\tb"},
     -1,
     0,
     0,
     {"description", NULL}},
    {W_COUNT, {0}, 0, 1, 3, {NULL}},
    {W_DEL_HOP,
     {.match = "nosuch.example", .nexthop = "direct"},
     -1,
     0,
     0,
     {"match 'nosuch.example'", "no such"}},
    {W_DEL_HOP,
     {.match = "example.com", .nexthop = "[other.example]"},
     -1,
     0,
     0,
     {"[other.example]:25", NULL}},
    {W_DEL_HOP, {.match = "example.com", .nexthop = "RELAY.example:25"}, 0, 0, 0, {NULL}},
    {W_COUNT, {0}, 0, 1, 2, {NULL}},
    {W_ADD, {.match = ".example.org", .nexthop = "[smarthost.example]"}, 0, 0, 0, {NULL}},
    {W_DEL_HOP, {.match = ".example.org", .nexthop = "[smarthost.example]"}, 0, 0, 0, {NULL}},
    {W_COUNT, {0}, 0, 1, 2, {NULL}}, /* the last hop took its route along */
    {W_DEL, {.match = "nosuch.example"}, -1, 0, 0, {"match 'nosuch.example'", "no such route"}},
    {W_DEL, {.match = "EXAMPLE.com"}, 0, 0, 0, {NULL}},
    {W_COUNT, {0}, 0, 0, 0, {NULL}},
};

static void test_write_rows(void **state)
{
	struct unit_db *f = *state;
	for (size_t i = 0; i < MXD_ARRAY_SIZE(write_rows); i++) {
		const struct write_row *row = &write_rows[i];
		const char *err = "";
		int rc = 0;
		switch (row->op) {
		case W_ADD:
			rc = db_route_add_hop(f->db, &row->spec, NULL, &err);
			break;
		case W_DEL_HOP:
			rc = db_route_del_hop(f->db, row->spec.match, row->spec.nexthop, NULL, &err);
			break;
		case W_DEL:
			rc = db_route_del(f->db, row->spec.match, &err);
			break;
		case W_COUNT: {
			struct db_route *list;
			size_t n, hops = 0;
			assert_int_equal(db_route_list(f->db, 0, &list, &n, &err), 0);
			for (size_t j = 0; j < n; j++)
				hops += list[j].nhops;
			db_route_list_free(&list, n);
			if ((int)n != row->routes || (int)hops != row->hops)
				fail_msg("row %zu: %zu routes, %zu hops; expected %d, %d", i, n, hops,
				         row->routes, row->hops);
			continue;
		}
		}
		if (rc != row->rc)
			fail_msg("row %zu: rc %d, expected %d (%s)", i, rc, row->rc, err);
		if (rc < 0) {
			assert_words(err, row->error, 2);
			/* An error never quotes a password. */
			assert_null(strstr(err, "s3cret"));
			assert_null(strstr(err, "bad\npw"));
		}
	}
}

static void test_route_level_settings(void **state)
{
	struct unit_db *f = *state;
	struct db_route_hop_spec spec = {
	    .match = "example.com", .nexthop = "direct", .tls_level = "verify", .description = "warm-up"};
	struct db_route r;
	const char *err;
	bool created;

	assert_int_equal(db_route_add_hop(f->db, &spec, &created, &err), 0);
	assert_true(created);
	struct db_route_hop_spec second = {.match = "example.com", .nexthop = "[relay.example]"};
	assert_int_equal(db_route_add_hop(f->db, &second, &created, &err), 0);
	assert_false(created);
	assert_int_equal(db_route_get(f->db, "example.com", 0, &r, &err), 0);
	assert_string_equal(r.tls_level, "verify"); /* NULL kept it */
	assert_string_equal(r.description, "warm-up");
	assert_int_equal(r.nhops, 2);
	db_route_clear(&r);
	struct db_route_hop_spec third = {
	    .match = "example.com", .nexthop = "[relay2.example]", .tls_level = "default"};
	assert_int_equal(db_route_add_hop(f->db, &third, NULL, &err), 0);
	assert_int_equal(db_route_get(f->db, "example.com", 0, &r, &err), 0);
	assert_string_equal(r.tls_level, "");
	db_route_clear(&r);
	assert_int_equal(db_route_get(f->db, "nosuch.example", 0, &r, &err), 1);
}

/* --- matching --------------------------------------------------------------------------------------- */

static const struct precedence_row {
	const char *domain;
	const char *match;
	enum db_route_nexthop_kind kind;
	const char *host;
} precedence_rows[] = {
    {"example.com", "example.com", DB_ROUTE_NEXTHOP_HOST_NO_MX, "exact.example"},
    {"EXAMPLE.COM", "example.com", DB_ROUTE_NEXTHOP_HOST_NO_MX, "exact.example"},
    {"example.com.", "example.com", DB_ROUTE_NEXTHOP_HOST_NO_MX, "exact.example"},
    {"a.example.com", ".example.com", DB_ROUTE_NEXTHOP_MX_OF_HOST, "parent.example"},
    {"x.y.example.com", ".example.com", DB_ROUTE_NEXTHOP_MX_OF_HOST, "parent.example"},
    {"sub.example.com", "sub.example.com", DB_ROUTE_NEXTHOP_DIRECT, "sub.example.com"},
    {"a.sub.example.com", ".sub.example.com", DB_ROUTE_NEXTHOP_HOST_NO_MX, "deeper.example"},
    {"b.a.sub.example.com", ".sub.example.com", DB_ROUTE_NEXTHOP_HOST_NO_MX, "deeper.example"},
    {"notexample.com", "*", DB_ROUTE_NEXTHOP_HOST_NO_MX, "star.example"},
    {"example.org", "*", DB_ROUTE_NEXTHOP_HOST_NO_MX, "star.example"},
    {"host.de", ".de", DB_ROUTE_NEXTHOP_DIRECT, "host.de"},
    {"inactive.example", "*", DB_ROUTE_NEXTHOP_HOST_NO_MX, "star.example"},
};

static void test_precedence(void **state)
{
	struct unit_db *f = *state;
	const char *err;
	add(f->db, "*", "[star.example]", 1, 0);
	add(f->db, ".example.com", "parent.example", 1, 0);
	add(f->db, "example.com", "[exact.example]:2525", 1, 0);
	add(f->db, ".sub.example.com", "[deeper.example]", 1, 0);
	add(f->db, "sub.example.com", "direct", 1, 0);
	add(f->db, ".de", "direct", 1, 0);
	add(f->db, "inactive.example", "[never.example]", 1, 0);
	assert_int_equal(sqlite3_exec(db_handle(f->db),
	                              "UPDATE routes SET active = 0 WHERE match = 'inactive.example'", NULL,
	                              NULL, NULL),
	                 SQLITE_OK);

	struct route_table *t = load(f->db, "");
	for (size_t i = 0; i < MXD_ARRAY_SIZE(precedence_rows); i++) {
		const struct precedence_row *row = &precedence_rows[i];
		struct route_choice c;
		assert_int_equal(route_select(t, row->domain, 1000, &c, NULL), 0);
		if (strcmp(c.match, row->match) != 0 || c.kind != row->kind || strcmp(c.host, row->host) != 0)
			fail_msg("%s: got %s -> %s (kind %d), expected %s -> %s (kind %d)", row->domain,
			         c.match, c.host, c.kind, row->match, row->host, row->kind);
		assert_string_equal(c.tls_level, "may");
	}
	route_table_free(&t);
	assert_null(t);

	/* Without "*", unmatched domains take relayhost; empty relayhost means direct. */
	assert_int_equal(db_route_del(f->db, "*", &err), 0);
	t = load(f->db, "");
	struct route_choice c;
	assert_int_equal(route_select(t, "example.org", 1000, &c, NULL), 0);
	assert_int_equal(c.kind, DB_ROUTE_NEXTHOP_DIRECT);
	assert_string_equal(c.host, "example.org");
	assert_int_equal(c.port, 25);
	assert_int_equal(c.hop_id, 0);
	assert_string_equal(c.match, ROUTE_DEFAULT_MATCH);
	route_table_free(&t);

	t = load(f->db, "[smarthost.example]:587");
	assert_int_equal(route_select(t, "example.org", 1000, &c, NULL), 0);
	assert_int_equal(c.kind, DB_ROUTE_NEXTHOP_HOST_NO_MX);
	assert_string_equal(c.host, "smarthost.example");
	assert_int_equal(c.port, 587);
	route_table_free(&t);

	t = load(f->db, "smarthost.example");
	assert_int_equal(route_select(t, "example.org", 1000, &c, NULL), 0);
	assert_int_equal(c.kind, DB_ROUTE_NEXTHOP_MX_OF_HOST);
	assert_string_equal(c.host, "smarthost.example");
	route_table_free(&t);

	assert_int_equal(route_table_load(f->db, "[bad", "may", &t, &err), -1);
	assert_non_null(strstr(err, "relayhost '[bad'"));
	assert_int_equal(route_table_load(f->db, "", "strict", &t, &err), -1);
	assert_non_null(strstr(err, "smtp_tls_security_level"));
}

/* --- selection -------------------------------------------------------------------------------------- */

static void test_swrr_20_80(void **state)
{
	struct unit_db *f = *state;
	add(f->db, "example.com", "[relay.example]", 20, 0);
	add(f->db, "example.com", "direct", 80, 0);
	int64_t relay = hop_id(f->db, "example.com", "[relay.example]:25");
	int64_t direct = hop_id(f->db, "example.com", "direct");
	struct route_table *t = load(f->db, "");

	int64_t picks[1000];
	size_t n_relay = 0, n_direct = 0;
	for (size_t i = 0; i < 1000; i++) {
		picks[i] = pick(t, "example.com", 1000);
		n_relay += picks[i] == relay;
		n_direct += picks[i] == direct;
	}
	assert_int_equal(n_relay, 200);
	assert_int_equal(n_direct, 800);
	/* Exact in every window of sum(weights) = 100 consecutive picks, not only the aligned ones. */
	for (size_t start = 0; start + 100 <= 1000; start++) {
		size_t w = 0;
		for (size_t i = start; i < start + 100; i++)
			w += picks[i] == relay;
		if (w != 20)
			fail_msg("window at %zu: %zu relay picks, expected 20", start, w);
	}
	/* Smooth: the relay never gets two picks in a row at 20/80. */
	for (size_t i = 1; i < 1000; i++)
		assert_false(picks[i] == relay && picks[i - 1] == relay);
	route_table_free(&t);
}

static void test_swrr_1_1_1(void **state)
{
	struct unit_db *f = *state;
	add(f->db, "*", "[a.example]", 1, 0);
	add(f->db, "*", "[b.example]", 1, 0);
	add(f->db, "*", "[c.example]", 1, 0);
	struct route_table *t = load(f->db, "");
	int64_t picks[300];
	for (size_t i = 0; i < 300; i++)
		picks[i] = pick(t, "any.example", 1000);
	for (size_t start = 0; start + 3 <= 300; start++) {
		assert_true(picks[start] != picks[start + 1]);
		assert_true(picks[start] != picks[start + 2]);
		assert_true(picks[start + 1] != picks[start + 2]);
	}
	route_table_free(&t);
}

static void test_failover(void **state)
{
	struct unit_db *f = *state;
	add(f->db, "example.com", "[a.example]", 1, 10);
	add(f->db, "example.com", "[b.example]", 1, 10);
	add(f->db, "example.com", "[backup.example]", 1, 20);
	int64_t a = hop_id(f->db, "example.com", "[a.example]:25");
	int64_t b = hop_id(f->db, "example.com", "[b.example]:25");
	int64_t backup = hop_id(f->db, "example.com", "[backup.example]:25");
	struct route_table *t = load(f->db, "");
	struct route_choice c;
	int64_t now = 1000, retry = 0;

	/* Healthy: a and b share the mail, the backup gets none. */
	for (int i = 0; i < 10; i++)
		assert_true(pick(t, "example.com", now) != backup);

	/* a fails below the threshold: still used; a success in between resets the count. */
	route_report(t, a, false, now);
	route_report(t, a, false, now);
	route_report(t, a, true, now);
	route_report(t, a, false, now);
	route_report(t, a, false, now);
	assert_string_equal(route_hop_state(t, a), "closed");
	route_report(t, a, false, now);
	assert_string_equal(route_hop_state(t, a), "open");
	/* Only b now (same priority), still not the backup. */
	for (int i = 0; i < 5; i++)
		assert_true(pick(t, "example.com", now) == b);

	/* b fails ROUTE_FAILURE_THRESHOLD times: the backup takes over. */
	for (int i = 0; i < ROUTE_FAILURE_THRESHOLD; i++)
		route_report(t, b, false, now + 5);
	for (int i = 0; i < 5; i++)
		assert_true(pick(t, "example.com", now + 10) == backup);

	/* The cooldown of a ends at now + ROUTE_PROBE_COOLDOWN: one probe goes to a, then the backup again.
	 */
	now += ROUTE_PROBE_COOLDOWN;
	assert_int_equal(route_select(t, "example.com", now, &c, NULL), 0);
	assert_int_equal(c.hop_id, a);
	assert_true(c.probe);
	assert_string_equal(route_hop_state(t, a), "half-open");
	for (int i = 0; i < 3; i++) {
		assert_int_equal(route_select(t, "example.com", now, &c, NULL), 0);
		assert_int_equal(c.hop_id, backup);
		assert_false(c.probe);
	}
	/* The probe fails: open again for another cooldown. */
	route_report(t, a, false, now);
	assert_string_equal(route_hop_state(t, a), "open");
	assert_true(pick(t, "example.com", now + 1) == backup); /* b: no probe before +5 */

	/* b's probe is due (opened at +5): it succeeds, and b takes all the mail back. */
	now = 1000 + 5 + ROUTE_PROBE_COOLDOWN;
	assert_int_equal(route_select(t, "example.com", now, &c, NULL), 0);
	assert_int_equal(c.hop_id, b);
	assert_true(c.probe);
	route_report(t, b, true, now);
	assert_string_equal(route_hop_state(t, b), "closed");
	for (int i = 0; i < 5; i++)
		assert_true(pick(t, "example.com", now) == b);

	/* a's second probe succeeds: a and b alternate again. */
	now = 1000 + 3 * ROUTE_PROBE_COOLDOWN;
	assert_true(pick(t, "example.com", now) == a);
	route_report(t, a, true, now);
	int64_t p1 = pick(t, "example.com", now), p2 = pick(t, "example.com", now);
	assert_true((p1 == a && p2 == b) || (p1 == b && p2 == a));

	/* Everything down: route_select says defer until the earliest probe. */
	for (int i = 0; i < ROUTE_FAILURE_THRESHOLD; i++) {
		route_report(t, a, false, now);
		route_report(t, b, false, now);
		route_report(t, backup, false, now + 7);
	}
	assert_int_equal(route_select(t, "example.com", now + 8, &c, &retry), 1);
	assert_int_equal(retry, now + ROUTE_PROBE_COOLDOWN);
	/* A probe whose outcome never comes is let through again after another cooldown. */
	assert_int_equal(route_select(t, "example.com", now + ROUTE_PROBE_COOLDOWN, &c, NULL), 0);
	assert_int_equal(c.hop_id, a);
	assert_int_equal(route_select(t, "example.com", now + ROUTE_PROBE_COOLDOWN, &c, NULL), 0);
	assert_int_equal(c.hop_id, b);
	assert_int_equal(route_select(t, "example.com", now + ROUTE_PROBE_COOLDOWN, &c, &retry), 1);
	assert_int_equal(route_select(t, "example.com", now + 2 * ROUTE_PROBE_COOLDOWN, &c, NULL), 0);
	assert_int_equal(c.hop_id, a);
	assert_true(c.probe);

	/* Unknown hop ids are ignored. */
	route_report(t, 99999, false, now);
	route_count(t, 99999, ROUTE_SENT);
	assert_null(route_hop_state(t, 99999));
	route_table_free(&t);
}

static void test_direct_has_no_circuit(void **state)
{
	struct unit_db *f = *state;
	add(f->db, "example.com", "direct", 1, 0);
	add(f->db, "example.com", "[backup.example]", 1, 5);
	int64_t direct = hop_id(f->db, "example.com", "direct");
	struct route_table *t = load(f->db, "");
	for (int i = 0; i < 10; i++)
		route_report(t, direct, false, 1000);
	assert_string_equal(route_hop_state(t, direct), "closed");
	assert_true(pick(t, "example.com", 1000) == direct);
	route_table_free(&t);

	/* The default route (relayhost) does have one. */
	t = load(f->db, "[relay.example]");
	for (int i = 0; i < ROUTE_FAILURE_THRESHOLD; i++)
		route_report(t, 0, false, 1000);
	assert_string_equal(route_hop_state(t, 0), "open");
	struct route_choice c;
	int64_t retry;
	assert_int_equal(route_select(t, "other.example", 1001, &c, &retry), 1);
	assert_int_equal(retry, 1000 + ROUTE_PROBE_COOLDOWN);
	route_table_free(&t);
}

static void test_reload_keeps_state(void **state)
{
	struct unit_db *f = *state;
	struct db *other;
	const char *err;
	add(f->db, "example.com", "[relay.example]", 3, 0);
	add(f->db, "example.com", "direct", 7, 0);
	add(f->db, "example.net", "[b.example]", 1, 1);
	add(f->db, "example.net", "[a.example]", 1, 0); /* the largest id */
	int64_t a = hop_id(f->db, "example.net", "[a.example]:25");
	int64_t b = hop_id(f->db, "example.net", "[b.example]:25");
	int64_t relay = hop_id(f->db, "example.com", "[relay.example]:25");

	/* Two tables that see the same picks; only one of them is reloaded half-way. */
	struct route_table *t = load(f->db, ""), *ref = load(f->db, "");
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pick(t, "example.com", 1000), pick(ref, "example.com", 1000));
	}
	for (int i = 0; i < ROUTE_FAILURE_THRESHOLD; i++)
		route_report(t, a, false, 1000);
	route_count(t, relay, ROUTE_SENT);
	assert_int_equal(route_table_changed(t, f->db, &err), 0);

	/* Another connection (mxctl) adds a rule. Our own writes do not count as a change. */
	assert_int_equal(db_open(f->path, DB_OPEN_READWRITE, &other, &err), 0);
	add(other, "example.org", "[c.example]", 1, 0);
	assert_int_equal(route_table_changed(t, f->db, &err), 1);
	assert_int_equal(route_table_reload(t, f->db, &err), 0);
	assert_int_equal(route_table_changed(t, f->db, &err), 0);

	/* The new rule is in; a's circuit is still open; the round-robin goes on where it was. */
	struct route_choice c;
	assert_int_equal(route_select(t, "example.org", 1000, &c, NULL), 0);
	assert_string_equal(c.host, "c.example");
	assert_string_equal(route_hop_state(t, a), "open");
	assert_true(pick(t, "example.net", 1001) == b);
	for (int i = 0; i < 20; i++)
		assert_int_equal(pick(t, "example.com", 1000), pick(ref, "example.com", 1000));

	/* A hop deleted and another added: SQLite hands the largest id out again, so the new hop may get
	 * a's id; a different next hop under the same id starts with fresh state all the same. */
	assert_int_equal(db_route_del_hop(other, "example.net", "[a.example]", NULL, &err), 0);
	add(other, "example.net", "[a2.example]", 1, 0);
	int64_t a2 = hop_id(f->db, "example.net", "[a2.example]:25");
	assert_int_equal(route_table_reload(t, f->db, &err), 0);
	assert_string_equal(route_hop_state(t, a2), "closed");
	if (a2 != a)
		assert_null(route_hop_state(t, a));
	assert_true(pick(t, "example.net", 1001) == a2);

	/* The unflushed count of the relay survived both reloads. */
	assert_int_equal(route_stats_flush(t, f->db, &err), 0);
	struct db_route r;
	assert_int_equal(db_route_get(f->db, "example.com", 0, &r, &err), 0);
	for (size_t i = 0; i < r.nhops; i++) {
		if (r.hops[i].id == relay)
			assert_int_equal(r.hops[i].sent, 1);
	}
	db_route_clear(&r);
	db_close(&other);
	route_table_free(&t);
	route_table_free(&ref);
}

static void test_stats_flush(void **state)
{
	struct unit_db *f = *state;
	const char *err;
	add(f->db, "example.com", "[relay.example]", 1, 0);
	add(f->db, "example.com", "direct", 3, 0);
	int64_t relay = hop_id(f->db, "example.com", "[relay.example]:25");
	int64_t direct = hop_id(f->db, "example.com", "direct");
	struct route_table *t = load(f->db, "");

	for (int i = 0; i < 40; i++)
		pick(t, "example.com", 1000);
	for (int i = 0; i < 7; i++)
		route_count(t, relay, ROUTE_SENT);
	route_count(t, relay, ROUTE_DEFERRED);
	route_count(t, direct, ROUTE_BOUNCED);
	route_count(t, 0, ROUTE_SENT); /* the default route: memory only */
	assert_int_equal(route_stats_flush(t, f->db, &err), 0);
	/* A second flush adds only what came since. */
	route_count(t, direct, ROUTE_SENT);
	assert_int_equal(route_stats_flush(t, f->db, &err), 0);
	assert_int_equal(route_stats_flush(t, f->db, &err), 0);

	struct db_route *list;
	size_t n;
	assert_int_equal(db_route_list(f->db, 0, &list, &n, &err), 0);
	assert_int_equal(n, 1);
	for (size_t i = 0; i < list[0].nhops; i++) {
		const struct db_route_hop *h = &list[0].hops[i];
		if (h->id == relay) {
			assert_int_equal(h->selected, 10);
			assert_int_equal(h->sent, 7);
			assert_int_equal(h->deferred, 1);
			assert_int_equal(h->bounced, 0);
		} else {
			assert_int_equal(h->selected, 30);
			assert_int_equal(h->sent, 1);
			assert_int_equal(h->bounced, 1);
		}
	}
	db_route_list_free(&list, n);

	/* Counts for a hop deleted before the flush are dropped, not an error. */
	route_count(t, relay, ROUTE_SENT);
	assert_int_equal(db_route_del_hop(f->db, "example.com", "[relay.example]", NULL, &err), 0);
	assert_int_equal(route_stats_flush(t, f->db, &err), 0);
	/* Deleting the route deletes its counters. */
	assert_int_equal(db_route_del(f->db, "example.com", &err), 0);
	sqlite3_stmt *stmt;
	assert_int_equal(
	    sqlite3_prepare_v2(db_handle(f->db), "SELECT count(*) FROM route_stats", -1, &stmt, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(stmt, 0), 0);
	sqlite3_finalize(stmt);
	route_table_free(&t);
}

static void test_credentials(void **state)
{
	struct unit_db *f = *state;
	struct db_route_hop_spec spec = {.match = "example.com",
	                                 .nexthop = "[relay.example]:587",
	                                 .auth_user = "alice",
	                                 .auth_password = "s3cret-pw",
	                                 .allow_plaintext_auth = true};
	struct db_route *list;
	struct stat st;
	const char *err;
	char buf[600];
	size_t n;

	/* A database others could read loses that permission before a password goes in. */
	assert_int_equal(chmod(f->path, 0644), 0);
	assert_int_equal(db_route_add_hop(f->db, &spec, NULL, &err), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0007, 0);
	assert_int_equal(st.st_mode & 0640, 0640);

	/* Listing: the password is not even read. */
	assert_int_equal(db_route_list(f->db, 0, &list, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_true(list[0].hops[0].has_password);
	assert_string_equal(list[0].hops[0].auth_password, "");
	assert_string_equal(db_route_hop_auth_str(&list[0].hops[0], buf, sizeof(buf)),
	                    "user=alice password=**** plaintext-ok");
	db_route_list_free(&list, n);
	assert_null(list);

	/* mxd reads it, and hands it to the SMTP client in the choice. */
	assert_int_equal(db_route_list(f->db, DB_ROUTE_WITH_SECRETS, &list, &n, &err), 0);
	assert_string_equal(list[0].hops[0].auth_password, "s3cret-pw");
	db_route_list_free(&list, n);
	struct route_table *t = load(f->db, "");
	struct route_choice c;
	assert_int_equal(route_select(t, "example.com", 1000, &c, NULL), 0);
	assert_string_equal(c.auth_user, "alice");
	assert_string_equal(c.auth_password, "s3cret-pw");
	assert_true(c.allow_plaintext_auth);
	route_choice_clear(&c);
	assert_string_equal(c.auth_password, "");
	assert_int_equal(route_select(t, "other.example", 1000, &c, NULL), 0);
	assert_string_equal(c.auth_user, "");
	route_table_free(&t);

	struct db_route_hop h = {.auth_user = ""};
	assert_string_equal(db_route_hop_auth_str(&h, buf, sizeof(buf)), "-");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_match_rows),
	    cmocka_unit_test(test_nexthop_rows),
	    cmocka_unit_test_setup_teardown(test_write_rows, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_route_level_settings, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_swrr_20_80, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_swrr_1_1_1, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failover, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_direct_has_no_circuit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reload_keeps_state, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stats_flush, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_credentials, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
