/* metrics: see metrics.h. */
#include "mxd/metrics/metrics.h"

#include "db/db.h"
#include "mxd/common/config.h"
#include "mxd/common/netaddr.h"
#include "mxd/delivery/qmgr.h"
#include "mxd/queue/queue_failed.h"
#include "mxd/queue/queue_store.h"
#include "mxd/smtpd/smtp_server.h"
#include "mxd/common/util.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct metrics {
	struct evhttp *http;
	struct metrics_sources src;
};

/* Label values are escaped as the text format asks (backslash, double quote, newline). */
static void label(struct evbuffer *out, const char *value)
{
	for (const char *p = value; *p != '\0'; p++) {
		if (*p == '\\' || *p == '"')
			evbuffer_add_printf(out, "\\%c", *p);
		else if (*p == '\n')
			evbuffer_add(out, "\\n", 2);
		else
			evbuffer_add(out, p, 1);
	}
}

static void counter(struct evbuffer *out, const char *name, const char *help, const char *type, uint64_t v)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name,
	                    (unsigned long long)v);
}

static void render_smtpd(struct evbuffer *out, const struct metrics_sources *src)
{
	const struct smtp_stats *st = smtp_server_stats(src->smtp);
	counter(out, "mxd_smtpd_connections_total", "Inbound connections accepted.", "counter",
	        st->connections);
	counter(out, "mxd_smtpd_connections_refused_total", "Inbound connections refused over a limit.",
	        "counter", st->connections_refused);
	counter(out, "mxd_smtpd_sessions", "Inbound sessions open now.", "gauge",
	        smtp_server_session_count(src->smtp));
	counter(out, "mxd_smtpd_messages_accepted_total", "Messages accepted (250 to DATA).", "counter",
	        st->messages_accepted);
	counter(out, "mxd_smtpd_bytes_accepted_total", "Octets of accepted messages.", "counter",
	        st->bytes_accepted);
	counter(out, "mxd_smtpd_tls_sessions_total", "STARTTLS handshakes completed.", "counter",
	        st->tls_sessions);
	evbuffer_add_printf(out,
	                    "# HELP mxd_smtpd_gate_refused_total Clients refused by the connection gate, "
	                    "by reason.\n# TYPE mxd_smtpd_gate_refused_total counter\n");
	for (int r = 0; r < SMTP_GATE_REASONS; r++)
		evbuffer_add_printf(out, "mxd_smtpd_gate_refused_total{reason=\"%s\"} %llu\n",
		                    smtp_gate_reason_name((enum smtp_gate_reason)r),
		                    (unsigned long long)st->gate[r]);
	evbuffer_add_printf(out, "# HELP mxd_smtpd_rejected_total Rejections by enhanced status code.\n"
	                         "# TYPE mxd_smtpd_rejected_total counter\n");
	for (size_t i = 0; i < SMTP_STATS_REASONS && st->rejected[i].code[0] != '\0'; i++) {
		evbuffer_add_printf(out, "mxd_smtpd_rejected_total{code=\"");
		label(out, st->rejected[i].code);
		evbuffer_add_printf(out, "\"} %llu\n", (unsigned long long)st->rejected[i].count);
	}
	evbuffer_add_printf(
	    out,
	    "# HELP mxd_smtpd_milter_total Milter verdicts (smtpd_milters) and milters that failed.\n"
	    "# TYPE mxd_smtpd_milter_total counter\n"
	    "mxd_smtpd_milter_total{verdict=\"reject\"} %llu\n"
	    "mxd_smtpd_milter_total{verdict=\"tempfail\"} %llu\n"
	    "mxd_smtpd_milter_total{verdict=\"discard\"} %llu\n"
	    "mxd_smtpd_milter_total{verdict=\"quarantine\"} %llu\n"
	    "mxd_smtpd_milter_total{verdict=\"failed\"} %llu\n",
	    (unsigned long long)st->milter_rejected, (unsigned long long)st->milter_tempfailed,
	    (unsigned long long)st->milter_discarded, (unsigned long long)st->milter_quarantined,
	    (unsigned long long)st->milter_failed);
}

static void render_qmgr(struct evbuffer *out, const struct metrics_sources *src)
{
	struct qmgr_stats *st = xcalloc(1, sizeof(*st));
	qmgr_stats(src->qmgr, st);
	counter(out, "mxd_delivery_sent_total", "Recipients delivered.", "counter", st->sent);
	counter(out, "mxd_delivery_deferred_total", "Delivery attempts deferred.", "counter", st->deferred);
	counter(out, "mxd_delivery_bounced_total", "Recipients bounced.", "counter", st->bounced);
	counter(out, "mxd_qmgr_active_messages", "Messages being worked on.", "gauge", st->active_messages);
	counter(out, "mxd_smtp_connections", "Outbound connections open.", "gauge", st->connections);
	static const char *const kinds[] = {"sent", "deferred", "bounced"};
	evbuffer_add_printf(out, "# HELP mxd_delivery_total Recipient outcomes per route and next hop.\n"
	                         "# TYPE mxd_delivery_total counter\n");
	for (size_t i = 0; i < st->nhops; i++) {
		uint64_t v[3] = {st->hops[i].sent, st->hops[i].deferred, st->hops[i].bounced};
		for (size_t k = 0; k < 3; k++) {
			evbuffer_add_printf(out, "mxd_delivery_total{route=\"");
			label(out, st->hops[i].route);
			evbuffer_add_printf(out, "\",nexthop=\"");
			label(out, st->hops[i].nexthop);
			evbuffer_add_printf(out, "\",status=\"%s\"} %llu\n", kinds[k],
			                    (unsigned long long)v[k]);
		}
	}
	counter(out, "mxd_delivery_throttled_total",
	        "Delivery attempts answered with a throttling or reputation reply (421/450/451 4.7.x, rate "
	        "limits).",
	        "counter", st->throttled);
	counter(out, "mxd_dns_lookups_total", "DNS lookups started.", "counter", st->dns.lookups);
	counter(out, "mxd_dns_answers_total", "DNS answers, from unbound's cache or the network.", "counter",
	        st->dns.answers);
	counter(out, "mxd_dns_timeouts_total", "DNS lookups that timed out.", "counter", st->dns.timeouts);
	free(st);
}

