/*
 * mxctl_domain: the table commands of mxctl: "domain", "alias", "aliasdomain" and "resolve". Each
 * family is a table of actions {name, options allowed, argument count, run}; the options
 * (--description, --alias-limit, --hourly-message-limit, --replace; "--name=value" or "--name value") may
 * stand anywhere after the action. Validation and transactions live in db/: this file parses arguments,
 * prints results and turns errors into "mxctl: <family> <action>: <db/ message>" on stderr. Exit status as in
 * mxctl.h.
 */
#include "mxd/ctl/mxctl.h"

#include "db/alias.h"
#include "db/alias_domain.h"
#include "db/db.h"
#include "db/domain.h"
#include "db/resolve.h"
#include "mxd/rewrite/expand.h"
#include "mxd/common/addr.h"
#include "mxd/common/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum mxctl_opt {
	OPT_DESCRIPTION = 1 << 0,
	OPT_ALIAS_LIMIT = 1 << 1,
	OPT_REPLACE = 1 << 2,
	OPT_HOURLY = 1 << 3
};

struct mxctl_opts {
	const char *description;
	const char *alias_limit;
	const char *hourly_limit; /* --hourly-message-limit */
	bool replace;
};

struct mxctl_action {
	const char *name;
	unsigned opts;          /* enum mxctl_opt allowed */
	int min_args, max_args; /* after the action; max -1: no limit */
	int (*run)(struct mxctl *ctl, struct db *db, const char *what, char **args, int nargs,
	           const struct mxctl_opts *opts);
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

static const char *fmt_time(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (localtime_r(&tt, &tm) == NULL || strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, size, "%lld", (long long)t);
	return buf;
}

/* Split argv into options and positional arguments (pos has room for argc). -1 after a message. */
static int parse_opts(const char *what, const char *usage, unsigned allowed, int argc, char **argv,
                      struct mxctl_opts *opts, char **pos, int *npos_r)
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = {{"description", OPT_DESCRIPTION},
	             {"alias-limit", OPT_ALIAS_LIMIT},
	             {"replace", OPT_REPLACE},
	             {"hourly-message-limit", OPT_HOURLY}};
	int npos = 0;
	bool options_end = false;

	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];
		if (options_end || strncmp(arg, "--", 2) != 0) {
			pos[npos++] = argv[i];
			continue;
		}
		if (arg[2] == '\0') {
			options_end = true;
			continue;
		}
		const char *name = arg + 2, *eq = strchr(name, '=');
		size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
		unsigned bit = 0;
		for (size_t j = 0; j < MXD_ARRAY_SIZE(names); j++) {
			if (strlen(names[j].name) == len && strncmp(names[j].name, name, len) == 0)
				bit = names[j].bit;
		}
		if ((bit & allowed) == 0) {
			fprintf(stderr, "mxctl: %s: unknown option '%.*s'\nusage: mxctl %s\n", what,
			        (int)len + 2, arg, usage);
			return -1;
		}
		if (bit == OPT_REPLACE) {
			if (eq != NULL) {
				fprintf(stderr, "mxctl: %s: option '--replace' takes no value\n", what);
				return -1;
			}
			opts->replace = true;
			continue;
		}
		const char *value = eq != NULL ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
		if (value == NULL) {
			fprintf(stderr, "mxctl: %s: option '%s' needs a value\n", what, arg);
			return -1;
		}
		if (bit == OPT_DESCRIPTION)
			opts->description = value;
		else if (bit == OPT_HOURLY)
			opts->hourly_limit = value;
		else
			opts->alias_limit = value;
	}
	*npos_r = npos;
	return 0;
}

