/*
 * Pools: listening sockets, the process-manager strategies (static,
 * dynamic, ondemand), spawning, reaping and respawn throttling.  Runs in
 * the master only; the child branch of pool_spawn() calls worker_main().
 */
#include "pfpm.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RESPAWN_MIN_US 100000ULL	/* first delay after a crash loop */
#define RESPAWN_MAX_US 30000000ULL
#define QUICK_EXIT_US 1000000ULL	/* a child dying this young counts as failing */
#define TERMINATE_GRACE_US 2000000ULL	/* worker mode: after the in-request stop */

struct pool {
	const struct conf *conf;
	const struct pool_conf *pc;
	int index;
	int listen_fd;
	int handover[2];		/* kept connections passed between workers */
	struct proc *procs;
	int nprocs;
	int spawn_rate;			/* dynamic: doubles while short of idle */
	uint64_t last_pm_us;
	uint64_t respawn_delay_us;
	uint64_t respawn_after_us;
	uint64_t failing_since_us;	/* respawn throttled since; 0 when not */
	int access_fd;			/* access.log, written by the master only */
	int slow_fd;			/* slowlog, likewise */
	bool retired;
	bool max_children_warned;
	/*
	 * Worker mode's other processes: task workers, the timer and the
	 * custom processes, each kept running (one entry per process).
	 */
	struct fixed {
		int role;
		const struct process_conf *process;
		int index;
		pid_t pid;		/* 0: to be started */
		uint64_t after_us;	/* not before (process restart_interval) */
		uint64_t delay_us;	/* task, timer: crash-loop backoff */
	} *fixed;
	size_t nfixed;
	struct taskq *tq;		/* NULL: none, or not open yet */
	uint64_t tq_retry_us;
	struct pool *next_all;
};

#define TASKQ_RETRY_US 5000000ULL	/* a queue that would not open: retry */

static bool spawn_blocked;
static struct pool *all_pools;		/* for the fds a child must not keep */
static void (*child_cleanup)(void);

void
pool_set_child_cleanup(void (*fn)(void))
{
	child_cleanup = fn;
}

void
pool_set_spawn_blocked(bool b)
{
	spawn_blocked = b;
}

/* Does an already open socket (inherited across exec) serve this address? */
bool
pool_socket_matches(int fd, const struct conf_listen *l)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1 ||
	    ss.ss_family != l->family)
		return false;
	if (l->family == AF_UNIX)
		return strcmp(((struct sockaddr_un *)&ss)->sun_path, l->path) == 0;
	if (l->family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		struct in_addr want = { .s_addr = htonl(INADDR_ANY) };
		if (ntohs(in->sin_port) != l->port)
			return false;
		if (l->host != NULL && inet_pton(AF_INET, l->host, &want) != 1)
			return false;
		return in->sin_addr.s_addr == want.s_addr;
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		struct in6_addr want = IN6ADDR_ANY_INIT;
		if (ntohs(in6->sin6_port) != l->port)
			return false;
		if (l->host != NULL && inet_pton(AF_INET6, l->host, &want) != 1)
			return false;
		return memcmp(&in6->sin6_addr, &want, sizeof want) == 0;
	}
}

