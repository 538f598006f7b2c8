/*
 * ops: see ops.h. This file: what every operation shares (errors, permissions, the audit row), domains,
 * aliases and alias domains. ops_queue.c has the queue, ops_admin.c routes, administrators and the
 * audit log.
 */
#include "admin/ops.h"

#include "admin/ops_private.h"
#include "mxd/common/log.h"
#include "mxd/common/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void admin_actor_clear(struct admin_actor *actor)
{
	db_admin_clear(&actor->admin);
}

int admin_err_set(struct admin_err *err, int status, const char *field, const char *fmt, ...)
{
	va_list ap;

	err->status = status;
	str_copy(err->field, sizeof(err->field), field != NULL ? field : "");
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -1;
}

/* The API field a db/ message is about: its leading words ("alias limit 5: ..." -> "alias_limit"). */
static const char *ops_field_of(const char *message)
{
	static const struct {
		const char *prefix, *field;
	} fields[] = {
	    {"destinations", "destinations"},
	    {"destination", "destinations"},
	    {"address", "address"},
	    {"alias domain", "alias_domain"},
	    {"alias limit", "alias_limit"},
	    {"hourly message limit", "hourly_message_limit"},
	    {"target domain", "target_domain"},
	    {"domain", "domain"},
	    {"description", "description"},
	    {"fallback", "fallback"},
	    {"report address", "report_address"},
	    {"rate", "rate"},
	    {"match", "match"},
	    {"nexthop", "nexthop"},
	    {"route", "nexthop"},
	    {"weight", "weight"},
	    {"priority", "priority"},
	    {"auth user", "auth_user"},
	    {"auth password", "auth_password"},
	    {"allow plaintext auth", "allow_plaintext_auth"},
	    {"allow unverified tls", "allow_unverified_tls"},
	    {"tls level", "tls_level"},
	    {"admin", "name"},
	    {"password", "password"},
	};
	for (size_t i = 0; i < MXD_ARRAY_SIZE(fields); i++) {
		size_t n = strlen(fields[i].prefix);
		if (strncmp(message, fields[i].prefix, n) == 0 &&
		    (message[n] == ' ' || message[n] == ':' || message[n] == '\0'))
			return fields[i].field;
	}
	return "";
}

int ops_db_error(struct admin_ctx *ctx, struct admin_err *err, const char *message)
{
	int status = 400;

	if (db_error_is_busy(ctx->db))
		status = 503;
	else if (strstr(message, "already exists") != NULL)
		status = 409;
	else if (strstr(message, ": no such ") != NULL || strstr(message, ": not a hosted domain") != NULL)
		status = 404;
	return admin_err_set(err, status, ops_field_of(message), "%s", message);
}

void ops_err_clear(struct admin_err *err)
{
	memset(err, 0, sizeof(*err));
}

void admin_ops_audit(struct admin_ctx *ctx, const struct admin_actor *actor, const char *action,
                     const char *object, const char *domain, const char *detail)
{
	const char *error;

	log_info("mxadmin", "admin=%s client=%s%s action=%s object=%s%s%s", actor->admin.name,
	         actor->client_addr, actor->via_api ? " api" : "", action, object,
	         detail != NULL && *detail != '\0' ? " detail=" : "", detail != NULL ? detail : "");
	if (db_audit_add(ctx->db, actor->admin.name, actor->client_addr, action, object, domain, detail,
	                 &error) < 0)
		log_warn("mxadmin", "audit log: %s (action=%s object=%s)", error, action, object);
}

int ops_superadmin(const struct admin_actor *actor, struct admin_err *err)
{
	if (actor->admin.superadmin)
		return 0;
	return admin_err_set(err, 403, "", "not allowed: this needs a superadmin");
}

/* Normalize domain (400) and check that the actor manages it (403, whether or not it exists). */
int ops_domain_allowed(struct admin_ctx *ctx, const struct admin_actor *actor, const char *field,
                       const char *domain, char out[ADDR_DOMAIN_MAX + 1], struct admin_err *err)
{
	const char *error;

	if (domain == NULL || *domain == '\0')
		return admin_err_set(err, 400, field, "%s: missing", field);
	if (db_domain_normalize(ctx->db, "domain", domain, out, &error) < 0)
		return admin_err_set(err, 400, field, "%s", error);
	if (!db_admin_manages(&actor->admin, out))
		return admin_err_set(err, 403, field, "domain '%s': not one of your domains", out);
	return 0;
}