static int run_family(struct mxctl *ctl, const char *family, const struct mxctl_action *actions,
                      size_t nactions, int argc, char **argv)
{
	const struct mxctl_action *action = NULL;
	char what[64];

	for (size_t i = 0; argc >= 2 && i < nactions; i++) {
		if (strcmp(actions[i].name, argv[1]) == 0)
			action = &actions[i];
	}
	if (action == NULL) {
		if (argc >= 2)
			fprintf(stderr, "mxctl: %s: unknown action '%s'\n", family, argv[1]);
		fprintf(stderr, "usage:\n");
		for (size_t i = 0; i < nactions; i++)
			fprintf(stderr, "  mxctl %s\n", actions[i].usage);
		return 2;
	}
	snprintf(what, sizeof(what), "%s %s", family, action->name);

	struct mxctl_opts opts = {0};
	char **args = xcalloc((size_t)argc, sizeof(char *));
	int nargs, ret = 2;
	if (parse_opts(what, action->usage, action->opts, argc - 2, argv + 2, &opts, args, &nargs) < 0)
		goto out;
	if (nargs < action->min_args || (action->max_args >= 0 && nargs > action->max_args)) {
		fprintf(stderr, "mxctl: %s: wrong number of arguments\nusage: mxctl %s\n", what,
		        action->usage);
		goto out;
	}
	struct db *db;
	const char *error;
	if (db_open(ctl->cfg->database, DB_OPEN_READWRITE, &db, &error) < 0) {
		ret = fail(what, error);
		goto out;
	}
	db_set_alias_check(db, expand_check, (void *)ctl->cfg->recipient_delimiter);
	ret = action->run(ctl, db, what, args, nargs, &opts);
	db_close(&db);
out:
	free(args);
	return ret;
}

/* --- domain ---------------------------------------------------------------------------------------- */

static int parse_alias_limit(const char *what, const char *value, int64_t *limit_r)
{
	uint64_t n;
	if (str_to_u64(value, &n) < 0 || n > DB_ALIAS_LIMIT_MAX) {
		fprintf(stderr, "mxctl: %s: alias limit '%s': expected a number from 0 (no limit) to %d\n",
		        what, value, DB_ALIAS_LIMIT_MAX);
		return -1;
	}
	*limit_r = (int64_t)n;
	return 0;
}

static int parse_hourly_limit(const char *what, const char *value, int64_t *limit_r)
{
	char *end;
	errno = 0;
	long long n = strtoll(value, &end, 10);
	if (errno != 0 || end == value || *end != '\0' || n < 0 || n > DB_HOURLY_LIMIT_MAX) {
		fprintf(stderr,
		        "mxctl: %s: hourly message limit '%s': expected a number from 0 (no limit) to %d\n",
		        what, value, DB_HOURLY_LIMIT_MAX);
		return -1;
	}
	*limit_r = (int64_t)n;
	return 0;
}

static int domain_add(struct mxctl *ctl, struct db *db, const char *what, char **args, int nargs,
                      const struct mxctl_opts *opts)
{
	int64_t limit = 0;
	const char *error;
	if (opts->alias_limit != NULL && parse_alias_limit(what, opts->alias_limit, &limit) < 0)
		return 1;
	if (db_domain_add(db, args[0], opts->description, (uint32_t)limit, &error) < 0)
		return fail(what, error);
	printf("domain %s: added\n", str_lower(args[0]));
	return 0;
}

static int domain_set(struct mxctl *ctl, struct db *db, const char *what, char **args, int nargs,
                      const struct mxctl_opts *opts)
{
	int64_t limit = -1;
	const char *error;
	if (opts->description == NULL && opts->alias_limit == NULL && opts->hourly_limit == NULL) {
		fprintf(stderr,
		        "mxctl: %s: nothing to change (give --description, --alias-limit and/or "
		        "--hourly-message-limit)\n",
		        what);
		return 2;
	}
	if (opts->alias_limit != NULL && parse_alias_limit(what, opts->alias_limit, &limit) < 0)
		return 1;
	int64_t hourly = -1;
	if (opts->hourly_limit != NULL && parse_hourly_limit(what, opts->hourly_limit, &hourly) < 0)
		return 1;
	if ((opts->description != NULL || opts->alias_limit != NULL) &&
	    db_domain_update(db, args[0], opts->description, limit, &error) < 0)
		return fail(what, error);
	if (hourly >= 0 && db_domain_set_hourly_limit(db, args[0], hourly, &error) < 0)
		return fail(what, error);
	printf("domain %s: updated\n", str_lower(args[0]));
	return 0;
}