static int
set_owner(const struct pool_conf *pc, const char *path, char **cause)
{
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	const char *owner = pc->listen_owner, *group = pc->listen_group;

	if (owner == NULL && group == NULL && geteuid() == 0 && pc->user != NULL) {
		owner = pc->user;
		group = pc->group;
	}
	if (owner != NULL) {
		struct passwd *pw = getpwnam(owner);
		if (pw == NULL) {
			xasprintf(cause, "listen.owner: no such user '%s'", owner);
			return -1;
		}
		uid = pw->pw_uid;
		if (group == NULL)
			gid = pw->pw_gid;
	}
	if (group != NULL) {
		struct group *gr = getgrnam(group);
		if (gr == NULL) {
			xasprintf(cause, "listen.group: no such group '%s'", group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) && chown(path, uid, gid) == -1) {
		xasprintf(cause, "chown %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* listen.mode/owner/group on a unix socket (also an inherited one on reload). */
int
pool_socket_perms(const struct pool_conf *pc, char **cause)
{
	if (pc->addr.family != AF_UNIX)
		return 0;
	if (chmod(pc->addr.path, (mode_t)pc->listen_mode) == -1) {
		xasprintf(cause, "chmod %s: %s", pc->addr.path, strerror(errno));
		return -1;
	}
	return set_owner(pc, pc->addr.path, cause);
}

/* Open, bind and listen on a pool's address; the fd is non-blocking. */
int
pool_open_listener(const struct pool_conf *pc, char **cause)
{
	const struct conf_listen *l = &pc->addr;
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, zero = 0;
	int backlog = pc->listen_backlog < 0 ? SOMAXCONN : pc->listen_backlog;

	memset(&ss, 0, sizeof ss);
	if (l->family == AF_UNIX) {
		struct sockaddr_un *un = (struct sockaddr_un *)&ss;
		un->sun_family = AF_UNIX;
		strncpy(un->sun_path, l->path, sizeof un->sun_path - 1);
		len = sizeof *un;
	} else if (l->family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)l->port);
		in->sin_addr.s_addr = htonl(INADDR_ANY);
		if (l->host != NULL)
			inet_pton(AF_INET, l->host, &in->sin_addr);
		len = sizeof *in;
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)l->port);
		in6->sin6_addr = in6addr_any;
		if (l->host != NULL)
			inet_pton(AF_INET6, l->host, &in6->sin6_addr);
		len = sizeof *in6;
	}
	fd = socket(l->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 && l->family == AF_INET6 && l->host == NULL &&
	    errno == EAFNOSUPPORT) {
		/* No IPv6 here: a bare port listens on IPv4 only. */
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		memset(&ss, 0, sizeof ss);
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)l->port);
		in->sin_addr.s_addr = htonl(INADDR_ANY);
		len = sizeof *in;
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	if (fd == -1) {
		xasprintf(cause, "socket: %s", strerror(errno));
		return -1;
	}
	if (l->family == AF_UNIX) {
		/* A stale socket of a dead instance: remove it; a live one: refuse. */
		struct stat st;
		if (stat(l->path, &st) == 0 && S_ISSOCK(st.st_mode)) {
			int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (probe != -1 && connect(probe, (struct sockaddr *)&ss,
			    len) == 0) {
				close(probe);
				close(fd);
				xasprintf(cause, "%s is in use by another process",
				    l->path);
				return -1;
			}
			if (probe != -1)
				close(probe);
			unlink(l->path);
		}
	} else {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		/* "[::]:port" and a bare port serve IPv4 too, as php-fpm's do. */
		if (ss.ss_family == AF_INET6 && (l->host == NULL ||
		    strcmp(l->host, "::") == 0))
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
	}
	if (bind(fd, (struct sockaddr *)&ss, len) == -1) {
		xasprintf(cause, "bind %s: %s", pc->listen, strerror(errno));
		close(fd);
		return -1;
	}
	if (pool_socket_perms(pc, cause) == -1) {
		close(fd);
		unlink(l->path);
		return -1;
	}
	if (listen(fd, backlog) == -1) {
		xasprintf(cause, "listen %s: %s", pc->listen, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static void
add_fixed(struct pool *p, int role, const struct process_conf *process, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		p->fixed = xreallocarray(p->fixed, p->nfixed + 1, sizeof *p->fixed);
		p->fixed[p->nfixed++] = (struct fixed){ .role = role,
		    .process = process, .index = i };
	}
}

/* The pool's task queue; retried every few seconds while it fails. */
static void
open_taskq(struct pool *p)
{
	char *cause = NULL;

	if (p->pc->task_workers == 0 || p->tq != NULL)
		return;
	p->tq_retry_us = sb_now_us() + TASKQ_RETRY_US;
	if ((p->tq = taskq_open(p, p->pc, p->index, getpid(), &cause)) == NULL) {
		log_error("[pool %s] task queue %s: %s; tasks are refused until it opens",
		    p->pc->name, p->pc->task_queue, cause);
		free(cause);
	}
}

struct pool *
pool_new(const struct conf *conf, const struct pool_conf *pc, int index,
    int listen_fd)
{
	struct pool *p = xcalloc(1, sizeof *p);
	struct sb_pool *sp = sb_pool((size_t)index);

	p->conf = conf;
	p->pc = pc;
	p->index = index;
	p->listen_fd = listen_fd;
	/*
	 * A process that retires (max_requests, max_memory) hands its kept
	 * connections to the others through this pair instead of closing
	 * them, so the web server never sends a request on a connection we
	 * are closing.  Not for ondemand: nobody may be there to take them.
	 */
	p->handover[0] = p->handover[1] = -1;
	if (pc->pm != PM_ONDEMAND && socketpair(AF_UNIX,
	    SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, p->handover) == -1)
		log_syserr("[pool %s] socketpair", pc->name);
	p->spawn_rate = 1;
	if (sp != NULL) {
		snprintf(sp->name, sizeof sp->name, "%s", pc->name);
		sp->start_time = sb_wall_us();
	}
	/*
	 * The access log is the master's: workers send it their lines (see
	 * accesslog.c), so USR1 can reopen it for all of them at once.
	 */
	p->access_fd = -1;
	if (pc->access_log != NULL) {
		char *cause = NULL;
		if ((p->access_fd = accesslog_open(pc->access_log, &cause)) == -1) {
			log_error("[pool %s] %s: requests are not logged until USR1 can open it",
			    pc->name, cause);
			free(cause);
		}
	}
	p->slow_fd = -1;
	if (pc->slowlog != NULL) {
		char *cause = NULL;
		if ((p->slow_fd = accesslog_open(pc->slowlog, &cause)) == -1) {
			log_error("[pool %s] %s", pc->name, cause);
			free(cause);
		}
	}
	add_fixed(p, ROLE_TASK, NULL, pc->task_workers);
	if (pc->timer)
		add_fixed(p, ROLE_TIMER, NULL, 1);
	for (size_t i = 0; i < pc->n_processes; i++)
		add_fixed(p, ROLE_PROCESS, &pc->processes[i], pc->processes[i].count);
	p->next_all = all_pools;
	all_pools = p;
	open_taskq(p);
	return p;
}

void
pool_free(struct pool *p)
{
	struct proc *pr, *next;
	struct pool **pp;

	for (pp = &all_pools; *pp != NULL; pp = &(*pp)->next_all) {
		if (*pp == p) {
			*pp = p->next_all;
			break;
		}
	}
	if (p->tq != NULL)
		taskq_close(p->tq);
	free(p->fixed);
	if (p->access_fd >= 0)
		close(p->access_fd);
	if (p->slow_fd >= 0)
		close(p->slow_fd);
	if (p->handover[0] != -1) {
		close(p->handover[0]);
		close(p->handover[1]);
	}
	for (pr = p->procs; pr != NULL; pr = next) {
		next = pr->next;
		if (pr->out_fd >= 0)
			close(pr->out_fd);
		if (pr->log_fd >= 0)
			close(pr->log_fd);
		free(pr->outbuf);
		free(pr->logbuf);
		free(pr);
	}
	free(p);
}

struct taskq *
pool_taskq(struct pool *p)
{
	return p->tq;
}

int
pool_listen_fd(const struct pool *p)
{
	return p->listen_fd;
}

const struct pool_conf *
pool_conf_of(const struct pool *p)
{
	return p->pc;
}

struct proc *
pool_procs(struct pool *p)
{
	return p->procs;
}

size_t
pool_nprocs(const struct pool *p)
{
	return (size_t)p->nprocs;
}

static void
close_pair(int fds[2])
{
	if (fds[0] != -1)
		close(fds[0]);
	if (fds[1] != -1)
		close(fds[1]);
	fds[0] = fds[1] = -1;
}

#define LOG_CARRY_MAX (ACCESSLOG_LINE_MAX + 16)

/*
 * Copy a worker's log lines into the log (see log_use_fd), and its access
 * log lines into the pool's access log (see accesslog.c).  An access log
 * record cut by the end of a read waits in pr->logbuf for the rest.
 */
void
pool_drain_log(struct proc *pr)
{
	char buf[LOG_CARRY_MAX + 65536];
	size_t have, used;
	ssize_t n;

	while (pr->log_fd >= 0) {
		have = pr->loglen;
		if (have > 0)
			memcpy(buf, pr->logbuf, have);
		n = read(pr->log_fd, buf + have, sizeof buf - have);
		if (n <= 0) {
			if (n < 0)
				return;
			break;
		}
		have += (size_t)n;
		used = accesslog_demux(buf, have, pr->pool->access_fd,
		    pr->pool->slow_fd);
		pr->loglen = have - used;
		if (pr->loglen > LOG_CARRY_MAX)
			pr->loglen = 0;		/* not one of our records: drop it */
		if (pr->loglen > 0) {
			if (pr->logbuf == NULL)
				pr->logbuf = xmalloc(LOG_CARRY_MAX);
			memmove(pr->logbuf, buf + used, pr->loglen);
		}
	}
	if (pr->log_fd >= 0) {
		close(pr->log_fd);
		pr->log_fd = -1;
	}
	pr->loglen = 0;
}

/* Live processes of every pool, for process.max. */
static int
total_processes(void)
{
	struct pool *ap;
	int n = 0;

	for (ap = all_pools; ap != NULL; ap = ap->next_all)
		n += ap->nprocs;
	return n;
}

/* Fork one process of a role.  The child never returns from here. */
static int
spawn_role(struct pool *p, int role, const struct process_conf *process,
    int index)
{
	struct sb_slot *slot;
	struct proc *pr;
	int out[2] = { -1, -1 }, lg[2] = { -1, -1 };
	pid_t pid, master = getpid();
	/* The log pipe carries the worker's error log and access log lines. */
	bool log_pipe = !log_is_syslog() || p->pc->access_log != NULL ||
	    p->pc->slowlog != NULL;

	if (p->conf->process_max > 0 && total_processes() >= p->conf->process_max) {
		if (!p->max_children_warned)
			log_warn("[pool %s] process.max (%d) reached", p->pc->name,
			    p->conf->process_max);
		p->max_children_warned = true;
		return -1;
	}
	if ((slot = sb_alloc(p->index, 0)) == NULL) {
		log_error("[pool %s] no free scoreboard slot (process.max?)",
		    p->pc->name);
		return -1;
	}
	/* A custom process's output always goes to the log: it has no client. */
	if (((p->pc->catch_workers_output || role == ROLE_PROCESS) &&
	    pipe2(out, O_CLOEXEC) == -1) ||
	    (log_pipe && pipe2(lg, O_CLOEXEC) == -1)) {
		log_syserr("[pool %s] pipe", p->pc->name);
		sb_release(slot);
		close_pair(out);
		return -1;
	}
	switch ((pid = fork())) {
	case -1:
		log_syserr("[pool %s] fork", p->pc->name);
		sb_release(slot);
		close_pair(out);
		close_pair(lg);
		return -1;
	case 0: {
		struct worker_ctx w = {
			.conf = p->conf,
			.pool = p->pc,
			.pool_index = p->index,
			.listen_fd = p->listen_fd,
			.handover_send = p->handover[0],
			.handover_recv = p->handover[1],
			.access_fd = p->pc->access_log != NULL ||
			    p->pc->slowlog != NULL ? lg[1] : -1,
			.slot = slot,
			.master_pid = master,
			.role = role,
			.process = process,
			.role_index = index,
		};
		int null = open("/dev/null", O_RDWR);
		struct pool *ap;

		if (child_cleanup != NULL)
			child_cleanup();
		for (ap = all_pools; ap != NULL; ap = ap->next_all) {
			if (ap->access_fd >= 0)
				close(ap->access_fd);
			if (ap->slow_fd >= 0)
				close(ap->slow_fd);
		}
		if (lg[1] != -1) {
			close(lg[0]);
			if (!log_is_syslog())
				log_use_fd(lg[1]);
		}
		slot->pid = getpid();
		slot->role = role;
		if (null != -1) {
			dup2(null, STDIN_FILENO);
			if (out[1] == -1) {
				dup2(null, STDOUT_FILENO);
				dup2(null, STDERR_FILENO);
			}
			if (null > STDERR_FILENO)
				close(null);
		}
		if (out[1] != -1) {
			dup2(out[1], STDOUT_FILENO);
			dup2(out[1], STDERR_FILENO);
			close(out[0]);
			close(out[1]);
		}
		worker_main(&w);
	}
	default:
		break;
	}
	slot->pid = pid;
	slot->role = role;
	sb_pool((size_t)p->index)->boots++;
	pr = xcalloc(1, sizeof *pr);
	pr->pid = pid;
	pr->role = role;
	pr->process = process;
	pr->role_index = index;
	pr->pool = p;
	pr->slot = slot;
	pr->out_fd = out[0];
	pr->log_fd = lg[0];
	pr->started_us = sb_now_us();
	if (out[1] != -1) {
		close(out[1]);
		fcntl(out[0], F_SETFL, O_NONBLOCK);
	}
	if (lg[1] != -1) {
		close(lg[1]);
		fcntl(lg[0], F_SETFL, O_NONBLOCK);
	}
	pr->next = p->procs;
	p->procs = pr;
	p->nprocs++;
	log_debug("[pool %s] child %d started (%s)", p->pc->name, (int)pid,
	    role_name(role));
	return (int)pid;
}

static int
pool_spawn(struct pool *p)
{
	return spawn_role(p, ROLE_REQUEST, NULL, 0);
}

/* Start the task workers, timer and custom processes that are not running. */
static void
keep_fixed(struct pool *p, uint64_t now)
{
	size_t i;
	int pid;

	for (i = 0; i < p->nfixed; i++) {
		struct fixed *f = &p->fixed[i];

		if (f->pid != 0 || now < f->after_us)
			continue;
		if ((pid = spawn_role(p, f->role, f->process, f->index)) <= 0)
			return;
		f->pid = pid;
	}
}

/*
 * The dynamic strategy (php-fpm's): below min_spare idle processes, spawn
 * up to the current rate (doubling each round up to max_spawn_rate); above
 * max_spare, stop one idle process per round.  Returns +n to spawn, -1 to
 * stop one, 0 to do nothing; *rate is the next round's spawn rate.
 */
int
pm_decide(const struct pool_conf *pc, int total, int idle, int *rate)
{
	int want;

	switch (pc->pm) {
	case PM_STATIC:
		return total < pc->max_children ? pc->max_children - total : 0;
	case PM_ONDEMAND:
		return 0;
	case PM_DYNAMIC:
		break;
	}
	if (idle > pc->max_spare_servers) {
		*rate = 1;
		return -1;
	}
	if (idle >= pc->min_spare_servers) {
		*rate = 1;
		return 0;
	}
	if (total >= pc->max_children)
		return 0;
	want = pc->min_spare_servers - idle;
	if (want > *rate)
		want = *rate;
	if (want > pc->max_children - total)
		want = pc->max_children - total;
	if (*rate < pc->max_spawn_rate)
		*rate = *rate * 2 > pc->max_spawn_rate ? pc->max_spawn_rate :
		    *rate * 2;
	return want;
}

static void
count(struct pool *p, int *idle, int *active, struct proc **oldest_idle)
{
	struct proc *pr;
	uint64_t oldest = UINT64_MAX;

	*idle = *active = 0;
	*oldest_idle = NULL;
	for (pr = p->procs; pr != NULL; pr = pr->next) {
		if (pr->quit_sent || pr->slot->retiring || pr->role != ROLE_REQUEST)
			continue;
		if (pr->slot->state == SB_IDLE) {
			(*idle)++;
			if (pr->slot->idle_since_us < oldest) {
				oldest = pr->slot->idle_since_us;
				*oldest_idle = pr;
			}
		} else if (pr->slot->state != SB_STARTING)
			(*active)++;
	}
}

static int
live_procs(struct pool *p)
{
	struct proc *pr;
	int n = 0;

	for (pr = p->procs; pr != NULL; pr = pr->next)
		if (!pr->quit_sent && !pr->slot->retiring &&
		    pr->role == ROLE_REQUEST)
			n++;
	return n;
}

static void
stop_proc(struct proc *pr, const char *why)
{
	log_debug("[pool %s] stopping child %d (%s)", pr->pool->pc->name,
	    (int)pr->pid, why);
	pr->quit_sent = true;
	kill(pr->pid, SIGQUIT);
}

/*
 * request_terminate_timeout.  Classic mode: TERM the child (php-fpm), KILL a
 * second later.  Worker mode: the worker itself throws in the request at
 * the limit (php_slowlog.c), so the booted application survives; a request
 * that does not unwind within the grace period is KILLed.
 */
static void
check_timeouts(struct pool *p, uint64_t now)
{
	uint64_t limit = (uint64_t)p->pc->request_terminate_timeout_ms * 1000;
	bool worker = p->pc->worker != NULL;
	struct proc *pr;

	if (worker)
		limit += TERMINATE_GRACE_US;

	for (pr = p->procs; pr != NULL; pr = pr->next) {
		struct sb_slot *s = pr->slot;
		uint64_t start = s->req_start_us;

		if (pr->term_sent_us != 0) {
			if (now - pr->term_sent_us > 1000000)
				kill(pr->pid, SIGKILL);
			continue;
		}
		if (pr->role != ROLE_REQUEST ||
		    p->pc->request_terminate_timeout_ms == 0 || start == 0 ||
		    (s->state != SB_RUNNING && s->state != SB_READING &&
		    !(s->state == SB_FINISHING && p->pc->terminate_track_finished)) ||
		    now < start || now - start < limit)
			continue;
		log_warn("[pool %s] child %d, script '%s' (request: \"%s %s%s%s\") execution timed out (%.6f sec), terminating",
		    p->pc->name, (int)pr->pid, s->script, s->method, s->uri,
		    s->query[0] != '\0' ? "?" : "", s->query,
		    (double)(now - start) / 1e6);
		pr->term_sent_us = now;
		kill(pr->pid, worker ? SIGKILL : SIGTERM);
	}
}

static void
log_max_children(struct pool *p)
{
	if (p->max_children_warned)
		return;
	p->max_children_warned = true;
	sb_pool((size_t)p->index)->max_children_reached++;
	log_warn("[pool %s] server reached pm.max_children setting (%d), consider raising it",
	    p->pc->name, p->pc->max_children);
}

/* "max listen queue" of the status page: the TCP accept queue, sampled. */
static void
sample_listen_queue(struct pool *p)
{
	struct sb_pool *sp = sb_pool((size_t)p->index);
	uint64_t queue, len;

	if (p->pc->addr.family == AF_UNIX ||
	    sb_listen_queue(p->listen_fd, &queue, &len) == -1)
		return;
	if (queue > sp->listen_queue_max)
		sp->listen_queue_max = queue;
}

/* A failing pool recovers when a process started since then is ready. */
static void
check_recovered(struct pool *p)
{
	struct proc *pr;

	for (pr = p->procs; pr != NULL; pr = pr->next) {
		if (pr->started_us >= p->failing_since_us && !pr->quit_sent &&
		    pr->slot->state != SB_STARTING) {
			p->failing_since_us = 0;
			sb_pool((size_t)p->index)->failing = 0;
			log_notice("[pool %s] processes start again", p->pc->name);
			return;
		}
	}
}

/* Called every master tick: scale, respawn, enforce timeouts. */
void
pool_maintain(struct pool *p, uint64_t now)
{
	const struct pool_conf *pc = p->pc;
	struct proc *pr, *oldest;
	int idle, active, total, n;
	struct sb_pool *sp = sb_pool((size_t)p->index);

	check_timeouts(p, now);
	sample_listen_queue(p);
	if (p->failing_since_us != 0)
		check_recovered(p);
	if (p->retired || spawn_blocked)
		return;
	if (p->tq == NULL && p->pc->task_workers > 0 && now >= p->tq_retry_us)
		open_taskq(p);
	keep_fixed(p, now);
	count(p, &idle, &active, &oldest);
	total = live_procs(p);
	if ((uint64_t)active > sp->max_active)
		sp->max_active = (uint64_t)active;
	if (now < p->respawn_after_us)
		return;

	if (pc->pm == PM_ONDEMAND) {
		for (pr = p->procs; pr != NULL; pr = pr->next) {
			if (pr->quit_sent || pr->slot->state != SB_IDLE)
				continue;
			if (now - pr->slot->idle_since_us >=
			    (uint64_t)pc->process_idle_timeout_ms * 1000)
				stop_proc(pr, "process_idle_timeout");
		}
		return;
	}
	if (pc->pm == PM_DYNAMIC && now - p->last_pm_us < 1000000 &&
	    total >= pc->start_servers)
		return;
	p->last_pm_us = now;
	if (pc->pm == PM_DYNAMIC && total < pc->start_servers && idle == total)
		n = pc->start_servers - total;
	else
		n = pm_decide(pc, total, idle, &p->spawn_rate);
	if (n < 0 && oldest != NULL)
		stop_proc(oldest, "too many idle processes");
	if (pc->pm == PM_DYNAMIC && total >= pc->max_children && idle == 0)
		log_max_children(p);
	else if (total < pc->max_children)
		p->max_children_warned = false;
	while (n-- > 0)
		if (pool_spawn(p) == -1)
			break;
}

/* ondemand: a connection is waiting; start a process if none is idle. */
void
pool_on_readable(struct pool *p)
{
	int idle, active, total;
	struct proc *oldest, *pr;
	struct pollfd pfd;

	if (p->retired || spawn_blocked || sb_now_us() < p->respawn_after_us)
		return;
	count(p, &idle, &active, &oldest);
	if (idle > 0)
		return;
	for (pr = p->procs; pr != NULL; pr = pr->next)
		if (!pr->quit_sent && pr->role == ROLE_REQUEST &&
		    pr->slot->state == SB_STARTING)
			return;
	total = live_procs(p);
	if (total >= p->pc->max_children) {
		log_max_children(p);
		return;
	}
	/* Still a connection waiting, or did a child take it meanwhile? */
	pfd.fd = p->listen_fd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 0) == 1)
		pool_spawn(p);
}