static void render_queue(struct evbuffer *out, const struct metrics_sources *src)
{
	int64_t count = 0, oldest = 0;
	const char *error;
	if (queue_store_stats(src->queue, &count, &oldest, &error) < 0)
		return;
	counter(out, "mxd_queue_messages", "Messages in the queue.", "gauge", (uint64_t)count);
	int64_t age = oldest > 0 ? time_now() - oldest : 0;
	counter(out, "mxd_queue_oldest_age_seconds", "Age of the oldest queued message.", "gauge",
	        (uint64_t)(age > 0 ? age : 0));
	int64_t failed = 0, failed_bytes = 0;
	if (queue_failed_stats(src->queue, &failed, &failed_bytes, &error) < 0)
		return;
	counter(out, "mxd_queue_failed_messages", "Failed messages kept for failed_retention.", "gauge",
	        (uint64_t)failed);
	counter(out, "mxd_queue_failed_bytes", "Bytes of the failed messages kept.", "gauge",
	        (uint64_t)failed_bytes);
}

static void render_replica(struct evbuffer *out, const struct metrics_sources *src)
{
	sqlite3_stmt *st;
	if (src->db == NULL || strcmp(src->cfg->role, "secondary") != 0)
		return;
	if (sqlite3_prepare_v2(db_handle(src->db), "SELECT value FROM sync_state WHERE key = 'last_sync'", -1,
	                       &st, NULL) != SQLITE_OK)
		return;
	int64_t last = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	counter(out, "mxd_replica_lag_seconds", "Seconds since the replica last synced with the primary.",
	        "gauge", (uint64_t)(last > 0 ? time_now() - last : time_now()));
}

char *metrics_render(const struct metrics_sources *src)
{
	struct evbuffer *out = xevbuffer_new();
	render_smtpd(out, src);
	render_qmgr(out, src);
	render_queue(out, src);
	render_replica(out, src);
	size_t len = evbuffer_get_length(out);
	char *text = xmalloc(len + 1);
	evbuffer_remove(out, text, len);
	text[len] = '\0';
	evbuffer_free(out);
	return text;
}

static void metrics_request(struct evhttp_request *req, void *arg)
{
	struct metrics *m = arg;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_send_error(req, 405, "only GET and HEAD");
		return;
	}
	if (path == NULL || strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, 404, "try /metrics");
		return;
	}
	char *text = metrics_render(&m->src);
	struct evbuffer *body = xevbuffer_new();
	evbuffer_add(body, text, strlen(text));
	free(text);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "text/plain; version=0.0.4");
	evhttp_send_reply(req, 200, "OK", body);
	evbuffer_free(body);
}

int metrics_start(struct event_base *base, const struct metrics_sources *src, struct metrics **m_r,
                  const char **error_r)
{
	static __thread char err[256];
	*m_r = NULL;
	if (src->cfg->metrics_listen[0] == '\0')
		return 0;
	struct sockaddr_storage ss;
	socklen_t len;
	char host[NETADDR_STR_MAX];
	if (netaddr_parse(src->cfg->metrics_listen, 9125, &ss, &len, error_r) < 0)
		return -1;
	netaddr_str((struct sockaddr *)&ss, host, sizeof(host));
	uint16_t port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
	                                              : ((struct sockaddr_in6 *)&ss)->sin6_port);
	struct metrics *m = xcalloc(1, sizeof(*m));
	m->src = *src;
	m->http = evhttp_new(base);
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_max_headers_size(m->http, 8192);
	evhttp_set_max_body_size(m->http, 0);
	evhttp_set_timeout(m->http, 10);
	evhttp_set_gencb(m->http, metrics_request, m);
	if (evhttp_bind_socket(m->http, host, port) < 0) {
		snprintf(err, sizeof(err), "metrics_listen: cannot listen on %s", src->cfg->metrics_listen);
		*error_r = err;
		evhttp_free(m->http);
		free(m);
		return -1;
	}
	*m_r = m;
	return 0;
}

void metrics_free(struct metrics **mp)
{
	if (*mp == NULL)
		return;
	evhttp_free((*mp)->http);
	free(*mp);
	*mp = NULL;
}
