/*
 * Slow and stuck requests, seen from inside the worker (no ptrace, so it
 * works in containers without CAP_SYS_PTRACE).  A watcher thread reads the
 * running request's start time from the scoreboard slot; past
 * request_slowlog_timeout, or (worker mode) request_terminate_timeout, it
 * raises the engine's VM interrupt, the only engine state it touches.  At
 * its next safe point the PHP thread runs on_interrupt(): it writes the PHP
 * backtrace to the pool's slowlog (through the master, see log_slow()) or
 * throws an Error that ends the request with a 500 while the booted
 * application survives.  No signal is sent, so no system call of the
 * script is interrupted.
 */
#include "pfpm.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <php.h>
#include <zend_exceptions.h>

#include "php_api.h"

#define WATCH_INTERVAL_NS (50 * 1000 * 1000)
#define TRACE_MAX 4000		/* one atomic write into the log pipe */

static const struct worker_ctx *wctx;
static zend_atomic_bool *vm_interrupt;
static void (*prev_interrupt)(zend_execute_data *);
static atomic_int want_trace;
static atomic_int want_terminate;
static atomic_uint_fast64_t request_seen;	/* req_start_us the flags are for */

/* The PHP backtrace of the running request, php-fpm's slowlog format. */
static void
write_trace(void)
{
	const struct pool_conf *p = wctx->pool;
	char buf[TRACE_MAX];
	zend_execute_data *ex;
	const char *file = NULL;
	uint32_t line = 0;
	size_t len;
	int depth = 0, n;
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	len = strftime(buf, sizeof buf, "\n[%d-%b-%Y %H:%M:%S]", &tm);
	n = snprintf(buf + len, sizeof buf - len,
	    "  [pool %s] pid %d\nscript_filename = %s\n", p->name, (int)getpid(),
	    wctx->slot->script);
	len += n > 0 ? (size_t)n : 0;
	for (ex = EG(current_execute_data); ex != NULL && depth <
	    p->request_slowlog_trace_depth && len < sizeof buf - 1;
	    ex = ex->prev_execute_data) {
		const zend_function *f = ex->func;
		const char *name;

		if (f == NULL)
			continue;
		if (ZEND_USER_CODE(f->type)) {
			file = ZSTR_VAL(f->op_array.filename);
			line = ex->opline != NULL ? ex->opline->lineno : 0;
		}
		name = f->common.function_name != NULL ?
		    ZSTR_VAL(f->common.function_name) : "main";
		n = snprintf(buf + len, sizeof buf - len, "[0x%016lx] %s() %s:%u\n",
		    (unsigned long)(uintptr_t)ex, name, file != NULL ? file : "?",
		    line);
		if (n < 0)
			break;
		len += (size_t)n;
		depth++;
	}
	if (len > sizeof buf - 1)
		len = sizeof buf - 1;
	log_slow(buf, len);
}

static void
on_interrupt(zend_execute_data *execute_data)
{
	if (atomic_exchange(&want_trace, 0))
		write_trace();
	if (atomic_exchange(&want_terminate, 0) && EG(exception) == NULL)
		zend_throw_error(NULL,
		    "Request terminated: request_terminate_timeout (%lld s) reached",
		    (long long)(wctx->pool->request_terminate_timeout_ms / 1000));
	if (prev_interrupt != NULL)
		prev_interrupt(execute_data);
}

static void *
watch(void *arg)
{
	const struct pool_conf *p = wctx->pool;
	struct timespec ts = { 0, WATCH_INTERVAL_NS };
	uint64_t slow_us = (uint64_t)p->request_slowlog_timeout_ms * 1000;
	uint64_t term_us = p->worker != NULL ?
	    (uint64_t)p->request_terminate_timeout_ms * 1000 : 0;
	uint64_t traced = 0, terminated = 0;
	sigset_t all;

	(void)arg;
	/* Signals (SIGPROF of max_execution_time among them) are the PHP thread's. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		struct sb_slot *s = wctx->slot;
		uint64_t start, now, age;

		nanosleep(&ts, NULL);
		start = s->req_start_us;
		now = sb_now_us();
		if (s->state != SB_RUNNING || start == 0 || now < start)
			continue;
		age = now - start;
		if (slow_us > 0 && age >= slow_us && traced != start) {
			traced = start;
			sb_pool((size_t)wctx->pool_index)->slow_requests++;
			atomic_store(&request_seen, start);
			atomic_store(&want_trace, 1);
			zend_atomic_bool_store(vm_interrupt, true);
		}
		if (term_us > 0 && age >= term_us && terminated != start) {
			terminated = start;
			atomic_store(&request_seen, start);
			atomic_store(&want_terminate, 1);
			zend_atomic_bool_store(vm_interrupt, true);
		}
	}
	return NULL;
}

/* A new request starts: flags raised for an earlier one are dropped. */
void
slowlog_request_start(void)
{
	if (wctx == NULL || atomic_load(&request_seen) == wctx->slot->req_start_us)
		return;
	atomic_store(&want_trace, 0);
	atomic_store(&want_terminate, 0);
}

/* In the worker, after the engine is set up: start watching if configured. */
void
slowlog_worker_start(const struct worker_ctx *w)
{
	const struct pool_conf *p = w->pool;
	pthread_attr_t attr;
	pthread_t t;

	if (p->request_slowlog_timeout_ms <= 0 && (p->worker == NULL ||
	    p->request_terminate_timeout_ms <= 0))
		return;
	wctx = w;
	vm_interrupt = &EG(vm_interrupt);
	prev_interrupt = zend_interrupt_function;
	zend_interrupt_function = on_interrupt;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	if (pthread_create(&t, &attr, watch, NULL) != 0)
		log_syserr("cannot start the slowlog watcher");
	pthread_attr_destroy(&attr);
}
