/*
 * The master: starts the engine, opens the sockets, forks pools and then
 * only supervises.  Signals arrive through a signalfd, the clock through a
 * timerfd, both in one epoll loop; handlers never do work.
 *
 * Reload (USR2, HUP): the new configuration is checked first; if it is
 * valid the master re-executes itself, keeping the listening sockets and
 * its pid, so php.ini and extensions are reloaded too.  The old workers
 * keep serving until the new generation is up, then finish their request
 * and exit: no connection is refused or dropped.
 */
#include "pfpm.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TICK_MS 100
#define ENV_FDS "PFPM_INHERIT_FDS"
#define ENV_OLD "PFPM_OLD_PIDS"

enum master_state { M_RUNNING, M_DRAINING, M_STOPPING };

/* epoll tags: which kind of fd woke us. */
enum { EV_SIGNAL = 1, EV_TIMER, EV_LISTEN, EV_OUTPUT, EV_LOG, EV_WATCH, EV_TASK };
#define WATCH_DEBOUNCE_US 300000	/* an editor's save is several events */
#define EV_TAG(kind, i) (((uint64_t)(kind) << 32) | (uint32_t)(i))

static struct conf *conf;
static struct pool **pools;
static size_t npools;
static int epfd = -1, sigfd = -1, timerfd = -1, watchfd = -1;
static uint64_t watch_reload_us;	/* a PHP file changed: reload then */
static bool *watching;
static bool *watch_paused;	/* ondemand: until the next tick, see EV_LISTEN */
static enum master_state state = M_RUNNING;
static uint64_t stop_deadline_us;
static bool term_escalated;
static pid_t *old_pids;
static size_t nold;
static bool old_quit_sent;
static uint64_t old_deadline_us;	/* previous generation: TERM, then KILL */
static int old_signal = SIGQUIT;
static char **saved_argv;
static char exe_path[4096];	/* resolved at start: an upgraded binary is used on reload */

static void close_master_fds(void);
static void tick(void);
static void reload(void);
static uint64_t *crash_times;	/* emergency_restart_threshold window */
static size_t ncrash;

static bool allow_root;

void
master_set_argv(char **argv, bool root_ok)
{
	ssize_t n;

	saved_argv = argv;
	allow_root = root_ok;
	n = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);
	exe_path[n > 0 ? n : 0] = '\0';
}

/*
 * Check a configuration the way a start would, in a fresh process: the
 * pfpm configuration and the PHP engine with its php.ini and extensions.
 */
static bool
config_starts(const char *path)
{
	pid_t pid;
	int status;

	switch ((pid = fork())) {
	case -1:
		log_syserr("fork");
		return false;
	case 0: {
		char *argv[] = { exe_path, (char *)"-t", (char *)"-c",
		    (char *)path, allow_root ? (char *)"-R" : NULL, NULL };
		int null = open("/dev/null", O_RDWR);
		sigset_t none;

		close_master_fds();
		if (null != -1)
			dup2(null, STDOUT_FILENO);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv(exe_path, argv);
		_exit(127);
	}
	default:
		break;
	}
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return false;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* In a forked child: the master's own fds are not the worker's business. */
static void
close_master_fds(void)
{
	size_t i;

	close(epfd);
	close(sigfd);
	close(timerfd);
	if (watchfd != -1)
		close(watchfd);
	taskq_child_cleanup();
	for (i = 0; i < npools; i++) {
		struct proc *pr;
		for (pr = pool_procs(pools[i]); pr != NULL; pr = pr->next) {
			if (pr->out_fd >= 0)
				close(pr->out_fd);
			if (pr->log_fd >= 0)
				close(pr->log_fd);
		}
	}
}

static void
epoll_set(int op, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	if (epoll_ctl(epfd, op, fd, &ev) == -1 && op != EPOLL_CTL_DEL)
		log_syserr("epoll_ctl");
}

static int
inherited_fd(const struct conf_listen *l)
{
	const char *env = getenv(ENV_FDS);
	char *copy, *tok, *save;
	int fd = -1;

	if (env == NULL)
		return -1;
	copy = xstrdup(env);
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		int cand = atoi(tok);
		if (cand > 2 && pool_socket_matches(cand, l)) {
			fd = cand;
			break;
		}
	}
	free(copy);
	return fd;
}

/*
 * An inherited socket bound to exactly this address (the task queues'
 * abstract sockets), or -1.
 */
