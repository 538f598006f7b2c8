/*
 * sync: replication of the tables from the primary to its secondaries, as the database sees it.
 *
 * THE CHANGE LOG (primary). Triggers added by schema migration 4 append one row to "changelog" for
 * every insert, update and delete in the replicated tables (DB_SYNC_TABLES; route_stats and the admin
 * tables are each host's own): seq (AUTOINCREMENT, never reused), tbl, pk (the primary key as text),
 * op ("insert", "update", "delete"), row (json_object of the new row, NULL for a delete) and at (unix
 * time). Foreign-key cascades fire the triggers too, so a deleted domain logs its aliases' deletes.
 * The log is identified by a random "log_id" (sync_state): a secondary that knows another id, asks for
 * a seq the log no longer holds (trimmed) or a seq the log never reached gets a snapshot instead.
 *
 * THE REPLICA (secondary). sync_state(key, value) in the secondary's own database holds:
 *   primary          the primary it replicates (sync_primary); its presence makes this a replica, and
 *                    stops the change-log triggers;
 *   replica_lock     present while a replica: triggers refuse every local write to the replicated tables
 *                    ("this is a secondary: change the tables on the primary"); db_sync_apply() lifts it
 *                    inside its own transaction only;
 *   last_seq         the primary's seq applied last;
 *   last_sync        unix time of the last successful pull, with or without changes (the SMTP policy
 *                    refuses with 451 when it is older than replica_max_age);
 *   last_error       why the last pull failed ("" once one succeeds);
 *   primary_version  the primary's current seq at the last contact;
 *   primary_log_id   the primary's log_id at the last contact;
 *   tables_version   how many pulls changed the replica (see db_sync_tables_version()).
 * On the primary it holds log_id and trimmed_seq (seqs up to it were trimmed).
 *
 * THE FEED. db_sync_feed_changes() and db_sync_feed_snapshot() write the JSON pages the primary serves
 * (mxd/ha/sync_server.c); db_sync_page_parse() reads a page's header and db_sync_apply() applies pages on
 * the secondary (mxd/ha/sync_client.c) in one transaction: upserts and deletes in the primary's order,
 * foreign keys deferred to the commit. JSON is written and read by SQLite's json1 functions.
 *
 * Files: sync.c (state, replica lock, trimming), sync_tables.c (the statements of each replicated
 * table), sync_feed.c (pages served), sync_apply.c (pages applied). Same thread rules as db.h. Returns
 * 0, or -1 with *error_r (pointing into the struct db).
 */
#ifndef MXD_DB_SYNC_H
#define MXD_DB_SYNC_H

#include "db/db.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DB_SYNC_TABLES       "domains, aliases, alias_domains, routes, route_hops"
#define DB_SYNC_LOG_ID_MAX   64
#define DB_SYNC_ERROR_MAX    512
#define DB_SYNC_PRIMARY_MAX  300
#define DB_SYNC_PAGE_LIMIT   5000              /* rows in one page at most */
#define DB_SYNC_PAGE_BYTES   (4 * 1024 * 1024) /* a page stops growing past this size */
#define DB_SYNC_LOCK_MESSAGE "this is a secondary: change the tables on the primary"

/* What sync_state and the change log say. The replica fields are 0/"" on a primary. */
struct db_sync_state {
	bool replica;                           /* sync_state has a primary */
	char primary[DB_SYNC_PRIMARY_MAX + 1];  /* the primary replicated ("" if none) */
	int64_t last_seq;                       /* the primary's seq applied last (0: nothing yet) */
	int64_t last_sync;                      /* unix time of the last successful pull (0: never) */
	char last_error[DB_SYNC_ERROR_MAX + 1]; /* "" when the last pull succeeded */
	int64_t primary_seq;                    /* the primary's seq at the last contact (primary_version) */
	char primary_log_id[DB_SYNC_LOG_ID_MAX + 1];
	/* this database's own change log (the primary's) */
	char log_id[DB_SYNC_LOG_ID_MAX + 1];
	int64_t log_seq;     /* the last seq handed out (0: none yet) */
	int64_t log_rows;    /* rows kept */
	int64_t log_oldest;  /* the oldest seq kept (0: none kept) */
	int64_t log_trimmed; /* seqs up to this one were trimmed */
};

/* Read sync_state and the change log's counters. */
int db_sync_state_get(struct db *db, struct db_sync_state *st_r, const char **error_r);

/* 1 when sync_state names a primary (this database is a replica), 0 when not, -1 when it cannot be
 * read (a caller deciding whether to write should then refuse). */
int db_sync_is_replica(struct db *db);

/* Make this database a replica of primary (host:port, for the record): set "primary" and the
 * replica_lock, empty its own change log, take the permissions of "other" users off the database
 * files (the replica holds relay passwords). A replica of another primary starts over (its next pull
 * is a snapshot). */
