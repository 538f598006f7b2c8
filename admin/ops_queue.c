/*
 * ops_queue: the queue operations of ops.h. The store is opened (without its committer) the first time
 * it is needed, once queue_directory/queue.db exists: like mxctl, mxadmin never creates the queue.
 *
 * What a domain admin sees: a recipient is "in" a domain when the address it was accepted as (the
 * RCPT TO, before alias expansion) is at that domain or at an alias domain of it. A domain admin sees
 * the messages with at least one recipient in its domains, and of those only such recipients; it may
 * delete, hold or release a message only when every recipient is in its domains, since the message
 * belongs to all of them.
 */
#include "admin/ops.h"

#include "admin/ops_private.h"
#include "mxd/queue/queue_failed.h"
#include "mxd/queue/queue_log.h"
#include "mxd/common/util.h"

#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define QUEUE_HEADERS_MAX (64 * 1024) /* octets of a message's header section shown */

struct ops_visibility {
	const struct admin_actor *actor;
	struct db_alias_domain *ads; /* every alias domain, to map it to its target */
	size_t nads;
};

int ops_queue_open(struct admin_ctx *ctx, struct admin_err *err)
{
	const char *error;
	struct stat st;

	if (ctx->qs != NULL)
		return 0;
	char *path = xasprintf("%s/queue.db", ctx->cfg->queue_directory);
	int rc = stat(path, &st);
	int saved = errno;
	free(path);
	if (rc < 0 && saved == ENOENT)
		return 0; /* no queue yet: empty */
	if (rc < 0)
		return admin_err_set(err, 503, "", "queue_directory %s: %s", ctx->cfg->queue_directory,
		                     strerror(saved));
	if (queue_store_open(ctx->cfg->queue_directory, &ctx->qs, &error) < 0)
		return admin_err_set(err, 503, "", "queue: %s", error);
	return 0;
}

static int ops_visibility_init(struct admin_ctx *ctx, const struct admin_actor *actor,
                               struct ops_visibility *vis, struct admin_err *err)
{
	const char *error;

	vis->actor = actor;
	if (db_alias_domain_list(ctx->db, &vis->ads, &vis->nads, &error) < 0)
		return ops_db_error(ctx, err, error);
	return 0;
}

/* The hosted domain a recipient was accepted for, lower-cased into out ("" when it has no '@'). */
static const char *ops_rcpt_domain(const struct ops_visibility *vis, const struct queue_rcpt_info *r,
                                   char out[ADDR_DOMAIN_MAX + 1])
{
	const char *addr = r->orig_address != NULL && *r->orig_address != '\0' ? r->orig_address : r->address;
	const char *at = strrchr(addr, '@');

	str_copy(out, ADDR_DOMAIN_MAX + 1, at != NULL ? at + 1 : "");
	str_lower(out);
	for (size_t i = 0; i < vis->nads; i++) {
		if (strcmp(vis->ads[i].alias_domain, out) == 0) {
			str_copy(out, ADDR_DOMAIN_MAX + 1, vis->ads[i].target_domain);
			break;
		}
	}
	return out;
}

static bool ops_rcpt_visible(const struct ops_visibility *vis, const struct queue_rcpt_info *r)
{
	char domain[ADDR_DOMAIN_MAX + 1];

	if (vis->actor->admin.superadmin)
		return true;
	return db_admin_manages(&vis->actor->admin, ops_rcpt_domain(vis, r, domain));
}

/* Copy the visible part of info into msg; false (nothing copied) when no recipient is visible. */
static bool ops_queue_copy(const struct ops_visibility *vis, const struct queue_msg_info *info,
                           struct admin_queue_msg *msg)
{
	size_t visible = 0;

	for (size_t i = 0; i < info->nrcpt; i++)
		visible += ops_rcpt_visible(vis, &info->rcpts[i]);
	if (visible == 0)
		return false;
	memset(msg, 0, sizeof(*msg));
	str_copy(msg->id, sizeof(msg->id), info->id);
	msg->arrival = info->arrival;
	msg->size = info->size;
	msg->sender = xstrdup(info->sender);
	msg->client_addr = xstrdup(info->client_addr);
	msg->helo = xstrdup(info->helo);
	msg->held = info->held;
	msg->hold_reason = xstrdup(info->hold_reason != NULL ? info->hold_reason : "");
	msg->failed_at = info->failed_at;
	msg->failed_reason = xstrdup(info->failed_reason != NULL ? info->failed_reason : "");
	msg->nrcpt_total = info->nrcpt;
	msg->all_visible = visible == info->nrcpt;
	msg->rcpts = xcalloc(visible, sizeof(*msg->rcpts));
	for (size_t i = 0; i < info->nrcpt; i++) {
		const struct queue_rcpt_info *r = &info->rcpts[i];
		if (!ops_rcpt_visible(vis, r))
			continue;
		struct admin_queue_rcpt *c = &msg->rcpts[msg->nrcpt++];
		c->address = xstrdup(r->address);
		c->orig_address = xstrdup(r->orig_address != NULL ? r->orig_address : "");
		c->last_reason = xstrdup(r->last_reason != NULL ? r->last_reason : "");
		c->state = r->state;
		c->attempts = r->attempts;
		c->next_attempt = r->next_attempt;
	}
	return true;
}

