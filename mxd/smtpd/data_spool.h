/*
 * data_spool: where the content of one message waits between 354 and the queue, in bounded memory.
 *
 * Owns the octets of one DATA (trace headers first, then the client's content). Up to
 * DATA_SPOOL_MEMORY_MAX octets stay in memory; past that they go, DATA_SPOOL_WRITE_SIZE octets per
 * write, to an unlinked file in the queue directory (O_TMPFILE; where the file system has none, a
 * mkostemp() name unlinked at once). The file has no name at any moment it holds content, so a message
 * refused, abandoned, or lost in a crash never leaves a file behind. A session in DATA holds at most
 * about DATA_SPOOL_MEMORY_MAX + DATA_SPOOL_WRITE_SIZE octets of content, whatever the message's size.
 *
 * At the end of DATA the spool becomes a data_view: the content as one read-only evbuffer (chunks added
 * by reference: the file mapped MAP_PRIVATE, or one heap block), with room reserved in front of it so
 * that header fields go on top, or the first octets are rewritten, without copying the body. The
 * evbuffer may be handed to another thread (the queue's committer): the mapping lives, by an atomic
 * reference count, until both the view and every chunk of its evbuffer are released, whichever thread
 * releases last.
 *
 * The spool and the view are used from the session's thread (the event loop); only the release of the
 * evbuffer's chunks may happen elsewhere. Return values: 0 success, -1 failure with an errno value.
 */
#ifndef MXD_DATA_SPOOL_H
#define MXD_DATA_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct data_spool;
struct data_view;

#define DATA_SPOOL_MEMORY_MAX     (128 * 1024)  /* content kept in memory before the spool goes to a file */
#define DATA_SPOOL_WRITE_SIZE     (64 * 1024)   /* octets per write() to the file */
#define DATA_VIEW_HEADROOM        (1024 * 1024) /* room in front of a mapped file for new header fields */
#define DATA_VIEW_HEADROOM_MEMORY (16 * 1024)   /* the same for content kept in memory */

/* A new empty spool whose file, if one is needed, is made in dir (the string is copied). */
struct data_spool *data_spool_new(const char *dir);
/* Free the spool and its file (closing it is its removal); sets *sp to NULL; NULL allowed. */
void data_spool_free(struct data_spool **sp);

/* The buffer to append content to (the caller appends, then calls data_spool_flush()). */
struct evbuffer *data_spool_input(struct data_spool *sp);
/* Move what the input holds beyond DATA_SPOOL_MEMORY_MAX to the file. -1 once a write failed (the
 * errno value is kept, data_spool_error() tells it): the content since is dropped, not stored, and every
 * later call returns -1; the caller goes on reading to the end of DATA and then refuses the message. */
int data_spool_flush(struct data_spool *sp);
/* 0, or the errno value of the first failure (open, write, mmap). */
int data_spool_error(const struct data_spool *sp);
/* Octets stored so far (in memory and in the file). */
uint64_t data_spool_size(const struct data_spool *sp);

/* The end of the content: write the rest and make the view (*view_r, the caller frees it). The spool
 * is emptied (its file now belongs to the view) and may be freed. -1 when a failure happened now or
 * before: data_spool_error() tells which, nothing is made. */
int data_spool_finish(struct data_spool *sp, struct data_view **view_r);

/* The content as one evbuffer; the view keeps it until data_view_take_buffer() or data_view_free().
 * Read it; change it only through data_view_replace_head(). */
struct evbuffer *data_view_buffer(struct data_view *v);
/* Replace the first old_len octets of the content (0: insert on top) by len octets of head. In place in
 * the reserved room when it fits (the evbuffer stays one chunk); else the new head is a chunk of its own.
 * old_len beyond the content's length is an invariant broken (assertion). */
void data_view_replace_head(struct data_view *v, size_t old_len, const void *head, size_t len);
/* Hand the evbuffer over (to the queue, which frees it), and release the view; sets *v to NULL. The
 * mapping stays until the evbuffer is freed. */
struct evbuffer *data_view_take_buffer(struct data_view **v);
/* Release the view and its evbuffer (when still held); sets *v to NULL; NULL allowed. */
void data_view_free(struct data_view **v);
/* Whether the content is kept in a mapped file (false: in memory). */
bool data_view_is_mapped(const struct data_view *v);

#endif
