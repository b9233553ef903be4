/*
 * pfpm: a persistent FastCGI process manager for PHP.
 *
 * One sectioned private header.  Only sapi.c and php_api.c include PHP
 * headers, only config.c includes confuse.h, only sd.c includes systemd.
 */
#ifndef PFPM_H
#define PFPM_H

#include "config.h"

#include <sys/types.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PFPM_NAME "pfpm"

/* Exit codes that mean something (s6): usage, configuration, system. */
#define PFPM_EXIT_USAGE 64
#define PFPM_EXIT_SOFTWARE 70
/* A worker-mode process that booted fine but must be replaced (fatal error). */
#define PFPM_EXIT_REPLACE 2

#define PRINTFLIKE(a, b) __attribute__((format(printf, a, b)))
#define NORETURN __attribute__((noreturn))

/* xmalloc.c */
void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
void *xreallocarray(void *, size_t, size_t);
char *xstrdup(const char *);
char *xstrndup(const char *, size_t);
int xasprintf(char **, const char *, ...) PRINTFLIKE(2, 3);
int xvasprintf(char **, const char *, va_list) PRINTFLIKE(2, 0);

/* log.c */
enum log_level {
	LOG_LVL_DEBUG = 1,
	LOG_LVL_NOTICE,
	LOG_LVL_WARNING,
	LOG_LVL_ERROR,
	LOG_LVL_ALERT,
};
void log_init(void);
int log_open(const char *, char **);
void log_reopen(void);
void log_close(void);
void log_set_level(int);
int log_parse_level(const char *);
void log_set_worker(const char *, int);
void log_msg(int, const char *, ...) PRINTFLIKE(2, 3);
void log_vmsg(int, const char *, va_list) PRINTFLIKE(2, 0);
void log_debug(const char *, ...) PRINTFLIKE(1, 2);
void log_notice(const char *, ...) PRINTFLIKE(1, 2);
void log_warn(const char *, ...) PRINTFLIKE(1, 2);
void log_error(const char *, ...) PRINTFLIKE(1, 2);
void log_syserr(const char *, ...) PRINTFLIKE(1, 2);
void log_line(int, const char *);
bool log_is_syslog(void);
void log_use_fd(int);
void log_write(const char *, size_t);
void log_set_journal(int (*)(int, const char *, int, const char *), bool);
void fatal(const char *, ...) PRINTFLIKE(1, 2) NORETURN;
void fatalx(const char *, ...) PRINTFLIKE(1, 2) NORETURN;

/* config.c: plain data, filled from libconfuse. */
enum pm_style { PM_STATIC, PM_DYNAMIC, PM_ONDEMAND };

struct conf_kv {
	char *key;
	char *value;
};

/* process NAME { } in a pool: a supervised custom process (DESIGN.md section 6). */
struct process_conf {
	char *name;
	char *class_name;	/* class = "App\\Processes\\Metrics" */
	int count;
	int64_t restart_interval_ms;
	int line;
};

/* task_queue = sqlite:PATH | redis://[:password@]host[:port][/db] */
enum taskq_kind { TASKQ_SQLITE, TASKQ_REDIS };
struct taskq_url {
	enum taskq_kind kind;
	char *path;		/* sqlite */
	char *host;		/* redis */
	int port;
	int db;
	char *password;		/* NULL: none */
};

struct conf_listen {
	int family;		/* AF_UNIX, AF_INET or AF_INET6 */
	char *path;		/* AF_UNIX */
	char *host;		/* NULL or "" = any address */
	int port;
};

struct pool_conf {
	char *name;
	char *file;
	int line;

	char *listen;
	struct conf_listen addr;
	char *listen_owner;
	char *listen_group;
	int listen_mode;
	int listen_backlog;
	char **allowed_clients;
	size_t n_allowed_clients;

	char *user;
	char *group;
	char *chdir;
	char *chroot;

