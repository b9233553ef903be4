/*
 * Unit tests for src/fcgi.c, driven over a socketpair(): the test side
 * writes raw FastCGI records with its own small encoder and parses what
 * fcgi.c answers.  Hostile input must give -1: never a crash or a hang
 * (check's per-test timeout in fork mode, alarm() with CK_FORK=no).
 */
#include "pfpm.h"

#include <sys/socket.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fcgi_peer.h"

static void
expect_end(int fd, int id, long app_status, int proto_status)
{
	struct record r;
	unsigned char *b;

	ck_assert_int_eq(read_rec(fd, &r), 0);
	ck_assert_int_eq(r.version, 1);
	ck_assert_int_eq(r.type, T_END_REQUEST);
	ck_assert_int_eq(r.id, id);
	ck_assert_uint_eq(r.clen, 8);
	b = r.content;
	ck_assert_int_eq((long)((unsigned long)b[0] << 24 | b[1] << 16 |
	    b[2] << 8 | b[3]), app_status);
	ck_assert_int_eq(b[4], proto_status);
	rec_free(&r);
}

/* Nothing more is waiting on the test side (an end of file is no data). */
static void
expect_silence(int fd, int ms)
{
	char c;

	ck_assert_msg(!wait_readable(fd, ms) ||
	    recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0,
	    "unexpected data from fcgi.c");
}

/* ---------------------------------------------------------------------- */
/* Fixture: a connection over a socketpair. */

static int sv[2] = { -1, -1 };	/* sv[0]: fcgi.c's end, sv[1]: ours */
static struct fcgi_conn *conn;
static pid_t helper = -1;

/*
 * What a test builds lives here and is freed by teardown(), so that a
 * failed assertion (which leaves the test early) leaks nothing under
 * CK_FORK=no valgrind runs: b is the wire, s a params stream.
 */
static struct buf b, s, out;
static void *scratch[4];

static void *
tmp_alloc(size_t len)
{
	size_t i;

	for (i = 0; i < sizeof scratch / sizeof scratch[0]; i++)
		if (scratch[i] == NULL)
			return scratch[i] = xmalloc(len);
	ck_abort_msg("tmp_alloc: too many buffers");
	return NULL;
}

static void
setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	alarm(20);	/* no test may hang, even with CK_FORK=no */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	conn = fcgi_conn_new(sv[0]);
	ck_assert_ptr_nonnull(conn);
	ck_assert_int_eq(fcgi_conn_fd(conn), sv[0]);
}

static void
teardown(void)
{
	fcgi_conn_free(conn);	/* closes sv[0] */
	conn = NULL;
	buf_free(&b);
	buf_free(&s);
	buf_free(&out);
	for (size_t i = 0; i < sizeof scratch / sizeof scratch[0]; i++) {
		free(scratch[i]);
		scratch[i] = NULL;
	}
	if (sv[1] != -1)
		close(sv[1]);
	sv[0] = sv[1] = -1;
	if (helper > 0) {
		kill(helper, SIGKILL);
		waitpid(helper, NULL, 0);
	}
	helper = -1;
	alarm(0);
}

/* Send everything; big inputs go through a child so nobody blocks. */
static void
send_buf(const struct buf *w)
{
	size_t off = 0;
	ssize_t n;

	if (w->len > 65536) {
		ck_assert_int_eq(helper, -1);
		helper = fork();
		ck_assert_int_ne(helper, -1);
		if (helper != 0)
			return;
		close(sv[0]);
		while (off < w->len) {
			n = write(sv[1], w->p + off, w->len - off);
			if (n <= 0)
				_exit(1);
			off += (size_t)n;
		}
		_exit(0);
	}
	while (off < w->len) {
		n = write(sv[1], w->p + off, w->len - off);
		ck_assert_int_gt(n, 0);
		off += (size_t)n;
	}
}

/* Send and close our end: the web server went away after that. */
static void
send_and_close(const struct buf *w)
{
	send_buf(w);
	close(sv[1]);
	sv[1] = -1;
}

static void
expect_request(void)
{
	char *cause = NULL;
	int rc = fcgi_read_request(conn, &cause);

	ck_assert_msg(rc == 0, "fcgi_read_request: %d (%s)", rc,
	    cause != NULL ? cause : "");
	ck_assert_ptr_null(cause);
	ck_assert(fcgi_has_request(conn));
}

static void
expect_rejected(void)
{
	char *cause = NULL;
	int rc = fcgi_read_request(conn, &cause);

	ck_assert_msg(rc == -1, "fcgi_read_request returned %d", rc);
	ck_assert_msg(cause != NULL && *cause != '\0', "no cause given");
	free(cause);
}

/* Read the whole body with reads of `step` bytes; -1 if it was cut. */
static ssize_t
read_body(char *dst, size_t cap, size_t step)
{
	size_t got = 0;
	ssize_t n;

	for (;;) {
		size_t want = step < cap - got ? step : cap - got;
		ck_assert_uint_gt(want, 0);
		n = fcgi_read_body(conn, dst + got, want);
		if (n == 0)
			return (ssize_t)got;
		if (n < 0)
			return -1;
		ck_assert_uint_le((size_t)n, want);
		got += (size_t)n;
	}
}

/* ---------------------------------------------------------------------- */
/* Requests. */

START_TEST(test_normal_request)
{
	const char *name, *value;
	size_t nlen, vlen;
	char body[64];
	ssize_t n;

	nv(&s, "SCRIPT_FILENAME", "/srv/www/index.php");
	nv(&s, "REQUEST_METHOD", "POST");
	nv(&s, "QUERY_STRING", "");
	nv(&s, "CONTENT_LENGTH", "11");
	nv(&s, "HTTP_X_BINARY", "a=b;c");
	begin(&b, 1, ROLE_RESPONDER, 0);
	/* 7-byte records cut through names, values and lengths; padding. */
	params(&b, 1, &s, 7, 3);
	rec(&b, T_STDIN, 1, "hello ", 6, 2);
	rec(&b, T_STDIN, 1, "wor", 3, 0);
	rec(&b, T_STDIN, 1, "ld", 2, 7);
	rec(&b, T_STDIN, 1, NULL, 0, 0);
	send_buf(&b);

	expect_request();
	/* php-fpm's environment starts with FCGI_ROLE; then ours, in order. */
	ck_assert_uint_eq(fcgi_param_count(conn), 1 + 5);
	ck_assert_str_eq(fcgi_param(conn, "FCGI_ROLE", 9), "RESPONDER");
	ck_assert_str_eq(fcgi_param(conn, "SCRIPT_FILENAME", 15),
	    "/srv/www/index.php");
	ck_assert_str_eq(fcgi_param(conn, "REQUEST_METHOD", 14), "POST");
	ck_assert_str_eq(fcgi_param(conn, "QUERY_STRING", 12), "");
	ck_assert_str_eq(fcgi_param(conn, "CONTENT_LENGTH", 14), "11");
	ck_assert_str_eq(fcgi_param(conn, "HTTP_X_BINARY", 13), "a=b;c");
	ck_assert_ptr_null(fcgi_param(conn, "REQUEST_URI", 11));
	ck_assert_ptr_null(fcgi_param(conn, "REQUEST", 7));	/* prefix */
	ck_assert_ptr_null(fcgi_param(conn, "SCRIPT_FILENAMEX", 16));
	fcgi_param_at(conn, 0, &name, &nlen, &value, &vlen);
	ck_assert_str_eq(name, "FCGI_ROLE");
	fcgi_param_at(conn, 1, &name, &nlen, &value, &vlen);
	ck_assert_uint_eq(nlen, 15);
	ck_assert_int_eq(memcmp(name, "SCRIPT_FILENAME", 15), 0);
	ck_assert_uint_eq(vlen, 18);
	fcgi_param_at(conn, 5, &name, &nlen, &value, &vlen);
	ck_assert_str_eq(name, "HTTP_X_BINARY");
	ck_assert_str_eq(value, "a=b;c");

	ck_assert(!fcgi_aborted(conn));
	n = read_body(body, sizeof body, 4);
	ck_assert_int_eq(n, 11);
	ck_assert_int_eq(memcmp(body, "hello world", 11), 0);
	/* The end of the body stays the end. */
	ck_assert_int_eq(fcgi_read_body(conn, body, sizeof body), 0);
	ck_assert_int_eq(fcgi_read_body(conn, body, sizeof body), 0);
	ck_assert(!fcgi_aborted(conn));
	ck_assert(!fcgi_wants_keep(conn));	/* not asked for */
	ck_assert(!fcgi_request_ended(conn));
}
END_TEST

