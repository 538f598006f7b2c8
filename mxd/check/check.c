/* check: see check.h. This file: the run, our hosts' addresses, MX, DMARC, and the DKIM and ARC keys. */
#include "mxd/check/check_private.h"

#include "mxd/auth/dkim_key.h"
#include "mxd/check/dkim_keydir.h"
#include "mxd/common/netaddr.h"
#include "mxd/common/util.h"
#include "db/domain.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

const char *check_level_str(enum check_level level)
{
	return level == CHECK_OK ? "OK" : level == CHECK_WARN ? "WARN" : "FAIL";
}

void check_report_add(struct check_report *r, enum check_level level, const char *check, const char *subject,
                      const char *fmt, ...)
{
	va_list ap;
	char *text = NULL;
	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		abort();
	va_end(ap);
	r->lines = xrealloc(r->lines, (r->n + 1) * sizeof(*r->lines));
	struct check_line *l = &r->lines[r->n++];
	l->level = level;
	l->check = xstrdup(check);
	l->subject = xstrdup(subject);
	l->text = text;
}

void check_report_free(struct check_report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->lines[i].check);
		free(r->lines[i].subject);
		free(r->lines[i].text);
	}
	free(r->lines);
	r->lines = NULL;
	r->n = 0;
}

enum check_level check_report_worst(const struct check_report *r)
{
	enum check_level worst = CHECK_OK;
	for (size_t i = 0; i < r->n; i++) {
		if (r->lines[i].level > worst)
			worst = r->lines[i].level;
	}
	return worst;
}

/* The host part of "[host]:port", "host:port" or "host" into out. */
static void host_of(const char *item, char *out, size_t size)
{
	const char *p = item;
	size_t n;
	if (*p == '[') {
		p++;
		n = strcspn(p, "]");
	} else {
		n = strcspn(p, ":");
	}
	snprintf(out, size, "%.*s", (int)n, p);
}

static void add_addrs_of(struct check_ctx *ctx, const char *host)
{
	struct dns_sync_answer ans;
	const char *detail;
	enum dns_status st = dns_sync_addrs(ctx->dns, host, &ans, &detail);
	if (st != DNS_OK) {
		check_report_add(ctx->report, CHECK_FAIL, "host", host,
		                 "%s has no address in the DNS (%s): publish its A (and AAAA) record", host,
		                 detail);
		return;
	}
	for (size_t i = 0; i < ans.n; i++) {
		ctx->addrs = xrealloc(ctx->addrs, (ctx->naddr + 1) * sizeof(*ctx->addrs));
		ctx->addr_hosts = xrealloc(ctx->addr_hosts, (ctx->naddr + 1) * sizeof(*ctx->addr_hosts));
		ctx->addrs[ctx->naddr] = ans.rr[i].addr;
		ctx->addr_hosts[ctx->naddr++] = xstrdup(host);
	}
	dns_sync_answer_free(&ans);
}

/* Our hosts: myhostname, primary_hosts (on a secondary), single addresses of trusted_peers. */
static void collect_hosts(struct check_ctx *ctx)
{
	add_addrs_of(ctx, ctx->hostname);
	const char *error;
	char **list;
	if (strcmp(ctx->cfg->role, "secondary") == 0) {
		list = config_list(ctx->cfg->primary_hosts, NULL);
		for (size_t i = 0; list[i] != NULL; i++) {
			char host[256];
			host_of(list[i], host, sizeof(host));
			add_addrs_of(ctx, host);
		}
		config_list_free(&list);
	}
	list = config_list(ctx->cfg->trusted_peers, NULL);
	{
		for (size_t i = 0; list[i] != NULL; i++) {
			char *item = xstrdup(list[i]), *slash = strchr(item, '/');
			struct sockaddr_storage ss;
			socklen_t len;
			bool single =
			    slash == NULL || strcmp(slash, "/32") == 0 || strcmp(slash, "/128") == 0;
			if (slash != NULL)
				*slash = '\0';
			if (single && netaddr_parse(item, 0, &ss, &len, &error) == 0) {
				ctx->addrs = xrealloc(ctx->addrs, (ctx->naddr + 1) * sizeof(*ctx->addrs));
				ctx->addr_hosts =
				    xrealloc(ctx->addr_hosts, (ctx->naddr + 1) * sizeof(*ctx->addr_hosts));
				ctx->addrs[ctx->naddr] = ss;
				ctx->addr_hosts[ctx->naddr++] = xstrdup("trusted_peers");
			}
			free(item);
		}
		config_list_free(&list);
	}
}

