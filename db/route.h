/*
 * route: the routing rules (tables "routes", "route_hops", "route_stats"). A route matches the
 * recipient's domain ("example.com" exactly, ".example.com" its subdomains but not itself, "*" any
 * domain) and lists one or more next hops, each with a weight (weighted split), a priority (lower is
 * preferred: failover), optional SMTP AUTH credentials and whether AUTH may go over an unencrypted
 * connection, or over TLS whose certificate does not verify for the hop's name. A route may override the TLS
 * security level (NULL: the global smtp_tls_security_level). route_stats holds per-hop counters that mxd adds
 * to periodically (mxd/delivery/route.c keeps the live state).
 *
 * Next hops are written as in Postfix: "direct" (MX lookup of the recipient's domain), "[host]:port"
 * (connect to host, no MX lookup; host is a name or an IPv4/IPv6 address) and "host:port" (MX lookup
 * of host). The port defaults to 25. They are stored in a canonical form: lower-case, port always
 * written ("relay.example" is stored as "relay.example:25"), so a duplicate is found however written.
 *
 * Same thread rules as db.h. Every change runs in one transaction. Errors name the field and the value
 * ("nexthop '[x': missing ']'", "match 'example.com': no such route"), never a password; *error_r
 * points into the struct db, except for the pure parse functions, whose error strings are static and
 * say only what is wrong (callers put the field in front). Returns 0, -1 on error, 1 for "not found"
 * where said. Passwords are read from the database only when DB_ROUTE_WITH_SECRETS asks for them, and
 * db_route_clear() wipes them.
 */
#ifndef MXD_DB_ROUTE_H
#define MXD_DB_ROUTE_H

#include "db/db.h"
#include "mxd/common/addr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DB_ROUTE_MATCH_MAX       ADDR_DOMAIN_MAX /* octets of a match pattern */
#define DB_ROUTE_HOST_MAX        253             /* a next hop's host name */
#define DB_ROUTE_NEXTHOP_MAX     264             /* "[" host "]:" port */
#define DB_ROUTE_AUTH_MAX        255             /* octets of an AUTH user name or password */
#define DB_ROUTE_WEIGHT_MAX      10000
#define DB_ROUTE_PRIORITY_MAX    65535
#define DB_ROUTE_DEFAULT_PORT    25
#define DB_ROUTE_TLS_LEVEL_MAX   7 /* "encrypt" */
#define DB_ROUTE_DESCRIPTION_MAX 200
#define DB_ROUTE_RATE_MAX        24 /* "1000000/d" */
#define DB_ROUTE_SCHEDULE_STEPS  16 /* dates in a hop's weight schedule */
#define DB_ROUTE_SCHEDULE_MAX    (DB_ROUTE_SCHEDULE_STEPS * 17)

enum db_route_nexthop_kind {
	DB_ROUTE_NEXTHOP_DIRECT,     /* MX lookup of the recipient's domain */
	DB_ROUTE_NEXTHOP_MX_OF_HOST, /* host:port - MX lookup of host */
	DB_ROUTE_NEXTHOP_HOST_NO_MX, /* [host]:port - host's own addresses, no MX lookup */
};

struct db_route_nexthop {
	enum db_route_nexthop_kind kind;
	char host[DB_ROUTE_HOST_MAX + 1]; /* lower-case name or canonical IP text; "" for DIRECT */
	uint16_t port;                    /* DB_ROUTE_DEFAULT_PORT for DIRECT */
};

/* One next hop as stored, with its counters from route_stats. */
struct db_route_hop {
	int64_t id;
	char nexthop[DB_ROUTE_NEXTHOP_MAX + 1]; /* canonical text */
	uint32_t weight;
	uint32_t priority;
	char auth_user[DB_ROUTE_AUTH_MAX + 1];     /* "" when the hop has no AUTH */
	bool has_password;                         /* set whether or not the password was read */
	char auth_password[DB_ROUTE_AUTH_MAX + 1]; /* only with DB_ROUTE_WITH_SECRETS, else "" */
	bool allow_plaintext_auth;
	bool allow_unverified_tls;        /* AUTH over TLS whose certificate does not verify */
	char rate[DB_ROUTE_RATE_MAX + 1]; /* "N/unit" (s, m, h, d): deliveries at most; "" no cap */
	char weight_schedule[DB_ROUTE_SCHEDULE_MAX + 1]; /* "YYYY-MM-DD=W,..." by date; "" none */
	int64_t created, modified;
	uint64_t selected, sent, deferred, bounced; /* route_stats (0 before mxd's first flush) */
	uint64_t throttled, conn_failures;          /* route_stats: attempts throttled, connection failures */
};

