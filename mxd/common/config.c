/* config: see config.h. */
#include "mxd/common/config.h"

#include "mxd/common/util.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

enum config_type { CONFIG_STR, CONFIG_INT, CONFIG_SIZE, CONFIG_TIME, CONFIG_BOOL, CONFIG_ENUM, CONFIG_LIST };

struct config_setting {
	const char *name;
	enum config_type type;
	const char *def;
	size_t offset;
	int64_t min, max;
	const char *choices; /* CONFIG_ENUM: "a|b|c"; CONFIG_TIME: the default unit ("s" or "d") */
};

#define F(field) offsetof(struct mxd_config, field)
#define BIG      INT64_C(1) << 50

static const struct config_setting settings[] = {
    {"role", CONFIG_ENUM, "primary", F(role), 0, 0, "primary|secondary"},
    {"myhostname", CONFIG_STR, "", F(myhostname), 0, 0, NULL},
    {"mydomain", CONFIG_STR, "", F(mydomain), 0, 0, NULL},
    {"database", CONFIG_STR, "/var/lib/mxd/mxd.db", F(database), 0, 0, NULL},
    {"queue_directory", CONFIG_STR, "/var/spool/mxd", F(queue_directory), 0, 0, NULL},
    {"maillog_file", CONFIG_STR, "", F(maillog_file), 0, 0, NULL},
    {"syslog_name", CONFIG_STR, "mxd", F(syslog_name), 0, 0, NULL},
    {"mail_owner", CONFIG_STR, "mxd", F(mail_owner), 0, 0, NULL},
    {"debug", CONFIG_BOOL, "no", F(debug), 0, 0, NULL},
    {"resolver", CONFIG_STR, "", F(resolver), 0, 0, NULL},

    {"smtpd_listen", CONFIG_LIST, "0.0.0.0:25", F(smtpd_listen), 0, 0, NULL},
    {"smtpd_banner", CONFIG_STR, "$myhostname ESMTP mxd", F(smtpd_banner), 0, 0, NULL},
    {"mynetworks", CONFIG_LIST, "127.0.0.0/8, [::1]/128", F(mynetworks), 0, 0, NULL},
    {"message_size_limit", CONFIG_SIZE, "10240000", F(message_size_limit), 1024, INT64_C(1) << 31, NULL},
    {"smtpd_recipient_limit", CONFIG_INT, "1000", F(smtpd_recipient_limit), 1, 100000, NULL},
    {"smtpd_client_connection_limit", CONFIG_INT, "50", F(smtpd_client_connection_limit), 1, 1000000, NULL},
    {"smtpd_connection_limit", CONFIG_INT, "20000", F(smtpd_connection_limit), 1, 1000000, NULL},
    {"smtpd_client_ipv6_prefix_length", CONFIG_INT, "64", F(smtpd_client_ipv6_prefix_length), 1, 128, NULL},
    {"smtpd_timeout", CONFIG_TIME, "300s", F(smtpd_timeout), 1, 86400, "s"},
    {"smtpd_min_data_rate", CONFIG_INT, "500", F(smtpd_min_data_rate), 0, INT64_C(1) << 30, NULL},
    {"smtpd_hard_error_limit", CONFIG_INT, "20", F(smtpd_hard_error_limit), 1, 10000, NULL},
    {"smtpd_greet_pause", CONFIG_TIME, "0s", F(smtpd_greet_pause), 0, 60, "s"},
    {"smtpd_helo_restrictions", CONFIG_ENUM, "reject_invalid_helo_hostname", F(smtpd_helo_restrictions), 0, 0,
     "reject_invalid_helo_hostname|permit"},
    {"strict_sender_domain_syntax", CONFIG_BOOL, "yes", F(strict_sender_domain_syntax), 0, 0, NULL},
    {"postscreen_greet_wait", CONFIG_TIME, "6s", F(postscreen_greet_wait), 0, 60, "s"},
    {"postscreen_greet_ttl", CONFIG_TIME, "1d", F(postscreen_greet_ttl), 0, 86400 * 365, "s"},
    {"postscreen_dnsbl_sites", CONFIG_LIST, "", F(postscreen_dnsbl_sites), 0, 0, NULL},
    {"postscreen_dnsbl_threshold", CONFIG_INT, "1", F(postscreen_dnsbl_threshold), 1, 1000000, NULL},
    {"postscreen_dnsbl_allowlist_threshold", CONFIG_INT, "0", F(postscreen_dnsbl_allowlist_threshold),
     -1000000, 0, NULL},
    {"postscreen_dnsbl_timeout", CONFIG_TIME, "10s", F(postscreen_dnsbl_timeout), 1, 300, "s"},
    {"smtpd_reject_unauth_pipelining", CONFIG_BOOL, "yes", F(smtpd_reject_unauth_pipelining), 0, 0, NULL},
    {"smtpd_client_connection_rate_limit", CONFIG_INT, "0", F(smtpd_client_connection_rate_limit), 0,
     1000000000, NULL},
    {"smtpd_client_message_rate_limit", CONFIG_INT, "0", F(smtpd_client_message_rate_limit), 0, 1000000000,
     NULL},
    {"smtpd_client_recipient_rate_limit", CONFIG_INT, "0", F(smtpd_client_recipient_rate_limit), 0,
     1000000000, NULL},
    {"smtpd_client_new_tls_session_rate_limit", CONFIG_INT, "0", F(smtpd_client_new_tls_session_rate_limit),
     0, 1000000000, NULL},
    {"anvil_rate_time_unit", CONFIG_TIME, "60s", F(anvil_rate_time_unit), 1, 86400, "s"},
    {"hopcount_limit", CONFIG_INT, "50", F(hopcount_limit), 1, 1000, NULL},
    {"smtpd_tls_cert_file", CONFIG_STR, "", F(smtpd_tls_cert_file), 0, 0, NULL},
    {"smtpd_tls_key_file", CONFIG_STR, "", F(smtpd_tls_key_file), 0, 0, NULL},
    {"recipient_delimiter", CONFIG_STR, "+", F(recipient_delimiter), 0, 0, NULL},

    {"queue_run_delay", CONFIG_TIME, "300s", F(queue_run_delay), 1, 86400, "s"},
    {"minimal_backoff_time", CONFIG_TIME, "300s", F(minimal_backoff_time), 1, 86400 * 7, "s"},
    {"maximal_backoff_time", CONFIG_TIME, "4000s", F(maximal_backoff_time), 1, 86400 * 7, "s"},
    {"maximal_queue_lifetime", CONFIG_TIME, "5d", F(maximal_queue_lifetime), 0, 86400 * 100, "d"},
    {"delay_warning_time", CONFIG_TIME, "0h", F(delay_warning_time), 0, 86400 * 100, "h"},
    {"failed_retention", CONFIG_TIME, "7d", F(failed_retention), 0, 86400 * 3650, "d"},
    {"fallback_after", CONFIG_TIME, "1h", F(fallback_after), 0, 86400 * 100, "h"},
    {"owner_warning_time", CONFIG_TIME, "4h", F(owner_warning_time), 0, 86400 * 100, "h"},
    {"owner_notice_interval", CONFIG_TIME, "1h", F(owner_notice_interval), 0, 86400 * 30, "h"},
    {"owner_digest_interval", CONFIG_TIME, "1d", F(owner_digest_interval), 1, 86400 * 30, "d"},
    {"delivery_log_retention", CONFIG_TIME, "30d", F(delivery_log_retention), 3600, 86400 * 3650, "d"},
    {"relayhost", CONFIG_STR, "", F(relayhost), 0, 0, NULL},
    {"default_destination_concurrency_limit", CONFIG_INT, "10", F(default_destination_concurrency_limit), 1,
     10000, NULL},
    {"smtp_concurrency_limit", CONFIG_INT, "100", F(smtp_concurrency_limit), 1, 100000, NULL},
    {"default_destination_rate_delay", CONFIG_TIME, "0s", F(default_destination_rate_delay), 0, 3600, "s"},
    {"smtp_connect_timeout", CONFIG_TIME, "30s", F(smtp_connect_timeout), 1, 3600, "s"},
    {"smtp_helo_timeout", CONFIG_TIME, "300s", F(smtp_helo_timeout), 1, 3600, "s"},
    {"smtp_data_timeout", CONFIG_TIME, "600s", F(smtp_data_timeout), 1, 3600, "s"},
    {"smtp_helo_name", CONFIG_STR, "$myhostname", F(smtp_helo_name), 0, 0, NULL},
    {"smtp_tls_security_level", CONFIG_ENUM, "may", F(smtp_tls_security_level), 0, 0,
     "none|may|encrypt|verify"},
    {"smtp_tls_CAfile", CONFIG_STR, "", F(smtp_tls_CAfile), 0, 0, NULL},
    {"smtp_connection_reuse_count", CONFIG_INT, "100", F(smtp_connection_reuse_count), 1, 100000, NULL},
    {"smtp_tcp_port", CONFIG_INT, "25", F(smtp_tcp_port), 1, 65535, NULL},
    {"smtp_allow_private_destinations", CONFIG_BOOL, "no", F(smtp_allow_private_destinations), 0, 0, NULL},

    {"admin_listen", CONFIG_STR, "127.0.0.1:8080", F(admin_listen), 0, 0, NULL},
    {"admin_allow", CONFIG_LIST, "127.0.0.0/8, [::1]/128", F(admin_allow), 0, 0, NULL},
    {"admin_hostnames", CONFIG_LIST, "$admin_listen, localhost", F(admin_hostnames), 0, 0, NULL},
    {"admin_tls_cert_file", CONFIG_STR, "", F(admin_tls_cert_file), 0, 0, NULL},
    {"admin_tls_key_file", CONFIG_STR, "", F(admin_tls_key_file), 0, 0, NULL},
    {"admin_session_timeout", CONFIG_TIME, "30m", F(admin_session_timeout), 60, 86400, "s"},
    {"admin_login_failure_limit", CONFIG_INT, "5", F(admin_login_failure_limit), 1, 1000, NULL},
    {"admin_login_failure_window", CONFIG_TIME, "15m", F(admin_login_failure_window), 1, 86400, "s"},

    {"primary_hosts", CONFIG_LIST, "", F(primary_hosts), 0, 0, NULL},
    {"replica_max_age", CONFIG_TIME, "1h", F(replica_max_age), 1, 86400 * 30, "s"},
    {"primary_probe_interval", CONFIG_TIME, "10s", F(primary_probe_interval), 1, 3600, "s"},
    {"takeover_after", CONFIG_TIME, "0m", F(takeover_after), 0, 86400 * 30, "m"},
    {"trusted_peers", CONFIG_LIST, "", F(trusted_peers), 0, 0, NULL},
    {"metrics_listen", CONFIG_STR, "", F(metrics_listen), 0, 0, NULL},

    {"smtpd_milters", CONFIG_LIST, "", F(smtpd_milters), 0, 0, NULL},
    {"milter_default_action", CONFIG_ENUM, "tempfail", F(milter_default_action), 0, 0,
     "tempfail|accept|reject|quarantine"},
    {"milter_connect_timeout", CONFIG_TIME, "30s", F(milter_connect_timeout), 1, 3600, "s"},
    {"milter_command_timeout", CONFIG_TIME, "30s", F(milter_command_timeout), 1, 3600, "s"},
    {"milter_content_timeout", CONFIG_TIME, "300s", F(milter_content_timeout), 1, 3600, "s"},
    {"milter_protocol", CONFIG_INT, "6", F(milter_protocol), 2, 6, NULL},

    {"spf_policy", CONFIG_ENUM, "tag", F(spf_policy), 0, 0, "off|tag|reject"},
    {"spf_check_limit", CONFIG_INT, "100", F(spf_check_limit), 1, 1000000, NULL},
    {"spf_client_check_limit", CONFIG_INT, "2", F(spf_client_check_limit), 1, 10000, NULL},
    {"dmarc_policy", CONFIG_ENUM, "tag", F(dmarc_policy), 0, 0, "off|tag|enforce"},
    {"dmarc_from_rewrite", CONFIG_BOOL, "no", F(dmarc_from_rewrite), 0, 0, NULL},
    {"arc_trusted_sealers", CONFIG_LIST, "", F(arc_trusted_sealers), 0, 0, NULL},
    {"dmarc_public_suffix_list", CONFIG_STR, "/usr/share/publicsuffix/public_suffix_list.dat",
     F(dmarc_public_suffix_list), 0, 0, NULL},
    {"srs_domain", CONFIG_STR, "", F(srs_domain), 0, 0, NULL},
    {"dkim_key_directory", CONFIG_STR, "/etc/mxd/dkim", F(dkim_key_directory), 0, 0, NULL},
    {"arc_signing_domain", CONFIG_STR, "$srs_domain", F(arc_signing_domain), 0, 0, NULL},
    {"arc_selector", CONFIG_STR, "mxd", F(arc_selector), 0, 0, NULL},
    {"srs_secret_file", CONFIG_STR, "/etc/mxd/srs.secret", F(srs_secret_file), 0, 0, NULL},
    {"srs_exclude_domains", CONFIG_LIST, "", F(srs_exclude_domains), 0, 0, NULL},
    {"srs_bounce_only", CONFIG_BOOL, "yes", F(srs_bounce_only), 0, 0, NULL},
    {"check_smtp_probe", CONFIG_STR, "gmail-smtp-in.l.google.com:25", F(check_smtp_probe), 0, 0, NULL},
    {"check_at_start", CONFIG_BOOL, "yes", F(check_at_start), 0, 0, NULL},

    {"sync_listen", CONFIG_STR, "", F(sync_listen), 0, 0, NULL},
    {"sync_tls_cert_file", CONFIG_STR, "", F(sync_tls_cert_file), 0, 0, NULL},
    {"sync_tls_key_file", CONFIG_STR, "", F(sync_tls_key_file), 0, 0, NULL},
    {"sync_changelog_lifetime", CONFIG_TIME, "7d", F(sync_changelog_lifetime), 60, 86400 * 365, "d"},
    {"sync_secret_file", CONFIG_STR, "/etc/mxd/sync.secret", F(sync_secret_file), 0, 0, NULL},
    {"sync_primary", CONFIG_STR, "", F(sync_primary), 0, 0, NULL},
    {"sync_tls_CAfile", CONFIG_STR, "", F(sync_tls_CAfile), 0, 0, NULL},
    {"sync_tls_server_name", CONFIG_STR, "", F(sync_tls_server_name), 0, 0, NULL},
    {"sync_interval", CONFIG_TIME, "2s", F(sync_interval), 1, 3600, "s"},
    {"sync_timeout", CONFIG_TIME, "10s", F(sync_timeout), 1, 300, "s"},
};

