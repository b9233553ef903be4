/*
 * Millisecond timers for the timer process (DESIGN.md section 5):
 * pfpm_timer_tick(), pfpm_timer_clear(), pfpm_timer_run().  Each timer
 * stays on its grid: the k-th run is due at start + k * ms on
 * CLOCK_MONOTONIC, so a slow callback skips the slots it missed instead of
 * drifting.  With timer.global_lock (a Redis task queue), callbacks run only
 * while this process holds the pool's lease, so one host of many runs them.
 */
#include "pfpm.h"

#include <sys/poll.h>
#include <sys/timerfd.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <php.h>
#include <zend_exceptions.h>

#include "php_api.h"

struct timer {
	zend_long id;
	uint64_t ms;
	uint64_t start_ns;	/* run k is due at start_ns + k * ms */
	uint64_t k;
	zval cb;		/* UNDEF once cleared */
};

static struct timer **timers;
static size_t ntimers, ctimers;
static zend_long next_id = 1;
static bool running;

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t
due_ns(const struct timer *t)
{
	return t->start_ns + t->k * t->ms * 1000000u;
}

static struct timer *
find(zend_long id)
{
	size_t i;

	for (i = 0; i < ntimers; i++)
		if (timers[i]->id == id && Z_TYPE(timers[i]->cb) != IS_UNDEF)
			return timers[i];
	return NULL;
}

/* Drop cleared timers (not while one is being called: it may be one). */
static void
compact(void)
{
	size_t i, n = 0;

	for (i = 0; i < ntimers; i++) {
		if (Z_TYPE(timers[i]->cb) == IS_UNDEF)
			free(timers[i]);
		else
			timers[n++] = timers[i];
	}
	ntimers = n;
}

static void
clear_all(void)
{
	size_t i;

	for (i = 0; i < ntimers; i++) {
		zval_ptr_dtor(&timers[i]->cb);
		ZVAL_UNDEF(&timers[i]->cb);
	}
	compact();
}

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_tick, 0, 2, IS_LONG, 0)
	ZEND_ARG_TYPE_INFO(0, ms, IS_LONG, 0)
	ZEND_ARG_TYPE_INFO(0, callback, IS_CALLABLE, 0)
	ZEND_ARG_TYPE_INFO_WITH_DEFAULT_VALUE(0, immediate, _IS_BOOL, 0, "false")
ZEND_END_ARG_INFO()

/* pfpm_timer_tick(int $ms, callable $cb, bool $immediate = false): int */
static PHP_FUNCTION(pfpm_timer_tick)
{
	zend_fcall_info fci;
	zend_fcall_info_cache fcc;
	zend_long ms;
	bool immediate = false;
	struct timer *t;

	ZEND_PARSE_PARAMETERS_START(2, 3)
		Z_PARAM_LONG(ms)
		Z_PARAM_FUNC(fci, fcc)
		Z_PARAM_OPTIONAL
		Z_PARAM_BOOL(immediate)
	ZEND_PARSE_PARAMETERS_END();
	if (ms < 1) {
		zend_argument_value_error(1, "must be greater than or equal to 1");
		RETURN_THROWS();
	}
	if (ms > 86400000LL * 366) {
		zend_argument_value_error(1, "must be at most a year (%lld ms)",
		    86400000LL * 366);
		RETURN_THROWS();
	}
	t = xcalloc(1, sizeof *t);
	t->id = next_id++;
	t->ms = (uint64_t)ms;
	t->start_ns = mono_ns();
	t->k = immediate ? 0 : 1;
	/* The callable is resolved again at each call (trampolines do not keep). */
	ZVAL_COPY(&t->cb, &fci.function_name);
	if (ntimers == ctimers) {
		ctimers = ctimers == 0 ? 8 : ctimers * 2;
		timers = xreallocarray(timers, ctimers, sizeof *timers);
	}
	timers[ntimers++] = t;
	RETURN_LONG(t->id);
}

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_clear, 0, 1, _IS_BOOL, 0)
	ZEND_ARG_TYPE_INFO(0, id, IS_LONG, 0)
ZEND_END_ARG_INFO()

/* pfpm_timer_clear(int $id): bool; a callback may clear itself. */
static PHP_FUNCTION(pfpm_timer_clear)
{
	zend_long id;
	struct timer *t;

	ZEND_PARSE_PARAMETERS_START(1, 1)
		Z_PARAM_LONG(id)
	ZEND_PARSE_PARAMETERS_END();
	if ((t = find(id)) == NULL)
		RETURN_FALSE;
	zval_ptr_dtor(&t->cb);
	ZVAL_UNDEF(&t->cb);
	if (!running)
		compact();
	RETURN_TRUE;
}

