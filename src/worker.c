/*
 * A request worker: drop privileges, then accept FastCGI connections on the
 * pool's socket and serve one request at a time until told to stop.
 * Signals: QUIT (graceful: finish the request, then exit) and USR1 (reopen
 * logs) stay blocked and are read from a signalfd between requests; TERM
 * and INT keep their default action (stop now), as in php-fpm.
 */
#include "pfpm.h"

#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KEPT_MAX 16

static volatile bool stopping;
static struct worker_ctx *ctx;
static int epfd = -1;
static int sigfd = -1;
static struct fcgi_conn *kept[KEPT_MAX];
static size_t nkept;
static uint64_t served;
static struct fcgi_conn *current;	/* the request being served */
static char peer_ip[INET6_ADDRSTRLEN];	/* of the request being served */

bool
worker_stopping(void)
{
	return stopping;
}

static void
set_rlimit(int resource, int value, const char *name)
{
	struct rlimit rl;

	if (value == -2 || value == 0)
		return;		/* not set (0 too, as php-fpm): the system's value */
	rl.rlim_cur = rl.rlim_max = value < 0 ? RLIM_INFINITY : (rlim_t)value;
	if (setrlimit(resource, &rl) == -1)
		log_syserr("setrlimit(%s)", name);
}

/* Environment as php-fpm builds it: cleared unless clear_env = no, plus env. */
static void
setup_env(const struct pool_conf *p)
{
	size_t i;

	if (p->clear_env)
		clearenv();
	for (i = 0; i < p->n_env; i++) {
		char *copy = xstrdup(p->env[i]), *eq = strchr(copy, '=');
		*eq = '\0';
		setenv(copy, eq + 1, 1);
		free(copy);
	}
}

/* chroot (if set), then the pool's user: names are looked up before chroot. */
static void
drop_privileges(const struct pool_conf *p)
{
	struct passwd *pw = NULL;
	struct group *gr;
	gid_t gid = 0;
	uid_t uid = 0;
	bool switch_user = p->user != NULL && geteuid() == 0;

	if (switch_user) {
		if ((pw = getpwnam(p->user)) == NULL)
			fatalx("user '%s' does not exist", p->user);
		uid = pw->pw_uid;
		gid = pw->pw_gid;
		if (p->group != NULL) {
			if ((gr = getgrnam(p->group)) == NULL)
				fatalx("group '%s' does not exist", p->group);
			gid = gr->gr_gid;
		}
		if (initgroups(p->user, gid) == -1)
			fatal("initgroups %s", p->user);
	}
	if (p->chroot != NULL && (chroot(p->chroot) == -1 || chdir("/") == -1))
		fatal("chroot %s", p->chroot);
	if (!switch_user)
		return;
	if (setgid(gid) == -1 || setuid(uid) == -1)
		fatal("cannot switch to user %s", p->user);
	/* process.dumpable: core dumps and ptrace by the pool's user. */
	if (p->dumpable && prctl(PR_SET_DUMPABLE, 1) == -1)
		log_syserr("prctl(PR_SET_DUMPABLE)");
}

static void
epoll_add(int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };

	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
		fatal("epoll_ctl");
}

static void
drop_conn(struct fcgi_conn *c)
{
	size_t i;

	for (i = 0; i < nkept; i++) {
		if (kept[i] != c)
			continue;
		epoll_ctl(epfd, EPOLL_CTL_DEL, fcgi_conn_fd(c), NULL);
		kept[i] = kept[--nkept];
		break;
	}
	fcgi_conn_free(c);
}

static void
keep_conn(struct fcgi_conn *c)
{
	size_t i;

	for (i = 0; i < nkept; i++)
		if (kept[i] == c)
			return;
	if (nkept == KEPT_MAX)
		drop_conn(kept[0]);	/* nginx retries a broken cached connection */
	kept[nkept++] = c;
	epoll_add(fcgi_conn_fd(c), EPOLLIN);
}

/* An address as IPv6 (IPv4 as v4-mapped), for comparisons. */
static bool
to_in6(const char *s, struct in6_addr *out)
{
	struct in_addr v4;

	if (inet_pton(AF_INET6, s, out) == 1)
		return true;
	if (inet_pton(AF_INET, s, &v4) != 1)
		return false;
	memset(out, 0, sizeof *out);
	out->s6_addr[10] = out->s6_addr[11] = 0xff;
	memcpy(&out->s6_addr[12], &v4, 4);
	return true;
}

