/*
 * Unit tests for src/config.c: conf_load() on the fixtures under
 * tests/fixtures/conf/, every error path (the logged message must name the
 * file, the line and the option), and the value parsers.
 */
#include "pfpm.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SRC_DIR
#error "SRC_DIR must name the source tree"
#endif
#define CONF_DIR SRC_DIR "/tests/fixtures/conf"

static char log_path[] = "/tmp/pfpm-check-config-XXXXXX";
static int log_tmp_fd = -1;

/*
 * Everything a test allocates is registered here and freed by the
 * teardown, so that a failed assertion (which leaves the test early)
 * leaks nothing in CK_FORK=no valgrind runs.
 */
static char *strings[8];
static struct conf *confs[2];

static char *
track(char *p)
{
	size_t i;

	for (i = 0; i < sizeof strings / sizeof strings[0]; i++)
		if (strings[i] == NULL)
			return strings[i] = p;
	ck_abort_msg("track: too many strings");
	return NULL;
}

/* conf_load(), remembered for the teardown. */
static struct conf *
load(const char *path)
{
	struct conf *c = conf_load(path);
	size_t i;

	for (i = 0; i < sizeof confs / sizeof confs[0]; i++)
		if (confs[i] == NULL) {
			confs[i] = c;
			break;
		}
	return c;
}

/* Every test logs to its own temporary file so it can read messages back. */
static void
setup_log(void)
{
	char *cause = NULL;

	strcpy(log_path, "/tmp/pfpm-check-config-XXXXXX");
	log_tmp_fd = mkstemp(log_path);
	ck_assert_int_ne(log_tmp_fd, -1);
	log_set_level(LOG_LVL_DEBUG);
	ck_assert_int_eq(log_open(log_path, &cause), 0);
	/* Read back through log_tmp_fd: nothing is left behind, even when a
	 * failed test skips the teardown. */
	unlink(log_path);
}

static void
teardown_log(void)
{
	size_t i;

	for (i = 0; i < sizeof strings / sizeof strings[0]; i++) {
		free(strings[i]);
		strings[i] = NULL;
	}
	for (i = 0; i < sizeof confs / sizeof confs[0]; i++) {
		conf_free(confs[i]);
		confs[i] = NULL;
	}
	log_close();
	if (log_tmp_fd != -1)
		close(log_tmp_fd);
	log_tmp_fd = -1;
}

/* The whole log so far, NUL-terminated; the caller frees it. */
static char *
read_log(void)
{
	struct stat st;
	char *buf;

	ck_assert_int_eq(fstat(log_tmp_fd, &st), 0);
	buf = xmalloc((size_t)st.st_size + 1);
	ck_assert_int_eq(pread(log_tmp_fd, buf, (size_t)st.st_size, 0),
	    st.st_size);
	buf[st.st_size] = '\0';
	return track(buf);
}

/*
 * Does one line of the log at `level` name `file`, a line number in
 * [lo, hi] right after it ("file:N:") and `what`?
 */
static bool
log_has(const char *log, const char *level, const char *file, int lo, int hi,
    const char *what)
{
	const char *line = log;
	size_t flen = strlen(file);

	while (*line != '\0') {
		const char *eol = strchr(line, '\n');
		size_t len = eol != NULL ? (size_t)(eol - line) : strlen(line);
		char *l = xstrndup(line, len);
		const char *f = strstr(l, file);
		bool ok = false;

		if (strstr(l, level) != NULL && strstr(l, what) != NULL &&
		    f != NULL) {
			if (lo < 0)
				ok = true;
			else if (f[flen] == ':') {
				char *end;
				long n = strtol(f + flen + 1, &end, 10);
				ok = end != f + flen + 1 && *end == ':' &&
				    n >= lo && n <= hi;
			}
		}
		free(l);
		if (ok)
			return true;
		if (eol == NULL)
			break;
		line = eol + 1;
	}
	return false;
}

static char *
fixture(const char *name)
{
	char *p;

	xasprintf(&p, "%s/%s", CONF_DIR, name);
	return track(p);
}

/* ---------------------------------------------------------------------- */
/* A full configuration: every directive, glob include, four pools. */

static const struct pool_conf *
find_pool(const struct conf *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->npools; i++)
		if (strcmp(c->pools[i]->name, name) == 0)
			return c->pools[i];
	ck_abort_msg("pool %s not found", name);
	return NULL;
}

static const char *
kv_get(const struct conf_kv *kv, size_t n, const char *key)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(kv[i].key, key) == 0)
			return kv[i].value;
	return NULL;
}

