/*
 * test_dkim_key: mxd/check/dkim_key (selectors, zone lines, the comparison of a published record with
 * ours, keys written, refused, replaced, listed and read back) and the SPF term parser of the
 * self-check (check_spf_term_parse()), table-driven.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mxd/check/check_private.h"
#include "mxd/auth/dkim_key.h"
#include "mxd/check/dkim_keydir.h"
#include "mxd/common/util.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_selectors(void **state)
{
	(void)state;
	static const struct {
		const char *selector;
		bool ok;
	} rows[] = {
	    {"mxd", true},  {"s2024.eu", true}, {"a_b-c", true},   {"", false},
	    {"-a", false},  {"a-", false},      {"a..b", false},   {".a", false},
	    {"a b", false}, {"a/b", false},     {"../etc", false}, {"a\nb", false},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *error = NULL;
		int rc = dkim_keydir_selector_valid(rows[i].selector, &error);
		if ((rc == 0) != rows[i].ok)
			fail_msg("selector '%s': expected %s", rows[i].selector,
			         rows[i].ok ? "valid" : "invalid");
		if (!rows[i].ok)
			assert_non_null(strstr(error, "selector"));
	}
	char long_sel[70];
	memset(long_sel, 'a', 64);
	long_sel[64] = '\0';
	const char *error;
	assert_int_equal(dkim_keydir_selector_valid(long_sel, &error), -1);
}

static void test_zone_line(void **state)
{
	(void)state;
	char *line = dkim_keydir_zone_line("example.com", "mxd", "v=DKIM1; k=rsa; p=AB");
	assert_string_equal(line, "mxd._domainkey.example.com. IN TXT \"v=DKIM1; k=rsa; p=AB\"");
	free(line);
	char rec[601];
	memset(rec, 'x', 600);
	rec[600] = '\0';
	line = dkim_keydir_zone_line("example.com", "s", rec);
	/* 255 + 255 + 90 octets in three strings */
	const char *p = strchr(line, '"');
	size_t lens[3], n = 0;
	while (p != NULL && n < 4) {
		const char *end = strchr(p + 1, '"');
		assert_non_null(end);
		lens[n++] = (size_t)(end - p - 1);
		p = strchr(end + 1, '"');
	}
	assert_int_equal(n, 3);
	assert_int_equal(lens[0], 255);
	assert_int_equal(lens[1], 255);
	assert_int_equal(lens[2], 90);
	free(line);
}

static void test_record_matches(void **state)
{
	(void)state;
	static const char expected[] = "v=DKIM1; k=rsa; p=MIIBIjANBgkq";
	static const struct {
		const char *published;
		bool match;
		const char *why;
	} rows[] = {
	    {"v=DKIM1; k=rsa; p=MIIBIjANBgkq", true, NULL},
	    {"v=DKIM1;k=rsa;p=MIIBIj ANBgkq", true, NULL},     /* folding white space inside p= */
	    {"v=DKIM1; p=MIIBIjANBgkq", true, NULL},           /* k= defaults to rsa */
	    {" v = DKIM1 ; t=s; p=MIIBIjANBgkq;", true, NULL}, /* other tags, spaces around '=' */
	    {"v=DKIM1; k=rsa; p=MIIBIjANBgkr", false, "another public key"},
	    {"v=DKIM1; k=rsa; p=", false, "revoked"},
	    {"v=DKIM1; k=ed25519; p=MIIBIjANBgkq", false, "key type"},
	    {"k=rsa; p=MIIBIjANBgkq", false, "v=DKIM1"},
	    {"v=spf1 -all", false, "v=DKIM1"},
	    {"", false, "v=DKIM1"},
	    {";;;;", false, "v=DKIM1"},
	    {"v=DKIM1; kk=rsa; pp=MIIBIjANBgkq", false, "no public key"},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *why = NULL;
		bool m = dkim_keydir_record_matches(rows[i].published, expected, &why);
		if (m != rows[i].match)
			fail_msg("'%s': expected %s", rows[i].published,
			         rows[i].match ? "a match" : "no match");
		if (!m && strstr(why, rows[i].why) == NULL)
			fail_msg("'%s': why '%s' lacks '%s'", rows[i].published, why, rows[i].why);
	}
}

