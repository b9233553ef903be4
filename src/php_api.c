/*
 * The PHP functions pfpm's SAPI registers (DESIGN.md section 3):
 * fastcgi_finish_request(), apache_request_headers()/getallheaders() as
 * php-fpm, pfpm_handle_request() (worker mode), pfpm_worker_info(),
 * fpm_get_status() and pfpm_status().
 */
#include "pfpm.h"

#include <unistd.h>

#include <php.h>
#include <php_main.h>
#include <php_output.h>
#include <SAPI.h>
#include <ext/standard/head.h>
#include <zend_exceptions.h>

#include "php_api.h"


ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_finish, 0, 0, _IS_BOOL, 0)
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_array, 0, 0, IS_ARRAY, 0)
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_MASK_EX(arginfo_status, 0, 0, MAY_BE_ARRAY | MAY_BE_FALSE)
ZEND_END_ARG_INFO()

/* Send the response now; the script goes on without a client. */
static PHP_FUNCTION(fastcgi_finish_request)
{
	struct fcgi_conn *c = sapi_current();

	ZEND_PARSE_PARAMETERS_NONE();
	if (c == NULL || fcgi_request_ended(c))
		RETURN_FALSE;
	task_client_sync();	/* the client's answer means its tasks are stored */
	php_output_end_all();
	php_header();
	fcgi_end_request(c, 0);
	/* As php-fpm: request_terminate_timeout stops here (unless _track_finished). */
	if (worker_context() != NULL)
		worker_context()->slot->state = SB_FINISHING;
	/* Like php-fpm: a connection that is not kept is closed now. */
	if (!fcgi_wants_keep(c))
		fcgi_linger_close(c);
	RETURN_TRUE;
}

/* HTTP_FOO_BAR params as "Foo-Bar" headers. */
static PHP_FUNCTION(apache_request_headers)
{
	struct fcgi_conn *c = sapi_current();
	const char *name, *value;
	size_t nlen, vlen, i, n;

	ZEND_PARSE_PARAMETERS_NONE();
	array_init(return_value);
	if (c == NULL)
		return;
	n = fcgi_param_count(c);
	for (i = 0; i < n; i++) {
		fcgi_param_at(c, i, &name, &nlen, &value, &vlen);
		sapi_add_request_header(name, (unsigned int)nlen, (char *)value,
		    (unsigned int)vlen, return_value);
	}
}

/*
 * An exception the handler did not catch: the user's exception handler if
 * one is set (an exception it throws is reported, not dropped as
 * zend_user_exception_handler() would), else "Uncaught ..." and 500.
 */
static void
uncaught_exception(void)
{
	zend_object *ex = EG(exception);
	zval handler, param, rv;

	if (Z_TYPE(EG(user_exception_handler)) != IS_UNDEF) {
		EG(exception) = NULL;
		ZVAL_OBJ(&param, ex);
		ZVAL_COPY(&handler, &EG(user_exception_handler));
		if (call_user_function(NULL, NULL, &handler, &rv, 1, &param) ==
		    SUCCESS) {
			zval_ptr_dtor(&rv);
			OBJ_RELEASE(ex);
		} else if (EG(exception) == NULL)
			EG(exception) = ex;
		else
			OBJ_RELEASE(ex);
		zval_ptr_dtor(&handler);
	}
	if (EG(exception) == NULL)
		return;
	if (zend_is_unwind_exit(EG(exception)))
		zend_clear_exception();
	else
		zend_exception_error(EG(exception), E_ERROR);
}

/*
 * Call a callable from worker-mode C code (the request handler, a task, a
 * timer job), with max_execution_time running if `timeout`; fcc may be
 * NULL (the callable is then resolved now).  True if it bailed out (a fatal
 * error, or memory exhausted, which arrives as an exit with an unclean
 * shutdown): the engine is then not safe to reuse and the process must be
 * replaced.  An exception it threw stays in EG(exception).
 */
