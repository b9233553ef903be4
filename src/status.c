/*
 * The status page (pm.status_path) and ping (ping.path), answered by the
 * worker in C before any PHP runs, in classic and worker mode alike: a
 * worker script never sees these requests.  Formats, field names, order
 * and headers are php-fpm's (text, ?json, ?xml, ?html, ?openmetrics, each
 * with ?full), followed by pfpm's own fields.  fpm_get_status() builds
 * its array from the same snapshot (status_collect).
 */
#include "pfpm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TIME_FORMAT "%d/%b/%Y:%H:%M:%S %z"
#define NO_CACHE "Expires: Thu, 01 Jan 1970 00:00:00 GMT\r\n" \
	"Cache-Control: no-cache, no-store, must-revalidate, max-age=0\r\n"

static const char *const pm_names[] = { "static", "dynamic", "ondemand" };

const char *
status_state_name(int state)
{
	switch (state) {
	case SB_IDLE:
		return "Idle";
	case SB_READING:
		return "Reading headers";
	case SB_RUNNING:
		return "Running";
	case SB_FINISHING:
		return "Finishing";
	default:
		return "Starting";
	}
}

/* The names of enum sb_recycle, as the status page shows them. */
const char *
status_recycle_name(int r)
{
	static const char *const names[SB_RECYCLE_N] = {
		[SB_RECYCLE_MAX_REQUESTS] = "max_requests",
		[SB_RECYCLE_MAX_MEMORY] = "max_memory",
		[SB_RECYCLE_FATAL] = "fatal",
		[SB_RECYCLE_CRASH] = "crash",
	};

	return r > SB_RECYCLE_NONE && r < SB_RECYCLE_N ? names[r] : "none";
}

/* A string field of a slot another process may be writing: always ended. */
static void
copy_str(char *dst, const volatile char *src, size_t size)
{
	size_t i;

	for (i = 0; i < size - 1 && src[i] != '\0'; i++)
		dst[i] = src[i];
	dst[i] = '\0';
}

/* A snapshot of a pool's scoreboard; 0, or -1 for an unknown pool. */
int
status_collect(int pool_index, const struct pool_conf *pc, int listen_fd,
    struct status *st)
{
	const struct sb_pool *sp = sb_pool((size_t)pool_index);
	uint64_t now = sb_wall_us(), mono = sb_now_us();
	size_t i, n = sb_nslots();
	int r;

	memset(st, 0, sizeof *st);
	if (sp == NULL)
		return -1;
	snprintf(st->pool, sizeof st->pool, "%s", pc->name);
	st->pm = pm_names[pc->pm];
	st->mode = pc->worker != NULL ? "worker" : "classic";
	st->start_time = sp->start_time / 1000000;
	st->start_since = (now - sp->start_time) / 1000000;
	st->accepted = sp->accepted;
	sb_listen_queue(listen_fd, &st->listen_queue, &st->listen_queue_len);
	st->max_listen_queue = sp->listen_queue_max > st->listen_queue ?
	    sp->listen_queue_max : st->listen_queue;
	st->max_children_reached = sp->max_children_reached;
	st->slow_requests = sp->slow_requests;
	st->boots = sp->boots;
	st->failing = sp->failing != 0;
	for (r = 0; r < SB_RECYCLE_N; r++)
		st->recycles[r] = sp->recycles[r];
	st->tasks = pc->task_workers > 0;
	st->tq_queued = sp->tq_queued;
	st->tq_running = sp->tq_running;
	st->tq_done = sp->tq_done;
	st->tq_failed = sp->tq_failed;
	st->tq_dead = sp->tq_dead;
	if (sp->tq_oldest_ms > 0 && (int64_t)(now / 1000) > sp->tq_oldest_ms)
		st->tq_oldest_age = ((uint64_t)(now / 1000) -
		    (uint64_t)sp->tq_oldest_ms) / 1000;
	st->procs = xcalloc(n > 0 ? n : 1, sizeof *st->procs);
	for (i = 0; i < n; i++) {
		const struct sb_slot *s = sb_slot(i);
		struct status_proc *p = &st->procs[st->nprocs];
		uint64_t start = s->req_start_us;
		int state = s->state;

		if (state == SB_FREE || s->pool != pool_index)
			continue;
		st->nprocs++;
		/* php-fpm's process counts are of the FastCGI workers. */
		if (s->role == ROLE_REQUEST && state == SB_IDLE)
			st->idle++;
		else if (s->role == ROLE_REQUEST && state != SB_STARTING)
			st->active++;
		p->pid = s->pid;
		p->state = state;
		p->role = s->role;
		p->start_time = s->started_us / 1000000;
		p->start_since = (now - s->started_us) / 1000000;
		p->requests = s->requests;
		p->duration_us = start != 0 && mono > start ? mono - start :
		    s->last_duration_us;
		p->content_length = s->content_length;
		/* As php-fpm: the last request's figures once it is over. */
		if (state == SB_IDLE) {
			p->cpu = s->last_duration_us > 0 ? 100.0 *
			    (double)s->last_cpu_us / (double)s->last_duration_us :
			    0.0;
			p->last_memory = s->last_memory;
		}
		p->memory = s->memory;
		copy_str(p->method, s->method, sizeof p->method);
		copy_str(p->uri, s->uri, sizeof p->uri);
		copy_str(p->query, s->query, sizeof p->query);
		copy_str(p->script, s->script, sizeof p->script);
		copy_str(p->user, s->user, sizeof p->user);
	}
	st->max_active = sp->max_active > st->active ? sp->max_active :
	    st->active;
	return 0;
}