/* listen.allowed_clients: the peer's address must be listed. */
static bool
client_allowed(const struct sockaddr_storage *ss)
{
	const struct pool_conf *p = ctx->pool;
	char text[INET6_ADDRSTRLEN];
	struct in6_addr peer, want;
	size_t i;

	if (p->n_allowed_clients == 0 || ss->ss_family == AF_UNIX)
		return true;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		memset(&peer, 0, sizeof peer);
		peer.s6_addr[10] = peer.s6_addr[11] = 0xff;
		memcpy(&peer.s6_addr[12], &in->sin_addr, 4);
	} else
		peer = ((const struct sockaddr_in6 *)ss)->sin6_addr;
	for (i = 0; i < p->n_allowed_clients; i++) {
		if (strcmp(p->allowed_clients[i], "any") == 0 ||
		    (to_in6(p->allowed_clients[i], &want) &&
		    memcmp(&want, &peer, sizeof peer) == 0))
			return true;
	}
	if (inet_ntop(AF_INET6, &peer, text, sizeof text) == NULL)
		strcpy(text, "?");
	log_error("connection disallowed: IP address '%s' has been dropped", text);
	return false;
}

/* Booted, or done with a request: ready for the next one. */
void
worker_idle(void)
{
	ctx->slot->ready = 1;
	ctx->slot->req_start_us = 0;
	ctx->slot->idle_since_us = sb_now_us();
	ctx->slot->state = SB_IDLE;
}

/* The web server's address (%R of the access log); "" on a unix socket. */
static void
note_peer(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	const void *a = NULL;
	int af = AF_INET;

	peer_ip[0] = '\0';
	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &len) == -1)
		return;
	if (ss.ss_family == AF_INET)
		a = &((struct sockaddr_in *)&ss)->sin_addr;
	else if (ss.ss_family == AF_INET6) {
		const struct in6_addr *in6 = &((struct sockaddr_in6 *)&ss)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(in6))
			a = &in6->s6_addr[12];	/* shown as IPv4, as php-fpm */
		else {
			a = in6;
			af = AF_INET6;
		}
	}
	if (a == NULL || inet_ntop(af, a, peer_ip, sizeof peer_ip) == NULL)
		peer_ip[0] = '\0';
}

/* For the access log: NULL when the request came over a unix socket. */
const char *
worker_peer(void)
{
	return peer_ip[0] != '\0' ? peer_ip : NULL;
}

/* Read one request on a connection: true if it is ready to be served. */
static bool
read_request(struct fcgi_conn *c)
{
	struct sb_slot *s = ctx->slot;
	char *cause = NULL;
	int rc;

	s->req_start_us = sb_now_us();
	s->req_wall_us = sb_wall_us();
	s->method[0] = s->uri[0] = s->query[0] = s->script[0] = '\0';
	s->user[0] = '\0';
	s->content_length = 0;
	s->state = SB_READING;
	rc = fcgi_read_request(c, &cause);
	if (rc == 0) {
		/* php-fpm's "accepted conn" counts requests, kept connections too. */
		__atomic_add_fetch(&sb_pool((size_t)ctx->pool_index)->accepted, 1,
		    __ATOMIC_RELAXED);
		if (accesslog_enabled())
			note_peer(fcgi_conn_fd(c));
		return true;
	}
	if (rc == -1)
		log_warn("closing FastCGI connection: %s", cause);
	free(cause);
	drop_conn(c);
	worker_idle();
	return false;
}

static struct fcgi_conn *
accept_one(void)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	struct fcgi_conn *c;
	int fd, one = 1;

	fd = accept4(ctx->listen_fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
		    errno != ECONNABORTED)
			log_syserr("accept");
		return NULL;
	}
	if (!client_allowed(&ss)) {
		close(fd);
		return NULL;
	}
	if (ss.ss_family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c = fcgi_conn_new(fd);
	return read_request(c) ? c : NULL;
}

