/* srs: see srs.h. */
#include "mxd/rewrite/srs.h"

#include "mxd/common/addr.h"
#include "mxd/common/config.h"
#include "mxd/common/secret_file.h"
#include "mxd/common/util.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define SRS_HASH_LEN    4
#define SRS_STAMP_LEN   2
#define SRS_TIME_SLOTS  1024 /* two base32 characters */
#define SRS_SECONDS_DAY 86400
#define SRS_FIELD_SEP   '='
#define SRS_TAG_SEPS    "=+-" /* what may follow "SRS0"/"SRS1" (libsrs2 accepts all three) */
#define SRS_MAX_SECRETS 64
#define SRS_SECRET_LINE 1024

static const char base32_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
static const char base64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

struct srs {
	char *domain;
	char **secrets;
	size_t nsecret;
	char **exclude; /* NULL-terminated */
};

/* --- life ------------------------------------------------------------------------------------- */

struct srs *srs_new_secrets(const char *domain, const char *const *secrets, size_t nsecret,
                            const char *exclude_domains)
{
	struct srs *srs = xcalloc(1, sizeof(*srs));
	srs->domain = xstrdup(domain);
	srs->secrets = xcalloc(nsecret, sizeof(char *));
	for (size_t i = 0; i < nsecret; i++)
		srs->secrets[i] = xstrdup(secrets[i]);
	srs->nsecret = nsecret;
	srs->exclude = config_list(exclude_domains != NULL ? exclude_domains : "", NULL);
	return srs;
}

int srs_new(const char *domain, const char *secret_file, const char *exclude_domains, struct srs **srs_r,
            const char **error_r)
{
	static __thread char err[512];
	*srs_r = NULL;
	if (domain[0] == '\0')
		return 0;
	int fd = secret_file_open("srs_secret_file", secret_file, error_r);
	if (fd < 0)
		return -1;
	FILE *f = fdopen(fd, "r");
	if (f == NULL) {
		close(fd);
		snprintf(err, sizeof(err), "srs_secret_file %s: %s", secret_file, strerror(errno));
		*error_r = err;
		return -1;
	}
	char *secrets[SRS_MAX_SECRETS];
	size_t n = 0;
	char line[SRS_SECRET_LINE];
	while (n < SRS_MAX_SECRETS && fgets(line, sizeof(line), f) != NULL) {
		char *s = str_trim(line);
		if (*s != '\0' && *s != '#')
			secrets[n++] = xstrdup(s);
		OPENSSL_cleanse(line, sizeof(line));
	}
	fclose(f);
	int ret = 0;
	if (n == 0) {
		snprintf(err, sizeof(err), "srs_secret_file: %s holds no secret", secret_file);
		*error_r = err;
		ret = -1;
	} else {
		*srs_r = srs_new_secrets(domain, (const char *const *)secrets, n, exclude_domains);
	}
	for (size_t i = 0; i < n; i++) {
		OPENSSL_cleanse(secrets[i], strlen(secrets[i]));
		free(secrets[i]);
	}
	return ret;
}

void srs_free(struct srs **srsp)
{
	struct srs *srs = *srsp;
	if (srs == NULL)
		return;
	for (size_t i = 0; i < srs->nsecret; i++) {
		OPENSSL_cleanse(srs->secrets[i], strlen(srs->secrets[i]));
		free(srs->secrets[i]);
	}
	free(srs->secrets);
	free(srs->domain);
	config_list_free(&srs->exclude);
	free(srs);
	*srsp = NULL;
}

/* --- the pieces: stamp and hash ---------------------------------------------------------------- */

/* The day of now as two base32 characters. */
static void stamp_make(int64_t now, char out[SRS_STAMP_LEN + 1])
{
	int64_t days = now / SRS_SECONDS_DAY;
	out[0] = base32_chars[(days >> 5) & 31];
	out[1] = base32_chars[days & 31];
	out[2] = '\0';
}

/* Is the stamp (its day, case-insensitive) at most SRS_MAX_AGE_DAYS before now? A stamp "from the
 * future" reads as almost SRS_TIME_SLOTS days old, as in libsrs2. */
static bool stamp_fresh(const char *stamp, size_t len, int64_t now)
{
	if (len != SRS_STAMP_LEN)
		return false;
	int64_t then = 0;
	for (size_t i = 0; i < len; i++) {
		const char *p = strchr(base32_chars, toupper((unsigned char)stamp[i]));
		if (p == NULL || *p == '\0')
			return false;
		then = (then << 5) | (p - base32_chars);
	}
	int64_t today = (now / SRS_SECONDS_DAY) % SRS_TIME_SLOTS;
	while (today < then)
		today += SRS_TIME_SLOTS;
	return today - then <= SRS_MAX_AGE_DAYS;
}

