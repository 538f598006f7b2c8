/*
 * test_dkim: mxd/auth: dkim_canon (the examples of RFC 6376 3.4.5, and the edge cases of 3.4.3/3.4.4),
 * dkim_tag (table of lists, good and bad), dkim_key (records), dkim_sig (sign, then verify; a changed
 * header or body fails) and arc_chain/arc_seal (a chain of two sets validates; a changed body or seal
 * fails; a terminated chain gets no seal); signatures made by python3-dkim verify (all four
 * canonicalizations) and RFC 6376 Appendix A's body hash. That other verifiers accept what mxd signs is
 * proved by tests/integration/test_arc.py (python3-dkim and rspamd).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "mxd/auth/arc_chain.h"
#include "mxd/auth/arc_seal.h"
#include "mxd/auth/auth_worker.h"
#include "mxd/auth/dkim_canon.h"
#include "mxd/auth/dkim_key.h"
#include "mxd/auth/dkim_sig.h"
#include "mxd/auth/dkim_tag.h"
#include "mxd/common/util.h"
#include "unit_fixtures.h"

/* --- canonicalization --------------------------------------------------------------------------- */

/* RFC 6376 3.4.5. */
#define RFC_MSG "A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n C \r\nD \t E\r\n\r\n\r\n"

static void test_rfc6376_example(void **state)
{
	(void)state;
	struct header_list m;
	header_list_parse(RFC_MSG, strlen(RFC_MSG), &m);
	assert_int_equal(m.n, 2);
	const char *want_relaxed[] = {"a:X\r\n", "b:Y Z\r\n"};
	const char *want_simple[] = {"A: X\r\n", "B : Y\t\r\n\tZ  \r\n"};
	for (size_t i = 0; i < 2; i++) {
		size_t len;
		char *c = dkim_canon_header(m.fields[i].text, m.fields[i].len, true, &len);
		assert_string_equal(c, want_relaxed[i]);
		assert_int_equal(len, strlen(want_relaxed[i]));
		free(c);
		c = dkim_canon_header(m.fields[i].text, m.fields[i].len, false, &len);
		assert_string_equal(c, want_simple[i]);
		free(c);
	}
	size_t len;
	char *b = dkim_canon_body(m.body, m.body_len, true, &len);
	assert_string_equal(b, " C\r\nD E\r\n");
	free(b);
	b = dkim_canon_body(m.body, m.body_len, false, &len);
	assert_string_equal(b, " C \r\nD \t E\r\n");
	free(b);
	header_list_free(&m);
}

struct body_case {
	const char *in;
	bool relaxed;
	const char *out;
};

static const struct body_case body_cases[] = {
    {"", false, "\r\n"},         /* 3.4.3: an empty body is one CRLF */
    {"", true, ""},              /* 3.4.4: ... or nothing */
    {"\r\n\r\n", false, "\r\n"}, /* only empty lines */
    {"\r\n\r\n", true, ""},
    {"abc", false, "abc\r\n"}, /* a final CRLF is added */
    {"abc", true, "abc\r\n"},
    {"a  b\t\t\r\n", true, "a b\r\n"}, /* blanks run together, none at the end */
    {"a  b\t\t\r\n", false, "a  b\t\t\r\n"},
    {"x\r\n \r\n", true, "x\r\n"},       /* a line of blanks is empty once relaxed */
    {"x\r\n \r\n", false, "x\r\n \r\n"}, /* ... but not simple */
    {"x\r\n\r\ny\r\n\r\n", false, "x\r\n\r\ny\r\n"},
};

static void test_body_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(body_cases) / sizeof(body_cases[0]); i++) {
		size_t len;
		char *b =
		    dkim_canon_body(body_cases[i].in, strlen(body_cases[i].in), body_cases[i].relaxed, &len);
		if (strcmp(b, body_cases[i].out) != 0)
			fail_msg("case %zu: got \"%s\"", i, b);
		assert_int_equal(len, strlen(body_cases[i].out));
		free(b);
	}
}

static void test_header_list(void **state)
{
	(void)state;
	const char *msg = "From: a@b\r\nSubject: one\r\n two\r\nNot a header\r\nX: y\r\n";
	struct header_list m;
	header_list_parse(msg, strlen(msg), &m);
	assert_int_equal(m.n, 2);
	assert_true(header_field_is(&m.fields[1], "subject"));
	assert_int_equal(m.fields[1].len, strlen("Subject: one\r\n two\r\n"));
	assert_string_equal(m.body, "Not a header\r\nX: y\r\n");
	header_list_free(&m);
}

