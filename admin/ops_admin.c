/*
 * ops_admin: the route, administrator and audit-log operations of ops.h. Routes and administrators are
 * the superadmins' (anyone may change its own password). Route passwords go into the database and
 * never come back out: listings are read without secrets and audit rows say only "password set".
 */
#include "admin/ops.h"

#include "admin/ops_private.h"
#include "admin/throttle.h"
#include "mxd/common/log.h"
#include "mxd/common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUDIT_LIST_MAX 200

/* --- routes --- */

int admin_op_route_list(struct admin_ctx *ctx, const struct admin_actor *actor, struct db_route **list_r,
                        size_t *n_r, struct admin_err *err)
{
	const char *error;

	*list_r = NULL;
	*n_r = 0;
	if (ops_superadmin(actor, err) < 0)
		return -1;
	if (db_route_list(ctx->db, 0, list_r, n_r, &error) < 0)
		return ops_db_error(ctx, err, error);
	return 0;
}

static bool ops_given(const char *s)
{
	return s != NULL && *s != '\0';
}

int admin_op_route_add_hop(struct admin_ctx *ctx, const struct admin_actor *actor,
                           const struct admin_route_input *in, struct admin_err *err)
{
	struct db_route_hop_spec spec = {.match = in->match, .nexthop = in->nexthop};
	char detail[DB_AUDIT_DETAIL_MAX + 1], match[DB_ROUTE_MATCH_MAX + 1];
	const char *error;

	ops_err_clear(err);
	if (ops_superadmin(actor, err) < 0)
		return -1;
	if (!ops_given(in->match))
		return admin_err_set(err, 400, "match", "match: missing");
	if (!ops_given(in->nexthop))
		return admin_err_set(err, 400, "nexthop", "nexthop: missing");
	if (ops_given(in->weight) &&
	    ops_parse_u32("weight", "weight", in->weight, 1, DB_ROUTE_WEIGHT_MAX, &spec.weight, err) < 0)
		return -1;
	if (ops_given(in->priority) && ops_parse_u32("priority", "priority", in->priority, 0,
	                                             DB_ROUTE_PRIORITY_MAX, &spec.priority, err) < 0)
		return -1;
	if (in->allow_plaintext_auth != NULL && *in->allow_plaintext_auth != '\0' &&
	    admin_ops_parse_bool(in->allow_plaintext_auth, &spec.allow_plaintext_auth) < 0)
		return admin_err_set(err, 400, "allow_plaintext_auth",
		                     "allow plaintext auth: expected true or false");
	if (in->allow_unverified_tls != NULL && *in->allow_unverified_tls != '\0' &&
	    admin_ops_parse_bool(in->allow_unverified_tls, &spec.allow_unverified_tls) < 0)
		return admin_err_set(err, 400, "allow_unverified_tls",
		                     "allow unverified tls: expected true or false");
	if (ops_given(in->auth_user) != ops_given(in->auth_password))
		return admin_err_set(err, 400, ops_given(in->auth_user) ? "auth_password" : "auth_user", "%s",
		                     ops_given(in->auth_user) ? "auth password: missing for the auth user"
		                                              : "auth user: missing (a password was given)");
	spec.auth_user = ops_given(in->auth_user) ? in->auth_user : NULL;
	spec.auth_password = ops_given(in->auth_password) ? in->auth_password : NULL;
	spec.tls_level = ops_given(in->tls_level) ? in->tls_level : NULL;
	spec.description = in->description;
	spec.rate = ops_given(in->rate) ? in->rate : NULL;
	if (db_route_add_hop(ctx->db, &spec, NULL, &error) < 0)
		return ops_db_error(ctx, err, error);
	if (db_route_match_normalize(in->match, match, sizeof(match), &error) < 0)
		str_copy(match, sizeof(match), in->match);
	snprintf(detail, sizeof(detail), "nexthop=%s weight=%u priority=%u%s%s%s%s", in->nexthop,
	         spec.weight == 0 ? 1 : spec.weight, spec.priority,
	         spec.auth_user != NULL ? " auth_user=" : "", spec.auth_user != NULL ? spec.auth_user : "",
	         spec.auth_user != NULL ? " (password set)" : "",
	         spec.allow_unverified_tls ? " allow_unverified_tls" : "");
	admin_ops_audit(ctx, actor, "route.add_hop", match, NULL, detail);
	return 0;
}

