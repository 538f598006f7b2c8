/*
 * sync_private: what db/sync.c, db/sync_tables.c, db/sync_feed.c and db/sync_apply.c share: the
 * descriptor of each replicated table (every statement that reads or writes it for replication) and
 * the write of one sync_state key.
 */
#ifndef MXD_DB_SYNC_PRIVATE_H
#define MXD_DB_SYNC_PRIVATE_H

#include "db/sync.h"

#include <stdbool.h>
#include <stddef.h>

struct sync_table {
	const char *name;
	const char *pk_path; /* the primary key in the row's JSON ("$.name") */
	bool int_pk;
	const char *first_sql, *next_sql; /* snapshot entries from the start / after ?1; ?2 limit */
	const char *upsert_sql;           /* ?1 the row */
	const char *unique_sql;           /* NULL, or free the row's other unique key (?1 the row) */
	const char *delete_sql;           /* ?1 the primary key */
	const char *prune_sql;            /* delete what a snapshot did not hold (temp.sync_seen) */
};

/* In the order of DB_SYNC_TABLES: parents before children. */
extern const struct sync_table db_sync_tables[];
extern const size_t db_sync_ntables;

/* The table called name, or NULL. */
const struct sync_table *db_sync_table_find(const char *name);

/* Set sync_state's key to value. 0 or -1. */
int db_sync_state_put(struct db *db, const char *key, const char *value, const char **error_r);

#endif