/* --- tag lists ---------------------------------------------------------------------------------- */

struct tag_case {
	const char *in;
	int ret;
	const char *tag, *value; /* one tag to look up */
};

static const struct tag_case tag_cases[] = {
    {"v=1; a=rsa-sha256; d=example.net", 0, "d", "example.net"},
    {" v = 1 ;\r\n\ta=rsa-sha256;", 0, "v", "1"},
    {"b=abc\r\n\tdef ghi", 0, "b", "abc def ghi"},
    {"h=From : To", 0, "h", "From : To"},
    {"p=", 0, "p", ""},
    {"", 0, "x", NULL},
    {"v=1; v=2", -1, NULL, NULL}, /* duplicate */
    {"=1", -1, NULL, NULL},
    {"1a=2", -1, NULL, NULL},
    {"a", -1, NULL, NULL},
    {"a=b c\x01", -1, NULL, NULL},
    {"a=1;;b=2", -1, NULL, NULL},
};

static void test_tags(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(tag_cases) / sizeof(tag_cases[0]); i++) {
		struct dkim_tag_list l;
		const char *error = NULL;
		int r = dkim_tag_parse(tag_cases[i].in, strlen(tag_cases[i].in), &l, &error);
		if (r != tag_cases[i].ret)
			fail_msg("case %zu: returned %d", i, r);
		if (r == 0 && tag_cases[i].tag != NULL) {
			const char *v = dkim_tag_get(&l, tag_cases[i].tag);
			if (tag_cases[i].value == NULL)
				assert_null(v);
			else
				assert_string_equal(v, tag_cases[i].value);
		}
		if (r < 0)
			assert_non_null(error);
		dkim_tag_free(&l);
	}
	char many[2000] = "";
	for (int i = 0; i < DKIM_TAG_MAX + 1; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "t%d=x;", i);
	struct dkim_tag_list l;
	const char *error;
	assert_int_equal(dkim_tag_parse(many, strlen(many), &l, &error), -1);
}

/* --- keys and signatures ------------------------------------------------------------------------ */

static EVP_PKEY *rsa_key, *ed_key;

static int keys_setup(void **state)
{
	(void)state;
	rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	ed_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	return rsa_key && ed_key ? 0 : -1;
}

static int keys_teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(rsa_key);
	EVP_PKEY_free(ed_key);
	return 0;
}

/* The DNS record of key's public half. */
static char *record_of(EVP_PKEY *key)
{
	unsigned char buf[1024], *p = buf;
	size_t len = sizeof(buf);
	const char *k = "rsa";
	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519) {
		EVP_PKEY_get_raw_public_key(key, buf, &len);
		k = "ed25519";
	} else {
		len = (size_t)i2d_PUBKEY(key, &p);
	}
	char *b64 = dkim_base64_encode(buf, len);
	char *rec = xasprintf("v=DKIM1; k=%s; p=%s", k, b64);
	free(b64);
	return rec;
}

static void test_records(void **state)
{
	(void)state;
	EVP_PKEY *keys[] = {rsa_key, ed_key};
	for (size_t i = 0; i < 2; i++) {
		char *rec = record_of(keys[i]);
		EVP_PKEY *pub = NULL;
		const char *error;
		assert_int_equal(dkim_key_from_record(rec, &pub, &error), 0);
		assert_int_equal(EVP_PKEY_eq(pub, keys[i]), 1);
		EVP_PKEY_free(pub);
		free(rec);
	}
	const char *bad[] = {"v=DKIM1; p=",     "v=DKIM2; p=AAAA", "v=DKIM1; k=dsa; p=AAAA",
	                     "v=DKIM1; p=!!!!", "v=DKIM1",         "garbage"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		EVP_PKEY *pub = NULL;
		const char *error = NULL;
		assert_int_equal(dkim_key_from_record(bad[i], &pub, &error), -1);
		assert_non_null(error);
	}
}

#define MSG                                                                                                  \
	"From: Joe <joe@example.org>\r\nTo: x@example.com\r\nSubject: hello\r\n  there\r\n"                  \
	"Date: Sat, 5 Dec 2026 10:00:00 +0000\r\nMessage-ID: <1@example.org>\r\n\r\nHi  there.\r\n\r\n"