START_TEST(test_full_global)
{
	char *path = fixture("full/pfpm.conf");
	struct conf *c = load(path);

	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->file, path);
	ck_assert_str_eq(c->pid_file, "/run/pfpm/pfpm.pid");
	ck_assert_str_eq(c->error_log, "/var/log/pfpm/error.log");
	ck_assert_int_eq(c->log_level, LOG_LVL_WARNING);
	ck_assert_str_eq(c->php_ini, "/dev/null");
	ck_assert(!c->daemonize);
	ck_assert_int_eq(c->emergency_restart_threshold, 10);
	ck_assert_int_eq(c->emergency_restart_interval_ms, 60000);
	ck_assert_int_eq(c->process_control_timeout_ms, 2500);
	ck_assert_int_eq(c->process_max, 128);

	/* The glob picks pool.d/NN-*.conf in order (not README), in place. */
	ck_assert_uint_eq(c->npools, 4);
	ck_assert_str_eq(c->pools[0]->name, "app");
	ck_assert_str_eq(c->pools[1]->name, "api");
	ck_assert_str_eq(c->pools[2]->name, "v6");
	ck_assert_str_eq(c->pools[3]->name, "port");
	ck_assert_ptr_nonnull(strstr(c->pools[0]->file, "full/pool.d/10-app.conf"));
	ck_assert_ptr_nonnull(strstr(c->pools[1]->file, "full/pool.d/20-api.conf"));
	ck_assert_str_eq(c->pools[2]->file, path);
	ck_assert_str_eq(c->pools[3]->file, path);
}
END_TEST

START_TEST(test_full_pool_every_directive)
{
	char *path = fixture("full/pfpm.conf");
	struct conf *c = load(path);
	const struct pool_conf *p;

	ck_assert_ptr_nonnull(c);
	p = find_pool(c, "app");
	ck_assert_str_eq(p->listen, "/run/pfpm/app.sock");
	ck_assert_int_eq(p->addr.family, AF_UNIX);
	ck_assert_str_eq(p->addr.path, "/run/pfpm/app.sock");
	ck_assert_ptr_null(p->addr.host);
	ck_assert_str_eq(p->listen_owner, "nobody");
	ck_assert_str_eq(p->listen_group, "root");
	ck_assert_int_eq(p->listen_mode, 0600);
	ck_assert_int_eq(p->listen_backlog, 511);
	ck_assert_uint_eq(p->n_allowed_clients, 3);
	ck_assert_str_eq(p->allowed_clients[0], "127.0.0.1");
	ck_assert_str_eq(p->allowed_clients[1], "10.0.0.1");
	ck_assert_str_eq(p->allowed_clients[2], "::1");
	ck_assert_str_eq(p->user, "daemon");
	ck_assert_str_eq(p->group, "daemon");
	ck_assert_str_eq(p->chdir, "/srv/app");
	ck_assert_int_eq(p->pm, PM_DYNAMIC);
	ck_assert_int_eq(p->max_children, 16);
	ck_assert_int_eq(p->start_servers, 4);
	ck_assert_int_eq(p->min_spare_servers, 2);
	ck_assert_int_eq(p->max_spare_servers, 6);
	ck_assert_int_eq(p->max_spawn_rate, 8);
	ck_assert_int_eq(p->process_idle_timeout_ms, 1500);
	ck_assert_int_eq(p->max_requests, 10000);
	ck_assert_int_eq(p->request_terminate_timeout_ms, 120000);
	ck_assert(!p->clear_env);
	ck_assert_uint_eq(p->n_env, 3);
	ck_assert_str_eq(p->env[0], "APP_ENV=production");
	ck_assert_str_eq(p->env[1], "EMPTY=");
	ck_assert_str_eq(p->env[2], "PATH=/usr/bin:/bin");

	/* php_value + php_flag (flags normalised to "1"/"0"). */
	ck_assert_uint_eq(p->n_php_values, 4);
	ck_assert_str_eq(kv_get(p->php_values, p->n_php_values, "date.timezone"),
	    "Europe/Paris");
	ck_assert_str_eq(kv_get(p->php_values, p->n_php_values, "include_path"),
	    ".:/usr/share/php");
	ck_assert_str_eq(kv_get(p->php_values, p->n_php_values, "display_errors"),
	    "0");
	ck_assert_str_eq(kv_get(p->php_values, p->n_php_values, "short_open_tag"),
	    "1");
	/* php_admin_value + php_admin_flag. */
	ck_assert_uint_eq(p->n_php_admin_values, 3);
	ck_assert_str_eq(kv_get(p->php_admin_values, p->n_php_admin_values,
	    "memory_limit"), "256M");
	ck_assert_str_eq(kv_get(p->php_admin_values, p->n_php_admin_values,
	    "log_errors"), "1");
	ck_assert_str_eq(kv_get(p->php_admin_values, p->n_php_admin_values,
	    "expose_php"), "0");
	ck_assert_ptr_null(kv_get(p->php_values, p->n_php_values, "memory_limit"));

	ck_assert(p->allow_fcgi_ini);
	ck_assert_uint_eq(p->n_limit_extensions, 3);
	ck_assert_str_eq(p->limit_extensions[0], ".php");
	ck_assert_str_eq(p->limit_extensions[1], ".php8");
	ck_assert_str_eq(p->limit_extensions[2], ".html");
	ck_assert(p->catch_workers_output);
	ck_assert(!p->decorate_workers_output);
	ck_assert_int_eq(p->rlimit_files, 4096);
	ck_assert_int_eq(p->rlimit_core, -1);		/* unlimited */
	ck_assert_str_eq(p->worker, "laravel");
	ck_assert_str_eq(p->app_root, "/tmp");
	ck_assert_int_eq(p->worker_max_memory, 128LL * 1024 * 1024);
}
END_TEST

