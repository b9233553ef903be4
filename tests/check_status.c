/*
 * Unit tests for src/status.c and src/accesslog.c: php-fpm's access.format
 * tokens and their errors, access.suppress_path, the log pipe framing
 * between a worker and the master, the status page in each format, the
 * query string rules, and a ping and a status request served over a
 * socketpair.  sapi.c and worker.c are stubbed: no engine here.
 */
#include "pfpm.h"

#include <sys/socket.h>

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fcgi_peer.h"

/* Stubs of sapi.c and worker.c, as the engine would answer them. */
static bool expose = false;

const char *
sapi_default_charset(void)
{
	return "UTF-8";
}

bool
sapi_expose_php(void)
{
	return expose;
}

const char *
sapi_php_version(void)
{
	return "8.2.0";
}

const char *
worker_peer(void)
{
	return "192.0.2.7";
}

static const char *
param_of(void *ctx, const char *name)
{
	(void)ctx;
	if (strcmp(name, "REQUEST_URI") == 0)
		return "/index.php/a?x=1";
	if (strcmp(name, "HTTP_HOST") == 0)
		return "example.org";
	return NULL;
}

static const char *
header_of(void *ctx, const char *name)
{
	(void)ctx;
	if (strcasecmp(name, "X-Foo") == 0)
		return "bar";
	return NULL;
}

/* 2026-11-22 12:20:30 UTC, a 1.5 s request using 0.3 s user, 0.2 s system. */
static struct access_rec
record(void)
{
	struct access_rec r = {
		.pool = "www", .pid = 4242, .ppid = 1,
		.method = "GET", .uri = "/index.php", .query = "x=1",
		.script = "/srv/www/index.php", .user = "bob",
		.remote = "127.0.0.1", .content_length = 12, .status = 404,
		.start_wall_us = 1795350030ULL * 1000000,
		.now_wall_us = 1795350031ULL * 1000000 + 500000,
		.duration_us = 1500000, .cpu_user_us = 300000,
		.cpu_sys_us = 200000, .memory = 3 * 1024 * 1024 + 512,
		.param = param_of, .header = header_of,
	};
	return r;
}

static char *
fmt(const char *f, const struct access_rec *r)
{
	static char buf[ACCESSLOG_LINE_MAX + 1];
	char *cause = NULL;

	ck_assert_msg(accesslog_check(f, &cause) == 0, "'%s' refused: %s", f,
	    cause);
	accesslog_format(f, r, buf, sizeof buf);
	return buf;
}

#define FMT_IS(f, want) do {						\
	struct access_rec r_ = record();				\
	const char *got_ = fmt((f), &r_);				\
	ck_assert_msg(strcmp(got_, (want)) == 0,			\
	    "format '%s': got '%s', want '%s'", (f), got_, (want));	\
} while (0)

START_TEST(test_default_format)
{
	FMT_IS(ACCESSLOG_DEFAULT_FORMAT,
	    "127.0.0.1 - bob 22/Nov/2026:12:20:30 +0000 \"GET /index.php\" 404");
}
END_TEST

START_TEST(test_every_token)
{
	FMT_IS("%C %{total}C %{user}C %{system}C", "33.33 33.33 20.00 13.33");
	FMT_IS("%d %{seconds}d %{milli}d %{mili}d %{milliseconds}d %{micro}d %{microseconds}d",
	    "1.500 1.500 1500.000 1500.000 1500.000 1500000 1500000");
	FMT_IS("%{REQUEST_URI}e %{HTTP_HOST}e %{NOPE}e",
	    "/index.php/a?x=1 example.org -");
	FMT_IS("%f|%l|%m|%n|%p|%P", "/srv/www/index.php|12|GET|www|4242|1");
	FMT_IS("%M %{bytes}M %{kilo}M %{kilobytes}M %{mega}M %{megabytes}M",
	    "3146240 3146240 3072 3072 3 3");
	FMT_IS("%{X-Foo}o %{x-foo}o %{Content-Type}o", "bar bar -");
	FMT_IS("%r%Q%q", "/index.php?x=1");
	FMT_IS("%R %s %u %%", "127.0.0.1 404 bob %");
	FMT_IS("%t", "22/Nov/2026:12:20:30 +0000");
	FMT_IS("%T", "22/Nov/2026:12:20:31 +0000");
	FMT_IS("%{%Y-%m-%d %H:%M:%S}t|%{%s}T", "2026-11-22 12:20:30|1795350031");
	FMT_IS("plain text, no token", "plain text, no token");
	FMT_IS("%{}d", "1.500");		/* an empty {} is no modifier */
	FMT_IS("end %", "end ");		/* a trailing % is dropped */
}
END_TEST