bool
php_call_worker(zend_fcall_info *fci, zend_fcall_info_cache *fcc,
    uint32_t argc, zval *argv, bool timeout)
{
	zval rv;
	volatile bool bailed = false;	/* set after the longjmp */

	ZVAL_UNDEF(&rv);
	fci->retval = &rv;
	fci->param_count = argc;
	fci->params = argv;
	fci->named_params = NULL;
	if (timeout)
		zend_set_timeout(INI_INT("max_execution_time"), 0);
	zend_try {
		if (zend_call_function(fci, fcc) == SUCCESS)
			zval_ptr_dtor(&rv);
	} zend_catch {
		bailed = true;
	} zend_end_try();
	if (timeout)
		zend_unset_timeout();
	return bailed || (EG(exception) != NULL &&
	    zend_is_unwind_exit(EG(exception)) && CG(unclean_shutdown));
}

/*
 * After php_call_worker(): NULL if the call returned or exit()ed, else
 * "Class: message" of the exception it threw (the message cut at `max`),
 * which is cleared.
 */
char *
php_take_exception(size_t max)
{
	zend_object *ex = EG(exception);
	zend_string *msg;
	zval rv;
	char *text;

	if (ex == NULL)
		return NULL;
	if (zend_is_unwind_exit(ex) || zend_is_graceful_exit(ex)) {
		zend_clear_exception();
		return NULL;
	}
	GC_ADDREF(ex);
	zend_clear_exception();
	msg = zval_get_string(zend_read_property_ex(ex->ce, ex,
	    ZSTR_KNOWN(ZEND_STR_MESSAGE), 1, &rv));
	if (EG(exception) != NULL)
		zend_clear_exception();
	xasprintf(&text, "%s: %.*s", ZSTR_VAL(ex->ce->name),
	    (int)(ZSTR_LEN(msg) > max ? max : ZSTR_LEN(msg)), ZSTR_VAL(msg));
	zend_string_release(msg);
	OBJ_RELEASE(ex);
	return text;
}

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_handle_request, 0, 1, _IS_BOOL, 0)
	ZEND_ARG_TYPE_INFO(0, handler, IS_CALLABLE, 0)
ZEND_END_ARG_INFO()

/*
 * Worker mode: wait for the next request, reset the engine's per-request
 * state, call the handler, send the response.  False when the process must
 * stop (QUIT, reload, pm.max_requests, worker.max_memory).
 */
static PHP_FUNCTION(pfpm_handle_request)
{
	zend_fcall_info fci;
	zend_fcall_info_cache fcc;
	const struct worker_ctx *w = worker_context();
	struct fcgi_conn *c;

	ZEND_PARSE_PARAMETERS_START(1, 1)
		Z_PARAM_FUNC(fci, fcc)
	ZEND_PARSE_PARAMETERS_END();
	if (!sapi_worker_mode() || sapi_current() != NULL) {
		zend_throw_error(NULL, "pfpm_handle_request() can only be called by a worker script, outside a request");
		RETURN_THROWS();
	}
	if (w->role != ROLE_REQUEST) {
		zend_throw_error(NULL, "pfpm_handle_request() called in a %s process (see pfpm_worker_info()['role'])",
		    role_name(w->role));
		RETURN_THROWS();
	}
	sapi_worker_booted();
	if (worker_stopping())
		RETURN_FALSE;
	zend_unset_timeout();
	if ((c = worker_next()) == NULL)
		RETURN_FALSE;
	if (sapi_worker_begin(c, w->slot) == -1) {
		log_error("cannot set up the request; replacing this process");
		sapi_worker_fatal();
		zend_bailout();
	}
	if (php_call_worker(&fci, &fcc, 0, NULL, true)) {
		/* The boot request's shutdown answers this request. */
		sapi_worker_fatal();
		zend_clear_exception();
		zend_bailout();
	}
	if (EG(exception) != NULL) {
		if (zend_is_unwind_exit(EG(exception)) ||
		    zend_is_graceful_exit(EG(exception)))
			zend_clear_exception();	/* exit()/die(): the request ends */
		else
			uncaught_exception();
	}
	sapi_worker_end(w->slot);
	worker_done(c);
	RETURN_BOOL(!worker_stopping());
}

