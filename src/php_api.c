/*
 * The PHP functions pfpm's SAPI registers (DESIGN.md section 3):
 * fastcgi_finish_request(), apache_request_headers()/getallheaders() as
 * php-fpm, and pfpm_worker_info().
 */
#include "pfpm.h"

#include <unistd.h>

#include <php.h>
#include <php_main.h>
#include <php_output.h>
#include <SAPI.h>
#include <ext/standard/head.h>

#include "php_api.h"

static struct {
	const char *pool;
	const char *role;
	int index;
	uint64_t boot_us;
	uint64_t requests;
} info;

void
php_api_set_worker(const char *pool, const char *role, int index,
    uint64_t boot_us)
{
	info.pool = pool;
	info.role = role;
	info.index = index;
	info.boot_us = boot_us;
}

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

static PHP_FUNCTION(pfpm_worker_info)
{
	ZEND_PARSE_PARAMETERS_NONE();
	array_init(return_value);
	add_assoc_string(return_value, "pool", info.pool != NULL ?
	    (char *)info.pool : "");
	add_assoc_string(return_value, "role", info.role != NULL ?
	    (char *)info.role : "request");
	add_assoc_long(return_value, "index", info.index);
	add_assoc_long(return_value, "pid", (zend_long)getpid());
	add_assoc_double(return_value, "boot_time",
	    (double)info.boot_us / 1000000.0);
}

static const zend_function_entry functions[] = {
	ZEND_FE(fastcgi_finish_request, arginfo_finish)
	ZEND_FE(apache_request_headers, arginfo_array)
	ZEND_FALIAS(getallheaders, apache_request_headers, arginfo_array)
	ZEND_FE(pfpm_worker_info, arginfo_array)
	ZEND_FE_END
};

const zend_function_entry *
php_api_functions(void)
{
	return functions;
}