int
master_inherited_socket(const struct sockaddr *sa, unsigned int salen)
{
	const char *env = getenv(ENV_FDS);
	char *copy, *tok, *save;
	struct sockaddr_storage ss;
	int fd = -1;

	if (env == NULL)
		return -1;
	copy = xstrdup(env);
	for (tok = strtok_r(copy, ",", &save); tok != NULL && fd == -1;
	    tok = strtok_r(NULL, ",", &save)) {
		int cand = atoi(tok);
		socklen_t len = sizeof ss;

		if (cand > 2 && getsockname(cand, (struct sockaddr *)&ss, &len) == 0 &&
		    len == salen && memcmp(&ss, sa, salen) == 0)
			fd = cand;
	}
	free(copy);
	return fd;
}

/* Inherited sockets no pool claimed any more are closed. */
static void
close_unclaimed_fds(void)
{
	const char *env = getenv(ENV_FDS);
	char *copy, *tok, *save;
	size_t i;

	if (env == NULL)
		return;
	copy = xstrdup(env);
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		int fd = atoi(tok);
		bool used = systemd_listen_activated(fd);	/* sd.c's */
		for (i = 0; i < npools; i++) {
			struct taskq *tq = pool_taskq(pools[i]);
			used = used || pool_listen_fd(pools[i]) == fd ||
			    (tq != NULL && taskq_listen_fd(tq) == fd);
		}
		if (fd > 2 && !used) {
			/* A pool removed by the reload: its socket file goes too. */
			struct sockaddr_un un;
			socklen_t len = sizeof un;
			if (getsockname(fd, (struct sockaddr *)&un, &len) == 0 &&
			    un.sun_family == AF_UNIX && un.sun_path[0] == '/')
				unlink(un.sun_path);
			close(fd);
		}
	}
	free(copy);
	unsetenv(ENV_FDS);
}

/* A process of the previous generation (for the task queue's peer check). */
bool
master_old_child(pid_t pid)
{
	size_t i;

	for (i = 0; i < nold; i++)
		if (old_pids[i] == pid)
			return true;
	return false;
}

/* taskq.c's sockets in our epoll; events 0 removes one. */
static void
watch_task_fd(int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events,
	    .data.u64 = EV_TAG(EV_TASK, fd) };

	if (events == 0) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
		return;
	}
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) == -1 &&
	    (errno != ENOENT || epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == -1))
		log_syserr("epoll_ctl (task queue)");
}

static void
read_old_pids(void)
{
	const char *env = getenv(ENV_OLD);
	char *copy, *tok, *save;

	if (env == NULL)
		return;
	copy = xstrdup(env);
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		old_pids = xreallocarray(old_pids, nold + 1, sizeof *old_pids);
		old_pids[nold++] = (pid_t)atoi(tok);
	}
	free(copy);
	unsetenv(ENV_OLD);
}

static size_t
total_children(void)
{
	size_t i, n = nold;

	for (i = 0; i < npools; i++)
		n += pool_nprocs(pools[i]);
	return n;
}

static void
signal_children(int sig)
{
	size_t i;

	for (i = 0; i < npools; i++)
		pool_signal_all(pools[i], sig);
	for (i = 0; i < nold; i++)
		kill(old_pids[i], sig);
}

static void
begin_stop(enum master_state st)
{
	size_t i;

	if (state == M_STOPPING || state == st)
		return;
	state = st;
	systemd_stopping(st == M_STOPPING ? "Stopping" :
	    "Stopping: finishing the requests in flight");
	pool_set_spawn_blocked(true);
	for (i = 0; i < npools; i++)
		pool_retire(pools[i]);
	if (st == M_STOPPING) {
		log_notice("terminating (stop now)");
		signal_children(SIGTERM);
		stop_deadline_us = sb_now_us() + 1000000;
	} else {
		log_notice("finishing (graceful stop): waiting for requests in flight");
		signal_children(SIGQUIT);
		stop_deadline_us = conf->process_control_timeout_ms > 0 ?
		    sb_now_us() + (uint64_t)conf->process_control_timeout_ms * 1000 : 0;
	}
}