bool admin_ops_alias_protected(const char *address)
{
	static const char *const protected_locals[] = {"postmaster@", "abuse@"};
	for (size_t i = 0; i < MXD_ARRAY_SIZE(protected_locals); i++) {
		if (str_has_prefix_ci(address, protected_locals[i]))
			return true;
	}
	return false;
}

int admin_ops_parse_bool(const char *text, bool *value_r)
{
	static const char *const yes[] = {"1", "true", "yes", "on"}, *const no[] = {"0", "false", "no",
	                                                                            "off"};
	for (size_t i = 0; text != NULL && i < MXD_ARRAY_SIZE(yes); i++) {
		if (strcasecmp(text, yes[i]) == 0) {
			*value_r = true;
			return 0;
		}
		if (strcasecmp(text, no[i]) == 0) {
			*value_r = false;
			return 0;
		}
	}
	return -1;
}

int ops_parse_u32(const char *field, const char *label, const char *text, uint32_t min, uint32_t max,
                  uint32_t *value_r, struct admin_err *err)
{
	uint64_t v;

	if (str_to_u64(text, &v) < 0 || v < min || v > max)
		return admin_err_set(err, 400, field, "%s '%s': expected a number from %u to %u", label, text,
		                     min, max);
	*value_r = (uint32_t)v;
	return 0;
}

/* --- domains --- */

int admin_op_domain_list(struct admin_ctx *ctx, const struct admin_actor *actor, struct db_domain **list_r,
                         size_t *n_r, struct admin_err *err)
{
	const char *error;
	size_t n, kept = 0;

	if (db_domain_list(ctx->db, list_r, &n, &error) < 0)
		return ops_db_error(ctx, err, error);
	for (size_t i = 0; i < n; i++) {
		if (db_admin_manages(&actor->admin, (*list_r)[i].name))
			(*list_r)[kept++] = (*list_r)[i];
	}
	*n_r = kept;
	return 0;
}

int admin_op_domain_get(struct admin_ctx *ctx, const struct admin_actor *actor, const char *name,
                        struct db_domain *domain_r, struct admin_err *err)
{
	char domain[ADDR_DOMAIN_MAX + 1];
	const char *error;

	if (ops_domain_allowed(ctx, actor, "domain", name, domain, err) < 0)
		return -1;
	int rc = db_domain_get(ctx->db, domain, domain_r, &error);
	if (rc < 0)
		return ops_db_error(ctx, err, error);
	if (rc > 0)
		return admin_err_set(err, 404, "domain", "domain '%s': not a hosted domain", domain);
	return 0;
}

static int ops_alias_limit(const char *text, uint32_t *limit_r, struct admin_err *err)
{
	*limit_r = 0;
	if (text == NULL || *text == '\0')
		return 0;
	return ops_parse_u32("alias_limit", "alias limit", text, 0, DB_ALIAS_LIMIT_MAX, limit_r, err);
}

int admin_op_domain_add(struct admin_ctx *ctx, const struct admin_actor *actor, const char *name,
                        const char *description, const char *alias_limit, struct admin_err *err)
{
	char domain[ADDR_DOMAIN_MAX + 1], detail[400];
	const char *error;
	uint32_t limit;

	ops_err_clear(err);
	if (ops_superadmin(actor, err) < 0 || ops_alias_limit(alias_limit, &limit, err) < 0)
		return -1;
	if (name == NULL || *name == '\0')
		return admin_err_set(err, 400, "domain", "domain: missing");
	if (db_domain_normalize(ctx->db, "domain", name, domain, &error) < 0 ||
	    db_domain_add(ctx->db, domain, description, limit, &error) < 0)
		return ops_db_error(ctx, err, error);
	snprintf(detail, sizeof(detail), "alias_limit=%u description=%s", limit,
	         description != NULL ? description : "");
	admin_ops_audit(ctx, actor, "domain.add", domain, domain, detail);
	return 0;
}

int admin_op_domain_update(struct admin_ctx *ctx, const struct admin_actor *actor, const char *name,
                           const char *description, const char *alias_limit, struct admin_err *err)
{
	return admin_op_domain_change(ctx, actor, name, description, alias_limit, -1, err);
}

