/*
 * A pool's task queue, in the master (DESIGN.md section 5).
 *
 * The pool's processes connect to an abstract unix socket and speak the
 * frames of taskwire.c.  Delivers read in one epoll round are staged in the
 * backend and made durable by ONE commit in taskq_flush_all(), after which
 * each connection hears TQ_STORED; then due tasks go to the task workers
 * that have credit.  Claims, acks and retries ride in the same batched
 * transactions: no write costs a commit of its own, and each connection's
 * output is written once per flush.
 */
#include "pfpm.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TQ_CREDIT_MAX 4096		/* more than any sane window */
#define TQ_OUT_MAX ((size_t)64 << 20)	/* a peer that does not read */
#define TQ_ERROR_MAX 4096		/* error text kept with a task */
#define TQ_LOGERR_MAX 200		/* error text in the log */
#define TQ_BACKOFF_CAP_MS (3600 * 1000)
#define TQ_REDIS_POLL_MS 50		/* other hosts add tasks */
#define TQ_READS_PER_EVENT 8		/* then let other fds have a turn */
#define TQ_BIG_BUF ((size_t)1 << 20)	/* give back buffers above, once empty */
#define TQ_ERRLOG_US 1000000		/* backend errors: one line a second */
#define TQ_LAZY_US 10000		/* acks and claims wait for a commit */

/* A task sent to a worker, not yet done or failed. */
struct tq_flight {
	struct tq_task t;	/* payload freed once the frame is queued */
};

struct tq_conn {
	struct taskq *q;
	struct tq_conn *next;
	int fd;
	pid_t pid;
	int role;		/* enum proc_role */
	bool old_gen;		/* a previous generation's child */
	bool warned_ready;
	struct sb_slot *slot;	/* its scoreboard slot, NULL if unknown */
	struct tq_reader in;
	char *out;
	size_t outoff, outlen, outcap;
	bool pollout;		/* EPOLLOUT is watched */
	uint32_t credit;
	struct tq_flight *flight;	/* in the order sent */
	size_t nflight, capflight;
	uint64_t received, stored, refused;
	uint64_t pend_ok, pend_bad;	/* delivers staged since the last commit */
};

struct taskq {
	struct taskq *next;
	struct pool *pool;
	const struct pool_conf *pc;
	int index;
	const struct tq_backend *be;
	void *db;
	int lfd;
	struct tq_conn *conns;
	size_t nconns;
	uint64_t staged;	/* delivers staged since the last commit */
	bool dirty;		/* other writes staged since the last commit */
	uint64_t dirty_us;	/* since when (monotonic) */
	bool add_failed;	/* the batch may have been rolled back */
	bool next_failed;	/* the last next() failed: poll slowly */
	bool accept_paused;	/* out of fds: until the next tick */
	uint64_t running;	/* in flight, over all connections */
	uint64_t claimed;	/* by next() since the last flush */
	uint64_t errlog_us;
};

/* What an fd is: a queue's listening socket (c NULL) or a connection. */
struct tq_fdref {
	struct taskq *q;
	struct tq_conn *c;
};

static struct taskq *queues;
static void (*watch_fn)(int, uint32_t);
static struct tq_fdref *fdtab;
static size_t nfdtab;

static void conn_close(struct tq_conn *, bool, const char *);

/* Wall clock in ms: every _ms of a task. */
static int64_t
wall_ms(void)
{
	return (int64_t)(sb_wall_us() / 1000);
}

static void
watch(int fd, uint32_t events)
{
	if (watch_fn != NULL)
		watch_fn(fd, events);
}

static void
fd_set_ref(int fd, struct taskq *q, struct tq_conn *c)
{
	size_t n;

	if (fd < 0)
		return;
	if ((size_t)fd >= nfdtab) {
		n = nfdtab == 0 ? 64 : nfdtab;
		while (n <= (size_t)fd)
			n *= 2;
		fdtab = xreallocarray(fdtab, n, sizeof *fdtab);
		memset(fdtab + nfdtab, 0, (n - nfdtab) * sizeof *fdtab);
		nfdtab = n;
	}
	fdtab[fd].q = q;
	fdtab[fd].c = c;
}

static void
fd_clear_ref(int fd)
{
	if (fd >= 0 && (size_t)fd < nfdtab)
		fdtab[fd].q = NULL, fdtab[fd].c = NULL;
}

/* Backend trouble is logged once a second, not once a task. */
static bool
errlog_ok(struct taskq *q)
{
	uint64_t now = sb_now_us();

	if (q->errlog_us != 0 && now - q->errlog_us < TQ_ERRLOG_US)
		return false;
	q->errlog_us = now;
	return true;
}

