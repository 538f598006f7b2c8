/*
 * test_spf_grammar: mxd/smtpd/spf_grammar.c, table-driven: a record, the client's family, and either the
 * rewrite libspf2 is given or the grammar error (RFC 7208 section 12). The rows follow the groups of the
 * OpenSPF RFC 7208 suite that libspf2 gets wrong on its own (tests/spf/rfc7208-tests.yml).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "mxd/common/util.h"
#include "mxd/smtpd/spf_grammar.h"

#define V4 AF_INET
#define V6 AF_INET6

struct row {
	const char *record;
	int family;
	const char *out;   /* NULL: a grammar error */
	const char *error; /* part of the error text */
};

static const struct row rows[] = {
    /* valid records pass through, modifiers last */
    {"v=spf1", V4, "v=spf1", NULL},
    {"v=spf1 -all", V4, "v=spf1 -all", NULL},
    {"V=SPF1  +a  mx:example.com/24 -ALL  ", V4, "v=spf1 +a mx:example.com/24 -all", NULL},
    {"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ~all", V4, "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ~all",
     NULL},
    {"v=spf1 include:_spf.example.com exists:%{ir}.%{l1r+-}._spf.%{d} ?all", V4,
     "v=spf1 include:_spf.example.com exists:%{ir}.%{l1r+-}._spf.%{d} ?all", NULL},
    {"v=spf1 ptr ptr:example.com -all exp=explain.%{d}", V4,
     "v=spf1 ptr ptr:example.com -all exp=explain.%{d}", NULL},
    {"v=spf1 a:foo.example.com. -all", V4, "v=spf1 a:foo.example.com. -all", NULL},
    {"v=spf1 a:macro%%percent%_%_space%-url-space.example.com -all", V4,
     "v=spf1 a:macro%%percent%_%_space%-url-space.example.com -all", NULL},
    /* unknown modifiers are dropped; redirect goes last, or away next to "all" */
    {"v=spf1 moo.cow-far_out=man:dog/cat ip4:1.2.3.4 -all", V4, "v=spf1 ip4:1.2.3.4 -all", NULL},
    {"v=spf1 redirect=t5.example.com ~all", V4, "v=spf1 ~all", NULL},
    {"v=spf1 redirect=t5.example.com -ip4:1.2.3.4", V4, "v=spf1 -ip4:1.2.3.4 redirect=t5.example.com", NULL},
    {"v=spf1 x-foo=%{c}%{r}%{t}", V4, "v=spf1", NULL},
    /* dual CIDR: the other family's length is dropped */
    {"v=spf1 a/24//64 mx:example.com//96", V4, "v=spf1 a/24 mx:example.com", NULL},
    {"v=spf1 a/24//64 mx:example.com//96", V6, "v=spf1 a//64 mx:example.com//96", NULL},
    /* CIDR length 0 */
    {"v=spf1 ip4:1.2.3.4/0 -all", V4, "v=spf1 ip4:0.0.0.0/1 ip4:128.0.0.0/1 -all", NULL},
    {"v=spf1 -ip6:::1.1.1.1/0", V6, "v=spf1 -ip6:::/1 -ip6:8000::/1", NULL},
    {"v=spf1 a/0 -all", V4, "v=spf1 exists:%{d}" SPF_GRAMMAR_SUFFIX_A4 " -all", NULL},
    {"v=spf1 a:e.example.com//0", V6, "v=spf1 exists:e.example.com" SPF_GRAMMAR_SUFFIX_A6, NULL},
    {"v=spf1 a:e.example.com//0", V4, "v=spf1 a:e.example.com", NULL},
    {"v=spf1 ?mx:e.example.com./0", V4, "v=spf1 ?exists:e.example.com" SPF_GRAMMAR_SUFFIX_MX4, NULL},
    {"v=spf1 mx//0", V6, "v=spf1 exists:%{d}" SPF_GRAMMAR_SUFFIX_MX6, NULL},
    /* grammar errors */
    {"v=spf1 ip4:1.2.3.4/032", V4, NULL, "ip4 CIDR"},
    {"v=spf1 ip4:1.2.3.4/33", V4, NULL, "ip4 CIDR"},
    {"v=spf1 ip4:1.2.3.4//32", V4, NULL, "ip4 CIDR"},
    {"v=spf1 ip4:1.2.3", V4, NULL, "ip4 network"},
    {"v=spf1 ip4:01.2.3.4", V4, NULL, "ip4 network"},
    {"v=spf1 ip4:1.2.3.4:8080", V4, NULL, "ip4 network"},
    {"v=spf1 ip6::CAFE::BABE", V4, NULL, "ip6 network"},
    {"v=spf1 ip6:::1/129", V4, NULL, "ip6 CIDR"},
    {"v=spf1 a/33", V4, NULL, "ip4 CIDR"},
    {"v=spf1 mx//129", V4, NULL, "ip6 CIDR"},
    {"v=spf1 a:1.2.3.4 -all", V4, NULL, "top label"},
    {"v=spf1 a:museum", V4, NULL, "top label"},
    {"v=spf1 a:museum.", V4, NULL, "top label"},
    {"v=spf1 a:foo.-dash", V4, NULL, "top label"},
    {"v=spf1 a: -all", V4, NULL, "empty domain-spec"},
    {"v=spf1 include", V4, NULL, "without a domain-spec"},
    {"v=spf1 exists:", V4, NULL, "empty domain-spec"},
    {"v=spf1 exists:foo.example.com/24", V4, NULL, "top label"},
    {"v=spf1 ptr:example.com/24", V4, NULL, "top label"},
    {"v=spf1 redirect=", V4, NULL, "empty domain-spec"},
    {"v=spf1 exp=", V4, NULL, "empty domain-spec"},
    {"v=spf1 -all exp=e1.example.com exp=e2.example.com", V4, NULL, "more than one exp"},
    {"v=spf1 redirect=a.example.com redirect=b.example.com", V4, NULL, "more than one redirect"},
    {"v=spf1 -all.", V4, NULL, "after \"all\""},
    {"v=spf1 -all:foo", V4, NULL, "after \"all\""},
    {"v=spf1 all/8", V4, NULL, "after \"all\""},
    {"v=spf1 =all", V4, NULL, "unknown mechanism"},
    {"v=spf1 frobnicate:x", V4, NULL, "unknown mechanism"},
    {"v=spf1 -exists:%(ir).sbl.example.com", V4, NULL, "'%' not followed"},
    {"v=spf1 -exists:foo%.sbl.example.com", V4, NULL, "'%' not followed"},
    {"v=spf1 -exists:foo.example.com%", V4, NULL, "end of a macro string"},
    {"v=spf1 -exists:%{x}.example.com", V4, NULL, "unknown macro letter"},
    {"v=spf1 -exists:%{d0}.example.com", V4, NULL, "transformer of 0"},
    {"v=spf1 -exists:%{d", V4, NULL, "malformed macro"},
    {"v=spf1 a:%{c}.example.com", V4, NULL, "c, r or t"},
    {"v=spf1 -all exp=%{r}.example.com", V4, NULL, "c, r or t"},
    {"v=spf1 x=%{q}", V4, NULL, "unknown macro letter"},
    {"v=spf1 -all \x80", V4, NULL, "non-ASCII"},
    {"v=spf1 -all\tip4:1.2.3.4", V4, NULL, "control character"},
    {"v=spf1 ip4:1.2.3.4 \x01 -all", V4, NULL, "control character"},
};