#define NSETTINGS MXD_ARRAY_SIZE(settings)

static __thread char config_err[1024];

static const struct config_setting *setting_find(const char *name, size_t *idx_r)
{
	for (size_t i = 0; i < NSETTINGS; i++) {
		if (strcmp(settings[i].name, name) == 0) {
			if (idx_r != NULL)
				*idx_r = i;
			return &settings[i];
		}
	}
	return NULL;
}

static char **str_field(struct mxd_config *cfg, const struct config_setting *s)
{
	return (char **)((char *)cfg + s->offset);
}

static int64_t *int_field(struct mxd_config *cfg, const struct config_setting *s)
{
	return (int64_t *)((char *)cfg + s->offset);
}

static bool *bool_field(struct mxd_config *cfg, const struct config_setting *s)
{
	return (bool *)((char *)cfg + s->offset);
}

static const char *where(const struct mxd_config *cfg, size_t idx)
{
	static __thread char buf[512];
	if (cfg->line[idx] > 0)
		snprintf(buf, sizeof(buf), "%s:%d", cfg->path != NULL ? cfg->path : "-", cfg->line[idx]);
	else if (cfg->line[idx] < 0)
		snprintf(buf, sizeof(buf), "command line");
	else
		snprintf(buf, sizeof(buf), "default");
	return buf;
}

