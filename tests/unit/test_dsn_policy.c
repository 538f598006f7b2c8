/* Unit tests for mxd/delivery/dsn_policy: which stored messages get no notification (backscatter). One
 * table: a message and the reason expected (NULL: notify). */
#include "mxd/delivery/dsn_policy.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* What mxd puts on top of a message it accepted with spf_policy = tag. */
#define OURS(result)                                                                                         \
	"Authentication-Results: mx.mxd.test; spf=" result " smtp.mailfrom=a@b.test\r\n"                     \
	"Received-SPF: " result " (mx.mxd.test: domain of a@b.test ...) client-ip=192.0.2.9;\r\n"            \
	"\treceiver=mx.mxd.test; identity=mailfrom\r\n"                                                      \
	"Received: from c.test (c.test [192.0.2.9])\r\n\tby mx.mxd.test (mxd) with ESMTP id 1; date\r\n"
#define MSG  "From: <a@b.test>\r\nSubject: hi\r\n"
#define BODY "\r\nbody\r\n"

static const struct {
	const char *message;
	const char *reason;
} rows[] = {
    {OURS("pass") MSG BODY, NULL},
    {OURS("fail") MSG BODY, "SPF fail"},
    {OURS("Fail") MSG BODY, "SPF fail"},
    {OURS("softfail") MSG BODY, NULL},
    {OURS("none") MSG BODY, NULL},
    {OURS("temperror") MSG BODY, NULL},
    {"Received-SPF:\r\n fail (folded)\r\nReceived: x\r\n" MSG BODY, "SPF fail"},
    /* only our verdict counts: the first Received-SPF, above the first Received */
    {OURS("pass") "Received-SPF: fail (forged)\r\n" MSG BODY, NULL},
    {"Received: from x\r\nReceived-SPF: fail\r\n" MSG BODY, NULL},
    {MSG BODY, NULL},
    {MSG "Auto-Submitted: auto-replied\r\n" BODY, "Auto-Submitted: auto-replied"},
    {MSG "auto-submitted: Auto-Generated (vacation)\r\n" BODY, "Auto-Submitted: auto-generated"},
    {MSG "Auto-Submitted:\r\n\tauto-notified; owner-email=\"x@y\"\r\n" BODY, "Auto-Submitted: auto-notified"},
    {MSG "Auto-Submitted: no\r\n" BODY, NULL},
    {MSG "Auto-Submitted:   No (comment)\r\n" BODY, NULL},
    {MSG "Auto-Submitted: bad\x01value\r\n" BODY, "Auto-Submitted: bad?value"},
    {MSG "Precedence: bulk\r\n" BODY, "Precedence: bulk"},
    {MSG "Precedence: List\r\n" BODY, "Precedence: list"},
    {MSG "Precedence: junk\r\n" BODY, "Precedence: junk"},
    {MSG "Precedence: first-class\r\n" BODY, NULL},
    {MSG "List-Id: News <news.b.test>\r\n" BODY, "List-Id"},
    {MSG "List-Unsubscribe: <mailto:u@b.test>\r\n" BODY, "List-Unsubscribe"},
    {MSG "List-Post: <mailto:l@b.test>\r\n" BODY, NULL},
    /* only the header section is read */
    {MSG "\r\nAuto-Submitted: auto-replied\r\nPrecedence: bulk\r\nList-Id: x\r\n", NULL},
    {"From: a\nPrecedence: bulk\n\nbody\n", "Precedence: bulk"}, /* LF line ends */
    {"From: a\n\nPrecedence: bulk\n", NULL},
    {"", NULL},
    {"Precedence: bulk", "Precedence: bulk"}, /* no line end at all */
    {"XPrecedence: bulk\r\nList-Idx: y\r\n\r\n", NULL},
};

static void test_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char buf[DSN_POLICY_REASON_MAX];
		const char *got =
		    dsn_policy_suppress(rows[i].message, strlen(rows[i].message), buf, sizeof(buf));
		if ((got == NULL) != (rows[i].reason == NULL) ||
		    (got != NULL && strcmp(got, rows[i].reason) != 0))
			fail_msg("row %zu: got \"%s\", expected \"%s\"", i, got != NULL ? got : "(send)",
			         rows[i].reason != NULL ? rows[i].reason : "(send)");
	}
}

/* The length given is the end: a header after it is not looked at, and no NUL is needed. */
static void test_length_bound(void **state)
{
	(void)state;
	const char msg[] = "From: a\r\nPrecedence: bulk\r\n\r\n";
	char buf[DSN_POLICY_REASON_MAX];
	assert_null(dsn_policy_suppress(msg, 9, buf, sizeof(buf)));
	assert_null(dsn_policy_suppress(NULL, 0, buf, sizeof(buf)));
	char big[300];
	memset(big, 'a', sizeof(big));
	memcpy(big, "Auto-Submitted: ", 16);
	const char *r = dsn_policy_suppress(big, sizeof(big), buf, sizeof(buf));
	assert_non_null(r);
	assert_true(strlen(r) < DSN_POLICY_REASON_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows),
	    cmocka_unit_test(test_length_bound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