	enum pm_style pm;
	int max_children;
	int start_servers;
	int min_spare_servers;
	int max_spare_servers;
	int max_spawn_rate;
	int64_t process_idle_timeout_ms;
	int max_requests;
	int64_t request_terminate_timeout_ms;

	bool clear_env;
	char **env;		/* "NAME=value" */
	size_t n_env;
	struct conf_kv *php_values;
	size_t n_php_values;
	struct conf_kv *php_admin_values;
	size_t n_php_admin_values;
	bool allow_fcgi_ini;	/* honour PHP_VALUE/PHP_ADMIN_VALUE params */
	char **limit_extensions;
	size_t n_limit_extensions;
	bool catch_workers_output;
	bool decorate_workers_output;

	int rlimit_files;	/* -1 unlimited, -2 (or 0, as php-fpm) not set */
	int rlimit_core;
	bool dumpable;

	char *slowlog;
	int64_t request_slowlog_timeout_ms;
	int request_slowlog_trace_depth;
	bool terminate_track_finished;

	char *worker;		/* NULL: classic; "laravel" or a script path */
	char *worker_script;	/* the script that runs: the adapter for "laravel" */
	char *app_root;
	int64_t worker_max_memory;

	/* Tasks, timer, custom processes (worker mode only; DESIGN.md section 5). */
	int task_workers;		/* 0: no task queue */
	char *task_queue;		/* as written, or the default sqlite path */
	struct taskq_url taskq;
	int64_t task_max_payload;	/* bytes */
	int task_queue_max;		/* deliver returns false beyond */
	int task_max_requests;		/* task.max_requests: recycle after N tasks */
	int64_t task_backoff_ms;	/* task.backoff: first retry delay, doubles */
	int64_t task_lease_ms;		/* task.lease: Redis, reclaim a dead host's tasks after */
	bool timer;
	bool timer_global_lock;
	int64_t timer_lock_lease_ms;	/* timer.lock_lease */
	struct process_conf *processes;
	size_t n_processes;

	char *status_path;	/* pm.status_path: NULL when off */
	char *ping_path;	/* ping.path: NULL when off */
	char *ping_response;
	char *access_log;	/* NULL: no access log */
	char *access_format;
	char **access_suppress;	/* access.suppress_path */
	size_t n_access_suppress;
};

struct conf {
	char *file;
	char *pid_file;
	char *error_log;	/* NULL: stderr */
	int log_level;
	char *php_ini;
	bool daemonize;
	int emergency_restart_threshold;
	int64_t emergency_restart_interval_ms;
	int64_t process_control_timeout_ms;
	int process_max;
	char *state_dir;	/* task databases: default LOCALSTATEDIR/lib/pfpm */
	char **watch;		/* directories whose PHP changes reload pfpm */
	size_t n_watch;

	struct pool_conf **pools;
	size_t npools;
};

struct conf *conf_load(const char *);
void conf_free(struct conf *);
int conf_parse_size(const char *, int64_t *);
int conf_parse_duration(const char *, int64_t *);
int conf_parse_listen(const char *, struct conf_listen *, char **);
int conf_parse_taskq(const char *, struct taskq_url *, char **);
void conf_taskq_free(struct taskq_url *);
bool conf_int_range(const char *, long *, long *);

/* What a pool's process does (DESIGN.md section 1). */
enum proc_role { ROLE_REQUEST = 0, ROLE_TASK, ROLE_TIMER, ROLE_PROCESS, ROLE_N };
const char *role_name(int);

/* scoreboard.c: shared memory, one slot per process. */
enum sb_state {
	SB_FREE = 0,
	SB_STARTING,
	SB_IDLE,
	SB_READING,
	SB_RUNNING,
	SB_FINISHING,
};

#define SB_URI_MAX 256
#define SB_QUERY_MAX 512
#define SB_METHOD_MAX 16
#define SB_SCRIPT_MAX 256
#define SB_USER_MAX 32