/* The host name mxd uses when myhostname is not set (as Postfix does). */
static const char *system_hostname(void)
{
	static __thread char host[256];
	if (gethostname(host, sizeof(host)) < 0 || host[0] == '\0')
		str_copy(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	return host;
}

/* Expand $name and ${name} in value; depth bounds reference chains. Returns a new string or NULL. */
static char *expand(const struct mxd_config *cfg, const char *value, int depth, const char **error_r)
{
	if (depth > 10) {
		*error_r = "references nest too deeply (a $name loop?)";
		return NULL;
	}
	size_t cap = strlen(value) + 64, len = 0;
	char *out = xmalloc(cap);
	for (const char *p = value; *p != '\0';) {
		if (*p != '$') {
			if (len + 2 > cap)
				out = xrealloc(out, cap *= 2);
			out[len++] = *p++;
			continue;
		}
		p++;
		char name[64];
		size_t n = 0;
		bool braced = (*p == '{');
		if (braced)
			p++;
		while ((isalnum((unsigned char)*p) || *p == '_') && n < sizeof(name) - 1)
			name[n++] = *p++;
		name[n] = '\0';
		if (braced) {
			if (*p != '}') {
				*error_r = "unterminated ${...} reference";
				free(out);
				return NULL;
			}
			p++;
		}
		size_t idx;
		if (n == 0 || setting_find(name, &idx) == NULL) {
			static __thread char e[128];
			snprintf(e, sizeof(e), "reference to unknown setting $%s", name);
			*error_r = e;
			free(out);
			return NULL;
		}
		char *sub = strcmp(name, "myhostname") == 0 && cfg->raw[idx][0] == '\0'
		                ? xstrdup(system_hostname())
		                : expand(cfg, cfg->raw[idx], depth + 1, error_r);
		if (sub == NULL) {
			free(out);
			return NULL;
		}
		size_t sl = strlen(sub);
		while (len + sl + 2 > cap)
			out = xrealloc(out, cap *= 2);
		memcpy(out + len, sub, sl);
		len += sl;
		free(sub);
	}
	out[len] = '\0';
	return out;
}

static int parse_number(const char *v, int64_t *num_r, char *suffix_r)
{
	char *end;
	errno = 0;
	/* a minus sign is read here and refused by each setting's minimum (only the DNSBL thresholds go
	 * below zero) */
	if (!isdigit((unsigned char)(*v == '-' ? v[1] : *v)))
		return -1;
	long long n = strtoll(v, &end, 10);
	if (errno != 0)
		return -1;
	*suffix_r = '\0';
	if (*end != '\0') {
		if (end[1] != '\0')
			return -1;
		*suffix_r = (char)tolower((unsigned char)*end);
	}
	*num_r = n;
	return 0;
}

static int unit_multiplier(char unit, enum config_type type, int64_t *mul_r)
{
	if (type == CONFIG_TIME) {
		switch (unit) {
		case 's':
			*mul_r = 1;
			return 0;
		case 'm':
			*mul_r = 60;
			return 0;
		case 'h':
			*mul_r = 3600;
			return 0;
		case 'd':
			*mul_r = 86400;
			return 0;
		case 'w':
			*mul_r = 7 * 86400;
			return 0;
		}
		return -1;
	}
	switch (unit) {
	case 'k':
		*mul_r = 1024;
		return 0;
	case 'm':
		*mul_r = 1024 * 1024;
		return 0;
	case 'g':
		*mul_r = 1024 * 1024 * 1024;
		return 0;
	}
	return -1;
}

static const char *type_hint(const struct config_setting *s)
{
	static __thread char buf[256];
	switch (s->type) {
	case CONFIG_INT:
		snprintf(buf, sizeof(buf), "an integer from %lld to %lld", (long long)s->min,
		         (long long)s->max);
		break;
	case CONFIG_SIZE:
		snprintf(buf, sizeof(buf), "a size in bytes (k, m, g suffix allowed) from %lld to %lld",
		         (long long)s->min, (long long)s->max);
		break;
	case CONFIG_TIME:
		snprintf(buf, sizeof(buf),
		         "a time (number with unit s, m, h, d or w; default unit %s) from %llds to %llds",
		         s->choices, (long long)s->min, (long long)s->max);
		break;
	case CONFIG_BOOL:
		return "yes or no";
	case CONFIG_ENUM:
		snprintf(buf, sizeof(buf), "one of %s", s->choices);
		break;
	default:
		return "a string";
	}
	return buf;
}

static int parse_value(struct mxd_config *cfg, const struct config_setting *s, const char *v)
{
	switch (s->type) {
	case CONFIG_STR:
	case CONFIG_LIST: {
		char **f = str_field(cfg, s);
		free(*f);
		*f = xstrdup(v);
		return 0;
	}
	case CONFIG_ENUM: {
		size_t vl = strlen(v);
		for (const char *c = s->choices; *c != '\0';) {
			size_t cl = strcspn(c, "|");
			if (cl == vl && vl > 0 && strncmp(c, v, cl) == 0) {
				char **f = str_field(cfg, s);
				free(*f);
				*f = xstrdup(v);
				return 0;
			}
			c += cl;
			if (*c == '|')
				c++;
		}
		return -1;
	}
	case CONFIG_BOOL: {
		bool *b = bool_field(cfg, s);
		if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcasecmp(v, "on") ||
		    !strcmp(v, "1"))
			*b = true;
		else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcasecmp(v, "off") ||
		         !strcmp(v, "0"))
			*b = false;
		else
			return -1;
		return 0;
	}
	case CONFIG_INT:
	case CONFIG_SIZE:
	case CONFIG_TIME: {
		int64_t n, mul = 1;
		char unit;
		if (parse_number(v, &n, &unit) < 0)
			return -1;
		if (s->type == CONFIG_TIME && unit == '\0')
			unit = s->choices[0];
		if (unit != '\0' && (s->type == CONFIG_INT || unit_multiplier(unit, s->type, &mul) < 0))
			return -1;
		if (n > INT64_MAX / mul)
			return -1;
		n *= mul;
		if (n < s->min || n > s->max)
			return -1;
		*int_field(cfg, s) = n;
		return 0;
	}
	}
	return -1;
}