/* Empty fields: what php-fpm prints for each. */
START_TEST(test_empty_fields)
{
	struct access_rec r = { .status = 200 };
	const char *got = fmt("%C|%f|%m|%n|%q|%Q|%r|%R|%u|%{A}e|%{B}o|%d", &r);

	ck_assert_str_eq(got, "0.00|-|-|-||||-||-|-|0.000");
}
END_TEST

static const struct {
	const char *format;
	const char *error;
} bad_formats[] = {
	{ "%e", "the name of the environment variable must be set between embraces for %e" },
	{ "%o", "the name of the header must be set between embraces for %o" },
	{ "%{x}f", "embrace is not allowed for: %f" },
	{ "%{x}%", "embrace is not allowed for: %%" },
	{ "%{abc", "missing closing embrace in the access.format" },
	{ "%j", "Invalid token in the access.format (%j)" },
	{ "%{hours}d", "only 'seconds', 'milli', 'milliseconds', 'micro' or 'microseconds' are allowed as a modifier for %d ('hours')" },
	{ "%{giga}M", "only 'bytes', 'kilo', 'kilobytes', 'mega' or 'megabytes' are allowed as a modifier for %M ('giga')" },
	{ "%{idle}C", "only 'total', 'user' or 'system' are allowed as a modifier for %C ('idle')" },
};

START_TEST(test_bad_formats)
{
	char *cause = NULL;

	ck_assert_int_eq(accesslog_check(bad_formats[_i].format, &cause), -1);
	ck_assert_str_eq(cause, bad_formats[_i].error);
	free(cause);
}
END_TEST

START_TEST(test_long_line_cut)
{
	char f[3000], buf[ACCESSLOG_LINE_MAX];
	struct access_rec r = record();
	size_t n;

	memset(f, 'a', sizeof f - 1);
	f[sizeof f - 1] = '\0';
	n = accesslog_format(f, &r, buf, sizeof buf);
	ck_assert_uint_eq(n, sizeof buf - 1);
	ck_assert_uint_eq(strlen(buf), sizeof buf - 1);
}
END_TEST

/* php-fpm's rules: a successful GET/HEAD, no query, no body, exact path. */
START_TEST(test_suppress)
{
	static char *paths[] = { (char *)"/ping", (char *)"/status" };
	struct pool_conf p = { .access_suppress = paths, .n_access_suppress = 2 };
	struct access_rec r = { .method = "GET", .uri = "/ping", .query = "",
	    .status = 200 };

	ck_assert(accesslog_suppressed(&p, &r));
	r.method = "HEAD";
	ck_assert(accesslog_suppressed(&p, &r));
	r.uri = "/status";
	ck_assert(accesslog_suppressed(&p, &r));
	r.uri = "/status/";
	ck_assert(!accesslog_suppressed(&p, &r));
	r.uri = "/ping";
	r.query = "full";
	ck_assert(!accesslog_suppressed(&p, &r));
	r.query = NULL;
	r.method = "POST";
	ck_assert(!accesslog_suppressed(&p, &r));
	r.method = "GET";
	r.status = 503;
	ck_assert(!accesslog_suppressed(&p, &r));
	r.status = 204;
	r.content_length = 1;
	ck_assert(!accesslog_suppressed(&p, &r));
	p.n_access_suppress = 0;
	r.content_length = 0;
	ck_assert(!accesslog_suppressed(&p, &r));
}
END_TEST

