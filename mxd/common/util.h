/*
 * util: the few helpers every module shares.
 *
 * Allocation never returns NULL: xmalloc() and friends (xevbuffer_new() for libevent's buffers) abort
 * on failure, so callers do not check.
 * str_copy() is the bounded string copy used everywhere a fixed buffer is filled. time_now_*() read
 * the wall clock (CLOCK_REALTIME) and the monotonic clock. Thread-safe; no global state.
 */
#ifndef MXD_UTIL_H
#define MXD_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MXD_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct evbuffer;

/* Allocation that aborts on failure. */
void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* An empty evbuffer_new() (free with evbuffer_free()), aborting where libevent would return NULL. */
struct evbuffer *xevbuffer_new(void);

/* Copy src into dst of dst_size bytes, always NUL-terminated. Returns 0, or -1 when src was truncated. */
int str_copy(char *dst, size_t dst_size, const char *src);

/* Lower-case ASCII letters of s in place; returns s. */
char *str_lower(char *s);

/* Trim leading and trailing white space in place; returns the trimmed start inside s. */
char *str_trim(char *s);

/* Case-insensitive ASCII prefix test. */
bool str_has_prefix_ci(const char *s, const char *prefix);

/* Parse a decimal unsigned integer that fills all of s; 0 or -1 (empty, junk, overflow). */
int str_to_u64(const char *s, uint64_t *value_r);

/* Wall clock in seconds and microseconds since the epoch; monotonic clock in milliseconds. */
int64_t time_now(void);
int64_t time_now_usec(void);
int64_t time_mono_msec(void);

/* Write all of buf to fd, retrying on EINTR and short writes. 0 or -1 (errno set). */
int fd_write_all(int fd, const void *buf, size_t len);

/* fsync() the directory that holds path (or path itself when it is a directory). 0 or -1 (errno set). */
int fsync_dir(const char *dir);

/* Create dir (and its parents) with mode if missing. 0 or -1 with *error_r set. */
int mkdir_p(const char *dir, unsigned mode, const char **error_r);

#endif