static int domain_list(struct mxctl *ctl, struct db *db, const char *what, char **args, int nargs,
                       const struct mxctl_opts *opts)
{
	struct db_domain *list;
	size_t n;
	const char *error;
	if (db_domain_list(db, &list, &n, &error) < 0)
		return fail(what, error);
	int width = (int)strlen("DOMAIN");
	for (size_t i = 0; i < n; i++) {
		if ((int)strlen(list[i].name) > width)
			width = (int)strlen(list[i].name);
	}
	printf("%-*s  %-6s  %7s  %7s  %s\n", width, "DOMAIN", "ACTIVE", "ALIASES", "LIMIT", "DESCRIPTION");
	for (size_t i = 0; i < n; i++) {
		char limit[16];
		if (list[i].alias_limit == 0)
			str_copy(limit, sizeof(limit), "-");
		else
			snprintf(limit, sizeof(limit), "%u", list[i].alias_limit);
		printf("%-*s  %-6s  %7u  %7s%s%s\n", width, list[i].name, list[i].active ? "yes" : "no",
		       list[i].alias_count, limit, list[i].description[0] != '\0' ? "  " : "",
		       list[i].description);
	}
	free(list);
	return 0;
}

static int domain_show(struct mxctl *ctl, struct db *db, const char *what, char **args, int nargs,
                       const struct mxctl_opts *opts)
{
	struct db_domain d;
	struct db_alias_domain *ads;
	size_t nads;
	const char *error;
	char t1[32], t2[32];

	int rc = db_domain_get(db, args[0], &d, &error);
	if (rc > 0) {
		char msg[600];
		snprintf(msg, sizeof(msg), "domain '%s': not a hosted domain", args[0]);
		return fail(what, msg);
	}
	if (rc < 0 || db_alias_domain_list(db, &ads, &nads, &error) < 0)
		return fail(what, error);
	printf("name:          %s\n", d.name);
	printf("description:   %s\n", d.description);
	printf("active:        %s\n", d.active ? "yes" : "no");
	if (d.alias_limit == 0)
		printf("alias limit:   none\n");
	else
		printf("alias limit:   %u\n", d.alias_limit);
	if (d.hourly_message_limit == 0)
		printf("messages/hour: no limit\n");
	else
		printf("messages/hour: %u (each MX host)\n", d.hourly_message_limit);
	printf("aliases:       %u\n", d.alias_count);
	printf("dmarc_from_rewrite: %s\n",
	       d.dmarc_from_rewrite < 0
	           ? (ctl->cfg->dmarc_from_rewrite ? "yes (the setting)" : "no (the setting)")
	       : d.dmarc_from_rewrite ? "yes"
	                              : "no");
	printf("report to:     %s\n", d.report_address[0] != '\0' ? d.report_address : "(none)");
	printf("alias domains:");
	for (size_t i = 0; i < nads; i++) {
		if (strcmp(ads[i].target_domain, d.name) == 0)
			printf(" %s%s", ads[i].alias_domain, ads[i].active ? "" : " (inactive)");
	}
	printf("%s\n", d.alias_domain_count == 0 ? " none" : "");
	printf("created:       %s\n", fmt_time(d.created, t1, sizeof(t1)));
	printf("modified:      %s\n", fmt_time(d.modified, t2, sizeof(t2)));
	free(ads);
	return 0;
}

static int domain_simple(struct db *db, const char *what, const char *name, const char *done,
                         int (*op)(struct db *, const char *, const char **))
{
	const char *error;
	char lower[ADDR_MAX + 2];
	if (op(db, name, &error) < 0)
		return fail(what, error);
	str_copy(lower, sizeof(lower), name);
	printf("%s: %s\n", str_lower(lower), done);
	return 0;
}

static int domain_enable_op(struct db *db, const char *name, const char **error_r)
{
	return db_domain_set_active(db, name, true, error_r);
}