/* Re-execute with the same argv, sockets and pid (see the top comment). */
static void
reexec(void)
{
	char *fds = NULL, *pids = NULL, *tmp;
	size_t i;
	struct proc *pr;

	for (i = 0; i < npools; i++) {
		struct taskq *tq = pool_taskq(pools[i]);
		int fd = pool_listen_fd(pools[i]);
		fcntl(fd, F_SETFD, 0);
		xasprintf(&tmp, "%s%s%d", fds != NULL ? fds : "",
		    fds != NULL ? "," : "", fd);
		free(fds);
		fds = tmp;
		if (tq != NULL) {
			fd = taskq_listen_fd(tq);
			fcntl(fd, F_SETFD, 0);
			xasprintf(&tmp, "%s,%d", fds, fd);
			free(fds);
			fds = tmp;
		}
		for (pr = pool_procs(pools[i]); pr != NULL; pr = pr->next) {
			xasprintf(&tmp, "%s%s%d", pids != NULL ? pids : "",
			    pids != NULL ? "," : "", (int)pr->pid);
			free(pids);
			pids = tmp;
		}
	}
	for (i = 0; i < nold; i++) {
		xasprintf(&tmp, "%s%s%d", pids != NULL ? pids : "",
		    pids != NULL ? "," : "", (int)old_pids[i]);
		free(pids);
		pids = tmp;
	}
	if (fds != NULL)
		setenv(ENV_FDS, fds, 1);
	if (pids != NULL)
		setenv(ENV_OLD, pids, 1);
	/* Tasks received are stored before the queue changes hands. */
	taskq_flush_all();
	for (i = 0; i < npools; i++)
		for (pr = pool_procs(pools[i]); pr != NULL; pr = pr->next)
			if (pr->role == ROLE_PROCESS)
				kill(pr->pid, SIGUSR2);	/* onReload() */
	setenv("PFPM_REEXEC", "1", 1);
	free(fds);
	free(pids);
	log_notice("reloading: starting a new generation");
	systemd_listen_export(true);
	execv(access(exe_path, X_OK) == 0 ? exe_path : "/proc/self/exe",
	    saved_argv);
	log_syserr("reload failed: cannot re-execute");
	systemd_listen_export(false);
	systemd_ready("Reload failed: cannot re-execute, the running generation stays");
	unsetenv(ENV_FDS);
	unsetenv(ENV_OLD);
	unsetenv("PFPM_REEXEC");
	for (i = 0; i < npools; i++) {
		fcntl(pool_listen_fd(pools[i]), F_SETFD, FD_CLOEXEC);
		if (pool_taskq(pools[i]) != NULL)
			fcntl(taskq_listen_fd(pool_taskq(pools[i])), F_SETFD,
			    FD_CLOEXEC);
	}
}

static void
reload(void)
{
	struct conf *next;

	if (state != M_RUNNING)
		return;
	systemd_reloading();
	log_notice("reloading: checking %s", conf->file);
	if ((next = conf_load(conf->file)) == NULL) {
		log_error("reload aborted: the new configuration is invalid, the running one stays");
		systemd_ready("Reload aborted: the new configuration is invalid");
		return;
	}
	conf_free(next);
	if (!config_starts(conf->file)) {
		log_error("reload aborted: the PHP engine does not start with the new configuration (see pfpm -t), the running one stays");
		systemd_ready("Reload aborted: the PHP engine does not start with the new configuration");
		return;
	}
	systemd_watchdog();
	reexec();
}

/* emergency_restart_threshold: too many crashes in the interval -> reload. */
static void
note_crash(uint64_t now)
{
	uint64_t window = (uint64_t)conf->emergency_restart_interval_ms * 1000;
	size_t i, keep = 0;

	if (conf->emergency_restart_threshold <= 0 || window == 0)
		return;
	crash_times = xreallocarray(crash_times, ncrash + 1, sizeof *crash_times);
	crash_times[ncrash++] = now;
	for (i = 0; i < ncrash; i++)
		if (now - crash_times[i] <= window)
			crash_times[keep++] = crash_times[i];
	ncrash = keep;
	if (ncrash >= (size_t)conf->emergency_restart_threshold) {
		log_warn("%zu children crashed within %.1f s (emergency_restart_threshold), restarting",
		    ncrash, (double)window / 1e6);
		ncrash = 0;
		reload();
	}
}

