/*
 * main: the mxd daemon. Reads the configuration, binds the listeners, drops privileges, opens the
 * tables and the queue, and runs the event loop in the foreground (a service manager runs it) until
 * SIGTERM/SIGINT, which stops accepting, lets sessions finish (up to 10 s) and leaves the queue
 * consistent. SIGHUP reopens maillog_file. Any failure to start is a clear message and exit status 1.
 */
#include "db/db.h"
#include "mxd/check/check_startup.h"
#include "mxd/auth/arc_seal.h"
#include "mxd/auth/auth_worker.h"
#include "mxd/dns/dns.h"
#include "mxd/common/config.h"
#include "mxd/common/log.h"
#include "mxd/metrics/metrics.h"
#include "mxd/smtpd/msg_auth.h"
#include "mxd/smtpd/milter.h"
#include "mxd/smtpd/policy.h"
#include "mxd/common/privs.h"
#include "mxd/delivery/qmgr.h"
#include "mxd/queue/queue_store.h"
#include "mxd/common/sdnotify.h"
#include "mxd/smtpd/smtp_server.h"
#include "mxd/smtpd/spf.h"
#include "mxd/smtpd/spf_helper.h"
#include "mxd/ha/sync_client.h"
#include "mxd/ha/sync_server.h"
#include "mxd/common/tls.h"
#include "mxd/common/util.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <libgen.h>
#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SHUTDOWN_GRACE_MSEC 10000

struct mxd {
	struct mxd_config *cfg;
	struct event_base *base;
	struct smtp_server *smtp;
	struct policy *policy;
	struct spf *spf; /* NULL with spf_policy = off */
	struct dns *dns; /* the receiving side's resolver: keys of the ARC chains messages arrive with */
	struct arc_sealer *arc;          /* NULL: no key, no ARC seal */
	struct auth_worker *auth_worker; /* ARC signatures off the event loop */
	struct msg_auth *auth; /* DKIM and DMARC of received content (dmarc_policy decides per message) */
	struct queue_store *queue;
	struct qmgr *qmgr;
	struct sync_server *sync_server; /* primary: the change feed */
	struct sync_client *sync_client; /* secondary: the replica's puller */
	struct metrics *metrics;
	struct db *metrics_db;
	const char *config_path;
	char **overrides; /* -o name=value, applied after the file (and again on reload) */
	size_t noverrides;
	struct mxd_config **retired; /* configurations replaced by a reload: threads may still read them */
	size_t nretired;
	SSL_CTX *tls_ctx;
	struct event *sig_term, *sig_int, *sig_hup, *shutdown_timer;
	int64_t shutdown_deadline;
};

static void usage(void)
{
	fprintf(stderr, "usage: mxd [-c config_file] [-o name=value] [-d] [-v]\n"
	                "  -c FILE        configuration file (default " MXD_DEFAULT_CONFIG ")\n"
	                "  -o name=value  override a setting\n"
	                "  -d             debug logging\n"
	                "  -v             print the version and exit\n");
	exit(2);
}

static void shutdown_tick(evutil_socket_t fd, short what, void *ctx)
{
	struct mxd *m = ctx;
	if (smtp_server_session_count(m->smtp) == 0 || time_mono_msec() >= m->shutdown_deadline) {
		event_base_loopexit(m->base, NULL);
		return;
	}
	struct timeval tv = {0, 100000};
	evtimer_add(m->shutdown_timer, &tv);
}

static void mxd_reload(struct mxd *m);

static void on_signal(evutil_socket_t sig, short what, void *ctx)
{
	struct mxd *m = ctx;
	if (sig == SIGHUP) {
		if (m->shutdown_deadline == 0)
			mxd_reload(m);
		return;
	}
	if (m->shutdown_deadline != 0)
		return;
	log_info("master", "terminating on signal %d", (int)sig);
	sd_notify_stopping();
	m->shutdown_deadline = time_mono_msec() + SHUTDOWN_GRACE_MSEC;
	smtp_server_shutdown(m->smtp);
	shutdown_tick(-1, 0, m);
}

