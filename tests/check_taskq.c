/*
 * Tests for src/taskq.c: the master side of a pool's task queue, over real
 * abstract sockets and a real SQLite file in a temporary directory.  The
 * test plays both the master (driving taskq_event/flush/tick from a poll()
 * loop over the fds the watch callback registered) and the pool's workers
 * (clients speaking taskwire frames).
 */
#include "pfpm.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* --- stubs for pool.c and master.c --- */

static int stub_role = ROLE_REQUEST;	/* -1: not a process of the pool */
static bool stub_old;
static int stub_slot_state = -1;	/* -1: no scoreboard slot */
static struct proc stub_proc;
static pid_t bench_pid[3];
static int bench_role[3];

struct proc *
pool_find(struct pool *p, pid_t pid)
{
	size_t i;

	(void)p;
	for (i = 0; i < 3; i++) {
		if (bench_pid[i] != 0 && bench_pid[i] == pid) {
			memset(&stub_proc, 0, sizeof stub_proc);
			stub_proc.pid = pid;
			stub_proc.role = bench_role[i];
			return &stub_proc;
		}
	}
	if (stub_role < 0 || pid != getpid())
		return NULL;
	memset(&stub_proc, 0, sizeof stub_proc);
	stub_proc.pid = pid;
	stub_proc.role = stub_role;
	if (stub_slot_state >= 0) {
		stub_proc.slot = sb_slot(0);
		stub_proc.slot->pid = pid;
		stub_proc.slot->state = stub_slot_state;
	}
	return &stub_proc;
}

bool
master_old_child(pid_t pid)
{
	return stub_old && pid == getpid();
}

/* master.c's: the socket a reload passed on, when a test sets one. */
static int stub_inherited = -1;

int
master_inherited_socket(const struct sockaddr *sa, unsigned int len)
{
	(void)sa;
	(void)len;
	return stub_inherited;
}

/* --- the master's side: watched fds and a poll() loop --- */

#define MAXW 256
static struct {
	int fd;
	uint32_t ev;
} watched[MAXW];
static size_t nwatched;

static void
on_watch(int fd, uint32_t ev)
{
	size_t i;

	for (i = 0; i < nwatched; i++) {
		if (watched[i].fd == fd)
			break;
	}
	if (ev == 0) {
		ck_assert_msg(i < nwatched, "unwatched fd %d removed", fd);
		watched[i] = watched[--nwatched];
		return;
	}
	if (i == nwatched) {
		ck_assert(nwatched < MAXW);
		nwatched++;
	}
	watched[i].fd = fd;
	watched[i].ev = ev;
}

/* One master round: poll, events, flush. */
static void
pump_once(int max_ms)
{
	struct pollfd pfd[MAXW];
	uint32_t ev;
	size_t i, n = nwatched;
	int t = taskq_timeout_ms();

	if (t < 0 || t > max_ms)
		t = max_ms;
	for (i = 0; i < n; i++) {
		pfd[i].fd = watched[i].fd;
		pfd[i].events = (short)(((watched[i].ev & 0x001) ? POLLIN : 0) |
		    ((watched[i].ev & 0x004) ? POLLOUT : 0));
		pfd[i].revents = 0;
	}
	if (poll(pfd, n, t) > 0) {
		for (i = 0; i < n; i++) {
			if (pfd[i].revents == 0)
				continue;
			ev = ((pfd[i].revents & POLLIN) ? 0x001 : 0) |
			    ((pfd[i].revents & POLLOUT) ? 0x004 : 0) |
			    ((pfd[i].revents & POLLHUP) ? 0x010 : 0) |
			    ((pfd[i].revents & POLLERR) ? 0x008 : 0);
			taskq_event(pfd[i].fd, ev);
		}
	}
	taskq_flush_all();
}

static uint64_t
now_ms(void)
{
	return sb_now_us() / 1000;
}

/* Let lazily committed writes (acks, claims) reach the file. */
static void
settle(void)
{
	uint64_t end = now_ms() + 15;

	while (now_ms() < end)
		pump_once(5);
	taskq_tick_all(sb_now_us());
}

/* --- a worker's side --- */

struct client {
	int fd;
	struct tq_reader r;
	char *out;
	size_t outcap;
	bool eof;
};

static char tmpdir[64];
static struct pool_conf pc;
static struct taskq *tq;
static int testno;

/* Connect as a process of `role` (-1: a stranger) and let the master accept. */
static struct client *
client_new(int role, bool old)
{
	struct sockaddr_un sun;
	struct client *c = xcalloc(1, sizeof *c);
	size_t len;

	stub_role = role;
	stub_old = old;
	ck_assert_int_eq(tq_socket_name(getpid(), pc.name, &sun, &len), 0);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ne(c->fd, -1);
	ck_assert_int_eq(connect(c->fd, (struct sockaddr *)&sun,
	    (socklen_t)len), 0);
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
	c->r.max = TQ_FRAME_MAX(pc.task_max_payload);
	pump_once(0);
	stub_role = ROLE_REQUEST;
	stub_old = false;
	return c;
}

static void
client_free(struct client *c)
{
	if (c->fd != -1)
		close(c->fd);
	tq_reader_free(&c->r);
	free(c->out);
	free(c);
}

/* Write a whole buffer (blocking for the test's sake, pumping the master). */
static void
client_write(struct client *c, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(c->fd, buf, len, MSG_NOSIGNAL);
		if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			pump_once(1);
			continue;
		}
		ck_assert_msg(n > 0, "send: %s", strerror(errno));
		buf += n;
		len -= (size_t)n;
	}
}

