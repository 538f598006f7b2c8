/*
 * api: see api.h. Endpoints (paths after /api/v1; {x} is one path segment, {address} the rest of the
 * path, percent-encoded as needed):
 *
 *   GET    /session                         who is asking (and the CSRF token, for a cookie session)
 *   GET    /domains                         POST /domains {domain, description, alias_limit}
 *   GET    /domains/{d}                     PATCH {description, alias_limit, hourly_message_limit, active,
 *                                           dmarc_from_rewrite (yes, no, default)} or {report_address}
 *                                           DELETE
 *                                           (a PATCH is all or nothing: ops.h, *_change())
 *   GET    /domains/{d}/aliases?q=TEXT      POST {address, destinations: [..] or "a, b"}
 *   GET    /aliases/{address}               PATCH {destinations, active} or {fallback}  DELETE
 *   GET    /aliasdomains                    POST {alias_domain, target_domain}
 *   PATCH  /aliasdomains/{a} {active}       DELETE /aliasdomains/{a}
 *   GET    /routes                          POST {match, nexthop, weight, priority, auth_user,
 *                                                 auth_password, allow_plaintext_auth,
 *                                                 allow_unverified_tls, tls_level, description}
 *   DELETE /routes/{match}[?nexthop=HOP]    a whole route, or one next hop
 *   PATCH  /routes/{match}?nexthop=HOP {weight, rate}   one next hop in place (rate "N/unit", "none")
 *          or {schedule_date, schedule_weight}          a step of its weight schedule (weight 0 removes)
 *   GET    /queue                           POST /queue/flush       (api_queue.c)
 *   GET    /queue/{id}                      DELETE   POST /queue/{id}/hold   POST /queue/{id}/release
 *   GET    /queue/failed                    POST /queue/{id}/resend {to}   GET /queue/{id}/eml
 *   GET    /audit?before=ID
 *   GET    /log?address=ADDRESS or ?queue_id=ID    the delivery log (ops_log.c scopes it)
 *   GET    /check                           POST /check {domain}: the self-check (api_check.c)
 */
#include "admin/api.h"

#include "admin/api_private.h"

#include "admin/json.h"
#include "admin/ops.h"
#include "admin/session.h"
#include "mxd/common/log.h"
#include "mxd/common/util.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API_PREFIX "/api/v1"

void api_error_body(struct evbuffer *out, const char *field, const char *message)
{
	bool first = true, inner = true;

	evbuffer_add(out, "{", 1);
	json_key(out, &first, "error");
	evbuffer_add(out, "{", 1);
	json_key(out, &inner, "field");
	if (field != NULL && field[0] != '\0')
		json_str(out, field);
	else
		evbuffer_add(out, "null", 4);
	json_kv_str(out, &inner, "message", message);
	evbuffer_add(out, "}}\n", 3);
}

/* Answer status with {"error": {"field": FIELD or null, "message": MESSAGE}}. */
void api_error(struct http_request *req, int status, const char *field, const char *message)
{
	req->status = status;
	req->content_type = "application/json";
	evbuffer_drain(req->out, evbuffer_get_length(req->out));
	api_error_body(req->out, field, message);
}

void api_fail(struct http_request *req, const struct admin_err *err)
{
	api_error(req, err->status >= 400 ? err->status : 500, err->field, err->message);
}

/* Start a JSON answer: '{' (the caller adds members and api_close()). */
void api_open(struct http_request *req, int status)
{
	req->status = status;
	req->content_type = "application/json";
	evbuffer_add(req->out, "{", 1);
}

void api_close(struct http_request *req)
{
	evbuffer_add(req->out, "}\n", 2);
}

/* {"ok": true[, "warning": ...]} */
void api_ok(struct http_request *req, int status, const struct admin_err *err)
{
	bool first = true;

	api_open(req, status);
	json_kv_bool(req->out, &first, "ok", true);
	if (err != NULL && err->warning[0] != '\0')
		json_kv_str(req->out, &first, "warning", err->warning);
	api_close(req);
}