static void on_queued(void *ctx, const char *id)
{
	qmgr_queued(ctx, id);
}

static void on_etrn(void *ctx)
{
	qmgr_flush(ctx);
}

/* Each connection is a descriptor: raise the soft limit so smtpd_connection_limit can be reached
 * (root may raise the hard limit as well; without that right, up to the hard limit). */
static void raise_fd_limit(const struct mxd_config *cfg)
{
	struct rlimit rl, want;
	rlim_t need = (rlim_t)cfg->smtpd_connection_limit + (rlim_t)cfg->smtp_concurrency_limit + 256;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= need)
		return;
	want.rlim_cur = need;
	want.rlim_max = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? rl.rlim_max : need;
	if (setrlimit(RLIMIT_NOFILE, &want) == 0)
		return;
	want.rlim_cur = rl.rlim_max == RLIM_INFINITY ? need : rl.rlim_max;
	want.rlim_max = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &want) < 0)
		want.rlim_cur = rl.rlim_cur;
	log_warn("master", "open files limited to %llu, fewer than smtpd_connection_limit needs (%llu)",
	         (unsigned long long)want.rlim_cur, (unsigned long long)need);
}

/* The SPF checker's bounds from the settings (fixed once it runs: a reload keeps them). */
static struct spf_options spf_options_of(const struct mxd_config *cfg)
{
	struct spf_options opts = {0};
	opts.max_checks = (unsigned)cfg->spf_check_limit;
	opts.max_client_checks = (unsigned)cfg->spf_client_check_limit;
	opts.ipv6_prefix = (unsigned)cfg->smtpd_client_ipv6_prefix_length;
	opts.helper_user = cfg->mail_owner;
	return opts;
}

static void arc_start(struct mxd *m);

static void mxd_start(struct mxd *m)
{
	const struct mxd_config *cfg = m->cfg;
	const char *error;
	char *db_copy = xstrdup(cfg->database);
	char *wal = xasprintf("%s-wal", cfg->database), *shm = xasprintf("%s-shm", cfg->database);
	const char *dirs[] = {cfg->queue_directory, dirname(db_copy), NULL};
	const char *files[] = {cfg->database, wal, shm, NULL};

	raise_fd_limit(cfg);
	if ((cfg->smtpd_tls_cert_file[0] == '\0') != (cfg->smtpd_tls_key_file[0] == '\0'))
		log_fatal("master", "smtpd_tls_cert_file and smtpd_tls_key_file must be set together");
	if (cfg->smtpd_tls_cert_file[0] != '\0' &&
	    tls_server_ctx_new(cfg->smtpd_tls_cert_file, cfg->smtpd_tls_key_file, &m->tls_ctx, &error) < 0)
		log_fatal("master", "%s", error);
	if (smtp_server_bind(m->base, cfg, &m->smtp, &error) < 0)
		log_fatal("master", "%s", error);
	if (sync_server_new(cfg, &m->sync_server, &error) < 0 ||
	    sync_client_new(cfg, &m->sync_client, &error) < 0)
		log_fatal("master", "%s", error);
	if (privs_drop(cfg->mail_owner, dirs, files, &error) < 0)
		log_fatal("master", "%s", error);
	free(db_copy);
	free(wal);
	free(shm);

	struct db *db;
	if (db_open(cfg->database, DB_OPEN_READWRITE, &db, &error) < 0)
		log_fatal("master", "%s", error);
	if (policy_new(cfg, db, &m->policy, &error) < 0)
		log_fatal("master", "%s", error);
	if (strcmp(cfg->spf_policy, "off") != 0) {
		struct spf_options opts = spf_options_of(cfg);
		if (spf_new(m->base, cfg->resolver, cfg->myhostname, &opts, &m->spf, &error) < 0)
			log_fatal("master", "SPF checks: %s", error);
		policy_set_spf(m->policy, m->spf);
	}
	if (queue_store_open(cfg->queue_directory, &m->queue, &error) < 0 ||
	    queue_store_start(m->queue, m->base, &error) < 0)
		log_fatal("master", "queue_directory %s: %s", cfg->queue_directory, error);
	if (qmgr_start(cfg, m->queue, &m->qmgr, &error) < 0)
		log_fatal("master", "queue manager: %s", error);
	if (sync_server_start(m->sync_server, &error) < 0 || sync_client_start(m->sync_client, &error) < 0)
		log_fatal("master", "%s", error);
	if (strcmp(cfg->dmarc_policy, "enforce") == 0 && strcmp(cfg->spf_policy, "off") == 0)
		log_warn("master",
		         "dmarc_policy = enforce with spf_policy = off: DMARC failures are only tagged, "
		         "since a DMARC verdict without SPF would refuse mail that passes by SPF");
	m->auth = msg_auth_new(m->base, cfg->resolver, cfg->dmarc_public_suffix_list, &error);
	if (m->auth == NULL)
		log_fatal("master", "DKIM/DMARC checks: %s", error);
	smtp_server_set_auth(m->smtp, m->auth);
	smtp_server_on_queued(m->smtp, on_queued, on_etrn, m->qmgr);
	arc_start(m);
	smtp_server_start(m->smtp, m->policy, m->queue, m->tls_ctx);
	if (cfg->metrics_listen[0] != '\0' &&
	    db_open(cfg->database, DB_OPEN_READWRITE, &m->metrics_db, &error) < 0)
		log_fatal("master", "%s", error);
	struct metrics_sources src = {cfg, m->smtp, m->qmgr, m->queue, m->metrics_db};
	if (metrics_start(m->base, &src, &m->metrics, &error) < 0)
		log_fatal("master", "%s", error);
}