/* Task ids are 32 lowercase hex digits (they go into SQL and logs). */
static bool
valid_id(const char *id)
{
	size_t i;

	for (i = 0; i < TQ_ID_LEN; i++) {
		if (!((id[i] >= '0' && id[i] <= '9') ||
		    (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	}
	return true;
}

/* The first line of an error, for the log. */
static int
first_line(const char *s)
{
	size_t n = strcspn(s, "\r\n");

	return (int)(n > TQ_LOGERR_MAX ? TQ_LOGERR_MAX : n);
}

/* Retry delay: task.backoff doubled per attempt, at most an hour. */
static int64_t
backoff_ms(const struct pool_conf *pc, int attempts)
{
	int64_t b = pc->task_backoff_ms;
	int i;

	if (b <= 0)
		return 0;
	for (i = 1; i < attempts && b < TQ_BACKOFF_CAP_MS; i++)
		b *= 2;
	return b > TQ_BACKOFF_CAP_MS ? TQ_BACKOFF_CAP_MS : b;
}

/* Acks, claims, retries: committed with the next delivers, or soon. */
static void
q_dirty(struct taskq *q)
{
	if (!q->dirty) {
		q->dirty = true;
		q->dirty_us = sb_now_us();
	}
}

/* Commit what is staged; 0 or -1 (the backend said why). */
static int
q_commit(struct taskq *q)
{
	int rc;

	rc = q->be->commit(q->db);
	q->dirty = false;
	if (rc == -1)
		log_error("pool %s: task queue: commit failed (%" PRIu64
		    " new tasks refused)", q->pc->name, q->staged);
	q->staged = 0;
	return rc;
}

/* The in-flight entry for an id, or -1. */
static ssize_t
flight_find(const struct tq_conn *c, const char *id)
{
	size_t i;

	for (i = 0; i < c->nflight; i++) {
		if (memcmp(c->flight[i].t.id, id, TQ_ID_LEN) == 0)
			return (ssize_t)i;
	}
	return -1;
}

/* Keep the order: the first entry is the one the worker runs. */
static void
flight_remove(struct tq_conn *c, size_t i)
{
	memmove(&c->flight[i], &c->flight[i + 1],
	    (c->nflight - i - 1) * sizeof *c->flight);
	c->nflight--;
	c->q->running--;
}

/* Queue a frame on the connection; written in the flush. */
static void
conn_put(struct tq_conn *c, uint8_t type, uint8_t qlen, const void *a,
    size_t alen, const void *b, size_t blen, const void *d, size_t dlen)
{
	c->outlen = tq_encode(&c->out, &c->outcap, c->outlen, type, qlen, a,
	    alen, b, blen, d, dlen);
}

/* Hand a claimed task to a worker: TQ_TASK queued, tracked in flight. */
static void
conn_send_task(struct tq_conn *c, struct tq_task *t)
{
	struct tq_task_hdr th;
	size_t qlen = strnlen(t->queue, TQ_QUEUE_MAX);

	memset(&th, 0, sizeof th);
	memcpy(th.id, t->id, TQ_ID_LEN);
	th.attempt = t->attempts;
	th.tries = t->tries;
	th.created_ms = t->created_ms;
	conn_put(c, TQ_TASK, (uint8_t)qlen, &th, sizeof th, t->queue, qlen,
	    t->payload, t->len);
	free(t->payload);
	t->payload = NULL;
	if (c->nflight == c->capflight) {
		c->capflight = c->capflight == 0 ? 8 : c->capflight * 2;
		c->flight = xreallocarray(c->flight, c->capflight,
		    sizeof *c->flight);
	}
	c->flight[c->nflight++].t = *t;
	c->credit--;
	c->q->running++;
}

/* Write the pending output; -1 if the peer is gone (caller closes). */
static int
conn_write(struct tq_conn *c)
{
	ssize_t n;

	while (c->outoff < c->outlen) {
		n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno != EPIPE && errno != ECONNRESET)
				log_syserr("pool %s: task queue: write to pid %d",
				    c->q->pc->name, (int)c->pid);
			return -1;
		}
		c->outoff += (size_t)n;
	}
	if (c->outoff == c->outlen) {
		c->outoff = c->outlen = 0;
		if (c->outcap > TQ_BIG_BUF) {
			free(c->out);
			c->out = NULL;
			c->outcap = 0;
		}
		if (c->pollout) {
			c->pollout = false;
			watch(c->fd, EPOLLIN);
		}
		return 0;
	}
	if (c->outlen - c->outoff > TQ_OUT_MAX) {
		log_warn("pool %s: task queue: pid %d does not read its "
		    "socket, closing it", c->q->pc->name, (int)c->pid);
		return -1;
	}
	if (c->outoff > c->outcap / 2) {
		memmove(c->out, c->out + c->outoff, c->outlen - c->outoff);
		c->outlen -= c->outoff;
		c->outoff = 0;
	}
	if (!c->pollout) {
		c->pollout = true;
		watch(c->fd, EPOLLIN | EPOLLOUT);
	}
	return 0;
}

/*
 * Give back the tasks of a worker that is gone.  The worker runs its tasks
 * in the order they were sent, so only the first one can have started (and
 * not even that one if its slot says it was idle): it is buried when it
 * used its last try, as a task that kills its worker every time must end
 * up dead rather than loop.  The others never ran and go back as they are.
 */
static void
conn_release(struct tq_conn *c, const char *why)
{
	struct taskq *q = c->q;
	struct tq_task u;
	struct tq_task *t;
	bool started;
	size_t i;

	started = c->slot == NULL || c->slot->pid != c->pid ||
	    c->slot->state == SB_RUNNING;
	for (i = 0; i < c->nflight; i++) {
		t = &c->flight[i].t;
		if (i == 0 && started && t->attempts >= t->tries) {
			log_warn("pool %s: task %s (queue %s) attempt %d/%d: %s,"
			    " giving up (dead letter)", q->pc->name, t->id,
			    t->queue, t->attempts, t->tries, why);
			if (q->be->bury(q->db, t, why) == -1 && errlog_ok(q))
				log_error("pool %s: task %s: cannot bury it",
				    q->pc->name, t->id);
		} else {
			if (i == 0 && started)
				log_warn("pool %s: task %s (queue %s) attempt "
				    "%d/%d: %s, it will run again", q->pc->name,
				    t->id, t->queue, t->attempts, t->tries, why);
			u = *t;
			/* Not started: the attempt does not count. */
			if (!(i == 0 && started) && u.attempts > 0)
				u.attempts--;
			if (q->be->release(q->db, &u) == -1 && errlog_ok(q))
				log_error("pool %s: task %s: cannot release it",
				    q->pc->name, t->id);
		}
		if (i == 0 && started) {
			struct sb_pool *sp = sb_pool((size_t)q->index);

			if (sp != NULL)
				sp->tq_failed++;
		}
		q_dirty(q);
	}
	q->running -= c->nflight;
	c->nflight = 0;
}

/* Drop a connection; release: give its in-flight tasks back. */
static void
conn_close(struct tq_conn *c, bool release, const char *why)
{
	struct taskq *q = c->q;
	struct tq_conn **pp;

	if (release && c->nflight > 0)
		conn_release(c, why);
	for (pp = &q->conns; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	q->nconns--;
	watch(c->fd, 0);
	fd_clear_ref(c->fd);
	close(c->fd);
	tq_reader_free(&c->in);
	free(c->out);
	free(c->flight);
	free(c);
}

static void
proto_error(struct tq_conn *c, const char *what)
{
	log_warn("pool %s: task queue: protocol error from pid %d (%s), "
	    "closing its connection", c->q->pc->name, (int)c->pid, what);
}

/* TQ_DELIVER: stage the task; answered by TQ_STORED after the commit. */
static int
on_deliver(struct tq_conn *c, const struct tq_hdr *h, const char *body)
{
	struct taskq *q = c->q;
	struct tq_deliver d;
	struct tq_task t;
	size_t plen;
	int64_t now, delay;

	if (h->qlen > TQ_QUEUE_MAX || h->len < sizeof d + h->qlen) {
		proto_error(c, "bad deliver length");
		return -1;
	}
	memcpy(&d, body, sizeof d);
	plen = h->len - sizeof d - h->qlen;
	if (!valid_id(d.id)) {
		proto_error(c, "bad task id");
		return -1;
	}
	if (q->pc->task_max_payload >= 0 &&
	    plen > (uint64_t)q->pc->task_max_payload) {
		proto_error(c, "payload larger than task_max_payload");
		return -1;
	}
	if (memchr(body + sizeof d, '\0', h->qlen) != NULL) {
		proto_error(c, "bad queue name");
		return -1;
	}
	memset(&t, 0, sizeof t);
	memcpy(t.id, d.id, TQ_ID_LEN);
	if (h->qlen == 0)
		snprintf(t.queue, sizeof t.queue, "default");
	else
		memcpy(t.queue, body + sizeof d, h->qlen);
	t.payload = (char *)(uintptr_t)(body + sizeof d + h->qlen);
	t.len = plen;
	t.tries = d.tries < 1 ? 1 : d.tries;
	now = wall_ms();
	delay = d.delay_ms < 0 ? 0 : d.delay_ms;
	t.created_ms = now;
	t.due_ms = delay > INT64_MAX - now ? INT64_MAX : now + delay;
	c->received++;
	if (q->be->add(q->db, &t) == 0) {
		c->pend_ok++;
		q->staged++;
	} else {
		c->pend_bad++;
		q->add_failed = true;
		if (errlog_ok(q))
			log_error("pool %s: task queue: cannot store task %s "
			    "from pid %d", q->pc->name, t.id, (int)c->pid);
	}
	return 0;
}

/* TQ_DONE of an id this connection does not run: a previous generation's. */
static void
done_foreign(struct tq_conn *c, const char *id)
{
	struct taskq *q = c->q;
	struct tq_conn *o;
	struct tq_task t;

	/* Running elsewhere already: that worker will answer for it. */
	for (o = q->conns; o != NULL; o = o->next) {
		if (o != c && flight_find(o, id) != -1) {
			log_debug("pool %s: task %.32s done by pid %d, running "
			    "again in pid %d", q->pc->name, id, (int)c->pid,
			    (int)o->pid);
			return;
		}
	}
	memset(&t, 0, sizeof t);
	memcpy(t.id, id, TQ_ID_LEN);
	if (q->be->ack(q->db, &t) == -1 && errlog_ok(q))
		log_error("pool %s: task %s: cannot acknowledge it",
		    q->pc->name, t.id);
	q_dirty(q);
}

/* TQ_FAIL: retry later, or bury it when it used its last try. */
static void
on_fail(struct tq_conn *c, const char *id, const char *err, size_t errlen)
{
	struct taskq *q = c->q;
	struct sb_pool *sp = sb_pool((size_t)q->index);
	struct tq_task *t;
	ssize_t i;
	char *e;
	int64_t wait;

	if (sp != NULL)
		sp->tq_failed++;
	if (errlen > TQ_ERROR_MAX)
		errlen = TQ_ERROR_MAX;
	e = errlen == 0 ? xstrdup("failed") : xstrndup(err, errlen);
	if ((i = flight_find(c, id)) == -1) {
		/* Released when its connection broke: it runs again. */
		log_warn("pool %s: task %.32s failed in pid %d (not in flight "
		    "here): %.*s", q->pc->name, id, (int)c->pid,
		    first_line(e), e);
		free(e);
		return;
	}
	t = &c->flight[i].t;
	if (t->attempts < t->tries) {
		wait = backoff_ms(q->pc, t->attempts);
		log_warn("pool %s: task %s (queue %s) failed, attempt %d/%d, "
		    "retry in %" PRId64 " ms: %.*s", q->pc->name, t->id,
		    t->queue, t->attempts, t->tries, wait, first_line(e), e);
		if (q->be->retry(q->db, t, wall_ms() + wait, e) == -1 &&
		    errlog_ok(q))
			log_error("pool %s: task %s: cannot schedule its retry",
			    q->pc->name, t->id);
	} else {
		log_warn("pool %s: task %s (queue %s) failed, attempt %d/%d, "
		    "giving up (dead letter): %.*s", q->pc->name, t->id,
		    t->queue, t->attempts, t->tries, first_line(e), e);
		if (q->be->bury(q->db, t, e) == -1 && errlog_ok(q))
			log_error("pool %s: task %s: cannot bury it",
			    q->pc->name, t->id);
	}
	q_dirty(q);
	flight_remove(c, (size_t)i);
	free(e);
}

/* One frame; -1: protocol error, the caller closes the connection. */
static int
conn_frame(struct tq_conn *c, const struct tq_hdr *h, const char *body)
{
	struct taskq *q = c->q;
	struct sb_pool *sp;
	uint32_t n;
	ssize_t i;

	switch (h->type) {
	case TQ_DELIVER:
		return on_deliver(c, h, body);
	case TQ_READY:
		if (h->len != sizeof n) {
			proto_error(c, "bad ready length");
			return -1;
		}
		memcpy(&n, body, sizeof n);
		if (c->role != ROLE_TASK || c->old_gen) {
			if (!c->warned_ready)
				log_warn("pool %s: task queue: pid %d is not a "
				    "task worker of this generation, no tasks "
				    "for it", q->pc->name, (int)c->pid);
			c->warned_ready = true;
			return 0;
		}
		c->credit = n > TQ_CREDIT_MAX - c->credit ? TQ_CREDIT_MAX :
		    c->credit + n;
		return 0;
	case TQ_DONE:
		if (h->len != TQ_ID_LEN || !valid_id(body)) {
			proto_error(c, "bad done frame");
			return -1;
		}
		if ((sp = sb_pool((size_t)q->index)) != NULL)
			sp->tq_done++;
		if ((i = flight_find(c, body)) == -1) {
			done_foreign(c, body);
			return 0;
		}
		if (q->be->ack(q->db, &c->flight[i].t) == -1 && errlog_ok(q))
			log_error("pool %s: task %s: cannot acknowledge it",
			    q->pc->name, c->flight[i].t.id);
		q_dirty(q);
		flight_remove(c, (size_t)i);
		return 0;
	case TQ_FAIL:
		if (h->len < TQ_ID_LEN || !valid_id(body)) {
			proto_error(c, "bad fail frame");
			return -1;
		}
		on_fail(c, body, body + TQ_ID_LEN, h->len - TQ_ID_LEN);
		return 0;
	default:
		proto_error(c, "unknown frame type");
		return -1;
	}
}

/* Read what the peer sent, in big chunks; -1 when it was closed. */
static int
conn_read(struct tq_conn *c)
{
	struct tq_hdr h;
	const char *body;
	ssize_t n;
	int i, r;

	for (i = 0; i < TQ_READS_PER_EVENT; i++) {
		n = tq_fill(&c->in, c->fd);
		if (n == 0) {
			log_debug("pool %s: task queue: pid %d closed its "
			    "connection", c->q->pc->name, (int)c->pid);
			conn_close(c, true, "worker died");
			return -1;
		}
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno != ECONNRESET)
				log_syserr("pool %s: task queue: read from pid "
				    "%d", c->q->pc->name, (int)c->pid);
			conn_close(c, true, "worker died");
			return -1;
		}
		while ((r = tq_frame(&c->in, &h, &body)) == 1) {
			if (conn_frame(c, &h, body) == -1) {
				conn_close(c, true, "worker died");
				return -1;
			}
			tq_consume(&c->in, &h);
		}
		if (r == -1) {
			proto_error(c, "frame too long");
			conn_close(c, true, "worker died");
			return -1;
		}
		/* tq_fill offers at least 64 KiB: less means drained. */
		if (n < 65536)
			break;
	}
	if (c->in.len == 0 && c->in.cap > TQ_BIG_BUF) {
		size_t max = c->in.max;

		tq_reader_free(&c->in);
		c->in.max = max;
	}
	return 0;
}