void
status_free(struct status *st)
{
	free(st->procs);
	st->procs = NULL;
	st->nprocs = 0;
}

/*
 * The format php-fpm picks from the query string ($_GET keys, first match
 * in this order: html, xml, json, openmetrics; text otherwise) and ?full.
 */
void
status_query(const char *q, enum status_format *fmt, bool *full)
{
	static const struct {
		const char *key;
		enum status_format fmt;
	} order[] = {
		{ "html", STATUS_HTML }, { "xml", STATUS_XML },
		{ "json", STATUS_JSON }, { "openmetrics", STATUS_OPENMETRICS },
	};
	bool seen[4] = { false, false, false, false };
	const char *p = q != NULL ? q : "", *end;
	size_t i, klen;

	*fmt = STATUS_TEXT;
	*full = false;
	while (*p != '\0') {
		end = p + strcspn(p, "&");
		klen = strcspn(p, "=&[");
		if (klen > (size_t)(end - p))
			klen = (size_t)(end - p);
		if (klen == 4 && strncmp(p, "full", 4) == 0)
			*full = true;
		for (i = 0; i < 4; i++)
			if (klen == strlen(order[i].key) &&
			    strncmp(p, order[i].key, klen) == 0)
				seen[i] = true;
		p = *end != '\0' ? end + 1 : end;
	}
	for (i = 0; i < 4; i++) {
		if (seen[i]) {
			*fmt = order[i].fmt;
			return;
		}
	}
}

const char *
status_content_type(enum status_format fmt)
{
	switch (fmt) {
	case STATUS_JSON:
		return "application/json";
	case STATUS_XML:
		return "text/xml";
	case STATUS_HTML:
		return "text/html";
	case STATUS_OPENMETRICS:
		return "application/openmetrics-text; version=1.0.0; charset=utf-8";
	default:
		return "text/plain";
	}
}

void
status_buf_add(struct status_buf *b, const char *s, size_t len)
{
	if (b->len + len + 1 > b->cap) {
		b->cap = (b->len + len + 1) * 2;
		b->p = xreallocarray(b->p, b->cap, 1);
	}
	memcpy(b->p + b->len, s, len);
	b->len += len;
	b->p[b->len] = '\0';
}

void
status_buf_printf(struct status_buf *b, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = xvasprintf(&s, fmt, ap);
	va_end(ap);
	status_buf_add(b, s, (size_t)n);
	free(s);
}

