/*
 * config: mxd.conf, read once into a struct mxd_config by one table of settings.
 *
 * The file holds "name = value" lines; '#' starts a comment line; a line that starts with white space
 * continues the previous value (as in Postfix's main.cf). A value may reference another setting as
 * $name or ${name}; references are expanded after the whole file is read. Setting names follow
 * Postfix's where one exists. The table drives parsing, validation, error messages ("file:line:
 * setting: what is allowed") and the dump printed by "mxctl config" (like postconf / postconf -n).
 *
 * Time values take a unit suffix s, m, h, d or w; without one the setting's own default unit applies
 * (as in Postfix: maximal_queue_lifetime = 5 means 5 days). Size values are bytes (k, m, g suffixes
 * allowed). A config is owned by its creator: config_new() pairs with config_free().
 */
#ifndef MXD_CONFIG_H
#define MXD_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define MXD_DEFAULT_CONFIG "/etc/mxd/mxd.conf"

struct mxd_config {
	/* general */
	char *role; /* "primary" or "secondary" */
	char *myhostname;
	char *mydomain;
	char *database;
	char *queue_directory;
	char *maillog_file;
	char *syslog_name;
	char *mail_owner;
	bool debug;
	char *resolver;

	/* inbound SMTP */
	char *smtpd_listen;
	char *smtpd_banner;
	char *mynetworks;
	int64_t message_size_limit;
	int64_t smtpd_recipient_limit;
	int64_t smtpd_client_connection_limit;
	int64_t smtpd_connection_limit;
	int64_t smtpd_client_ipv6_prefix_length; /* per-client counts take an IPv6 client's /N as one */
	int64_t smtpd_timeout;       /* deadline per command line, and for DATA (moved by the next) */
	int64_t smtpd_min_data_rate; /* DATA: bytes/s that move the deadline by a second; 0: idle time */
	int64_t smtpd_hard_error_limit;
	int64_t smtpd_greet_pause;
	char *smtpd_helo_restrictions;    /* reject_invalid_helo_hostname (default) or permit (any text) */
	bool strict_sender_domain_syntax; /* refuse MAIL FROM domains with labels over 63 octets */
	/* the connection gate (smtpd/smtp_session_gate.c) and the anvil rate limits (smtpd/anvil.h) */
	int64_t postscreen_greet_wait; /* pause before the banner for clients without a pregreet pass */
	int64_t postscreen_greet_ttl;  /* how long a pregreet pass is remembered */
	char *postscreen_dnsbl_sites;  /* "domain[=filter][*weight]", ... */
	int64_t postscreen_dnsbl_threshold;
	int64_t postscreen_dnsbl_allowlist_threshold; /* < 0: a score at or below it skips the pause */
	int64_t postscreen_dnsbl_timeout;
	bool smtpd_reject_unauth_pipelining;
	int64_t smtpd_client_connection_rate_limit;
	int64_t smtpd_client_message_rate_limit;
	int64_t smtpd_client_recipient_rate_limit;
	int64_t smtpd_client_new_tls_session_rate_limit;
	int64_t anvil_rate_time_unit;
	int64_t hopcount_limit;
	char *smtpd_tls_cert_file;
	char *smtpd_tls_key_file;
	char *recipient_delimiter;

	/* queue and delivery */
	int64_t queue_run_delay;
	int64_t minimal_backoff_time;
	int64_t maximal_backoff_time;
	int64_t maximal_queue_lifetime;
	int64_t delay_warning_time;
	int64_t failed_retention; /* failed messages kept this long (0: removed after the bounce) */
	int64_t fallback_after; /* an alias's fallback is tried after this long deferred (0: only on a 5xx) */
	int64_t
	    owner_warning_time; /* a domain's report address hears of a forward deferred this long (0: off) */
	int64_t owner_notice_interval;  /* at most one owner notice per destination this often */
	int64_t owner_digest_interval;  /* the rest of the owner events: one digest per domain this often */
	int64_t delivery_log_retention; /* rows of queue.db's delivery log kept this long */
	char *relayhost;
	int64_t default_destination_concurrency_limit;
	int64_t smtp_concurrency_limit;
	int64_t
	    default_destination_rate_delay; /* seconds between two deliveries to one destination (0: none) */
	int64_t smtp_connect_timeout;
	int64_t smtp_helo_timeout;
	int64_t smtp_data_timeout;
	char *smtp_helo_name;
	char *smtp_tls_security_level;
	char *smtp_tls_CAfile;
	int64_t smtp_connection_reuse_count;
	int64_t smtp_tcp_port;
	bool smtp_allow_private_destinations; /* MX addresses in private or link-local ranges */

	/* high availability */
	char *primary_hosts;            /* secondary: where to relay ("[host]:port, ..."); empty: better MX */
	int64_t replica_max_age;        /* secondary: older replica -> 451 for unknown recipients */
	int64_t primary_probe_interval; /* secondary: probe the primary this often while holding mail */
	int64_t takeover_after;         /* secondary: primary down this long -> deliver directly (0: off) */
	char *trusted_peers;            /* our other MX hosts: relay allowed, their checks honoured */