/* Accept the pool's processes, and only them (SO_PEERCRED). */
static void
q_accept(struct taskq *q)
{
	struct ucred cred;
	socklen_t clen;
	struct proc *pr;
	struct tq_conn *c;
	int fd, role;
	bool old;

	for (;;) {
		fd = accept4(q->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			log_syserr("pool %s: task queue: accept", q->pc->name);
			/* Out of fds: a level-triggered retry would spin. */
			if (!q->accept_paused) {
				q->accept_paused = true;
				watch(q->lfd, 0);
			}
			return;
		}
		clen = sizeof cred;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) ==
		    -1) {
			log_syserr("pool %s: task queue: SO_PEERCRED",
			    q->pc->name);
			close(fd);
			continue;
		}
		old = false;
		if ((pr = pool_find(q->pool, cred.pid)) != NULL)
			role = pr->role;
		else if (master_old_child(cred.pid)) {
			role = ROLE_REQUEST;
			old = true;
		} else {
			log_warn("pool %s: task queue: refused a connection "
			    "from pid %d (uid %d): not a process of this pool",
			    q->pc->name, (int)cred.pid, (int)cred.uid);
			close(fd);
			continue;
		}
		c = xcalloc(1, sizeof *c);
		c->q = q;
		c->fd = fd;
		c->pid = cred.pid;
		c->role = role;
		c->old_gen = old;
		c->slot = pr != NULL ? pr->slot : NULL;
		c->in.max = TQ_FRAME_MAX(q->pc->task_max_payload);
		c->next = q->conns;
		q->conns = c;
		q->nconns++;
		fd_set_ref(fd, q, c);
		watch(fd, EPOLLIN);
		log_debug("pool %s: task queue: pid %d (%s%s) connected",
		    q->pc->name, (int)c->pid, role_name(role),
		    old ? ", previous generation" : "");
	}
}