/* Take over kept connections a retiring process handed over. */
static void
receive_handover(void)
{
	char data;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = { .iov_base = &data, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = u.buf, .msg_controllen = sizeof u.buf };
	struct cmsghdr *cm;
	int fd;

	while (recvmsg(ctx->handover_recv, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) > 0) {
		cm = CMSG_FIRSTHDR(&msg);
		if (cm != NULL && cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_RIGHTS) {
			memcpy(&fd, CMSG_DATA(cm), sizeof fd);
			keep_conn(fcgi_conn_new(fd));
		}
		msg.msg_controllen = sizeof u.buf;
	}
}

/* Pass a kept connection to the pool's other processes; false if we cannot. */
static bool
hand_over(struct fcgi_conn *c)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	char data = 'k';
	struct iovec iov = { .iov_base = &data, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = u.buf, .msg_controllen = sizeof u.buf };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	int fd = fcgi_conn_fd(c);

	if (ctx->handover_send == -1 || fd < 0 || fcgi_buffered(c))
		return false;
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof fd);
	return sendmsg(ctx->handover_send, &msg, MSG_DONTWAIT) == 1;
}

void
worker_read_signals(void)
{
	struct signalfd_siginfo si;

	while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
		switch (si.ssi_signo) {
		case SIGQUIT:
			stopping = true;
			break;
		case SIGUSR1:
			/* The master reopened the log our lines go through. */
			break;
		default:
			break;
		}
	}
}

/*
 * Wait for the next request, on a new or a kept connection.  NULL when the
 * process must stop (QUIT, pm.max_requests).  The request's params are
 * read; the body is read by the SAPI as the script asks for it.
 */
struct fcgi_conn *
worker_next(void)
{
	const struct pool_conf *p = ctx->pool;
	struct epoll_event evs[KEPT_MAX + 2];
	struct fcgi_conn *c = NULL;
	size_t k;
	int i, n;

	if (ctx->slot->state == SB_STARTING)
		worker_idle();	/* booted (worker mode): ready for requests */
again:
	while (!stopping && c == NULL) {
		/* Defensive: a request already in a kept connection's buffer. */
		for (k = 0; k < nkept && c == NULL; k++)
			if (fcgi_buffered(kept[k]))
				c = read_request(kept[k]) ? kept[k] : NULL;
		if (c != NULL)
			break;
		n = epoll_wait(epfd, evs, (int)(sizeof evs / sizeof evs[0]), -1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fatal("epoll_wait");
		}
		for (i = 0; i < n && c == NULL; i++) {
			int fd = evs[i].data.fd;

			if (fd == sigfd)
				worker_read_signals();
			else if (fd == ctx->handover_recv)
				receive_handover();
			else if (fd == ctx->listen_fd)
				c = accept_one();
			else {
				for (k = 0; k < nkept; k++) {
					if (fcgi_conn_fd(kept[k]) == fd) {
						c = read_request(kept[k]) ? kept[k] : NULL;
						break;
					}
				}
			}
		}
	}
	if (c == NULL)
		return NULL;
	current = c;
	/* The last request before recycling: let the master start the next process now. */
	if (p->max_requests > 0 && served + 1 >= (uint64_t)p->max_requests)
		worker_retire(SB_RECYCLE_MAX_REQUESTS);
	/* ping.path and pm.status_path: answered here, PHP never sees them. */
	if ((p->status_path != NULL || p->ping_path != NULL) &&
	    status_serve(c, ctx)) {
		worker_done(c);
		c = NULL;
		goto again;
	}
	return c;
}

/* After a request: keep or close the connection, become idle. */
void
worker_done(struct fcgi_conn *c)
{
	ctx->slot->requests++;
	served++;
	current = NULL;
	if (fcgi_wants_keep(c) && (!stopping || ctx->slot->retiring) &&
	    fcgi_finish_input(c) == 0)
		keep_conn(c);
	else {
		fcgi_linger_close(c);
		drop_conn(c);
	}
	worker_idle();
	if (ctx->slot->retiring)
		stopping = true;
	else
		worker_read_signals();
}

/*
 * This process will exit after the current request.  Idle kept
 * connections are closed now, so the web server stops sending on them.
 */