static int domain_disable_op(struct db *db, const char *name, const char **error_r)
{
	return db_domain_set_active(db, name, false, error_r);
}

static int domain_del(struct mxctl *ctl, struct db *db, const char *what, char **args, int nargs,
                      const struct mxctl_opts *opts)
{
	return domain_simple(db, what, args[0], "deleted, with its aliases and alias domains", db_domain_del);
}

static int domain_enable(struct mxctl *ctl, struct db *db, const char *what, char **args, int nargs,
                         const struct mxctl_opts *opts)
{
	return domain_simple(db, what, args[0], "enabled", domain_enable_op);
}

static int domain_disable(struct mxctl *ctl, struct db *db, const char *what, char **args, int nargs,
                          const struct mxctl_opts *opts)
{
	return domain_simple(db, what, args[0], "disabled", domain_disable_op);
}

/* mxctl domain option NAME OPTION VALUE: the per-domain choices that override a setting. */
static int domain_option(struct mxctl *ctl, struct db *db, const char *what, char **args, int nargs,
                         const struct mxctl_opts *opts)
{
	const char *error;
	if (strcmp(args[1], "dmarc_from_rewrite") != 0) {
		fprintf(stderr, "mxctl: %s: unknown option '%s' (known: dmarc_from_rewrite)\n", what,
		        args[1]);
		return 2;
	}
	int value = strcmp(args[2], "yes") == 0       ? 1
	            : strcmp(args[2], "no") == 0      ? 0
	            : strcmp(args[2], "default") == 0 ? -1
	                                              : -2;
	if (value == -2) {
		fprintf(stderr, "mxctl: %s: dmarc_from_rewrite '%s': expected yes, no or default\n", what,
		        args[2]);
		return 2;
	}
	if (db_domain_set_dmarc_from_rewrite(db, args[0], value, &error) < 0)
		return fail(what, error);
	printf("domain %s: dmarc_from_rewrite %s\n", str_lower(args[0]),
	       value < 0 ? "as the setting says"
	       : value   ? "yes"
	                 : "no");
	return 0;
}

/* domain report NAME ADDRESS|none: where owner notices of failed forwards go */
static int domain_report(struct mxctl *ctl, struct db *db, const char *what, char **args, int nargs,
                         const struct mxctl_opts *opts)
{
	const char *error;
	bool none = strcmp(args[1], "none") == 0;
	if (db_domain_set_report_address(db, args[0], none ? NULL : args[1], &error) < 0)
		return fail(what, error);
	printf("domain %s: %s%s\n", args[0], none ? "no report address" : "reports to ", none ? "" : args[1]);
	return 0;
}

static const struct mxctl_action domain_actions[] = {
    {"add", OPT_DESCRIPTION | OPT_ALIAS_LIMIT, 1, 1, domain_add,
     "domain add NAME [--description TEXT] [--alias-limit N]"},
    {"set", OPT_DESCRIPTION | OPT_ALIAS_LIMIT | OPT_HOURLY, 1, 1, domain_set,
     "domain set NAME [--description TEXT] [--alias-limit N] [--hourly-message-limit N]"},
    {"option", 0, 3, 3, domain_option, "domain option NAME dmarc_from_rewrite yes|no|default"},
    {"list", 0, 0, 0, domain_list, "domain list"},
    {"show", 0, 1, 1, domain_show, "domain show NAME"},
    {"del", 0, 1, 1, domain_del, "domain del NAME"},
    {"enable", 0, 1, 1, domain_enable, "domain enable NAME"},
    {"disable", 0, 1, 1, domain_disable, "domain disable NAME"},
    {"report", 0, 2, 2, domain_report, "domain report NAME ADDRESS|none"},
};

int mxctl_cmd_domain(struct mxctl *ctl, int argc, char **argv)
{
	return run_family(ctl, "domain", domain_actions, MXD_ARRAY_SIZE(domain_actions), argc, argv);
}

/* --- alias ----------------------------------------------------------------------------------------- */