/*
 * Due tasks to the task workers with credit, the least busy first: an
 * idle worker gets the next task before one that still has tasks to run
 * (a long task holds back only what its worker was already sent).
 */
static void
q_dispatch(struct taskq *q, int64_t now)
{
	struct tq_conn *c, *best;
	struct tq_task t;
	int r;

	for (;;) {
		best = NULL;
		for (c = q->conns; c != NULL; c = c->next)
			if (c->credit > 0 && (best == NULL ||
			    c->nflight < best->nflight))
				best = c;
		if (best == NULL)
			return;
		memset(&t, 0, sizeof t);
		r = q->be->next(q->db, now, &t);
		if (r == -1) {
			q->next_failed = true;
			if (errlog_ok(q))
				log_error("pool %s: task queue: cannot "
				    "take the next task", q->pc->name);
			return;
		}
		q->next_failed = false;
		if (r == 0)
			return;
		q_dirty(q);
		q->claimed++;
		conn_send_task(best, &t);
	}
}

/* Any connection with credit left? */
static bool
q_has_credit(const struct taskq *q)
{
	const struct tq_conn *c;

	for (c = q->conns; c != NULL; c = c->next) {
		if (c->credit > 0)
			return true;
	}
	return false;
}

/*
 * The end of a round: dispatch, then ONE commit for the round's delivers
 * (and whatever else is staged), then TQ_STORED, then each connection's
 * output in one write: a worker hears "stored" only once its tasks are
 * durable.  Acks, claims, retries and releases alone wait up to
 * TQ_LAZY_US for a commit to share: losing them in a crash only runs a
 * task again (at least once), and a starting master releases all claims
 * anyway.  A backend whose adds are seen only once committed (Redis) gets
 * a second look at the queue.
 */
