/*
 * test_policy: the recipient and sender decisions of mxd/smtpd/policy.c, each a row of input and the
 * answer expected ("ok" with the final destinations, or the reply's code, enhanced code and text),
 * against tables made here with the db/ API and read through a read-only connection as mxd does:
 * hosted, unhosted and alias domains, mynetworks relay, relay tricks refused for everyone, the bare
 * <Postmaster>, SRS bounces reversed (or checked and passed on, on a secondary), a stale replica, a
 * table that cannot be read (451 4.3.0), and the SPF verdict under spf_policy off, tag and reject.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "db/alias.h"
#include "db/alias_domain.h"
#include "db/db.h"
#include "db/domain.h"
#include "mxd/common/config.h"
#include "mxd/common/netaddr.h"
#include "mxd/common/util.h"
#include "mxd/rewrite/srs.h"
#include "mxd/smtpd/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SRS_DOMAIN "srs.example.com"
#define SRS_SECRET "t3st-s3cret"

/* The tables: an alias and its destinations, joined with ','. */
static const struct {
	const char *address;
	const char *destinations;
} aliases[] = {
    {"info@example.com", "a@x.net,b@y.org"},
    {"chain@example.com", "info@example.com"},
    {"postmaster@example.com", "pm@x.net"},
    {"@example.net", "catch@x.net"},
};

/* RCPT: the argument as the client sends it, whether the client is trusted (mynetworks or
 * trusted_peers), and the answer: "ok <finals>" or "<code> <enh> <text>". In arg, "SRS(sender)" stands
 * for our SRS address of sender, made at test time (SRS addresses expire), "BADSRS(sender)" for the
 * same with its hash spoiled and "OLDSRS(sender)" for one made 40 days ago (expired); "$SRS" in want is
 * that address. The envelope sender is the null sender unless the row names one. */
/* rows leave sender out for the null sender */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
struct rcpt_row {
	const char *arg;
	bool trusted;
	const char *want;
	const char *sender; /* MAIL FROM; NULL: <> */
};

#define SRS_REFUSED(a) "550 5.1.1 <" a ">: Recipient address rejected: invalid or expired SRS address"
#define SRS_NOT_BOUNCE(a)                                                                                    \
	"550 5.7.1 <" a ">: Recipient address rejected: SRS addresses accept bounces only (null sender)"

#define UNKNOWN_USER(a) "550 5.1.1 <" a ">: Recipient address rejected: User unknown in virtual alias table"
#define RELAY_DENIED(a) "554 5.7.1 <" a ">: Relay access denied"
#define TRICK(a, why)   "553 5.7.1 <" a ">: Recipient address rejected: " why
#define STALE(a)                                                                                             \
	"451 4.3.0 <" a ">: Recipient address rejected: replica of the tables is out of date, try again "    \
	"later"
#define TEMPFAIL(a) "451 4.3.0 <" a ">: Temporary lookup failure"