static void
client_send(struct client *c, uint8_t type, uint8_t qlen, const void *a,
    size_t alen, const void *b, size_t blen, const void *d, size_t dlen)
{
	size_t n = tq_encode(&c->out, &c->outcap, 0, type, qlen, a, alen, b,
	    blen, d, dlen);

	client_write(c, c->out, n);
}

static void
mkid(char *id, unsigned n)
{
	char buf[TQ_ID_LEN + 1];

	snprintf(buf, sizeof buf, "%032x", n);
	memcpy(id, buf, TQ_ID_LEN);
}

static void
deliver(struct client *c, unsigned n, int64_t delay, int tries,
    const char *queue, const char *payload)
{
	struct tq_deliver d;

	memset(&d, 0, sizeof d);
	mkid(d.id, n);
	d.delay_ms = delay;
	d.tries = tries;
	client_send(c, TQ_DELIVER, (uint8_t)strlen(queue), &d, sizeof d, queue,
	    strlen(queue), payload, strlen(payload));
}

static void
ready(struct client *c, uint32_t n)
{
	client_send(c, TQ_READY, 0, &n, sizeof n, NULL, 0, NULL, 0);
}

static void
done(struct client *c, const char *id)
{
	client_send(c, TQ_DONE, 0, id, TQ_ID_LEN, NULL, 0, NULL, 0);
}

static void
send_fail(struct client *c, const char *id, const char *err)
{
	client_send(c, TQ_FAIL, 0, id, TQ_ID_LEN, err, strlen(err), NULL, 0);
}

/*
 * The next frame for this client within `ms`, pumping the master: 1 with
 * *h and a malloc'd copy of the body, 0 none, -1 end of file.
 */
static int
client_recv(struct client *c, struct tq_hdr *h, char **body, int ms)
{
	uint64_t deadline = now_ms() + (uint64_t)ms;
	const char *b;
	ssize_t n;

	for (;;) {
		if (tq_frame(&c->r, h, &b) == 1) {
			*body = xmalloc(h->len + 1);
			memcpy(*body, b, h->len);
			(*body)[h->len] = '\0';
			tq_consume(&c->r, h);
			return 1;
		}
		if (c->eof)
			return -1;
		n = tq_fill(&c->r, c->fd);
		if (n == 0 || (n == -1 && errno == ECONNRESET)) {
			c->eof = true;
			continue;
		}
		if (n > 0)
			continue;
		if (now_ms() >= deadline)
			return 0;
		pump_once(2);
	}
}

/* The next TQ_TASK: its header, queue and payload. */
static int
recv_task(struct client *c, struct tq_task_hdr *th, char *queue,
    char **payload, int ms)
{
	struct tq_hdr h;
	char *body;
	int r;

	while ((r = client_recv(c, &h, &body, ms)) == 1) {
		if (h.type != TQ_TASK) {
			ck_assert_int_eq(h.type, TQ_STORED);
			free(body);
			continue;
		}
		ck_assert_uint_ge(h.len, sizeof *th + h.qlen);
		memcpy(th, body, sizeof *th);
		memcpy(queue, body + sizeof *th, h.qlen);
		queue[h.qlen] = '\0';
		if (payload != NULL)
			*payload = xstrndup(body + sizeof *th + h.qlen,
			    h.len - sizeof *th - h.qlen);
		free(body);
		return 1;
	}
	return r;
}

/* Wait until the cumulative TQ_STORED says `want` stored. */
static struct tq_stored
wait_stored(struct client *c, uint64_t want)
{
	struct tq_stored st = { 0, 0 };
	struct tq_hdr h;
	char *body;

	while (st.stored + st.refused < want) {
		ck_assert_int_eq(client_recv(c, &h, &body, 3000), 1);
		ck_assert_int_eq(h.type, TQ_STORED);
		ck_assert_uint_eq(h.len, sizeof st);
		memcpy(&st, body, sizeof st);
		free(body);
	}
	return st;
}

/* A frame arrives, or the master closed us? */
static bool
closed_by_master(struct client *c, int ms)
{
	struct tq_hdr h;
	char *body;
	int r;

	while ((r = client_recv(c, &h, &body, ms)) == 1)
		free(body);
	return r == -1;
}

/* --- a second look at the storage, as the CLI would --- */

static void *
peek_open(void)
{
	char *cause = NULL;
	void *db = taskq_sqlite.open(&pc, false, &cause);

	ck_assert_msg(db != NULL, "open: %s", cause ? cause : "?");
	return db;
}

static struct tq_counts
counts(void)
{
	struct tq_counts cnt;
	void *db;

	settle();
	db = peek_open();

	ck_assert_int_eq(taskq_sqlite.counts(db, &cnt), 0);
	taskq_sqlite.close(db);
	return cnt;
}

struct dead_seen {
	char id[TQ_ID_LEN + 1];
	char error[256];
	int attempts, tries;
	size_t n;
};

static void
dead_cb(void *arg, const struct tq_task *t, const char *error)
{
	struct dead_seen *d = arg;

	snprintf(d->id, sizeof d->id, "%s", t->id);
	snprintf(d->error, sizeof d->error, "%s", error ? error : "");
	d->attempts = t->attempts;
	d->tries = t->tries;
	d->n++;
}