int admin_op_route_set_hop(struct admin_ctx *ctx, const struct admin_actor *actor, const char *match,
                           const char *nexthop, const char *weight, const char *rate, struct admin_err *err)
{
	char detail[DB_ROUTE_NEXTHOP_MAX + 96];
	const char *error;
	uint32_t w = 0;

	ops_err_clear(err);
	if (ops_superadmin(actor, err) < 0)
		return -1;
	if (!ops_given(match) || !ops_given(nexthop))
		return admin_err_set(err, 400, ops_given(match) ? "nexthop" : "match", "%s: missing",
		                     ops_given(match) ? "nexthop" : "match");
	if (ops_given(weight) &&
	    ops_parse_u32("weight", "weight", weight, 1, DB_ROUTE_WEIGHT_MAX, &w, err) < 0)
		return -1;
	if (db_route_set_hop(ctx->db, match, nexthop, w, rate, &error) < 0)
		return ops_db_error(ctx, err, error);
	snprintf(detail, sizeof(detail), "nexthop=%s%s%s%s%s", nexthop, w > 0 ? " weight=" : "",
	         w > 0 ? weight : "", rate != NULL ? " rate=" : "", rate != NULL ? rate : "");
	admin_ops_audit(ctx, actor, "route.set_hop", match, NULL, detail);
	return 0;
}

int admin_op_route_schedule_hop(struct admin_ctx *ctx, const struct admin_actor *actor, const char *match,
                                const char *nexthop, const char *date, const char *weight,
                                struct admin_err *err)
{
	char detail[DB_ROUTE_NEXTHOP_MAX + 96];
	const char *error;
	uint32_t w = 0;

	ops_err_clear(err);
	if (ops_superadmin(actor, err) < 0)
		return -1;
	if (!ops_given(match) || !ops_given(nexthop))
		return admin_err_set(err, 400, ops_given(match) ? "nexthop" : "match", "%s: missing",
		                     ops_given(match) ? "nexthop" : "match");
	if (!ops_given(weight))
		return admin_err_set(err, 400, "schedule_weight", "schedule weight: missing");
	if (ops_parse_u32("schedule_weight", "schedule weight", weight, 0, DB_ROUTE_WEIGHT_MAX, &w, err) < 0)
		return -1;
	if (db_route_schedule_hop(ctx->db, match, nexthop, date, w, &error) < 0) {
		if (strncmp(error, "date ", 5) == 0)
			return admin_err_set(err, 400, "schedule_date", "schedule %s", error);
		return ops_db_error(ctx, err, error);
	}
	snprintf(detail, sizeof(detail), "nexthop=%s date=%s weight=%u", nexthop, date, w);
	admin_ops_audit(ctx, actor, "route.schedule_hop", match, NULL, detail);
	return 0;
}

int admin_op_route_del_hop(struct admin_ctx *ctx, const struct admin_actor *actor, const char *match,
                           const char *nexthop, struct admin_err *err)
{
	char detail[DB_ROUTE_NEXTHOP_MAX + 64];
	const char *error;
	bool route_deleted = false;

	ops_err_clear(err);
	if (ops_superadmin(actor, err) < 0)
		return -1;
	if (!ops_given(match) || !ops_given(nexthop))
		return admin_err_set(err, 400, ops_given(match) ? "nexthop" : "match", "%s: missing",
		                     ops_given(match) ? "nexthop" : "match");
	if (db_route_del_hop(ctx->db, match, nexthop, &route_deleted, &error) < 0)
		return ops_db_error(ctx, err, error);
	snprintf(detail, sizeof(detail), "nexthop=%s%s", nexthop,
	         route_deleted ? " (last hop: route deleted)" : "");
	admin_ops_audit(ctx, actor, "route.del_hop", match, NULL, detail);
	return 0;
}

int admin_op_route_del(struct admin_ctx *ctx, const struct admin_actor *actor, const char *match,
                       struct admin_err *err)
{
	const char *error;

