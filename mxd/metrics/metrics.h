/*
 * metrics: the Prometheus text endpoint (metrics_listen, e.g. 127.0.0.1:9125; empty: off). Served by
 * libevent's evhttp in the main event loop: GET /metrics gives connections, messages accepted,
 * rejections by enhanced status code, deliveries / deferrals / bounces per route and next hop, queue
 * size and oldest age, DNS lookups and answers, and the replica's lag on a secondary. Anything else is
 * 404; only GET and HEAD are served. Owns the HTTP server; reads the other modules' counters.
 */
#ifndef MXD_METRICS_H
#define MXD_METRICS_H

struct event_base;
struct metrics;
struct mxd_config;
struct qmgr;
struct queue_store;
struct smtp_server;
struct db;

struct metrics_sources {
	const struct mxd_config *cfg;
	struct smtp_server *smtp;
	struct qmgr *qmgr;
	struct queue_store *queue;
	struct db *db; /* the tables: sync_state for the replica's lag (may be NULL) */
};

/* Listen on cfg->metrics_listen. 0 (also when it is empty: *m_r NULL), or -1 with *error_r. */
int metrics_start(struct event_base *base, const struct metrics_sources *src, struct metrics **m_r,
                  const char **error_r);
void metrics_free(struct metrics **m);

/* The whole exposition text, as served (for tests and "mxctl status"). Free with free(). */
char *metrics_render(const struct metrics_sources *src);

#endif