void
status_buf_free(struct status_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

static void
add_str(struct status_buf *b, const char *s)
{
	status_buf_add(b, s, strlen(s));
}

/* A string as PHP's json_encode() writes it (slashes and non-ASCII escaped). */
static void
add_json(struct status_buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char tmp[16];

	while (*p != '\0') {
		unsigned int cp = *p, need = 0, i;

		if (cp == '"' || cp == '\\' || cp == '/') {
			tmp[0] = '\\';
			tmp[1] = (char)cp;
			status_buf_add(b, tmp, 2);
			p++;
			continue;
		}
		if (cp >= 0x20 && cp < 0x80) {
			status_buf_add(b, (const char *)p++, 1);
			continue;
		}
		if (cp < 0x20) {
			static const char esc[] = "\b\f\n\r\t", rep[] = "bfnrt";
			const char *e = cp != 0 ? strchr(esc, (int)cp) : NULL;
			if (e != NULL)
				snprintf(tmp, sizeof tmp, "\\%c", rep[e - esc]);
			else
				snprintf(tmp, sizeof tmp, "\\u%04x", cp);
			add_str(b, tmp);
			p++;
			continue;
		}
		/* UTF-8 to \uXXXX (surrogate pairs above U+FFFF). */
		if (cp >= 0xc2 && cp <= 0xdf) {
			need = 1;
			cp &= 0x1f;
		} else if (cp >= 0xe0 && cp <= 0xef) {
			need = 2;
			cp &= 0x0f;
		} else if (cp >= 0xf0 && cp <= 0xf4) {
			need = 3;
			cp &= 0x07;
		}
		for (i = 1; need > 0 && i <= need; i++) {
			if ((p[i] & 0xc0) != 0x80) {
				need = 0;
				break;
			}
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if (need == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
		    (need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000)) {
			add_str(b, "\\ufffd");	/* invalid UTF-8 */
			p++;
			continue;
		}
		if (cp >= 0x10000) {
			cp -= 0x10000;
			snprintf(tmp, sizeof tmp, "\\u%04x\\u%04x",
			    0xd800 | (cp >> 10), 0xdc00 | (cp & 0x3ff));
		} else
			snprintf(tmp, sizeof tmp, "\\u%04x", cp);
		add_str(b, tmp);
		p += need + 1;
	}
}

/* XML and HTML: php-fpm escapes & < > and double quotes. */
static void
add_xml(struct status_buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&':
			add_str(b, "&amp;");
			break;
		case '<':
			add_str(b, "&lt;");
			break;
		case '>':
			add_str(b, "&gt;");
			break;
		case '"':
			add_str(b, "&quot;");
			break;
		default:
			status_buf_add(b, s, 1);
		}
	}
}

static void
add_escaped(struct status_buf *b, enum status_format fmt, const char *s)
{
	if (fmt == STATUS_JSON)
		add_json(b, s);
	else if (fmt == STATUS_XML || fmt == STATUS_HTML)
		add_xml(b, s);
	else
		add_str(b, s);
}

static const char *
dash(const char *s)
{
	return *s != '\0' ? s : "-";
}

static void
add_time(struct status_buf *b, enum status_format fmt, uint64_t t)
{
	char tmp[64];
	time_t tt = (time_t)t;
	struct tm tm;

	if (fmt == STATUS_JSON || fmt == STATUS_XML) {
		status_buf_printf(b, "%llu", (unsigned long long)t);
		return;
	}
	localtime_r(&tt, &tm);
	if (strftime(tmp, sizeof tmp, TIME_FORMAT, &tm) == 0)
		tmp[0] = '\0';
	add_str(b, tmp);
}

/* One field of the pool or of a process, in a format's syntax. */
enum kind { K_NUM, K_STR, K_TIME, K_CPU, K_URI };
struct field {
	const char *name;	/* text, JSON and HTML name */
	const char *tag;	/* XML element */
	enum kind kind;
	uint64_t num;
	const char *str;
	double cpu;
	const char *query;	/* K_URI */
};