/* A request with no params at all and an empty body. */
START_TEST(test_empty_body_and_params)
{
	char body[8];

	begin(&b, 7, ROLE_RESPONDER, 0);
	rec(&b, T_PARAMS, 7, NULL, 0, 0);	/* no params at all */
	rec(&b, T_STDIN, 7, NULL, 0, 0);
	send_buf(&b);
	expect_request();
	ck_assert_uint_eq(fcgi_param_count(conn), 1);	/* FCGI_ROLE */
	ck_assert_ptr_null(fcgi_param(conn, "REQUEST_METHOD", 14));
	ck_assert_int_eq(fcgi_read_body(conn, body, sizeof body), 0);
}
END_TEST

/* Four-byte lengths: long values and names, and the wide form of a short one. */
START_TEST(test_long_lengths)
{
	char v300[301], v127[128], v128[129], n200[201];
	const char *v;

	memset(v300, 'v', 300);
	v300[300] = '\0';
	v300[0] = 'A';
	v300[299] = 'Z';
	memset(v127, 'x', 127);
	v127[127] = '\0';
	memset(v128, 'y', 128);
	v128[128] = '\0';
	memset(n200, 'N', 200);
	n200[200] = '\0';
	nv(&s, "HTTP_COOKIE", v300);
	nv(&s, "V127", v127);
	nv(&s, "V128", v128);
	nv(&s, n200, "long-name");
	nv2(&s, "WIDE", 4, "short", 5, true);
	begin(&b, 1, ROLE_RESPONDER, 0);
	params(&b, 1, &s, 100, 0);
	rec(&b, T_STDIN, 1, NULL, 0, 0);
	send_buf(&b);

	expect_request();
	ck_assert_uint_eq(fcgi_param_count(conn), 1 + 5);
	v = fcgi_param(conn, "HTTP_COOKIE", 11);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(strlen(v), 300);
	ck_assert_str_eq(v, v300);
	ck_assert_str_eq(fcgi_param(conn, "V127", 4), v127);
	ck_assert_str_eq(fcgi_param(conn, "V128", 4), v128);
	ck_assert_str_eq(fcgi_param(conn, n200, 200), "long-name");
	ck_assert_str_eq(fcgi_param(conn, "WIDE", 4), "short");
}
END_TEST

/* Exactly 1 MiB of params is allowed (through a writer child). */
START_TEST(test_params_one_mib)
{
	size_t vlen = 1024 * 1024 - (1 + 4 + 3);
	char *big = tmp_alloc(vlen);
	const char *v;

	memset(big, 'q', vlen);
	nv2(&s, "BIG", 3, big, vlen, false);
	ck_assert_uint_eq(s.len, 1024 * 1024);
	begin(&b, 1, ROLE_RESPONDER, 0);
	params(&b, 1, &s, 65535, 0);
	rec(&b, T_STDIN, 1, NULL, 0, 0);
	send_buf(&b);
	expect_request();
	v = fcgi_param(conn, "BIG", 3);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(strlen(v), vlen);
}
END_TEST

START_TEST(test_param_set)
{
	const char *name, *value;
	size_t nlen, vlen, i;
	bool seen = false;

	simple_request(&b, 1, 0, "/a", "");
	send_buf(&b);
	expect_request();
	ck_assert_uint_eq(fcgi_param_count(conn), 1 + 3);

	/* Replace a received param (twice: the owned copy is replaced too). */
	fcgi_param_set(conn, "REQUEST_URI", "/rewritten");
	ck_assert_str_eq(fcgi_param(conn, "REQUEST_URI", 11), "/rewritten");
	fcgi_param_set(conn, "REQUEST_URI", "/again");
	ck_assert_str_eq(fcgi_param(conn, "REQUEST_URI", 11), "/again");
	ck_assert_uint_eq(fcgi_param_count(conn), 1 + 3);

	/* Add one. */
	fcgi_param_set(conn, "PATH_INFO", "/extra");
	ck_assert_uint_eq(fcgi_param_count(conn), 1 + 4);
	ck_assert_str_eq(fcgi_param(conn, "PATH_INFO", 9), "/extra");
	fcgi_param_set(conn, "PATH_INFO", "/extra2");
	ck_assert_str_eq(fcgi_param(conn, "PATH_INFO", 9), "/extra2");
	ck_assert_uint_eq(fcgi_param_count(conn), 1 + 4);

	/* Remove one, then remove one that does not exist. */
	fcgi_param_set(conn, "REQUEST_METHOD", NULL);
	ck_assert_ptr_null(fcgi_param(conn, "REQUEST_METHOD", 14));
	ck_assert_uint_eq(fcgi_param_count(conn), 1 + 3);
	fcgi_param_set(conn, "NOT_THERE", NULL);
	ck_assert_uint_eq(fcgi_param_count(conn), 1 + 3);
	/* Remove an owned (replaced) one. */
	fcgi_param_set(conn, "REQUEST_URI", NULL);
	ck_assert_ptr_null(fcgi_param(conn, "REQUEST_URI", 11));
	ck_assert_uint_eq(fcgi_param_count(conn), 1 + 2);

	/* The survivors are intact and enumerable. */
	ck_assert_str_eq(fcgi_param(conn, "CONTENT_LENGTH", 14), "0");
	for (i = 0; i < fcgi_param_count(conn); i++) {
		fcgi_param_at(conn, i, &name, &nlen, &value, &vlen);
		ck_assert_uint_eq(strlen(value), vlen);
		if (nlen == 9 && memcmp(name, "PATH_INFO", 9) == 0)
			seen = true;
	}
	ck_assert(seen);
}
END_TEST