void admin_queue_msg_clear(struct admin_queue_msg *msg)
{
	for (size_t i = 0; i < msg->nrcpt; i++) {
		free(msg->rcpts[i].address);
		free(msg->rcpts[i].orig_address);
		free(msg->rcpts[i].last_reason);
	}
	free(msg->rcpts);
	free(msg->failed_reason);
	free(msg->sender);
	free(msg->client_addr);
	free(msg->helo);
	free(msg->hold_reason);
	memset(msg, 0, sizeof(*msg));
}

void admin_queue_list_keep_quarantined(struct admin_queue_list *list)
{
	size_t k = 0;
	for (size_t i = 0; i < list->n; i++) {
		if (list->msgs[i].hold_reason[0] == '\0') {
			admin_queue_msg_clear(&list->msgs[i]);
			continue;
		}
		list->msgs[k++] = list->msgs[i];
	}
	list->n = k;
	list->total = (int64_t)k;
}

struct ops_queue_walk {
	const struct ops_visibility *vis;
	struct admin_queue_list *list;
	bool failed; /* list the failed messages (else those waiting) */
};

static int ops_queue_list_one(void *ctx, const struct queue_msg_info *info)
{
	struct ops_queue_walk *walk = ctx;
	struct admin_queue_list *list = walk->list;
	struct admin_queue_msg msg;

	if ((info->failed_at > 0) != walk->failed || !ops_queue_copy(walk->vis, info, &msg))
		return 0;
	list->total++;
	if (list->oldest == 0 || msg.arrival < list->oldest)
		list->oldest = msg.arrival;
	for (size_t i = 0; i < msg.nrcpt; i++) {
		if ((unsigned)msg.rcpts[i].state < MXD_ARRAY_SIZE(list->rcpt_by_state))
			list->rcpt_by_state[msg.rcpts[i].state]++;
	}
	if (list->n < ADMIN_QUEUE_LIST_MAX)
		list->msgs[list->n++] = msg;
	else
		admin_queue_msg_clear(&msg);
	return 0;
}

static int ops_queue_walk(struct admin_ctx *ctx, const struct admin_actor *actor, bool failed,
                          struct admin_queue_list *list_r, struct admin_err *err)
{
	struct ops_visibility vis;
	const char *error;

	memset(list_r, 0, sizeof(*list_r));
	if (ops_queue_open(ctx, err) < 0 || ops_visibility_init(ctx, actor, &vis, err) < 0)
		return -1;
	list_r->msgs = xcalloc(ADMIN_QUEUE_LIST_MAX, sizeof(*list_r->msgs));
	struct ops_queue_walk walk = {&vis, list_r, failed};
	int ret = 0;
	if (ctx->qs != NULL && queue_store_list(ctx->qs, ops_queue_list_one, &walk, &error) < 0) {
		admin_queue_list_free(list_r);
		ret = admin_err_set(err, 503, "", "queue: %s", error);
	}
	free(vis.ads);
	return ret;
}

int admin_op_queue_list(struct admin_ctx *ctx, const struct admin_actor *actor,
                        struct admin_queue_list *list_r, struct admin_err *err)
{
	return ops_queue_walk(ctx, actor, false, list_r, err);
}

int admin_op_queue_failed(struct admin_ctx *ctx, const struct admin_actor *actor,
                          struct admin_queue_list *list_r, struct admin_err *err)
{
	return ops_queue_walk(ctx, actor, true, list_r, err);
}

void admin_queue_list_free(struct admin_queue_list *list)
{
	for (size_t i = 0; i < list->n; i++)
		admin_queue_msg_clear(&list->msgs[i]);
	free(list->msgs);
	memset(list, 0, sizeof(*list));
}

