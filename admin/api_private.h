/*
 * api_private: what the JSON API's files share: api.c (authentication, dispatch, tables, log, audit) and
 * api_queue.c (the queue and its failed messages). Answers are written into req (http.h); nothing else
 * includes it.
 */
#ifndef MXD_ADMIN_API_PRIVATE_H
#define MXD_ADMIN_API_PRIVATE_H

#include "admin/http.h"
#include "admin/ops.h"

/* Answer status with {"error": {"field": FIELD or null, "message": MESSAGE}}. */
void api_error(struct http_request *req, int status, const char *field, const char *message);
/* Answer err (an ops.h failure) as api_error does. */
void api_fail(struct http_request *req, const struct admin_err *err);
/* Start a JSON answer: '{' (the caller adds members and api_close()). */
void api_open(struct http_request *req, int status);
void api_close(struct http_request *req);
/* {"ok": true[, "warning": ...]} */
void api_ok(struct http_request *req, int status, const struct admin_err *err);
/* The request's parameter name (NULL when absent). */
const char *api_param(const struct http_request *req, const char *name);

/* api_queue.c: /api/v1/queue[/rest] (rest NULL: the queue itself). */
void api_queue(struct http_request *req, const char *rest);

#endif
