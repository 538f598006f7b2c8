/*
 * qmgr_schedule: the queue manager's timing decisions as pure functions of their inputs: no clock is
 * read, nothing is written, nothing is allocated. The event code (qmgr.c, qmgr_result.c, qmgr_notify.c,
 * qmgr_takeover.c) reads the clocks and the queue and asks these; tests/unit/test_qmgr_schedule.c checks
 * them row by row. Times are seconds (unix time or durations); cfg is only read.
 */
#ifndef MXD_QMGR_SCHEDULE_H
#define MXD_QMGR_SCHEDULE_H

#include "mxd/queue/queue_store.h"

#include <stdbool.h>
#include <stdint.h>

struct mxd_config;

#define QMGR_CLOCK_JUMP 300 /* seconds of difference between the clocks that count as a jump */

/* The wait before the next attempt of a recipient already tried attempts times: minimal_backoff_time,
 * doubled once per attempt, at most maximal_backoff_time. */
int64_t qmgr_schedule_backoff(const struct mxd_config *cfg, int attempts);

/* How long a message that arrived at arrival has been queued at now, not counting skew (the sum of the
 * wall-clock jumps seen): a clock stepped 7 days forward must not expire the whole queue at once. */
int64_t qmgr_schedule_age(int64_t now, int64_t skew, int64_t arrival);

/* After a temporary failure of a recipient tried attempts times before, of a message age seconds old:
 * QUEUE_RCPT_BOUNCED once age reaches maximal_queue_lifetime (expired; *next_attempt_r untouched), else
 * QUEUE_RCPT_DEFERRED with *next_attempt_r = now + the backoff. */
enum queue_rcpt_state qmgr_schedule_retry(const struct mxd_config *cfg, int64_t now, int64_t age,
                                          int attempts, int64_t *next_attempt_r);

/* Is r due by deferred_until (pending, or deferred with its retry time reached)? */
bool qmgr_schedule_rcpt_due(const struct queue_rcpt_info *r, int64_t deferred_until);

/* Is the delay warning of a message age seconds old due (delay_warning_time set and reached, not warned
 * yet)? Whether its sender gets notices at all (dsn_should_send) is the caller's question. */
bool qmgr_schedule_warn_due(const struct mxd_config *cfg, int64_t age, bool warned);

/* Secondary: does it take over at now (takeover_after set, not in takeover, and the primary unreachable
 * since primary_down_since, 0 meaning up, for at least takeover_after)? */
bool qmgr_schedule_takeover_due(const struct mxd_config *cfg, bool takeover, int64_t primary_down_since,
                                int64_t now);

/* The jump of the wall clock between two ticks: how much further it moved (wall - last_wall) than the
 * monotonic clock (mono - last_mono), when that is QMGR_CLOCK_JUMP or more either way; otherwise 0. */
int64_t qmgr_schedule_clock_jump(int64_t wall, int64_t last_wall, int64_t mono, int64_t last_mono);

#endif