static const struct rcpt_row primary_rows[] = {
    /* hosted: the aliases' final destinations (+tag, chains, alias domains, catch-all) */
    {"TO:<info@example.com>", false, "ok a@x.net,b@y.org"},
    {"TO:<INFO@Example.COM>", false, "ok a@x.net,b@y.org"},
    {"TO:<info+news@example.com>", false, "ok a@x.net,b@y.org"},
    {"TO:<chain@example.com>", false, "ok a@x.net,b@y.org"},
    {"TO:<info@alias.example>", false, "ok a@x.net,b@y.org"},
    {"TO:<anyone@example.net>", false, "ok catch@x.net"},
    /* hosted domain, no such user: 550 for everyone */
    {"TO:<nobody@example.com>", false, UNKNOWN_USER("nobody@example.com")},
    {"TO:<nobody@example.com>", true, UNKNOWN_USER("nobody@example.com")},
    {"TO:<nobody@alias.example>", false, UNKNOWN_USER("nobody@alias.example")},
    /* a domain we do not host: relayed for mynetworks and trusted_peers only */
    {"TO:<x@elsewhere.org>", false, RELAY_DENIED("x@elsewhere.org")},
    {"TO:<x@elsewhere.org>", true, "ok x@elsewhere.org"},
    {"TO:<x@sub.example.com>", false, RELAY_DENIED("x@sub.example.com")},
    /* the bare <Postmaster>: postmaster at myhostname (not hosted here), else at mydomain */
    {"TO:<Postmaster>", false, "ok pm@x.net"},
    {"TO:<postmaster@example.com>", false, "ok pm@x.net"},
    /* relay tricks: refused before any table is read, for trusted clients too */
    {"TO:<@relay.example:user@example.com>", false,
     TRICK("user@example.com", "source routes are not accepted")},
    {"TO:<@relay.example:user@example.com>", true,
     TRICK("user@example.com", "source routes are not accepted")},
    {"TO:<user%elsewhere.org@example.com>", false,
     TRICK("user%elsewhere.org@example.com", "'%' in the local part is not accepted")},
    {"TO:<user%elsewhere.org@example.com>", true,
     TRICK("user%elsewhere.org@example.com", "'%' in the local part is not accepted")},
    {"TO:<elsewhere.org!user@example.com>", false,
     TRICK("elsewhere.org!user@example.com", "'!' in the local part is not accepted")},
    {"TO:<elsewhere.org!user@example.com>", true,
     TRICK("elsewhere.org!user@example.com", "'!' in the local part is not accepted")},
    {"TO:<\"user@elsewhere.org\"@example.com>", false,
     TRICK("\"user@elsewhere.org\"@example.com", "a quoted '@' in the local part is not accepted")},
    {"TO:<\"user@elsewhere.org\"@example.com>", true,
     TRICK("\"user@elsewhere.org\"@example.com", "a quoted '@' in the local part is not accepted")},
    {"TO:<user@[192.0.2.1]>", false, TRICK("user@[192.0.2.1]", "address literals are not accepted")},
    {"TO:<user@[192.0.2.1]>", true, TRICK("user@[192.0.2.1]", "address literals are not accepted")},
    /* bounces to our SRS addresses: reversed, then through the tables like any recipient */
    {"TO:<SRS(alice@example.org)>", false, "ok alice@example.org"},
    {"TO:<SRS(info@example.com)>", false, "ok a@x.net,b@y.org"},
    /* every bad SRS address gets the same reply: no oracle for the hash or the age */
    {"TO:<BADSRS(alice@example.org)>", false, SRS_REFUSED("$SRS")},
    {"TO:<OLDSRS(alice@example.org)>", false, SRS_REFUSED("$SRS")},
    {"TO:<SRS0=abcd@srs.example.com>", false, SRS_REFUSED("SRS0=abcd@srs.example.com")},
    /* only bounces: an SRS address is no token to relay other mail to its sender (srs_bounce_only),
     * refused before the signature is looked at; trusted clients may relay anyway */
    {"TO:<SRS(alice@example.org)>", false, SRS_NOT_BOUNCE("$SRS"), "mallory@evil.test"},
    {"TO:<BADSRS(alice@example.org)>", false, SRS_NOT_BOUNCE("$SRS"), "mallory@evil.test"},
    {"TO:<SRS(alice@example.org)>", true, "ok alice@example.org", "app@example.com"},
    /* at srs_domain but not in SRS form: the tables decide (the domain is not hosted) */
    {"TO:<alice@srs.example.com>", false, RELAY_DENIED("alice@srs.example.com")},
};

/* A secondary whose replica never synced: unknown recipients get 451 instead of 550 or 554, known ones
 * are accepted as themselves (the primary expands them), SRS addresses are checked but not reversed. */
static const struct rcpt_row stale_rows[] = {
    {"TO:<info@example.com>", false, "ok info@example.com"},
    {"TO:<info+news@alias.example>", false, "ok info+news@alias.example"},
    {"TO:<nobody@example.com>", false, STALE("nobody@example.com")},
    {"TO:<x@elsewhere.org>", false, STALE("x@elsewhere.org")},
    {"TO:<x@elsewhere.org>", true, "ok x@elsewhere.org"},
    {"TO:<Postmaster>", false, "ok postmaster@example.com"},
    {"TO:<SRS(alice@example.org)>", false, "ok $SRS"},
    {"TO:<BADSRS(alice@example.org)>", false, SRS_REFUSED("$SRS")},
    {"TO:<SRS(alice@example.org)>", false, SRS_NOT_BOUNCE("$SRS"), "mallory@evil.test"},
    {"TO:<user%elsewhere.org@example.com>", false,
     TRICK("user%elsewhere.org@example.com", "'%' in the local part is not accepted")},
};

