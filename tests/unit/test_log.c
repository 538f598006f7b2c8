/*
 * test_log: mail.log lines (mxd/common/log): Postfix's format "Mon DD HH:MM:SS host name/service[pid]:
 * text", one line per call; the time stamp and pid that log.c keeps between calls stay right: the stamp
 * follows the clock from one second to the next, and a forked child logs its own pid, not its parent's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "mxd/common/log.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char path[] = "/tmp/test_log.XXXXXX";

static int setup(void **state)
{
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	close(fd);
	const char *error;
	return log_open(path, "mx.test", "mxd", &error);
}

static int teardown(void **state)
{
	const char *error;
	log_open(NULL, NULL, NULL, &error);
	unlink(path);
	return 0;
}

/* The log so far, NUL-terminated (freed by the caller). */
static char *read_log(void)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char *buf = calloc(1, 65536);
	size_t n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* The pid in a line "... mxd/svc[PID]: text", -1 if none. */
static long line_pid(const char *log, const char *text)
{
	const char *t = strstr(log, text);
	if (t == NULL)
		return -1;
	const char *open = t;
	while (open > log && *open != '[')
		open--;
	return strtol(open + 1, NULL, 10);
}

static void test_format(void **state)
{
	log_info("smtpd", "connect from x[192.0.2.1]");
	log_warn("qmgr", "a\ncontrol\x01 character");
	char *log = read_log();
	regex_t re;
	assert_int_equal(
	    regcomp(&re,
	            "^[A-Z][a-z]{2} [ 123][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9] mx.test "
	            "mxd/smtpd\\[[0-9]+\\]: connect from x\\[192.0.2.1\\]\n"
	            "[A-Z][a-z]{2} .* mxd/qmgr\\[[0-9]+\\]: warning: a\\?control\\? character\n$",
	            REG_EXTENDED),
	    0);
	assert_int_equal(regexec(&re, log, 0, NULL, 0), 0);
	regfree(&re);
	assert_int_equal(line_pid(log, "connect from"), (long)getpid());
	free(log);
}

/* The stamp is kept per second: a line logged in a later second shows that second. */
static void test_stamp_follows_the_clock(void **state)
{
	log_info("smtpd", "first");
	struct timespec t0, t1;
	clock_gettime(CLOCK_REALTIME_COARSE, &t0);
	do {
		struct timespec nap = {0, 50 * 1000 * 1000};
		nanosleep(&nap, NULL);
		clock_gettime(CLOCK_REALTIME_COARSE, &t1);
	} while (t1.tv_sec == t0.tv_sec);
	log_info("smtpd", "second");
	char *log = read_log();
	char want[32];
	struct tm tm;
	localtime_r(&t1.tv_sec, &tm);
	strftime(want, sizeof(want), "%b %e %H:%M:%S", &tm);
	const char *line = strstr(log, "second");
	assert_non_null(line);
	while (line > log && line[-1] != '\n')
		line--;
	assert_memory_equal(line, want, strlen(want));
	free(log);
}

/* A child forked after the parent logged shows its own pid. */
static void test_child_logs_its_own_pid(void **state)
{
	log_info("smtpd", "parent line");
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		log_info("spf", "child line");
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(child, &status, 0), child);
	char *log = read_log();
	assert_int_equal(line_pid(log, "parent line"), (long)getpid());
	assert_int_equal(line_pid(log, "child line"), (long)child);
	free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format),
	    cmocka_unit_test(test_stamp_follows_the_clock),
	    cmocka_unit_test(test_child_logs_its_own_pid),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
