/*
 * faultshim: an LD_PRELOAD library for fault tests. While the file named by MXD_FAULT_FILE exists,
 * fsync() and fdatasync() fail with EIO (the disk lost a write), so tests can check that mxd answers
 * 451 and never 250 for what it could not make durable. Without the file, the real calls run.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

int fsync(int fd);
int fdatasync(int fd);

static int fault_active(void)
{
	const char *path = getenv("MXD_FAULT_FILE");
	return path != NULL && access(path, F_OK) == 0;
}

int fsync(int fd)
{
	static int (*real)(int);
	if (fault_active()) {
		errno = EIO;
		return -1;
	}
	if (real == NULL)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	return real(fd);
}

int fdatasync(int fd)
{
	static int (*real)(int);
	if (fault_active()) {
		errno = EIO;
		return -1;
	}
	if (real == NULL)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	return real(fd);
}
