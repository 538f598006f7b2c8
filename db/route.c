/*
 * route: see route.h. Owns the rows of "routes", "route_hops" and "route_stats": the syntax of match
 * patterns and next hops, their canonical forms, and the rules that span rows (a route without next
 * hops is deleted with its last one; a password is never stored in a file others may read).
 */
#include "db/route.h"
#include "db/route_hop.h"
#include "db/sync.h"

#include "db/db_private.h"
#include "mxd/common/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *const tls_levels[] = {"none", "may", "encrypt", "verify"};

int db_route_match_normalize(const char *match, char *out, size_t out_size, const char **error_r)
{
	char probe[DB_ROUTE_MATCH_MAX + 2];
	const char *err;

	if (*match == '\0') {
		*error_r = "empty (expected example.com, .example.com or *)";
		return -1;
	}
	if (strcmp(match, "*") == 0) {
		str_copy(out, out_size, match);
		return 0;
	}
	if (match[0] == '*') {
		*error_r = "write '.example.com' for the subdomains of example.com, '*' for every domain";
		return -1;
	}
	if (strlen(match) > DB_ROUTE_MATCH_MAX) {
		*error_r = "longer than 255 octets";
		return -1;
	}
	if (match[0] == '.') {
		/* A parent: any label in front must make a valid domain (".de" is allowed, "." is not). */
		snprintf(probe, sizeof(probe), "x%s", match);
		if (addr_domain_valid(probe, &err) < 0) {
			*error_r = err;
			return -1;
		}
	} else if (addr_domain_valid(match, &err) < 0) {
		*error_r = err;
		return -1;
	}
	if (str_copy(out, out_size, match) < 0) {
		*error_r = "too long";
		return -1;
	}
	str_lower(out);
	return 0;
}

/* A host name as the DNS takes it: labels of letters, digits, '-' (not at a label's ends) and '_'. */
static int host_name_valid(const char *host, const char **error_r)
{
	size_t len = strlen(host), label = 0;

	if (len == 0) {
		*error_r = "empty host";
		return -1;
	}
	if (len > DB_ROUTE_HOST_MAX) {
		*error_r = "host longer than 253 octets";
		return -1;
	}
	for (size_t i = 0; i <= len; i++) {
		char c = host[i];
		if (c == '.' || c == '\0') {
			if (label == 0) {
				*error_r = c == '\0' ? "host ends with '.'" : "host has an empty label";
				return -1;
			}
			if (host[i - 1] == '-') {
				*error_r = "host label ends with '-'";
				return -1;
			}
			label = 0;
			continue;
		}
		if (label == 0 && c == '-') {
			*error_r = "host label starts with '-'";
			return -1;
		}
		if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') &&
		    c != '-' && c != '_') {
			*error_r = "host may hold only letters, digits, '-', '_' and '.' (IDNs as xn--)";
			return -1;
		}
		if (++label > 63) {
			*error_r = "host label longer than 63 octets";
			return -1;
		}
	}
	return 0;
}

static int port_parse(const char *text, uint16_t *port_r, const char **error_r)
{
	uint64_t n;
	if (str_to_u64(text, &n) < 0 || n < 1 || n > 65535) {
		*error_r = "port: expected a number from 1 to 65535";
		return -1;
	}
	*port_r = (uint16_t)n;
	return 0;
}

/* The host inside brackets: an IPv6 or IPv4 address (made canonical) or a host name. */
static int bracket_host_parse(const char *host, char *out, size_t size, const char **error_r)
{
	unsigned char bin[16];

	if (strchr(host, ':') != NULL) {
		if (inet_pton(AF_INET6, host, bin) != 1) {
			*error_r = "not a valid IPv6 address in brackets";
			return -1;
		}
		inet_ntop(AF_INET6, bin, out, (socklen_t)size);
		return 0;
	}
	if (inet_pton(AF_INET, host, bin) == 1) {
		inet_ntop(AF_INET, bin, out, (socklen_t)size);
		return 0;
	}
	if (host_name_valid(host, error_r) < 0)
		return -1;
	str_copy(out, size, host);
	str_lower(out);
	return 0;
}

