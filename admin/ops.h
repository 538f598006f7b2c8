/*
 * ops: the operations of the admin UI, shared by the pages (pages_*.c) and the JSON API (api.c), which
 * only turn requests into calls here and results into HTML or JSON. Each operation
 *   1. checks the actor's permission (superadmin, or domain admin of the domain concerned: a domain
 *      admin is refused a domain that is not its own with 403 whether or not that domain exists, and a
 *      queue message with no recipient in its domains is "no such message"),
 *   2. calls db/ (or the queue store), which validates and runs one transaction,
 *   3. writes one audit row (db/audit.h) and one mail.log line for every change that succeeded.
 * Nothing here reads the request or knows about HTML.
 *
 * Errors: -1 with *err filled: an HTTP status (400 bad input, 403 not allowed, 404 no such object, 409
 * already exists, 503 database busy or unavailable), the parameter at fault (API field names: "domain",
 * "address", "destinations", ...; "" when none) and a message (db/'s own, as mxctl prints it). On
 * success (0), err->warning may hold a warning to show (a protected alias removed by a superadmin).
 * struct admin_err is a struct rather than const char **error_r because callers need all three.
 *
 * Runs in mxadmin's request thread; a struct admin_ctx and everything it holds belong to that thread.
 */
#ifndef MXD_ADMIN_OPS_H
#define MXD_ADMIN_OPS_H

#include "db/admin.h"
#include "db/alias.h"
#include "db/alias_domain.h"
#include "db/audit.h"
#include "db/db.h"
#include "db/domain.h"
#include "db/route.h"
#include "mxd/check/check.h"
#include "db/route_hop.h"
#include "mxd/common/config.h"
#include "mxd/common/netaddr.h"
#include "mxd/queue/queue_store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;

#define ADMIN_QUEUE_LIST_MAX 500 /* messages a queue listing shows */

struct admin_ctx {
	const struct mxd_config *cfg;
	struct db *db;
	struct queue_store *qs; /* opened on first use, once queue_directory/queue.db exists */
};

/* Who acts: an administrator as read from the database for this request, and from where. */
struct admin_actor {
	struct db_admin admin;
	char client_addr[NETADDR_STR_MAX];
	bool via_api;
};

struct admin_err {
	int status; /* 0 on success */
	char field[32];
	char message[1100];
	char warning[400];
	int64_t retry_after; /* with 429: seconds until a new try may pass (Retry-After) */
};

/* Release what an actor holds (its domain list). */
void admin_actor_clear(struct admin_actor *actor);

/* Write an audit row and a mail.log line for a change the actor made (ops do this themselves; session.c
 * uses it for logins and logouts). domain and detail may be NULL. */
void admin_ops_audit(struct admin_ctx *ctx, const struct admin_actor *actor, const char *action,
                     const char *object, const char *domain, const char *detail);

