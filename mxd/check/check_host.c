/* check_host: the checks of this host rather than of a domain (check_private.h): reverse DNS of our
 * addresses, outbound port 25, the STARTTLS certificate, the freshness of a secondary's replica. */
#include "mxd/check/check_private.h"

#include "mxd/common/netaddr.h"
#include "mxd/common/util.h"
#include "db/sync.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TLS_EXPIRY_WARN_DAYS 14

void check_fcrdns(struct check_ctx *ctx)
{
	char addr[NETADDR_STR_MAX];
	for (size_t i = 0; i < ctx->naddr; i++) {
		if (strcmp(ctx->addr_hosts[i], ctx->hostname) != 0)
			continue;
		netaddr_str((const struct sockaddr *)&ctx->addrs[i], addr, sizeof(addr));
		struct dns_sync_answer ptr;
		const char *detail;
		enum dns_status st = dns_sync_ptr(ctx->dns, &ctx->addrs[i], &ptr, &detail);
		bool match = false;
		for (size_t k = 0; st == DNS_OK && k < ptr.n && !match; k++)
			match = strcasecmp(ptr.rr[k].text, ctx->hostname) == 0;
		if (match)
			check_report_add(ctx->report, CHECK_OK, "fcrdns", addr, "PTR %s, whose address is %s",
			                 ctx->hostname, addr);
		else if (st == DNS_TEMPFAIL)
			check_report_add(ctx->report, CHECK_WARN, "fcrdns", addr,
			                 "the DNS did not answer (%s)", detail);
		else
			check_report_add(
			    ctx->report, CHECK_FAIL, "fcrdns", addr,
			    "the PTR of %s is %s, not myhostname %s: receivers distrust mail from it; ask "
			    "the provider of the address to set its reverse DNS to %s",
			    addr, st == DNS_OK ? ptr.rr[0].text : "missing", ctx->hostname, ctx->hostname);
		if (st == DNS_OK)
			dns_sync_answer_free(&ptr);
	}
}

/* Connect to ss within the deadline and read the first line of the greeting into line. */
static int probe(const struct sockaddr_storage *ss, unsigned msec, char *line, size_t size,
                 const char **why_r)
{
	socklen_t len = ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int64_t deadline = time_mono_msec() + msec;
	size_t got = 0;
	if (fd < 0) {
		*why_r = strerror(errno);
		return -1;
	}
	if (connect(fd, (const struct sockaddr *)ss, len) < 0 && errno != EINPROGRESS) {
		*why_r = strerror(errno);
		close(fd);
		return -1;
	}
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	int64_t left = deadline - time_mono_msec();
	if (poll(&p, 1, left > 0 ? (int)left : 0) != 1) {
		*why_r = "no answer in time (the port is filtered: blocked on the way)";
		close(fd);
		return -1;
	}
	int err = 0;
	socklen_t elen = sizeof(err);
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
	if (err != 0) {
		*why_r = strerror(err);
		close(fd);
		return -1;
	}
	p.events = POLLIN;
	while (got + 1 < size && memchr(line, '\n', got) == NULL) {
		left = deadline - time_mono_msec();
		if (poll(&p, 1, left > 0 ? (int)left : 0) != 1) {
			*why_r = "connected, but no greeting in time";
			close(fd);
			return -1;
		}
		ssize_t n = read(fd, line + got, size - 1 - got);
		if (n <= 0) {
			*why_r = "connected, but the server closed without a greeting";
			close(fd);
			return -1;
		}
		got += (size_t)n;
	}
	line[got] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	(void)!write(fd, "QUIT\r\n", 6);
	close(fd);
	return 0;
}