/* The lease of timer.global_lock, checked every lease/3. */
static struct {
	struct rlease *l;
	bool on;
	bool held;
	bool error_logged;
	uint64_t checked_ns;
	uint64_t every_ns;
} lock;

/* The lease pfpm:POOL:timer-lock, held as "host:pid". */
static struct rlease *
lease_open(const struct worker_ctx *w, char **cause)
{
	char host[256], *key, *owner;
	struct rlease *l;

	if (gethostname(host, sizeof host) == -1)
		strcpy(host, "localhost");
	host[sizeof host - 1] = '\0';
	xasprintf(&key, "pfpm:%s:timer-lock", w->pool->name);
	xasprintf(&owner, "%s:%d", host, (int)getpid());
	l = rlease_new(&w->pool->taskq, key, owner, w->pool->timer_lock_lease_ms,
	    cause);
	free(key);
	free(owner);
	return l;
}

static void
lock_start(const struct worker_ctx *w)
{
	char *cause = NULL;

	memset(&lock, 0, sizeof lock);
	if (w == NULL || !w->pool->timer_global_lock)
		return;
	lock.on = true;
	lock.every_ns = (uint64_t)w->pool->timer_lock_lease_ms * 1000000u / 3;
	if ((lock.l = lease_open(w, &cause)) == NULL) {
		log_error("timer: cannot set up the global lock of pool %s: %s; timers do not run until it can",
		    w->pool->name, cause != NULL ? cause : "?");
		lock.error_logged = true;
	}
	free(cause);
}

/* Whether this process may run callbacks now (renews the lease when due). */
static bool
lock_held(const struct worker_ctx *w, uint64_t now)
{
	bool was = lock.held;
	char *cause = NULL;
	int r;

	if (!lock.on)
		return true;
	if (lock.checked_ns != 0 && now - lock.checked_ns < lock.every_ns)
		return lock.held;
	lock.checked_ns = now;
	if (lock.l == NULL) {
		lock.l = lease_open(w, &cause);
		free(cause);
	}
	r = lock.l != NULL ? rlease_hold(lock.l) : -1;
	lock.held = r == 1;
	if (r == -1 && !lock.error_logged) {
		log_error("timer: cannot reach the global lock; timers paused");
		lock.error_logged = true;
	} else if (r != -1)
		lock.error_logged = false;
	if (lock.held && !was)
		log_notice("timer: global lock acquired: this process runs the pool's timers");
	else if (!lock.held && was)
		log_notice("timer: global lock lost: timers paused here");
	return lock.held;
}

static void
lock_end(void)
{
	if (lock.l != NULL)
		rlease_free(lock.l);
	memset(&lock, 0, sizeof lock);
}

/* After its slot: on to the first slot still ahead, counting those missed. */
static void
advance(struct timer *t, uint64_t now, bool ran)
{
	uint64_t k = (now - t->start_ns) / (t->ms * 1000000u) + 1;

	if (k <= t->k)
		k = t->k + 1;
	if (ran && k > t->k + 1)
		log_debug("timer #%ld: %llu run(s) skipped (the callback overran)",
		    (long)t->id, (unsigned long long)(k - t->k - 1));
	t->k = k;
}

/* Call one timer's callback (a fatal error bails out: the process is replaced). */
static void
run_one(const struct worker_ctx *w, struct timer *t, bool slot_owner)
{
	struct sb_slot *s = w != NULL ? w->slot : NULL;
	zend_fcall_info fci;
	zval cb, arg;
	char *text;
	zend_long id = t->id;

	if (slot_owner) {
		s->req_start_us = sb_now_us();
		s->req_wall_us = sb_wall_us();
		snprintf(s->method, sizeof s->method, "TIMER");
		snprintf(s->uri, sizeof s->uri, "timer #%ld", (long)id);
		s->query[0] = s->script[0] = s->user[0] = '\0';
		s->content_length = 0;
		s->state = SB_RUNNING;
	}
	/* Our own reference: the callback may clear its timer. */
	ZVAL_COPY(&cb, &t->cb);
	ZVAL_LONG(&arg, id);
	/* Inside a request, the request's max_execution_time keeps running. */
	fci = empty_fcall_info;
	fci.size = sizeof fci;
	ZVAL_COPY_VALUE(&fci.function_name, &cb);
	if (php_call_worker(&fci, NULL, 1, &arg, slot_owner)) {
		log_error("timer #%ld: fatal error; replacing this process", (long)id);
		sapi_worker_fatal();
		zend_clear_exception();
		zend_bailout();
	}
	zval_ptr_dtor(&cb);
	if ((text = php_take_exception(2048)) != NULL) {
		log_warn("timer #%ld: uncaught %s", (long)id, text);
		free(text);
	}
	task_client_sync();
	if (slot_owner) {
		sb_run_done(s, zend_memory_peak_usage(1), zend_memory_usage(1));
		zend_memory_reset_peak_usage();
	}
}