static void
reap(void)
{
	int status;
	pid_t pid;
	size_t i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		bool found = false;
		for (i = 0; i < npools && !found; i++) {
			struct proc *pr = pool_find(pools[i], pid);
			if (pr == NULL)
				continue;
			found = true;
			if (WIFSIGNALED(status) && !pr->quit_sent &&
			    pr->term_sent_us == 0 && WTERMSIG(status) != SIGQUIT)
				note_crash(sb_now_us());
			pool_reaped(pools[i], pr, status);
		}
		for (i = 0; i < nold && !found; i++) {
			if (old_pids[i] != pid)
				continue;
			old_pids[i] = old_pids[--nold];
			found = true;
			log_debug("previous generation child %d exited", (int)pid);
		}
	}
}

static void
handle_signals(void)
{
	struct signalfd_siginfo si;

	while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap();
			tick();		/* respawn now, not at the next tick */
			break;
		case SIGTERM:
		case SIGINT:
			begin_stop(M_STOPPING);
			break;
		case SIGQUIT:
			begin_stop(M_DRAINING);
			break;
		case SIGUSR1:
			log_reopen();
			log_notice("log files reopened");
			signal_children(SIGUSR1);
			break;
		case SIGUSR2:
		case SIGHUP:
			reload();
			break;
		default:
			break;
		}
	}
}

static struct proc *
find_proc_fd(int fd)
{
	size_t i;
	struct proc *pr;

	for (i = 0; i < npools; i++)
		for (pr = pool_procs(pools[i]); pr != NULL; pr = pr->next)
			if (pr->out_fd == fd || pr->log_fd == fd)
				return pr;
	return NULL;
}

/* Register new children's output pipes and ondemand socket watches. */
static void
sync_watches(void)
{
	size_t i;
	struct proc *pr;

	for (i = 0; i < npools; i++) {
		bool want = !watch_paused[i] && pool_wants_accept_watch(pools[i]);
		if (want != watching[i]) {
			epoll_set(want ? EPOLL_CTL_ADD : EPOLL_CTL_DEL,
			    pool_listen_fd(pools[i]), EV_TAG(EV_LISTEN, i));
			watching[i] = want;
		}
		for (pr = pool_procs(pools[i]); pr != NULL; pr = pr->next) {
			if (pr->out_fd >= 0 && !pr->out_watched) {
				epoll_set(EPOLL_CTL_ADD, pr->out_fd,
				    EV_TAG(EV_OUTPUT, pr->out_fd));
				pr->out_watched = true;
			}
			if (pr->log_fd >= 0 && !pr->log_watched) {
				epoll_set(EPOLL_CTL_ADD, pr->log_fd,
				    EV_TAG(EV_LOG, pr->log_fd));
				pr->log_watched = true;
			}
		}
	}
}

/* --- systemd (sd.c): READY once every pool serves, then STATUS, WATCHDOG --- */
#define SD_STATUS_US 5000000ULL
static bool sd_ready_sent;
static uint64_t sd_status_us, sd_accepted;

/* php-fpm's STATUS= figures: processes from the scoreboard, traffic from accepted counts. */
static void
notify_systemd(uint64_t now, bool all_ready)
{
	uint64_t accepted = 0, slow = 0;
	double rate = 0;
	char status[256];
	int active = 0, idle = 0;
	size_t i;

	systemd_watchdog();
	if (!systemd_notifying() ||
	    (!sd_ready_sent && (!all_ready || state != M_RUNNING)) ||
	    (sd_ready_sent && now - sd_status_us < SD_STATUS_US))
		return;
	for (i = 0; i < sb_nslots(); i++) {
		int st = sb_slot(i)->state;
		if (st == SB_IDLE)
			idle++;
		else if (st == SB_READING || st == SB_RUNNING || st == SB_FINISHING)
			active++;
	}
	for (i = 0; i < npools; i++) {
		accepted += sb_pool(i)->accepted;
		slow += sb_pool(i)->slow_requests;
	}
	if (sd_status_us != 0 && now > sd_status_us && accepted >= sd_accepted)
		rate = (double)(accepted - sd_accepted) * 1e6 /
		    (double)(now - sd_status_us);
	sd_accepted = accepted;
	sd_status_us = now;
	snprintf(status, sizeof status,
	    "Processes active: %d, idle: %d, Requests: %llu, slow: %llu, Traffic: %.3greq/sec",
	    active, idle, (unsigned long long)accepted,
	    (unsigned long long)slow, rate);
	if (sd_ready_sent)
		systemd_status(status);
	else {
		systemd_ready(status);
		sd_ready_sent = true;
	}
}
/* --- end systemd --- */