static char *
slurp(int fd)
{
	static char buf[65536];
	ssize_t n;
	size_t len = 0;

	while ((n = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	return buf;
}

/*
 * The log pipe: a worker's access lines and error lines, interleaved;
 * the master sorts them, also when a record is cut between two reads.
 */
START_TEST(test_pipe_framing)
{
	struct pool_conf p = { .name = (char *)"www",
	    .access_log = (char *)"/unused", .access_format = (char *)"%m %r %s" };
	struct access_rec r = record();
	int lp[2], ap[2], ep[2];
	char buf[8192], carry[8192];
	size_t len, used, i, have = 0;

	ck_assert_int_eq(pipe(lp), 0);
	ck_assert_int_eq(pipe(ap), 0);
	ck_assert_int_eq(pipe2(ep, O_NONBLOCK), 0);
	fcntl(ap[0], F_SETFL, O_NONBLOCK);
	accesslog_worker_init(&p, lp[1]);
	ck_assert(accesslog_enabled());
	ck_assert_int_eq(write(lp[1], "[x] NOTICE: one\n", 16), 16);
	accesslog_write(&r);
	ck_assert_int_eq(write(lp[1], "[x] NOTICE: two\n", 16), 16);
	r.status = 200;
	accesslog_write(&r);
	len = (size_t)read(lp[0], buf, sizeof buf);

	log_use_fd(ep[1]);
	/* Byte by byte: every cut a read can make. */
	for (i = 0; i < len; i++) {
		carry[have++] = buf[i];
		used = accesslog_demux(carry, have, ap[1], -1);
		memmove(carry, carry + used, have - used);
		have -= used;
	}
	ck_assert_uint_eq(have, 0);
	ck_assert_str_eq(slurp(ap[0]), "GET /index.php 404\nGET /index.php 200\n");
	ck_assert_str_eq(slurp(ep[0]), "[x] NOTICE: one\n[x] NOTICE: two\n");
	/* Whole, the same. */
	used = accesslog_demux(buf, len, ap[1], -1);
	ck_assert_uint_eq(used, len);
	ck_assert_str_eq(slurp(ap[0]), "GET /index.php 404\nGET /index.php 200\n");
	log_use_fd(STDERR_FILENO);
	accesslog_worker_init(&p, -1);
	ck_assert(!accesslog_enabled());
	close(lp[0]);
	close(lp[1]);
	close(ap[0]);
	close(ap[1]);
	close(ep[0]);
	close(ep[1]);
}
END_TEST

START_TEST(test_reopen)
{
	char dir[] = "/tmp/pfpm-check-status-XXXXXX", path[PATH_MAX],
	    old[PATH_MAX];
	char *cause = NULL;
	int fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/access.log", dir);
	snprintf(old, sizeof old, "%s/access.log.1", dir);
	fd = accesslog_open(path, &cause);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "a\n", 2), 2);
	ck_assert_int_eq(rename(path, old), 0);
	ck_assert_int_eq(accesslog_reopen(fd, path), fd);
	ck_assert_int_eq(write(fd, "b\n", 2), 2);
	close(fd);
	fd = open(path, O_RDONLY);
	ck_assert_str_eq(slurp(fd), "b\n");
	close(fd);
	fd = open(old, O_RDONLY);
	ck_assert_str_eq(slurp(fd), "a\n");
	close(fd);
	unlink(path);
	unlink(old);
	rmdir(dir);
	ck_assert_int_eq(accesslog_open("/nonexistent/dir/x.log", &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "/nonexistent/dir/x.log"));
	free(cause);
}
END_TEST

