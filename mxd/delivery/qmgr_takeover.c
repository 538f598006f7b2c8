/* qmgr_takeover: a secondary's choices: relay to the primary, or (takeover_after) expand with its replica
 * and deliver directly; see qmgr_private.h. */
#include "mxd/delivery/qmgr_private.h"

#include "mxd/common/config.h"
#include "mxd/delivery/qmgr_schedule.h"
#include "mxd/rewrite/expand.h"
#include "mxd/common/log.h"
#include "mxd/rewrite/srs.h"
#include "mxd/common/util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A secondary sends everything to the primary: primary_hosts when set, else the MX hosts of the
 * recipient's (hosted) domain that are better than ourselves. */
void qmgr_secondary_choice(struct qmgr *q, const char *domain, struct route_choice *c)
{
	memset(c, 0, sizeof(*c));
	if (q->cfg->primary_hosts[0] != '\0') {
		c->kind = DB_ROUTE_NEXTHOP_HOST_NO_MX;
		str_copy(c->host, sizeof(c->host), "primary_hosts");
		str_copy(c->nexthop, sizeof(c->nexthop), QMGR_PRIMARY_NEXTHOP);
	} else {
		c->kind = DB_ROUTE_NEXTHOP_DIRECT;
		str_copy(c->host, sizeof(c->host), domain);
		str_copy(c->nexthop, sizeof(c->nexthop), "direct");
	}
	c->port = 25;
	str_copy(c->tls_level, sizeof(c->tls_level), q->cfg->smtp_tls_security_level);
	str_copy(c->match, sizeof(c->match), QMGR_PRIMARY_MATCH);
}

/* Secondary: the primary answered (up), or no address of it could be reached (a relay job's connection
 * failure); takeover_after counts from the first failure in a row. */
void qmgr_primary_seen(struct qmgr *q, bool up)
{
	if (!up) {
		if (q->primary_down_since == 0)
			q->primary_down_since = time_now();
		return;
	}
	q->primary_down_since = 0;
	if (q->takeover) {
		q->takeover = false;
		log_info("qmgr", "takeover ended: primary is back");
	}
}

/* Takeover: replace one due recipient, still as it was accepted (a secondary queues them unexpanded),
 * by its finals in the queue (queue_store_expand_rcpt: one transaction, so a crash leaves the recipient
 * or all its finals, and a final expands to itself when tried again). 1 when the queue changed, 0 when
 * the recipient is its own final, -1 when it could not be expanded (it stays for the primary). */
static int takeover_expand_rcpt(struct qmgr *q, const char *id, const struct queue_rcpt_info *r)
{
	const char *error, *why, *address = r->address;
	char orig[SRS_ADDRESS_MAX];
	/* a bounce to one of our SRS addresses: the primary would reverse it */
	if (srs_is_srs_address(q->srs, address) &&
	    srs_reverse(q->srs, address, time_now(), orig, sizeof(orig), &why) == 0)
		address = orig;
	struct expansion exp;
	if (expand_recipient(q->db, address, q->cfg->recipient_delimiter, &exp, &error) < 0) {
		log_warn("qmgr", "%s: takeover: alias expansion of <%s> failed: %s", id, r->address, error);
		return -1;
	}
	if (exp.overflow) {
		log_warn("qmgr", "%s: takeover: alias expansion of <%s> needs more than %d table lookups", id,
		         r->address, EXPAND_MAX_LOOKUPS);
		expansion_clear(&exp);
		return -1;
	}
	if (exp.n == 1 && exp.finals[0].status == EXPAND_OK &&
	    strcasecmp(exp.finals[0].address, r->address) == 0) {
		expansion_clear(&exp);
		return 0;
	}
	if (exp.truncated)
		log_warn("qmgr", "%s: <%s> expands to more than %d destinations; the rest are dropped", id,
		         r->address, EXPAND_MAX_FINALS);
	int ret = -1;
	if (exp.n > 0) {
		const char **addrs = xcalloc(exp.n, sizeof(*addrs));
		const char **dsn = xcalloc(exp.n, sizeof(*dsn));
		const char **reasons = xcalloc(exp.n, sizeof(*reasons));
		int *states = xcalloc(exp.n, sizeof(*states));
		for (size_t i = 0; i < exp.n; i++) {
			enum expand_status st = exp.finals[i].status;
			addrs[i] = exp.finals[i].address;
			states[i] = st == EXPAND_OK ? QUEUE_RCPT_PENDING : QUEUE_RCPT_BOUNCED;
			dsn[i] = st == EXPAND_LOOP ? "5.4.6" : st == EXPAND_UNKNOWN ? "5.1.1" : NULL;
			reasons[i] = st == EXPAND_LOOP      ? "mail forwarding loop: alias chain comes back"
			             : st == EXPAND_UNKNOWN ? "User unknown in virtual alias table"
			                                    : NULL;
		}
		int rc =
		    queue_store_expand_rcpt(q->queue, id, r->idx, addrs, states, dsn, reasons, exp.n, &error);
		if (rc < 0)
			log_warn("qmgr", "%s: takeover: cannot record the expansion of <%s>: %s", id,
			         r->address, error);
		else
			log_info("qmgr", "%s: takeover: <%s> expanded to %zu recipient%s", id, r->address,
			         exp.n, exp.n == 1 ? "" : "s");
		ret = rc < 0 ? -1 : 1;
		free(addrs);
		free(dsn);
		free(reasons);
		free(states);
	}
	expansion_clear(&exp);
	return ret;
}

/* Takeover: expand every due recipient of *info that is not yet expanded, then read *info again if the
 * queue changed (NULL when that fails). *keep_r: the queue indexes of recipients that could not be
 * expanded (they go to the primary as before); free it. */
void qmgr_takeover_expand(struct qmgr *q, struct queue_msg_info **info, int64_t deferred_until, int **keep_r,
                          size_t *nkeep_r)
{
	struct queue_msg_info *in = *info;
	bool changed = false;
	*keep_r = xcalloc(in->nrcpt + 1, sizeof(int));
	*nkeep_r = 0;
	for (size_t i = 0; i < in->nrcpt; i++) {
		const struct queue_rcpt_info *r = &in->rcpts[i];
		if (!qmgr_schedule_rcpt_due(r, deferred_until) || qmgr_rcpt_forwarded(r))
			continue;
		int rc = takeover_expand_rcpt(q, in->id, r);
		if (rc < 0)
			(*keep_r)[(*nkeep_r)++] = r->idx;
		changed |= rc > 0;
	}
	if (!changed)
		return;
	char id[QUEUE_ID_SIZE];
	const char *error;
	str_copy(id, sizeof(id), in->id);
	queue_msg_info_free(info);
	if (queue_store_get(q->queue, id, info, &error) < 0)
		log_warn("qmgr", "%s: %s", id, error);
}

/* Does the secondary relay r to the primary? Always, unless in takeover: then only what could not be
 * expanded (keep), while finals (expanded, or their own) go where the routes say. */
bool qmgr_relay_to_primary(struct qmgr *q, const struct queue_rcpt_info *r, const int *keep, size_t nkeep)
{
	if (!q->secondary)
		return false;
	if (!q->takeover)
		return !qmgr_rcpt_forwarded(r); /* finals of an earlier takeover stay direct */
	for (size_t i = 0; i < nkeep; i++)
		if (keep[i] == r->idx)
			return true;
	return false;
}