static bool is_primary_host(const struct check_ctx *ctx, const char *name)
{
	char **list = config_list(ctx->cfg->primary_hosts, NULL);
	bool found = false;
	for (size_t i = 0; list[i] != NULL && !found; i++) {
		char host[256];
		host_of(list[i], host, sizeof(host));
		found = strcasecmp(host, name) == 0;
	}
	config_list_free(&list);
	return found;
}

static void check_mx(struct check_ctx *ctx, const char *domain)
{
	struct dns_sync_answer mx;
	const char *detail;
	enum dns_status st = dns_sync_mx(ctx->dns, domain, &mx, &detail);
	bool secondary = strcmp(ctx->cfg->role, "secondary") == 0;
	if (st != DNS_OK) {
		check_report_add(ctx->report, CHECK_FAIL, "mx", domain,
		                 "no MX record (%s): publish %s. IN MX %d %s.", detail, domain,
		                 secondary ? 20 : 10, ctx->hostname);
		return;
	}
	size_t ours = mx.n;
	for (size_t i = 0; i < mx.n && ours == mx.n; i++) {
		if (strcasecmp(mx.rr[i].text, ctx->hostname) == 0)
			ours = i;
	}
	if (ours == mx.n) {
		check_report_add(ctx->report, CHECK_FAIL, "mx", domain,
		                 "the MX records (%s%s) do not name myhostname %s: publish %s. IN MX %d %s.",
		                 mx.rr[0].text, mx.n > 1 ? ", ..." : "", ctx->hostname, domain,
		                 secondary ? 20 : 10, ctx->hostname);
	} else if (!secondary) {
		size_t before = 0, equal = 0;
		const char *other = NULL;
		for (size_t i = 0; i < mx.n; i++) {
			if (i == ours)
				continue;
			if (mx.rr[i].preference < mx.rr[ours].preference) {
				before++;
				other = mx.rr[i].text;
			} else if (mx.rr[i].preference == mx.rr[ours].preference) {
				equal++;
				other = mx.rr[i].text;
			}
		}
		if (before > 0)
			check_report_add(
			    ctx->report, CHECK_FAIL, "mx", domain,
			    "MX %s comes before this primary %s (MX %u): give %s the lowest preference",
			    other, ctx->hostname, mx.rr[ours].preference, ctx->hostname);
		else if (equal > 0)
			check_report_add(
			    ctx->report, CHECK_WARN, "mx", domain,
			    "MX %s has the same preference (%u) as this primary %s: senders pick either; "
			    "give the secondaries a higher number",
			    other, mx.rr[ours].preference, ctx->hostname);
		else
			check_report_add(ctx->report, CHECK_OK, "mx", domain,
			                 "MX %u %s, the primary, comes first", mx.rr[ours].preference,
			                 ctx->hostname);
	} else {
		const char *missing = NULL, *after = NULL;
		bool better = false;
		for (size_t i = 0; i < mx.n; i++) {
			if (mx.rr[i].preference < mx.rr[ours].preference)
				better = true;
			if (i != ours && is_primary_host(ctx, mx.rr[i].text) &&
			    mx.rr[i].preference >= mx.rr[ours].preference)
				after = mx.rr[i].text;
		}
		char **list = config_list(ctx->cfg->primary_hosts, NULL);
		for (size_t k = 0; list[k] != NULL && missing == NULL; k++) {
			char host[256];
			bool seen = false;
			host_of(list[k], host, sizeof(host));
			for (size_t i = 0; i < mx.n && !seen; i++)
				seen = strcasecmp(mx.rr[i].text, host) == 0;
			if (!seen)
				missing = list[k];
		}
		if (!better)
			check_report_add(
			    ctx->report, CHECK_FAIL, "mx", domain,
			    "this secondary %s (MX %u) is the best MX: publish the primary with a lower "
			    "preference number",
			    ctx->hostname, mx.rr[ours].preference);
		else if (after != NULL)
			check_report_add(
			    ctx->report, CHECK_FAIL, "mx", domain,
			    "primary %s does not come before this secondary %s (MX %u): give it a lower "
			    "preference number",
			    after, ctx->hostname, mx.rr[ours].preference);
		else if (missing != NULL)
			check_report_add(ctx->report, CHECK_WARN, "mx", domain,
			                 "primary_hosts names %s, which is not an MX of %s", missing, domain);
		else
			check_report_add(ctx->report, CHECK_OK, "mx", domain,
			                 "MX %u %s, the secondary, comes after the primary",
			                 mx.rr[ours].preference, ctx->hostname);
		config_list_free(&list);
	}
	dns_sync_answer_free(&mx);
}

