/*
 * auth_worker: threads for the CPU-heavy part of message authentication (RSA signatures and their
 * checks take a millisecond or more each), so that the event loop that runs SMTP sessions never waits on
 * them. A job is a function run on a worker thread on memory nobody else touches meanwhile, then a
 * completion run in the event-loop thread.
 *
 * THREADS: auth_worker_submit() and auth_worker_free() are called from the event-loop thread; job
 * functions run on a worker thread and must touch only their argument (and read-only shared data such as
 * a sealer's key); done functions run in the event-loop thread, in the order the jobs finished. libevent
 * must be set up for threads (evthread_use_pthreads() before the base is made), as mxd's main does.
 *
 * LIFE: auth_worker_free() lets the jobs already submitted finish, joins the threads and drops the
 * completions not yet delivered (their done functions never run: free only at shutdown).
 */
#ifndef MXD_AUTH_WORKER_H
#define MXD_AUTH_WORKER_H

struct event_base;
struct auth_worker;

typedef void auth_job_fn(void *arg);
typedef void auth_done_fn(void *arg);

/* threads workers on base (at least 1). 0, or -1 with *error_r. */
int auth_worker_new(struct event_base *base, unsigned threads, struct auth_worker **worker_r,
                    const char **error_r);

/* Run job(arg) on a worker thread, then done(arg) in the loop. */
void auth_worker_submit(struct auth_worker *worker, auth_job_fn *job, auth_done_fn *done, void *arg);

void auth_worker_free(struct auth_worker **worker);

#endif
