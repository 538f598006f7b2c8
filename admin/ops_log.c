/*
 * ops_log: the delivery log operations of ops.h, over mxd/queue/queue_log.h. A domain admin sees a row when
 * its orig_address (the RCPT TO) or its address (the final recipient) is at one of its domains, an alias
 * domain of one counting as that domain; superadmins see every row. Reading only: no audit rows.
 */
#include "admin/ops.h"

#include "admin/ops_private.h"
#include "mxd/queue/queue_log.h"
#include "mxd/common/util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define LOG_COUNT_SCAN_MAX 1000000 /* rows a domain admin's 24-hour figures look at */

struct ops_log_walk {
	const struct admin_actor *actor;
	struct db_alias_domain *ads;
	size_t nads;
	struct admin_log_entry *list;
	size_t n, alloc;
	int64_t sent, deferred, bounced;
	int64_t milter[3]; /* milter-reject, milter-discard, milter-hold */
};

static const char *const milter_events[3] = {"milter-reject", "milter-discard", "milter-hold"};

/* Does the actor manage the domain of address (through an alias domain too)? */
static bool ops_log_address_visible(const struct ops_log_walk *w, const char *address)
{
	char domain[ADDR_DOMAIN_MAX + 1];
	const char *at = strrchr(address, '@');

	if (at == NULL || at[1] == '\0')
		return false;
	str_copy(domain, sizeof(domain), at + 1);
	str_lower(domain);
	for (size_t i = 0; i < w->nads; i++) {
		if (strcmp(w->ads[i].alias_domain, domain) == 0) {
			str_copy(domain, sizeof(domain), w->ads[i].target_domain);
			break;
		}
	}
	return db_admin_manages(&w->actor->admin, domain);
}

static bool ops_log_visible(const struct ops_log_walk *w, const struct queue_log_event *ev)
{
	return w->actor->admin.superadmin || ops_log_address_visible(w, ev->orig_address) ||
	       ops_log_address_visible(w, ev->address);
}

static int ops_log_collect(void *ctx, const struct queue_log_event *ev)
{
	struct ops_log_walk *w = ctx;

	if (!ops_log_visible(w, ev))
		return 0;
	if (w->n == w->alloc) {
		w->alloc = w->alloc == 0 ? 32 : w->alloc * 2;
		w->list = xrealloc(w->list, w->alloc * sizeof(*w->list));
	}
	w->list[w->n++] = (struct admin_log_entry){
	    .id = ev->id,
	    .at = ev->at,
	    .queue_id = xstrdup(ev->queue_id),
	    .event = xstrdup(ev->event),
	    .sender = xstrdup(ev->sender),
	    .address = xstrdup(ev->address),
	    .orig_address = xstrdup(ev->orig_address),
	    .relay = xstrdup(ev->relay),
	    .dsn = xstrdup(ev->dsn),
	    .reply = xstrdup(ev->reply),
	};
	return w->n >= ADMIN_LOG_MAX;
}

static int ops_log_count(void *ctx, const struct queue_log_event *ev)
{
	struct ops_log_walk *w = ctx;

	if (!ops_log_visible(w, ev))
		return 0;
	if (strcmp(ev->event, "sent") == 0)
		w->sent++;
	else if (strcmp(ev->event, "deferred") == 0)
		w->deferred++;
	else if (strcmp(ev->event, "bounced") == 0 || strcmp(ev->event, "expired") == 0)
		w->bounced++;
	for (size_t i = 0; i < 3; i++)
		if (strcmp(ev->event, milter_events[i]) == 0)
			w->milter[i]++;
	return 0;
}

static int ops_log_begin(struct admin_ctx *ctx, const struct admin_actor *actor, struct ops_log_walk *w,
                         struct admin_err *err)
{
	const char *error;

	memset(w, 0, sizeof(*w));
	w->actor = actor;
	if (ops_queue_open(ctx, err) < 0)
		return -1;
	if (!actor->admin.superadmin && db_alias_domain_list(ctx->db, &w->ads, &w->nads, &error) < 0)
		return ops_db_error(ctx, err, error);
	return 0;
}

void admin_log_free(struct admin_log_entry *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(list[i].queue_id);
		free(list[i].event);
		free(list[i].sender);
		free(list[i].address);
		free(list[i].orig_address);
		free(list[i].relay);
		free(list[i].dsn);
		free(list[i].reply);
	}
	free(list);
}

int admin_op_log_search(struct admin_ctx *ctx, const struct admin_actor *actor, const char *address,
                        const char *queue_id, struct admin_log_entry **list_r, size_t *n_r,
                        struct admin_err *err)
{
	struct ops_log_walk w;
	char id[QUEUE_ID_SIZE];
	const char *error;