static void
tick(void)
{
	uint64_t now = sb_now_us();
	size_t i;
	bool all_ready = true;

	if (watch_reload_us != 0 && now >= watch_reload_us) {
		watch_reload_us = 0;
		log_notice("watch: PHP files changed, reloading");
		reload();
	}

	for (i = 0; i < npools; i++) {
		watch_paused[i] = false;
		pool_maintain(pools[i], now);
		all_ready = all_ready && pool_ready(pools[i]);
	}
	taskq_tick_all(now);
	notify_systemd(now, all_ready);
	/* The new generation serves: let the previous one finish and go. */
	if (nold > 0 && !old_quit_sent && (all_ready || state != M_RUNNING)) {
		for (i = 0; i < nold; i++)
			kill(old_pids[i], SIGQUIT);
		old_quit_sent = true;
		if (conf->process_control_timeout_ms > 0)
			old_deadline_us = now +
			    (uint64_t)conf->process_control_timeout_ms * 1000;
		log_notice("new generation ready: previous workers finish their requests and exit");
	}
	if (nold > 0 && old_deadline_us != 0 && now > old_deadline_us &&
	    old_signal != SIGKILL) {
		old_signal = old_signal == SIGQUIT ? SIGTERM : SIGKILL;
		log_warn("%zu previous workers still running after process_control_timeout, sending %s",
		    nold, old_signal == SIGTERM ? "SIGTERM" : "SIGKILL");
		for (i = 0; i < nold; i++)
			kill(old_pids[i], old_signal);
		old_deadline_us = now + 1000000;
	}
	if (state != M_RUNNING && stop_deadline_us != 0 && now > stop_deadline_us) {
		if (!term_escalated) {
			log_warn("children still running after the timeout, sending SIGTERM");
			signal_children(SIGTERM);
			term_escalated = true;
			stop_deadline_us = now + 1000000;
		} else {
			log_warn("children still running, sending SIGKILL");
			signal_children(SIGKILL);
			stop_deadline_us = 0;
		}
	}
}

static void
write_pid_file(void)
{
	FILE *f;

	if (conf->pid_file == NULL)
		return;
	if ((f = fopen(conf->pid_file, "w")) == NULL) {
		log_syserr("cannot write pid file %s", conf->pid_file);
		return;
	}
	fprintf(f, "%d\n", (int)getpid());
	fclose(f);
}

static void
cleanup(void)
{
	size_t i;

	for (i = 0; i < npools; i++) {
		const struct pool_conf *pc = pool_conf_of(pools[i]);
		int fd = pool_listen_fd(pools[i]);
		/* systemd's socket (and its file) outlive us: it may start us again. */
		if (pc->addr.family == AF_UNIX && !systemd_listen_activated(fd))
			unlink(pc->addr.path);
		close(fd);
		pool_free(pools[i]);
	}
	free(pools);
	free(watching);
	free(watch_paused);
	free(old_pids);
	free(crash_times);
	pools = NULL;
	npools = 0;
	if (conf->pid_file != NULL)
		unlink(conf->pid_file);
	close(epfd);
	close(sigfd);
	close(timerfd);
	if (watchfd != -1)
		close(watchfd);
	sapi_engine_stop();
	sb_destroy();
}

static int
open_pools(void)
{
	size_t i, slots = 0;
	char *cause = NULL;

	for (i = 0; i < conf->npools; i++) {
		const struct pool_conf *pc = conf->pools[i];
		slots += (size_t)pc->max_children + (size_t)pc->task_workers +
		    (pc->timer ? 1 : 0);
		for (size_t k = 0; k < pc->n_processes; k++)
			slots += (size_t)pc->processes[k].count;
	}
	/* Room for a draining generation beside the new one. */
	slots = slots * 2 + 4;
	if (conf->process_max > 0 && (size_t)conf->process_max * 2 < slots)
		slots = (size_t)conf->process_max * 2;
	if (sb_create(slots, conf->npools) == -1) {
		log_syserr("cannot create the scoreboard");
		return -1;
	}
	pools = xcalloc(conf->npools, sizeof *pools);
	watching = xcalloc(conf->npools, sizeof *watching);
	watch_paused = xcalloc(conf->npools, sizeof *watch_paused);
	for (i = 0; i < conf->npools; i++) {
		const struct pool_conf *pc = conf->pools[i];
		int fd = systemd_listen_fd(pc->name, &pc->addr,
		    pool_socket_matches);

		if (fd != -1)
			;	/* socket activation: the .socket unit sets its owner and mode */
		else if ((fd = inherited_fd(&pc->addr)) != -1) {
			fcntl(fd, F_SETFD, FD_CLOEXEC);
			if (pool_socket_perms(pc, &cause) == -1) {
				log_warn("[pool %s] %s", pc->name, cause);
				free(cause);
				cause = NULL;
			}
		} else if ((fd = pool_open_listener(pc, &cause)) == -1) {
			log_error("[pool %s] cannot listen on %s: %s", pc->name,
			    pc->listen, cause);
			free(cause);
			return -1;
		}
		pools[i] = pool_new(conf, pc, (int)i, fd);
		npools++;
	}
	close_unclaimed_fds();
	systemd_listen_done();
	return 0;
}