/* The same secondary once its replica is fresh: the primary's answers. */
static const struct rcpt_row fresh_rows[] = {
    {"TO:<info@example.com>", false, "ok info@example.com"},
    {"TO:<nobody@example.com>", false, UNKNOWN_USER("nobody@example.com")},
    {"TO:<x@elsewhere.org>", false, RELAY_DENIED("x@elsewhere.org")},
    {"TO:<x@elsewhere.org>", true, "ok x@elsewhere.org"},
};

/* A primary whose tables cannot be read: 451 4.3.0 wherever a table is needed, never 550. */
static const struct rcpt_row broken_rows[] = {
    {"TO:<info@example.com>", false, TEMPFAIL("info@example.com")},
    {"TO:<nobody@example.com>", false, TEMPFAIL("nobody@example.com")},
    {"TO:<x@elsewhere.org>", false, TEMPFAIL("x@elsewhere.org")},
    {"TO:<x@elsewhere.org>", true, TEMPFAIL("x@elsewhere.org")},
    {"TO:<Postmaster>", false, TEMPFAIL("Postmaster")},
    /* the SRS signature needs no table; the original sender's expansion does */
    {"TO:<SRS(alice@example.org)>", false, TEMPFAIL("alice@example.org")},
    {"TO:<user%elsewhere.org@example.com>", false,
     TRICK("user%elsewhere.org@example.com", "'%' in the local part is not accepted")},
};

struct fixture {
	char dir[64];
	char path[128];
	char secret[128];
	struct db *rw;
	struct mxd_config *cfg;
	struct srs *srs; /* the same secret as the policy's, to make SRS addresses */
};

static struct fixture fx;

static void must(int rc, const char *err)
{
	if (rc != 0)
		fail_msg("fixture: %s", err);
}

static void set(struct mxd_config *cfg, const char *name, const char *value)
{
	const char *err = "";
	must(config_set(cfg, name, value, &err), err);
}

/* Add address -> the destinations in joined (split at ','). */
static void add_alias(const char *address, const char *joined)
{
	char *copy = xstrdup(joined), *save = NULL;
	const char *dests[DB_ALIAS_DESTINATIONS_MAX];
	size_t n = 0;
	for (char *d = strtok_r(copy, ",", &save); d != NULL; d = strtok_r(NULL, ",", &save))
		dests[n++] = d;
	const char *err = "";
	must(db_alias_add(fx.rw, address, dests, n, 0, &err), err);
	free(copy);
}