static void print_destinations(char *const *destinations)
{
	for (size_t i = 0; destinations[i] != NULL; i++)
		printf("%s%s", i > 0 ? ", " : "", destinations[i]);
	printf("\n");
}

static int alias_add(struct mxctl *ctl, struct db *db, const char *what, char **args, int nargs,
                     const struct mxctl_opts *opts)
{
	const char *error;
	struct db_alias a;
	if (db_alias_add(db, args[0], (const char *const *)(args + 1), (size_t)(nargs - 1),
	                 opts->replace ? DB_ALIAS_REPLACE : 0, &error) < 0) {
		if (strstr(error, "already exists") != NULL) {
			char hint[1200];
			snprintf(hint, sizeof(hint), "%s (--replace changes its destinations)", error);
			return fail(what, hint);
		}
		return fail(what, error);
	}
	if (db_alias_get(db, args[0], &a, &error) != 0)
		return fail(what, error);
	printf("alias %s -> ", a.address);
	print_destinations(a.destinations);
	db_alias_clear(&a);
	return 0;
}

static int alias_list(struct mxctl *ctl, struct db *db, const char *what, char **args, int nargs,
                      const struct mxctl_opts *opts)
{
	struct db_alias *list;
	size_t n;
	const char *error;
	if (db_alias_list(db, nargs > 0 ? args[0] : NULL, &list, &n, &error) < 0)
		return fail(what, error);
	int width = (int)strlen("ADDRESS");
	for (size_t i = 0; i < n; i++) {
		if ((int)strlen(list[i].address) > width)
			width = (int)strlen(list[i].address);
	}
	printf("%-*s  %-6s  %s\n", width, "ADDRESS", "ACTIVE", "DESTINATIONS");
	for (size_t i = 0; i < n; i++) {
		printf("%-*s  %-6s  ", width, list[i].address, list[i].active ? "yes" : "no");
		print_destinations(list[i].destinations);
	}
	db_alias_list_free(&list, n);
	return 0;
}

static int alias_show(struct mxctl *ctl, struct db *db, const char *what, char **args, int nargs,
                      const struct mxctl_opts *opts)
{
	struct db_alias a;
	const char *error;
	char t1[32], t2[32];
	int rc = db_alias_get(db, args[0], &a, &error);
	if (rc > 0) {
		char msg[600];
		snprintf(msg, sizeof(msg), "address '%s': no such alias", args[0]);
		return fail(what, msg);
	}
	if (rc < 0)
		return fail(what, error);
	printf("address:       %s%s\n", a.address, a.address[0] == '@' ? " (catch-all)" : "");
	printf("domain:        %s\n", a.domain);
	printf("active:        %s\n", a.active ? "yes" : "no");
	printf("destinations:  ");
	print_destinations(a.destinations);
	printf("fallback:      %s\n", a.fallback[0] != '\0' ? a.fallback : "(none)");
	printf("created:       %s\n", fmt_time(a.created, t1, sizeof(t1)));
	printf("modified:      %s\n", fmt_time(a.modified, t2, sizeof(t2)));
	db_alias_clear(&a);
	return 0;
}

static int alias_enable_op(struct db *db, const char *address, const char **error_r)
{
	return db_alias_set_active(db, address, true, error_r);
}

static int alias_disable_op(struct db *db, const char *address, const char **error_r)
{
	return db_alias_set_active(db, address, false, error_r);
}

static int alias_del(struct mxctl *ctl, struct db *db, const char *what, char **args, int nargs,
                     const struct mxctl_opts *opts)
{
	return domain_simple(db, what, args[0], "deleted", db_alias_del);
}

static int alias_enable(struct mxctl *ctl, struct db *db, const char *what, char **args, int nargs,
                        const struct mxctl_opts *opts)
{
	return domain_simple(db, what, args[0], "enabled", alias_enable_op);
}

static int alias_disable(struct mxctl *ctl, struct db *db, const char *what, char **args, int nargs,
                         const struct mxctl_opts *opts)
{
	return domain_simple(db, what, args[0], "disabled", alias_disable_op);
}