/* ondemand pools want the master to watch their socket while none is idle. */
bool
pool_wants_accept_watch(struct pool *p)
{
	int idle, active;
	struct proc *oldest;

	if (p->pc->pm != PM_ONDEMAND || p->retired)
		return false;
	count(p, &idle, &active, &oldest);
	return idle == 0 && live_procs(p) < p->pc->max_children;
}

struct proc *
pool_find(struct pool *p, pid_t pid)
{
	struct proc *pr;

	for (pr = p->procs; pr != NULL; pr = pr->next)
		if (pr->pid == pid)
			return pr;
	return NULL;
}

/* Forward what a child printed (catch_workers_output) into the log. */
void
pool_drain_output(struct proc *pr, bool eof)
{
	char buf[4096], *nl;
	ssize_t n = -1;

	while (pr->out_fd >= 0 && (n = read(pr->out_fd, buf, sizeof buf)) != 0) {
		if (n < 0)
			break;
		pr->outbuf = xreallocarray(pr->outbuf, pr->outlen + (size_t)n + 1, 1);
		memcpy(pr->outbuf + pr->outlen, buf, (size_t)n);
		pr->outlen += (size_t)n;
	}
	if (n == 0 && pr->out_fd >= 0) {
		/* The child closed its end: print the rest, stop watching. */
		close(pr->out_fd);
		pr->out_fd = -1;
		eof = true;
	}
	while (pr->outlen > 0) {
		size_t len;
		nl = memchr(pr->outbuf, '\n', pr->outlen);
		if (nl == NULL && !eof && pr->outlen < 1024)
			break;
		len = nl != NULL ? (size_t)(nl - pr->outbuf) : pr->outlen;
		if (pr->pool->pc->decorate_workers_output)
			log_warn("[pool %s] child %d said into stderr: \"%.*s\"",
			    pr->pool->pc->name, (int)pr->pid, (int)len, pr->outbuf);
		else
			log_warn("%.*s", (int)len, pr->outbuf);
		if (nl != NULL)
			len++;
		memmove(pr->outbuf, pr->outbuf + len, pr->outlen - len);
		pr->outlen -= len;
	}
}

