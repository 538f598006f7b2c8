/*
 * metrics_fetch: reading mxd's live counters from its metrics endpoint (metrics_listen, Prometheus text
 * format) for the tools beside it: mxctl status and mxadmin's dashboard. A blocking HTTP/1.0 GET over
 * TCP with a timeout, then plain lookups in the text. Any thread; the caller frees what it gets.
 */
#ifndef MXD_METRICS_FETCH_H
#define MXD_METRICS_FETCH_H

#include <stddef.h>

/* GET /metrics from listen ("host:port"), waiting at most timeout_ms for each step; the body (at most
 * 1 MiB, NUL-terminated, malloc'd), or NULL when mxd does not answer with 200. */
char *metrics_fetch(const char *listen, int timeout_ms);

/* The value of the sample whose name and labels are exactly prefix (e.g. "mxd_smtpd_sessions"), or -1. */
double metrics_sample(const char *text, const char *prefix);

/* One labelled sample of a metric. */
struct metrics_labelled {
	char labels[128]; /* as written: {reason="dnsbl"} (cut at 127 octets) */
	double value;
};

/* The samples of metric name that have labels, in the order served, at most max; their count. */
size_t metrics_labelled(const char *text, const char *name, struct metrics_labelled *out, size_t max);

#endif