static void check_dmarc(struct check_ctx *ctx, const char *domain)
{
	struct dns_sync_answer txt;
	const char *detail;
	char *name = xasprintf("_dmarc.%s", domain);
	enum dns_status st = dns_sync_txt(ctx->dns, name, &txt, &detail);
	const char *found = NULL;
	for (size_t i = 0; st == DNS_OK && i < txt.n && found == NULL; i++) {
		if (strncmp(txt.rr[i].text, "v=DMARC1", 8) == 0)
			found = txt.rr[i].text;
	}
	if (found != NULL)
		check_report_add(ctx->report, CHECK_OK, "dmarc", domain, "%s: %s", name, found);
	else if (st == DNS_TEMPFAIL)
		check_report_add(ctx->report, CHECK_WARN, "dmarc", domain, "%s: the DNS did not answer (%s)",
		                 name, detail);
	else
		check_report_add(ctx->report, CHECK_FAIL, "dmarc", domain,
		                 "no DMARC record at %s: publish %s. IN TXT \"v=DMARC1; p=none; "
		                 "rua=mailto:postmaster@%s\"",
		                 name, name, domain);
	if (st == DNS_OK)
		dns_sync_answer_free(&txt);
	free(name);
}

/* Is the key at path published at SELECTOR._domainkey.DOMAIN as written? */
static void check_key(struct check_ctx *ctx, const char *check, const char *domain, const char *selector,
                      const char *path)
{
	EVP_PKEY *key = NULL;
	char *record = NULL, *subject = xasprintf("%s._domainkey.%s", selector, domain);
	const char *error, *detail, *why = "no TXT record";
	if (dkim_key_load(path, &key, &error) < 0 || dkim_keydir_record(key, &record, &error) < 0) {
		check_report_add(ctx->report, CHECK_FAIL, check, subject, "%s", error);
		goto out;
	}
	char *line = dkim_keydir_zone_line(domain, selector, record);
	struct dns_sync_answer txt;
	enum dns_status st = dns_sync_txt(ctx->dns, subject, &txt, &detail);
	bool match = false;
	for (size_t i = 0; st == DNS_OK && i < txt.n && !match; i++)
		match = dkim_keydir_record_matches(txt.rr[i].text, record, &why);
	if (match)
		check_report_add(ctx->report, CHECK_OK, check, subject, "the key in %s is published", path);
	else if (st == DNS_TEMPFAIL)
		check_report_add(ctx->report, CHECK_WARN, check, subject, "the DNS did not answer (%s)",
		                 detail);
	else
		check_report_add(ctx->report, CHECK_FAIL, check, subject,
		                 "the key in %s is not published (%s): publish %s", path, why, line);
	if (st == DNS_OK)
		dns_sync_answer_free(&txt);
	free(line);
out:
	EVP_PKEY_free(key);
	free(record);
	free(subject);
}