/*
 * A task worker, the timer or a custom process exited.  A custom process
 * comes back after its restart_interval; the others at once, or after a
 * growing delay while they die young.  Either way the pool's request
 * workers are not throttled for it.
 */
static void
fixed_exited(struct pool *p, struct proc *pr, bool quick_failure, uint64_t now)
{
	size_t i;

	for (i = 0; i < p->nfixed; i++) {
		struct fixed *f = &p->fixed[i];

		if (f->pid != pr->pid)
			continue;
		f->pid = 0;
		if (f->process != NULL) {
			f->after_us = now + (uint64_t)f->process->restart_interval_ms * 1000;
			if (!p->retired)
				log_notice("[pool %s] process %s #%d restarts in %.1f s",
				    p->pc->name, f->process->name, f->index,
				    (double)f->process->restart_interval_ms / 1e3);
		} else if (quick_failure) {
			f->delay_us = f->delay_us == 0 ? RESPAWN_MIN_US :
			    f->delay_us * 2;
			if (f->delay_us > RESPAWN_MAX_US)
				f->delay_us = RESPAWN_MAX_US;
			f->after_us = now + f->delay_us;
			log_warn("[pool %s] %s process is failing quickly, respawning in %.1f s",
			    p->pc->name, role_name(f->role), (double)f->delay_us / 1e6);
		} else
			f->delay_us = 0;
	}
}