/* Many params: the table grows past its first allocation. */
START_TEST(test_many_params)
{
	char name[32], value[32];
	int i;

	for (i = 0; i < 500; i++) {
		snprintf(name, sizeof name, "HTTP_X_%d", i);
		snprintf(value, sizeof value, "value-%d", i * 7);
		nv(&s, name, value);
	}
	nv2(&s, "", 0, "ignored", 7, false);	/* empty name: skipped */
	begin(&b, 1, ROLE_RESPONDER, 0);
	params(&b, 1, &s, 1000, 0);
	rec(&b, T_STDIN, 1, NULL, 0, 0);
	send_buf(&b);
	expect_request();
	ck_assert_uint_eq(fcgi_param_count(conn), 1 + 500);
	for (i = 0; i < 500; i += 37) {
		snprintf(name, sizeof name, "HTTP_X_%d", i);
		snprintf(value, sizeof value, "value-%d", i * 7);
		ck_assert_str_eq(fcgi_param(conn, name, strlen(name)), value);
	}
}
END_TEST

/* A big body in full-size records, read with a big and a small buffer. */
START_TEST(test_large_body)
{
	size_t len = 300000, i;
	char *data = tmp_alloc(len), *got = tmp_alloc(len + 1);

	for (i = 0; i < len; i++)
		data[i] = (char)('a' + (i * 7 + i / 251) % 26);
	nv(&s, "CONTENT_LENGTH", "300000");
	begin(&b, 1, ROLE_RESPONDER, 0);
	params(&b, 1, &s, 4096, 0);
	stdin_recs(&b, 1, data, len, 65535, 5);
	send_buf(&b);
	expect_request();
	ck_assert_int_eq(read_body(got, len + 1, 70000), (ssize_t)len);
	ck_assert_int_eq(memcmp(got, data, len), 0);
}
END_TEST

/* Output: small and >64 KiB writes, then the empty STDOUT and END_REQUEST. */
START_TEST(test_output)
{
	size_t big = 200000, i;
	char *data = tmp_alloc(big);
	struct record r;
	int status;
	bool empty_seen = false;

	for (i = 0; i < big; i++)
		data[i] = (char)(i * 31 + i / 65535);
	simple_request(&b, 0x1234, 0, "/out", "");
	send_buf(&b);
	expect_request();

	/* fcgi.c writes from a child while we read here. */
	helper = fork();
	ck_assert_int_ne(helper, -1);
	if (helper == 0) {
		int bad = 0;
		close(sv[1]);
		bad |= fcgi_write(conn, "Status: 200\r\n\r\n", 15);
		bad |= fcgi_write(conn, data, big);
		bad |= fcgi_write_stderr(conn, "warn", 4);
		bad |= fcgi_write(conn, "tail", 4);
		bad |= fcgi_end_request(conn, 42);
		if (!fcgi_request_ended(conn))
			bad = 1;
		/* After the end output goes nowhere (fastcgi_finish_request). */
		if (fcgi_write(conn, "late", 4) != 0)
			bad = 1;
		if (fcgi_flush(conn) != 0)
			bad = 1;
		if (fcgi_end_request(conn, 43) != 0)	/* once only */
			bad = 1;
		_exit(bad != 0);
	}
	for (;;) {
		ck_assert_int_eq(read_rec(sv[1], &r), 0);
		ck_assert_int_eq(r.version, 1);
		ck_assert_int_eq(r.id, 0x1234);
		if (r.type == T_STDERR) {
			ck_assert_uint_eq(r.clen, 4);
			ck_assert_int_eq(memcmp(r.content, "warn", 4), 0);
			/* Output before stderr was flushed first. */
			ck_assert_uint_eq(out.len, 15 + big);
		} else if (r.type == T_STDOUT) {
			ck_assert_msg(!empty_seen, "STDOUT after the empty one");
			if (r.clen == 0)
				empty_seen = true;
			buf_add(&out, r.content, r.clen);
		} else {
			ck_assert_int_eq(r.type, T_END_REQUEST);
			ck_assert_uint_eq(r.clen, 8);
			ck_assert_int_eq(memcmp(r.content, "\0\0\0\x2a\0", 5), 0);
			rec_free(&r);
			break;
		}
		rec_free(&r);
	}
	ck_assert(empty_seen);
	ck_assert_uint_eq(out.len, 15 + big + 4);
	ck_assert_int_eq(memcmp(out.p, "Status: 200\r\n\r\n", 15), 0);
	ck_assert_int_eq(memcmp(out.p + 15, data, big), 0);
	ck_assert_int_eq(memcmp(out.p + 15 + big, "tail", 4), 0);
	ck_assert_int_eq(waitpid(helper, &status, 0), helper);
	helper = -1;
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	expect_silence(sv[1], 100);
}
END_TEST

/* END_REQUEST's fields: the status and the id, END after an empty STDOUT. */
START_TEST(test_end_request_empty_output)
{
	struct record r;

	simple_request(&b, 3, 0, "/", "");
	send_buf(&b);
	expect_request();
	ck_assert_int_eq(fcgi_flush(conn), 0);	/* nothing to flush */
	ck_assert_int_eq(fcgi_end_request(conn, 0x01020304), 0);
	ck_assert_int_eq(read_rec(sv[1], &r), 0);
	ck_assert_int_eq(r.type, T_STDOUT);
	ck_assert_int_eq(r.id, 3);
	ck_assert_uint_eq(r.clen, 0);
	rec_free(&r);
	expect_end(sv[1], 3, 0x01020304, PS_REQUEST_COMPLETE);
	/* After the end: writes and flushes succeed and send nothing. */
	ck_assert_int_eq(fcgi_write(conn, "late", 4), 0);
	ck_assert_int_eq(fcgi_flush(conn), 0);
	ck_assert_int_eq(fcgi_end_request(conn, 5), 0);
	expect_silence(sv[1], 50);
}
END_TEST

/* fcgi_wants_keep(): the web server's FCGI_KEEP_CONN, body read or not. */
START_TEST(test_wants_keep)
{
	char body[16];

	simple_request(&b, 1, F_KEEP_CONN, "/", "abc");
	send_buf(&b);
	expect_request();
	ck_assert(fcgi_wants_keep(conn));
	ck_assert_int_eq(fcgi_read_body(conn, body, 2), 2);
	ck_assert(fcgi_wants_keep(conn));
	ck_assert_int_eq(read_body(body, sizeof body, 16), 1);
	ck_assert(fcgi_wants_keep(conn));
	ck_assert_int_eq(fcgi_end_request(conn, 0), 0);
	ck_assert(fcgi_wants_keep(conn));
}
END_TEST