/* Upper-case and check a queue id (16 hex digits as queue_store_new_id() makes them). */
static int ops_queue_id(const char *text, char id[QUEUE_ID_SIZE], struct admin_err *err)
{
	size_t len = text != NULL ? strlen(text) : 0;

	if (len == 0 || len >= QUEUE_ID_SIZE)
		return admin_err_set(err, 400, "id", "id '%s': not a queue id", text != NULL ? text : "");
	for (size_t i = 0; i < len; i++) {
		if (!isxdigit((unsigned char)text[i]))
			return admin_err_set(err, 400, "id", "id '%s': not a queue id", text);
		id[i] = (char)toupper((unsigned char)text[i]);
	}
	id[len] = '\0';
	return 0;
}

/* Load message id as the actor may see it (404 when it may not see it at all). *domain_r gets the
 * domain of its first visible recipient. */
static int ops_queue_load(struct admin_ctx *ctx, const struct admin_actor *actor, const char *text,
                          struct admin_queue_msg *msg_r, char domain_r[ADDR_DOMAIN_MAX + 1],
                          struct admin_err *err)
{
	struct ops_visibility vis = {0};
	struct queue_msg_info *info = NULL;
	char id[QUEUE_ID_SIZE];
	const char *error;
	int ret = -1;

	if (ops_queue_id(text, id, err) < 0 || ops_queue_open(ctx, err) < 0 ||
	    ops_visibility_init(ctx, actor, &vis, err) < 0)
		return -1;
	int rc = ctx->qs != NULL ? queue_store_get(ctx->qs, id, &info, &error) : 1;
	if (rc < 0) {
		admin_err_set(err, 503, "", "queue: %s", error);
	} else if (rc > 0 || !ops_queue_copy(&vis, info, msg_r)) {
		admin_err_set(err, 404, "id", "id '%s': no such message", id);
	} else {
		domain_r[0] = '\0';
		for (size_t i = 0; i < info->nrcpt && domain_r[0] == '\0'; i++) {
			if (ops_rcpt_visible(&vis, &info->rcpts[i]))
				ops_rcpt_domain(&vis, &info->rcpts[i], domain_r);
		}
		ret = 0;
	}
	queue_msg_info_free(&info);
	free(vis.ads);
	return ret;
}

int admin_op_queue_get(struct admin_ctx *ctx, const struct admin_actor *actor, const char *id,
                       struct admin_queue_msg *msg_r, struct evbuffer *headers, struct admin_err *err)
{
	char domain[ADDR_DOMAIN_MAX + 1];
	const char *error;

	if (ops_queue_load(ctx, actor, id, msg_r, domain, err) < 0)
		return -1;
	struct evbuffer *content = xevbuffer_new();
	int rc = queue_store_read_body(ctx->qs, msg_r->id, content, &error);
	if (rc != 0) {
		evbuffer_free(content);
		admin_queue_msg_clear(msg_r);
		return rc > 0 ? admin_err_set(err, 404, "id", "id '%s': no such message", id)
		              : admin_err_set(err, 503, "", "queue: %s", error);
	}
	/* The header section ends at the first empty line. */
	struct evbuffer_ptr end = evbuffer_search(content, "\r\n\r\n", 4, NULL);
	size_t len = end.pos >= 0 ? (size_t)end.pos + 2 : evbuffer_get_length(content);
	if (end.pos < 0) {
		end = evbuffer_search(content, "\n\n", 2, NULL);
		if (end.pos >= 0)
			len = (size_t)end.pos + 1;
	}
	if (len > QUEUE_HEADERS_MAX)
		len = QUEUE_HEADERS_MAX;
	evbuffer_remove_buffer(content, headers, len);
	evbuffer_free(content);
	return 0;
}

int admin_op_queue_change(struct admin_ctx *ctx, const struct admin_actor *actor, const char *id,
                          const char *action, struct admin_err *err)
{
	struct admin_queue_msg msg;
	char domain[ADDR_DOMAIN_MAX + 1], detail[DB_AUDIT_DETAIL_MAX + 1], audit[32];
	const char *error;
	int rc;

	ops_err_clear(err);
	bool del = strcmp(action, "delete") == 0, hold = strcmp(action, "hold") == 0;
	if (!del && !hold && strcmp(action, "release") != 0)
		return admin_err_set(err, 400, "action", "action '%s': expected delete, hold or release",
		                     action);
	if (ops_queue_load(ctx, actor, id, &msg, domain, err) < 0)
		return -1;
	if (!msg.all_visible) {
		admin_err_set(
		    err, 403, "id",
		    "id '%s': the message also has recipients outside your domains; ask a superadmin",
		    msg.id);
		admin_queue_msg_clear(&msg);
		return -1;
	}
	if (del) {
		char why[200];
		snprintf(why, sizeof(why), "deleted in mxadmin by %s", actor->admin.name);
		rc = queue_store_remove(ctx->qs, msg.id, why, &error);
	} else {
		rc = queue_store_set_hold(ctx->qs, msg.id, hold, &error);
	}
	if (rc != 0) {
		admin_err_set(err, rc > 0 ? 404 : 503, "id", "id '%s': %s", msg.id,
		              rc > 0 ? "no such message" : error);
		admin_queue_msg_clear(&msg);
		return -1;
	}
	snprintf(detail, sizeof(detail), "sender=<%s> recipients=%zu", msg.sender, msg.nrcpt_total);
	snprintf(audit, sizeof(audit), "queue.%s", action);
	admin_ops_audit(ctx, actor, audit, msg.id, domain, detail);
	admin_queue_msg_clear(&msg);
	return 0;
}