static void
add_value(struct status_buf *b, enum status_format fmt, const struct field *f)
{
	bool quote = fmt == STATUS_JSON && (f->kind == K_STR || f->kind == K_URI);

	if (quote)
		add_str(b, "\"");
	switch (f->kind) {
	case K_NUM:
		status_buf_printf(b, "%llu", (unsigned long long)f->num);
		break;
	case K_TIME:
		add_time(b, fmt, f->num);
		break;
	case K_CPU:
		status_buf_printf(b, "%.2f", f->cpu);
		break;
	case K_STR:
		add_escaped(b, fmt, f->str);
		break;
	case K_URI:
		add_escaped(b, fmt, dash(f->str));
		if (*f->query != '\0') {
			add_str(b, "?");
			add_escaped(b, fmt, f->query);
		}
		break;
	}
	if (quote)
		add_str(b, "\"");
}

/* Text: "name:" padded to php-fpm's column. */
static void
add_text_line(struct status_buf *b, const struct field *f)
{
	int pad = 21 - (int)strlen(f->name);

	status_buf_printf(b, "%s:%*s", f->name, pad > 0 ? pad : 1, "");
	add_value(b, STATUS_TEXT, f);
	add_str(b, "\n");
}

static void
add_fields(struct status_buf *b, enum status_format fmt, const struct field *f,
    size_t n, bool first, bool row)
{
	size_t i;

	for (i = 0; i < n; i++, f++) {
		switch (fmt) {
		case STATUS_TEXT:
			add_text_line(b, f);
			break;
		case STATUS_JSON:
			if (!first || i > 0)
				add_str(b, ",");
			status_buf_printf(b, "\"%s\":", f->name);
			add_value(b, fmt, f);
			break;
		case STATUS_XML:
			status_buf_printf(b, "<%s>", f->tag);
			add_value(b, fmt, f);
			status_buf_printf(b, "</%s>%s", f->tag, row ? "" : "\n");
			break;
		case STATUS_HTML:
			if (row) {
				add_str(b, "<td>");
				add_value(b, fmt, f);
				add_str(b, "</td>");
			} else {
				status_buf_printf(b, "<tr><th>%s</th><td>", f->name);
				add_value(b, fmt, f);
				add_str(b, "</td></tr>\n");
			}
			break;
		default:
			break;
		}
	}
}

#define NUM(n, t, v) { .name = (n), .tag = (t), .kind = K_NUM, .num = (v) }
#define STR(n, t, v) { .name = (n), .tag = (t), .kind = K_STR, .str = (v) }
#define TIME(n, t, v) { .name = (n), .tag = (t), .kind = K_TIME, .num = (v) }

/* The pool's fields: php-fpm's, then pfpm's. */
static size_t
pool_fields(const struct status *st, struct field *f, size_t *n_fpm)
{
	struct field fpm[] = {
		STR("pool", "pool", st->pool),
		STR("process manager", "process-manager", st->pm),
		TIME("start time", "start-time", st->start_time),
		NUM("start since", "start-since", st->start_since),
		NUM("accepted conn", "accepted-conn", st->accepted),
		NUM("listen queue", "listen-queue", st->listen_queue),
		NUM("max listen queue", "max-listen-queue", st->max_listen_queue),
		NUM("listen queue len", "listen-queue-len", st->listen_queue_len),
		NUM("idle processes", "idle-processes", st->idle),
		NUM("active processes", "active-processes", st->active),
		NUM("total processes", "total-processes", st->idle + st->active),
		NUM("max active processes", "max-active-processes", st->max_active),
		NUM("max children reached", "max-children-reached",
		    st->max_children_reached),
		NUM("slow requests", "slow-requests", st->slow_requests),
	};
	struct field own[] = {
		STR("mode", "mode", st->mode),
		NUM("boots", "boots", st->boots),
		NUM("failing", "failing", st->failing ? 1 : 0),
		NUM("recycled max requests", "recycled-max-requests",
		    st->recycles[SB_RECYCLE_MAX_REQUESTS]),
		NUM("recycled max memory", "recycled-max-memory",
		    st->recycles[SB_RECYCLE_MAX_MEMORY]),
		NUM("recycled fatal", "recycled-fatal",
		    st->recycles[SB_RECYCLE_FATAL]),
		NUM("recycled crash", "recycled-crash",
		    st->recycles[SB_RECYCLE_CRASH]),
	};
	struct field tasks[] = {
		NUM("tasks queued", "tasks-queued", st->tq_queued),
		NUM("tasks running", "tasks-running", st->tq_running),
		NUM("tasks done", "tasks-done", st->tq_done),
		NUM("tasks failed", "tasks-failed", st->tq_failed),
		NUM("tasks dead", "tasks-dead", st->tq_dead),
		NUM("tasks oldest age", "tasks-oldest-age", st->tq_oldest_age),
	};
	size_t n;

	memcpy(f, fpm, sizeof fpm);
	memcpy(f + sizeof fpm / sizeof fpm[0], own, sizeof own);
	*n_fpm = sizeof fpm / sizeof fpm[0];
	n = *n_fpm + sizeof own / sizeof own[0];
	if (st->tasks) {
		memcpy(f + n, tasks, sizeof tasks);
		n += sizeof tasks / sizeof tasks[0];
	}
	return n;
}