int admin_op_domain_set_report(struct admin_ctx *ctx, const struct admin_actor *actor, const char *name,
                               const char *address, struct admin_err *err)
{
	char domain[ADDR_DOMAIN_MAX + 1];
	const char *error;

	ops_err_clear(err);
	if (ops_domain_allowed(ctx, actor, "domain", name, domain, err) < 0)
		return -1;
	if (db_domain_set_report_address(ctx->db, domain, address, &error) < 0)
		return ops_db_error(ctx, err, error);
	admin_ops_audit(ctx, actor, "domain.report", domain, domain,
	                address != NULL && address[0] != '\0' ? address : "none");
	return 0;
}

int admin_op_domain_change(struct admin_ctx *ctx, const struct admin_actor *actor, const char *name,
                           const char *description, const char *alias_limit, int active,
                           struct admin_err *err)
{
	char domain[ADDR_DOMAIN_MAX + 1], detail[400];
	const char *error;
	uint32_t limit = 0;

	ops_err_clear(err);
	if (ops_domain_allowed(ctx, actor, "domain", name, domain, err) < 0)
		return -1;
	if (alias_limit != NULL && !actor->admin.superadmin)
		return admin_err_set(err, 403, "alias_limit", "alias limit: only a superadmin can change it");
	if (alias_limit != NULL && ops_alias_limit(alias_limit, &limit, err) < 0)
		return -1;
	if (active >= 0 && !actor->admin.superadmin)
		return admin_err_set(err, 403, "active",
		                     "active: only a superadmin can enable or disable a domain");
	if (db_domain_change(ctx->db, domain, description, alias_limit != NULL ? (int64_t)limit : -1, active,
	                     &error) < 0)
		return ops_db_error(ctx, err, error);
	if (description != NULL || alias_limit != NULL) {
		snprintf(detail, sizeof(detail), "%s%s%s%s", description != NULL ? "description=" : "",
		         description != NULL ? description : "", alias_limit != NULL ? " alias_limit=" : "",
		         alias_limit != NULL ? alias_limit : "");
		admin_ops_audit(ctx, actor, "domain.update", domain, domain, detail);
	}
	if (active >= 0)
		admin_ops_audit(ctx, actor, active ? "domain.enable" : "domain.disable", domain, domain,
		                NULL);
	return 0;
}

int admin_op_domain_set_hourly_limit(struct admin_ctx *ctx, const struct admin_actor *actor, const char *name,
                                     const char *text, bool check_only, struct admin_err *err)
{
	char domain[ADDR_DOMAIN_MAX + 1];
	const char *error;
	uint32_t limit = 0;

	ops_err_clear(err);
	if (ops_domain_allowed(ctx, actor, "domain", name, domain, err) < 0)
		return -1;
	if (!actor->admin.superadmin)
		return admin_err_set(err, 403, "hourly_message_limit",
		                     "hourly message limit: only a superadmin can change it");
	if (text == NULL || *text == '\0')
		text = "0";
	if (ops_parse_u32("hourly_message_limit", "hourly message limit", text, 0, DB_HOURLY_LIMIT_MAX,
	                  &limit, err) < 0)
		return -1;
	if (check_only)
		return 0;
	if (db_domain_set_hourly_limit(ctx->db, domain, limit, &error) < 0)
		return ops_db_error(ctx, err, error);
	char detail[64];
	snprintf(detail, sizeof(detail), "hourly_message_limit=%u", limit);
	admin_ops_audit(ctx, actor, "domain.update", domain, domain, detail);
	return 0;
}

const char *admin_from_rewrite_str(int value)
{
	return value < 0 ? "default" : value ? "yes" : "no";
}

