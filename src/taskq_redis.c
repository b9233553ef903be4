/*
 * The Redis Streams task store, for pfpm hosts that share one queue
 * (DESIGN.md section 5), and the Redis lease behind timer.global_lock.
 *
 * Keys of a pool; the pool name is what hosts share, so hosts that serve
 * one queue name their pool alike.  The braces are a Redis Cluster hash
 * tag: a pool's keys (and the scripts over them) stay on one node.
 *   pfpm:{POOL}:tasks    stream, consumer group "pfpm": the tasks due now.
 *                        Fields: id, queue, payload, tries, attempts (runs
 *                        before this entry), created_ms.
 *   pfpm:{POOL}:delayed  sorted set, score due_ms, member an encoded task.
 *   pfpm:{POOL}:dead     hash, field the task id, value a dead letter.
 * Encoded task:  "ID:TRIES:ATTEMPTS:CREATED_MS:QLEN:" QUEUE PAYLOAD
 * Dead letter:   "DIED_MS:ELEN:" ERROR TASK
 * (the Lua scripts below read both; binary payloads are fine).
 *
 * Each master is the consumer "<hostname>:<pid>"; the environment variable
 * PFPM_REDIS_CONSUMER overrides the name (tests run two "hosts" in one
 * process).  The master reads up to 64 entries ahead; an entry stays in the
 * group's pending list until ack, retry, bury or release remove it (XACK and
 * XDEL in one MULTI with the write that follows it).  Every lease/3 the
 * master resets the idle time of the entries it holds (XCLAIM JUSTID); any
 * master takes over entries idle longer than the lease (XAUTOCLAIM): their
 * host died.  A starting master takes back its own consumer's entries at
 * once (a reload keeps the pid).
 *
 * Attempts across hosts: an entry's delivery counter is kept at 1 + the
 * runs started under it.  XREADGROUP sets it to 1, handing the task to a
 * worker sets it (XCLAIM RETRYCOUNT), refreshes and takeovers use JUSTID,
 * which leave it alone.  So a task that kills its host every time is buried
 * once out of tries, and the tasks a dead host had only read ahead keep all
 * of theirs.
 *
 * Calls are synchronous, from the master's loop: each is bounded by 1 s
 * (connect and command timeouts).  A lost connection is logged once and
 * tried again at a later call, 1 s later at first, backing off to 8 s; calls
 * return -1 meanwhile.  add, ack, retry, bury and release are pipelined and
 * their replies read by commit() (or before the next command): "durable"
 * means accepted by Redis, whose own persistence settings apply.  A starting
 * master (owner) opens even when Redis is down; the CLI needs it up.
 */
#include "pfpm.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis.h>

#define TQR_GROUP	"pfpm"
#define TQR_BATCH	64		/* entries read ahead, taken over */
#define TQR_TIMEOUT_MS	1000		/* connect, and each command */
#define TQR_RETRY_MS	1000		/* first reconnection delay */
#define TQR_RETRY_MAX_MS 8000
#define TQR_POLL_MS	20		/* an empty stream is read again after */
#define TQR_DUE_MS	100		/* next_due_ms() is cached for */
#define TQR_LEASE_MS	30000		/* task.lease default */
#define TQR_GC_MS	60000		/* forgotten consumers are looked for */
#define TQR_GC_IDLE_MS	3600000		/* a consumer idle and empty this long */
#define TQR_MOVE_MAX	100		/* delayed tasks moved per script */

/* Delayed tasks now due, into the stream; ZREM first, so only one host moves each. */
static const char tqr_lua_move[] =
	"local m = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1],"
	" 'LIMIT', 0, tonumber(ARGV[2]))\n"
	"local n = 0\n"
	"for _, v in ipairs(m) do\n"
	"  if redis.call('ZREM', KEYS[1], v) == 1 then\n"
	"    local id, tries, att, cr, ql, p = string.match(v,"
	" '^([^:]*):(%d+):(%d+):(%-?%d+):(%d+):()')\n"
	"    if id then\n"
	"      ql = tonumber(ql)\n"
	"      redis.call('XADD', KEYS[2], '*', 'id', id, 'queue',"
	" string.sub(v, p, p + ql - 1), 'payload', string.sub(v, p + ql),"
	" 'tries', tries, 'attempts', att, 'created_ms', cr)\n"
	"      n = n + 1\n"
	"    else\n"
	"      redis.log(redis.LOG_WARNING, 'pfpm: dropped a malformed"
	" delayed task in ' .. KEYS[1])\n"
	"    end\n"
	"  end\n"
	"end\n"
	"return n\n";

/* Dead letters (ids in ARGV) back into the stream, attempts from zero. */
static const char tqr_lua_revive[] =
	"local n = 0\n"
	"for _, id in ipairs(ARGV) do\n"
	"  local v = redis.call('HGET', KEYS[1], id)\n"
	"  if v then\n"
	"    local died, el, p = string.match(v, '^(%-?%d+):(%d+):()')\n"
	"    if died then\n"
	"      local t = string.sub(v, p + tonumber(el))\n"
	"      local tid, tries, att, cr, ql, q = string.match(t,"
	" '^([^:]*):(%d+):(%d+):(%-?%d+):(%d+):()')\n"
	"      if tid then\n"
	"        ql = tonumber(ql)\n"
	"        redis.call('XADD', KEYS[2], '*', 'id', tid, 'queue',"
	" string.sub(t, q, q + ql - 1), 'payload', string.sub(t, q + ql),"
	" 'tries', tries, 'attempts', '0', 'created_ms', cr)\n"
	"        redis.call('HDEL', KEYS[1], id)\n"
	"        n = n + 1\n"
	"      end\n"
	"    end\n"
	"  end\n"
	"end\n"
	"return n\n";

/* Forget every dead letter, saying how many. */
static const char tqr_lua_purge[] =
	"local n = redis.call('HLEN', KEYS[1])\n"
	"redis.call('DEL', KEYS[1])\n"
	"return n\n";

/* Consumers of masters long gone, with nothing pending: forget them. */
static const char tqr_lua_gc[] =
	"local n = 0\n"
	"for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1],"
	" ARGV[1])) do\n"
	"  local name, pending, idle\n"
	"  for i = 1, #c, 2 do\n"
	"    if c[i] == 'name' then name = c[i + 1]\n"
	"    elseif c[i] == 'pending' then pending = c[i + 1]\n"
	"    elseif c[i] == 'idle' then idle = c[i + 1] end\n"
	"  end\n"
	"  if name and name ~= ARGV[3] and pending == 0 and idle and"
	" idle > tonumber(ARGV[2]) then\n"
	"    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name)\n"
	"    n = n + 1\n"
	"  end\n"
	"end\n"
	"return n\n";

/* Take or renew a lease. */
static const char tqr_lua_hold[] =
	"local v = redis.call('GET', KEYS[1])\n"
	"if v == false then\n"
	"  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
	"  return 1\n"
	"end\n"
	"if v == ARGV[1] then\n"
	"  redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
	"  return 1\n"
	"end\n"
	"return 0\n";

/* Let go of a lease if it is still ours. */
static const char tqr_lua_drop[] =
	"if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
	"  return redis.call('DEL', KEYS[1])\n"
	"end\n"
	"return 0\n";

/* What a reply owed by the pipeline was for. */
enum { P_WRITE, P_OTHER };

