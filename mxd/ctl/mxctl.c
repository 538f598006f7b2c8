/*
 * mxctl: see mxctl.h. main(): global options (-c FILE, -o NAME=VALUE), the configuration (-c, else
 * $MXD_CONFIG, else MXD_DEFAULT_CONFIG; only the default path may be missing, then the built-in
 * defaults apply), the switch to mail_owner for commands that touch the database or the queue (so the
 * files they create stay usable by mxd), and the dispatch table.
 */
#include "mxd/ctl/mxctl.h"

#include "mxd/common/privs.h"
#include "mxd/common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct mxctl_command {
	const char *name;
	int (*run)(struct mxctl *ctl, int argc, char **argv);
	bool as_mail_owner; /* touches the database or the queue: run as mail_owner */
};

static const struct mxctl_command commands[] = {
    {"init", mxctl_cmd_init, true},
    {"config", mxctl_cmd_config, false},
    {"domain", mxctl_cmd_domain, true},
    {"alias", mxctl_cmd_alias, true},
    {"aliasdomain", mxctl_cmd_aliasdomain, true},
    {"resolve", mxctl_cmd_resolve, true},
    {"queue", mxctl_cmd_queue, true},
    {"route", mxctl_cmd_route, true},
    {"admin", mxctl_cmd_admin, true},
    {"sync", mxctl_cmd_sync, true},
    {"status", mxctl_cmd_status, true},
    {"secret", mxctl_cmd_secret, false},
    {"dkim", mxctl_cmd_dkim, false},
    {"check", mxctl_cmd_check, true}, /* opens the database: as mail_owner, so no -shm file is root's */
};

static const char usage_text[] =
    "usage: mxctl [-c FILE] [-o NAME=VALUE]... COMMAND [ARGS...]\n"
    "\n"
    "  -c FILE            configuration file (default: $MXD_CONFIG or " MXD_DEFAULT_CONFIG ")\n"
    "  -o NAME=VALUE      override a setting\n"
    "\n"
    "commands:\n"
    "  init                                    create or upgrade the database, create queue_directory\n"
    "  config [-n|-d] [NAME...]                print settings (-n: changed from the default only;\n"
    "                                          -d: the defaults)\n"
    "  domain add NAME [--description TEXT] [--alias-limit N]\n"
    "  domain set NAME [--description TEXT] [--alias-limit N]\n"
    "  domain list | show NAME | del NAME | enable NAME | disable NAME\n"
    "  alias add [--replace] ADDRESS DEST [DEST...]   ADDRESS '@domain' is the catch-all\n"
    "  alias list [DOMAIN] | show ADDRESS | del ADDRESS | enable ADDRESS | disable ADDRESS\n"
    "  aliasdomain add ALIAS_DOMAIN TARGET_DOMAIN\n"
    "  aliasdomain list | del ALIAS_DOMAIN | enable ALIAS_DOMAIN | disable ALIAS_DOMAIN\n"
    "  resolve ADDRESS                         where mail to ADDRESS goes (exit 1: nowhere)\n"
    "  queue ...                               inspect and manage the mail queue (mxctl queue help)\n"
    "  route add|list|del|stats ...            routing rules and their counters (mxctl route help)\n"
    "  admin add|list|del|passwd|token ...     administrators of the admin UI (mxctl admin help)\n"
    "  sync status | new-log                   replication: replica version, lag, last error\n"
    "  status                                  queue and live counters (from metrics_listen)\n"
    "  secret sync|srs [FILE]                  write a new random secret for sync_secret_file or\n"
    "                                          srs_secret_file (never overwrites a file)\n"
    "  dkim keygen DOMAIN [--selector S] [--type rsa|ed25519] [--force]\n"
    "                                          a DKIM key in dkim_key_directory; prints its DNS record\n"
    "  dkim list                               the keys, and whether the DNS publishes each\n"
    "  check [DOMAIN] [--no-probe]             the self-check: DNS records, reverse DNS, port 25,\n"
    "                                          certificate, replica (exit 1 on a FAIL)\n"
    "\n"
    "exit status: 0 success, 1 bad input or failed operation, 2 usage error\n";

static void usage(FILE *out)
{
	fputs(usage_text, out);
}

/* Load the configuration: an explicit path must exist; the default one may be missing. */
static int load_config(struct mxctl *ctl, bool explicit_path, const char **error_r)
{
	if (!explicit_path && access(ctl->config_path, F_OK) < 0 && errno == ENOENT)
		return 0;
	return config_load(ctl->cfg, ctl->config_path, error_r);
}

static int switch_to_mail_owner(const struct mxd_config *cfg, const char **error_r)
{
	char *db_copy = xstrdup(cfg->database);
	char *wal = xasprintf("%s-wal", cfg->database), *shm = xasprintf("%s-shm", cfg->database);
	const char *dirs[] = {cfg->queue_directory, dirname(db_copy), NULL};
	const char *files[] = {cfg->database, wal, shm, NULL};
	int ret = privs_drop(cfg->mail_owner, dirs, files, error_r);
	free(db_copy);
	free(wal);
	free(shm);
	return ret;
}