int admin_op_domain_set_from_rewrite(struct admin_ctx *ctx, const struct admin_actor *actor, const char *name,
                                     const char *value, struct admin_err *err)
{
	char domain[ADDR_DOMAIN_MAX + 1], detail[64];
	const char *error;

	ops_err_clear(err);
	if (ops_superadmin(actor, err) < 0 || ops_domain_allowed(ctx, actor, "domain", name, domain, err) < 0)
		return -1;
	int v = value == NULL                   ? -2
	        : strcmp(value, "yes") == 0     ? 1
	        : strcmp(value, "no") == 0      ? 0
	        : strcmp(value, "default") == 0 ? -1
	                                        : -2;
	if (v == -2)
		return admin_err_set(err, 400, "dmarc_from_rewrite",
		                     "dmarc_from_rewrite: expected yes, no or default");
	if (db_domain_set_dmarc_from_rewrite(ctx->db, domain, v, &error) < 0)
		return ops_db_error(ctx, err, error);
	snprintf(detail, sizeof(detail), "dmarc_from_rewrite=%s", value);
	admin_ops_audit(ctx, actor, "domain.update", domain, domain, detail);
	return 0;
}

int admin_op_domain_set_active(struct admin_ctx *ctx, const struct admin_actor *actor, const char *name,
                               bool active, struct admin_err *err)
{
	char domain[ADDR_DOMAIN_MAX + 1];
	const char *error;

	ops_err_clear(err);
	if (ops_superadmin(actor, err) < 0 || ops_domain_allowed(ctx, actor, "domain", name, domain, err) < 0)
		return -1;
	if (db_domain_set_active(ctx->db, domain, active, &error) < 0)
		return ops_db_error(ctx, err, error);
	admin_ops_audit(ctx, actor, active ? "domain.enable" : "domain.disable", domain, domain, NULL);
	return 0;
}

int admin_op_domain_del(struct admin_ctx *ctx, const struct admin_actor *actor, const char *name,
                        struct admin_err *err)
{
	char domain[ADDR_DOMAIN_MAX + 1];
	const char *error;

	ops_err_clear(err);
	if (ops_superadmin(actor, err) < 0 || ops_domain_allowed(ctx, actor, "domain", name, domain, err) < 0)
		return -1;
	if (db_domain_del(ctx->db, domain, &error) < 0)
		return ops_db_error(ctx, err, error);
	admin_ops_audit(ctx, actor, "domain.delete", domain, domain, "with its aliases and alias domains");
	return 0;
}

/* --- aliases --- */

/* Normalize an existing alias's address (400) and check the actor manages its domain (403). */
static int ops_alias_allowed(struct admin_ctx *ctx, const struct admin_actor *actor, const char *address,
                             char out[ADDR_MAX + 1], struct admin_err *err)
{
	char domain[ADDR_DOMAIN_MAX + 1];
	const char *error;

	if (address == NULL || *address == '\0')
		return admin_err_set(err, 400, "address", "address: missing");
	if (db_alias_normalize(ctx->db, address, out, &error) < 0)
		return ops_db_error(ctx, err, error);
	const char *at = strrchr(out, '@');
	return ops_domain_allowed(ctx, actor, "address", at + 1, domain, err);
}

int admin_op_alias_list(struct admin_ctx *ctx, const struct admin_actor *actor, const char *domain,
                        const char *query, struct db_alias **list_r, size_t *n_r, struct admin_err *err)
{
	char norm[ADDR_DOMAIN_MAX + 1];
	const char *error;
	size_t n, kept = 0;

	if (ops_domain_allowed(ctx, actor, "domain", domain, norm, err) < 0)
		return -1;
	if (db_alias_list(ctx->db, norm, list_r, &n, &error) < 0)
		return ops_db_error(ctx, err, error);
	for (size_t i = 0; i < n; i++) {
		struct db_alias *a = &(*list_r)[i];
		bool match = query == NULL || *query == '\0' || strcasestr(a->address, query) != NULL;
		for (size_t j = 0; !match && j < a->ndestinations; j++)
			match = strcasestr(a->destinations[j], query) != NULL;
		if (match)
			(*list_r)[kept++] = *a;
		else
			db_alias_clear(a);
	}
	*n_r = kept;
	return 0;
}

int admin_op_alias_get(struct admin_ctx *ctx, const struct admin_actor *actor, const char *address,
                       struct db_alias *alias_r, struct admin_err *err)
{
	char norm[ADDR_MAX + 1];
	const char *error;

	if (ops_alias_allowed(ctx, actor, address, norm, err) < 0)
		return -1;
	int rc = db_alias_get(ctx->db, norm, alias_r, &error);
	if (rc < 0)
		return ops_db_error(ctx, err, error);
	if (rc > 0)
		return admin_err_set(err, 404, "address", "address '%s': no such alias", norm);
	return 0;
}