/* Why a process was replaced (the status page counts them per pool). */
enum sb_recycle {
	SB_RECYCLE_NONE = 0,
	SB_RECYCLE_MAX_REQUESTS,	/* pm.max_requests */
	SB_RECYCLE_MAX_MEMORY,		/* worker.max_memory */
	SB_RECYCLE_FATAL,		/* worker mode: a fatal error in a request */
	SB_RECYCLE_CRASH,		/* died of a signal or error nobody asked for */
	SB_RECYCLE_N
};

struct sb_slot {
	volatile int state;
	volatile int retiring;		/* exits after this request: replace it now */
	volatile int recycle;		/* enum sb_recycle: why it retires */
	volatile int ready;		/* has been ready for requests (booted) */
	int role;			/* enum proc_role */
	pid_t pid;
	int pool;
	int generation;
	uint64_t started_us;		/* process start, CLOCK_REALTIME */
	uint64_t requests;
	uint64_t req_start_us;		/* CLOCK_MONOTONIC; 0 when idle */
	uint64_t req_wall_us;		/* the same instant, CLOCK_REALTIME */
	uint64_t idle_since_us;		/* CLOCK_MONOTONIC */
	uint64_t last_duration_us;
	uint64_t last_cpu_us;		/* user + system */
	uint64_t last_cpu_user_us;
	uint64_t last_cpu_sys_us;
	uint64_t last_memory;		/* peak of the last request */
	uint64_t memory;		/* engine memory kept after the last request */
	uint64_t content_length;
	char method[SB_METHOD_MAX];
	char uri[SB_URI_MAX];		/* SCRIPT_NAME, as php-fpm's "request URI" */
	char query[SB_QUERY_MAX];
	char script[SB_SCRIPT_MAX];
	char user[SB_USER_MAX];
};

struct sb_pool {
	char name[64];
	uint64_t accepted;		/* requests read, as php-fpm's "accepted conn" */
	uint64_t start_time;
	uint64_t max_children_reached;
	uint64_t slow_requests;
	uint64_t max_active;
	uint64_t listen_queue_max;
	uint64_t boots;			/* processes started */
	uint64_t recycles[SB_RECYCLE_N];
	volatile int failing;		/* workers fail to boot: respawn throttled */
	/* The task queue, as the master last saw it (taskq.c). */
	volatile uint64_t tq_queued;	/* ready or delayed, not running */
	volatile uint64_t tq_running;
	volatile uint64_t tq_done;	/* since the master started */
	volatile uint64_t tq_failed;	/* runs that threw (each retry counts) */
	volatile uint64_t tq_dead;	/* in the dead-letter table now */
	volatile int64_t tq_oldest_ms;	/* created_ms of the oldest queued; 0 none */
};

int sb_create(size_t, size_t);
void sb_destroy(void);
struct sb_slot *sb_slot(size_t);
size_t sb_nslots(void);
struct sb_pool *sb_pool(size_t);
struct sb_slot *sb_alloc(int, pid_t);
void sb_release(struct sb_slot *);
uint64_t sb_now_us(void);
uint64_t sb_wall_us(void);
void sb_cpu_us(uint64_t *, uint64_t *);
void sb_run_done(struct sb_slot *, uint64_t, uint64_t);
int sb_listen_queue(int, uint64_t *, uint64_t *);