int db_route_nexthop_parse(const char *text, struct db_route_nexthop *nexthop_r, const char **error_r)
{
	char host[DB_ROUTE_NEXTHOP_MAX + 1];
	const char *port = NULL;
	unsigned char bin[4];
	size_t len = strlen(text);

	memset(nexthop_r, 0, sizeof(*nexthop_r));
	nexthop_r->port = DB_ROUTE_DEFAULT_PORT;
	if (len == 0) {
		*error_r = "empty (expected direct, [host]:port or host:port)";
		return -1;
	}
	if (len > DB_ROUTE_NEXTHOP_MAX) {
		*error_r = "longer than 264 octets";
		return -1;
	}
	if (strcasecmp(text, "direct") == 0) {
		nexthop_r->kind = DB_ROUTE_NEXTHOP_DIRECT;
		return 0;
	}
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (close == NULL) {
			*error_r = "missing ']' (expected [host] or [host]:port)";
			return -1;
		}
		if (close[1] == ':') {
			port = close + 2;
		} else if (close[1] != '\0') {
			*error_r = "expected ':port' or nothing after ']'";
			return -1;
		}
		memcpy(host, text + 1, (size_t)(close - text - 1));
		host[close - text - 1] = '\0';
		if (host[0] == '\0') {
			*error_r = "empty host in brackets";
			return -1;
		}
		nexthop_r->kind = DB_ROUTE_NEXTHOP_HOST_NO_MX;
		if (bracket_host_parse(host, nexthop_r->host, sizeof(nexthop_r->host), error_r) < 0)
			return -1;
	} else {
		const char *colon = strchr(text, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			*error_r = "an IPv6 address goes in brackets: [2001:db8::1]:25";
			return -1;
		}
		if (strchr(text, ']') != NULL) {
			*error_r = "']' without '['";
			return -1;
		}
		size_t hostlen = colon != NULL ? (size_t)(colon - text) : len;
		memcpy(host, text, hostlen);
		host[hostlen] = '\0';
		if (colon != NULL)
			port = colon + 1;
		if (inet_pton(AF_INET, host, bin) == 1) {
			*error_r = "an IP address has no MX records: write it in brackets, [192.0.2.1]";
			return -1;
		}
		if (host_name_valid(host, error_r) < 0)
			return -1;
		nexthop_r->kind = DB_ROUTE_NEXTHOP_MX_OF_HOST;
		str_copy(nexthop_r->host, sizeof(nexthop_r->host), host);
		str_lower(nexthop_r->host);
	}
	if (port != NULL && port_parse(port, &nexthop_r->port, error_r) < 0)
		return -1;
	return 0;
}

const char *db_route_nexthop_format(const struct db_route_nexthop *nexthop, char *buf, size_t size)
{
	switch (nexthop->kind) {
	case DB_ROUTE_NEXTHOP_DIRECT:
		str_copy(buf, size, "direct");
		break;
	case DB_ROUTE_NEXTHOP_HOST_NO_MX:
		snprintf(buf, size, "[%s]:%u", nexthop->host, (unsigned)nexthop->port);
		break;
	case DB_ROUTE_NEXTHOP_MX_OF_HOST:
		snprintf(buf, size, "%s:%u", nexthop->host, (unsigned)nexthop->port);
		break;
	}
	return buf;
}

int db_route_tls_level_valid(const char *level, const char **error_r)
{
	if (level == NULL || *level == '\0' || strcmp(level, "default") == 0)
		return 0;
	for (size_t i = 0; i < MXD_ARRAY_SIZE(tls_levels); i++) {
		if (strcmp(level, tls_levels[i]) == 0)
			return 0;
	}
	*error_r = "expected none, may, encrypt, verify or default (smtp_tls_security_level)";
	return -1;
}

const char *db_route_hop_auth_str(const struct db_route_hop *hop, char *buf, size_t size)
{
	if (hop->auth_user[0] == '\0')
		str_copy(buf, size, "-");
	else
		snprintf(buf, size, "user=%s password=%s%s%s", hop->auth_user,
		         hop->has_password ? "****" : "(none)",
		         hop->allow_plaintext_auth ? " plaintext-ok" : "",
		         hop->allow_unverified_tls ? " unverified-tls-ok" : "");
	return buf;
}