const char **admin_ops_split(const char *const *texts, size_t ntexts, size_t max, char **storage_r,
                             size_t *n_r)
{
	size_t total = 1;
	for (size_t i = 0; i < ntexts; i++)
		total += strlen(texts[i]) + 1;
	char *storage = xmalloc(total), *p = storage;
	const char **list = xcalloc(max + 1, sizeof(char *));
	size_t n = 0;
	for (size_t i = 0; i < ntexts; i++) {
		const char *t = texts[i];
		for (;;) {
			t += strspn(t, ", \t\r\n");
			size_t len = strcspn(t, ", \t\r\n");
			if (len == 0)
				break;
			if (n < max) {
				memcpy(p, t, len);
				p[len] = '\0';
				list[n++] = p;
				p += len + 1;
			}
			t += len;
		}
	}
	*storage_r = storage;
	*n_r = n;
	return list;
}

static void ops_join_dests(const char *const *dests, size_t n, char *buf, size_t size)
{
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(buf);
		snprintf(buf + len, size - len, "%s%s", i > 0 ? ", " : "-> ", dests[i]);
	}
}

/* The full alias address for "local", "local@domain", "@domain", "@" or "*" in domain. */
static int ops_alias_address(struct admin_ctx *ctx, const char *domain, const char *address,
                             char out[ADDR_MAX + 1], struct admin_err *err)
{
	char full[ADDR_MAX + ADDR_DOMAIN_MAX + 8];
	const char *error;

	if (address == NULL || *address == '\0')
		return admin_err_set(err, 400, "address", "address: missing (use @ for the catch-all)");
	if (strcmp(address, "*") == 0 || strcmp(address, "@") == 0)
		snprintf(full, sizeof(full), "@%s", domain);
	else if (strchr(address, '@') == NULL)
		snprintf(full, sizeof(full), "%s@%s", address, domain);
	else
		str_copy(full, sizeof(full), address);
	if (db_alias_normalize(ctx->db, full, out, &error) < 0)
		return ops_db_error(ctx, err, error);
	if (strcmp(strrchr(out, '@') + 1, domain) != 0)
		return admin_err_set(err, 400, "address", "address '%s': not in domain '%s'", out, domain);
	return 0;
}

int admin_op_alias_add(struct admin_ctx *ctx, const struct admin_actor *actor, const char *domain,
                       const char *address, const char *const *dests, size_t ndests, struct admin_err *err)
{
	char dom[ADDR_DOMAIN_MAX + 1], norm[ADDR_MAX + 1], detail[DB_AUDIT_DETAIL_MAX + 1], *storage;
	const char *error;
	size_t n;

	ops_err_clear(err);
	if (ops_domain_allowed(ctx, actor, "domain", domain, dom, err) < 0 ||
	    ops_alias_address(ctx, dom, address, norm, err) < 0)
		return -1;
	const char **list = admin_ops_split(dests, ndests, DB_ALIAS_DESTINATIONS_MAX + 1, &storage, &n);
	int ret = db_alias_add(ctx->db, norm, list, n, 0, &error);
	if (ret < 0) {
		ops_db_error(ctx, err, error);
	} else {
		ops_join_dests(list, n, detail, sizeof(detail));
		admin_ops_audit(ctx, actor, "alias.add", norm, dom, detail);
	}
	free(list);
	free(storage);
	return ret;
}

int admin_op_alias_update(struct admin_ctx *ctx, const struct admin_actor *actor, const char *address,
                          const char *const *dests, size_t ndests, struct admin_err *err)
{
	static const char *const none[] = {NULL};
	/* given but empty: db_alias_change() says what is missing */
	return admin_op_alias_change(ctx, actor, address, dests != NULL ? dests : none, ndests, -1, err);
}

/* Domain admins may not disable or delete a protected alias; superadmins are warned. */
static int ops_alias_protect(const struct admin_actor *actor, const char *address, const char *what,
                             struct admin_err *err)
{
	if (!admin_ops_alias_protected(address))
		return 0;
	if (!actor->admin.superadmin)
		return admin_err_set(
		    err, 403, "address",
		    "address '%s': protected (postmaster@ and abuse@ must reach someone, RFC "
		    "5321 and RFC 2142): only a superadmin can %s it",
		    address, what);
	snprintf(
	    err->warning, sizeof(err->warning),
	    "Warning: %s is a protected address (RFC 5321, RFC 2142); mail to it is now refused unless a "
	    "catch-all takes it.",
	    address);
	return 0;
}