START_TEST(test_query_formats)
{
	static const struct {
		const char *q;
		enum status_format fmt;
		bool full;
	} c[] = {
		{ "", STATUS_TEXT, false }, { NULL, STATUS_TEXT, false },
		{ "full", STATUS_TEXT, true }, { "json", STATUS_JSON, false },
		{ "json&full", STATUS_JSON, true }, { "full=1&xml=yes", STATUS_XML, true },
		{ "json&xml", STATUS_XML, false }, { "openmetrics&json", STATUS_JSON, false },
		{ "html&xml", STATUS_HTML, false }, { "openmetrics", STATUS_OPENMETRICS, false },
		{ "jsonx&fullx", STATUS_TEXT, false }, { "a=json", STATUS_TEXT, false },
		{ "json[]=1", STATUS_JSON, false },
	};
	enum status_format f;
	bool full;
	size_t i;

	for (i = 0; i < sizeof c / sizeof c[0]; i++) {
		status_query(c[i].q, &f, &full);
		ck_assert_msg(f == c[i].fmt && full == c[i].full,
		    "'%s': format %d full %d", c[i].q, (int)f, (int)full);
	}
}
END_TEST

static struct status
sample(struct status_proc *procs)
{
	struct status st = {
		.pool = "www", .pm = "dynamic", .mode = "worker",
		.start_time = 1795350030, .start_since = 60, .accepted = 7,
		.listen_queue = 1, .max_listen_queue = 3, .listen_queue_len = 511,
		.idle = 1, .active = 1, .max_active = 2, .max_children_reached = 4,
		.slow_requests = 0, .boots = 5, .failing = true,
		.recycles = { 0, 1, 2, 3, 4 }, .procs = procs, .nprocs = 2,
	};
	struct status_proc a = {
		.pid = 100, .state = SB_RUNNING, .start_time = 1795350030,
		.start_since = 60, .requests = 3, .duration_us = 1234,
		.content_length = 5, .memory = 4096,
		.method = "POST", .uri = "/index.php", .query = "a=\"<b>'&c=\xc3\xa9",
		.script = "/srv/index.php", .user = "bob",
	};
	struct status_proc b = {
		.pid = 101, .state = SB_IDLE, .start_time = 1795350030,
		.start_since = 60, .duration_us = 0, .cpu = 12.5,
		.last_memory = 2097152,
	};

	procs[0] = a;
	procs[1] = b;
	return st;
}

static char *
render(enum status_format f, bool full)
{
	static struct status_buf b;
	struct status_proc procs[2];
	struct status st = sample(procs);

	status_buf_free(&b);
	status_render(&st, f, full, &b);
	return b.p;
}

#define HAS(out, s) ck_assert_msg(strstr((out), (s)) != NULL, \
	"expected \"%s\" in:\n%s", (s), (out))

START_TEST(test_render_text)
{
	const char *t = render(STATUS_TEXT, false);

	ck_assert_str_eq(t,
	    "pool:                 www\n"
	    "process manager:      dynamic\n"
	    "start time:           22/Nov/2026:12:20:30 +0000\n"
	    "start since:          60\n"
	    "accepted conn:        7\n"
	    "listen queue:         1\n"
	    "max listen queue:     3\n"
	    "listen queue len:     511\n"
	    "idle processes:       1\n"
	    "active processes:     1\n"
	    "total processes:      2\n"
	    "max active processes: 2\n"
	    "max children reached: 4\n"
	    "slow requests:        0\n"
	    "mode:                 worker\n"
	    "boots:                5\n"
	    "failing:              1\n"
	    "recycled max requests: 1\n"
	    "recycled max memory:  2\n"
	    "recycled fatal:       3\n"
	    "recycled crash:       4\n");
	t = render(STATUS_TEXT, true);
	HAS(t, "recycled crash:       4\n\n************************\n"
	    "pid:                  100\n"
	    "state:                Running\n"
	    "start time:           22/Nov/2026:12:20:30 +0000\n"
	    "start since:          60\n"
	    "requests:             3\n"
	    "request duration:     1234\n"
	    "request method:       POST\n"
	    "request URI:          /index.php?a=\"<b>'&c=\xc3\xa9\n"
	    "content length:       5\n"
	    "user:                 bob\n"
	    "script:               /srv/index.php\n"
	    "last request cpu:     0.00\n"
	    "last request memory:  0\n"
	    "memory:               4096\n"
	    "role:                 request\n"
	    "\n************************\n"
	    "pid:                  101\n"
	    "state:                Idle\n");
	HAS(t, "request method:       -\n"
	    "request URI:          -\n"
	    "content length:       0\n"
	    "user:                 -\n"
	    "script:               -\n"
	    "last request cpu:     12.50\n"
	    "last request memory:  2097152\n"
	    "memory:               0\n"
	    "role:                 request\n");
}
END_TEST