/* fcgi.c: the FastCGI protocol, one connection at a time. */
struct fcgi_conn;
struct fcgi_conn *fcgi_conn_new(int);
void fcgi_conn_free(struct fcgi_conn *);
int fcgi_conn_fd(const struct fcgi_conn *);
int fcgi_read_request(struct fcgi_conn *, char **);
bool fcgi_wants_keep(const struct fcgi_conn *);
void fcgi_no_keep(struct fcgi_conn *);
bool fcgi_buffered(const struct fcgi_conn *);
const char *fcgi_param(struct fcgi_conn *, const char *, size_t);
void fcgi_param_set(struct fcgi_conn *, const char *, const char *);
size_t fcgi_param_count(const struct fcgi_conn *);
void fcgi_param_at(const struct fcgi_conn *, size_t, const char **, size_t *, const char **, size_t *);
ssize_t fcgi_read_body(struct fcgi_conn *, char *, size_t);
int fcgi_write(struct fcgi_conn *, const char *, size_t);
int fcgi_write_stderr(struct fcgi_conn *, const char *, size_t);
int fcgi_flush(struct fcgi_conn *);
int fcgi_end_request(struct fcgi_conn *, int);
int fcgi_finish_input(struct fcgi_conn *);
void fcgi_linger_close(struct fcgi_conn *);
bool fcgi_request_ended(const struct fcgi_conn *);
bool fcgi_aborted(const struct fcgi_conn *);
bool fcgi_has_request(const struct fcgi_conn *);

/* sapi.c: the PHP engine.  Started once in the master. */
struct worker_ctx;
int sapi_engine_start(const char *, char **);
void sapi_engine_stop(void);
int sapi_worker_init(const struct pool_conf *, char **);
void sapi_handle(struct fcgi_conn *, struct sb_slot *);
int sapi_worker_run(const struct worker_ctx *);

/* php_slowlog.c: slow and stuck requests, from inside the worker. */
void slowlog_worker_start(const struct worker_ctx *);
void slowlog_request_start(void);
const char *sapi_php_version(void);
const char *sapi_default_charset(void);
bool sapi_expose_php(void);

/* worker.c */
struct worker_ctx {
	const struct conf *conf;
	const struct pool_conf *pool;
	int pool_index;
	int listen_fd;
	int handover_send;	/* -1: close kept connections when retiring */
	int handover_recv;
	int access_fd;		/* access log lines to the master, -1 if none */
	struct sb_slot *slot;
	pid_t master_pid;
	int role;			/* enum proc_role */
	const struct process_conf *process;	/* ROLE_PROCESS: its section */
	int role_index;			/* 0..count-1 among its role (or process NAME) */
};
void worker_main(struct worker_ctx *) NORETURN;
int worker_signal_fd(void);
void worker_read_signals(void);
bool worker_must_stop(void);
void worker_idle(void);
struct fcgi_conn *worker_next(void);
void worker_done(struct fcgi_conn *);
void worker_retire(enum sb_recycle);
const char *worker_peer(void);
uint64_t worker_served(void);
const struct worker_ctx *worker_context(void);
bool worker_stopping(void);

/*
 * taskwire.c: frames between a pool's processes and the master's task queue,
 * over the pool's abstract unix socket "\0pfpm.<master pid>.<pool>" (a
 * reload re-executes the master with the same pid, so workers of either
 * generation reconnect to it).  A frame is a struct tq_hdr and `len` bytes.
 */
#define TQ_ID_LEN 32			/* task ids: 32 lowercase hex digits */
#define TQ_QUEUE_MAX 64			/* queue names */
enum tq_type {
	TQ_DELIVER = 'D',	/* worker -> master: struct tq_deliver, queue, payload */
	TQ_READY = 'R',		/* task worker -> master: uint32_t more tasks it takes */
	TQ_DONE = 'A',		/* task worker -> master: id (TQ_ID_LEN bytes) */
	TQ_FAIL = 'F',		/* task worker -> master: id, then the error text */
	TQ_TASK = 'T',		/* master -> task worker: struct tq_task_hdr, queue, payload */
	TQ_STORED = 'C',	/* master -> worker: struct tq_stored */
};
struct tq_hdr {
	uint32_t len;		/* bytes after this header */
	uint8_t type;		/* enum tq_type */
	uint8_t qlen;		/* TQ_DELIVER, TQ_TASK: queue name bytes */
	uint16_t pad;
};
struct tq_deliver {
	char id[TQ_ID_LEN];
	int64_t delay_ms;
	int32_t tries;
	uint32_t pad;
};
struct tq_task_hdr {
	char id[TQ_ID_LEN];
	int32_t attempt;	/* 1 on the first run */
	int32_t tries;
	int64_t created_ms;	/* CLOCK_REALTIME */
};
/* Cumulative over the connection: delivers made durable, and refused. */
struct tq_stored {
	uint64_t stored;
	uint64_t refused;
};
#define TQ_FRAME_MAX(payload_max) (sizeof(struct tq_hdr) + \
	sizeof(struct tq_task_hdr) + TQ_QUEUE_MAX + (size_t)(payload_max) + 4096)
