/*
 * Configuration: libconfuse in, flat typed structs out.  cfg_t never leaves
 * this file.  Every error names file, line and option and is reported
 * through the log (stderr for `pfpm -t`); parsing goes on after a semantic
 * error so that all of them are printed at once.
 */
#include "pfpm.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <confuse.h>
#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <grp.h>
#include <pwd.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RLIMIT_UNSET (-2)

/* The directory relative include() paths are resolved against. */
static char *conf_dir;
static int conf_errors;

/*
 * libconfuse miscounts lines after comments and accepts a section left
 * open at the end of a file, so it never sees our files as written: each
 * one is first copied into a memfd with its comments blanked out (line
 * breaks kept), and its braces are checked.  Messages name the real file.
 */
struct source {
	char *real;
	char *copy;		/* "/proc/self/fd/N" */
	int fd;
	int *opens;		/* lines where top-level sections open */
	size_t nopens;
	size_t used;		/* of those, taken by read_pool() */
};
static struct source *sources;
static size_t nsources;

static const char *
real_name(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < nsources; i++)
		if (strcmp(sources[i].copy, name) == 0)
			return sources[i].real;
	return name;
}

/* The line a section opened on (libconfuse knows the closing one). */
static int
open_line_of(const char *copy, int fallback)
{
	size_t i;

	for (i = 0; copy != NULL && i < nsources; i++) {
		struct source *s = &sources[i];
		if (strcmp(s->copy, copy) == 0 && s->used < s->nopens)
			return s->opens[s->used++];
	}
	return fallback;
}

static void
free_sources(void)
{
	size_t i;

	for (i = 0; i < nsources; i++) {
		close(sources[i].fd);
		free(sources[i].opens);
		free(sources[i].real);
		free(sources[i].copy);
	}
	free(sources);
	sources = NULL;
	nsources = 0;
}

/*
 * Blank comments out of text (in place), as libconfuse's lexer finds them,
 * and note where top-level sections open.
 */
static int
blank_comments(char *t, size_t len, const char *file, struct source *s)
{
	enum { NORMAL, DQ, SQ, LINE, BLOCK } st = NORMAL;
	int line = 1, depth = 0, open_line = 0;
	size_t i, line_start = 0, open_start = 0, open_end = 0;

	for (i = 0; i < len; i++) {
		char ch = t[i], next = i + 1 < len ? t[i + 1] : '\0';

		if (ch == '\n') {
			line++;
			line_start = i + 1;
		}
		switch (st) {
		case NORMAL:
			if (ch == '"')
				st = DQ;
			else if (ch == '\'')
				st = SQ;
			else if (ch == '#' || (ch == '/' && next == '/'))
				st = LINE;
			else if (ch == '/' && next == '*') {
				st = BLOCK;
				t[i++] = ' ';
				t[i] = ' ';
				continue;
			} else if (ch == '{') {
				if (depth++ == 0) {
					open_line = line;
					open_start = line_start;
					open_end = i + 1;
					s->opens = xreallocarray(s->opens,
					    s->nopens + 1, sizeof *s->opens);
					s->opens[s->nopens++] = line;
				}
			} else if (ch == '}' && depth > 0)
				depth--;
			break;
		case DQ:
		case SQ:
			if (ch == '\\' && next != '\0')
				i++;
			else if (ch == (st == DQ ? '"' : '\''))
				st = NORMAL;
			break;
		case LINE:
			if (ch == '\n')
				st = NORMAL;
			break;
		case BLOCK:
			if (ch == '*' && next == '/') {
				t[i++] = ' ';
				t[i] = ' ';
				st = NORMAL;
				continue;
			}
			break;
		}
		if ((st == LINE || st == BLOCK) && ch != '\n')
			t[i] = ' ';
	}
	if (depth > 0) {
		log_error("%s:%d: '%.*s' is never closed (missing '}')", file,
		    open_line, (int)(open_end - open_start), t + open_start);
		conf_errors++;
		return -1;
	}
	return 0;
}

/* The memfd copy of a file to hand to libconfuse; NULL after reporting. */
static const char *
source_copy(const char *real, cfg_t *cfg)
{
	struct source *s;
	FILE *f;
	char *text = NULL;
	size_t len = 0, n;
	char buf[8192];
	int fd;

	if ((f = fopen(real, "r")) == NULL) {
		if (cfg != NULL)
			cfg_error(cfg, "include: %s: %s", real, strerror(errno));
		else
			log_error("%s: cannot read configuration: %s", real,
			    strerror(errno));
		return NULL;
	}
	while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
		text = xreallocarray(text, len + n + 1, 1);
		memcpy(text + len, buf, n);
		len += n;
	}
	fclose(f);
	sources = xreallocarray(sources, nsources + 1, sizeof *sources);
	s = &sources[nsources];
	memset(s, 0, sizeof *s);
	if (blank_comments(text != NULL ? text : (char *)"", len, real, s) == -1 ||
	    (fd = memfd_create("pfpm-conf", MFD_CLOEXEC)) == -1 ||
	    (len > 0 && write(fd, text, len) != (ssize_t)len)) {
		free(s->opens);
		free(text);
		return NULL;
	}
	free(text);
	nsources++;
	s->real = xstrdup(real);
	s->fd = fd;
	xasprintf(&s->copy, "/proc/self/fd/%d", fd);
	return s->copy;
}

static void
conf_errfunc(cfg_t *cfg, const char *fmt, va_list ap)
{
	char msg[1024];

	/*
	 * libconfuse 3.3 looks a free-form key up before adding it to a
	 * CFGF_KEYSTRVAL section (php_value { ... }) and reports the miss.
	 */
	if (cfg != NULL && (cfg->flags & CFGF_KEYSTRVAL) &&
	    strncmp(fmt, "no such option", 14) == 0)
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	conf_errors++;
	if (cfg != NULL && cfg->filename != NULL && cfg->line > 0)
		log_error("%s:%d: %s", real_name(cfg->filename), cfg->line, msg);
	else if (cfg != NULL && cfg->filename != NULL)
		log_error("%s: %s", real_name(cfg->filename), msg);
	else
		log_error("%s", msg);
}

