/*
 * throttle: the limit on password guesses, for the login form and for the current-password check of a
 * password change (a stolen session must not be a way to guess the password). Both count the same
 * failures, with admin_login_failure_limit and admin_login_failure_window, in db/admin_session.h's
 * table under three keys:
 *
 *   "client:ADDRESS"                every failure from this client (IPv6: its /64), whatever the account
 *   "account:NAME from:ADDRESS"     the failures of this client on this account
 *   "account:NAME"                  every failure on this account, from anywhere
 *
 * A client is refused (429) while its own failures are at the limit, and while the account's are at the
 * limit if it has failed on this account itself. So failures from other addresses never lock out a
 * client that has not failed (the owner still logs in while someone guesses elsewhere); they cut every
 * failing address's allowance on that account to one try. A success clears the client's failures on
 * the account, not the account-wide count (an attacker who also knows one password cannot reset it).
 *
 * Runs in mxadmin's request thread. Failing to record a failure is a warning (the database is busy),
 * never a reason to let a guess through unchecked: throttle_check() fails closed with 503.
 */
#ifndef MXD_ADMIN_THROTTLE_H
#define MXD_ADMIN_THROTTLE_H

#include "admin/ops.h"

struct throttle {
	char client[NETADDR_STR_MAX + 16];
	char pair[DB_ADMIN_NAME_MAX + NETADDR_STR_MAX + 32];
	char account[DB_ADMIN_NAME_MAX + 16];
};

/* The keys for attempts on account (a normalized name) from client_addr (netaddr_str() text). */
void throttle_init(struct throttle *t, const char *account, const char *client_addr);

/* May this client try a password now? 0 yes; -1 with err 429 (err->retry_after: seconds) or 503. */
int throttle_check(struct admin_ctx *ctx, const struct throttle *t, struct admin_err *err);

/* Count a wrong password. */
void throttle_failed(struct admin_ctx *ctx, const struct throttle *t);

/* A right password: forget this client's failures on the account. */
void throttle_passed(struct admin_ctx *ctx, const struct throttle *t);

#endif
