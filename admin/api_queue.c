/* api_queue: the queue endpoints of the JSON API (api.c lists them): the messages waiting, the failed
 * ones kept for failed_retention, one message, hold/release/delete, flush, resend and the .eml
 * download of a failed message. Every operation is one of ops.h (ops_queue.c scopes them). */
#include "admin/api_private.h"

#include "admin/json.h"
#include "mxd/common/util.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void api_queue_rcpt_json(struct evbuffer *out, const void *item)
{
	const struct admin_queue_rcpt *r = item;
	bool first = true;

	evbuffer_add(out, "{", 1);
	json_kv_str(out, &first, "address", r->address);
	json_kv_str(out, &first, "orig_address", r->orig_address);
	json_kv_str(out, &first, "state", queue_rcpt_state_name(r->state));
	json_kv_int(out, &first, "attempts", r->attempts);
	json_kv_int(out, &first, "next_attempt", r->next_attempt);
	json_kv_str(out, &first, "last_reason", r->last_reason);
	evbuffer_add(out, "}", 1);
}

/* The members of a queue message's object (without its braces). */
static void api_queue_msg_members(struct evbuffer *out, bool *fp, const struct admin_queue_msg *m)
{
	bool first = *fp;

	json_kv_str(out, &first, "id", m->id);
	json_kv_int(out, &first, "arrival", m->arrival);
	json_kv_int(out, &first, "size", m->size);
	json_kv_str(out, &first, "sender", m->sender);
	json_kv_str(out, &first, "client_addr", m->client_addr);
	json_kv_str(out, &first, "helo", m->helo);
	json_kv_bool(out, &first, "held", m->held);
	json_kv_str(out, &first, "quarantine", m->hold_reason);
	if (m->failed_at > 0) {
		json_kv_int(out, &first, "failed_at", m->failed_at);
		json_kv_str(out, &first, "failed_reason", m->failed_reason);
	}
	json_kv_int(out, &first, "recipients_total", (int64_t)m->nrcpt_total);
	json_kv_list(out, &first, "recipients", m->rcpts, m->nrcpt, sizeof(*m->rcpts), api_queue_rcpt_json);
	*fp = first;
}

static void api_queue_msg_json(struct evbuffer *out, const void *item)
{
	bool first = true;

	evbuffer_add(out, "{", 1);
	api_queue_msg_members(out, &first, item);
	evbuffer_add(out, "}", 1);
}

/* POST /queue/{id}/resend {to}: {"ok": true, "id": NEW_ID} */
static void api_queue_resend(struct http_request *req, const char *id)
{
	struct admin_err err;
	char new_id[QUEUE_ID_SIZE];
	bool first = true;

	if (strcmp(req->method, "POST") != 0) {
		api_error(req, 405, NULL, "method not allowed: POST /api/v1/queue/ID/resend");
		return;
	}
	if (admin_op_queue_resend(req->ctx, &req->actor, id, api_param(req, "to"), new_id, &err) < 0) {
		api_fail(req, &err);
		return;
	}
	api_open(req, 200);
	json_kv_bool(req->out, &first, "ok", true);
	json_kv_str(req->out, &first, "id", new_id);
	api_close(req);
}

/* GET /queue/{id}/eml: the failed message as stored, message/rfc822, to save as ID.eml */
static void api_queue_eml(struct http_request *req, const char *id)
{
	struct admin_err err;
	struct evbuffer *content = xevbuffer_new();

	if (strcmp(req->method, "GET") != 0) {
		api_error(req, 405, NULL, "method not allowed: GET /api/v1/queue/ID/eml");
	} else if (admin_op_queue_eml(req->ctx, &req->actor, id, content, &err) < 0) {
		api_fail(req, &err);
	} else {
		char disposition[QUEUE_ID_SIZE + 48];
		snprintf(disposition, sizeof(disposition), "attachment; filename=\"%s.eml\"", id);
		req->status = 200;
		req->content_type = "message/rfc822";
		http_add_header(req, "Content-Disposition", disposition);
		evbuffer_add_buffer(req->out, content);
	}
	evbuffer_free(content);
}

void api_queue(struct http_request *req, const char *rest)
{
	struct admin_err err;

	if (rest != NULL && strcmp(rest, "flush") == 0) {
		if (strcmp(req->method, "POST") != 0)
			api_error(req, 405, NULL, "method not allowed: POST /api/v1/queue/flush");
		else if (admin_op_queue_flush(req->ctx, &req->actor, &err) < 0)
			api_fail(req, &err);
		else
			api_ok(req, 200, &err);
		return;
	}
	bool failed = rest != NULL && strcmp(rest, "failed") == 0;
	if (rest == NULL || failed) {
		struct admin_queue_list list;
		bool first = true;
		if (strcmp(req->method, "GET") != 0) {
			api_error(req, 405, NULL, "method not allowed");
			return;
		}
		if ((failed ? admin_op_queue_failed : admin_op_queue_list)(req->ctx, &req->actor, &list,
		                                                           &err) < 0) {
			api_fail(req, &err);
			return;
		}
		const char *q = http_query(req, "quarantine");
		if (q != NULL && strcmp(q, "1") == 0)
			admin_queue_list_keep_quarantined(&list);
		api_open(req, 200);
		json_kv_int(req->out, &first, "total", list.total);
		json_kv_int(req->out, &first, "oldest", list.oldest);
		json_kv_list(req->out, &first, "messages", list.msgs, list.n, sizeof(*list.msgs),
		             api_queue_msg_json);
		api_close(req);
		admin_queue_list_free(&list);
		return;
	}
	char id[QUEUE_ID_SIZE + 16];
	const char *slash = strchr(rest, '/');
	size_t len = slash != NULL ? (size_t)(slash - rest) : strlen(rest);
	snprintf(id, sizeof(id), "%.*s", (int)(len < sizeof(id) - 1 ? len : sizeof(id) - 1), rest);
	const char *action = slash != NULL ? slash + 1 : NULL;
	if (action != NULL && strcmp(action, "resend") == 0) {
		api_queue_resend(req, id);
		return;
	}
	if (action != NULL && strcmp(action, "eml") == 0) {
		api_queue_eml(req, id);
		return;
	}
	if (action != NULL) {
		if (strcmp(req->method, "POST") != 0 ||
		    (strcmp(action, "hold") != 0 && strcmp(action, "release") != 0)) {
			api_error(req, 404, NULL,
			          "no such endpoint: POST /api/v1/queue/ID/hold, /release or /resend, GET "
			          "/api/v1/queue/ID/eml");
			return;
		}
		if (admin_op_queue_change(req->ctx, &req->actor, id, action, &err) < 0)
			api_fail(req, &err);
		else
			api_ok(req, 200, &err);
		return;
	}
	if (strcmp(req->method, "DELETE") == 0) {
		if (admin_op_queue_change(req->ctx, &req->actor, id, "delete", &err) < 0)
			api_fail(req, &err);
		else
			api_ok(req, 200, &err);
		return;
	}
	struct admin_queue_msg m;
	struct evbuffer *headers = xevbuffer_new();
	if (admin_op_queue_get(req->ctx, &req->actor, id, &m, headers, &err) < 0) {
		evbuffer_free(headers);
		api_fail(req, &err);
		return;
	}
	bool first = true;
	api_open(req, 200);
	api_queue_msg_members(req->out, &first, &m);
	evbuffer_add(headers, "", 1);
	json_kv_str(req->out, &first, "headers", (const char *)evbuffer_pullup(headers, -1));
	api_close(req);
	evbuffer_free(headers);
	admin_queue_msg_clear(&m);
}