/* Sign msg, put the field on top, verify it. */
static int sign_and_verify(EVP_PKEY *key, const char *msg, const char *change_from, const char *change_to)
{
	struct header_list m;
	header_list_parse(msg, strlen(msg), &m);
	struct dkim_sig_params p = {"DKIM-Signature", "v=1", "example.org", "sel", key, NULL, 1700000000};
	const char *error;
	char *sig = dkim_sig_sign(&m, &p, &error);
	assert_non_null(sig);
	header_list_free(&m);
	char *signed_msg = xasprintf("%s%s", sig, msg);
	if (change_from != NULL) { /* in place, same length */
		char *at = strstr(signed_msg + strlen(sig), change_from);
		assert_non_null(at);
		memcpy(at, change_to, strlen(change_to));
	}
	header_list_parse(signed_msg, strlen(signed_msg), &m);
	struct dkim_tag_list tags;
	size_t vl;
	const char *v = header_field_value(&m.fields[0], &vl);
	assert_int_equal(dkim_tag_parse(v, vl, &tags, &error), 0);
	EVP_PKEY *pub = NULL;
	char *rec = record_of(key);
	assert_int_equal(dkim_key_from_record(rec, &pub, &error), 0);
	int r = dkim_sig_verify(&m, &m.fields[0], &tags, "simple/simple", pub, &error);
	EVP_PKEY_free(pub);
	free(rec);
	dkim_tag_free(&tags);
	header_list_free(&m);
	free(signed_msg);
	free(sig);
	return r;
}

static void test_sign_verify(void **state)
{
	(void)state;
	EVP_PKEY *keys[] = {rsa_key, ed_key};
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(sign_and_verify(keys[i], MSG, NULL, NULL), 0);
		/* relaxed: folding and blanks may change in transit */
		assert_int_equal(sign_and_verify(keys[i], MSG, "Hi  there", "Hi \tthere"), 0);
		assert_int_equal(sign_and_verify(keys[i], MSG, "Subject: hello", "Subject:  hello"), 0);
		/* content may not */
		assert_int_equal(sign_and_verify(keys[i], MSG, "Subject: hello", "Subject: jello"), -1);
		assert_int_equal(sign_and_verify(keys[i], MSG, "Hi  there", "Hi  where"), -1);
		assert_int_equal(sign_and_verify(keys[i], MSG, "joe@", "bob@"), -1);
	}
}

/* --- signatures made by another implementation ----------------------------------------------- */

/* Made by python3-dkim 1.1.4 (dkim.sign) with a 1024-bit RSA key, for this test only. */
static const char vec_record[] =
    "v=DKIM1; k=rsa; "
    "p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCy8Rch46afC8BC0TWLvaSw4sbd7gqytzvq3uJTXA2Z481PlTBObpFYiO81o5+"
    "ZvYK9wbpdEL2ckrDTFUP/BST8wrkULLq1f8WFnGa+5ROFpfZQJ/"
    "VVOcFNL3KVWrlw0NvsSUSIDL+j3O87pZ5nWVOkhq8AFLRn2u3dwZl8Gv1z/wIDAQAB";
static const char vec_msg[] = "From: Joe  SixPack <joe@football.example.com>\r\n"
                              "To: Suzie Q <suzie@shopping.example.net>\r\n"
                              "Subject: Is dinner ready?  \r\n"
                              "\t(folded)\r\n"
                              "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
                              "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
                              "\r\n"
                              "Hi.\r\n"
                              "\r\n"
                              "We lost the game.  Are you hungry yet?\t \r\n"
                              "\r\n"
                              "Joe.\r\n"
                              "\r\n"
                              "\r\n";