int admin_op_alias_change(struct admin_ctx *ctx, const struct admin_actor *actor, const char *address,
                          const char *const *dests, size_t ndests, int active, struct admin_err *err)
{
	char norm[ADDR_MAX + 1], detail[DB_AUDIT_DETAIL_MAX + 1], *storage = NULL;
	const char **list = NULL;
	struct db_alias alias;
	const char *error;
	size_t n = 0;

	ops_err_clear(err);
	if (admin_op_alias_get(ctx, actor, address, &alias, err) < 0)
		return -1;
	str_copy(norm, sizeof(norm), alias.address);
	db_alias_clear(&alias);
	if (active == 0 && ops_alias_protect(actor, norm, "disable", err) < 0)
		return -1;
	if (dests != NULL)
		list = admin_ops_split(dests, ndests, DB_ALIAS_DESTINATIONS_MAX + 1, &storage, &n);
	int ret = db_alias_change(ctx->db, norm, list, n, active, &error);
	if (ret < 0) {
		err->warning[0] = '\0';
		ops_db_error(ctx, err, error);
	} else {
		if (list != NULL) {
			ops_join_dests(list, n, detail, sizeof(detail));
			admin_ops_audit(ctx, actor, "alias.update", norm, strrchr(norm, '@') + 1, detail);
		}
		if (active >= 0)
			admin_ops_audit(ctx, actor, active ? "alias.enable" : "alias.disable", norm,
			                strrchr(norm, '@') + 1,
			                err->warning[0] != '\0' ? "protected address" : NULL);
	}
	free(list);
	free(storage);
	return ret;
}

int admin_op_alias_set_fallback(struct admin_ctx *ctx, const struct admin_actor *actor, const char *address,
                                const char *fallback, struct admin_err *err)
{
	char norm[ADDR_MAX + 1];
	const char *error;

	ops_err_clear(err);
	if (ops_alias_allowed(ctx, actor, address, norm, err) < 0)
		return -1;
	if (db_alias_set_fallback(ctx->db, norm, fallback, &error) < 0)
		return ops_db_error(ctx, err, error);
	admin_ops_audit(ctx, actor, "alias.fallback", norm, strrchr(norm, '@') + 1,
	                fallback != NULL && fallback[0] != '\0' ? fallback : "none");
	return 0;
}

int admin_op_alias_set_active(struct admin_ctx *ctx, const struct admin_actor *actor, const char *address,
                              bool active, struct admin_err *err)
{
	char norm[ADDR_MAX + 1];
	const char *error;

	ops_err_clear(err);
	if (ops_alias_allowed(ctx, actor, address, norm, err) < 0 ||
	    (!active && ops_alias_protect(actor, norm, "disable", err) < 0))
		return -1;
	if (db_alias_set_active(ctx->db, norm, active, &error) < 0) {
		err->warning[0] = '\0';
		return ops_db_error(ctx, err, error);
	}
	admin_ops_audit(ctx, actor, active ? "alias.enable" : "alias.disable", norm, strrchr(norm, '@') + 1,
	                err->warning[0] != '\0' ? "protected address" : NULL);
	return 0;
}

int admin_op_alias_del(struct admin_ctx *ctx, const struct admin_actor *actor, const char *address,
                       struct admin_err *err)
{
	char norm[ADDR_MAX + 1];
	const char *error;

	ops_err_clear(err);
	if (ops_alias_allowed(ctx, actor, address, norm, err) < 0 ||
	    ops_alias_protect(actor, norm, "delete", err) < 0)
		return -1;
	if (db_alias_del(ctx->db, norm, &error) < 0) {
		err->warning[0] = '\0';
		return ops_db_error(ctx, err, error);
	}
	admin_ops_audit(ctx, actor, "alias.delete", norm, strrchr(norm, '@') + 1,
	                err->warning[0] != '\0' ? "protected address" : NULL);
	return 0;
}

/* --- alias domains --- */

