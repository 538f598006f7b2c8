/*
 * mxctl_admin: "mxctl admin add|list|del|passwd|token", the administrators of the admin UI (db/admin.h).
 * The first superadmin comes from here (mxadmin has no setup page). A password is never taken on the
 * command line (ps would show it): it comes from --password-file FILE (first line) or stdin (first
 * line; asked twice, without echo, when stdin is a terminal), and is wiped after use. "token" prints a
 * new API token once; only its hash is stored. Every change also writes an audit row (admin "mxctl").
 * Exit status as in mxctl.h.
 */
#include "mxd/ctl/mxctl.h"

#include "db/admin.h"
#include "db/audit.h"
#include "db/db.h"
#include "mxd/common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define ADMIN_PASSWORD_READ_MAX (DB_ADMIN_PASSWORD_MAX + 2)

static const char admin_usage[] =
    "usage: mxctl admin add NAME [--superadmin | --domain DOMAIN...] [--password-file FILE]\n"
    "       mxctl admin list\n"
    "       mxctl admin del NAME\n"
    "       mxctl admin passwd NAME [--password-file FILE]\n"
    "       mxctl admin token NAME [--revoke]\n"
    "Without --password-file the password is read from stdin (asked for when it is a terminal).\n";

static int admin_fail(const char *what, const char *error)
{
	fprintf(stderr, "mxctl: admin %s: ", what);
	for (const char *p = error; *p != '\0'; p++)
		fputc((unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p, stderr);
	fputc('\n', stderr);
	return 1;
}

/* Read one line from fd into buf (size octets, line end removed). 0, or -1 (too long or read error). */
static int admin_read_line(int fd, char *buf, size_t size)
{
	size_t len = 0;
	char c;

	for (;;) {
		ssize_t r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || c == '\n')
			break;
		if (len + 1 >= size)
			return -1;
		buf[len++] = c;
	}
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	return 0;
}

/* Ask for a password on the terminal (no echo). 0 or -1. */
static int admin_prompt(const char *prompt, char *buf, size_t size)
{
	struct termios old, quiet;
	bool tty = tcgetattr(STDIN_FILENO, &old) == 0;

	fputs(prompt, stderr);
	fflush(stderr);
	if (tty) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	int rc = admin_read_line(STDIN_FILENO, buf, size);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	return rc;
}

/* The password from --password-file or stdin into buf (ADMIN_PASSWORD_READ_MAX). 0 or -1 (reported). */
static int admin_password(const char *what, const char *file, char *buf)
{
	if (file != NULL) {
		int fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "mxctl: admin %s: password file '%s': %s\n", what, file,
			        strerror(errno));
			return -1;
		}
		int rc = admin_read_line(fd, buf, ADMIN_PASSWORD_READ_MAX);
		close(fd);
		if (rc < 0) {
			fprintf(stderr, "mxctl: admin %s: password file '%s': line too long\n", what, file);
			return -1;
		}
	} else if (isatty(STDIN_FILENO)) {
		char *again = xcalloc(1, ADMIN_PASSWORD_READ_MAX);
		int rc = admin_prompt("Password: ", buf, ADMIN_PASSWORD_READ_MAX) < 0 ||
		                 admin_prompt("Password again: ", again, ADMIN_PASSWORD_READ_MAX) < 0
		             ? -1
		         : strcmp(buf, again) != 0 ? -2
		                                   : 0;
		explicit_bzero(again, ADMIN_PASSWORD_READ_MAX);
		free(again);
		if (rc < 0) {
			fprintf(stderr, "mxctl: admin %s: %s\n", what,
			        rc == -2 ? "the passwords differ" : "password too long");
			return -1;
		}
	} else if (admin_read_line(STDIN_FILENO, buf, ADMIN_PASSWORD_READ_MAX) < 0) {
		fprintf(stderr, "mxctl: admin %s: password (stdin): line too long\n", what);
		return -1;
	}
	if (buf[0] == '\0') {
		fprintf(stderr, "mxctl: admin %s: password: empty\n", what);
		return -1;
	}
	return 0;
}

static void admin_audit(struct db *db, const char *action, const char *name, const char *detail)
{
	const char *error;

	if (db_audit_add(db, "mxctl", "local", action, name, NULL, detail, &error) < 0)
		fprintf(stderr, "mxctl: warning: audit log: %s\n", error);
}

/* Options of add/passwd/token: --superadmin, --domain D (repeatable), --password-file F, --revoke. */
struct admin_opts {
	bool superadmin, revoke;
	const char *password_file;
	const char **domains;
	size_t ndomains;
	const char *name;
};

