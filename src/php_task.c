/*
 * The worker side of a pool's task queue (DESIGN.md section 5):
 * pfpm_task_deliver() in any process of the pool, pfpm_task_wait() in a
 * task process.  One connection per process to the master's abstract
 * socket, made on first use; frames of taskwire.c.  A deliver is one
 * write(): the master answers TQ_STORED once its batch is committed, and
 * task_client_sync() waits for that at the end of each request, task or
 * timer callback, so a client that has its response has durable tasks.
 */
#include "pfpm.h"

#include <sys/poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <php.h>
#include <zend_exceptions.h>

#include "php_api.h"

#define WRITE_TIMEOUT_MS 100	/* a frame is written within, or refused */
#define SYNC_TIMEOUT_MS 5000	/* task_client_sync() waits at most */
#define CREDITS 8		/* tasks a task worker takes ahead */
#define FAIL_TEXT_MAX 2048	/* of a TQ_FAIL's error text */

/* A task the master sent ahead (credit), not started yet. */
struct ptask {
	struct tq_task_hdr h;
	char queue[TQ_QUEUE_MAX + 1];
	char *payload;
	size_t len;
	struct ptask *next;
};

static struct {
	int fd;			/* -1: not connected */
	pid_t pid;		/* the process that connected */
	struct tq_reader rd;
	uint64_t sent;		/* delivers written on this connection */
	uint64_t stored;	/* from the last TQ_STORED */
	uint64_t refused;
	uint64_t refused_logged;
	uint64_t gave_up;	/* sync timed out with this many sent */
	uint64_t lost;		/* over the process: connections lost with delivers out */
	bool ready_sent;	/* task worker: TQ_READY sent on this connection */
	struct ptask *head, *tail;
	size_t nprefetched;
} tc = { .fd = -1 };

/*
 * Delivers written but not stored yet, in order: when the connection
 * breaks (a reload re-executes the master, which may not have read them)
 * they are sent again on the next one.  The master ignores an id it
 * already has.  Past KEEP_MAX bytes nothing more is kept until every
 * deliver is confirmed again: those could be lost with the connection.
 */
#define KEEP_MAX ((size_t)16 << 20)
static struct {
	struct kept {
		char *frame;
		size_t len;
	} *v;
	size_t head, n, cap;	/* unconfirmed: v[head..n) */
	size_t bytes;
	bool off;		/* over KEEP_MAX: not keeping */
} keep;

/*
 * Delivers stored lately: the master's counters (sb_pool tq_*) show them
 * only from its next tick (100 ms), so until then they count here.
 */
#define RECENT_MS 250
static uint64_t recent[2];
static int64_t recent_ms;

static uint64_t id_counter;
static char id_prefix[17];
static pid_t id_pid;
static uint64_t tasks_run;

static int64_t
now_ms(void)
{
	return (int64_t)(sb_now_us() / 1000);
}

/* Our stored delivers the shared counters may not show yet; add n first. */
static uint64_t
recent_stored(uint64_t n)
{
	int64_t now = now_ms();

	if (now - recent_ms >= RECENT_MS) {
		recent[1] = now - recent_ms >= 2 * RECENT_MS ? 0 : recent[0];
		recent[0] = 0;
		recent_ms = now;
	}
	recent[0] += n;
	return recent[0] + recent[1];
}

/* One line per second at most: a refusing queue must not flood the log. */
static void limited(const char *, ...) PRINTFLIKE(1, 2);
static void
limited(const char *fmt, ...)
{
	static time_t last;
	static unsigned skipped;
	time_t now = time(NULL);
	va_list ap;
	char *msg;

	if (now == last) {
		skipped++;
		return;
	}
	last = now;
	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	if (skipped > 0)
		log_warn("%s (and %u more since the last such line)", msg, skipped);
	else
		log_warn("%s", msg);
	free(msg);
	skipped = 0;
}

static size_t
kept_count(void)
{
	return keep.n - keep.head;
}