START_TEST(test_render_json)
{
	const char *t = render(STATUS_JSON, false);

	ck_assert_str_eq(t, "{\"pool\":\"www\",\"process manager\":\"dynamic\","
	    "\"start time\":1795350030,\"start since\":60,\"accepted conn\":7,"
	    "\"listen queue\":1,\"max listen queue\":3,\"listen queue len\":511,"
	    "\"idle processes\":1,\"active processes\":1,\"total processes\":2,"
	    "\"max active processes\":2,\"max children reached\":4,"
	    "\"slow requests\":0,\"mode\":\"worker\",\"boots\":5,\"failing\":1,"
	    "\"recycled max requests\":1,\"recycled max memory\":2,"
	    "\"recycled fatal\":3,\"recycled crash\":4}");
	t = render(STATUS_JSON, true);
	HAS(t, "\"recycled crash\":4, \"processes\":[{\"pid\":100,"
	    "\"state\":\"Running\",\"start time\":1795350030,\"start since\":60,"
	    "\"requests\":3,\"request duration\":1234,\"request method\":\"POST\","
	    "\"request uri\":\"\\/index.php?a=\\\"<b>'&c=\\u00e9\","
	    "\"content length\":5,\"user\":\"bob\",\"script\":\"\\/srv\\/index.php\","
	    "\"last request cpu\":0.00,\"last request memory\":0,\"memory\":4096,\"role\":\"request\"},{\"pid\":101,");
	HAS(t, "\"last request cpu\":12.50,\"last request memory\":2097152,\"memory\":0,\"role\":\"request\"}]}");
}
END_TEST

START_TEST(test_render_xml_html)
{
	const char *t = render(STATUS_XML, false);

	ck_assert_ptr_eq(strstr(t, "<?xml version=\"1.0\" ?>\n<status>\n<pool>www</pool>\n"
	    "<process-manager>dynamic</process-manager>\n<start-time>1795350030</start-time>\n"), t);
	HAS(t, "<slow-requests>0</slow-requests>\n<mode>worker</mode>\n");
	HAS(t, "<recycled-crash>4</recycled-crash>\n</status>");
	t = render(STATUS_XML, true);
	HAS(t, "<recycled-crash>4</recycled-crash>\n<processes>\n<process><pid>100</pid>"
	    "<state>Running</state>");
	HAS(t, "<request-uri>/index.php?a=&quot;&lt;b&gt;'&amp;c=\xc3\xa9</request-uri>");
	HAS(t, "<memory>0</memory><role>request</role></process>\n</processes>\n</status>");
	t = render(STATUS_HTML, false);
	HAS(t, "<head><title>PHP-FPM Status Page</title></head>\n<body>\n<table>\n"
	    "<tr><th>pool</th><td>www</td></tr>\n");
	HAS(t, "<tr><th>start time</th><td>22/Nov/2026:12:20:30 +0000</td></tr>\n");
	HAS(t, "<tr><th>recycled crash</th><td>4</td></tr>\n</table>\n</body></html>");
	t = render(STATUS_HTML, true);
	HAS(t, "</table>\n<table border=\"1\">\n<tr><th>pid</th><th>state</th>");
	HAS(t, "<th>request uri</th>");
	HAS(t, "<th>last request memory</th><th>memory</th><th>role</th></tr>\n<tr><td>100</td>");
	HAS(t, "<td>/index.php?a=&quot;&lt;b&gt;'&amp;c=\xc3\xa9</td>");
	HAS(t, "</tr>\n</table></body></html>");
}
END_TEST