#define PROC_FIELDS 15

static size_t
proc_fields(const struct status_proc *p, struct field *f)
{
	struct field all[PROC_FIELDS] = {
		NUM("pid", "pid", (uint64_t)p->pid),
		STR("state", "state", status_state_name(p->state)),
		TIME("start time", "start-time", p->start_time),
		NUM("start since", "start-since", p->start_since),
		NUM("requests", "requests", p->requests),
		NUM("request duration", "request-duration", p->duration_us),
		STR("request method", "request-method", dash(p->method)),
		{ .name = "request URI", .tag = "request-uri", .kind = K_URI,
		    .str = p->uri, .query = p->query },
		NUM("content length", "content-length", p->content_length),
		STR("user", "user", dash(p->user)),
		STR("script", "script", dash(p->script)),
		{ .name = "last request cpu", .tag = "last-request-cpu",
		    .kind = K_CPU, .cpu = p->cpu },
		NUM("last request memory", "last-request-memory", p->last_memory),
		NUM("memory", "memory", p->memory),
		STR("role", "role", role_name(p->role)),
	};

	memcpy(f, all, sizeof all);
	return PROC_FIELDS;
}

static void
render_openmetrics(const struct status *st, struct status_buf *b)
{
	static const struct {
		const char *name, *type, *help;
	} m[] = {
		{ "phpfpm_start_since", "counter", "The number of seconds since FPM has started." },
		{ "phpfpm_accepted_connections", "counter", "The number of requests accepted by the pool." },
		{ "phpfpm_listen_queue", "gauge", "The number of requests in the queue of pending connections." },
		{ "phpfpm_max_listen_queue", "counter", "The maximum number of requests in the queue of pending connections since FPM has started." },
		{ "phpfpm_listen_queue_length", "gauge", "The size of the socket queue of pending connections." },
		{ "phpfpm_idle_processes", "gauge", "The number of idle processes." },
		{ "phpfpm_active_processes", "gauge", "The number of active processes." },
		{ "phpfpm_total_processes", "gauge", "The number of idle + active processes." },
		{ "phpfpm_max_active_processes", "counter", "The maximum number of active processes since FPM has started." },
		{ "phpfpm_max_children_reached", "counter", "The number of times, the process limit has been reached, when pm tries to start more children (works only for pm 'dynamic' and 'ondemand')." },
		{ "phpfpm_slow_requests", "counter", "The number of requests that exceeded your 'request_slowlog_timeout' value." },
	};
	uint64_t v[] = { st->start_since, st->accepted, st->listen_queue,
	    st->max_listen_queue, st->listen_queue_len, st->idle, st->active,
	    st->idle + st->active, st->max_active, st->max_children_reached,
	    st->slow_requests };
	size_t i;
	int r;

	status_buf_printf(b, "# HELP phpfpm_up Could pool %s using a %s PM on PHP-FPM be reached?\n"
	    "# TYPE phpfpm_up gauge\nphpfpm_up 1\n", st->pool, st->pm);
	for (i = 0; i < sizeof m / sizeof m[0]; i++) {
		/* php-fpm writes this one's TYPE before its HELP. */
		if (strcmp(m[i].name, "phpfpm_listen_queue_length") == 0)
			status_buf_printf(b, "# TYPE %s %s\n# HELP %s %s\n",
			    m[i].name, m[i].type, m[i].name, m[i].help);
		else
			status_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n",
			    m[i].name, m[i].help, m[i].name, m[i].type);
		status_buf_printf(b, "%s %llu\n", m[i].name,
		    (unsigned long long)v[i]);
	}
	status_buf_printf(b, "# HELP pfpm_mode The pool's execution mode.\n"
	    "# TYPE pfpm_mode info\npfpm_mode_info{mode=\"%s\"} 1\n", st->mode);
	status_buf_printf(b, "# HELP pfpm_boots Processes started by the pool.\n"
	    "# TYPE pfpm_boots counter\npfpm_boots_total %llu\n",
	    (unsigned long long)st->boots);
	status_buf_printf(b, "# HELP pfpm_failing 1 while the pool's processes fail to start (respawn throttled).\n"
	    "# TYPE pfpm_failing gauge\npfpm_failing %d\n", st->failing ? 1 : 0);
	add_str(b, "# HELP pfpm_recycles Processes replaced, by reason.\n"
	    "# TYPE pfpm_recycles counter\n");
	for (r = SB_RECYCLE_NONE + 1; r < SB_RECYCLE_N; r++)
		status_buf_printf(b, "pfpm_recycles_total{reason=\"%s\"} %llu\n",
		    status_recycle_name(r), (unsigned long long)st->recycles[r]);
	if (st->tasks) {
		const struct {
			const char *name;
			uint64_t v;
		} t[] = { { "queued", st->tq_queued }, { "running", st->tq_running },
		    { "dead", st->tq_dead } };

		add_str(b, "# HELP pfpm_tasks Tasks in the pool's queue, by state.\n"
		    "# TYPE pfpm_tasks gauge\n");
		for (i = 0; i < sizeof t / sizeof t[0]; i++)
			status_buf_printf(b, "pfpm_tasks{state=\"%s\"} %llu\n",
			    t[i].name, (unsigned long long)t[i].v);
		status_buf_printf(b, "# HELP pfpm_tasks_done Tasks that ran to the end.\n"
		    "# TYPE pfpm_tasks_done counter\npfpm_tasks_done_total %llu\n"
		    "# HELP pfpm_tasks_failed Task runs that threw.\n"
		    "# TYPE pfpm_tasks_failed counter\npfpm_tasks_failed_total %llu\n"
		    "# HELP pfpm_tasks_oldest_age_seconds Age of the oldest waiting task.\n"
		    "# TYPE pfpm_tasks_oldest_age_seconds gauge\npfpm_tasks_oldest_age_seconds %llu\n",
		    (unsigned long long)st->tq_done, (unsigned long long)st->tq_failed,
		    (unsigned long long)st->tq_oldest_age);
	}
	add_str(b, "# EOF\n");
}

