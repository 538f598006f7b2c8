/*
 * test_msg_auth: the pure parts of the DKIM/DMARC checks, table-driven: mxd/smtpd/msg_header (the
 * header walk, DKIM-Signature d=/s=, the From: domain), mxd/smtpd/auth_results (the one
 * Authentication-Results field and its log summary) and mxd/smtpd/dmarc_eval (libopendmarc judging
 * records, SPF and DKIM results, alignment, sp= and pct=). The DNS and libopendkim are in
 * tests/integration/test_dmarc.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxd/common/util.h"
#include "mxd/smtpd/auth_results.h"
#include "mxd/smtpd/dmarc_eval.h"
#include "mxd/smtpd/msg_header.h"

static void test_header_walk(void **state)
{
	const char msg[] =
	    "From: a@b.test\r\nDKIM-Signature: v=1;\r\n\td=x.test\r\nSubject : hi\r\n\r\nbody\r\n";
	size_t pos = 0;
	struct msg_field f;
	assert_int_equal(msg_header_next(msg, strlen(msg), &pos, &f), 1);
	assert_true(msg_header_is(msg, &f, "from"));
	assert_int_equal(f.end - f.start, strlen("From: a@b.test"));
	assert_int_equal(msg_header_next(msg, strlen(msg), &pos, &f), 1);
	assert_true(msg_header_is(msg, &f, "DKIM-Signature"));
	assert_memory_equal(msg + f.value_off, " v=1;\r\n\td=x.test", f.value_len);
	assert_int_equal(msg_header_next(msg, strlen(msg), &pos, &f), 1);
	assert_true(msg_header_is(msg, &f, "Subject"));
	assert_int_equal(msg_header_next(msg, strlen(msg), &pos, &f), 0);
	pos = 0;
	assert_int_equal(msg_header_next(" folded\r\nFrom: x\r\n", 18, &pos, &f), -1);
	pos = 0;
	assert_int_equal(msg_header_next("no colon here\r\n", 15, &pos, &f), -1);
}

/* ARC validation runs only for a header with an ARC-* field: the search for one. */
static void test_header_prefix(void **state)
{
	const char with[] = "Received: x\r\nFrom: a@b.test\r\narc-seal: i=1\r\n\r\nARC-Seal: in the body\r\n";
	const char without[] = "From: a@b.test\r\nX-ARC-Seal: i=1\r\nARC: 1\r\n\r\nARC-Seal: body\r\n";
	const char broken[] = "From: a@b.test\r\nnot a field\r\nARC-Seal: i=1\r\n\r\n";
	assert_int_equal(msg_header_has_prefix(with, strlen(with), "ARC-"), 1);
	assert_int_equal(msg_header_has_prefix(without, strlen(without), "ARC-"), 0);
	assert_int_equal(msg_header_has_prefix(broken, strlen(broken), "ARC-"), -1);
	assert_int_equal(msg_header_has_prefix("", 0, "ARC-"), 0);
	assert_int_equal(msg_header_has_prefix("ARC-Seal: i=1", 13, "ARC-"), 1); /* no final CRLF */
}

static void test_dkim_tags(void **state)
{
	static const struct {
		const char *value, *d, *s; /* d NULL: refused */
	} rows[] = {
	    {" v=1; a=rsa-sha256; d=Example.COM; s=sel1; bh=x; b=y", "example.com", "sel1"},
	    {"s = s2 ;d=\r\n\tmail.example.org.", "mail.example.org", "s2"},
	    {"d=example.com; s=2024_01", "example.com", "2024_01"},
	    {"d=example.com", NULL, NULL},
	    {"s=x", NULL, NULL},
	    {"d=exa mple.com; s=x", "example.com", "x"}, /* FWS inside a value is dropped */
	    {"d=a..b; s=x", NULL, NULL},
	    {"d=a/b; s=x", NULL, NULL},
	    {"d=a.b; s=x; d=c.d", NULL, NULL},
	    {"d=; s=x", NULL, NULL},
	    {"dd=a.b; ss=x", NULL, NULL},
	};
	for (size_t i = 0; i < MXD_ARRAY_SIZE(rows); i++) {
		char d[64], s[64];
		int r =
		    msg_header_dkim_tags(rows[i].value, strlen(rows[i].value), d, sizeof(d), s, sizeof(s));
		if (rows[i].d == NULL) {
			if (r != -1)
				fail_msg("row %zu \"%s\": accepted as d=%s s=%s", i, rows[i].value, d, s);
			continue;
		}
		if (r != 0)
			fail_msg("row %zu \"%s\": refused", i, rows[i].value);
		assert_string_equal(d, rows[i].d);
		assert_string_equal(s, rows[i].s);
	}
	char small[8], s[8];
	assert_int_equal(msg_header_dkim_tags("d=example.com; s=x", 18, small, sizeof(small), s, sizeof(s)),
	                 -1);
}