/* The first SRS_HASH_LEN base64 characters of HMAC-SHA1(secret, lower-cased concatenation of parts). */
static void hash_make(const char *secret, const char *const *parts, size_t nparts, char out[SRS_HASH_LEN + 1])
{
	size_t len = 0;
	for (size_t i = 0; i < nparts; i++)
		len += strlen(parts[i]);
	unsigned char *data = xmalloc(len + 1);
	size_t o = 0;
	for (size_t i = 0; i < nparts; i++)
		for (const char *p = parts[i]; *p != '\0'; p++)
			data[o++] = (unsigned char)tolower((unsigned char)*p);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (HMAC(EVP_sha1(), secret, (int)strlen(secret), data, o, md, &mdlen) == NULL || mdlen < 3)
		abort(); /* SHA-1 HMAC cannot fail short of memory exhaustion */
	free(data);
	/* base64 of the first three octets gives exactly four characters */
	out[0] = base64_chars[md[0] >> 2];
	out[1] = base64_chars[((md[0] & 0x03) << 4) | (md[1] >> 4)];
	out[2] = base64_chars[((md[1] & 0x0f) << 2) | (md[2] >> 6)];
	out[3] = base64_chars[md[2] & 0x3f];
	out[4] = '\0';
}

/* Does hash (len octets) match the parts under any of our secrets? Compared case-insensitively on the
 * first SRS_HASH_LEN characters; shorter hashes never match. */
static bool hash_ok(const struct srs *srs, const char *hash, size_t len, const char *const *parts,
                    size_t nparts)
{
	if (len < SRS_HASH_LEN)
		return false;
	for (size_t i = 0; i < srs->nsecret; i++) {
		char want[SRS_HASH_LEN + 1];
		hash_make(srs->secrets[i], parts, nparts, want);
		if (strncasecmp(hash, want, SRS_HASH_LEN) == 0)
			return true;
	}
	return false;
}

/* "SRS0" or "SRS1" (any case) followed by a tag separator: returns '0' or '1', else 0. */
static char srs_tag(const char *local)
{
	if (strncasecmp(local, "SRS", 3) != 0 || (local[3] != '0' && local[3] != '1') || local[4] == '\0' ||
	    strchr(SRS_TAG_SEPS, local[4]) == NULL)
		return 0;
	return local[3];
}

/* --- forward ---------------------------------------------------------------------------------- */

static bool domain_excluded(const struct srs *srs, const char *domain)
{
	if (strcasecmp(domain, srs->domain) == 0)
		return true;
	for (size_t i = 0; srs->exclude[i] != NULL; i++)
		if (strcasecmp(domain, srs->exclude[i]) == 0)
			return true;
	return false;
}

/* Can local travel inside an SRS local part (a dot-atom)? */
static bool local_plain(const char *local)
{
	if (*local == '\0')
		return false;
	for (const char *p = local; *p != '\0'; p++)
		if (*p != '.' && !addr_is_atext((unsigned char)*p) && (unsigned char)*p < 0x80)
			return false;
	return true;
}

const char *srs_forward(const struct srs *srs, const char *sender, int64_t now, char *buf, size_t size)
{
	if (srs == NULL || sender[0] == '\0')
		return sender;
	const char *at = strrchr(sender, '@');
	if (at == NULL || at == sender || at[1] == '\0')
		return sender;
	const char *domain = at + 1;
	const char *error;
	if (domain_excluded(srs, domain) || addr_domain_valid(domain, &error) < 0)
		return sender; /* only a real domain can be reversed to again */
	char *local = xstrndup(sender, (size_t)(at - sender));
	if (!local_plain(local) || strlen(local) > ADDR_PATH_MAX) {
		/* (srs_reverse() refuses a longer local part: the bounce could not come back) */
		free(local);
		return sender;
	}
	char hash[SRS_HASH_LEN + 1];
	int n;
	char tag = srs_tag(local);
	char *first_host = NULL, *rest = NULL;
	if (tag == '1') {
		/* SRS1=hash=firsthost=rest: keep the first forwarder and its opaque part, sign anew */
		char *h = strchr(local + 5, SRS_FIELD_SEP);
		char *r = h != NULL ? strchr(h + 1, SRS_FIELD_SEP) : NULL;
		if (h != NULL && h != local + 5 && r != NULL && r != h + 1 && r[1] != '\0') {
			first_host = xstrndup(h + 1, (size_t)(r - h - 1));
			rest = xstrdup(r + 1);
		}
		if (first_host == NULL || addr_domain_valid(first_host, &error) < 0) {
			free(first_host);
			free(rest);
			first_host = rest = NULL;
			tag = 0; /* not a form we know: an ordinary local part */
		}
	}
	if (tag == '1') {
		const char *parts[] = {first_host, rest};
		hash_make(srs->secrets[0], parts, 2, hash);
		n = snprintf(buf, size, "SRS1%c%s%c%s%c%s@%s", SRS_FIELD_SEP, hash, SRS_FIELD_SEP, first_host,
		             SRS_FIELD_SEP, rest, srs->domain);
	} else if (tag == '0') {
		/* another forwarder's SRS0: we are the second hop, the first one is its domain */
		const char *parts[] = {domain, local + 4};
		hash_make(srs->secrets[0], parts, 2, hash);
		n = snprintf(buf, size, "SRS1%c%s%c%s%c%s@%s", SRS_FIELD_SEP, hash, SRS_FIELD_SEP, domain,
		             SRS_FIELD_SEP, local + 4, srs->domain);
	} else {
		char stamp[SRS_STAMP_LEN + 1];
		stamp_make(now, stamp);
		const char *parts[] = {stamp, domain, local};
		hash_make(srs->secrets[0], parts, 3, hash);
		n = snprintf(buf, size, "SRS0%c%s%c%s%c%s%c%s@%s", SRS_FIELD_SEP, hash, SRS_FIELD_SEP, stamp,
		             SRS_FIELD_SEP, domain, SRS_FIELD_SEP, local, srs->domain);
	}
	free(first_host);
	free(rest);
	free(local);
	if (n < 0 || (size_t)n >= size)
		return sender;
	return buf;
}