static bool has_control(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	}
	return false;
}

/* Check a spec's fields; canonical match and next hop into match and nexthop. -1 with the db's error. */
static int spec_check(struct db *db, const struct db_route_hop_spec *spec, char *match, char *nexthop,
                      const char **error_r)
{
	struct db_route_nexthop nh;
	const char *err;
	bool auth = spec->auth_user != NULL && spec->auth_user[0] != '\0';
	bool password = spec->auth_password != NULL && spec->auth_password[0] != '\0';

	if (db_route_match_normalize(spec->match, match, DB_ROUTE_MATCH_MAX + 1, &err) < 0)
		return db_input_error(db, error_r, "match '%s': %s", spec->match, err);
	if (db_route_nexthop_parse(spec->nexthop, &nh, &err) < 0)
		return db_input_error(db, error_r, "nexthop '%s': %s", spec->nexthop, err);
	db_route_nexthop_format(&nh, nexthop, DB_ROUTE_NEXTHOP_MAX + 1);
	if (spec->weight > DB_ROUTE_WEIGHT_MAX)
		return db_input_error(db, error_r, "weight %u: expected 1 to %d", spec->weight,
		                      DB_ROUTE_WEIGHT_MAX);
	if (spec->priority > DB_ROUTE_PRIORITY_MAX)
		return db_input_error(db, error_r, "priority %u: expected 0 to %d", spec->priority,
		                      DB_ROUTE_PRIORITY_MAX);
	if (auth && !password)
		return db_input_error(db, error_r, "auth password: missing for auth user '%s'",
		                      spec->auth_user);
	if (password && !auth)
		return db_input_error(db, error_r, "auth user: missing (a password was given)");
	if (auth && nh.kind == DB_ROUTE_NEXTHOP_DIRECT)
		return db_input_error(
		    db, error_r, "auth user: a 'direct' next hop cannot use AUTH (the recipients' MX hosts)");
	if (auth && (strlen(spec->auth_user) > DB_ROUTE_AUTH_MAX || has_control(spec->auth_user)))
		return db_input_error(db, error_r,
		                      "auth user: longer than %d octets or has a control character",
		                      DB_ROUTE_AUTH_MAX);
	/* Never quote the password. */
	if (password && strlen(spec->auth_password) > DB_ROUTE_AUTH_MAX)
		return db_input_error(db, error_r, "auth password: longer than %d octets", DB_ROUTE_AUTH_MAX);
	if (password && has_control(spec->auth_password))
		return db_input_error(db, error_r,
		                      "auth password: contains a control character (a line break?)");
	if (spec->allow_plaintext_auth && !auth)
		return db_input_error(db, error_r, "allow plaintext auth: set without an auth user");
	if (spec->allow_unverified_tls && !auth)
		return db_input_error(db, error_r, "allow unverified tls: set without an auth user");
	if (db_route_tls_level_valid(spec->tls_level, &err) < 0)
		return db_input_error(db, error_r, "tls level '%s': %s", spec->tls_level, err);
	if (db_route_rate_parse(spec->rate, NULL, NULL, &err) < 0)
		return db_input_error(db, error_r, "rate '%s': %s", spec->rate, err);
	if (spec->description != NULL) {
		if (strlen(spec->description) > DB_ROUTE_DESCRIPTION_MAX)
			return db_input_error(db, error_r, "description: longer than %d octets",
			                      DB_ROUTE_DESCRIPTION_MAX);
		if (has_control(spec->description))
			return db_input_error(db, error_r, "description: contains a control character");
	}
	return 0;
}

static int id_from_row(sqlite3_stmt *stmt, void *id_r)
{
	*(int64_t *)id_r = sqlite3_column_int64(stmt, 0);
	return 0;
}

/* The id of the route for match (canonical): 0 found, 1 none, -1 error. */
static int route_id_get(struct db *db, const char *match, int64_t *id_r, const char **error_r)
{
	static const char sql[] = "SELECT id FROM routes WHERE match = ?1";
	return db_row_get(db, sql, DB_PARAMS(DB_TEXT(match)), id_from_row, id_r, "look up route", error_r);
}