/* The first n kept delivers were confirmed. */
static void
keep_confirmed(uint64_t n)
{
	while (n-- > 0 && keep.head < keep.n) {
		keep.bytes -= keep.v[keep.head].len;
		free(keep.v[keep.head++].frame);
	}
	if (keep.head == keep.n) {
		keep.head = keep.n = keep.bytes = 0;
		keep.off = false;
	}
}

static void
keep_clear(void)
{
	keep_confirmed(UINT64_MAX);
}

static void
keep_frame(struct iovec *iov, int n)
{
	size_t len = 0, off = 0;
	char *f;
	int i;

	if (keep.off)
		return;
	for (i = 0; i < n; i++)
		len += iov[i].iov_len;
	if (keep.bytes + len > KEEP_MAX) {
		keep_clear();
		keep.off = true;
		return;
	}
	f = xmalloc(len);
	for (i = 0; i < n; i++) {
		memcpy(f + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	if (keep.head > 0 && keep.n == keep.cap) {
		memmove(keep.v, keep.v + keep.head, kept_count() * sizeof *keep.v);
		keep.n -= keep.head;
		keep.head = 0;
	}
	if (keep.n == keep.cap) {
		keep.cap = keep.cap == 0 ? 64 : keep.cap * 2;
		keep.v = xreallocarray(keep.v, keep.cap, sizeof *keep.v);
	}
	keep.v[keep.n++] = (struct kept){ f, len };
	keep.bytes += len;
}

static void
drop_prefetched(void)
{
	struct ptask *t;

	while ((t = tc.head) != NULL) {
		tc.head = t->next;
		free(t->payload);
		free(t);
	}
	tc.tail = NULL;
	tc.nprefetched = 0;
}

/* The connection is gone: count what may be lost, forget its state. */
static void
conn_close(const char *why)
{
	uint64_t out = tc.sent - tc.stored - tc.refused;

	if (tc.fd == -1)
		return;
	if (out > 0 && !keep.off && kept_count() == out)
		log_notice("task queue: connection to the master lost (%s): %llu unconfirmed deliver(s) will be sent again",
		    why, (unsigned long long)out);
	else if (out > 0) {
		keep_clear();
		tc.lost += out;
		log_warn("task queue: connection to the master lost (%s): %llu delivered task(s) possibly lost (%llu in this process)",
		    why, (unsigned long long)out, (unsigned long long)tc.lost);
	} else
		log_debug("task queue: connection to the master closed (%s)", why);
	if (tc.refused > tc.refused_logged)
		log_error("task queue: the master refused %llu delivered task(s)",
		    (unsigned long long)(tc.refused - tc.refused_logged));
	if (tc.pid == getpid())
		close(tc.fd);
	tc.fd = -1;
	tc.sent = tc.stored = tc.refused = tc.refused_logged = tc.gave_up = 0;
	tq_reader_free(&tc.rd);
	tc.ready_sent = false;
	drop_prefetched();
}

static int resend_kept(void);

/* Connect to the pool's socket (sending again what was not stored): 0, or -1 with errno. */
static int
conn_open(void)
{
	const struct worker_ctx *w = worker_context();
	struct sockaddr_un sun;
	struct timeval tv = { .tv_sec = 0, .tv_usec = WRITE_TIMEOUT_MS * 1000 };
	size_t len;
	int fd, e;

	if (tc.fd != -1 && tc.pid != getpid()) {
		keep_clear();		/* the parent's delivers */
		conn_close("forked");	/* the parent's connection */
	}
	if (tc.fd != -1)
		return 0;
	if (tq_socket_name(w->master_pid, w->pool->name, &sun, &len) == -1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	/* A full backlog blocks connect() for SO_SNDTIMEO at most. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&sun, (socklen_t)len) == -1 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1) {
		e = errno;
		close(fd);
		errno = e == EINPROGRESS ? EAGAIN : e;
		return -1;
	}
	tc.fd = fd;
	tc.pid = getpid();
	tc.rd.max = TQ_FRAME_MAX(w->pool->task_max_payload);
	return resend_kept();
}

/*
 * Write iov[0..n) within WRITE_TIMEOUT_MS.  0 written; -1 with errno:
 * ETIMEDOUT (the master is not reading) or the write's error.  *partial
 * tells whether some bytes went: the stream is then cut mid-frame.
 */
static int
write_all(struct iovec *iov, int n, bool *partial)
{
	int64_t deadline = now_ms() + WRITE_TIMEOUT_MS, left;
	struct pollfd pfd = { .fd = tc.fd, .events = POLLOUT };
	ssize_t w;

	*partial = false;
	for (;;) {
		while (n > 0 && iov->iov_len == 0) {
			iov++;
			n--;
		}
		if (n == 0)
			return 0;
		w = writev(tc.fd, iov, n);
		if (w > 0) {
			*partial = true;
			while (w > 0) {
				size_t k = (size_t)w < iov->iov_len ? (size_t)w :
				    iov->iov_len;
				iov->iov_base = (char *)iov->iov_base + k;
				iov->iov_len -= k;
				w -= (ssize_t)k;
				if (iov->iov_len == 0 && n > 1) {
					iov++;
					n--;
				}
			}
			continue;
		}
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && errno != EAGAIN)
			return -1;
		if ((left = deadline - now_ms()) <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (poll(&pfd, 1, (int)left) == -1 && errno != EINTR)
			return -1;
	}
}

/* Write frames; on failure the connection is closed if it was cut. */
static int
send_iov(struct iovec *iov, int n)
{
	bool partial;
	int e;

	if (write_all(iov, n, &partial) == 0)
		return 0;
	e = errno;
	if (partial || e != ETIMEDOUT)
		conn_close(e == ETIMEDOUT ? "master not reading" : strerror(e));
	errno = e;
	return -1;
}

/* On a new connection: the delivers the last one did not confirm. */
static int
resend_kept(void)
{
	struct iovec iov;
	size_t i;

	for (i = keep.head; i < keep.n; i++) {
		iov = (struct iovec){ keep.v[i].frame, keep.v[i].len };
		if (send_iov(&iov, 1) == -1)
			return -1;
		tc.sent++;
	}
	if (kept_count() > 0)
		log_notice("task queue: %zu unconfirmed deliver(s) sent again",
		    kept_count());
	return 0;
}

/* A frame with an optional body part: 0 or -1 (errno). */
static int
send_simple(uint8_t type, const void *a, size_t alen, const void *b,
    size_t blen)
{
	struct tq_hdr h = { .len = (uint32_t)(alen + blen), .type = type };
	struct iovec iov[3] = {
		{ .iov_base = &h, .iov_len = sizeof h },
		{ .iov_base = (void *)a, .iov_len = alen },
		{ .iov_base = (void *)b, .iov_len = blen },
	};

	if (tc.fd == -1) {
		errno = ENOTCONN;
		return -1;
	}
	return send_iov(iov, 3);
}

static int
send_ready(uint32_t n)
{
	return send_simple(TQ_READY, &n, sizeof n, NULL, 0);
}

/*
 * TQ_DONE or TQ_FAIL, on a new connection if the master re-executed (it
 * acknowledges a task it released, so the task need not run again).
 */
static int
report(uint8_t type, const char *id, const char *text, uint32_t more)
{
	size_t tlen = text != NULL ? strlen(text) : 0;
	struct tq_hdr h = { .len = (uint32_t)(TQ_ID_LEN + tlen), .type = type };
	struct tq_hdr r = { .len = sizeof more, .type = TQ_READY };
	int attempt, e;

	for (attempt = 0; attempt < 2; attempt++) {
		/* With the credit for the next task, in the same write. */
		struct iovec iov[5] = {
			{ .iov_base = &h, .iov_len = sizeof h },
			{ .iov_base = (void *)id, .iov_len = TQ_ID_LEN },
			{ .iov_base = (void *)text, .iov_len = tlen },
			{ .iov_base = &r, .iov_len = sizeof r },
			{ .iov_base = &more, .iov_len = sizeof more },
		};
		bool fresh = tc.fd == -1;

		if (conn_open() == -1)
			return -1;
		/* A new connection asks for its full credit on the next call. */
		if (send_iov(iov, more > 0 && !fresh && tc.ready_sent ? 5 : 3) == 0)
			return 0;
		if (errno != EPIPE && errno != ECONNRESET && errno != ENOTCONN)
			break;
	}
	e = errno;
	if (tc.fd != -1)
		conn_close("cannot report a task");	/* the master releases it */
	errno = e;
	return -1;
}

/* A frame from the master. */
static void
handle_frame(const struct tq_hdr *h, const char *body)
{
	const struct worker_ctx *w = worker_context();
	struct tq_stored st;
	struct ptask *t;

	switch (h->type) {
	case TQ_STORED:
		if (h->len < sizeof st)
			break;
		memcpy(&st, body, sizeof st);
		if (st.stored > tc.stored)
			recent_stored(st.stored - tc.stored);
		if (st.stored + st.refused > tc.stored + tc.refused)
			keep_confirmed(st.stored + st.refused - tc.stored - tc.refused);
		tc.stored = st.stored;
		tc.refused = st.refused;
		break;
	case TQ_TASK:
		if (w == NULL || w->role != ROLE_TASK || h->qlen > TQ_QUEUE_MAX ||
		    h->len < sizeof t->h + h->qlen) {
			log_warn("task queue: unexpected task frame from the master");
			break;
		}
		t = xcalloc(1, sizeof *t);
		memcpy(&t->h, body, sizeof t->h);
		memcpy(t->queue, body + sizeof t->h, h->qlen);
		t->len = h->len - sizeof t->h - h->qlen;
		t->payload = xmalloc(t->len + 1);
		memcpy(t->payload, body + sizeof t->h + h->qlen, t->len);
		if (tc.tail != NULL)
			tc.tail->next = t;
		else
			tc.head = t;
		tc.tail = t;
		tc.nprefetched++;
		break;
	default:
		log_warn("task queue: unknown frame type %u from the master",
		    (unsigned)h->type);
		break;
	}
}

/* Read and handle what the master sent (non-blocking): -1 if it is gone. */
static int
conn_input(void)
{
	struct tq_hdr h;
	const char *body;
	ssize_t n;
	int r;

	if (tc.fd == -1)
		return -1;
	for (;;) {
		n = tq_fill(&tc.rd, tc.fd);
		if (n == 0 || (n == -1 && errno != EAGAIN)) {
			conn_close(n == 0 ? "end of file" : strerror(errno));
			return -1;
		}
		while ((r = tq_frame(&tc.rd, &h, &body)) == 1) {
			handle_frame(&h, body);
			tq_consume(&tc.rd, &h);
		}
		if (r == -1) {
			conn_close("oversized frame");
			return -1;
		}
		if (n == -1)
			return 0;	/* EAGAIN: all read */
	}
}

/* 32 lowercase hex: 16 random per process, then a counter. */
static void
new_id(char *id)
{
	uint8_t rnd[8];
	char buf[TQ_ID_LEN + 1];
	size_t i;

	if (id_pid != getpid()) {
		if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
			uint64_t x = (uint64_t)getpid() << 32 ^ (uint64_t)now_ms() ^
			    (uint64_t)time(NULL) << 20;
			memcpy(rnd, &x, sizeof rnd);
		}
		for (i = 0; i < sizeof rnd; i++)
			snprintf(id_prefix + 2 * i, 3, "%02x", rnd[i]);
		id_pid = getpid();
		id_counter = 0;
	}
	snprintf(buf, sizeof buf, "%s%016llx", id_prefix,
	    (unsigned long long)++id_counter);
	memcpy(id, buf, TQ_ID_LEN);
}

/* The options array: 0, or -1 with an exception thrown. */
static int
parse_options(HashTable *opts, int64_t *delay, int32_t *tries,
    const char **queue, size_t *qlen)
{
	zend_string *key;
	zval *v;

	if (opts == NULL)
		return 0;
	ZEND_HASH_FOREACH_STR_KEY_VAL(opts, key, v) {
		ZVAL_DEREF(v);
		if (key == NULL) {
			zend_argument_value_error(2, "must have string keys");
			return -1;
		}
		if (zend_string_equals_literal(key, "delay_ms")) {
			if (Z_TYPE_P(v) != IS_LONG) {
				zend_type_error("pfpm_task_deliver(): Option \"delay_ms\" must be of type int, %s given",
				    zend_zval_type_name(v));
				return -1;
			}
			if (Z_LVAL_P(v) < 0) {
				zend_argument_value_error(2, "option \"delay_ms\" must be greater than or equal to 0");
				return -1;
			}
			*delay = (int64_t)Z_LVAL_P(v);
		} else if (zend_string_equals_literal(key, "tries")) {
			if (Z_TYPE_P(v) != IS_LONG) {
				zend_type_error("pfpm_task_deliver(): Option \"tries\" must be of type int, %s given",
				    zend_zval_type_name(v));
				return -1;
			}
			if (Z_LVAL_P(v) < 1 || Z_LVAL_P(v) > INT32_MAX) {
				zend_argument_value_error(2, "option \"tries\" must be between 1 and %d",
				    INT32_MAX);
				return -1;
			}
			*tries = (int32_t)Z_LVAL_P(v);
		} else if (zend_string_equals_literal(key, "queue")) {
			if (Z_TYPE_P(v) != IS_STRING) {
				zend_type_error("pfpm_task_deliver(): Option \"queue\" must be of type string, %s given",
				    zend_zval_type_name(v));
				return -1;
			}
			if (Z_STRLEN_P(v) == 0 || Z_STRLEN_P(v) > TQ_QUEUE_MAX) {
				zend_argument_value_error(2, "option \"queue\" must be 1 to %d bytes long",
				    TQ_QUEUE_MAX);
				return -1;
			}
			*queue = Z_STRVAL_P(v);
			*qlen = Z_STRLEN_P(v);
		} else {
			zend_argument_value_error(2, "unknown option \"%s\"",
			    ZSTR_VAL(key));
			return -1;
		}
	} ZEND_HASH_FOREACH_END();
	return 0;
}

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_MASK_EX(arginfo_deliver, 0, 1, MAY_BE_STRING | MAY_BE_FALSE)
	ZEND_ARG_TYPE_INFO(0, payload, IS_STRING, 0)
	ZEND_ARG_TYPE_INFO_WITH_DEFAULT_VALUE(0, options, IS_ARRAY, 0, "[]")
ZEND_END_ARG_INFO()

/*
 * pfpm_task_deliver(string $payload, array $options = []): string|false.
 * The id at once; the task is durable when task_client_sync() returns.
 */
static PHP_FUNCTION(pfpm_task_deliver)
{
	const struct worker_ctx *w = worker_context();
	const struct sb_pool *sp;
	zend_string *payload;
	HashTable *opts = NULL;
	struct tq_deliver d;
	struct tq_hdr h;
	struct iovec iov[4];
	const char *queue = "default";
	size_t qlen = sizeof "default" - 1;
	uint64_t unstored, busy;
	int64_t delay = 0;
	int32_t tries = 1;
	int attempt;

	ZEND_PARSE_PARAMETERS_START(1, 2)
		Z_PARAM_STR(payload)
		Z_PARAM_OPTIONAL
		Z_PARAM_ARRAY_HT(opts)
	ZEND_PARSE_PARAMETERS_END();
	if (parse_options(opts, &delay, &tries, &queue, &qlen) == -1)
		RETURN_THROWS();
	if (w == NULL || w->pool->task_workers == 0) {
		/* Logged, not a PHP warning: frameworks turn those into exceptions. */
		limited("task queue: task refused: pool %s has no task queue (task_workers = 0)",
		    w != NULL ? w->pool->name : "?");
		RETURN_FALSE;
	}
	if ((int64_t)ZSTR_LEN(payload) > w->pool->task_max_payload) {
		limited("task queue: task refused: payload of %zu bytes exceeds task_max_payload (%lld)",
		    ZSTR_LEN(payload), (long long)w->pool->task_max_payload);
		RETURN_FALSE;
	}
	sp = sb_pool((size_t)w->pool_index);
	/*
	 * The master's TQ_STORED frames are read now and then, not at every
	 * deliver (a read is a system call): when many are out, or when the
	 * queue looks full with them counted.
	 */
	for (attempt = 0; attempt < 2; attempt++) {
		unstored = tc.sent - tc.stored - tc.refused;
		busy = sp->tq_queued + sp->tq_running + unstored + recent_stored(0);
		if (tc.fd == -1 || attempt > 0 || (unstored < 256 &&
		    (w->pool->task_queue_max == 0 ||
		    busy < (uint64_t)w->pool->task_queue_max)))
			break;
		conn_input();
	}
	if (w->pool->task_queue_max > 0 &&
	    busy >= (uint64_t)w->pool->task_queue_max) {
		limited("task queue: task refused: the queue is full (%llu queued, running or unconfirmed; task_queue_max %d)",
		    (unsigned long long)busy, w->pool->task_queue_max);
		RETURN_FALSE;
	}

	memset(&d, 0, sizeof d);
	new_id(d.id);
	d.delay_ms = delay;
	d.tries = tries;
	memset(&h, 0, sizeof h);
	h.type = TQ_DELIVER;
	h.qlen = (uint8_t)qlen;
	h.len = (uint32_t)(sizeof d + qlen + ZSTR_LEN(payload));
	/* A broken connection (reload: the master re-executed) is retried once. */
	for (attempt = 0; attempt < 2; attempt++) {
		if (conn_open() == -1) {
			limited("task queue: task refused: cannot connect to the master: %s",
			    strerror(errno));
			RETURN_FALSE;
		}
		iov[0] = (struct iovec){ &h, sizeof h };
		iov[1] = (struct iovec){ &d, sizeof d };
		iov[2] = (struct iovec){ (void *)queue, qlen };
		iov[3] = (struct iovec){ ZSTR_VAL(payload), ZSTR_LEN(payload) };
		if (send_iov(iov, 4) == 0) {
			tc.sent++;
			iov[0] = (struct iovec){ &h, sizeof h };
			iov[1] = (struct iovec){ &d, sizeof d };
			iov[2] = (struct iovec){ (void *)queue, qlen };
			iov[3] = (struct iovec){ ZSTR_VAL(payload), ZSTR_LEN(payload) };
			keep_frame(iov, 4);
			RETURN_STRINGL(d.id, TQ_ID_LEN);
		}
		if (errno == ETIMEDOUT) {
			limited("task queue: task refused: the master is not reading (write blocked %d ms)",
			    WRITE_TIMEOUT_MS);
			RETURN_FALSE;
		}
		if (errno != EPIPE && errno != ECONNRESET && errno != ENOTCONN) {
			limited("task queue: task refused: write to the master: %s",
			    strerror(errno));
			RETURN_FALSE;
		}
	}
	limited("task queue: task refused: the master closed the connection");
	RETURN_FALSE;
}

/*
 * Wait until the master stored (or refused) every deliver of this
 * process, SYNC_TIMEOUT_MS at most.  No system call when none is out.
 */
void
task_client_sync(void)
{
	struct pollfd pfd;
	int64_t deadline, left;

	if ((tc.fd == -1 && kept_count() == 0) ||
	    (tc.fd != -1 && (tc.sent == tc.stored + tc.refused ||
	    tc.sent == tc.gave_up)))
		return;
	deadline = now_ms() + SYNC_TIMEOUT_MS;
	while (tc.fd == -1 ? kept_count() > 0 : tc.sent != tc.stored + tc.refused) {
		if ((left = deadline - now_ms()) <= 0) {
			uint64_t out = tc.fd == -1 ? kept_count() :
			    tc.sent - tc.stored - tc.refused;

			log_error("task queue: %llu delivered task(s) not confirmed by the master after %d ms",
			    (unsigned long long)out, SYNC_TIMEOUT_MS);
			tc.gave_up = tc.sent;	/* not waited for again */
			if (tc.fd == -1) {
				tc.lost += out;
				keep_clear();
			}
			break;
		}
		/* A reload: the next master listens on the same socket. */
		if (tc.fd == -1 && conn_open() == -1) {
			poll(NULL, 0, left < 10 ? (int)left : 10);
			continue;
		}
		pfd.fd = tc.fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)left) == -1) {
			if (errno == EINTR)
				continue;
			log_syserr("task queue: poll");
			break;
		}
		if (pfd.revents != 0)
			conn_input();
	}
	if (tc.fd != -1 && tc.refused > tc.refused_logged) {
		log_error("task queue: the master refused %llu delivered task(s) (storage error)",
		    (unsigned long long)(tc.refused - tc.refused_logged));
		tc.refused_logged = tc.refused;
	}
}

