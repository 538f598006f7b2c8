/*
 * test_srs: mxd/rewrite/srs.c, table-driven. The expected addresses were computed from the libsrs2 format
 * (HMAC-SHA1 over the lower-cased fields, first four base64 characters; the day in two base32
 * characters) with Python's hmac module, independently of this code; the first one is also the vector
 * of postsrsd's own test suite (secret "tops3cr3t" at 2020-01-01 00:01:00 UTC), so addresses made by
 * postsrsd keep working after a migration.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mxd/rewrite/srs.h"
#include "mxd/common/util.h"

#define T0     INT64_C(1577836860) /* 2020-01-01 00:01:00 UTC: day 18262, stamp "2W" */
#define DAY    INT64_C(86400)
#define SECRET "tops3cr3t"

static struct srs *srs_make(const char *domain, const char *secret, const char *exclude)
{
	const char *secrets[] = {secret};
	return srs_new_secrets(domain, secrets, 1, exclude);
}

/* --- forward ---------------------------------------------------------------------------------- */

struct forward_case {
	const char *domain; /* srs_domain */
	const char *secret;
	const char *sender;
	const char *expect; /* NULL: unchanged */
};

static const struct forward_case forward_cases[] = {
    /* postsrsd's vector */
    {"example.com", SECRET, "test@otherdomain.com", "SRS0=vmyz=2W=otherdomain.com=test@example.com"},
    /* case is kept in the address, hashed lower-cased; '/' is a base64 character */
    {"srs.mxd.test", SECRET, "Alice.Smith@sender.test", "SRS0=FP/i=2W=sender.test=Alice.Smith@srs.mxd.test"},
    /* another forwarder's SRS0: we are the second hop */
    {"srs.mxd.test", SECRET, "SRS0=vmyz=2W=otherdomain.com=test@example.com",
     "SRS1=JO9m=example.com==vmyz=2W=otherdomain.com=test@srs.mxd.test"},
    /* an SRS1 from the second hop: the first forwarder stays, we sign anew */
    {"srs2.test", "other", "SRS1=JO9m=example.com==vmyz=2W=otherdomain.com=test@srs.mxd.test",
     "SRS1=CbNa=example.com==vmyz=2W=otherdomain.com=test@srs2.test"},
    /* not rewritten */
    {"example.com", SECRET, "", NULL},                        /* the null sender */
    {"example.com", SECRET, "test@example.com", NULL},        /* already ours */
    {"example.com", SECRET, "test@EXAMPLE.com", NULL},        /* ours, any case */
    {"example.com", SECRET, "bob@partner.test", NULL},        /* srs_exclude_domains */
    {"example.com", SECRET, "bob@Other.Partner.test", NULL},  /* srs_exclude_domains, any case */
    {"example.com", SECRET, "\"a b\"@otherdomain.com", NULL}, /* a quoted local part */
    {"example.com", SECRET, "nodomain", NULL},
};

static void test_forward(void **state)
{
	for (size_t i = 0; i < MXD_ARRAY_SIZE(forward_cases); i++) {
		const struct forward_case *c = &forward_cases[i];
		struct srs *srs = srs_make(c->domain, c->secret, "partner.test, other.partner.test");
		char buf[SRS_ADDRESS_MAX];
		const char *got = srs_forward(srs, c->sender, T0, buf, sizeof(buf));
		if (c->expect == NULL) {
			if (got != c->sender)
				fail_msg("case %zu: <%s> rewritten as <%s>", i, c->sender, got);
		} else if (strcmp(got, c->expect) != 0) {
			fail_msg("case %zu: <%s> -> <%s>, expected <%s>", i, c->sender, got, c->expect);
		}
		srs_free(&srs);
		assert_null(srs);
	}
}

static void test_forward_off_and_small_buffer(void **state)
{
	char buf[SRS_ADDRESS_MAX];
	const char *sender = "test@otherdomain.com";
	assert_ptr_equal(srs_forward(NULL, sender, T0, buf, sizeof(buf)), sender);
	struct srs *srs = srs_make("example.com", SECRET, "");
	char tiny[20];
	assert_ptr_equal(srs_forward(srs, sender, T0, tiny, sizeof(tiny)), sender); /* does not fit */
	srs_free(&srs);
}

/* --- reverse ---------------------------------------------------------------------------------- */

struct reverse_case {
	const char *address;
	int64_t now;
	const char *expect; /* NULL: refused with error */
	const char *error;
};

