/*
 * test_config: rows of an mxd.conf text and what config_load() must make of it: a field's value, or an
 * error holding "file:line" and the given substrings. Each row is written to a file in a temp dir.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mxd/common/config.h"
#include "mxd/common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum check { CHECK_NONE, CHECK_STR, CHECK_INT, CHECK_BOOL };

struct config_row {
	const char *text;
	/* on success: */
	enum check check;
	size_t offset; /* offsetof(struct mxd_config, field) */
	const char *str;
	int64_t num;
	/* on failure: */
	int error_line;        /* > 0: the error must contain "path:line" */
	const char *errors[3]; /* substrings the error must contain; errors[0] NULL: must load */
};

#define FIELD(f) offsetof(struct mxd_config, f)

static const struct config_row rows[] = {
    /* good files */
    {"myhostname = mx1.example.com\nmessage_size_limit = 20m\n",
     CHECK_INT,
     FIELD(message_size_limit),
     NULL,
     20 * 1024 * 1024,
     0,
     {NULL}},
    {"myhostname = mx1.example.com\n", CHECK_STR, FIELD(myhostname), "mx1.example.com", 0, 0, {NULL}},
    {"message_size_limit = 2048k", CHECK_INT, FIELD(message_size_limit), NULL, 2048 * 1024, 0, {NULL}},
    {"smtpd_timeout = 2m", CHECK_INT, FIELD(smtpd_timeout), NULL, 120, 0, {NULL}},
    {"smtpd_timeout = 45", CHECK_INT, FIELD(smtpd_timeout), NULL, 45, 0, {NULL}},
    {"maximal_queue_lifetime = 5", CHECK_INT, FIELD(maximal_queue_lifetime), NULL, 5 * 86400, 0, {NULL}},
    {"maximal_queue_lifetime = 1w", CHECK_INT, FIELD(maximal_queue_lifetime), NULL, 7 * 86400, 0, {NULL}},
    {"debug = yes", CHECK_BOOL, FIELD(debug), NULL, 1, 0, {NULL}},
    {"debug = off", CHECK_BOOL, FIELD(debug), NULL, 0, 0, {NULL}},
    {"role = secondary", CHECK_STR, FIELD(role), "secondary", 0, 0, {NULL}},
    {"smtp_tls_security_level = verify", CHECK_STR, FIELD(smtp_tls_security_level), "verify", 0, 0, {NULL}},
    {"recipient_delimiter = +-", CHECK_STR, FIELD(recipient_delimiter), "+-", 0, 0, {NULL}},
    {"recipient_delimiter =", CHECK_STR, FIELD(recipient_delimiter), "", 0, 0, {NULL}},
    {"  myhostname   =   spaced.example   \n", CHECK_STR, FIELD(myhostname), "spaced.example", 0, 0, {NULL}},
    /* $name and ${name} */
    {"mydomain = example.com\nmyhostname = mx.$mydomain\nsmtpd_banner = ${myhostname} ESMTP\n",
     CHECK_STR,
     FIELD(smtpd_banner),
     "mx.example.com ESMTP",
     0,
     0,
     {NULL}},
    {"myhostname = mx.example.com\n", CHECK_STR, FIELD(smtp_helo_name), "mx.example.com", 0, 0, {NULL}},
    {"smtpd_banner = $myhostname\nmyhostname = later.example\n",
     CHECK_STR,
     FIELD(smtpd_banner),
     "later.example",
     0,
     0,
     {NULL}},
    /* comments and continuation lines */
    {"# a comment\n\n   # an indented comment\nmyhostname = c.example\n",
     CHECK_STR,
     FIELD(myhostname),
     "c.example",
     0,
     0,
     {NULL}},
    {"mynetworks = 10.0.0.0/8,\n  192.168.0.0/16,\n\t172.16.0.0/12\n",
     CHECK_STR,
     FIELD(mynetworks),
     "10.0.0.0/8, 192.168.0.0/16, 172.16.0.0/12",
     0,
     0,
     {NULL}},
    {"smtpd_banner = one\n# between\n  two\n", CHECK_STR, FIELD(smtpd_banner), "one two", 0, 0, {NULL}},
    /* errors */
    {"myhostname = a.example\nno_such_setting = 1\n",
     CHECK_NONE,
     0,
     NULL,
     0,
     2,
     {"no_such_setting", "unknown"}},
    {"just a line\n", CHECK_NONE, 0, NULL, 0, 1, {"name = value"}},
    {"= value\n", CHECK_NONE, 0, NULL, 0, 1, {"missing setting name"}},
    {"\nsmtpd_recipient_limit = many\n",
     CHECK_NONE,
     0,
     NULL,
     0,
     2,
     {"smtpd_recipient_limit", "'many'", "an integer from 1 to 100000"}},
    {"smtpd_recipient_limit = 0\n", CHECK_NONE, 0, NULL, 0, 1, {"smtpd_recipient_limit", "from 1 to 100000"}},
    {"smtpd_recipient_limit = 10k\n", CHECK_NONE, 0, NULL, 0, 1, {"smtpd_recipient_limit", "integer"}},
    {"smtpd_timeout = 5x\n", CHECK_NONE, 0, NULL, 0, 1, {"smtpd_timeout", "a time", "s, m, h, d or w"}},
    {"smtpd_timeout = 2d\n", CHECK_NONE, 0, NULL, 0, 1, {"smtpd_timeout", "from 1s to 86400s"}},
    {"message_size_limit = 10q\n", CHECK_NONE, 0, NULL, 0, 1, {"message_size_limit", "size in bytes"}},
    {"message_size_limit = -5\n", CHECK_NONE, 0, NULL, 0, 1, {"message_size_limit", "k, m, g"}},
    {"debug = maybe\n", CHECK_NONE, 0, NULL, 0, 1, {"debug", "'maybe'", "yes or no"}},
    {"role = tertiary\n", CHECK_NONE, 0, NULL, 0, 1, {"role", "one of primary|secondary"}},
    {"smtp_tls_security_level = dane\n", CHECK_NONE, 0, NULL, 0, 1, {"none|may|encrypt|verify"}},
    {"myhostname = $mydomain\nmydomain = $myhostname\n", CHECK_NONE, 0, NULL, 0, 0, {"loop"}},
    {"myhostname = $nosuch\n", CHECK_NONE, 0, NULL, 0, 1, {"myhostname", "unknown setting $nosuch"}},
    {"myhostname = ${mydomain\n", CHECK_NONE, 0, NULL, 0, 1, {"unterminated"}},
    {"minimal_backoff_time = 2h\nmaximal_backoff_time = 1h\n",
     CHECK_NONE,
     0,
     NULL,
     0,
     0,
     {"minimal_backoff_time", "must not exceed"}},
};