/* A growing input buffer cut into frames. */
struct tq_reader {
	char *buf;
	size_t off, len, cap;	/* unread bytes: buf[off..len) */
	size_t max;		/* a longer frame is a protocol error */
};
int tq_socket_name(pid_t, const char *, void *, size_t *);
int tq_frame(struct tq_reader *, struct tq_hdr *, const char **);
void tq_consume(struct tq_reader *, const struct tq_hdr *);
ssize_t tq_fill(struct tq_reader *, int);
void tq_reader_free(struct tq_reader *);
size_t tq_encode(char **, size_t *, size_t, uint8_t, uint8_t, const void *,
    size_t, const void *, size_t, const void *, size_t);

/*
 * taskq.c: a pool's task queue in the master (DESIGN.md section 5).  One
 * per pool with task_workers > 0; the storage is a backend below.
 */
struct pool;
struct taskq;
struct taskq *taskq_open(struct pool *, const struct pool_conf *, int,
    pid_t, char **);
void taskq_close(struct taskq *);
void taskq_proc_exited(struct taskq *, pid_t);
void taskq_set_watch(void (*)(int, uint32_t));	/* epoll EV_TASK: add/mod, 0 = del */
void taskq_event(int, uint32_t);		/* an EV_TASK fd is ready */
void taskq_flush_all(void);			/* after each epoll round: commit, dispatch */
void taskq_tick_all(uint64_t);			/* every master tick */
int taskq_timeout_ms(void);			/* until the next due task; -1 none */
int taskq_cli(const struct conf *, int, char **);	/* pfpm task list|retry|purge */
void taskq_child_cleanup(void);			/* in a forked child: close the sockets */
int taskq_listen_fd(const struct taskq *);

/* Storage of a task queue, behind taskq.c (taskq_sqlite.c, taskq_redis.c). */
struct tq_task {
	char id[TQ_ID_LEN + 1];
	char queue[TQ_QUEUE_MAX + 1];
	char *payload;		/* malloc'd by the backend in next(); taskq frees */
	size_t len;
	int tries;		/* runs allowed */
	int attempts;		/* runs started, this one included */
	int64_t created_ms;	/* CLOCK_REALTIME, as every _ms below */
	int64_t due_ms;
	char ref[48];		/* the backend's handle (Redis stream id) */
};
struct tq_counts {
	uint64_t queued;	/* ready or delayed, not claimed */
	uint64_t dead;
	int64_t oldest_ms;	/* created_ms of the oldest queued, 0 none */
};
struct tq_backend {
	const char *name;
	/* owner: the master (claims of a previous master are released). */
	void *(*open)(const struct pool_conf *, bool, char **);
	void (*close)(void *);
	/* Staged; durable once commit() returns 0. */
	int (*add)(void *, const struct tq_task *);
	int (*commit)(void *);
	/* Claim the next due task (attempts incremented): 1, 0 none, -1 error. */
	int (*next)(void *, int64_t, struct tq_task *);
	int (*ack)(void *, const struct tq_task *);
	int (*retry)(void *, const struct tq_task *, int64_t, const char *);
	int (*bury)(void *, const struct tq_task *, const char *);
	/* Back to the queue (its worker died), charged t->attempts runs. */
	int (*release)(void *, const struct tq_task *);
	int64_t (*next_due_ms)(void *);		/* earliest delayed, -1 none */
	int (*counts)(void *, struct tq_counts *);
	void (*tick)(void *, int64_t);		/* Redis: leases, reclaim */
	/* Dead letters, for pfpm task list|retry|purge; id NULL = all. */
	int (*dead_list)(void *, void (*)(void *, const struct tq_task *,
	    const char *), void *);
	int (*dead_retry)(void *, const char *, int64_t);
	int (*dead_purge)(void *, const char *);
};
extern const struct tq_backend taskq_sqlite;
extern const struct tq_backend taskq_redis;