/* A child has exited: log why, free its slot, throttle crash loops. */
void
pool_reaped(struct pool *p, struct proc *pr, int status)
{
	struct proc **pp;
	struct sb_pool *sp = sb_pool((size_t)p->index);
	uint64_t now = sb_now_us(), lived = now - pr->started_us;
	bool abnormal = false, signaled = false;
	int reason = pr->slot->recycle;

	if (pr->out_fd >= 0) {
		pool_drain_output(pr, true);
		if (pr->out_fd >= 0)
			close(pr->out_fd);
		pr->out_fd = -1;
	}
	pool_drain_log(pr);
	if (WIFEXITED(status)) {
		int code = WEXITSTATUS(status);
		/* A replacement after a fatal error is not a boot failure. */
		abnormal = code != 0 && code != PFPM_EXIT_REPLACE;
		log_msg(abnormal ? LOG_LVL_WARNING : LOG_LVL_NOTICE,
		    "[pool %s] child %d exited with code %d after %.6f seconds from start",
		    p->pc->name, (int)pr->pid, code, (double)lived / 1e6);
	} else if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		abnormal = !(pr->quit_sent && sig == SIGQUIT) &&
		    pr->term_sent_us == 0;
		signaled = abnormal;
		log_msg(abnormal ? LOG_LVL_WARNING : LOG_LVL_NOTICE,
		    "[pool %s] child %d exited on signal %d (%s%s) after %.6f seconds from start",
		    p->pc->name, (int)pr->pid, sig, strsignal(sig),
		    WCOREDUMP(status) ? " - core dumped" : "", (double)lived / 1e6);
	}
	if (pr->role != ROLE_REQUEST)
		fixed_exited(p, pr, abnormal && lived < QUICK_EXIT_US, now);
	else if (abnormal && lived < QUICK_EXIT_US) {
		p->respawn_delay_us = p->respawn_delay_us == 0 ? RESPAWN_MIN_US :
		    p->respawn_delay_us * 2;
		if (p->respawn_delay_us > RESPAWN_MAX_US)
			p->respawn_delay_us = RESPAWN_MAX_US;
		p->respawn_after_us = now + p->respawn_delay_us;
		log_warn("[pool %s] children are failing quickly, respawning in %.1f s",
		    p->pc->name, (double)p->respawn_delay_us / 1e6);
		if (p->failing_since_us == 0) {
			p->failing_since_us = now;
			sp->failing = 1;
		}
	} else if (!abnormal || lived >= QUICK_EXIT_US)
		p->respawn_delay_us = 0;
	/*
	 * Recycles by reason: the worker said why it retired; a process that
	 * had served and dies of a signal or an error nobody asked for crashed.
	 * One that never got ready failed to start: see "failing".
	 */
	if (WIFEXITED(status) && WEXITSTATUS(status) == PFPM_EXIT_REPLACE)
		reason = SB_RECYCLE_FATAL;
	else if (reason == SB_RECYCLE_NONE && abnormal &&
	    (signaled || pr->slot->ready))
		reason = SB_RECYCLE_CRASH;
	if (reason > SB_RECYCLE_NONE && reason < SB_RECYCLE_N)
		sp->recycles[reason]++;
	if (p->tq != NULL)
		taskq_proc_exited(p->tq, pr->pid);
	sb_release(pr->slot);
	for (pp = &p->procs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == pr) {
			*pp = pr->next;
			break;
		}
	}
	p->nprocs--;
	free(pr->outbuf);
	free(pr->logbuf);
	free(pr);
}