/*
 * Task worker: a connection with credit sent, and the next task.  NULL
 * when the process must stop.
 */
static struct ptask *
next_task(void)
{
	struct pollfd pfd[2];
	struct ptask *t;
	int timeout, n, sfd = worker_signal_fd();
	bool warned = false;

	for (;;) {
		if (worker_must_stop())
			return NULL;
		if (tc.fd != -1 && tc.pid != getpid())
			conn_close("forked");
		timeout = -1;
		if (tc.fd == -1 && conn_open() == -1) {
			if (!warned)
				log_warn("task queue: cannot connect to the master: %s; retrying",
				    strerror(errno));
			warned = true;
			timeout = 1000;
		} else if (!tc.ready_sent) {
			if (send_ready(CREDITS) == 0)
				tc.ready_sent = true;
			else {
				log_warn("task queue: cannot ask the master for tasks: %s",
				    strerror(errno));
				conn_close("ready refused");
				timeout = 1000;
			}
		}
		if (tc.head != NULL) {
			t = tc.head;
			tc.head = t->next;
			if (tc.head == NULL)
				tc.tail = NULL;
			tc.nprefetched--;
			return t;
		}
		n = 0;
		pfd[n].fd = sfd;
		pfd[n++].events = POLLIN;
		if (tc.fd != -1) {
			pfd[n].fd = tc.fd;
			pfd[n++].events = POLLIN;
		}
		if (poll(pfd, (nfds_t)n, timeout) == -1) {
			if (errno != EINTR)
				fatal("poll");
			continue;
		}
		if (tc.fd != -1 && pfd[n - 1].fd == tc.fd &&
		    pfd[n - 1].revents != 0 && conn_input() == -1)
			log_notice("task queue: reconnecting to the master");
	}
}