static void
q_flush(struct taskq *q)
{
	struct tq_conn *c, *next;
	struct tq_stored st;
	struct sb_pool *sp = sb_pool((size_t)q->index);
	uint64_t staged = q->staged;
	bool ok = true;

	q_dispatch(q, wall_ms());
	if (q->staged > 0 || q->add_failed ||
	    (q->dirty && sb_now_us() - q->dirty_us >= TQ_LAZY_US)) {
		ok = q_commit(q) == 0 && !q->add_failed;
		q->add_failed = false;
	}
	if (staged > 0 && ok && q_has_credit(q))
		q_dispatch(q, wall_ms());
	/* Between ticks, an estimate for the workers' backpressure. */
	if (sp != NULL) {
		if (ok)
			sp->tq_queued += staged;
		sp->tq_queued = sp->tq_queued > q->claimed ?
		    sp->tq_queued - q->claimed : 0;
		sp->tq_running = q->running;
	}
	q->claimed = 0;
	for (c = q->conns; c != NULL; c = c->next) {
		if (c->pend_ok == 0 && c->pend_bad == 0)
			continue;
		if (ok)
			c->stored += c->pend_ok;
		else
			c->refused += c->pend_ok;
		c->refused += c->pend_bad;
		c->pend_ok = c->pend_bad = 0;
		st.stored = c->stored;
		st.refused = c->refused;
		conn_put(c, TQ_STORED, 0, &st, sizeof st, NULL, 0, NULL, 0);
	}
	for (c = q->conns; c != NULL; c = next) {
		next = c->next;
		if (c->outlen > c->outoff && !c->pollout &&
		    conn_write(c) == -1)
			conn_close(c, true, "worker died");
	}
}

