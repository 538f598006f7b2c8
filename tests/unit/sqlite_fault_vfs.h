/*
 * sqlite_fault_vfs: fault injection for the queue's unit tests: a SQLite VFS, registered as the default
 * by fault_install(), that fails writes to a WAL file beyond a size limit with a chosen error
 * (SQLITE_FULL as on a full disk, SQLITE_IOERR_WRITE, ...). fault_set(limit, rc) arms it (-1: no limit);
 * it is safe to call from any thread. The queue's segment files (queue_segment.h) are on the same
 * "disk": pwritev() to one of them ending beyond the limit fails too (ENOSPC for SQLITE_FULL, else EIO),
 * fault_set_sync(err) makes fdatasync() of a segment fail with err (0: off), fault_set_short(max) makes
 * its writes short. These two are defined
 * here and so take the place of libc's for the queue library linked into the test; they call the real
 * ones otherwise. Header-only: include it from one test file.
 */
#ifndef MXD_TESTS_SQLITE_FAULT_VFS_H
#define MXD_TESTS_SQLITE_FAULT_VFS_H

#include <dlfcn.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

/* ---- fault injection: a VFS that fails WAL writes beyond a size limit ---- */

static sqlite3_vfs *fault_real;
static sqlite3_vfs fault_vfs;
static const sqlite3_io_methods *fault_real_methods;
static sqlite3_io_methods fault_methods;
static _Atomic int64_t fault_limit = -1; /* WAL size the disk has room for; -1: no limit */
static _Atomic int fault_rc = SQLITE_FULL;

/* A write ending beyond the limit fails, as on a full disk (rewriting the frames of a failed
 * transaction stays within the room the file already has). */
static int fault_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
	int64_t limit = atomic_load(&fault_limit);
	if (limit >= 0 && off + amt > limit)
		return atomic_load(&fault_rc);
	return fault_real_methods->xWrite(f, buf, amt, off);
}

/* Open with the real VFS; a WAL file then gets a copy of the real methods with xWrite wrapped (the
 * file itself stays the real VFS's object). */
static int fault_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
	int rc = fault_real->xOpen(fault_real, name, f, flags, out_flags);
	if (rc == SQLITE_OK && (flags & SQLITE_OPEN_WAL) != 0 && f->pMethods != NULL) {
		if (fault_real_methods == NULL) {
			fault_real_methods = f->pMethods;
			fault_methods = *f->pMethods;
			fault_methods.xWrite = fault_write;
		}
		if (f->pMethods == fault_real_methods)
			f->pMethods = &fault_methods;
	}
	return rc;
}

static void fault_install(void)
{
	fault_real = sqlite3_vfs_find(NULL);
	fault_vfs = *fault_real;
	fault_vfs.zName = "fault";
	fault_vfs.xOpen = fault_open;
	sqlite3_vfs_register(&fault_vfs, 1);
}

static void fault_set(int64_t limit, int rc)
{
	atomic_store(&fault_rc, rc);
	atomic_store(&fault_limit, limit);
}

static _Atomic int fault_sync_errno;
static _Atomic size_t fault_short_max;

/* pwritev() to a segment writes at most max octets per call (0: off), as a signal or a full pipe would. */
static inline void fault_set_short(size_t max)
{
	atomic_store(&fault_short_max, max);
}

static inline void fault_set_sync(int err)
{
	atomic_store(&fault_sync_errno, err);
}

/* Is fd one of the queue's segment files? */
static int fault_is_segment(int fd)
{
	char link[64], path[512];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof(path) - 1);
	if (n < 0)
		return 0;
	path[n] = '\0';
	return strstr(path, "/segments/") != NULL;
}

ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t off);
ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
	static ssize_t (*real)(int, const struct iovec *, int, off_t);
	int64_t limit = atomic_load(&fault_limit), end = (int64_t)off;
	for (int i = 0; i < iovcnt; i++)
		end += (int64_t)iov[i].iov_len;
	if (limit >= 0 && end > limit && fault_is_segment(fd)) {
		errno = atomic_load(&fault_rc) == SQLITE_FULL ? ENOSPC : EIO;
		return -1;
	}
	if (real == NULL)
		real = (ssize_t(*)(int, const struct iovec *, int, off_t))dlsym(RTLD_NEXT, "pwritev");
	size_t short_max = atomic_load(&fault_short_max);
	if (short_max > 0 && iovcnt > 0 &&
	    fault_is_segment(fd)) { /* a short write: part of the first piece */
		struct iovec part = {iov[0].iov_base,
		                     iov[0].iov_len < short_max ? iov[0].iov_len : short_max};
		return real(fd, &part, 1, off);
	}
	return real(fd, iov, iovcnt, off);
}

int fdatasync(int fd);
int fdatasync(int fd)
{
	static int (*real)(int);
	int err = atomic_load(&fault_sync_errno);
	if (err != 0 && fault_is_segment(fd)) {
		errno = err;
		return -1;
	}
	if (real == NULL)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	return real(fd);
}

#endif
