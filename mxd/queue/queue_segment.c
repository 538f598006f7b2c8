/* queue_segment: append-only segment files for large bodies; see queue_segment.h. */
#include "mxd/queue/queue_segment.h"

#include "mxd/common/log.h"
#include "mxd/common/util.h"

#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define SEGMENT_NAME_SIZE 24 /* "%016X.seg" and its NUL */
#define SEGMENT_IOV_MAX   64 /* pieces per pwritev call */

struct queue_segment {
	char *dir;  /* queue_dir/segments */
	int dir_fd; /* holds the flock */
	uint64_t roll_bytes;
	mode_t file_mode;
	int fd; /* the current segment, -1 when none */
	uint64_t cur_seq, cur_size;
	bool dirty; /* appended since the last sync */
	uint64_t next_seq;
	uint64_t *old; /* segments other than the current one */
	size_t nold, alloc;
};

static __thread char segment_errbuf[512];

/* Format the error text, keeping errno for the caller. */
static const char *segment_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *segment_error(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(segment_errbuf, sizeof(segment_errbuf), fmt, ap);
	va_end(ap);
	errno = saved;
	return segment_errbuf;
}

static void segment_name(char name[SEGMENT_NAME_SIZE], uint64_t seq)
{
	snprintf(name, SEGMENT_NAME_SIZE, "%016" PRIX64 ".seg", seq);
}

/* The number of a segment's file name, or 0 when name is not one. */
static uint64_t segment_parse_name(const char *name)
{
	uint64_t v = 0;
	if (strlen(name) != 20 || strspn(name, "0123456789ABCDEF") != 16 || strcmp(name + 16, ".seg") != 0)
		return 0;
	for (int i = 0; i < 16; i++)
		v = v << 4 | (uint64_t)(name[i] <= '9' ? name[i] - '0' : name[i] - 'A' + 10);
	return v;
}

static void segment_add_old(struct queue_segment *seg, uint64_t seq)
{
	if (seg->nold == seg->alloc) {
		seg->alloc = seg->alloc == 0 ? 8 : seg->alloc * 2;
		seg->old = xrealloc(seg->old, seg->alloc * sizeof(*seg->old));
	}
	seg->old[seg->nold++] = seq;
}

