/*
 * policy: decides whether a recipient is accepted: the tables (via db_resolve), mynetworks, and the
 * relay rules. The SMTP engine hands it a parsed path and gets back an accept or a complete reply
 * (struct policy_reply: what we answer our client; the replies of remote servers that delivery parses
 * are struct smtp_reply, mxd/delivery/smtp_reply.h).
 * Never an open relay: a domain we do not host is accepted only from mynetworks; relay tricks
 * (source routes, '%', '!', quoted '@', address literals) are refused for everyone. A table that cannot
 * be read gives 451 4.3.0, never 550. Bounces to our SRS addresses (srs_domain) are checked and
 * reversed here, before the tables; the SPF verdict on MAIL FROM is turned into a reply here too.
 * Runs in the event-loop thread; owns its struct db and its SRS keys.
 */
#ifndef MXD_POLICY_H
#define MXD_POLICY_H

#include "mxd/rewrite/expand.h"
#include "mxd/smtpd/smtp_parse.h"
#include "mxd/smtpd/spf.h"

#include <stdbool.h>
#include <stdint.h>

struct db;
struct sockaddr;
struct mxd_config;
struct policy;

/* A refusal as the session sends it: code, enhanced status code (static string) and text. */
struct policy_reply {
	int code;
	const char *enh;
	char text[400];
};

/* policy_new keeps cfg (not owned) and takes db. 0 or -1 with *error_r. */
int policy_new(const struct mxd_config *cfg, struct db *db, struct policy **policy_r, const char **error_r);
void policy_free(struct policy **policy);

/* dmarc_from_rewrite for mail to rcpt: its domain's choice in the tables (mxctl domain option), else
 * the setting. A table error is logged and the setting holds. */
bool policy_dmarc_from_rewrite(struct policy *policy, const char *rcpt);

/* Is domain (the d= of an ARC seal) in arc_trusted_sealers (case-insensitive)? */
bool policy_arc_trusted_sealer(const struct policy *policy, const char *domain);

/* Is the client address in mynetworks or trusted_peers (our other MX hosts)? */
bool policy_client_trusted(const struct policy *policy, const struct sockaddr *client);

/* The hourly message limit of a hosted recipient domain (domains.hourly_message_limit); 0 for none, for
 * a domain we do not host, and when the table cannot be read (logged: the cap fails open, as the
 * refusal it makes is only a deferral). */
uint32_t policy_domain_hourly_limit(struct policy *policy, const char *domain);

/* postscreen_dnsbl_sites, parsed (possibly empty; the policy keeps its reference: take one with
 * dnsbl_sites_ref() to keep it past a reload). */
struct dnsbl_sites *policy_dnsbl_sites(const struct policy *policy);

/* Decide rcpt, sent after MAIL FROM:<sender> ("" for the null sender). Returns 0 to accept, with
 * *exp holding its final destinations (alias chains followed on the primary; on a secondary the
 * address itself, as the primary expands it), or -1 to refuse with *reply filled ("<addr>: Recipient
 * address rejected: ..." texts as Postfix words them, so log tools keep working). A RCPT to one of our
 * SRS addresses needs the null sender unless srs_bounce_only is off or the client is trusted. Free
 * *exp with expansion_clear(). */
int policy_check_rcpt(struct policy *policy, const struct smtp_path *rcpt, const char *sender,
                      bool client_trusted, struct policy_reply *reply, struct expansion *exp);

/* The SPF checker for MAIL FROM (not owned; NULL, the default: no checks, as with spf_policy = off). */
void policy_set_spf(struct policy *policy, struct spf *spf);

/* Start the SPF check of a MAIL FROM (sender "" for the null sender), or return NULL when none is due:
 * no checker, or a client we trust (mynetworks, trusted_peers). cb runs as spf.h says; cancel with
 * spf_cancel(). */
struct spf_check *policy_check_sender(struct policy *policy, const struct sockaddr *client,
                                      bool client_trusted, const char *helo, const char *sender,
                                      spf_callback *cb, void *ctx);

/* Decide MAIL on an SPF verdict: 0 to accept (spf_policy = tag accepts everything, the headers record
 * it), or -1 with *reply: with spf_policy = reject, a fail gets 550 5.7.23 with the domain's
 * explanation and a temperror 451 4.7.24 (RFC 7372). We answer at MAIL FROM, not at RCPT as Postfix's
 * policy daemons do: the verdict does not depend on the recipient, and the client learns it before it
 * sends any. */
int policy_check_sender_result(const struct policy *policy, const struct spf_result *result,
                               struct policy_reply *reply);

#endif
