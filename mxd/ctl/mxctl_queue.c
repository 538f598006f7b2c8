/*
 * mxctl queue: look at and manage the mail queue (like postqueue -p, postcat -q and postsuper -d/-h/-H).
 * Opens the store in queue_directory without its committer and uses the synchronous calls, so it works
 * beside a running mxd. A queue that was never created reads as empty: mxctl does not create
 * queue.db, which would then belong to the user running mxctl rather than to mail_owner.
 * Text from the network (addresses, reasons) is printed with control characters replaced; "show"
 * prints the message content as stored.
 */
#include "mxd/ctl/mxctl.h"

#include "mxd/queue/queue_failed.h"
#include "mxd/queue/queue_log.h"
#include "mxd/queue/queue_store.h"
#include "mxd/common/addr.h"
#include "mxd/common/util.h"

#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char queue_usage[] = "usage: mxctl queue list\n"
                                  "       mxctl queue quarantine\n"
                                  "       mxctl queue show ID\n"
                                  "       mxctl queue delete|hold|release ID...\n"
                                  "       mxctl queue flush\n"
                                  "       mxctl queue failed\n"
                                  "       mxctl queue resend ID [--to ADDRESS]\n"
                                  "       mxctl queue purge [ID...]\n"
                                  "       mxctl queue help\n";

/* Open the store, or set *qs_r to NULL when there is no queue yet. 0 or -1 (reported). */
static int mxctl_queue_open(struct mxctl *ctl, const char *action, struct queue_store **qs_r)
{
	const char *dir = ctl->cfg->queue_directory;
	char *path = xasprintf("%s/queue.db", dir);
	const char *error;
	struct stat st;
	int ret = 0;

	*qs_r = NULL;
	if (stat(path, &st) < 0) {
		if (errno != ENOENT) {
			fprintf(stderr, "mxctl: queue %s: %s: %s\n", action, path, strerror(errno));
			ret = -1;
		}
	} else if (queue_store_open(dir, qs_r, &error) < 0) {
		fprintf(stderr, "mxctl: queue %s: %s\n", action, error);
		ret = -1;
	}
	free(path);
	return ret;
}