/* A pool with a task queue shows its counters; one without does not. */
START_TEST(test_render_tasks)
{
	static struct status_buf b;
	struct status_proc procs[2];
	struct status st = sample(procs);
	const char *t;

	procs[1].role = ROLE_TASK;
	st.tasks = true;
	st.tq_queued = 7;
	st.tq_running = 2;
	st.tq_done = 1000;
	st.tq_failed = 3;
	st.tq_dead = 1;
	st.tq_oldest_age = 12;
	status_render(&st, STATUS_TEXT, true, &b);
	t = b.p;
	HAS(t, "recycled crash:       4\ntasks queued:         7\n"
	    "tasks running:        2\ntasks done:           1000\n"
	    "tasks failed:         3\ntasks dead:           1\n"
	    "tasks oldest age:     12\n");
	HAS(t, "role:                 task\n");
	status_buf_free(&b);
	status_render(&st, STATUS_OPENMETRICS, false, &b);
	HAS(b.p, "pfpm_tasks{state=\"queued\"} 7\npfpm_tasks{state=\"running\"} 2\n"
	    "pfpm_tasks{state=\"dead\"} 1\n");
	HAS(b.p, "pfpm_tasks_done_total 1000\n");
	HAS(b.p, "pfpm_tasks_oldest_age_seconds 12\n# EOF\n");
	status_buf_free(&b);
	t = render(STATUS_TEXT, false);
	ck_assert_ptr_null(strstr(t, "tasks"));
	t = render(STATUS_OPENMETRICS, false);
	ck_assert_ptr_null(strstr(t, "pfpm_tasks"));
}
END_TEST

START_TEST(test_render_openmetrics)
{
	const char *t = render(STATUS_OPENMETRICS, true);	/* no ?full */

	ck_assert_ptr_eq(strstr(t, "# HELP phpfpm_up Could pool www using a dynamic PM on PHP-FPM be reached?\n"
	    "# TYPE phpfpm_up gauge\nphpfpm_up 1\n"), t);
	HAS(t, "# TYPE phpfpm_listen_queue_length gauge\n# HELP phpfpm_listen_queue_length ");
	HAS(t, "\nphpfpm_accepted_connections 7\n");
	HAS(t, "\nphpfpm_total_processes 2\n");
	HAS(t, "\npfpm_mode_info{mode=\"worker\"} 1\n");
	HAS(t, "\npfpm_boots_total 5\n");
	HAS(t, "\npfpm_failing 1\n");
	HAS(t, "\npfpm_recycles_total{reason=\"crash\"} 4\n# EOF\n");
	ck_assert_ptr_null(strstr(t, "pid"));
}
END_TEST

/* JSON strings: control characters, astral planes, invalid UTF-8. */
START_TEST(test_json_escapes)
{
	struct status_proc procs[2];
	struct status st = sample(procs);
	struct status_buf b = { 0 };

	snprintf(procs[0].query, sizeof procs[0].query, "%s",
	    "t\tn\n\\q\x01\xf0\x9f\x98\x80\xff");
	status_render(&st, STATUS_JSON, true, &b);
	HAS(b.p, "?t\\tn\\n\\\\q\\u0001\\ud83d\\ude00\\ufffd\",");
	status_buf_free(&b);
}
END_TEST

START_TEST(test_basic_user)
{
	char u[SB_USER_MAX];

	ck_assert_int_eq(status_basic_user("Basic Ym9iOnB3", u, sizeof u), 0);
	ck_assert_str_eq(u, "bob");
	ck_assert_int_eq(status_basic_user("Basic YWxpY2U6cDp3OnM=", u, sizeof u), 0);
	ck_assert_str_eq(u, "alice");
	ck_assert_int_eq(status_basic_user("Basic bm9jb2xvbg==", u, sizeof u), -1);
	ck_assert_str_eq(u, "");
	ck_assert_int_eq(status_basic_user("Digest x", u, sizeof u), -1);
	ck_assert_int_eq(status_basic_user(NULL, u, sizeof u), -1);
}
END_TEST