const char *api_param(const struct http_request *req, const char *name)
{
	return form_get(req->form, name);
}

/* All values given for name (an array or a repeated field), as a malloc'd array (free() it). */
static const char **api_params(const struct http_request *req, const char *name, size_t *n_r)
{
	size_t n = form_count(req->form, name);
	const char **list = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		list[i] = form_get_nth(req->form, name, i);
	*n_r = n;
	return list;
}

/* The flag "active" if given: 0 absent, 1 given (*active_r), -1 bad (answered). */
static int api_active(struct http_request *req, bool *active_r)
{
	const char *text = api_param(req, "active");

	if (form_count(req->form, "active") == 0)
		return 0;
	if (text == NULL || admin_ops_parse_bool(text, active_r) < 0) {
		api_error(req, 400, "active", "active: expected true or false");
		return -1;
	}
	return 1;
}

/* --- session --- */

static void api_session(struct http_request *req)
{
	bool first = true;

	api_open(req, 200);
	json_kv_str(req->out, &first, "admin", req->actor.admin.name);
	json_kv_bool(req->out, &first, "superadmin", req->actor.admin.superadmin);
	json_kv_strings(req->out, &first, "domains", req->actor.admin.domains, req->actor.admin.ndomains);
	json_kv_str(req->out, &first, "auth", req->via_token ? "token" : "session");
	if (!req->via_token)
		json_kv_str(req->out, &first, "csrf_token", req->session.csrf_token);
	api_close(req);
}

/* --- domains and aliases --- */

static void api_domain_json(struct evbuffer *out, const void *item)
{
	const struct db_domain *d = item;
	bool first = true;

	evbuffer_add(out, "{", 1);
	json_kv_str(out, &first, "domain", d->name);
	json_kv_str(out, &first, "description", d->description);
	json_kv_bool(out, &first, "active", d->active);
	json_kv_str(out, &first, "report_address", d->report_address);
	json_kv_int(out, &first, "alias_limit", d->alias_limit);
	json_kv_int(out, &first, "hourly_message_limit", d->hourly_message_limit);
	json_kv_int(out, &first, "alias_count", d->alias_count);
	json_kv_int(out, &first, "alias_domain_count", d->alias_domain_count);
	json_kv_str(out, &first, "dmarc_from_rewrite", admin_from_rewrite_str(d->dmarc_from_rewrite));
	json_kv_int(out, &first, "created", d->created);
	json_kv_int(out, &first, "modified", d->modified);
	evbuffer_add(out, "}", 1);
}

static void api_alias_json(struct evbuffer *out, const void *item)
{
	const struct db_alias *a = item;
	bool first = true;

	evbuffer_add(out, "{", 1);
	json_kv_str(out, &first, "address", a->address);
	json_kv_str(out, &first, "domain", a->domain);
	json_kv_strings(out, &first, "destinations", a->destinations, a->ndestinations);
	json_kv_bool(out, &first, "active", a->active);
	json_kv_bool(out, &first, "catch_all", a->address[0] == '@');
	json_kv_bool(out, &first, "protected", admin_ops_alias_protected(a->address));
	json_kv_str(out, &first, "fallback", a->fallback);
	json_kv_int(out, &first, "created", a->created);
	json_kv_int(out, &first, "modified", a->modified);
	evbuffer_add(out, "}", 1);
}

static void api_domains(struct http_request *req)
{
	struct admin_err err;

	if (strcmp(req->method, "POST") == 0) {
		if (admin_op_domain_add(req->ctx, &req->actor, api_param(req, "domain"),
		                        api_param(req, "description"), api_param(req, "alias_limit"),
		                        &err) < 0)
			api_fail(req, &err);
		else
			api_ok(req, 201, &err);
		return;
	}
	struct db_domain *list;
	size_t n;
	bool first = true;
	if (admin_op_domain_list(req->ctx, &req->actor, &list, &n, &err) < 0) {
		api_fail(req, &err);
		return;
	}
	api_open(req, 200);
	json_kv_list(req->out, &first, "domains", list, n, sizeof(*list), api_domain_json);
	api_close(req);
	free(list);
}

