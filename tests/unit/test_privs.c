/*
 * test_privs: privs_drop() and log_open() as root in a directory the mail owner controls. That user
 * could plant a symbolic link (or a hard link) named like the database's -wal or -shm file, or like
 * maillog_file, pointing at a root-owned file (/etc/passwd): root must neither give that file away nor
 * append to it. Each row builds a temp dir, plants its trap next to a root-owned "target", runs
 * privs_drop() in a child (it switches user for good) and checks the target's owner afterwards.
 * Skipped unless run as root (CI runs as root).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mxd/common/log.h"
#include "mxd/common/privs.h"

#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define OWNER "nobody"

enum trap { TRAP_NONE, TRAP_SYMLINK_WAL, TRAP_HARDLINK_SHM, TRAP_SYMLINK_DB, TRAP_SYMLINK_DIR };

struct privs_row {
	enum trap trap;
	int ret;           /* what privs_drop returns */
	const char *error; /* substring of its error; NULL: none */
};

static const struct privs_row rows[] = {
    {TRAP_NONE, 0, NULL},
    {TRAP_SYMLINK_WAL, -1, "symbolic link"},
    {TRAP_HARDLINK_SHM, -1, "hard link"},
    {TRAP_SYMLINK_DB, -1, "symbolic link"},
    {TRAP_SYMLINK_DIR, -1, "symbolic link"},
};

static bool skip_unless_root(void)
{
	if (geteuid() != 0 || getpwnam(OWNER) == NULL) {
		fprintf(stderr, "not root, or no user %s: skipped\n", OWNER);
		return true;
	}
	return false;
}

static void touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "root\n", 5), 5);
	close(fd);
}

static uid_t owner_of(const char *path)
{
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	return st.st_uid;
}

static void test_privs_drop_refuses_links(void **state)
{
	if (skip_unless_root())
		skip();
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct privs_row *r = &rows[i];
		char dir[] = "/tmp/mxd-test-privs-XXXXXX";
		assert_non_null(mkdtemp(dir));
		char target[128], dbdir[128], db[160], wal[160], shm[160], elsewhere[160];
		snprintf(target, sizeof(target), "%s/target", dir);
		snprintf(dbdir, sizeof(dbdir), "%s/db", dir);
		snprintf(db, sizeof(db), "%s/mxd.db", dbdir);
		snprintf(wal, sizeof(wal), "%s-wal", db);
		snprintf(shm, sizeof(shm), "%s-shm", db);
		snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere", dir);
		touch(target);
		if (r->trap == TRAP_SYMLINK_DIR) {
			assert_int_equal(mkdir(elsewhere, 0755), 0);
			assert_int_equal(symlink(elsewhere, dbdir), 0);
		} else {
			assert_int_equal(mkdir(dbdir, 0755), 0);
		}
		if (r->trap == TRAP_SYMLINK_DB)
			assert_int_equal(symlink(target, db), 0);
		else
			touch(db);
		if (r->trap == TRAP_SYMLINK_WAL)
			assert_int_equal(symlink(target, wal), 0);
		if (r->trap == TRAP_HARDLINK_SHM)
			assert_int_equal(link(target, shm), 0);

		int pipefd[2];
		assert_int_equal(pipe(pipefd), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			const char *dirs[] = {dbdir, NULL};
			const char *files[] = {db, wal, shm, NULL};
			const char *error = "";
			int ret = privs_drop(OWNER, dirs, files, &error);
			if (ret < 0 && write(pipefd[1], error, strlen(error)) < 0)
				_exit(3);
			_exit(ret == 0 ? 0 : 1);
		}
		close(pipefd[1]);
		char error[512] = "";
		ssize_t n = read(pipefd[0], error, sizeof(error) - 1);
		error[n > 0 ? n : 0] = '\0';
		close(pipefd[0]);
		int status;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		fprintf(stderr, "row %zu: exit %d, error '%s'\n", i, WEXITSTATUS(status), error);
		/* whatever happened, the root-owned file stays root's */
		assert_int_equal(owner_of(target), 0);
		assert_int_equal(WEXITSTATUS(status), r->ret == 0 ? 0 : 1);
		if (r->error != NULL)
			assert_non_null(strstr(error, r->error));
		if (r->trap == TRAP_NONE)
			assert_int_equal(owner_of(db), getpwnam(OWNER)->pw_uid);
		if (r->trap == TRAP_SYMLINK_DIR)
			assert_int_equal(owner_of(elsewhere), 0);
		char cmd[200];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		assert_int_equal(system(cmd), 0);
	}
}

static gid_t group_of(const char *path)
{
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	return st.st_gid;
}

/* The package shares the databases with mxadmin through group mxdb (directories mxd:mxdb 2770): the
 * switch to mail_owner keeps such a group and replaces only root's own. */
static void test_privs_drop_keeps_shared_group(void **state)
{
	if (skip_unless_root())
		skip();
	char dir[] = "/tmp/mxd-test-privs-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char shared[128], rootdir[128], db[160];
	snprintf(shared, sizeof(shared), "%s/shared", dir);
	snprintf(rootdir, sizeof(rootdir), "%s/root", dir);
	snprintf(db, sizeof(db), "%s/mxd.db", shared);
	const gid_t shared_gid = 4242; /* any group but root's; it need not exist */
	assert_int_equal(mkdir(shared, 02770), 0);
	assert_int_equal(mkdir(rootdir, 0750), 0);
	touch(db);
	assert_int_equal(chown(shared, 0, shared_gid), 0);
	assert_int_equal(chown(db, 0, shared_gid), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		const char *dirs[] = {shared, rootdir, NULL};
		const char *files[] = {db, NULL};
		const char *error = "";
		_exit(privs_drop(OWNER, dirs, files, &error) == 0 ? 0 : 1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	const struct passwd *pw = getpwnam(OWNER);
	assert_int_equal(owner_of(shared), pw->pw_uid);
	assert_int_equal(group_of(shared), shared_gid);
	assert_int_equal(owner_of(db), pw->pw_uid);
	assert_int_equal(group_of(db), shared_gid);
	assert_int_equal(owner_of(rootdir), pw->pw_uid);
	assert_int_equal(group_of(rootdir), pw->pw_gid);
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* maillog_file is opened as root before privileges are dropped: a symbolic link there is refused. */
static void test_log_open_refuses_symlink(void **state)
{
	char dir[] = "/tmp/mxd-test-privs-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char target[128], log[128];
	snprintf(target, sizeof(target), "%s/target", dir);
	snprintf(log, sizeof(log), "%s/mail.log", dir);
	touch(target);
	assert_int_equal(symlink(target, log), 0);
	const char *error = NULL;
	assert_int_equal(log_open(log, "mx.test", "mxd", &error), -1);
	assert_non_null(strstr(error, "symbolic link"));
	struct stat st;
	assert_int_equal(stat(target, &st), 0);
	assert_int_equal(st.st_size, 5); /* nothing appended */
	/* a plain file still opens */
	assert_int_equal(unlink(log), 0);
	assert_int_equal(log_open(log, "mx.test", "mxd", &error), 0);
	assert_int_equal(log_open(NULL, NULL, NULL, &error), 0);
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_privs_drop_refuses_links),
	    cmocka_unit_test(test_privs_drop_keeps_shared_group),
	    cmocka_unit_test(test_log_open_refuses_symlink),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