START_TEST(test_full_pool_defaults)
{
	char *path = fixture("full/pfpm.conf");
	struct conf *c = load(path);
	const struct pool_conf *p;

	ck_assert_ptr_nonnull(c);
	p = find_pool(c, "api");
	ck_assert_str_eq(p->listen, "127.0.0.1:9000");
	ck_assert_int_eq(p->addr.family, AF_INET);
	ck_assert_str_eq(p->addr.host, "127.0.0.1");
	ck_assert_int_eq(p->addr.port, 9000);
	ck_assert_ptr_null(p->addr.path);
	ck_assert_int_eq(p->pm, PM_DYNAMIC);
	ck_assert_int_eq(p->max_children, 10);
	ck_assert_int_eq(p->min_spare_servers, 2);
	ck_assert_int_eq(p->max_spare_servers, 7);
	/* php-fpm: start_servers = min_spare + (max_spare - min_spare) / 2 */
	ck_assert_int_eq(p->start_servers, 2 + (7 - 2) / 2);
	ck_assert_int_eq(p->max_spawn_rate, 32);
	ck_assert_int_eq(p->process_idle_timeout_ms, 10000);
	/* From include("pool.d/api.inc") inside the pool section. */
	ck_assert_int_eq(p->max_requests, 500);
	ck_assert_int_eq(p->request_terminate_timeout_ms, 0);
	ck_assert_uint_eq(p->n_limit_extensions, 2);
	ck_assert_str_eq(p->limit_extensions[0], ".php");
	ck_assert_str_eq(p->limit_extensions[1], ".phar");
	ck_assert(p->clear_env);
	ck_assert_uint_eq(p->n_env, 0);
	ck_assert_uint_eq(p->n_php_values, 0);
	ck_assert_uint_eq(p->n_php_admin_values, 0);
	ck_assert_int_eq(p->rlimit_files, -2);		/* not set */
	ck_assert_int_eq(p->rlimit_core, -2);
	ck_assert_ptr_null(p->worker);			/* classic mode */
	ck_assert_ptr_null(p->app_root);
	ck_assert_int_eq(p->worker_max_memory, 0);

	p = find_pool(c, "v6");
	ck_assert_int_eq(p->addr.family, AF_INET6);
	ck_assert_str_eq(p->addr.host, "::1");
	ck_assert_int_eq(p->addr.port, 9001);
	ck_assert_int_eq(p->pm, PM_ONDEMAND);
	ck_assert_int_eq(p->max_children, 4);
	ck_assert_int_eq(p->start_servers, 0);
	ck_assert_int_eq(p->process_idle_timeout_ms, 30000);	/* bare = s */

	p = find_pool(c, "port");
	ck_assert_int_eq(p->addr.family, AF_INET6);	/* a bare port: dual stack */
	ck_assert_ptr_null(p->addr.host);
	ck_assert_int_eq(p->addr.port, 9002);
	ck_assert_int_eq(p->pm, PM_STATIC);
	ck_assert_int_eq(p->max_children, 3);
	ck_assert_int_eq(p->start_servers, 3);
	ck_assert_str_eq(p->worker, "/dev/null");	/* a worker script */
	ck_assert_int_eq(p->rlimit_files, 0);
	ck_assert_int_eq(p->rlimit_core, -2);
}
END_TEST