/* A Redis lease (timer.global_lock): taskq_redis.c. */
struct rlease;
struct rlease *rlease_new(const struct taskq_url *, const char *, const char *,
    int64_t, char **);
int rlease_hold(struct rlease *);	/* acquire or renew: 1 held, 0 not, -1 error */
void rlease_free(struct rlease *);	/* releases it if held */

/* pool.c */
struct proc {
	pid_t pid;
	struct pool *pool;
	struct sb_slot *slot;
	int generation;
	int out_fd;		/* catch_workers_output pipe, -1 if none */
	int log_fd;		/* the worker's log and access log lines */
	bool log_watched;
	char *outbuf;
	size_t outlen;
	char *logbuf;		/* an access log record cut by a read */
	size_t loglen;
	uint64_t started_us;
	uint64_t term_sent_us;	/* request_terminate_timeout escalation */
	bool quit_sent;
	bool out_watched;
	int role;		/* enum proc_role */
	const struct process_conf *process;	/* ROLE_PROCESS */
	int role_index;
	struct proc *next;
};
int pool_open_listener(const struct pool_conf *, char **);
int pool_socket_perms(const struct pool_conf *, char **);
bool pool_socket_matches(int, const struct conf_listen *);
struct pool *pool_new(const struct conf *, const struct pool_conf *, int, int);
void pool_free(struct pool *);
int pool_listen_fd(const struct pool *);
const struct pool_conf *pool_conf_of(const struct pool *);
void pool_maintain(struct pool *, uint64_t);
void pool_on_readable(struct pool *);
bool pool_wants_accept_watch(struct pool *);
bool pool_ready(struct pool *);
struct proc *pool_find(struct pool *, pid_t);
struct proc *pool_procs(struct pool *);
struct taskq *pool_taskq(struct pool *);
size_t pool_nprocs(const struct pool *);
void pool_reaped(struct pool *, struct proc *, int);
void pool_drain_output(struct proc *, bool);
void pool_drain_log(struct proc *);
void pool_signal_all(struct pool *, int);
void pool_retire(struct pool *);
void pool_set_spawn_blocked(bool);
void pool_set_child_cleanup(void (*)(void));
int pm_decide(const struct pool_conf *, int, int, int *);

/* fpmconf.c: php-fpm's INI configuration converted to pfpm's. */
int fpmconf_convert(char *const *, size_t, const char *, char **, char **);
int fpmconf_parse_line(const char *, char **, char **);