/* One connection, dropped on error and made again later. */
struct rconn {
	redisContext *c;
	char *host;		/* or a unix socket path, from '/' */
	int port;
	int db;
	char *password;
	char *what;		/* "pool www: redis 127.0.0.1:6379", for logs */
	int64_t retry_at;	/* CLOCK_MONOTONIC ms: no connect before */
	int64_t backoff;
	bool down;		/* the loss is logged */
	bool fresh;		/* connected since the user last looked */
	uint8_t *pend;		/* replies owed, in order: P_* */
	size_t npend, cappend;
	bool failed;		/* a pipelined write was refused or lost */
};

/* A stream entry read ahead or taken over, not handed out yet. */
struct tqr_ent {
	struct tq_task t;	/* t.attempts: the entry's field */
	int runs;		/* runs started under this entry */
};

struct tqr {
	struct rconn rc;
	char *pool;
	char *k_tasks;
	char *k_delayed;
	char *k_dead;
	char *consumer;
	bool owner;
	bool recovered;		/* own pending entries taken back */
	int64_t lease_ms;
	struct tqr_ent *buf;	/* read ahead: buf[head..head + nbuf) */
	size_t head, nbuf, capbuf;
	char (*held)[48];	/* refs in our pending list: read ahead or running */
	size_t nheld, capheld;
	bool kick;		/* the stream may have grown: read it */
	int64_t poll_at;	/* monotonic: next read of an empty stream */
	int64_t due_ms;		/* next_due_ms() cache ... */
	int64_t due_until;	/* ... valid until (monotonic) */
	int64_t refresh_at;
	int64_t gc_at;
	char cursor[48];	/* XAUTOCLAIM's */
};

struct rlease {
	struct rconn rc;
	char *key;
	char *owner;
	int64_t lease_ms;
	bool held;
};

static int64_t
mono_ms(void)
{
	return (int64_t)(sb_now_us() / 1000);
}

static int64_t
real_ms(void)
{
	return (int64_t)(sb_wall_us() / 1000);
}

/* An error reply, or an EXEC whose commands failed: its message. */
static const char *
reply_error(const redisReply *r)
{
	size_t i;

	if (r->type == REDIS_REPLY_ERROR)
		return r->str;
	if (r->type == REDIS_REPLY_ARRAY) {
		for (i = 0; i < r->elements; i++)
			if (r->element[i] != NULL &&
			    r->element[i]->type == REDIS_REPLY_ERROR)
				return r->element[i]->str;
	}
	return NULL;
}

/* An integer reply, or a string holding one (XINFO, XPENDING fields). */
static bool
reply_int(const redisReply *r, long long *v)
{
	char *end;

	if (r == NULL)
		return false;
	if (r->type == REDIS_REPLY_INTEGER) {
		*v = r->integer;
		return true;
	}
	if (r->type != REDIS_REPLY_STRING || r->len == 0 || r->len > 24)
		return false;
	errno = 0;
	*v = strtoll(r->str, &end, 10);
	return errno == 0 && end == r->str + r->len;
}

/*
 * The integer a command answered (consumes the reply): 0, or -1 when it
 * failed (an error reply is logged, with what the command was doing).
 */
static int
reply_take_int(const char *conn, redisReply *r, const char *what,
    long long *n)
{
	*n = 0;
	if (r == NULL)
		return -1;
	if (r->type == REDIS_REPLY_ERROR) {
		log_error("%s: %s: %s", conn, what, r->str);
		freeReplyObject(r);
		return -1;
	}
	reply_int(r, n);
	freeReplyObject(r);
	return 0;
}

static void
rc_init(struct rconn *rc, const struct taskq_url *u, const char *pool)
{
	memset(rc, 0, sizeof *rc);
	rc->host = xstrdup(u->host != NULL && *u->host != '\0' ? u->host :
	    "127.0.0.1");
	rc->port = u->port > 0 ? u->port : 6379;
	rc->db = u->db;
	rc->password = u->password != NULL ? xstrdup(u->password) : NULL;
	if (*rc->host == '/')
		xasprintf(&rc->what, "pool %s: redis %s", pool, rc->host);
	else
		xasprintf(&rc->what, "pool %s: redis %s:%d", pool, rc->host,
		    rc->port);
	rc->backoff = TQR_RETRY_MS;
}

/* The connection failed: say so once, drop it, try again later. */
static void
rc_lost(struct rconn *rc, const char *why)
{
	if (!rc->down)
		log_error("%s: %s: connection dropped, retrying", rc->what,
		    why);
	rc->down = true;
	if (rc->npend > 0)
		rc->failed = true;
	rc->npend = 0;
	if (rc->c != NULL) {
		redisFree(rc->c);
		rc->c = NULL;
	}
	rc->retry_at = mono_ms() + rc->backoff;
	rc->backoff = rc->backoff * 2 > TQR_RETRY_MAX_MS ? TQR_RETRY_MAX_MS :
	    rc->backoff * 2;
}

/* A command right after connecting (AUTH, SELECT): 0 or -1 and why. */
static int
rc_setup(redisContext *c, char **why, const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	if (r == NULL) {
		*why = xstrdup(c->errstr);
		return -1;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		xasprintf(why, "%s", r->str);
		freeReplyObject(r);
		return -1;
	}
	freeReplyObject(r);
	return 0;
}

/* Connect, AUTH, SELECT; NULL and why. */
static redisContext *
rc_connect(struct rconn *rc, char **why)
{
	struct timeval tv = { TQR_TIMEOUT_MS / 1000,
	    (TQR_TIMEOUT_MS % 1000) * 1000 };
	redisContext *c;

	if (*rc->host == '/')
		c = redisConnectUnixWithTimeout(rc->host, tv);
	else
		c = redisConnectWithTimeout(rc->host, rc->port, tv);
	if (c == NULL) {
		*why = xstrdup("out of memory");
		return NULL;
	}
	if (c->err) {
		*why = xstrdup(c->errstr);
		redisFree(c);
		return NULL;
	}
	/* Children that do not exec must not keep Redis' socket. */
	if (fcntl(c->fd, F_SETFD, FD_CLOEXEC) == -1 ||
	    redisSetTimeout(c, tv) != REDIS_OK) {
		xasprintf(why, "socket: %s", strerror(errno));
		redisFree(c);
		return NULL;
	}
	if (rc->password != NULL &&
	    rc_setup(c, why, "AUTH %s", rc->password) == -1) {
		redisFree(c);
		return NULL;
	}
	if (rc->db != 0 && rc_setup(c, why, "SELECT %d", rc->db) == -1) {
		redisFree(c);
		return NULL;
	}
	return c;
}

/* The connection, made if it is time to try; NULL while Redis is away. */
static redisContext *
rc_ctx(struct rconn *rc)
{
	char *why = NULL;

	if (rc->c != NULL)
		return rc->c;
	if (rc->retry_at != 0 && mono_ms() < rc->retry_at)
		return NULL;
	if ((rc->c = rc_connect(rc, &why)) == NULL) {
		if (!rc->down)
			log_error("%s: %s", rc->what, why);
		free(why);
		rc->down = true;
		rc->retry_at = mono_ms() + rc->backoff;
		rc->backoff = rc->backoff * 2 > TQR_RETRY_MAX_MS ?
		    TQR_RETRY_MAX_MS : rc->backoff * 2;
		return NULL;
	}
	if (rc->down)
		log_notice("%s: connected again", rc->what);
	rc->down = false;
	rc->backoff = TQR_RETRY_MS;
	rc->retry_at = 0;
	rc->fresh = true;
	return rc->c;
}

