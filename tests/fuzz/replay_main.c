/*
 * replay_main: a stand-in for libFuzzer's driver, so that every fuzz target also runs under CTest with
 * the sanitizers of an ordinary build. Each argument is a corpus directory or a single file. Every file
 * goes through LLVMFuzzerTestOneInput as it is, then as MUTATIONS deterministic pseudo-random mutants
 * (fixed seed: the same run every time; bit flips, byte changes, SMTP-flavoured token insertions,
 * deletions, duplications, splices). A time budget keeps the run under BUDGET_SECONDS however slow
 * the machine; MXD_FUZZ_MUTATIONS in the environment changes the count (0: replay only).
 * Exit status 0; a finding aborts (sanitizer report or the target's own abort()).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MUTATIONS      5000
#define BUDGET_SECONDS 15.0
#define MUTANT_MAX     8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const tokens[] = {
    "\r\n",   "\r",      "\n",          ".",         "\r\n.\r\n",  "\n.\n",    "\r.\r",   "..",
    "<",      ">",       "<>",          "@",         "\"",         "\\",       ":",       " ",
    "\t",     ",",       ";",           "|",         "`",          "$",        "%",       "!",
    "[",      "]",       "=",           "+",         "+2B",        "\xc3\xa9", "\xff",    "\xc0\xaf",
    "FROM:",  "TO:",     "MAIL ",       "RCPT ",     "HELO ",      "EHLO ",    "IPv6:",   "1.2.3.4",
    "SIZE=",  "BODY=",   "RET=",        "ENVID=",    "AUTH=",      "SMTPUTF8", "NOTIFY=", "NEVER",
    "ORCPT=", "rfc822;", "example.com", "Received:", "Postmaster",
};

static uint64_t rng_state;

static uint64_t rng(void)
{
	uint64_t x = rng_state; /* xorshift64* */
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1du;
}

static size_t below(size_t n)
{
	return n == 0 ? 0 : (size_t)(rng() % n);
}

/* Apply one to four random edits to buf[0..len) (capacity MUTANT_MAX); returns the new length. */
static size_t mutate(uint8_t *buf, size_t len)
{
	int edits = 1 + (int)below(4);
	for (int e = 0; e < edits; e++) {
		size_t at = below(len + 1), n;
		switch (below(7)) {
		case 0: /* flip a bit */
			if (len > 0)
				buf[below(len)] ^= (uint8_t)(1u << below(8));
			break;
		case 1: /* set a byte */
			if (len > 0)
				buf[below(len)] = (uint8_t)rng();
			break;
		case 2: { /* insert a token */
			const char *t = tokens[below(sizeof(tokens) / sizeof(tokens[0]))];
			n = strlen(t);
			if (len + n <= MUTANT_MAX) {
				memmove(buf + at + n, buf + at, len - at);
				memcpy(buf + at, t, n);
				len += n;
			}
			break;
		}
		case 3: /* delete a range */
			n = below(len - at + 1);
			if (n > 16)
				n = 16;
			memmove(buf + at, buf + at + n, len - at - n);
			len -= n;
			break;
		case 4: { /* duplicate a range */
			if (len == 0)
				break;
			size_t from = below(len);
			n = 1 + below(len - from > 64 ? 64 : len - from);
			if (len + n <= MUTANT_MAX) {
				uint8_t tmp[64];
				memcpy(tmp, buf + from, n);
				memmove(buf + at + n, buf + at, len - at);
				memcpy(buf + at, tmp, n);
				len += n;
			}
			break;
		}
		case 5: /* insert a NUL or a random byte */
			if (len < MUTANT_MAX) {
				memmove(buf + at + 1, buf + at, len - at);
				buf[at] = below(2) ? 0 : (uint8_t)rng();
				len++;
			}
			break;
		default: /* truncate */
			len = at;
			break;
		}
	}
	return len;
}

static double elapsed(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static uint8_t *read_file(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = malloc(MUTANT_MAX);
	size_t len;
	if (f == NULL || buf == NULL) {
		fprintf(stderr, "replay: %s: cannot read\n", path);
		exit(2);
	}
	len = fread(buf, 1, MUTANT_MAX, f);
	fclose(f);
	*len_r = len;
	return buf;
}

/* Run one file and its mutants. */
static void replay(const char *path, long mutations, const struct timespec *start, long *runs)
{
	size_t len, mlen;
	uint8_t *orig = read_file(path, &len), *buf = malloc(MUTANT_MAX), *copy = malloc(MUTANT_MAX);
	if (buf == NULL || copy == NULL)
		abort();
	/* Hand the target an exact-size copy each time so ASan sees reads past the end. */
	memcpy(copy, orig, len);
	LLVMFuzzerTestOneInput(copy, len);
	(*runs)++;
	memcpy(buf, orig, len);
	mlen = len;
	for (long i = 0; i < mutations && elapsed(start) < BUDGET_SECONDS; i++) {
		if (below(4) == 0) { /* mostly stack mutations, sometimes start over */
			memcpy(buf, orig, len);
			mlen = len;
		}
		mlen = mutate(buf, mlen);
		uint8_t *exact = malloc(mlen > 0 ? mlen : 1);
		if (exact == NULL)
			abort();
		memcpy(exact, buf, mlen);
		LLVMFuzzerTestOneInput(exact, mlen);
		free(exact);
		(*runs)++;
	}
	free(orig);
	free(buf);
	free(copy);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	struct timespec start;
	long mutations = MUTATIONS, runs = 0, files = 0;
	const char *env = getenv("MXD_FUZZ_MUTATIONS");
	if (env != NULL)
		mutations = strtol(env, NULL, 10);
	if (argc < 2) {
		fprintf(stderr, "usage: %s corpus-dir-or-file...\n", argv[0]);
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	rng_state = 0x6d78642d66757a7au; /* "mxd-fuzz": the same mutants on every run */
	for (int a = 1; a < argc; a++) {
		struct stat st;
		if (stat(argv[a], &st) < 0) {
			fprintf(stderr, "replay: %s: not found\n", argv[a]);
			return 2;
		}
		if (!S_ISDIR(st.st_mode)) {
			replay(argv[a], mutations, &start, &runs);
			files++;
			continue;
		}
		/* Directory entries in name order, so that runs are reproducible. */
		DIR *dir = opendir(argv[a]);
		char **names = NULL;
		size_t n = 0;
		struct dirent *de;
		if (dir == NULL) {
			fprintf(stderr, "replay: %s: cannot open\n", argv[a]);
			return 2;
		}
		while ((de = readdir(dir)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			names = realloc(names, (n + 1) * sizeof(*names));
			if (names == NULL)
				abort();
			names[n] = malloc(strlen(argv[a]) + strlen(de->d_name) + 2);
			if (names[n] == NULL)
				abort();
			sprintf(names[n], "%s/%s", argv[a], de->d_name);
			n++;
		}
		closedir(dir);
		qsort(names, n, sizeof(*names), by_name);
		for (size_t i = 0; i < n; i++) {
			replay(names[i], mutations, &start, &runs);
			files++;
			free(names[i]);
		}
		free(names);
		if (n == 0) {
			fprintf(stderr, "replay: %s: empty corpus\n", argv[a]);
			return 2;
		}
	}
	printf("replay: %ld files, %ld runs, %.1f s\n", files, runs, elapsed(&start));
	return 0;
}