static void test_keys_on_disk(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_dkim_key.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *keydir = xasprintf("%s/dkim", dir);
	const char *error;
	EVP_PKEY *rsa = NULL, *ed = NULL, *back = NULL;
	char *rec_rsa = NULL, *rec_ed = NULL, *rec_back = NULL;
	assert_int_equal(dkim_keydir_generate("rsa", &rsa, &error), 0);
	assert_int_equal(dkim_keydir_generate("ed25519", &ed, &error), 0);
	assert_int_equal(dkim_keydir_generate("dsa", &back, &error), -1);
	assert_int_equal(dkim_keydir_record(rsa, &rec_rsa, &error), 0);
	assert_int_equal(dkim_keydir_record(ed, &rec_ed, &error), 0);
	assert_int_equal(
	    strncmp(rec_rsa, "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA", 60), 0);
	assert_int_equal(strncmp(rec_ed, "v=DKIM1; k=ed25519; p=", 22), 0);
	assert_int_equal(strlen(rec_ed), 22 + 44); /* 32 octets of raw public key, base64 (RFC 8463) */

	assert_int_equal(dkim_keydir_write(keydir, "example.com", "mxd", rsa, false, (gid_t)-1, &error), 0);
	assert_int_equal(dkim_keydir_write(keydir, "example.com", "mxd", ed, false, (gid_t)-1, &error), -1);
	assert_non_null(strstr(error, "exists already"));
	assert_int_equal(dkim_keydir_write(keydir, "example.com", "ed", ed, false, (gid_t)-1, &error), 0);
	assert_int_equal(dkim_keydir_write(keydir, "a.example", "mxd", ed, false, (gid_t)-1, &error), 0);

	char *path = dkim_keydir_path(keydir, "example.com", "mxd");
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(stat(keydir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0750);
	assert_int_equal(dkim_key_load(path, &back, &error), 0);
	assert_int_equal(dkim_keydir_record(back, &rec_back, &error), 0);
	assert_string_equal(rec_back, rec_rsa);
	EVP_PKEY_free(back);
	free(rec_back);
	/* --force replaces it */
	assert_int_equal(dkim_keydir_write(keydir, "example.com", "mxd", ed, true, (gid_t)-1, &error), 0);
	assert_int_equal(dkim_key_load(path, &back, &error), 0);
	assert_int_equal(dkim_keydir_record(back, &rec_back, &error), 0);
	assert_string_equal(rec_back, rec_ed);

	/* junk beside the keys is not listed; a file that is no key is not loaded */
	char *junk = xasprintf("%s/example.com/notes.txt", keydir),
	     *bad = xasprintf("%s/example.com/bad.pem", keydir);
	FILE *f = fopen(junk, "w");
	fclose(f);
	f = fopen(bad, "w");
	fputs("not a key\n", f);
	fclose(f);
	struct dkim_keydir_entry *keys;
	size_t n;
	assert_int_equal(dkim_keydir_list(keydir, &keys, &n, &error), 0);
	assert_int_equal(n, 4);
	assert_string_equal(keys[0].domain, "a.example");
	assert_string_equal(keys[1].selector, "bad");
	assert_string_equal(keys[2].selector, "ed");
	assert_string_equal(keys[3].selector, "mxd");
	EVP_PKEY *none = NULL;
	assert_int_equal(dkim_key_load(keys[1].path, &none, &error), -1);
	assert_non_null(strstr(error, "not a PEM"));
	dkim_keydir_list_free(&keys, n);
	assert_int_equal(dkim_keydir_list("/nonexistent/dkim", &keys, &n, &error), 0);
	assert_int_equal(n, 0);

	char *cmd = xasprintf("rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(junk);
	free(bad);
	free(path);
	free(keydir);
	free(rec_rsa);
	free(rec_ed);
	free(rec_back);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ed);
	EVP_PKEY_free(back);
}

static void test_spf_terms(void **state)
{
	(void)state;
	static const struct {
		const char *term;
		enum spf_term_kind kind;
		const char *value; /* the domain, or the network's address */
		int bits4, bits6;
	} rows[] = {
	    {"ip4:192.0.2.1", SPF_TERM_NET, "192.0.2.1", 32, 128},
	    {"+ip4:192.0.2.0/24", SPF_TERM_NET, "192.0.2.0", 24, 128},
	    {"ip6:2001:db8::1", SPF_TERM_NET, "2001:db8::1", 0, 128},
	    {"ip6:2001:db8::/32", SPF_TERM_NET, "2001:db8::", 0, 32},
	    {"ip4:192.0.2.1/99", SPF_TERM_NET, "192.0.2.1", 32, 128},
	    {"ip4:not-an-address", SPF_TERM_OTHER, NULL, 0, 0},
	    {"ip4:", SPF_TERM_OTHER, NULL, 0, 0},
	    {"-ip4:192.0.2.1", SPF_TERM_OTHER, NULL, 0, 0},
	    {"~all", SPF_TERM_OTHER, NULL, 0, 0},
	    {"a", SPF_TERM_A, "srs.example", 32, 128},
	    {"a/24", SPF_TERM_A, "srs.example", 24, 128},
	    {"a:mx.example//64", SPF_TERM_A, "mx.example", 32, 64},
	    {"MX", SPF_TERM_MX, "srs.example", 32, 128},
	    {"mx:other.example", SPF_TERM_MX, "other.example", 32, 128},
	    {"include:_spf.example", SPF_TERM_INCLUDE, "_spf.example", 0, 0},
	    {"include:", SPF_TERM_OTHER, NULL, 0, 0},
	    {"a:", SPF_TERM_OTHER, NULL, 0, 0},
	    {"redirect=_spf.example", SPF_TERM_REDIRECT, "_spf.example", 0, 0},
	    {"redirect=", SPF_TERM_OTHER, NULL, 0, 0},
	    {"exp=explain.example", SPF_TERM_OTHER, NULL, 0, 0},
	    {"ptr", SPF_TERM_OTHER, NULL, 0, 0},
	    {"exists:%{i}.example", SPF_TERM_OTHER, NULL, 0, 0},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct spf_term t;
		check_spf_term_parse(rows[i].term, "srs.example", &t);
		if (t.kind != rows[i].kind)
			fail_msg("'%s': kind %d, expected %d", rows[i].term, t.kind, rows[i].kind);
		if (t.kind == SPF_TERM_NET) {
			char text[64];
			const void *a = t.net.ss_family == AF_INET
			                    ? (const void *)&((struct sockaddr_in *)&t.net)->sin_addr
			                    : (const void *)&((struct sockaddr_in6 *)&t.net)->sin6_addr;
			inet_ntop(t.net.ss_family, a, text, sizeof(text));
			assert_string_equal(text, rows[i].value);
		} else if (t.kind != SPF_TERM_OTHER) {
			assert_string_equal(t.domain, rows[i].value);
		}
		bool v6 = t.kind == SPF_TERM_NET && t.net.ss_family == AF_INET6;
		bool lengths = t.kind == SPF_TERM_NET || t.kind == SPF_TERM_A || t.kind == SPF_TERM_MX;
		if (lengths && ((!v6 && t.bits4 != rows[i].bits4) || t.bits6 != rows[i].bits6))
			fail_msg("'%s': lengths %d//%d", rows[i].term, t.bits4, t.bits6);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_selectors),      cmocka_unit_test(test_zone_line),
	    cmocka_unit_test(test_record_matches), cmocka_unit_test(test_keys_on_disk),
	    cmocka_unit_test(test_spf_terms),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