/* ARC: a resolver for the keys of arriving chains, and our key (read as mail_owner, once: a change of
 * key needs a restart). No key: messages are forwarded unsealed, said once here. */
static void arc_start(struct mxd *m)
{
	const char *error;
	if ((m->dns = dns_new(m->base, m->cfg->resolver, &error)) == NULL)
		log_fatal("master", "resolver: %s", error);
	dns_set_timeout(m->dns, 5000); /* below the shutdown grace: a check ends before mxd does */
	if (arc_sealer_new(m->cfg->dkim_key_directory, m->cfg->arc_signing_domain, m->cfg->arc_selector,
	                   &m->arc, &error) < 0)
		log_warn("master", "ARC sealing off: no key for arc_signing_domain: %s", error);
	else
		log_info("master", "ARC sealing as d=%s s=%s", m->cfg->arc_signing_domain,
		         m->cfg->arc_selector);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (auth_worker_new(m->base, cpus > 1 ? (unsigned)cpus : 1, &m->auth_worker, &error) < 0)
		log_fatal("master", "%s", error);
	smtp_server_set_arc(m->smtp, m->dns, m->arc, m->auth_worker);
}

/* Read the configuration file and the -o overrides into a new config. NULL with *error_r. */
static struct mxd_config *mxd_load_config(const struct mxd *m, const char **error_r)
{
	static __thread char err[600];
	struct mxd_config *cfg = config_new();
	if (config_load(cfg, m->config_path, error_r) < 0) {
		config_free(&cfg);
		return NULL;
	}
	for (size_t i = 0; i < m->noverrides; i++) {
		const char *eq = strchr(m->overrides[i], '=');
		char *name = eq != NULL ? xstrndup(m->overrides[i], (size_t)(eq - m->overrides[i])) : NULL;
		int rc = name != NULL ? config_set(cfg, name, eq + 1, error_r) : -1;
		if (name == NULL) {
			snprintf(err, sizeof(err), "-o %s: expected name=value", m->overrides[i]);
			*error_r = err;
		}
		free(name);
		if (rc < 0) {
			config_free(&cfg);
			return NULL;
		}
	}
	return cfg;
}

/* Settings that only a restart applies: a reload keeps their running values and says so. */
static const char *const restart_settings[] = {
    "role",
    "smtpd_listen",
    "database",
    "queue_directory",
    "mail_owner",
    "admin_listen",
    "sync_listen",
    "sync_tls_cert_file",
    "sync_tls_key_file",
    "sync_secret_file",
    "sync_primary",
    "sync_tls_CAfile",
    "sync_tls_server_name",
    "sync_interval",
    "sync_timeout",
    "sync_changelog_lifetime",
    "arc_signing_domain", /* the ARC key is read once, at start */
    "arc_selector",
};