static void api_domain_aliases(struct http_request *req, const char *domain)
{
	struct admin_err err;

	if (strcmp(req->method, "POST") == 0) {
		size_t n;
		const char **dests = api_params(req, "destinations", &n);
		if (admin_op_alias_add(req->ctx, &req->actor, domain, api_param(req, "address"), dests, n,
		                       &err) < 0)
			api_fail(req, &err);
		else
			api_ok(req, 201, &err);
		free(dests);
		return;
	}
	struct db_alias *list;
	size_t n;
	bool first = true;
	if (admin_op_alias_list(req->ctx, &req->actor, domain, http_query(req, "q"), &list, &n, &err) < 0) {
		api_fail(req, &err);
		return;
	}
	api_open(req, 200);
	json_kv_list(req->out, &first, "aliases", list, n, sizeof(*list), api_alias_json);
	api_close(req);
	db_alias_list_free(&list, n);
}

static void api_domain(struct http_request *req, const char *name)
{
	struct admin_err err;
	struct db_domain d;
	bool active;

	if (strcmp(req->method, "GET") == 0) {
		if (admin_op_domain_get(req->ctx, &req->actor, name, &d, &err) < 0) {
			api_fail(req, &err);
			return;
		}
		req->content_type = "application/json";
		api_domain_json(req->out, &d);
		evbuffer_add(req->out, "\n", 1);
		return;
	}
	if (strcmp(req->method, "DELETE") == 0) {
		if (admin_op_domain_del(req->ctx, &req->actor, name, &err) < 0)
			api_fail(req, &err);
		else
			api_ok(req, 200, &err);
		return;
	}
	int has_active = api_active(req, &active);
	if (has_active < 0)
		return;
	const char *description = api_param(req, "description"), *limit = api_param(req, "alias_limit");
	if (form_count(req->form, "report_address") > 0) {
		/* its own write: refused together with other fields, so that a PATCH stays all or nothing */
		if (description != NULL || limit != NULL || has_active > 0 ||
		    api_param(req, "hourly_message_limit") != NULL ||
		    api_param(req, "dmarc_from_rewrite") != NULL)
			api_error(req, 400, "report_address",
			          "report address: change it in a PATCH of its own");
		else if (admin_op_domain_set_report(req->ctx, &req->actor, name,
		                                    api_param(req, "report_address"), &err) < 0)
			api_fail(req, &err);
		else
			api_ok(req, 200, NULL);
		return;
	}
	const char *hourly = api_param(req, "hourly_message_limit");
	const char *rewrite = api_param(req, "dmarc_from_rewrite");
	if (description == NULL && limit == NULL && hourly == NULL && has_active == 0 && rewrite == NULL) {
		api_error(req, 400, NULL,
		          "nothing to change: give description, alias_limit, hourly_message_limit, active or "
		          "dmarc_from_rewrite");
		return;
	}
	if (rewrite != NULL && strcmp(rewrite, "yes") != 0 && strcmp(rewrite, "no") != 0 &&
	    strcmp(rewrite, "default") != 0) {
		api_error(req, 400, "dmarc_from_rewrite", "dmarc_from_rewrite: expected yes, no or default");
		return;
	}
	if (rewrite != NULL && !req->actor.admin.superadmin) {
		api_error(req, 403, "dmarc_from_rewrite",
		          "dmarc_from_rewrite: only a superadmin can change it");
		return;
	}
	/* All or nothing: every field is checked before any is written. */
	if ((hourly != NULL &&
	     admin_op_domain_set_hourly_limit(req->ctx, &req->actor, name, hourly, true, &err) < 0) ||
	    ((description != NULL || limit != NULL || has_active > 0) &&
	     admin_op_domain_change(req->ctx, &req->actor, name, description, limit,
	                            has_active > 0 ? active : -1, &err) < 0) ||
	    (hourly != NULL &&
	     admin_op_domain_set_hourly_limit(req->ctx, &req->actor, name, hourly, false, &err) < 0) ||
	    (rewrite != NULL &&
	     admin_op_domain_set_from_rewrite(req->ctx, &req->actor, name, rewrite, &err) < 0)) {
		api_fail(req, &err);
		return;
	}
	api_ok(req, 200, NULL);
}