/* Signal every process; USR1 also reopens the pool's access log. */
void
pool_signal_all(struct pool *p, int sig)
{
	struct proc *pr;

	if (sig == SIGUSR1 && p->pc->access_log != NULL)
		p->access_fd = accesslog_reopen(p->access_fd, p->pc->access_log);
	if (sig == SIGUSR1 && p->pc->slowlog != NULL)
		p->slow_fd = accesslog_reopen(p->slow_fd, p->pc->slowlog);

	for (pr = p->procs; pr != NULL; pr = pr->next) {
		if (sig == SIGQUIT)
			pr->quit_sent = true;
		if ((sig == SIGTERM || sig == SIGKILL) && pr->term_sent_us == 0)
			pr->term_sent_us = sb_now_us();
		kill(pr->pid, sig);
	}
}

/* Stop spawning; the pool ends when its last child is reaped. */
void
pool_retire(struct pool *p)
{
	p->retired = true;
}

/* Are all of a pool's processes started and idle or busy (not starting)? */
bool
pool_ready(struct pool *p)
{
	struct proc *pr;
	int n = 0;

	for (pr = p->procs; pr != NULL; pr = pr->next) {
		if (pr->quit_sent || pr->role != ROLE_REQUEST)
			continue;
		if (pr->slot->state == SB_STARTING)
			return false;
		n++;
	}
	return n >= p->pc->start_servers;
}