/* Expand and parse every setting into its typed field. */
static int config_finalize(struct mxd_config *cfg, const char **error_r)
{
	for (size_t i = 0; i < NSETTINGS; i++) {
		const char *err;
		char *v = expand(cfg, cfg->raw[i], 0, &err);
		if (v == NULL) {
			snprintf(config_err, sizeof(config_err), "%s: %s: %s", where(cfg, i),
			         settings[i].name, err);
			*error_r = config_err;
			return -1;
		}
		if (parse_value(cfg, &settings[i], v) < 0) {
			snprintf(config_err, sizeof(config_err), "%s: %s: bad value '%s': expected %s",
			         where(cfg, i), settings[i].name, v, type_hint(&settings[i]));
			*error_r = config_err;
			free(v);
			return -1;
		}
		free(v);
	}
	if (*cfg->myhostname == '\0') {
		free(cfg->myhostname);
		cfg->myhostname = xstrdup(system_hostname());
	}
	if (cfg->minimal_backoff_time > cfg->maximal_backoff_time) {
		snprintf(config_err, sizeof(config_err),
		         "%s: minimal_backoff_time: must not exceed maximal_backoff_time (%llds)",
		         where(cfg, 0), (long long)cfg->maximal_backoff_time);
		*error_r = config_err;
		return -1;
	}
	return 0;
}

