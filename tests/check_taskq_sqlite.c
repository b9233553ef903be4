/* Tests for src/taskq_sqlite.c, on real files in a temporary directory. */
#include "pfpm.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/check_taskq_sqlite.XXXXXX";
static const struct tq_backend *be = &taskq_sqlite;

/* The database file `name` in the temporary directory. */
static char *
dbpath(const char *name)
{
	char *p;

	xasprintf(&p, "%s/%s", tmpdir, name);
	return p;
}

/* Open `name` as a pool's queue would; NULL with *cause on failure. */
static void *
qopen_cause(const char *name, bool owner, char **cause)
{
	struct pool_conf pc;
	void *q;

	memset(&pc, 0, sizeof pc);
	pc.name = (char *)"www";
	pc.taskq.kind = TASKQ_SQLITE;
	pc.taskq.path = dbpath(name);
	*cause = NULL;
	q = be->open(&pc, owner, cause);
	free(pc.taskq.path);
	return q;
}

static void *
qopen(const char *name, bool owner)
{
	char *cause = NULL;
	void *q = qopen_cause(name, owner, &cause);

	ck_assert_msg(q != NULL, "open %s: %s", name, cause ? cause : "?");
	return q;
}

/* A task with id made of `n`, its payload "payload-<n>". */
static struct tq_task
mktask(unsigned n, int64_t created, int64_t due, int tries)
{
	static char payloads[64][32];
	struct tq_task t;
	char *p = payloads[n % 64];

	memset(&t, 0, sizeof t);
	snprintf(t.id, sizeof t.id, "%032x", n);
	snprintf(t.queue, sizeof t.queue, "q%u", n % 3);
	snprintf(p, sizeof payloads[0], "payload-%u", n);
	t.payload = p;
	t.len = strlen(p);
	t.tries = tries;
	t.created_ms = created;
	t.due_ms = due;
	return t;
}

static void
add(void *q, unsigned n, int64_t created, int64_t due, int tries)
{
	struct tq_task t = mktask(n, created, due, tries);

	ck_assert_int_eq(be->add(q, &t), 0);
}

/* Claim the next due task and check it is task n; payload freed. */
static struct tq_task
claim(void *q, int64_t now, unsigned n)
{
	struct tq_task t;
	char id[TQ_ID_LEN + 1], payload[32];

	ck_assert_int_eq(be->next(q, now, &t), 1);
	snprintf(id, sizeof id, "%032x", n);
	snprintf(payload, sizeof payload, "payload-%u", n);
	ck_assert_str_eq(t.id, id);
	ck_assert_uint_eq(t.len, strlen(payload));
	ck_assert(memcmp(t.payload, payload, t.len) == 0);
	free(t.payload);
	t.payload = NULL;
	return t;
}

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
none(void *q, int64_t now)
{
	struct tq_task t;

	ck_assert_int_eq(be->next(q, now, &t), 0);
}

START_TEST(test_round_trip)
{
	void *q = qopen("rt.db", true);
	struct tq_task in = mktask(7, 1000, 1000, 3), t;
	struct tq_counts c;

	ck_assert_int_eq(be->commit(q), 0);	/* nothing staged */
	ck_assert_int_eq(be->add(q, &in), 0);
	ck_assert_int_eq(be->commit(q), 0);
	ck_assert_int_eq(be->next(q, 1000, &t), 1);
	ck_assert_str_eq(t.id, in.id);
	ck_assert_str_eq(t.queue, "q1");
	ck_assert_uint_eq(t.len, in.len);
	ck_assert(memcmp(t.payload, in.payload, in.len) == 0);
	ck_assert_int_eq(t.tries, 3);
	ck_assert_int_eq(t.attempts, 1);
	ck_assert_int_eq(t.created_ms, 1000);
	ck_assert_int_eq(t.due_ms, 1000);
	ck_assert(t.ref[0] != '\0');
	free(t.payload);
	none(q, 1000);
	ck_assert_int_eq(be->ack(q, &t), 0);
	ck_assert_int_eq(be->commit(q), 0);
	ck_assert_int_eq(be->counts(q, &c), 0);
	ck_assert_uint_eq(c.queued, 0);
	ck_assert_uint_eq(c.dead, 0);
	ck_assert_int_eq(c.oldest_ms, 0);
	ck_assert_int_eq(be->next_due_ms(q), -1);
	/* Gone rows: no-ops. */
	ck_assert_int_eq(be->ack(q, &t), 0);
	ck_assert_int_eq(be->retry(q, &t, 5, "x"), 0);
	ck_assert_int_eq(be->bury(q, &t, "x"), 0);
	ck_assert_int_eq(be->release(q, &t), 0);
	ck_assert_int_eq(be->commit(q), 0);
	ck_assert_int_eq(be->counts(q, &c), 0);
	ck_assert_uint_eq(c.queued + c.dead, 0);
	be->tick(q, 0);
	be->close(q);

	q = qopen("rt.db", true);
	none(q, 1000);
	be->close(q);
}
END_TEST