/* NULL/""/"default" as SQL NULL (the global level), else the level. */
static const char *tls_level_column(const char *level)
{
	return level == NULL || *level == '\0' || strcmp(level, "default") == 0 ? NULL : level;
}

static int route_insert(struct db *db, const char *match, const struct db_route_hop_spec *spec, int64_t *id_r,
                        const char **error_r)
{
	static const char sql[] =
	    "INSERT INTO routes (match, tls_level, description, active, created, modified)"
	    " VALUES (?1, ?2, ?3, 1, ?4, ?4)";
	if (db_exec(db, sql,
	            DB_PARAMS(DB_TEXT(match), DB_TEXT(tls_level_column(spec->tls_level)),
	                      DB_TEXT(spec->description != NULL ? spec->description : ""),
	                      DB_INT(time_now())),
	            "add route", error_r) < 0)
		return -1;
	*id_r = sqlite3_last_insert_rowid(db->handle);
	return 0;
}

static int route_update(struct db *db, int64_t id, const struct db_route_hop_spec *spec, const char **error_r)
{
	static const char sql[] = "UPDATE routes SET tls_level = CASE WHEN ?2 THEN ?3 ELSE tls_level END,"
	                          " description = coalesce(?4, description), modified = ?5 WHERE id = ?1";
	if (spec->tls_level == NULL && spec->description == NULL)
		return 0;
	return db_exec(db, sql,
	               DB_PARAMS(DB_INT(id), DB_INT(spec->tls_level != NULL),
	                         DB_TEXT(tls_level_column(spec->tls_level)), DB_TEXT(spec->description),
	                         DB_INT(time_now())),
	               "update route", error_r);
}

/* Does route id have next hop nexthop? 0 no, 1 yes, -1 error. */
static int hop_exists(struct db *db, int64_t route_id, const char *nexthop, const char **error_r)
{
	static const char sql[] = "SELECT 1 FROM route_hops WHERE route_id = ?1 AND nexthop = ?2";
	int rc = db_row_get(db, sql, DB_PARAMS(DB_INT(route_id), DB_TEXT(nexthop)), NULL, NULL,
	                    "look up next hop", error_r);
	return rc < 0 ? -1 : rc == 0 ? 1 : 0;
}

static int hop_insert(struct db *db, int64_t route_id, const char *nexthop,
                      const struct db_route_hop_spec *spec, const char **error_r)
{
	static const char sql[] = "INSERT INTO route_hops (route_id, nexthop, weight, priority, auth_user,"
	                          " auth_password, allow_plaintext_auth, allow_unverified_tls, created,"
	                          " modified, rate) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?9, ?8, ?8, ?10)";
	bool auth = spec->auth_user != NULL && spec->auth_user[0] != '\0';
	char rate[DB_ROUTE_RATE_MAX + 1] = "";
	const char *err;
	if (db_route_rate_parse(spec->rate, NULL, rate, &err) < 0)
		return db_input_error(db, error_r, "rate '%s': %s", spec->rate, err);
	/* db_exec() drops the statement's reference to the password afterwards. */
	return db_exec(
	    db, sql,
	    DB_PARAMS(DB_INT(route_id), DB_TEXT(nexthop), DB_INT(spec->weight == 0 ? 1 : spec->weight),
	              DB_INT(spec->priority), DB_TEXT(auth ? spec->auth_user : NULL),
	              DB_TEXT(auth ? spec->auth_password : NULL), DB_INT(spec->allow_plaintext_auth ? 1 : 0),
	              DB_INT(time_now()), DB_INT(spec->allow_unverified_tls ? 1 : 0), DB_TEXT(rate)),
	    "add next hop", error_r);
}

