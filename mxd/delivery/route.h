/*
 * route: the in-memory routing table of the queue manager. It answers "where does mail for this
 * recipient domain go next?" from the rules in the database (db/route.h) and relayhost (the default
 * route: no rule matches; empty relayhost means direct delivery by MX lookup).
 *
 * MATCHING: the most specific rule wins: "example.com" (exact) > the longest ".parent" > "*" >
 * relayhost. Inactive routes and routes without next hops are skipped.
 *
 * SELECTION within a route: next hops are grouped by priority (lower is preferred, like MX
 * preference). The best group that has an available hop is used; within it, smooth weighted
 * round-robin (nginx's algorithm: every pick adds each hop's weight to its current value, takes the
 * largest, and subtracts the total from it) splits the picks exactly by weight over any window of
 * sum(weights) consecutive picks. Ties go to the hop listed first (by priority, then id).
 *
 * CIRCUIT BREAKER per relay hop: ROUTE_FAILURE_THRESHOLD consecutive failures reported with
 * route_report() (connection failure, 4xx at greeting or AUTH, AUTH rejected) or
 * route_report_throttled() (a throttling reply after connect) make a hop unavailable
 * (open). After ROUTE_PROBE_COOLDOWN seconds one selection probes it (half-open; the probe has
 * precedence over the hop's healthy fallbacks); success closes the circuit, failure opens it for
 * another cooldown. A probe whose outcome is never reported is allowed again after another cooldown.
 * A "direct" hop has no circuit: its failures belong to the recipient domain's MX hosts, which the
 * queue manager backs off per destination, not to the hop.
 *
 * COUNTERS per hop (selected, sent, deferred, bounced, throttled, connection failures) are kept in memory and
 * added to the database's route_stats by route_stats_flush() (mxctl route stats reads them). The default
 * route (relayhost) has hop id 0 and is not in route_stats; a "*" rule can stand in for it when its counts
 * are wanted.
 *
 * RELOAD: route_table_changed() tells (by db_route_data_version()) that the replicated tables changed;
 * route_table_reload() reads the rules again and keeps the round-robin state, the circuit and the
 * unflushed counters of each hop that still exists (same id and same next hop).
 *
 * THREADS: a table belongs to the queue manager's thread; nothing here locks. The struct db given to
 * load, reload and flush is that thread's connection, opened read-write (flush writes route_stats).
 * Times are unix seconds passed in by the caller (tests pass a fake clock). Logs go to service "qmgr"
 * and never hold credentials. Returns: 0 success, -1 error with *error_r (valid until the next call on
 * the same struct db or table), 1 where said.
 */
#ifndef MXD_ROUTE_H
#define MXD_ROUTE_H

#include "db/db.h"
#include "db/route.h"

#include <stdbool.h>
#include <stdint.h>

#define ROUTE_FAILURE_THRESHOLD 3  /* consecutive failures that open a hop's circuit */
#define ROUTE_PROBE_COOLDOWN    30 /* seconds before an open circuit lets a probe through */
#define ROUTE_DEFAULT_MATCH     "(relayhost)"

struct route_table;

/* A selected next hop: copies, so it stays valid across reloads and after route_table_free().
 * route_choice_clear() wipes the password. */
struct route_choice {
	enum db_route_nexthop_kind kind;
	char host[ADDR_DOMAIN_MAX + 1]; /* DIRECT: the recipient domain; else the relay */
	uint16_t port;
	char auth_user[DB_ROUTE_AUTH_MAX + 1]; /* "" without AUTH */
	char auth_password[DB_ROUTE_AUTH_MAX + 1];
	bool allow_plaintext_auth;
	bool allow_unverified_tls; /* AUTH over TLS whose certificate does not verify (with a warning) */
	int64_t rate_delay_usec;   /* the hop's rate cap as a time between deliveries (0: none) */
	char tls_level[DB_ROUTE_TLS_LEVEL_MAX + 1]; /* the route's, else the global level */
	char nexthop[DB_ROUTE_NEXTHOP_MAX + 1];     /* canonical text, for logs */
	char match[DB_ROUTE_MATCH_MAX + 1];         /* the rule that matched, or ROUTE_DEFAULT_MATCH */
	int64_t route_id, hop_id;                   /* 0, 0: the default route */
	bool probe;                                 /* this selection probes an open circuit */
};

enum route_outcome { ROUTE_SENT, ROUTE_DEFERRED, ROUTE_BOUNCED };

/* Read the rules from db. relayhost is the default route ("" or NULL: direct), default_tls_level the
 * global smtp_tls_security_level (NULL: "may"). 0, or -1 with *error_r (a bad relayhost names it). */
int route_table_load(struct db *db, const char *relayhost, const char *default_tls_level,
                     struct route_table **t_r, const char **error_r);

/* Free a table and clear the caller's pointer (unflushed counters are lost). */
void route_table_free(struct route_table **t);

/* Has another connection changed the database since t was (re)loaded? 1 yes, 0 no, -1 error. */
int route_table_changed(struct route_table *t, struct db *db, const char **error_r);

/* Read the rules again into t, carrying the live state of hops that still exist. On error t is left
 * as it was. 0 or -1. */
int route_table_reload(struct route_table *t, struct db *db, const char **error_r);

/* Choose the next hop for mail to recipient_domain at time now, and count the selection. 0 with *out
 * filled; 1 when every hop of the matching route is unavailable (circuits open, no probe due): defer,
 * *retry_at_r (may be NULL) gets the time the next probe will be let through. */
int route_select(struct route_table *t, const char *recipient_domain, int64_t now, struct route_choice *out,
                 int64_t *retry_at_r);

/* Report how a delivery attempt through hop_id went at the hop level (ok: connected, greeted and, if
 * configured, authenticated; !ok: connection failure, 4xx at greeting or AUTH, AUTH rejected). Drives
 * the circuit breaker. An unknown hop id (deleted meanwhile) is ignored. */
void route_report(struct route_table *t, int64_t hop_id, bool ok, int64_t now);

/* A reply after connect throttled us at hop_id (reply_class.h): counted apart from connection failures,
 * and for a relay hop one more failure in a row towards opening its circuit, so the route's next
 * priority takes the mail. */
void route_report_throttled(struct route_table *t, int64_t hop_id, int64_t now);

/* Count a message outcome through hop_id (unknown ids are ignored). */
void route_count(struct route_table *t, int64_t hop_id, enum route_outcome outcome);

/* Add the counters gathered since the last flush to route_stats and start them again at zero.
 * On error they are kept for the next flush. 0 or -1. */
int route_stats_flush(struct route_table *t, struct db *db, const char **error_r);

/* Wipe the password in a choice. */
void route_choice_clear(struct route_choice *choice);

/* The circuit state of a hop, for logs and tests: "closed", "open", "half-open"; NULL for an unknown id. */
const char *route_hop_state(const struct route_table *t, int64_t hop_id);

#endif