START_TEST(test_empty_payload)
{
	void *q = qopen("empty.db", true);
	struct tq_task in = mktask(1, 1, 1, 1), t;

	in.payload = NULL;
	in.len = 0;
	ck_assert_int_eq(be->add(q, &in), 0);
	ck_assert_int_eq(be->commit(q), 0);
	ck_assert_int_eq(be->next(q, 1, &t), 1);
	ck_assert_uint_eq(t.len, 0);
	ck_assert_ptr_nonnull(t.payload);
	free(t.payload);
	be->close(q);
}
END_TEST

START_TEST(test_order)
{
	void *q = qopen("order.db", true);

	add(q, 1, 10, 300, 1);
	add(q, 2, 10, 100, 1);
	add(q, 3, 10, 100, 1);
	add(q, 4, 10, 200, 1);
	ck_assert_int_eq(be->commit(q), 0);
	claim(q, 1000, 2);
	claim(q, 1000, 3);
	claim(q, 1000, 4);
	claim(q, 1000, 1);
	none(q, 1000);
	be->close(q);
}
END_TEST

START_TEST(test_delayed)
{
	void *q = qopen("delay.db", true);

	add(q, 1, 1000, 6000, 1);
	ck_assert_int_eq(be->commit(q), 0);
	none(q, 1000);
	none(q, 5999);
	ck_assert_int_eq(be->next_due_ms(q), 6000);
	add(q, 2, 1000, 3000, 1);	/* staged: seen by its own connection */
	ck_assert_int_eq(be->next_due_ms(q), 3000);
	claim(q, 3000, 2);
	ck_assert_int_eq(be->next_due_ms(q), 6000);
	claim(q, 6000, 1);
	ck_assert_int_eq(be->next_due_ms(q), -1);
	ck_assert_int_eq(be->commit(q), 0);
	be->close(q);
}
END_TEST

START_TEST(test_attempts)
{
	void *q = qopen("attempts.db", true);
	struct tq_task t;
	int i;

	add(q, 5, 1, 1, 10);
	for (i = 1; i <= 4; i++) {
		t = claim(q, 1, 5);
		ck_assert_int_eq(t.attempts, i);
		none(q, 1);
		ck_assert_int_eq(be->release(q, &t), 0);
	}
	ck_assert_int_eq(be->commit(q), 0);
	be->close(q);
}
END_TEST

START_TEST(test_retry)
{
	void *q = qopen("retry.db", true);
	struct tq_task t;

	add(q, 9, 100, 100, 3);
	ck_assert_int_eq(be->commit(q), 0);
	t = claim(q, 100, 9);
	ck_assert_int_eq(be->retry(q, &t, 150, "Exception: boom"), 0);
	ck_assert_int_eq(be->commit(q), 0);
	none(q, 149);
	ck_assert_int_eq(be->next_due_ms(q), 150);
	t = claim(q, 150, 9);
	ck_assert_int_eq(t.attempts, 2);
	ck_assert_int_eq(t.due_ms, 150);
	ck_assert_int_eq(be->ack(q, &t), 0);
	ck_assert_int_eq(be->commit(q), 0);
	none(q, 1000);
	be->close(q);
}
END_TEST

struct dead_seen {
	int n;
	char ids[8][TQ_ID_LEN + 1];
	char errors[8][64];
	int attempts[8];
	int tries[8];
	size_t len[8];
	int64_t created[8];
	char queue[8][TQ_QUEUE_MAX + 1];
};