/* The scoreboard as the page sees it. */
START_TEST(test_collect)
{
	struct pool_conf pc = { .name = (char *)"www", .pm = PM_STATIC,
	    .worker = (char *)"/w.php" };
	struct sb_slot *a, *b;
	struct status st;

	ck_assert_int_eq(sb_create(8, 2), 0);
	sb_pool(0)->start_time = sb_wall_us() - 5000000;
	sb_pool(0)->accepted = 9;
	sb_pool(0)->boots = 3;
	sb_pool(0)->recycles[SB_RECYCLE_MAX_MEMORY] = 2;
	a = sb_alloc(0, 10);
	b = sb_alloc(0, 11);
	ck_assert_ptr_nonnull(sb_alloc(1, 12));	/* another pool */
	a->state = SB_RUNNING;
	a->req_start_us = sb_now_us() - 2000;
	snprintf(a->method, sizeof a->method, "GET");
	snprintf(a->uri, sizeof a->uri, "/slow.php");
	b->state = SB_IDLE;
	b->last_duration_us = 1000;
	b->last_cpu_us = 500;
	b->last_memory = 777;
	b->memory = 888;
	ck_assert_int_eq(status_collect(0, &pc, -1, &st), 0);
	ck_assert_str_eq(st.pool, "www");
	ck_assert_str_eq(st.pm, "static");
	ck_assert_str_eq(st.mode, "worker");
	ck_assert_uint_ge(st.start_since, 4);
	ck_assert_uint_eq(st.accepted, 9);
	ck_assert_uint_eq(st.boots, 3);
	ck_assert_uint_eq(st.recycles[SB_RECYCLE_MAX_MEMORY], 2);
	ck_assert_uint_eq(st.idle, 1);
	ck_assert_uint_eq(st.active, 1);
	ck_assert_uint_eq(st.max_active, 1);
	ck_assert_uint_eq(st.listen_queue_len, 0);	/* no TCP socket */
	ck_assert_uint_eq(st.nprocs, 2);
	ck_assert_int_eq(st.procs[0].pid, 10);
	ck_assert_uint_ge(st.procs[0].duration_us, 2000);
	ck_assert_str_eq(st.procs[0].uri, "/slow.php");
	ck_assert_uint_eq(st.procs[0].last_memory, 0);	/* running: not yet */
	ck_assert_uint_eq(st.procs[1].duration_us, 1000);
	ck_assert(st.procs[1].cpu > 49.9 && st.procs[1].cpu < 50.1);
	ck_assert_uint_eq(st.procs[1].last_memory, 777);
	ck_assert_uint_eq(st.procs[1].memory, 888);
	status_free(&st);
	ck_assert_int_eq(status_collect(5, &pc, -1, &st), -1);
	sb_destroy();
}
END_TEST

/* Serve one request through status_serve(); its stdout, or NULL if declined. */
static char *
serve(const struct pool_conf *pc, const char *script_name, const char *method,
    const char *query)
{
	struct buf w = { 0 }, st = { 0 }, out = { 0 };
	struct worker_ctx ctx = { .pool = pc, .pool_index = 0, .listen_fd = -1 };
	struct fcgi_conn *c;
	struct record r;
	char *cause = NULL;
	int sv[2];
	bool served;

	ck_assert_int_eq(sb_create(4, 1), 0);
	ctx.slot = sb_alloc(0, getpid());
	ctx.slot->req_start_us = sb_now_us();
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	nv(&st, "REQUEST_METHOD", method);
	nv(&st, "SCRIPT_NAME", script_name);
	nv(&st, "QUERY_STRING", query);
	nv(&st, "HTTP_AUTHORIZATION", "Basic Ym9iOnB3");
	begin(&w, 1, ROLE_RESPONDER, 0);
	params(&w, 1, &st, 4096, 0);
	stdin_recs(&w, 1, "", 0, 4096, 0);
	ck_assert_int_eq(write(sv[1], w.p, w.len), (ssize_t)w.len);
	c = fcgi_conn_new(sv[0]);
	ck_assert_int_eq(fcgi_read_request(c, &cause), 0);
	served = status_serve(c, &ctx);
	if (served) {
		ck_assert_str_eq(ctx.slot->user, "bob");
		ck_assert_str_eq(ctx.slot->uri, script_name);
		ck_assert_int_eq(ctx.slot->state, SB_FINISHING);
	}
	fcgi_conn_free(c);
	for (; served;) {
		ck_assert_int_eq(read_rec(sv[1], &r), 0);
		if (r.type == T_STDOUT)
			buf_add(&out, r.content, r.clen);
		if (r.type == T_END_REQUEST) {
			rec_free(&r);
			break;
		}
		rec_free(&r);
	}
	buf_add(&out, "", 1);
	close(sv[1]);
	buf_free(&w);
	buf_free(&st);
	sb_destroy();
	if (!served) {
		buf_free(&out);
		return NULL;
	}
	return (char *)out.p;
}