static struct dead_seen
dead(void)
{
	struct dead_seen d;
	void *db;

	settle();
	db = peek_open();

	memset(&d, 0, sizeof d);
	ck_assert_int_eq(taskq_sqlite.dead_list(db, dead_cb, &d), 0);
	taskq_sqlite.close(db);
	return d;
}

/* --- fixture --- */

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
setup(void)
{
	char *cause = NULL;
	struct sb_pool *sp = sb_pool(0);

	snprintf(tmpdir, sizeof tmpdir, "/tmp/check_taskq.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	memset(&pc, 0, sizeof pc);
	xasprintf(&pc.name, "t%d", testno++);
	pc.task_workers = 2;
	pc.taskq.kind = TASKQ_SQLITE;
	xasprintf(&pc.taskq.path, "%s/tasks.db", tmpdir);
	pc.task_queue = pc.taskq.path;
	pc.task_max_payload = 65536;
	pc.task_queue_max = 100000;
	pc.task_backoff_ms = 100;
	memset((void *)sp, 0, sizeof *sp);
	stub_role = ROLE_REQUEST;
	stub_old = false;
	stub_slot_state = -1;
	nwatched = 0;
	taskq_set_watch(on_watch);
	tq = taskq_open(NULL, &pc, 0, getpid(), &cause);
	ck_assert_msg(tq != NULL, "taskq_open: %s", cause ? cause : "?");
	ck_assert_uint_eq(nwatched, 1);
}

static void
teardown(void)
{
	taskq_close(tq);
	tq = NULL;
	ck_assert_uint_eq(nwatched, 0);
	nftw(tmpdir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	free(pc.name);
	free(pc.taskq.path);
}

/* --- tests --- */

START_TEST(test_open_socket)
{
	struct taskq *q2;
	char *cause = NULL;

	/* The name is taken: a second queue of the same pool fails cleanly. */
	q2 = taskq_open(NULL, &pc, 0, getpid(), &cause);
	ck_assert_ptr_null(q2);
	ck_assert_ptr_nonnull(cause);
	ck_assert_ptr_nonnull(strstr(cause, "task socket"));
	free(cause);
	ck_assert_int_eq(taskq_timeout_ms(), -1);
}
END_TEST

/*
 * A reload: the next master takes over the listening socket, so a worker
 * that connects while no master listens waits in its backlog and its
 * delivers are stored once the queue opens again.
 */
START_TEST(test_reload_keeps_socket)
{
	struct client *w;
	struct tq_stored st;
	char *cause = NULL;
	int kept = dup(taskq_listen_fd(tq));

	ck_assert_int_ge(kept, 0);
	taskq_close(tq);
	tq = NULL;
	w = client_new(ROLE_REQUEST, false);	/* in the backlog: no master */
	deliver(w, 1, 0, 1, "default", "across a reload");
	stub_inherited = kept;
	tq = taskq_open(NULL, &pc, 0, getpid(), &cause);
	stub_inherited = -1;
	ck_assert_msg(tq != NULL, "taskq_open: %s", cause ? cause : "?");
	ck_assert_int_eq(taskq_listen_fd(tq), kept);
	ck_assert_int_eq(fcntl(kept, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	st = wait_stored(w, 1);
	ck_assert_uint_eq(st.stored, 1);
	ck_assert_uint_eq(counts().queued, 1);
	client_free(w);
}
END_TEST

START_TEST(test_deliver_dispatch_done)
{
	struct client *w = client_new(ROLE_REQUEST, false);
	struct client *t = client_new(ROLE_TASK, false);
	struct tq_task_hdr th;
	struct tq_stored st;
	char queue[TQ_QUEUE_MAX + 1], id[TQ_ID_LEN + 1], *payload;
	int64_t before = (int64_t)(sb_wall_us() / 1000);
	unsigned i;

	for (i = 1; i <= 3; i++)
		deliver(w, i, 0, 2, i == 2 ? "mail" : "default", "hello");
	st = wait_stored(w, 3);
	ck_assert_uint_eq(st.stored, 3);
	ck_assert_uint_eq(st.refused, 0);
	ck_assert_uint_eq(counts().queued, 3);
	/* No credit, no task. */
	ck_assert_int_eq(recv_task(t, &th, queue, NULL, 50), 0);
	ck_assert_int_eq(taskq_timeout_ms(), -1);

	ready(t, 8);
	for (i = 1; i <= 3; i++) {
		ck_assert_int_eq(recv_task(t, &th, queue, &payload, 2000), 1);
		mkid(id, i);
		ck_assert_int_eq(memcmp(th.id, id, TQ_ID_LEN), 0);
		ck_assert_int_eq(th.attempt, 1);
		ck_assert_int_eq(th.tries, 2);
		ck_assert_int_ge(th.created_ms, before);
		ck_assert_str_eq(queue, i == 2 ? "mail" : "default");
		ck_assert_str_eq(payload, "hello");
		free(payload);
	}
	taskq_tick_all(sb_now_us());
	ck_assert_uint_eq(sb_pool(0)->tq_running, 3);
	ck_assert_uint_eq(sb_pool(0)->tq_queued, 0);
	for (i = 1; i <= 3; i++) {
		mkid(id, i);
		done(t, id);
	}
	while (sb_pool(0)->tq_done < 3)
		pump_once(10);
	taskq_tick_all(sb_now_us());
	ck_assert_uint_eq(sb_pool(0)->tq_running, 0);
	ck_assert_uint_eq(sb_pool(0)->tq_queued, 0);
	ck_assert_uint_eq(counts().queued, 0);
	ck_assert_uint_eq(dead().n, 0);
	/* Credit left (5) and nothing delayed: sleep. */
	ck_assert_int_eq(taskq_timeout_ms(), -1);
	client_free(w);
	client_free(t);
}
END_TEST

START_TEST(test_delay)
{
	struct client *w = client_new(ROLE_TIMER, false);
	struct client *t = client_new(ROLE_TASK, false);
	struct tq_task_hdr th;
	char queue[TQ_QUEUE_MAX + 1];
	uint64_t start;
	int to;

	ready(t, 2);
	pump_once(10);
	start = now_ms();
	deliver(w, 7, 300, 1, "default", "later");
	wait_stored(w, 1);
	to = taskq_timeout_ms();
	ck_assert_int_gt(to, 0);
	ck_assert_int_le(to, 300);
	ck_assert_int_eq(recv_task(t, &th, queue, NULL, 150), 0);
	ck_assert_int_eq(recv_task(t, &th, queue, NULL, 2000), 1);
	ck_assert_uint_ge(now_ms() - start, 290);
	ck_assert_int_eq(th.attempt, 1);
	/* A negative delay is "now". */
	deliver(w, 8, -5000, 1, "default", "now");
	ck_assert_int_eq(recv_task(t, &th, queue, NULL, 500), 1);
	client_free(w);
	client_free(t);
}
END_TEST

START_TEST(test_fail_retry_done)
{
	struct client *w = client_new(ROLE_REQUEST, false);
	struct client *t = client_new(ROLE_TASK, false);
	struct tq_task_hdr th;
	char queue[TQ_QUEUE_MAX + 1], id[TQ_ID_LEN + 1];
	uint64_t failed_at;

	deliver(w, 42, 0, 3, "default", "flaky");
	wait_stored(w, 1);
	ready(t, 8);
	ck_assert_int_eq(recv_task(t, &th, queue, NULL, 2000), 1);
	ck_assert_int_eq(th.attempt, 1);
	memcpy(id, th.id, TQ_ID_LEN);
	id[TQ_ID_LEN] = '\0';
	failed_at = now_ms();
	send_fail(t, id, "RuntimeException: boom\n#0 stack trace");
	/* Backoff 100 ms, then 200 ms. */
	ck_assert_int_eq(recv_task(t, &th, queue, NULL, 60), 0);
	ck_assert_int_eq(recv_task(t, &th, queue, NULL, 2000), 1);
	ck_assert_uint_ge(now_ms() - failed_at, 95);
	ck_assert_int_eq(th.attempt, 2);
	ck_assert_int_eq(memcmp(th.id, id, TQ_ID_LEN), 0);
	failed_at = now_ms();
	send_fail(t, id, "");
	ck_assert_int_eq(recv_task(t, &th, queue, NULL, 150), 0);
	ck_assert_int_eq(recv_task(t, &th, queue, NULL, 2000), 1);
	ck_assert_uint_ge(now_ms() - failed_at, 195);
	ck_assert_int_eq(th.attempt, 3);
	done(t, id);
	while (sb_pool(0)->tq_done < 1)
		pump_once(10);
	ck_assert_uint_eq(sb_pool(0)->tq_failed, 2);
	ck_assert_uint_eq(counts().queued, 0);
	ck_assert_uint_eq(dead().n, 0);
	client_free(w);
	client_free(t);
}
END_TEST

START_TEST(test_dead_letter)
{
	struct client *w = client_new(ROLE_REQUEST, false);
	struct client *t = client_new(ROLE_TASK, false);
	struct tq_task_hdr th;
	char queue[TQ_QUEUE_MAX + 1], id[TQ_ID_LEN + 1];
	struct dead_seen d;

	deliver(w, 9, 0, 1, "default", "doomed");
	wait_stored(w, 1);
	ready(t, 1);
	ck_assert_int_eq(recv_task(t, &th, queue, NULL, 2000), 1);
	memcpy(id, th.id, TQ_ID_LEN);
	id[TQ_ID_LEN] = '\0';
	send_fail(t, id, "LogicException: no");
	while (sb_pool(0)->tq_failed < 1)
		pump_once(10);
	pump_once(10);
	d = dead();
	ck_assert_uint_eq(d.n, 1);
	ck_assert_str_eq(d.id, id);
	ck_assert_str_eq(d.error, "LogicException: no");
	ck_assert_int_eq(d.attempts, 1);
	ck_assert_int_eq(d.tries, 1);
	taskq_tick_all(sb_now_us());
	ck_assert_uint_eq(sb_pool(0)->tq_dead, 1);
	ck_assert_uint_eq(sb_pool(0)->tq_queued, 0);
	/* The credit was used: nothing more for it, even when due. */
	deliver(w, 10, 0, 1, "default", "next");
	wait_stored(w, 2);
	ck_assert_int_eq(recv_task(t, &th, queue, NULL, 50), 0);
	client_free(w);
	client_free(t);
}
END_TEST

START_TEST(test_worker_died)
{
	struct client *w = client_new(ROLE_REQUEST, false);
	struct client *t1 = client_new(ROLE_TASK, false);
	struct client *t2;
	struct tq_task_hdr th;
	char queue[TQ_QUEUE_MAX + 1], a[TQ_ID_LEN], b[TQ_ID_LEN];
	char c1[TQ_ID_LEN], *payload;
	struct dead_seen d;

	deliver(w, 1, 0, 3, "default", "one");
	deliver(w, 2, 0, 3, "default", "two");
	deliver(w, 3, 0, 1, "default", "three");
	wait_stored(w, 3);
	ready(t1, 2);
	ck_assert_int_eq(recv_task(t1, &th, queue, NULL, 2000), 1);
	memcpy(a, th.id, TQ_ID_LEN);
	ck_assert_int_eq(recv_task(t1, &th, queue, NULL, 2000), 1);
	memcpy(b, th.id, TQ_ID_LEN);
	pump_once(5);
	ck_assert_uint_eq(sb_pool(0)->tq_running, 2);
	/* The worker dies: another one gets both again. */
	close(t1->fd);
	t1->fd = -1;
	t2 = client_new(ROLE_TASK, false);
	ready(t2, 8);
	ck_assert_int_eq(recv_task(t2, &th, queue, &payload, 2000), 1);
	ck_assert_int_eq(memcmp(th.id, a, TQ_ID_LEN), 0);
	ck_assert_str_eq(payload, "one");
	ck_assert_int_eq(th.attempt, 2);
	free(payload);
	ck_assert_int_eq(recv_task(t2, &th, queue, NULL, 2000), 1);
	ck_assert_int_eq(memcmp(th.id, b, TQ_ID_LEN), 0);
	/* Then the single-try task; its worker dies while running it. */
	ck_assert_int_eq(recv_task(t2, &th, queue, NULL, 2000), 1);
	memcpy(c1, th.id, TQ_ID_LEN);
	done(t2, a);
	done(t2, b);
	while (sb_pool(0)->tq_done < 2)
		pump_once(10);
	close(t2->fd);
	t2->fd = -1;
	pump_once(10);
	pump_once(10);
	d = dead();
	ck_assert_uint_eq(d.n, 1);
	ck_assert_int_eq(memcmp(d.id, c1, TQ_ID_LEN), 0);
	ck_assert_str_eq(d.error, "worker died");
	ck_assert_uint_eq(counts().queued, 0);
	taskq_tick_all(sb_now_us());
	ck_assert_uint_eq(sb_pool(0)->tq_running, 0);
	client_free(w);
	client_free(t1);
	client_free(t2);
}
END_TEST

/* A worker that does not read at once: the rest goes out on EPOLLOUT. */
START_TEST(test_slow_reader)
{
	struct client *w = client_new(ROLE_REQUEST, false);
	struct client *t = client_new(ROLE_TASK, false);
	struct tq_task_hdr th;
	char queue[TQ_QUEUE_MAX + 1], *p, *payload;
	size_t plen = (size_t)pc.task_max_payload;
	unsigned i, j;
	int pollouts = 0;

	p = xmalloc(plen + 1);
	for (i = 0; i < 12; i++) {
		memset(p, 'a' + (int)i, plen);
		p[plen] = '\0';
		deliver(w, 100 + i, 0, 1, "default", p);
	}
	wait_stored(w, 12);
	ready(t, 12);
	for (i = 0; i < 20; i++) {
		pump_once(5);
		for (j = 0; j < nwatched; j++)
			pollouts += (watched[j].ev & 0x004) != 0;
	}
	ck_assert_int_gt(pollouts, 0);
	for (i = 0; i < 12; i++) {
		ck_assert_int_eq(recv_task(t, &th, queue, &payload, 2000), 1);
		ck_assert_uint_eq(strlen(payload), plen);
		ck_assert_int_eq(payload[0], 'a' + (int)i);
		ck_assert_int_eq(payload[plen - 1], 'a' + (int)i);
		free(payload);
	}
	pump_once(5);
	for (i = 0; i < nwatched; i++)
		ck_assert_uint_eq(watched[i].ev, 0x001);
	free(p);
	client_free(w);
	client_free(t);
}
END_TEST

START_TEST(test_proc_exited)
{
	struct client *w = client_new(ROLE_REQUEST, false);
	struct client *t;
	struct tq_task_hdr th;
	char queue[TQ_QUEUE_MAX + 1], id[TQ_ID_LEN];

	stub_slot_state = SB_IDLE;
	t = client_new(ROLE_TASK, false);
	deliver(w, 5, 0, 1, "default", "x");
	deliver(w, 6, 0, 1, "default", "y");
	wait_stored(w, 2);
	ready(t, 8);
	ck_assert_int_eq(recv_task(t, &th, queue, NULL, 2000), 1);
	memcpy(id, th.id, TQ_ID_LEN);
	ck_assert_int_eq(recv_task(t, &th, queue, NULL, 2000), 1);
	/*
	 * It said done for the first and exited while idle: the frame still
	 * in the socket counts, and the second never started (its slot says
	 * idle), so it is released, not buried, although it has one try.
	 */
	done(t, id);
	taskq_proc_exited(tq, getpid());
	ck_assert_uint_eq(sb_pool(0)->tq_done, 1);
	ck_assert(closed_by_master(t, 100));
	taskq_flush_all();
	ck_assert_uint_eq(dead().n, 0);
	ck_assert_uint_eq(counts().queued, 1);
	client_free(w);
	client_free(t);
}
END_TEST

START_TEST(test_protocol_errors)
{
	struct client *good = client_new(ROLE_REQUEST, false);
	struct client *bad;
	struct tq_deliver d;
	struct tq_hdr h;
	char big[256], id[TQ_ID_LEN];
	uint32_t n = 1;

	/* Unknown type. */
	bad = client_new(ROLE_REQUEST, false);
	client_send(bad, 'Z', 0, "x", 1, NULL, 0, NULL, 0);
	ck_assert(closed_by_master(bad, 1000));
	client_free(bad);
	/* Non-hex id. */
	bad = client_new(ROLE_TASK, false);
	memset(id, 'G', sizeof id);
	client_send(bad, TQ_DONE, 0, id, sizeof id, NULL, 0, NULL, 0);
	ck_assert(closed_by_master(bad, 1000));
	client_free(bad);
	/* Uppercase hex is not an id either. */
	bad = client_new(ROLE_REQUEST, false);
	memset(&d, 0, sizeof d);
	memset(d.id, 'A', sizeof d.id);
	client_send(bad, TQ_DELIVER, 1, &d, sizeof d, "q", 1, "p", 1);
	ck_assert(closed_by_master(bad, 1000));
	client_free(bad);
	/* Queue name too long. */
	bad = client_new(ROLE_REQUEST, false);
	mkid(d.id, 1);
	memset(big, 'q', sizeof big);
	client_send(bad, TQ_DELIVER, 65, &d, sizeof d, big, 65, "p", 1);
	ck_assert(closed_by_master(bad, 1000));
	client_free(bad);
	/* Short deliver, bad ready length. */
	bad = client_new(ROLE_REQUEST, false);
	client_send(bad, TQ_DELIVER, 4, &d, 8, NULL, 0, NULL, 0);
	ck_assert(closed_by_master(bad, 1000));
	client_free(bad);
	bad = client_new(ROLE_TASK, false);
	client_send(bad, TQ_READY, 0, &n, 2, NULL, 0, NULL, 0);
	ck_assert(closed_by_master(bad, 1000));
	client_free(bad);
	/* A frame longer than any allowed: closed before it is read. */
	bad = client_new(ROLE_REQUEST, false);
	memset(&h, 0, sizeof h);
	h.len = (uint32_t)TQ_FRAME_MAX(pc.task_max_payload) + 1;
	h.type = TQ_DELIVER;
	client_write(bad, (const char *)&h, sizeof h);
	ck_assert(closed_by_master(bad, 1000));
	client_free(bad);
	/* A payload over task_max_payload. */
	bad = client_new(ROLE_REQUEST, false);
	{
		char *p = xcalloc(1, (size_t)pc.task_max_payload + 1);

		memset(p, 'x', (size_t)pc.task_max_payload);
		client_send(bad, TQ_DELIVER, 1, &d, sizeof d, "q", 1, p,
		    (size_t)pc.task_max_payload + 1);
		free(p);
	}
	ck_assert(closed_by_master(bad, 1000));
	client_free(bad);

	/* The good one was never disturbed, and a max-size payload is fine. */
	deliver(good, 77, 0, 1, "default", "fine");
	ck_assert_uint_eq(wait_stored(good, 1).stored, 1);
	{
		char *p = xcalloc(1, (size_t)pc.task_max_payload + 1);

		memset(p, 'x', (size_t)pc.task_max_payload);
		deliver(good, 78, 0, 1, "default", p);
		free(p);
	}
	ck_assert_uint_eq(wait_stored(good, 2).stored, 2);
	ck_assert_uint_eq(counts().queued, 2);
	ck_assert_uint_eq(nwatched, 2);
	client_free(good);
}
END_TEST

START_TEST(test_refused_and_old)
{
	struct client *x, *old, *w;
	struct tq_task_hdr th;
	char queue[TQ_QUEUE_MAX + 1], id[TQ_ID_LEN];

	x = client_new(-1, false);
	ck_assert(closed_by_master(x, 200));
	client_free(x);
	ck_assert_uint_eq(nwatched, 1);

	/* A previous generation's worker: may deliver and say done. */
	w = client_new(ROLE_REQUEST, false);
	deliver(w, 11, 0, 1, "default", "a");
	deliver(w, 12, 0, 1, "default", "b");
	wait_stored(w, 2);
	old = client_new(-1, true);
	ready(old, 8);		/* ignored: not a task worker of ours */
	ck_assert_int_eq(recv_task(old, &th, queue, NULL, 100), 0);
	deliver(old, 13, 0, 1, "default", "c");
	wait_stored(old, 1);
	ck_assert_uint_eq(counts().queued, 3);
	/* It finished task 11 (claimed by the previous master): forgotten. */
	mkid(id, 11);
	done(old, id);
	mkid(id, 12);
	send_fail(old, id, "whatever");	/* not in flight: ignored */
	pump_once(20);
	pump_once(20);
	ck_assert_uint_eq(counts().queued, 2);
	ck_assert_uint_eq(dead().n, 0);
	ck_assert_int_eq(taskq_timeout_ms(), -1);
	client_free(old);
	client_free(w);
}
END_TEST

/* Run taskq_cli with stdout captured. */
static int
run_cli(struct conf *conf, char *out, size_t outlen, int argc, ...)
{
	char *argv[8];
	char path[128];
	va_list ap;
	int i, fd, saved, rc;
	ssize_t n;

	va_start(ap, argc);
	for (i = 0; i < argc; i++)
		argv[i] = va_arg(ap, char *);
	argv[argc] = NULL;
	va_end(ap);
	snprintf(path, sizeof path, "%s/out", tmpdir);
	settle();
	fflush(stdout);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ne(fd, -1);
	saved = dup(STDOUT_FILENO);
	dup2(fd, STDOUT_FILENO);
	rc = taskq_cli(conf, argc, argv);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	n = pread(fd, out, outlen - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
	return rc;
}

START_TEST(test_cli)
{
	struct client *w = client_new(ROLE_REQUEST, false);
	struct client *t = client_new(ROLE_TASK, false);
	struct tq_task_hdr th;
	char queue[TQ_QUEUE_MAX + 1], id1[TQ_ID_LEN + 1], id2[TQ_ID_LEN + 1];
	char out[4096];
	struct pool_conf other, *pools[2];
	struct conf conf;

	deliver(w, 21, 0, 1, "mail", "p1");
	deliver(w, 22, 0, 1, "default", "p2");
	wait_stored(w, 2);
	ready(t, 8);
	ck_assert_int_eq(recv_task(t, &th, queue, NULL, 2000), 1);
	memcpy(id1, th.id, TQ_ID_LEN);
	id1[TQ_ID_LEN] = '\0';
	send_fail(t, id1, "Exception: first\nsecond line");
	ck_assert_int_eq(recv_task(t, &th, queue, NULL, 2000), 1);
	memcpy(id2, th.id, TQ_ID_LEN);
	id2[TQ_ID_LEN] = '\0';
	send_fail(t, id2, "Exception: two");
	while (sb_pool(0)->tq_failed < 2)
		pump_once(10);
	pump_once(10);

	memset(&conf, 0, sizeof conf);
	memset(&other, 0, sizeof other);
	other.name = (char *)"classic";
	pools[0] = &other;
	pools[1] = &pc;
	conf.pools = pools;
	conf.npools = 2;

	ck_assert_int_eq(run_cli(&conf, out, sizeof out, 2, "list", pc.name), 0);
	ck_assert_ptr_nonnull(strstr(out, id1));
	ck_assert_ptr_nonnull(strstr(out, id2));
	ck_assert_ptr_nonnull(strstr(out, "queue=mail attempts=1/1"));
	ck_assert_ptr_nonnull(strstr(out, "error=Exception: first\n"));
	ck_assert_ptr_null(strstr(out, "second line"));
	ck_assert_ptr_nonnull(strstr(out, "size=2"));

	ck_assert_int_eq(run_cli(&conf, out, sizeof out, 2, "stats", pc.name), 0);
	ck_assert_ptr_nonnull(strstr(out, "dead: 2"));
	ck_assert_ptr_nonnull(strstr(out, "queued: 0"));

	/* Retry one: the running master picks it up on its tick. */
	ck_assert_int_eq(run_cli(&conf, out, sizeof out, 3, "retry", pc.name,
	    id1), 0);
	ck_assert_str_eq(out, "1 task queued again\n");
	taskq_tick_all(sb_now_us());
	ck_assert_int_eq(recv_task(t, &th, queue, NULL, 2000), 1);
	ck_assert_int_eq(memcmp(th.id, id1, TQ_ID_LEN), 0);
	ck_assert_int_eq(th.attempt, 1);
	done(t, id1);
	ck_assert_int_eq(run_cli(&conf, out, sizeof out, 3, "retry", pc.name,
	    id1), 1);
	ck_assert_int_eq(run_cli(&conf, out, sizeof out, 3, "purge", pc.name,
	    "--all"), 0);
	ck_assert_str_eq(out, "1 task purged\n");
	ck_assert_int_eq(run_cli(&conf, out, sizeof out, 2, "list", pc.name), 0);
	ck_assert_str_eq(out, "");

	/* Errors and usage. */
	ck_assert_int_eq(run_cli(&conf, out, sizeof out, 2, "list", "nope"), 1);
	ck_assert_int_eq(run_cli(&conf, out, sizeof out, 2, "list", "classic"),
	    1);
	ck_assert_int_eq(run_cli(&conf, out, sizeof out, 3, "retry", pc.name,
	    "xyz"), 1);
	ck_assert_int_eq(run_cli(&conf, out, sizeof out, 2, "retry", pc.name),
	    PFPM_EXIT_USAGE);
	ck_assert_int_eq(run_cli(&conf, out, sizeof out, 2, "frob", pc.name),
	    PFPM_EXIT_USAGE);
	ck_assert_int_eq(run_cli(&conf, out, sizeof out, 1, "list"),
	    PFPM_EXIT_USAGE);
	client_free(w);
	client_free(t);
}
END_TEST

/*
 * Throughput, as in production: a request worker delivering in bursts and
 * waiting for TQ_STORED, two task workers (window 8) answering done, each
 * its own process; this process is only the master.
 */
static int
bench_connect(const struct sockaddr_un *sun, size_t len)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd == -1 || connect(fd, (const struct sockaddr *)sun,
	    (socklen_t)len) == -1)
		_exit(3);
	return fd;
}

static void
bench_write(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) <= 0)
			_exit(4);
		buf += n;
		len -= (size_t)n;
	}
}