static void api_alias(struct http_request *req, const char *address)
{
	struct admin_err err = {0};
	struct db_alias a;
	bool active;

	if (strcmp(req->method, "GET") == 0) {
		if (admin_op_alias_get(req->ctx, &req->actor, address, &a, &err) < 0) {
			api_fail(req, &err);
			return;
		}
		req->content_type = "application/json";
		api_alias_json(req->out, &a);
		evbuffer_add(req->out, "\n", 1);
		db_alias_clear(&a);
		return;
	}
	if (strcmp(req->method, "DELETE") == 0) {
		if (admin_op_alias_del(req->ctx, &req->actor, address, &err) < 0)
			api_fail(req, &err);
		else
			api_ok(req, 200, &err);
		return;
	}
	int has_active = api_active(req, &active);
	if (has_active < 0)
		return;
	size_t n;
	const char **dests = api_params(req, "destinations", &n);
	if (form_count(req->form, "fallback") > 0) {
		/* its own write: refused together with other fields, so that a PATCH stays all or nothing */
		if (n > 0 || has_active > 0)
			api_error(req, 400, "fallback", "fallback: change it in a PATCH of its own");
		else if (admin_op_alias_set_fallback(req->ctx, &req->actor, address,
		                                     api_param(req, "fallback"), &err) < 0)
			api_fail(req, &err);
		else
			api_ok(req, 200, &err);
		free(dests);
		return;
	}
	if (n == 0 && has_active == 0)
		api_error(req, 400, NULL, "nothing to change: give destinations or active");
	else if (admin_op_alias_change(req->ctx, &req->actor, address, n > 0 ? dests : NULL, n,
	                               has_active > 0 ? active : -1, &err) < 0) /* all or nothing */
		api_fail(req, &err);
	else
		api_ok(req, 200, &err);
	free(dests);
}

/* --- alias domains --- */

static void api_aliasdomain_json(struct evbuffer *out, const void *item)
{
	const struct db_alias_domain *ad = item;
	bool first = true;

	evbuffer_add(out, "{", 1);
	json_kv_str(out, &first, "alias_domain", ad->alias_domain);
	json_kv_str(out, &first, "target_domain", ad->target_domain);
	json_kv_bool(out, &first, "active", ad->active);
	json_kv_int(out, &first, "created", ad->created);
	evbuffer_add(out, "}", 1);
}

static void api_aliasdomains(struct http_request *req, const char *alias)
{
	struct admin_err err;
	bool active;

	if (alias == NULL && strcmp(req->method, "POST") == 0) {
		if (admin_op_aliasdomain_add(req->ctx, &req->actor, api_param(req, "alias_domain"),
		                             api_param(req, "target_domain"), &err) < 0)
			api_fail(req, &err);
		else
			api_ok(req, 201, &err);
		return;
	}
	if (alias != NULL && strcmp(req->method, "DELETE") == 0) {
		if (admin_op_aliasdomain_del(req->ctx, &req->actor, alias, &err) < 0)
			api_fail(req, &err);
		else
			api_ok(req, 200, &err);
		return;
	}
	if (alias != NULL) { /* PATCH */
		int has = api_active(req, &active);
		if (has == 0)
			api_error(req, 400, "active", "active: missing");
		if (has <= 0)
			return;
		if (admin_op_aliasdomain_set_active(req->ctx, &req->actor, alias, active, &err) < 0)
			api_fail(req, &err);
		else
			api_ok(req, 200, &err);
		return;
	}
	struct db_alias_domain *list;
	size_t n;
	bool first = true;
	if (admin_op_aliasdomain_list(req->ctx, &req->actor, &list, &n, &err) < 0) {
		api_fail(req, &err);
		return;
	}
	api_open(req, 200);
	json_kv_list(req->out, &first, "alias_domains", list, n, sizeof(*list), api_aliasdomain_json);
	api_close(req);
	free(list);
}

