/* privs: see privs.h. */
#include "mxd/common/privs.h"

#include "mxd/common/util.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
		if (chown(dirs[i], pw->pw_uid, pw->pw_gid) < 0) {
			snprintf(err, sizeof(err), "chown %s: %s", dirs[i], strerror(errno));
			*error_r = err;
			return -1;
		}
	}
	for (size_t i = 0; files != NULL && files[i] != NULL; i++) {
		if (chown(files[i], pw->pw_uid, pw->pw_gid) < 0 && errno != ENOENT) {
			snprintf(err, sizeof(err), "chown %s: %s", files[i], strerror(errno));
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
