/*
 * sync_client: a secondary's side of replication. A thread pulls the primary's change feed
 * (mxd/ha/sync_server.h) every sync_interval and applies each pull in one transaction to the local
 * replica (db_sync_apply), which the SMTP policy reads; while the primary is away the replica stays as
 * it was and keeps answering. The local database is made a replica at start (db_sync_replica_init:
 * local writes to the replicated tables are refused from then on).
 *
 * A pull asks for the changes after the last seq applied, page by page, until it has them all (at
 * most SYNC_PULL_PAGES pages; the rest comes at the next pull). When the primary answers "reset" (a
 * first pull, a trimmed or a new change log), the pull reads a whole snapshot instead, page by page;
 * pages read at different seqs (the tables changed meanwhile) start it over, up to 3 times.
 *
 * CHANNEL: HTTPS with OpenSSL, one blocking connection per request (with sync_timeout), TLS 1.2 or
 * newer; the primary's certificate must verify against sync_tls_CAfile (else the system's CAs) and
 * name sync_tls_server_name (else sync_primary's host; also sent as SNI). The shared secret
 * (sync_secret_file) goes only inside TLS, as "Authorization: Bearer". Nothing is sent before the
 * certificate has verified.
 *
 * LOGS (service "sync"): "replica at seq N (lag Ms): ..." when a pull changed something, a warning when
 * pulls fail (again when the reason changes, and every 5 minutes while it lasts) and a notice when they
 * work again. Each failure is also recorded in sync_state's last_error ("mxctl sync status").
 *
 * THREADS: sync_client_new() in the main thread while still privileged (reads the CA file and the
 * secret), sync_client_start() after the privileges were dropped (opens the database, makes it a
 * replica, starts the thread), sync_client_free() stops the thread (interrupting a pull in progress)
 * and frees. On a primary, or without sync_primary, sync_client_new() gives *client_r = NULL and the
 * other functions accept NULL. Returns 0, or -1 with *error_r (thread-local storage).
 */
#ifndef MXD_SYNC_CLIENT_H
#define MXD_SYNC_CLIENT_H

#include <stddef.h>

struct mxd_config;
struct sync_client;

#define SYNC_PULL_PAGES   64                 /* pages of changes in one pull */
#define SYNC_PAGE_REQUEST 1000               /* rows asked for per page */
#define SYNC_RESPONSE_MAX (64 * 1024 * 1024) /* bytes of one HTTP response */

int sync_client_new(const struct mxd_config *cfg, struct sync_client **client_r, const char **error_r);
int sync_client_start(struct sync_client *client, const char **error_r);
void sync_client_free(struct sync_client **client);

/* One pull in the caller's thread (what the thread does every sync_interval; tests call it after
 * sync_client_open()). Records and logs the outcome like the thread. */
int sync_client_pull(struct sync_client *client, const char **error_r);

/* Open the database and make it a replica, without starting the thread (sync_client_start() does
 * this first). */
int sync_client_open(struct sync_client *client, const char **error_r);

/* One HTTPS GET of target ("/sync/v1/changes?since=0") with the secret: *status_r and the body
 * (malloc'd, NUL-terminated; free with db_sync_page_free). For tests and the pull. */
int sync_client_get(struct sync_client *client, const char *target, int *status_r, char **body_r,
                    size_t *len_r, const char **error_r);

#endif