struct mxd_config *config_new(void)
{
	struct mxd_config *cfg = xcalloc(1, sizeof(*cfg));
	cfg->raw = xcalloc(NSETTINGS, sizeof(char *));
	cfg->line = xcalloc(NSETTINGS, sizeof(int));
	for (size_t i = 0; i < NSETTINGS; i++)
		cfg->raw[i] = xstrdup(settings[i].def);
	const char *err;
	if (config_finalize(cfg, &err) < 0) {
		fprintf(stderr, "mxd: internal error in default settings: %s\n", err);
		abort();
	}
	return cfg;
}

void config_free(struct mxd_config **cfgp)
{
	struct mxd_config *cfg = *cfgp;
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < NSETTINGS; i++) {
		free(cfg->raw[i]);
		if (settings[i].type == CONFIG_STR || settings[i].type == CONFIG_LIST ||
		    settings[i].type == CONFIG_ENUM)
			free(*str_field(cfg, &settings[i]));
	}
	free(cfg->raw);
	free(cfg->line);
	free(cfg->path);
	free(cfg);
	*cfgp = NULL;
}

static int config_store(struct mxd_config *cfg, const char *name, const char *value, int line,
                        const char **error_r)
{
	size_t idx;
	if (setting_find(name, &idx) == NULL) {
		if (line > 0)
			snprintf(config_err, sizeof(config_err), "%s:%d: unknown setting '%s'", cfg->path,
			         line, name);
		else
			snprintf(config_err, sizeof(config_err), "unknown setting '%s'", name);
		*error_r = config_err;
		return -1;
	}
	free(cfg->raw[idx]);
	cfg->raw[idx] = xstrdup(value);
	cfg->line[idx] = line;
	return 0;
}