	ops_err_clear(err);
	*list_r = NULL;
	*n_r = 0;
	if (address != NULL && address[0] == '\0')
		address = NULL;
	if (queue_id != NULL && queue_id[0] == '\0')
		queue_id = NULL;
	if ((address == NULL) == (queue_id == NULL))
		return admin_err_set(err, 400, "address", "give an address or a queue id");
	if (address != NULL && (strlen(address) > ADDR_PATH_MAX || strchr(address, '@') == NULL))
		return admin_err_set(err, 400, "address", "address '%.300s': not an address", address);
	if (queue_id != NULL) {
		size_t len = strlen(queue_id);
		if (len >= QUEUE_ID_SIZE || strspn(queue_id, "0123456789abcdefABCDEF") != len)
			return admin_err_set(err, 400, "queue_id", "queue id '%.40s': not a queue id",
			                     queue_id);
		for (size_t i = 0; i <= len; i++)
			id[i] = (char)toupper((unsigned char)queue_id[i]);
		queue_id = id;
	}
	if (ops_log_begin(ctx, actor, &w, err) < 0)
		return -1;
	int ret = 0;
	if (ctx->qs != NULL && queue_store_log_search(ctx->qs, address, queue_id, 0, SIZE_MAX,
	                                              ops_log_collect, &w, &error) < 0) {
		admin_log_free(w.list, w.n);
		w.list = NULL;
		w.n = 0;
		ret = admin_err_set(err, 503, "", "delivery log: %s", error);
	}
	free(w.ads);
	*list_r = w.list;
	*n_r = w.n;
	return ret;
}

int admin_op_log_counts(struct admin_ctx *ctx, const struct admin_actor *actor, int64_t since,
                        int64_t *sent_r, int64_t *deferred_r, int64_t *bounced_r, struct admin_err *err)
{
	struct ops_log_walk w;
	const char *error;
	int rc = 0;

	ops_err_clear(err);
	*sent_r = *deferred_r = *bounced_r = 0;
	if (ops_log_begin(ctx, actor, &w, err) < 0)
		return -1;
	if (ctx->qs != NULL && actor->admin.superadmin)
		rc = queue_store_log_counts(ctx->qs, since, &w.sent, &w.deferred, &w.bounced, &error);
	else if (ctx->qs != NULL)
		rc = queue_store_log_search(ctx->qs, NULL, NULL, since, LOG_COUNT_SCAN_MAX, ops_log_count, &w,
		                            &error);
	free(w.ads);
	if (rc < 0)
		return admin_err_set(err, 503, "", "delivery log: %s", error);
	*sent_r = w.sent;
	*deferred_r = w.deferred;
	*bounced_r = w.bounced;
	return 0;
}

int admin_op_log_milter_counts(struct admin_ctx *ctx, const struct admin_actor *actor, int64_t since,
                               int64_t counts_r[3], struct admin_err *err)
{
	struct ops_log_walk w;
	const char *error;
	int rc = 0;

	ops_err_clear(err);
	counts_r[0] = counts_r[1] = counts_r[2] = 0;
	if (ops_log_begin(ctx, actor, &w, err) < 0)
		return -1;
	if (ctx->qs != NULL && actor->admin.superadmin) {
		for (size_t i = 0; i < 3 && rc == 0; i++)
			rc = queue_store_log_count_event(ctx->qs, milter_events[i], since, &w.milter[i],
			                                 &error);
	} else if (ctx->qs != NULL) {
		rc = queue_store_log_search(ctx->qs, NULL, NULL, since, LOG_COUNT_SCAN_MAX, ops_log_count, &w,
		                            &error);
	}
	free(w.ads);
	if (rc < 0)
		return admin_err_set(err, 503, "", "delivery log: %s", error);
	for (size_t i = 0; i < 3; i++)
		counts_r[i] = w.milter[i];
	return 0;
}

struct ops_failing_walk {
	struct ops_log_walk *w;
	struct admin_failing *list;
	size_t n;
};

static int ops_failing_collect(void *ctx, const struct queue_log_failing *f)
{
	struct ops_failing_walk *fw = ctx;
	if (!fw->w->actor->admin.superadmin && !ops_log_address_visible(fw->w, f->alias))
		return 0;
	fw->list[fw->n++] = (struct admin_failing){
	    .alias = xstrdup(f->alias),
	    .destination = xstrdup(f->destination),
	    .reply = xstrdup(f->reply),
	    .deferred = f->deferred,
	    .bounced = f->bounced,
	    .last_at = f->last_at,
	};
	return fw->n >= ADMIN_FAILING_MAX;
}

int admin_op_log_failing(struct admin_ctx *ctx, const struct admin_actor *actor, int64_t since,
                         struct admin_failing **list_r, size_t *n_r, struct admin_err *err)
{
	struct ops_log_walk w;
	const char *error;

	ops_err_clear(err);
	*list_r = NULL;
	*n_r = 0;
	if (ops_log_begin(ctx, actor, &w, err) < 0)
		return -1;
	struct ops_failing_walk fw = {&w, xcalloc(ADMIN_FAILING_MAX, sizeof(struct admin_failing)), 0};
	/* a domain admin's rows are among the others: look at more of them */
	size_t max = actor->admin.superadmin ? ADMIN_FAILING_MAX : LOG_COUNT_SCAN_MAX;
	int rc = ctx->qs != NULL
	             ? queue_store_log_failing(ctx->qs, since, max, ops_failing_collect, &fw, &error)
	             : 0;
	free(w.ads);
	if (rc < 0) {
		admin_failing_free(fw.list, fw.n);
		return admin_err_set(err, 503, "", "delivery log: %s", error);
	}
	*list_r = fw.list;
	*n_r = fw.n;
	return 0;
}

void admin_failing_free(struct admin_failing *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(list[i].alias);
		free(list[i].destination);
		free(list[i].reply);
	}
	free(list);
}