/* alias fallback ADDRESS DEST|none */
static int alias_fallback(struct mxctl *ctl, struct db *db, const char *what, char **args, int nargs,
                          const struct mxctl_opts *opts)
{
	const char *error;
	bool none = strcmp(args[1], "none") == 0;
	if (db_alias_set_fallback(db, args[0], none ? NULL : args[1], &error) < 0)
		return fail(what, error);
	if (none)
		printf("alias %s: no fallback\n", args[0]);
	else
		printf("alias %s: fallback %s\n", args[0], args[1]);
	return 0;
}

static const struct mxctl_action alias_actions[] = {
    {"add", OPT_REPLACE, 2, -1, alias_add, "alias add [--replace] ADDRESS DEST [DEST...]"},
    {"list", 0, 0, 1, alias_list, "alias list [DOMAIN]"},
    {"show", 0, 1, 1, alias_show, "alias show ADDRESS"},
    {"del", 0, 1, 1, alias_del, "alias del ADDRESS"},
    {"enable", 0, 1, 1, alias_enable, "alias enable ADDRESS"},
    {"disable", 0, 1, 1, alias_disable, "alias disable ADDRESS"},
    {"fallback", 0, 2, 2, alias_fallback, "alias fallback ADDRESS DEST|none"},
};

int mxctl_cmd_alias(struct mxctl *ctl, int argc, char **argv)
{
	return run_family(ctl, "alias", alias_actions, MXD_ARRAY_SIZE(alias_actions), argc, argv);
}

/* --- aliasdomain ----------------------------------------------------------------------------------- */

static int aliasdomain_add(struct mxctl *ctl, struct db *db, const char *what, char **args, int nargs,
                           const struct mxctl_opts *opts)
{
	const char *error;
	if (db_alias_domain_add(db, args[0], args[1], &error) < 0)
		return fail(what, error);
	printf("alias domain %s -> %s: added\n", str_lower(args[0]), str_lower(args[1]));
	return 0;
}

static int aliasdomain_list(struct mxctl *ctl, struct db *db, const char *what, char **args, int nargs,
                            const struct mxctl_opts *opts)
{
	struct db_alias_domain *list;
	size_t n;
	const char *error;
	if (db_alias_domain_list(db, &list, &n, &error) < 0)
		return fail(what, error);
	int width = (int)strlen("ALIAS DOMAIN");
	for (size_t i = 0; i < n; i++) {
		if ((int)strlen(list[i].alias_domain) > width)
			width = (int)strlen(list[i].alias_domain);
	}
	printf("%-*s  %-6s  %s\n", width, "ALIAS DOMAIN", "ACTIVE", "TARGET DOMAIN");
	for (size_t i = 0; i < n; i++)
		printf("%-*s  %-6s  %s\n", width, list[i].alias_domain, list[i].active ? "yes" : "no",
		       list[i].target_domain);
	free(list);
	return 0;
}

static int aliasdomain_enable_op(struct db *db, const char *name, const char **error_r)
{
	return db_alias_domain_set_active(db, name, true, error_r);
}

static int aliasdomain_disable_op(struct db *db, const char *name, const char **error_r)
{
	return db_alias_domain_set_active(db, name, false, error_r);
}

static int aliasdomain_del(struct mxctl *ctl, struct db *db, const char *what, char **args, int nargs,
                           const struct mxctl_opts *opts)
{
	return domain_simple(db, what, args[0], "deleted", db_alias_domain_del);
}

static int aliasdomain_enable(struct mxctl *ctl, struct db *db, const char *what, char **args, int nargs,
                              const struct mxctl_opts *opts)
{
	return domain_simple(db, what, args[0], "enabled", aliasdomain_enable_op);
}

static int aliasdomain_disable(struct mxctl *ctl, struct db *db, const char *what, char **args, int nargs,
                               const struct mxctl_opts *opts)
{
	return domain_simple(db, what, args[0], "disabled", aliasdomain_disable_op);
}

