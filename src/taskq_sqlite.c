/*
 * The embedded, durable task store: one SQLite database per pool, in WAL
 * mode, written only by the master.  Writes are staged in one transaction
 * (BEGIN IMMEDIATE on the first write) and made durable together by
 * commit(): with synchronous=NORMAL a commit survives kill -9 of every
 * process but not a power loss, and costs no fsync per task.
 *
 * The CLI (pfpm task list|retry|purge) opens the same file with owner=false
 * while the master runs; busy_timeout makes each side wait for the other's
 * short transactions, and the master's next() reads the table every time,
 * so what the CLI commits is seen at once.
 *
 * Nothing here may abort the master: every SQLite error is logged and
 * returned.
 */
#include "pfpm.h"

#include <sys/stat.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TQS_SCHEMA_VERSION 1
#define TQS_BUSY_MS 2000

static const char tqs_schema[] =
	"CREATE TABLE IF NOT EXISTS tasks ("
	" seq INTEGER PRIMARY KEY,"
	" id TEXT NOT NULL UNIQUE,"
	" queue TEXT NOT NULL,"
	" payload BLOB NOT NULL,"
	" tries INTEGER,"
	" attempts INTEGER,"
	" created_ms INTEGER,"
	" due_ms INTEGER,"
	" claimed INTEGER NOT NULL DEFAULT 0,"
	" error TEXT);"
	/* created_ms makes counts() read the index alone. */
	"CREATE INDEX IF NOT EXISTS tasks_due ON tasks"
	" (claimed, due_ms, seq, created_ms);"
	"CREATE TABLE IF NOT EXISTS dead ("
	" seq INTEGER PRIMARY KEY,"
	" id TEXT NOT NULL UNIQUE,"
	" queue TEXT,"
	" payload BLOB,"
	" tries INTEGER,"
	" attempts INTEGER,"
	" created_ms INTEGER,"
	" died_ms INTEGER,"
	" error TEXT);";

/* Statements, prepared on first use and kept until close. */
enum {
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	S_ADD,
	S_PEEK,
	S_CLAIM,
	S_ACK,
	S_RETRY,
	S_BURY_COPY,
	S_BURY_DEL,
	S_RELEASE,
	S_NEXT_DUE,
	S_COUNT_Q,
	S_COUNT_DEAD,
	S_DEAD_LIST,
	S_DEAD_RETRY_ONE,
	S_DEAD_RETRY_ALL,
	S_DEAD_DEL_ONE,
	S_DEAD_DEL_ALL,
	S_N
};

static const char *const tqs_sql[S_N] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_ADD] = "INSERT OR IGNORE INTO tasks (id, queue, payload, tries,"
	    " attempts, created_ms, due_ms, claimed) VALUES (?1, ?2, ?3, ?4,"
	    " 0, ?5, ?6, 0)",
	[S_PEEK] = "SELECT seq, id, queue, payload, tries, attempts,"
	    " created_ms, due_ms FROM tasks WHERE claimed = 0 AND due_ms <= ?1"
	    " ORDER BY due_ms, seq LIMIT 1",
	[S_CLAIM] = "UPDATE tasks SET claimed = 1, attempts = attempts + 1"
	    " WHERE seq = ?1 AND claimed = 0",
	[S_ACK] = "DELETE FROM tasks WHERE id = ?1",
	[S_RETRY] = "UPDATE tasks SET claimed = 0, due_ms = ?2, error = ?3"
	    " WHERE id = ?1",
	[S_BURY_COPY] = "INSERT OR REPLACE INTO dead (id, queue, payload, tries,"
	    " attempts, created_ms, died_ms, error) SELECT id, queue, payload,"
	    " tries, attempts, created_ms, ?2, ?3 FROM tasks WHERE id = ?1",
	[S_BURY_DEL] = "DELETE FROM tasks WHERE id = ?1",
	[S_RELEASE] = "UPDATE tasks SET claimed = 0, attempts = ?2 WHERE id = ?1",
	[S_NEXT_DUE] = "SELECT min(due_ms) FROM tasks WHERE claimed = 0",
	[S_COUNT_Q] = "SELECT count(*), min(created_ms) FROM tasks"
	    " WHERE claimed = 0",
	[S_COUNT_DEAD] = "SELECT count(*) FROM dead",
	[S_DEAD_LIST] = "SELECT seq, id, queue, length(payload), tries,"
	    " attempts, created_ms, died_ms, error FROM dead"
	    " ORDER BY died_ms, seq",
	[S_DEAD_RETRY_ONE] = "INSERT OR IGNORE INTO tasks (id, queue, payload,"
	    " tries, attempts, created_ms, due_ms, claimed, error)"
	    " SELECT id, queue, coalesce(payload, x''), tries, 0, created_ms,"
	    " ?2, 0, NULL FROM dead WHERE id = ?1",
	[S_DEAD_RETRY_ALL] = "INSERT OR IGNORE INTO tasks (id, queue, payload,"
	    " tries, attempts, created_ms, due_ms, claimed, error)"
	    " SELECT id, queue, coalesce(payload, x''), tries, 0, created_ms,"
	    " ?2, 0, NULL FROM dead ORDER BY died_ms, seq",
	[S_DEAD_DEL_ONE] = "DELETE FROM dead WHERE id = ?1",
	[S_DEAD_DEL_ALL] = "DELETE FROM dead",
};

