/*
 * expand: turns one accepted recipient into its final external destinations by following alias
 * chains through the tables (db_resolve, one level at a time). A destination at a hosted domain is
 * resolved again, up to EXPAND_MAX_DEPTH levels; a chain that comes back to an address already on its
 * path is a loop, and so is one deeper than the bound: such a destination is kept with status
 * EXPAND_LOOP so that the queue bounces it with 5.4.6. A destination at a hosted domain that resolves
 * to nothing is kept as EXPAND_UNKNOWN (bounced with 5.1.1). Finals are de-duplicated (case-insensitive)
 * and bounded (EXPAND_MAX_FINALS). Runs in the caller's thread on the caller's struct db.
 */
#ifndef MXD_EXPAND_H
#define MXD_EXPAND_H

#include <stddef.h>

struct db;

#define EXPAND_MAX_DEPTH  10
#define EXPAND_MAX_FINALS 1000

enum expand_status { EXPAND_OK, EXPAND_LOOP, EXPAND_UNKNOWN };

struct expand_final {
	char *address;
	enum expand_status status;
};

struct expansion {
	size_t n;
	struct expand_final *finals;
	int truncated; /* more than EXPAND_MAX_FINALS destinations: the rest were dropped (logged) */
};

/* Expand address, which db_resolve() has already found hosted and resolvable (or which is at a domain
 * we do not host: then it is its own final). 0, or -1 on a database error (*error_r; the session
 * answers 451). Free the result with expansion_clear(). */
int expand_recipient(struct db *db, const char *address, const char *delimiter, struct expansion *exp,
                     const char **error_r);
void expansion_clear(struct expansion *exp);

#endif
