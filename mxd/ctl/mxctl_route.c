/*
 * mxctl_route: "mxctl route add|list|del|stats", the routing rules of db/route.h. Options
 * ("--name value" or "--name=value") may stand anywhere after the action. A password is never taken
 * on the command line (it would show in ps): it comes from a file's first line, an environment
 * variable or stdin's first line, and is wiped from memory after use. Listings show credentials only
 * as "user=alice password=****". Errors: "mxctl: route <action>: <field> '<value>': <what>", exit 1;
 * usage errors exit 2 (mxctl.h).
 */
#include "mxd/ctl/mxctl.h"

#include "db/db.h"
#include "db/route.h"
#include "db/route_hop.h"
#include "mxd/common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PASSWORD_READ_MAX 4096 /* octets read from a password file or stdin */

enum route_opt {
	OPT_WEIGHT,
	OPT_PRIORITY,
	OPT_AUTH_USER,
	OPT_PASSWORD_FILE,
	OPT_PASSWORD_ENV,
	OPT_PASSWORD_STDIN,
	OPT_PLAINTEXT,
	OPT_UNVERIFIED_TLS,
	OPT_TLS_LEVEL,
	OPT_DESCRIPTION,
	OPT_RATE,
	OPT_PASSWORD, /* refused: a password on the command line */
	OPT_COUNT
};

static const struct {
	const char *name;
	bool takes_value;
} opt_names[OPT_COUNT] = {
    [OPT_WEIGHT] = {"weight", true},
    [OPT_PRIORITY] = {"priority", true},
    [OPT_AUTH_USER] = {"auth-user", true},
    [OPT_PASSWORD_FILE] = {"auth-password-file", true},
    [OPT_PASSWORD_ENV] = {"auth-password-env", true},
    [OPT_PASSWORD_STDIN] = {"auth-password-stdin", false},
    [OPT_PLAINTEXT] = {"allow-plaintext-auth", false},
    [OPT_UNVERIFIED_TLS] = {"allow-unverified-tls", false},
    [OPT_TLS_LEVEL] = {"tls-level", true},
    [OPT_DESCRIPTION] = {"description", true},
    [OPT_RATE] = {"rate", true},
    [OPT_PASSWORD] = {"auth-password", true},
};

struct route_opts {
	bool set[OPT_COUNT];
	const char *value[OPT_COUNT];
};

struct route_action {
	const char *name;
	unsigned opts; /* bits (1 << enum route_opt) allowed */
	int min_args, max_args;
	bool writes;
	int (*run)(struct db *db, const char *what, char **args, int nargs, const struct route_opts *opts);
	const char *usage;
};

