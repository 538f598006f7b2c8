/* expand: see expand.h. */
#include "mxd/rewrite/expand.h"

#include "db/resolve.h"
#include "mxd/common/util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void add_final(struct expansion *exp, const char *address, enum expand_status status)
{
	for (size_t i = 0; i < exp->n; i++) {
		if (strcasecmp(exp->finals[i].address, address) == 0) {
			if (status != EXPAND_OK) /* a loop found on one branch wins over an ok one */
				exp->finals[i].status = status;
			return;
		}
	}
	if (exp->n >= EXPAND_MAX_FINALS) {
		exp->truncated = 1;
		return;
	}
	exp->finals = xrealloc(exp->finals, (exp->n + 1) * sizeof(*exp->finals));
	exp->finals[exp->n].address = str_lower(xstrdup(address));
	exp->finals[exp->n].status = status;
	exp->n++;
}

static int on_path(const char *const *path, size_t depth, const char *address)
{
	for (size_t i = 0; i < depth; i++)
		if (strcasecmp(path[i], address) == 0)
			return 1;
	return 0;
}

static int expand_one(struct db *db, const char *address, const char *delimiter, const char **path,
                      size_t depth, struct expansion *exp, const char **error_r)
{
	struct db_resolution res;
	if (db_resolve(db, address, delimiter, &res, error_r) < 0)
		return -1;
	if (res.status == DB_RESOLVE_UNKNOWN_DOMAIN) {
		add_final(exp, address, EXPAND_OK);
	} else if (res.status == DB_RESOLVE_UNKNOWN_USER) {
		add_final(exp, address, EXPAND_UNKNOWN);
	} else {
		path[depth] = address;
		for (size_t i = 0; i < res.ndestinations; i++) {
			const char *dest = res.destinations[i];
			if (on_path(path, depth + 1, dest) || depth + 1 >= EXPAND_MAX_DEPTH) {
				add_final(exp, dest, EXPAND_LOOP);
				continue;
			}
			if (expand_one(db, dest, delimiter, path, depth + 1, exp, error_r) < 0) {
				db_resolution_clear(&res);
				return -1;
			}
		}
	}
	db_resolution_clear(&res);
	return 0;
}

int expand_recipient(struct db *db, const char *address, const char *delimiter, struct expansion *exp,
                     const char **error_r)
{
	const char *path[EXPAND_MAX_DEPTH + 1];
	memset(exp, 0, sizeof(*exp));
	if (expand_one(db, address, delimiter, path, 0, exp, error_r) < 0) {
		expansion_clear(exp);
		return -1;
	}
	return 0;
}

void expansion_clear(struct expansion *exp)
{
	for (size_t i = 0; i < exp->n; i++)
		free(exp->finals[i].address);
	free(exp->finals);
	memset(exp, 0, sizeof(*exp));
}
