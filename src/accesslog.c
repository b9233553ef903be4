/*
 * The access log: access.log, access.format (php-fpm's tokens) and
 * access.suppress_path.
 *
 * Workers format one line per request but never write the file: they run
 * as the pool's user and could not reopen a root-owned log after
 * rotation.  Each line travels to the master through the worker's log
 * pipe (see log_use_fd), framed so the master can tell it from error log
 * text: a NUL byte, the length in two bytes, then the line.  Error log
 * text never holds a NUL (log.c formats C strings).  The master appends
 * the lines to the pool's access log and reopens it on USR1, so after a
 * rotation every line, from every worker, lands in the new file.
 */
#include "pfpm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define ARG_MAX_LEN 128		/* the {...} argument of a token, as php-fpm */
#define TIME_FORMAT "%d/%b/%Y:%H:%M:%S %z"
/* A frame in the log pipe: NUL, kind, 2-byte length, the text. */
#define FRAME_TAG '\0'
#define FRAME_HEAD 4
#define KIND_ACCESS 'A'
#define KIND_SLOW 'S'

/* Worker side. */
static const struct pool_conf *pool;
static int pipe_fd = -1;		/* the log pipe, for access and slowlog frames */

struct out {
	char *p;
	size_t len;
	size_t size;		/* room for size - 1 bytes and a NUL */
	bool full;
};