/* Read every reply owed by the pipeline; a refused write fails commit(). */
static int
rc_drain(struct rconn *rc)
{
	redisReply *r;
	const char *err;
	size_t i, nerr = 0;

	for (i = 0; i < rc->npend; i++) {
		if (redisGetReply(rc->c, (void **)&r) != REDIS_OK ||
		    r == NULL) {
			rc_lost(rc, rc->c->errstr);
			return -1;
		}
		if ((err = reply_error(r)) != NULL) {
			if (nerr++ == 0)
				log_error("%s: %s", rc->what, err);
			if (rc->pend[i] == P_WRITE)
				rc->failed = true;
		}
		freeReplyObject(r);
	}
	if (nerr > 1)
		log_error("%s: %zu commands refused", rc->what, nerr);
	rc->npend = 0;
	return 0;
}

/* Connected, with nothing owed: ready for a command and its reply. */
static int
rc_ready(struct rconn *rc)
{
	if (rc_ctx(rc) == NULL)
		return -1;
	return rc_drain(rc);
}

/* A command and its reply (maybe an error reply); NULL: no connection. */
static redisReply *
rc_cmd(struct rconn *rc, const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	if (rc_ready(rc) == -1)
		return NULL;
	va_start(ap, fmt);
	r = redisvCommand(rc->c, fmt, ap);
	va_end(ap);
	if (r == NULL)
		rc_lost(rc, rc->c->errstr);
	return r;
}

/* The same with an argument vector. */
static redisReply *
rc_cmd_argv(struct rconn *rc, int argc, const char **argv, const size_t *len)
{
	redisReply *r;

	if (rc_ready(rc) == -1)
		return NULL;
	r = redisCommandArgv(rc->c, argc, argv, len);
	if (r == NULL)
		rc_lost(rc, rc->c->errstr);
	return r;
}

/* The next reply of a pipeline the caller appended after rc_ready(). */
static redisReply *
rc_reply(struct rconn *rc)
{
	redisReply *r;

	if (rc->c == NULL)
		return NULL;
	if (redisGetReply(rc->c, (void **)&r) != REDIS_OK || r == NULL) {
		rc_lost(rc, rc->c->errstr);
		return NULL;
	}
	return r;
}

/* Queue a command whose reply is read later (rc_drain). */
static int
rc_stage(struct rconn *rc, int kind, const char *fmt, ...)
{
	va_list ap;
	int rv;

	if (rc->c == NULL)
		return -1;
	va_start(ap, fmt);
	rv = redisvAppendCommand(rc->c, fmt, ap);
	va_end(ap);
	if (rv != REDIS_OK)
		return -1;
	if (rc->npend == rc->cappend) {
		rc->cappend = rc->cappend == 0 ? 64 : rc->cappend * 2;
		rc->pend = xreallocarray(rc->pend, rc->cappend, 1);
	}
	rc->pend[rc->npend++] = (uint8_t)kind;
	return 0;
}

/* Send what is queued now, the replies are read later. */
static int
rc_flush(struct rconn *rc)
{
	int done = 0;

	if (rc->c == NULL)
		return -1;
	while (!done) {
		if (redisBufferWrite(rc->c, &done) != REDIS_OK) {
			rc_lost(rc, rc->c->errstr);
			return -1;
		}
	}
	return 0;
}

static void
rc_free(struct rconn *rc)
{
	if (rc->c != NULL) {
		if (rc->npend > 0)
			rc_drain(rc);
		if (rc->c != NULL)
			redisFree(rc->c);
	}
	free(rc->host);
	free(rc->password);
	free(rc->what);
	free(rc->pend);
}

/* "ID:TRIES:ATTEMPTS:CREATED_MS:QLEN:" QUEUE PAYLOAD, malloc'd. */
static char *
tqr_encode(const struct tq_task *t, int attempts, size_t *len)
{
	char head[TQ_ID_LEN + 128];
	size_t qlen = strlen(t->queue), hlen;
	char *s;
	int n;

	n = snprintf(head, sizeof head, "%s:%d:%d:%" PRId64 ":%zu:", t->id,
	    t->tries, attempts, t->created_ms, qlen);
	hlen = n > 0 && (size_t)n < sizeof head ? (size_t)n : 0;
	*len = hlen + qlen + t->len;
	s = xmalloc(*len + 1);
	memcpy(s, head, hlen);
	memcpy(s + hlen, t->queue, qlen);
	if (t->len > 0)
		memcpy(s + hlen + qlen, t->payload, t->len);
	s[*len] = '\0';
	return s;
}

/* A decimal number ended by ':', moving *p past it. */
static bool
tqr_field(const char **p, const char *end, int64_t *v)
{
	const char *s = *p;
	bool neg = false;
	int64_t n = 0;

	if (s < end && *s == '-') {
		neg = true;
		s++;
	}
	if (s >= end || *s < '0' || *s > '9')
		return false;
	while (s < end && *s >= '0' && *s <= '9') {
		if (n > (INT64_MAX - 9) / 10)
			return false;
		n = n * 10 + (*s++ - '0');
	}
	if (s >= end || *s != ':')
		return false;
	*p = s + 1;
	*v = neg ? -n : n;
	return true;
}

/* Read an encoded task; the payload is copied only if want_payload. */
static bool
tqr_decode(const char *s, size_t len, struct tq_task *t, bool want_payload)
{
	const char *p = s, *end = s + len, *colon;
	int64_t tries, attempts, created, qlen;

	memset(t, 0, sizeof *t);
	colon = memchr(p, ':', len);
	if (colon == NULL || colon == p || colon - p > TQ_ID_LEN)
		return false;
	memcpy(t->id, p, (size_t)(colon - p));
	p = colon + 1;
	if (!tqr_field(&p, end, &tries) || !tqr_field(&p, end, &attempts) ||
	    !tqr_field(&p, end, &created) || !tqr_field(&p, end, &qlen))
		return false;
	if (tries < 0 || tries > INT_MAX || attempts < 0 ||
	    attempts > INT_MAX || qlen < 0 || qlen > TQ_QUEUE_MAX ||
	    qlen > end - p)
		return false;
	memcpy(t->queue, p, (size_t)qlen);
	p += qlen;
	t->tries = (int)tries;
	t->attempts = (int)attempts;
	t->created_ms = created;
	t->len = (size_t)(end - p);
	if (want_payload) {
		t->payload = xmalloc(t->len + 1);
		memcpy(t->payload, p, t->len);
		t->payload[t->len] = '\0';
	}
	return true;
}