static void test_from_domain(void **state)
{
	static const struct {
		const char *value, *domain; /* NULL: no single domain */
	} rows[] = {
	    {" alice@Example.COM", "example.com"},
	    {" Alice <alice@example.com>", "example.com"},
	    {" \"Smith, Alice\" <alice@example.com>", "example.com"},
	    {" \"x@evil.test\" <alice@example.com>", "example.com"},
	    {" alice@example.com (Alice, at home)", "example.com"},
	    {" <alice@sub.example.org.>", "sub.example.org"},
	    {" a@b.test, c@d.test", NULL},
	    {" <a@b.test> <c@d.test>", NULL},
	    {" undisclosed:;", NULL},
	    {" no address", NULL},
	    {" <alice@exa_mple..com>", NULL},
	    {" alice@[127.0.0.1]", NULL},
	    {" \"unterminated <a@b.test>", NULL},
	};
	for (size_t i = 0; i < MXD_ARRAY_SIZE(rows); i++) {
		char out[256] = "";
		int r = msg_header_from_domain(rows[i].value, strlen(rows[i].value), out, sizeof(out));
		if (rows[i].domain == NULL) {
			if (r != -1)
				fail_msg("row %zu \"%s\": gave %s", i, rows[i].value, out);
			continue;
		}
		if (r != 0)
			fail_msg("row %zu \"%s\": refused", i, rows[i].value);
		assert_string_equal(out, rows[i].domain);
	}
}

static void test_auth_results(void **state)
{
	struct auth_results *ar = auth_results_new("mx.mxd.test");
	char *h = auth_results_header(ar);
	assert_string_equal(h, "Authentication-Results: mx.mxd.test; none\r\n");
	free(h);
	auth_results_add(ar, "spf", "pass", NULL, "smtp.mailfrom", "alice@sender.test", NULL);
	auth_results_add(ar, "dkim", "none", "no signature", NULL);
	auth_results_add(ar, "dkim", "fail", "body hash did not verify", "header.d", "x.test", "header.s",
	                 "s1", "header.b", "abc+/123", NULL);
	auth_results_add(ar, "dmarc", "fail", "p=reject dis=reject", "header.from", "x.test", "policy.dmarc",
	                 "reject", NULL);
	h = auth_results_header(ar);
	assert_string_equal(h,
	                    "Authentication-Results: mx.mxd.test;\r\n"
	                    "\tspf=pass smtp.mailfrom=alice@sender.test;\r\n"
	                    "\tdkim=none (no signature);\r\n"
	                    "\tdkim=fail (body hash did not verify) header.d=x.test header.s=s1\r\n"
	                    "\theader.b=abc+/123;\r\n"
	                    "\tdmarc=fail (p=reject dis=reject) header.from=x.test policy.dmarc=reject\r\n");
	free(h);
	char *sum = auth_results_summary(ar);
	assert_string_equal(sum, "spf=pass dkim=none dkim=fail(x.test) dmarc=fail(x.test)");
	free(sum);
	auth_results_free(&ar);
	assert_null(ar);

	/* hostile values from the DNS or the client are quoted, never raw */
	ar = auth_results_new("mx.mxd.test");
	auth_results_add(ar, "dkim", "permerror", "bad (x)\r\nX-Evil: 1", "header.d", "a\r\nX-Evil: 2",
	                 "header.s", "", NULL);
	h = auth_results_header(ar);
	assert_null(strstr(h, "\r\nX-Evil"));
	assert_non_null(strstr(h, "header.d=\"a??X-Evil: 2\""));
	assert_null(strstr(h, "header.s"));
	free(h);
	auth_results_free(&ar);
}

static struct dkim_verify_sig sig(const char *d, const char *result)
{
	struct dkim_verify_sig s = {.result = result};
	str_copy(s.domain, sizeof(s.domain), d);
	str_copy(s.selector, sizeof(s.selector), "sel");
	return s;
}