START_TEST(test_serve)
{
	struct pool_conf pc = { .name = (char *)"www", .pm = PM_DYNAMIC,
	    .status_path = (char *)"/status", .ping_path = (char *)"/ping",
	    .ping_response = (char *)"alive" };
	char *out;

	ck_assert_ptr_null(serve(&pc, "/index.php", "GET", ""));
	ck_assert_ptr_null(serve(&pc, "/status/", "GET", ""));
	out = serve(&pc, "/ping", "GET", "");
	ck_assert_str_eq(out, "Content-type: text/plain;charset=UTF-8\r\n"
	    "Expires: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
	    "Cache-Control: no-cache, no-store, must-revalidate, max-age=0\r\n"
	    "\r\nalive");
	free(out);
	out = serve(&pc, "/ping", "HEAD", "");
	ck_assert_str_eq(out, "Content-type: text/plain;charset=UTF-8\r\n"
	    "Expires: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
	    "Cache-Control: no-cache, no-store, must-revalidate, max-age=0\r\n"
	    "\r\n");
	free(out);
	expose = true;
	out = serve(&pc, "/status", "GET", "json&full");
	expose = false;
	ck_assert_ptr_eq(strstr(out, "X-Powered-By: PHP/8.2.0\r\n"
	    "Expires: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
	    "Cache-Control: no-cache, no-store, must-revalidate, max-age=0\r\n"
	    "Content-Type: application/json\r\n\r\n{\"pool\":\"www\","), out);
	/* The status request itself: running, with its own method and URI. */
	HAS(out, "\"active processes\":1,");
	HAS(out, "\"state\":\"Running\"");
	HAS(out, "\"request uri\":\"\\/status?json&full\"");
	HAS(out, "\"user\":\"bob\"");
	free(out);
	out = serve(&pc, "/status", "GET", "");
	HAS(out, "Content-type: text/plain;charset=UTF-8\r\n\r\npool:                 www\n");
	free(out);
	pc.ping_path = NULL;
	ck_assert_ptr_null(serve(&pc, "/ping", "GET", ""));
}
END_TEST

static Suite *
status_suite(void)
{
	Suite *s = suite_create("status");
	TCase *tc = tcase_create("accesslog");

	tcase_add_test(tc, test_default_format);
	tcase_add_test(tc, test_every_token);
	tcase_add_test(tc, test_empty_fields);
	tcase_add_loop_test(tc, test_bad_formats, 0,
	    sizeof bad_formats / sizeof bad_formats[0]);
	tcase_add_test(tc, test_long_line_cut);
	tcase_add_test(tc, test_suppress);
	tcase_add_test(tc, test_pipe_framing);
	tcase_add_test(tc, test_reopen);
	suite_add_tcase(s, tc);
	tc = tcase_create("page");
	tcase_add_test(tc, test_query_formats);
	tcase_add_test(tc, test_render_text);
	tcase_add_test(tc, test_render_json);
	tcase_add_test(tc, test_render_xml_html);
	tcase_add_test(tc, test_render_openmetrics);
	tcase_add_test(tc, test_json_escapes);
	tcase_add_test(tc, test_basic_user);
	tcase_add_test(tc, test_collect);
	tcase_add_test(tc, test_render_tasks);
	tcase_add_test(tc, test_serve);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	setenv("TZ", "UTC", 1);
	tzset();
	log_set_level(LOG_LVL_ALERT);
	sr = srunner_create(status_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
