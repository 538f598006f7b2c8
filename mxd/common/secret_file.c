/* secret_file: see secret_file.h. */
#include "mxd/common/secret_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static __thread char secret_file_err[512];

static int secret_file_fail(const char **error_r, int fd, const char *setting, const char *path,
                            const char *what)
{
	if (fd >= 0)
		close(fd);
	snprintf(secret_file_err, sizeof(secret_file_err), "%s %s: %s", setting, path, what);
	*error_r = secret_file_err;
	return -1;
}

int secret_file_open(const char *setting, const char *path, const char **error_r)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return secret_file_fail(error_r, -1, setting, path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return secret_file_fail(error_r, fd, setting, path, "not a regular file");
	if ((st.st_mode & 0007) != 0)
		return secret_file_fail(error_r, fd, setting, path,
		                        "other users may read it: chmod o-rwx it (root:mxd 0640)");
	return fd;
}
