/* policy: see policy.h. */
#include "mxd/smtpd/policy.h"

#include "db/domain.h"
#include "db/resolve.h"
#include "mxd/common/config.h"
#include "mxd/common/log.h"
#include "mxd/common/netaddr.h"
#include "mxd/smtpd/dnsbl.h"
#include "mxd/smtpd/spf.h"
#include "mxd/rewrite/srs.h"
#include "mxd/common/util.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct policy {
	const struct mxd_config *cfg;
	struct db *db;
	struct cidr_list *mynetworks;
	struct cidr_list *trusted_peers;
	bool secondary;
	int64_t replica_checked; /* when last_sync was last read (at most once a second) */
	int64_t replica_last_sync;
	struct srs *srs;           /* NULL: SRS off */
	struct spf *spf;           /* not owned; NULL: no SPF checks */
	struct dnsbl_sites *dnsbl; /* postscreen_dnsbl_sites (one reference) */
	char **arc_trusted;        /* arc_trusted_sealers */
};

int policy_new(const struct mxd_config *cfg, struct db *db, struct policy **policy_r, const char **error_r)
{
	static __thread char err[512];
	struct policy *p = xcalloc(1, sizeof(*p));
	const char *setting = NULL, *error;
	if (cidr_list_parse(cfg->mynetworks, &p->mynetworks, &error) < 0)
		setting = "mynetworks: ";
	else if (cidr_list_parse(cfg->trusted_peers, &p->trusted_peers, &error) < 0)
		setting = "trusted_peers: ";
	else if (srs_new(cfg->srs_domain, cfg->srs_secret_file, cfg->srs_exclude_domains, &p->srs, &error) <
	         0)
		setting = ""; /* its errors name the setting */
	else if (dnsbl_sites_parse(cfg->postscreen_dnsbl_sites, &p->dnsbl, &error) < 0)
		setting = "";
	if (setting != NULL) {
		snprintf(err, sizeof(err), "%s%s", setting, error);
		*error_r = err;
		cidr_list_free(&p->mynetworks);
		cidr_list_free(&p->trusted_peers);
		srs_free(&p->srs);
		free(p);
		return -1;
	}
	size_t n;
	p->arc_trusted = config_list(cfg->arc_trusted_sealers, &n);
	p->secondary = strcmp(cfg->role, "secondary") == 0;
	p->cfg = cfg;
	p->db = db;
	*policy_r = p;
	return 0;
}

void policy_free(struct policy **policyp)
{
	struct policy *p = *policyp;
	if (p == NULL)
		return;
	cidr_list_free(&p->mynetworks);
	cidr_list_free(&p->trusted_peers);
	srs_free(&p->srs);
	dnsbl_sites_unref(&p->dnsbl);
	config_list_free(&p->arc_trusted);
	db_close(&p->db);
	free(p);
	*policyp = NULL;
}

bool policy_client_trusted(const struct policy *policy, const struct sockaddr *client)
{
	return cidr_list_match(policy->mynetworks, client) || cidr_list_match(policy->trusted_peers, client);
}

uint32_t policy_domain_hourly_limit(struct policy *policy, const char *domain)
{
	char lower[ADDR_DOMAIN_MAX + 1];
	uint32_t limit = 0;
	const char *error;
	str_copy(lower, sizeof(lower), domain);
	str_lower(lower);
	if (db_domain_hourly_limit(policy->db, lower, &limit, &error) < 0) {
		log_warn("smtpd", "hourly message limit of %s: %s", lower, error);
		return 0;
	}
	return limit;
}

struct dnsbl_sites *policy_dnsbl_sites(const struct policy *policy)
{
	return policy->dnsbl;
}

bool policy_arc_trusted_sealer(const struct policy *policy, const char *domain)
{
	for (size_t i = 0; policy->arc_trusted != NULL && policy->arc_trusted[i] != NULL; i++)
		if (strcasecmp(policy->arc_trusted[i], domain) == 0)
			return true;
	return false;
}

bool policy_dmarc_from_rewrite(struct policy *policy, const char *rcpt)
{
	const char *at = strrchr(rcpt, '@'), *error;
	bool value = policy->cfg->dmarc_from_rewrite;
	if (at != NULL && db_domain_dmarc_from_rewrite(policy->db, at + 1, value, &value, &error) < 0) {
		log_warn("smtpd", "dmarc_from_rewrite of %s: %s", at + 1, error);
		value = policy->cfg->dmarc_from_rewrite;
	}
	return value;
}

/* On a secondary: is the replica of the tables older than replica_max_age? Reads the sync client's
 * last_sync from sync_state at most once a second; a replica that never synced is stale. */