/* A stream entry [id, [field, value...]] as a task. */
static bool
tqr_entry(const redisReply *e, struct tqr_ent *out)
{
	const redisReply *f, *k, *v;
	long long n;
	size_t i;
	int have = 0;

	memset(out, 0, sizeof *out);
	if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
	    e->element[0]->type != REDIS_REPLY_STRING ||
	    e->element[0]->len >= sizeof out->t.ref)
		return false;
	memcpy(out->t.ref, e->element[0]->str, e->element[0]->len);
	f = e->element[1];
	if (f->type != REDIS_REPLY_ARRAY)
		return false;
	for (i = 0; i + 1 < f->elements; i += 2) {
		k = f->element[i];
		v = f->element[i + 1];
		if (k->type != REDIS_REPLY_STRING ||
		    v->type != REDIS_REPLY_STRING)
			continue;
		if (strcmp(k->str, "id") == 0 && v->len <= TQ_ID_LEN &&
		    v->len > 0) {
			memcpy(out->t.id, v->str, v->len);
			have |= 1;
		} else if (strcmp(k->str, "queue") == 0 &&
		    v->len <= TQ_QUEUE_MAX) {
			memcpy(out->t.queue, v->str, v->len);
			have |= 2;
		} else if (strcmp(k->str, "payload") == 0 &&
		    out->t.payload == NULL) {
			out->t.payload = xmalloc(v->len + 1);
			memcpy(out->t.payload, v->str, v->len);
			out->t.payload[v->len] = '\0';
			out->t.len = v->len;
			have |= 4;
		} else if (strcmp(k->str, "tries") == 0 && reply_int(v, &n) &&
		    n >= 0 && n <= INT_MAX) {
			out->t.tries = (int)n;
			have |= 8;
		} else if (strcmp(k->str, "attempts") == 0 &&
		    reply_int(v, &n) && n >= 0 && n <= INT_MAX) {
			out->t.attempts = (int)n;
			have |= 16;
		} else if (strcmp(k->str, "created_ms") == 0 &&
		    reply_int(v, &n)) {
			out->t.created_ms = n;
			have |= 32;
		}
	}
	if (have != 63) {
		free(out->t.payload);
		out->t.payload = NULL;
		return false;
	}
	return true;
}

static bool
tqr_holds(const struct tqr *q, const char *ref)
{
	size_t i;

	for (i = 0; i < q->nheld; i++)
		if (strcmp(q->held[i], ref) == 0)
			return true;
	return false;
}

static void
tqr_hold(struct tqr *q, const char *ref)
{
	if (q->nheld == q->capheld) {
		q->capheld = q->capheld == 0 ? 64 : q->capheld * 2;
		q->held = xreallocarray(q->held, q->capheld, sizeof *q->held);
	}
	snprintf(q->held[q->nheld++], sizeof q->held[0], "%s", ref);
}

static void
tqr_unhold(struct tqr *q, const char *ref)
{
	size_t i;

	for (i = 0; i < q->nheld; i++) {
		if (strcmp(q->held[i], ref) == 0) {
			q->nheld--;
			if (i != q->nheld)
				memcpy(q->held[i], q->held[q->nheld],
				    sizeof q->held[0]);
			return;
		}
	}
}

/* Keep a read-ahead entry, and its ref for the refreshes. */
static void
tqr_push(struct tqr *q, struct tqr_ent *e)
{
	if (q->nbuf == 0)
		q->head = 0;
	if (q->head + q->nbuf == q->capbuf) {
		if (q->head > 0) {
			memmove(q->buf, q->buf + q->head,
			    q->nbuf * sizeof *q->buf);
			q->head = 0;
		} else {
			q->capbuf = q->capbuf == 0 ? TQR_BATCH * 2 :
			    q->capbuf * 2;
			q->buf = xreallocarray(q->buf, q->capbuf,
			    sizeof *q->buf);
		}
	}
	q->buf[q->head + q->nbuf++] = *e;
	if (!tqr_holds(q, e->t.ref))
		tqr_hold(q, e->t.ref);
}

/* Stage MULTI, XACK and XDEL of ref, the caller's write, EXEC. */
static void
tqr_stage_done(struct tqr *q, const char *ref)
{
	if (*ref == '\0')
		return;
	rc_stage(&q->rc, P_WRITE, "XACK %s %s %s", q->k_tasks, TQR_GROUP,
	    ref);
	rc_stage(&q->rc, P_WRITE, "XDEL %s %s", q->k_tasks, ref);
}

/* Stage the XADD of a task into the stream. */
static int
tqr_stage_xadd(struct tqr *q, const struct tq_task *t, int attempts)
{
	return rc_stage(&q->rc, P_WRITE, "XADD %s * id %s queue %s payload %b"
	    " tries %d attempts %d created_ms %lld", q->k_tasks, t->id,
	    t->queue, t->payload != NULL ? t->payload : "", t->len, t->tries,
	    attempts, (long long)t->created_ms);
}

/* Stage the ZADD of a task due later. */
static int
tqr_stage_zadd(struct tqr *q, const struct tq_task *t, int attempts,
    int64_t due_ms)
{
	char *m;
	size_t len;
	int rv;

	m = tqr_encode(t, attempts, &len);
	rv = rc_stage(&q->rc, P_WRITE, "ZADD %s %lld %b", q->k_delayed,
	    (long long)due_ms, m, len);
	free(m);
	q->due_until = 0;
	return rv;
}

/* Stage the HSET of a dead letter (attempts as counted in t). */
static int
tqr_stage_dead(struct tqr *q, const struct tq_task *t, const char *err)
{
	char head[64], *m, *v;
	size_t mlen, elen, hlen, vlen;
	int n, rv;

	if (err == NULL)
		err = "";
	elen = strlen(err);
	m = tqr_encode(t, t->attempts, &mlen);
	n = snprintf(head, sizeof head, "%" PRId64 ":%zu:", real_ms(), elen);
	hlen = n > 0 && (size_t)n < sizeof head ? (size_t)n : 0;
	vlen = hlen + elen + mlen;
	v = xmalloc(vlen);
	memcpy(v, head, hlen);
	memcpy(v + hlen, err, elen);
	memcpy(v + hlen + elen, m, mlen);
	rv = rc_stage(&q->rc, P_WRITE, "HSET %s %s %b", q->k_dead, t->id, v,
	    vlen);
	free(v);
	free(m);
	return rv;
}

static int tqr_recover(struct tqr *);

/* Connected, the group made, our old entries taken back; drain: nothing owed. */
static int
tqr_ready(struct tqr *q, bool drain)
{
	redisReply *r;

	if (rc_ctx(&q->rc) == NULL)
		return -1;
	if (q->rc.fresh) {
		q->rc.fresh = false;
		q->kick = true;
		q->due_until = 0;
		/* From 0: entries of a stream that lost its group are kept. */
		r = rc_cmd(&q->rc, "XGROUP CREATE %s %s 0 MKSTREAM",
		    q->k_tasks, TQR_GROUP);
		if (r == NULL)
			return -1;
		if (r->type == REDIS_REPLY_ERROR &&
		    strncmp(r->str, "BUSYGROUP", 9) != 0)
			log_error("%s: XGROUP CREATE %s: %s", q->rc.what,
			    q->k_tasks, r->str);
		freeReplyObject(r);
	}
	if (q->owner && !q->recovered) {
		if (tqr_recover(q) == -1)
			return -1;
		q->recovered = true;
	}
	if (drain)
		return rc_drain(&q->rc);
	return 0;
}

/*
 * Entries of our pending list (taken over, or left by our previous
 * generation) into the read-ahead buffer, with the runs their delivery
 * counter says were started.
 */