/* The page, in php-fpm's layout for each format (openmetrics has no ?full). */
void
status_render(const struct status *st, enum status_format fmt, bool full,
    struct status_buf *b)
{
	struct field f[32];
	size_t n, n_fpm, i;

	if (fmt == STATUS_OPENMETRICS) {
		render_openmetrics(st, b);
		return;
	}
	n = pool_fields(st, f, &n_fpm);
	switch (fmt) {
	case STATUS_JSON:
		add_str(b, "{");
		break;
	case STATUS_XML:
		add_str(b, "<?xml version=\"1.0\" ?>\n<status>\n");
		break;
	case STATUS_HTML:
		add_str(b, "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\" \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd\">\n"
		    "<html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"en\" lang=\"en\">\n"
		    "<head><title>PHP-FPM Status Page</title></head>\n"
		    "<body>\n<table>\n");
		break;
	default:
		break;
	}
	add_fields(b, fmt, f, n, true, false);
	if (!full) {
		if (fmt == STATUS_JSON)
			add_str(b, "}");
		else if (fmt == STATUS_XML)
			add_str(b, "</status>");
		else if (fmt == STATUS_HTML)
			add_str(b, "</table>\n</body></html>");
		return;
	}
	if (fmt == STATUS_JSON)
		add_str(b, ", \"processes\":[");
	else if (fmt == STATUS_XML)
		add_str(b, "<processes>\n");
	else if (fmt == STATUS_HTML) {
		add_str(b, "</table>\n<table border=\"1\">\n<tr>");
		n = proc_fields(&st->procs[0], f);	/* names only */
		for (i = 0; i < n; i++)
			status_buf_printf(b, "<th>%s</th>", strcmp(f[i].name,
			    "request URI") == 0 ? "request uri" : f[i].name);
		add_str(b, "</tr>\n");
	}
	for (i = 0; i < st->nprocs; i++) {
		n = proc_fields(&st->procs[i], f);
		switch (fmt) {
		case STATUS_TEXT:
			add_str(b, "\n************************\n");
			add_fields(b, fmt, f, n, true, false);
			break;
		case STATUS_JSON:
			add_str(b, i > 0 ? ",{" : "{");
			/* JSON and HTML say "request uri", text "request URI". */
			f[7].name = "request uri";
			add_fields(b, fmt, f, n, true, false);
			add_str(b, "}");
			break;
		case STATUS_XML:
			add_str(b, "<process>");
			add_fields(b, fmt, f, n, true, true);
			add_str(b, "</process>\n");
			break;
		case STATUS_HTML:
			add_str(b, "<tr>");
			add_fields(b, fmt, f, n, true, true);
			add_str(b, "</tr>\n");
			break;
		default:
			break;
		}
	}
	if (fmt == STATUS_JSON)
		add_str(b, "]}");
	else if (fmt == STATUS_XML)
		add_str(b, "</processes>\n</status>");
	else if (fmt == STATUS_HTML)
		add_str(b, "</table></body></html>");
}