int config_set(struct mxd_config *cfg, const char *name, const char *value, const char **error_r)
{
	if (config_store(cfg, name, value, -1, error_r) < 0)
		return -1;
	return config_finalize(cfg, error_r);
}

/* Hand one logical line (continuations joined) to config_store. */
static int config_line(struct mxd_config *cfg, char *text, int lineno, const char **error_r)
{
	char *eq = strchr(text, '=');
	if (eq == NULL) {
		snprintf(config_err, sizeof(config_err), "%s:%d: expected 'name = value'", cfg->path, lineno);
		*error_r = config_err;
		return -1;
	}
	*eq = '\0';
	char *name = str_trim(text);
	char *value = str_trim(eq + 1);
	if (*name == '\0') {
		snprintf(config_err, sizeof(config_err), "%s:%d: missing setting name before '='", cfg->path,
		         lineno);
		*error_r = config_err;
		return -1;
	}
	return config_store(cfg, name, value, lineno, error_r);
}

int config_load(struct mxd_config *cfg, const char *path, const char **error_r)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		snprintf(config_err, sizeof(config_err), "cannot open %s: %s", path, strerror(errno));
		*error_r = config_err;
		return -1;
	}
	free(cfg->path);
	cfg->path = xstrdup(path);
	char *logical = NULL, *buf = NULL;
	size_t bufcap = 0;
	int lineno = 0, logical_line = 0, ret = 0;
	ssize_t n;
	while ((n = getline(&buf, &bufcap, f)) >= 0) {
		lineno++;
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
			buf[--n] = '\0';
		char *t = str_trim(buf);
		if (*t == '#' || *t == '\0')
			continue;
		if (isspace((unsigned char)buf[0]) && logical != NULL) {
			char *joined = xasprintf("%s %s", logical, t);
			free(logical);
			logical = joined;
			continue;
		}
		if (logical != NULL && config_line(cfg, logical, logical_line, error_r) < 0) {
			ret = -1;
			break;
		}
		free(logical);
		logical = xstrdup(t);
		logical_line = lineno;
	}
	if (ret == 0 && logical != NULL && config_line(cfg, logical, logical_line, error_r) < 0)
		ret = -1;
	free(logical);
	free(buf);
	fclose(f);
	if (ret == 0)
		ret = config_finalize(cfg, error_r);
	return ret;
}

