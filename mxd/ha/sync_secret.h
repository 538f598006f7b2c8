/*
 * sync_secret: the secret shared by the primary and its secondaries (sync_secret_file), which a
 * secondary presents inside TLS ("Authorization: Bearer ...") to read the primary's change feed.
 *
 * Read once at start, before privileges are dropped (the file may be readable by root only): its first
 * line, printable ASCII without spaces, at most 256 characters and at least 32 random bytes' worth: 64
 * hex digits (mxctl secret sync, openssl rand -hex 32) or 44 characters of any other kind (base64 of
 * 32 bytes). A file that "other" users may read is refused (secret_file.h). The secret is never logged nor
 * put in an error message; sync_secret_wipe() clears it. Comparison is in constant time (of SHA-256 digests,
 * so the length leaks nothing either). Thread-safe: a loaded secret is read-only.
 */
#ifndef MXD_SYNC_SECRET_H
#define MXD_SYNC_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#define SYNC_SECRET_MIN_HEX   64 /* 32 bytes as hex digits */
#define SYNC_SECRET_MIN_OTHER 44 /* 32 bytes as base64 */
#define SYNC_SECRET_MAX       256

struct sync_secret {
	char text[SYNC_SECRET_MAX + 1];
	unsigned char digest[32];
};

/* Load path into *secret_r. 0, or -1 with *error_r ("sync_secret_file /x: ..."; thread-local storage). */
int sync_secret_load(const char *path, struct sync_secret *secret_r, const char **error_r);

/* The shortest secret accepted for one written like text (len octets): SYNC_SECRET_MIN_HEX when it
 * holds hex digits only, else SYNC_SECRET_MIN_OTHER. */
size_t sync_secret_min_length(const char *text, size_t len);

/* Does candidate (NUL-terminated, any length) equal the secret? Constant time. */
bool sync_secret_matches(const struct sync_secret *secret, const char *candidate);

void sync_secret_wipe(struct sync_secret *secret);

#endif