/* --- routes --- */

static void api_hop_json(struct evbuffer *out, const void *item)
{
	const struct db_route_hop *h = item;
	char auth[DB_ROUTE_AUTH_MAX + 64];
	bool first = true;

	evbuffer_add(out, "{", 1);
	json_kv_int(out, &first, "id", h->id);
	json_kv_str(out, &first, "nexthop", h->nexthop);
	json_kv_int(out, &first, "weight", h->weight);
	json_kv_int(out, &first, "priority", h->priority);
	json_kv_str(out, &first, "auth", db_route_hop_auth_str(h, auth, sizeof(auth)));
	json_kv_str(out, &first, "auth_user", h->auth_user);
	json_kv_bool(out, &first, "has_password", h->has_password);
	json_kv_bool(out, &first, "allow_plaintext_auth", h->allow_plaintext_auth);
	json_kv_bool(out, &first, "allow_unverified_tls", h->allow_unverified_tls);
	json_kv_str(out, &first, "rate", h->rate);
	json_kv_str(out, &first, "weight_schedule", h->weight_schedule);
	json_kv_int(out, &first, "selected", (int64_t)h->selected);
	json_kv_int(out, &first, "sent", (int64_t)h->sent);
	json_kv_int(out, &first, "deferred", (int64_t)h->deferred);
	json_kv_int(out, &first, "bounced", (int64_t)h->bounced);
	json_kv_int(out, &first, "throttled", (int64_t)h->throttled);
	json_kv_int(out, &first, "conn_failures", (int64_t)h->conn_failures);
	evbuffer_add(out, "}", 1);
}

static void api_route_json(struct evbuffer *out, const void *item)
{
	const struct db_route *r = item;
	bool first = true;

	evbuffer_add(out, "{", 1);
	json_kv_str(out, &first, "match", r->match);
	json_kv_str(out, &first, "tls_level", r->tls_level[0] != '\0' ? r->tls_level : "default");
	json_kv_str(out, &first, "description", r->description);
	json_kv_bool(out, &first, "active", r->active);
	json_kv_list(out, &first, "hops", r->hops, r->nhops, sizeof(*r->hops), api_hop_json);
	evbuffer_add(out, "}", 1);
}

static void api_routes_list(struct http_request *req)
{
	struct db_route *list;
	struct admin_err err;
	bool first = true;
	size_t n;

	if (admin_op_route_list(req->ctx, &req->actor, &list, &n, &err) < 0) {
		api_fail(req, &err);
		return;
	}
	api_open(req, 200);
	json_kv_list(req->out, &first, "routes", list, n, sizeof(*list), api_route_json);
	api_close(req);
	db_route_list_free(&list, n);
}

static void api_routes(struct http_request *req, const char *match)
{
	struct admin_err err;

	if (match == NULL && strcmp(req->method, "POST") == 0) {
		struct admin_route_input in = {
		    .match = api_param(req, "match"),
		    .nexthop = api_param(req, "nexthop"),
		    .weight = api_param(req, "weight"),
		    .priority = api_param(req, "priority"),
		    .auth_user = api_param(req, "auth_user"),
		    .auth_password = api_param(req, "auth_password"),
		    .allow_plaintext_auth = api_param(req, "allow_plaintext_auth"),
		    .allow_unverified_tls = api_param(req, "allow_unverified_tls"),
		    .tls_level = api_param(req, "tls_level"),
		    .description = api_param(req, "description"),
		    .rate = api_param(req, "rate"),
		};
		if (admin_op_route_add_hop(req->ctx, &req->actor, &in, &err) < 0)
			api_fail(req, &err);
		else
			api_ok(req, 201, &err);
		return;
	}
	if (match != NULL && strcmp(req->method, "PATCH") == 0) {
		const char *nexthop = http_query(req, "nexthop");
		if (nexthop == NULL)
			nexthop = api_param(req, "nexthop");
		int rc;
		if (form_count(req->form, "schedule_date") > 0)
			rc = admin_op_route_schedule_hop(req->ctx, &req->actor, match, nexthop,
			                                 api_param(req, "schedule_date"),
			                                 api_param(req, "schedule_weight"), &err);
		else
			rc = admin_op_route_set_hop(req->ctx, &req->actor, match, nexthop,
			                            api_param(req, "weight"), api_param(req, "rate"), &err);
		if (rc < 0)
			api_fail(req, &err);
		else
			api_ok(req, 200, &err);
		return;
	}
	if (match != NULL && strcmp(req->method, "DELETE") == 0) {
		const char *nexthop = http_query(req, "nexthop");
		if (nexthop == NULL)
			nexthop = api_param(req, "nexthop");
		int rc = nexthop != NULL ? admin_op_route_del_hop(req->ctx, &req->actor, match, nexthop, &err)
		                         : admin_op_route_del(req->ctx, &req->actor, match, &err);
		if (rc < 0)
			api_fail(req, &err);
		else
			api_ok(req, 200, &err);
		return;
	}
	api_routes_list(req);
}