START_TEST(test_minimal_defaults)
{
	char *path = fixture("minimal.conf");
	struct conf *c = load(path);
	const struct pool_conf *p;
	char *log;

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_null(c->pid_file);
	ck_assert_ptr_null(c->error_log);
	ck_assert_ptr_null(c->php_ini);
	ck_assert_int_eq(c->log_level, LOG_LVL_NOTICE);
	ck_assert(c->daemonize);
	ck_assert_int_eq(c->emergency_restart_threshold, 0);
	ck_assert_int_eq(c->emergency_restart_interval_ms, 0);
	ck_assert_int_eq(c->process_control_timeout_ms, 10000);
	ck_assert_int_eq(c->process_max, 0);
	ck_assert_uint_eq(c->npools, 1);
	p = c->pools[0];
	ck_assert_str_eq(p->name, "www");
	ck_assert_str_eq(p->file, path);
	ck_assert_int_ge(p->line, 1);
	ck_assert_int_le(p->line, 3);
	ck_assert_int_eq(p->addr.family, AF_UNIX);
	ck_assert_int_eq(p->listen_mode, 0660);
	ck_assert_int_eq(p->listen_backlog, -1);
	ck_assert_ptr_null(p->listen_owner);
	ck_assert_ptr_null(p->listen_group);
	ck_assert_uint_eq(p->n_allowed_clients, 0);
	ck_assert_ptr_null(p->user);
	ck_assert_ptr_null(p->group);
	ck_assert_ptr_null(p->chdir);
	ck_assert_int_eq(p->pm, PM_DYNAMIC);
	ck_assert_int_eq(p->max_children, 5);
	ck_assert_int_eq(p->min_spare_servers, 1);
	ck_assert_int_eq(p->max_spare_servers, 3);
	ck_assert_int_eq(p->start_servers, 1 + (3 - 1) / 2);
	ck_assert_int_eq(p->max_spawn_rate, 32);
	ck_assert_int_eq(p->process_idle_timeout_ms, 10000);
	ck_assert_int_eq(p->max_requests, 0);
	ck_assert_int_eq(p->request_terminate_timeout_ms, 0);
	ck_assert(p->clear_env);
	ck_assert(!p->allow_fcgi_ini);
	ck_assert(!p->catch_workers_output);
	ck_assert(p->decorate_workers_output);
	ck_assert_int_eq(p->rlimit_files, -2);		/* not set */
	ck_assert_int_eq(p->rlimit_core, -2);
	ck_assert_ptr_null(p->worker);
	ck_assert_ptr_null(p->app_root);
	ck_assert_int_eq(p->worker_max_memory, 0);
	ck_assert_uint_eq(p->n_limit_extensions, 2);
	ck_assert_str_eq(p->limit_extensions[0], ".php");
	ck_assert_str_eq(p->limit_extensions[1], ".phar");

	/* A clean configuration logs no error and no warning. */
	log = read_log();
	ck_assert_msg(strstr(log, "ERROR") == NULL && strstr(log, "WARNING") == NULL,
	    "unexpected log: %s", log);
}
END_TEST

