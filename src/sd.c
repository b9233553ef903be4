/*
 * systemd: the notify protocol (READY, RELOADING, STOPPING, STATUS,
 * WATCHDOG), socket activation and the journal.  The only file that
 * includes systemd's headers.  Built without libsystemd (or run outside
 * systemd, without NOTIFY_SOCKET or LISTEN_FDS) every function is a no-op,
 * so the master calls them unconditionally.
 *
 * The names are systemd_*, not sd_*: that prefix is libsystemd's, and a
 * function of ours with one of its names would replace its own.
 */
#include "pfpm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_SYSTEMD

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#define SD_JOURNAL_SUPPRESS_LOCATION	/* CODE_FILE=sd.c says nothing */
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#define JOURNAL_SOCKET "/run/systemd/journal/socket"	/* libsystemd's too */

/* Activated sockets across a reload: "fd,name:fd,name" (names have no ':'). */
#define ENV_SDFDS "PFPM_SYSTEMD_FDS"

struct sd_socket {
	int fd;
	char *name;		/* FileDescriptorName, NULL when systemd gave none */
	bool claimed;		/* a pool serves on it */
};

static struct sd_socket *sockets;
static size_t nsockets;
static bool sockets_loaded;
static uint64_t watchdog_usec;
static uint64_t watchdog_last_us;

static uint64_t
monotonic_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* One journal entry, with the pool and pid as fields; never allocates. */
static int
journal_send(int priority, const char *pool, int pid, const char *message)
{
	char msg[4200], pri[32], pidf[32], poolf[96];
	struct iovec iov[5];
	int n = 0;

	snprintf(msg, sizeof msg, "MESSAGE=%s", message);
	snprintf(pri, sizeof pri, "PRIORITY=%d", priority);
	snprintf(pidf, sizeof pidf, "PFPM_PID=%d", pid);
	iov[n++] = (struct iovec){ msg, strlen(msg) };
	iov[n++] = (struct iovec){ pri, strlen(pri) };
	iov[n++] = (struct iovec){ (char *)"SYSLOG_IDENTIFIER=" PFPM_NAME,
	    sizeof "SYSLOG_IDENTIFIER=" PFPM_NAME - 1 };
	iov[n++] = (struct iovec){ pidf, strlen(pidf) };
	if (pool != NULL && *pool != '\0') {
		snprintf(poolf, sizeof poolf, "PFPM_POOL=%s", pool);
		iov[n++] = (struct iovec){ poolf, strlen(poolf) };
	}
	return sd_journal_sendv(iov, n) < 0 ? -1 : 0;
}

/* Is fd the stream systemd connected to the journal (JOURNAL_STREAM)? */
static bool
journal_stream(int fd)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (env == NULL || sscanf(env, "%llu:%llu", &dev, &ino) != 2 ||
	    fstat(fd, &st) == -1)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

/* At the master's start: journal logging and the watchdog interval. */
void
systemd_init(void)
{
	uint64_t usec = 0;

	/* libsystemd drops entries silently when journald is not there. */
	log_set_journal(access(JOURNAL_SOCKET, W_OK) == 0 ? journal_send : NULL,
	    journal_stream(STDERR_FILENO));
	/* Keeps the environment: a re-executed master (same pid) reads it again. */
	if (sd_watchdog_enabled(0, &usec) > 0)
		watchdog_usec = usec;
	systemd_watchdog();
}

bool
systemd_notifying(void)
{
	const char *env = getenv("NOTIFY_SOCKET");

	return env != NULL && *env != '\0';
}

/* Every pool serves (also after a reload: the pid is the same). */
void
systemd_ready(const char *status)
{
	sd_notifyf(0, "READY=1\nMAINPID=%d\nSTATUS=%s", (int)getpid(),
	    status != NULL ? status : "Ready");
}

/* A reload begins; READY=1 (from this or the re-executed master) ends it. */
void
systemd_reloading(void)
{
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=Reloading",
	    (unsigned long long)monotonic_us());
	systemd_watchdog();
}

void
systemd_stopping(const char *status)
{
	sd_notifyf(0, "STOPPING=1\nSTATUS=%s", status != NULL ? status :
	    "Stopping");
}

void
systemd_status(const char *status)
{
	sd_notifyf(0, "STATUS=%s", status);
}

/* WATCHDOG=1 when half of WatchdogSec has passed since the last one. */
void
systemd_watchdog(void)
{
	uint64_t now;

	if (watchdog_usec == 0)
		return;
	now = monotonic_us();
	if (watchdog_last_us != 0 && now - watchdog_last_us < watchdog_usec / 2)
		return;
	watchdog_last_us = now;
	sd_notify(0, "WATCHDOG=1");
}

static void
add_socket(int fd, const char *name)
{
	/* Not for what workers run (proc_open); a reload clears it for exec. */
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	sockets = xreallocarray(sockets, nsockets + 1, sizeof *sockets);
	sockets[nsockets].fd = fd;
	sockets[nsockets].name = name != NULL && *name != '\0' ? xstrdup(name) :
	    NULL;
	sockets[nsockets].claimed = false;
	nsockets++;
}

