/* util: see util.h. */
#include "mxd/common/util.h"

#include <event2/buffer.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void oom(size_t size)
{
	fprintf(stderr, "mxd: fatal: out of memory allocating %zu bytes\n", size);
	abort();
}

void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	if (p == NULL)
		oom(size);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL)
		oom(n * size);
	return p;
}

void *xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size ? size : 1);
	if (p == NULL)
		oom(size);
	return p;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	char *p = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

struct evbuffer *xevbuffer_new(void)
{
	struct evbuffer *buf = evbuffer_new();
	if (buf == NULL) {
		fprintf(stderr, "mxd: fatal: out of memory allocating an evbuffer\n");
		abort();
	}
	return buf;
}

int str_copy(char *dst, size_t dst_size, const char *src)
{
	size_t len = strlen(src);
	if (dst_size == 0)
		return -1;
	if (len >= dst_size) {
		memcpy(dst, src, dst_size - 1);
		dst[dst_size - 1] = '\0';
		return -1;
	}
	memcpy(dst, src, len + 1);
	return 0;
}

char *str_lower(char *s)
{
	for (char *p = s; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return s;
}

char *str_trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t len = strlen(s);
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		s[--len] = '\0';
	return s;
}

bool str_has_prefix_ci(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

int str_to_u64(const char *s, uint64_t *value_r)
{
	uint64_t v = 0;
	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*value_r = v;
	return 0;
}

int64_t time_now(void)
{
	return (int64_t)time(NULL);
}

int64_t time_now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t time_mono_msec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int fd_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int ret = fsync(fd);
	int saved = errno;
	close(fd);
	errno = saved;
	return ret;
}

int mkdir_p(const char *dir, unsigned mode, const char **error_r)
{
	static __thread char err[512];
	char path[4096];
	if (str_copy(path, sizeof(path), dir) < 0) {
		*error_r = "directory path too long";
		return -1;
	}
	for (char *p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(path, (mode_t)mode) < 0 && errno != EEXIST) {
			snprintf(err, sizeof(err), "mkdir %s: %s", path, strerror(errno));
			*error_r = err;
			return -1;
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
	return 0;
}