static void
dead_cb(void *arg, const struct tq_task *t, const char *error)
{
	struct dead_seen *d = arg;

	ck_assert_int_lt(d->n, 8);
	ck_assert_ptr_null(t->payload);
	snprintf(d->ids[d->n], sizeof d->ids[0], "%s", t->id);
	snprintf(d->errors[d->n], sizeof d->errors[0], "%s",
	    error != NULL ? error : "(null)");
	snprintf(d->queue[d->n], sizeof d->queue[0], "%s", t->queue);
	d->attempts[d->n] = t->attempts;
	d->tries[d->n] = t->tries;
	d->len[d->n] = t->len;
	d->created[d->n] = t->created_ms;
	d->n++;
}

START_TEST(test_dead_letters)
{
	void *q = qopen("dead.db", true);
	struct dead_seen d;
	struct tq_counts c;
	struct tq_task t;

	add(q, 1, 100, 100, 1);
	add(q, 2, 200, 200, 2);
	ck_assert_int_eq(be->commit(q), 0);
	t = claim(q, 1000, 1);
	ck_assert_int_eq(be->bury(q, &t, "RuntimeException: no"), 0);
	t = claim(q, 1000, 2);
	ck_assert_int_eq(be->bury(q, &t, "worker died"), 0);
	ck_assert_int_eq(be->commit(q), 0);
	none(q, 1000);
	ck_assert_int_eq(be->counts(q, &c), 0);
	ck_assert_uint_eq(c.queued, 0);
	ck_assert_uint_eq(c.dead, 2);

	memset(&d, 0, sizeof d);
	ck_assert_int_eq(be->dead_list(q, dead_cb, &d), 0);
	ck_assert_int_eq(d.n, 2);
	ck_assert_str_eq(d.ids[0], mktask(1, 0, 0, 0).id);
	ck_assert_str_eq(d.errors[0], "RuntimeException: no");
	ck_assert_str_eq(d.ids[1], mktask(2, 0, 0, 0).id);
	ck_assert_str_eq(d.errors[1], "worker died");
	ck_assert_str_eq(d.queue[1], "q2");
	ck_assert_int_eq(d.attempts[0], 1);
	ck_assert_int_eq(d.tries[1], 2);
	ck_assert_uint_eq(d.len[0], strlen("payload-1"));
	ck_assert_int_eq(d.created[1], 200);

	ck_assert_int_eq(be->dead_retry(q, "nosuchid", 5000), 0);
	ck_assert_int_eq(be->dead_retry(q, d.ids[1], 5000), 1);
	t = claim(q, 5000, 2);
	ck_assert_int_eq(t.attempts, 1);	/* counted from zero again */
	ck_assert_int_eq(t.created_ms, 200);
	ck_assert_int_eq(t.due_ms, 5000);
	ck_assert_int_eq(be->bury(q, &t, "again"), 0);
	ck_assert_int_eq(be->commit(q), 0);

	ck_assert_int_eq(be->dead_purge(q, "nosuchid"), 0);
	ck_assert_int_eq(be->dead_purge(q, d.ids[0]), 1);
	memset(&d, 0, sizeof d);
	ck_assert_int_eq(be->dead_list(q, dead_cb, &d), 0);
	ck_assert_int_eq(d.n, 1);
	ck_assert_str_eq(d.errors[0], "again");

	/* All of them, then none left. */
	add(q, 3, 300, 300, 1);
	t = claim(q, 1000, 3);
	/* Staged, then committed by dead_retry before its own work. */
	ck_assert_int_eq(be->bury(q, &t, "third"), 0);
	ck_assert_int_eq(be->dead_retry(q, NULL, 6000), 2);
	ck_assert_int_eq(be->counts(q, &c), 0);
	ck_assert_uint_eq(c.queued, 2);
	ck_assert_uint_eq(c.dead, 0);
	ck_assert_int_eq(c.oldest_ms, 200);
	t = claim(q, 6000, 2);
	ck_assert_int_eq(be->bury(q, &t, "x"), 0);
	t = claim(q, 6000, 3);
	ck_assert_int_eq(be->bury(q, &t, "y"), 0);
	ck_assert_int_eq(be->dead_purge(q, NULL), 2);
	ck_assert_int_eq(be->counts(q, &c), 0);
	ck_assert_uint_eq(c.queued + c.dead, 0);
	memset(&d, 0, sizeof d);
	ck_assert_int_eq(be->dead_list(q, dead_cb, &d), 0);
	ck_assert_int_eq(d.n, 0);
	be->close(q);
}
END_TEST