	ops_err_clear(err);
	if (ops_superadmin(actor, err) < 0)
		return -1;
	if (!ops_given(match))
		return admin_err_set(err, 400, "match", "match: missing");
	if (db_route_del(ctx->db, match, &error) < 0)
		return ops_db_error(ctx, err, error);
	admin_ops_audit(ctx, actor, "route.delete", match, NULL, "with its next hops");
	return 0;
}

/* --- administrators --- */

int admin_op_admin_list(struct admin_ctx *ctx, const struct admin_actor *actor, struct db_admin **list_r,
                        size_t *n_r, struct admin_err *err)
{
	const char *error;

	*list_r = NULL;
	*n_r = 0;
	if (ops_superadmin(actor, err) < 0)
		return -1;
	if (db_admin_list(ctx->db, list_r, n_r, &error) < 0)
		return ops_db_error(ctx, err, error);
	return 0;
}

static void ops_role_detail(bool superadmin, const char *const *domains, size_t n, char *buf, size_t size)
{
	snprintf(buf, size, "%s", superadmin ? "superadmin" : "domain admin of:");
	for (size_t i = 0; !superadmin && i < n; i++) {
		size_t len = strlen(buf);
		snprintf(buf + len, size - len, " %s", domains[i]);
	}
}

int admin_op_admin_add(struct admin_ctx *ctx, const struct admin_actor *actor, const char *name,
                       const char *password, bool superadmin, const char *const *domains, size_t n,
                       struct admin_err *err)
{
	char norm[DB_ADMIN_NAME_MAX + 1], detail[DB_AUDIT_DETAIL_MAX + 1];
	const char *error;

	ops_err_clear(err);
	if (ops_superadmin(actor, err) < 0)
		return -1;
	if (!ops_given(name))
		return admin_err_set(err, 400, "name", "admin: missing name");
	if (password == NULL)
		return admin_err_set(err, 400, "password", "password: missing");
	if (db_admin_normalize(ctx->db, name, norm, &error) < 0 ||
	    db_admin_add(ctx->db, norm, password, superadmin, domains, n, &error) < 0)
		return ops_db_error(ctx, err, error);
	ops_role_detail(superadmin, domains, n, detail, sizeof(detail));
	admin_ops_audit(ctx, actor, "admin.add", norm, NULL, detail);
	return 0;
}

/* Would removing name's superadmin rights leave no superadmin? */
static int ops_last_superadmin(struct admin_ctx *ctx, const char *name, bool *last_r, struct admin_err *err)
{
	struct db_admin target;
	const char *error;
	int64_t count;

	*last_r = false;
	int rc = db_admin_get(ctx->db, name, &target, &error);
	if (rc < 0)
		return ops_db_error(ctx, err, error);
	if (rc > 0)
		return admin_err_set(err, 404, "name", "admin '%s': no such admin", name);
	bool super = target.superadmin && target.active;
	db_admin_clear(&target);
	if (super && db_admin_count_superadmins(ctx->db, &count, &error) < 0)
		return ops_db_error(ctx, err, error);
	*last_r = super && count <= 1;
	return 0;
}

int admin_op_admin_del(struct admin_ctx *ctx, const struct admin_actor *actor, const char *name,
                       struct admin_err *err)
{
	char norm[DB_ADMIN_NAME_MAX + 1];
	const char *error;
	bool last;

	ops_err_clear(err);
	if (ops_superadmin(actor, err) < 0)
		return -1;
	if (name == NULL || db_admin_normalize(ctx->db, name, norm, &error) < 0)
		return name == NULL ? admin_err_set(err, 400, "name", "admin: missing name")
		                    : ops_db_error(ctx, err, error);
	if (strcmp(norm, actor->admin.name) == 0)
		return admin_err_set(err, 400, "name", "admin '%s': you cannot delete yourself", norm);
	if (ops_last_superadmin(ctx, norm, &last, err) < 0)
		return -1;
	if (last)
		return admin_err_set(err, 400, "name", "admin '%s': the last superadmin stays", norm);
	if (db_admin_del(ctx->db, norm, &error) < 0)
		return ops_db_error(ctx, err, error);
	admin_ops_audit(ctx, actor, "admin.delete", norm, NULL, NULL);
	return 0;
}

