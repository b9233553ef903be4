/* PHP functions registered by pfpm's SAPI (php_api.c); PHP headers required. */
#ifndef PFPM_PHP_API_H
#define PFPM_PHP_API_H

const zend_function_entry *php_api_functions(void);
struct fcgi_conn *sapi_current(void);
bool sapi_worker_mode(void);
void sapi_worker_booted(void);
int sapi_worker_begin(struct fcgi_conn *, struct sb_slot *);
void sapi_worker_end(struct sb_slot *);
void sapi_worker_fatal(void);

#endif