/*
 * The sockets systemd passed (LISTEN_FDS, LISTEN_FDNAMES), or after a
 * reload the ones the previous master had from it (ENV_SDFDS).  Both
 * variables are removed, so workers and the -t check do not see them.
 */
static void
load_sockets(void)
{
	const char *env;
	char **names = NULL;
	int i, n, flags;

	if (sockets_loaded)
		return;
	sockets_loaded = true;
	if ((env = getenv(ENV_SDFDS)) != NULL) {
		char *copy = xstrdup(env), *tok, *save, *end;

		for (tok = strtok_r(copy, ":", &save); tok != NULL;
		    tok = strtok_r(NULL, ":", &save)) {
			long fd = strtol(tok, &end, 10);
			if (end != tok && fd > 2 && fd < INT32_MAX)
				add_socket((int)fd, *end == ',' ? end + 1 : NULL);
		}
		free(copy);
		unsetenv(ENV_SDFDS);
		return;
	}
	if ((n = sd_listen_fds_with_names(1, &names)) < 0) {
		log_warn("socket activation: %s", strerror(-n));
		return;
	}
	for (i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		const char *name = names != NULL ? names[i] : NULL;

		/* Without LISTEN_FDNAMES libsystemd says "unknown". */
		if (name != NULL && strcmp(name, "unknown") == 0)
			name = NULL;
		if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
			log_warn("socket activation: fd %d (%s) is not a listening stream socket, ignored",
			    fd, name != NULL ? name : "no name");
			continue;
		}
		/* Workers accept on it from epoll: never block in accept(). */
		if ((flags = fcntl(fd, F_GETFL)) != -1)
			fcntl(fd, F_SETFL, flags | O_NONBLOCK);
		add_socket(fd, name);
	}
	if (names != NULL) {
		for (i = 0; i < n; i++)
			free(names[i]);
		free(names);
	}
	if (nsockets > 0)
		log_notice("socket activation: %zu socket%s from systemd",
		    nsockets, nsockets == 1 ? "" : "s");
}

/*
 * The activated socket for a pool: the one whose FileDescriptorName is the
 * pool's name, else (no names, or none matches) one bound to the pool's
 * listen address.  -1 when systemd passed none for it.
 */
int
systemd_listen_fd(const char *pool, const struct conf_listen *addr,
    bool (*matches)(int, const struct conf_listen *))
{
	size_t i;

	load_sockets();
	for (i = 0; i < nsockets; i++) {
		if (!sockets[i].claimed && sockets[i].name != NULL &&
		    strcmp(sockets[i].name, pool) == 0) {
			sockets[i].claimed = true;
			return sockets[i].fd;
		}
	}
	for (i = 0; i < nsockets; i++) {
		if (!sockets[i].claimed && matches(sockets[i].fd, addr)) {
			sockets[i].claimed = true;
			return sockets[i].fd;
		}
	}
	return -1;
}

/* Did this socket come from systemd?  Then its file is not ours to remove. */
bool
systemd_listen_activated(int fd)
{
	size_t i;

	for (i = 0; i < nsockets; i++)
		if (sockets[i].fd == fd)
			return true;
	return false;
}

/* Every pool has its socket: close the activated ones none claimed. */
void
systemd_listen_done(void)
{
	size_t i, keep = 0;

	load_sockets();
	for (i = 0; i < nsockets; i++) {
		if (sockets[i].claimed) {
			sockets[keep++] = sockets[i];
			continue;
		}
		log_warn("socket activation: fd %d (%s) matches no pool, closed",
		    sockets[i].fd, sockets[i].name != NULL ? sockets[i].name :
		    "no name");
		close(sockets[i].fd);
		free(sockets[i].name);
	}
	nsockets = keep;
}

/* Before the re-exec of a reload: tell the next master which are systemd's. */
void
systemd_listen_export(bool on)
{
	char *list = NULL, *tmp;
	size_t i;

	if (!on || nsockets == 0) {
		unsetenv(ENV_SDFDS);
		return;
	}
	for (i = 0; i < nsockets; i++) {
		xasprintf(&tmp, "%s%s%d,%s", list != NULL ? list : "",
		    list != NULL ? ":" : "", sockets[i].fd,
		    sockets[i].name != NULL ? sockets[i].name : "");
		free(list);
		list = tmp;
	}
	setenv(ENV_SDFDS, list, 1);
	free(list);
}

#else /* !HAVE_SYSTEMD: the same interface, doing nothing. */

void
systemd_init(void)
{
	log_set_journal(NULL, false);
}

bool
systemd_notifying(void)
{
	return false;
}

void
systemd_ready(const char *status)
{
	(void)status;
}

void
systemd_reloading(void)
{
}

void
systemd_stopping(const char *status)
{
	(void)status;
}

void
systemd_status(const char *status)
{
	(void)status;
}

void
systemd_watchdog(void)
{
}

int
systemd_listen_fd(const char *pool, const struct conf_listen *addr,
    bool (*matches)(int, const struct conf_listen *))
{
	(void)pool;
	(void)addr;
	(void)matches;
	return -1;
}

bool
systemd_listen_activated(int fd)
{
	(void)fd;
	return false;
}

void
systemd_listen_done(void)
{
}

void
systemd_listen_export(bool on)
{
	(void)on;
}

#endif /* HAVE_SYSTEMD */