/* The deliverer's verdict, by pipe (valgrind owns the exit status). */
static int bench_pipe[2];

static void
bench_deliverer(const struct sockaddr_un *sun, size_t slen, unsigned n)
{
	struct tq_reader r = { .max = 1 << 20 };
	struct tq_deliver d;
	struct tq_stored st = { 0, 0 };
	struct tq_hdr h;
	const char *b;
	char *buf = NULL;
	size_t cap = 0, len;
	unsigned sent = 0, k;
	int fd = bench_connect(sun, slen);

	memset(&d, 0, sizeof d);
	d.tries = 1;
	while (sent < n) {
		for (len = 0, k = 0; k < 32 && sent < n; k++, sent++) {
			mkid(d.id, sent + 1000);
			len = tq_encode(&buf, &cap, len, TQ_DELIVER, 7, &d,
			    sizeof d, "default", 7, "payload-xyz", 11);
		}
		bench_write(fd, buf, len);
		while (st.stored + st.refused < sent) {
			if (tq_fill(&r, fd) <= 0)
				_exit(5);
			while (tq_frame(&r, &h, &b) == 1) {
				memcpy(&st, b, sizeof st);
				tq_consume(&r, &h);
			}
		}
	}
	if (write(bench_pipe[1], st.refused == 0 ? "k" : "r", 1) != 1)
		_exit(6);
	_exit(0);
}

