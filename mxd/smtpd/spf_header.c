/* spf_header: the Received-SPF (RFC 7208 9.1) and Authentication-Results (RFC 8601) header fields of
 * an SPF verdict. See spf.h. Pure functions. */
#include "mxd/smtpd/spf.h"

#include "mxd/common/util.h"
#include "mxd/smtpd/auth_results.h"
#include "mxd/smtpd/header_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *spf_header_received_spf(const struct spf_result *r, const char *receiver)
{
	char *comment;
	const char *ip = r->client_ip, *who = r->sender;
	switch (r->status) {
	case SPF_STATUS_PASS:
		comment = xasprintf("%s: domain of %s designates %s as permitted sender", receiver, who, ip);
		break;
	case SPF_STATUS_FAIL:
		comment = xasprintf("%s: domain of %s does not designate %s as permitted sender", receiver,
		                    who, ip);
		break;
	case SPF_STATUS_SOFTFAIL:
		comment =
		    xasprintf("%s: domain of transitioning %s does not designate %s as permitted sender",
		              receiver, who, ip);
		break;
	case SPF_STATUS_NEUTRAL:
		comment =
		    xasprintf("%s: %s is neither permitted nor denied by domain of %s", receiver, ip, who);
		break;
	case SPF_STATUS_NONE:
		comment =
		    xasprintf("%s: domain of %s does not designate permitted sender hosts", receiver, who);
		break;
	default:
		comment = xasprintf("%s: %s error in processing during lookup of %s", receiver,
		                    r->status == SPF_STATUS_TEMPERROR ? "temporary" : "permanent", who);
		break;
	}
	struct header_writer h = {0};
	header_writer_add(&h, "Received-SPF:");
	header_writer_add(&h, spf_status_str(r->status));
	header_writer_add_comment(&h, comment);
	free(comment);
	header_writer_add_pair(&h, "client-ip", r->client_ip, false);
	header_writer_add_pair(&h, "envelope-from", r->helo_identity ? "" : r->sender, false);
	header_writer_add_pair(&h, "helo", r->helo, false);
	if (r->problem != NULL)
		header_writer_add_pair(&h, "problem", r->problem, false);
	header_writer_add_pair(&h, "receiver", receiver, false);
	header_writer_add_pair(&h, "identity", r->helo_identity ? "helo" : "mailfrom", true);
	return header_writer_end(&h);
}

void spf_header_auth_results_add(struct auth_results *ar, const struct spf_result *r)
{
	/* RFC 8601 2.7.2: smtp.mailfrom is an addr-spec (or a domain), smtp.helo a domain */
	auth_results_add(ar, "spf", spf_status_str(r->status), NULL,
	                 r->helo_identity ? "smtp.helo" : "smtp.mailfrom",
	                 r->helo_identity ? r->helo : r->sender, NULL);
}

char *spf_header_authentication_results(const struct spf_result *r, const char *authserv_id)
{
	struct auth_results *ar = auth_results_new(authserv_id);
	spf_header_auth_results_add(ar, r);
	char *h = auth_results_header(ar);
	auth_results_free(&ar);
	return h;
}
