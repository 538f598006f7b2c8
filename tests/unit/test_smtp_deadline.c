/* Unit tests for smtp_session_data_deadline: how DATA content moves the session's deadline under
 * smtpd_min_data_rate (Postfix's semantics), one row of input and expected deadline each. */
#include "mxd/smtpd/smtp_session.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

struct deadline_row {
	const char *name;
	int64_t deadline, now;
	uint64_t octets;
	int64_t min_rate, timeout_ms;
	int64_t expect;
};

static const struct deadline_row rows[] = {
    /* 3 s timeout, 500 bytes/s: each octet is worth 2 ms */
    {"nothing arrived: unchanged", 13000, 11000, 0, 500, 3000, 13000},
    {"one octet: 2 ms later", 13000, 11000, 1, 500, 3000, 13002},
    {"500 octets: one second later", 13000, 11000, 500, 500, 3000, 14000},
    {"capped at now + timeout", 13000, 11000, 5000, 500, 3000, 14000},
    {"cap follows the clock", 13000, 12500, 5000, 500, 3000, 15500},
    {"a trickle falls behind", 13000, 12990, 1, 500, 3000, 13002},
    {"below one ms of credit", 13000, 11000, 1, 2000, 3000, 13000},
    {"huge read, no overflow", 13000, 11000, UINT64_C(1) << 40, 1, 3000, 14000},
    {"rate 0: idle timeout per read", 13000, 12000, 1, 0, 3000, 15000},
    {"rate 0, nothing arrived", 13000, 12000, 0, 0, 3000, 13000},
    {"deadline already passed", 10000, 11000, 500, 500, 3000, 11000},
};

static void test_deadline_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct deadline_row *r = &rows[i];
		int64_t got =
		    smtp_session_data_deadline(r->deadline, r->now, r->octets, r->min_rate, r->timeout_ms);
		if (got != r->expect)
			fail_msg("%s: got %lld, expected %lld", r->name, (long long)got,
			         (long long)r->expect);
	}
}

/* A client that sends at rate R against a minimum M keeps its deadline ahead of the clock exactly when
 * R >= M (simulated: one read every 100 ms for a minute). */
static void test_deadline_rates(void **state)
{
	(void)state;
	static const struct {
		uint64_t per_100ms; /* octets per read */
		bool survives;
	} cases[] = {{0, false}, {10, false}, {40, false}, {50, true}, {200, true}, {100000, true}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t now = 0, deadline = 3000;
		bool alive = true;
		for (int step = 0; step < 600 && alive; step++) {
			now += 100;
			if (now >= deadline)
				alive = false;
			else
				deadline =
				    smtp_session_data_deadline(deadline, now, cases[i].per_100ms, 500, 3000);
		}
		if (alive != cases[i].survives)
			fail_msg("%llu octets per 100 ms: survives %d, expected %d",
			         (unsigned long long)cases[i].per_100ms, alive, cases[i].survives);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_deadline_table),
	    cmocka_unit_test(test_deadline_rates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
