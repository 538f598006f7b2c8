/*
 * test_addr: rows of input and expected result for addr_domain_valid(), addr_local_valid(),
 * addr_normalize() and addr_domain(). An input may hold "<N*c>", which stands for N times c (for the
 * RFC 5321 length limits).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mxd/common/addr.h"
#include "mxd/common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct addr_row {
	const char *input;
	const char *expected; /* addr_normalize: the output; addr_domain: the domain (NULL: none) */
	const char *error;    /* substring of the error; NULL: valid */
};

/* Expand "<N*c>" sequences; the result is malloc'd. */
static char *expand(const char *pattern)
{
	size_t cap = strlen(pattern) + 1024, len = 0;
	char *out = xmalloc(cap);
	for (const char *p = pattern; *p != '\0';) {
		unsigned n;
		char c;
		int used;
		if (*p == '<' && sscanf(p, "<%u*%c>%n", &n, &c, &used) == 2 && used > 0) {
			assert_true(len + n + 1 < cap);
			memset(out + len, c, n);
			len += n;
			p += used;
		} else {
			out[len++] = *p++;
		}
	}
	out[len] = '\0';
	return out;
}

static const struct addr_row domain_rows[] = {
    {"example.com", NULL, NULL},
    {"Sub.Example.COM", NULL, NULL},
    {"xn--bcher-kva.example", NULL, NULL},
    {"b\xc3\xbc"
     "cher.example",
     NULL, NULL},
    {"a-b.example", NULL, NULL},
    {"1.2.3.4", NULL, NULL},
    {"<63*a>.example", NULL, NULL},
    {"<63*a>.<63*b>.<63*c>.<61*d>.e", NULL, NULL},
    {"", NULL, "empty domain"},
    {"example", NULL, "at least two labels"},
    {"-a.example", NULL, "starts or ends with '-'"},
    {"a-.example", NULL, "starts or ends with '-'"},
    {"a..example", NULL, "empty label"},
    {".example.com", NULL, "empty label"},
    {"example.com.", NULL, "ends with '.'"},
    {"exa_mple.com", NULL, "other than letters"},
    {"exa mple.com", NULL, "other than letters"},
    {"[192.0.2.1]", NULL, "other than letters"},
    {"<64*a>.example", NULL, "longer than 63"},
    {"<63*a>.<63*b>.<63*c>.<63*d>.e", NULL, "longer than 255"},
};

static const struct addr_row local_rows[] = {
    {"user", NULL, NULL},
    {"first.last", NULL, NULL},
    {"user+tag", NULL, NULL},
    {"!#$%&'*+-/=?^_`{|}~", NULL, NULL},
    {"j\xc3\xb6rg", NULL, NULL},
    {"<64*x>", NULL, NULL},
    {"", NULL, "empty local part"},
    {".user", NULL, "leading, trailing or double"},
    {"user.", NULL, "leading, trailing or double"},
    {"a..b", NULL, "leading, trailing or double"},
    {"us er", NULL, "needs quoting"},
    {"us\"er", NULL, "needs quoting"},
    {"a@b", NULL, "needs quoting"},
    {"a,b", NULL, "needs quoting"},
    {"<65*x>", NULL, "longer than 64"},
};

static const struct addr_row normalize_rows[] = {
    {"user@example.com", "user@example.com", NULL},
    {"User@Example.COM", "user@example.com", NULL},
    {"First.Last+Tag@Sub.Example.ORG", "first.last+tag@sub.example.org", NULL},
    {"j\xc3\xb6rg@Example.com", "j\xc3\xb6rg@example.com", NULL},
    {"<64*A>@<63*b>.<63*c>.<57*d>.com", "<64*a>@<63*b>.<63*c>.<57*d>.com", NULL},
    {"foo", NULL, "no '@domain'"},
    {"foo@", NULL, "empty domain"},
    {"@example.com", NULL, "empty local part"},
    {"a@b@example.com", NULL, "needs quoting"},
    {"a..b@example.com", NULL, "double"},
    {"user@example", NULL, "two labels"},
    {"user@exa_mple.com", NULL, "other than letters"},
    {"<65*a>@example.com", NULL, "longer than 64"},
    {"<64*a>@<63*b>.<63*c>.<58*d>.com", NULL, "longer than 254"},
};

static const struct addr_row domain_of_rows[] = {
    {"user@example.com", "example.com", NULL},
    {"@example.com", "example.com", NULL},
    {"a@b@example.com", "example.com", NULL},
    {"user@", "", NULL},
    {"postmaster", NULL, NULL},
};

static void check_validity(const struct addr_row *rows, size_t n, int (*fn)(const char *, const char **))
{
	for (size_t i = 0; i < n; i++) {
		char *input = expand(rows[i].input);
		const char *err = NULL;
		int rc = fn(input, &err);
		if (rows[i].error == NULL) {
			if (rc != 0)
				fail_msg("row %zu '%s': unexpected error '%s'", i, rows[i].input, err);
		} else {
			if (rc != -1)
				fail_msg("row %zu '%s': accepted, expected '%s'", i, rows[i].input,
				         rows[i].error);
			if (strstr(err, rows[i].error) == NULL)
				fail_msg("row %zu '%s': error '%s' lacks '%s'", i, rows[i].input, err,
				         rows[i].error);
		}
		free(input);
	}
}

static void test_domain_valid(void **state)
{
	check_validity(domain_rows, MXD_ARRAY_SIZE(domain_rows), addr_domain_valid);
}

static void test_local_valid(void **state)
{
	check_validity(local_rows, MXD_ARRAY_SIZE(local_rows), addr_local_valid);
}

static void test_normalize(void **state)
{
	for (size_t i = 0; i < MXD_ARRAY_SIZE(normalize_rows); i++) {
		const struct addr_row *row = &normalize_rows[i];
		char *input = expand(row->input);
		char out[ADDR_MAX + 1];
		const char *err = NULL;
		int rc = addr_normalize(input, out, sizeof(out), &err);
		if (row->error == NULL) {
			char *expected = expand(row->expected);
			if (rc != 0)
				fail_msg("row %zu '%s': unexpected error '%s'", i, row->input, err);
			assert_string_equal(out, expected);
			free(expected);
		} else {
			if (rc != -1)
				fail_msg("row %zu '%s': accepted as '%s'", i, row->input, out);
			if (strstr(err, row->error) == NULL)
				fail_msg("row %zu '%s': error '%s' lacks '%s'", i, row->input, err,
				         row->error);
		}
		free(input);
	}
}

static void test_domain_of(void **state)
{
	for (size_t i = 0; i < MXD_ARRAY_SIZE(domain_of_rows); i++) {
		const char *got = addr_domain(domain_of_rows[i].input);
		if (domain_of_rows[i].expected == NULL)
			assert_null(got);
		else
			assert_string_equal(got, domain_of_rows[i].expected);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_domain_valid),
	    cmocka_unit_test(test_local_valid),
	    cmocka_unit_test(test_normalize),
	    cmocka_unit_test(test_domain_of),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
