/* expand: see expand.h. */
#include "mxd/rewrite/expand.h"

#include "db/resolve.h"
#include "mxd/common/strmap.h"
#include "mxd/common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One expansion in progress. */
struct expand_run {
	struct db *db;
	const char *delimiter;
	struct expansion *exp;
	struct strmap final_index; /* final address -> its index in exp->finals */
	struct strmap reached;     /* address -> the shallowest depth it was resolved at */
	const char *path[EXPAND_MAX_DEPTH + 1];
};

static void add_final(struct expand_run *run, const char *address, enum expand_status status)
{
	struct expansion *exp = run->exp;
	size_t i;
	if (strmap_get(&run->final_index, address, &i)) {
		if (status != EXPAND_OK) /* a loop found on one branch wins over an ok one */
			exp->finals[i].status = status;
		return;
	}
	if (exp->n >= EXPAND_MAX_FINALS) {
		exp->truncated = 1;
		return;
	}
	exp->finals = xrealloc(exp->finals, (exp->n + 1) * sizeof(*exp->finals));
	exp->finals[exp->n].address = str_lower(xstrdup(address));
	exp->finals[exp->n].status = status;
	strmap_put(&run->final_index, address, exp->n);
	exp->n++;
}

static bool on_path(const struct expand_run *run, size_t depth, const char *address)
{
	for (size_t i = 0; i < depth; i++)
		if (strcasecmp(run->path[i], address) == 0)
			return true;
	return false;
}

static int expand_one(struct expand_run *run, const char *address, size_t depth, const char **error_r);

/* Follow each destination of the alias at path[depth]. */
static int expand_destinations(struct expand_run *run, const char *const *dests, size_t n, size_t depth,
                               const char **error_r)
{
	for (size_t i = 0; i < n; i++) {
		const char *dest = dests[i];
		size_t seen;
		if (on_path(run, depth + 1, dest) || depth + 1 >= EXPAND_MAX_DEPTH) {
			add_final(run, dest, EXPAND_LOOP);
			continue;
		}
		if (strmap_get(&run->reached, dest, &seen) && seen <= depth + 1)
			continue; /* resolved before from as shallow a level: its finals are in */
		if (expand_one(run, dest, depth + 1, error_r) < 0)
			return -1;
	}
	return 0;
}

static int expand_one(struct expand_run *run, const char *address, size_t depth, const char **error_r)
{
	struct expansion *exp = run->exp;
	if (exp->lookups >= EXPAND_MAX_LOOKUPS) {
		exp->overflow = 1;
		return 0;
	}
	exp->lookups++;
	strmap_put(&run->reached, address, depth);
	struct db_resolution res;
	if (db_resolve(run->db, address, run->delimiter, &res, error_r) < 0)
		return -1;
	int ret = 0;
	if (res.status == DB_RESOLVE_UNKNOWN_DOMAIN) {
		add_final(run, address, EXPAND_OK);
	} else if (res.status == DB_RESOLVE_UNKNOWN_USER) {
		add_final(run, address, EXPAND_UNKNOWN);
	} else {
		run->path[depth] = address;
		ret = expand_destinations(run, (const char *const *)res.destinations, res.ndestinations,
		                          depth, error_r);
	}
	db_resolution_clear(&res);
	return ret;
}

static void expand_run_init(struct expand_run *run, struct db *db, const char *delimiter,
                            struct expansion *exp)
{
	memset(run, 0, sizeof(*run));
	memset(exp, 0, sizeof(*exp));
	run->db = db;
	run->delimiter = delimiter;
	run->exp = exp;
}

static void expand_run_clear(struct expand_run *run)
{
	strmap_clear(&run->final_index);
	strmap_clear(&run->reached);
}

int expand_recipient(struct db *db, const char *address, const char *delimiter, struct expansion *exp,
                     const char **error_r)
{
	struct expand_run run;
	expand_run_init(&run, db, delimiter, exp);
	int ret = expand_one(&run, address, 0, error_r);
	expand_run_clear(&run);
	if (ret < 0)
		expansion_clear(exp);
	return ret;
}

int expand_check(struct db *db, const char *address, const char *const *destinations, size_t n, void *ctx,
                 const char **error_r)
{
	const char *delimiter = ctx;
	static __thread char msg[200];
	struct expansion exp;
	struct expand_run run;
	expand_run_init(&run, db, delimiter, &exp);
	run.path[0] = address;
	strmap_put(&run.reached, address, 0);
	int ret = expand_destinations(&run, destinations, n, 0, error_r);
	expand_run_clear(&run);
	if (ret == 0 && exp.overflow) {
		snprintf(msg, sizeof(msg),
		         "destinations: the alias would need more than %d table lookups to expand (aliases "
		         "that list each other?)",
		         EXPAND_MAX_LOOKUPS);
		*error_r = msg;
		ret = -1;
	} else if (ret == 0 && exp.truncated) {
		snprintf(msg, sizeof(msg), "destinations: the alias would expand to more than %d addresses",
		         EXPAND_MAX_FINALS);
		*error_r = msg;
		ret = -1;
	}
	expansion_clear(&exp);
	return ret;
}

void expansion_clear(struct expansion *exp)
{
	for (size_t i = 0; i < exp->n; i++)
		free(exp->finals[i].address);
	free(exp->finals);
	memset(exp, 0, sizeof(*exp));
}