static const char *const vec_sigs[] = {
    /* simple/simple */
    "DKIM-Signature: v=1; a=rsa-sha256; c=simple/simple; d=example.com;\r\n"
    " i=@example.com; q=dns/txt; s=brisbane; t=1796526980; h=from : to :\r\n"
    " subject : date : message-id;\r\n"
    " bh=G4bcldxakLK0v/UAtJCMpLmUuv+lP3OZgLmlInC4GC4=;\r\n"
    " b=rXCC+gpuIkVo82M3jLaxHnnMUcHzJTOS3ZfLZtB0ws26iFBVgh1JJq5UhCwkWWrp9NIip\r\n"
    " UHbbp5DijPQQhEBh5PTpC7W8kcQ4JAhvw9S5HbA1rpgRacCNzAHVDuqBBGZrg6+6jambeRI\r\n"
    " ad9vrdHRM1uJ8DhRr+pVvTF4DgHsSdg=\r\n",
    /* relaxed/relaxed */
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com;\r\n"
    " i=@example.com; q=dns/txt; s=brisbane; t=1796526980; h=from : to :\r\n"
    " subject : date : message-id;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=k1wSeg6HCzW0pJqb8Lkz32dzZAfTo4D1/gniJv+dGU9njp5XPlCEwrcryjabLa5Rb5Q9J\r\n"
    " J66OUAbcZVoZory18G/gNdpulou5mtIiXM9V0w/V7iLlmp56Os0BgLMxtnY7FH8MrxljIdB\r\n"
    " QCOjI/UGQXGuuGexZJ/YHxMiDFF+wps=\r\n",
    /* relaxed/simple */
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/simple; d=example.com;\r\n"
    " i=@example.com; q=dns/txt; s=brisbane; t=1796526980; h=from : to :\r\n"
    " subject : date : message-id;\r\n"
    " bh=G4bcldxakLK0v/UAtJCMpLmUuv+lP3OZgLmlInC4GC4=;\r\n"
    " b=RhpT1btbIODKHIrZMpyUOheWjtx8Phlh5ycZiKVu7QzKQf39Ca+scJ82YJG9IsrJ+PEb8\r\n"
    " ctrPqFAyI644CqyJ2pdKxN63HyIxwPfGUeF7Icri+pvAjZWcgNslBiKjspy/T2pOXM2BECy\r\n"
    " H/rjkOAgYu4zyqoEc7aq2oikEeTPgfE=\r\n",
    /* simple/relaxed */
    "DKIM-Signature: v=1; a=rsa-sha256; c=simple/relaxed; d=example.com;\r\n"
    " i=@example.com; q=dns/txt; s=brisbane; t=1796526980; h=from : to :\r\n"
    " subject : date : message-id;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=Jc55yd3MsMhmwlzCZb9pYE2V0Q3k2uVoXe2HCngIjniXyCDYtK3m0auWCbUGrZqCyB8Sv\r\n"
    " g7vrTYH3hkuCtsLC5sBP1GbSGgaUNCdIMAoMmJaX96d+2xSxkJ1JCG7gn5EYEQ/shFyyBk6\r\n"
    " fvJQmq3ICTjLu+SFY3xa/1+cZw+5vss=\r\n",
};

/* python3-dkim's signatures verify with dkim_sig_verify in all four canonicalizations, and a changed
 * body or signed header makes each fail. */
static void test_python_vectors(void **state)
{
	(void)state;
	EVP_PKEY *pub = NULL;
	const char *error;
	assert_int_equal(dkim_key_from_record(vec_record, &pub, &error), 0);
	static const struct {
		const char *from, *to;
		int want;
	} changes[] = {
	    {NULL, NULL, 0},
	    {"Joe.\r\n", "Jog.\r\n", -1},   /* the body */
	    {"Is dinner", "Is lunch ", -1}, /* a signed header */
	};
	for (size_t k = 0; k < sizeof(vec_sigs) / sizeof(vec_sigs[0]); k++) {
		for (size_t c = 0; c < sizeof(changes) / sizeof(changes[0]); c++) {
			char *msg = xasprintf("%s%s", vec_sigs[k], vec_msg);
			if (changes[c].from != NULL) {
				char *at = strstr(msg + strlen(vec_sigs[k]), changes[c].from);
				if (at != NULL)
					memcpy(at, changes[c].to, strlen(changes[c].to));
			}
			struct header_list m;
			header_list_parse(msg, strlen(msg), &m);
			struct dkim_tag_list tags;
			size_t vl;
			const char *v = header_field_value(&m.fields[0], &vl);
			assert_int_equal(dkim_tag_parse(v, vl, &tags, &error), 0);
			int r = dkim_sig_verify(&m, &m.fields[0], &tags, "simple/simple", pub, &error);
			if (r != changes[c].want)
				fail_msg("signature %zu, change %zu: %d (%s)", k, c, r,
				         r < 0 ? error : "verified");
			dkim_tag_free(&tags);
			header_list_free(&m);
			free(msg);
		}
	}
	EVP_PKEY_free(pub);
	/* RFC 6376 Appendix A's body and its bh= (simple) */
	const char *body = "Hi.\r\n\r\nWe lost the game. Are you hungry yet?\r\n\r\nJoe.\r\n";
	char *bh = dkim_sig_body_hash(body, strlen(body), false, -1);
	assert_string_equal(bh, "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=");
	free(bh);
}

