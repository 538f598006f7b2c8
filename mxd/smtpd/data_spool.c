/* data_spool: see data_spool.h. */
#include "mxd/smtpd/data_spool.h"

#include "mxd/common/log.h"
#include "mxd/common/util.h"

#include <assert.h>
#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct data_spool {
	char *dir;
	struct evbuffer *in; /* content not written yet */
	int fd;              /* -1 until the content outgrows memory */
	uint64_t written;    /* octets in the file */
	int error;           /* errno of the first failure; 0: none */
};

struct data_view {
	atomic_int refs;      /* the view itself, and one per evbuffer chunk that references base */
	char *base;           /* the headroom, then the content */
	size_t base_len;      /* what was mapped or allocated */
	bool mapped;          /* base is a mapping (else a heap block) */
	bool split;           /* buf holds a head chunk of its own besides the reference to base */
	size_t start, end;    /* the content is base[start, end) (unless split) */
	struct evbuffer *buf; /* NULL once taken */
};

struct data_spool *data_spool_new(const char *dir)
{
	struct data_spool *sp = xcalloc(1, sizeof(*sp));
	sp->dir = xstrdup(dir);
	sp->in = xevbuffer_new();
	sp->fd = -1;
	return sp;
}

void data_spool_free(struct data_spool **spp)
{
	struct data_spool *sp = *spp;
	if (sp == NULL)
		return;
	if (sp->fd >= 0)
		close(sp->fd);
	evbuffer_free(sp->in);
	free(sp->dir);
	free(sp);
	*spp = NULL;
}

struct evbuffer *data_spool_input(struct data_spool *sp)
{
	return sp->in;
}

int data_spool_error(const struct data_spool *sp)
{
	return sp->error;
}

uint64_t data_spool_size(const struct data_spool *sp)
{
	return sp->written + evbuffer_get_length(sp->in);
}

/* The first failure is kept; the content waiting is dropped (it will not be stored). */
static int spool_fail(struct data_spool *sp, int error)
{
	if (sp->error == 0)
		sp->error = error != 0 ? error : EIO;
	evbuffer_drain(sp->in, evbuffer_get_length(sp->in));
	return -1;
}

