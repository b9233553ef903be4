/*
 * Unit tests for src/fpmconf.c: the php-fpm INI reader line by line (the
 * expected results are those of PHP 8.2's own parser), the converter on
 * small configurations (every directive family, every error with its
 * file:line), a round trip through conf_load(), and the CLI's exit codes.
 */
#include "pfpm.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SRC_DIR
#error "SRC_DIR must name the source tree"
#endif
#ifndef BUILD_DIR
#error "BUILD_DIR must name the build tree"
#endif
#define NELEM(a) (sizeof (a) / sizeof (a)[0])

/* Each test gets a scratch directory; the teardown empties it. */
static char dir[64];
static char *files[32];
static size_t nfiles;
static char *out, *cause;

static void
setup(void)
{
	strcpy(dir, "/tmp/pfpm-check-fpmconf-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	nfiles = 0;
	out = cause = NULL;
	setenv("FPMCONF_TEST", "from-env", 1);
	unsetenv("FPMCONF_UNSET");
}

static void
teardown(void)
{
	size_t i;

	for (i = nfiles; i > 0; i--) {
		if (unlink(files[i - 1]) == -1)
			rmdir(files[i - 1]);
		free(files[i - 1]);
	}
	rmdir(dir);
	free(out);
	free(cause);
	out = cause = NULL;
}

/* A file (or, ending in '/', a directory) under the scratch directory. */
static const char *
put(const char *name, const char *text)
{
	char *path;
	FILE *f;

	xasprintf(&path, "%s/%s", dir, name);
	ck_assert_uint_lt(nfiles, NELEM(files));
	files[nfiles++] = path;
	if (name[strlen(name) - 1] == '/') {
		ck_assert_int_eq(mkdir(path, 0755), 0);
		return path;
	}
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	return path;
}

/* Convert one file; the result code of fpmconf_convert(). */
static int
convert(const char *text)
{
	char *argv[1];

	argv[0] = (char *)put("php-fpm.conf", text);
	free(out);
	free(cause);
	out = cause = NULL;
	return fpmconf_convert(argv, 1, dir, &out, &cause);
}

static void
has(const char *needle)
{
	ck_assert_msg(out != NULL && strstr(out, needle) != NULL,
	    "missing \"%s\" in:\n%s", needle, out != NULL ? out : "(null)");
}

static void
lacks(const char *needle)
{
	ck_assert_msg(out != NULL && strstr(out, needle) == NULL,
	    "unexpected \"%s\" in:\n%s", needle, out != NULL ? out : "(null)");
}

/* ------------------------------------------------------------------ */
/* The reader.  Expected results checked with PHP 8.2's parse_ini_string
 * (INI_SCANNER_NORMAL), ${NAME} standing for what pfpm expands. */

static const struct {
	const char *line;
	const char *dump;
} reads[] = {
	{ "; a comment", "" },
	{ "   ;indented comment", "" },
	{ "# php-fpm 5 comment", "" },
	{ "[global]", "[global]\n" },
	{ "[ www ]", "[ www ]\n" },
	{ "[\"my pool\"]", "[my pool]\n" },
	{ "[www] listen = 9000", "[www]\nlisten = \"9000\"\n" },
	{ "listen = 127.0.0.1:9000", "listen = \"127.0.0.1:9000\"\n" },
	{ "listen=/run/php/x.sock", "listen = \"/run/php/x.sock\"\n" },
	{ "listen = [::]:9000", "listen = \"[::]:9000\"\n" },
	{ "  pm.max_children   =   5   ", "pm.max_children = \"5\"\n" },
	{ "key =", "key = \"\"\n" },
	{ "key = \"\"", "key = \"\"\n" },
	{ "key = a;b", "key = \"a\"\n" },
	{ "key = value ; comment", "key = \"value\"\n" },
	{ "key = yes", "key = \"1\"\n" },
	{ "key = On", "key = \"1\"\n" },
	{ "key = TRUE", "key = \"1\"\n" },
	{ "key = off", "key = \"\"\n" },
	{ "key = none", "key = \"\"\n" },
	{ "key = null", "key = \"\"\n" },
	{ "key = yesterday", "key = \"yesterday\"\n" },
	{ "key = on ; c", "key = \"1\"\n" },
	{ "on x = 1", "on x = \"1\"\n" },
	{ "  on = 1", "on = \"1\"\n" },
	{ "key = 0660", "key = \"0660\"\n" },
	{ "key = -5", "key = \"-5\"\n" },
	{ "key = 10s", "key = \"10s\"\n" },
	{ "key = a b  c", "key = \"a b  c\"\n" },
	{ "key = \"a b\"", "key = \"a b\"\n" },
	{ "key = a  \"b\"  c", "key = \"abc\"\n" },
	{ "key = 'a b' c", "key = \"a b c\"\n" },
	{ "key = '${HOME} raw'", "key = \"${HOME} raw\"\n" },
	{ "key = \"a\\\\b\\\"c\\$d\\ne\"", "key = \"a\\b\"c$d\\ne\"\n" },
	{ "key = \"C:\\\\p\\\\\"", "key = \"C:\\p\\\"\n" },
	{ "key = a\\b", "key = \"a\\b\"\n" },
	{ "key = a{b}c", "key = \"a{b}c\"\n" },
	{ "key = x ]", "key = \"x ]\"\n" },
	{ "key = $pool.sock", "key = \"$pool.sock\"\n" },
	{ "key = a$", "key = \"a$\\n\"\n" },
	{ "key = ${HOME}/x", "key = \"${HOME}/x\"\n" },
	{ "key = ${ HOME }", "key = \"${HOME}\"\n" },
	{ "key = \"${HOME}/x\"", "key = \"${HOME}/x\"\n" },
	{ "key = ${FPMCONF_TEST:-x}", "key = \"\"\n" },
	{ "key = E_ALL", "key = \"32767\"\n" },
	{ "key = E_ALL & ~E_NOTICE", "key = \"32759\"\n" },
	{ "key = E_ALL & ~E_DEPRECATED & ~E_STRICT", "key = \"22527\"\n" },
	{ "key = ~E_ALL", "key = \"-32768\"\n" },
	{ "key = (1|2) ^ 3", "key = \"0\"\n" },
	{ "key = ( 1 | 2 ) & 3", "key = \"3\"\n" },
	{ "key = !0", "key = \"1\"\n" },
	{ "key = 5 & E_ALL1", "key = \"0\"\n" },
	{ "key = PHP_FOO", "key = \"PHP_FOO\"\n" },
	{ "key = a '", "key = \"a \"\n" },
	{ "key = a'~b", "key = \"a\"\n" },
	{ "key = yes'", "key = \"1\"\n" },
	{ "key = 'b'c'", "key = \"bc\"\n" },
	{ "key = $\\$~>", "key = \"$\\$~>\"\n" },
	{ "php_value[memory_limit] = 128M", "php_value[memory_limit] = \"128M\"\n" },
	{ "php_value[ foo ] = 1", "php_value[foo ] = \"1\"\n" },
	{ "php_value[E_ALL] = 1", "php_value[32767] = \"1\"\n" },
	{ "php_value[true] = 1", "php_value[1] = \"1\"\n" },
	{ "php_value[\"a b\"] = 1", "php_value[a b] = \"1\"\n" },
	{ "php_value[] = 1", "php_value[] = \"1\"\n" },
	{ "env[PATH] = $PATH", "env[PATH] = \"$PATH\"\n" },
	{ "a]b = 1", "a]b = \"1\"\n" },
	{ "\xef\xbb\xbfkey = 1", "key = \"1\"\n" },
};

START_TEST(test_read)
{
	char *got = NULL, *why = NULL;
	int rc;

	setenv("HOME", "/home/test", 1);
	rc = fpmconf_parse_line(reads[_i].line, &got, &why);
	ck_assert_msg(rc == 0, "'%s': %s", reads[_i].line, why);
	ck_assert_msg(strcmp(got, reads[_i].dump) == 0,
	    "'%s': got\n%s\nwanted\n%s", reads[_i].line, got, reads[_i].dump);
	free(got);
}
END_TEST

static const struct {
	const char *line;
	const char *cause;
} bad_reads[] = {
	{ "[www", "unterminated section header" },
	{ "[www ; x]", "unexpected ';' in a section header" },
	{ "listen", "'=' is missing after 'listen'" },
	{ "php_value[x]", "'=' is missing after 'php_value[x]'" },
	{ "php_value[x = 1", "'[' is not closed with ']'" },
	{ "key = a=b", "'=' in a value must be quoted" },
	{ "key = \"abc", "a double-quoted string is not closed" },
	{ "key = 'abc", "a single-quoted string is not closed" },
	{ "key = ${HOME", "'${' is not closed with '}'" },
	{ "key = ${}", "'${}' names no variable" },
	{ "key = (1", "'(' is not closed with ')'" },
	{ "key = 1 | yes", "'yes' can only be the whole value" },
	{ "key = yes please", "unexpected 'p' in a value" },
	{ "on = 1", "'on' cannot be a directive name" },
	{ "= 1", "unexpected '='" },
	{ "~x = 1", "unexpected '~'" },
	{ "key = a\001b", "unexpected control character" },
};

START_TEST(test_read_error)
{
	char *got = NULL, *why = NULL;

	ck_assert_int_eq(fpmconf_parse_line(bad_reads[_i].line, &got, &why), -1);
	ck_assert_ptr_nonnull(why);
	ck_assert_msg(strstr(why, bad_reads[_i].cause) != NULL,
	    "'%s': got '%s', wanted '%s'", bad_reads[_i].line, why,
	    bad_reads[_i].cause);
	free(why);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The converter. */

START_TEST(test_sections)
{
	ck_assert_int_eq(convert(
	    "[global]\n"
	    "pid = /run/x.pid\n"
	    "[www]\n"
	    "listen = /run/www.sock\n"
	    "pm = static\n"
	    "[global]\n"
	    "log_level = warn\n"
	    "[WWW]\n"
	    "pm.max_children = 7\n"
	    "pm = Dynamic\n"
	    "[\"api v2\"]\n"
	    "listen = 127.0.0.1:9001\n"), 0);
	has("pid = /run/x.pid\n");
	has("log_level = warning\n");
	/* [WWW] brings [www] back; the last value wins */
	has("pool www {\n    listen = /run/www.sock\n    pm = dynamic\n"
	    "    pm.max_children = 7\n}\n");
	lacks("pool WWW");
	has("pool \"api v2\" {\n");
	has("    listen = \"127.0.0.1:9001\"\n");
	/* php-fpm's defaults where pfpm's differ */
	has("process_control_timeout = 1ms\n");
	has("error_log = ");
}
END_TEST

START_TEST(test_quoting)
{
	ck_assert_int_eq(convert(
	    "[www]\n"
	    "listen = /run/a.sock\n"
	    "user = ${FPMCONF_USER}\n"
	    "listen.allowed_clients = 127.0.0.1, ::1\n"
	    "php_value[include_path] = \".:/usr/share/php\"\n"
	    "php_value[user_agent] = \"say \\\"hi\\\" a=b\"\n"
	    "php_value[x.path] = 'C:\\dir\\' \n"
	    "php_value[raw] = '${NOT_EXPANDED}'\n"
	    "php_value[url] = http://example.com/\n"
	    "php_value[empty] =\n"), 0);
	has("user = \"${FPMCONF_USER}\"\n");
	has("listen.allowed_clients = \"127.0.0.1, ::1\"\n");
	has("include_path = \".:/usr/share/php\"\n");
	has("user_agent = \"say \\\"hi\\\" a=b\"\n");
	has("x.path = \"C:\\\\dir\\\\\"\n");
	has("raw = \"\\${NOT_EXPANDED}\"\n");
	/* "//" would start a libconfuse comment */
	has("url = \"http://example.com/\"\n");
	has("empty = \"\"\n");
}
END_TEST

START_TEST(test_values)
{
	ck_assert_int_eq(convert(
	    "[global]\n"
	    "emergency_restart_interval = 1d\n"
	    "process_control_timeout = 20\n"
	    "daemonize = off\n"
	    "[www]\n"
	    "listen = 9000\n"
	    "pm.process_idle_timeout = 90s\n"
	    "request_terminate_timeout = 5m\n"
	    "catch_workers_output = yes\n"
	    "clear_env = no\n"
	    "listen.backlog = 100000\n"
	    "[v6]\n"
	    "listen = ::1:9001\n"
	    "request_terminate_timeout = 1.5m\n"
	    "[any6]\n"
	    "listen = [::]:9002\n"
	    "[local]\n"
	    "listen = localhost:9003\n"), 0);
	has("emergency_restart_interval = 24h\n");
	has("process_control_timeout = 20s\n");
	has("daemonize = no\n");
	has("listen = 9000\n");
	has("php-fpm listens on IPv6 too");
	has("pm.process_idle_timeout = 90s\n");
	has("request_terminate_timeout = 5m\n");
	has("catch_workers_output = yes\n");
	has("clear_env = no\n");
	has("listen.backlog = 65535\n");
	has("listen = \"[::1]:9001\"\n");
	/* php-fpm reads "1.5m" with atoi(): one minute */
	has("request_terminate_timeout = 1m\n");
	has("listen = \"[::]:9002\"\n");
	has("listen = \"localhost:9003\"\n");
}
END_TEST

START_TEST(test_pool_and_prefix)
{
	put("srv/", NULL);
	ck_assert_int_eq(convert(
	    "[global]\n"
	    "pid = run/fpm.pid\n"
	    "[app]\n"
	    "prefix = srv/$pool\n"
	    "listen = $pool.sock\n"
	    "chdir = www\n"
	    "user = $pool-user\n"
	    "php_admin_value[error_log] = log/$pool.log\n"
	    "php_admin_value[session.save_path] = sess/$pool\n"
	    "php_admin_value[sendmail_path] = sendmail -t\n"
	    "php_value[error_log] = syslog\n"
	    "[sys]\n"
	    "listen = /run/sys.sock\n"
	    "php_admin_value[error_log] = syslog\n"), 0);
	/* pid and error_log go under php-fpm's -p prefix (here dir) */
	ck_assert_ptr_nonnull(strstr(out, "pid = "));
	has("/run/fpm.pid\n");
	has("/srv/app/app.sock\n");
	has("chdir = ");
	has("/srv/app/www\n");
	has("user = app-user\n");
	has("/srv/app/log/app.log\n");
	/* session.save_path is not one of php-fpm's expanded names */
	has("session.save_path = sess/app\n");
	/* php-fpm puts even this one under the prefix */
	has("/srv/app/sendmail -t\"\n");
	/* ... and php_value[error_log] = syslog, but not the admin one */
	has("/srv/app/syslog\n");
	has("    php_admin_value {\n        error_log = syslog\n");
}
END_TEST

START_TEST(test_arrays)
{
	ck_assert_int_eq(convert(
	    "[www]\n"
	    "listen = /run/www.sock\n"
	    "env[PATH] = $PATH\n"
	    "env[A] = 1\n"
	    "env[A] = 2\n"
	    "env[POOL] = $pool\n"
	    "env[ODD] = $NOT/A/NAME\n"
	    "env[Q] = \"x \\\"y\\\" z\"\n"
	    "php_value[memory_limit] = 96M\n"
	    "php_value[memory_limit] = 200M\n"
	    "php_flag[display_errors] = on\n"
	    "php_value[display_errors] = 0\n"
	    "php_value[error_reporting] = E_ALL & ~E_NOTICE\n"
	    "php_admin_value[upload_max_filesize] = 3M\n"
	    "php_admin_flag[log_errors] = off\n"
	    "php_admin_flag[html_errors] = 1\n"), 0);
	has("    env = {\n"
	    "        \"PATH=${PATH}\",\n"
	    "        \"A=1\",\n"
	    "        \"POOL=www\",\n"
	    "        \"ODD=\",\n"
	    "        \"Q=x \\\"y\\\" z\"\n"
	    "    }\n");
	/* php-fpm applies its lists from the last entry: the first wins */
	has("the first env[A] wins");
	has("memory_limit = 96M\n");
	lacks("200M\n    ");
	has("the first php_value[memory_limit] wins");
	has("    php_flag {\n        display_errors = on\n    }\n");
	has("the first php_value[display_errors] wins");
	has("error_reporting = 32759\n");
	has("    php_admin_value {\n        upload_max_filesize = 3M\n    }\n");
	has("    php_admin_flag {\n        log_errors = off\n"
	    "        html_errors = on\n    }\n");
}
END_TEST

/* Each of these is dropped with a comment naming it; the count is right. */
static const struct {
	const char *conf;
	const char *comment;
} drops[] = {
	{ "[www]\npm.status_listen = 127.0.0.1:9999\n", "pm.status_listen = 127.0.0.1:9999" },
	{ "[www]\npm.status_path = status\n", "pm.status_path = status (" },
	{ "[www]\nping.path = /a b\n", "ping.path = /a b (" },
	{ "[www]\nping.path = /ping\nping.response =\n", "ping.response =  (" },
	{ "[www]\naccess.log = a.log\naccess.format = %Z\n", "access.format = %Z (" },
	{ "[www]\naccess.suppress_path[] = ping\n", "access.suppress_path[] = ping (" },
	{ "[www]\naccess.suppress_path[x] = /ping\n", "access.suppress_path[x] = /ping (" },
	{ "[www]\nchroot = /srv\n", "chroot = /srv" },
	{ "[www]\nlisten.acl_users = www-data\n", "listen.acl_users = www-data" },
	{ "[www]\nlisten.acl_groups = www-data\n", "listen.acl_groups = www-data" },
	{ "[www]\napparmor_hat = hat\n", "apparmor_hat = hat" },
	{ "[www]\nprocess.priority = -5\n", "process.priority = -5" },
	{ "[www]\nlisten.setfib = 1\n", "listen.setfib = 1 (" },
	{ "[www]\nno_such_thing = 1\n", "no_such_thing = 1 (" },
	{ "[www]\nphp_values[x] = 1\n", "php_values[x] = 1" },
	{ "[www]\nphp_value[] = 1\n", "php_value[] = 1" },
	{ "[www]\nenv[EMPTY] =\n", "env[EMPTY] =  (" },
	{ "[www]\nphp_flag[x] = maybe\n", "php_flag[x] = maybe" },
	{ "[www]\ncatch_workers_output = 0\n", "catch_workers_output = 0" },
	{ "[www]\npm = sometimes\n", "pm = sometimes" },
	{ "[www]\npm.max_children = lots\n", "pm.max_children = lots" },
	{ "[www]\npm.max_children = 0\n", "pm.max_children = 0" },
	{ "[www]\nrequest_terminate_timeout = 5x\n", "request_terminate_timeout = 5x" },
	{ "[www]\nlisten.mode = rw\n", "listen.mode = rw" },
	{ "[www]\nrlimit_core = -1\n", "rlimit_core = -1" },
	{ "[x]\nlisten = host.invalid:9000\n[www]\n", "listen = host.invalid:9000" },
	{ "[global]\nphp_value[x] = 1\n[www]\n", "php_value[x] = 1" },
	{ "[global]\nprocess.priority = 5\n[www]\n", "process.priority = 5" },
	{ "[global]\nlog_limit = 4096\n[www]\n", "log_limit = 4096" },
	{ "[global]\nlog_buffering = no\n[www]\n", "log_buffering = no" },
	{ "[global]\nevents.mechanism = poll\n[www]\n", "events.mechanism = poll" },
	{ "[global]\nsystemd_interval = 30\n[www]\n", "systemd_interval = 30" },
	{ "[global]\nerror_log = syslog\nsyslog.ident = fpm\n[www]\n", "syslog.ident = fpm" },
	{ "[global]\nerror_log = syslog\nsyslog.facility = local0\n[www]\n", "syslog.facility = local0" },
	{ "[global]\npid = /run/$pool.pid\n[www]\n", "pid = /run/$pool.pid" },
	{ "[global]\nno_such_global = 1\n[www]\n", "no_such_global = 1" },
};

START_TEST(test_drop)
{
	char *conf, *want;

	xasprintf(&conf, "%slisten = /run/www.sock\n", drops[_i].conf);
	ck_assert_int_ge(convert(conf), 1);
	xasprintf(&want, "# pfpm: cannot carry over: %s", drops[_i].comment);
	has(want);
	free(want);
	free(conf);
}
END_TEST

/* The status page, ping and the access log, as pfpm has them now. */
START_TEST(test_status_access)
{
	ck_assert_int_eq(convert(
	    "[www]\n"
	    "prefix = /srv/$pool\n"
	    "listen = /run/www.sock\n"
	    "pm.status_path = /status-$pool\n"
	    "ping.path = /ping\n"
	    "ping.response = \"I am alive\"\n"
	    "access.log = log/$pool.access.log\n"
	    "access.format = \"%R - %u %t \\\"%m %r%Q%q\\\" %s %{mili}d %C%%\"\n"
	    "access.suppress_path[] = /ping\n"
	    "access.suppress_path[] = /status-www\n"), 0);
	has("    pm.status_path = /status-www\n");
	has("    ping.path = /ping\n");
	has("    ping.response = \"I am alive\"\n");
	has("    access.log = /srv/www/log/www.access.log\n");
	has("    access.format = \"%R - %u %t \\\"%m %r%Q%q\\\" %s %{mili}d %C%%\"\n");
	has("    access.suppress_path = {\n"
	    "        /ping,\n"
	    "        /status-www\n"
	    "    }\n");
}
END_TEST

/* Values that change nothing in php-fpm are only noted. */
START_TEST(test_inert)
{
	ck_assert_int_eq(convert(
	    "[global]\n"
	    "error_log = /var/log/fpm.log\n"
	    "syslog.ident = php-fpm\n"
	    "syslog.facility = local3\n"
	    "log_buffering = yes\n"
	    "log_limit = 1024\n"
	    "events.mechanism = epoll\n"
	    "systemd_interval = 10\n"
	    "[www]\n"
	    "listen = /run/www.sock\n"
	    "pm.status_path =\n"
	    "ping.response = pong\n"
	    "access.format = %R\n"
	    "access.suppress_path[] = /ping\n"
	    "slowlog = /var/log/slow.log\n"
	    "request_slowlog_timeout = 0\n"
	    "request_slowlog_trace_depth = 20\n"
	    "request_terminate_timeout_track_finished = no\n"
	    "process.dumpable = yes\n"
	    "chroot =\n"
	    "rlimit_files = 0\n"
	    "rlimit_core = 0\n"), 0);
	lacks("# pfpm: cannot carry over");
	has("# pfpm: note: syslog.facility = local3 (");
	has("# pfpm: note: slowlog = /var/log/slow.log (");
	has("# pfpm: note: rlimit_core = 0 (");
	lacks("rlimit_core = 0\n");
	lacks("rlimit_files = 0\n");
}
END_TEST

START_TEST(test_rlimits)
{
	ck_assert_int_eq(convert(
	    "[global]\n"
	    "rlimit_files = 8192\n"
	    "rlimit_core = unlimited\n"
	    "[a]\n"
	    "listen = /run/a.sock\n"
	    "[b]\n"
	    "listen = /run/b.sock\n"
	    "rlimit_files = 1024\n"
	    "rlimit_core = 0\n"
	    "[c]\n"
	    "listen = /run/c.sock\n"
	    "rlimit_files = -1\n"), 0);
	has("    listen = /run/a.sock\n"
	    "    # pfpm: note: rlimit_files = 8192 (");
	has("    rlimit_files = 8192\n"
	    "    # pfpm: note: rlimit_core = unlimited (");
	has("    rlimit_core = unlimited\n}\n");
	has("    listen = /run/b.sock\n    rlimit_files = 1024\n");
	/* [b]'s 0 is php-fpm's "not set": the global limit applies */
	has("    rlimit_core = unlimited\n}\n\n# [c]");
	has("    listen = /run/c.sock\n    rlimit_files = unlimited\n");
}
END_TEST

START_TEST(test_include)
{
	char *conf;

	put("pool.d/", NULL);
	put("pool.d/a.conf", "[a]\nlisten = /run/a.sock\n");
	put("pool.d/b.conf", "[b]\nlisten = /run/b.sock\ninclude = extra.inc\n"
	    "pm = static\n");
	put("pool.d/dir.conf/", NULL);	/* php-fpm skips directories */
	put("extra.inc", "pm.max_children = 9\n[global]\nlog_level = debug\n");
	xasprintf(&conf,
	    "[global]\n"
	    "include=%s/pool.d/*.conf\n"
	    "include = pool.d/none-*.conf\n"
	    "pm.max_requests = 3\n", dir);
	ck_assert_int_eq(convert(conf), 2);
	free(conf);
	has("    listen = /run/a.sock\n}\n");
	/* an include goes on in the current section, and leaves its own */
	has("log_level = debug\n");
	has("    listen = /run/b.sock\n    pm.max_children = 9\n}\n");
	/* after it, b.conf and php-fpm.conf are in [global]: php-fpm says no */
	has("# pfpm: cannot carry over: pm = static (");
	has("# pfpm: cannot carry over: pm.max_requests = 3 (");
	/* relative patterns go under the prefix, not the file's directory */
	has("include = pool.d/none-*.conf read as ");
	has("matches no file");
	has("#   ");
	has("/pool.d/b.conf\n");
	has("/extra.inc\n");
}
END_TEST

START_TEST(test_include_missing)
{
	char *want;

	ck_assert_int_eq(convert("[global]\n\n; x\ninclude = nothere.conf\n"
	    "[www]\n"), -1);
	xasprintf(&want, "%s/php-fpm.conf:4: include: %s/nothere.conf: no such file",
	    dir, dir);
	ck_assert_str_eq(cause, want);
	ck_assert_ptr_null(out);
	free(want);
}
END_TEST

START_TEST(test_include_nested)
{
	char *want;

	put("1.inc", "include = 2.inc\n");
	put("2.inc", "include = 3.inc\n");
	put("3.inc", "include = 4.inc\n");
	put("4.inc", "[www]\nlisten = /run/w.sock\ninclude = 5.inc\n");
	put("5.inc", "pm = static\n");
	ck_assert_int_eq(convert("include = 1.inc\n"), -1);
	xasprintf(&want, "%s/4.inc:3: include: more than 5 files nested", dir);
	ck_assert_msg(strncmp(cause, want, strlen(want)) == 0, "%s", cause);
	free(want);
}
END_TEST

/* Errors name the file and the line, and nothing is written. */
static const struct {
	const char *conf;
	int line;
	const char *cause;
} errors[] = {
	{ "[global]\npid = /x\n[www\nlisten = 9000\n", 3, "unterminated section header" },
	{ "[www]\nlisten = 9000\nbad line\n", 3, "'=' is missing after 'bad line'" },
	{ "[www]\r\nlisten = 9000\r\nx = \"open\r\n", 3, "a double-quoted string is not closed" },
	{ "[www]\nlisten = a=b\n", 2, "'=' in a value must be quoted" },
	{ "\n\n\n[www]\nlisten = ${X\n", 5, "'${' is not closed" },
	{ "[www]\ninclude = a.conf\ninclude = b.conf\n", 2, "no such file" },
	{ "[www]\nx = 1\n[]\n", 3, "a section name cannot be empty" },
};

START_TEST(test_error)
{
	char *want;

	ck_assert_int_eq(convert(errors[_i].conf), -1);
	ck_assert_ptr_null(out);
	xasprintf(&want, "%s/php-fpm.conf:%d: ", dir, errors[_i].line);
	ck_assert_msg(strncmp(cause, want, strlen(want)) == 0 &&
	    strstr(cause, errors[_i].cause) != NULL, "got '%s', wanted '%s%s'",
	    cause, want, errors[_i].cause);
	free(want);
}
END_TEST

START_TEST(test_no_pool)
{
	ck_assert_int_eq(convert("[global]\npid = /x.pid\n"), -1);
	ck_assert_str_eq(cause, "no pool section: php-fpm needs at least one [pool]");
}
END_TEST

START_TEST(test_unreadable)
{
	char *argv[1] = { (char *)"/nonexistent/php-fpm.conf" };

	ck_assert_int_eq(fpmconf_convert(argv, 1, NULL, &out, &cause), -1);
	ck_assert_str_eq(cause, "/nonexistent/php-fpm.conf: No such file or directory");
}
END_TEST

/* Several files: each starts in [global]; pools of the same name merge. */
START_TEST(test_several_files)
{
	char *argv[2];

	argv[0] = (char *)put("a.conf", "[www]\nlisten = /run/w.sock\n");
	argv[1] = (char *)put("b.conf", "pid = /run/x.pid\n[WWW]\npm = static\n");
	ck_assert_int_eq(fpmconf_convert(argv, 2, NULL, &out, &cause), 0);
	has("pid = /run/x.pid\n");
	has("    listen = /run/w.sock\n    pm = static\n}\n");
	/* without -p, relative pid and error_log go under /var */
	has("error_log = /var/log/php-fpm.log\n");
}
END_TEST

/* ------------------------------------------------------------------ */
/* What the converter writes, read back by pfpm's own conf_load(). */

/* A fixture with @DIR@ and @STATUS_PORT@ replaced, as the integration test does. */
static char *
fixture(const char *name)
{
	char *path, *text, *p, *res;
	long n;
	FILE *f;

	xasprintf(&path, "%s/tests/fixtures/fpm/%s", SRC_DIR, name);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	free(path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	text = xcalloc(1, (size_t)n + 1);
	ck_assert_uint_eq(fread(text, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	while ((p = strstr(text, "@DIR@")) != NULL ||
	    (p = strstr(text, "@STATUS_PORT@")) != NULL) {
		bool d = strncmp(p, "@DIR@", 5) == 0;
		*p = '\0';
		xasprintf(&res, "%s%s%s", text, d ? dir : "19001", p + (d ? 5 : 13));
		free(text);
		text = res;
	}
	return text;
}

START_TEST(test_roundtrip)
{
	struct conf *c;
	const struct pool_conf *p, *m;
	char *conf, *path;
	int fd;
	size_t i;
	bool found = false;

	if (getpwnam("www-data") == NULL)
		return;		/* the fixture's pools run as www-data */
	conf = fixture("full.conf");
	put("www/", NULL);
	ck_assert_int_eq(convert(conf), 6);
	free(conf);
	xasprintf(&path, "%s/pfpm.conf", dir);
	files[nfiles++] = path;
	ck_assert_int_ne(fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644), -1);
	ck_assert_int_eq(write(fd, out, strlen(out)), (ssize_t)strlen(out));
	close(fd);
	setenv("FPM_CONV_FROM_ENV", "hello", 1);
	setenv("FPM_CONV_CHARSET", "ISO-8859-1", 1);
	c = conf_load(path);
	ck_assert_msg(c != NULL, "conf_load failed on:\n%s", out);
	ck_assert_int_eq(c->npools, 2);
	ck_assert_int_eq(c->process_control_timeout_ms, 10000);
	ck_assert_int_eq(c->emergency_restart_interval_ms, 60000);
	ck_assert_int_eq(c->process_max, 128);
	ck_assert(!c->daemonize);
	p = c->pools[0];
	m = c->pools[1];
	ck_assert_str_eq(p->name, "full");
	xasprintf(&path, "%s/full.sock", dir);
	ck_assert_str_eq(p->listen, path);
	free(path);
	ck_assert_int_eq(p->pm, PM_ONDEMAND);
	ck_assert_int_eq(p->max_children, 4);
	ck_assert_int_eq(p->request_terminate_timeout_ms, 30000);
	ck_assert_int_eq(p->rlimit_files, 1024);
	ck_assert_int_eq(p->rlimit_core, -1);
	ck_assert_int_eq(p->listen_backlog, 511);
	ck_assert_int_eq(p->listen_mode, 0660);
	ck_assert(p->catch_workers_output);
	ck_assert(!p->decorate_workers_output);
	ck_assert(p->clear_env);
	ck_assert_int_eq(p->n_limit_extensions, 2);
	ck_assert_int_eq(p->n_env, 6);
	ck_assert_str_eq(p->env[0], "FROM_ENV=hello");
	ck_assert_str_eq(p->env[1], "BRACED=hello-braced");
	ck_assert_str_eq(p->env[3], "POOL=full");
	ck_assert_str_eq(p->env[4], "QUOTED=a \"b\" c=d; e");
	ck_assert_str_eq(p->env[5], "DUP=first");
	for (i = 0; i < p->n_php_values; i++) {
		const struct conf_kv *kv = &p->php_values[i];
		if (strcmp(kv->key, "memory_limit") == 0)
			ck_assert_str_eq(kv->value, "96M");
		if (strcmp(kv->key, "error_reporting") == 0)
			ck_assert_str_eq(kv->value, "24567");
		if (strcmp(kv->key, "user_agent") == 0) {
			ck_assert_str_eq(kv->value, "pfpm \"test\" a=b; c");
			found = true;
		}
		if (strcmp(kv->key, "short_open_tag") == 0)
			ck_assert_str_eq(kv->value, "1");
	}
	ck_assert(found);
	found = false;
	for (i = 0; i < p->n_php_admin_values; i++) {
		const struct conf_kv *kv = &p->php_admin_values[i];
		if (strcmp(kv->key, "default_charset") == 0) {
			ck_assert_str_eq(kv->value, "ISO-8859-1");
			found = true;
		}
		if (strcmp(kv->key, "html_errors") == 0)
			ck_assert_str_eq(kv->value, "0");
	}
	ck_assert(found);
	ck_assert_str_eq(p->status_path, "/status");
	ck_assert_str_eq(p->ping_path, "/ping");
	ck_assert_str_eq(p->ping_response, "pong");
	xasprintf(&path, "%s/log/full.access.log", dir);
	ck_assert_str_eq(p->access_log, path);
	free(path);
	ck_assert_str_eq(p->access_format,
	    "%R - %u %t \"%m %r%Q%q\" %s %f %{mili}d %{kilo}M %C%%");
	ck_assert_int_eq(p->n_access_suppress, 1);
	ck_assert_str_eq(p->access_suppress[0], "/ping");
	ck_assert_str_eq(m->name, "mini");
	ck_assert_int_eq(m->rlimit_files, 4096);
	ck_assert_int_eq(m->pm, PM_STATIC);
	ck_assert_ptr_nonnull(strstr(m->chdir, "/www"));
	conf_free(c);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The command line: pfpm --convert-fpm's output and exit status. */

static int
run_pfpm(const char *const *args, char **stdout_text, char **stderr_text)
{
	char *outp, *errp, *cmd = NULL;
	int status;
	pid_t pid;
	size_t i;

	xasprintf(&outp, "%s/stdout", dir);
	xasprintf(&errp, "%s/stderr", dir);
	if ((pid = fork()) == 0) {
		const char *argv[16];
		argv[0] = "pfpm";
		for (i = 0; args[i] != NULL && i < 14; i++)
			argv[i + 1] = args[i];
		argv[i + 1] = NULL;
		freopen(outp, "w", stdout);
		freopen(errp, "w", stderr);
		xasprintf(&cmd, "%s/src/pfpm", BUILD_DIR);
		execv(cmd, (char *const *)argv);
		_exit(127);
	}
	ck_assert_int_ne(waitpid(pid, &status, 0), -1);
	for (i = 0; i < 2; i++) {
		FILE *f = fopen(i == 0 ? outp : errp, "r");
		char buf[65536];
		size_t n = f != NULL ? fread(buf, 1, sizeof buf - 1, f) : 0;
		buf[n] = '\0';
		if (f != NULL)
			fclose(f);
		*(i == 0 ? stdout_text : stderr_text) = xstrdup(buf);
	}
	unlink(outp);
	unlink(errp);
	free(outp);
	free(errp);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

START_TEST(test_cli)
{
	const char *conf, *missing, *broken, *dropping;
	char *so, *se, *want;

	if (access(BUILD_DIR "/src/pfpm", X_OK) == -1)
		return;		/* not built yet */
	conf = put("ok.conf", "[www]\nlisten = /run/www.sock\n");
	missing = put("missing.conf", "[global]\ninclude = /nonexistent/x.conf\n");
	broken = put("broken.conf", "[global]\npid = /x.pid\n\n[www\n");
	dropping = put("drop.conf", "[www]\nlisten = /run/w.sock\nchroot = /srv\n");

	ck_assert_int_eq(run_pfpm((const char *[]){ "--convert-fpm", conf, NULL },
	    &so, &se), 0);
	ck_assert_ptr_nonnull(strstr(so, "    listen = /run/www.sock\n}"));
	ck_assert_str_eq(se, "");
	free(so);
	free(se);

	ck_assert_int_eq(run_pfpm((const char *[]){ "--convert-fpm", dropping, NULL },
	    &so, &se), 1);
	ck_assert_ptr_nonnull(strstr(so, "# pfpm: cannot carry over: chroot = /srv ("));
	ck_assert_ptr_nonnull(strstr(se, "1 php-fpm directive could not be carried over"));
	free(so);
	free(se);

	ck_assert_int_eq(run_pfpm((const char *[]){ "--convert-fpm", missing, NULL },
	    &so, &se), 1);
	xasprintf(&want, "pfpm: %s:2: include: /nonexistent/x.conf: no such file\n",
	    missing);
	ck_assert_str_eq(se, want);
	ck_assert_str_eq(so, "");
	free(want);
	free(so);
	free(se);

	ck_assert_int_eq(run_pfpm((const char *[]){ "--convert-fpm", broken, NULL },
	    &so, &se), 1);
	xasprintf(&want, "pfpm: %s:4: unterminated section header\n", broken);
	ck_assert_str_eq(se, want);
	ck_assert_str_eq(so, "");
	free(want);
	free(so);
	free(se);

	ck_assert_int_eq(run_pfpm((const char *[]){ "--convert-fpm", NULL },
	    &so, &se), PFPM_EXIT_USAGE);
	free(so);
	free(se);
	ck_assert_int_eq(run_pfpm((const char *[]){ "-p", "/usr", "-t", NULL },
	    &so, &se), PFPM_EXIT_USAGE);
	free(so);
	free(se);
}
END_TEST

static Suite *
fpmconf_suite(void)
{
	Suite *s = suite_create("fpmconf");
	TCase *tc;

	tc = tcase_create("reader");
	tcase_add_loop_test(tc, test_read, 0, NELEM(reads));
	tcase_add_loop_test(tc, test_read_error, 0, NELEM(bad_reads));
	suite_add_tcase(s, tc);

	tc = tcase_create("convert");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_sections);
	tcase_add_test(tc, test_quoting);
	tcase_add_test(tc, test_values);
	tcase_add_test(tc, test_pool_and_prefix);
	tcase_add_test(tc, test_arrays);
	tcase_add_loop_test(tc, test_drop, 0, NELEM(drops));
	tcase_add_test(tc, test_status_access);
	tcase_add_test(tc, test_inert);
	tcase_add_test(tc, test_rlimits);
	tcase_add_test(tc, test_include);
	tcase_add_test(tc, test_include_missing);
	tcase_add_test(tc, test_include_nested);
	tcase_add_loop_test(tc, test_error, 0, NELEM(errors));
	tcase_add_test(tc, test_no_pool);
	tcase_add_test(tc, test_unreadable);
	tcase_add_test(tc, test_several_files);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_cli);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(fpmconf_suite());
	int failed;

	setenv("PFPM_PHP_DIR", SRC_DIR "/src/php", 1);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