/* status.c: pm.status_path and ping.path, answered without PHP. */
struct status_proc {
	pid_t pid;
	int state;
	int role;			/* enum proc_role */
	uint64_t start_time;		/* seconds since the epoch */
	uint64_t start_since;
	uint64_t requests;
	uint64_t duration_us;
	uint64_t content_length;
	double cpu;			/* percent, of the last request */
	uint64_t last_memory;
	uint64_t memory;
	char method[SB_METHOD_MAX];
	char uri[SB_URI_MAX];
	char query[SB_QUERY_MAX];
	char script[SB_SCRIPT_MAX];
	char user[SB_USER_MAX];
};
struct status {
	char pool[64];
	const char *pm;
	const char *mode;		/* "classic" or "worker" */
	uint64_t start_time;
	uint64_t start_since;
	uint64_t accepted;
	uint64_t listen_queue;
	uint64_t max_listen_queue;
	uint64_t listen_queue_len;
	uint64_t idle;
	uint64_t active;
	uint64_t max_active;
	uint64_t max_children_reached;
	uint64_t slow_requests;
	uint64_t boots;
	bool failing;
	uint64_t recycles[SB_RECYCLE_N];
	bool tasks;			/* the pool has a task queue */
	uint64_t tq_queued, tq_running, tq_done, tq_failed, tq_dead;
	uint64_t tq_oldest_age;		/* seconds; 0 when nothing waits */
	struct status_proc *procs;
	size_t nprocs;
};
enum status_format {
	STATUS_TEXT, STATUS_JSON, STATUS_XML, STATUS_HTML, STATUS_OPENMETRICS
};
struct status_buf {
	char *p;
	size_t len;
	size_t cap;
};
const char *status_state_name(int);
const char *status_recycle_name(int);
int status_collect(int, const struct pool_conf *, int, struct status *);
void status_free(struct status *);
void status_query(const char *, enum status_format *, bool *);
void status_render(const struct status *, enum status_format, bool, struct status_buf *);
const char *status_content_type(enum status_format);
int status_basic_user(const char *, char *, size_t);
void status_buf_add(struct status_buf *, const char *, size_t);
void status_buf_printf(struct status_buf *, const char *, ...) PRINTFLIKE(2, 3);
void status_buf_free(struct status_buf *);
bool status_serve(struct fcgi_conn *, const struct worker_ctx *);

/* accesslog.c: access.log and access.format (php-fpm's tokens). */
#define ACCESSLOG_DEFAULT_FORMAT "%R - %u %t \"%m %r\" %s"
#define ACCESSLOG_LINE_MAX 1024		/* php-fpm's FPM_LOG_BUFFER */
struct access_rec {
	const char *pool;
	pid_t pid;
	pid_t ppid;
	const char *method;
	const char *uri;		/* SCRIPT_NAME */
	const char *query;
	const char *script;
	const char *user;
	const char *remote;		/* the web server's address; NULL on unix sockets */
	uint64_t content_length;
	int status;
	uint64_t start_wall_us;		/* %t */
	uint64_t now_wall_us;		/* %T */
	uint64_t duration_us;
	uint64_t cpu_user_us;
	uint64_t cpu_sys_us;
	uint64_t memory;
	/* %{NAME}e and %{Header}o; NULL when there is none. */
	const char *(*param)(void *, const char *);
	const char *(*header)(void *, const char *);
	void *ctx;
};
int accesslog_check(const char *, char **);
size_t accesslog_format(const char *, const struct access_rec *, char *, size_t);
bool accesslog_suppressed(const struct pool_conf *, const struct access_rec *);
void accesslog_worker_init(const struct pool_conf *, int);
bool accesslog_enabled(void);
void accesslog_write(const struct access_rec *);
void accesslog_rec_init(struct access_rec *, const char *, const struct sb_slot *,
    int);
size_t accesslog_demux(const char *, size_t, int, int);
void log_slow(const char *, size_t);
int accesslog_open(const char *, char **);
int accesslog_reopen(int, const char *);

/* watch.c */
int watch_open(char **, size_t, char **);
bool watch_read(int);

/* master.c */
void master_set_argv(char **, bool);
bool master_old_child(pid_t);
struct sockaddr;
int master_inherited_socket(const struct sockaddr *, unsigned int);
int master_run(struct conf *, int);

/*
 * sd.c: systemd's notify protocol, socket activation and journal.  Every
 * function is a no-op without libsystemd, or outside systemd.
 */
void systemd_init(void);
bool systemd_notifying(void);
void systemd_ready(const char *);
void systemd_reloading(void);
void systemd_stopping(const char *);
void systemd_status(const char *);
void systemd_watchdog(void);
int systemd_listen_fd(const char *, const struct conf_listen *,
    bool (*)(int, const struct conf_listen *));
bool systemd_listen_activated(int);
void systemd_listen_done(void);
void systemd_listen_export(bool);

#endif