static int admin_parse(const char *what, int argc, char **argv, bool role_opts, bool password_opts,
                       bool revoke_opt, struct admin_opts *o)
{
	o->domains = xcalloc((size_t)argc + 1, sizeof(char *));
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *value = strchr(a, '=');
		size_t len = value != NULL ? (size_t)(value - a) : strlen(a);
#define OPT(s) (len == strlen(s) && strncmp(a, s, len) == 0)
		if (role_opts && OPT("--superadmin") && value == NULL) {
			o->superadmin = true;
		} else if (revoke_opt && OPT("--revoke") && value == NULL) {
			o->revoke = true;
		} else if ((role_opts && OPT("--domain")) || (password_opts && OPT("--password-file"))) {
			const char *v = value != NULL ? value + 1 : (i + 1 < argc ? argv[++i] : NULL);
			if (v == NULL) {
				fprintf(stderr, "mxctl: admin %s: option '%.*s' needs a value\n%s", what,
				        (int)len, a, admin_usage);
				return -1;
			}
			if (OPT("--domain"))
				o->domains[o->ndomains++] = v;
			else
				o->password_file = v;
		} else if (OPT("--password")) {
			fprintf(stderr,
			        "mxctl: admin %s: a password is not taken on the command line (ps would show "
			        "it): use --password-file FILE or stdin\n",
			        what);
			return -1;
		} else if (a[0] == '-' && a[1] == '-') {
			fprintf(stderr, "mxctl: admin %s: unknown option '%s'\n%s", what, a, admin_usage);
			return -1;
		} else if (o->name == NULL) {
			o->name = a;
		} else {
			fprintf(stderr, "mxctl: admin %s: too many arguments\n%s", what, admin_usage);
			return -1;
		}
#undef OPT
	}
	if (o->name == NULL) {
		fprintf(stderr, "mxctl: admin %s: NAME missing\n%s", what, admin_usage);
		return -1;
	}
	if (o->superadmin && o->ndomains > 0) {
		fprintf(stderr, "mxctl: admin %s: give --superadmin or --domain, not both\n", what);
		return -1;
	}
	return 0;
}

static int admin_list(struct db *db)
{
	struct db_admin *list;
	const char *error;
	char when[32];
	size_t n;

	if (db_admin_list(db, &list, &n, &error) < 0)
		return admin_fail("list", error);
	printf("%-24s  %-12s  %-19s  %s\n", "NAME", "ROLE", "CREATED", "DOMAINS");
	for (size_t i = 0; i < n; i++) {
		time_t t = (time_t)list[i].created;
		struct tm tm;
		if (localtime_r(&t, &tm) == NULL ||
		    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm) == 0)
			snprintf(when, sizeof(when), "%lld", (long long)list[i].created);
		printf("%-24s  %-12s  %-19s  ", list[i].name,
		       list[i].superadmin ? "superadmin" : "domain-admin", when);
		for (size_t j = 0; j < list[i].ndomains; j++)
			printf("%s%s", j > 0 ? "," : "", list[i].domains[j]);
		printf("%s\n", !list[i].superadmin && list[i].ndomains == 0 ? "-" : "");
	}
	db_admin_list_free(&list, n);
	return 0;
}

static int admin_run(struct db *db, const char *action, struct admin_opts *o)
{
	char *password = xcalloc(1, ADMIN_PASSWORD_READ_MAX), token[DB_ADMIN_SECRET_SIZE], detail[64];
	const char *error;
	int ret = 1;

	if (strcmp(action, "add") == 0 || strcmp(action, "passwd") == 0) {
		if (admin_password(action, o->password_file, password) < 0)
			goto out;
		bool add = strcmp(action, "add") == 0;
		if (add ? db_admin_add(db, o->name, password, o->superadmin, o->domains, o->ndomains,
		                       &error) < 0
		        : db_admin_set_password(db, o->name, password, &error) < 0) {
			ret = admin_fail(action, error);
			goto out;
		}
		admin_audit(db, add ? "admin.add" : "admin.passwd", o->name,
		            add ? (o->superadmin ? "superadmin" : "domain admin") : "password set");
		printf("admin %s: %s\n", o->name,
		       add ? "added" : "password changed; its sessions have ended");
		ret = 0;
	} else if (strcmp(action, "del") == 0) {
		if (db_admin_del(db, o->name, &error) < 0) {
			ret = admin_fail(action, error);
			goto out;
		}
		admin_audit(db, "admin.delete", o->name, NULL);
		printf("admin %s: deleted\n", o->name);
		ret = 0;
	} else if (o->revoke) {
		int64_t n;
		if (db_admin_token_revoke(db, o->name, &n, &error) < 0) {
			ret = admin_fail(action, error);
			goto out;
		}
		snprintf(detail, sizeof(detail), "%lld API tokens revoked", (long long)n);
		admin_audit(db, "admin.token_revoke", o->name, detail);
		printf("admin %s: %s\n", o->name, detail);
		ret = 0;
	} else {
		if (db_admin_token_new(db, o->name, token, &error) < 0) {
			ret = admin_fail(action, error);
			goto out;
		}
		admin_audit(db, "admin.token", o->name, "new API token");
		printf("%s\n", token);
		explicit_bzero(token, sizeof(token));
		ret = 0;
	}
out:
	explicit_bzero(password, ADMIN_PASSWORD_READ_MAX);
	free(password);
	return ret;
}

int mxctl_cmd_admin(struct mxctl *ctl, int argc, char **argv)
{
	struct admin_opts o = {0};
	struct db *db;
	const char *error;
	int ret = 2;

	if (argc < 2 || strcmp(argv[1], "help") == 0) {
		fputs(admin_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	const char *action = argv[1];
	bool list = strcmp(action, "list") == 0, add = strcmp(action, "add") == 0;
	bool passwd = strcmp(action, "passwd") == 0, token = strcmp(action, "token") == 0;
	if (!list && !add && !passwd && !token && strcmp(action, "del") != 0) {
		fprintf(stderr, "mxctl: admin: unknown action '%s'\n%s", action, admin_usage);
		return 2;
	}
	if (list && argc != 2) {
		fputs(admin_usage, stderr);
		return 2;
	}
	if (!list && admin_parse(action, argc - 2, argv + 2, add, add || passwd, token, &o) < 0)
		goto out;
	if (db_open(ctl->cfg->database, list ? DB_OPEN_READONLY : DB_OPEN_READWRITE, &db, &error) < 0) {
		ret = admin_fail(action, error);
		goto out;
	}
	ret = list ? admin_list(db) : admin_run(db, action, &o);
	db_close(&db);
out:
	free(o.domains);
	return ret;
}