static int
tqr_adopt(struct tqr *q, char **ids, size_t n)
{
	redisReply *r, *p;
	struct tqr_ent e;
	long long count;
	size_t i;
	int rv = 0;

	if (n == 0)
		return 0;
	if (tqr_ready(q, true) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		redisAppendCommand(q->rc.c, "XRANGE %s %s %s", q->k_tasks,
		    ids[i], ids[i]);
		redisAppendCommand(q->rc.c, "XPENDING %s %s %s %s 1",
		    q->k_tasks, TQR_GROUP, ids[i], ids[i]);
	}
	for (i = 0; i < n; i++) {
		if ((r = rc_reply(&q->rc)) == NULL)
			return -1;
		if ((p = rc_reply(&q->rc)) == NULL) {
			freeReplyObject(r);
			return -1;
		}
		count = 1;
		if (p->type == REDIS_REPLY_ARRAY && p->elements == 1 &&
		    p->element[0]->type == REDIS_REPLY_ARRAY &&
		    p->element[0]->elements >= 4)
			reply_int(p->element[0]->element[3], &count);
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
		    tqr_entry(r->element[0], &e)) {
			e.runs = count > 1 && count < INT_MAX ?
			    (int)count - 1 : 0;
			tqr_push(q, &e);
			rv++;
		} else {
			/* Deleted meanwhile, or not ours to read: let go. */
			if (r->type == REDIS_REPLY_ARRAY && r->elements == 1)
				log_warn("%s: malformed entry %s dropped",
				    q->rc.what, ids[i]);
			rc_stage(&q->rc, P_OTHER, "XACK %s %s %s", q->k_tasks,
			    TQR_GROUP, ids[i]);
			rc_stage(&q->rc, P_OTHER, "XDEL %s %s", q->k_tasks,
			    ids[i]);
		}
		freeReplyObject(r);
		freeReplyObject(p);
	}
	if (q->rc.npend > 0)
		rc_flush(&q->rc);
	if (rv > 0)
		log_notice("pool %s: took over %d task%s", q->pool, rv,
		    rv == 1 ? "" : "s");
	return rv;
}

/* A starting master: what our consumer holds is ours again, at once. */
static int
tqr_recover(struct tqr *q)
{
	redisReply *r;
	char start[64] = "-", *ids[100];
	const redisReply *e;
	size_t i, n;

	q->recovered = true;	/* tqr_adopt calls tqr_ready */
	for (;;) {
		r = rc_cmd(&q->rc, "XPENDING %s %s %s + 100 %s", q->k_tasks,
		    TQR_GROUP, start, q->consumer);
		if (r == NULL) {
			q->recovered = false;
			return -1;
		}
		n = 0;
		if (r->type == REDIS_REPLY_ARRAY) {
			for (i = 0; i < r->elements && n < 100; i++) {
				e = r->element[i];
				if (e->type != REDIS_REPLY_ARRAY ||
				    e->elements < 1 ||
				    e->element[0]->type != REDIS_REPLY_STRING)
					continue;
				snprintf(start, sizeof start, "(%s",
				    e->element[0]->str);
				if (!tqr_holds(q, e->element[0]->str))
					ids[n++] = e->element[0]->str;
			}
		}
		i = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
		if (tqr_adopt(q, ids, n) == -1) {
			freeReplyObject(r);
			q->recovered = false;
			return -1;
		}
		freeReplyObject(r);
		if (i < 100)
			return 0;
	}
}

static void tqr_close(void *);

/* Open a pool's queue; owner: the master, which claims and reclaims. */
static void *
tqr_open(const struct pool_conf *pc, bool owner, char **cause)
{
	struct tqr *q;
	const char *env, *pool;
	char host[256];

	if (pc->taskq.kind != TASKQ_REDIS) {
		xasprintf(cause, "pool %s: not a redis task queue",
		    pc->name != NULL ? pc->name : "?");
		return NULL;
	}
	pool = pc->name != NULL ? pc->name : "?";
	q = xcalloc(1, sizeof *q);
	rc_init(&q->rc, &pc->taskq, pool);
	q->pool = xstrdup(pool);
	xasprintf(&q->k_tasks, "pfpm:{%s}:tasks", pool);
	xasprintf(&q->k_delayed, "pfpm:{%s}:delayed", pool);
	xasprintf(&q->k_dead, "pfpm:{%s}:dead", pool);
	if ((env = getenv("PFPM_REDIS_CONSUMER")) != NULL && *env != '\0')
		q->consumer = xstrdup(env);
	else {
		if (gethostname(host, sizeof host) == -1)
			snprintf(host, sizeof host, "localhost");
		host[sizeof host - 1] = '\0';
		xasprintf(&q->consumer, "%s:%ld", host, (long)getpid());
	}
	q->owner = owner;
	q->lease_ms = pc->task_lease_ms > 0 ? pc->task_lease_ms :
	    TQR_LEASE_MS;
	q->kick = true;
	snprintf(q->cursor, sizeof q->cursor, "0-0");
	q->refresh_at = mono_ms() + q->lease_ms / 3;
	q->gc_at = mono_ms() + TQR_GC_MS;

	if (tqr_ready(q, true) == -1) {
		if (!owner) {
			xasprintf(cause, "%s: unreachable", q->rc.what);
			tqr_close(q);
			return NULL;
		}
		/* The master runs on; the queue works once Redis is back. */
		log_warn("pool %s: task queue unavailable until redis answers",
		    q->pool);
	}
	return q;
}

/* Read replies still owed, give back what was read ahead, let go. */
static void
tqr_close(void *arg)
{
	struct tqr *q = arg;
	struct tqr_ent *e;
	size_t i;

	if (q == NULL)
		return;
	if (q->nbuf > 0 && q->owner && q->rc.c != NULL) {
		/* Others can run them now rather than after the lease. */
		for (i = 0; i < q->nbuf; i++) {
			e = &q->buf[q->head + i];
			rc_stage(&q->rc, P_WRITE, "MULTI");
			tqr_stage_xadd(q, &e->t, e->t.attempts + e->runs);
			tqr_stage_done(q, e->t.ref);
			rc_stage(&q->rc, P_WRITE, "EXEC");
		}
	}
	for (i = 0; i < q->nbuf; i++)
		free(q->buf[q->head + i].t.payload);
	if (q->rc.c != NULL && q->rc.npend > 0 && rc_drain(&q->rc) == 0 &&
	    q->rc.failed)
		log_warn("pool %s: task queue: writes refused at close",
		    q->pool);
	rc_free(&q->rc);
	free(q->buf);
	free(q->held);
	free(q->pool);
	free(q->k_tasks);
	free(q->k_delayed);
	free(q->k_dead);
	free(q->consumer);
	free(q);
}

/* Stage a new task: the stream if due, else the delayed set. */
static int
tqr_add(void *arg, const struct tq_task *t)
{
	struct tqr *q = arg;

	if (tqr_ready(q, false) == -1)
		return -1;
	if (t->due_ms > real_ms())
		return tqr_stage_zadd(q, t, 0, t->due_ms);
	q->kick = true;
	return tqr_stage_xadd(q, t, 0);
}

/* Every staged write accepted by Redis: 0. */
static int
tqr_commit(void *arg)
{
	struct tqr *q = arg;
	int rv;

	if (q->rc.npend == 0 && !q->rc.failed)
		return 0;
	rv = q->rc.c != NULL ? rc_drain(&q->rc) : -1;
	if (q->rc.failed)
		rv = -1;
	q->rc.failed = false;
	return rv;
}

/* Move due delayed tasks into the stream: how many, -1 error. */
static int
tqr_move(struct tqr *q, int64_t now_ms)
{
	redisReply *r;
	long long n = 0;

	r = rc_cmd(&q->rc, "EVAL %s 2 %s %s %lld %d", tqr_lua_move,
	    q->k_delayed, q->k_tasks, (long long)now_ms, TQR_MOVE_MAX);
	if (reply_take_int(q->rc.what, r, "moving due tasks", &n) == -1)
		return -1;
	q->due_until = 0;
	if (n > 0)
		q->kick = true;
	return (int)n;
}