static void check_keys(struct check_ctx *ctx, const char *only)
{
	const struct mxd_config *cfg = ctx->cfg;
	struct dkim_keydir_entry *keys;
	size_t n;
	const char *error;
	if (dkim_keydir_list(cfg->dkim_key_directory, &keys, &n, &error) < 0) {
		check_report_add(ctx->report, CHECK_FAIL, "dkim", cfg->dkim_key_directory, "%s", error);
		return;
	}
	bool arc = cfg->arc_signing_domain[0] != '\0' && cfg->arc_selector[0] != '\0' &&
	           (only == NULL || strcasecmp(only, cfg->arc_signing_domain) == 0);
	bool arc_seen = false;
	for (size_t i = 0; i < n; i++) {
		bool is_arc = arc && strcasecmp(keys[i].domain, cfg->arc_signing_domain) == 0 &&
		              strcmp(keys[i].selector, cfg->arc_selector) == 0;
		arc_seen |= is_arc;
		if (only == NULL || strcasecmp(only, keys[i].domain) == 0)
			check_key(ctx, is_arc ? "arc" : "dkim", keys[i].domain, keys[i].selector,
			          keys[i].path);
	}
	bool host_key = false, want_host = only == NULL || strcasecmp(only, ctx->hostname) == 0;
	for (size_t i = 0; i < n && !host_key; i++)
		host_key = strcasecmp(keys[i].domain, ctx->hostname) == 0;
	if (want_host && !host_key && strchr(ctx->hostname, '.') != NULL)
		check_report_add(
		    ctx->report, CHECK_WARN, "dkim", ctx->hostname,
		    "no DKIM key for myhostname: the bounces and delay warnings mxd writes (From: "
		    "MAILER-DAEMON@%s) go unsigned and fail DMARC; run mxctl dkim keygen %s and publish "
		    "the record it prints",
		    ctx->hostname, ctx->hostname);
	if (arc && !arc_seen) {
		char *path =
		    dkim_keydir_path(cfg->dkim_key_directory, cfg->arc_signing_domain, cfg->arc_selector);
		check_report_add(
		    ctx->report, CHECK_WARN, "arc", cfg->arc_signing_domain,
		    "no ARC key %s: forwarded mail is not sealed; run mxctl dkim keygen %s --selector %s "
		    "and publish the record it prints",
		    path, cfg->arc_signing_domain, cfg->arc_selector);
		free(path);
	}
	dkim_keydir_list_free(&keys, n);
}

int check_run(const struct mxd_config *cfg, struct db *db, const struct check_options *opt,
              struct check_report *report_r, const char **error_r)
{
	char sysname[256] = "";
	struct check_ctx ctx = {.cfg = cfg, .db = db, .report = report_r};
	memset(report_r, 0, sizeof(*report_r));
	ctx.dns = dns_sync_new(cfg->resolver, error_r);
	if (ctx.dns == NULL)
		return -1;
	if (cfg->myhostname[0] == '\0')
		gethostname(sysname, sizeof(sysname) - 1);
	ctx.hostname = cfg->myhostname[0] != '\0' ? cfg->myhostname : sysname;
	ctx.timeout_msec = opt->timeout_msec > 0 ? opt->timeout_msec : 10000;

	struct db_domain *domains = NULL;
	size_t ndomain = 0;
	const char *error;
	if (db != NULL && db_domain_list(db, &domains, &ndomain, &error) < 0)
		check_report_add(report_r, CHECK_FAIL, "domains", cfg->database,
		                 "cannot read the domains: %s", error);
	size_t checked = 0;
	for (size_t i = 0; i < ndomain; i++) {
		if (!domains[i].active ||
		    (opt->domain != NULL && strcasecmp(opt->domain, domains[i].name) != 0))
			continue;
		check_mx(&ctx, domains[i].name);
		check_dmarc(&ctx, domains[i].name);
		checked++;
	}
	bool srs_hosted = false;
	for (size_t i = 0; i < ndomain; i++)
		srs_hosted |= strcasecmp(domains[i].name, cfg->srs_domain) == 0;
	free(domains);
	if (opt->domain != NULL && checked == 0 && strcasecmp(opt->domain, cfg->srs_domain) != 0)
		check_report_add(report_r, CHECK_FAIL, "domains", opt->domain,
		                 "not a hosted domain (nor srs_domain): mxctl domain add %s", opt->domain);
	if (opt->domain == NULL && ndomain == 0 && db != NULL)
		check_report_add(report_r, CHECK_WARN, "domains", cfg->database,
		                 "no hosted domain yet: mxctl domain add DOMAIN");

	collect_hosts(&ctx);
	if (cfg->srs_domain[0] != '\0' &&
	    (opt->domain == NULL || strcasecmp(opt->domain, cfg->srs_domain) == 0)) {
		if (!srs_hosted)
			check_mx(&ctx, cfg->srs_domain);
		check_spf(&ctx);
	}
	check_keys(&ctx, opt->domain);
	check_fcrdns(&ctx);
	if (!opt->skip_probe)
		check_port25(&ctx);
	check_tls(&ctx);
	check_replica(&ctx);

	for (size_t i = 0; i < ctx.naddr; i++)
		free(ctx.addr_hosts[i]);
	free(ctx.addr_hosts);
	free(ctx.addrs);
	dns_sync_free(&ctx.dns);
	return 0;
}
