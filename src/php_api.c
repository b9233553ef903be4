/*
 * The PHP functions pfpm's SAPI registers (DESIGN.md section 3):
 * fastcgi_finish_request(), apache_request_headers()/getallheaders() as
 * php-fpm, pfpm_handle_request() (worker mode) and pfpm_worker_info().
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
	php_output_end_all();
	php_header();
	fcgi_end_request(c, 0);
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
	zval retval;
	bool bailed = false;

	ZEND_PARSE_PARAMETERS_START(1, 1)
		Z_PARAM_FUNC(fci, fcc)
	ZEND_PARSE_PARAMETERS_END();
	if (!sapi_worker_mode() || sapi_current() != NULL) {
		zend_throw_error(NULL, "pfpm_handle_request() can only be called by a worker script, outside a request");
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
	zend_set_timeout(INI_INT("max_execution_time"), 0);
	ZVAL_UNDEF(&retval);
	fci.retval = &retval;
	fci.param_count = 0;
	fci.params = NULL;
	zend_try {
		if (zend_call_function(&fci, &fcc) == SUCCESS)
			zval_ptr_dtor(&retval);
	} zend_catch {
		bailed = true;
	} zend_end_try();
	zend_unset_timeout();
	if (!bailed && EG(exception) != NULL &&
	    zend_is_unwind_exit(EG(exception)) && CG(unclean_shutdown))
		bailed = true;
	if (bailed) {
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
		if (sb_slot(i)->state != SB_FREE && sb_slot(i)->pool == w->pool_index)
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
	add_assoc_string(return_value, "role", "request");
	add_assoc_string(return_value, "mode", w != NULL && w->pool->worker != NULL ?
	    "worker" : "classic");
	if (w != NULL && w->pool->app_root != NULL)
		add_assoc_string(return_value, "app_root", w->pool->app_root);
	add_assoc_long(return_value, "index", w != NULL ? index_in_pool(w) : 0);
	add_assoc_long(return_value, "pid", (zend_long)getpid());
	add_assoc_long(return_value, "requests", w != NULL ?
	    (zend_long)worker_served() : 0);
	add_assoc_double(return_value, "boot_time", w != NULL ?
	    (double)w->slot->started_us / 1000000.0 : 0.0);
}

static const char *
state_name(int state)
{
	switch (state) {
	case SB_IDLE:
		return "Idle";
	case SB_READING:
		return "Reading headers";
	case SB_RUNNING:
		return "Running";
	case SB_FINISHING:
		return "Finishing";
	default:
		return "Starting";
	}
}

/* fpm_get_status(): the pool's scoreboard, with php-fpm's keys. */
static PHP_FUNCTION(fpm_get_status)
{
	static const char *const pm_names[] = { "static", "dynamic", "ondemand" };
	const struct worker_ctx *w = worker_context();
	const struct sb_pool *sp;
	uint64_t now = sb_wall_us(), mono = sb_now_us();
	zend_long idle = 0, active = 0;
	zval procs;
	size_t i;

	ZEND_PARSE_PARAMETERS_NONE();
	if (w == NULL || (sp = sb_pool((size_t)w->pool_index)) == NULL)
		RETURN_FALSE;
	array_init(&procs);
	for (i = 0; i < sb_nslots(); i++) {
		const struct sb_slot *s = sb_slot(i);
		zval p;

		if (s->state == SB_FREE || s->pool != w->pool_index)
			continue;
		if (s->state == SB_IDLE)
			idle++;
		else if (s->state != SB_STARTING)
			active++;
		array_init(&p);
		add_assoc_long(&p, "pid", s->pid);
		add_assoc_string(&p, "state", (char *)state_name(s->state));
		add_assoc_long(&p, "start-time", (zend_long)(s->started_us / 1000000));
		add_assoc_long(&p, "start-since",
		    (zend_long)((now - s->started_us) / 1000000));
		add_assoc_long(&p, "requests", (zend_long)s->requests);
		add_assoc_long(&p, "request-duration", s->req_start_us != 0 ?
		    (zend_long)(mono - s->req_start_us) :
		    (zend_long)s->last_duration_us);
		add_assoc_string(&p, "request-method", (char *)s->method);
		add_assoc_string(&p, "request-uri", (char *)s->uri);
		add_assoc_long(&p, "request-length", (zend_long)s->content_length);
		add_assoc_string(&p, "script", (char *)s->script);
		add_assoc_double(&p, "last-request-cpu", s->last_duration_us > 0 ?
		    100.0 * (double)s->last_cpu_us / (double)s->last_duration_us : 0.0);
		add_assoc_long(&p, "last-request-memory", (zend_long)s->last_memory);
		add_next_index_zval(&procs, &p);
	}
	array_init(return_value);
	add_assoc_string(return_value, "pool", w->pool->name);
	add_assoc_string(return_value, "process-manager",
	    (char *)pm_names[w->pool->pm]);
	add_assoc_long(return_value, "start-time",
	    (zend_long)(sp->start_time / 1000000));
	add_assoc_long(return_value, "start-since",
	    (zend_long)((now - sp->start_time) / 1000000));
	add_assoc_long(return_value, "accepted-conn", (zend_long)sp->accepted);
	add_assoc_long(return_value, "listen-queue", 0);
	add_assoc_long(return_value, "max-listen-queue",
	    (zend_long)sp->listen_queue_max);
	add_assoc_long(return_value, "listen-queue-len", 0);
	add_assoc_long(return_value, "idle-processes", idle);
	add_assoc_long(return_value, "active-processes", active);
	add_assoc_long(return_value, "total-processes", idle + active);
	add_assoc_long(return_value, "max-active-processes",
	    (zend_long)sp->max_active);
	add_assoc_long(return_value, "max-children-reached",
	    (zend_long)sp->max_children_reached);
	add_assoc_long(return_value, "slow-requests", (zend_long)sp->slow_requests);
	add_assoc_zval(return_value, "procs", &procs);
}

static const zend_function_entry functions[] = {
	ZEND_FE(fastcgi_finish_request, arginfo_finish)
	ZEND_FE(apache_request_headers, arginfo_array)
	ZEND_FALIAS(getallheaders, apache_request_headers, arginfo_array)
	ZEND_FE(pfpm_worker_info, arginfo_array)
	ZEND_FE(fpm_get_status, arginfo_status)
	ZEND_FE(pfpm_handle_request, arginfo_handle_request)
	ZEND_FE_END
};

const zend_function_entry *
php_api_functions(void)
{
	return functions;
}
