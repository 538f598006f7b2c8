/*
 * throttle: see throttle.h.
 */
#include "admin/throttle.h"

#include "db/admin_session.h"
#include "mxd/common/log.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

void throttle_init(struct throttle *t, const char *account, const char *client_addr)
{
	struct in6_addr a6;
	char prefix[INET6_ADDRSTRLEN];

	/* One host has a whole /64 to itself: count the /64. (netaddr_str() writes mapped IPv4 as IPv4.) */
	if (strchr(client_addr, ':') != NULL && inet_pton(AF_INET6, client_addr, &a6) == 1) {
		memset(a6.s6_addr + 8, 0, 8);
		inet_ntop(AF_INET6, &a6, prefix, sizeof(prefix));
		snprintf(t->client, sizeof(t->client), "client:%s/64", prefix);
	} else {
		snprintf(t->client, sizeof(t->client), "client:%s", client_addr);
	}
	snprintf(t->account, sizeof(t->account), "account:%s", account);
	snprintf(t->pair, sizeof(t->pair), "account:%s from:%s", account, t->client + strlen("client:"));
}

int throttle_check(struct admin_ctx *ctx, const struct throttle *t, struct admin_err *err)
{
	const struct mxd_config *cfg = ctx->cfg;
	int64_t limit = cfg->admin_login_failure_limit, window = cfg->admin_login_failure_window;
	int64_t wait_client, wait_account, wait_pair, wait;
	const char *error;

	int c = db_admin_login_throttled(ctx->db, t->client, limit, window, &wait_client, &error);
	int a =
	    c < 0 ? -1 : db_admin_login_throttled(ctx->db, t->account, limit, window, &wait_account, &error);
	/* Has this client failed on this account itself (one failure within the window)? */
	int p = a <= 0 ? a : db_admin_login_throttled(ctx->db, t->pair, 1, window, &wait_pair, &error);
	if (c < 0 || a < 0 || p < 0)
		return admin_err_set(err, 503, "", "%s", error);
	if (c == 0 && p == 0)
		return 0;
	if (c > 0)
		wait = wait_client;
	else /* refused until the account's failures or this client's own ones have aged out */
		wait = wait_account < wait_pair ? wait_account : wait_pair;
	err->retry_after = wait > 0 ? wait : 1;
	return admin_err_set(err, 429, "", "Too many failed logins: try again in %lld seconds.",
	                     (long long)err->retry_after);
}

void throttle_failed(struct admin_ctx *ctx, const struct throttle *t)
{
	int64_t window = ctx->cfg->admin_login_failure_window;
	const char *error;

	if (db_admin_login_failed(ctx->db, t->client, window, &error) < 0 ||
	    db_admin_login_failed(ctx->db, t->pair, window, &error) < 0 ||
	    db_admin_login_failed(ctx->db, t->account, window, &error) < 0)
		log_warn("mxadmin", "login throttle: %s", error);
}

void throttle_passed(struct admin_ctx *ctx, const struct throttle *t)
{
	const char *error;

	if (db_admin_login_clear(ctx->db, t->pair, &error) < 0)
		log_warn("mxadmin", "login throttle: %s", error);
}
