/* route_hop: see route_hop.h. */
#include "db/route_hop.h"

#include "db/db_private.h"
#include "mxd/common/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int db_route_rate_parse(const char *text, int64_t *delay_usec_r, char *canon, const char **error_r)
{
	static const struct {
		char unit;
		int64_t usec;
	} units[] = {{'s', 1000000}, {'m', 60000000}, {'h', 3600000000}, {'d', 86400000000}};
	if (delay_usec_r != NULL)
		*delay_usec_r = 0;
	if (canon != NULL)
		canon[0] = '\0';
	if (text == NULL || text[0] == '\0' || strcmp(text, "none") == 0)
		return 0;
	char *end;
	errno = 0;
	long long n = strtoll(text, &end, 10);
	if (end == text || !isdigit((unsigned char)text[0]) || errno != 0 || n < 1 || n > 1000000 ||
	    *end != '/' || end[1] == '\0' || end[2] != '\0') {
		*error_r = "expected N/unit: N deliveries (1..1000000) per s, m, h or d, e.g. 100/m";
		return -1;
	}
	for (size_t i = 0; i < MXD_ARRAY_SIZE(units); i++) {
		if (units[i].unit != end[1])
			continue;
		if (delay_usec_r != NULL)
			*delay_usec_r = units[i].usec / n;
		if (canon != NULL)
			snprintf(canon, DB_ROUTE_RATE_MAX + 1, "%lld/%c", n, units[i].unit);
		return 0;
	}
	*error_r = "unknown unit: expected s, m, h or d (100/m)";
	return -1;
}

int db_route_set_hop(struct db *db, const char *match, const char *nexthop, uint32_t weight, const char *rate,
                     const char **error_r)
{
	static const char sql[] =
	    "UPDATE route_hops SET weight = CASE WHEN ?3 > 0 THEN ?3 ELSE weight END,"
	    " rate = coalesce(?4, rate), modified = ?5"
	    " WHERE route_id = (SELECT id FROM routes WHERE match = ?1) AND nexthop = ?2";
	char m[DB_ROUTE_MATCH_MAX + 1], canon_hop[DB_ROUTE_NEXTHOP_MAX + 1],
	    canon_rate[DB_ROUTE_RATE_MAX + 1];
	struct db_route_nexthop nh;
	const char *err;

	if (db_route_match_normalize(match, m, sizeof(m), &err) < 0)
		return db_input_error(db, error_r, "match '%s': %s", match, err);
	if (db_route_nexthop_parse(nexthop, &nh, &err) < 0)
		return db_input_error(db, error_r, "nexthop '%s': %s", nexthop, err);
	db_route_nexthop_format(&nh, canon_hop, sizeof(canon_hop));
	if (weight > DB_ROUTE_WEIGHT_MAX)
		return db_input_error(db, error_r, "weight %u: expected 1..%d", weight, DB_ROUTE_WEIGHT_MAX);
	if (db_route_rate_parse(rate, NULL, canon_rate, &err) < 0)
		return db_input_error(db, error_r, "rate '%s': %s", rate, err);
	if (weight == 0 && rate == NULL)
		return db_input_error(db, error_r, "nothing to change: give --weight or --rate");
	int rc = db_change(db, sql,
	                   DB_PARAMS(DB_TEXT(m), DB_TEXT(canon_hop), DB_INT(weight),
	                             DB_TEXT(rate != NULL ? canon_rate : NULL), DB_INT(time_now())),
	                   "change next hop", error_r);
	if (rc > 0)
		return db_input_error(db, error_r, "route %s: no such next hop %s", m, canon_hop);
	return rc;
}

/* "YYYY-MM-DD" (UTC) into the unix time of that day's start. 0 or -1. */
static int schedule_day(const char *text, size_t len, int64_t *day_r)
{
	int y, m, d;
	char tail;
	char buf[16];
	if (len != 10)
		return -1;
	memcpy(buf, text, len);
	buf[len] = '\0';
	if (sscanf(buf, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || y < 2000 || y > 2999 || m < 1 || m > 12 ||
	    d < 1 || d > 31)
		return -1;
	struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d};
	time_t t = timegm(&tm);
	struct tm back;
	if (t == (time_t)-1 || gmtime_r(&t, &back) == NULL || back.tm_mday != d)
		return -1; /* 2026-02-30 */
	*day_r = (int64_t)t;
	return 0;
}