/* Sizes: plain bytes or with a K, M or G suffix. */
int
conf_parse_size(const char *s, int64_t *out)
{
	char *end;
	long long v;
	int64_t mul = 1;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || errno != 0 || v < 0)
		return -1;
	switch (toupper((unsigned char)*end)) {
	case '\0':
		break;
	case 'K':
		mul = 1024;
		end++;
		break;
	case 'M':
		mul = 1024 * 1024;
		end++;
		break;
	case 'G':
		mul = 1024 * 1024 * 1024;
		end++;
		break;
	default:
		return -1;
	}
	if (toupper((unsigned char)*end) == 'B')
		end++;
	if (*end != '\0' || v > INT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

/* Durations in milliseconds: "30" and "30s" are seconds (php-fpm), "ms", "m", "h". */
int
conf_parse_duration(const char *s, int64_t *out)
{
	char *end;
	long long v;
	int64_t mul;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || errno != 0 || v < 0)
		return -1;
	if (*end == '\0' || strcmp(end, "s") == 0)
		mul = 1000;
	else if (strcmp(end, "ms") == 0)
		mul = 1;
	else if (strcmp(end, "m") == 0)
		mul = 60 * 1000;
	else if (strcmp(end, "h") == 0)
		mul = 3600 * 1000;
	else
		return -1;
	if (v > INT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

/*
 * listen: "/path.sock", "9000", "127.0.0.1:9000", "[::1]:9000", "[::]:9000",
 * "*:9000" (any IPv4), as php-fpm accepts them.
 */
int
conf_parse_listen(const char *s, struct conf_listen *l, char **cause)
{
	const char *colon, *portstr;
	char *end, *host = NULL;
	long port;
	unsigned char buf[sizeof(struct in6_addr)];

	memset(l, 0, sizeof *l);
	if (*s == '\0') {
		xasprintf(cause, "empty address");
		return -1;
	}
	if (*s == '/') {
		if (strlen(s) >= 108) {
			xasprintf(cause, "unix socket path too long: %s", s);
			return -1;
		}
		l->family = AF_UNIX;
		l->path = xstrdup(s);
		return 0;
	}
	if (*s == '[') {
		const char *rb = strchr(s, ']');
		if (rb == NULL || rb[1] != ':') {
			xasprintf(cause, "bad IPv6 address, expected [addr]:port: %s", s);
			return -1;
		}
		host = xstrndup(s + 1, (size_t)(rb - s - 1));
		portstr = rb + 2;
		l->family = AF_INET6;
		if (inet_pton(AF_INET6, host, buf) != 1) {
			xasprintf(cause, "bad IPv6 address: %s", host);
			free(host);
			return -1;
		}
	} else if ((colon = strrchr(s, ':')) != NULL) {
		host = xstrndup(s, (size_t)(colon - s));
		portstr = colon + 1;
		l->family = AF_INET;
		if (strcmp(host, "*") == 0 || *host == '\0') {
			free(host);
			host = NULL;
		} else if (inet_pton(AF_INET, host, buf) != 1) {
			if (strcmp(host, "localhost") == 0) {
				free(host);
				host = xstrdup("127.0.0.1");
			} else {
				xasprintf(cause, "bad IPv4 address: %s", host);
				free(host);
				return -1;
			}
		}
	} else {
		/* A bare port: every address, IPv6 and IPv4, as php-fpm does. */
		portstr = s;
		l->family = AF_INET6;
	}
	errno = 0;
	port = strtol(portstr, &end, 10);
	if (*portstr == '\0' || *end != '\0' || errno != 0 || port < 1 ||
	    port > 65535) {
		xasprintf(cause, "bad port in %s", s);
		free(host);
		return -1;
	}
	l->host = host;
	l->port = (int)port;
	return 0;
}

/*
 * task_queue: "sqlite:/path/to/file.db" or
 * "redis://[:password@]host[:port][/db]" (port 6379 and db 0 by default).
 */
int
conf_parse_taskq(const char *s, struct taskq_url *u, char **cause)
{
	const char *p, *at, *slash, *colon, *hostend;
	char *end;
	long v;

	memset(u, 0, sizeof *u);
	if (strncmp(s, "sqlite:", 7) == 0) {
		u->kind = TASKQ_SQLITE;
		if (s[7] != '/') {
			xasprintf(cause, "'%s': the SQLite path must be absolute (sqlite:/var/lib/pfpm/POOL.db)",
			    s);
			return -1;
		}
		u->path = xstrdup(s + 7);
		return 0;
	}
	if (strncmp(s, "redis://", 8) != 0) {
		xasprintf(cause, "'%s' is neither sqlite:/path nor redis://host:port/db",
		    s);
		return -1;
	}
	u->kind = TASKQ_REDIS;
	u->port = 6379;
	p = s + 8;
	slash = strchr(p, '/');
	at = strchr(p, '@');
	if (at != NULL && (slash == NULL || at < slash)) {
		if (*p == ':')
			p++;	/* redis://:password@host: no user name */
		u->password = xstrndup(p, (size_t)(at - p));
		p = at + 1;
	}
	hostend = slash != NULL ? slash : p + strlen(p);
	colon = memchr(p, ':', (size_t)(hostend - p));
	u->host = xstrndup(p, (size_t)((colon != NULL ? colon : hostend) - p));
	if (*u->host == '\0') {
		xasprintf(cause, "'%s': no host", s);
		goto fail;
	}
	if (colon != NULL) {
		errno = 0;
		v = strtol(colon + 1, &end, 10);
		if (end != hostend || colon + 1 == hostend || errno != 0 ||
		    v < 1 || v > 65535) {
			xasprintf(cause, "'%s': bad port", s);
			goto fail;
		}
		u->port = (int)v;
	}
	if (slash != NULL && slash[1] != '\0') {
		errno = 0;
		v = strtol(slash + 1, &end, 10);
		if (*end != '\0' || errno != 0 || v < 0 || v > 65535) {
			xasprintf(cause, "'%s': bad database number", s);
			goto fail;
		}
		u->db = (int)v;
	}
	return 0;
fail:
	conf_taskq_free(u);
	return -1;
}

void
conf_taskq_free(struct taskq_url *u)
{
	free(u->path);
	free(u->host);
	free(u->password);
	memset(u, 0, sizeof *u);
}

/* libconfuse callbacks for typed values; errors carry file:line. */
static int
cb_duration(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	int64_t ms;

	if (conf_parse_duration(value, &ms) == -1 || ms > INT32_MAX * 1000LL) {
		cfg_error(cfg, "option '%s': invalid duration '%s' (use e.g. 30s, 500ms, 5m)",
		    cfg_opt_name(opt), value);
		*(long int *)result = 0;
		return 0;	/* reported; parsing goes on to find the others */
	}
	*(long int *)result = (long int)ms;
	return 0;
}

static int
cb_size(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	int64_t bytes;

	if (conf_parse_size(value, &bytes) == -1) {
		cfg_error(cfg, "option '%s': invalid size '%s' (use e.g. 128M, 1G)",
		    cfg_opt_name(opt), value);
		*(long int *)result = 0;
		return 0;	/* reported; parsing goes on to find the others */
	}
	*(long int *)result = (long int)bytes;
	return 0;
}

static int
cb_mode(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(value, &end, 8);
	if (*value == '\0' || *end != '\0' || errno != 0 || v < 0 || v > 07777) {
		cfg_error(cfg, "option '%s': invalid octal mode '%s'",
		    cfg_opt_name(opt), value);
		*(long int *)result = 0;
		return 0;	/* reported; parsing goes on to find the others */
	}
	*(long int *)result = v;
	return 0;
}

static int
cb_pm(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	if (strcmp(value, "static") == 0)
		*(long int *)result = PM_STATIC;
	else if (strcmp(value, "dynamic") == 0)
		*(long int *)result = PM_DYNAMIC;
	else if (strcmp(value, "ondemand") == 0)
		*(long int *)result = PM_ONDEMAND;
	else {
		cfg_error(cfg, "option '%s': '%s' is not one of static, dynamic, ondemand",
		    cfg_opt_name(opt), value);
		*(long int *)result = 0;
		return 0;	/* reported; parsing goes on to find the others */
	}
	return 0;
}

static int
cb_rlimit(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	char *end;
	long v;

	if (strcmp(value, "unlimited") == 0) {
		*(long int *)result = -1;
		return 0;
	}
	errno = 0;
	v = strtol(value, &end, 10);
	if (*value == '\0' || *end != '\0' || errno != 0 || v < 0 || v > INT_MAX) {
		cfg_error(cfg, "option '%s': '%s' is not a number or 'unlimited'",
		    cfg_opt_name(opt), value);
		*(long int *)result = 0;
		return 0;	/* reported; parsing goes on to find the others */
	}
	*(long int *)result = v;
	return 0;
}

/* Integer ranges, checked as each value is parsed. */
static const struct {
	const char *name;
	long min;
	long max;
} int_ranges[] = {
	{ "pm.max_children", 1, 100000 },
	{ "pm.start_servers", 0, 100000 },
	{ "pm.min_spare_servers", 0, 100000 },
	{ "pm.max_spare_servers", 0, 100000 },
	{ "pm.max_spawn_rate", 1, 100000 },
	{ "pm.max_requests", 0, INT_MAX },
	{ "request_slowlog_trace_depth", 1, 1000 },
	{ "listen.backlog", -1, 65535 },
	{ "emergency_restart_threshold", 0, 100000 },
	{ "process.max", 0, 1000000 },
	{ "task_workers", 0, 10000 },
	{ "task_queue_max", 1, INT_MAX },
	{ "task.max_requests", 0, INT_MAX },
	{ "count", 1, 10000 },
};

/* The range of an integer directive; false if it has none. */
bool
conf_int_range(const char *name, long *min, long *max)
{
	size_t i;

	for (i = 0; i < sizeof int_ranges / sizeof int_ranges[0]; i++) {
		if (strcmp(int_ranges[i].name, name) == 0) {
			*min = int_ranges[i].min;
			*max = int_ranges[i].max;
			return true;
		}
	}
	return false;
}

static int
validate_int(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *name = cfg_opt_name(opt);
	long v = cfg_opt_getnint(opt, cfg_opt_size(opt) - 1);
	size_t i;

	for (i = 0; i < sizeof int_ranges / sizeof int_ranges[0]; i++) {
		if (strcmp(int_ranges[i].name, name) != 0)
			continue;
		if (v < int_ranges[i].min || v > int_ranges[i].max) {
			cfg_error(cfg, "option '%s': %ld is out of range (%ld..%ld)",
			    name, v, int_ranges[i].min, int_ranges[i].max);
			return 0;	/* reported; go on */
		}
	}
	return 0;
}

static int
validate_log_level(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v = cfg_opt_getnstr(opt, 0);

	if (log_parse_level(v) == -1) {
		cfg_error(cfg, "option 'log_level': '%s' is not one of alert, error, warning, notice, debug", v);
		return 0;	/* reported; go on */
	}
	return 0;
}

static int
validate_readable(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v = cfg_opt_getnstr(opt, 0);

	if (v != NULL && *v != '\0' && access(v, R_OK) == -1) {
		cfg_error(cfg, "option '%s': cannot read '%s': %s",
		    cfg_opt_name(opt), v, strerror(errno));
		return 0;	/* reported; go on */
	}
	return 0;
}

static int
validate_listen(cfg_t *cfg, cfg_opt_t *opt)
{
	struct conf_listen l;
	char *cause = NULL;
	const char *v = cfg_opt_getnstr(opt, 0);

	if (conf_parse_listen(v, &l, &cause) == -1) {
		cfg_error(cfg, "option 'listen': %s", cause);
		free(cause);
		return 0;	/* reported; go on */
	}
	free(l.path);
	free(l.host);
	return 0;
}

static int
validate_env(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v = cfg_opt_getnstr(opt, cfg_opt_size(opt) - 1);
	const char *eq = strchr(v, '=');

	if (eq == NULL || eq == v) {
		cfg_error(cfg, "option 'env': '%s' is not NAME=value", v);
		return 0;	/* reported; go on */
	}
	return 0;
}

/* pm.status_path, ping.path: php-fpm's rules. */
static int
validate_url_path(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v = cfg_opt_getnstr(opt, 0), *name = cfg_opt_name(opt);
	size_t i;

	if (v == NULL || *v == '\0')
		return 0;
	if (*v != '/')
		cfg_error(cfg, "option '%s': '%s' must start with a '/'", name, v);
	else if (strlen(v) < 2)
		cfg_error(cfg, "option '%s': '%s' is not long enough", name, v);
	else {
		for (i = 0; v[i] != '\0'; i++) {
			if (!isalnum((unsigned char)v[i]) &&
			    strchr("/_-.~", v[i]) == NULL) {
				cfg_error(cfg, "option '%s': '%s' must contain only the following characters '[alphanum]/_-.~'",
				    name, v);
				break;
			}
		}
	}
	return 0;	/* reported; go on */
}

static int
validate_taskq(cfg_t *cfg, cfg_opt_t *opt)
{
	struct taskq_url u;
	char *cause = NULL;

	if (conf_parse_taskq(cfg_opt_getnstr(opt, 0), &u, &cause) == -1) {
		cfg_error(cfg, "option '%s': %s", cfg_opt_name(opt), cause);
		free(cause);
		return 0;	/* reported; go on */
	}
	conf_taskq_free(&u);
	return 0;
}

static int
validate_nonempty(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v = cfg_opt_getnstr(opt, 0);

	if (v == NULL || *v == '\0')
		cfg_error(cfg, "option '%s' must not be empty", cfg_opt_name(opt));
	return 0;	/* reported; go on */
}

static int
validate_access_format(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v = cfg_opt_getnstr(opt, 0);
	char *cause = NULL;

	if (v != NULL && accesslog_check(v, &cause) == -1) {
		cfg_error(cfg, "option 'access.format': %s in '%s'", cause, v);
		free(cause);
	}
	return 0;	/* reported; go on */
}

/* include("pool.d/NAME.conf"), with glob patterns, relative to the main file. */
static int
cb_include(cfg_t *cfg, cfg_opt_t *opt, int argc, const char **argv)
{
	glob_t g;
	char *pattern;
	int rc;
	size_t i;

	if (argc != 1) {
		cfg_error(cfg, "include() takes one argument, a file or a glob pattern");
		return -1;
	}
	if (argv[0][0] == '/')
		pattern = xstrdup(argv[0]);
	else
		xasprintf(&pattern, "%s/%s", conf_dir, argv[0]);
	rc = glob(pattern, GLOB_ERR, NULL, &g);
	if (rc == GLOB_ABORTED && strpbrk(argv[0], "*?[") != NULL) {
		globfree(&g);
		rc = GLOB_NOMATCH;
	}
	if (rc == GLOB_NOMATCH) {
		if (strpbrk(argv[0], "*?[") == NULL) {
			cfg_error(cfg, "include: %s: no such file", pattern);
			free(pattern);
			return -1;
		}
		log_warn("%s:%d: include: nothing matches '%s'",
		    real_name(cfg->filename), cfg->line, pattern);
		free(pattern);
		return 0;
	}
	if (rc != 0) {
		cfg_error(cfg, "include: cannot read '%s'", pattern);
		free(pattern);
		return -1;
	}
	free(pattern);
	/* The lexer stacks includes: push in reverse to parse in order. */
	for (i = g.gl_pathc; i > 0; i--) {
		const char *path = g.gl_pathv[i - 1];
		struct stat st;

		if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
			if (strpbrk(argv[0], "*?[") != NULL)
				continue;	/* a glob may match directories */
			cfg_error(cfg, "include: %s is not a file", path);
			globfree(&g);
			return -1;
		}
		if ((path = source_copy(path, cfg)) == NULL ||
		    cfg_include(cfg, opt, 1, &path) != 0) {
			globfree(&g);
			return -1;
		}
	}
	globfree(&g);
	return 0;
}

static cfg_opt_t kv_opts[] = {
	CFG_END()
};

/* process NAME { class = "..."  count = 1  restart_interval = 5s } */
static cfg_opt_t process_opts[] = {
	CFG_STR("class", NULL, CFGF_NODEFAULT),
	CFG_INT("count", 1, CFGF_NONE),
	CFG_INT_CB("restart_interval", 5000, CFGF_NONE, cb_duration),
	CFG_END()
};

static cfg_opt_t pool_opts[] = {
	CFG_STR("listen", NULL, CFGF_NODEFAULT),
	CFG_STR("listen.owner", NULL, CFGF_NONE),
	CFG_STR("listen.group", NULL, CFGF_NONE),
	CFG_INT_CB("listen.mode", 0660, CFGF_NONE, cb_mode),
	CFG_INT("listen.backlog", -1, CFGF_NONE),
	CFG_STR("listen.allowed_clients", NULL, CFGF_NONE),
	CFG_STR("user", NULL, CFGF_NONE),
	CFG_STR("group", NULL, CFGF_NONE),
	CFG_STR("chdir", NULL, CFGF_NONE),
	CFG_STR("chroot", NULL, CFGF_NONE),
	CFG_INT_CB("pm", PM_DYNAMIC, CFGF_NONE, cb_pm),
	CFG_INT("pm.max_children", 5, CFGF_NONE),
	CFG_INT("pm.start_servers", 0, CFGF_NONE),
	CFG_INT("pm.min_spare_servers", 1, CFGF_NONE),
	CFG_INT("pm.max_spare_servers", 3, CFGF_NONE),
	CFG_INT("pm.max_spawn_rate", 32, CFGF_NONE),
	CFG_INT_CB("pm.process_idle_timeout", 10000, CFGF_NONE, cb_duration),
	CFG_INT("pm.max_requests", 0, CFGF_NONE),
	CFG_INT_CB("request_terminate_timeout", 0, CFGF_NONE, cb_duration),
	CFG_BOOL("request_terminate_timeout_track_finished", cfg_false, CFGF_NONE),
	CFG_STR("slowlog", NULL, CFGF_NONE),
	CFG_INT_CB("request_slowlog_timeout", 0, CFGF_NONE, cb_duration),
	CFG_INT("request_slowlog_trace_depth", 20, CFGF_NONE),
	CFG_BOOL("clear_env", cfg_true, CFGF_NONE),
	CFG_STR_LIST("env", NULL, CFGF_NONE),
	CFG_SEC("php_value", kv_opts, CFGF_KEYSTRVAL),
	CFG_SEC("php_admin_value", kv_opts, CFGF_KEYSTRVAL),
	CFG_SEC("php_flag", kv_opts, CFGF_KEYSTRVAL),
	CFG_SEC("php_admin_flag", kv_opts, CFGF_KEYSTRVAL),
	CFG_BOOL("fastcgi.allow_php_value", cfg_false, CFGF_NONE),
	CFG_STR("security.limit_extensions", ".php .phar", CFGF_NONE),
	CFG_BOOL("catch_workers_output", cfg_false, CFGF_NONE),
	CFG_BOOL("decorate_workers_output", cfg_true, CFGF_NONE),
	CFG_INT_CB("rlimit_files", RLIMIT_UNSET, CFGF_NONE, cb_rlimit),
	CFG_INT_CB("rlimit_core", RLIMIT_UNSET, CFGF_NONE, cb_rlimit),
	CFG_BOOL("process.dumpable", cfg_false, CFGF_NONE),
	CFG_STR("worker", NULL, CFGF_NONE),
	CFG_STR("app_root", NULL, CFGF_NONE),
	CFG_INT_CB("worker.max_memory", 0, CFGF_NONE, cb_size),
	CFG_INT("task_workers", 0, CFGF_NONE),
	CFG_STR("task_queue", NULL, CFGF_NONE),
	CFG_INT_CB("task_max_payload", 1024 * 1024, CFGF_NONE, cb_size),
	CFG_INT("task_queue_max", 100000, CFGF_NONE),
	CFG_INT("task.max_requests", 0, CFGF_NONE),
	CFG_INT_CB("task.backoff", 1000, CFGF_NONE, cb_duration),
	CFG_INT_CB("task.lease", 30000, CFGF_NONE, cb_duration),
	CFG_BOOL("timer", cfg_false, CFGF_NONE),
	CFG_BOOL("timer.global_lock", cfg_false, CFGF_NONE),
	CFG_INT_CB("timer.lock_lease", 5000, CFGF_NONE, cb_duration),
	CFG_SEC("process", process_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	CFG_STR("pm.status_path", NULL, CFGF_NONE),
	CFG_STR("ping.path", NULL, CFGF_NONE),
	CFG_STR("ping.response", NULL, CFGF_NONE),
	CFG_STR("access.log", NULL, CFGF_NONE),
	CFG_STR("access.format", NULL, CFGF_NONE),
	CFG_STR_LIST("access.suppress_path", NULL, CFGF_NONE),
	CFG_FUNC("include", cb_include),
	CFG_END()
};

static cfg_opt_t main_opts[] = {
	CFG_STR("pid", NULL, CFGF_NONE),
	CFG_STR("error_log", NULL, CFGF_NONE),
	CFG_STR("log_level", "notice", CFGF_NONE),
	CFG_STR("php_ini", NULL, CFGF_NONE),
	CFG_BOOL("daemonize", cfg_true, CFGF_NONE),
	CFG_INT("emergency_restart_threshold", 0, CFGF_NONE),
	CFG_INT_CB("emergency_restart_interval", 0, CFGF_NONE, cb_duration),
	CFG_INT_CB("process_control_timeout", 10000, CFGF_NONE, cb_duration),
	CFG_INT("process.max", 0, CFGF_NONE),
	CFG_STR("watch", NULL, CFGF_NONE),
	CFG_STR("state_dir", LOCALSTATEDIR "/lib/pfpm", CFGF_NONE),
	CFG_SEC("pool", pool_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	CFG_FUNC("include", cb_include),
	CFG_END()
};

static char *
dup_or_null(const char *s)
{
	return s != NULL && *s != '\0' ? xstrdup(s) : NULL;
}

/* A file path of the global section, relative to the main file's directory. */
static char *
dup_path(const char *s)
{
	char *p;

	if (s == NULL || *s == '\0')
		return NULL;
	if (*s == '/' || strcmp(s, "syslog") == 0 || strcmp(s, "stderr") == 0 ||
	    strcmp(s, "journal") == 0)
		return xstrdup(s);
	xasprintf(&p, "%s/%s", conf_dir, s);
	return p;
}

/* A file path of a pool, relative to the main file's directory. */
static char *
conf_relative(const char *s)
{
	char *p;

	if (s == NULL || *s == '\0')
		return NULL;
	if (*s == '/')
		return xstrdup(s);
	xasprintf(&p, "%s/%s", conf_dir, s);
	return p;
}

/* Split "a b,c" into an array of words. */
static char **
split_words(const char *s, size_t *n)
{
	char **v = NULL, *copy, *tok, *save;

	*n = 0;
	if (s == NULL)
		return NULL;
	copy = xstrdup(s);
	for (tok = strtok_r(copy, " ,\t", &save); tok != NULL;
	    tok = strtok_r(NULL, " ,\t", &save)) {
		v = xreallocarray(v, *n + 1, sizeof *v);
		v[(*n)++] = xstrdup(tok);
	}
	free(copy);
	return v;
}

static struct conf_kv *
read_kv(cfg_t *sec, struct conf_kv *kv, size_t *n, bool flag)
{
	unsigned int i, count;

	if (sec == NULL)
		return kv;
	count = cfg_num(sec);
	for (i = 0; i < count; i++) {
		cfg_opt_t *o = cfg_getnopt(sec, i);
		const char *v = cfg_opt_getnstr(o, 0);

		kv = xreallocarray(kv, *n + 1, sizeof *kv);
		kv[*n].key = xstrdup(cfg_opt_name(o));
		if (flag) {
			bool on = strcasecmp(v, "on") == 0 ||
			    strcasecmp(v, "yes") == 0 ||
			    strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0;
			kv[*n].value = xstrdup(on ? "1" : "0");
		} else
			kv[*n].value = xstrdup(v != NULL ? v : "");
		(*n)++;
	}
	return kv;
}

#define POOL_ERR(p, ...) do {						\
	char *m_;							\
	xasprintf(&m_, __VA_ARGS__);					\
	log_error("%s:%d: [pool %s] %s", (p)->file, (p)->line, (p)->name, m_); \
	free(m_);							\
	conf_errors++;							\
} while (0)

/* Cross-option checks that need the whole pool (php-fpm's rules). */
static void
check_pool(struct pool_conf *p)
{
	if (p->listen == NULL) {
		POOL_ERR(p, "option 'listen' is required");
		return;
	}
	if (p->pm == PM_DYNAMIC) {
		if (p->min_spare_servers < 1)
			POOL_ERR(p, "option 'pm.min_spare_servers' (%d) must be positive",
			    p->min_spare_servers);
		if (p->max_spare_servers < 1)
			POOL_ERR(p, "option 'pm.max_spare_servers' (%d) must be positive",
			    p->max_spare_servers);
		if (p->min_spare_servers > p->max_spare_servers)
			POOL_ERR(p, "option 'pm.min_spare_servers' (%d) must not exceed pm.max_spare_servers (%d)",
			    p->min_spare_servers, p->max_spare_servers);
		if (p->max_spare_servers > p->max_children)
			POOL_ERR(p, "option 'pm.max_spare_servers' (%d) must not exceed pm.max_children (%d)",
			    p->max_spare_servers, p->max_children);
		if (p->start_servers == 0)
			p->start_servers = p->min_spare_servers +
			    (p->max_spare_servers - p->min_spare_servers) / 2;
		if (p->start_servers < p->min_spare_servers ||
		    p->start_servers > p->max_spare_servers)
			POOL_ERR(p, "option 'pm.start_servers' (%d) must be between pm.min_spare_servers (%d) and pm.max_spare_servers (%d)",
			    p->start_servers, p->min_spare_servers,
			    p->max_spare_servers);
	}
	for (size_t i = 0; i < p->n_allowed_clients; i++) {
		unsigned char a[sizeof(struct in6_addr)];
		const char *v = p->allowed_clients[i];
		if (strcmp(v, "any") != 0 && inet_pton(AF_INET, v, a) != 1 &&
		    inet_pton(AF_INET6, v, a) != 1)
			POOL_ERR(p, "option 'listen.allowed_clients': '%s' is not an IPv4 or IPv6 address",
			    v);
	}
	if (p->request_slowlog_timeout_ms > 0 && p->slowlog == NULL)
		POOL_ERR(p, "option 'request_slowlog_timeout' needs 'slowlog' (a file)");
	if (p->pm == PM_ONDEMAND && p->process_idle_timeout_ms <= 0)
		POOL_ERR(p, "option 'pm.process_idle_timeout' must be positive");
	if (p->pm == PM_STATIC)
		p->start_servers = p->max_children;
	if (p->pm == PM_ONDEMAND)
		p->start_servers = 0;
	if (p->group != NULL && p->user == NULL)
		POOL_ERR(p, "option 'group' needs 'user' too");
	if (p->user != NULL && getpwnam(p->user) == NULL)
		POOL_ERR(p, "option 'user': no such user '%s'", p->user);
	if (p->group != NULL && getgrnam(p->group) == NULL)
		POOL_ERR(p, "option 'group': no such group '%s'", p->group);
	if (p->listen_owner != NULL && getpwnam(p->listen_owner) == NULL)
		POOL_ERR(p, "option 'listen.owner': no such user '%s'",
		    p->listen_owner);
	if (p->listen_group != NULL && getgrnam(p->listen_group) == NULL)
		POOL_ERR(p, "option 'listen.group': no such group '%s'",
		    p->listen_group);
	if (p->worker_script != NULL && access(p->worker_script, R_OK) == -1)
		POOL_ERR(p, "option 'worker': cannot read '%s': %s",
		    p->worker_script, strerror(errno));
	if (p->worker != NULL && strcmp(p->worker, "laravel") == 0) {
		if (p->app_root == NULL)
			POOL_ERR(p, "option 'app_root' is required with worker = laravel");
		else if (access(p->app_root, R_OK | X_OK) == -1)
			POOL_ERR(p, "option 'app_root': cannot read '%s': %s",
			    p->app_root, strerror(errno));
	}
	if (p->chroot != NULL && (p->chroot[0] != '/' ||
	    access(p->chroot, X_OK) == -1))
		POOL_ERR(p, "option 'chroot': '%s' is not an absolute path to a directory",
		    p->chroot);
	if (p->chdir != NULL && p->chdir[0] != '/')
		POOL_ERR(p, "option 'chdir': '%s' is not an absolute path", p->chdir);
	if (p->worker == NULL) {
		if (p->task_workers > 0)
			POOL_ERR(p, "option 'task_workers' needs worker mode (option 'worker')");
		if (p->timer)
			POOL_ERR(p, "option 'timer' needs worker mode (option 'worker')");
		if (p->n_processes > 0)
			POOL_ERR(p, "section 'process %s' needs worker mode (option 'worker')",
			    p->processes[0].name);
	}
	if (p->timer_global_lock && (!p->timer || p->task_queue == NULL ||
	    p->taskq.kind != TASKQ_REDIS))
		POOL_ERR(p, "option 'timer.global_lock' needs 'timer = on' and a Redis 'task_queue' (redis://host:port/db)");
	if (p->task_max_payload < 1 || p->task_max_payload > 64 * 1024 * 1024)
		POOL_ERR(p, "option 'task_max_payload' must be between 1 and 64M");
	for (size_t i = 0; i < p->n_processes; i++)
		if (p->processes[i].class_name == NULL ||
		    *p->processes[i].class_name == '\0')
			log_error("%s:%d: [pool %s] process %s: option 'class' is required",
			    p->file, p->processes[i].line, p->name,
			    p->processes[i].name), conf_errors++;
	for (size_t i = 0; i < p->n_access_suppress; i++)
		if (p->access_suppress[i][0] != '/')
			POOL_ERR(p, "option 'access.suppress_path': '%s' must start with a '/'",
			    p->access_suppress[i]);
}

/*
 * The script a worker-mode pool runs: "laravel" is the adapter, found in
 * $PFPM_PHP_DIR (read here, in the master: workers clear their environment).
 */
static char *
worker_script(const char *worker)
{
	const char *dir = getenv("PFPM_PHP_DIR");
	char *path;

	if (worker == NULL)
		return NULL;
	if (strcmp(worker, "laravel") != 0)
		return xstrdup(worker);
	xasprintf(&path, "%s/laravel-worker.php", dir != NULL && *dir != '\0' ?
	    dir : PFPM_PHP_DIR);
	return path;
}

static struct pool_conf *
read_pool(cfg_t *sec)
{
	struct pool_conf *p = xcalloc(1, sizeof *p);
	char *cause = NULL;
	unsigned int i;

	p->name = xstrdup(cfg_title(sec));
	p->file = xstrdup(sec->filename != NULL ? real_name(sec->filename) : "?");
	p->line = open_line_of(sec->filename, sec->line);
	p->listen = dup_or_null(cfg_getstr(sec, "listen"));
	if (p->listen != NULL &&
	    conf_parse_listen(p->listen, &p->addr, &cause) == -1)
		free(cause);	/* already reported by validate_listen */
	p->listen_owner = dup_or_null(cfg_getstr(sec, "listen.owner"));
	p->listen_group = dup_or_null(cfg_getstr(sec, "listen.group"));
	p->listen_mode = (int)cfg_getint(sec, "listen.mode");
	p->listen_backlog = (int)cfg_getint(sec, "listen.backlog");
	p->allowed_clients = split_words(cfg_getstr(sec,
	    "listen.allowed_clients"), &p->n_allowed_clients);
	p->user = dup_or_null(cfg_getstr(sec, "user"));
	p->group = dup_or_null(cfg_getstr(sec, "group"));
	p->chdir = dup_or_null(cfg_getstr(sec, "chdir"));
	p->chroot = dup_or_null(cfg_getstr(sec, "chroot"));
	p->pm = (enum pm_style)cfg_getint(sec, "pm");
	p->max_children = (int)cfg_getint(sec, "pm.max_children");
	p->start_servers = (int)cfg_getint(sec, "pm.start_servers");
	p->min_spare_servers = (int)cfg_getint(sec, "pm.min_spare_servers");
	p->max_spare_servers = (int)cfg_getint(sec, "pm.max_spare_servers");
	p->max_spawn_rate = (int)cfg_getint(sec, "pm.max_spawn_rate");
	p->process_idle_timeout_ms = cfg_getint(sec, "pm.process_idle_timeout");
	p->max_requests = (int)cfg_getint(sec, "pm.max_requests");
	p->request_terminate_timeout_ms = cfg_getint(sec,
	    "request_terminate_timeout");
	p->terminate_track_finished = cfg_getbool(sec,
	    "request_terminate_timeout_track_finished");
	p->slowlog = dup_or_null(cfg_getstr(sec, "slowlog"));
	p->request_slowlog_timeout_ms = cfg_getint(sec, "request_slowlog_timeout");
	p->request_slowlog_trace_depth = (int)cfg_getint(sec,
	    "request_slowlog_trace_depth");
	p->clear_env = cfg_getbool(sec, "clear_env");
	for (i = 0; i < cfg_size(sec, "env"); i++) {
		p->env = xreallocarray(p->env, p->n_env + 1, sizeof *p->env);
		p->env[p->n_env++] = xstrdup(cfg_getnstr(sec, "env", i));
	}
	p->php_values = read_kv(cfg_getsec(sec, "php_value"), NULL,
	    &p->n_php_values, false);
	p->php_values = read_kv(cfg_getsec(sec, "php_flag"), p->php_values,
	    &p->n_php_values, true);
	p->php_admin_values = read_kv(cfg_getsec(sec, "php_admin_value"), NULL,
	    &p->n_php_admin_values, false);
	p->php_admin_values = read_kv(cfg_getsec(sec, "php_admin_flag"),
	    p->php_admin_values, &p->n_php_admin_values, true);
	p->allow_fcgi_ini = cfg_getbool(sec, "fastcgi.allow_php_value");
	p->limit_extensions = split_words(cfg_getstr(sec,
	    "security.limit_extensions"), &p->n_limit_extensions);
	p->catch_workers_output = cfg_getbool(sec, "catch_workers_output");
	p->decorate_workers_output = cfg_getbool(sec, "decorate_workers_output");
	p->rlimit_files = (int)cfg_getint(sec, "rlimit_files");
	p->rlimit_core = (int)cfg_getint(sec, "rlimit_core");
	p->dumpable = cfg_getbool(sec, "process.dumpable");
	p->worker = dup_or_null(cfg_getstr(sec, "worker"));
	p->worker_script = worker_script(p->worker);
	p->app_root = dup_or_null(cfg_getstr(sec, "app_root"));
	p->worker_max_memory = cfg_getint(sec, "worker.max_memory");
	p->task_workers = (int)cfg_getint(sec, "task_workers");
	p->task_queue = dup_or_null(cfg_getstr(sec, "task_queue"));
	if (p->task_queue != NULL &&
	    conf_parse_taskq(p->task_queue, &p->taskq, &cause) == -1)
		free(cause);	/* already reported by validate_taskq */
	p->task_max_payload = cfg_getint(sec, "task_max_payload");
	p->task_queue_max = (int)cfg_getint(sec, "task_queue_max");
	p->task_max_requests = (int)cfg_getint(sec, "task.max_requests");
	p->task_backoff_ms = cfg_getint(sec, "task.backoff");
	p->task_lease_ms = cfg_getint(sec, "task.lease");
	p->timer = cfg_getbool(sec, "timer");
	p->timer_global_lock = cfg_getbool(sec, "timer.global_lock");
	p->timer_lock_lease_ms = cfg_getint(sec, "timer.lock_lease");
	for (i = 0; i < cfg_size(sec, "process"); i++) {
		cfg_t *ps = cfg_getnsec(sec, "process", i);
		struct process_conf *pr;

		p->processes = xreallocarray(p->processes, p->n_processes + 1,
		    sizeof *p->processes);
		pr = &p->processes[p->n_processes++];
		pr->name = xstrdup(cfg_title(ps));
		pr->class_name = dup_or_null(cfg_getstr(ps, "class"));
		pr->count = (int)cfg_getint(ps, "count");
		pr->restart_interval_ms = cfg_getint(ps, "restart_interval");
		pr->line = ps->line;	/* where it closes: libconfuse knows no other */
	}
	p->status_path = dup_or_null(cfg_getstr(sec, "pm.status_path"));
	p->ping_path = dup_or_null(cfg_getstr(sec, "ping.path"));
	/* php-fpm: ping.response only matters with ping.path; "pong" by default. */
	if (p->ping_path != NULL) {
		const char *r = cfg_getstr(sec, "ping.response");
		p->ping_response = xstrdup(r != NULL && *r != '\0' ? r : "pong");
	}
	p->access_log = conf_relative(cfg_getstr(sec, "access.log"));
	p->access_format = dup_or_null(cfg_getstr(sec, "access.format"));
	for (i = 0; i < cfg_size(sec, "access.suppress_path"); i++) {
		p->access_suppress = xreallocarray(p->access_suppress,
		    p->n_access_suppress + 1, sizeof *p->access_suppress);
		p->access_suppress[p->n_access_suppress++] = xstrdup(cfg_getnstr(sec,
		    "access.suppress_path", i));
	}
	check_pool(p);
	return p;
}

static bool
is_wildcard(const char *host)
{
	return host == NULL || strcmp(host, "0.0.0.0") == 0 ||
	    strcmp(host, "::") == 0;
}

static bool
same_listen(const struct conf_listen *a, const struct conf_listen *b)
{
	/* [::]:port (dual stack) also takes IPv4's port. */
	if (a->family != b->family && a->family != AF_UNIX &&
	    b->family != AF_UNIX && a->port == b->port &&
	    ((a->family == AF_INET6 && is_wildcard(a->host)) ||
	    (b->family == AF_INET6 && is_wildcard(b->host))))
		return true;
	if (a->family != b->family)
		return false;
	if (a->family == AF_UNIX)
		return strcmp(a->path, b->path) == 0;
	if (a->port != b->port)
		return false;
	/* A wildcard address collides with any address on the same port. */
	if (is_wildcard(a->host) || is_wildcard(b->host))
		return true;
	return strcmp(a->host, b->host) == 0;
}

static void
set_validators(cfg_t *cfg)
{
	static const char *const ints[] = {
		"pool|pm.max_children", "pool|pm.start_servers",
		"pool|pm.min_spare_servers", "pool|pm.max_spare_servers",
		"pool|pm.max_spawn_rate", "pool|pm.max_requests",
		"pool|listen.backlog", "pool|request_slowlog_trace_depth",
		"emergency_restart_threshold",
		"process.max", "pool|task_workers", "pool|task_queue_max",
		"pool|task.max_requests", "pool|process|count",
	};
	size_t i;

	for (i = 0; i < sizeof ints / sizeof ints[0]; i++)
		cfg_set_validate_func(cfg, ints[i], validate_int);
	cfg_set_validate_func(cfg, "log_level", validate_log_level);
	cfg_set_validate_func(cfg, "php_ini", validate_readable);
	cfg_set_validate_func(cfg, "pool|listen", validate_listen);
	cfg_set_validate_func(cfg, "pool|env", validate_env);
	cfg_set_validate_func(cfg, "pool|pm.status_path", validate_url_path);
	cfg_set_validate_func(cfg, "pool|ping.path", validate_url_path);
	cfg_set_validate_func(cfg, "pool|ping.response", validate_nonempty);
	cfg_set_validate_func(cfg, "pool|access.log", validate_nonempty);
	cfg_set_validate_func(cfg, "pool|access.format", validate_access_format);
	cfg_set_validate_func(cfg, "pool|task_queue", validate_taskq);
}

/* Parse and check a whole configuration; NULL after logging every error. */
struct conf *
conf_load(const char *path)
{
	struct conf *c;
	cfg_t *cfg;
	char *copy;
	int rc;
	size_t i, j;

	conf_errors = 0;
	copy = xstrdup(path);
	free(conf_dir);
	conf_dir = xstrdup(dirname(copy));
	free(copy);

	cfg = cfg_init(main_opts, CFGF_NONE);
	cfg_set_error_function(cfg, conf_errfunc);
	set_validators(cfg);
	{
		const char *copy_path = source_copy(path, NULL);
		rc = copy_path != NULL ? cfg_parse(cfg, copy_path) : CFG_FILE_ERROR;
	}
	if (rc != CFG_SUCCESS) {
		cfg_free(cfg);
		free_sources();
		return NULL;
	}

	c = xcalloc(1, sizeof *c);
	c->file = xstrdup(path);
	c->pid_file = dup_path(cfg_getstr(cfg, "pid"));
	c->error_log = dup_path(cfg_getstr(cfg, "error_log"));
	c->log_level = log_parse_level(cfg_getstr(cfg, "log_level"));
	c->php_ini = dup_or_null(cfg_getstr(cfg, "php_ini"));
	c->daemonize = cfg_getbool(cfg, "daemonize");
	c->emergency_restart_threshold = (int)cfg_getint(cfg,
	    "emergency_restart_threshold");
	c->emergency_restart_interval_ms = cfg_getint(cfg,
	    "emergency_restart_interval");
	c->process_control_timeout_ms = cfg_getint(cfg,
	    "process_control_timeout");
	c->process_max = (int)cfg_getint(cfg, "process.max");
	c->watch = split_words(cfg_getstr(cfg, "watch"), &c->n_watch);
	c->state_dir = xstrdup(cfg_getstr(cfg, "state_dir"));
	for (i = 0; i < c->n_watch; i++) {
		struct stat st;
		if (stat(c->watch[i], &st) == -1 || !S_ISDIR(st.st_mode)) {
			log_error("%s: option 'watch': '%s' is not a directory", path,
			    c->watch[i]);
			conf_errors++;
		}
	}
	for (i = 0; i < cfg_size(cfg, "pool"); i++) {
		struct pool_conf *p = read_pool(cfg_getnsec(cfg, "pool", i));

		c->pools = xreallocarray(c->pools, c->npools + 1,
		    sizeof *c->pools);
		c->pools[c->npools++] = p;
	}
	cfg_free(cfg);
	free_sources();

	if (c->npools == 0) {
		log_error("%s: no pool defined: add a 'pool NAME { listen = ... }' section",
		    path);
		conf_errors++;
	}
	for (i = 0; i < c->npools; i++) {
		struct pool_conf *p = c->pools[i];
		char *cause = NULL;

		/* The embedded queue's default home: STATE_DIR/POOL.db. */
		if (p->task_queue == NULL && (p->task_workers > 0 ||
		    p->timer_global_lock)) {
			xasprintf(&p->task_queue, "sqlite:%s/%s.db", c->state_dir,
			    p->name);
			if (conf_parse_taskq(p->task_queue, &p->taskq, &cause) == -1) {
				POOL_ERR(p, "option 'state_dir': %s", cause);
				free(cause);
			}
		}
		for (j = 0; j < i; j++) {
			struct pool_conf *a = c->pools[j], *b = c->pools[i];
			if (a->listen != NULL && b->listen != NULL &&
			    same_listen(&a->addr, &b->addr))
				POOL_ERR(b, "option 'listen': '%s' is already used by pool '%s' (%s:%d)",
				    b->listen, a->name, a->file, a->line);
		}
	}
	if (conf_errors > 0) {
		conf_free(c);
		return NULL;
	}
	return c;
}

static void
free_words(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
free_kv(struct conf_kv *kv, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

static void
pool_conf_free(struct pool_conf *p)
{
	free(p->name);
	free(p->file);
	free(p->listen);
	free(p->addr.path);
	free(p->addr.host);
	free(p->listen_owner);
	free(p->listen_group);
	free_words(p->allowed_clients, p->n_allowed_clients);
	free(p->user);
	free(p->group);
	free(p->chdir);
	free(p->chroot);
	free(p->slowlog);
	free(p->worker);
	free(p->worker_script);
	free(p->app_root);
	free(p->status_path);
	free(p->ping_path);
	free(p->ping_response);
	free(p->access_log);
	free(p->access_format);
	free_words(p->access_suppress, p->n_access_suppress);
	free_words(p->env, p->n_env);
	free_kv(p->php_values, p->n_php_values);
	free_kv(p->php_admin_values, p->n_php_admin_values);
	free_words(p->limit_extensions, p->n_limit_extensions);
	free(p->task_queue);
	conf_taskq_free(&p->taskq);
	for (size_t i = 0; i < p->n_processes; i++) {
		free(p->processes[i].name);
		free(p->processes[i].class_name);
	}
	free(p->processes);
	free(p);
}

void
conf_free(struct conf *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->npools; i++)
		pool_conf_free(c->pools[i]);
	free(c->pools);
	free(c->file);
	free(c->pid_file);
	free(c->error_log);
	free(c->php_ini);
	free_words(c->watch, c->n_watch);
	free(c->state_dir);
	free(c);
}