/* Loading twice (a reload) gives two independent, equal results. */
START_TEST(test_load_twice)
{
	char *path = fixture("full/pfpm.conf");
	struct conf *a = load(path), *b = load(path);

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_ne(a, b);
	ck_assert_uint_eq(a->npools, b->npools);
	ck_assert_ptr_ne(a->pools[0]->name, b->pools[0]->name);
	ck_assert_str_eq(a->pools[0]->name, b->pools[0]->name);
	/* Freeing the old one leaves the new one intact. */
	conf_free(a);
	confs[0] = NULL;
	ck_assert_str_eq(b->pools[0]->listen, "/run/pfpm/app.sock");
	ck_assert_str_eq(b->pools[3]->name, "port");
	conf_free(NULL);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Every error: NULL, and a message naming file, line and option. */

struct err_case {
	const char *file;	/* under err/ */
	int lo, hi;		/* line range the message must name */
	const char *what;	/* option (or pool title) in the message */
	const char *msg_file;	/* file named, if not `file` (includes) */
};

static const struct err_case err_cases[] = {
	{ "unknown_option.conf", 3, 3, "pm.max_childs", NULL },
	{ "unknown_global.conf", 2, 2, "pidfile", NULL },
	{ "wrong_type.conf", 4, 4, "pm.max_children", NULL },
	{ "wrong_type_bool.conf", 3, 3, "clear_env", NULL },
	{ "range_max_children.conf", 4, 4, "pm.max_children", NULL },
	{ "range_spawn_rate.conf", 4, 4, "pm.max_spawn_rate", NULL },
	{ "range_backlog.conf", 3, 3, "listen.backlog", NULL },
	{ "range_max_requests.conf", 3, 3, "pm.max_requests", NULL },
	{ "range_global.conf", 1, 1, "emergency_restart_threshold", NULL },
	{ "bad_duration.conf", 3, 3, "request_terminate_timeout", NULL },
	{ "bad_duration_global.conf", 2, 2, "process_control_timeout", NULL },
	{ "bad_duration_negative.conf", 4, 4, "pm.process_idle_timeout", NULL },
	{ "bad_mode.conf", 3, 3, "listen.mode", NULL },
	{ "bad_mode_big.conf", 3, 3, "listen.mode", NULL },
	{ "bad_pm.conf", 3, 3, "'pm'", NULL },
	{ "bad_log_level.conf", 2, 2, "log_level", NULL },
	{ "bad_rlimit.conf", 3, 3, "rlimit_files", NULL },
	{ "bad_port.conf", 3, 3, "listen", NULL },
	{ "bad_port_zero.conf", 2, 2, "listen", NULL },
	{ "bad_ipv6.conf", 2, 2, "listen", NULL },
	{ "bad_ipv6_noport.conf", 2, 2, "listen", NULL },
	{ "bad_ipv4.conf", 2, 2, "listen", NULL },
	{ "bad_listen_empty.conf", 2, 2, "listen", NULL },
	/* Cross-option checks name the pool's section (lines lo..hi). */
	{ "missing_listen.conf", 4, 7, "listen", NULL },
	{ "missing_include.conf", 2, 2, "include", NULL },
	{ "include_error.conf", 4, 4, "pm.max_children", "err/inc/bad_pool.conf" },
	{ "dup_pool.conf", 5, 5, "www", NULL },
	{ "same_unix.conf", 4, 8, "listen", NULL },
	{ "same_tcp_wildcard.conf", 4, 6, "listen", NULL },
	{ "same_tcp_port_only.conf", 4, 6, "listen", NULL },
	{ "same_tcp_localhost.conf", 4, 6, "listen", NULL },
	{ "same_tcp_any4.conf", 4, 6, "listen", NULL },
	{ "same_tcp_any6.conf", 4, 6, "listen", NULL },
	{ "min_gt_max_spare.conf", 1, 6, "pm.min_spare_servers", NULL },
	{ "max_spare_gt_children.conf", 1, 6, "pm.max_spare_servers", NULL },
	{ "start_above.conf", 1, 7, "pm.start_servers", NULL },
	{ "start_below.conf", 1, 7, "pm.start_servers", NULL },
	{ "min_spare_zero.conf", 1, 4, "pm.min_spare_servers", NULL },
	{ "ondemand_idle_zero.conf", 1, 5, "pm.process_idle_timeout", NULL },
	{ "env_noeq_last.conf", 3, 3, "env", NULL },
	{ "env_noeq_first.conf", 3, 3, "env", NULL },
	{ "env_noname.conf", 3, 3, "env", NULL },
	{ "group_no_user.conf", 1, 4, "group", NULL },
	{ "relative_chdir.conf", 1, 4, "chdir", NULL },
	{ "unknown_user.conf", 1, 4, "user", NULL },
	{ "unknown_group.conf", 1, 5, "group", NULL },
	{ "unknown_listen_owner.conf", 1, 4, "listen.owner", NULL },
	{ "unknown_listen_group.conf", 1, 4, "listen.group", NULL },
	{ "unreadable_php_ini.conf", 2, 2, "php_ini", NULL },
	{ "laravel_no_app_root.conf", 1, 4, "app_root", NULL },
	{ "laravel_bad_app_root.conf", 1, 5, "app_root", NULL },
	{ "worker_unreadable.conf", 1, 4, "worker", NULL },
	{ "bad_size.conf", 5, 5, "worker.max_memory", NULL },
	{ "bad_allowed_clients.conf", 1, 4, "listen.allowed_clients", NULL },
	/* libconfuse 3.3 adds two lines per comment: pfpm must not. */
	{ "comments_lines.conf", 7, 7, "pm.max_children", NULL },
	/* An unterminated section is a truncated file, not a valid one. */
	{ "syntax_brace.conf", 1, 4, "pool", NULL },
};

START_TEST(test_error_case)
{
	const struct err_case *e = &err_cases[_i];
	char *name, *path, *named, *log;
	struct conf *c;

	xasprintf(&name, "err/%s", e->file);
	track(name);
	path = fixture(name);
	named = fixture(e->msg_file != NULL ? e->msg_file : name);
	c = load(path);
	log = read_log();
	ck_assert_msg(c == NULL, "%s: conf_load accepted it; log: %s", e->file,
	    log);
	ck_assert_msg(log_has(log, "ERROR", named, e->lo, e->hi, e->what),
	    "%s: no ERROR naming %s:%d..%d and '%s'; log was:\n%s", e->file,
	    named, e->lo, e->hi, e->what, log);
}
END_TEST

/* A pool block with two semantic errors in two pools: both are reported. */
START_TEST(test_all_errors_reported)
{
	char *path = fixture("err/two_errors.conf");
	char *log;

	ck_assert_ptr_null(load(path));
	log = read_log();
	ck_assert_msg(log_has(log, "ERROR", path, 1, 4, "group"), "%s", log);
	ck_assert_msg(log_has(log, "ERROR", path, 5, 8, "chdir"), "%s", log);
	ck_assert_ptr_nonnull(strstr(log, "first"));
	ck_assert_ptr_nonnull(strstr(log, "second"));
}
END_TEST

/* No pool: there is no line to name, but file and "pool" are there. */
START_TEST(test_no_pool)
{
	char *path = fixture("err/no_pool.conf");
	char *log;

	ck_assert_ptr_null(load(path));
	log = read_log();
	ck_assert_msg(log_has(log, "ERROR", path, -1, -1, "pool"), "%s", log);
}
END_TEST

START_TEST(test_missing_file)
{
	const char *path = CONF_DIR "/err/does-not-exist.conf";
	char *log;

	ck_assert_ptr_null(load(path));
	log = read_log();
	ck_assert_msg(log_has(log, "ERROR", path, -1, -1, "No such file"), "%s",
	    log);
}
END_TEST

/* A glob that matches nothing only warns (php-fpm's include= behaves so). */
START_TEST(test_glob_nothing_warns)
{
	char *path = fixture("err/glob_nothing.conf");
	struct conf *c = load(path);
	char *log = read_log();

	ck_assert_msg(c != NULL, "rejected: %s", log);
	ck_assert_uint_eq(c->npools, 1);
	ck_assert_str_eq(c->pools[0]->name, "www");
	ck_assert_msg(log_has(log, "WARNING", path, 3, 3, "include"), "%s", log);
	ck_assert_ptr_nonnull(strstr(log, "*.none"));
	ck_assert_ptr_null(strstr(log, "ERROR"));
}
END_TEST

/* Distinct addresses on one port, and distinct unix paths, are fine. */
START_TEST(test_distinct_addresses_ok)
{
	char *path = fixture("err/ok_distinct_addrs.conf");
	struct conf *c = load(path);
	char *log = read_log();

	ck_assert_msg(c != NULL, "rejected: %s", log);
	ck_assert_uint_eq(c->npools, 6);
}
END_TEST

/* Relative pid and error_log paths are relative to the main file. */
START_TEST(test_relative_paths)
{
	char *path = fixture("relpaths.conf");
	struct conf *c = load(path);

	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->pid_file, CONF_DIR "/run/pfpm.pid");
	ck_assert_str_eq(c->error_log, CONF_DIR "/log/error.log");
	c = load(fixture("syslog.conf"));
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->pid_file, "/run/pfpm.pid");
	ck_assert_str_eq(c->error_log, "syslog");
}
END_TEST