/* Report error (which may quote the operator's input) with control characters replaced. Returns 1. */
static int fail(const char *what, const char *error)
{
	fprintf(stderr, "mxctl: %s: ", what);
	for (const char *p = error; *p != '\0'; p++)
		fputc((unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p, stderr);
	fputc('\n', stderr);
	return 1;
}

static int failf(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int failf(const char *what, const char *fmt, ...)
{
	char msg[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return fail(what, msg);
}

/* Split argv into options and positional arguments (pos has room for argc). -1 after a message. */
static int parse_opts(const char *what, const char *usage, unsigned allowed, int argc, char **argv,
                      struct route_opts *opts, char **pos, int *npos_r)
{
	int npos = 0;
	bool options_end = false;

	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];
		if (options_end || strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
			if (!options_end && strcmp(arg, "--") == 0)
				options_end = true;
			else
				pos[npos++] = argv[i];
			continue;
		}
		const char *name = arg + 2, *eq = strchr(name, '=');
		size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
		int opt = -1;
		for (int j = 0; j < OPT_COUNT; j++) {
			if (strlen(opt_names[j].name) == len && strncmp(opt_names[j].name, name, len) == 0)
				opt = j;
		}
		if (opt == OPT_PASSWORD) {
			fprintf(stderr,
			        "mxctl: %s: --auth-password: a password is not taken on the command line (ps "
			        "would "
			        "show it): use --auth-password-file FILE, --auth-password-env VAR or "
			        "--auth-password-stdin\n",
			        what);
			return -1;
		}
		if (opt < 0 || (allowed & (1u << opt)) == 0) {
			fprintf(stderr, "mxctl: %s: unknown option '%.*s'\nusage: mxctl %s\n", what,
			        (int)len + 2, arg, usage);
			return -1;
		}
		if (!opt_names[opt].takes_value) {
			if (eq != NULL) {
				fprintf(stderr, "mxctl: %s: option '--%s' takes no value\n", what,
				        opt_names[opt].name);
				return -1;
			}
			opts->set[opt] = true;
			continue;
		}
		const char *value = eq != NULL ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
		if (value == NULL) {
			fprintf(stderr, "mxctl: %s: option '%s' needs a value\n", what, arg);
			return -1;
		}
		opts->set[opt] = true;
		opts->value[opt] = value;
	}
	*npos_r = npos;
	return 0;
}

static int parse_number(const char *what, const char *field, const char *value, uint32_t min, uint32_t max,
                        uint32_t *n_r)
{
	uint64_t n;
	if (str_to_u64(value, &n) < 0 || n < min || n > max) {
		failf(what, "%s '%s': expected a number from %u to %u", field, value, min, max);
		return -1;
	}
	*n_r = (uint32_t)n;
	return 0;
}

/* Read the first line of fd into buf (without its line end). 0, or -1 with errno (0: too long). */
static int read_first_line(int fd, char *buf, size_t size)
{
	size_t len = 0;
	while (len + 1 < size) {
		ssize_t r = read(fd, buf + len, size - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		len += (size_t)r;
		if (memchr(buf, '\n', len) != NULL)
			break;
	}
	buf[len] = '\0';
	char *nl = strchr(buf, '\n');
	if (nl == NULL && len + 1 >= size) {
		errno = 0;
		return -1;
	}
	if (nl != NULL)
		*nl = '\0';
	len = strlen(buf);
	if (len > 0 && buf[len - 1] == '\r')
		buf[len - 1] = '\0';
	return 0;
}

/* The password from the one source the options name into buf (PASSWORD_READ_MAX octets); "" when none
 * was given. 0 or -1 after a message naming the source. */
static int read_password(const char *what, const struct route_opts *opts, char *buf)
{
	int sources =
	    opts->set[OPT_PASSWORD_FILE] + opts->set[OPT_PASSWORD_ENV] + opts->set[OPT_PASSWORD_STDIN];

	buf[0] = '\0';
	if (sources > 1) {
		failf(what, "auth password: give only one of --auth-password-file, --auth-password-env and "
		            "--auth-password-stdin");
		return -1;
	}
	if (opts->set[OPT_PASSWORD_FILE]) {
		const char *path = opts->value[OPT_PASSWORD_FILE];
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			failf(what, "auth password file '%s': %s", path, strerror(errno));
			return -1;
		}
		int rc = read_first_line(fd, buf, PASSWORD_READ_MAX);
		int saved = errno;
		close(fd);
		if (rc < 0) {
			failf(what, "auth password file '%s': %s", path,
			      saved != 0 ? strerror(saved) : "line too long");
			return -1;
		}
		if (buf[0] == '\0') {
			failf(what, "auth password file '%s': the first line is empty", path);
			return -1;
		}
	} else if (opts->set[OPT_PASSWORD_ENV]) {
		const char *var = opts->value[OPT_PASSWORD_ENV], *value = getenv(var);
		if (value == NULL || *value == '\0') {
			failf(what, "auth password env '%s': %s", var, value == NULL ? "not set" : "empty");
			return -1;
		}
		if (str_copy(buf, PASSWORD_READ_MAX, value) < 0) {
			failf(what, "auth password env '%s': too long", var);
			return -1;
		}
	} else if (opts->set[OPT_PASSWORD_STDIN]) {
		if (read_first_line(STDIN_FILENO, buf, PASSWORD_READ_MAX) < 0) {
			failf(what, "auth password (stdin): %s",
			      errno != 0 ? strerror(errno) : "line too long");
			return -1;
		}
		if (buf[0] == '\0') {
			failf(what, "auth password (stdin): the first line is empty");
			return -1;
		}
	}
	return 0;
}

static int route_add(struct db *db, const char *what, char **args, int nargs, const struct route_opts *opts)
{
	struct db_route_hop_spec spec = {.match = args[0], .nexthop = args[1]};
	char *password = xcalloc(1, PASSWORD_READ_MAX);
	const char *error;
	bool created;
	int ret = 1;

	if (opts->set[OPT_WEIGHT] &&
	    parse_number(what, "weight", opts->value[OPT_WEIGHT], 1, DB_ROUTE_WEIGHT_MAX, &spec.weight) < 0)
		goto out;
	if (opts->set[OPT_PRIORITY] && parse_number(what, "priority", opts->value[OPT_PRIORITY], 0,
	                                            DB_ROUTE_PRIORITY_MAX, &spec.priority) < 0)
		goto out;
	if (read_password(what, opts, password) < 0)
		goto out;
	if (opts->set[OPT_AUTH_USER] && password[0] == '\0') {
		failf(what, "auth password: --auth-user needs --auth-password-file, --auth-password-env or "
		            "--auth-password-stdin");
		goto out;
	}
	if (!opts->set[OPT_AUTH_USER] && password[0] != '\0') {
		failf(what, "auth user: a password was given without --auth-user");
		goto out;
	}
	spec.auth_user = opts->value[OPT_AUTH_USER];
	spec.auth_password = password[0] != '\0' ? password : NULL;
	spec.allow_plaintext_auth = opts->set[OPT_PLAINTEXT];
	spec.allow_unverified_tls = opts->set[OPT_UNVERIFIED_TLS];
	spec.tls_level = opts->value[OPT_TLS_LEVEL];
	spec.description = opts->value[OPT_DESCRIPTION];
	spec.rate = opts->value[OPT_RATE];
	if (db_route_add_hop(db, &spec, &created, &error) < 0) {
		ret = fail(what, error);
		goto out;
	}
	struct db_route r;
	struct db_route_nexthop nh;
	char nexthop[DB_ROUTE_NEXTHOP_MAX + 1];
	int rc = db_route_get(db, args[0], 0, &r, &error);
	if (rc != 0) {
		ret = fail(what, rc > 0 ? "route deleted meanwhile" : error);
		goto out;
	}
	if (db_route_nexthop_parse(args[1], &nh, &error) < 0) { /* accepted by db_route_add_hop already */
		db_route_clear(&r);
		ret = fail(what, error);
		goto out;
	}
	db_route_nexthop_format(&nh, nexthop, sizeof(nexthop));
	printf("route %s: nexthop %s added%s\n", r.match, nexthop, created ? " (new route)" : "");
	if (!created && spec.tls_level != NULL)
		printf("route %s: tls level now %s\n", r.match,
		       r.tls_level[0] != '\0' ? r.tls_level : "default");
	if (!created && spec.description != NULL)
		printf("route %s: description changed\n", r.match);
	db_route_clear(&r);
	ret = 0;
out:
	explicit_bzero(password, PASSWORD_READ_MAX);
	free(password);
	return ret;
}

/* Column widths for the match and next hop columns. */
static void widths(const struct db_route *list, size_t n, int *match_w, int *nexthop_w)
{
	*match_w = (int)strlen("MATCH");
	*nexthop_w = (int)strlen("NEXTHOP");
	for (size_t i = 0; i < n; i++) {
		if ((int)strlen(list[i].match) > *match_w)
			*match_w = (int)strlen(list[i].match);
		for (size_t j = 0; j < list[i].nhops; j++) {
			if ((int)strlen(list[i].hops[j].nexthop) > *nexthop_w)
				*nexthop_w = (int)strlen(list[i].hops[j].nexthop);
		}
	}
}

static int route_list(struct db *db, const char *what, char **args, int nargs, const struct route_opts *opts)
{
	struct db_route *list;
	const char *error;
	int mw, nw;
	size_t n;

	if (db_route_list(db, 0, &list, &n, &error) < 0)
		return fail(what, error);
	widths(list, n, &mw, &nw);
	printf("%-*s  %-*s  %6s  %8s  %-7s  %-6s  %-9s  %s\n", mw, "MATCH", nw, "NEXTHOP", "WEIGHT",
	       "PRIORITY", "TLS", "ACTIVE", "RATE", "AUTH  DESCRIPTION");
	bool any_schedule = false;
	for (size_t i = 0; i < n; i++) {
		const struct db_route *r = &list[i];
		const char *tls = r->tls_level[0] != '\0' ? r->tls_level : "default";
		if (r->nhops == 0)
			printf("%-*s  %-*s  %6s  %8s  %-7s  %-6s  %-9s  -%s%s\n", mw, r->match, nw, "(none)",
			       "-", "-", tls, r->active ? "yes" : "no", "-",
			       r->description[0] != '\0' ? "  " : "", r->description);
		for (size_t j = 0; j < r->nhops; j++) {
			const struct db_route_hop *h = &r->hops[j];
			char auth[DB_ROUTE_AUTH_MAX + 64];
			printf("%-*s  %-*s  %6u  %8u  %-7s  %-6s  %-9s  %s%s%s\n", mw, r->match, nw,
			       h->nexthop, h->weight, h->priority, tls, r->active ? "yes" : "no",
			       h->rate[0] != '\0' ? h->rate : "-",
			       db_route_hop_auth_str(h, auth, sizeof(auth)),
			       r->description[0] != '\0' ? "  " : "", r->description);
		}
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < list[i].nhops; j++)
			if (list[i].hops[j].weight_schedule[0] != '\0') {
				if (!any_schedule)
					printf("\nWeight schedules (from each date on, UTC):\n");
				any_schedule = true;
				printf("%s %s: %s\n", list[i].match, list[i].hops[j].nexthop,
				       list[i].hops[j].weight_schedule);
			}
	db_route_list_free(&list, n);
	return 0;
}

static int route_del(struct db *db, const char *what, char **args, int nargs, const struct route_opts *opts)
{
	char match[DB_ROUTE_MATCH_MAX + 1];
	const char *error;
	bool route_deleted;

	if (db_route_match_normalize(args[0], match, sizeof(match), &error) < 0)
		return failf(what, "match '%s': %s", args[0], error);
	if (nargs == 1) {
		if (db_route_del(db, args[0], &error) < 0)
			return fail(what, error);
		printf("route %s: deleted, with its next hops\n", match);
		return 0;
	}
	if (db_route_del_hop(db, args[0], args[1], &route_deleted, &error) < 0)
		return fail(what, error);
	printf("route %s: nexthop %s deleted%s\n", match, args[1],
	       route_deleted ? " (it was the last one: route deleted)" : "");
	return 0;
}

static int route_stats(struct db *db, const char *what, char **args, int nargs, const struct route_opts *opts)
{
	struct db_route *list;
	const char *error;
	int mw, nw;
	size_t n;

	if (db_route_list(db, 0, &list, &n, &error) < 0)
		return fail(what, error);
	widths(list, n, &mw, &nw);
	printf("%-*s  %-*s  %6s  %8s  %10s  %10s  %10s  %10s  %6s  %10s  %10s\n", mw, "MATCH", nw, "NEXTHOP",
	       "WEIGHT", "PRIORITY", "SELECTED", "SENT", "DEFERRED", "BOUNCED", "SHARE", "THROTTLED",
	       "CONNFAIL");
	for (size_t i = 0; i < n; i++) {
		const struct db_route *r = &list[i];
		uint64_t total = 0;
		for (size_t j = 0; j < r->nhops; j++)
			total += r->hops[j].selected;
		for (size_t j = 0; j < r->nhops; j++) {
			const struct db_route_hop *h = &r->hops[j];
			char share[16];
			if (total == 0)
				str_copy(share, sizeof(share), "-");
			else
				snprintf(share, sizeof(share), "%.1f%%",
				         100.0 * (double)h->selected / (double)total);
			printf("%-*s  %-*s  %6u  %8u  %10llu  %10llu  %10llu  %10llu  %6s  %10llu  %10llu\n",
			       mw, r->match, nw, h->nexthop, h->weight, h->priority,
			       (unsigned long long)h->selected, (unsigned long long)h->sent,
			       (unsigned long long)h->deferred, (unsigned long long)h->bounced, share,
			       (unsigned long long)h->throttled, (unsigned long long)h->conn_failures);
		}
	}
	db_route_list_free(&list, n);
	return 0;
}

/* route set MATCH NEXTHOP [--weight W] [--rate N/unit|none] */
static int route_set(struct db *db, const char *what, char **args, int nargs, const struct route_opts *opts)
{
	const char *error;
	uint32_t weight = 0;
	if (opts->set[OPT_WEIGHT] &&
	    parse_number(what, "weight", opts->value[OPT_WEIGHT], 1, DB_ROUTE_WEIGHT_MAX, &weight) < 0)
		return 1;
	if (db_route_set_hop(db, args[0], args[1], weight, opts->set[OPT_RATE] ? opts->value[OPT_RATE] : NULL,
	                     &error) < 0)
		return fail(what, error);
	printf("route %s: nexthop %s changed\n", args[0], args[1]);
	return 0;
}

/* route schedule MATCH NEXTHOP DATE WEIGHT: from DATE (UTC) on the hop's weight is WEIGHT (0: remove) */
static int route_schedule(struct db *db, const char *what, char **args, int nargs,
                          const struct route_opts *opts)
{
	const char *error;
	uint32_t weight;
	if (parse_number(what, "weight", args[3], 0, DB_ROUTE_WEIGHT_MAX, &weight) < 0)
		return 1;
	if (db_route_schedule_hop(db, args[0], args[1], args[2], weight, &error) < 0)
		return fail(what, error);
	if (weight == 0)
		printf("route %s: nexthop %s: no change of weight on %s\n", args[0], args[1], args[2]);
	else
		printf("route %s: nexthop %s: weight %u from %s (UTC)\n", args[0], args[1], weight, args[2]);
	return 0;
}

#define ADD_OPTS                                                                                             \
	((1u << OPT_WEIGHT) | (1u << OPT_PRIORITY) | (1u << OPT_AUTH_USER) | (1u << OPT_PASSWORD_FILE) |     \
	 (1u << OPT_PASSWORD_ENV) | (1u << OPT_PASSWORD_STDIN) | (1u << OPT_PLAINTEXT) |                     \
	 (1u << OPT_UNVERIFIED_TLS) | (1u << OPT_TLS_LEVEL) | (1u << OPT_DESCRIPTION) | (1u << OPT_RATE))

static const struct route_action route_actions[] = {
    {"add", ADD_OPTS, 2, 2, true, route_add,
     "route add MATCH NEXTHOP [--weight N] [--priority N] [--description TEXT]\n"
     "          [--auth-user USER (--auth-password-file FILE | --auth-password-env VAR |\n"
     "          --auth-password-stdin)] [--allow-plaintext-auth] [--allow-unverified-tls]\n"
     "          [--tls-level none|may|encrypt|verify|default] [--rate N/s|m|h|d]"},
    {"schedule", 0, 4, 4, true, route_schedule, "route schedule MATCH NEXTHOP YYYY-MM-DD WEIGHT"},
    {"set", (1u << OPT_WEIGHT) | (1u << OPT_RATE), 2, 2, true, route_set,
     "route set MATCH NEXTHOP [--weight N] [--rate N/s|m|h|d|none]"},
    {"list", 0, 0, 0, false, route_list, "route list"},
    {"del", 0, 1, 2, true, route_del, "route del MATCH [NEXTHOP]"},
    {"stats", 0, 0, 0, false, route_stats, "route stats"},
};

static const char route_help[] =
    "MATCH: example.com (that domain), .example.com (its subdomains), * (any domain); the most specific\n"
    "  wins, and relayhost applies when none matches.\n"
    "NEXTHOP: direct (MX lookup of the recipient's domain), [host]:port (no MX lookup), host:port (MX\n"
    "  lookup of host); the port defaults to 25.\n"
    "A second 'route add' for the same MATCH adds a next hop: hops of the best priority (lowest number)\n"
    "share the mail by weight; worse priorities take over while the better ones are failing.\n"
    "AUTH credentials go only over TLS whose certificate verifies for the next hop's name (with\n"
    "  smtp_tls_CAfile), unless --allow-unverified-tls (logged as a warning at each use).\n";

int mxctl_cmd_route(struct mxctl *ctl, int argc, char **argv)
{
	const struct route_action *action = NULL;
	char what[64];

	for (size_t i = 0; argc >= 2 && i < MXD_ARRAY_SIZE(route_actions); i++) {
		if (strcmp(route_actions[i].name, argv[1]) == 0)
			action = &route_actions[i];
	}
	if (action == NULL) {
		bool help = argc >= 2 && strcmp(argv[1], "help") == 0;
		FILE *out = help ? stdout : stderr;
		if (argc >= 2 && !help)
			fprintf(stderr, "mxctl: route: unknown action '%s'\n", argv[1]);
		fprintf(out, "usage:\n");
		for (size_t i = 0; i < MXD_ARRAY_SIZE(route_actions); i++)
			fprintf(out, "  mxctl %s\n", route_actions[i].usage);
		fputs(route_help, out);
		return help ? 0 : 2;
	}
	snprintf(what, sizeof(what), "route %s", action->name);

	struct route_opts opts = {0};
	char **args = xcalloc((size_t)argc, sizeof(char *));
	int nargs, ret = 2;
	if (parse_opts(what, action->usage, action->opts, argc - 2, argv + 2, &opts, args, &nargs) < 0)
		goto out;
	if (nargs < action->min_args || nargs > action->max_args) {
		fprintf(stderr, "mxctl: %s: wrong number of arguments\nusage: mxctl %s\n", what,
		        action->usage);
		goto out;
	}
	struct db *db;
	const char *error;
	if (db_open(ctl->cfg->database, action->writes ? DB_OPEN_READWRITE : DB_OPEN_READONLY, &db, &error) <
	    0) {
		ret = fail(what, error);
		goto out;
	}
	ret = action->run(db, what, args, nargs, &opts);
	db_close(&db);
out:
	free(args);
	return ret;
}