struct tqs {
	pid_t pid;		/* the opener: a forked child must not touch it */
	sqlite3 *db;
	char *path;
	char *pool;
	bool in_tx;		/* BEGIN IMMEDIATE done, COMMIT pending */
	sqlite3_stmt *st[S_N];
};

/* Wall clock in ms, as every _ms of a task. */
static int64_t
tqs_now_ms(void)
{
	return (int64_t)(sb_wall_us() / 1000);
}

/* Log a failed step with SQLite's reason; notice a rolled back batch. */
static int
tqs_fail(struct tqs *q, const char *what)
{
	log_warn("pool %s: task queue %s: %s: %s", q->pool, q->path, what,
	    sqlite3_errmsg(q->db));
	if (q->in_tx && sqlite3_get_autocommit(q->db)) {
		/* SQLITE_FULL, IOERR, NOMEM... roll the whole batch back. */
		q->in_tx = false;
		log_warn("pool %s: task queue %s: uncommitted writes lost",
		    q->pool, q->path);
	}
	return -1;
}

/* The statement, prepared once and reset for reuse; NULL on error. */
static sqlite3_stmt *
tqs_stmt(struct tqs *q, int which)
{
	sqlite3_stmt *st = q->st[which];

	if (st != NULL) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		return st;
	}
	if (sqlite3_prepare_v3(q->db, tqs_sql[which], -1,
	    SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
		tqs_fail(q, "prepare");
		sqlite3_finalize(st);
		return NULL;
	}
	q->st[which] = st;
	return st;
}

/* Run a statement that returns no row, then reset it (ends its read). */
static int
tqs_step_done(struct tqs *q, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		sqlite3_clear_bindings(st);
		return tqs_fail(q, what);
	}
	sqlite3_clear_bindings(st);
	return 0;
}

/* Run one of the statements without parameters. */
static int
tqs_simple(struct tqs *q, int which)
{
	sqlite3_stmt *st = tqs_stmt(q, which);

	if (st == NULL)
		return -1;
	return tqs_step_done(q, st, tqs_sql[which]);
}

/* The first write after a commit opens the batch. */
static int
tqs_begin(struct tqs *q)
{
	if (q->in_tx)
		return 0;
	if (tqs_simple(q, S_BEGIN) == -1)
		return -1;
	q->in_tx = true;
	return 0;
}

/* Make the staged writes durable; on failure they are rolled back. */
static int
tqs_commit(void *arg)
{
	struct tqs *q = arg;

	if (!q->in_tx)
		return 0;
	if (tqs_simple(q, S_COMMIT) == 0) {
		q->in_tx = false;
		return 0;
	}
	if (q->in_tx && !sqlite3_get_autocommit(q->db)) {
		sqlite3_stmt *st = tqs_stmt(q, S_ROLLBACK);

		if (st != NULL)
			tqs_step_done(q, st, "rollback");
		log_warn("pool %s: task queue %s: uncommitted writes lost",
		    q->pool, q->path);
	}
	q->in_tx = false;
	return -1;
}