/* --- audit --- */

static void api_audit_json(struct evbuffer *out, const void *item)
{
	const struct db_audit_entry *e = item;
	bool first = true;

	evbuffer_add(out, "{", 1);
	json_kv_str(out, &first, "id", e->id);
	json_kv_int(out, &first, "time", e->created);
	json_kv_str(out, &first, "admin", e->admin);
	json_kv_str(out, &first, "client_addr", e->client_addr);
	json_kv_str(out, &first, "action", e->action);
	json_kv_str(out, &first, "object", e->object);
	json_kv_str(out, &first, "domain", e->domain);
	json_kv_str(out, &first, "detail", e->detail);
	evbuffer_add(out, "}", 1);
}

static void api_audit(struct http_request *req)
{
	struct db_audit_entry *list;
	struct admin_err err;
	bool first = true;
	size_t n;

	if (admin_op_audit_list(req->ctx, &req->actor, http_query(req, "before"), &list, &n, &err) < 0) {
		api_fail(req, &err);
		return;
	}
	api_open(req, 200);
	json_kv_list(req->out, &first, "entries", list, n, sizeof(*list), api_audit_json);
	api_close(req);
	free(list);
}

static void api_log_json(struct evbuffer *out, const void *item)
{
	const struct admin_log_entry *e = item;
	bool first = true;

	evbuffer_add(out, "{", 1);
	json_kv_int(out, &first, "id", e->id);
	json_kv_int(out, &first, "time", e->at);
	json_kv_str(out, &first, "queue_id", e->queue_id);
	json_kv_str(out, &first, "event", e->event);
	json_kv_str(out, &first, "sender", e->sender);
	json_kv_str(out, &first, "address", e->address);
	json_kv_str(out, &first, "orig_address", e->orig_address);
	json_kv_str(out, &first, "relay", e->relay);
	json_kv_str(out, &first, "dsn", e->dsn);
	json_kv_str(out, &first, "reply", e->reply);
	evbuffer_add(out, "}", 1);
}

static void api_log(struct http_request *req)
{
	struct admin_log_entry *list;
	struct admin_err err;
	bool first = true;
	size_t n;

	if (admin_op_log_search(req->ctx, &req->actor, http_query(req, "address"),
	                        http_query(req, "queue_id"), &list, &n, &err) < 0) {
		api_fail(req, &err);
		return;
	}
	api_open(req, 200);
	json_kv_bool(req->out, &first, "truncated", n >= ADMIN_LOG_MAX);
	json_kv_list(req->out, &first, "entries", list, n, sizeof(*list), api_log_json);
	api_close(req);
	admin_log_free(list, n);
}

/* --- dispatch --- */

