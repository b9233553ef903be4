/*
 * The one logging module.  Messages look like php-fpm's:
 *   [22-Nov-2026 20:12:39] NOTICE: ready to handle connections
 *   [22-Nov-2026 20:12:39] WARNING: [pool www] child 123: ...
 * Targets: stderr (default in the foreground), a file (O_APPEND, shared by
 * every process; each process reopens it on USR1), syslog, or the journal
 * (structured entries through sd.c; the default under systemd when stderr
 * is the journal's stream and error_log is not set).
 */
#include "pfpm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096	/* PIPE_BUF: a line crosses a pipe whole */

static int log_fd = -1;		/* -1 with log_syslog set: syslog */
static bool log_syslog;
static char *log_path;
static int log_level = LOG_LVL_NOTICE;
static char log_prefix[96];	/* "[pool www] child 123: " in workers */
static char log_pool[64];	/* in workers: the pool and pid, for the journal */
static int log_pid;
/* The journal: sd.c hands over its sender at the master's start (systemd_init). */
static int (*journal_send)(int, const char *, int, const char *);
static bool journal_wanted;	/* error_log = journal */
static bool log_explicit;	/* error_log names a target */
static bool log_journal;	/* logging to the journal now */

static const char *const level_names[] = {
	[LOG_LVL_DEBUG] = "DEBUG",
	[LOG_LVL_NOTICE] = "NOTICE",
	[LOG_LVL_WARNING] = "WARNING",
	[LOG_LVL_ERROR] = "ERROR",
	[LOG_LVL_ALERT] = "ALERT",
};

/* Start logging to a private copy of stderr, so fd 2 can be redirected. */
void
log_init(void)
{
	if (log_fd == -1 && !log_syslog) {
		log_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
		if (log_fd == -1)
			log_fd = STDERR_FILENO;
	}
}

int
log_parse_level(const char *s)
{
	if (strcasecmp(s, "debug") == 0)
		return LOG_LVL_DEBUG;
	if (strcasecmp(s, "notice") == 0)
		return LOG_LVL_NOTICE;
	if (strcasecmp(s, "warning") == 0)
		return LOG_LVL_WARNING;
	if (strcasecmp(s, "error") == 0)
		return LOG_LVL_ERROR;
	if (strcasecmp(s, "alert") == 0)
		return LOG_LVL_ALERT;
	return -1;
}