/* The user of "Authorization: Basic ..." (PHP_AUTH_USER), as PHP decodes it. */
int
status_basic_user(const char *auth, char *user, size_t size)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char dec[512];
	size_t n = 0;
	unsigned int acc = 0;
	int bits = 0;
	const char *p, *c;

	user[0] = '\0';
	if (auth == NULL || strncmp(auth, "Basic ", 6) != 0)
		return -1;
	for (p = auth + 6; *p != '\0' && *p != '=' && n < sizeof dec - 1; p++) {
		if ((c = strchr(b64, *p)) == NULL)
			return -1;
		acc = acc << 6 | (unsigned int)(c - b64);
		if ((bits += 6) >= 8) {
			bits -= 8;
			dec[n++] = (char)(acc >> bits & 0xff);
		}
	}
	dec[n] = '\0';
	if ((c = memchr(dec, ':', n)) == NULL)
		return -1;
	n = (size_t)(c - dec);
	if (n >= size)
		n = size - 1;
	memcpy(user, dec, n);
	user[n] = '\0';
	return 0;
}

static void
copy_field(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src != NULL ? src : "");
}

static const char *
param(struct fcgi_conn *c, const char *name)
{
	return fcgi_param(c, name, strlen(name));
}

/* The Content-Type line as PHP's header() leaves it (text/ gets the charset). */
static void
add_content_type(struct status_buf *b, const char *type)
{
	const char *cs = sapi_default_charset();

	if (strncmp(type, "text/", 5) == 0 && cs != NULL && *cs != '\0')
		status_buf_printf(b, "Content-type: %s;charset=%s\r\n", type, cs);
	else
		status_buf_printf(b, "Content-Type: %s\r\n", type);
}

struct hdr_ctx {
	struct fcgi_conn *c;
	const char *ctype;
};

static const char *
rec_param(void *ctx, const char *name)
{
	return param(((struct hdr_ctx *)ctx)->c, name);
}