/* The pool's task queue: its storage and its socket. */
struct taskq *
taskq_open(struct pool *pool, const struct pool_conf *pc, int index,
    pid_t master, char **cause)
{
	struct sockaddr_un sun;
	struct taskq *q;
	size_t alen;
	void *db;
	int fd;

	const struct tq_backend *be = pc->taskq.kind == TASKQ_REDIS ?
	    &taskq_redis : &taskq_sqlite;

	*cause = NULL;
	if (be->open == NULL) {
		xasprintf(cause, "pool %s: the %s task queue is not built in",
		    pc->name, be->name);
		return NULL;
	}
	if (tq_socket_name(master, pc->name, &sun, &alen) == -1) {
		xasprintf(cause, "pool %s: pool name too long for the task "
		    "socket", pc->name);
		return NULL;
	}
	if ((db = be->open(pc, true, cause)) == NULL) {
		if (*cause == NULL)
			xasprintf(cause, "pool %s: cannot open the task queue",
			    pc->name);
		return NULL;
	}
	/*
	 * After a reload the socket is the previous generation's: workers
	 * that connect while the new master starts wait in its backlog
	 * instead of finding no one.
	 */
	if ((fd = master_inherited_socket((struct sockaddr *)&sun, (unsigned int)alen)) != -1) {
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	} else if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1 || bind(fd, (struct sockaddr *)&sun,
	    (socklen_t)alen) == -1 || listen(fd, SOMAXCONN) == -1) {
		xasprintf(cause, "pool %s: task socket: %s", pc->name,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		be->close(db);
		return NULL;
	}
	q = xcalloc(1, sizeof *q);
	q->pool = pool;
	q->pc = pc;
	q->index = index;
	q->be = be;
	q->db = db;
	q->lfd = fd;
	q->next = queues;
	queues = q;
	fd_set_ref(fd, q, NULL);
	watch(fd, EPOLLIN);
	log_debug("pool %s: task queue open (%s)", pc->name, be->name);
	return q;
}

/* For a reload: the socket the next generation takes over. */
int
taskq_listen_fd(const struct taskq *q)
{
	return q->lfd;
}

/*
 * Commit and let go.  In-flight claims stay as they are: the next owner of
 * the storage (a reloaded master) releases them when it opens it, and the
 * workers that run them may still say done.
 */
