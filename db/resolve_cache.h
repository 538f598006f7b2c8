/*
 * resolve_cache: the recent resolutions of one connection (struct db), so that a recipient looked up
 * again (the RCPT check, then its expansion; the next message to the same alias) costs no B-tree
 * lookups. Private to db/resolve.c.
 *
 * Never stale: db_resolve() reads the database's data_version (changed by every commit of another
 * connection, any process) and this connection's own change count inside the read transaction of each
 * lookup, and the cache is emptied as soon as either moved. Direct-mapped: a new entry replaces the one
 * in its slot, so memory is bounded by RESOLVE_CACHE_SLOTS entries.
 */
#ifndef MXD_DB_RESOLVE_CACHE_H
#define MXD_DB_RESOLVE_CACHE_H

#include "db/resolve.h"

#include <stdbool.h>
#include <stdint.h>

#define RESOLVE_CACHE_SLOTS 65536

struct resolve_cache;

struct resolve_cache *resolve_cache_new(void);
void resolve_cache_free(struct resolve_cache **cp);

/* The tables' version now: an empty cache if it differs from the one the entries were made at. */
void resolve_cache_validate(struct resolve_cache *c, int64_t data_version, int64_t changes);

/* A copy of the cached resolution of (address, delimiter) in *res_r (free with db_resolution_clear()).
 * false when not cached. */
bool resolve_cache_get(struct resolve_cache *c, const char *address, const char *delimiter,
                       struct db_resolution *res_r);
/* Keep a copy of res for (address, delimiter). */
void resolve_cache_put(struct resolve_cache *c, const char *address, const char *delimiter,
                       const struct db_resolution *res);

#endif