int admin_op_admin_passwd(struct admin_ctx *ctx, const struct admin_actor *actor, const char *name,
                          const char *current_password, const char *password, struct admin_err *err)
{
	char norm[DB_ADMIN_NAME_MAX + 1];
	struct throttle throttle;
	struct db_admin check;
	const char *error;

	ops_err_clear(err);
	if (name == NULL || db_admin_normalize(ctx->db, name, norm, &error) < 0)
		return name == NULL ? admin_err_set(err, 400, "name", "admin: missing name")
		                    : ops_db_error(ctx, err, error);
	bool self = strcmp(norm, actor->admin.name) == 0;
	if (!self && ops_superadmin(actor, err) < 0)
		return -1;
	if (password == NULL)
		return admin_err_set(err, 400, "password", "password: missing");
	if (self) {
		/* The login throttle: a stolen session must not be a way to guess the password. */
		throttle_init(&throttle, norm, actor->client_addr);
		if (throttle_check(ctx, &throttle, err) < 0) {
			if (err->status == 429)
				log_warn("mxadmin", "client=%s password change throttled: name=%s",
				         actor->client_addr, norm);
			return -1;
		}
		int rc = db_admin_verify(ctx->db, norm, current_password != NULL ? current_password : "",
		                         &check, &error);
		if (rc < 0)
			return ops_db_error(ctx, err, error);
		if (rc > 0) {
			throttle_failed(ctx, &throttle);
			log_warn("mxadmin", "client=%s password change: current password wrong: name=%s",
			         actor->client_addr, norm);
			return admin_err_set(err, 403, "current_password", "current password: wrong");
		}
		db_admin_clear(&check);
		throttle_passed(ctx, &throttle);
	}
	if (db_admin_set_password(ctx->db, norm, password, &error) < 0)
		return ops_db_error(ctx, err, error);
	admin_ops_audit(ctx, actor, "admin.passwd", norm, NULL,
	                self ? "own password" : "reset by a superadmin");
	return 0;
}

int admin_op_admin_set_role(struct admin_ctx *ctx, const struct admin_actor *actor, const char *name,
                            bool superadmin, const char *const *domains, size_t n, struct admin_err *err)
{
	char norm[DB_ADMIN_NAME_MAX + 1], detail[DB_AUDIT_DETAIL_MAX + 1];
	const char *error;
	bool last;

	ops_err_clear(err);
	if (ops_superadmin(actor, err) < 0)
		return -1;
	if (name == NULL || db_admin_normalize(ctx->db, name, norm, &error) < 0)
		return name == NULL ? admin_err_set(err, 400, "name", "admin: missing name")
		                    : ops_db_error(ctx, err, error);
	if (!superadmin) {
		if (strcmp(norm, actor->admin.name) == 0)
			return admin_err_set(err, 400, "superadmin", "admin '%s': you cannot demote yourself",
			                     norm);
		if (ops_last_superadmin(ctx, norm, &last, err) < 0)
			return -1;
		if (last)
			return admin_err_set(err, 400, "superadmin", "admin '%s': the last superadmin stays",
			                     norm);
	}
	if (db_admin_set_role(ctx->db, norm, superadmin, domains, n, &error) < 0)
		return ops_db_error(ctx, err, error);
	ops_role_detail(superadmin, domains, n, detail, sizeof(detail));
	admin_ops_audit(ctx, actor, "admin.role", norm, NULL, detail);
	return 0;
}

/* --- audit log --- */

int admin_op_audit_list(struct admin_ctx *ctx, const struct admin_actor *actor, const char *before_id,
                        struct db_audit_entry **list_r, size_t *n_r, struct admin_err *err)
{
	const char *error;

	if (db_audit_list(ctx->db, actor->admin.superadmin ? NULL : actor->admin.name, before_id,
	                  AUDIT_LIST_MAX, list_r, n_r, &error) < 0)
		return ops_db_error(ctx, err, error);
	return 0;
}