/* Run until stopped; returns the process exit code. */
int
master_run(struct conf *c, int ready_fd)
{
	struct itimerspec its = { { 0, TICK_MS * 1000000L }, { 0, TICK_MS * 1000000L } };
	struct epoll_event evs[32];
	sigset_t mask;
	char *cause = NULL;
	int i, n;

	conf = c;
	systemd_init();
	read_old_pids();
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGQUIT);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (sapi_engine_start(conf->php_ini, &cause) == -1) {
		log_error("%s", cause);
		free(cause);
		return 1;
	}
	if ((sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) == -1 ||
	    (timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) == -1 ||
	    (epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatal("cannot set up the event loop");
	taskq_set_watch(watch_task_fd);	/* before the pools open their queues */
	if (open_pools() == -1) {
		cleanup();
		return 1;
	}
	timerfd_settime(timerfd, 0, &its, NULL);
	epoll_set(EPOLL_CTL_ADD, sigfd, EV_TAG(EV_SIGNAL, 0));
	epoll_set(EPOLL_CTL_ADD, timerfd, EV_TAG(EV_TIMER, 0));
	if (conf->n_watch > 0) {
		if ((watchfd = watch_open(conf->watch, conf->n_watch, &cause)) == -1) {
			log_error("%s", cause);
			free(cause);
			cause = NULL;
		} else
			epoll_set(EPOLL_CTL_ADD, watchfd, EV_TAG(EV_WATCH, 0));
	}
	pool_set_child_cleanup(close_master_fds);
	write_pid_file();
	tick();
	sync_watches();
	log_notice("pfpm %s (PHP %s) ready to handle connections, pid %d",
	    PACKAGE_VERSION, sapi_php_version(), (int)getpid());
	if (ready_fd >= 0) {
		if (write(ready_fd, "1", 1) != 1)
			log_syserr("cannot notify the parent");
		close(ready_fd);
	}

	while (state == M_RUNNING || total_children() > 0) {
		n = epoll_wait(epfd, evs, 32, taskq_timeout_ms());
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fatal("epoll_wait");
		}
		for (i = 0; i < n; i++) {
			uint32_t kind = (uint32_t)(evs[i].data.u64 >> 32);
			uint32_t arg = (uint32_t)evs[i].data.u64;
			uint64_t expirations;

			switch (kind) {
			case EV_SIGNAL:
				handle_signals();
				break;
			case EV_TIMER:
				if (read(timerfd, &expirations, sizeof expirations) < 0 &&
				    errno != EAGAIN)
					log_syserr("timerfd");
				tick();
				break;
			case EV_LISTEN:
				/*
				 * The event may be stale (a new child accepted in
				 * between): re-watch at the next tick, as php-fpm.
				 */
				pool_on_readable(pools[arg]);
				watch_paused[arg] = true;
				break;
			case EV_OUTPUT:
			case EV_LOG: {
				struct proc *pr = find_proc_fd((int)arg);
				if (pr == NULL)
					epoll_set(EPOLL_CTL_DEL, (int)arg, 0);
				else if (kind == EV_LOG)
					pool_drain_log(pr);
				else
					pool_drain_output(pr, false);
				break;
			}
			case EV_WATCH:
				if (watch_read(watchfd) && watch_reload_us == 0)
					watch_reload_us = sb_now_us() + WATCH_DEBOUNCE_US;
				break;
			case EV_TASK:
				taskq_event((int)arg, evs[i].events);
				break;
			default:
				break;
			}
		}
		taskq_flush_all();
		sync_watches();
	}
	log_notice("exiting, bye-bye!");
	cleanup();
	return 0;
}