static void test_dmarc_eval(void **state)
{
	struct dkim_verify_sig pass_aligned = sig("example.com", "pass");
	struct dkim_verify_sig pass_sub = sig("mail.example.com", "pass");
	struct dkim_verify_sig pass_other = sig("other.test", "pass");
	struct dkim_verify_sig fail_aligned = sig("example.com", "fail");
	static const char *const reject = "v=DMARC1; p=reject";
	struct {
		const char *from, *record;
		bool at_org, tempfail;
		const char *spf_domain, *spf;
		const struct dkim_verify_sig *sig;
		enum dmarc_result result;
		char policy, disposition;
		bool spf_aligned, dkim_aligned;
	} rows[] = {
	    {"example.com", reject, false, false, "evil.test", "fail", &pass_aligned, DMARC_RESULT_PASS, 'r',
	     'n', false, true},
	    {"example.com", reject, false, false, "example.com", "pass", NULL, DMARC_RESULT_PASS, 'r', 'n',
	     true, false},
	    {"example.com", reject, false, false, "bounce.example.com", "pass", NULL, DMARC_RESULT_PASS, 'r',
	     'n', true, false},
	    {"example.com", "v=DMARC1; p=reject; aspf=s", false, false, "bounce.example.com", "pass", NULL,
	     DMARC_RESULT_FAIL, 'r', 'r', false, false},
	    {"example.com", reject, false, false, "evil.test", "fail", &pass_sub, DMARC_RESULT_PASS, 'r', 'n',
	     false, true},
	    {"example.com", "v=DMARC1; p=reject; adkim=s", false, false, "evil.test", "fail", &pass_sub,
	     DMARC_RESULT_FAIL, 'r', 'r', false, false},
	    {"example.com", reject, false, false, "evil.test", "fail", &pass_other, DMARC_RESULT_FAIL, 'r',
	     'r', false, false},
	    {"example.com", reject, false, false, "example.com", "softfail", &fail_aligned, DMARC_RESULT_FAIL,
	     'r', 'r', false, false},
	    {"example.com", "v=DMARC1; p=quarantine", false, false, NULL, NULL, NULL, DMARC_RESULT_FAIL, 'q',
	     'q', false, false},
	    {"example.com", "v=DMARC1; p=none", false, false, "evil.test", "fail", NULL, DMARC_RESULT_FAIL,
	     'n', 'n', false, false},
	    {"example.com", "v=DMARC1; p=reject; pct=0", false, false, "evil.test", "fail", NULL,
	     DMARC_RESULT_FAIL, 'r', 'q', false, false},
	    {"sub.example.com", "v=DMARC1; p=reject; sp=quarantine", true, false, "evil.test", "fail", NULL,
	     DMARC_RESULT_FAIL, 'q', 'q', false, false},
	    {"example.com", NULL, false, false, "evil.test", "fail", NULL, DMARC_RESULT_NONE, 0, 0, false,
	     false},
	    {"example.com", NULL, false, true, "evil.test", "fail", NULL, DMARC_RESULT_TEMPERROR, 0, 0, false,
	     false},
	    {"example.com", "v=DMARC2; p=reject", false, false, "evil.test", "fail", NULL,
	     DMARC_RESULT_PERMERROR, 0, 0, false, false},
	    {"example.com", "v=DMARC1; p=bogus", false, false, "evil.test", "fail", NULL,
	     DMARC_RESULT_PERMERROR, 0, 0, false, false},
	    {NULL, reject, false, false, "evil.test", "fail", NULL, DMARC_RESULT_PERMERROR, 0, 0, false,
	     false},
	};
	for (size_t i = 0; i < MXD_ARRAY_SIZE(rows); i++) {
		struct dmarc_eval_input in = {
		    .from_domain = rows[i].from,
		    .record = rows[i].record,
		    .record_at_org = rows[i].at_org,
		    .record_tempfail = rows[i].tempfail,
		    .spf_domain = rows[i].spf_domain,
		    .spf_result = rows[i].spf,
		    .sigs = rows[i].sig,
		    .nsig = rows[i].sig != NULL ? 1 : 0,
		};
		struct dmarc_eval_verdict v;
		dmarc_eval_run(&in, &v);
		if (v.result != rows[i].result || v.policy != rows[i].policy ||
		    v.disposition != rows[i].disposition || v.spf_aligned != rows[i].spf_aligned ||
		    v.dkim_aligned != rows[i].dkim_aligned)
			fail_msg("row %zu: %s p=%c dis=%c spf_aligned=%d dkim_aligned=%d (%s)", i,
			         dmarc_result_str(v.result), v.policy ? v.policy : '-',
			         v.disposition ? v.disposition : '-', v.spf_aligned, v.dkim_aligned,
			         v.reason);
	}
}

static void test_org_domain(void **state)
{
	char out[256];
	dmarc_eval_org_domain("mail.example.co.uk", out, sizeof(out));
	assert_string_equal(out, "example.co.uk");
	dmarc_eval_org_domain("a.b.example.com", out, sizeof(out));
	assert_string_equal(out, "example.com");
	dmarc_eval_org_domain("example.com", out, sizeof(out));
	assert_string_equal(out, "example.com");
}

static int group_setup(void **state)
{
	const char *error;
	if (dmarc_eval_init("/usr/share/publicsuffix/public_suffix_list.dat", &error) < 0) {
		fprintf(stderr, "test_msg_auth: FATAL: %s (apt-get install publicsuffix)\n", error);
		return -1;
	}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_header_walk),  cmocka_unit_test(test_header_prefix),
	    cmocka_unit_test(test_dkim_tags),    cmocka_unit_test(test_from_domain),
	    cmocka_unit_test(test_auth_results), cmocka_unit_test(test_dmarc_eval),
	    cmocka_unit_test(test_org_domain),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
