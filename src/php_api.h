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
bool php_call_worker(zend_fcall_info *, zend_fcall_info_cache *, uint32_t,
    zval *, bool);
char *php_take_exception(size_t);
/* php_task.c: pfpm_task_deliver(), pfpm_task_wait(). */
const zend_function_entry *php_task_functions(void);
void task_client_sync(void);
/* timer.c: pfpm_timer_tick(), pfpm_timer_clear(), pfpm_timer_run(). */
const zend_function_entry *php_timer_functions(void);

#endif