START_TEST(test_owner_resets_claims)
{
	void *q = qopen("owner.db", true), *cli;
	struct tq_task t;
	struct tq_counts c;

	add(q, 1, 10, 10, 5);
	add(q, 2, 20, 20, 5);
	ck_assert_int_eq(be->commit(q), 0);
	claim(q, 100, 1);
	ck_assert_int_eq(be->commit(q), 0);
	be->close(q);		/* the master is gone with task 1 in flight */

	/* The CLI does not release a running master's claims. */
	cli = qopen("owner.db", false);
	ck_assert_int_eq(be->counts(cli, &c), 0);
	ck_assert_uint_eq(c.queued, 1);
	ck_assert_int_eq(c.oldest_ms, 20);
	be->close(cli);

	q = qopen("owner.db", true);
	ck_assert_int_eq(be->counts(q, &c), 0);
	ck_assert_uint_eq(c.queued, 2);
	ck_assert_int_eq(c.oldest_ms, 10);
	t = claim(q, 100, 1);
	ck_assert_int_eq(t.attempts, 2);	/* the lost run counted */
	claim(q, 100, 2);
	be->close(q);
}
END_TEST

START_TEST(test_cli_connection)
{
	void *master = qopen("cli.db", true), *cli;
	struct tq_task t;
	struct tq_counts c;
	struct dead_seen d;

	add(master, 1, 10, 10, 1);
	ck_assert_int_eq(be->commit(master), 0);
	t = claim(master, 100, 1);
	ck_assert_int_eq(be->bury(master, &t, "boom"), 0);
	ck_assert_int_eq(be->commit(master), 0);
	none(master, 200);

	cli = qopen("cli.db", false);
	memset(&d, 0, sizeof d);
	ck_assert_int_eq(be->dead_list(cli, dead_cb, &d), 0);
	ck_assert_int_eq(d.n, 1);
	ck_assert_int_eq(be->counts(cli, &c), 0);
	ck_assert_uint_eq(c.dead, 1);
	ck_assert_int_eq(be->dead_retry(cli, t.id, 150), 1);

	/* The master's next() sees the CLI's commit. */
	ck_assert_int_eq(be->next_due_ms(master), 150);
	t = claim(master, 200, 1);
	ck_assert_int_eq(t.attempts, 1);
	ck_assert_int_eq(be->bury(master, &t, "boom again"), 0);
	ck_assert_int_eq(be->commit(master), 0);
	ck_assert_int_eq(be->dead_purge(cli, NULL), 1);
	ck_assert_int_eq(be->counts(master, &c), 0);
	ck_assert_uint_eq(c.dead, 0);
	be->close(cli);
	be->close(master);
}
END_TEST

/*
 * In a child: add tasks 1..n and commit, add n+1..n+staged without commit,
 * then the parent kills it with SIGKILL: no commit, no close, no exit
 * handler (and, unlike a self-kill, nothing valgrind can intercept).
 */
static void
child_dies(const char *name, unsigned n, unsigned staged)
{
	pid_t pid;
	int status, fds[2];
	char c;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		void *q;
		char *cause;
		unsigned i;

		if ((q = qopen_cause(name, true, &cause)) == NULL)
			_exit(3);
		for (i = 1; i <= n + staged; i++) {
			struct tq_task t = mktask(i, i, i, 1);

			if (be->add(q, &t) != 0)
				_exit(4);
			if (i == n && be->commit(q) != 0)
				_exit(5);
		}
		c = 'k';
		if (write(fds[1], &c, 1) != 1)
			_exit(6);
		for (;;)
			pause();
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &c, 1), 1);
	close(fds[0]);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	    "child status %#x", status);
}

/* Claim tasks 1..n of `name` in order, then nothing is left. */
static void
expect_tasks(const char *name, unsigned n)
{
	void *q = qopen(name, true);
	struct tq_counts c;
	unsigned i;

	ck_assert_int_eq(be->counts(q, &c), 0);
	ck_assert_uint_eq(c.queued, n);
	for (i = 1; i <= n; i++)
		claim(q, 1000, i);
	none(q, 1000);
	be->close(q);
}

