/* Unit tests for mxd/smtpd/data_spool: content kept in memory, spilled to an unlinked file, its head
 * replaced in place and in a chunk of its own, a write failure, and the release of the mapping by the
 * last of the view and its evbuffer. */
#include "mxd/smtpd/data_spool.h"

#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit_fixtures.h"

static char dir[256];

static int setup(void **state)
{
	(void)state;
	return unit_tmpdir(dir, sizeof(dir), "data_spool");
}

static int teardown(void **state)
{
	(void)state;
	unit_rm_tree(dir);
	return 0;
}

/* Entries in dir besides . and .. */
static int dir_entries(void)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* Octet i of a test message: printable, not periodic in 64 KiB. */
static char pattern(size_t i)
{
	return (char)('a' + (i * 7 + i / 65536) % 26);
}

/* Feed size pattern octets in pieces of piece; the input never holds more than memory + write size +
 * one piece, and dir stays empty. */
static void feed(struct data_spool *sp, size_t size, size_t piece)
{
	char *buf = malloc(piece);
	assert_non_null(buf);
	for (size_t at = 0; at < size; at += piece) {
		size_t n = size - at < piece ? size - at : piece;
		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(at + i);
		evbuffer_add(data_spool_input(sp), buf, n);
		if (data_spool_flush(sp) != 0)
			break;
		assert_true(evbuffer_get_length(data_spool_input(sp)) <= DATA_SPOOL_MEMORY_MAX + piece);
		assert_int_equal(dir_entries(), 0);
	}
	free(buf);
}

static void assert_pattern(struct evbuffer *b, size_t skip, size_t size)
{
	assert_int_equal(evbuffer_get_length(b), skip + size);
	const char *p = (const char *)evbuffer_pullup(b, -1);
	for (size_t i = 0; i < size; i++)
		if (p[skip + i] != pattern(i))
			fail_msg("octet %zu differs", i);
}

static int chunks(struct evbuffer *b)
{
	return evbuffer_peek(b, -1, NULL, NULL, 0);
}

static void test_memory(void **state)
{
	(void)state;
	struct data_spool *sp = data_spool_new(dir);
	feed(sp, DATA_SPOOL_MEMORY_MAX, 1000);
	assert_int_equal(data_spool_size(sp), DATA_SPOOL_MEMORY_MAX);
	struct data_view *v;
	assert_int_equal(data_spool_finish(sp, &v), 0);
	data_spool_free(&sp);
	assert_null(sp);
	assert_false(data_view_is_mapped(v));
	assert_int_equal(chunks(data_view_buffer(v)), 1);
	assert_pattern(data_view_buffer(v), 0, DATA_SPOOL_MEMORY_MAX);
	data_view_free(&v);
	assert_null(v);
	assert_int_equal(dir_entries(), 0);
}

static void test_spill(void **state)
{
	(void)state;
	size_t size = 3 * 1024 * 1024 + 17;
	struct data_spool *sp = data_spool_new(dir);
	feed(sp, size, 8192);
	assert_int_equal(data_spool_error(sp), 0);
	assert_int_equal(data_spool_size(sp), size);
	struct data_view *v;
	assert_int_equal(data_spool_finish(sp, &v), 0);
	data_spool_free(&sp);
	assert_true(data_view_is_mapped(v));
	assert_int_equal(chunks(data_view_buffer(v)), 1);
	assert_pattern(data_view_buffer(v), 0, size);
	assert_int_equal(dir_entries(), 0);
	data_view_free(&v);
}

/* A spool freed before its end (the client left) leaves nothing. */
static void test_abandoned(void **state)
{
	(void)state;
	struct data_spool *sp = data_spool_new(dir);
	feed(sp, 1024 * 1024, 4096);
	data_spool_free(&sp);
	assert_int_equal(dir_entries(), 0);
}