struct db_route {
	int64_t id;
	char match[DB_ROUTE_MATCH_MAX + 1];
	char tls_level[DB_ROUTE_TLS_LEVEL_MAX + 1]; /* "" means the global smtp_tls_security_level */
	char description[DB_ROUTE_DESCRIPTION_MAX + 1];
	bool active;
	int64_t created, modified;
	struct db_route_hop *hops; /* by priority, then id; owned, freed by db_route_clear() */
	size_t nhops;
};

enum db_route_flags {
	DB_ROUTE_WITH_SECRETS = 1 << 0, /* read auth_password (mxd only: mxctl and mxadmin never show it) */
};

/* What db_route_add_hop() writes. match and nexthop are required; the rest may be 0/NULL. */
struct db_route_hop_spec {
	const char *match;
	const char *nexthop;
	uint32_t weight;                       /* 0 means 1 */
	uint32_t priority;                     /* 0 is the most preferred */
	const char *auth_user, *auth_password; /* both or neither; not with "direct" */
	bool allow_plaintext_auth;             /* needs auth_user */
	bool allow_unverified_tls;             /* needs auth_user */
	const char *rate;                      /* "N/unit" cap (db_route_rate_parse), NULL or "": none */
	/* Route-level settings: NULL keeps an existing route's value (a new route: global level, no
	 * description); tls_level "" or "default" returns to the global level. */
	const char *tls_level;
	const char *description;
};

/* Validate a match pattern and write its lower-cased form into out (DB_ROUTE_MATCH_MAX + 1 octets).
 * 0, or -1 with *error_r (static: what is wrong, without the field name). */
int db_route_match_normalize(const char *match, char *out, size_t out_size, const char **error_r);

/* Parse a next hop. 0, or -1 with *error_r (static, as above). */
int db_route_nexthop_parse(const char *text, struct db_route_nexthop *nexthop_r, const char **error_r);

/* The canonical text of a next hop into buf (DB_ROUTE_NEXTHOP_MAX + 1 octets). Returns buf. */
const char *db_route_nexthop_format(const struct db_route_nexthop *nexthop, char *buf, size_t size);

/* NULL, "" and "default" (the global level), or none|may|encrypt|verify. 0, or -1 with *error_r (static). */
int db_route_tls_level_valid(const char *level, const char **error_r);

/* "user=alice password=****" (with " plaintext-ok", " unverified-tls-ok" when allowed), or "-" without AUTH:
 * the only form in which a hop's credentials are ever shown. Returns buf. */
const char *db_route_hop_auth_str(const struct db_route_hop *hop, char *buf, size_t size);

/* Add a next hop to the route for spec->match, creating the route when there is none (else applying
 * spec's route-level settings that are not NULL). The same match and next hop twice is an error
 * ("... already exists"). *created_r (may be NULL) says whether the route was new. When a password is
 * stored, the database file (and its -wal and -shm) loses any permission for "other" users. */
int db_route_add_hop(struct db *db, const struct db_route_hop_spec *spec, bool *created_r,
                     const char **error_r);

/* Delete one next hop of a route; deleting the last one deletes the route. *route_deleted_r (may be
 * NULL) says whether it did. */
int db_route_del_hop(struct db *db, const char *match, const char *nexthop, bool *route_deleted_r,
                     const char **error_r);

/* Delete a route with all its next hops and their counters. */
int db_route_del(struct db *db, const char *match, const char **error_r);

/* One route with its next hops: 0 found, 1 no such route, -1 error. Clear with db_route_clear(). */
int db_route_get(struct db *db, const char *match, unsigned flags, struct db_route *route_r,
                 const char **error_r);

/* Every route (active or not) sorted by match, each with its next hops, in one malloc'd array; free
 * with db_route_list_free(). A route without next hops (written by hand) comes with nhops 0. */
int db_route_list(struct db *db, unsigned flags, struct db_route **routes_r, size_t *n_r,
                  const char **error_r);

/* Free a route's next hops, wiping any password read. */
void db_route_clear(struct db_route *route);
void db_route_list_free(struct db_route **routes, size_t n);

/* Counters to add to route_stats for one next hop. Rows whose hop no longer exists, or whose id now
 * belongs to another next hop (ids of deleted rows may be reused), are skipped. */
struct db_route_stats_delta {
	int64_t hop_id;
	const char *nexthop; /* canonical text the counts were made for */
	uint64_t selected, sent, deferred, bounced;
	uint64_t throttled,
	    conn_failures; /* attempts throttled (reply_class.h), failed at connection level */
};

/* Add n deltas to route_stats in one transaction. 0 or -1 (nothing added). */
int db_route_stats_add(struct db *db, const struct db_route_stats_delta *deltas, size_t n,
                       const char **error_r);

/* A version of the replicated tables (db_sync_tables_version()): it changes when routes, hops, domains or
 * aliases change, by any connection, and not with the replica's bookkeeping or route statistics. */
int db_route_data_version(struct db *db, int64_t *version_r, const char **error_r);

#endif