void config_dump(const struct mxd_config *cfg, FILE *out, bool only_non_default)
{
	for (size_t i = 0; i < NSETTINGS; i++) {
		if (only_non_default && strcmp(cfg->raw[i], settings[i].def) == 0)
			continue;
		fprintf(out, "%s = %s\n", settings[i].name, cfg->raw[i]);
	}
}

const char *config_raw_value(const struct mxd_config *cfg, const char *name)
{
	size_t idx;
	if (setting_find(name, &idx) == NULL)
		return NULL;
	return cfg->raw[idx];
}

char **config_list(const char *value, size_t *n_r)
{
	size_t n = 0, cap = 4;
	char **list = xmalloc(cap * sizeof(char *));
	const char *p = value;
	for (;;) {
		p += strspn(p, ", \t");
		if (*p == '\0')
			break;
		size_t len = strcspn(p, ", \t");
		if (n + 2 > cap)
			list = xrealloc(list, (cap *= 2) * sizeof(char *));
		list[n++] = xstrndup(p, len);
		p += len;
	}
	list[n] = NULL;
	if (n_r != NULL)
		*n_r = n;
	return list;
}

void config_list_free(char ***listp)
{
	char **list = *listp;
	if (list == NULL)
		return;
	for (size_t i = 0; list[i] != NULL; i++)
		free(list[i]);
	free(list);
	*listp = NULL;
}