/*
 * include() of a directory, by name or through a glob: an error (or, for
 * a glob, skipping it), never the end of the process: a reload reads the
 * new configuration inside the running master.  conf_load() runs in a
 * child here so that a library calling exit() cannot end the test run.
 */
static const struct {
	const char *file;
	bool may_load;
} dir_cases[] = {
	{ "err/include_dir.conf", false },
	{ "err/include_glob_dir.conf", true },
};

START_TEST(test_include_directory)
{
	char *path = fixture(dir_cases[_i].file), *log;
	pid_t pid;
	int status;

	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		struct conf *c = conf_load(path);
		_exit(c == NULL ? 10 : 11);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	log = read_log();
	ck_assert_msg(WIFEXITED(status) && (WEXITSTATUS(status) == 10 ||
	    WEXITSTATUS(status) == 11),
	    "%s: conf_load() ended the process (%s %d); log: %s",
	    dir_cases[_i].file, WIFEXITED(status) ? "exit" : "signal",
	    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), log);
	if (WEXITSTATUS(status) == 11)
		ck_assert_msg(dir_cases[_i].may_load, "%s: loaded", path);
	else
		ck_assert_msg(log_has(log, "ERROR", path, 2, 2, "include"),
		    "%s", log);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Value parsers. */

static const struct {
	const char *s;
	int64_t v;
} size_ok[] = {
	{ "0", 0 },
	{ "512", 512 },
	{ "1K", 1024 },
	{ "1k", 1024 },
	{ "1KB", 1024 },
	{ "2M", 2 * 1024 * 1024 },
	{ "256m", 256LL * 1024 * 1024 },
	{ "3G", 3LL * 1024 * 1024 * 1024 },
	{ "9223372036854775807", INT64_MAX },
	{ "9007199254740991K", 9007199254740991LL * 1024 },
	{ "8589934591G", 8589934591LL * 1024 * 1024 * 1024 },
};

