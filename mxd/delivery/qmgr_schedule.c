/* qmgr_schedule: the queue manager's timing decisions (retry backoff, expiry, due recipients, delay
 * warnings, takeover, clock jumps), pure functions; see qmgr_schedule.h. */
#include "mxd/delivery/qmgr_schedule.h"

#include "mxd/common/config.h"

int64_t qmgr_schedule_backoff(const struct mxd_config *cfg, int attempts)
{
	int64_t delay = cfg->minimal_backoff_time;
	for (int i = 0; i < attempts && delay < cfg->maximal_backoff_time; i++)
		delay *= 2;
	return delay < cfg->maximal_backoff_time ? delay : cfg->maximal_backoff_time;
}

int64_t qmgr_schedule_age(int64_t now, int64_t skew, int64_t arrival)
{
	return now - skew - arrival;
}

enum queue_rcpt_state qmgr_schedule_retry(const struct mxd_config *cfg, int64_t now, int64_t age,
                                          int attempts, int64_t *next_attempt_r)
{
	if (age >= cfg->maximal_queue_lifetime)
		return QUEUE_RCPT_BOUNCED;
	*next_attempt_r = now + qmgr_schedule_backoff(cfg, attempts);
	return QUEUE_RCPT_DEFERRED;
}

bool qmgr_schedule_rcpt_due(const struct queue_rcpt_info *r, int64_t deferred_until)
{
	return r->state == QUEUE_RCPT_PENDING ||
	       (r->state == QUEUE_RCPT_DEFERRED && r->next_attempt <= deferred_until);
}

bool qmgr_schedule_warn_due(const struct mxd_config *cfg, int64_t age, bool warned)
{
	return cfg->delay_warning_time > 0 && !warned && age >= cfg->delay_warning_time;
}

bool qmgr_schedule_takeover_due(const struct mxd_config *cfg, bool takeover, int64_t primary_down_since,
                                int64_t now)
{
	return cfg->takeover_after > 0 && !takeover && primary_down_since != 0 &&
	       now - primary_down_since >= cfg->takeover_after;
}

int64_t qmgr_schedule_clock_jump(int64_t wall, int64_t last_wall, int64_t mono, int64_t last_mono)
{
	int64_t jump = (wall - last_wall) - (mono - last_mono);
	return jump > -QMGR_CLOCK_JUMP && jump < QMGR_CLOCK_JUMP ? 0 : jump;
}
