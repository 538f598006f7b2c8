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

/*
 * A wall clock that can jump: while the file named by MXD_FAKE_TIME_FILE holds a number of seconds,
 * time() and the realtime clock are shifted by it (the monotonic clock is left alone, as a real clock
 * step leaves it), so tests can move mxd's clock 7 days forward or 1 day back while it runs.
 */
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

int clock_gettime(clockid_t clk, struct timespec *ts);
time_t time(time_t *t);
int gettimeofday(struct timeval *restrict tv, void *restrict tz);

static long long fake_offset(void)
{
	const char *path = getenv("MXD_FAKE_TIME_FILE");
	long long off = 0;
	if (path == NULL)
		return 0;
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	if (fscanf(f, "%lld", &off) != 1)
		off = 0;
	fclose(f);
	return off;
}

int clock_gettime(clockid_t clk, struct timespec *ts)
{
	static int (*real)(clockid_t, struct timespec *);
	if (real == NULL)
		real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
	int rc = real(clk, ts);
	if (rc == 0 && (clk == CLOCK_REALTIME || clk == CLOCK_REALTIME_COARSE))
		ts->tv_sec += (time_t)fake_offset();
	return rc;
}

time_t time(time_t *t)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (t != NULL)
		*t = ts.tv_sec;
	return ts.tv_sec;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	struct timespec ts;
	(void)tz;
	clock_gettime(CLOCK_REALTIME, &ts);
	tv->tv_sec = ts.tv_sec; /* glibc declares tv nonnull */
	tv->tv_usec = ts.tv_nsec / 1000;
	return 0;
}

/*
 * A file system without O_TMPFILE: while MXD_FAULT_NO_TMPFILE is set (to anything), open() with
 * O_TMPFILE fails with EOPNOTSUPP, as on file systems that lack it, so tests reach the named-then-removed
 * fallback of mxd's message spool (mxd/smtpd/data_spool.c).
 */
#include <fcntl.h>
#include <stdarg.h>

int open(const char *path, int flags, ...);
int open64(const char *path, int flags, ...);

static int no_tmpfile(int flags)
{
	return (flags & O_TMPFILE) == O_TMPFILE && getenv("MXD_FAULT_NO_TMPFILE") != NULL;
}

static int open_as(const char *name, const char *path, int flags, va_list ap)
{
	mode_t mode = 0;
	if ((flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE)
		mode = (mode_t)va_arg(ap, unsigned);
	if (no_tmpfile(flags)) {
		errno = EOPNOTSUPP;
		return -1;
	}
	int (*real)(const char *, int, ...) = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, name);
	return real(path, flags, mode);
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	int fd = open_as("open", path, flags, ap);
	va_end(ap);
	return fd;
}

int open64(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	int fd = open_as("open64", path, flags, ap);
	va_end(ap);
	return fd;
}

/*
 * Segment writes that fail: while the file named by MXD_FAULT_PWRITEV_FILE exists, pwritev() fails with
 * the errno named in it ("ENOSPC", the default, or "EIO"), so tests can fill the disk under the queue's
 * segment files alone (MXD_FAULT_FILE above fails fdatasync with EIO).
 */
#include <sys/uio.h>

ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t offset);
ssize_t pwritev64(int fd, const struct iovec *iov, int iovcnt, off_t offset);

static int pwritev_fault(void)
{
	const char *path = getenv("MXD_FAULT_PWRITEV_FILE");
	char word[16] = "";
	if (path == NULL)
		return 0;
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	if (fscanf(f, "%15s", word) != 1)
		word[0] = '\0';
	fclose(f);
	return word[0] == 'E' && word[1] == 'I' ? EIO : ENOSPC;
}

static ssize_t pwritev_hooked(const char *name, int fd, const struct iovec *iov, int iovcnt, off_t offset)
{
	static ssize_t (*real)(int, const struct iovec *, int, off_t);
	int err = pwritev_fault();
	if (err != 0) {
		errno = err;
		return -1;
	}
	if (real == NULL)
		real = (ssize_t(*)(int, const struct iovec *, int, off_t))dlsym(RTLD_NEXT, name);
	return real(fd, iov, iovcnt, offset);
}

ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t offset)
{
	return pwritev_hooked("pwritev", fd, iov, iovcnt, offset);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int iovcnt, off_t offset)
{
	return pwritev_hooked("pwritev64", fd, iov, iovcnt, offset);
}