/* Print s with control characters replaced, so queue contents cannot drive the terminal. */
static void mxctl_queue_print_safe(const char *s)
{
	for (; *s != '\0'; s++)
		putchar((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
}

static const char *mxctl_queue_time(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL || strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, size, "%" PRId64, t);
	return buf;
}

/* "  deferred  <rcpt> attempts=3 next=..." and the last reason on a line of its own. */
static void mxctl_queue_print_rcpt(const struct queue_rcpt_info *r, const char *indent)
{
	char when[32];

	printf("%s%-8s  <", indent, queue_rcpt_state_name(r->state));
	mxctl_queue_print_safe(r->address);
	putchar('>');
	if (r->orig_address != NULL && strcmp(r->orig_address, r->address) != 0) {
		printf(" orig_to=<");
		mxctl_queue_print_safe(r->orig_address);
		putchar('>');
	}
	if (r->attempts > 0)
		printf(" attempts=%d", r->attempts);
	if (r->state == QUEUE_RCPT_DEFERRED && r->next_attempt > 0)
		printf(" next=%s", mxctl_queue_time(r->next_attempt, when, sizeof(when)));
	putchar('\n');
	if (r->last_reason != NULL) {
		printf("%*s          (", (int)strlen(indent), "");
		if (r->dsn != NULL)
			printf("dsn=%s ", r->dsn);
		mxctl_queue_print_safe(r->last_reason);
		if (r->remote_mta != NULL) {
			printf(" from ");
			mxctl_queue_print_safe(r->remote_mta);
		}
		printf(")\n");
	}
}

struct mxctl_queue_totals {
	int64_t messages;
	int64_t bytes;
	bool quarantine_only; /* mxctl queue quarantine: messages a milter held */
	int64_t failed;       /* list: failed messages skipped */
};

static int mxctl_queue_list_one(void *ctx, const struct queue_msg_info *msg)
{
	struct mxctl_queue_totals *totals = ctx;
	char when[32];

	if (totals->quarantine_only && msg->hold_reason == NULL)
		return 0;
	if (msg->failed_at > 0) {
		totals->failed++; /* mxctl queue failed lists them */
		return 0;
	}
	if (totals->messages++ == 0)
		printf("%-16s  %10s  %-19s  %s\n", "-Queue ID-", "-Size-", "-Arrival Time-",
		       "-Sender/Recipient-");
	printf("%-16s  %10" PRId64 "  %s  <", msg->id, msg->size,
	       mxctl_queue_time(msg->arrival, when, sizeof(when)));
	mxctl_queue_print_safe(msg->sender);
	printf(">%s\n", msg->held ? "  HELD" : "");
	if (msg->hold_reason != NULL) {
		printf("    (quarantine: ");
		mxctl_queue_print_safe(msg->hold_reason);
		printf(")\n");
	}
	for (size_t i = 0; i < msg->nrcpt; i++)
		mxctl_queue_print_rcpt(&msg->rcpts[i], "    ");
	putchar('\n');
	totals->bytes += msg->size;
	return 0;
}

static int mxctl_queue_list(struct queue_store *qs, bool quarantine_only)
{
	struct mxctl_queue_totals totals = {0, 0, quarantine_only, 0};
	const char *error;

	if (qs != NULL && queue_store_list(qs, mxctl_queue_list_one, &totals, &error) < 0) {
		fprintf(stderr, "mxctl: queue list: %s\n", error);
		return 1;
	}
	if (totals.messages == 0)
		printf(quarantine_only ? "Quarantine is empty\n" : "Mail queue is empty\n");
	else
		printf("-- %" PRId64 " bytes in %" PRId64 " message%s.\n", totals.bytes, totals.messages,
		       totals.messages == 1 ? "" : "s");
	if (totals.failed > 0)
		printf("-- %" PRId64 " failed message%s kept: mxctl queue failed\n", totals.failed,
		       totals.failed == 1 ? "" : "s");
	return 0;
}

/* Queue ids are upper-case hex; accept what an operator types in lower case. */
static char *mxctl_queue_id(const char *arg)
{
	char *id = xstrdup(arg);

	for (char *p = id; *p != '\0'; p++)
		*p = (char)toupper((unsigned char)*p);
	return id;
}

static void mxctl_queue_print_field(const char *name, const char *value)
{
	printf("%s: ", name);
	mxctl_queue_print_safe(value);
	putchar('\n');
}

static int mxctl_queue_show(struct queue_store *qs, const char *arg)
{
	char *id = mxctl_queue_id(arg);
	struct queue_msg_info *info = NULL;
	struct evbuffer *content = xevbuffer_new();
	const char *error = NULL;
	char when[32];
	int ret = qs == NULL ? 1 : queue_store_get(qs, id, &info, &error);

	if (ret == 0)
		ret = queue_store_read_body(qs, id, content, &error);
	if (ret == 1)
		fprintf(stderr, "mxctl: queue show: no such message: %s\n", arg);
	else if (ret < 0)
		fprintf(stderr, "mxctl: queue show: %s: %s\n", arg, error);
	if (ret != 0)
		goto out;

	printf("*** ENVELOPE ***\n");
	printf("id: %s\n", info->id);
	printf("arrival: %s (%" PRId64 ")\n", mxctl_queue_time(info->arrival, when, sizeof(when)),
	       info->arrival);
	printf("size: %" PRId64 "\n", info->size);
	printf("sender: <");
	mxctl_queue_print_safe(info->sender);
	printf(">\n");
	mxctl_queue_print_field("client_name", info->client_name);
	mxctl_queue_print_field("client_addr", info->client_addr);
	mxctl_queue_print_field("helo", info->helo);
	mxctl_queue_print_field("protocol", info->proto);
	printf("smtputf8: %s\n", info->smtputf8 ? "yes" : "no");
	printf("held: %s\n", info->held ? "yes" : "no");
	if (info->hold_reason != NULL)
		mxctl_queue_print_field("quarantine", info->hold_reason);
	if (info->failed_at > 0) {
		printf("failed: %s (%" PRId64 ") ", mxctl_queue_time(info->failed_at, when, sizeof(when)),
		       info->failed_at);
		mxctl_queue_print_safe(info->failed_reason != NULL ? info->failed_reason : "");
		putchar('\n');
	}
	for (size_t i = 0; i < info->nrcpt; i++)
		mxctl_queue_print_rcpt(&info->rcpts[i], "recipient: ");
	printf("*** CONTENT ***\n");
	fflush(stdout);
	while (evbuffer_get_length(content) > 0) {
		if (evbuffer_write(content, fileno(stdout)) < 0) {
			fprintf(stderr, "mxctl: queue show: write: %s\n", strerror(errno));
			ret = -1;
			break;
		}
	}
out:
	queue_msg_info_free(&info);
	evbuffer_free(content);
	free(id);
	return ret == 0 ? 0 : 1;
}

/* delete, hold or release each id; 1 when any was missing or failed. */
static int mxctl_queue_change(struct queue_store *qs, const char *action, int argc, char **argv)
{
	const char *error = NULL;
	int status = 0;
	int changed = 0;

	for (int i = 0; i < argc; i++) {
		char *id = mxctl_queue_id(argv[i]);
		int ret = 1;
		if (qs == NULL)
			; /* no queue: no such message */
		else if (strcmp(action, "delete") == 0)
			ret = queue_store_remove(qs, id, "deleted with mxctl queue delete", &error);
		else
			ret = queue_store_set_hold(qs, id, strcmp(action, "hold") == 0, &error);
		if (ret == 0) {
			changed++;
		} else {
			if (ret == 1)
				fprintf(stderr, "mxctl: queue %s: no such message: %s\n", action, argv[i]);
			else
				fprintf(stderr, "mxctl: queue %s: %s: %s\n", action, argv[i], error);
			status = 1;
		}
		free(id);
	}
	if (changed > 0)
		printf("%s: %d message%s\n",
		       strcmp(action, "delete") == 0 ? "Deleted"
		       : strcmp(action, "hold") == 0 ? "Held"
		                                     : "Released",
		       changed, changed == 1 ? "" : "s");
	return status;
}

/* mxctl queue failed: the failed messages kept for failed_retention, with when and why they failed. */
static int mxctl_queue_failed_one(void *ctx, const struct queue_msg_info *msg)
{
	struct mxctl_queue_totals *totals = ctx;
	char when[32];

	if (totals->messages++ == 0)
		printf("%-16s  %10s  %-19s  %s\n", "-Queue ID-", "-Size-", "-Failed Time-",
		       "-Sender/Recipient-");
	printf("%-16s  %10" PRId64 "  %s  <", msg->id, msg->size,
	       mxctl_queue_time(msg->failed_at, when, sizeof(when)));
	mxctl_queue_print_safe(msg->sender);
	printf(">\n    reason: ");
	mxctl_queue_print_safe(msg->failed_reason != NULL ? msg->failed_reason : "");
	putchar('\n');
	for (size_t i = 0; i < msg->nrcpt; i++)
		mxctl_queue_print_rcpt(&msg->rcpts[i], "    ");
	putchar('\n');
	totals->bytes += msg->size;
	return 0;
}

static int mxctl_queue_failed(struct queue_store *qs)
{
	struct mxctl_queue_totals totals = {0, 0, false, 0};
	const char *error;

	if (qs != NULL && queue_failed_list(qs, mxctl_queue_failed_one, &totals, &error) < 0) {
		fprintf(stderr, "mxctl: queue failed: %s\n", error);
		return 1;
	}
	if (totals.messages == 0)
		printf("No failed messages\n");
	else
		printf("-- %" PRId64 " bytes in %" PRId64
		       " failed message%s (mxctl queue show|resend|purge ID).\n",
		       totals.bytes, totals.messages, totals.messages == 1 ? "" : "s");
	return 0;
}

/* mxctl queue resend ID [--to ADDRESS] */
static int mxctl_queue_resend(struct queue_store *qs, int argc, char **argv)
{
	char to[ADDR_MAX + 1];
	const char *error = NULL;
	bool have_to = false;

	if (argc == 3) {
		if (strcmp(argv[1], "--to") != 0) {
			fprintf(stderr, "mxctl: queue resend: unknown option %s (want --to ADDRESS)\n",
			        argv[1]);
			return 2;
		}
		if (addr_normalize(argv[2], to, sizeof(to), &error) < 0) {
			fprintf(stderr, "mxctl: queue resend: --to: %s: %s\n", argv[2], error);
			return 2;
		}
		have_to = true;
	} else if (argc != 1) {
		fputs(queue_usage, stderr);
		return 2;
	}
	char *id = mxctl_queue_id(argv[0]);
	char new_id[QUEUE_ID_SIZE];
	int ret = qs == NULL ? 1 : queue_failed_resend(qs, id, have_to ? to : NULL, new_id, &error);
	if (ret == 1)
		fprintf(stderr, "mxctl: queue resend: no such failed message: %s (mxctl queue failed)\n",
		        argv[0]);
	else if (ret < 0)
		fprintf(stderr, "mxctl: queue resend: %s: %s\n", argv[0], error);
	else
		printf("%s: queued again as %s%s%s\n", id, new_id, have_to ? " to " : "", have_to ? to : "");
	free(id);
	return ret == 0 ? 0 : 1;
}

/* mxctl queue purge [ID...]: remove failed messages now (all of them without ids). */
static int mxctl_queue_purge(struct queue_store *qs, int argc, char **argv)
{
	const char *error = NULL;
	int64_t n = 0;
	int status = 0;

	if (argc == 0) {
		if (qs != NULL &&
		    queue_failed_purge(qs, INT64_MAX, "purged with mxctl queue purge", &n, &error) < 0) {
			fprintf(stderr, "mxctl: queue purge: %s\n", error);
			return 1;
		}
		printf("Purged: %" PRId64 " failed message%s\n", n, n == 1 ? "" : "s");
		return 0;
	}
	for (int i = 0; i < argc; i++) {
		char *id = mxctl_queue_id(argv[i]);
		struct queue_msg_info *info = NULL;
		int ret = qs == NULL ? 1 : queue_store_get(qs, id, &info, &error);
		if (ret == 0 && info->failed_at == 0)
			ret = 1; /* in the queue, not failed: mxctl queue delete */
		if (ret == 0)
			ret = queue_store_remove(qs, id, "purged with mxctl queue purge", &error);
		if (ret == 0) {
			n++;
		} else {
			if (ret == 1)
				fprintf(stderr, "mxctl: queue purge: no such failed message: %s\n", argv[i]);
			else
				fprintf(stderr, "mxctl: queue purge: %s: %s\n", argv[i], error);
			status = 1;
		}
		queue_msg_info_free(&info);
		free(id);
	}
	if (n > 0)
		printf("Purged: %" PRId64 " failed message%s\n", n, n == 1 ? "" : "s");
	return status;
}

int mxctl_cmd_queue(struct mxctl *ctl, int argc, char **argv)
{
	struct queue_store *qs;
	int status;

	if (argc < 2) {
		fputs(queue_usage, stderr);
		return 2;
	}
	const char *action = argv[1];
	if (strcmp(action, "help") == 0) {
		fputs(queue_usage, stdout);
		return 0;
	}
	bool is_quarantine = strcmp(action, "quarantine") == 0;
	bool is_list = strcmp(action, "list") == 0 || is_quarantine;
	bool is_flush = strcmp(action, "flush") == 0;
	bool is_show = strcmp(action, "show") == 0;
	bool is_change =
	    strcmp(action, "delete") == 0 || strcmp(action, "hold") == 0 || strcmp(action, "release") == 0;
	bool is_failed = strcmp(action, "failed") == 0;
	bool is_resend = strcmp(action, "resend") == 0;
	bool is_purge = strcmp(action, "purge") == 0;
	if ((is_list && argc != 2) || (is_flush && argc != 2) || (is_show && argc != 3) ||
	    (is_change && argc < 3) || (is_failed && argc != 2) || (is_resend && argc != 3 && argc != 5) ||
	    (!is_list && !is_show && !is_change && !is_flush && !is_failed && !is_resend && !is_purge)) {
		fputs(queue_usage, stderr);
		return 2;
	}
	if (mxctl_queue_open(ctl, action, &qs) < 0)
		return 1;
	if (is_flush && qs == NULL) {
		printf("The queue is empty.\n");
		return 0;
	}
	if (is_flush) {
		const char *error;
		status = queue_store_flush(qs, &error) < 0 ? 1 : 0;
		if (status != 0)
			fprintf(stderr, "mxctl: queue flush: %s\n", error);
		else
			printf("Deferred mail will be retried now.\n");
	} else if (is_list)
		status = mxctl_queue_list(qs, is_quarantine);
	else if (is_failed)
		status = mxctl_queue_failed(qs);
	else if (is_resend)
		status = mxctl_queue_resend(qs, argc - 2, argv + 2);
	else if (is_purge)
		status = mxctl_queue_purge(qs, argc - 2, argv + 2);
	else if (is_show)
		status = mxctl_queue_show(qs, argv[2]);
	else
		status = mxctl_queue_change(qs, action, argc - 2, argv + 2);
	queue_store_close(&qs);
	return status;
}