/* XREADGROUP ahead into the buffer: entries read, -1 error. */
static int
tqr_fill(struct tqr *q, int64_t now_ms)
{
	redisReply *r;
	const redisReply *s;
	struct tqr_ent e;
	size_t i;
	int n = 0, again;

	if (tqr_ready(q, true) == -1)
		return -1;
	if (q->due_until != 0 && q->due_ms != -1 && q->due_ms <= now_ms &&
	    tqr_move(q, now_ms) == -1)
		return -1;
	if (!q->kick && mono_ms() < q->poll_at)
		return 0;
	for (again = 0; again < 2; again++) {
		r = rc_cmd(&q->rc, "XREADGROUP GROUP %s %s COUNT %d STREAMS"
		    " %s >", TQR_GROUP, q->consumer, TQR_BATCH, q->k_tasks);
		if (r == NULL)
			return -1;
		if (r->type != REDIS_REPLY_ERROR)
			break;
		if (again == 0 && strncmp(r->str, "NOGROUP", 7) == 0) {
			/* The stream was deleted: make it again. */
			freeReplyObject(r);
			q->rc.fresh = true;
			if (tqr_ready(q, true) == -1)
				return -1;
			continue;
		}
		log_error("%s: XREADGROUP: %s", q->rc.what, r->str);
		freeReplyObject(r);
		return -1;
	}
	q->kick = false;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
	    r->element[0]->type == REDIS_REPLY_ARRAY &&
	    r->element[0]->elements == 2 &&
	    r->element[0]->element[1]->type == REDIS_REPLY_ARRAY) {
		s = r->element[0]->element[1];
		for (i = 0; i < s->elements; i++) {
			if (tqr_entry(s->element[i], &e)) {
				tqr_push(q, &e);
				n++;
				continue;
			}
			log_warn("%s: malformed entry in %s dropped",
			    q->rc.what, q->k_tasks);
			if (s->element[i]->type == REDIS_REPLY_ARRAY &&
			    s->element[i]->elements > 0 &&
			    s->element[i]->element[0]->type ==
			    REDIS_REPLY_STRING) {
				rc_stage(&q->rc, P_OTHER, "XACK %s %s %s",
				    q->k_tasks, TQR_GROUP,
				    s->element[i]->element[0]->str);
				rc_stage(&q->rc, P_OTHER, "XDEL %s %s",
				    q->k_tasks,
				    s->element[i]->element[0]->str);
			}
		}
	}
	freeReplyObject(r);
	if (q->rc.npend > 0)
		rc_flush(&q->rc);
	if (n == 0)
		q->poll_at = mono_ms() + TQR_POLL_MS;
	else if (n == TQR_BATCH)
		q->kick = true;	/* there may be more */
	return n;
}

/* Out of tries on takeover: bury without running it again. */
static void
tqr_bury_abandoned(struct tqr *q, struct tqr_ent *e)
{
	char err[128];

	snprintf(err, sizeof err, "its host died while it ran (%d attempt%s)",
	    e->t.attempts + e->runs, e->t.attempts + e->runs == 1 ? "" : "s");
	e->t.attempts += e->runs;
	log_warn("pool %s: task %s: %s, out of tries: dead letter", q->pool,
	    e->t.id, err);
	rc_stage(&q->rc, P_WRITE, "MULTI");
	tqr_stage_dead(q, &e->t, err);
	tqr_stage_done(q, e->t.ref);
	rc_stage(&q->rc, P_WRITE, "EXEC");
	rc_flush(&q->rc);
	tqr_unhold(q, e->t.ref);
	free(e->t.payload);
}

/* Hand out the next task read ahead, reading more when none is left. */
static int
tqr_next(void *arg, int64_t now_ms, struct tq_task *t)
{
	struct tqr *q = arg;
	struct tqr_ent e;

	for (;;) {
		/* Read ahead entries stay ours in Redis until it is back. */
		if (tqr_ready(q, false) == -1)
			return -1;
		if (q->nbuf == 0) {
			if (tqr_fill(q, now_ms) == -1)
				return -1;
			if (q->nbuf == 0)
				return 0;
		}
		e = q->buf[q->head++];
		q->nbuf--;
		if (e.t.attempts + e.runs >= e.t.tries) {
			tqr_bury_abandoned(q, &e);
			continue;
		}
		*t = e.t;
		t->attempts = e.t.attempts + e.runs + 1;
		t->due_ms = now_ms;
		/* Count the run in Redis, for whoever takes it over. */
		rc_stage(&q->rc, P_OTHER, "XCLAIM %s %s %s 0 %s RETRYCOUNT %d"
		    " JUSTID", q->k_tasks, TQR_GROUP, q->consumer, e.t.ref,
		    e.runs + 2);
		rc_flush(&q->rc);
		return 1;
	}
}

/* Finish a claimed task with one write, atomically with its XACK + XDEL. */
static int
tqr_finish(struct tqr *q, const struct tq_task *t, int (*write)(struct tqr *,
    const struct tq_task *, int64_t, const char *), int64_t due,
    const char *err)
{
	int rv;

	tqr_unhold(q, t->ref);
	if (tqr_ready(q, false) == -1)
		return -1;
	rc_stage(&q->rc, P_WRITE, "MULTI");
	if (write != NULL)
		write(q, t, due, err);
	tqr_stage_done(q, t->ref);
	rv = rc_stage(&q->rc, P_WRITE, "EXEC");
	if (rv == 0)
		rv = rc_flush(&q->rc);
	return rv;
}

static int
tqr_w_retry(struct tqr *q, const struct tq_task *t, int64_t due,
    const char *err)
{
	(void)err;
	if (due > real_ms())
		return tqr_stage_zadd(q, t, t->attempts, due);
	q->kick = true;
	return tqr_stage_xadd(q, t, t->attempts);
}

static int
tqr_w_bury(struct tqr *q, const struct tq_task *t, int64_t due,
    const char *err)
{
	(void)due;
	return tqr_stage_dead(q, t, err);
}

static int
tqr_w_release(struct tqr *q, const struct tq_task *t, int64_t due,
    const char *err)
{
	(void)due;
	(void)err;
	q->kick = true;
	return tqr_stage_xadd(q, t, t->attempts);
}

/* The task ran: forget it. */
static int
tqr_ack(void *arg, const struct tq_task *t)
{
	return tqr_finish(arg, t, NULL, 0, NULL);
}

/* Run it again at due_ms, its attempts kept. */
static int
tqr_retry(void *arg, const struct tq_task *t, int64_t due_ms, const char *err)
{
	return tqr_finish(arg, t, tqr_w_retry, due_ms, err);
}

/* Out of tries: a dead letter. */
static int
tqr_bury(void *arg, const struct tq_task *t, const char *err)
{
	return tqr_finish(arg, t, tqr_w_bury, 0, err);
}

/* Its worker died: due again now, the attempt stays counted. */
static int
tqr_release(void *arg, const struct tq_task *t)
{
	return tqr_finish(arg, t, tqr_w_release, 0, NULL);
}

/* The earliest delayed task's due time, -1 none (or error); cached briefly. */
static int64_t
tqr_next_due_ms(void *arg)
{
	struct tqr *q = arg;
	redisReply *r;
	long long n;
	int64_t now = mono_ms();

	if (q->due_until != 0 && now < q->due_until)
		return q->due_ms;
	if (tqr_ready(q, true) == -1)
		return -1;
	r = rc_cmd(&q->rc, "ZRANGE %s 0 0 WITHSCORES", q->k_delayed);
	if (r == NULL)
		return -1;
	q->due_ms = -1;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[1]->type == REDIS_REPLY_STRING) {
		/* Scores are doubles: "1700000000000" or "1.7e+12". */
		n = (long long)strtod(r->element[1]->str, NULL);
		q->due_ms = n;
	} else if (r->type == REDIS_REPLY_ERROR)
		log_error("%s: ZRANGE %s: %s", q->rc.what, q->k_delayed,
		    r->str);
	freeReplyObject(r);
	q->due_until = now + TQR_DUE_MS;
	return q->due_ms;
}