/* SIGHUP: read the configuration again and apply it without dropping sessions: limits, mynetworks,
 * TLS certificates, log file, delivery settings (the queue manager restarts; recipients it was working
 * on stay queued and are tried again). The tables need no reload: every lookup reads them. */
static void mxd_reload_apply(struct mxd *m)
{
	const char *error;
	struct mxd_config *cfg = mxd_load_config(m, &error);
	if (cfg == NULL) {
		log_warn("master", "reload failed, the running configuration stays: %s", error);
		return;
	}
	for (size_t i = 0; i < MXD_ARRAY_SIZE(restart_settings); i++) {
		const char *old = config_raw_value(m->cfg, restart_settings[i]);
		const char *now = config_raw_value(cfg, restart_settings[i]);
		if (old == NULL || now == NULL || strcmp(old, now) == 0)
			continue;
		log_warn("master", "reload: %s changed; restart mxd to apply it", restart_settings[i]);
		char *keep = xstrdup(old);
		if (config_set(cfg, restart_settings[i], keep, &error) < 0)
			log_warn("master", "reload: %s", error);
		free(keep);
	}
	struct milter_spec *milters;
	size_t nmilters;
	if (milter_specs_parse(cfg->smtpd_milters, &milters, &nmilters, &error) < 0) {
		log_warn("master", "reload failed, the running configuration stays: %s", error);
		config_free(&cfg);
		return;
	}
	free(milters);
	SSL_CTX *tls = NULL;
	if (cfg->smtpd_tls_cert_file[0] != '\0' && cfg->smtpd_tls_key_file[0] != '\0' &&
	    tls_server_ctx_new(cfg->smtpd_tls_cert_file, cfg->smtpd_tls_key_file, &tls, &error) < 0) {
		log_warn("master", "reload failed, the running configuration stays: %s", error);
		config_free(&cfg);
		return;
	}
	struct db *db = NULL;
	struct policy *policy;
	if (db_open(cfg->database, DB_OPEN_READWRITE, &db, &error) < 0 ||
	    policy_new(cfg, db, &policy, &error) < 0) {
		log_warn("master", "reload failed, the running configuration stays: %s", error);
		db_close(&db); /* policy_new takes it only when it succeeds */
		if (tls != NULL)
			SSL_CTX_free(tls);
		config_free(&cfg);
		return;
	}
	if (strcmp(cfg->spf_policy, "off") != 0) {
		struct spf_options opts = spf_options_of(cfg);
		if (m->spf == NULL &&
		    spf_new(m->base, cfg->resolver, cfg->myhostname, &opts, &m->spf, &error) < 0)
			log_warn("master", "reload: SPF checks: %s", error);
		if (m->spf != NULL)
			policy_set_spf(policy, m->spf);
	}
	if (log_open(cfg->maillog_file, cfg->myhostname, cfg->syslog_name, &error) < 0)
		log_warn("master", "reload: %s", error);
	metrics_free(&m->metrics);
	smtp_server_on_queued(m->smtp, NULL, NULL, NULL);
	qmgr_stop(&m->qmgr);
	smtp_server_reload(m->smtp, cfg, policy, tls);
	policy_free(&m->policy);
	if (m->tls_ctx != NULL)
		SSL_CTX_free(m->tls_ctx); /* sessions in TLS keep their own reference */
	m->policy = policy;
	m->tls_ctx = tls;
	m->retired = xrealloc(m->retired, (m->nretired + 1) * sizeof(*m->retired));
	m->retired[m->nretired++] = m->cfg;
	m->cfg = cfg;
	if (qmgr_start(cfg, m->queue, &m->qmgr, &error) < 0)
		log_fatal("master", "reload: queue manager: %s", error);
	smtp_server_on_queued(m->smtp, on_queued, on_etrn, m->qmgr);
	struct metrics_sources src = {cfg, m->smtp, m->qmgr, m->queue, m->metrics_db};
	if (metrics_start(m->base, &src, &m->metrics, &error) < 0)
		log_warn("master", "reload: %s", error);
	log_info("master", "reload -- configuration %s applied", m->config_path);
}