/* --- ARC ---------------------------------------------------------------------------------------- */

struct key_ctx {
	EVP_PKEY *pub;
	unsigned asked;
};

static EVP_PKEY *key_of(void *ctx, const char *domain, const char *selector)
{
	struct key_ctx *k = ctx;
	k->asked++;
	return strcmp(domain, "fwd.example") == 0 && strcmp(selector, "mxd") == 0 ? k->pub : NULL;
}

static enum arc_cv validate(const char *msg, EVP_PKEY *pub, struct arc_chain *c_out)
{
	struct header_list m;
	header_list_parse(msg, strlen(msg), &m);
	struct arc_chain c;
	arc_chain_parse(&m, &c);
	struct key_ctx k = {pub, 0};
	arc_chain_validate(&c, &m, key_of, &k);
	enum arc_cv cv = c.cv;
	if (c_out != NULL)
		*c_out = c;
	else
		arc_chain_free(&c);
	header_list_free(&m);
	return cv;
}

/* Seal msg with the key in dir, after validating its chain. */
static char *seal(struct arc_sealer *s, const char *msg, EVP_PKEY *pub)
{
	enum arc_cv cv = validate(msg, pub, NULL);
	const char *error;
	char *set = arc_seal(s, msg, strlen(msg), cv, "mx.fwd.example; spf=pass smtp.mailfrom=example.org",
	                     1700000000, &error);
	if (set == NULL)
		return NULL;
	char *out = xasprintf("%s%s", set, msg);
	free(set);
	return out;
}

static void test_arc(void **state)
{
	(void)state;
	char dir[256], path[600];
	assert_int_equal(unit_tmpdir(dir, sizeof(dir), "test_dkim"), 0);
	snprintf(path, sizeof(path), "%s/fwd.example", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	EVP_PKEY *keys[] = {rsa_key, ed_key};
	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/fwd.example/mxd.pem", dir);
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		assert_int_equal(PEM_write_PrivateKey(f, keys[i], NULL, NULL, 0, NULL, NULL), 1);
		fclose(f);
		struct arc_sealer *s = NULL;
		const char *error;
		assert_int_equal(arc_sealer_new(dir, "fwd.example", "mxd", &s, &error), 0);
		char *rec = record_of(keys[i]);
		EVP_PKEY *pub = NULL;
		assert_int_equal(dkim_key_from_record(rec, &pub, &error), 0);
		free(rec);

		assert_int_equal(validate(MSG, pub, NULL), ARC_CV_NONE);
		char *one = seal(s, MSG, pub);
		assert_non_null(one);
		assert_non_null(strstr(one, "ARC-Seal: i=1; a="));
		assert_non_null(strstr(one, "cv=none"));
		assert_non_null(strstr(one, "ARC-Authentication-Results: i=1; mx.fwd.example; spf=pass"));
		assert_int_equal(validate(one, pub, NULL), ARC_CV_PASS);
		char *two = seal(s, one, pub);
		assert_non_null(strstr(two, "ARC-Seal: i=2; a="));
		assert_non_null(strstr(two, "cv=pass"));
		struct arc_chain c;
		assert_int_equal(validate(two, pub, &c), ARC_CV_PASS);
		assert_int_equal(c.n, 2);
		char *sealers = arc_chain_sealers(&c);
		assert_string_equal(sealers, "fwd.example,fwd.example");
		free(sealers);
		arc_chain_free(&c);

		/* a changed body breaks the newest AMS; the next seal says cv=fail and nobody seals after */
		char *bad = xstrdup(two);
		char *at = strstr(bad, "Hi  there");
		at[0] = 'h';
		assert_int_equal(validate(bad, pub, &c), ARC_CV_FAIL);
		assert_non_null(c.why);
		arc_chain_free(&c);
		char *three = seal(s, bad, pub);
		assert_non_null(three);
		assert_non_null(strstr(three, "ARC-Seal: i=3; a="));
		assert_non_null(strstr(three, "cv=fail"));
		assert_int_equal(validate(three, pub, &c), ARC_CV_FAIL);
		assert_true(c.terminated);
		arc_chain_free(&c);
		assert_null(seal(s, three, pub));

		/* a changed seal: the chain fails; an unknown key too */
		free(bad);
		bad = xstrdup(two);
		at = strstr(bad, "cv=pass");
		memcpy(at, "cv=none", 7);
		assert_int_equal(validate(bad, pub, NULL), ARC_CV_FAIL);
		assert_int_equal(validate(two, NULL, NULL), ARC_CV_FAIL);
		/* a missing set */
		at = strstr(bad, "ARC-Authentication-Results: i=1");
		memcpy(at, "X-Authentication-Results: i=1;", 30);
		assert_int_equal(validate(bad, pub, NULL), ARC_CV_FAIL);

		free(bad);
		free(one);
		free(two);
		free(three);
		EVP_PKEY_free(pub);
		arc_sealer_free(&s);
		assert_null(s);
	}
	struct arc_sealer *s = NULL;
	const char *error;
	assert_int_equal(arc_sealer_new(dir, "other.example", "mxd", &s, &error), -1);
	assert_non_null(strstr(error, "other.example/mxd.pem"));
	assert_int_equal(arc_sealer_new(dir, "", "mxd", &s, &error), -1);
	unit_rm_tree(dir);
}