static void sql(const char *statement)
{
	char *err = NULL;
	if (sqlite3_exec(db_handle(fx.rw), statement, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", statement, err);
}

static int setup(void **state)
{
	const char *err = "";
	str_copy(fx.dir, sizeof(fx.dir), "/tmp/test_policy.XXXXXX");
	if (mkdtemp(fx.dir) == NULL)
		return -1;
	snprintf(fx.path, sizeof(fx.path), "%s/mxd.db", fx.dir);
	snprintf(fx.secret, sizeof(fx.secret), "%s/srs.secret", fx.dir);
	FILE *f = fopen(fx.secret, "w");
	if (f == NULL)
		return -1;
	fputs(SRS_SECRET "\n", f);
	fclose(f);
	if (chmod(fx.secret, 0600) < 0) /* a secret others may read is refused */
		return -1;
	const char *secrets[] = {SRS_SECRET};
	fx.srs = srs_new_secrets(SRS_DOMAIN, secrets, 1, "");

	must(db_open(fx.path, DB_OPEN_CREATE, &fx.rw, &err), err);
	must(db_domain_add(fx.rw, "example.com", NULL, 0, &err), err);
	must(db_domain_add(fx.rw, "example.net", NULL, 0, &err), err);
	must(db_alias_domain_add(fx.rw, "alias.example", "example.com", &err), err);
	for (size_t i = 0; i < MXD_ARRAY_SIZE(aliases); i++)
		add_alias(aliases[i].address, aliases[i].destinations);

	fx.cfg = config_new();
	set(fx.cfg, "myhostname", "mx.example.com");
	set(fx.cfg, "mydomain", "example.com");
	set(fx.cfg, "mynetworks", "192.0.2.0/24, [2001:db8::]/32");
	set(fx.cfg, "trusted_peers", "198.51.100.7");
	set(fx.cfg, "srs_domain", SRS_DOMAIN);
	set(fx.cfg, "srs_secret_file", fx.secret);
	return 0;
}

static int teardown(void **state)
{
	static const char *const suffixes[] = {"", "-wal", "-shm"};
	char p[160];
	config_free(&fx.cfg);
	srs_free(&fx.srs);
	db_close(&fx.rw);
	for (size_t i = 0; i < MXD_ARRAY_SIZE(suffixes); i++) {
		snprintf(p, sizeof(p), "%s%s", fx.path, suffixes[i]);
		unlink(p);
	}
	unlink(fx.secret);
	return rmdir(fx.dir);
}

/* A policy over a read-only connection of its own, as mxd makes it. */
static struct policy *policy_make(const struct mxd_config *cfg)
{
	struct db *db;
	struct policy *policy;
	const char *err = "";
	must(db_open(fx.path, DB_OPEN_READONLY, &db, &err), err);
	must(policy_new(cfg, db, &policy, &err), err);
	return policy;
}

/* Copy s into out with every "$SRS" replaced by srs. */
static void subst(const char *s, const char *srs, char *out, size_t size)
{
	size_t len = 0;
	while (*s != '\0' && len + 1 < size) {
		if (strncmp(s, "$SRS", 4) == 0) {
			len += (size_t)snprintf(out + len, size - len, "%s", srs);
			s += 4;
		} else {
			out[len++] = *s++;
		}
	}
	out[len < size ? len : size - 1] = '\0';
}

/* Copy the row's arg into arg_r with its SRS(sender) or BADSRS(sender) replaced by the address, which
 * also goes to srs_r. */
static void make_srs_arg(const char *row_arg, char *srs_r, size_t srs_size, char *arg_r, size_t arg_size)
{
	const char *open = strstr(row_arg, "SRS(");
	if (open == NULL) {
		str_copy(arg_r, arg_size, row_arg);
		return;
	}
	bool tamper = open - row_arg >= 3 && strncmp(open - 3, "BAD", 3) == 0;
	bool old = open - row_arg >= 3 && strncmp(open - 3, "OLD", 3) == 0;
	const char *close = strchr(open, ')');
	assert_non_null(close);
	char sender[256];
	snprintf(sender, sizeof(sender), "%.*s", (int)(close - open - 4), open + 4);
	srs_forward(fx.srs, sender, time_now() - (old ? 40 * 86400 : 0), srs_r, srs_size);
	assert_true(srs_is_srs_address(fx.srs, srs_r));
	if (tamper) /* the hash follows "SRS0=" */
		memcpy(srs_r + 5, (srs_r[5] | 0x20) == 'a' ? "BBBB" : "AAAA", 4);
	snprintf(arg_r, arg_size, "%.*s%s%s", (int)(open - row_arg - (tamper || old ? 3 : 0)), row_arg, srs_r,
	         close + 1);
}

static void check_rcpt_rows(struct policy *policy, const char *name, const struct rcpt_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct rcpt_row *row = &rows[i];
		char srs[SRS_ADDRESS_MAX] = "", arg[SRS_ADDRESS_MAX + 16], want[1024], got[1024];
		make_srs_arg(row->arg, srs, sizeof(srs), arg, sizeof(arg));
		subst(row->want, srs, want, sizeof(want));

		struct smtp_path path;
		struct smtp_parse_error perr;
		const char *params;
		if (smtp_parse_path(arg, "TO:", &path, &params, &perr) != 0)
			fail_msg("%s row %zu: cannot parse '%s'", name, i, arg);
		struct policy_reply reply = {0};
		struct expansion exp = {0};
		if (policy_check_rcpt(policy, &path, row->sender != NULL ? row->sender : "", row->trusted,
		                      &reply, &exp) == 0) {
			size_t len = (size_t)snprintf(got, sizeof(got), "ok");
			for (size_t j = 0; j < exp.n && len < sizeof(got); j++)
				len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%s",
				                        j > 0 ? "," : " ", exp.finals[j].address);
			expansion_clear(&exp);
		} else {
			assert_int_equal(exp.n, 0);
			snprintf(got, sizeof(got), "%d %s %s", reply.code, reply.enh, reply.text);
		}
		if (strcmp(got, want) != 0)
			fail_msg("%s row %zu '%s'%s:\n  got      '%s'\n  expected '%s'", name, i, arg,
			         row->trusted ? " (trusted)" : "", got, want);
	}
}

static void test_primary(void **state)
{
	struct policy *policy = policy_make(fx.cfg);
	check_rcpt_rows(policy, "primary", primary_rows, MXD_ARRAY_SIZE(primary_rows));
	policy_free(&policy);
	assert_null(policy);
}