START_TEST(test_wants_keep_not_asked)
{
	simple_request(&b, 1, 0, "/", "abc");
	send_buf(&b);
	expect_request();
	ck_assert(!fcgi_wants_keep(conn));
	ck_assert_int_eq(fcgi_finish_input(conn), 0);
	ck_assert(!fcgi_wants_keep(conn));
}
END_TEST

/*
 * The script did not read the body: fcgi_finish_input() skips the rest
 * of it, so that the next request on the kept connection parses.
 */
START_TEST(test_finish_input_unread_body)
{
	char body[64];

	begin(&b, 1, ROLE_RESPONDER, F_KEEP_CONN);
	nv(&s, "REQUEST_URI", "/first");
	params(&b, 1, &s, 4096, 0);
	stdin_recs(&b, 1, "0123456789abcdefghij", 20, 6, 3);
	simple_request(&b, 2, F_KEEP_CONN, "/second", "xyz");
	send_buf(&b);

	expect_request();
	ck_assert_str_eq(fcgi_param(conn, "REQUEST_URI", 11), "/first");
	ck_assert_int_eq(fcgi_read_body(conn, body, 4), 4);	/* partly read */
	ck_assert_int_eq(fcgi_end_request(conn, 0), 0);
	ck_assert(fcgi_wants_keep(conn));
	ck_assert_int_eq(fcgi_finish_input(conn), 0);
	ck_assert_int_eq(fcgi_finish_input(conn), 0);	/* idempotent */

	expect_request();
	ck_assert_str_eq(fcgi_param(conn, "REQUEST_URI", 11), "/second");
	ck_assert_int_eq(read_body(body, sizeof body, 64), 3);
	ck_assert_int_eq(memcmp(body, "xyz", 3), 0);
}
END_TEST

/* ... and fails when the body never ends: the connection cannot be kept. */
START_TEST(test_finish_input_cut)
{
	begin(&b, 1, ROLE_RESPONDER, F_KEEP_CONN);
	nv(&s, "REQUEST_URI", "/cut");
	params(&b, 1, &s, 4096, 0);
	rec(&b, T_STDIN, 1, "abc", 3, 0);
	send_buf(&b);
	shutdown(sv[1], SHUT_WR);	/* still reading the answer */
	expect_request();
	ck_assert_int_eq(fcgi_end_request(conn, 0), 0);
	ck_assert_int_eq(fcgi_finish_input(conn), -1);
	ck_assert(!fcgi_wants_keep(conn));
}
END_TEST

/* STDERR is buffered but never reordered with STDOUT. */
START_TEST(test_stderr_order)
{
	static const struct {
		int type;
		const char *data;
	} want[] = {
		{ T_STDERR, "E1" },
		{ T_STDOUT, "O1" },
		{ T_STDERR, "E2E3" },
		{ T_STDOUT, "O2" },
		{ T_STDOUT, "" },
	};
	struct record r;
	size_t i;

	simple_request(&b, 9, 0, "/", "");
	send_buf(&b);
	expect_request();
	ck_assert_int_eq(fcgi_write_stderr(conn, "E1", 2), 0);
	ck_assert_int_eq(fcgi_write(conn, "O1", 2), 0);
	ck_assert_int_eq(fcgi_write_stderr(conn, "E2", 2), 0);
	ck_assert_int_eq(fcgi_write_stderr(conn, "E3", 2), 0);
	ck_assert_int_eq(fcgi_write(conn, "O2", 2), 0);
	ck_assert_int_eq(fcgi_end_request(conn, 0), 0);
	for (i = 0; i < sizeof want / sizeof want[0]; i++) {
		ck_assert_int_eq(read_rec(sv[1], &r), 0);
		ck_assert_msg(r.type == want[i].type && r.id == 9 &&
		    r.clen == strlen(want[i].data) &&
		    memcmp(r.content, want[i].data, r.clen) == 0,
		    "record %zu: type %d '%s', want type %d '%s'", i, r.type,
		    (char *)r.content, want[i].type, want[i].data);
		rec_free(&r);
	}
	expect_end(sv[1], 9, 0, PS_REQUEST_COMPLETE);
	expect_silence(sv[1], 50);
}
END_TEST

/* A lot of STDERR: split into records, nothing lost, flushed at the end. */
START_TEST(test_stderr_large)
{
	size_t len = 50000, i;
	char *data = tmp_alloc(len);
	struct record r;

	for (i = 0; i < len; i++)
		data[i] = (char)('A' + i % 23);
	simple_request(&b, 2, 0, "/", "");
	send_buf(&b);
	expect_request();
	ck_assert_int_eq(fcgi_write_stderr(conn, data, len), 0);
	ck_assert_int_eq(fcgi_end_request(conn, 0), 0);
	for (;;) {
		ck_assert_int_eq(read_rec(sv[1], &r), 0);
		if (r.type != T_STDERR) {
			ck_assert_int_eq(r.type, T_STDOUT);
			ck_assert_uint_eq(r.clen, 0);
			rec_free(&r);
			break;
		}
		ck_assert_uint_gt(r.clen, 0);
		buf_add(&out, r.content, r.clen);
		rec_free(&r);
	}
	ck_assert_uint_eq(out.len, len);
	ck_assert_int_eq(memcmp(out.p, data, len), 0);
	expect_end(sv[1], 2, 0, PS_REQUEST_COMPLETE);
}
END_TEST

/* fcgi_linger_close(): the peer gets everything, then EOF, never a reset. */
START_TEST(test_linger_close)
{
	struct record r;
	char c;

	simple_request(&b, 1, 0, "/", "");
	send_buf(&b);
	expect_request();
	ck_assert_int_eq(fcgi_write(conn, "bye", 3), 0);
	ck_assert_int_eq(fcgi_end_request(conn, 0), 0);
	/* Data the web server sends late is read and dropped. */
	ck_assert_int_eq(write(sv[1], "late", 4), 4);
	shutdown(sv[1], SHUT_WR);
	fcgi_linger_close(conn);
	ck_assert_int_eq(fcgi_conn_fd(conn), -1);
	ck_assert_int_eq(read_rec(sv[1], &r), 0);
	ck_assert_int_eq(r.type, T_STDOUT);
	rec_free(&r);
	ck_assert_int_eq(read_rec(sv[1], &r), 0);
	rec_free(&r);
	expect_end(sv[1], 1, 0, PS_REQUEST_COMPLETE);
	ck_assert_int_eq(read(sv[1], &c, 1), 0);	/* EOF, not ECONNRESET */
	fcgi_linger_close(conn);			/* twice is harmless */
}
END_TEST

