/* PHP functions registered by pfpm's SAPI (php_api.c); PHP headers required. */
#ifndef PFPM_PHP_API_H
#define PFPM_PHP_API_H

const zend_function_entry *php_api_functions(void);
struct fcgi_conn *sapi_current(void);
void php_api_set_worker(const char *, const char *, int, uint64_t);

#endif