static const struct reverse_case reverse_cases[] = {
    {"SRS0=vmyz=2W=otherdomain.com=test@example.com", T0, "test@otherdomain.com", NULL},
    /* the hash, the tag and our domain compare case-insensitively */
    {"SRS0=VMYZ=2W=otherdomain.com=test@example.com", T0, "test@otherdomain.com", NULL},
    {"srs0=vmyz=2w=otherdomain.com=test@Example.COM", T0, "test@otherdomain.com", NULL},
    /* up to 21 days old */
    {"SRS0=vmyz=2W=otherdomain.com=test@example.com", T0 + 21 * DAY, "test@otherdomain.com", NULL},
    {"SRS0=vmyz=2W=otherdomain.com=test@example.com", T0 + 22 * DAY, NULL, "SRS address expired"},
    /* a stamp "from the future" is almost 1024 days old */
    {"SRS0=vmyz=2W=otherdomain.com=test@example.com", T0 - DAY, NULL, "SRS address expired"},
    /* the day count wraps at 1024: a stamp of day 1021 is 8 days old on day 5 */
    {"SRS0=9dqJ=75=otherdomain.com=test@example.com", INT64_C(1592956800), "test@otherdomain.com", NULL},
    /* tampered: hash, timestamp, domain, local part */
    {"SRS0=vmyx=2W=otherdomain.com=test@example.com", T0, NULL, "SRS hash invalid"},
    {"SRS0=vmyz=2X=otherdomain.com=test@example.com", T0, NULL, "SRS hash invalid"},
    {"SRS0=vmyz=2W=evil.test=test@example.com", T0, NULL, "SRS hash invalid"},
    {"SRS0=vmyz=2W=otherdomain.com=root@example.com", T0, NULL, "SRS hash invalid"},
    {"SRS0=vmy=2W=otherdomain.com=test@example.com", T0, NULL, "SRS hash invalid"}, /* too short */
    /* malformed */
    {"SRS0=vmyz=2W=otherdomain.com@example.com", T0, NULL, "malformed SRS address"},
    {"SRS0=vmyz@example.com", T0, NULL, "malformed SRS address"},
    {"SRS0==2W=otherdomain.com=test@example.com", T0, NULL, "malformed SRS address"},
    {"SRS1=JO9m=example.com@example.com", T0, NULL, "malformed SRS address"},
    /* not ours */
    {"test@example.com", T0, NULL, "not an SRS address"},
    {"SRS0=vmyz=2W=otherdomain.com=test@elsewhere.test", T0, NULL, "not an SRS address"},
    {"SRS2=vmyz=2W=otherdomain.com=test@example.com", T0, NULL, "not an SRS address"},
    /* SRS1 goes back to the first forwarder, as its SRS0 address; no time limit of ours applies */
    {"SRS1=JO9m=example.com==vmyz=2W=otherdomain.com=test@example.com", T0 + 400 * DAY,
     "SRS0=vmyz=2W=otherdomain.com=test@example.com", NULL},
    {"SRS1=jo9M=example.com==vmyz=2W=otherdomain.com=test@example.com", T0,
     "SRS0=vmyz=2W=otherdomain.com=test@example.com", NULL},
    {"SRS1=JO9m=example.org==vmyz=2W=otherdomain.com=test@example.com", T0, NULL, "SRS hash invalid"},
};

static void test_reverse(void **state)
{
	struct srs *srs = srs_make("example.com", SECRET, "");
	for (size_t i = 0; i < MXD_ARRAY_SIZE(reverse_cases); i++) {
		const struct reverse_case *c = &reverse_cases[i];
		char buf[SRS_ADDRESS_MAX];
		const char *error = NULL;
		int rc = srs_reverse(srs, c->address, c->now, buf, sizeof(buf), &error);
		if (c->expect != NULL) {
			if (rc != 0 || strcmp(buf, c->expect) != 0)
				fail_msg("case %zu: <%s>: rc %d (%s), got <%s>, expected <%s>", i, c->address,
				         rc, rc < 0 ? error : "", rc == 0 ? buf : "", c->expect);
		} else if (rc != -1 || strcmp(error, c->error) != 0) {
			fail_msg("case %zu: <%s>: rc %d (%s), expected the error \"%s\"", i, c->address, rc,
			         rc < 0 ? error : buf, c->error);
		}
	}
	assert_true(srs_is_srs_address(srs, "SRS0=vmyz=2W=otherdomain.com=test@example.com"));
	assert_true(srs_is_srs_address(srs, "srs1+x@EXAMPLE.com"));
	assert_false(srs_is_srs_address(srs, "SRS0=vmyz=2W=otherdomain.com=test@other.test"));
	assert_false(srs_is_srs_address(srs, "SRS@example.com"));
	assert_false(srs_is_srs_address(NULL, "SRS0=vmyz=2W=otherdomain.com=test@example.com"));
	srs_free(&srs);
}

