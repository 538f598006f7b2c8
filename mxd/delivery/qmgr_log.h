/*
 * qmgr_log: what the queue manager writes to the delivery log (queue_log.h): each recipient's outcome
 * after a delivery attempt and the hourly expiry of old rows (delivery_log_retention); removals are
 * logged by queue_store_remove(). Queue manager thread only. A failure to write is logged, never fatal.
 */
#ifndef MXD_QMGR_LOG_H
#define MXD_QMGR_LOG_H

#include "mxd/delivery/qmgr_private.h"
#include "mxd/queue/queue_log.h"

/* The job's recipients after an attempt: u[i] is the update recorded for job->idx[i]. Recorded in
 * q->batch, written with the recipients' new state. */
void qmgr_log_attempt(struct qmgr *q, const struct qjob *job, const struct smtp_client_result *res,
                      const struct queue_rcpt_update *u);
/* From the tick: once an hour, delete the rows older than delivery_log_retention. */
void qmgr_log_expire(struct qmgr *q, int64_t now);

#endif