/* Two requests, one after the other, on one kept connection. */
START_TEST(test_two_requests_kept)
{
	char body[32];
	char *cause = NULL;

	simple_request(&b, 1, F_KEEP_CONN, "/first", "one");
	nv(&s, "REQUEST_URI", "/second");
	begin(&b, 2, ROLE_RESPONDER, F_KEEP_CONN);
	params(&b, 2, &s, 4096, 0);
	stdin_recs(&b, 2, "second body", 11, 4, 1);
	send_buf(&b);

	expect_request();
	ck_assert_str_eq(fcgi_param(conn, "REQUEST_URI", 11), "/first");
	ck_assert_int_eq(read_body(body, sizeof body, 32), 3);
	ck_assert_int_eq(memcmp(body, "one", 3), 0);
	ck_assert(fcgi_wants_keep(conn));
	ck_assert_int_eq(fcgi_write(conn, "1", 1), 0);
	ck_assert_int_eq(fcgi_end_request(conn, 0), 0);

	expect_request();
	ck_assert(!fcgi_request_ended(conn));
	ck_assert_uint_eq(fcgi_param_count(conn), 1 + 1);
	ck_assert_str_eq(fcgi_param(conn, "REQUEST_URI", 11), "/second");
	ck_assert_ptr_null(fcgi_param(conn, "REQUEST_METHOD", 14));
	ck_assert_int_eq(read_body(body, sizeof body, 5), 11);
	ck_assert_int_eq(memcmp(body, "second body", 11), 0);
	ck_assert(fcgi_wants_keep(conn));
	ck_assert_int_eq(fcgi_write(conn, "22", 2), 0);
	ck_assert_int_eq(fcgi_end_request(conn, 7), 0);

	/* The replies, in order, with their own ids. */
	{
		struct record r;
		ck_assert_int_eq(read_rec(sv[1], &r), 0);
		ck_assert_int_eq(r.type, T_STDOUT);
		ck_assert_int_eq(r.id, 1);
		ck_assert_uint_eq(r.clen, 1);
		rec_free(&r);
		ck_assert_int_eq(read_rec(sv[1], &r), 0);
		ck_assert_int_eq(r.type, T_STDOUT);
		ck_assert_uint_eq(r.clen, 0);
		rec_free(&r);
		expect_end(sv[1], 1, 0, PS_REQUEST_COMPLETE);
		ck_assert_int_eq(read_rec(sv[1], &r), 0);
		ck_assert_int_eq(r.type, T_STDOUT);
		ck_assert_int_eq(r.id, 2);
		ck_assert_uint_eq(r.clen, 2);
		ck_assert_int_eq(memcmp(r.content, "22", 2), 0);
		rec_free(&r);
		ck_assert_int_eq(read_rec(sv[1], &r), 0);
		ck_assert_uint_eq(r.clen, 0);
		rec_free(&r);
		expect_end(sv[1], 2, 7, PS_REQUEST_COMPLETE);
	}

	/* The web server closes the idle connection: 1, not an error. */
	close(sv[1]);
	sv[1] = -1;
	ck_assert_int_eq(fcgi_read_request(conn, &cause), 1);
	ck_assert_ptr_null(cause);
}
END_TEST

START_TEST(test_idle_close)
{
	char *cause = NULL;

	close(sv[1]);
	sv[1] = -1;
	ck_assert_int_eq(fcgi_read_request(conn, &cause), 1);
	ck_assert_ptr_null(cause);
	ck_assert(!fcgi_has_request(conn));
}
END_TEST

/* GET_VALUES is answered at once, with only the names asked for. */
START_TEST(test_get_values)
{
	struct record r;
	const unsigned char *p, *end;
	char *cause = NULL;
	int found = 0;

	nv(&s, "FCGI_MAX_CONNS", "");
	nv(&s, "FCGI_MAX_REQS", "");
	nv(&s, "FCGI_MPXS_CONNS", "");
	rec(&b, T_GET_VALUES, 0, s.p, s.len, 0);
	send_buf(&b);
	shutdown(sv[1], SHUT_WR);
	ck_assert_int_eq(fcgi_read_request(conn, &cause), 1);

	ck_assert_int_eq(read_rec(sv[1], &r), 0);
	ck_assert_int_eq(r.type, T_GET_VALUES_RESULT);
	ck_assert_int_eq(r.id, 0);
	p = r.content;
	end = p + r.clen;
	while (p < end) {
		size_t nl = *p++, vl;
		ck_assert_uint_lt(nl, 128);
		ck_assert(p < end);
		vl = *p++;
		ck_assert_uint_lt(vl, 128);
		ck_assert_uint_le(nl + vl, (size_t)(end - p));
		if (nl == 15 && memcmp(p, "FCGI_MPXS_CONNS", 15) == 0) {
			ck_assert_uint_eq(vl, 1);
			ck_assert_int_eq(p[nl], '0');
			found |= 1;
		} else if (nl == 14 && memcmp(p, "FCGI_MAX_CONNS", 14) == 0)
			found |= 2;
		else if (nl == 13 && memcmp(p, "FCGI_MAX_REQS", 13) == 0)
			found |= 4;
		else
			ck_abort_msg("unexpected name in GET_VALUES_RESULT");
		p += nl + vl;
	}
	ck_assert_int_eq(found, 7);
	rec_free(&r);
}
END_TEST

START_TEST(test_get_values_only_asked)
{
	struct record r;

	nv(&s, "FCGI_MPXS_CONNS", "");
	rec(&b, T_GET_VALUES, 0, s.p, s.len, 0);
	simple_request(&b, 1, 0, "/after", "");
	send_buf(&b);
	expect_request();
	ck_assert_str_eq(fcgi_param(conn, "REQUEST_URI", 11), "/after");
	ck_assert_int_eq(read_rec(sv[1], &r), 0);
	ck_assert_int_eq(r.type, T_GET_VALUES_RESULT);
	ck_assert_uint_eq(r.clen, 2 + 15 + 1);
	ck_assert_int_eq(memcmp(r.content + 2, "FCGI_MPXS_CONNS0", 16), 0);
	rec_free(&r);
}
END_TEST

/* A second BEGIN_REQUEST while the params of a first one arrive. */
START_TEST(test_cant_mpx_during_params)
{

	nv(&s, "REQUEST_URI", "/one");
	begin(&b, 1, ROLE_RESPONDER, 0);
	rec(&b, T_PARAMS, 1, s.p, 5, 0);
	begin(&b, 2, ROLE_RESPONDER, 0);
	rec(&b, T_PARAMS, 1, s.p + 5, s.len - 5, 0);
	rec(&b, T_PARAMS, 1, NULL, 0, 0);
	rec(&b, T_STDIN, 1, NULL, 0, 0);
	send_buf(&b);
	expect_request();
	ck_assert_str_eq(fcgi_param(conn, "REQUEST_URI", 11), "/one");
	expect_end(sv[1], 2, 0, PS_CANT_MPX_CONN);
}
END_TEST

/* ... and while its body is read: still refused, not silently dropped. */
START_TEST(test_cant_mpx_during_body)
{
	char body[16];

	nv(&s, "REQUEST_URI", "/one");
	begin(&b, 1, ROLE_RESPONDER, 0);
	params(&b, 1, &s, 4096, 0);
	rec(&b, T_STDIN, 1, "ab", 2, 0);
	begin(&b, 2, ROLE_RESPONDER, 0);
	rec(&b, T_STDIN, 1, "cd", 2, 0);
	rec(&b, T_STDIN, 1, NULL, 0, 0);
	send_buf(&b);
	expect_request();
	ck_assert_int_eq(read_body(body, sizeof body, 16), 4);
	ck_assert_int_eq(memcmp(body, "abcd", 4), 0);
	ck_assert_msg(wait_readable(sv[1], 500),
	    "no END_REQUEST(CANT_MPX_CONN) for a BEGIN_REQUEST received mid-body");
	expect_end(sv[1], 2, 0, PS_CANT_MPX_CONN);
}
END_TEST