int admin_op_aliasdomain_list(struct admin_ctx *ctx, const struct admin_actor *actor,
                              struct db_alias_domain **list_r, size_t *n_r, struct admin_err *err)
{
	const char *error;
	size_t n, kept = 0;

	if (db_alias_domain_list(ctx->db, list_r, &n, &error) < 0)
		return ops_db_error(ctx, err, error);
	for (size_t i = 0; i < n; i++) {
		if (db_admin_manages(&actor->admin, (*list_r)[i].target_domain))
			(*list_r)[kept++] = (*list_r)[i];
	}
	*n_r = kept;
	return 0;
}

int admin_op_aliasdomain_add(struct admin_ctx *ctx, const struct admin_actor *actor, const char *alias_domain,
                             const char *target_domain, struct admin_err *err)
{
	char alias[ADDR_DOMAIN_MAX + 1], target[ADDR_DOMAIN_MAX + 1], detail[ADDR_DOMAIN_MAX + 8];
	const char *error;

	ops_err_clear(err);
	if (ops_superadmin(actor, err) < 0)
		return -1;
	if (alias_domain == NULL || *alias_domain == '\0')
		return admin_err_set(err, 400, "alias_domain", "alias domain: missing");
	if (target_domain == NULL || *target_domain == '\0')
		return admin_err_set(err, 400, "target_domain", "target domain: missing");
	if (db_domain_normalize(ctx->db, "alias domain", alias_domain, alias, &error) < 0 ||
	    db_domain_normalize(ctx->db, "target domain", target_domain, target, &error) < 0 ||
	    db_alias_domain_add(ctx->db, alias, target, &error) < 0)
		return ops_db_error(ctx, err, error);
	snprintf(detail, sizeof(detail), "-> %s", target);
	admin_ops_audit(ctx, actor, "aliasdomain.add", alias, target, detail);
	return 0;
}

/* The target of an alias domain (for the audit row); "" when unknown. */
static void ops_aliasdomain_target(struct admin_ctx *ctx, const char *alias, char target[ADDR_DOMAIN_MAX + 1])
{
	struct db_alias_domain ad;
	const char *error;

	target[0] = '\0';
	if (db_alias_domain_get(ctx->db, alias, &ad, &error) == 0)
		str_copy(target, ADDR_DOMAIN_MAX + 1, ad.target_domain);
}

int admin_op_aliasdomain_set_active(struct admin_ctx *ctx, const struct admin_actor *actor,
                                    const char *alias_domain, bool active, struct admin_err *err)
{
	char alias[ADDR_DOMAIN_MAX + 1], target[ADDR_DOMAIN_MAX + 1];
	const char *error;

	ops_err_clear(err);
	if (ops_superadmin(actor, err) < 0)
		return -1;
	if (alias_domain == NULL ||
	    db_domain_normalize(ctx->db, "alias domain", alias_domain, alias, &error) < 0 ||
	    db_alias_domain_set_active(ctx->db, alias, active, &error) < 0)
		return alias_domain == NULL ? admin_err_set(err, 400, "alias_domain", "alias domain: missing")
		                            : ops_db_error(ctx, err, error);
	ops_aliasdomain_target(ctx, alias, target);
	admin_ops_audit(ctx, actor, active ? "aliasdomain.enable" : "aliasdomain.disable", alias, target,
	                NULL);
	return 0;
}

int admin_op_aliasdomain_del(struct admin_ctx *ctx, const struct admin_actor *actor, const char *alias_domain,
                             struct admin_err *err)
{
	char alias[ADDR_DOMAIN_MAX + 1], target[ADDR_DOMAIN_MAX + 1];
	const char *error;

	ops_err_clear(err);
	if (ops_superadmin(actor, err) < 0)
		return -1;
	if (alias_domain == NULL)
		return admin_err_set(err, 400, "alias_domain", "alias domain: missing");
	if (db_domain_normalize(ctx->db, "alias domain", alias_domain, alias, &error) < 0)
		return ops_db_error(ctx, err, error);
	ops_aliasdomain_target(ctx, alias, target);
	if (db_alias_domain_del(ctx->db, alias, &error) < 0)
		return ops_db_error(ctx, err, error);
	admin_ops_audit(ctx, actor, "aliasdomain.delete", alias, target, NULL);
	return 0;
}