/* Without a hosted postmaster at myhostname or mydomain, the bare <Postmaster> is unknown. */
static void test_postmaster_unhosted(void **state)
{
	static const struct rcpt_row rows[] = {
	    {"TO:<Postmaster>", false, UNKNOWN_USER("Postmaster")},
	    {"TO:<Postmaster>", true, UNKNOWN_USER("Postmaster")},
	};
	struct mxd_config *cfg = config_new();
	set(cfg, "myhostname", "mx.elsewhere.org");
	set(cfg, "mydomain", "");
	struct policy *policy = policy_make(cfg);
	check_rcpt_rows(policy, "unhosted postmaster", rows, MXD_ARRAY_SIZE(rows));
	policy_free(&policy);
	config_free(&cfg);
}

static void test_secondary(void **state)
{
	struct mxd_config *cfg = config_new();
	set(cfg, "role", "secondary");
	set(cfg, "mydomain", "example.com");
	set(cfg, "srs_domain", SRS_DOMAIN);
	set(cfg, "srs_secret_file", fx.secret);
	set(cfg, "replica_max_age", "1h");
	struct policy *policy = policy_make(cfg);
	check_rcpt_rows(policy, "stale secondary", stale_rows, MXD_ARRAY_SIZE(stale_rows));
	policy_free(&policy);

	/* a replica synced within replica_max_age (the policy reads last_sync at most once a second, so
	 * a new one sees it at once) */
	sql("INSERT OR REPLACE INTO sync_state (key, value) VALUES ('last_sync', strftime('%s', 'now'))");
	policy = policy_make(cfg);
	check_rcpt_rows(policy, "fresh secondary", fresh_rows, MXD_ARRAY_SIZE(fresh_rows));
	policy_free(&policy);
	sql("DELETE FROM sync_state WHERE key = 'last_sync'");
	config_free(&cfg);
}

/* The policy's connection finds no domains table: every lookup fails as a damaged or locked database
 * would. The table comes back afterwards for the other tests. */
static void test_table_error(void **state)
{
	struct policy *policy = policy_make(fx.cfg);
	sql("ALTER TABLE domains RENAME TO domains_gone");
	check_rcpt_rows(policy, "broken tables", broken_rows, MXD_ARRAY_SIZE(broken_rows));
	sql("ALTER TABLE domains_gone RENAME TO domains");
	check_rcpt_rows(policy, "mended tables", primary_rows, 1);
	policy_free(&policy);
}

/* MAIL FROM: the SPF verdict and spf_policy -> accept ("ok") or the reply. */
struct spf_row {
	const char *spf_policy;
	enum spf_status status;
	bool helo_identity;
	const char *explanation;
	const char *problem;
	const char *want;
};

static const struct spf_row spf_rows[] = {
    /* tag (the default) and off accept everything: the headers record the verdict */
    {"tag", SPF_STATUS_FAIL, false, "not here", NULL, "ok"},
    {"tag", SPF_STATUS_TEMPERROR, false, NULL, "DNS timeout", "ok"},
    {"off", SPF_STATUS_FAIL, false, NULL, NULL, "ok"},
    /* reject refuses fail and temperror only */
    {"reject", SPF_STATUS_NONE, false, NULL, NULL, "ok"},
    {"reject", SPF_STATUS_NEUTRAL, false, NULL, NULL, "ok"},
    {"reject", SPF_STATUS_PASS, false, NULL, NULL, "ok"},
    {"reject", SPF_STATUS_SOFTFAIL, false, NULL, NULL, "ok"},
    {"reject", SPF_STATUS_PERMERROR, false, NULL, "bad record", "ok"},
    {"reject", SPF_STATUS_FAIL, false, "see https://example.org/spf", NULL,
     "550 5.7.23 <alice@example.org>: Sender address rejected: SPF fail: see https://example.org/spf"},
    {"reject", SPF_STATUS_FAIL, false, NULL, NULL,
     "550 5.7.23 <alice@example.org>: Sender address rejected: SPF fail: not authorized"},
    {"reject", SPF_STATUS_FAIL, true, NULL, NULL,
     "550 5.7.23 <mail.example.org>: Sender address rejected: SPF fail: not authorized"},
    {"reject", SPF_STATUS_TEMPERROR, false, NULL, "DNS timeout",
     "451 4.7.24 <alice@example.org>: Sender address rejected: SPF temporary error: DNS timeout"},
    {"reject", SPF_STATUS_TEMPERROR, true, NULL, NULL,
     "451 4.7.24 <mail.example.org>: Sender address rejected: SPF temporary error: DNS failure"},
};