static void
out_add(struct out *o, const char *s, size_t n)
{
	if (o->p == NULL)
		return;		/* checking only */
	if (o->len + n >= o->size) {
		n = o->size - 1 - o->len;
		o->full = true;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static void out_printf(struct out *, const char *, ...) PRINTFLIKE(2, 3);

static void
out_printf(struct out *o, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	if (o->p == NULL)
		return;
	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n > 0)
		out_add(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void
out_str(struct out *o, const char *s, const char *dflt)
{
	if (s == NULL || *s == '\0')
		s = dflt;
	out_add(o, s, strlen(s));
}

static int bad(char **, const char *, ...) PRINTFLIKE(2, 3);

static int
bad(char **cause, const char *fmt, ...)
{
	va_list ap;

	if (cause != NULL) {
		va_start(ap, fmt);
		xvasprintf(cause, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static bool
is(const char *arg, const char *a, const char *b)
{
	return strcasecmp(arg, a) == 0 || (b != NULL && strcasecmp(arg, b) == 0);
}

static double
cpu_percent(uint64_t cpu_us, uint64_t duration_us)
{
	return duration_us > 0 ? 100.0 * (double)cpu_us / (double)duration_us : 0.0;
}

/* %{format}t: the operator's strftime() format, from the configuration. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static size_t
user_strftime(char *buf, size_t size, const char *fmt, const struct tm *tm)
{
	return strftime(buf, size, fmt, tm);
}
#pragma GCC diagnostic pop

/*
 * One token (tok, with its {arg} or "") of a format; r NULL only checks.
 * The errors and their words are php-fpm's.
 */
static int
token(char tok, const char *arg, const struct access_rec *r, struct out *o,
    char **cause)
{
	char tmp[ARG_MAX_LEN * 2];
	const char *v;
	bool has_arg = *arg != '\0';
	struct tm tm;
	time_t t;

	switch (tok) {
	case '%':
		if (has_arg)
			break;
		out_add(o, "%", 1);
		return 0;
	case 'C':
		if (!has_arg || is(arg, "total", NULL)) {
			if (r != NULL)
				out_printf(o, "%.2f", cpu_percent(r->cpu_user_us +
				    r->cpu_sys_us, r->duration_us));
		} else if (is(arg, "user", NULL)) {
			if (r != NULL)
				out_printf(o, "%.2f", cpu_percent(r->cpu_user_us,
				    r->duration_us));
		} else if (is(arg, "system", NULL)) {
			if (r != NULL)
				out_printf(o, "%.2f", cpu_percent(r->cpu_sys_us,
				    r->duration_us));
		} else
			return bad(cause, "only 'total', 'user' or 'system' are allowed as a modifier for %%%c ('%s')",
			    tok, arg);
		return 0;
	case 'd':
		if (!has_arg || is(arg, "seconds", NULL)) {
			if (r != NULL)
				out_printf(o, "%.3f", (double)r->duration_us / 1e6);
		} else if (is(arg, "milliseconds", "milli") ||
		    is(arg, "mili", "miliseconds")) {
			if (r != NULL)
				out_printf(o, "%.3f", (double)r->duration_us / 1e3);
		} else if (is(arg, "microseconds", "micro")) {
			if (r != NULL)
				out_printf(o, "%llu",
				    (unsigned long long)r->duration_us);
		} else
			return bad(cause, "only 'seconds', 'milli', 'milliseconds', 'micro' or 'microseconds' are allowed as a modifier for %%%c ('%s')",
			    tok, arg);
		return 0;
	case 'e':
		if (!has_arg)
			return bad(cause, "the name of the environment variable must be set between embraces for %%%c",
			    tok);
		if (r != NULL) {
			v = r->param != NULL ? r->param(r->ctx, arg) : NULL;
			out_str(o, v, "-");
		}
		return 0;
	case 'f':
		if (has_arg)
			break;
		if (r != NULL)
			out_str(o, r->script, "-");
		return 0;
	case 'l':
		if (has_arg)
			break;
		if (r != NULL)
			out_printf(o, "%llu", (unsigned long long)r->content_length);
		return 0;
	case 'm':
		if (has_arg)
			break;
		if (r != NULL)
			out_str(o, r->method, "-");
		return 0;
	case 'M':
		if (!has_arg || is(arg, "bytes", NULL)) {
			if (r != NULL)
				out_printf(o, "%llu", (unsigned long long)r->memory);
		} else if (is(arg, "kilobytes", "kilo")) {
			if (r != NULL)
				out_printf(o, "%llu",
				    (unsigned long long)r->memory / 1024);
		} else if (is(arg, "megabytes", "mega")) {
			if (r != NULL)
				out_printf(o, "%llu",
				    (unsigned long long)r->memory / 1024 / 1024);
		} else
			return bad(cause, "only 'bytes', 'kilo', 'kilobytes', 'mega' or 'megabytes' are allowed as a modifier for %%%c ('%s')",
			    tok, arg);
		return 0;
	case 'n':
		if (has_arg)
			break;
		if (r != NULL)
			out_str(o, r->pool, "-");
		return 0;
	case 'o':
		if (!has_arg)
			return bad(cause, "the name of the header must be set between embraces for %%%c",
			    tok);
		if (r != NULL) {
			v = r->header != NULL ? r->header(r->ctx, arg) : NULL;
			out_str(o, v, "-");
		}
		return 0;
	case 'p':
	case 'P':
		if (has_arg)
			break;
		if (r != NULL)
			out_printf(o, "%ld", (long)(tok == 'p' ? r->pid : r->ppid));
		return 0;
	case 'q':
		if (has_arg)
			break;
		if (r != NULL)
			out_str(o, r->query, "");
		return 0;
	case 'Q':
		if (has_arg)
			break;
		if (r != NULL)
			out_str(o, r->query != NULL && *r->query != '\0' ? "?" : "",
			    "");
		return 0;
	case 'r':
		if (has_arg)
			break;
		if (r != NULL)
			out_str(o, r->uri, "");
		return 0;
	case 'R':
		if (has_arg)
			break;
		if (r != NULL)
			out_str(o, r->remote, "-");
		return 0;
	case 's':
		if (has_arg)
			break;
		if (r != NULL)
			out_printf(o, "%d", r->status);
		return 0;
	case 't':
	case 'T':
		if (r == NULL)
			return 0;
		t = (time_t)((tok == 't' ? r->start_wall_us : r->now_wall_us) /
		    1000000);
		localtime_r(&t, &tm);
		tmp[0] = '\0';
		if (!has_arg)
			strftime(tmp, sizeof tmp, TIME_FORMAT, &tm);
		else if (user_strftime(tmp, sizeof tmp, arg, &tm) == 0)
			tmp[0] = '\0';
		out_str(o, tmp, "");
		return 0;
	case 'u':
		if (has_arg)
			break;
		if (r != NULL)
			out_str(o, r->user, "");
		return 0;
	default:
		return bad(cause, "Invalid token in the access.format (%%%c)", tok);
	}
	return bad(cause, "embrace is not allowed for: %%%c", tok);
}

/* Walk a format: r NULL checks it, else the line goes to o. */
static int
render(const char *fmt, const struct access_rec *r, struct out *o, char **cause)
{
	char arg[ARG_MAX_LEN + 1];
	const char *s = fmt, *end;
	size_t l;

	while (*s != '\0' && !o->full) {
		if (*s != '%') {
			end = strchr(s, '%');
			l = end != NULL ? (size_t)(end - s) : strlen(s);
			out_add(o, s, l);
			s += l;
			continue;
		}
		s++;
		arg[0] = '\0';
		if (*s == '{') {
			if ((end = strchr(s + 1, '}')) == NULL)
				return bad(cause, "missing closing embrace in the access.format");
			l = (size_t)(end - s - 1);
			if (l > ARG_MAX_LEN)
				l = ARG_MAX_LEN;
			memcpy(arg, s + 1, l);
			arg[l] = '\0';
			s = end + 1;
		}
		if (*s == '\0')
			break;		/* a lone '%' at the end: ignored, as php-fpm */
		if (token(*s, arg, r, o, cause) == -1)
			return -1;
		s++;
	}
	return 0;
}

/* access.format: 0 if php-fpm would accept it, else -1 and why. */
int
accesslog_check(const char *fmt, char **cause)
{
	struct out o = { 0 };

	return render(fmt, NULL, &o, cause);
}

/*
 * One access log line (without its newline) in buf; returns its length.
 * Longer lines are cut at size - 1 bytes, as php-fpm cuts at 1024.
 */
size_t
accesslog_format(const char *fmt, const struct access_rec *r, char *buf,
    size_t size)
{
	struct out o = { .p = buf, .size = size };

	if (size == 0)
		return 0;
	buf[0] = '\0';
	if (render(fmt, r, &o, NULL) == -1)
		return 0;
	return o.len;
}

/*
 * access.suppress_path, with php-fpm's conditions: only a successful GET
 * or HEAD without query string nor body, for one of the listed paths.
 */
bool
accesslog_suppressed(const struct pool_conf *p, const struct access_rec *r)
{
	size_t i;

	if (p->n_access_suppress == 0 || r->uri == NULL ||
	    (r->query != NULL && *r->query != '\0') || r->method == NULL ||
	    (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) ||
	    r->status < 200 || r->status > 299 || r->content_length > 0)
		return false;
	for (i = 0; i < p->n_access_suppress; i++)
		if (strcmp(r->uri, p->access_suppress[i]) == 0)
			return true;
	return false;
}

/* In a worker: where its lines go (the log pipe), -1 for no access log. */
void
accesslog_worker_init(const struct pool_conf *p, int fd)
{
	pool = p;
	pipe_fd = p->access_log != NULL || p->slowlog != NULL ? fd : -1;
}

bool
accesslog_enabled(void)
{
	return pipe_fd >= 0 && pool->access_log != NULL;
}

/* One frame (one write, so it arrives whole: len <= PIPE_BUF - FRAME_HEAD). */
static void
send_frame(char kind, char *buf, size_t len)
{
	ssize_t n;

	buf[0] = FRAME_TAG;
	buf[1] = kind;
	buf[2] = (char)(len >> 8);
	buf[3] = (char)(len & 0xff);
	do
		n = write(pipe_fd, buf, FRAME_HEAD + len);
	while (n == -1 && errno == EINTR);
}

/* In a worker: a slowlog entry, written by the master into the pool's slowlog. */
void
log_slow(const char *text, size_t len)
{
	char buf[4096];

	if (pipe_fd < 0 || pool->slowlog == NULL)
		return;
	if (len > sizeof buf - FRAME_HEAD)
		len = sizeof buf - FRAME_HEAD;
	memcpy(buf + FRAME_HEAD, text, len);
	send_frame(KIND_SLOW, buf, len);
}

/* The fields of a record that come from the request's scoreboard slot
 * (the caller adds remote, now_wall_us and the figures). */
void
accesslog_rec_init(struct access_rec *r, const char *pool_name,
    const struct sb_slot *s, int status)
{
	memset(r, 0, sizeof *r);
	r->pool = pool_name;
	r->pid = getpid();
	r->ppid = getppid();
	r->method = s->method;
	r->uri = s->uri;
	r->query = s->query;
	r->script = s->script;
	r->user = s->user;
	r->content_length = s->content_length;
	r->status = status;
	r->start_wall_us = s->req_wall_us;
}

/* In a worker: log one request (one write, so the frame arrives whole). */
void
accesslog_write(const struct access_rec *r)
{
	char buf[FRAME_HEAD + ACCESSLOG_LINE_MAX + 1];
	size_t len;

	if (!accesslog_enabled() || accesslog_suppressed(pool, r))
		return;
	len = accesslog_format(pool->access_format != NULL ?
	    pool->access_format : ACCESSLOG_DEFAULT_FORMAT, r,
	    buf + FRAME_HEAD, ACCESSLOG_LINE_MAX);
	if (len == 0)
		return;		/* php-fpm writes no empty line either */
	buf[FRAME_HEAD + len++] = '\n';
	send_frame(KIND_ACCESS, buf, len);
}

static void
append(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (fd >= 0 && len > 0) {
		n = write(fd, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/*
 * In the master: split what a worker's log pipe delivered.  Error log
 * text goes to the log, access log lines to access_fd (dropped when -1).
 * Returns how much was used: the rest is a record cut by the read, to be
 * passed again with what follows.
 */
size_t
accesslog_demux(const char *buf, size_t len, int access_fd, int slow_fd)
{
	char lines[8192];
	size_t i = 0, nl = 0, rec;
	const char *tag;

	while (i < len) {
		tag = memchr(buf + i, FRAME_TAG, len - i);
		if (tag == NULL) {
			log_write(buf + i, len - i);
			i = len;
			break;
		}
		if (tag > buf + i)
			log_write(buf + i, (size_t)(tag - (buf + i)));
		i = (size_t)(tag - buf);
		if (len - i < FRAME_HEAD)
			break;
		rec = (size_t)(unsigned char)buf[i + 2] << 8 |
		    (unsigned char)buf[i + 3];
		if (len - i - FRAME_HEAD < rec)
			break;
		if (buf[i + 1] == KIND_SLOW) {
			append(slow_fd, buf + i + FRAME_HEAD, rec);
			i += FRAME_HEAD + rec;
			continue;
		}
		if (nl + rec > sizeof lines) {
			append(access_fd, lines, nl);
			nl = 0;
		}
		if (rec > sizeof lines)
			append(access_fd, buf + i + FRAME_HEAD, rec);
		else {
			memcpy(lines + nl, buf + i + FRAME_HEAD, rec);
			nl += rec;
		}
		i += FRAME_HEAD + rec;
	}
	append(access_fd, lines, nl);
	return i;
}

/* In the master: open a pool's access log (append, created 0640). */
int
accesslog_open(const char *path, char **cause)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

	if (fd == -1)
		xasprintf(cause, "cannot open access log %s: %s", path,
		    strerror(errno));
	return fd;
}

/* USR1: the same fd number now writes to a fresh open of path. */
int
accesslog_reopen(int fd, const char *path)
{
	char *cause = NULL;
	int nfd = accesslog_open(path, &cause);

	if (nfd == -1) {
		log_error("%s (the old file stays in use)", cause);
		free(cause);
		return fd;
	}
	if (fd < 0)
		return nfd;
	if (dup3(nfd, fd, O_CLOEXEC) == -1) {
		log_syserr("cannot reopen access log %s", path);
		close(nfd);
		return fd;
	}
	close(nfd);
	return fd;
}
