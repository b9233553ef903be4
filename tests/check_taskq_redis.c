/*
 * Tests for src/taskq_redis.c against a real redis-server, started on a
 * free port of 127.0.0.1 in a temporary directory and stopped at the end.
 * Two "hosts" are two backends with different consumer names
 * (PFPM_REDIS_CONSUMER).
 */
#include "pfpm.h"

#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis.h>

#define REDIS_SERVER "/usr/bin/redis-server"

static const struct tq_backend *be = &taskq_redis;
static char tmpdir[] = "/tmp/check_taskq_redis.XXXXXX";
static pid_t redis_pid = -1;
static int redis_port;
static redisContext *raw;	/* the tests' own look at Redis */
static int64_t base_ms;		/* created_ms of task n: base_ms + n */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* A TCP port nobody listens on right now. */
static int
free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;
	int fd, port;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sin, sizeof sin) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1) {
		perror("free port");
		exit(EXIT_FAILURE);
	}
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void
stop_redis(void)
{
	if (raw != NULL) {
		redisFree(raw);
		raw = NULL;
	}
	if (redis_pid > 0) {
		kill(redis_pid, SIGTERM);
		waitpid(redis_pid, NULL, 0);
		redis_pid = -1;
	}
	nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Start redis-server and wait until it answers PING; exit loudly if not. */
static void
start_redis(void)
{
	char port[16];
	redisReply *r;
	int i, fd;

	if (access(REDIS_SERVER, X_OK) == -1) {
		fprintf(stderr, "FATAL: %s is missing: these tests need a real "
		    "redis-server (apt-get install redis-server)\n",
		    REDIS_SERVER);
		exit(EXIT_FAILURE);
	}
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		exit(EXIT_FAILURE);
	}
	redis_port = free_port();
	snprintf(port, sizeof port, "%d", redis_port);
	if ((redis_pid = fork()) == -1) {
		perror("fork");
		exit(EXIT_FAILURE);
	}
	if (redis_pid == 0) {
		if ((fd = open("/dev/null", O_WRONLY)) != -1) {
			dup2(fd, STDOUT_FILENO);
			close(fd);
		}
		execl(REDIS_SERVER, "redis-server", "--port", port, "--bind",
		    "127.0.0.1", "--save", "", "--appendonly", "no", "--dir",
		    tmpdir, "--daemonize", "no", (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 100; i++) {
		struct timeval tv = { 1, 0 };

		raw = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
		if (raw != NULL && raw->err == 0) {
			r = redisCommand(raw, "PING");
			if (r != NULL && r->type == REDIS_REPLY_STATUS) {
				freeReplyObject(r);
				return;
			}
			if (r != NULL)
				freeReplyObject(r);
		}
		if (raw != NULL)
			redisFree(raw);
		raw = NULL;
		if (waitpid(redis_pid, NULL, WNOHANG) == redis_pid) {
			redis_pid = -1;
			break;
		}
		sleep_ms(50);
	}
	fprintf(stderr, "FATAL: redis-server on port %d did not answer\n",
	    redis_port);
	stop_redis();
	exit(EXIT_FAILURE);
}

/* A command on the tests' connection; the reply is checked and freed. */
static long long
raw_int(const char *fmt, ...)
{
	redisReply *r;
	va_list ap;
	long long n;

	va_start(ap, fmt);
	r = redisvCommand(raw, fmt, ap);
	va_end(ap);
	ck_assert_ptr_nonnull(r);
	ck_assert_msg(r->type == REDIS_REPLY_INTEGER, "%s: type %d %s", fmt,
	    r->type, r->type == REDIS_REPLY_ERROR ? r->str : "");
	n = r->integer;
	freeReplyObject(r);
	return n;
}

static void
raw_ok(const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = redisvCommand(raw, fmt, ap);
	va_end(ap);
	ck_assert_ptr_nonnull(r);
	ck_assert_msg(r->type != REDIS_REPLY_ERROR, "%s: %s", fmt,
	    r->type == REDIS_REPLY_ERROR ? r->str : "");
	freeReplyObject(r);
}

static void
flushall(void)
{
	raw_ok("FLUSHALL");
}

static void
pconf(struct pool_conf *pc, const char *pool, int port, int64_t lease)
{
	memset(pc, 0, sizeof *pc);
	pc->name = (char *)pool;
	pc->taskq.kind = TASKQ_REDIS;
	pc->taskq.host = (char *)"127.0.0.1";
	pc->taskq.port = port;
	pc->task_lease_ms = lease;
}

/* Open pool `pool` as consumer `consumer` (a "host"). */
static void *
qopen_lease(const char *pool, const char *consumer, int64_t lease)
{
	struct pool_conf pc;
	char *cause = NULL;
	void *q;

	pconf(&pc, pool, redis_port, lease);
	setenv("PFPM_REDIS_CONSUMER", consumer, 1);
	q = be->open(&pc, true, &cause);
	unsetenv("PFPM_REDIS_CONSUMER");
	ck_assert_msg(q != NULL, "open: %s", cause != NULL ? cause : "?");
	return q;
}

static void *
qopen(const char *pool, const char *consumer)
{
	return qopen_lease(pool, consumer, 0);
}

/* Task n: id of n, payload "p<n>\0:x" (binary), queue "default". */
static struct tq_task
mktask(unsigned n, int64_t due, int tries)
{
	struct tq_task t;
	static char payload[64];
	int len;

	memset(&t, 0, sizeof t);
	snprintf(t.id, sizeof t.id, "%032x", n);
	snprintf(t.queue, sizeof t.queue, "%s", n % 2 ? "default" : "q:2");
	len = snprintf(payload, sizeof payload, "p%u", n);
	payload[len] = '\0';
	memcpy(payload + len + 1, ":x", 2);
	t.payload = payload;
	t.len = (size_t)len + 3;
	t.tries = tries;
	t.created_ms = base_ms + (int64_t)n;
	t.due_ms = due;
	return t;
}

static void
add(void *q, unsigned n, int64_t due, int tries)
{
	struct tq_task t = mktask(n, due, tries);

	ck_assert_int_eq(be->add(q, &t), 0);
}

/* Claim the next task, which must exist and be task n; returns it. */
static struct tq_task
take(void *q, unsigned n, int attempts)
{
	struct tq_task t, want = mktask(n, 0, 0);
	int rv;

	memset(&t, 0, sizeof t);
	rv = be->next(q, now_ms(), &t);
	ck_assert_msg(rv == 1, "next: %d, wanted task %u", rv, n);
	ck_assert_str_eq(t.id, want.id);
	ck_assert_str_eq(t.queue, want.queue);
	ck_assert_uint_eq(t.len, want.len);
	ck_assert(memcmp(t.payload, want.payload, t.len) == 0);
	ck_assert_int_eq(t.attempts, attempts);
	ck_assert(t.ref[0] != '\0');
	return t;
}

/* take(), then the task is done: acked and committed. */
static void
take_done(void *q, unsigned n, int attempts)
{
	struct tq_task t = take(q, n, attempts);

	ck_assert_int_eq(be->ack(q, &t), 0);
	free(t.payload);
	ck_assert_int_eq(be->commit(q), 0);
}

static void
none(void *q)
{
	struct tq_task t;

	ck_assert_int_eq(be->next(q, now_ms(), &t), 0);
}

/* A tick and a wait past the empty-stream poll limit, then no task. */
static void
none_after(void *q, int ms)
{
	sleep_ms(ms);
	be->tick(q, now_ms());
	none(q);
}

START_TEST(test_basic)
{
	struct tq_counts c;
	struct tq_task t;
	void *q;
	unsigned i;

	flushall();
	q = qopen("www", "hostA:1");
	none(q);
	for (i = 1; i <= 3; i++)
		add(q, i, 0, 1);
	ck_assert_int_eq(be->commit(q), 0);
	ck_assert_int_eq(raw_int("XLEN pfpm:{www}:tasks"), 3);
	ck_assert_int_eq(be->counts(q, &c), 0);
	ck_assert_uint_eq(c.queued, 3);
	ck_assert_uint_eq(c.dead, 0);
	ck_assert_int_eq(c.oldest_ms, mktask(1, 0, 0).created_ms);
	ck_assert_int_eq(be->next_due_ms(q), -1);
	for (i = 1; i <= 3; i++) {
		t = take(q, i, 1);
		ck_assert_int_eq(t.tries, 1);
		ck_assert_int_eq(t.created_ms, mktask(i, 0, 0).created_ms);
		ck_assert_int_eq(be->ack(q, &t), 0);
		free(t.payload);
	}
	ck_assert_int_eq(be->commit(q), 0);
	none(q);
	ck_assert_int_eq(raw_int("XLEN pfpm:{www}:tasks"), 0);
	ck_assert_int_eq(be->counts(q, &c), 0);
	ck_assert_uint_eq(c.queued, 0);
	ck_assert_int_eq(c.oldest_ms, 0);

	/* Keys lost under a running master: the group is made again from 0. */
	flushall();
	add(q, 4, 0, 1);
	ck_assert_int_eq(be->commit(q), 0);
	be->tick(q, now_ms());
	take_done(q, 4, 1);
	be->close(q);
}
END_TEST

/* Read-ahead: counts see the tasks not handed out yet. */
START_TEST(test_counts_readahead)
{
	struct tq_counts c;
	struct tq_task t;
	void *q;
	unsigned i;

	flushall();
	q = qopen("www", "hostA:1");
	for (i = 1; i <= 5; i++)
		add(q, i, 0, 1);
	add(q, 9, now_ms() + 60000, 1);
	ck_assert_int_eq(be->commit(q), 0);
	t = take(q, 1, 1);
	ck_assert_int_eq(be->counts(q, &c), 0);
	ck_assert_uint_eq(c.queued, 5);	/* 4 read ahead + 1 delayed */
	ck_assert_int_eq(c.oldest_ms, mktask(2, 0, 0).created_ms);
	ck_assert_int_eq(be->ack(q, &t), 0);
	free(t.payload);
	be->close(q);
	/* Closing gave the read-ahead ones back to the stream. */
	ck_assert_int_eq(raw_int("XLEN pfpm:{www}:tasks"), 4);
	q = qopen("www", "hostB:2");
	ck_assert_int_eq(be->counts(q, &c), 0);
	ck_assert_uint_eq(c.queued, 5);
	for (i = 2; i <= 5; i++) {
		t = take(q, i, 1);
		ck_assert_int_eq(be->ack(q, &t), 0);
		free(t.payload);
	}
	ck_assert_int_eq(be->commit(q), 0);
	be->close(q);
}
END_TEST

START_TEST(test_delayed)
{
	struct tq_counts c;
	struct tq_task t;
	int64_t due;
	void *q;

	flushall();
	q = qopen("www", "hostA:1");
	due = now_ms() + 300;
	add(q, 1, due, 1);
	ck_assert_int_eq(be->commit(q), 0);
	ck_assert_int_eq(raw_int("ZCARD pfpm:{www}:delayed"), 1);
	none(q);
	ck_assert_int_eq(be->next_due_ms(q), due);
	ck_assert_int_eq(be->counts(q, &c), 0);
	ck_assert_uint_eq(c.queued, 1);
	none_after(q, 30);
	sleep_ms(300);
	be->tick(q, now_ms());
	ck_assert_int_eq(raw_int("ZCARD pfpm:{www}:delayed"), 0);
	ck_assert_int_eq(be->next_due_ms(q), -1);
	t = take(q, 1, 1);
	ck_assert_int_eq(be->ack(q, &t), 0);
	free(t.payload);

	/* Without a tick, next() moves what next_due_ms() said was due. */
	due = now_ms() + 100;
	add(q, 2, due, 1);
	ck_assert_int_eq(be->commit(q), 0);
	sleep_ms(150);
	ck_assert_int_eq(be->next_due_ms(q), due);
	take_done(q, 2, 1);
	be->close(q);
}
END_TEST

START_TEST(test_retry)
{
	struct tq_counts c;
	struct tq_task t;
	int64_t due;
	void *q;

	flushall();
	q = qopen("www", "hostA:1");
	add(q, 1, 0, 3);
	ck_assert_int_eq(be->commit(q), 0);
	t = take(q, 1, 1);
	due = now_ms() + 150;
	ck_assert_int_eq(be->retry(q, &t, due, "boom"), 0);
	ck_assert_int_eq(be->commit(q), 0);
	free(t.payload);
	ck_assert_int_eq(raw_int("XLEN pfpm:{www}:tasks"), 0);
	none(q);
	ck_assert_int_eq(be->next_due_ms(q), due);
	sleep_ms(200);
	be->tick(q, now_ms());
	t = take(q, 1, 2);
	/* Due now: straight back into the stream. */
	ck_assert_int_eq(be->retry(q, &t, now_ms() - 1, "again"), 0);
	free(t.payload);
	t = take(q, 1, 3);
	ck_assert_int_eq(be->bury(q, &t, "Exception: out of tries"), 0);
	ck_assert_int_eq(be->commit(q), 0);
	free(t.payload);
	ck_assert_int_eq(be->counts(q, &c), 0);
	ck_assert_uint_eq(c.queued, 0);
	ck_assert_uint_eq(c.dead, 1);
	be->close(q);
}
END_TEST

START_TEST(test_release)
{
	struct tq_task t;
	void *q;

	flushall();
	q = qopen("www", "hostA:1");
	add(q, 1, 0, 3);
	ck_assert_int_eq(be->commit(q), 0);
	t = take(q, 1, 1);
	ck_assert_int_eq(be->release(q, &t), 0);
	free(t.payload);
	t = take(q, 1, 2);
	ck_assert_int_eq(be->release(q, &t), 0);
	free(t.payload);
	t = take(q, 1, 3);
	ck_assert_int_eq(be->ack(q, &t), 0);
	ck_assert_int_eq(be->commit(q), 0);
	free(t.payload);
	ck_assert_int_eq(raw_int("XLEN pfpm:{www}:tasks"), 0);
	be->close(q);
}
END_TEST

struct dead_seen {
	int n;
	char ids[8][TQ_ID_LEN + 1];
	char errs[8][64];
	struct tq_task t[8];
};

static void
dead_cb(void *arg, const struct tq_task *t, const char *err)
{
	struct dead_seen *d = arg;

	ck_assert_int_lt(d->n, 8);
	ck_assert_ptr_null(t->payload);
	snprintf(d->ids[d->n], sizeof d->ids[0], "%s", t->id);
	snprintf(d->errs[d->n], sizeof d->errs[0], "%s", err);
	d->t[d->n++] = *t;
}

static int
dead_find(const struct dead_seen *d, unsigned n)
{
	struct tq_task want = mktask(n, 0, 0);
	int i;

	for (i = 0; i < d->n; i++)
		if (strcmp(d->ids[i], want.id) == 0)
			return i;
	return -1;
}

START_TEST(test_dead)
{
	struct dead_seen d;
	struct tq_counts c;
	struct tq_task t;
	int64_t before;
	char err[16];
	void *q;
	unsigned i;
	int k;

	flushall();
	q = qopen("www", "hostA:1");
	for (i = 1; i <= 3; i++)
		add(q, i, 0, 1);
	ck_assert_int_eq(be->commit(q), 0);
	before = now_ms();
	for (i = 1; i <= 3; i++) {
		t = take(q, i, 1);
		snprintf(err, sizeof err, "e%u: x", i);
		ck_assert_int_eq(be->bury(q, &t, err), 0);
		free(t.payload);
	}
	ck_assert_int_eq(be->commit(q), 0);
	ck_assert_int_eq(be->counts(q, &c), 0);
	ck_assert_uint_eq(c.dead, 3);
	ck_assert_uint_eq(c.queued, 0);

	memset(&d, 0, sizeof d);
	ck_assert_int_eq(be->dead_list(q, dead_cb, &d), 0);
	ck_assert_int_eq(d.n, 3);
	for (i = 1; i <= 3; i++) {
		struct tq_task want = mktask(i, 0, 0);

		k = dead_find(&d, i);
		ck_assert_int_ge(k, 0);
		snprintf(err, sizeof err, "e%u: x", i);
		ck_assert_str_eq(d.errs[k], err);
		ck_assert_str_eq(d.t[k].queue, want.queue);
		ck_assert_uint_eq(d.t[k].len, want.len);
		ck_assert_int_eq(d.t[k].attempts, 1);
		ck_assert_int_eq(d.t[k].tries, 1);
		ck_assert_int_eq(d.t[k].created_ms, want.created_ms);
		ck_assert_int_ge(d.t[k].due_ms, before);
		ck_assert_int_le(d.t[k].due_ms, now_ms());
	}

	/* One back: attempts from zero. */
	ck_assert_int_eq(be->dead_retry(q, mktask(1, 0, 0).id, now_ms()), 1);
	ck_assert_int_eq(be->dead_retry(q, "nosuchtask", now_ms()), 0);
	t = take(q, 1, 1);
	ck_assert_int_eq(be->ack(q, &t), 0);
	free(t.payload);
	ck_assert_int_eq(be->dead_purge(q, mktask(2, 0, 0).id), 1);
	ck_assert_int_eq(be->dead_purge(q, mktask(2, 0, 0).id), 0);
	/* All of them (task 3). */
	ck_assert_int_eq(be->dead_retry(q, NULL, now_ms()), 1);
	t = take(q, 3, 1);
	ck_assert_int_eq(be->bury(q, &t, "again"), 0);
	free(t.payload);
	add(q, 4, 0, 1);
	ck_assert_int_eq(be->commit(q), 0);
	t = take(q, 4, 1);
	ck_assert_int_eq(be->bury(q, &t, NULL), 0);
	free(t.payload);
	ck_assert_int_eq(be->commit(q), 0);
	ck_assert_int_eq(be->counts(q, &c), 0);
	ck_assert_uint_eq(c.dead, 2);
	ck_assert_int_eq(be->dead_purge(q, NULL), 2);
	ck_assert_int_eq(be->counts(q, &c), 0);
	ck_assert_uint_eq(c.dead, 0);
	ck_assert_uint_eq(c.queued, 0);
	be->close(q);
}
END_TEST

/* The CLI's view: owner=false opens, lists and retries. */
START_TEST(test_cli)
{
	struct pool_conf pc;
	struct dead_seen d;
	struct tq_task t;
	char *cause = NULL;
	void *q, *cli;

	flushall();
	q = qopen("www", "hostA:1");
	add(q, 1, 0, 1);
	ck_assert_int_eq(be->commit(q), 0);
	t = take(q, 1, 1);
	ck_assert_int_eq(be->bury(q, &t, "x"), 0);
	ck_assert_int_eq(be->commit(q), 0);
	free(t.payload);

	pconf(&pc, "www", redis_port, 0);
	cli = be->open(&pc, false, &cause);
	ck_assert_msg(cli != NULL, "%s", cause != NULL ? cause : "?");
	memset(&d, 0, sizeof d);
	ck_assert_int_eq(be->dead_list(cli, dead_cb, &d), 0);
	ck_assert_int_eq(d.n, 1);
	ck_assert_int_eq(be->dead_retry(cli, NULL, now_ms()), 1);
	be->close(cli);
	/* The master sees it at its next poll. */
	sleep_ms(30);
	t = take(q, 1, 1);
	ck_assert_int_eq(be->ack(q, &t), 0);
	free(t.payload);
	be->close(q);
}
END_TEST

/* Two hosts on one pool: every task is claimed once. */
START_TEST(test_two_hosts)
{
	static int seen[201];
	struct tq_task t, want;
	void *qa, *qb, *qs[2];
	int got[2] = { 0, 0 }, idle, rv, i;
	unsigned n;

	flushall();
	memset(seen, 0, sizeof seen);
	qa = qopen("shared", "hostA:1");
	qb = qopen("shared", "hostB:2");
	qs[0] = qa;
	qs[1] = qb;
	for (n = 1; n <= 100; n++)
		add(qa, n, 0, 1);
	ck_assert_int_eq(be->commit(qa), 0);
	for (n = 101; n <= 200; n++)
		add(qb, n, 0, 1);
	ck_assert_int_eq(be->commit(qb), 0);
	for (idle = 0; idle < 3;) {
		rv = 0;
		for (i = 0; i < 2; i++) {
			int r = be->next(qs[i], now_ms(), &t);

			ck_assert_int_ge(r, 0);
			if (r == 0)
				continue;
			rv++;
			got[i]++;
			ck_assert_int_eq(sscanf(t.id, "%x", &n), 1);
			ck_assert(n >= 1 && n <= 200);
			want = mktask(n, 0, 0);
			ck_assert_str_eq(t.id, want.id);
			ck_assert(memcmp(t.payload, want.payload, t.len) == 0);
			seen[n]++;
			ck_assert_int_eq(be->ack(qs[i], &t), 0);
			free(t.payload);
		}
		if (rv == 0) {
			idle++;
			sleep_ms(30);
		}
	}
	for (n = 1; n <= 200; n++)
		ck_assert_msg(seen[n] == 1, "task %u seen %d times", n,
		    seen[n]);
	ck_assert_int_gt(got[0], 0);
	ck_assert_int_gt(got[1], 0);
	ck_assert_int_eq(got[0] + got[1], 200);
	ck_assert_int_eq(be->commit(qa), 0);
	ck_assert_int_eq(be->commit(qb), 0);
	ck_assert_int_eq(raw_int("XLEN pfpm:{shared}:tasks"), 0);
	be->close(qa);
	be->close(qb);
}
END_TEST

/*
 * A host that claimed tasks and went away: after the lease another takes
 * them over; a task it had started counts that run, one it only read
 * ahead does not.
 */
START_TEST(test_reclaim)
{
	struct tq_counts c;
	struct tq_task t, ta, tc;
	struct dead_seen d;
	void *qa, *qb;

	flushall();
	qa = qopen_lease("www", "hostA:1", 300);
	qb = qopen_lease("www", "hostB:2", 300);
	add(qa, 1, 0, 1);	/* started by A, no try left: buried */
	add(qa, 3, 0, 3);	/* started by A: runs again, attempt 2 */
	add(qa, 5, 0, 1);	/* only read ahead by A: attempt 1 */
	ck_assert_int_eq(be->commit(qa), 0);
	ta = take(qa, 1, 1);
	tc = take(qa, 3, 1);
	free(ta.payload);
	free(tc.payload);
	/* A dies without a word: close() only gives back task 5. */
	be->close(qa);
	t = take(qb, 5, 1);
	ck_assert_int_eq(be->ack(qb, &t), 0);
	free(t.payload);
	/* Before the lease: nothing to take over. */
	none_after(qb, 30);
	sleep_ms(350);
	be->tick(qb, now_ms());
	t = take(qb, 3, 2);
	ck_assert_int_eq(be->ack(qb, &t), 0);
	free(t.payload);
	none(qb);
	ck_assert_int_eq(be->commit(qb), 0);
	ck_assert_int_eq(be->counts(qb, &c), 0);
	ck_assert_uint_eq(c.dead, 1);
	ck_assert_uint_eq(c.queued, 0);
	memset(&d, 0, sizeof d);
	ck_assert_int_eq(be->dead_list(qb, dead_cb, &d), 0);
	ck_assert_int_eq(d.n, 1);
	ck_assert_str_eq(d.ids[0], mktask(1, 0, 0).id);
	ck_assert_int_eq(d.t[0].attempts, 1);

	/* A host that read entries ahead and died (raw XREADGROUP). */
	add(qb, 7, 0, 1);
	ck_assert_int_eq(be->commit(qb), 0);
	raw_ok("XREADGROUP GROUP pfpm ghost:9 COUNT 10 STREAMS "
	    "pfpm:{www}:tasks >");
	none_after(qb, 30);
	sleep_ms(350);
	be->tick(qb, now_ms());
	t = take(qb, 7, 1);
	ck_assert_int_eq(be->ack(qb, &t), 0);
	free(t.payload);
	ck_assert_int_eq(be->commit(qb), 0);
	ck_assert_int_eq(raw_int("XLEN pfpm:{www}:tasks"), 0);
	be->close(qb);
}
END_TEST

/* A live host refreshes its claims: another never takes them over. */
START_TEST(test_refresh)
{
	struct tq_task t;
	void *qa, *qb;
	int i;

	flushall();
	qa = qopen_lease("www", "hostA:1", 300);
	qb = qopen_lease("www", "hostB:2", 300);
	add(qa, 1, 0, 1);
	add(qa, 3, 0, 1);
	ck_assert_int_eq(be->commit(qa), 0);
	t = take(qa, 1, 1);	/* running; task 3 read ahead */
	for (i = 0; i < 20; i++) {
		sleep_ms(50);
		be->tick(qa, now_ms());
		be->tick(qb, now_ms());
		none(qb);
	}
	ck_assert_int_eq(be->ack(qa, &t), 0);
	free(t.payload);
	t = take(qa, 3, 1);
	ck_assert_int_eq(be->ack(qa, &t), 0);
	free(t.payload);
	ck_assert_int_eq(be->commit(qa), 0);
	be->close(qa);
	be->close(qb);
}
END_TEST

/* A reload keeps the pid, so the consumer: its claims come back at once. */
START_TEST(test_reload)
{
	struct tq_task t;
	void *q;

	flushall();
	q = qopen("www", "hostA:1");
	add(q, 1, 0, 2);
	ck_assert_int_eq(be->commit(q), 0);
	t = take(q, 1, 1);
	free(t.payload);
	be->close(q);
	q = qopen("www", "hostA:1");
	take_done(q, 1, 2);
	be->close(q);
}
END_TEST

/* Redis away: -1 at once, no blocking; back after the retry delay. */
START_TEST(test_conn_lost)
{
	struct pool_conf pc;
	struct tq_task t;
	char *cause = NULL;
	int64_t t0;
	void *q;
	int dead_port = free_port();

	flushall();
	q = qopen("www", "hostA:1");
	none(q);
	raw_ok("CLIENT KILL TYPE normal SKIPME yes");
	add(q, 1, 0, 1);
	ck_assert_int_eq(be->commit(q), -1);	/* staged, lost */
	t0 = now_ms();
	ck_assert_int_eq(be->next(q, now_ms(), &t), -1);
	t = mktask(3, 0, 1);
	ck_assert_int_eq(be->add(q, &t), -1);
	ck_assert_int_lt(now_ms() - t0, 100);
	sleep_ms(1100);
	add(q, 2, 0, 1);
	ck_assert_int_eq(be->commit(q), 0);
	take_done(q, 2, 1);
	be->close(q);

	/* Nobody listens: the CLI fails, a master opens and waits. */
	pconf(&pc, "www", dead_port, 0);
	ck_assert_ptr_null(be->open(&pc, false, &cause));
	ck_assert_ptr_nonnull(cause);
	free(cause);
	q = be->open(&pc, true, &cause);
	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(be->next(q, now_ms(), &t), -1);
	ck_assert_int_eq(be->next_due_ms(q), -1);
	be->tick(q, now_ms());
	be->close(q);
}
END_TEST

START_TEST(test_rlease)
{
	struct taskq_url u, bad;
	struct rlease *la, *lb;
	char *cause = NULL;
	redisReply *r;

	flushall();
	memset(&u, 0, sizeof u);
	u.kind = TASKQ_REDIS;
	u.host = (char *)"127.0.0.1";
	u.port = redis_port;
	la = rlease_new(&u, "pfpm:www:timer-lock", "hostA:1", 300, &cause);
	lb = rlease_new(&u, "pfpm:www:timer-lock", "hostB:2", 300, &cause);
	ck_assert_ptr_nonnull(la);
	ck_assert_ptr_nonnull(lb);
	ck_assert_int_eq(rlease_hold(la), 1);
	ck_assert_int_eq(rlease_hold(lb), 0);
	sleep_ms(200);
	ck_assert_int_eq(rlease_hold(la), 1);	/* renewed */
	sleep_ms(200);
	ck_assert_int_eq(rlease_hold(lb), 0);	/* 400 ms, still A's */
	ck_assert_int_eq(rlease_hold(la), 1);
	sleep_ms(400);				/* A stops renewing */
	ck_assert_int_eq(rlease_hold(lb), 1);
	ck_assert_int_eq(rlease_hold(la), 0);
	rlease_free(lb);			/* releases */
	ck_assert_int_eq(rlease_hold(la), 1);
	rlease_free(la);
	r = redisCommand(raw, "EXISTS pfpm:www:timer-lock");
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->integer, 0);
	freeReplyObject(r);

	/* Not held: free leaves another's lease alone. */
	la = rlease_new(&u, "pfpm:www:timer-lock", "hostA:1", 5000, &cause);
	lb = rlease_new(&u, "pfpm:www:timer-lock", "hostB:2", 5000, &cause);
	ck_assert_int_eq(rlease_hold(la), 1);
	ck_assert_int_eq(rlease_hold(lb), 0);
	rlease_free(lb);
	ck_assert_int_eq(raw_int("EXISTS pfpm:www:timer-lock"), 1);
	rlease_free(la);
	ck_assert_int_eq(raw_int("EXISTS pfpm:www:timer-lock"), 0);

	/* Redis unreachable: -1, not held. */
	bad = u;
	bad.port = free_port();
	la = rlease_new(&bad, "k", "o", 300, &cause);
	ck_assert_ptr_nonnull(la);
	ck_assert_int_eq(rlease_hold(la), -1);
	ck_assert_int_eq(rlease_hold(la), -1);
	rlease_free(la);

	bad.kind = TASKQ_SQLITE;
	ck_assert_ptr_null(rlease_new(&bad, "k", "o", 300, &cause));
	ck_assert_ptr_nonnull(cause);
	free(cause);
}
END_TEST

/* AUTH and SELECT: a password-protected server, database 3. */
START_TEST(test_auth_db)
{
	struct pool_conf pc;
	char *cause = NULL;
	void *q;

	flushall();
	raw_ok("CONFIG SET requirepass s3cret");
	raw_ok("AUTH s3cret");
	pconf(&pc, "www", redis_port, 0);
	pc.taskq.password = (char *)"s3cret";
	pc.taskq.db = 3;
	q = be->open(&pc, true, &cause);
	ck_assert_ptr_nonnull(q);
	add(q, 1, 0, 1);
	ck_assert_int_eq(be->commit(q), 0);
	raw_ok("SELECT 3");
	ck_assert_int_eq(raw_int("XLEN pfpm:{www}:tasks"), 1);
	raw_ok("SELECT 0");
	take_done(q, 1, 1);
	be->close(q);

	pc.taskq.password = (char *)"wrong";
	ck_assert_ptr_null(be->open(&pc, false, &cause));
	free(cause);
	raw_ok("CONFIG SET requirepass %s", "");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("taskq_redis");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	log_init();
	signal(SIGPIPE, SIG_IGN);	/* as the master: a dropped connection */
	base_ms = now_ms() - 100000;
	start_redis();
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_basic);
	tcase_add_test(tc, test_counts_readahead);
	tcase_add_test(tc, test_delayed);
	tcase_add_test(tc, test_retry);
	tcase_add_test(tc, test_release);
	tcase_add_test(tc, test_dead);
	tcase_add_test(tc, test_cli);
	tcase_add_test(tc, test_two_hosts);
	tcase_add_test(tc, test_reclaim);
	tcase_add_test(tc, test_refresh);
	tcase_add_test(tc, test_reload);
	tcase_add_test(tc, test_conn_lost);
	tcase_add_test(tc, test_rlease);
	tcase_add_test(tc, test_auth_db);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	stop_redis();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