/* Sleep until `until` (CLOCK_MONOTONIC ns) or a signal on worker.c's fd. */
static void
wait_until(int tfd, uint64_t until)
{
	struct itimerspec its;
	struct pollfd pfd[2];

	memset(&its, 0, sizeof its);
	its.it_value.tv_sec = (time_t)(until / 1000000000u);
	its.it_value.tv_nsec = (long)(until % 1000000000u);
	if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
		its.it_value.tv_nsec = 1;
	if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) == -1)
		fatal("timerfd_settime");
	pfd[0].fd = tfd;
	pfd[0].events = POLLIN;
	pfd[1].fd = worker_signal_fd();
	pfd[1].events = POLLIN;
	if (poll(pfd, 2, -1) == -1 && errno != EINTR)
		fatal("poll");
	if (pfd[0].revents != 0) {
		uint64_t expirations;
		if (read(tfd, &expirations, sizeof expirations) == -1 &&
		    errno != EAGAIN)
			log_syserr("timerfd read");
	}
}

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_run, 0, 0, IS_VOID, 0)
ZEND_END_ARG_INFO()

/*
 * pfpm_timer_run(): void.  Runs due callbacks until QUIT (after the
 * callback that runs) or until no timer is left.
 */
static PHP_FUNCTION(pfpm_timer_run)
{
	const struct worker_ctx *w = worker_context();
	struct timer *t;
	uint64_t now, next;
	bool slot_owner;
	size_t i;
	int tfd;

	ZEND_PARSE_PARAMETERS_NONE();
	if (running) {
		zend_throw_error(NULL, "pfpm_timer_run() is already running");
		RETURN_THROWS();
	}
	/* Outside a FastCGI request the process's slot shows the callbacks. */
	slot_owner = w != NULL && w->slot != NULL && sapi_current() == NULL;
	if (slot_owner && !w->slot->ready) {
		if (sapi_worker_mode())
			sapi_worker_booted();
		worker_idle();
	}
	if ((tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) ==
	    -1) {
		zend_throw_error(NULL, "pfpm_timer_run(): timerfd_create: %s",
		    strerror(errno));
		RETURN_THROWS();
	}
	running = true;
	lock_start(w);
	if (slot_owner)
		zend_unset_timeout();
	while (!worker_must_stop()) {
		compact();
		if (ntimers == 0)
			break;
		now = mono_ns();
		t = NULL;
		for (i = 0; i < ntimers; i++)
			if (t == NULL || due_ns(timers[i]) < due_ns(t))
				t = timers[i];
		if (due_ns(t) > now) {
			next = due_ns(t);
			if (lock.on && lock.checked_ns + lock.every_ns < next)
				next = lock.checked_ns + lock.every_ns;
			if (next > now) {
				wait_until(tfd, next);
				continue;
			}
		}
		if (w != NULL && !lock_held(w, now)) {
			/* Not ours to run: keep to the grid, no burst later. */
			for (i = 0; i < ntimers; i++)
				if (due_ns(timers[i]) <= now)
					advance(timers[i], now, false);
			continue;
		}
		if (due_ns(t) > now)
			continue;	/* woken for the lease only */
		run_one(w, t, slot_owner);
		if (Z_TYPE(t->cb) != IS_UNDEF)
			advance(t, mono_ns(), true);
	}
	clear_all();
	lock_end();
	close(tfd);
	running = false;
}

static const zend_function_entry functions[] = {
	ZEND_FE(pfpm_timer_tick, arginfo_tick)
	ZEND_FE(pfpm_timer_clear, arginfo_clear)
	ZEND_FE(pfpm_timer_run, arginfo_run)
	ZEND_FE_END
};

const zend_function_entry *
php_timer_functions(void)
{
	return functions;
}
