/*
 * check: the self-check (mxctl check, the admin's check page and API, mxd's start-up warnings). It
 * looks at what the world sees of this installation and says, one line per finding, OK, WARN or FAIL
 * and what to fix:
 *   mx       each hosted domain's (and srs_domain's) MX records name myhostname, in the configured
 *            order: a primary before every other host, a secondary after primary_hosts
 *   spf      srs_domain's SPF record lists the address of every host of ours (myhostname, primary_hosts,
 *            single addresses in trusted_peers)
 *   dkim     every key under dkim_key_directory is published as written (dkim_key.h); myhostname has
 *            one (it signs the bounces mxd writes)
 *   arc      the key of arc_signing_domain / arc_selector exists and is published
 *   dmarc    each hosted domain has a DMARC record
 *   fcrdns   each address of myhostname has a PTR naming myhostname
 *   port25   outbound SMTP to check_smtp_probe answers 220
 *   tls      smtpd_tls_cert_file is valid (dates) for myhostname
 *   replica  on a secondary: the replica is fresh (replica_max_age)
 *
 * BLOCKS: it resolves through dns_sync (the "resolver" setting) and connects with timeouts, so it runs in
 * a process or thread that may wait, never in an event loop (mxd runs it in a thread of its own).
 *
 * OWNERSHIP: check_run() fills a report the caller frees with check_report_free().
 */
#ifndef MXD_CHECK_H
#define MXD_CHECK_H

#include "mxd/common/config.h"

#include <stdbool.h>
#include <stddef.h>

struct db;

enum check_level { CHECK_OK, CHECK_WARN, CHECK_FAIL };

struct check_line {
	enum check_level level;
	char *check;   /* "mx", "spf", ... (see above) */
	char *subject; /* the domain, host or file it is about */
	char *text;    /* what was found and, unless OK, what to do */
};

struct check_report {
	size_t n;
	struct check_line *lines;
};

struct check_options {
	const char *domain; /* only this domain's checks (and the host checks); NULL: every hosted domain */
	bool skip_probe;    /* do not connect to check_smtp_probe */
	unsigned timeout_msec; /* connection deadline of the probes (0: 10 s) */
};

/* Run every check for cfg. db (open, read-only is enough) gives the hosted domains and the replica's
 * state. 0 with the findings in *report_r, or -1 with *error_r when the check cannot run at all (the
 * resolver cannot start). */
int check_run(const struct mxd_config *cfg, struct db *db, const struct check_options *opt,
              struct check_report *report_r, const char **error_r);

/* The worst level of a report (CHECK_OK when empty). */
enum check_level check_report_worst(const struct check_report *report);

/* "OK", "WARN", "FAIL". */
const char *check_level_str(enum check_level level);

/* Add a finding (the text is formatted like printf). Used by the check_*.c files. */
void check_report_add(struct check_report *report, enum check_level level, const char *check,
                      const char *subject, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

void check_report_free(struct check_report *report);

#endif