/* Queued (stream not yet read, read ahead, delayed), dead, oldest. */
static int
tqr_counts(void *arg, struct tq_counts *c)
{
	struct tqr *q = arg;
	redisReply *r[4] = { NULL, NULL, NULL, NULL }, *x;
	const redisReply *g, *k, *v;
	long long lag = -1, pending = 0, xlen = 0, n;
	char last[64] = "";
	size_t i, j;
	int rv = -1;

	memset(c, 0, sizeof *c);
	if (tqr_ready(q, true) == -1)
		return -1;
	redisAppendCommand(q->rc.c, "XINFO GROUPS %s", q->k_tasks);
	redisAppendCommand(q->rc.c, "XLEN %s", q->k_tasks);
	redisAppendCommand(q->rc.c, "ZCARD %s", q->k_delayed);
	redisAppendCommand(q->rc.c, "HLEN %s", q->k_dead);
	for (i = 0; i < 4; i++)
		if ((r[i] = rc_reply(&q->rc)) == NULL)
			goto out;
	for (i = 1; i < 4; i++) {
		if (r[i]->type == REDIS_REPLY_ERROR) {
			log_error("%s: counts: %s", q->rc.what, r[i]->str);
			goto out;
		}
	}
	if (r[0]->type == REDIS_REPLY_ARRAY) {
		for (i = 0; i < r[0]->elements; i++) {
			g = r[0]->element[i];
			if (g->type != REDIS_REPLY_ARRAY)
				continue;
			for (j = 0; j + 1 < g->elements; j += 2) {
				k = g->element[j];
				v = g->element[j + 1];
				if (k->type != REDIS_REPLY_STRING)
					continue;
				if (strcmp(k->str, "name") == 0 &&
				    (v->type != REDIS_REPLY_STRING ||
				    strcmp(v->str, TQR_GROUP) != 0))
					break;
				if (strcmp(k->str, "lag") == 0)
					reply_int(v, &lag);
				else if (strcmp(k->str, "pending") == 0)
					reply_int(v, &pending);
				else if (strcmp(k->str,
				    "last-delivered-id") == 0 &&
				    v->type == REDIS_REPLY_STRING)
					snprintf(last, sizeof last, "%s",
					    v->str);
			}
		}
	}
	reply_int(r[1], &xlen);
	if (lag < 0)
		lag = xlen - pending > 0 ? xlen - pending : 0;
	n = 0;
	reply_int(r[2], &n);
	c->queued = (uint64_t)lag + (uint64_t)n + q->nbuf;
	n = 0;
	reply_int(r[3], &n);
	c->dead = (uint64_t)n;
	if (lag > 0) {
		if (*last == '\0' || strcmp(last, "0-0") == 0)
			x = rc_cmd(&q->rc, "XRANGE %s - + COUNT 1",
			    q->k_tasks);
		else
			x = rc_cmd(&q->rc, "XRANGE %s (%s + COUNT 1",
			    q->k_tasks, last);
		if (x == NULL)
			goto out;
		if (x->type == REDIS_REPLY_ARRAY && x->elements == 1) {
			struct tqr_ent e;

			if (tqr_entry(x->element[0], &e)) {
				c->oldest_ms = e.t.created_ms;
				free(e.t.payload);
			}
		}
		freeReplyObject(x);
	}
	for (i = 0; i < q->nbuf; i++)
		if (c->oldest_ms == 0 ||
		    q->buf[q->head + i].t.created_ms < c->oldest_ms)
			c->oldest_ms = q->buf[q->head + i].t.created_ms;
	rv = 0;
out:
	for (i = 0; i < 4; i++)
		if (r[i] != NULL)
			freeReplyObject(r[i]);
	return rv;
}

/* Take over entries of dead consumers, idle longer than the lease. */
static void
tqr_autoclaim(struct tqr *q)
{
	redisReply *r;
	const redisReply *ids;
	char *take[TQR_BATCH];
	size_t i, n = 0;

	r = rc_cmd(&q->rc, "XAUTOCLAIM %s %s %s %lld %s COUNT %d JUSTID",
	    q->k_tasks, TQR_GROUP, q->consumer, (long long)q->lease_ms,
	    q->cursor, TQR_BATCH);
	if (r == NULL)
		return;
	if (r->type == REDIS_REPLY_ERROR) {
		if (strncmp(r->str, "NOGROUP", 7) == 0)
			q->rc.fresh = true;
		else
			log_error("%s: XAUTOCLAIM: %s", q->rc.what, r->str);
		freeReplyObject(r);
		return;
	}
	if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
	    r->element[0]->type == REDIS_REPLY_STRING) {
		snprintf(q->cursor, sizeof q->cursor, "%s",
		    r->element[0]->str);
		ids = r->element[1];
		for (i = 0; ids->type == REDIS_REPLY_ARRAY &&
		    i < ids->elements && n < TQR_BATCH; i++) {
			if (ids->element[i]->type != REDIS_REPLY_STRING ||
			    tqr_holds(q, ids->element[i]->str))
				continue;
			take[n++] = ids->element[i]->str;
		}
	}
	tqr_adopt(q, take, n);
	freeReplyObject(r);
}

/* Reset the idle time of every entry we hold, so no one takes them over. */
static void
tqr_refresh(struct tqr *q)
{
	const char *argv[6 + 100];
	redisReply *r;
	size_t i, n;

	for (i = 0; i < q->nheld; i += n) {
		argv[0] = "XCLAIM";
		argv[1] = q->k_tasks;
		argv[2] = TQR_GROUP;
		argv[3] = q->consumer;
		argv[4] = "0";
		for (n = 0; n < 100 && i + n < q->nheld; n++)
			argv[5 + n] = q->held[i + n];
		argv[5 + n] = "JUSTID";
		r = rc_cmd_argv(&q->rc, (int)(6 + n), argv, NULL);
		if (r == NULL)
			return;
		if (r->type == REDIS_REPLY_ERROR)
			log_error("%s: XCLAIM: %s", q->rc.what, r->str);
		freeReplyObject(r);
	}
}

/* Every master tick: due tasks, our claims' leases, dead hosts' claims. */
static void
tqr_tick(void *arg, int64_t now_ms)
{
	struct tqr *q = arg;
	redisReply *r;
	int64_t now = mono_ms();

	if (tqr_ready(q, true) == -1)
		return;
	if (tqr_move(q, now_ms) == -1)
		return;
	if (!q->owner)
		return;
	if (now >= q->refresh_at) {
		q->refresh_at = now + (q->lease_ms / 3 > 0 ? q->lease_ms / 3 :
		    1);
		tqr_refresh(q);
	}
	if (q->nbuf < TQR_BATCH)
		tqr_autoclaim(q);
	if (now >= q->gc_at) {
		q->gc_at = now + TQR_GC_MS;
		r = rc_cmd(&q->rc, "EVAL %s 1 %s %s %lld %s", tqr_lua_gc,
		    q->k_tasks, TQR_GROUP, (long long)TQR_GC_IDLE_MS,
		    q->consumer);
		if (r != NULL) {
			if (r->type == REDIS_REPLY_ERROR)
				log_warn("%s: forgetting old consumers: %s",
				    q->rc.what, r->str);
			freeReplyObject(r);
		}
	}
}