void check_port25(struct check_ctx *ctx)
{
	const char *target = ctx->cfg->check_smtp_probe;
	if (target[0] == '\0')
		return;
	char host[256], line[512] = "";
	const char *why = NULL, *p = target;
	size_t n = *p == '[' ? strcspn(++p, "]") : strcspn(p, ":");
	snprintf(host, sizeof(host), "%.*s", (int)n, p);
	const char *port_text = strrchr(target, ':');
	int port = 25;
	if (port_text != NULL && (target[0] != '[' || port_text > strchr(target, ']')))
		port = atoi(port_text + 1);
	struct sockaddr_storage ss;
	socklen_t len;
	struct dns_sync_answer ans = {0};
	bool ok = false;
	if (netaddr_parse(host, port, &ss, &len, &why) == 0) {
		ok = probe(&ss, ctx->timeout_msec, line, sizeof(line), &why) == 0;
	} else if (dns_sync_addrs(ctx->dns, host, &ans, &why) == DNS_OK) {
		for (size_t i = 0; i < ans.n && !ok && i < 4; i++) {
			ss = ans.rr[i].addr;
			((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
			if (ss.ss_family == AF_INET6)
				((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
			ok = probe(&ss, ctx->timeout_msec, line, sizeof(line), &why) == 0;
		}
		dns_sync_answer_free(&ans);
	}
	if (ok && strncmp(line, "220", 3) == 0)
		check_report_add(ctx->report, CHECK_OK, "port25", target, "outbound SMTP works: %.80s", line);
	else
		check_report_add(
		    ctx->report, CHECK_FAIL, "port25", target,
		    "outbound SMTP to %s fails (%s): mail cannot be delivered; many cloud providers "
		    "block port 25 until asked (EC2: request the removal of the limit)",
		    target, ok ? "no 220 greeting" : why);
}

void check_tls(struct check_ctx *ctx)
{
	const char *file = ctx->cfg->smtpd_tls_cert_file;
	if (file[0] == '\0') {
		check_report_add(
		    ctx->report, CHECK_WARN, "tls", ctx->hostname,
		    "no STARTTLS: set smtpd_tls_cert_file and smtpd_tls_key_file to a certificate for %s",
		    ctx->hostname);
		return;
	}
	FILE *f = fopen(file, "re");
	X509 *x = f != NULL ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f != NULL)
		fclose(f);
	if (x == NULL) {
		check_report_add(ctx->report, CHECK_FAIL, "tls", file,
		                 "cannot read a certificate from %s: %s", file,
		                 f == NULL ? strerror(errno) : "not PEM");
		return;
	}
	int days = 0, secs = 0;
	ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x));
	if (X509_check_host(x, ctx->hostname, 0, 0, NULL) != 1)
		check_report_add(ctx->report, CHECK_FAIL, "tls", file,
		                 "the certificate is not valid for myhostname %s: get one that names it",
		                 ctx->hostname);
	else if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
		check_report_add(ctx->report, CHECK_FAIL, "tls", file, "the certificate is not valid yet");
	else if (days < 0 || secs < 0 || X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
		check_report_add(ctx->report, CHECK_FAIL, "tls", file,
		                 "the certificate has expired: renew it (then systemctl reload mxd)");
	else if (days < TLS_EXPIRY_WARN_DAYS)
		check_report_add(ctx->report, CHECK_WARN, "tls", file,
		                 "the certificate for %s expires in %d days: renew it", ctx->hostname, days);
	else
		check_report_add(ctx->report, CHECK_OK, "tls", file, "valid for %s for %d more days",
		                 ctx->hostname, days);
	X509_free(x);
}

void check_replica(struct check_ctx *ctx)
{
	if (strcmp(ctx->cfg->role, "secondary") != 0 || ctx->db == NULL)
		return;
	struct db_sync_state st;
	const char *error;
	if (db_sync_state_get(ctx->db, &st, &error) < 0) {
		check_report_add(ctx->report, CHECK_FAIL, "replica", ctx->cfg->database, "%s", error);
		return;
	}
	int64_t age = time_now() - st.last_sync;
	if (st.last_sync == 0)
		check_report_add(
		    ctx->report, CHECK_FAIL, "replica", ctx->cfg->database,
		    "the replica has never synced from %s: check sync_primary, sync_secret_file and the "
		    "primary's sync_listen%s%s",
		    ctx->cfg->sync_primary[0] != '\0' ? ctx->cfg->sync_primary : "(sync_primary unset)",
		    st.last_error[0] != '\0' ? "; last error: " : "", st.last_error);
	else if (age > ctx->cfg->replica_max_age)
		check_report_add(
		    ctx->report, CHECK_FAIL, "replica", ctx->cfg->database,
		    "the replica is %llds old (replica_max_age %llds): mail is refused with 451 until "
		    "it syncs; last error: %s",
		    (long long)age, (long long)ctx->cfg->replica_max_age,
		    st.last_error[0] != '\0' ? st.last_error : "none");
	else
		check_report_add(ctx->report, CHECK_OK, "replica", ctx->cfg->database,
		                 "synced %llds ago from %s", (long long)(age > 0 ? age : 0), st.primary);
}
