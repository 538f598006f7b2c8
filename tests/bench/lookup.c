/*
 * lookup: recipient lookups per second against an mxd database, through the same calls mxd makes at
 * RCPT time: db_resolve() (the recipient check) and expand_recipient() (alias expansion, which resolves
 * again), on one connection opened the way mxd opens it (db_open, DB_OPEN_READWRITE).
 *
 *   lookup DATABASE NALIASES NDOMAINS SECONDS [SQL]
 *
 * SQL, when given, runs on the connection after db_open (what-if measurements of a tuning such as
 * "PRAGMA mmap_size = 268435456", without changing mxd's code).
 *
 * The database holds NALIASES aliases user<i>@d<i % NDOMAINS>.bench (made by tables.py). Addresses are
 * drawn at random: hits (existing aliases), misses at hosted domains (550 "user unknown") and
 * addresses at domains we do not host (relay denied), each with db_resolve()'s cache off, so that every
 * lookup reaches SQLite; then with the cache on (as mxd runs): a working set of 10,000 recipients seen
 * again, and RCPTs (check + expansion) of random addresses. Prints one JSON object.
 * Build: cc -O2 -I REPO -I BUILD/include/mxd_rewrite -I BUILD/include/mxdb -I BUILD/include/mxd_common
 * lookup.c BUILD/lib/libmxd_rewrite.a BUILD/lib/libmxdb.a BUILD/lib/libmxd_common.a -lsqlite3 -lsodium
 * -lpthread
 */
#include "db/db.h"
#include "db/resolve.h"
#include "mxd/rewrite/expand.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NADDR       65536 /* distinct addresses drawn per kind, cycled through */
#define WORKING_SET 10000 /* recipients seen again: the cached figure */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long long rng_state = 88172645463325252ULL;

static unsigned long long rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

enum mode {
	MODE_RESOLVE, /* db_resolve() alone */
	MODE_EXPAND,  /* expand_recipient() alone */
	MODE_RCPT,    /* what mxd does per RCPT (policy_check_rcpt): db_resolve(), then expand_recipient() */
	MODE_RCPT_TXN /* the same inside one read transaction (a proposed change) */
};

/* Lookups per second over `seconds`, checking each result's status. */
static double run(struct db *db, char (*addrs)[96], long naddr, double seconds, enum db_resolve_status want,
                  enum mode mode, long *count_r)
{
	const char *error;
	long n = 0;
	double t0 = now_s(), t;
	do {
		for (int i = 0; i < 1000; i++, n++) {
			const char *a = addrs[n % naddr];
			if (mode == MODE_RCPT_TXN)
				sqlite3_exec(db_handle(db), "BEGIN", NULL, NULL, NULL);
			struct db_resolution res;
			if (mode != MODE_EXPAND && db_resolve(db, a, "+", &res, &error) < 0) {
				fprintf(stderr, "lookup: %s: %s\n", a, error);
				exit(1);
			}
			if (mode != MODE_EXPAND && res.status != want) {
				fprintf(stderr, "lookup: %s: status %d, expected %d\n", a, (int)res.status,
				        (int)want);
				exit(1);
			}
			if (mode != MODE_EXPAND)
				db_resolution_clear(&res);
			if (mode != MODE_RESOLVE) {
				struct expansion exp;
				if (expand_recipient(db, a, "+", &exp, &error) < 0 || exp.n != 1) {
					fprintf(stderr, "lookup: expand %s: %s\n", a,
					        exp.n != 1 ? "no final" : error);
					exit(1);
				}
				expansion_clear(&exp);
			}
			if (mode == MODE_RCPT_TXN)
				sqlite3_exec(db_handle(db), "COMMIT", NULL, NULL, NULL);
		}
		t = now_s();
	} while (t - t0 < seconds);
	*count_r = n;
	return (double)n / (t - t0);
}