static void
bench_worker(const struct sockaddr_un *sun, size_t slen)
{
	struct tq_reader r = { .max = 1 << 20 };
	struct tq_hdr h;
	const char *b;
	char *buf = NULL;
	size_t cap = 0, len;
	uint32_t one = 1, eight = 8;
	int fd = bench_connect(sun, slen);

	bench_write(fd, (char *)&(struct { struct tq_hdr h; uint32_t n; }){
	    { sizeof eight, TQ_READY, 0, 0 }, eight }, sizeof(struct tq_hdr) + 4);
	for (;;) {
		if (tq_fill(&r, fd) <= 0)
			_exit(0);
		for (len = 0; tq_frame(&r, &h, &b) == 1; tq_consume(&r, &h)) {
			if (h.type != TQ_TASK)
				_exit(7);
			len = tq_encode(&buf, &cap, len, TQ_DONE, 0, b,
			    TQ_ID_LEN, NULL, 0, NULL, 0);
			len = tq_encode(&buf, &cap, len, TQ_READY, 0, &one,
			    sizeof one, NULL, 0, NULL, 0);
		}
		if (len > 0)
			bench_write(fd, buf, len);
	}
}

START_TEST(test_throughput)
{
	struct sockaddr_un sun;
	size_t slen;
	unsigned n = 20000;
	const char *env = getenv("TASKQ_BENCH_N");
	uint64_t start, us, cu0, cs0, cu1, cs1;
	int i, status;

	sb_cpu_us(&cu0, &cs0);
	if (env != NULL)
		n = (unsigned)strtoul(env, NULL, 10);
	char verdict = 0;

	ck_assert_int_eq(tq_socket_name(getpid(), pc.name, &sun, &slen), 0);
	ck_assert_int_eq(pipe(bench_pipe), 0);
	log_set_level(LOG_LVL_ERROR);
	start = sb_now_us();
	for (i = 0; i < 3; i++) {
		bench_role[i] = i == 0 ? ROLE_REQUEST : ROLE_TASK;
		fflush(NULL);
		if ((bench_pid[i] = fork()) == 0) {
			taskq_child_cleanup();
			if (i == 0)
				bench_deliverer(&sun, slen, n);
			bench_worker(&sun, slen);
		}
		ck_assert_int_gt(bench_pid[i], 0);
	}
	while (sb_pool(0)->tq_done < n) {
		pump_once(10);
		ck_assert_uint_lt((sb_now_us() - start) / 1000000, 50);
	}
	us = sb_now_us() - start;
	sb_cpu_us(&cu1, &cs1);
	fprintf(stderr, "taskq throughput: %u tasks deliver->done (3 "
	    "processes, %ld CPUs) in %.3f s: %.0f tasks/s; master CPU "
	    "%.1f us/task (user %.1f, sys %.1f)\n", n,
	    sysconf(_SC_NPROCESSORS_ONLN), (double)us / 1e6,
	    n * 1e6 / (double)us, (double)(cu1 - cu0 + cs1 - cs0) / n,
	    (double)(cu1 - cu0) / n, (double)(cs1 - cs0) / n);
	log_set_level(LOG_LVL_WARNING);
	ck_assert_int_eq(waitpid(bench_pid[0], &status, 0), bench_pid[0]);
	ck_assert_int_eq(read(bench_pipe[0], &verdict, 1), 1);
	ck_assert_int_eq(verdict, 'k');
	close(bench_pipe[0]);
	close(bench_pipe[1]);
	for (i = 1; i < 3; i++) {
		kill(bench_pid[i], SIGKILL);
		waitpid(bench_pid[i], &status, 0);
		bench_pid[i] = 0;
	}
	bench_pid[0] = 0;
	pump_once(10);
	ck_assert_uint_eq(counts().queued, 0);
	ck_assert_uint_eq(dead().n, 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("taskq");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	signal(SIGPIPE, SIG_IGN);
	log_init();
	log_set_level(LOG_LVL_WARNING);
	if (sb_create(4, 1) == -1) {
		perror("sb_create");
		return EXIT_FAILURE;
	}
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_open_socket);
	tcase_add_test(tc, test_reload_keeps_socket);
	tcase_add_test(tc, test_deliver_dispatch_done);
	tcase_add_test(tc, test_delay);
	tcase_add_test(tc, test_fail_retry_done);
	tcase_add_test(tc, test_dead_letter);
	tcase_add_test(tc, test_worker_died);
	tcase_add_test(tc, test_slow_reader);
	tcase_add_test(tc, test_proc_exited);
	tcase_add_test(tc, test_protocol_errors);
	tcase_add_test(tc, test_refused_and_old);
	tcase_add_test(tc, test_cli);
	tcase_add_test(tc, test_throughput);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	sb_destroy();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
