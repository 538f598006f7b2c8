/* sync_secret: see sync_secret.h. */
#include "mxd/ha/sync_secret.h"

#include "mxd/common/secret_file.h"
#include "mxd/common/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static __thread char secret_err[512];

static int fail(const char **error_r, const char *path, const char *what)
{
	snprintf(secret_err, sizeof(secret_err), "sync_secret_file %s: %s", path, what);
	*error_r = secret_err;
	return -1;
}

static void digest(const char *text, size_t len, unsigned char out[32])
{
	unsigned int n = 32;
	EVP_Digest(text, len, out, &n, EVP_sha256(), NULL);
}

size_t sync_secret_min_length(const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isxdigit((unsigned char)text[i]))
			return SYNC_SECRET_MIN_OTHER;
	return SYNC_SECRET_MIN_HEX;
}

int sync_secret_load(const char *path, struct sync_secret *secret_r, const char **error_r)
{
	char buf[SYNC_SECRET_MAX + 2];

	memset(secret_r, 0, sizeof(*secret_r));
	if (path == NULL || *path == '\0')
		return fail(error_r, "(empty)",
		            "not set: the primary and its secondaries need one shared secret");
	int fd = secret_file_open("sync_secret_file", path, error_r);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return fail(error_r, path, strerror(errno));
	buf[n] = '\0';
	size_t len = strcspn(buf, "\r\n");
	if (len == (size_t)n && (size_t)n > SYNC_SECRET_MAX) {
		explicit_bzero(buf, sizeof(buf));
		return fail(error_r, path, "the secret is longer than 256 characters");
	}
	buf[len] = '\0';
	for (size_t i = 0; i < len; i++) {
		if (buf[i] <= 0x20 || buf[i] >= 0x7f) {
			explicit_bzero(buf, sizeof(buf));
			return fail(error_r, path, "the secret may hold only printable ASCII without spaces");
		}
	}
	if (len < sync_secret_min_length(buf, len)) {
		explicit_bzero(buf, sizeof(buf));
		return fail(
		    error_r, path,
		    "the secret is shorter than 32 random bytes: 64 hex digits or 44 other characters "
		    "(mxctl secret sync)");
	}
	memcpy(secret_r->text, buf, len + 1);
	explicit_bzero(buf, sizeof(buf));
	digest(secret_r->text, len, secret_r->digest);
	return 0;
}

bool sync_secret_matches(const struct sync_secret *secret, const char *candidate)
{
	unsigned char d[32];
	if (candidate == NULL || secret->text[0] == '\0')
		return false;
	digest(candidate, strlen(candidate), d);
	bool ok = CRYPTO_memcmp(d, secret->digest, sizeof(d)) == 0;
	explicit_bzero(d, sizeof(d));
	return ok;
}

void sync_secret_wipe(struct sync_secret *secret)
{
	explicit_bzero(secret, sizeof(*secret));
}