static char tmpdir[64];

static int setup(void **state)
{
	str_copy(tmpdir, sizeof(tmpdir), "/tmp/test_config.XXXXXX");
	return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/mxd.conf", tmpdir);
	unlink(path);
	return rmdir(tmpdir);
}

static char *write_conf(const char *text)
{
	char *path = xasprintf("%s/mxd.conf", tmpdir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	return path;
}

static void test_rows(void **state)
{
	for (size_t i = 0; i < MXD_ARRAY_SIZE(rows); i++) {
		const struct config_row *row = &rows[i];
		char *path = write_conf(row->text);
		struct mxd_config *cfg = config_new();
		const char *err = NULL;
		int rc = config_load(cfg, path, &err);
		if (row->errors[0] == NULL) {
			if (rc != 0)
				fail_msg("row %zu: unexpected error: %s", i, err);
			char *base = (char *)cfg + row->offset;
			switch (row->check) {
			case CHECK_STR:
				assert_string_equal(*(char **)base, row->str);
				break;
			case CHECK_INT:
				assert_int_equal(*(int64_t *)base, row->num);
				break;
			case CHECK_BOOL:
				assert_int_equal(*(bool *)base, row->num != 0);
				break;
			case CHECK_NONE:
				break;
			}
		} else {
			if (rc != -1)
				fail_msg("row %zu: loaded, expected an error with '%s'", i, row->errors[0]);
			for (size_t j = 0; j < MXD_ARRAY_SIZE(row->errors) && row->errors[j] != NULL; j++) {
				if (strstr(err, row->errors[j]) == NULL)
					fail_msg("row %zu: error '%s' lacks '%s'", i, err, row->errors[j]);
			}
			if (row->error_line > 0) {
				char where[128];
				snprintf(where, sizeof(where), "%s:%d", path, row->error_line);
				if (strstr(err, where) == NULL)
					fail_msg("row %zu: error '%s' lacks '%s'", i, err, where);
			}
		}
		config_free(&cfg);
		assert_null(cfg);
		free(path);
	}
}

static void test_missing_file(void **state)
{
	struct mxd_config *cfg = config_new();
	const char *err;
	assert_int_equal(config_load(cfg, "/nonexistent/mxd.conf", &err), -1);
	assert_non_null(strstr(err, "/nonexistent/mxd.conf"));
	config_free(&cfg);
}

static void test_set(void **state)
{
	struct mxd_config *cfg = config_new();
	const char *err;
	assert_int_equal(config_set(cfg, "smtpd_recipient_limit", "50", &err), 0);
	assert_int_equal(cfg->smtpd_recipient_limit, 50);
	assert_int_equal(config_set(cfg, "nonexistent", "1", &err), -1);
	assert_non_null(strstr(err, "nonexistent"));
	assert_int_equal(config_set(cfg, "debug", "perhaps", &err), -1);
	assert_non_null(strstr(err, "command line"));
	config_free(&cfg);
}

/* config_dump(-n) prints just what the file changed, as written ($references unexpanded). */
static void test_dump_non_default(void **state)
{
	static const char *const expected = "myhostname = mx.$mydomain\n"
	                                    "mydomain = example.com\n"
	                                    "smtpd_recipient_limit = 20\n";
	char *path =
	    write_conf("smtpd_recipient_limit = 20\nmydomain = example.com\nmyhostname = mx.$mydomain\n"
	               "role = primary\n");
	struct mxd_config *cfg = config_new();
	const char *err;
	assert_int_equal(config_load(cfg, path, &err), 0);

	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	config_dump(cfg, out, true);
	fclose(out);
	assert_string_equal(buf, expected);
	free(buf);

	/* The full dump has every setting, each once. */
	out = open_memstream(&buf, &len);
	config_dump(cfg, out, false);
	fclose(out);
	assert_non_null(strstr(buf, "role = primary\n"));
	assert_non_null(strstr(buf, "queue_directory = /var/spool/mxd\n"));
	assert_non_null(strstr(buf, "smtpd_recipient_limit = 20\n"));
	assert_null(strstr(strstr(buf, "smtpd_recipient_limit = ") + 1, "smtpd_recipient_limit = "));
	free(buf);

	assert_string_equal(config_raw_value(cfg, "myhostname"), "mx.$mydomain");
	assert_null(config_raw_value(cfg, "nonexistent"));
	config_free(&cfg);
	free(path);
}

static void test_list(void **state)
{
	static const struct {
		const char *value;
		const char *items[4];
	} list_rows[] = {
	    {"a, b c", {"a", "b", "c", NULL}},
	    {"  ,a,,b , ", {"a", "b", NULL}},
	    {"", {NULL}},
	};
	for (size_t i = 0; i < MXD_ARRAY_SIZE(list_rows); i++) {
		size_t n;
		char **list = config_list(list_rows[i].value, &n);
		size_t j = 0;
		for (; list_rows[i].items[j] != NULL; j++)
			assert_string_equal(list[j], list_rows[i].items[j]);
		assert_null(list[j]);
		assert_int_equal(n, j);
		config_list_free(&list);
		assert_null(list);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows), cmocka_unit_test(test_missing_file),
	    cmocka_unit_test(test_set),  cmocka_unit_test(test_dump_non_default),
	    cmocka_unit_test(test_list),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
