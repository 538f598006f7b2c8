/*
 * api: the JSON API under /api/v1/ (README.md lists the endpoints). It authenticates with an API token
 * ("Authorization: Bearer TOKEN", made by "mxctl admin token NAME") or with the web session's cookie,
 * in which case every request but GET needs the session's CSRF token in an X-CSRF-Token header (GET
 * /api/v1/session returns it). Request bodies are JSON objects (or urlencoded forms); answers are JSON,
 * errors 4xx/5xx with {"error": {"field": "...", "message": "..."}}: field names the parameter at fault
 * (null when none is), message is what mxctl prints. Every operation is one of ops.h, as for the pages.
 */
#ifndef MXD_ADMIN_API_H
#define MXD_ADMIN_API_H

#include "admin/http.h"

/* Handle a request whose path starts with /api/v1. */
void api_dispatch(struct http_request *req);

/* Append the error object {"error": {"field": FIELD, "message": MESSAGE}} and a newline; field NULL or
 * "" is written as null. http.c uses it too, for what it refuses on an API path before api_dispatch. */
void api_error_body(struct evbuffer *out, const char *field, const char *message);

/* GET and POST /api/v1/check, the self-check (api_check.c); api_dispatch() has authenticated. */
void api_check(struct http_request *req);

#endif
