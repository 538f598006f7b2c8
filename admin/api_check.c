/*
 * api_check: the self-check in the JSON API (superadmins; ops_check.c runs it in a thread):
 *   GET  /api/v1/check                  {"running", "started", "finished", "domain", "error", "worst",
 *                                        "counts": {"ok", "warn", "fail"}, "lines": [{"level", "check",
 *                                        "subject", "text"}]}: the last check (worst null before any)
 *   POST /api/v1/check {domain}         start a check (of one domain, or of all); 202 with the state above
 * The same lines as mxctl check prints; poll GET until "running" is false.
 */
#include "admin/api.h"

#include "admin/form.h"
#include "admin/json.h"
#include "admin/ops.h"

#include <event2/buffer.h>
#include <string.h>

static void line_json(struct evbuffer *out, const void *item)
{
	const struct check_line *l = item;
	bool first = true;
	evbuffer_add(out, "{", 1);
	json_kv_str(out, &first, "level", check_level_str(l->level));
	json_kv_str(out, &first, "check", l->check);
	json_kv_str(out, &first, "subject", l->subject);
	json_kv_str(out, &first, "text", l->text);
	evbuffer_add(out, "}", 1);
}

static void api_check_fail(struct http_request *req, const struct admin_err *err)
{
	req->status = err->status >= 400 ? err->status : 500;
	req->content_type = "application/json";
	evbuffer_drain(req->out, evbuffer_get_length(req->out));
	api_error_body(req->out, err->field, err->message);
}

void api_check(struct http_request *req)
{
	struct admin_check_view view;
	struct admin_err err;
	bool post = strcmp(req->method, "POST") == 0;
	if (post && admin_op_check_start(req->ctx, &req->actor, form_get(req->form, "domain"), &err) < 0) {
		api_check_fail(req, &err);
		return;
	}
	if (admin_op_check_get(req->ctx, &req->actor, &view, &err) < 0) {
		api_check_fail(req, &err);
		return;
	}
	size_t count[3] = {0, 0, 0};
	for (size_t i = 0; i < view.report.n; i++)
		count[view.report.lines[i].level]++;
	bool first = true, inner = true;
	req->status = post ? 202 : 200;
	req->content_type = "application/json";
	evbuffer_add(req->out, "{", 1);
	json_kv_bool(req->out, &first, "running", view.running);
	json_kv_int(req->out, &first, "started", view.started);
	json_kv_int(req->out, &first, "finished", view.finished);
	json_kv_str(req->out, &first, "domain", view.domain);
	json_kv_str(req->out, &first, "error", view.error);
	json_key(req->out, &first, "worst");
	if (view.finished == 0 || view.running || view.error[0] != '\0')
		evbuffer_add(req->out, "null", 4);
	else
		json_str(req->out, check_level_str(check_report_worst(&view.report)));
	json_key(req->out, &first, "counts");
	evbuffer_add(req->out, "{", 1);
	json_kv_int(req->out, &inner, "ok", (int64_t)count[CHECK_OK]);
	json_kv_int(req->out, &inner, "warn", (int64_t)count[CHECK_WARN]);
	json_kv_int(req->out, &inner, "fail", (int64_t)count[CHECK_FAIL]);
	evbuffer_add(req->out, "}", 1);
	json_kv_list(req->out, &first, "lines", view.report.lines, view.report.n, sizeof(*view.report.lines),
	             line_json);
	evbuffer_add(req->out, "}\n", 2);
	admin_check_view_free(&view);
}
