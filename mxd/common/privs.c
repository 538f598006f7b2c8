/* privs: see privs.h. */
#include "mxd/common/privs.h"

#include "mxd/common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Give path to uid:gid as root without following a symbolic link: the directories hold files that
 * mail_owner can create, so "mxd.db-wal" may be a link planted at /etc/passwd. The last component
 * must be a directory (want_dir) or a regular file with no other hard link; it is checked with
 * lstat, opened with O_NOFOLLOW, checked again on the descriptor (the same inode) and changed with
 * fchown. gid replaces only group 0 (root's); any other group is kept. missing_ok: a missing path is no
 * error. 0, or -1 with the reason in err. */
static int chown_nofollow(const char *path, bool want_dir, bool missing_ok, uid_t uid, gid_t gid, char *err,
                          size_t size)
{
	struct stat st, fst;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT && missing_ok)
			return 0;
		snprintf(err, size, "chown %s: %s", path, strerror(errno));
		return -1;
	}
	if (S_ISLNK(st.st_mode)) {
		snprintf(err, size, "chown %s: refused: it is a symbolic link (remove it)", path);
		return -1;
	}
	if (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
		snprintf(err, size, "chown %s: refused: not a %s", path,
		         want_dir ? "directory" : "regular file");
		return -1;
	}
	if (!want_dir && st.st_nlink > 1) {
		snprintf(err, size, "chown %s: refused: it has another hard link (remove it)", path);
		return -1;
	}
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC |
	                        (want_dir ? O_DIRECTORY : 0));
	if (fd < 0) {
		if (errno == ELOOP)
			snprintf(err, size, "chown %s: refused: it is a symbolic link (remove it)", path);
		else
			snprintf(err, size, "chown %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &fst) < 0 || fst.st_dev != st.st_dev || fst.st_ino != st.st_ino ||
	    (!want_dir && fst.st_nlink > 1)) {
		snprintf(err, size, "chown %s: refused: it changed while being checked", path);
		close(fd);
		return -1;
	}
	/* The group is the administrator's choice (the package shares the databases with mxadmin through
	 * group mxdb): only root's own group is replaced by mail_owner's. */
	if (fst.st_gid != 0)
		gid = (gid_t)-1;
	if (fchown(fd, uid, gid) < 0) {
		snprintf(err, size, "chown %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int privs_drop(const char *mail_owner, const char *const *dirs, const char *const *files,
               const char **error_r)
{
	static __thread char err[512];
	if (geteuid() != 0 || mail_owner == NULL || *mail_owner == '\0')
		return 0;
	struct passwd *pw = getpwnam(mail_owner);
	if (pw == NULL) {
		snprintf(
		    err, sizeof(err),
		    "mail_owner: no such user '%s' (create it, e.g. useradd --system %s, or set mail_owner)",
		    mail_owner, mail_owner);
		*error_r = err;
		return -1;
	}
	if (pw->pw_uid == 0) {
		*error_r = "mail_owner: must not be root";
		return -1;
	}
	for (size_t i = 0; dirs != NULL && dirs[i] != NULL; i++) {
		if (mkdir_p(dirs[i], 0750, error_r) < 0)
			return -1;
		if (chown_nofollow(dirs[i], true, false, pw->pw_uid, pw->pw_gid, err, sizeof(err)) < 0) {
			*error_r = err;
			return -1;
		}
	}
	for (size_t i = 0; files != NULL && files[i] != NULL; i++) {
		if (chown_nofollow(files[i], false, true, pw->pw_uid, pw->pw_gid, err, sizeof(err)) < 0) {
			*error_r = err;
			return -1;
		}
	}
	if (setgroups(1, &pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
		snprintf(err, sizeof(err), "cannot switch to mail_owner %s: %s", mail_owner, strerror(errno));
		*error_r = err;
		return -1;
	}
	if (setuid(0) == 0) {
		*error_r = "privileges could be regained after the switch";
		return -1;
	}
	return 0;
}
