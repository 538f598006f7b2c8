/*
 * route_hop: one next hop of a route changed in place (table "route_hops", db/route.h owns the rest):
 * its weight, its rate cap ("N/unit": at most N deliveries per s, m, h or d) and its weight schedule
 * ("YYYY-MM-DD=W,...": from each date on, UTC, the hop's weight is W; a warm-up that grows by itself).
 * Same rules as db/route.h: errors name the field, *error_r points into the struct db or is static.
 */
#ifndef MXD_DB_ROUTE_HOP_H
#define MXD_DB_ROUTE_HOP_H

#include "db/route.h"

#include <stddef.h>
#include <stdint.h>

/* A rate cap "N/unit" (N 1..1000000, unit s, m, h or d): *delay_usec_r (may be NULL) gets the time
 * between two deliveries, and canon (DB_ROUTE_RATE_MAX + 1, may be NULL) the canonical text. "" or
 * "none": no cap (delay 0, canon ""). 0, or -1 with *error_r (static). */
int db_route_rate_parse(const char *text, int64_t *delay_usec_r, char *canon, const char **error_r);

/* Change one next hop: its weight (0: keep) and its rate cap (NULL: keep; "" or "none": no cap). */
int db_route_set_hop(struct db *db, const char *match, const char *nexthop, uint32_t weight, const char *rate,
                     const char **error_r);

/* One step of a weight schedule: from day (unix time of 00:00 UTC) on, the hop's weight is weight. */
struct db_route_schedule_step {
	int64_t day;
	uint32_t weight;
};

/* Parse a stored weight schedule ("YYYY-MM-DD=W,..."): up to DB_ROUTE_SCHEDULE_STEPS steps in date
 * order into steps, *n_r of them. 0, or -1 with *error_r (static). */
int db_route_schedule_parse(const char *text, struct db_route_schedule_step *steps, size_t *n_r,
                            const char **error_r);

/* Add to a next hop's schedule: from date ("YYYY-MM-DD", UTC) on its weight is weight (0 removes that
 * date's step). 0 or -1. */
int db_route_schedule_hop(struct db *db, const char *match, const char *nexthop, const char *date,
                          uint32_t weight, const char **error_r);

#endif
