/* Unit tests for mxd/delivery/reply_class: one table of replies (code, enhanced status, text) and whether
 * each is a throttling or reputation answer: the providers' real texts, 4.7.x on 421/450/451, and the
 * replies that must not count (a full mailbox, an unknown user, a 5xx with the same words). */
#include "mxd/delivery/reply_class.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

struct row {
	int code;
	const char *enh, *text;
	bool throttle;
};

static const struct row rows[] = {
    /* Gmail */
    {421, "4.7.0",
     "[192.0.2.1] Our system has detected that this message is suspicious due to the very low reputation of "
     "the sending IP address.",
     true},
    {421, "4.7.28", "Our system has detected an unusual rate of unsolicited mail originating from your IP",
     true},
    {450, "4.2.1",
     "The user you are trying to contact is receiving mail at a rate that prevents additional "
     "messages from being delivered. Please resend your message at a later time. rate limited",
     true},
    /* Outlook */
    {451, "4.7.650", "The mail server [192.0.2.1] has been temporarily rate limited due to IP reputation.",
     true},
    /* Yahoo */
    {421, "4.7.0", "[TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume", true},
    {421, "", "[TSS04] Messages from 192.0.2.1 temporarily deferred", true},
    /* any 4.7.x on the transaction-level codes */
    {421, "4.7.0", "try later", true},
    {450, "4.7.1", "Client host rejected: cannot find your reverse hostname", true},
    {451, "4.7.1", "Please try again later", true},
    /* texts, whatever the code */
    {452, "4.5.3", "Too many connections from your IP", true},
    {421, "4.3.2", "Service not available, THROTTLED", true},
    {452, NULL, "too many messages in this session", true},
    /* not throttling */
    {452, "4.2.2", "Mailbox full", false},
    {450, "4.2.0", "Mailbox busy", false},
    {451, "4.3.0", "Local error in processing", false},
    {451, "4.4.1", "Connection timed out", false},
    {452, "4.3.1", "Insufficient system storage", false},
    {421, "4.3.2", "Service shutting down", false},
    {454, "4.7.0", "TLS not available", false}, /* 454: not a transaction-level code, and no known text */
    {550, "5.7.1", "rate limited due to IP reputation", false}, /* a refusal is a refusal */
    {554, "5.7.0", "very low reputation", false},
    {250, "2.0.0", "ok, rate limit not reached", false},
    {0, "4.4.1", "rate limit", false}, /* no reply from the server at all */
    {421, NULL, NULL, false},
    {451, "4.7", NULL, false}, /* "4.7" is not "4.7.x" */
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		if (reply_class_throttle(r->code, r->enh, r->text) != r->throttle)
			fail_msg("row %zu: %d %s %s: expected %s", i, r->code,
			         r->enh != NULL ? r->enh : "(null)", r->text != NULL ? r->text : "(null)",
			         r->throttle ? "throttle" : "other");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_table)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
