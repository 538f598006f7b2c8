/*
 * test_route: the routing rules (db/route.c) and how the queue manager's routing table (mxd/delivery/route.c)
 * matches them. Table-driven: match patterns and next hops (a row of input and the expected canonical form
 * or error words each), writes through the db API, and recipient domains against a set of rules
 * (precedence). The selection among next hops: test_route_select.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "route_fixture.h"

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
     {.match = "x.example", .nexthop = "[r.example]", .allow_unverified_tls = true},
     -1,
     0,
     0,
     {"allow unverified tls", "without an auth user"}},
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_match_rows),
	    cmocka_unit_test(test_nexthop_rows),
	    cmocka_unit_test_setup_teardown(test_write_rows, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_route_level_settings, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
