/*
 * policy: decides whether a recipient is accepted: the tables (via db_resolve), mynetworks, and the
 * relay rules. The SMTP engine hands it a parsed path and gets back an accept or a complete reply.
 * Never an open relay: a domain we do not host is accepted only from mynetworks; relay tricks
 * (source routes, '%', '!', quoted '@', address literals) are refused for everyone. A table that cannot
 * be read gives 451 4.3.0, never 550. Runs in the event-loop thread; owns its struct db.
 */
#ifndef MXD_POLICY_H
#define MXD_POLICY_H

#include "mxd/expand.h"
#include "mxd/smtp_parse.h"

#include <stdbool.h>

struct db;
struct sockaddr;
struct mxd_config;
struct policy;

struct smtp_reply {
	int code;
	const char *enh;
	char text[400];
};

/* policy_new keeps cfg (not owned) and takes db. 0 or -1 with *error_r. */
int policy_new(const struct mxd_config *cfg, struct db *db, struct policy **policy_r, const char **error_r);
void policy_free(struct policy **policy);

/* Is the client address in mynetworks or trusted_peers (our other MX hosts)? */
bool policy_client_trusted(const struct policy *policy, const struct sockaddr *client);

/* Decide rcpt. Returns 0 to accept, with *exp holding its final destinations (alias chains followed
 * on the primary; on a secondary the address itself, as the primary expands it), or -1 to refuse with
 * *reply filled ("<addr>: Recipient address rejected: ..." texts as Postfix words them, so log tools
 * keep working). Free *exp with expansion_clear(). */
int policy_check_rcpt(struct policy *policy, const struct smtp_path *rcpt, bool client_trusted,
		      struct smtp_reply *reply, struct expansion *exp);

#endif