static int
open_file(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

/* Switch to a target: NULL or "" for stderr, "syslog", "journal", or a file path. */
int
log_open(const char *target, char **cause)
{
	int fd;

	if (target == NULL || *target == '\0') {
		log_init();
		return 0;
	}
	log_explicit = true;
	log_journal = journal_wanted = false;
	if (log_syslog && strcmp(target, "syslog") != 0) {
		closelog();
		log_syslog = false;
	}
	if (strcmp(target, "stderr") == 0) {
		log_init();
		return 0;
	}
	if (strcmp(target, "journal") == 0) {
		/* stderr until sd.c is set up, and whenever the journal is away. */
		log_init();
		journal_wanted = true;
		log_journal = journal_send != NULL;
		return 0;
	}
	if (strcmp(target, "syslog") == 0) {
		openlog(PFPM_NAME, LOG_PID | LOG_NDELAY, LOG_DAEMON);
		if (log_fd > STDERR_FILENO)
			close(log_fd);
		log_fd = -1;
		log_syslog = true;
		return 0;
	}
	if ((fd = open_file(target)) == -1) {
		xasprintf(cause, "cannot open error_log %s: %s", target,
		    strerror(errno));
		return -1;
	}
	if (log_fd > STDERR_FILENO)
		close(log_fd);
	log_fd = fd;
	log_syslog = false;
	free(log_path);
	log_path = xstrdup(target);
	return 0;
}

/*
 * Do processes log on their own (syslog, the journal: each worker reaches
 * the logger itself, also after dropping privileges), rather than through
 * a pipe to the master?
 */
bool
log_is_syslog(void)
{
	return log_syslog || log_journal;
}

/*
 * From sd.c: the journal's sender (NULL without systemd or journald), and
 * whether stderr is connected to the journal (JOURNAL_STREAM), which makes
 * the journal the default target.
 */
void
log_set_journal(int (*send)(int, const char *, int, const char *),
    bool stderr_is_journal)
{
	journal_send = send;
	log_journal = send != NULL && !log_syslog &&
	    (journal_wanted || (!log_explicit && stderr_is_journal));
	if (journal_wanted && send == NULL)
		log_warn("error_log = journal: no journal to log to (pfpm built without systemd, or journald not running), logging to stderr");
}

/*
 * In a worker: write finished lines to this fd, a pipe the master reads
 * and copies into the log.  Lines are at most PIPE_BUF long, so each one
 * arrives whole; USR1 then only concerns the master, which can reopen a
 * file the worker (another user) could not.
 */
void
log_use_fd(int fd)
{
	if (log_fd > STDERR_FILENO && log_fd != fd)
		close(log_fd);
	log_fd = fd;
	free(log_path);
	log_path = NULL;
}

/* In the master: copy lines a worker formatted into the log. */
void
log_write(const char *buf, size_t len)
{
	if (write(log_fd >= 0 ? log_fd : STDERR_FILENO, buf, len) == -1)
		return;
}

/* USR1: reopen the log file in place (same fd number). */
void
log_reopen(void)
{
	int fd;

	if (log_path == NULL)
		return;
	if ((fd = open_file(log_path)) == -1) {
		log_syserr("cannot reopen %s", log_path);
		return;
	}
	if (log_fd >= 0 && fd != log_fd) {
		dup2(fd, log_fd);
		close(fd);
	} else
		log_fd = fd;
}

void
log_close(void)
{
	if (log_fd > STDERR_FILENO)
		close(log_fd);
	log_fd = -1;
	free(log_path);
	log_path = NULL;
	if (log_syslog)
		closelog();
	log_syslog = false;
	log_journal = journal_wanted = log_explicit = false;
}

void
log_set_level(int level)
{
	log_level = level;
}

/* In a worker: every message names the pool and the pid. */
void
log_set_worker(const char *pool, int pid)
{
	if (pool == NULL) {
		log_prefix[0] = log_pool[0] = '\0';
		log_pid = 0;
	} else {
		snprintf(log_prefix, sizeof log_prefix, "[pool %s] child %d: ",
		    pool, pid);
		snprintf(log_pool, sizeof log_pool, "%s", pool);
		log_pid = pid;
	}
}

/*
 * The pool and pid a journal entry is about: a worker's own, or in the
 * master those its messages start with ("[pool www] child 123 ...").
 */
static void
log_subject(const char *msg, char *pool, size_t size, int *pid)
{
	const char *end;
	char *num_end;
	long n;

	*pid = log_pid != 0 ? log_pid : (int)getpid();
	snprintf(pool, size, "%s", log_pool);
	if (log_pool[0] != '\0' || strncmp(msg, "[pool ", 6) != 0 ||
	    (end = strchr(msg + 6, ']')) == NULL)
		return;
	snprintf(pool, size, "%.*s", (int)(end - msg - 6), msg + 6);
	if (strncmp(end, "] child ", 8) == 0) {
		n = strtol(end + 8, &num_end, 10);
		if (num_end != end + 8 && n > 0 && n <= INT32_MAX)
			*pid = (int)n;
	}
}

static int
syslog_priority(int level)
{
	switch (level) {
	case LOG_LVL_DEBUG:
		return LOG_DEBUG;
	case LOG_LVL_NOTICE:
		return LOG_NOTICE;
	case LOG_LVL_WARNING:
		return LOG_WARNING;
	case LOG_LVL_ERROR:
		return LOG_ERR;
	default:
		return LOG_ALERT;
	}
}

/* Write one finished line; never allocates (safe after fork). */
void
log_line(int level, const char *msg)
{
	char buf[LOG_LINE_MAX];
	struct timespec ts;
	struct tm tm;
	size_t len;
	int n;

	if (level < log_level)
		return;
	if (log_syslog) {
		syslog(syslog_priority(level), "%s%s", log_prefix, msg);
		return;
	}
	if (log_journal) {
		char pool[64];
		int pid;

		log_subject(msg, pool, sizeof pool, &pid);
		snprintf(buf, sizeof buf, "%s%s", log_prefix, msg);
		if (journal_send(syslog_priority(level), pool, pid, buf) == 0)
			return;
		/* The journal is away: stderr, as a plain line. */
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	len = strftime(buf, sizeof buf, "[%d-%b-%Y %H:%M:%S] ", &tm);
	n = snprintf(buf + len, sizeof buf - len, "%s: %s%s", level_names[level],
	    log_prefix, msg);
	if (n < 0)
		return;
	len += (size_t)n;
	if (len > sizeof buf - 2)
		len = sizeof buf - 2;
	buf[len++] = '\n';
	if (write(log_fd >= 0 ? log_fd : STDERR_FILENO, buf, len) == -1)
		return;
}

void
log_vmsg(int level, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX];

	if (level < log_level)
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	log_line(level, msg);
}

void
log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

#define LOG_FN(name, level)					\
	void name(const char *fmt, ...)				\
	{							\
		va_list ap;					\
		va_start(ap, fmt);				\
		log_vmsg(level, fmt, ap);			\
		va_end(ap);					\
	}
LOG_FN(log_debug, LOG_LVL_DEBUG)
LOG_FN(log_notice, LOG_LVL_NOTICE)
LOG_FN(log_warn, LOG_LVL_WARNING)
LOG_FN(log_error, LOG_LVL_ERROR)

/* An error with strerror(errno) appended. */
void
log_syserr(const char *fmt, ...)
{
	char msg[LOG_LINE_MAX];
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_msg(LOG_LVL_ERROR, "%s: %s (%d)", msg, strerror(saved), saved);
}

void
fatal(const char *fmt, ...)
{
	char msg[LOG_LINE_MAX];
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_msg(LOG_LVL_ALERT, "%s: %s", msg, strerror(saved));
	exit(PFPM_EXIT_SOFTWARE);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ALERT, fmt, ap);
	va_end(ap);
	exit(PFPM_EXIT_SOFTWARE);
}