START_TEST(test_unknown_role)
{

	begin(&b, 1, ROLE_AUTHORIZER, 0);
	begin(&b, 2, ROLE_FILTER, 0);
	begin(&b, 3, 0x7777, 0);
	simple_request(&b, 4, 0, "/ok", "");
	send_buf(&b);
	expect_request();
	ck_assert_str_eq(fcgi_param(conn, "REQUEST_URI", 11), "/ok");
	expect_end(sv[1], 1, 0, PS_UNKNOWN_ROLE);
	expect_end(sv[1], 2, 0, PS_UNKNOWN_ROLE);
	expect_end(sv[1], 3, 0, PS_UNKNOWN_ROLE);
	expect_silence(sv[1], 50);
}
END_TEST

START_TEST(test_unknown_type)
{
	struct record r;

	rec(&b, 42, 0, "hello", 5, 3);
	rec(&b, 200, 0, NULL, 0, 0);
	simple_request(&b, 1, 0, "/ok", "");
	send_buf(&b);
	expect_request();
	ck_assert_str_eq(fcgi_param(conn, "REQUEST_URI", 11), "/ok");
	ck_assert_int_eq(read_rec(sv[1], &r), 0);
	ck_assert_int_eq(r.type, T_UNKNOWN_TYPE);
	ck_assert_int_eq(r.id, 0);
	ck_assert_uint_eq(r.clen, 8);
	ck_assert_int_eq(r.content[0], 42);
	ck_assert_int_eq(memcmp(r.content + 1, "\0\0\0\0\0\0\0", 7), 0);
	rec_free(&r);
	ck_assert_int_eq(read_rec(sv[1], &r), 0);
	ck_assert_int_eq(r.type, T_UNKNOWN_TYPE);
	ck_assert_int_eq(r.content[0], 200);
	rec_free(&r);
}
END_TEST

/* ABORT_REQUEST on a kept connection while params arrive: next request. */
START_TEST(test_abort_during_params_kept)
{

	nv(&s, "REQUEST_URI", "/aborted");
	begin(&b, 1, ROLE_RESPONDER, F_KEEP_CONN);
	rec(&b, T_PARAMS, 1, s.p, s.len, 0);
	rec(&b, T_ABORT_REQUEST, 1, NULL, 0, 0);
	simple_request(&b, 2, F_KEEP_CONN, "/next", "");
	send_buf(&b);
	expect_request();
	ck_assert_str_eq(fcgi_param(conn, "REQUEST_URI", 11), "/next");
	ck_assert_uint_eq(fcgi_param_count(conn), 1 + 3);
	expect_end(sv[1], 1, 0, PS_REQUEST_COMPLETE);
}
END_TEST

/* Without keep-conn the aborted connection is over. */
START_TEST(test_abort_during_params)
{

	nv(&s, "REQUEST_URI", "/aborted");
	begin(&b, 1, ROLE_RESPONDER, 0);
	rec(&b, T_PARAMS, 1, s.p, s.len, 0);
	rec(&b, T_ABORT_REQUEST, 1, NULL, 0, 0);
	send_buf(&b);
	expect_rejected();
	expect_end(sv[1], 1, 0, PS_REQUEST_COMPLETE);
}
END_TEST

START_TEST(test_abort_mid_body)
{
	char body[16];

	nv(&s, "REQUEST_URI", "/upload");
	begin(&b, 1, ROLE_RESPONDER, F_KEEP_CONN);
	params(&b, 1, &s, 4096, 0);
	rec(&b, T_STDIN, 1, "abc", 3, 0);
	rec(&b, T_ABORT_REQUEST, 1, NULL, 0, 0);
	send_buf(&b);
	expect_request();
	ck_assert_int_eq(fcgi_read_body(conn, body, sizeof body), 3);
	ck_assert_int_eq(fcgi_read_body(conn, body, sizeof body), -1);
	ck_assert(fcgi_aborted(conn));
	ck_assert(!fcgi_wants_keep(conn));
	ck_assert_int_eq(fcgi_read_body(conn, body, sizeof body), -1);
	ck_assert_int_eq(fcgi_write(conn, "x", 1), -1);
	ck_assert_int_eq(fcgi_end_request(conn, 0), -1);
}
END_TEST

/*
 * The spec (5.4): after {FCGI_ABORT_REQUEST, R} the application answers
 * {FCGI_END_REQUEST, R, REQUEST_COMPLETE} -- mid-body as during params.
 */
