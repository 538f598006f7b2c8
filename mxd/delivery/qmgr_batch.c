/* qmgr_batch: the queue manager's side of its write batches; see qmgr_private.h and queue_batch.h. */
#include "mxd/delivery/qmgr_private.h"

#include "mxd/common/log.h"
#include "mxd/queue/queue_batch.h"
#include "mxd/common/util.h"

#include <event2/event.h>
#include <time.h>

#define QMGR_BATCH_LAND_WARN_MSEC 5000 /* at stop: waiting longer for the batch in flight is logged */

static void batch_removed(void *ctx, const char *id)
{
	(void)ctx;
	log_info("qmgr", "%s: removed", id);
}

/* A batch is written (or failed): log what it did; new notifications are new mail. */
static void batch_finish(struct qmgr *q, struct queue_batch *b)
{
	const char *error;
	if (queue_batch_result(b, &error) < 0)
		log_warn("qmgr",
		         "cannot record %zu delivery results (their recipients will be tried again): %s",
		         queue_batch_pending(b), error);
	else if (queue_batch_done(b, batch_removed, q) > 0)
		qmgr_kick(q);
	queue_batch_reset(b);
}

/* The committer's thread: hand the batch back to the queue manager's loop. Under q->lock, so that the
 * loop never misses the flag and a stopping queue manager that sees it is not freed under event_active. */
static void batch_landed_cb(void *ctx, struct queue_batch *b)
{
	struct qmgr *q = ctx;
	(void)b;
	pthread_mutex_lock(&q->lock);
	q->batch_landed = true;
	event_active(q->batch_done_ev, EV_READ, 0);
	pthread_mutex_unlock(&q->lock);
}

static bool batch_has_landed(struct qmgr *q)
{
	pthread_mutex_lock(&q->lock);
	bool landed = q->batch_landed;
	q->batch_landed = false;
	pthread_mutex_unlock(&q->lock);
	return landed;
}

static void batch_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct qmgr *q = arg;
	if (q->inflight == NULL || !batch_has_landed(q))
		return;
	struct queue_batch *b = q->inflight;
	q->inflight = NULL;
	batch_finish(q, b);
	if (q->spare == NULL)
		q->spare = b;
	else
		queue_batch_free(&b);
	if (queue_batch_pending(q->batch) > 0)
		qmgr_batch_flush(q);
	else
		qmgr_scan_resume(q);
}

void qmgr_batch_flush(struct qmgr *q)
{
	if (q->inflight != NULL || queue_batch_pending(q->batch) == 0)
		return;
	if (q->writer == NULL) {
		queue_batch_write(q->batch, q->queue);
		batch_finish(q, q->batch);
		qmgr_scan_resume(q);
		return;
	}
	q->inflight = q->batch;
	q->batch = q->spare != NULL ? q->spare : queue_batch_new();
	q->spare = NULL;
	queue_batch_submit(q->inflight, q->writer, batch_landed_cb, q);
}

static void batch_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	qmgr_batch_flush(arg);
}

void qmgr_batch_schedule(struct qmgr *q)
{
	if (queue_batch_pending(q->batch) >= QMGR_BATCH_MAX) {
		qmgr_batch_flush(q);
		return;
	}
	/* a zero timer runs after this pass of the loop has handled every reply ready now */
	if (!evtimer_pending(q->batch_ev, NULL)) {
		struct timeval zero = {0, 0};
		evtimer_add(q->batch_ev, &zero);
	}
}

bool qmgr_batch_settled(const struct qmgr *q)
{
	return q->inflight == NULL && queue_batch_pending(q->batch) == 0;
}

void qmgr_batch_init(struct qmgr *q)
{
	q->batch = queue_batch_new();
	q->batch_ev = evtimer_new(q->base, batch_timer_cb, q);
	q->batch_done_ev = event_new(q->base, -1, 0, batch_done_cb, q);
}

void qmgr_batch_shutdown(struct qmgr *q)
{
	if (q->inflight != NULL) {
		/* the committer writes or fails every batch it was given: wait for it */
		struct timespec ms = {0, 1000000};
		for (int i = 0; !batch_has_landed(q); i++) {
			if (i == QMGR_BATCH_LAND_WARN_MSEC)
				log_warn("qmgr", "stop: still waiting for delivery results to be written");
			nanosleep(&ms, NULL);
		}
		batch_finish(q, q->inflight);
		queue_batch_free(&q->inflight);
	}
	if (q->batch != NULL && queue_batch_pending(q->batch) > 0) {
		queue_batch_write(q->batch, q->queue);
		batch_finish(q, q->batch);
	}
	queue_batch_free(&q->batch);
	queue_batch_free(&q->spare);
	if (q->batch_ev != NULL)
		event_free(q->batch_ev);
	if (q->batch_done_ev != NULL)
		event_free(q->batch_done_ev);
	q->batch_ev = q->batch_done_ev = NULL;
}
