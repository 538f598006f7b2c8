/*
 * main: the mxadmin daemon. Reads mxd.conf (the same file as mxd), binds admin_listen and reads the
 * TLS key while still root, switches to mail_owner (the owner of the database), opens the tables and
 * serves the admin UI in the foreground until SIGTERM/SIGINT; SIGHUP reopens maillog_file. Any failure
 * to start is a clear message and exit status 1.
 */
#include "admin/http.h"
#include "admin/ops.h"
#include "db/db.h"
#include "mxd/rewrite/expand.h"
#include "mxd/common/config.h"
#include "mxd/common/log.h"
#include "mxd/common/privs.h"
#include "mxd/common/util.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(void)
{
	fprintf(stderr,
	        "usage: mxadmin [-c config_file] [-o name=value] [-d] [-v]\n"
	        "  -c FILE        configuration file (default: $MXD_CONFIG or " MXD_DEFAULT_CONFIG ")\n"
	        "  -o name=value  override a setting\n"
	        "  -d             debug logging\n"
	        "  -v             print the version and exit\n");
	exit(2);
}

static struct mxd_config *load_config(int argc, char **argv)
{
	const char *env = getenv("MXD_CONFIG"),
	           *path = env != NULL && *env != '\0' ? env : MXD_DEFAULT_CONFIG;
	bool explicit_path = env != NULL && *env != '\0', debug = false;
	struct mxd_config *cfg = config_new();
	char **overrides = xcalloc((size_t)argc + 1, sizeof(char *));
	size_t noverrides = 0;
	const char *error;
	int opt;

	while ((opt = getopt(argc, argv, "c:o:dvh")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			explicit_path = true;
			break;
		case 'o':
			overrides[noverrides++] = optarg;
			break;
		case 'd':
			debug = true;
			break;
		case 'v':
			printf("mxadmin %s\n", MXD_VERSION);
			exit(0);
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if ((explicit_path || access(path, F_OK) == 0) && config_load(cfg, path, &error) < 0) {
		fprintf(stderr, "mxadmin: %s\n", error);
		exit(1);
	}
	for (size_t i = 0; i < noverrides; i++) {
		char *eq = strchr(overrides[i], '=');
		if (eq == NULL)
			usage();
		*eq = '\0';
		if (config_set(cfg, str_trim(overrides[i]), str_trim(eq + 1), &error) < 0) {
			fprintf(stderr, "mxadmin: -o: %s\n", error);
			exit(1);
		}
	}
	free(overrides);
	if (debug)
		log_set_debug(true);
	return cfg;
}

int main(int argc, char **argv)
{
	struct mxd_config *cfg = load_config(argc, argv);
	struct admin_ctx ctx = {.cfg = cfg};
	struct http_server *srv = NULL;
	char *cert, *key;
	const char *error;
	sigset_t sigs;
	int fd, sig;

	if (log_open(cfg->maillog_file, cfg->myhostname, cfg->syslog_name, &error) < 0) {
		fprintf(stderr, "mxadmin: %s\n", error);
		return 1;
	}
	if (sodium_init() < 0)
		log_fatal("mxadmin", "libsodium cannot be initialized");
	if (http_server_load_tls(cfg, &cert, &key, &error) < 0 || http_server_bind(cfg, &fd, &error) < 0)
		log_fatal("mxadmin", "%s", error);
	if (privs_drop(cfg->mail_owner, NULL, NULL, &error) < 0)
		log_fatal("mxadmin", "%s", error);
	if (db_open(cfg->database, DB_OPEN_READWRITE, &ctx.db, &error) < 0)
		log_fatal("mxadmin", "%s", error);
	db_set_alias_check(ctx.db, expand_check, (void *)cfg->recipient_delimiter);

	/* Signals go to this thread only: block them before the server's thread starts. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	int rc = http_server_start(&ctx, fd, cert, key, &srv, &error);
	if (key != NULL)
		sodium_memzero(key, strlen(key));
	free(cert);
	free(key);
	if (rc < 0)
		log_fatal("mxadmin", "%s", error);
	log_info("mxadmin", "listening on %s (%s)", cfg->admin_listen,
	         cfg->admin_tls_cert_file[0] != '\0' ? "https" : "http");

	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			if (log_open(cfg->maillog_file, cfg->myhostname, cfg->syslog_name, &error) < 0)
				log_warn("mxadmin", "%s", error);
			log_info("mxadmin", "reload -- maillog_file reopened");
			continue;
		}
		log_info("mxadmin", "terminating on signal %d", sig);
		break;
	}
	http_server_stop(&srv);
	queue_store_close(&ctx.qs);
	admin_check_stop();
	db_close(&ctx.db);
	config_free(&cfg);
	return 0;
}