/* A fatal error (or memory exhausted, or timeout) ended the task. */
static void
fail_fatal(struct ptask *t)
{
	zend_string *m = PG(last_error_message);
	char *text;

	xasprintf(&text, "Fatal error: %.*s", m != NULL ?
	    (int)(ZSTR_LEN(m) > FAIL_TEXT_MAX ? FAIL_TEXT_MAX : ZSTR_LEN(m)) : 7,
	    m != NULL ? ZSTR_VAL(m) : "unknown");
	log_error("task %.*s (queue %s, attempt %d of %d): %s; replacing this process",
	    TQ_ID_LEN, t->h.id, t->queue, (int)t->h.attempt, (int)t->h.tries,
	    text);
	task_client_sync();
	report(TQ_FAIL, t->h.id, text, 0);
	free(text);
	free(t->payload);
	free(t);
}

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_wait, 0, 1, _IS_BOOL, 0)
	ZEND_ARG_TYPE_INFO(0, handler, IS_CALLABLE, 0)
ZEND_END_ARG_INFO()

/*
 * pfpm_task_wait(callable $handler): bool.  Runs the next task; false when
 * the process must stop (QUIT, task.max_requests, worker.max_memory).
 */
static PHP_FUNCTION(pfpm_task_wait)
{
	const struct worker_ctx *w = worker_context();
	zend_fcall_info fci;
	zend_fcall_info_cache fcc;
	struct sb_slot *s;
	struct ptask *t;
	zval params[2];
	char *fail = NULL;
	uint64_t cpu_u0, cpu_s0, u, sy;
	bool bailed;
	bool stop;

	ZEND_PARSE_PARAMETERS_START(1, 1)
		Z_PARAM_FUNC(fci, fcc)
	ZEND_PARSE_PARAMETERS_END();
	if (w == NULL || w->role != ROLE_TASK || sapi_current() != NULL) {
		zend_throw_error(NULL, "pfpm_task_wait() can only be called in a task process");
		RETURN_THROWS();
	}
	s = w->slot;
	if (!s->ready) {
		sapi_worker_booted();
		worker_idle();
	}
	zend_unset_timeout();
	if ((t = next_task()) == NULL)
		RETURN_FALSE;

	s->req_start_us = sb_now_us();
	s->req_wall_us = sb_wall_us();
	snprintf(s->method, sizeof s->method, "TASK");
	snprintf(s->uri, sizeof s->uri, "%s", t->queue);
	snprintf(s->script, sizeof s->script, "%.*s", TQ_ID_LEN, t->h.id);
	s->query[0] = s->user[0] = '\0';
	s->content_length = t->len;
	s->state = SB_RUNNING;
	sb_cpu_us(&cpu_u0, &cpu_s0);

	ZVAL_STRINGL(&params[0], t->payload, t->len);
	array_init(&params[1]);
	add_assoc_stringl(&params[1], "id", t->h.id, TQ_ID_LEN);
	add_assoc_long(&params[1], "attempt", t->h.attempt);
	add_assoc_long(&params[1], "tries", t->h.tries);
	add_assoc_string(&params[1], "queue", t->queue);
	add_assoc_double(&params[1], "created", (double)t->h.created_ms / 1000.0);
	bailed = php_call_worker(&fci, &fcc, 2, params, true);
	zval_ptr_dtor(&params[0]);
	zval_ptr_dtor(&params[1]);
	if (bailed) {
		/*
		 * Reported as a failure (retry with backoff, or dead letter
		 * after its tries): the master would otherwise only see the
		 * connection close, and a task that kills every worker would
		 * respawn them in a loop.
		 */
		fail_fatal(t);
		sapi_worker_fatal();
		zend_clear_exception();
		zend_bailout();
	}
	/* Returned, or exit()/die(): done; an exception: failed. */
	if ((fail = php_take_exception(FAIL_TEXT_MAX)) != NULL)
		log_warn("task %.*s (queue %s, attempt %d of %d) failed: %s",
		    TQ_ID_LEN, t->h.id, t->queue, (int)t->h.attempt,
		    (int)t->h.tries, fail);

	/* Tasks this task delivered are stored before it is acknowledged. */
	task_client_sync();
	sb_cpu_us(&u, &sy);
	s->last_cpu_user_us = u - cpu_u0;
	s->last_cpu_sys_us = sy - cpu_s0;
	s->last_cpu_us = s->last_cpu_user_us + s->last_cpu_sys_us;
	sb_run_done(s, zend_memory_peak_usage(1), zend_memory_usage(1));
	zend_memory_reset_peak_usage();
	tasks_run++;

	if (w->pool->task_max_requests > 0 &&
	    tasks_run >= (uint64_t)w->pool->task_max_requests)
		worker_retire(SB_RECYCLE_MAX_REQUESTS);
	else if (w->pool->worker_max_memory > 0 &&
	    (int64_t)zend_memory_usage(1) > w->pool->worker_max_memory)
		worker_retire(SB_RECYCLE_MAX_MEMORY);
	stop = w->slot->retiring || worker_must_stop();
	if (report(fail != NULL ? TQ_FAIL : TQ_DONE, t->h.id, fail,
	    stop ? 0 : 1) == -1)
		log_warn("task %.*s: cannot report to the master (%s): it will run again",
		    TQ_ID_LEN, t->h.id, strerror(errno));
	free(fail);
	free(t->payload);
	free(t);
	RETURN_BOOL(!stop);
}

static const zend_function_entry functions[] = {
	ZEND_FE(pfpm_task_deliver, arginfo_deliver)
	ZEND_FE(pfpm_task_wait, arginfo_wait)
	ZEND_FE_END
};

const zend_function_entry *
php_task_functions(void)
{
	return functions;
}
