/*
 * mxctl_status: "mxctl status", the shell's view of what the metrics endpoint serves: the queue (from
 * the queue itself) and, when metrics_listen is set and mxd runs, its live counters (fetched from the
 * endpoint). Exit status 0, or 1 when mxd does not answer on metrics_listen.
 */
#include "mxd/common/config.h"
#include "mxd/common/metrics_fetch.h"
#include "mxd/ctl/mxctl.h"
#include "mxd/queue/queue_failed.h"
#include "mxd/queue/queue_store.h"
#include "mxd/common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Print every sample of a metric with labels, one per line, indented. */
static void print_labelled(const char *text, const char *name, const char *title)
{
	struct metrics_labelled v[64];
	size_t n = metrics_labelled(text, name, v, MXD_ARRAY_SIZE(v));
	if (n > 0)
		printf("%s\n", title);
	for (size_t i = 0; i < n; i++)
		printf("  %s %.15g\n", v[i].labels, v[i].value);
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
	char *m = metrics_fetch(cfg->metrics_listen, 5000);
	if (m == NULL) {
		fprintf(stderr, "mxctl: status: mxd does not answer on metrics_listen %s\n",
		        cfg->metrics_listen);
		return 1;
	}
	printf("sessions:          %.0f open, %.0f connections since start (%.0f refused)\n",
	       metrics_sample(m, "mxd_smtpd_sessions"), metrics_sample(m, "mxd_smtpd_connections_total"),
	       metrics_sample(m, "mxd_smtpd_connections_refused_total"));
	printf("accepted:          %.0f messages\n", metrics_sample(m, "mxd_smtpd_messages_accepted_total"));
	printf("delivered:         %.0f sent, %.0f deferred, %.0f bounced\n",
	       metrics_sample(m, "mxd_delivery_sent_total"), metrics_sample(m, "mxd_delivery_deferred_total"),
	       metrics_sample(m, "mxd_delivery_bounced_total"));
	double lag = metrics_sample(m, "mxd_replica_lag_seconds");
	if (lag >= 0)
		printf("replica lag:       %.0f s\n", lag);
	print_labelled(m, "mxd_smtpd_rejected_total", "rejected by status code:");
	print_labelled(m, "mxd_smtpd_gate_refused_total", "refused at the gate:");
	print_labelled(m, "mxd_smtpd_milter_total", "milter verdicts:");
	print_labelled(m, "mxd_delivery_total", "per route and next hop:");
	free(m);
	return 0;
}