/* A file without a name in dir: O_TMPFILE, or where the file system has none, a name removed at once. */
static int spool_open(struct data_spool *sp)
{
	int fd = open(sp->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
	static atomic_bool told;
	if (!atomic_exchange(&told, true))
		log_info("smtpd", "no O_TMPFILE in %s: message spool files are named, then removed at once",
		         sp->dir);
	char path[4096];
	if (snprintf(path, sizeof(path), "%s/.data-spool.XXXXXX", sp->dir) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0 && unlink(path) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Write n octets from the input's front to the file. */
static int spool_write(struct data_spool *sp, size_t n)
{
	while (n > 0) {
		int r = evbuffer_write_atmost(sp->in, sp->fd, (ev_ssize_t)n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return spool_fail(sp, r < 0 ? errno : EIO);
		sp->written += (uint64_t)r;
		n -= (size_t)r;
	}
	return 0;
}

int data_spool_flush(struct data_spool *sp)
{
	if (sp->error != 0)
		return spool_fail(sp, sp->error);
	size_t len = evbuffer_get_length(sp->in);
	if (sp->fd < 0) {
		if (len <= DATA_SPOOL_MEMORY_MAX)
			return 0;
		sp->fd = spool_open(sp);
		if (sp->fd < 0)
			return spool_fail(sp, errno);
	}
	for (; len >= DATA_SPOOL_WRITE_SIZE; len -= DATA_SPOOL_WRITE_SIZE)
		if (spool_write(sp, DATA_SPOOL_WRITE_SIZE) != 0)
			return -1;
	return 0;
}

static void view_unref(struct data_view *v)
{
	if (atomic_fetch_sub(&v->refs, 1) != 1)
		return;
	if (v->mapped)
		munmap(v->base, v->base_len);
	else
		free(v->base);
	free(v);
}

/* An evbuffer chunk referencing base is gone (on whichever thread freed the evbuffer). */
static void view_chunk_release(const void *data, size_t len, void *arg)
{
	(void)data, (void)len;
	view_unref(arg);
}

/* The evbuffer becomes one chunk: a reference to base[start, end). */
static void view_rebuild(struct data_view *v)
{
	evbuffer_drain(v->buf, evbuffer_get_length(v->buf));
	if (v->end == v->start)
		return;
	atomic_fetch_add(&v->refs, 1);
	if (evbuffer_add_reference(v->buf, v->base + v->start, v->end - v->start, view_chunk_release, v) != 0)
		abort(); /* allocation failure */
}

static struct data_view *view_new(char *base, size_t base_len, bool mapped, size_t start, size_t end)
{
	struct data_view *v = xcalloc(1, sizeof(*v));
	atomic_init(&v->refs, 1);
	v->base = base;
	v->base_len = base_len;
	v->mapped = mapped;
	v->start = start;
	v->end = end;
	v->buf = xevbuffer_new();
	view_rebuild(v);
	return v;
}

/* Content that stayed in memory: one heap block with a little room in front. */
static struct data_view *spool_view_memory(struct data_spool *sp)
{
	size_t len = evbuffer_get_length(sp->in);
	char *base = xmalloc(DATA_VIEW_HEADROOM_MEMORY + len + 1);
	evbuffer_remove(sp->in, base + DATA_VIEW_HEADROOM_MEMORY, len);
	return view_new(base, DATA_VIEW_HEADROOM_MEMORY + len + 1, false, DATA_VIEW_HEADROOM_MEMORY,
	                DATA_VIEW_HEADROOM_MEMORY + len);
}

/* Content in the file: an anonymous region of headroom plus size, the file mapped over its tail. The
 * file is closed at once: the mapping keeps it. */
static struct data_view *spool_view_file(struct data_spool *sp)
{
	size_t size = (size_t)sp->written, total = DATA_VIEW_HEADROOM + size;
	char *base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED) {
		spool_fail(sp, errno);
		return NULL;
	}
	if (mmap(base + DATA_VIEW_HEADROOM, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, sp->fd,
	         0) == MAP_FAILED) {
		int e = errno;
		munmap(base, total);
		spool_fail(sp, e);
		return NULL;
	}
	madvise(base + DATA_VIEW_HEADROOM, size, MADV_SEQUENTIAL);
	close(sp->fd);
	sp->fd = -1;
	sp->written = 0;
	return view_new(base, total, true, DATA_VIEW_HEADROOM, total);
}

int data_spool_finish(struct data_spool *sp, struct data_view **view_r)
{
	*view_r = NULL;
	if (sp->error != 0)
		return spool_fail(sp, sp->error);
	if (sp->fd < 0) {
		*view_r = spool_view_memory(sp);
		return 0;
	}
	if (spool_write(sp, evbuffer_get_length(sp->in)) != 0)
		return -1;
	*view_r = spool_view_file(sp);
	return *view_r != NULL ? 0 : -1;
}

struct evbuffer *data_view_buffer(struct data_view *v)
{
	return v->buf;
}

bool data_view_is_mapped(const struct data_view *v)
{
	return v->mapped;
}

void data_view_replace_head(struct data_view *v, size_t old_len, const void *head, size_t len)
{
	assert(v->buf != NULL && old_len <= evbuffer_get_length(v->buf));
	if (!v->split && len <= v->start + old_len) {
		size_t at = v->start + old_len - len;
		memmove(v->base + at, head, len);
		v->start = at;
		view_rebuild(v);
		return;
	}
	/* no room left in front (or already split): the head becomes a chunk of its own */
	struct evbuffer *front = xevbuffer_new();
	if (evbuffer_add(front, head, len) != 0)
		abort();
	evbuffer_drain(v->buf, old_len);
	evbuffer_add_buffer(front, v->buf);
	evbuffer_add_buffer(v->buf, front);
	evbuffer_free(front);
	v->split = true;
}

struct evbuffer *data_view_take_buffer(struct data_view **vp)
{
	struct data_view *v = *vp;
	struct evbuffer *buf = v->buf;
	v->buf = NULL;
	*vp = NULL;
	view_unref(v);
	return buf;
}

void data_view_free(struct data_view **vp)
{
	struct data_view *v = *vp;
	if (v == NULL)
		return;
	if (v->buf != NULL)
		evbuffer_free(v->buf);
	*vp = NULL;
	view_unref(v);
}
