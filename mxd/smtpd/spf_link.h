/*
 * spf_link: one SPF worker's end of the link to its helper process (spf_helper.h): starting it,
 * exchanging frames (spf_proto.h) without ever blocking past a deadline, and killing it. Private to
 * spf.c; each link is used by one worker thread only.
 *
 * The helper is untrusted: whatever it sends is parsed as hostile, and anything wrong (a malformed or
 * unexpected frame, silence past the deadline, a closed socket) ends it: spf_link_fail() kills it with
 * SIGKILL, and the next spf_link_open() starts another, at once after a first failure and then with a
 * backoff that doubles up to SPF_LINK_BACKOFF_MAX_MSEC while failures follow each other. The dead are
 * reaped without waiting (waitpid WNOHANG, again at each later call).
 */
#ifndef MXD_SPF_LINK_H
#define MXD_SPF_LINK_H

#include "mxd/smtpd/spf_proto.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define SPF_LINK_BACKOFF_MIN_MSEC 100
#define SPF_LINK_BACKOFF_MAX_MSEC 10000
#define SPF_LINK_ZOMBIES_MAX      8

/* What starts a helper: the program and its arguments, the environment (owned by the caller, shared). */
struct spf_link_spawn {
	const char *path;
	char *const *argv;
	char *const *envp;
};

struct spf_link {
	const struct spf_link_spawn *spawn;
	const atomic_bool *stopping; /* set: every wait ends at once */
	pid_t pid;                   /* 0: no helper */
	int fd;                      /* -1: no helper */
	bool ready;                  /* its READY came */
	unsigned failures;           /* in a row */
	int64_t retry_at;            /* monotonic msec before which no helper starts */
	pid_t zombies[SPF_LINK_ZOMBIES_MAX];
	unsigned char *rbuf; /* SPF_PROTO_FRAME_MAX: what came and was not yet parsed */
	size_t rlen;
};

void spf_link_init(struct spf_link *l, const struct spf_link_spawn *spawn, const atomic_bool *stopping);

/* A helper to talk to: the one there is if it has not hung up, else a new one. 0, or -1 with *error_r
 * (static) while the backoff lasts or when none can start. */
int spf_link_open(struct spf_link *l, const char **error_r);

/* Send frame b (built, ended) by deadline. 0, or -1 with *error_r. */
int spf_link_send(struct spf_link *l, const struct spf_proto_buf *b, int64_t deadline, const char **error_r);

/* The helper's next frame other than READY (which a new helper must send first, and only then), by
 * deadline. 0, or -1 with *error_r (static): a malformed or unexpected frame, the deadline, a stop, EOF. */
int spf_link_recv(struct spf_link *l, struct spf_proto_helper_msg *msg, int64_t deadline,
                  const char **error_r);

/* The helper's descriptor, to watch for hang-ups while waiting for something else (-1: none). */
int spf_link_fd(const struct spf_link *l);

/* A check went through: the failures in a row start again from 0. */
void spf_link_ok(struct spf_link *l);

/* Kill the helper (logging why), count a failure and set the backoff. */
void spf_link_fail(struct spf_link *l, const char *why);

/* Kill the helper and reap it (waiting a little), free the buffers. */
void spf_link_close(struct spf_link *l);

#endif
