/*
 * The scoreboard: one shared anonymous mapping created by the master before
 * any fork.  Workers write their own slot; the master reads every slot to
 * scale pools and enforce timeouts, and owns allocation.
 */
#include "pfpm.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <string.h>
#include <time.h>

static struct sb_slot *slots;
static size_t nslots;
static struct sb_pool *pools;
static size_t npools;
static void *map;
static size_t map_len;

int
sb_create(size_t n, size_t np)
{
	size_t len = n * sizeof *slots + np * sizeof *pools;

	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	    -1, 0);
	if (map == MAP_FAILED) {
		map = NULL;
		return -1;
	}
	map_len = len;
	slots = map;
	nslots = n;
	pools = (struct sb_pool *)(slots + n);
	npools = np;
	return 0;
}

void
sb_destroy(void)
{
	if (map != NULL)
		munmap(map, map_len);
	map = NULL;
	slots = NULL;
	pools = NULL;
	nslots = npools = 0;
}

struct sb_slot *
sb_slot(size_t i)
{
	return i < nslots ? &slots[i] : NULL;
}

size_t
sb_nslots(void)
{
	return nslots;
}

struct sb_pool *
sb_pool(size_t i)
{
	return i < npools ? &pools[i] : NULL;
}

/* Master only: take a free slot for a new process. */
struct sb_slot *
sb_alloc(int pool, pid_t pid)
{
	size_t i;

	for (i = 0; i < nslots; i++) {
		if (slots[i].state != SB_FREE)
			continue;
		memset(&slots[i], 0, sizeof slots[i]);
		slots[i].state = SB_STARTING;
		slots[i].pool = pool;
		slots[i].pid = pid;
		slots[i].started_us = sb_wall_us();
		slots[i].idle_since_us = sb_now_us();
		return &slots[i];
	}
	return NULL;
}

void
sb_release(struct sb_slot *s)
{
	if (s != NULL)
		s->state = SB_FREE;
}

uint64_t
sb_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t
sb_wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* This process's CPU time so far, user and system. */
void
sb_cpu_us(uint64_t *user, uint64_t *sys)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	*user = (uint64_t)ru.ru_utime.tv_sec * 1000000 + (uint64_t)ru.ru_utime.tv_usec;
	*sys = (uint64_t)ru.ru_stime.tv_sec * 1000000 + (uint64_t)ru.ru_stime.tv_usec;
}

/*
 * A TCP socket's accept queue and backlog, from TCP_INFO as php-fpm reads
 * them (tcpi_unacked, tcpi_sacked).  Unix sockets: -1 and zeros, as
 * php-fpm shows them.
 */
int
sb_listen_queue(int fd, uint64_t *queue, uint64_t *len)
{
	struct tcp_info ti;
	socklen_t l = sizeof ti;

	*queue = *len = 0;
	memset(&ti, 0, sizeof ti);
	if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) == -1 ||
	    ti.tcpi_sacked == 0)
		return -1;
	*queue = ti.tcpi_unacked;
	*len = ti.tcpi_sacked;
	return 0;
}

/* enum proc_role, as pfpm_worker_info() and the status page name it. */
const char *
role_name(int role)
{
	static const char *const names[ROLE_N] = {
		[ROLE_REQUEST] = "request", [ROLE_TASK] = "task",
		[ROLE_TIMER] = "timer", [ROLE_PROCESS] = "process",
	};

	return role >= 0 && role < ROLE_N ? names[role] : "?";
}

/* A task or timer run is over: its figures, then the slot is idle again. */
void
sb_run_done(struct sb_slot *s, uint64_t peak, uint64_t memory)
{
	uint64_t now = sb_now_us();

	s->last_duration_us = now - s->req_start_us;
	s->last_memory = peak;
	s->memory = memory;
	s->requests++;
	s->req_start_us = 0;
	s->idle_since_us = now;
	s->state = SB_IDLE;
}
