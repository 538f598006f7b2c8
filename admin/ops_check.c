/*
 * ops_check: the self-check (mxd/check/check.h) for the admin UI and API, superadmins only. mxadmin
 * serves every request from one thread, and a check waits on the DNS and on a port-25 connection, so the
 * check runs in a thread of its own: admin_op_check_start() starts one (unless one is running) and
 * admin_op_check_get() copies the state and the last report. One run at a time for the whole process;
 * admin_check_stop() waits for a running one before the configuration goes away at exit.
 */
#include "admin/ops_private.h"

#include "mxd/check/check.h"
#include "mxd/common/addr.h"
#include "mxd/common/log.h"
#include "mxd/common/util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static struct {
	pthread_mutex_t lock;
	pthread_t thread;
	bool joinable; /* a thread was started and not joined yet */
	bool running;
	int64_t started, finished;
	char domain[ADDR_DOMAIN_MAX + 1];
	char error[300];
	struct check_report report;
	const struct mxd_config *cfg;
} runner = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void *check_thread(void *arg)
{
	(void)arg;
	struct check_options opt = {.domain = runner.domain[0] != '\0' ? runner.domain : NULL};
	struct check_report report = {0};
	struct db *db = NULL;
	const char *error = NULL;
	int rc = db_open(runner.cfg->database, DB_OPEN_READONLY, &db, &error);
	if (rc == 0)
		rc = check_run(runner.cfg, db, &opt, &report, &error);
	db_close(&db);
	pthread_mutex_lock(&runner.lock);
	check_report_free(&runner.report);
	runner.report = report;
	str_copy(runner.error, sizeof(runner.error), rc < 0 ? error : "");
	runner.finished = time_now();
	runner.running = false;
	pthread_mutex_unlock(&runner.lock);
	return NULL;
}

int admin_op_check_start(struct admin_ctx *ctx, const struct admin_actor *actor, const char *domain,
                         struct admin_err *err)
{
	const char *why;
	ops_err_clear(err);
	if (ops_superadmin(actor, err) < 0)
		return -1;
	if (domain != NULL && domain[0] != '\0' && addr_domain_valid(domain, &why) < 0)
		return admin_err_set(err, 400, "domain", "domain '%s': %s", domain, why);
	pthread_mutex_lock(&runner.lock);
	if (runner.running) {
		pthread_mutex_unlock(&runner.lock);
		return 0; /* the running check answers this request too */
	}
	if (runner.joinable)
		pthread_join(runner.thread, NULL); /* finished: only its thread is left */
	runner.joinable = false;
	runner.cfg = ctx->cfg;
	str_copy(runner.domain, sizeof(runner.domain), domain != NULL ? domain : "");
	str_lower(runner.domain);
	runner.started = time_now();
	runner.running = true;
	int rc = pthread_create(&runner.thread, NULL, check_thread, NULL);
	runner.joinable = rc == 0;
	runner.running = rc == 0;
	pthread_mutex_unlock(&runner.lock);
	if (rc != 0)
		return admin_err_set(err, 503, "", "cannot start the check: %s", strerror(rc));
	log_info("mxadmin", "client=%s admin=%s self-check started%s%s", actor->client_addr,
	         actor->admin.name, runner.domain[0] != '\0' ? " for " : "", runner.domain);
	return 0;
}

int admin_op_check_get(struct admin_ctx *ctx, const struct admin_actor *actor, struct admin_check_view *view,
                       struct admin_err *err)
{
	(void)ctx;
	memset(view, 0, sizeof(*view));
	ops_err_clear(err);
	if (ops_superadmin(actor, err) < 0)
		return -1;
	pthread_mutex_lock(&runner.lock);
	view->running = runner.running;
	view->started = runner.started;
	view->finished = runner.finished;
	str_copy(view->domain, sizeof(view->domain), runner.domain);
	str_copy(view->error, sizeof(view->error), runner.error);
	if (!runner.running) {
		for (size_t i = 0; i < runner.report.n; i++) {
			const struct check_line *l = &runner.report.lines[i];
			check_report_add(&view->report, l->level, l->check, l->subject, "%s", l->text);
		}
	}
	pthread_mutex_unlock(&runner.lock);
	return 0;
}

void admin_check_view_free(struct admin_check_view *view)
{
	check_report_free(&view->report);
}

void admin_check_stop(void)
{
	pthread_mutex_lock(&runner.lock);
	bool join = runner.joinable;
	runner.joinable = false;
	pthread_mutex_unlock(&runner.lock);
	if (join)
		pthread_join(runner.thread, NULL);
	check_report_free(&runner.report);
}
