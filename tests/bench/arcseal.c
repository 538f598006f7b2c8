/*
 * arcseal: the CPU cost per message of ARC and DKIM in mxd (mxd/auth), without network or disk: what the
 * end of DATA adds (validating the chain a message came with, then sealing it: one ARC-Message-Signature
 * and one ARC-Seal) and what a DKIM-signed notification costs, for RSA-2048 and Ed25519 keys and for
 * messages of 4 KB and 100 KB. Keys are made at start; DNS is left out (keys given from memory), since the
 * resolver's cost is a lookup per sealing domain, cached by unbound.
 *
 *   arcseal [SECONDS]     (default 1 s per figure)
 *
 * Prints one JSON object: per case, microseconds of CPU per message and messages per second of one core.
 * Build: cc -O2 -I REPO -I BUILD/include/mxd_auth -I BUILD/include/mxd_common arcseal.c
 *        BUILD/lib/libmxd_auth.a BUILD/lib/libmxd_dns.a BUILD/lib/libmxd_common.a -lssl -lcrypto -levent
 *        -lunbound -lpthread
 */
#include "mxd/auth/arc_chain.h"
#include "mxd/auth/arc_seal.h"
#include "mxd/auth/dkim_canon.h"
#include "mxd/auth/dkim_signer.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* CPU time of this thread: the cost, whatever else the machine runs (wall time on a shared machine
 * would count the other work too). */
static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *message(size_t body_size)
{
	const char *head =
	    "From: Alice <alice@sender.test>\r\nTo: <info@example.com>\r\nSubject: bench\r\n"
	    "Date: Sat, 05 Dec 2026 04:00:00 +0000\r\nMessage-ID: <bench@sender.test>\r\n"
	    "Authentication-Results: mx.example.net; spf=pass smtp.mailfrom=alice@sender.test\r\n"
	    "\r\n";
	size_t hl = strlen(head);
	char *m = malloc(hl + body_size + 1);
	memcpy(m, head, hl);
	for (size_t i = 0; i < body_size; i++)
		m[hl + i] = (i % 78 == 76) ? '\r' : (i % 78 == 77) ? '\n' : (char)('a' + i % 26);
	m[hl + body_size] = '\0';
	return m;
}

static EVP_PKEY *pub_key;

static EVP_PKEY *key_of(void *ctx, const char *d, const char *s)
{
	(void)ctx;
	(void)d;
	(void)s;
	return pub_key;
}

struct result {
	double us, per_s;
};

static struct result seal_bench(struct arc_sealer *s, const char *msg, double secs)
{
	const char *error;
	unsigned n = 0;
	double t0 = now_s(), t;
	do {
		char *set = arc_seal(s, msg, strlen(msg), ARC_CV_NONE, "mx.example.net; spf=pass", 1700000000,
		                     &error);
		if (set == NULL) {
			fprintf(stderr, "arcseal: %s\n", error);
			exit(1);
		}
		free(set);
		n++;
		t = now_s();
	} while (t - t0 < secs);
	return (struct result){(t - t0) * 1e6 / n, n / (t - t0)};
}

static struct result verify_bench(const char *sealed, double secs)
{
	unsigned n = 0;
	double t0 = now_s(), t;
	do {
		struct header_list m;
		header_list_parse(sealed, strlen(sealed), &m);
		struct arc_chain c;
		arc_chain_parse(&m, &c);
		arc_chain_validate(&c, &m, key_of, NULL);
		if (c.cv != ARC_CV_PASS) {
			fprintf(stderr, "arcseal: the chain does not validate: %s\n", c.why);
			exit(1);
		}
		arc_chain_free(&c);
		header_list_free(&m);
		n++;
		t = now_s();
	} while (t - t0 < secs);
	return (struct result){(t - t0) * 1e6 / n, n / (t - t0)};
}

static struct result dkim_bench(struct dkim_signer *s, const char *msg, double secs)
{
	const char *error;
	unsigned n = 0;
	double t0 = now_s(), t;
	do {
		free(dkim_signer_sign(s, msg, strlen(msg), 1700000000, &error));
		n++;
		t = now_s();
	} while (t - t0 < secs);
	return (struct result){(t - t0) * 1e6 / n, n / (t - t0)};
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 1.0;
	char dir[] = "/tmp/arcseal-XXXXXX";
	if (mkdtemp(dir) == NULL)
		return 1;
	char path[300];
	snprintf(path, sizeof(path), "%s/fwd.example", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/fwd.example/mxd.pem", dir);
	const char *types[] = {"rsa2048", "ed25519"};
	size_t sizes[] = {4096, 102400};
	printf("{\"cases\": [");
	for (int k = 0; k < 2; k++) {
		EVP_PKEY *key = k == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
		                       : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		FILE *f = fopen(path, "w");
		PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
		fclose(f);
		pub_key = key;
		struct arc_sealer *s = NULL;
		struct dkim_signer *d = NULL;
		const char *error;
		if (arc_sealer_new(dir, "fwd.example", "mxd", &s, &error) < 0 ||
		    dkim_signer_open(dir, "fwd.example", &d, &error) != 1) {
			fprintf(stderr, "arcseal: %s\n", error);
			return 1;
		}
		for (int z = 0; z < 2; z++) {
			char *msg = message(sizes[z]);
			char *set = arc_seal(s, msg, strlen(msg), ARC_CV_NONE, "mx.example.net; spf=pass",
			                     1700000000, &error);
			size_t sl = strlen(set), ml = strlen(msg);
			char *sealed = malloc(sl + ml + 1);
			memcpy(sealed, set, sl);
			memcpy(sealed + sl, msg, ml + 1);
			free(set);
			struct result rs = seal_bench(s, msg, secs), rv = verify_bench(sealed, secs),
			              rd = dkim_bench(d, msg, secs);
			printf(
			    "%s\n  {\"key\": \"%s\", \"size\": %zu, \"seal_us\": %.1f, \"seal_per_s\": %.0f, "
			    "\"validate_us\": %.1f, \"validate_per_s\": %.0f, \"dkim_sign_us\": %.1f, "
			    "\"dkim_sign_per_s\": %.0f}",
			    k + z == 0 ? "" : ",", types[k], sizes[z], rs.us, rs.per_s, rv.us, rv.per_s,
			    rd.us, rd.per_s);
			free(sealed);
			free(msg);
		}
		arc_sealer_free(&s);
		dkim_signer_free(&d);
		EVP_PKEY_free(key);
	}
	printf("\n]}\n");
	unlink(path);
	snprintf(path, sizeof(path), "%s/fwd.example", dir);
	rmdir(path);
	rmdir(dir);
	return 0;
}
