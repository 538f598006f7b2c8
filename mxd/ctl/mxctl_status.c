/*
 * mxctl_status: "mxctl status", the shell's view of what the metrics endpoint serves: the queue (from
 * the queue itself) and, when metrics_listen is set and mxd runs, its live counters (fetched from the
 * endpoint). Exit status 0, or 1 when mxd does not answer on metrics_listen.
 */
#include "mxd/common/config.h"
#include "mxd/ctl/mxctl.h"
#include "mxd/common/netaddr.h"
#include "mxd/queue/queue_failed.h"
#include "mxd/queue/queue_store.h"
#include "mxd/common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define STATUS_MAX_BODY (1024 * 1024)

/* GET /metrics from addr; the body, or NULL. */
static char *fetch_metrics(const char *listen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	const char *error;
	if (netaddr_parse(listen, 9125, &ss, &len, &error) < 0)
		return NULL;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	const char req[] = "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n";
	if (connect(fd, (struct sockaddr *)&ss, len) < 0 || fd_write_all(fd, req, sizeof(req) - 1) < 0) {
		close(fd);
		return NULL;
	}
	size_t cap = 65536, used = 0;
	char *buf = xmalloc(cap + 1);
	ssize_t n;
	while ((n = read(fd, buf + used, cap - used)) > 0) {
		used += (size_t)n;
		if (used == cap) {
			if (cap >= STATUS_MAX_BODY)
				break;
			cap *= 2;
			buf = xrealloc(buf, cap + 1);
		}
	}
	close(fd);
	buf[used] = '\0';
	char *body = strstr(buf, "\r\n\r\n");
	if (strncmp(buf, "HTTP/1.", 7) != 0 || strstr(buf, " 200 ") == NULL || body == NULL) {
		free(buf);
		return NULL;
	}
	memmove(buf, body + 4, strlen(body + 4) + 1);
	return buf;
}

/* The value of a sample line that starts with prefix (name and labels), or -1. */
static double sample(const char *text, const char *prefix)
{
	size_t pl = strlen(prefix);
	for (const char *line = text; line != NULL && *line != '\0';) {
		if (strncmp(line, prefix, pl) == 0 && line[pl] == ' ')
			return atof(line + pl + 1);
		line = strchr(line, '\n');
		if (line != NULL)
			line++;
	}
	return -1;
}

/* Print every sample of a metric with labels, one per line, indented. */
static void print_labelled(const char *text, const char *name, const char *title)
{
	size_t nl = strlen(name);
	bool header = false;
	for (const char *line = text; line != NULL && *line != '\0';) {
		const char *end = strchr(line, '\n');
		size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
		if (strncmp(line, name, nl) == 0 && line[nl] == '{') {
			if (!header)
				printf("%s\n", title);
			header = true;
			printf("  %.*s\n", (int)(len - nl), line + nl);
		}
		line = end != NULL ? end + 1 : NULL;
	}
}

int mxctl_cmd_status(struct mxctl *ctl, int argc, char **argv)
{
	const struct mxd_config *cfg = ctl->cfg;
	struct queue_store *qs;
	const char *error;
	int64_t count = 0, oldest = 0;
	if (argc != 1) {
		fprintf(stderr, "usage: mxctl status\n");
		return 2;
	}
	printf("role:              %s (%s)\n", cfg->role, cfg->myhostname);
	if (queue_store_open(cfg->queue_directory, &qs, &error) == 0) {
		int64_t failed = 0, failed_bytes = 0;
		if (queue_store_stats(qs, &count, &oldest, &error) == 0)
			printf("queue:             %lld messages, oldest %lld s\n", (long long)count,
			       (long long)(oldest > 0 ? time_now() - oldest : 0));
		if (queue_failed_stats(qs, &failed, &failed_bytes, &error) == 0)
			printf("failed (kept):     %lld messages, %lld bytes (mxctl queue failed)\n",
			       (long long)failed, (long long)failed_bytes);
		queue_store_close(&qs);
	} else {
		printf("queue:             unavailable (%s)\n", error);
	}
	if (cfg->metrics_listen[0] == '\0') {
		printf("live counters:     set metrics_listen to see them here\n");
		return 0;
	}
	char *m = fetch_metrics(cfg->metrics_listen);
	if (m == NULL) {
		fprintf(stderr, "mxctl: status: mxd does not answer on metrics_listen %s\n",
		        cfg->metrics_listen);
		return 1;
	}
	printf("sessions:          %.0f open, %.0f connections since start (%.0f refused)\n",
	       sample(m, "mxd_smtpd_sessions"), sample(m, "mxd_smtpd_connections_total"),
	       sample(m, "mxd_smtpd_connections_refused_total"));
	printf("accepted:          %.0f messages\n", sample(m, "mxd_smtpd_messages_accepted_total"));
	printf("delivered:         %.0f sent, %.0f deferred, %.0f bounced\n",
	       sample(m, "mxd_delivery_sent_total"), sample(m, "mxd_delivery_deferred_total"),
	       sample(m, "mxd_delivery_bounced_total"));
	double lag = sample(m, "mxd_replica_lag_seconds");
	if (lag >= 0)
		printf("replica lag:       %.0f s\n", lag);
	print_labelled(m, "mxd_smtpd_rejected_total", "rejected by status code:");
	print_labelled(m, "mxd_smtpd_gate_refused_total", "refused at the gate:");
	print_labelled(m, "mxd_smtpd_milter_total", "milter verdicts:");
	print_labelled(m, "mxd_delivery_total", "per route and next hop:");
	free(m);
	return 0;
}
