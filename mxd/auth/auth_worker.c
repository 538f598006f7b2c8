/* auth_worker: see auth_worker.h. */
#include "mxd/auth/auth_worker.h"

#include "mxd/common/log.h"
#include "mxd/common/util.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#define AUTH_WORKER_MAX 8

struct auth_job {
	auth_job_fn *job;
	auth_done_fn *done;
	void *arg;
	struct auth_job *next;
};

/* A FIFO of jobs. */
struct job_list {
	struct auth_job *head, *tail;
};

struct auth_worker {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct job_list todo, done; /* both under lock */
	bool stopping;
	struct event *done_ev; /* delivers done, in the loop */
	pthread_t threads[AUTH_WORKER_MAX];
	unsigned nthreads;
};

static void list_push(struct job_list *l, struct auth_job *j)
{
	j->next = NULL;
	if (l->tail != NULL)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
}

static struct auth_job *list_pop(struct job_list *l)
{
	struct auth_job *j = l->head;
	if (j != NULL) {
		l->head = j->next;
		if (l->head == NULL)
			l->tail = NULL;
	}
	return j;
}

static void *worker_main(void *arg)
{
	struct auth_worker *w = arg;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct auth_job *j = list_pop(&w->todo);
		if (j == NULL) {
			if (w->stopping)
				break;
			pthread_cond_wait(&w->wake, &w->lock);
			continue;
		}
		pthread_mutex_unlock(&w->lock);
		j->job(j->arg);
		pthread_mutex_lock(&w->lock);
		list_push(&w->done, j);
		event_active(w->done_ev, 0, 0);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct auth_worker *w = arg;
	pthread_mutex_lock(&w->lock);
	struct job_list done = w->done;
	w->done.head = w->done.tail = NULL;
	pthread_mutex_unlock(&w->lock);
	struct auth_job *j;
	while ((j = list_pop(&done)) != NULL) {
		j->done(j->arg);
		free(j);
	}
}

int auth_worker_new(struct event_base *base, unsigned threads, struct auth_worker **worker_r,
                    const char **error_r)
{
	struct auth_worker *w = xcalloc(1, sizeof(*w));
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	w->done_ev = event_new(base, -1, 0, done_cb, w);
	if (w->done_ev == NULL)
		log_fatal("auth", "cannot create an event");
	if (threads < 1)
		threads = 1;
	if (threads > AUTH_WORKER_MAX)
		threads = AUTH_WORKER_MAX;
	for (; w->nthreads < threads; w->nthreads++) {
		if (pthread_create(&w->threads[w->nthreads], NULL, worker_main, w) != 0) {
			*error_r = "cannot start an authentication worker thread";
			auth_worker_free(&w);
			return -1;
		}
	}
	*worker_r = w;
	return 0;
}

void auth_worker_submit(struct auth_worker *w, auth_job_fn *job, auth_done_fn *done, void *arg)
{
	struct auth_job *j = xcalloc(1, sizeof(*j));
	j->job = job;
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&w->lock);
	list_push(&w->todo, j);
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
}

void auth_worker_free(struct auth_worker **wp)
{
	struct auth_worker *w = *wp;
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_broadcast(&w->wake);
	pthread_mutex_unlock(&w->lock);
	for (unsigned i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	struct auth_job *j;
	while ((j = list_pop(&w->done)) != NULL)
		free(j);
	event_free(w->done_ev);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	free(w);
	*wp = NULL;
}