int db_route_add_hop(struct db *db, const struct db_route_hop_spec *spec, bool *created_r,
                     const char **error_r)
{
	char match[DB_ROUTE_MATCH_MAX + 1], nexthop[DB_ROUTE_NEXTHOP_MAX + 1];
	int64_t route_id = 0;
	bool created;

	if (created_r != NULL)
		*created_r = false;
	if (spec_check(db, spec, match, nexthop, error_r) < 0)
		return -1;
	if (spec->auth_password != NULL && spec->auth_password[0] != '\0' &&
	    db_protect(db, "not storing a password in it", error_r) < 0)
		return -1;
	if (db_begin(db, error_r) < 0)
		return -1;
	int rc = route_id_get(db, match, &route_id, error_r);
	if (rc < 0)
		goto fail;
	created = rc == 1;
	if (created) {
		if (route_insert(db, match, spec, &route_id, error_r) < 0)
			goto fail;
	} else {
		if (route_update(db, route_id, spec, error_r) < 0)
			goto fail;
		rc = hop_exists(db, route_id, nexthop, error_r);
		if (rc > 0)
			db_input_error(db, error_r, "route '%s': nexthop '%s' already exists", match,
			               nexthop);
		if (rc != 0)
			goto fail;
	}
	if (hop_insert(db, route_id, nexthop, spec, error_r) < 0)
		goto fail;
	if (db_commit(db, error_r) < 0)
		return -1;
	if (created_r != NULL)
		*created_r = created;
	return 0;
fail:
	db_rollback(db);
	return -1;
}

int db_route_del_hop(struct db *db, const char *match_in, const char *nexthop_in, bool *route_deleted_r,
                     const char **error_r)
{
	static const char del_sql[] = "DELETE FROM route_hops WHERE route_id = ?1 AND nexthop = ?2";
	static const char left_sql[] = "DELETE FROM routes WHERE id = ?1 AND"
	                               " NOT EXISTS (SELECT 1 FROM route_hops WHERE route_id = ?1)";
	char match[DB_ROUTE_MATCH_MAX + 1], nexthop[DB_ROUTE_NEXTHOP_MAX + 1];
	struct db_route_nexthop nh;
	const char *err;
	int64_t route_id = 0;

	if (route_deleted_r != NULL)
		*route_deleted_r = false;
	if (db_route_match_normalize(match_in, match, sizeof(match), &err) < 0)
		return db_input_error(db, error_r, "match '%s': %s", match_in, err);
	if (db_route_nexthop_parse(nexthop_in, &nh, &err) < 0)
		return db_input_error(db, error_r, "nexthop '%s': %s", nexthop_in, err);
	db_route_nexthop_format(&nh, nexthop, sizeof(nexthop));
	if (db_begin(db, error_r) < 0)
		return -1;
	int rc = route_id_get(db, match, &route_id, error_r);
	if (rc > 0)
		db_input_error(db, error_r, "match '%s': no such route", match);
	if (rc != 0)
		goto fail;
	rc =
	    db_change(db, del_sql, DB_PARAMS(DB_INT(route_id), DB_TEXT(nexthop)), "delete next hop", error_r);
	if (rc > 0)
		db_input_error(db, error_r, "route '%s': no nexthop '%s'", match, nexthop);
	if (rc != 0)
		goto fail;
	rc = db_change(db, left_sql, DB_PARAMS(DB_INT(route_id)), "delete empty route", error_r);
	if (rc < 0)
		goto fail;
	bool deleted = rc == 0;
	if (db_commit(db, error_r) < 0)
		return -1;
	if (route_deleted_r != NULL)
		*route_deleted_r = deleted;
	return 0;
fail:
	db_rollback(db);
	return -1;
}

int db_route_del(struct db *db, const char *match_in, const char **error_r)
{
	static const char sql[] = "DELETE FROM routes WHERE match = ?1";
	char match[DB_ROUTE_MATCH_MAX + 1];
	const char *err;

	if (db_route_match_normalize(match_in, match, sizeof(match), &err) < 0)
		return db_input_error(db, error_r, "match '%s': %s", match_in, err);
	/* One statement: the cascade to route_hops and route_stats is inside its implicit transaction. */
	int rc = db_change(db, sql, DB_PARAMS(DB_TEXT(match)), "delete route", error_r);
	if (rc > 0)
		return db_input_error(db, error_r, "match '%s': no such route", match);
	return rc;
}