START_TEST(test_crash_durability)
{
	void *q, *other;
	struct tq_counts c;

	/* Staged adds are invisible to others until commit. */
	q = qopen("staged.db", true);
	other = qopen("staged.db", false);
	add(q, 1, 1, 1, 1);
	ck_assert_int_eq(be->counts(other, &c), 0);
	ck_assert_uint_eq(c.queued, 0);
	ck_assert_int_eq(be->commit(q), 0);
	ck_assert_int_eq(be->counts(other, &c), 0);
	ck_assert_uint_eq(c.queued, 1);
	be->close(other);
	be->close(q);

	/* Committed tasks survive kill -9; the staged ones are lost. */
	child_dies("crash-staged.db", 50, 50);
	expect_tasks("crash-staged.db", 50);
	child_dies("crash-committed.db", 50, 0);
	expect_tasks("crash-committed.db", 50);
	child_dies("crash-nothing.db", 0, 20);
	expect_tasks("crash-nothing.db", 0);
}
END_TEST

/* The CLI neither waits for nor breaks the master's open batch. */
START_TEST(test_busy)
{
	void *master = qopen("busy.db", true), *cli;
	struct tq_counts c;
	double t0;

	add(master, 1, 1, 1, 1);		/* the write lock is held */
	t0 = mono();
	cli = qopen("busy.db", false);
	ck_assert(mono() - t0 < 1.0);
	ck_assert_int_eq(be->counts(cli, &c), 0);
	ck_assert_uint_eq(c.queued, 0);
	/* A write waits busy_timeout (2 s), then fails cleanly. */
	ck_assert_int_eq(be->dead_purge(cli, NULL), -1);
	ck_assert(mono() - t0 >= 1.5);
	ck_assert_int_eq(be->commit(master), 0);
	ck_assert_int_eq(be->dead_purge(cli, NULL), 0);
	ck_assert_int_eq(be->counts(cli, &c), 0);
	ck_assert_uint_eq(c.queued, 1);
	be->close(cli);
	be->close(master);
}
END_TEST

/* A forked child that closes its copy of the handle changes nothing. */
START_TEST(test_fork_close)
{
	void *master = qopen("fork.db", true), *other;
	struct tq_counts c;
	int status, fds[2];
	pid_t pid;
	char ch;

	add(master, 1, 1, 1, 1);
	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		be->close(master);
		ch = 'c';
		if (write(fds[1], &ch, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &ch, 1), 1);
	close(fds[0]);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	other = qopen("fork.db", false);
	ck_assert_int_eq(be->counts(other, &c), 0);
	ck_assert_uint_eq(c.queued, 0);		/* not committed by the child */
	add(master, 2, 2, 2, 1);
	ck_assert_int_eq(be->commit(master), 0);
	ck_assert_int_eq(be->counts(other, &c), 0);
	ck_assert_uint_eq(c.queued, 2);
	be->close(other);
	be->close(master);
}
END_TEST

START_TEST(test_counts)
{
	void *q = qopen("counts.db", true);
	struct tq_counts c;
	struct tq_task t;

	ck_assert_int_eq(be->counts(q, &c), 0);
	ck_assert_uint_eq(c.queued + c.dead, 0);
	ck_assert_int_eq(c.oldest_ms, 0);
	add(q, 1, 100, 100, 1);
	add(q, 2, 200, 200, 1);
	add(q, 3, 300, 99999, 1);	/* delayed: queued too */
	ck_assert_int_eq(be->commit(q), 0);
	ck_assert_int_eq(be->counts(q, &c), 0);
	ck_assert_uint_eq(c.queued, 3);
	ck_assert_int_eq(c.oldest_ms, 100);
	t = claim(q, 1000, 1);
	ck_assert_int_eq(be->counts(q, &c), 0);
	ck_assert_uint_eq(c.queued, 2);
	ck_assert_int_eq(c.oldest_ms, 200);
	ck_assert_int_eq(be->bury(q, &t, "e"), 0);
	ck_assert_int_eq(be->commit(q), 0);
	ck_assert_int_eq(be->counts(q, &c), 0);
	ck_assert_uint_eq(c.queued, 2);
	ck_assert_uint_eq(c.dead, 1);
	be->close(q);
}
END_TEST