static bool replica_stale(struct policy *policy)
{
	int64_t now = time_now();
	if (!policy->secondary)
		return false;
	if (now != policy->replica_checked) {
		sqlite3_stmt *st;
		policy->replica_checked = now;
		policy->replica_last_sync = 0;
		if (sqlite3_prepare_v2(db_handle(policy->db),
		                       "SELECT value FROM sync_state WHERE key = 'last_sync'", -1, &st,
		                       NULL) == SQLITE_OK) {
			if (sqlite3_step(st) == SQLITE_ROW)
				policy->replica_last_sync = sqlite3_column_int64(st, 0);
			sqlite3_finalize(st);
		}
	}
	return now - policy->replica_last_sync > policy->cfg->replica_max_age;
}

static int refuse(struct policy_reply *reply, int code, const char *enh, const char *fmt, const char *addr,
                  const char *why)
{
	reply->code = code;
	reply->enh = enh;
	snprintf(reply->text, sizeof(reply->text), fmt, addr, why);
	return -1;
}

static const char *relay_trick(unsigned flags)
{
	if (flags & SMTP_PATH_SOURCE_ROUTE)
		return "source routes are not accepted";
	if (flags & SMTP_PATH_PERCENT_HACK)
		return "'%' in the local part is not accepted";
	if (flags & SMTP_PATH_BANG_PATH)
		return "'!' in the local part is not accepted";
	if (flags & SMTP_PATH_QUOTED_AT)
		return "a quoted '@' in the local part is not accepted";
	if (flags & SMTP_PATH_ADDRESS_LITERAL)
		return "address literals are not accepted";
	return NULL;
}

/* The bare <Postmaster> of RFC 5321 4.5.1: postmaster at myhostname, else at mydomain. Never relayed. */
static int accept_rcpt(struct policy *policy, const char *address, struct policy_reply *reply,
                       struct expansion *exp);

static int check_postmaster(struct policy *policy, struct policy_reply *reply, struct expansion *exp)
{
	const char *domains[] = {policy->cfg->myhostname, policy->cfg->mydomain};
	for (size_t i = 0; i < MXD_ARRAY_SIZE(domains); i++) {
		if (domains[i][0] == '\0')
			continue;
		char address[ADDR_PATH_MAX + 16];
		struct db_resolution res;
		const char *error;
		snprintf(address, sizeof(address), "postmaster@%s", domains[i]);
		if (db_resolve(policy->db, address, "", &res, &error) < 0) {
			log_warn("smtpd", "recipient table lookup for <%s> failed: %s", address, error);
			return refuse(reply, 451, "4.3.0", "<%s>: Temporary lookup failure%s", "Postmaster",
			              "");
		}
		enum db_resolve_status status = res.status;
		db_resolution_clear(&res);
		if (status == DB_RESOLVE_OK)
			return accept_rcpt(policy, address, reply, exp);
	}
	return refuse(reply, 550, "5.1.1", "<%s>: Recipient address rejected: %s", "Postmaster",
	              "User unknown in virtual alias table");
}

/* The final destinations of an accepted address. */
static int accept_rcpt(struct policy *policy, const char *address, struct policy_reply *reply,
                       struct expansion *exp)
{
	const char *error;
	if (strcmp(policy->cfg->role, "secondary") == 0) {
		memset(exp, 0, sizeof(*exp));
		exp->finals = xcalloc(1, sizeof(*exp->finals));
		exp->finals[0].address = xstrdup(address);
		exp->n = 1;
		return 0;
	}
	if (expand_recipient(policy->db, address, policy->cfg->recipient_delimiter, exp, &error) < 0) {
		log_warn("smtpd", "alias expansion of <%s> failed: %s", address, error);
		return refuse(reply, 451, "4.3.0", "<%s>: Temporary lookup failure%s", address, "");
	}
	if (exp->overflow) {
		log_warn("smtpd", "alias expansion of <%s> needs more than %d table lookups: refused",
		         address, EXPAND_MAX_LOOKUPS);
		expansion_clear(exp);
		return refuse(reply, 550, "5.4.6", "<%s>: Recipient address rejected: %s", address,
		              "alias expansion exceeds its limits");
	}
	if (exp->truncated)
		log_warn("smtpd", "<%s> expands to more than %d destinations; the rest are dropped", address,
		         EXPAND_MAX_FINALS);
	return 0;
}

/* A bounce to one of our SRS addresses goes to the original sender when the signature holds. Only a
 * bounce: with srs_bounce_only (the default), the reverse path must be null (DSNs and RFC 3834
 * auto-replies use it), so an SRS address that reached someone is no token for relaying anything to its
 * sender; that is decided before the signature is looked at, and every bad address (malformed, bad
 * hash, expired) gets the same reply, so the reply is no oracle for either. The reason is logged. A
 * secondary checks the signature and passes the address on unchanged: the primary reverses it. */