/* This process's position among its pool's live processes. */
static zend_long
index_in_pool(const struct worker_ctx *w)
{
	zend_long n = 0;
	size_t i;

	for (i = 0; i < sb_nslots() && sb_slot(i) != w->slot; i++)
		if (sb_slot(i)->state != SB_FREE && sb_slot(i)->pool == w->pool_index &&
		    sb_slot(i)->role == ROLE_REQUEST)
			n++;
	return n;
}

static PHP_FUNCTION(pfpm_worker_info)
{
	const struct worker_ctx *w = worker_context();

	ZEND_PARSE_PARAMETERS_NONE();
	array_init(return_value);
	add_assoc_string(return_value, "pool", w != NULL ?
	    w->pool->name : (char *)"");
	add_assoc_string(return_value, "role", (char *)role_name(w != NULL ?
	    w->role : ROLE_REQUEST));
	/* The process name: a custom process's section name, else the role. */
	add_assoc_string(return_value, "name", w != NULL && w->process != NULL ?
	    w->process->name : (char *)role_name(w != NULL ? w->role : ROLE_REQUEST));
	if (w != NULL && w->process != NULL)
		add_assoc_string(return_value, "class", w->process->class_name);
	add_assoc_string(return_value, "mode", w != NULL && w->pool->worker != NULL ?
	    "worker" : "classic");
	if (w != NULL && w->pool->app_root != NULL)
		add_assoc_string(return_value, "app_root", w->pool->app_root);
	add_assoc_long(return_value, "index", w == NULL ? 0 :
	    w->role == ROLE_REQUEST ? index_in_pool(w) : w->role_index);
	add_assoc_long(return_value, "task_workers", w != NULL ?
	    w->pool->task_workers : 0);
	add_assoc_long(return_value, "pid", (zend_long)getpid());
	add_assoc_long(return_value, "requests", w != NULL ?
	    (zend_long)worker_served() : 0);
	add_assoc_double(return_value, "boot_time", w != NULL ?
	    (double)w->slot->started_us / 1000000.0 : 0.0);
}

/*
 * The pool's scoreboard with php-fpm's keys, from the snapshot the status
 * page uses (status.c).  pfpm_status() adds pfpm's own fields.
 */