int db_route_schedule_parse(const char *text, struct db_route_schedule_step *steps, size_t *n_r,
                            const char **error_r)
{
	*n_r = 0;
	for (const char *p = text != NULL ? text : ""; *p != '\0';) {
		const char *end = strchr(p, ',');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		char num[16];
		size_t nlen = eq != NULL ? len - (size_t)(eq - p) - 1 : 0;
		if (eq == NULL || nlen == 0 || nlen >= sizeof(num) || *n_r >= DB_ROUTE_SCHEDULE_STEPS ||
		    schedule_day(p, (size_t)(eq - p), &steps[*n_r].day) < 0) {
			*error_r = "expected YYYY-MM-DD=WEIGHT steps, at most 16";
			return -1;
		}
		memcpy(num, eq + 1, nlen);
		num[nlen] = '\0';
		char *nend;
		unsigned long w = strtoul(num, &nend, 10);
		if (*nend != '\0' || w < 1 || w > DB_ROUTE_WEIGHT_MAX) {
			*error_r = "a step's weight is 1..10000";
			return -1;
		}
		steps[(*n_r)++].weight = (uint32_t)w;
		p = end != NULL ? end + 1 : p + len;
	}
	return 0;
}

static int schedule_hop_row(sqlite3_stmt *stmt, void *out)
{
	db_column_copy(stmt, 0, out, DB_ROUTE_SCHEDULE_MAX + 1);
	return 0;
}

int db_route_schedule_hop(struct db *db, const char *match, const char *nexthop, const char *date,
                          uint32_t weight, const char **error_r)
{
	static const char get_sql[] =
	    "SELECT weight_schedule FROM route_hops"
	    " WHERE route_id = (SELECT id FROM routes WHERE match = ?1) AND nexthop = ?2";
	static const char set_sql[] =
	    "UPDATE route_hops SET weight_schedule = ?3, modified = ?4"
	    " WHERE route_id = (SELECT id FROM routes WHERE match = ?1) AND nexthop = ?2";
	char m[DB_ROUTE_MATCH_MAX + 1], hop[DB_ROUTE_NEXTHOP_MAX + 1], cur[DB_ROUTE_SCHEDULE_MAX + 1] = "";
	struct db_route_schedule_step steps[DB_ROUTE_SCHEDULE_STEPS + 1];
	struct db_route_nexthop nh;
	const char *err;
	int64_t day;
	size_t n;

	if (db_route_match_normalize(match, m, sizeof(m), &err) < 0)
		return db_input_error(db, error_r, "match '%s': %s", match, err);
	if (db_route_nexthop_parse(nexthop, &nh, &err) < 0)
		return db_input_error(db, error_r, "nexthop '%s': %s", nexthop, err);
	db_route_nexthop_format(&nh, hop, sizeof(hop));
	if (date == NULL || schedule_day(date, strlen(date), &day) < 0)
		return db_input_error(db, error_r, "date '%s': expected YYYY-MM-DD (UTC)",
		                      date != NULL ? date : "");
	if (weight > DB_ROUTE_WEIGHT_MAX)
		return db_input_error(db, error_r, "weight %u: expected 1..%d (0 removes the date)", weight,
		                      DB_ROUTE_WEIGHT_MAX);
	if (db_begin(db, error_r) < 0)
		return -1;
	int rc = db_row_get(db, get_sql, DB_PARAMS(DB_TEXT(m), DB_TEXT(hop)), schedule_hop_row, cur,
	                    "read weight schedule", error_r);
	if (rc != 0) {
		db_rollback(db);
		return rc < 0 ? -1 : db_input_error(db, error_r, "route %s: no such next hop %s", m, hop);
	}
	if (db_route_schedule_parse(cur, steps, &n, &err) < 0)
		n = 0; /* a damaged schedule is replaced */
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (steps[i].day != day)
			steps[k++] = steps[i];
	n = k;
	if (weight > 0) {
		if (n >= DB_ROUTE_SCHEDULE_STEPS) {
			db_rollback(db);
			return db_input_error(db, error_r, "date '%s': the schedule has %d dates already",
			                      date, DB_ROUTE_SCHEDULE_STEPS);
		}
		size_t at = 0;
		while (at < n && steps[at].day < day)
			at++;
		memmove(&steps[at + 1], &steps[at], (n - at) * sizeof(steps[0]));
		steps[at] = (struct db_route_schedule_step){day, weight};
		n++;
	}
	char text[DB_ROUTE_SCHEDULE_MAX + 1] = "";
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		struct tm tm;
		time_t t = (time_t)steps[i].day;
		gmtime_r(&t, &tm);
		len +=
		    (size_t)snprintf(text + len, sizeof(text) - len, "%s%04d-%02d-%02d=%u", i > 0 ? "," : "",
		                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, steps[i].weight);
	}
	if (db_exec(db, set_sql, DB_PARAMS(DB_TEXT(m), DB_TEXT(hop), DB_TEXT(text), DB_INT(time_now())),
	            "set weight schedule", error_r) < 0) {
		db_rollback(db);
		return -1;
	}
	return db_commit(db, error_r);
}
