/*
 * ops_private: what ops.c, ops_queue.c and ops_admin.c share and the pages and API do not see.
 */
#ifndef MXD_ADMIN_OPS_PRIVATE_H
#define MXD_ADMIN_OPS_PRIVATE_H

#include "admin/ops.h"

/* Turn a db/ error message into err (status from its wording and the db's busy flag). Returns -1. */
int ops_db_error(struct admin_ctx *ctx, struct admin_err *err, const char *message);

/* Start an operation with no error and no warning. */
void ops_err_clear(struct admin_err *err);

/* 0 when the actor is a superadmin, else -1 with 403. */
int ops_superadmin(const struct admin_actor *actor, struct admin_err *err);

/* Normalize domain into out (400 naming field) and check the actor manages it (403). 0 or -1. */
int ops_domain_allowed(struct admin_ctx *ctx, const struct admin_actor *actor, const char *field,
                       const char *domain, char out[ADDR_DOMAIN_MAX + 1], struct admin_err *err);

/* Parse a number from min to max; the error names field (API) and label (message). 0 or -1. */
int ops_parse_u32(const char *field, const char *label, const char *text, uint32_t min, uint32_t max,
                  uint32_t *value_r, struct admin_err *err);

/* Open ctx->qs the first time, once queue_directory/queue.db exists (it stays NULL before). 0 or -1. */
int ops_queue_open(struct admin_ctx *ctx, struct admin_err *err);

#endif