/* --- worker threads ------------------------------------------------------------------------------ */

#define NJOBS 64

struct job {
	int n;
	unsigned long square;
	bool off_loop; /* the job ran on another thread than the loop's */
	bool done;     /* its completion ran */
	bool done_in_loop;
};

static pthread_t loop_thread;
static int jobs_done;
static struct event_base *job_base;

static void job_run(void *arg)
{
	struct job *j = arg;
	j->square = (unsigned long)j->n * (unsigned long)j->n;
	j->off_loop = !pthread_equal(pthread_self(), loop_thread);
}

static void job_done(void *arg)
{
	struct job *j = arg;
	j->done = true;
	j->done_in_loop = pthread_equal(pthread_self(), loop_thread);
	if (++jobs_done == NJOBS)
		event_base_loopbreak(job_base);
}

static void guard_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	event_base_loopbreak(job_base); /* the jobs did not all finish within 20 s */
}

static void test_worker(void **state)
{
	(void)state;
	evthread_use_pthreads();
	job_base = event_base_new();
	loop_thread = pthread_self();
	struct auth_worker *w = NULL;
	const char *error;
	assert_int_equal(auth_worker_new(job_base, 3, &w, &error), 0);
	static struct job jobs[NJOBS];
	for (int i = 0; i < NJOBS; i++) {
		jobs[i].n = i + 1;
		auth_worker_submit(w, job_run, job_done, &jobs[i]);
	}
	struct event *guard = evtimer_new(job_base, guard_cb, NULL);
	struct timeval tv = {20, 0};
	evtimer_add(guard, &tv);
	event_base_dispatch(job_base);
	assert_int_equal(jobs_done, NJOBS);
	for (int i = 0; i < NJOBS; i++) {
		assert_true(jobs[i].done && jobs[i].done_in_loop && jobs[i].off_loop);
		assert_int_equal(jobs[i].square, (unsigned long)(i + 1) * (unsigned long)(i + 1));
	}
	/* freeing waits for the jobs in flight and drops completions not delivered */
	static struct job late = {.n = 7};
	auth_worker_submit(w, job_run, job_done, &late);
	auth_worker_free(&w);
	assert_null(w);
	assert_int_equal(late.square, 49);
	assert_false(late.done);
	event_free(guard);
	event_base_free(job_base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc6376_example), cmocka_unit_test(test_body_cases),
	    cmocka_unit_test(test_header_list),     cmocka_unit_test(test_tags),
	    cmocka_unit_test(test_records),         cmocka_unit_test(test_sign_verify),
	    cmocka_unit_test(test_python_vectors),  cmocka_unit_test(test_arc),
	    cmocka_unit_test(test_worker),
	};
	return cmocka_run_group_tests(tests, keys_setup, keys_teardown);
}
