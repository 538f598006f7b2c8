/*
 * pages: the server-rendered HTML of mxadmin, one pages_*.c per family (dashboard and login here, then
 * domains, aliases, routes, queue, admins). pages.c holds the route table and what every page shares:
 * it finds the handler, requires a live session (else: GET goes to /login, anything else gets 403),
 * refuses a POST whose csrf_token field does not match the session's (403) and hands the request on.
 * GET handlers only read; every change is a POST to an operation of ops.h, answered with 303 to the
 * page that shows the result (the outcome travels as the session's flash message) or, on failure,
 * with an error page carrying the operation's status.
 */
#ifndef MXD_ADMIN_PAGES_H
#define MXD_ADMIN_PAGES_H

#include "admin/http.h"
#include "admin/ops.h"

/* Handle a request for anything but /api/ and /static/. */
void pages_dispatch(struct http_request *req);

/* What the page families share. */
void page_begin(struct http_request *req, const char *title, const char *section);
void page_begin_warning(struct http_request *req, const char *title, const char *section,
                        const char *warning);
void page_end(struct http_request *req);
/* An error page for a failed operation (status from err), with a link back to back_url. */
void page_fail(struct http_request *req, const struct admin_err *err, const char *back_url);
/* After a successful change: flash message (and err->warning, when set), 303 to location. */
void page_done(struct http_request *req, const char *location, const struct admin_err *err, const char *fmt,
               ...) __attribute__((format(printf, 4, 5)));
/* A body parameter (NULL when absent or given twice). */
const char *page_param(const struct http_request *req, const char *name);
/* "/path?name=value" with value URL-encoded, into buf. */
const char *page_url(char *buf, size_t size, const char *path, const char *name, const char *value);

/* Handlers (pages_*.c). */
void page_dashboard(struct http_request *req);
/* pages_check.c: GET /check, POST /check, and the dashboard's section (superadmins). */
void page_check(struct http_request *req);
void page_check_run(struct http_request *req);
void page_check_dashboard(struct http_request *req);

void page_domains(struct http_request *req);
void page_domain_add(struct http_request *req);
void page_domain(struct http_request *req);
void page_domain_edit(struct http_request *req);
void page_domain_report(struct http_request *req);
void page_domain_enable(struct http_request *req);
void page_domain_disable(struct http_request *req);
void page_domain_delete_confirm(struct http_request *req);
void page_domain_delete(struct http_request *req);
void page_aliasdomains(struct http_request *req);
void page_aliasdomain_add(struct http_request *req);
void page_aliasdomain_enable(struct http_request *req);
void page_aliasdomain_disable(struct http_request *req);
void page_aliasdomain_delete_confirm(struct http_request *req);
void page_aliasdomain_delete(struct http_request *req);

void page_aliases(struct http_request *req);
void page_alias_add(struct http_request *req);
void page_alias(struct http_request *req);
void page_alias_edit(struct http_request *req);
void page_alias_fallback(struct http_request *req);
void page_alias_enable(struct http_request *req);
void page_alias_disable(struct http_request *req);
void page_alias_delete_confirm(struct http_request *req);
void page_alias_delete(struct http_request *req);

void page_routes(struct http_request *req);
void page_route_add(struct http_request *req);
void page_route_set_hop(struct http_request *req);
void page_route_del_hop(struct http_request *req);
void page_route_delete(struct http_request *req);

void page_log(struct http_request *req);
void page_queue(struct http_request *req);
void page_queue_show(struct http_request *req);
void page_queue_delete(struct http_request *req);
void page_queue_hold(struct http_request *req);
void page_queue_release(struct http_request *req);
void page_queue_flush(struct http_request *req);
void page_queue_failed(struct http_request *req);
void page_queue_resend(struct http_request *req);

void page_admins(struct http_request *req);
void page_admin_add(struct http_request *req);
void page_admin_delete(struct http_request *req);
void page_admin_passwd(struct http_request *req);
void page_admin_role(struct http_request *req);
void page_account(struct http_request *req);
void page_account_password(struct http_request *req);
void page_audit(struct http_request *req);

#endif