static void test_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < MXD_ARRAY_SIZE(rows); i++) {
		const struct row *r = &rows[i];
		size_t len = strlen(r->record);
		char out[SPF_GRAMMAR_OUT_SIZE(200)];
		const char *error = NULL;
		print_message("row %zu: %s\n", i, r->record);
		assert_true(spf_grammar_is_record(r->record, len));
		int ret = spf_grammar_rewrite(r->record, len, r->family, out, sizeof(out), &error);
		if (r->out != NULL) {
			assert_int_equal(ret, 0);
			assert_string_equal(out, r->out);
		} else {
			assert_int_equal(ret, -1);
			assert_non_null(error);
			assert_non_null(strstr(error, r->error));
		}
	}
}

static void test_is_record(void **state)
{
	(void)state;
	assert_true(spf_grammar_is_record("v=spf1", 6));
	assert_true(spf_grammar_is_record("V=Spf1 -all", 11));
	assert_false(spf_grammar_is_record("v=spf10 -all", 12));
	assert_false(spf_grammar_is_record("v=spf", 5));
	assert_false(spf_grammar_is_record("spf2.0/pra -all", 15));
	assert_false(spf_grammar_is_record("v=spf1\t-all", 11));
}

static void test_small_buffer_refused(void **state)
{
	(void)state;
	char out[16];
	const char *error = NULL;
	const char *rec = "v=spf1 a/0 mx/0 ip4:1.2.3.4/0";
	assert_int_equal(spf_grammar_rewrite(rec, strlen(rec), AF_INET, out, sizeof(out), &error), -1);
	assert_non_null(error);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows),
	    cmocka_unit_test(test_is_record),
	    cmocka_unit_test(test_small_buffer_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