/* Fill err; returns -1. */
int admin_err_set(struct admin_err *err, int status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Is the local part of address one of the protected ones (postmaster, abuse: RFC 5321, RFC 2142)? */
bool admin_ops_alias_protected(const char *address);

/* Split texts on commas, white space and line ends into at most max words: a malloc'd NULL-terminated
 * array (free() it) of pointers into *storage_r (free() it too). */
const char **admin_ops_split(const char *const *texts, size_t ntexts, size_t max, char **storage_r,
                             size_t *n_r);

/* Parse a flag as forms and JSON send it: 1/0, true/false, yes/no, on/off. 0 or -1. */
int admin_ops_parse_bool(const char *text, bool *value_r);

/* --- domains --- */

/* The domains the actor may see (all for superadmins), sorted; free() *list_r. */
int admin_op_domain_list(struct admin_ctx *ctx, const struct admin_actor *actor, struct db_domain **list_r,
                         size_t *n_r, struct admin_err *err);
int admin_op_domain_get(struct admin_ctx *ctx, const struct admin_actor *actor, const char *name,
                        struct db_domain *domain_r, struct admin_err *err);
/* Superadmins. alias_limit may be NULL or "" (no limit). */
int admin_op_domain_add(struct admin_ctx *ctx, const struct admin_actor *actor, const char *name,
                        const char *description, const char *alias_limit, struct admin_err *err);
/* description and alias_limit NULL keep; domain admins may change the description only. */
int admin_op_domain_update(struct admin_ctx *ctx, const struct admin_actor *actor, const char *name,
                           const char *description, const char *alias_limit, struct admin_err *err);
/* admin_op_domain_update() and the active flag (negative: keep; superadmins) together, all or
 * nothing: every field and permission is checked before anything is written, in one statement. */
int admin_op_domain_change(struct admin_ctx *ctx, const struct admin_actor *actor, const char *name,
                           const char *description, const char *alias_limit, int active,
                           struct admin_err *err);
/* Superadmins: the domain's hourly message limit (domains.hourly_message_limit, "0": none); only
 * checked when check_only (so a caller changing several fields can refuse before writing any). */
int admin_op_domain_set_hourly_limit(struct admin_ctx *ctx, const struct admin_actor *actor, const char *name,
                                     const char *limit, bool check_only, struct admin_err *err);
/* Superadmins: the domain's dmarc_from_rewrite, "yes", "no" or "default" (the setting's). */
int admin_op_domain_set_from_rewrite(struct admin_ctx *ctx, const struct admin_actor *actor, const char *name,
                                     const char *value, struct admin_err *err);
/* "yes", "no" or "default" for a db_domain's dmarc_from_rewrite. */
const char *admin_from_rewrite_str(int value);
/* Superadmins. */
int admin_op_domain_set_active(struct admin_ctx *ctx, const struct admin_actor *actor, const char *name,
                               bool active, struct admin_err *err);
int admin_op_domain_del(struct admin_ctx *ctx, const struct admin_actor *actor, const char *name,
                        struct admin_err *err);

/* Set a domain's report address (NULL or "": none): its admins and superadmins. */
int admin_op_domain_set_report(struct admin_ctx *ctx, const struct admin_actor *actor, const char *name,
                               const char *address, struct admin_err *err);

/* --- aliases --- */

/* The aliases of domain whose address or destinations contain query (NULL or "": all). */
int admin_op_alias_list(struct admin_ctx *ctx, const struct admin_actor *actor, const char *domain,
                        const char *query, struct db_alias **list_r, size_t *n_r, struct admin_err *err);
/* 0 found (db_alias_clear() it). */
int admin_op_alias_get(struct admin_ctx *ctx, const struct admin_actor *actor, const char *address,
                       struct db_alias *alias_r, struct admin_err *err);
/* Add address to domain: address is "local", "local@domain", or "@domain" / "@" / "*" for the
 * catch-all. dests are texts of destinations separated by commas, white space or line ends. */
int admin_op_alias_add(struct admin_ctx *ctx, const struct admin_actor *actor, const char *domain,
                       const char *address, const char *const *dests, size_t ndests, struct admin_err *err);
/* Replace the destinations of an existing alias. */
int admin_op_alias_update(struct admin_ctx *ctx, const struct admin_actor *actor, const char *address,
                          const char *const *dests, size_t ndests, struct admin_err *err);
/* The destinations (ndests 0: keep) and the active flag (negative: keep; as admin_op_alias_set_active)
 * of an existing alias together, all or nothing, in one transaction. */
int admin_op_alias_change(struct admin_ctx *ctx, const struct admin_actor *actor, const char *address,
                          const char *const *dests, size_t ndests, int active, struct admin_err *err);
/* Set the alias's fallback destination (NULL or "": none; db_alias_set_fallback). */
int admin_op_alias_set_fallback(struct admin_ctx *ctx, const struct admin_actor *actor, const char *address,
                                const char *fallback, struct admin_err *err);
/* Disabling or deleting a protected alias: superadmins only (with a warning). */
int admin_op_alias_set_active(struct admin_ctx *ctx, const struct admin_actor *actor, const char *address,
                              bool active, struct admin_err *err);
int admin_op_alias_del(struct admin_ctx *ctx, const struct admin_actor *actor, const char *address,
                       struct admin_err *err);

/* --- alias domains (changes: superadmins; domain admins see those that target their domains) --- */

int admin_op_aliasdomain_list(struct admin_ctx *ctx, const struct admin_actor *actor,
                              struct db_alias_domain **list_r, size_t *n_r, struct admin_err *err);
int admin_op_aliasdomain_add(struct admin_ctx *ctx, const struct admin_actor *actor, const char *alias_domain,
                             const char *target_domain, struct admin_err *err);
int admin_op_aliasdomain_set_active(struct admin_ctx *ctx, const struct admin_actor *actor,
                                    const char *alias_domain, bool active, struct admin_err *err);
int admin_op_aliasdomain_del(struct admin_ctx *ctx, const struct admin_actor *actor, const char *alias_domain,
                             struct admin_err *err);

/* --- routes (superadmins only; passwords are written, never read back) --- */

struct admin_route_input {
	const char *match, *nexthop;
	const char *weight, *priority;         /* text; NULL or "": default */
	const char *auth_user, *auth_password; /* NULL or "": none */
	const char *allow_plaintext_auth;      /* flag text; NULL: no */
	const char *allow_unverified_tls;      /* flag text; NULL: no */
	const char *tls_level, *description;   /* NULL: keep / default */
	const char *rate;                      /* "N/unit" cap; NULL or "": none */
};

int admin_op_route_list(struct admin_ctx *ctx, const struct admin_actor *actor, struct db_route **list_r,
                        size_t *n_r, struct admin_err *err);
int admin_op_route_add_hop(struct admin_ctx *ctx, const struct admin_actor *actor,
                           const struct admin_route_input *in, struct admin_err *err);
int admin_op_route_del_hop(struct admin_ctx *ctx, const struct admin_actor *actor, const char *match,
                           const char *nexthop, struct admin_err *err);
/* Superadmins: change one next hop's weight (NULL or "": keep) and rate cap (NULL: keep; "" or "none":
 * no cap) in place (db_route_set_hop). */
int admin_op_route_set_hop(struct admin_ctx *ctx, const struct admin_actor *actor, const char *match,
                           const char *nexthop, const char *weight, const char *rate, struct admin_err *err);
/* Superadmins: from date (YYYY-MM-DD, UTC) on the hop's weight is weight ("0": remove the step). */
int admin_op_route_schedule_hop(struct admin_ctx *ctx, const struct admin_actor *actor, const char *match,
                                const char *nexthop, const char *date, const char *weight,
                                struct admin_err *err);
int admin_op_route_del(struct admin_ctx *ctx, const struct admin_actor *actor, const char *match,
                       struct admin_err *err);

/* --- queue (ops_queue.c) --- */

struct admin_queue_rcpt {
	char *address, *orig_address, *last_reason; /* last_reason "" when none */
	enum queue_rcpt_state state;
	int attempts;
	int64_t next_attempt;
};

struct admin_queue_msg {
	char id[QUEUE_ID_SIZE];
	int64_t arrival, size;
	char *sender;
	char *client_addr, *helo;
	bool held;
	char *hold_reason;              /* a milter's quarantine reason, "" when none */
	int64_t failed_at;              /* kept as failed since (0: in the queue) */
	char *failed_reason;            /* "" when not failed */
	size_t nrcpt_total;             /* recipients in all */
	struct admin_queue_rcpt *rcpts; /* those the actor may see */
	size_t nrcpt;
	bool all_visible; /* every recipient is in the actor's domains: it may change the message */
};

struct admin_queue_list {
	struct admin_queue_msg *msgs; /* up to ADMIN_QUEUE_LIST_MAX */
	size_t n;
	int64_t total;            /* messages visible in all */
	int64_t oldest;           /* arrival of the oldest visible, 0 when none */
	int64_t rcpt_by_state[4]; /* visible recipients per enum queue_rcpt_state */
};

/* The messages waiting for delivery (failed ones are left out: admin_op_queue_failed lists them). */
int admin_op_queue_list(struct admin_ctx *ctx, const struct admin_actor *actor,
                        struct admin_queue_list *list_r, struct admin_err *err);
/* The failed messages kept for failed_retention (queue_failed.h), scoped as the queue. */
int admin_op_queue_failed(struct admin_ctx *ctx, const struct admin_actor *actor,
                          struct admin_queue_list *list_r, struct admin_err *err);
/* Queue failed message id again (to its failed recipients, or to `to` when not NULL or ""); new_id_r
 * gets the new queue id. Domain admins: only messages all of whose recipients are theirs. 404 not
 * failed or not visible, 400 bad address (field "to"). */
int admin_op_queue_resend(struct admin_ctx *ctx, const struct admin_actor *actor, const char *id,
                          const char *to, char new_id_r[QUEUE_ID_SIZE], struct admin_err *err);
/* The whole content of failed message id (the .eml download), appended to out. Domain admins: only
 * messages all of whose recipients are theirs (403 otherwise). */
int admin_op_queue_eml(struct admin_ctx *ctx, const struct admin_actor *actor, const char *id,
                       struct evbuffer *out, struct admin_err *err);
void admin_queue_list_free(struct admin_queue_list *list);
/* Keep only the messages a milter quarantined (hold_reason set); total becomes their number. */
void admin_queue_list_keep_quarantined(struct admin_queue_list *list);
/* One message with its header section appended to headers (the body is never shown). */
int admin_op_queue_get(struct admin_ctx *ctx, const struct admin_actor *actor, const char *id,
                       struct admin_queue_msg *msg_r, struct evbuffer *headers, struct admin_err *err);
void admin_queue_msg_clear(struct admin_queue_msg *msg);
/* action: "delete", "hold" or "release". Domain admins: only messages all of whose recipients are theirs. */
int admin_op_queue_change(struct admin_ctx *ctx, const struct admin_actor *actor, const char *id,
                          const char *action, struct admin_err *err);
/* Superadmins: retry every deferred recipient now. */
int admin_op_queue_flush(struct admin_ctx *ctx, const struct admin_actor *actor, struct admin_err *err);

/* --- delivery log (ops_log.c) --- */

#define ADMIN_LOG_MAX 2000 /* rows a search returns */

struct admin_log_entry {
	int64_t id, at;
	char *queue_id, *event, *sender, *address, *orig_address, *relay, *dsn, *reply; /* never NULL */
};

/* The delivery log rows of address (its address or orig_address, case-insensitive) or of message
 * queue_id (one of the two; the other NULL or ""), ordered by message and time. Domain admins get only
 * the rows whose orig_address or address is at one of their domains (or an alias domain of them).
 * free with admin_log_free(). */
int admin_op_log_search(struct admin_ctx *ctx, const struct admin_actor *actor, const char *address,
                        const char *queue_id, struct admin_log_entry **list_r, size_t *n_r,
                        struct admin_err *err);
void admin_log_free(struct admin_log_entry *list, size_t n);

/* Failing destinations since `since` (queue_store_log_failing), those of aliases the actor manages. */
struct admin_failing {
	char *alias, *destination, *reply; /* never NULL */
	int64_t deferred, bounced, last_at;
};
#define ADMIN_FAILING_MAX 50
int admin_op_log_failing(struct admin_ctx *ctx, const struct admin_actor *actor, int64_t since,
                         struct admin_failing **list_r, size_t *n_r, struct admin_err *err);
void admin_failing_free(struct admin_failing *list, size_t n);
/* Deliveries, deferrals and bounces (expiries included) logged since since, as the actor may see them. */
int admin_op_log_counts(struct admin_ctx *ctx, const struct admin_actor *actor, int64_t since,
                        int64_t *sent_r, int64_t *deferred_r, int64_t *bounced_r, struct admin_err *err);

/* Milter verdicts logged since since (recipient rows of milter-reject, milter-discard, milter-hold), as
 * the actor may see them: counts_r[0..2]. */
int admin_op_log_milter_counts(struct admin_ctx *ctx, const struct admin_actor *actor, int64_t since,
                               int64_t counts_r[3], struct admin_err *err);

/* --- administrators and the audit log (ops_admin.c) --- */

int admin_op_admin_list(struct admin_ctx *ctx, const struct admin_actor *actor, struct db_admin **list_r,
                        size_t *n_r, struct admin_err *err);
int admin_op_admin_add(struct admin_ctx *ctx, const struct admin_actor *actor, const char *name,
                       const char *password, bool superadmin, const char *const *domains, size_t n,
                       struct admin_err *err);
int admin_op_admin_del(struct admin_ctx *ctx, const struct admin_actor *actor, const char *name,
                       struct admin_err *err);
/* A superadmin sets anyone's password; anyone sets its own, given its current password. Every session of
 * name ends. */
int admin_op_admin_passwd(struct admin_ctx *ctx, const struct admin_actor *actor, const char *name,
                          const char *current_password, const char *password, struct admin_err *err);
int admin_op_admin_set_role(struct admin_ctx *ctx, const struct admin_actor *actor, const char *name,
                            bool superadmin, const char *const *domains, size_t n, struct admin_err *err);
/* Superadmins see every row, domain admins the rows about their domains. free() *list_r. */
int admin_op_audit_list(struct admin_ctx *ctx, const struct admin_actor *actor, const char *before_id,
                        struct db_audit_entry **list_r, size_t *n_r, struct admin_err *err);

/* The self-check (ops_check.c), superadmins only: it runs in a thread of its own, one at a time. */
struct admin_check_view {
	bool running;              /* a check is running: the report is the previous one's (or empty) */
	int64_t started, finished; /* unix times of the last start and the last end (0: never) */
	char domain[ADDR_DOMAIN_MAX + 1]; /* the domain checked ("": every hosted domain) */
	char error[300];                  /* why the last check could not run ("" when it ran) */
	struct check_report report;       /* the last check's findings (a copy: admin_check_view_free()) */
};
/* Start a check of domain (NULL or "": every hosted domain) unless one is running. 400 naming "domain". */
int admin_op_check_start(struct admin_ctx *ctx, const struct admin_actor *actor, const char *domain,
                         struct admin_err *err);
int admin_op_check_get(struct admin_ctx *ctx, const struct admin_actor *actor, struct admin_check_view *view,
                       struct admin_err *err);
void admin_check_view_free(struct admin_check_view *view);
/* At exit: wait for a running check. */
void admin_check_stop(void);

#endif
