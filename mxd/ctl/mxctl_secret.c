/*
 * mxctl_secret: new secrets for the files mxd reads them from.
 *   mxctl secret sync [FILE]   32 random bytes as 64 hex digits, for sync_secret_file (the same file on
 *                              the primary and every secondary)
 *   mxctl secret srs [FILE]    32 random bytes as base64, for srs_secret_file (a new file; to rotate,
 *                              put its line first in the old file and keep the old line for 21 days)
 * FILE defaults to the configured setting. It must not exist (never overwritten: a lost secret breaks
 * replication or bounces), is created with mode 0640 without following a symlink, and when run as root
 * is given to group mail_owner's group (root:mxd), as mxd reads it. The secret is written to the file
 * only, never to the terminal. Runs as the invoking user (root, to write /etc/mxd).
 */
#include "mxd/ctl/mxctl.h"

#include "mxd/common/config.h"
#include "mxd/common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static const char secret_usage[] = "usage: mxctl secret sync [FILE]   (default: sync_secret_file)\n"
                                   "       mxctl secret srs [FILE]    (default: srs_secret_file)\n";

#define SECRET_BYTES 32

/* The secret as text: hex for sync, base64 for srs. */
static void secret_text(bool hex, const unsigned char *raw, char *out, size_t size)
{
	if (hex) {
		for (size_t i = 0; i < SECRET_BYTES && 2 * i + 2 < size; i++)
			snprintf(out + 2 * i, 3, "%02x", raw[i]);
	} else {
		EVP_EncodeBlock((unsigned char *)out, raw, SECRET_BYTES); /* 44 octets and a NUL */
	}
}

/* Create path (0640, no symlink followed, never an existing file) and write text and a newline. */
static int secret_write(const struct mxd_config *cfg, const char *path, const char *text, const char **why_r)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0) {
		*why_r = errno == EEXIST
		             ? "exists already: a secret is never overwritten (remove it first, or "
		               "give another FILE)"
		             : strerror(errno);
		return -1;
	}
	int ret = 0;
	if (geteuid() == 0 && cfg->mail_owner[0] != '\0') {
		struct passwd *pw = getpwnam(cfg->mail_owner);
		if (pw == NULL || fchown(fd, 0, pw->pw_gid) < 0) {
			*why_r = pw == NULL ? "mail_owner is not a user of this system" : strerror(errno);
			ret = -1;
		}
	}
	if (ret == 0 && (fchmod(fd, 0640) < 0 || fd_write_all(fd, text, strlen(text)) < 0 ||
	                 fd_write_all(fd, "\n", 1) < 0 || fsync(fd) < 0)) {
		*why_r = strerror(errno);
		ret = -1;
	}
	close(fd);
	if (ret < 0)
		unlink(path);
	return ret;
}

int mxctl_cmd_secret(struct mxctl *ctl, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "help") == 0) {
		fputs(secret_usage, stdout);
		return 0;
	}
	bool sync = argc >= 2 && strcmp(argv[1], "sync") == 0;
	if (argc < 2 || argc > 3 || (!sync && strcmp(argv[1], "srs") != 0)) {
		fputs(secret_usage, stderr);
		return 2;
	}
	const char *setting = sync ? "sync_secret_file" : "srs_secret_file";
	const char *path = argc == 3 ? argv[2]
	                   : sync    ? ctl->cfg->sync_secret_file
	                             : ctl->cfg->srs_secret_file;
	if (path == NULL || path[0] == '\0') {
		fprintf(stderr, "mxctl: secret %s: no FILE given and %s is not set\n", argv[1], setting);
		return 1;
	}
	unsigned char raw[SECRET_BYTES];
	char text[2 * SECRET_BYTES + 1];
	const char *why = NULL;
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		fprintf(stderr, "mxctl: secret %s: no random bytes: %s\n", argv[1], strerror(errno));
		return 1;
	}
	secret_text(sync, raw, text, sizeof(text));
	int ret = secret_write(ctl->cfg, path, text, &why);
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(text, sizeof(text));
	if (ret < 0) {
		fprintf(stderr, "mxctl: secret %s: %s %s: %s\n", argv[1], setting, path, why);
		return 1;
	}
	printf("wrote a new %s secret to %s (mode 0640%s)%s\n", argv[1], path,
	       geteuid() == 0 && ctl->cfg->mail_owner[0] != '\0' ? ", group of mail_owner" : "",
	       sync ? ": copy the file to the primary and every secondary" : "");
	return 0;
}
