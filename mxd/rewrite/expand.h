/*
 * expand: turns one accepted recipient into its final external destinations by following alias
 * chains through the tables (db_resolve, one level at a time). A destination at a hosted domain is
 * resolved again, up to EXPAND_MAX_DEPTH levels; a chain that comes back to an address already on its
 * path is a loop, and so is one deeper than the bound: such a destination is kept with status
 * EXPAND_LOOP so that the queue bounces it with 5.4.6. A destination at a hosted domain that resolves
 * to nothing is kept as EXPAND_UNKNOWN (bounced with 5.1.1). Finals are de-duplicated (case-insensitive)
 * and bounded (EXPAND_MAX_FINALS). Runs in the caller's thread on the caller's struct db.
 *
 * BOUNDED WORK, whatever the tables hold: each address is resolved at most once per depth it is first
 * reached at (an address already expanded from as shallow a level is not expanded again: its finals
 * are in), and one expansion makes at most EXPAND_MAX_LOOKUPS table lookups; past that it stops and
 * sets overflow. So aliases that list each other cost O(aliases x depth) lookups, not one per path.
 * expand_check() is the same expansion for an alias about to be written, so that a change whose
 * expansion would pass the limits is refused when it is made, not when mail comes.
 */
#ifndef MXD_EXPAND_H
#define MXD_EXPAND_H

#include <stddef.h>

struct db;

#define EXPAND_MAX_DEPTH   10
#define EXPAND_MAX_FINALS  1000
#define EXPAND_MAX_LOOKUPS 2000

enum expand_status { EXPAND_OK, EXPAND_LOOP, EXPAND_UNKNOWN };

struct expand_final {
	char *address;
	enum expand_status status;
};

struct expansion {
	size_t n;
	struct expand_final *finals;
	int truncated;  /* more than EXPAND_MAX_FINALS destinations: the rest were dropped (logged) */
	int overflow;   /* EXPAND_MAX_LOOKUPS reached: the expansion is incomplete (the caller refuses it) */
	size_t lookups; /* table lookups made */
};

/* Expand address, which db_resolve() has already found hosted and resolvable (or which is at a domain
 * we do not host: then it is its own final). 0, or -1 on a database error (*error_r; the session
 * answers 451). Free the result with expansion_clear(). */
int expand_recipient(struct db *db, const char *address, const char *delimiter, struct expansion *exp,
                     const char **error_r);
void expansion_clear(struct expansion *exp);

/* Would the alias address -> destinations[0..n-1], as the tables hold it now (inside the writer's
 * transaction), expand within the limits? 0, or -1 with *error_r (static storage) naming the limit
 * passed: more than EXPAND_MAX_FINALS final destinations or EXPAND_MAX_LOOKUPS lookups, or a table
 * error. A loop is not an error here (the alias may be completed by a later change). A
 * db_alias_check_fn: the writers pass it to db_set_alias_check() with ctx = recipient_delimiter. */
int expand_check(struct db *db, const char *address, const char *const *destinations, size_t n, void *ctx,
                 const char **error_r);

#endif