static bool
status_array(zval *rv, bool extra)
{
	const struct worker_ctx *w = worker_context();
	struct status st;
	zval procs, rec;
	size_t i;
	int r;

	if (w == NULL || status_collect(w->pool_index, w->pool, w->listen_fd,
	    &st) == -1)
		return false;
	array_init(&procs);
	for (i = 0; i < st.nprocs; i++) {
		const struct status_proc *p = &st.procs[i];
		zval a;

		array_init(&a);
		add_assoc_long(&a, "pid", p->pid);
		add_assoc_string(&a, "state", (char *)status_state_name(p->state));
		add_assoc_long(&a, "start-time", (zend_long)p->start_time);
		add_assoc_long(&a, "start-since", (zend_long)p->start_since);
		add_assoc_long(&a, "requests", (zend_long)p->requests);
		add_assoc_long(&a, "request-duration", (zend_long)p->duration_us);
		add_assoc_string(&a, "request-method", (char *)(p->method[0] != '\0' ?
		    p->method : "-"));
		add_assoc_string(&a, "request-uri", (char *)p->uri);
		add_assoc_string(&a, "query-string", (char *)p->query);
		add_assoc_long(&a, "request-length", (zend_long)p->content_length);
		add_assoc_string(&a, "user", (char *)(p->user[0] != '\0' ?
		    p->user : "-"));
		add_assoc_string(&a, "script", (char *)(p->script[0] != '\0' ?
		    p->script : "-"));
		add_assoc_double(&a, "last-request-cpu", p->cpu);
		add_assoc_long(&a, "last-request-memory", (zend_long)p->last_memory);
		if (extra)
			add_assoc_long(&a, "memory", (zend_long)p->memory);
		add_next_index_zval(&procs, &a);
	}
	array_init(rv);
	add_assoc_string(rv, "pool", st.pool);
	add_assoc_string(rv, "process-manager", (char *)st.pm);
	add_assoc_long(rv, "start-time", (zend_long)st.start_time);
	add_assoc_long(rv, "start-since", (zend_long)st.start_since);
	add_assoc_long(rv, "accepted-conn", (zend_long)st.accepted);
	add_assoc_long(rv, "listen-queue", (zend_long)st.listen_queue);
	add_assoc_long(rv, "max-listen-queue", (zend_long)st.max_listen_queue);
	add_assoc_long(rv, "listen-queue-len", (zend_long)st.listen_queue_len);
	add_assoc_long(rv, "idle-processes", (zend_long)st.idle);
	add_assoc_long(rv, "active-processes", (zend_long)st.active);
	add_assoc_long(rv, "total-processes", (zend_long)(st.idle + st.active));
	add_assoc_long(rv, "max-active-processes", (zend_long)st.max_active);
	add_assoc_long(rv, "max-children-reached",
	    (zend_long)st.max_children_reached);
	add_assoc_long(rv, "slow-requests", (zend_long)st.slow_requests);
	if (extra) {
		add_assoc_string(rv, "mode", (char *)st.mode);
		add_assoc_long(rv, "boots", (zend_long)st.boots);
		add_assoc_bool(rv, "failing", st.failing);
		array_init(&rec);
		for (r = SB_RECYCLE_NONE + 1; r < SB_RECYCLE_N; r++)
			add_assoc_long(&rec, status_recycle_name(r),
			    (zend_long)st.recycles[r]);
		add_assoc_zval(rv, "recycles", &rec);
	}
	add_assoc_zval(rv, "procs", &procs);
	status_free(&st);
	return true;
}

/* fpm_get_status(): as php-fpm's. */
static PHP_FUNCTION(fpm_get_status)
{
	ZEND_PARSE_PARAMETERS_NONE();
	if (!status_array(return_value, false))
		RETURN_FALSE;
}

/* pfpm_status(): fpm_get_status() plus mode, boots, failing, recycles, memory. */
static PHP_FUNCTION(pfpm_status)
{
	ZEND_PARSE_PARAMETERS_NONE();
	if (!status_array(return_value, true))
		RETURN_FALSE;
}

static const zend_function_entry functions[] = {
	ZEND_FE(fastcgi_finish_request, arginfo_finish)
	ZEND_FE(apache_request_headers, arginfo_array)
	ZEND_FALIAS(getallheaders, apache_request_headers, arginfo_array)
	ZEND_FE(pfpm_worker_info, arginfo_array)
	ZEND_FE(fpm_get_status, arginfo_status)
	ZEND_FE(pfpm_status, arginfo_status)
	ZEND_FE(pfpm_handle_request, arginfo_handle_request)
	ZEND_FE_END
};

/* This file's functions, then php_task.c's and timer.c's, in one table. */
const zend_function_entry *
php_api_functions(void)
{
	static zend_function_entry *all;
	const zend_function_entry *parts[] = { functions, php_task_functions(),
	    php_timer_functions() };
	size_t i, n = 0, k;

	if (all != NULL)
		return all;
	for (i = 0; i < sizeof parts / sizeof parts[0]; i++)
		for (k = 0; parts[i][k].fname != NULL; k++)
			n++;
	all = xcalloc(n + 1, sizeof *all);
	n = 0;
	for (i = 0; i < sizeof parts / sizeof parts[0]; i++)
		for (k = 0; parts[i][k].fname != NULL; k++)
			all[n++] = parts[i][k];
	return all;
}