static const struct mxctl_action aliasdomain_actions[] = {
    {"add", 0, 2, 2, aliasdomain_add, "aliasdomain add ALIAS_DOMAIN TARGET_DOMAIN"},
    {"list", 0, 0, 0, aliasdomain_list, "aliasdomain list"},
    {"del", 0, 1, 1, aliasdomain_del, "aliasdomain del ALIAS_DOMAIN"},
    {"enable", 0, 1, 1, aliasdomain_enable, "aliasdomain enable ALIAS_DOMAIN"},
    {"disable", 0, 1, 1, aliasdomain_disable, "aliasdomain disable ALIAS_DOMAIN"},
};

int mxctl_cmd_aliasdomain(struct mxctl *ctl, int argc, char **argv)
{
	return run_family(ctl, "aliasdomain", aliasdomain_actions, MXD_ARRAY_SIZE(aliasdomain_actions), argc,
	                  argv);
}

/* --- resolve --------------------------------------------------------------------------------------- */

/* Why did domain not resolve? Written into buf. */
static void explain_unknown_domain(struct db *db, const char *domain, char *buf, size_t size)
{
	struct db_domain d;
	struct db_alias_domain ad;
	const char *error;
	if (db_domain_get(db, domain, &d, &error) == 0) {
		snprintf(buf, size, "unknown domain: %s is hosted but disabled", domain);
	} else if (db_alias_domain_get(db, domain, &ad, &error) == 0) {
		if (!ad.active)
			snprintf(buf, size, "unknown domain: alias domain %s (-> %s) is disabled", domain,
			         ad.target_domain);
		else
			snprintf(buf, size, "unknown domain: %s is an alias domain of %s, which is disabled",
			         domain, ad.target_domain);
	} else {
		snprintf(buf, size, "unknown domain: %s is not a hosted domain or alias domain", domain);
	}
}

static int resolve_run(struct mxctl *ctl, struct db *db, const char *what, char **args, int nargs,
                       const struct mxctl_opts *opts)
{
	struct db_resolution res;
	const char *error;
	char address[ADDR_MAX + 1], why[700];

	if (addr_normalize(args[0], address, sizeof(address), &error) < 0) {
		char msg[1200];
		snprintf(msg, sizeof(msg), "address '%s': %s", args[0], error);
		return fail(what, msg);
	}
	if (db_resolve(db, address, ctl->cfg->recipient_delimiter, &res, &error) < 0)
		return fail(what, error);
	const char *domain = addr_domain(address);
	printf("address:      %s\n", address);
	switch (res.status) {
	case DB_RESOLVE_OK:
		printf("result:       ok\n");
		printf("rule:         %s", db_resolve_rule_name(res.rule));
		if (res.via_alias_domain)
			printf(" via alias domain %s -> %s", domain, addr_domain(res.matched));
		printf("\nmatched:      %s\n", res.matched);
		printf("destinations: ");
		print_destinations(res.destinations);
		break;
	case DB_RESOLVE_UNKNOWN_DOMAIN:
		explain_unknown_domain(db, domain, why, sizeof(why));
		printf("result:       %s\n", why);
		break;
	case DB_RESOLVE_UNKNOWN_USER:
		printf(
		    "result:       unknown user: no active alias matches (exact, delimiter '%s', catch-all)",
		    ctl->cfg->recipient_delimiter);
		if (res.via_alias_domain)
			printf(" at the target of alias domain %s", domain);
		printf("\n");
		break;
	}
	int ret = res.status == DB_RESOLVE_OK ? 0 : 1;
	db_resolution_clear(&res);
	return ret;
}

int mxctl_cmd_resolve(struct mxctl *ctl, int argc, char **argv)
{
	struct db *db;
	const char *error;
	if (argc != 2) {
		fprintf(stderr, "usage: mxctl resolve ADDRESS\n");
		return 2;
	}
	if (db_open(ctl->cfg->database, DB_OPEN_READONLY, &db, &error) < 0)
		return fail("resolve", error);
	int ret = resolve_run(ctl, db, "resolve", argv + 1, 1, NULL);
	db_close(&db);
	return ret;
}