int main(int argc, char **argv)
{
	if (argc != 5 && argc != 6) {
		fprintf(stderr, "usage: lookup DATABASE NALIASES NDOMAINS SECONDS [SQL]\n");
		return 2;
	}
	long naliases = atol(argv[2]), ndomains = atol(argv[3]);
	double seconds = atof(argv[4]);
	static char hits[NADDR][96], misses[NADDR][96], foreign[NADDR][96], tagged[NADDR][96];
	for (int i = 0; i < NADDR; i++) {
		long k = (long)(rng() % (unsigned long long)naliases);
		snprintf(hits[i], sizeof(hits[i]), "user%ld@d%ld.bench", k, k % ndomains);
		snprintf(tagged[i], sizeof(tagged[i]), "User%ld+tag@D%ld.bench", k, k % ndomains);
		snprintf(misses[i], sizeof(misses[i]), "nobody%ld@d%ld.bench", k, k % ndomains);
		snprintf(foreign[i], sizeof(foreign[i]), "user%ld@elsewhere%ld.test", k, k % ndomains);
	}
	struct db *db;
	const char *error;
	double t0 = now_s();
	if (db_open(argv[1], DB_OPEN_READWRITE, &db, &error) < 0) {
		fprintf(stderr, "lookup: %s\n", error);
		return 1;
	}
	double open_ms = (now_s() - t0) * 1e3;
	if (argc == 6 && sqlite3_exec(db_handle(db), argv[5], NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "lookup: %s: %s\n", argv[5], sqlite3_errmsg(db_handle(db)));
		return 1;
	}
	/* The tables themselves: every lookup goes to SQLite (the cache off). */
	long n_hit, n_tag, n_miss, n_foreign, n_exp, n_rcpt, n_txn, n_ws, n_rc;
	db_resolve_cache(db, false);
	double warm = run(db, hits, NADDR, seconds / 4, DB_RESOLVE_OK, MODE_RESOLVE, &n_hit); /* statements */
	double hit = run(db, hits, NADDR, seconds, DB_RESOLVE_OK, MODE_RESOLVE, &n_hit);
	double tag = run(db, tagged, NADDR, seconds, DB_RESOLVE_OK, MODE_RESOLVE, &n_tag);
	double miss = run(db, misses, NADDR, seconds, DB_RESOLVE_UNKNOWN_USER, MODE_RESOLVE, &n_miss);
	double foreign_rate =
	    run(db, foreign, NADDR, seconds, DB_RESOLVE_UNKNOWN_DOMAIN, MODE_RESOLVE, &n_foreign);
	double exp_rate = run(db, hits, NADDR, seconds, DB_RESOLVE_OK, MODE_EXPAND, &n_exp);
	double rcpt = run(db, hits, NADDR, seconds, DB_RESOLVE_OK, MODE_RCPT, &n_rcpt);
	double rcpt_txn = run(db, hits, NADDR, seconds, DB_RESOLVE_OK, MODE_RCPT_TXN, &n_txn);
	/* As mxd runs: the cache on. Recipients seen again (a working set of WORKING_SET aliases), and each
	 * RCPT of fresh random addresses (the expansion resolves the address the check just resolved). */
	db_resolve_cache(db, true);
	(void)run(db, hits, WORKING_SET, seconds / 4, DB_RESOLVE_OK, MODE_RESOLVE, &n_ws);
	double ws = run(db, hits, WORKING_SET, seconds, DB_RESOLVE_OK, MODE_RESOLVE, &n_ws);
	double rcpt_cached = run(db, hits, NADDR, seconds, DB_RESOLVE_OK, MODE_RCPT, &n_rc);
	printf("{\"open_ms\": %.2f, \"warmup_per_s\": %.0f, \"hit_per_s\": %.0f, \"tagged_hit_per_s\": %.0f, "
	       "\"unknown_user_per_s\": %.0f, \"unknown_domain_per_s\": %.0f, \"expand_per_s\": %.0f, "
	       "\"rcpt_per_s\": %.0f, \"rcpt_one_txn_per_s\": %.0f, \"cached_repeat_per_s\": %.0f, "
	       "\"cached_rcpt_per_s\": %.0f, \"lookups\": %ld}\n",
	       open_ms, warm, hit, tag, miss, foreign_rate, exp_rate, rcpt, rcpt_txn, ws, rcpt_cached,
	       n_hit + n_tag + n_miss + n_foreign + n_exp + n_rcpt + n_txn + n_ws + n_rc);
	db_close(&db);
	return 0;
}
