/*
 * test_queue_id: queue ids (queue_store_new_id): 10 to 20 upper-case hex digits, strictly increasing
 * within the process even within one microsecond, carrying the time they were made, and unique across
 * threads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "mxd/common/util.h"
#include "mxd/queue/queue_store.h"

#include <pthread.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

static void *id_thread(void *arg)
{
	char *ids = arg;
	for (int i = 0; i < 20000; i++)
		queue_store_new_id(ids + (size_t)i * QUEUE_ID_SIZE);
	return NULL;
}

static int id_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void test_ids(void **state)
{
	regex_t re;
	char prev[QUEUE_ID_SIZE] = "", id[QUEUE_ID_SIZE];
	int64_t before = time_now_usec();

	assert_int_equal(regcomp(&re, "^[0-9A-F]{10,20}$", REG_EXTENDED | REG_NOSUB), 0);
	for (int i = 0; i < 100000; i++) {
		queue_store_new_id(id);
		assert_int_equal(regexec(&re, id, 0, NULL, 0), 0);
		assert_true(strcmp(prev, id) < 0); /* strictly increasing, even within a microsecond */
		memcpy(prev, id, sizeof(id));
	}
	regfree(&re);
	/* time-ordered: the id carries the microsecond it was made (later, when the counter ran ahead) */
	int64_t usec = (int64_t)(strtoull(id, NULL, 16) >> 8);
	assert_true(usec >= before);
	assert_true(usec <= time_now_usec() + 100000);

	/* unique across threads */
	enum { THREADS = 4, PER = 20000 };
	char *ids = xcalloc(THREADS * PER, QUEUE_ID_SIZE);
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, id_thread, ids + (size_t)i * PER * QUEUE_ID_SIZE);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	qsort(ids, THREADS * PER, QUEUE_ID_SIZE, id_cmp);
	for (size_t i = 1; i < THREADS * PER; i++) {
		const char *a = ids + (i - 1) * QUEUE_ID_SIZE, *b = ids + i * QUEUE_ID_SIZE;
		assert_true(strcmp(a, b) < 0);
	}
	free(ids);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ids),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