static int check_srs(struct policy *policy, const char *address, const char *sender, bool client_trusted,
                     struct policy_reply *reply, struct expansion *exp)
{
	char orig[SRS_ADDRESS_MAX];
	const char *why;
	if (policy->cfg->srs_bounce_only && sender[0] != '\0' && !client_trusted) {
		log_info("smtpd", "SRS address <%s> refused for sender <%s>: not a bounce", address, sender);
		return refuse(reply, 550, "5.7.1", "<%s>: Recipient address rejected: %s", address,
		              "SRS addresses accept bounces only (null sender)");
	}
	if (srs_reverse(policy->srs, address, time_now(), orig, sizeof(orig), &why) < 0) {
		log_info("smtpd", "SRS address <%s> refused: %s", address, why);
		return refuse(reply, 550, "5.1.1", "<%s>: Recipient address rejected: %s", address,
		              "invalid or expired SRS address");
	}
	return accept_rcpt(policy, policy->secondary ? address : orig, reply, exp);
}

static int check_rcpt(struct policy *policy, const struct smtp_path *rcpt, const char *sender,
                      bool client_trusted, struct policy_reply *reply, struct expansion *exp);

/* One read transaction for the whole decision (the table lookup and the alias chain): one snapshot and
 * one round of file locking per RCPT instead of one per statement. */
int policy_check_rcpt(struct policy *policy, const struct smtp_path *rcpt, const char *sender,
                      bool client_trusted, struct policy_reply *reply, struct expansion *exp)
{
	sqlite3 *h = db_handle(policy->db);
	bool own = sqlite3_get_autocommit(h) != 0 && sqlite3_exec(h, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
	int ret = check_rcpt(policy, rcpt, sender, client_trusted, reply, exp);
	if (own && sqlite3_exec(h, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
	return ret;
}

static int check_rcpt(struct policy *policy, const struct smtp_path *rcpt, const char *sender,
                      bool client_trusted, struct policy_reply *reply, struct expansion *exp)
{
	const char *why = relay_trick(rcpt->flags);
	if (why != NULL)
		return refuse(reply, 553, "5.7.1", "<%s>: Recipient address rejected: %s", rcpt->address,
		              why);

	if (rcpt->domain[0] == '\0')
		return check_postmaster(policy, reply, exp);
	if (srs_is_srs_address(policy->srs, rcpt->address))
		return check_srs(policy, rcpt->address, sender, client_trusted, reply, exp);

	struct db_resolution res;
	const char *error;
	if (db_resolve(policy->db, rcpt->address, policy->cfg->recipient_delimiter, &res, &error) < 0) {
		log_warn("smtpd", "recipient table lookup for <%s> failed: %s", rcpt->address, error);
		return refuse(reply, 451, "4.3.0", "<%s>: Temporary lookup failure%s", rcpt->address, "");
	}
	enum db_resolve_status status = res.status;
	db_resolution_clear(&res);
	switch (status) {
	case DB_RESOLVE_OK:
		return accept_rcpt(policy, rcpt->address, reply, exp);
	case DB_RESOLVE_UNKNOWN_USER:
		if (replica_stale(policy))
			return refuse(reply, 451, "4.3.0", "<%s>: Recipient address rejected: %s",
			              rcpt->address, "replica of the tables is out of date, try again later");
		return refuse(reply, 550, "5.1.1", "<%s>: Recipient address rejected: %s", rcpt->address,
		              "User unknown in virtual alias table");
	case DB_RESOLVE_UNKNOWN_DOMAIN:
		break;
	}
	if (client_trusted)
		return accept_rcpt(policy, rcpt->address, reply, exp);
	if (replica_stale(policy))
		return refuse(reply, 451, "4.3.0", "<%s>: Recipient address rejected: %s", rcpt->address,
		              "replica of the tables is out of date, try again later");
	return refuse(reply, 554, "5.7.1", "<%s>: Relay access denied%s", rcpt->address, "");
}

void policy_set_spf(struct policy *policy, struct spf *spf)
{
	policy->spf = spf;
}

struct spf_check *policy_check_sender(struct policy *policy, const struct sockaddr *client,
                                      bool client_trusted, const char *helo, const char *sender,
                                      spf_callback *cb, void *ctx)
{
	/* Clients we trust (mynetworks, trusted_peers: our other MX hosts, which checked the mail when
	 * they took it) are not checked. */
	if (policy->spf == NULL || client_trusted ||
	    (client->sa_family != AF_INET && client->sa_family != AF_INET6))
		return NULL;
	return spf_check_start(policy->spf, client, helo, sender, cb, ctx);
}

int policy_check_sender_result(const struct policy *policy, const struct spf_result *result,
                               struct policy_reply *reply)
{
	if (strcmp(policy->cfg->spf_policy, "reject") != 0)
		return 0;
	const char *who = result->helo_identity ? result->helo : result->sender;
	if (result->status == SPF_STATUS_FAIL)
		return refuse(reply, 550, "5.7.23", "<%s>: Sender address rejected: SPF fail: %s", who,
		              result->explanation != NULL ? result->explanation : "not authorized");
	if (result->status == SPF_STATUS_TEMPERROR)
		return refuse(reply, 451, "4.7.24", "<%s>: Sender address rejected: SPF temporary error: %s",
		              who, result->problem != NULL ? result->problem : "DNS failure");
	return 0;
}
