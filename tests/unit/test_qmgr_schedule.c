/* Unit tests for mxd/delivery/qmgr_schedule: the queue manager's timing decisions, one table each: retry
 * backoff, expiry after maximal_queue_lifetime (and the next attempt otherwise), message age across clock
 * jumps, due recipients, delay warnings, the secondary's takeover, and clock-jump detection. */
#include "mxd/common/config.h"
#include "mxd/delivery/qmgr_schedule.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define HOUR 3600
#define DAY  86400

/* Postfix's defaults: 300 s, 4000 s, 5 days; delay warning off; no takeover. */
static struct mxd_config cfg_with(int64_t min, int64_t max, int64_t lifetime, int64_t warn, int64_t takeover)
{
	struct mxd_config cfg = {0};
	cfg.minimal_backoff_time = min;
	cfg.maximal_backoff_time = max;
	cfg.maximal_queue_lifetime = lifetime;
	cfg.delay_warning_time = warn;
	cfg.takeover_after = takeover;
	return cfg;
}

static void test_backoff(void **state)
{
	static const struct {
		int64_t min, max;
		int attempts;
		int64_t delay;
	} rows[] = {
	    {300, 4000, 0, 300},    /* first retry: minimal_backoff_time */
	    {300, 4000, 1, 600},    /* doubled per attempt */
	    {300, 4000, 2, 1200},   /**/
	    {300, 4000, 3, 2400},   /**/
	    {300, 4000, 4, 4000},   /* 4800 capped at maximal_backoff_time */
	    {300, 4000, 50, 4000},  /* stays capped, no overflow */
	    {300, 300, 5, 300},     /* min == max: constant */
	    {600, 300, 0, 300},     /* min above max: max wins */
	    {1, DAY, 10, 1024},     /**/
	    {1, DAY, 1000000, DAY}, /* many attempts: the loop stops at the cap */
	    {300, 4000, -1, 300},   /* no attempt counted: the minimum */
	};
	for (size_t i = 0; i < N(rows); i++) {
		struct mxd_config cfg = cfg_with(rows[i].min, rows[i].max, 5 * DAY, 0, 0);
		int64_t delay = qmgr_schedule_backoff(&cfg, rows[i].attempts);
		if (delay != rows[i].delay)
			fail_msg("row %zu: backoff(%lld..%lld, %d) = %lld, want %lld", i,
			         (long long)rows[i].min, (long long)rows[i].max, rows[i].attempts,
			         (long long)delay, (long long)rows[i].delay);
	}
}

static void test_retry(void **state)
{
	const int64_t now = 1700000000;
	static const struct {
		int64_t lifetime, age;
		int attempts;
		enum queue_rcpt_state st;
		int64_t next; /* DEFERRED: the next attempt, relative to now */
	} rows[] = {
	    {5 * DAY, 0, 0, QUEUE_RCPT_DEFERRED, 300},            /* fresh: retried after the minimum */
	    {5 * DAY, HOUR, 2, QUEUE_RCPT_DEFERRED, 1200},        /**/
	    {5 * DAY, 5 * DAY - 1, 9, QUEUE_RCPT_DEFERRED, 4000}, /* a second before expiry */
	    {5 * DAY, 5 * DAY, 9, QUEUE_RCPT_BOUNCED, 0},         /* lifetime reached: expired */
	    {5 * DAY, 30 * DAY, 0, QUEUE_RCPT_BOUNCED, 0},        /* long past */
	    {0, 0, 0, QUEUE_RCPT_BOUNCED, 0},                     /* lifetime 0: the first failure bounces */
	    {DAY, -HOUR, 0, QUEUE_RCPT_DEFERRED, 300},            /* arrival in the future (clock stepped) */
	};
	for (size_t i = 0; i < N(rows); i++) {
		struct mxd_config cfg = cfg_with(300, 4000, rows[i].lifetime, 0, 0);
		int64_t next = -1;
		enum queue_rcpt_state st =
		    qmgr_schedule_retry(&cfg, now, rows[i].age, rows[i].attempts, &next);
		if (st != rows[i].st)
			fail_msg("row %zu: state %d, want %d", i, (int)st, (int)rows[i].st);
		if (st == QUEUE_RCPT_DEFERRED && next != now + rows[i].next)
			fail_msg("row %zu: next attempt now%+lld, want now%+lld", i, (long long)(next - now),
			         (long long)rows[i].next);
		if (st == QUEUE_RCPT_BOUNCED && next != -1)
			fail_msg("row %zu: an expired recipient got a next attempt", i);
	}
}

static void test_age(void **state)
{
	static const struct {
		int64_t now, skew, arrival, age;
	} rows[] = {
	    {1000, 0, 400, 600},                 /**/
	    {1000, 0, 1000, 0},                  /**/
	    {1000 + 7 * DAY, 7 * DAY, 400, 600}, /* a 7-day step forward is not counted */
	    {1000 - HOUR, -HOUR, 400, 600},      /* nor a step back */
	    {1000, 0, 2000, -1000},              /* arrived "later" than now */
	};
	for (size_t i = 0; i < N(rows); i++)
		assert_int_equal(qmgr_schedule_age(rows[i].now, rows[i].skew, rows[i].arrival), rows[i].age);
}