START_TEST(test_open_files)
{
	char *cause, *dir, *file;
	struct stat sb;
	void *q;

	/* Missing directories are made, the file is not world-readable. */
	q = qopen("a/b/files.db", true);
	be->close(q);
	dir = dbpath("a/b");
	file = dbpath("a/b/files.db");
	ck_assert_int_eq(stat(dir, &sb), 0);
	ck_assert(S_ISDIR(sb.st_mode));
	ck_assert_int_eq(sb.st_mode & 0027, 0);	/* 0750 less the umask */
	ck_assert_int_eq(stat(file, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0640);
	free(dir);
	free(file);

	/* A directory where the database should be: an error, not a crash. */
	dir = dbpath("adir.db");
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	free(dir);
	q = qopen_cause("adir.db", true, &cause);
	ck_assert_ptr_null(q);
	ck_assert_ptr_nonnull(cause);
	ck_assert_ptr_nonnull(strstr(cause, "adir.db"));
	free(cause);

	/* Not a database. */
	file = dbpath("junk.db");
	{
		FILE *f = fopen(file, "w");

		ck_assert_ptr_nonnull(f);
		for (int i = 0; i < 200; i++)
			fputs("this is not a database file at all\n", f);
		fclose(f);
	}
	free(file);
	q = qopen_cause("junk.db", true, &cause);
	ck_assert_ptr_null(q);
	ck_assert_ptr_nonnull(cause);
	free(cause);
}
END_TEST


/*
 * Throughput as the master would drive it: batches of 256 per commit.  The
 * loops count failures instead of ck_assert(), which writes per call.
 */
START_TEST(test_benchmark)
{
	void *q = qopen("bench.db", true);
	const unsigned n = 50000, batch = 256;
	struct tq_task t;
	struct tq_counts c;
	char payload[200];
	double t0, t1, t2, t3, t4;
	unsigned i, got = 0, bad = 0;

	memset(payload, 'x', sizeof payload);
	t0 = mono();
	for (i = 0; i < n; i++) {
		struct tq_task in = mktask(i, 1, 1, 1);

		in.payload = payload;
		in.len = sizeof payload;
		bad += be->add(q, &in) != 0;
		if (i % batch == batch - 1)
			bad += be->commit(q) != 0;
	}
	ck_assert_int_eq(be->commit(q), 0);
	t1 = mono();
	ck_assert_int_eq(be->counts(q, &c), 0);
	ck_assert_uint_eq(c.queued, n);
	t2 = mono();
	while (be->next(q, 1, &t) == 1) {
		free(t.payload);
		bad += be->ack(q, &t) != 0;
		if (++got % batch == 0)
			bad += be->commit(q) != 0;
	}
	ck_assert_int_eq(be->commit(q), 0);
	t3 = mono();
	ck_assert_uint_eq(got, n);

	/* Steady state: add, claim, ack interleaved with a small queue. */
	for (i = 0; i < n; i++) {
		struct tq_task in = mktask(n + i, 1, 1, 1);

		in.payload = payload;
		in.len = sizeof payload;
		bad += be->add(q, &in) != 0;
		if (be->next(q, 1, &t) != 1) {
			bad++;
			continue;
		}
		free(t.payload);
		bad += be->ack(q, &t) != 0;
		if (i % batch == batch - 1)
			bad += be->commit(q) != 0;
	}
	ck_assert_int_eq(be->commit(q), 0);
	t4 = mono();
	ck_assert_uint_eq(bad, 0);
	printf("taskq_sqlite bench (%u tasks, %u per commit): add %.0f/s, "
	    "counts() on %u queued %.1f ms, claim+ack %.0f tasks/s; "
	    "interleaved add+claim+ack %.0f tasks/s = %.0f row ops/s\n",
	    n, batch, n / (t1 - t0), n, (t2 - t1) * 1e3, n / (t3 - t2),
	    n / (t4 - t3), 3 * n / (t4 - t3));
	be->close(q);
}
END_TEST

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
main(void)
{
	Suite *s = suite_create("taskq_sqlite");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	log_init();
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_empty_payload);
	tcase_add_test(tc, test_order);
	tcase_add_test(tc, test_delayed);
	tcase_add_test(tc, test_attempts);
	tcase_add_test(tc, test_retry);
	tcase_add_test(tc, test_dead_letters);
	tcase_add_test(tc, test_owner_resets_claims);
	tcase_add_test(tc, test_cli_connection);
	tcase_add_test(tc, test_crash_durability);
	tcase_add_test(tc, test_busy);
	tcase_add_test(tc, test_fork_close);
	tcase_add_test(tc, test_counts);
	tcase_add_test(tc, test_open_files);
	tcase_add_test(tc, test_benchmark);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