static void replace_head_case(size_t size)
{
	struct data_spool *sp = data_spool_new(dir);
	feed(sp, size, 4096);
	struct data_view *v;
	assert_int_equal(data_spool_finish(sp, &v), 0);
	data_spool_free(&sp);
	struct evbuffer *b = data_view_buffer(v);
	/* on top, in the room in front: still one chunk */
	data_view_replace_head(v, 0, "X-Top: 1\r\n", 10);
	assert_int_equal(chunks(b), 1);
	assert_memory_equal(evbuffer_pullup(b, 10), "X-Top: 1\r\n", 10);
	assert_pattern(b, 10, size);
	/* rewrite the first octets: the old head and 5 content octets become 3 */
	data_view_replace_head(v, 15, "NEW", 3);
	assert_int_equal(chunks(b), 1);
	assert_int_equal(evbuffer_get_length(b), size - 2);
	const char *p = (const char *)evbuffer_pullup(b, -1);
	assert_memory_equal(p, "NEW", 3);
	for (size_t i = 5; i < size; i++)
		if (p[i - 2] != pattern(i))
			fail_msg("octet %zu differs", i);
	/* more than the room in front: a chunk of its own, content intact */
	size_t big = DATA_VIEW_HEADROOM + 4096;
	char *head = malloc(big);
	assert_non_null(head);
	memset(head, 'H', big);
	data_view_replace_head(v, 3, head, big);
	assert_true(chunks(b) >= 2);
	assert_int_equal(evbuffer_get_length(b), big + size - 5);
	data_view_replace_head(v, big, "Y", 1); /* replacing across chunks */
	p = (const char *)evbuffer_pullup(b, -1);
	assert_int_equal(evbuffer_get_length(b), size - 4);
	assert_int_equal(p[0], 'Y');
	for (size_t i = 5; i < size; i++)
		if (p[i - 4] != pattern(i))
			fail_msg("octet %zu differs", i);
	free(head);
	data_view_free(&v);
}

static void test_replace_head(void **state)
{
	(void)state;
	replace_head_case(1000);            /* in memory */
	replace_head_case(2 * 1024 * 1024); /* mapped */
}

/* A write that fails (here EFBIG: a file size limit) stops storing; the input stays bounded; the end
 * says -1 with the first error; nothing is left in dir. */
static void test_write_error(void **state)
{
	(void)state;
	struct rlimit old, lim;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 300 * 1024;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	struct data_spool *sp = data_spool_new(dir);
	feed(sp, 2 * 1024 * 1024, 4096);
	assert_int_equal(data_spool_error(sp), EFBIG);
	assert_int_equal(data_spool_flush(sp), -1);
	evbuffer_add(data_spool_input(sp), "more", 4);
	assert_int_equal(data_spool_flush(sp), -1);
	assert_int_equal(evbuffer_get_length(data_spool_input(sp)), 0);
	struct data_view *v = (struct data_view *)1;
	assert_int_equal(data_spool_finish(sp, &v), -1);
	assert_null(v);
	assert_int_equal(data_spool_error(sp), EFBIG);
	data_spool_free(&sp);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(dir_entries(), 0);
}

/* A spool whose file cannot be made: the error, at the first flush past memory. */
static void test_open_error(void **state)
{
	(void)state;
	struct data_spool *sp = data_spool_new("/nonexistent/dir");
	feed(sp, DATA_SPOOL_MEMORY_MAX + 10, 4096);
	assert_int_equal(data_spool_error(sp), ENOENT);
	struct data_view *v;
	assert_int_equal(data_spool_finish(sp, &v), -1);
	data_spool_free(&sp);
}

static bool is_mapped(const void *p)
{
	uintptr_t page = (uintptr_t)p & ~(uintptr_t)(sysconf(_SC_PAGESIZE) - 1);
	return msync((void *)page, 1, MS_ASYNC) == 0;
}

/* The mapping lives while either the view or its evbuffer does. */
static void test_refcount(void **state)
{
	(void)state;
	size_t size = 1024 * 1024;
	struct data_spool *sp = data_spool_new(dir);
	feed(sp, size, 65536);
	struct data_view *v;
	assert_int_equal(data_spool_finish(sp, &v), 0);
	data_spool_free(&sp);
	const char *p = (const char *)evbuffer_pullup(data_view_buffer(v), -1);
	struct evbuffer *b = data_view_take_buffer(&v);
	assert_null(v);
	assert_true(is_mapped(p));
	assert_pattern(b, 0, size); /* still readable: the buffer holds the mapping */
	evbuffer_free(b);
	assert_false(is_mapped(p));

	/* the view released with its buffer: unmapped too */
	sp = data_spool_new(dir);
	feed(sp, size, 65536);
	assert_int_equal(data_spool_finish(sp, &v), 0);
	data_spool_free(&sp);
	p = (const char *)evbuffer_pullup(data_view_buffer(v), -1);
	data_view_replace_head(v, 0, "A: b\r\n", 6); /* a rebuild takes and gives back a reference */
	data_view_free(&v);
	assert_false(is_mapped(p));
	data_view_free(&v); /* NULL allowed */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_memory, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_spill, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_abandoned, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replace_head, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_error, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_error, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refcount, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