	/* operations */
	char *metrics_listen; /* Prometheus endpoint, e.g. 127.0.0.1:9125; empty: off */

	/* sender authentication: SPF in, SRS out */
	char *spf_policy;               /* "off", "tag" (headers only) or "reject" (550 5.7.23 on fail) */
	int64_t spf_check_limit;        /* SPF checks in flight in all; beyond: temperror */
	int64_t spf_client_check_limit; /* SPF checks in flight per client; beyond: temperror */
	char *smtpd_milters;            /* content filters: inet:addr:port, unix:/path, in order */
	char *milter_default_action; /* a milter that fails: "tempfail", "accept", "reject", "quarantine" */
	int64_t milter_connect_timeout; /* seconds */
	int64_t milter_command_timeout; /* seconds, each command up to DATA */
	int64_t milter_content_timeout; /* seconds, each header, body chunk and end of message */
	int64_t milter_protocol;        /* Sendmail milter protocol version offered (2..6) */
	char *srs_domain;               /* SRS addresses live here; "" turns SRS off */
	char *dkim_key_directory;       /* DKIM keys: DIRECTORY/DOMAIN/SELECTOR.pem (PEM, PKCS#8) */
	char *arc_signing_domain;       /* ARC seals are signed as d= this domain ("" : no ARC sealing) */
	char *arc_selector;             /* ... with the key of this selector */
	char *srs_secret_file;          /* one secret per line: the first signs, all verify */
	char *srs_exclude_domains;      /* senders at these domains keep their address */
	bool srs_bounce_only; /* RCPT to an SRS address only with the null sender (no relay token) */

	/* the self-check (mxctl check) */
	char *check_smtp_probe; /* host:port a check connects to, to see outbound port 25 open; "": skip */
	bool check_at_start;    /* mxd runs the self-check at start and logs what is not OK */
	/* DKIM and DMARC of received content: mxd/smtpd/msg_auth.c */
	char *dmarc_policy;             /* "off" (no checks), "tag" (headers), "enforce" (550 p=reject) */
	bool dmarc_from_rewrite;        /* p=reject, DMARC passed by SPF only: From becomes the alias */
	char *arc_trusted_sealers;      /* forwarders whose passing ARC chain overrides a DMARC failure */
	char *dmarc_public_suffix_list; /* organizational domains (Debian's publicsuffix package) */

	/* admin UI (mxadmin) */
	char *admin_listen;
	char *admin_allow;
	char *admin_hostnames;
	char *admin_tls_cert_file;
	char *admin_tls_key_file;
	int64_t admin_session_timeout;
	int64_t admin_login_failure_limit;
	int64_t admin_login_failure_window;

	/* replication of the tables: mxd/ha/sync_server.c (primary), mxd/ha/sync_client.c (secondary) */
	char *sync_listen;        /* primary: "addr:port" of the change feed; empty: not served */
	char *sync_tls_cert_file; /* primary: the feed's certificate chain and key (PEM) */
	char *sync_tls_key_file;
	int64_t sync_changelog_lifetime; /* primary: change-log rows older than this are trimmed */
	char *sync_secret_file;          /* both: the shared secret (its first line), never logged */
	char *sync_primary;              /* secondary: "host:port" of the primary's feed; empty: none */
	char *sync_tls_CAfile;           /* secondary: CAs that verify the primary (empty: system's) */
	char *sync_tls_server_name;      /* secondary: the name to verify (empty: sync_primary's host) */
	int64_t sync_interval;           /* secondary: pull this often */
	int64_t sync_timeout;            /* secondary: connect and read timeout of one pull */

	/* internal: raw values and where they were set */
	char **raw;
	int *line;
	char *path;
};

/* A config holding every default. Never NULL. */
struct mxd_config *config_new(void);
void config_free(struct mxd_config **cfg);

/* Read path into cfg (over the defaults). 0, or -1 with *error_r = "file:line: ..." (static storage,
 * valid until the next call in this thread). */
int config_load(struct mxd_config *cfg, const char *path, const char **error_r);

/* Set one setting as if read from a file line (used by tests and "-o name=value"). 0 or -1. */
int config_set(struct mxd_config *cfg, const char *name, const char *value, const char **error_r);

/* Print "name = value" for every setting, or only for those set away from their default. */
void config_dump(const struct mxd_config *cfg, FILE *out, bool only_non_default);

/* The raw (unexpanded) value of a named setting, or NULL when there is no such setting. */
const char *config_raw_value(const struct mxd_config *cfg, const char *name);

/* Split a list value (comma and/or white space separated) into a NULL-terminated array of strings.
 * Free with config_list_free(). *n_r (if not NULL) gets the count. */
char **config_list(const char *value, size_t *n_r);
void config_list_free(char ***list);

#endif