/* Whatever we write comes back: a round trip through forward and reverse, for SRS0 and SRS1. */
static void test_round_trip(void **state)
{
	struct srs *srs = srs_make("srs.mxd.test", "s3cret", "");
	const char *senders[] = {"alice@sender.test", "first.last+tag@Sub.Example.ORG",
	                         "SRS0=abcd=2W=orig.test=bob@fwd.example"};
	const char *back[] = {"alice@sender.test", "first.last+tag@Sub.Example.ORG",
	                      "SRS0=abcd=2W=orig.test=bob@fwd.example"};
	for (size_t i = 0; i < MXD_ARRAY_SIZE(senders); i++) {
		char fwd[SRS_ADDRESS_MAX], rev[SRS_ADDRESS_MAX];
		const char *error;
		const char *s = srs_forward(srs, senders[i], T0 + (int64_t)i * 1000 * DAY, fwd, sizeof(fwd));
		assert_ptr_equal(s, fwd);
		assert_int_equal(
		    srs_reverse(srs, fwd, T0 + (int64_t)i * 1000 * DAY + 3 * DAY, rev, sizeof(rev), &error),
		    0);
		assert_string_equal(rev, back[i]);
	}
	srs_free(&srs);
}

/* Rotation: the first secret signs, every secret verifies. */
static void test_rotation(void **state)
{
	const char *both[] = {"n3w-s3cret", SECRET};
	struct srs *srs = srs_new_secrets("example.com", both, 2, "");
	char buf[SRS_ADDRESS_MAX];
	const char *error;
	assert_string_equal(srs_forward(srs, "test@otherdomain.com", T0, buf, sizeof(buf)),
	                    "SRS0=xIeB=2W=otherdomain.com=test@example.com");
	assert_int_equal(
	    srs_reverse(srs, "SRS0=vmyz=2W=otherdomain.com=test@example.com", T0, buf, sizeof(buf), &error),
	    0);
	assert_string_equal(buf, "test@otherdomain.com");
	assert_int_equal(
	    srs_reverse(srs, "SRS0=xIeB=2W=otherdomain.com=test@example.com", T0, buf, sizeof(buf), &error),
	    0);
	srs_free(&srs);
	/* once the old secret is gone, its addresses are refused */
	const char *only_new[] = {"n3w-s3cret"};
	srs = srs_new_secrets("example.com", only_new, 1, "");
	assert_int_equal(
	    srs_reverse(srs, "SRS0=vmyz=2W=otherdomain.com=test@example.com", T0, buf, sizeof(buf), &error),
	    -1);
	assert_string_equal(error, "SRS hash invalid");
	srs_free(&srs);
}

/* The secret file: comments and blank lines skipped, every secret kept in order; errors named. */
static void test_secret_file(void **state)
{
	char path[] = "/tmp/mxd-test-srs-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char text[] = "# rotated 2024-01-01\n\n  n3w-s3cret  \n" SECRET "\n";
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
	close(fd);

	struct srs *srs = NULL;
	const char *error;
	assert_int_equal(srs_new("example.com", path, "", &srs, &error), 0);
	assert_non_null(srs);
	char buf[SRS_ADDRESS_MAX];
	assert_string_equal(srs_forward(srs, "test@otherdomain.com", T0, buf, sizeof(buf)),
	                    "SRS0=xIeB=2W=otherdomain.com=test@example.com");
	assert_int_equal(
	    srs_reverse(srs, "SRS0=vmyz=2W=otherdomain.com=test@example.com", T0, buf, sizeof(buf), &error),
	    0);
	srs_free(&srs);

	/* an empty srs_domain: SRS off, the file is not even read */
	assert_int_equal(srs_new("", "/nonexistent/srs.secret", "", &srs, &error), 0);
	assert_null(srs);
	assert_int_equal(srs_new("example.com", "/nonexistent/srs.secret", "", &srs, &error), -1);
	assert_non_null(strstr(error, "srs_secret_file /nonexistent/srs.secret: No such file"));
	/* a secret others may read is refused, as the sync secret is (and only then read) */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(srs_new("example.com", path, "", &srs, &error), -1);
	assert_non_null(strstr(error, "other users may read it"));
	assert_null(srs);
	assert_int_equal(chmod(path, 0640), 0);

	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "# nothing\n\n", 11), 11);
	close(fd);
	assert_int_equal(srs_new("example.com", path, "", &srs, &error), -1);
	assert_non_null(strstr(error, "holds no secret"));
	assert_null(srs);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_forward),  cmocka_unit_test(test_forward_off_and_small_buffer),
	    cmocka_unit_test(test_reverse),  cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_rotation), cmocka_unit_test(test_secret_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
