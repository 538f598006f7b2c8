/*
 * spf: SPF checks of the sender (RFC 7208) with libspf2, for the SMTP sessions, without ever blocking
 * the event loop; and the Received-SPF (RFC 7208 9.1) and Authentication-Results (RFC 8601) header
 * fields that record the verdict.
 *
 * OWNS a small pool of worker threads (SPF_DEFAULT_THREADS), each with its own libunbound context and
 * its own helper process (spf_helper.h), where libspf2 runs: libspf2 is never called in this process.
 * A worker hands its check to its helper, looks up what the helper asks for and writes the answers
 * back (spf_proto.h), and takes the verdict; it only shuttles messages, with non-blocking I/O bounded
 * by the check's deadline (spf_link.h). A helper that crashes, hangs past the deadline or says
 * anything malformed makes its check a temperror and is killed; the next check starts another (with a
 * backoff when they keep failing). Checks wait in a queue (mutex and condition variable); a worker runs
 * one at a time and posts the verdict back through an eventfd that the event loop watches. So that
 * senders whose DNS never answers cannot starve the others, the checks in flight (queued or running) are
 * bounded in all (max_checks) and per client (max_client_checks; IPv6 clients counted by their
 * ipv6_prefix network, client_count.h): a check over a bound is a temperror at once, a check's
 * deadline counts from when it was queued, and one still queued at its deadline is a temperror
 * without a lookup. libspf2's own DNS
 * layer reads /etc/resolv.conf and blocks without a deadline, so ours replaces it: every lookup goes
 * through libunbound to the configured "resolver" (the same path in tests and in production,
 * configured as mxd/dns/dns.c does: forwarders, localhost allowed, "test." passed through, no DNSSEC),
 * waits at most the lookup timeout, and a whole check at most the check timeout (RFC 7208 4.6.4);
 * what runs out of time is a temperror.
 *
 * The identity checked is MAIL FROM, or postmaster@<HELO name> for the null sender (RFC 7208 2.4). A
 * HELO name that is not a domain (an address literal) gives "none" without a lookup. Unlike libspf2's
 * own entry points, loopback clients get no free "pass": the caller skips the check for clients it
 * trusts (mynetworks, our peers) and everyone else is checked alike.
 *
 * THREADS: every function is called from the thread that runs the event_base given to spf_new(), and
 * every callback runs there from the event loop, never inside spf_check_start(). The header functions
 * are pure and thread-safe.
 *
 * CHECKS: spf_check_start() always returns a handle; the callback runs exactly once with the verdict,
 * unless the check is cancelled first with spf_cancel(), after which it never runs. The handle is
 * valid until the callback starts or spf_cancel() returns. The callback owns the result
 * (spf_result_free()). spf_free() drops the checks still waiting or running without their callbacks.
 *
 * HEADERS (spf_header.c): text that came from the network (explanations, problems) is reduced to
 * printable ASCII in the result, and the header functions quote or replace whatever would not be a
 * valid token there, so nothing a sender or a DNS zone holds can start a header line of its own.
 */
#ifndef MXD_SPF_H
#define MXD_SPF_H

#include <stdbool.h>
#include <sys/socket.h>

struct event_base;
struct spf;
struct spf_check;

#define SPF_DEFAULT_THREADS             4
#define SPF_DEFAULT_LOOKUP_TIMEOUT_MSEC 10000
#define SPF_DEFAULT_CHECK_TIMEOUT_MSEC  20000
#define SPF_DEFAULT_MAX_CHECKS          100
#define SPF_DEFAULT_MAX_CLIENT_CHECKS   2
#define SPF_DEFAULT_IPV6_PREFIX         64

enum spf_status {
	SPF_STATUS_NONE,
	SPF_STATUS_NEUTRAL,
	SPF_STATUS_PASS,
	SPF_STATUS_FAIL,
	SPF_STATUS_SOFTFAIL,
	SPF_STATUS_TEMPERROR,
	SPF_STATUS_PERMERROR,
};

struct spf_result {
	enum spf_status status;
	bool helo_identity; /* the HELO name was checked (null MAIL FROM) */
	char *client_ip;    /* as text */
	char *helo;         /* the HELO/EHLO argument */
	char *sender;       /* the identity as an address: MAIL FROM, or postmaster@<HELO name> */
	char *domain;       /* the domain whose policy was looked up */
	char *explanation;  /* FAIL: the domain's explanation (exp=) or ours; else NULL */
	char *problem;      /* TEMPERROR, PERMERROR: what went wrong; else NULL */
};

/* Called once per check in the event-loop thread; owns result. */
typedef void spf_callback(struct spf_result *result, void *ctx);

struct spf_options {
	unsigned threads;             /* 0: SPF_DEFAULT_THREADS */
	unsigned lookup_timeout_msec; /* 0: SPF_DEFAULT_LOOKUP_TIMEOUT_MSEC */
	unsigned check_timeout_msec;  /* 0: SPF_DEFAULT_CHECK_TIMEOUT_MSEC; counted from spf_check_start() */
	unsigned max_checks;          /* checks in flight in all; 0: SPF_DEFAULT_MAX_CHECKS */
	unsigned max_client_checks;   /* checks in flight per client; 0: SPF_DEFAULT_MAX_CLIENT_CHECKS */
	unsigned ipv6_prefix;         /* an IPv6 client is its network of this many bits; 0: 64 */
	const char *helper_user; /* the helpers' user when we run as root (mail_owner); NULL, "": nobody */
};

/* A checker on base. The program must call spf_helper_dispatch() first thing in main(). resolver is the
 * "resolver" setting ("" reads /etc/resolv.conf; else forwarders "addr", "addr:port", "[v6addr]:port");
 * receiver (myhostname) names us in explanations and comments; opts may be NULL for the defaults. 0, or -1
 * with *error_r (static) on a bad setting or when a thread or libunbound cannot start. */
int spf_new(struct event_base *base, const char *resolver, const char *receiver,
            const struct spf_options *opts, struct spf **spf_r, const char **error_r);

/* Stop the workers (a lookup in progress gives up at once), drop the checks without their callbacks,
 * free, set *spf to NULL. Not from inside a callback. */
void spf_free(struct spf **spf);

/* Check whether client (AF_INET or AF_INET6) may send mail from sender ("" for the null sender) after
 * greeting with helo. */
struct spf_check *spf_check_start(struct spf *spf, const struct sockaddr *client, const char *helo,
                                  const char *sender, spf_callback *cb, void *ctx);

/* Cancel a check whose callback has not run: it never will. Sets *check to NULL; NULL is allowed. */
void spf_cancel(struct spf_check **check);

/* Give up on a check whose callback has not run (its caller's deadline passed): cancel it and return
 * the temperror verdict, with problem, that stands for it (the caller owns it). Sets *check to NULL. */
struct spf_result *spf_check_expire(struct spf_check **check, const char *problem);

void spf_result_free(struct spf_result **result);

/* "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror" (RFC 7208 / RFC 8601). */
const char *spf_status_str(enum spf_status status);

/* "Received-SPF: ..." and "Authentication-Results: ..." for result, each a whole header field (folded,
 * ending in CRLF), newly allocated. receiver / authserv_id is our host name (myhostname). */
char *spf_header_received_spf(const struct spf_result *result, const char *receiver);
char *spf_header_authentication_results(const struct spf_result *result, const char *authserv_id);
/* Add the spf= result (smtp.mailfrom or smtp.helo) to an Authentication-Results list. */
struct auth_results;
void spf_header_auth_results_add(struct auth_results *ar, const struct spf_result *result);

#endif