/* --- reverse ---------------------------------------------------------------------------------- */

bool srs_is_srs_address(const struct srs *srs, const char *address)
{
	if (srs == NULL)
		return false;
	const char *at = strrchr(address, '@');
	return at != NULL && strcasecmp(at + 1, srs->domain) == 0 && srs_tag(address) != 0;
}

/* Split s at its first field separator: the part before it (non-empty) is [s, *sep_r). */
static bool field(const char *s, const char **sep_r)
{
	const char *sep = strchr(s, SRS_FIELD_SEP);
	if (sep == NULL || sep == s)
		return false;
	*sep_r = sep;
	return true;
}

/* Write user@host into buf if it is an address we can deliver to. The local part may be longer than
 * RFC 5321's 64 octets: an SRS0 address of another forwarder often is. */
static int reversed(const char *user, const char *host, char *buf, size_t size, const char **error_r)
{
	const char *error;
	if (addr_domain_valid(host, &error) < 0 || !local_plain(user) || strlen(user) > ADDR_PATH_MAX) {
		*error_r = "malformed SRS address";
		return -1;
	}
	int n = snprintf(buf, size, "%s@%s", user, host);
	if (n < 0 || (size_t)n >= size) {
		*error_r = "malformed SRS address";
		return -1;
	}
	return 0;
}

int srs_reverse(const struct srs *srs, const char *address, int64_t now, char *buf, size_t size,
                const char **error_r)
{
	if (!srs_is_srs_address(srs, address)) {
		*error_r = "not an SRS address";
		return -1;
	}
	const char *at = strrchr(address, '@');
	char *local = xstrndup(address, (size_t)(at - address));
	char tag = srs_tag(local);
	const char *p = local + 5, *s1, *s2, *s3;
	int ret = -1;
	*error_r = "malformed SRS address";
	if (tag == '0' && field(p, &s1) && field(s1 + 1, &s2) && field(s2 + 1, &s3) && s3[1] != '\0') {
		/* SRS0=hash=stamp=host=user */
		char *hash = xstrndup(p, (size_t)(s1 - p));
		char *stamp = xstrndup(s1 + 1, (size_t)(s2 - s1 - 1));
		char *host = xstrndup(s2 + 1, (size_t)(s3 - s2 - 1));
		const char *user = s3 + 1;
		const char *parts[] = {stamp, host, user};
		if (!hash_ok(srs, hash, strlen(hash), parts, 3))
			*error_r = "SRS hash invalid";
		else if (!stamp_fresh(stamp, strlen(stamp), now))
			*error_r = "SRS address expired";
		else
			ret = reversed(user, host, buf, size, error_r);
		free(hash);
		free(stamp);
		free(host);
	} else if (tag == '1' && field(p, &s1) && field(s1 + 1, &s2) && s2[1] != '\0') {
		/* SRS1=hash=firsthost=rest: back to the first forwarder as SRS0rest@firsthost */
		char *hash = xstrndup(p, (size_t)(s1 - p));
		char *host = xstrndup(s1 + 1, (size_t)(s2 - s1 - 1));
		const char *rest = s2 + 1;
		const char *parts[] = {host, rest};
		if (!hash_ok(srs, hash, strlen(hash), parts, 2)) {
			*error_r = "SRS hash invalid";
		} else {
			char *user = xasprintf("SRS0%s", rest);
			ret = reversed(user, host, buf, size, error_r);
			free(user);
		}
		free(hash);
		free(host);
	}
	free(local);
	return ret;
}