/* mxctl drops to mail_owner before it runs a command, and a password file is often readable by root only.
 * So a --password-file / --auth-password-file given to a command is read first, while still root, and
 * handed over on standard input (the commands read it there with --auth-password-stdin, or by default).
 * 0, or -1 with a message. */
static int preread_password_file(int *argc, char **argv)
{
	for (int i = 1; i + 1 < *argc; i++) {
		bool route = strcmp(argv[i], "--auth-password-file") == 0;
		if (!route && strcmp(argv[i], "--password-file") != 0)
			continue;
		char buf[4096];
		int fd = open(argv[i + 1], O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
		if (fd >= 0)
			close(fd);
		if (n < 0) {
			fprintf(stderr, "mxctl: %s %s: %s\n", argv[i], argv[i + 1], strerror(errno));
			return -1;
		}
		int p[2];
		int ok =
		    pipe(p) == 0 && fd_write_all(p[1], buf, (size_t)n) == 0 && dup2(p[0], STDIN_FILENO) >= 0;
		explicit_bzero(buf, sizeof(buf));
		if (!ok) {
			fprintf(stderr, "mxctl: %s: %s\n", argv[i], strerror(errno));
			return -1;
		}
		close(p[0]);
		close(p[1]);
		/* route: "--auth-password-file F" becomes "--auth-password-stdin"; admin: "--password-file F"
		 * goes, as stdin is where it reads the password by default */
		int from = route ? i + 1 : i, gone = route ? 1 : 2;
		if (route)
			argv[i] = "--auth-password-stdin";
		for (int j = from; j + gone <= *argc; j++)
			argv[j] = argv[j + gone];
		*argc -= gone;
		return 0;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *env = getenv("MXD_CONFIG");
	struct mxctl ctl = {.config_path = env != NULL && *env != '\0' ? env : MXD_DEFAULT_CONFIG};
	bool explicit_path = env != NULL && *env != '\0';
	char **overrides = xcalloc((size_t)argc + 1, sizeof(char *));
	size_t noverrides = 0;
	const char *error;
	int opt, ret = 2;

	while ((opt = getopt(argc, argv, "+c:o:hV")) != -1) {
		switch (opt) {
		case 'c':
			ctl.config_path = optarg;
			explicit_path = true;
			break;
		case 'o':
			overrides[noverrides++] = optarg;
			break;
		case 'h':
			usage(stdout);
			free(overrides);
			return 0;
		case 'V':
			printf("mxctl %s\n", MXD_VERSION);
			free(overrides);
			return 0;
		default:
			usage(stderr);
			free(overrides);
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0 || strcmp(argv[0], "help") == 0) {
		usage(argc == 0 ? stderr : stdout);
		free(overrides);
		return argc == 0 ? 2 : 0;
	}

	const struct mxctl_command *cmd = NULL;
	for (size_t i = 0; i < MXD_ARRAY_SIZE(commands); i++) {
		if (strcmp(commands[i].name, argv[0]) == 0)
			cmd = &commands[i];
	}
	if (cmd == NULL) {
		fprintf(stderr, "mxctl: unknown command '%s' (mxctl help lists them)\n", argv[0]);
		free(overrides);
		return 2;
	}

	ctl.cfg = config_new();
	if (load_config(&ctl, explicit_path, &error) < 0) {
		fprintf(stderr, "mxctl: %s\n", error);
		ret = 1;
		goto out;
	}
	for (size_t i = 0; i < noverrides; i++) {
		char *eq = strchr(overrides[i], '=');
		if (eq == NULL) {
			fprintf(stderr, "mxctl: -o %s: expected NAME=VALUE\n", overrides[i]);
			goto out;
		}
		*eq = '\0';
		if (config_set(ctl.cfg, str_trim(overrides[i]), str_trim(eq + 1), &error) < 0) {
			fprintf(stderr, "mxctl: -o: %s\n", error);
			ret = 1;
			goto out;
		}
	}
	if (cmd->as_mail_owner && geteuid() == 0 && ctl.cfg->mail_owner[0] != '\0' &&
	    preread_password_file(&argc, argv) < 0) {
		ret = 1;
		goto out;
	}
	if (cmd->as_mail_owner && switch_to_mail_owner(ctl.cfg, &error) < 0) {
		fprintf(stderr, "mxctl: %s\n", error);
		ret = 1;
		goto out;
	}
	ret = cmd->run(&ctl, argc, argv);
	if (fflush(stdout) != 0 && ret == 0) {
		fprintf(stderr, "mxctl: writing output: %s\n", strerror(errno));
		ret = 1;
	}
out:
	config_free(&ctl.cfg);
	free(overrides);
	return ret;
}