/*
 * The dead letters, as taskq_sqlite: t->payload NULL and t->len its size,
 * t->due_ms when it died; in hash order.
 */
static int
tqr_dead_list(void *arg, void (*cb)(void *, const struct tq_task *,
    const char *), void *cbarg)
{
	struct tqr *q = arg;
	redisReply *r;
	const redisReply *kv, *v;
	char cursor[32] = "0", *err;
	const char *p, *end;
	struct tq_task t;
	int64_t died, elen;
	size_t i;

	if (tqr_ready(q, true) == -1)
		return -1;
	do {
		r = rc_cmd(&q->rc, "HSCAN %s %s COUNT 100", q->k_dead, cursor);
		if (r == NULL)
			return -1;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING) {
			log_error("%s: HSCAN %s: %s", q->rc.what, q->k_dead,
			    r->type == REDIS_REPLY_ERROR ? r->str :
			    "unexpected reply");
			freeReplyObject(r);
			return -1;
		}
		snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
		kv = r->element[1];
		for (i = 0; kv->type == REDIS_REPLY_ARRAY &&
		    i + 1 < kv->elements; i += 2) {
			v = kv->element[i + 1];
			if (v->type != REDIS_REPLY_STRING)
				continue;
			p = v->str;
			end = v->str + v->len;
			if (!tqr_field(&p, end, &died) ||
			    !tqr_field(&p, end, &elen) || elen < 0 ||
			    elen > end - p ||
			    !tqr_decode(p + elen, (size_t)(end - p - elen),
			    &t, false)) {
				log_warn("%s: malformed dead letter %s",
				    q->rc.what, kv->element[i]->str);
				continue;
			}
			err = xstrndup(p, (size_t)elen);
			t.due_ms = died;
			cb(cbarg, &t, err);
			free(err);
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	return 0;
}

/* Run the revive script over ids: how many went back, -1 error. */
static int
tqr_revive(struct tqr *q, const char **ids, size_t n)
{
	const char *argv[5 + 100];
	redisReply *r;
	long long moved = 0;
	size_t i;

	argv[0] = "EVAL";
	argv[1] = tqr_lua_revive;
	argv[2] = "2";
	argv[3] = q->k_dead;
	argv[4] = q->k_tasks;
	for (i = 0; i < n; i++)
		argv[5 + i] = ids[i];
	r = rc_cmd_argv(&q->rc, (int)(5 + n), argv, NULL);
	if (reply_take_int(q->rc.what, r, "dead retry", &moved) == -1)
		return -1;
	if (moved > 0)
		q->kick = true;
	return (int)moved;
}

/* Dead letters back in the queue, due now, attempts from zero: how many. */
static int
tqr_dead_retry(void *arg, const char *id, int64_t now_ms)
{
	struct tqr *q = arg;
	redisReply *r;
	const redisReply *kv;
	const char *ids[100];
	char cursor[32] = "0";
	size_t i, n;
	int total = 0, m;

	(void)now_ms;
	if (tqr_ready(q, true) == -1)
		return -1;
	if (id != NULL)
		return tqr_revive(q, &id, 1);
	do {
		r = rc_cmd(&q->rc, "HSCAN %s %s COUNT 100", q->k_dead, cursor);
		if (r == NULL)
			return -1;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING) {
			freeReplyObject(r);
			return -1;
		}
		snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
		kv = r->element[1];
		n = 0;
		for (i = 0; kv->type == REDIS_REPLY_ARRAY &&
		    i + 1 < kv->elements && n < 100; i += 2)
			if (kv->element[i]->type == REDIS_REPLY_STRING)
				ids[n++] = kv->element[i]->str;
		m = n > 0 ? tqr_revive(q, ids, n) : 0;
		freeReplyObject(r);
		if (m == -1)
			return -1;
		total += m;
	} while (strcmp(cursor, "0") != 0);
	return total;
}

/* Forget dead letters for good: how many. */
static int
tqr_dead_purge(void *arg, const char *id)
{
	struct tqr *q = arg;
	redisReply *r;
	long long n = 0;

	if (tqr_ready(q, true) == -1)
		return -1;
	if (id != NULL)
		r = rc_cmd(&q->rc, "HDEL %s %s", q->k_dead, id);
	else
		r = rc_cmd(&q->rc, "EVAL %s 1 %s", tqr_lua_purge, q->k_dead);
	if (reply_take_int(q->rc.what, r, "dead purge", &n) == -1)
		return -1;
	return (int)n;
}

const struct tq_backend taskq_redis = {
	.name = "redis",
	.open = tqr_open,
	.close = tqr_close,
	.add = tqr_add,
	.commit = tqr_commit,
	.next = tqr_next,
	.ack = tqr_ack,
	.retry = tqr_retry,
	.bury = tqr_bury,
	.release = tqr_release,
	.next_due_ms = tqr_next_due_ms,
	.counts = tqr_counts,
	.tick = tqr_tick,
	.dead_list = tqr_dead_list,
	.dead_retry = tqr_dead_retry,
	.dead_purge = tqr_dead_purge,
};

/*
 * A lease in Redis: key = owner with a PX expiry, taken when free and
 * renewed by its owner (timer.global_lock).  Redis unreachable at first is
 * no error: rlease_hold() says -1 until it answers.
 */
struct rlease *
rlease_new(const struct taskq_url *u, const char *key, const char *owner,
    int64_t lease_ms, char **cause)
{
	struct rlease *l;

	if (u == NULL || u->kind != TASKQ_REDIS || key == NULL ||
	    *key == '\0' || owner == NULL || *owner == '\0') {
		xasprintf(cause, "redis lease: needs a redis url, a key and "
		    "an owner");
		return NULL;
	}
	l = xcalloc(1, sizeof *l);
	rc_init(&l->rc, u, key);
	free(l->rc.what);
	if (*l->rc.host == '/')
		xasprintf(&l->rc.what, "lease %s: redis %s", key, l->rc.host);
	else
		xasprintf(&l->rc.what, "lease %s: redis %s:%d", key,
		    l->rc.host, l->rc.port);
	l->key = xstrdup(key);
	l->owner = xstrdup(owner);
	l->lease_ms = lease_ms > 0 ? lease_ms : TQR_LEASE_MS;
	return l;
}

/* Take the lease if free, renew it if ours: 1 held, 0 not, -1 no Redis. */
int
rlease_hold(struct rlease *l)
{
	redisReply *r;
	long long n = 0;

	r = rc_cmd(&l->rc, "EVAL %s 1 %s %s %lld", tqr_lua_hold, l->key,
	    l->owner, (long long)l->lease_ms);
	if (reply_take_int(l->rc.what, r, "lease", &n) == -1) {
		l->held = false;
		return -1;
	}
	l->held = n == 1;
	return l->held ? 1 : 0;
}

/* Release the lease if we hold it, and free. */
void
rlease_free(struct rlease *l)
{
	redisReply *r;

	if (l == NULL)
		return;
	if (l->held) {
		r = rc_cmd(&l->rc, "EVAL %s 1 %s %s", tqr_lua_drop, l->key,
		    l->owner);
		if (r != NULL)
			freeReplyObject(r);
	}
	rc_free(&l->rc);
	free(l->key);
	free(l->owner);
	free(l);
}
