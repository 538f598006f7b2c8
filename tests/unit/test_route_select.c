/*
 * test_route_select: the queue manager's choice of next hop (mxd/delivery/route.c) with a fake clock:
 * smooth weighted round-robin (an exact split over every window of sum(weights) picks), priority failover
 * through the circuit breaker (probe after the cooldown, recovery), a reload that keeps the live state, the
 * counters flushed and read back, and credentials that are never shown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "route_fixture.h"

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
	                                 .allow_plaintext_auth = true,
	                                 .allow_unverified_tls = true};
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
	                    "user=alice password=**** plaintext-ok unverified-tls-ok");
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
	assert_true(c.allow_unverified_tls);
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