int admin_op_queue_flush(struct admin_ctx *ctx, const struct admin_actor *actor, struct admin_err *err)
{
	const char *error;

	ops_err_clear(err);
	if (ops_superadmin(actor, err) < 0 || ops_queue_open(ctx, err) < 0)
		return -1;
	if (ctx->qs != NULL && queue_store_flush(ctx->qs, &error) < 0)
		return admin_err_set(err, 503, "", "queue: %s", error);
	admin_ops_audit(ctx, actor, "queue.flush", "queue", NULL, NULL);
	return 0;
}

/* Load failed message id for a change by actor: visible, failed, and all its recipients the actor's. */
static int ops_queue_load_failed(struct admin_ctx *ctx, const struct admin_actor *actor, const char *id,
                                 struct admin_queue_msg *msg_r, char domain_r[ADDR_DOMAIN_MAX + 1],
                                 struct admin_err *err)
{
	if (ops_queue_load(ctx, actor, id, msg_r, domain_r, err) < 0)
		return -1;
	if (msg_r->failed_at == 0)
		admin_err_set(err, 404, "id", "id '%s': no such failed message (it is still in the queue)",
		              msg_r->id);
	else if (!msg_r->all_visible)
		admin_err_set(
		    err, 403, "id",
		    "id '%s': the message also has recipients outside your domains; ask a superadmin",
		    msg_r->id);
	else
		return 0;
	admin_queue_msg_clear(msg_r);
	return -1;
}

int admin_op_queue_resend(struct admin_ctx *ctx, const struct admin_actor *actor, const char *id,
                          const char *to, char new_id_r[QUEUE_ID_SIZE], struct admin_err *err)
{
	struct admin_queue_msg msg;
	char domain[ADDR_DOMAIN_MAX + 1], detail[DB_AUDIT_DETAIL_MAX + 1], addr[ADDR_MAX + 1];
	const char *error;

	ops_err_clear(err);
	bool have_to = to != NULL && to[0] != '\0';
	if (have_to && addr_normalize(to, addr, sizeof(addr), &error) < 0)
		return admin_err_set(err, 400, "to", "to '%s': %s", to, error);
	if (ops_queue_load_failed(ctx, actor, id, &msg, domain, err) < 0)
		return -1;
	int rc = queue_failed_resend(ctx->qs, msg.id, have_to ? addr : NULL, new_id_r, &error);
	if (rc != 0) {
		admin_err_set(err, rc > 0 ? 404 : 503, "id", "id '%s': %s", msg.id,
		              rc > 0 ? "no such failed message" : error);
		admin_queue_msg_clear(&msg);
		return -1;
	}
	snprintf(detail, sizeof(detail), "sender=<%s> new_id=%s%s%s", msg.sender, new_id_r,
	         have_to ? " to=" : "", have_to ? addr : "");
	admin_ops_audit(ctx, actor, "queue.resend", msg.id, domain, detail);
	admin_queue_msg_clear(&msg);
	return 0;
}

int admin_op_queue_eml(struct admin_ctx *ctx, const struct admin_actor *actor, const char *id,
                       struct evbuffer *out, struct admin_err *err)
{
	struct admin_queue_msg msg;
	char domain[ADDR_DOMAIN_MAX + 1];
	const char *error;

	ops_err_clear(err);
	if (ops_queue_load_failed(ctx, actor, id, &msg, domain, err) < 0)
		return -1;
	int rc = queue_store_read_body(ctx->qs, msg.id, out, &error);
	if (rc != 0)
		admin_err_set(err, rc > 0 ? 404 : 503, "id", "id '%s': %s", msg.id,
		              rc > 0 ? "no such message" : error);
	admin_queue_msg_clear(&msg);
	return rc == 0 ? 0 : -1;
}