static const char *const size_bad[] = {
	"", "K", "-1", "-1K", "1T", "1.5M", "1 M", "1MM", "0x10", "M1", "1Kx",
	"9223372036854775808",		/* > INT64_MAX */
	"99999999999999999999999",
	"9007199254740992K",		/* overflows when multiplied */
	"8796093022208M",
	"8589934592G",
};

START_TEST(test_size_ok)
{
	int64_t v = -42;

	ck_assert_msg(conf_parse_size(size_ok[_i].s, &v) == 0, "'%s' rejected",
	    size_ok[_i].s);
	ck_assert_msg(v == size_ok[_i].v, "'%s' -> %" PRId64 ", want %" PRId64,
	    size_ok[_i].s, v, size_ok[_i].v);
}
END_TEST

START_TEST(test_size_bad)
{
	int64_t v = -42;

	ck_assert_msg(conf_parse_size(size_bad[_i], &v) == -1, "'%s' accepted",
	    size_bad[_i]);
	ck_assert_int_eq(v, -42);	/* untouched on error */
}
END_TEST

static const struct {
	const char *s;
	int64_t ms;
} dur_ok[] = {
	{ "0", 0 },
	{ "30", 30000 },
	{ "30s", 30000 },
	{ "0s", 0 },
	{ "500ms", 500 },
	{ "5m", 300000 },
	{ "2h", 7200000 },
	{ "9223372036854775807ms", INT64_MAX },
	{ "9223372036854775s", 9223372036854775000LL },
	{ "2562047788015h", 2562047788015LL * 3600000 },
};

static const char *const dur_bad[] = {
	"", "s", "ms", "-1", "-1s", "1.5s", "10x", "10 s", "10sec", "5d",
	"10mss", "s10",
	"9223372036854775808ms",	/* > INT64_MAX */
	"9223372036854776s",		/* overflows when multiplied */
	"153722867280913m",
	"2562047788016h",
	"99999999999999999999999",
};

START_TEST(test_duration_ok)
{
	int64_t v = -42;

	ck_assert_msg(conf_parse_duration(dur_ok[_i].s, &v) == 0,
	    "'%s' rejected", dur_ok[_i].s);
	ck_assert_msg(v == dur_ok[_i].ms, "'%s' -> %" PRId64 ", want %" PRId64,
	    dur_ok[_i].s, v, dur_ok[_i].ms);
}
END_TEST

START_TEST(test_duration_bad)
{
	int64_t v = -42;

	ck_assert_msg(conf_parse_duration(dur_bad[_i], &v) == -1,
	    "'%s' accepted", dur_bad[_i]);
	ck_assert_int_eq(v, -42);
}
END_TEST

/* sun_path holds 107 characters and the NUL. */
#define A10 "aaaaaaaaaa"
#define LONG_PATH_107 "/tmp/" A10 A10 A10 A10 A10 A10 A10 A10 A10 A10 "bb"
#define LONG_PATH_108 LONG_PATH_107 "c"

static const struct {
	const char *s;
	int family;
	const char *host;	/* or path for AF_UNIX */
	int port;
} listen_ok[] = {
	{ "/run/pfpm/www.sock", AF_UNIX, "/run/pfpm/www.sock", 0 },
	{ LONG_PATH_107, AF_UNIX, LONG_PATH_107, 0 },
	{ "9000", AF_INET6, NULL, 9000 },
	{ "1", AF_INET6, NULL, 1 },
	{ "65535", AF_INET6, NULL, 65535 },
	{ "127.0.0.1:9000", AF_INET, "127.0.0.1", 9000 },
	{ "0.0.0.0:9000", AF_INET, "0.0.0.0", 9000 },
	{ "*:9000", AF_INET, NULL, 9000 },
	{ ":9000", AF_INET, NULL, 9000 },
	{ "localhost:9000", AF_INET, "127.0.0.1", 9000 },
	{ "[::1]:9000", AF_INET6, "::1", 9000 },
	{ "[::]:9001", AF_INET6, "::", 9001 },
	{ "[fe80::1:2]:65535", AF_INET6, "fe80::1:2", 65535 },
	{ "[::ffff:127.0.0.1]:80", AF_INET6, "::ffff:127.0.0.1", 80 },
};