static void mxd_reload(struct mxd *m)
{
	sd_notify_send("RELOADING=1");
	mxd_reload_apply(m);
	sd_notify_ready();
}

int main(int argc, char **argv)
{
	spf_helper_dispatch(argc, argv); /* the SPF helper process: never returns */
	struct mxd m = {0};
	const char *config_path = getenv("MXD_CONFIG") != NULL ? getenv("MXD_CONFIG") : MXD_DEFAULT_CONFIG;
	const char *error;
	bool debug = false;
	int opt;

	m.overrides = xcalloc((size_t)argc + 1, sizeof(char *));
	while ((opt = getopt(argc, argv, "c:o:dv")) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'o':
			m.overrides[m.noverrides++] = optarg;
			break;
		case 'd':
			debug = true;
			break;
		case 'v':
			printf("mxd %s\n", MXD_VERSION);
			free(m.overrides);
			return 0;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	m.config_path = config_path;
	m.cfg = mxd_load_config(&m, &error);
	if (m.cfg == NULL) {
		fprintf(stderr, "mxd: fatal: %s\n", error);
		return 1;
	}
	if (log_open(m.cfg->maillog_file, m.cfg->myhostname, m.cfg->syslog_name, &error) < 0) {
		fprintf(stderr, "mxd: fatal: %s\n", error);
		return 1;
	}
	log_set_debug(debug || m.cfg->debug);
	signal(SIGPIPE, SIG_IGN);
	evthread_use_pthreads();
	m.base = event_base_new();
	if (m.base == NULL)
		log_fatal("master", "cannot create the event loop");

	mxd_start(&m);

	m.sig_term = evsignal_new(m.base, SIGTERM, on_signal, &m);
	m.sig_int = evsignal_new(m.base, SIGINT, on_signal, &m);
	m.sig_hup = evsignal_new(m.base, SIGHUP, on_signal, &m);
	m.shutdown_timer = evtimer_new(m.base, shutdown_tick, &m);
	evsignal_add(m.sig_term, NULL);
	evsignal_add(m.sig_int, NULL);
	evsignal_add(m.sig_hup, NULL);
	log_info("master", "daemon started -- version %s, configuration %s, role %s", MXD_VERSION,
	         config_path, m.cfg->role);
	if (sd_notify_ready() < 0 || sd_notify_watchdog_start(m.base) < 0)
		log_warn("master", "cannot notify the service manager: %s", strerror(errno));
	if (m.cfg->check_at_start && check_startup_start(m.cfg, &error) < 0)
		log_warn("master", "self-check: cannot start: %s", error);

	event_base_dispatch(m.base);

	/* The queue first: closing it runs the commit callbacks still due, which reply to their sessions. */
	metrics_free(&m.metrics);
	db_close(&m.metrics_db);
	smtp_server_on_queued(m.smtp, NULL, NULL, NULL);
	qmgr_stop(&m.qmgr);
	sync_client_free(&m.sync_client);
	sync_server_free(&m.sync_server);
	queue_store_close(&m.queue);
	smtp_server_free(&m.smtp);
	policy_free(&m.policy);
	spf_free(&m.spf);
	auth_worker_free(&m.auth_worker);
	dns_free(&m.dns);
	arc_sealer_free(&m.arc);
	msg_auth_free(&m.auth);
	if (m.tls_ctx != NULL)
		SSL_CTX_free(m.tls_ctx);
	event_free(m.sig_term);
	event_free(m.sig_int);
	event_free(m.sig_hup);
	event_free(m.shutdown_timer);
	event_base_free(m.base);
	log_info("master", "daemon stopped");
	config_free(&m.cfg);
	for (size_t i = 0; i < m.nretired; i++)
		config_free(&m.retired[i]);
	free(m.retired);
	free(m.overrides);
	return 0;
}