void
taskq_close(struct taskq *q)
{
	struct taskq **pp;

	if (q == NULL)
		return;
	if (q->staged > 0 || q->dirty)
		q_commit(q);
	while (q->conns != NULL) {
		q->running -= q->conns->nflight;
		q->conns->nflight = 0;
		conn_close(q->conns, false, NULL);
	}
	watch(q->lfd, 0);
	fd_clear_ref(q->lfd);
	close(q->lfd);
	q->be->close(q->db);
	for (pp = &queues; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == q) {
			*pp = q->next;
			break;
		}
	}
	free(q);
	if (queues == NULL) {
		free(fdtab);
		fdtab = NULL;
		nfdtab = 0;
	}
}

/* A process of the pool exited: read its last words, release its tasks. */
void
taskq_proc_exited(struct taskq *q, pid_t pid)
{
	struct tq_conn *c;

	if (q == NULL)
		return;
again:
	for (c = q->conns; c != NULL; c = c->next) {
		if (c->pid != pid)
			continue;
		/* Done frames still in the socket are not lost runs. */
		if (conn_read(c) == 0)
			conn_close(c, true, "worker died");
		goto again;
	}
}

/*
 * In a forked child: close the master's task sockets so that a worker
 * holding them cannot keep a dead peer's connection open.  The backend is
 * left alone: closing SQLite here could checkpoint the master's WAL.
 */
void
taskq_child_cleanup(void)
{
	struct taskq *q;
	struct tq_conn *c;

	for (q = queues; q != NULL; q = q->next) {
		close(q->lfd);
		for (c = q->conns; c != NULL; c = c->next)
			close(c->fd);
	}
	queues = NULL;
	watch_fn = NULL;
}

void
taskq_set_watch(void (*fn)(int, uint32_t))
{
	watch_fn = fn;
}

/* An fd of a task queue is ready. */
void
taskq_event(int fd, uint32_t events)
{
	struct tq_fdref ref;
	struct tq_conn *c;

	if (fd < 0 || (size_t)fd >= nfdtab || fdtab[fd].q == NULL)
		return;
	ref = fdtab[fd];
	if (ref.c == NULL) {
		q_accept(ref.q);
		return;
	}
	c = ref.c;
	if ((events & EPOLLOUT) && conn_write(c) == -1) {
		conn_close(c, true, "worker died");
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		conn_read(c);
}

/* After each epoll round: one commit per queue, answers, dispatch. */
void
taskq_flush_all(void)
{
	struct taskq *q;

	for (q = queues; q != NULL; q = q->next)
		q_flush(q);
}

/* Every master tick: backend upkeep, scoreboard counters, due tasks. */
void
taskq_tick_all(uint64_t now_us)
{
	struct taskq *q;
	struct tq_counts cnt;
	struct sb_pool *sp;
	int64_t now = wall_ms();

	(void)now_us;
	for (q = queues; q != NULL; q = q->next) {
		if (q->be->tick != NULL)
			q->be->tick(q->db, now);
		if (q->accept_paused) {
			q->accept_paused = false;
			watch(q->lfd, EPOLLIN);
		}
		/* Delayed tasks come due, `pfpm task retry` adds some. */
		q_flush(q);
		if (q->dirty)
			q_commit(q);
		sp = sb_pool((size_t)q->index);
		if (sp != NULL && q->be->counts(q->db, &cnt) == 0) {
			sp->tq_queued = cnt.queued;
			sp->tq_dead = cnt.dead;
			sp->tq_oldest_ms = cnt.oldest_ms;
		}
		if (sp != NULL)
			sp->tq_running = q->running;
	}
}

/*
 * How long epoll may sleep for the task queues.  Staged acks and claims
 * want their commit within TQ_LAZY_US.  Dispatch needs a task worker with
 * credit (else nothing could go out: -1, no busy loop); it ran until
 * next() found nothing due, so what remains is a delayed task: wake when
 * it is due, never 0 (that would spin).  Redis is polled, as other hosts
 * add tasks.
 */
int
taskq_timeout_ms(void)
{
	struct taskq *q;
	int64_t due, now = 0, wait;
	uint64_t age;
	int best = -1, t;

	for (q = queues; q != NULL; q = q->next) {
		if (q->dirty) {
			age = sb_now_us() - q->dirty_us;
			t = age >= TQ_LAZY_US ? 1 :
			    (int)((TQ_LAZY_US - age + 999) / 1000);
			if (best == -1 || t < best)
				best = t;
		}
		if (!q_has_credit(q))
			continue;
		if (q->next_failed)
			t = 1000;
		else if ((due = q->be->next_due_ms(q->db)) < 0)
			t = -1;
		else {
			if (now == 0)
				now = wall_ms();
			wait = due - now;
			t = wait < 1 ? 1 : wait > 60000 ? 60000 : (int)wait;
		}
		if (q->pc->taskq.kind == TASKQ_REDIS &&
		    (t == -1 || t > TQ_REDIS_POLL_MS))
			t = TQ_REDIS_POLL_MS;
		if (t != -1 && (best == -1 || t < best))
			best = t;
	}
	return best;
}

/* --- pfpm task list|retry|purge|stats --- */

static void
iso_time(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "-");
}