void
worker_retire(enum sb_recycle why)
{
	static const char *const names[SB_RECYCLE_N] = {
		[SB_RECYCLE_MAX_REQUESTS] = "pm.max_requests",
		[SB_RECYCLE_MAX_MEMORY] = "worker.max_memory",
		[SB_RECYCLE_FATAL] = "fatal error",
		[SB_RECYCLE_CRASH] = "crash",
	};
	size_t i;

	if (ctx->slot->retiring)
		return;
	log_debug("recycling after this request (%s)", names[why] != NULL ?
	    names[why] : "?");
	ctx->slot->recycle = (int)why;
	ctx->slot->retiring = 1;
	if (ctx->handover_send != -1)
		return;		/* kept connections are handed over at exit */
	if (current != NULL)
		fcgi_no_keep(current);
	for (i = nkept; i > 0; i--) {
		struct fcgi_conn *k = kept[i - 1];
		if (!fcgi_has_request(k) || fcgi_request_ended(k)) {
			fcgi_linger_close(k);
			drop_conn(k);
		}
	}
}

/* For the task and timer loops: QUIT arrives here. */
int
worker_signal_fd(void)
{
	return sigfd;
}

/* QUIT read from the signalfd (or a retirement): the process must stop. */
bool
worker_must_stop(void)
{
	worker_read_signals();
	return worker_stopping();
}

uint64_t
worker_served(void)
{
	return served;
}

const struct worker_ctx *
worker_context(void)
{
	return ctx;
}

/* The child branch of pool_spawn: never returns. */
void
worker_main(struct worker_ctx *w)
{
	const struct pool_conf *p = w->pool;
	struct fcgi_conn *c;
	sigset_t mask;
	char *cause = NULL;
	int code = 0;

	ctx = w;
	log_set_worker(p->name, (int)getpid());
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGHUP, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGQUIT);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	sigprocmask(SIG_SETMASK, &mask, NULL);
	if ((sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		fatal("signalfd");
	set_rlimit(RLIMIT_NOFILE, p->rlimit_files, "rlimit_files");
	set_rlimit(RLIMIT_CORE, p->rlimit_core, "rlimit_core");
	setup_env(p);
	drop_privileges(p);
	/*
	 * A master killed with SIGKILL must not leave workers behind.  Set
	 * after the user switch, which clears it.
	 */
	prctl(PR_SET_PDEATHSIG, SIGQUIT);
	if (getppid() != w->master_pid)
		_exit(0);
	if (chdir(p->chdir != NULL ? p->chdir : "/") == -1)
		fatal("chdir %s", p->chdir != NULL ? p->chdir : "/");
	if (sapi_worker_init(p, &cause) == -1)
		fatalx("%s", cause);
	accesslog_worker_init(p, w->access_fd);
	slowlog_worker_start(w);

	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatal("epoll_create1");
	epoll_add(sigfd, EPOLLIN);
	if (w->role == ROLE_REQUEST) {
		epoll_add(w->listen_fd, EPOLLIN | EPOLLEXCLUSIVE);
		if (w->handover_recv != -1)
			epoll_add(w->handover_recv, EPOLLIN | EPOLLEXCLUSIVE);
	} else {
		/* Tasks, timer, custom processes: no FastCGI here. */
		close(w->listen_fd);
		if (w->handover_send != -1) {
			close(w->handover_send);
			close(w->handover_recv);
		}
		w->listen_fd = w->handover_send = w->handover_recv = -1;
	}
	/*
	 * A custom process runs user code for as long as it likes: QUIT
	 * (onStop) and USR2 (onReload) reach it as plain signals, for its
	 * pcntl handlers; without handlers QUIT ends it.
	 */
	if (w->role == ROLE_PROCESS) {
		sigemptyset(&mask);
		sigaddset(&mask, SIGQUIT);
		sigaddset(&mask, SIGUSR2);
		signal(SIGUSR2, SIG_IGN);
		sigprocmask(SIG_UNBLOCK, &mask, NULL);
	}

	if (p->worker != NULL)
		code = sapi_worker_run(w);
	else {
		worker_idle();
		while ((c = worker_next()) != NULL) {
			sapi_handle(c, w->slot);
			worker_done(c);
		}
	}
	/* Retiring while the pool lives on: the others take our connections. */
	while (nkept > 0) {
		struct fcgi_conn *k = kept[0];
		if (!w->slot->retiring || !hand_over(k))
			fcgi_linger_close(k);
		drop_conn(k);
	}
	w->slot->state = SB_FINISHING;
	_exit(code);
}