static const char *const listen_bad[] = {
	"",
	LONG_PATH_108,
	"abc",
	"9000x",
	"0",
	"-1",
	"65536",
	"99999999999999999999",
	"127.0.0.1:",
	"127.0.0.1:0",
	"127.0.0.1:65536",
	"127.0.0.1:-80",
	"127.0.0.1:80x",
	"300.0.0.1:9000",
	"[::1]",
	"[::1]9000",
	"[::1:9000",
	"[::1]:",
	"[::1]:0",
	"[::1]:70000",
	"[::zz]:9000",
	"[127.0.0.1]:9000",
	"[]:9000",
	"::1:9000",
};

START_TEST(test_listen_ok)
{
	struct conf_listen l;
	char *cause = NULL;

	ck_assert_uint_eq(strlen(LONG_PATH_107), 107);
	ck_assert_uint_eq(strlen(LONG_PATH_108), 108);

	ck_assert_msg(conf_parse_listen(listen_ok[_i].s, &l, &cause) == 0,
	    "'%s' rejected: %s", listen_ok[_i].s, cause ? cause : "");
	ck_assert_ptr_null(cause);
	ck_assert_int_eq(l.family, listen_ok[_i].family);
	if (l.family == AF_UNIX) {
		ck_assert_str_eq(l.path, listen_ok[_i].host);
		ck_assert_ptr_null(l.host);
	} else {
		ck_assert_ptr_null(l.path);
		if (listen_ok[_i].host == NULL)
			ck_assert_ptr_null(l.host);
		else
			ck_assert_str_eq(l.host, listen_ok[_i].host);
		ck_assert_int_eq(l.port, listen_ok[_i].port);
	}
	free(l.path);
	free(l.host);
}
END_TEST

START_TEST(test_listen_bad)
{
	struct conf_listen l;
	char *cause = NULL;

	ck_assert_msg(conf_parse_listen(listen_bad[_i], &l, &cause) == -1,
	    "'%s' accepted", listen_bad[_i]);
	ck_assert_msg(cause != NULL && *cause != '\0', "'%s': no cause",
	    listen_bad[_i]);
	/* Nothing is left allocated for the caller to free. */
	ck_assert_ptr_null(l.path);
	ck_assert_ptr_null(l.host);
	free(cause);
}
END_TEST

#define NELEM(a) ((int)(sizeof (a) / sizeof (a)[0]))

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase_create("load");
	tcase_add_checked_fixture(tc, setup_log, teardown_log);
	tcase_add_test(tc, test_full_global);
	tcase_add_test(tc, test_full_pool_every_directive);
	tcase_add_test(tc, test_full_pool_defaults);
	tcase_add_test(tc, test_minimal_defaults);
	tcase_add_test(tc, test_load_twice);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, setup_log, teardown_log);
	tcase_add_loop_test(tc, test_error_case, 0, NELEM(err_cases));
	tcase_add_test(tc, test_all_errors_reported);
	tcase_add_test(tc, test_no_pool);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_glob_nothing_warns);
	tcase_add_test(tc, test_distinct_addresses_ok);
	tcase_add_test(tc, test_relative_paths);
	tcase_add_loop_test(tc, test_include_directory, 0, NELEM(dir_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("parsers");
	tcase_add_loop_test(tc, test_size_ok, 0, NELEM(size_ok));
	tcase_add_loop_test(tc, test_size_bad, 0, NELEM(size_bad));
	tcase_add_loop_test(tc, test_duration_ok, 0, NELEM(dur_ok));
	tcase_add_loop_test(tc, test_duration_bad, 0, NELEM(dur_bad));
	tcase_add_loop_test(tc, test_listen_ok, 0, NELEM(listen_ok));
	tcase_add_loop_test(tc, test_listen_bad, 0, NELEM(listen_bad));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	/* worker = laravel must find the adapter of this tree. */
	setenv("PFPM_PHP_DIR", SRC_DIR "/src/php", 1);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