/* One dead letter, one line. */
static void
cli_list_one(void *arg, const struct tq_task *t, const char *error)
{
	char created[32], died[32];
	size_t *n = arg;
	const char *e = error != NULL ? error : "";

	iso_time(t->created_ms, created, sizeof created);
	iso_time(t->due_ms, died, sizeof died);
	printf("%s queue=%s attempts=%d/%d created=%s died=%s size=%zu "
	    "error=%.*s\n", t->id, t->queue, t->attempts, t->tries, created,
	    died, t->len, first_line(e), e);
	(*n)++;
}

static int
cli_usage(void)
{
	fprintf(stderr, "usage: %s task list|stats POOL\n"
	    "       %s task retry|purge POOL ID|--all\n", PFPM_NAME,
	    PFPM_NAME);
	return PFPM_EXIT_USAGE;
}

/* `pfpm task ...`: the dead letters of a pool, with the master running. */
int
taskq_cli(const struct conf *conf, int argc, char **argv)
{
	const struct pool_conf *pc = NULL;
	const struct tq_backend *be;
	const char *cmd, *id = NULL;
	struct tq_counts cnt;
	char *cause = NULL, when[32];
	void *db;
	size_t i, n = 0;
	int rc = 0, r;

	if (argc < 2)
		return cli_usage();
	cmd = argv[0];
	if (strcmp(cmd, "list") == 0 || strcmp(cmd, "stats") == 0) {
		if (argc != 2)
			return cli_usage();
	} else if (strcmp(cmd, "retry") == 0 || strcmp(cmd, "purge") == 0) {
		if (argc != 3)
			return cli_usage();
		if (strcmp(argv[2], "--all") != 0) {
			id = argv[2];
			if (strlen(id) != TQ_ID_LEN || !valid_id(id)) {
				fprintf(stderr, "%s: task %s: not a task id "
				    "(32 lowercase hex digits)\n", PFPM_NAME,
				    id);
				return 1;
			}
		}
	} else
		return cli_usage();

	for (i = 0; i < conf->npools; i++) {
		if (strcmp(conf->pools[i]->name, argv[1]) == 0)
			pc = conf->pools[i];
	}
	if (pc == NULL) {
		fprintf(stderr, "%s: no pool %s in %s\n", PFPM_NAME, argv[1],
		    conf->file != NULL ? conf->file : "the configuration");
		return 1;
	}
	if (pc->task_workers == 0) {
		fprintf(stderr, "%s: pool %s has no task queue "
		    "(task_workers = 0)\n", PFPM_NAME, pc->name);
		return 1;
	}
	be = pc->taskq.kind == TASKQ_REDIS ? &taskq_redis : &taskq_sqlite;
	if (be->open == NULL) {
		fprintf(stderr, "%s: the %s task queue is not built in\n",
		    PFPM_NAME, be->name);
		return 1;
	}
	if ((db = be->open(pc, false, &cause)) == NULL) {
		fprintf(stderr, "%s: %s\n", PFPM_NAME, cause != NULL ? cause :
		    "cannot open the task queue");
		free(cause);
		return 1;
	}

	if (strcmp(cmd, "list") == 0) {
		if (be->dead_list(db, cli_list_one, &n) == -1) {
			fprintf(stderr, "%s: pool %s: cannot list the dead "
			    "tasks\n", PFPM_NAME, pc->name);
			rc = 1;
		}
	} else if (strcmp(cmd, "stats") == 0) {
		if (be->counts(db, &cnt) == -1) {
			fprintf(stderr, "%s: pool %s: cannot count the tasks\n",
			    PFPM_NAME, pc->name);
			rc = 1;
		} else {
			iso_time(cnt.oldest_ms, when, sizeof when);
			printf("pool: %s\nqueued: %" PRIu64 "\ndead: %" PRIu64
			    "\noldest queued: %s\n", pc->name, cnt.queued,
			    cnt.dead, when);
		}
	} else {
		bool retry = strcmp(cmd, "retry") == 0;

		r = retry ? be->dead_retry(db, id, wall_ms()) :
		    be->dead_purge(db, id);
		if (r == -1) {
			fprintf(stderr, "%s: pool %s: cannot %s the dead "
			    "tasks\n", PFPM_NAME, pc->name, cmd);
			rc = 1;
		} else if (r == 0 && id != NULL) {
			fprintf(stderr, "%s: pool %s: no dead task %s\n",
			    PFPM_NAME, pc->name, id);
			rc = 1;
		} else
			printf("%d task%s %s\n", r, r == 1 ? "" : "s",
			    retry ? "queued again" : "purged");
	}
	be->close(db);
	return rc;
}