static void test_rcpt_due(void **state)
{
	static const struct {
		enum queue_rcpt_state st;
		int64_t next_attempt, until;
		bool due;
	} rows[] = {
	    {QUEUE_RCPT_PENDING, 0, 0, true},         /* pending: always */
	    {QUEUE_RCPT_PENDING, 5000, 1000, true},   /* whatever its retry time says */
	    {QUEUE_RCPT_DEFERRED, 1000, 1000, true},  /* retry time reached */
	    {QUEUE_RCPT_DEFERRED, 999, 1000, true},   /**/
	    {QUEUE_RCPT_DEFERRED, 1001, 1000, false}, /* not yet */
	    {QUEUE_RCPT_SENT, 0, 1000, false},        /* finished ones never */
	    {QUEUE_RCPT_BOUNCED, 0, 1000, false},     /**/
	};
	for (size_t i = 0; i < N(rows); i++) {
		struct queue_rcpt_info r = {.state = rows[i].st, .next_attempt = rows[i].next_attempt};
		if (qmgr_schedule_rcpt_due(&r, rows[i].until) != rows[i].due)
			fail_msg("row %zu: due should be %d", i, rows[i].due);
	}
}

static void test_warn_due(void **state)
{
	static const struct {
		int64_t warn, age;
		bool warned, due;
	} rows[] = {
	    {0, 30 * DAY, false, false},            /* delay_warning_time 0: off */
	    {4 * HOUR, 4 * HOUR - 1, false, false}, /* not waited long enough */
	    {4 * HOUR, 4 * HOUR, false, true},      /* due */
	    {4 * HOUR, 2 * DAY, false, true},       /**/
	    {4 * HOUR, 2 * DAY, true, false},       /* once only */
	    {-1, 2 * DAY, false, false},            /* negative: off */
	};
	for (size_t i = 0; i < N(rows); i++) {
		struct mxd_config cfg = cfg_with(300, 4000, 5 * DAY, rows[i].warn, 0);
		if (qmgr_schedule_warn_due(&cfg, rows[i].age, rows[i].warned) != rows[i].due)
			fail_msg("row %zu: warning due should be %d", i, rows[i].due);
	}
}

static void test_takeover_due(void **state)
{
	const int64_t now = 1700000000;
	static const struct {
		int64_t after;
		bool takeover;
		int64_t down_for; /* -1: primary up (primary_down_since 0) */
		bool due;
	} rows[] = {
	    {0, false, DAY, false},   /* takeover_after 0: never */
	    {600, false, -1, false},  /* primary up */
	    {600, false, 599, false}, /* not down long enough */
	    {600, false, 600, true},  /* down for takeover_after */
	    {600, false, DAY, true},  /**/
	    {600, true, DAY, false},  /* already in takeover */
	};
	for (size_t i = 0; i < N(rows); i++) {
		struct mxd_config cfg = cfg_with(300, 4000, 5 * DAY, 0, rows[i].after);
		int64_t since = rows[i].down_for < 0 ? 0 : now - rows[i].down_for;
		if (qmgr_schedule_takeover_due(&cfg, rows[i].takeover, since, now) != rows[i].due)
			fail_msg("row %zu: takeover due should be %d", i, rows[i].due);
	}
}

static void test_clock_jump(void **state)
{
	static const struct {
		int64_t wall, last_wall, mono, last_mono, jump;
	} rows[] = {
	    {1001, 1000, 51, 50, 0},                     /* a normal tick */
	    {1060, 1000, 51, 50, 0},                     /* 59 s of drift or a slow tick: no jump */
	    {1000 + 300, 1000, 50, 50, 300},             /* QMGR_CLOCK_JUMP forward: a jump */
	    {1000 + 299, 1000, 50, 50, 0},               /* just under */
	    {1000 - 299, 1000, 50, 50, 0},               /**/
	    {1000 - 300, 1000, 50, 50, -300},            /* back */
	    {1000 + 7 * DAY + 1, 1000, 51, 50, 7 * DAY}, /* a week forward */
	    {1001, 1000, 50 + HOUR, 50, 1 - HOUR},       /* the wall clock stood still an hour */
	};
	for (size_t i = 0; i < N(rows); i++) {
		int64_t jump = qmgr_schedule_clock_jump(rows[i].wall, rows[i].last_wall, rows[i].mono,
		                                        rows[i].last_mono);
		if (jump != rows[i].jump)
			fail_msg("row %zu: jump %lld, want %lld", i, (long long)jump,
			         (long long)rows[i].jump);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_backoff),    cmocka_unit_test(test_retry),
	    cmocka_unit_test(test_age),        cmocka_unit_test(test_rcpt_due),
	    cmocka_unit_test(test_warn_due),   cmocka_unit_test(test_takeover_due),
	    cmocka_unit_test(test_clock_jump),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