/* %{Name}o for our own responses. */
static const char *
rec_header(void *ctx, const char *name)
{
	struct hdr_ctx *h = ctx;

	if (strcasecmp(name, "Content-Type") == 0)
		return h->ctype;
	if (strcasecmp(name, "Expires") == 0)
		return "Thu, 01 Jan 1970 00:00:00 GMT";
	if (strcasecmp(name, "Cache-Control") == 0)
		return "no-cache, no-store, must-revalidate, max-age=0";
	return NULL;
}

/*
 * Answer the request when it is for ping.path or pm.status_path (its
 * SCRIPT_NAME, which php-fpm compares); false to let PHP have it.  The
 * request counts in the scoreboard and the access log like any other.
 */
bool
status_serve(struct fcgi_conn *c, const struct worker_ctx *w)
{
	const struct pool_conf *p = w->pool;
	struct sb_slot *s = w->slot;
	const char *sn = param(c, "SCRIPT_NAME");
	const char *method = param(c, "REQUEST_METHOD");
	const char *query = param(c, "QUERY_STRING");
	const char *cl = param(c, "CONTENT_LENGTH");
	struct status_buf head = { 0 }, body = { 0 };
	enum status_format fmt = STATUS_TEXT;
	uint64_t u0, s0, u1, s1, t0 = s->req_start_us;
	struct hdr_ctx hc = { .c = c };
	struct access_rec r;
	struct status st;
	bool ping, full = false;

	if (sn == NULL)
		return false;
	ping = p->ping_path != NULL && strcmp(sn, p->ping_path) == 0;
	if (!ping && (p->status_path == NULL || strcmp(sn, p->status_path) != 0))
		return false;

	sb_cpu_us(&u0, &s0);
	copy_field(s->method, sizeof s->method, method);
	copy_field(s->uri, sizeof s->uri, sn);
	copy_field(s->query, sizeof s->query, query);
	s->script[0] = '\0';
	status_basic_user(param(c, "HTTP_AUTHORIZATION"), s->user, sizeof s->user);
	s->content_length = cl != NULL ? strtoull(cl, NULL, 10) : 0;
	s->state = SB_RUNNING;

	if (sapi_expose_php())
		status_buf_printf(&head, "X-Powered-By: PHP/%s\r\n",
		    sapi_php_version());
	if (ping) {
		hc.ctype = "text/plain";
		add_content_type(&head, hc.ctype);
		add_str(&head, NO_CACHE);
		add_str(&body, p->ping_response);
	} else {
		status_query(query, &fmt, &full);
		hc.ctype = status_content_type(fmt);
		add_str(&head, NO_CACHE);
		add_content_type(&head, hc.ctype);
		if (status_collect(w->pool_index, p, w->listen_fd, &st) == 0) {
			status_render(&st, fmt, full, &body);
			status_free(&st);
		}
	}
	add_str(&head, "\r\n");
	fcgi_write(c, head.p, head.len);
	if (body.len > 0 && (method == NULL || strcmp(method, "HEAD") != 0))
		fcgi_write(c, body.p, body.len);
	fcgi_end_request(c, 0);
	status_buf_free(&head);
	status_buf_free(&body);

	sb_cpu_us(&u1, &s1);
	s->state = SB_FINISHING;
	s->last_duration_us = sb_now_us() - t0;
	s->last_cpu_user_us = u1 - u0;
	s->last_cpu_sys_us = s1 - s0;
	s->last_cpu_us = s->last_cpu_user_us + s->last_cpu_sys_us;
	s->last_memory = 0;	/* no PHP ran */
	if (accesslog_enabled()) {
		accesslog_rec_init(&r, p->name, s, 200);
		r.remote = worker_peer();
		r.now_wall_us = sb_wall_us();
		r.duration_us = s->last_duration_us;
		r.cpu_user_us = s->last_cpu_user_us;
		r.cpu_sys_us = s->last_cpu_sys_us;
		r.param = rec_param;
		r.header = rec_header;
		r.ctx = &hc;
		accesslog_write(&r);
	}
	return true;
}