/* A statement keyed by the task id, staged in the batch. */
static int
tqs_by_id(struct tqs *q, int which, const char *id, const char *what)
{
	sqlite3_stmt *st;

	if (tqs_begin(q) == -1 || (st = tqs_stmt(q, which)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	return tqs_step_done(q, st, what);
}

/* mkdir -p of the database's directory, new levels 0750. */
static int
tqs_mkdirs(const char *path, char **cause)
{
	char *dir = xstrdup(path), *p;
	struct stat sb;
	int rc = 0;

	p = strrchr(dir, '/');
	if (p == NULL || p == dir || (*p = '\0', stat(dir, &sb) == 0)) {
		free(dir);
		return 0;
	}
	for (p = dir + 1; rc == 0; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (mkdir(dir, 0750) == -1 && errno != EEXIST) {
			xasprintf(cause, "%s: mkdir: %s", dir, strerror(errno));
			rc = -1;
		}
		*p = c;
		if (c == '\0')
			break;
	}
	free(dir);
	return rc;
}

/* PRAGMA user_version: the schema's, -1 on error. */
static int
tqs_version(struct tqs *q)
{
	sqlite3_stmt *st;
	int version = -1;

	if (sqlite3_prepare_v2(q->db, "PRAGMA user_version", -1, &st,
	    NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return version;
}

/*
 * Pragmas, then the schema and the master's claims in one transaction
 * (against a racing CLI).  A CLI on a current schema writes nothing, so it
 * does not wait for the master's batch.
 */
static int
tqs_setup(struct tqs *q, bool owner, char **cause)
{
	sqlite3_stmt *st = NULL;
	char *err = NULL, *sql;
	const char *mode;
	int version, rc;

	sqlite3_busy_timeout(q->db, TQS_BUSY_MS);
	if (sqlite3_prepare_v2(q->db, "PRAGMA journal_mode=WAL", -1, &st,
	    NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
		goto fail;
	mode = (const char *)sqlite3_column_text(st, 0);
	if (mode == NULL || strcmp(mode, "wal") != 0)
		log_warn("pool %s: task queue %s: journal mode %s, not wal",
		    q->pool, q->path, mode != NULL ? mode : "?");
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_exec(q->db, "PRAGMA synchronous=NORMAL;"
	    "PRAGMA foreign_keys=OFF;"
	    "PRAGMA cache_size=-8192;", NULL, NULL, &err) != SQLITE_OK)
		goto fail;
	if (!owner && tqs_version(q) == TQS_SCHEMA_VERSION)
		return 0;

	if (sqlite3_exec(q->db, "BEGIN IMMEDIATE", NULL, NULL, &err) !=
	    SQLITE_OK)
		goto fail;
	if ((version = tqs_version(q)) == -1)
		goto fail_tx;
	if (version > TQS_SCHEMA_VERSION) {
		xasprintf(cause, "%s: schema version %d is newer than this "
		    "pfpm's (%d)", q->path, version, TQS_SCHEMA_VERSION);
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	/* Later versions migrate here, from `version` up. */
	if (sqlite3_exec(q->db, tqs_schema, NULL, NULL, &err) != SQLITE_OK)
		goto fail_tx;
	if (version != TQS_SCHEMA_VERSION) {
		xasprintf(&sql, "PRAGMA user_version=%d", TQS_SCHEMA_VERSION);
		rc = sqlite3_exec(q->db, sql, NULL, NULL, &err);
		free(sql);
		if (rc != SQLITE_OK)
			goto fail_tx;
	}
	/* A starting master owns nothing in flight: run them again. */
	if (owner && sqlite3_exec(q->db, "UPDATE tasks SET claimed = 0"
	    " WHERE claimed != 0", NULL, NULL, &err) != SQLITE_OK)
		goto fail_tx;
	if (sqlite3_exec(q->db, "COMMIT", NULL, NULL, &err) != SQLITE_OK)
		goto fail_tx;
	return 0;

fail_tx:
	xasprintf(cause, "%s: %s", q->path, err != NULL ? err :
	    sqlite3_errmsg(q->db));
	sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_free(err);
	return -1;
fail:
	xasprintf(cause, "%s: %s", q->path, err != NULL ? err :
	    sqlite3_errmsg(q->db));
	sqlite3_finalize(st);
	sqlite3_free(err);
	return -1;
}

static void tqs_close(void *);

/* Open (creating) the pool's database; owner: the master. */
static void *
tqs_open(const struct pool_conf *pc, bool owner, char **cause)
{
	struct tqs *q;
	struct stat sb;
	bool created;
	int rc;

	if (pc->taskq.kind != TASKQ_SQLITE || pc->taskq.path == NULL ||
	    *pc->taskq.path == '\0') {
		xasprintf(cause, "pool %s: no sqlite task queue path",
		    pc->name != NULL ? pc->name : "?");
		return NULL;
	}
	if (tqs_mkdirs(pc->taskq.path, cause) == -1)
		return NULL;
	created = stat(pc->taskq.path, &sb) == -1 && errno == ENOENT;

	q = xcalloc(1, sizeof *q);
	q->pid = getpid();
	q->path = xstrdup(pc->taskq.path);
	q->pool = xstrdup(pc->name != NULL ? pc->name : "?");
	rc = sqlite3_open_v2(q->path, &q->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		xasprintf(cause, "%s: %s", q->path, q->db != NULL ?
		    sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
		tqs_close(q);
		return NULL;
	}
	/* Before WAL: the -wal and -shm files copy the database's mode. */
	if (created && chmod(q->path, 0640) == -1)
		log_warn("pool %s: task queue %s: chmod: %s", q->pool,
		    q->path, strerror(errno));
	sqlite3_extended_result_codes(q->db, 1);
	if (tqs_setup(q, owner, cause) == -1) {
		tqs_close(q);
		return NULL;
	}
	return q;
}

/* Commit what is staged and let go (a forked child frees memory only). */
static void
tqs_close(void *arg)
{
	struct tqs *q = arg;
	int i;

	if (q == NULL)
		return;
	/*
	 * In a forked child the connection is the master's: closing it here
	 * could commit the master's batch or checkpoint behind its back.
	 */
	if (q->db != NULL && q->pid == getpid()) {
		if (q->in_tx)
			tqs_commit(q);
		for (i = 0; i < S_N; i++)
			sqlite3_finalize(q->st[i]);
		if (sqlite3_close(q->db) != SQLITE_OK)
			log_warn("pool %s: task queue %s: close: %s", q->pool,
			    q->path, sqlite3_errmsg(q->db));
	}
	free(q->path);
	free(q->pool);
	free(q);
}

/* Stage a new task; durable at the next commit. */
static int
tqs_add(void *arg, const struct tq_task *t)
{
	struct tqs *q = arg;
	sqlite3_stmt *st;
	int rc;

	if (tqs_begin(q) == -1 || (st = tqs_stmt(q, S_ADD)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, t->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, t->queue, -1, SQLITE_STATIC);
	sqlite3_bind_blob64(st, 3, t->payload != NULL ? t->payload : "",
	    t->len, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, t->tries);
	sqlite3_bind_int64(st, 5, t->created_ms);
	sqlite3_bind_int64(st, 6, t->due_ms);
	if ((rc = tqs_step_done(q, st, "add")) == 0 &&
	    sqlite3_changes(q->db) == 0)
		log_warn("pool %s: task queue %s: task %s already queued",
		    q->pool, q->path, t->id);
	return rc;
}

/* Claim the oldest due task: 1 and *t filled, 0 none, -1 error. */
static int
tqs_next(void *arg, int64_t now_ms, struct tq_task *t)
{
	struct tqs *q = arg;
	sqlite3_stmt *st;
	const void *blob;
	const unsigned char *s;
	int64_t seq;
	int rc;

	/* Look before BEGIN: an idle poll takes no write lock. */
	if ((st = tqs_stmt(q, S_PEEK)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now_ms);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return 0;
	}
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return tqs_fail(q, "next");
	}
	memset(t, 0, sizeof *t);
	seq = sqlite3_column_int64(st, 0);
	snprintf(t->ref, sizeof t->ref, "%" PRId64, seq);
	if ((s = sqlite3_column_text(st, 1)) != NULL)
		snprintf(t->id, sizeof t->id, "%s", (const char *)s);
	if ((s = sqlite3_column_text(st, 2)) != NULL)
		snprintf(t->queue, sizeof t->queue, "%s", (const char *)s);
	blob = sqlite3_column_blob(st, 3);
	t->len = (size_t)sqlite3_column_bytes(st, 3);
	t->payload = xmalloc(t->len + 1);
	if (t->len > 0)
		memcpy(t->payload, blob, t->len);
	t->payload[t->len] = '\0';
	t->tries = sqlite3_column_int(st, 4);
	t->attempts = sqlite3_column_int(st, 5) + 1;
	t->created_ms = sqlite3_column_int64(st, 6);
	t->due_ms = sqlite3_column_int64(st, 7);
	sqlite3_reset(st);

	if (tqs_begin(q) == -1 || (st = tqs_stmt(q, S_CLAIM)) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, seq);
	if (tqs_step_done(q, st, "claim") == -1)
		goto fail;
	if (sqlite3_changes(q->db) != 1) {
		/* Gone or claimed since the look: only another writer. */
		free(t->payload);
		t->payload = NULL;
		return 0;
	}
	return 1;

fail:
	free(t->payload);
	t->payload = NULL;
	return -1;
}

/* The task ran: forget it (whoever claimed it). */
static int
tqs_ack(void *arg, const struct tq_task *t)
{
	return tqs_by_id(arg, S_ACK, t->id, "ack");
}

/* Run it again at due_ms, remembering why it failed. */
static int
tqs_retry(void *arg, const struct tq_task *t, int64_t due_ms, const char *err)
{
	struct tqs *q = arg;
	sqlite3_stmt *st;

	if (tqs_begin(q) == -1 || (st = tqs_stmt(q, S_RETRY)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, t->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, due_ms);
	if (err != NULL)
		sqlite3_bind_text(st, 3, err, -1, SQLITE_STATIC);
	return tqs_step_done(q, st, "retry");
}

/* Out of tries: move the task to the dead letters. */
static int
tqs_bury(void *arg, const struct tq_task *t, const char *err)
{
	struct tqs *q = arg;
	sqlite3_stmt *st;

	if (tqs_begin(q) == -1 || (st = tqs_stmt(q, S_BURY_COPY)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, t->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, tqs_now_ms());
	if (err != NULL)
		sqlite3_bind_text(st, 3, err, -1, SQLITE_STATIC);
	if (tqs_step_done(q, st, "bury") == -1)
		return -1;
	return tqs_by_id(q, S_BURY_DEL, t->id, "bury");
}

/* Its worker died: claimable again, the attempt stays counted. */
static int
tqs_release(void *arg, const struct tq_task *t)
{
	struct tqs *q = arg;
	sqlite3_stmt *st;

	/* The attempts it is charged: taskq.c uncounts a run that never began. */
	if (tqs_begin(q) == -1 || (st = tqs_stmt(q, S_RELEASE)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, t->id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, t->attempts);
	return tqs_step_done(q, st, "release");
}

/* When the earliest unclaimed task is due, -1 none (or error). */
static int64_t
tqs_next_due_ms(void *arg)
{
	struct tqs *q = arg;
	sqlite3_stmt *st;
	int64_t due = -1;
	int rc;

	if ((st = tqs_stmt(q, S_NEXT_DUE)) == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		due = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		tqs_fail(q, "next due");
	return due;
}

/* Queued, dead and the oldest queued, for the scoreboard and the CLI. */
static int
tqs_counts(void *arg, struct tq_counts *c)
{
	struct tqs *q = arg;
	sqlite3_stmt *st;
	int rc;

	memset(c, 0, sizeof *c);
	if ((st = tqs_stmt(q, S_COUNT_Q)) == NULL)
		return -1;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		c->queued = (uint64_t)sqlite3_column_int64(st, 0);
		c->oldest_ms = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return tqs_fail(q, "counts");
	if ((st = tqs_stmt(q, S_COUNT_DEAD)) == NULL)
		return -1;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		c->dead = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return tqs_fail(q, "counts");
	return 0;
}

/* Nothing to do on a timer: claims live as long as the master. */
static void
tqs_tick(void *arg, int64_t now_ms)
{
	(void)arg;
	(void)now_ms;
}

/*
 * The dead letters in the order they died.  The payload is not read
 * (t->payload NULL, t->len its size); t->due_ms holds when it died.
 */
static int
tqs_dead_list(void *arg, void (*cb)(void *, const struct tq_task *,
    const char *), void *cbarg)
{
	struct tqs *q = arg;
	sqlite3_stmt *st;
	struct tq_task t;
	const unsigned char *s;
	int rc;

	if ((st = tqs_stmt(q, S_DEAD_LIST)) == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&t, 0, sizeof t);
		snprintf(t.ref, sizeof t.ref, "%" PRId64,
		    (int64_t)sqlite3_column_int64(st, 0));
		if ((s = sqlite3_column_text(st, 1)) != NULL)
			snprintf(t.id, sizeof t.id, "%s", (const char *)s);
		if ((s = sqlite3_column_text(st, 2)) != NULL)
			snprintf(t.queue, sizeof t.queue, "%s",
			    (const char *)s);
		t.len = (size_t)sqlite3_column_int64(st, 3);
		t.tries = sqlite3_column_int(st, 4);
		t.attempts = sqlite3_column_int(st, 5);
		t.created_ms = sqlite3_column_int64(st, 6);
		t.due_ms = sqlite3_column_int64(st, 7);
		cb(cbarg, &t, (const char *)sqlite3_column_text(st, 8));
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return tqs_fail(q, "dead list");
	return 0;
}

/* Run one dead-letter statement on its own and commit: changes or -1. */
static int
tqs_dead_tx(struct tqs *q, int copy, int del, const char *id, int64_t now_ms,
    const char *what)
{
	sqlite3_stmt *st;
	int n = 0;

	if (tqs_commit(q) == -1 || tqs_begin(q) == -1)
		return -1;
	if (copy != -1) {
		if ((st = tqs_stmt(q, copy)) == NULL)
			goto fail;
		if (id != NULL)
			sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now_ms);
		if (tqs_step_done(q, st, what) == -1)
			goto fail;
		n = sqlite3_changes(q->db);
	}
	if ((st = tqs_stmt(q, del)) == NULL)
		goto fail;
	if (id != NULL)
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (tqs_step_done(q, st, what) == -1)
		goto fail;
	if (copy == -1)
		n = sqlite3_changes(q->db);
	if (tqs_commit(q) == -1)
		return -1;
	return n;

fail:
	if (q->in_tx) {
		if ((st = tqs_stmt(q, S_ROLLBACK)) != NULL)
			tqs_step_done(q, st, "rollback");
		q->in_tx = false;
	}
	return -1;
}

/* Dead letters back in the queue, due now, attempts from zero. */
static int
tqs_dead_retry(void *arg, const char *id, int64_t now_ms)
{
	return tqs_dead_tx(arg, id != NULL ? S_DEAD_RETRY_ONE :
	    S_DEAD_RETRY_ALL, id != NULL ? S_DEAD_DEL_ONE : S_DEAD_DEL_ALL, id,
	    now_ms, "dead retry");
}

/* Forget dead letters for good. */
static int
tqs_dead_purge(void *arg, const char *id)
{
	return tqs_dead_tx(arg, -1, id != NULL ? S_DEAD_DEL_ONE :
	    S_DEAD_DEL_ALL, id, 0, "dead purge");
}

const struct tq_backend taskq_sqlite = {
	.name = "sqlite",
	.open = tqs_open,
	.close = tqs_close,
	.add = tqs_add,
	.commit = tqs_commit,
	.next = tqs_next,
	.ack = tqs_ack,
	.retry = tqs_retry,
	.bury = tqs_bury,
	.release = tqs_release,
	.next_due_ms = tqs_next_due_ms,
	.counts = tqs_counts,
	.tick = tqs_tick,
	.dead_list = tqs_dead_list,
	.dead_retry = tqs_dead_retry,
	.dead_purge = tqs_dead_purge,
};