int db_sync_replica_init(struct db *db, const char *primary, const char **error_r);

/* Turn a replica back into a primary (role = primary): drop the replica keys and the lock, start a new
 * change log (new log_id, so its own secondaries take a snapshot). *released_r says whether it was a
 * replica. */
int db_sync_replica_release(struct db *db, bool *released_r, const char **error_r);

/* PRIMARY: start a new change log (new log_id, no rows), so that every secondary takes a snapshot at
 * its next pull: after the database was restored from an older copy, whose seqs the secondaries may
 * have seen with other contents. Refused on a replica. */
int db_sync_log_restart(struct db *db, const char **error_r);

/* Delete the change-log rows older than max_age seconds (now: unix time), oldest first, recording the
 * last seq removed as trimmed_seq. *deleted_r (may be NULL) gets the count. */
int db_sync_log_trim(struct db *db, int64_t max_age, int64_t now, int64_t *deleted_r, const char **error_r);

/* A number that changes whenever the replicated tables may have changed: the change log's seq plus
 * the count of pulls that changed a replica. For modules that cache those tables (the queue manager's
 * routes) in place of PRAGMA data_version, which on a secondary also changes with every successful
 * pull (last_sync), that is every sync_interval. */
int db_sync_tables_version(struct db *db, int64_t *version_r, const char **error_r);

/* Record why a pull failed (last_error), leaving the replica as it is. Cheap when unchanged. */
int db_sync_set_error(struct db *db, const char *error, const char **error_r);

/* PRIMARY: the page of changes after seq since, as a malloc'd JSON document (*json_r, *len_r; free
 * with db_sync_page_free()), read in one transaction:
 *   {"log":ID,"seq":CURRENT,"now":T,"reset":false,"more":BOOL,"changes":[{"seq":N,"tbl":T,"pk":K,
 *    "op":"insert|update|delete","at":T,"row":{...}|null},...]}
 * at most limit changes (and about DB_SYNC_PAGE_BYTES). When log_id is not this log's, since was
 * trimmed or is beyond the log, the page is {"log":..,"seq":..,"now":..,"reset":true,"more":false,
 * "changes":[]}: the secondary must read a snapshot. Refuses on a replica (it does not log). */
int db_sync_feed_changes(struct db *db, int64_t since, const char *log_id, unsigned limit, char **json_r,
                         size_t *len_r, const char **error_r);

/* PRIMARY: one page of a snapshot of every replicated row, table by table in DB_SYNC_TABLES order,
 * each by primary key, starting after row (tbl, after) (tbl NULL or "": the beginning; after NULL: the
 * table's first row):
 *   {"log":ID,"seq":CURRENT,"now":T,"reset":true,"more":BOOL,"next":{"tbl":T,"after":K},
 *    "changes":[{"tbl":T,"pk":K,"op":"insert","row":{...}},...]}
 * ("next" only with more). Pages read at the same seq belong to one consistent snapshot. An unknown
 * tbl is an input error. */
int db_sync_feed_snapshot(struct db *db, const char *tbl, const char *after, unsigned limit, char **json_r,
                          size_t *len_r, const char **error_r);

/* Wipe and free a page (it may hold relay passwords). */
void db_sync_page_free(char **json, size_t len);

/* SECONDARY: the header of a page received. */
struct db_sync_page {
	char log_id[DB_SYNC_LOG_ID_MAX + 1];
	int64_t seq; /* the primary's current seq */
	int64_t now; /* the primary's clock */
	bool reset;  /* a snapshot page (or the answer that one is needed) */
	bool more;   /* another page follows */
	char next_tbl[32];
	char *next_after; /* malloc'd; NULL for the table's beginning */
	int64_t nchanges;
	int64_t last_seq; /* seq of the last change (0: none, or a snapshot page) */
	int64_t last_at;  /* its time */
};

/* Validate a page (JSON, its header, known tables) and read its header. Clear with
 * db_sync_page_clear(). */
int db_sync_page_parse(struct db *db, const char *json, struct db_sync_page *page_r, const char **error_r);
void db_sync_page_clear(struct db_sync_page *page);

/* SECONDARY: apply pages in one transaction. With snapshot, the pages are a whole snapshot: every
 * replicated row they do not hold is deleted (rows they hold are upserted, so the rows of local tables
 * that refer to them, such as route_stats, stay). Then sync_state gets last_seq (the snapshot's seq,
 * or the last change's), primary_version = primary_seq, primary_log_id = log_id, last_sync = now and
 * an empty last_error. *applied_r (may be NULL) gets the number of changes applied. On any failure
 * nothing changes. */
struct db_sync_batch {
	bool snapshot;
	const char *const *pages;
	size_t npages;
	const char *log_id;
	int64_t primary_seq;
	int64_t now;
};

int db_sync_apply(struct db *db, const struct db_sync_batch *batch, int64_t *applied_r, const char **error_r);

#endif