START_TEST(test_abort_mid_body_answered)
{
	char body[16];

	nv(&s, "REQUEST_URI", "/upload");
	begin(&b, 1, ROLE_RESPONDER, F_KEEP_CONN);
	params(&b, 1, &s, 4096, 0);
	rec(&b, T_STDIN, 1, "abc", 3, 0);
	rec(&b, T_ABORT_REQUEST, 1, NULL, 0, 0);
	send_buf(&b);
	expect_request();
	ck_assert_int_eq(read_body(body, sizeof body, 16), -1);
	fcgi_end_request(conn, 0);	/* what the SAPI does next */
	ck_assert_msg(wait_readable(sv[1], 500),
	    "no END_REQUEST after ABORT_REQUEST received mid-body");
	for (;;) {
		struct record r;
		ck_assert_int_eq(read_rec(sv[1], &r), 0);
		ck_assert_int_eq(r.id, 1);
		if (r.type == T_END_REQUEST) {
			ck_assert_uint_eq(r.clen, 8);
			ck_assert_int_eq(r.content[4], PS_REQUEST_COMPLETE);
			rec_free(&r);
			break;
		}
		ck_assert_int_eq(r.type, T_STDOUT);
		rec_free(&r);
	}
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Hostile or broken peers: -1, no crash, no hang. */

START_TEST(test_bad_version)
{

	simple_request(&b, 1, 0, "/", "");
	b.p[0] = 2;
	send_buf(&b);
	expect_rejected();
}
END_TEST

START_TEST(test_bad_version_later)
{

	nv(&s, "A", "b");
	begin(&b, 1, ROLE_RESPONDER, 0);
	rec(&b, T_PARAMS, 1, s.p, s.len, 0);
	b.p[16] = 0;	/* version of the PARAMS record */
	rec(&b, T_PARAMS, 1, NULL, 0, 0);
	send_buf(&b);
	expect_rejected();
}
END_TEST

START_TEST(test_bad_version_in_body)
{
	char body[16];
	size_t at;

	nv(&s, "CONTENT_LENGTH", "6");
	begin(&b, 1, ROLE_RESPONDER, 0);
	params(&b, 1, &s, 4096, 0);
	rec(&b, T_STDIN, 1, "data", 4, 0);
	at = b.len;
	rec(&b, T_STDIN, 1, "zz", 2, 0);
	b.p[at] = 9;		/* version of the second STDIN record */
	rec(&b, T_STDIN, 1, NULL, 0, 0);
	send_buf(&b);
	expect_request();
	ck_assert_int_eq(fcgi_read_body(conn, body, sizeof body), 4);
	ck_assert_int_eq(fcgi_read_body(conn, body, sizeof body), -1);
	ck_assert(fcgi_aborted(conn));
}
END_TEST

START_TEST(test_params_too_big)
{
	size_t vlen = 1024 * 1024 - (1 + 4 + 3) + 1;
	char *big = tmp_alloc(vlen);

	memset(big, 'q', vlen);
	nv2(&s, "BIG", 3, big, vlen, false);
	begin(&b, 1, ROLE_RESPONDER, 0);
	params(&b, 1, &s, 65535, 0);
	send_buf(&b);
	expect_rejected();
}
END_TEST

START_TEST(test_params_endless)
{
	char chunk[65535];
	int i;

	memset(chunk, 0x7f, sizeof chunk);
	begin(&b, 1, ROLE_RESPONDER, 0);
	for (i = 0; i < 40; i++)		/* 2.6 MB, never terminated */
		rec(&b, T_PARAMS, 1, chunk, sizeof chunk, 0);
	send_buf(&b);
	expect_rejected();
}
END_TEST

/* Malformed name-value streams. */
static const struct {
	const char *what;
	const char *bytes;
	size_t len;
} bad_streams[] = {
	{ "name longer than the stream", "\x05\x01" "AB", 4 },
	{ "value longer than the stream", "\x01\x05" "AB", 4 },
	{ "value one byte short", "\x02\x03" "ABcd", 6 },
	{ "truncated 4-byte name length", "\x80\x00", 2 },
	{ "truncated 4-byte value length", "\x01\x80\x00", 3 },
	{ "huge 4-byte name length", "\xff\xff\xff\xff\x01" "AB", 7 },
	{ "huge 4-byte value length", "\x01\xff\xff\xff\xff" "AB", 7 },
	{ "2 GiB - 1 both", "\xff\xff\xff\xff\xff\xff\xff\xff" "A", 9 },
	{ "lone length byte", "\x03", 1 },
	{ "good pair, then garbage", "\x01\x01" "AB" "\x7f", 5 },
};

START_TEST(test_bad_params_stream)
{

	buf_add(&s, bad_streams[_i].bytes, bad_streams[_i].len);
	begin(&b, 1, ROLE_RESPONDER, 0);
	params(&b, 1, &s, 2, 0);
	rec(&b, T_STDIN, 1, NULL, 0, 0);
	send_buf(&b);
	expect_rejected();
}
END_TEST

START_TEST(test_stdin_before_params)
{

	begin(&b, 1, ROLE_RESPONDER, 0);
	rec(&b, T_STDIN, 1, "x", 1, 0);
	send_buf(&b);
	expect_rejected();
}
END_TEST

START_TEST(test_stdin_before_begin)
{

	rec(&b, T_STDIN, 1, "x", 1, 0);
	send_buf(&b);
	expect_rejected();
}
END_TEST

START_TEST(test_data_before_params)
{

	begin(&b, 1, ROLE_RESPONDER, 0);
	rec(&b, T_DATA, 1, "x", 1, 0);
	send_buf(&b);
	expect_rejected();
}
END_TEST

START_TEST(test_params_before_begin)
{

	rec(&b, T_PARAMS, 1, "\x01\x01" "AB", 4, 0);
	rec(&b, T_PARAMS, 1, NULL, 0, 0);
	send_buf(&b);
	expect_rejected();
}
END_TEST

START_TEST(test_params_other_id)
{

	begin(&b, 1, ROLE_RESPONDER, 0);
	rec(&b, T_PARAMS, 2, "\x01\x01" "AB", 4, 0);
	rec(&b, T_PARAMS, 2, NULL, 0, 0);
	send_buf(&b);
	expect_rejected();
}
END_TEST

START_TEST(test_begin_wrong_length)
{

	rec(&b, T_BEGIN_REQUEST, 1, "\0\1\0\0\0", 5, 0);
	simple_request(&b, 2, 0, "/", "");
	send_buf(&b);
	expect_rejected();
}
END_TEST

START_TEST(test_get_values_too_long)
{
	char junk[1000];

	memset(junk, 'F', sizeof junk);
	rec(&b, T_GET_VALUES, 0, junk, sizeof junk, 0);
	send_buf(&b);
	expect_rejected();
}
END_TEST

START_TEST(test_close_mid_header)
{

	begin(&b, 1, ROLE_RESPONDER, 0);
	b.len = 3;
	send_and_close(&b);
	expect_rejected();
}
END_TEST

START_TEST(test_close_mid_params_record)
{

	nv(&s, "REQUEST_URI", "/truncated");
	begin(&b, 1, ROLE_RESPONDER, 0);
	rec(&b, T_PARAMS, 1, s.p, s.len, 0);
	b.len -= 4;		/* the record promises 4 bytes more */
	send_and_close(&b);
	expect_rejected();
}
END_TEST

START_TEST(test_close_mid_params_stream)
{

	nv(&s, "REQUEST_URI", "/truncated");
	begin(&b, 1, ROLE_RESPONDER, 0);
	rec(&b, T_PARAMS, 1, s.p, s.len, 0);	/* never the empty PARAMS */
	send_and_close(&b);
	expect_rejected();
}
END_TEST

START_TEST(test_close_after_begin)
{

	begin(&b, 1, ROLE_RESPONDER, F_KEEP_CONN);
	send_and_close(&b);
	expect_rejected();
}
END_TEST

START_TEST(test_close_in_padding)
{

	nv(&s, "A", "b");
	begin(&b, 1, ROLE_RESPONDER, 0);
	rec(&b, T_PARAMS, 1, s.p, s.len, 200);
	b.len -= 100;
	send_and_close(&b);
	expect_rejected();
}
END_TEST

/* The peer goes away inside a STDIN record. */
START_TEST(test_close_mid_body)
{
	char body[256];
	ssize_t n, total = 0;

	nv(&s, "CONTENT_LENGTH", "100");
	begin(&b, 1, ROLE_RESPONDER, F_KEEP_CONN);
	params(&b, 1, &s, 4096, 0);
	{
		char data[100];
		memset(data, 'd', sizeof data);
		rec(&b, T_STDIN, 1, data, sizeof data, 0);
	}
	b.len -= 90;		/* 10 of 100 bytes arrive */
	send_and_close(&b);
	expect_request();
	while ((n = fcgi_read_body(conn, body, 4)) > 0) {
		ck_assert_int_eq(memcmp(body, "dddd", (size_t)n), 0);
		total += n;
		ck_assert_int_le(total, 10);
	}
	ck_assert_int_eq(n, -1);
	ck_assert(fcgi_aborted(conn));
	ck_assert(!fcgi_wants_keep(conn));
	ck_assert_int_eq(fcgi_read_body(conn, body, sizeof body), -1);
}
END_TEST

/* ... or between records, before the empty STDIN: still cut short. */
START_TEST(test_close_before_stdin_end)
{
	char body[256];

	nv(&s, "CONTENT_LENGTH", "3");
	begin(&b, 1, ROLE_RESPONDER, F_KEEP_CONN);
	params(&b, 1, &s, 4096, 0);
	rec(&b, T_STDIN, 1, "abc", 3, 0);
	send_and_close(&b);
	expect_request();
	ck_assert_int_eq(fcgi_read_body(conn, body, sizeof body), 3);
	ck_assert_int_eq(fcgi_read_body(conn, body, sizeof body), -1);
	ck_assert(fcgi_aborted(conn));
	ck_assert(!fcgi_wants_keep(conn));
}
END_TEST

/* With a big buffer the cut is seen on the first read. */
START_TEST(test_close_mid_body_big_read)
{
	char body[256];

	nv(&s, "CONTENT_LENGTH", "100");
	begin(&b, 1, ROLE_RESPONDER, 0);
	params(&b, 1, &s, 4096, 0);
	{
		char data[100];
		memset(data, 'd', sizeof data);
		rec(&b, T_STDIN, 1, data, sizeof data, 0);
	}
	b.len -= 90;
	send_and_close(&b);
	expect_request();
	ck_assert_int_eq(fcgi_read_body(conn, body, sizeof body), -1);
	ck_assert(fcgi_aborted(conn));
}
END_TEST

/* Writing to a web server that went away fails; SIGPIPE is ignored. */
START_TEST(test_write_after_peer_closed)
{
	char *big = tmp_alloc(100000);

	memset(big, 'o', 100000);
	simple_request(&b, 1, 0, "/", "");
	send_buf(&b);
	expect_request();
	close(sv[1]);
	sv[1] = -1;
	/* Small writes are buffered; the flush finds out. */
	ck_assert_int_eq(fcgi_write(conn, "hello", 5), 0);
	ck_assert_int_eq(fcgi_flush(conn), -1);
	ck_assert(fcgi_aborted(conn));
	ck_assert_int_eq(fcgi_write(conn, "again", 5), -1);
	ck_assert_int_eq(fcgi_write(conn, big, 100000), -1);
	ck_assert_int_eq(fcgi_write_stderr(conn, "err", 3), -1);
	ck_assert_int_eq(fcgi_end_request(conn, 0), -1);
	ck_assert(!fcgi_wants_keep(conn));
}
END_TEST

START_TEST(test_big_write_after_peer_closed)
{
	char *big = tmp_alloc(100000);

	memset(big, 'o', 100000);
	simple_request(&b, 1, 0, "/", "");
	send_buf(&b);
	expect_request();
	close(sv[1]);
	sv[1] = -1;
	ck_assert_int_eq(fcgi_write(conn, big, 100000), -1);
	ck_assert(fcgi_aborted(conn));
	ck_assert_int_eq(fcgi_end_request(conn, 0), -1);
}
END_TEST

START_TEST(test_end_after_peer_closed)
{

	simple_request(&b, 1, 0, "/", "");
	send_buf(&b);
	expect_request();
	close(sv[1]);
	sv[1] = -1;
	ck_assert_int_eq(fcgi_write(conn, "buffered", 8), 0);
	ck_assert_int_eq(fcgi_end_request(conn, 0), -1);
}
END_TEST

#define NELEM(a) ((int)(sizeof (a) / sizeof (a)[0]))

static Suite *
fcgi_suite(void)
{
	Suite *suite = suite_create("fcgi");
	TCase *tc;

	tc = tcase_create("requests");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 15);
	tcase_add_test(tc, test_normal_request);
	tcase_add_test(tc, test_empty_body_and_params);
	tcase_add_test(tc, test_long_lengths);
	tcase_add_test(tc, test_params_one_mib);
	tcase_add_test(tc, test_param_set);
	tcase_add_test(tc, test_many_params);
	tcase_add_test(tc, test_large_body);
	tcase_add_test(tc, test_output);
	tcase_add_test(tc, test_end_request_empty_output);
	tcase_add_test(tc, test_wants_keep);
	tcase_add_test(tc, test_wants_keep_not_asked);
	tcase_add_test(tc, test_finish_input_unread_body);
	tcase_add_test(tc, test_finish_input_cut);
	tcase_add_test(tc, test_stderr_order);
	tcase_add_test(tc, test_stderr_large);
	tcase_add_test(tc, test_linger_close);
	tcase_add_test(tc, test_two_requests_kept);
	tcase_add_test(tc, test_idle_close);
	tcase_add_test(tc, test_get_values);
	tcase_add_test(tc, test_get_values_only_asked);
	tcase_add_test(tc, test_cant_mpx_during_params);
	tcase_add_test(tc, test_cant_mpx_during_body);
	tcase_add_test(tc, test_unknown_role);
	tcase_add_test(tc, test_unknown_type);
	tcase_add_test(tc, test_abort_during_params_kept);
	tcase_add_test(tc, test_abort_during_params);
	tcase_add_test(tc, test_abort_mid_body);
	tcase_add_test(tc, test_abort_mid_body_answered);
	suite_add_tcase(suite, tc);

	tc = tcase_create("hostile");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 15);
	tcase_add_test(tc, test_bad_version);
	tcase_add_test(tc, test_bad_version_later);
	tcase_add_test(tc, test_bad_version_in_body);
	tcase_add_test(tc, test_params_too_big);
	tcase_add_test(tc, test_params_endless);
	tcase_add_loop_test(tc, test_bad_params_stream, 0, NELEM(bad_streams));
	tcase_add_test(tc, test_stdin_before_params);
	tcase_add_test(tc, test_stdin_before_begin);
	tcase_add_test(tc, test_data_before_params);
	tcase_add_test(tc, test_params_before_begin);
	tcase_add_test(tc, test_params_other_id);
	tcase_add_test(tc, test_begin_wrong_length);
	tcase_add_test(tc, test_get_values_too_long);
	tcase_add_test(tc, test_close_mid_header);
	tcase_add_test(tc, test_close_mid_params_record);
	tcase_add_test(tc, test_close_mid_params_stream);
	tcase_add_test(tc, test_close_after_begin);
	tcase_add_test(tc, test_close_in_padding);
	tcase_add_test(tc, test_close_mid_body);
	tcase_add_test(tc, test_close_before_stdin_end);
	tcase_add_test(tc, test_close_mid_body_big_read);
	tcase_add_test(tc, test_write_after_peer_closed);
	tcase_add_test(tc, test_big_write_after_peer_closed);
	tcase_add_test(tc, test_end_after_peer_closed);
	suite_add_tcase(suite, tc);
	return suite;
}

int
main(void)
{
	SRunner *sr = srunner_create(fcgi_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
