/*
 * libFuzzer target for src/config.c: the input is a configuration file.
 * It is written to a private temporary directory (so relative include()s
 * resolve there) and loaded with conf_load(); a loaded configuration is
 * checked for the invariants the rest of pfpm relies on, then freed.
 */
#include "pfpm.h"

#include <sys/socket.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *, char ***);
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char dir[] = "/tmp/pfpm-fuzz-config-XXXXXX";
static char path[sizeof dir + 16];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char *cause = NULL;

	(void)argc;
	(void)argv;
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof path, "%s/pfpm.conf", dir);
	/* Messages are the point of the parser, but not of the fuzzer. */
	log_open("/dev/null", &cause);
	return 0;
}

static void
check(const struct conf *c)
{
	size_t i;

	if (c->npools == 0)
		abort();
	for (i = 0; i < c->npools; i++) {
		const struct pool_conf *p = c->pools[i];

		if (p->name == NULL || p->listen == NULL || p->max_children < 1)
			abort();
		if (p->addr.family == AF_UNIX && p->addr.path == NULL)
			abort();
		if (p->addr.family != AF_UNIX && (p->addr.port < 1 ||
		    p->addr.port > 65535))
			abort();
		if (p->pm == PM_DYNAMIC && (p->min_spare_servers < 1 ||
		    p->min_spare_servers > p->max_spare_servers ||
		    p->max_spare_servers > p->max_children ||
		    p->start_servers < p->min_spare_servers ||
		    p->start_servers > p->max_spare_servers))
			abort();
		if (p->max_spawn_rate < 1)
			abort();
		if (p->chdir != NULL && p->chdir[0] != '/')
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf *c;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	if ((c = conf_load(path)) != NULL) {
		check(c);
		conf_free(c);
	}
	return 0;
}