/* Authenticate: a bearer token, else the session cookie (with X-CSRF-Token unless reading). */
static int api_auth(struct http_request *req)
{
	struct admin_err err;

	int rc = http_header(req, "Authorization") != NULL ? session_load_token(req, &err)
	                                                   : session_load(req, &err);
	if (rc < 0) {
		api_fail(req, &err);
		return -1;
	}
	if (rc > 0) {
		http_add_header(req, "WWW-Authenticate", "Bearer");
		api_error(req, 401, NULL, "authentication required: a valid API token or session");
		return -1;
	}
	req->actor.via_api = true;
	if (!req->via_token && strcmp(req->method, "GET") != 0 &&
	    !session_csrf_ok(req, http_header(req, "X-CSRF-Token"))) {
		log_warn("mxadmin",
		         "client=%s admin=%s refused: missing or wrong X-CSRF-Token on an API call",
		         req->client_addr, req->actor.admin.name);
		api_error(req, 403, NULL,
		          "missing or wrong X-CSRF-Token header (GET /api/v1/session returns the token)");
		return -1;
	}
	return 0;
}

/* Does the method fit an endpoint allowing "GET,POST,..."? */
static bool api_method_ok(struct http_request *req, const char *allowed)
{
	char list[64];

	snprintf(list, sizeof(list), ",%s,", allowed);
	char m[16];
	snprintf(m, sizeof(m), ",%.10s,", req->method);
	if (strstr(list, m) != NULL)
		return true;
	http_add_header(req, "Allow", allowed);
	api_error(req, 405, NULL, "method not allowed");
	return false;
}

void api_dispatch(struct http_request *req)
{
	const char *path = req->path + strlen(API_PREFIX);

	if (strcmp(req->method, "PUT") == 0)
		req->method = "PATCH"; /* the same partial update */
	if (req->form_error != NULL) {
		api_error(req, 400, NULL, req->form_error);
		return;
	}
	if (api_auth(req) < 0)
		return;
	if (*path == '/')
		path++;
	const char *slash = strchr(path, '/');
	size_t clen = slash != NULL ? (size_t)(slash - path) : strlen(path);
	const char *rest = slash != NULL && slash[1] != '\0' ? slash + 1 : NULL;
#define IS(name) (clen == strlen(name) && strncmp(path, name, clen) == 0)
	if (IS("session") && rest == NULL) {
		if (api_method_ok(req, "GET"))
			api_session(req);
	} else if (IS("domains") && rest == NULL) {
		if (api_method_ok(req, "GET,POST"))
			api_domains(req);
	} else if (IS("domains")) {
		char domain[ADDR_DOMAIN_MAX + 1];
		const char *sub = strchr(rest, '/');
		size_t dlen = sub != NULL ? (size_t)(sub - rest) : strlen(rest);
		snprintf(domain, sizeof(domain), "%.*s",
		         (int)(dlen < sizeof(domain) - 1 ? dlen : sizeof(domain) - 1), rest);
		if (sub == NULL) {
			if (api_method_ok(req, "GET,PATCH,DELETE"))
				api_domain(req, domain);
		} else if (strcmp(sub, "/aliases") == 0) {
			if (api_method_ok(req, "GET,POST"))
				api_domain_aliases(req, domain);
		} else {
			api_error(req, 404, NULL, "no such endpoint");
		}
	} else if (IS("aliases") && rest != NULL) {
		if (api_method_ok(req, "GET,PATCH,DELETE"))
			api_alias(req, rest);
	} else if (IS("aliasdomains")) {
		if (api_method_ok(req, rest == NULL ? "GET,POST" : "PATCH,DELETE"))
			api_aliasdomains(req, rest);
	} else if (IS("routes")) {
		if (api_method_ok(req, rest == NULL ? "GET,POST" : "PATCH,DELETE"))
			api_routes(req, rest);
	} else if (IS("queue")) {
		if (api_method_ok(req, "GET,POST,DELETE"))
			api_queue(req, rest);
	} else if (IS("audit") && rest == NULL) {
		if (api_method_ok(req, "GET"))
			api_audit(req);
	} else if (IS("log") && rest == NULL) {
		if (api_method_ok(req, "GET"))
			api_log(req);
	} else if (IS("check") && rest == NULL) {
		if (api_method_ok(req, "GET,POST"))
			api_check(req);
	} else {
		api_error(req, 404, NULL, "no such endpoint");
	}
#undef IS
}