/* Create segments/ with the queue directory's group scheme (fsync'ing its parent) or find it. */
static int segment_make_dir(const char *queue_dir, const char *dir, mode_t *file_mode_r, const char **error_r)
{
	struct stat st;

	if (stat(queue_dir, &st) < 0) {
		*error_r = segment_error("stat %s: %s", queue_dir, strerror(errno));
		return -1;
	}
	mode_t dir_mode = 0700 | (st.st_mode & (S_ISGID | 0070));
	*file_mode_r = (st.st_mode & 0010) != 0 ? 0640 : 0600;
	if (mkdir(dir, dir_mode) < 0) {
		if (errno == EEXIST)
			return 0;
		*error_r = segment_error("mkdir %s: %s", dir, strerror(errno));
		return -1;
	}
	if (chmod(dir, dir_mode) < 0 || fsync_dir(queue_dir) < 0) { /* chmod: past the umask */
		*error_r = segment_error("set up %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* Note every segment file already there as old, and number new ones after the highest. */
static int segment_scan(struct queue_segment *seg, const char **error_r)
{
	DIR *d = opendir(seg->dir);
	struct dirent *de;

	if (d == NULL) {
		*error_r = segment_error("open %s: %s", seg->dir, strerror(errno));
		return -1;
	}
	seg->next_seq = 1;
	while ((de = readdir(d)) != NULL) {
		uint64_t seq = segment_parse_name(de->d_name);
		if (seq == 0)
			continue;
		segment_add_old(seg, seq);
		if (seq >= seg->next_seq)
			seg->next_seq = seq + 1;
	}
	closedir(d);
	return 0;
}

int queue_segment_open(const char *queue_dir, uint64_t roll_bytes, struct queue_segment **seg_r,
                       const char **error_r)
{
	struct queue_segment *seg = xcalloc(1, sizeof(*seg));

	seg->dir = xasprintf("%s/segments", queue_dir);
	seg->fd = -1;
	seg->roll_bytes = roll_bytes == 0 ? QUEUE_SEGMENT_ROLL_BYTES : roll_bytes;
	seg->dir_fd = -1;
	if (segment_make_dir(queue_dir, seg->dir, &seg->file_mode, error_r) < 0)
		goto fail;
	seg->dir_fd = open(seg->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (seg->dir_fd < 0) {
		*error_r = segment_error("open %s: %s", seg->dir, strerror(errno));
		goto fail;
	}
	if (flock(seg->dir_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			*error_r = segment_error("queue directory %s is in use by another mxd (%s is locked)",
			                         queue_dir, seg->dir);
		else
			*error_r = segment_error("lock %s: %s", seg->dir, strerror(errno));
		goto fail;
	}
	if (segment_scan(seg, error_r) < 0)
		goto fail;
	*seg_r = seg;
	return 0;
fail:
	queue_segment_free(&seg);
	return -1;
}

/* Leave the current segment (it becomes old). */
static void segment_close_current(struct queue_segment *seg)
{
	if (seg->fd < 0)
		return;
	close(seg->fd);
	seg->fd = -1;
	seg->dirty = false;
	segment_add_old(seg, seg->cur_seq);
}

void queue_segment_free(struct queue_segment **segp)
{
	struct queue_segment *seg = *segp;

	if (seg == NULL)
		return;
	*segp = NULL;
	if (seg->fd >= 0)
		close(seg->fd);
	if (seg->dir_fd >= 0)
		close(seg->dir_fd); /* releases the flock */
	free(seg->old);
	free(seg->dir);
	free(seg);
}

/* Start a new current segment: created, made durable in its directory. */
static int segment_start(struct queue_segment *seg, const char **error_r)
{
	char name[SEGMENT_NAME_SIZE];

	if (seg->dirty && queue_segment_sync(seg, error_r) < 0)
		return -1;
	segment_close_current(seg);
	uint64_t seq = seg->next_seq++;
	segment_name(name, seq);
	int fd = openat(seg->dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, seg->file_mode);
	if (fd < 0) {
		*error_r = segment_error("create %s/%s: %s", seg->dir, name, strerror(errno));
		return -1;
	}
	if (fchmod(fd, seg->file_mode) < 0 || fsync(seg->dir_fd) < 0) {
		*error_r = segment_error("create %s/%s: %s", seg->dir, name, strerror(errno));
		int saved = errno;
		close(fd);
		segment_add_old(seg, seq); /* an empty file, collected later */
		errno = saved;
		return -1;
	}
	seg->fd = fd;
	seg->cur_seq = seq;
	seg->cur_size = 0;
	return 0;
}

/* pwritev every byte of vec[0..n) at off, through short writes. 0 or -1 (errno set). */
static int segment_pwritev_all(int fd, struct iovec *vec, int n, uint64_t off)
{
	for (;;) {
		while (n > 0 && vec->iov_len == 0)
			vec++, n--;
		if (n == 0)
			return 0;
		ssize_t w = pwritev(fd, vec, n < SEGMENT_IOV_MAX ? n : SEGMENT_IOV_MAX, (off_t)off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		off += (uint64_t)w;
		while (n > 0 && (size_t)w >= vec->iov_len) {
			w -= (ssize_t)vec->iov_len;
			vec++, n--;
		}
		if (n > 0) {
			vec->iov_base = (char *)vec->iov_base + w;
			vec->iov_len -= (size_t)w;
		}
	}
}

/* Write body's pieces at the current segment's end. 0 or -1 (errno set). */
static int segment_write_body(struct queue_segment *seg, struct evbuffer *body)
{
	int n = evbuffer_peek(body, -1, NULL, NULL, 0);
	struct evbuffer_iovec *ev = xcalloc((size_t)n + 1, sizeof(*ev));
	struct iovec *vec = xcalloc((size_t)n + 1, sizeof(*vec));

	evbuffer_peek(body, -1, NULL, ev, n);
	for (int i = 0; i < n; i++) {
		vec[i].iov_base = ev[i].iov_base;
		vec[i].iov_len = ev[i].iov_len;
	}
	int ret = segment_pwritev_all(seg->fd, vec, n, seg->cur_size);
	int saved = errno;
	free(ev);
	free(vec);
	errno = saved;
	return ret;
}

int queue_segment_append(struct queue_segment *seg, struct evbuffer *body, struct queue_segment_ref *ref_r,
                         const char **error_r)
{
	uint64_t len = evbuffer_get_length(body);

	if (seg->fd < 0 || (seg->cur_size > 0 && seg->cur_size + len > seg->roll_bytes))
		if (segment_start(seg, error_r) < 0)
			return -1;
	if (segment_write_body(seg, body) < 0) {
		*error_r = segment_error("write segment %s/%016" PRIX64 ".seg: %s", seg->dir, seg->cur_seq,
		                         strerror(errno));
		int saved = errno;
		segment_close_current(seg); /* the page cache's state is unknown: a new one next time */
		errno = saved;
		return -1;
	}
	ref_r->seq = seg->cur_seq;
	ref_r->offset = seg->cur_size;
	ref_r->length = len;
	seg->cur_size += len;
	seg->dirty = true;
	return 0;
}

int queue_segment_sync(struct queue_segment *seg, const char **error_r)
{
	if (seg->fd < 0 || !seg->dirty)
		return 0;
	if (fdatasync(seg->fd) < 0) {
		*error_r = segment_error("fdatasync segment %s/%016" PRIX64 ".seg: %s", seg->dir,
		                         seg->cur_seq, strerror(errno));
		int saved = errno;
		segment_close_current(seg);
		errno = saved;
		return -1;
	}
	seg->dirty = false;
	return 0;
}

/* Unlink the old segments that used() says nothing references. */
static unsigned segment_collect_old(struct queue_segment *seg, queue_segment_used_fn *used, void *ctx)
{
	char name[SEGMENT_NAME_SIZE];
	unsigned removed = 0;

	for (size_t i = 0; i < seg->nold;) {
		if (used(ctx, seg->old[i]) != 0) {
			i++;
			continue;
		}
		segment_name(name, seg->old[i]);
		if (unlinkat(seg->dir_fd, name, 0) < 0 && errno != ENOENT) {
			log_warn("qmgr", "remove segment %s/%s: %s", seg->dir, name, strerror(errno));
			i++;
			continue;
		}
		seg->old[i] = seg->old[--seg->nold];
		removed++;
	}
	return removed;
}

unsigned queue_segment_collect(struct queue_segment *seg, queue_segment_used_fn *used, void *ctx)
{
	/* A current segment nothing references (all its mail delivered) is left too, so that an idle queue
	 * keeps no files; the next append starts a new one. */
	if (seg->fd >= 0 && !seg->dirty && used(ctx, seg->cur_seq) == 0)
		segment_close_current(seg);
	return segment_collect_old(seg, used, ctx);
}

size_t queue_segment_count(const struct queue_segment *seg)
{
	return seg->nold + (seg->fd >= 0);
}

/* A mapping referenced by an evbuffer. */
struct segment_map {
	void *base;
	size_t len;
};

static void segment_unmap(const void *data, size_t datalen, void *extra)
{
	struct segment_map *m = extra;
	(void)data, (void)datalen;
	munmap(m->base, m->len);
	free(m);
}

/* Map ref's bytes of the open segment fd and reference them from out. 0 or -1. */
static int segment_map_into(int fd, const char *path, const struct queue_segment_ref *ref,
                            struct evbuffer *out, const char **error_r)
{
	struct stat st;
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);

	if (fstat(fd, &st) < 0) {
		*error_r = segment_error("stat %s: %s", path, strerror(errno));
		return -1;
	}
	if (ref->offset > (uint64_t)st.st_size || ref->length > (uint64_t)st.st_size - ref->offset) {
		*error_r = segment_error("%s is shorter than the message content it holds", path);
		return -1;
	}
	uint64_t start = ref->offset & ~(page - 1), delta = ref->offset - start;
	struct segment_map *m = xcalloc(1, sizeof(*m));
	m->len = (size_t)(delta + ref->length);
	m->base = mmap(NULL, m->len, PROT_READ, MAP_SHARED, fd, (off_t)start);
	if (m->base == MAP_FAILED) {
		*error_r = segment_error("map %s: %s", path, strerror(errno));
		free(m);
		return -1;
	}
	(void)madvise(m->base, m->len, MADV_SEQUENTIAL);
	if (evbuffer_add_reference(out, (char *)m->base + delta, (size_t)ref->length, segment_unmap, m) < 0)
		abort(); /* only fails to allocate */
	return 0;
}

int queue_segment_read(const char *queue_dir, const struct queue_segment_ref *ref, struct evbuffer *out,
                       const char **error_r)
{
	char name[SEGMENT_NAME_SIZE];

	if (ref->length == 0)
		return 0;
	segment_name(name, ref->seq);
	char *path = xasprintf("%s/segments/%s", queue_dir, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int ret = errno == ENOENT ? 1 : -1;
		*error_r = segment_error("open %s: %s", path, strerror(errno));
		free(path);
		return ret;
	}
	int ret = segment_map_into(fd, path, ref, out, error_r);
	close(fd);
	free(path);
	return ret;
}
