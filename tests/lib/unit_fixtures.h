/*
 * unit_fixtures.h: what mxd's cmocka unit tests (tests/unit/test_*.c) used to copy into each file. A
 * temporary directory and its removal, a file of tests/ found from the test's own path, a fresh SQLite
 * database of mxd's schema, one integer from a query, a line search in a file, and substring
 * assertions. Header-only (static inline): each unit test is one executable, and CMake puts tests/lib
 * on its include path. Include it after <cmocka.h>. Helpers that may fail return 0 or -1 like mxd's
 * own code; the assertion helpers fail the running test instead.
 */
#ifndef MXD_TESTS_UNIT_FIXTURES_H
#define MXD_TESTS_UNIT_FIXTURES_H

#include <ftw.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db/db.h"

/* Fails the test unless needle occurs in hay (a NULL hay fails). */
#define assert_contains(hay, needle)                                                                         \
	do {                                                                                                 \
		const char *h_ = (hay), *n_ = (needle);                                                      \
		if (h_ == NULL || strstr(h_, n_) == NULL)                                                    \
			fail_msg("\"%s\" not found in \"%s\"", n_, h_ != NULL ? h_ : "(null)");              \
	} while (0)

/* Fails the test when needle occurs in hay (a NULL hay passes). */
#define assert_not_contains(hay, needle)                                                                     \
	do {                                                                                                 \
		const char *h_ = (hay), *n_ = (needle);                                                      \
		if (h_ != NULL && strstr(h_, n_) != NULL)                                                    \
			fail_msg("\"%s\" unexpectedly found in \"%s\"", n_, h_);                             \
	} while (0)

/* Makes a fresh directory $TMPDIR/<name>.XXXXXX (/tmp without TMPDIR) and writes its path to dir.
 * Returns 0, or -1 when it cannot (the path does not fit, mkdtemp fails). */
static inline int unit_tmpdir(char *dir, size_t size, const char *name)
{
	const char *tmp = getenv("TMPDIR");
	int n = snprintf(dir, size, "%s/%s.XXXXXX", tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp", name);
	if (n < 0 || (size_t)n >= size)
		return -1;
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static inline int unit_rm_entry_(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

/* Removes dir and everything below it, without following symbolic links; what it cannot remove stays. */
static inline void unit_rm_tree(const char *dir)
{
	nftw(dir, unit_rm_entry_, 16, FTW_DEPTH | FTW_PHYS);
}

/* The path of rel (relative to tests/, as "lib/dnsserver.py") into path: found from the calling test's
 * own source path (pass __FILE__; CMake compiles tests/unit/test_*.c by absolute path), else from
 * $MXD_SOURCE_DIR. Returns 0, or -1 after a message on stderr when the file cannot be read. */
static inline int unit_find_test_file(char *path, size_t size, const char *file, const char *rel)
{
	const char *slash = strrchr(file, '/');
	if (file[0] == '/' && slash != NULL) {
		const char *up = slash;
		while (up > file && up[-1] != '/')
			up--; /* the start of "unit/" */
		snprintf(path, size, "%.*s%s", (int)(up - file), file, rel);
		if (access(path, R_OK) == 0)
			return 0;
	}
	const char *src = getenv("MXD_SOURCE_DIR");
	if (src != NULL) {
		snprintf(path, size, "%s/tests/%s", src, rel);
		if (access(path, R_OK) == 0)
			return 0;
	}
	fprintf(stderr, "%s: FATAL: cannot find tests/%s (from %s or $MXD_SOURCE_DIR)\n", file, rel, file);
	return -1;
}

/* True when a line of the file at path contains needle; the file must exist. */
static inline bool unit_file_contains(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	bool found = false;
	assert_non_null(f);
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/* The integer in the first column of the first row sql returns; a failing query or no row fails the test. */
static inline int64_t unit_query_int(struct db *db, const char *sql)
{
	sqlite3_stmt *stmt;
	assert_int_equal(sqlite3_prepare_v2(db_handle(db), sql, -1, &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return v;
}

/* A fresh database of mxd's schema in a temporary directory of its own. */
struct unit_db {
	char dir[256];
	char path[300];
	struct db *db;
};

/* Creates the directory ($TMPDIR/<name>.XXXXXX) and dir/mxd.db with db_open(DB_OPEN_CREATE). Returns 0,
 * or -1 after a message on stderr. */
static inline int unit_db_open(struct unit_db *u, const char *name)
{
	const char *err;
	if (unit_tmpdir(u->dir, sizeof(u->dir), name) < 0)
		return -1;
	snprintf(u->path, sizeof(u->path), "%s/mxd.db", u->dir);
	if (db_open(u->path, DB_OPEN_CREATE, &u->db, &err) < 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

/* Closes the database and removes its directory with everything in it (WAL, SHM, other files). */
static inline void unit_db_close(struct unit_db *u)
{
	db_close(&u->db);
	unit_rm_tree(u->dir);
}

#endif
