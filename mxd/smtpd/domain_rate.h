/*
 * domain_rate: messages accepted per hosted recipient domain in the current hour, for the per-domain
 * cap (domains.hourly_message_limit): one domain under attack must not flood its destination (and
 * teach it that our addresses send spam). Each domain's window is an hour from the first message
 * counted in it. The domains are the hosted ones, a bounded set, so entries are kept (their count
 * starts over with the next window).
 *
 * OWNS its entries. Times are time_mono_msec() milliseconds, given by the caller. Domains compare
 * without regard to ASCII case. Event-loop thread only.
 */
#ifndef MXD_DOMAIN_RATE_H
#define MXD_DOMAIN_RATE_H

#include <stdint.h>

#define DOMAIN_RATE_WINDOW_MS (3600 * 1000)

struct domain_rate;

struct domain_rate *domain_rate_new(void);
void domain_rate_free(struct domain_rate **rate);

/* Messages counted for domain in its window open at now (0 when none or the window has passed). */
unsigned domain_rate_get(const struct domain_rate *rate, const char *domain, int64_t now);

/* Count one accepted message for domain at now. */
void domain_rate_add(struct domain_rate *rate, const char *domain, int64_t now);

#endif
