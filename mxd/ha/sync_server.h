/*
 * sync_server: the primary's side of replication. It serves the change feed of db/sync.h over HTTPS
 * to the secondaries' sync clients (mxd/ha/sync_client.h), and keeps the change log: a database that was
 * a replica becomes a primary's again (db_sync_replica_release), and log rows older than
 * sync_changelog_lifetime are trimmed at start and hourly while secondaries pull.
 *
 *   GET /sync/v1/changes?since=N&log=ID&limit=M   changes after seq N (or "reset": take a snapshot)
 *   GET /sync/v1/snapshot?tbl=T&after=K&limit=M   one page of a snapshot of every replicated row
 *
 * Each is answered 200 with a JSON page (db_sync_feed_changes/_snapshot); 401 without
 * "Authorization: Bearer <sync secret>" (checked first, in constant time); 429 with Retry-After for an
 * address that presented wrong secrets too often (sync_throttle.h), before its secret is looked at;
 * 400 for bad parameters;
 * 404 and 405 for other paths and methods; 503 when the database cannot be read. TLS 1.2 or newer
 * only, with sync_tls_cert_file and sync_tls_key_file: the secret and the relay passwords in route
 * rows never cross in plaintext. At most SYNC_PER_ADDRESS_LIMIT connections from one address at once
 * (64 in all), so one address cannot take every slot.
 *
 * THREADS: libmicrohttpd serves from one internal thread, which alone uses the server's own database
 * connection (read-write, because it trims). The functions below run in the main thread:
 * sync_server_new() while still privileged (reads the key, the certificate and the secret, binds the
 * socket), sync_server_start() after the privileges were dropped, sync_server_free() at exit (stops the
 * thread). On a secondary sync_server_new() gives *server_r = NULL (with a warning when sync_listen
 * is set) and the other functions accept NULL. Logs go to service "sync". 0 or -1 with *error_r.
 */
#ifndef MXD_SYNC_SERVER_H
#define MXD_SYNC_SERVER_H

struct mxd_config;
struct sync_server;

#define SYNC_DEFAULT_PORT      8026
#define SYNC_PER_ADDRESS_LIMIT 4 /* connections from one address at once (a secondary needs one) */

int sync_server_new(const struct mxd_config *cfg, struct sync_server **server_r, const char **error_r);
int sync_server_start(struct sync_server *server, const char **error_r);
void sync_server_free(struct sync_server **server);

/* The port the feed listens on (0 when it does not listen). */
int sync_server_port(const struct sync_server *server);

#endif