static void test_spf_verdict(void **state)
{
	struct mxd_config *cfg = config_new();
	struct policy *policy = policy_make(cfg);
	for (size_t i = 0; i < MXD_ARRAY_SIZE(spf_rows); i++) {
		const struct spf_row *row = &spf_rows[i];
		set(cfg, "spf_policy", row->spf_policy); /* the policy reads its cfg on each call */
		struct spf_result result = {
		    .status = row->status,
		    .helo_identity = row->helo_identity,
		    .client_ip = "203.0.113.5",
		    .helo = "mail.example.org",
		    .sender = "alice@example.org",
		    .domain = "example.org",
		    .explanation = (char *)row->explanation,
		    .problem = (char *)row->problem,
		};
		if (row->helo_identity)
			result.sender = "postmaster@mail.example.org";
		struct policy_reply reply = {0};
		char got[512] = "ok";
		if (policy_check_sender_result(policy, &result, &reply) != 0)
			snprintf(got, sizeof(got), "%d %s %s", reply.code, reply.enh, reply.text);
		if (strcmp(got, row->want) != 0)
			fail_msg("spf row %zu (%s, %s): got '%s', expected '%s'", i, row->spf_policy,
			         spf_status_str(row->status), got, row->want);
	}
	policy_free(&policy);
	config_free(&cfg);
}

/* Who is trusted: mynetworks and trusted_peers; no SPF check is started without a checker. */
static void test_client_trusted(void **state)
{
	static const struct {
		const char *addr;
		bool trusted;
	} rows[] = {
	    {"192.0.2.1", true},      {"192.0.2.255", true},    {"192.0.3.1", false},
	    {"198.51.100.7", true},   {"198.51.100.8", false},  {"127.0.0.1", false},
	    {"[2001:db8::25]", true}, {"[2001:db9::1]", false}, {"[::1]", false},
	};
	struct policy *policy = policy_make(fx.cfg);
	for (size_t i = 0; i < MXD_ARRAY_SIZE(rows); i++) {
		struct sockaddr_storage ss;
		socklen_t len;
		const char *err = "";
		must(netaddr_parse(rows[i].addr, 25, &ss, &len, &err), err);
		bool trusted = policy_client_trusted(policy, (struct sockaddr *)&ss);
		if (trusted != rows[i].trusted)
			fail_msg("row %zu %s: trusted %d, expected %d", i, rows[i].addr, trusted,
			         rows[i].trusted);
		assert_null(policy_check_sender(policy, (struct sockaddr *)&ss, trusted, "mail.example.org",
		                                "alice@example.org", NULL, NULL));
	}
	policy_free(&policy);
}

/* policy_new refuses bad settings, naming them; the caller keeps its db then. */
static void test_new_errors(void **state)
{
	static const struct {
		const char *name, *value, *error;
	} rows[] = {
	    {"mynetworks", "192.0.2.0/33", "mynetworks: "},
	    {"mynetworks", "not-a-network", "mynetworks: "},
	    {"trusted_peers", "198.51.100.0/99", "trusted_peers: "},
	    {"srs_secret_file", "/nonexistent/srs.secret",
	     "srs_secret_file /nonexistent/srs.secret: No such file"},
	};
	for (size_t i = 0; i < MXD_ARRAY_SIZE(rows); i++) {
		struct mxd_config *cfg = config_new();
		set(cfg, "srs_domain", SRS_DOMAIN);
		set(cfg, "srs_secret_file", fx.secret);
		set(cfg, rows[i].name, rows[i].value);
		struct policy *policy = NULL;
		const char *err = NULL;
		if (policy_new(cfg, NULL, &policy, &err) != -1)
			fail_msg("row %zu %s = %s: accepted", i, rows[i].name, rows[i].value);
		assert_null(policy);
		if (strncmp(err, rows[i].error, strlen(rows[i].error)) != 0)
			fail_msg("row %zu %s = %s: error '%s', expected '%s...'", i, rows[i].name,
			         rows[i].value, err, rows[i].error);
		config_free(&cfg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_primary),     cmocka_unit_test(test_postmaster_unhosted),
	    cmocka_unit_test(test_secondary),   cmocka_unit_test(test_table_error),
	    cmocka_unit_test(test_spf_verdict), cmocka_unit_test(test_client_trusted),
	    cmocka_unit_test(test_new_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