/* Routes joined with their hops and counters; ?1 reads passwords, ?2 (NULL: all) selects one match. */
static const char list_sql[] =
    "SELECT r.id, r.match, r.tls_level, r.description, r.active, r.created, r.modified,"
    " h.id, h.nexthop, h.weight, h.priority, h.auth_user, h.auth_password IS NOT NULL,"
    " CASE WHEN ?1 THEN h.auth_password END, h.allow_plaintext_auth, h.created, h.modified,"
    " s.selected, s.sent, s.deferred, s.bounced, h.allow_unverified_tls, s.throttled, s.conn_failures,"
    " h.rate, h.weight_schedule"
    " FROM routes r LEFT JOIN route_hops h ON h.route_id = r.id LEFT JOIN route_stats s ON s.hop_id = h.id"
    " WHERE ?2 IS NULL OR r.match = ?2 ORDER BY r.match, h.priority, h.id";

static void route_from_row(sqlite3_stmt *stmt, struct db_route *r)
{
	memset(r, 0, sizeof(*r));
	r->id = sqlite3_column_int64(stmt, 0);
	db_column_copy(stmt, 1, r->match, sizeof(r->match));
	db_column_copy(stmt, 2, r->tls_level, sizeof(r->tls_level));
	db_column_copy(stmt, 3, r->description, sizeof(r->description));
	r->active = sqlite3_column_int(stmt, 4) != 0;
	r->created = sqlite3_column_int64(stmt, 5);
	r->modified = sqlite3_column_int64(stmt, 6);
}

static void hop_from_row(sqlite3_stmt *stmt, struct db_route_hop *h)
{
	memset(h, 0, sizeof(*h));
	h->id = sqlite3_column_int64(stmt, 7);
	db_column_copy(stmt, 8, h->nexthop, sizeof(h->nexthop));
	h->weight = (uint32_t)sqlite3_column_int64(stmt, 9);
	h->priority = (uint32_t)sqlite3_column_int64(stmt, 10);
	db_column_copy(stmt, 11, h->auth_user, sizeof(h->auth_user));
	h->has_password = sqlite3_column_int(stmt, 12) != 0;
	db_column_copy(stmt, 13, h->auth_password, sizeof(h->auth_password));
	h->allow_plaintext_auth = sqlite3_column_int(stmt, 14) != 0;
	h->created = sqlite3_column_int64(stmt, 15);
	h->modified = sqlite3_column_int64(stmt, 16);
	h->selected = (uint64_t)sqlite3_column_int64(stmt, 17);
	h->sent = (uint64_t)sqlite3_column_int64(stmt, 18);
	h->deferred = (uint64_t)sqlite3_column_int64(stmt, 19);
	h->bounced = (uint64_t)sqlite3_column_int64(stmt, 20);
	h->throttled = (uint64_t)sqlite3_column_int64(stmt, 22);
	h->conn_failures = (uint64_t)sqlite3_column_int64(stmt, 23);
	db_column_copy(stmt, 24, h->rate, sizeof(h->rate));
	db_column_copy(stmt, 25, h->weight_schedule, sizeof(h->weight_schedule));
	h->allow_unverified_tls = sqlite3_column_int(stmt, 21) != 0;
}

/* The routes read so far: a row starts a new route when its id changes, and adds its hop. */
struct route_query {
	struct db_route *list;
	size_t n, cap, hop_cap;
};

static int route_query_row(sqlite3_stmt *stmt, void *ctx)
{
	struct route_query *q = ctx;
	int64_t id = sqlite3_column_int64(stmt, 0);

	if (q->n == 0 || q->list[q->n - 1].id != id) {
		if (q->n == q->cap) {
			q->cap = q->cap == 0 ? 16 : q->cap * 2;
			q->list = xrealloc(q->list, q->cap * sizeof(*q->list));
		}
		route_from_row(stmt, &q->list[q->n++]);
		q->hop_cap = 0;
	}
	if (sqlite3_column_type(stmt, 7) == SQLITE_NULL)
		return 0; /* a route without next hops */
	struct db_route *r = &q->list[q->n - 1];
	if (r->nhops == q->hop_cap) {
		q->hop_cap = q->hop_cap == 0 ? 4 : q->hop_cap * 2;
		r->hops = xrealloc(r->hops, q->hop_cap * sizeof(*r->hops));
	}
	hop_from_row(stmt, &r->hops[r->nhops++]);
	return 0;
}

