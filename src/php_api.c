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
		else {
			if (Z_TYPE(EG(user_exception_handler)) != IS_UNDEF)
				zend_user_exception_handler();
			if (EG(exception) != NULL)
				zend_exception_error(EG(exception), E_ERROR);
		}
	}
	sapi_worker_end(w->slot);
	worker_done(c);
	RETURN_BOOL(!worker_stopping());
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
	add_assoc_long(return_value, "index", w != NULL ? w->slot - sb_slot(0) : 0);
	add_assoc_long(return_value, "pid", (zend_long)getpid());
	add_assoc_long(return_value, "requests", w != NULL ?
	    (zend_long)worker_served() : 0);
	add_assoc_double(return_value, "boot_time", w != NULL ?
	    (double)w->slot->started_us / 1000000.0 : 0.0);
}

static const zend_function_entry functions[] = {
	ZEND_FE(fastcgi_finish_request, arginfo_finish)
	ZEND_FE(apache_request_headers, arginfo_array)
	ZEND_FALIAS(getallheaders, apache_request_headers, arginfo_array)
	ZEND_FE(pfpm_worker_info, arginfo_array)
	ZEND_FE(pfpm_handle_request, arginfo_handle_request)
	ZEND_FE_END
};

const zend_function_entry *
php_api_functions(void)
{
	return functions;
}
