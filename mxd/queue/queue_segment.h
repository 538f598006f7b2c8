/*
 * queue_segment: large message bodies written once. Owns queue_directory/segments/ and the files in it.
 *
 * A body of QUEUE_SEGMENT_MIN_BYTES or more is appended to the current segment file (segments/<16 hex
 * digits>.seg, numbered upwards) with pwritev of the evbuffer's own pieces, never copied into one
 * buffer; its message row in queue.db then holds (segment, offset, length) instead of a blob, so the
 * body is written to disk once, not to the WAL and again at the checkpoint. Smaller bodies stay blobs.
 *
 * WRITER (the committer thread of queue_store only; one per queue directory): queue_segment_open()
 * takes an exclusive flock on segments/, so a second mxd on the same queue is refused. The committer
 * appends the bodies of a batch, calls queue_segment_sync() once (one fdatasync) and only then commits
 * the transaction that references them: a committed reference always points at synced bytes. A crash or
 * a failed batch leaves unreferenced bytes at a segment's tail; they are never read, and a restarted
 * writer never appends to an old segment (it starts a new one), so they go with their file. A segment
 * rolls over once it holds roll_bytes; a new file is fsync'd in its directory before use. After an
 * error in pwritev or fdatasync the segment is abandoned (the page cache's state is unknown) and the
 * next append starts a new one. queue_segment_collect() unlinks every segment that the caller says no
 * message references, the current one included once it holds nothing unsynced (the next append then
 * starts a new one), so a queue whose mail has all been delivered holds no segment files.
 *
 * READER (any thread or process, no lock): queue_segment_read() maps the body's bytes and adds them to
 * an evbuffer as a reference; the mapping is released when the evbuffer lets go of it. Segment bytes
 * that a committed row references are never rewritten or truncated, so the mapping stays valid.
 *
 * Permissions follow queue_directory: segments/ gets its group bits and setgid (0700, or 2770 for the
 * package's mxd:mxdb queue), segment files are 0600, or 0640 when the group may enter the queue.
 *
 * Errors: 0 success, -1 failure with *error_r (thread-local text, valid until the next call in the
 * thread) and errno saying why (ENOSPC, EDQUOT: the disk is full).
 */
#ifndef MXD_QUEUE_SEGMENT_H
#define MXD_QUEUE_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct queue_segment;

#define QUEUE_SEGMENT_MIN_BYTES  ((size_t)32 << 10) /* bodies from this size on go to segments */
#define QUEUE_SEGMENT_ROLL_BYTES ((uint64_t)64 << 20)

/* Where a body is: segment number, offset and length in bytes. */
struct queue_segment_ref {
	uint64_t seq;
	uint64_t offset;
	uint64_t length;
};

/* Does a committed message still reference segment seq? 1 yes, 0 no, -1 cannot tell (kept). */
typedef int queue_segment_used_fn(void *ctx, uint64_t seq);

/* Open the writer of queue_dir/segments (created as needed, its parent fsync'd) and lock it; roll_bytes
 * is the size after which a new segment starts (0: QUEUE_SEGMENT_ROLL_BYTES). Every segment already
 * there is old: only read and collected. 0 or -1 (another mxd holds the lock: "in use by another"). */
int queue_segment_open(const char *queue_dir, uint64_t roll_bytes, struct queue_segment **seg_r,
                       const char **error_r);

/* Close the writer, release the lock, clear *seg. Nothing is synced: call queue_segment_sync() first. */
void queue_segment_free(struct queue_segment **seg);

/* Append body's bytes (body is left untouched) to the current segment, starting one if needed, and
 * set *ref_r. Not durable before queue_segment_sync(). 0 or -1 (errno set). */
int queue_segment_append(struct queue_segment *seg, struct evbuffer *body, struct queue_segment_ref *ref_r,
                         const char **error_r);

/* Make every append so far durable (fdatasync of the current segment when it has new bytes). 0 or -1
 * (errno set; the appends since the last sync must be treated as lost). */
int queue_segment_sync(struct queue_segment *seg, const char **error_r);

/* Unlink each segment for which used() returns 0 (the current one only when it holds nothing unsynced).
 * Returns the number unlinked (warnings logged for the ones that could not be). */
unsigned queue_segment_collect(struct queue_segment *seg, queue_segment_used_fn *used, void *ctx);

/* Number of segment files the writer knows of (the current one included), for tests. */
size_t queue_segment_count(const struct queue_segment *seg);

/* Add the body at ref in queue_dir's segments to out, mmapped and referenced (no copy). 0, 1 the
 * segment file is gone (its message was removed meanwhile), -1 error (a short file, a failed map). */
int queue_segment_read(const char *queue_dir, const struct queue_segment_ref *ref, struct evbuffer *out,
                       const char **error_r);

#endif