/* Run list_sql for match (NULL: every route) into a malloc'd array. */
static int route_query(struct db *db, const char *match, unsigned flags, struct db_route **routes_r,
                       size_t *n_r, const char **error_r)
{
	struct route_query q = {0};

	*routes_r = NULL;
	*n_r = 0;
	if (db_rows_each(db, list_sql,
	                 DB_PARAMS(DB_INT((flags & DB_ROUTE_WITH_SECRETS) != 0), DB_TEXT(match)),
	                 route_query_row, &q, "list routes", error_r) < 0) {
		db_route_list_free(&q.list, q.n);
		return -1;
	}
	*routes_r = q.list;
	*n_r = q.n;
	return 0;
}

int db_route_get(struct db *db, const char *match_in, unsigned flags, struct db_route *route_r,
                 const char **error_r)
{
	char match[DB_ROUTE_MATCH_MAX + 1];
	struct db_route *list;
	const char *err;
	size_t n;

	memset(route_r, 0, sizeof(*route_r));
	if (db_route_match_normalize(match_in, match, sizeof(match), &err) < 0)
		return db_input_error(db, error_r, "match '%s': %s", match_in, err);
	if (route_query(db, match, flags, &list, &n, error_r) < 0)
		return -1;
	if (n == 0)
		return 1;
	*route_r = list[0]; /* the hops move over with it */
	free(list);
	return 0;
}

int db_route_list(struct db *db, unsigned flags, struct db_route **routes_r, size_t *n_r,
                  const char **error_r)
{
	return route_query(db, NULL, flags, routes_r, n_r, error_r);
}

void db_route_clear(struct db_route *route)
{
	if (route->hops != NULL) {
		explicit_bzero(route->hops, route->nhops * sizeof(*route->hops));
		free(route->hops);
	}
	route->hops = NULL;
	route->nhops = 0;
}

static void route_clear(void *item)
{
	db_route_clear(item);
}

static const struct db_rows route_rows = {sizeof(struct db_route), NULL, route_clear};

void db_route_list_free(struct db_route **routes, size_t n)
{
	db_list_free(routes, n, &route_rows);
}

int db_route_stats_add(struct db *db, const struct db_route_stats_delta *deltas, size_t n,
                       const char **error_r)
{
	static const char sql[] =
	    "INSERT INTO route_stats (hop_id, selected, sent, deferred, bounced, modified, throttled,"
	    " conn_failures)"
	    " SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?8, ?9 WHERE EXISTS (SELECT 1 FROM route_hops WHERE id = ?1 AND"
	    " nexthop = ?7)"
	    " ON CONFLICT (hop_id) DO UPDATE SET selected = selected + excluded.selected,"
	    " sent = sent + excluded.sent, deferred = deferred + excluded.deferred,"
	    " bounced = bounced + excluded.bounced, throttled = throttled + excluded.throttled,"
	    " conn_failures = conn_failures + excluded.conn_failures, modified = excluded.modified";
	int64_t now = time_now();

	if (n == 0)
		return 0;
	if (db_begin(db, error_r) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct db_route_stats_delta *d = &deltas[i];
		if (db_exec(db, sql,
		            DB_PARAMS(DB_INT(d->hop_id), DB_INT(d->selected), DB_INT(d->sent),
		                      DB_INT(d->deferred), DB_INT(d->bounced), DB_INT(now),
		                      DB_TEXT(d->nexthop), DB_INT(d->throttled), DB_INT(d->conn_failures)),
		            "add route counters", error_r) < 0)
			goto fail;
	}
	return db_commit(db, error_r);
fail:
	db_rollback(db);
	return -1;
}

int db_route_data_version(struct db *db, int64_t *version_r, const char **error_r)
{
	/* Not PRAGMA data_version: on a secondary that changes with every pull (last_sync), which would
	 * reload the routes every sync_interval. The replicated tables' own version changes only with them.
	 */
	return db_sync_tables_version(db, version_r, error_r);
}
